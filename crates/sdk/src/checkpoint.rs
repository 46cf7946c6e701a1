//! [`Checkpoint`]: named tensors (one safetensors file) plus small JSON state, in a directory.
//!
//! Everything a trainer needs to continue bit for bit goes in: parameters, buffers (spectral norm
//! vectors), optimizer moments, the generator state of [`SeededRng`]s and step
//! counters. Tensors are stored exactly (f32 stays f32), so a loaded trainer equals the saved one.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{Device, Tensor};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::optim::{Adam, Optimizer, Sgd};
use crate::{Error, Result, SeededRng, Vars};

/// The tensors file inside a checkpoint directory.
pub const TENSORS_FILE: &str = "tensors.safetensors";
/// The JSON state file inside a checkpoint directory; written last, so its presence means the
/// checkpoint is complete.
pub const STATE_FILE: &str = "state.json";
/// Bumped when the layout of checkpoints changes.
pub const FORMAT_VERSION: u32 = 1;

/// An in-memory checkpoint: build it with [`Stateful::save_state`] calls, then [`Checkpoint::save`].
#[derive(Default)]
pub struct Checkpoint {
    tensors: BTreeMap<String, Tensor>,
    meta: BTreeMap<String, serde_json::Value>,
}

impl Checkpoint {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert_tensor(&mut self, name: impl Into<String>, tensor: Tensor) {
        self.tensors.insert(name.into(), tensor);
    }

    /// The tensor `name` (on the device the checkpoint was loaded to).
    pub fn tensor(&self, name: &str) -> Result<&Tensor> {
        self.tensors
            .get(name)
            .ok_or_else(|| Error::msg(format!("checkpoint has no tensor `{name}`")))
    }

    /// All tensors whose name starts with `prefix.`, with the prefix removed.
    pub fn tensors_under(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let p = format!("{prefix}.");
        self.tensors
            .iter()
            .filter_map(|(k, t)| k.strip_prefix(&p).map(|k| (k.to_string(), t.clone())))
            .collect()
    }

    pub fn insert_meta<T: Serialize>(&mut self, key: impl Into<String>, value: &T) -> Result<()> {
        self.meta.insert(key.into(), serde_json::to_value(value)?);
        Ok(())
    }

    /// Refuses a checkpoint (loaded from `dir`) that a trainer of another `kind`, or of another
    /// configuration, wrote: its tensors would not fit, or would mean something else.
    pub fn expect_identity<C>(&self, dir: &Path, kind: &str, config: &C) -> Result<()>
    where
        C: DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let found_kind: String = self.meta("kind")?;
        let found: C = self.meta("config")?;
        if found_kind != kind || found != *config {
            return Err(Error::msg(format!(
                "checkpoint in {} was written by a different configuration ({found_kind}, {found:?}); this trainer has {config:?}",
                dir.display()
            )));
        }
        Ok(())
    }

    pub fn meta<T: DeserializeOwned>(&self, key: &str) -> Result<T> {
        let v = self
            .meta
            .get(key)
            .ok_or_else(|| Error::msg(format!("checkpoint has no entry `{key}`")))?;
        Ok(T::deserialize(v)?)
    }

    /// The raw JSON of entry `key`, if present.
    pub fn meta_value(&self, key: &str) -> Option<&serde_json::Value> {
        self.meta.get(key)
    }

    /// Writes [`TENSORS_FILE`] and [`STATE_FILE`] into the existing directory `dir`, each through a
    /// temporary file and a rename, the state last.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let tensors: HashMap<&str, Tensor> = self
            .tensors
            .iter()
            .map(|(k, t)| (k.as_str(), t.clone()))
            .collect();
        let tmp = dir.join(format!("{TENSORS_FILE}.tmp"));
        candle_core::safetensors::save(&tensors, &tmp)?;
        rename(&tmp, &dir.join(TENSORS_FILE))?;
        let state = serde_json::json!({ "format": FORMAT_VERSION, "state": self.meta });
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&state)?)
            .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e))?;
        rename(&tmp, &dir.join(STATE_FILE))
    }

    /// Reads a checkpoint written by [`Checkpoint::save`], placing tensors on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let state_path = dir.join(STATE_FILE);
        let text = std::fs::read(&state_path).map_err(|e| {
            Error::io(
                format!("cannot read checkpoint {}", state_path.display()),
                e,
            )
        })?;
        let state: serde_json::Value = serde_json::from_slice(&text)?;
        let format = state.get("format").and_then(|f| f.as_u64());
        if format != Some(FORMAT_VERSION as u64) {
            return Err(Error::msg(format!(
                "{} has checkpoint format {format:?}; this build reads format {FORMAT_VERSION}",
                state_path.display()
            )));
        }
        let meta = match state.get("state") {
            Some(serde_json::Value::Object(m)) => {
                m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            }
            _ => {
                return Err(Error::msg(format!(
                    "{} has no `state` object",
                    state_path.display()
                )))
            }
        };
        let tensors_path = dir.join(TENSORS_FILE);
        let tensors = candle_core::safetensors::load(&tensors_path, device)
            .map_err(|e| Error::msg(format!("cannot read {}: {e}", tensors_path.display())))?
            .into_iter()
            .collect();
        Ok(Self { tensors, meta })
    }
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| {
        Error::io(
            format!("cannot rename {} to {}", from.display(), to.display()),
            e,
        )
    })
}

