//! [`GanTrainer`]: a generic GAN trainer, parameterized by a [`GanLoss`] and an optional
//! [`Regularizer`], implementing the plugin API's [`Trainer`].
//!
//! One [`Trainer::train_step`] is `n_critic` discriminator updates, each on its own `batch_size`
//! slice of the step's rows, followed by one generator update, so
//! `rows_per_step = batch_size × n_critic`. Discriminator updates evaluate real and fake rows in
//! one forward pass (one spectral-norm power iteration per update); the generator update runs the
//! discriminator with `train = false` (no power iteration, the σ of the last critic update).
//!
//! The common parameters of all GAN plugins are declared once ([`param_specs`]) with per-plugin
//! defaults ([`GanDefaults`]), so that a plugin only adds its own.
//!
//! Architectures ([`GanArch`], parameter `arch`): `Mlp` (the default; `hidden`, `layers`,
//! `g_output`) or `Dcgan`, the convolutional networks of [`crate::dcgan`] for `[C, S, S]` images
//! (`channels`; the generator ends in tanh, for data in [-1, 1]). `g_activation`/`d_activation`
//! apply to both. A DCGAN discriminator uses batch norm in its hidden conv layers unless it has
//! spectral norm (`spectral_norm`) or the plugin turns it off ([`GanConfig::without_critic_batch_norm`],
//! as WGAN-GP must: its penalty is per example).
//!
//! Batch norm: the generator and a batch-norm discriminator normalize with batch statistics
//! whenever they train or train the other network (as in the DCGAN reference implementation,
//! which also feeds real and fake rows to such a discriminator as separate batches); samples are
//! drawn in evaluation mode, with the running statistics, so that each sample depends on its own
//! latent only (not on how many are drawn at once).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use ganbench_plugin_api::{
    Batch, Description, Metrics, ParamSpec, Params, PluginResult, Samples, Trainer, TrialConfig,
};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, Stateful};
use crate::dcgan::{
    ConvDiscriminator, ConvDiscriminatorConfig, ConvGenerator, ConvGeneratorConfig, ConvInit,
    ImageShape, Normalization,
};
use crate::ema::Ema;
use crate::fixes::{self, GanFixes};
use crate::loss::{GanLoss, OneSidedLabelSmoothing};
use crate::nn::{Activation, Mlp, MlpConfig, Network};
use crate::optim::{clip_grad_norm, AdamConfig, Optimizer};
use crate::rng::{stream, SeededRng};
use crate::{Error, Result, Vars};

/// An extra discriminator loss term computed from the critic itself (e.g. the gradient penalty).
pub trait Regularizer: Send + Sync {
    /// For descriptions, e.g. `gradient penalty (λ = 10)`.
    fn name(&self) -> String;
    /// The metric under which the term's value is reported, e.g. `gp`.
    fn metric(&self) -> &'static str;
    /// Lazy regularization (Karras et al. 2020): the term is computed every `interval`-th critic
    /// update only, and the trainer multiplies it by `interval` then. 1: every update.
    fn interval(&self) -> u64 {
        1
    }
    /// The (weighted) term to add to the critic's loss. `critic` is the discriminator as used
    /// within the current update; `real` and `fake` are this update's batches.
    fn critic_penalty(
        &self,
        critic: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
        real: &Tensor,
        fake: &Tensor,
        rng: &mut SeededRng,
    ) -> candle_core::Result<Tensor>;
}

/// Per-plugin defaults of the common GAN parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct GanDefaults {
    pub lr_g: f64,
    pub lr_d: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub batch_size: i64,
    pub latent_dim: i64,
    pub hidden: i64,
    pub layers: i64,
    pub n_critic: i64,
    pub g_activation: &'static str,
    pub d_activation: &'static str,
    /// `Dcgan`'s base width.
    pub channels: i64,
    /// The `optimizer` parameter's default: `adam`, `sgd` or `rmsprop`.
    pub optimizer: &'static str,
}

impl Default for GanDefaults {
    /// Tuned on the toy `ring8` mixture: with these, the `gan` plugin covers all 8 modes within
    /// ~1200 steps (2e-4, the usual image setting, needs about twice as many).
    fn default() -> Self {
        Self {
            lr_g: 5e-4,
            lr_d: 5e-4,
            beta1: 0.5,
            beta2: 0.999,
            batch_size: 256,
            latent_dim: 8,
            hidden: 256,
            layers: 2,
            n_critic: 1,
            g_activation: "relu",
            d_activation: "leaky_relu",
            channels: 32,
            optimizer: "adam",
        }
    }
}

