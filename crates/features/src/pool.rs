//! 2×2 max-pooling (stride 2, an odd last row or column dropped, as PyTorch's `max_pool2d(x, 2)`)
//! with a correct gradient.
//!
//! candle 0.11's own max-pool backward is wrong: it multiplies the output gradient by the *share*
//! of maxima in each window (¼ for a unique maximum) where it should divide by their number, and it
//! lines the pooled maxima up with the input by nearest-neighbour upsampling, which misplaces
//! them when a side is odd (for 11 → 5, input row 2 is compared with window 0's maximum). Here
//! the CPU forward records nothing and the backward recomputes each window's first maximum (the
//! element PyTorch's gradient goes to); other devices use a reshape-and-max formulation whose
//! gradient candle gets right.

use ganbench_sdk::candle::backend::BackendStorage;
use ganbench_sdk::candle::{
    bail, CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor,
};

/// 2×2 max-pooling of `x` `(n, c, h, w)` to `(n, c, h / 2, w / 2)` (rounded down).
pub fn max_pool2(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if h < 2 || w < 2 {
        bail!(
            "max_pool2: input {:?} is smaller than the 2×2 window",
            x.dims()
        );
    }
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        x.contiguous()?.apply_op1(MaxPool2)
    } else {
        max_pool2_by_reshape(x)
    }
}

/// The device-independent formulation: crop to even sides, split each side into (half, 2) and
/// take maxima over the two window axes. Ties pass the gradient to every maximum.
pub(crate) fn max_pool2_by_reshape(x: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (oh, ow) = (h / 2, w / 2);
    x.narrow(2, 0, 2 * oh)?
        .narrow(3, 0, 2 * ow)?
        .contiguous()?
        .reshape((n, c, oh, 2, ow, 2))?
        .max(5)?
        .max(3)
}

/// The CPU forward; its backward is [`MaxPool2Grad`].
struct MaxPool2;

/// (x, ∂L/∂y) ↦ ∂L/∂x: each window's gradient goes to the window's first maximum.
struct MaxPool2Grad;

/// The values of a contiguous layout ([`max_pool2`] and the backward make their inputs contiguous).
fn values<'a, T: Copy>(v: &'a [T], layout: &Layout) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("max_pool2: non-contiguous input {:?}", layout.shape()),
    }
}

/// The first maximum of a window given as its top and bottom pairs: (0 top-left, 1 top-right,
/// 2 bottom-left, 3 bottom-right), in PyTorch's scan order.
#[inline]
fn first_max<T: Copy + PartialOrd>(top: &[T], bottom: &[T]) -> usize {
    let cells = [top[0], top[1], bottom[0], bottom[1]];
    let mut best = 0;
    for k in 1..4 {
        if cells[k] > cells[best] {
            best = k;
        }
    }
    best
}

/// Row pairs of a plane, each as (top row, bottom row) cut to even width; an odd last row is
/// left out.
fn row_pairs<T>(plane: &[T], w: usize) -> impl Iterator<Item = (&[T], &[T])> {
    let even = w / 2 * 2;
    plane
        .chunks_exact(2 * w)
        .map(move |pair| (&pair[..even], &pair[w..w + even]))
}

fn pool<T: Copy + PartialOrd>(x: &[T], planes: usize, h: usize, w: usize) -> Vec<T> {
    // A select rather than a branch, so that the loop runs without mispredictions.
    #[inline(always)]
    fn max<T: PartialOrd>(a: T, b: T) -> T {
        if b > a {
            b
        } else {
            a
        }
    }
    let mut out = Vec::with_capacity(planes * (h / 2) * (w / 2));
    for plane in x.chunks_exact(h * w).take(planes) {
        for (top, bottom) in row_pairs(&plane[..h / 2 * 2 * w], w) {
            out.extend(
                top.chunks_exact(2)
                    .zip(bottom.chunks_exact(2))
                    .map(|(t, b)| max(max(t[0], t[1]), max(b[0], b[1]))),
            );
        }
    }
    out
}

fn unpool<T: Copy + PartialOrd + Default>(
    x: &[T],
    grad: &[T],
    planes: usize,
    h: usize,
    w: usize,
) -> Vec<T> {
    let (oh, ow) = (h / 2, w / 2);
    let mut out = vec![T::default(); planes * h * w];
    let dst_planes = out.chunks_exact_mut(h * w);
    for ((plane, g), dst) in x
        .chunks_exact(h * w)
        .zip(grad.chunks_exact(oh * ow))
        .zip(dst_planes)
    {
        let rows = row_pairs(&plane[..oh * 2 * w], w);
        for (i, ((top, bottom), g)) in rows.zip(g.chunks_exact(ow)).enumerate() {
            for (j, ((t, b), &g)) in top
                .chunks_exact(2)
                .zip(bottom.chunks_exact(2))
                .zip(g)
                .enumerate()
            {
                // Windows do not overlap, so each input element receives at most one gradient.
                let k = first_max(t, b);
                dst[(2 * i + k / 2) * w + 2 * j + k % 2] = g;
            }
        }
    }
    out
}

