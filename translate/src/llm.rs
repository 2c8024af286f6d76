//! Translation by a quantized decoder-only LLM in a GGUF file (Gemma 3, Llama-family), through
//! candle-transformers' quantized models: any GGUF with a SentencePiece-style vocabulary that a
//! user has can translate.
//!
//! The prompt depends on the model: a GGUF that carries a chat template (an instruct model) is
//! asked in its chat format; a base model gets a completion prompt (a one-line example, then
//! `English: ... / Vietnamese:`) and is stopped at the end of the line. Greedy decoding, with
//! the length and repetition guards of the engine.

use std::io::Cursor;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_gemma3, quantized_llama};
use dragoman_core::{Lang, ModelSource};

use crate::engine::{MAX_REPEATED_PHRASE, SentenceTranslator, trim_repetition};
use crate::sentencepiece::{Spec, from_spec};
use crate::seq2seq::search::argmax;
use crate::{Error, Result};

/// Longest source sentence, in tokens, put into one prompt.
const MAX_SOURCE_TOKENS: usize = 256;

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

/// The model weights, by architecture.
#[derive(Debug, Clone)]
enum Weights {
    Gemma3(quantized_gemma3::ModelWeights),
    Llama(quantized_llama::ModelWeights),
}

impl Weights {
    /// Logits after the last of `tokens`, which start at position `start`.
    fn forward(&mut self, tokens: &[u32], start: usize, device: &Device) -> Result<Vec<f32>> {
        let input = Tensor::new(tokens, device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(model_error)?;
        let logits = match self {
            Self::Gemma3(m) => m.forward(&input, start),
            Self::Llama(m) => m.forward(&input, start),
        };
        logits
            .and_then(|l| l.squeeze(0))
            .and_then(|l| l.to_dtype(candle_core::DType::F32))
            .and_then(|l| l.to_vec1::<f32>())
            .map_err(model_error)
    }
}

fn model_error(e: candle_core::Error) -> Error {
    Error::Model(e.to_string())
}

/// How the model is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prompt {
    /// A base model: an example line, then the sentence; the answer ends at the newline.
    Completion,
    /// Gemma's chat turns (`<start_of_turn>user ... <end_of_turn>`).
    GemmaChat,
    /// Llama 2 / Mistral `[INST] ... [/INST]`.
    InstChat,
}

/// A GGUF language model prompted to translate.
#[derive(Debug, Clone)]
pub struct LlmTranslator {
    id: String,
    weights: Weights,
    tokenizer: tokenizers::Tokenizer,
    bos: Option<u32>,
    /// Tokens that end the answer: end of sequence, end of turn, and (completion prompts) any
    /// token holding a newline.
    stops: Vec<u32>,
    prompt: Prompt,
    device: Device,
}

fn metadata<'a>(content: &'a gguf_file::Content, key: &str) -> Option<&'a gguf_file::Value> {
    content.metadata.get(key)
}

