//! The encoder-decoder Transformer of Marian and M2M100/NLLB, in candle.
//!
//! Written after `transformers`' `modeling_marian.py` and `modeling_m2m_100.py` (the reference
//! the faithfulness tests compare against). candle-transformers has a Marian model, but it
//! serves one unpadded sentence at a time: its encoder layers keep a key/value cache across
//! calls, there is no padding mask (so no batches), cross-attention keys and values are
//! recomputed at every decoding step, and caches cannot be reordered for beam search. This one
//! batches sentences of different lengths, computes cross-attention keys/values once per batch,
//! and reorders its caches when beams are pruned.

use candle_core::{D, DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, VarBuilder};

use super::linear::{Linear, skinny_matmul_t};

use super::config::{Activation, Family, Seq2SeqConfig};

/// Additive mask value for positions that must get no attention (what `transformers` uses:
/// the dtype's most negative finite value, so a fully masked row stays finite).
const MASKED: f32 = f32::MIN;

/// Multi-head attention. The query, key and value projections are fused into one matrix at
/// load (one matmul instead of three per self-attention call; decoding runs one token at a
/// time, where the number of operations, not their size, is the cost); `q` and `kv` are views
/// of its rows for cross-attention.
#[derive(Debug, Clone)]
struct Attention {
    qkv: Linear,
    q: Linear,
    kv: Linear,
    out: Linear,
    heads: usize,
    d: usize,
}

impl Attention {
    fn load(vb: VarBuilder<'_>, d: usize, heads: usize) -> Result<Self> {
        let part = |name: &str| -> Result<(Tensor, Tensor)> {
            let p = vb.pp(name);
            Ok((p.get((d, d), "weight")?, p.get(d, "bias")?))
        };
        let (q, k, v) = (part("q_proj")?, part("k_proj")?, part("v_proj")?);
        let weight = Tensor::cat(&[&q.0, &k.0, &v.0], 0)?;
        let bias = Tensor::cat(&[&q.1, &k.1, &v.1], 0)?;
        let rows = |start: usize, n: usize| -> Result<Linear> {
            Ok(Linear::new(
                weight.narrow(0, start, n)?,
                Some(bias.narrow(0, start, n)?),
            ))
        };
        Ok(Self {
            q: rows(0, d)?,
            kv: rows(d, 2 * d)?,
            qkv: Linear::new(weight, Some(bias)),
            out: Linear::load(d, d, vb.pp("out_proj"))?,
            heads,
            d,
        })
    }

    /// `(batch, seq, d)` to `(batch, heads, seq, d / heads)`.
    fn split(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, d) = x.dims3()?;
        x.reshape((b, n, self.heads, d / self.heads))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Split queries, keys and values of `x` attending to itself.
    fn self_qkv(&self, x: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let y = self.qkv.forward(x)?;
        let d = self.d;
        Ok((
            self.split(&y.narrow(2, 0, d)?)?,
            self.split(&y.narrow(2, d, d)?)?,
            self.split(&y.narrow(2, 2 * d, d)?)?,
        ))
    }

    /// Split keys and values of `x` (the encoder output, for cross-attention).
    fn key_value(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let y = self.kv.forward(x)?;
        let d = self.d;
        Ok((
            self.split(&y.narrow(2, 0, d)?)?,
            self.split(&y.narrow(2, d, d)?)?,
        ))
    }

    /// Split queries of `x`.
    fn query(&self, x: &Tensor) -> Result<Tensor> {
        self.split(&self.q.forward(x)?)
    }

    /// Attention of split queries over split keys/values, with an additive mask broadcast over
    /// `(batch, heads, queries, keys)`.
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let head_dim = q.dim(D::Minus1)?;
        let q = (q * (head_dim as f64).powf(-0.5))?;
        let mut scores = q.matmul(&k.t()?)?;
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let weights = softmax(&scores)?;
        let (b, _, n, _) = q.dims4()?;
        let mixed = weights.matmul(v)?.transpose(1, 2)?.reshape((b, n, ()))?;
        self.out.forward(&mixed)
    }
}

