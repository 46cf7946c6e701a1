//! The `lsgan` plugin: least-squares GAN (Mao et al. 2017), a loadable library built on the SDK.
//!
//! The whole plugin is a loss (D pushes real scores to `b` and fake ones to `a`, G pushes fake
//! scores to `c`) plugged into the SDK's generic GAN trainer; see docs/plugins.md. Like every
//! GAN plugin it takes `arch = Mlp | Dcgan` (the DCGAN with batch norm, as in the LSGAN paper).

use ganbench_sdk::candle::{Result, Tensor};
use ganbench_sdk::gan::{self, GanDefaults};
use ganbench_sdk::plugin_api::{ParamSpec, Plugin, PluginResult, Trainer, TrialConfig};
use ganbench_sdk::{GanLoss, GanTrainer};

/// ½E[(D(x) − b)²] + ½E[(D(G(z)) − a)²] for D; ½E[(D(G(z)) − c)²] for G.
struct LeastSquares {
    a: f64,
    b: f64,
    c: f64,
}

impl GanLoss for LeastSquares {
    fn name(&self) -> &'static str {
        "least-squares"
    }
    fn d_loss(&self, real: &Tensor, fake: &Tensor) -> Result<Tensor> {
        ((real - self.b)?.sqr()?.mean_all()? + (fake - self.a)?.sqr()?.mean_all()?)? * 0.5
    }
    fn g_loss(&self, fake: &Tensor) -> Result<Tensor> {
        (fake - self.c)?.sqr()?.mean_all()? * 0.5
    }
}

pub struct Lsgan;

impl Plugin for Lsgan {
    const NAME: &'static str = "lsgan";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn params() -> Vec<ParamSpec> {
        let target = |name, default, help| ParamSpec::float(name, default, -10.0, 10.0, help);
        let mut specs = gan::param_specs(&GanDefaults::default());
        specs.push(target("a", 0.0, "D's target score for fake data"));
        specs.push(target("b", 1.0, "D's target score for real data"));
        specs.push(target("c", 1.0, "G's target score for fake data"));
        specs
    }

    fn create(config: &TrialConfig) -> PluginResult<Box<dyn Trainer>> {
        let p = &config.params;
        let (a, b, c) = (p.f64("a")?, p.f64("b")?, p.f64("c")?);
        let loss = Box::new(LeastSquares { a, b, c });
        Ok(Box::new(GanTrainer::from_trial(config, loss, None)?))
    }
}

ganbench_sdk::export_plugin!(Lsgan);

#[cfg(test)]
mod tests {
    use ganbench_sdk::testing::{random_training, toy_step, toy_trainer, trainer};

    #[test]
    fn trains_through_the_declaration() {
        let mut t = toy_trainer(super::declaration(), &["hidden=16", "batch_size=8"], 1);
        let m = toy_step(&mut t);
        assert!(m.iter().all(|(_, v)| v.is_finite()), "{m:?}");
        assert!(t.describe().unwrap().architecture.contains("least-squares"));
    }

    #[test]
    fn dcgan_trains_every_parameter_on_images() {
        let shape = [1, 28, 28];
        let set = ["arch=Dcgan", "channels=4", "batch_size=8"];
        let mut t = trainer(super::declaration(), &set, 1, &shape).unwrap();
        let arch = t.describe().unwrap().architecture;
        assert!(arch.contains("(leaky_relu(0.2), batch norm)"), "{arch}");
        let (metrics, unchanged) = random_training(&mut t, &shape, 2, 3);
        assert!(unchanged.is_empty(), "not trained: {unchanged:?}");
        assert!(
            metrics.iter().flatten().all(|(_, v)| v.is_finite()),
            "{metrics:?}"
        );
    }
}