/// The parameters every GAN plugin accepts, with the given defaults, grouped for
/// `ganbench plugins` ([`fixes::group`]): the model, its optimization, and the stability fixes
/// of [`fixes::param_specs`] (all off by default). Ranges for learning rates and β₁ cover the
/// wide search ranges of Lucic et al. (2018).
pub fn param_specs(d: &GanDefaults) -> Vec<ParamSpec> {
    use fixes::group::{MODEL, OPTIMIZATION};
    let mut specs = vec![
        ParamSpec::int(
            "latent_dim",
            d.latent_dim,
            1,
            4096,
            "dimension of the generator's Gaussian noise",
        )
        .in_group(MODEL),
        ParamSpec::int(
            "hidden",
            d.hidden,
            1,
            8192,
            "units per hidden layer, both networks",
        )
        .in_group(MODEL),
        ParamSpec::int("layers", d.layers, 1, 16, "hidden layers per network").in_group(MODEL),
        ParamSpec::int(
            "g_hidden",
            0,
            0,
            8192,
            "Mlp generator's units per hidden layer when they differ from the discriminator's \
             (PacGAN's 2D generator: 400); 0 = `hidden`",
        )
        .in_group(MODEL)
        .keyless_default(),
        ParamSpec::int(
            "g_layers",
            0,
            0,
            16,
            "Mlp generator's hidden layers (PacGAN's 2D generator: 4); 0 = `layers`",
        )
        .in_group(MODEL)
        .keyless_default(),
        ParamSpec::int(
            "d_hidden",
            0,
            0,
            8192,
            "Mlp discriminator's units per hidden layer (PacGAN's 2D discriminator: 200); 0 = \
             `hidden`",
        )
        .in_group(MODEL)
        .keyless_default(),
        ParamSpec::int(
            "d_layers",
            0,
            0,
            16,
            "Mlp discriminator's hidden layers (PacGAN's 2D discriminator: 3); 0 = `layers`",
        )
        .in_group(MODEL)
        .keyless_default(),
        ParamSpec::choice(
            "g_activation",
            d.g_activation,
            &Activation::NAMES[..4],
            "generator hidden activation",
        )
        .in_group(MODEL),
        ParamSpec::choice(
            "d_activation",
            d.d_activation,
            &["relu", "leaky_relu", "tanh", "sigmoid", "maxout"],
            "discriminator hidden activation; maxout (Goodfellow et al. 2013, Mlp): each unit the \
             largest of `maxout_pieces` linear pieces",
        )
        .in_group(MODEL),
        ParamSpec::int(
            "maxout_pieces",
            5,
            2,
            16,
            "pieces per maxout unit (d_activation = maxout; PacGAN's 2D discriminator: 5)",
        )
        .in_group(MODEL)
        .keyless_default(),
        ParamSpec::bool(
            "g_batch_norm",
            false,
            "batch norm before the activation of every Mlp generator hidden layer, whose linear \
             maps then have no bias (PacGAN's and VEEGAN's 2D generators)",
        )
        .in_group(MODEL)
        .keyless_default(),
        ParamSpec::float(
            "init_std",
            0.0,
            0.0,
            1.0,
            "Mlp weights drawn from N(0, init_std²) and biases 0 (PacGAN's 2D code: 0.02); 0 = \
             PyTorch's default U(±1/√fan_in)",
        )
        .in_group(MODEL)
        .keyless_default(),
        ParamSpec::choice(
            "g_output",
            "none",
            &["none", "tanh"],
            "Mlp generator output activation (tanh for data in [-1, 1]; Dcgan always ends in tanh)",
        )
        .in_group(MODEL),
        arch_spec(),
        channels_spec(d.channels),
        ParamSpec::float(
            "lr_g",
            d.lr_g,
            1e-6,
            1.0,
            "generator learning rate, any optimizer (two time-scale updates, TTUR: Heusel et al. \
             2017 give the discriminator the larger rate, e.g. lr_d 4e-4 with lr_g 1e-4)",
        )
        .in_group(OPTIMIZATION),
        ParamSpec::float(
            "lr_d",
            d.lr_d,
            1e-6,
            1.0,
            "discriminator learning rate, any optimizer (see lr_g for TTUR)",
        )
        .in_group(OPTIMIZATION),
        ParamSpec::float("beta1", d.beta1, 0.0, 0.999, "Adam β₁, both networks")
            .in_group(OPTIMIZATION),
        ParamSpec::float("beta2", d.beta2, 0.0, 0.9999, "Adam β₂, both networks")
            .in_group(OPTIMIZATION),
        ParamSpec::int(
            "batch_size",
            d.batch_size,
            1,
            65_536,
            "rows per discriminator or generator update",
        )
        .in_group(OPTIMIZATION),
        ParamSpec::int(
            "n_critic",
            d.n_critic,
            1,
            100,
            "discriminator updates per generator update",
        )
        .in_group(OPTIMIZATION),
    ];
    specs.extend(fixes::param_specs(d.optimizer));
    specs
}

/// The `arch` parameter: `Mlp` or `Dcgan` (see [`GanArch`]; the VAE takes it too).
pub fn arch_spec() -> ParamSpec {
    ParamSpec::choice(
        "arch",
        "Mlp",
        &["Mlp", "Dcgan"],
        "networks: MLPs (hidden, layers), or DCGAN-style convolutional networks for [C, S, S] \
         images such as 1×28×28 or 3×32×32 (channels)",
    )
    .in_group(fixes::group::MODEL)
}

