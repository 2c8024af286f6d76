//! CTranslate2 `model.bin`: reader, and the faster-whisper → Hugging Face Whisper conversion.
//!
//! The format (binary version 6, written by CTranslate2's `ModelSpec._serialize` in
//! `python/ctranslate2/specs/model_spec.py`), all integers little-endian:
//!
//! ```text
//! u32 binary_version            (6)
//! str spec_name                 ("WhisperSpec")
//! u32 spec_revision
//! u32 n_variables
//!   n_variables x { str name; u8 rank; u32 dims[rank]; u8 dtype; u32 n_bytes; u8 data[n_bytes] }
//! u32 n_aliases
//!   n_aliases x { str alias; str target }
//! str = u16 length (including a trailing NUL), bytes, NUL
//! dtype: 0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16
//! ```
//!
//! The Whisper spec (`specs/whisper_spec.py`, converter `converters/transformers.py`) fuses the
//! self-attention q, k and v projections into one `linear_0` and the cross-attention k and v into
//! one `linear_1`; Whisper's k projections have no bias, so the fused bias carries zeros there.
//! [`whisper_to_hf`] splits them back and names every tensor as Hugging Face's
//! `WhisperForConditionalGeneration` does (what candle-transformers' whisper loads).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Element type of a CTranslate2 variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2Dtype {
    /// 32-bit float.
    F32,
    /// 8-bit integer.
    I8,
    /// 16-bit integer.
    I16,
    /// 32-bit integer.
    I32,
    /// IEEE half.
    F16,
    /// bfloat16.
    Bf16,
}

impl Ct2Dtype {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::Bf16,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }

    fn safetensors(self) -> safetensors::Dtype {
        match self {
            Self::F32 => safetensors::Dtype::F32,
            Self::I8 => safetensors::Dtype::I8,
            Self::I16 => safetensors::Dtype::I16,
            Self::I32 => safetensors::Dtype::I32,
            Self::F16 => safetensors::Dtype::F16,
            Self::Bf16 => safetensors::Dtype::BF16,
        }
    }
}

/// One variable of a CTranslate2 model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ct2Variable {
    /// Slash-separated name: `encoder/layer_0/self_attention/linear_0/weight`.
    pub name: String,
    /// Dimensions (empty for scalars).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: Ct2Dtype,
    range: std::ops::Range<usize>,
}

/// A parsed `model.bin`, holding the file's bytes.
#[derive(Debug)]
pub struct Ct2Model {
    /// The spec the model was written with: `WhisperSpec`.
    pub spec: String,
    /// The spec's revision.
    pub revision: u32,
    /// Variables in file order.
    pub variables: Vec<Ct2Variable>,
    /// `(alias, target)` pairs: tied weights stored once.
    pub aliases: Vec<(String, String)>,
    bytes: Vec<u8>,
}

/// The only binary version this reader understands (CTranslate2 3.x and 4.x write it).
const BINARY_VERSION: u32 = 6;

