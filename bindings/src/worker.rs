//! The thread behind a session that takes audio: a push returns at once, the model work runs
//! here, events go back over a channel (or to a listener).
//!
//! Audio that queues while a push's work runs is handed to the session as one chunk (the
//! engines are designed for it: one decode of all the audio that arrived, rather than a queue
//! that falls further behind). Nothing is dropped. Dropping the worker stops the thread once
//! its current work ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use dragoman_core::{AudioChunk, SampleRate, StreamTime};

use crate::error::{DragomanError, Result};

/// A session the worker drives: the engines' push / finish / poll, with foreign events out.
pub(crate) trait AudioSession: Send + 'static {
    /// What the foreign side reads.
    type Event: Send + 'static;

    /// Takes audio (contiguous with the previous push) and does the work it brings.
    fn push_audio(&mut self, chunk: &AudioChunk) -> dragoman_core::Result<()>;

    /// Ends the audio and does the remaining work.
    fn finish(&mut self) -> dragoman_core::Result<()>;

    /// The next event made so far.
    fn poll(&mut self) -> Option<Self::Event>;
}

/// Where a worker's events go.
pub(crate) enum Sink<E> {
    /// Queued for [`Worker::next`].
    Queue,
    /// Handed to a (foreign) listener as they come, on the worker's thread.
    Listener(Box<dyn FnMut(Result<E>) + Send>),
}

enum Input {
    Audio(Vec<f32>, SampleRate),
    Finish,
}

/// A session running on its own thread.
pub(crate) struct Worker<E> {
    /// The rate of the first push; later pushes must keep it (0: none yet).
    rate: AtomicU32,
    finished: AtomicBool,
    /// Set by the thread as its last act, before its end of the event queue closes: once
    /// [`next`](Self::next) saw the queue closed, this is true (`JoinHandle::is_finished` may
    /// still be false then).
    ended: Arc<AtomicBool>,
    input: Option<Sender<Input>>,
    events: Receiver<Result<E>>,
    thread: Option<JoinHandle<()>>,
}

impl<E: Send + 'static> Worker<E> {
    /// Starts `session` on a thread named `name`, its events going to `sink`.
    pub(crate) fn start<S: AudioSession<Event = E>>(
        name: &str,
        session: S,
        sink: Sink<E>,
    ) -> Result<Self> {
        let (input, inputs) = unbounded();
        let (output, events) = unbounded();
        let mut deliver: Box<dyn FnMut(Result<E>) -> bool + Send> = match sink {
            Sink::Queue => Box::new(move |event| output.send(event).is_ok()),
            // The queue stays open while the thread runs (and empty): `next` then waits its
            // timeout, as without a listener, rather than report a stopped thread.
            Sink::Listener(mut listener) => Box::new(move |event| {
                let _open = &output;
                listener(event);
                true
            }),
        };
        let ended = Arc::new(AtomicBool::new(false));
        let thread_ended = ended.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                run(session, &inputs, &mut *deliver);
                // Before `deliver` (and with it the queue's sender) is dropped.
                thread_ended.store(true, Ordering::Release);
            })
            .map_err(|e| DragomanError::Internal(format!("starting the {name} thread: {e}")))?;
        Ok(Self {
            rate: AtomicU32::new(0),
            finished: AtomicBool::new(false),
            ended,
            input: Some(input),
            events,
            thread: Some(thread),
        })
    }

    /// Queues mono samples (-1..1) at `sample_rate` Hz.
    pub(crate) fn push(&self, samples: Vec<f32>, sample_rate: u32) -> Result<()> {
        let rate = SampleRate::new(sample_rate)?;
        if self.finished.load(Ordering::Acquire) {
            return Err(DragomanError::InvalidArgument(
                "audio pushed after finish".into(),
            ));
        }
        let stream_rate =
            match self
                .rate
                .compare_exchange(0, rate.hz(), Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => rate.hz(),
                Err(first) => first,
            };
        if stream_rate != rate.hz() {
            return Err(DragomanError::InvalidArgument(format!(
                "the stream is at {stream_rate} Hz; audio at {} Hz needs a new session",
                rate.hz()
            )));
        }
        self.send(Input::Audio(samples, rate))
    }

    /// Ends the audio; the last events follow.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.finished.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.send(Input::Finish)
    }

    /// The next event, waiting up to `timeout`; `None` when none came in time or the session
    /// is [`done`](Self::done). A thread that ended before `finish` (a bug) is an error.
    pub(crate) fn next(&self, timeout: Duration) -> Result<Option<E>> {
        match self.events.recv_timeout(timeout) {
            Ok(event) => event.map(Some),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) if self.finished.load(Ordering::Acquire) => {
                Ok(None)
            }
            Err(RecvTimeoutError::Disconnected) => Err(DragomanError::Internal(
                "the session's thread stopped before the audio was finished".into(),
            )),
        }
    }

    /// Whether the session finished and every event was read.
    pub(crate) fn done(&self) -> bool {
        self.finished.load(Ordering::Acquire)
            && self.ended.load(Ordering::Acquire)
            && self.events.is_empty()
    }

    fn send(&self, input: Input) -> Result<()> {
        self.input
            .as_ref()
            .and_then(|tx| tx.send(input).ok())
            .ok_or_else(|| DragomanError::Internal("the session's thread ended".into()))
    }
}

