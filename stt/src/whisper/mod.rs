//! Whisper on candle: the model, its tokens, 30-second window decoding and file transcription.
//!
//! Paper: Radford et al., "Robust Speech Recognition via Large-Scale Weak Supervision" (2022).
//! Reference code: <https://github.com/openai/whisper> (`decoding.py`, `transcribe.py`) and
//! faster-whisper's `transcribe.py`, whose defaults (temperature fallback, compression-ratio and
//! log-probability checks, no-speech threshold) [`DecodeOptions`] follows. The network
//! ([`model`]) is written here on candle with key/value caches, and loaded from the safetensors
//! the model store writes (Hugging Face tensor names).

pub mod decode;
pub mod mel;
mod model;
mod tokens;
pub mod transcribe;
pub mod utterance;

use candle_core::{Device, Tensor};
use dragoman_core::{Error, Lang, ModelSource, Result};

pub use decode::{DecodeOptions, DecodeResult};
pub use model::AudioContext;
pub use tokens::SpecialTokens;
pub use utterance::{EncoderWindow, TimedText, UtteranceTranscript};

/// Precision of the weight matrices (projections and MLPs; convolutions, norms and embeddings stay
/// f32). Chosen by a model-id suffix: `whisper-base-q8` is whisper-base with 8-bit weights.
///
/// Quantized at load time (well under a second for base) rather than at pull time: the model store
/// in `dragoman-core` has no candle, and one f16 file on disk serves every precision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Precision {
    /// Full precision.
    #[default]
    F32,
    /// ggml Q8_0: 8-bit blocks of 32 with an f16 scale (about 4x smaller than f32).
    Q8,
    /// ggml Q4_0: 4-bit blocks of 32 (about 7x smaller than f32).
    Q4,
    /// Q8 where the decoder's weights meet one token at a time, f32 where weights meet the
    /// whole audio window (the encoder, and the decoder's cross-attention keys and values): for
    /// CPUs without an int8 dot-product instruction, where candle's f32 kernels win the large
    /// matrix products and 8 bits the one-token ones (which read every weight per token).
    /// Suffix `-q8dec`.
    Q8Decoder,
}

impl Precision {
    /// Splits a model id into its catalog id and precision: `whisper-base-q8` is
    /// (`whisper-base`, Q8); an id without a suffix is f32.
    pub fn from_model_id(id: &str) -> (&str, Self) {
        if let Some(base) = id.strip_suffix("-q8dec") {
            (base, Self::Q8Decoder)
        } else if let Some(base) = id.strip_suffix("-q8") {
            (base, Self::Q8)
        } else if let Some(base) = id.strip_suffix("-q4") {
            (base, Self::Q4)
        } else {
            (id, Self::F32)
        }
    }

    /// The catalog id `base` at this precision: the inverse of
    /// [`from_model_id`](Self::from_model_id).
    pub fn model_id(self, base: &str) -> String {
        match self {
            Self::F32 => base.to_string(),
            Self::Q8 => format!("{base}-q8"),
            Self::Q4 => format!("{base}-q4"),
            Self::Q8Decoder => format!("{base}-q8dec"),
        }
    }

    /// The precisions of the weights that meet the audio window (the encoder's, the
    /// cross-attention keys' and values') and of the decoder's other weights.
    pub(crate) fn encoder_and_decoder(self) -> (Self, Self) {
        match self {
            Self::Q8Decoder => (Self::F32, Self::Q8),
            whole => (whole, whole),
        }
    }

