//! The fused dense, per-channel and batch-norm ops against candle's own formulas (outputs and
//! first- and second-order gradients, strided inputs included) and against central finite
//! differences in f64, and the gradient-skipping hint.

use candle_core::{DType, Device, Result, Tensor, Var};
use ganbench_kernels::*;
use ganbench_sdk::gp::check_double_backward;
use ganbench_sdk::SeededRng;

/// A critic-shaped chain through every op that skips gradients (conv, batch norm, channel
/// bias and scale, row bias): with the "critic" parameters skipped, the "generator" input's
/// gradient is bitwise what it is without skipping, and the skipped parameters get none from
/// the SDK's ops.
#[test]
fn skipped_parameters_get_no_gradient_and_the_rest_are_unchanged() {
    let mut rng = SeededRng::new(11);
    let var = |shape: &[usize], rng: &mut SeededRng| {
        Var::from_tensor(&rng.normal(shape, &Device::Cpu).unwrap()).unwrap()
    };
    let x = var(&[3, 2, 6, 6], &mut rng);
    let kernel = var(&[4, 2, 4, 4], &mut rng);
    let (gamma, beta, bias, scale) = (
        var(&[4], &mut rng),
        var(&[4], &mut rng),
        var(&[4], &mut rng),
        var(&[4], &mut rng),
    );
    let row_bias = var(&[36], &mut rng);
    let critic = [&kernel, &gamma, &beta, &bias, &scale, &row_bias].map(|v| v.as_tensor().clone());
    let grads = |skip: bool| {
        let h = conv2d(x.as_tensor(), &critic[0], 1, 2, 1).unwrap();
        let (h, _, _) = batch_norm_train(&h, &critic[1], &critic[2], 1e-5).unwrap();
        let h = mul_channel(&add_channel_bias(&h, &critic[3]).unwrap(), &critic[4]).unwrap();
        let h = add_bias(&h.flatten_from(1).unwrap(), &critic[5]).unwrap();
        let loss = leaky_relu(&h, 0.2)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap();
        if skip {
            skipping_gradients(&critic, || loss.backward()).unwrap()
        } else {
            loss.backward().unwrap()
        }
    };
    let (skipped, full) = (grads(true), grads(false));
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(
        flat(skipped.get(x.as_tensor()).unwrap()),
        flat(full.get(x.as_tensor()).unwrap())
    );
    for p in &critic {
        assert!(full.get(p).is_some());
        assert!(
            skipped.get(p).is_none(),
            "a gradient for a skipped parameter"
        );
    }
    // The skip list is cleared afterwards.
    assert!(wants_grad(kernel.as_tensor()));
}

