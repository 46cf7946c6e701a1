//! Schedules over training steps: the learning-rate schedule ([`LrSchedule`]) and linear
//! annealing ([`linear_anneal`], instance noise's σ).
//!
//! Both are pure functions of the step count, which every trainer checkpoints, so a resumed run
//! continues the schedule exactly where it stopped without any state of its own.

use serde::{Deserialize, Serialize};

/// The shape of a learning-rate schedule after its warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrDecay {
    /// The base learning rate throughout.
    #[default]
    Constant,
    /// Linearly from the base rate to 0.
    Linear,
    /// Half a cosine from the base rate to 0 (Loshchilov & Hutter 2017, SGDR without restarts).
    Cosine,
}

impl LrDecay {
    /// The names of the `lr_schedule` parameter.
    pub const NAMES: [&'static str; 3] = ["constant", "linear", "cosine"];

    pub fn name(&self) -> &'static str {
        match self {
            Self::Constant => "constant",
            Self::Linear => "linear",
            Self::Cosine => "cosine",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "constant" => Self::Constant,
            "linear" => Self::Linear,
            "cosine" => Self::Cosine,
            _ => return None,
        })
    }
}

/// A multiplier of the base learning rate per step: a linear warm-up from `1/warmup` to 1 over
/// the first `warmup` steps (Goyal et al. 2017), then [`LrDecay`] from 1 to 0, reached at step
/// `decay_steps` and held there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LrSchedule {
    pub decay: LrDecay,
    pub warmup: u64,
    /// The step at which a linear or cosine decay reaches 0 (ignored by `Constant`).
    pub decay_steps: u64,
}

impl LrSchedule {
    /// Checks that a decaying schedule has room to decay after its warm-up.
    pub fn validate(&self) -> Result<(), String> {
        if self.decay != LrDecay::Constant && self.decay_steps <= self.warmup {
            return Err(format!(
                "a {} learning-rate schedule needs `lr_decay_steps` (the step at which the rate \
                 reaches 0, usually the sweep's `steps`) above `lr_warmup_steps` ({}); got {}",
                self.decay.name(),
                self.warmup,
                self.decay_steps
            ));
        }
        Ok(())
    }

    /// Whether every step uses the base rate (nothing to do).
    pub fn is_constant(&self) -> bool {
        self.decay == LrDecay::Constant && self.warmup == 0
    }

    /// The multiplier for the update of 0-based step `t` (the trainer's completed steps).
    pub fn factor(&self, t: u64) -> f64 {
        if t < self.warmup {
            return (t + 1) as f64 / self.warmup as f64;
        }
        let progress = || {
            let span = self.decay_steps.saturating_sub(self.warmup).max(1) as f64;
            ((t - self.warmup) as f64 / span).min(1.0)
        };
        match self.decay {
            LrDecay::Constant => 1.0,
            LrDecay::Linear => 1.0 - progress(),
            LrDecay::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress()).cos()),
        }
    }
}

/// `start` at step 0, falling linearly to 0 at step `steps` and staying there; `steps = 0`
/// means no annealing (always `start`).
pub fn linear_anneal(start: f64, steps: u64, t: u64) -> f64 {
    if steps == 0 {
        return start;
    }
    start * (1.0 - (t as f64 / steps as f64).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_follow_their_formulas_step_by_step() {
        let warm = LrSchedule {
            decay: LrDecay::Linear,
            warmup: 2,
            decay_steps: 6,
        };
        // Warm-up 1/2, 2/2; then 1 − (t − 2)/4 down to 0, held.
        let got: Vec<f64> = (0..8).map(|t| warm.factor(t)).collect();
        assert_eq!(got, [0.5, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]);
        let cosine = LrSchedule {
            decay: LrDecay::Cosine,
            warmup: 0,
            decay_steps: 4,
        };
        let got: Vec<f64> = (0..5).map(|t| cosine.factor(t)).collect();
        let want = [
            1.0,
            0.5 + 0.5 * 0.5f64.sqrt(),
            0.5,
            0.5 - 0.5 * 0.5f64.sqrt(),
            0.0,
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{got:?}");
        }
        let constant = LrSchedule::default();
        assert!(constant.is_constant() && constant.factor(12_345) == 1.0);
        assert!(
            LrSchedule {
                warmup: 3,
                ..constant
            }
            .factor(0)
                == 1.0 / 3.0
        );
        assert_eq!(
            [0, 5, 10, 20].map(|t| linear_anneal(2.0, 10, t)),
            [2.0, 1.0, 0.0, 0.0]
        );
        assert_eq!(linear_anneal(2.0, 0, 99), 2.0);
    }

    #[test]
    fn a_decay_without_room_is_refused_naming_the_parameters() {
        let bad = LrSchedule {
            decay: LrDecay::Cosine,
            warmup: 10,
            decay_steps: 10,
        };
        let err = bad.validate().unwrap_err();
        assert!(
            err.contains("lr_decay_steps") && err.contains("lr_warmup_steps"),
            "{err}"
        );
        assert!(LrSchedule::default().validate().is_ok());
    }
}