/// The `channels` parameter: the DCGAN networks' base width.
pub fn channels_spec(default: i64) -> ParamSpec {
    ParamSpec::int(
        "channels",
        default,
        1,
        1024,
        "Dcgan: feature maps of the first discriminator conv and the last generator hidden \
         layer, doubled at every halving of the image side",
    )
    .in_group(fixes::group::MODEL)
}

/// The `arch` parameter's value: whether the networks are convolutional, and their base width
/// (`None` for `Mlp`). A missing declaration means `Mlp`; `Dcgan` on data that is not a square
/// image is refused here, before anything is built.
pub fn conv_channels(params: &Params, data_shape: &[usize]) -> Result<Option<usize>> {
    if params.get("arch").is_none() {
        return Ok(None);
    }
    match params.str("arch")? {
        "Mlp" => Ok(None),
        "Dcgan" => {
            ImageShape::from_data_shape(data_shape).map_err(|e| {
                Error::msg(format!(
                    "parameter `arch = Dcgan`: {e}; use `arch = Mlp` for this data"
                ))
            })?;
            Ok(Some(params.usize("channels")?))
        }
        other => Err(Error::msg(format!(
            "parameter `arch`: unknown architecture `{other}` (expected Mlp or Dcgan)"
        ))),
    }
}

/// Which networks a [`GanTrainer`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum GanArch {
    /// [`Mlp`]s of `hidden` widths.
    #[default]
    Mlp,
    /// [`ConvGenerator`] and [`ConvDiscriminator`] (DCGAN init).
    Dcgan {
        /// Base width.
        channels: usize,
        /// Batch norm in the discriminator's hidden conv layers (ignored with spectral norm).
        critic_batch_norm: bool,
    },
}

/// The optional `spectral_norm` switch for plugins that let the user choose.
pub fn spectral_norm_spec(default: bool) -> ParamSpec {
    ParamSpec::bool(
        "spectral_norm",
        default,
        "spectral norm on every discriminator layer (Miyato et al. 2018)",
    )
    .in_group(fixes::group::REGULARIZATION)
}

/// Everything that defines a GAN trainer's architecture and optimization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GanConfig {
    /// Shape of one example, e.g. `[2]`.
    pub data_shape: Vec<usize>,
    pub latent_dim: usize,
    /// Hidden layer widths of both MLPs.
    pub hidden: Vec<usize>,
    pub g_activation: Activation,
    pub d_activation: Activation,
    pub g_output: Activation,
    pub spectral_norm: bool,
    pub batch_size: usize,
    pub n_critic: usize,
    pub adam_g: AdamConfig,
    pub adam_d: AdamConfig,
    /// Missing in checkpoints written before architectures existed: those are MLPs.
    #[serde(default)]
    pub arch: GanArch,
    /// The stability fixes (all off in checkpoints written before they existed). The optimizer
    /// they choose runs at `adam_g.lr` / `adam_d.lr`.
    #[serde(default)]
    pub fixes: GanFixes,
    /// The MLPs' own widths when the networks differ (`g_hidden`/`g_layers`,
    /// `d_hidden`/`d_layers`, as in PacGAN's 2D experiments); `None`: `hidden` for both.
    #[serde(default)]
    pub g_hidden: Option<Vec<usize>>,
    #[serde(default)]
    pub d_hidden: Option<Vec<usize>>,
    /// Batch norm in the generator MLP's hidden layers (`g_batch_norm`).
    #[serde(default)]
    pub g_batch_norm: bool,
    /// Maxout pieces of the discriminator MLP's hidden units (`d_activation = maxout`); 0: none.
    #[serde(default)]
    pub d_maxout: usize,
    /// Both MLPs' initial weights N(0, init_std²) and biases 0 (`init_std`); 0: PyTorch's init.
    #[serde(default)]
    pub init_std: f64,
}

