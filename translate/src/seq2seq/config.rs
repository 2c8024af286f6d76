//! The hyper-parameters of an encoder-decoder translation model, read from the Hugging Face
//! `config.json` its checkpoint ships.

use serde_json::Value;

/// Which architecture a checkpoint uses. Both are the fairseq-style Transformer with learned
/// token embeddings and sinusoidal positions; they differ in where layer norms sit and how
/// positions are numbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Marian (opus-mt): post-norm layers, positions from 0, a bias on the output logits.
    /// `transformers`' `modeling_marian.py`.
    Marian,
    /// M2M100 and NLLB-200: pre-norm layers with a final norm after each stack, positions
    /// offset past the padding id. `transformers`' `modeling_m2m_100.py`.
    M2M100,
}

/// The feed-forward activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x * sigmoid(x)` (Marian's `swish`).
    Swish,
    /// `max(x, 0)` (M2M100, NLLB).
    Relu,
    /// Exact GELU.
    Gelu,
}

/// Model dimensions and special token ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Seq2SeqConfig {
    /// The architecture.
    pub family: Family,
    /// Source (and, when shared, target) vocabulary size.
    pub vocab_size: usize,
    /// Target vocabulary size (Marian checkpoints with separate vocabularies).
    pub target_vocab_size: usize,
    /// Whether encoder and decoder share one embedding matrix.
    pub shared_embeddings: bool,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Encoder layers.
    pub encoder_layers: usize,
    /// Decoder layers.
    pub decoder_layers: usize,
    /// Encoder attention heads.
    pub encoder_heads: usize,
    /// Decoder attention heads.
    pub decoder_heads: usize,
    /// Encoder feed-forward width.
    pub encoder_ffn: usize,
    /// Decoder feed-forward width.
    pub decoder_ffn: usize,
    /// Feed-forward activation.
    pub activation: Activation,
    /// Longest sequence the position table covers.
    pub max_positions: usize,
    /// Whether token embeddings are multiplied by `sqrt(d_model)`.
    pub scale_embedding: bool,
    /// Padding token.
    pub pad_token_id: u32,
    /// End of sequence.
    pub eos_token_id: u32,
    /// The first decoder input.
    pub decoder_start_token_id: u32,
}

impl Seq2SeqConfig {
    /// Parses a `config.json` of `model_type` `marian` or `m2m_100` (NLLB checkpoints say
    /// `m2m_100` too). Errors name the missing or unsupported field.
    pub fn from_hf_json(text: &str) -> Result<Self, String> {
        let json: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let family = match json["model_type"].as_str() {
            Some("marian") => Family::Marian,
            Some("m2m_100" | "nllb") => Family::M2M100,
            Some(other) => return Err(format!("model_type {other:?} is not supported")),
            None => return Err("no model_type".into()),
        };
        let int = |key: &str| -> Result<usize, String> {
            json[key]
                .as_u64()
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| format!("missing or invalid {key}"))
        };
        let id = |key: &str| -> Result<u32, String> {
            int(key).and_then(|v| u32::try_from(v).map_err(|_| format!("{key} out of range")))
        };
        let activation = match json["activation_function"].as_str().unwrap_or("relu") {
            "swish" | "silu" => Activation::Swish,
            "relu" => Activation::Relu,
            "gelu" => Activation::Gelu,
            other => return Err(format!("activation_function {other:?} is not supported")),
        };
        let vocab_size = int("vocab_size")?;
        let target_vocab_size = json["decoder_vocab_size"]
            .as_u64()
            .and_then(|v| usize::try_from(v).ok())
            .unwrap_or(vocab_size);
        let shared_embeddings = match family {
            Family::Marian => json["share_encoder_decoder_embeddings"]
                .as_bool()
                .unwrap_or(true),
            Family::M2M100 => true,
        };
        if target_vocab_size != vocab_size && shared_embeddings {
            return Err("decoder_vocab_size differs from vocab_size with shared embeddings".into());
        }
        let config = Self {
            family,
            vocab_size,
            target_vocab_size,
            shared_embeddings,
            d_model: int("d_model")?,
            encoder_layers: int("encoder_layers")?,
            decoder_layers: int("decoder_layers")?,
            encoder_heads: int("encoder_attention_heads")?,
            decoder_heads: int("decoder_attention_heads")?,
            encoder_ffn: int("encoder_ffn_dim")?,
            decoder_ffn: int("decoder_ffn_dim")?,
            activation,
            max_positions: int("max_position_embeddings")?,
            scale_embedding: json["scale_embedding"].as_bool().unwrap_or(false),
            pad_token_id: id("pad_token_id")?,
            eos_token_id: id("eos_token_id")?,
            decoder_start_token_id: id("decoder_start_token_id")?,
        };
        for (heads, what) in [
            (config.encoder_heads, "encoder"),
            (config.decoder_heads, "decoder"),
        ] {
            if heads == 0 || !config.d_model.is_multiple_of(heads) {
                return Err(format!("d_model is not a multiple of the {what} heads"));
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_marian_and_m2m100_configs() {
        // Abridged from Helsinki-NLP/opus-mt-en-de and facebook/m2m100_418M.
        let marian = r#"{"model_type": "marian", "activation_function": "swish",
            "vocab_size": 58101, "decoder_vocab_size": 58101, "d_model": 512,
            "encoder_layers": 6, "decoder_layers": 6, "encoder_attention_heads": 8,
            "decoder_attention_heads": 8, "encoder_ffn_dim": 2048, "decoder_ffn_dim": 2048,
            "max_position_embeddings": 512, "scale_embedding": true, "pad_token_id": 58100,
            "eos_token_id": 0, "decoder_start_token_id": 58100,
            "share_encoder_decoder_embeddings": true}"#;
        let c = Seq2SeqConfig::from_hf_json(marian).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.family, Family::Marian);
        assert_eq!(c.activation, Activation::Swish);
        assert_eq!((c.pad_token_id, c.decoder_start_token_id), (58100, 58100));

        let m2m = r#"{"model_type": "m2m_100", "activation_function": "relu",
            "vocab_size": 128112, "d_model": 1024, "encoder_layers": 12, "decoder_layers": 12,
            "encoder_attention_heads": 16, "decoder_attention_heads": 16,
            "encoder_ffn_dim": 4096, "decoder_ffn_dim": 4096, "max_position_embeddings": 1024,
            "scale_embedding": true, "pad_token_id": 1, "eos_token_id": 2,
            "decoder_start_token_id": 2}"#;
        let c = Seq2SeqConfig::from_hf_json(m2m).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.family, Family::M2M100);
        assert_eq!(c.target_vocab_size, 128112);

        let err = Seq2SeqConfig::from_hf_json(r#"{"model_type": "t5"}"#).unwrap_err();
        assert!(err.contains("t5"), "{err}");
        let err =
            Seq2SeqConfig::from_hf_json(&marian.replace("\"d_model\": 512,", "")).unwrap_err();
        assert!(err.contains("d_model"), "{err}");
    }
}
