//! One admission gate for the model work of a whole process.
//!
//! Every pipeline thread (speech-to-text, translation and speech of every track in every room)
//! asks the gate before it runs a model, so at most [`ComputeGate::slots`] model jobs run at
//! once, however many people speak, and when more wait, the most urgent goes first:
//!
//! 1. [`Priority::Speech`]: synthesising a translated sentence (short, and it follows a
//!    translation someone waited for; behind other finals' translations it starved);
//! 2. [`Priority::Final`]: translating a final caption (someone waits for it now, and it is
//!    short);
//! 3. [`Priority::Stream`]: speech-to-text decodes (the source of every caption; each takes
//!    all the audio that arrived since the last one, so a late decode costs latency, not work);
//! 4. [`Priority::Partial`]: translating a partial caption. Never waited for: it runs only when
//!    a slot is free, nothing more urgent waits ([`ComputeGate::try_run`]) and partials took
//!    less than [`PartialBudget::share`] of the slots' time lately; otherwise it is skipped (a
//!    newer revision of the caption, or its final, comes soon). The budget matters on slow
//!    CPUs: where a translation takes most of a decode step, partials translated back to back
//!    would leave the decodes a fraction of the CPU;
//! 5. [`Priority::Refine`]: translating a final again with the stronger model, which shows it
//!    in place of the first translation. Waits for a lull: no other model job running or
//!    waiting, and live work took less than [`LULL_SHARE`] of the last [`LULL`] (while anyone
//!    speaks, decodes take more; an open microphone in silence far less), because a
//!    refinement holds the CPU for seconds (5 s a sentence for Qwen2.5 1.5B on 2 AVX2 cores)
//!    and would slow the live work it overlaps. (A lull once meant no job at all for 1.5 s:
//!    voice detection on each packet of any open microphone is a job, so refinements never
//!    ran while audio flowed.)
//!
//! A decode is never starved, though: one that has waited [`STREAM_PATIENCE`] (finals and
//! speech of other speakers kept the slots busy) goes before everything else, because the
//! audio queued behind it would otherwise grow until the queue drops some.
//!
//! A job admitted runs to its end, but pauses on the way when it must: at each of its
//! [`pause_point`](dragoman_core::pipeline::pause_point)s (an LLM's tokens and prompt chunks)
//! a job gives its slot to a more urgent one that waits (an overdue decode is more urgent than
//! any); a refinement gives it up as soon as any other job waits or runs. Each then waits to be
//! admitted again as if it had just asked (a refinement: for the next lull) and goes on where
//! it stopped. Without that, in the browser test on 2 AVX2 cores (three browsers beside the
//! server) each final's translation took 3-7 s, the decodes waited behind them, and the audio
//! queued behind the decodes overflowed: 151 packets shed. (Pausing finals' translations only
//! for decodes that waited 3 s did not help a one-speaker call on 2 AVX2 cores: final caption
//! p50 3.48 s against 2.82 s, translated 4.56 s against 3.77 s, in one run each, where runs
//! of one build differ by about a second.)
//!
//! A job may also ask whether work queues behind it
//! ([`is_contended`](dragoman_core::pipeline::is_contended)): another job of its priority
//! waits, or a decode is overdue. (More urgent work takes the slot at the next pause point,
//! so it is no backlog.) An LLM then keeps a flawed first answer rather than ask again. With
//! two people speaking on 2 AVX2 cores, finals' translations came 33 s after the speech (p50,
//! and later each minute) while every flawed answer was asked again, and 9.7 s once 57 of 75
//! retries gave way (speech, moved first in the same change, took 2 s of the slot's time).
//!
//! The lock is taken twice per model job (admission and release) and once per pause point or
//! question, never per media packet.

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use dragoman_core::Result;
use dragoman_core::pipeline::{Compute, Job, Scheduled, with_scheduler};

/// The window a lull is judged over: a refinement starts when no other model job runs or
/// waits, and live work (every job but refinements) kept the slots busy less than
/// [`LULL_SHARE`] of the last `LULL`.
pub const LULL: Duration = Duration::from_millis(1500);

/// The most of the slots' time live work may have taken over the last [`LULL`] for it to be a
/// lull. While someone speaks, the decodes alone take more (one every 0.75-1 s, each 0.3 s
/// and up on 2 cores, and translations of finals follow); an open microphone in silence takes
/// far less (voice detection on each packet: 1-3 ms every 20-30 ms).
pub const LULL_SHARE: f64 = 0.2;

/// How long a speech-to-text decode waits behind more urgent jobs before it goes first: longer
/// than a final's translation takes, far shorter than the audio queue holds.
pub const STREAM_PATIENCE: Duration = Duration::from_secs(1);

