//! The evaluation feature extractor of image sweeps, between the runner (which never links candle)
//! and `ganbench-features` (which does).
//!
//! The parent process finds or trains the extractor once per dataset, in the cache next to the
//! database, before any worker starts: parallel workers would otherwise all train the same network
//! at once. Workers then only load the file the task names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use ganbench_data::{DataSource, ImageDataset};
use ganbench_features::{
    load_or_train, CacheOutcome, CnnExtractor, InputShape, LabeledImages, PerChannel, TrainConfig,
    TrainingData,
};
use ganbench_metrics::FeatureExtractor;
use ganbench_runner::plan::FeatureWeights;
use ganbench_sdk::candle::Device;

/// The extractor's weights for `images`, trained now if the cache under `cache_dir` has none.
/// Says on stderr what it did (training takes a while; a reused file is worth knowing about).
/// For Stacked MNIST the network learns the single digits (the same cache file as those digits'
/// own `Idx` dataset) and [`load`] applies it to each channel.
pub fn prepare(images: &ImageDataset, cache_dir: &Path) -> Result<FeatureWeights> {
    let (images, per_channel) = match images.stacked_digits() {
        Some(digits) => (digits, true),
        None => (images, false),
    };
    let shape = InputShape::from_dims(&images.image_shape())?;
    let (train_pixels, held_pixels) = (images.train().all_f32(), images.held_out().all_f32());
    let name = ganbench_data::Dataset::name(images);
    let data = TrainingData {
        name: &name,
        content_hash: images.content_hash(),
        train: LabeledImages {
            images: &train_pixels,
            labels: images.train().labels(),
            shape,
        },
        held_out: LabeledImages {
            images: &held_pixels,
            labels: images.held_out().labels(),
            shape,
        },
    };
    let path = ganbench_features::cache_path(cache_dir, images.content_hash())?;
    if !path.exists() {
        eprintln!(
            "training the evaluation feature extractor for {name} ({} images; once per dataset, \
             cached in {})",
            images.train().len(),
            path.display()
        );
    }
    let (extractor, outcome) =
        load_or_train(cache_dir, &data, &TrainConfig::default(), &Device::Cpu)
            .with_context(|| format!("preparing the feature extractor for {name}"))?;
    let accuracy = extractor
        .held_out_accuracy()
        .map_or("unknown".to_string(), |a| format!("{:.2}%", 100.0 * a));
    match outcome {
        CacheOutcome::Loaded => {
            eprintln!(
                "feature extractor: {} (held-out accuracy {accuracy})",
                path.display()
            )
        }
        CacheOutcome::Trained | CacheOutcome::Retrained { .. } => eprintln!(
            "feature extractor trained: held-out accuracy {accuracy}, saved to {}",
            path.display()
        ),
    }
    let description = format!(
        "{}{}, held-out accuracy {accuracy} on {} images ({})",
        extractor.name(),
        if per_channel {
            " applied to each channel"
        } else {
            ""
        },
        images.held_out().len(),
        path.display()
    );
    Ok(FeatureWeights { path, description })
}

/// Loads prepared weights for `data`'s images (of `shape`: C, H, W) as the runner's extractor:
/// for Stacked MNIST, the digits' network applied to each channel ([`PerChannel`]).
pub fn load(path: &Path, data: &DataSource, shape: &[usize]) -> Result<Arc<dyn FeatureExtractor>> {
    let mut shape = InputShape::from_dims(shape)?;
    let per_channel = matches!(data, DataSource::Images(spec) if spec.stacked_digits().is_some());
    let channels = shape.channels;
    if per_channel {
        shape.channels = 1;
    }
    let net = CnnExtractor::load(path, shape, &Device::Cpu)
        .with_context(|| format!("loading the feature extractor {}", path.display()))?;
    Ok(if per_channel {
        Arc::new(PerChannel::new(net, channels)?)
    } else {
        Arc::new(net)
    })
}

/// Where a database's extractors are cached: beside it.
pub fn cache_dir(db: &Path) -> PathBuf {
    db.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
