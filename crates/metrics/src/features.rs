//! Feature matrices (validated, f64), the errors of the image metrics, and the feature-extractor
//! trait through which the runner turns images into features.

use std::fmt;

use thiserror::Error;

/// Which of the two compared sample sets a value belongs to; errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleSet {
    /// The data distribution's samples (training or held-out images).
    Real,
    /// The generator's samples.
    Fake,
}

impl fmt::Display for SampleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SampleSet::Real => "real",
            SampleSet::Fake => "fake",
        })
    }
}

/// Why an image metric could not be computed. Every case is the caller's to fix.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum FeatureError {
    /// Features of zero width.
    #[error("{set} features have dimension 0; pass at least one feature per sample")]
    ZeroDimension {
        /// The set.
        set: SampleSet,
    },
    /// A row-major buffer whose length is not a multiple of the feature dimension.
    #[error(
        "{set} features: {len} values do not form rows of {dim}; pass an N×{dim} row-major buffer"
    )]
    RaggedRows {
        /// The set.
        set: SampleSet,
        /// Number of values in the buffer.
        len: usize,
        /// The feature dimension.
        dim: usize,
    },
    /// The real and fake features have different widths.
    #[error(
        "real features have dimension {real} but fake features {fake}; extract both with the same feature network"
    )]
    DimensionMismatch {
        /// Width of the real features.
        real: usize,
        /// Width of the fake features.
        fake: usize,
    },
    /// A feature is NaN or infinite (a diverged generator, or a broken extractor).
    #[error("{set} features: row {row}, column {column} is {value}; every feature must be finite")]
    NonFinite {
        /// The set.
        set: SampleSet,
        /// Row (sample) index.
        row: usize,
        /// Column (feature) index.
        column: usize,
        /// The offending value.
        value: f64,
    },
    /// Too few samples for a metric (covariances need 2, k-nearest-neighbour radii need k + 1).
    #[error("{metric} needs at least {needed} {set} samples, got {got}; pass more samples")]
    TooFewSamples {
        /// The metric that needs them.
        metric: &'static str,
        /// The set.
        set: SampleSet,
        /// The minimum.
        needed: usize,
        /// What was passed.
        got: usize,
    },
    /// A metric parameter out of range (e.g. zero KID subsets).
    #[error("invalid {parameter} = {value}: {requirement}")]
    InvalidParameter {
        /// The parameter's name.
        parameter: &'static str,
        /// The value passed.
        value: usize,
        /// What it must satisfy.
        requirement: &'static str,
    },
    /// A KID subset index beyond its set.
    #[error("KID subset {subset}: index {index} is out of range for {n} {set} samples")]
    SubsetIndex {
        /// Which subset.
        subset: usize,
        /// The set.
        set: SampleSet,
        /// The offending index.
        index: usize,
        /// The number of samples in the set.
        n: usize,
    },
    /// The extractor itself failed.
    #[error(transparent)]
    Extractor(#[from] ExtractorError),
    /// The extractor returned a buffer of the wrong length.
    #[error(
        "feature extractor `{extractor}` returned {got} values for {n} {set} images; expected {n} × {dim} = {expected}"
    )]
    ExtractorOutput {
        /// The extractor's name.
        extractor: String,
        /// The set being extracted.
        set: SampleSet,
        /// Number of images.
        n: usize,
        /// The extractor's declared dimension.
        dim: usize,
        /// n × dim.
        expected: usize,
        /// What it returned.
        got: usize,
    },
}

/// A failure inside a [`FeatureExtractor`] (bad weights, images of the wrong shape, …).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("feature extractor `{extractor}`: {message}")]
pub struct ExtractorError {
    /// The extractor's name.
    pub extractor: String,
    /// What went wrong and how to fix it.
    pub message: String,
}

impl ExtractorError {
    /// An error of the extractor called `extractor`.
    pub fn new(extractor: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            extractor: extractor.into(),
            message: message.into(),
        }
    }
}

