//! The `vae-gan` plugin: the VAE-GAN of Larsen et al. (2016), "Autoencoding beyond pixels using
//! a learned similarity metric". The decoder is the generator; the reconstruction error is the
//! squared distance between the discriminator's hidden features of an example and of its
//! reconstruction.
//!
//! See [`ganbench_sdk::vae_gan`] for the losses, the networks and the metrics: training logs the
//! GAN losses (`loss_d`, `loss_g`, `d_real`, `d_fake`) and the VAE's (`loss_enc`, `train_kl`,
//! `train_feature_reconstruction`); `evaluate` reports the held-out `kl`, `mse` and
//! `feature_reconstruction`; `sample` decodes draws from the N(0, I) prior; `reconstruct` decodes
//! the encoder means of held-out examples.

use ganbench_sdk::plugin_api::{ParamSpec, Plugin, PluginResult, Trainer, TrialConfig};
use ganbench_sdk::{vae_gan, VaeGanTrainer};

/// The plugin type registered under the name `vae-gan`.
pub struct VaeGan;

impl Plugin for VaeGan {
    const NAME: &'static str = "vae-gan";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn params() -> Vec<ParamSpec> {
        vae_gan::param_specs()
    }

    fn create(config: &TrialConfig) -> PluginResult<Box<dyn Trainer>> {
        Ok(Box::new(VaeGanTrainer::from_trial(config)?))
    }
}

ganbench_sdk::export_plugin!(VaeGan);
