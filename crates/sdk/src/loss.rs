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

/// Least squares (LSGAN, Mao et al. 2017): D pushes real scores to `b` and fake ones to `a`, G
/// pushes fake scores to `c`:
/// D: ½E[(D(x) − b)²] + ½E[(D(G(z)) − a)²]; G: ½E[(D(G(z)) − c)²].
///
/// The default is the paper's 0-1 coding (a = 0, b = c = 1) under the name `lsgan` (`loss = lsgan`
/// of every GAN plugin); the lsgan plugin sets its own targets and name.
#[derive(Debug, Clone, Copy)]
pub struct LeastSquares {
    /// D's target score for fake data.
    pub a: f64,
    /// D's target score for real data.
    pub b: f64,
    /// G's target score for fake data.
    pub c: f64,
    /// What descriptions and checkpoints call the loss ([`GanLoss::name`]): a checkpoint resumes
    /// only under the name it was saved with, so each user keeps the name it has always had.
    pub name: &'static str,
}

impl Default for LeastSquares {
    fn default() -> Self {
        Self {
            a: 0.0,
            b: 1.0,
            c: 1.0,
            name: "lsgan",
        }
    }
}

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
        self.name
    }
    fn d_loss(&self, real: &Tensor, fake: &Tensor) -> Result<Tensor> {
        ((real - self.b)?.sqr()?.mean_all()? + (fake - self.a)?.sqr()?.mean_all()?)? * 0.5
    }
    fn g_loss(&self, fake: &Tensor) -> Result<Tensor> {
        (fake - self.c)?.sqr()?.mean_all()? * 0.5
    }
}

/// One-sided label smoothing (Salimans et al. 2016): the discriminator's target for real rows is
/// 1 − s instead of 1 (fake rows keep 0). For the BCE losses only (`ns`, `minimax`), where
/// BCE(x, 1 − s) = softplus(−x) + s·x, so the smoothed loss is the plain one plus s·E[D(x)];
/// the generator's loss is unchanged.
pub struct OneSidedLabelSmoothing {
    inner: Box<dyn GanLoss>,
    smoothing: f64,
}

impl OneSidedLabelSmoothing {
    /// `loss` with real targets 1 − `smoothing`; an error names the loss if it has no labels.
    pub fn new(loss: Box<dyn GanLoss>, smoothing: f64) -> std::result::Result<Self, String> {
        if !matches!(loss.name(), "ns" | "minimax") {
            return Err(format!(
                "label_smoothing changes the real label of a cross-entropy loss (ns, minimax); loss `{}` has no labels: set label_smoothing = 0 or use loss ns",
                loss.name()
            ));
        }
        Ok(Self {
            inner: loss,
            smoothing,
        })
    }
}

impl GanLoss for OneSidedLabelSmoothing {
    /// The inner loss's name: the smoothing is part of the trainer's configuration.
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn d_loss(&self, real: &Tensor, fake: &Tensor) -> Result<Tensor> {
        self.inner.d_loss(real, fake)? + (real.mean_all()? * self.smoothing)?
    }
    fn g_loss(&self, fake: &Tensor) -> Result<Tensor> {
        self.inner.g_loss(fake)
    }
    fn critic_metrics(&self, mean_real: f64, mean_fake: f64) -> Vec<(&'static str, f64)> {
        self.inner.critic_metrics(mean_real, mean_fake)
    }
}

/// The loss called `name` (`ns`, `minimax`, `hinge`, `wasserstein`, `lsgan`).
pub fn by_name(name: &str) -> Option<Box<dyn GanLoss>> {
    Some(match name {
        "ns" => Box::new(NonSaturating),
        "minimax" => Box::new(Minimax),
        "hinge" => Box::new(Hinge),
        "wasserstein" => Box::new(Wasserstein),
        "lsgan" | "least_squares" => Box::new(LeastSquares::default()),
        _ => return None,
    })
}
