//! [`VaeTrainer`]: a Gaussian VAE (Kingma & Welling 2014) with MLP encoder and decoder and a β
//! weight on the KL term (Higgins et al. 2017), implementing the plugin API's [`Trainer`].
//!
//! The encoder maps x to the mean and log-variance of q(z|x) = N(μ, diag σ²); z = μ + σ·ε with
//! ε from the trainer's [`SeededRng`] (reparameterization). The decoder is Gaussian,
//! p(x|z) = N(f(z), diag s²), which suits real-valued data such as the toy 2D mixtures (a
//! Bernoulli decoder would not). Its standard deviation s is either fixed (`decoder_std`) or
//! learned: one log-variance parameter per data dimension, shared by all examples and
//! initialized at `decoder_std`. With a learned s the ELBO is a proper likelihood bound and s
//! shrinks towards the data's residual spread; a fixed s acts as a reconstruction weight.
//!
//! Architectures (parameter `arch`): `Mlp` (the default), or `Dcgan` for `[C, S, S]` images: a
//! [`ConvDiscriminator`] without normalization as the encoder (its linear layer outputs μ and
//! log σ²) and a [`ConvGenerator`] without batch norm and with an identity output as the decoder
//! (the Gaussian mean), both with PyTorch's default init and the `activation` parameter. Without
//! batch norm, training and evaluation compute the same function.
//!
//! Metrics (nats per example): `train_step` reports `loss` (the minimized −reconstruction + β·KL),
//! `train_elbo`, `train_reconstruction` (−E log p(x|z)) and `train_kl`; `evaluate` reports
//! `elbo`, `reconstruction`, `kl` and `mse` on a held-out batch, always with the same noise
//! (a fresh generator on the trial's seed), so evaluating never changes training.

use std::f64::consts::PI;
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
use crate::gan::{arch_spec, channels_spec, check_batch, conv_channels, scalar, SAMPLE_CHUNK};
use crate::nn::{Activation, Mlp, MlpConfig, Network};
use crate::optim::{Adam, AdamConfig, Optimizer};
use crate::rng::{stream, SeededRng};
use crate::{Error, Result, Vars};

/// The VAE's parameter declarations, grouped for `ganbench plugins` like the GAN plugins'.
pub fn param_specs() -> Vec<ParamSpec> {
    use crate::fixes::group::{LOSS, MODEL, OPTIMIZATION};
    let group = |name: &str| match name {
        "lr" | "beta1" | "beta2" | "batch_size" => OPTIMIZATION,
        "beta" | "decoder_variance" | "decoder_std" => LOSS,
        _ => MODEL,
    };
    let specs = vec![
        ParamSpec::float("lr", 1e-3, 1e-6, 1.0, "learning rate (Adam)"),
        ParamSpec::float("beta1", 0.9, 0.0, 0.999, "Adam β₁"),
        ParamSpec::float("beta2", 0.999, 0.0, 0.9999, "Adam β₂"),
        ParamSpec::int("batch_size", 256, 1, 65_536, "rows per update"),
        ParamSpec::int("latent_dim", 2, 1, 4096, "dimension of z"),
        ParamSpec::int(
            "hidden",
            256,
            1,
            8192,
            "units per hidden layer, encoder and decoder",
        ),
        ParamSpec::int("layers", 2, 1, 16, "hidden layers per network"),
        ParamSpec::choice(
            "activation",
            "relu",
            &Activation::NAMES[..4],
            "hidden activation",
        ),
        ParamSpec::float(
            "beta",
            1.0,
            0.0,
            1000.0,
            "weight of the KL term (β-VAE; 1 = the ELBO)",
        ),
        ParamSpec::choice(
            "decoder_variance",
            "learned",
            &["learned", "fixed"],
            "decoder standard deviation: learned per dimension, or fixed",
        ),
        ParamSpec::float(
            "decoder_std",
            0.1,
            1e-4,
            100.0,
            "fixed decoder standard deviation, or the learned one's initial value",
        ),
        ParamSpec::bool(
            "sample_noise",
            false,
            "add decoder noise to samples (otherwise samples are decoder means)",
        ),
        arch_spec(),
        channels_spec(32),
    ];
    specs
        .into_iter()
        .map(|s| {
            let g = group(&s.name);
            s.in_group(g)
        })
        .collect()
}

