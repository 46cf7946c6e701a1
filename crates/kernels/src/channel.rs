//! Per-channel ops of conv layers and batch norm, as fused CPU ops with gradients of any order:
//! [`add_channel_bias`], [`mul_channel`] and [`sum_channels`] over dimension 1 of `(n, c, …)`
//! (candle's broadcast backward is a strided reduction over three dimensions).

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use crate::dispatch::{float_op1, float_op2, fused, wants_grad};

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
pub(crate) fn bias_bwd(
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