impl GanConfig {
    /// Reads the parameters declared by [`param_specs`] (and `spectral_norm` when declared).
    pub fn from_params(params: &Params, data_shape: &[usize]) -> Result<Self> {
        let act = |name: &str| Activation::from_param(params, name);
        let adam = |lr: f64| AdamConfig::from_params(params, lr);
        if data_shape.is_empty() || data_shape.contains(&0) {
            return Err(Error::msg(format!("bad data shape {data_shape:?}")));
        }
        let spectral_norm = match params.get("spectral_norm") {
            Some(_) => params.bool("spectral_norm")?,
            None => false,
        };
        let arch = match conv_channels(params, data_shape)? {
            None => GanArch::Mlp,
            Some(channels) => GanArch::Dcgan {
                channels,
                critic_batch_norm: true,
            },
        };
        let batch_size = params.usize("batch_size")?;
        let (width, depth) = (params.usize("hidden")?, params.usize("layers")?);
        // `g_hidden`, `g_layers`, …: 0 (or undeclared, in plugins of their own) keeps `hidden`
        // and `layers`.
        let own = |width_param: &str, depth_param: &str| -> Result<Option<Vec<usize>>> {
            let get = |name: &str| match params.get(name) {
                Some(_) => params.usize(name),
                None => Ok(0),
            };
            let (w, l) = (get(width_param)?, get(depth_param)?);
            Ok((w > 0 || l > 0)
                .then(|| vec![if w > 0 { w } else { width }; if l > 0 { l } else { depth }]))
        };
        let d_maxout = match params.get("d_activation") {
            Some(_) if params.str("d_activation")? == "maxout" => params.usize("maxout_pieces")?,
            _ => 0,
        };
        let flag = |name: &str| match params.get(name) {
            Some(_) => params.bool(name),
            None => Ok(false),
        };
        let init_std = match params.get("init_std") {
            Some(_) => params.f64("init_std")?,
            None => 0.0,
        };
        Ok(Self {
            data_shape: data_shape.to_vec(),
            latent_dim: params.usize("latent_dim")?,
            g_hidden: own("g_hidden", "g_layers")?,
            d_hidden: own("d_hidden", "d_layers")?,
            g_batch_norm: flag("g_batch_norm")?,
            d_maxout,
            init_std,
            hidden: vec![width; depth],
            g_activation: act("g_activation")?,
            d_activation: if d_maxout > 0 {
                Activation::Identity
            } else {
                act("d_activation")?
            },
            g_output: act("g_output")?,
            spectral_norm,
            batch_size,
            n_critic: params.usize("n_critic")?,
            adam_g: adam(params.f64("lr_g")?)?,
            adam_d: adam(params.f64("lr_d")?)?,
            arch,
            fixes: GanFixes::from_params(params, data_shape, batch_size)?,
        })
    }

    /// Rows one discriminator or generator update draws: `batch_size` discriminator inputs of
    /// `pac` samples each.
    pub fn rows_per_update(&self) -> usize {
        self.batch_size * self.fixes.pac
    }

    /// The same configuration with a DCGAN discriminator without batch norm (a WGAN-GP critic).
    pub fn without_critic_batch_norm(self) -> Self {
        let arch = match self.arch {
            GanArch::Dcgan { channels, .. } => GanArch::Dcgan {
                channels,
                critic_batch_norm: false,
            },
            GanArch::Mlp => GanArch::Mlp,
        };
        Self { arch, ..self }
    }

    fn data_len(&self) -> usize {
        self.data_shape.iter().product()
    }

    /// The generator MLP: latent → hidden… → data (flattened).
    pub fn generator_mlp(&self) -> MlpConfig {
        MlpConfig {
            input: self.latent_dim,
            hidden: self.g_hidden.clone().unwrap_or_else(|| self.hidden.clone()),
            output: self.data_len(),
            activation: self.g_activation,
            output_activation: self.g_output,
            spectral_norm: false,
            minibatch_std: 0,
            batch_norm: self.g_batch_norm,
            maxout: 0,
            init_std: self.init_std,
        }
    }

    /// The discriminator MLP: data (flattened) → hidden… → one logit.
    pub fn discriminator_mlp(&self) -> MlpConfig {
        MlpConfig {
            input: self.data_len() * self.fixes.pac,
            hidden: self.d_hidden.clone().unwrap_or_else(|| self.hidden.clone()),
            output: 1,
            activation: self.d_activation,
            output_activation: Activation::Identity,
            spectral_norm: self.spectral_norm,
            minibatch_std: self.fixes.minibatch_std,
            batch_norm: false,
            maxout: self.d_maxout,
            init_std: self.init_std,
        }
    }

    fn image(&self) -> Result<ImageShape> {
        ImageShape::from_data_shape(&self.data_shape).map_err(Error::msg)
    }

    /// The DCGAN generator (with batch norm, tanh output), or `None` for `Mlp`.
    pub fn generator_conv(&self) -> Result<Option<ConvGeneratorConfig>> {
        let GanArch::Dcgan { channels, .. } = self.arch else {
            return Ok(None);
        };
        Ok(Some(ConvGeneratorConfig {
            latent_dim: self.latent_dim,
            image: self.image()?,
            channels,
            batch_norm: true,
            activation: self.g_activation,
            output_activation: Activation::Tanh,
            init: ConvInit::Dcgan,
        }))
    }

    /// The DCGAN discriminator (spectral norm, batch norm or neither), or `None` for `Mlp`.
    pub fn discriminator_conv(&self) -> Result<Option<ConvDiscriminatorConfig>> {
        let GanArch::Dcgan {
            channels,
            critic_batch_norm,
        } = self.arch
        else {
            return Ok(None);
        };
        let normalization = if self.spectral_norm {
            Normalization::SpectralNorm
        } else if critic_batch_norm {
            Normalization::BatchNorm
        } else {
            Normalization::None
        };
        // Packed samples are stacked along the channels.
        let image = self.image()?;
        Ok(Some(ConvDiscriminatorConfig {
            image: ImageShape {
                channels: image.channels * self.fixes.pac,
                ..image
            },
            channels,
            normalization,
            activation: self.d_activation,
            outputs: 1,
            init: ConvInit::Dcgan,
            minibatch_std: self.fixes.minibatch_std,
        }))
    }
}

