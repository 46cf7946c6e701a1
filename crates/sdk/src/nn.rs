//! Layers and networks: activations, PyTorch-initialized linear/conv layers, batch norm, the
//! [`Mlp`] builder.
//!
//! Networks implement candle-nn's [`ModuleT`]; `train = true` marks a forward pass that belongs to
//! training, which is when stateful layers advance their state (spectral norm's power iteration,
//! batch norm's running statistics) and batch norm normalizes with the batch's own statistics.
//!
//! Every convolution of the SDK's layers runs through [`conv2d_forward`] and every transposed
//! convolution through [`conv_transpose2d_forward`], so a faster kernel replaces them in one place.

use candle_core::{bail, DType, Module, ModuleT, Result, Tensor, Var};
pub use candle_nn::{Conv2dConfig, ConvTranspose2dConfig};
use serde::{Deserialize, Serialize};

pub use crate::kernels::{add_bias, dense, leaky_relu, relu};
use crate::spectral::SnLinear;
use crate::{init, SeededRng, Vars};

/// A network a trainer can drive: a [`ModuleT`] with a one-line summary for reports.
pub trait Network: ModuleT + Send + Sync {
    /// e.g. `MLP 2→256→256→1 (leaky_relu(0.2), spectral norm)`.
    fn summary(&self) -> String;

    /// Whether a training-mode forward pass normalizes with the batch's own statistics (batch
    /// norm), so that rows are not independent and the network behaves differently with
    /// `train = false`. Trainers then run such a discriminator in training mode whenever its
    /// output trains another network, and refuse per-example regularizers (the gradient penalty).
    fn batch_statistics(&self) -> bool {
        false
    }
}

/// A discriminator whose hidden activations can be read: the learned similarity metric of a
/// VAE-GAN (Larsen et al. 2016) compares examples by the activations of one hidden layer.
pub trait FeatureNetwork: Network {
    /// Hidden layers whose activations [`FeatureNetwork::forward_features`] can return.
    fn hidden_layers(&self) -> usize;

    /// One forward pass: the activations of hidden layer `layer` (1-based, after its
    /// normalization and activation) flattened to `(n, features)`, and the network's output.
    /// Fails for a layer outside `1..=hidden_layers()`.
    fn forward_features(&self, xs: &Tensor, layer: usize, train: bool) -> Result<(Tensor, Tensor)>;
}

/// Checks a hidden-layer number for [`FeatureNetwork::forward_features`].
pub(crate) fn check_feature_layer(layer: usize, hidden: usize) -> Result<()> {
    if layer == 0 || layer > hidden {
        bail!("feature layer {layer} does not exist: the network has hidden layers 1 to {hidden}");
    }
    Ok(())
}

/// An elementwise activation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Identity,
    Relu,
    /// With the given negative slope (0.2 in the GAN literature).
    LeakyRelu(f64),
    Tanh,
    Sigmoid,
}

impl Activation {
    /// The names accepted by [`Activation::parse`], for parameter declarations.
    pub const NAMES: [&'static str; 5] = ["relu", "leaky_relu", "tanh", "sigmoid", "none"];

    /// `relu`, `leaky_relu` (slope 0.2), `tanh`, `sigmoid` or `none`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "relu" => Self::Relu,
            "leaky_relu" => Self::LeakyRelu(0.2),
            "tanh" => Self::Tanh,
            "sigmoid" => Self::Sigmoid,
            "none" | "identity" => Self::Identity,
            _ => return None,
        })
    }

    /// The activation named by the declared parameter `name` of `params`.
    pub fn from_param(params: &ganbench_plugin_api::Params, name: &str) -> crate::Result<Self> {
        let s = params.str(name)?;
        Self::parse(s)
            .ok_or_else(|| crate::Error::msg(format!("`{name}`: unknown activation `{s}`")))
    }

    pub fn name(&self) -> String {
        match self {
            Self::Identity => "none".into(),
            Self::Relu => "relu".into(),
            Self::LeakyRelu(s) => format!("leaky_relu({s})"),
            Self::Tanh => "tanh".into(),
            Self::Sigmoid => "sigmoid".into(),
        }
    }

    /// The slope of this activation as a leaky ReLU with slope ≥ 0 (`Some(None)` for the
    /// identity), the activations that [`dense`] fuses; `None` for the others.
    fn dense_slope(self) -> Option<Option<f64>> {
        match self {
            Self::Identity => Some(None),
            Self::Relu => Some(Some(0.0)),
            Self::LeakyRelu(s) if s >= 0.0 => Some(Some(s)),
            _ => None,
        }
    }
}

