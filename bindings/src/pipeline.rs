//! One speaker's whole translation pipeline.

use std::sync::Arc;
use std::time::Duration;

use dragoman_core::pipeline::{
    Engines, Immediate, PipelineSession, SessionEvent, SessionOptions, Targets,
};
use dragoman_core::{AudioChunk, Lang};

use crate::error::Result;
use crate::speech::Voice;
use crate::stream::LiveCaptioner;
use crate::translate::Translator;
use crate::worker::{AudioSession, Sink, Worker};

/// What the listeners of a [`Pipeline`] want.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PipelineOptions {
    /// The speaker's language (BCP 47), or `None` to detect it per utterance (then only
    /// finals are translated, once their language is known).
    #[uniffi(default = None)]
    pub spoken: Option<String>,
    /// Languages to caption in.
    #[uniffi(default = [])]
    pub captions: Vec<String>,
    /// Languages to speak the translation in.
    #[uniffi(default = [])]
    pub speech: Vec<String>,
}

/// What a [`Pipeline`] reports.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum PipelineEvent {
    /// A caption: what was said (`language` = `source_language`), or its translation. Each
    /// caption (`caption_id`) is revised until its final revision in each language.
    Caption {
        /// The utterance, numbered from 0.
        caption_id: u64,
        /// The update of this caption in this language, from 0.
        revision: u32,
        /// The caption's language; `None` for an original partial whose language is not
        /// detected yet.
        language: Option<String>,
        /// The spoken language, when known.
        source_language: Option<String>,
        /// The text.
        text: String,
        /// Whether this is the caption's last revision in this language.
        is_final: bool,
        /// Where the utterance starts, in seconds of the pushed audio.
        start: f64,
        /// Where it ends (finals of the original).
        end: Option<f64>,
    },
    /// Translated speech in `language`: mono samples (-1..1) at `sample_rate` Hz.
    Speech {
        /// Its language.
        language: String,
        /// The audio.
        samples: Vec<f32>,
        /// Its rate in Hz.
        sample_rate: u32,
    },
    /// The speech of one translated caption in `language` is complete.
    SpeechEnd {
        /// Its language.
        language: String,
    },
    /// A stage failed on some input (`stt`, `translate` or `speak`) and went on.
    Error {
        /// The stage.
        stage: String,
        /// What failed.
        message: String,
    },
}

impl PipelineEvent {
    fn of(event: SessionEvent) -> Option<Self> {
        Some(match event {
            SessionEvent::Caption(c) => Self::Caption {
                caption_id: c.caption_id,
                revision: c.revision,
                language: c.lang.map(|l| l.to_string()),
                source_language: c.source_lang.map(|l| l.to_string()),
                text: c.text,
                is_final: c.is_final,
                start: c.start.as_secs_f64(),
                end: c.end.map(|e| e.as_secs_f64()),
            },
            SessionEvent::Speech { lang, audio } => Self::Speech {
                language: lang.to_string(),
                sample_rate: audio.rate().hz(),
                samples: audio.samples,
            },
            SessionEvent::SpeechEnd { lang } => Self::SpeechEnd {
                language: lang.to_string(),
            },
            SessionEvent::Error { stage, message } => Self::Error {
                stage: stage.to_string(),
                message,
            },
            _ => return None,
        })
    }
}

/// Receives a [`Pipeline`]'s events as they come, instead of [`Pipeline::next_event`].
#[uniffi::export(with_foreign)]
pub trait PipelineListener: Send + Sync {
    /// An event (stage failures included); called on the pipeline's thread, so return quickly.
    fn on_event(&self, event: PipelineEvent);
}

/// One speaker's translation pipeline: push their audio; read the captions, the translations
/// into each language asked and the translated speech. The work (speech-to-text, then each
/// final's translations, then its speech) runs on the pipeline's own thread, in that order.
#[derive(uniffi::Object)]
pub struct Pipeline {
    worker: Worker<PipelineEvent>,
}

#[uniffi::export]
impl Pipeline {
    /// A pipeline over loaded engines (shared: several pipelines may use the same ones). With
    /// a `listener`, events go to it as they come (and [`Self::next_event`] has none).
    #[uniffi::constructor(default(listener = None))]
    pub fn new(
        captioner: Arc<LiveCaptioner>,
        translator: Arc<Translator>,
        voice: Arc<Voice>,
        options: PipelineOptions,
        listener: Option<Arc<dyn PipelineListener>>,
    ) -> Result<Arc<Self>> {
        let engines = Engines {
            stt: captioner.engine.clone(),
            translator: translator.engine.clone(),
            refiner: None,
            tts: voice.engine.clone(),
            // One pipeline on one thread: each job runs when its turn comes.
            compute: Arc::new(Immediate),
        };
        let langs = |codes: &[String]| {
            codes
                .iter()
                .map(|c| Lang::parse(c))
                .collect::<dragoman_core::Result<_>>()
        };
        let targets = Targets {
            captions: langs(&options.captions)?,
            speech: langs(&options.speech)?,
        };
        let mut session_options = SessionOptions::default();
        session_options.spoken = options.spoken.as_deref().map(Lang::parse).transpose()?;
        let session = PipelineSession::new(&engines, &session_options, targets)?;
        Ok(Arc::new(Self {
            worker: Worker::start("dragoman-pipeline", Stages(session), sink(listener))?,
        }))
    }

    /// Adds the speaker's mono samples (-1..1) at `sample_rate` Hz, contiguous with the
    /// previous push; every push of a pipeline has the same rate.
    pub fn push_pcm(&self, samples: Vec<f32>, sample_rate: u32) -> Result<()> {
        self.worker.push(samples, sample_rate)
    }

    /// Ends the audio: the utterance in progress becomes final, and its work is done.
    pub fn finish(&self) -> Result<()> {
        self.worker.finish()
    }

    /// The next event, waiting up to `timeout_ms`; `None` when none came in time, or when the
    /// pipeline is [`done`](Self::is_done).
    #[uniffi::method(default(timeout_ms = 1000))]
    pub fn next_event(&self, timeout_ms: u32) -> Result<Option<PipelineEvent>> {
        self.worker
            .next(Duration::from_millis(u64::from(timeout_ms)))
    }

    /// Whether the pipeline was finished and every event read.
    pub fn is_done(&self) -> bool {
        self.worker.done()
    }
}

/// The worker's sink for `listener`, or the queue without one. The pipeline reports its
/// stages' failures as events, so an error here (a bug) becomes one too.
fn sink(listener: Option<Arc<dyn PipelineListener>>) -> Sink<PipelineEvent> {
    match listener {
        None => Sink::Queue,
        Some(listener) => Sink::Listener(Box::new(move |event| {
            listener.on_event(event.unwrap_or_else(|e| PipelineEvent::Error {
                stage: "pipeline".into(),
                message: e.to_string(),
            }))
        })),
    }
}

/// A pipeline session as the worker drives it.
struct Stages(PipelineSession);

impl AudioSession for Stages {
    type Event = PipelineEvent;

    fn push_audio(&mut self, chunk: &AudioChunk) -> dragoman_core::Result<()> {
        self.0.push_audio(chunk);
        Ok(())
    }

    fn finish(&mut self) -> dragoman_core::Result<()> {
        self.0.finish();
        Ok(())
    }

    fn poll(&mut self) -> Option<PipelineEvent> {
        std::iter::from_fn(|| self.0.poll_event()).find_map(PipelineEvent::of)
    }
}
