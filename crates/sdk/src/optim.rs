//! Optimizers with checkpointable state: [`Adam`] (as `torch.optim.Adam`), [`Sgd`] (momentum,
//! Nesterov) and [`RmsProp`], the [`OptimizerKind`] a trainer picks by name, and gradient-norm
//! clipping ([`clip_grad_norm`]).
//!
//! candle-nn's `AdamW` keeps its moments private, so it cannot be checkpointed; these optimizers
//! expose their whole state as named tensors ([`Optimizer::state`]) so that a resumed run
//! continues bit for bit.
//!
//! Gradients are detached before use: with `CANDLE_GRAD_DO_NOT_DETACH=1` they carry their
//! computation graph, and moments built from them would otherwise chain every step's graph.

use candle_core::backprop::GradStore;
use candle_core::{bail, DType, Device, Result, Tensor, Var};
use serde::{Deserialize, Serialize};

/// An optimizer over a fixed, named set of parameters.
pub trait Optimizer: Send + Sync {
    /// Applies one update from the gradients of a backward pass (parameters without a gradient
    /// are left alone).
    fn step(&mut self, grads: &GradStore) -> Result<()>;
    fn learning_rate(&self) -> f64;
    fn set_learning_rate(&mut self, lr: f64);
    /// The full state as named tensors (moments per parameter, the step count).
    fn state(&self) -> Result<Vec<(String, Tensor)>>;
    /// Restores [`Optimizer::state`]; every expected tensor must be present with the right shape.
    fn set_state(&mut self, state: &[(String, Tensor)]) -> Result<()>;
}

/// Adam's hyper-parameters (no weight decay).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for AdamConfig {
    /// PyTorch's defaults: lr 1e-3, β = (0.9, 0.999), ε = 1e-8.
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

impl AdamConfig {
    /// Learning rate `lr` with the declared parameters `beta1` and `beta2` of `params`, and
    /// PyTorch's ε.
    pub fn from_params(params: &ganbench_plugin_api::Params, lr: f64) -> crate::Result<Self> {
        Ok(Self {
            lr,
            beta1: params.f64("beta1")?,
            beta2: params.f64("beta2")?,
            eps: 1e-8,
        })
    }
}

/// Adam with bias correction, the same math as `torch.optim.Adam` (default, non-amsgrad):
/// m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p ← p − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε).
pub struct Adam {
    config: AdamConfig,
    params: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    t: u64,
}

impl Adam {
    /// `params` are typically [`Vars::params`](crate::Vars::params): named and sorted.
    pub fn new(params: Vec<(String, Var)>, config: AdamConfig) -> Result<Self> {
        let m = params
            .iter()
            .map(|(_, p)| p.zeros_like())
            .collect::<Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(Self {
            config,
            params,
            m,
            v,
            t: 0,
        })
    }

    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.t
    }
}

