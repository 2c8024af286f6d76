//! The real Resemblyzer GE2E checkpoint (a legacy, non-zip `torch.save` file from the package
//! registry): our Rust pickle reader must find exactly the tensors that Python's own pickle
//! machine finds (`tests/reference/torch_tensors.py`, no torch needed), byte for byte, and the
//! pull-time conversion must carry the model's state dict into safetensors unchanged.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use dragoman_core::Error;
use dragoman_core::store::convert::pickle::{convert_torch, read_torch};
use dragoman_core::store::{self, ModelStore, PullOptions};

fn published(id: &str) -> Result<PathBuf, Error> {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dragoman-test-store");
    let dest = root.join("published").join(id);
    let entry = store::entry(id)?;
    let intact = entry
        .files
        .iter()
        .all(|f| store::sha256_file(&dest.join(f.name)).is_ok_and(|(sha, _)| sha == f.sha256));
    if !intact {
        let mut options = PullOptions::default();
        options.hub = false;
        ModelStore::new(&root).fetch_published(entry, &options, &dest, &())?;
    }
    Ok(dest)
}

fn sha256(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    std::fs::write(&path, bytes).unwrap();
    store::sha256_file(&path).unwrap().0
}

#[test]
fn resemblyzer_checkpoint_matches_pythons_reading() -> Result<(), Error> {
    let checkpoint = published("ge2e-resemblyzer")?.join("pretrained.pt");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference/torch_tensors.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&checkpoint)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("JSON");

    let ours = read_torch(&checkpoint)?;
    assert_eq!(ours.len(), reference.len());
    assert_eq!(
        reference.len(),
        48,
        "16 model tensors and 32 optimizer moments"
    );
    for tensor in &ours {
        let want = reference
            .get(&tensor.name)
            .unwrap_or_else(|| panic!("{} not in Python's reading", tensor.name));
        assert_eq!(
            want["shape"],
            serde_json::json!(tensor.shape),
            "{}",
            tensor.name
        );
        assert_eq!(
            want["dtype"],
            format!("{:?}", tensor.dtype.safetensors()),
            "{}",
            tensor.name
        );
        assert_eq!(want["sha256"], sha256(&tensor.data), "{}", tensor.name);
    }

    // The conversion keeps the state dict only, renamed relative to it.
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let dest = dir.path().join("model.safetensors");
    assert_eq!(convert_torch(&checkpoint, "model_state", &dest)?, 16);
    let bytes = std::fs::read(&dest).map_err(|e| Error::io("read", e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    assert_eq!(st.len(), 16);
    for (name, view) in st.tensors() {
        let want = &reference[&format!("model_state.{name}")];
        assert_eq!(want["sha256"], sha256(view.data()), "{name}");
    }
    assert_eq!(
        st.tensor("lstm.weight_ih_l0")
            .expect("LSTM input weights")
            .shape(),
        &[1024, 40]
    );
    Ok(())
}