#[test]
fn fused_leaky_relu_matches_candle_nn_on_strided_input() {
    let mut rng = SeededRng::new(0);
    let x = Var::from_tensor(&rng.normal((4, 6), &Device::Cpu).unwrap()).unwrap();
    // A transposed (non-contiguous) view exercises the strided path.
    let xt = x.as_tensor().t().unwrap();
    for slope in [0.2, 0.0] {
        let ours = leaky_relu(&xt, slope).unwrap();
        let reference = candle_nn::ops::leaky_relu(&xt, slope).unwrap();
        assert_eq!(
            ours.to_vec2::<f32>().unwrap(),
            reference.to_vec2::<f32>().unwrap()
        );
        let g = (ours * 3.0).unwrap().sum_all().unwrap().backward().unwrap();
        let g = g.get(x.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
        let xs = x.as_tensor().to_vec2::<f32>().unwrap();
        for (gr, xr) in g.iter().zip(&xs) {
            for (g, x) in gr.iter().zip(xr) {
                assert_eq!(*g, if *x > 0.0 { 3.0 } else { 3.0 * slope as f32 });
            }
        }
    }
    assert_eq!(
        relu(&xt).unwrap().to_vec2::<f32>().unwrap(),
        xt.relu().unwrap().to_vec2::<f32>().unwrap()
    );
}

#[test]
fn fused_add_bias_matches_broadcast_add_with_gradients() {
    let mut rng = SeededRng::new(1);
    let x = Var::from_tensor(&rng.normal((5, 3), &Device::Cpu).unwrap()).unwrap();
    let b = Var::from_tensor(&rng.normal(3, &Device::Cpu).unwrap()).unwrap();
    let w = rng.normal((5, 3), &Device::Cpu).unwrap();
    let run = |fused: bool| {
        let y = if fused {
            add_bias(x.as_tensor(), b.as_tensor()).unwrap()
        } else {
            x.as_tensor().broadcast_add(b.as_tensor()).unwrap()
        };
        let g = (y.clone() * &w)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let grad = |v: &Var| {
            g.get(v.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        (y.to_vec2::<f32>().unwrap(), grad(&x), grad(&b))
    };
    let (ours, reference) = (run(true), run(false));
    assert_eq!(ours.0, reference.0);
    assert_eq!(ours.1, reference.1);
    for (a, r) in ours.2.iter().zip(&reference.2) {
        assert!((a - r).abs() < 1e-5, "{a} vs {r}");
    }
}

#[test]
fn fused_add_channel_bias_matches_broadcast_add_with_gradients() {
    let mut rng = SeededRng::new(2);
    let x = Var::from_tensor(&rng.normal((3, 4, 5, 2), &Device::Cpu).unwrap()).unwrap();
    let b = Var::from_tensor(&rng.normal(4, &Device::Cpu).unwrap()).unwrap();
    let w = rng.normal((3, 4, 2, 5), &Device::Cpu).unwrap();
    // A strided view: (3, 4, 2, 5) from (3, 4, 5, 2).
    let xt = x.as_tensor().transpose(2, 3).unwrap();
    let run = |fused: bool| {
        let y = if fused {
            add_channel_bias(&xt, b.as_tensor()).unwrap()
        } else {
            xt.broadcast_add(&b.as_tensor().reshape((1, 4, 1, 1)).unwrap())
                .unwrap()
        };
        let g = (y.clone() * &w)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        (
            flat(&y),
            flat(g.get(x.as_tensor()).unwrap()),
            flat(g.get(b.as_tensor()).unwrap()),
        )
    };
    let (ours, reference) = (run(true), run(false));
    assert_eq!(ours.0, reference.0);
    assert_eq!(ours.1, reference.1);
    for (a, r) in ours.2.iter().zip(&reference.2) {
        assert!((a - r).abs() < 1e-5, "{a} vs {r}");
    }
}

/// Batch norm from candle's broadcasting ops, as a reference.
fn reference_batch_norm(x: &Tensor, w: &Tensor, b: &Tensor) -> (Tensor, Tensor, Tensor) {
    let stat = (1, x.dim(1).unwrap(), 1, 1);
    let mean = x.mean_keepdim(vec![0, 2, 3]).unwrap();
    let centered = x.broadcast_sub(&mean).unwrap();
    let var = centered.sqr().unwrap().mean_keepdim(vec![0, 2, 3]).unwrap();
    let y = centered
        .broadcast_div(&(&var + 1e-5).unwrap().sqrt().unwrap())
        .unwrap()
        .broadcast_mul(&w.reshape(stat).unwrap())
        .unwrap()
        .broadcast_add(&b.reshape(stat).unwrap())
        .unwrap();
    (y, mean.flatten_all().unwrap(), var.flatten_all().unwrap())
}

/// Output, statistics, gradients, and the gradient of a second-order quantity
/// (‖∇ₓ Σ r ⊙ bn(x)²‖²) with respect to x, γ and β, of the fused and the reference batch norm.
#[test]
fn fused_batch_norm_matches_broadcasting_ops_to_second_order() {
    check_double_backward().unwrap();
    let mut rng = SeededRng::new(3);
    let f64s = |t: Tensor| t.to_dtype(DType::F64).unwrap();
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    // Odd sizes, one channel, 1×1 maps, and (last) a strided view.
    let shapes = [
        (4, 3, 2, 5),
        (2, 1, 3, 3),
        (3, 4, 1, 1),
        (5, 2, 1, 7),
        (3, 2, 4, 3),
    ];
    for (i, (n, c, h, w_)) in shapes.into_iter().enumerate() {
        let strided = i == shapes.len() - 1;
        let stored = if strided {
            (n, c, w_, h)
        } else {
            (n, c, h, w_)
        };
        let x = Var::from_tensor(&f64s(rng.normal(stored, &Device::Cpu).unwrap())).unwrap();
        let w = Var::from_tensor(&f64s(rng.normal(c, &Device::Cpu).unwrap())).unwrap();
        let b = Var::from_tensor(&f64s(rng.normal(c, &Device::Cpu).unwrap())).unwrap();
        let r = f64s(rng.normal((n, c, h, w_), &Device::Cpu).unwrap());
        let run = |fused: bool| {
            let xt = if strided {
                x.as_tensor().transpose(2, 3).unwrap()
            } else {
                x.as_tensor().clone()
            };
            let (y, mean, var) = if fused {
                batch_norm_train(&xt, w.as_tensor(), b.as_tensor(), 1e-5).unwrap()
            } else {
                reference_batch_norm(&xt, w.as_tensor(), b.as_tensor())
            };
            let f = (y.sqr().unwrap() * &r).unwrap().sum_all().unwrap();
            let g = f.backward().unwrap();
            let gx = g.get(x.as_tensor()).unwrap().clone();
            let first = [
                &gx,
                g.get(w.as_tensor()).unwrap(),
                g.get(b.as_tensor()).unwrap(),
            ]
            .map(flat);
            let g2 = gx.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            let second = [
                g2.get(x.as_tensor()).unwrap(),
                g2.get(w.as_tensor()).unwrap(),
                g2.get(b.as_tensor()).unwrap(),
            ]
            .map(flat);
            [flat(&y), flat(&mean), flat(&var)]
                .into_iter()
                .chain(first)
                .chain(second)
                .collect::<Vec<_>>()
        };
        let (ours, reference) = (run(true), run(false));
        assert_eq!(ours.len(), reference.len());
        for (a, e) in ours.iter().zip(reference) {
            assert_eq!(a.len(), e.len());
            let scale = e.iter().fold(1f64, |m, v| m.max(v.abs()));
            for (a, e) in a.iter().zip(&e) {
                assert!((a - e).abs() < 1e-10 * scale, "{stored:?}: {a} vs {e}");
            }
        }
    }
}

/// The fused dense layer against candle's matmul, broadcast add and leaky ReLU in f64: the
/// output, the gradients of Σ r ⊙ dense(x)², and the gradients of the second-order
/// ‖∇ₓ Σ r ⊙ dense(x)²‖² (WGAN-GP's penalty goes through these layers).
#[test]
fn fused_dense_matches_candle_ops_to_second_order() {
    check_double_backward().unwrap();
    let mut rng = SeededRng::new(13);
    let f64s = |t: Tensor| t.to_dtype(DType::F64).unwrap();
    let var = |shape: &[usize], rng: &mut SeededRng| {
        Var::from_tensor(&f64s(rng.normal(shape, &Device::Cpu).unwrap())).unwrap()
    };
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    // (rows, in, out): odd sizes, a single row, a single output.
    let shapes = [(5, 7, 4), (1, 3, 2), (9, 2, 1), (6, 13, 11)];
    let cases = shapes
        .iter()
        .flat_map(|&s| [Some(0.2), Some(0.0), None].map(|slope| (s, slope)));
    for ((rows, k, m), slope) in cases {
        let (x, w, b) = (
            var(&[rows, k], &mut rng),
            var(&[m, k], &mut rng),
            var(&[m], &mut rng),
        );
        let r = f64s(rng.normal((rows, m), &Device::Cpu).unwrap());
        let run = |fused: bool| {
            let (xt, wt, bt) = (x.as_tensor(), w.as_tensor(), b.as_tensor());
            let y = if fused {
                dense(xt, wt, bt, slope).unwrap()
            } else {
                let pre = xt
                    .matmul(&wt.t().unwrap())
                    .unwrap()
                    .broadcast_add(bt)
                    .unwrap();
                match slope {
                    Some(s) => candle_nn::ops::leaky_relu(&pre, s).unwrap(),
                    None => pre,
                }
            };
            let g = (y.sqr().unwrap() * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let gx = g.get(xt).unwrap().clone();
            let first = [&gx, g.get(wt).unwrap(), g.get(bt).unwrap()].map(flat);
            let g2 = gx.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            let second = [xt, wt, bt].map(|t| g2.get(t).map(flat).unwrap_or_default());
            [flat(&y)]
                .into_iter()
                .chain(first)
                .chain(second)
                .collect::<Vec<_>>()
        };
        let (ours, reference) = (run(true), run(false));
        for (a, e) in ours.iter().zip(&reference) {
            assert_eq!(a.len(), e.len(), "slope {slope:?}");
            let scale = e.iter().fold(1f64, |m, v| m.max(v.abs()));
            for (a, e) in a.iter().zip(e) {
                assert!((a - e).abs() < 1e-12 * scale, "slope {slope:?}: {a} vs {e}");
            }
        }
    }
}

/// Every fused op's gradient against central finite differences in f64: for
/// f(x, p) = Σ r ⊙ op(x, p) with a fixed random r, ∂f/∂x and ∂f/∂p from the backward pass
/// agree with (f(θ + h) − f(θ − h)) / 2h in every coordinate.
#[test]
fn fused_op_gradients_match_finite_differences() {
    type Op = fn(&Tensor, &Tensor) -> Result<Tensor>;
    let ops: [(&str, Op, usize); 8] = [
        ("leaky_relu", |x, _| leaky_relu(x, 0.2), 3),
        (
            "add_bias",
            |x, b| add_bias(&x.flatten_from(1)?, &b.repeat(8)?),
            3,
        ),
        ("add_channel_bias", add_channel_bias, 3),
        ("mul_channel", mul_channel, 3),
        ("sum_channels", |x, p| sum_channels(&(x * x)?)?.mul(p), 3),
        (
            "batch_norm_train",
            |x, p| Ok(batch_norm_train(x, p, &p.sqr()?, 1e-5)?.0),
            3,
        ),
        // x (2, 3, 2, 4) as a (6, 8) input and, in part, the (3, 8) weight; p the bias.
        ("dense", |x, p| dense_of(x, p, Some(0.2)), 3),
        ("dense (identity)", |x, p| dense_of(x, p, None), 3),
    ];
    fn dense_of(x: &Tensor, p: &Tensor, slope: Option<f64>) -> Result<Tensor> {
        let rows = x.flatten_to(2)?;
        dense(&rows, &rows.narrow(0, 1, 3)?, p, slope)
    }
    let mut rng = SeededRng::new(5);
    for (name, op, channels) in ops {
        let f64s = |t: Tensor| t.to_dtype(DType::F64).unwrap();
        let shape = (2, channels, 2, 4);
        let x0 = f64s(rng.normal(shape, &Device::Cpu).unwrap());
        let p0 = f64s(rng.normal(channels, &Device::Cpu).unwrap());
        let r = f64s(rng.normal(shape, &Device::Cpu).unwrap());
        let f = |x: &Tensor, p: &Tensor| -> Tensor {
            let y = op(x, p).unwrap();
            let r = r
                .flatten_all()
                .unwrap()
                .narrow(0, 0, y.elem_count())
                .unwrap();
            (y.flatten_all().unwrap() * r).unwrap().sum_all().unwrap()
        };
        let (x, p) = (
            Var::from_tensor(&x0).unwrap(),
            Var::from_tensor(&p0).unwrap(),
        );
        let grads = f(x.as_tensor(), p.as_tensor()).backward().unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let zeros_like = |t: &Tensor| vec![0.0; t.elem_count()];
        let analytic = [
            grads
                .get(x.as_tensor())
                .map_or_else(|| zeros_like(&x0), flat),
            grads
                .get(p.as_tensor())
                .map_or_else(|| zeros_like(&p0), flat),
        ];
        let h = 1e-6;
        for (which, base) in [&x0, &p0].into_iter().enumerate() {
            let values = flat(base);
            for i in 0..values.len() {
                let at = |delta: f64| {
                    let mut v = values.clone();
                    v[i] += delta;
                    let t = Tensor::from_vec(v, base.shape(), &Device::Cpu).unwrap();
                    let value = if which == 0 { f(&t, &p0) } else { f(&x0, &t) };
                    value.to_scalar::<f64>().unwrap()
                };
                let numeric = (at(h) - at(-h)) / (2.0 * h);
                let a = analytic[which][i];
                assert!(
                    (a - numeric).abs() <= 1e-5 * numeric.abs().max(1.0),
                    "{name}: ∂f/∂{}[{i}] = {a} by backward, {numeric} by finite differences",
                    ["x", "p"][which]
                );
            }
        }
    }
}
