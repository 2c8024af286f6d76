//! The translation engine: text in, text out, over one or more loaded models.
//!
//! Models translate sentences ([`SentenceTranslator`]); the engine does what every model needs
//! around that: splitting text into sentences (and sentences too long for a model into
//! clauses, then word runs — never truncating), routing each language pair to a model that has
//! it or pivoting through English (vi → en → de when no model does vi → de), and incremental
//! translation of live captions ([`CaptionTranslation`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use dragoman_core::engine::{
    CaptionText, TranslationEvent, TranslationOptions, TranslationSession, Translator,
};
use dragoman_core::text::sentences;
use dragoman_core::{Error, Glossary, Lang, Result};

use unicode_normalization::UnicodeNormalization;

use crate::cache::{CacheKey, TranslationCache};

/// A loaded model that translates sentences.
pub trait SentenceTranslator: Send + Sync {
    /// Catalog id (or a name the app chose).
    fn id(&self) -> &str;
    /// Whether the model translates `from` into `to` directly.
    fn supports(&self, from: Lang, to: Lang) -> bool;
    /// The pairs it translates, for error messages.
    fn pairs(&self) -> String;
    /// Longest sentence, in the model's source tokens, it takes in one piece.
    fn max_sentence_tokens(&self) -> usize;
    /// How many source tokens `text` takes.
    fn count_tokens(&self, text: &str, from: Lang) -> Result<usize>;
    /// Translates sentences (each within [`max_sentence_tokens`](Self::max_sentence_tokens)),
    /// one output per input, in order. `context` holds what came just before (a model that
    /// reads context sees it, and each sentence's predecessors in `sentences`; others ignore
    /// it).
    fn translate_sentences(
        &self,
        sentences: &[&str],
        from: Lang,
        to: Lang,
        context: &Context,
    ) -> Result<Vec<String>>;
}

/// The sentences translated just before (of the same speaker or document) with their
/// translations, oldest first: an instruct LLM reads them as earlier turns of the conversation,
/// so pronouns, names and terms stay consistent from sentence to sentence. (Base models and
/// encoder-decoder models do without.)
///
/// The window slides in jumps: it grows to [`Context::MAX_TURNS`] and then restarts from the
/// last [`Context::KEEP_TURNS`], so that successive prompts share their beginning and an LLM's
/// prompt cache computes only what is new.
/// It also carries the [`Glossary`] of the speaker's room or the document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    turns: Vec<(String, String)>,
    glossary: Arc<Glossary>,
}

impl Context {
    /// Most turns kept.
    pub const MAX_TURNS: usize = 4;
    /// Turns kept when the window restarts.
    pub const KEEP_TURNS: usize = 1;

    /// Adds a translated sentence (or caption).
    pub fn push(&mut self, source: impl Into<String>, translation: impl Into<String>) {
        let (source, translation) = (source.into(), translation.into());
        if source.trim().is_empty() || translation.trim().is_empty() {
            return;
        }
        self.turns.push((source, translation));
        if self.turns.len() > Self::MAX_TURNS {
            self.turns.drain(..self.turns.len() - Self::KEEP_TURNS);
        }
    }

    /// The (source, translation) turns, oldest first.
    pub fn turns(&self) -> &[(String, String)] {
        &self.turns
    }

    /// The same context with `glossary`.
    pub fn with_glossary(mut self, glossary: Glossary) -> Self {
        self.glossary = Arc::new(glossary);
        self
    }

    /// The terms to keep or to translate a fixed way.
    pub fn glossary(&self) -> &Glossary {
        &self.glossary
    }

    /// The same glossary without the turns (a fresh start).
    pub fn without_turns(&self) -> Self {
        Self {
            turns: Vec::new(),
            glossary: self.glossary.clone(),
        }
    }
}

