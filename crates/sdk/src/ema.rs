//! [`Ema`]: an exponential moving average of a network's parameters (generator averaging,
//! Yazıcı et al. 2019; Karras et al. 2018).
//!
//! After every generator update t (1-based), θ̄ ← θ while t ≤ `start`, and
//! θ̄ ← β·θ̄ + (1 − β)·θ afterwards (θ̄ starts as the initial weights). The average lives beside
//! the network as plain tensors; [`Ema::swapped_in`] runs a closure with the averaged values
//! loaded into the network's variables and restores the trained values afterwards, bit for bit,
//! so one network serves both (and any network works, whoever built it). Buffers (batch norm's
//! running statistics) are not averaged: the averaged network uses the trained network's, as
//! StyleGAN2's averaged generator copies them.

use candle_core::{Result, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, Stateful};

/// β and the number of generator updates before averaging starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EmaConfig {
    pub decay: f64,
    pub start: u64,
}

/// The moving average of a fixed, named set of parameters.
pub struct Ema {
    config: EmaConfig,
    params: Vec<(String, Var)>,
    average: Vec<Tensor>,
}

impl Ema {
    /// Starts the average at the parameters' current values (copies).
    pub fn new(params: Vec<(String, Var)>, config: EmaConfig) -> Result<Self> {
        let average = params
            .iter()
            .map(|(_, p)| p.as_tensor().detach().copy())
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config,
            params,
            average,
        })
    }

    pub fn config(&self) -> &EmaConfig {
        &self.config
    }

    /// Folds in the parameters after update `step` (1-based; see the [module docs](self)).
    pub fn update(&mut self, step: u64) -> Result<()> {
        let beta = self.config.decay;
        for ((_, p), avg) in self.params.iter().zip(self.average.iter_mut()) {
            let theta = p.as_tensor().detach();
            *avg = if step <= self.config.start {
                theta.copy()?
            } else {
                ((&*avg * beta)? + (theta * (1.0 - beta))?)?
            };
        }
        Ok(())
    }

    /// The averaged values, in the order of the parameters.
    pub fn average(&self) -> &[Tensor] {
        &self.average
    }

    /// Runs `f` with the averaged values in the parameters, then restores the trained values
    /// (also when `f` fails).
    pub fn swapped_in<T>(&self, f: impl FnOnce() -> crate::Result<T>) -> crate::Result<T> {
        // Copies: a Var's `set` writes into its storage, which a plain clone would share.
        let trained = self
            .params
            .iter()
            .map(|(_, p)| p.as_tensor().detach().copy())
            .collect::<Result<Vec<_>>>()?;
        for ((_, p), avg) in self.params.iter().zip(&self.average) {
            p.set(avg)?;
        }
        let out = f();
        for ((_, p), t) in self.params.iter().zip(&trained) {
            p.set(t)?;
        }
        out
    }
}

impl Stateful for Ema {
    /// The averages as `prefix.<parameter name>`.
    fn save_state(&self, ck: &mut Checkpoint, prefix: &str) -> crate::Result<()> {
        for ((name, _), avg) in self.params.iter().zip(&self.average) {
            ck.insert_tensor(format!("{prefix}.{name}"), avg.clone());
        }
        Ok(())
    }

    fn load_state(&mut self, ck: &Checkpoint, prefix: &str) -> crate::Result<()> {
        let mut average = Vec::with_capacity(self.params.len());
        for (name, p) in &self.params {
            let key = format!("{prefix}.{name}");
            let t = ck.tensor(&key)?;
            if t.shape() != p.shape() {
                return Err(crate::Error::msg(format!(
                    "checkpoint tensor `{key}` has shape {:?}, the parameter {:?}",
                    t.shape(),
                    p.shape()
                )));
            }
            average.push(t.to_dtype(p.dtype())?.to_device(p.device())?.copy()?);
        }
        self.average = average;
        Ok(())
    }
}
