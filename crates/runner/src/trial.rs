//! One trial: the training loop around a plugin's trainer, with evaluation, divergence detection
//! and checkpoints.
//!
//! The host owns the data stream (and its RNG); the plugin owns the model and its noise RNG. A
//! checkpoint holds both, so a resumed trial continues bit for bit.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ganbench_data::{DataStream, DataStreamState, Dataset, ImageDataset};
use ganbench_metrics::{
    class_coverage, extract_features, FeatureExtractor, FeatureMatrix, ImageMetrics, KidConfig,
    SampleSet,
};
use ganbench_plugin_api::{
    Batch, CallError, Description, Metrics, PluginHandle, Samples, TrainerHandle, TrialConfig,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::checkpoint;

/// Everything that defines one trial's training run: what `ganbench train` runs in-process and what
/// a sweep's worker receives inside its [`WorkerTask`](crate::protocol::WorkerTask).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialPlan {
    pub config: TrialConfig,
    pub steps: u64,
    /// Evaluate every this many steps (and always at the last step). 0: only at the end.
    pub eval_every: u64,
    /// Generated samples per evaluation (PacGAN protocol: 2500).
    pub eval_samples: usize,
    /// Save a checkpoint every this many steps (0: never). Needs a checkpoint directory.
    pub checkpoint_every: u64,
}

/// What the loop tells its observer.
#[derive(Debug)]
pub enum Event<'a> {
    /// The trainer was created (and restored, if resuming).
    Started { description: &'a Description },
    /// A trial continues from a checkpoint taken after `step`.
    Resumed { step: u64 },
    /// Losses etc. after training step `step` (1-based).
    Step { step: u64, metrics: &'a Metrics },
    /// Evaluation after `step`: sample-quality metrics and the samples they were computed on.
    Eval {
        step: u64,
        metrics: &'a Metrics,
        samples: &'a Samples,
        /// For image data and models that reconstruct (a VAE): held-out images and their
        /// reconstructions, interleaved (original, reconstruction, original, …).
        reconstructions: Option<&'a Samples>,
    },
    /// A checkpoint covering steps 1..=step was written but is not yet visible: the observer
    /// calls [`checkpoint::commit`] once everything it logged up to `step` is durable, so a resumed
    /// run never misses a logged step (and truncates what was logged after it).
    Checkpoint {
        step: u64,
        checkpoints: &'a Path,
        pending: &'a Path,
    },
}

/// What the observer wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop now (Ctrl-C): checkpoint if possible and return [`Outcome::Stopped`].
    Stop,
}

/// Receives progress; logging and progress bars live behind this.
pub trait Observer {
    fn on_event(&mut self, event: Event<'_>) -> Control;
}

impl<F: FnMut(Event<'_>) -> Control> Observer for F {
    fn on_event(&mut self, event: Event<'_>) -> Control {
        self(event)
    }
}

/// How a trial ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Finished {
        step: u64,
        metrics: Metrics,
        ms_per_step: f64,
    },
    /// A loss became NaN or infinite at `step`.
    Diverged {
        step: u64,
        metric: String,
        value: f64,
        metrics: Metrics,
    },
    /// The observer asked to stop after `step`.
    Stopped { step: u64 },
}

/// Why a trial could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error(transparent)]
    Plugin(#[from] CallError),
    #[error("dataset `{dataset}` gives examples of shape {data:?}, but the trial was planned for {planned:?}")]
    ShapeMismatch {
        dataset: String,
        data: Vec<usize>,
        planned: Vec<usize>,
    },
    #[error("plugin `{0}` asks for 0 rows per step")]
    NoRows(String),
    #[error("evaluation failed: {0}")]
    Metrics(String),
    #[error(
        "dataset `{0}` holds images, whose metrics need a feature extractor, and none was given \
         (a bug in the caller: `ganbench run` and `ganbench train` prepare one)"
    )]
    NoExtractor(String),
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
}

/// The host's part of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostState {
    pub step: u64,
    pub data: DataStreamState,
}

