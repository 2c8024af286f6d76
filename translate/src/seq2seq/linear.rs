//! Linear layers with a kernel of their own for decoding steps.
//!
//! A decoding step multiplies one row per sentence (or beam) by each weight matrix. candle's
//! CPU matmul (the `gemm` crate) is built for large products: on a 1 x 512 by 512 x 512 product
//! it spends 40 µs on 2 threads, where one thread streaming the weight rows through dot
//! products needs about 10 (measured for issue 4's CTranslate2 comparison; a full-size Marian
//! step has 37 such products). So products of at most [`SKINNY_ROWS`] rows run here: each
//! output is the dot product of an input row with a weight row (the weight is stored
//! `(out, in)`, rows contiguous), compiled for the CPU's widest vector instructions, split
//! across threads only when a product is large enough to pay for it (the vocabulary
//! projection). Larger products (the encoder, prompt prefill) stay with candle.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Module, Result, Shape, Tensor};
use rayon::prelude::*;

/// Most rows a product may have to take the decoding-step kernel.
const SKINNY_ROWS: usize = 4;

/// Multiply-adds below which a product runs on the calling thread.
const SERIAL_WORK: usize = 1 << 18;

/// `x W^T + b`, like `candle_nn::Linear`, with the decoding-step kernel for few rows.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    inner: candle_nn::Linear,
}

impl Linear {
    pub(crate) fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self {
            inner: candle_nn::Linear::new(weight, bias),
        }
    }

    pub(crate) fn load(input: usize, output: usize, vb: candle_nn::VarBuilder<'_>) -> Result<Self> {
        Ok(Self {
            inner: candle_nn::linear(input, output, vb)?,
        })
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = skinny_matmul_t(x, self.inner.weight())?;
        match (y, self.inner.bias()) {
            (Some(y), Some(b)) => y.broadcast_add(b),
            (Some(y), None) => Ok(y),
            (None, _) => self.inner.forward(x),
        }
    }
}

/// `x W^T` by the decoding-step kernel when `x` has few rows and both are f32 on the CPU;
/// `None` when candle's matmul should do it.
pub(crate) fn skinny_matmul_t(x: &Tensor, weight: &Tensor) -> Result<Option<Tensor>> {
    let k = x.dims().last().copied().unwrap_or(0);
    if !x.device().is_cpu()
        || x.dtype() != DType::F32
        || weight.dtype() != DType::F32
        || weight.rank() != 2
        || k == 0
        || x.elem_count() / k > SKINNY_ROWS
    {
        return Ok(None);
    }
    let x = x.contiguous()?;
    let weight = weight.contiguous()?;
    Ok(Some(x.apply_op2_no_bwd(&weight, &SkinnyMatmulT)?))
}

struct SkinnyMatmulT;

fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("expected f32 storage")
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("expected a contiguous tensor")
    };
    Ok(&data[start..end])
}

impl CustomOp2 for SkinnyMatmulT {
    fn name(&self) -> &'static str {
        "dragoman-skinny-matmul-t"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w) = (contiguous_f32(xs, xl)?, contiguous_f32(ws, wl)?);
        let (n, k) = wl.shape().dims2()?;
        if xl.dims().last() != Some(&k) {
            candle_core::bail!("skinny matmul: {:?} by {:?}^T", xl.dims(), wl.dims())
        }
        let rows = x.len() / k;
        // Outputs in `(n, rows)` order, so each task writes one contiguous block.
        let mut by_column = vec![0f32; n * rows];
        let columns = |block: &mut [f32], first: usize| {
            pulp::Arch::new().dispatch(|| {
                for (j, out) in block.chunks_mut(rows).enumerate() {
                    let weight_row = &w[(first + j) * k..(first + j + 1) * k];
                    for (r, o) in out.iter_mut().enumerate() {
                        *o = dot(&x[r * k..(r + 1) * k], weight_row);
                    }
                }
            });
        };
        if n * k * rows <= SERIAL_WORK {
            columns(&mut by_column, 0);
        } else {
            let per_task = (SERIAL_WORK / (k * rows)).max(1);
            by_column
                .par_chunks_mut(per_task * rows)
                .enumerate()
                .for_each(|(t, block)| columns(block, t * per_task));
        }
        let out = if rows == 1 {
            by_column
        } else {
            let mut out = vec![0f32; n * rows];
            for (j, column) in by_column.chunks(rows).enumerate() {
                for (r, v) in column.iter().enumerate() {
                    out[r * n + j] = *v;
                }
            }
            out
        };
        let mut dims = xl.dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = n;
        }
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }
}

/// Dot product with 16 independent partial sums, so the compiler keeps them in vector
/// registers and the additions do not wait on one another.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (xa, xb) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += xa[i] * xb[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_candle_matmul() -> Result<()> {
        let dev = Device::Cpu;
        // Rows 1..=8 (the kernel), 9 (candle); sizes that take the serial and parallel paths
        // and a width that is not a multiple of the vector length.
        for (rows, k, n) in [
            (1, 512, 512),
            (3, 37, 70),
            (8, 512, 2048),
            (1, 512, 9000),
            (9, 64, 64),
        ] {
            let x = Tensor::randn(0f32, 1.0, (1, rows, k), &dev)?;
            let w = Tensor::randn(0f32, 1.0, (n, k), &dev)?;
            let b = Tensor::randn(0f32, 1.0, n, &dev)?;
            let ours = Linear::new(w.clone(), Some(b.clone())).forward(&x)?;
            let want = x.broadcast_matmul(&w.t()?)?.broadcast_add(&b)?;
            assert_eq!(ours.dims(), want.dims());
            let diff = (ours - &want)?
                .abs()?
                .flatten_all()?
                .max(0)?
                .to_scalar::<f32>()?;
            assert!(diff < 1e-4 * (k as f32).sqrt(), "{rows}x{k} by {n}: {diff}");
        }
        Ok(())
    }
}
