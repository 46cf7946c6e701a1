//! Dense layers and activations as fused CPU ops: [`dense`] (`act(x·wᵀ + b)` in one graph node),
//! [`add_bias`], [`leaky_relu`] and [`relu`], each one pass forward and one backward, with
//! gradients of any order. candle builds these from generic ops whose backward passes allocate
//! zero tensors, comparison masks and strided reductions; in a toy GAN step that was over a third
//! of the time (the max/min masks behind candle-nn's `leaky_relu` alone ~19%, docs/design.md).

use candle_core::backend::BackendStorage;
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor,
};

use crate::channel::bias_bwd;
use crate::dispatch::{float_op1, float_op2, float_op3, fused, values, wants_grad};

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

/// A dense layer in one op: `act(x·wᵀ + b)` for `x` `(rows, in)`, `w` `(out, in)`, `b` `(out,)`,
/// with `act` the leaky ReLU of slope `slope` (≥ 0; 0 is ReLU) or the identity (`None`). One
/// graph node instead of three (product, bias, activation): candle zero-fills and accumulates a
/// gradient for every node, which was a fifth of a toy GAN step. The bias is the product's
/// starting value, and the backward pass is built from candle's matmul and the fused ops, so it
/// has gradients of any order.
pub fn dense(xs: &Tensor, w: &Tensor, b: &Tensor, slope: Option<f64>) -> Result<Tensor> {
    let fits = xs.rank() == 2
        && w.rank() == 2
        && b.rank() == 1
        && w.dtype() == xs.dtype()
        && b.dtype() == xs.dtype()
        && slope.is_none_or(|s| s >= 0.0);
    if fused(xs) && fits {
        return xs.apply_op3(w, b, DenseOp(slope));
    }
    let y = add_bias(&xs.matmul(&w.t()?)?, b)?;
    match slope {
        Some(s) => leaky_relu(&y, s),
        None => Ok(y),
    }
}

/// See [`dense`].
struct DenseOp(Option<f64>);

impl CustomOp3 for DenseOp {
    fn name(&self) -> &'static str {
        "ganbench-dense"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, k) = l1.shape().dims2()?;
        let (m, k_w) = l2.shape().dims2()?;
        if k_w != k || l3.shape().dims1()? != m {
            bail!(
                "dense: input {:?}, weight {:?} and bias {:?} do not fit",
                l1.shape(),
                l2.shape(),
                l3.shape()
            );
        }
        fn run<T: crate::conv::Element + candle_core::WithDType>(
            x: &[T],
            w: &[T],
            b: &[T],
            (rows, k, m): (usize, usize, usize),
            slope: Option<f64>,
        ) -> Vec<T> {
            use crate::conv::{matmul, Mat};
            let mut out: Vec<T> = Vec::with_capacity(rows * m);
            for _ in 0..rows {
                out.extend_from_slice(b);
            }
            // out += x · wᵀ, wᵀ read from w (m, k).
            let x = Mat {
                data: x,
                rs: k,
                cs: 1,
            };
            let wt = Mat {
                data: w,
                rs: 1,
                cs: k,
            };
            matmul(&mut out, true, x, wt, (rows, m, k));
            if let Some(slope) = slope {
                let slope = T::from_f64(slope);
                let zero = T::zero();
                out.iter_mut()
                    .for_each(|v| *v = if *v > zero { *v } else { *v * slope });
            }
            out
        }
        let out = float_op3!("dense", (s1, l1), (s2, l2), (s3, l3), |x, w, b| {
            run(x, w, b, (rows, k, m), self.0)
        });
        Ok((out, Shape::from((rows, m))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // The activation's gradient from the output's sign: for a slope ≥ 0, out > 0 exactly
        // where the pre-activation is (detached: it only selects the slope).
        let g = match self.0 {
            Some(slope) => grad.apply_op2(&res.detach(), LeakyReluGrad(slope))?,
            None => grad.clone(),
        };
        Ok((
            wants_grad(x).then(|| g.matmul(w)).transpose()?,
            wants_grad(w).then(|| g.t()?.matmul(x)).transpose()?,
            wants_grad(b).then(|| g.apply_op1(SumRows)).transpose()?,
        ))
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
        let out = float_op2!("add_bias", (s1, l1), (s2, l2), |x, b| add(x, b, n));
        Ok((out, Shape::from((rows, n))))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        bias_bwd(b, grad_res, SumRows)
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
        let out = float_op1!("sum_rows", (storage, layout), |x| sum(x, n));
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
