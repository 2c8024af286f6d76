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
//! through [`with_scheduler`] decides there whether the job gives its slot to more urgent
//! work and waits to be admitted again. The job keeps its state (an LLM its key/value cache)
//! and goes on where it stopped. A job may also ask whether work queues behind it
//! ([`is_contended`]) and leave out what only improves its result. This is cooperative, like
//! an async runtime's budget: the scheduler is the thread's, so no engine API carries one, and
//! where none is set (a job run by [`Immediate`], a one-shot translation) a pause point costs a
//! thread-local read.

use std::cell::RefCell;
use std::rc::Rc;

use crate::error::Result;

/// How urgent a model job is. Earlier variants go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Text-to-speech of a translated sentence: it follows a translation someone waited for,
    /// and it is short (espeak-ng takes milliseconds, Piper a tenth of the sentence's length
    /// or less). Behind finals' translations it starved: with two people speaking at once on
    /// 2 cores, another final's translation nearly always waited, and speech came minutes
    /// after its caption.
    Speech,
    /// Translation of a final caption (or of the text a partial expects to be final): someone
    /// waits for it now, and it is short.
    Final,
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

/// What a scheduler lends the job it runs on a thread, through [`pause_point`] and
/// [`is_contended`]: engines reach their scheduler this way, like an async runtime's
/// cooperative budget, without any engine API carrying one.
pub trait Scheduled {
    /// Gives the job's place to more urgent work if any waits, blocking until the job may go
    /// on.
    fn pause(&self);
    /// Whether work queues behind this job now (its scheduler says which work counts).
    fn contended(&self) -> bool;
}

thread_local! {
    /// The scheduler of the job running on this thread: set by [`with_scheduler`].
    static SCHEDULED: RefCell<Option<Rc<dyn Scheduled>>> = const { RefCell::new(None) };
}

fn scheduled() -> Option<Rc<dyn Scheduled>> {
    SCHEDULED.with(|s| s.borrow().clone())
}

/// A point between two steps of a long model job where its scheduler may pause it (the call
/// then blocks until the job may go on). Without a scheduler on this thread it returns at
/// once.
pub fn pause_point() {
    // Cloned out first: pausing may block for seconds and must not hold the cell.
    if let Some(scheduled) = scheduled() {
        scheduled.pause();
    }
}

/// Whether a scheduler runs the job on this thread: a job that would split its work only to
/// offer pause points (at some cost) need not split it when nothing can pause it.
pub fn can_pause() -> bool {
    SCHEDULED.with(|s| s.borrow().is_some())
}

/// Whether work queues behind the job on this thread (for the room's gate: another job of its
/// kind, or an overdue decode): the job may then leave out work that only improves its result
/// (an LLM does not ask again after a flawed answer), so that the call keeps up. `false`
/// without a scheduler.
pub fn is_contended() -> bool {
    scheduled().is_some_and(|s| s.contended())
}

/// Runs `job` on this thread under `scheduled`; the thread's previous scheduler is back when
/// `job` returns or unwinds.
pub fn with_scheduler<T>(scheduled: Rc<dyn Scheduled>, job: impl FnOnce() -> T) -> T {
    struct Restore(Option<Rc<dyn Scheduled>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            SCHEDULED.with(|s| *s.borrow_mut() = previous);
        }
    }
    let _restore = Restore(SCHEDULED.with(|s| s.borrow_mut().replace(scheduled)));
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

    /// Counts pauses by adding `step`; contended when `busy`.
    struct Counting {
        calls: Rc<Cell<u32>>,
        step: u32,
        busy: bool,
    }

    impl Scheduled for Counting {
        fn pause(&self) {
            self.calls.set(self.calls.get() + self.step);
        }
        fn contended(&self) -> bool {
            self.busy
        }
    }

    #[test]
    fn pause_points_and_contention_ask_the_scheduler_of_the_job_on_this_thread() {
        let calls = Rc::new(Cell::new(0));
        let counting = |step, busy| {
            Rc::new(Counting {
                calls: calls.clone(),
                step,
                busy,
            })
        };
        pause_point();
        assert!(!can_pause() && !is_contended());
        with_scheduler(counting(1, false), || {
            assert!(can_pause() && !is_contended());
            pause_point();
            with_scheduler(counting(10, true), || {
                assert!(is_contended());
                pause_point();
            });
            assert!(!is_contended());
            pause_point();
        });
        pause_point();
        assert!(!can_pause() && !is_contended());
        assert_eq!(calls.get(), 12);
    }
}
