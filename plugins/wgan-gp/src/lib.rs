//! The `wgan-gp` plugin: Wasserstein GAN with gradient penalty (Gulrajani et al. 2017) on MLPs.
//!
//! The critic minimizes E[D(G(z))] − E[D(x)] + λ·E[(‖∇D(x̂)‖₂ − 1)²] and takes `n_critic` steps
//! per generator step. Defaults follow the paper: λ = 10, n_critic = 5, Adam β = (0.5, 0.9).
//! Metrics add `gp` (the weighted penalty) and `wasserstein` (E[D(x)] − E[D(G(z))]).

use ganbench_sdk::gan::{self, GanDefaults};
use ganbench_sdk::plugin_api::{ParamSpec, Plugin, PluginResult, Trainer, TrialConfig};
use ganbench_sdk::{loss, GanTrainer, GradientPenalty};

/// The plugin type registered under the name `wgan-gp`.
pub struct WganGp;

/// The common GAN defaults with WGAN-GP's own: more critic steps, β₂ = 0.9, lr 1e-4.
pub fn defaults() -> GanDefaults {
    GanDefaults {
        lr_g: 1e-4,
        lr_d: 1e-4,
        beta1: 0.5,
        beta2: 0.9,
        n_critic: 5,
        ..GanDefaults::default()
    }
}

impl Plugin for WganGp {
    const NAME: &'static str = "wgan-gp";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn params() -> Vec<ParamSpec> {
        let mut specs = gan::param_specs(&defaults());
        specs.push(ParamSpec::float(
            "lambda",
            10.0,
            0.0,
            1000.0,
            "gradient penalty weight λ",
        ));
        specs.push(gan::spectral_norm_spec(false));
        specs
    }

    fn create(config: &TrialConfig) -> PluginResult<Box<dyn Trainer>> {
        let gp = GradientPenalty {
            lambda: config.params.f64("lambda")?,
        };
        Ok(Box::new(GanTrainer::from_trial(
            config,
            Box::new(loss::Wasserstein),
            Some(Box::new(gp)),
        )?))
    }
}

ganbench_sdk::export_plugin!(WganGp);

#[cfg(test)]
mod tests {
    use ganbench_sdk::plugin_api::{Batch, Registry, TrialConfig};

    #[test]
    fn defaults_and_metrics() {
        let mut reg = Registry::new(ganbench_sdk::BUILD_ID);
        reg.add_builtin(super::declaration()).unwrap();
        let p = reg.get("wgan-gp").unwrap();
        let params = p
            .params_from_assignments(&["hidden=16".into(), "batch_size=32".into()])
            .unwrap();
        assert_eq!(params.f64("lambda").unwrap(), 10.0);
        assert_eq!(params.f64("beta2").unwrap(), 0.9);
        let cfg = TrialConfig {
            params,
            seed: 1,
            device: "cpu".into(),
            data_shape: vec![2],
        };
        let mut t = p.create(&cfg).unwrap();
        assert_eq!(t.rows_per_step(), 32 * 5);
        let data = vec![0.5f32; 32 * 5 * 2];
        let m = t
            .train_step(Batch {
                data: &data,
                shape: &[160, 2],
            })
            .unwrap();
        let names: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert!(
            names.contains(&"gp") && names.contains(&"wasserstein"),
            "{names:?}"
        );
    }
}
