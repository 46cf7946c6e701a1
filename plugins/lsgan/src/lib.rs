//! The `lsgan` plugin: least-squares GAN (Mao et al. 2017), a loadable library built on the SDK.
//!
//! The whole plugin is the SDK's least-squares loss with its targets as parameters (D pushes real
//! scores to `b` and fake ones to `a`, G pushes fake scores to `c`), plugged into the SDK's generic
//! GAN trainer; see docs/plugins.md. Like every GAN plugin it takes `arch = Mlp | Dcgan` (the
//! DCGAN with batch norm, as in the LSGAN paper).

use ganbench_sdk::fixes::group;
use ganbench_sdk::gan::{self, GanDefaults};
use ganbench_sdk::loss::LeastSquares;
use ganbench_sdk::plugin_api::{ParamSpec, Plugin, PluginResult, Trainer, TrialConfig};
use ganbench_sdk::GanTrainer;

pub struct Lsgan;

impl Plugin for Lsgan {
    const NAME: &'static str = "lsgan";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn params() -> Vec<ParamSpec> {
        let target = |name, default, help| {
            ParamSpec::float(name, default, -10.0, 10.0, help).in_group(group::LOSS)
        };
        let mut specs = gan::param_specs(&GanDefaults::default());
        specs.push(target("a", 0.0, "D's target score for fake data"));
        specs.push(target("b", 1.0, "D's target score for real data"));
        specs.push(target("c", 1.0, "G's target score for fake data"));
        specs
    }

    fn create(config: &TrialConfig) -> PluginResult<Box<dyn Trainer>> {
        let p = &config.params;
        let (a, b, c) = (p.f64("a")?, p.f64("b")?, p.f64("c")?);
        // The name this plugin's checkpoints have always recorded (the SDK's default is `lsgan`).
        let name = "least-squares";
        let loss = Box::new(LeastSquares { a, b, c, name });
        Ok(Box::new(GanTrainer::from_trial(config, loss, None)?))
    }
}

ganbench_sdk::export_plugin!(Lsgan);

#[cfg(test)]
mod tests {
    use ganbench_sdk::testing::{random_training, toy_step, toy_trainer, trainer};

    /// docs/plugins.md quotes this file, all but its tests, as its worked example.
    #[test]
    fn the_plugin_guide_quotes_this_file() {
        let source = include_str!("lib.rs");
        let quoted = source[..source.find("#[cfg(test)]").unwrap()].trim_end();
        let guide = include_str!("../../../docs/plugins.md");
        assert!(
            guide.contains(&format!("```rust\n{quoted}\n```\n")),
            "docs/plugins.md's quote of plugins/lsgan/src/lib.rs differs from the file: copy the \
             file, without its tests module, into the page"
        );
    }

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
