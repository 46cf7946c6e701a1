//! The gradient penalty's gradient with respect to the critic's weights, against central finite
//! differences in f64, for MLP critics, a small conv critic and the DCGAN critics (no
//! normalization, and spectral norm) on 1×28×28 images.

use crate::common::fd_relative_error;
use candle_core::{DType, Device, Module, ModuleT, Result, Tensor, Var};
use candle_nn::Conv2dConfig;
use ganbench_sdk::dcgan::{ConvDiscriminator, ConvDiscriminatorConfig, ConvInit, Normalization};
use ganbench_sdk::gp::{check_double_backward, gradient_penalty};
use ganbench_sdk::nn::{conv2d, leaky_relu, linear};
use ganbench_sdk::{Activation, ImageShape, Mlp, MlpConfig, SeededRng, Vars};

const LAMBDA: f64 = 10.0;

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
        minibatch_std: 0,
        ..Default::default()
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
        minibatch_std: 0,
        ..Default::default()
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

/// A DCGAN critic on 1×28×28 (1 → 2×14×14 → 4×7×7 → 1), in f64, with PyTorch's init so that
/// the penalty's gradient is far from zero.
fn dcgan_critic(
    normalization: Normalization,
    vars: &Vars,
    rng: &mut SeededRng,
) -> ConvDiscriminator {
    let config = ConvDiscriminatorConfig {
        image: ImageShape::from_data_shape(&[1, 28, 28]).unwrap(),
        channels: 2,
        normalization,
        activation: Activation::LeakyRelu(0.2),
        outputs: 1,
        init: ConvInit::PyTorch,
        minibatch_std: 0,
    };
    ConvDiscriminator::new(&config, vars, rng).unwrap()
}

#[test]
fn dcgan_critic_penalty_gradient_matches_finite_differences() {
    // The WGAN-GP critic: strided 4×4 convs without normalization (double backward runs through
    // conv2d's input gradient, a transposed convolution, and back).
    let vars = Vars::new(DType::F64, &Device::Cpu);
    let mut rng = SeededRng::new(31);
    let critic = dcgan_critic(Normalization::None, &vars, &mut rng);
    let real = random(&mut rng, &[3, 1, 28, 28], 1.0);
    let fake = random(&mut rng, &[3, 1, 28, 28], 0.5);
    let penalty = || {
        let mut r = SeededRng::new(2);
        gradient_penalty(
            |x: &Tensor| critic.forward_t(x, true),
            &real,
            &fake,
            &mut r,
            LAMBDA,
        )
    };
    let err = fd_relative_error(&vars, &penalty);
    eprintln!("DCGAN critic: worst relative error {err:.2e}");
    assert!(err < 1e-5, "{err}");
}

#[test]
fn spectral_norm_dcgan_critic_penalty_gradient_matches_finite_differences() {
    // With train = false the stored u, v are constants, so the penalty is a function of W alone.
    let vars = Vars::new(DType::F64, &Device::Cpu);
    let mut rng = SeededRng::new(32);
    let critic = dcgan_critic(Normalization::SpectralNorm, &vars, &mut rng);
    let real = random(&mut rng, &[2, 1, 28, 28], 1.0);
    let fake = random(&mut rng, &[2, 1, 28, 28], 1.0);
    let penalty = || {
        let mut r = SeededRng::new(4);
        gradient_penalty(
            |x: &Tensor| critic.forward_t(x, false),
            &real,
            &fake,
            &mut r,
            LAMBDA,
        )
    };
    let err = fd_relative_error(&vars, &penalty);
    eprintln!("spectral-norm DCGAN critic: worst relative error {err:.2e}");
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
/// variable (marked by `CHILD_MARKER`); ignored otherwise, and a no-op when the slow tier
/// (`--ignored`) runs it with the variable set.
#[test]
#[ignore = "a child process of penalty_refuses_to_run_without_double_backward"]
fn child_without_double_backward() {
    if std::env::var_os(CHILD_MARKER).is_none() {
        return;
    }
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

const CHILD_MARKER: &str = "GANBENCH_TEST_CHILD_WITHOUT_DOUBLE_BACKWARD";

#[test]
fn penalty_refuses_to_run_without_double_backward() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "gradient_penalty::child_without_double_backward",
            "--ignored",
            "--nocapture",
        ])
        .env_remove("CANDLE_GRAD_DO_NOT_DETACH")
        .env(CHILD_MARKER, "1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}
