//! Image metrics on constructed inputs whose values are known in closed form or by hand.

use ganbench_metrics::{
    density_coverage, extract_features, fid, kid, knn_radii, polynomial_mmd2, precision_recall,
    ExtractorError, FeatureError, FeatureExtractor, FeatureMatrix, ImageMetrics, ImageScores,
    KidConfig, SampleSet,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn matrix(set: SampleSet, rows: &[Vec<f64>]) -> FeatureMatrix {
    let dim = rows[0].len();
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    FeatureMatrix::from_rows(set, &flat, dim).unwrap()
}

fn normal(rng: &mut ChaCha8Rng, n: usize, dim: usize, shift: f64) -> Vec<f64> {
    (0..n * dim)
        .map(|_| {
            let z: f64 = StandardNormal.sample(rng);
            z + shift
        })
        .collect()
}

/// Entry (i, j) of a Sylvester–Hadamard matrix of power-of-two order n > i, j: entries ±1,
/// columns mutually orthogonal, and every column but the first sums to 0.
fn hadamard(i: usize, j: usize) -> f64 {
    if (i & j).count_ones().is_multiple_of(2) {
        1.0
    } else {
        -1.0
    }
}

/// n samples whose sample mean is exactly `mean` and whose unbiased sample covariance is exactly
/// diag(`var`), then rotated by `rotate` (so both sets' covariances are Q diag Qᵀ: they commute).
fn exact_gaussian_set(
    n: usize,
    mean: &[f64],
    var: &[f64],
    rotate: &dyn Fn(&mut [f64]),
) -> Vec<f64> {
    let d = mean.len();
    let scale = ((n as f64 - 1.0) / n as f64).sqrt();
    let mut out = Vec::with_capacity(n * d);
    for i in 0..n {
        let mut row: Vec<f64> = (0..d)
            .map(|j| hadamard(i, j + 1) * var[j].sqrt() * scale)
            .collect();
        rotate(&mut row);
        out.extend(row.iter().zip(mean).map(|(x, m)| x + m));
    }
    out
}

/// A rotation of the first coordinates by Givens rotations through fixed angles.
fn givens(row: &mut [f64]) {
    for (a, angle) in [(0, 0.3f64), (1, 1.1), (2, -0.7), (0, 0.5)] {
        let (s, c) = angle.sin_cos();
        let (x, y) = (row[a], row[a + 1]);
        row[a] = c * x - s * y;
        row[a + 1] = s * x + c * y;
    }
}

#[test]
fn fid_of_identical_sets_is_zero() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = normal(&mut rng, 400, 24, 0.5);
    let real = FeatureMatrix::from_rows(SampleSet::Real, &x, 24).unwrap();
    let fake = FeatureMatrix::from_rows(SampleSet::Fake, &x, 24).unwrap();
    let value = fid(&real, &fake).unwrap();
    assert!(value.abs() < 1e-9, "{value}");
}

#[test]
fn fid_of_commuting_gaussians_is_the_analytic_value() {
    // ‖μ1 − μ2‖² + Σ (√a − √b)² when Σ1 = Q diag(a) Qᵀ and Σ2 = Q diag(b) Qᵀ.
    let (n, d) = (64, 5);
    let (mean1, var1): ([f64; 5], [f64; 5]) =
        ([0.0, 1.0, -2.0, 0.5, 3.0], [1.0, 4.0, 0.25, 2.0, 9.0]);
    let (mean2, var2): ([f64; 5], [f64; 5]) =
        ([1.0, 1.0, 0.0, 0.5, 2.5], [2.25, 1.0, 0.25, 0.5, 16.0]);
    let analytic = |rotated: bool| {
        let rotate_mean = |m: &[f64]| {
            let mut m = m.to_vec();
            if rotated {
                givens(&mut m);
            }
            m
        };
        let (m1, m2) = (rotate_mean(&mean1), rotate_mean(&mean2));
        let mean_term: f64 = m1.iter().zip(&m2).map(|(a, b)| (a - b) * (a - b)).sum();
        let cov_term: f64 = var1
            .iter()
            .zip(&var2)
            .map(|(a, b)| (a.sqrt() - b.sqrt()).powi(2))
            .sum();
        mean_term + cov_term
    };
    for rotated in [false, true] {
        let rotate: &dyn Fn(&mut [f64]) = if rotated { &givens } else { &|_| {} };
        // The mean is rotated with the samples: rotate zero-mean rows, then add the rotated mean.
        let set = |mean: &[f64], var: &[f64], s| {
            let mut m = mean.to_vec();
            rotate(&mut m);
            FeatureMatrix::from_rows(s, &exact_gaussian_set(n, &m, var, rotate), d).unwrap()
        };
        let real = set(&mean1, &var1, SampleSet::Real);
        let fake = set(&mean2, &var2, SampleSet::Fake);
        let want = analytic(rotated);
        let got = fid(&real, &fake).unwrap();
        assert!(
            (got - want).abs() < 1e-9 * want,
            "rotated {rotated}: {got} vs analytic {want}"
        );
    }
}

