//! What an image dataset is: the description a sweep file (or `--data`) gives, its text form, and
//! the held-out setting.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ron::extensions::Extensions;
use serde::{Deserialize, Serialize};

use crate::error::DataError;

/// Share of the examples held out when a description does not say.
pub const DEFAULT_HELD_OUT_FRACTION: f64 = 0.1;

/// Most examples the default fraction holds out: 10,000 held-out images are plenty for FID and
/// an accuracy estimate, and leave more for training on large datasets.
pub const DEFAULT_HELD_OUT_CAP: usize = 10_000;

/// Largest `size` of an image folder: 1024×1024×3 bytes per image already needs 3 MiB each.
pub const MAX_IMAGE_SIZE: u32 = 1024;

/// An image dataset: where the files are and how to read them.
///
/// RON form (what a sweep file's `data:` and `ganbench train --data` take; unknown fields are
/// refused, and optional fields take a bare value):
///
/// ```text
/// Idx(images: "train-images-idx3-ubyte.gz", labels: "train-labels-idx1-ubyte.gz")
/// Idx(images: "emnist-letters-train-images-idx3-ubyte.gz", transpose: true, held_out: 0.2)
/// ImageFolder(path: "faces", size: 32, channels: 3, held_out: 500)
/// Cifar10(path: "cifar-10-batches-bin")
/// StackedMnist(images: "train-images-idx3-ubyte.gz", labels: "train-labels-idx1-ubyte.gz")
/// ```
///
/// [`fmt::Display`] writes this form (defaults left out) and [`FromStr`] reads it; relative paths
/// are relative to the current directory here (the sweep crate resolves them against the sweep
/// file's folder first). Check a value with [`ImageSpec::validate`] before using a hand-built one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ImageSpec {
    /// An IDX images file (MNIST, Fashion-MNIST, KMNIST, EMNIST; raw or gzipped) with, optionally,
    /// its labels file. Images are `u8` (magic `0x00000803`), labels `u8` (magic `0x00000801`).
    Idx {
        /// The images file.
        images: PathBuf,
        /// The labels file; without it the dataset is unlabelled (no feature extractor can be
        /// trained on it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        labels: Option<PathBuf>,
        /// Transpose every image: EMNIST's files store each image transposed (column-major), so
        /// EMNIST needs `transpose: true` to show upright letters.
        #[serde(default, skip_serializing_if = "is_false")]
        transpose: bool,
        /// The held-out split; see [`HeldOut`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        held_out: Option<HeldOut>,
    },
    /// A folder of PNG and JPEG files, searched recursively. When every image lies in a subfolder,
    /// the first subfolder below `path` names its class (classes in sorted order); otherwise the
    /// dataset is unlabelled.
    ImageFolder {
        /// The folder.
        path: PathBuf,
        /// Images are scaled so that their shorter side is `size`, then centre-cropped to
        /// `size`×`size` (bilinear filter); images already of that size are used as they are.
        size: u32,
        /// 1: grayscale (ITU-R BT.709 luma); 3: RGB. Alpha is dropped.
        channels: u8,
        /// The held-out split; see [`HeldOut`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        held_out: Option<HeldOut>,
    },
    /// CIFAR-10's binary version: a folder holding `data_batch_1.bin` … `data_batch_5.bin` (the
    /// 50,000 training images; `test_batch.bin` is not read), or one `.bin` batch file.
    Cifar10 {
        /// The `cifar-10-batches-bin` folder, or one batch file.
        path: PathBuf,
        /// The held-out split; see [`HeldOut`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        held_out: Option<HeldOut>,
    },
    /// Stacked MNIST (VEEGAN, PacGAN): 3×28×28 images whose channels are three digits drawn at
    /// random from an IDX set of 28×28 digits, 1,000 classes (the digit triples). The digits are
    /// split first (`held_out` counts digits); training stacks are drawn from the training
    /// digits, held-out stacks (one per held-out digit) from the held-out digits, both by a fixed
    /// generator ([`STACK_SEED`](crate::STACK_SEED)), so every trial trains on the same stacks.
    /// The evaluation network learns the single digits and labels each channel.
    StackedMnist {
        /// The digits' IDX images file.
        images: PathBuf,
        /// The digits' IDX labels file (0–9): required, the evaluation network learns from them.
        labels: PathBuf,
        /// Digits held out of the stacks' sources; see [`HeldOut`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        held_out: Option<HeldOut>,
        /// Training stacks; default [`DEFAULT_STACKS`] (the PacGAN code's 128,000).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u64>,
    },
}

