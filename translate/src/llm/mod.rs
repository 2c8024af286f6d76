//! Translation by a quantized decoder-only LLM in a GGUF file (Gemma 3, Qwen2/2.5, Qwen3,
//! Llama 2/3, Mistral), run by [`decoder`] with the vocabulary the file carries
//! ([`crate::gguf_vocab`]): any such instruct GGUF a user has can translate.
//!
//! The prompt depends on the model: a GGUF that carries a chat template (an instruct model) is
//! asked in its chat format (Gemma turns, ChatML, Llama 3 headers or `[INST]`, told apart by the
//! control tokens in its vocabulary); a base model gets a completion prompt (a one-line example,
//! then `English: ... / Vietnamese:`) and is stopped at the end of the line. Greedy decoding, with
//! the length and repetition guards of the engine. An instruct model is asked a sentence after
//! the speaker's or document's previous ones ([`Context`]), as earlier turns of the same
//! conversation, and told the glossary terms the sentence holds; the
//! answer is made one plain line and checked ([`answer`]), and asked again once when flawed.
//! What was computed stays in a small prompt cache: the next prompt runs only from where its
//! tokens differ from the closest one there.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use candle_core::Device;
use candle_core::quantized::gguf_file;
use dragoman_core::pipeline::{can_pause, is_contended, pause_point};
use dragoman_core::{Lang, ModelSource};

use crate::engine::{Context, MAX_REPEATED_PHRASE, SentenceTranslator, trim_repetition};
use crate::gguf_vocab::metadata;
use crate::seq2seq::search::argmax;
use crate::{Error, Result};

pub mod answer;
mod decoder;
mod script;

use answer::{Flaw, check, plain};
use decoder::{Cache, Decoder, Family, Shortlist};

/// Longest source sentence, in tokens, put into one prompt.
const MAX_SOURCE_TOKENS: usize = 256;

/// How many prompt tokens run between two pause points. Qwen2.5 1.5B reads a prompt at about
/// 40 ms a token on 2 AVX2 cores (and answers at 150 ms a token), so a refinement gives way to
/// live work within 0.65 s. Smaller chunks cost more than they save: each run of the layers
/// has a fixed cost (chunks of 8 made the prompt 7-15% slower than chunks of 32).
const PROMPT_CHUNK: usize = 16;

/// A language's label in completion prompts: its English name, with its own name for itself
/// where we know it.
fn label(lang: Lang) -> String {
    let native = match lang.code() {
        "vi" => Some("Tiếng Việt"),
        "de" => Some("Deutsch"),
        "es" => Some("Español"),
        "fr" => Some("Français"),
        _ => None,
    };
    let name = lang.name();
    let mut english: String = name.chars().take(1).flat_map(char::to_uppercase).collect();
    english.push_str(name.get(1..).unwrap_or_default());
    match native {
        Some(n) => format!("{english} ({n})"),
        None => english,
    }
}

fn model_error(e: candle_core::Error) -> Error {
    Error::Model(e.to_string())
}

/// A sequence already run: its tokens and the keys and values they left.
#[derive(Debug)]
struct Prefilled {
    tokens: Vec<u32>,
    cache: Cache,
}

/// Sequences already computed: their tokens (prompt and answer) and the keys and values they
/// left, most recent first. A new prompt starts from the entry sharing its longest token
/// prefix, as llama.cpp's prompt cache does: prompts share their instructions, successive
/// revisions of a caption their first words, and a speaker's next sentence the conversation
/// so far (its [`Context`] turns, which are the earlier prompts and answers). Taken only to
/// clone or replace an entry, never while the model runs.
#[derive(Debug, Default)]
struct PromptCache(Mutex<Vec<Arc<Prefilled>>>);

impl PromptCache {
    /// Entries kept: a few speakers' conversations in a few languages, and the last answer
    /// asked again in each language (which the next one asked again starts from).
    const ENTRIES: usize = 8;

