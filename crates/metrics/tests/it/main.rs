//! Integration tests of ganbench-metrics against closed forms and reference implementations.
//!
//! One test binary per package (one link, and one run whose tests share the cores), with a
//! module per area.

mod classes;
mod closed_form;
mod reference;
mod toy;
mod with_data;
