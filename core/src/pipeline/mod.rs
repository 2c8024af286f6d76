//! The translation pipeline of one speaker, as a sans-IO session: audio in; captions (what was
//! said, and its translation into each language someone reads) and translated speech out.
//!
//! Four stages make it, each a state machine over the engine sessions it owns:
//!
//! ```text
//! audio -> Captioner (speech-to-text)  -> original captions; Translate(spoken caption)
//!       -> CaptionTranslator           -> translated captions; Speak(final translation);
//!                                         Refine(final, with a refiner)
//!       -> Speaker (text-to-speech)    -> translated speech, sentence by sentence
//!       -> Refiner (stronger model)    -> refined finals
//! ```
//!
//! Each stage hands on [`StageOutput`]s: events for the listeners, or work for the next stage.
//! The stages own what lies between the engines: caption ids and revisions, which languages
//! each caption is translated and spoken into, finals routed to speech and to the refiner, and
//! which stale partials are skipped. [`PipelineSession`] wires them together and runs all of
//! their work in the caller's thread (for one speaker in an app, a binding or an example); a
//! driver that wants the stages to overlap (the room: the next decode runs while the last
//! final is translated) runs each stage on a thread of its own and hands their outputs on the
//! same way. Either way, the stages decide what is computed; the driver only moves it.
//!
//! A panic in an engine session does not end the stage: it becomes an error event
//! ([`Error::EnginePanicked`](crate::Error::EnginePanicked)) and the stage starts a new
//! session for the next input (the captioner ends the utterance in progress with its last
//! partial, and keeps numbering captions and the media time).
//!
//! Every model job goes through the engines' [`Compute`] scheduler with its [`Priority`].
//! Media time is the speaker's, carried by the audio; nothing here reads a clock, spawns a
//! thread or touches the network.

mod captioner;
mod compute;
mod contain;
mod speaker;
mod started;
mod translation;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

pub use captioner::Captioner;
pub use compute::{
    Compute, Immediate, Job, Priority, Scheduled, can_pause, is_contended, pause_point,
    with_scheduler,
};
pub use contain::panic_message;
pub use speaker::Speaker;
pub use translation::{CaptionTranslator, RefineJob, Refiner};

use crate::audio::{AudioChunk, StreamTime};
use crate::engine::{CaptionText, SpeechToText, TextToSpeech, Translator};
use crate::error::Result;
use crate::glossary::Glossary;
use crate::lang::Lang;

/// The engines a pipeline runs. Models are shared (`Arc`): one copy serves every speaker;
/// each pipeline starts its own sessions. So is the scheduler their work passes through:
/// share one per process.
#[derive(Clone)]
pub struct Engines {
    /// Speech-to-text.
    pub stt: Arc<dyn SpeechToText>,
    /// Caption translation.
    pub translator: Arc<dyn Translator>,
    /// A stronger (slower) translator that translates final captions again; its translation
    /// replaces the first one ([`TrackCaption::refined`]).
    pub refiner: Option<Arc<dyn Translator>>,
    /// Text-to-speech.
    pub tts: Arc<dyn TextToSpeech>,
    /// Admission of model work.
    pub compute: Arc<dyn Compute>,
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engines")
            .field("refiner", &self.refiner.is_some())
            .finish_non_exhaustive()
    }
}

/// What the listeners of a speaker want.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// Languages to caption in (the spoken language needs no translation).
    pub captions: BTreeSet<Lang>,
    /// Languages to speak the translation in.
    pub speech: BTreeSet<Lang>,
}

/// Options of a pipeline session.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SessionOptions {
    /// The speaker's language. Defaults to `None`: detected per utterance (then only finals
    /// are translated, once their language is known).
    pub spoken: Option<Lang>,
    /// Terms the translations keep or translate a fixed way. Default: none.
    pub glossary: Glossary,
}

/// A caption of the speaker: what was said, or its translation.
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

/// A caption as speech-to-text produced it, on its way to translation.
#[derive(Debug, Clone, PartialEq)]
pub struct SpokenCaption {
    /// The caption.
    pub caption: CaptionText,
    /// The spoken language, when known.
    pub lang: Option<Lang>,
}

/// A final translation to be spoken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeechRequest {
    /// The language to speak it in.
    pub lang: Lang,
    /// What to say.
    pub text: String,
}

/// What a pipeline reports to its listeners.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A caption, original or translated.
    Caption(TrackCaption),
    /// Translated speech in `lang`, in the voice's own sample rate.
    Speech {
        /// Its language.
        lang: Lang,
        /// The audio.
        audio: AudioChunk,
    },
    /// The speech of one translated caption in `lang` is complete (a player may pause).
    SpeechEnd {
        /// Its language.
        lang: Lang,
    },
    /// A stage failed on some input and went on with the next.
    Error {
        /// Which stage: `stt`, `translate`, `refine` or `speak`.
        stage: &'static str,
        /// What failed.
        message: String,
    },
}

