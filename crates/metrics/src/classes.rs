//! Class coverage of labelled samples: Stacked MNIST's mode count and KL (VEEGAN, PacGAN), where
//! a classifier gives each generated sample one of K classes.

use thiserror::Error;

use crate::toy::kl_to_uniform;

/// Why class coverage could not be computed: a caller's mistake.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClassCoverageError {
    /// No classes to cover.
    #[error("class coverage needs at least one class")]
    NoClasses,
    /// No labelled samples.
    #[error(
        "no samples to label; pass at least one (PacGAN's Stacked MNIST protocol uses 26,000)"
    )]
    NoSamples,
    /// A label outside 0..K.
    #[error("sample {index} has class {label}, but there are {classes} classes (0–{})", classes - 1)]
    LabelOutOfRange {
        /// Index of the sample.
        index: usize,
        /// Its label.
        label: u32,
        /// K.
        classes: usize,
    },
}

/// How the samples' classes cover K classes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassCoverage {
    /// K, the number of classes.
    pub classes: usize,
    /// Classes with at least one sample (PacGAN's "modes captured": one sample makes a mode).
    pub modes: usize,
    /// KL(p ‖ uniform over K) in nats, p the samples' class histogram: Σ p ln(K·p) over the
    /// classes that occur (empty classes add 0; no smoothing), as PacGAN's code computes it.
    pub kl: f64,
}

impl ClassCoverage {
    /// The metrics as named values for logging: `modes_K` and `kl_K` (`modes_1000`, `kl_1000`
    /// for Stacked MNIST).
    pub fn named(&self) -> [(String, f64); 2] {
        [
            (format!("modes_{}", self.classes), self.modes as f64),
            (format!("kl_{}", self.classes), self.kl),
        ]
    }
}

/// The coverage of `classes` classes by samples labelled `labels` (each in `0..classes`).
pub fn class_coverage(labels: &[u32], classes: usize) -> Result<ClassCoverage, ClassCoverageError> {
    if classes == 0 {
        return Err(ClassCoverageError::NoClasses);
    }
    if labels.is_empty() {
        return Err(ClassCoverageError::NoSamples);
    }
    let mut counts = vec![0usize; classes];
    for (index, &label) in labels.iter().enumerate() {
        match counts.get_mut(label as usize) {
            Some(count) => *count += 1,
            None => {
                return Err(ClassCoverageError::LabelOutOfRange {
                    index,
                    label,
                    classes,
                })
            }
        }
    }
    Ok(ClassCoverage {
        classes,
        modes: counts.iter().filter(|&&c| c > 0).count(),
        kl: kl_to_uniform(&counts),
    })
}
