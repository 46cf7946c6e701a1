//! The stability-fix catalogue of the GAN trainers: every fix a parameter, all off by default.
//!
//! [`GanFixes`] holds the fixes' settings (read from a trial's parameters by
//! [`GanFixes::from_params`], declared by [`param_specs`]); [`crate::GanTrainer`] applies them,
//! and the pieces are public so that other trainers (a VAE-GAN) can apply them too:
//!
//! - optimization: [`OptimizerKind`] (Adam, SGD with momentum or Nesterov, RMSProp),
//!   [`clip_grad_norm`](crate::optim::clip_grad_norm) per network, [`LrSchedule`];
//! - loss: one-sided label smoothing ([`crate::loss::OneSidedLabelSmoothing`]);
//! - regularization: R1/R2 with lazy intervals and DRAGAN ([`crate::gp`]), instance noise
//!   ([`GanFixes::noise_std`]), bCR ([`crate::augment::ConsistencyRegularization`]);
//! - mode collapse: packing ([`pack`]) and the minibatch standard deviation
//!   ([`crate::nn::minibatch_stddev`]);
//! - averaging: the generator's moving average ([`crate::ema::Ema`]);
//! - augmentation: DiffAugment ([`crate::augment::diff_augment`]).
//!
//! docs/fixes.md gives each fix's formula, paper, published setting and when it should help.
//!
//! Every default is "off" and leaves the trainer computing bitwise what it computed before the
//! fix existed: an off fix draws no random number and runs no op. The parameters are declared
//! [`ParamSpec::keyless_default`], so trial keys of sweeps recorded before them stay valid.
//! Fixes that draw random numbers (DiffAugment, instance noise, DRAGAN's perturbations, bCR's
//! augmentations) draw them from the trainer's own fix generator ([`crate::rng::stream::FIXES`]),
//! so turning a fix on leaves the training latents unchanged (paired comparisons).

use candle_core::{bail, Tensor};
use ganbench_plugin_api::{ParamSpec, Params};
use serde::{Deserialize, Serialize};

use crate::augment::{self, ConsistencyRegularization, Policy};
use crate::ema::EmaConfig;
use crate::gan::Regularizer;
use crate::gp::{DraganPenalty, ZeroCentredPenalty};
use crate::optim::OptimizerKind;
use crate::schedule::{linear_anneal, LrDecay, LrSchedule};
use crate::{Error, Result, SeededRng};

/// Parameter groups, in the order `ganbench plugins` lists them.
pub mod group {
    pub const MODEL: &str = "model";
    pub const OPTIMIZATION: &str = "optimization";
    pub const LOSS: &str = "loss";
    pub const REGULARIZATION: &str = "regularization";
    pub const MODE_COLLAPSE: &str = "mode collapse";
    pub const AVERAGING: &str = "averaging";
    pub const AUGMENTATION: &str = "augmentation";
}

/// The largest step count a schedule parameter accepts.
const MAX_STEPS: i64 = 1_000_000_000;

/// Every fix's settings; [`Default`] is "all off".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GanFixes {
    pub optimizer: OptimizerKind,
    /// Maximum L2 norm of the discriminator's / generator's gradient (0: no clipping).
    pub clip_grad_norm_d: f64,
    pub clip_grad_norm_g: f64,
    pub lr_schedule: LrSchedule,
    /// One-sided label smoothing s (real target 1 − s).
    pub label_smoothing: f64,
    pub r1_gamma: f64,
    pub r2_gamma: f64,
    /// R1/R2 every this many critic updates (lazy regularization; 1: every update).
    pub lazy_interval: u64,
    pub dragan_lambda: f64,
    pub dragan_c: f64,
    /// Instance noise σ₀ and the step at which it has annealed to 0 (0: constant).
    pub instance_noise: f64,
    pub instance_noise_steps: u64,
    pub bcr_real: f64,
    pub bcr_fake: f64,
    /// Samples per discriminator input (1: no packing).
    pub pac: usize,
    /// Group size of the minibatch standard deviation feature (0: none).
    pub minibatch_std: usize,
    pub ema: Option<EmaConfig>,
    pub diffaugment: Policy,
    /// Clamp every critic weight to [−c, c] after each critic update (the original WGAN's
    /// Lipschitz constraint; set by the `wgan` plugin, not a common parameter). 0: off.
    pub weight_clip: f64,
}

