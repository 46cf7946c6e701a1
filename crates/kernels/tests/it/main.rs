//! Integration tests of ganbench-kernels: every kernel against candle's own ops and against
//! finite differences in f64.
//!
//! One test binary per package (one link, and one run whose tests share the cores), with a
//! module per area.

mod conv;
mod ops;
