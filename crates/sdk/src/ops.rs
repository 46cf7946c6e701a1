//! Fused CPU kernels for the hot elementwise parts of small GANs, with gradients of any order:
//! [`dense`] layers, [`leaky_relu`], [`relu`], [`add_bias`], and the per-channel
//! [`add_channel_bias`], [`mul_channel`] and [`sum_channels`] that conv layers and
//! [`batch_norm_train`] are made of.
//!
//! candle builds these from generic ops whose backward passes allocate zero tensors, comparison
//! masks and strided reductions; in a toy GAN step that was over a third of the time (the
//! max/min masks behind candle-nn's `leaky_relu` alone ~19%, design.md). Each op here is one
//! pass forward and one pass backward. Other devices and dtypes fall back to candle's formulas.

use std::borrow::Cow;

use candle_core::backend::BackendStorage;
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor,
};

/// The forward pass of a CPU op on one storage, for f32 and f64 alike: `$body` is written once
/// and instantiated per dtype, with `$x` bound to the contiguous values (a slice); it yields a
/// `Vec` of the same type. Other dtypes fail naming `$name`.
macro_rules! float_op1 {
    ($name:expr, ($s:expr, $l:expr), |$x:ident| $body:expr) => {
        match $s {
            candle_core::CpuStorage::F32(x) => {
                let $x = &*$crate::ops::values(x, $l);
                candle_core::CpuStorage::F32($body)
            }
            candle_core::CpuStorage::F64(x) => {
                let $x = &*$crate::ops::values(x, $l);
                candle_core::CpuStorage::F64($body)
            }
            s => candle_core::bail!("{}: unsupported dtype {:?}", $name, s.dtype()),
        }
    };
}

/// [`float_op1`] for two storages of the same dtype.
macro_rules! float_op2 {
    ($name:expr, ($s1:expr, $l1:expr), ($s2:expr, $l2:expr), |$a:ident, $b:ident| $body:expr) => {
        match ($s1, $s2) {
            (candle_core::CpuStorage::F32(a), candle_core::CpuStorage::F32(b)) => {
                let ($a, $b) = (&*$crate::ops::values(a, $l1), &*$crate::ops::values(b, $l2));
                candle_core::CpuStorage::F32($body)
            }
            (candle_core::CpuStorage::F64(a), candle_core::CpuStorage::F64(b)) => {
                let ($a, $b) = (&*$crate::ops::values(a, $l1), &*$crate::ops::values(b, $l2));
                candle_core::CpuStorage::F64($body)
            }
            (s1, s2) => candle_core::bail!(
                "{}: unsupported dtypes {:?}, {:?}",
                $name,
                s1.dtype(),
                s2.dtype()
            ),
        }
    };
}
pub(crate) use float_op2;

/// [`float_op1`] for three storages of the same dtype.
macro_rules! float_op3 {
    (
        $name:expr,
        ($s1:expr, $l1:expr),
        ($s2:expr, $l2:expr),
        ($s3:expr, $l3:expr),
        |$a:ident, $b:ident, $c:ident| $body:expr
    ) => {
        match ($s1, $s2, $s3) {
            (
                candle_core::CpuStorage::F32(a),
                candle_core::CpuStorage::F32(b),
                candle_core::CpuStorage::F32(c),
            ) => {
                let ($a, $b, $c) = (
                    &*$crate::ops::values(a, $l1),
                    &*$crate::ops::values(b, $l2),
                    &*$crate::ops::values(c, $l3),
                );
                candle_core::CpuStorage::F32($body)
            }
            (
                candle_core::CpuStorage::F64(a),
                candle_core::CpuStorage::F64(b),
                candle_core::CpuStorage::F64(c),
            ) => {
                let ($a, $b, $c) = (
                    &*$crate::ops::values(a, $l1),
                    &*$crate::ops::values(b, $l2),
                    &*$crate::ops::values(c, $l3),
                );
                candle_core::CpuStorage::F64($body)
            }
            (s1, s2, s3) => candle_core::bail!(
                "{}: unsupported dtypes {:?}, {:?}, {:?}",
                $name,
                s1.dtype(),
                s2.dtype(),
                s3.dtype()
            ),
        }
    };
}
pub(crate) use float_op3;

