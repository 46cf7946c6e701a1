//! [`FeaturesError`]: what can go wrong when building, training, saving or loading an extractor.

use std::path::PathBuf;

/// A failure of this crate. Messages name the file, the tensor or the input at fault and, where
/// there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum FeaturesError {
    /// The images cannot go through the network (wrong size, too small, wrong buffer length).
    #[error("{0}")]
    Input(String),

    /// Training needs class labels and the dataset has none.
    #[error(
        "the dataset `{dataset}` has no labels, but the evaluation feature extractor is a classifier \
         trained on labelled images: give the dataset its label file (e.g. `labels: \"…\"` in the sweep), \
         or supply trained extractor weights (docs/features.md)"
    )]
    MissingLabels { dataset: String },

    /// A labels buffer that does not fit its images.
    #[error("{0}")]
    Labels(String),

    /// A weights file that cannot be read or parsed.
    #[error("cannot read extractor weights {}: {reason}", path.display())]
    WeightsFile { path: PathBuf, reason: String },

    /// A weights file whose tensors do not match the documented architecture.
    #[error("extractor weights {}: {reason} (docs/features.md lists the expected tensors)", path.display())]
    WeightsLayout { path: PathBuf, reason: String },

    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// A tensor operation failed (a bug, or the device ran out of memory).
    #[error("extractor computation failed: {0}")]
    Candle(#[from] ganbench_sdk::candle::Error),
}

impl FeaturesError {
    pub(crate) fn io(context: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            context: context.to_string(),
            source,
        }
    }
}

impl From<ganbench_sdk::Error> for FeaturesError {
    fn from(e: ganbench_sdk::Error) -> Self {
        match e {
            ganbench_sdk::Error::Candle(c) => Self::Candle(c),
            other => Self::Input(other.to_string()),
        }
    }
}

pub type Result<T, E = FeaturesError> = std::result::Result<T, E>;
