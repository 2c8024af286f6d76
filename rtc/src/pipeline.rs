//! The translation pipeline of one published audio track: Opus packets in; captions (the
//! original and one translation per listener language) and translated speech (Opus, per
//! listener language) out.
//!
//! Three worker threads per track, so a slow stage delays only what comes after it:
//!
//! ```text
//! packets -> [drop-oldest queue] -> stt thread: Opus decode (loss concealed), speech-to-text
//!   -> original captions; captions -> [queue] -> translate thread: one translation session
//!      per caption language -> translated captions; finals -> [queue] -> speak thread: one
//!      text-to-speech session per speech language -> 48 kHz Opus packets
//! ```
//!
//! Each stage takes everything queued for it at once, so a stage that fell behind catches up
//! instead of doing stale work: the stt thread pushes all waiting audio as one chunk (one
//! decode for all of it: computation-aware streaming), the translate thread translates every
//! waiting final but only the newest waiting partial, and the speak thread sends each
//! sentence's audio as soon as it is made. The threads of every pipeline run their models
//! through the process's one [`ComputeGate`] (in [`Engines`]): at most one job per core, final
//! translations first, a partial translated only when the gate is free at once. Only the audio queue drops (the oldest packets, when
//! one step takes longer than the queue holds), and it says so: [`PipelineEvent::AudioShed`]
//! reaches the speaker. Text is small and every final matters. Media time is the speaker's:
//! the samples decoded so far, concealed losses included.
//! When packets stop (the speaker muted or went quiet without DTX), silence is fed in after
//! [`PipelineOptions::idle_flush`] so the utterance in progress becomes final.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use dragoman_core::engine::{
    CaptionText, SpeechToText, SttEvent, SttOptions, TextToSpeech, TranslationOptions,
    TranslationSession, Translator, TtsEvent, TtsOptions, TtsSession,
};
use dragoman_core::resample::StreamResampler;
use dragoman_core::text::sentences;
use dragoman_core::{AudioChunk, Error, Glossary, Lang, Result, SampleRate, StreamTime};

use crate::codec::{OPUS_RATE, OpusDecoder, OpusEncoder};
use crate::compute::{ComputeGate, Priority};
use crate::queue::{DropOldestReceiver, DropOldestSender, Drops, drop_oldest};

/// The engines a pipeline runs. Models are shared (`Arc`): one copy serves every room; each
/// track gets its own sessions. So is the gate their work passes ([`ComputeGate`]): make one
/// per process.
#[derive(Clone)]
pub struct Engines {
    /// Speech-to-text.
    pub stt: Arc<dyn SpeechToText>,
    /// Caption translation.
    pub translator: Arc<dyn Translator>,
    /// A stronger (slower) translator that translates final captions again when the CPU has a
    /// lull; its translation replaces the first one ([`TrackCaption::refined`]).
    pub refiner: Option<Arc<dyn Translator>>,
    /// Text-to-speech.
    pub tts: Arc<dyn TextToSpeech>,
    /// Admission of model work, shared by every pipeline of the process.
    pub compute: Arc<ComputeGate>,
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Engines")
    }
}

/// What the listeners of a track want from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// Languages to caption in (the spoken language needs no translation).
    pub captions: BTreeSet<Lang>,
    /// Languages to speak the translation in.
    pub speech: BTreeSet<Lang>,
}

/// Runtime options of a pipeline.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PipelineOptions {
    /// The speaker's language. Defaults to `None`: detected per utterance (then only finals
    /// are translated, once their language is known).
    pub spoken: Option<Lang>,
    /// Packets the audio queue holds before dropping the oldest. Defaults to 500 (10 s of
    /// 20 ms packets). The stt stage takes everything queued at each step, so the queue fills
    /// only while one step (a decode) takes longer than this.
    pub audio_queue: usize,
    /// Silence fed in once no packet came for this long. Defaults to 300 ms.
    pub idle_flush: Duration,
    /// The most silence fed in per pause. Defaults to 2 s (enough to end an utterance).
    pub max_idle_fill: Duration,
    /// Terms the translations keep or translate a fixed way (the room's). Default: none.
    pub glossary: Glossary,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            spoken: None,
            audio_queue: 500,
            idle_flush: Duration::from_millis(300),
            max_idle_fill: Duration::from_secs(2),
            glossary: Glossary::default(),
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

