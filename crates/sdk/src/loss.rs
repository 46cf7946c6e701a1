//! Numerically stable binary cross-entropy and the GAN losses, as [`GanLoss`] implementations.
//!
//! candle's `binary_cross_entropy_with_logit` overflows for large logits; everything here uses
//! BCE(x, t) = max(x, 0) − x·t + log(1 + e^−|x|), which is exact where the naive form is finite
//! and stays finite everywhere. All losses are means over the batch.

use candle_core::{Result, Tensor};

/// Elementwise stable binary cross-entropy of `logits` against `targets` (same shape).
pub fn bce_with_logits_elementwise(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    (logits.relu()? - (logits * targets)?)? + log1p_exp_neg_abs(logits)?
}

/// Mean stable binary cross-entropy of `logits` against the constant `target` (0 or 1 for GANs).
pub fn bce_with_logits(logits: &Tensor, target: f64) -> Result<Tensor> {
    // max(x,0) − x·t as one affine op: for t ∈ [0,1] this is relu(x) + (−t)·x.
    (logits.relu()? + logits.affine(-target, 0.0)?)?
        .add(&log1p_exp_neg_abs(logits)?)?
        .mean_all()
}

/// Elementwise softplus log(1 + eˣ) = BCE(x, 0), stable for any x.
pub fn softplus(xs: &Tensor) -> Result<Tensor> {
    xs.relu()? + log1p_exp_neg_abs(xs)?
}

/// log(1 + e^−|x|) ∈ (0, log 2]: never overflows.
fn log1p_exp_neg_abs(xs: &Tensor) -> Result<Tensor> {
    (xs.abs()?.neg()?.exp()? + 1.0)?.log()
}

/// A GAN objective: the discriminator's loss from its logits on real and fake rows, and the
/// generator's loss from the logits on fake rows. Both are minimized.
pub trait GanLoss: Send + Sync {
    /// Short name for descriptions and checkpoints, e.g. `ns`.
    fn name(&self) -> &'static str;
    fn d_loss(&self, real: &Tensor, fake: &Tensor) -> Result<Tensor>;
    fn g_loss(&self, fake: &Tensor) -> Result<Tensor>;
    /// Extra metrics from the mean logits of one critic step (e.g. the Wasserstein estimate).
    fn critic_metrics(&self, _mean_real: f64, _mean_fake: f64) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
}

/// The original GAN discriminator loss with the non-saturating generator loss −log D(G(z)).
#[derive(Debug, Clone, Copy, Default)]
pub struct NonSaturating;

/// The original minimax GAN: the generator minimizes log(1 − D(G(z))) (saturates early on).
#[derive(Debug, Clone, Copy, Default)]
pub struct Minimax;

/// Hinge loss (SNGAN, Miyato et al. 2018): D: E[relu(1 − D(x))] + E[relu(1 + D(G(z)))];
/// G: −E[D(G(z))].
#[derive(Debug, Clone, Copy, Default)]
pub struct Hinge;

/// Wasserstein critic loss (WGAN): D: E[D(G(z))] − E[D(x)]; G: −E[D(G(z))].
#[derive(Debug, Clone, Copy, Default)]
pub struct Wasserstein;

/// Least squares (LSGAN, Mao et al. 2017, a = 0, b = c = 1):
/// D: ½E[(D(x) − 1)²] + ½E[D(G(z))²]; G: ½E[(D(G(z)) − 1)²].
#[derive(Debug, Clone, Copy, Default)]
pub struct LeastSquares;

fn bce_d_loss(real: &Tensor, fake: &Tensor) -> Result<Tensor> {
    // BCE(r, 1) = softplus(−r), BCE(f, 0) = softplus(f).
    softplus(&real.neg()?)?.mean_all()? + softplus(fake)?.mean_all()?
}

impl GanLoss for NonSaturating {
    fn name(&self) -> &'static str {
        "ns"
    }
    fn d_loss(&self, real: &Tensor, fake: &Tensor) -> Result<Tensor> {
        bce_d_loss(real, fake)
    }
    fn g_loss(&self, fake: &Tensor) -> Result<Tensor> {
        softplus(&fake.neg()?)?.mean_all()
    }
}

impl GanLoss for Minimax {
    fn name(&self) -> &'static str {
        "minimax"
    }
    fn d_loss(&self, real: &Tensor, fake: &Tensor) -> Result<Tensor> {
        bce_d_loss(real, fake)
    }
    fn g_loss(&self, fake: &Tensor) -> Result<Tensor> {
        // log(1 − σ(f)) = −softplus(f).
        softplus(fake)?.mean_all()?.neg()
    }
}

impl GanLoss for Hinge {
    fn name(&self) -> &'static str {
        "hinge"
    }
    fn d_loss(&self, real: &Tensor, fake: &Tensor) -> Result<Tensor> {
        real.affine(-1.0, 1.0)?.relu()?.mean_all()? + fake.affine(1.0, 1.0)?.relu()?.mean_all()?
    }
    fn g_loss(&self, fake: &Tensor) -> Result<Tensor> {
        fake.mean_all()?.neg()
    }
}

impl GanLoss for Wasserstein {
    fn name(&self) -> &'static str {
        "wasserstein"
    }
    fn d_loss(&self, real: &Tensor, fake: &Tensor) -> Result<Tensor> {
        fake.mean_all()? - real.mean_all()?
    }
    fn g_loss(&self, fake: &Tensor) -> Result<Tensor> {
        fake.mean_all()?.neg()
    }
    fn critic_metrics(&self, mean_real: f64, mean_fake: f64) -> Vec<(&'static str, f64)> {
        vec![("wasserstein", mean_real - mean_fake)]
    }
}

impl GanLoss for LeastSquares {
    fn name(&self) -> &'static str {
        "lsgan"
    }
    fn d_loss(&self, real: &Tensor, fake: &Tensor) -> Result<Tensor> {
        ((real - 1.0)?.sqr()?.mean_all()? + fake.sqr()?.mean_all()?)? * 0.5
    }
    fn g_loss(&self, fake: &Tensor) -> Result<Tensor> {
        (fake - 1.0)?.sqr()?.mean_all()? * 0.5
    }
}

/// The loss called `name` (`ns`, `minimax`, `hinge`, `wasserstein`, `lsgan`).
pub fn by_name(name: &str) -> Option<Box<dyn GanLoss>> {
    Some(match name {
        "ns" => Box::new(NonSaturating),
        "minimax" => Box::new(Minimax),
        "hinge" => Box::new(Hinge),
        "wasserstein" => Box::new(Wasserstein),
        "lsgan" | "least_squares" => Box::new(LeastSquares),
        _ => return None,
    })
}
