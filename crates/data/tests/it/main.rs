//! Integration tests of ganbench-data: toy mixtures, image datasets, the seeded stream.
//!
//! One test binary per package (one link, and one run whose tests share the cores), with a
//! module per area.

mod images;
mod stream;
mod toy;
