//! Adam and SGD on a quadratic against hand-computed reference sequences (plain f64 Rust), and
//! their state round trip.

use candle_core::{DType, Device, Tensor};
use ganbench_sdk::{Adam, AdamConfig, Optimizer, Sgd, Vars};

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
