//! Spectral normalization (Miyato et al. 2018): W / σ(W), with σ estimated by power iteration.
//!
//! candle-nn has no spectral norm. As in PyTorch, the singular-vector estimates `u` and `v` are
//! persistent, detached buffers (part of the checkpoint, so a resumed run continues bit for bit):
//! every training forward pass runs one power-iteration step and then uses
//! σ = uᵀ W v, through which gradients flow to W (u and v are constants for backward).
//! A forward pass with `train = false` reuses the stored vectors without updating them, so it sees
//! the same σ as the training pass before it (for the same W).

use candle_core::{Module, ModuleT, Result, Tensor, Var};

use crate::nn::{conv2d_forward, Conv2dConfig, Linear};
use crate::{init, SeededRng, Vars};

/// Power-iteration steps run once at construction (PyTorch's parametrized spectral norm does 15),
/// so that σ is already a good estimate at the first training step.
pub const INIT_POWER_ITERATIONS: usize = 15;

const EPS: f64 = 1e-12;

/// The spectral normalization of one weight (any rank; viewed as `(shape[0], rest)`).
pub struct SpectralNorm {
    weight: Tensor,
    rows: usize,
    cols: usize,
    /// Shape `(rows,)`: the left singular vector estimate.
    u: Var,
    /// Shape `(cols,)`: the right singular vector estimate.
    v: Var,
}

impl SpectralNorm {
    /// Wraps the parameter `weight`, registering buffers `u` and `v` in `vars` (initialized like
    /// PyTorch: normalized N(0, 1) draws, then [`INIT_POWER_ITERATIONS`] steps).
    pub fn new(weight: Tensor, vars: &Vars, rng: &mut SeededRng) -> Result<Self> {
        let rows = weight.dim(0)?;
        let cols = weight.elem_count() / rows;
        let dev = vars.device().clone();
        let u = normalize(&rng.normal(rows, &dev)?.to_dtype(vars.dtype())?)?;
        let v = normalize(&rng.normal(cols, &dev)?.to_dtype(vars.dtype())?)?;
        let sn = Self {
            weight,
            rows,
            cols,
            u: vars.buffer("u", u)?,
            v: vars.buffer("v", v)?,
        };
        for _ in 0..INIT_POWER_ITERATIONS {
            sn.power_iteration()?;
        }
        Ok(sn)
    }

    /// The unnormalized weight parameter.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// One power-iteration step on the current (detached) weight; returns the new (u, v) as
    /// column vectors, already stored in the buffers.
    pub fn power_iteration(&self) -> Result<(Tensor, Tensor)> {
        let w = self.weight.detach().reshape((self.rows, self.cols))?;
        let u = self.u.as_tensor().reshape((self.rows, 1))?;
        let v = normalize(&w.t()?.matmul(&u)?)?;
        let u = normalize(&w.matmul(&v)?)?;
        self.u.set(&u.flatten_all()?)?;
        self.v.set(&v.flatten_all()?)?;
        Ok((u, v))
    }

    /// σ = uᵀ W v with the stored vectors and the current weight, without updating anything.
    pub fn sigma(&self) -> Result<f64> {
        let (u, v) = self.stored()?;
        let w = self.weight.detach().reshape((self.rows, self.cols))?;
        u.t()?
            .matmul(&w.matmul(&v)?)?
            .flatten_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_vec1::<f64>()
            .map(|s| s[0])
    }

    /// Copies of the stored vectors as column vectors (copies, so that a later update of the
    /// buffers cannot change values a pending backward pass depends on).
    fn stored(&self) -> Result<(Tensor, Tensor)> {
        Ok((
            self.u.as_tensor().copy()?.reshape((self.rows, 1))?,
            self.v.as_tensor().copy()?.reshape((self.cols, 1))?,
        ))
    }

    /// W / σ, in W's shape. With `train`, first runs one power-iteration step.
    pub fn normalized_weight(&self, train: bool) -> Result<Tensor> {
        let (u, v) = if train {
            self.power_iteration()?
        } else {
            self.stored()?
        };
        let w = self.weight.reshape((self.rows, self.cols))?;
        let sigma = u.t()?.matmul(&w.matmul(&v)?)?; // (1, 1); gradients flow to W only
        let sigma = sigma.reshape(vec![1; self.weight.rank()])?;
        self.weight.broadcast_div(&sigma)
    }
}

fn normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x.sqr()?.sum_all()?.sqrt()?.maximum(EPS)?;
    x.broadcast_div(&norm)
}

/// A linear layer with spectral norm on its weight (PyTorch's default init for W and b).
pub struct SnLinear {
    sn: SpectralNorm,
    bias: Tensor,
}

impl SnLinear {
    /// Registers `weight`, `bias` (parameters) and `u`, `v` (buffers) in `vars`.
    pub fn new(vars: &Vars, in_dim: usize, out_dim: usize, rng: &mut SeededRng) -> Result<Self> {
        let dev = vars.device().clone();
        let w = vars.param(
            "weight",
            init::default_weight(rng, (out_dim, in_dim), in_dim, &dev)?,
        )?;
        let b = vars.param("bias", init::default_bias(rng, out_dim, in_dim, &dev)?)?;
        Self::from_parameters(w, b, vars, rng)
    }

    /// Spectral norm on an already registered `weight` `(out, in)` and `bias` `(out,)` (e.g. with
    /// another initialization); registers the buffers `u`, `v` in `vars`.
    pub fn from_parameters(
        weight: Tensor,
        bias: Tensor,
        vars: &Vars,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        Ok(Self {
            sn: SpectralNorm::new(weight, vars, rng)?,
            bias,
        })
    }

    pub fn spectral_norm(&self) -> &SpectralNorm {
        &self.sn
    }
}

impl ModuleT for SnLinear {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Linear::new(self.sn.normalized_weight(train)?, Some(self.bias.clone())).forward(xs)
    }
}

/// A 2D convolution with spectral norm on its weight viewed as `(out, in·kh·kw)`, as in PyTorch.
pub struct SnConv2d {
    sn: SpectralNorm,
    bias: Tensor,
    config: Conv2dConfig,
}

impl SnConv2d {
    /// Registers `weight`, `bias` (parameters) and `u`, `v` (buffers) in `vars`.
    pub fn new(
        vars: &Vars,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        config: Conv2dConfig,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let dev = vars.device().clone();
        let fan_in = in_channels / config.groups * kernel * kernel;
        let shape = (out_channels, in_channels / config.groups, kernel, kernel);
        let w = vars.param("weight", init::default_weight(rng, shape, fan_in, &dev)?)?;
        let b = vars.param("bias", init::default_bias(rng, out_channels, fan_in, &dev)?)?;
        Self::from_parameters(w, b, config, vars, rng)
    }

    /// Spectral norm on an already registered `weight` `(out, in, kh, kw)` and `bias` `(out,)`
    /// (e.g. with another initialization); registers the buffers `u`, `v` in `vars`.
    pub fn from_parameters(
        weight: Tensor,
        bias: Tensor,
        config: Conv2dConfig,
        vars: &Vars,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        Ok(Self {
            sn: SpectralNorm::new(weight, vars, rng)?,
            bias,
            config,
        })
    }

    pub fn spectral_norm(&self) -> &SpectralNorm {
        &self.sn
    }
}

impl ModuleT for SnConv2d {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        conv2d_forward(
            xs,
            &self.sn.normalized_weight(train)?,
            Some(&self.bias),
            &self.config,
        )
    }
}
