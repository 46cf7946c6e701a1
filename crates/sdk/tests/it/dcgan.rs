//! The DCGAN networks and batch norm: image shapes and halving schedules, output shapes for
//! 1×28×28 and 3×32×32, parameter counts against a hand count, batch norm against candle-nn's
//! implementation, and every parameter gradient against central finite differences in f64.

use crate::common::fd_relative_error;
use candle_core::{DType, Device, ModuleT, Tensor};
use ganbench_sdk::dcgan::{
    ConvDiscriminator, ConvDiscriminatorConfig, ConvGenerator, ConvGeneratorConfig, ConvInit,
    ImageShape, Normalization,
};
use ganbench_sdk::{Activation, BatchNorm, Network, SeededRng, Vars};

fn image(shape: &[usize]) -> ImageShape {
    ImageShape::from_data_shape(shape).unwrap()
}

fn generator_config(image: ImageShape, channels: usize, init: ConvInit) -> ConvGeneratorConfig {
    ConvGeneratorConfig {
        latent_dim: 3,
        image,
        channels,
        batch_norm: true,
        activation: Activation::Relu,
        output_activation: Activation::Tanh,
        init,
    }
}

fn discriminator_config(
    image: ImageShape,
    channels: usize,
    normalization: Normalization,
    init: ConvInit,
) -> ConvDiscriminatorConfig {
    ConvDiscriminatorConfig {
        image,
        channels,
        normalization,
        activation: Activation::LeakyRelu(0.2),
        outputs: 1,
        init,
        minibatch_std: 0,
    }
}

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn image_shapes_halve_down_to_a_base_of_four_to_seven() {
    let s = image(&[1, 28, 28]);
    assert_eq!((s.stages(), s.base(), s.len()), (2, 7, 784));
    let s = image(&[3, 32, 32]);
    assert_eq!((s.stages(), s.base(), s.len()), (3, 4, 3072));
    let s = image(&[3, 64, 64]);
    assert_eq!((s.stages(), s.base()), (4, 4));
    for bad in [
        &[2][..],
        &[784],
        &[1, 28, 27],
        &[28, 28],
        &[1, 18, 18], // 18 → 9: odd
        &[1, 6, 6],   // nothing to halve
        &[0, 28, 28],
    ] {
        let err = ImageShape::from_data_shape(bad).unwrap_err();
        assert!(
            err.contains(&format!("{bad:?}")) && err.contains("[1, 28, 28]"),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn output_shapes_for_28_and_32() {
    let dev = Device::Cpu;
    for (shape, g_summary, d_summary) in [
        (
            [1, 28, 28],
            "DCGAN 3→16×7×7→8×14×14→1×28×28 (batch norm, relu, output tanh)",
            "DCGAN 1×28×28→8×14×14→16×7×7→1",
        ),
        (
            [3, 32, 32],
            "DCGAN 3→32×4×4→16×8×8→8×16×16→3×32×32 (batch norm, relu, output tanh)",
            "DCGAN 3×32×32→8×16×16→16×8×8→32×4×4→1",
        ),
    ] {
        let img = image(&shape);
        let mut rng = SeededRng::new(1);
        let g_vars = Vars::new(DType::F32, &dev);
        let g = ConvGenerator::new(
            &generator_config(img, 8, ConvInit::Dcgan),
            &g_vars,
            &mut rng,
        )
        .unwrap();
        assert_eq!(g.summary(), g_summary);
        assert!(g.batch_statistics());
        let z = rng.normal((5, 3), &dev).unwrap();
        for train in [true, false] {
            let x = g.forward_t(&z, train).unwrap();
            assert_eq!(x.dims(), &[5, shape[0], shape[1], shape[2]]);
            assert!(values(&x).iter().all(|v| v.abs() < 1.0), "tanh output");
        }
        for norm in [
            Normalization::BatchNorm,
            Normalization::None,
            Normalization::SpectralNorm,
        ] {
            let d_vars = Vars::new(DType::F32, &dev);
            let d = ConvDiscriminator::new(
                &discriminator_config(img, 8, norm, ConvInit::Dcgan),
                &d_vars,
                &mut rng,
            )
            .unwrap();
            assert!(d.summary().starts_with(d_summary), "{}", d.summary());
            assert_eq!(d.batch_statistics(), norm == Normalization::BatchNorm);
            let x = rng.normal((4, shape[0], shape[1], shape[2]), &dev).unwrap();
            let logits = d.forward_t(&x, false).unwrap();
            assert_eq!(logits.dims(), &[4, 1]);
            // Flattened rows are the same images.
            let flat = d.forward_t(&x.flatten_from(1).unwrap(), false).unwrap();
            assert_eq!(values(&logits), values(&flat));
            let n_sn = d.spectral_layers().len();
            let expected = if norm == Normalization::SpectralNorm {
                img.stages() + 1
            } else {
                0
            };
            assert_eq!(n_sn, expected, "{norm:?}");
        }
    }
}

#[test]
fn parameter_counts_match_a_hand_count() {
    let dev = Device::Cpu;
    let mut rng = SeededRng::new(2);
    let img = image(&[1, 28, 28]);
    let c = 4;
    let g_vars = Vars::new(DType::F32, &dev);
    ConvGenerator::new(
        &generator_config(img, c, ConvInit::Dcgan),
        &g_vars,
        &mut rng,
    )
    .unwrap();
    // fc 3 → 8·7·7 without bias; batch norm γ, β over 8; transposed conv 8 → 4 (4×4, no bias);
    // batch norm over 4; transposed conv 4 → 1 with bias.
    let g = 3 * 8 * 49 + 2 * 8 + 8 * 4 * 16 + 2 * 4 + 4 * 16 + 1;
    assert_eq!(g_vars.param_count(), g);
    // Running mean and variance of both batch norms.
    assert_eq!(g_vars.buffers().len(), 4);
    let d_vars = Vars::new(DType::F32, &dev);
    let cfg = discriminator_config(img, c, Normalization::BatchNorm, ConvInit::Dcgan);
    ConvDiscriminator::new(&cfg, &d_vars, &mut rng).unwrap();
    // conv 1 → 4 with bias; conv 4 → 8 without (batch norm follows); γ, β; linear 8·7·7 → 1.
    let d = (16 * 4 + 4) + 4 * 8 * 16 + 2 * 8 + (8 * 49 + 1);
    assert_eq!(d_vars.param_count(), d);
    let d_vars = Vars::new(DType::F32, &dev);
    let cfg = discriminator_config(img, c, Normalization::None, ConvInit::Dcgan);
    ConvDiscriminator::new(&cfg, &d_vars, &mut rng).unwrap();
    assert_eq!(
        d_vars.param_count(),
        (16 * 4 + 4) + (4 * 8 * 16 + 8) + (8 * 49 + 1)
    );
    assert!(d_vars.buffers().is_empty());
}

#[test]
fn dcgan_init_draws_weights_from_n_0_002() {
    let vars = Vars::new(DType::F32, &Device::Cpu);
    let cfg = generator_config(image(&[3, 32, 32]), 32, ConvInit::Dcgan);
    ConvGenerator::new(&cfg, &vars, &mut SeededRng::new(3)).unwrap();
    for (name, var) in vars.params() {
        let v = values(var.as_tensor());
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        let (want_mean, want_std) = if name.ends_with("bn.weight") {
            (1.0, 0.02)
        } else if name.ends_with("weight") {
            (0.0, 0.02)
        } else {
            (0.0, 0.0) // biases, batch-norm shifts
        };
        // Standard errors: 0.02/√n for the mean, ~0.02/√(2n) for the std; n ≥ 32 here.
        let tol = 5.0 * 0.02 / n.sqrt() + 1e-9;
        assert!((mean - want_mean).abs() < tol, "{name}: mean {mean}");
        assert!((std - want_std).abs() < tol, "{name}: std {std}");
    }
}

#[test]
fn batch_norm_matches_candle_nn() {
    // candle-nn's BatchNorm (a separate implementation, transposing to (features, rest)) as the
    // reference: training outputs and running statistics over three batches, then evaluation.
    let dev = Device::Cpu;
    for shape in [&[6usize, 3][..], &[4, 3, 5, 5]] {
        let vars = Vars::new(DType::F64, &dev);
        let mut rng = SeededRng::new(7);
        let scale = rng.normal(3, &dev).unwrap();
        let ours = BatchNorm::with_scale(&vars, scale).unwrap();
        let w = vars.params()[1].1.as_tensor().clone(); // sorted: bias, weight
        let b = vars.params()[0].1.as_tensor().clone();
        let shift = rng.normal(3, &dev).unwrap().to_dtype(DType::F64).unwrap();
        vars.params()[0].1.set(&shift).unwrap();
        let reference = candle_nn::BatchNorm::new(
            3,
            Tensor::zeros(3, DType::F64, &dev).unwrap(),
            Tensor::ones(3, DType::F64, &dev).unwrap(),
            w,
            b,
            1e-5,
        )
        .unwrap();
        let close = |a: &Tensor, b: &Tensor, what: &str| {
            let (a, b) = (values(a), values(b));
            let err = a
                .iter()
                .zip(&b)
                .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
            assert!(err < 1e-12, "{shape:?} {what}: {err}");
        };
        for step in 0..3 {
            let x = ((rng.normal(shape, &dev).unwrap() * 2.0).unwrap() + step as f64)
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap();
            close(
                &ours.forward_t(&x, true).unwrap(),
                &reference.forward_t(&x, true).unwrap(),
                "training output",
            );
            let (mean, var) = ours.running_stats().unwrap();
            close(&mean, reference.running_mean(), "running mean");
            close(&var, reference.running_var(), "running variance");
        }
        let x = rng
            .normal(shape, &dev)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap();
        close(
            &ours.forward_t(&x, false).unwrap(),
            &reference.forward_t(&x, false).unwrap(),
            "evaluation output",
        );
        // Evaluation leaves the running statistics alone.
        let before = values(&ours.running_stats().unwrap().0);
        ours.forward_t(&x, false).unwrap();
        assert_eq!(before, values(&ours.running_stats().unwrap().0));
    }
}

#[test]
fn batch_norm_training_output_is_standardized_per_channel() {
    // Closed form: with γ = 1, β = 0 each channel has mean 0 and variance v / (v + ε).
    let dev = Device::Cpu;
    let vars = Vars::new(DType::F64, &dev);
    let bn = BatchNorm::new(&vars, 2).unwrap();
    let mut rng = SeededRng::new(8);
    let x = ((rng.normal((8, 2, 3, 3), &dev).unwrap() * 3.0).unwrap() + 5.0)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap();
    let y = bn.forward_t(&x, true).unwrap();
    for c in 0..2 {
        let xc = values(&x.narrow(1, c, 1).unwrap());
        let yc = values(&y.narrow(1, c, 1).unwrap());
        let n = xc.len() as f64;
        let mx = xc.iter().sum::<f64>() / n;
        let vx = xc.iter().map(|v| (v - mx).powi(2)).sum::<f64>() / n;
        let my = yc.iter().sum::<f64>() / n;
        let vy = yc.iter().map(|v| (v - my).powi(2)).sum::<f64>() / n;
        assert!(my.abs() < 1e-12, "{my}");
        assert!((vy - vx / (vx + 1e-5)).abs() < 1e-12, "{vy} vs {vx}");
    }
    let err = bn
        .forward_t(&Tensor::zeros((1, 2), DType::F64, &dev).unwrap(), true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least 2 values"), "{err}");
}

/// Σ f(·)·r for fixed random weights r: a scalar whose gradient is every output's gradient mixed.
fn weighted_sum(y: &Tensor, seed: u64) -> candle_core::Result<Tensor> {
    let r = SeededRng::new(seed)
        .normal(y.shape(), y.device())?
        .to_dtype(DType::F64)?;
    (y * r)?.sum_all()
}

#[test]
fn generator_gradients_match_finite_differences() {
    // Transposed convolutions, batch norm in training mode (batch statistics) and tanh, in f64.
    let dev = Device::Cpu;
    let vars = Vars::new(DType::F64, &dev);
    let mut rng = SeededRng::new(9);
    let cfg = ConvGeneratorConfig {
        channels: 2,
        ..generator_config(image(&[1, 8, 8]), 2, ConvInit::PyTorch)
    };
    let g = ConvGenerator::new(&cfg, &vars, &mut rng).unwrap();
    let z = rng
        .normal((4, 3), &dev)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap();
    let f = || weighted_sum(&g.forward_t(&z, true)?, 1);
    let err = fd_relative_error(&vars, &f);
    eprintln!("generator: worst relative error {err:.2e}");
    assert!(err < 1e-6, "{err}");
}

#[test]
fn discriminator_gradients_match_finite_differences() {
    // Strided convolutions with batch norm (training mode), and with spectral norm (evaluation
    // mode, so that u and v stay fixed between evaluations), in f64.
    let dev = Device::Cpu;
    for (norm, train) in [
        (Normalization::BatchNorm, true),
        (Normalization::SpectralNorm, false),
    ] {
        let vars = Vars::new(DType::F64, &dev);
        let mut rng = SeededRng::new(10);
        let cfg = discriminator_config(image(&[2, 8, 8]), 2, norm, ConvInit::PyTorch);
        let d = ConvDiscriminator::new(&cfg, &vars, &mut rng).unwrap();
        let x = rng
            .normal((3, 2, 8, 8), &dev)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap();
        let f = || weighted_sum(&d.forward_t(&x, train)?, 2);
        let err = fd_relative_error(&vars, &f);
        eprintln!("{norm:?} discriminator: worst relative error {err:.2e}");
        assert!(err < 1e-6, "{norm:?}: {err}");
    }
}
