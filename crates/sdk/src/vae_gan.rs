//! [`VaeGanTrainer`]: the VAE-GAN of Larsen et al. (2016), "Autoencoding beyond pixels using a
//! learned similarity metric": a VAE whose decoder is also a GAN's generator, and whose
//! reconstruction error is measured in the discriminator's features instead of in pixels.
//!
//! Networks: an encoder q(z|x) = N(μ(x), diag σ²(x)), a decoder Dec (the generator) and a
//! discriminator D whose hidden layer `l` (`feature_layer`) gives the features Dis_l. With
//! z = μ + σ·ε (ε ~ N(0, I), reparameterization), x̃ = Dec(z) and x_p = Dec(z_p), z_p ~ N(0, I),
//! the losses of the paper's section 2 (means over the batch, per example):
//!
//! - L_prior = KL(q(z|x) ‖ N(0, I)) = −½ Σ (1 + log σ² − μ² − σ²);
//! - L_llike = −log N(Dis_l(x); Dis_l(x̃), I) = ½ ‖Dis_l(x) − Dis_l(x̃)‖² (the constant
//!   ½·F·log 2π dropped);
//! - L_GAN = log D(x) + log(1 − D(x̃)) + log(1 − D(x_p)): reconstructions and prior samples are
//!   both fakes.
//!
//! Algorithm 1 of the paper updates the three networks from one forward pass, each with its own
//! loss: the encoder minimizes β·L_prior + L_llike, the decoder γ·L_llike − L_GAN and the
//! discriminator −L_GAN (it maximizes L_GAN). L_GAN's gradient never reaches the encoder and
//! L_llike's never reaches the discriminator. The decoder uses the non-saturating form of its GAN
//! term, −log D(x̃) − log D(x_p), as every GAN of the SDK does (the minimax log(1 − D) saturates
//! early on); β = 1 is the paper's (β > 1 is the β-VAE weighting).
//!
//! Architectures (`arch`): `Mlp` (`hidden`, `layers`; the decoder has an identity output, as the
//! `gan` plugin's generator) or `Dcgan` for `[C, S, S]` images: the VAE plugin's conv encoder
//! (PyTorch init), a [`ConvGenerator`] decoder ending in tanh (pixels are in [-1, 1]) and a
//! [`ConvDiscriminator`] with DCGAN init. None of the three uses batch norm (the paper's do):
//! L_llike compares each example's features with its reconstruction's, and batch statistics
//! would make an example's features depend on the rest of its batch (and differ between
//! training and evaluation).
//!
//! Metrics: `train_step` reports the GAN side, `loss_d` (−L_GAN) and `loss_g` (the decoder's
//! non-saturating GAN term), `d_real` / `d_fake` (mean logits on data and on both kinds of fake),
//! and the VAE side, `loss_enc` (the encoder's loss), `train_kl` and `train_feature_reconstruction`
//! (L_llike); `evaluate` reports `kl`, `mse` (pixel-space squared error per dimension of the
//! reconstruction from a sampled z) and `feature_reconstruction` (L_llike) on a held-out batch,
//! always with the same noise, so evaluating never changes training. Samples are decoder outputs
//! at z ~ N(0, I): the decoder is a generator, not a noisy likelihood.

use std::path::Path;

use candle_core::backprop::GradStore;
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
use crate::fixes::{self, GanFixes};
use crate::gan::{arch_spec, channels_spec, check_batch, conv_channels, scalar, SAMPLE_CHUNK};
use crate::loss::bce_with_logits;
use crate::nn::{Activation, FeatureNetwork, Mlp, MlpConfig, Network};
use crate::optim::{AdamConfig, Optimizer, OptimizerKind};
use crate::rng::{stream, SeededRng};
use crate::{Error, Result, Vars};

/// The defaults of [`param_specs`] that the docs discuss: γ, the weight of L_llike in the
/// decoder's loss on toy data (see docs/fixes.md, "VAE-GAN").
pub const DEFAULT_GAMMA: f64 = 0.1;

/// The optimizer parameters of the stability-fix catalogue that the VAE-GAN takes too.
const OPTIMIZER_PARAMS: [&str; 4] = ["optimizer", "sgd_momentum", "sgd_nesterov", "rmsprop_alpha"];