/// A network and its variables.
pub struct Model {
    pub net: Box<dyn Network>,
    pub vars: Vars,
}

/// A GAN trainer: generator, discriminator, their optimizers, a loss, an optional regularizer,
/// the stability fixes of [`GanConfig::fixes`] and the training generator states.
pub struct GanTrainer {
    config: GanConfig,
    device: Device,
    g: Model,
    d: Model,
    opt_g: Box<dyn Optimizer>,
    opt_d: Box<dyn Optimizer>,
    loss: Box<dyn GanLoss>,
    /// The plugin's own regularizer (WGAN-GP's penalty), drawing from the training generator.
    regularizer: Option<Box<dyn Regularizer>>,
    /// The fixes' regularizers (R1, R2, DRAGAN, bCR), drawing from `fix_rng`.
    fix_regularizers: Vec<Box<dyn Regularizer>>,
    rng: SeededRng,
    /// The fixes' random numbers ([`stream::FIXES`]).
    fix_rng: SeededRng,
    /// The generator's moving average (`ema_decay`).
    ema: Option<Ema>,
    step: u64,
}

/// What one discriminator update reports.
struct CriticStats {
    loss: f64,
    penalty: f64,
    real: f64,
    fake: f64,
    /// Per fix regularizer: its value, when this update computed it.
    fix_penalties: Vec<Option<f64>>,
    /// The gradient norm before clipping, when clipping is on.
    grad_norm: Option<f64>,
}

impl GanTrainer {
    /// A trainer for a plugin's trial: reads the common parameters, builds MLPs on the trial's
    /// device. Plugins adjust the config first with [`GanTrainer::from_config`] if needed.
    pub fn from_trial(
        trial: &TrialConfig,
        loss: Box<dyn GanLoss>,
        regularizer: Option<Box<dyn Regularizer>>,
    ) -> Result<Self> {
        let config = GanConfig::from_params(&trial.params, &trial.data_shape)?;
        Self::from_config(
            config,
            trial.seed,
            &crate::device(trial.device)?,
            loss,
            regularizer,
        )
    }

    /// The generator and discriminator of `config.arch`, initialized from `seed`.
    pub fn from_config(
        config: GanConfig,
        seed: u64,
        device: &Device,
        loss: Box<dyn GanLoss>,
        regularizer: Option<Box<dyn Regularizer>>,
    ) -> Result<Self> {
        let g_vars = Vars::new(DType::F32, device);
        let g_rng = &mut SeededRng::with_stream(seed, stream::G_INIT);
        let g: Box<dyn Network> = match config.generator_conv()? {
            Some(conv) => Box::new(ConvGenerator::new(&conv, &g_vars, g_rng)?),
            None => Box::new(Mlp::new(&config.generator_mlp(), &g_vars, g_rng)?),
        };
        let d_vars = Vars::new(DType::F32, device);
        let d_rng = &mut SeededRng::with_stream(seed, stream::D_INIT);
        let d: Box<dyn Network> = match config.discriminator_conv()? {
            Some(conv) => Box::new(ConvDiscriminator::new(&conv, &d_vars, d_rng)?),
            None => Box::new(Mlp::new(&config.discriminator_mlp(), &d_vars, d_rng)?),
        };
        let g = Model {
            net: g,
            vars: g_vars,
        };
        let d = Model {
            net: d,
            vars: d_vars,
        };
        Self::new(config, g, d, seed, loss, regularizer)
    }

    /// A trainer over any networks (e.g. convolutional ones): the generator maps
    /// `(n, latent_dim)` to `n` examples (any shape with `n` rows), the discriminator maps a batch
    /// of `(n, data_shape…)` to `(n, 1)` or `(n,)` logits (with `pac > 1`, packed rows: see
    /// [`fixes::pack`]).
    pub fn new(
        config: GanConfig,
        g: Model,
        d: Model,
        seed: u64,
        loss: Box<dyn GanLoss>,
        regularizer: Option<Box<dyn Regularizer>>,
    ) -> Result<Self> {
        if config.batch_size == 0 || config.n_critic == 0 {
            return Err(Error::msg("batch_size and n_critic must be at least 1"));
        }
        let fixes = &config.fixes;
        fixes.check(&config.data_shape, config.batch_size)?;
        let fix_regularizers = fixes.regularizers();
        if d.net.batch_statistics() {
            if let Some(reg) = regularizer.iter().chain(&fix_regularizers).next() {
                return Err(Error::msg(format!(
                    "{} needs a discriminator whose rows are independent, but {} normalizes with \
                     batch statistics: build it without batch norm (e.g. spectral_norm = true)",
                    reg.name(),
                    d.net.summary()
                )));
            }
        }
        let loss = match fixes.label_smoothing {
            0.0 => loss,
            s => Box::new(OneSidedLabelSmoothing::new(loss, s).map_err(Error::msg)?),
        };
        let opt_g = fixes.optimizer.build(g.vars.params(), config.adam_g)?;
        let opt_d = fixes.optimizer.build(d.vars.params(), config.adam_d)?;
        let ema = match fixes.ema {
            Some(c) => Some(Ema::new(g.vars.params(), c)?),
            None => None,
        };
        Ok(Self {
            device: g.vars.device().clone(),
            config,
            g,
            d,
            opt_g,
            opt_d,
            loss,
            regularizer,
            fix_regularizers,
            rng: SeededRng::with_stream(seed, stream::TRAIN),
            fix_rng: SeededRng::with_stream(seed, stream::FIXES),
            ema,
            step: 0,
        })
    }