impl Optimizer for Adam {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let AdamConfig {
            lr,
            beta1,
            beta2,
            eps,
        } = self.config;
        let bc1 = 1.0 - beta1.powf(self.t as f64);
        let bc2 = 1.0 - beta2.powf(self.t as f64);
        let step_size = lr / bc1;
        let inv_sqrt_bc2 = 1.0 / bc2.sqrt();
        for (i, (_, p)) in self.params.iter().enumerate() {
            let Some(g) = grads.get(p.as_tensor()) else {
                continue;
            };
            let g = g.detach();
            let coefficients = [beta1, beta2, eps, step_size, inv_sqrt_bc2];
            if let Some((m, v)) = fused_adam(p, &g, &self.m[i], &self.v[i], coefficients)? {
                (self.m[i], self.v[i]) = (m, v);
                continue;
            }
            let m = ((&self.m[i] * beta1)? + (&g * (1.0 - beta1))?)?;
            let v = ((&self.v[i] * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let denom = v.sqrt()?.affine(inv_sqrt_bc2, eps)?;
            let update = (m.div(&denom)? * step_size)?;
            p.set(&p.as_tensor().detach().sub(&update)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = vec![("step".to_string(), count_tensor(self.t)?)];
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.push((format!("{name}.exp_avg"), self.m[i].clone()));
            out.push((format!("{name}.exp_avg_sq"), self.v[i].clone()));
        }
        Ok(out)
    }

    fn set_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let t = read_count(state, "step")?;
        let mut m = Vec::with_capacity(self.params.len());
        let mut v = Vec::with_capacity(self.params.len());
        for (name, p) in &self.params {
            m.push(find_like(state, &format!("{name}.exp_avg"), p)?);
            v.push(find_like(state, &format!("{name}.exp_avg_sq"), p)?);
        }
        (self.t, self.m, self.v) = (t, m, v);
        Ok(())
    }
}

/// The Adam update of one f32 CPU parameter in a single pass over p, g, m and v, the same
/// formula as the tensor code in [`Adam::step`] (which allocates nine temporaries per parameter, a
/// tenth of a DCGAN step). Returns the new moments, or `None` where it does not apply (other
/// devices or dtypes, or [`kernels::enabled`](crate::kernels::enabled) off).
fn fused_adam(
    p: &Var,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    [beta1, beta2, eps, step_size, inv_sqrt_bc2]: [f64; 5],
) -> Result<Option<(Tensor, Tensor)>> {
    use candle_core::{CpuStorage, Storage};

    let all = [p.as_tensor(), g, m, v];
    if !crate::kernels::enabled()
        || all
            .iter()
            .any(|t| !t.device().is_cpu() || t.dtype() != DType::F32 || t.shape() != p.shape())
    {
        return Ok(None);
    }
    let n = p.elem_count();
    let (mut new_p, mut new_m, mut new_v) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    {
        let guards: Vec<_> = all.iter().map(|t| t.storage_and_layout()).collect();
        let mut slices = Vec::with_capacity(4);
        for (storage, layout) in &guards {
            match &**storage {
                Storage::Cpu(CpuStorage::F32(data)) => {
                    slices.push(crate::kernels::values(data, layout))
                }
                _ => return Ok(None),
            }
        }
        let (b1, b2, e) = (beta1 as f32, beta2 as f32, eps as f32);
        let (lr, bc) = (step_size as f32, inv_sqrt_bc2 as f32);
        for (((&p, &g), &m), &v) in slices[0]
            .iter()
            .zip(slices[1].iter())
            .zip(slices[2].iter())
            .zip(slices[3].iter())
        {
            let m = m * b1 + g * (1.0 - b1);
            let v = v * b2 + g * g * (1.0 - b2);
            new_p.push(p - m / (v.sqrt() * bc + e) * lr);
            new_m.push(m);
            new_v.push(v);
        }
    } // the read guards end here, before `set` writes to p
    let (shape, device) = (p.shape().clone(), p.device().clone());
    p.set(&Tensor::from_vec(new_p, shape.clone(), &device)?)?;
    Ok(Some((
        Tensor::from_vec(new_m, shape.clone(), &device)?,
        Tensor::from_vec(new_v, shape, &device)?,
    )))
}

/// Stochastic gradient descent with optional momentum, as `torch.optim.SGD` (no dampening, no
/// weight decay): b ← μb + g (b = g at the first step), then p ← p − lr·b, or with Nesterov
/// momentum (Sutskever et al. 2013, in PyTorch's form) p ← p − lr·(g + μb).
pub struct Sgd {
    lr: f64,
    momentum: f64,
    nesterov: bool,
    params: Vec<(String, Var)>,
    buffers: Vec<Option<Tensor>>,
}

impl Sgd {
    pub fn new(params: Vec<(String, Var)>, lr: f64, momentum: f64) -> Self {
        let buffers = vec![None; params.len()];
        Self {
            lr,
            momentum,
            nesterov: false,
            params,
            buffers,
        }
    }