impl<E> Drop for Worker<E> {
    fn drop(&mut self) {
        // Closing the input ends the thread after its current work.
        self.input = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread: pushes what arrived (all of it at once), hands the events on, until finished
/// or dropped.
fn run<S: AudioSession>(
    mut session: S,
    inputs: &Receiver<Input>,
    deliver: &mut dyn FnMut(Result<S::Event>) -> bool,
) {
    let mut position: Option<StreamTime> = None;
    while let Ok(first) = inputs.recv() {
        let mut audio = Vec::new();
        let mut rate = None;
        let mut finish = false;
        for input in std::iter::once(first).chain(inputs.try_iter()) {
            match input {
                Input::Audio(samples, r) => {
                    audio.extend(samples);
                    rate = Some(r);
                }
                Input::Finish => finish = true,
            }
        }
        if let Some(rate) = rate.filter(|_| !audio.is_empty()) {
            let start = position.unwrap_or(StreamTime::zero(rate));
            let chunk = AudioChunk::new(start, audio);
            position = Some(chunk.end());
            if let Err(e) = session.push_audio(&chunk) {
                deliver(Err(e.into()));
            }
        }
        if finish && let Err(e) = session.finish() {
            deliver(Err(e.into()));
        }
        while let Some(event) = session.poll() {
            if !deliver(Ok(event)) {
                return;
            }
        }
        if finish {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// Records what it is pushed; each push says it started and waits until the test lets it
    /// go, so that the test decides what queues meanwhile.
    struct Recorder {
        chunks: Vec<(u64, usize)>,
        entered: mpsc::Sender<()>,
        gate: mpsc::Receiver<()>,
    }

    impl AudioSession for Recorder {
        type Event = (u64, usize);

        fn push_audio(&mut self, chunk: &AudioChunk) -> dragoman_core::Result<()> {
            let _ = self.entered.send(());
            let _ = self.gate.recv();
            self.chunks
                .push((chunk.start.samples(), chunk.samples.len()));
            Ok(())
        }

        fn finish(&mut self) -> dragoman_core::Result<()> {
            Ok(())
        }

        fn poll(&mut self) -> Option<(u64, usize)> {
            (!self.chunks.is_empty()).then(|| self.chunks.remove(0))
        }
    }

    /// A worker over a [`Recorder`] with its events going to `sink`, the receiver that hears
    /// each push start, and the sender that lets it end.
    fn worker_to(
        sink: Sink<(u64, usize)>,
    ) -> (Worker<(u64, usize)>, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (open, gate) = mpsc::channel();
        let (entered, pushing) = mpsc::channel();
        let recorder = Recorder {
            chunks: Vec::new(),
            entered,
            gate,
        };
        let worker = Worker::start("test", recorder, sink).expect("worker");
        (worker, pushing, open)
    }

    /// [`worker_to`] the queue.
    fn worker() -> (Worker<(u64, usize)>, mpsc::Receiver<()>, mpsc::Sender<()>) {
        worker_to(Sink::Queue)
    }

    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn audio_that_queued_during_a_push_is_pushed_as_one_chunk_after_it() {
        let (worker, pushing, open) = worker();
        worker.push(vec![0.0; 320], 16_000).expect("push");
        // The first push is held in the session; three more queue behind it.
        pushing.recv_timeout(WAIT).expect("first push");
        for _ in 0..3 {
            worker.push(vec![0.0; 320], 16_000).expect("push");
        }
        open.send(()).expect("open");
        assert_eq!(worker.next(WAIT).expect("event"), Some((0, 320)));
        open.send(()).expect("open");
        assert_eq!(worker.next(WAIT).expect("event"), Some((320, 960)));
        worker.finish().expect("finish");
        assert_eq!(worker.next(WAIT).expect("end"), None);
        assert!(worker.done());
    }

    #[test]
    fn a_stream_keeps_its_rate_and_takes_no_audio_after_finish() {
        let (worker, _pushing, open) = worker();
        worker.push(vec![0.0; 480], 48_000).expect("push");
        assert!(matches!(
            worker.push(vec![0.0; 160], 16_000),
            Err(DragomanError::InvalidArgument(_))
        ));
        assert!(matches!(
            worker.push(vec![0.0; 160], 0),
            Err(DragomanError::Audio(_))
        ));
        open.send(()).expect("open");
        worker.finish().expect("finish");
        assert!(matches!(
            worker.push(vec![0.0; 480], 48_000),
            Err(DragomanError::InvalidArgument(_))
        ));
        assert_eq!(worker.next(WAIT).expect("event"), Some((0, 480)));
        assert_eq!(worker.next(WAIT).expect("end"), None);
    }

    #[test]
    fn a_listener_hears_the_events_and_the_queue_stays_empty_until_the_end() {
        let (heard, hear) = mpsc::channel();
        let sink = Sink::Listener(Box::new(move |event| {
            let _ = heard.send(event.ok());
        }));
        let (worker, _pushing, open) = worker_to(sink);
        worker.push(vec![0.0; 320], 16_000).expect("push");
        assert_eq!(
            worker.next(Duration::from_millis(10)).expect("no event"),
            None
        );
        open.send(()).expect("open");
        assert_eq!(hear.recv_timeout(WAIT).expect("heard"), Some((0, 320)));
        worker.finish().expect("finish");
        assert_eq!(worker.next(WAIT).expect("end"), None);
    }

    #[test]
    fn dropping_a_worker_stops_its_thread() {
        let (worker, _pushing, open) = worker();
        worker.push(vec![0.0; 320], 16_000).expect("push");
        open.send(()).expect("open");
        drop(worker);
        // The thread ended with the worker: nothing holds the gate's receiver any more.
        assert!(open.send(()).is_err());
    }
}