    pub fn config(&self) -> &GanConfig {
        &self.config
    }

    /// Completed training steps.
    pub fn step(&self) -> u64 {
        self.step
    }

    pub fn generator(&self) -> &Model {
        &self.g
    }

    pub fn discriminator(&self) -> &Model {
        &self.d
    }

    /// The generator's moving average, when `ema_decay` is on.
    pub fn ema(&self) -> Option<&Ema> {
        self.ema.as_ref()
    }

    fn generate(&self, z: &Tensor, train: bool) -> Result<Tensor> {
        let x = self.g.net.forward_t(z, train)?;
        let mut dims = vec![z.dim(0)?];
        dims.extend(&self.config.data_shape);
        Ok(x.reshape(dims)?)
    }

    fn logits(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.d.net.forward_t(x, train)?.flatten_all()
    }

    /// One discriminator update on `real` (`batch_size × pac` rows); `update` counts the critic
    /// updates before this one (for lazy regularization).
    fn critic_update(&mut self, real: &Tensor, update: u64) -> Result<CriticStats> {
        let rows = real.dim(0)?;
        let z = self
            .rng
            .normal((rows, self.config.latent_dim), &self.device)?;
        let fake = self.generate(&z, true)?.detach();
        let fixes = &self.config.fixes;
        // What the discriminator sees (augmented, noised, packed: the fixes that are on).
        let real = fixes.critic_input(real, &mut self.fix_rng, self.step)?;
        let fake = fixes.critic_input(&fake, &mut self.fix_rng, self.step)?;
        let b = real.dim(0)?;
        // Batch norm, or a minibatch standard deviation whose groups must not mix real and fake.
        let separate = self.d.net.batch_statistics() || fixes.minibatch_std > 0;
        let (lr, lf) = if separate {
            // Real and fake rows as separate batches, as in the DCGAN and ProGAN references.
            (self.logits(&real, true)?, self.logits(&fake, true)?)
        } else {
            // Real and fake rows in one pass: one power iteration per update, one matmul per layer.
            let logits = self.logits(&Tensor::cat(&[&real, &fake], 0)?, true)?;
            (logits.narrow(0, 0, b)?, logits.narrow(0, b, b)?)
        };
        let mut loss = self.loss.d_loss(&lr, &lf)?;
        let d = &self.d.net;
        let critic = |x: &Tensor| d.forward_t(x, false);
        let mut penalty = 0.0;
        if let Some(reg) = &self.regularizer {
            let p = reg.critic_penalty(&critic, &real, &fake, &mut self.rng)?;
            penalty = scalar(&p)?;
            loss = (loss + p)?;
        }
        let mut fix_penalties = Vec::with_capacity(self.fix_regularizers.len());
        for reg in &self.fix_regularizers {
            let interval = reg.interval();
            if !update.is_multiple_of(interval) {
                fix_penalties.push(None);
                continue;
            }
            let p = reg.critic_penalty(&critic, &real, &fake, &mut self.fix_rng)?;
            fix_penalties.push(Some(scalar(&p)?));
            let p = if interval > 1 {
                (p * interval as f64)?
            } else {
                p
            };
            loss = (loss + p)?;
        }
        let mut grads = loss.backward()?;
        let grad_norm = match fixes.clip_grad_norm_d {
            0.0 => None,
            max => Some(clip_grad_norm(&mut grads, &self.d.vars.params(), max)?),
        };
        self.opt_d.step(&grads)?;
        if fixes.weight_clip > 0.0 {
            let c = fixes.weight_clip;
            for (_, p) in self.d.vars.params() {
                p.set(&p.as_tensor().detach().clamp(-c, c)?)?;
            }
        }
        Ok(CriticStats {
            loss: scalar(&loss)?,
            penalty,
            real: scalar(&lr.mean_all()?)?,
            fake: scalar(&lf.mean_all()?)?,
            fix_penalties,
            grad_norm,
        })
    }