    /// With Nesterov momentum (which needs `momentum > 0`, as in PyTorch).
    pub fn with_nesterov(mut self, nesterov: bool) -> Result<Self> {
        if nesterov && self.momentum <= 0.0 {
            bail!(
                "Nesterov momentum needs a momentum above 0, got {}",
                self.momentum
            );
        }
        self.nesterov = nesterov;
        Ok(self)
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        for (i, (_, p)) in self.params.iter().enumerate() {
            let Some(g) = grads.get(p.as_tensor()) else {
                continue;
            };
            let g = g.detach();
            let dir = if self.momentum == 0.0 {
                g
            } else {
                let b = match &self.buffers[i] {
                    Some(b) => ((b * self.momentum)? + &g)?,
                    None => g.clone(),
                };
                self.buffers[i] = Some(b.clone());
                match self.nesterov {
                    true => (g + (b * self.momentum)?)?,
                    false => b,
                }
            };
            p.set(&p.as_tensor().detach().sub(&(dir * self.lr)?)?)?;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(self
            .params
            .iter()
            .zip(&self.buffers)
            .filter_map(|((name, _), b)| {
                b.as_ref()
                    .map(|b| (format!("{name}.momentum_buffer"), b.clone()))
            })
            .collect())
    }

    fn set_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let mut buffers = Vec::with_capacity(self.params.len());
        for (name, p) in &self.params {
            let key = format!("{name}.momentum_buffer");
            buffers.push(match state.iter().any(|(k, _)| *k == key) {
                true => Some(find_like(state, &key, p)?),
                false => None,
            });
        }
        self.buffers = buffers;
        Ok(())
    }
}

/// RMSProp (Tieleman & Hinton 2012) as `torch.optim.RMSprop` (not centered, no momentum):
/// v ← αv + (1−α)g², p ← p − lr·g / (√v + ε). The WGAN paper's optimizer.
pub struct RmsProp {
    lr: f64,
    alpha: f64,
    eps: f64,
    params: Vec<(String, Var)>,
    square_avg: Vec<Tensor>,
    t: u64,
}

impl RmsProp {
    /// PyTorch's defaults are α = 0.99, ε = 1e-8 (those of the WGAN authors' code).
    pub fn new(params: Vec<(String, Var)>, lr: f64, alpha: f64, eps: f64) -> Result<Self> {
        let square_avg = params
            .iter()
            .map(|(_, p)| p.zeros_like())
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            lr,
            alpha,
            eps,
            params,
            square_avg,
            t: 0,
        })
    }
}

impl Optimizer for RmsProp {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        for (i, (_, p)) in self.params.iter().enumerate() {
            let Some(g) = grads.get(p.as_tensor()) else {
                continue;
            };
            let g = g.detach();
            let v = ((&self.square_avg[i] * self.alpha)? + (g.sqr()? * (1.0 - self.alpha))?)?;
            let update = (g.div(&(v.sqrt()? + self.eps)?)? * self.lr)?;
            p.set(&p.as_tensor().detach().sub(&update)?)?;
            self.square_avg[i] = v;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = vec![("step".to_string(), count_tensor(self.t)?)];
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.push((format!("{name}.square_avg"), self.square_avg[i].clone()));
        }
        Ok(out)
    }

    fn set_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let t = read_count(state, "step")?;
        let square_avg = self
            .params
            .iter()
            .map(|(name, p)| find_like(state, &format!("{name}.square_avg"), p))
            .collect::<Result<Vec<_>>>()?;
        (self.t, self.square_avg) = (t, square_avg);
        Ok(())
    }
}

/// Which optimizer a trainer builds, with its own settings; the learning rate and Adam's β come
/// from the trainer's [`AdamConfig`] (its `lr` is the learning rate of every kind).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerKind {
    /// [`Adam`] (Kingma & Ba 2015).
    #[default]
    Adam,
    /// [`Sgd`] with momentum μ, optionally Nesterov's.
    Sgd { momentum: f64, nesterov: bool },
    /// [`RmsProp`] with smoothing α and ε = 1e-8.
    RmsProp { alpha: f64 },
}

