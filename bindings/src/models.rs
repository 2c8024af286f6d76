//! The model store: which models exist, which are pulled, and pulling them.

use std::path::PathBuf;
use std::sync::Arc;

use dragoman_core::store::catalog::CATALOG;
use dragoman_core::store::{self, PullEvent, PullOptions};

use crate::error::Result;

/// A model of the catalog, and whether this store has it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ModelInfo {
    /// The id to pull and load it by, e.g. `whisper-base`.
    pub id: String,
    /// What it is for: `speech-to-text`, `translation`, `text-to-speech`, ...
    pub task: String,
    /// One line on what it is, with its quality caveats.
    pub description: String,
    /// Licence of the weights (SPDX id where there is one).
    pub licence: String,
    /// Whether the licence allows commercial use.
    pub commercial_use: bool,
    /// Size of its published files in bytes, when known.
    pub size_bytes: Option<u64>,
    /// Whether `pull_defaults` pulls it.
    pub default: bool,
    /// Whether it is complete in this store.
    pub pulled: bool,
}

/// Progress of a pull, as [`PullListener::on_progress`] receives it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PullProgress {
    /// The model being pulled.
    pub model: String,
    /// What happens: `trying` (a source), `download` (bytes of a file or package),
    /// `downloaded`, `step` (verifying, converting) or `failed` (a source failed; the next one
    /// is tried).
    pub stage: String,
    /// The file, package, source or step it concerns.
    pub name: String,
    /// Bytes of the current download so far.
    pub done_bytes: u64,
    /// Size of the current download, when known.
    pub total_bytes: Option<u64>,
}

/// Receives the progress of [`ModelStore::pull`] (a progress bar, a log line).
#[uniffi::export(with_foreign)]
pub trait PullListener: Send + Sync {
    /// Something happened; called on the thread that pulls.
    fn on_progress(&self, progress: PullProgress);
}

/// The cache of pulled models: a directory, by default `$DRAGOMAN_HOME` or the platform's
/// cache directory + `dragoman` (the same store the `dragoman` command uses).
#[derive(Debug, uniffi::Object)]
pub struct ModelStore {
    pub(crate) inner: store::ModelStore,
}

#[uniffi::export]
impl ModelStore {
    /// The store at `directory`, or the default one when it is `None`.
    #[uniffi::constructor(default(directory = None))]
    pub fn new(directory: Option<String>) -> Result<Arc<Self>> {
        let inner = match directory {
            Some(dir) => store::ModelStore::new(PathBuf::from(dir)),
            None => store::ModelStore::from_env()?,
        };
        Ok(Arc::new(Self { inner }))
    }

    /// The store's directory.
    pub fn directory(&self) -> String {
        self.inner.root().display().to_string()
    }

    /// Every model of the catalog, pulled or not.
    pub fn list(&self) -> Vec<ModelInfo> {
        CATALOG
            .iter()
            .filter(|e| e.task != store::catalog::Task::Data)
            .map(|e| ModelInfo {
                id: e.id.to_string(),
                task: e.task.to_string(),
                description: e.description.to_string(),
                licence: e.licence.name.to_string(),
                commercial_use: e.licence.commercial_use,
                size_bytes: e.size(),
                default: e.default,
                pulled: self.inner.manifest(e.id).is_some(),
            })
            .collect()
    }

    /// Pulls model `id` unless it is complete already; `true` when it was fetched now.
    /// Blocks until done; `listener` hears the progress.
    #[uniffi::method(default(listener = None))]
    pub fn pull(&self, id: String, listener: Option<Arc<dyn PullListener>>) -> Result<bool> {
        let progress = Listener {
            model: &id,
            listener,
        };
        let outcome = self.inner.pull(&id, &PullOptions::default(), &progress)?;
        Ok(matches!(outcome, store::PullOutcome::Pulled { .. }))
    }

    /// Pulls every default model (what a call needs); the ids fetched now.
    #[uniffi::method(default(listener = None))]
    pub fn pull_defaults(&self, listener: Option<Arc<dyn PullListener>>) -> Result<Vec<String>> {
        let mut pulled = Vec::new();
        for entry in CATALOG.iter().filter(|e| e.default) {
            if self.pull(entry.id.to_string(), listener.clone())? {
                pulled.push(entry.id.to_string());
            }
        }
        Ok(pulled)
    }
}

/// Forwards the store's progress to a foreign listener.
struct Listener<'a> {
    model: &'a str,
    listener: Option<Arc<dyn PullListener>>,
}

impl store::PullProgress for Listener<'_> {
    fn event(&self, event: PullEvent<'_>) {
        let Some(listener) = &self.listener else {
            return;
        };
        let (stage, name, done_bytes, total_bytes) = match event {
            PullEvent::Trying { source, .. } => ("trying", source.to_string(), 0, None),
            PullEvent::DownloadStart { name, total } => ("download", name.to_string(), 0, total),
            PullEvent::DownloadProgress { name, done } => {
                ("download", name.to_string(), done, None)
            }
            PullEvent::DownloadDone { name } => ("downloaded", name.to_string(), 0, None),
            PullEvent::Step { what } => ("step", what.to_string(), 0, None),
            PullEvent::SourceFailed { source, reason } => {
                ("failed", format!("{source}: {reason}"), 0, None)
            }
            _ => return,
        };
        listener.on_progress(PullProgress {
            model: self.model.to_string(),
            stage: stage.to_string(),
            name,
            done_bytes,
            total_bytes,
        });
    }
}
