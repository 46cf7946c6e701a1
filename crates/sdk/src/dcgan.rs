//! DCGAN-style convolutional networks (Radford et al. 2016) for square images `[C, S, S]`.
//!
//! Every spatial step is a 4×4 kernel with stride 2 and padding 1, which exactly halves (conv) or
//! doubles (transposed conv) the side. The side is halved `stages` times down to a base grid of
//! 4–7 cells (28 → 14 → 7, 32 → 16 → 8 → 4); layer `i` (counted from the image) has
//! `channels·2^i` feature maps.
//!
//! - [`ConvGenerator`]: z → linear → `(channels·2^(stages−1), base, base)` → (batch norm) →
//!   act → transposed convs, each followed by (batch norm) → act, the last to the image's
//!   channels → output activation (tanh for GANs). For 1×28×28 with `channels = c`: z → 2c×7×7 → c×14×14 → 1×28×28.
//! - [`ConvDiscriminator`]: strided convs, the first without normalization (as in DCGAN), the
//!   others with batch norm, spectral norm or none → act, then a linear layer to `outputs`
//!   (one logit for GANs, mean and log-variance for a VAE encoder). For 1×28×28:
//!   1×28×28 → c×14×14 → 2c×7×7 → 1.
//!
//! Layers followed by batch norm have no bias (β does its job). With [`ConvInit::Dcgan`] weights are
//! drawn from N(0, 0.02), batch-norm scales from N(1, 0.02) and biases start at 0, as in the DCGAN
//! paper; [`ConvInit::PyTorch`] uses the layers' PyTorch defaults (for networks without batch
//! norm whose activations should keep their scale, such as the VAE's).
//!
//! Every convolution runs through [`nn::conv2d_forward`](crate::nn::conv2d_forward) or
//! [`nn::conv_transpose2d_forward`](crate::nn::conv_transpose2d_forward).

use candle_core::{DType, Module, ModuleT, Result, Shape, Tensor};
use serde::{Deserialize, Serialize};

use crate::nn::{
    Activation, BatchNorm, Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig,
    FeatureNetwork, Linear, Network,
};
use crate::spectral::{SnConv2d, SnLinear};
use crate::{init, SeededRng, Vars};

/// Kernel side of every conv and transposed conv (stride 2, padding 1).
pub const KERNEL: usize = 4;

/// The largest side of the base grid: sides are halved while above it.
pub const MAX_BASE: usize = 7;

/// The shape of one square image, `[channels, size, size]`, and its halving schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageShape {
    pub channels: usize,
    pub size: usize,
}

impl ImageShape {
    /// Reads a data shape `[C, S, S]` whose side halves evenly down to a base of 4 to 7 cells
    /// (8, 10, 12, 14, 16, 24, 28, 32, 48, 64, …); the error says what is wrong.
    pub fn from_data_shape(shape: &[usize]) -> std::result::Result<Self, String> {
        let expected = "a convolutional architecture needs image data of shape [channels, S, S] \
                        whose side S halves evenly down to 4–7 (e.g. [1, 28, 28]: 28 → 14 → 7, \
                        or [3, 32, 32]: 32 → 16 → 8 → 4)";
        let &[channels, h, w] = shape else {
            return Err(format!(
                "{expected}; this data has examples of shape {shape:?}"
            ));
        };
        if channels == 0 || h != w {
            return Err(format!(
                "{expected}; this data has examples of shape {shape:?}"
            ));
        }
        let image = Self { channels, size: h };
        let mut side = h;
        while side > MAX_BASE {
            if side % 2 == 1 {
                return Err(format!(
                    "{expected}; the side {h} of shape {shape:?} reaches the odd size {side} first"
                ));
            }
            side /= 2;
        }
        if image.stages() == 0 || side < 4 {
            return Err(format!(
                "{expected}; the side {h} of shape {shape:?} is too small"
            ));
        }
        Ok(image)
    }

    /// How many times the side is halved (2 for 28, 3 for 32).
    pub fn stages(&self) -> usize {
        let (mut side, mut n) = (self.size, 0);
        while side > MAX_BASE && side % 2 == 0 {
            side /= 2;
            n += 1;
        }
        n
    }

    /// The side of the base grid (7 for 28, 4 for 32).
    pub fn base(&self) -> usize {
        self.size >> self.stages()
    }

    /// Values per image.
    pub fn len(&self) -> usize {
        self.channels * self.size * self.size
    }

    /// Whether an image has no values (never, for a shape from [`ImageShape::from_data_shape`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn dims(&self) -> String {
        format!("{}×{}×{}", self.channels, self.size, self.size)
    }
}