/// Maps images to feature vectors, the space in which FID, KID and the k-NN metrics are computed.
///
/// Implemented outside this crate (e.g. by a candle CNN), so that this crate never links candle.
pub trait FeatureExtractor: Send + Sync {
    /// A name for reports and errors, e.g. `mnist-cnn`.
    fn name(&self) -> &str;

    /// Number of features per image.
    fn dim(&self) -> usize;

    /// Features of `n` images given as an N×C×H×W row-major buffer with pixels in [-1, 1]:
    /// an N × [`dim`](FeatureExtractor::dim) row-major buffer.
    fn features(&self, images: &[f32], n: usize) -> Result<Vec<f32>, ExtractorError>;

    /// The class of each of `n` images and the number of classes K, for an extractor that labels
    /// whole images with the dataset's modes (Stacked MNIST's 1,000 digit triples); the runner
    /// then logs their [`class_coverage`](crate::class_coverage). `None`, the default, for a
    /// feature map only.
    fn classify(
        &self,
        _images: &[f32],
        _n: usize,
    ) -> Result<Option<(Vec<u32>, usize)>, ExtractorError> {
        Ok(None)
    }
}

/// Runs `extractor` on `n` images of `set` and validates its output into a [`FeatureMatrix`].
pub fn extract_features(
    extractor: &dyn FeatureExtractor,
    set: SampleSet,
    images: &[f32],
    n: usize,
) -> Result<FeatureMatrix, FeatureError> {
    let dim = extractor.dim();
    let features = extractor.features(images, n)?;
    if features.len() != n * dim {
        return Err(FeatureError::ExtractorOutput {
            extractor: extractor.name().to_string(),
            set,
            n,
            dim,
            expected: n * dim,
            got: features.len(),
        });
    }
    FeatureMatrix::from_rows(set, &features, dim)
}

/// An N × D matrix of finite features, row-major, in f64.
///
/// The metrics accumulate sums of many products, so features are widened to f64 once, here,
/// whatever precision the extractor produced.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    data: Vec<f64>,
    rows: usize,
    dim: usize,
}

impl FeatureMatrix {
    /// Validates a row-major buffer of `dim`-wide rows (f32 or f64) of the sample set `set`:
    /// `dim` > 0, whole rows, every value finite (the error names the row and column).
    pub fn from_rows<T: Copy + Into<f64>>(
        set: SampleSet,
        data: &[T],
        dim: usize,
    ) -> Result<Self, FeatureError> {
        if dim == 0 {
            return Err(FeatureError::ZeroDimension { set });
        }
        if !data.len().is_multiple_of(dim) {
            return Err(FeatureError::RaggedRows {
                set,
                len: data.len(),
                dim,
            });
        }
        let data: Vec<f64> = data.iter().map(|&x| x.into()).collect();
        if let Some(at) = data.iter().position(|x| !x.is_finite()) {
            return Err(FeatureError::NonFinite {
                set,
                row: at / dim,
                column: at % dim,
                value: data[at],
            });
        }
        Ok(Self {
            rows: data.len() / dim,
            data,
            dim,
        })
    }

    /// Number of samples (rows).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of features per sample (columns).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The row-major values.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// The rows at `indices`, in that order (indices must be in range).
    pub(crate) fn select_rows(&self, indices: &[usize]) -> Vec<f64> {
        let mut out = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            out.extend_from_slice(self.row(i));
        }
        out
    }
}

/// Checks that two feature matrices can be compared.
pub(crate) fn check_same_dim(
    real: &FeatureMatrix,
    fake: &FeatureMatrix,
) -> Result<(), FeatureError> {
    if real.dim != fake.dim {
        return Err(FeatureError::DimensionMismatch {
            real: real.dim,
            fake: fake.dim,
        });
    }
    Ok(())
}

/// Checks that `m` has at least `needed` rows for `metric`.
pub(crate) fn check_rows(
    metric: &'static str,
    set: SampleSet,
    m: &FeatureMatrix,
    needed: usize,
) -> Result<(), FeatureError> {
    if m.rows < needed {
        return Err(FeatureError::TooFewSamples {
            metric,
            set,
            needed,
            got: m.rows,
        });
    }
    Ok(())
}

/// Number of worker threads to use by default: every core the process may run on.
pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
