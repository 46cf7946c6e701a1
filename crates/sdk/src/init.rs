//! Seeded initializers matching PyTorch's defaults for `nn.Linear` and `nn.Conv2d`.
//!
//! PyTorch initializes weights with `kaiming_uniform_(a = √5)`, i.e. U(±1/√fan_in), and biases
//! with U(±1/√fan_in), where fan_in = in_features (linear) or in_channels/groups × kh × kw (conv).

use candle_core::{Device, Result, Shape, Tensor};

use crate::SeededRng;

/// U(−b, b) with b = gain·√(3 / fan_in), gain = √(2 / (1 + a²)): PyTorch's `kaiming_uniform_`
/// for a leaky-ReLU slope `a` (fan-in mode).
pub fn kaiming_uniform<S: Into<Shape>>(
    rng: &mut SeededRng,
    shape: S,
    fan_in: usize,
    a: f64,
    device: &Device,
) -> Result<Tensor> {
    let gain = (2.0 / (1.0 + a * a)).sqrt();
    let bound = gain * (3.0 / fan_in.max(1) as f64).sqrt();
    rng.uniform(shape, -bound, bound, device)
}

/// PyTorch's default weight init for linear and conv layers: U(±1/√fan_in).
pub fn default_weight<S: Into<Shape>>(
    rng: &mut SeededRng,
    shape: S,
    fan_in: usize,
    device: &Device,
) -> Result<Tensor> {
    kaiming_uniform(rng, shape, fan_in, 5f64.sqrt(), device)
}

/// PyTorch's default bias init for linear and conv layers: U(±1/√fan_in).
pub fn default_bias(
    rng: &mut SeededRng,
    len: usize,
    fan_in: usize,
    device: &Device,
) -> Result<Tensor> {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    rng.uniform(len, -bound, bound, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_weight_bound_is_one_over_sqrt_fan_in() {
        let mut rng = SeededRng::new(0);
        let w = default_weight(&mut rng, (64, 100), 100, &Device::Cpu).unwrap();
        let v = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(max <= 0.1 && max > 0.099, "{max}");
        // U(-b, b) has variance b²/3.
        let var = v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / v.len() as f64;
        assert!((var - 0.01 / 3.0).abs() < 3e-4, "{var}");
    }
}
