//! CPU kernels for the two elementwise operations Whisper's encoder spends a third of its time
//! in: the attention softmax (8 x 1500 x 1500 scores per layer in base) and the exact GELU.
//!
//! candle's CPU versions call the scalar `exp` / `erf` of the maths library once per element
//! (and its GELU runs on one thread), and write a fresh output: for the 72 MB score matrix that
//! allocation and its page faults cost as much as the arithmetic. Here both run in place on a
//! tensor the caller has just made, with polynomial approximations written as straight-line code
//! the compiler vectorises (accurate to a few units in the last place of an `f32`; the tests
//! bound it), split across rayon's threads as candle's matmuls are. On other devices or dtypes
//! they fall back to candle's own operations.

use candle_core::{CpuStorage, DType, InplaceOp1, Layout, Result, Tensor};
use rayon::prelude::*;

/// `softmax(x)` over the last dimension, computed in `x`'s own storage.
///
/// `x` must be a tensor no one else holds (the fresh result of an operation, not a view of a
/// weight or of another live tensor): its storage is overwritten.
pub(crate) fn softmax_last_dim_in_place(x: Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 && x.is_contiguous() {
        x.inplace_op1(&SoftmaxLastDim)?;
        Ok(x)
    } else {
        candle_nn::ops::softmax_last_dim(&x)
    }
}

/// `x * Φ(x)` with the exact (erf) normal CDF, the GELU Whisper was trained with, computed in
/// `x`'s own storage; the same ownership rule as [`softmax_last_dim_in_place`].
pub(crate) fn gelu_erf_in_place(x: Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 && x.is_contiguous() {
        x.inplace_op1(&GeluErf)?;
        Ok(x)
    } else {
        x.gelu_erf()
    }
}

/// Runs `body` compiled for the widest vector instructions this CPU has (AVX2 + FMA, else the
/// baseline), chosen at run time: the default x86-64 target only assumes SSE2, which halves the
/// throughput of the loops below.
#[inline(always)]
fn vectorized(body: impl FnOnce()) {
    pulp::Arch::new().dispatch(body);
}

/// Elements per rayon task: large enough that scheduling is noise.
const CHUNK: usize = 1 << 14;

/// The contiguous f32 data of a CPU tensor.
fn f32_data<'a>(storage: &'a mut CpuStorage, layout: &Layout) -> Result<&'a mut [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("expected f32 storage")
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("expected a contiguous tensor")
    };
    Ok(&mut data[start..end])
}

struct SoftmaxLastDim;

impl InplaceOp1 for SoftmaxLastDim {
    fn name(&self) -> &'static str {
        "dragoman-softmax-last-dim"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let data = f32_data(storage, layout)?;
        let row = layout.dims().last().copied().unwrap_or(1).max(1);
        // Rows per task: about CHUNK elements, at least one row.
        let rows = (CHUNK / row).max(1);
        data.par_chunks_mut(row * rows).for_each(|rows| {
            vectorized(|| {
                for row in rows.chunks_mut(row) {
                    softmax_row(row);
                }
            });
        });
        Ok(())
    }
}

fn softmax_row(row: &mut [f32]) {
    let max = reduce(row, f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        // Every position masked: candle (and PyTorch) give NaN; a uniform row is no better, so
        // keep their answer rather than invent one.
        row.fill(f32::NAN);
        return;
    }
    for x in row.iter_mut() {
        *x = exp(*x - max);
    }
    let scale = 1.0 / reduce(row, 0.0, |a, b| a + b);
    for x in row.iter_mut() {
        *x *= scale;
    }
}

/// Folds `xs` with `op` in eight interleaved lanes: the compiler vectorises it (a single running
/// total must be kept in order and does not), and for sums the rounding error grows an eighth as
/// fast.
#[inline(always)]
fn reduce(xs: &[f32], init: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [init; 8];
    let mut chunks = xs.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane = op(*lane, x);
        }
    }
    let tail = chunks.remainder().iter().fold(init, |a, &x| op(a, x));
    lanes.into_iter().fold(tail, op)
}

struct GeluErf;

impl InplaceOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "dragoman-gelu-erf"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        f32_data(storage, layout)?
            .par_chunks_mut(CHUNK)
            .for_each(|chunk| {
                vectorized(|| {
                    for x in chunk {
                        *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
                    }
                });
            });
        Ok(())
    }
}

