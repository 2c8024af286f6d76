//! Pulls a model through the store from an app, with its own progress display, then hands the
//! resolved files to whatever engine will load them.
//!
//! `cargo run -p dragoman-examples --example pull_model -- silero-vad`

#![allow(clippy::print_stdout)] // an example prints its result

use std::cell::Cell;

use dragoman_core::store::{ModelStore, PullEvent, PullOptions, PullProgress};

/// Prints a line at every 10% of each download.
#[derive(Default)]
struct Percent {
    total: Cell<Option<u64>>,
    shown: Cell<u64>,
}

impl PullProgress for Percent {
    fn event(&self, event: PullEvent<'_>) {
        match event {
            PullEvent::Trying { id, source } => println!("{id}: trying the {source}"),
            PullEvent::DownloadStart { name, total } => {
                self.total.set(total);
                self.shown.set(0);
                println!("  {name}");
            }
            PullEvent::DownloadProgress { done, .. } => {
                if let Some(total) = self.total.get().filter(|&t| t > 0) {
                    let tenth = done * 10 / total;
                    if tenth > self.shown.get() {
                        self.shown.set(tenth);
                        println!("    {}%", tenth * 10);
                    }
                }
            }
            PullEvent::Step { what } => println!("  {what}"),
            PullEvent::SourceFailed { source, reason } => {
                println!("  the {source} failed: {reason}")
            }
            _ => {}
        }
    }
}

fn main() -> anyhow::Result<()> {
    let id = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "silero-vad".to_string());
    let store = ModelStore::from_env()?;
    let outcome = store.pull(&id, &PullOptions::default(), &Percent::default())?;
    println!("{id}: {outcome:?}");
    // What an engine receives: the resolved files, never a download job.
    let source = store.source(&id)?;
    let manifest = store
        .manifest(&id)
        .ok_or_else(|| anyhow::anyhow!("{id} has no manifest"))?;
    for file in &manifest.files {
        println!(
            "  {} ({} bytes) at {:?}",
            file.name,
            file.size,
            source.path(&file.name)
        );
    }
    Ok(())
}