    /// The fastest weights on this CPU: [`Q8`](Self::Q8) where candle multiplies 8-bit blocks
    /// with an int8 dot-product instruction (x86 AVX-512 VNNI or AVX-VNNI; ARM's dot product
    /// extension), else [`Q8Decoder`](Self::Q8Decoder). On AVX2 alone candle's Q8_0 matrix
    /// product is slower than its f32 one where many rows share the weights (the encoder) and
    /// faster where one token reads them all (the decoder). Measured with
    /// `stt/examples/profile_encoder.rs` (whisper-base, 10 s window, 2 threads) on an AMD EPYC
    /// with AVX2 alone: encoder 0.34 s in f32 against 1.30 s in 8 bits, 30 decoded tokens 0.48
    /// s against 0.26 s; on a Xeon with AVX-512 VNNI 8 bits were 3-4x faster than f32 in both.
    /// (ARM was not measured.)
    pub fn fastest_on_this_cpu() -> Self {
        if int8_dot_product() {
            Self::Q8
        } else {
            Self::Q8Decoder
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn int8_dot_product() -> bool {
    std::is_x86_feature_detected!("avx512vnni") || std::is_x86_feature_detected!("avxvnni")
}

#[cfg(target_arch = "aarch64")]
fn int8_dot_product() -> bool {
    std::arch::is_aarch64_feature_detected!("dotprod")
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn int8_dot_product() -> bool {
    false
}

/// The architecture, from the model's Hugging Face `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct WhisperConfig {
    /// Mel bins of the input (80; 128 for large-v3).
    pub num_mel_bins: usize,
    /// Audio positions (1500 = 30 s).
    pub max_source_positions: usize,
    /// Width.
    pub d_model: usize,
    /// Encoder heads.
    pub encoder_attention_heads: usize,
    /// Encoder layers.
    pub encoder_layers: usize,
    /// Vocabulary size (51865 multilingual, 51864 English-only).
    pub vocab_size: usize,
    /// Text positions (448).
    pub max_target_positions: usize,
    /// Decoder heads.
    pub decoder_attention_heads: usize,
    /// Decoder layers.
    pub decoder_layers: usize,
    /// Tokens never to sample (non-speech symbols).
    #[serde(default)]
    pub suppress_tokens: Vec<u32>,
}

/// The catalog id whose files this loader expects (for error messages).
const DEFAULT_MODEL_ID: &str = "whisper-base";

/// Maps a candle error to dragoman's.
pub(crate) fn model_error(e: candle_core::Error) -> Error {
    Error::Model(e.to_string())
}

/// Loaded Whisper weights, tokenizer and feature extractor: load once, share, and make cheap
/// per-stream decoders with [`WhisperModel::decoder`].
#[derive(Clone)]
pub struct WhisperModel {
    model: model::Whisper,
    config: WhisperConfig,
    tokenizer: tokenizers::Tokenizer,
    tokens: SpecialTokens,
    mel: mel::MelExtractor,
    device: Device,
    id: String,
}

impl std::fmt::Debug for WhisperModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperModel")
            .field("id", &self.id)
            .field("config", &self.config)
            .finish()
    }
}

impl WhisperModel {
    /// Loads `model.safetensors`, `config.json` and `tokenizer.json` from `source` (what
    /// `dragoman models pull whisper-base` writes) onto `device`, computing in f32.
    pub fn load(source: &ModelSource, device: &Device) -> Result<Self> {
        Self::load_as(source, device, DEFAULT_MODEL_ID, Precision::F32)
    }

    /// [`load`](Self::load) at a precision, naming catalog model `id` in errors.
    pub fn load_as(
        source: &ModelSource,
        device: &Device,
        id: &str,
        precision: Precision,
    ) -> Result<Self> {
        let file_error = |file: &str, reason: String| source.file_error(file, id, reason);
        let read = |file: &str| {
            source
                .read(file)
                .map_err(|e| file_error(file, e.to_string()))
        };
        let config: WhisperConfig = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| file_error("config.json", e.to_string()))?;
        let tokenizer = tokenizers::Tokenizer::from_bytes(&*read("tokenizer.json")?)
            .map_err(|e| file_error("tokenizer.json", e.to_string()))?;
        let weights = read("model.safetensors")?;
        let vb = model::var_builder(weights.to_vec(), device)
            .map_err(|e| file_error("model.safetensors", e.to_string()))?;
        let model = model::Whisper::load(&vb, &config, precision)
            .map_err(|e| file_error("model.safetensors", e.to_string()))?;
        let tokens = SpecialTokens::resolve(&tokenizer, config.vocab_size)
            .map_err(|reason| file_error("tokenizer.json", reason))?;
        let mel = mel::MelExtractor::new(config.num_mel_bins);
        Ok(Self {
            model,
            config,
            tokenizer,
            tokens,
            mel,
            device: device.clone(),
            id: id.to_string(),
        })
    }

    /// The model's architecture.
    pub fn config(&self) -> &WhisperConfig {
        &self.config
    }

    /// Special token ids.
    pub fn tokens(&self) -> &SpecialTokens {
        &self.tokens
    }

    /// Whether the model is multilingual (English-only checkpoints have 51864 tokens).
    pub fn is_multilingual(&self) -> bool {
        self.config.vocab_size >= 51_865
    }

    /// Languages the model knows.
    pub fn languages(&self) -> Vec<Lang> {
        if self.is_multilingual() {
            Lang::all()
                .filter(|l| self.tokens.language(*l).is_some())
                .collect()
        } else {
            vec![Lang::EN]
        }
    }

    /// The log-mel extractor for this model's input.
    pub fn mel(&self) -> &mel::MelExtractor {
        &self.mel
    }

    /// A decoder: its own key/value caches over the shared weights.
    pub fn decoder(&self) -> decode::Decoder {
        decode::Decoder::new(self.clone())
    }

    /// Text of `tokens` (timestamps and other special tokens skipped).
    pub fn detokenize(&self, tokens: &[u32]) -> Result<String> {
        let text: Vec<u32> = tokens
            .iter()
            .copied()
            .filter(|&t| t < self.tokens.eot)
            .collect();
        self.tokenizer
            .decode(&text, true)
            .map_err(|e| Error::Model(format!("detokenizing: {e}")))
    }

    /// Token ids of `text`, for prompts.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| Error::Model(format!("tokenizing: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Runs the encoder on a normalised `n_mels x N_FRAMES` mel window, and prepares the
    /// decoder's view of it.
    pub fn encode(&self, mel: &[f32]) -> Result<AudioContext> {
        let n_mels = self.mel.n_mels();
        let frames = mel.len() / n_mels;
        let input =
            Tensor::from_slice(mel, (1, n_mels, frames), &self.device).map_err(model_error)?;
        let features = self.model.encoder.forward(&input).map_err(model_error)?;
        self.model
            .decoder
            .audio_context(&features)
            .map_err(model_error)
    }
}
