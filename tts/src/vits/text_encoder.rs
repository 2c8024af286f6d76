//! The text encoder (VITS's `TextEncoder`, Kim et al. 2021, built on the relative-position
//! Transformer encoder of Shaw et al. 2018 with a window of ±4 positions): phoneme ids to the
//! hidden states the duration predictor reads, and the mean and log-scale of the prior for each
//! phoneme.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::layers::{ChannelNorm, Conv, count, halves, softmax_last};

/// Multi-head self-attention with relative position embeddings shared by the heads
/// (`attentions.MultiHeadAttention` with `window_size`).
#[derive(Debug, Clone)]
struct RelativeAttention {
    q: Conv,
    k: Conv,
    v: Conv,
    o: Conv,
    /// `(2w + 1, head_dim)`: the key and value embeddings of offsets `-w..=w`.
    rel_k: Tensor,
    rel_v: Tensor,
    heads: usize,
}

impl RelativeAttention {
    fn load(vb: &VarBuilder<'_>) -> Result<Self> {
        let rel_k = vb.get_unchecked("emb_rel_k")?.squeeze(0)?;
        let rel_v = vb.get_unchecked("emb_rel_v")?.squeeze(0)?;
        let q = Conv::load(&vb.pp("conv_q"), 1, 1)?;
        let heads = q.out_channels()? / rel_k.dim(1)?;
        Ok(Self {
            k: Conv::load(&vb.pp("conv_k"), 1, 1)?,
            v: Conv::load(&vb.pp("conv_v"), 1, 1)?,
            o: Conv::load(&vb.pp("conv_o"), 1, 1)?,
            q,
            rel_k,
            rel_v,
            heads,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, d, t) = x.dims3()?;
        let head_dim = d / self.heads;
        // (b, heads, t, head_dim)
        let split = |y: Tensor| {
            y.reshape((b, self.heads, head_dim, t))?
                .transpose(2, 3)?
                .contiguous()
        };
        let q = (split(self.q.forward(x)?)? / (head_dim as f64).sqrt())?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
        let mut scores = q.matmul(&k.t()?)?;
        // Offset r = j - i within the window adds q_i . rel_k[r]: one (t, t) band per offset.
        let window = (self.rel_k.dim(0)? - 1) / 2;
        let rel_logits = q.broadcast_matmul(&self.rel_k.t()?)?; // (b, h, t, 2w + 1)
        let bands: Vec<Tensor> = (0..=2 * window)
            .map(|slot| band(t, slot as isize - window as isize, x.device()))
            .collect::<Result<_>>()?;
        for (slot, band) in bands.iter().enumerate() {
            let column = rel_logits.narrow(3, slot, 1)?;
            scores = (scores + column.broadcast_mul(band)?)?;
        }
        let weights = softmax_last(&scores)?;
        let mut out = weights.matmul(&v)?;
        // And the output of position i takes sum_j p_ij rel_v[j - i].
        for (slot, band) in bands.iter().enumerate() {
            let weight = weights.broadcast_mul(band)?.sum_keepdim(3)?; // (b, h, t, 1)
            let embedding = self.rel_v.narrow(0, slot, 1)?; // (1, head_dim)
            out = (out + weight.broadcast_mul(&embedding)?)?;
        }
        let out = out.transpose(2, 3)?.reshape((b, d, t))?;
        self.o.forward(&out)
    }
}

/// The `(t, t)` matrix with ones where `j - i == offset`.
fn band(t: usize, offset: isize, device: &candle_core::Device) -> Result<Tensor> {
    let mut m = vec![0f32; t * t];
    for i in 0..t {
        let j = i as isize + offset;
        if (0..t as isize).contains(&j) {
            m[i * t + j as usize] = 1.0;
        }
    }
    Tensor::from_vec(m, (t, t), device)
}

/// Two convolutions with a ReLU between (`attentions.FFN`).
#[derive(Debug, Clone)]
struct FeedForward {
    conv_1: Conv,
    conv_2: Conv,
}

impl Module for FeedForward {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.conv_2.forward(&self.conv_1.forward(x)?.relu()?)
    }
}

#[derive(Debug, Clone)]
struct Layer {
    attention: RelativeAttention,
    norm_1: ChannelNorm,
    ffn: FeedForward,
    norm_2: ChannelNorm,
}

/// The text encoder.
#[derive(Debug, Clone)]
pub(crate) struct TextEncoder {
    embedding: Tensor,
    layers: Vec<Layer>,
    proj: Conv,
}

/// What the text encoder gives for a phoneme sequence, each `(1, channels, phonemes)`.
pub(crate) struct Encoded {
    pub(crate) hidden: Tensor,
    pub(crate) mean: Tensor,
    pub(crate) log_scale: Tensor,
}

impl TextEncoder {
    /// `vb` at `enc_p`; `embedding` is the phoneme table `(symbols, channels)`.
    pub(crate) fn load(vb: &VarBuilder<'_>, embedding: Tensor) -> Result<Self> {
        let enc = vb.pp("encoder");
        let layers = (0..count(&enc, "attn_layers", "conv_q.weight"))
            .map(|i| {
                Ok(Layer {
                    attention: RelativeAttention::load(&enc.pp(format!("attn_layers.{i}")))?,
                    norm_1: ChannelNorm::load(&enc.pp(format!("norm_layers_1.{i}")))?,
                    ffn: FeedForward {
                        conv_1: Conv::load(&enc.pp(format!("ffn_layers.{i}.conv_1")), 1, 1)?,
                        conv_2: Conv::load(&enc.pp(format!("ffn_layers.{i}.conv_2")), 1, 1)?,
                    },
                    norm_2: ChannelNorm::load(&enc.pp(format!("norm_layers_2.{i}")))?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            embedding,
            layers,
            proj: Conv::load(&vb.pp("proj"), 1, 1)?,
        })
    }

    /// Encodes phoneme ids (one sequence).
    pub(crate) fn forward(&self, ids: &[u32]) -> Result<Encoded> {
        let channels = self.embedding.dim(1)?;
        let ids = Tensor::new(ids, self.embedding.device())?;
        let mut x = (self.embedding.index_select(&ids, 0)? * (channels as f64).sqrt())?
            .t()?
            .unsqueeze(0)?
            .contiguous()?;
        for layer in &self.layers {
            x = layer
                .norm_1
                .forward(&(&x + layer.attention.forward(&x)?)?)?;
            x = layer.norm_2.forward(&(&x + layer.ffn.forward(&x)?)?)?;
        }
        let (mean, log_scale) = halves(&self.proj.forward(&x)?)?;
        Ok(Encoded {
            hidden: x,
            mean,
            log_scale,
        })
    }
}
