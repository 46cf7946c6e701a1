//! candle building blocks for ganbench plugin authors: layers, losses, optimizers, checkpoints, trainers.
//!
//! A plugin owns its whole candle world (design.md, "The plugin boundary"), so everything a plugin
//! needs to train lives here, and a plugin crate depends on this crate only:
//!
//! - [`device()`]: a trial's [`Device`](plugin_api::Device) to a candle device.
//! - [`rng`]: [`SeededRng`], the only source of randomness (candle's CPU generator cannot be
//!   seeded), and [`init`]: PyTorch-default initializers drawn from it.
//! - [`vars`]: [`Vars`], a network's trainable parameters and persistent buffers.
//! - [`nn`]: activations, linear/conv layers, batch norm, the [`Mlp`] builder; [`spectral`]:
//!   spectral norm; [`dcgan`]: DCGAN-style convolutional generator and discriminator.
//! - [`kernels`] (the `ganbench-kernels` crate): the fast CPU ops the layers are made of.
//! - [`loss`]: stable BCE-with-logits and the GAN losses; [`gp`]: gradient penalties (WGAN-GP,
//!   R1/R2, DRAGAN).
//! - [`optim`]: [`Adam`], [`Sgd`] and [`RmsProp`] with saveable state, gradient-norm clipping;
//!   [`schedule`]: learning-rate schedules; [`checkpoint`]: [`Checkpoint`].
//! - [`gan`]: [`GanTrainer`], generic over loss and regularizer; [`vae`]: [`VaeTrainer`];
//!   [`vae_gan`]: [`VaeGanTrainer`] (Larsen et al. 2016).
//! - [`fixes`]: the stability-fix catalogue the GAN trainer applies ([`GanFixes`]), with
//!   [`augment`] (DiffAugment, bCR) and [`ema`] (generator averaging).
//! - [`export_plugin!`]: exports a [`plugin_api::Plugin`] with this build's [`BUILD_ID`].
//! - [`testing`]: build and step a trainer through its C declaration, as the host does.
//!
//! Determinism: every random number comes from a [`SeededRng`] owned by a trainer and saved in its
//! checkpoint, so the same config and seed give bitwise-identical metrics, and a resumed run equals
//! an uninterrupted one.

pub mod augment;
pub mod checkpoint;
pub mod dcgan;
mod device;
pub mod ema;
mod error;
pub mod fixes;
pub mod gan;
pub mod gp;
pub mod init;
pub mod loss;
pub mod nn;
pub mod optim;
pub mod rng;
pub mod schedule;
pub mod spectral;
pub mod testing;
pub mod vae;
pub mod vae_gan;
pub mod vars;

pub use candle_core as candle;
pub use candle_nn;
pub use ganbench_kernels as kernels;
pub use ganbench_plugin_api as plugin_api;

pub use checkpoint::{Checkpoint, Stateful};
pub use dcgan::{ConvDiscriminator, ConvGenerator, ImageShape};
pub use device::{
    check_device, cuda_report, device, CudaReport, DeviceError, GpuInfo, LibraryInfo, CUDA_BUILT,
};
pub use ema::{Ema, EmaConfig};
pub use error::{Error, Result};
pub use fixes::GanFixes;
pub use gan::{GanArch, GanConfig, GanDefaults, GanTrainer};
pub use gp::{DraganPenalty, GradientPenalty, ZeroCentredPenalty};
pub use loss::GanLoss;
pub use nn::{Activation, BatchNorm, FeatureNetwork, Mlp, MlpConfig, Network};
pub use optim::{Adam, AdamConfig, Optimizer, OptimizerKind, RmsProp, Sgd};
pub use rng::SeededRng;
pub use schedule::LrSchedule;
pub use spectral::{SnConv2d, SnLinear, SpectralNorm};
pub use vae::{VaeConfig, VaeTrainer};
pub use vae_gan::{VaeGanConfig, VaeGanTrainer};
pub use vars::Vars;

/// The candle version this SDK is built against (pinned exactly in the workspace manifest).
pub const CANDLE_VERSION: &str = env!("GANBENCH_CANDLE_VERSION");

