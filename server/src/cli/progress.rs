//! Progress bars for model pulls (indicatif), with plain log lines when stderr is not a terminal.

use std::io::IsTerminal;
use std::sync::Mutex;

use dragoman_core::store::{PullEvent, PullProgress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws one bar per download and a spinner for long steps.
pub(crate) struct PullBars {
    bar: Mutex<Option<ProgressBar>>,
    interactive: bool,
}

impl PullBars {
    pub(crate) fn new() -> Self {
        Self {
            bar: Mutex::new(None),
            interactive: std::io::stderr().is_terminal(),
        }
    }

    /// Puts `new` in place of the current bar, which is cleared from the screen.
    fn replace(&self, new: Option<ProgressBar>) {
        if let Some(old) = std::mem::replace(&mut *self.slot(), new) {
            old.finish_and_clear();
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.bar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = self.slot().as_ref() {
            f(bar);
        }
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.interactive {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        }
    }
}

const BYTES_TEMPLATE: &str =
    "{msg:44!} [{bar:30.cyan/blue}] {bytes:>10}/{total_bytes:10} {bytes_per_sec:>11} eta {eta}";

impl PullProgress for PullBars {
    fn event(&self, event: PullEvent<'_>) {
        match event {
            PullEvent::Trying { id, source } => {
                self.replace(None);
                eprintln!("{id}: fetching from the {source}");
            }
            PullEvent::DownloadStart { name, total } => {
                let bar = ProgressBar::with_draw_target(total, self.target());
                let style = ProgressStyle::with_template(BYTES_TEMPLATE)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
                bar.set_style(style);
                bar.set_message(name.to_string());
                if !self.interactive {
                    eprintln!("  downloading {name}");
                }
                self.replace(Some(bar));
            }
            PullEvent::DownloadProgress { done, .. } => self.with_bar(|bar| bar.set_position(done)),
            PullEvent::DownloadDone { name } => {
                // A finished download bar stays on screen as a record of what was fetched.
                if let Some(bar) = self.slot().take() {
                    bar.finish();
                }
                if !self.interactive {
                    eprintln!("  downloaded {name}");
                }
            }
            PullEvent::Step { what } => {
                let spinner = ProgressBar::with_draw_target(None, self.target());
                let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner());
                spinner.set_style(style);
                spinner.enable_steady_tick(std::time::Duration::from_millis(120));
                spinner.set_message(what.to_string());
                self.replace(Some(spinner));
                if !self.interactive {
                    eprintln!("  {what}");
                }
            }
            PullEvent::SourceFailed { source, reason } => {
                self.replace(None);
                eprintln!("  the {source} failed: {reason}");
            }
            _ => {}
        }
    }
}

impl Drop for PullBars {
    fn drop(&mut self) {
        self.replace(None);
    }
}
