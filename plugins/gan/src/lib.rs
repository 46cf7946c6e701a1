//! The `gan` plugin: the original GAN (Goodfellow et al. 2014) on MLPs, non-saturating or minimax.
//!
//! Parameters: the SDK's common GAN parameters ([`gan::param_specs`] with [`GanDefaults`]), plus
//! `loss` (`ns`: the generator minimizes −log D(G(z)); `minimax`: it minimizes log(1 − D(G(z))))
//! and `spectral_norm` (off by default; on gives SNGAN's discriminator with this plugin's losses).

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
        specs.push(ParamSpec::choice(
            "loss",
            "ns",
            &["ns", "minimax"],
            "generator loss: non-saturating −log D(G(z)), or minimax log(1 − D(G(z)))",
        ));
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
    use ganbench_sdk::testing::{toy_step, toy_trainer};

    #[test]
    fn trains_through_the_declaration() {
        let mut t = toy_trainer(super::declaration(), &["loss=minimax", "hidden=16"], 1);
        assert_eq!(toy_step(&mut t)[0].0, "loss_d");
        assert!(t.describe().unwrap().architecture.contains("loss minimax"));
    }
}
