//! Image augmentations for the discriminator: DiffAugment (Zhao et al. 2020) and the flip +
//! translation of consistency regularization (bCR: Zhang et al. 2020; Zhao et al. 2021).
//!
//! Every operation works on a batch `(N, C, H, W)` with per-image random parameters drawn from a
//! [`SeededRng`] (so a trainer's augmentations are seeded and checkpointed with its generator) and
//! is built from differentiable candle ops, so gradients flow through an augmented generated
//! batch back to the generator, as DiffAugment requires. Geometric operations are an
//! `index_select` over the flattened batch plus one appended zero (each output pixel reads one
//! input pixel, or zero where the shifted image has no pixel), whose backward is `index_add`.
//!
//! DiffAugment's parameters follow the authors' PyTorch code (`DiffAugment_pytorch.py`):
//! brightness + U[−½, ½), saturation × U[0, 2) around the channel mean, contrast × U[½, 1½)
//! around the image mean; translation by an integer in [−⌊H/8⌋, ⌊H/8⌋] (rows) and
//! [−⌊W/8⌋, ⌊W/8⌋] (columns), zero-filled; cutout of a ⌊H/2⌋ × ⌊W/2⌋ rectangle whose centre is
//! drawn from 0..=H − (⌊H/2⌋ mod 2) (likewise for columns), clipped at the borders.

use candle_core::{bail, DType, Result, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::gan::Regularizer;
use crate::SeededRng;

/// Which DiffAugment operations run, in the order color, translation, cutout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Policy {
    pub color: bool,
    pub translation: bool,
    pub cutout: bool,
}

impl Policy {
    /// The values of the `diffaugment` parameter: `none` and every combination of the three.
    pub const NAMES: [&'static str; 8] = [
        "none",
        "color",
        "translation",
        "cutout",
        "color,translation",
        "color,cutout",
        "translation,cutout",
        "color,translation,cutout",
    ];

    /// `none`, or a comma-separated subset of `color`, `translation`, `cutout`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut p = Self::default();
        if text == "none" {
            return Some(p);
        }
        for part in text.split(',') {
            match part.trim() {
                "color" => p.color = true,
                "translation" => p.translation = true,
                "cutout" => p.cutout = true,
                _ => return None,
            }
        }
        Some(p)
    }

    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// e.g. `color,translation,cutout`.
    pub fn name(&self) -> String {
        let parts: Vec<&str> = [
            (self.color, "color"),
            (self.translation, "translation"),
            (self.cutout, "cutout"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(",")
        }
    }
}

/// The `(N, C, H, W)` dimensions of an image batch, or an error naming what it got.
fn image_dims(x: &Tensor) -> Result<(usize, usize, usize, usize)> {
    match x.dims() {
        &[n, c, h, w] => Ok((n, c, h, w)),
        other => bail!("image augmentation needs a batch of shape (N, C, H, W), got {other:?}"),
    }
}

/// One value per image as an `(N, 1, 1, 1)` tensor on `x`'s device and dtype.
fn per_image(x: &Tensor, values: &[f32]) -> Result<Tensor> {
    Tensor::from_slice(values, (values.len(), 1, 1, 1), x.device())?.to_dtype(x.dtype())
}

/// x + bₙ per image n.
pub fn brightness(x: &Tensor, shifts: &[f32]) -> Result<Tensor> {
    x.broadcast_add(&per_image(x, shifts)?)
}

/// (x − m)·sₙ + m, m the mean over channels at each pixel.
pub fn saturation(x: &Tensor, factors: &[f32]) -> Result<Tensor> {
    let m = x.mean_keepdim(1)?;
    x.broadcast_sub(&m)?
        .broadcast_mul(&per_image(x, factors)?)?
        .broadcast_add(&m)
}

/// (x − m)·cₙ + m, m the mean of image n over channels and pixels.
pub fn contrast(x: &Tensor, factors: &[f32]) -> Result<Tensor> {
    let (n, ..) = image_dims(x)?;
    let m = x.flatten_from(1)?.mean_keepdim(1)?.reshape((n, 1, 1, 1))?;
    x.broadcast_sub(&m)?
        .broadcast_mul(&per_image(x, factors)?)?
        .broadcast_add(&m)
}

