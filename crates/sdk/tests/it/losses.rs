//! Stable BCE against the naive formula, its behaviour at huge logits, and the GAN losses on
//! hand-computed values.

use candle_core::{Device, Tensor, Var};
use ganbench_sdk::loss::{self, bce_with_logits, bce_with_logits_elementwise, GanLoss};
use ganbench_sdk::SeededRng;

fn t(v: &[f32]) -> Tensor {
    Tensor::new(v, &Device::Cpu).unwrap()
}

fn naive_bce(x: f64, t: f64) -> f64 {
    let s = 1.0 / (1.0 + (-x).exp());
    -(t * s.ln() + (1.0 - t) * (1.0 - s).ln())
}

#[test]
fn stable_bce_equals_naive_where_finite() {
    let mut rng = SeededRng::new(0);
    // Beyond |x| ≈ 15 the naive form itself is inaccurate even in f64 (1 − σ(x) cancels), so
    // the comparison stays where it is a trustworthy reference; huge logits are tested below.
    let xs = rng.uniform_vec(2000, -15.0, 15.0);
    let targets: Vec<f32> = (0..xs.len()).map(|i| [0.0, 1.0, 0.3][i % 3]).collect();
    let ours = bce_with_logits_elementwise(&t(&xs), &t(&targets))
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let mut compared = 0;
    let mut worst = 0f64;
    for ((&x, &tt), &o) in xs.iter().zip(&targets).zip(&ours) {
        let naive = naive_bce(x as f64, tt as f64);
        if naive.is_finite() {
            let err = (naive - o as f64).abs() / naive.abs().max(1.0);
            worst = worst.max(err);
            compared += 1;
        }
    }
    eprintln!("stable vs naive BCE: {compared} finite cases, worst relative error {worst:.2e}");
    assert!(compared == 2000 && worst < 2e-6, "{compared} {worst}");
}

#[test]
fn stable_bce_is_finite_at_huge_logits() {
    let x = t(&[1e4, -1e4, 1e4, -1e4]);
    let targets = t(&[0.0, 1.0, 1.0, 0.0]);
    let v = bce_with_logits_elementwise(&x, &targets)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(v, vec![1e4, 1e4, 0.0, 0.0]);
    // Mean form, and its gradient σ(x) − t, stay finite too.
    let var = Var::new(&[1e4f32, -1e4], &Device::Cpu).unwrap();
    let l = bce_with_logits(var.as_tensor(), 1.0).unwrap();
    assert_eq!(l.to_scalar::<f32>().unwrap(), 5e3);
    let g = l
        .backward()
        .unwrap()
        .get(var.as_tensor())
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(g, vec![0.0, -0.5]);
}

#[test]
fn bce_gradient_is_sigmoid_minus_target() {
    let xs = [-3f32, -0.5, 0.0, 0.7, 4.0];
    let var = Var::new(&xs, &Device::Cpu).unwrap();
    let l = bce_with_logits(var.as_tensor(), 0.25).unwrap();
    let g = l
        .backward()
        .unwrap()
        .get(var.as_tensor())
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for (x, g) in xs.iter().zip(g) {
        let expected = (1.0 / (1.0 + (-x).exp()) - 0.25) / xs.len() as f32;
        assert!((g - expected).abs() < 1e-6, "{x}: {g} vs {expected}");
    }
}

fn value(l: candle_core::Result<Tensor>) -> f64 {
    l.unwrap().to_scalar::<f32>().unwrap() as f64
}

