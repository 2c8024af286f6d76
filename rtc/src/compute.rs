//! One admission gate for the model work of a whole process.
//!
//! Every pipeline thread (speech-to-text, translation and speech of every track in every room)
//! asks the gate before it runs a model, so at most [`ComputeGate::slots`] model jobs run at
//! once, however many people speak, and when more wait, the most urgent goes first:
//!
//! 1. [`Priority::Final`]: translating a final caption (someone waits for it now, and it is
//!    short);
//! 2. [`Priority::Speech`]: synthesising a translated sentence;
//! 3. [`Priority::Stream`]: speech-to-text decodes (the source of every caption; each takes
//!    all the audio that arrived since the last one, so a late decode costs latency, not work);
//! 4. [`Priority::Partial`]: translating a partial caption. Never waited for: it runs only when
//!    a slot is free, nothing more urgent waits ([`ComputeGate::try_run`]) and partials took
//!    less than [`PartialBudget::share`] of the slots' time lately; otherwise it is skipped (a
//!    newer revision of the caption, or its final, comes soon). The budget matters on slow
//!    CPUs: a partial admitted into a free slot still holds it to its end, and where a
//!    translation takes most of a decode step the next decode and the final's translation wait
//!    behind it;
//! 5. [`Priority::Refine`]: translating a final again with the stronger model, which shows it
//!    in place of the first translation. Waits for a lull: no other model job running or
//!    waiting, and none for [`LULL`] (while anyone speaks, decodes come every 0.75-1 s), because
//!    a refinement holds the CPU for seconds and would slow the live work it overlaps.
//!
//! A decode is never starved, though: one that has waited [`STREAM_PATIENCE`] (finals and
//! speech of other speakers kept the slots busy) goes before everything else, because the
//! audio queued behind it would otherwise grow until the queue drops some.
//!
//! Jobs are not preempted: a job admitted runs to its end. The lock is taken twice per model
//! job (admission and release), never per media packet.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use dragoman_core::Result;
use dragoman_core::pipeline::{Compute, Job};

/// How long the gate must have been without other model work before a refinement starts.
pub const LULL: Duration = Duration::from_millis(1500);

/// How long a speech-to-text decode waits behind more urgent jobs before it goes first: longer
/// than a final's translation takes, far shorter than the audio queue holds.
pub const STREAM_PATIENCE: Duration = Duration::from_secs(1);

pub use dragoman_core::pipeline::Priority;

const LEVELS: usize = 5;

/// How much of the slots' time partial captions' translations may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartialBudget {
    /// The share of the slots' time, 0 to 1. Defaults to 0.25.
    pub share: f64,
    /// Over how long, looking back. Defaults to 10 s.
    pub window: Duration,
}

