//! The VAE-GAN's losses (Larsen et al. 2016) against independent references: the KL term against
//! the closed form of two Gaussians' KL, every term against a hand computation on tiny networks
//! with fixed weights, gradients against central finite differences in f64 (the encoder's
//! gradient of L_llike through the reparameterization, the decoder's loss), and the trainer's
//! gradient routing (each network gets its own loss's gradient, computed at the same weights).
//! Determinism and resume equality are in trainers.rs (the `vae-gan` variant).

use candle_core::{DType, Device, ModuleT, Tensor};
use ganbench_sdk::plugin_api::{Batch, Trainer};
use ganbench_sdk::vae_gan::{self, losses, VaeGanNets};
use ganbench_sdk::{Activation, FeatureNetwork, Mlp, MlpConfig, SeededRng, VaeGanTrainer, Vars};

use crate::common::{fd_relative_error, ring8, trial};

fn mlp(input: usize, hidden: &[usize], output: usize, activation: Activation) -> MlpConfig {
    MlpConfig {
        input,
        hidden: hidden.to_vec(),
        output,
        activation,
        output_activation: Activation::Identity,
        spectral_norm: false,
        minibatch_std: 0,
        ..Default::default()
    }
}

fn f64_tensor(values: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape, &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_vec1::<f64>().unwrap()
}

/// The losses as a candle result (what [`fd_relative_error`] takes).
fn terms(
    nets: &VaeGanNets<'_>,
    x: &Tensor,
    eps: &Tensor,
    z_p: &Tensor,
) -> candle_core::Result<vae_gan::VaeGanLosses> {
    losses(nets, x, eps, z_p, true).map_err(|e| candle_core::Error::Msg(e.to_string()))
}

fn scalar(t: &Tensor) -> f64 {
    t.to_scalar::<f64>().unwrap()
}

/// Sets every parameter of `vars` (sorted by name: `fcN.bias` before `fcN.weight`) to the next
/// values of `next`.
fn set_weights(vars: &Vars, next: &mut impl Iterator<Item = f64>) {
    let mut params = vars.params();
    params.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, v) in params {
        let w: Vec<f64> = next.by_ref().take(v.elem_count()).collect();
        v.set(&Tensor::from_vec(w, v.shape().clone(), &Device::Cpu).unwrap())
            .unwrap();
    }
}

/// The weights of one `in → out` layer as plain numbers: (bias, row-major weight `out × in`).
fn layer(vars: &Vars, name: &str) -> (Vec<f64>, Vec<Vec<f64>>) {
    let params = vars.params();
    let get = |n: &str| {
        params
            .iter()
            .find(|(k, _)| k == n)
            .unwrap_or_else(|| panic!("no {n}"))
            .1
            .as_tensor()
            .to_vec2::<f64>()
    };
    let bias = params
        .iter()
        .find(|(k, _)| *k == format!("{name}.bias"))
        .unwrap()
        .1
        .as_tensor()
        .to_vec1::<f64>()
        .unwrap();
    (bias, get(&format!("{name}.weight")).unwrap())
}

fn affine(x: &[f64], (b, w): &(Vec<f64>, Vec<Vec<f64>>)) -> Vec<f64> {
    w.iter()
        .zip(b)
        .map(|(row, b)| b + row.iter().zip(x).map(|(a, c)| a * c).sum::<f64>())
        .collect()
}

/// log(1 + eˣ), the BCE of a logit against target 0.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Tiny f64 networks: encoder 2→3→(μ, log σ²) of 2 latents, decoder 2→3→2, discriminator
/// 2→4→3→1 (features of layer 1 or 2), with weights from a fixed sequence.
struct Tiny {
    enc_vars: Vars,
    dec_vars: Vars,
    d_vars: Vars,
    enc: Mlp,
    dec: Mlp,
    dis: Mlp,
}

