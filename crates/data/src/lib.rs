//! Training data for ganbench: dataset descriptions, samplers and the host's seeded batch stream.
//!
//! * [`Toy2d`] describes a toy 2D mixture (`ring8`, `grid25`, or parameterized forms);
//!   [`ToyMixture`] is its validated sampler.
//! * [`ImageSpec`] describes an image dataset (IDX files of the MNIST family, CIFAR-10 batches, a
//!   folder of PNG/JPEG images, Stacked MNIST built from IDX digits); [`ImageDataset`] holds it, split into training and held-out
//!   images (see [`held_out_positions`]), pixels scaled to [-1, 1] by [`pixel_value`].
//! * [`DataSource`] is either of them as one value: what a sweep's trials train on, from the sweep
//!   file to the worker process; [`DataSource::open`] makes it a [`Dataset`].
//! * [`Dataset`] is what the runner draws batches from, for any kind of data.
//! * [`DataStream`] owns a dataset and a seeded generator whose state a checkpoint can save.

mod error;
mod images;
pub mod npy;
mod stream;
mod toy;

use std::fmt;

use rand::RngCore;

pub use error::DataError;
pub use images::{
    held_out_positions, pixel_value, stack_class, HeldOut, ImageDataset, ImageSet, ImageSpec,
    ImageSummary, DEFAULT_HELD_OUT_CAP, DEFAULT_HELD_OUT_FRACTION, DEFAULT_STACKS, MAX_IMAGE_SIZE,
    MAX_STACKS, SPLIT_SEED, STACK_SEED,
};
pub use stream::{data_seed, DataStream, DataStreamState, DATA_SEED_DOMAIN};
pub use toy::{Toy2d, ToyMixture, MAX_LENGTH, MAX_MODES};

/// The dataset a trial trains on, as a value: a toy 2D mixture or an image dataset (paths as
/// given; the sweep crate resolves a sweep file's relative paths first). This is what travels
/// from the sweep file to a worker process, so the data is described once and never re-parsed
/// from its own printout.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum DataSource {
    /// A toy 2D mixture.
    Toy(Toy2d),
    /// An image dataset.
    Images(ImageSpec),
}

impl DataSource {
    /// Opens the dataset: the one place that maps a description to a [`Dataset`]. Image files are
    /// read completely; [`ImageSpec::inspect`] checks them without reading the pixels.
    pub fn open(&self) -> Result<Box<dyn Dataset>, DataError> {
        Ok(match self {
            DataSource::Toy(toy) => Box::new(ToyMixture::new(*toy)?),
            DataSource::Images(spec) => Box::new(ImageDataset::open(spec)?),
        })
    }
}

impl fmt::Display for DataSource {
    /// The text form [`DataSource::from_str`](std::str::FromStr) reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSource::Toy(toy) => toy.fmt(f),
            DataSource::Images(spec) => spec.fmt(f),
        }
    }
}

impl std::str::FromStr for DataSource {
    type Err = DataError;

    /// The command line's form: `ring8`, `grid25`, `ring(modes=…,radius=…,std=…)`, …, or an image
    /// dataset in [`ImageSpec`]'s RON form, `Idx(images: "…", labels: "…")`.
    fn from_str(text: &str) -> Result<Self, DataError> {
        if ImageSpec::is_image_text(text) {
            Ok(DataSource::Images(text.parse()?))
        } else {
            Ok(DataSource::Toy(text.parse()?))
        }
    }
}

/// Opens the dataset a text names ([`DataSource`]'s text form).
pub fn open(text: &str) -> Result<Box<dyn Dataset>, DataError> {
    text.parse::<DataSource>()?.open()
}

/// A source of training examples, each of a fixed shape.
///
/// Sampling takes the generator from the caller, so that the host owns (and checkpoints) every
/// random number, as design.md's "Determinism" requires. The generator is a trait object so that
/// datasets can be boxed; `&mut ChaCha8Rng` coerces to it and draws the same numbers.
pub trait Dataset: Send + Sync + fmt::Debug {
    /// A name for logs and reports; also checked when a saved stream state is restored.
    fn name(&self) -> String;

    /// Shape of one example, e.g. `[2]` for toy 2D data or `[1, 28, 28]` for MNIST.
    fn sample_shape(&self) -> Vec<usize>;

    /// Number of `f32` values per example: the product of [`Dataset::sample_shape`].
    fn example_len(&self) -> usize {
        self.sample_shape().iter().product()
    }

    /// Appends `rows` examples, row-major, to `out` (`rows × example_len` values).
    fn sample_into(&self, rng: &mut dyn RngCore, rows: usize, out: &mut Vec<f32>);

    /// `rows` examples, row-major, in a new buffer.
    fn sample_batch(&self, rng: &mut dyn RngCore, rows: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(rows * self.example_len());
        self.sample_into(rng, rows, &mut out);
        out
    }

    /// The toy mixture behind this dataset, if it is one: the runner needs its centres and σ for
    /// the mode metrics.
    fn as_toy(&self) -> Option<&ToyMixture> {
        None
    }

    /// The image dataset behind this dataset, if it is one: evaluation needs its held-out split
    /// and its labels.
    fn as_images(&self) -> Option<&ImageDataset> {
        None
    }
}

impl<D: Dataset + ?Sized> Dataset for Box<D> {
    fn name(&self) -> String {
        (**self).name()
    }

    fn sample_shape(&self) -> Vec<usize> {
        (**self).sample_shape()
    }

    fn example_len(&self) -> usize {
        (**self).example_len()
    }

    fn sample_into(&self, rng: &mut dyn RngCore, rows: usize, out: &mut Vec<f32>) {
        (**self).sample_into(rng, rows, out)
    }

    fn sample_batch(&self, rng: &mut dyn RngCore, rows: usize) -> Vec<f32> {
        (**self).sample_batch(rng, rows)
    }

    fn as_toy(&self) -> Option<&ToyMixture> {
        (**self).as_toy()
    }

    fn as_images(&self) -> Option<&ImageDataset> {
        (**self).as_images()
    }
}
