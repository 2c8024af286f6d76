//! Real speech and real models for the speech-to-text tests, fetched from the package registries
//! on first use and kept under Cargo's target tmp dir.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)] // each test uses some; tests panic

use std::path::PathBuf;

use dragoman_core::ModelSource;
use dragoman_core::store::catalog::{ModelEntry, Package, Registry};
use dragoman_core::store::{ModelStore, PullOptions};

/// Tests of one binary run on parallel threads; fetches into the same directory must not overlap.
static FETCH: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dragoman-test-store")
}

fn registry_only() -> PullOptions {
    let mut options = PullOptions::default();
    options.hub = false;
    options
}

/// A catalog model, pulled (and converted) into the test store.
pub(crate) fn model(id: &str) -> ModelSource {
    let store = ModelStore::new(root());
    store.pull(id, &registry_only(), &()).expect("pull model");
    store.source(id).expect("model source")
}

/// The LibriVox recordings (16 kHz mono WAV, read English) and their reference transcripts in
/// the pocketsphinx 5.1.1 source distribution, under `test/data/librivox`.
pub(crate) const LIBRIVOX: [&str; 5] = [
    "sense_and_sensibility_01_austen_64kb-0870",
    "sense_and_sensibility_01_austen_64kb-0880",
    "sense_and_sensibility_01_austen_64kb-0890",
    "sense_and_sensibility_01_austen_64kb-0920",
    "sense_and_sensibility_01_austen_64kb-0930",
];

const POCKETSPHINX: Package = Package {
    name: "pocketsphinx",
    version: "5.1.1",
    archive: "pocketsphinx-5.1.1.tar.gz",
    sha256: "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355",
    size: 34_158_862,
};

const PYWHISPERCPP: Package = Package {
    name: "pywhispercpp",
    version: "1.5.1",
    archive: "pywhispercpp-1.5.1.tar.gz",
    sha256: "5df897e5dd9d9f16804fc937bd85b9f5880a0b29a55f8843585e0e03d76195e5",
    size: 9_756_087,
};

/// Fetches `files` (name, sha256, size, path in the archive) of one registry package into a
/// directory of the test store, verified, and returns it.
fn data(
    id: &'static str,
    package: &'static Package,
    files: Vec<(&'static str, &'static str, u64, &'static str)>,
) -> PathBuf {
    let _one_at_a_time = FETCH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dest = root().join("data").join(id);
    let entry = ModelEntry::registry_data(id, "test recordings", Registry::PyPi, package, &files);
    ModelStore::new(root())
        .ensure_published(&entry, &registry_only(), &dest, &())
        .expect("fetch test data");
    dest
}

/// The JFK inaugural address clip (11 s, 16 kHz) from whisper.cpp's samples in pywhispercpp 1.5.1.
pub(crate) fn jfk() -> PathBuf {
    data(
        "jfk",
        &PYWHISPERCPP,
        vec![(
            "jfk.wav",
            "59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e",
            352_078,
            "pywhispercpp-1.5.1/whisper.cpp/bindings/go/samples/jfk.wav",
        )],
    )
    .join("jfk.wav")
}

/// The directory holding the LibriVox recordings and transcripts (see [`LIBRIVOX`]).
pub(crate) fn librivox() -> PathBuf {
    data(
        "librivox",
        &POCKETSPHINX,
        vec![
            (
                "sense_and_sensibility_01_austen_64kb-0870.txt",
                "e7001f6b4f6961f49df18fbdf0a0cda70c950806a2f2055eed20bb128dc3570c",
                116,
                "pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.txt",
            ),
            (
                "sense_and_sensibility_01_austen_64kb-0870.wav",
                "b0557cf95c974d930577e58e46b7f068c432a6e3afcc286563d88922b2a5315c",
                227244,
                "pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav",
            ),
            (
                "sense_and_sensibility_01_austen_64kb-0880.txt",
                "e7c98df9e9929043aad0994ac095bc86a6e9db8ff51d9dd0d3c28eb5df691a0e",
                38,
                "pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.txt",
            ),
            (
                "sense_and_sensibility_01_austen_64kb-0880.wav",
                "fbec491ef00ee734a67f0ee318e98c51c157b479e1629ff4f4426861ecac0414",
                95724,
                "pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
            ),
            (
                "sense_and_sensibility_01_austen_64kb-0890.txt",
                "942c80d221e02f9e01fbe4558a61313decf4b45a4e5e5941ae35fb0ba793ba09",
                75,
                "pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-0890.txt",
            ),
            (
                "sense_and_sensibility_01_austen_64kb-0890.wav",
                "5793ffbdee55fb8bfd284943a6866864c832d9d4accf2661cabd39915c84ee10",
                169644,
                "pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-0890.wav",
            ),
            (
                "sense_and_sensibility_01_austen_64kb-0920.txt",
                "20c9afffa853ca7697939312c43a6d2fc5ea8248e5748238b7ce34f6121b7835",
                97,
                "pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-0920.txt",
            ),
            (
                "sense_and_sensibility_01_austen_64kb-0920.wav",
                "40882414ef4cc51f3ff7a63bad0c8c87e7f595ffeb8209fbf756c8ebc5c28a59",
                193644,
                "pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-0920.wav",
            ),
            (
                "sense_and_sensibility_01_austen_64kb-0930.txt",
                "b57a1fa64e7bdf66d5ca11df4a31c93492808006295fe3b3e8b2ea4deb800640",
                45,
                "pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-0930.txt",
            ),
            (
                "sense_and_sensibility_01_austen_64kb-0930.wav",
                "954adbf0b56ac8a148cbe77b39ca18d76b5f2a1e1f405565bd786ce3e68a68b7",
                105324,
                "pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-0930.wav",
            ),
        ],
    )
}

/// The published files of catalog model `id` before conversion (for reference runtimes).
pub(crate) fn published(id: &str) -> PathBuf {
    let _one_at_a_time = FETCH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dest = root().join("published").join(id);
    let entry = dragoman_core::store::entry(id).expect("catalog entry");
    ModelStore::new(root())
        .ensure_published(entry, &registry_only(), &dest, &())
        .expect("fetch published files");
    dest
}

/// Runs a reference script in `tests/reference/` and parses its JSON output.
pub(crate) fn reference_json(script: &str, args: &[&std::path::Path]) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(script);
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("reference output is JSON")
}