/// Which networks a [`VaeTrainer`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum VaeArch {
    /// [`Mlp`]s of `hidden` widths.
    #[default]
    Mlp,
    /// A conv encoder and a transposed-conv decoder of base width `channels`.
    Dcgan { channels: usize },
}

/// Everything that defines a VAE trainer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    pub data_shape: Vec<usize>,
    pub latent_dim: usize,
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub beta: f64,
    pub learned_variance: bool,
    pub decoder_std: f64,
    pub sample_noise: bool,
    pub batch_size: usize,
    pub adam: AdamConfig,
    /// Missing in checkpoints written before architectures existed: those are MLPs.
    #[serde(default)]
    pub arch: VaeArch,
}

impl VaeConfig {
    /// Reads the parameters declared by [`param_specs`].
    pub fn from_params(params: &Params, data_shape: &[usize]) -> Result<Self> {
        if data_shape.is_empty() || data_shape.contains(&0) {
            return Err(Error::msg(format!("bad data shape {data_shape:?}")));
        }
        Ok(Self {
            data_shape: data_shape.to_vec(),
            latent_dim: params.usize("latent_dim")?,
            hidden: vec![params.usize("hidden")?; params.usize("layers")?],
            activation: Activation::from_param(params, "activation")?,
            beta: params.f64("beta")?,
            learned_variance: params.str("decoder_variance")? == "learned",
            decoder_std: params.f64("decoder_std")?,
            sample_noise: params.bool("sample_noise")?,
            batch_size: params.usize("batch_size")?,
            adam: AdamConfig::from_params(params, params.f64("lr")?)?,
            arch: match conv_channels(params, data_shape)? {
                None => VaeArch::Mlp,
                Some(channels) => VaeArch::Dcgan { channels },
            },
        })
    }

    fn data_len(&self) -> usize {
        self.data_shape.iter().product()
    }
}

/// The ELBO's parts for one batch, as scalar tensors (means over rows).
struct Elbo {
    /// −E log p(x|z).
    reconstruction: Tensor,
    kl: Tensor,
    mse: Tensor,
}

/// A VAE trainer: encoder, decoder, decoder log-variance, one Adam, the training generator.
pub struct VaeTrainer {
    config: VaeConfig,
    device: Device,
    vars: Vars,
    encoder: Box<dyn Network>,
    decoder: Box<dyn Network>,
    /// Shape `(data_len,)`; a parameter when learned, a constant otherwise.
    log_var: Tensor,
    opt: Adam,
    rng: SeededRng,
    seed: u64,
    step: u64,
}

impl VaeTrainer {
    pub fn from_trial(trial: &TrialConfig) -> Result<Self> {
        let config = VaeConfig::from_params(&trial.params, &trial.data_shape)?;
        Self::new(config, trial.seed, &crate::device(trial.device)?)
    }

    pub fn new(config: VaeConfig, seed: u64, device: &Device) -> Result<Self> {
        let vars = Vars::new(DType::F32, device);
        let d = config.data_len();
        let enc = MlpConfig {
            input: d,
            hidden: config.hidden.clone(),
            output: 2 * config.latent_dim,
            activation: config.activation,
            output_activation: Activation::Identity,
            spectral_norm: false,
            minibatch_std: 0,
            ..Default::default()
        };
        let dec = MlpConfig {
            input: config.latent_dim,
            hidden: config.hidden.clone(),
            output: d,
            activation: config.activation,
            output_activation: Activation::Identity,
            spectral_norm: false,
            minibatch_std: 0,
            ..Default::default()
        };
        let enc_rng = &mut SeededRng::with_stream(seed, stream::D_INIT);
        let dec_rng = &mut SeededRng::with_stream(seed, stream::G_INIT);
        let (encoder, decoder): (Box<dyn Network>, Box<dyn Network>) = match config.arch {
            VaeArch::Mlp => (
                Box::new(Mlp::new(&enc, &vars.pp("enc"), enc_rng)?),
                Box::new(Mlp::new(&dec, &vars.pp("dec"), dec_rng)?),
            ),
            VaeArch::Dcgan { channels } => {
                let image = ImageShape::from_data_shape(&config.data_shape).map_err(Error::msg)?;
                let enc = ConvDiscriminatorConfig {
                    image,
                    channels,
                    normalization: Normalization::None,
                    activation: config.activation,
                    outputs: 2 * config.latent_dim,
                    init: ConvInit::PyTorch,
                    minibatch_std: 0,
                };
                let dec = ConvGeneratorConfig {
                    latent_dim: config.latent_dim,
                    image,
                    channels,
                    batch_norm: false,
                    activation: config.activation,
                    output_activation: Activation::Identity,
                    init: ConvInit::PyTorch,
                };
                (
                    Box::new(ConvDiscriminator::new(&enc, &vars.pp("enc"), enc_rng)?),
                    Box::new(ConvGenerator::new(&dec, &vars.pp("dec"), dec_rng)?),
                )
            }
        };
        let init = Tensor::full((2.0 * config.decoder_std.ln()) as f32, d, device)?;
        let log_var = if config.learned_variance {
            vars.param("dec.log_var", init)?
        } else {
            init
        };
        let opt = Adam::new(vars.params(), config.adam)?;
        Ok(Self {
            config,
            device: device.clone(),
            vars,
            encoder,
            decoder,
            log_var,
            opt,
            rng: SeededRng::with_stream(seed, stream::TRAIN),
            seed,
            step: 0,
        })
    }

