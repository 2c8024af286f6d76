//! Converters from published formats to what dragoman's engines load, run once at pull time.
//!
//! Readers are written in Rust so no Python is needed at run time. Each converter is checked by a
//! test that compares its output with the source tensors.

pub mod ct2;
pub mod onnx;
pub mod pickle;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::catalog::{Conversion, ModelEntry};
use super::{PullEvent, PullProgress};
use crate::error::{Error, Result};

/// The file converted weights are written to.
pub const WEIGHTS: &str = "model.safetensors";

/// Turns the verified published files in `raw` into the model directory `out`.
pub(crate) fn run(
    entry: &ModelEntry,
    raw: &Path,
    out: &Path,
    progress: &dyn PullProgress,
) -> Result<()> {
    match entry.conversion {
        Conversion::None => {
            for file in entry.files {
                move_file(&raw.join(file.name), &out.join(file.name))?;
            }
        }
        Conversion::Ct2Whisper => {
            progress.event(PullEvent::Step {
                what: "converting CTranslate2 weights to safetensors",
            });
            ct2::convert_whisper(raw, out)?;
            // The tokenizer is used as published; model.bin and the CTranslate2 config are not
            // needed once converted.
            move_file(&raw.join("tokenizer.json"), &out.join("tokenizer.json"))?;
        }
        Conversion::TorchPickle { source, subtree } => {
            progress.event(PullEvent::Step {
                what: "converting the PyTorch checkpoint to safetensors",
            });
            pickle::convert_torch(&raw.join(source), subtree, &out.join(WEIGHTS))?;
            move_all_but(entry, source, raw, out)?;
        }
        Conversion::Onnx { source } => {
            progress.event(PullEvent::Step {
                what: "taking the ONNX weights into safetensors",
            });
            onnx::convert_onnx(&raw.join(source), &out.join(WEIGHTS))?;
            move_all_but(entry, source, raw, out)?;
        }
    }
    Ok(())
}

/// One tensor to write: name, dtype, shape, little-endian row-major bytes.
pub(crate) type TensorBytes<'a> = (String, safetensors::Dtype, Vec<usize>, &'a [u8]);

/// Writes `tensors` to a safetensors file at `dest`, recording `converted_from` (and any extra
/// metadata) in its header. `source` names the file being converted, for errors.
pub(crate) fn write_safetensors<'a>(
    source: &Path,
    dest: &Path,
    tensors: impl IntoIterator<Item = TensorBytes<'a>>,
    converted_from: &str,
    mut metadata: HashMap<String, String>,
) -> Result<()> {
    let views = tensors
        .into_iter()
        .map(|(name, dtype, shape, data)| {
            safetensors::tensor::TensorView::new(dtype, shape, data)
                .map(|view| (name.clone(), view))
                .map_err(|e| Error::Convert {
                    path: source.to_path_buf(),
                    reason: format!("{name}: {e}"),
                })
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    metadata.insert("format".into(), "pt".into());
    metadata.insert("converted_from".into(), converted_from.into());
    safetensors::tensor::serialize_to_file(views, Some(metadata), dest).map_err(|e| {
        Error::Convert {
            path: dest.to_path_buf(),
            reason: e.to_string(),
        }
    })
}

/// Moves every published file but the converted `source` into the model directory.
fn move_all_but(entry: &ModelEntry, source: &str, raw: &Path, out: &Path) -> Result<()> {
    for file in entry.files.iter().filter(|f| f.name != source) {
        move_file(&raw.join(file.name), &out.join(file.name))?;
    }
    Ok(())
}

fn move_file(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to)
        .map_err(|e| Error::io(format!("moving {} to {}", from.display(), to.display()), e))
}
