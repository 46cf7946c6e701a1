//! The stability fixes' building blocks against independent references: the new penalties (R1,
//! R2, DRAGAN, bCR) against closed forms and f64 finite differences, packing against an explicit
//! construction, the minibatch standard deviation against explicit loops, the generator average
//! against its recurrence, and DiffAugment's operations against explicit index arithmetic.

use crate::common::fd_relative_error;
use candle_core::{DType, Device, Module, ModuleT, Tensor, Var};
use ganbench_sdk::augment::{self, ConsistencyRegularization, Policy};
use ganbench_sdk::ema::{Ema, EmaConfig};
use ganbench_sdk::fixes::pack;
use ganbench_sdk::gan::Regularizer;
use ganbench_sdk::gp::{dragan_penalty, zero_centred_penalty};
use ganbench_sdk::nn::{linear, minibatch_stddev};
use ganbench_sdk::{Activation, Mlp, MlpConfig, SeededRng, Vars};

fn random(rng: &mut SeededRng, shape: &[usize], scale: f64) -> Tensor {
    (rng.normal(shape, &Device::Cpu)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        * scale)
        .unwrap()
}

fn vec_of(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// An f64 MLP critic `input` → 16 → 16 → 1 with leaky ReLUs, and its variables.
fn mlp_critic(seed: u64, input: usize, minibatch_std: usize) -> (Vars, Mlp) {
    let vars = Vars::new(DType::F64, &Device::Cpu);
    let cfg = MlpConfig {
        input,
        hidden: vec![16, 16],
        output: 1,
        activation: Activation::LeakyRelu(0.2),
        output_activation: Activation::Identity,
        spectral_norm: false,
        minibatch_std,
        ..Default::default()
    };
    let critic = Mlp::new(&cfg, &vars, &mut SeededRng::new(seed)).unwrap();
    (vars, critic)
}

#[test]
fn r1_r2_and_dragan_on_a_linear_critic_equal_their_closed_forms() {
    // D(x) = w·x + b has ∇ₓD = w everywhere: R1 = R2 = (γ/2)‖w‖², DRAGAN = λ(‖w‖ − 1)².
    let vars = Vars::new(DType::F64, &Device::Cpu);
    let mut rng = SeededRng::new(4);
    let d = linear(&vars, 3, 1, &mut rng).unwrap();
    let w = vec_of(d.weight());
    let norm_sq: f64 = w.iter().map(|x| x * x).sum();
    let x = random(&mut rng, &[5, 3], 1.0);
    let critic = |x: &Tensor| d.forward(x);
    let r1 = vec_of(&zero_centred_penalty(critic, &x, 10.0).unwrap())[0];
    assert!((r1 - 5.0 * norm_sq).abs() < 1e-12, "{r1}");
    let dragan = vec_of(&dragan_penalty(critic, &x, &mut rng, 10.0, 0.5).unwrap())[0];
    let want = 10.0 * (norm_sq.sqrt() - 1.0).powi(2);
    assert!((dragan - want).abs() < 1e-9, "{dragan} vs {want}");
}

#[test]
fn r1_gradient_matches_finite_differences() {
    let (vars, critic) = mlp_critic(11, 3, 0);
    let real = random(&mut SeededRng::new(2), &[8, 3], 1.0);
    let penalty = || zero_centred_penalty(|x: &Tensor| critic.forward_t(x, true), &real, 10.0);
    let err = fd_relative_error(&vars, &penalty);
    eprintln!("R1: worst relative error {err:.2e}");
    assert!(err < 1e-5, "{err}");
}

#[test]
fn dragan_gradient_matches_finite_differences_and_perturbs_as_documented() {
    let (vars, critic) = mlp_critic(12, 3, 0);
    let real = random(&mut SeededRng::new(3), &[8, 3], 1.0);
    let penalty = || {
        // The same perturbations for every evaluation.
        let mut r = SeededRng::new(8);
        dragan_penalty(
            |x: &Tensor| critic.forward_t(x, true),
            &real,
            &mut r,
            10.0,
            0.5,
        )
    };
    let err = fd_relative_error(&vars, &penalty);
    eprintln!("DRAGAN: worst relative error {err:.2e}");
    assert!(err < 1e-5, "{err}");

    // The points it evaluates: x + α·c·std(x)·u, recorded through a critic that remembers them.
    let seen = std::cell::RefCell::new(None);
    let recording = |x: &Tensor| {
        *seen.borrow_mut() = Some(x.detach());
        x.sum_keepdim(1)
    };
    dragan_penalty(recording, &real, &mut SeededRng::new(8), 10.0, 0.5).unwrap();
    let points = vec_of(seen.borrow().as_ref().unwrap());
    let x = vec_of(&real);
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let std = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
    let mut r = SeededRng::new(8);
    let u = r.uniform_vec(x.len(), 0.0, 1.0);
    let alpha = r.uniform_vec(8, 0.0, 1.0);
    for (i, (&p, &xi)) in points.iter().zip(&x).enumerate() {
        let want = xi + alpha[i / 3] as f64 * (0.5 * std * u[i] as f64);
        assert!((p - want).abs() < 1e-6, "{i}: {p} vs {want}");
    }
}

#[test]
fn r2_and_bcr_gradients_match_finite_differences() {
    let (vars, critic) = mlp_critic(13, 16, 0);
    let mut rng = SeededRng::new(5);
    let real = random(&mut rng, &[4, 1, 4, 4], 1.0);
    let fake = random(&mut rng, &[4, 1, 4, 4], 1.0);
    let r2 = || zero_centred_penalty(|x: &Tensor| critic.forward_t(x, true), &fake, 10.0);
    let err = fd_relative_error(&vars, &r2);
    eprintln!("R2: worst relative error {err:.2e}");
    assert!(err < 1e-5, "{err}");
    let bcr = ConsistencyRegularization {
        lambda_real: 10.0,
        lambda_fake: 5.0,
    };
    let penalty = || {
        let mut r = SeededRng::new(6);
        bcr.critic_penalty(
            &|x: &Tensor| critic.forward_t(x, true),
            &real,
            &fake,
            &mut r,
        )
    };
    let err = fd_relative_error(&vars, &penalty);
    eprintln!("bCR: worst relative error {err:.2e}");
    assert!(err < 1e-5, "{err}");
}

#[test]
fn bcr_is_the_squared_logit_change_under_its_augmentation() {
    let (_, critic) = mlp_critic(14, 16, 0);
    let mut rng = SeededRng::new(7);
    let real = random(&mut rng, &[3, 1, 4, 4], 1.0);
    let fake = random(&mut rng, &[3, 1, 4, 4], 1.0);
    let critic = |x: &Tensor| critic.forward_t(x, true);
    let bcr = ConsistencyRegularization {
        lambda_real: 10.0,
        lambda_fake: 5.0,
    };
    let got = vec_of(
        &bcr.critic_penalty(&critic, &real, &fake, &mut SeededRng::new(1))
            .unwrap(),
    )[0];
    // The same augmentation draws, real batch first.
    let mut r = SeededRng::new(1);
    let term = |x: &Tensor, r: &mut SeededRng| {
        let a = vec_of(&critic(x).unwrap());
        let b = vec_of(&critic(&augment::flip_and_shift(x, r).unwrap()).unwrap());
        a.iter().zip(&b).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / a.len() as f64
    };
    let want = 10.0 * term(&real, &mut r) + 5.0 * term(&fake, &mut r);
    assert!((got - want).abs() < 1e-9 * want.max(1.0), "{got} vs {want}");
    assert!(want > 0.0);
}

#[test]
fn packing_concatenates_consecutive_samples() {
    let x = Tensor::arange(0f32, 24.0, &Device::Cpu)
        .unwrap()
        .reshape((6, 4))
        .unwrap();
    let packed = pack(&x, 3).unwrap();
    assert_eq!(packed.dims(), [2, 12]);
    let rows = x.to_vec2::<f32>().unwrap();
    let explicit: Vec<Vec<f32>> = (0..2)
        .map(|i| (0..3).flat_map(|k| rows[3 * i + k].clone()).collect())
        .collect();
    assert_eq!(packed.to_vec2::<f32>().unwrap(), explicit);
    // Images: m samples of C channels become one of m·C channels, in sample order.
    let images = Tensor::arange(0f32, 4.0 * 2.0 * 9.0, &Device::Cpu)
        .unwrap()
        .reshape((4, 2, 3, 3))
        .unwrap();
    let packed = pack(&images, 2).unwrap();
    assert_eq!(packed.dims(), [2, 4, 3, 3]);
    for i in 0..2 {
        for k in 0..2 {
            for c in 0..2 {
                let want = images.get(2 * i + k).unwrap().get(c).unwrap();
                let got = packed.get(i).unwrap().get(2 * k + c).unwrap();
                assert_eq!(
                    got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    want.flatten_all().unwrap().to_vec1::<f32>().unwrap()
                );
            }
        }
    }
    assert!(pack(&x, 4).is_err(), "6 rows do not pack by 4");
}

/// ProGAN's minibatch standard deviation by explicit loops: groups of rows j, j + m, j + 2m, …
fn mbstd_reference(x: &[f64], n: usize, features: usize, group: usize) -> Vec<f64> {
    let m = n / group;
    let mut per_group = vec![0.0; m];
    for (j, out) in per_group.iter_mut().enumerate() {
        let mut total = 0.0;
        for f in 0..features {
            let vals: Vec<f64> = (0..group).map(|k| x[(k * m + j) * features + f]).collect();
            let mean = vals.iter().sum::<f64>() / group as f64;
            let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / group as f64;
            total += (var + 1e-8).sqrt();
        }
        *out = total / features as f64;
    }
    (0..n).map(|i| per_group[i % m]).collect()
}

#[test]
fn minibatch_stddev_matches_explicit_loops_and_its_gradient_finite_differences() {
    let mut rng = SeededRng::new(9);
    // Rank 2: one extra column.
    let x = random(&mut rng, &[8, 3], 1.0);
    let y = minibatch_stddev(&x, 4).unwrap();
    assert_eq!(y.dims(), [8, 4]);
    let want = mbstd_reference(&vec_of(&x), 8, 3, 4);
    let rows = y.to_vec2::<f64>().unwrap();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(&row[..3], &vec_of(&x.get(i).unwrap())[..]);
        assert!((row[3] - want[i]).abs() < 1e-12, "{i}");
    }
    // Rank 4: one extra constant channel.
    let x = random(&mut rng, &[4, 2, 3, 3], 1.0);
    let y = minibatch_stddev(&x, 2).unwrap();
    assert_eq!(y.dims(), [4, 3, 3, 3]);
    let want = mbstd_reference(&vec_of(&x), 4, 18, 2);
    for (i, w) in want.iter().enumerate() {
        let map = vec_of(&y.get(i).unwrap().get(2).unwrap());
        assert!(map.iter().all(|v| (v - w).abs() < 1e-12), "{i}");
    }
    assert!(minibatch_stddev(&random(&mut rng, &[6, 2], 1.0), 4).is_err());

    // Through an MLP critic whose last layer reads it: gradients against finite differences.
    let (vars, critic) = mlp_critic(15, 3, 4);
    let x = random(&mut rng, &[8, 3], 1.0);
    let loss = || critic.forward_t(&x, true)?.sqr()?.sum_all();
    let err = fd_relative_error(&vars, &loss);
    eprintln!("minibatch std MLP: worst relative error {err:.2e}");
    assert!(err < 1e-5, "{err}");
}