impl Tiny {
    fn new(act: Activation, d_act: Activation) -> Self {
        let dev = Device::Cpu;
        let (enc_vars, dec_vars, d_vars) = (
            Vars::new(DType::F64, &dev),
            Vars::new(DType::F64, &dev),
            Vars::new(DType::F64, &dev),
        );
        let rng = &mut SeededRng::new(3);
        let enc = Mlp::new(&mlp(2, &[3], 4, act), &enc_vars, rng).unwrap();
        let dec = Mlp::new(&mlp(2, &[3], 2, act), &dec_vars, rng).unwrap();
        let dis = Mlp::new(&mlp(2, &[4, 3], 1, d_act), &d_vars, rng).unwrap();
        // Fixed, varied weights of both signs in [-0.9, 0.9] (no activation sits at its kink).
        let mut next =
            (0..).map(|i: i32| 0.9 * ((i * 37 % 19) as f64 / 9.0 - 1.0) + 0.013 * i as f64 % 0.1);
        for v in [&enc_vars, &dec_vars, &d_vars] {
            set_weights(v, &mut next);
        }
        Self {
            enc_vars,
            dec_vars,
            d_vars,
            enc,
            dec,
            dis,
        }
    }

    fn nets(&self, feature_layer: usize) -> VaeGanNets<'_> {
        VaeGanNets {
            encoder: &self.enc,
            decoder: &self.dec,
            discriminator: &self.dis,
            latent_dim: 2,
            feature_layer,
        }
    }
}

/// Three examples, their reparameterization noise and their prior latents.
fn inputs() -> (Tensor, Tensor, Tensor) {
    (
        f64_tensor(&[0.5, -1.2, 1.7, 0.3, -0.4, -0.8], &[3, 2]),
        f64_tensor(&[0.3, -1.1, 0.8, 0.05, -0.6, 1.4], &[3, 2]),
        f64_tensor(&[-0.7, 0.2, 1.3, -0.9, 0.4, 0.6], &[3, 2]),
    )
}

#[test]
fn kl_term_equals_the_closed_form_kl_of_two_gaussians() {
    let tiny = Tiny::new(Activation::Tanh, Activation::LeakyRelu(0.2));
    let (x, eps, z_p) = inputs();
    let l = losses(&tiny.nets(2), &x, &eps, &z_p, true).unwrap();
    // KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²)) = log(σ₂/σ₁) + (σ₁² + (μ₁ − μ₂)²) / (2σ₂²) − ½ per dimension,
    // with (μ₂, σ₂) = (0, 1), from the encoder's outputs.
    let h = tiny
        .enc
        .forward_t(&x, false)
        .unwrap()
        .to_vec2::<f64>()
        .unwrap();
    let kl_pair = |m1: f64, s1: f64, m2: f64, s2: f64| {
        (s2 / s1).ln() + (s1 * s1 + (m1 - m2).powi(2)) / (2.0 * s2 * s2) - 0.5
    };
    let expected = h
        .iter()
        .map(|r| {
            (0..2)
                .map(|j| kl_pair(r[j], (0.5 * r[2 + j]).exp(), 0.0, 1.0))
                .sum::<f64>()
        })
        .sum::<f64>()
        / 3.0;
    let got = scalar(&l.kl);
    assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    assert!(expected > 0.01, "a KL that tests nothing: {expected}");
}

