//! The real Resemblyzer GE2E checkpoint (a legacy, non-zip `torch.save` file from the package
//! registry): our Rust pickle reader must find exactly the tensors that Python's own pickle
//! machine finds (`tests/reference/torch_tensors.py`, no torch needed), byte for byte, and the
//! pull-time conversion must carry the model's state dict into safetensors unchanged.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod common;

use common::{published, reference_json, sha256};
use dragoman_core::Error;
use dragoman_core::store::convert::pickle::{convert_torch, read_torch};

#[test]
fn resemblyzer_checkpoint_matches_pythons_reading() -> Result<(), Error> {
    let checkpoint = published("ge2e-resemblyzer")?.join("pretrained.pt");
    let reference = reference_json("torch_tensors.py", &checkpoint);

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
