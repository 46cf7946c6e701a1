//! What every kernel shares: the dtype dispatch of a CPU op's forward pass (one body for f32 and
//! f64), row-major values of a strided layout, the gate between the fused path and candle's ops,
//! and the gradient-skipping hint of backward passes. The kernel modules import this one; it
//! imports none of them.

use std::borrow::Cow;

use candle_core::{DType, Layout, Tensor};

/// The forward pass of a CPU op on one storage, for f32 and f64 alike: `$body` is written once
/// and instantiated per dtype, with `$x` bound to the contiguous values (a slice); it yields a
/// `Vec` of the same type. Other dtypes fail naming `$name`.
macro_rules! float_op1 {
    ($name:expr, ($s:expr, $l:expr), |$x:ident| $body:expr) => {
        match $s {
            candle_core::CpuStorage::F32(x) => {
                let $x = &*$crate::dispatch::values(x, $l);
                candle_core::CpuStorage::F32($body)
            }
            candle_core::CpuStorage::F64(x) => {
                let $x = &*$crate::dispatch::values(x, $l);
                candle_core::CpuStorage::F64($body)
            }
            s => candle_core::bail!("{}: unsupported dtype {:?}", $name, s.dtype()),
        }
    };
}
pub(crate) use float_op1;

/// [`float_op1`] for two storages of the same dtype.
macro_rules! float_op2 {
    ($name:expr, ($s1:expr, $l1:expr), ($s2:expr, $l2:expr), |$a:ident, $b:ident| $body:expr) => {
        match ($s1, $s2) {
            (candle_core::CpuStorage::F32(a), candle_core::CpuStorage::F32(b)) => {
                let ($a, $b) = (
                    &*$crate::dispatch::values(a, $l1),
                    &*$crate::dispatch::values(b, $l2),
                );
                candle_core::CpuStorage::F32($body)
            }
            (candle_core::CpuStorage::F64(a), candle_core::CpuStorage::F64(b)) => {
                let ($a, $b) = (
                    &*$crate::dispatch::values(a, $l1),
                    &*$crate::dispatch::values(b, $l2),
                );
                candle_core::CpuStorage::F64($body)
            }
            (s1, s2) => candle_core::bail!(
                "{}: unsupported dtypes {:?}, {:?}",
                $name,
                s1.dtype(),
                s2.dtype()
            ),
        }
    };
}
pub(crate) use float_op2;

/// [`float_op1`] for three storages of the same dtype.
macro_rules! float_op3 {
    (
        $name:expr,
        ($s1:expr, $l1:expr),
        ($s2:expr, $l2:expr),
        ($s3:expr, $l3:expr),
        |$a:ident, $b:ident, $c:ident| $body:expr
    ) => {
        match ($s1, $s2, $s3) {
            (
                candle_core::CpuStorage::F32(a),
                candle_core::CpuStorage::F32(b),
                candle_core::CpuStorage::F32(c),
            ) => {
                let ($a, $b, $c) = (
                    &*$crate::dispatch::values(a, $l1),
                    &*$crate::dispatch::values(b, $l2),
                    &*$crate::dispatch::values(c, $l3),
                );
                candle_core::CpuStorage::F32($body)
            }
            (
                candle_core::CpuStorage::F64(a),
                candle_core::CpuStorage::F64(b),
                candle_core::CpuStorage::F64(c),
            ) => {
                let ($a, $b, $c) = (
                    &*$crate::dispatch::values(a, $l1),
                    &*$crate::dispatch::values(b, $l2),
                    &*$crate::dispatch::values(c, $l3),
                );
                candle_core::CpuStorage::F64($body)
            }
            (s1, s2, s3) => candle_core::bail!(
                "{}: unsupported dtypes {:?}, {:?}, {:?}",
                $name,
                s1.dtype(),
                s2.dtype(),
                s3.dtype()
            ),
        }
    };
}
pub(crate) use float_op3;

thread_local! {
    static SKIPPED: std::cell::RefCell<std::collections::HashSet<candle_core::TensorId>> =
        std::cell::RefCell::new(std::collections::HashSet::new());
}

/// Runs `f` (a backward pass) with this crate's ops skipping the gradients of `params`: a
/// generator step backpropagates through the discriminator but only updates the generator, so
/// the discriminator's weight gradients (a full matrix product per conv layer) would be thrown
/// away. A hint, not a guarantee: candle's own ops (matmul, …) still compute theirs, so never read
/// a skipped tensor's gradient. Gradients of every other tensor are unchanged.
pub fn skipping_gradients<R>(params: &[Tensor], f: impl FnOnce() -> R) -> R {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            SKIPPED.with(|s| s.borrow_mut().clear());
        }
    }
    SKIPPED.with(|s| s.borrow_mut().extend(params.iter().map(Tensor::id)));
    let _restore = Restore;
    f()
}

/// Whether a backward pass needs the gradient of `t`: it depends on a variable, and is not
/// skipped ([`skipping_gradients`]).
pub fn wants_grad(t: &Tensor) -> bool {
    t.track_op() && !SKIPPED.with(|s| s.borrow().contains(&t.id()))
}

/// Whether `xs` takes the fused path: kernels on ([`crate::enabled`]), on the CPU, f32 or f64.
pub(crate) fn fused(xs: &Tensor) -> bool {
    crate::enabled() && xs.device().is_cpu() && matches!(xs.dtype(), DType::F32 | DType::F64)
}

/// The values of a CPU tensor in row-major order, borrowing when contiguous.
pub fn values<'a, T: Copy>(v: &'a [T], layout: &Layout) -> Cow<'a, [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Cow::Borrowed(&v[a..b]),
        None => Cow::Owned(strided_offsets(layout).into_iter().map(|i| v[i]).collect()),
    }
}

/// The storage offsets of a strided layout's elements in row-major order.
fn strided_offsets(layout: &Layout) -> Vec<usize> {
    let (dims, stride) = (layout.dims(), layout.stride());
    let n = layout.shape().elem_count();
    let mut out = Vec::with_capacity(n);
    let mut index = vec![0usize; dims.len()];
    let mut offset = layout.start_offset();
    for _ in 0..n {
        out.push(offset);
        // Odometer increment, last dimension fastest.
        for d in (0..dims.len()).rev() {
            index[d] += 1;
            offset += stride[d];
            if index[d] < dims[d] {
                break;
            }
            offset -= stride[d] * dims[d];
            index[d] = 0;
        }
    }
    out
}