#[test]
fn the_average_follows_its_recurrence_and_swaps_back_bit_for_bit() {
    let vars = Vars::new(DType::F32, &Device::Cpu);
    vars.param("w", Tensor::new(&[1f32, -2.0], &Device::Cpu).unwrap())
        .unwrap();
    let config = EmaConfig {
        decay: 0.9,
        start: 2,
    };
    let mut ema = Ema::new(vars.params(), config).unwrap();
    let set = |v: [f32; 2]| {
        vars.params()[0]
            .1
            .set(&Tensor::new(&v, &Device::Cpu).unwrap())
            .unwrap()
    };
    let trained = [
        [0.5f32, 1.0],
        [2.0, 0.0],
        [-1.0, 4.0],
        [3.0, 3.0],
        [0.25, -0.5],
    ];
    // θ̄₀ = θ₀; θ̄ₜ = θₜ for t ≤ start, then θ̄ₜ = β·θ̄ₜ₋₁ + (1 − β)·θₜ.
    let mut want = [1.0f64, -2.0];
    for (t, theta) in trained.iter().enumerate() {
        let step = t as u64 + 1;
        set(*theta);
        ema.update(step).unwrap();
        for (w, th) in want.iter_mut().zip(theta) {
            *w = if step <= config.start {
                *th as f64
            } else {
                0.9 * *w + 0.1 * *th as f64
            };
        }
        let got = vec_of(&ema.average()[0]);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-6, "step {step}: {got:?} vs {want:?}");
        }
    }
    // Inside swapped_in the parameter holds the average; afterwards the trained values, exactly.
    let before = vars.params()[0].1.as_tensor().to_vec1::<f32>().unwrap();
    let inside = ema
        .swapped_in(|| Ok(vars.params()[0].1.as_tensor().to_vec1::<f32>()?))
        .unwrap();
    assert_eq!(inside, ema.average()[0].to_vec1::<f32>().unwrap());
    assert_ne!(inside, before);
    assert_eq!(
        vars.params()[0].1.as_tensor().to_vec1::<f32>().unwrap(),
        before
    );
}