/// A caption of the track: what was said, or its translation.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackCaption {
    /// The utterance, numbered from 0.
    pub caption_id: u64,
    /// The update of this caption in this language, from 0.
    pub revision: u32,
    /// The caption's language (`None` for an original partial whose language is not detected
    /// yet).
    pub lang: Option<Lang>,
    /// The spoken language, when known.
    pub source_lang: Option<Lang>,
    /// The text.
    pub text: String,
    /// Whether this is the caption's last revision in this language.
    pub is_final: bool,
    /// Where the utterance starts in the speaker's audio.
    pub start: StreamTime,
    /// Where it ends (finals of the original).
    pub end: Option<StreamTime>,
    /// A final translated again by the stronger model ([`Engines::refiner`]): it replaces
    /// the final of a lower revision.
    pub refined: bool,
}

impl TrackCaption {
    /// Whether this is a translation.
    pub fn is_translation(&self) -> bool {
        self.lang != self.source_lang
    }
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
    /// utterance's last audio to its final; `translate` from the final to its translation
    /// (per language); `speak` from the translated text to its first audio.
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
    targets: Arc<Mutex<Targets>>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for TrackPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackPipeline")
            .field("targets", &self.targets())
            .field("dropped", &self.dropped())
            .finish()
    }
}

