//! Integration tests of ganbench-features: training, caching and the reference network.
//!
//! One test binary per package (one link, and one run whose tests share the cores), with a
//! module per area.

mod common;
mod mnist;
mod per_channel;
mod reference;
mod training;
