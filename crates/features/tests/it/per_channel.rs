//! The per-channel extractor of Stacked MNIST: its features and classes are the single-channel
//! network's, channel by channel, composed as documented.

use crate::common;
use ganbench_features::{train, PerChannel, TrainConfig, FEATURE_DIM};
use ganbench_metrics::FeatureExtractor;
use ganbench_sdk::candle::Device;

#[test]
fn stacked_digits_get_each_channels_features_and_the_triple_as_class() {
    let recipe = TrainConfig {
        seed: 5,
        epochs: 1,
        batch_size: 64,
        learning_rate: 1e-3,
        cosine_decay: false,
        max_shift: 0,
    };
    let net = train(&common::split(600, 200), &recipe, &Device::Cpu).unwrap();
    let single = train(&common::split(600, 200), &recipe, &Device::Cpu).unwrap();
    let stacked = PerChannel::new(net, 3).unwrap();
    assert_eq!((stacked.dim(), stacked.classes()), (3 * FEATURE_DIM, 1000));

    // 40 stacks of digits 9000…9119: stack i holds digits 9000 + i, 9040 + i, 9080 + i.
    let m = common::mnist();
    let px = 28 * 28;
    let (n, digit) = (40, |k: usize| &m.images[(9000 + k) * px..(9001 + k) * px]);
    let images: Vec<f32> = (0..n)
        .flat_map(|i| [digit(i), digit(40 + i), digit(80 + i)].concat())
        .collect();
    let planes: Vec<Vec<f32>> = (0..3)
        .map(|c| (0..n).flat_map(|i| digit(40 * c + i).to_vec()).collect())
        .collect();

    let features = stacked.features(&images, n).unwrap();
    let classes = stacked.classify(&images, n).unwrap();
    let per_plane: Vec<Vec<f32>> = planes
        .iter()
        .map(|p| single.features(p, n).unwrap())
        .collect();
    let predicted: Vec<Vec<u32>> = planes
        .iter()
        .map(|p| single.predict(p, n).unwrap())
        .collect();
    for i in 0..n {
        let row = &features[i * 3 * FEATURE_DIM..(i + 1) * 3 * FEATURE_DIM];
        for c in 0..3 {
            assert_eq!(
                row[c * FEATURE_DIM..(c + 1) * FEATURE_DIM],
                per_plane[c][i * FEATURE_DIM..(i + 1) * FEATURE_DIM],
                "stack {i}, channel {c}"
            );
        }
        let triple = [predicted[0][i], predicted[1][i], predicted[2][i]];
        assert_eq!(classes[i], ganbench_data::stack_class(triple), "stack {i}");
    }
    // Through the runner's trait: the same features, and the classes with K = 1,000.
    let dynamic: &dyn FeatureExtractor = &stacked;
    assert_eq!(dynamic.features(&images, n).unwrap(), features);
    assert_eq!(
        dynamic.classify(&images, n).unwrap(),
        Some((classes.clone(), 1000))
    );
    // The plain network is a feature map only: it classifies nothing for the runner.
    let plain: &dyn FeatureExtractor = &single;
    assert_eq!(plain.classify(&planes[0], n).unwrap(), None);
    // A buffer that is not whole images is refused, saying what it expected.
    let err = stacked.features(&images[1..], n).unwrap_err().to_string();
    assert!(err.contains("not 40 images of 3×28×28"), "{err}");
}
