//! A decoder-only Transformer with quantized weights, read from a GGUF file: the Gemma 3,
//! Qwen2/2.5, Qwen3 and Llama (Mistral) families, the layouts llama.cpp's converter writes.
//!
//! Ported from the reference implementations: `transformers`' `models/gemma3`, `models/qwen2`,
//! `models/qwen3` and `models/llama`, with llama.cpp's GGUF conventions (norm weights of
//! Gemma stored with the `+ 1` already added; Llama's query and key rows permuted for
//! interleaved rotary pairs).
//!
//! Why not candle-transformers' quantized models, which this replaced:
//! - Memory. They build rotary tables for the whole context the file advertises, per layer:
//!   2.4 GB for Gemma 3 270M (131,072 positions x 18 layers), ten times its weights; and they
//!   expand the token embedding to f32 (0.67 GB for Gemma's 262,144 x 640). Here the rotary
//!   angles are computed for the positions of each call, and the embedding stays quantized
//!   (rows are dequantized as they are looked up; the same tensor is the tied output layer).
//! - Correctness. Their Gemma 3 gates its feed-forward with SiLU; Gemma uses GELU (tanh), as
//!   `transformers` and llama.cpp do (candle issue 3745). Their cached steps ignore Gemma's
//!   sliding window.
//! - Sharing. Their weights and key/value caches are one `&mut` value, so a model served to
//!   several threads was cloned or locked per answer, and no prompt prefix could be reused.
//!   Here [`Decoder`] is immutable and shared; a [`Cache`] belongs to one sequence, clones
//!   cheaply (tensors are reference-counted) and can be cut back to a shorter prefix.

use std::borrow::Cow;
use std::io::{Read, Seek};
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor, gguf_file};
use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_transformers::quantized_nn::RmsNorm;
use candle_transformers::utils::repeat_kv;

/// Quantized types candle multiplies without vector instructions (it has no AVX2 kernel for
/// them): their matrices are re-quantized to Q8_0 at load. Q4_K_M files store matrices whose
/// rows do not fit Q4_K's 256-wide blocks as Q5_0 (81 of Gemma 3 270M's, 640 wide); left so,
/// they took three quarters of its translation time. Q8_0 is the more precise of the two (the
/// error added is under a tenth of Q5_0's own step) and 1.5x its size.
const SLOW_TYPES: [GgmlDType; 3] = [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1];

/// The model families this decoder runs, by their GGUF `general.architecture`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// Gemma 3: normalised queries and keys, norms after attention and feed-forward too,
    /// GELU, a scaled embedding, local (sliding-window) layers with their own rotary base.
    Gemma3,
    /// Qwen2 and Qwen2.5: biases on the query, key and value projections.
    Qwen2,
    /// Qwen3: normalised queries and keys, no biases.
    Qwen3,
    /// Llama 2/3 and Mistral: rotary pairs interleaved (llama.cpp permutes their rows).
    Llama,
}

impl Family {
    /// The family of a GGUF `general.architecture`, and the prefix of its metadata keys.
    pub(crate) fn from_architecture(architecture: &str) -> Option<Self> {
        Some(match architecture {
            "gemma3" => Self::Gemma3,
            "qwen2" => Self::Qwen2,
            "qwen3" => Self::Qwen3,
            "llama" | "mistral" => Self::Llama,
            _ => return None,
        })
    }

    /// The architectures [`Self::from_architecture`] knows, for error messages.
    pub(crate) const SUPPORTED: &'static str = "gemma3, qwen2, qwen3, llama, mistral";
}

/// Rotary position embedding at one base frequency.
#[derive(Debug, Clone)]
struct Rope {
    /// Angle per position for each pair of dimensions.
    inv_freq: Vec<f32>,
    /// Pairs are (2i, 2i+1) (Llama in GGUF) rather than (i, i + d/2).
    interleaved: bool,
}