    pub fn config(&self) -> &VaeConfig {
        &self.config
    }

    /// The ELBO terms of `x` (shape `(n, data…)`) with reparameterization noise `eps` `(n, latent)`.
    fn elbo(&self, x: &Tensor, eps: &Tensor, train: bool) -> Result<Elbo> {
        let n = x.dim(0)?;
        let l = self.config.latent_dim;
        let x = x.flatten_from(1)?;
        let h = self.encoder.forward_t(&x, train)?;
        let (mu, log_var_z) = (h.narrow(1, 0, l)?, h.narrow(1, l, l)?);
        let z = (&mu + (eps * (&log_var_z * 0.5)?.exp()?)?)?;
        let mean = self.decoder.forward_t(&z, train)?.flatten_from(1)?;
        let sq = (&x - &mean)?.sqr()?;
        // −log N(x; mean, s²) summed over dimensions: ½ Σ [(x − mean)²/s² + log s² + log 2π].
        let inv_var = self.log_var.neg()?.exp()?;
        let d = self.config.data_len() as f64;
        let nll = sq.broadcast_mul(&inv_var)?.sum(1)?;
        let nll = ((nll + self.log_var.sum_all()?.broadcast_as(n)?)? + d * (2.0 * PI).ln())? * 0.5;
        // KL(N(μ, σ²) ‖ N(0, 1)) = −½ Σ (1 + log σ² − μ² − σ²).
        let kl = (((log_var_z.exp()? + mu.sqr()?)? - log_var_z)? - 1.0)?.sum(1)? * 0.5;
        Ok(Elbo {
            reconstruction: nll?.mean_all()?,
            kl: kl?.mean_all()?,
            mse: (sq.sum(1)? / d)?.mean_all()?,
        })
    }

    fn train(&mut self, batch: Batch<'_>) -> Result<Metrics> {
        check_batch(batch, &self.config.data_shape, self.config.batch_size)?;
        let x = Tensor::from_slice(batch.data, batch.shape, &self.device)?;
        let eps = self.rng.normal(
            (self.config.batch_size, self.config.latent_dim),
            &self.device,
        )?;
        let e = self.elbo(&x, &eps, true)?;
        let loss = (&e.reconstruction + (&e.kl * self.config.beta)?)?;
        let grads = loss.backward()?;
        self.opt.step(&grads)?;
        self.step += 1;
        let (rec, kl) = (scalar(&e.reconstruction)?, scalar(&e.kl)?);
        Ok(vec![
            ("loss".into(), scalar(&loss)?),
            ("train_elbo".into(), -(rec + kl)),
            ("train_reconstruction".into(), rec),
            ("train_kl".into(), kl),
        ])
    }

