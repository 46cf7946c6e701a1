//! Layers and networks: activations, PyTorch-initialized linear/conv layers, the [`Mlp`] builder.
//!
//! Networks implement candle-nn's [`ModuleT`]; `train = true` marks a forward pass that belongs to
//! an update of that network, which is when stateful layers (spectral norm's power iteration)
//! advance their state.

use candle_core::{Module, ModuleT, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig};
use serde::{Deserialize, Serialize};

pub use crate::ops::{add_bias, leaky_relu, relu};
use crate::spectral::SnLinear;
use crate::{init, SeededRng, Vars};

/// A network a trainer can drive: a [`ModuleT`] with a one-line summary for reports.
pub trait Network: ModuleT + Send + Sync {
    /// e.g. `MLP 2→256→256→1 (leaky_relu(0.2), spectral norm)`.
    fn summary(&self) -> String;
}

/// An elementwise activation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
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

    pub fn name(&self) -> String {
        match self {
            Self::Identity => "none".into(),
            Self::Relu => "relu".into(),
            Self::LeakyRelu(s) => format!("leaky_relu({s})"),
            Self::Tanh => "tanh".into(),
            Self::Sigmoid => "sigmoid".into(),
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
/// `Linear`, but adding the bias with [`add_bias`], whose backward is a fast row sum).
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
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let y = xs.matmul(&self.weight.t()?)?;
        match &self.bias {
            Some(b) => add_bias(&y, b),
            None => Ok(y),
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

/// An MLP: `input → hidden[0] → … → output`, `activation` after every hidden layer and
/// `output_activation` after the last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    pub input: usize,
    pub hidden: Vec<usize>,
    pub output: usize,
    pub activation: Activation,
    pub output_activation: Activation,
    /// Spectral norm on every layer (for discriminators).
    pub spectral_norm: bool,
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
    config: MlpConfig,
}

impl Mlp {
    /// Builds the layers as `fc0`, `fc1`, … in `vars`, drawing initial values from `rng`.
    pub fn new(config: &MlpConfig, vars: &Vars, rng: &mut SeededRng) -> Result<Self> {
        let mut dims = vec![config.input];
        dims.extend(&config.hidden);
        dims.push(config.output);
        let mut layers = Vec::new();
        for (i, pair) in dims.windows(2).enumerate() {
            let vs = vars.pp(&format!("fc{i}"));
            layers.push(if config.spectral_norm {
                Dense::Spectral(SnLinear::new(&vs, pair[0], pair[1], rng)?)
            } else {
                Dense::Plain(linear(&vs, pair[0], pair[1], rng)?)
            });
        }
        Ok(Self {
            layers,
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

impl ModuleT for Mlp {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = if xs.rank() > 2 {
            xs.flatten_from(1)?
        } else {
            xs.clone()
        };
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward_t(&x, train)?;
            let act = if i == last {
                self.config.output_activation
            } else {
                self.config.activation
            };
            x = act.forward(&x)?;
        }
        Ok(x)
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
        s + ")"
    }
}
