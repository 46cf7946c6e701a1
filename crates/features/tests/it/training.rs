//! Training on small budgets: determinism, the cache (reuse, corrupt files), and input errors.

use crate::common;
use ganbench_features::{
    cache_path, load_or_train, train, CacheOutcome, CnnExtractor, FeaturesError, LabeledImages,
    TrainConfig, ARCH_VERSION, CACHE_FOLDER, FEATURE_DIM,
};
use ganbench_sdk::candle::Device;

/// One pass over 600 digits: enough to move the weights far from their initial values.
fn small() -> TrainConfig {
    TrainConfig {
        seed: 3,
        epochs: 1,
        batch_size: 64,
        learning_rate: 1e-3,
        cosine_decay: false,
        max_shift: 0,
    }
}

fn probe() -> (&'static [f32], usize) {
    let m = common::mnist();
    (&m.images[9000 * 784..9100 * 784], 100)
}

#[test]
fn same_seed_same_features_other_seed_other_features() {
    let data = common::split(600, 200);
    let (images, n) = probe();
    let a = train(&data, &small(), &Device::Cpu).unwrap();
    let b = train(&data, &small(), &Device::Cpu).unwrap();
    let fa = a.features(images, n).unwrap();
    let fb = b.features(images, n).unwrap();
    assert_eq!(fa.len(), n * FEATURE_DIM);
    assert!(
        fa.iter().zip(&fb).all(|(x, y)| x.to_bits() == y.to_bits()),
        "same seed, different features"
    );
    assert_eq!(a.held_out_accuracy(), b.held_out_accuracy());
    // Extraction itself is repeatable, and independent of how the images are batched.
    assert_eq!(a.features(images, n).unwrap(), fa);
    let first_half = a.features(&images[..50 * 784], 50).unwrap();
    assert_eq!(first_half[..], fa[..50 * FEATURE_DIM]);

    let other = train(&data, &TrainConfig { seed: 4, ..small() }, &Device::Cpu).unwrap();
    let fc = other.features(images, n).unwrap();
    let differing = fa.iter().zip(&fc).filter(|(x, y)| x != y).count();
    assert!(differing > fa.len() / 2, "only {differing} features differ");

    // Ten small steps already classify far above chance (10%).
    let acc = a.held_out_accuracy().unwrap();
    assert!(acc > 0.3, "accuracy after one epoch on 600 digits: {acc}");
    let p = a.provenance().unwrap();
    assert_eq!(
        (p.train_examples, p.held_out_examples, p.classes),
        (600, 200, 10)
    );
    assert_eq!(p.recipe, small());
    assert_eq!(p.build_id, ganbench_sdk::BUILD_ID);
}

#[test]
fn cache_is_reused_then_retrained_when_corrupt_or_stale() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::split(300, 100);
    let (images, n) = probe();

    let (trained, outcome) = load_or_train(dir.path(), &data, &small(), &Device::Cpu).unwrap();
    assert_eq!(outcome, CacheOutcome::Trained);
    let path = cache_path(dir.path(), data.content_hash).unwrap();
    assert_eq!(
        path,
        dir.path()
            .join(CACHE_FOLDER)
            .join(format!("mnist10k-test-{ARCH_VERSION}.safetensors"))
    );
    assert!(path.exists());
    let expected = trained.features(images, n).unwrap();

    let (loaded, outcome) = load_or_train(dir.path(), &data, &small(), &Device::Cpu).unwrap();
    assert_eq!(outcome, CacheOutcome::Loaded);
    assert_eq!(loaded.provenance(), trained.provenance());
    assert_eq!(loaded.features(images, n).unwrap(), expected);

    // A cache file cut short (a full disk, a killed copy) is retrained, not fatal.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 1000]).unwrap();
    let (retrained, outcome) = load_or_train(dir.path(), &data, &small(), &Device::Cpu).unwrap();
    let CacheOutcome::Retrained { reason } = outcome else {
        panic!("expected a retrain, got {outcome:?}")
    };
    assert!(reason.contains("safetensors"), "{reason}");
    assert_eq!(retrained.features(images, n).unwrap(), expected);
    let (_, outcome) = load_or_train(dir.path(), &data, &small(), &Device::Cpu).unwrap();
    assert_eq!(
        outcome,
        CacheOutcome::Loaded,
        "the retrained file replaced the corrupt one"
    );

    // Another recipe does not reuse the file.
    let longer = TrainConfig {
        epochs: 2,
        ..small()
    };
    let (_, outcome) = load_or_train(dir.path(), &data, &longer, &Device::Cpu).unwrap();
    let CacheOutcome::Retrained { reason } = outcome else {
        panic!("expected a retrain, got {outcome:?}")
    };
    assert!(
        reason.contains("epochs: 1") && reason.contains("epochs: 2"),
        "{reason}"
    );

    // The saved file loads as user weights too, with its training record.
    let user = CnnExtractor::load(&path, common::shape(), &Device::Cpu).unwrap();
    assert_eq!(user.provenance().unwrap().recipe, longer);
}

#[test]
fn unlabelled_data_cannot_train() {
    let mut data = common::split(100, 50);
    data.train.labels = None;
    let err = train(&data, &small(), &Device::Cpu).unwrap_err();
    assert!(
        matches!(err, FeaturesError::MissingLabels { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("`mnist-10k` has no labels")
            && msg.contains("supply trained extractor weights"),
        "{msg}"
    );
}

#[test]
fn mismatched_labels_and_bad_hashes_are_refused() {
    let m = common::mnist();
    let mut data = common::split(100, 50);
    data.train = LabeledImages {
        labels: Some(&m.labels[..99]),
        ..data.train
    };
    let err = train(&data, &small(), &Device::Cpu).unwrap_err();
    assert!(
        err.to_string()
            .contains("the training split has 100 images but 99 labels"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let err = cache_path(dir.path(), "../escape").unwrap_err();
    assert!(
        err.to_string().contains("cannot name a cache file"),
        "{err}"
    );
}