thread_local! {
    static SKIPPED: std::cell::RefCell<std::collections::HashSet<candle_core::TensorId>> =
        std::cell::RefCell::new(std::collections::HashSet::new());
}

/// Runs `f` (a backward pass) with the SDK's custom ops skipping the gradients of `params`: a
/// generator step backpropagates through the discriminator but only updates the generator, so
/// the discriminator's weight gradients (a full matrix product per conv layer) would be thrown
/// away. A hint, not a guarantee: candle's own ops (matmul, …) still compute theirs, so never read
/// a skipped tensor's gradient. Gradients of every other tensor are unchanged.
pub(crate) fn skipping_gradients<R>(params: &[Tensor], f: impl FnOnce() -> R) -> R {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            SKIPPED.with(|s| s.borrow_mut().clear());
        }
    }
    SKIPPED.with(|s| s.borrow_mut().extend(params.iter().map(Tensor::id)));
    let _restore = Restore;
    f()
}

/// Whether a backward pass needs the gradient of `t`: it depends on a variable, and is not
/// skipped ([`skipping_gradients`]).
pub(crate) fn wants_grad(t: &Tensor) -> bool {
    t.track_op() && !SKIPPED.with(|s| s.borrow().contains(&t.id()))
}

fn fused(xs: &Tensor) -> bool {
    crate::fast_kernels() && xs.device().is_cpu() && matches!(xs.dtype(), DType::F32 | DType::F64)
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
        fn run<T: crate::fastconv::Element + candle_core::WithDType>(
            x: &[T],
            w: &[T],
            b: &[T],
            (rows, k, m): (usize, usize, usize),
            slope: Option<f64>,
        ) -> Vec<T> {
            use crate::fastconv::{matmul, Mat};
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

/// `xs + bias` for `xs` of shape `(n, c, …)` and `bias` of shape `(c,)`: a conv layer's bias,
/// whose gradient is a per-channel sum in one pass (candle's broadcast backward is a strided
/// reduction over three dimensions).
pub fn add_channel_bias(xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
    if fused(xs) && xs.rank() >= 2 && bias.rank() == 1 && xs.dtype() == bias.dtype() {
        xs.apply_op2(bias, AddChannelBias)
    } else {
        let mut shape = vec![1; xs.rank()];
        shape[1] = bias.elem_count();
        xs.broadcast_add(&bias.reshape(shape)?)
    }
}

/// `xs · scale` for `xs` of shape `(n, c, …)` and `scale` of shape `(c,)`.
pub fn mul_channel(xs: &Tensor, scale: &Tensor) -> Result<Tensor> {
    if fused(xs) && xs.rank() >= 2 && scale.rank() == 1 && xs.dtype() == scale.dtype() {
        xs.apply_op2(scale, MulChannel)
    } else {
        let mut shape = vec![1; xs.rank()];
        shape[1] = scale.elem_count();
        xs.broadcast_mul(&scale.reshape(shape)?)
    }
}

/// The sum over every dimension but 1 of `xs` `(n, c, …)`: shape `(c,)`.
pub fn sum_channels(xs: &Tensor) -> Result<Tensor> {
    if fused(xs) && xs.rank() >= 2 {
        xs.apply_op1(SumChannels)
    } else {
        let dims: Vec<usize> = (0..xs.rank()).filter(|&d| d != 1).collect();
        xs.sum_keepdim(dims)?.flatten_all()
    }
}

/// Batch normalization in training mode over dimension 1 of `xs` `(n, c, …)`: returns
/// `(γ·(x − μ)/√(σ² + eps) + β, μ, σ²)` with the batch's per-channel mean μ and biased variance
/// σ², each `(c,)` and constant (no gradient flows through them; the output's gradient accounts
/// for them). Gradients of any order. On the CPU three fused ops ([`crate::batch_norm`]);
/// elsewhere the per-channel ops above (candle's broadcasting ops reduce over three dimensions
/// with a slow strided loop in every backward pass).
pub fn batch_norm_train(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let per_channel = |t: &Tensor| t.rank() == 1 && t.dtype() == xs.dtype();
    if fused(xs) && xs.rank() >= 2 && per_channel(weight) && per_channel(bias) {
        return crate::batch_norm::batch_norm_train(xs, weight, bias, eps);
    }
    let count = (xs.elem_count() / xs.dim(1)?) as f64;
    let mean = (sum_channels(xs)? / count)?;
    let centered = add_channel_bias(xs, &mean.neg()?)?;
    let var = (sum_channels(&centered.sqr()?)? / count)?;
    let scale = (weight * (&var + eps)?.sqrt()?.recip()?)?;
    let ys = add_channel_bias(&mul_channel(&centered, &scale)?, bias)?;
    Ok((ys, mean.detach(), var.detach()))
}

/// Batch normalization in evaluation mode: `γ·(x − mean)/√(var + eps) + β` per channel of `xs`
/// `(n, c, …)`, with given statistics `(c,)`.
pub fn batch_norm_eval(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let scale = (weight * (var + eps)?.sqrt()?.recip()?)?;
    let centered = add_channel_bias(xs, &mean.neg()?)?;
    add_channel_bias(&mul_channel(&centered, &scale)?, bias)
}

/// (x `(rows, n)`, b `(n,)`) ↦ x + b per row.
struct AddBias;

/// (x `(n, c, …)`, s `(c,)`) ↦ x · s per channel.
struct MulChannel;

/// (x `(n, c, …)`, b `(c,)`) ↦ x + b per channel.
struct AddChannelBias;

/// x `(n, c, …)` ↦ Σ over all dimensions but 1 `(c,)`: the bias gradient of [`AddChannelBias`].
struct SumChannels;

/// `f(x, s[channel])` for every element of `x` `(n, c, inner)` row-major, `s` `(c,)`.
fn per_channel<T: Copy>(x: &[T], s: &[T], inner: usize, f: impl Fn(T, T) -> T) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for (plane, &s) in x.chunks_exact(inner.max(1)).zip(s.iter().cycle()) {
        out.extend(plane.iter().map(|&x| f(x, s)));
    }
    out
}

/// The backward pass of `x + b` with `b` broadcast: the gradient flows to x unchanged, and
/// `reduce` sums it to b's shape (unless b needs none).
fn bias_bwd(
    b: &Tensor,
    grad: &Tensor,
    reduce: impl CustomOp1 + Send + Sync + 'static,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    Ok((
        Some(grad.clone()),
        wants_grad(b).then(|| grad.apply_op1(reduce)).transpose()?,
    ))
}