/// The VAE-GAN's parameter declarations, grouped like the GAN plugins'.
pub fn param_specs() -> Vec<ParamSpec> {
    use fixes::group::{LOSS, MODEL, OPTIMIZATION};
    let mut specs = vec![
        ParamSpec::int(
            "latent_dim",
            2,
            1,
            4096,
            "dimension of z (the vae plugin's default)",
        )
        .in_group(MODEL),
        ParamSpec::int(
            "hidden",
            256,
            1,
            8192,
            "units per hidden layer, all three networks",
        )
        .in_group(MODEL),
        ParamSpec::int("layers", 2, 1, 16, "hidden layers per network").in_group(MODEL),
        ParamSpec::choice(
            "activation",
            "relu",
            &Activation::NAMES[..4],
            "encoder and decoder hidden activation",
        )
        .in_group(MODEL),
        ParamSpec::choice(
            "d_activation",
            "leaky_relu",
            &Activation::NAMES[..4],
            "discriminator hidden activation",
        )
        .in_group(MODEL),
        arch_spec(),
        channels_spec(32),
        ParamSpec::int(
            "feature_layer",
            0,
            0,
            16,
            "the discriminator's hidden layer l whose activations Dis_l measure the \
             reconstruction error (Mlp: 1 to layers; Dcgan: 1 to the number of convs); 0 = the \
             last hidden layer (the paper used its 4th of 4 conv layers)",
        )
        .in_group(MODEL),
        ParamSpec::float(
            "lr_g",
            5e-4,
            1e-6,
            1.0,
            "learning rate of the encoder and the decoder (generator), any optimizer (paper: \
             RMSProp 3e-4)",
        )
        .in_group(OPTIMIZATION),
        ParamSpec::float(
            "lr_d",
            5e-4,
            1e-6,
            1.0,
            "discriminator learning rate, any optimizer (paper: RMSProp 3e-4)",
        )
        .in_group(OPTIMIZATION),
        ParamSpec::float("beta1", 0.5, 0.0, 0.999, "Adam β₁, all networks").in_group(OPTIMIZATION),
        ParamSpec::float("beta2", 0.999, 0.0, 0.9999, "Adam β₂, all networks")
            .in_group(OPTIMIZATION),
        ParamSpec::int(
            "batch_size",
            256,
            1,
            65_536,
            "rows per update (paper: 64); as many prior samples join them as fakes",
        )
        .in_group(OPTIMIZATION),
    ];
    specs.extend(
        fixes::param_specs("adam")
            .into_iter()
            .filter(|s| OPTIMIZER_PARAMS.contains(&s.name.as_str()))
            .map(|mut s| {
                if s.name == "optimizer" {
                    s.help = "optimizer of all three networks, at lr_g (encoder, decoder) and \
                              lr_d: Adam (the default, as in the other plugins; beta1, beta2), \
                              SGD with momentum (sgd_momentum, sgd_nesterov) or RMSProp (the \
                              paper's; rmsprop_alpha)"
                        .into();
                }
                s
            }),
    );
    specs.push(
        ParamSpec::float(
            "beta",
            1.0,
            0.0,
            1000.0,
            "weight of the prior term KL(q(z|x) ‖ N(0, I)) in the encoder's loss (1 = the paper's)",
        )
        .in_group(LOSS),
    );
    specs.push(
        ParamSpec::float(
            "gamma",
            DEFAULT_GAMMA,
            0.0,
            1e6,
            "γ: weight of the feature reconstruction loss in the decoder's loss γ·L_llike − L_GAN \
             (the decoder's GAN term is non-saturating: −log D(x̃) − log D(x_p)); the paper's 1e-6 \
             was for 64×64 images with a wide feature layer",
        )
        .in_group(LOSS),
    );
    specs
}

/// Which networks a [`VaeGanTrainer`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum VaeGanArch {
    /// [`Mlp`]s of `hidden` widths.
    #[default]
    Mlp,
    /// Conv encoder and discriminator, transposed-conv decoder, of base width `channels`.
    Dcgan { channels: usize },
}

