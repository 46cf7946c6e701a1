//! Gradient penalties by double backward: WGAN-GP's (Gulrajani et al. 2017), R1 and R2
//! (Mescheder et al. 2018) and DRAGAN's (Kodali et al. 2017), all from one input-gradient helper
//! ([`input_gradient_sq_norms`]).
//!
//! candle computes second-order gradients only when `CANDLE_GRAD_DO_NOT_DETACH=1` was set before
//! the thread's first `backward()`; otherwise there is no error, but most of the penalty's
//! gradient silently disappears (design.md). [`gradient_penalty`] therefore checks the variable
//! and, once per thread, probes that double backward really works, and fails loudly if not.

use std::cell::Cell;

use candle_core::{bail, Result, Tensor, Var};

use crate::SeededRng;

/// The environment variable candle reads (once per thread) to keep gradient graphs.
pub const DOUBLE_BACKWARD_ENV: &str = "CANDLE_GRAD_DO_NOT_DETACH";

thread_local! {
    static PROBED: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Fails unless second-order gradients work on this thread.
pub fn check_double_backward() -> Result<()> {
    if std::env::var(DOUBLE_BACKWARD_ENV).as_deref() != Ok("1") {
        bail!(
            "the gradient penalty needs second-order gradients, which candle computes only with \
             {DOUBLE_BACKWARD_ENV}=1 in the environment before the first backward pass (the \
             ganbench binary sets it at startup; for other programs, export it or call \
             std::env::set_var at the start of main)"
        );
    }
    let works = match PROBED.get() {
        Some(w) => w,
        None => {
            let w = probe()?;
            PROBED.set(Some(w));
            w
        }
    };
    if !works {
        bail!(
            "{DOUBLE_BACKWARD_ENV}=1 is set, but this thread ran a backward pass before it was set, \
             so candle still drops second-order gradients here: set it before any training starts"
        );
    }
    Ok(())
}

/// y = w·x²: dy/dx = 2wx, whose derivative with respect to w (2x) exists only if the first
/// backward kept its graph.
fn probe() -> Result<bool> {
    let w = Var::new(2f32, &candle_core::Device::Cpu)?;
    let x = Var::new(3f32, &candle_core::Device::Cpu)?;
    let y = (w.as_tensor() * x.as_tensor().sqr()?)?;
    let dx = y.backward()?.get(x.as_tensor()).cloned();
    let Some(dx) = dx else { return Ok(false) };
    let dw = dx
        .backward()?
        .get(w.as_tensor())
        .map(|g| g.to_scalar::<f32>())
        .transpose()?;
    Ok(dw == Some(6.0))
}

/// ‖∇ₓ D(x)‖₂² per row of `points` (shape `(batch, …)`, treated as constants), differentiable
/// with respect to the critic's parameters (double backward). `critic` maps a batch to its scores,
/// one per row; rows must be independent (no batch norm).
pub fn input_gradient_sq_norms<F>(critic: F, points: &Tensor) -> Result<Tensor>
where
    F: Fn(&Tensor) -> Result<Tensor>,
{
    check_double_backward()?;
    // A variable, so that backward computes the gradient with respect to it.
    let points = Var::from_tensor(&points.detach())?;
    let scores = critic(points.as_tensor())?;
    let grads = scores.sum_all()?.backward()?;
    let Some(g) = grads.get(points.as_tensor()) else {
        bail!("the critic's output does not depend on its input");
    };
    g.flatten_from(1)?.sqr()?.sum(1)
}

/// λ·mean((‖∇ D‖₂ − k)²) from squared norms; a tiny offset keeps sqrt's derivative finite if a
/// gradient is exactly zero.
fn two_sided(sq_norms: Tensor, k: f64, lambda: f64) -> Result<Tensor> {
    let norm = (sq_norms + 1e-12)?.sqrt()?;
    (norm - k)?.sqr()?.mean_all()? * lambda
}

/// Per-row factors `(batch, 1, …)` drawn from U[0, 1), shaped to broadcast over `like`.
fn row_factors(like: &Tensor, rng: &mut SeededRng) -> Result<Tensor> {
    let mut shape = vec![1; like.rank()];
    shape[0] = like.dim(0)?;
    rng.uniform(shape, 0.0, 1.0, like.device())?
        .to_dtype(like.dtype())
}

/// λ·mean((‖∇x̂ D(x̂)‖₂ − 1)²) at x̂ = εx + (1 − ε)x̃, with one ε ~ U[0, 1) per row drawn from
/// `rng`. `real` and `fake` have shape `(batch, …)` and are treated as constants; the result's
/// gradient flows to the critic's parameters through the input gradient (double backward).
///
/// `critic` maps a batch to its scores, one per row; rows must be independent (no batch norm).
pub fn gradient_penalty<F>(
    critic: F,
    real: &Tensor,
    fake: &Tensor,
    rng: &mut SeededRng,
    lambda: f64,
) -> Result<Tensor>
where
    F: Fn(&Tensor) -> Result<Tensor>,
{
    check_double_backward()?;
    let eps = row_factors(real, rng)?;
    let (real, fake) = (real.detach(), fake.detach());
    let mixed = (&fake + eps.broadcast_mul(&(&real - &fake)?)?)?;
    two_sided(input_gradient_sq_norms(critic, &mixed)?, 1.0, lambda)
}

/// (γ/2)·mean(‖∇ₓ D(x)‖₂²) at the given points: R1 at real data, R2 at generated data
/// (Mescheder et al. 2018, eq. 9).
pub fn zero_centred_penalty<F>(critic: F, points: &Tensor, gamma: f64) -> Result<Tensor>
where
    F: Fn(&Tensor) -> Result<Tensor>,
{
    input_gradient_sq_norms(critic, points)?.mean_all()? * (gamma / 2.0)
}

/// DRAGAN's penalty (Kodali et al. 2017, as in the authors' code): λ·mean((‖∇D(x̂)‖₂ − 1)²) at
/// x̂ = x + α(x_p − x), x_p = x + c·std(x)·u with u ~ U[0, 1) per element and α ~ U[0, 1) per row,
/// std(x) the standard deviation of all of the batch's values (population form).
pub fn dragan_penalty<F>(
    critic: F,
    real: &Tensor,
    rng: &mut SeededRng,
    lambda: f64,
    c: f64,
) -> Result<Tensor>
where
    F: Fn(&Tensor) -> Result<Tensor>,
{
    check_double_backward()?;
    let real = real.detach();
    let values = real.flatten_all()?.to_dtype(candle_core::DType::F64)?;
    let mean = values.mean_all()?.to_scalar::<f64>()?;
    let std = (values - mean)?
        .sqr()?
        .mean_all()?
        .to_scalar::<f64>()?
        .sqrt();
    let u = rng
        .uniform(real.shape(), 0.0, 1.0, real.device())?
        .to_dtype(real.dtype())?;
    let alpha = row_factors(&real, rng)?;
    let perturbation = (u * (c * std))?;
    let mixed = (&real + alpha.broadcast_mul(&perturbation)?)?;
    two_sided(input_gradient_sq_norms(critic, &mixed)?, 1.0, lambda)
}

/// The gradient penalty as a [`Regularizer`](crate::gan::Regularizer) of the GAN trainer.
#[derive(Debug, Clone, Copy)]
pub struct GradientPenalty {
    /// λ (10 in WGAN-GP).
    pub lambda: f64,
}

impl crate::gan::Regularizer for GradientPenalty {
    fn name(&self) -> String {
        format!("gradient penalty (λ = {})", self.lambda)
    }

    fn metric(&self) -> &'static str {
        "gp"
    }

    fn critic_penalty(
        &self,
        critic: &dyn Fn(&Tensor) -> Result<Tensor>,
        real: &Tensor,
        fake: &Tensor,
        rng: &mut SeededRng,
    ) -> Result<Tensor> {
        gradient_penalty(critic, real, fake, rng, self.lambda)
    }
}

