//! The translation pipeline of one published audio track on worker threads: Opus packets in;
//! captions (the original and one translation per listener language) and translated speech
//! (Opus, per listener language) out.
//!
//! The work itself is done by the stages of core's [`pipeline`](dragoman_core::pipeline)
//! session, each run here on a thread of its own, so a slow stage delays only what comes after
//! it:
//!
//! ```text
//! packets -> [drop-oldest queue] -> stt thread: Opus decode (loss concealed), Captioner
//!   -> original captions; captions -> [queue] -> translate thread: CaptionTranslator
//!      -> translated captions; finals -> [queue] -> speak thread: Speaker, Opus encode
//!      -> 48 kHz packets; finals -> [drop-oldest queue] -> refine thread: Refiner
//! ```
//!
//! Each thread takes everything queued for it at once, so a stage that fell behind catches up
//! instead of doing stale work: the stt thread pushes all waiting audio as one chunk (one
//! decode for all of it: computation-aware streaming), the translate thread hands what came
//! over between two translations (the stage translates the finals and only the newest
//! partial, and drops the rest of an older partial's work), and
//! the speak thread sends each sentence's audio as soon as it is made. The stages run their
//! models through the process's one [`ComputeGate`](crate::compute::ComputeGate) (in
//! [`Engines`]). Only the audio queue drops (the oldest packets, when one step takes longer
//! than the queue holds), and it says so: [`PipelineEvent::AudioShed`] reaches the speaker.
//! Text is small and every final matters; only refinements are dropped when the CPU has no
//! lull for long (the first translation stands), and reported. Media time is the speaker's:
//! the samples decoded so far, concealed losses included, and silence where the queue shed
//! packets (their time passed, so later captions keep their times). When packets stop (the speaker muted
//! or went quiet without DTX), silence is fed in after [`PipelineOptions::idle_flush`] so the
//! utterance in progress becomes final.
//!
//! Failures stay in the pipeline that had them, and are told: an engine error skips that
//! input, an engine that panics is restarted by its stage (core's stages catch it), and each
//! is a [`PipelineEvent::Error`], which the room sends to everyone as `pipeline_error`. A
//! panic anywhere else in a stage thread ends that thread only, and is reported the same way.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use dragoman_core::pipeline::{
    CaptionTranslator, Captioner, RefineJob, Refiner, SessionEvent, SessionOptions, Speaker,
    SpeechRequest, SpokenCaption, StageOutput, panic_message,
};
pub use dragoman_core::pipeline::{Engines, Targets, TrackCaption};
use dragoman_core::resample::StreamResampler;
use dragoman_core::{AudioChunk, Error, Lang, Result, SampleRate, StreamTime};

use crate::codec::{OPUS_RATE, OpusDecoder, OpusEncoder};
use crate::queue::{DropOldestReceiver, DropOldestSender, Drops, drop_oldest};

/// Runtime options of a pipeline.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PipelineOptions {
    /// The session's: the speaker's language, the room's glossary.
    pub session: SessionOptions,
    /// Packets the audio queue holds before dropping the oldest. Defaults to 500 (10 s of
    /// 20 ms packets). The stt stage takes everything queued at each step, so the queue fills
    /// only while one step (a decode) takes longer than this.
    pub audio_queue: usize,
    /// Silence fed in once no packet came for this long. Defaults to 300 ms.
    pub idle_flush: Duration,
    /// The most silence fed in per pause. Defaults to 2 s (enough to end an utterance).
    pub max_idle_fill: Duration,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            session: SessionOptions::default(),
            audio_queue: 500,
            idle_flush: Duration::from_millis(300),
            max_idle_fill: Duration::from_secs(2),
        }
    }
}

/// One RTP packet's Opus payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusPacket {
    /// The RTP sequence number (gaps are concealed).
    pub sequence: u16,
    /// The Opus frame.
    pub payload: Vec<u8>,
}

