//! `dragoman serve`: fetch the default models (progress bars the first time), load and warm
//! them, then listen; stop gracefully on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use dragoman_core::store::{ModelStore, PullOptions};
use dragoman_engines::{engines, warm_up};
use dragoman_rtc::compute::ComputeGate;
use dragoman_server::serve::auth::Credentials;
use dragoman_server::serve::config::Config;
use dragoman_server::serve::{AppState, Server};
use serde::Serialize;

/// `dragoman serve` arguments (each flag overrides the config file and environment).
#[derive(Debug, Args, Serialize)]
pub(crate) struct ServeArgs {
    /// A TOML config file (keys as printed by --print-config).
    #[arg(long, env = "DRAGOMAN_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// The address to listen on, e.g. 0.0.0.0:8080.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<SocketAddr>,
    /// Where the database and the generated API key are kept.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    /// `sqlite://FILE` or `postgres://…` (default: SQLite in the data dir).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    database_url: Option<String>,
    /// Print the effective configuration and exit.
    #[arg(long)]
    #[serde(skip)]
    print_config: bool,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(args.config.as_deref(), &args).context("configuration")?;
    if args.print_config {
        print!("{}", config.to_toml());
        return Ok(ExitCode::SUCCESS);
    }
    let store = ModelStore::from_env()?;
    let ids = super::models::default_ids();
    super::models::pull_all(&store, &ids, &PullOptions::default())?;
    eprintln!("loading the models…");
    let engines = engines(
        &store,
        config.refine_finals,
        Arc::new(ComputeGate::default()),
    )
    .context("loading the models (`dragoman models pull` fetches the defaults)")?;
    warm_up(&engines).context("warming up the models")?;
    let (credentials, generated) = Credentials::configured_or_generated(
        &config.api_key,
        &config.api_secret,
        &config.data_dir,
    )?;
    if generated {
        // Shown once; it stays in the data dir for the next start.
        println!(
            "generated an API key (kept in {}):\n  api_key    = {}\n  api_secret = {}",
            config.data_dir.display(),
            credentials.key(),
            credentials.secret()
        );
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let state = AppState::new(config, credentials, store).await?;
        state.set_engines(engines);
        let server = Server::start(state).await?;
        println!("dragoman: listening on http://{}", server.local_addr());
        shutdown_signal().await;
        eprintln!("shutting down: closing calls and writing transcripts…");
        server.shut_down().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