/// R1 (γ at real data) or R2 (γ at generated data) as a [`Regularizer`](crate::gan::Regularizer),
/// optionally lazy: computed every `interval`-th critic update only, with its weight multiplied by
/// `interval` (Karras et al. 2020).
#[derive(Debug, Clone, Copy)]
pub struct ZeroCentredPenalty {
    pub gamma: f64,
    /// R1 (real data) or R2 (generated data).
    pub on_real: bool,
    pub interval: u64,
}

impl crate::gan::Regularizer for ZeroCentredPenalty {
    fn name(&self) -> String {
        let lazy = match self.interval {
            1 => String::new(),
            k => format!(", every {k} updates"),
        };
        let which = if self.on_real { "R1" } else { "R2" };
        format!("{which} (γ = {}{lazy})", self.gamma)
    }

    fn metric(&self) -> &'static str {
        if self.on_real {
            "r1"
        } else {
            "r2"
        }
    }

    fn interval(&self) -> u64 {
        self.interval
    }

    fn critic_penalty(
        &self,
        critic: &dyn Fn(&Tensor) -> Result<Tensor>,
        real: &Tensor,
        fake: &Tensor,
        _rng: &mut SeededRng,
    ) -> Result<Tensor> {
        let points = if self.on_real { real } else { fake };
        zero_centred_penalty(critic, points, self.gamma)
    }
}

/// DRAGAN's penalty as a [`Regularizer`](crate::gan::Regularizer).
#[derive(Debug, Clone, Copy)]
pub struct DraganPenalty {
    pub lambda: f64,
    /// The perturbation scale c (0.5 in the authors' code).
    pub c: f64,
}

impl crate::gan::Regularizer for DraganPenalty {
    fn name(&self) -> String {
        format!("DRAGAN (λ = {}, c = {})", self.lambda, self.c)
    }

    fn metric(&self) -> &'static str {
        "dragan"
    }

    fn critic_penalty(
        &self,
        critic: &dyn Fn(&Tensor) -> Result<Tensor>,
        real: &Tensor,
        _fake: &Tensor,
        rng: &mut SeededRng,
    ) -> Result<Tensor> {
        dragan_penalty(critic, real, rng, self.lambda, self.c)
    }
}
