//! Adam, SGD (momentum, Nesterov) and RMSProp on a quadratic against hand-computed reference
//! sequences (plain f64 Rust and values worked out by hand), their state round trip, and
//! gradient-norm clipping against a hand computation.

use candle_core::{DType, Device, Tensor};
use ganbench_sdk::optim::clip_grad_norm;
use ganbench_sdk::{Adam, AdamConfig, Optimizer, OptimizerKind, RmsProp, Sgd, Vars};

const A: [f64; 3] = [1.0, 4.0, 0.25];
const C: [f64; 3] = [0.5, -1.0, 2.0];
const P0: [f64; 3] = [1.0, 2.0, -3.0];

/// f(p) = ½ Σ aᵢ(pᵢ − cᵢ)², ∇f = a ⊙ (p − c).
fn loss(vars: &Vars) -> Tensor {
    let (_, p) = &vars.params()[0];
    let a = Tensor::new(&A.map(|x| x as f32), &Device::Cpu).unwrap();
    let c = Tensor::new(&C.map(|x| x as f32), &Device::Cpu).unwrap();
    (((p.as_tensor() - c).unwrap().sqr().unwrap() * a)
        .unwrap()
        .sum_all()
        .unwrap()
        * 0.5)
        .unwrap()
}

fn setup() -> Vars {
    let vars = Vars::new(DType::F32, &Device::Cpu);
    vars.param(
        "p",
        Tensor::new(&P0.map(|x| x as f32), &Device::Cpu).unwrap(),
    )
    .unwrap();
    vars
}

fn values(vars: &Vars) -> Vec<f32> {
    vars.params()[0].1.as_tensor().to_vec1::<f32>().unwrap()
}

fn adam_reference(cfg: AdamConfig, steps: usize) -> Vec<[f64; 3]> {
    let (mut p, mut m, mut v) = (P0, [0.0; 3], [0.0; 3]);
    let mut out = Vec::new();
    for t in 1..=steps {
        for i in 0..3 {
            let g = A[i] * (p[i] - C[i]);
            m[i] = cfg.beta1 * m[i] + (1.0 - cfg.beta1) * g;
            v[i] = cfg.beta2 * v[i] + (1.0 - cfg.beta2) * g * g;
            let mhat = m[i] / (1.0 - cfg.beta1.powi(t as i32));
            let vhat = v[i] / (1.0 - cfg.beta2.powi(t as i32));
            p[i] -= cfg.lr * mhat / (vhat.sqrt() + cfg.eps);
        }
        out.push(p);
    }
    out
}

#[test]
fn adam_matches_reference_sequence() {
    let cfg = AdamConfig {
        lr: 0.1,
        beta1: 0.5,
        beta2: 0.9,
        eps: 1e-8,
    };
    let reference = adam_reference(cfg, 8);
    let vars = setup();
    let mut opt = Adam::new(vars.params(), cfg).unwrap();
    let mut worst = 0f64;
    for expected in &reference {
        opt.step(&loss(&vars).backward().unwrap()).unwrap();
        for (got, want) in values(&vars).iter().zip(expected) {
            worst = worst.max((*got as f64 - want).abs());
        }
    }
    eprintln!("Adam vs reference: worst abs error {worst:.2e} over 8 steps");
    assert!(worst < 2e-6, "{worst}");
    // The first Adam step moves every coordinate by lr (sign of the gradient).
    assert!((reference[0][0] - (P0[0] - 0.1)).abs() < 1e-8);
}

#[test]
fn adam_state_round_trip_continues_bitwise() {
    let cfg = AdamConfig::default();
    let (a, b) = (setup(), setup());
    let mut opt_a = Adam::new(a.params(), cfg).unwrap();
    for _ in 0..3 {
        opt_a.step(&loss(&a).backward().unwrap()).unwrap();
    }
    b.params()[0].1.set(a.params()[0].1.as_tensor()).unwrap();
    let mut opt_b = Adam::new(b.params(), cfg).unwrap();
    opt_b.set_state(&opt_a.state().unwrap()).unwrap();
    assert_eq!(opt_b.steps(), 3);
    for _ in 0..3 {
        opt_a.step(&loss(&a).backward().unwrap()).unwrap();
        opt_b.step(&loss(&b).backward().unwrap()).unwrap();
    }
    assert_eq!(values(&a), values(&b));
    let mut missing = opt_a.state().unwrap();
    missing.retain(|(k, _)| k != "p.exp_avg");
    assert!(opt_b
        .set_state(&missing)
        .unwrap_err()
        .to_string()
        .contains("p.exp_avg"));
}