/// What a pipeline reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PipelineEvent {
    /// A caption, original or translated.
    Caption(TrackCaption),
    /// 20 ms of translated speech in `lang`, Opus at 48 kHz.
    Speech {
        /// Its language.
        lang: Lang,
        /// The Opus packet.
        packet: Vec<u8>,
        /// Whether it is the last packet of an utterance (the writer may pause after it).
        last: bool,
    },
    /// How long a stage took for one utterance (for metrics): `stt` from the push of the
    /// utterance's last audio to its final; `translate` from the final reaching the translate
    /// thread to its translation (per caption language); `speak` from the translated text to
    /// its first audio.
    Latency {
        /// Which stage.
        stage: &'static str,
        /// The wall-clock time it took.
        elapsed: Duration,
    },
    /// The audio queue was full and dropped its oldest `packets` (20 ms each) since the last
    /// report: the speaker should be told that part of what they said was not captioned.
    AudioShed {
        /// Packets dropped since the last report.
        packets: u64,
    },
    /// A stage failed on some input and went on with the next.
    Error {
        /// Which stage.
        stage: &'static str,
        /// What failed.
        message: String,
    },
}

/// Where a pipeline's events go. Called from the worker threads: it must not block long.
pub type EventSink = Arc<dyn Fn(PipelineEvent) + Send + Sync>;

/// The pipeline of one track; its threads stop when it is dropped (after finishing the
/// utterance in progress). Its audio goes in through the [`PipelineInput`] that
/// [`TrackPipeline::start`] hands out with it.
pub struct TrackPipeline {
    drops: Drops,
    /// New targets for the translate thread (unbounded: the room never waits to send).
    retarget: Sender<Targets>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for TrackPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackPipeline")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

/// Bound of the text queues between threads (captions are small; a full queue waits).
const TEXT_QUEUE: usize = 256;

/// Finals waiting to be refined; past this the oldest are dropped (their first translation
/// stands) and counted.
const REFINE_QUEUE: usize = 16;

impl TrackPipeline {
    /// Starts the pipeline's threads (named after `name`); events go to `sink`. Audio goes in
    /// through the returned input, which the packet reader owns: no lock per packet. Dropping
    /// the input ends the audio; the utterance in progress then becomes final.
    pub fn start(
        name: &str,
        engines: &Engines,
        options: PipelineOptions,
        targets: Targets,
        sink: EventSink,
    ) -> Result<(Self, PipelineInput)> {
        let captioner = Captioner::new(engines, &options.session)?;
        let translator = CaptionTranslator::new(engines, &options.session, targets);
        let refiner = Refiner::new(engines, &options.session);
        let speaker = Speaker::new(engines);
        let (packet_tx, packet_rx) = drop_oldest::<OpusPacket>(options.audio_queue);
        let (text_tx, text_rx) = crossbeam_channel::bounded::<SpokenCaption>(TEXT_QUEUE);
        let (retarget, retarget_rx) = crossbeam_channel::unbounded::<Targets>();
        let (speech_tx, speech_rx) = crossbeam_channel::bounded::<SpeechRequest>(TEXT_QUEUE);
        let watcher = sink.clone();
        let spawn = |stage: &'static str, body: Box<dyn FnOnce() + Send>| {
            let sink = watcher.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{stage}"))
                .spawn(move || guard(stage, &sink, body))
                .map_err(|e| Error::io(format!("starting the {stage} thread of {name}"), e))
        };
        let mut threads = Vec::with_capacity(4);
        let refine = match refiner {
            Some(refiner) => {
                let (jobs_tx, jobs_rx) = drop_oldest::<RefineJob>(REFINE_QUEUE);
                let sink = sink.clone();
                threads.push(spawn(
                    "refine",
                    Box::new(move || refine_thread(refiner, &jobs_rx, &sink)),
                )?);
                Some(jobs_tx)
            }
            None => None,
        };
        {
            let mut stage = SttStage::new(captioner, sink.clone(), text_tx)?;
            threads.push(spawn(
                "stt",
                Box::new(move || stage.run(&packet_rx, &options)),
            )?);
        }
        {
            let mut stage = TranslateThread {
                translator,
                retarget: retarget_rx,
                sink: sink.clone(),
                speech: speech_tx,
                refine,
            };
            threads.push(spawn("translate", Box::new(move || stage.run(&text_rx)))?);
        }
        threads.push(spawn(
            "speak",
            Box::new(move || speak_thread(speaker, &speech_rx, &sink)),
        )?);
        let pipeline = Self {
            drops: packet_tx.drops(),
            retarget,
            threads,
        };
        Ok((pipeline, PipelineInput(packet_tx)))
    }

