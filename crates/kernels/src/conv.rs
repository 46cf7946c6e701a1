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

use crate::dispatch::float_op2;

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
    crate::enabled()
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

/// Skips the gradient of an input that no variable depends on (e.g. a batch of real data) or
/// that the caller skips ([`crate::skipping_gradients`]).
fn needed(t: &Tensor, grad: impl FnOnce() -> Result<Tensor>) -> Result<Option<Tensor>> {
    if crate::dispatch::wants_grad(t) {
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

/// f32 or f64, with a per-thread scratch buffer for the im2col matrix and its companions (reused
/// across calls, so that a training step does not page-fault fresh multi-megabyte buffers for
/// every layer).
pub(crate) trait Element: Copy + Default + std::ops::AddAssign + 'static {
    const ONE: Self;
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;

    /// [`read_window`] for stride 2 with wide vector instructions, where this type and CPU have
    /// them; `false` when not done.
    fn read_window_s2(
        _dst: &mut [Self],
        _plane: &[Self],
        _origin: usize,
        _wp: usize,
        _ow: usize,
    ) -> bool {
        false
    }

    /// [`add_window`] for stride 2 likewise.
    fn add_window_s2(
        _src: &[Self],
        _plane: &mut [Self],
        _origin: usize,
        _wp: usize,
        _ow: usize,
    ) -> bool {
        false
    }
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

    #[cfg(target_arch = "x86_64")]
    fn read_window_s2(dst: &mut [f32], plane: &[f32], origin: usize, wp: usize, ow: usize) -> bool {
        if !avx512::available() {
            return false;
        }
        // SAFETY: the CPU has AVX-512F (checked above).
        unsafe { avx512::read_window_s2(dst, plane, origin, wp, ow) };
        true
    }

    #[cfg(target_arch = "x86_64")]
    fn add_window_s2(src: &[f32], plane: &mut [f32], origin: usize, wp: usize, ow: usize) -> bool {
        if !avx512::available() {
            return false;
        }
        // SAFETY: the CPU has AVX-512F (checked above).
        unsafe { avx512::add_window_s2(src, plane, origin, wp, ow) };
        true
    }
}

/// The stride-2 windows of im2col and col2im in f32 with AVX-512 masked loads, compress and
/// expand: one vector per 8 outputs instead of 8 scalar moves. The same single adds as the
/// scalar loops, so results are bitwise identical with and without it.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __mmask16, _mm512_add_ps, _mm512_mask_storeu_ps, _mm512_maskz_compress_ps,
        _mm512_maskz_expand_ps, _mm512_maskz_loadu_ps,
    };

    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
    }

    /// Lanes 0..n of a 16-lane mask.
    fn first(n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }

    /// Even lanes: every other element, the stride-2 pattern.
    const EVEN: __mmask16 = 0x5555;

    /// Checks that every window row `oy < dst.len() / ow` and column `ox < ow` stays inside
    /// `plane`, and returns the window's height.
    fn rows(len: usize, plane: usize, origin: usize, wp: usize, ow: usize) -> usize {
        assert!(
            ow > 0 && len.is_multiple_of(ow),
            "stride-2 window: {len} values in rows of {ow}"
        );
        let oh = len / ow;
        if oh > 0 {
            let last = origin + 2 * (oh - 1) * wp + 2 * (ow - 1);
            assert!(
                last < plane,
                "stride-2 window: index {last} outside a plane of {plane}"
            );
        }
        oh
    }

    /// `dst[oy·ow + ox] = plane[origin + 2·oy·wp + 2·ox]`.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn read_window_s2(
        dst: &mut [f32],
        plane: &[f32],
        origin: usize,
        wp: usize,
        ow: usize,
    ) {
        let oh = rows(dst.len(), plane.len(), origin, wp, ow);
        for oy in 0..oh {
            for ox in (0..ow).step_by(8) {
                let r = (ow - ox).min(8);
                let span = first(2 * r - 1);
                // SAFETY: AVX-512F is present (this function's contract). The masked load reads
                // only the 2r − 1 lanes of `span`, the last at plane[origin + 2·oy·wp + 2·(ox +
                // r − 1)], which `rows` checked is inside `plane`; the masked store writes r lanes
                // at dst[oy·ow + ox..], ending at or before oy·ow + ow ≤ oh·ow = dst.len().
                // loadu/storeu need no alignment beyond f32's.
                unsafe {
                    let v = _mm512_maskz_loadu_ps(
                        span,
                        plane.as_ptr().add(origin + 2 * oy * wp + 2 * ox),
                    );
                    let packed = _mm512_maskz_compress_ps(EVEN & span, v);
                    _mm512_mask_storeu_ps(dst.as_mut_ptr().add(oy * ow + ox), first(r), packed);
                }
            }
        }
    }

    /// `plane[origin + 2·oy·wp + 2·ox] += src[oy·ow + ox]`.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn add_window_s2(
        src: &[f32],
        plane: &mut [f32],
        origin: usize,
        wp: usize,
        ow: usize,
    ) {
        let oh = rows(src.len(), plane.len(), origin, wp, ow);
        for oy in 0..oh {
            for ox in (0..ow).step_by(8) {
                let r = (ow - ox).min(8);
                let span = first(2 * r - 1);
                // SAFETY: AVX-512F is present (this function's contract). The load of `src` reads
                // r lanes ending at oy·ow + ox + r ≤ oh·ow = src.len(); the load and store of
                // `plane` touch only the lanes of `span`, inside `plane` by `rows`'s check (as in
                // read_window_s2); `plane` is a `&mut`, so nothing else sees the write. Odd lanes
                // get + 0 and are stored back unchanged.
                unsafe {
                    let v = _mm512_maskz_loadu_ps(first(r), src.as_ptr().add(oy * ow + ox));
                    let spread = _mm512_maskz_expand_ps(EVEN & span, v);
                    let at = plane.as_mut_ptr().add(origin + 2 * oy * wp + 2 * ox);
                    let sum = _mm512_add_ps(_mm512_maskz_loadu_ps(span, at), spread);
                    _mm512_mask_storeu_ps(at, span, sum);
                }
            }
        }
    }
}

