//! The `sngan` plugin: spectral normalization on every discriminator layer (Miyato et al. 2018).
//!
//! The discriminator's weights are divided by their largest singular value, estimated by one
//! power-iteration step per discriminator update (the vectors persist across steps and are saved
//! in checkpoints). `loss`: `hinge` (default, as in the paper's best results) or `ns`.
//! With `arch = Dcgan` every conv layer and the final linear layer of the discriminator are
//! spectrally normalized, and it has no batch norm; the generator keeps its batch norm.

use ganbench_sdk::fixes::group;
use ganbench_sdk::gan::{self, GanConfig, GanDefaults};
use ganbench_sdk::plugin_api::{
    ParamSpec, Plugin, PluginError, PluginResult, Trainer, TrialConfig,
};
use ganbench_sdk::{device, loss, GanTrainer};

/// The plugin type registered under the name `sngan`.
pub struct Sngan;

impl Plugin for Sngan {
    const NAME: &'static str = "sngan";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn params() -> Vec<ParamSpec> {
        let mut specs = gan::param_specs(&GanDefaults::default());
        specs.push(
            ParamSpec::choice(
                "loss",
                "hinge",
                &["hinge", "ns"],
                "hinge, or the non-saturating GAN loss",
            )
            .in_group(group::LOSS),
        );
        specs
    }

    fn create(config: &TrialConfig) -> PluginResult<Box<dyn Trainer>> {
        let name = config.params.str("loss")?;
        let loss = loss::by_name(name)
            .ok_or_else(|| PluginError::msg(format!("unknown loss `{name}`")))?;
        let gan_config = GanConfig {
            spectral_norm: true,
            ..GanConfig::from_params(&config.params, &config.data_shape)?
        };
        Ok(Box::new(GanTrainer::from_config(
            gan_config,
            config.seed,
            &device(config.device)?,
            loss,
            None,
        )?))
    }
}

ganbench_sdk::export_plugin!(Sngan);

#[cfg(test)]
mod tests {
    use ganbench_sdk::testing::{random_training, toy_step, toy_trainer, trainer};

    #[test]
    fn discriminator_is_spectrally_normalized() {
        let mut t = toy_trainer(super::declaration(), &["hidden=16", "batch_size=8"], 1);
        let arch = t.describe().unwrap().architecture;
        assert!(
            arch.contains("spectral norm") && arch.contains("loss hinge"),
            "{arch}"
        );
        let m = toy_step(&mut t);
        assert!(m.iter().all(|(_, v)| v.is_finite()), "{m:?}");
    }

    #[test]
    fn dcgan_discriminator_is_spectrally_normalized_and_trains() {
        let shape = [1, 28, 28];
        let set = ["arch=Dcgan", "channels=4", "batch_size=8"];
        let mut t = trainer(super::declaration(), &set, 1, &shape).unwrap();
        let arch = t.describe().unwrap().architecture;
        assert!(
            arch.contains("D: DCGAN 1×28×28→4×14×14→8×7×7→1 (leaky_relu(0.2), spectral norm)"),
            "{arch}"
        );
        let (metrics, unchanged) = random_training(&mut t, &shape, 2, 3);
        // The hinge loss gives the output bias the gradient −P(D(x) < 1) + P(D(G(z)) > −1), zero
        // while every logit lies inside the margin, as at the start. Everything else trains.
        assert_eq!(unchanged, ["d.fc.bias"]);
        assert!(
            metrics.iter().flatten().all(|(_, v)| v.is_finite()),
            "{metrics:?}"
        );
    }
}
