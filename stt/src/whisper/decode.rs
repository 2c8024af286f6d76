//! Decoding one 30-second window: language identification, the logit rules of
//! `whisper/decoding.py` (blank and special-token suppression, timestamp rules), greedy or sampled
//! decoding, and the temperature fallback of `transcribe.py` driven by the compression-ratio and
//! average log-probability checks (when every temperature fails, faster-whisper's choice: the most
//! probable attempt that is not a repetition loop).

use std::io::Write as _;

use candle_core::{Device, IndexOp, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use dragoman_core::engine::SttTask;
use dragoman_core::{Error, Lang, Result};

use super::model::{AudioContext, DecoderCache};
use super::{WhisperModel, model_error};

/// How a window is decoded. Defaults are faster-whisper's (and OpenAI's).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// Transcribe, or translate into English. Defaults to transcribe.
    pub task: SttTask,
    /// The spoken language. Defaults to `None`: detect it.
    pub language: Option<Lang>,
    /// Temperatures tried in turn while the output fails the checks. Defaults to
    /// `[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]`.
    pub temperatures: Vec<f64>,
    /// Output whose gzip compression ratio is above this is a repetition loop. Defaults to 2.4.
    pub compression_ratio_threshold: f64,
    /// Output whose average token log-probability is below this is unreliable. Defaults to -1.0.
    pub log_prob_threshold: f64,
    /// A window whose no-speech probability is above this (and fails the log-probability check)
    /// is silence. Defaults to 0.6.
    pub no_speech_threshold: f64,
    /// Prompt each window with the previous window's text. Defaults to `true`.
    pub condition_on_previous_text: bool,
    /// Latest time of the first timestamp, in seconds. Defaults to 1.0.
    pub max_initial_timestamp: f64,
    /// Most tokens sampled per window. Defaults to 224 (half the text context).
    pub sample_len: usize,
    /// Seed of the sampler used at temperatures above 0. Defaults to 299792458.
    pub seed: u64,
    /// Tokens the transcript starts with (text and timestamps), run in one pass instead of
    /// being sampled one by one: what a live caption has already committed (`prefix` of
    /// `decoding.py`). They count against `sample_len`. Defaults to none.
    pub prefix: Vec<u32>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            task: SttTask::Transcribe,
            language: None,
            temperatures: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            compression_ratio_threshold: 2.4,
            log_prob_threshold: -1.0,
            no_speech_threshold: 0.6,
            condition_on_previous_text: true,
            max_initial_timestamp: 1.0,
            sample_len: 224,
            seed: 299_792_458,
            prefix: Vec::new(),
        }
    }
}

/// What decoding one window produced.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeResult {
    /// Sampled tokens (text and timestamps), without the prompt and without `<|endoftext|>`.
    pub tokens: Vec<u32>,
    /// Their text.
    pub text: String,
    /// Mean log-probability of the sampled tokens.
    pub avg_logprob: f64,
    /// Probability of `<|nospeech|>` at the start of the transcript.
    pub no_speech_prob: f64,
    /// The temperature that produced this result.
    pub temperature: f64,
    /// `len(text) / len(zlib(text))`: high for repetition loops.
    pub compression_ratio: f64,
}

impl DecodeResult {
    /// Whether the result fails the checks and the next temperature should be tried.
    fn needs_fallback(&self, options: &DecodeOptions) -> bool {
        if self.is_silence(options) {
            return false;
        }
        self.compression_ratio > options.compression_ratio_threshold
            || self.avg_logprob < options.log_prob_threshold
    }

    /// Whether the window holds no speech (and its text should be dropped).
    pub fn is_silence(&self, options: &DecodeOptions) -> bool {
        self.no_speech_prob > options.no_speech_threshold
            && self.avg_logprob < options.log_prob_threshold
    }
}

/// Decodes windows with its own caches over shared weights.
#[derive(Debug)]
pub struct Decoder {
    model: WhisperModel,
    /// Token ids that are never sampled.
    suppress: Vec<u32>,
    /// The tokens of a lone space, suppressed at the first position.
    blank: Vec<u32>,
}

/// The most prompt tokens kept: half the text context, as in `decoding.py`.
const MAX_PROMPT: usize = 223;

impl Decoder {
    pub(crate) fn new(model: WhisperModel) -> Self {
        let t = model.tokens().clone();
        let mut suppress: Vec<u32> = model.config().suppress_tokens.clone();
        suppress.extend([
            t.transcribe,
            t.translate,
            t.sot,
            t.sot_prev,
            t.no_speech,
            t.no_timestamps,
        ]);
        suppress.extend(t.sot_lm);
        suppress.retain(|&id| id < t.vocab_size);
        let blank = model.tokenize(" ").unwrap_or_default();
        Self {
            model,
            suppress,
            blank,
        }
    }

    /// The model this decoder runs.
    pub fn model(&self) -> &WhisperModel {
        &self.model
    }

    /// Runs the encoder on a normalised mel window (`n_mels x 3000`).
    pub fn encode(&mut self, mel: &[f32]) -> Result<AudioContext> {
        self.model.encode(mel)
    }

