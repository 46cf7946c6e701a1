//! A loaded image dataset: its training and held-out splits, and the [`Dataset`] the runner
//! samples training batches from.

use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;

use rand::{Rng, RngCore};

use super::{held_out_positions, HeldOut, ImageSpec};
use crate::error::DataError;
use crate::Dataset;

/// A stored byte as a model input: `byte / 127.5 − 1`, so 0 ↦ −1 and 255 ↦ 1 exactly.
pub fn pixel_value(byte: u8) -> f32 {
    f32::from(byte) / 127.5 - 1.0
}

/// A set of images of one shape, kept as their stored bytes (a quarter of the memory of `f32`),
/// with their labels if the dataset has them.
#[derive(Clone, PartialEq)]
pub struct ImageSet {
    shape: [usize; 3],
    pixels: Vec<u8>,
    labels: Option<Vec<u32>>,
    positions: Vec<usize>,
}

impl ImageSet {
    pub(crate) fn new(
        shape: [usize; 3],
        pixels: Vec<u8>,
        labels: Option<Vec<u32>>,
        positions: Vec<usize>,
    ) -> Self {
        debug_assert_eq!(
            pixels.len(),
            positions.len() * shape.iter().product::<usize>()
        );
        debug_assert!(labels.as_ref().is_none_or(|l| l.len() == positions.len()));
        Self {
            shape,
            pixels,
            labels,
            positions,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// True when the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Shape of one image: channels, height, width.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Values per image: C × H × W.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// All images as stored, N × C × H × W bytes (0–255).
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// Image `i` as stored, C × H × W bytes.
    pub fn image(&self, i: usize) -> &[u8] {
        let len = self.image_len();
        &self.pixels[i * len..(i + 1) * len]
    }

    /// The label of each image, when the dataset is labelled.
    pub fn labels(&self) -> Option<&[u32]> {
        self.labels.as_deref()
    }

    /// Each image's position in the dataset's files (file order; for an image folder, sorted
    /// path order).
    pub fn positions(&self) -> &[usize] {
        &self.positions
    }

    /// Images `range` as model inputs in [-1, 1] (see [`pixel_value`]), N × C × H × W.
    pub fn to_f32(&self, range: Range<usize>) -> Vec<f32> {
        let len = self.image_len();
        self.pixels[range.start * len..range.end * len]
            .iter()
            .map(|&b| pixel_value(b))
            .collect()
    }

    /// Every image as model inputs in [-1, 1], N × C × H × W.
    pub fn all_f32(&self) -> Vec<f32> {
        self.to_f32(0..self.len())
    }
}

impl fmt::Debug for ImageSet {
    /// Counts and shape, not the pixels.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageSet")
            .field("len", &self.len())
            .field("shape", &self.shape)
            .field("labelled", &self.labels.is_some())
            .finish()
    }
}

/// An image dataset split into training and held-out images: the [`Dataset`] the runner draws
/// training batches from, and what evaluation reads the held-out images from.
pub struct ImageDataset {
    spec: ImageSpec,
    name: String,
    train: ImageSet,
    held_out: ImageSet,
    class_names: Vec<String>,
    hash: OnceLock<String>,
    /// The digits behind a Stacked MNIST dataset.
    digits: Option<Box<ImageDataset>>,
}

impl ImageDataset {
    /// Reads and checks every file of `spec`, then splits the images (see
    /// [`super::held_out_positions`]).
    pub fn open(spec: &ImageSpec) -> Result<Self, DataError> {
        spec.validate()?;
        if let ImageSpec::StackedMnist { labels, count, .. } = spec {
            let digits = ImageDataset::open(&spec.stacked_digits().expect("Stacked MNIST"))?;
            let count = count.unwrap_or(super::DEFAULT_STACKS) as usize;
            let (train, held_out) = super::stacked::build(&digits, count, labels)?;
            return Ok(Self {
                spec: spec.clone(),
                name: spec.to_string(),
                train,
                held_out,
                class_names: (0..1000).map(|c| format!("{c:03}")).collect(),
                hash: OnceLock::new(),
                digits: Some(Box::new(digits)),
            });
        }
        let loaded = spec.read()?;
        let image_len: usize = loaded.shape.iter().product();
        let total = loaded.pixels.len() / image_len;
        let held = HeldOut::count_for(spec.held_out(), total)?;
        let held_positions = held_out_positions(total, held);
        let mut is_held = vec![false; total];
        for &p in &held_positions {
            is_held[p] = true;
        }
        let train_positions: Vec<usize> = (0..total).filter(|&p| !is_held[p]).collect();
        let subset = |positions: Vec<usize>| {
            let mut pixels = Vec::with_capacity(positions.len() * image_len);
            for &p in &positions {
                pixels.extend_from_slice(&loaded.pixels[p * image_len..(p + 1) * image_len]);
            }
            let labels = loaded
                .labels
                .as_ref()
                .map(|l| positions.iter().map(|&p| l[p]).collect());
            ImageSet::new(loaded.shape, pixels, labels, positions)
        };
        let class_names = match (&loaded.class_names, &loaded.labels) {
            (Some(names), _) => names.clone(),
            // IDX labels are numbers: classes 0..=max.
            (None, Some(labels)) => {
                let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
                (0..classes).map(|c| c.to_string()).collect()
            }
            (None, None) => Vec::new(),
        };
        Ok(Self {
            spec: spec.clone(),
            name: spec.to_string(),
            train: subset(train_positions),
            held_out: subset(held_positions),
            class_names,
            hash: OnceLock::new(),
            digits: None,
        })
    }

