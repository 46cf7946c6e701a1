//! Fused CPU kernels for the hot elementwise parts of small MLP GANs, with first- and
//! second-order gradients: [`leaky_relu`], [`relu`] and [`add_bias`].
//!
//! candle builds these from generic ops whose backward passes allocate zero tensors, comparison
//! masks and strided reductions; in a toy GAN step that was over a third of the time (the
//! max/min masks behind candle-nn's `leaky_relu` alone ~19%, design.md). Each op here is one
//! pass forward and one pass backward. Other devices and dtypes fall back to candle's formulas.

use std::borrow::Cow;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};

fn fused(xs: &Tensor) -> bool {
    xs.device().is_cpu() && matches!(xs.dtype(), DType::F32 | DType::F64)
}

/// Leaky ReLU: x for x > 0, slope·x otherwise (derivative `slope` at 0, as in PyTorch).
pub fn leaky_relu(xs: &Tensor, slope: f64) -> Result<Tensor> {
    if fused(xs) {
        xs.apply_op1(LeakyReluOp(slope))
    } else {
        candle_nn::ops::leaky_relu(xs, slope)
    }
}

/// ReLU: the fused [`leaky_relu`] with slope 0 on the CPU (derivative 0 at 0, as in PyTorch).
pub fn relu(xs: &Tensor) -> Result<Tensor> {
    if fused(xs) {
        xs.apply_op1(LeakyReluOp(0.0))
    } else {
        xs.relu()
    }
}

/// `xs + bias` for `xs` of shape `(rows, n)` and `bias` of shape `(n,)`; the bias gradient is a
/// row sum in one pass (candle's broadcast backward is a strided reduction).
pub fn add_bias(xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
    if fused(xs) && xs.rank() == 2 && bias.rank() == 1 && xs.dtype() == bias.dtype() {
        xs.apply_op2(bias, AddBias)
    } else {
        xs.broadcast_add(bias)
    }
}

/// (x `(rows, n)`, b `(n,)`) ↦ x + b per row.
struct AddBias;

/// x `(rows, n)` ↦ Σ_rows x `(n,)`: the bias gradient of [`AddBias`].
struct SumRows;

impl CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "ganbench-add-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, n) = l1.shape().dims2()?;
        if l2.shape().dims1()? != n {
            bail!("add_bias: bias of shape {:?} for rows of {n}", l2.shape());
        }
        fn add<T: Copy + std::ops::Add<Output = T>>(x: &[T], b: &[T], n: usize) -> Vec<T> {
            let mut out = Vec::with_capacity(x.len());
            for row in x.chunks_exact(n) {
                out.extend(row.iter().zip(b).map(|(&x, &b)| x + b));
            }
            out
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(b)) => {
                CpuStorage::F32(add(&values(x, l1), &values(b, l2), n))
            }
            (CpuStorage::F64(x), CpuStorage::F64(b)) => {
                CpuStorage::F64(add(&values(x, l1), &values(b, l2), n))
            }
            _ => bail!(
                "add_bias: unsupported dtypes {:?}, {:?}",
                s1.dtype(),
                s2.dtype()
            ),
        };
        Ok((out, Shape::from((rows, n))))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad_res.clone()), Some(grad_res.apply_op1(SumRows)?)))
    }
}

impl CustomOp1 for SumRows {
    fn name(&self) -> &'static str {
        "ganbench-sum-rows"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (_, n) = layout.shape().dims2()?;
        fn sum<T: Copy + std::ops::AddAssign + Default>(x: &[T], n: usize) -> Vec<T> {
            let mut out = vec![T::default(); n];
            for row in x.chunks_exact(n) {
                out.iter_mut().zip(row).for_each(|(o, &x)| *o += x);
            }
            out
        }
        let out = match storage {
            CpuStorage::F32(x) => CpuStorage::F32(sum(&values(x, layout), n)),
            CpuStorage::F64(x) => CpuStorage::F64(sum(&values(x, layout), n)),
            _ => bail!("sum_rows: unsupported dtype {:?}", storage.dtype()),
        };
        Ok((out, Shape::from(n)))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad_res.unsqueeze(0)?.broadcast_as(arg.shape())?))
    }
}

/// Forward: x ↦ (x > 0 ? x : slope·x).
struct LeakyReluOp(f64);

/// (g, x) ↦ g·(x > 0 ? 1 : slope): the backward of [`LeakyReluOp`], linear in g, so its own
/// backward (for double backward) is itself, applied to the incoming gradient.
struct LeakyReluGrad(f64);

/// The values of a CPU tensor in row-major order, borrowing when contiguous.
pub(crate) fn values<'a, T: Copy>(v: &'a [T], layout: &Layout) -> Cow<'a, [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Cow::Borrowed(&v[a..b]),
        None => Cow::Owned(strided_offsets(layout).into_iter().map(|i| v[i]).collect()),
    }
}