impl Module for Activation {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match *self {
            Self::Identity => Ok(xs.clone()),
            Self::Relu => relu(xs),
            Self::LeakyRelu(slope) => leaky_relu(xs, slope),
            Self::Tanh => xs.tanh(),
            // 1 / (1 + e^-x): built from primitive ops so that it has a (double) backward.
            Self::Sigmoid => (xs.neg()?.exp()? + 1.0)?.recip(),
        }
    }
}

/// y = x Wᵀ + b for `x` of shape `(batch, in)`, `W` `(out, in)`, `b` `(out,)` (like candle-nn's
/// `Linear`, but one fused op, [`dense()`], whose bias gradient is a fast row sum).
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// `act(x Wᵀ + b)`: one fused op ([`dense()`]) for a layer with a bias and a
    /// (leaky) ReLU or no activation, else the layer and then the activation.
    pub fn forward_activated(&self, xs: &Tensor, act: Activation) -> Result<Tensor> {
        match (&self.bias, act.dense_slope()) {
            (Some(b), Some(slope)) => dense(xs, &self.weight, b, slope),
            _ => act.forward(&self.forward(xs)?),
        }
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match &self.bias {
            Some(b) if xs.rank() == 2 => dense(xs, &self.weight, b, None),
            Some(b) => add_bias(&xs.matmul(&self.weight.t()?)?, b),
            None => xs.matmul(&self.weight.t()?),
        }
    }
}

/// A linear layer `in_dim → out_dim` with PyTorch's default init, registered as `weight`/`bias`
/// in `vars` (weight shape `(out_dim, in_dim)`).
pub fn linear(vars: &Vars, in_dim: usize, out_dim: usize, rng: &mut SeededRng) -> Result<Linear> {
    let dev = vars.device().clone();
    let w = vars.param(
        "weight",
        init::default_weight(rng, (out_dim, in_dim), in_dim, &dev)?,
    )?;
    let b = vars.param("bias", init::default_bias(rng, out_dim, in_dim, &dev)?)?;
    Ok(Linear::new(w, Some(b)))
}

/// The one place where the SDK's layers run a 2D convolution: `x` `(n, c_in, h, w)`, `weight`
/// `(c_out, c_in / groups, kh, kw)`, `bias` `(c_out,)`.
pub fn conv2d_forward(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    config: &Conv2dConfig,
) -> Result<Tensor> {
    // The im2col kernels of `kernels::conv` (candle's own op for groups > 1 and other devices).
    let y = if config.groups == 1 {
        crate::kernels::conv2d(x, weight, config.padding, config.stride, config.dilation)?
    } else {
        x.conv2d(
            weight,
            config.padding,
            config.stride,
            config.dilation,
            config.groups,
        )?
    };
    add_channel_bias(y, bias)
}

/// The one place where the SDK's layers run a transposed 2D convolution: `x` `(n, c_in, h, w)`,
/// `weight` `(c_in, c_out, kh, kw)` (PyTorch's layout), `bias` `(c_out,)`.
pub fn conv_transpose2d_forward(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    config: &ConvTranspose2dConfig,
) -> Result<Tensor> {
    let y = crate::kernels::conv_transpose2d(
        x,
        weight,
        config.padding,
        config.output_padding,
        config.stride,
        config.dilation,
    )?;
    add_channel_bias(y, bias)
}

fn add_channel_bias(y: Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    match bias {
        Some(b) => crate::kernels::add_channel_bias(&y, b),
        None => Ok(y),
    }
}

