//! Translation by a quantized decoder-only LLM in a GGUF file (Gemma 3, Llama 2/3, Mistral,
//! Qwen2/2.5, Qwen3), through candle-transformers' quantized models, with the vocabulary the
//! file carries ([`crate::gguf_vocab`]): any such instruct GGUF a user has can translate.
//!
//! The prompt depends on the model: a GGUF that carries a chat template (an instruct model) is
//! asked in its chat format (Gemma turns, ChatML, Llama 3 headers or `[INST]`, told apart by the
//! control tokens in its vocabulary); a base model gets a completion prompt (a one-line example,
//! then `English: ... / Vietnamese:`) and is stopped at the end of the line. Greedy decoding, with
//! the length and repetition guards of the engine.

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use candle_transformers::models::{
    quantized_gemma3, quantized_llama, quantized_qwen2, quantized_qwen3,
};
use dragoman_core::{Lang, ModelSource};

use crate::engine::{MAX_REPEATED_PHRASE, SentenceTranslator, trim_repetition};
use crate::gguf_vocab::metadata;
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
#[derive(Clone)]
enum Weights {
    Gemma3(quantized_gemma3::ModelWeights),
    Llama(quantized_llama::ModelWeights),
    Qwen3(quantized_qwen3::ModelWeights),
    /// candle-transformers' Qwen2 weights cannot be cloned: one copy, locked per answer.
    Qwen2(Arc<Mutex<quantized_qwen2::ModelWeights>>),
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Gemma3(_) => "Gemma3",
            Self::Llama(_) => "Llama",
            Self::Qwen3(_) => "Qwen3",
            Self::Qwen2(_) => "Qwen2",
        })
    }
}

/// Logits after the last of `tokens`, which start at position `start`, from a model's forward
/// function.
fn logits(
    forward: impl FnOnce(&Tensor, usize) -> candle_core::Result<Tensor>,
    tokens: &[u32],
    start: usize,
    device: &Device,
) -> Result<Vec<f32>> {
    let input = Tensor::new(tokens, device)
        .and_then(|t| t.unsqueeze(0))
        .map_err(model_error)?;
    forward(&input, start)
        .and_then(|l| l.squeeze(0))
        .and_then(|l| l.to_dtype(candle_core::DType::F32))
        .and_then(|l| l.to_vec1::<f32>())
        .map_err(model_error)
}

/// A forward function over caches of its own: `(tokens, start) -> logits after the last`.
type Step<'a> = dyn FnMut(&[u32], usize) -> Result<Vec<f32>> + 'a;

