//! [`Vars`]: a network's trainable parameters and its persistent, non-trainable buffers.

use candle_core::{bail, DType, Device, Result, Tensor, Var};
use candle_nn::VarMap;

/// Named trainable parameters (a candle [`VarMap`], handed to the optimizer) and named buffers
/// (state such as spectral norm's `u`, saved in checkpoints but never trained), with a name prefix
/// for nesting, like candle-nn's `VarBuilder` but filled with seeded values by the caller.
///
/// Cloning (and [`Vars::pp`]) shares the underlying maps.
#[derive(Clone)]
pub struct Vars {
    params: VarMap,
    buffers: VarMap,
    prefix: String,
    dtype: DType,
    device: Device,
}

impl Vars {
    /// Empty maps; parameters are converted to `dtype` (normally F32, F64 for gradient checks).
    pub fn new(dtype: DType, device: &Device) -> Self {
        Self {
            params: VarMap::new(),
            buffers: VarMap::new(),
            prefix: String::new(),
            dtype,
            device: device.clone(),
        }
    }

    /// A view whose names are prefixed with `name.`.
    pub fn pp(&self, name: &str) -> Self {
        Self {
            prefix: self.path(name),
            ..self.clone()
        }
    }

    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Registers a trainable parameter with the value `init`; returns the tensor to use in forward
    /// passes (it shares the variable's storage and id, so gradients find it).
    pub fn param(&self, name: &str, init: Tensor) -> Result<Tensor> {
        Ok(insert(
            &self.params,
            self.path(name),
            &init,
            self.dtype,
            &self.device,
        )?
        .as_tensor()
        .clone())
    }

    /// Registers a persistent buffer with the value `init`. It is saved and restored with the
    /// parameters but never trained; update it with [`Var::set`].
    pub fn buffer(&self, name: &str, init: Tensor) -> Result<Var> {
        insert(
            &self.buffers,
            self.path(name),
            &init,
            self.dtype,
            &self.device,
        )
    }

    /// The trainable parameters map (all names, whatever this view's prefix).
    pub fn varmap(&self) -> &VarMap {
        &self.params
    }

    /// All trainable parameters, sorted by name (a deterministic order for optimizers).
    pub fn params(&self) -> Vec<(String, Var)> {
        sorted(&self.params)
    }

    /// All buffers, sorted by name.
    pub fn buffers(&self) -> Vec<(String, Var)> {
        sorted(&self.buffers)
    }

    /// Number of trainable scalars.
    pub fn param_count(&self) -> usize {
        self.params().iter().map(|(_, v)| v.elem_count()).sum()
    }
}

fn insert(map: &VarMap, path: String, init: &Tensor, dtype: DType, device: &Device) -> Result<Var> {
    let var = Var::from_tensor(&init.to_device(device)?.to_dtype(dtype)?.detach())?;
    // The lock is held only for the insertion: building layers while holding it deadlocks.
    let mut data = map.data().lock().expect("VarMap lock poisoned");
    if data.contains_key(&path) {
        bail!("variable `{path}` is already registered");
    }
    data.insert(path, var.clone());
    Ok(var)
}

fn sorted(map: &VarMap) -> Vec<(String, Var)> {
    let data = map.data().lock().expect("VarMap lock poisoned");
    let mut out: Vec<_> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
