//! Weights files: safetensors with the tensors of [`tensor_shapes`] and, for extractors ganbench
//! trained, a [`Provenance`] record in the file's metadata under the key [`METADATA_KEY`].
//!
//! A user's file needs only the tensors (e.g. `safetensors.torch.save_file(model.state_dict(), …)`
//! from a PyTorch module with attributes `conv1`, `conv2`, `fc1`, `fc2`); every name, shape and
//! dtype is checked on load, and a mismatch names the file and the tensor.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ganbench_sdk::candle::{DType, Device, Tensor};
use safetensors::tensor::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::arch::{tensor_shapes, InputShape, ARCH_VERSION, FEATURE_DIM};
use crate::{FeaturesError, Result, TrainConfig};

/// The safetensors metadata key under which ganbench stores [`Provenance`] as JSON.
pub const METADATA_KEY: &str = "ganbench.extractor";

/// Where trained weights came from: enough to tell whether a cached file fits a request, and
/// what a report states about the extractor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// [`ARCH_VERSION`] of the network and recipe that produced the weights.
    pub arch_version: String,
    /// The image shape the network was trained on.
    pub input: InputShape,
    /// Number of classes (fc2's outputs).
    pub classes: usize,
    /// The training dataset's content hash, as given by the caller.
    pub dataset_hash: String,
    /// Top-1 accuracy on the held-out split, in [0, 1].
    pub held_out_accuracy: f64,
    /// Examples in the training and held-out splits.
    pub train_examples: usize,
    pub held_out_examples: usize,
    /// The training recipe.
    pub recipe: TrainConfig,
    /// Wall-clock training time (informational; not part of any comparison).
    pub train_seconds: f64,
    /// [`ganbench_sdk::BUILD_ID`] of the build that trained the weights.
    pub build_id: String,
}

/// Writes `tensors` and `provenance` (if any) to `path` through a temporary file and a rename,
/// so that a reader never sees a half-written file.
pub(crate) fn save(
    path: &Path,
    tensors: &BTreeMap<String, Tensor>,
    provenance: Option<&Provenance>,
) -> Result<()> {
    let metadata = provenance
        .map(|p| {
            serde_json::to_string(p)
                .map(|json| HashMap::from([(METADATA_KEY.to_string(), json)]))
                .map_err(|e| FeaturesError::Input(format!("cannot encode provenance: {e}")))
        })
        .transpose()?;
    let bytes = safetensors::serialize(tensors.iter(), metadata).map_err(|e| {
        FeaturesError::WeightsFile {
            path: path.to_path_buf(),
            reason: format!("cannot encode tensors: {e}"),
        }
    })?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| FeaturesError::io(format!("cannot create {}", parent.display()), e))?;
    }
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        file_name.unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)
        .map_err(|e| FeaturesError::io(format!("cannot write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        FeaturesError::io(
            format!("cannot rename {} to {}", tmp.display(), path.display()),
            e,
        )
    })
}

/// The training record in the metadata of the weights file `path`, whose contents are `bytes`.
fn provenance_of(path: &Path, bytes: &[u8]) -> Result<Option<Provenance>> {
    let file_err = |reason: String| FeaturesError::WeightsFile {
        path: path.to_path_buf(),
        reason,
    };
    let (_, metadata) = SafeTensors::read_metadata(bytes)
        .map_err(|e| file_err(format!("not a safetensors file ({e})")))?;
    metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
        .map(|json| {
            serde_json::from_str::<Provenance>(json)
                .map_err(|e| file_err(format!("its `{METADATA_KEY}` metadata is not valid: {e}")))
        })
        .transpose()
}

