//! Training data for ganbench: dataset descriptions, samplers and the host's seeded batch stream.
//!
//! * [`Toy2d`] describes a toy 2D mixture (`ring8`, `grid25`, or parameterized forms);
//!   [`ToyMixture`] is its validated sampler.
//! * [`Dataset`] is what the runner draws batches from, for any kind of data.
//! * [`DataStream`] owns a dataset and a seeded generator whose state a checkpoint can save.

mod error;
pub mod npy;
mod stream;
mod toy;

use std::fmt;

use rand::RngCore;

pub use error::DataError;
pub use stream::{data_seed, DataStream, DataStreamState, DATA_SEED_DOMAIN};
pub use toy::{Toy2d, ToyMixture, MAX_LENGTH, MAX_MODES};

/// Opens the dataset a text names (`ring8`, `grid25`, `ring(modes=…,radius=…,std=…)`, …): the
/// one place that maps the command line's and the sweep runner's dataset text to a [`Dataset`].
pub fn open(text: &str) -> Result<Box<dyn Dataset>, DataError> {
    let toy: Toy2d = text.parse()?;
    Ok(Box::new(ToyMixture::new(toy)?))
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
}