/// Everything that defines a VAE-GAN trainer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeGanConfig {
    pub data_shape: Vec<usize>,
    pub latent_dim: usize,
    /// Hidden widths of the MLPs (their count is the number of hidden layers for `Mlp`).
    pub hidden: Vec<usize>,
    /// Encoder and decoder hidden activation.
    pub activation: Activation,
    pub d_activation: Activation,
    pub arch: VaeGanArch,
    /// The discriminator's hidden layer whose features measure reconstructions (1-based).
    pub feature_layer: usize,
    pub beta: f64,
    pub gamma: f64,
    pub batch_size: usize,
    pub optimizer: OptimizerKind,
    /// Learning rate (and Adam's β) of the encoder and the decoder.
    pub adam_g: AdamConfig,
    pub adam_d: AdamConfig,
}

impl VaeGanConfig {
    /// Reads the parameters declared by [`param_specs`].
    pub fn from_params(params: &Params, data_shape: &[usize]) -> Result<Self> {
        if data_shape.is_empty() || data_shape.contains(&0) {
            return Err(Error::msg(format!("bad data shape {data_shape:?}")));
        }
        let act = |name: &str| Activation::from_param(params, name);
        let adam = |lr: f64| AdamConfig::from_params(params, lr);
        let batch_size = params.usize("batch_size")?;
        let arch = match conv_channels(params, data_shape)? {
            None => VaeGanArch::Mlp,
            Some(channels) => VaeGanArch::Dcgan { channels },
        };
        let hidden = vec![params.usize("hidden")?; params.usize("layers")?];
        let layers = match arch {
            VaeGanArch::Mlp => hidden.len(),
            VaeGanArch::Dcgan { .. } => ImageShape::from_data_shape(data_shape)
                .map_err(Error::msg)?
                .stages(),
        };
        let feature_layer = match params.usize("feature_layer")? {
            0 => layers,
            l if l <= layers => l,
            l => {
                return Err(Error::msg(format!(
                    "parameter `feature_layer = {l}`: the discriminator has hidden layers 1 to \
                     {layers} here; use one of them, or 0 for the last"
                )))
            }
        };
        Ok(Self {
            data_shape: data_shape.to_vec(),
            latent_dim: params.usize("latent_dim")?,
            hidden,
            activation: act("activation")?,
            d_activation: act("d_activation")?,
            arch,
            feature_layer,
            beta: params.f64("beta")?,
            gamma: params.f64("gamma")?,
            batch_size,
            // Only the optimizer parameters are declared: every other fix stays off.
            optimizer: GanFixes::from_params(params, data_shape, batch_size)?.optimizer,
            adam_g: adam(params.f64("lr_g")?)?,
            adam_d: adam(params.f64("lr_d")?)?,
        })
    }

    fn data_len(&self) -> usize {
        self.data_shape.iter().product()
    }
}

/// The three networks of a VAE-GAN and what [`losses`] needs to know about them.
pub struct VaeGanNets<'a> {
    /// x (flattened) → (μ, log σ²), `2·latent_dim` columns.
    pub encoder: &'a dyn Network,
    /// z → x̃ (any shape with n rows).
    pub decoder: &'a dyn Network,
    pub discriminator: &'a dyn FeatureNetwork,
    pub latent_dim: usize,
    /// The discriminator's hidden layer giving Dis_l (1-based).
    pub feature_layer: usize,
}

/// The VAE-GAN's loss terms for one batch: scalar tensors, means over rows.
pub struct VaeGanLosses {
    /// L_prior: KL(q(z|x) ‖ N(0, I)), summed over latent dimensions.
    pub kl: Tensor,
    /// L_llike: ½‖Dis_l(x) − Dis_l(x̃)‖².
    pub feature_reconstruction: Tensor,
    /// −L_GAN = −log D(x) − log(1 − D(x̃)) − log(1 − D(x_p)), the discriminator's loss.
    pub loss_d: Tensor,
    /// The decoder's non-saturating GAN term −log D(x̃) − log D(x_p).
    pub loss_g: Tensor,
    /// Squared pixel error of x̃ per data dimension.
    pub mse: Tensor,
    /// Mean logits on the data and on the fakes (reconstructions and prior samples).
    pub d_real: Tensor,
    pub d_fake: Tensor,
    /// The reconstructions and prior samples, `(2n, data…)` flattened to `(2n, d)`, for a
    /// discriminator update that must not reach the decoder.
    pub fakes: Tensor,
}