pub use dragoman_core::pipeline::Priority;

/// How often a waiting refinement looks again whether a lull began (the window slides
/// without a job ending to wake it).
const LULL_RECHECK: Duration = Duration::from_millis(250);

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

#[derive(Debug)]
struct State {
    running: usize,
    waiting: [usize; LEVELS],
    /// Decodes that waited [`STREAM_PATIENCE`]: they go before every other job.
    overdue: usize,
    skipped: u64,
    pauses: u64,
    /// The jobs that ended within the longest window a rule looks back over, oldest first.
    recent: VecDeque<Ended>,
    partial_budget: PartialBudget,
}

/// A job that ended: when, and how long it ran (pauses not counted).
#[derive(Debug, Clone, Copy)]
struct Ended {
    priority: Priority,
    at: Instant,
    ran: Duration,
}

impl State {
    fn new(partial_budget: PartialBudget) -> Self {
        Self {
            running: 0,
            waiting: [0; LEVELS],
            overdue: 0,
            skipped: 0,
            pauses: 0,
            recent: VecDeque::new(),
            partial_budget,
        }
    }

    /// Whether a job of `priority` may start now (`overdue`: it is a decode that waited
    /// [`STREAM_PATIENCE`]).
    fn admits(&self, priority: Priority, slots: usize, overdue: bool) -> bool {
        if overdue {
            return self.running < slots;
        }
        let more_urgent_waits = self.more_urgent_waits(priority);
        if priority == Priority::Refine {
            return self.running == 0 && !more_urgent_waits && self.lull(slots);
        }
        self.running < slots && !more_urgent_waits
    }

    /// Whether a job more urgent than `priority` waits (an overdue decode is more urgent than
    /// any).
    fn more_urgent_waits(&self, priority: Priority) -> bool {
        self.overdue > 0 || self.waiting[..priority as usize].iter().any(|&w| w > 0)
    }

    /// Whether work of its own kind queues behind a job of `priority` (another job of that
    /// priority waits), or a decode is overdue. (More urgent work that waits takes the slot
    /// at the job's next pause point: that is no backlog.) Never for a refinement: it exists
    /// to improve a caption, it runs only in lulls, and what it shows replaces the first
    /// translation, so it must not cut its checks short.
    fn backlog(&self, priority: Priority) -> bool {
        priority != Priority::Refine && (self.overdue > 0 || self.waiting[priority as usize] > 0)
    }

    /// Whether a running job of `priority` must give its slot to other work at a pause
    /// point: a more urgent job waits (an overdue decode is more urgent than any), or (a
    /// refinement, which only runs alone) any other job runs.
    fn must_pause(&self, priority: Priority) -> bool {
        self.more_urgent_waits(priority) || (priority == Priority::Refine && self.running > 1)
    }

    /// A job ended.
    fn ended(&mut self, priority: Priority, ran: Duration) {
        let at = Instant::now();
        while self
            .recent
            .front()
            .is_some_and(|e| at.duration_since(e.at) > self.partial_budget.window.max(LULL))
        {
            self.recent.pop_front();
        }
        self.recent.push_back(Ended { priority, at, ran });
    }

    /// How long jobs of the priorities `counted` ran within the last `window`.
    fn busy(&self, window: Duration, counted: impl Fn(Priority) -> bool) -> Duration {
        let now = Instant::now();
        let since = now.checked_sub(window);
        self.recent
            .iter()
            .filter(|e| counted(e.priority))
            .map(|e| {
                let began = e.at.checked_sub(e.ran).unwrap_or(e.at);
                let from = since.map_or(began, |since| began.max(since));
                e.at.saturating_duration_since(from)
            })
            .sum()
    }

    /// Whether live work (all but refinements) took less than [`LULL_SHARE`] of `slots`' time
    /// over the last [`LULL`].
    fn lull(&self, slots: usize) -> bool {
        let live = self.busy(LULL, |p| p != Priority::Refine);
        live.as_secs_f64() < LULL_SHARE * LULL.as_secs_f64() * slots as f64
    }

    /// Whether partial jobs took less than their budget of `slots`' time lately.
    fn partials_within(&self, slots: usize) -> bool {
        let budget = self.partial_budget;
        let used = self.busy(budget.window, |p| p == Priority::Partial);
        used.as_secs_f64() < budget.share * budget.window.as_secs_f64() * slots as f64
    }
}

/// The process's admission gate for model work; share it (`Arc`) among every pipeline.
#[derive(Debug)]
pub struct ComputeGate {
    /// Shared with the jobs running ([`GateJob`]: they outlive a borrow of the gate).
    admission: Arc<Admission>,
}