/// `out[n, c, i, j] = x[n, c, source(n, i, j)]`, zero where `source` gives `None`.
fn remap(
    x: &Tensor,
    source: impl Fn(usize, usize, usize) -> Option<(usize, usize)>,
) -> Result<Tensor> {
    let (n, c, h, w) = image_dims(x)?;
    let zero = (n * c * h * w) as u32;
    let mut index = Vec::with_capacity(n * c * h * w);
    for b in 0..n {
        // The source pixel of every output pixel, shared by the image's channels.
        let plane: Vec<Option<usize>> = (0..h * w)
            .map(|k| source(b, k / w, k % w).map(|(si, sj)| si * w + sj))
            .collect();
        for ch in 0..c {
            let base = (b * c + ch) * h * w;
            index.extend(plane.iter().map(|s| s.map_or(zero, |s| (base + s) as u32)));
        }
    }
    let index = Tensor::from_vec(index, n * c * h * w, x.device())?;
    let flat = Tensor::cat(
        &[&x.flatten_all()?, &Tensor::zeros(1, x.dtype(), x.device())?],
        0,
    )?;
    flat.index_select(&index, 0)?.reshape((n, c, h, w))
}

/// Shifts image n by `shifts[n] = (dy, dx)` pixels: `out[i, j] = x[i + dy, j + dx]`, zero where
/// that falls outside (DiffAugment's translation).
pub fn translate(x: &Tensor, shifts: &[(i64, i64)]) -> Result<Tensor> {
    let (_, _, h, w) = image_dims(x)?;
    flip_translate(x, &vec![false; shifts.len()], shifts, (h, w))
}

/// Mirrors image n left–right where `flips[n]`, then shifts it as [`translate`] does.
fn flip_translate(
    x: &Tensor,
    flips: &[bool],
    shifts: &[(i64, i64)],
    (h, w): (usize, usize),
) -> Result<Tensor> {
    let (n, ..) = image_dims(x)?;
    if shifts.len() != n || flips.len() != n {
        bail!(
            "{n} images, but {} shifts and {} flips",
            shifts.len(),
            flips.len()
        );
    }
    remap(x, |b, i, j| {
        let (dy, dx) = shifts[b];
        let (si, sj) = (i as i64 + dy, j as i64 + dx);
        if si < 0 || sj < 0 || si >= h as i64 || sj >= w as i64 {
            return None;
        }
        let sj = if flips[b] {
            w - 1 - sj as usize
        } else {
            sj as usize
        };
        Some((si as usize, sj))
    })
}

/// Zeroes in image n the `size = (rows, cols)` rectangle centred at `centres[n]` (its top-left
/// corner at centre − size/2, rounded down), clipped at the borders (DiffAugment's cutout).
pub fn cutout(x: &Tensor, centres: &[(usize, usize)], size: (usize, usize)) -> Result<Tensor> {
    let (n, _, h, w) = image_dims(x)?;
    if centres.len() != n {
        bail!("{n} images, but {} cutout centres", centres.len());
    }
    let mut mask = vec![1f32; n * h * w];
    for (b, &(ci, cj)) in centres.iter().enumerate() {
        let rows =
            (ci as i64 - (size.0 / 2) as i64)..(ci as i64 - (size.0 / 2) as i64 + size.0 as i64);
        let cols =
            (cj as i64 - (size.1 / 2) as i64)..(cj as i64 - (size.1 / 2) as i64 + size.1 as i64);
        for i in rows.filter(|i| (0..h as i64).contains(i)) {
            for j in cols.clone().filter(|j| (0..w as i64).contains(j)) {
                mask[(b * h + i as usize) * w + j as usize] = 0.0;
            }
        }
    }
    let mask = Tensor::from_vec(mask, (n, 1, h, w), x.device())?.to_dtype(x.dtype())?;
    x.broadcast_mul(&mask)
}

/// `n` integers drawn uniformly from `lo..=hi`.
fn ints(rng: &mut SeededRng, n: usize, lo: i64, hi: i64) -> Vec<i64> {
    (0..n).map(|_| rng.random_range(lo..=hi)).collect()
}

