//! Machine translation: one-shot, and incremental for live captions.

use crate::audio::StreamTime;
use crate::error::Result;
use crate::glossary::Glossary;
use crate::lang::Lang;

/// A loaded translation model (Marian, NLLB, an LLM, ...), shared by every stream.
pub trait Translator: Send + Sync {
    /// Whether the model translates `from` into `to` (directly or by pivoting).
    fn supports(&self, from: Lang, to: Lang) -> bool;

    /// Translates whole sentences, one output per input, in order.
    fn translate(&self, texts: &[&str], from: Lang, to: Lang) -> Result<Vec<String>>;

    /// Starts an incremental caption translation from `options.from` to `options.to`.
    fn new_session(&self, options: &TranslationOptions) -> Result<Box<dyn TranslationSession>>;
}

/// Live captions of one speaker being translated into one language.
///
/// Push every caption update from speech-to-text; poll translated captions. A partial caption is
/// re-translated only when its committed text changed; a final one is always translated.
pub trait TranslationSession: Send {
    /// Adds a caption update.
    fn push_text(&mut self, caption: &CaptionText) -> Result<()>;
    /// Translates whatever is pending.
    fn finish(&mut self) -> Result<()>;
    /// The next translated caption, or `None` until the next push.
    fn poll_event(&mut self) -> Option<TranslationEvent>;
    /// Drops all state.
    fn reset(&mut self);
    /// Whether pushing `caption` needs no model work: its translation is known already (a
    /// final, or a partial's expected final, whose text was translated ahead as an earlier
    /// partial's expected final). A scheduler lets such a push through at once.
    fn translated_already(&self, caption: &CaptionText) -> bool {
        let _ = caption;
        false
    }
}

/// A caption in the source language, as speech-to-text produced it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaptionText {
    /// Identifies the utterance; updates of one utterance share it.
    pub caption_id: u64,
    /// The text so far.
    pub text: String,
    /// Length in bytes of the committed prefix (equals `text.len()` when `is_final`).
    pub stable_prefix_len: usize,
    /// Length in bytes of the prefix that will most likely be the final text (see
    /// [`SttEvent::Partial`](crate::engine::SttEvent::Partial)); `None` when none is expected
    /// yet, and for finals.
    #[serde(default)]
    pub expected_final_len: Option<usize>,
    /// Whether the utterance is finished.
    pub is_final: bool,
    /// Where the utterance started in the speaker's stream.
    pub start: StreamTime,
}

/// A translated caption. A UI replaces the caption with the same id and a lower revision.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct TranslationEvent {
    /// The `caption_id` of the source caption.
    pub caption_id: u64,
    /// Increases with every update of the same caption, starting at 0.
    pub revision: u32,
    /// The translation.
    pub text: String,
    /// Whether this is the last revision.
    pub is_final: bool,
    /// Target language.
    pub lang: Lang,
}

impl TranslationEvent {
    /// Revision `revision` of the translation of caption `caption_id` into `lang`.
    pub fn new(caption_id: u64, revision: u32, text: String, is_final: bool, lang: Lang) -> Self {
        Self {
            caption_id,
            revision,
            text,
            is_final,
            lang,
        }
    }
}

/// Runtime options of a caption translation session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TranslationOptions {
    /// Source language.
    pub from: Lang,
    /// Target language.
    pub to: Lang,
    /// A partial caption is re-translated once this many more whole words are committed (or
    /// its committed text ends a clause). Each translation of a partial delays the final's by
    /// its compute time, so translating every word costs latency where it matters most.
    /// Default 3.
    pub min_new_words: usize,
    /// A partial caption is translated only once it holds this many committed words. A
    /// shorter sentence is translated whole, as the text its partial expects to be final or
    /// as its final, within a second of its end: translating its first words too would keep
    /// the translator busy when that sentence ends (a translation is not interrupted).
    /// Default 8.
    pub min_partial_words: usize,
    /// Terms to keep or to translate a fixed way. Default: none.
    pub glossary: Glossary,
}

impl TranslationOptions {
    /// Translate captions from `from` into `to`.
    pub fn new(from: Lang, to: Lang) -> Self {
        Self {
            from,
            to,
            min_new_words: 3,
            min_partial_words: 8,
            glossary: Glossary::default(),
        }
    }
}
