//! Converters from published formats to what dragoman's engines load, run once at pull time.
//!
//! Readers are written in Rust so no Python is needed at run time. Each converter is checked by a
//! test that compares its output with the source tensors.

pub mod ct2;
pub mod onnx;
pub mod pickle;

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
