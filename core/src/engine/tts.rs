//! Text-to-speech: translated text in, speech out.

use crate::audio::AudioChunk;
use crate::error::Result;
use crate::lang::Lang;

/// A loaded speech synthesiser (a VITS voice, espeak-ng, ...), shared by every stream.
pub trait TextToSpeech: Send + Sync {
    /// The voices this engine offers.
    fn voices(&self) -> Vec<Voice>;

    /// Starts a stream. Fails with a list of the languages that have voices when
    /// `options.lang` has none.
    fn new_session(&self, options: &TtsOptions) -> Result<Box<dyn TtsSession>>;
}

/// Text being spoken, sentence by sentence, so the first audio comes out before the whole
/// paragraph is synthesised.
pub trait TtsSession: Send {
    /// Adds text. Complete sentences are synthesised; an unfinished one waits for more text or
    /// [`finish`](Self::finish).
    fn push_text(&mut self, text: &str) -> Result<()>;
    /// Synthesises whatever text is pending.
    fn finish(&mut self) -> Result<()>;
    /// The next event, or `None` until the next push.
    fn poll_event(&mut self) -> Option<TtsEvent>;
    /// Drops pending text and audio.
    fn reset(&mut self);
}

/// What a synthesis session reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TtsEvent {
    /// Synthesised audio; the chunk carries its sample rate and position in the output stream.
    Audio(AudioChunk),
    /// A sentence was fully spoken.
    SentenceEnd {
        /// The sentence as it was spoken (after normalisation).
        text: String,
    },
}

/// A voice a synthesiser offers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Voice {
    /// Identifier to select it with, e.g. `piper-en_US-joe-medium`.
    pub id: String,
    /// The language it speaks.
    pub lang: Lang,
    /// The engine behind it, e.g. `vits` or `espeak-ng`.
    pub engine: String,
}

/// Runtime options of a synthesis session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TtsOptions {
    /// Language to speak.
    pub lang: Lang,
    /// Voice id. Defaults to `None`: the best voice for `lang`.
    pub voice: Option<String>,
    /// Speaking rate, 1.0 is the voice's normal speed. Defaults to 1.0.
    pub speed: f32,
}

impl TtsOptions {
    /// Speak `lang` with the default voice at normal speed.
    pub fn new(lang: Lang) -> Self {
        Self {
            lang,
            voice: None,
            speed: 1.0,
        }
    }
}
