//! `ganbench run SWEEP.ron`: every trial of a sweep, logged to the database, resumable.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ganbench_plugin_api::Device;
use ganbench_plugin_api::Metrics;
use ganbench_runner::plan::{plan_sweep, PlanOptions, SweepPlan, TaskShare};
use ganbench_runner::sweep::{self, PlannedTrial, Slots, SweepObserver, SweepReport};
use ganbench_spec::{Sweep, Trial};
use ganbench_store::{Registration, Status, Store, StoreError};
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
    device: Option<Device>,
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
    /// Train only share I of N of the sweep's trials (task I, from 0, of N), e.g. `--task 3/10`:
    /// the work of one task of a job array, each task into a database of its own (`--db`),
    /// brought together by `ganbench merge` (see docs/cluster.md). Writes no report (a share's
    /// would be partial).
    #[arg(long, value_name = "I/N", conflicts_with = "confirm_best")]
    task: Option<TaskShare>,
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
    /// `I/N` when this run trained one task's share of the sweep.
    task: Option<String>,
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
    let (spec, mut trials) = load_sweep(plugin_dirs, &args.sweep, args.max_trials)?;
    if let Some(task) = args.task {
        let share = task.range(trials.len());
        trials = trials.drain(share).collect();
    }
    let (device, slots) = placement(&args, &spec, jobs)?;
    let dataset = spec.data.source().open().map_err(bad_input)?;
    let data_shape = dataset.sample_shape();
    // Image metrics need the evaluation feature network: found or trained once, here.
    let features = match dataset.as_images() {
        Some(images) => Some(crate::extractor::prepare(
            images,
            &crate::extractor::cache_dir(db),
        )?),
        None => None,
    };
    drop(dataset);

    let store = Store::open(db).map_err(bad_input)?;
    let orphans = if args.task.is_some() {
        // A task's shard has one writer, the task: a run left running there is from an earlier
        // instance of it (killed, requeued), perhaps on another node whose pids mean nothing here.
        store.mark_all_running_interrupted()?
    } else {
        store
            .mark_orphans_interrupted(&ganbench_store::host_name(), ganbench_store::pid_is_alive)?
    };
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
    let options = PlanOptions {
        device,
        data_shape,
        retry_failed: args.retry_failed,
        build_id: ganbench_sdk::BUILD_ID.into(),
        runs_dir: super::runs_dir(db),
        features,
    };
    let SweepPlan {
        trials: planned,
        skipped,
    } = plan_sweep(&store, &registration, &spec, &trials, &options)?;

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
        "sweep {} v{version}: {} trials{}, {} already done{}; database {}",
        spec.name,
        trials.len(),
        args.task
            .map(|t| format!(" (task {t}'s share)"))
            .unwrap_or_default(),
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
    let html_report = if args.no_report || args.task.is_some() || stopped {
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
            task: args.task.map(|t| t.to_string()),
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
fn placement(args: &Args, spec: &Sweep, jobs: usize) -> Result<(Device, Slots)> {
    if let Some(&first) = args.gpus.first() {
        for &gpu in &args.gpus {
            ganbench_sdk::check_device(Device::Cuda(gpu)).map_err(bad_input)?;
        }
        let slots = Slots::gpus(&args.gpus, args.jobs_per_gpu);
        return Ok((Device::Cuda(first), slots));
    }
    let device = args.device.unwrap_or(spec.device);
    ganbench_sdk::check_device(device).map_err(bad_input)?;
    Ok((device, Slots::jobs(jobs)))
}

/// Reads and checks a sweep file and expands its trials (at most `max_trials`), in the order every
/// machine computes alike.
pub(super) fn load_sweep(
    plugin_dirs: &[PathBuf],
    file: &Path,
    max_trials: u64,
) -> Result<(Sweep, Vec<Trial>)> {
    let mut registry = crate::registry::load(plugin_dirs)?;
    let spec = Sweep::load(file).map_err(bad_input)?;
    for v in &spec.variants {
        // Plugins named by library path must be loaded before the catalog can answer for them.
        if ganbench_plugin_api::host::is_library_file(Path::new(&v.plugin)) {
            registry.get(&v.plugin).map_err(bad_input)?;
        }
    }
    let trials = spec
        .expand_at_most(&registry, max_trials)
        .map_err(bad_input)?;
    Ok((spec, trials))
}

/// Stores the sweep's spec (or finds it stored): a changed spec under a known name is refused
/// unless `new_version`.
pub(super) fn register(store: &Store, spec: &Sweep, new_version: bool) -> Result<Registration> {
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