impl OptimizerKind {
    /// The names of the `optimizer` parameter.
    pub const NAMES: [&'static str; 3] = ["adam", "sgd", "rmsprop"];

    /// The optimizer over `params` with the learning rate (and, for Adam, β and ε) of `adam`.
    pub fn build(
        &self,
        params: Vec<(String, Var)>,
        adam: AdamConfig,
    ) -> Result<Box<dyn Optimizer>> {
        Ok(match *self {
            Self::Adam => Box::new(Adam::new(params, adam)?),
            Self::Sgd { momentum, nesterov } => {
                Box::new(Sgd::new(params, adam.lr, momentum).with_nesterov(nesterov)?)
            }
            Self::RmsProp { alpha } => Box::new(RmsProp::new(params, adam.lr, alpha, RMSPROP_EPS)?),
        })
    }

    /// e.g. `Adam β (0.5, 0.999)`, `SGD (Nesterov momentum 0.9)`, `RMSProp α 0.99`.
    pub fn describe(&self, adam: &AdamConfig) -> String {
        match *self {
            Self::Adam => format!("Adam β ({}, {})", adam.beta1, adam.beta2),
            Self::Sgd { momentum, nesterov } if momentum > 0.0 => format!(
                "SGD ({}momentum {momentum})",
                if nesterov { "Nesterov " } else { "" }
            ),
            Self::Sgd { .. } => "SGD".into(),
            Self::RmsProp { alpha } => format!("RMSProp α {alpha}"),
        }
    }

    /// The optimizers of a generator and a discriminator (learning rates `g.lr`, `d.lr`), for a
    /// trainer's description: `Adam lr_g 0.0002 lr_d 0.0002 β (0.5, 0.999)`, `SGD lr_g … lr_d …`.
    pub fn describe_pair(&self, g: &AdamConfig, d: &AdamConfig) -> String {
        match self {
            Self::Adam => format!(
                "Adam lr_g {} lr_d {} β ({}, {})",
                g.lr, d.lr, g.beta1, g.beta2
            ),
            other => format!("{} lr_g {} lr_d {}", other.describe(g), g.lr, d.lr),
        }
    }
}

/// RMSProp's ε, PyTorch's default.
pub const RMSPROP_EPS: f64 = 1e-8;

/// Scales the gradients of `params` in `grads` so that their joint L2 norm is at most `max_norm`,
/// as `torch.nn.utils.clip_grad_norm_` (Pascanu et al. 2013): with N = √Σ‖gᵢ‖², every gradient is
/// multiplied by min(1, max_norm / (N + 1e-6)). Returns N, the norm before clipping. Parameters
/// without a gradient count as zero.
pub fn clip_grad_norm(
    grads: &mut GradStore,
    params: &[(String, Var)],
    max_norm: f64,
) -> Result<f64> {
    let mut sum_sq = 0.0;
    for (_, p) in params {
        if let Some(g) = grads.get(p.as_tensor()) {
            sum_sq += g
                .sqr()?
                .sum_all()?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?;
        }
    }
    let norm = sum_sq.sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        for (_, p) in params {
            if let Some(g) = grads.get(p.as_tensor()) {
                let clipped = (g.detach() * coef)?;
                grads.insert(p.as_tensor(), clipped);
            }
        }
    }
    Ok(norm)
}

fn count_tensor(t: u64) -> Result<Tensor> {
    Tensor::new(&[t as i64], &Device::Cpu)
}

fn read_count(state: &[(String, Tensor)], name: &str) -> Result<u64> {
    let Some((_, t)) = state.iter().find(|(k, _)| k == name) else {
        bail!("optimizer state has no `{name}`");
    };
    let v = t.to_dtype(DType::I64)?.flatten_all()?.to_vec1::<i64>()?;
    match v.as_slice() {
        [n] if *n >= 0 => Ok(*n as u64),
        _ => bail!("optimizer state `{name}` is not a step count: {v:?}"),
    }
}

/// The state tensor `name`, checked against the parameter's shape and moved to its device/dtype.
fn find_like(state: &[(String, Tensor)], name: &str, p: &Var) -> Result<Tensor> {
    let Some((_, t)) = state.iter().find(|(k, _)| k == name) else {
        bail!("optimizer state has no `{name}`");
    };
    if t.shape() != p.shape() {
        bail!(
            "optimizer state `{name}` has shape {:?}, the parameter {:?}",
            t.shape(),
            p.shape()
        );
    }
    t.to_device(p.device())?
        .to_dtype(p.dtype())?
        .detach()
        .copy()
}