impl Weights {
    /// Runs `f` with empty key/value caches of its own: on a clone of the weights (the
    /// quantized tensors are shared, the caches are not), or for Qwen2 on the one copy, locked
    /// and reset.
    fn session<R>(&self, device: &Device, f: impl FnOnce(&mut Step<'_>) -> R) -> R {
        match self {
            Self::Gemma3(m) => {
                let mut m = m.clone();
                f(&mut |t, s| logits(|x, i| m.forward(x, i), t, s, device))
            }
            Self::Llama(m) => {
                let mut m = m.clone();
                f(&mut |t, s| logits(|x, i| m.forward(x, i), t, s, device))
            }
            Self::Qwen3(m) => {
                let mut m = m.clone();
                f(&mut |t, s| logits(|x, i| m.forward(x, i), t, s, device))
            }
            Self::Qwen2(m) => {
                let mut m = m.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                m.clear_kv_cache();
                f(&mut |t, s| logits(|x, i| m.forward(x, i), t, s, device))
            }
        }
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

/// Tokens that end a chat answer besides end of sequence.
const END_OF_TURN: [&str; 3] = ["<end_of_turn>", "<|im_end|>", "<|eot_id|>"];

/// A GGUF language model prompted to translate.
#[derive(Debug, Clone)]
pub struct LlmTranslator {
    id: String,
    weights: Weights,
    tokenizer: tokenizers::Tokenizer,
    bos: Option<u32>,
    /// Tokens that end the answer: end of sequence and end of turn. (A completion prompt's
    /// answer also ends at any token holding a newline.)
    stops: Vec<u32>,
    prompt: Prompt,
    device: Device,
}

/// Quantized types candle multiplies without vector instructions (it has no AVX2 kernel for
/// them): their matrices are re-quantized to Q8_0 at load. Q4_K_M files store matrices whose
/// rows do not fit Q4_K's 256-wide blocks as Q5_0 — 81 of Gemma 3 270M's, 640 wide — and left
/// so they took three quarters of its translation time. Q8_0 is the more precise of the two
/// (the error added is under a tenth of Q5_0's own step) and 1.5x its size.
const SLOW_TYPES: [GgmlDType; 3] = [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1];

/// The GGUF file rewritten with its [`SLOW_TYPES`] tensors as Q8_0, or `None` when it has none.
fn requantize_slow_types(
    content: &gguf_file::Content,
    reader: &mut Cursor<&[u8]>,
) -> candle_core::Result<Option<Vec<u8>>> {
    if !content
        .tensor_infos
        .values()
        .any(|t| SLOW_TYPES.contains(&t.ggml_dtype))
    {
        return Ok(None);
    }
    let cpu = Device::Cpu;
    let mut tensors = Vec::with_capacity(content.tensor_infos.len());
    for (name, info) in &content.tensor_infos {
        let tensor = content.tensor(reader, name, &cpu)?;
        let tensor = if SLOW_TYPES.contains(&info.ggml_dtype) {
            QTensor::quantize(&tensor.dequantize(&cpu)?, GgmlDType::Q8_0)?
        } else {
            tensor
        };
        tensors.push((name.as_str(), tensor));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut out = Cursor::new(Vec::new());
    gguf_file::write(&mut out, &metadata, &tensors)?;
    Ok(Some(out.into_inner()))
}

impl LlmTranslator {
    /// Loads GGUF file `file` of `source`.
    pub fn load(source: &ModelSource, file: &str, id: &str, device: &Device) -> Result<Self> {
        let file_error = |reason: String| source.file_error(file, id, reason);
        let candle_error = |e: candle_core::Error| file_error(e.to_string());
        let original = source.read(file)?;
        let mut reader = Cursor::new(&*original);
        let mut content = gguf_file::Content::read(&mut reader).map_err(candle_error)?;
        let requantized = requantize_slow_types(&content, &mut reader).map_err(candle_error)?;
        let mut reader = Cursor::new(requantized.as_deref().unwrap_or(&original));
        if requantized.is_some() {
            content = gguf_file::Content::read(&mut reader).map_err(candle_error)?;
        }
        let tokenizer = crate::gguf_vocab::tokenizer(&content).map_err(file_error)?;
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
        let weights = match architecture.as_str() {
            "gemma3" | "gemma2" | "gemma" => Weights::Gemma3(
                quantized_gemma3::ModelWeights::from_gguf(content, &mut reader, device)
                    .map_err(candle_error)?,
            ),
            "llama" | "mistral" => Weights::Llama(
                quantized_llama::ModelWeights::from_gguf(content, &mut reader, device)
                    .map_err(candle_error)?,
            ),
            "qwen2" => Weights::Qwen2(Arc::new(Mutex::new(
                quantized_qwen2::ModelWeights::from_gguf(content, &mut reader, device)
                    .map_err(candle_error)?,
            ))),
            "qwen3" => Weights::Qwen3(
                quantized_qwen3::ModelWeights::from_gguf(content, &mut reader, device)
                    .map_err(candle_error)?,
            ),
            other => {
                return Err(file_error(format!(
                    "GGUF architecture {other:?} is not supported (gemma, gemma2, gemma3, \
                     llama, mistral, qwen2, qwen3 are)"
                )));
            }
        };
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

    /// The model's next-token logits after `tokens`, in a fresh context (no BOS is added).
    pub fn logits(&self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.weights
            .session(&self.device, |forward| forward(tokens, 0))
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
            Prompt::ChatMl => format!(
                "<|im_start|>user\nTranslate this {f} text into {t}. Reply with the translation \
                 only.\n\n{text}<|im_end|>\n<|im_start|>assistant\n"
            ),
            Prompt::Llama3Chat => format!(
                "<|start_header_id|>user<|end_header_id|>\n\nTranslate this {f} text into {t}. \
                 Reply with the translation only.\n\n{text}<|eot_id|>\
                 <|start_header_id|>assistant<|end_header_id|>\n\n"
            ),
            Prompt::InstChat => format!(
                "[INST] Translate this {f} text into {t}. Reply with the translation only.\n\n\
                 {text} [/INST]"
            ),
        }
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
        let mut ids: Vec<u32> = self.bos.into_iter().collect();
        ids.extend(self.tokenize(&self.prompt_for(text, from, to))?);
        Ok(ids)
    }

    /// Greedy continuation of `prompt`, stopped at a stop token, a repetition loop or
    /// `max_new` tokens.
    pub fn complete(&self, prompt: &[u32], max_new: usize) -> Result<Vec<u32>> {
        self.weights.session(&self.device, |forward| {
            let mut logits = forward(prompt, 0)?;
            let mut out: Vec<u32> = Vec::new();
            for _ in 0..max_new {
                let token = argmax(&logits);
                if self.stops.contains(&token) || self.ends_line(token) {
                    break;
                }
                out.push(token);
                let tail = &out[out.len().saturating_sub(3 * MAX_REPEATED_PHRASE)..];
                if trim_repetition(tail).len() < tail.len() {
                    break;
                }
                logits = forward(&[token], prompt.len() + out.len() - 1)?;
            }
            Ok(trim_repetition(&out))
        })
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
                let ids = self.prompt_ids(sentence, from, to)?;
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
