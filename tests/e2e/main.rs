//! End-to-end tests of the `ganbench` binary: every test runs the real binary (and plugin libraries) as a user would.
//!
//! One test binary per package (one link, and one run whose tests share the cores), with a
//! module per area.

mod common;

mod annotations;
mod architecture;
mod bridges;
mod chromium;
mod claims;
mod cli_conventions;
mod cluster;
mod data;
mod devices;
mod fixes;
mod images;
mod isolation;
mod limits;
mod metrics_cli;
mod metrics_inputs;
mod output;
mod plugins;
mod report;
mod reproductions;
mod serve;
mod sweep;
mod vae_gan;
mod verdict_cli;
mod workers;