    /// The most likely language of the encoded audio, and its probability.
    pub fn detect_language(&mut self, audio: &AudioContext) -> Result<(Lang, f32)> {
        let t = self.model.tokens().clone();
        let hidden = self.forward(&[t.sot], audio, &mut DecoderCache::default())?;
        let logits = self.project(&hidden, 0)?;
        let languages = t.language_tokens();
        let slice = &logits[languages.start as usize..languages.end as usize];
        let probs = softmax(slice, 1.0);
        let (best, p) = probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .ok_or_else(|| Error::Model("this Whisper model has no language tokens".into()))?;
        let lang = t
            .language_of(languages.start + best as u32)
            .ok_or_else(|| Error::Internal("language token".into()))?;
        Ok((lang, *p))
    }

    /// Decodes a window at rising temperatures until the result passes the checks (or the last
    /// temperature is reached), as `transcribe.py` does.
    pub fn decode_with_fallback(
        &mut self,
        audio: &AudioContext,
        prompt: &[u32],
        lang: Lang,
        options: &DecodeOptions,
    ) -> Result<DecodeResult> {
        let mut attempts = Vec::new();
        for &temperature in &options.temperatures {
            let result = self.decode(audio, prompt, lang, temperature, options)?;
            if !result.needs_fallback(options) {
                return Ok(result);
            }
            attempts.push(result);
        }
        // Every temperature failed the checks. The reference implementation keeps the last
        // (hottest, so most random) attempt; faster-whisper keeps the most probable one among
        // those that are not repetition loops, which is far less often gibberish on hard audio.
        let not_looping =
            |r: &DecodeResult| r.compression_ratio <= options.compression_ratio_threshold;
        let pool: Vec<DecodeResult> = if attempts.iter().any(not_looping) {
            attempts.into_iter().filter(not_looping).collect()
        } else {
            attempts
        };
        pool.into_iter()
            .max_by(|a, b| a.avg_logprob.total_cmp(&b.avg_logprob))
            .ok_or_else(|| Error::Misuse("DecodeOptions::temperatures is empty".into()))
    }

    /// Decodes a window at one temperature.
    pub fn decode(
        &mut self,
        audio: &AudioContext,
        prompt: &[u32],
        lang: Lang,
        temperature: f64,
        options: &DecodeOptions,
    ) -> Result<DecodeResult> {
        let t = self.model.tokens().clone();
        let mut tokens = Vec::new();
        if !prompt.is_empty() {
            tokens.push(t.sot_prev);
            tokens.extend(&prompt[prompt.len().saturating_sub(MAX_PROMPT)..]);
        }
        let sot_index = tokens.len();
        tokens.push(t.sot);
        if self.model.is_multilingual() {
            let lang_token = t
                .language(lang)
                .ok_or_else(|| Error::UnsupportedLanguagePair {
                    from: lang.to_string(),
                    to: "this Whisper model's languages".into(),
                })?;
            tokens.push(lang_token);
            tokens.push(match options.task {
                SttTask::Transcribe => t.transcribe,
                SttTask::TranslateToEnglish => t.translate,
            });
        }
        let sample_begin = tokens.len();
        let n_ctx = self.model.config().max_target_positions;
        let room = options
            .sample_len
            .min(n_ctx.saturating_sub(sample_begin + 1));
        tokens.extend(&options.prefix[..options.prefix.len().min(room)]);
        let forced = tokens.len() - sample_begin;
        let max_initial = t.timestamp_begin + (options.max_initial_timestamp / 0.02).round() as u32;
        let mut sampler =
            LogitsProcessor::from_sampling(options.seed, Sampling::All { temperature });
        let mut sum_logprob = 0f64;

        // The whole prefix in one pass; then one token per step, from the caches.
        let mut cache = DecoderCache::default();
        let hidden = self.forward(&tokens, audio, &mut cache)?;
        let no_speech_prob =
            f64::from(softmax(&self.project(&hidden, sot_index)?, 1.0)[t.no_speech as usize]);
        let mut logits = self.project(&hidden, tokens.len() - 1)?;
        for _ in forced..options.sample_len {
            self.apply_rules(&mut logits, &tokens[sample_begin..], max_initial);
            let token = if temperature <= 0.0 {
                argmax(&logits)
            } else {
                let tensor = Tensor::new(logits.as_slice(), &Device::Cpu).map_err(model_error)?;
                sampler.sample(&tensor).map_err(model_error)?
            };
            if token == t.eot {
                break;
            }
            sum_logprob += f64::from(log_softmax_at(&logits, token as usize));
            tokens.push(token);
            if tokens.len() >= n_ctx {
                break;
            }
            let hidden = self.forward(&[token], audio, &mut cache)?;
            logits = self.project(&hidden, 0)?;
        }
        let sampled = tokens[sample_begin..].to_vec();
        let text = self.model.detokenize(&sampled)?;
        let avg_logprob = sum_logprob / (sampled.len() - forced + 1) as f64;
        Ok(DecodeResult {
            compression_ratio: compression_ratio(&text),
            tokens: sampled,
            text,
            avg_logprob,
            no_speech_prob,
            temperature,
        })
    }