/// `e^x` for `f32`: `x = k ln 2 + r` with `|r| <= ln 2 / 2`, `e^r` by the Cephes `expf`
/// minimax polynomial, `2^k` put straight into the exponent bits. Branch-free, so loops over it
/// vectorise. Below the smallest normal result it returns 0.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const HI: f32 = 88.376_26;
    const LO: f32 = -87.336_55;
    // Adding then subtracting 1.5 * 2^23 rounds to the nearest integer with plain SSE2 adds.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Comparisons rather than f32::min/max, whose NaN rules cost extra instructions per lane.
    let low = if x < LO { LO } else { x };
    let clamped = if low > HI { HI } else { low };
    let shifted = clamped * std::f32::consts::LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = clamped - k * LN2_HI - k * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5; // Cephes: 5.0000001201e-1, which is 0.5 in f32
    let e_r = p * r * r + r + 1.0;
    // k sits in the low mantissa bits of `shifted`: integer arithmetic builds 2^k from it
    // without a float-to-int conversion. k is in [-126, 127], a normal exponent.
    let k_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let two_k = f32::from_bits(k_bits.wrapping_add(127) << 23);
    if x < LO { 0.0 } else { e_r * two_k }
}

/// The error function, Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7, about 3e-7
/// once evaluated in `f32`), with [`exp`] for the Gaussian factor. Branch-free apart from the
/// sign select.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152_1) * t + 1.421_413_7) * t - 0.284_496_72) * t
        + 0.254_829_6)
        * t;
    let y = 1.0 - poly * exp(-a * a);
    if x < 0.0 { -y } else { y }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn exp_is_accurate_over_the_whole_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = f64::from(x).exp();
            let rel = ((f64::from(exp(x)) - want) / want).abs();
            worst = worst.max(rel);
            x += 0.001_37;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn erf_is_accurate() {
        // erf values from the Abramowitz & Stegun table 7.1.
        for (x, want) in [
            (0.0f32, 0.0f64),
            (0.5, 0.520_499_877_8),
            (1.0, 0.842_700_792_9),
            (2.0, 0.995_322_265_0),
            (-1.5, -0.966_105_146_5),
            (4.0, 0.999_999_984_6),
        ] {
            assert!((f64::from(erf(x)) - want).abs() < 4e-7, "erf({x})");
        }
    }

    #[test]
    fn match_candle() -> Result<()> {
        let device = Device::Cpu;
        // Normal (mean -1, sd 4) values from a fixed generator: the bounds below hold for
        // this input every run (candle cannot seed its CPU generator).
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let values: Vec<f32> = (0..3 * 5 * 1500)
            .map(|_| {
                let (u, v) = (uniform(), uniform());
                let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                (normal * 4.0 - 1.0) as f32
            })
            .collect();
        let x = Tensor::from_vec(values, (3, 5, 1500), &device)?;
        let max_diff = |a: &Tensor, b: &Tensor| -> Result<f32> {
            (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()
        };
        let ours = softmax_last_dim_in_place(x.copy()?)?;
        // Against softmax in f64, next to candle's own f32 softmax.
        let exact =
            candle_nn::ops::softmax_last_dim(&x.to_dtype(DType::F64)?)?.to_dtype(DType::F32)?;
        let candle_error = max_diff(&candle_nn::ops::softmax_last_dim(&x)?, &exact)?;
        let our_error = max_diff(&ours, &exact)?;
        assert!(
            our_error < 1e-6 && our_error < 4.0 * candle_error.max(1e-7),
            "softmax error {our_error}, candle's {candle_error}"
        );
        let sums = ours.sum(2)?.flatten_all()?.to_vec1::<f32>()?;
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
        let diff = max_diff(&gelu_erf_in_place(x.copy()?)?, &x.gelu_erf()?)?;
        assert!(diff < 4e-6, "gelu differs by {diff}");
        // A masked (-inf) position gets exactly zero weight; a strided input is handled.
        let masked = Tensor::new(&[[0f32, f32::NEG_INFINITY, 1.0]], &device)?;
        let weights = softmax_last_dim_in_place(masked)?.to_vec2::<f32>()?;
        assert_eq!(weights[0][1], 0.0);
        let strided = x.transpose(1, 2)?;
        assert!(max_diff(&gelu_erf_in_place(strided.clone())?, &strided.gelu_erf()?)? < 4e-6);
        // The input of a strided call is untouched (the fallback writes a new tensor).
        assert_eq!(max_diff(&strided.transpose(1, 2)?, &x)?, 0.0);
        Ok(())
    }
}
