//! The `lsgan` plugin: least-squares GAN (Mao et al. 2017), a loadable library built on the SDK.
//!
//! The whole plugin is a loss (D pushes real scores to `b` and fake ones to `a`, G pushes fake
//! scores to `c`) plugged into the SDK's generic GAN trainer; see docs/plugins.md.

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
