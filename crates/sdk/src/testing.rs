//! Test support for plugin authors: exercise a plugin through its C declaration, exactly as the
//! host will, without a registry or a dataset of your own.

use crate::plugin_api::{Batch, PluginDeclaration, Registry, TrainerHandle, TrialConfig};

/// A trainer of the plugin `decl` declares, on 2D toy-shaped data, with `set` as `key=value`
/// parameter assignments and `seed`. Panics (it is for tests) on any refusal.
pub fn toy_trainer(decl: &'static PluginDeclaration, set: &[&str], seed: u64) -> TrainerHandle {
    let mut registry = Registry::new(crate::BUILD_ID);
    registry.add_builtin(decl).expect("the plugin registers");
    let name = registry.names().pop().expect("one plugin");
    let plugin = registry.get(&name).expect("registered");
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    let params = plugin
        .params_from_assignments(&set)
        .expect("valid test parameters");
    let config = TrialConfig {
        params,
        seed,
        device: "cpu".into(),
        data_shape: vec![2],
    };
    plugin.create(&config).expect("the trainer is created")
}

/// One training step on `rows_per_step` copies of the point (0.5, 0.5); returns its metrics.
pub fn toy_step(trainer: &mut TrainerHandle) -> Vec<(String, f64)> {
    let rows = trainer.rows_per_step();
    let data = vec![0.5f32; rows * 2];
    trainer
        .train_step(Batch {
            data: &data,
            shape: &[rows, 2],
        })
        .expect("a training step")
}