/// Text passed from the stt thread to the translate thread.
struct SourceCaption {
    caption: CaptionText,
    lang: Option<Lang>,
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
        let mut stt_options = SttOptions::default();
        stt_options.language = options.spoken;
        let stt = engines.stt.new_session(&stt_options)?;
        let (packet_tx, packet_rx) = drop_oldest::<OpusPacket>(options.audio_queue);
        let (text_tx, text_rx) = crossbeam_channel::bounded::<SourceCaption>(TEXT_QUEUE);
        let (speech_tx, speech_rx) = crossbeam_channel::bounded::<(Lang, String)>(TEXT_QUEUE);
        let targets = Arc::new(Mutex::new(targets));
        let spawn = |stage: &str, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(format!("{name}-{stage}"))
                .spawn(body)
                .map_err(|e| Error::io(format!("starting the {stage} thread of {name}"), e))
        };
        let mut threads = Vec::with_capacity(4);
        let glossary = options.glossary.clone();
        let refine = match &engines.refiner {
            Some(refiner) => {
                let (jobs_tx, jobs_rx) = drop_oldest::<RefineJob>(REFINE_QUEUE);
                let mut stage = RefineStage {
                    sessions: Sessions::new(refiner.clone(), glossary.clone()),
                    compute: engines.compute.clone(),
                    sink: sink.clone(),
                    dropped_reported: 0,
                };
                threads.push(spawn("refine", Box::new(move || stage.run(&jobs_rx)))?);
                Some(jobs_tx)
            }
            None => None,
        };
        {
            let sink = sink.clone();
            let mut stage =
                SttStage::new(stt, engines.compute.clone(), options.clone(), sink, text_tx)?;
            threads.push(spawn(
                "stt",
                Box::new(move || stage.run(&packet_rx, &options)),
            )?);
        }
        {
            let mut stage = TranslateStage {
                sessions: Sessions::new(engines.translator.clone(), glossary),
                compute: engines.compute.clone(),
                targets: targets.clone(),
                sink: sink.clone(),
                speech: speech_tx,
                refine,
            };
            threads.push(spawn("translate", Box::new(move || stage.run(&text_rx)))?);
        }
        {
            let mut stage = SpeakStage {
                tts: engines.tts.clone(),
                compute: engines.compute.clone(),
                voices: HashMap::new(),
                refused: HashSet::new(),
                sink,
            };
            threads.push(spawn("speak", Box::new(move || stage.run(&speech_rx)))?);
        }
        let pipeline = Self {
            drops: packet_tx.drops(),
            targets,
            threads,
        };
        Ok((pipeline, PipelineInput(packet_tx)))
    }

    /// Packets dropped because the pipeline fell behind.
    pub fn dropped(&self) -> u64 {
        self.drops.get()
    }

    /// What the listeners want now.
    pub fn targets(&self) -> Targets {
        self.targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes what the listeners want (from the next caption on).
    pub fn set_targets(&self, targets: Targets) {
        *self.targets.lock().unwrap_or_else(PoisonError::into_inner) = targets;
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

/// Decoding and speech-to-text.
struct SttStage {
    session: Box<dyn dragoman_core::engine::SttSession>,
    decoder: OpusDecoder,
    /// The next expected sequence number.
    expected: Option<u16>,
    /// Samples decoded so far: the speaker's media time.
    position: u64,
    caption_id: u64,
    revision: u32,
    sink: EventSink,
    text: Sender<SourceCaption>,
    spoken: Option<Lang>,
    /// When recent audio was pushed: `(position after the push, wall clock)`, for the
    /// latency of finals.
    pushed: VecDeque<(u64, Instant)>,
    /// Packets the audio queue had shed when last reported.
    shed_reported: u64,
    compute: Arc<ComputeGate>,
}

/// The most queued packets pushed as one chunk (5 s of 20 ms packets): a pipeline further
/// behind catches up in several pushes, each decoding once.
const BATCH_MAX: usize = 250;

/// Pushes remembered for latency (10 s of 20 ms packets).
const PUSHES_KEPT: usize = 500;

/// The longest gap concealed; a longer one (a reconnect, a sequence reset) restarts the
/// timeline at the new packet without inventing seconds of audio.
const MAX_CONCEALED: u16 = 10;

impl SttStage {
    fn new(
        session: Box<dyn dragoman_core::engine::SttSession>,
        compute: Arc<ComputeGate>,
        options: PipelineOptions,
        sink: EventSink,
        text: Sender<SourceCaption>,
    ) -> Result<Self> {
        Ok(Self {
            session,
            decoder: OpusDecoder::new()?,
            expected: None,
            position: 0,
            caption_id: 0,
            revision: 0,
            sink,
            text,
            spoken: options.spoken,
            pushed: VecDeque::with_capacity(PUSHES_KEPT),
            shed_reported: 0,
            compute,
        })
    }

    fn run(
        &mut self,
        packets: &crate::queue::DropOldestReceiver<OpusPacket>,
        options: &PipelineOptions,
    ) {
        let rate = opus_rate();
        let mut idle_filled = Duration::ZERO;
        loop {
            match packets.recv_timeout(options.idle_flush) {
                Ok(Some(packet)) => {
                    idle_filled = Duration::ZERO;
                    // Computation-aware streaming: everything that queued while the last push
                    // was computed goes in as one chunk, so the session decodes once for all
                    // of it instead of falling further behind with a decode per packet.
                    let mut audio = Vec::new();
                    let waiting = std::iter::from_fn(|| packets.try_recv()).take(BATCH_MAX);
                    for packet in std::iter::once(packet).chain(waiting) {
                        match self.decode(&packet) {
                            Ok(samples) => audio.extend(samples),
                            Err(e) => self.report(Err(e), "stt"),
                        }
                    }
                    let pushed = self.push(audio);
                    self.report(pushed, "stt");
                }
                Ok(None) if idle_filled < options.max_idle_fill => {
                    idle_filled += options.idle_flush;
                    let silence = vec![0.0; rate.samples_in(options.idle_flush) as usize];
                    let pushed = self.push(silence);
                    self.report(pushed, "stt");
                }
                Ok(None) => {}
                Err(_) => break,
            }
            self.report_shed(packets.dropped());
        }
        self.report_shed(packets.dropped());
        let finished = self.session.finish().and_then(|()| self.drain());
        self.report(finished, "stt");
    }

    /// Tells the sink about packets the audio queue dropped since the last report (`shed` in
    /// all).
    fn report_shed(&mut self, shed: u64) {
        if shed > self.shed_reported {
            (self.sink)(PipelineEvent::AudioShed {
                packets: shed - self.shed_reported,
            });
            self.shed_reported = shed;
        }
    }

    /// The audio of `packet`, preceded by concealment for packets lost before it.
    fn decode(&mut self, packet: &OpusPacket) -> Result<Vec<f32>> {
        let gap = self
            .expected
            .map_or(0, |expected| packet.sequence.wrapping_sub(expected));
        // Behind what was played (reordered late, or a duplicate): too late to use.
        if gap > u16::MAX / 2 {
            return Ok(Vec::new());
        }
        self.expected = Some(packet.sequence.wrapping_add(1));
        // An empty payload (padding only) holds no frame, and nothing was lost.
        if packet.payload.is_empty() {
            return Ok(Vec::new());
        }
        let mut audio = if (1..=MAX_CONCEALED).contains(&gap) {
            self.decoder.conceal(usize::from(gap))?
        } else {
            Vec::new()
        };
        audio.extend(self.decoder.decode(&packet.payload)?);
        Ok(audio)
    }

    fn push(&mut self, audio: Vec<f32>) -> Result<()> {
        if audio.is_empty() {
            return Ok(());
        }
        let start = StreamTime::from_samples(self.position, opus_rate());
        self.position += audio.len() as u64;
        if self.pushed.len() == PUSHES_KEPT {
            self.pushed.pop_front();
        }
        self.pushed.push_back((self.position, Instant::now()));
        let chunk = AudioChunk::new(start, audio);
        let session = &mut self.session;
        self.compute
            .run(Priority::Stream, || session.push_audio(&chunk))?;
        self.drain()
    }

    /// Time since the audio up to media time `end` was pushed.
    fn since_pushed(&self, end: StreamTime) -> Option<Duration> {
        let end = end.as_duration().as_secs_f64() * f64::from(OPUS_RATE);
        self.pushed
            .iter()
            .find(|(position, _)| *position as f64 >= end)
            .map(|(_, at)| at.elapsed())
    }

    fn drain(&mut self) -> Result<()> {
        while let Some(event) = self.session.poll_event() {
            let (caption, lang, end) = match event {
                SttEvent::Partial {
                    text,
                    stable_prefix_len,
                    start,
                } => (
                    CaptionText {
                        caption_id: self.caption_id,
                        text,
                        stable_prefix_len,
                        is_final: false,
                        start,
                    },
                    self.spoken,
                    None,
                ),
                SttEvent::Final {
                    text,
                    start,
                    end,
                    lang,
                    ..
                } => (
                    CaptionText {
                        caption_id: self.caption_id,
                        stable_prefix_len: text.len(),
                        text,
                        is_final: true,
                        start,
                    },
                    Some(lang),
                    Some(end),
                ),
                _ => continue,
            };
            (self.sink)(PipelineEvent::Caption(TrackCaption {
                caption_id: caption.caption_id,
                revision: self.revision,
                lang,
                source_lang: lang,
                text: caption.text.clone(),
                is_final: caption.is_final,
                start: caption.start,
                end,
                refined: false,
            }));
            if let Some(elapsed) = end.and_then(|end| self.since_pushed(end)) {
                (self.sink)(PipelineEvent::Latency {
                    stage: "stt",
                    elapsed,
                });
            }
            if caption.is_final {
                self.caption_id += 1;
                self.revision = 0;
            } else {
                self.revision += 1;
            }
            if self.text.send(SourceCaption { caption, lang }).is_err() {
                return Err(Error::Internal("the translate thread stopped".into()));
            }
        }
        Ok(())
    }

    fn report(&self, result: Result<()>, stage: &'static str) {
        if let Err(e) = result {
            (self.sink)(PipelineEvent::Error {
                stage,
                message: e.to_string(),
            });
        }
    }
}

fn opus_rate() -> SampleRate {
    // 48 kHz is a valid rate; `new` only refuses zero.
    SampleRate::new(OPUS_RATE).unwrap_or(SampleRate::HZ_16000)
}

/// A translator's caption sessions, one per (spoken, caption) language pair, each started on
/// first use with the room's glossary.
struct Sessions {
    translator: Arc<dyn Translator>,
    glossary: Glossary,
    sessions: HashMap<(Lang, Lang), Box<dyn TranslationSession>>,
    /// Pairs the translator refused (reported once).
    refused: HashSet<(Lang, Lang)>,
}

impl Sessions {
    fn new(translator: Arc<dyn Translator>, glossary: Glossary) -> Self {
        Self {
            translator,
            glossary,
            sessions: HashMap::new(),
            refused: HashSet::new(),
        }
    }

    /// The session of `from` -> `to`; `None` when the translator refused the pair before
    /// (its error was returned then).
    fn get(&mut self, from: Lang, to: Lang) -> Result<Option<&mut Box<dyn TranslationSession>>> {
        if self.refused.contains(&(from, to)) {
            return Ok(None);
        }
        match self.sessions.entry((from, to)) {
            std::collections::hash_map::Entry::Occupied(e) => Ok(Some(e.into_mut())),
            std::collections::hash_map::Entry::Vacant(e) => {
                let mut options = TranslationOptions::new(from, to);
                options.glossary = self.glossary.clone();
                match self.translator.new_session(&options) {
                    Ok(session) => Ok(Some(e.insert(session))),
                    Err(err) => {
                        self.refused.insert((from, to));
                        Err(err)
                    }
                }
            }
        }
    }
}

/// Caption translation, one session per (spoken, caption) language pair.
struct TranslateStage {
    sessions: Sessions,
    compute: Arc<ComputeGate>,
    targets: Arc<Mutex<Targets>>,
    sink: EventSink,
    speech: Sender<(Lang, String)>,
    /// Finals for the refine stage, where there is a refiner.
    refine: Option<DropOldestSender<RefineJob>>,
}

impl TranslateStage {
    fn run(&mut self, captions: &Receiver<SourceCaption>) {
        while let Ok(first) = captions.recv() {
            // Everything queued meanwhile. While captions queue up, translation is behind:
            // every final is translated, but of the partials only the newest (the last in the
            // queue) is, so the stage catches up instead of translating text already stale.
            let mut batch = vec![first];
            batch.extend(captions.try_iter());
            let last = batch.len() - 1;
            for (i, source) in batch.iter().enumerate() {
                if source.caption.is_final || i == last {
                    self.translate_all(source);
                }
            }
        }
    }

    /// Translates one caption into every language someone wants.
    fn translate_all(&mut self, source: &SourceCaption) {
        let Some(from) = source.lang else { return };
        let targets = self
            .targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // Speech needs the translated final even where nobody reads that language.
        let langs: BTreeSet<Lang> = targets
            .captions
            .union(&targets.speech)
            .copied()
            .filter(|&to| to != from)
            .collect();
        for to in langs {
            if let Err(e) = self.translate(&source.caption, from, to, &targets) {
                (self.sink)(PipelineEvent::Error {
                    stage: "translate",
                    message: e.to_string(),
                });
            }
        }
    }

    fn translate(
        &mut self,
        caption: &CaptionText,
        from: Lang,
        to: Lang,
        targets: &Targets,
    ) -> Result<()> {
        let Some(session) = self.sessions.get(from, to)? else {
            return Ok(());
        };
        let started = Instant::now();
        // A final is waited for; a partial runs only if the gate is free at once, else it is
        // skipped (a newer revision or the final follows).
        if caption.is_final {
            self.compute
                .run(Priority::Final, || session.push_text(caption))?;
        } else if let Some(pushed) = self
            .compute
            .try_run(Priority::Partial, || session.push_text(caption))
        {
            pushed?;
        }
        while let Some(event) = session.poll_event() {
            if event.is_final {
                (self.sink)(PipelineEvent::Latency {
                    stage: "translate",
                    elapsed: started.elapsed(),
                });
            }
            if event.is_final && targets.speech.contains(&to) {
                self.speech
                    .send((to, event.text.clone()))
                    .map_err(|_| Error::Internal("the speak thread stopped".into()))?;
            }
            if targets.captions.contains(&to) {
                if let (true, Some(refine)) = (event.is_final, &self.refine) {
                    let job = RefineJob {
                        caption: caption.clone(),
                        from,
                        to,
                        revision: event.revision,
                        first: event.text.clone(),
                    };
                    // A gone receiver means the refine thread ended; its error was reported.
                    let _ = refine.push(job);
                }
                (self.sink)(PipelineEvent::Caption(TrackCaption {
                    caption_id: event.caption_id,
                    revision: event.revision,
                    lang: Some(to),
                    source_lang: Some(from),
                    text: event.text,
                    is_final: event.is_final,
                    start: caption.start,
                    end: None,
                    refined: false,
                }));
            }
        }
        Ok(())
    }
}

/// A final caption to translate again with the refiner.
struct RefineJob {
    caption: CaptionText,
    from: Lang,
    to: Lang,
    /// The revision of the first translation's final.
    revision: u32,
    /// The first translation.
    first: String,
}

/// Finals translated again by [`Engines::refiner`], one session per language pair (so the
/// refiner reads the speaker's previous finals too), each when no other model job runs
/// ([`Priority::Refine`]). A refined translation that differs from the first goes out as the
/// caption's next revision, final and [`TrackCaption::refined`]. Speech keeps the first
/// translation (it was spoken already). When the CPU has no lull for long, the oldest waiting
/// finals are dropped from the queue and reported; their first translation stands.
struct RefineStage {
    sessions: Sessions,
    compute: Arc<ComputeGate>,
    sink: EventSink,
    dropped_reported: u64,
}

impl RefineStage {
    fn run(&mut self, jobs: &DropOldestReceiver<RefineJob>) {
        loop {
            let job = match jobs.recv_timeout(Duration::from_secs(1)) {
                Ok(Some(job)) => job,
                Ok(None) => continue,
                Err(_) => break,
            };
            if let Err(e) = self.refine(&job) {
                (self.sink)(PipelineEvent::Error {
                    stage: "refine",
                    message: e.to_string(),
                });
            }
            let dropped = jobs.dropped();
            if dropped > self.dropped_reported {
                (self.sink)(PipelineEvent::Error {
                    stage: "refine",
                    message: format!(
                        "{} final captions kept their first translation: no lull to refine them",
                        dropped - self.dropped_reported
                    ),
                });
                self.dropped_reported = dropped;
            }
        }
    }

    fn refine(&mut self, job: &RefineJob) -> Result<()> {
        let Some(session) = self.sessions.get(job.from, job.to)? else {
            return Ok(());
        };
        self.compute
            .run(Priority::Refine, || session.push_text(&job.caption))?;
        while let Some(event) = session.poll_event() {
            if event.is_final && event.text.trim() != job.first.trim() {
                (self.sink)(PipelineEvent::Caption(TrackCaption {
                    caption_id: job.caption.caption_id,
                    revision: job.revision + 1,
                    lang: Some(job.to),
                    source_lang: Some(job.from),
                    text: event.text,
                    is_final: true,
                    start: job.caption.start,
                    end: None,
                    refined: true,
                }));
            }
        }
        Ok(())
    }
}

/// Text-to-speech and Opus encoding, one voice session per language.
struct SpeakStage {
    tts: Arc<dyn TextToSpeech>,
    compute: Arc<ComputeGate>,
    voices: HashMap<Lang, Box<dyn TtsSession>>,
    refused: HashSet<Lang>,
    sink: EventSink,
}

impl SpeakStage {
    fn run(&mut self, texts: &Receiver<(Lang, String)>) {
        while let Ok((lang, text)) = texts.recv() {
            if let Err(e) = self.speak(lang, &text) {
                (self.sink)(PipelineEvent::Error {
                    stage: "speak",
                    message: e.to_string(),
                });
            }
        }
    }

    fn speak(&mut self, lang: Lang, text: &str) -> Result<()> {
        if self.refused.contains(&lang) {
            return Ok(());
        }
        let session = match self.voices.entry(lang) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                match self.tts.new_session(&TtsOptions::new(lang)) {
                    Ok(session) => e.insert(session),
                    Err(err) => {
                        self.refused.insert(lang);
                        return Err(err);
                    }
                }
            }
        };
        let started = Instant::now();
        let mut encoder = OpusEncoder::new()?;
        let mut resampler: Option<StreamResampler> = None;
        // Each packet goes out as soon as the next one exists (the last is marked as such).
        let mut out = SpeechOut {
            lang,
            held: None,
            sink: &self.sink,
            started: Some(started),
        };
        // Sentence by sentence (each pushed with a space after it, which tells the session it
        // is complete), so each sentence's audio leaves before the next is synthesised. (A
        // full stop of an abbreviation splits a sentence in two here: it is then spoken as
        // two.)
        let pieces = sentences(text).into_iter().map(Some);
        for piece in pieces.chain([None]) {
            // Synthesis runs in the push.
            self.compute.run(Priority::Speech, || match piece {
                Some(sentence) => session.push_text(&format!("{sentence} ")),
                None => session.finish(),
            })?;
            while let Some(event) = session.poll_event() {
                let TtsEvent::Audio(chunk) = event else {
                    continue;
                };
                let to_48k = match &mut resampler {
                    Some(r) => r,
                    None => resampler.insert(StreamResampler::new(chunk.rate(), opus_rate())?),
                };
                let audio = to_48k.push(&chunk.samples)?;
                out.extend(encoder.encode(&audio)?);
            }
        }
        if let Some(mut r) = resampler {
            out.extend(encoder.encode(&r.finish()?)?);
        }
        out.extend(encoder.flush()?);
        out.close();
        Ok(())
    }
}

/// Translated speech packets on their way out, one held back so the last can be marked.
struct SpeechOut<'a> {
    lang: Lang,
    held: Option<Vec<u8>>,
    sink: &'a EventSink,
    /// When the text came; taken at the first packet.
    started: Option<Instant>,
}

impl SpeechOut<'_> {
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

    fn close(mut self) {
        if let Some(packet) = self.held.take() {
            self.send(packet, true);
        }
    }
}
