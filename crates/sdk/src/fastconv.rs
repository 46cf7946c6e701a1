//! 2D convolutions for the CPU as im2col / col2im and matrix products: [`conv2d`] and
//! [`conv_transpose2d`], with gradients of any order.
//!
//! candle 0.11's CPU `conv_transpose2d` is a direct loop nest, and it also computes every
//! conv2d input gradient, so a DCGAN step spent most of its time there (design.md, "candle
//! facts"). Here one convolution geometry (kernel, stride, padding, dilation, and the spatial sizes
//! of the large side `h × w` and the small side `oh × ow`) defines three bilinear maps:
//!
//! - `Conv(x, w)`: large → small, the convolution;
//! - `ConvT(g, w)`: small → large, its adjoint in x (the transposed convolution);
//! - `WGrad(x, g)`: the adjoint in w (the weight gradient), kernel-shaped.
//!
//! Each one's derivatives are the other two, so backward passes are built from the same fast
//! custom ops, and candle differentiates through them again (WGAN-GP's double backward).
//! Every map is an im2col (or col2im) plus one matrix product per chunk of samples, through the
//! `gemm` crate that candle's own matmul uses, so results are deterministic for a given thread
//! count. Kernels with `groups > 1`, devices other than the CPU and dtypes other than f32/f64 use
//! candle's ops.

use std::cell::RefCell;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};

use crate::ops::float_op2;

/// A 2D convolution of `xs` `(n, c_in, h, w)` with `kernel` `(c_out, c_in, kh, kw)`, as candle's
/// `Tensor::conv2d(kernel, padding, stride, dilation, 1)`.
pub fn conv2d(
    xs: &Tensor,
    kernel: &Tensor,
    padding: usize,
    stride: usize,
    dilation: usize,
) -> Result<Tensor> {
    if !fast(xs, kernel) {
        return xs.conv2d(kernel, padding, stride, dilation, 1);
    }
    let (_, c_in, h, w) = xs.dims4()?;
    let (_, k_in, kh, kw) = kernel.dims4()?;
    if c_in != k_in {
        bail!(
            "conv2d: input with {c_in} channels, kernel {:?} expects {k_in}",
            kernel.dims()
        );
    }
    let geometry = Geometry::for_conv(h, w, kh, kw, padding, stride, dilation)?;
    xs.apply_op2(kernel, Conv(geometry))
}

/// A transposed 2D convolution of `xs` `(n, c_in, h, w)` with `kernel` `(c_in, c_out, kh, kw)`, as
/// candle's `Tensor::conv_transpose2d(kernel, padding, output_padding, stride, dilation)`:
/// the output is `(h - 1)·stride - 2·padding + dilation·(kh - 1) + output_padding + 1` high (and
/// likewise wide). `output_padding` must be below `stride` or `dilation`, as in PyTorch.
pub fn conv_transpose2d(
    xs: &Tensor,
    kernel: &Tensor,
    padding: usize,
    output_padding: usize,
    stride: usize,
    dilation: usize,
) -> Result<Tensor> {
    if !fast(xs, kernel) {
        return xs.conv_transpose2d(kernel, padding, output_padding, stride, dilation);
    }
    let (_, c_in, oh, ow) = xs.dims4()?;
    let (k_in, _, kh, kw) = kernel.dims4()?;
    if c_in != k_in {
        bail!(
            "conv_transpose2d: input with {c_in} channels, kernel {:?} expects {k_in}",
            kernel.dims()
        );
    }
    if output_padding >= stride.max(dilation) {
        bail!(
            "conv_transpose2d: output_padding {output_padding} must be smaller than the stride \
             {stride} or the dilation {dilation}"
        );
    }
    let big = |o: usize, k: usize| {
        ((o - 1) * stride + dilation * (k - 1) + output_padding + 1).checked_sub(2 * padding)
    };
    let (Some(h), Some(w)) = (big(oh, kh), big(ow, kw)) else {
        bail!("conv_transpose2d: padding {padding} removes the whole {oh}×{ow} output");
    };
    let geometry = Geometry {
        oh,
        ow,
        ..Geometry::for_conv(h, w, kh, kw, padding, stride, dilation)?
    };
    xs.apply_op2(kernel, ConvT(geometry))
}

