//! The building blocks every part of VITS uses: 1-D convolutions whose shapes come from the
//! weights, and layer normalisation over channels.

use candle_core::{D, Module, Result, Tensor};
use candle_nn::VarBuilder;

/// A 1-D convolution `(1, in, time) -> (1, out, time)`, its kernel shape read from the
/// weights; "same" padding for the given dilation.
///
/// Dense convolutions run as one matrix product of the weights, laid out `(out, taps * in)`
/// at load, with the input's shifted copies stacked `(taps * in, time)`: each copy is a
/// contiguous slice of the padded input. candle's own CPU convolution builds its unfolded
/// matrix time-major and transposes it, which cost the HiFi-GAN decoder three quarters of its
/// time. Grouped (depthwise) convolutions stay with candle.
#[derive(Debug, Clone)]
pub(crate) struct Conv {
    weight: Tensor,
    /// `(out, taps * in)`, tap-major: the weights of dense convolutions as one matrix.
    unfolded: Option<Tensor>,
    bias: Option<Tensor>,
    padding: usize,
    dilation: usize,
    groups: usize,
}

impl Conv {
    /// Loads `weight` (and `bias` when present) under `vb`. A linear layer's `(out, in)`
    /// matrix loads as the 1x1 convolution it is.
    pub(crate) fn load(vb: &VarBuilder<'_>, dilation: usize, groups: usize) -> Result<Self> {
        let weight = vb.get_unchecked("weight")?;
        let weight = if weight.rank() == 2 {
            weight.unsqueeze(2)?
        } else {
            weight
        };
        let kernel = weight.dim(2)?;
        let bias = vb
            .contains_tensor("bias")
            .then(|| vb.get_unchecked("bias"))
            .transpose()?;
        let unfolded = (groups == 1)
            .then(|| {
                let (out, input, taps) = weight.dims3()?;
                weight
                    .permute((0, 2, 1))?
                    .reshape((out, taps * input))?
                    .contiguous()
            })
            .transpose()?;
        Ok(Self {
            weight,
            unfolded,
            bias,
            padding: dilation * (kernel - 1) / 2,
            dilation,
            groups,
        })
    }

    pub(crate) fn out_channels(&self) -> Result<usize> {
        self.weight.dim(0)
    }
}

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = match &self.unfolded {
            Some(w) => {
                let taps = self.weight.dim(2)?;
                let (_, _, time) = x.dims3()?;
                let stacked = if taps == 1 {
                    x.clone()
                } else {
                    let padded = x.pad_with_zeros(2, self.padding, self.padding)?;
                    let shifted: Vec<Tensor> = (0..taps)
                        .map(|k| padded.narrow(2, k * self.dilation, time))
                        .collect::<Result<_>>()?;
                    Tensor::cat(&shifted, 1)?
                };
                w.broadcast_matmul(&stacked.contiguous()?)?
            }
            None => x.conv1d(&self.weight, self.padding, 1, self.dilation, self.groups)?,
        };
        match &self.bias {
            Some(b) => y.broadcast_add(&b.reshape((1, (), 1))?),
            None => Ok(y),
        }
    }
}

/// Layer normalisation over the channel axis of `(batch, channels, time)` (VITS's
/// `modules.LayerNorm`: `gamma`, `beta`, eps 1e-5).
#[derive(Debug, Clone)]
pub(crate) struct ChannelNorm {
    gamma: Tensor,
    beta: Tensor,
}

impl ChannelNorm {
    pub(crate) fn load(vb: &VarBuilder<'_>) -> Result<Self> {
        Ok(Self {
            gamma: vb.get_unchecked("gamma")?.reshape((1, (), 1))?,
            beta: vb.get_unchecked("beta")?.reshape((1, (), 1))?,
        })
    }
}

impl Module for ChannelNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(1)?;
        centred
            .broadcast_div(&(var + 1e-5)?.sqrt()?)?
            .broadcast_mul(&self.gamma)?
            .broadcast_add(&self.beta)
    }
}

/// How many numbered children `prefix.0`, `prefix.1`, ... hold a tensor `leaf`.
pub(crate) fn count(vb: &VarBuilder<'_>, prefix: &str, leaf: &str) -> usize {
    (0..)
        .take_while(|i| vb.contains_tensor(&format!("{prefix}.{i}.{leaf}")))
        .count()
}

/// `x` split in two halves along the channels.
pub(crate) fn halves(x: &Tensor) -> Result<(Tensor, Tensor)> {
    let c = x.dim(1)? / 2;
    Ok((x.narrow(1, 0, c)?, x.narrow(1, c, c)?))
}

/// `x` with its channels in reverse order (VITS's `Flip` flow).
pub(crate) fn flip_channels(x: &Tensor) -> Result<Tensor> {
    let c = x.dim(1)? as u32;
    let index = Tensor::new((0..c).rev().collect::<Vec<u32>>(), x.device())?;
    x.index_select(&index, 1)
}

/// Softmax over the last axis.
pub(crate) fn softmax_last(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax(x, D::Minus1)
}