    /// The entry sharing the longest prefix with `tokens`, and that length.
    fn best(&self, tokens: &[u32]) -> Option<(Arc<Prefilled>, usize)> {
        let entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .iter()
            .map(|e| (e.clone(), shared_prefix(&e.tokens, tokens)))
            .max_by_key(|(_, n)| *n)
            .filter(|(_, n)| *n > 0)
    }

    /// Keeps `prefilled`, replacing entries it extends.
    fn put(&self, prefilled: Prefilled) {
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|e| !prefilled.tokens.starts_with(&e.tokens));
        entries.insert(0, Arc::new(prefilled));
        entries.truncate(Self::ENTRIES);
    }
}

fn shared_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// How the model is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prompt {
    /// A base model: an example line, then the sentence; the answer ends at the newline.
    Completion,
    /// Gemma's chat turns (`<start_of_turn>user ... <end_of_turn>`).
    GemmaChat,
    /// ChatML (`<|im_start|>user ... <|im_end|>`): Qwen.
    ChatMl,
    /// Llama 3 headers (`<|start_header_id|>user<|end_header_id|> ... <|eot_id|>`).
    Llama3Chat,
    /// Llama 2 / Mistral `[INST] ... [/INST]`.
    InstChat,
}

impl Prompt {
    /// The chat format of a GGUF with a chat template, by the control tokens its vocabulary
    /// has.
    fn chat(tokenizer: &tokenizers::Tokenizer) -> Self {
        let has = |t: &str| tokenizer.token_to_id(t).is_some();
        if has("<start_of_turn>") {
            Self::GemmaChat
        } else if has("<|im_start|>") {
            Self::ChatMl
        } else if has("<|start_header_id|>") {
            Self::Llama3Chat
        } else {
            Self::InstChat
        }
    }
}

impl Prompt {
    /// A user turn saying `content` (chat formats only).
    fn user(self, content: &str) -> String {
        match self {
            Self::Completion => content.to_string(),
            Self::GemmaChat => format!("<start_of_turn>user\n{content}<end_of_turn>\n"),
            Self::ChatMl => format!("<|im_start|>user\n{content}<|im_end|>\n"),
            Self::Llama3Chat => {
                format!("<|start_header_id|>user<|end_header_id|>\n\n{content}<|eot_id|>")
            }
            Self::InstChat => format!("[INST] {content} [/INST]"),
        }
    }

    /// What opens the model's answer.
    fn answer(self) -> &'static str {
        match self {
            Self::Completion | Self::InstChat => "",
            Self::GemmaChat => "<start_of_turn>model\n",
            Self::ChatMl => "<|im_start|>assistant\n",
            Self::Llama3Chat => "<|start_header_id|>assistant<|end_header_id|>\n\n",
        }
    }

    /// What closes an answer given earlier in the conversation.
    fn end_of_answer(self) -> &'static str {
        match self {
            Self::Completion => "\n",
            Self::GemmaChat => "<end_of_turn>\n",
            Self::ChatMl => "<|im_end|>\n",
            Self::Llama3Chat => "<|eot_id|>",
            Self::InstChat => "</s>",
        }
    }
}

/// Tokens that end a chat answer besides end of sequence.
const END_OF_TURN: [&str; 3] = ["<end_of_turn>", "<|im_end|>", "<|eot_id|>"];

/// A GGUF language model prompted to translate. Clones share the weights and the prompt
/// cache.
#[derive(Debug, Clone)]
pub struct LlmTranslator {
    id: String,
    decoder: Arc<Decoder>,
    tokenizer: tokenizers::Tokenizer,
    bos: Option<u32>,
    /// Tokens that end the answer: end of sequence and end of turn. (A completion prompt's
    /// answer also ends at any token holding a newline.)
    stops: Vec<u32>,
    prompt: Prompt,
    prompts: Arc<PromptCache>,
    /// The output layer cut to the tokens of Latin-script text, made at the first answer in
    /// such a language; `None` when it could not be made (answers then use every token).
    latin: Arc<OnceLock<Option<Shortlist>>>,
}

