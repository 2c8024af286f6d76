//! The stochastic duration predictor (VITS section 2.2.2), run in reverse: noise through
//! normalising flows conditioned on the text encoder's states gives each phoneme's log
//! duration. The flows are neural-spline couplings (Durkan et al. 2019, rational-quadratic
//! splines with linear tails) over dilated depth-separable convolutions.

use candle_core::{D, Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::layers::{ChannelNorm, Conv, count, flip_channels, halves, softmax_last};

/// Dilated depth-separable convolutions (`modules.DDSConv`): dilation 1, k, k², ...
#[derive(Debug, Clone)]
struct DdsConv {
    layers: Vec<(Conv, ChannelNorm, Conv, ChannelNorm)>,
}

impl DdsConv {
    fn load(vb: &VarBuilder<'_>) -> Result<Self> {
        let mut dilation = 1;
        let layers = (0..count(vb, "convs_sep", "weight"))
            .map(|i| {
                let sep = vb.pp(format!("convs_sep.{i}"));
                let (channels, kernel) = {
                    let w = sep.get_unchecked("weight")?;
                    (w.dim(0)?, w.dim(2)?)
                };
                let layer = (
                    Conv::load(&sep, dilation, channels)?,
                    ChannelNorm::load(&vb.pp(format!("norms_1.{i}")))?,
                    Conv::load(&vb.pp(format!("convs_1x1.{i}")), 1, 1)?,
                    ChannelNorm::load(&vb.pp(format!("norms_2.{i}")))?,
                );
                dilation *= kernel;
                Ok(layer)
            })
            .collect::<Result<_>>()?;
        Ok(Self { layers })
    }

    fn forward(&self, x: &Tensor, condition: Option<&Tensor>) -> Result<Tensor> {
        let mut x = match condition {
            Some(g) => (x + g)?,
            None => x.clone(),
        };
        for (sep, norm_1, pointwise, norm_2) in &self.layers {
            let y = norm_1.forward(&sep.forward(&x)?)?.gelu_erf()?;
            let y = norm_2.forward(&pointwise.forward(&y)?)?.gelu_erf()?;
            x = (x + y)?;
        }
        Ok(x)
    }
}

/// Spline bins of the coupling flows.
const BINS: usize = 10;
/// The spline covers `[-TAIL, TAIL]`; outside it the flow is the identity.
const TAIL: f32 = 5.0;
const MIN_BIN: f32 = 1e-3;
const MIN_DERIVATIVE: f32 = 1e-3;

/// A spline coupling flow (`modules.ConvFlow`).
#[derive(Debug, Clone)]
struct ConvFlow {
    pre: Conv,
    convs: DdsConv,
    proj: Conv,
    filter_channels: usize,
}

impl ConvFlow {
    fn load(vb: &VarBuilder<'_>) -> Result<Self> {
        let pre = Conv::load(&vb.pp("pre"), 1, 1)?;
        Ok(Self {
            filter_channels: pre.out_channels()?,
            pre,
            convs: DdsConv::load(&vb.pp("convs"))?,
            proj: Conv::load(&vb.pp("proj"), 1, 1)?,
        })
    }

    fn reverse(&self, x: &Tensor, condition: &Tensor) -> Result<Tensor> {
        let (x0, x1) = halves(x)?;
        let h = self.proj.forward(
            &self
                .convs
                .forward(&self.pre.forward(&x0)?, Some(condition))?,
        )?;
        // (1, half * (3 * BINS - 1), t) -> per element of x1: widths, heights, derivatives.
        let (_, half, t) = x0.dims3()?;
        let h = h
            .reshape((half, 3 * BINS - 1, t))?
            .transpose(1, 2)?
            .contiguous()?; // (half, t, 3 * BINS - 1)
        let scale = (self.filter_channels as f64).sqrt();
        let widths = softmax_last(&(h.narrow(D::Minus1, 0, BINS)? / scale)?)?;
        let heights = softmax_last(&(h.narrow(D::Minus1, BINS, BINS)? / scale)?)?;
        let derivatives = h.narrow(D::Minus1, 2 * BINS, BINS - 1)?;
        let (widths, heights, derivatives) = (
            widths.flatten_to(1)?.to_vec2::<f32>()?,
            heights.flatten_to(1)?.to_vec2::<f32>()?,
            derivatives.flatten_to(1)?.to_vec2::<f32>()?,
        );
        let inputs = x1.flatten_all()?.to_vec1::<f32>()?;
        let outputs: Vec<f32> = inputs
            .iter()
            .enumerate()
            .map(|(i, &y)| inverse_spline(y, &widths[i], &heights[i], &derivatives[i]))
            .collect();
        let x1 = Tensor::from_vec(outputs, x1.shape(), x1.device())?;
        Tensor::cat(&[&x0, &x1], 1)
    }
}

/// The inverse of the rational-quadratic spline with linear tails (`transforms.py`,
/// `unconstrained_rational_quadratic_spline(..., inverse=True)`): `y` back to `x`.
/// `widths` and `heights` are softmaxed bin sizes, `derivatives` the unconstrained inner knot
/// derivatives (the two outer ones are 1, matching the linear tails).
fn inverse_spline(y: f32, widths: &[f32], heights: &[f32], derivatives: &[f32]) -> f32 {
    if !(-TAIL..=TAIL).contains(&y) {
        return y;
    }
    let knots = |sizes: &[f32], min: f32| -> Vec<f32> {
        let mut cum = vec![-TAIL];
        let mut total = 0.0;
        for s in sizes {
            total += min + (1.0 - min * BINS as f32) * s;
            cum.push(2.0 * TAIL * total - TAIL);
        }
        cum[BINS] = TAIL;
        cum
    };
    let xs = knots(widths, MIN_BIN);
    let ys = knots(heights, MIN_BIN);
    let softplus = |v: f32| if v > 20.0 { v } else { v.exp().ln_1p() };
    let d: Vec<f32> = std::iter::once(1.0)
        .chain(derivatives.iter().map(|&v| MIN_DERIVATIVE + softplus(v)))
        .chain(std::iter::once(1.0))
        .collect();
    // The bin holding y (the last knot nudged up, as the reference's searchsorted does).
    let bin = (0..BINS)
        .rev()
        .find(|&k| y >= ys[k])
        .unwrap_or(0)
        .min(BINS - 1);
    let (x0, w) = (xs[bin], xs[bin + 1] - xs[bin]);
    let (y0, h) = (ys[bin], ys[bin + 1] - ys[bin]);
    let delta = h / w;
    let (d0, d1) = (d[bin], d[bin + 1]);
    let dy = y - y0;
    let a = dy * (d0 + d1 - 2.0 * delta) + h * (delta - d0);
    let b = h * d0 - dy * (d0 + d1 - 2.0 * delta);
    let c = -delta * dy;
    let discriminant = (b * b - 4.0 * a * c).max(0.0);
    let theta = 2.0 * c / (-b - discriminant.sqrt());
    theta * w + x0
}

/// The stochastic duration predictor, reverse direction only.
#[derive(Debug, Clone)]
pub(crate) struct DurationPredictor {
    pre: Conv,
    convs: DdsConv,
    proj: Conv,
    /// The flows in the order the reverse pass applies them (the reference's reversed list
    /// without its unused first spline flow): `(flow, then flip the channels)`.
    flows: Vec<ConvFlow>,
    /// The elementwise affine flow: its mean and, for the reverse pass, `exp(-log_scale)`.
    affine_m: Tensor,
    affine_scale: Tensor,
}

impl DurationPredictor {
    /// `vb` at `dp`; `root` at the top, where ONNX exports keep folded constants.
    pub(crate) fn load(vb: &VarBuilder<'_>, root: &VarBuilder<'_>) -> Result<Self> {
        // flows.0 is the affine flow, odd entries spline flows, even ones flips. The reverse
        // pass runs the spline flows from the last down to flows.3: the reference drops
        // flows.1 from it ("a useless vflow"), and exported voices leave it out.
        let mut flows: Vec<ConvFlow> = (3..)
            .step_by(2)
            .take_while(|i| vb.contains_tensor(&format!("flows.{i}.pre.weight")))
            .map(|i| ConvFlow::load(&vb.pp(format!("flows.{i}"))))
            .collect::<Result<_>>()?;
        flows.reverse();
        let affine_m = vb.get_unchecked("flows.0.m")?.reshape((1, 2, 1))?;
        // The reverse affine flow multiplies by exp(-logs); ONNX exports fold that into a
        // constant named after its Exp node.
        let affine_scale = if vb.contains_tensor("flows.0.logs") {
            vb.get_unchecked("flows.0.logs")?.neg()?.exp()?
        } else {
            root.get_unchecked("/dp/flows.0/Exp_output_0")?
        }
        .reshape((1, 2, 1))?;
        Ok(Self {
            pre: Conv::load(&vb.pp("pre"), 1, 1)?,
            convs: DdsConv::load(&vb.pp("convs"))?,
            proj: Conv::load(&vb.pp("proj"), 1, 1)?,
            flows,
            affine_m,
            affine_scale,
        })
    }

    /// Log durations `(1, 1, t)` of the phonemes whose encoder states are `hidden`, from noise
    /// `(1, 2, t)` (scaled by the caller: zero gives the flows' mode).
    pub(crate) fn log_durations(&self, hidden: &Tensor, noise: &Tensor) -> Result<Tensor> {
        let condition = self
            .proj
            .forward(&self.convs.forward(&self.pre.forward(hidden)?, None)?)?;
        let mut z = noise.clone();
        for flow in &self.flows {
            z = flip_channels(&z)?;
            z = flow.reverse(&z, &condition)?;
        }
        z = flip_channels(&z)?;
        // The affine flow in reverse.
        z = z
            .broadcast_sub(&self.affine_m)?
            .broadcast_mul(&self.affine_scale)?;
        z.narrow(1, 0, 1)
    }
}
