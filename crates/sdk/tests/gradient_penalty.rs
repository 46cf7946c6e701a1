//! The gradient penalty's gradient with respect to the critic's weights, against central finite
//! differences in f64, for an MLP critic and a small conv critic.

use candle_core::{DType, Device, Module, ModuleT, Result, Tensor, Var};
use candle_nn::Conv2dConfig;
use ganbench_sdk::gp::{check_double_backward, gradient_penalty};
use ganbench_sdk::nn::{conv2d, leaky_relu, linear};
use ganbench_sdk::{Activation, Mlp, MlpConfig, SeededRng, Vars};

const LAMBDA: f64 = 10.0;

/// max over parameters of ‖fd − analytic‖ / ‖analytic‖, where `penalty` evaluates the penalty
/// with fixed interpolation factors.
fn fd_relative_error(vars: &Vars, penalty: &dyn Fn() -> Result<Tensor>) -> f64 {
    let p = penalty().unwrap();
    let grads = p.backward().unwrap();
    let h = 1e-6;
    let mut worst = 0f64;
    for (name, var) in vars.params() {
        // A piecewise-linear critic's input gradient does not depend on the biases (only through
        // the locally constant activation pattern): candle then has no gradient entry, i.e. zero.
        let analytic = match grads.get(var.as_tensor()) {
            Some(g) => g.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
            None => vec![0.0; var.elem_count()],
        };
        let base = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let shape = var.shape().clone();
        let mut fd = Vec::with_capacity(base.len());
        for i in 0..base.len() {
            let eval = |delta: f64| {
                let mut w = base.clone();
                w[i] += delta;
                var.set(&Tensor::from_vec(w, shape.clone(), &Device::Cpu).unwrap())
                    .unwrap();
                penalty().unwrap().to_scalar::<f64>().unwrap()
            };
            fd.push((eval(h) - eval(-h)) / (2.0 * h));
        }
        var.set(&Tensor::from_vec(base, shape, &Device::Cpu).unwrap())
            .unwrap();
        let diff = fd
            .iter()
            .zip(&analytic)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm = analytic.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm == 0.0 {
            let fd_max = fd.iter().fold(0f64, |m, x| m.max(x.abs()));
            eprintln!("{name}: no gradient; finite differences at most {fd_max:.1e}");
            assert!(
                fd_max < 1e-8,
                "{name}: finite differences {fd_max}, but no analytic gradient"
            );
            continue;
        }
        let rel = diff / norm;
        eprintln!("{name}: relative error {rel:.2e} (gradient norm {norm:.3e})");
        worst = worst.max(rel);
    }
    worst
}

fn random(rng: &mut SeededRng, shape: &[usize], scale: f64) -> Tensor {
    (rng.normal(shape, &Device::Cpu)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        * scale)
        .unwrap()
}

#[test]
fn mlp_critic_penalty_gradient_matches_finite_differences() {
    let vars = Vars::new(DType::F64, &Device::Cpu);
    let cfg = MlpConfig {
        input: 3,
        hidden: vec![16, 16],
        output: 1,
        activation: Activation::LeakyRelu(0.2),
        output_activation: Activation::Identity,
        spectral_norm: false,
    };
    let mut rng = SeededRng::new(11);
    let critic = Mlp::new(&cfg, &vars, &mut rng).unwrap();
    let real = random(&mut rng, &[8, 3], 1.0);
    let fake = random(&mut rng, &[8, 3], 2.0);
    let penalty = || {
        // The same interpolation factors for every evaluation.
        let mut r = SeededRng::new(5);
        gradient_penalty(
            |x: &Tensor| critic.forward_t(x, true),
            &real,
            &fake,
            &mut r,
            LAMBDA,
        )
    };
    let err = fd_relative_error(&vars, &penalty);
    eprintln!("MLP critic: worst relative error {err:.2e}");
    assert!(err < 1e-5, "{err}");
}

