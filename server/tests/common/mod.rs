//! What the server tests share: a server state on a temporary data dir, requests through
//! the router in-process, the real engines from the test model store, and a real PostgreSQL
//! server.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test uses some

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use dragoman_core::store::{ModelStore, PullOptions};
use dragoman_rtc::pipeline::Engines;
use dragoman_server::serve::auth::Credentials;
use dragoman_server::serve::config::Config;
use dragoman_server::serve::{AppState, router};
use serde_json::Value;
use tower::ServiceExt;

pub(crate) const KEY: &str = "APItest";
pub(crate) const SECRET: &str = "test-secret-test-secret-test-secret";

/// The models the room tests use, in the store shared by the workspace's tests.
pub(crate) fn store() -> ModelStore {
    ModelStore::new(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dragoman-test-store"))
}

/// The engines of `dragoman serve` (Whisper base, Silero VAD, Gemma 3 270M, espeak-ng),
/// loaded once per test binary.
pub(crate) fn engines() -> Engines {
    static ENGINES: OnceLock<Engines> = OnceLock::new();
    ENGINES
        .get_or_init(|| {
            let store = store();
            let mut options = PullOptions::default();
            options.hub = false;
            for id in ["whisper-base", "silero-vad", "gemma3-270m-q4km"] {
                store.pull(id, &options, &()).expect("pull model");
            }
            let gate = std::sync::Arc::new(dragoman_rtc::compute::ComputeGate::default());
            dragoman_engines::engines(&store, true, gate).expect("engines")
        })
        .clone()
}

/// A config on `data_dir` with the test key.
pub(crate) fn config(data_dir: &Path) -> Config {
    let mut config = Config::default();
    config.data_dir = data_dir.to_path_buf();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.api_key = KEY.into();
    config.api_secret = SECRET.into();
    config
}

pub(crate) async fn state(config: Config) -> Arc<AppState> {
    let credentials = Credentials::new(KEY, SECRET);
    AppState::new(config, credentials, store()).await.unwrap()
}

/// A response's status, headers and body (JSON when it parses, else a string).
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// Asserts a JSON error with `status` and `code`.
    pub(crate) fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.json()["error"]["code"], code, "{}", self.text);
        assert!(
            self.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

/// Authorization for a request.
#[derive(Clone, Copy)]
pub(crate) enum Auth<'a> {
    None,
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

pub(crate) async fn call(
    state: &Arc<AppState>,
    method: &str,
    uri: &str,
    auth: Auth<'_>,
    body: Option<&str>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    match auth {
        Auth::None => {}
        Auth::Basic(user, password) => {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request = request.header(header::AUTHORIZATION, format!("Basic {encoded}"));
        }
        Auth::Bearer(token) => {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
    }
    let body = match body {
        Some(body) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    let response = send(state, request.body(body).unwrap()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// `request` through the server's router.
pub(crate) async fn send(
    state: &Arc<AppState>,
    request: Request<Body>,
) -> axum::response::Response {
    router(state.clone()).oneshot(request).await.unwrap()
}

pub(crate) const ADMIN: Auth<'static> = Auth::Basic(KEY, SECRET);

/// Creates a room (`body` is the request) as the administrator.
pub(crate) async fn create_room(state: &Arc<AppState>, body: &str) {
    let reply = call(state, "POST", "/v1/rooms", ADMIN, Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

/// A PostgreSQL server of its own (Debian's `postgresql` package), on a free port, stopped
/// when dropped.
pub(crate) struct Postgres {
    child: Option<Child>,
    pub(crate) url: String,
    bin: PathBuf,
    port: u16,
    as_root: bool,
    dir: tempfile::TempDir,
}

impl Postgres {
    pub(crate) fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .filter_map(|v| v.ok().map(|v| v.path().join("bin")))
                    .find(|bin| bin.join("initdb").exists())
            })
            .expect("PostgreSQL is not installed: `apt-get install postgresql` (.ci/run does)");
        let dir = tempfile::tempdir().unwrap();
        // PostgreSQL refuses to run as root: run it as the `postgres` user the package made.
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if as_root {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let port = free_port();
        let mut postgres = Self {
            child: None,
            url: format!("postgres://dragoman@127.0.0.1:{port}/postgres"),
            bin,
            port,
            as_root,
            dir,
        };
        let status = postgres
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "dragoman",
                "-E",
                "UTF8",
                "--no-instructions",
                "-D",
            ])
            .arg(postgres.dir.path().join("data"))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("initdb");
        assert!(status.success(), "initdb failed");
        postgres.run();
        postgres
    }

    /// `program` of the installed PostgreSQL, run as its own user where we are root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// Starts the server on its data and port, and waits until it accepts connections.
    pub(crate) fn run(&mut self) {
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-k",
            ])
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("postgres");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server ("fast" shutdown: open connections are cut) and waits for it.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = self
                .command("pg_ctl")
                .args(["stop", "-m", "fast", "-D"])
                .arg(self.dir.path().join("data"))
                .stdout(std::process::Stdio::null())
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
