//! The model store against a local server that speaks the Hugging Face Hub's download protocol
//! (`/{repo}/resolve/{revision}/{path}`, ranged GETs, `etag` and `x-repo-commit` headers), since
//! the real Hub is not reachable from the project's machines.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use dragoman_core::Error;
use dragoman_core::store::catalog::{Conversion, FileSpec, HubRepo, Licence, ModelEntry, Task};
use dragoman_core::store::{
    ModelStore, PullEvent, PullOptions, PullOutcome, PullProgress, SourceKind, sha256_file,
};

/// A file served by the fake Hub.
struct Served {
    bytes: Vec<u8>,
    /// Its content address, as the real Hub serves it: the git blob id of a small file kept in
    /// git, the sha256 of a large (LFS) one.
    etag: String,
}

/// Files at least this large are "LFS" files on the fake Hub.
const LFS_FROM: usize = 1_000;

#[derive(Default)]
struct HubState {
    files: BTreeMap<String, Served>,
    /// Cut the next full-body transfer in half, as a dropped connection would.
    cut_next_transfer: AtomicBool,
    /// `(url, Range header)` of every request.
    log: Mutex<Vec<(String, Option<String>)>>,
}

struct FakeHub {
    url: String,
    state: Arc<HubState>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeHub {
    fn start(files: BTreeMap<String, Vec<u8>>) -> Self {
        let files = files
            .into_iter()
            .map(|(path, bytes)| {
                let etag = content_address(&bytes);
                (path, Served { bytes, etag })
            })
            .collect();
        Self::serve(files)
    }

    fn serve(files: BTreeMap<String, Served>) -> Self {
        let state = Arc::new(HubState {
            files,
            ..Default::default()
        });
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind loopback"));
        let url = format!(
            "http://{}",
            server.server_addr().to_ip().expect("ip address")
        );
        let thread = {
            let (server, state) = (server.clone(), state.clone());
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    serve(&state, request);
                }
            })
        };
        Self {
            url,
            state,
            server,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<(String, Option<String>)> {
        self.state.log.lock().expect("log").clone()
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("header")
}

fn serve(state: &HubState, request: tiny_http::Request) {
    let url = request.url().to_string();
    let range = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Range"))
        .map(|h| h.value.as_str().to_string());
    state
        .log
        .lock()
        .expect("log")
        .push((url.clone(), range.clone()));
    let Some(file) = url
        .split_once("/resolve/main/")
        .and_then(|(_, path)| state.files.get(path))
    else {
        let _ =
            request.respond(tiny_http::Response::from_string("not found").with_status_code(404));
        return;
    };
    let total = file.bytes.len();
    let (start, end) = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .map(|(a, b)| {
            (
                a.parse().unwrap_or(0),
                b.parse::<usize>().map_or(total - 1, |b| b.min(total - 1)),
            )
        })
        .unwrap_or((0, total - 1));
    let body = &file.bytes[start..=end];
    // A "dropped connection": promise the whole range, send half of it.
    let sent = if body.len() > 1 && state.cut_next_transfer.swap(false, Ordering::SeqCst) {
        &body[..body.len() / 2]
    } else {
        body
    };
    let headers = vec![
        header("etag", &format!("\"{}\"", file.etag)),
        header("x-repo-commit", "0123456789abcdef0123456789abcdef01234567"),
        header("content-range", &format!("bytes {start}-{end}/{total}")),
        header("accept-ranges", "bytes"),
    ];
    let response = tiny_http::Response::new(
        tiny_http::StatusCode(206),
        headers,
        std::io::Cursor::new(sent.to_vec()),
        Some(body.len()),
        None,
    );
    let _ = request.respond(response);
}

fn sha256_hex(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("f");
    std::fs::write(&path, bytes).expect("write");
    sha256_file(&path).expect("hash").0
}

fn content_address(bytes: &[u8]) -> String {
    use sha1::Digest;
    if bytes.len() >= LFS_FROM {
        return sha256_hex(bytes);
    }
    let mut hasher = sha1::Sha1::new();
    hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
    hasher.update(bytes);
    hex::encode(hasher.finalize())
}

/// Pseudo-random bytes (xorshift), so a wrong offset cannot go unnoticed.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

const WEIGHTS_LEN: usize = 300_000;

fn tiny_model(id: &'static str, weights: &[u8], config: &[u8]) -> ModelEntry {
    let files: &'static [FileSpec] = Box::leak(Box::new([
        FileSpec::pinned(
            "weights.bin",
            leak(sha256_hex(weights)),
            weights.len() as u64,
        ),
        FileSpec::pinned("config.json", leak(sha256_hex(config)), config.len() as u64),
    ]));
    ModelEntry {
        id,
        task: Task::SpeechToText,
        description: "test model",
        licence: Licence {
            name: "MIT",
            commercial_use: true,
        },
        files,
        hub: Some(HubRepo {
            repo: "org/tiny",
            revision: "main",
            subfolder: "v1",
        }),
        mirror: None,
        conversion: Conversion::None,
        default: false,
    }
}

