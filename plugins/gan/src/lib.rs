//! The `gan` plugin: the original GAN (Goodfellow et al. 2014), non-saturating or minimax, or
//! with the hinge loss.
//!
//! Parameters: the SDK's common GAN parameters ([`gan::param_specs`] with [`GanDefaults`]: the
//! model, its optimization and every stability fix of docs/fixes.md), plus `loss` (`ns`: the
//! generator minimizes −log D(G(z)); `minimax`: it minimizes log(1 − D(G(z))); `hinge`: the
//! hinge loss of SN-GAN) and `spectral_norm` (off by default; on gives SNGAN's discriminator
//! with this plugin's losses).
//! `arch`: `Mlp` (default) or `Dcgan`, the DCGAN of Radford et al. (2016) for images, with batch
//! norm in the generator and in the discriminator's hidden layers (spectral norm replaces the
//! latter when `spectral_norm` is on).

use ganbench_sdk::fixes::group;
use ganbench_sdk::gan::{self, GanDefaults};
use ganbench_sdk::plugin_api::{
    ParamSpec, Plugin, PluginError, PluginResult, Trainer, TrialConfig,
};
use ganbench_sdk::{loss, GanTrainer};

/// The plugin type registered under the name `gan`.
pub struct Gan;

impl Plugin for Gan {
    const NAME: &'static str = "gan";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn params() -> Vec<ParamSpec> {
        let mut specs = gan::param_specs(&GanDefaults::default());
        specs.push(
            ParamSpec::choice(
                "loss",
                "ns",
                &["ns", "minimax", "hinge"],
                "loss: non-saturating (G minimizes −log D(G(z))), minimax (G minimizes \
                 log(1 − D(G(z))); Goodfellow et al. 2014), or hinge (Lim & Ye 2017; Miyato et \
                 al. 2018)",
            )
            .in_group(group::LOSS),
        );
        specs.push(gan::spectral_norm_spec(false));
        specs
    }

    fn create(config: &TrialConfig) -> PluginResult<Box<dyn Trainer>> {
        let name = config.params.str("loss")?;
        let loss = loss::by_name(name)
            .ok_or_else(|| PluginError::msg(format!("unknown loss `{name}`")))?;
        Ok(Box::new(GanTrainer::from_trial(config, loss, None)?))
    }
}

ganbench_sdk::export_plugin!(Gan);

#[cfg(test)]
mod tests {
    use ganbench_sdk::testing::{random_training, toy_step, toy_trainer, trainer};

    #[test]
    fn trains_through_the_declaration() {
        let mut t = toy_trainer(super::declaration(), &["loss=minimax", "hidden=16"], 1);
        assert_eq!(toy_step(&mut t)[0].0, "loss_d");
        assert!(t.describe().unwrap().architecture.contains("loss minimax"));
    }

    #[test]
    fn dcgan_trains_every_parameter_on_images() {
        let shape = [1, 28, 28];
        let set = ["arch=Dcgan", "channels=4", "batch_size=8"];
        let mut t = trainer(super::declaration(), &set, 1, &shape).unwrap();
        let arch = t.describe().unwrap().architecture;
        assert!(
            arch.contains("D: DCGAN 1×28×28→4×14×14→8×7×7→1 (leaky_relu(0.2), batch norm)"),
            "{arch}"
        );
        let (metrics, unchanged) = random_training(&mut t, &shape, 2, 3);
        assert!(unchanged.is_empty(), "not trained: {unchanged:?}");
        assert!(
            metrics.iter().flatten().all(|(_, v)| v.is_finite()),
            "{metrics:?}"
        );
        assert_eq!(t.sample(3, 0).unwrap().shape, vec![3, 1, 28, 28]);
    }

    #[test]
    fn dcgan_with_spectral_norm_has_no_batch_norm_in_the_discriminator() {
        let set = ["arch=Dcgan", "channels=4", "spectral_norm=true"];
        let mut t = trainer(super::declaration(), &set, 1, &[3, 32, 32]).unwrap();
        let arch = t.describe().unwrap().architecture;
        assert!(
            arch.contains("→1 (leaky_relu(0.2), spectral norm)"),
            "{arch}"
        );
    }

    #[test]
    fn dcgan_on_toy_data_is_a_parameter_error() {
        let err = trainer(super::declaration(), &["arch=Dcgan"], 1, &[2])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("arch = Dcgan") && err.contains("[2]"), "{err}");
    }
}