/// What a stage hands on: an event for the listeners, or work for another stage.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StageOutput {
    /// For the listeners.
    Event(SessionEvent),
    /// For the [`CaptionTranslator`].
    Translate(SpokenCaption),
    /// For the [`Speaker`].
    Speak(SpeechRequest),
    /// For the [`Refiner`].
    Refine(RefineJob),
}

/// Reports a stage's failure as an event, so the stage goes on with its next input.
fn report(outputs: &mut VecDeque<StageOutput>, stage: &'static str, result: Result<()>) {
    if let Err(e) = result {
        outputs.push_back(StageOutput::Event(SessionEvent::Error {
            stage,
            message: e.to_string(),
        }));
    }
}

/// One speaker's whole pipeline, run in the caller's thread: each push does the work it makes
/// necessary (decode, then translations, then speech, then refinements) before it returns.
///
/// ```no_run
/// # use dragoman_core::pipeline::{Engines, PipelineSession, SessionEvent, SessionOptions, Targets};
/// # use dragoman_core::{AudioChunk, Lang};
/// # fn run(engines: &Engines, chunks: Vec<AudioChunk>) -> dragoman_core::Result<()> {
/// let targets = Targets { captions: [Lang::DE].into(), speech: [Lang::DE].into() };
/// let mut session = PipelineSession::new(engines, &SessionOptions::default(), targets)?;
/// for chunk in &chunks {
///     session.push_audio(chunk);
///     while let Some(event) = session.poll_event() {
///         if let SessionEvent::Caption(c) = event {
///             println!("{:?}: {}", c.lang, c.text);
///         }
///     }
/// }
/// session.finish();
/// # Ok(()) }
/// ```
pub struct PipelineSession {
    captioner: Captioner,
    translator: CaptionTranslator,
    refiner: Option<Refiner>,
    speaker: Speaker,
    /// Work handed on and not yet done.
    to_translate: Vec<SpokenCaption>,
    to_refine: Vec<RefineJob>,
    events: VecDeque<SessionEvent>,
}

impl std::fmt::Debug for PipelineSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineSession")
            .field("targets", self.translator.targets())
            .finish_non_exhaustive()
    }
}

impl PipelineSession {
    /// Starts the sessions of `engines` for one speaker. Fails when speech-to-text refuses
    /// `options.spoken`.
    pub fn new(engines: &Engines, options: &SessionOptions, targets: Targets) -> Result<Self> {
        Ok(Self {
            captioner: Captioner::new(engines, options)?,
            translator: CaptionTranslator::new(engines, options, targets),
            refiner: Refiner::new(engines, options),
            speaker: Speaker::new(engines),
            to_translate: Vec::new(),
            to_refine: Vec::new(),
            events: VecDeque::new(),
        })
    }

    /// Adds the speaker's audio (mono, any rate; chunks contiguous) and does the work it
    /// brings.
    pub fn push_audio(&mut self, chunk: &AudioChunk) {
        self.captioner.push_audio(chunk);
        self.work();
    }

    /// Ends the audio: the utterance in progress becomes final, and its work is done.
    pub fn finish(&mut self) {
        self.captioner.finish();
        self.work();
    }

    /// Changes what the listeners want, from the next caption on.
    pub fn set_targets(&mut self, targets: Targets) {
        self.translator.set_targets(targets);
    }

    /// The next event, or `None` until the next push.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Runs the stages until none has work left.
    fn work(&mut self) {
        while let Some(output) = self.captioner.poll() {
            self.route(output);
        }
        self.translator.push(std::mem::take(&mut self.to_translate));
        while self.translator.step() {
            while let Some(output) = self.translator.poll() {
                self.route(output);
            }
        }
        while self.speaker.step() {
            while let Some(output) = self.speaker.poll() {
                self.route(output);
            }
        }
        if let Some(refiner) = &mut self.refiner {
            for job in std::mem::take(&mut self.to_refine) {
                refiner.push(&job);
            }
        }
        while let Some(output) = self.refiner.as_mut().and_then(Refiner::poll) {
            self.route(output);
        }
    }

    fn route(&mut self, output: StageOutput) {
        match output {
            StageOutput::Event(event) => self.events.push_back(event),
            StageOutput::Translate(caption) => self.to_translate.push(caption),
            StageOutput::Speak(request) => self.speaker.speak(request),
            StageOutput::Refine(job) => self.to_refine.push(job),
        }
    }
}