#[test]
fn fid_with_fewer_samples_than_features_stays_finite_and_symmetric() {
    // Singular covariances: pytorch-fid needs an ε offset here; the eigenvalue form does not.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let a = FeatureMatrix::from_rows(SampleSet::Real, &normal(&mut rng, 10, 32, 0.0), 32).unwrap();
    let b = FeatureMatrix::from_rows(SampleSet::Fake, &normal(&mut rng, 12, 32, 1.0), 32).unwrap();
    let (ab, ba) = (fid(&a, &b).unwrap(), fid(&b, &a).unwrap());
    assert!(ab.is_finite() && ab > 0.0);
    assert!((ab - ba).abs() < 1e-9 * ab, "{ab} vs {ba}");
}

#[test]
fn polynomial_mmd2_by_hand() {
    // x = {0, 1}, y = {2, 3} in 1D, k(a, b) = (ab + 1)³:
    // XX off-diagonal mean k(0,1) = 1; YY: k(2,3) = 343; XY mean (1 + 1 + 27 + 64)/4 = 23.25.
    let x = matrix(SampleSet::Real, &[vec![0.0], vec![1.0]]);
    let y = matrix(SampleSet::Fake, &[vec![2.0], vec![3.0]]);
    assert_eq!(polynomial_mmd2(&x, &y).unwrap(), 1.0 + 343.0 - 2.0 * 23.25);
    // In 2D the kernel divides by d = 2: k((1,1),(1,1)) = (2/2 + 1)³ = 8 (diagonal, unused),
    // k((1,1),(0,0)) = 1, k((0,0),(0,0)) = 1 ⇒ MMD² = 1 + 1 − 2·1 = 0 for these sets.
    let x = matrix(SampleSet::Real, &[vec![1.0, 1.0], vec![0.0, 0.0]]);
    assert_eq!(
        polynomial_mmd2(&x, &x).unwrap(),
        1.0 + 1.0 - 2.0 * (8.0 + 1.0 + 1.0 + 1.0) / 4.0
    );
}

#[test]
fn kid_of_identical_distributions_is_near_zero() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let d = 16;
    let real =
        FeatureMatrix::from_rows(SampleSet::Real, &normal(&mut rng, 1500, d, 0.0), d).unwrap();
    let same =
        FeatureMatrix::from_rows(SampleSet::Fake, &normal(&mut rng, 1200, d, 0.0), d).unwrap();
    let shifted =
        FeatureMatrix::from_rows(SampleSet::Fake, &normal(&mut rng, 1200, d, 0.3), d).unwrap();
    let config = KidConfig {
        subsets: 20,
        subset_size: 500,
        seed: 7,
        threads: 2,
    };
    let k_same = kid(&real, &same, &config).unwrap();
    let k_shift = kid(&real, &shifted, &config).unwrap();
    // Unbiased: the mean of identical distributions is within the per-subset spread of 0.
    assert!(k_same.mean.abs() < 2.0 * k_same.std, "{k_same:?}");
    assert!(
        k_shift.mean > 10.0 * k_same.std.max(k_same.mean.abs()),
        "{k_shift:?} vs {k_same:?}"
    );
    // Same seed, same subsets, same value, whatever the thread count.
    let one_thread = KidConfig {
        threads: 1,
        ..config
    };
    assert_eq!(kid(&real, &same, &one_thread).unwrap(), k_same);
}