/// The tokenizer a GGUF carries in its metadata (`tokenizer.ggml.*`).
fn gguf_tokenizer(
    content: &gguf_file::Content,
) -> std::result::Result<tokenizers::Tokenizer, String> {
    let kind = metadata(content, "tokenizer.ggml.model")
        .and_then(|v| v.to_string().ok())
        .ok_or("no tokenizer.ggml.model")?;
    if kind != "llama" {
        return Err(format!(
            "GGUF tokenizer {kind:?} is not supported yet; SentencePiece-style (\"llama\") \
             vocabularies are (Gemma, Llama 2, Mistral)"
        ));
    }
    let array = |key: &str| {
        metadata(content, key)
            .and_then(|v| v.to_vec().ok())
            .ok_or_else(|| format!("no {key}"))
    };
    let tokens = array("tokenizer.ggml.tokens")?;
    let scores = array("tokenizer.ggml.scores")?;
    let types = array("tokenizer.ggml.token_type")?;
    if scores.len() != tokens.len() || types.len() != tokens.len() {
        return Err("tokenizer arrays of different lengths".into());
    }
    let pieces = tokens
        .iter()
        .zip(scores)
        .zip(types)
        .map(|((t, s), k)| {
            Ok((
                t.to_string().map_err(|e| e.to_string())?.clone(),
                f64::from(s.to_f32().map_err(|e| e.to_string())?),
                k.to_i32().map_err(|e| e.to_string())?,
            ))
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    let byte_fallback = pieces.iter().any(|p| p.2 == 6);
    let add_space_prefix = metadata(content, "tokenizer.ggml.add_space_prefix")
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(true);
    from_spec(Spec {
        pieces,
        bpe: true,
        byte_fallback,
        charsmap: None,
        add_dummy_prefix: add_space_prefix,
        remove_extra_whitespaces: false,
        split_words: false,
    })
}

impl LlmTranslator {
    /// Loads GGUF file `file` of `source`.
    pub fn load(source: &ModelSource, file: &str, id: &str, device: &Device) -> Result<Self> {
        let file_error = |reason: String| source.file_error(file, id, reason);
        let bytes = source.read(file)?;
        let mut reader = Cursor::new(&*bytes);
        let content =
            gguf_file::Content::read(&mut reader).map_err(|e| file_error(e.to_string()))?;
        let tokenizer = gguf_tokenizer(&content).map_err(file_error)?;
        let architecture = metadata(&content, "general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        let chat = metadata(&content, "tokenizer.chat_template").is_some();
        let id_of = |key: &str| metadata(&content, key).and_then(|v| v.to_u32().ok());
        let bos = id_of("tokenizer.ggml.bos_token_id").filter(|_| {
            metadata(&content, "tokenizer.ggml.add_bos_token")
                .and_then(|v| v.to_bool().ok())
                .unwrap_or(true)
        });
        let eos = id_of("tokenizer.ggml.eos_token_id");
        let end_of_turn = tokenizer.token_to_id("<end_of_turn>");
        let weights = match architecture.as_str() {
            "gemma3" | "gemma2" | "gemma" => Weights::Gemma3(
                quantized_gemma3::ModelWeights::from_gguf(content, &mut reader, device)
                    .map_err(|e| file_error(e.to_string()))?,
            ),
            "llama" | "mistral" => Weights::Llama(
                quantized_llama::ModelWeights::from_gguf(content, &mut reader, device)
                    .map_err(|e| file_error(e.to_string()))?,
            ),
            other => {
                return Err(file_error(format!(
                    "GGUF architecture {other:?} is not supported (gemma3, llama are)"
                )));
            }
        };
        let prompt = match (chat, end_of_turn.is_some()) {
            (false, _) => Prompt::Completion,
            (true, true) => Prompt::GemmaChat,
            (true, false) => Prompt::InstChat,
        };
        let mut stops: Vec<u32> = eos.into_iter().chain(end_of_turn).collect();
        if prompt == Prompt::Completion {
            let vocab = tokenizer.get_vocab(true);
            stops.extend(
                vocab
                    .iter()
                    .filter(|(text, _)| text.contains('\n') || text.as_str() == "<0x0A>")
                    .map(|(_, &id)| id),
            );
        }
        Ok(Self {
            id: id.to_string(),
            weights,
            tokenizer,
            bos,
            stops,
            prompt,
            device: device.clone(),
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

    /// The prompt asking for `text` in `to`.
    fn prompt_for(&self, text: &str, from: Lang, to: Lang) -> String {
        let (f, t) = (label(from), label(to));
        match self.prompt {
            Prompt::Completion => {
                // Lines labelled with each language's name (and its own name for it, which
                // small base models follow much better), after one example line so the model
                // sees the format: "Good morning." is an everyday greeting in every language
                // we ship an example for.
                let example = |l: Lang| match l.code() {
                    "en" => Some("Good morning."),
                    "vi" => Some("Chào buổi sáng."),
                    "de" => Some("Guten Morgen."),
                    "es" => Some("Buenos días."),
                    "fr" => Some("Bonjour."),
                    _ => None,
                };
                let (lf, lt) = (label(from), label(to));
                let shot = match (example(from), example(to)) {
                    (Some(a), Some(b)) => format!("{lf}: {a}\n{lt}: {b}\n\n"),
                    _ => String::new(),
                };
                format!("{shot}{lf}: {text}\n{lt}:")
            }
            Prompt::GemmaChat => format!(
                "<start_of_turn>user\nTranslate this {f} text into {t}. Reply with the \
                 translation only.\n\n{text}<end_of_turn>\n<start_of_turn>model\n"
            ),
            Prompt::InstChat => format!(
                "[INST] Translate this {f} text into {t}. Reply with the translation only.\n\n\
                 {text} [/INST]"
            ),
        }
    }

    /// Greedy continuation of `prompt`, stopped at a stop token, a repetition loop or
    /// `max_new` tokens.
    fn complete(&self, prompt: &[u32], max_new: usize) -> Result<Vec<u32>> {
        // Each call has its own caches; the quantized weights are shared.
        let mut weights = self.weights.clone();
        let mut logits = weights.forward(prompt, 0, &self.device)?;
        let mut out: Vec<u32> = Vec::new();
        for _ in 0..max_new {
            let token = argmax(&logits);
            if self.stops.contains(&token) {
                break;
            }
            out.push(token);
            let tail = &out[out.len().saturating_sub(3 * MAX_REPEATED_PHRASE)..];
            if trim_repetition(tail).len() < tail.len() {
                break;
            }
            logits = weights.forward(&[token], prompt.len() + out.len() - 1, &self.device)?;
        }
        Ok(trim_repetition(&out))
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

    fn translate_sentences(&self, sentences: &[&str], from: Lang, to: Lang) -> Result<Vec<String>> {
        sentences
            .iter()
            .map(|sentence| {
                let mut ids: Vec<u32> = self.bos.into_iter().collect();
                ids.extend(self.tokenize(&self.prompt_for(sentence, from, to))?);
                let source_tokens = self.tokenize(sentence)?.len();
                let out = self.complete(&ids, 3 * source_tokens + 16)?;
                let text = self
                    .tokenizer
                    .decode(&out, true)
                    .map_err(|e| Error::Model(format!("detokenizing: {e}")))?;
                Ok(text.trim().to_string())
            })
            .collect()
    }
}
