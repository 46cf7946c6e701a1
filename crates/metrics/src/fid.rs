//! Fréchet Inception Distance between Gaussians fitted to two feature sets (design.md, "Metrics").
//!
//! Tr((Σ1Σ2)^½) is the sum of the square roots of the eigenvalues of Σ1Σ2, and these are the
//! nonzero eigenvalues of any product of the same factors taken in rotated order (AB and BA share
//! their nonzero eigenvalues). With a factor Σ = FFᵀ of each covariance:
//!
//! * Fewer samples than features (n ≤ d, the usual case at Inception's d = 2048): F = Xcᵀ/√(n−1)
//!   from the centred samples themselves, and Tr((Σ1Σ2)^½) is the sum of the singular values of
//!   the n1 × n2 matrix F1ᵀF2. No d × d matrix is ever formed: at d = 2048 and 300 samples this is
//!   a 300 × 300 SVD instead of pytorch-fid's 2048 × 2048 `sqrtm`.
//! * One set with n ≤ d, the other with a covariance Σ2 = F2F2ᵀ (F2 its Cholesky factor, or
//!   V√Λ when Σ2 is singular): the sum of the singular values of the n × d matrix F1ᵀF2.
//! * Both with more samples than features: with F1 from Σ1 as above (kept with the statistics, so
//!   a real set compared many times pays for it once), the eigenvalues of the d × d F1ᵀ Σ2 F1,
//!   which has the eigenvalues of √Σ1 Σ2 √Σ1.
//!
//! Singular values, rather than eigenvalues of a product with its transpose, wherever the matrix
//! is rank-deficient (centred samples are): an eigenvalue that should be 0 comes out as ±1e-16 of
//! the largest, and its square root as 1e-8, while a singular value comes out as 1e-16. Every
//! matrix handed to the eigensolver is symmetric positive semi-definite, so nothing complex arises
//! and singular covariances need no ε offset (pytorch-fid adds one when `sqrtm` fails).

use std::sync::OnceLock;

use faer::{Mat, MatRef};

use crate::features::{check_rows, check_same_dim, FeatureError, FeatureMatrix, SampleSet};
use crate::linalg::{
    centred_rows, column_means, congruence, gram_of_columns, nuclear_norm, product, product_abt,
    psd_factor_t, trace_sqrt_psd,
};

/// Mean and covariance of a feature set (unbiased, divisor n − 1): all FID needs of it. Computing
/// the real set's statistics once and comparing every evaluation's fake set against them saves
/// half the work.
///
/// With at most as many samples as features the covariance is kept as its factor, the centred
/// samples (n × d, smaller than d × d); otherwise as the d × d matrix.
#[derive(Debug, Clone)]
pub struct FeatureStats {
    dim: usize,
    mean: Vec<f64>,
    /// Tr Σ.
    trace: f64,
    spread: Spread,
}

#[derive(Debug, Clone)]
enum Spread {
    /// G = Xc/√(n−1), row-major n × d, with Σ = GᵀG.
    Samples { g: Vec<f64>, rows: usize },
    /// Σ itself, and the transposed factor Fᵀ (row i = √λᵢ vᵢᵀ, Σ = FFᵀ) once something needs it.
    Covariance {
        sigma: Mat<f64>,
        factor_t: OnceLock<Mat<f64>>,
    },
}

impl FeatureStats {
    /// The statistics of `features` (at least 2 rows: the covariance divides by n − 1).
    pub fn of(features: &FeatureMatrix, set: SampleSet) -> Result<Self, FeatureError> {
        check_rows("FID", set, features, 2)?;
        let low_rank = features.rows() <= features.dim();
        Ok(Self::with_spread(features, low_rank))
    }