/// A 2D convolution layer (forward through [`conv2d_forward`]).
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    config: Conv2dConfig,
}

impl Conv2d {
    pub fn new(weight: Tensor, bias: Option<Tensor>, config: Conv2dConfig) -> Self {
        Self {
            weight,
            bias,
            config,
        }
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    pub fn config(&self) -> &Conv2dConfig {
        &self.config
    }
}

impl Module for Conv2d {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        conv2d_forward(xs, &self.weight, self.bias.as_ref(), &self.config)
    }
}

/// A transposed 2D convolution layer (forward through [`conv_transpose2d_forward`]).
#[derive(Debug, Clone)]
pub struct ConvTranspose2d {
    weight: Tensor,
    bias: Option<Tensor>,
    config: ConvTranspose2dConfig,
}

impl ConvTranspose2d {
    pub fn new(weight: Tensor, bias: Option<Tensor>, config: ConvTranspose2dConfig) -> Self {
        Self {
            weight,
            bias,
            config,
        }
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    pub fn config(&self) -> &ConvTranspose2dConfig {
        &self.config
    }
}

impl Module for ConvTranspose2d {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        conv_transpose2d_forward(xs, &self.weight, self.bias.as_ref(), &self.config)
    }
}

/// A 2D convolution with square `kernel`, PyTorch's default init, registered as `weight`/`bias`.
pub fn conv2d(
    vars: &Vars,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    config: Conv2dConfig,
    rng: &mut SeededRng,
) -> Result<Conv2d> {
    let dev = vars.device().clone();
    let fan_in = in_channels / config.groups * kernel * kernel;
    let shape = (out_channels, in_channels / config.groups, kernel, kernel);
    let w = vars.param("weight", init::default_weight(rng, shape, fan_in, &dev)?)?;
    let b = vars.param("bias", init::default_bias(rng, out_channels, fan_in, &dev)?)?;
    Ok(Conv2d::new(w, Some(b), config))
}

/// A transposed 2D convolution with square `kernel`, PyTorch's default init (whose fan-in is
/// `out_channels·kernel²`, from the weight's second dimension), registered as `weight`/`bias`.
pub fn conv_transpose2d(
    vars: &Vars,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    config: ConvTranspose2dConfig,
    rng: &mut SeededRng,
) -> Result<ConvTranspose2d> {
    let dev = vars.device().clone();
    let fan_in = out_channels * kernel * kernel;
    let shape = (in_channels, out_channels, kernel, kernel);
    let w = vars.param("weight", init::default_weight(rng, shape, fan_in, &dev)?)?;
    let b = vars.param("bias", init::default_bias(rng, out_channels, fan_in, &dev)?)?;
    Ok(ConvTranspose2d::new(w, Some(b), config))
}

/// PyTorch's batch norm constants: running averages move by 0.1 of the batch statistic per
/// training forward pass; ε = 1e-5 in the denominator.
pub const BATCH_NORM_MOMENTUM: f64 = 0.1;
pub const BATCH_NORM_EPS: f64 = 1e-5;

/// Batch normalization over dimension 1 of `(n, features)` or `(n, features, h, w)` input, as
/// PyTorch's `BatchNorm1d`/`BatchNorm2d` (affine, tracking running statistics).
///
/// Training mode (`train = true`) normalizes with the batch's mean and biased variance over every
/// dimension but 1, and moves the running mean and the running *unbiased* variance towards them
/// ([`BATCH_NORM_MOMENTUM`]). Evaluation mode normalizes with the running statistics, so each
/// row's output depends on that row alone. The scale γ and shift β are parameters (`weight`,
/// `bias`); the running statistics are buffers (`running_mean`, `running_var`), saved in
/// checkpoints and never trained. Built from primitive ops, so it has gradients of any order.
pub struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    features: usize,
}

impl BatchNorm {
    /// γ = 1, β = 0 (PyTorch's init); running mean 0, running variance 1.
    pub fn new(vars: &Vars, features: usize) -> Result<Self> {
        let dev = vars.device().clone();
        Self::with_scale(vars, Tensor::ones(features, DType::F32, &dev)?)
    }