/// Translates with the first model that has the pair, or through English.
#[derive(Clone)]
pub struct TranslationEngine {
    models: Arc<Vec<Arc<dyn SentenceTranslator>>>,
    cache: Option<Arc<dyn TranslationCache>>,
}

impl std::fmt::Debug for TranslationEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.models.iter().map(|m| m.id()).collect();
        f.debug_struct("TranslationEngine")
            .field("models", &ids)
            .finish()
    }
}

/// One hop of a route: a model and the pair it translates.
type Hop = (Arc<dyn SentenceTranslator>, Lang, Lang);

impl TranslationEngine {
    /// An engine over `models`, preferred in the order given.
    pub fn new(models: Vec<Arc<dyn SentenceTranslator>>) -> Self {
        Self {
            models: Arc::new(models),
            cache: None,
        }
    }

    /// Looks sentences up in `cache` before translating them, and stores new translations.
    pub fn with_cache(mut self, cache: Arc<dyn TranslationCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// One hop: `sentences` through `model`, from the cache where it has them.
    fn translate_hop(
        &self,
        model: &dyn SentenceTranslator,
        sentences: &[String],
        from: Lang,
        to: Lang,
        context: &Context,
    ) -> Result<Vec<String>> {
        let Some(cache) = &self.cache else {
            let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
            return model.translate_sentences(&refs, from, to, context);
        };
        let key = |s: &str| CacheKey::new(model.id(), from, to, s);
        let mut out: Vec<Option<String>> = sentences.iter().map(|s| cache.get(&key(s))).collect();
        let missing: Vec<usize> = (0..sentences.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let refs: Vec<&str> = missing.iter().map(|&i| sentences[i].as_str()).collect();
            let translated = model.translate_sentences(&refs, from, to, context)?;
            for (&i, text) in missing.iter().zip(translated) {
                cache.put(key(&sentences[i]), text.clone());
                out[i] = Some(text);
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }

    fn direct(&self, from: Lang, to: Lang) -> Option<Arc<dyn SentenceTranslator>> {
        self.models.iter().find(|m| m.supports(from, to)).cloned()
    }

    /// The models and pairs that take `from` to `to`: one hop, or two through English.
    fn route(&self, from: Lang, to: Lang) -> Result<Vec<Hop>> {
        if let Some(model) = self.direct(from, to) {
            return Ok(vec![(model, from, to)]);
        }
        if from != Lang::EN
            && to != Lang::EN
            && let (Some(a), Some(b)) = (self.direct(from, Lang::EN), self.direct(Lang::EN, to))
        {
            return Ok(vec![(a, from, Lang::EN), (b, Lang::EN, to)]);
        }
        let supported: Vec<String> = self
            .models
            .iter()
            .map(|m| format!("{}: {}", m.id(), m.pairs()))
            .collect();
        Err(Error::UnsupportedLanguagePair {
            from: from.code().to_string(),
            to: format!(
                "{} (supported: {}; pairs through English are combined)",
                to.code(),
                if supported.is_empty() {
                    "no model loaded".to_string()
                } else {
                    supported.join("; ")
                }
            ),
        })
    }

    /// Translates one piece of text (any number of sentences).
    pub fn translate_text(&self, text: &str, from: Lang, to: Lang) -> Result<String> {
        self.translate_in_context(text, from, to, &Context::default())
    }

    /// [`Self::translate_text`] after the sentences of `context` (of the same speaker or
    /// document). Context is used where one model translates the pair directly.
    pub fn translate_in_context(
        &self,
        text: &str,
        from: Lang,
        to: Lang,
        context: &Context,
    ) -> Result<String> {
        Ok(self
            .translate_many(&[text], from, to, context)?
            .pop()
            .unwrap_or_default())
    }

    fn translate_many(
        &self,
        texts: &[&str],
        from: Lang,
        to: Lang,
        context: &Context,
    ) -> Result<Vec<String>> {
        let route = self.route(from, to)?;
        let none = Context::default();
        let context = if route.len() == 1 { context } else { &none };
        // Composed characters: text from files and web pages may spell "ệ" as e + two
        // combining marks, which models (and the sentence splitter) never saw in training.
        let mut current: Vec<String> = texts.iter().map(|t| t.nfc().collect()).collect();
        for (model, a, b) in route {
            // Every text's sentences in one list, so the model batches across texts.
            let mut pieces: Vec<String> = Vec::new();
            let mut counts = Vec::with_capacity(current.len());
            for text in &current {
                let parts = split_for(model.as_ref(), text, a)?;
                counts.push(parts.len());
                pieces.extend(parts);
            }
            let translated = if pieces.is_empty() {
                Vec::new()
            } else {
                self.translate_hop(model.as_ref(), &pieces, a, b, context)?
            };
            let mut it = translated.into_iter();
            current = counts
                .iter()
                .map(|&n| join(it.by_ref().take(n).collect(), b))
                .collect();
        }
        Ok(current)
    }
}

impl Translator for TranslationEngine {
    fn supports(&self, from: Lang, to: Lang) -> bool {
        self.route(from, to).is_ok()
    }

    fn translate(&self, texts: &[&str], from: Lang, to: Lang) -> Result<Vec<String>> {
        self.translate_many(texts, from, to, &Context::default())
    }

    fn new_session(&self, options: &TranslationOptions) -> Result<Box<dyn TranslationSession>> {
        self.route(options.from, options.to)?;
        Ok(Box::new(CaptionTranslation {
            engine: self.clone(),
            from: options.from,
            to: options.to,
            min_new_words: options.min_new_words.max(1),
            min_partial_words: options.min_partial_words,
            captions: HashMap::new(),
            context: Context::default().with_glossary(options.glossary.clone()),
            events: VecDeque::new(),
        }))
    }
}

/// Sentences of `text`, each short enough for `model` (long ones split at clauses, then words).
fn split_for(model: &dyn SentenceTranslator, text: &str, from: Lang) -> Result<Vec<String>> {
    let limit = model.max_sentence_tokens();
    let mut out = Vec::new();
    for sentence in sentences(text) {
        if model.count_tokens(sentence, from)? <= limit {
            out.push(sentence.to_string());
            continue;
        }
        // Pack clauses, and words of clauses that are themselves too long, under the limit.
        let mut current = String::new();
        for word in sentence.split_whitespace() {
            let candidate = if current.is_empty() {
                word.to_string()
            } else {
                format!("{current} {word}")
            };
            if model.count_tokens(&candidate, from)? > limit && !current.is_empty() {
                out.push(std::mem::take(&mut current));
                current = word.to_string();
            } else {
                current = candidate;
            }
            let clause_end = word.ends_with([',', ';', ':']);
            if clause_end && model.count_tokens(&current, from)? * 2 > limit {
                out.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
    }
    Ok(out)
}

/// Joins translated sentences: with spaces, except in languages written without them.
fn join(sentences: Vec<String>, lang: Lang) -> String {
    let separator = if matches!(lang.code(), "zh" | "ja" | "th" | "lo" | "km" | "my" | "yue") {
        ""
    } else {
        " "
    };
    sentences
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(separator)
}

/// Longest phrase, in tokens, the repetition guard looks for.
pub const MAX_REPEATED_PHRASE: usize = 16;

/// Repetition guard: cuts a generated sequence at the third consecutive repeat of any phrase
/// of 2 to [`MAX_REPEATED_PHRASE`] tokens, or the eighth of a single token, the loop small
/// models fall into on unusual input ("oder zu schlafen oder zu trüben oder zu kühn oder zu
/// schlafen ..."). A single token gets more room because tokenizers that split numbers into
/// digits (Qwen, Llama 3) write "555-0199" or "1000000" as runs of one token.
pub fn trim_repetition(tokens: &[u32]) -> Vec<u32> {
    for end in 1..=tokens.len() {
        for n in 1..=MAX_REPEATED_PHRASE {
            let repeats = if n == 1 { 8 } else { 3 };
            if end < repeats * n {
                continue;
            }
            let last = &tokens[end - n..end];
            // A run of one token is the single-token case, whatever its length.
            if n > 1 && last.iter().all(|t| *t == last[0]) {
                continue;
            }
            if (2..=repeats).all(|r| tokens[end - r * n..end - (r - 1) * n] == *last) {
                return tokens[..end - (repeats - 1) * n].to_vec();
            }
        }
    }
    tokens.to_vec()
}

/// Per-caption state of a [`CaptionTranslation`].
#[derive(Debug, Default)]
struct CaptionState {
    /// Source text last translated.
    translated: String,
    /// Revision of the last event sent.
    revision: Option<u32>,
    /// The text expected to be the final (see [`CaptionText::expected_final_len`]) and its
    /// translation, made ahead so that the final, when it says the same, needs no model run.
    expected: Option<(String, String)>,
}

/// Incremental caption translation (sans-IO): translates a partial caption once it holds
/// [`TranslationOptions::min_partial_words`] committed words and re-translates it only when
/// enough were added (see [`TranslationOptions::min_new_words`]) or a clause ended,
/// always translates the final, and numbers revisions per caption so a UI replaces a partial
/// translation in place. Each caption is translated after the speaker's last finals
/// ([`Context`]).
///
/// A partial that says which of its words will probably be final
/// ([`CaptionText::expected_final_len`]) has those translated at once, as the final would be
/// (same context, same glossary): when the final comes with the same text, its translation is
/// that one, without a model run, so the translated caption follows the original at once.
pub struct CaptionTranslation {
    engine: TranslationEngine,
    from: Lang,
    to: Lang,
    min_new_words: usize,
    min_partial_words: usize,
    captions: HashMap<u64, CaptionState>,
    /// The speaker's last final captions and their translations.
    context: Context,
    events: VecDeque<TranslationEvent>,
}

/// The first `len` bytes of `caption`'s text, which it expects to be final.
fn expected_text(caption: &CaptionText, len: usize) -> &str {
    caption.text.get(..len).unwrap_or_default().trim()
}

impl CaptionTranslation {
    /// The translation of `source` made ahead for caption `caption_id`, if it was.
    fn known(&self, caption_id: u64, source: &str) -> Option<&str> {
        let (expected, translation) = self.captions.get(&caption_id)?.expected.as_ref()?;
        (expected == source).then_some(translation.as_str())
    }

    /// Translates the words of `caption` expected to be final, unless done already.
    fn translate_expected(&mut self, caption: &CaptionText, len: usize) -> Result<()> {
        let expected = expected_text(caption, len);
        if expected.is_empty() || self.known(caption.caption_id, expected).is_some() {
            return Ok(());
        }
        let text = self.emit(caption.caption_id, expected.to_string(), false)?;
        if let Some(state) = self.captions.get_mut(&caption.caption_id) {
            state.expected = Some((expected.to_string(), text));
        }
        Ok(())
    }

    /// Translates `source` (or takes its translation made ahead) and queues the event; returns
    /// the translation.
    fn emit(&mut self, caption_id: u64, source: String, is_final: bool) -> Result<String> {
        let known = is_final
            .then(|| self.known(caption_id, &source))
            .flatten()
            .map(str::to_string);
        let text = match known {
            Some(text) => text,
            None => self
                .engine
                .translate_in_context(&source, self.from, self.to, &self.context)?,
        };
        if is_final {
            self.context.push(source.as_str(), text.as_str());
        }
        let state = self.captions.entry(caption_id).or_default();
        let revision = state.revision.map_or(0, |r| r + 1);
        state.revision = Some(revision);
        state.translated = source;
        self.events.push_back(TranslationEvent::new(
            caption_id,
            revision,
            text.clone(),
            is_final,
            self.to,
        ));
        if is_final {
            self.captions.remove(&caption_id);
        }
        Ok(text)
    }
}

impl TranslationSession for CaptionTranslation {
    fn push_text(&mut self, caption: &CaptionText) -> Result<()> {
        if caption.is_final {
            return self
                .emit(caption.caption_id, caption.text.trim().to_string(), true)
                .map(drop);
        }
        if let Some(len) = caption.expected_final_len {
            return self.translate_expected(caption, len);
        }
        let stable = caption
            .text
            .get(..caption.stable_prefix_len.min(caption.text.len()))
            .ok_or_else(|| {
                Error::Misuse(format!(
                    "stable_prefix_len {} is not on a character boundary of {:?}",
                    caption.stable_prefix_len, caption.text
                ))
            })?;
        // Whole committed words only: a word still being spoken is not translated.
        let words = match stable.rfind(char::is_whitespace) {
            Some(i) if !stable.ends_with(char::is_whitespace) => &stable[..i],
            _ => stable,
        }
        .trim();
        let previous = self
            .captions
            .get(&caption.caption_id)
            .map_or("", |s| s.translated.as_str());
        if words.split_whitespace().count() < self.min_partial_words || words == previous {
            return Ok(());
        }
        // Debounce: wait for a few more words, unless a clause just ended.
        let grown = words
            .split_whitespace()
            .count()
            .saturating_sub(previous.split_whitespace().count());
        let clause_end = words.ends_with([',', ';', ':', '.', '!', '?', '…', '。', '，']);
        if grown < self.min_new_words && !clause_end && words.starts_with(previous) {
            return Ok(());
        }
        self.emit(caption.caption_id, words.to_string(), false)
            .map(drop)
    }

    fn translated_already(&self, caption: &CaptionText) -> bool {
        let source = match caption.expected_final_len {
            _ if caption.is_final => caption.text.trim(),
            Some(len) => expected_text(caption, len),
            None => return false,
        };
        self.known(caption.caption_id, source).is_some()
    }

    fn finish(&mut self) -> Result<()> {
        // Translation happens on push; nothing is held back.
        Ok(())
    }

    fn poll_event(&mut self) -> Option<TranslationEvent> {
        self.events.pop_front()
    }

    fn reset(&mut self) {
        self.captions.clear();
        self.context = self.context.without_turns();
        self.events.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_repetition_loops() {
        assert_eq!(
            trim_repetition(&[1, 2, 7, 7, 7, 7, 7]),
            [1, 2, 7, 7, 7, 7, 7]
        );
        assert_eq!(
            trim_repetition(&[1, 2, 7, 7, 7, 7, 7, 7, 7, 7, 7]),
            [1, 2, 7]
        );
        assert_eq!(trim_repetition(&[1, 5, 6, 5, 6, 5, 6, 9]), [1, 5, 6]);
        assert_eq!(trim_repetition(&[1, 2, 2, 3]), [1, 2, 2, 3]);
        let phrase = [4, 5, 6, 7, 8, 9, 10];
        let looped: Vec<u32> = [1].into_iter().chain(phrase.repeat(4)).collect();
        assert_eq!(trim_repetition(&looped), [&[1][..], &phrase].concat());
    }

    #[test]
    fn context_window_restarts_in_jumps() {
        let mut context = Context::default();
        context.push("", "ignored");
        assert!(context.turns().is_empty());
        for i in 0..Context::MAX_TURNS {
            context.push(format!("s{i}"), format!("t{i}"));
        }
        assert_eq!(context.turns().len(), Context::MAX_TURNS);
        context.push("last", "letzte");
        assert_eq!(context.turns().len(), Context::KEEP_TURNS);
        assert_eq!(
            context.turns().last(),
            Some(&("last".into(), "letzte".into()))
        );
    }
}
