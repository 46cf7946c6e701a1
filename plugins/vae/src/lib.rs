//! The `vae` plugin: a Gaussian VAE with MLP encoder and decoder and a β-weighted KL term.
//!
//! See [`ganbench_sdk::vae`] for the model, its decoder variance options and its metrics:
//! `evaluate` reports the held-out `elbo`, `reconstruction`, `kl` and `mse`; `sample` decodes
//! draws from the N(0, I) prior.

use ganbench_sdk::plugin_api::{ParamSpec, Plugin, PluginResult, Trainer, TrialConfig};
use ganbench_sdk::{vae, VaeTrainer};

/// The plugin type registered under the name `vae`.
pub struct Vae;

impl Plugin for Vae {
    const NAME: &'static str = "vae";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn params() -> Vec<ParamSpec> {
        vae::param_specs()
    }

    fn create(config: &TrialConfig) -> PluginResult<Box<dyn Trainer>> {
        Ok(Box::new(VaeTrainer::from_trial(config)?))
    }
}

ganbench_sdk::export_plugin!(Vae);

#[cfg(test)]
mod tests {
    use ganbench_sdk::plugin_api::Batch;
    use ganbench_sdk::testing::{toy_step, toy_trainer};

    #[test]
    fn trains_evaluates_and_samples() {
        let mut t = toy_trainer(
            super::declaration(),
            &["hidden=16", "batch_size=4", "beta=0.5"],
            1,
        );
        toy_step(&mut t);
        let data = [1.0f32, 0.0, 0.0, 1.0];
        let e = t
            .evaluate(Batch {
                data: &data,
                shape: &[2, 2],
            })
            .unwrap();
        assert_eq!(e[0].0, "elbo");
        assert_eq!(t.sample(3, 0).unwrap().shape, vec![3, 2]);
    }
}