/// The plugin build id: [`plugin_api::TOOLCHAIN_ID`] (rustc version; target; profile) followed by
/// `; candle-<version>`, and `; cuda` in a CUDA build. The host refuses a library whose build id
/// differs from its own.
pub const BUILD_ID: &str = match std::str::from_utf8(&BUILD_ID_BYTES) {
    Ok(id) => id,
    Err(_) => panic!("the build id is two UTF-8 strings joined"),
};

/// What build.rs appends to the toolchain id: `; candle-<version>` and, in a CUDA build, `; cuda`.
const BUILD_SUFFIX: &str = env!("GANBENCH_BUILD_SUFFIX");

/// [`plugin_api::TOOLCHAIN_ID`] then [`BUILD_SUFFIX`], joined at compile time: `concat!` takes only
/// literals, and recomputing the toolchain id here (as build.rs once did) could drift from the
/// host's.
const BUILD_ID_BYTES: [u8; plugin_api::TOOLCHAIN_ID.len() + BUILD_SUFFIX.len()] =
    join(plugin_api::TOOLCHAIN_ID, BUILD_SUFFIX);

/// `a` followed by `b`, as an array of exactly their total length (checked at compile time).
const fn join<const N: usize>(a: &str, b: &str) -> [u8; N] {
    assert!(a.len() + b.len() == N, "join: N is not the total length");
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut out = [0u8; N];
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - a.len()];
        i += 1;
    }
    out
}

/// Exports a [`plugin_api::Plugin`] implementation with this build's [`BUILD_ID`]: defines
/// `pub fn declaration()` (to register the plugin as a built-in) and the C symbol
/// `ganbench_plugin_<crate name>` (to load it from a dynamic library).
///
/// ```
/// use ganbench_sdk::gan::{self, GanDefaults};
/// use ganbench_sdk::plugin_api::{ParamSpec, Plugin, PluginResult, Trainer, TrialConfig};
/// use ganbench_sdk::{loss, GanTrainer};
///
/// pub struct Plain;
///
/// impl Plugin for Plain {
///     const NAME: &'static str = "plain";
///     const VERSION: &'static str = "0.1.0";
///
///     fn params() -> Vec<ParamSpec> {
///         gan::param_specs(&GanDefaults::default())
///     }
///
///     fn create(config: &TrialConfig) -> PluginResult<Box<dyn Trainer>> {
///         let loss = Box::new(loss::NonSaturating);
///         Ok(Box::new(GanTrainer::from_trial(config, loss, None)?))
///     }
/// }
///
/// ganbench_sdk::export_plugin!(Plain);
/// assert_eq!(declaration().abi_version, ganbench_sdk::plugin_api::ABI_VERSION);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        $crate::plugin_api::export_plugin!($plugin, build_id = $crate::BUILD_ID);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_id_is_toolchain_plus_locked_candle_version() {
        assert!(
            BUILD_ID.starts_with(plugin_api::TOOLCHAIN_ID),
            "{BUILD_ID:?} does not start with {:?}",
            plugin_api::TOOLCHAIN_ID
        );
        let suffix = &BUILD_ID[plugin_api::TOOLCHAIN_ID.len()..];
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
                .expect("the workspace Cargo.lock");
        // Cargo.lock lists `name = "candle-core"` followed by `version = "…"`.
        let mut lines = lock.lines();
        let mut locked = None;
        while let Some(line) = lines.next() {
            if line.trim() == "name = \"candle-core\"" {
                let v = lines.next().expect("version line after name");
                locked = v
                    .trim()
                    .strip_prefix("version = \"")
                    .and_then(|s| s.strip_suffix('"'));
                break;
            }
        }
        let locked = locked.expect("candle-core in Cargo.lock");
        let cuda = if CUDA_BUILT { "; cuda" } else { "" };
        assert_eq!(suffix, format!("; candle-{locked}{cuda}"));
        assert_eq!(CANDLE_VERSION, locked);
    }
}