impl Default for GanFixes {
    fn default() -> Self {
        Self {
            optimizer: OptimizerKind::Adam,
            clip_grad_norm_d: 0.0,
            clip_grad_norm_g: 0.0,
            lr_schedule: LrSchedule::default(),
            label_smoothing: 0.0,
            r1_gamma: 0.0,
            r2_gamma: 0.0,
            lazy_interval: 1,
            dragan_lambda: 0.0,
            dragan_c: 0.5,
            instance_noise: 0.0,
            instance_noise_steps: 0,
            bcr_real: 0.0,
            bcr_fake: 0.0,
            pac: 1,
            minibatch_std: 0,
            ema: None,
            diffaugment: Policy::default(),
            weight_clip: 0.0,
        }
    }
}

/// The fixes' parameter declarations; `optimizer` defaults to `default_optimizer` (the plugin's
/// own, e.g. RMSProp for `wgan`). All are [`ParamSpec::keyless_default`].
pub fn param_specs(default_optimizer: &str) -> Vec<ParamSpec> {
    use group::*;
    fn float(name: &str, default: f64, max: f64, help: &str, g: &str) -> ParamSpec {
        ParamSpec::float(name, default, 0.0, max, help)
            .in_group(g)
            .keyless_default()
    }
    fn int(name: &str, default: i64, min: i64, max: i64, help: &str, g: &str) -> ParamSpec {
        ParamSpec::int(name, default, min, max, help)
            .in_group(g)
            .keyless_default()
    }
    vec![
        ParamSpec::choice(
            "optimizer",
            default_optimizer,
            &OptimizerKind::NAMES,
            "optimizer of both networks, at lr_g and lr_d: Adam (Kingma & Ba 2015; beta1, beta2), \
             SGD with momentum (the original GAN's, Goodfellow et al. 2014; sgd_momentum, \
             sgd_nesterov) or RMSProp (Tieleman & Hinton 2012, the WGAN paper's; rmsprop_alpha)",
        )
        .in_group(OPTIMIZATION)
        .keyless_default(),
        float(
            "sgd_momentum",
            0.5,
            0.999,
            "SGD momentum μ (Goodfellow et al. 2014 on MNIST: 0.5, with lr 0.1)",
            OPTIMIZATION,
        ),
        ParamSpec::bool(
            "sgd_nesterov",
            false,
            "Nesterov momentum for SGD (Sutskever et al. 2013, who use μ = 0.9 and above)",
        )
        .in_group(OPTIMIZATION)
        .keyless_default(),
        float(
            "rmsprop_alpha",
            0.99,
            0.9999,
            "RMSProp smoothing α (PyTorch's default 0.99, as in the WGAN authors' code)",
            OPTIMIZATION,
        ),
        float(
            "clip_grad_norm_d",
            0.0,
            1e6,
            "clip the discriminator's gradient to this L2 norm, all its parameters together \
             (Pascanu et al. 2013); logs grad_norm_d, the norm before clipping; 0 = off",
            OPTIMIZATION,
        ),
        float(
            "clip_grad_norm_g",
            0.0,
            1e6,
            "clip the generator's gradient to this L2 norm (Pascanu et al. 2013); logs \
             grad_norm_g; 0 = off",
            OPTIMIZATION,
        ),
        ParamSpec::choice(
            "lr_schedule",
            "constant",
            &LrDecay::NAMES,
            "learning-rate schedule of both networks after the warm-up: constant, linear decay \
             to 0, or cosine decay to 0 (Loshchilov & Hutter 2017), reaching 0 at lr_decay_steps",
        )
        .in_group(OPTIMIZATION)
        .keyless_default(),
        int(
            "lr_warmup_steps",
            0,
            0,
            MAX_STEPS,
            "linear learning-rate warm-up over this many steps, from lr/n to lr (Goyal et al. \
             2017); 0 = none",
            OPTIMIZATION,
        ),
        int(
            "lr_decay_steps",
            0,
            0,
            MAX_STEPS,
            "the step at which a linear or cosine lr_schedule reaches 0: usually the sweep's steps",
            OPTIMIZATION,
        ),
        float(
            "label_smoothing",
            0.0,
            0.5,
            "one-sided label smoothing (Salimans et al. 2016): the discriminator's target for \
             real data is 1 − s (paper: s = 0.1); cross-entropy losses only; 0 = off",
            LOSS,
        ),
        float(
            "r1_gamma",
            0.0,
            1e4,
            "R1 penalty (γ/2)·E‖∇D(x)‖² on real data (Mescheder et al. 2018; paper: γ = 10); \
             logs r1; 0 = off",
            REGULARIZATION,
        ),
        float(
            "r2_gamma",
            0.0,
            1e4,
            "R2 penalty (γ/2)·E‖∇D(G(z))‖² on generated data (Mescheder et al. 2018); logs r2; \
             0 = off",
            REGULARIZATION,
        ),
        int(
            "lazy_interval",
            1,
            1,
            1000,
            "compute R1 and R2 every k-th discriminator update only, weighted by k (lazy \
             regularization, Karras et al. 2020; paper: k = 16); 1 = every update",
            REGULARIZATION,
        ),
        float(
            "dragan_lambda",
            0.0,
            1e4,
            "DRAGAN penalty λ·E(‖∇D(x̂)‖ − 1)² at points x̂ near the real data (Kodali et al. \
             2017; paper: λ = 10); logs dragan; 0 = off",
            REGULARIZATION,
        ),
        float(
            "dragan_c",
            0.5,
            10.0,
            "DRAGAN's perturbation scale: x̂ lies between x and x + c·std(x)·U[0, 1) (the \
             authors' code: c = 0.5)",
            REGULARIZATION,
        ),
        float(
            "instance_noise",
            0.0,
            100.0,
            "instance noise: Gaussian noise of standard deviation σ₀ added to every \
             discriminator input, real and generated (Sønderby et al. 2017; Arjovsky & Bottou \
             2017); 0 = off",
            REGULARIZATION,
        ),
        int(
            "instance_noise_steps",
            0,
            0,
            MAX_STEPS,
            "anneal the instance noise linearly from σ₀ to 0 at this step (Sønderby et al. \
             2017); 0 = constant σ₀",
            REGULARIZATION,
        ),
        float(
            "bcr_real",
            0.0,
            1e4,
            "balanced consistency regularization on real images: λ·E(D(x) − D(T(x)))², T a \
             random flip and shift (Zhang et al. 2020; Zhao et al. 2021: λ = 10); images only; \
             logs bcr; 0 = off",
            REGULARIZATION,
        ),
        float(
            "bcr_fake",
            0.0,
            1e4,
            "balanced consistency regularization on generated images, λ for D(G(z)) (Zhao et \
             al. 2021: λ = 10); images only; 0 = off",
            REGULARIZATION,
        ),
        int(
            "pac",
            1,
            1,
            8,
            "PacGAN packing (Lin et al. 2018): the discriminator judges pac samples at once \
             (concatenated; along channels for images), so a step draws batch_size × pac rows \
             per update; samples and metrics stay single (paper: 2 to 4); 1 = off",
            MODE_COLLAPSE,
        ),
        int(
            "minibatch_std",
            0,
            0,
            64,
            "minibatch standard deviation (Karras et al. 2018): the discriminator's last layer \
             also sees the average standard deviation over groups of this many samples, which \
             batch_size must be a multiple of (paper: 4); 0 = off",
            MODE_COLLAPSE,
        ),
        float(
            "ema_decay",
            0.0,
            0.99999,
            "exponential moving average of the generator's weights with decay β (Yazıcı et al. \
             2019: 0.9999; Karras et al. 2018: 0.999); evaluations also log every sample \
             metric of the averaged generator with an _ema suffix; 0 = off",
            AVERAGING,
        ),
        int(
            "ema_start",
            0,
            0,
            MAX_STEPS,
            "generator updates before the averaging starts (until then the average copies the \
             weights); 0 = from the first update",
            AVERAGING,
        ),
        ParamSpec::choice(
            "diffaugment",
            "none",
            &Policy::NAMES,
            "DiffAugment (Zhao et al. 2020): differentiable augmentation of every discriminator \
             input, real and generated: color (brightness, saturation, contrast), translation \
             (up to 1/8 of the side), cutout (half the side); paper: color,translation,cutout; \
             images only",
        )
        .in_group(AUGMENTATION)
        .keyless_default(),
    ]
}