    /// Runs new tokens through the decoder (after those in `cache`).
    fn forward(
        &self,
        tokens: &[u32],
        audio: &AudioContext,
        cache: &mut DecoderCache,
    ) -> Result<Tensor> {
        debug_assert!(cache.len() + tokens.len() <= self.model.config().max_target_positions);
        self.model
            .model
            .decoder
            .forward(tokens, audio, cache)
            .map_err(model_error)
    }

    /// Logits of the whole vocabulary at `position` of a decoder output.
    fn project(&self, hidden: &Tensor, position: usize) -> Result<Vec<f32>> {
        let row = hidden
            .i((.., position..position + 1))
            .map_err(model_error)?;
        self.model.model.decoder.logits(&row).map_err(model_error)
    }

    /// `SuppressBlank`, `SuppressTokens` and `ApplyTimestampRules` of `decoding.py`, in order.
    fn apply_rules(&self, logits: &mut [f32], sampled: &[u32], max_initial: u32) {
        let t = self.model.tokens();
        let (eot, ts) = (t.eot as usize, t.timestamp_begin as usize);
        let ninf = f32::NEG_INFINITY;
        if sampled.is_empty() {
            for &b in self.blank.iter().chain([&t.eot]) {
                if let Some(l) = logits.get_mut(b as usize) {
                    *l = ninf;
                }
            }
        }
        for &s in &self.suppress {
            if let Some(l) = logits.get_mut(s as usize) {
                *l = ninf;
            }
        }
        let is_ts = |tok: &u32| t.is_timestamp(*tok);
        let last_was_ts = sampled.last().is_some_and(is_ts);
        let penultimate_was_ts = sampled.len() < 2 || is_ts(&sampled[sampled.len() - 2]);
        if last_was_ts {
            if penultimate_was_ts {
                logits[ts..].fill(ninf); // a pair is closed: text must follow
            } else {
                logits[..eot].fill(ninf); // an opened segment: a timestamp or the end
            }
        }
        if let Some(&last_ts) = sampled.iter().rev().find(|tok| is_ts(tok)) {
            // Timestamps never decrease, and every segment has a length.
            let floor = if last_was_ts && !penultimate_was_ts {
                last_ts
            } else {
                last_ts + 1
            };
            let floor = (floor as usize).min(logits.len());
            logits[ts..floor].fill(ninf);
        }
        if sampled.is_empty() {
            logits[..ts].fill(ninf);
            let cap = (max_initial as usize + 1).min(logits.len());
            logits[cap..].fill(ninf);
        }
        // If all timestamps together outweigh the best text token, a timestamp it is.
        let logprobs = log_softmax(logits);
        let timestamp_mass = log_sum_exp(&logprobs[ts..]);
        let best_text = logprobs[..ts]
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        if timestamp_mass > best_text {
            logits[..ts].fill(ninf);
        }
    }
}

fn argmax(values: &[f32]) -> u32 {
    values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i as u32)
}

fn softmax(logits: &[f32], temperature: f32) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits
        .iter()
        .map(|l| ((l - max) / temperature).exp())
        .collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

fn log_sum_exp(values: &[f32]) -> f32 {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return max;
    }
    max + values.iter().map(|v| (v - max).exp()).sum::<f32>().ln()
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let lse = log_sum_exp(logits);
    logits.iter().map(|l| l - lse).collect()
}

fn log_softmax_at(logits: &[f32], index: usize) -> f32 {
    logits[index] - log_sum_exp(logits)
}

/// `len(text) / len(zlib.compress(text))` as in `transcribe.py`'s check for repetition loops.
pub fn compression_ratio(text: &str) -> f64 {
    if text.is_empty() {
        return 0.0;
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let compressed = z
        .write_all(text.as_bytes())
        .and_then(|()| z.finish())
        .map(|c| c.len())
        .unwrap_or(text.len());
    text.len() as f64 / compressed.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetition_compresses_well() {
        let normal = "And so my fellow Americans, ask not what your country can do for you.";
        let looped = "I'm sorry. ".repeat(20);
        assert!(
            compression_ratio(normal) < 1.5,
            "{}",
            compression_ratio(normal)
        );
        assert!(
            compression_ratio(&looped) > 2.4,
            "{}",
            compression_ratio(&looped)
        );
        assert_eq!(compression_ratio(""), 0.0);
    }

    #[test]
    fn probability_helpers() {
        let p = softmax(&[0.0, 0.0, f32::NEG_INFINITY], 1.0);
        assert_eq!(p, vec![0.5, 0.5, 0.0]);
        assert!((log_softmax_at(&[0.0, 0.0], 0) - 0.5f32.ln()).abs() < 1e-6);
        assert_eq!(log_sum_exp(&[f32::NEG_INFINITY; 3]), f32::NEG_INFINITY);
        assert_eq!(argmax(&[0.1, 3.0, -1.0]), 1);
    }
}
