//! The Whisper network (Radford et al. 2022; `whisper/model.py` of
//! <https://github.com/openai/whisper>), with the caches live decoding needs.
//!
//! candle-transformers' port re-runs self-attention over the whole token sequence at every step;
//! here the decoder keeps each layer's self-attention keys and values ([`DecoderCache`]) so a step
//! costs one token, and the cross-attention keys and values are computed once per audio window
//! ([`AudioContext`]) and shared by every decoding attempt on it (temperature fallback, language
//! detection). Weights use Hugging Face's names, as the model store writes them.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, Embedding, LayerNorm, Linear, VarBuilder};

use super::{Precision, WhisperConfig};
use crate::ops::{gelu_erf_in_place, softmax_last_dim_in_place};

/// A weight matrix applied as `x W^T + b`: in f32, or block-quantized (ggml's Q8_0 / Q4_0, as
/// candle's quantized kernels run them).
#[derive(Debug, Clone)]
enum Proj {
    Float(Linear),
    Quantized {
        weight: QMatMul,
        bias: Option<Tensor>,
    },
}

impl Proj {
    fn new(weight: Tensor, bias: Option<Tensor>, precision: Precision) -> Result<Self> {
        let dtype = match precision {
            Precision::F32 => return Ok(Self::Float(Linear::new(weight, bias))),
            // (a whole-model choice; `Whisper::load` gives each part its own)
            Precision::Q8 | Precision::Q8Decoder => GgmlDType::Q8_0,
            Precision::Q4 => GgmlDType::Q4_0,
        };
        Ok(Self::Quantized {
            weight: QMatMul::from_qtensor(QTensor::quantize(&weight, dtype)?)?,
            bias,
        })
    }
}

impl Module for Proj {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Float(linear) => linear.forward(x),
            Self::Quantized {
                weight,
                bias: Some(bias),
            } => weight.forward(x)?.broadcast_add(bias),
            Self::Quantized { weight, bias: None } => weight.forward(x),
        }
    }
}

fn linear(
    vb: VarBuilder<'_>,
    d_in: usize,
    d_out: usize,
    bias: bool,
    precision: Precision,
) -> Result<Proj> {
    let weight = vb.get((d_out, d_in), "weight")?;
    let bias = if bias {
        Some(vb.get(d_out, "bias")?)
    } else {
        None
    };
    Proj::new(weight, bias, precision)
}

fn layer_norm(vb: VarBuilder<'_>, d: usize) -> Result<LayerNorm> {
    Ok(LayerNorm::new(
        vb.get(d, "weight")?,
        vb.get(d, "bias")?,
        1e-5,
    ))
}

/// Multi-head attention projections.
#[derive(Debug, Clone)]
struct Attention {
    q: Proj,
    k: Proj,
    v: Proj,
    out: Proj,
    heads: usize,
}

impl Attention {
    /// `kv` is the precision of the key and value projections, which in cross-attention read
    /// the whole audio window (as the encoder's matrices do) rather than one token.
    fn load(
        vb: VarBuilder<'_>,
        d: usize,
        heads: usize,
        p: Precision,
        kv: Precision,
    ) -> Result<Self> {
        Ok(Self {
            q: linear(vb.pp("q_proj"), d, d, true, p)?,
            k: linear(vb.pp("k_proj"), d, d, false, kv)?,
            v: linear(vb.pp("v_proj"), d, d, true, kv)?,
            out: linear(vb.pp("out_proj"), d, d, true, p)?,
            heads,
        })
    }

    /// `(batch, seq, d)` to `(batch, heads, seq, d / heads)`.
    fn split(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, d) = x.dims3()?;
        x.reshape((b, n, self.heads, d / self.heads))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Keys and values of `x`, split into heads.
    fn key_value(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok((
            self.split(&self.k.forward(x)?)?,
            self.split(&self.v.forward(x)?)?,
        ))
    }

    /// Attention of `x`'s queries over `k`/`v` (already split), with an additive mask.
    fn attend(&self, x: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        // Scale the queries, not the (much larger) score matrix.
        let q = self.split(&self.q.forward(x)?)?;
        let head_dim = q.dim(D::Minus1)?;
        let q = (q / (head_dim as f64).sqrt())?;
        let mut scores = q.matmul(&k.t()?)?;
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let weights = softmax_last_dim_in_place(scores)?;
        let (b, _, n, _) = q.dims4()?;
        let mixed = weights.matmul(v)?.transpose(1, 2)?.reshape((b, n, ()))?;
        self.out.forward(&mixed)
    }
}

#[derive(Debug, Clone)]
struct Mlp {
    fc1: Proj,
    fc2: Proj,
    ln: LayerNorm,
}