impl LlmTranslator {
    /// Loads GGUF file `file` of `source` (read from disk where it is on disk, so the file is
    /// never held in memory beside its tensors).
    pub fn load(source: &ModelSource, file: &str, id: &str, device: &Device) -> Result<Self> {
        match source.path(file) {
            Some(path) => {
                let opened =
                    File::open(&path).map_err(|e| source.file_error(file, id, e.to_string()))?;
                Self::read(&mut BufReader::new(opened), source, file, id, device)
            }
            None => {
                let bytes = source.read(file)?;
                Self::read(&mut Cursor::new(&*bytes), source, file, id, device)
            }
        }
    }

    fn read<R: Read + Seek>(
        reader: &mut R,
        source: &ModelSource,
        file: &str,
        id: &str,
        device: &Device,
    ) -> Result<Self> {
        let file_error = |reason: String| source.file_error(file, id, reason);
        let candle_error = |e: candle_core::Error| file_error(e.to_string());
        let content = gguf_file::Content::read(reader).map_err(candle_error)?;
        let tokenizer = crate::gguf_vocab::tokenizer(&content).map_err(file_error)?;
        let architecture = metadata(&content, "general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        let family = Family::from_architecture(&architecture).ok_or_else(|| {
            file_error(format!(
                "GGUF architecture {architecture:?} is not supported ({} are)",
                Family::SUPPORTED
            ))
        })?;
        let decoder =
            Decoder::load(family, &architecture, &content, reader, device).map_err(candle_error)?;
        let chat = metadata(&content, "tokenizer.chat_template").is_some();
        let id_of = |key: &str| metadata(&content, key).and_then(|v| v.to_u32().ok());
        let bos = id_of("tokenizer.ggml.bos_token_id").filter(|_| {
            metadata(&content, "tokenizer.ggml.add_bos_token")
                .and_then(|v| v.to_bool().ok())
                .unwrap_or(true)
        });
        let eos = id_of("tokenizer.ggml.eos_token_id");
        let prompt = if chat {
            Prompt::chat(&tokenizer)
        } else {
            Prompt::Completion
        };
        let stops: Vec<u32> = eos
            .into_iter()
            .chain(END_OF_TURN.iter().filter_map(|t| tokenizer.token_to_id(t)))
            .collect();
        Ok(Self {
            id: id.to_string(),
            decoder: Arc::new(decoder),
            tokenizer,
            bos,
            stops,
            prompt,
            prompts: Arc::default(),
            latin: Arc::default(),
        })
    }

    /// Token ids of `text` under the model's vocabulary (no BOS).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(|e| Error::Model(format!("tokenizing: {e}")))?
            .get_ids()
            .to_vec())
    }

    /// The model's next-token logits after `tokens`, in a fresh context (no BOS is added).
    pub fn logits(&self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.decoder
            .forward(tokens, &mut self.decoder.new_cache(), None)
            .map_err(model_error)
    }

    /// The tokens an answer in `to` is chosen from: the [`Shortlist`] of its script, where
    /// there is one.
    fn shortlist(&self, to: Lang) -> Option<&Shortlist> {
        if !script::is_latin(to) {
            return None;
        }
        self.latin
            .get_or_init(|| {
                let started = std::time::Instant::now();
                let mut ids = script::latin_tokens(&self.tokenizer, self.decoder.vocabulary());
                // Whatever their text, the answer must be able to end.
                ids.extend(&self.stops);
                ids.sort_unstable();
                ids.dedup();
                match self.decoder.shortlist(ids) {
                    Ok(shortlist) => {
                        log::debug!(
                            "{}: {} of {} tokens kept for Latin-script answers, in {:.2} s",
                            self.id,
                            shortlist.len(),
                            self.decoder.vocabulary(),
                            started.elapsed().as_secs_f64()
                        );
                        Some(shortlist)
                    }
                    Err(e) => {
                        log::warn!("{}: answers use the whole vocabulary: {e}", self.id);
                        None
                    }
                }
            })
            .as_ref()
    }

    /// The prompt asking for `text` in `to` after the turns of `context` (earlier sentences
    /// and their translations, asked and answered the same way), naming the glossary terms
    /// each sentence holds; `insist` asks again after a flawed answer, spelling out what the
    /// first instruction left implicit.
    fn prompt_for(
        &self,
        text: &str,
        from: Lang,
        to: Lang,
        context: &Context,
        insist: bool,
    ) -> String {
        let (f, t) = (label(from), label(to));
        let history = context.turns();
        let ask = |text: &str| {
            let mut ask = if insist {
                format!(
                    "Translate this {f} text into {t}. Write the {t} translation only, on one \
                     line, keeping numbers, names and web addresses exactly as written."
                )
            } else {
                format!("Translate this {f} text into {t}. Reply with the translation only.")
            };
            let terms: Vec<String> = context
                .glossary()
                .required(text, to)
                .iter()
                .map(|(term, rendering)| {
                    if term == rendering {
                        format!("keep \"{term}\" as written")
                    } else {
                        format!("translate \"{term}\" as \"{rendering}\"")
                    }
                })
                .collect();
            if !terms.is_empty() {
                ask.push_str(&format!(" Glossary: {}.", terms.join("; ")));
            }
            format!("{ask}\n\n{text}")
        };
        let mut prompt = String::new();
        if self.prompt == Prompt::Completion {
            // Lines labelled with each language's name (and its own name for it, which small
            // base models follow much better), after one example line so the model sees the
            // format: "Good morning.", an everyday greeting in every language we ship an
            // example for. No earlier turns: a base model copies them rather than reads them
            // (Gemma 3 270M answered a Jane Austen sentence with the previous one's
            // translation).
            let example = |l: Lang| match l.code() {
                "en" => Some("Good morning."),
                "vi" => Some("Chào buổi sáng."),
                "de" => Some("Guten Morgen."),
                "es" => Some("Buenos días."),
                "fr" => Some("Bonjour."),
                _ => None,
            };
            // Asked again, a sentence as long as a real one: after the greeting alone the model
            // may answer a long sentence in the source language.
            let longer = |l: Lang| match l.code() {
                "en" => Some("Mary told Tom that she would call him tomorrow."),
                "vi" => Some("Mary nói với Tom rằng cô ấy sẽ gọi cho anh ấy vào ngày mai."),
                "de" => Some("Mary sagte Tom, dass sie ihn morgen anrufen würde."),
                "es" => Some("Mary le dijo a Tom que lo llamaría mañana."),
                "fr" => Some("Mary a dit à Tom qu'elle l'appellerait demain."),
                _ => None,
            };
            let mut shots = vec![(example(from), example(to))];
            if insist {
                shots.push((longer(from), longer(to)));
            }
            for shot in shots {
                if let (Some(a), Some(b)) = shot {
                    prompt.push_str(&format!("{f}: {a}\n{t}: {b}\n\n"));
                }
            }
            prompt.push_str(&format!("{f}: {text}\n{t}:"));
            return prompt;
        }
        for (source, translation) in history {
            prompt.push_str(&self.prompt.user(&ask(source)));
            prompt.push_str(self.prompt.answer());
            prompt.push_str(translation);
            prompt.push_str(self.prompt.end_of_answer());
        }
        prompt.push_str(&self.prompt.user(&ask(text)));
        prompt.push_str(self.prompt.answer());
        prompt
    }

    /// Whether `token` ends a completion prompt's answer: it holds a newline.
    fn ends_line(&self, token: u32) -> bool {
        self.prompt == Prompt::Completion
            && self
                .tokenizer
                .decode(&[token], false)
                .is_ok_and(|t| t.contains('\n'))
    }

    /// The token ids of the prompt asking for `text` in `to`, BOS first where the model
    /// wants one.
    pub fn prompt_ids(&self, text: &str, from: Lang, to: Lang) -> Result<Vec<u32>> {
        self.prompt_ids_for(text, from, to, &Context::default(), false)
    }

    fn prompt_ids_for(
        &self,
        text: &str,
        from: Lang,
        to: Lang,
        context: &Context,
        insist: bool,
    ) -> Result<Vec<u32>> {
        let mut ids: Vec<u32> = self.bos.into_iter().collect();
        ids.extend(self.tokenize(&self.prompt_for(text, from, to, context, insist))?);
        Ok(ids)
    }

    /// Greedy continuation of `prompt`, stopped at a stop token, a repetition loop or
    /// `max_new` tokens.
    pub fn complete(&self, prompt: &[u32], max_new: usize) -> Result<Vec<u32>> {
        self.complete_from(prompt, max_new, None, None)
            .map(|(out, _)| out)
    }

    /// [`Self::complete`] starting from the first `shared` tokens of `prefilled` (a prefix of
    /// `prompt`), choosing among the `shortlist`'s tokens where one is given; also returns
    /// everything run (the prompt and the answer) for the next call.
    fn complete_from(
        &self,
        prompt: &[u32],
        max_new: usize,
        prefilled: Option<(&Prefilled, usize)>,
        shortlist: Option<&Shortlist>,
    ) -> Result<(Vec<u32>, Prefilled)> {
        let mut cache = self.decoder.new_cache();
        if let Some((p, shared)) = prefilled {
            // At least the prompt's last token runs again: its logits start the answer.
            let shared = shared
                .min(prompt.len().saturating_sub(1))
                .min(p.cache.len());
            if shared > 0 {
                cache = p.cache.clone();
                cache.truncate(shared).map_err(model_error)?;
            }
        }
        // Under a scheduler the prompt runs in chunks with a pause point between them, as the
        // answer does between tokens. Where nothing can pause it, in one run: chunks cost time,
        // and another grouping of the prompt's tokens rounds differently (a prompt cache's
        // answers would then differ from a fresh model's at near ties).
        let started = std::time::Instant::now();
        let rest = &prompt[cache.len()..];
        let chunk_len = if can_pause() {
            PROMPT_CHUNK
        } else {
            rest.len().max(1)
        };
        let last = rest.len().saturating_sub(1) / chunk_len * chunk_len;
        for chunk in rest[..last].chunks(chunk_len) {
            pause_point();
            self.decoder
                .extend(chunk, &mut cache)
                .map_err(model_error)?;
        }
        pause_point();
        let mut logits = self
            .decoder
            .forward(&rest[last..], &mut cache, shortlist)
            .map_err(model_error)?;
        let prefilled_in = started.elapsed();
        let mut run = prompt.to_vec();
        let mut out: Vec<u32> = Vec::new();
        for _ in 0..max_new {
            let best = argmax(&logits);
            let token = shortlist.map_or(best, |s| s.token(best as usize));
            if self.stops.contains(&token) || self.ends_line(token) {
                break;
            }
            out.push(token);
            let tail = &out[out.len().saturating_sub(3 * MAX_REPEATED_PHRASE)..];
            if trim_repetition(tail).len() < tail.len() {
                break;
            }
            pause_point();
            logits = self
                .decoder
                .forward(&[token], &mut cache, shortlist)
                .map_err(model_error)?;
            run.push(token);
        }
        log::debug!(
            "{}: prompt of {} tokens ({} new) in {:.3} s, {} answer tokens in {:.3} s",
            self.id,
            prompt.len(),
            rest.len(),
            prefilled_in.as_secs_f64(),
            out.len(),
            (started.elapsed() - prefilled_in).as_secs_f64()
        );
        Ok((trim_repetition(&out), Prefilled { tokens: run, cache }))
    }

    /// The model's answer to the prompt for `sentence` after `context`, as one plain line.
    /// It starts from the [`PromptCache`] and leaves what it ran there: asked again
    /// (`insist`), the prompt shares its longer instructions with the last one asked again
    /// in that language.
    fn answer(
        &self,
        sentence: &str,
        from: Lang,
        to: Lang,
        context: &Context,
        insist: bool,
    ) -> Result<String> {
        let ids = self.prompt_ids_for(sentence, from, to, context, insist)?;
        let max_new = 3 * self.tokenize(sentence)?.len() + 16;
        let best = self.prompts.best(&ids);
        let from_best = best.as_ref().map(|(p, n)| (p.as_ref(), *n));
        let (out, run) = self.complete_from(&ids, max_new, from_best, self.shortlist(to))?;
        self.prompts.put(run);
        let text = self
            .tokenizer
            .decode(&out, true)
            .map_err(|e| Error::Model(format!("detokenizing: {e}")))?;
        Ok(plain(&text, sentence))
    }

    /// The translation of one sentence: asked once, and once more, insisting, when the answer
    /// has a [`Flaw`] (the second answer is kept unless it is worse), unless work queues
    /// behind this one ([`is_contended`]).
    fn translate_one(
        &self,
        sentence: &str,
        from: Lang,
        to: Lang,
        context: &Context,
    ) -> Result<String> {
        let required = context.glossary().required(sentence, to);
        let first = self.answer(sentence, from, to, context, false)?;
        let Some(flaw) = check(&first, sentence, from, to, &required) else {
            return Ok(first);
        };
        if is_contended() {
            // Asking again doubles the work, and the work behind would wait for it.
            log::debug!(
                "{}: {flaw} for {sentence:?}; not asked again: other work waits",
                self.id
            );
            return Ok(first);
        }
        // Without the earlier turns: a flawed answer may have followed a flawed earlier one.
        let second = self.answer(sentence, from, to, &context.without_turns(), true)?;
        let again = check(&second, sentence, from, to, &required);
        log_flaw(&self.id, sentence, &flaw, again.as_ref());
        Ok(match again {
            // An answer that lost a number beats one in the wrong language or none at all.
            Some(Flaw::Dropped(_)) if !matches!(flaw, Flaw::Dropped(_)) => second,
            Some(_) => first,
            None => second,
        })
    }
}