impl Element for f64 {
    const ONE: Self = 1.0;
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
        SCRATCH_F64.with(|c| with_buffer(c, len, f))
    }
}

/// Elements of the im2col matrix per chunk of samples: large enough for wide matrix products,
/// small enough (512 KiB in f32) to stay in a core's L2 cache between im2col and the product.
/// With 4 MiB chunks the DCGAN step ran ~10% slower whenever another tenant loaded the shared L3
/// (interleaved runs, 2-core VM). A constant, so that results never depend on the machine.
const COLUMN_BUDGET: usize = 1 << 17;

/// Samples per chunk for `rows` im2col rows of `positions` columns each.
fn chunk_len(n: usize, rows: usize, positions: usize) -> usize {
    (COLUMN_BUDGET / (rows * positions).max(1)).clamp(1, n.max(1))
}

/// A row-major matrix view: `rs`/`cs` are the strides between rows and between columns.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    pub(crate) data: &'a [T],
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

/// dst `(m, n)`, row-major and contiguous, = (dst if `accumulate`) + lhs `(m, k)` · rhs `(k, n)`.
pub(crate) fn matmul<T: Element>(
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
    // SAFETY: gemm reads lhs at i·rs + j·cs for i < m, j < k (and rhs likewise for k × n) and
    // writes dst at i·n + j for i < m, j < n: the asserts above keep all of these inside their
    // slices. dst does not alias lhs or rhs (it is a distinct `&mut`) and is initialized, as
    // `accumulate` reads it. No alignment beyond the element type's is required.
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

/// The per-call scratch space of one convolution map, carved from the thread's scratch buffer:
/// the im2col matrix of one chunk of samples, the chunk's small side in channel-major order, and
/// one large-side plane with its zero border.
struct Scratch<'a, T> {
    col: &'a mut [T],
    small: &'a mut [T],
    plane: &'a mut [T],
}

impl Geometry {
    /// The large side with its zero border: `(h + 2·padding, w + 2·padding)`.
    fn padded(&self) -> (usize, usize) {
        (self.h + 2 * self.padding, self.w + 2 * self.padding)
    }