impl Mlp {
    fn load(vb: VarBuilder<'_>, d: usize, ffn: usize, p: Precision) -> Result<Self> {
        Ok(Self {
            fc1: linear(vb.pp("fc1"), d, ffn, true, p)?,
            fc2: linear(vb.pp("fc2"), ffn, d, true, p)?,
            ln: layer_norm(vb.pp("final_layer_norm"), d)?,
        })
    }

    /// `x + fc2(gelu(fc1(ln(x))))`, with the exact (erf) GELU Whisper was trained with.
    fn residual(&self, x: &Tensor) -> Result<Tensor> {
        x + self
            .fc2
            .forward(&gelu_erf_in_place(self.fc1.forward(&self.ln.forward(x)?)?)?)?
    }
}

#[derive(Debug, Clone)]
struct EncoderBlock {
    attn: Attention,
    attn_ln: LayerNorm,
    mlp: Mlp,
}

/// The audio encoder: two convolutions, sinusoidal positions, transformer blocks.
#[derive(Debug, Clone)]
pub(crate) struct Encoder {
    conv1: Conv1d,
    conv2: Conv1d,
    positions: Tensor,
    blocks: Vec<EncoderBlock>,
    ln_post: LayerNorm,
}

impl Encoder {
    fn load(vb: VarBuilder<'_>, cfg: &WhisperConfig, p: Precision) -> Result<Self> {
        let d = cfg.d_model;
        let conv = |vb: VarBuilder<'_>, d_in: usize, stride: usize| -> Result<Conv1d> {
            let config = Conv1dConfig {
                padding: 1,
                stride,
                dilation: 1,
                groups: 1,
                cudnn_fwd_algo: None,
            };
            Ok(Conv1d::new(
                vb.get((d, d_in, 3), "weight")?,
                Some(vb.get(d, "bias")?),
                config,
            ))
        };
        let blocks = (0..cfg.encoder_layers)
            .map(|i| {
                let vb = vb.pp(format!("layers.{i}"));
                Ok(EncoderBlock {
                    attn: Attention::load(
                        vb.pp("self_attn"),
                        d,
                        cfg.encoder_attention_heads,
                        p,
                        p,
                    )?,
                    attn_ln: layer_norm(vb.pp("self_attn_layer_norm"), d)?,
                    mlp: Mlp::load(vb.clone(), d, 4 * d, p)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            conv1: conv(vb.pp("conv1"), cfg.num_mel_bins, 1)?,
            conv2: conv(vb.pp("conv2"), d, 2)?,
            positions: vb.get((cfg.max_source_positions, d), "embed_positions.weight")?,
            blocks,
            ln_post: layer_norm(vb.pp("layer_norm"), d)?,
        })
    }

    /// `(1, n_mels, frames)` mel to `(1, frames / 2, d)` audio features.
    pub(crate) fn forward(&self, mel: &Tensor) -> Result<Tensor> {
        let x = gelu_erf_in_place(self.conv1.forward(mel)?)?;
        let x = gelu_erf_in_place(self.conv2.forward(&x)?)?.transpose(1, 2)?;
        let n = x.dim(1)?;
        let mut x = x.broadcast_add(&self.positions.narrow(0, 0, n)?)?;
        for block in &self.blocks {
            let h = block.attn_ln.forward(&x)?;
            let (k, v) = block.attn.key_value(&h)?;
            x = (&x + block.attn.attend(&h, &k, &v, None)?)?;
            x = block.mlp.residual(&x)?;
        }
        self.ln_post.forward(&x)
    }
}

#[derive(Debug, Clone)]
struct DecoderBlock {
    self_attn: Attention,
    self_ln: LayerNorm,
    cross_attn: Attention,
    cross_ln: LayerNorm,
    mlp: Mlp,
}

/// The text decoder.
#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    embed: Embedding,
    lm_head: Proj,
    positions: Tensor,
    blocks: Vec<DecoderBlock>,
    ln: LayerNorm,
}

/// One audio window as the decoder sees it: every layer's cross-attention keys and values.
#[derive(Debug, Clone)]
pub struct AudioContext {
    cross: Vec<(Tensor, Tensor)>,
}

/// Self-attention keys and values of the tokens decoded so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct DecoderCache {
    layers: Vec<(Tensor, Tensor)>,
    len: usize,
}