/// Logs a flawed answer and what asking again gave.
fn log_flaw(model: &str, sentence: &str, first: &Flaw, again: Option<&Flaw>) {
    match again {
        None => log::debug!("{model}: {first} for {sentence:?}; asked again"),
        Some(second) => log::warn!("{model}: {first}, then {second}, for {sentence:?}"),
    }
}

impl SentenceTranslator for LlmTranslator {
    fn id(&self) -> &str {
        &self.id
    }

    fn supports(&self, from: Lang, to: Lang) -> bool {
        from != to
    }

    fn pairs(&self) -> String {
        "any pair (an LLM: quality depends on the model and the languages)".into()
    }

    fn max_sentence_tokens(&self) -> usize {
        MAX_SOURCE_TOKENS
    }

    fn count_tokens(&self, text: &str, _from: Lang) -> Result<usize> {
        Ok(self.tokenize(text)?.len())
    }

    fn translate_sentences(
        &self,
        sentences: &[&str],
        from: Lang,
        to: Lang,
        context: &Context,
    ) -> Result<Vec<String>> {
        let mut context = context.clone();
        let mut out = Vec::with_capacity(sentences.len());
        for sentence in sentences {
            let translation = self.translate_one(sentence, from, to, &context)?;
            context.push(*sentence, translation.as_str());
            out.push(translation);
        }
        Ok(out)
    }
}