#[test]
fn every_loss_term_matches_a_hand_computation() {
    for feature_layer in [1, 2] {
        let tiny = Tiny::new(Activation::Relu, Activation::LeakyRelu(0.2));
        let (x, eps, z_p) = inputs();
        let l = losses(&tiny.nets(feature_layer), &x, &eps, &z_p, true).unwrap();

        let relu = |v: Vec<f64>| v.into_iter().map(|a| a.max(0.0)).collect::<Vec<_>>();
        let leaky = |v: Vec<f64>| {
            v.into_iter()
                .map(|a| if a > 0.0 { a } else { 0.2 * a })
                .collect::<Vec<_>>()
        };
        let (e0, e1) = (layer(&tiny.enc_vars, "fc0"), layer(&tiny.enc_vars, "fc1"));
        let (g0, g1) = (layer(&tiny.dec_vars, "fc0"), layer(&tiny.dec_vars, "fc1"));
        let d = [0, 1, 2].map(|i| layer(&tiny.d_vars, &format!("fc{i}")));
        let encode = |x: &[f64]| affine(&relu(affine(x, &e0)), &e1);
        let decode = |z: &[f64]| affine(&relu(affine(z, &g0)), &g1);
        // (features of layer `feature_layer`, logit)
        let judge = |x: &[f64]| {
            let h1 = leaky(affine(x, &d[0]));
            let h2 = leaky(affine(&h1, &d[1]));
            let logit = affine(&h2, &d[2])[0];
            (if feature_layer == 1 { h1 } else { h2 }, logit)
        };
        let (xs, es, zs) = (
            x.to_vec2::<f64>().unwrap(),
            eps.to_vec2::<f64>().unwrap(),
            z_p.to_vec2::<f64>().unwrap(),
        );
        let (mut kl, mut llike, mut loss_d, mut loss_g, mut mse) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let (mut real_sum, mut fake_sum) = (0.0, 0.0);
        for i in 0..3 {
            let h = encode(&xs[i]);
            let z: Vec<f64> = (0..2)
                .map(|j| h[j] + (0.5 * h[2 + j]).exp() * es[i][j])
                .collect();
            kl += (0..2)
                .map(|j| 0.5 * (h[2 + j].exp() + h[j] * h[j] - h[2 + j] - 1.0))
                .sum::<f64>();
            let x_tilde = decode(&z);
            let x_p = decode(&zs[i]);
            let (f_x, l_x) = judge(&xs[i]);
            let (f_t, l_t) = judge(&x_tilde);
            let (_, l_p) = judge(&x_p);
            llike += 0.5
                * f_x
                    .iter()
                    .zip(&f_t)
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>();
            // −log σ(l) = softplus(−l); −log(1 − σ(l)) = softplus(l).
            loss_d += softplus(-l_x) + softplus(l_t) + softplus(l_p);
            loss_g += softplus(-l_t) + softplus(-l_p);
            mse += xs[i]
                .iter()
                .zip(&x_tilde)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                / 2.0;
            real_sum += l_x;
            fake_sum += l_t + l_p;
        }
        let close = |name: &str, got: &Tensor, want: f64| {
            let got = scalar(got);
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                "layer {feature_layer}, {name}: {got} vs {want}"
            );
        };
        close("kl", &l.kl, kl / 3.0);
        close(
            "feature_reconstruction",
            &l.feature_reconstruction,
            llike / 3.0,
        );
        close("loss_d", &l.loss_d, loss_d / 3.0);
        close("loss_g", &l.loss_g, loss_g / 3.0);
        close("mse", &l.mse, mse / 3.0);
        close("d_real", &l.d_real, real_sum / 3.0);
        close("d_fake", &l.d_fake, fake_sum / 6.0);
        assert!(
            llike > 1e-3,
            "layer {feature_layer}: a reconstruction loss that tests nothing"
        );
    }
}