/// The training record of the weights file `path`, without loading its tensors.
pub(crate) fn read_provenance(path: &Path) -> Result<Option<Provenance>> {
    let bytes = std::fs::read(path).map_err(|e| FeaturesError::WeightsFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    provenance_of(path, &bytes)
}

/// The validated contents of a weights file.
pub(crate) struct LoadedWeights {
    pub tensors: BTreeMap<String, Tensor>,
    pub classes: usize,
    pub provenance: Option<Provenance>,
}

/// Reads `path` for images of shape `input`, checking every tensor against [`tensor_shapes`].
/// The number of classes is whatever fc2 has.
pub(crate) fn load(path: &Path, input: InputShape, device: &Device) -> Result<LoadedWeights> {
    let file_err = |reason: String| FeaturesError::WeightsFile {
        path: path.to_path_buf(),
        reason,
    };
    let layout_err = |reason: String| FeaturesError::WeightsLayout {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| file_err(e.to_string()))?;
    let provenance = provenance_of(path, &bytes)?;
    let views = SafeTensors::deserialize(&bytes)
        .map_err(|e| file_err(format!("not a safetensors file ({e})")))?;

    if let Some(p) = &provenance {
        if p.arch_version != ARCH_VERSION {
            return Err(layout_err(format!(
                "the weights are for architecture `{}`, this build has `{ARCH_VERSION}`",
                p.arch_version
            )));
        }
        if p.input != input {
            return Err(layout_err(format!(
                "the network was trained on {} images; these images are {input}",
                p.input
            )));
        }
    }

    let classes = match views.tensor("fc2.weight") {
        Ok(v) if v.shape().len() == 2 && v.shape()[0] > 0 => v.shape()[0],
        Ok(v) => {
            return Err(layout_err(format!(
                "tensor `fc2.weight` has shape {:?}; expected [classes, {FEATURE_DIM}]",
                v.shape()
            )))
        }
        Err(_) => return Err(layout_err("has no tensor `fc2.weight`".into())),
    };
    let expected = tensor_shapes(input, classes);
    let mut names: Vec<&str> = views.names();
    names.sort_unstable();
    if let Some(extra) = names
        .iter()
        .find(|n| !expected.iter().any(|(e, _)| e == *n))
    {
        return Err(layout_err(format!(
            "unexpected tensor `{extra}`: the architecture has only {}",
            expected
                .iter()
                .map(|(n, _)| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut tensors = BTreeMap::new();
    for (name, shape) in &expected {
        let view = views.tensor(name).map_err(|_| {
            layout_err(format!("has no tensor `{name}` (expected shape {shape:?})"))
        })?;
        if view.shape() != shape.as_slice() {
            let hint = if *name == "fc1.weight" && view.shape().len() == 2 {
                format!(
                    ": fc1 reads 64·h·w = {} values for {input} images, so these weights were \
                     made for images of another size",
                    input.flatten_dim()
                )
            } else if *name == "conv1.weight" && view.shape().len() == 4 {
                format!(
                    ": {input} images have {} channel(s), these weights expect {}",
                    input.channels,
                    view.shape()[1]
                )
            } else {
                String::new()
            };
            return Err(layout_err(format!(
                "tensor `{name}` has shape {:?}; expected {shape:?}{hint}",
                view.shape()
            )));
        }
        if !matches!(
            view.dtype(),
            Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64
        ) {
            return Err(layout_err(format!(
                "tensor `{name}` has dtype {:?}; expected a float type (F32, F64, F16 or BF16)",
                view.dtype()
            )));
        }
    }
    let loaded = ganbench_sdk::candle::safetensors::load_buffer(&bytes, device)
        .map_err(|e| file_err(format!("cannot decode tensors ({e})")))?;
    for (name, _) in &expected {
        let t = loaded[*name].to_dtype(DType::F32)?;
        let finite = t
            .flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .all(|v| v.is_finite());
        if !finite {
            return Err(layout_err(format!(
                "tensor `{name}` holds NaN or infinite values"
            )));
        }
        tensors.insert(name.to_string(), t);
    }
    Ok(LoadedWeights {
        tensors,
        classes,
        provenance,
    })
}
