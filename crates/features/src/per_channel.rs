//! [`PerChannel`]: a single-channel evaluation CNN applied to each channel of an image, for
//! Stacked MNIST, whose three channels are three digits.

use crate::extractor::CnnExtractor;
use crate::{FeaturesError, InputShape, Result, FEATURE_DIM};

/// A trained single-channel [`CnnExtractor`] (the digits' classifier) applied to every channel of
/// `channels`-channel images of its size.
///
/// - Features: the channels' features side by side, channel 0 first (`channels × 128` per image),
///   so FID, KID and PRDC compare the joint distribution of the stacked digits' features.
/// - Classes: the channels' predicted classes read as the digits of a number in base K (K the
///   classifier's classes), channel 0 the most significant: for MNIST digits,
///   `100·d₀ + 10·d₁ + d₂` ([`ganbench_data::stack_class`]'s numbering), K³ = 1,000 classes.
///   PacGAN's code labels Stacked MNIST samples in the same way (argmax per channel).
pub struct PerChannel {
    inner: CnnExtractor,
    channels: usize,
    name: String,
}

impl PerChannel {
    /// Wraps `inner`, which must take single-channel images, for images of `channels` channels.
    pub fn new(inner: CnnExtractor, channels: usize) -> Result<Self> {
        let input = inner.input_shape();
        if input.channels != 1 || channels == 0 {
            return Err(FeaturesError::Input(format!(
                "a per-channel extractor needs a single-channel network and at least one channel; \
                 got a {}-channel network for {channels} channels",
                input.channels
            )));
        }
        let name = format!("{}-per-channel-{channels}", inner.name());
        Ok(Self {
            inner,
            channels,
            name,
        })
    }

    /// The image shape taken: `channels × H × W` for the wrapped network's H × W.
    pub fn input_shape(&self) -> InputShape {
        let input = self.inner.input_shape();
        InputShape {
            channels: self.channels,
            ..input
        }
    }

    /// Features per image: `channels × 128`.
    pub fn dim(&self) -> usize {
        self.channels * FEATURE_DIM
    }

    /// The number of classes [`PerChannel::classify`] can give: K^channels.
    pub fn classes(&self) -> usize {
        self.inner.classes().pow(self.channels as u32)
    }

    /// The wrapped network's name and the channel count, e.g. `cnn-v1-28x28-per-channel-3`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Features of `n` images (`n × C × H × W`, pixels in [-1, 1]): `n × (C·128)`, row-major.
    pub fn features(&self, images: &[f32], n: usize) -> Result<Vec<f32>> {
        let per_channel = self.each_channel(images, n, |net, plane| net.features(plane, n))?;
        let mut out = Vec::with_capacity(n * self.dim());
        for i in 0..n {
            for features in &per_channel {
                out.extend_from_slice(&features[i * FEATURE_DIM..(i + 1) * FEATURE_DIM]);
            }
        }
        Ok(out)
    }

    /// The class of each of `n` images (see the type's docs).
    pub fn classify(&self, images: &[f32], n: usize) -> Result<Vec<u32>> {
        let per_channel = self.each_channel(images, n, |net, plane| net.predict(plane, n))?;
        let base = self.inner.classes() as u32;
        Ok((0..n)
            .map(|i| per_channel.iter().fold(0, |class, c| class * base + c[i]))
            .collect())
    }

    /// `each` applied to every channel's plane of the images (`n × H × W` each).
    fn each_channel<T>(
        &self,
        images: &[f32],
        n: usize,
        each: impl Fn(&CnnExtractor, &[f32]) -> Result<Vec<T>>,
    ) -> Result<Vec<Vec<T>>> {
        let shape = self.input_shape();
        if images.len() != n * shape.len() {
            return Err(FeaturesError::Input(format!(
                "{} values are not {n} images of {}×{}×{}",
                images.len(),
                shape.channels,
                shape.height,
                shape.width
            )));
        }
        let plane = shape.height * shape.width;
        (0..self.channels)
            .map(|c| {
                let channel: Vec<f32> = images
                    .chunks_exact(shape.len())
                    .flat_map(|image| &image[c * plane..(c + 1) * plane])
                    .copied()
                    .collect();
                each(&self.inner, &channel)
            })
            .collect()
    }
}

impl std::fmt::Debug for PerChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerChannel")
            .field("inner", &self.inner)
            .field("channels", &self.channels)
            .finish()
    }
}

/// The runner's view: per-channel features, and the classes its class coverage counts.
impl ganbench_metrics::FeatureExtractor for PerChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn dim(&self) -> usize {
        PerChannel::dim(self)
    }

    fn features(
        &self,
        images: &[f32],
        n: usize,
    ) -> Result<Vec<f32>, ganbench_metrics::ExtractorError> {
        PerChannel::features(self, images, n)
            .map_err(|e| ganbench_metrics::ExtractorError::new(&self.name, e.to_string()))
    }

    fn classify(
        &self,
        images: &[f32],
        n: usize,
    ) -> Result<Option<(Vec<u32>, usize)>, ganbench_metrics::ExtractorError> {
        PerChannel::classify(self, images, n)
            .map(|labels| Some((labels, self.classes())))
            .map_err(|e| ganbench_metrics::ExtractorError::new(&self.name, e.to_string()))
    }
}