#[test]
fn kid_subset_size_is_clipped_to_the_smaller_set() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let real = FeatureMatrix::from_rows(SampleSet::Real, &normal(&mut rng, 50, 4, 0.0), 4).unwrap();
    let fake = FeatureMatrix::from_rows(SampleSet::Fake, &normal(&mut rng, 30, 4, 0.5), 4).unwrap();
    let pairs = ganbench_metrics::draw_subsets(50, 30, &KidConfig::default()).unwrap();
    assert_eq!(pairs.len(), 100);
    for (r, f) in &pairs {
        assert_eq!((r.len(), f.len()), (30, 30));
        // Without replacement.
        let mut f = f.clone();
        f.sort_unstable();
        assert_eq!(f, (0..30).collect::<Vec<_>>());
        assert!(r.iter().all(|&i| i < 50));
    }
    // A subset pair covering all fakes: every subset's fake half is the whole set.
    let k = kid(&real, &fake, &KidConfig::default()).unwrap();
    assert!(k.mean.is_finite() && k.std.is_finite());
}

#[test]
fn prdc_of_identical_sets_is_perfect() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let x = normal(&mut rng, 700, 8, 0.0);
    let real = FeatureMatrix::from_rows(SampleSet::Real, &x, 8).unwrap();
    let fake = FeatureMatrix::from_rows(SampleSet::Fake, &x, 8).unwrap();
    for threads in [1, 2] {
        let pr = precision_recall(&real, &fake, 3, threads).unwrap();
        let dc = density_coverage(&real, &fake, 5, threads).unwrap();
        assert_eq!((pr.precision, pr.recall), (1.0, 1.0));
        assert_eq!(dc.coverage, 1.0);
        // Each real ball (radius: its 5th neighbour) strictly contains itself and its 4 nearer
        // neighbours: 5 fakes per ball, density 5/5.
        assert_eq!(dc.density, 1.0);
    }
}

#[test]
fn prdc_on_a_line_by_hand() {
    // Reals 0..4 (k = 1 radius 1 each); fakes 0.5, 5, 10 (k = 1 radii 4.5, 4.5, 5).
    let real = matrix(
        SampleSet::Real,
        &[vec![0.0], vec![1.0], vec![2.0], vec![3.0], vec![4.0]],
    );
    let fake = matrix(SampleSet::Fake, &[vec![0.5], vec![5.0], vec![10.0]]);
    assert_eq!(knn_radii(&real, 1, 1).unwrap(), vec![1.0; 5]);
    assert_eq!(knn_radii(&fake, 1, 1).unwrap(), vec![4.5, 4.5, 5.0]);
    let pr = precision_recall(&real, &fake, 1, 1).unwrap();
    // 0.5 is inside real balls; 5 lies exactly on the ball of 4 (≤ counts it); 10 is outside.
    assert_eq!(pr.precision, 2.0 / 3.0);
    assert_eq!(pr.recall, 1.0);
    let dc = density_coverage(&real, &fake, 1, 1).unwrap();
    // Strictly inside: 0.5 is in the balls of 0 and 1; 5 is on the boundary of 4's ball: out.
    assert_eq!(dc.density, 2.0 / 3.0);
    // Balls of 0 and 1 contain a fake; 4's only touches 5.
    assert_eq!(dc.coverage, 2.0 / 5.0);
}

#[test]
fn knn_radii_count_duplicates_as_neighbours() {
    let set = matrix(
        SampleSet::Real,
        &[vec![0.0], vec![0.0], vec![3.0], vec![7.0]],
    );
    assert_eq!(knn_radii(&set, 1, 1).unwrap(), vec![0.0, 0.0, 3.0, 4.0]);
    assert_eq!(knn_radii(&set, 2, 2).unwrap(), vec![3.0, 3.0, 3.0, 7.0]);
}

