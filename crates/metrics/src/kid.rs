//! Kernel Inception Distance: the unbiased MMD² with the polynomial kernel
//! k(x, y) = (x·y/d + 1)³, averaged over random subsets, as torch-fidelity computes it.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::distance::scan_tiles;
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

/// The unbiased MMD² of each subset pair (in order), split over `threads` threads: per subset,
/// or out of every product of the two sets computed once when that is less work (subsets that
/// overlap, as 100 subsets drawn from a few hundred samples do). The values do not depend on the
/// thread count.
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
    // Each subset pair needs its own s × s products; when the subsets overlap heavily (100
    // subsets of 1000 drawn from 2000 samples), computing every product of the two sets once and
    // summing subsets out of it is cheaper, and at d = 2048 the products are nearly all the work.
    let all_products =
        real.rows() * real.rows() + fake.rows() * fake.rows() + real.rows() * fake.rows();
    let subset_products: usize = pairs
        .iter()
        .map(|(r, f)| r.len() * r.len() + f.len() * f.len() + r.len() * f.len())
        .sum();
    if all_products <= subset_products {
        return Ok(mmd2_from_all_products(real, fake, pairs, threads));
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

/// [`mmd2_on_subsets`] from the products of all pairs of samples, streamed in tiles: for each
/// subset, each of its rows' kernel sums is taken from the tile that holds the row. The sums are
/// added in the order the per-subset computation uses (rows, then columns, in drawn order).
fn mmd2_from_all_products(
    real: &FeatureMatrix,
    fake: &FeatureMatrix,
    pairs: &[SubsetPair],
    threads: usize,
) -> Vec<f64> {
    let blocks = |pick: fn(&SubsetPair) -> (&[usize], &[usize])| -> Vec<(&[usize], &[usize])> {
        pairs.iter().map(pick).collect()
    };
    let xx = subset_kernel_sums(real, real, &blocks(|(r, _)| (r, r)), true, threads);
    let yy = subset_kernel_sums(fake, fake, &blocks(|(_, f)| (f, f)), true, threads);
    let xy = subset_kernel_sums(real, fake, &blocks(|(r, f)| (r, f)), false, threads);
    pairs
        .iter()
        .enumerate()
        .map(|(s, (r, f))| combine_mmd2(xx[s], yy[s], xy[s], r.len(), f.len()))
        .collect()
}

/// For each (rows of `a`, rows of `b`) block: Σ k(aᵢ, bⱼ) over its pairs, or over i ≠ j when
/// `skip_diagonal` (`a` and `b` the same set and each block's two lists the same).
fn subset_kernel_sums(
    a: &FeatureMatrix,
    b: &FeatureMatrix,
    blocks: &[(&[usize], &[usize])],
    skip_diagonal: bool,
    threads: usize,
) -> Vec<f64> {
    // Where each row of `a` appears: (block, slot of its row sum).
    let mut offsets = Vec::with_capacity(blocks.len());
    let mut by_row: Vec<Vec<(usize, usize)>> = vec![Vec::new(); a.rows()];
    let mut slots = 0;
    for (block, (rows, _)) in blocks.iter().enumerate() {
        offsets.push(slots);
        for &i in rows.iter() {
            by_row[i].push((block, slots));
            slots += 1;
        }
    }
    let (dim, cols) = (a.dim(), b.rows());
    let scale = 1.0 / dim as f64;
    let states = scan_tiles(
        a.rows(),
        cols,
        threads,
        |rows, tile| {
            let a_rows = &a.as_slice()[rows.start * dim..rows.end * dim];
            gemm_abt(a_rows, rows.len(), b.as_slice(), cols, dim, tile);
        },
        |_| Vec::<(usize, f64)>::new(),
        |sums, first_row, tile| {
            for (offset, products) in tile.chunks_exact(cols).enumerate() {
                let i = first_row + offset;
                for &(block, slot) in &by_row[i] {
                    let total: f64 = blocks[block]
                        .1
                        .iter()
                        .map(|&j| poly_kernel(products[j], scale))
                        .sum();
                    let sum = if skip_diagonal {
                        total - poly_kernel(products[i], scale)
                    } else {
                        total
                    };
                    sums.push((slot, sum));
                }
            }
        },
    );
    let mut row_sums = vec![0.0; slots];
    for (slot, sum) in states.into_iter().flatten() {
        row_sums[slot] = sum;
    }
    blocks
        .iter()
        .zip(&offsets)
        .map(|((rows, _), &start)| row_sums[start..start + rows.len()].iter().sum())
        .collect()
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
    combine_mmd2(xx, yy, xy, m, n)
}

/// The unbiased MMD² from its three kernel sums (diagonals excluded from `xx` and `yy`) over `m`
/// real and `n` fake samples.
fn combine_mmd2(xx: f64, yy: f64, xy: f64, m: usize, n: usize) -> f64 {
    let (m, n) = (m as f64, n as f64);
    (xx / (m * (m - 1.0)) + yy / (n * (n - 1.0))) - 2.0 * xy / (m * n)
}

/// The polynomial kernel (x·y/d + 1)³ of the product `g` = x·y, with `scale` = 1/d.
fn poly_kernel(g: f64, scale: f64) -> f64 {
    let k = g * scale + 1.0;
    k * k * k
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
            let total: f64 = row.iter().map(|&g| poly_kernel(g, scale)).sum();
            if skip_diagonal {
                total - poly_kernel(row[i], scale)
            } else {
                total
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    use super::*;

    fn features(set: SampleSet, rows: usize, dim: usize, shift: f64, seed: u64) -> FeatureMatrix {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x: Vec<f64> = (0..rows * dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .map(|z: f64| z + shift)
            .collect();
        FeatureMatrix::from_rows(set, &x, dim).unwrap()
    }

    /// Summing subsets out of all products (several tiles, split over threads) gives the
    /// per-subset computation's values, and the same bits on any number of threads.
    #[test]
    fn all_products_and_per_subset_products_agree() {
        let real = features(SampleSet::Real, 300, 8, 0.0, 1);
        let fake = features(SampleSet::Fake, 260, 8, 0.2, 2);
        let config = KidConfig {
            subsets: 4,
            subset_size: 100,
            seed: 3,
            threads: 1,
        };
        let pairs = draw_subsets(300, 260, &config).unwrap();
        let per_subset: Vec<f64> = pairs
            .iter()
            .map(|(r, f)| {
                unbiased_mmd2(
                    &real.select_rows(r),
                    r.len(),
                    &fake.select_rows(f),
                    f.len(),
                    8,
                )
            })
            .collect();
        let one_thread = mmd2_from_all_products(&real, &fake, &pairs, 1);
        for (a, b) in one_thread.iter().zip(&per_subset) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        assert!(per_subset.iter().all(|&v| v > 0.0), "{per_subset:?}");
        for threads in [2, 3] {
            assert_eq!(
                mmd2_from_all_products(&real, &fake, &pairs, threads),
                one_thread
            );
        }
    }
}
