//! `ganbench run SWEEP.ron`: every trial of a sweep, logged to the database, resumable.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ganbench_plugin_api::Metrics;
use ganbench_runner::protocol::WorkerTask;
use ganbench_runner::sweep::{self, PlannedTrial, Slots, SweepObserver, SweepReport};
use ganbench_runner::TrialPlan;
use ganbench_spec::Sweep;
use ganbench_store::{NewRun, Registration, Status, Store, StoreError, EXTRACTOR_EVENT};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::bad_input;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The sweep file (RON); see docs/sweeps.md.
    sweep: PathBuf,
    /// Trials trained at the same time, each in its own process [default: the number of CPUs].
    #[arg(long, short, conflicts_with = "gpus")]
    jobs: Option<usize>,
    /// Train on this device instead of the sweep's `device`: cpu or cuda:N (a CUDA build).
    #[arg(long, conflicts_with = "gpus")]
    device: Option<String>,
    /// Spread the trials over these GPUs, e.g. `--gpus 0,1` (a CUDA build; see docs/cuda.md).
    #[arg(long, value_delimiter = ',', value_name = "N,N,...")]
    gpus: Vec<usize>,
    /// Trials trained at the same time on each GPU of `--gpus`.
    #[arg(long, default_value_t = 1, requires = "gpus", value_name = "K")]
    jobs_per_gpu: usize,
    /// Store a changed spec under an existing sweep name as a new version (its runs start anew).
    #[arg(long)]
    new_version: bool,
    /// Train again the trials that failed last time (finished and diverged ones stay).
    #[arg(long)]
    retry_failed: bool,
    /// Seconds that workers get to checkpoint and stop after Ctrl-C or SIGTERM; those still
    /// running then are killed (their trials resume from their last checkpoint next time). A
    /// second Ctrl-C kills them at once.
    #[arg(long, default_value_t = sweep::DEFAULT_GRACE.as_secs_f64(), value_name = "SECONDS", value_parser = grace_seconds)]
    grace_period: f64,
    /// Refuse a sweep that expands to more trials than this (counted before anything is built).
    #[arg(long, default_value_t = ganbench_spec::DEFAULT_MAX_TRIALS, value_name = "N")]
    max_trials: u64,
    /// Print a JSON summary on stdout (and no progress bars).
    #[arg(long)]
    json: bool,
    /// Do not write the report (reports/SWEEP/index.html) at the end.
    #[arg(long)]
    no_report: bool,
    /// Write the report at the end into this directory instead of reports/SWEEP.
    #[arg(long, value_name = "DIR", conflicts_with = "no_report")]
    out: Option<PathBuf>,
    /// After the sweep, train the K best configurations of each variant with several (a grid
    /// or search) again on fresh seeds: the report then measures each variant's best
    /// configuration on runs it was not chosen on.
    #[arg(long, value_name = "K")]
    confirm_best: Option<usize>,
    /// Fresh seeds per configuration of --confirm-best.
    #[arg(long, default_value_t = 5, requires = "confirm_best", value_name = "N")]
    confirm_seeds: usize,
    /// The second pass of --confirm-best: the first pass's stop requests (a process has one
    /// signal handler), and no third pass.
    #[arg(skip)]
    confirm_pass: Option<Arc<sweep::StopRequests>>,
}

#[derive(Serialize)]
struct Summary<'a> {
    sweep: &'a str,
    version: u32,
    db: &'a Path,
    trials: usize,
    skipped: usize,
    #[serde(flatten)]
    report: &'a SweepReport,
    wall_s: f64,
    /// The report's page, when one was written.
    html_report: Option<&'a Path>,
}