fn fast(xs: &Tensor, kernel: &Tensor) -> bool {
    crate::fast_kernels()
        && xs.device().is_cpu()
        && matches!(xs.dtype(), DType::F32 | DType::F64)
        && xs.dtype() == kernel.dtype()
        && xs.rank() == 4
        && kernel.rank() == 4
}

/// The shape of one convolution: the large side `h × w` (conv input, transposed-conv output),
/// the small side `oh × ow`, and how kernel positions map between them:
/// large index = small index · stride + kernel index · dilation − padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    kh: usize,
    kw: usize,
    padding: usize,
    stride: usize,
    dilation: usize,
}

impl Geometry {
    fn for_conv(
        h: usize,
        w: usize,
        kh: usize,
        kw: usize,
        padding: usize,
        stride: usize,
        dilation: usize,
    ) -> Result<Self> {
        if stride == 0 || dilation == 0 || kh == 0 || kw == 0 {
            bail!("conv2d: stride {stride}, dilation {dilation} and kernel {kh}×{kw} must be positive");
        }
        let small = |size: usize, k: usize| {
            (size + 2 * padding)
                .checked_sub(dilation * (k - 1) + 1)
                .map(|span| span / stride + 1)
        };
        let (Some(oh), Some(ow)) = (small(h, kh), small(w, kw)) else {
            bail!(
                "conv2d: the {kh}×{kw} kernel (dilation {dilation}) does not fit in the {h}×{w} \
                 input padded by {padding}"
            );
        };
        Ok(Self {
            h,
            w,
            oh,
            ow,
            kh,
            kw,
            padding,
            stride,
            dilation,
        })
    }

    /// Output positions per sample.
    fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// For kernel offset `k` along an axis of large size `size` and small size `out`: the small
    /// indices `lo..hi` whose large index lies inside, and the large index of small index 0
    /// (possibly negative).
    fn valid(&self, k: usize, size: usize, out: usize) -> (usize, usize, isize) {
        let start = (k * self.dilation) as isize - self.padding as isize;
        let s = self.stride as isize;
        // Smallest o with start + o·s ≥ 0, and smallest o with start + o·s ≥ size.
        let first_at_least = |bound: isize| -> usize {
            if start >= bound {
                0
            } else {
                ((bound - start + s - 1) / s) as usize
            }
        };
        let lo = first_at_least(0).min(out);
        let hi = first_at_least(size as isize).min(out).max(lo);
        (lo, hi, start)
    }

    fn check(&self, what: &str, dims: &[usize], spatial: (usize, usize)) -> Result<()> {
        if dims.len() != 4 || (dims[2], dims[3]) != spatial {
            bail!(
                "fast conv: {what} has shape {dims:?}, expected (n, c, {}, {}) for {self:?}",
                spatial.0,
                spatial.1
            );
        }
        Ok(())
    }
}

/// `Conv(x, w)`: x `(n, c_big, h, w)`, w `(c_small, c_big, kh, kw)` ↦ `(n, c_small, oh, ow)`.
struct Conv(Geometry);

/// `ConvT(g, w)`: g `(n, c_small, oh, ow)`, w `(c_small, c_big, kh, kw)` ↦ `(n, c_big, h, w)`.
struct ConvT(Geometry);

/// `WGrad(x, g)`: x `(n, c_big, h, w)`, g `(n, c_small, oh, ow)` ↦ `(c_small, c_big, kh, kw)`.
struct WGrad(Geometry);

/// Skips the gradient of an input that no variable depends on (e.g. a batch of real data).
fn needed(t: &Tensor, grad: impl FnOnce() -> Result<Tensor>) -> Result<Option<Tensor>> {
    if t.track_op() {
        grad().map(Some)
    } else {
        Ok(None)
    }
}

