//! Training the extractor: seeded Adam on the training split, accuracy on the held-out split.

use std::time::Instant;

use ganbench_sdk::candle::{Device, Tensor};
use ganbench_sdk::candle_nn::loss::cross_entropy;
use ganbench_sdk::{Adam, AdamConfig, Optimizer, SeededRng};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::arch::{Classifier, InputShape, ARCH_VERSION, SHUFFLE_STREAM};
use crate::extractor::CnnExtractor;
use crate::weights::Provenance;
use crate::{FeaturesError, Result};

/// Row-major images `n × C × H × W` with pixels in [-1, 1], and their class labels (if known).
#[derive(Debug, Clone, Copy)]
pub struct LabeledImages<'a> {
    pub images: &'a [f32],
    /// One class index per image; `None` for an unlabelled dataset (which cannot train).
    pub labels: Option<&'a [u32]>,
    pub shape: InputShape,
}

impl LabeledImages<'_> {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len() / self.shape.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks that the buffer holds whole images and that labels, if any, match them one to one.
    pub(crate) fn check(&self, split: &str) -> Result<()> {
        check_images(
            self.images,
            self.images.len() / self.shape.len(),
            self.shape,
        )?;
        if let Some(labels) = self.labels {
            if labels.len() != self.len() {
                return Err(FeaturesError::Labels(format!(
                    "the {split} split has {} images but {} labels",
                    self.len(),
                    labels.len()
                )));
            }
        }
        Ok(())
    }
}

/// Checks that `images` holds exactly `n` images of `shape`.
pub(crate) fn check_images(images: &[f32], n: usize, shape: InputShape) -> Result<()> {
    if images.len() != n * shape.len() {
        return Err(FeaturesError::Input(format!(
            "{} values do not form {n} images of {shape} ({} values each); pass an \
             N×C×H×W row-major buffer of images the size the extractor was trained on",
            images.len(),
            shape.len()
        )));
    }
    Ok(())
}

/// What a dataset gives the extractor's training: its two splits and a content hash (which names
/// the cache file and is recorded in the weights).
#[derive(Debug, Clone, Copy)]
pub struct TrainingData<'a> {
    /// The dataset's name, for messages.
    pub name: &'a str,
    /// A hash of the dataset's content (letters, digits, `-`, `_`).
    pub content_hash: &'a str,
    pub train: LabeledImages<'a>,
    pub held_out: LabeledImages<'a>,
}

/// The training recipe. [`TrainConfig::default`] is the recipe of [`ARCH_VERSION`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Seeds the initial weights and the order of the training examples.
    pub seed: u64,
    /// Passes over the training split.
    pub epochs: usize,
    pub batch_size: usize,
    /// Adam's initial learning rate (β = (0.9, 0.999), no weight decay).
    pub learning_rate: f64,
    /// Whether the learning rate follows a cosine from `learning_rate` down to 0 over the run.
    pub cosine_decay: bool,
    /// Random translations of the training images by up to this many pixels in each direction
    /// (a new draw per image and epoch; uncovered pixels are -1, the background). 0: none.
    pub max_shift: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            epochs: 12,
            batch_size: 64,
            learning_rate: 2e-3,
            cosine_decay: true,
            max_shift: 1,
        }
    }
}

