//! How a pipeline asks for the CPU: each model job names its [`Priority`] and runs through a
//! [`Compute`] scheduler, which decides when (or, for a partial caption's translation,
//! whether) it runs.
//!
//! A process that runs several pipelines shares one scheduler among them all, sized to its
//! cores, so that the most urgent work goes first however many people speak (the room's
//! `ComputeGate` in `dragoman-rtc`). A single pipeline driven from one thread needs none of
//! that: [`Immediate`] runs every job at once.
//!
//! Jobs can be long (an LLM refining a final holds the CPU for seconds on 2 cores), so a
//! scheduler may also pause one: engines call [`pause_point`] between the steps of a long job
//! (an LLM between tokens and between chunks of its prompt), and a scheduler that runs a job
//! through [`with_pause_point`] decides there whether the job gives its slot to more urgent
//! work and waits to be admitted again. The job keeps its state (an LLM its key/value cache)
//! and goes on where it stopped. This is cooperative, like an async runtime's budget: the hook
//! is the thread's, so no engine API carries a scheduler, and where none set one (a job run by
//! [`Immediate`], a one-shot translation) a pause point costs a thread-local read.

use std::cell::RefCell;
use std::rc::Rc;

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
    /// A final translated again by the stronger model: only in a lull, and pausing at its
    /// [`pause_point`]s as soon as other work waits (it takes seconds and would slow the live
    /// work it overlapped).
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

thread_local! {
    /// What [`pause_point`] calls on this thread: set by [`with_pause_point`] while a
    /// scheduler runs a job here.
    static PAUSE: RefCell<Option<Rc<dyn Fn()>>> = const { RefCell::new(None) };
}

/// A point between two steps of a long model job where its scheduler may pause it (the call
/// then blocks until the job may go on). Without a scheduler's hook on this thread it returns
/// at once.
pub fn pause_point() {
    // Cloned out first: the hook may block for seconds and must not hold the cell.
    if let Some(pause) = PAUSE.with(|p| p.borrow().clone()) {
        pause();
    }
}

/// Whether a scheduler's hook is set on this thread: a job that would split its work only to
/// offer pause points (at some cost) need not split it when nothing can pause it.
pub fn can_pause() -> bool {
    PAUSE.with(|p| p.borrow().is_some())
}

/// Runs `job` on this thread with `pause` as what [`pause_point`] calls; the thread's previous
/// hook is back when `job` returns or unwinds.
pub fn with_pause_point<T>(pause: Rc<dyn Fn()>, job: impl FnOnce() -> T) -> T {
    struct Restore(Option<Rc<dyn Fn()>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            PAUSE.with(|p| *p.borrow_mut() = previous);
        }
    }
    let _restore = Restore(PAUSE.with(|p| p.borrow_mut().replace(pause)));
    job()
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn pause_points_call_the_hook_of_the_job_running_on_this_thread() {
        let calls = Rc::new(Cell::new(0));
        pause_point();
        let outer = calls.clone();
        assert!(!can_pause());
        with_pause_point(Rc::new(move || outer.set(outer.get() + 1)), || {
            assert!(can_pause());
            pause_point();
            let inner = calls.clone();
            with_pause_point(Rc::new(move || inner.set(inner.get() + 10)), pause_point);
            pause_point();
        });
        pause_point();
        assert_eq!(calls.get(), 12);
    }
}