    /// One generator update; returns its loss and, when clipping, the gradient norm.
    fn generator_update(&mut self) -> Result<(f64, Option<f64>)> {
        let z = self.rng.normal(
            (self.config.rows_per_update(), self.config.latent_dim),
            &self.device,
        )?;
        let fake = self.generate(&z, true)?;
        let fake = self
            .config
            .fixes
            .critic_input(&fake, &mut self.fix_rng, self.step)?;
        // A batch-norm discriminator judges in training mode, the mode it is trained in; any other
        // with `train = false` (spectral norm keeps the σ of the last critic update).
        let d_train = self.d.net.batch_statistics();
        let loss = self.loss.g_loss(&self.logits(&fake, d_train)?)?;
        let d_params: Vec<Tensor> = self
            .d
            .vars
            .params()
            .into_iter()
            .map(|(_, v)| v.as_tensor().clone())
            .collect();
        let mut grads = crate::kernels::skipping_gradients(&d_params, || loss.backward())?;
        let grad_norm = match self.config.fixes.clip_grad_norm_g {
            0.0 => None,
            max => Some(clip_grad_norm(&mut grads, &self.g.vars.params(), max)?),
        };
        self.opt_g.step(&grads)?;
        if let Some(ema) = &mut self.ema {
            ema.update(self.step + 1)?;
        }
        Ok((scalar(&loss)?, grad_norm))
    }

    fn train(&mut self, batch: Batch<'_>) -> Result<Metrics> {
        let rows = check_batch(batch, &self.config.data_shape, self.rows_per_step())?;
        let data = Tensor::from_slice(batch.data, batch.shape, &self.device)?;
        let schedule = self.config.fixes.lr_schedule;
        let lr_scale = (!schedule.is_constant()).then(|| schedule.factor(self.step));
        if let Some(f) = lr_scale {
            self.opt_d.set_learning_rate(self.config.adam_d.lr * f);
            self.opt_g.set_learning_rate(self.config.adam_g.lr * f);
        }
        let b = self.config.rows_per_update();
        let n_critic = self.config.n_critic;
        let mut sums = [0.0; 4];
        let mut fix_sums = vec![(0.0, 0usize); self.fix_regularizers.len()];
        let mut grad_norm_d = 0.0;
        for k in 0..n_critic {
            let update = self.step * n_critic as u64 + k as u64;
            let r = self.critic_update(&data.narrow(0, k * b, b)?, update)?;
            sums.iter_mut()
                .zip([r.loss, r.penalty, r.real, r.fake])
                .for_each(|(s, x)| *s += x);
            for (acc, p) in fix_sums.iter_mut().zip(&r.fix_penalties) {
                if let Some(p) = p {
                    *acc = (acc.0 + p, acc.1 + 1);
                }
            }
            grad_norm_d += r.grad_norm.unwrap_or(0.0);
        }
        debug_assert_eq!(rows, b * n_critic);
        let n = n_critic as f64;
        let [loss_d, penalty, real, fake] = sums.map(|s| s / n);
        let (loss_g, grad_norm_g) = self.generator_update()?;
        let noise = self.config.fixes.noise_std(self.step);
        self.step += 1;
        let mut m: Metrics = vec![("loss_d".into(), loss_d), ("loss_g".into(), loss_g)];
        if let Some(reg) = &self.regularizer {
            m.push((reg.metric().into(), penalty));
        }
        m.extend(
            self.loss
                .critic_metrics(real, fake)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        );
        m.push(("d_real".into(), real));
        m.push(("d_fake".into(), fake));
        // The fixes' own metrics, only when on (and a lazy penalty only at the steps computing it).
        for (reg, (sum, count)) in self.fix_regularizers.iter().zip(fix_sums) {
            if count > 0 {
                m.push((reg.metric().into(), sum / count as f64));
            }
        }
        if self.config.fixes.clip_grad_norm_d > 0.0 {
            m.push(("grad_norm_d".into(), grad_norm_d / n));
        }
        if let Some(g) = grad_norm_g {
            m.push(("grad_norm_g".into(), g));
        }
        if let Some(f) = lr_scale {
            m.push(("lr_scale".into(), f));
        }
        if self.config.fixes.instance_noise > 0.0 {
            m.push(("instance_noise".into(), noise));
        }
        Ok(m)
    }

    /// `n` samples from latents drawn by a fresh generator seeded with `seed` (independent of
    /// the training noise).
    pub fn generate_samples(&self, n: usize, seed: u64) -> Result<Samples> {
        let mut rng = SeededRng::with_stream(seed, stream::SAMPLE);
        let z = rng.normal((n, self.config.latent_dim), &self.device)?;
        let x = match self.config.arch {
            GanArch::Mlp => self.generate(&z, false)?,
            // Conv activations of thousands of samples at once would take gigabytes.
            GanArch::Dcgan { .. } => {
                let chunks = (0..n)
                    .step_by(SAMPLE_CHUNK)
                    .map(|i| self.generate(&z.narrow(0, i, SAMPLE_CHUNK.min(n - i))?, false))
                    .collect::<Result<Vec<_>>>()?;
                Tensor::cat(&chunks, 0)?
            }
        };
        let mut shape = vec![n];
        shape.extend(&self.config.data_shape);
        Ok(Samples {
            data: x.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?,
            shape,
        })
    }

    /// [`GanTrainer::generate_samples`] from the averaged generator (same latents), or `None`
    /// without `ema_decay`.
    pub fn generate_averaged_samples(&self, n: usize, seed: u64) -> Result<Option<Samples>> {
        match &self.ema {
            Some(ema) => ema.swapped_in(|| self.generate_samples(n, seed)).map(Some),
            None => Ok(None),
        }
    }