/// `(n, c, inner)` of a shape of rank ≥ 2.
pub(crate) fn channel_dims(shape: &Shape) -> Result<(usize, usize, usize)> {
    let dims = shape.dims();
    if dims.len() < 2 {
        bail!("channel bias: input of shape {dims:?} has no channel dimension");
    }
    Ok((dims[0], dims[1], dims[2..].iter().product()))
}

impl CustomOp2 for AddChannelBias {
    fn name(&self) -> &'static str {
        "ganbench-add-channel-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, c, inner) = channel_dims(l1.shape())?;
        if l2.shape().dims1()? != c {
            bail!(
                "add_channel_bias: bias of shape {:?} for {c} channels",
                l2.shape()
            );
        }
        let out = float_op2!("add_channel_bias", (s1, l1), (s2, l2), |x, b| {
            per_channel(x, b, inner, |x, b| x + b)
        });
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        bias_bwd(b, grad_res, SumChannels)
    }
}

impl CustomOp2 for MulChannel {
    fn name(&self) -> &'static str {
        "ganbench-mul-channel"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, c, inner) = channel_dims(l1.shape())?;
        if l2.shape().dims1()? != c {
            bail!(
                "mul_channel: scale of shape {:?} for {c} channels",
                l2.shape()
            );
        }
        let out = float_op2!("mul_channel", (s1, l1), (s2, l2), |x, s| {
            per_channel(x, s, inner, |x, s| x * s)
        });
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        s: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad_x = wants_grad(x)
            .then(|| mul_channel(grad_res, s))
            .transpose()?;
        let grad_s = wants_grad(s)
            .then(|| sum_channels(&(grad_res * x)?))
            .transpose()?;
        Ok((grad_x, grad_s))
    }
}