#[test]
fn gan_losses_match_hand_computed_values() {
    let (real, fake) = (t(&[2.0, -1.0]), t(&[0.5, -3.0]));
    let sp = |x: f64| (1.0 + x.exp()).ln();
    let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-6, "{a} vs {b}");

    let ns = loss::NonSaturating;
    close(
        value(ns.d_loss(&real, &fake)),
        (sp(-2.0) + sp(1.0)) / 2.0 + (sp(0.5) + sp(-3.0)) / 2.0,
    );
    close(value(ns.g_loss(&fake)), (sp(-0.5) + sp(3.0)) / 2.0);
    let mm = loss::Minimax;
    close(value(mm.g_loss(&fake)), -(sp(0.5) + sp(-3.0)) / 2.0);
    let hinge = loss::Hinge;
    close(
        value(hinge.d_loss(&real, &fake)),
        (0.0 + 2.0) / 2.0 + (1.5 + 0.0) / 2.0,
    );
    close(value(hinge.g_loss(&fake)), 1.25);
    let w = loss::Wasserstein;
    close(value(w.d_loss(&real, &fake)), -1.25 - 0.5);
    close(value(w.g_loss(&fake)), 1.25);
    assert_eq!(w.critic_metrics(0.5, -1.25), vec![("wasserstein", 1.75)]);
    let ls = loss::LeastSquares::default();
    close(
        value(ls.d_loss(&real, &fake)),
        0.5 * (1.0 + 4.0) / 2.0 + 0.5 * (0.25 + 9.0) / 2.0,
    );
    close(value(ls.g_loss(&fake)), 0.5 * (0.25 + 16.0) / 2.0);
    // The paper's −1/1/0 coding (the lsgan plugin's targets are parameters).
    let ls = loss::LeastSquares {
        a: -1.0,
        b: 1.0,
        c: 0.0,
        name: "least-squares",
    };
    close(
        value(ls.d_loss(&real, &fake)),
        0.5 * (1.0 + 4.0) / 2.0 + 0.5 * (2.25 + 4.0) / 2.0,
    );
    close(value(ls.g_loss(&fake)), 0.5 * (0.25 + 9.0) / 2.0);
    assert_eq!(ls.name(), "least-squares");
    for name in ["ns", "minimax", "hinge", "wasserstein", "lsgan"] {
        assert_eq!(loss::by_name(name).unwrap().name(), name);
    }
    assert!(loss::by_name("nope").is_none());
}

#[test]
fn one_sided_label_smoothing_is_bce_against_the_smoothed_target() {
    let real = [2.5f32, -1.0, 0.25, 7.0];
    let fake = [-3.0f32, 0.5, 1.5, -0.75];
    let smoothed = loss::OneSidedLabelSmoothing::new(Box::new(loss::NonSaturating), 0.1).unwrap();
    let got = smoothed
        .d_loss(&t(&real), &t(&fake))
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64;
    // Salimans et al. 2016: real rows against 0.9, fake rows against 0, by the naive formula.
    let mean = |v: &[f32], target: f64| {
        v.iter().map(|&x| naive_bce(x as f64, target)).sum::<f64>() / v.len() as f64
    };
    let want = mean(&real, 0.9) + mean(&fake, 0.0);
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    // The generator's loss is the plain one.
    let g = smoothed
        .g_loss(&t(&fake))
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let plain = loss::NonSaturating
        .g_loss(&t(&fake))
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(g, plain);
    // Losses without labels refuse it, naming the loss.
    let err = loss::OneSidedLabelSmoothing::new(Box::new(loss::Hinge), 0.1)
        .err()
        .unwrap();
    assert!(err.contains("loss `hinge`"), "{err}");
}

/// The default targets compute bitwise what the SDK's target-free `LeastSquares` computed before
/// the targets became fields (`fake − 0` is exact, and so is its gradient), values and gradients.
#[test]
fn default_least_squares_is_bitwise_the_fixed_target_formula() {
    let real = Var::from_slice(&[2.0f32, -1.0, 0.3, 1e-8], 4, &Device::Cpu).unwrap();
    let fake = Var::from_slice(&[0.5f32, -3.0, -0.0, 7.25], 4, &Device::Cpu).unwrap();
    let ls = loss::LeastSquares::default();
    let fixed = (((real.as_tensor() - 1.0)
        .unwrap()
        .sqr()
        .unwrap()
        .mean_all()
        .unwrap()
        + fake.sqr().unwrap().mean_all().unwrap())
    .unwrap()
        * 0.5)
        .unwrap();
    let ours = ls.d_loss(&real, &fake).unwrap();
    let bits = |t: &Tensor| -> Vec<u32> {
        t.flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    assert_eq!(bits(&ours), bits(&fixed));
    let (g_ours, g_fixed) = (ours.backward().unwrap(), fixed.backward().unwrap());
    for v in [&real, &fake] {
        assert_eq!(bits(g_ours.get(v).unwrap()), bits(g_fixed.get(v).unwrap()));
    }
    let fixed_g = ((fake.as_tensor() - 1.0)
        .unwrap()
        .sqr()
        .unwrap()
        .mean_all()
        .unwrap()
        * 0.5)
        .unwrap();
    assert_eq!(bits(&ls.g_loss(&fake).unwrap()), bits(&fixed_g));
}