#[test]
fn sgd_with_momentum_matches_reference_sequence() {
    let (lr, mu) = (0.05, 0.9);
    let vars = setup();
    let mut opt = Sgd::new(vars.params(), lr, mu);
    let (mut p, mut b) = (P0, [0.0; 3]);
    for t in 0..6 {
        opt.step(&loss(&vars).backward().unwrap()).unwrap();
        for i in 0..3 {
            let g = A[i] * (p[i] - C[i]);
            b[i] = if t == 0 { g } else { mu * b[i] + g };
            p[i] -= lr * b[i];
        }
        for (got, want) in values(&vars).iter().zip(&p) {
            assert!((*got as f64 - want).abs() < 1e-6, "{got} vs {want}");
        }
    }
    assert_eq!(opt.state().unwrap().len(), 1);
}

/// A one-parameter quadratic f(p) = p² (∇f = 2p) from p = 1: the setting of the hand-worked
/// sequences below.
fn scalar_problem() -> (Vars, impl Fn(&Vars) -> Tensor) {
    let vars = Vars::new(DType::F32, &Device::Cpu);
    vars.param("p", Tensor::new(&[1f32], &Device::Cpu).unwrap())
        .unwrap();
    let f = |v: &Vars| {
        v.params()[0]
            .1
            .as_tensor()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
    };
    (vars, f)
}

