//! Integration tests of ganbench-sdk: layers, losses, optimizers and trainers.
//!
//! One test binary per package (one link, and one run whose tests share the cores), with a
//! module per area.

mod common;
mod dcgan;
mod dcgan_trainers;
mod fixes;
mod gradient_penalty;
mod losses;
mod mlp_options;
mod optimizers;
mod spectral_norm;
mod trainers;
mod vae_gan;
