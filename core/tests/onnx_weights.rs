//! The real ONNX models from the package registries (Silero VAD v6, the Piper "joe" voice): every
//! weight we take out must equal what the `onnx` package reads (`tests/reference/onnx_tensors.py`),
//! and the pull-time conversion must write them all into safetensors unchanged.
//!
//! Needs `python3 -m pip install onnx numpy` (done by `.ci/run`).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod common;

use common::{published, reference_json, sha256};
use dragoman_core::Error;
use dragoman_core::store::convert::onnx::{convert_onnx, read_onnx};

fn check(
    id: &str,
    file: &str,
    expected_count: usize,
    expected_renamed: usize,
) -> Result<(), Error> {
    let model = published(id)?.join(file);
    let reference = reference_json("onnx_tensors.py", &model);

    let ours = read_onnx(&model)?;
    assert_eq!(ours.len(), reference.len(), "{id}: weight count");
    assert_eq!(ours.len(), expected_count, "{id}");
    for t in &ours {
        let want = reference
            .get(&t.onnx_name)
            .unwrap_or_else(|| panic!("{id}: {} not in onnx's reading", t.onnx_name));
        assert_eq!(
            want["shape"],
            serde_json::json!(t.shape),
            "{id}: {}",
            t.onnx_name
        );
        assert_eq!(
            want["dtype"],
            format!("{:?}", t.dtype),
            "{id}: {}",
            t.onnx_name
        );
        assert_eq!(want["sha256"], sha256(&t.data), "{id}: {}", t.onnx_name);
    }
    assert_eq!(
        ours.iter().filter(|t| t.name != t.onnx_name).count(),
        expected_renamed,
        "{id}: renamed"
    );

    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let dest = dir.path().join("model.safetensors");
    assert_eq!(convert_onnx(&model, &dest)?, expected_count);
    let bytes = std::fs::read(&dest).map_err(|e| Error::io("read", e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    for t in &ours {
        let view = st
            .tensor(&t.name)
            .unwrap_or_else(|_| panic!("{id}: {} missing", t.name));
        assert_eq!(
            reference[&t.onnx_name]["sha256"],
            sha256(view.data()),
            "{id}: {}",
            t.name
        );
    }
    Ok(())
}

#[test]
fn silero_vad_weights_match_onnx() -> Result<(), Error> {
    // 15 initializers, plus the Constant tensors of the graph and its If branches.
    check("silero-vad", "silero_vad_16k_op15.onnx", 175, 0)
}

#[test]
fn piper_voice_weights_match_onnx() -> Result<(), Error> {
    // 401 initializers; 32 anonymous WaveNet conv weights in the flow get their PyTorch names.
    check("piper-en_US-joe-medium", "en_US-joe-medium.onnx", 401, 32)
}