    /// The single digits a Stacked MNIST dataset stacks (split as its `held_out` says): what its
    /// evaluation network learns to label, one channel at a time. `None` for other datasets.
    pub fn stacked_digits(&self) -> Option<&ImageDataset> {
        self.digits.as_deref()
    }

    /// The description the dataset was opened from.
    pub fn spec(&self) -> &ImageSpec {
        &self.spec
    }

    /// Shape of one image: channels, height, width.
    pub fn image_shape(&self) -> [usize; 3] {
        self.train.shape()
    }

    /// The training split: what batches are drawn from (and what a feature extractor trains on).
    pub fn train(&self) -> &ImageSet {
        &self.train
    }

    /// The held-out split: never drawn for training.
    pub fn held_out(&self) -> &ImageSet {
        &self.held_out
    }

    /// Whether the images have labels.
    pub fn is_labelled(&self) -> bool {
        self.train.labels().is_some()
    }

    /// Number of classes: labels run from 0 to `num_classes() − 1`; 0 for an unlabelled dataset.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Class names by label: an image folder's subfolder names, CIFAR-10's names, `"0"`, `"1"`,
    /// … for IDX labels, or `"000"` … `"999"` (the digit triples) for Stacked MNIST.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// A stable hash of the dataset's content, 16 hex digits: FNV-1a 64 over `ganbench-images/1\n`,
    /// the shape (C, H, W as little-endian `u64`), then for the training and the held-out split in
    /// turn: the count (`u64`), the pixel bytes, `1` and the labels (`u32` each) or `0`. Files that
    /// hold the same images and labels, split the same way, hash the same wherever they are; any
    /// change of a pixel, a label or the split changes it. Computed once, on first use.
    pub fn content_hash(&self) -> &str {
        self.hash.get_or_init(|| {
            let mut h = Fnv1a64::new();
            h.write(b"ganbench-images/1\n");
            for d in self.image_shape() {
                h.write(&(d as u64).to_le_bytes());
            }
            for set in [&self.train, &self.held_out] {
                h.write(&(set.len() as u64).to_le_bytes());
                h.write(set.pixels());
                match set.labels() {
                    Some(labels) => {
                        h.write(&[1]);
                        for l in labels {
                            h.write(&l.to_le_bytes());
                        }
                    }
                    None => h.write(&[0]),
                }
            }
            format!("{:016x}", h.0)
        })
    }
}

struct Fnv1a64(u64);

impl Fnv1a64 {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

impl fmt::Debug for ImageDataset {
    /// The description and the split sizes, not the pixels.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageDataset")
            .field("spec", &self.name)
            .field("shape", &self.image_shape())
            .field("train", &self.train.len())
            .field("held_out", &self.held_out.len())
            .field("classes", &self.num_classes())
            .finish()
    }
}

impl Dataset for ImageDataset {
    /// The description's text form (see [`ImageSpec`]'s `Display`).
    fn name(&self) -> String {
        self.name.clone()
    }

    fn sample_shape(&self) -> Vec<usize> {
        self.image_shape().to_vec()
    }

    /// Per example: one uniform index into the training split (drawn as `u32`, like the toy
    /// datasets' mode index), whose pixels are appended as [`pixel_value`]s. Changing this
    /// changes every recorded image sweep's batches, so a test pins the first values.
    fn sample_into(&self, rng: &mut dyn RngCore, rows: usize, out: &mut Vec<f32>) {
        // Opening guarantees at least one training image; u32 covers any dataset held in memory.
        let count = u32::try_from(self.train.len()).expect("fewer than 2³² training images");
        out.reserve(rows * self.train.image_len());
        for _ in 0..rows {
            let i = rng.random_range(0..count) as usize;
            out.extend(self.train.image(i).iter().map(|&b| pixel_value(b)));
        }
    }

    fn as_images(&self) -> Option<&ImageDataset> {
        Some(self)
    }
}
