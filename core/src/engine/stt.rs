//! Speech-to-text: audio in, captions out.

use crate::audio::{AudioChunk, StreamTime};
use crate::error::Result;
use crate::lang::Lang;

/// A loaded speech-to-text model (Whisper, ...), shared by every stream.
pub trait SpeechToText: Send + Sync {
    /// Languages the model can transcribe.
    fn languages(&self) -> Vec<Lang>;

    /// Starts a stream. Fails if `options` ask for something the model cannot do (a language it
    /// does not know, translation on an English-only model).
    fn new_session(&self, options: &SttOptions) -> Result<Box<dyn SttSession>>;
}

/// One audio stream being transcribed.
///
/// Feed mono chunks at the model's rate (16 kHz for Whisper) with [`push_audio`](Self::push_audio),
/// then drain [`poll_event`](Self::poll_event) until `None`. Committed text is never taken back:
/// a later `Partial` extends the stable prefix of an earlier one or a `Final` closes it.
pub trait SttSession: Send {
    /// Adds audio. Chunks must be contiguous: `chunk.start` equals the end of the previous chunk.
    fn push_audio(&mut self, chunk: &AudioChunk) -> Result<()>;
    /// Marks the end of the stream: pending speech is transcribed and finalised.
    fn finish(&mut self) -> Result<()>;
    /// The next event, or `None` when there is nothing more until the next push.
    fn poll_event(&mut self) -> Option<SttEvent>;
    /// Drops all state and starts a new stream at time zero.
    fn reset(&mut self);
}

/// What a speech-to-text session reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SttEvent {
    /// The utterance so far. `text[..stable_prefix_len]` (bytes, on a char boundary) is committed
    /// and will not change; the rest may still be rewritten.
    Partial {
        /// The whole hypothesis.
        text: String,
        /// Length in bytes of the committed prefix.
        stable_prefix_len: usize,
        /// Length in bytes of the text that will most likely be the utterance's final: a
        /// sentence that ended in the uncommitted words, which the next decode confirms or
        /// not. A translator can start on it now, so its translation is ready with the final.
        expected_final_len: Option<usize>,
        /// Where the utterance started.
        start: StreamTime,
    },
    /// A finished utterance.
    Final {
        /// The final text.
        text: String,
        /// Where the utterance started.
        start: StreamTime,
        /// Where it ended.
        end: StreamTime,
        /// The language it was transcribed in (detected or given).
        lang: Lang,
        /// Probability of `lang` when it was detected; `None` when it was given.
        lang_probability: Option<f32>,
    },
}

impl SttEvent {
    /// A partial's `text` split at `stable_prefix_len`: the committed words, and the rest that
    /// may still change (all of it, should the length not fall on a char boundary).
    pub fn split_stable(text: &str, stable_prefix_len: usize) -> (&str, &str) {
        let split = text
            .get(..stable_prefix_len)
            .map_or(0, |_| stable_prefix_len);
        text.split_at(split)
    }
}

/// What the model should do with the speech.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SttTask {
    /// Write down what was said, in the language it was said in.
    #[default]
    Transcribe,
    /// Write it down in English (Whisper's own speech translation).
    TranslateToEnglish,
}

/// Runtime options of a speech-to-text session.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SttOptions {
    /// The spoken language. Defaults to `None`: detect it per utterance.
    pub language: Option<Lang>,
    /// What to produce. Defaults to [`SttTask::Transcribe`].
    pub task: SttTask,
}

#[cfg(test)]
mod tests {
    use super::SttEvent;

    #[test]
    fn a_partial_splits_at_its_stable_prefix_and_never_inside_a_char() {
        assert_eq!(
            SttEvent::split_stable("Xin chào bạn", 10),
            ("Xin chào ", "bạn")
        );
        // Byte 7 falls inside "à": nothing is stable rather than a broken char.
        assert_eq!(SttEvent::split_stable("Xin chào", 7), ("", "Xin chào"));
        assert_eq!(SttEvent::split_stable("done", 4), ("done", ""));
    }
}