/// A (2, 2, 4, 5) batch with distinct values.
fn images() -> Tensor {
    Tensor::arange(1f32, 81.0, &Device::Cpu)
        .unwrap()
        .reshape((2, 2, 4, 5))
        .unwrap()
}

fn at(x: &[f32], (c, h, w): (usize, usize, usize), n: usize, ch: usize, i: usize, j: usize) -> f32 {
    x[((n * c + ch) * h + i) * w + j]
}

#[test]
fn translation_and_cutout_match_explicit_index_arithmetic() {
    let x = images();
    let src = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let dims = (2, 4, 5);
    let shifts = [(1i64, -2i64), (-3, 4)];
    let got = augment::translate(&x, &shifts)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let mut k = 0;
    for (n, &(di, dj)) in shifts.iter().enumerate().take(2) {
        for c in 0..2 {
            for i in 0..4i64 {
                for j in 0..5i64 {
                    let (si, sj) = (i + di, j + dj);
                    let want = if (0..4).contains(&si) && (0..5).contains(&sj) {
                        at(&src, dims, n, c, si as usize, sj as usize)
                    } else {
                        0.0
                    };
                    assert_eq!(got[k], want, "n {n} c {c} i {i} j {j}");
                    k += 1;
                }
            }
        }
    }
    // Cutout of a 2×3 rectangle centred at (0, 4) and (2, 1): rows c−1..c+1, columns c−1..c+2,
    // clipped at the borders.
    let got = augment::cutout(&x, &[(0, 4), (2, 1)], (2, 3))
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let mut k = 0;
    for (n, (ci, cj)) in [(0i64, 4i64), (2, 1)].into_iter().enumerate() {
        for c in 0..2 {
            for i in 0..4i64 {
                for j in 0..5i64 {
                    let cut = (ci - 1..ci + 1).contains(&i) && (cj - 1..cj + 2).contains(&j);
                    let want = if cut {
                        0.0
                    } else {
                        at(&src, dims, n, c, i as usize, j as usize)
                    };
                    assert_eq!(got[k], want, "n {n} c {c} i {i} j {j}");
                    k += 1;
                }
            }
        }
    }
}

