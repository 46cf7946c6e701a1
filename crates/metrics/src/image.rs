//! All image metrics at once, from feature matrices or through a [`FeatureExtractor`].

use serde::{Deserialize, Serialize};

use crate::features::{
    check_same_dim, default_threads, extract_features, FeatureError, FeatureExtractor,
    FeatureMatrix, SampleSet,
};
use crate::fid::{fid, frechet_distance, FeatureStats};
use crate::kid::{kid, KidConfig};
use crate::prdc::{prdc, PrdcConfig, RealManifold};

/// The settings of FID, KID, precision/recall and density/coverage; defaults follow the papers and
/// torch-fidelity (100 KID subsets of 1000, k = 3 and k = 5), on every core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImageMetrics {
    /// KID subsets, subset size, seed.
    pub kid: KidConfig,
    /// Neighbourhood sizes.
    pub prdc: PrdcConfig,
}

impl ImageMetrics {
    /// The same settings, computed on `threads` threads (a runner with several trials in flight
    /// gives each one thread).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.kid.threads = threads;
        self.prdc.threads = threads;
        self
    }

    /// The same settings on every core.
    pub fn all_cores(self) -> Self {
        self.with_threads(default_threads())
    }

    /// All metrics between real and fake features.
    pub fn evaluate(
        &self,
        real: &FeatureMatrix,
        fake: &FeatureMatrix,
    ) -> Result<ImageScores, FeatureError> {
        check_same_dim(real, fake)?;
        self.reference(real.clone())?.evaluate(fake)
    }

    /// The chosen metric families between real and fake features, each computed on its own (so a
    /// family that is not chosen neither costs time nor imposes its minimum sample count).
    pub fn evaluate_selected(
        &self,
        real: &FeatureMatrix,
        fake: &FeatureMatrix,
        families: MetricFamilies,
    ) -> Result<SelectedScores, FeatureError> {
        check_same_dim(real, fake)?;
        let mut scores = SelectedScores::default();
        if families.fid {
            scores.fid = Some(fid(real, fake)?);
        }
        if families.kid {
            let k = kid(real, fake, &self.kid)?;
            (scores.kid_mean, scores.kid_std) = (Some(k.mean), Some(k.std));
        }
        if families.prdc {
            let (pr, dc) = prdc(real, fake, &self.prdc)?;
            scores.precision = Some(pr.precision);
            scores.recall = Some(pr.recall);
            scores.density = Some(dc.density);
            scores.coverage = Some(dc.coverage);
        }
        Ok(scores)
    }

    /// What the metrics need of the real set, computed once (its mean and covariance, its
    /// k-NN radii), for comparing many fake sets with it, as a runner does at every evaluation.
    pub fn reference(&self, real: FeatureMatrix) -> Result<RealReference, FeatureError> {
        Ok(RealReference {
            stats: FeatureStats::of(&real, SampleSet::Real)?,
            manifold: RealManifold::new(&real, &self.prdc)?,
            kid: self.kid,
            real,
        })
    }

    /// All metrics between `n_real` real and `n_fake` fake images (N×C×H×W in [-1, 1]), in the
    /// feature space of `extractor`.
    pub fn evaluate_images(
        &self,
        extractor: &dyn FeatureExtractor,
        real_images: &[f32],
        n_real: usize,
        fake_images: &[f32],
        n_fake: usize,
    ) -> Result<ImageScores, FeatureError> {
        let real = extract_features(extractor, SampleSet::Real, real_images, n_real)?;
        let fake = extract_features(extractor, SampleSet::Fake, fake_images, n_fake)?;
        self.evaluate(&real, &fake)
    }
}

/// A real feature set prepared for [`ImageMetrics`]: see [`ImageMetrics::reference`].
pub struct RealReference {
    real: FeatureMatrix,
    stats: FeatureStats,
    manifold: RealManifold,
    kid: KidConfig,
}

impl RealReference {
    /// The real features.
    pub fn features(&self) -> &FeatureMatrix {
        &self.real
    }

    /// All metrics of `fake` against the real set; equal to [`ImageMetrics::evaluate`].
    pub fn evaluate(&self, fake: &FeatureMatrix) -> Result<ImageScores, FeatureError> {
        check_same_dim(&self.real, fake)?;
        let fid = frechet_distance(&self.stats, &FeatureStats::of(fake, SampleSet::Fake)?)?;
        let kid = kid(&self.real, fake, &self.kid)?;
        let (pr, dc) = self.manifold.compare(fake)?;
        Ok(ImageScores {
            fid,
            kid_mean: kid.mean,
            kid_std: kid.std,
            precision: pr.precision,
            recall: pr.recall,
            density: dc.density,
            coverage: dc.coverage,
        })
    }
}

/// The image metrics of one fake set against one real set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImageScores {
    /// Fréchet distance (lower is better).
    pub fid: f64,
    /// KID, mean over subsets (lower is better).
    pub kid_mean: f64,
    /// KID, standard deviation over subsets.
    pub kid_std: f64,
    /// Share of fakes on the real manifold (k = 3).
    pub precision: f64,
    /// Share of reals on the fake manifold (k = 3).
    pub recall: f64,
    /// Density (k = 5; about 1 when the distributions match).
    pub density: f64,
    /// Coverage (k = 5).
    pub coverage: f64,
}

impl ImageScores {
    /// The metric names, in the order of [`ImageScores::named`].
    pub const NAMES: [&'static str; 7] = [
        "fid",
        "kid_mean",
        "kid_std",
        "precision",
        "recall",
        "density",
        "coverage",
    ];

    /// The metrics as (name, value) pairs for logging.
    pub fn named(&self) -> Vec<(String, f64)> {
        let values = [
            self.fid,
            self.kid_mean,
            self.kid_std,
            self.precision,
            self.recall,
            self.density,
            self.coverage,
        ];
        Self::NAMES
            .iter()
            .zip(values)
            .map(|(n, v)| (n.to_string(), v))
            .collect()
    }
}

/// Which metric families [`ImageMetrics::evaluate_selected`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricFamilies {
    /// FID.
    pub fid: bool,
    /// KID (mean and standard deviation).
    pub kid: bool,
    /// Precision, recall, density and coverage.
    pub prdc: bool,
}

impl MetricFamilies {
    /// Every family.
    pub const ALL: Self = Self {
        fid: true,
        kid: true,
        prdc: true,
    };
}

/// The metrics of [`ImageMetrics::evaluate_selected`]: `None` for those not chosen (and left out
/// of their JSON form).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SelectedScores {
    /// See [`ImageScores::fid`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fid: Option<f64>,
    /// See [`ImageScores::kid_mean`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid_mean: Option<f64>,
    /// See [`ImageScores::kid_std`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid_std: Option<f64>,
    /// See [`ImageScores::precision`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    /// See [`ImageScores::recall`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recall: Option<f64>,
    /// See [`ImageScores::density`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub density: Option<f64>,
    /// See [`ImageScores::coverage`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
}

impl SelectedScores {
    /// The computed metrics as (name, value) pairs, in the order of [`ImageScores::NAMES`].
    pub fn named(&self) -> Vec<(String, f64)> {
        let values = [
            self.fid,
            self.kid_mean,
            self.kid_std,
            self.precision,
            self.recall,
            self.density,
            self.coverage,
        ];
        ImageScores::NAMES
            .iter()
            .zip(values)
            .filter_map(|(n, v)| Some((n.to_string(), v?)))
            .collect()
    }
}
