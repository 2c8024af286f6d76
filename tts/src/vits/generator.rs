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

/// A transposed convolution upsampling by half its kernel (`ups.i`).
#[derive(Debug, Clone)]
struct Upsample {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
}

impl Module for Upsample {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let kernel = self.weight.dim(2)?;
        let y = x.conv_transpose1d(
            &self.weight,
            (kernel - self.stride) / 2,
            0,
            self.stride,
            1,
            1,
        )?;
        y.broadcast_add(&self.bias.reshape((1, (), 1))?)
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
                let weight = vb.get_unchecked(&format!("ups.{i}.weight"))?;
                let stride = weight.dim(2)? / 2;
                let upsample = Upsample {
                    bias: vb.get_unchecked(&format!("ups.{i}.bias"))?,
                    weight,
                    stride,
                };
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