    /// Packets dropped because the pipeline fell behind.
    pub fn dropped(&self) -> u64 {
        self.drops.get()
    }

    /// Changes what the listeners want (from the next caption on).
    pub fn set_targets(&self, targets: Targets) {
        // A gone receiver means the translate thread ended: nothing is translated anyway.
        let _ = self.retarget.send(targets);
    }

    /// Lets every stage finish what it has and waits for the threads: for the stt thread,
    /// until the [`PipelineInput`] is dropped.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for TrackPipeline {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where a track's Opus packets go into its pipeline; dropping it ends the audio.
#[derive(Debug)]
pub struct PipelineInput(DropOldestSender<OpusPacket>);

impl PipelineInput {
    /// Queues one packet; when the queue is full the oldest is dropped (and counted).
    pub fn push(&self, packet: OpusPacket) {
        // A gone receiver means the stt thread ended; its error was reported.
        let _ = self.0.push(packet);
    }
}

/// Passes a stage's caption or error on to `sink`.
fn emit(sink: &EventSink, event: SessionEvent) {
    match event {
        SessionEvent::Caption(caption) => sink(PipelineEvent::Caption(caption)),
        SessionEvent::Error { stage, message } => report(sink, stage, message),
        // Only the speak thread's stage makes speech, and it encodes it first.
        _ => {}
    }
}

/// Opus decoding, pacing (silence when packets stop) and the [`Captioner`].
struct SttStage {
    captioner: Captioner,
    decoder: OpusDecoder,
    /// The next expected sequence number.
    expected: Option<u16>,
    /// Samples decoded so far: the speaker's media time.
    position: u64,
    sink: EventSink,
    text: Sender<SpokenCaption>,
    /// When recent audio was pushed: `(position after the push, wall clock)`, for the
    /// latency of finals.
    pushed: VecDeque<(u64, Instant)>,
    /// Packets the audio queue had shed when last reported.
    shed_reported: u64,
    /// Shed packets that no gap in the sequence numbers has accounted for yet.
    shed_unplaced: u64,
}

/// The most queued packets pushed as one chunk (5 s of 20 ms packets): a pipeline further
/// behind catches up in several pushes, each decoding once.
const BATCH_MAX: usize = 250;

/// Pushes remembered for latency (10 s of 20 ms packets).
const PUSHES_KEPT: usize = 500;

/// The longest gap concealed; a longer one is silence where the audio queue shed those
/// packets (their time passed: captions keep the speaker's timeline), else (a reconnect, a
/// sequence reset) restarts the timeline at the new packet without inventing seconds of audio.
const MAX_CONCEALED: u16 = 10;

impl SttStage {
    fn new(captioner: Captioner, sink: EventSink, text: Sender<SpokenCaption>) -> Result<Self> {
        Ok(Self {
            captioner,
            decoder: OpusDecoder::new()?,
            expected: None,
            position: 0,
            sink,
            text,
            pushed: VecDeque::with_capacity(PUSHES_KEPT),
            shed_reported: 0,
            shed_unplaced: 0,
        })
    }

    fn run(&mut self, packets: &DropOldestReceiver<OpusPacket>, options: &PipelineOptions) {
        let rate = opus_rate();
        let mut idle_filled = Duration::ZERO;
        loop {
            match packets.recv_timeout(options.idle_flush) {
                Ok(Some(packet)) => {
                    idle_filled = Duration::ZERO;
                    // Computation-aware streaming: everything that queued while the last push
                    // was computed goes in as one chunk, so the session decodes once for all
                    // of it instead of falling further behind with a decode per packet.
                    let waiting = std::iter::from_fn(|| packets.try_recv()).take(BATCH_MAX);
                    let batch: Vec<OpusPacket> = std::iter::once(packet).chain(waiting).collect();
                    // Packets shed before these were taken out of the queue: the gaps they
                    // leave in the sequence numbers are time that passed (see `decode`).
                    self.report_shed(packets.dropped());
                    let mut audio = Vec::new();
                    for packet in &batch {
                        match self.decode(packet) {
                            Ok(samples) => audio.extend(samples),
                            Err(e) => self.report(e),
                        }
                    }
                    self.push(audio);
                }
                Ok(None) if idle_filled < options.max_idle_fill => {
                    idle_filled += options.idle_flush;
                    self.push(vec![0.0; rate.samples_in(options.idle_flush) as usize]);
                }
                Ok(None) => {}
                Err(_) => break,
            }
            self.report_shed(packets.dropped());
        }
        self.report_shed(packets.dropped());
        self.captioner.finish();
        self.hand_on();
    }