/// Runs (or continues) a trial. With `checkpoints`, a trial resumes from the newest complete
/// checkpoint there and saves new ones every `plan.checkpoint_every` steps. Image data needs
/// `features`: the extractor whose feature space FID, KID and the k-NN metrics are computed in.
pub fn run_trial(
    plugin: &PluginHandle,
    plan: &TrialPlan,
    dataset: Box<dyn Dataset>,
    features: Option<&dyn FeatureExtractor>,
    checkpoints: Option<&Path>,
    observer: &mut dyn Observer,
) -> Result<Outcome, TrialError> {
    let shape = dataset.sample_shape();
    if shape != plan.config.data_shape {
        return Err(TrialError::ShapeMismatch {
            dataset: dataset.name(),
            data: shape,
            planned: plan.config.data_shape.clone(),
        });
    }
    let toy = dataset.as_toy().map(|t| (t.centres().to_vec(), t.std()));
    let images = match (dataset.as_images(), features) {
        (Some(images), Some(extractor)) => Some(ImageReference::new(images, extractor, plan)?),
        (Some(_), None) => return Err(TrialError::NoExtractor(dataset.name())),
        (None, _) => None,
    };
    // Held-out data for `evaluate` (VAE ELBO), the same batch at every evaluation: the held-out
    // split of an image dataset; for toy data, which has no split, its own stream drawn once.
    let held_out_rows = plan.eval_samples.min(1024);
    let (held_out_rows, held_out) = match dataset.as_images() {
        Some(images) => {
            let rows = held_out_rows.min(images.held_out().len());
            (rows, images.held_out().to_f32(0..rows))
        }
        None => (
            held_out_rows,
            dataset.sample_batch(
                &mut ChaCha8Rng::seed_from_u64(plan.config.seed ^ HELD_OUT_DOMAIN),
                held_out_rows,
            ),
        ),
    };
    let mut held_out_shape = vec![held_out_rows];
    held_out_shape.extend_from_slice(&shape);
    let held_out = Batch {
        data: &held_out,
        shape: &held_out_shape,
    };
    let mut trainer = plugin.create(&plan.config)?;
    let rows = trainer.rows_per_step();
    if rows == 0 {
        return Err(TrialError::NoRows(plugin.name.clone()));
    }

    let resume = match checkpoints {
        Some(dir) => checkpoint::latest(dir).map_err(|e| ckpt_err(dir, e))?,
        None => None,
    };
    let (mut step, mut data) = match resume {
        Some((at, host_dir)) => {
            let host: HostState =
                checkpoint::read_host(&host_dir).map_err(|e| ckpt_err(&host_dir, e))?;
            trainer.load(&checkpoint::plugin_dir(&host_dir))?;
            let data =
                DataStream::from_state(dataset, host.data).map_err(|e| ckpt_err(&host_dir, e))?;
            observer.on_event(Event::Resumed { step: at });
            (at, data)
        }
        None => (0, DataStream::new(dataset, plan.config.seed)),
    };
    observer.on_event(Event::Started {
        description: &trainer.describe()?,
    });

    let mut batch = Vec::with_capacity(rows * data.dataset().example_len());
    let mut batch_shape = vec![rows];
    batch_shape.extend_from_slice(&shape);
    let mut last_metrics: Metrics = Vec::new();
    let mut train_time = 0.0f64;
    let started_at = step;

    while step < plan.steps {
        batch.clear();
        data.next_batch_into(rows, &mut batch);
        let t0 = Instant::now();
        let metrics = trainer.train_step(Batch {
            data: &batch,
            shape: &batch_shape,
        })?;
        train_time += t0.elapsed().as_secs_f64();
        step += 1;

        if let Some((name, value)) = metrics.iter().find(|(_, v)| !v.is_finite()) {
            let (metric, value) = (name.clone(), *value);
            observer.on_event(Event::Step {
                step,
                metrics: &metrics,
            });
            return Ok(Outcome::Diverged {
                step,
                metric,
                value,
                metrics,
            });
        }
        let mut control = observer.on_event(Event::Step {
            step,
            metrics: &metrics,
        });
        last_metrics = metrics;

        let is_last = step == plan.steps;
        if is_last || (plan.eval_every > 0 && step % plan.eval_every == 0) {
            let (metrics, samples) =
                evaluate(&mut trainer, plan, toy.as_ref(), images.as_ref(), held_out)?;
            let reconstructions = match images {
                Some(_) => reconstruction_pairs(&mut trainer, held_out)?,
                None => None,
            };
            if observer.on_event(Event::Eval {
                step,
                metrics: &metrics,
                samples: &samples,
                reconstructions: reconstructions.as_ref(),
            }) == Control::Stop
            {
                control = Control::Stop;
            }
            last_metrics.extend(metrics);
        }
        let due = plan.checkpoint_every > 0 && step % plan.checkpoint_every == 0;
        if let Some(dir) = checkpoints {
            if due || (control == Control::Stop && !is_last) {
                save(&mut trainer, dir, step, &data, observer)?;
            }
        }
        if control == Control::Stop && !is_last {
            return Ok(Outcome::Stopped { step });
        }
    }
    let trained = (step - started_at).max(1) as f64;
    Ok(Outcome::Finished {
        step,
        metrics: last_metrics,
        ms_per_step: 1e3 * train_time / trained,
    })
}