impl Rope {
    fn new(head_dim: usize, base: f32, scale: f32, interleaved: bool) -> Self {
        let inv_freq = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0 / (base.powf(i as f32 / head_dim as f32) * scale))
            .collect();
        Self {
            inv_freq,
            interleaved,
        }
    }

    /// Cosines and sines for `len` positions from `start`, `[len, head_dim / 2]`: computed per
    /// call (a few hundred values per token) instead of tabled for the whole context.
    fn angles(&self, start: usize, len: usize, device: &Device) -> candle_core::Result<Angles> {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(len * half);
        let mut sin = Vec::with_capacity(len * half);
        for position in start..start + len {
            for f in &self.inv_freq {
                let (s, c) = (position as f32 * f).sin_cos();
                cos.push(c);
                sin.push(s);
            }
        }
        Ok(Angles {
            cos: Tensor::from_vec(cos, (len, half), device)?,
            sin: Tensor::from_vec(sin, (len, half), device)?,
            interleaved: self.interleaved,
        })
    }
}

/// One call's rotary angles at one base.
struct Angles {
    cos: Tensor,
    sin: Tensor,
    interleaved: bool,
}

impl Angles {
    /// Rotates `x`, `[batch, heads, len, head_dim]`.
    fn apply(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = x.contiguous()?;
        if self.interleaved {
            candle_nn::rotary_emb::rope_i(&x, &self.cos, &self.sin)
        } else {
            candle_nn::rotary_emb::rope(&x, &self.cos, &self.sin)
        }
    }
}

/// A quantized projection with an optional bias.
#[derive(Debug, Clone)]
struct Linear {
    weight: QMatMul,
    bias: Option<Tensor>,
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let ys = self.weight.forward(xs)?;
        match &self.bias {
            Some(b) => ys.broadcast_add(b),
            None => Ok(ys),
        }
    }
}

/// One Transformer block.
#[derive(Debug, Clone)]
struct Layer {
    attn_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    post_attn_norm: Option<RmsNorm>,
    ffn_norm: RmsNorm,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
    post_ffn_norm: Option<RmsNorm>,
    /// Keys further back than this many positions are not attended to (Gemma's local layers).
    window: Option<usize>,
    /// Which of the decoder's rotary bases this layer uses.
    rope: usize,
}

/// Head counts and sizes, shared by every layer.
#[derive(Debug, Clone, Copy)]
struct Heads {
    query: usize,
    key_value: usize,
    dim: usize,
    /// Multiplies the query-key products.
    scale: f64,
}

/// A sequence's keys and values, per layer, `[1, key_value_heads, len, head_dim]`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl Cache {
    /// Positions held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Keeps the first `len` positions (a shared prompt prefix) and forgets the rest.
    pub(crate) fn truncate(&mut self, len: usize) -> candle_core::Result<()> {
        if len >= self.len {
            return Ok(());
        }
        for slot in &mut self.layers {
            if let Some((k, v)) = slot {
                *slot = Some((k.narrow(2, 0, len)?, v.narrow(2, 0, len)?));
            }
        }
        self.len = len;
        Ok(())
    }
}

/// The activation gating the feed-forward layer.
#[derive(Debug, Clone, Copy)]
enum Activation {
    /// GELU, tanh approximation (`gelu_pytorch_tanh`): Gemma.
    GeluTanh,
    /// SiLU (swish): Llama and Qwen.
    Silu,
}

/// A decoder-only language model: immutable, shared by every sequence it runs.
#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    /// The token embedding, quantized; also the output layer when the file ties them.
    embedding: Arc<QTensor>,
    /// Multiplies embeddings (Gemma: the square root of the width).
    embedding_scale: Option<f64>,
    layers: Vec<Layer>,
    ropes: Vec<Rope>,
    heads: Heads,
    activation: Activation,
    norm: RmsNorm,
    output: QMatMul,
    /// The output layer's quantized weights (one row per token), for [`Decoder::shortlist`]:
    /// the embedding where the file ties them, else kept only where `output` multiplies them
    /// quantized (an f16 or f32 layer is converted to a tensor, and keeping the file's copy
    /// beside it would cost its size again).
    output_rows: Option<Arc<QTensor>>,
    device: Device,
}