#[test]
fn sgd_nesterov_matches_three_hand_computed_steps() {
    // lr 0.1, μ 0.9, PyTorch's Nesterov form: b ← μb + g (b₁ = g), p ← p − lr·(g + μb).
    // 1: g = 2, b = 2, step 2 + 1.8 = 3.8 → p = 0.62
    // 2: g = 1.24, b = 1.8 + 1.24 = 3.04, step 1.24 + 2.736 = 3.976 → p = 0.2224
    // 3: g = 0.4448, b = 2.736 + 0.4448 = 3.1808, step 0.4448 + 2.86272 = 3.30752 → p = −0.108352
    let (vars, f) = scalar_problem();
    let mut opt = Sgd::new(vars.params(), 0.1, 0.9)
        .with_nesterov(true)
        .unwrap();
    for want in [0.62, 0.2224, -0.108352] {
        opt.step(&f(&vars).backward().unwrap()).unwrap();
        let got = values(&vars)[0] as f64;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    // Nesterov needs momentum, as in PyTorch.
    assert!(Sgd::new(vars.params(), 0.1, 0.0)
        .with_nesterov(true)
        .is_err());
}

#[test]
fn rmsprop_matches_hand_computed_steps_and_the_reference_sequence() {
    // lr 0.01, α 0.99, ε 1e-8: v ← αv + (1 − α)g², p ← p − lr·g/(√v + ε).
    // 1: g = 2, v = 0.04, √v = 0.2 → p = 1 − 0.01·2/0.2 = 0.9
    // 2: g = 1.8, v = 0.0396 + 0.0324 = 0.072 → p = 0.9 − 0.018/√0.072 = 0.83291796…
    let (vars, f) = scalar_problem();
    let mut opt = RmsProp::new(vars.params(), 0.01, 0.99, 1e-8).unwrap();
    let by_hand = [0.9, 0.9 - 0.018 / 0.072f64.sqrt()];
    let (mut p, mut v) = (1.0f64, 0.0f64);
    for t in 0..6 {
        opt.step(&f(&vars).backward().unwrap()).unwrap();
        let g = 2.0 * p;
        v = 0.99 * v + 0.01 * g * g;
        p -= 0.01 * g / (v.sqrt() + 1e-8);
        let got = values(&vars)[0] as f64;
        if let Some(want) = by_hand.get(t) {
            assert!((p - want).abs() < 1e-7, "reference {p} vs by hand {want}");
        }
        assert!((got - p).abs() < 1e-6, "step {}: {got} vs {p}", t + 1);
    }
    // State round trip: a second optimizer restored from the first continues identically.
    let (other, _) = scalar_problem();
    other.params()[0]
        .1
        .set(vars.params()[0].1.as_tensor())
        .unwrap();
    let mut restored = RmsProp::new(other.params(), 0.01, 0.99, 1e-8).unwrap();
    restored.set_state(&opt.state().unwrap()).unwrap();
    for _ in 0..3 {
        opt.step(&f(&vars).backward().unwrap()).unwrap();
        restored.step(&f(&other).backward().unwrap()).unwrap();
    }
    assert_eq!(values(&vars), values(&other));
}

#[test]
fn optimizer_kinds_build_what_they_name() {
    let adam = AdamConfig {
        lr: 0.1,
        ..AdamConfig::default()
    };
    let (vars, f) = scalar_problem();
    let mut sgd = OptimizerKind::Sgd {
        momentum: 0.0,
        nesterov: false,
    }
    .build(vars.params(), adam)
    .unwrap();
    sgd.step(&f(&vars).backward().unwrap()).unwrap();
    // Plain SGD at lr 0.1: 1 − 0.1·2.
    assert!((values(&vars)[0] - 0.8).abs() < 1e-7);
    assert_eq!(
        OptimizerKind::RmsProp { alpha: 0.9 }.describe(&adam),
        "RMSProp α 0.9"
    );
    assert_eq!(
        OptimizerKind::Sgd {
            momentum: 0.9,
            nesterov: true
        }
        .describe(&adam),
        "SGD (Nesterov momentum 0.9)"
    );
    let d = AdamConfig { lr: 4e-4, ..adam };
    assert_eq!(
        OptimizerKind::Adam.describe_pair(&adam, &d),
        format!(
            "Adam lr_g {} lr_d 0.0004 β ({}, {})",
            adam.lr, adam.beta1, adam.beta2
        )
    );
    assert_eq!(
        OptimizerKind::RmsProp { alpha: 0.9 }.describe_pair(&adam, &d),
        format!("RMSProp α 0.9 lr_g {} lr_d 0.0004", adam.lr)
    );
}

#[test]
fn clipping_by_norm_matches_a_hand_computation() {
    // f = 3x + 4y + 12z: gradients (3, 4) and (12), joint norm √(9 + 16 + 144) = 13.
    let vars = Vars::new(DType::F32, &Device::Cpu);
    let xy = vars
        .param("xy", Tensor::new(&[0.5f32, -1.0], &Device::Cpu).unwrap())
        .unwrap();
    let z = vars
        .param("z", Tensor::new(&[2f32], &Device::Cpu).unwrap())
        .unwrap();
    let f = || {
        let w = Tensor::new(&[3f32, 4.0], &Device::Cpu).unwrap();
        ((&xy * w).unwrap().sum_all().unwrap() + (&z * 12.0).unwrap().sum_all().unwrap()).unwrap()
    };
    let grad = |g: &candle_core::backprop::GradStore, t: &Tensor| {
        g.get(t).unwrap().to_vec1::<f32>().unwrap()
    };
    // Below the norm: every gradient scaled by 6.5 / (13 + 1e-6).
    let mut grads = f().backward().unwrap();
    let norm = clip_grad_norm(&mut grads, &vars.params(), 6.5).unwrap();
    assert!((norm - 13.0).abs() < 1e-9, "{norm}");
    let c = 6.5 / (13.0 + 1e-6);
    for (got, want) in grad(&grads, &xy).iter().zip([3.0 * c, 4.0 * c]) {
        assert!((*got as f64 - want).abs() < 1e-6, "{got} vs {want}");
    }
    assert!((grad(&grads, &z)[0] as f64 - 12.0 * c).abs() < 1e-5);
    // At or above the norm: untouched, bit for bit.
    let mut grads = f().backward().unwrap();
    clip_grad_norm(&mut grads, &vars.params(), 13.5).unwrap();
    assert_eq!(grad(&grads, &xy), [3.0, 4.0]);
    assert_eq!(grad(&grads, &z), [12.0]);
}