/// The slots and who holds or waits for them.
#[derive(Debug)]
struct Admission {
    slots: usize,
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
            admission: Arc::new(Admission {
                slots: slots.max(1),
                state: Mutex::new(State::new(PartialBudget::default())),
                released: Condvar::new(),
            }),
        }
    }

    /// The same gate with another budget for partial captions' translations.
    #[must_use]
    pub fn with_partial_budget(self, budget: PartialBudget) -> Self {
        self.lock().partial_budget = budget;
        self
    }

    /// How many model jobs may run at once.
    pub fn slots(&self) -> usize {
        self.admission.slots
    }

    /// Partial jobs skipped so far because the gate was busy or their budget spent.
    pub fn skipped(&self) -> u64 {
        self.lock().skipped
    }

    /// How many times running jobs paused for more urgent work so far.
    pub fn pauses(&self) -> u64 {
        self.lock().pauses
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.admission.lock()
    }

    /// Runs `job` once a slot is free and no more urgent job waits (a decode: or once it has
    /// waited [`STREAM_PATIENCE`]). At its pause points it gives the slot to more urgent work.
    pub fn run<T>(&self, priority: Priority, job: impl FnOnce() -> T) -> T {
        let asked = Instant::now();
        let state = self.lock();
        drop(self.admission.admit(state, priority));
        log::debug!(
            "{priority:?} job admitted after {:.3} s",
            asked.elapsed().as_secs_f64()
        );
        self.run_admitted(priority, job)
    }

    /// Runs `job` only if it can start at once (a slot is free and nothing more urgent
    /// waits; for a partial, within [`PartialBudget`]); `None` when it was skipped. Once
    /// started, it pauses for more urgent work like any other job.
    pub fn try_run<T>(&self, priority: Priority, job: impl FnOnce() -> T) -> Option<T> {
        let mut state = self.lock();
        let free = state.admits(priority, self.slots(), false)
            && (priority != Priority::Partial || state.partials_within(self.slots()));
        if !free {
            state.skipped += 1;
            return None;
        }
        state.running += 1;
        drop(state);
        Some(self.run_admitted(priority, job))
    }

    /// Runs `job`, which holds a slot, under this gate ([`GateJob`]); gives the slot back
    /// after.
    fn run_admitted<T>(&self, priority: Priority, job: impl FnOnce() -> T) -> T {
        let paused = Rc::new(Cell::new(Duration::ZERO));
        let _slot = Slot {
            admission: &self.admission,
            priority,
            started: Instant::now(),
            paused: paused.clone(),
        };
        let scheduled = GateJob {
            admission: self.admission.clone(),
            priority,
            paused,
        };
        with_scheduler(Rc::new(scheduled), job)
    }
}

/// What the gate lends a job it runs: pauses at its pause points (their time added up in
/// `paused`), and contention: work of the job's own kind waits behind it, or a decode is
/// overdue.
struct GateJob {
    admission: Arc<Admission>,
    priority: Priority,
    paused: Rc<Cell<Duration>>,
}

impl Scheduled for GateJob {
    fn pause(&self) {
        let waited = self.admission.pause(self.priority);
        self.paused.set(self.paused.get() + waited);
    }

    fn contended(&self) -> bool {
        self.admission.lock().backlog(self.priority)
    }
}

