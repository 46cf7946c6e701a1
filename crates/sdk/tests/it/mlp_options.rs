//! The MLP options of PacGAN's 2D networks: maxout units, batch norm in hidden layers, and the
//! N(0, σ²) initialization, each against a hand computation or finite differences.

use crate::common::fd_relative_error;
use candle_core::{DType, Device, ModuleT, Tensor, D};

use ganbench_sdk::{Activation, FeatureNetwork, Mlp, MlpConfig, Network, SeededRng, Vars};

fn input(rows: usize, cols: usize, seed: u64) -> Tensor {
    SeededRng::new(seed)
        .normal((rows, cols), &Device::Cpu)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
}

fn param(vars: &Vars, name: &str) -> Option<Tensor> {
    vars.params()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_tensor().clone())
}

#[test]
fn maxout_keeps_each_units_largest_piece_and_its_gradient_matches_finite_differences() {
    let vars = Vars::new(DType::F64, &Device::Cpu);
    let cfg = MlpConfig {
        input: 3,
        hidden: vec![4],
        output: 1,
        maxout: 3,
        ..Default::default()
    };
    let mlp = Mlp::new(&cfg, &vars, &mut SeededRng::new(1)).unwrap();
    let (w0, b0) = (
        param(&vars, "fc0.weight").unwrap(),
        param(&vars, "fc0.bias").unwrap(),
    );
    let (w1, b1) = (
        param(&vars, "fc1.weight").unwrap(),
        param(&vars, "fc1.bias").unwrap(),
    );
    assert_eq!(w0.dims(), [12, 3], "4 units × 3 pieces");
    assert_eq!(w1.dims(), [1, 4]);

    // By hand: unit u's pieces are rows 3u, 3u+1, 3u+2 of the first layer.
    let x = input(5, 3, 2);
    let pre = x
        .matmul(&w0.t().unwrap())
        .unwrap()
        .broadcast_add(&b0)
        .unwrap();
    let pre = pre.to_vec2::<f64>().unwrap();
    let hidden: Vec<Vec<f64>> = pre
        .iter()
        .map(|row| {
            (0..4)
                .map(|u| {
                    row[3 * u..3 * u + 3]
                        .iter()
                        .cloned()
                        .fold(f64::MIN, f64::max)
                })
                .collect()
        })
        .collect();
    let w1 = w1.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let b1 = b1.to_vec1::<f64>().unwrap()[0];
    let out = mlp.forward_t(&x, true).unwrap().flatten_all().unwrap();
    for (h, got) in hidden.iter().zip(out.to_vec1::<f64>().unwrap()) {
        let want = b1 + h.iter().zip(&w1).map(|(a, b)| a * b).sum::<f64>();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    assert!(mlp.summary().contains("maxout of 3"), "{}", mlp.summary());

    let loss = || mlp.forward_t(&x, true)?.sqr()?.sum_all();
    let err = fd_relative_error(&vars, &loss);
    assert!(err < 1e-6, "{err}");
}

#[test]
fn batch_norm_hidden_layers_have_no_bias_normalize_each_unit_and_differentiate() {
    let vars = Vars::new(DType::F64, &Device::Cpu);
    let cfg = MlpConfig {
        input: 2,
        hidden: vec![6, 6],
        output: 2,
        batch_norm: true,
        activation: Activation::Identity,
        ..Default::default()
    };
    let mlp = Mlp::new(&cfg, &vars, &mut SeededRng::new(3)).unwrap();
    let names: Vec<String> = vars.params().into_iter().map(|(n, _)| n).collect();
    for name in [
        "fc0.weight",
        "fc1.weight",
        "fc2.weight",
        "fc2.bias",
        "bn0.weight",
        "bn1.bias",
    ] {
        assert!(
            names.contains(&name.to_string()),
            "{name} missing: {names:?}"
        );
    }
    for name in ["fc0.bias", "fc1.bias"] {
        assert!(
            !names.contains(&name.to_string()),
            "{name}: batch norm cancels a bias"
        );
    }

    // In training mode every hidden unit leaves batch norm with mean 0 and variance ≈ 1 (γ = 1,
    // β = 0 at the start; ε = 1e-5 keeps it just below 1).
    let x = input(64, 2, 4).affine(3.0, 1.0).unwrap();
    for layer in [1, 2] {
        let (kept, _) = mlp.forward_features(&x, layer, true).unwrap();
        let mean = kept.mean(0).unwrap().to_vec1::<f64>().unwrap();
        let var = kept
            .broadcast_sub(&kept.mean_keepdim(0).unwrap())
            .unwrap()
            .sqr()
            .unwrap()
            .mean(0)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        assert!(
            mean.iter().all(|m| m.abs() < 1e-9),
            "layer {layer}: {mean:?}"
        );
        // v / (v + ε) for the unit's pre-norm variance v: ≈ 1 for the first layer's (inputs of
        // variance ~9), further below 1 for a unit of small variance deeper in.
        let tolerance = if layer == 1 { 1e-3 } else { 0.1 };
        assert!(
            var.iter().all(|v| *v <= 1.0 && 1.0 - v < tolerance),
            "layer {layer}: {var:?}"
        );
    }
    // Evaluation mode uses the running statistics: each row's output depends on that row alone.
    let one = mlp.forward_t(&x.narrow(0, 0, 1).unwrap(), false).unwrap();
    let all = mlp.forward_t(&x, false).unwrap().narrow(0, 0, 1).unwrap();
    let diff = (one - all)
        .unwrap()
        .abs()
        .unwrap()
        .max_keepdim(D::Minus1)
        .unwrap();
    assert!(diff.flatten_all().unwrap().to_vec1::<f64>().unwrap()[0] < 1e-12);

    // Gradients through batch norm, with a nonlinearity between the layers (with the identity,
    // the second norm cancels every change of the first layer's shift β: no gradient at all).
    let vars = Vars::new(DType::F64, &Device::Cpu);
    let tanh = MlpConfig {
        activation: Activation::Tanh,
        ..cfg
    };
    let mlp = Mlp::new(&tanh, &vars, &mut SeededRng::new(3)).unwrap();
    let loss = || mlp.forward_t(&x, true)?.sqr()?.sum_all();
    let err = fd_relative_error(&vars, &loss);
    assert!(err < 1e-5, "{err}");
}

#[test]
fn init_std_draws_weights_from_that_normal_and_zero_biases() {
    let vars = Vars::new(DType::F32, &Device::Cpu);
    let cfg = MlpConfig {
        input: 400,
        hidden: vec![400],
        output: 2,
        init_std: 0.02,
        ..Default::default()
    };
    let mlp = Mlp::new(&cfg, &vars, &mut SeededRng::new(5)).unwrap();
    let w: Vec<f64> = param(&vars, "fc0.weight")
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect();
    let n = w.len() as f64;
    let mean = w.iter().sum::<f64>() / n;
    let std = (w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    // 160,000 draws: the sample std is within 1% of 0.02 and the mean within 4 standard errors.
    assert!((std / 0.02 - 1.0).abs() < 0.01, "std {std}");
    assert!(mean.abs() < 4.0 * 0.02 / n.sqrt(), "mean {mean}");
    for bias in ["fc0.bias", "fc1.bias"] {
        let b = param(&vars, bias).unwrap().to_vec1::<f32>().unwrap();
        assert!(b.iter().all(|&v| v == 0.0), "{bias}");
    }
    assert!(
        mlp.summary().contains("init N(0, 0.02²)"),
        "{}",
        mlp.summary()
    );
    // Spectral norm keeps its own initialization.
    let sn = MlpConfig {
        spectral_norm: true,
        ..cfg
    };
    let err = Mlp::new(
        &sn,
        &Vars::new(DType::F32, &Device::Cpu),
        &mut SeededRng::new(5),
    )
    .err()
    .expect("refused");
    assert!(err.to_string().contains("init_std"), "{err}");
}

#[test]
fn gan_parameters_build_pacgans_2d_networks_and_leave_the_default_ones_alone() {
    use ganbench_sdk::gan::{param_specs, GanConfig, GanDefaults};
    let specs = param_specs(&GanDefaults::default());
    let pacgan = crate::common::trial(
        &specs,
        &[
            "latent_dim=2",
            "g_hidden=400",
            "g_layers=4",
            "g_batch_norm=true",
            "d_hidden=200",
            "d_layers=3",
            "d_activation=maxout",
            "init_std=0.02",
            "pac=2",
        ],
        0,
    );
    let c = GanConfig::from_params(&pacgan.params, &[2]).unwrap();
    let (g, d) = (c.generator_mlp(), c.discriminator_mlp());
    assert_eq!(
        (g.input, g.hidden.as_slice(), g.output),
        (2, &[400; 4][..], 2)
    );
    assert!(g.batch_norm && g.maxout == 0 && g.init_std == 0.02);
    assert_eq!(
        (d.input, d.hidden.as_slice(), d.output),
        (4, &[200; 3][..], 1)
    );
    assert!(!d.batch_norm && d.maxout == 5 && d.activation == Activation::Identity);

    // Declared but left at their defaults, the new parameters change nothing.
    let plain = crate::common::trial(&specs, &[], 0);
    let c = GanConfig::from_params(&plain.params, &[2]).unwrap();
    let (g, d) = (c.generator_mlp(), c.discriminator_mlp());
    assert_eq!(g.hidden, [256, 256]);
    assert_eq!(d.hidden, [256, 256]);
    assert!(!g.batch_norm && d.maxout == 0 && g.init_std == 0.0 && d.init_std == 0.0);
    assert_eq!(d.activation, Activation::LeakyRelu(0.2));
    // Only one of width and depth given: the other comes from `hidden` / `layers`.
    let half = crate::common::trial(&specs, &["hidden=64", "d_layers=3"], 0);
    let c = GanConfig::from_params(&half.params, &[2]).unwrap();
    assert_eq!(c.discriminator_mlp().hidden, [64, 64, 64]);
    assert_eq!(c.generator_mlp().hidden, [64, 64]);
}
