//! The one error type of `dragoman-core`.
//!
//! Variants are grouped the way a caller reacts to them (rustls/str0m style):
//! misuse of the API, input dragoman does not support, audio files it cannot read,
//! model store failures, I/O, and bugs. Engines built on core wrap this type in their own
//! error enum rather than adding variants here.

use std::path::PathBuf;

/// Result alias used throughout `dragoman-core`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `dragoman-core`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API was called in a way its contract forbids (a bug in the caller).
    #[error("invalid use of the API: {0}")]
    Misuse(String),

    /// A language code that dragoman does not know.
    #[error(
        "unknown language {code:?}: use a code such as \"en\", \"vi\", \"de-DE\" or \"vie_Latn\""
    )]
    UnknownLanguage {
        /// The code as given.
        code: String,
    },

    /// A language pair that no loaded engine can handle.
    #[error("unsupported language pair {from} -> {to}")]
    UnsupportedLanguagePair {
        /// Source language code.
        from: String,
        /// Target language code.
        to: String,
    },

    /// Speech was asked for in a language no loaded voice speaks.
    #[error("no voice speaks {lang}; voices exist for: {available}")]
    NoVoice {
        /// The language asked for.
        lang: String,
        /// The languages that have voices, comma-separated.
        available: String,
    },

    /// Input audio in a shape the callee does not accept (sample rate, channel count, ...).
    #[error("unsupported audio: {0}")]
    UnsupportedAudio(String),

    /// An audio file that could not be read.
    #[error("{}: {kind}", path.display())]
    AudioFile {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        kind: AudioFileError,
    },

    /// A model id that is not in the catalog.
    #[error("unknown model {id:?}; known models: {}", known.join(", "))]
    UnknownModel {
        /// The id as given.
        id: String,
        /// The ids the catalog knows.
        known: Vec<String>,
    },

    /// A model that is in the catalog but not in the local cache.
    #[error("model {id:?} is not in the cache at {}; run `dragoman models pull {id}`", cache.display())]
    ModelNotPulled {
        /// The model id.
        id: String,
        /// The cache directory that was searched.
        cache: PathBuf,
    },

    /// A file whose content is not what the catalog says.
    #[error("checksum mismatch for {}: expected sha256 {expected}, got {actual}", path.display())]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The sha256 the catalog records.
        expected: String,
        /// The sha256 of the file on disk.
        actual: String,
    },

    /// Every source of a model failed; each attempt is listed with its reason.
    #[error("could not fetch model {id:?}: {}", attempts.iter().map(|(s, r)| format!("{s}: {r}")).collect::<Vec<_>>().join("; "))]
    Fetch {
        /// The model id.
        id: String,
        /// `(source, reason)` for every source that was tried.
        attempts: Vec<(String, String)>,
    },

    /// A download failed (network, server, or the package client).
    #[error("download failed: {0}")]
    Download(String),

    /// A model file in a foreign format (CTranslate2, PyTorch pickle, ONNX) could not be read or
    /// converted.
    #[error("cannot convert {}: {reason}", path.display())]
    Convert {
        /// The source file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A model file that is missing or cannot be loaded, with the command that fetches it.
    #[error("model file {file}: {reason}; fetch it with `dragoman models pull {model}`")]
    ModelFile {
        /// The file (path or name).
        file: String,
        /// What is wrong with it.
        reason: String,
        /// The catalog id of the model it belongs to.
        model: String,
    },

    /// An engine rejected its input because a bounded queue is full.
    #[error("queue full: {0}")]
    QueueFull(String),

    /// Model inference or loading failed.
    #[error("model error: {0}")]
    Model(String),

    /// An operating-system I/O error, with what dragoman was doing. The message carries the
    /// cause, so it is not also chained as `source()` (error reporters print the chain, and
    /// the cause would appear twice).
    #[error("{context}: {cause}")]
    Io {
        /// What was being done, e.g. "creating /home/u/.cache/dragoman".
        context: String,
        /// The underlying error.
        cause: std::io::Error,
    },

    /// A broken internal invariant: please report it.
    #[error("internal error (a bug in dragoman): {0}")]
    Internal(String),

    /// An engine session panicked (a bug in the engine or a library under it). A pipeline
    /// stage reports it, drops the session and starts a new one for the next input; what the
    /// session held (an utterance in progress, a voice's unspoken text) is lost.
    #[error("an engine session failed with a panic (a bug; it was restarted): {0}")]
    EnginePanicked(String),
}

impl Error {
    /// Wraps an I/O error with the action that failed.
    pub fn io(context: impl Into<String>, cause: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            cause,
        }
    }
}

/// Why an audio file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AudioFileError {
    /// The file could not be opened or read.
    #[error("cannot read file: {0}")]
    Io(String),
    /// The file has no bytes.
    #[error("file is empty")]
    Empty,
    /// The container format is not recognised.
    #[error("unsupported or unrecognised container format")]
    UnsupportedFormat,
    /// The container holds no audio track.
    #[error("no audio track in file")]
    NoAudioTrack,
    /// The audio codec is not supported.
    #[error("unsupported codec: {0}")]
    UnsupportedCodec(String),
    /// The file ends in the middle of its data.
    #[error("file is truncated")]
    Truncated,
    /// The data is damaged beyond what the decoder can skip.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The audio track decodes to no samples.
    #[error("no audio samples in file")]
    NoSamples,
}
