//! Time to train the evaluation CNN and to extract features, on synthetic 28×28 images.
//!
//! `cargo bench -p ganbench-features --bench extractor`. Prints milliseconds per training epoch
//! of 8,000 images and per 10,000 extracted images, and their ratio (a training image costs
//! about three forward passes, so the ratio shows how far the backward pass is from that).

use std::time::Instant;

use ganbench_features::{train, InputShape, LabeledImages, TrainConfig, TrainingData};
use ganbench_sdk::candle::Device;
use ganbench_sdk::SeededRng;

fn main() {
    let shape = InputShape::new(1, 28, 28).unwrap();
    let n_train = 8000;
    let mut rng = SeededRng::new(1);
    let images = rng.uniform_vec((n_train + 10_000) * shape.len(), -1.0, 1.0);
    let labels: Vec<u32> = (0..n_train as u32 + 10_000).map(|i| i % 10).collect();
    let data = TrainingData {
        name: "bench",
        content_hash: "bench",
        train: LabeledImages {
            images: &images[..n_train * shape.len()],
            labels: Some(&labels[..n_train]),
            shape,
        },
        held_out: LabeledImages {
            images: &images[n_train * shape.len()..(n_train + 100) * shape.len()],
            labels: Some(&labels[n_train..n_train + 100]),
            shape,
        },
    };
    let config = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };
    let started = Instant::now();
    let extractor = train(&data, &config, &Device::Cpu).unwrap();
    let epoch_ms = started.elapsed().as_secs_f64() * 1e3;

    let probe = &images[n_train * shape.len()..];
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let started = Instant::now();
        let features = extractor.features(probe, 10_000).unwrap();
        best = best.min(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(features.len(), 10_000 * extractor.dim());
    }
    println!("train, 1 epoch of {n_train} images (batch 128): {epoch_ms:8.0} ms");
    println!("extract 10,000 images (best of 3):            {best:8.0} ms");
    println!(
        "training image / extracted image:              {:8.2}×",
        (epoch_ms / n_train as f64) / (best / 10_000.0)
    );
}
