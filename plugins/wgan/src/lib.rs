//! The `wgan` plugin: the original Wasserstein GAN (Arjovsky et al. 2017), whose critic is kept
//! Lipschitz by clipping its weights.
//!
//! The critic minimizes E[D(G(z))] − E[D(x)] and takes `n_critic` steps per generator step; after
//! every critic step each of its weights is clamped to [−c, c]. Defaults are the paper's
//! Algorithm 1: RMSProp at lr 5e-5 for both networks, c = 0.01, batch 64, n_critic = 5 (the
//! authors' code adds 100-critic-step phases at the start and every 500 generator steps, which a
//! fixed number of rows per step cannot express; set `n_critic` to study them). With
//! `arch = Dcgan` the critic keeps its batch norm, as in the paper's DCGAN experiments, and the
//! clipping covers every critic parameter, batch norm's scale and shift included, as the authors'
//! code does. Metrics add `wasserstein` (E[D(x)] − E[D(G(z))]). Every stability fix of the GAN
//! plugins applies too.

use ganbench_sdk::fixes::group::REGULARIZATION;
use ganbench_sdk::gan::{self, GanConfig, GanDefaults};
use ganbench_sdk::plugin_api::{ParamSpec, Plugin, PluginResult, Trainer, TrialConfig};
use ganbench_sdk::{device, loss, GanTrainer};

/// The plugin type registered under the name `wgan`.
pub struct Wgan;

/// The common GAN defaults with the WGAN paper's: RMSProp at 5e-5, batch 64, five critic steps.
pub fn defaults() -> GanDefaults {
    GanDefaults {
        lr_g: 5e-5,
        lr_d: 5e-5,
        batch_size: 64,
        n_critic: 5,
        optimizer: "rmsprop",
        ..GanDefaults::default()
    }
}

impl Plugin for Wgan {
    const NAME: &'static str = "wgan";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn params() -> Vec<ParamSpec> {
        let mut specs = gan::param_specs(&defaults());
        specs.push(
            ParamSpec::float(
                "clip",
                0.01,
                0.0,
                10.0,
                "clamp every critic weight to [−c, c] after each critic update (Arjovsky et al. \
                 2017: c = 0.01); 0 = no clipping",
            )
            .in_group(REGULARIZATION),
        );
        specs.push(gan::spectral_norm_spec(false));
        specs
    }

    fn create(config: &TrialConfig) -> PluginResult<Box<dyn Trainer>> {
        let mut gan_config = GanConfig::from_params(&config.params, &config.data_shape)?;
        gan_config.fixes.weight_clip = config.params.f64("clip")?;
        Ok(Box::new(GanTrainer::from_config(
            gan_config,
            config.seed,
            &device(config.device)?,
            Box::new(loss::Wasserstein),
            None,
        )?))
    }
}

ganbench_sdk::export_plugin!(Wgan);

#[cfg(test)]
mod tests {
    use ganbench_sdk::testing::{checkpoint_tensors, toy_step, toy_trainer};

    #[test]
    fn paper_defaults_and_clipped_critic_weights() {
        let mut t = toy_trainer(super::declaration(), &["hidden=16"], 1);
        assert_eq!(t.rows_per_step(), 64 * 5, "batch 64, n_critic = 5");
        let arch = t.describe().unwrap().architecture;
        assert!(
            arch.contains("loss wasserstein")
                && arch.contains("RMSProp α 0.99 lr_g 0.00005 lr_d 0.00005")
                && arch.contains("critic weights clipped to ±0.01"),
            "{arch}"
        );
        let names: Vec<String> = toy_step(&mut t).into_iter().map(|(k, _)| k).collect();
        assert!(names.contains(&"wasserstein".to_string()), "{names:?}");
        // After a step every critic parameter lies in [−0.01, 0.01]; the generator's do not.
        let tensors = checkpoint_tensors(&mut t);
        let worst = |prefix: &str| {
            tensors
                .iter()
                .filter(|(k, _)| k.starts_with(prefix) && !k.contains(".buffers."))
                .flat_map(|(_, v)| v.iter().map(|x| x.abs()))
                .fold(0f32, f32::max)
        };
        assert!(worst("d.") <= 0.01, "{}", worst("d."));
        assert!(worst("g.") > 0.01, "{}", worst("g."));
        // The optimizer is RMSProp: its state is one square average per parameter.
        assert!(tensors
            .keys()
            .any(|k| k.starts_with("opt_d.") && k.ends_with(".square_avg")));
    }

    #[test]
    fn clip_zero_leaves_the_critic_unclipped() {
        let mut t = toy_trainer(
            super::declaration(),
            &["hidden=16", "clip=0", "lr_d=0.1"],
            1,
        );
        toy_step(&mut t);
        let tensors = checkpoint_tensors(&mut t);
        let largest = tensors
            .iter()
            .filter(|(k, _)| k.starts_with("d.") && !k.contains(".buffers."))
            .flat_map(|(_, v)| v.iter().map(|x| x.abs()))
            .fold(0f32, f32::max);
        assert!(largest > 0.01, "{largest}");
    }
}