/// The output layer cut to some of the vocabulary's tokens: logits for those alone. The output
/// layer is most of a small model's work per answer token (Gemma 3 270M: 168M of its 268M
/// weights, a row for each of 262,144 tokens), and an answer in German or Vietnamese has no
/// use for the vocabulary's Chinese, Cyrillic or Arabic rows. Each logit is the same product
/// of the same row as in the whole layer, so the best token among the kept ones is the best
/// token overall whenever that one was kept.
pub(crate) struct Shortlist {
    rows: QMatMul,
    ids: Vec<u32>,
}

impl std::fmt::Debug for Shortlist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shortlist({} tokens)", self.ids.len())
    }
}

impl Shortlist {
    /// The token at `index` of the shortlist's logits.
    pub(crate) fn token(&self, index: usize) -> u32 {
        self.ids[index]
    }

    /// How many tokens it keeps.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Reads GGUF tensors, re-quantizing [`SLOW_TYPES`] to Q8_0.
struct Tensors<'a, R> {
    content: &'a gguf_file::Content,
    reader: &'a mut R,
    device: &'a Device,
}

impl<R: Read + Seek> Tensors<'_, R> {
    fn has(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    fn get(&mut self, name: &str) -> candle_core::Result<QTensor> {
        let tensor = self.content.tensor(self.reader, name, self.device)?;
        if SLOW_TYPES.contains(&tensor.dtype()) {
            QTensor::quantize(&tensor.dequantize(self.device)?, GgmlDType::Q8_0)
        } else {
            Ok(tensor)
        }
    }

    fn matrix(&mut self, name: &str) -> candle_core::Result<QMatMul> {
        QMatMul::from_qtensor(self.get(&format!("{name}.weight"))?)
    }

    fn linear(&mut self, name: &str) -> candle_core::Result<Linear> {
        let bias = format!("{name}.bias");
        let bias = if self.has(&bias) {
            Some(self.get(&bias)?.dequantize(self.device)?)
        } else {
            None
        };
        Ok(Linear {
            weight: self.matrix(name)?,
            bias,
        })
    }

    fn norm(&mut self, name: &str, eps: f64) -> candle_core::Result<RmsNorm> {
        RmsNorm::from_qtensor(self.get(&format!("{name}.weight"))?, eps)
    }

    fn optional_norm(&mut self, name: &str, eps: f64) -> candle_core::Result<Option<RmsNorm>> {
        if self.has(&format!("{name}.weight")) {
            self.norm(name, eps).map(Some)
        } else {
            Ok(None)
        }
    }
}

