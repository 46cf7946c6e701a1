//! The extractor's network: a small CNN classifier whose 128-unit penultimate layer gives the
//! features, with its tensor names and shapes (the contract a user's weights file must meet).
//!
//! ```text
//! input  C×H×W in [-1, 1]
//! conv1  32 filters 3×3, stride 1, no padding → ReLU → max-pool 2×2
//! conv2  64 filters 3×3, stride 1, no padding → ReLU → max-pool 2×2
//! flatten (channel-major, as PyTorch's `x.flatten(1)`)
//! fc1    → 128, ReLU          ← the features
//! fc2    → number of classes  (logits; used only for training and the accuracy check)
//! ```
//!
//! For 28×28 inputs the spatial sizes are 28 → 26 → 13 → 11 → 5, so fc1 reads 64·5·5 = 1600
//! values; for 32×32 (CIFAR-10) 32 → 30 → 15 → 13 → 6 and 2304 values. Any H, W ≥ 10 works; a
//! trained network only accepts the size it was trained for (images are never resized, since
//! resizing generated samples would change what the metrics measure).

use std::collections::BTreeMap;

use ganbench_sdk::candle::{Device, Module, Tensor};
use ganbench_sdk::candle_nn::Conv2dConfig;
use ganbench_sdk::kernels;
use ganbench_sdk::nn::{self, Linear};
use ganbench_sdk::{SeededRng, Vars};
use serde::{Deserialize, Serialize};

use crate::{FeaturesError, Result};

/// Names this architecture and its training recipe; part of every cache file name. Bump it when
/// either changes, so that old cached extractors are not mistaken for new ones.
pub const ARCH_VERSION: &str = "cnn-v1";
/// Width of the feature layer (fc1).
pub const FEATURE_DIM: usize = 128;
/// Filters of the first convolution.
pub const CONV1_FILTERS: usize = 32;
/// Filters of the second convolution.
pub const CONV2_FILTERS: usize = 64;
/// Side of both (square) convolution kernels.
pub const KERNEL: usize = 3;
/// The smallest height or width the two conv/pool stages leave at least one pixel of.
pub const MIN_SIDE: usize = 10;

/// The shape of one input image: channels × height × width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InputShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl InputShape {
    /// Checks that the network can take images of this shape (at least one channel, sides ≥ [`MIN_SIDE`]).
    pub fn new(channels: usize, height: usize, width: usize) -> Result<Self> {
        if channels == 0 || height < MIN_SIDE || width < MIN_SIDE {
            return Err(FeaturesError::Input(format!(
                "the evaluation CNN takes images of at least 1×{MIN_SIDE}×{MIN_SIDE} \
                 (channels × height × width), not {channels}×{height}×{width}"
            )));
        }
        Ok(Self {
            channels,
            height,
            width,
        })
    }

    /// A `[channels, height, width]` sample shape, as datasets describe their examples.
    pub fn from_dims(dims: &[usize]) -> Result<Self> {
        match *dims {
            [c, h, w] => Self::new(c, h, w),
            [h, w] => Self::new(1, h, w),
            _ => Err(FeaturesError::Input(format!(
                "the evaluation CNN takes images (channels × height × width); these examples have \
                 shape {dims:?}: use raw features for non-image data"
            ))),
        }
    }

    /// Values per image.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Always false: a valid shape has at least one value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Height and width after both conv/pool stages.
    pub fn final_spatial(&self) -> (usize, usize) {
        let stage = |side: usize| ((side - (KERNEL - 1)) / 2 - (KERNEL - 1)) / 2;
        (stage(self.height), stage(self.width))
    }

    /// Number of values fc1 reads: 64 · h · w after the second pooling.
    pub fn flatten_dim(&self) -> usize {
        let (h, w) = self.final_spatial();
        CONV2_FILTERS * h * w
    }
}

impl std::fmt::Display for InputShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{}×{}", self.channels, self.height, self.width)
    }
}

/// Every tensor of the network, with its shape, in file order: the contract for weights files.
pub fn tensor_shapes(input: InputShape, classes: usize) -> Vec<(&'static str, Vec<usize>)> {
    vec![
        (
            "conv1.weight",
            vec![CONV1_FILTERS, input.channels, KERNEL, KERNEL],
        ),
        ("conv1.bias", vec![CONV1_FILTERS]),
        (
            "conv2.weight",
            vec![CONV2_FILTERS, CONV1_FILTERS, KERNEL, KERNEL],
        ),
        ("conv2.bias", vec![CONV2_FILTERS]),
        ("fc1.weight", vec![FEATURE_DIM, input.flatten_dim()]),
        ("fc1.bias", vec![FEATURE_DIM]),
        ("fc2.weight", vec![classes, FEATURE_DIM]),
        ("fc2.bias", vec![classes]),
    ]
}

/// The classifier, built from tensors that already match [`tensor_shapes`].
pub(crate) struct Classifier {
    conv1: (Tensor, Tensor),
    conv2: (Tensor, Tensor),
    fc1: Linear,
    fc2: Linear,
}