/// Trains the classifier on `data.train` and measures its accuracy on `data.held_out`.
///
/// Deterministic: the same data, config, device and thread count give bit-identical weights.
pub fn train(data: &TrainingData, config: &TrainConfig, device: &Device) -> Result<CnnExtractor> {
    let started = Instant::now();
    data.train.check("training")?;
    data.held_out.check("held-out")?;
    if data.held_out.shape != data.train.shape {
        return Err(FeaturesError::Input(format!(
            "the training images are {} but the held-out images {}",
            data.train.shape, data.held_out.shape
        )));
    }
    let missing = || FeaturesError::MissingLabels {
        dataset: data.name.to_string(),
    };
    let train_labels = data.train.labels.ok_or_else(missing)?;
    let held_out_labels = data.held_out.labels.ok_or_else(missing)?;
    if data.train.is_empty() || data.held_out.is_empty() {
        return Err(FeaturesError::Input(format!(
            "the dataset `{}` needs images in both splits to train the extractor \
             ({} training, {} held out)",
            data.name,
            data.train.len(),
            data.held_out.len()
        )));
    }
    if config.epochs == 0
        || config.batch_size == 0
        || config.learning_rate.is_nan()
        || config.learning_rate <= 0.0
    {
        return Err(FeaturesError::Input(format!(
            "extractor training needs epochs ≥ 1, batch size ≥ 1 and a positive learning rate; \
             got {config:?}"
        )));
    }
    let classes = train_labels.iter().copied().max().unwrap_or(0) as usize + 1;
    if classes < 2 {
        return Err(FeaturesError::Labels(format!(
            "the training split of `{}` has a single class; a classifier needs at least two",
            data.name
        )));
    }
    if let Some(&bad) = held_out_labels.iter().find(|&&l| l as usize >= classes) {
        return Err(FeaturesError::Labels(format!(
            "the held-out split of `{}` has label {bad}, which the training split never uses \
             (its labels are 0..{classes})",
            data.name
        )));
    }

    let shape = data.train.shape;
    let vars = Classifier::init_vars(shape, classes, config.seed, device)?;
    let net = Classifier::new(&Classifier::tensors_of(&vars))?;
    let mut adam = Adam::new(
        vars.params(),
        AdamConfig {
            lr: config.learning_rate,
            ..AdamConfig::default()
        },
    )?;
    let mut rng = SeededRng::with_stream(config.seed, SHUFFLE_STREAM);
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    let image_len = shape.len();
    let mut batch_images = Vec::with_capacity(config.batch_size * image_len);
    let total_steps = config.epochs * data.train.len().div_ceil(config.batch_size);
    let mut step = 0;
    for _ in 0..config.epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(config.batch_size) {
            batch_images.clear();
            for &i in chunk {
                let image = &data.train.images[i * image_len..][..image_len];
                if config.max_shift == 0 {
                    batch_images.extend_from_slice(image);
                } else {
                    shifted_into(image, shape, config.max_shift, &mut rng, &mut batch_images);
                }
            }
            let labels: Vec<u32> = chunk.iter().map(|&i| train_labels[i]).collect();
            let x = Tensor::from_slice(
                &batch_images,
                (chunk.len(), shape.channels, shape.height, shape.width),
                device,
            )?;
            let y = Tensor::from_vec(labels, chunk.len(), device)?;
            if config.cosine_decay {
                let progress = step as f64 / total_steps as f64;
                adam.set_learning_rate(
                    config.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
                );
            }
            let logits = net.logits_of_features(&net.features(&x)?)?;
            let loss = cross_entropy(&logits, &y)?;
            adam.step(&loss.backward()?)?;
            step += 1;
        }
    }

    let tensors = Classifier::tensors_of(&vars)
        .into_iter()
        .map(|(name, t)| (name, t.detach()))
        .collect();
    let mut extractor = CnnExtractor::from_parts(tensors, shape, classes, None, device)?;
    let predicted = extractor.predict(data.held_out.images, data.held_out.len())?;
    let correct = predicted
        .iter()
        .zip(held_out_labels)
        .filter(|(p, l)| p == l)
        .count();
    extractor.set_provenance(Provenance {
        arch_version: ARCH_VERSION.to_string(),
        input: shape,
        classes,
        dataset_hash: data.content_hash.to_string(),
        held_out_accuracy: correct as f64 / data.held_out.len() as f64,
        train_examples: data.train.len(),
        held_out_examples: data.held_out.len(),
        recipe: *config,
        train_seconds: started.elapsed().as_secs_f64(),
        build_id: ganbench_sdk::BUILD_ID.to_string(),
    });
    Ok(extractor)
}

/// Appends `image` translated by a random offset of up to `max_shift` pixels along each axis;
/// pixels shifted in from outside are -1 (the background of images scaled to [-1, 1]).
fn shifted_into(
    image: &[f32],
    shape: InputShape,
    max_shift: usize,
    rng: &mut SeededRng,
    out: &mut Vec<f32>,
) {
    use rand::Rng;
    let span = 2 * max_shift as i64 + 1;
    let dy = rng.random_range(0..span) - max_shift as i64;
    let dx = rng.random_range(0..span) - max_shift as i64;
    let (h, w) = (shape.height as i64, shape.width as i64);
    for plane in image.chunks_exact((h * w) as usize) {
        for y in 0..h {
            let src_y = y - dy;
            if !(0..h).contains(&src_y) {
                out.extend(std::iter::repeat_n(-1.0, w as usize));
                continue;
            }
            let row = &plane[(src_y * w) as usize..][..w as usize];
            out.extend((0..w).map(|x| {
                let src_x = x - dx;
                if (0..w).contains(&src_x) {
                    row[src_x as usize]
                } else {
                    -1.0
                }
            }));
        }
    }
}