impl Admission {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until a job of `priority` may start (a decode: or has waited [`STREAM_PATIENCE`])
    /// and takes a slot for it.
    fn admit<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        priority: Priority,
    ) -> MutexGuard<'a, State> {
        let asked = Instant::now();
        let mut overdue = false;
        state.waiting[priority as usize] += 1;
        while !state.admits(priority, self.slots, overdue) {
            // A lull, or a decode's patience, ends without a release to wake it: look again
            // when it may have.
            let timeout = match priority {
                Priority::Refine => Some(LULL_RECHECK),
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
        state
    }

    /// At a pause point of a running job of `priority`: when it must give way, gives its slot
    /// back and waits to be admitted again. Returns how long it waited.
    fn pause(&self, priority: Priority) -> Duration {
        let mut state = self.lock();
        if !state.must_pause(priority) {
            return Duration::ZERO;
        }
        let paused = Instant::now();
        state.running -= 1;
        state.pauses += 1;
        self.released.notify_all();
        drop(self.admit(state, priority));
        paused.elapsed()
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

/// A running job's slot, given back when the job ends (or unwinds); when it started, and how
/// long it spent paused.
struct Slot<'a> {
    admission: &'a Admission,
    priority: Priority,
    started: Instant,
    paused: Rc<Cell<Duration>>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let paused = self.paused.get();
        let ran = self.started.elapsed().saturating_sub(paused);
        log::debug!(
            "{:?} job ran {:.3} s, paused {:.3} s",
            self.priority,
            ran.as_secs_f64(),
            paused.as_secs_f64()
        );
        let mut state = self.admission.lock();
        state.running -= 1;
        state.ended(self.priority, ran);
        drop(state);
        self.admission.released.notify_all();
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

    /// Returns once the gate counts a job of `priority` waiting.
    fn until_waiting(gate: &ComputeGate, priority: Priority) {
        while gate.lock().waiting[priority as usize] == 0 {
            std::thread::yield_now();
        }
    }

    /// Asks `gate` to run a job of `priority` on a thread of its own (the job sends its
    /// priority on `order`), and returns once the job waits.
    fn queue(
        gate: &Arc<ComputeGate>,
        priority: Priority,
        order: &mpsc::Sender<Priority>,
    ) -> std::thread::JoinHandle<()> {
        let (runner, order) = (gate.clone(), order.clone());
        let job =
            std::thread::spawn(move || runner.run(priority, || order.send(priority).unwrap()));
        until_waiting(gate, priority);
        job
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
        let stream = queue(&gate, Priority::Stream, &order_tx);
        let last = queue(&gate, Priority::Final, &order_tx);
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
        let stream = queue(&gate, Priority::Stream, &order_tx);
        while gate.lock().overdue == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
        let last = queue(&gate, Priority::Final, &order_tx);
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
        until_waiting(&gate, Priority::Refine);
        // A slot is free, yet the refinement waits; a partial (more urgent) still runs.
        assert_eq!(gate.try_run(Priority::Partial, || 1), Some(1));
        assert!(done_rx.try_recv().is_err());
        // The decode held its slot for 1 s: more than LULL_SHARE of the window.
        std::thread::sleep(Duration::from_secs(1));
        let released = std::time::Instant::now();
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        refine.join().unwrap();
        assert!(done_rx.try_recv().is_ok());
        // ... and after it, until its second falls below the share of the window.
        assert!(released.elapsed() >= LULL.mul_f64(1.0 - 2.0 * LULL_SHARE));
    }

    #[test]
    fn voice_detection_in_silence_leaves_a_lull() {
        let gate = Arc::new(ComputeGate::new(1));
        // A decode of 1 s: no lull after it for a while.
        let (holder, release_tx) = hold(&gate);
        let (done_tx, done_rx) = mpsc::channel();
        let refine = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.run(Priority::Refine, || done_tx.send(()).unwrap()))
        };
        std::thread::sleep(Duration::from_secs(1));
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        assert!(done_rx.try_recv().is_err());
        // Then jobs of 2 ms every 20 ms, as for each packet of an open microphone: the
        // refinement runs among them, once the decode is far enough back.
        let mut refined_among_them = false;
        for _ in 0..200 {
            gate.run(Priority::Stream, || {
                std::thread::sleep(Duration::from_millis(2));
            });
            std::thread::sleep(Duration::from_millis(18));
            if done_rx.try_recv().is_ok() {
                refined_among_them = true;
                break;
            }
        }
        refine.join().unwrap();
        assert!(refined_among_them);
    }

    #[test]
    fn a_running_refinement_gives_way_at_its_pause_points_and_goes_on_after_a_lull() {
        use dragoman_core::pipeline::pause_point;
        const DECODE: Duration = Duration::from_millis(500);
        let gate = Arc::new(ComputeGate::new(1));
        let (order_tx, order_rx) = mpsc::channel();
        let (running_tx, running_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let refine = {
            let (gate, order_tx) = (gate.clone(), order_tx.clone());
            std::thread::spawn(move || {
                gate.run(Priority::Refine, || {
                    // Nothing else waits: it goes straight on.
                    pause_point();
                    order_tx.send("refinement starts").unwrap();
                    running_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    pause_point();
                    order_tx.send("refinement ends").unwrap();
                })
            })
        };
        running_rx.recv().unwrap();
        assert_eq!(gate.pauses(), 0);
        let decode = {
            let (gate, order_tx) = (gate.clone(), order_tx.clone());
            std::thread::spawn(move || {
                gate.run(Priority::Stream, || {
                    std::thread::sleep(DECODE);
                    order_tx.send("decode").unwrap();
                })
            })
        };
        until_waiting(&gate, Priority::Stream);
        let paused = std::time::Instant::now();
        go_tx.send(()).unwrap();
        decode.join().unwrap();
        refine.join().unwrap();
        let order: Vec<&str> = order_rx.try_iter().collect();
        assert_eq!(order, ["refinement starts", "decode", "refinement ends"]);
        assert_eq!(gate.pauses(), 1);
        // It went on only after a lull.
        assert!(paused.elapsed() >= DECODE + LULL.mul_f64(1.0 - LULL_SHARE));
        assert_eq!(gate.lock().running, 0);
    }

    #[test]
    fn a_partial_gives_way_to_a_waiting_decode() {
        use dragoman_core::pipeline::pause_point;
        let gate = Arc::new(ComputeGate::new(1));
        let (order_tx, order_rx) = mpsc::channel();
        let (running_tx, running_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let partial = {
            let (gate, order_tx) = (gate.clone(), order_tx.clone());
            std::thread::spawn(move || {
                gate.try_run(Priority::Partial, || {
                    running_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    pause_point();
                    order_tx.send(Priority::Partial).unwrap();
                })
            })
        };
        running_rx.recv().unwrap();
        let decode = {
            let (gate, order_tx) = (gate.clone(), order_tx.clone());
            std::thread::spawn(move || {
                gate.run(Priority::Stream, || {
                    order_tx.send(Priority::Stream).unwrap()
                })
            })
        };
        until_waiting(&gate, Priority::Stream);
        go_tx.send(()).unwrap();
        decode.join().unwrap();
        assert_eq!(partial.join().unwrap(), Some(()));
        let order: Vec<Priority> = order_rx.try_iter().collect();
        assert_eq!(order, [Priority::Stream, Priority::Partial]);
        assert_eq!(gate.pauses(), 1);
    }

    #[test]
    fn a_job_is_contended_when_work_of_its_kind_waits() {
        use dragoman_core::pipeline::is_contended;
        let gate = Arc::new(ComputeGate::new(1));
        let (running_tx, running_rx) = mpsc::channel();
        let (ask_tx, ask_rx) = mpsc::channel::<()>();
        let (answer_tx, answer_rx) = mpsc::channel();
        let (order_tx, order_rx) = mpsc::channel();
        let translation = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                gate.run(Priority::Final, || {
                    running_tx.send(()).unwrap();
                    while ask_rx.recv().is_ok() {
                        answer_tx.send(is_contended()).unwrap();
                    }
                })
            })
        };
        running_rx.recv().unwrap();
        let ask = || {
            ask_tx.send(()).unwrap();
            answer_rx.recv().unwrap()
        };
        let overdue = || gate.lock().overdue > 0;
        assert!(!ask(), "nothing waits");
        let speech = queue(&gate, Priority::Speech, &order_tx);
        assert!(
            !ask(),
            "speech takes the slot at the next pause point: no backlog"
        );
        let decode = queue(&gate, Priority::Stream, &order_tx);
        // Within STREAM_PATIENCE of its asking, a decode is less urgent than a final.
        let (before, answer, after) = (overdue(), ask(), overdue());
        if !before && !after {
            assert!(!answer, "a decode on time is no backlog for a final");
        }
        while !overdue() {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(ask(), "an overdue decode");
        let other = queue(&gate, Priority::Final, &order_tx);
        assert!(ask(), "another final waits");
        drop(ask_tx);
        translation.join().unwrap();
        for job in [speech, decode, other] {
            job.join().unwrap();
        }
        let order: Vec<Priority> = order_rx.try_iter().collect();
        let position = |p: Priority| order.iter().position(|&o| o == p).unwrap();
        assert!(
            position(Priority::Speech) < position(Priority::Final),
            "speech goes before a final's translation: {order:?}"
        );
    }

    #[test]
    fn a_final_pauses_for_an_overdue_decode() {
        use dragoman_core::pipeline::pause_point;
        let gate = Arc::new(ComputeGate::new(1));
        let (running_tx, running_rx) = mpsc::channel();
        let translation = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                gate.run(Priority::Final, || {
                    running_tx.send(()).unwrap();
                    let started = std::time::Instant::now();
                    while started.elapsed() < STREAM_PATIENCE + Duration::from_secs(1) {
                        pause_point();
                        std::thread::sleep(Duration::from_millis(20));
                    }
                })
            })
        };
        running_rx.recv().unwrap();
        let asked = std::time::Instant::now();
        let decode = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.run(Priority::Stream, || asked.elapsed()))
        };
        let waited = decode.join().unwrap();
        translation.join().unwrap();
        // Overdue after its patience, it took the translation's slot at the next pause point.
        assert!(waited >= STREAM_PATIENCE, "{waited:?}");
        assert!(
            waited < STREAM_PATIENCE + Duration::from_millis(500),
            "{waited:?}"
        );
        assert_eq!(gate.pauses(), 1);
    }
}