impl GanFixes {
    /// Reads every fix parameter that `params` declares (the others stay off), and checks the
    /// settings against each other and the data; errors name the parameter and the fix.
    pub fn from_params(params: &Params, data_shape: &[usize], batch_size: usize) -> Result<Self> {
        let d = Self::default();
        let declared = |name: &str| params.get(name).is_some();
        let f64_or = |name: &str, default: f64| -> Result<f64> {
            Ok(if declared(name) {
                params.f64(name)?
            } else {
                default
            })
        };
        let u64_or = |name: &str, default: u64| -> Result<u64> {
            Ok(if declared(name) {
                params.usize(name)? as u64
            } else {
                default
            })
        };
        let optimizer = match declared("optimizer").then(|| params.str("optimizer")).transpose()? {
            None | Some("adam") => OptimizerKind::Adam,
            Some("sgd") => OptimizerKind::Sgd {
                momentum: f64_or("sgd_momentum", 0.5)?,
                nesterov: declared("sgd_nesterov") && params.bool("sgd_nesterov")?,
            },
            Some("rmsprop") => OptimizerKind::RmsProp {
                alpha: f64_or("rmsprop_alpha", 0.99)?,
            },
            Some(other) => {
                return Err(Error::msg(format!(
                    "parameter `optimizer`: unknown optimizer `{other}` (expected adam, sgd or rmsprop)"
                )))
            }
        };
        if let OptimizerKind::Sgd {
            momentum,
            nesterov: true,
        } = optimizer
        {
            if momentum <= 0.0 {
                return Err(Error::msg(
                    "parameter `sgd_nesterov = true` needs `sgd_momentum` above 0 (Nesterov momentum with μ = 0 is plain SGD)",
                ));
            }
        }
        let decay = match declared("lr_schedule").then(|| params.str("lr_schedule")).transpose()? {
            None => LrDecay::Constant,
            Some(name) => LrDecay::parse(name).ok_or_else(|| {
                Error::msg(format!(
                    "parameter `lr_schedule`: unknown schedule `{name}` (expected constant, linear or cosine)"
                ))
            })?,
        };
        let lr_schedule = LrSchedule {
            decay,
            warmup: u64_or("lr_warmup_steps", 0)?,
            decay_steps: u64_or("lr_decay_steps", 0)?,
        };
        lr_schedule
            .validate()
            .map_err(|e| Error::msg(format!("parameter `lr_schedule = {}`: {e}", decay.name())))?;
        let diffaugment = match declared("diffaugment").then(|| params.str("diffaugment")).transpose()? {
            None => Policy::default(),
            Some(name) => Policy::parse(name).ok_or_else(|| {
                Error::msg(format!(
                    "parameter `diffaugment`: unknown policy `{name}` (expected none or a comma-separated subset of color, translation, cutout)"
                ))
            })?,
        };
        let ema_decay = f64_or("ema_decay", 0.0)?;
        let fixes = Self {
            optimizer,
            clip_grad_norm_d: f64_or("clip_grad_norm_d", 0.0)?,
            clip_grad_norm_g: f64_or("clip_grad_norm_g", 0.0)?,
            lr_schedule,
            label_smoothing: f64_or("label_smoothing", 0.0)?,
            r1_gamma: f64_or("r1_gamma", 0.0)?,
            r2_gamma: f64_or("r2_gamma", 0.0)?,
            lazy_interval: u64_or("lazy_interval", 1)?,
            dragan_lambda: f64_or("dragan_lambda", 0.0)?,
            dragan_c: f64_or("dragan_c", d.dragan_c)?,
            instance_noise: f64_or("instance_noise", 0.0)?,
            instance_noise_steps: u64_or("instance_noise_steps", 0)?,
            bcr_real: f64_or("bcr_real", 0.0)?,
            bcr_fake: f64_or("bcr_fake", 0.0)?,
            pac: u64_or("pac", 1)? as usize,
            minibatch_std: u64_or("minibatch_std", 0)? as usize,
            ema: (ema_decay > 0.0).then_some(EmaConfig {
                decay: ema_decay,
                start: u64_or("ema_start", 0)?,
            }),
            diffaugment,
            weight_clip: 0.0,
        };
        fixes.check(data_shape, batch_size)?;
        Ok(fixes)
    }

