//! Test support for plugin authors: exercise a plugin through its C declaration, exactly as the
//! host will, without a registry or a dataset of your own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::plugin_api::{
    Batch, CallError, PluginDeclaration, Registry, TrainerHandle, TrialConfig,
};
use crate::SeededRng;

/// A trainer of the plugin `decl` declares, on 2D toy-shaped data, with `set` as `key=value`
/// parameter assignments and `seed`. Panics (it is for tests) on any refusal.
pub fn toy_trainer(decl: &'static PluginDeclaration, set: &[&str], seed: u64) -> TrainerHandle {
    trainer(decl, set, seed, &[2]).expect("the trainer is created")
}

/// A trainer of the plugin `decl` declares for examples of `data_shape` (e.g. `[1, 28, 28]`),
/// with `set` as `key=value` parameter assignments and `seed`. Panics on invalid parameters;
/// returns the plugin's refusal (e.g. an architecture that does not fit the data) as an error.
pub fn trainer(
    decl: &'static PluginDeclaration,
    set: &[&str],
    seed: u64,
    data_shape: &[usize],
) -> Result<TrainerHandle, CallError> {
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
        device: crate::plugin_api::Device::Cpu,
        data_shape: data_shape.to_vec(),
    };
    plugin.create(&config)
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

/// One training step on `rows_per_step` examples of `data_shape` with values drawn uniformly
/// from [-1, 1) by `data` (image-shaped noise); returns its metrics.
pub fn random_step(
    trainer: &mut TrainerHandle,
    data_shape: &[usize],
    data: &mut SeededRng,
) -> Vec<(String, f64)> {
    let rows = trainer.rows_per_step();
    let mut shape = vec![rows];
    shape.extend(data_shape);
    let values = data.uniform_vec(shape.iter().product(), -1.0, 1.0);
    trainer
        .train_step(Batch {
            data: &values,
            shape: &shape,
        })
        .expect("a training step")
}

/// Trains `steps` [`random_step`]s on examples of `data_shape` (noise from `seed`); returns
/// every step's metrics and the names of the network parameters that did not change (from
/// checkpoints saved before and after; optimizer state and buffers are not parameters).
pub fn random_training(
    trainer: &mut TrainerHandle,
    data_shape: &[usize],
    steps: usize,
    seed: u64,
) -> (Vec<Vec<(String, f64)>>, Vec<String>) {
    let before = checkpoint_tensors(trainer);
    let mut data = SeededRng::new(seed);
    let metrics = (0..steps)
        .map(|_| random_step(trainer, data_shape, &mut data))
        .collect();
    let after = checkpoint_tensors(trainer);
    let unchanged = before
        .into_iter()
        .filter(|(name, _)| !name.starts_with("opt") && !name.contains(".buffers."))
        .filter(|(name, values)| after.get(name) == Some(values))
        .map(|(name, _)| name)
        .collect();
    (metrics, unchanged)
}

/// Every tensor of the trainer's checkpoint, by name, as f32 values.
pub fn checkpoint_tensors(trainer: &mut TrainerHandle) -> BTreeMap<String, Vec<f32>> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ganbench-testing-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    trainer.save(&dir).expect("the trainer saves");
    let path = dir.join(crate::checkpoint::TENSORS_FILE);
    let tensors = candle_core::safetensors::load(&path, &candle_core::Device::Cpu)
        .expect("the checkpoint's tensors load");
    std::fs::remove_dir_all(&dir).expect("the temporary directory is removed");
    tensors
        .into_iter()
        .map(|(name, t)| {
            let values = t
                .flatten_all()
                .and_then(|t| t.to_dtype(candle_core::DType::F32))
                .and_then(|t| t.to_vec1::<f32>())
                .expect("a float tensor");
            (name, values)
        })
        .collect()
}
