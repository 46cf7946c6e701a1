//! Spectral norm's σ estimate against the largest singular value computed independently
//! (cyclic Jacobi eigenvalues of WᵀW in plain f64 Rust).

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::Conv2dConfig;
use ganbench_sdk::{SeededRng, SnConv2d, SnLinear, SpectralNorm, Vars};

/// Eigenvalues of a symmetric matrix by the cyclic Jacobi method.
fn jacobi_eigenvalues(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j].powi(2))
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A ← Jᵀ A J for the rotation J in the (p, q) plane: columns, then rows.
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (rp, rq) = (a[p].clone(), a[q].clone());
                a[p] = rp.iter().zip(&rq).map(|(x, y)| c * x - s * y).collect();
                a[q] = rp.iter().zip(&rq).map(|(x, y)| s * x + c * y).collect();
            }
        }
    }
    (0..n).map(|i| a[i][i]).collect()
}

/// The largest singular value of `w` viewed as `(rows, rest)`.
fn largest_singular_value(w: &Tensor) -> f64 {
    let rows = w.dim(0).unwrap();
    let w = w
        .to_dtype(DType::F64)
        .unwrap()
        .reshape((rows, ()))
        .unwrap()
        .to_vec2::<f64>()
        .unwrap();
    let cols = w[0].len();
    let wtw: Vec<Vec<f64>> = (0..cols)
        .map(|i| {
            (0..cols)
                .map(|j| (0..rows).map(|k| w[k][i] * w[k][j]).sum())
                .collect()
        })
        .collect();
    jacobi_eigenvalues(wtw)
        .into_iter()
        .fold(0f64, f64::max)
        .sqrt()
}

fn check(sn: &SpectralNorm, iterations: usize) -> f64 {
    for _ in 0..iterations {
        sn.power_iteration().unwrap();
    }
    let truth = largest_singular_value(sn.weight());
    let err = (sn.sigma().unwrap() - truth).abs();
    eprintln!("σ = {truth:.6}, estimate error {err:.2e}");
    // W/σ has spectral norm 1.
    let normalized = largest_singular_value(&sn.normalized_weight(false).unwrap());
    assert!((normalized - 1.0).abs() < 1e-3, "{normalized}");
    err
}

#[test]
fn jacobi_reference_is_right_on_a_known_matrix() {
    // [[3, 0], [4, 5]] has singular values √45 and √5.
    let w = Tensor::new(&[[3f64, 0.], [4., 5.]], &Device::Cpu).unwrap();
    assert!((largest_singular_value(&w) - 45f64.sqrt()).abs() < 1e-12);
}

#[test]
fn linear_sigma_matches_largest_singular_value() {
    let vars = Vars::new(DType::F32, &Device::Cpu);
    let layer = SnLinear::new(&vars, 16, 24, &mut SeededRng::new(4)).unwrap();
    let err = check(layer.spectral_norm(), 500);
    assert!(err < 1e-3, "{err}");
}

#[test]
fn conv_sigma_matches_largest_singular_value() {
    let vars = Vars::new(DType::F32, &Device::Cpu);
    let layer = SnConv2d::new(
        &vars,
        3,
        8,
        3,
        Conv2dConfig::default(),
        &mut SeededRng::new(5),
    )
    .unwrap();
    let err = check(layer.spectral_norm(), 500);
    assert!(err < 1e-3, "{err}");
    let y = layer
        .forward_t(
            &Tensor::ones((2, 3, 5, 5), DType::F32, &Device::Cpu).unwrap(),
            true,
        )
        .unwrap();
    assert_eq!(y.dims(), &[2, 8, 3, 3]);
}

#[test]
fn training_forward_runs_one_power_iteration_and_eval_none() {
    let vars = Vars::new(DType::F32, &Device::Cpu);
    let layer = SnLinear::new(&vars, 6, 5, &mut SeededRng::new(6)).unwrap();
    let x = Tensor::ones((3, 6), DType::F32, &Device::Cpu).unwrap();
    let u = |vars: &Vars| {
        vars.buffers()
            .iter()
            .map(|(_, v)| v.as_tensor().to_vec1::<f32>().unwrap())
            .collect::<Vec<_>>()
    };
    let before = u(&vars);
    layer.forward_t(&x, false).unwrap();
    assert_eq!(before, u(&vars), "eval forward must not update u, v");
    // The same step by hand, from a clone of the state.
    let twin_vars = Vars::new(DType::F32, &Device::Cpu);
    let twin = SnLinear::new(&twin_vars, 6, 5, &mut SeededRng::new(6)).unwrap();
    layer.forward_t(&x, true).unwrap();
    twin.spectral_norm().power_iteration().unwrap();
    assert_ne!(before, u(&vars));
    assert_eq!(u(&twin_vars), u(&vars));
    assert_eq!(vars.buffers().len(), 2);
}

#[test]
fn dcgan_critic_normalizes_every_conv_and_linear_layer() {
    use ganbench_sdk::dcgan::{
        ConvDiscriminator, ConvDiscriminatorConfig, ConvInit, ImageShape, Normalization,
    };
    let vars = Vars::new(DType::F32, &Device::Cpu);
    let config = ConvDiscriminatorConfig {
        image: ImageShape::from_data_shape(&[1, 16, 16]).unwrap(),
        channels: 4,
        normalization: Normalization::SpectralNorm,
        activation: ganbench_sdk::Activation::LeakyRelu(0.2),
        outputs: 1,
        init: ConvInit::Dcgan,
        minibatch_std: 0,
    };
    let d = ConvDiscriminator::new(&config, &vars, &mut SeededRng::new(7)).unwrap();
    let layers = d.spectral_layers();
    // conv0 (4 × 1·4·4), conv1 (8 × 4·4·4), fc (1 × 8·4·4).
    let shapes: Vec<Vec<usize>> = layers.iter().map(|l| l.weight().dims().to_vec()).collect();
    assert_eq!(shapes, [vec![4, 1, 4, 4], vec![8, 4, 4, 4], vec![1, 128]]);
    for sn in layers {
        let err = check(sn, 500);
        assert!(err < 1e-3, "{err}");
    }
    // Two buffers (u, v) per layer, no batch norm statistics.
    assert_eq!(vars.buffers().len(), 6);
}