impl Decoder {
    /// Reads the model of `family` from a GGUF file whose header is `content`.
    pub(crate) fn load<R: Read + Seek>(
        family: Family,
        architecture: &str,
        content: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let key = |k: &str| format!("{architecture}.{k}");
        let value = |k: &str| content.metadata.get(&key(k));
        let number = |k: &str| -> candle_core::Result<usize> {
            match value(k) {
                Some(v) => Ok(v.to_u32()? as usize),
                None => candle_core::bail!("no {} in the GGUF metadata", key(k)),
            }
        };
        let float = |k: &str| value(k).and_then(|v| v.to_f32().ok());
        let n_layer = number("block_count")?;
        let width = number("embedding_length")?;
        let n_head = number("attention.head_count")?;
        let n_kv_head = number("attention.head_count_kv")?;
        if n_head == 0 || n_kv_head == 0 || n_head % n_kv_head != 0 {
            candle_core::bail!("{n_head} query heads cannot share {n_kv_head} key/value heads");
        }
        let head_dim = number("attention.key_length").unwrap_or(width / n_head);
        if head_dim == 0 || head_dim % 2 != 0 {
            candle_core::bail!("head size {head_dim} is not a positive even number");
        }
        if let Ok(rope_dim) = number("rope.dimension_count")
            && rope_dim != head_dim
        {
            candle_core::bail!(
                "partial rotary embedding ({rope_dim} of {head_dim}) is not supported"
            );
        }
        let eps = float("attention.layer_norm_rms_epsilon").unwrap_or(1e-6) as f64;
        let base = float("rope.freq_base").unwrap_or(10_000.0);
        let interleaved = family == Family::Llama;
        // Linear position scaling (Gemma 3 4B and larger, on their global layers).
        let linear_scale = match value("rope.scaling.type").and_then(|v| v.to_string().ok()) {
            Some(t) if t == "linear" => float("rope.scaling.factor").unwrap_or(1.0),
            _ => 1.0,
        };
        let mut ropes = vec![Rope::new(head_dim, base, linear_scale, interleaved)];
        // Gemma 3: every `pattern`-th layer attends globally; the others see a window, with
        // rotary base 10,000 (as llama.cpp and `transformers` set them).
        let local = if family == Family::Gemma3 {
            let window = number("attention.sliding_window")?;
            let pattern = number("attention.sliding_window_type").unwrap_or(6);
            let local_base = float("rope.local_freq_base").unwrap_or(10_000.0);
            ropes.push(Rope::new(head_dim, local_base, 1.0, false));
            Some((window, pattern.max(1)))
        } else {
            None
        };
        // Gemma 3 27B scales queries by its width per head, not its head size (llama.cpp).
        let scale = if family == Family::Gemma3 && n_layer == 62 {
            1.0 / ((width / n_head) as f64).sqrt()
        } else {
            1.0 / (head_dim as f64).sqrt()
        };
        let heads = Heads {
            query: n_head,
            key_value: n_kv_head,
            dim: head_dim,
            scale,
        };

        let mut tensors = Tensors {
            content,
            reader,
            device,
        };
        let embedding = Arc::new(tensors.get("token_embd.weight")?);
        let (output_rows, output) = if tensors.has("output.weight") {
            let rows = Arc::new(tensors.get("output.weight")?);
            let output = QMatMul::from_arc(rows.clone())?;
            let quantized = matches!(output, QMatMul::QTensor(_));
            (quantized.then_some(rows), output)
        } else {
            (
                Some(embedding.clone()),
                QMatMul::from_arc(embedding.clone())?,
            )
        };
        let norm = tensors.norm("output_norm", eps)?;
        let gemma = family == Family::Gemma3;
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let p = format!("blk.{i}");
            let (window, rope) = match local {
                Some((window, pattern)) if (i + 1) % pattern != 0 => (Some(window), 1),
                _ => (None, 0),
            };
            layers.push(Layer {
                attn_norm: tensors.norm(&format!("{p}.attn_norm"), eps)?,
                q: tensors.linear(&format!("{p}.attn_q"))?,
                k: tensors.linear(&format!("{p}.attn_k"))?,
                v: tensors.linear(&format!("{p}.attn_v"))?,
                o: tensors.linear(&format!("{p}.attn_output"))?,
                q_norm: tensors.optional_norm(&format!("{p}.attn_q_norm"), eps)?,
                k_norm: tensors.optional_norm(&format!("{p}.attn_k_norm"), eps)?,
                post_attn_norm: if gemma {
                    Some(tensors.norm(&format!("{p}.post_attention_norm"), eps)?)
                } else {
                    None
                },
                ffn_norm: tensors.norm(&format!("{p}.ffn_norm"), eps)?,
                gate: tensors.matrix(&format!("{p}.ffn_gate"))?,
                up: tensors.matrix(&format!("{p}.ffn_up"))?,
                down: tensors.matrix(&format!("{p}.ffn_down"))?,
                post_ffn_norm: if gemma {
                    Some(tensors.norm(&format!("{p}.post_ffw_norm"), eps)?)
                } else {
                    None
                },
                window,
                rope,
            });
        }
        Ok(Self {
            embedding,
            embedding_scale: gemma.then(|| (width as f64).sqrt()),
            layers,
            ropes,
            heads,
            activation: if gemma {
                Activation::GeluTanh
            } else {
                Activation::Silu
            },
            norm,
            output,
            output_rows,
            device: device.clone(),
        })
    }

    /// Rows of the output layer: one per token the model can write (as many as the
    /// embedding's where the layer is not kept quantized).
    pub(crate) fn vocabulary(&self) -> usize {
        let rows = self.output_rows.as_ref().unwrap_or(&self.embedding);
        rows.shape().dims().first().copied().unwrap_or_default()
    }

    /// The output layer's rows for the tokens `ids` (each below [`Self::vocabulary`]); an
    /// error where the layer is not quantized, or `ids` is empty.
    pub(crate) fn shortlist(&self, ids: Vec<u32>) -> candle_core::Result<Shortlist> {
        let Some(weights) = &self.output_rows else {
            candle_core::bail!("the output layer is not quantized");
        };
        if ids.is_empty() {
            candle_core::bail!("no tokens to keep");
        }
        let (vocab, width) = weights.shape().dims2()?;
        let dtype = weights.dtype();
        let row_bytes = width / dtype.block_size() * dtype.type_size();
        let data = weights.data()?;
        let mut rows = Vec::with_capacity(ids.len() * row_bytes);
        for &id in &ids {
            let start = id as usize * row_bytes;
            match data.get(start..start + row_bytes) {
                Some(row) if (id as usize) < vocab => rows.extend_from_slice(row),
                _ => candle_core::bail!("token {id} is outside the vocabulary of {vocab}"),
            }
        }
        let storage = QStorage::from_data(Cow::Owned(rows), &self.device, dtype)?;
        let rows = QMatMul::from_qtensor(QTensor::new(storage, (ids.len(), width))?)?;
        Ok(Shortlist { rows, ids })
    }

    /// An empty cache for a new sequence.
    pub(crate) fn new_cache(&self) -> Cache {
        Cache {
            layers: vec![None; self.layers.len()],
            len: 0,
        }
    }

    /// Runs `tokens` after what `cache` holds, appends them to it, and returns the next-token
    /// logits after the last of them: of every token, or of the `shortlist`'s tokens in its
    /// order.
    pub(crate) fn forward(
        &self,
        tokens: &[u32],
        cache: &mut Cache,
        shortlist: Option<&Shortlist>,
    ) -> candle_core::Result<Vec<f32>> {
        let last = self.norm.forward(&self.extend(tokens, cache)?)?;
        let logits = match shortlist {
            Some(s) => s.rows.forward(&last)?,
            None => self.output.forward(&last)?,
        };
        logits.squeeze(0)?.to_dtype(DType::F32)?.to_vec1()
    }

    /// Runs `tokens` after what `cache` holds and appends them to it, without the output
    /// layer (for a prompt's leading chunks: Gemma 3's output layer is most of its weights);
    /// returns the last token's hidden state.
    pub(crate) fn extend(&self, tokens: &[u32], cache: &mut Cache) -> candle_core::Result<Tensor> {
        if tokens.is_empty() {
            candle_core::bail!("no tokens to run");
        }
        let n = tokens.len();
        if cache.layers.len() != self.layers.len() {
            candle_core::bail!("the cache belongs to another model");
        }
        let start = cache.len;
        let ids = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let mut xs = self.embedding.embedding(&ids)?;
        if let Some(scale) = self.embedding_scale {
            xs = (xs * scale)?;
        }
        let angles = self
            .ropes
            .iter()
            .map(|r| r.angles(start, n, &self.device))
            .collect::<candle_core::Result<Vec<_>>>()?;
        for (layer, slot) in self.layers.iter().zip(&mut cache.layers) {
            xs = layer.forward(
                &xs,
                &angles[layer.rope],
                start,
                slot,
                self.heads,
                self.activation,
            )?;
        }
        cache.len = start + n;
        xs.i((.., n - 1, ..))
    }
}