    /// With the initial scale γ = `scale` (shape `(features,)`; DCGAN draws it from N(1, 0.02)).
    pub fn with_scale(vars: &Vars, scale: Tensor) -> Result<Self> {
        let features = scale.elem_count();
        let dev = vars.device().clone();
        let zeros = Tensor::zeros(features, DType::F32, &dev)?;
        Ok(Self {
            weight: vars.param("weight", scale)?,
            bias: vars.param("bias", zeros.clone())?,
            running_mean: vars.buffer("running_mean", zeros)?,
            running_var: vars.buffer("running_var", Tensor::ones(features, DType::F32, &dev)?)?,
            features,
        })
    }

    pub fn features(&self) -> usize {
        self.features
    }

    /// Copies of the running mean and variance (copies, so that a later training pass cannot
    /// change values an evaluation graph holds).
    pub fn running_stats(&self) -> Result<(Tensor, Tensor)> {
        Ok((
            self.running_mean.as_tensor().copy()?,
            self.running_var.as_tensor().copy()?,
        ))
    }
}

impl ModuleT for BatchNorm {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        if xs.rank() < 2 || xs.dim(1)? != self.features {
            bail!(
                "batch norm over {} features got input of shape {:?}",
                self.features,
                xs.shape()
            );
        }
        // Per-channel fused ops (crate::ops): one pass each, gradients of any order.
        if train {
            let count = xs.elem_count() / self.features;
            if count < 2 {
                bail!(
                    "batch norm in training mode needs at least 2 values per feature, got input of shape {:?}",
                    xs.shape()
                );
            }
            let (ys, mean, var) =
                crate::kernels::batch_norm_train(xs, &self.weight, &self.bias, BATCH_NORM_EPS)?;
            let m = BATCH_NORM_MOMENTUM;
            let unbiased = count as f64 / (count as f64 - 1.0);
            let (rm, rv) = self.running_stats()?;
            self.running_mean
                .set(&((rm * (1.0 - m))? + (mean.detach() * m)?)?)?;
            self.running_var
                .set(&((rv * (1.0 - m))? + (var.detach() * (m * unbiased))?)?)?;
            Ok(ys)
        } else {
            let (rm, rv) = self.running_stats()?;
            crate::kernels::batch_norm_eval(xs, &self.weight, &self.bias, &rm, &rv, BATCH_NORM_EPS)
        }
    }
}

/// An MLP: `input → hidden[0] → … → output`, `activation` after every hidden layer and
/// `output_activation` after the last.
///
/// A hidden layer computes, in order: its linear map (without bias under `batch_norm`, which
/// would cancel it), batch norm, the maxout of each unit's pieces, `activation`. The options off
/// (the default) leave the fused dense path and the parameters as they were.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    pub input: usize,
    pub hidden: Vec<usize>,
    pub output: usize,
    pub activation: Activation,
    pub output_activation: Activation,
    /// Spectral norm on every layer (for discriminators).
    pub spectral_norm: bool,
    /// Groups of this many rows whose [`minibatch_stddev`] feature the last layer also sees
    /// (0: none; for discriminators).
    #[serde(default)]
    pub minibatch_std: usize,
    /// Batch norm ([`BatchNorm`], `bn{i}`) before the activation of every hidden layer, whose
    /// linear maps then have no bias (PacGAN's and VEEGAN's 2D generators).
    #[serde(default)]
    pub batch_norm: bool,
    /// Maxout units (Goodfellow et al. 2013) of this many pieces in every hidden layer: the
    /// layer computes `width × pieces` values and keeps each unit's largest (0 or 1: none).
    #[serde(default)]
    pub maxout: usize,
    /// Initial weights N(0, init_std²) and biases 0 (PacGAN's 2D code: 0.02), instead of
    /// PyTorch's default U(±1/√fan_in) for both (0). Not with `spectral_norm`.
    #[serde(default)]
    pub init_std: f64,
}