#[test]
fn colour_operations_match_their_formulas() {
    let x = images();
    let src = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let dims = (2, 4, 5);
    let b = augment::brightness(&x, &[0.25, -0.5]).unwrap();
    let s = augment::saturation(&x, &[1.5, 0.0]).unwrap();
    let c = augment::contrast(&x, &[0.5, 1.25]).unwrap();
    let (b, s, c) = (vec_of(&b), vec_of(&s), vec_of(&c));
    let mut k = 0;
    for n in 0..2 {
        let image_mean = src[n * 40..(n + 1) * 40]
            .iter()
            .map(|&v| v as f64)
            .sum::<f64>()
            / 40.0;
        for ch in 0..2 {
            for i in 0..4 {
                for j in 0..5 {
                    let v = at(&src, dims, n, ch, i, j) as f64;
                    let pixel_mean = (0..2)
                        .map(|q| at(&src, dims, n, q, i, j) as f64)
                        .sum::<f64>()
                        / 2.0;
                    assert!((b[k] - (v + [0.25, -0.5][n])).abs() < 1e-5);
                    let sat = (v - pixel_mean) * [1.5, 0.0][n] + pixel_mean;
                    assert!((s[k] - sat).abs() < 1e-4, "{} vs {sat}", s[k]);
                    let con = (v - image_mean) * [0.5, 1.25][n] + image_mean;
                    assert!((c[k] - con).abs() < 1e-4, "{} vs {con}", c[k]);
                    k += 1;
                }
            }
        }
    }
}