    fn report(&self, error: Error) {
        report(&self.sink, "stt", error);
    }

    /// Tells the sink about packets the audio queue dropped since the last report (`shed` in
    /// all).
    fn report_shed(&mut self, shed: u64) {
        if shed > self.shed_reported {
            (self.sink)(PipelineEvent::AudioShed {
                packets: shed - self.shed_reported,
            });
            self.shed_unplaced += shed - self.shed_reported;
            self.shed_reported = shed;
        }
    }

    /// The audio of `packet`, preceded by concealment for packets lost before it, or silence
    /// for packets the queue shed before it.
    fn decode(&mut self, packet: &OpusPacket) -> Result<Vec<f32>> {
        let gap = match self.expected {
            Some(expected) => packet.sequence.wrapping_sub(expected),
            // The first packet taken: whatever the queue shed so far came before it.
            None => u16::try_from(self.shed_unplaced).unwrap_or(u16::MAX / 2),
        };
        // Behind what was played (reordered late, or a duplicate): too late to use.
        if gap > u16::MAX / 2 {
            return Ok(Vec::new());
        }
        self.expected = Some(packet.sequence.wrapping_add(1));
        // An empty payload (padding only) holds no frame, and nothing was lost.
        if packet.payload.is_empty() {
            return Ok(Vec::new());
        }
        let shed = u64::from(gap).min(self.shed_unplaced);
        self.shed_unplaced -= shed;
        let mut audio = if (1..=MAX_CONCEALED).contains(&gap) {
            self.decoder.conceal(usize::from(gap))?
        } else if shed == u64::from(gap) {
            self.decoder.silence(usize::from(gap))
        } else {
            Vec::new()
        };
        audio.extend(self.decoder.decode(&packet.payload)?);
        Ok(audio)
    }

    fn push(&mut self, audio: Vec<f32>) {
        if audio.is_empty() {
            return;
        }
        let start = StreamTime::from_samples(self.position, opus_rate());
        self.position += audio.len() as u64;
        if self.pushed.len() == PUSHES_KEPT {
            self.pushed.pop_front();
        }
        self.pushed.push_back((self.position, Instant::now()));
        self.captioner.push_audio(&AudioChunk::new(start, audio));
        self.hand_on();
    }

    /// Time since the audio up to media time `end` was pushed.
    fn since_pushed(&self, end: StreamTime) -> Option<Duration> {
        let end = end.as_duration().as_secs_f64() * f64::from(OPUS_RATE);
        self.pushed
            .iter()
            .find(|(position, _)| *position as f64 >= end)
            .map(|(_, at)| at.elapsed())
    }

    /// Original captions to the sink, and on to translation.
    fn hand_on(&mut self) {
        while let Some(output) = self.captioner.poll() {
            match output {
                StageOutput::Event(SessionEvent::Caption(caption)) => {
                    if let Some(elapsed) = caption.end.and_then(|end| self.since_pushed(end)) {
                        (self.sink)(PipelineEvent::Latency {
                            stage: "stt",
                            elapsed,
                        });
                    }
                    (self.sink)(PipelineEvent::Caption(caption));
                }
                StageOutput::Event(event) => emit(&self.sink, event),
                StageOutput::Translate(caption) => {
                    if self.text.send(caption).is_err() {
                        self.report(Error::Internal("the translate thread stopped".into()));
                    }
                }
                other => unexpected(&self.sink, "stt", &other),
            }
        }
    }
}

/// Runs a stage thread's `body`. Engine panics are caught in the stages (the session is
/// restarted); one anywhere else (a bug here, or in the codec) ends the thread, and only that
/// pipeline's, but never unseen: the sink is told, so the room reports it.
fn guard(stage: &'static str, sink: &EventSink, body: Box<dyn FnOnce() + Send>) {
    // Unwind safety: the thread's state dies with it; what it shared (queues, the sink) is
    // only ever left whole between two calls.
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        let what = panic_message(payload.as_ref());
        report(
            sink,
            stage,
            format!("the {stage} thread stopped after a panic: {what}"),
        );
    }
}