impl Ct2Model {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Self::parse(bytes).map_err(|reason| Error::Convert {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses a `model.bin` held in memory. Every length is bounds-checked: a damaged file gives
    /// an error, never a panic or a huge allocation.
    pub fn parse(bytes: Vec<u8>) -> std::result::Result<Self, String> {
        let mut r = Reader {
            bytes: &bytes,
            pos: 0,
        };
        let version = r.u32()?;
        if version != BINARY_VERSION {
            return Err(format!(
                "CTranslate2 binary version {version} (only {BINARY_VERSION} is supported)"
            ));
        }
        let spec = r.string()?;
        let revision = r.u32()?;
        let count = r.u32()? as usize;
        let mut variables = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            let name = r.string()?;
            let rank = usize::from(r.u8()?);
            let shape = (0..rank)
                .map(|_| r.u32().map(|d| d as usize))
                .collect::<Result<Vec<_>, _>>()?;
            let dtype_id = r.u8()?;
            let dtype =
                Ct2Dtype::from_id(dtype_id).ok_or(format!("{name}: unknown dtype {dtype_id}"))?;
            let n_bytes = r.u32()? as usize;
            let elements = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
            if elements.and_then(|e| e.checked_mul(dtype.size())) != Some(n_bytes) {
                return Err(format!(
                    "{name}: {n_bytes} bytes do not hold shape {shape:?} of {dtype:?}"
                ));
            }
            let start = r.pos;
            r.skip(n_bytes)?;
            variables.push(Ct2Variable {
                name,
                shape,
                dtype,
                range: start..r.pos,
            });
        }
        let n_aliases = r.u32()? as usize;
        let mut aliases = Vec::with_capacity(n_aliases.min(4096));
        for _ in 0..n_aliases {
            aliases.push((r.string()?, r.string()?));
        }
        if r.pos != bytes.len() {
            return Err(format!(
                "{} trailing bytes after the aliases",
                bytes.len() - r.pos
            ));
        }
        Ok(Self {
            spec,
            revision,
            variables,
            aliases,
            bytes,
        })
    }

    /// The variable called `name`, following aliases.
    pub fn get(&self, name: &str) -> Option<&Ct2Variable> {
        let target = self
            .aliases
            .iter()
            .find(|(a, _)| a == name)
            .map_or(name, |(_, t)| t.as_str());
        self.variables.iter().find(|v| v.name == target)
    }

    /// The raw little-endian bytes of `var`.
    pub fn data(&self, var: &Ct2Variable) -> &[u8] {
        &self.bytes[var.range.clone()]
    }

    /// A scalar integer variable (`decoder/num_heads`).
    pub fn scalar(&self, name: &str) -> Option<i64> {
        let var = self.get(name)?;
        let data = self.data(var);
        if !var.shape.is_empty() {
            return None;
        }
        Some(match var.dtype {
            Ct2Dtype::I8 => i64::from(data[0] as i8),
            Ct2Dtype::I16 => i64::from(i16::from_le_bytes([data[0], data[1]])),
            Ct2Dtype::I32 => i64::from(i32::from_le_bytes([data[0], data[1], data[2], data[3]])),
            _ => return None,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> std::result::Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "truncated: needed {n} bytes at offset {}, file has {}",
                    self.pos,
                    self.bytes.len()
                )
            })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn skip(&mut self, n: usize) -> std::result::Result<(), String> {
        self.take(n).map(|_| ())
    }
    fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> std::result::Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> std::result::Result<String, String> {
        let len = usize::from(self.u16()?);
        let raw = self.take(len)?;
        let (text, nul) = raw.split_at(len.saturating_sub(1));
        if nul != [0] {
            return Err(format!(
                "string at offset {} is not NUL-terminated",
                self.pos - len
            ));
        }
        String::from_utf8(text.to_vec()).map_err(|_| "string is not UTF-8".to_string())
    }
}

/// One output tensor: HF name, dtype, shape, and bytes borrowed from the source model.
#[derive(Debug)]
pub struct MappedTensor<'a> {
    /// Hugging Face name: `model.encoder.layers.0.self_attn.q_proj.weight`.
    pub name: String,
    /// The CTranslate2 variable it comes from.
    pub source: String,
    /// Rows `[rows.start, rows.end)` of the source's first dimension.
    pub rows: std::ops::Range<usize>,
    /// Element type.
    pub dtype: Ct2Dtype,
    /// Shape.
    pub shape: Vec<usize>,
    /// Little-endian bytes.
    pub data: &'a [u8],
}

/// Architecture hyper-parameters read off a CTranslate2 Whisper model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhisperDims {
    /// Mel bins the encoder takes (80, or 128 for large-v3).
    pub n_mels: usize,
    /// Model width.
    pub d_model: usize,
    /// Encoder layers.
    pub encoder_layers: usize,
    /// Decoder layers.
    pub decoder_layers: usize,
    /// Attention heads in the encoder.
    pub encoder_heads: usize,
    /// Attention heads in the decoder.
    pub decoder_heads: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Encoder positions (1500 for 30 s).
    pub max_source_positions: usize,
    /// Decoder positions (448).
    pub max_target_positions: usize,
    /// Feed-forward width.
    pub ffn_dim: usize,
}

impl Ct2Model {
    fn shape_of(&self, name: &str) -> std::result::Result<&[usize], String> {
        self.get(name)
            .map(|v| v.shape.as_slice())
            .ok_or_else(|| format!("missing variable {name}"))
    }

    fn count_layers(&self, stack: &str) -> usize {
        (0..)
            .take_while(|i| {
                self.get(&format!("{stack}/layer_{i}/ffn/linear_0/weight"))
                    .is_some()
            })
            .count()
    }