    /// Writes the full training state into `dir`.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        let mut ck = Checkpoint::new();
        ck.insert_meta("kind", &"gan")?;
        ck.insert_meta("config", &self.config)?;
        ck.insert_meta("loss", &self.loss.name())?;
        ck.insert_meta("step", &self.step)?;
        self.g.vars.save_state(&mut ck, "g")?;
        self.d.vars.save_state(&mut ck, "d")?;
        self.opt_g.save_state(&mut ck, "opt_g")?;
        self.opt_d.save_state(&mut ck, "opt_d")?;
        self.rng.save_state(&mut ck, "rng")?;
        self.fix_rng.save_state(&mut ck, "fix_rng")?;
        if let Some(ema) = &self.ema {
            ema.save_state(&mut ck, "g_ema")?;
        }
        ck.save(dir)
    }

    /// Restores what [`GanTrainer::save_checkpoint`] wrote; the configuration must match.
    pub fn load_checkpoint(&mut self, dir: &Path) -> Result<()> {
        let ck = Checkpoint::load(dir, &self.device)?;
        let kind: String = ck.meta("kind")?;
        let config: GanConfig = ck.meta("config")?;
        let loss: String = ck.meta("loss")?;
        if kind != "gan" || config != self.config || loss != self.loss.name() {
            return Err(Error::msg(format!(
                "checkpoint in {} was written by a different configuration ({kind}, loss {loss}, {config:?}); \
                 this trainer has loss {} and {:?}",
                dir.display(),
                self.loss.name(),
                self.config
            )));
        }
        self.g.vars.load_state(&ck, "g")?;
        self.d.vars.load_state(&ck, "d")?;
        self.opt_g.load_state(&ck, "opt_g")?;
        self.opt_d.load_state(&ck, "opt_d")?;
        self.rng.load_state(&ck, "rng")?;
        // Checkpoints from before the fixes have no fix generator (and no fix used one).
        if ck.meta_value("fix_rng").is_some() {
            self.fix_rng.load_state(&ck, "fix_rng")?;
        }
        if let Some(ema) = &mut self.ema {
            ema.load_state(&ck, "g_ema")?;
        }
        self.step = ck.meta("step")?;
        Ok(())
    }

    pub fn description(&self) -> Description {
        let c = &self.config;
        let reg = self
            .regularizer
            .as_ref()
            .map(|r| format!(" + {}", r.name()))
            .unwrap_or_default();
        let optimizer = c.fixes.optimizer.describe_pair(&c.adam_g, &c.adam_d);
        let fixes = match c.fixes.summary() {
            s if s.is_empty() => s,
            s => format!("; fixes: {s}"),
        };
        Description {
            parameters: (self.g.vars.param_count() + self.d.vars.param_count()) as u64,
            architecture: format!(
                "G: {}; D: {}; loss {}{reg}; {optimizer}; batch {} × n_critic {}; latent {}{fixes}",
                self.g.net.summary(),
                self.d.net.summary(),
                self.loss.name(),
                c.batch_size,
                c.n_critic,
                c.latent_dim
            ),
        }
    }
}

impl Trainer for GanTrainer {
    fn rows_per_step(&self) -> usize {
        self.config.rows_per_update() * self.config.n_critic
    }

    fn train_step(&mut self, batch: Batch<'_>) -> PluginResult<Metrics> {
        Ok(self.train(batch)?)
    }

    fn sample(&mut self, n: usize, seed: u64) -> PluginResult<Samples> {
        Ok(self.generate_samples(n, seed)?)
    }

    fn sample_averaged(&mut self, n: usize, seed: u64) -> PluginResult<Option<Samples>> {
        Ok(self.generate_averaged_samples(n, seed)?)
    }

    fn save(&self, dir: &Path) -> PluginResult<()> {
        Ok(self.save_checkpoint(dir)?)
    }

    fn load(&mut self, dir: &Path) -> PluginResult<()> {
        Ok(self.load_checkpoint(dir)?)
    }

    fn describe(&self) -> Description {
        self.description()
    }
}

/// Rows per generator pass when sampling from convolutional networks.
pub const SAMPLE_CHUNK: usize = 256;

/// A scalar tensor's value as f64.
pub(crate) fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// Checks a batch's shape: `rows` rows of `data_shape`, values matching; returns the row count.
pub(crate) fn check_batch(batch: Batch<'_>, data_shape: &[usize], rows: usize) -> Result<usize> {
    let ok_shape = batch.shape.len() == data_shape.len() + 1 && &batch.shape[1..] == data_shape;
    let expected: usize = batch.shape.iter().product();
    if !ok_shape || batch.shape[0] != rows || batch.data.len() != expected {
        return Err(Error::msg(format!(
            "expected a batch of shape [{rows}, {}] ({} values), got shape {:?} with {} values",
            data_shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            rows * data_shape.iter().product::<usize>(),
            batch.shape,
            batch.data.len()
        )));
    }
    Ok(rows)
}
