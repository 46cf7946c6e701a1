//! The im2col convolutions of `ganbench_kernels::conv` against candle's own `conv2d` /
//! `conv_transpose2d` (outputs and first- and second-order gradients, on seeded random shapes,
//! strides, paddings and dilations, odd sizes included) and against central finite differences
//! in f64.

use candle_core::{DType, Device, Result, Tensor, Var};
use ganbench_kernels::conv;
use ganbench_kernels::leaky_relu;
use ganbench_sdk::gp::check_double_backward;
use ganbench_sdk::SeededRng;

/// One convolution: for a transposed one, `h × w` is its input and `c_in` its input channels.
#[derive(Debug, Clone, Copy)]
struct Config {
    n: usize,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    padding: usize,
    stride: usize,
    dilation: usize,
    output_padding: usize,
    transposed: bool,
}

impl Config {
    fn kernel_shape(&self) -> [usize; 4] {
        if self.transposed {
            [self.c_in, self.c_out, self.kh, self.kw]
        } else {
            [self.c_out, self.c_in, self.kh, self.kw]
        }
    }

    fn fast(&self, x: &Tensor, k: &Tensor) -> Result<Tensor> {
        if self.transposed {
            conv::conv_transpose2d(
                x,
                k,
                self.padding,
                self.output_padding,
                self.stride,
                self.dilation,
            )
        } else {
            conv::conv2d(x, k, self.padding, self.stride, self.dilation)
        }
    }

    fn candle(&self, x: &Tensor, k: &Tensor) -> Result<Tensor> {
        if self.transposed {
            x.conv_transpose2d(
                k,
                self.padding,
                self.output_padding,
                self.stride,
                self.dilation,
            )
        } else {
            x.conv2d(k, self.padding, self.stride, self.dilation, 1)
        }
    }
}

/// An integer in `lo..=hi`.
fn int(rng: &mut SeededRng, lo: usize, hi: usize) -> usize {
    lo + (rng.uniform_vec(1, 0.0, (hi - lo + 1) as f64)[0] as usize).min(hi - lo)
}

fn random_config(rng: &mut SeededRng, transposed: bool, for_candle: bool) -> Config {
    loop {
        let (kh, kw) = (int(rng, 1, 4), int(rng, 1, 4));
        let (stride, dilation, padding) = (int(rng, 1, 3), int(rng, 1, 2), int(rng, 0, 2));
        let c = Config {
            n: int(rng, 1, 3),
            c_in: int(rng, 1, 4),
            c_out: int(rng, 1, 5),
            h: int(rng, 1, 9),
            w: int(rng, 1, 9),
            kh,
            kw,
            padding,
            stride,
            dilation,
            // PyTorch allows output_padding < max(stride, dilation); candle's backward only
            // output_padding < stride (its input gradient comes out too large otherwise).
            output_padding: if transposed {
                let limit = if for_candle {
                    stride
                } else {
                    stride.max(dilation)
                };
                int(rng, 0, limit - 1)
            } else {
                0
            },
            transposed,
        };
        let fits = |size: usize, k: usize| {
            if transposed {
                (size - 1) * stride + dilation * (k - 1) + c.output_padding + 1 > 2 * padding
            } else {
                size + 2 * padding > dilation * (k - 1)
            }
        };
        // candle's conv2d backward pads its transposed conv by the height's remainder on both
        // axes (candle 0.11.1, backprop.rs), so its input gradient fails when the axes' remainders
        // differ: such shapes are compared with finite differences only.
        let remainder =
            |size: usize, k: usize| (size + 2 * padding - dilation * (k - 1) - 1) % stride;
        if fits(c.h, kh)
            && fits(c.w, kw)
            && (transposed || !for_candle || remainder(c.h, kh) == remainder(c.w, kw))
        {
            return c;
        }
    }
}