impl CustomOp1 for MaxPool2 {
    fn name(&self) -> &'static str {
        "ganbench-max-pool2"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = layout.shape().dims4()?;
        let out = match storage {
            CpuStorage::F32(x) => CpuStorage::F32(pool(values(x, layout)?, n * c, h, w)),
            CpuStorage::F64(x) => CpuStorage::F64(pool(values(x, layout)?, n * c, h, w)),
            _ => bail!("max_pool2: unsupported dtype {:?}", storage.dtype()),
        };
        Ok((out, Shape::from((n, c, h / 2, w / 2))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.contiguous()?.apply_op2_no_bwd(
            &grad_res.contiguous()?,
            &MaxPool2Grad,
        )?))
    }
}

impl CustomOp2 for MaxPool2Grad {
    fn name(&self) -> &'static str {
        "ganbench-max-pool2-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l1.shape().dims4()?;
        if l2.shape().dims4()? != (n, c, h / 2, w / 2) {
            bail!(
                "max_pool2 backward: gradient {:?} for input {:?}",
                l2.shape(),
                l1.shape()
            );
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(g)) => {
                CpuStorage::F32(unpool(values(x, l1)?, values(g, l2)?, n * c, h, w))
            }
            (CpuStorage::F64(x), CpuStorage::F64(g)) => {
                CpuStorage::F64(unpool(values(x, l1)?, values(g, l2)?, n * c, h, w))
            }
            _ => bail!(
                "max_pool2 backward: unsupported dtypes {:?}, {:?}",
                s1.dtype(),
                s2.dtype()
            ),
        };
        Ok((out, l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use ganbench_sdk::candle::{Device, Var};
    use ganbench_sdk::SeededRng;

    use super::*;

    /// The largest gap between the backward pass of Σ c·pool(x) and central finite differences,
    /// on odd sides (7×9 → 3×4) with distinct random values (no ties).
    fn gradient_error(pool: fn(&Tensor) -> Result<Tensor>) -> f64 {
        let mut rng = SeededRng::new(5);
        let dims = (2, 3, 7, 9);
        let x0: Vec<f64> = rng
            .normal_vec(2 * 3 * 7 * 9)
            .iter()
            .map(|&v| v as f64)
            .collect();
        let c = rng
            .normal((2, 3, 3, 4), &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap();
        let loss = |x: &Tensor| (pool(x).unwrap() * &c).unwrap().sum_all().unwrap();
        let at = |v: Vec<f64>| -> f64 {
            loss(&Tensor::from_vec(v, dims, &Device::Cpu).unwrap())
                .to_scalar()
                .unwrap()
        };
        let x =
            Var::from_tensor(&Tensor::from_vec(x0.clone(), dims, &Device::Cpu).unwrap()).unwrap();
        let grads = loss(x.as_tensor()).backward().unwrap();
        let analytic: Vec<f64> = grads
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let eps = 1e-6;
        let mut worst = 0f64;
        for i in 0..x0.len() {
            let mut plus = x0.clone();
            plus[i] += eps;
            let mut minus = x0.clone();
            minus[i] -= eps;
            let numeric = (at(plus) - at(minus)) / (2.0 * eps);
            worst = worst.max((numeric - analytic[i]).abs());
        }
        worst
    }

    #[test]
    fn gradients_match_finite_differences_on_odd_sizes() {
        assert!(gradient_error(max_pool2) < 1e-6);
        assert!(gradient_error(max_pool2_by_reshape) < 1e-6);
        // Why this module exists. (If a candle upgrade fixes its pooling backward, this fails
        // and the module can go.)
        let candle = gradient_error(|x| x.narrow(2, 0, 6)?.narrow(3, 0, 8)?.max_pool2d(2));
        assert!(
            candle > 0.1,
            "candle's max-pool gradient is now right: {candle}"
        );
    }

    #[test]
    fn forward_takes_window_maxima_and_drops_odd_edges() {
        // A 3×5 plane: windows {0,1,5,6} and {2,3,7,8}; row 2 and column 4 are dropped.
        let x: Vec<f32> = vec![
            1., 7., 2., 0., 99., //
            3., 4., 5., 6., 99., //
            99., 99., 99., 99., 99.,
        ];
        let t = Tensor::from_vec(x, (1, 1, 3, 5), &Device::Cpu).unwrap();
        let fast = max_pool2(&t).unwrap();
        assert_eq!(
            fast.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            [7., 6.]
        );
        let slow = max_pool2_by_reshape(&t).unwrap();
        assert_eq!(
            slow.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            [7., 6.]
        );
        // Ties: the gradient goes to the first maximum, as in PyTorch.
        let tied =
            Var::from_tensor(&Tensor::zeros((1, 1, 2, 2), DType::F32, &Device::Cpu).unwrap())
                .unwrap();
        let g = max_pool2(tied.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g = g.get(tied.as_tensor()).unwrap().flatten_all().unwrap();
        assert_eq!(g.to_vec1::<f32>().unwrap(), [1., 0., 0., 0.]);
    }
}
