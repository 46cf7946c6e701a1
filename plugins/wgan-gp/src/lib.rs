//! The `wgan-gp` plugin: Wasserstein GAN with gradient penalty (Gulrajani et al. 2017).
//!
//! The critic minimizes E[D(G(z))] − E[D(x)] + λ·E[(‖∇D(x̂)‖₂ − 1)²] and takes `n_critic` steps
//! per generator step. Defaults follow the paper: λ = 10, n_critic = 5, Adam β = (0.5, 0.9).
//! Metrics add `gp` (the weighted penalty) and `wasserstein` (E[D(x)] − E[D(G(z))]).
//! With `arch = Dcgan` the critic has no batch norm (the penalty is per example, and the paper
//! drops it for that reason); the generator keeps its batch norm.

use ganbench_sdk::fixes::group;
use ganbench_sdk::gan::{self, GanConfig, GanDefaults};
use ganbench_sdk::plugin_api::{ParamSpec, Plugin, PluginResult, Trainer, TrialConfig};
use ganbench_sdk::{device, loss, GanTrainer, GradientPenalty};

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
        specs.push(
            ParamSpec::float(
                "lambda",
                10.0,
                0.0,
                1000.0,
                "gradient penalty weight λ (Gulrajani et al. 2017: 10; their 2D toy script: 0.1)",
            )
            .in_group(group::REGULARIZATION),
        );
        specs.push(gan::spectral_norm_spec(false));
        specs
    }

    fn create(config: &TrialConfig) -> PluginResult<Box<dyn Trainer>> {
        let gp = GradientPenalty {
            lambda: config.params.f64("lambda")?,
        };
        let gan_config =
            GanConfig::from_params(&config.params, &config.data_shape)?.without_critic_batch_norm();
        Ok(Box::new(GanTrainer::from_config(
            gan_config,
            config.seed,
            &device(config.device)?,
            Box::new(loss::Wasserstein),
            Some(Box::new(gp)),
        )?))
    }
}

ganbench_sdk::export_plugin!(WganGp);

#[cfg(test)]
mod tests {
    use ganbench_sdk::testing::{random_training, toy_step, toy_trainer, trainer};

    #[test]
    fn defaults_and_metrics() {
        let mut t = toy_trainer(super::declaration(), &["hidden=16", "batch_size=32"], 1);
        assert_eq!(t.rows_per_step(), 32 * 5, "n_critic = 5 by default");
        let names: Vec<String> = toy_step(&mut t).into_iter().map(|(k, _)| k).collect();
        assert!(
            names.contains(&"gp".into()) && names.contains(&"wasserstein".into()),
            "{names:?}"
        );
        let params = &t.plugin().params;
        let default = |n: &str| {
            params
                .iter()
                .find(|p| p.name == n)
                .unwrap()
                .default
                .to_string()
        };
        assert_eq!(
            (default("lambda"), default("beta1"), default("beta2")),
            ("10".into(), "0.5".into(), "0.9".into())
        );
    }

    #[test]
    fn dcgan_critic_without_batch_norm_trains_on_images() {
        let shape = [1, 28, 28];
        let set = ["arch=Dcgan", "channels=4", "batch_size=8", "n_critic=2"];
        let mut t = trainer(super::declaration(), &set, 1, &shape).unwrap();
        let arch = t.describe().unwrap().architecture;
        assert!(
            arch.contains("D: DCGAN 1×28×28→4×14×14→8×7×7→1 (leaky_relu(0.2), no normalization)")
                && arch.contains("(batch norm, relu, output tanh)"),
            "{arch}"
        );
        let (metrics, unchanged) = random_training(&mut t, &shape, 2, 3);
        // The critic's output bias cancels in E[D(x)] − E[D(G(z))] and does not move ∇ₓD:
        // it never has a gradient. Every other parameter trains.
        assert_eq!(unchanged, ["d.fc.bias"]);
        assert!(
            metrics.iter().flatten().all(|(_, v)| v.is_finite()),
            "{metrics:?}"
        );
        assert!(metrics[0].iter().any(|(k, v)| k == "gp" && *v > 0.0));
    }
}
