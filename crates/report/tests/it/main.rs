//! Integration tests of ganbench-report: its statistics against SciPy's, and the verdict over
//! stored sweeps.
//!
//! One test binary per package (one link, and one run whose tests share the cores), with a
//! module per area.

mod stats_reference;
mod verdict;