    /// The dimensions of a Whisper model, derived from tensor shapes and the stored head counts.
    pub fn whisper_dims(&self) -> std::result::Result<WhisperDims, String> {
        if self.spec != "WhisperSpec" {
            return Err(format!("spec is {:?}, not WhisperSpec", self.spec));
        }
        let conv1 = self.shape_of("encoder/conv1/weight")?;
        let embed = self.shape_of("decoder/embeddings/weight")?;
        let enc_pos = self.shape_of("encoder/position_encodings/encodings")?;
        let dec_pos = self.shape_of("decoder/position_encodings/encodings")?;
        let ffn = self.shape_of("encoder/layer_0/ffn/linear_0/weight")?;
        let heads = |name: &str| {
            self.scalar(name)
                .and_then(|h| usize::try_from(h).ok())
                .filter(|&h| h > 0)
                .ok_or_else(|| format!("missing or bad {name}"))
        };
        let [d_model, n_mels, _] = conv1 else {
            return Err(format!("conv1 has shape {conv1:?}"));
        };
        let dims = WhisperDims {
            n_mels: *n_mels,
            d_model: *d_model,
            encoder_layers: self.count_layers("encoder"),
            decoder_layers: self.count_layers("decoder"),
            encoder_heads: heads("encoder/num_heads")?,
            decoder_heads: heads("decoder/num_heads")?,
            vocab_size: *embed.first().ok_or("empty embedding shape")?,
            max_source_positions: *enc_pos.first().ok_or("empty position shape")?,
            max_target_positions: *dec_pos.first().ok_or("empty position shape")?,
            ffn_dim: *ffn.first().ok_or("empty ffn shape")?,
        };
        if dims.encoder_layers == 0 || dims.decoder_layers == 0 {
            return Err("no encoder or decoder layers".into());
        }
        Ok(dims)
    }
}