#[test]
fn translation_passes_gradients_back_to_the_pixels_it_read() {
    // d/dx Σ w·translate(x) is Σ of w over the output pixels that read each input pixel.
    let x = Var::from_tensor(&images()).unwrap();
    let shifts = [(1i64, 1i64), (0, -2)];
    let w = Tensor::arange(0f32, 80.0, &Device::Cpu)
        .unwrap()
        .reshape((2, 2, 4, 5))
        .unwrap();
    let out = augment::translate(x.as_tensor(), &shifts).unwrap();
    let grads = (out * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let g = grads
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let wv = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let mut want = vec![0f32; 80];
    for (n, &(di, dj)) in shifts.iter().enumerate().take(2) {
        for c in 0..2 {
            for i in 0..4i64 {
                for j in 0..5i64 {
                    let (si, sj) = (i + di, j + dj);
                    if (0..4).contains(&si) && (0..5).contains(&sj) {
                        let out_k = ((n * 2 + c) * 4 + i as usize) * 5 + j as usize;
                        let in_k = ((n * 2 + c) * 4 + si as usize) * 5 + sj as usize;
                        want[in_k] += wv[out_k];
                    }
                }
            }
        }
    }
    assert_eq!(g, want);
}

#[test]
fn diff_augment_is_seeded_and_draws_its_documented_ranges() {
    let x = images();
    let policy = Policy::parse("color,translation,cutout").unwrap();
    assert_eq!(policy.name(), "color,translation,cutout");
    assert_eq!(Policy::parse("none"), Some(Policy::default()));
    assert_eq!(Policy::parse("colour"), None);
    let a = vec_of(&augment::diff_augment(&x, policy, &mut SeededRng::new(3)).unwrap());
    let b = vec_of(&augment::diff_augment(&x, policy, &mut SeededRng::new(3)).unwrap());
    let c = vec_of(&augment::diff_augment(&x, policy, &mut SeededRng::new(4)).unwrap());
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Translation alone on 16×16 images: shifts within ±2 (16 / 8), so every image keeps at
    // least its central 12×12 pixels, moved.
    let big = Tensor::ones((64, 1, 16, 16), DType::F32, &Device::Cpu).unwrap();
    let shifted = augment::diff_augment(
        &big,
        Policy::parse("translation").unwrap(),
        &mut SeededRng::new(1),
    )
    .unwrap()
    .flatten_from(1)
    .unwrap()
    .sum(1)
    .unwrap()
    .to_vec1::<f32>()
    .unwrap();
    assert!(shifted.iter().all(|&s| s >= 144.0), "{shifted:?}");
    assert!(shifted.iter().any(|&s| s < 256.0));
    // Cutout alone zeroes at most an 8×8 square (half the side), at least a quarter of it.
    let cut = augment::diff_augment(
        &big,
        Policy::parse("cutout").unwrap(),
        &mut SeededRng::new(2),
    )
    .unwrap()
    .flatten_from(1)
    .unwrap()
    .sum(1)
    .unwrap()
    .to_vec1::<f32>()
    .unwrap();
    assert!(
        cut.iter()
            .all(|&s| (256.0 - 64.0..=256.0 - 16.0).contains(&s)),
        "{cut:?}"
    );
}
