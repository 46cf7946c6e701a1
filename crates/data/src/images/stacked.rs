//! Stacked MNIST: three digits as the three channels of one image, 1,000 classes.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use std::path::Path;

use super::{ImageDataset, ImageSet, ImageSpec, ImageSummary};
use crate::error::DataError;

/// Seed of the stacks' generator: ASCII `"gb:stack"`. Fixed, like [`super::SPLIT_SEED`], so every
/// trial and seed of a sweep trains on the same stacks and the extractor cache stays valid. The
/// held-out stacks use `STACK_SEED + 1`.
pub const STACK_SEED: u64 = u64::from_be_bytes(*b"gb:stack");

/// Digits per stack: the channels of one image.
const DEPTH: usize = 3;

/// The class of a stack of digits `[d₀, d₁, d₂]` (channel 0 first): `100·d₀ + 10·d₁ + d₂`, so
/// the classes 0–999 read as the three digits.
pub fn stack_class(digits: [u32; 3]) -> u32 {
    digits.iter().fold(0, |class, d| 10 * class + d)
}

/// What [`ImageSpec::inspect`] finds for a Stacked MNIST description of `count` training stacks
/// of the digits `digits`, from the digit files.
pub(super) fn inspect(digits: &ImageSpec, count: usize) -> Result<ImageSummary, DataError> {
    let summary = digits.inspect()?;
    let [_, height, width] = summary.shape;
    Ok(ImageSummary {
        total: count + summary.held_out,
        held_out: summary.held_out,
        shape: [DEPTH, height, width],
        labelled: true,
    })
}

/// `count` training stacks and the held-out stacks, drawn from `digits` (the opened digit set,
/// whose labels come from the file `labels`).
///
/// The rule (a change is a new dataset: the content hash changes with it): training stack `i`
/// draws three digit indices from the training digits, channel 0 first, each
/// `⌊u · n / 2⁶⁴⌋` for `u` the next `u64` of `ChaCha8Rng::seed_from_u64(STACK_SEED)` and `n` the
/// number of training digits (with replacement, as PacGAN's code draws); held-out stacks, one per
/// held-out digit, draw from the held-out digits with `STACK_SEED + 1`.
pub(super) fn build(
    digits: &ImageDataset,
    count: usize,
    labels_path: &Path,
) -> Result<(ImageSet, ImageSet), DataError> {
    for set in [digits.train(), digits.held_out()] {
        let labels = set
            .labels()
            .expect("the digits are opened with their labels");
        if let Some(&label) = labels.iter().find(|&&l| l > 9) {
            return Err(DataError::BadImageSpec {
                message: format!(
                    "{} holds label {label}; Stacked MNIST stacks digits, labels 0–9 \
                     (give the MNIST labels file)",
                    labels_path.display()
                ),
            });
        }
    }
    let train = stack(digits.train(), count, STACK_SEED);
    let held_out = stack(digits.held_out(), digits.held_out().len(), STACK_SEED + 1);
    Ok((train, held_out))
}

/// `count` stacks of digits drawn from `digits` by a generator seeded with `seed`.
fn stack(digits: &ImageSet, count: usize, seed: u64) -> ImageSet {
    let [_, height, width] = digits.shape();
    let shape = [DEPTH, height, width];
    if digits.is_empty() {
        return ImageSet::new(shape, Vec::new(), Some(Vec::new()), Vec::new());
    }
    let labels = digits
        .labels()
        .expect("the digits are opened with their labels");
    let n = digits.len() as u128;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pixels = Vec::with_capacity(count * DEPTH * height * width);
    let mut classes = Vec::with_capacity(count);
    for _ in 0..count {
        let mut triple = [0u32; DEPTH];
        for digit in &mut triple {
            let i = ((u128::from(rng.next_u64()) * n) >> 64) as usize;
            pixels.extend_from_slice(digits.image(i));
            *digit = labels[i];
        }
        classes.push(stack_class(triple));
    }
    ImageSet::new(shape, pixels, Some(classes), (0..count).collect())
}