#[test]
fn spectral_norm_mlp_critic_penalty_gradient_matches_finite_differences() {
    // With train = false the stored u, v are constants, so the penalty is a function of W alone.
    let vars = Vars::new(DType::F64, &Device::Cpu);
    let cfg = MlpConfig {
        input: 2,
        hidden: vec![8],
        output: 1,
        activation: Activation::LeakyRelu(0.2),
        output_activation: Activation::Identity,
        spectral_norm: true,
    };
    let mut rng = SeededRng::new(3);
    let critic = Mlp::new(&cfg, &vars, &mut rng).unwrap();
    let real = random(&mut rng, &[6, 2], 1.0);
    let fake = random(&mut rng, &[6, 2], 1.0);
    let penalty = || {
        let mut r = SeededRng::new(9);
        gradient_penalty(
            |x: &Tensor| critic.forward_t(x, false),
            &real,
            &fake,
            &mut r,
            LAMBDA,
        )
    };
    let err = fd_relative_error(&vars, &penalty);
    eprintln!("spectral-norm MLP critic: worst relative error {err:.2e}");
    assert!(err < 1e-5, "{err}");
}

#[test]
fn conv_critic_penalty_gradient_matches_finite_differences() {
    let vars = Vars::new(DType::F64, &Device::Cpu);
    let mut rng = SeededRng::new(21);
    let cfg = Conv2dConfig {
        padding: 1,
        stride: 2,
        ..Default::default()
    };
    let conv = conv2d(&vars.pp("conv"), 1, 3, 3, cfg, &mut rng).unwrap();
    let fc = linear(&vars.pp("fc"), 3 * 3 * 3, 1, &mut rng).unwrap();
    let critic = |x: &Tensor| -> Result<Tensor> {
        fc.forward(&leaky_relu(&conv.forward(x)?, 0.2)?.flatten_from(1)?)
    };
    let real = random(&mut rng, &[4, 1, 6, 6], 1.0);
    let fake = random(&mut rng, &[4, 1, 6, 6], 1.0);
    let penalty = || {
        let mut r = SeededRng::new(1);
        gradient_penalty(critic, &real, &fake, &mut r, LAMBDA)
    };
    let err = fd_relative_error(&vars, &penalty);
    eprintln!("conv critic: worst relative error {err:.2e}");
    assert!(err < 1e-5, "{err}");
}

#[test]
fn interpolation_factors_come_from_the_generator() {
    let vars = Vars::new(DType::F32, &Device::Cpu);
    let w = vars
        .param("w", Tensor::new(&[[1f32], [2f32]], &Device::Cpu).unwrap())
        .unwrap();
    // D(x) = ‖x‖²: ∇ = 2x, so the penalty depends on where x̂ lies, hence on ε.
    let critic = |x: &Tensor| x.sqr()?.sum_keepdim(1)?.matmul(&w.narrow(0, 0, 1)?);
    let real = Tensor::new(&[[1f32, 0.], [0., 1.]], &Device::Cpu).unwrap();
    let fake = Tensor::new(&[[-1f32, 0.], [0., -3.]], &Device::Cpu).unwrap();
    let p = |seed| {
        gradient_penalty(critic, &real, &fake, &mut SeededRng::new(seed), 1.0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    assert_eq!(p(1), p(1));
    assert_ne!(p(1), p(2));
}

/// Run by `penalty_refuses_to_run_without_double_backward` in a child process without the
/// variable; ignored otherwise.
#[test]
#[ignore]
fn child_without_double_backward() {
    let err = check_double_backward().unwrap_err().to_string();
    assert!(err.contains("CANDLE_GRAD_DO_NOT_DETACH=1"), "{err}");
    let v = Var::new(1f32, &Device::Cpu).unwrap();
    let err = gradient_penalty(
        |x: &Tensor| x * v.as_tensor(),
        &v.as_tensor().reshape((1, 1)).unwrap(),
        &v.as_tensor().reshape((1, 1)).unwrap(),
        &mut SeededRng::new(0),
        1.0,
    );
    assert!(err.is_err());
}

#[test]
fn penalty_refuses_to_run_without_double_backward() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "child_without_double_backward",
            "--ignored",
            "--nocapture",
        ])
        .env_remove("CANDLE_GRAD_DO_NOT_DETACH")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}