impl CustomOp2 for Conv {
    fn name(&self) -> &'static str {
        "ganbench-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        g.check("conv input", l1.dims(), (g.h, g.w))?;
        g.check("conv kernel", l2.dims(), (g.kh, g.kw))?;
        let (n, c_big) = (l1.dims()[0], l1.dims()[1]);
        let c_small = l2.dims()[0];
        if l2.dims()[1] != c_big {
            bail!("conv2d: kernel {:?} for {c_big} input channels", l2.dims());
        }
        let shape = Shape::from((n, c_small, g.oh, g.ow));
        let out = float_op2!("conv2d", (s1, l1), (s2, l2), |x, w| {
            conv(g, x, w, n, c_big, c_small)
        });
        Ok((out, shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((
            needed(x, || grad.apply_op2(w, ConvT(self.0)))?,
            needed(w, || x.apply_op2(grad, WGrad(self.0)))?,
        ))
    }
}

impl CustomOp2 for ConvT {
    fn name(&self) -> &'static str {
        "ganbench-conv-transpose2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        g.check("transposed conv input", l1.dims(), (g.oh, g.ow))?;
        g.check("transposed conv kernel", l2.dims(), (g.kh, g.kw))?;
        let (n, c_small) = (l1.dims()[0], l1.dims()[1]);
        let c_big = l2.dims()[1];
        if l2.dims()[0] != c_small {
            bail!(
                "conv_transpose2d: kernel {:?} for {c_small} input channels",
                l2.dims()
            );
        }
        let shape = Shape::from((n, c_big, g.h, g.w));
        let out = float_op2!("conv_transpose2d", (s1, l1), (s2, l2), |x, w| {
            conv_t(g, x, w, n, c_big, c_small)
        });
        Ok((out, shape))
    }

    fn bwd(
        &self,
        small: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((
            needed(small, || grad.apply_op2(w, Conv(self.0)))?,
            needed(w, || grad.apply_op2(small, WGrad(self.0)))?,
        ))
    }
}

impl CustomOp2 for WGrad {
    fn name(&self) -> &'static str {
        "ganbench-conv2d-weight-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        g.check("conv input", l1.dims(), (g.h, g.w))?;
        g.check("conv output gradient", l2.dims(), (g.oh, g.ow))?;
        let (n, c_big) = (l1.dims()[0], l1.dims()[1]);
        let c_small = l2.dims()[1];
        if l2.dims()[0] != n {
            bail!(
                "conv2d weight gradient: batches {:?} and {:?}",
                l1.dims(),
                l2.dims()
            );
        }
        let shape = Shape::from((c_small, c_big, g.kh, g.kw));
        let out = float_op2!("conv2d weight gradient", (s1, l1), (s2, l2), |x, d| {
            w_grad(g, x, d, n, c_big, c_small)
        });
        Ok((out, shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        small: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((
            needed(x, || small.apply_op2(grad, ConvT(self.0)))?,
            needed(small, || x.apply_op2(grad, Conv(self.0)))?,
        ))
    }
}

/// f32 or f64, with a per-thread scratch buffer for the im2col matrix (reused across calls, so
/// that a training step does not page-fault a fresh multi-megabyte buffer for every layer).
trait Element: Copy + Default + std::ops::AddAssign + 'static {
    const ONE: Self;
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
}

thread_local! {
    static SCRATCH_F32: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static SCRATCH_F64: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

fn with_buffer<T: Default + Copy, R>(
    cell: &RefCell<Vec<T>>,
    len: usize,
    f: impl FnOnce(&mut [T]) -> R,
) -> R {
    // A nested call (none exists today) gets a fresh buffer rather than a borrow panic.
    match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, T::default());
            }
            f(&mut buf[..len])
        }
        Err(_) => f(&mut vec![T::default(); len]),
    }
}

impl Element for f32 {
    const ONE: Self = 1.0;
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
        SCRATCH_F32.with(|c| with_buffer(c, len, f))
    }
}

impl Element for f64 {
    const ONE: Self = 1.0;
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
        SCRATCH_F64.with(|c| with_buffer(c, len, f))
    }
}

/// Elements of the im2col matrix per chunk of samples: large enough for wide matrix products,
/// small enough to stay in cache. A constant, so that results never depend on the machine.
const COLUMN_BUDGET: usize = 1 << 20;

/// Samples per chunk for `rows` im2col rows of `positions` columns each.
fn chunk_len(n: usize, rows: usize, positions: usize) -> usize {
    (COLUMN_BUDGET / (rows * positions).max(1)).clamp(1, n.max(1))
}

/// A row-major matrix view: `rs`/`cs` are the strides between rows and between columns.
#[derive(Clone, Copy)]
struct Mat<'a, T> {
    data: &'a [T],
    rs: usize,
    cs: usize,
}