impl Default for PartialBudget {
    /// A quarter of the time over 10 s. In a one-speaker call on 2 AVX2 cores, where Gemma
    /// 270M takes 0.6-0.9 s per translation, translating every partial that found a free
    /// slot made the final caption p50 4.68 s, and none 3.15 s (`scripts/bench_call.sh
    /// --minutes 3 --speakers 1 --no-refine`); where a translation takes 0.2 s, partials
    /// stay well within it.
    fn default() -> Self {
        Self {
            share: 0.25,
            window: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    running: usize,
    waiting: [usize; LEVELS],
    /// Decodes that waited [`STREAM_PATIENCE`]: they go before every other job.
    overdue: usize,
    skipped: u64,
    /// When the last job other than a refinement ended.
    live_work_ended: Option<Instant>,
    /// When each recent partial job ended, and how long it ran.
    partials: VecDeque<(Instant, Duration)>,
}

impl State {
    /// Whether a job of `priority` may start now (`overdue`: it is a decode that waited
    /// [`STREAM_PATIENCE`]).
    fn admits(&self, priority: Priority, slots: usize, overdue: bool) -> bool {
        if overdue {
            return self.running < slots;
        }
        let more_urgent_waits =
            self.overdue > 0 || self.waiting[..priority as usize].iter().any(|&w| w > 0);
        if priority == Priority::Refine {
            let lull = self.live_work_ended.is_none_or(|t| t.elapsed() >= LULL);
            return self.running == 0 && !more_urgent_waits && lull;
        }
        self.running < slots && !more_urgent_waits
    }

    /// Whether partial jobs took less than their budget of `slots`' time lately.
    fn partials_within(&mut self, budget: PartialBudget, slots: usize) -> bool {
        let now = Instant::now();
        while self
            .partials
            .front()
            .is_some_and(|&(ended, _)| now.duration_since(ended) > budget.window)
        {
            self.partials.pop_front();
        }
        let used: Duration = self.partials.iter().map(|&(_, ran)| ran).sum();
        used.as_secs_f64() < budget.share * budget.window.as_secs_f64() * slots as f64
    }
}

/// The process's admission gate for model work; share it (`Arc`) among every pipeline.
#[derive(Debug)]
pub struct ComputeGate {
    slots: usize,
    partial_budget: PartialBudget,
    state: Mutex<State>,
    released: Condvar,
}

impl Default for ComputeGate {
    /// One slot: the engines run each model job on candle's thread pool, which already has a
    /// thread per core, so a second job at once only halves the speed of both, and the urgent
    /// one finishes later. One at a time, the most urgent waiting job has every core. In a
    /// call on 2 cores (`scripts/bench_call.sh --minutes 3 --no-refine --slots 1|2`) one slot
    /// took a translation from 0.71 s to 0.37 s p50 with one speaker and from 2.07 s to
    /// 0.37 s with two, and the translated caption from 2.28 s to 1.69 s and from 7.80 s to
    /// 5.32 s after the sentence (README, "Live captions on continuous speech"). More slots
    /// pay only for engines that each use one core.
    fn default() -> Self {
        Self::new(1)
    }
}

impl ComputeGate {
    /// A gate letting `slots` model jobs run at once (at least one).
    pub fn new(slots: usize) -> Self {
        Self {
            slots: slots.max(1),
            partial_budget: PartialBudget::default(),
            state: Mutex::new(State::default()),
            released: Condvar::new(),
        }
    }

    /// The same gate with another budget for partial captions' translations.
    #[must_use]
    pub fn with_partial_budget(mut self, budget: PartialBudget) -> Self {
        self.partial_budget = budget;
        self
    }

    /// How many model jobs may run at once.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Partial jobs skipped so far because the gate was busy or their budget spent.
    pub fn skipped(&self) -> u64 {
        self.lock().skipped
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `job` once a slot is free and no more urgent job waits (a decode: or once it has
    /// waited [`STREAM_PATIENCE`]).
    pub fn run<T>(&self, priority: Priority, job: impl FnOnce() -> T) -> T {
        let asked = Instant::now();
        let mut overdue = false;
        let mut state = self.lock();
        state.waiting[priority as usize] += 1;
        while !state.admits(priority, self.slots, overdue) {
            // A lull, or a decode's patience, ends without a release to wake it: look again
            // when it may have.
            let timeout = match priority {
                Priority::Refine => Some(LULL),
                Priority::Stream if !overdue => {
                    Some(STREAM_PATIENCE.saturating_sub(asked.elapsed()))
                }
                _ => None,
            };
            state = match timeout {
                Some(timeout) => {
                    self.released
                        .wait_timeout(state, timeout)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .released
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
            };
            if priority == Priority::Stream && !overdue && asked.elapsed() >= STREAM_PATIENCE {
                overdue = true;
                state.waiting[priority as usize] -= 1;
                state.overdue += 1;
            }
        }
        if overdue {
            state.overdue -= 1;
        } else {
            state.waiting[priority as usize] -= 1;
        }
        state.running += 1;
        drop(state);
        let _slot = Slot(self, priority, Instant::now());
        job()
    }

    /// Runs `job` only if it can start at once (a slot is free and nothing more urgent
    /// waits; for a partial, within [`PartialBudget`]); `None` when it was skipped.
    pub fn try_run<T>(&self, priority: Priority, job: impl FnOnce() -> T) -> Option<T> {
        let mut state = self.lock();
        let free = state.admits(priority, self.slots, false)
            && (priority != Priority::Partial
                || state.partials_within(self.partial_budget, self.slots));
        if !free {
            state.skipped += 1;
            return None;
        }
        state.running += 1;
        drop(state);
        let _slot = Slot(self, priority, Instant::now());
        Some(job())
    }
}

impl Compute for ComputeGate {
    fn run(&self, priority: Priority, job: Job<'_>) -> Result<()> {
        ComputeGate::run(self, priority, job)
    }

    fn try_run(&self, priority: Priority, job: Job<'_>) -> Option<Result<()>> {
        ComputeGate::try_run(self, priority, job)
    }
}

/// A running job's slot, given back when the job ends (or unwinds), and when it started.
struct Slot<'a>(&'a ComputeGate, Priority, Instant);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.running -= 1;
        if self.1 == Priority::Partial {
            state.partials.push_back((Instant::now(), self.2.elapsed()));
        }
        if self.1 != Priority::Refine {
            state.live_work_ended = Some(Instant::now());
        }
        drop(state);
        self.0.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn no_more_jobs_run_than_slots() {
        let gate = Arc::new(ComputeGate::new(2));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
                std::thread::spawn(move || {
                    gate.run(Priority::Stream, || {
                        let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    });
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    /// A stream job holding a slot of `gate` until the returned sender sends; returns once it
    /// runs.
    fn hold(gate: &Arc<ComputeGate>) -> (std::thread::JoinHandle<()>, mpsc::Sender<()>) {
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let gate = gate.clone();
        let holder = std::thread::spawn(move || {
            gate.run(Priority::Stream, || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })
        });
        started_rx.recv().unwrap();
        (holder, release_tx)
    }

    #[test]
    fn the_most_urgent_waiting_job_goes_first_and_partials_are_skipped_while_busy() {
        let gate = Arc::new(ComputeGate::new(1));
        let (order_tx, order_rx) = mpsc::channel();
        // Hold the one slot.
        let (holder, release_tx) = hold(&gate);
        // A partial is skipped while the slot is taken.
        assert_eq!(gate.try_run(Priority::Partial, || ()), None);
        assert_eq!(gate.skipped(), 1);
        // A stream decode queues first, then a final translation.
        let waiter = |priority: Priority| {
            let (gate, order_tx) = (gate.clone(), order_tx.clone());
            std::thread::spawn(move || gate.run(priority, || order_tx.send(priority).unwrap()))
        };
        let stream = waiter(Priority::Stream);
        while gate.lock().waiting[Priority::Stream as usize] == 0 {
            std::thread::yield_now();
        }
        let last = waiter(Priority::Final);
        while gate.lock().waiting[Priority::Final as usize] == 0 {
            std::thread::yield_now();
        }
        release_tx.send(()).unwrap();
        for t in [holder, stream, last] {
            t.join().unwrap();
        }
        let order: Vec<Priority> = order_rx.try_iter().collect();
        assert_eq!(order, vec![Priority::Final, Priority::Stream]);
        // Idle again: a partial runs.
        assert_eq!(gate.try_run(Priority::Partial, || 7), Some(7));
    }

    #[test]
    fn a_decode_that_waited_its_patience_goes_before_finals() {
        let gate = Arc::new(ComputeGate::new(1));
        let (order_tx, order_rx) = mpsc::channel();
        let (holder, release_tx) = hold(&gate);
        let waiter = |priority: Priority| {
            let (gate, order_tx) = (gate.clone(), order_tx.clone());
            std::thread::spawn(move || gate.run(priority, || order_tx.send(priority).unwrap()))
        };
        let stream = waiter(Priority::Stream);
        while gate.lock().overdue == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
        let last = waiter(Priority::Final);
        while gate.lock().waiting[Priority::Final as usize] == 0 {
            std::thread::yield_now();
        }
        // Overdue, the decode also shuts out a partial.
        assert_eq!(gate.try_run(Priority::Partial, || ()), None);
        release_tx.send(()).unwrap();
        for t in [holder, stream, last] {
            t.join().unwrap();
        }
        let order: Vec<Priority> = order_rx.try_iter().collect();
        assert_eq!(order, vec![Priority::Stream, Priority::Final]);
    }

    #[test]
    fn partials_take_no_more_than_their_budget() {
        let budget = PartialBudget {
            share: 0.25,
            window: Duration::from_millis(400),
        };
        let gate = ComputeGate::new(1).with_partial_budget(budget);
        // A partial of 150 ms uses more than a quarter of 400 ms: the next one is skipped,
        // though the slot is free; a decode is not held back.
        let long = || std::thread::sleep(Duration::from_millis(150));
        assert_eq!(gate.try_run(Priority::Partial, long), Some(()));
        assert_eq!(gate.try_run(Priority::Partial, || 1), None);
        assert_eq!(gate.skipped(), 1);
        assert_eq!(gate.try_run(Priority::Stream, || 2), Some(2));
        // Once it is out of the window, partials run again.
        std::thread::sleep(Duration::from_millis(450));
        assert_eq!(gate.try_run(Priority::Partial, || 3), Some(3));
        // Short partials fit many times.
        for _ in 0..5 {
            assert_eq!(gate.try_run(Priority::Partial, || 4), Some(4));
        }
    }

    #[test]
    fn a_refinement_waits_for_a_lull() {
        let gate = Arc::new(ComputeGate::new(2));
        let (holder, release_tx) = hold(&gate);
        let (done_tx, done_rx) = mpsc::channel();
        let refine = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.run(Priority::Refine, || done_tx.send(()).unwrap()))
        };
        while gate.lock().waiting[Priority::Refine as usize] == 0 {
            std::thread::yield_now();
        }
        // A slot is free, yet the refinement waits; a partial (more urgent) still runs.
        assert_eq!(gate.try_run(Priority::Partial, || 1), Some(1));
        assert!(done_rx.try_recv().is_err());
        let released = std::time::Instant::now();
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        refine.join().unwrap();
        assert!(done_rx.try_recv().is_ok());
        // ... and after the last job, for a lull.
        assert!(released.elapsed() >= LULL);
    }
}