/// The minibatch standard deviation feature (Karras et al. 2018, ProGAN): rows are split into
/// groups of `group` as ProGAN's code does (row i belongs to group i mod (N / group)); within a
/// group, the standard deviation of every feature (biased, √(var + 1e-8)) is averaged over the
/// features into one number, appended to each of the group's rows as one more column (rank 2) or
/// one more constant channel (rank 4). `group` is capped at the batch size, which it must divide.
pub fn minibatch_stddev(x: &Tensor, group: usize) -> Result<Tensor> {
    let n = x.dim(0)?;
    let g = group.min(n);
    if g == 0 || n % g != 0 {
        bail!("minibatch standard deviation over groups of {group} needs a batch size divisible by it, got {n} rows");
    }
    let m = n / g;
    let rest: Vec<usize> = x.dims()[1..].to_vec();
    let features: usize = rest.iter().product();
    let y = x.reshape((g, m, features))?;
    let centred = y.broadcast_sub(&y.mean_keepdim(0)?)?;
    let std = (centred.sqr()?.mean(0)? + 1e-8)?.sqrt()?; // (m, features)
    let per_group = std.mean_keepdim(1)?; // (m, 1)
                                          // Row i = k·m + j takes group j's value: broadcast to (g, m, 1) and flatten.
    let per_row = per_group
        .unsqueeze(0)?
        .broadcast_as((g, m, 1))?
        .reshape((n, 1))?;
    match x.rank() {
        2 => Tensor::cat(&[x, &per_row], 1),
        4 => {
            let (h, w) = (rest[1], rest[2]);
            let map = per_row.reshape((n, 1, 1, 1))?.broadcast_as((n, 1, h, w))?;
            Tensor::cat(&[x, &map.contiguous()?], 1)
        }
        r => bail!("minibatch standard deviation takes rank-2 or rank-4 input, got rank {r}"),
    }
}

enum Dense {
    Plain(Linear),
    Spectral(SnLinear),
}

impl ModuleT for Dense {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Dense::Plain(l) => l.forward(xs),
            Dense::Spectral(l) => l.forward_t(xs, train),
        }
    }
}

/// A multi-layer perceptron; input of any rank is flattened to `(batch, features)`.
pub struct Mlp {
    layers: Vec<Dense>,
    /// One per hidden layer with [`MlpConfig::batch_norm`], else none.
    norms: Vec<BatchNorm>,
    config: MlpConfig,
}

