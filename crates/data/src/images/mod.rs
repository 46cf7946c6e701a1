//! Image datasets: IDX files (the MNIST family), CIFAR-10 batches and folders of PNG/JPEG
//! images, split into training and held-out examples, with pixels scaled to [-1, 1].

mod cifar;
mod dataset;
mod folder;
mod idx;
mod io;
mod spec;
mod split;
mod stacked;

pub use dataset::{pixel_value, ImageDataset, ImageSet};
pub use spec::{
    HeldOut, ImageSpec, DEFAULT_HELD_OUT_CAP, DEFAULT_HELD_OUT_FRACTION, DEFAULT_STACKS,
    MAX_IMAGE_SIZE, MAX_STACKS,
};
pub use split::{held_out_positions, SPLIT_SEED};
pub use stacked::{stack_class, STACK_SEED};

use crate::error::DataError;

/// What a format reader returns: every example in file order, pixels as stored (`u8`).
pub(crate) struct LoadedImages {
    /// Channels, height, width.
    pub shape: [usize; 3],
    /// N × C × H × W bytes.
    pub pixels: Vec<u8>,
    pub labels: Option<Vec<u32>>,
    /// Names of the classes, by label, where the format has them.
    pub class_names: Option<Vec<String>>,
}

/// What [`ImageSpec::inspect`] finds without reading the pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSummary {
    /// Examples in the files.
    pub total: usize,
    /// Of which held out (the rest are the training split).
    pub held_out: usize,
    /// Shape of one example: channels, height, width.
    pub shape: [usize; 3],
    /// Whether the dataset has labels.
    pub labelled: bool,
}

impl ImageSpec {
    /// Checks the description and its files without decoding the pixels: that every path exists,
    /// that IDX files have the right magic numbers and exactly the bytes their headers declare
    /// (gzipped files are decompressed, not kept), that images and labels agree in number, that
    /// CIFAR-10 files are whole numbers of records, that an image folder holds images whose
    /// headers decode, and that the held-out setting leaves training examples. Meant for checking
    /// a sweep before anything is started; [`ImageDataset::open`] checks everything again (and
    /// the pixels themselves).
    pub fn inspect(&self) -> Result<ImageSummary, DataError> {
        self.validate()?;
        let (total, shape, labelled) = match self {
            ImageSpec::Idx {
                images,
                labels,
                transpose,
                ..
            } => {
                let (n, rows, cols) = idx::inspect(images, labels.as_deref())?;
                let shape = if *transpose {
                    [1, cols, rows]
                } else {
                    [1, rows, cols]
                };
                (n, shape, labels.is_some())
            }
            ImageSpec::ImageFolder {
                path,
                size,
                channels,
                ..
            } => {
                let (n, labelled) = folder::inspect(path)?;
                let side = *size as usize;
                (n, [usize::from(*channels), side, side], labelled)
            }
            ImageSpec::Cifar10 { path, .. } => (cifar::inspect(path)?, [3, 32, 32], true),
            ImageSpec::StackedMnist { count, .. } => {
                let digits = self.stacked_digits().expect("a Stacked MNIST description");
                let count = count.unwrap_or(DEFAULT_STACKS) as usize;
                return stacked::inspect(&digits, count);
            }
        };
        let held_out = HeldOut::count_for(self.held_out(), total)?;
        Ok(ImageSummary {
            total,
            held_out,
            shape,
            labelled,
        })
    }

    /// Every example in file order, with no split: for comparing a whole folder or file of
    /// images with another (`ganbench metrics`). A Stacked MNIST description gives its training
    /// stacks.
    pub fn load_all(&self) -> Result<ImageSet, DataError> {
        self.validate()?;
        if self.stacked_digits().is_some() {
            return Ok(ImageDataset::open(self)?.train().clone());
        }
        let loaded = self.read()?;
        let total = loaded.pixels.len() / loaded.shape.iter().product::<usize>();
        Ok(ImageSet::new(
            loaded.shape,
            loaded.pixels,
            loaded.labels,
            (0..total).collect(),
        ))
    }

    /// Runs the format's reader.
    pub(crate) fn read(&self) -> Result<LoadedImages, DataError> {
        match self {
            ImageSpec::Idx {
                images,
                labels,
                transpose,
                ..
            } => idx::load(images, labels.as_deref(), *transpose),
            ImageSpec::ImageFolder {
                path,
                size,
                channels,
                ..
            } => folder::load(path, *size, *channels),
            ImageSpec::Cifar10 { path, .. } => cifar::load(path),
            ImageSpec::StackedMnist { .. } => unreachable!("stacks are built from their digits"),
        }
    }
}