/// Domain separator so the held-out stream never replays the training stream.
const HELD_OUT_DOMAIN: u64 = 0x4845_4c44_4f55_5421; // "HELDOUT!"
/// Domain separator for the evaluation noise seed.
const EVAL_DOMAIN: u64 = 0x4556_414c_5345_4544; // "EVALSEED"

/// The seed a trial's evaluations sample with: fixed per trial, so curves compare like with like.
pub fn eval_seed(trial_seed: u64) -> u64 {
    trial_seed ^ EVAL_DOMAIN
}

/// What an image trial's samples are compared with: features of held-out real images, computed
/// once per trial.
struct ImageReference<'a> {
    extractor: &'a dyn FeatureExtractor,
    real: FeatureMatrix,
    metrics: ImageMetrics,
}

impl<'a> ImageReference<'a> {
    fn new(
        images: &ImageDataset,
        extractor: &'a dyn FeatureExtractor,
        plan: &TrialPlan,
    ) -> Result<Self, TrialError> {
        let held_out = images.held_out();
        let n = plan.eval_samples.min(held_out.len());
        let real = extract_features(extractor, SampleSet::Real, &held_out.to_f32(0..n), n)
            .map_err(|e| TrialError::Metrics(e.to_string()))?;
        // KID during training: 10 subsets of half the set, rather than torch-fidelity's 100 of
        // 1000, so that an evaluation costs a fraction of the training between two of them
        // (`ganbench metrics` uses the defaults). One thread: sweeps parallelize across trials.
        let metrics = ImageMetrics {
            kid: KidConfig {
                subsets: 10,
                subset_size: (n / 2).clamp(2, 1000),
                ..KidConfig::default()
            },
            ..ImageMetrics::default()
        }
        .with_threads(1);
        Ok(Self {
            extractor,
            real,
            metrics,
        })
    }

    fn scores(&self, samples: &Samples) -> Result<Metrics, TrialError> {
        let n = samples.shape.first().copied().unwrap_or(0);
        let metric_err = |e: &dyn std::fmt::Display| TrialError::Metrics(e.to_string());
        // An extractor that labels samples with the dataset's modes (Stacked MNIST): how all the
        // samples cover them, as `modes_K` and `kl_K`. Its protocol asks for many samples
        // (26,000) to count 1,000 modes; the feature metrics then take as many samples as the
        // real reference has (PRDC's k-NN radii among the samples grow with their square).
        let classified = self
            .extractor
            .classify(&samples.data, n)
            .map_err(|e| metric_err(&e))?;
        let (mut metrics, n_features) = match classified {
            Some((labels, classes)) => {
                let coverage = class_coverage(&labels, classes).map_err(|e| metric_err(&e))?;
                (coverage.named().to_vec(), n.min(self.real.rows()))
            }
            None => (Vec::new(), n),
        };
        let example = samples.data.len() / n.max(1);
        let images = &samples.data[..n_features * example];
        let fake = extract_features(self.extractor, SampleSet::Fake, images, n_features)
            .and_then(|fake| self.metrics.evaluate(&self.real, &fake))
            .map_err(|e| metric_err(&e))?;
        let mut named = fake.named();
        named.append(&mut metrics);
        Ok(named)
    }
}

