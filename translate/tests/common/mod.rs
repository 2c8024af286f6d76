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
    let _one = SETUP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dest = root().join("data/tatoeba");
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
    let mut options = PullOptions::default();
    options.hub = false;
    ModelStore::new(root())
        .ensure_published(&entry, &options, &dest, &())
        .expect("fetch Tatoeba");
    dest.join("spa.txt")
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