    /// Checks settings that depend on each other or on the data.
    pub fn check(&self, data_shape: &[usize], batch_size: usize) -> Result<()> {
        let image = data_shape.len() == 3;
        let needs_images = [
            (!self.diffaugment.is_none(), "diffaugment"),
            (self.bcr_real > 0.0, "bcr_real"),
            (self.bcr_fake > 0.0, "bcr_fake"),
        ];
        for (on, name) in needs_images {
            if on && !image {
                return Err(Error::msg(format!(
                    "parameter `{name}` augments images of shape [C, H, W], but this data has examples of shape {data_shape:?}; set it off for this data"
                )));
            }
        }
        if self.pac == 0 {
            return Err(Error::msg("parameter `pac` must be at least 1"));
        }
        if self.minibatch_std > 0 && !batch_size.is_multiple_of(self.minibatch_std.min(batch_size))
        {
            return Err(Error::msg(format!(
                "parameter `minibatch_std = {}` needs `batch_size` ({batch_size}) to be a multiple of it",
                self.minibatch_std
            )));
        }
        Ok(())
    }

    /// Whether every fix is off (the trainer then runs exactly as without this module).
    pub fn is_off(&self) -> bool {
        *self == Self::default()
    }

    /// The regularizers the fixes add (R1, R2, DRAGAN, bCR), in that order.
    pub fn regularizers(&self) -> Vec<Box<dyn Regularizer>> {
        let mut out: Vec<Box<dyn Regularizer>> = Vec::new();
        for (gamma, on_real) in [(self.r1_gamma, true), (self.r2_gamma, false)] {
            if gamma > 0.0 {
                out.push(Box::new(ZeroCentredPenalty {
                    gamma,
                    on_real,
                    interval: self.lazy_interval,
                }));
            }
        }
        if self.dragan_lambda > 0.0 {
            out.push(Box::new(DraganPenalty {
                lambda: self.dragan_lambda,
                c: self.dragan_c,
            }));
        }
        if self.bcr_real > 0.0 || self.bcr_fake > 0.0 {
            out.push(Box::new(ConsistencyRegularization {
                lambda_real: self.bcr_real,
                lambda_fake: self.bcr_fake,
            }));
        }
        out
    }

