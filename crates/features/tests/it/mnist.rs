//! The default recipe on mnist-10k (8000 training digits, 2000 held out): the accuracy the issue
//! asks for, and a feature space in which real data is close to real data and far from noise.

use crate::common;
use std::sync::OnceLock;

use ganbench_features::{train, CnnExtractor, TrainConfig, FEATURE_DIM};
use ganbench_sdk::candle::Device;

fn extractor() -> &'static CnnExtractor {
    static EXTRACTOR: OnceLock<CnnExtractor> = OnceLock::new();
    EXTRACTOR.get_or_init(|| {
        let data = common::split(common::TRAIN, 10_000 - common::TRAIN);
        let extractor = train(&data, &TrainConfig::default(), &Device::Cpu).unwrap();
        let p = extractor.provenance().unwrap();
        eprintln!(
            "mnist-10k extractor: held-out accuracy {:.4}, trained in {:.1} s ({} epochs)",
            p.held_out_accuracy, p.train_seconds, p.recipe.epochs
        );
        extractor
    })
}

#[test]
#[ignore = "slow tier: trains the default recipe on 8,000 digits (minutes); CI runs it"]
fn held_out_accuracy_is_at_least_98_percent() {
    let extractor = extractor();
    let acc = extractor.held_out_accuracy().unwrap();
    assert!(acc >= 0.98, "held-out accuracy {acc}");
    // Recompute it independently of the training code's own count.
    let m = common::mnist();
    let held_out = &m.images[common::TRAIN * 784..];
    let predicted = extractor.predict(held_out, 2000).unwrap();
    let correct = predicted
        .iter()
        .zip(&m.labels[common::TRAIN..])
        .filter(|(p, l)| p == l)
        .count();
    assert_eq!(correct as f64 / 2000.0, acc);
}

#[test]
#[ignore = "slow tier: trains the default recipe on 8,000 digits (minutes); CI runs it"]
fn features_are_finite_and_informative() {
    let m = common::mnist();
    let features = extractor().features(&m.images[..500 * 784], 500).unwrap();
    assert_eq!(features.len(), 500 * FEATURE_DIM);
    assert!(features.iter().all(|v| v.is_finite() && *v >= 0.0));
    // ReLU features: most units fire for some digit, and none for every digit identically.
    let used = (0..FEATURE_DIM)
        .filter(|&j| (0..500).any(|i| features[i * FEATURE_DIM + j] > 0.0))
        .count();
    assert!(
        used > FEATURE_DIM / 2,
        "only {used} of {FEATURE_DIM} features ever fire"
    );
}

/// The sanity check of the whole pipeline: in this feature space the training digits and
/// the held-out digits are one distribution, and uniform noise is far from both.
///
/// Both sides hold 2000 images (the held-out split, and as many training digits): coverage and
/// recall depend on the ratio of the set sizes, and equal sizes are how the metrics are used.
/// Precision is not asserted for noise (it measured 0.77): a few real outliers have huge k-NN
/// balls that the tight cluster of noise features falls into, the weakness density and coverage
/// were made to fix (Naeem et al. 2020). Coverage shows it (0.008); density only halves (0.59
/// against 1.02), as those same balls count.
#[test]
#[ignore = "slow tier: trains the default recipe on 8,000 digits (minutes); CI runs it"]
fn real_against_real_is_close_and_noise_is_far() {
    use ganbench_metrics::{FeatureExtractor, ImageMetrics};

    let m = common::mnist();
    let extractor: &dyn FeatureExtractor = extractor();
    let n = 10_000 - common::TRAIN;
    let train_images = &m.images[..n * 784];
    let held_out = &m.images[common::TRAIN * 784..];
    let noise = ganbench_sdk::SeededRng::new(11).uniform_vec(n * 784, -1.0, 1.0);

    let metrics = ImageMetrics::default();
    let real = metrics
        .evaluate_images(extractor, train_images, n, held_out, n)
        .unwrap();
    let noise = metrics
        .evaluate_images(extractor, train_images, n, &noise, n)
        .unwrap();
    eprintln!("train vs held-out: {real:?}");
    eprintln!("train vs noise:    {noise:?}");
    assert!(
        real.fid * 20.0 < noise.fid,
        "FID real {} vs noise {}",
        real.fid,
        noise.fid
    );
    assert!(real.kid_mean * 20.0 < noise.kid_mean);
    assert!(real.precision >= 0.9 && real.recall >= 0.9, "{real:?}");
    assert!(real.coverage >= 0.9, "{real:?}");
    assert!((0.8..1.25).contains(&real.density), "{real:?}");
    assert!(
        noise.recall <= 0.05 && noise.coverage <= 0.05 && noise.density < real.density,
        "{noise:?}"
    );
}
