//! The `example` plugin: a GAN whose losses are the hinge loss with a margin `margin` of your
//! choosing (margin 1 is the hinge loss of SN-GAN, Miyato et al. 2018).
//!
//! Written by `ganbench plugin new example` as a starting point: replace the loss (or build another
//! trainer from the SDK's parts), keep `params` in step with what `create` reads, and see
//! docs/plugins.md for each part. Build it with `cargo build --release -p ganbench-example`, then
//! `ganbench train --plugin-dir target/release --plugin example`.

use ganbench_sdk::candle::{Result, Tensor};
use ganbench_sdk::gan::{self, GanDefaults};
use ganbench_sdk::plugin_api::{ParamSpec, Plugin, PluginResult, Trainer, TrialConfig};
use ganbench_sdk::{GanLoss, GanTrainer};

/// D minimizes E[relu(m − D(x))] + E[relu(m + D(G(z)))]; G minimizes −E[D(G(z))].
struct MarginHinge {
    margin: f64,
}

impl GanLoss for MarginHinge {
    fn name(&self) -> &'static str {
        "margin hinge"
    }

    fn d_loss(&self, real: &Tensor, fake: &Tensor) -> Result<Tensor> {
        let real = real.affine(-1.0, self.margin)?.relu()?.mean_all()?;
        let fake = fake.affine(1.0, self.margin)?.relu()?.mean_all()?;
        real + fake
    }

    fn g_loss(&self, fake: &Tensor) -> Result<Tensor> {
        fake.mean_all()?.neg()
    }
}

/// The plugin, registered under the name `example`.
pub struct Example;

impl Plugin for Example {
    const NAME: &'static str = "example";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    /// The SDK's GAN parameters (architecture, optimizer, stability fixes), then this plugin's.
    fn params() -> Vec<ParamSpec> {
        let mut specs = gan::param_specs(&GanDefaults::default());
        specs.push(ParamSpec::float(
            "margin",
            1.0,
            0.0,
            10.0,
            "the hinge's margin m (1: the hinge loss of SN-GAN)",
        ));
        specs
    }

    fn create(config: &TrialConfig) -> PluginResult<Box<dyn Trainer>> {
        let loss = Box::new(MarginHinge {
            margin: config.params.f64("margin")?,
        });
        Ok(Box::new(GanTrainer::from_trial(config, loss, None)?))
    }
}

ganbench_sdk::export_plugin!(Example);

#[cfg(test)]
mod tests {
    use super::*;
    use ganbench_sdk::candle::Device;
    use ganbench_sdk::testing::{toy_step, toy_trainer};

    /// The losses against a hand computation: with m = 1, real logits (2, 0) and fake ones
    /// (−2, 0.5), D's loss is mean(0, 1) + mean(0, 1.5) = 1.25 and G's is −mean(−2, 0.5) = 0.75.
    #[test]
    fn losses_match_a_hand_computation() -> Result<()> {
        let loss = MarginHinge { margin: 1.0 };
        let real = Tensor::new(&[2f32, 0.0], &Device::Cpu)?;
        let fake = Tensor::new(&[-2f32, 0.5], &Device::Cpu)?;
        assert_eq!(loss.d_loss(&real, &fake)?.to_scalar::<f32>()?, 1.25);
        assert_eq!(loss.g_loss(&fake)?.to_scalar::<f32>()?, 0.75);
        Ok(())
    }

    /// The plugin trains through its C declaration, exactly as ganbench will load it.
    #[test]
    fn trains_through_the_declaration() {
        let mut trainer = toy_trainer(declaration(), &["margin=0.5", "hidden=16"], 1);
        let metrics = toy_step(&mut trainer);
        assert!(metrics.iter().all(|(_, v)| v.is_finite()), "{metrics:?}");
        let description = trainer.describe().unwrap();
        assert!(description.architecture.contains("margin hinge"));
    }
}