fn normal(rng: &mut SeededRng, shape: &[usize], dtype: DType) -> Tensor {
    rng.normal(shape, &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

fn flat(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// `[1.0e-7, …]`.
fn sci(values: &[f64]) -> String {
    let v: Vec<String> = values.iter().map(|e| format!("{e:.1e}")).collect();
    format!("[{}]", v.join(", "))
}

/// ‖a − b‖ / ‖b‖ (0 when both are zero).
fn relative_error(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff = a.iter().zip(b).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
    let norm = b.iter().map(|b| b * b).sum::<f64>();
    if norm == 0.0 {
        diff.sqrt()
    } else {
        (diff / norm).sqrt()
    }
}

/// Output, gradient with respect to `base` (the input `x` or the tensor it views) and kernel
/// gradient of Σ weights ⊙ conv(x, k).
fn output_and_gradients(
    conv: &dyn Fn(&Tensor, &Tensor) -> Result<Tensor>,
    (x, base): (&Tensor, &Tensor),
    k: &Var,
    weights: &Tensor,
) -> (Vec<f64>, Option<Vec<f64>>, Vec<f64>) {
    let y = conv(x, k.as_tensor()).unwrap();
    let grads = (&y * weights)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    (
        flat(&y),
        grads.get(base).map(flat),
        flat(grads.get(k.as_tensor()).expect("a kernel gradient")),
    )
}

/// Relative errors (output, input gradient, kernel gradient) of the fast op against candle's on
/// configuration `c`. Input `i` picks the variants: every fourth input is a constant, whose
/// gradient the op must skip; every third a strided (transposed) view.
fn compare_with_candle(c: &Config, i: usize, rng: &mut SeededRng) -> [f64; 3] {
    let k = Var::from_tensor(&normal(rng, &c.kernel_shape(), DType::F32)).unwrap();
    let (rows, cols) = if i.is_multiple_of(3) {
        (c.w, c.h)
    } else {
        (c.h, c.w)
    };
    let x = normal(rng, &[c.n, c.c_in, rows, cols], DType::F32);
    let base = if i.is_multiple_of(4) {
        x
    } else {
        Var::from_tensor(&x).unwrap().as_tensor().clone()
    };
    let x = if i.is_multiple_of(3) {
        base.transpose(2, 3).unwrap()
    } else {
        base.clone()
    };
    let reference_out = c.candle(&x, k.as_tensor()).unwrap();
    let weights = normal(rng, reference_out.dims(), DType::F32);
    let ours = output_and_gradients(&|x, k| c.fast(x, k), (&x, &base), &k, &weights);
    let reference = output_and_gradients(&|x, k| c.candle(x, k), (&x, &base), &k, &weights);
    assert_eq!(ours.0.len(), reference.0.len(), "{c:?}");
    let errors = [
        relative_error(&ours.0, &reference.0),
        match (&ours.1, &reference.1) {
            (Some(a), Some(b)) => relative_error(a, b),
            // candle computes the gradient of a constant too; the fast op skips it.
            (None, _) if i.is_multiple_of(4) => 0.0,
            other => panic!("{c:?}: input gradients {other:?}"),
        },
        relative_error(&ours.2, &reference.2),
    ];
    eprintln!(
        "{c:?}: relative errors (output, input grad, kernel grad) {}",
        sci(&errors)
    );
    for e in errors {
        assert!(e < 1e-5, "{c:?}: relative error {e:e}");
    }
    errors
}

fn check_against_candle(transposed: bool, seed: u64) {
    let mut rng = SeededRng::new(seed);
    let mut worst = 0f64;
    for i in 0..30 {
        let c = random_config(&mut rng, transposed, true);
        for e in compare_with_candle(&c, i, &mut rng) {
            worst = worst.max(e);
        }
    }
    eprintln!("worst relative error {worst:.2e}");
}

/// DCGAN-sized layers whose im2col matrix exceeds one chunk of samples, so that the batch is
/// split into several chunks: each chunk must land on its own samples.
#[test]
fn batches_split_into_chunks_match_candle() {
    let mut rng = SeededRng::new(3);
    let conv = Config {
        n: 5,
        c_in: 64,
        c_out: 8,
        h: 16,
        w: 16,
        kh: 4,
        kw: 4,
        padding: 1,
        stride: 1,
        dilation: 1,
        output_padding: 0,
        transposed: false,
    };
    let transposed = Config {
        n: 25,
        c_in: 8,
        c_out: 64,
        h: 7,
        w: 7,
        stride: 2,
        transposed: true,
        ..conv
    };
    for (i, c) in [conv, transposed].iter().enumerate() {
        compare_with_candle(c, i + 1, &mut rng);
    }
}

#[test]
fn conv2d_matches_candle_on_random_configurations() {
    check_against_candle(false, 1);
}

#[test]
fn conv_transpose2d_matches_candle_on_random_configurations() {
    check_against_candle(true, 2);
}

/// The analytic gradients of Σ weights ⊙ conv(x, k) in f64 against central differences over
/// every entry of x and k, on random configurations and on one that candle's own backward cannot
/// do (different remainders per axis; for the transposed conv, output_padding ≥ stride).
fn check_against_finite_differences(transposed: bool, seed: u64) {
    let mut rng = SeededRng::new(seed);
    let hard = Config {
        n: 2,
        c_in: 2,
        c_out: 3,
        h: 5,
        w: 6,
        kh: 3,
        kw: 2,
        padding: 1,
        stride: if transposed { 1 } else { 2 },
        dilation: 2,
        output_padding: usize::from(transposed),
        transposed,
    };
    let mut configs = vec![hard];
    for _ in 0..4 {
        configs.push(Config {
            n: 2,
            c_in: 2,
            c_out: 3,
            ..random_config(&mut rng, transposed, false)
        });
    }
    for c in configs {
        let x = Var::from_tensor(&normal(&mut rng, &[c.n, c.c_in, c.h, c.w], DType::F64)).unwrap();
        let k = Var::from_tensor(&normal(&mut rng, &c.kernel_shape(), DType::F64)).unwrap();
        let out = c.fast(x.as_tensor(), k.as_tensor()).unwrap();
        let weights = normal(&mut rng, out.dims(), DType::F64);
        let f = || {
            (c.fast(x.as_tensor(), k.as_tensor()).unwrap() * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        let grads = (out * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for var in [&x, &k] {
            let analytic = flat(grads.get(var.as_tensor()).unwrap());
            let numeric = central_differences(var, &f);
            let e = relative_error(&analytic, &numeric);
            eprintln!("{c:?}: finite-difference relative error {e:.1e}");
            assert!(e < 1e-7, "{c:?}: relative error {e:e}");
        }
    }
}

/// ∂f/∂v by central differences, v restored afterwards.
fn central_differences(v: &Var, f: &dyn Fn() -> f64) -> Vec<f64> {
    let base = flat(v.as_tensor());
    let shape = v.shape().clone();
    let set = |values: Vec<f64>| {
        v.set(&Tensor::from_vec(values, shape.clone(), &Device::Cpu).unwrap())
            .unwrap()
    };
    let h = 1e-4;
    let mut out = Vec::with_capacity(base.len());
    for i in 0..base.len() {
        let at = |delta: f64| {
            let mut shifted = base.clone();
            shifted[i] += delta;
            set(shifted);
            f()
        };
        out.push((at(h) - at(-h)) / (2.0 * h));
    }
    set(base);
    out
}

#[test]
fn conv2d_gradients_match_finite_differences() {
    check_against_finite_differences(false, 3);
}

#[test]
fn conv_transpose2d_gradients_match_finite_differences() {
    check_against_finite_differences(true, 4);
}

/// A WGAN-GP-shaped second-order quantity through both ops: for the critic
/// s(x) = Σ r ⊙ leaky_relu(conv(leaky_relu(conv_t(x, k1)), k2)), the penalty ‖∇ₓ s‖², whose
/// gradient with respect to k1 and k2 needs the backward of every backward op.
#[test]
fn double_backward_matches_candle_and_finite_differences() {
    check_double_backward().unwrap();
    let mut rng = SeededRng::new(5);
    let x = normal(&mut rng, &[2, 3, 4, 5], DType::F64);
    let k1 = Var::from_tensor(&normal(&mut rng, &[3, 2, 3, 3], DType::F64)).unwrap();
    let k2 = Var::from_tensor(&normal(&mut rng, &[4, 2, 4, 4], DType::F64)).unwrap();
    // conv_t: 4×5 → 8×10 (stride 2, padding 1, output_padding 1); conv: 8×10 → 4×5 (stride 2).
    let r = normal(&mut rng, &[2, 4, 4, 5], DType::F64);
    let penalty = |fast: bool| -> Tensor {
        let x = Var::from_tensor(&x).unwrap();
        let hidden = if fast {
            conv::conv_transpose2d(x.as_tensor(), k1.as_tensor(), 1, 1, 2, 1)
        } else {
            x.as_tensor().conv_transpose2d(k1.as_tensor(), 1, 1, 2, 1)
        };
        let hidden = leaky_relu(&hidden.unwrap(), 0.2).unwrap();
        let out = if fast {
            conv::conv2d(&hidden, k2.as_tensor(), 1, 2, 1)
        } else {
            hidden.conv2d(k2.as_tensor(), 1, 2, 1, 1)
        };
        let s = (leaky_relu(&out.unwrap(), 0.2).unwrap() * &r)
            .unwrap()
            .sum_all()
            .unwrap();
        let g = s.backward().unwrap().get(x.as_tensor()).unwrap().clone();
        g.sqr().unwrap().sum_all().unwrap()
    };
    let grads = |fast: bool| {
        let p = penalty(fast);
        let g = p.backward().unwrap();
        let k1 = flat(g.get(k1.as_tensor()).expect("a penalty gradient for k1"));
        let k2 = flat(g.get(k2.as_tensor()).expect("a penalty gradient for k2"));
        (p.to_scalar::<f64>().unwrap(), k1, k2)
    };
    let (ours, reference) = (grads(true), grads(false));
    assert!((ours.0 - reference.0).abs() < 1e-10 * reference.0.abs());
    let vs_candle = [
        relative_error(&ours.1, &reference.1),
        relative_error(&ours.2, &reference.2),
    ];
    let f = || penalty(true).to_scalar::<f64>().unwrap();
    let vs_fd = [
        relative_error(&ours.1, &central_differences(&k1, &f)),
        relative_error(&ours.2, &central_differences(&k2, &f)),
    ];
    eprintln!(
        "vs candle {}, vs finite differences {}",
        sci(&vs_candle),
        sci(&vs_fd)
    );
    for e in vs_candle {
        assert!(e < 1e-10, "{e:e}");
    }
    for e in vs_fd {
        assert!(e < 1e-6, "{e:e}");
    }
}
