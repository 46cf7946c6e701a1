//! Fast CPU kernels for candle: convolution by im2col, fused dense layers and activations, per-channel ops and batch norm, with gradients of any order.
//!
//! candle's generic CPU ops allocate zero tensors, masks and strided reductions in every backward
//! pass, and its `conv_transpose2d` is a direct loop nest; for the small networks of GAN research
//! those costs dominate a training step (docs/design.md, "candle facts"). Each kernel here is a
//! candle custom op whose backward pass is built from the same fast ops, so candle differentiates
//! through it again (WGAN-GP's and R1's double backward).
//!
//! - [`conv`]: `conv2d` / `conv_transpose2d` as im2col (col2im) and matrix products.
//! - [`dense`](mod@dense): `act(x·wᵀ + b)` in one op, `add_bias`, `leaky_relu`, `relu`.
//! - [`channel`]: `add_channel_bias`, `mul_channel`, `sum_channels` over dimension 1.
//! - [`batch_norm`]: training-mode batch norm as three fused ops, and evaluation mode.
//! - [`dispatch`]: what they share (dtype dispatch, strided values, the fused-path gate, the
//!   gradient-skipping hint); it imports none of the others, so the modules form no circle.
//!
//! Every op falls back to candle's own formulas on other devices and dtypes, or everywhere when
//! [`CANDLE_OPS_ENV`] is `1`. The two paths agree to rounding, not bitwise. This crate knows
//! nothing of GANs, plugins or the host: `ganbench-sdk` builds its layers from it.

pub mod batch_norm;
pub mod channel;
pub mod conv;
pub mod dense;
pub mod dispatch;

pub use batch_norm::{batch_norm_eval, batch_norm_train};
pub use channel::{add_channel_bias, mul_channel, sum_channels};
pub use conv::{conv2d, conv_transpose2d};
pub use dense::{add_bias, dense, leaky_relu, relu};
pub use dispatch::{skipping_gradients, values, wants_grad};

/// The environment variable that turns the fast CPU kernels off, so that every layer uses
/// candle's own ops: `GANBENCH_CANDLE_OPS=1`. For benchmarks (the "before" column of
/// bench/compare-pytorch.sh) and for ruling the fast paths out when a result looks wrong.
pub const CANDLE_OPS_ENV: &str = "GANBENCH_CANDLE_OPS";

/// Whether the fast CPU kernels are on (they are unless [`CANDLE_OPS_ENV`] is `1`); read once.
pub fn enabled() -> bool {
    static FAST: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FAST.get_or_init(|| std::env::var(CANDLE_OPS_ENV).map_or(true, |v| v != "1"))
}