/// Tells `sink` that `stage` failed on some input (and goes on with the next).
fn report(sink: &EventSink, stage: &'static str, message: impl std::fmt::Display) {
    sink(PipelineEvent::Error {
        stage,
        message: message.to_string(),
    });
}

/// Reports an output a stage does not make (a bug), rather than losing it unseen.
fn unexpected(sink: &EventSink, stage: &'static str, output: &StageOutput) {
    report(sink, stage, format!("bug: unexpected output {output:?}"));
}

fn opus_rate() -> SampleRate {
    // 48 kHz is a valid rate; `new` only refuses zero.
    SampleRate::new(OPUS_RATE).unwrap_or(SampleRate::HZ_16000)
}

/// The [`CaptionTranslator`] between the stt thread and the speak and refine threads.
struct TranslateThread {
    translator: CaptionTranslator,
    /// What the listeners want, when it changes; applied from the next captions on.
    retarget: Receiver<Targets>,
    sink: EventSink,
    speech: Sender<SpeechRequest>,
    /// Finals for the refine thread, where there is a refiner.
    refine: Option<DropOldestSender<RefineJob>>,
}

/// Finals whose arrival is remembered for the translate latency.
const ARRIVALS_KEPT: usize = 16;

impl TranslateThread {
    fn run(&mut self, captions: &Receiver<SpokenCaption>) {
        // When each recent final reached this thread: `(caption id, wall clock)`.
        let mut arrivals: VecDeque<(u64, Instant)> = VecDeque::with_capacity(ARRIVALS_KEPT);
        loop {
            // Between two translations, whatever came meanwhile goes to the stage, which drops
            // the queued work of older partials: a final never waits behind a stale partial's
            // other languages. Waits only when nothing is left to translate.
            let mut batch = Vec::new();
            if self.translator.is_idle() {
                match captions.recv() {
                    Ok(caption) => batch.push(caption),
                    Err(_) => break,
                }
            }
            batch.extend(captions.try_iter());
            if let Some(targets) = self.retarget.try_iter().last() {
                self.translator.set_targets(targets);
            }
            for spoken in batch.iter().filter(|s| s.caption.is_final) {
                if arrivals.len() == ARRIVALS_KEPT {
                    arrivals.pop_front();
                }
                arrivals.push_back((spoken.caption.caption_id, Instant::now()));
            }
            self.translator.push(batch);
            self.translator.step();
            self.hand_on(&arrivals);
        }
    }

    /// Translated captions to the sink, final translations on to the speak and refine threads.
    fn hand_on(&mut self, arrivals: &VecDeque<(u64, Instant)>) {
        while let Some(output) = self.translator.poll() {
            match output {
                StageOutput::Event(SessionEvent::Caption(caption)) => {
                    let arrived = arrivals
                        .iter()
                        .find(|(id, _)| caption.is_final && *id == caption.caption_id);
                    if let Some((_, at)) = arrived {
                        (self.sink)(PipelineEvent::Latency {
                            stage: "translate",
                            elapsed: at.elapsed(),
                        });
                    }
                    (self.sink)(PipelineEvent::Caption(caption));
                }
                StageOutput::Event(event) => emit(&self.sink, event),
                StageOutput::Speak(request) => {
                    if self.speech.send(request).is_err() {
                        report(&self.sink, "translate", "the speak thread stopped");
                    }
                }
                StageOutput::Refine(job) => {
                    if let Some(refine) = &self.refine {
                        // A gone receiver means the refine thread ended; its error was
                        // reported.
                        let _ = refine.push(job);
                    }
                }
                other => unexpected(&self.sink, "translate", &other),
            }
        }
    }
}

