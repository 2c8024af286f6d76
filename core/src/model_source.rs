//! Where an engine finds its weights, already resolved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};

/// Model files an engine loads from. Engines never download: the store (or the embedding app)
/// resolves a model to one of these first.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ModelSource {
    /// A directory holding the model's files by name (`model.safetensors`, `config.json`, ...).
    Dir(PathBuf),
    /// Files in memory, by name: for wasm and mobile apps that ship or fetch weights themselves.
    Memory(Arc<BTreeMap<String, Arc<[u8]>>>),
}

impl ModelSource {
    /// A model in `dir`.
    pub fn dir(dir: impl Into<PathBuf>) -> Self {
        Self::Dir(dir.into())
    }

    /// The bytes of the file `name`.
    pub fn read(&self, name: &str) -> Result<Arc<[u8]>> {
        match self {
            Self::Dir(dir) => {
                let path = dir.join(name);
                std::fs::read(&path)
                    .map(Arc::from)
                    .map_err(|e| Error::io(format!("reading model file {}", path.display()), e))
            }
            Self::Memory(files) => files.get(name).cloned().ok_or_else(|| {
                Error::Model(format!("model file {name:?} not among the in-memory files"))
            }),
        }
    }

    /// The path of `name` when the model is on disk (for memory-mapping large weights).
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        match self {
            Self::Dir(dir) => Some(dir.join(name)),
            Self::Memory(_) => None,
        }
    }

    /// The error for a model file that is missing or unusable: names the file (its path when on
    /// disk), what is wrong, and the catalog model it belongs to (`""` when none), so the
    /// message can say how to fetch it again.
    pub fn file_error(&self, name: &str, model: &str, reason: impl Into<String>) -> Error {
        Error::ModelFile {
            file: self
                .path(name)
                .map_or(name.to_string(), |p| p.display().to_string()),
            reason: reason.into(),
            model: model.to_string(),
        }
    }

    /// Whether the file `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        match self {
            Self::Dir(dir) => Path::new(dir).join(name).is_file(),
            Self::Memory(files) => files.contains_key(name),
        }
    }
}