/// dst `(m, n)`, row-major and contiguous, = (dst if `accumulate`) + lhs `(m, k)` · rhs `(k, n)`.
fn matmul<T: Element>(
    dst: &mut [T],
    accumulate: bool,
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
    (m, n, k): (usize, usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, mat: &Mat<'_, T>| {
        (rows.max(1) - 1) * mat.rs + (cols.max(1) - 1) * mat.cs
    };
    assert!(dst.len() >= m * n, "matmul: destination too small");
    if k > 0 {
        assert!(
            last(m, k, &lhs) < lhs.data.len(),
            "matmul: lhs out of bounds"
        );
        assert!(
            last(k, n, &rhs) < rhs.data.len(),
            "matmul: rhs out of bounds"
        );
    }
    let threads = candle_core::utils::get_num_threads();
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every index the product touches inside the slices, and
    // dst does not alias lhs or rhs (it is a distinct &mut).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Fills `col` `(c·kh·kw, cn·oh·ow)` from samples `n0..n0 + cn` of `x` `(n, c, h, w)`: column
/// `(s, oy, ox)` of row `(ci, ki, kj)` holds x at large position `(oy·stride + ki·dilation −
/// padding, …)`, or 0 in the padding.
fn im2col<T: Element>(g: &Geometry, x: &[T], c: usize, n0: usize, cn: usize, col: &mut [T]) {
    let (p, hw) = (g.positions(), g.h * g.w);
    let width = cn * p;
    for ci in 0..c {
        for ki in 0..g.kh {
            let (ylo, yhi, ystart) = g.valid(ki, g.h, g.oh);
            for kj in 0..g.kw {
                let (xlo, xhi, xstart) = g.valid(kj, g.w, g.ow);
                let row = (ci * g.kh + ki) * g.kw + kj;
                let row = &mut col[row * width..(row + 1) * width];
                for (s, dst) in row.chunks_exact_mut(p).enumerate() {
                    let plane = &x[((n0 + s) * c + ci) * hw..][..hw];
                    dst[..ylo * g.ow].fill(T::default());
                    dst[yhi * g.ow..].fill(T::default());
                    for oy in ylo..yhi {
                        let iy = (ystart + (oy * g.stride) as isize) as usize;
                        let src = &plane[iy * g.w..(iy + 1) * g.w];
                        let dst = &mut dst[oy * g.ow..(oy + 1) * g.ow];
                        dst[..xlo].fill(T::default());
                        dst[xhi..].fill(T::default());
                        let ix0 = (xstart + (xlo * g.stride) as isize) as usize;
                        if g.stride == 1 {
                            dst[xlo..xhi].copy_from_slice(&src[ix0..ix0 + xhi - xlo]);
                        } else {
                            for (d, ix) in dst[xlo..xhi].iter_mut().zip((ix0..).step_by(g.stride)) {
                                *d = src[ix];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every entry of `col` into its large position of samples
/// `n0..n0 + cn` of `x` (entries in the padding are dropped).
fn col2im<T: Element>(g: &Geometry, col: &[T], c: usize, n0: usize, cn: usize, x: &mut [T]) {
    let (p, hw) = (g.positions(), g.h * g.w);
    let width = cn * p;
    for ci in 0..c {
        for ki in 0..g.kh {
            let (ylo, yhi, ystart) = g.valid(ki, g.h, g.oh);
            for kj in 0..g.kw {
                let (xlo, xhi, xstart) = g.valid(kj, g.w, g.ow);
                let row = (ci * g.kh + ki) * g.kw + kj;
                let row = &col[row * width..(row + 1) * width];
                for (s, src) in row.chunks_exact(p).enumerate() {
                    let plane = &mut x[((n0 + s) * c + ci) * hw..][..hw];
                    for oy in ylo..yhi {
                        let iy = (ystart + (oy * g.stride) as isize) as usize;
                        let dst = &mut plane[iy * g.w..(iy + 1) * g.w];
                        let src = &src[oy * g.ow + xlo..oy * g.ow + xhi];
                        let ix0 = (xstart + (xlo * g.stride) as isize) as usize;
                        if g.stride == 1 {
                            for (d, &v) in dst[ix0..ix0 + src.len()].iter_mut().zip(src) {
                                *d += v;
                            }
                        } else {
                            for (&v, ix) in src.iter().zip((ix0..).step_by(g.stride)) {
                                dst[ix] += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Copies channel-major `cm` `(c, cn·p)` into samples `n0..n0 + cn` of `out` `(n, c, p)`.
fn scatter_samples<T: Element>(cm: &[T], c: usize, p: usize, n0: usize, cn: usize, out: &mut [T]) {
    for ci in 0..c {
        for s in 0..cn {
            out[((n0 + s) * c + ci) * p..][..p].copy_from_slice(&cm[(ci * cn + s) * p..][..p]);
        }
    }
}

/// Copies samples `n0..n0 + cn` of `x` `(n, c, p)` into channel-major `cm` `(c, cn·p)`.
fn gather_samples<T: Element>(x: &[T], c: usize, p: usize, n0: usize, cn: usize, cm: &mut [T]) {
    for ci in 0..c {
        for s in 0..cn {
            cm[(ci * cn + s) * p..][..p].copy_from_slice(&x[((n0 + s) * c + ci) * p..][..p]);
        }
    }
}

/// Sample chunks `(n0, cn)` covering `0..n`.
fn chunks(n: usize, len: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n)
        .step_by(len.max(1))
        .map(move |n0| (n0, len.min(n - n0)))
}

fn conv<T: Element>(
    g: &Geometry,
    x: &[T],
    w: &[T],
    n: usize,
    c_big: usize,
    c_small: usize,
) -> Vec<T> {
    let (p, rows) = (g.positions(), c_big * g.kh * g.kw);
    let mut out = vec![T::default(); n * c_small * p];
    let len = chunk_len(n, rows, p);
    let mut small = vec![T::default(); c_small * len * p];
    T::with_scratch(rows * len * p, |col| {
        for (n0, cn) in chunks(n, len) {
            let width = cn * p;
            im2col(g, x, c_big, n0, cn, &mut col[..rows * width]);
            let lhs = Mat {
                data: w,
                rs: rows,
                cs: 1,
            };
            let rhs = Mat {
                data: &col[..rows * width],
                rs: width,
                cs: 1,
            };
            matmul(
                &mut small[..c_small * width],
                false,
                lhs,
                rhs,
                (c_small, width, rows),
            );
            scatter_samples(&small, c_small, p, n0, cn, &mut out);
        }
    });
    out
}

fn conv_t<T: Element>(
    g: &Geometry,
    d: &[T],
    w: &[T],
    n: usize,
    c_big: usize,
    c_small: usize,
) -> Vec<T> {
    let (p, rows) = (g.positions(), c_big * g.kh * g.kw);
    let mut out = vec![T::default(); n * c_big * g.h * g.w];
    let len = chunk_len(n, rows, p);
    let mut small = vec![T::default(); c_small * len * p];
    T::with_scratch(rows * len * p, |col| {
        for (n0, cn) in chunks(n, len) {
            let width = cn * p;
            gather_samples(d, c_small, p, n0, cn, &mut small);
            // wᵀ: (rows, c_small) read from w (c_small, rows).
            let lhs = Mat {
                data: w,
                rs: 1,
                cs: rows,
            };
            let rhs = Mat {
                data: &small[..c_small * width],
                rs: width,
                cs: 1,
            };
            matmul(
                &mut col[..rows * width],
                false,
                lhs,
                rhs,
                (rows, width, c_small),
            );
            col2im(g, &col[..rows * width], c_big, n0, cn, &mut out);
        }
    });
    out
}

fn w_grad<T: Element>(
    g: &Geometry,
    x: &[T],
    d: &[T],
    n: usize,
    c_big: usize,
    c_small: usize,
) -> Vec<T> {
    let (p, rows) = (g.positions(), c_big * g.kh * g.kw);
    let mut out = vec![T::default(); c_small * rows];
    let len = chunk_len(n, rows, p);
    let mut small = vec![T::default(); c_small * len * p];
    T::with_scratch(rows * len * p, |col| {
        for (i, (n0, cn)) in chunks(n, len).enumerate() {
            let width = cn * p;
            im2col(g, x, c_big, n0, cn, &mut col[..rows * width]);
            gather_samples(d, c_small, p, n0, cn, &mut small);
            let lhs = Mat {
                data: &small[..c_small * width],
                rs: width,
                cs: 1,
            };
            // colᵀ: (width, rows) read from col (rows, width).
            let rhs = Mat {
                data: &col[..rows * width],
                rs: 1,
                cs: width,
            };
            matmul(&mut out, i > 0, lhs, rhs, (c_small, rows, width));
        }
    });
    out
}
