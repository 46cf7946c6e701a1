//! Integration tests of ganbench-spec: parsing, malformed files, expansion, hashing, the docs.
//!
//! One test binary per package (one link, and one run whose tests share the cores), with a
//! module per area.

mod common;
mod data;
mod docs;
mod expand;
mod malformed;
mod spec_hash;