/// Training stacks of a [`ImageSpec::StackedMnist`] that does not say: the 128,000 of PacGAN's
/// Stacked MNIST code (`num_training_sample`).
pub const DEFAULT_STACKS: u64 = 128_000;

/// Most training stacks a [`ImageSpec::StackedMnist`] may ask for: 2,352 bytes each, so 10⁶
/// stacks already hold 2.4 GB in every process that opens the dataset.
pub const MAX_STACKS: u64 = 1_000_000;

fn is_false(b: &bool) -> bool {
    !*b
}

/// How many examples are held out of training (for evaluation: the feature extractor's accuracy,
/// real-versus-real metric baselines, a VAE's held-out ELBO).
///
/// RON: an integer is a count (`held_out: 1000`), a number with a decimal point a fraction
/// (`held_out: 0.2`). Absent: [`DEFAULT_HELD_OUT_FRACTION`] of the examples, rounded down, at most
/// [`DEFAULT_HELD_OUT_CAP`]. An explicit fraction is not capped. Which examples are held out is
/// fixed by the count alone; see [`crate::held_out_positions`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a held-out count such as `1000` or a fraction such as `0.1`"
)]
pub enum HeldOut {
    /// Exactly this many examples.
    Count(u64),
    /// This share of the examples, rounded down; 0 ≤ fraction < 1.
    Fraction(f64),
}

impl HeldOut {
    /// Examples held out of `total`; fails when no training example would be left.
    pub fn count_for(held_out: Option<HeldOut>, total: usize) -> Result<usize, DataError> {
        let held = match held_out {
            None => ((total as f64 * DEFAULT_HELD_OUT_FRACTION) as usize).min(DEFAULT_HELD_OUT_CAP),
            Some(HeldOut::Fraction(f)) => (total as f64 * f) as usize,
            Some(HeldOut::Count(c)) => usize::try_from(c).unwrap_or(usize::MAX),
        };
        if held >= total {
            return Err(DataError::BadImageSpec {
                message: format!(
                    "`held_out` sets aside {held} of the dataset's {total} examples, leaving none \
                     to train on; lower `held_out`"
                ),
            });
        }
        Ok(held)
    }
}

impl fmt::Display for HeldOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeldOut::Count(c) => write!(f, "{c}"),
            // `{:?}` keeps a decimal point (`0.0`, not `0`), so the text reads back as a fraction.
            HeldOut::Fraction(x) => write!(f, "{x:?}"),
        }
    }
}

impl ImageSpec {
    /// Checks the settings that need no file access: channels, size, held-out fraction, paths.
    pub fn validate(&self) -> Result<(), DataError> {
        let bad = |message: String| Err(DataError::BadImageSpec { message });
        for (field, path) in self.paths() {
            if path.as_os_str().is_empty() {
                return bad(format!("`{field}` is empty; give a file or folder path"));
            }
        }
        if let ImageSpec::ImageFolder { size, channels, .. } = self {
            if !(1..=MAX_IMAGE_SIZE).contains(size) {
                return bad(format!(
                    "`size` is {size}; it must be from 1 to {MAX_IMAGE_SIZE} (images become size×size)"
                ));
            }
            if !matches!(channels, 1 | 3) {
                return bad(format!(
                    "`channels` is {channels}; it must be 1 (grayscale) or 3 (RGB)"
                ));
            }
        }
        if let ImageSpec::StackedMnist { count: Some(n), .. } = self {
            if !(1..=MAX_STACKS).contains(n) {
                return bad(format!(
                    "`count` is {n}; Stacked MNIST needs from 1 to {MAX_STACKS} training stacks \
                     (default {DEFAULT_STACKS})"
                ));
            }
        }
        if let Some(HeldOut::Fraction(f)) = self.held_out() {
            if !(f.is_finite() && (0.0..1.0).contains(&f)) {
                return bad(format!(
                    "`held_out` is {f:?}; a fraction must be at least 0 and below 1 \
                     (write a whole number, e.g. `held_out: 1000`, for a count)"
                ));
            }
        }
        Ok(())
    }

    /// The held-out setting as written (`None`: the default).
    pub fn held_out(&self) -> Option<HeldOut> {
        match self {
            ImageSpec::Idx { held_out, .. }
            | ImageSpec::ImageFolder { held_out, .. }
            | ImageSpec::Cifar10 { held_out, .. }
            | ImageSpec::StackedMnist { held_out, .. } => *held_out,
        }
    }