    /// Runs `f` on scratch space for chunks of `len` samples with `c_small` small-side channels.
    fn with_scratch<T: Element, R>(
        &self,
        rows: usize,
        c_small: usize,
        len: usize,
        f: impl FnOnce(Scratch<'_, T>) -> R,
    ) -> R {
        let width = len * self.positions();
        let (hp, wp) = self.padded();
        T::with_scratch((rows + c_small) * width + hp * wp, |buf| {
            let (col, rest) = buf.split_at_mut(rows * width);
            let (small, plane) = rest.split_at_mut(c_small * width);
            // im2col only ever writes the plane's interior, so its border stays zero.
            plane.fill(T::default());
            f(Scratch { col, small, plane })
        })
    }
}

/// Window `(oy, ox)` of a padded plane `wp` wide, from `origin` on: `dst[oy·ow + ox] =
/// plane[origin + oy·stride·wp + ox·stride]`. `STRIDE` is the stride when nonzero (so that the
/// common strides 1 and 2 compile to fixed-step loops), else `stride` is.
#[inline(always)]
fn read_window<T: Element, const STRIDE: usize>(
    dst: &mut [T],
    plane: &[T],
    origin: usize,
    (wp, ow, stride): (usize, usize, usize),
) {
    if STRIDE == 2 && T::read_window_s2(dst, plane, origin, wp, ow) {
        return;
    }
    let stride = if STRIDE == 0 { stride } else { STRIDE };
    let span = (ow - 1) * stride + 1;
    for (oy, dst) in dst.chunks_exact_mut(ow).enumerate() {
        let row = &plane[origin + oy * stride * wp..][..span];
        for (ox, d) in dst.iter_mut().enumerate() {
            *d = row[ox * stride];
        }
    }
}

/// The adjoint of [`read_window`]: adds `src[oy·ow + ox]` into `plane[origin + oy·stride·wp +
/// ox·stride]`.
#[inline(always)]
fn add_window<T: Element, const STRIDE: usize>(
    src: &[T],
    plane: &mut [T],
    origin: usize,
    (wp, ow, stride): (usize, usize, usize),
) {
    if STRIDE == 2 && T::add_window_s2(src, plane, origin, wp, ow) {
        return;
    }
    let stride = if STRIDE == 0 { stride } else { STRIDE };
    let span = (ow - 1) * stride + 1;
    for (oy, src) in src.chunks_exact(ow).enumerate() {
        let row = &mut plane[origin + oy * stride * wp..][..span];
        for (ox, &v) in src.iter().enumerate() {
            row[ox * stride] += v;
        }
    }
}

/// Fills `col` `(c·kh·kw, cn·oh·ow)` from samples `n0..n0 + cn` of `x` `(n, c, h, w)`: column
/// `(s, oy, ox)` of row `(ci, ki, kj)` holds x at large position `(oy·stride + ki·dilation −
/// padding, …)`, or 0 in the padding. `plane` is a zero-bordered padded plane.
fn im2col<T: Element>(g: &Geometry, x: &[T], c: usize, n0: usize, cn: usize, s: &mut Scratch<T>) {
    match g.stride {
        1 => im2col_strided::<T, 1>(g, x, c, n0, cn, s),
        2 => im2col_strided::<T, 2>(g, x, c, n0, cn, s),
        _ => im2col_strided::<T, 0>(g, x, c, n0, cn, s),
    }
}

fn im2col_strided<T: Element, const STRIDE: usize>(
    g: &Geometry,
    x: &[T],
    c: usize,
    n0: usize,
    cn: usize,
    scratch: &mut Scratch<T>,
) {
    let (p, hw) = (g.positions(), g.h * g.w);
    let (_, wp) = g.padded();
    let width = cn * p;
    let window = (wp, g.ow, g.stride);
    for s in 0..cn {
        for ci in 0..c {
            let src = &x[((n0 + s) * c + ci) * hw..][..hw];
            let plane: &[T] = if g.padding == 0 {
                src
            } else {
                let interior = g.padding * wp + g.padding;
                for (y, row) in src.chunks_exact(g.w.max(1)).enumerate() {
                    scratch.plane[interior + y * wp..][..g.w].copy_from_slice(row);
                }
                scratch.plane
            };
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    let row = (ci * g.kh + ki) * g.kw + kj;
                    let dst = &mut scratch.col[row * width + s * p..][..p];
                    let origin = ki * g.dilation * wp + kj * g.dilation;
                    read_window::<T, STRIDE>(dst, plane, origin, window);
                }
            }
        }
    }
}

/// The adjoint of [`im2col`] for `cn` samples: sums every entry of `col` into its large position
/// (entries in the padding are dropped) and appends the `(cn, c, h, w)` result to `out`.
fn col2im<T: Element>(g: &Geometry, c: usize, cn: usize, s: &mut Scratch<T>, out: &mut Vec<T>) {
    match g.stride {
        1 => col2im_strided::<T, 1>(g, c, cn, s, out),
        2 => col2im_strided::<T, 2>(g, c, cn, s, out),
        _ => col2im_strided::<T, 0>(g, c, cn, s, out),
    }
}

fn col2im_strided<T: Element, const STRIDE: usize>(
    g: &Geometry,
    c: usize,
    cn: usize,
    scratch: &mut Scratch<T>,
    out: &mut Vec<T>,
) {
    let p = g.positions();
    let (_, wp) = g.padded();
    let width = cn * p;
    let window = (wp, g.ow, g.stride);
    for s in 0..cn {
        for ci in 0..c {
            scratch.plane.fill(T::default());
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    let row = (ci * g.kh + ki) * g.kw + kj;
                    let src = &scratch.col[row * width + s * p..][..p];
                    let origin = ki * g.dilation * wp + kj * g.dilation;
                    add_window::<T, STRIDE>(src, scratch.plane, origin, window);
                }
            }
            for y in 0..g.h {
                out.extend_from_slice(&scratch.plane[(y + g.padding) * wp + g.padding..][..g.w]);
            }
        }
    }
}

