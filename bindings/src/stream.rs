//! Live captions of pushed audio.

use std::sync::Arc;
use std::time::Duration;

use dragoman_core::engine::{SpeechToText, SttEvent, SttOptions, SttSession};
use dragoman_core::{AudioChunk, Lang};
use dragoman_stt::stream::WhisperStt;

use crate::error::Result;
use crate::models::ModelStore;
use crate::worker::{AudioSession, Sink, Worker};

/// A caption of live speech.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum CaptionEvent {
    /// The utterance so far: `stable` will not change, `unstable` may still be rewritten.
    Partial {
        /// The whole text so far (`stable` + `unstable`).
        text: String,
        /// The committed words.
        stable: String,
        /// The words that may change.
        unstable: String,
        /// Where the utterance starts, in seconds of the pushed audio.
        start: f64,
    },
    /// A finished utterance: its text will not change.
    Final {
        /// What was said.
        text: String,
        /// Where it starts, in seconds of the pushed audio.
        start: f64,
        /// Where it ends.
        end: f64,
        /// The language it was transcribed in (BCP 47 code).
        language: String,
        /// Probability of the language when it was detected; `None` when it was given.
        language_probability: Option<f32>,
    },
}

impl CaptionEvent {
    /// The caption of a speech-to-text event; `None` for events captions do not show.
    fn of(event: SttEvent) -> Option<Self> {
        Some(match event {
            SttEvent::Partial {
                text,
                stable_prefix_len,
                start,
                ..
            } => {
                let (stable, unstable) = SttEvent::split_stable(&text, stable_prefix_len);
                Self::Partial {
                    stable: stable.to_string(),
                    unstable: unstable.to_string(),
                    text,
                    start: start.as_secs_f64(),
                }
            }
            SttEvent::Final {
                text,
                start,
                end,
                lang,
                lang_probability,
            } => Self::Final {
                text,
                start: start.as_secs_f64(),
                end: end.as_secs_f64(),
                language: lang.to_string(),
                language_probability: lang_probability,
            },
            _ => return None,
        })
    }
}

/// Receives a [`CaptionSession`]'s captions as they come, instead of
/// [`CaptionSession::next_event`].
#[uniffi::export(with_foreign)]
pub trait CaptionListener: Send + Sync {
    /// A caption; called on the session's thread, so return quickly.
    fn on_caption(&self, event: CaptionEvent);
    /// Speech-to-text failed on some audio (the message says why); the session goes on.
    fn on_error(&self, message: String);
}

/// The worker's sink for `listener`, or the queue without one.
fn sink(listener: Option<Arc<dyn CaptionListener>>) -> Sink<CaptionEvent> {
    match listener {
        None => Sink::Queue,
        Some(listener) => Sink::Listener(Box::new(move |event| match event {
            Ok(caption) => listener.on_caption(caption),
            Err(e) => listener.on_error(e.to_string()),
        })),
    }
}

/// Live speech-to-text (Whisper base in 8 bits with Silero VAD, as the call server runs it):
/// load once, then open a [`CaptionSession`] per audio stream.
#[derive(uniffi::Object)]
pub struct LiveCaptioner {
    pub(crate) engine: Arc<WhisperStt>,
}

#[uniffi::export]
impl LiveCaptioner {
    /// Loads the live models from `store` (`whisper-base`, `silero-vad`).
    #[uniffi::constructor]
    pub fn new(store: Arc<ModelStore>) -> Result<Arc<Self>> {
        Ok(Arc::new(Self {
            engine: Arc::new(dragoman_engines::live_stt(&store.inner)?),
        }))
    }

    /// A new stream of speech in `language` (a BCP 47 code), or in any language Whisper
    /// detects when it is `None`. With a `listener`, captions go to it as they come (and
    /// [`CaptionSession::next_event`] has none).
    #[uniffi::method(default(language = None, listener = None))]
    pub fn session(
        &self,
        language: Option<String>,
        listener: Option<Arc<dyn CaptionListener>>,
    ) -> Result<Arc<CaptionSession>> {
        let mut options = SttOptions::default();
        options.language = language.as_deref().map(Lang::parse).transpose()?;
        let session = Captions(self.engine.new_session(&options)?);
        Ok(Arc::new(CaptionSession {
            worker: Worker::start("dragoman-captions", session, sink(listener))?,
        }))
    }
}

/// One stream of live captions. Push audio as it comes (a push returns at once; the model
/// work runs on the session's own thread) and read the captions with [`Self::next_event`].
#[derive(uniffi::Object)]
pub struct CaptionSession {
    worker: Worker<CaptionEvent>,
}

#[uniffi::export]
impl CaptionSession {
    /// Adds mono samples (-1..1) at `sample_rate` Hz, contiguous with the previous push; every
    /// push of a session has the same rate.
    pub fn push_pcm(&self, samples: Vec<f32>, sample_rate: u32) -> Result<()> {
        self.worker.push(samples, sample_rate)
    }

    /// Ends the audio: the utterance in progress becomes final.
    pub fn finish(&self) -> Result<()> {
        self.worker.finish()
    }

    /// The next caption, waiting up to `timeout_ms`; `None` when none came in time, or when
    /// the session is [`done`](Self::is_done).
    #[uniffi::method(default(timeout_ms = 1000))]
    pub fn next_event(&self, timeout_ms: u32) -> Result<Option<CaptionEvent>> {
        self.worker
            .next(Duration::from_millis(u64::from(timeout_ms)))
    }

    /// Whether the session was finished and every caption read.
    pub fn is_done(&self) -> bool {
        self.worker.done()
    }
}

/// A speech-to-text session as the worker drives it.
struct Captions(Box<dyn SttSession>);

impl AudioSession for Captions {
    type Event = CaptionEvent;

    fn push_audio(&mut self, chunk: &AudioChunk) -> dragoman_core::Result<()> {
        self.0.push_audio(chunk)
    }

    fn finish(&mut self) -> dragoman_core::Result<()> {
        self.0.finish()
    }

    fn poll(&mut self) -> Option<CaptionEvent> {
        std::iter::from_fn(|| self.0.poll_event()).find_map(CaptionEvent::of)
    }
}