#[derive(Debug, Clone)]
struct FeedForward {
    fc1: Linear,
    fc2: Linear,
    activation: Activation,
}

impl FeedForward {
    fn load(vb: &VarBuilder<'_>, d: usize, ffn: usize, activation: Activation) -> Result<Self> {
        Ok(Self {
            fc1: Linear::load(d, ffn, vb.pp("fc1"))?,
            fc2: Linear::load(ffn, d, vb.pp("fc2"))?,
            activation,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.fc1.forward(x)?;
        let h = match self.activation {
            Activation::Swish => candle_nn::ops::silu(&h)?,
            Activation::Relu => h.relu()?,
            Activation::Gelu => h.gelu_erf()?,
        };
        self.fc2.forward(&h)
    }
}

/// Softmax over the last dimension. candle's fused kernel splits rows across threads, which
/// costs more than the arithmetic for the few rows of a decoding step (16 µs against 1 µs for
/// one token's scores); small inputs take the plain single-threaded operations instead.
fn softmax(scores: &Tensor) -> Result<Tensor> {
    if scores.elem_count() > 1 << 14 {
        return candle_nn::ops::softmax_last_dim(scores);
    }
    let max = scores.max_keepdim(D::Minus1)?;
    let exp = scores.broadcast_sub(&max)?.exp()?;
    exp.broadcast_div(&exp.sum_keepdim(D::Minus1)?)
}

fn layer_norm(vb: VarBuilder<'_>, d: usize) -> Result<LayerNorm> {
    candle_nn::layer_norm(d, 1e-5, vb)
}

/// A residual sub-layer `f` with its norm: after the sum (Marian) or before `f` (M2M100).
fn residual(
    family: Family,
    x: &Tensor,
    norm: &LayerNorm,
    f: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    match family {
        Family::Marian => norm.forward(&(x + f(x)?)?),
        Family::M2M100 => x + f(&norm.forward(x)?)?,
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    attn: Attention,
    attn_norm: LayerNorm,
    ffn: FeedForward,
    ffn_norm: LayerNorm,
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    attn: Attention,
    attn_norm: LayerNorm,
    cross: Attention,
    cross_norm: LayerNorm,
    ffn: FeedForward,
    ffn_norm: LayerNorm,
}

/// The encoder's output for a batch of source sentences.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// `(batch, source length, d_model)`.
    hidden: Tensor,
    /// `(batch, 1, 1, source length)`: 0 for tokens, [`MASKED`] for padding; `None` when no
    /// sentence is padded.
    key_mask: Option<Tensor>,
}

impl Encoded {
    /// Sentences in the batch.
    pub fn batch(&self) -> Result<usize> {
        self.hidden.dim(0)
    }
}

/// Per-sequence decoder caches: self-attention keys/values so far, and the cross-attention
/// keys/values of the encoder output, computed once.
#[derive(Debug, Clone)]
pub struct DecoderState {
    self_kv: Vec<Option<(Tensor, Tensor)>>,
    cross_kv: Vec<(Tensor, Tensor)>,
    key_mask: Option<Tensor>,
    /// Decoder tokens consumed so far.
    len: usize,
}

impl DecoderState {
    /// Keeps rows `indices` (in that order, repeats allowed) of every cache: beam search calls
    /// this after choosing which hypotheses continue.
    pub fn select(&mut self, indices: &[u32]) -> Result<()> {
        let Some(device) = self.cross_kv.first().map(|kv| kv.0.device().clone()) else {
            return Ok(());
        };
        let idx = Tensor::new(indices, &device)?;
        let pick = |t: &Tensor| t.index_select(&idx, 0);
        for kv in self.self_kv.iter_mut().flatten() {
            *kv = (pick(&kv.0)?, pick(&kv.1)?);
        }
        for kv in &mut self.cross_kv {
            *kv = (pick(&kv.0)?, pick(&kv.1)?);
        }
        if let Some(mask) = &self.key_mask {
            self.key_mask = Some(pick(mask)?);
        }
        Ok(())
    }

    /// Decoder tokens consumed so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no decoder token has been consumed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Marian or M2M100/NLLB weights, ready to translate.
#[derive(Debug, Clone)]
pub struct Seq2SeqModel {
    config: Seq2SeqConfig,
    encoder_embed: Embedding,
    decoder_embed: Embedding,
    /// Sinusoidal position table, row = position id.
    positions: Tensor,
    encoder: Vec<EncoderLayer>,
    decoder: Vec<DecoderLayer>,
    /// M2M100's norms after each stack.
    encoder_norm: Option<LayerNorm>,
    decoder_norm: Option<LayerNorm>,
    /// `(target vocab, d_model)`.
    lm_head: Tensor,
    /// Marian's `final_logits_bias`, `(target vocab)`.
    logits_bias: Option<Tensor>,
    device: Device,
}

impl Seq2SeqModel {
    /// Loads `transformers`-named weights (`model.encoder.layers.0.self_attn.q_proj.weight`, ...).
    pub fn load(vb: VarBuilder<'_>, config: &Seq2SeqConfig) -> Result<Self> {
        let c = config;
        let m = vb.pp("model");
        let d = c.d_model;
        // Tied matrices are saved once, under whichever name the exporter kept.
        let first = |names: &[&str], rows: usize| -> Result<Tensor> {
            let mut last_error = None;
            for name in names {
                match vb.get((rows, d), name) {
                    Ok(t) => return Ok(t),
                    Err(e) => last_error = Some(e),
                }
            }
            Err(last_error.unwrap_or_else(|| candle_core::Error::Msg("no names".into())))
        };
        let shared = ["model.shared.weight"];
        let encoder_embed = first(
            &["model.encoder.embed_tokens.weight", shared[0]],
            c.vocab_size,
        )?;
        let decoder_embed = if c.shared_embeddings {
            encoder_embed.clone()
        } else {
            first(&["model.decoder.embed_tokens.weight"], c.target_vocab_size)?
        };
        let lm_head =
            first(&["lm_head.weight"], c.target_vocab_size).unwrap_or(decoder_embed.clone());
        let logits_bias = match c.family {
            Family::Marian => Some(
                vb.get((1, c.target_vocab_size), "final_logits_bias")?
                    .flatten_all()?,
            ),
            Family::M2M100 => None,
        };
        let encoder = (0..c.encoder_layers)
            .map(|i| {
                let l = m.pp(format!("encoder.layers.{i}"));
                Ok(EncoderLayer {
                    attn: Attention::load(l.pp("self_attn"), d, c.encoder_heads)?,
                    attn_norm: layer_norm(l.pp("self_attn_layer_norm"), d)?,
                    ffn: FeedForward::load(&l, d, c.encoder_ffn, c.activation)?,
                    ffn_norm: layer_norm(l.pp("final_layer_norm"), d)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let decoder = (0..c.decoder_layers)
            .map(|i| {
                let l = m.pp(format!("decoder.layers.{i}"));
                Ok(DecoderLayer {
                    attn: Attention::load(l.pp("self_attn"), d, c.decoder_heads)?,
                    attn_norm: layer_norm(l.pp("self_attn_layer_norm"), d)?,
                    cross: Attention::load(l.pp("encoder_attn"), d, c.decoder_heads)?,
                    cross_norm: layer_norm(l.pp("encoder_attn_layer_norm"), d)?,
                    ffn: FeedForward::load(&l, d, c.decoder_ffn, c.activation)?,
                    ffn_norm: layer_norm(l.pp("final_layer_norm"), d)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let (encoder_norm, decoder_norm) = match c.family {
            Family::Marian => (None, None),
            Family::M2M100 => (
                Some(layer_norm(m.pp("encoder.layer_norm"), d)?),
                Some(layer_norm(m.pp("decoder.layer_norm"), d)?),
            ),
        };
        let device = vb.device().clone();
        Ok(Self {
            positions: position_table(c, &device)?,
            config: c.clone(),
            encoder_embed: Embedding::new(encoder_embed, d),
            decoder_embed: Embedding::new(decoder_embed, d),
            encoder,
            decoder,
            encoder_norm,
            decoder_norm,
            lm_head,
            logits_bias,
            device,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Seq2SeqConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Embeds token ids `(batch, n)` whose first token sits at position `start`.
    fn embed(&self, table: &Embedding, ids: &Tensor, start: usize) -> Result<Tensor> {
        let n = ids.dim(1)?;
        let first = match self.config.family {
            Family::Marian => start,
            // Position ids start after the padding id (fairseq's convention).
            Family::M2M100 => start + self.config.pad_token_id as usize + 1,
        };
        let rows = self.positions.dim(0)?;
        if first + n > rows {
            candle_core::bail!(
                "sequence of {} tokens is longer than the model's {} positions",
                start + n,
                self.config.max_positions
            );
        }
        let scale = if self.config.scale_embedding {
            (self.config.d_model as f64).sqrt()
        } else {
            1.0
        };
        let tokens = (table.forward(ids)? * scale)?;
        tokens.broadcast_add(&self.positions.narrow(0, first, n)?)
    }

    /// Encodes a batch of token id sequences (padded on the right with the pad id).
    pub fn encode(&self, batch: &[Vec<u32>]) -> Result<Encoded> {
        let longest = batch.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let pad = self.config.pad_token_id;
        let mut ids = Vec::with_capacity(batch.len() * longest);
        let mut mask = Vec::with_capacity(batch.len() * longest);
        for sentence in batch {
            for i in 0..longest {
                ids.push(sentence.get(i).copied().unwrap_or(pad));
                mask.push(if i < sentence.len() { 0.0 } else { MASKED });
            }
        }
        let ids = Tensor::from_vec(ids, (batch.len(), longest), &self.device)?;
        let padded = batch.iter().any(|s| s.len() < longest);
        let key_mask = if padded {
            Some(Tensor::from_vec(
                mask,
                (batch.len(), 1, 1, longest),
                &self.device,
            )?)
        } else {
            None
        };
        let family = self.config.family;
        let mut x = self.embed(&self.encoder_embed, &ids, 0)?;
        for layer in &self.encoder {
            x = residual(family, &x, &layer.attn_norm, |h| {
                let (q, k, v) = layer.attn.self_qkv(h)?;
                layer.attn.attend(&q, &k, &v, key_mask.as_ref())
            })?;
            x = residual(family, &x, &layer.ffn_norm, |h| layer.ffn.forward(h))?;
        }
        if let Some(norm) = &self.encoder_norm {
            x = norm.forward(&x)?;
        }
        Ok(Encoded {
            hidden: x,
            key_mask,
        })
    }

    /// Decoder caches for `encoded`, each sentence repeated `copies` times in a row (one row per
    /// beam).
    pub fn start(&self, encoded: &Encoded, copies: usize) -> Result<DecoderState> {
        let b = encoded.batch()?;
        let rows: Vec<u32> = (0..b as u32)
            .flat_map(|i| std::iter::repeat_n(i, copies))
            .collect();
        let idx = Tensor::new(rows.as_slice(), &self.device)?;
        let hidden = encoded.hidden.index_select(&idx, 0)?;
        let cross_kv = self
            .decoder
            .iter()
            .map(|layer| layer.cross.key_value(&hidden))
            .collect::<Result<Vec<_>>>()?;
        Ok(DecoderState {
            self_kv: vec![None; self.decoder.len()],
            cross_kv,
            key_mask: match &encoded.key_mask {
                Some(mask) => Some(mask.index_select(&idx, 0)?),
                None => None,
            },
            len: 0,
        })
    }

    /// Feeds `tokens` (`rows x n`, one row per cache row) to the decoder and returns the
    /// next-token logits after the last of them, `(rows, target vocab)`.
    pub fn step(&self, state: &mut DecoderState, tokens: &[Vec<u32>]) -> Result<Tensor> {
        let n = tokens.first().map_or(0, Vec::len);
        if n == 0 || tokens.iter().any(|t| t.len() != n) {
            candle_core::bail!("decoder step needs the same, non-zero number of tokens per row");
        }
        let flat: Vec<u32> = tokens.iter().flatten().copied().collect();
        let ids = Tensor::from_vec(flat, (tokens.len(), n), &self.device)?;
        let past = state.len;
        let family = self.config.family;
        // Causal mask over the new tokens; everything cached is visible.
        let causal = if n > 1 {
            let mask: Vec<f32> = (0..n)
                .flat_map(|i| (0..past + n).map(move |j| if j > past + i { MASKED } else { 0.0 }))
                .collect();
            Some(Tensor::from_vec(mask, (1, 1, n, past + n), &self.device)?)
        } else {
            None
        };
        let mut x = self.embed(&self.decoder_embed, &ids, past)?;
        for (i, layer) in self.decoder.iter().enumerate() {
            x = residual(family, &x, &layer.attn_norm, |h| {
                let (q, k, v) = layer.attn.self_qkv(h)?;
                let (k, v) = match &state.self_kv[i] {
                    Some((pk, pv)) => (Tensor::cat(&[pk, &k], 2)?, Tensor::cat(&[pv, &v], 2)?),
                    None => (k, v),
                };
                let out = layer.attn.attend(&q, &k, &v, causal.as_ref())?;
                state.self_kv[i] = Some((k, v));
                Ok(out)
            })?;
            x = residual(family, &x, &layer.cross_norm, |h| {
                let (k, v) = &state.cross_kv[i];
                layer
                    .cross
                    .attend(&layer.cross.query(h)?, k, v, state.key_mask.as_ref())
            })?;
            x = residual(family, &x, &layer.ffn_norm, |h| layer.ffn.forward(h))?;
        }
        if let Some(norm) = &self.decoder_norm {
            x = norm.forward(&x)?;
        }
        state.len += n;
        let last = x.i((.., n - 1, ..))?.contiguous()?;
        let logits = match skinny_matmul_t(&last, &self.lm_head)? {
            Some(logits) => logits,
            None => last.matmul(&self.lm_head.t()?)?,
        };
        match &self.logits_bias {
            Some(bias) => logits.broadcast_add(bias),
            None => Ok(logits),
        }
    }
}

/// The sinusoidal position table of `family`, `(rows, d_model)`: `[sin | cos]` halves.
fn position_table(c: &Seq2SeqConfig, device: &Device) -> Result<Tensor> {
    let d = c.d_model;
    let half = d / 2;
    let (rows, frequencies): (usize, Vec<f64>) = match c.family {
        // modeling_marian.py: position / 10000^(2j / d) for the j-th sin/cos pair.
        Family::Marian => (
            c.max_positions,
            (0..half)
                .map(|j| 1.0 / 10000f64.powf(2.0 * j as f64 / d as f64))
                .collect(),
        ),
        // modeling_m2m_100.py (fairseq): exp(-j * ln(10000) / (half - 1)); two extra rows
        // because positions start after the padding id.
        Family::M2M100 => {
            let step = 10000f64.ln() / (half.max(2) - 1) as f64;
            (
                c.max_positions + 2,
                (0..half).map(|j| (-(j as f64) * step).exp()).collect(),
            )
        }
    };
    let mut table = vec![0f32; rows * d];
    for pos in 0..rows {
        if c.family == Family::M2M100 && pos == c.pad_token_id as usize {
            continue; // the padding row stays zero
        }
        let row = &mut table[pos * d..(pos + 1) * d];
        for (j, f) in frequencies.iter().enumerate() {
            let angle = pos as f64 * f;
            row[j] = angle.sin() as f32;
            row[half + j] = angle.cos() as f32;
        }
    }
    Tensor::from_vec(table, (rows, d), device)?.to_dtype(DType::F32)
}
