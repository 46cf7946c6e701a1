//! The WGAN-GP gradient penalty (Gulrajani et al. 2017), by double backward.
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
    let batch = real.dim(0)?;
    let mut eps_shape = vec![1; real.rank()];
    eps_shape[0] = batch;
    let eps = rng
        .uniform(eps_shape, 0.0, 1.0, real.device())?
        .to_dtype(real.dtype())?;
    let (real, fake) = (real.detach(), fake.detach());
    let mixed = (&fake + eps.broadcast_mul(&(&real - &fake)?)?)?;
    // A variable, so that backward computes the gradient with respect to it.
    let mixed = Var::from_tensor(&mixed)?;
    let scores = critic(mixed.as_tensor())?;
    let grads = scores.sum_all()?.backward()?;
    let Some(g) = grads.get(mixed.as_tensor()) else {
        bail!("the critic's output does not depend on its input");
    };
    // A tiny offset keeps sqrt's derivative finite if a gradient is exactly zero.
    let norm = (g.flatten_from(1)?.sqr()?.sum(1)? + 1e-12)?.sqrt()?;
    (norm - 1.0)?.sqr()?.mean_all()? * lambda
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