/// Runs the [`Refiner`] on the finals queued for it, each when the CPU has a lull
/// ([`Priority::Refine`](dragoman_core::pipeline::Priority::Refine)). When it has none for
/// long, the oldest waiting finals are dropped from the queue and reported; their first
/// translation stands.
fn refine_thread(mut refiner: Refiner, jobs: &DropOldestReceiver<RefineJob>, sink: &EventSink) {
    let mut dropped_reported = 0;
    loop {
        let job = match jobs.recv_timeout(Duration::from_secs(1)) {
            Ok(Some(job)) => job,
            Ok(None) => continue,
            Err(_) => break,
        };
        refiner.push(&job);
        while let Some(output) = refiner.poll() {
            match output {
                StageOutput::Event(event) => emit(sink, event),
                other => unexpected(sink, "refine", &other),
            }
        }
        let dropped = jobs.dropped();
        if dropped > dropped_reported {
            let kept = dropped - dropped_reported;
            let message = format!(
                "{kept} final captions kept their first translation: no lull to refine them"
            );
            report(sink, "refine", message);
            dropped_reported = dropped;
        }
    }
}

/// Runs the [`Speaker`] on each final translation and encodes its speech to 48 kHz Opus, each
/// sentence's packets sent as soon as they exist.
fn speak_thread(mut speaker: Speaker, requests: &Receiver<SpeechRequest>, sink: &EventSink) {
    while let Ok(request) = requests.recv() {
        let mut out = SpeechOut::new(request.lang, sink);
        speaker.speak(request);
        while speaker.step() {
            while let Some(output) = speaker.poll() {
                let encoded = match output {
                    StageOutput::Event(SessionEvent::Speech { audio, .. }) => out.push(&audio),
                    StageOutput::Event(SessionEvent::SpeechEnd { .. }) => out.end(),
                    StageOutput::Event(event) => {
                        emit(sink, event);
                        Ok(())
                    }
                    other => {
                        unexpected(sink, "speak", &other);
                        Ok(())
                    }
                };
                if let Err(e) = encoded {
                    report(sink, "speak", e);
                }
            }
        }
    }
}

/// One translated caption's speech on its way out: resampled to 48 kHz and Opus-encoded, with
/// one packet held back so the last can be marked.
struct SpeechOut<'a> {
    lang: Lang,
    sink: &'a EventSink,
    resampler: Option<StreamResampler>,
    encoder: Option<OpusEncoder>,
    held: Option<Vec<u8>>,
    /// When the text came; taken at the first packet.
    started: Option<Instant>,
}

impl<'a> SpeechOut<'a> {
    fn new(lang: Lang, sink: &'a EventSink) -> Self {
        Self {
            lang,
            sink,
            resampler: None,
            encoder: None,
            held: None,
            started: Some(Instant::now()),
        }
    }

    /// Encodes `audio` and sends what makes whole packets.
    fn push(&mut self, audio: &AudioChunk) -> Result<()> {
        let to_48k = match &mut self.resampler {
            Some(r) => r,
            None => self
                .resampler
                .insert(StreamResampler::new(audio.rate(), opus_rate())?),
        };
        let samples = to_48k.push(&audio.samples)?;
        self.encode(&samples)
    }

    /// Sends the rest, the last packet marked as such.
    fn end(&mut self) -> Result<()> {
        if let Some(mut resampler) = self.resampler.take() {
            let rest = resampler.finish()?;
            self.encode(&rest)?;
        }
        if let Some(mut encoder) = self.encoder.take() {
            self.extend(encoder.flush()?);
        }
        if let Some(packet) = self.held.take() {
            self.send(packet, true);
        }
        Ok(())
    }

    fn encode(&mut self, samples: &[f32]) -> Result<()> {
        let encoder = match &mut self.encoder {
            Some(e) => e,
            None => self.encoder.insert(OpusEncoder::new()?),
        };
        let packets = encoder.encode(samples)?;
        self.extend(packets);
        Ok(())
    }

    fn extend(&mut self, packets: Vec<Vec<u8>>) {
        for packet in packets {
            if let Some(previous) = self.held.replace(packet) {
                self.send(previous, false);
            }
        }
    }

    fn send(&mut self, packet: Vec<u8>, last: bool) {
        // The stage's latency is the time to its first packet.
        if let Some(started) = self.started.take() {
            (self.sink)(PipelineEvent::Latency {
                stage: "speak",
                elapsed: started.elapsed(),
            });
        }
        (self.sink)(PipelineEvent::Speech {
            lang: self.lang,
            packet,
            last,
        });
    }
}
