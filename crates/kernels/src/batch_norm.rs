//! Training-mode batch norm on the CPU as three fused ops, closed under differentiation, so that
//! it has gradients of any order at the cost of one or two passes per op.
//!
//! Per channel of `x` `(n, c, …)`, with `m` values, batch mean μ, σ = √(var + eps) and
//! x̂ = (x − μ)/σ, let P(g) = g − mean(g) − x̂·mean(g·x̂) (a symmetric projection). Then:
//!
//! - `Normalize(x, γ, β) = γ·x̂ + β`; its gradients are `Backward(x, γ, g)`, `Dot(x, g)` and
//!   `Σ g`.
//! - `Backward(x, a, g) = (a/σ)·P(g)` (the input gradient of `Normalize` for `a = γ`).
//! - `Dot(x, g) = Σ g·x̂` per channel (the scale gradient of `Normalize`).
//!
//! The gradients of `Backward` and `Dot` are built from the same three ops and the per-channel
//! ops of [`crate::channel`] (see their `bwd`), so candle can differentiate again. Built from
//! primitive ops instead, a step spent ~20 full passes over every batch-normed activation: each
//! intermediate (centered, squared, scaled, shifted) is a graph node whose gradient candle
//! zero-fills and accumulates.
//!
//! Statistics are computed in f64 and shared by every op on the same `x` (an `Arc` cell filled by
//! the first op to run).

use std::sync::{Arc, OnceLock};

use candle_core::backend::BackendStorage;
use candle_core::{
    bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, WithDType,
};

use crate::channel::{add_channel_bias, channel_dims, mul_channel, sum_channels};
use crate::dispatch::{float_op2, float_op3, fused, wants_grad};

/// Per-channel batch statistics of one tensor.
#[derive(Debug)]
struct Stats {
    mean: Vec<f64>,
    /// 1/σ = 1/√(biased variance + eps).
    inv_std: Vec<f64>,
    var: Vec<f64>,
}

/// The statistics of one `x`, computed by whichever op on it runs first.
#[derive(Debug, Clone)]
struct SharedStats {
    eps: f64,
    cell: Arc<OnceLock<Stats>>,
}

impl SharedStats {
    fn new(eps: f64) -> Self {
        Self {
            eps,
            cell: Arc::new(OnceLock::new()),
        }
    }

    fn get<T: WithDType>(&self, x: &[T], c: usize, inner: usize) -> &Stats {
        self.cell.get_or_init(|| stats(x, c, inner, self.eps))
    }
}

/// Σ over `0..len` of `f(i)` in eight interleaved f64 accumulators: a fixed order (deterministic)
/// that is not bound by the latency of one add chain.
#[inline(always)]
fn lane_sum(len: usize, f: impl Fn(usize) -> f64) -> f64 {
    let mut acc = [0f64; 8];
    let full = len / 8 * 8;
    for i in (0..full).step_by(8) {
        for (lane, a) in acc.iter_mut().enumerate() {
            *a += f(i + lane);
        }
    }
    let tail: f64 = (full..len).map(f).sum();
    acc.iter().sum::<f64>() + tail
}

/// `f(plane)` summed over the `n` planes of channel `ci` (each `inner` long) of `(n, c, inner)`.
fn channel_sum(n: usize, c: usize, inner: usize, ci: usize, f: impl Fn(usize) -> f64) -> f64 {
    (0..n).map(|s| f((s * c + ci) * inner)).sum()
}

/// Σ g·x̂ over channel `ci` of `(n, c, inner)` (x̂ = (x − μ)/σ): the scale gradient of
/// [`Normalize`], and m·mean(g·x̂) in [`Backward`].
fn dot_normalized<T: WithDType>(
    x: &[T],
    g: &[T],
    s: &Stats,
    (n, c, inner): (usize, usize, usize),
    ci: usize,
) -> f64 {
    let mean = s.mean[ci];
    channel_sum(n, c, inner, ci, |o| {
        lane_sum(inner, |i| g[o + i].to_f64() * (x[o + i].to_f64() - mean))
    }) * s.inv_std[ci]
}

fn stats<T: WithDType>(x: &[T], c: usize, inner: usize, eps: f64) -> Stats {
    let n = x.len() / (c * inner).max(1);
    let m = (n * inner) as f64;
    let mut out = Stats {
        mean: Vec::with_capacity(c),
        inv_std: Vec::with_capacity(c),
        var: Vec::with_capacity(c),
    };
    for ci in 0..c {
        let mean = channel_sum(n, c, inner, ci, |o| lane_sum(inner, |i| x[o + i].to_f64())) / m;
        // Two passes (sum of squared deviations), not E[x²] − μ², which cancels catastrophically.
        let var = channel_sum(n, c, inner, ci, |o| {
            lane_sum(inner, |i| (x[o + i].to_f64() - mean).powi(2))
        }) / m;
        out.mean.push(mean);
        out.var.push(var);
        out.inv_std.push(1.0 / (var + eps).sqrt());
    }
    out
}