/// Something whose state goes into a [`Checkpoint`] under a name prefix.
pub trait Stateful {
    fn save_state(&self, ck: &mut Checkpoint, prefix: &str) -> Result<()>;
    fn load_state(&mut self, ck: &Checkpoint, prefix: &str) -> Result<()>;
}

impl Stateful for Vars {
    /// Parameters as `prefix.<name>`, buffers as `prefix.buffers.<name>`.
    fn save_state(&self, ck: &mut Checkpoint, prefix: &str) -> Result<()> {
        for (name, var) in self.params() {
            ck.insert_tensor(format!("{prefix}.{name}"), var.as_tensor().detach());
        }
        for (name, var) in self.buffers() {
            ck.insert_tensor(format!("{prefix}.buffers.{name}"), var.as_tensor().detach());
        }
        Ok(())
    }

    fn load_state(&mut self, ck: &Checkpoint, prefix: &str) -> Result<()> {
        let all = self
            .params()
            .into_iter()
            .map(|(n, v)| (format!("{prefix}.{n}"), v));
        let all = all.chain(
            self.buffers()
                .into_iter()
                .map(|(n, v)| (format!("{prefix}.buffers.{n}"), v)),
        );
        for (key, var) in all {
            let t = ck.tensor(&key)?;
            if t.shape() != var.shape() {
                return Err(Error::msg(format!(
                    "checkpoint tensor `{key}` has shape {:?}, the model expects {:?}",
                    t.shape(),
                    var.shape()
                )));
            }
            var.set(&t.to_dtype(var.dtype())?)?;
        }
        Ok(())
    }
}

impl Stateful for SeededRng {
    fn save_state(&self, ck: &mut Checkpoint, prefix: &str) -> Result<()> {
        ck.insert_meta(prefix, self)
    }

    fn load_state(&mut self, ck: &Checkpoint, prefix: &str) -> Result<()> {
        *self = ck.meta(prefix)?;
        Ok(())
    }
}

fn save_optimizer(opt: &dyn Optimizer, ck: &mut Checkpoint, prefix: &str) -> Result<()> {
    for (name, t) in opt.state()? {
        ck.insert_tensor(format!("{prefix}.{name}"), t);
    }
    Ok(())
}

impl Stateful for Adam {
    fn save_state(&self, ck: &mut Checkpoint, prefix: &str) -> Result<()> {
        save_optimizer(self, ck, prefix)
    }

    fn load_state(&mut self, ck: &Checkpoint, prefix: &str) -> Result<()> {
        Ok(self.set_state(&ck.tensors_under(prefix))?)
    }
}

impl Stateful for Box<dyn Optimizer> {
    fn save_state(&self, ck: &mut Checkpoint, prefix: &str) -> Result<()> {
        save_optimizer(self.as_ref(), ck, prefix)
    }

    fn load_state(&mut self, ck: &Checkpoint, prefix: &str) -> Result<()> {
        Ok(self.set_state(&ck.tensors_under(prefix))?)
    }
}

impl Stateful for Sgd {
    fn save_state(&self, ck: &mut Checkpoint, prefix: &str) -> Result<()> {
        save_optimizer(self, ck, prefix)
    }

    fn load_state(&mut self, ck: &Checkpoint, prefix: &str) -> Result<()> {
        Ok(self.set_state(&ck.tensors_under(prefix))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_of_another_kind_or_configuration_is_refused() {
        let mut ck = Checkpoint::new();
        ck.insert_meta("kind", &"vae").unwrap();
        ck.insert_meta("config", &(64u32, "adam")).unwrap();
        let dir = Path::new("ck");
        ck.expect_identity(dir, "vae", &(64u32, "adam".to_string()))
            .unwrap();
        for (kind, config) in [("vae-gan", (64u32, "adam")), ("vae", (32u32, "adam"))] {
            let err = ck
                .expect_identity(dir, kind, &(config.0, config.1.to_string()))
                .unwrap_err()
                .to_string();
            assert!(err.contains("checkpoint in ck was written by a different configuration (vae, (64, \"adam\"))"), "{err}");
        }
    }
}