#[test]
fn the_encoders_gradient_of_the_feature_loss_flows_through_the_reparameterization() {
    let tiny = Tiny::new(Activation::Tanh, Activation::Tanh);
    let (x, eps, z_p) = inputs();
    let llike = || terms(&tiny.nets(1), &x, &eps, &z_p).map(|l| l.feature_reconstruction);
    let err = fd_relative_error(&tiny.enc_vars, &llike);
    assert!(err < 1e-6, "encoder: {err}");
    // The log-variance head's weights get a gradient only through σ·ε.
    let grads = llike().unwrap().backward().unwrap();
    let (_, w) = tiny
        .enc_vars
        .params()
        .into_iter()
        .find(|(k, _)| k == "fc1.weight")
        .unwrap();
    let g = grads.get(w.as_tensor()).unwrap().to_vec2::<f64>().unwrap();
    let log_var_rows: f64 = g[2..].iter().flatten().map(|v| v.abs()).sum();
    assert!(log_var_rows > 1e-4, "no gradient reaches log σ²: {g:?}");
    // With ε = 0 it vanishes: the path is the reparameterization's.
    let zero = Tensor::zeros((3, 2), DType::F64, &Device::Cpu).unwrap();
    let l0 = losses(&tiny.nets(1), &x, &zero, &z_p, true).unwrap();
    let g0 = l0.feature_reconstruction.backward().unwrap();
    let g0 = g0.get(w.as_tensor()).unwrap().to_vec2::<f64>().unwrap();
    assert_eq!(g0[2..].iter().flatten().map(|v| v.abs()).sum::<f64>(), 0.0);
}

#[test]
fn decoder_and_discriminator_losses_match_finite_differences() {
    let tiny = Tiny::new(Activation::Tanh, Activation::Tanh);
    let (x, eps, z_p) = inputs();
    let gamma = 0.3;
    let dec_loss = || {
        let l = terms(&tiny.nets(2), &x, &eps, &z_p)?;
        (l.feature_reconstruction * gamma)? + l.loss_g
    };
    let err = fd_relative_error(&tiny.dec_vars, &dec_loss);
    assert!(err < 1e-6, "decoder: {err}");
    let d_loss = || terms(&tiny.nets(2), &x, &eps, &z_p).map(|l| l.loss_d);
    let err = fd_relative_error(&tiny.d_vars, &d_loss);
    assert!(err < 1e-6, "discriminator: {err}");
}

#[test]
fn feature_layers_outside_the_network_are_refused() {
    let tiny = Tiny::new(Activation::Relu, Activation::Relu);
    let x = f64_tensor(&[0.0, 1.0], &[1, 2]);
    for layer in [0, 3] {
        let err = tiny
            .dis
            .forward_features(&x, layer, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("hidden layers 1 to 2"), "{err}");
    }
    // The output is the network's own.
    let (_, out) = tiny.dis.forward_features(&x, 1, false).unwrap();
    assert_eq!(
        values(&out),
        values(&tiny.dis.forward_t(&x, false).unwrap())
    );
}