/// Appends channel-major `cm` `(c, cn·p)` to `out` as `(cn, c, p)`.
fn append_samples<T: Element>(cm: &[T], c: usize, p: usize, cn: usize, out: &mut Vec<T>) {
    for s in 0..cn {
        for ci in 0..c {
            out.extend_from_slice(&cm[(ci * cn + s) * p..][..p]);
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
    // Filled chunk by chunk, in order, so that it is never zeroed first.
    let mut out = Vec::with_capacity(n * c_small * p);
    let len = chunk_len(n, rows, p);
    g.with_scratch(rows, c_small, len, |mut s: Scratch<'_, T>| {
        for (n0, cn) in chunks(n, len) {
            let width = cn * p;
            im2col(g, x, c_big, n0, cn, &mut s);
            let lhs = Mat {
                data: w,
                rs: rows,
                cs: 1,
            };
            let rhs = Mat {
                data: &s.col[..rows * width],
                rs: width,
                cs: 1,
            };
            let small = &mut s.small[..c_small * width];
            matmul(small, false, lhs, rhs, (c_small, width, rows));
            append_samples(small, c_small, p, cn, &mut out);
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
    let mut out = Vec::with_capacity(n * c_big * g.h * g.w);
    let len = chunk_len(n, rows, p);
    g.with_scratch(rows, c_small, len, |mut s: Scratch<'_, T>| {
        for (n0, cn) in chunks(n, len) {
            let width = cn * p;
            gather_samples(d, c_small, p, n0, cn, s.small);
            // wᵀ: (rows, c_small) read from w (c_small, rows).
            let lhs = Mat {
                data: w,
                rs: 1,
                cs: rows,
            };
            let rhs = Mat {
                data: &s.small[..c_small * width],
                rs: width,
                cs: 1,
            };
            matmul(
                &mut s.col[..rows * width],
                false,
                lhs,
                rhs,
                (rows, width, c_small),
            );
            col2im(g, c_big, cn, &mut s, &mut out);
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
    g.with_scratch(rows, c_small, len, |mut s: Scratch<'_, T>| {
        for (i, (n0, cn)) in chunks(n, len).enumerate() {
            let width = cn * p;
            im2col(g, x, c_big, n0, cn, &mut s);
            gather_samples(d, c_small, p, n0, cn, s.small);
            let lhs = Mat {
                data: &s.small[..c_small * width],
                rs: width,
                cs: 1,
            };
            // colᵀ: (width, rows) read from col (rows, width).
            let rhs = Mat {
                data: &s.col[..rows * width],
                rs: 1,
                cs: width,
            };
            matmul(&mut out, i > 0, lhs, rhs, (c_small, rows, width));
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniform values in `[lo, hi)` from a fixed sequence (xorshift64*): the two paths are
    /// compared bitwise, so any data does.
    struct SeededRng(u64);

    impl SeededRng {
        fn new(seed: u64) -> Self {
            Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }

        fn uniform_vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
            (0..n)
                .map(|_| {
                    self.0 ^= self.0 >> 12;
                    self.0 ^= self.0 << 25;
                    self.0 ^= self.0 >> 27;
                    let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
                    lo + (hi - lo) * (bits as f32 / (1u64 << 24) as f32)
                })
                .collect()
        }
    }

    /// The AVX-512 stride-2 windows against the scalar loops, bitwise, on every width up to 20
    /// (partial vectors included) and windows that touch the plane's last value.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_windows_equal_the_scalar_loops() {
        if !avx512::available() {
            eprintln!("no AVX-512 on this CPU: nothing to compare");
            return;
        }
        let mut rng = SeededRng::new(9);
        for ow in 1..=20 {
            for oh in 1..=3 {
                let wp = 2 * ow + 3;
                let origin = 1 + ow % 2;
                // The plane ends exactly at the window's last value.
                let len = origin + 2 * (oh - 1) * wp + 2 * (ow - 1) + 1;
                let plane = rng.uniform_vec(len, -1.0, 1.0);
                let window = (wp, ow, 2);

                let mut fast = vec![0f32; oh * ow];
                assert!(f32::read_window_s2(&mut fast, &plane, origin, wp, ow));
                let mut scalar = vec![0f32; oh * ow];
                read_window::<f32, 0>(&mut scalar, &plane, origin, window);
                assert_eq!(fast, scalar, "read, {oh}×{ow}");

                let src = rng.uniform_vec(oh * ow, -1.0, 1.0);
                let mut fast = plane.clone();
                assert!(f32::add_window_s2(&src, &mut fast, origin, wp, ow));
                let mut scalar = plane.clone();
                add_window::<f32, 0>(&src, &mut scalar, origin, window);
                assert_eq!(fast, scalar, "add, {oh}×{ow}");
            }
        }
    }
}