impl Mlp {
    /// Builds the layers as `fc0`, `fc1`, … (and `bn0`, … under batch norm) in `vars`, drawing
    /// initial values from `rng`.
    pub fn new(config: &MlpConfig, vars: &Vars, rng: &mut SeededRng) -> Result<Self> {
        if config.spectral_norm && config.init_std > 0.0 {
            bail!("an MLP with spectral norm keeps its own initialization: set init_std to 0");
        }
        let pieces = config.maxout.max(1);
        let mut dims = vec![config.input];
        dims.extend(&config.hidden);
        dims.push(config.output);
        let last = dims.len() - 2;
        let mut layers = Vec::new();
        let mut norms = Vec::new();
        for (i, pair) in dims.windows(2).enumerate() {
            let vs = vars.pp(&format!("fc{i}"));
            let hidden = i < last;
            // The last layer also reads the minibatch standard deviation feature.
            let fan_in = pair[0] + usize::from(i == last && config.minibatch_std > 0);
            let out = if hidden { pair[1] * pieces } else { pair[1] };
            layers.push(if config.spectral_norm {
                Dense::Spectral(SnLinear::new(&vs, fan_in, out, rng)?)
            } else if config.init_std > 0.0 || (hidden && config.batch_norm) {
                let dev = vars.device().clone();
                let weight = if config.init_std > 0.0 {
                    (rng.normal((out, fan_in), &dev)? * config.init_std)?
                } else {
                    crate::init::default_weight(rng, (out, fan_in), fan_in, &dev)?
                };
                let bias = if hidden && config.batch_norm {
                    None
                } else if config.init_std > 0.0 {
                    Some(vs.param("bias", Tensor::zeros(out, DType::F32, &dev)?)?)
                } else {
                    Some(vs.param("bias", crate::init::default_bias(rng, out, fan_in, &dev)?)?)
                };
                Dense::Plain(Linear::new(vs.param("weight", weight)?, bias))
            } else {
                Dense::Plain(linear(&vs, fan_in, out, rng)?)
            });
            if hidden && config.batch_norm {
                norms.push(BatchNorm::new(
                    &vars.pp(&format!("bn{i}")),
                    pair[1] * pieces,
                )?);
            }
        }
        Ok(Self {
            layers,
            norms,
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    /// The spectral-norm layers, first to last (empty without spectral norm).
    pub fn spectral_layers(&self) -> Vec<&SnLinear> {
        self.layers
            .iter()
            .filter_map(|l| match l {
                Dense::Spectral(s) => Some(s),
                Dense::Plain(_) => None,
            })
            .collect()
    }
}

impl Mlp {
    /// The forward pass; with `keep = Some(l)`, also the activations of hidden layer `l`.
    fn run(
        &self,
        xs: &Tensor,
        train: bool,
        keep: Option<usize>,
    ) -> Result<(Option<Tensor>, Tensor)> {
        let mut x = if xs.rank() > 2 {
            xs.flatten_from(1)?
        } else {
            xs.clone()
        };
        let mut kept = None;
        let last = self.layers.len() - 1;
        let plain_hidden = !self.config.batch_norm && self.config.maxout <= 1;
        for (i, layer) in self.layers.iter().enumerate() {
            let act = if i == last {
                if self.config.minibatch_std > 0 {
                    x = minibatch_stddev(&x, self.config.minibatch_std)?;
                }
                self.config.output_activation
            } else {
                self.config.activation
            };
            // The output layer, and hidden layers without batch norm or maxout, run as they did
            // before those options (fused for plain layers).
            let fused = i == last || plain_hidden;
            x = match layer {
                Dense::Plain(l) if fused => l.forward_activated(&x, act)?,
                _ if fused => act.forward(&layer.forward_t(&x, train)?)?,
                _ => {
                    let mut y = layer.forward_t(&x, train)?;
                    if let Some(norm) = self.norms.get(i) {
                        y = norm.forward_t(&y, train)?;
                    }
                    if self.config.maxout > 1 {
                        let (n, width) = (y.dim(0)?, self.config.hidden[i]);
                        y = y.reshape((n, width, self.config.maxout))?.max(2)?;
                    }
                    act.forward(&y)?
                }
            };
            if keep == Some(i + 1) {
                kept = Some(x.clone());
            }
        }
        Ok((kept, x))
    }
}

impl ModuleT for Mlp {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ok(self.run(xs, train, None)?.1)
    }
}

impl FeatureNetwork for Mlp {
    fn hidden_layers(&self) -> usize {
        self.config.hidden.len()
    }

    fn forward_features(&self, xs: &Tensor, layer: usize, train: bool) -> Result<(Tensor, Tensor)> {
        check_feature_layer(layer, self.hidden_layers())?;
        let (kept, out) = self.run(xs, train, Some(layer))?;
        Ok((kept.expect("a hidden layer's activations were kept"), out))
    }
}

impl Network for Mlp {
    fn summary(&self) -> String {
        let c = &self.config;
        let dims: Vec<String> = std::iter::once(c.input)
            .chain(c.hidden.iter().copied())
            .chain([c.output])
            .map(|d| d.to_string())
            .collect();
        let mut s = format!("MLP {} ({}", dims.join("→"), c.activation.name());
        if c.output_activation != Activation::Identity {
            s += &format!(", output {}", c.output_activation.name());
        }
        if c.spectral_norm {
            s += ", spectral norm";
        }
        if c.minibatch_std > 0 {
            s += &format!(", minibatch std over {}", c.minibatch_std);
        }
        if c.batch_norm {
            s += ", batch norm";
        }
        if c.maxout > 1 {
            s += &format!(", maxout of {}", c.maxout);
        }
        if c.init_std > 0.0 {
            s += &format!(", init N(0, {}²)", c.init_std);
        }
        s + ")"
    }
}
