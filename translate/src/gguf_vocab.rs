//! The tokenizer a GGUF file carries in its metadata (`tokenizer.ggml.*`), rebuilt as a
//! `tokenizers` pipeline, for the two vocabulary kinds instruct GGUFs use:
//!
//! - `llama`: SentencePiece pieces with scores (Gemma, Llama 2, Mistral), through
//!   [`crate::sentencepiece`];
//! - `gpt2`: byte-level BPE with a merge list (Qwen2/2.5/3, Llama 3, GPT-2). These differ in how
//!   text is cut into words before BPE, which the file names in `tokenizer.ggml.pre`; the cuts
//!   below are the ones those models' own `tokenizer.json` files use (llama.cpp's vocabulary
//!   code lists the same per pre-tokenizer name).
//!
//! Checked against the token ids llama.cpp's vocabulary tests expect (`translate/tests/llm.rs`).

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior,
    Tokenizer,
};

use crate::sentencepiece::{CONTROL, Spec, USER_DEFINED, from_spec};

/// Word cuts of Llama 3: English contractions, letter runs with one leading non-letter, digits
/// in groups of up to three, punctuation runs, newlines, other whitespace.
const LLAMA3_WORDS: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Word cuts of Qwen2: Llama 3's, but every digit on its own.
const QWEN2_WORDS: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How a byte-level BPE vocabulary cuts words, by `tokenizer.ggml.pre`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WordCuts {
    /// GPT-2's own rule (the byte-level pre-tokenizer's built-in regex).
    Gpt2,
    Llama3,
    Qwen2,
}

impl WordCuts {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "default" | "gpt-2" | "gpt2" => Self::Gpt2,
            "llama-bpe" | "llama3" | "smaug-bpe" => Self::Llama3,
            "qwen2" | "deepseek-r1-qwen" => Self::Qwen2,
            _ => return None,
        })
    }
}

/// The metadata value under `key`.
pub(crate) fn metadata<'a>(content: &'a Content, key: &str) -> Option<&'a Value> {
    content.metadata.get(key)
}

fn array<'a>(content: &'a Content, key: &str) -> Result<&'a Vec<Value>, String> {
    metadata(content, key)
        .and_then(|v| v.to_vec().ok())
        .ok_or_else(|| format!("no {key}"))
}

fn strings(values: &[Value]) -> Result<Vec<String>, String> {
    values
        .iter()
        .map(|v| v.to_string().cloned().map_err(|e| e.to_string()))
        .collect()
}

/// The tokenizer described by the GGUF's metadata.
pub fn tokenizer(content: &Content) -> Result<Tokenizer, String> {
    let kind = metadata(content, "tokenizer.ggml.model")
        .and_then(|v| v.to_string().ok())
        .ok_or("no tokenizer.ggml.model")?;
    let tokens = strings(array(content, "tokenizer.ggml.tokens")?)?;
    let types = array(content, "tokenizer.ggml.token_type")?
        .iter()
        .map(|v| v.to_i32().map_err(|e| e.to_string()))
        .collect::<Result<Vec<i32>, String>>()?;
    if types.len() != tokens.len() {
        return Err("tokenizer.ggml.tokens and token_type differ in length".into());
    }
    match kind.as_str() {
        "llama" => sentencepiece(content, tokens, types),
        "gpt2" => byte_level_bpe(content, tokens, &types),
        other => Err(format!(
            "GGUF tokenizer {other:?} is not supported; \"llama\" (SentencePiece: Gemma, \
             Llama 2, Mistral) and \"gpt2\" (byte-level BPE: Qwen2/3, Llama 3) are"
        )),
    }
}

fn sentencepiece(
    content: &Content,
    tokens: Vec<String>,
    types: Vec<i32>,
) -> Result<Tokenizer, String> {
    let scores = array(content, "tokenizer.ggml.scores")?
        .iter()
        .map(|v| v.to_f32().map(f64::from).map_err(|e| e.to_string()))
        .collect::<Result<Vec<f64>, String>>()?;
    if scores.len() != tokens.len() {
        return Err("tokenizer.ggml.tokens and scores differ in length".into());
    }
    // Token type 6 is a byte piece (`<0x0A>`).
    let byte_fallback = types.contains(&6);
    let add_space_prefix = metadata(content, "tokenizer.ggml.add_space_prefix")
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(true);
    from_spec(Spec {
        pieces: tokens
            .into_iter()
            .zip(scores)
            .zip(types)
            .map(|((t, s), k)| (t, s, k))
            .collect(),
        bpe: true,
        byte_fallback,
        charsmap: None,
        add_dummy_prefix: add_space_prefix,
        remove_extra_whitespaces: false,
        split_words: false,
    })
}

fn byte_level_bpe(
    content: &Content,
    tokens: Vec<String>,
    types: &[i32],
) -> Result<Tokenizer, String> {
    let pre = metadata(content, "tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .map_or("default", String::as_str);
    let cuts = WordCuts::from_name(pre).ok_or_else(|| {
        format!(
            "GGUF pre-tokenizer {pre:?} is not supported; default/gpt-2, llama-bpe and qwen2 are"
        )
    })?;
    let merges = strings(array(content, "tokenizer.ggml.merges")?)?
        .into_iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(l, r)| (l.to_string(), r.to_string()))
                .ok_or_else(|| format!("malformed merge {m:?}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let special: Vec<AddedToken> = tokens
        .iter()
        .zip(types)
        .filter(|(_, k)| **k == CONTROL || **k == USER_DEFINED)
        .map(|(t, k)| AddedToken::from(t.clone(), *k == CONTROL))
        .collect();
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .into_iter()
        .enumerate()
        .map(|(id, t)| (t, id as u32))
        .collect();
    let model = BPE::builder()
        .vocab_and_merges(vocab, merges)
        // Llama 3 takes a whole word that is in the vocabulary as it is.
        .ignore_merges(cuts == WordCuts::Llama3)
        .build()
        .map_err(|e| format!("BPE model: {e}"))?;
    let mut tokenizer = Tokenizer::new(model);
    let pre_tokenizer: PreTokenizerWrapper = match cuts {
        WordCuts::Gpt2 => ByteLevel::new(false, true, true).into(),
        WordCuts::Llama3 | WordCuts::Qwen2 => {
            let words = if cuts == WordCuts::Llama3 {
                LLAMA3_WORDS
            } else {
                QWEN2_WORDS
            };
            let split = Split::new(
                SplitPattern::Regex(words.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| format!("word cuts: {e}"))?;
            tokenizers::pre_tokenizers::sequence::Sequence::new(vec![
                split.into(),
                ByteLevel::new(false, false, false).into(),
            ])
            .into()
        }
    };
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
    if cuts == WordCuts::Qwen2 {
        tokenizer
            .with_normalizer(Some(NormalizerWrapper::NFC(tokenizers::normalizers::NFC)))
            .map_err(|e| format!("normaliser: {e}"))?;
    }
    tokenizer.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevel::default())));
    tokenizer
        .add_tokens(special)
        .map_err(|e| format!("special tokens: {e}"))?;
    Ok(tokenizer)
}
