//! The waveform decoder: HiFi-GAN's generator (Kong et al. 2020), upsampling the latent by
//! transposed convolutions with multi-receptive-field residual blocks after each.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::layers::{Conv, count};

/// Dilations of HiFi-GAN's residual blocks by kernel size: type 2 blocks (two convolutions,
/// Piper's low and medium voices) and type 1 (three pairs, the "high" configuration).
fn dilations(kernel: usize, type_1: bool) -> &'static [usize] {
    match (type_1, kernel) {
        (true, _) => &[1, 3, 5],
        (false, 3) => &[1, 2],
        (false, 5) => &[2, 6],
        (false, _) => &[3, 12],
    }
}

const SLOPE: f64 = 0.1;

fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    x.maximum(&(x * slope)?)
}

/// One residual block: `x + conv(leaky(x))` per dilation (type 1 has a second, undilated
/// convolution inside each step).
#[derive(Debug, Clone)]
struct ResBlock {
    steps: Vec<(Conv, Option<Conv>)>,
}

impl ResBlock {
    fn load(vb: &VarBuilder<'_>) -> Result<Self> {
        let type_1 = vb.contains_tensor("convs1.0.weight");
        let first = if type_1 { "convs1" } else { "convs" };
        let kernel = vb.get_unchecked(&format!("{first}.0.weight"))?.dim(2)?;
        let steps = dilations(kernel, type_1)
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                let second = type_1
                    .then(|| Conv::load(&vb.pp(format!("convs2.{i}")), 1, 1))
                    .transpose()?;
                Ok((Conv::load(&vb.pp(format!("{first}.{i}")), d, 1)?, second))
            })
            .collect::<Result<_>>()?;
        Ok(Self { steps })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for (conv, second) in &self.steps {
            let mut y = conv.forward(&leaky_relu(&x, SLOPE)?)?;
            if let Some(second) = second {
                y = second.forward(&leaky_relu(&y, SLOPE)?)?;
            }
            x = (x + y)?;
        }
        Ok(x)
    }
}

/// A transposed convolution upsampling by half its kernel (`ups.i`), as one matrix product and
/// an overlap-add: every input frame's `(out, kernel)` contribution comes from the product of
/// the weights laid out `(out * kernel, in)` at load with the input, and the contributions of
/// neighbouring frames, `stride` apart, are summed. (candle's CPU transposed convolution is a
/// direct loop.)
#[derive(Debug, Clone)]
struct Upsample {
    /// `(out * kernel, in)`.
    weight: Tensor,
    bias: Tensor,
    out: usize,
    kernel: usize,
    stride: usize,
}

impl Upsample {
    /// `weight` is PyTorch's `(in, out, kernel)`.
    fn new(weight: &Tensor, bias: Tensor) -> Result<Self> {
        let (input, out, kernel) = weight.dims3()?;
        let stride = kernel / 2;
        if stride == 0 || kernel % stride != 0 {
            candle_core::bail!("upsampling kernel {kernel} is not a multiple of its stride");
        }
        Ok(Self {
            weight: weight
                .permute((1, 2, 0))?
                .reshape((out * kernel, input))?
                .contiguous()?,
            bias,
            out,
            kernel,
            stride,
        })
    }
}

impl Module for Upsample {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, frames) = x.dims3()?;
        let (out, s) = (self.out, self.stride);
        let overlaps = self.kernel / s;
        // (out, overlaps, stride, frames): tap j * s + r of frame t lands at t * s + j * s + r.
        let columns = self
            .weight
            .matmul(&x.squeeze(0)?)?
            .reshape((out, overlaps, s, frames))?;
        let mut full: Option<Tensor> = None;
        for j in 0..overlaps {
            let part = columns
                .narrow(1, j, 1)?
                .squeeze(1)?
                .transpose(1, 2)?
                .reshape((out, frames * s))?
                .pad_with_zeros(1, j * s, (overlaps - 1 - j) * s)?;
            full = Some(match full {
                Some(f) => (f + part)?,
                None => part,
            });
        }
        let full = full.ok_or_else(|| candle_core::Error::Msg("empty kernel".into()))?;
        let padding = (self.kernel - s) / 2;
        let length = (frames - 1) * s + self.kernel - 2 * padding;
        full.narrow(1, padding, length)?
            .unsqueeze(0)?
            .broadcast_add(&self.bias.reshape((1, (), 1))?)
    }
}

/// The generator.
#[derive(Debug, Clone)]
pub(crate) struct Generator {
    conv_pre: Conv,
    stages: Vec<(Upsample, Vec<ResBlock>)>,
    conv_post: Conv,
}

impl Generator {
    /// `vb` at `dec`.
    pub(crate) fn load(vb: &VarBuilder<'_>) -> Result<Self> {
        let ups = count(vb, "ups", "weight");
        let blocks = (0..)
            .take_while(|i| {
                vb.contains_tensor(&format!("resblocks.{i}.convs.0.weight"))
                    || vb.contains_tensor(&format!("resblocks.{i}.convs1.0.weight"))
            })
            .count();
        if ups == 0 || blocks % ups != 0 {
            candle_core::bail!("decoder with {ups} upsamplings and {blocks} residual blocks");
        }
        let per_stage = blocks / ups;
        let stages = (0..ups)
            .map(|i| {
                let upsample = Upsample::new(
                    &vb.get_unchecked(&format!("ups.{i}.weight"))?,
                    vb.get_unchecked(&format!("ups.{i}.bias"))?,
                )?;
                let blocks = (0..per_stage)
                    .map(|j| ResBlock::load(&vb.pp(format!("resblocks.{}", i * per_stage + j))))
                    .collect::<Result<_>>()?;
                Ok((upsample, blocks))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            conv_pre: Conv::load(&vb.pp("conv_pre"), 1, 1)?,
            stages,
            conv_post: Conv::load(&vb.pp("conv_post"), 1, 1)?,
        })
    }

    /// Samples `(1, 1, frames * hop)` from the latent `(1, channels, frames)`.
    pub(crate) fn forward(&self, z: &Tensor) -> Result<Tensor> {
        let mut x = self.conv_pre.forward(z)?;
        for (upsample, blocks) in &self.stages {
            x = upsample.forward(&leaky_relu(&x, SLOPE)?)?;
            let mut sum: Option<Tensor> = None;
            for block in blocks {
                let y = block.forward(&x)?;
                sum = Some(match sum {
                    Some(s) => (s + y)?,
                    None => y,
                });
            }
            if let Some(sum) = sum {
                x = (sum / blocks.len() as f64)?;
            }
        }
        // The last activation uses PyTorch's default slope.
        self.conv_post.forward(&leaky_relu(&x, 0.01)?)?.tanh()
    }
}
