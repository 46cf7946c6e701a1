//! Optimizers with checkpointable state: [`Adam`] (as `torch.optim.Adam`) and [`Sgd`].
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
/// devices or dtypes, or [`crate::fast_kernels`] off).
fn fused_adam(
    p: &Var,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    [beta1, beta2, eps, step_size, inv_sqrt_bc2]: [f64; 5],
) -> Result<Option<(Tensor, Tensor)>> {
    use candle_core::{CpuStorage, Storage};

    let all = [p.as_tensor(), g, m, v];
    if !crate::fast_kernels()
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
                    slices.push(crate::ops::values(data, layout))
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
/// Nesterov): b ← μb + g (b = g at the first step), p ← p − lr·b.
pub struct Sgd {
    lr: f64,
    momentum: f64,
    params: Vec<(String, Var)>,
    buffers: Vec<Option<Tensor>>,
}

impl Sgd {
    pub fn new(params: Vec<(String, Var)>, lr: f64, momentum: f64) -> Self {
        let buffers = vec![None; params.len()];
        Self {
            lr,
            momentum,
            params,
            buffers,
        }
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
                    Some(b) => ((b * self.momentum)? + g)?,
                    None => g,
                };
                self.buffers[i] = Some(b.clone());
                b
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
