//! k-nearest-neighbour manifold metrics: precision/recall (Kynkäänniemi et al. 2019) and
//! density/coverage (Naeem et al. 2020), as the `prdc` package computes them.
//!
//! A sample's radius is the distance to its k-th nearest *other* sample of its own set (prdc: the
//! (k+1)-th smallest entry of its row of the self-distance matrix, whose diagonal is 0; a duplicate
//! counts as a neighbour at distance 0). With R the real and F the fake features:
//! * precision = share of fakes inside at least one real ball (k = 3),
//! * recall = share of reals inside at least one fake ball (k = 3),
//! * density = (1/k) · mean over fakes of the number of real balls containing them (k = 5),
//! * coverage = share of reals whose ball contains at least one fake (k = 5).
//!
//! "Inside" is `distance ≤ radius` for precision/recall, as in Kynkäänniemi et al.'s code, and
//! `distance < radius` for density/coverage, as in Naeem et al.'s (design.md). prdc uses `<` for
//! all four; the two agree except when a distance equals a radius exactly, which happens with
//! duplicated samples (a real set of identical images: with `<`, radius-0 balls contain nothing).
//!
//! Comparisons are made on squared distances (the same order as the distances themselves).

use serde::{Deserialize, Serialize};

use crate::distance::{scan_sq_distances, smallest_sorted, Prepared};
use crate::features::{
    check_rows, check_same_dim, default_threads, FeatureError, FeatureMatrix, SampleSet,
};
use crate::linalg::column_means;

/// Neighbourhood sizes and threads for [`prdc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrdcConfig {
    /// k for precision and recall (Kynkäänniemi et al.: 3).
    pub k_precision_recall: usize,
    /// k for density and coverage (Naeem et al.: 5).
    pub k_density_coverage: usize,
    /// Worker threads for the distance tiles.
    pub threads: usize,
}

impl Default for PrdcConfig {
    fn default() -> Self {
        Self {
            k_precision_recall: 3,
            k_density_coverage: 5,
            threads: default_threads(),
        }
    }
}

/// Precision and recall, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrecisionRecall {
    /// Share of fake samples inside the real manifold.
    pub precision: f64,
    /// Share of real samples inside the fake manifold.
    pub recall: f64,
}

/// Density (unbounded above; 1 on average for identical distributions) and coverage in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DensityCoverage {
    /// Mean number of real balls containing a fake sample, divided by k.
    pub density: f64,
    /// Share of real balls that contain a fake sample.
    pub coverage: f64,
}

/// Precision and recall with neighbourhood size `k` (3 in the paper).
pub fn precision_recall(
    real: &FeatureMatrix,
    fake: &FeatureMatrix,
    k: usize,
    threads: usize,
) -> Result<PrecisionRecall, FeatureError> {
    let (pr, _) = compute(real, fake, Some(k), None, threads)?;
    Ok(pr.expect("requested"))
}

/// Density and coverage with neighbourhood size `k` (5 in the paper).
pub fn density_coverage(
    real: &FeatureMatrix,
    fake: &FeatureMatrix,
    k: usize,
    threads: usize,
) -> Result<DensityCoverage, FeatureError> {
    let (_, dc) = compute(real, fake, None, Some(k), threads)?;
    Ok(dc.expect("requested"))
}

/// All four at once, sharing the distance passes: real×real, fake×fake and real×fake, each once.
pub fn prdc(
    real: &FeatureMatrix,
    fake: &FeatureMatrix,
    config: &PrdcConfig,
) -> Result<(PrecisionRecall, DensityCoverage), FeatureError> {
    let (pr, dc) = compute(
        real,
        fake,
        Some(config.k_precision_recall),
        Some(config.k_density_coverage),
        config.threads,
    )?;
    Ok((pr.expect("requested"), dc.expect("requested")))
}

/// Distance from each sample to its `k`-th nearest other sample of the same set (the ball radii).
pub fn knn_radii(
    features: &FeatureMatrix,
    k: usize,
    threads: usize,
) -> Result<Vec<f64>, FeatureError> {
    check_k(k)?;
    check_rows("k-NN radii", SampleSet::Real, features, k + 1)?;
    let centre = column_means(features.as_slice(), features.rows(), features.dim());
    let prepared = Prepared::new(features, &centre);
    let radii = sq_radii(&prepared, &[k], threads).remove(0);
    Ok(radii.into_iter().map(f64::sqrt).collect())
}

