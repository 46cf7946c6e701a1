//! The `vae` plugin: a Gaussian VAE with a β-weighted KL term, MLP (`arch = Mlp`) or
//! convolutional (`arch = Dcgan`: strided-conv encoder, transposed-conv decoder) networks.
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
    use ganbench_sdk::testing::{random_training, toy_step, toy_trainer, trainer};

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
        // Reconstructions cross the boundary in the batch's shape, deterministically.
        let batch = Batch {
            data: &data,
            shape: &[2, 2],
        };
        let r = t.reconstruct(batch).unwrap().expect("a VAE reconstructs");
        assert_eq!(r.shape, vec![2, 2]);
        assert!(r.data.iter().all(|v| v.is_finite()));
        assert_eq!(t.reconstruct(batch).unwrap().unwrap().data, r.data);
    }

    #[test]
    fn conv_vae_trains_every_parameter_on_images() {
        let shape = [1, 28, 28];
        let set = ["arch=Dcgan", "channels=4", "batch_size=8", "latent_dim=8"];
        let mut t = trainer(super::declaration(), &set, 1, &shape).unwrap();
        let arch = t.describe().unwrap().architecture;
        assert!(
            arch.contains("encoder: DCGAN 1×28×28→4×14×14→8×7×7→16 (relu, no normalization)")
                && arch.contains("decoder: DCGAN 8→8×7×7→4×14×14→1×28×28 (relu)"),
            "{arch}"
        );
        let (metrics, unchanged) = random_training(&mut t, &shape, 2, 3);
        assert!(unchanged.is_empty(), "not trained: {unchanged:?}");
        assert!(
            metrics.iter().flatten().all(|(_, v)| v.is_finite()),
            "{metrics:?}"
        );
        let data = vec![0.25f32; 3 * 784];
        let e = t
            .evaluate(Batch {
                data: &data,
                shape: &[3, 1, 28, 28],
            })
            .unwrap();
        assert!(e.iter().all(|(_, v)| v.is_finite()), "{e:?}");
        assert_eq!(t.sample(3, 0).unwrap().shape, vec![3, 1, 28, 28]);
    }
}