/// How the networks' weights start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvInit {
    /// N(0, 0.02) weights, N(1, 0.02) batch-norm scales, zero biases (the DCGAN paper).
    Dcgan,
    /// PyTorch's defaults: U(±1/√fan_in) weights and biases, batch-norm scale 1.
    PyTorch,
}

/// How a [`ConvDiscriminator`] normalizes its hidden conv layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// None (a WGAN-GP critic: the gradient penalty is per example; a VAE encoder).
    None,
    /// Batch norm on every conv layer but the first (DCGAN).
    BatchNorm,
    /// Spectral norm on every conv layer and on the final linear layer (SN-GAN).
    SpectralNorm,
}

impl Normalization {
    fn name(&self) -> &'static str {
        match self {
            Normalization::None => "no normalization",
            Normalization::BatchNorm => "batch norm",
            Normalization::SpectralNorm => "spectral norm",
        }
    }
}

fn stride2() -> Conv2dConfig {
    Conv2dConfig {
        padding: 1,
        stride: 2,
        ..Default::default()
    }
}

fn stride2_transposed() -> ConvTranspose2dConfig {
    ConvTranspose2dConfig {
        padding: 1,
        stride: 2,
        ..Default::default()
    }
}

/// Draws and registers a layer's `weight` (and, with `bias`, its `bias`) in `vars`.
fn parameters(
    vars: &Vars,
    shape: impl Into<Shape>,
    fan_in: usize,
    bias: Option<usize>,
    init: ConvInit,
    rng: &mut SeededRng,
) -> Result<(Tensor, Option<Tensor>)> {
    let dev = vars.device().clone();
    let w = match init {
        ConvInit::Dcgan => (rng.normal(shape, &dev)? * 0.02)?,
        ConvInit::PyTorch => init::default_weight(rng, shape, fan_in, &dev)?,
    };
    let w = vars.param("weight", w)?;
    let b = match bias {
        None => None,
        Some(n) => Some(vars.param(
            "bias",
            match init {
                ConvInit::Dcgan => Tensor::zeros(n, DType::F32, &dev)?,
                ConvInit::PyTorch => init::default_bias(rng, n, fan_in, &dev)?,
            },
        )?),
    };
    Ok((w, b))
}

fn batch_norm(
    vars: &Vars,
    features: usize,
    init: ConvInit,
    rng: &mut SeededRng,
) -> Result<BatchNorm> {
    match init {
        ConvInit::Dcgan => {
            let scale = ((rng.normal(features, vars.device())? * 0.02)? + 1.0)?;
            BatchNorm::with_scale(vars, scale)
        }
        ConvInit::PyTorch => BatchNorm::new(vars, features),
    }
}

/// Runs a network's hidden layer: optional normalization, then the activation.
fn normalize_activate(
    x: Tensor,
    norm: Option<&BatchNorm>,
    act: Activation,
    train: bool,
) -> Result<Tensor> {
    let x = match norm {
        Some(bn) => bn.forward_t(&x, train)?,
        None => x,
    };
    act.forward(&x)
}

/// The generator's architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvGeneratorConfig {
    pub latent_dim: usize,
    pub image: ImageShape,
    /// Feature maps of the last hidden layer (the widest layer has `channels·2^(stages−1)`).
    pub channels: usize,
    /// Batch norm after the linear layer and every hidden transposed conv.
    pub batch_norm: bool,
    pub activation: Activation,
    pub output_activation: Activation,
    pub init: ConvInit,
}

/// A DCGAN-style generator: `(n, latent_dim)` → `(n, C, S, S)`. See the [module docs](self).
pub struct ConvGenerator {
    config: ConvGeneratorConfig,
    fc: Linear,
    fc_norm: Option<BatchNorm>,
    /// Transposed convs from the base grid up to the image, each with its batch norm (none on
    /// the last).
    ups: Vec<(ConvTranspose2d, Option<BatchNorm>)>,
}