/// `(n, c, inner)` of `x` and a check that `per_channel` (a `(c,)` operand of `op`) fits.
fn dims(op: &str, x: &Layout, per_channel: &Layout) -> Result<(usize, usize, usize)> {
    let (n, c, inner) = channel_dims(x.shape())?;
    if per_channel.shape().dims() != [c] {
        bail!(
            "{op}: per-channel operand of shape {:?} for input {:?}",
            per_channel.shape(),
            x.shape()
        );
    }
    Ok((n, c, inner))
}

fn check_same_shape(op: &str, a: &Layout, b: &Layout) -> Result<()> {
    if a.shape() != b.shape() {
        bail!("{op}: shapes {:?} and {:?} differ", a.shape(), b.shape());
    }
    Ok(())
}

/// `Normalize(x, γ, β) = γ·x̂ + β`.
struct Normalize(SharedStats);

/// `Backward(x, a, g) = (a/σ)·P(g)`.
struct Backward(SharedStats);

/// `Dot(x, g) = Σ g·x̂` per channel.
struct Dot(SharedStats);

/// Batch normalization in training mode over dimension 1 of `xs` `(n, c, …)`: returns
/// `(γ·(x − μ)/√(σ² + eps) + β, μ, σ²)` with the batch's per-channel mean μ and biased variance
/// σ², each `(c,)` and constant (no gradient flows through them; the output's gradient accounts
/// for them). Gradients of any order. On the CPU three fused ops (the module's documentation);
/// elsewhere the per-channel ops of [`crate::channel`] (candle's broadcasting ops reduce over three dimensions
/// with a slow strided loop in every backward pass).
pub fn batch_norm_train(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let per_channel = |t: &Tensor| t.rank() == 1 && t.dtype() == xs.dtype();
    if fused(xs) && xs.rank() >= 2 && per_channel(weight) && per_channel(bias) {
        return fused_batch_norm_train(xs, weight, bias, eps);
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

/// [`batch_norm_train`] as three fused ops, for a CPU f32/f64 `xs`.
fn fused_batch_norm_train(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let shared = SharedStats::new(eps);
    let ys = xs.apply_op3(weight, bias, Normalize(shared.clone()))?;
    let Some(stats) = shared.cell.get() else {
        bail!("batch norm: the forward pass computed no statistics");
    };
    let constant = |v: &[f64]| Tensor::new(v, xs.device())?.to_dtype(xs.dtype());
    Ok((ys, constant(&stats.mean)?, constant(&stats.var)?))
}

impl CustomOp3 for Normalize {
    fn name(&self) -> &'static str {
        "ganbench-batch-norm"
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
        let (_, c, inner) = dims("batch norm", l1, l2)?;
        dims("batch norm", l1, l3)?;
        fn run<T: WithDType>(
            shared: &SharedStats,
            x: &[T],
            (gamma, beta): (&[T], &[T]),
            c: usize,
            inner: usize,
        ) -> Vec<T> {
            let s = shared.get(x, c, inner);
            let mut out = Vec::with_capacity(x.len());
            for (plane, ci) in x.chunks_exact(inner.max(1)).zip((0..c).cycle()) {
                let mean = T::from_f64(s.mean[ci]);
                let a = T::from_f64(gamma[ci].to_f64() * s.inv_std[ci]);
                let b = beta[ci];
                out.extend(plane.iter().map(|&x| (x - mean) * a + b));
            }
            out
        }
        let out = float_op3!("batch norm", (s1, l1), (s2, l2), (s3, l3), |x, g, b| {
            run(&self.0, x, (g, b), c, inner)
        });
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let stats = &self.0;
        Ok((
            wants_grad(x)
                .then(|| x.apply_op3(gamma, grad, Backward(stats.clone())))
                .transpose()?,
            wants_grad(gamma)
                .then(|| x.apply_op2(grad, Dot(stats.clone())))
                .transpose()?,
            wants_grad(beta).then(|| sum_channels(grad)).transpose()?,
        ))
    }
}

impl CustomOp3 for Backward {
    fn name(&self) -> &'static str {
        "ganbench-batch-norm-backward"
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
        let (n, c, inner) = dims("batch norm backward", l1, l2)?;
        check_same_shape("batch norm backward", l1, l3)?;
        fn run<T: WithDType>(
            shared: &SharedStats,
            x: &[T],
            (a, g): (&[T], &[T]),
            (n, c, inner): (usize, usize, usize),
        ) -> Vec<T> {
            let s = shared.get(x, c, inner);
            let m = (n * inner) as f64;
            // Per channel: mean(g) and mean(g·x̂), then a/σ·(g − mean(g) − x̂·mean(g·x̂)).
            let coefficients: Vec<(T, T, T, T)> = (0..c)
                .map(|ci| {
                    let (mean, inv_std) = (s.mean[ci], s.inv_std[ci]);
                    let g_mean =
                        channel_sum(n, c, inner, ci, |o| lane_sum(inner, |i| g[o + i].to_f64()))
                            / m;
                    let gx_mean = dot_normalized(x, g, s, (n, c, inner), ci) / m;
                    let scale = a[ci].to_f64() * inv_std;
                    // dx = scale·g − scale·g_mean − scale·gx_mean·inv_std·(x − mean)
                    (
                        T::from_f64(scale),
                        T::from_f64(mean),
                        T::from_f64(scale * gx_mean * inv_std),
                        T::from_f64(scale * g_mean),
                    )
                })
                .collect();
            let mut out = Vec::with_capacity(x.len());
            let planes = x
                .chunks_exact(inner.max(1))
                .zip(g.chunks_exact(inner.max(1)));
            for ((xp, gp), ci) in planes.zip((0..c).cycle()) {
                let (scale, mean, slope, offset) = coefficients[ci];
                out.extend(
                    xp.iter()
                        .zip(gp)
                        .map(|(&x, &g)| scale * g - slope * (x - mean) - offset),
                );
            }
            out
        }
        let out = float_op3!(
            "batch norm backward",
            (s1, l1),
            (s2, l2),
            (s3, l3),
            |x, a, g| run(&self.0, x, (a, g), (n, c, inner))
        );
        Ok((out, l1.shape().clone()))
    }

    /// For the vector-Jacobian product with `v` (derivation in the module docs' notation, with
    /// B = Σ v·P(g), W = Σ v·x̂ = Dot(x, v), k = mean(g·x̂), all per channel):
    /// ∂/∂g = Backward(x, a, v) (P is symmetric); ∂/∂a = Σ v·P(g)/σ = B/σ;
    /// ∂/∂x = a/σ² · (−x̂·B/m − P(g)·W/m − P(v)·k).
    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        g: &Tensor,
        _res: &Tensor,
        v: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let shared = &self.0;
        let grad_g = wants_grad(g)
            .then(|| x.apply_op3(a, v, Backward(shared.clone())))
            .transpose()?;
        if !wants_grad(x) && !wants_grad(a) {
            return Ok((None, None, grad_g));
        }
        // σ as a function of x (differentiable, for the gradients of these gradients).
        let (_, c, _) = channel_dims(x.shape())?;
        let m = (x.elem_count() / c.max(1)) as f64;
        let centered = add_channel_bias(x, &(sum_channels(x)? / -m)?)?;
        let sigma = ((sum_channels(&centered.sqr()?)? / m)? + shared.eps)?.sqrt()?;
        // P(g) = Backward(x, σ, g); P(v) likewise.
        let p_g = x.apply_op3(&sigma, g, Backward(shared.clone()))?;
        let b = sum_channels(&(v * &p_g)?)?;
        let grad_a = wants_grad(a).then(|| &b / &sigma).transpose()?;
        let grad_x = if wants_grad(x) {
            let ones = sigma.ones_like()?;
            let zeros = sigma.zeros_like()?;
            let x_hat = x.apply_op3(&ones, &zeros, Normalize(shared.clone()))?;
            let p_v = x.apply_op3(&sigma, v, Backward(shared.clone()))?;
            let w = x.apply_op2(v, Dot(shared.clone()))?;
            let k = (x.apply_op2(g, Dot(shared.clone()))? / m)?;
            let sum = ((mul_channel(&x_hat, &(&b / m)?)? + mul_channel(&p_g, &(&w / m)?)?)?
                + mul_channel(&p_v, &k)?)?;
            Some(mul_channel(&sum, &(a / sigma.sqr()?)?.neg()?)?)
        } else {
            None
        };
        Ok((grad_x, grad_a, grad_g))
    }
}

