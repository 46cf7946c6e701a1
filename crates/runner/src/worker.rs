//! The worker side of a sweep: run one [`WorkerTask`] and report on a line-oriented stream.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use ganbench_metrics::FeatureExtractor;
use ganbench_plugin_api::{PluginHandle, Samples};

use crate::protocol::{to_wire, Value, WorkerMessage, WorkerTask};
use crate::trial::{run_trial, Control, Event, Outcome};

/// Runs `task` with `plugin`, writing one [`WorkerMessage`] per line to `out`. Returns when the
/// trial ends, fails, is stopped through `stop`, or `out` breaks (the parent is gone). `features`
/// is the extractor for image data (see [`run_trial`]).
pub fn serve(
    plugin: &PluginHandle,
    task: &WorkerTask,
    features: Option<&dyn FeatureExtractor>,
    out: &mut dyn Write,
    stop: &AtomicBool,
) {
    let mut send =
        |msg: WorkerMessage| -> bool { writeln!(out, "{msg}").and_then(|_| out.flush()).is_ok() };
    let dataset = match task.data.open() {
        Ok(d) => d,
        Err(e) => {
            send(WorkerMessage::Failed {
                message: e.to_string(),
            });
            return;
        }
    };
    let plan = &task.plan;
    let mut parent_gone = false;
    let mut observer = |event: Event<'_>| {
        let msg = match event {
            Event::Started { description } => WorkerMessage::Started {
                parameters: description.parameters,
                architecture: description.architecture.clone(),
            },
            Event::Resumed { step } => WorkerMessage::Resumed { step },
            Event::Step { step, metrics } => WorkerMessage::Step {
                step,
                metrics: to_wire(metrics),
            },
            Event::Eval {
                step,
                metrics,
                samples,
                reconstructions,
            } => {
                let path = |suffix: &str| {
                    task.samples_dir
                        .as_ref()
                        .map(|dir| dir.join(format!("step-{step:08}{suffix}.npy")))
                };
                WorkerMessage::Eval {
                    step,
                    metrics: to_wire(metrics),
                    samples: path("").filter(|p| write_samples(p, samples)),
                    reconstructions: reconstructions
                        .and_then(|r| path("-reconstructions").filter(|p| write_samples(p, r))),
                }
            }
            Event::Checkpoint { step, pending, .. } => WorkerMessage::Checkpoint {
                step,
                pending: pending.to_path_buf(),
            },
        };
        parent_gone |= !send(msg);
        if parent_gone || stop.load(Ordering::Relaxed) {
            Control::Stop
        } else {
            Control::Continue
        }
    };
    let result = run_trial(
        plugin,
        plan,
        dataset,
        features,
        Some(&task.checkpoints),
        &mut observer,
    );
    if parent_gone {
        return;
    }
    send(match result {
        Ok(Outcome::Finished {
            step, ms_per_step, ..
        }) => WorkerMessage::Finished { step, ms_per_step },
        Ok(Outcome::Diverged {
            step,
            metric,
            value,
            ..
        }) => WorkerMessage::Diverged {
            step,
            metric,
            value: Value(value),
        },
        Ok(Outcome::Stopped { step }) => WorkerMessage::Stopped { step },
        Err(e) => WorkerMessage::Failed {
            message: e.to_string(),
        },
    });
}

/// Images kept per evaluation for the report's sample grids (all of them would be megabytes per
/// evaluation; toy 2D samples are small and all kept, since the scatter plots show the spread).
pub const IMAGE_SAMPLES_KEPT: usize = 64;

fn write_samples(path: &Path, samples: &Samples) -> bool {
    let (data, shape) = match samples.shape.as_slice() {
        [n, image @ ..] if image.len() == 3 && *n > IMAGE_SAMPLES_KEPT => {
            let kept = IMAGE_SAMPLES_KEPT * image.iter().product::<usize>();
            let mut shape = samples.shape.clone();
            shape[0] = IMAGE_SAMPLES_KEPT;
            (&samples.data[..kept], shape)
        }
        _ => (&samples.data[..], samples.shape.clone()),
    };
    // Samples are a report nicety; a failed write must not fail training.
    path.parent()
        .is_some_and(|d| std::fs::create_dir_all(d).is_ok())
        && ganbench_data::npy::write_npy(path, data, &shape).is_ok()
}
