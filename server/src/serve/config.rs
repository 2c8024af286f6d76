//! The server's configuration: defaults, then a TOML file, then `DRAGOMAN_*` environment
//! variables, then command-line flags (each overrides the one before).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything `dragoman serve` can be told. Field names are the TOML keys; the environment
/// variable of a key is `DRAGOMAN_` + the key in capitals (`DRAGOMAN_LISTEN`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The HTTP address (the API, the web client and WebSocket signaling).
    pub listen: SocketAddr,
    /// Where the server keeps its database (SQLite) and generated API key.
    pub data_dir: PathBuf,
    /// `sqlite://FILE` or `postgres://USER:PASS@HOST/DB`; empty: `dragoman.db` in `data_dir`.
    pub database_url: String,
    /// The API key: the `iss` of the join tokens and the Basic-auth user of room
    /// administration. Empty (with `api_secret`): generated on first start and kept in
    /// `data_dir`.
    pub api_key: String,
    /// The secret that signs join tokens (HS256) and the Basic-auth password.
    pub api_secret: String,
    /// Whether anyone who opens the web client may join a room (creating it when new) with a
    /// guest token. Off: joining needs a token issued through the API.
    pub guest_access: bool,
    /// Lifetime of issued join tokens unless the request says otherwise, in seconds.
    pub token_ttl_secs: u64,
    /// Default most participants of a room.
    pub max_participants: u32,
    /// Audio packets a speaker's pipeline queues before dropping the oldest (20 ms each; the
    /// pipeline takes everything queued at each step, so only a step longer than this drops).
    pub audio_queue: usize,
    /// UDP addresses media binds (`IP:0`: any port; a wildcard IP: every interface but
    /// loopback).
    pub udp_addresses: Vec<String>,
    /// Origins allowed to call the API from a browser (`*` for any); empty: same origin only.
    pub cors_origins: Vec<String>,
    /// Whether responses carry security headers (CSP, nosniff, frame and referrer policy).
    pub security_headers: bool,
    /// Requests per minute one client address may make to the room and token endpoints.
    pub rate_limit_per_minute: u32,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Interval of WebSocket pings; a connection silent for three intervals is closed.
    pub heartbeat_secs: u64,
    /// Whether final captions are translated again by the strongest pulled LLM in lulls of
    /// the live work (when it is another than the live translator). Off saves its memory (about
    /// 2 GB for Qwen2.5-Coder 1.5B).
    pub refine_finals: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: dirs::data_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("dragoman"),
            database_url: String::new(),
            api_key: String::new(),
            api_secret: String::new(),
            guest_access: true,
            token_ttl_secs: 6 * 3600,
            max_participants: 16,
            audio_queue: 500,
            udp_addresses: vec!["127.0.0.1:0".into(), "0.0.0.0:0".into()],
            cors_origins: Vec::new(),
            security_headers: true,
            rate_limit_per_minute: 120,
            max_body_bytes: 64 * 1024,
            heartbeat_secs: 10,
            refine_finals: true,
        }
    }
}

/// The keys, for filtering the environment (`DRAGOMAN_HOME` and `DRAGOMAN_PIP` belong to the
/// model store, not to the server).
const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "api_key",
    "api_secret",
    "guest_access",
    "token_ttl_secs",
    "max_participants",
    "audio_queue",
    "udp_addresses",
    "cors_origins",
    "security_headers",
    "rate_limit_per_minute",
    "max_body_bytes",
    "heartbeat_secs",
    "refine_finals",
];

impl Config {
    /// Defaults, then `file` (when given), then `DRAGOMAN_*` variables, then `overrides`
    /// (what flags set, as TOML-shaped values).
    pub fn load(
        file: Option<&Path>,
        overrides: impl Serialize,
    ) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(Box::new(figment::Error::from(format!(
                    "config file {} not found",
                    file.display()
                ))));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment
            .merge(Env::prefixed("DRAGOMAN_").filter(|key| KEYS.iter().any(|k| key == *k)))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(Box::new)
    }

    /// The database to open: `database_url`, else SQLite in the data dir.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("dragoman.db").display()
            )
        } else {
            self.database_url.clone()
        }
    }

    /// The effective configuration as TOML (secrets masked).
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        if !shown.api_secret.is_empty() {
            shown.api_secret = "********".into();
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# unprintable: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Serialize)]
    struct Flags {
        #[serde(skip_serializing_if = "Option::is_none")]
        listen: Option<String>,
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dragoman.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\nguest_access = false\ncors_origins = [\"https://a.example\"]\n",
        )
        .unwrap();
        let config = Config::load(Some(&file), Flags { listen: None }).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert!(!config.guest_access);
        assert_eq!(config.cors_origins, vec!["https://a.example".to_string()]);
        let config = Config::load(
            Some(&file),
            Flags {
                listen: Some("127.0.0.1:7000".into()),
            },
        )
        .unwrap();
        assert_eq!(config.listen.port(), 7000);
    }

    #[test]
    fn unknown_keys_and_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dragoman.toml");
        std::fs::write(&file, "lisen = \"0.0.0.0:9000\"\n").unwrap();
        let error = Config::load(Some(&file), Flags { listen: None }).unwrap_err();
        assert!(error.to_string().contains("lisen"), "{error}");
        assert!(Config::load(Some(&dir.path().join("nope.toml")), Flags { listen: None }).is_err());
    }

    #[test]
    fn printed_config_masks_the_secret() {
        let config = Config {
            api_secret: "hunter2".into(),
            ..Config::default()
        };
        let shown = config.to_toml();
        assert!(!shown.contains("hunter2") && shown.contains("api_secret"));
    }
}
