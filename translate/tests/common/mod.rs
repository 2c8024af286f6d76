//! Real parallel text and the Python reference implementation for the translation tests.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)] // each test uses some; tests panic

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use dragoman_core::store::catalog::{ModelEntry, Package, Registry};
use dragoman_core::store::{ModelStore, PullOptions};

/// Tests of one binary run on parallel threads; setup steps must not overlap.
static SETUP: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dragoman-translate-tests")
}

const NMT: Package = Package {
    name: "nmt",
    version: "0.0.6",
    archive: "nmt-0.0.6.tar.gz",
    sha256: "65db964c0afd5b0dbc4baecdce736f53222f63b791958176b5771db78a005096",
    size: 15_744_217,
};

/// Tatoeba English–Spanish sentence pairs (`English<TAB>Spanish<TAB>attribution`, CC-BY 2.0 FR)
/// from the `nmt` 0.0.6 source distribution.
pub(crate) fn tatoeba_en_es() -> PathBuf {
    let entry = ModelEntry::registry_data(
        "tatoeba-en-es",
        "Tatoeba en-es",
        Registry::PyPi,
        &NMT,
        &[(
            "spa.txt",
            "5728ca47ff4f5bb12af70a6513e6b78800ad01c7f21671a857a4e58beeec3251",
            18_607_094,
            "nmt-0.0.6/data/spa.txt",
        )],
    );
    fetch_data(&entry, "tatoeba").join("spa.txt")
}

/// Fetches the files of registry data `entry` (verified) into `data/DIR` of the test store.
fn fetch_data(entry: &ModelEntry, dir: &str) -> PathBuf {
    let _one = SETUP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dest = root().join("data").join(dir);
    let mut options = PullOptions::default();
    options.hub = false;
    ModelStore::new(root())
        .ensure_published(entry, &options, &dest, &())
        .unwrap_or_else(|e| panic!("fetch {}: {e}", entry.id));
    dest
}

const LLAMA_CPP_PYTHON: Package = Package {
    name: "llama-cpp-python",
    version: "0.3.36",
    archive: "llama_cpp_python-0.3.36.tar.gz",
    sha256: "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e",
    size: 76_589_250,
};