    /// The statistics with the covariance kept as samples (`low_rank`) or as a matrix.
    fn with_spread(features: &FeatureMatrix, low_rank: bool) -> Self {
        let (rows, dim) = (features.rows(), features.dim());
        let mean = column_means(features.as_slice(), rows, dim);
        // Centre first: Σ = XcᵀXc / (n − 1) has no cancellation, unlike E[xxᵀ] − μμᵀ.
        let g = centred_rows(features.as_slice(), &mean, 1.0 / (rows as f64 - 1.0).sqrt());
        let trace = g.iter().map(|x| x * x).sum();
        let spread = if low_rank {
            Spread::Samples { g, rows }
        } else {
            Spread::Covariance {
                sigma: gram_of_columns(&g, rows, dim),
                factor_t: OnceLock::new(),
            }
        };
        Self {
            dim,
            mean,
            trace,
            spread,
        }
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The mean vector.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The covariance, D × D (symmetric, so row- and column-major agree). Formed on request when
    /// the statistics keep it as samples.
    pub fn covariance(&self) -> Vec<f64> {
        let sigma = match &self.spread {
            Spread::Samples { g, rows } => gram_of_columns(g, *rows, self.dim),
            Spread::Covariance { sigma, .. } => sigma.clone(),
        };
        (0..self.dim * self.dim)
            .map(|k| sigma[(k / self.dim, k % self.dim)])
            .collect()
    }
}

impl Spread {
    /// Fᵀ of the covariance form (computed once), `None` for the samples form.
    fn factor_t(&self) -> Option<&Mat<f64>> {
        match self {
            Spread::Covariance { sigma, factor_t } => {
                Some(factor_t.get_or_init(|| psd_factor_t(sigma.as_ref())))
            }
            Spread::Samples { .. } => None,
        }
    }
}

/// Tr((Σ1Σ2)^½) for the two spreads (module docs).
fn trace_sqrt_product(a: &FeatureStats, b: &FeatureStats) -> f64 {
    fn samples(g: &[f64], rows: usize, dim: usize) -> MatRef<'_, f64> {
        MatRef::from_row_major_slice(g, rows, dim)
    }
    let dim = a.dim;
    match (&a.spread, &b.spread) {
        (Spread::Samples { g: ga, rows: na }, Spread::Samples { g: gb, rows: nb }) => {
            nuclear_norm(product_abt(samples(ga, *na, dim), samples(gb, *nb, dim)).as_ref())
        }
        (Spread::Samples { g, rows }, covariance @ Spread::Covariance { .. })
        | (covariance @ Spread::Covariance { .. }, Spread::Samples { g, rows }) => {
            let f = covariance.factor_t().expect("a covariance");
            nuclear_norm(product(samples(g, *rows, dim), f.transpose()).as_ref())
        }
        (covariance @ Spread::Covariance { .. }, Spread::Covariance { sigma: sigma_b, .. }) => {
            let f = covariance.factor_t().expect("a covariance");
            trace_sqrt_psd(congruence(f.as_ref(), sigma_b.as_ref()).as_ref())
        }
    }
}

/// FID = ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½).
///
/// Tr((Σ1Σ2)^½) = Σ √λᵢ over the eigenvalues λᵢ of Σ1Σ2, computed from symmetric positive
/// semi-definite matrices that share them (module docs); negative eigenvalues, which only
/// rounding produces, count as 0. Unlike `scipy.linalg.sqrtm` of the non-symmetric Σ1Σ2
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
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let fid = mean_term + a.trace + b.trace - 2.0 * trace_sqrt_product(a, b);
    Ok(fid.max(0.0))
}

/// FID between two feature sets (each with at least 2 rows, of equal dimension).
pub fn fid(real: &FeatureMatrix, fake: &FeatureMatrix) -> Result<f64, FeatureError> {
    check_same_dim(real, fake)?;
    let real = FeatureStats::of(real, SampleSet::Real)?;
    let fake = FeatureStats::of(fake, SampleSet::Fake)?;
    frechet_distance(&real, &fake)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    use super::*;

    fn features(set: SampleSet, rows: usize, dim: usize, seed: u64) -> FeatureMatrix {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Correlated features: x_j = z_j + 0.5 z_{j−1}, shifted by the seed.
        let z: Vec<f64> = (0..rows * dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let x: Vec<f64> = (0..rows * dim)
            .map(|k| {
                let prev = if k % dim == 0 { 0.0 } else { z[k - 1] };
                z[k] + 0.5 * prev + 0.01 * seed as f64
            })
            .collect();
        FeatureMatrix::from_rows(set, &x, dim).unwrap()
    }

    /// The four pairings of the two covariance forms give one FID, and the samples form keeps the
    /// same covariance as the matrix form. The samples form is the most accurate (singular values
    /// throughout); the matrix form of a singular covariance (n ≤ d) loses the square root of the
    /// rounding error, ~1e-8 relative, which is why `FeatureStats::of` never uses it there.
    #[test]
    fn both_covariance_forms_agree() {
        for (n_real, n_fake, dim) in [(40, 30, 12), (20, 50, 24), (9, 7, 30)] {
            let real = features(SampleSet::Real, n_real, dim, 1);
            let fake = features(SampleSet::Fake, n_fake, dim, 2);
            let forms = |m: &FeatureMatrix| {
                [
                    FeatureStats::with_spread(m, true),
                    FeatureStats::with_spread(m, false),
                ]
            };
            let (reals, fakes) = (forms(&real), forms(&fake));
            let (c0, c1) = (reals[0].covariance(), reals[1].covariance());
            let worst = c0
                .iter()
                .zip(&c1)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-13, "covariances differ by {worst}");
            let want = frechet_distance(&reals[0], &fakes[0]).unwrap();
            for a in &reals {
                for b in &fakes {
                    let got = frechet_distance(a, b).unwrap();
                    assert!(
                        (got - want).abs() < 1e-8 * want,
                        "{n_real}×{n_fake}, d {dim}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
