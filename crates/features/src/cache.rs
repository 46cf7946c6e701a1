//! The extractor cache: one trained network per dataset content and architecture version, in
//! `<dir>/extractors/<dataset-hash>-<arch-version>.safetensors`.
//!
//! Training is deterministic, so two processes that miss the cache at once train the same weights
//! and the second rename simply replaces an identical file.

use std::path::{Path, PathBuf};

use ganbench_sdk::candle::Device;

use crate::arch::ARCH_VERSION;
use crate::extractor::CnnExtractor;
use crate::train::{train, TrainConfig, TrainingData};
use crate::{FeaturesError, Result};

/// The folder under the caller's directory that holds cached extractors.
pub const CACHE_FOLDER: &str = "extractors";

/// How [`load_or_train`] got its extractor.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheOutcome {
    /// The cached file fitted the request and was reused.
    Loaded,
    /// There was no cached file; the extractor was trained and saved.
    Trained,
    /// A cached file existed but could not be used (the reason says why); the extractor was
    /// retrained and the file replaced.
    Retrained { reason: String },
}

/// The cache file for a dataset's content hash: `<dir>/extractors/<hash>-<arch-version>.safetensors`.
pub fn cache_path(dir: &Path, content_hash: &str) -> Result<PathBuf> {
    let valid = !content_hash.is_empty()
        && content_hash.len() <= 128
        && content_hash
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(FeaturesError::Input(format!(
            "dataset hash {content_hash:?} cannot name a cache file: use 1 to 128 letters, digits, `-` or `_`"
        )));
    }
    Ok(dir
        .join(CACHE_FOLDER)
        .join(format!("{content_hash}-{ARCH_VERSION}.safetensors")))
}

/// The extractor for `data` trained with `config`: loaded from the cache under `dir` when a
/// file there was trained on the same content with the same recipe, otherwise trained and saved.
///
/// A cached file that cannot be used (corrupt, truncated, another recipe) is retrained with a
/// warning rather than failing the run.
pub fn load_or_train(
    dir: &Path,
    data: &TrainingData,
    config: &TrainConfig,
    device: &Device,
) -> Result<(CnnExtractor, CacheOutcome)> {
    let path = cache_path(dir, data.content_hash)?;
    let outcome = if path.exists() {
        match try_cached(&path, data, config, device) {
            Ok(extractor) => return Ok((extractor, CacheOutcome::Loaded)),
            Err(reason) => {
                tracing::warn!(
                    "retraining the evaluation feature extractor: the cached {} cannot be used: {reason}",
                    path.display()
                );
                CacheOutcome::Retrained { reason }
            }
        }
    } else {
        CacheOutcome::Trained
    };
    let extractor = train(data, config, device)?;
    extractor.save(&path)?;
    Ok((extractor, outcome))
}

/// The cached extractor at `path` if it was trained on `data` with `config`; otherwise why not.
fn try_cached(
    path: &Path,
    data: &TrainingData,
    config: &TrainConfig,
    device: &Device,
) -> Result<CnnExtractor, String> {
    let extractor =
        CnnExtractor::load(path, data.train.shape, device).map_err(|e| e.to_string())?;
    let Some(p) = extractor.provenance() else {
        return Err("it has no training record".into());
    };
    let recipe = p.recipe;
    if p.dataset_hash != data.content_hash {
        return Err(format!(
            "it was trained on dataset content {}, not {}",
            p.dataset_hash, data.content_hash
        ));
    }
    if recipe != *config {
        return Err(format!(
            "it was trained with {recipe:?}, and {config:?} was asked for"
        ));
    }
    Ok(extractor)
}