/// llama.cpp's vocabulary test files for the named vocabularies (`qwen2`, `llama-bpe`,
/// `llama-spm`, `gpt-2`), from the llama.cpp sources vendored in the `llama-cpp-python` 0.3.36
/// source distribution: `ggml-vocab-NAME.gguf` (a GGUF with the real model's vocabulary and no
/// weights), `.gguf.inp` (test strings) and `.gguf.out` (the token ids the model's own
/// Hugging Face tokenizer gives them). Returns the directory holding them.
pub(crate) fn llama_cpp_vocabularies() -> PathBuf {
    const FILES: [(&str, &str, u64); 12] = [
        (
            "ggml-vocab-qwen2.gguf",
            "44c2f46b715f585c6ab513970e8a006bfa5badd6108560054921cf598d154d8c",
            5_928_681,
        ),
        (
            "ggml-vocab-qwen2.gguf.inp",
            "be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0",
            1943,
        ),
        (
            "ggml-vocab-qwen2.gguf.out",
            "de785bb305cc6fa9d43908ed5da337f853c0b79e971348fcfb9f0915a39c5363",
            1765,
        ),
        (
            "ggml-vocab-llama-bpe.gguf",
            "97272e430d53bc7688f52d5e0ad8ea8f163ede9f1bbd1694feaa504797d5d96e",
            7_818_140,
        ),
        (
            "ggml-vocab-llama-bpe.gguf.inp",
            "be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0",
            1943,
        ),
        (
            "ggml-vocab-llama-bpe.gguf.out",
            "118abf2034a197fc5c9dec5204dfdeee7004c7c70952ae577f66b99e212fab9b",
            1739,
        ),
        (
            "ggml-vocab-llama-spm.gguf",
            "16c3724582d59aa8bf84711894e833f916ee46a31d80e21312759c48bf8d0e69",
            723_869,
        ),
        (
            "ggml-vocab-llama-spm.gguf.inp",
            "be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0",
            1943,
        ),
        (
            "ggml-vocab-llama-spm.gguf.out",
            "ad6905c925c49c022974fe67e030382e8a4f56eb4489a0b9481dcedb1ec73b29",
            2685,
        ),
        (
            "ggml-vocab-gpt-2.gguf",
            "cedc56ca6e2e89f63e781696d1fd76b4b1d49e6720dee86463e915f6e90016ac",
            1_766_807,
        ),
        (
            "ggml-vocab-gpt-2.gguf.inp",
            "be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0",
            1943,
        ),
        (
            "ggml-vocab-gpt-2.gguf.out",
            "48e8c4cb3ad5c37915b225f872222567c1c4dd4d66951aa53460c8d152ff6d60",
            2147,
        ),
    ];
    let members: Vec<String> = FILES
        .iter()
        .map(|f| format!("llama_cpp_python-0.3.36/vendor/llama.cpp/models/{}", f.0))
        .collect();
    let files: Vec<(&'static str, &'static str, u64, &'static str)> = FILES
        .iter()
        .zip(members)
        .map(|(&(name, sha256, size), member)| (name, sha256, size, &*member.leak()))
        .collect();
    let entry = ModelEntry::registry_data(
        "llama-cpp-vocabularies",
        "llama.cpp vocabulary tests",
        Registry::PyPi,
        &LLAMA_CPP_PYTHON,
        &files,
    );
    fetch_data(&entry, "llama-cpp-vocab")
}

/// A catalog model, pulled from the package registries into the test store.
pub(crate) fn model(id: &str) -> dragoman_core::ModelSource {
    let _one = SETUP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let store = ModelStore::new(root());
    let mut options = PullOptions::default();
    options.hub = false;
    store.pull(id, &options, &()).expect("pull model");
    store.source(id).expect("model source")
}

/// Runs a reference script in `translate/tests/reference/` with the reference runtime and
/// parses its JSON output.
pub(crate) fn reference_json(script: &str, args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let python = python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../translate/tests/reference")
        .join(script);
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("reference output is JSON")
}

/// The pinned reference runtime (`tests/reference/requirements.txt`) in a virtual environment
/// under the target directory, made on first use and updated when the pins change.
pub(crate) fn python() -> PathBuf {
    let _one = SETUP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("py-reference");
    let python = venv.join("bin/python");
    let requirements =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../translate/tests/reference/requirements.txt");
    let pins = std::fs::read(&requirements).expect("requirements.txt");
    let stamp = venv.join("requirements.stamp");
    if std::fs::read(&stamp).ok().as_deref() != Some(pins.as_slice()) {
        if !python.exists() {
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
        }
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                // torch and its CUDA wheels are gigabytes: keep them once (in the venv), not
                // twice (pip's cache too).
                "--no-cache-dir",
                "-r",
            ])
            .arg(&requirements));
        std::fs::write(&stamp, &pins).expect("stamp the environment");
    }
    python
}

fn run(command: &mut Command) {
    let out = command.output().expect("command starts");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `tests/reference/seq2seq_reference.py` for `family` and returns its output directory:
/// `model/`, `pytorch_model.bin` and `reference.json`. The output is reused while the script is
/// unchanged (the script is deterministic: fixed seeds).
pub(crate) fn seq2seq_reference(family: &str) -> PathBuf {
    let corpus = tatoeba_en_es();
    let python = python();
    let out = root().join(format!("reference-{family}"));
    let _one = SETUP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Relative to the workspace, so other crates' tests can include this module too.
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../translate/tests/reference/seq2seq_reference.py");
    let stamp = out.join("script.stamp");
    let text = std::fs::read(&script).expect("reference script");
    if std::fs::read(&stamp).ok().as_deref() != Some(text.as_slice()) {
        run(Command::new(python)
            .arg(&script)
            .arg(family)
            .arg(corpus)
            .arg(&out));
        std::fs::write(&stamp, &text).expect("stamp");
    }
    out
}