/// The storage offsets of a strided layout's elements in row-major order.
fn strided_offsets(layout: &Layout) -> Vec<usize> {
    let (dims, stride) = (layout.dims(), layout.stride());
    let n = layout.shape().elem_count();
    let mut out = Vec::with_capacity(n);
    let mut index = vec![0usize; dims.len()];
    let mut offset = layout.start_offset();
    for _ in 0..n {
        out.push(offset);
        // Odometer increment, last dimension fastest.
        for d in (0..dims.len()).rev() {
            index[d] += 1;
            offset += stride[d];
            if index[d] < dims[d] {
                break;
            }
            offset -= stride[d] * dims[d];
            index[d] = 0;
        }
    }
    out
}

impl CustomOp1 for LeakyReluOp {
    fn name(&self) -> &'static str {
        "ganbench-leaky-relu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = match storage {
            CpuStorage::F32(v) => {
                let s = self.0 as f32;
                CpuStorage::F32(
                    values(v, layout)
                        .iter()
                        .map(|&x| if x > 0.0 { x } else { x * s })
                        .collect(),
                )
            }
            CpuStorage::F64(v) => CpuStorage::F64(
                values(v, layout)
                    .iter()
                    .map(|&x| if x > 0.0 { x } else { x * self.0 })
                    .collect(),
            ),
            _ => bail!("leaky_relu: unsupported dtype {:?}", storage.dtype()),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        // x only selects the slope: detached, so a second backward does not expect a gradient
        // for it (candle fails on a tracked node that receives none).
        Ok(Some(
            grad_res.apply_op2(&arg.detach(), LeakyReluGrad(self.0))?,
        ))
    }
}

impl CustomOp2 for LeakyReluGrad {
    fn name(&self) -> &'static str {
        "ganbench-leaky-relu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        if l1.shape() != l2.shape() {
            bail!(
                "leaky_relu backward: shapes {:?} and {:?} differ",
                l1.shape(),
                l2.shape()
            );
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(g), CpuStorage::F32(x)) => {
                let s = self.0 as f32;
                let (g, x) = (values(g, l1), values(x, l2));
                CpuStorage::F32(
                    g.iter()
                        .zip(x.iter())
                        .map(|(&g, &x)| if x > 0.0 { g } else { g * s })
                        .collect(),
                )
            }
            (CpuStorage::F64(g), CpuStorage::F64(x)) => {
                let (g, x) = (values(g, l1), values(x, l2));
                CpuStorage::F64(
                    g.iter()
                        .zip(x.iter())
                        .map(|(&g, &x)| if x > 0.0 { g } else { g * self.0 })
                        .collect(),
                )
            }
            _ => bail!(
                "leaky_relu backward: unsupported dtypes {:?}, {:?}",
                s1.dtype(),
                s2.dtype()
            ),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _g: &Tensor,
        x: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        // Linear in g; piecewise constant in x (zero derivative almost everywhere).
        Ok((Some(grad_res.apply_op2(x, LeakyReluGrad(self.0))?), None))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::SeededRng;

    #[test]
    fn fused_leaky_relu_matches_candle_nn_on_strided_input() {
        let mut rng = SeededRng::new(0);
        let x = Var::from_tensor(&rng.normal((4, 6), &Device::Cpu).unwrap()).unwrap();
        // A transposed (non-contiguous) view exercises the strided path.
        let xt = x.as_tensor().t().unwrap();
        for slope in [0.2, 0.0] {
            let ours = leaky_relu(&xt, slope).unwrap();
            let reference = candle_nn::ops::leaky_relu(&xt, slope).unwrap();
            assert_eq!(
                ours.to_vec2::<f32>().unwrap(),
                reference.to_vec2::<f32>().unwrap()
            );
            let g = (ours * 3.0).unwrap().sum_all().unwrap().backward().unwrap();
            let g = g.get(x.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
            let xs = x.as_tensor().to_vec2::<f32>().unwrap();
            for (gr, xr) in g.iter().zip(&xs) {
                for (g, x) in gr.iter().zip(xr) {
                    assert_eq!(*g, if *x > 0.0 { 3.0 } else { 3.0 * slope as f32 });
                }
            }
        }
        assert_eq!(
            relu(&xt).unwrap().to_vec2::<f32>().unwrap(),
            xt.relu().unwrap().to_vec2::<f32>().unwrap()
        );
    }

    #[test]
    fn fused_add_bias_matches_broadcast_add_with_gradients() {
        let mut rng = SeededRng::new(1);
        let x = Var::from_tensor(&rng.normal((5, 3), &Device::Cpu).unwrap()).unwrap();
        let b = Var::from_tensor(&rng.normal(3, &Device::Cpu).unwrap()).unwrap();
        let w = rng.normal((5, 3), &Device::Cpu).unwrap();
        let run = |fused: bool| {
            let y = if fused {
                add_bias(x.as_tensor(), b.as_tensor()).unwrap()
            } else {
                x.as_tensor().broadcast_add(b.as_tensor()).unwrap()
            };
            let g = (y.clone() * &w)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let grad = |v: &Var| {
                g.get(v.as_tensor())
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            };
            (y.to_vec2::<f32>().unwrap(), grad(&x), grad(&b))
        };
        let (ours, reference) = (run(true), run(false));
        assert_eq!(ours.0, reference.0);
        assert_eq!(ours.1, reference.1);
        for (a, r) in ours.2.iter().zip(&reference.2) {
            assert!((a - r).abs() < 1e-5, "{a} vs {r}");
        }
    }
}