fn check_k(k: usize) -> Result<(), FeatureError> {
    if k == 0 {
        return Err(FeatureError::InvalidParameter {
            parameter: "k",
            value: k,
            requirement: "the neighbourhood size must be at least 1",
        });
    }
    Ok(())
}

/// Per-thread accumulator of the real×fake pass.
struct CrossState {
    /// Rows of the real set this thread scans.
    first_row: usize,
    /// Per real row: inside some fake ball (recall).
    recalled: Vec<bool>,
    /// Per real row: its ball contains some fake (coverage).
    covered: Vec<bool>,
    /// Per fake: inside some real ball (precision).
    precise: Vec<bool>,
    /// Per fake: number of real balls containing it (density).
    containing: Vec<u32>,
}

/// The real set's side of [`prdc`], computed once: its centred rows and ball radii. A runner that
/// compares every evaluation's samples with the same real features skips the real × real pass.
pub struct RealManifold {
    prepared: Prepared,
    centre: Vec<f64>,
    dim: usize,
    threads: usize,
    /// Squared radii for precision (k_pr), if requested.
    pr: Option<(usize, Vec<f64>)>,
    /// Squared radii for density/coverage (k_dc), if requested.
    dc: Option<(usize, Vec<f64>)>,
}

impl RealManifold {
    /// The real manifolds of `real` for both neighbourhood sizes of `config`.
    pub fn new(real: &FeatureMatrix, config: &PrdcConfig) -> Result<Self, FeatureError> {
        Self::build(
            real,
            Some(config.k_precision_recall),
            Some(config.k_density_coverage),
            config.threads,
        )
    }

    /// Precision, recall, density and coverage of `fake` against this real set.
    pub fn compare(
        &self,
        fake: &FeatureMatrix,
    ) -> Result<(PrecisionRecall, DensityCoverage), FeatureError> {
        let (pr, dc) = self.cross(fake)?;
        Ok((pr.expect("requested"), dc.expect("requested")))
    }

    fn build(
        real: &FeatureMatrix,
        k_pr: Option<usize>,
        k_dc: Option<usize>,
        threads: usize,
    ) -> Result<Self, FeatureError> {
        for k in k_pr.iter().chain(&k_dc) {
            check_k(*k)?;
        }
        if let Some(k) = k_pr {
            check_rows("precision/recall", SampleSet::Real, real, k + 1)?;
        }
        if let Some(k) = k_dc {
            check_rows("density/coverage", SampleSet::Real, real, k + 1)?;
        }
        let threads = threads.max(1);
        let centre = column_means(real.as_slice(), real.rows(), real.dim());
        let prepared = Prepared::new(real, &centre);
        let ks: Vec<usize> = k_pr.iter().chain(&k_dc).copied().collect();
        let mut radii = sq_radii(&prepared, &ks, threads).into_iter();
        let pr = k_pr.map(|k| (k, radii.next().expect("one per k")));
        let dc = k_dc.map(|k| (k, radii.next().expect("one per k")));
        Ok(Self {
            prepared,
            centre,
            dim: real.dim(),
            threads,
            pr,
            dc,
        })
    }