impl CustomOp2 for Dot {
    fn name(&self) -> &'static str {
        "ganbench-batch-norm-dot"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        check_same_shape("batch norm dot", l1, l2)?;
        let (n, c, inner) = channel_dims(l1.shape())?;
        fn run<T: WithDType>(
            shared: &SharedStats,
            x: &[T],
            g: &[T],
            (n, c, inner): (usize, usize, usize),
        ) -> Vec<T> {
            let s = shared.get(x, c, inner);
            (0..c)
                .map(|ci| T::from_f64(dot_normalized(x, g, s, (n, c, inner), ci)))
                .collect()
        }
        let out = float_op2!("batch norm dot", (s1, l1), (s2, l2), |x, g| {
            run(&self.0, x, g, (n, c, inner))
        });
        Ok((out, Shape::from(c)))
    }

    /// For the vector-Jacobian product with `u` `(c,)`: ∂/∂g = u·x̂ = Normalize(x, u, 0);
    /// ∂/∂x = (u/σ)·P(g) = Backward(x, u, g).
    fn bwd(
        &self,
        x: &Tensor,
        g: &Tensor,
        _res: &Tensor,
        u: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let shared = &self.0;
        let grad_x = wants_grad(x)
            .then(|| x.apply_op3(u, g, Backward(shared.clone())))
            .transpose()?;
        let grad_g = wants_grad(g)
            .then(|| x.apply_op3(u, &u.zeros_like()?, Normalize(shared.clone())))
            .transpose()?;
        Ok((grad_x, grad_g))
    }
}