/// The losses of Larsen et al. (2016) for data `x` `(n, data…)`, reparameterization noise `eps`
/// `(n, latent_dim)` and prior latents `z_p` `(n, latent_dim)`, from one forward pass of each
/// network (the discriminator sees x, x̃ and x_p as one batch). See the [module docs](self).
pub fn losses(
    nets: &VaeGanNets<'_>,
    x: &Tensor,
    eps: &Tensor,
    z_p: &Tensor,
    train: bool,
) -> Result<VaeGanLosses> {
    let n = x.dim(0)?;
    let l = nets.latent_dim;
    let x = x.flatten_from(1)?;
    let h = nets.encoder.forward_t(&x, train)?;
    let (mu, log_var) = (h.narrow(1, 0, l)?, h.narrow(1, l, l)?);
    let z = (&mu + (eps * (&log_var * 0.5)?.exp()?)?)?;
    // One decoder pass over both kinds of latent (no layer mixes rows).
    let decoded = nets
        .decoder
        .forward_t(&Tensor::cat(&[&z, z_p], 0)?, train)?
        .flatten_from(1)?;
    let x_tilde = decoded.narrow(0, 0, n)?;
    let (features, logits) = nets.discriminator.forward_features(
        &Tensor::cat(&[&x, &decoded], 0)?,
        nets.feature_layer,
        train,
    )?;
    let logits = logits.flatten_all()?;
    let (real, fake) = (logits.narrow(0, 0, n)?, logits.narrow(0, n, 2 * n)?);
    let (f_x, f_tilde) = (features.narrow(0, 0, n)?, features.narrow(0, n, n)?);
    let feature_reconstruction = ((f_x - f_tilde)?.sqr()?.sum(1)? * 0.5)?.mean_all()?;
    // KL(N(μ, σ²) ‖ N(0, 1)) = −½ Σ (1 + log σ² − μ² − σ²).
    let kl = ((((log_var.exp()? + mu.sqr()?)? - &log_var)? - 1.0)?.sum(1)? * 0.5)?.mean_all()?;
    let (rec, prior) = (fake.narrow(0, 0, n)?, fake.narrow(0, n, n)?);
    let loss_d = ((bce_with_logits(&real, 1.0)? + bce_with_logits(&rec, 0.0)?)?
        + bce_with_logits(&prior, 0.0)?)?;
    let loss_g = (bce_with_logits(&rec, 1.0)? + bce_with_logits(&prior, 1.0)?)?;
    let d = x.dim(1)? as f64;
    let mse = ((&x - &x_tilde)?.sqr()?.sum(1)? / d)?.mean_all()?;
    Ok(VaeGanLosses {
        kl,
        feature_reconstruction,
        loss_d,
        loss_g,
        mse,
        d_real: real.mean_all()?,
        d_fake: fake.mean_all()?,
        fakes: decoded,
    })
}

/// A network and its variables.
struct Part<N: ?Sized> {
    net: Box<N>,
    vars: Vars,
}

/// A VAE-GAN trainer: encoder, decoder, discriminator, an optimizer each, the training generator.
pub struct VaeGanTrainer {
    config: VaeGanConfig,
    device: Device,
    encoder: Part<dyn Network>,
    decoder: Part<dyn Network>,
    discriminator: Part<dyn FeatureNetwork>,
    opt_enc: Box<dyn Optimizer>,
    opt_dec: Box<dyn Optimizer>,
    opt_d: Box<dyn Optimizer>,
    rng: SeededRng,
    seed: u64,
    step: u64,
}

impl VaeGanTrainer {
    pub fn from_trial(trial: &TrialConfig) -> Result<Self> {
        let config = VaeGanConfig::from_params(&trial.params, &trial.data_shape)?;
        Self::new(config, trial.seed, &crate::device(trial.device)?)
    }

