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
mod hf_layout;
mod layers;
mod text_encoder;

use std::collections::HashMap;

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

/// Most words spoken in one pass of the model.
pub const MAX_WORDS: usize = 40;

/// `text` in pieces of at most [`MAX_WORDS`] words, each ending after the last comma (or
/// other clause mark) that keeps it within the limit, if any.
fn pieces(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = Vec::new();
    let mut start = 0;
    while start < words.len() {
        let end = (start + MAX_WORDS).min(words.len());
        let cut = if end == words.len() {
            end
        } else {
            (start + 1..end)
                .rev()
                .find(|&i| words[i - 1].ends_with([',', ';', ':']))
                .unwrap_or(end)
        };
        out.push(words[start..cut].join(" "));
        start = cut;
    }
    out
}

/// Seed of the sampling noise voices speak with: a sentence always sounds the same (which also
/// lets speech be cached by its text).
pub const NOISE_SEED: u64 = 0x5eed;

/// The single-character entries of a symbol table (the ones a per-character reader can use).
pub(crate) fn by_char<V>(table: HashMap<String, V>) -> HashMap<char, V> {
    table
        .into_iter()
        .filter_map(|(symbol, value)| {
            let mut chars = symbol.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Some((c, value)),
                _ => None,
            }
        })
        .collect()
}

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

impl Scales {
    /// These scales at `speed` (1.0 is the voice's own pace): durations divided by it.
    pub fn at_speed(self, speed: f32) -> Result<Self> {
        if speed.is_nan() || speed <= 0.0 {
            return Err(Error::Misuse(format!("speed {speed} must be positive")));
        }
        Ok(Self {
            length: self.length / speed,
            ..self
        })
    }
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

/// Where the sampling noise comes from: a seeded generator, or noise drawn elsewhere (another
/// implementation's, to compare with it).
enum NoiseSource<'a> {
    Seeded(Box<StdRng>),
    Given {
        duration: &'a [f32],
        prior: &'a [f32],
        drawn: usize,
    },
}

impl NoiseSource<'_> {
    /// Standard normal noise of `shape` times `scale`: the duration noise on the first call,
    /// the prior's on the second.
    fn draw(
        &mut self,
        shape: (usize, usize, usize),
        scale: f32,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let n = shape.0 * shape.1 * shape.2;
        let values: Vec<f32> = match self {
            Self::Seeded(_) if scale == 0.0 => vec![0.0; n],
            Self::Seeded(rng) => (0..n)
                .map(|_| scale * rng.sample::<f32, _>(StandardNormal))
                .collect(),
            Self::Given {
                duration,
                prior,
                drawn,
            } => {
                let given = if *drawn == 0 { *duration } else { *prior };
                *drawn += 1;
                if given.len() != n {
                    candle_core::bail!("{} noise values given where {n} are drawn", given.len());
                }
                given.iter().map(|v| scale * v).collect()
            }
        };
        Tensor::from_vec(values, shape, device)
    }
}

impl VitsModel {
    /// Loads the safetensors file `file` of `source`: a Piper voice converted at pull time, or
    /// a transformers `VitsModel` checkpoint (MMS-TTS), renamed at load (see `hf_layout`).
    pub fn load(source: &ModelSource, file: &str, id: &str, device: &Device) -> Result<Self> {
        let bad = |e: candle_core::Error| source.file_error(file, id, e.to_string());
        let mut tensors =
            candle_core::safetensors::load_buffer(&source.read(file)?, device).map_err(bad)?;
        if hf_layout::is_hf_layout(&tensors) {
            tensors = hf_layout::to_reference(tensors).map_err(bad)?;
        }
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
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
        build().map_err(bad)
    }

    /// Speech for `text`, whose model input `ids` gives, with [`NOISE_SEED`]. Text longer
    /// than [`MAX_WORDS`] words is spoken in pieces (cut after a comma where there is one),
    /// never cut short: the encoder's attention grows with the square of the input.
    pub fn speak(
        &self,
        text: &str,
        scales: Scales,
        ids: impl Fn(&str) -> Result<Vec<u32>>,
    ) -> Result<Vec<f32>> {
        let mut audio = Vec::new();
        for piece in pieces(text) {
            audio.extend(self.synthesize(&ids(&piece)?, scales, NOISE_SEED)?);
        }
        Ok(audio)
    }

    /// Speech for phoneme ids (with the voice's own padding and start/end ids already in).
    /// The sampling noise comes from `seed`: the same ids, scales and seed give the same audio.
    pub fn synthesize(&self, ids: &[u32], scales: Scales, seed: u64) -> Result<Vec<f32>> {
        self.run(
            ids,
            scales,
            NoiseSource::Seeded(Box::new(StdRng::seed_from_u64(seed))),
        )
    }

    /// Speech for ids with standard normal noise drawn elsewhere (scaled here, as drawn noise
    /// is): `duration` `(1, 2, ids)` for the duration predictor and `prior` `(1, channels,
    /// frames)` for the prior, row-major. For comparisons with other implementations: the
    /// prior's length must match the frames the durations come to.
    pub fn synthesize_with_noise(
        &self,
        ids: &[u32],
        scales: Scales,
        duration: &[f32],
        prior: &[f32],
    ) -> Result<Vec<f32>> {
        let noise = NoiseSource::Given {
            duration,
            prior,
            drawn: 0,
        };
        self.run(ids, scales, noise)
    }

    fn run(&self, ids: &[u32], scales: Scales, noise: NoiseSource<'_>) -> Result<Vec<f32>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.forward(ids, scales, noise).map_err(model_error)
    }

    fn forward(
        &self,
        ids: &[u32],
        scales: Scales,
        mut noise: NoiseSource<'_>,
    ) -> candle_core::Result<Vec<f32>> {
        let encoded = self.encoder.forward(ids)?;
        let t = ids.len();
        let duration_noise = noise.draw((1, 2, t), scales.noise_w, &self.device)?;
        let log_durations = self
            .duration
            .log_durations(&encoded.hidden, &duration_noise)?;
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
        let prior_noise = noise.draw(mean.dims3()?, scales.noise, &self.device)?;
        let z_p = (mean + (prior_noise * log_scale.exp()?)?)?;
        let z = self.flow.reverse(&z_p)?;
        self.generator.forward(&z)?.flatten_all()?.to_vec1::<f32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_spoken_in_pieces_without_losing_words() {
        assert!(pieces("  ").is_empty());
        assert_eq!(pieces("Hello world."), ["Hello world."]);
        let long: Vec<String> = (0..100)
            .map(|i| {
                if i == 30 {
                    "w30,".into()
                } else {
                    format!("w{i}")
                }
            })
            .collect();
        let parts = pieces(&long.join(" "));
        assert!(
            parts
                .iter()
                .all(|p| p.split_whitespace().count() <= MAX_WORDS)
        );
        assert!(parts[0].ends_with("w30,"), "{}", parts[0]);
        assert_eq!(parts.join(" "), long.join(" "));
    }
}