#[test]
fn errors_name_the_set_the_row_and_the_fix() {
    let err =
        FeatureMatrix::from_rows(SampleSet::Fake, &[1.0f32, 2.0, f32::NAN, 4.0], 2).unwrap_err();
    assert!(
        matches!(
            err,
            FeatureError::NonFinite { set: SampleSet::Fake, row: 1, column: 0, value } if value.is_nan()
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("fake features: row 1, column 0 is NaN"),
        "{message}"
    );

    let err = FeatureMatrix::from_rows(SampleSet::Real, &[1.0f64, 2.0, 3.0], 2).unwrap_err();
    assert!(
        matches!(err, FeatureError::RaggedRows { len: 3, dim: 2, .. }),
        "{err}"
    );
    let err = FeatureMatrix::from_rows::<f64>(SampleSet::Real, &[], 0).unwrap_err();
    assert!(matches!(err, FeatureError::ZeroDimension { .. }), "{err}");

    let a = matrix(
        SampleSet::Real,
        &[vec![0.0, 1.0], vec![1.0, 0.0], vec![2.0, 2.0]],
    );
    let b = matrix(SampleSet::Fake, &[vec![0.0], vec![1.0], vec![2.0]]);
    for err in [
        fid(&a, &b).unwrap_err(),
        kid(&a, &b, &KidConfig::default()).unwrap_err(),
        precision_recall(&a, &b, 1, 1).unwrap_err(),
    ] {
        assert_eq!(err, FeatureError::DimensionMismatch { real: 2, fake: 1 });
    }

    let one = matrix(SampleSet::Fake, &[vec![0.0, 0.0]]);
    let err = fid(&a, &one).unwrap_err();
    assert!(
        err.to_string()
            .contains("FID needs at least 2 fake samples, got 1"),
        "{err}"
    );
    // n ≤ k: 3 reals cannot have a 3rd nearest other neighbour.
    let err = precision_recall(&a, &a, 3, 1).unwrap_err();
    assert_eq!(
        err,
        FeatureError::TooFewSamples {
            metric: "precision/recall",
            set: SampleSet::Real,
            needed: 4,
            got: 3
        }
    );
    let err = kid(&a, &one, &KidConfig::default()).unwrap_err();
    assert!(
        matches!(
            err,
            FeatureError::TooFewSamples {
                set: SampleSet::Fake,
                ..
            }
        ),
        "{err}"
    );
    let zero = KidConfig {
        subsets: 0,
        ..KidConfig::default()
    };
    assert!(matches!(
        kid(&a, &a, &zero).unwrap_err(),
        FeatureError::InvalidParameter { .. }
    ));
}

/// Per image: the mean and the maximum of its pixels.
struct MeanMax;

impl FeatureExtractor for MeanMax {
    fn name(&self) -> &str {
        "mean-max"
    }

    fn dim(&self) -> usize {
        2
    }

    fn features(&self, images: &[f32], n: usize) -> Result<Vec<f32>, ExtractorError> {
        if n == 0 || !images.len().is_multiple_of(n) {
            return Err(ExtractorError::new(
                "mean-max",
                "images do not split into n images",
            ));
        }
        let per = images.len() / n;
        Ok(images
            .chunks_exact(per)
            .flat_map(|im| {
                let mean = im.iter().sum::<f32>() / per as f32;
                let max = im.iter().copied().fold(f32::MIN, f32::max);
                [mean, max]
            })
            .collect())
    }
}

/// Claims 3 features and returns 2.
struct Liar;

impl FeatureExtractor for Liar {
    fn name(&self) -> &str {
        "liar"
    }

    fn dim(&self) -> usize {
        3
    }

    fn features(&self, images: &[f32], n: usize) -> Result<Vec<f32>, ExtractorError> {
        MeanMax.features(images, n)
    }
}

#[test]
fn image_metrics_through_an_extractor_equal_metrics_of_its_features() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    // 1×4×4 "images" in [-1, 1].
    let images = |rng: &mut ChaCha8Rng, n: usize, shift: f64| -> Vec<f32> {
        normal(rng, n, 16, shift)
            .into_iter()
            .map(|x| (x * 0.3).clamp(-1.0, 1.0) as f32)
            .collect()
    };
    let (real_images, fake_images) = (images(&mut rng, 60, 0.0), images(&mut rng, 50, 0.4));
    let metrics = ImageMetrics {
        kid: KidConfig {
            subsets: 5,
            subset_size: 40,
            seed: 1,
            threads: 1,
        },
        ..ImageMetrics::default()
    }
    .with_threads(2);
    let scores = metrics
        .evaluate_images(&MeanMax, &real_images, 60, &fake_images, 50)
        .unwrap();
    let real = extract_features(&MeanMax, SampleSet::Real, &real_images, 60).unwrap();
    let fake = extract_features(&MeanMax, SampleSet::Fake, &fake_images, 50).unwrap();
    assert_eq!(scores, metrics.evaluate(&real, &fake).unwrap());
    assert_eq!(scores.fid, fid(&real, &fake).unwrap());
    // A prepared real set gives the same scores for every fake set compared with it.
    let reference = metrics.reference(real.clone()).unwrap();
    let other_images = images(&mut rng, 45, -0.2);
    let other = extract_features(&MeanMax, SampleSet::Fake, &other_images, 45).unwrap();
    assert_eq!(reference.evaluate(&fake).unwrap(), scores);
    assert_eq!(
        reference.evaluate(&other).unwrap(),
        metrics.evaluate(&real, &other).unwrap()
    );
    let named = scores.named();
    let names: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ImageScores::NAMES);
    assert_eq!(named[0].1, scores.fid);
    assert_eq!(named[6].1, scores.coverage);

    let err = metrics
        .evaluate_images(&Liar, &real_images, 60, &fake_images, 50)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`liar` returned 120 values for 60 real images; expected 60 × 3 = 180"),
        "{err}"
    );
    let err = metrics
        .evaluate_images(&MeanMax, &real_images, 0, &fake_images, 50)
        .unwrap_err();
    assert!(
        err.to_string().starts_with("feature extractor `mean-max`:"),
        "{err}"
    );
}

