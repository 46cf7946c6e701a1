//! Kernel Inception Distance: the unbiased MMD² with the polynomial kernel
//! k(x, y) = (x·y/d + 1)³, averaged over random subsets, as torch-fidelity computes it.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::features::{
    check_rows, check_same_dim, default_threads, FeatureError, FeatureMatrix, SampleSet,
};
use crate::linalg::gemm_abt;

/// Subsets, their size, the seed that draws them, and threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KidConfig {
    /// Number of subset pairs (torch-fidelity: 100).
    pub subsets: usize,
    /// Samples per subset (torch-fidelity: 1000), clipped to the smaller set.
    pub subset_size: usize,
    /// Seed of the ChaCha8 generator that draws the subsets.
    pub seed: u64,
    /// Worker threads; subsets are split between them.
    pub threads: usize,
}

impl Default for KidConfig {
    fn default() -> Self {
        Self {
            subsets: 100,
            subset_size: 1000,
            // torch-fidelity's default rng_seed.
            seed: 2020,
            threads: default_threads(),
        }
    }
}

/// KID over subsets: the mean and the population standard deviation (numpy's `std`, as
/// torch-fidelity reports it) of the per-subset MMD² estimates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Kid {
    /// Mean of the per-subset estimates. Unbiased, so it can be slightly negative.
    pub mean: f64,
    /// Standard deviation of the per-subset estimates (divisor: number of subsets).
    pub std: f64,
}

impl Kid {
    /// Mean and population standard deviation of per-subset MMD² values (at least one).
    pub fn from_values(values: &[f64]) -> Self {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        Self {
            mean,
            std: var.sqrt(),
        }
    }
}

/// One subset pair: row indices into the real and into the fake set.
pub type SubsetPair = (Vec<usize>, Vec<usize>);

/// KID between `real` and `fake` over `config.subsets` random subset pairs.
pub fn kid(
    real: &FeatureMatrix,
    fake: &FeatureMatrix,
    config: &KidConfig,
) -> Result<Kid, FeatureError> {
    check_same_dim(real, fake)?;
    let pairs = draw_subsets(real.rows(), fake.rows(), config)?;
    let values = mmd2_on_subsets(real, fake, &pairs, config.threads)?;
    Ok(Kid::from_values(&values))
}

/// The subset pairs [`kid`] uses: for each subset in turn, `min(subset_size, n_real, n_fake)`
/// distinct real indices, then as many distinct fake indices, from one ChaCha8 stream seeded with
/// `config.seed`.
pub fn draw_subsets(
    n_real: usize,
    n_fake: usize,
    config: &KidConfig,
) -> Result<Vec<SubsetPair>, FeatureError> {
    if config.subsets == 0 {
        return Err(FeatureError::InvalidParameter {
            parameter: "KID subsets",
            value: 0,
            requirement: "at least 1 subset is needed",
        });
    }
    if config.subset_size < 2 {
        return Err(FeatureError::InvalidParameter {
            parameter: "KID subset size",
            value: config.subset_size,
            requirement: "the unbiased estimator needs at least 2 samples per subset",
        });
    }
    let (set, smaller) = if n_real <= n_fake {
        (SampleSet::Real, n_real)
    } else {
        (SampleSet::Fake, n_fake)
    };
    if smaller < 2 {
        return Err(FeatureError::TooFewSamples {
            metric: "KID",
            set,
            needed: 2,
            got: smaller,
        });
    }
    let size = config.subset_size.min(smaller);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    Ok((0..config.subsets)
        .map(|_| {
            let r = rand::seq::index::sample(&mut rng, n_real, size).into_vec();
            let f = rand::seq::index::sample(&mut rng, n_fake, size).into_vec();
            (r, f)
        })
        .collect())
}

/// The unbiased MMD² of each subset pair (in order), split over `threads` threads.
pub fn mmd2_on_subsets(
    real: &FeatureMatrix,
    fake: &FeatureMatrix,
    pairs: &[SubsetPair],
    threads: usize,
) -> Result<Vec<f64>, FeatureError> {
    check_same_dim(real, fake)?;
    for (s, (r, f)) in pairs.iter().enumerate() {
        for (set, indices, m) in [(SampleSet::Real, r, real), (SampleSet::Fake, f, fake)] {
            if let Some(&index) = indices.iter().find(|&&i| i >= m.rows()) {
                return Err(FeatureError::SubsetIndex {
                    subset: s,
                    set,
                    index,
                    n: m.rows(),
                });
            }
            if indices.len() < 2 {
                return Err(FeatureError::TooFewSamples {
                    metric: "KID subset",
                    set,
                    needed: 2,
                    got: indices.len(),
                });
            }
        }
    }
    let dim = real.dim();
    let one = |(r, f): &SubsetPair| {
        unbiased_mmd2(
            &real.select_rows(r),
            r.len(),
            &fake.select_rows(f),
            f.len(),
            dim,
        )
    };
    let threads = threads.clamp(1, pairs.len().max(1));
    if threads == 1 {
        return Ok(pairs.iter().map(one).collect());
    }
    let chunk = pairs.len().div_ceil(threads);
    Ok(std::thread::scope(|scope| {
        let handles: Vec<_> = pairs
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(one).collect::<Vec<f64>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("KID worker panicked"))
            .collect()
    }))
}

/// Unbiased MMD² of two feature sets with the polynomial kernel (x·y/d + 1)³:
/// mean of k(x, x') over pairs of distinct x rows + the same for y − 2 · mean of k(x, y).
/// For equal sizes this is torch-fidelity's `mmd2(..., mmd_est='unbiased')`.
pub fn polynomial_mmd2(x: &FeatureMatrix, y: &FeatureMatrix) -> Result<f64, FeatureError> {
    check_same_dim(x, y)?;
    check_rows("MMD²", SampleSet::Real, x, 2)?;
    check_rows("MMD²", SampleSet::Fake, y, 2)?;
    Ok(unbiased_mmd2(
        x.as_slice(),
        x.rows(),
        y.as_slice(),
        y.rows(),
        x.dim(),
    ))
}

fn unbiased_mmd2(x: &[f64], m: usize, y: &[f64], n: usize, dim: usize) -> f64 {
    let xx = kernel_sum(x, m, x, m, dim, true);
    let yy = kernel_sum(y, n, y, n, dim, true);
    let xy = kernel_sum(x, m, y, n, dim, false);
    let (m, n) = (m as f64, n as f64);
    (xx / (m * (m - 1.0)) + yy / (n * (n - 1.0))) - 2.0 * xy / (m * n)
}

/// Σ k(aᵢ, bⱼ) over all pairs, or over i ≠ j when `skip_diagonal` (a and b the same rows).
/// Summed per row, then over rows, which keeps rounding error far below the metric's scale.
fn kernel_sum(
    a: &[f64],
    a_rows: usize,
    b: &[f64],
    b_rows: usize,
    dim: usize,
    skip_diagonal: bool,
) -> f64 {
    let mut gram = vec![0.0; a_rows * b_rows];
    gemm_abt(a, a_rows, b, b_rows, dim, &mut gram);
    let scale = 1.0 / dim as f64;
    gram.chunks_exact(b_rows)
        .enumerate()
        .map(|(i, row)| {
            let total: f64 = row
                .iter()
                .map(|&g| {
                    let k = g * scale + 1.0;
                    k * k * k
                })
                .sum();
            if skip_diagonal {
                let k = row[i] * scale + 1.0;
                total - k * k * k
            } else {
                total
            }
        })
        .sum()
}
