//! The normalising flow between the prior and the decoder's latent (VITS's
//! `ResidualCouplingBlock`): mean-only affine couplings over WaveNet-style stacks, run in
//! reverse at synthesis.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::layers::{Conv, count, flip_channels, halves};

/// Gated dilated convolutions with residual and skip outputs (`modules.WN`, no conditioning).
#[derive(Debug, Clone)]
struct WaveNet {
    in_layers: Vec<Conv>,
    res_skip: Vec<Conv>,
    hidden: usize,
}

impl WaveNet {
    fn load(vb: &VarBuilder<'_>) -> Result<Self> {
        let n = count(vb, "in_layers", "weight");
        let in_layers = (0..n)
            .map(|i| Conv::load(&vb.pp(format!("in_layers.{i}")), 1, 1))
            .collect::<Result<Vec<_>>>()?;
        let res_skip = (0..n)
            .map(|i| Conv::load(&vb.pp(format!("res_skip_layers.{i}")), 1, 1))
            .collect::<Result<Vec<_>>>()?;
        let hidden = match in_layers.first() {
            Some(c) => c.out_channels()? / 2,
            None => candle_core::bail!("flow without layers"),
        };
        Ok(Self {
            in_layers,
            res_skip,
            hidden,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        let mut output: Option<Tensor> = None;
        let last = self.in_layers.len() - 1;
        for (i, (input, res_skip)) in self.in_layers.iter().zip(&self.res_skip).enumerate() {
            let a = input.forward(&x)?;
            let acts = (a.narrow(1, 0, self.hidden)?.tanh()?
                * candle_nn::ops::sigmoid(&a.narrow(1, self.hidden, self.hidden)?)?)?;
            let rs = res_skip.forward(&acts)?;
            let skip = if i < last {
                x = (x + rs.narrow(1, 0, self.hidden)?)?;
                rs.narrow(1, self.hidden, self.hidden)?
            } else {
                rs
            };
            output = Some(match output {
                Some(o) => (o + skip)?,
                None => skip,
            });
        }
        output.ok_or_else(|| candle_core::Error::Msg("flow without layers".into()))
    }
}

/// A mean-only affine coupling layer (`modules.ResidualCouplingLayer`).
#[derive(Debug, Clone)]
struct Coupling {
    pre: Conv,
    enc: WaveNet,
    post: Conv,
}

impl Coupling {
    fn reverse(&self, x: &Tensor) -> Result<Tensor> {
        let (x0, x1) = halves(x)?;
        let mean = self
            .post
            .forward(&self.enc.forward(&self.pre.forward(&x0)?)?)?;
        Tensor::cat(&[&x0, &(x1 - mean)?], 1)
    }
}

/// The flow (`flow.flows.{0,2,4,..}` couplings, each followed by a channel flip).
#[derive(Debug, Clone)]
pub(crate) struct Flow {
    couplings: Vec<Coupling>,
}

impl Flow {
    /// `vb` at `flow`.
    pub(crate) fn load(vb: &VarBuilder<'_>) -> Result<Self> {
        let couplings = (0..)
            .step_by(2)
            .take_while(|i| vb.contains_tensor(&format!("flows.{i}.pre.weight")))
            .map(|i| {
                let f = vb.pp(format!("flows.{i}"));
                Ok(Coupling {
                    pre: Conv::load(&f.pp("pre"), 1, 1)?,
                    enc: WaveNet::load(&f.pp("enc"))?,
                    post: Conv::load(&f.pp("post"), 1, 1)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self { couplings })
    }

    /// The prior sample `z_p` to the decoder's latent `z`.
    pub(crate) fn reverse(&self, z_p: &Tensor) -> Result<Tensor> {
        let mut z = z_p.clone();
        for coupling in self.couplings.iter().rev() {
            z = coupling.reverse(&flip_channels(&z)?)?;
        }
        Ok(z)
    }
}