impl ConvGenerator {
    /// Registers `fc`, `fc_bn`, `up0`, `up0_bn`, `up1`, … in `vars`, drawing from `rng`.
    pub fn new(config: &ConvGeneratorConfig, vars: &Vars, rng: &mut SeededRng) -> Result<Self> {
        let c = config;
        let stages = c.image.stages();
        let widths: Vec<usize> = (0..stages).map(|i| c.channels << i).collect();
        let top = widths[stages - 1];
        let base = c.image.base();
        let bias = |n: usize| (!c.batch_norm).then_some(n);
        let fc_out = top * base * base;
        let vs = vars.pp("fc");
        let (w, b) = parameters(
            &vs,
            (fc_out, c.latent_dim),
            c.latent_dim,
            bias(fc_out),
            c.init,
            rng,
        )?;
        let fc = Linear::new(w, b);
        let fc_norm = match c.batch_norm {
            true => Some(batch_norm(&vars.pp("fc_bn"), top, c.init, rng)?),
            false => None,
        };
        let mut ups = Vec::with_capacity(stages);
        for (k, i) in (0..stages).rev().enumerate() {
            let last = i == 0;
            let (cin, cout) = (
                widths[i],
                if last {
                    c.image.channels
                } else {
                    widths[i - 1]
                },
            );
            let vs = vars.pp(&format!("up{k}"));
            let has_bias = if last { Some(cout) } else { bias(cout) };
            // PyTorch's fan-in of a transposed conv weight (c_in, c_out, k, k) is c_out·k².
            let (w, b) = parameters(
                &vs,
                (cin, cout, KERNEL, KERNEL),
                cout * KERNEL * KERNEL,
                has_bias,
                c.init,
                rng,
            )?;
            let norm = match c.batch_norm && !last {
                true => Some(batch_norm(
                    &vars.pp(&format!("up{k}_bn")),
                    cout,
                    c.init,
                    rng,
                )?),
                false => None,
            };
            ups.push((ConvTranspose2d::new(w, b, stride2_transposed()), norm));
        }
        Ok(Self {
            config: config.clone(),
            fc,
            fc_norm,
            ups,
        })
    }

    pub fn config(&self) -> &ConvGeneratorConfig {
        &self.config
    }
}

impl ModuleT for ConvGenerator {
    fn forward_t(&self, z: &Tensor, train: bool) -> Result<Tensor> {
        let c = &self.config;
        let n = z.dim(0)?;
        let base = c.image.base();
        let top = c.channels << (c.image.stages() - 1);
        let x = self.fc.forward(z)?.reshape((n, top, base, base))?;
        let mut x = normalize_activate(x, self.fc_norm.as_ref(), c.activation, train)?;
        let last = self.ups.len() - 1;
        for (i, (up, norm)) in self.ups.iter().enumerate() {
            x = up.forward(&x)?;
            x = if i == last {
                c.output_activation.forward(&x)?
            } else {
                normalize_activate(x, norm.as_ref(), c.activation, train)?
            };
        }
        Ok(x)
    }
}

impl Network for ConvGenerator {
    fn summary(&self) -> String {
        let c = &self.config;
        let stages = c.image.stages();
        let mut s = format!("DCGAN {}", c.latent_dim);
        for i in (0..stages).rev() {
            let side = c.image.base() << (stages - 1 - i);
            s += &format!("→{}×{side}×{side}", c.channels << i);
        }
        s += &format!("→{} (", c.image.dims());
        if c.batch_norm {
            s += "batch norm, ";
        }
        s += &c.activation.name();
        if c.output_activation != Activation::Identity {
            s += &format!(", output {}", c.output_activation.name());
        }
        s + ")"
    }

    fn batch_statistics(&self) -> bool {
        self.config.batch_norm
    }
}

/// The discriminator's (or encoder's) architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvDiscriminatorConfig {
    pub image: ImageShape,
    /// Feature maps of the first conv layer (doubled at every further one).
    pub channels: usize,
    pub normalization: Normalization,
    pub activation: Activation,
    /// Width of the final linear layer (1 for a GAN discriminator).
    pub outputs: usize,
    pub init: ConvInit,
    /// Groups of this many rows whose [`minibatch_stddev`](crate::nn::minibatch_stddev) map is
    /// appended as one more channel before the final linear layer (0: none).
    #[serde(default)]
    pub minibatch_std: usize,
}

enum ConvLayer {
    Plain(Conv2d),
    Spectral(SnConv2d),
}

enum DenseLayer {
    Plain(Linear),
    Spectral(SnLinear),
}

/// A DCGAN-style discriminator: `(n, C, S, S)` (or the same flattened to `(n, C·S·S)`) →
/// `(n, outputs)`. See the [module docs](self).
pub struct ConvDiscriminator {
    config: ConvDiscriminatorConfig,
    convs: Vec<(ConvLayer, Option<BatchNorm>)>,
    fc: DenseLayer,
}