impl Classifier {
    /// Registers freshly initialized parameters (PyTorch's default init, drawn from `seed`) in a
    /// new [`Vars`], named as [`tensor_shapes`] lists them.
    pub(crate) fn init_vars(
        input: InputShape,
        classes: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Vars> {
        let vars = Vars::new(ganbench_sdk::candle::DType::F32, device);
        let mut rng = SeededRng::with_stream(seed, INIT_STREAM);
        let plain = Conv2dConfig::default();
        nn::conv2d(
            &vars.pp("conv1"),
            input.channels,
            CONV1_FILTERS,
            KERNEL,
            plain,
            &mut rng,
        )?;
        nn::conv2d(
            &vars.pp("conv2"),
            CONV1_FILTERS,
            CONV2_FILTERS,
            KERNEL,
            plain,
            &mut rng,
        )?;
        nn::linear(&vars.pp("fc1"), input.flatten_dim(), FEATURE_DIM, &mut rng)?;
        nn::linear(&vars.pp("fc2"), FEATURE_DIM, classes, &mut rng)?;
        Ok(vars)
    }

    /// The tensors of `vars` by name (sharing their storage, so gradients reach the variables).
    pub(crate) fn tensors_of(vars: &Vars) -> BTreeMap<String, Tensor> {
        vars.params()
            .into_iter()
            .map(|(name, var)| (name, var.as_tensor().clone()))
            .collect()
    }

    /// The network over `tensors`, which must hold every name of [`tensor_shapes`] with its shape.
    pub(crate) fn new(tensors: &BTreeMap<String, Tensor>) -> Result<Self> {
        let get = |name: &str| {
            tensors.get(name).cloned().ok_or_else(|| {
                FeaturesError::Input(format!("internal: classifier tensor `{name}` missing"))
            })
        };
        Ok(Self {
            conv1: (get("conv1.weight")?, get("conv1.bias")?),
            conv2: (get("conv2.weight")?, get("conv2.bias")?),
            fc1: Linear::new(get("fc1.weight")?, Some(get("fc1.bias")?)),
            fc2: Linear::new(get("fc2.weight")?, Some(get("fc2.bias")?)),
        })
    }

    /// The feature layer's activations, `(batch, 128)`, for images `(batch, C, H, W)`.
    pub(crate) fn features(&self, images: &Tensor) -> Result<Tensor> {
        let x = conv_relu_pool(images, &self.conv1)?;
        let x = conv_relu_pool(&x, &self.conv2)?;
        Ok(nn::relu(&self.fc1.forward(&x.flatten_from(1)?)?)?)
    }

    /// Class logits `(batch, classes)` from the features.
    pub(crate) fn logits_of_features(&self, features: &Tensor) -> Result<Tensor> {
        Ok(self.fc2.forward(features)?)
    }
}

/// One stage: 3×3 convolution (im2col and a matrix product, also in the backward pass), bias,
/// ReLU, 2×2 max-pool (this crate's, whose gradient is right; see [`crate::pool`]).
///
/// Pooling runs first: x ↦ relu(x + b) is nondecreasing, so the maximum of a window of
/// relu(x + b) is relu(max x + b), and the gradient reaches the same element. Adding the bias and
/// applying ReLU to a quarter of the values saves most of their cost (the bias gradient's
/// reduction was a tenth of a training step).
fn conv_relu_pool(x: &Tensor, (weight, bias): &(Tensor, Tensor)) -> Result<Tensor> {
    let y = crate::pool::max_pool2(&kernels::conv2d(x, weight, 0, 1, 1)?)?;
    Ok(nn::relu(&y.broadcast_add(&bias.reshape((
        1,
        bias.elem_count(),
        1,
        1,
    ))?)?)?)
}

/// The [`SeededRng`] stream of the initial weights (shuffling uses [`SHUFFLE_STREAM`]).
pub(crate) const INIT_STREAM: u64 = 1;
/// The [`SeededRng`] stream of the training order.
pub(crate) const SHUFFLE_STREAM: u64 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_sizes_follow_the_documented_spatial_sizes() {
        // 28 → 26 → 13 → 11 → 5 and 32 → 30 → 15 → 13 → 6 (module docs).
        let mnist = InputShape::new(1, 28, 28).unwrap();
        assert_eq!(mnist.final_spatial(), (5, 5));
        assert_eq!(mnist.flatten_dim(), 1600);
        let cifar = InputShape::new(3, 32, 32).unwrap();
        assert_eq!(cifar.flatten_dim(), 64 * 6 * 6);
        assert_eq!(InputShape::new(1, 10, 11).unwrap().final_spatial(), (1, 1));
        let err = InputShape::new(1, 9, 28).unwrap_err().to_string();
        assert!(
            err.contains("at least 1×10×10") && err.contains("1×9×28"),
            "{err}"
        );
        assert!(InputShape::from_dims(&[2]).is_err());
    }

    #[test]
    fn forward_shapes_match_the_flatten_size() {
        for input in [
            InputShape::new(1, 28, 28).unwrap(),
            InputShape::new(3, 32, 32).unwrap(),
            InputShape::new(2, 10, 13).unwrap(),
        ] {
            let vars = Classifier::init_vars(input, 7, 0, &Device::Cpu).unwrap();
            let net = Classifier::new(&Classifier::tensors_of(&vars)).unwrap();
            let x = Tensor::zeros(
                (3, input.channels, input.height, input.width),
                ganbench_sdk::candle::DType::F32,
                &Device::Cpu,
            )
            .unwrap();
            let f = net.features(&x).unwrap();
            assert_eq!(f.dims(), &[3, FEATURE_DIM]);
            assert_eq!(net.logits_of_features(&f).unwrap().dims(), &[3, 7]);
            let shapes: Vec<_> = vars
                .params()
                .into_iter()
                .map(|(n, v)| (n, v.dims().to_vec()))
                .collect();
            let mut expected: Vec<_> = tensor_shapes(input, 7)
                .into_iter()
                .map(|(n, s)| (n.to_string(), s))
                .collect();
            expected.sort();
            assert_eq!(shapes, expected);
        }
    }
}