/// Held-out images shown with their reconstructions in reports.
pub const RECONSTRUCTION_PAIRS: usize = 32;

/// The first [`RECONSTRUCTION_PAIRS`] held-out images, each followed by its reconstruction;
/// `None` when the model does not reconstruct.
fn reconstruction_pairs(
    trainer: &mut TrainerHandle,
    held_out: Batch<'_>,
) -> Result<Option<Samples>, TrialError> {
    let (rows, example): (usize, usize) = match held_out.shape {
        [n, rest @ ..] => ((*n).min(RECONSTRUCTION_PAIRS), rest.iter().product()),
        [] => return Ok(None),
    };
    let mut shape = held_out.shape.to_vec();
    shape[0] = rows;
    let originals = &held_out.data[..rows * example];
    let batch = Batch {
        data: originals,
        shape: &shape,
    };
    let Some(reconstructed) = trainer.reconstruct(batch)? else {
        return Ok(None);
    };
    if reconstructed.data.len() != originals.len() {
        return Err(TrialError::Metrics(format!(
            "reconstruct returned shape {:?} for a batch of shape {shape:?}",
            reconstructed.shape
        )));
    }
    let data = originals
        .chunks_exact(example)
        .zip(reconstructed.data.chunks_exact(example))
        .flat_map(|(o, r)| o.iter().chain(r).copied())
        .collect();
    shape[0] = 2 * rows;
    Ok(Some(Samples { data, shape }))
}

/// Suffix of the metrics computed on the averaged generator's samples (`modes_ema`, `fid_ema`).
pub const AVERAGED_SUFFIX: &str = "_ema";

fn evaluate(
    trainer: &mut TrainerHandle,
    plan: &TrialPlan,
    toy: Option<&(Vec<[f64; 2]>, f64)>,
    images: Option<&ImageReference<'_>>,
    held_out: Batch<'_>,
) -> Result<(Metrics, Samples), TrialError> {
    let seed = eval_seed(plan.config.seed);
    let samples = trainer.sample(plan.eval_samples, seed)?;
    let mut metrics = sample_metrics(&samples, toy, images)?;
    metrics.extend(trainer.evaluate(held_out)?);
    // A model that averages its generator's weights: the same metrics on the average's samples
    // (same latents), so reports show what averaging buys.
    if let Some(averaged) = trainer.sample_averaged(plan.eval_samples, seed)? {
        let m = sample_metrics(&averaged, toy, images)?;
        metrics.extend(m.into_iter().map(|(k, v)| (k + AVERAGED_SUFFIX, v)));
    }
    Ok((metrics, samples))
}

/// The sample-quality metrics of generated samples: toy mode metrics or image metrics.
fn sample_metrics(
    samples: &Samples,
    toy: Option<&(Vec<[f64; 2]>, f64)>,
    images: Option<&ImageReference<'_>>,
) -> Result<Metrics, TrialError> {
    let mut metrics: Metrics = Vec::new();
    if let Some((centres, std)) = toy {
        let m = ganbench_metrics::mode_metrics_rows(&samples.data, centres, *std)
            .map_err(|e| TrialError::Metrics(e.to_string()))?;
        metrics.extend(m.named().iter().map(|(k, v)| (k.to_string(), *v)));
    }
    if let Some(images) = images {
        metrics.extend(images.scores(samples)?);
    }
    Ok(metrics)
}

fn save(
    trainer: &mut TrainerHandle,
    dir: &Path,
    step: u64,
    data: &DataStream,
    observer: &mut dyn Observer,
) -> Result<(), TrialError> {
    let host = HostState {
        step,
        data: data.state(),
    };
    let pending = checkpoint::write_pending(dir, step, &host, |plugin_dir| {
        trainer.save(plugin_dir).map_err(|e| e.to_string())
    })
    .map_err(|e| ckpt_err(dir, e))?;
    observer.on_event(Event::Checkpoint {
        step,
        checkpoints: dir,
        pending: &pending,
    });
    Ok(())
}