    /// Every path the description names, with its field name.
    pub fn paths(&self) -> Vec<(&'static str, &Path)> {
        match self {
            ImageSpec::Idx { images, labels, .. } => {
                let mut out = vec![("images", images.as_path())];
                out.extend(labels.as_deref().map(|l| ("labels", l)));
                out
            }
            ImageSpec::ImageFolder { path, .. } | ImageSpec::Cifar10 { path, .. } => {
                vec![("path", path.as_path())]
            }
            ImageSpec::StackedMnist { images, labels, .. } => {
                vec![("images", images.as_path()), ("labels", labels.as_path())]
            }
        }
    }

    /// The digits a [`ImageSpec::StackedMnist`] stacks, as the labelled IDX set they are (what its
    /// evaluation network trains on); `None` for every other form.
    pub fn stacked_digits(&self) -> Option<ImageSpec> {
        match self {
            ImageSpec::StackedMnist {
                images,
                labels,
                held_out,
                ..
            } => Some(ImageSpec::Idx {
                images: images.clone(),
                labels: Some(labels.clone()),
                transpose: false,
                held_out: *held_out,
            }),
            _ => None,
        }
    }

    /// The same description with every relative path joined to `base` (absolute paths stay).
    pub fn resolved_against(&self, base: &Path) -> ImageSpec {
        let join = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        };
        match self {
            ImageSpec::Idx {
                images,
                labels,
                transpose,
                held_out,
            } => ImageSpec::Idx {
                images: join(images),
                labels: labels.as_ref().map(join),
                transpose: *transpose,
                held_out: *held_out,
            },
            ImageSpec::ImageFolder {
                path,
                size,
                channels,
                held_out,
            } => ImageSpec::ImageFolder {
                path: join(path),
                size: *size,
                channels: *channels,
                held_out: *held_out,
            },
            ImageSpec::Cifar10 { path, held_out } => ImageSpec::Cifar10 {
                path: join(path),
                held_out: *held_out,
            },
            ImageSpec::StackedMnist {
                images,
                labels,
                held_out,
                count,
            } => ImageSpec::StackedMnist {
                images: join(images),
                labels: join(labels),
                held_out: *held_out,
                count: *count,
            },
        }
    }

    /// True when `text` is written in this type's RON form (starts with `Idx(`, `ImageFolder(`,
    /// `Cifar10(` or `StackedMnist(`), so that [`crate::open`] can tell it from a toy dataset's text.
    pub fn is_image_text(text: &str) -> bool {
        let text = text.trim_start();
        ["Idx", "ImageFolder", "Cifar10", "StackedMnist"]
            .iter()
            .any(|name| {
                text.strip_prefix(name)
                    .is_some_and(|rest| rest.trim_start().starts_with('('))
            })
    }
}

/// A RON string literal, escaped.
fn quoted(path: &Path) -> String {
    ron::to_string(&path.to_string_lossy()).expect("a string always serializes")
}

impl fmt::Display for ImageSpec {
    /// The RON form, defaults left out; it parses back to the same value (for UTF-8 paths).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held_out = |f: &mut fmt::Formatter<'_>, held_out: &Option<HeldOut>| match held_out {
            Some(h) => write!(f, ", held_out: {h}"),
            None => Ok(()),
        };
        match self {
            ImageSpec::Idx {
                images,
                labels,
                transpose,
                held_out: h,
            } => {
                write!(f, "Idx(images: {}", quoted(images))?;
                if let Some(labels) = labels {
                    write!(f, ", labels: {}", quoted(labels))?;
                }
                if *transpose {
                    f.write_str(", transpose: true")?;
                }
                held_out(f, h)?;
            }
            ImageSpec::ImageFolder {
                path,
                size,
                channels,
                held_out: h,
            } => {
                write!(
                    f,
                    "ImageFolder(path: {}, size: {size}, channels: {channels}",
                    quoted(path)
                )?;
                held_out(f, h)?;
            }
            ImageSpec::Cifar10 { path, held_out: h } => {
                write!(f, "Cifar10(path: {}", quoted(path))?;
                held_out(f, h)?;
            }
            ImageSpec::StackedMnist {
                images,
                labels,
                held_out: h,
                count,
            } => {
                write!(
                    f,
                    "StackedMnist(images: {}, labels: {}",
                    quoted(images),
                    quoted(labels)
                )?;
                held_out(f, h)?;
                if let Some(n) = count {
                    write!(f, ", count: {n}")?;
                }
            }
        }
        f.write_str(")")
    }
}

impl FromStr for ImageSpec {
    type Err = DataError;

    /// Parses the RON form (see the type's docs) and validates it.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let options = ron::Options::default().with_default_extension(Extensions::IMPLICIT_SOME);
        let spec: ImageSpec = options
            .from_str(text)
            .map_err(|e| DataError::BadImageSpec {
                message: format!("`{}`: {e}", text.trim()),
            })?;
        spec.validate()?;
        Ok(spec)
    }
}