/// The additive attention mask for queries at `start..start + n` over keys at
/// `first_key..start + n`: causal, and within `window` positions where set. `None` when
/// nothing is masked.
fn mask(
    start: usize,
    n: usize,
    first_key: usize,
    window: Option<usize>,
    device: &Device,
) -> candle_core::Result<Option<Tensor>> {
    let total = start + n;
    let hidden = |i: usize, j: usize| j > i || window.is_some_and(|w| i - j >= w);
    let any = (start..total).any(|i| (first_key..total).any(|j| hidden(i, j)));
    if !any {
        return Ok(None);
    }
    let values: Vec<f32> = (start..total)
        .flat_map(|i| {
            (first_key..total).map(move |j| if hidden(i, j) { f32::NEG_INFINITY } else { 0.0 })
        })
        .collect();
    Tensor::from_vec(values, (1, 1, n, total - first_key), device).map(Some)
}

impl Layer {
    fn forward(
        &self,
        xs: &Tensor,
        angles: &Angles,
        start: usize,
        slot: &mut Option<(Tensor, Tensor)>,
        heads: Heads,
        activation: Activation,
    ) -> candle_core::Result<Tensor> {
        let (b, n, _) = xs.dims3()?;
        let h = self.attn_norm.forward(xs)?;
        let split = |t: Tensor, count: usize| {
            t.reshape((b, n, count, heads.dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let mut q = split(self.q.forward(&h)?, heads.query)?;
        let mut k = split(self.k.forward(&h)?, heads.key_value)?;
        let v = split(self.v.forward(&h)?, heads.key_value)?;
        if let Some(norm) = &self.q_norm {
            q = norm.forward(&q)?;
        }
        if let Some(norm) = &self.k_norm {
            k = norm.forward(&k)?;
        }
        let q = angles.apply(&q)?;
        let k = angles.apply(&k)?;
        let (k, v) = match slot.take() {
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
            None => (k, v),
        };
        *slot = Some((k.clone(), v.clone()));

        // Keys the first query may see; later queries see the same or later ones.
        let total = start + n;
        let first_key = match self.window {
            Some(w) => (start + 1).saturating_sub(w),
            None => 0,
        };
        let (k, v) = if first_key > 0 {
            (
                k.narrow(2, first_key, total - first_key)?,
                v.narrow(2, first_key, total - first_key)?,
            )
        } else {
            (k, v)
        };
        let groups = heads.query / heads.key_value;
        let k = repeat_kv(k, groups)?.contiguous()?;
        let v = repeat_kv(v, groups)?.contiguous()?;
        let mut scores = (q.matmul(&k.t()?)? * heads.scale)?;
        if let Some(mask) = mask(start, n, first_key, self.window, xs.device())? {
            scores = scores.broadcast_add(&mask)?;
        }
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let attended =
            weights
                .matmul(&v)?
                .transpose(1, 2)?
                .reshape((b, n, heads.query * heads.dim))?;
        let mut attended = self.o.forward(&attended)?;
        if let Some(norm) = &self.post_attn_norm {
            attended = norm.forward(&attended)?;
        }
        let xs = (xs + attended)?;

        let h = self.ffn_norm.forward(&xs)?;
        let gate = self.gate.forward(&h)?;
        let gate = match activation {
            Activation::GeluTanh => gate.gelu()?,
            Activation::Silu => candle_nn::ops::silu(&gate)?,
        };
        let mut ffn = self.down.forward(&(gate * self.up.forward(&h)?)?)?;
        if let Some(norm) = &self.post_ffn_norm {
            ffn = norm.forward(&ffn)?;
        }
        xs + ffn
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use candle_core::quantized::gguf_file::Value;
    use candle_transformers::models::{quantized_llama, quantized_qwen3};

    use super::*;

    /// A random model of `architecture` as an F32 GGUF file: 2 layers, width 32, 4 query and
    /// 2 key/value heads, a vocabulary of 96; with normalised queries and keys for Qwen3.
    fn random_gguf(architecture: &str) -> Vec<u8> {
        let (vocab, width, layers, heads, kv_heads, head_dim, ffn) = (96, 32, 2, 4, 2, 8, 48);
        let cpu = Device::Cpu;
        let tensor = |shape: &[usize], mean: f32| {
            let t = Tensor::randn(mean, 0.3f32, shape, &cpu).unwrap();
            QTensor::quantize(&t, GgmlDType::F32).unwrap()
        };
        let mut tensors = vec![
            (
                "token_embd.weight".to_string(),
                tensor(&[vocab, width], 0.0),
            ),
            ("output.weight".to_string(), tensor(&[vocab, width], 0.0)),
            ("output_norm.weight".to_string(), tensor(&[width], 1.0)),
        ];
        for i in 0..layers {
            let mut add = |name: &str, shape: &[usize], mean: f32| {
                tensors.push((format!("blk.{i}.{name}.weight"), tensor(shape, mean)));
            };
            add("attn_norm", &[width], 1.0);
            add("attn_q", &[heads * head_dim, width], 0.0);
            add("attn_k", &[kv_heads * head_dim, width], 0.0);
            add("attn_v", &[kv_heads * head_dim, width], 0.0);
            add("attn_output", &[width, heads * head_dim], 0.0);
            add("ffn_norm", &[width], 1.0);
            add("ffn_gate", &[ffn, width], 0.0);
            add("ffn_up", &[ffn, width], 0.0);
            add("ffn_down", &[width, ffn], 0.0);
            if architecture == "qwen3" {
                add("attn_q_norm", &[head_dim], 1.0);
                add("attn_k_norm", &[head_dim], 1.0);
            }
        }
        let key = |k: &str| format!("{architecture}.{k}");
        let metadata = [
            (
                "general.architecture".to_string(),
                Value::String(architecture.into()),
            ),
            ("general.dtype".to_string(), Value::U32(0)),
            (key("block_count"), Value::U32(layers as u32)),
            (key("context_length"), Value::U32(64)),
            (key("embedding_length"), Value::U32(width as u32)),
            (key("attention.head_count"), Value::U32(heads as u32)),
            (key("attention.head_count_kv"), Value::U32(kv_heads as u32)),
            (key("attention.key_length"), Value::U32(head_dim as u32)),
            (key("rope.dimension_count"), Value::U32(head_dim as u32)),
            (key("attention.layer_norm_rms_epsilon"), Value::F32(1e-6)),
            (key("rope.freq_base"), Value::F32(10_000.0)),
        ];
        let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut out = Cursor::new(Vec::new());
        gguf_file::write(&mut out, &metadata, &tensors).unwrap();
        out.into_inner()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
    }

    /// Our decoder and candle-transformers' implementation of the same family (which it
    /// replaced) give the same logits on a random model: for a whole prompt, and step by
    /// step through the cache (`theirs` runs each prefix afresh).
    fn matches_candle(
        architecture: &str,
        family: Family,
        theirs: impl Fn(&[u8], &[u32]) -> Vec<f32>,
    ) {
        let bytes = random_gguf(architecture);
        let content = gguf_file::Content::read(&mut Cursor::new(&bytes)).unwrap();
        let ours = Decoder::load(
            family,
            architecture,
            &content,
            &mut Cursor::new(&bytes),
            &Device::Cpu,
        )
        .unwrap();
        let tokens = [1u32, 5, 9, 33, 60, 7, 95, 2];
        let whole = ours.forward(&tokens, &mut ours.new_cache(), None).unwrap();
        let want = theirs(&bytes, &tokens);
        assert!(
            max_diff(&whole, &want) < 1e-4,
            "{architecture}: whole prompt"
        );
        let mut cache = ours.new_cache();
        ours.forward(&tokens[..3], &mut cache, None).unwrap();
        for (i, &t) in tokens.iter().enumerate().skip(3) {
            let step = ours.forward(&[t], &mut cache, None).unwrap();
            let want = theirs(&bytes, &tokens[..=i]);
            assert!(max_diff(&step, &want) < 1e-4, "{architecture}: step {i}");
        }
    }

    #[test]
    fn llama_matches_candle_transformers() {
        matches_candle("llama", Family::Llama, |bytes, tokens| {
            let mut reader = Cursor::new(bytes);
            let content = gguf_file::Content::read(&mut reader).unwrap();
            let mut model =
                quantized_llama::ModelWeights::from_gguf(content, &mut reader, &Device::Cpu)
                    .unwrap();
            let input = Tensor::new(tokens, &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            model
                .forward(&input, 0)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        });
    }

    #[test]
    fn qwen3_matches_candle_transformers() {
        matches_candle("qwen3", Family::Qwen3, |bytes, tokens| {
            let mut reader = Cursor::new(bytes);
            let content = gguf_file::Content::read(&mut reader).unwrap();
            let mut model =
                quantized_qwen3::ModelWeights::from_gguf(content, &mut reader, &Device::Cpu)
                    .unwrap();
            let input = Tensor::new(tokens, &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let logits = model.forward(&input, 0).unwrap().flatten_all().unwrap();
            let all: Vec<f32> = logits.to_vec1().unwrap();
            all[all.len() - 96..].to_vec()
        });
    }

    /// A shortlist's logits are the whole layer's logits of its tokens, in its order, with the
    /// output layer quantized as in real files (Q8_0); a token outside the vocabulary is an
    /// error.
    #[test]
    fn a_shortlist_gives_the_logits_of_its_tokens() {
        let bytes = random_gguf("qwen2");
        let content = gguf_file::Content::read(&mut Cursor::new(&bytes)).unwrap();
        let mut decoder = Decoder::load(
            Family::Qwen2,
            "qwen2",
            &content,
            &mut Cursor::new(&bytes),
            &Device::Cpu,
        )
        .unwrap();
        // The random file's untied f32 output layer is a plain tensor: no rows to cut.
        assert!(decoder.shortlist(vec![1]).is_err());
        let rows = decoder.embedding.dequantize(&Device::Cpu).unwrap();
        let rows = Arc::new(QTensor::quantize(&rows, GgmlDType::Q8_0).unwrap());
        decoder.output = QMatMul::from_arc(rows.clone()).unwrap();
        decoder.output_rows = Some(rows);
        let tokens = [1u32, 5, 9, 33];
        let all = decoder
            .forward(&tokens, &mut decoder.new_cache(), None)
            .unwrap();
        let ids = vec![7u32, 2, 95, 40];
        let shortlist = decoder.shortlist(ids.clone()).unwrap();
        let some = decoder
            .forward(&tokens, &mut decoder.new_cache(), Some(&shortlist))
            .unwrap();
        let want: Vec<f32> = ids.iter().map(|&id| all[id as usize]).collect();
        assert!(max_diff(&some, &want) < 1e-6, "{some:?} against {want:?}");
        assert_eq!(shortlist.token(2), 95);
        assert!(decoder.shortlist(vec![3, 96]).is_err());
        assert!(decoder.shortlist(Vec::new()).is_err());
    }

    /// Which keys each query sees under `mask`, one row per query.
    fn seen(start: usize, n: usize, first_key: usize, window: Option<usize>) -> Vec<Vec<bool>> {
        let Some(m) = mask(start, n, first_key, window, &Device::Cpu).unwrap() else {
            return vec![vec![true; start + n - first_key]; n];
        };
        let values: Vec<f32> = m.flatten_all().unwrap().to_vec1().unwrap();
        values
            .chunks(start + n - first_key)
            .map(|row| row.iter().map(|v| v.is_finite()).collect())
            .collect()
    }

    #[test]
    fn masks_are_causal_and_windowed() {
        // One new token after a cache, no window: nothing to hide, no mask.
        assert!(mask(5, 1, 0, None, &Device::Cpu).unwrap().is_none());
        // A prompt of 3: each query sees itself and what came before.
        assert_eq!(
            seen(0, 3, 0, None),
            vec![
                vec![true, false, false],
                vec![true, true, false],
                vec![true, true, true]
            ]
        );
        // Window 2 over positions 0..4: each query sees itself and the one before.
        let counts: Vec<usize> = seen(0, 4, 0, Some(2))
            .iter()
            .map(|r| r.iter().filter(|s| **s).count())
            .collect();
        assert_eq!(counts, vec![1, 2, 2, 2]);
        // Two new tokens at 5 and 6 with window 2: keys from 4 (the first query's window).
        assert_eq!(
            seen(5, 2, 4, Some(2)),
            vec![vec![true, true, false], vec![false, true, true]]
        );
    }

    #[test]
    fn rotary_angles_start_at_the_position_given() {
        let rope = Rope::new(4, 10_000.0, 1.0, false);
        let a = rope.angles(3, 2, &Device::Cpu).unwrap();
        let cos: Vec<Vec<f32>> = a.cos.to_vec2().unwrap();
        assert!((cos[0][0] - 3f32.cos()).abs() < 1e-6);
        assert!((cos[1][1] - (4.0f32 / 100.0).cos()).abs() < 1e-6);
    }
}