    fn cross(
        &self,
        fake: &FeatureMatrix,
    ) -> Result<(Option<PrecisionRecall>, Option<DensityCoverage>), FeatureError> {
        if fake.dim() != self.dim {
            return Err(FeatureError::DimensionMismatch {
                real: self.dim,
                fake: fake.dim(),
            });
        }
        if let Some((k, _)) = self.pr {
            check_rows("precision/recall", SampleSet::Fake, fake, k + 1)?;
        }
        if self.dc.is_some() {
            // Coverage and density need no fake radii, but an empty fake set would divide by 0.
            check_rows("density/coverage", SampleSet::Fake, fake, 1)?;
        }
        let threads = self.threads;
        let real_p = &self.prepared;
        let fake_p = Prepared::new(fake, &self.centre);
        let (k_pr, k_dc) = (self.pr.as_ref().map(|p| p.0), self.dc.as_ref().map(|d| d.0));
        let real_pr_radii = self.pr.as_ref().map_or(&[][..], |p| p.1.as_slice());
        let real_dc_radii = self.dc.as_ref().map_or(&[][..], |d| d.1.as_slice());
        let fake_pr_radii = match k_pr {
            Some(k) => sq_radii(&fake_p, &[k], threads).remove(0),
            None => Vec::new(),
        };

        let n_fake = fake.rows();
        let states = scan_sq_distances(
            real_p,
            &fake_p,
            false,
            threads,
            |rows| CrossState {
                first_row: rows.start,
                recalled: vec![false; rows.len()],
                covered: vec![false; rows.len()],
                precise: vec![false; if k_pr.is_some() { n_fake } else { 0 }],
                containing: vec![0; if k_dc.is_some() { n_fake } else { 0 }],
            },
            |state, first_row, tile| {
                for (offset, row) in tile.chunks_exact(n_fake).enumerate() {
                    let i = first_row + offset;
                    let local = i - state.first_row;
                    if k_pr.is_some() {
                        let r = real_pr_radii[i];
                        let mut recalled = false;
                        for ((&d, precise), &rf) in
                            row.iter().zip(&mut state.precise).zip(&fake_pr_radii)
                        {
                            *precise |= d <= r;
                            recalled |= d <= rf;
                        }
                        state.recalled[local] |= recalled;
                    }
                    if k_dc.is_some() {
                        let r = real_dc_radii[i];
                        let mut covered = false;
                        for (&d, count) in row.iter().zip(&mut state.containing) {
                            let inside = d < r;
                            *count += u32::from(inside);
                            covered |= inside;
                        }
                        state.covered[local] |= covered;
                    }
                }
            },
        );

        let (mut precise, mut containing) = (vec![false; n_fake], vec![0u64; n_fake]);
        let (mut recalled, mut covered) = (0usize, 0usize);
        for s in &states {
            for (p, q) in precise.iter_mut().zip(&s.precise) {
                *p |= q;
            }
            for (c, d) in containing.iter_mut().zip(&s.containing) {
                *c += u64::from(*d);
            }
            recalled += s.recalled.iter().filter(|&&r| r).count();
            covered += s.covered.iter().filter(|&&c| c).count();
        }
        let (n_real, n_fake) = (real_p.rows() as f64, n_fake as f64);
        let pr = k_pr.map(|_| PrecisionRecall {
            precision: precise.iter().filter(|&&p| p).count() as f64 / n_fake,
            recall: recalled as f64 / n_real,
        });
        let dc = k_dc.map(|k| DensityCoverage {
            // prdc's exact float operations, (1/k) · (Σ counts / n), so the values agree to the bit.
            density: (1.0 / k as f64) * (containing.iter().sum::<u64>() as f64 / n_fake),
            coverage: covered as f64 / n_real,
        });
        Ok((pr, dc))
    }
}

fn compute(
    real: &FeatureMatrix,
    fake: &FeatureMatrix,
    k_pr: Option<usize>,
    k_dc: Option<usize>,
    threads: usize,
) -> Result<(Option<PrecisionRecall>, Option<DensityCoverage>), FeatureError> {
    check_same_dim(real, fake)?;
    RealManifold::build(real, k_pr, k_dc, threads)?.cross(fake)
}

/// Squared k-th-nearest-other-neighbour radii of `set`, one vector per entry of `ks`, from one
/// pass over its self-distances.
fn sq_radii(set: &Prepared, ks: &[usize], threads: usize) -> Vec<Vec<f64>> {
    let keep = ks.iter().max().map_or(0, |k| k + 1);
    let states = scan_sq_distances(
        set,
        set,
        true,
        threads,
        |rows| (Vec::with_capacity(rows.len() * ks.len()), Vec::new()),
        |(radii, smallest): &mut (Vec<f64>, Vec<f64>), _, tile| {
            for row in tile.chunks_exact(set.rows()) {
                smallest_sorted(row, keep, smallest);
                // Index k of the ascending list: the row's own 0 is index 0.
                radii.extend(ks.iter().map(|&k| smallest[k]));
            }
        },
    );
    let mut out = vec![Vec::with_capacity(set.rows()); ks.len()];
    for (radii, _) in states {
        for row in radii.chunks_exact(ks.len()) {
            for (o, &r) in out.iter_mut().zip(row) {
                o.push(r);
            }
        }
    }
    out
}