    fn eval(&self, batch: Batch<'_>) -> Result<Metrics> {
        let rows = batch.shape.first().copied().unwrap_or(0).max(1);
        check_batch(batch, &self.config.data_shape, rows)?;
        let x = Tensor::from_slice(batch.data, batch.shape, &self.device)?;
        let eps = SeededRng::with_stream(self.seed, stream::EVAL)
            .normal((rows, self.config.latent_dim), &self.device)?;
        let e = self.elbo(&x, &eps, false)?;
        let (rec, kl) = (scalar(&e.reconstruction)?, scalar(&e.kl)?);
        Ok(vec![
            ("elbo".into(), -(rec + kl)),
            ("reconstruction".into(), rec),
            ("kl".into(), kl),
            ("mse".into(), scalar(&e.mse)?),
        ])
    }

    /// The decoder means at the encoder means of `batch`: what the model keeps of each example.
    pub fn reconstruction(&self, batch: Batch<'_>) -> Result<Samples> {
        let rows = batch.shape.first().copied().unwrap_or(0).max(1);
        check_batch(batch, &self.config.data_shape, rows)?;
        let x = Tensor::from_slice(batch.data, batch.shape, &self.device)?.flatten_from(1)?;
        let mu = self
            .encoder
            .forward_t(&x, false)?
            .narrow(1, 0, self.config.latent_dim)?;
        let mean = self.decoder.forward_t(&mu, false)?;
        Ok(Samples {
            data: mean.flatten_all()?.to_vec1::<f32>()?,
            shape: batch.shape.to_vec(),
        })
    }

    /// `n` samples from the prior: decoder means, plus decoder noise with `sample_noise`.
    pub fn generate_samples(&self, n: usize, seed: u64) -> Result<Samples> {
        let mut rng = SeededRng::with_stream(seed, stream::SAMPLE);
        let z = rng.normal((n, self.config.latent_dim), &self.device)?;
        let mut x = match self.config.arch {
            VaeArch::Mlp => self.decoder.forward_t(&z, false)?,
            // Conv activations of thousands of samples at once would take gigabytes.
            VaeArch::Dcgan { .. } => {
                let chunks = (0..n)
                    .step_by(SAMPLE_CHUNK)
                    .map(|i| {
                        let z = z.narrow(0, i, SAMPLE_CHUNK.min(n - i))?;
                        self.decoder.forward_t(&z, false)?.flatten_from(1)
                    })
                    .collect::<candle_core::Result<Vec<_>>>()?;
                Tensor::cat(&chunks, 0)?
            }
        };
        if self.config.sample_noise {
            let std = (&self.log_var * 0.5)?.exp()?;
            x = (x + rng
                .normal((n, self.config.data_len()), &self.device)?
                .broadcast_mul(&std)?)?;
        }
        let mut shape = vec![n];
        shape.extend(&self.config.data_shape);
        Ok(Samples {
            data: x.flatten_all()?.to_vec1::<f32>()?,
            shape,
        })
    }

    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        let mut ck = Checkpoint::new();
        ck.insert_meta("kind", &"vae")?;
        ck.insert_meta("config", &self.config)?;
        ck.insert_meta("step", &self.step)?;
        self.vars.save_state(&mut ck, "vae")?;
        self.opt.save_state(&mut ck, "opt")?;
        self.rng.save_state(&mut ck, "rng")?;
        ck.save(dir)
    }

    pub fn load_checkpoint(&mut self, dir: &Path) -> Result<()> {
        let ck = Checkpoint::load(dir, &self.device)?;
        ck.expect_identity(dir, "vae", &self.config)?;
        self.vars.load_state(&ck, "vae")?;
        self.opt.load_state(&ck, "opt")?;
        self.rng.load_state(&ck, "rng")?;
        self.step = ck.meta("step")?;
        Ok(())
    }
}

impl Trainer for VaeTrainer {
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
        let c = &self.config;
        let var = if c.learned_variance {
            "learned"
        } else {
            "fixed"
        };
        Description {
            parameters: self.vars.param_count() as u64,
            architecture: format!(
                "encoder: {}; decoder: {}; Gaussian decoder, {var} std (init {}); β {}; latent {}; Adam lr {} β ({}, {}); batch {}",
                self.encoder.summary(),
                self.decoder.summary(),
                c.decoder_std,
                c.beta,
                c.latent_dim,
                c.adam.lr,
                c.adam.beta1,
                c.adam.beta2,
                c.batch_size
            ),
        }
    }
}