/// Maps every tensor of a CTranslate2 Whisper model to its Hugging Face name, splitting fused
/// projections. Fails if a fused k bias is not zero (it would have nowhere to go).
pub fn whisper_to_hf(model: &Ct2Model) -> std::result::Result<Vec<MappedTensor<'_>>, String> {
    let dims = model.whisper_dims()?;
    let d = dims.d_model;
    let mut out = Vec::new();
    let mut map = |src: String,
                   dst: String,
                   rows: Option<std::ops::Range<usize>>|
     -> std::result::Result<(), String> {
        let var = model
            .get(&src)
            .ok_or_else(|| format!("missing variable {src}"))?;
        let first = *var
            .shape
            .first()
            .ok_or_else(|| format!("{src} is a scalar"))?;
        let rows = rows.unwrap_or(0..first);
        if rows.end > first {
            return Err(format!("{src}: rows {rows:?} out of {first}"));
        }
        let row_bytes = var.shape[1..].iter().product::<usize>() * var.dtype.size();
        let mut shape = var.shape.clone();
        shape[0] = rows.len();
        let data = &model.data(var)[rows.start * row_bytes..rows.end * row_bytes];
        out.push(MappedTensor {
            name: dst,
            source: src,
            rows,
            dtype: var.dtype,
            shape,
            data,
        });
        Ok(())
    };
    let mut linear = |src: &str, dst: &str, rows: Option<std::ops::Range<usize>>, bias: bool| {
        map(
            format!("{src}/weight"),
            format!("{dst}.weight"),
            rows.clone(),
        )?;
        if bias {
            map(format!("{src}/bias"), format!("{dst}.bias"), rows)?;
        }
        Ok::<_, String>(())
    };
    let norm = |src: &str, dst: &str| {
        [
            (format!("{src}/gamma"), format!("{dst}.weight")),
            (format!("{src}/beta"), format!("{dst}.bias")),
        ]
    };

    // Encoder stem.
    for conv in ["conv1", "conv2"] {
        linear(
            &format!("encoder/{conv}"),
            &format!("model.encoder.{conv}"),
            None,
            true,
        )?;
    }
    let mut plain: Vec<(String, String)> = vec![
        (
            "encoder/position_encodings/encodings".into(),
            "model.encoder.embed_positions.weight".into(),
        ),
        (
            "decoder/embeddings/weight".into(),
            "model.decoder.embed_tokens.weight".into(),
        ),
        (
            "decoder/position_encodings/encodings".into(),
            "model.decoder.embed_positions.weight".into(),
        ),
    ];
    plain.extend(norm("encoder/layer_norm", "model.encoder.layer_norm"));
    plain.extend(norm("decoder/layer_norm", "model.decoder.layer_norm"));

    for (stack, layers) in [
        ("encoder", dims.encoder_layers),
        ("decoder", dims.decoder_layers),
    ] {
        for i in 0..layers {
            let src = format!("{stack}/layer_{i}");
            let dst = format!("model.{stack}.layers.{i}");
            // Self-attention: fused q|k|v, k without bias.
            let fused = format!("{src}/self_attention/linear_0");
            check_zero_rows(model, &format!("{fused}/bias"), d..2 * d)?;
            linear(&fused, &format!("{dst}.self_attn.q_proj"), Some(0..d), true)?;
            linear(
                &fused,
                &format!("{dst}.self_attn.k_proj"),
                Some(d..2 * d),
                false,
            )?;
            linear(
                &fused,
                &format!("{dst}.self_attn.v_proj"),
                Some(2 * d..3 * d),
                true,
            )?;
            linear(
                &format!("{src}/self_attention/linear_1"),
                &format!("{dst}.self_attn.out_proj"),
                None,
                true,
            )?;
            plain.extend(norm(
                &format!("{src}/self_attention/layer_norm"),
                &format!("{dst}.self_attn_layer_norm"),
            ));
            if stack == "decoder" {
                // Cross-attention: q separate, fused k|v, k without bias.
                let attn = format!("{src}/attention");
                linear(
                    &format!("{attn}/linear_0"),
                    &format!("{dst}.encoder_attn.q_proj"),
                    None,
                    true,
                )?;
                check_zero_rows(model, &format!("{attn}/linear_1/bias"), 0..d)?;
                linear(
                    &format!("{attn}/linear_1"),
                    &format!("{dst}.encoder_attn.k_proj"),
                    Some(0..d),
                    false,
                )?;
                linear(
                    &format!("{attn}/linear_1"),
                    &format!("{dst}.encoder_attn.v_proj"),
                    Some(d..2 * d),
                    true,
                )?;
                linear(
                    &format!("{attn}/linear_2"),
                    &format!("{dst}.encoder_attn.out_proj"),
                    None,
                    true,
                )?;
                plain.extend(norm(
                    &format!("{attn}/layer_norm"),
                    &format!("{dst}.encoder_attn_layer_norm"),
                ));
            }
            linear(
                &format!("{src}/ffn/linear_0"),
                &format!("{dst}.fc1"),
                None,
                true,
            )?;
            linear(
                &format!("{src}/ffn/linear_1"),
                &format!("{dst}.fc2"),
                None,
                true,
            )?;
            plain.extend(norm(
                &format!("{src}/ffn/layer_norm"),
                &format!("{dst}.final_layer_norm"),
            ));
        }
    }
    for (src, dst) in plain {
        map(src, dst, None)?;
    }
    // The output projection is an alias of the token embedding (tied, as in HF), so it is not
    // written again. Everything else in the file must have been used.
    let used: std::collections::HashSet<&str> = out.iter().map(|t| t.source.as_str()).collect();
    let scalars_and_tied = |v: &Ct2Variable| v.shape.is_empty();
    if let Some(unused) = model
        .variables
        .iter()
        .find(|v| !used.contains(v.name.as_str()) && !scalars_and_tied(v))
    {
        return Err(format!(
            "variable {} has no Hugging Face counterpart",
            unused.name
        ));
    }
    Ok(out)
}

/// Checks that rows `rows` of the 1-D variable `name` are all zero bytes (+0.0).
fn check_zero_rows(
    model: &Ct2Model,
    name: &str,
    rows: std::ops::Range<usize>,
) -> std::result::Result<(), String> {
    let var = model
        .get(name)
        .ok_or_else(|| format!("missing variable {name}"))?;
    let size = var.dtype.size();
    let data = model
        .data(var)
        .get(rows.start * size..rows.end * size)
        .ok_or_else(|| format!("{name}: too short to split"))?;
    // -0.0 is also zero; accept any all-zero-magnitude pattern by checking values, not bytes.
    let all_zero = data.chunks_exact(size).all(|e| match var.dtype {
        Ct2Dtype::F16 | Ct2Dtype::Bf16 => u16::from_le_bytes([e[0], e[1]]) & 0x7fff == 0,
        Ct2Dtype::F32 => u32::from_le_bytes([e[0], e[1], e[2], e[3]]) & 0x7fff_ffff == 0,
        _ => e.iter().all(|&b| b == 0),
    });
    if all_zero {
        Ok(())
    } else {
        Err(format!("{name}: fused k bias is not zero"))
    }
}

