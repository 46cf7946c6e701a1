//! Evaluation feature networks for ganbench's image metrics: a small CNN classifier, trained by
//! ganbench itself or loaded from a user's safetensors file, whose penultimate layer gives the features.
//!
//! No pretrained feature network (Inception) can be downloaded where ganbench runs, so for small
//! images it brings its own (docs/features.md):
//!
//! - [`arch`]: the network ([`tensor_shapes`] is the contract for weights files); [`pool`]: its
//!   max-pooling (candle's has a wrong gradient).
//! - [`train()`]: seeded training on a dataset's training split, accuracy on its held-out split.
//! - [`load_or_train`]: the cache, `<dir>/extractors/<dataset-hash>-<arch-version>.safetensors`.
//! - [`PerChannel`]: a single-channel network applied to each channel (Stacked MNIST's digits),
//!   which also classifies each image (the channels' classes as one number).
//! - [`CnnExtractor`]: features in batches; implements the metrics crate's
//!   [`FeatureExtractor`](ganbench_metrics::FeatureExtractor), so the runner and the metrics use it as
//!   a `dyn FeatureExtractor` without linking candle.

pub mod arch;
mod cache;
mod error;
mod extractor;
mod per_channel;
pub mod pool;
mod train;
mod weights;

pub use arch::{tensor_shapes, InputShape, ARCH_VERSION, FEATURE_DIM};
pub use cache::{cache_path, load_or_train, CacheOutcome, CACHE_FOLDER};
pub use error::{FeaturesError, Result};
pub use extractor::{CnnExtractor, EXTRACT_BATCH};
pub use per_channel::PerChannel;
pub use train::{train, LabeledImages, TrainConfig, TrainingData};
pub use weights::{Provenance, METADATA_KEY};