#[test]
fn a_selection_of_metrics_equals_the_same_metrics_of_the_full_evaluation() {
    use ganbench_metrics::MetricFamilies;
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let real = FeatureMatrix::from_rows(SampleSet::Real, &normal(&mut rng, 80, 6, 0.0), 6).unwrap();
    let fake = FeatureMatrix::from_rows(SampleSet::Fake, &normal(&mut rng, 70, 6, 0.3), 6).unwrap();
    let metrics = ImageMetrics {
        kid: KidConfig {
            subsets: 5,
            subset_size: 30,
            seed: 1,
            threads: 1,
        },
        ..ImageMetrics::default()
    };
    let all = metrics.evaluate(&real, &fake).unwrap();
    let everything = metrics
        .evaluate_selected(&real, &fake, MetricFamilies::ALL)
        .unwrap();
    assert_eq!(everything.named(), all.named());
    let only = |fid, kid, prdc| {
        metrics
            .evaluate_selected(&real, &fake, MetricFamilies { fid, kid, prdc })
            .unwrap()
            .named()
    };
    let names =
        |pairs: Vec<(String, f64)>| -> Vec<String> { pairs.into_iter().map(|p| p.0).collect() };
    assert_eq!(only(true, false, false), vec![("fid".to_string(), all.fid)]);
    assert_eq!(names(only(false, true, false)), ["kid_mean", "kid_std"]);
    assert_eq!(only(false, true, false)[0].1, all.kid_mean);
    assert_eq!(
        names(only(false, false, true)),
        ["precision", "recall", "density", "coverage"]
    );
    assert_eq!(only(false, false, true)[3].1, all.coverage);
    assert!(only(false, false, false).is_empty());
    // 3 samples: enough for FID and KID, too few for k = 5 neighbours, which are not asked for.
    let tiny = FeatureMatrix::from_rows(SampleSet::Fake, &normal(&mut rng, 3, 6, 0.0), 6).unwrap();
    let picked = metrics
        .evaluate_selected(
            &real,
            &tiny,
            MetricFamilies {
                fid: true,
                kid: true,
                prdc: false,
            },
        )
        .unwrap();
    assert!(picked.fid.is_some() && picked.kid_mean.is_some() && picked.precision.is_none());
    assert!(metrics
        .evaluate_selected(&real, &tiny, MetricFamilies::ALL)
        .is_err());
}