/// The trainer's three gradient stores against plain backward passes of each network's loss:
/// skipping other networks' weight gradients and detaching the fakes for the discriminator
/// change nothing, and the GAN term never reaches the encoder.
#[test]
fn each_network_gets_the_gradient_of_its_own_loss() {
    let specs = vae_gan::param_specs();
    let set = [
        "hidden=16",
        "batch_size=8",
        "latent_dim=3",
        "beta=0.7",
        "gamma=0.2",
    ];
    let t = VaeGanTrainer::from_trial(&trial(&specs, &set, 5)).unwrap();
    let mut rng = SeededRng::new(1);
    let x = Tensor::from_vec(ring8(&mut rng, 8), (8, 2), &Device::Cpu).unwrap();
    let eps = rng.normal((8, 3), &Device::Cpu).unwrap();
    let z_p = rng.normal((8, 3), &Device::Cpu).unwrap();
    let ([enc, dec, dis], _) = t.gradients(&x, &eps, &z_p).unwrap();
    let l = losses(&t.nets(), &x, &eps, &z_p, true).unwrap();
    let enc_loss = ((&l.kl * 0.7).unwrap() + &l.feature_reconstruction).unwrap();
    let dec_loss = ((&l.feature_reconstruction * 0.2).unwrap() + &l.loss_g).unwrap();
    let with_gan = (&enc_loss + &l.loss_g).unwrap();
    let [e, g, d] = t.vars();
    let pairs = [
        (e, enc, enc_loss.backward().unwrap()),
        (g, dec, dec_loss.backward().unwrap()),
        (d, dis, l.loss_d.backward().unwrap()),
    ];
    for (vars, got, want) in &pairs {
        for (name, v) in vars.params() {
            let a = got.get(v.as_tensor()).unwrap().flatten_all().unwrap();
            let b = want.get(v.as_tensor()).unwrap().flatten_all().unwrap();
            let (a, b) = (a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
            let scale = b.iter().fold(1e-6f32, |m, x| m.max(x.abs()));
            let diff = a
                .iter()
                .zip(&b)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(diff <= 1e-5 * scale, "{name}: {diff} (scale {scale})");
        }
    }
    // Had the GAN term reached the encoder, its gradient would differ.
    let other = with_gan.backward().unwrap();
    let (_, w) = e.params().into_iter().next().unwrap();
    assert_ne!(
        values(
            &pairs[0]
                .1
                .get(w.as_tensor())
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap()
        ),
        values(
            &other
                .get(w.as_tensor())
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap()
        )
    );
}

#[test]
fn metrics_report_both_sides_and_parameters_are_checked() {
    let specs = vae_gan::param_specs();
    let mut t =
        VaeGanTrainer::from_trial(&trial(&specs, &["hidden=16", "batch_size=8"], 0)).unwrap();
    let data = ring8(&mut SeededRng::new(2), 8);
    let m = t
        .train_step(Batch {
            data: &data,
            shape: &[8, 2],
        })
        .unwrap();
    let names: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "loss_d",
            "loss_g",
            "d_real",
            "d_fake",
            "loss_enc",
            "train_kl",
            "train_feature_reconstruction"
        ]
    );
    let e = t
        .evaluate(Batch {
            data: &data,
            shape: &[8, 2],
        })
        .unwrap();
    let names: Vec<&str> = e.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["kl", "mse", "feature_reconstruction"]);
    let r = t
        .reconstruct(Batch {
            data: &data,
            shape: &[8, 2],
        })
        .unwrap()
        .unwrap();
    assert_eq!(r.shape, [8, 2]);
    let arch = t.describe().architecture;
    assert!(
        arch.contains("reconstruction in D's hidden layer 2") && arch.contains("γ 0.1"),
        "{arch}"
    );
    let err = VaeGanTrainer::from_trial(&trial(&specs, &["layers=2", "feature_layer=3"], 0))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("`feature_layer = 3`") && err.contains("1 to 2"),
        "{err}"
    );
}

#[test]
fn conv_vae_gan_trains_every_network_on_images() {
    let specs = vae_gan::param_specs();
    let set = ["arch=Dcgan", "channels=4", "batch_size=4", "latent_dim=4"];
    let mut t =
        VaeGanTrainer::from_trial(&crate::common::image_trial(&specs, &set, 1, &[1, 28, 28]))
            .unwrap();
    let arch = t.describe().architecture;
    assert!(
        arch.contains("D: DCGAN 1×28×28→4×14×14→8×7×7→1 (leaky_relu(0.2), no normalization)")
            && arch.contains("hidden layer 2"),
        "{arch}"
    );
    let before: Vec<Vec<f32>> = t
        .vars()
        .iter()
        .flat_map(|v| v.params())
        .map(|(_, v)| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect();
    let data = SeededRng::new(4).uniform_vec(4 * 784, -1.0, 1.0);
    let m = t
        .train_step(Batch {
            data: &data,
            shape: &[4, 1, 28, 28],
        })
        .unwrap();
    assert!(m.iter().all(|(_, v)| v.is_finite()), "{m:?}");
    let after: Vec<Vec<f32>> = t
        .vars()
        .iter()
        .flat_map(|v| v.params())
        .map(|(_, v)| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect();
    let unchanged = before.iter().zip(&after).filter(|(a, b)| a == b).count();
    assert_eq!(unchanged, 0, "parameters not trained");
    let s = t.sample(3, 0).unwrap();
    assert_eq!(s.shape, [3, 1, 28, 28]);
    assert!(
        s.data.iter().all(|v| (-1.0..=1.0).contains(v)),
        "tanh output"
    );
}
