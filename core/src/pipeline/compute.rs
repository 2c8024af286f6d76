//! How a pipeline asks for the CPU: each model job names its [`Priority`] and runs through a
//! [`Compute`] scheduler, which decides when (or, for a partial caption's translation,
//! whether) it runs.
//!
//! A process that runs several pipelines shares one scheduler among them all, sized to its
//! cores, so that the most urgent work goes first however many people speak (the room's
//! `ComputeGate` in `dragoman-rtc`). A single pipeline driven from one thread needs none of
//! that: [`Immediate`] runs every job at once.

use crate::error::Result;

/// How urgent a model job is. Earlier variants go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Translation of a final caption (or of the text a partial expects to be final): someone
    /// waits for it now, and it is short.
    Final,
    /// Text-to-speech of a translated sentence.
    Speech,
    /// A speech-to-text decode: the source of every caption. Each takes all the audio that
    /// arrived since the last one, so a late decode costs latency, not work; but one late for
    /// long costs audio (what queues behind it overflows), so a scheduler must not starve it.
    Stream,
    /// Translation of a partial caption: never waited for ([`Compute::try_run`]); skipped
    /// when the CPU is busy, since a newer revision or the final comes soon.
    Partial,
    /// A final translated again by the stronger model: only when no other work runs or waits
    /// (it holds the CPU for seconds and would slow the live work it overlapped).
    Refine,
}

/// A model job: one push into an engine session.
pub type Job<'a> = &'a mut dyn FnMut() -> Result<()>;

/// Admits model jobs. Implementations must be cheap to call from several threads at once.
pub trait Compute: Send + Sync {
    /// Runs `job` once it may start at `priority` (blocking the calling thread until then) and
    /// returns its result.
    fn run(&self, priority: Priority, job: Job<'_>) -> Result<()>;

    /// Runs `job` only if it may start at once; `None` when it was skipped.
    fn try_run(&self, priority: Priority, job: Job<'_>) -> Option<Result<()>>;
}

/// Runs every job at once, in the calling thread: for one pipeline driven from one thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Immediate;

impl Compute for Immediate {
    fn run(&self, _: Priority, job: Job<'_>) -> Result<()> {
        job()
    }

    fn try_run(&self, _: Priority, job: Job<'_>) -> Option<Result<()>> {
        Some(job())
    }
}
