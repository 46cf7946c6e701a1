//! Fréchet Inception Distance between Gaussians fitted to two feature sets (design.md, "Metrics").

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use crate::features::{check_rows, check_same_dim, FeatureError, FeatureMatrix, SampleSet};
use crate::linalg::mean_and_covariance;

/// Mean and unbiased covariance of a feature set: all FID needs of it. Computing the real set's
/// statistics once and comparing every evaluation's fake set against them saves half the work.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureStats {
    dim: usize,
    mean: DVector<f64>,
    covariance: DMatrix<f64>,
}

impl FeatureStats {
    /// The statistics of `features` (at least 2 rows: the covariance divides by n − 1).
    pub fn of(features: &FeatureMatrix, set: SampleSet) -> Result<Self, FeatureError> {
        check_rows("FID", set, features, 2)?;
        let (mean, covariance) =
            mean_and_covariance(features.as_slice(), features.rows(), features.dim());
        Ok(Self {
            dim: features.dim(),
            mean,
            covariance,
        })
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The mean vector.
    pub fn mean(&self) -> &[f64] {
        self.mean.as_slice()
    }

    /// The covariance, D × D (symmetric, so row- and column-major agree).
    pub fn covariance(&self) -> &[f64] {
        self.covariance.as_slice()
    }
}

/// FID = ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½).
///
/// Tr((Σ1Σ2)^½) is computed as Σ √λᵢ over the eigenvalues λᵢ of the symmetric positive
/// semi-definite √Σ1 Σ2 √Σ1, which has the same eigenvalues as Σ1Σ2; negative eigenvalues, which
/// only rounding produces, count as 0. Unlike `scipy.linalg.sqrtm` of the non-symmetric Σ1Σ2
/// (pytorch-fid), this never yields complex values, so singular covariances (fewer samples than
/// features) need no ε offset. The result is clamped at 0: FID is a squared distance, and rounding
/// can leave −1e-13 for identical sets.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<f64, FeatureError> {
    if a.dim != b.dim {
        return Err(FeatureError::DimensionMismatch {
            real: a.dim,
            fake: b.dim,
        });
    }
    let mean_term = (&a.mean - &b.mean).norm_squared();
    let sqrt_a = psd_sqrt(&a.covariance);
    let product = &sqrt_a * &b.covariance * &sqrt_a;
    let product = (&product + product.transpose()) * 0.5;
    let trace_sqrt: f64 = SymmetricEigen::new(product)
        .eigenvalues
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .sum();
    let fid = mean_term + a.covariance.trace() + b.covariance.trace() - 2.0 * trace_sqrt;
    Ok(fid.max(0.0))
}

/// FID between two feature sets (each with at least 2 rows, of equal dimension).
pub fn fid(real: &FeatureMatrix, fake: &FeatureMatrix) -> Result<f64, FeatureError> {
    check_same_dim(real, fake)?;
    let real = FeatureStats::of(real, SampleSet::Real)?;
    let fake = FeatureStats::of(fake, SampleSet::Fake)?;
    frechet_distance(&real, &fake)
}

/// The symmetric square root V diag(√max(λ, 0)) Vᵀ of a symmetric positive semi-definite matrix.
fn psd_sqrt(m: &DMatrix<f64>) -> DMatrix<f64> {
    let eig = SymmetricEigen::new(m.clone());
    let roots = eig.eigenvalues.map(|l| l.max(0.0).sqrt());
    let v = &eig.eigenvectors;
    v * DMatrix::from_diagonal(&roots) * v.transpose()
}