    /// The instance noise's standard deviation at 0-based step `step`.
    pub fn noise_std(&self, step: u64) -> f64 {
        linear_anneal(self.instance_noise, self.instance_noise_steps, step)
    }

    /// What the discriminator sees of a batch of examples at step `step`: DiffAugment, then
    /// instance noise, then packing (each only when on; random numbers from `rng`).
    pub fn critic_input(&self, x: &Tensor, rng: &mut SeededRng, step: u64) -> Result<Tensor> {
        let mut x = x.clone();
        if !self.diffaugment.is_none() {
            x = augment::diff_augment(&x, self.diffaugment, rng)?;
        }
        let sigma = self.noise_std(step);
        if sigma > 0.0 {
            let noise = rng.normal(x.shape(), x.device())?.to_dtype(x.dtype())?;
            x = (x + (noise * sigma)?)?;
        }
        if self.pac > 1 {
            x = pack(&x, self.pac)?;
        }
        Ok(x)
    }

    /// A short list of the fixes that are on, for descriptions (empty when all are off).
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.clip_grad_norm_d > 0.0 {
            parts.push(format!("clip ‖∇D‖ ≤ {}", self.clip_grad_norm_d));
        }
        if self.clip_grad_norm_g > 0.0 {
            parts.push(format!("clip ‖∇G‖ ≤ {}", self.clip_grad_norm_g));
        }
        let s = &self.lr_schedule;
        if !s.is_constant() {
            parts.push(format!(
                "lr {} (warm-up {}, 0 at step {})",
                s.decay.name(),
                s.warmup,
                s.decay_steps
            ));
        }
        if self.label_smoothing > 0.0 {
            parts.push(format!("real label {}", 1.0 - self.label_smoothing));
        }
        parts.extend(self.regularizers().iter().map(|r| r.name()));
        if self.instance_noise > 0.0 {
            parts.push(format!(
                "instance noise σ {} (annealed over {} steps)",
                self.instance_noise, self.instance_noise_steps
            ));
        }
        if self.pac > 1 {
            parts.push(format!("pac {}", self.pac));
        }
        if let Some(ema) = &self.ema {
            parts.push(format!("EMA β {} from update {}", ema.decay, ema.start + 1));
        }
        if !self.diffaugment.is_none() {
            parts.push(format!("DiffAugment {}", self.diffaugment.name()));
        }
        if self.weight_clip > 0.0 {
            parts.push(format!("critic weights clipped to ±{}", self.weight_clip));
        }
        parts.join(", ")
    }
}

/// PacGAN's packing: `(n·m, d…)` rows become `(n, m·d₀, d₁…)`, each packed row the
/// concatenation of m consecutive rows (vectors end to end, images along channels). A reshape:
/// consecutive rows are contiguous in memory.
pub fn pack(x: &Tensor, m: usize) -> candle_core::Result<Tensor> {
    let dims = x.dims();
    if dims.len() < 2 || !dims[0].is_multiple_of(m) {
        bail!("packing {m} samples needs a batch whose row count it divides, got shape {dims:?}");
    }
    let mut packed = dims.to_vec();
    packed[0] /= m;
    packed[1] *= m;
    x.reshape(packed)
}
