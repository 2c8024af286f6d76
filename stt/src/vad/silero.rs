//! Silero VAD v6 (16 kHz) on candle.
//!
//! Reference: <https://github.com/snakers4/silero-vad> (MIT); the architecture is read off its
//! published ONNX graph (`silero_vad_16k_op15.onnx`), whose weights the model store converts to
//! safetensors. Per 512-sample chunk (32 ms), with the last 64 samples of the previous chunk in
//! front (576 samples):
//!
//! ```text
//! reflect-pad 64 on the right -> STFT as conv1d(258 filters of 256, stride 128) -> 4 frames
//! magnitude of (real 0..129, imaginary 129..258) -> 4 x [conv1d k3 + ReLU] (strides 1, 2, 2, 1)
//! -> LSTM cell (128, state carried across chunks) -> ReLU -> conv1d k1 -> sigmoid = P(speech)
//! ```

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use dragoman_core::{Error, ModelSource, Result};

use crate::whisper::model_error;

/// Samples per chunk at 16 kHz.
pub const CHUNK: usize = 512;
/// Samples of the previous chunk prepended to each chunk.
const CONTEXT: usize = 64;
/// Right reflect padding before the STFT.
const STFT_PAD: usize = 64;
const STFT_HOP: usize = 128;
const HIDDEN: usize = 128;
const BINS: usize = 129;

/// The loaded weights; shared by every stream (cloning shares the tensors).
#[derive(Debug, Clone)]
pub struct SileroVad {
    stft_basis: Tensor,
    encoder: Vec<(Tensor, Tensor, usize)>,
    w_ih: Tensor,
    w_hh: Tensor,
    bias: Tensor,
    out_w: Tensor,
    out_b: Tensor,
    device: Device,
}

impl SileroVad {
    /// Loads `model.safetensors` from `source` (what `dragoman models pull silero-vad` writes).
    pub fn load(source: &ModelSource, device: &Device) -> Result<Self> {
        let file_error =
            |reason: String| source.file_error("model.safetensors", "silero-vad", reason);
        let bytes = source
            .read("model.safetensors")
            .map_err(|e| file_error(e.to_string()))?;
        let vb = VarBuilder::from_buffered_safetensors(bytes.to_vec(), DType::F32, device)
            .map_err(|e| file_error(e.to_string()))?;
        let get = |shape: &[usize], name: &str| {
            vb.get(shape, name).map_err(|e| file_error(e.to_string()))
        };
        let channels = [(BINS, 128, 1), (128, 64, 2), (64, 64, 2), (64, 128, 1)];
        let encoder = channels
            .iter()
            .enumerate()
            .map(|(i, &(cin, cout, stride))| {
                let w = get(
                    &[cout, cin, 3],
                    &format!("model.encoder.{i}.reparam_conv.weight"),
                )?;
                let b = get(&[cout], &format!("model.encoder.{i}.reparam_conv.bias"))?;
                Ok((w, b.reshape((1, cout, 1)).map_err(model_error)?, stride))
            })
            .collect::<Result<Vec<_>>>()?;
        let b_ih = get(&[4 * HIDDEN], "model.decoder.rnn.bias_ih")?;
        let b_hh = get(&[4 * HIDDEN], "model.decoder.rnn.bias_hh")?;
        Ok(Self {
            stft_basis: get(&[2 * BINS, 1, 256], "model.stft.forward_basis_buffer")?,
            encoder,
            w_ih: get(&[4 * HIDDEN, HIDDEN], "model.decoder.rnn.weight_ih")?
                .t()
                .map_err(model_error)?,
            w_hh: get(&[4 * HIDDEN, HIDDEN], "model.decoder.rnn.weight_hh")?
                .t()
                .map_err(model_error)?,
            bias: (b_ih + b_hh)
                .and_then(|b| b.unsqueeze(0))
                .map_err(model_error)?,
            out_w: get(&[1, HIDDEN, 1], "model.decoder.decoder.2.weight")?
                .reshape((HIDDEN, 1))
                .map_err(model_error)?,
            out_b: get(&[1], "model.decoder.decoder.2.bias")?,
            device: device.clone(),
        })
    }

    /// Fresh recurrent state for a new stream.
    pub fn initial_state(&self) -> Result<SileroState> {
        let zeros = || Tensor::zeros((1, HIDDEN), DType::F32, &self.device).map_err(model_error);
        Ok(SileroState {
            h: zeros()?,
            c: zeros()?,
            context: vec![0.0; CONTEXT],
        })
    }

    /// P(speech) of one 512-sample chunk, advancing `state`.
    pub fn probability(&self, state: &mut SileroState, chunk: &[f32]) -> Result<f32> {
        if chunk.len() != CHUNK {
            return Err(Error::Misuse(format!(
                "Silero VAD takes {CHUNK}-sample chunks, got {}",
                chunk.len()
            )));
        }
        let mut input = Vec::with_capacity(CONTEXT + CHUNK + STFT_PAD);
        input.extend_from_slice(&state.context);
        input.extend_from_slice(chunk);
        // Reflect padding on the right: x[n-2], x[n-3], ... (numpy "reflect").
        let n = input.len();
        for k in 0..STFT_PAD {
            input.push(input[n - 2 - k]);
        }
        state.context.copy_from_slice(&chunk[CHUNK - CONTEXT..]);
        let (p, h, c) = self
            .forward(&input, &state.h, &state.c)
            .map_err(model_error)?;
        state.h = h;
        state.c = c;
        Ok(p)
    }

    fn forward(
        &self,
        input: &[f32],
        h: &Tensor,
        c: &Tensor,
    ) -> candle_core::Result<(f32, Tensor, Tensor)> {
        let x = Tensor::from_slice(input, (1, 1, input.len()), &self.device)?;
        let spec = x.conv1d(&self.stft_basis, 0, STFT_HOP, 1, 1)?;
        let re = spec.narrow(1, 0, BINS)?;
        let im = spec.narrow(1, BINS, BINS)?;
        let mut x = (re.sqr()? + im.sqr()?)?.sqrt()?;
        for (w, b, stride) in &self.encoder {
            x = x.conv1d(w, 1, *stride, 1, 1)?.broadcast_add(b)?.relu()?;
        }
        // (1, 128, 1) -> (1, 128): one step of the LSTM cell, PyTorch gate order i, f, g, o.
        let x = x.squeeze(2)?;
        let gates = (x.matmul(&self.w_ih)? + h.matmul(&self.w_hh)?)?.broadcast_add(&self.bias)?;
        let chunks = gates.chunk(4, 1)?;
        let (i, f, g, o) = (
            candle_nn::ops::sigmoid(&chunks[0])?,
            candle_nn::ops::sigmoid(&chunks[1])?,
            chunks[2].tanh()?,
            candle_nn::ops::sigmoid(&chunks[3])?,
        );
        let c = ((f * c)? + (i * g)?)?;
        let h = (o * c.tanh()?)?;
        let logit = h.relu()?.matmul(&self.out_w)?.broadcast_add(&self.out_b)?;
        let p = candle_nn::ops::sigmoid(&logit)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Ok((p.first().copied().unwrap_or(0.0), h, c))
    }
}

/// The recurrent state of one stream.
#[derive(Debug, Clone)]
pub struct SileroState {
    h: Tensor,
    c: Tensor,
    context: Vec<f32>,
}