impl ConvDiscriminator {
    /// Registers `conv0`, `conv1`, `conv1_bn`, …, `fc` in `vars`, drawing from `rng`.
    pub fn new(config: &ConvDiscriminatorConfig, vars: &Vars, rng: &mut SeededRng) -> Result<Self> {
        let c = config;
        let stages = c.image.stages();
        let mut convs = Vec::with_capacity(stages);
        let mut cin = c.image.channels;
        for i in 0..stages {
            let cout = c.channels << i;
            let vs = vars.pp(&format!("conv{i}"));
            let bn = c.normalization == Normalization::BatchNorm && i > 0;
            let fan_in = cin * KERNEL * KERNEL;
            let shape = (cout, cin, KERNEL, KERNEL);
            let layer = if c.normalization == Normalization::SpectralNorm {
                let (w, b) = parameters(&vs, shape, fan_in, Some(cout), c.init, rng)?;
                let b = b.expect("a bias was asked for");
                ConvLayer::Spectral(SnConv2d::from_parameters(w, b, stride2(), &vs, rng)?)
            } else {
                let (w, b) = parameters(&vs, shape, fan_in, (!bn).then_some(cout), c.init, rng)?;
                ConvLayer::Plain(Conv2d::new(w, b, stride2()))
            };
            let norm = match bn {
                true => Some(batch_norm(
                    &vars.pp(&format!("conv{i}_bn")),
                    cout,
                    c.init,
                    rng,
                )?),
                false => None,
            };
            convs.push((layer, norm));
            cin = cout;
        }
        let base = c.image.base();
        let features = (cin + usize::from(c.minibatch_std > 0)) * base * base;
        let vs = vars.pp("fc");
        let (w, b) = parameters(
            &vs,
            (c.outputs, features),
            features,
            Some(c.outputs),
            c.init,
            rng,
        )?;
        let b = b.expect("a bias was asked for");
        let fc = if c.normalization == Normalization::SpectralNorm {
            DenseLayer::Spectral(SnLinear::from_parameters(w, b, &vs, rng)?)
        } else {
            DenseLayer::Plain(Linear::new(w, Some(b)))
        };
        Ok(Self {
            config: config.clone(),
            convs,
            fc,
        })
    }

    pub fn config(&self) -> &ConvDiscriminatorConfig {
        &self.config
    }

    /// The spectral-norm layers, first to last (empty without spectral norm).
    pub fn spectral_layers(&self) -> Vec<&crate::SpectralNorm> {
        let mut out: Vec<_> = self
            .convs
            .iter()
            .filter_map(|(l, _)| match l {
                ConvLayer::Spectral(s) => Some(s.spectral_norm()),
                ConvLayer::Plain(_) => None,
            })
            .collect();
        if let DenseLayer::Spectral(s) = &self.fc {
            out.push(s.spectral_norm());
        }
        out
    }
}

impl ConvDiscriminator {
    /// The forward pass; with `keep = Some(l)`, also the (flattened) activations of conv layer `l`.
    fn run(
        &self,
        xs: &Tensor,
        train: bool,
        keep: Option<usize>,
    ) -> Result<(Option<Tensor>, Tensor)> {
        let c = &self.config;
        let n = xs.dim(0)?;
        let mut x = xs.reshape((n, c.image.channels, c.image.size, c.image.size))?;
        let mut kept = None;
        for (i, (conv, norm)) in self.convs.iter().enumerate() {
            x = match conv {
                ConvLayer::Plain(l) => l.forward(&x)?,
                ConvLayer::Spectral(l) => l.forward_t(&x, train)?,
            };
            x = normalize_activate(x, norm.as_ref(), c.activation, train)?;
            if keep == Some(i + 1) {
                kept = Some(x.flatten_from(1)?);
            }
        }
        if c.minibatch_std > 0 {
            x = crate::nn::minibatch_stddev(&x, c.minibatch_std)?;
        }
        let x = x.flatten_from(1)?;
        let out = match &self.fc {
            DenseLayer::Plain(l) => l.forward(&x)?,
            DenseLayer::Spectral(l) => l.forward_t(&x, train)?,
        };
        Ok((kept, out))
    }
}

impl ModuleT for ConvDiscriminator {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ok(self.run(xs, train, None)?.1)
    }
}

impl FeatureNetwork for ConvDiscriminator {
    /// The conv layers (one per halving of the image side).
    fn hidden_layers(&self) -> usize {
        self.convs.len()
    }

    fn forward_features(&self, xs: &Tensor, layer: usize, train: bool) -> Result<(Tensor, Tensor)> {
        crate::nn::check_feature_layer(layer, self.hidden_layers())?;
        let (kept, out) = self.run(xs, train, Some(layer))?;
        Ok((kept.expect("a conv layer's activations were kept"), out))
    }
}

impl Network for ConvDiscriminator {
    fn summary(&self) -> String {
        let c = &self.config;
        let mut s = format!("DCGAN {}", c.image.dims());
        for i in 0..c.image.stages() {
            let side = c.image.size >> (i + 1);
            s += &format!("→{}×{side}×{side}", c.channels << i);
        }
        let mbstd = match c.minibatch_std {
            0 => String::new(),
            g => format!(", minibatch std over {g}"),
        };
        format!(
            "{s}→{} ({}, {}{mbstd})",
            c.outputs,
            c.activation.name(),
            c.normalization.name()
        )
    }

    fn batch_statistics(&self) -> bool {
        self.config.normalization == Normalization::BatchNorm
    }
}