fn ckpt_err(path: &Path, message: impl ToString) -> TrialError {
    TrialError::Checkpoint {
        path: path.into(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ganbench_plugin_api::{
        export_plugin, Batch, Metrics, ParamSpec, Plugin, PluginResult, Registry, Samples, Trainer,
        TrialConfig,
    };

    use super::*;

    /// A plugin without candle whose raw samples all sit at the origin (no ring8 mode) and whose
    /// averaged samples sit exactly on the ring's centres (every mode, all high quality).
    struct Averaging;

    struct AveragingTrainer {
        centres: Vec<[f64; 2]>,
    }

    impl Plugin for Averaging {
        const NAME: &'static str = "averaging";
        const VERSION: &'static str = "0";
        fn params() -> Vec<ParamSpec> {
            Vec::new()
        }
        fn create(_: &TrialConfig) -> PluginResult<Box<dyn Trainer>> {
            let ring = ganbench_data::open("ring8")?;
            let centres = ring.as_toy().unwrap().centres().to_vec();
            Ok(Box::new(AveragingTrainer { centres }))
        }
    }

    impl Trainer for AveragingTrainer {
        fn rows_per_step(&self) -> usize {
            4
        }
        fn train_step(&mut self, _: Batch<'_>) -> PluginResult<Metrics> {
            Ok(vec![("loss".into(), 0.0)])
        }
        fn sample(&mut self, n: usize, _: u64) -> PluginResult<Samples> {
            Ok(Samples {
                data: vec![0.0; 2 * n],
                shape: vec![n, 2],
            })
        }
        fn sample_averaged(&mut self, n: usize, _: u64) -> PluginResult<Option<Samples>> {
            let data = (0..n)
                .flat_map(|i| self.centres[i % self.centres.len()].map(|v| v as f32))
                .collect();
            Ok(Some(Samples {
                data,
                shape: vec![n, 2],
            }))
        }
        fn save(&self, _: &Path) -> PluginResult<()> {
            Ok(())
        }
        fn load(&mut self, _: &Path) -> PluginResult<()> {
            Ok(())
        }
        fn describe(&self) -> Description {
            Description::default()
        }
    }

    export_plugin!(Averaging, build_id = "runner-test");

    #[test]
    fn evaluations_score_the_averaged_generator_under_ema_names() {
        let mut registry = Registry::new("runner-test");
        registry.add_builtin(declaration()).unwrap();
        let plugin = registry.get("averaging").unwrap();
        let plan = TrialPlan {
            config: TrialConfig {
                params: Default::default(),
                seed: 0,
                device: ganbench_plugin_api::Device::Cpu,
                data_shape: vec![2],
            },
            steps: 4,
            eval_every: 2,
            eval_samples: 800,
            checkpoint_every: 0,
        };
        let mut evals: Vec<(u64, Metrics)> = Vec::new();
        let mut observer = |event: Event<'_>| {
            if let Event::Eval { step, metrics, .. } = event {
                evals.push((step, metrics.clone()));
            }
            Control::Continue
        };
        let dataset = ganbench_data::open("ring8").unwrap();
        run_trial(&plugin, &plan, dataset, None, None, &mut observer).unwrap();
        assert_eq!(evals.len(), 2);
        for (step, m) in &evals {
            let names: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(
                names,
                [
                    "modes",
                    "high_quality",
                    "reverse_kl",
                    "reverse_kl_hq",
                    "modes_ema",
                    "high_quality_ema",
                    "reverse_kl_ema",
                    "reverse_kl_hq_ema"
                ],
                "step {step}"
            );
            let value = |k: &str| m.iter().find(|(n, _)| n == k).unwrap().1;
            // The raw samples cover no mode; the average's cover all 8, evenly.
            assert_eq!((value("modes"), value("high_quality")), (0.0, 0.0));
            assert_eq!((value("modes_ema"), value("high_quality_ema")), (8.0, 1.0));
            assert!(value("reverse_kl_ema").abs() < 1e-12);
        }
    }
}