fn hub_files(weights: &[u8], config: &[u8]) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        ("v1/weights.bin".to_string(), weights.to_vec()),
        ("v1/config.json".to_string(), config.to_vec()),
    ])
}

fn hub_only(hub: &FakeHub) -> PullOptions {
    let mut options = PullOptions::default();
    options.hub_endpoint = Some(hub.url.clone());
    options.mirror = false;
    options
}

/// Records progress events as text.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl PullProgress for Recorder {
    fn event(&self, event: PullEvent<'_>) {
        let line = match event {
            PullEvent::DownloadStart { name, total } => format!("start {name} {total:?}"),
            PullEvent::DownloadProgress { name, done } => format!("progress {name} {done}"),
            PullEvent::DownloadDone { name } => format!("done {name}"),
            PullEvent::Trying { source, .. } => format!("trying {source}"),
            PullEvent::SourceFailed { source, reason } => format!("failed {source}: {reason}"),
            other => format!("{other:?}"),
        };
        self.0.lock().expect("events").push(line);
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|items| {
            items
                .flatten()
                .map(|i| i.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn pulls_from_the_hub_with_progress_and_verifies() -> Result<(), Error> {
    let (weights, config) = (noise(WEIGHTS_LEN, 1), b"{\"d_model\": 4}".to_vec());
    let hub = FakeHub::start(hub_files(&weights, &config));
    let cache = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let store = ModelStore::new(cache.path());
    let entry = tiny_model("tiny-hub", &weights, &config);
    let events = Recorder::default();

    let outcome = store.pull_entry(&entry, &hub_only(&hub), &events)?;
    assert_eq!(
        outcome,
        PullOutcome::Pulled {
            source: SourceKind::Hub
        }
    );
    let dir = store.model_dir("tiny-hub");
    assert_eq!(
        std::fs::read(dir.join("weights.bin")).ok(),
        Some(weights.clone())
    );
    assert_eq!(
        entries(&dir),
        ["config.json", "manifest.json", "weights.bin"]
    );
    assert!(store.verify_entry(&entry)?.is_empty());
    let events = events.0.into_inner().expect("events");
    assert!(
        events.contains(&format!("start weights.bin Some({WEIGHTS_LEN})")),
        "{events:#?}"
    );
    assert!(
        events.contains(&format!("progress weights.bin {WEIGHTS_LEN}")),
        "{events:#?}"
    );
    assert!(events.contains(&"done weights.bin".to_string()));
    // Requests follow the Hub's URL layout.
    assert!(
        hub.requests()
            .iter()
            .any(|(url, _)| url == "/org/tiny/resolve/main/v1/weights.bin")
    );

    // A second pull is a no-op: no request reaches the server.
    let before = hub.requests().len();
    assert_eq!(
        store.pull_entry(&entry, &hub_only(&hub), &())?,
        PullOutcome::AlreadyPresent
    );
    assert_eq!(hub.requests().len(), before);
    // Nothing is left behind but the model, its lock and the (emptied) work directories.
    assert!(entries(&cache.path().join("staging")).is_empty());
    Ok(())
}

#[test]
fn a_dropped_connection_is_restarted() -> Result<(), Error> {
    let (weights, config) = (noise(WEIGHTS_LEN, 2), b"{}".to_vec());
    let hub = FakeHub::start(hub_files(&weights, &config));
    let cache = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let store = ModelStore::new(cache.path());
    let entry = tiny_model("tiny-dropped", &weights, &config);
    // The metadata probe (bytes=0-0) is one byte and never cut; the body transfer is.
    hub.state.cut_next_transfer.store(true, Ordering::SeqCst);
    store.pull_entry(&entry, &hub_only(&hub), &())?;
    assert_eq!(
        std::fs::read(store.model_dir("tiny-dropped").join("weights.bin")).ok(),
        Some(weights)
    );
    Ok(())
}

#[test]
fn an_interrupted_download_resumes_where_it_stopped() -> Result<(), Error> {
    let (weights, config) = (noise(WEIGHTS_LEN, 6), b"{}".to_vec());
    let hub = FakeHub::start(hub_files(&weights, &config));
    let cache = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let store = ModelStore::new(cache.path());
    let entry = tiny_model("tiny-resume", &weights, &config);
    // What a killed `dragoman models pull` leaves: hf-hub's part file, named by the etag,
    // holding the first third of the file.
    let blobs = cache.path().join("downloads/hub/models--org--tiny/blobs");
    std::fs::create_dir_all(&blobs).map_err(|e| Error::io("fixture", e))?;
    let part = blobs.join(format!("{}.part", content_address(&weights)));
    std::fs::write(&part, &weights[..WEIGHTS_LEN / 3]).map_err(|e| Error::io("fixture", e))?;

    store.pull_entry(&entry, &hub_only(&hub), &())?;
    assert_eq!(
        std::fs::read(store.model_dir("tiny-resume").join("weights.bin")).ok(),
        Some(weights)
    );
    let ranges: Vec<Option<String>> = hub
        .requests()
        .into_iter()
        .filter(|(url, _)| url.ends_with("weights.bin"))
        .map(|(_, r)| r)
        .collect();
    let resumed_from = format!("bytes={}-", WEIGHTS_LEN / 3);
    assert!(
        ranges.contains(&Some(resumed_from.clone())),
        "no {resumed_from} request: {ranges:?}"
    );
    assert!(
        !ranges.contains(&Some("bytes=0-".into())),
        "downloaded from the start again: {ranges:?}"
    );
    Ok(())
}

/// `tiny_model` as a Hub-only catalog entry that could not pin its files.
fn unpinned(id: &'static str) -> ModelEntry {
    const FILES: &[FileSpec] = &[
        FileSpec::hub_addressed("weights.bin"),
        FileSpec::hub_addressed("config.json"),
    ];
    ModelEntry {
        files: FILES,
        ..tiny_model(id, b"", b"")
    }
}

#[test]
fn unpinned_files_are_checked_against_the_hubs_content_address() -> Result<(), Error> {
    let (weights, config) = (noise(WEIGHTS_LEN, 7), b"{\"n_mels\": 80}".to_vec());
    let cache = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let store = ModelStore::new(cache.path());

    // Both kinds of address: sha256 for the large file, git blob id for the small one.
    let hub = FakeHub::start(hub_files(&weights, &config));
    store.pull_entry(&unpinned("unpinned"), &hub_only(&hub), &())?;
    let manifest = store.manifest("unpinned").expect("pulled");
    assert_eq!(manifest.files.len(), 2);
    assert!(store.verify_entry(&unpinned("unpinned"))?.is_empty());
    drop(hub);

    // A Hub (or proxy) serving other bytes than the address it announces is refused, after a
    // second try, and leaves no model behind.
    let mut served = BTreeMap::new();
    for (path, bytes) in hub_files(&weights, &config) {
        let etag = content_address(&bytes);
        let bytes = if path.ends_with("weights.bin") {
            noise(WEIGHTS_LEN, 8)
        } else {
            bytes
        };
        served.insert(path, Served { bytes, etag });
    }
    let hub = FakeHub::serve(served);
    let err = store
        .pull_entry(&unpinned("unpinned-bad"), &hub_only(&hub), &())
        .expect_err("must fail");
    let message = err.to_string();
    assert!(
        message.contains("content address") && message.contains("weights.bin"),
        "{message}"
    );
    assert!(store.manifest("unpinned-bad").is_none());
    let downloads = hub
        .requests()
        .into_iter()
        .filter(|(url, range)| {
            url.ends_with("weights.bin") && range.as_deref() != Some("bytes=0-0")
        })
        .count();
    assert_eq!(downloads, 2, "one restart, then give up");
    Ok(())
}

#[test]
fn a_checksum_mismatch_fails_and_leaves_no_model() -> Result<(), Error> {
    let (weights, config) = (noise(1_000, 3), b"{}".to_vec());
    let hub = FakeHub::start(hub_files(&weights, &config));
    let cache = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let store = ModelStore::new(cache.path());
    // The catalog expects other bytes than the Hub serves.
    let entry = tiny_model("tiny-bad", &noise(1_000, 4), &config);
    let err = store
        .pull_entry(&entry, &hub_only(&hub), &())
        .expect_err("must fail");
    let message = err.to_string();
    assert!(matches!(err, Error::Fetch { .. }), "{message}");
    assert!(
        message.contains("checksum mismatch") && message.contains("weights.bin"),
        "{message}"
    );
    assert!(!store.model_dir("tiny-bad").exists());
    assert!(store.manifest("tiny-bad").is_none());
    assert!(entries(&cache.path().join("staging")).is_empty());
    Ok(())
}

#[test]
fn a_local_directory_is_tried_first_and_the_hub_is_the_fallback() -> Result<(), Error> {
    let (weights, config) = (noise(5_000, 5), b"{}".to_vec());
    let hub = FakeHub::start(hub_files(&weights, &config));
    let cache = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let store = ModelStore::new(cache.path());
    let local = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let io = |e| Error::io("fixture", e);
    std::fs::write(local.path().join("weights.bin"), &weights).map_err(io)?;
    std::fs::write(local.path().join("config.json"), &config).map_err(io)?;
    let mut options = hub_only(&hub);
    options.local_dir = Some(local.path().to_path_buf());

    let entry = tiny_model("tiny-local", &weights, &config);
    assert_eq!(
        store.pull_entry(&entry, &options, &())?,
        PullOutcome::Pulled {
            source: SourceKind::Local
        }
    );
    assert!(hub.requests().is_empty());

    // A damaged local copy is rejected and the Hub delivers instead.
    std::fs::write(local.path().join("weights.bin"), b"damaged").map_err(io)?;
    let entry = tiny_model("tiny-local-damaged", &weights, &config);
    let events = Recorder::default();
    assert_eq!(
        store.pull_entry(&entry, &options, &events)?,
        PullOutcome::Pulled {
            source: SourceKind::Hub
        }
    );
    let events = events.0.into_inner().expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("failed local directory: checksum mismatch")),
        "{events:#?}"
    );
    Ok(())
}

#[test]
fn an_unreachable_hub_and_unknown_ids_give_clear_errors() -> Result<(), Error> {
    let cache = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let store = ModelStore::new(cache.path());
    let err = store
        .pull("no-such-model", &PullOptions::default(), &())
        .expect_err("unknown id");
    assert!(
        err.to_string().contains("whisper-base"),
        "lists the known ids: {err}"
    );

    // Ids become directory names, so one that could leave the cache is refused.
    let escaping = tiny_model("../escape", b"x", b"{}");
    let message = store
        .pull_entry(&escaping, &PullOptions::default(), &())
        .expect_err("bad id")
        .to_string();
    assert!(message.contains("must be letters"), "{message}");

    // Nothing listens on port 9 of loopback (discard; connection refused).
    let mut options = PullOptions::default();
    options.hub_endpoint = Some("http://127.0.0.1:9".into());
    options.mirror = false;
    let entry = tiny_model("tiny-offline", b"x", b"{}");
    let message = store
        .pull_entry(&entry, &options, &())
        .expect_err("offline")
        .to_string();
    assert!(
        message.contains("Hugging Face Hub") && message.contains("download failed"),
        "{message}"
    );
    Ok(())
}