impl CustomOp1 for SumChannels {
    fn name(&self) -> &'static str {
        "ganbench-sum-channels"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (_, c, inner) = channel_dims(layout.shape())?;
        fn sum<T: Copy + std::ops::AddAssign + Default>(x: &[T], c: usize, inner: usize) -> Vec<T> {
            let mut out = vec![T::default(); c];
            for (plane, o) in x.chunks_exact(inner.max(1)).zip((0..c).cycle()) {
                // Eight interleaved accumulators: a fixed order, not bound by one add chain.
                let mut lanes = [T::default(); 8];
                let chunks = plane.chunks_exact(8);
                let mut acc = T::default();
                chunks.remainder().iter().for_each(|&x| acc += x);
                for chunk in chunks {
                    lanes.iter_mut().zip(chunk).for_each(|(l, &x)| *l += x);
                }
                lanes.iter().for_each(|&l| acc += l);
                out[o] += acc;
            }
            out
        }
        let out = float_op1!("sum_channels", (storage, layout), |x| sum(x, c, inner));
        Ok((out, Shape::from(c)))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let mut shape = vec![1; arg.rank()];
        shape[1] = grad_res.elem_count();
        Ok(Some(grad_res.reshape(shape)?.broadcast_as(arg.shape())?))
    }
}

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

    /// A critic-shaped chain through every op that skips gradients (conv, batch norm, channel
    /// bias and scale, row bias): with the "critic" parameters skipped, the "generator" input's
    /// gradient is bitwise what it is without skipping, and the skipped parameters get none from
    /// the SDK's ops.
    #[test]
    fn skipped_parameters_get_no_gradient_and_the_rest_are_unchanged() {
        let mut rng = SeededRng::new(11);
        let var = |shape: &[usize], rng: &mut SeededRng| {
            Var::from_tensor(&rng.normal(shape, &Device::Cpu).unwrap()).unwrap()
        };
        let x = var(&[3, 2, 6, 6], &mut rng);
        let kernel = var(&[4, 2, 4, 4], &mut rng);
        let (gamma, beta, bias, scale) = (
            var(&[4], &mut rng),
            var(&[4], &mut rng),
            var(&[4], &mut rng),
            var(&[4], &mut rng),
        );
        let row_bias = var(&[36], &mut rng);
        let critic =
            [&kernel, &gamma, &beta, &bias, &scale, &row_bias].map(|v| v.as_tensor().clone());
        let grads = |skip: bool| {
            let h = crate::fastconv::conv2d(x.as_tensor(), &critic[0], 1, 2, 1).unwrap();
            let (h, _, _) = batch_norm_train(&h, &critic[1], &critic[2], 1e-5).unwrap();
            let h = mul_channel(&add_channel_bias(&h, &critic[3]).unwrap(), &critic[4]).unwrap();
            let h = add_bias(&h.flatten_from(1).unwrap(), &critic[5]).unwrap();
            let loss = leaky_relu(&h, 0.2)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap();
            if skip {
                skipping_gradients(&critic, || loss.backward()).unwrap()
            } else {
                loss.backward().unwrap()
            }
        };
        let (skipped, full) = (grads(true), grads(false));
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(
            flat(skipped.get(x.as_tensor()).unwrap()),
            flat(full.get(x.as_tensor()).unwrap())
        );
        for p in &critic {
            assert!(full.get(p).is_some());
            assert!(
                skipped.get(p).is_none(),
                "a gradient for a skipped parameter"
            );
        }
        // The skip list is cleared afterwards.
        assert!(wants_grad(kernel.as_tensor()));
    }

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

    #[test]
    fn fused_add_channel_bias_matches_broadcast_add_with_gradients() {
        let mut rng = SeededRng::new(2);
        let x = Var::from_tensor(&rng.normal((3, 4, 5, 2), &Device::Cpu).unwrap()).unwrap();
        let b = Var::from_tensor(&rng.normal(4, &Device::Cpu).unwrap()).unwrap();
        let w = rng.normal((3, 4, 2, 5), &Device::Cpu).unwrap();
        // A strided view: (3, 4, 2, 5) from (3, 4, 5, 2).
        let xt = x.as_tensor().transpose(2, 3).unwrap();
        let run = |fused: bool| {
            let y = if fused {
                add_channel_bias(&xt, b.as_tensor()).unwrap()
            } else {
                xt.broadcast_add(&b.as_tensor().reshape((1, 4, 1, 1)).unwrap())
                    .unwrap()
            };
            let g = (y.clone() * &w)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            (
                flat(&y),
                flat(g.get(x.as_tensor()).unwrap()),
                flat(g.get(b.as_tensor()).unwrap()),
            )
        };
        let (ours, reference) = (run(true), run(false));
        assert_eq!(ours.0, reference.0);
        assert_eq!(ours.1, reference.1);
        for (a, r) in ours.2.iter().zip(&reference.2) {
            assert!((a - r).abs() < 1e-5, "{a} vs {r}");
        }
    }

    /// Batch norm from candle's broadcasting ops, as a reference.
    fn reference_batch_norm(x: &Tensor, w: &Tensor, b: &Tensor) -> (Tensor, Tensor, Tensor) {
        let stat = (1, x.dim(1).unwrap(), 1, 1);
        let mean = x.mean_keepdim(vec![0, 2, 3]).unwrap();
        let centered = x.broadcast_sub(&mean).unwrap();
        let var = centered.sqr().unwrap().mean_keepdim(vec![0, 2, 3]).unwrap();
        let y = centered
            .broadcast_div(&(&var + 1e-5).unwrap().sqrt().unwrap())
            .unwrap()
            .broadcast_mul(&w.reshape(stat).unwrap())
            .unwrap()
            .broadcast_add(&b.reshape(stat).unwrap())
            .unwrap();
        (y, mean.flatten_all().unwrap(), var.flatten_all().unwrap())
    }

    /// Output, statistics, gradients, and the gradient of a second-order quantity
    /// (‖∇ₓ Σ r ⊙ bn(x)²‖²) with respect to x, γ and β, of the fused and the reference batch norm.
    #[test]
    fn fused_batch_norm_matches_broadcasting_ops_to_second_order() {
        crate::gp::check_double_backward().unwrap();
        let mut rng = SeededRng::new(3);
        let f64s = |t: Tensor| t.to_dtype(DType::F64).unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        // Odd sizes, one channel, 1×1 maps, and (last) a strided view.
        let shapes = [
            (4, 3, 2, 5),
            (2, 1, 3, 3),
            (3, 4, 1, 1),
            (5, 2, 1, 7),
            (3, 2, 4, 3),
        ];
        for (i, (n, c, h, w_)) in shapes.into_iter().enumerate() {
            let strided = i == shapes.len() - 1;
            let stored = if strided {
                (n, c, w_, h)
            } else {
                (n, c, h, w_)
            };
            let x = Var::from_tensor(&f64s(rng.normal(stored, &Device::Cpu).unwrap())).unwrap();
            let w = Var::from_tensor(&f64s(rng.normal(c, &Device::Cpu).unwrap())).unwrap();
            let b = Var::from_tensor(&f64s(rng.normal(c, &Device::Cpu).unwrap())).unwrap();
            let r = f64s(rng.normal((n, c, h, w_), &Device::Cpu).unwrap());
            let run = |fused: bool| {
                let xt = if strided {
                    x.as_tensor().transpose(2, 3).unwrap()
                } else {
                    x.as_tensor().clone()
                };
                let (y, mean, var) = if fused {
                    batch_norm_train(&xt, w.as_tensor(), b.as_tensor(), 1e-5).unwrap()
                } else {
                    reference_batch_norm(&xt, w.as_tensor(), b.as_tensor())
                };
                let f = (y.sqr().unwrap() * &r).unwrap().sum_all().unwrap();
                let g = f.backward().unwrap();
                let gx = g.get(x.as_tensor()).unwrap().clone();
                let first = [
                    &gx,
                    g.get(w.as_tensor()).unwrap(),
                    g.get(b.as_tensor()).unwrap(),
                ]
                .map(flat);
                let g2 = gx.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                let second = [
                    g2.get(x.as_tensor()).unwrap(),
                    g2.get(w.as_tensor()).unwrap(),
                    g2.get(b.as_tensor()).unwrap(),
                ]
                .map(flat);
                [flat(&y), flat(&mean), flat(&var)]
                    .into_iter()
                    .chain(first)
                    .chain(second)
                    .collect::<Vec<_>>()
            };
            let (ours, reference) = (run(true), run(false));
            assert_eq!(ours.len(), reference.len());
            for (a, e) in ours.iter().zip(reference) {
                assert_eq!(a.len(), e.len());
                let scale = e.iter().fold(1f64, |m, v| m.max(v.abs()));
                for (a, e) in a.iter().zip(&e) {
                    assert!((a - e).abs() < 1e-10 * scale, "{stored:?}: {a} vs {e}");
                }
            }
        }
    }

    /// The fused dense layer against candle's matmul, broadcast add and leaky ReLU in f64: the
    /// output, the gradients of Σ r ⊙ dense(x)², and the gradients of the second-order
    /// ‖∇ₓ Σ r ⊙ dense(x)²‖² (WGAN-GP's penalty goes through these layers).
    #[test]
    fn fused_dense_matches_candle_ops_to_second_order() {
        crate::gp::check_double_backward().unwrap();
        let mut rng = SeededRng::new(13);
        let f64s = |t: Tensor| t.to_dtype(DType::F64).unwrap();
        let var = |shape: &[usize], rng: &mut SeededRng| {
            Var::from_tensor(&f64s(rng.normal(shape, &Device::Cpu).unwrap())).unwrap()
        };
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        // (rows, in, out): odd sizes, a single row, a single output.
        let shapes = [(5, 7, 4), (1, 3, 2), (9, 2, 1), (6, 13, 11)];
        let cases = shapes
            .iter()
            .flat_map(|&s| [Some(0.2), Some(0.0), None].map(|slope| (s, slope)));
        for ((rows, k, m), slope) in cases {
            let (x, w, b) = (
                var(&[rows, k], &mut rng),
                var(&[m, k], &mut rng),
                var(&[m], &mut rng),
            );
            let r = f64s(rng.normal((rows, m), &Device::Cpu).unwrap());
            let run = |fused: bool| {
                let (xt, wt, bt) = (x.as_tensor(), w.as_tensor(), b.as_tensor());
                let y = if fused {
                    dense(xt, wt, bt, slope).unwrap()
                } else {
                    let pre = xt
                        .matmul(&wt.t().unwrap())
                        .unwrap()
                        .broadcast_add(bt)
                        .unwrap();
                    match slope {
                        Some(s) => candle_nn::ops::leaky_relu(&pre, s).unwrap(),
                        None => pre,
                    }
                };
                let g = (y.sqr().unwrap() * &r)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                let gx = g.get(xt).unwrap().clone();
                let first = [&gx, g.get(wt).unwrap(), g.get(bt).unwrap()].map(flat);
                let g2 = gx.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                let second = [xt, wt, bt].map(|t| g2.get(t).map(flat).unwrap_or_default());
                [flat(&y)]
                    .into_iter()
                    .chain(first)
                    .chain(second)
                    .collect::<Vec<_>>()
            };
            let (ours, reference) = (run(true), run(false));
            for (a, e) in ours.iter().zip(&reference) {
                assert_eq!(a.len(), e.len(), "slope {slope:?}");
                let scale = e.iter().fold(1f64, |m, v| m.max(v.abs()));
                for (a, e) in a.iter().zip(e) {
                    assert!((a - e).abs() < 1e-12 * scale, "slope {slope:?}: {a} vs {e}");
                }
            }
        }
    }

    /// Every fused op's gradient against central finite differences in f64: for
    /// f(x, p) = Σ r ⊙ op(x, p) with a fixed random r, ∂f/∂x and ∂f/∂p from the backward pass
    /// agree with (f(θ + h) − f(θ − h)) / 2h in every coordinate.
    #[test]
    fn fused_op_gradients_match_finite_differences() {
        type Op = fn(&Tensor, &Tensor) -> Result<Tensor>;
        let ops: [(&str, Op, usize); 8] = [
            ("leaky_relu", |x, _| leaky_relu(x, 0.2), 3),
            (
                "add_bias",
                |x, b| add_bias(&x.flatten_from(1)?, &b.repeat(8)?),
                3,
            ),
            ("add_channel_bias", add_channel_bias, 3),
            ("mul_channel", mul_channel, 3),
            ("sum_channels", |x, p| sum_channels(&(x * x)?)?.mul(p), 3),
            (
                "batch_norm_train",
                |x, p| Ok(batch_norm_train(x, p, &p.sqr()?, 1e-5)?.0),
                3,
            ),
            // x (2, 3, 2, 4) as a (6, 8) input and, in part, the (3, 8) weight; p the bias.
            ("dense", |x, p| dense_of(x, p, Some(0.2)), 3),
            ("dense (identity)", |x, p| dense_of(x, p, None), 3),
        ];
        fn dense_of(x: &Tensor, p: &Tensor, slope: Option<f64>) -> Result<Tensor> {
            let rows = x.flatten_to(2)?;
            dense(&rows, &rows.narrow(0, 1, 3)?, p, slope)
        }
        let mut rng = SeededRng::new(5);
        for (name, op, channels) in ops {
            let f64s = |t: Tensor| t.to_dtype(DType::F64).unwrap();
            let shape = (2, channels, 2, 4);
            let x0 = f64s(rng.normal(shape, &Device::Cpu).unwrap());
            let p0 = f64s(rng.normal(channels, &Device::Cpu).unwrap());
            let r = f64s(rng.normal(shape, &Device::Cpu).unwrap());
            let f = |x: &Tensor, p: &Tensor| -> Tensor {
                let y = op(x, p).unwrap();
                let r = r
                    .flatten_all()
                    .unwrap()
                    .narrow(0, 0, y.elem_count())
                    .unwrap();
                (y.flatten_all().unwrap() * r).unwrap().sum_all().unwrap()
            };
            let (x, p) = (
                Var::from_tensor(&x0).unwrap(),
                Var::from_tensor(&p0).unwrap(),
            );
            let grads = f(x.as_tensor(), p.as_tensor()).backward().unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let zeros_like = |t: &Tensor| vec![0.0; t.elem_count()];
            let analytic = [
                grads
                    .get(x.as_tensor())
                    .map_or_else(|| zeros_like(&x0), flat),
                grads
                    .get(p.as_tensor())
                    .map_or_else(|| zeros_like(&p0), flat),
            ];
            let h = 1e-6;
            for (which, base) in [&x0, &p0].into_iter().enumerate() {
                let values = flat(base);
                for i in 0..values.len() {
                    let at = |delta: f64| {
                        let mut v = values.clone();
                        v[i] += delta;
                        let t = Tensor::from_vec(v, base.shape(), &Device::Cpu).unwrap();
                        let value = if which == 0 { f(&t, &p0) } else { f(&x0, &t) };
                        value.to_scalar::<f64>().unwrap()
                    };
                    let numeric = (at(h) - at(-h)) / (2.0 * h);
                    let a = analytic[which][i];
                    assert!(
                        (a - numeric).abs() <= 1e-5 * numeric.abs().max(1.0),
                        "{name}: ∂f/∂{}[{i}] = {a} by backward, {numeric} by finite differences",
                        ["x", "p"][which]
                    );
                }
            }
        }
    }
}
