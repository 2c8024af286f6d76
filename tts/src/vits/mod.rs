//! VITS (Kim, Kong and Son 2021, "Conditional Variational Autoencoder with Adversarial Learning
//! for End-to-End Text-to-Speech"; reference code jaywalnut310/vits, which Piper trains) on
//! candle, inference only: text encoder, stochastic duration predictor and flow run in reverse,
//! HiFi-GAN decoder. Layer counts, widths and kernels are read from the weights, so the voices
//! of every Piper quality load.
//!
//! Batch of one, no padding masks: a voice speaks one sentence at a time.

mod duration;
mod flow;
mod generator;
mod layers;
mod text_encoder;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use dragoman_core::{Error, ModelSource, Result};
use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::StandardNormal;

use duration::DurationPredictor;
use flow::Flow;
use generator::Generator;
use text_encoder::TextEncoder;

/// Longest a phoneme may last, in frames (about 3 s at Piper's 256-sample hop): a bound on
/// the memory a degenerate duration could ask for.
const MAX_FRAMES_PER_PHONEME: usize = 256;

/// The three knobs of VITS sampling (Piper's `inference` block).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scales {
    /// Spread of the prior sample (0.667 in Piper voices): 0 gives the prior's mean.
    pub noise: f32,
    /// Duration multiplier: above 1 speaks slower.
    pub length: f32,
    /// Spread of the duration noise (0.8 in Piper voices): 0 gives the most likely durations.
    pub noise_w: f32,
}

/// A loaded VITS voice.
#[derive(Debug, Clone)]
pub struct VitsModel {
    encoder: TextEncoder,
    duration: DurationPredictor,
    flow: Flow,
    generator: Generator,
    device: Device,
}

fn model_error(e: candle_core::Error) -> Error {
    Error::Model(e.to_string())
}

impl VitsModel {
    /// Loads the safetensors file `file` of `source` (a Piper voice converted at pull time).
    pub fn load(source: &ModelSource, file: &str, id: &str, device: &Device) -> Result<Self> {
        let bytes = source.read(file)?.to_vec();
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, device)
            .map_err(|e| source.file_error(file, id, e.to_string()))?;
        let build = || -> candle_core::Result<Self> {
            // PyTorch's ONNX exporter named the phoneme table after the graph input it meets.
            let embedding = if vb.contains_tensor("enc_p.emb.weight") {
                vb.get_unchecked("enc_p.emb.weight")?
            } else {
                vb.get_unchecked("sid")?
            };
            Ok(Self {
                encoder: TextEncoder::load(&vb.pp("enc_p"), embedding)?,
                duration: DurationPredictor::load(&vb.pp("dp"), &vb)?,
                flow: Flow::load(&vb.pp("flow"))?,
                generator: Generator::load(&vb.pp("dec"))?,
                device: device.clone(),
            })
        };
        build().map_err(|e| source.file_error(file, id, e.to_string()))
    }

    /// Speech for phoneme ids (with the voice's own padding and start/end ids already in).
    /// The sampling noise comes from `seed`: the same ids, scales and seed give the same audio.
    pub fn synthesize(&self, ids: &[u32], scales: Scales, seed: u64) -> Result<Vec<f32>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut rng = StdRng::seed_from_u64(seed);
        self.run(ids, scales, &mut rng).map_err(model_error)
    }

    /// Standard normal noise of `shape`, times `scale`.
    fn noise(
        &self,
        shape: (usize, usize, usize),
        scale: f32,
        rng: &mut StdRng,
    ) -> candle_core::Result<Tensor> {
        let n = shape.0 * shape.1 * shape.2;
        let values: Vec<f32> = if scale == 0.0 {
            vec![0.0; n]
        } else {
            (0..n)
                .map(|_| scale * rng.sample::<f32, _>(StandardNormal))
                .collect()
        };
        Tensor::from_vec(values, shape, &self.device)
    }

    fn run(&self, ids: &[u32], scales: Scales, rng: &mut StdRng) -> candle_core::Result<Vec<f32>> {
        let encoded = self.encoder.forward(ids)?;
        let t = ids.len();
        let noise = self.noise((1, 2, t), scales.noise_w, rng)?;
        let log_durations = self.duration.log_durations(&encoded.hidden, &noise)?;
        let frames: Vec<usize> = (log_durations.exp()? * f64::from(scales.length))?
            .ceil()?
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(|d| (d.max(0.0) as usize).min(MAX_FRAMES_PER_PHONEME))
            .collect();
        // Each phoneme's prior repeated over its frames (the hard monotonic alignment).
        let index: Vec<u32> = frames
            .iter()
            .enumerate()
            .flat_map(|(i, &n)| std::iter::repeat_n(i as u32, n))
            .collect();
        if index.is_empty() {
            return Ok(Vec::new());
        }
        let index = Tensor::new(index, &self.device)?;
        let mean = encoded.mean.index_select(&index, 2)?;
        let log_scale = encoded.log_scale.index_select(&index, 2)?;
        let noise = self.noise(mean.dims3()?, scales.noise, rng)?;
        let z_p = (mean + (noise * log_scale.exp()?)?)?;
        let z = self.flow.reverse(&z_p)?;
        self.generator.forward(&z)?.flatten_all()?.to_vec1::<f32>()
    }
}
