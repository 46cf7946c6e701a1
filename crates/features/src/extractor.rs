//! [`CnnExtractor`]: a trained (or loaded) classifier used as a feature map.

use std::collections::BTreeMap;
use std::path::Path;

use ganbench_sdk::candle::{Device, Tensor, D};

use crate::arch::{Classifier, InputShape, ARCH_VERSION, FEATURE_DIM};
use crate::train::check_images;
use crate::weights::{self, Provenance};
use crate::Result;

/// Images per forward pass when extracting: bounds memory (about 0.2 MB of activations per
/// 28×28 image) while keeping the matrix products large.
pub const EXTRACT_BATCH: usize = 256;

/// The evaluation CNN with fixed weights: maps images to the 128 activations of its feature layer.
pub struct CnnExtractor {
    net: Classifier,
    tensors: BTreeMap<String, Tensor>,
    input: InputShape,
    classes: usize,
    provenance: Option<Provenance>,
    device: Device,
    name: String,
}

impl CnnExtractor {
    /// Loads weights for images of shape `input` from a safetensors file, checking every tensor
    /// name and shape against [`tensor_shapes`](crate::tensor_shapes).
    pub fn load(path: &Path, input: InputShape, device: &Device) -> Result<Self> {
        let loaded = weights::load(path, input, device)?;
        Self::from_parts(
            loaded.tensors,
            input,
            loaded.classes,
            loaded.provenance,
            device,
        )
    }

    /// The image shape recorded in the training record of the weights file `path`, if it has
    /// one (ganbench's own files do; a user's may not).
    pub fn recorded_input(path: &Path) -> Result<Option<InputShape>> {
        Ok(weights::read_provenance(path)?.map(|p| p.input))
    }

    pub(crate) fn from_parts(
        tensors: BTreeMap<String, Tensor>,
        input: InputShape,
        classes: usize,
        provenance: Option<Provenance>,
        device: &Device,
    ) -> Result<Self> {
        Ok(Self {
            net: Classifier::new(&tensors)?,
            tensors,
            input,
            classes,
            provenance,
            device: device.clone(),
            name: format!("{ARCH_VERSION}-{}x{}", input.height, input.width),
        })
    }

    pub(crate) fn set_provenance(&mut self, provenance: Provenance) {
        self.provenance = Some(provenance);
    }

    /// Writes the weights (and the provenance, if known) to `path` as safetensors, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        weights::save(path, &self.tensors, self.provenance.as_ref())
    }

    /// A short name for reports and errors, e.g. `cnn-v1-28x28`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of features per image: [`FEATURE_DIM`].
    pub fn dim(&self) -> usize {
        FEATURE_DIM
    }

    /// The image shape the network takes.
    pub fn input_shape(&self) -> InputShape {
        self.input
    }

    /// Number of classes the classifier was trained on.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// How the weights were trained, when ganbench trained them (a user's file may not say).
    pub fn provenance(&self) -> Option<&Provenance> {
        self.provenance.as_ref()
    }

    /// The held-out accuracy recorded with the weights, if any.
    pub fn held_out_accuracy(&self) -> Option<f64> {
        self.provenance.as_ref().map(|p| p.held_out_accuracy)
    }

    /// Features of `n` images (`n × C × H × W` row-major, pixels in [-1, 1]): `n × 128` row-major,
    /// computed [`EXTRACT_BATCH`] images at a time. Deterministic for a given device and thread count.
    pub fn features(&self, images: &[f32], n: usize) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(n * FEATURE_DIM);
        self.for_each_batch(images, n, |features| {
            out.extend(features.flatten_all()?.to_vec1::<f32>()?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The predicted class of each of `n` images.
    pub fn predict(&self, images: &[f32], n: usize) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(n);
        self.for_each_batch(images, n, |features| {
            let logits = self.net.logits_of_features(features)?;
            out.extend(logits.argmax(D::Minus1)?.to_vec1::<u32>()?);
            Ok(())
        })?;
        Ok(out)
    }

    fn for_each_batch(
        &self,
        images: &[f32],
        n: usize,
        mut each: impl FnMut(&Tensor) -> Result<()>,
    ) -> Result<()> {
        check_images(images, n, self.input)?;
        let image_len = self.input.len();
        for batch in images.chunks(EXTRACT_BATCH * image_len) {
            let rows = batch.len() / image_len;
            let x = Tensor::from_slice(
                batch,
                (
                    rows,
                    self.input.channels,
                    self.input.height,
                    self.input.width,
                ),
                &self.device,
            )?;
            each(&self.net.features(&x)?)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for CnnExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CnnExtractor")
            .field("name", &self.name)
            .field("input", &self.input)
            .field("classes", &self.classes)
            .field("provenance", &self.provenance)
            .finish_non_exhaustive()
    }
}

/// So that the runner and the metrics can use the CNN as a `dyn FeatureExtractor` without linking
/// candle: the binary (or worker) builds it and passes it in.
impl ganbench_metrics::FeatureExtractor for CnnExtractor {
    fn name(&self) -> &str {
        &self.name
    }

    fn dim(&self) -> usize {
        FEATURE_DIM
    }

    fn features(
        &self,
        images: &[f32],
        n: usize,
    ) -> Result<Vec<f32>, ganbench_metrics::ExtractorError> {
        CnnExtractor::features(self, images, n)
            .map_err(|e| ganbench_metrics::ExtractorError::new(&self.name, e.to_string()))
    }
}