/// DiffAugment with `policy`: fresh random parameters per image from `rng` (see the
/// [module docs](self) for their distributions).
pub fn diff_augment(x: &Tensor, policy: Policy, rng: &mut SeededRng) -> Result<Tensor> {
    let (n, _, h, w) = image_dims(x)?;
    let mut x = x.clone();
    if policy.color {
        x = brightness(&x, &rng.uniform_vec(n, -0.5, 0.5))?;
        x = saturation(&x, &rng.uniform_vec(n, 0.0, 2.0))?;
        x = contrast(&x, &rng.uniform_vec(n, 0.5, 1.5))?;
    }
    if policy.translation {
        let (sy, sx) = ((h / 8) as i64, (w / 8) as i64);
        let dy = ints(rng, n, -sy, sy);
        let dx = ints(rng, n, -sx, sx);
        let shifts: Vec<(i64, i64)> = dy.into_iter().zip(dx).collect();
        x = translate(&x, &shifts)?;
    }
    if policy.cutout {
        let size = (h / 2, w / 2);
        let ci = ints(rng, n, 0, (h - size.0 % 2) as i64);
        let cj = ints(rng, n, 0, (w - size.1 % 2) as i64);
        let centres: Vec<(usize, usize)> = ci
            .into_iter()
            .zip(cj)
            .map(|(i, j)| (i as usize, j as usize))
            .collect();
        x = cutout(&x, &centres, size)?;
    }
    Ok(x)
}

/// The augmentation T of consistency regularization: a left–right flip with probability ½, then
/// a zero-filled translation by up to ⌊side/8⌋ pixels each way (Zhang et al. 2020 flip and shift
/// by a few pixels: 4 on 32×32 images, as here).
pub fn flip_and_shift(x: &Tensor, rng: &mut SeededRng) -> Result<Tensor> {
    let (n, _, h, w) = image_dims(x)?;
    let flips: Vec<bool> = (0..n).map(|_| rng.random_bool(0.5)).collect();
    let (sy, sx) = ((h / 8) as i64, (w / 8) as i64);
    let dy = ints(rng, n, -sy, sy);
    let dx = ints(rng, n, -sx, sx);
    let shifts: Vec<(i64, i64)> = dy.into_iter().zip(dx).collect();
    flip_translate(x, &flips, &shifts, (h, w))
}

/// Balanced consistency regularization (bCR, Zhao et al. 2021, after Zhang et al. 2020's CR):
/// λ_real·E[(D(x) − D(T(x)))²] + λ_fake·E[(D(G(z)) − D(T(G(z))))²] on logits, T =
/// [`flip_and_shift`]. Both terms train the discriminator only (the fake batch is detached).
#[derive(Debug, Clone, Copy)]
pub struct ConsistencyRegularization {
    pub lambda_real: f64,
    pub lambda_fake: f64,
}

impl ConsistencyRegularization {
    fn term(
        critic: &dyn Fn(&Tensor) -> Result<Tensor>,
        x: &Tensor,
        lambda: f64,
        rng: &mut SeededRng,
    ) -> Result<Option<Tensor>> {
        if lambda == 0.0 {
            return Ok(None);
        }
        let plain = critic(x)?.flatten_all()?;
        let augmented = critic(&flip_and_shift(x, rng)?)?.flatten_all()?;
        Ok(Some(((plain - augmented)?.sqr()?.mean_all()? * lambda)?))
    }
}

impl Regularizer for ConsistencyRegularization {
    fn name(&self) -> String {
        format!(
            "bCR (λ_real = {}, λ_fake = {})",
            self.lambda_real, self.lambda_fake
        )
    }

    fn metric(&self) -> &'static str {
        "bcr"
    }

    fn critic_penalty(
        &self,
        critic: &dyn Fn(&Tensor) -> Result<Tensor>,
        real: &Tensor,
        fake: &Tensor,
        rng: &mut SeededRng,
    ) -> Result<Tensor> {
        let r = Self::term(critic, real, self.lambda_real, rng)?;
        let f = Self::term(critic, &fake.detach(), self.lambda_fake, rng)?;
        match (r, f) {
            (Some(r), Some(f)) => r + f,
            (Some(t), None) | (None, Some(t)) => Ok(t),
            (None, None) => Tensor::zeros((), DType::F32, real.device()),
        }
    }
}