impl DecoderCache {
    /// Tokens already in the cache.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Decoder {
    /// `audio` is the precision of the cross-attention keys and values (see [`Attention::load`]).
    fn load(
        vb: VarBuilder<'_>,
        cfg: &WhisperConfig,
        p: Precision,
        audio: Precision,
    ) -> Result<Self> {
        let d = cfg.d_model;
        let blocks = (0..cfg.decoder_layers)
            .map(|i| {
                let vb = vb.pp(format!("layers.{i}"));
                Ok(DecoderBlock {
                    self_attn: Attention::load(
                        vb.pp("self_attn"),
                        d,
                        cfg.decoder_attention_heads,
                        p,
                        p,
                    )?,
                    self_ln: layer_norm(vb.pp("self_attn_layer_norm"), d)?,
                    cross_attn: Attention::load(
                        vb.pp("encoder_attn"),
                        d,
                        cfg.decoder_attention_heads,
                        p,
                        audio,
                    )?,
                    cross_ln: layer_norm(vb.pp("encoder_attn_layer_norm"), d)?,
                    mlp: Mlp::load(vb.clone(), d, 4 * d, p)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let embed = vb.get((cfg.vocab_size, d), "embed_tokens.weight")?;
        Ok(Self {
            // The output projection is the token embedding, transposed (tied weights).
            lm_head: Proj::new(embed.clone(), None, p)?,
            embed: Embedding::new(embed, d),
            positions: vb.get((cfg.max_target_positions, d), "embed_positions.weight")?,
            blocks,
            ln: layer_norm(vb.pp("layer_norm"), d)?,
        })
    }

    /// The cross-attention keys and values of encoded audio.
    pub(crate) fn audio_context(&self, features: &Tensor) -> Result<AudioContext> {
        let cross = self
            .blocks
            .iter()
            .map(|b| b.cross_attn.key_value(features))
            .collect::<Result<Vec<_>>>()?;
        Ok(AudioContext { cross })
    }

    /// Runs `tokens` (the ones after those in `cache`) and returns their hidden states
    /// `(1, tokens, d)`; the cache grows by `tokens.len()`.
    pub(crate) fn forward(
        &self,
        tokens: &[u32],
        audio: &AudioContext,
        cache: &mut DecoderCache,
    ) -> Result<Tensor> {
        let device = self.positions.device();
        let (start, n) = (cache.len, tokens.len());
        let ids = Tensor::new(tokens, device)?.unsqueeze(0)?;
        let mut x = self
            .embed
            .forward(&ids)?
            .broadcast_add(&self.positions.narrow(0, start, n)?)?;
        // New token i sits at position start + i and sees every position up to its own.
        let mask = if n > 1 {
            let values: Vec<f32> = (0..n)
                .flat_map(|i| {
                    (0..start + n).map(move |j| {
                        if j > start + i {
                            f32::NEG_INFINITY
                        } else {
                            0.0
                        }
                    })
                })
                .collect();
            Some(Tensor::from_vec(values, (n, start + n), device)?)
        } else {
            None
        };
        for (layer, block) in self.blocks.iter().enumerate() {
            let h = block.self_ln.forward(&x)?;
            let (k, v) = block.self_attn.key_value(&h)?;
            let (k, v) = match cache.layers.get(layer) {
                Some((pk, pv)) => (Tensor::cat(&[pk, &k], 2)?, Tensor::cat(&[pv, &v], 2)?),
                None => (k, v),
            };
            x = (&x + block.self_attn.attend(&h, &k, &v, mask.as_ref())?)?;
            if layer < cache.layers.len() {
                cache.layers[layer] = (k, v);
            } else {
                cache.layers.push((k, v));
            }
            let (ck, cv) = &audio.cross[layer];
            let h = block.cross_ln.forward(&x)?;
            x = (&x + block.cross_attn.attend(&h, ck, cv, None)?)?;
            x = block.mlp.residual(&x)?;
        }
        cache.len += n;
        self.ln.forward(&x)
    }

    /// Logits over the vocabulary of one hidden state `(1, 1, d)`: tied to the token embedding.
    pub(crate) fn logits(&self, hidden: &Tensor) -> Result<Vec<f32>> {
        self.lm_head
            .forward(&hidden.flatten_all()?.unsqueeze(0)?)?
            .flatten_all()?
            .to_vec1::<f32>()
    }
}

/// Encoder and decoder.
#[derive(Debug, Clone)]
pub(crate) struct Whisper {
    pub(crate) encoder: Encoder,
    pub(crate) decoder: Decoder,
}

impl Whisper {
    pub(crate) fn load(
        vb: &VarBuilder<'_>,
        cfg: &WhisperConfig,
        precision: Precision,
    ) -> Result<Self> {
        let (encoder, decoder) = precision.encoder_and_decoder();
        Ok(Self {
            encoder: Encoder::load(vb.pp("model.encoder"), cfg, encoder)?,
            decoder: Decoder::load(vb.pp("model.decoder"), cfg, decoder, encoder)?,
        })
    }
}

/// Loads f16/f32 safetensors bytes as f32 weights on `device`.
pub(crate) fn var_builder(bytes: Vec<u8>, device: &Device) -> Result<VarBuilder<'static>> {
    VarBuilder::from_buffered_safetensors(bytes, DType::F32, device)
}