/// What [`convert_whisper`] wrote.
#[derive(Debug)]
pub struct ConvertedWhisper {
    /// The safetensors file.
    pub weights: PathBuf,
    /// The HF-style config.
    pub config: PathBuf,
    /// Tensors written.
    pub tensors: usize,
}

/// Converts a faster-whisper directory (`model.bin`, CTranslate2 `config.json`) into
/// `model.safetensors` and an HF-style `config.json` in `out_dir`, which must differ from `dir`.
///
/// Tensors keep their published precision (fp16 for faster-whisper), so the conversion is
/// lossless. The HF config takes the architecture from the tensors and the token rules
/// (suppressed tokens, alignment heads) from CTranslate2's config.
pub fn convert_whisper(dir: &Path, out_dir: &Path) -> Result<ConvertedWhisper> {
    let bin = dir.join("model.bin");
    let model = Ct2Model::read(&bin)?;
    let fail = |reason: String| Error::Convert {
        path: bin.clone(),
        reason,
    };
    let dims = model.whisper_dims().map_err(fail)?;
    let tensors = whisper_to_hf(&model).map_err(fail)?;

    let ct2_config_path = dir.join("config.json");
    let ct2_config: serde_json::Value = std::fs::read(&ct2_config_path)
        .map_err(|e| Error::io(format!("reading {}", ct2_config_path.display()), e))
        .and_then(|b| {
            serde_json::from_slice(&b).map_err(|e| Error::Convert {
                path: ct2_config_path.clone(),
                reason: e.to_string(),
            })
        })?;
    let hf_config = serde_json::json!({
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "num_mel_bins": dims.n_mels,
        "d_model": dims.d_model,
        "encoder_layers": dims.encoder_layers,
        "decoder_layers": dims.decoder_layers,
        "encoder_attention_heads": dims.encoder_heads,
        "decoder_attention_heads": dims.decoder_heads,
        "encoder_ffn_dim": dims.ffn_dim,
        "decoder_ffn_dim": dims.ffn_dim,
        "vocab_size": dims.vocab_size,
        "max_source_positions": dims.max_source_positions,
        "max_target_positions": dims.max_target_positions,
        "activation_function": "gelu",
        "scale_embedding": false,
        "tie_word_embeddings": true,
        "torch_dtype": "float16",
        "suppress_tokens": ct2_config.get("suppress_ids").cloned().unwrap_or_default(),
        "begin_suppress_tokens": ct2_config.get("suppress_ids_begin").cloned().unwrap_or_default(),
        "alignment_heads": ct2_config.get("alignment_heads").cloned().unwrap_or_default(),
        "lang_ids": ct2_config.get("lang_ids").cloned().unwrap_or_default(),
    });

    let weights = out_dir.join(super::WEIGHTS);
    super::write_safetensors(
        &bin,
        &weights,
        tensors.iter().map(|t| {
            (
                t.name.clone(),
                t.dtype.safetensors(),
                t.shape.clone(),
                t.data,
            )
        }),
        "ctranslate2",
        Default::default(),
    )?;
    let config = out_dir.join("config.json");
    let pretty =
        serde_json::to_vec_pretty(&hf_config).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&config, pretty)
        .map_err(|e| Error::io(format!("writing {}", config.display()), e))?;
    Ok(ConvertedWhisper {
        weights,
        config,
        tensors: tensors.len(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a CTranslate2 file in the published layout (the writer lives in the tests only:
    /// dragoman reads CTranslate2, it never writes it).
    pub(crate) fn write_ct2(
        spec: &str,
        vars: &[(&str, Vec<usize>, u8, Vec<u8>)],
        aliases: &[(&str, &str)],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let string = |out: &mut Vec<u8>, s: &str| {
            out.extend(((s.len() + 1) as u16).to_le_bytes());
            out.extend(s.as_bytes());
            out.push(0);
        };
        out.extend(6u32.to_le_bytes());
        string(&mut out, spec);
        out.extend(3u32.to_le_bytes());
        out.extend((vars.len() as u32).to_le_bytes());
        for (name, shape, dtype, data) in vars {
            string(&mut out, name);
            out.push(shape.len() as u8);
            for d in shape {
                out.extend((*d as u32).to_le_bytes());
            }
            out.push(*dtype);
            out.extend((data.len() as u32).to_le_bytes());
            out.extend(data);
        }
        out.extend((aliases.len() as u32).to_le_bytes());
        for (a, t) in aliases {
            string(&mut out, a);
            string(&mut out, t);
        }
        out
    }

    /// A complete one-layer Whisper in CTranslate2 layout with distinct f32 values everywhere
    /// (d_model 4, 2 heads, vocab 6, 3 mels), and zeros in the fused k biases.
    pub(crate) fn tiny_whisper() -> Vec<u8> {
        let d = 4;
        let mut counter = 0f32;
        let mut vars: Vec<(String, Vec<usize>, u8, Vec<u8>)> = Vec::new();
        let mut tensor =
            |name: &str, shape: Vec<usize>, zero_rows: Option<std::ops::Range<usize>>| {
                let n: usize = shape.iter().product();
                let data: Vec<u8> = (0..n)
                    .flat_map(|i| {
                        counter += 1.0;
                        let zero = zero_rows.as_ref().is_some_and(|r| r.contains(&i));
                        (if zero { 0.0f32 } else { counter }).to_le_bytes()
                    })
                    .collect();
                vars.push((name.to_string(), shape, 0, data));
            };
        tensor("encoder/conv1/weight", vec![d, 3, 3], None);
        tensor("encoder/conv1/bias", vec![d], None);
        tensor("encoder/conv2/weight", vec![d, d, 3], None);
        tensor("encoder/conv2/bias", vec![d], None);
        tensor("encoder/position_encodings/encodings", vec![5, d], None);
        tensor("decoder/embeddings/weight", vec![6, d], None);
        tensor("decoder/position_encodings/encodings", vec![7, d], None);
        for stack in ["encoder", "decoder"] {
            let l = format!("{stack}/layer_0");
            tensor(
                &format!("{l}/self_attention/linear_0/weight"),
                vec![3 * d, d],
                None,
            );
            tensor(
                &format!("{l}/self_attention/linear_0/bias"),
                vec![3 * d],
                Some(d..2 * d),
            );
            tensor(
                &format!("{l}/self_attention/linear_1/weight"),
                vec![d, d],
                None,
            );
            tensor(&format!("{l}/self_attention/linear_1/bias"), vec![d], None);
            let mut norms = vec!["self_attention", "ffn"];
            if stack == "decoder" {
                tensor(&format!("{l}/attention/linear_0/weight"), vec![d, d], None);
                tensor(&format!("{l}/attention/linear_0/bias"), vec![d], None);
                tensor(
                    &format!("{l}/attention/linear_1/weight"),
                    vec![2 * d, d],
                    None,
                );
                tensor(
                    &format!("{l}/attention/linear_1/bias"),
                    vec![2 * d],
                    Some(0..d),
                );
                tensor(&format!("{l}/attention/linear_2/weight"), vec![d, d], None);
                tensor(&format!("{l}/attention/linear_2/bias"), vec![d], None);
                norms.push("attention");
            }
            tensor(&format!("{l}/ffn/linear_0/weight"), vec![8, d], None);
            tensor(&format!("{l}/ffn/linear_0/bias"), vec![8], None);
            tensor(&format!("{l}/ffn/linear_1/weight"), vec![d, 8], None);
            tensor(&format!("{l}/ffn/linear_1/bias"), vec![d], None);
            for n in norms {
                tensor(&format!("{l}/{n}/layer_norm/gamma"), vec![d], None);
                tensor(&format!("{l}/{n}/layer_norm/beta"), vec![d], None);
            }
            tensor(&format!("{stack}/layer_norm/gamma"), vec![d], None);
            tensor(&format!("{stack}/layer_norm/beta"), vec![d], None);
        }
        vars.push((
            "encoder/num_heads".into(),
            vec![],
            2,
            2i16.to_le_bytes().to_vec(),
        ));
        vars.push((
            "decoder/num_heads".into(),
            vec![],
            2,
            2i16.to_le_bytes().to_vec(),
        ));
        vars.push(("decoder/activation".into(), vec![], 1, vec![3]));
        let vars: Vec<_> = vars
            .iter()
            .map(|(n, s, t, d)| (n.as_str(), s.clone(), *t, d.clone()))
            .collect();
        write_ct2(
            "WhisperSpec",
            &vars,
            &[("decoder/projection/weight", "decoder/embeddings/weight")],
        )
    }

    fn f32s(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    #[test]
    fn parses_variables_scalars_and_aliases() -> std::result::Result<(), String> {
        let model = Ct2Model::parse(tiny_whisper())?;
        assert_eq!(model.spec, "WhisperSpec");
        assert_eq!(model.scalar("decoder/num_heads"), Some(2));
        assert_eq!(model.scalar("decoder/activation"), Some(3));
        let proj = model
            .get("decoder/projection/weight")
            .ok_or("alias not followed")?;
        assert_eq!(proj.name, "decoder/embeddings/weight");
        let dims = model.whisper_dims()?;
        assert_eq!(
            (
                dims.d_model,
                dims.n_mels,
                dims.vocab_size,
                dims.encoder_layers
            ),
            (4, 3, 6, 1)
        );
        Ok(())
    }

    #[test]
    fn splits_fused_projections_by_rows() -> std::result::Result<(), String> {
        let model = Ct2Model::parse(tiny_whisper())?;
        let mapped = whisper_to_hf(&model)?;
        let get = |name: &str| {
            mapped
                .iter()
                .find(|t| t.name == name)
                .ok_or(format!("no {name}"))
        };
        let fused = model
            .get("encoder/layer_0/self_attention/linear_0/weight")
            .ok_or("fused")?;
        let all = f32s(model.data(fused));
        let q = get("model.encoder.layers.0.self_attn.q_proj.weight")?;
        let k = get("model.encoder.layers.0.self_attn.k_proj.weight")?;
        let v = get("model.encoder.layers.0.self_attn.v_proj.weight")?;
        assert_eq!(q.shape, vec![4, 4]);
        assert_eq!(f32s(q.data), all[0..16]);
        assert_eq!(f32s(k.data), all[16..32]);
        assert_eq!(f32s(v.data), all[32..48]);
        assert!(mapped.iter().all(|t| !t.name.contains("k_proj.bias")));
        let kv = get("model.decoder.layers.0.encoder_attn.v_proj.bias")?;
        assert_eq!(kv.rows, 4..8);
        assert!(get("model.decoder.layers.0.encoder_attn_layer_norm.weight").is_ok());
        assert!(get("model.decoder.embed_tokens.weight").is_ok());
        // Every non-scalar variable is used; there are no duplicate names.
        let mut names: Vec<_> = mapped.iter().map(|t| &t.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), mapped.len());
        Ok(())
    }

    #[test]
    fn nonzero_fused_k_bias_is_refused() -> std::result::Result<(), String> {
        let mut bytes = tiny_whisper();
        let model = Ct2Model::parse(bytes.clone())?;
        let bias = model
            .get("encoder/layer_0/self_attention/linear_0/bias")
            .ok_or("bias")?;
        let k0 = bias.range.start + 4 * 4;
        bytes[k0..k0 + 4].copy_from_slice(&1.0f32.to_le_bytes());
        let err = whisper_to_hf(&Ct2Model::parse(bytes)?)
            .err()
            .unwrap_or_default();
        assert!(err.contains("not zero"), "{err}");
        Ok(())
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let good = tiny_whisper();
        for cut in [0, 3, 4, 10, 50, good.len() / 2, good.len() - 1] {
            assert!(
                Ct2Model::parse(good[..cut].to_vec()).is_err(),
                "cut at {cut}"
            );
        }
        let mut bad_version = good.clone();
        bad_version[0] = 5;
        assert!(
            Ct2Model::parse(bad_version)
                .err()
                .unwrap_or_default()
                .contains("version 5")
        );
        let mut trailing = good;
        trailing.push(0);
        assert!(Ct2Model::parse(trailing).is_err());
    }
}