    /// The networks of `config.arch`, initialized from `seed`: the decoder from the generator's
    /// stream and the discriminator from the discriminator's, so that with the `gan` plugin's
    /// sizes they start as its generator and discriminator do; the encoder from a stream of its own.
    pub fn new(config: VaeGanConfig, seed: u64, device: &Device) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(Error::msg("batch_size must be at least 1"));
        }
        let d = config.data_len();
        let (enc_vars, dec_vars, d_vars) = (
            Vars::new(DType::F32, device),
            Vars::new(DType::F32, device),
            Vars::new(DType::F32, device),
        );
        let enc_rng = &mut SeededRng::with_stream(seed, stream::ENCODER_INIT);
        let dec_rng = &mut SeededRng::with_stream(seed, stream::G_INIT);
        let d_rng = &mut SeededRng::with_stream(seed, stream::D_INIT);
        let mlp = |input, output, activation| MlpConfig {
            input,
            hidden: config.hidden.clone(),
            output,
            activation,
            output_activation: Activation::Identity,
            spectral_norm: false,
            minibatch_std: 0,
            ..Default::default()
        };
        let (encoder, decoder, discriminator): (
            Box<dyn Network>,
            Box<dyn Network>,
            Box<dyn FeatureNetwork>,
        ) = match config.arch {
            VaeGanArch::Mlp => (
                Box::new(Mlp::new(
                    &mlp(d, 2 * config.latent_dim, config.activation),
                    &enc_vars,
                    enc_rng,
                )?),
                Box::new(Mlp::new(
                    &mlp(config.latent_dim, d, config.activation),
                    &dec_vars,
                    dec_rng,
                )?),
                Box::new(Mlp::new(&mlp(d, 1, config.d_activation), &d_vars, d_rng)?),
            ),
            VaeGanArch::Dcgan { channels } => {
                let image = ImageShape::from_data_shape(&config.data_shape).map_err(Error::msg)?;
                let conv = |outputs, activation, init| ConvDiscriminatorConfig {
                    image,
                    channels,
                    normalization: Normalization::None,
                    activation,
                    outputs,
                    init,
                    minibatch_std: 0,
                };
                let dec = ConvGeneratorConfig {
                    latent_dim: config.latent_dim,
                    image,
                    channels,
                    batch_norm: false,
                    activation: config.activation,
                    output_activation: Activation::Tanh,
                    init: ConvInit::PyTorch,
                };
                let enc = conv(2 * config.latent_dim, config.activation, ConvInit::PyTorch);
                let dis = conv(1, config.d_activation, ConvInit::Dcgan);
                (
                    Box::new(ConvDiscriminator::new(&enc, &enc_vars, enc_rng)?),
                    Box::new(ConvGenerator::new(&dec, &dec_vars, dec_rng)?),
                    Box::new(ConvDiscriminator::new(&dis, &d_vars, d_rng)?),
                )
            }
        };
        crate::nn::check_feature_layer(config.feature_layer, discriminator.hidden_layers())?;
        let opt_enc = config.optimizer.build(enc_vars.params(), config.adam_g)?;
        let opt_dec = config.optimizer.build(dec_vars.params(), config.adam_g)?;
        let opt_d = config.optimizer.build(d_vars.params(), config.adam_d)?;
        Ok(Self {
            device: device.clone(),
            encoder: Part {
                net: encoder,
                vars: enc_vars,
            },
            decoder: Part {
                net: decoder,
                vars: dec_vars,
            },
            discriminator: Part {
                net: discriminator,
                vars: d_vars,
            },
            opt_enc,
            opt_dec,
            opt_d,
            rng: SeededRng::with_stream(seed, stream::TRAIN),
            seed,
            step: 0,
            config,
        })
    }

    pub fn config(&self) -> &VaeGanConfig {
        &self.config
    }

    /// Completed training steps.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The networks as [`losses`] takes them.
    pub fn nets(&self) -> VaeGanNets<'_> {
        VaeGanNets {
            encoder: &*self.encoder.net,
            decoder: &*self.decoder.net,
            discriminator: &*self.discriminator.net,
            latent_dim: self.config.latent_dim,
            feature_layer: self.config.feature_layer,
        }
    }

    /// The encoder's, decoder's and discriminator's variables.
    pub fn vars(&self) -> [&Vars; 3] {
        [
            &self.encoder.vars,
            &self.decoder.vars,
            &self.discriminator.vars,
        ]
    }

    /// The gradients of each network's loss (encoder, decoder, discriminator) for one batch, all
    /// at the current weights, with the losses.
    pub fn gradients(
        &self,
        x: &Tensor,
        eps: &Tensor,
        z_p: &Tensor,
    ) -> Result<([GradStore; 3], VaeGanLosses)> {
        let c = &self.config;
        let l = losses(&self.nets(), x, eps, z_p, true)?;
        // Each backward pass computes the weight gradients of its own network only (the others'
        // would be discarded); gradients still flow through every network to its inputs.
        let tensors = |vars: &[&Vars]| -> Vec<Tensor> {
            vars.iter()
                .flat_map(|v| v.params())
                .map(|(_, v)| v.as_tensor().clone())
                .collect()
        };
        let [e, g, d] = self.vars();
        let enc_loss = ((&l.kl * c.beta)? + &l.feature_reconstruction)?;
        let enc = crate::kernels::skipping_gradients(&tensors(&[g, d]), || enc_loss.backward())?;
        let dec_loss = ((&l.feature_reconstruction * c.gamma)? + &l.loss_g)?;
        let dec = crate::kernels::skipping_gradients(&tensors(&[e, d]), || dec_loss.backward())?;
        // The discriminator's update on detached fakes: its backward pass stops at its input.
        let n = x.dim(0)?;
        let x = x.flatten_from(1)?;
        let logits = self
            .discriminator
            .net
            .forward_t(&Tensor::cat(&[&x, &l.fakes.detach()], 0)?, true)?
            .flatten_all()?;
        let loss_d = ((bce_with_logits(&logits.narrow(0, 0, n)?, 1.0)?
            + bce_with_logits(&logits.narrow(0, n, n)?, 0.0)?)?
            + bce_with_logits(&logits.narrow(0, 2 * n, n)?, 0.0)?)?;
        let dis = loss_d.backward()?;
        Ok(([enc, dec, dis], l))
    }

    fn train(&mut self, batch: Batch<'_>) -> Result<Metrics> {
        let n = self.config.batch_size;
        check_batch(batch, &self.config.data_shape, n)?;
        let x = Tensor::from_slice(batch.data, batch.shape, &self.device)?;
        let eps = self.rng.normal((n, self.config.latent_dim), &self.device)?;
        let z_p = self.rng.normal((n, self.config.latent_dim), &self.device)?;
        let ([enc, dec, dis], l) = self.gradients(&x, &eps, &z_p)?;
        // Every gradient was taken at the same weights (Algorithm 1); now the updates.
        self.opt_enc.step(&enc)?;
        self.opt_dec.step(&dec)?;
        self.opt_d.step(&dis)?;
        self.step += 1;
        let (kl, rec) = (scalar(&l.kl)?, scalar(&l.feature_reconstruction)?);
        Ok(vec![
            ("loss_d".into(), scalar(&l.loss_d)?),
            ("loss_g".into(), scalar(&l.loss_g)?),
            ("d_real".into(), scalar(&l.d_real)?),
            ("d_fake".into(), scalar(&l.d_fake)?),
            ("loss_enc".into(), self.config.beta * kl + rec),
            ("train_kl".into(), kl),
            ("train_feature_reconstruction".into(), rec),
        ])
    }

    fn eval(&self, batch: Batch<'_>) -> Result<Metrics> {
        let rows = batch.shape.first().copied().unwrap_or(0).max(1);
        check_batch(batch, &self.config.data_shape, rows)?;
        let x = Tensor::from_slice(batch.data, batch.shape, &self.device)?;
        let mut rng = SeededRng::with_stream(self.seed, stream::EVAL);
        let eps = rng.normal((rows, self.config.latent_dim), &self.device)?;
        let z_p = rng.normal((rows, self.config.latent_dim), &self.device)?;
        let l = losses(&self.nets(), &x, &eps, &z_p, false)?;
        Ok(vec![
            ("kl".into(), scalar(&l.kl)?),
            ("mse".into(), scalar(&l.mse)?),
            (
                "feature_reconstruction".into(),
                scalar(&l.feature_reconstruction)?,
            ),
        ])
    }

    /// The decoder's output at the encoder means of `batch`: what the model keeps of each example.
    pub fn reconstruction(&self, batch: Batch<'_>) -> Result<Samples> {
        let rows = batch.shape.first().copied().unwrap_or(0).max(1);
        check_batch(batch, &self.config.data_shape, rows)?;
        let x = Tensor::from_slice(batch.data, batch.shape, &self.device)?.flatten_from(1)?;
        let mu = self
            .encoder
            .net
            .forward_t(&x, false)?
            .narrow(1, 0, self.config.latent_dim)?;
        let x_tilde = self.decode(&mu)?;
        Ok(Samples {
            data: x_tilde.flatten_all()?.to_vec1::<f32>()?,
            shape: batch.shape.to_vec(),
        })
    }

    /// The decoder's output for `z`, in chunks for the conv decoder (thousands of samples' conv
    /// activations at once would take gigabytes).
    fn decode(&self, z: &Tensor) -> Result<Tensor> {
        let n = z.dim(0)?;
        let dec = &self.decoder.net;
        Ok(match self.config.arch {
            VaeGanArch::Mlp => dec.forward_t(z, false)?,
            VaeGanArch::Dcgan { .. } => {
                let chunks = (0..n)
                    .step_by(SAMPLE_CHUNK)
                    .map(|i| {
                        let z = z.narrow(0, i, SAMPLE_CHUNK.min(n - i))?;
                        dec.forward_t(&z, false)?.flatten_from(1)
                    })
                    .collect::<candle_core::Result<Vec<_>>>()?;
                Tensor::cat(&chunks, 0)?
            }
        })
    }

    /// `n` samples: the decoder's output at z ~ N(0, I) drawn by a fresh generator seeded with
    /// `seed` (independent of the training noise).
    pub fn generate_samples(&self, n: usize, seed: u64) -> Result<Samples> {
        let mut rng = SeededRng::with_stream(seed, stream::SAMPLE);
        let z = rng.normal((n, self.config.latent_dim), &self.device)?;
        let x = self.decode(&z)?;
        let mut shape = vec![n];
        shape.extend(&self.config.data_shape);
        Ok(Samples {
            data: x.flatten_all()?.to_vec1::<f32>()?,
            shape,
        })
    }

    /// Writes the full training state into `dir`.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        let mut ck = Checkpoint::new();
        ck.insert_meta("kind", &"vae-gan")?;
        ck.insert_meta("config", &self.config)?;
        ck.insert_meta("step", &self.step)?;
        self.encoder.vars.save_state(&mut ck, "enc")?;
        self.decoder.vars.save_state(&mut ck, "dec")?;
        self.discriminator.vars.save_state(&mut ck, "d")?;
        self.opt_enc.save_state(&mut ck, "opt_enc")?;
        self.opt_dec.save_state(&mut ck, "opt_dec")?;
        self.opt_d.save_state(&mut ck, "opt_d")?;
        self.rng.save_state(&mut ck, "rng")?;
        ck.save(dir)
    }

    /// Restores what [`VaeGanTrainer::save_checkpoint`] wrote; the configuration must match.
    pub fn load_checkpoint(&mut self, dir: &Path) -> Result<()> {
        let ck = Checkpoint::load(dir, &self.device)?;
        ck.expect_identity(dir, "vae-gan", &self.config)?;
        self.encoder.vars.load_state(&ck, "enc")?;
        self.decoder.vars.load_state(&ck, "dec")?;
        self.discriminator.vars.load_state(&ck, "d")?;
        self.opt_enc.load_state(&ck, "opt_enc")?;
        self.opt_dec.load_state(&ck, "opt_dec")?;
        self.opt_d.load_state(&ck, "opt_d")?;
        self.rng.load_state(&ck, "rng")?;
        self.step = ck.meta("step")?;
        Ok(())
    }

    pub fn description(&self) -> Description {
        let c = &self.config;
        let optimizer = c.optimizer.describe_pair(&c.adam_g, &c.adam_d);
        let params: usize = self.vars().iter().map(|v| v.param_count()).sum();
        Description {
            parameters: params as u64,
            architecture: format!(
                "encoder: {}; decoder: {}; D: {}; reconstruction in D's hidden layer {}; β {}; γ {}; \
                 latent {}; {optimizer}; batch {}",
                self.encoder.net.summary(),
                self.decoder.net.summary(),
                self.discriminator.net.summary(),
                c.feature_layer,
                c.beta,
                c.gamma,
                c.latent_dim,
                c.batch_size
            ),
        }
    }
}

impl Trainer for VaeGanTrainer {
    fn rows_per_step(&self) -> usize {
        self.config.batch_size
    }

    fn train_step(&mut self, batch: Batch<'_>) -> PluginResult<Metrics> {
        Ok(self.train(batch)?)
    }

    fn sample(&mut self, n: usize, seed: u64) -> PluginResult<Samples> {
        Ok(self.generate_samples(n, seed)?)
    }

    fn evaluate(&mut self, batch: Batch<'_>) -> PluginResult<Metrics> {
        Ok(self.eval(batch)?)
    }

    fn reconstruct(&mut self, batch: Batch<'_>) -> PluginResult<Option<Samples>> {
        Ok(Some(self.reconstruction(batch)?))
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
