//! `ganbench train`: one run of one plugin, with a progress bar and the toy metrics.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use ganbench_plugin_api::{Device, TrialConfig};
use ganbench_runner::{run_trial, Control, Event, Outcome, TrialPlan};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::bad_input;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Plugin name (see `ganbench plugins`) or the path of a plugin library.
    #[arg(long)]
    plugin: String,
    /// Toy dataset: ring8, grid25, ring(modes=8,radius=2,std=0.02) or grid(side=5,spacing=2,std=0.05);
    /// or an image dataset in its RON form, e.g. 'Idx(images: "…", labels: "…")' or
    /// 'StackedMnist(images: "…", labels: "…")' (docs/sweeps.md).
    #[arg(long, default_value = "ring8")]
    data: String,
    /// Training steps (one generator update and its critic updates each).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=ganbench_spec::MAX_STEPS))]
    steps: u64,
    /// Seed of everything random: weights, noise, data order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Set a plugin parameter, e.g. --set lr_d=1e-4; repeatable. `ganbench plugins` lists them.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Evaluate every N steps (and always at the end); 0 evaluates only at the end.
    #[arg(long, default_value_t = 500)]
    eval_every: u64,
    /// Generated samples per evaluation (the PacGAN protocol uses 2500).
    #[arg(long, default_value_t = 2500, value_parser = clap::value_parser!(u64).range(1..=ganbench_spec::MAX_EVAL_SAMPLES as u64))]
    eval_samples: u64,
    /// cpu, or cuda:N with a CUDA build.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Print the final result as one JSON object on stdout (and no progress).
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Summary<'a> {
    plugin: &'a str,
    version: &'a str,
    origin: String,
    data: String,
    seed: u64,
    steps: u64,
    device: String,
    #[serde(flatten)]
    outcome: &'a Outcome,
    wall_s: f64,
}

pub fn run(plugin_dirs: &[PathBuf], db: &Path, args: Args) -> Result<ExitCode> {
    let mut registry = crate::registry::load(plugin_dirs)?;
    let plugin = registry.get(&args.plugin).map_err(bad_input)?;
    let params = plugin
        .params_from_assignments(&args.set)
        .map_err(bad_input)?;
    ganbench_sdk::check_device(args.device).map_err(bad_input)?;
    let source: ganbench_data::DataSource = args.data.parse().map_err(bad_input)?;
    let dataset = source.open().map_err(bad_input)?;
    let total_modes = dataset.as_toy().map_or(0, |t| t.centres().len());
    let data_name = dataset.name();
    // Image metrics need the evaluation feature network, cached beside the database.
    let features = match dataset.as_images() {
        Some(images) => {
            let prepared = crate::extractor::prepare(images, &crate::extractor::cache_dir(db))?;
            Some(crate::extractor::load(
                &prepared.path,
                &source,
                &dataset.sample_shape(),
            )?)
        }
        None => None,
    };

    let plan = TrialPlan {
        config: TrialConfig {
            params,
            seed: args.seed,
            device: args.device,
            data_shape: dataset.sample_shape(),
        },
        steps: args.steps,
        eval_every: args.eval_every,
        eval_samples: args.eval_samples as usize,
        checkpoint_every: 0,
    };

    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.steps)
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} steps, {per_sec}, eta {eta}  {msg}")
            .expect("valid template"),
    );
    if !args.json {
        say(
            &bar,
            format!(
                "{} {} ({}) on {data_name}, seed {}, {} steps",
                plugin.name, plugin.version, plugin.origin, args.seed, args.steps
            ),
        )?;
    }
    let started = Instant::now();
    // A closed stdout (`| head`) stops training: nobody reads the rest.
    let mut closed: Option<std::io::Error> = None;
    let mut observer = |event: Event<'_>| {
        match event {
            Event::Step { step, metrics } => {
                bar.set_position(step);
                if step % 25 == 0 {
                    bar.set_message(format_metrics(
                        metrics.iter().filter(|(k, _)| k.starts_with("loss")),
                    ));
                }
            }
            Event::Eval { step, metrics, .. } if !args.json => {
                let line = format!("step {step:>7}  {}", describe_eval(metrics, total_modes));
                if let Err(e) = say(&bar, line) {
                    closed = Some(e);
                    return Control::Stop;
                }
            }
            _ => {}
        }
        Control::Continue
    };
    let outcome = run_trial(
        &plugin,
        &plan,
        dataset,
        features.as_deref(),
        None,
        &mut observer,
    )
    .with_context(|| format!("training {} on {data_name}", plugin.name))?;
    bar.finish_and_clear();
    if let Some(e) = closed {
        return Err(e.into());
    }
    let wall_s = started.elapsed().as_secs_f64();

    if args.json {
        let summary = Summary {
            plugin: &plugin.name,
            version: &plugin.version,
            origin: plugin.origin.to_string(),
            data: data_name.clone(),
            seed: args.seed,
            steps: args.steps,
            device: args.device.to_string(),
            outcome: &outcome,
            wall_s,
        };
        outln!("{}", serde_json::to_string(&summary)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    match &outcome {
        Outcome::Finished {
            step,
            metrics,
            ms_per_step,
        } => {
            outln!(
                "finished {step} steps in {wall_s:.1} s ({ms_per_step:.2} ms per training step)"
            )?;
            outln!("{}", describe_eval(metrics, total_modes))?;
            outln!("{}", format_metrics(metrics.iter()))?;
        }
        Outcome::Diverged {
            step,
            metric,
            value,
            ..
        } => {
            outln!("diverged at step {step}: {metric} = {value}")?;
        }
        Outcome::Stopped { step } => outln!("stopped after step {step}")?,
    }
    Ok(ExitCode::SUCCESS)
}

fn value_of(metrics: &[(String, f64)], name: &str) -> Option<f64> {
    metrics
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| *v)
}

/// "modes 8/8, high-quality 93.1%, reverse KL 0.004" from an evaluation's metrics.
fn describe_eval(metrics: &[(String, f64)], total_modes: usize) -> String {
    match (
        value_of(metrics, "modes"),
        value_of(metrics, "high_quality"),
        value_of(metrics, "reverse_kl"),
    ) {
        (Some(m), Some(hq), Some(kl)) => {
            format!(
                "modes {m}/{total_modes}, high-quality {:.1}%, reverse KL {kl:.3}",
                100.0 * hq
            )
        }
        _ => format_metrics(metrics.iter()),
    }
}

fn format_metrics<'a>(metrics: impl Iterator<Item = &'a (String, f64)>) -> String {
    metrics
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect::<Vec<_>>()
        .join("  ")
}

/// A line above the progress bar, or on stdout when there is no bar (not a terminal).
fn say(bar: &ProgressBar, line: String) -> std::io::Result<()> {
    if bar.is_hidden() {
        outln!("{line}")?;
    } else {
        bar.println(line);
    }
    Ok(())
}