pub fn run(plugin_dirs: &[PathBuf], db: &Path, args: Args) -> Result<ExitCode> {
    // `--retry-failed` retries what had failed when this command started (see Store::claim_run).
    let started_ms = ganbench_store::now_ms();
    // One single-threaded trial per CPU (see `--threads`).
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let again = args.confirm_best.map(|_| args.clone());
    // Everything about the spec is checked before the database is touched.
    let mut registry = crate::registry::load(plugin_dirs)?;
    let spec = Sweep::load(&args.sweep).map_err(bad_input)?;
    for v in &spec.variants {
        // Plugins named by library path must be loaded before the catalog can answer for them.
        if ganbench_plugin_api::host::is_library_file(Path::new(&v.plugin)) {
            registry.get(&v.plugin).map_err(bad_input)?;
        }
    }
    let mut trials = spec
        .expand_at_most(&registry, args.max_trials)
        .map_err(bad_input)?;
    let (device, slots) = placement(&args, &spec, jobs)?;
    let data_text = spec.data.to_string();
    let dataset = ganbench_data::open(&data_text).map_err(bad_input)?;
    let data_shape = dataset.sample_shape();
    // Image metrics need the evaluation feature network: found or trained once, here.
    let extractor = match dataset.as_images() {
        Some(images) => Some(crate::extractor::prepare(
            images,
            &crate::extractor::cache_dir(db),
        )?),
        None => None,
    };
    drop(dataset);

    let store = Store::open(db).map_err(bad_input)?;
    let host = ganbench_store::host_name();
    let orphans = store.mark_orphans_interrupted(&host, ganbench_store::pid_is_alive)?;
    let registration = register(&store, &spec, args.new_version)?;
    let version = registration.version();
    // --confirm-best: the search first; once it has ended, its best configurations again.
    let mut confirm_later = None;
    if let Some(k) = args.confirm_best {
        use super::confirm::{plan, Confirmation};
        match plan(
            &store,
            registration.id(),
            &spec,
            &trials,
            k,
            args.confirm_seeds,
        )? {
            Confirmation::SearchNotDone { pending } => confirm_later = Some(pending),
            Confirmation::Trials(more) => trials.extend(more),
        }
    }
    let runs_dir = super::runs_dir(db);

    let mut planned = Vec::new();
    let mut skipped = 0;
    for trial in &trials {
        let params_json = serde_json::to_string(&trial.params)?;
        let ensured = store.ensure_run(
            registration.id(),
            &NewRun {
                trial_key: &trial.key,
                label: &trial.variant,
                plugin: &trial.plugin,
                params_json: &params_json,
                seed: trial.seed,
                build_id: ganbench_sdk::BUILD_ID,
                total_steps: Some(spec.steps),
            },
        )?;
        let done = match ensured.status {
            Status::Finished | Status::Diverged => true,
            Status::Failed => !args.retry_failed,
            _ => false,
        };
        if done {
            skipped += 1;
            continue;
        }
        if let Some(extractor) = &extractor {
            // Reports state which feature space the image metrics were computed in.
            store.record_event(ensured.id, EXTRACTOR_EVENT, &extractor.description)?;
        }
        let dir = sweep::trial_dir(&runs_dir, &spec.name, version, &trial.key);
        planned.push(PlannedTrial {
            run: ensured.id,
            label: trial.label.clone(),
            trial_key: trial.key.clone(),
            task: WorkerTask {
                plugin: trial.plugin.clone(),
                data: data_text.clone(),
                plan: TrialPlan {
                    config: ganbench_plugin_api::TrialConfig {
                        params: trial.params.clone(),
                        seed: trial.seed,
                        device: device.clone(),
                        data_shape: data_shape.clone(),
                    },
                    steps: spec.steps,
                    eval_every: spec.eval_every,
                    eval_samples: spec.eval_samples,
                    checkpoint_every: spec.checkpoint_every(),
                },
                checkpoints: dir.join("checkpoints"),
                samples_dir: Some(dir.join("samples")),
                extractor: extractor.as_ref().map(|e| e.path.clone()),
            },
        });
    }

    let control = sweep::Control {
        stop: args.confirm_pass.clone().unwrap_or_default(),
        grace: Duration::from_secs_f64(args.grace_period),
        timeout: spec.timeout.map(|t| t.duration()),
        retry_failed_before: args.retry_failed.then_some(started_ms),
    };
    if args.confirm_pass.is_none() {
        let stop = control.stop.clone();
        // Ctrl-C, SIGTERM and SIGHUP: the first stops gracefully, a second kills the workers.
        let _ = ctrlc::set_handler(move || stop.request());
    }

    let exe =
        std::env::current_exe().context("locating the ganbench binary for worker processes")?;
    let dirs = plugin_dirs.to_vec();
    let spawn = move || {
        let mut cmd = Command::new(&exe);
        for d in &dirs {
            cmd.arg("--plugin-dir").arg(d);
        }
        cmd.arg("worker");
        cmd
    };

    let mut progress = Progress::new(planned.len(), slots.len(), spec.steps, args.json);
    progress.note(format!(
        "sweep {} v{version}: {} trials, {} already done{}; database {}",
        spec.name,
        trials.len(),
        skipped,
        if orphans > 0 {
            format!(", {orphans} left running by a dead process marked interrupted")
        } else {
            String::new()
        },
        db.display()
    ));
    let started = Instant::now();
    let writer = store.writer()?;
    let report = sweep::execute(
        &store,
        &writer,
        planned,
        &slots,
        &spawn,
        &control,
        &mut progress,
    )?;
    writer.flush()?;
    progress.finish();
    let wall_s = started.elapsed().as_secs_f64();

    // A report of everything the sweep holds; a stopped sweep gets none (it will resume).
    let stopped = control.stop.requested();
    if let Some(pending) = confirm_later.filter(|_| !stopped) {
        if let Some(mut again) = again.filter(|_| args.confirm_pass.is_none()) {
            // The search has ended now: plan and train the confirmation.
            progress.note("now training the search's best configurations on fresh seeds".into());
            again.confirm_pass = Some(control.stop.clone());
            // The failed runs were retried in the first pass.
            again.retry_failed = false;
            return run(plugin_dirs, db, again);
        }
        eprintln!(
            "note: --confirm-best waits for every trial of the search to end ({pending} have not, \
             e.g. trained by another ganbench process); run this command again"
        );
    }
    let html_report = if args.no_report || stopped {
        None
    } else {
        match super::report::after_run(&store, db, &spec.name, version, args.out.as_deref()) {
            Ok(report) => Some(report.index),
            Err(e) => {
                eprintln!(
                    "warning: no report written: {e:#}; retry with `ganbench report {}`",
                    spec.name
                );
                None
            }
        }
    };

    if args.json {
        let summary = Summary {
            sweep: &spec.name,
            version,
            db,
            trials: trials.len(),
            skipped,
            report: &report,
            wall_s,
            html_report: html_report.as_deref(),
        };
        outln!("{}", serde_json::to_string(&summary)?)?;
    } else {
        outln!(
            "{} v{version}: {} finished, {} diverged, {} failed, {} interrupted, {} skipped (done before){} in {wall_s:.1} s",
            spec.name,
            report.finished,
            report.diverged,
            report.failed,
            report.interrupted + report.not_started,
            skipped,
            elsewhere(&report),
        )?;
        outln!(
            "details: ganbench ls {}   export: ganbench export {}",
            spec.name,
            spec.name
        )?;
        if let Some(index) = &html_report {
            outln!("report: {}", index.display())?;
        }
    }
    if control.stop.requested() {
        eprintln!("stopped; run the same command again to resume");
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

/// ", 2 being trained by another ganbench process, 1 ended by another": what other processes on
/// the same database took over, if anything.
fn elsewhere(report: &SweepReport) -> String {
    let mut out = String::new();
    if report.busy_elsewhere > 0 {
        out += &format!(
            ", {} being trained by another ganbench process",
            report.busy_elsewhere
        );
    }
    if report.done_elsewhere > 0 {
        out += &format!(
            ", {} ended by another ganbench process meanwhile",
            report.done_elsewhere
        );
    }
    out
}

/// The device every trial names and the worker slots: `--gpus` deals trials over GPUs (each slot
/// overriding the trial's device), otherwise `--device` or the sweep's `device` with `jobs`
/// slots. Every device is checked here, before the database is touched, so that a sweep that
/// cannot train (no CUDA in this build, no such GPU) stops with exit status 2 and no run started.
fn placement(args: &Args, spec: &Sweep, jobs: usize) -> Result<(String, Slots)> {
    if let Some(first) = args.gpus.first() {
        for gpu in &args.gpus {
            ganbench_sdk::check_device(&format!("cuda:{gpu}")).map_err(bad_input)?;
        }
        let slots = Slots::gpus(&args.gpus, args.jobs_per_gpu);
        return Ok((format!("cuda:{first}"), slots));
    }
    let device = args
        .device
        .clone()
        .unwrap_or_else(|| spec.device.to_string());
    ganbench_sdk::check_device(&device).map_err(bad_input)?;
    Ok((device, Slots::jobs(jobs)))
}

fn register(store: &Store, spec: &Sweep, new_version: bool) -> Result<Registration> {
    let hash = spec.spec_hash();
    let text = &spec.source.text;
    match store.register_sweep(&spec.name, text, &hash) {
        Ok(r) => Ok(r),
        Err(StoreError::SpecChanged { .. }) if new_version => Ok(store.register_new_version(&spec.name, text, &hash)?),
        Err(e @ StoreError::SpecChanged { .. }) => Err(bad_input(anyhow::Error::new(e).context(format!(
            "{}: the sweep `{}` in {} was run with a different spec; rename the sweep, or pass --new-version \
             to store this spec as a new version",
            spec.source.path.display(),
            spec.name,
            store.path().display()
        )))),
        Err(e) => Err(e.into()),
    }
}

/// One overall bar plus one line per worker; hidden when stderr is not a terminal.
struct Progress {
    multi: MultiProgress,
    overall: ProgressBar,
    workers: Vec<ProgressBar>,
}

impl Progress {
    fn new(trials: usize, jobs: usize, steps: u64, quiet: bool) -> Self {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(trials as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "[{elapsed_precise}] {wide_bar} {pos}/{len} trials, eta {eta}",
            )
            .expect("valid template"),
        );
        let style = ProgressStyle::with_template("  {prefix:<40!} {bar:20} {pos:>6}/{len} {msg}")
            .expect("valid template");
        let workers = (0..jobs.max(1))
            .map(|_| {
                let bar = multi.add(ProgressBar::new(steps));
                bar.set_style(style.clone());
                bar
            })
            .collect();
        Self {
            multi,
            overall,
            workers,
        }
    }

    fn note(&self, line: String) {
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    fn finish(&self) {
        for w in &self.workers {
            w.finish_and_clear();
        }
        self.overall.finish_and_clear();
    }
}

impl SweepObserver for Progress {
    fn trial_started(&mut self, slot: usize, trial: &PlannedTrial, from_step: u64) {
        let bar = &self.workers[slot];
        bar.set_prefix(format!("{} s{}", trial.label, trial.task.plan.config.seed));
        bar.set_position(from_step);
        bar.set_message(if from_step > 0 {
            format!("resumed at {from_step}")
        } else {
            String::new()
        });
    }

    fn step(&mut self, slot: usize, _trial: &PlannedTrial, step: u64, metrics: &Metrics) {
        let bar = &self.workers[slot];
        bar.set_position(step);
        if step.is_multiple_of(20) {
            let key: Vec<String> = metrics
                .iter()
                .filter(|(k, _)| k.starts_with("loss"))
                .map(|(k, v)| format!("{k} {v:.3}"))
                .collect();
            bar.set_message(key.join(" "));
        }
    }

    fn trial_ended(&mut self, _slot: usize, trial: &PlannedTrial, status: Status, detail: &str) {
        self.overall.inc(1);
        let seed = trial.task.plan.config.seed;
        let line = match status {
            Status::Finished => format!("finished    {} seed {seed}", trial.label),
            other => format!(
                "{:<11} {} seed {seed}: {detail}",
                other.as_str(),
                trial.label
            ),
        };
        self.note(line);
    }
}

/// `--grace-period`: a finite number of seconds from 0 to a day.
fn grace_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.0..=86_400.0).contains(&s) => Ok(s),
        _ => Err(format!(
            "`{text}` is not a number of seconds from 0 to 86400"
        )),
    }
}
