//! `ganbench slurm submit|status|resubmit`: a sweep as a Slurm job array, each task training its
//! share of the trials into a database of its own, merged by a job that waits for the array.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use ganbench_runner::plan::TaskShare;
use ganbench_slurm::{
    array_script, merge_script, queue_states, submit, ArrayJob, Resources, RunFolder, Submission,
    TaskList, TaskState,
};
use ganbench_store::{Status, Store};
use serde::Serialize;

use super::bad_input;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: SlurmCommand,
}

#[derive(clap::Subcommand, Debug)]
enum SlurmCommand {
    /// Submit a sweep as a job array, and a job that merges the shards and writes the report
    /// when the array has ended.
    #[command(after_help = "\
Examples:
  ganbench slurm submit experiments/fixes-grid25.ron --partition cpu --time 2:00:00 --cpus-per-task 2
  ganbench slurm submit sweep.ron --gres gpu:1 --trials-per-task 4 --array-parallelism 8
  ganbench slurm submit sweep.ron --sbatch-arg=--account=lab --dry-run     print the scripts

The database, the sweep file, its data and the ganbench binary must be on a filesystem that
every node shares. See docs/cluster.md.")]
    Submit(SubmitArgs),
    /// The array's progress: each task's state in the queue and its trials in its shard.
    #[command(after_help = "\
Examples:
  ganbench slurm status grid25
  ganbench slurm status grid25@2 --json")]
    Status(StatusArgs),
    /// Submit again the tasks that have not finished and are not queued (a node failed, a task
    /// was cancelled); they resume from their checkpoints.
    #[command(after_help = "\
Examples:
  ganbench slurm resubmit grid25
  ganbench slurm resubmit grid25 --dry-run     list the tasks only")]
    Resubmit(ResubmitArgs),
}

#[derive(clap::Args, Debug)]
struct SubmitArgs {
    /// The sweep file (RON); see docs/sweeps.md.
    sweep: PathBuf,
    /// Slurm partition.
    #[arg(long)]
    partition: Option<String>,
    /// Wall-time limit per task (Slurm's form: 30:00, 4:00:00, 1-00:00:00).
    #[arg(long)]
    time: Option<String>,
    /// CPUs per task; the task trains this many of its trials at once.
    #[arg(long, default_value_t = 1, value_name = "N")]
    cpus_per_task: usize,
    /// Memory per task (Slurm's form: 4G).
    #[arg(long, value_name = "M")]
    mem: Option<String>,
    /// Generic resources per task, e.g. gpu:1; the task trains on the GPUs Slurm gives it.
    #[arg(long, value_name = "GRES")]
    gres: Option<String>,
    /// At most this many tasks at once.
    #[arg(long, value_name = "K")]
    array_parallelism: Option<usize>,
    /// Trials per task (the last tasks may get one fewer).
    #[arg(long, default_value_t = 1, value_name = "M", value_parser = clap::value_parser!(u64).range(1..))]
    trials_per_task: u64,
    /// Seconds before the time limit at which a task checkpoints and requeues itself.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    signal_lead: u64,
    /// More sbatch options, passed on as they are (repeatable), e.g. --sbatch-arg=--qos=long.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    sbatch_args: Vec<String>,
    /// Store a changed spec under an existing sweep name as a new version.
    #[arg(long)]
    new_version: bool,
    /// Refuse a sweep that expands to more trials than this.
    #[arg(long, default_value_t = ganbench_spec::DEFAULT_MAX_TRIALS, value_name = "N")]
    max_trials: u64,
    /// Print the two scripts instead of submitting them (nothing is written).
    #[arg(long)]
    dry_run: bool,
    /// Print the submission as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct StatusArgs {
    /// The sweep: NAME (its newest submission) or NAME@VERSION.
    sweep: String,
    /// Print the tasks as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct ResubmitArgs {
    /// The sweep: NAME (its newest submission) or NAME@VERSION.
    sweep: String,
    /// List the tasks that would be submitted, and submit nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(plugin_dirs: &[PathBuf], db: &Path, args: Args) -> Result<ExitCode> {
    match args.command {
        SlurmCommand::Submit(a) => submit_sweep(plugin_dirs, db, a),
        SlurmCommand::Status(a) => status(db, a),
        SlurmCommand::Resubmit(a) => resubmit(db, a),
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("making {} absolute", path.display()))
}

fn submit_sweep(plugin_dirs: &[PathBuf], db: &Path, args: SubmitArgs) -> Result<ExitCode> {
    let db = absolute(db)?;
    let sweep_file = absolute(&args.sweep)?;
    let (spec, trials) = super::run::load_sweep(plugin_dirs, &sweep_file, args.max_trials)?;
    if trials.is_empty() {
        return Err(bad_input(anyhow::anyhow!(
            "{}: the sweep has no trials",
            sweep_file.display()
        )));
    }
    let tasks = trials.len().div_ceil(args.trials_per_task as usize);
    let hash = spec.spec_hash();
    let version = if args.dry_run {
        version_for(&db, &spec.name, &hash)?
    } else {
        let store = Store::open(&db).map_err(bad_input)?;
        super::run::register(&store, &spec, args.new_version)?.version()
    };
    let folder = RunFolder::new(&db, &spec.name, version);
    let resources = Resources {
        partition: args.partition,
        time: args.time,
        cpus_per_task: args.cpus_per_task.max(1),
        mem: args.mem,
        gres: args.gres,
        array_parallelism: args.array_parallelism,
        signal_lead_s: args.signal_lead,
        sbatch_args: args.sbatch_args,
    };
    let exe = std::env::current_exe().context("locating the ganbench binary for the tasks")?;
    let plugin_dirs = plugin_dirs
        .iter()
        .map(|d| absolute(d))
        .collect::<Result<Vec<_>>>()?;
    let job = ArrayJob {
        folder: &folder,
        sweep: &spec.name,
        exe: &exe,
        plugin_dirs: &plugin_dirs,
        sweep_file: &sweep_file,
        tasks,
        resources: &resources,
    };
    let all = TaskList((0..tasks).collect());
    let array = array_script(&job, &all);
    let merge = merge_script(&job, &db);
    if args.dry_run {
        outln!("# {}\n{array}", folder.array_script().display())?;
        outln!("# {}\n{merge}", folder.merge_script().display())?;
        return Ok(ExitCode::SUCCESS);
    }
    folder.create()?;
    for (path, text) in [
        (folder.array_script(), &array),
        (folder.merge_script(), &merge),
    ] {
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let array_id = submit(&folder.array_script(), &[]).map_err(bad_input)?;
    let merge_id = submit(
        &folder.merge_script(),
        &[format!("--dependency=afterany:{array_id}")],
    )?;
    let submission = Submission {
        sweep: spec.name.clone(),
        version,
        spec_hash: hash,
        sweep_file,
        db: db.clone(),
        trials: trials.len(),
        tasks,
        array_parallelism: resources.array_parallelism,
        array_jobs: vec![array_id.clone()],
        merge_jobs: vec![merge_id.clone()],
    };
    folder.save(&submission)?;
    if args.json {
        outln!("{}", serde_json::to_string(&submission)?)?;
    } else {
        outln!(
            "submitted {}@{version}: array job {array_id} ({tasks} tasks for {} trials), merge job \
             {merge_id} after it\nrun folder: {}\nfollow: ganbench slurm status {}",
            spec.name,
            trials.len(),
            folder.root().display(),
            spec.name
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The version the main database stores (or would store) this spec as, without writing.
fn version_for(db: &Path, name: &str, hash: &str) -> Result<u32> {
    if !db.exists() {
        return Ok(1);
    }
    let store = Store::open_read_only(db).map_err(bad_input)?;
    let versions: Vec<_> = store
        .list_sweeps()?
        .into_iter()
        .filter(|s| s.name == name)
        .collect();
    Ok(match versions.iter().find(|s| s.spec_hash == hash) {
        Some(s) => s.version,
        None => versions.iter().map(|s| s.version).max().unwrap_or(0) + 1,
    })
}

/// The run folder and submission of `NAME` or `NAME@VERSION`.
fn find_submission(db: &Path, text: &str) -> Result<(RunFolder, Submission)> {
    let folder = match super::sweep_ref(text) {
        (name, Some(version)) => Some(RunFolder::new(db, name, version)),
        (name, None) => RunFolder::latest(db, name),
    };
    let Some(folder) = folder else {
        return Err(bad_input(anyhow::anyhow!(
            "no Slurm submission of `{text}` beside {}; submit it with `ganbench slurm submit SWEEP.ron`",
            db.display()
        )));
    };
    let submission = folder.load().map_err(bad_input)?;
    Ok((folder, submission))
}

/// Where a task of the array stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum TaskStatus {
    /// Running (squeue: RUNNING or COMPLETING).
    #[serde(rename = "running")]
    Running,
    /// In the queue, waiting (squeue: any other state).
    #[serde(rename = "queued")]
    Queued,
    /// Not in the queue, every trial of its share ended.
    #[serde(rename = "done")]
    Done,
    /// Not in the queue, its shard unfinished: `ganbench slurm resubmit`.
    #[serde(rename = "incomplete")]
    Incomplete,
    /// Not in the queue, no shard.
    #[serde(rename = "not started")]
    NotStarted,
}

impl TaskStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Queued => "queued",
            Self::Done => "done",
            Self::Incomplete => "incomplete",
            Self::NotStarted => "not started",
        }
    }

    /// Neither done nor queued: what `resubmit` submits again.
    fn needs_resubmission(self) -> bool {
        matches!(self, Self::Incomplete | Self::NotStarted)
    }
}

/// One task of the array: what the queue and its shard say.
#[derive(Debug, Serialize)]
struct TaskRow {
    task: usize,
    state: TaskStatus,
    /// Why Slurm holds it, when it waits.
    reason: Option<String>,
    trials: usize,
    ended: usize,
    finished: usize,
    diverged: usize,
    failed: usize,
    /// Steps trained over the share's trials, and planned.
    steps: u64,
    total_steps: u64,
}

/// Task `task`'s trials as its shard holds them (`state` from the shard alone: [`task_rows`]
/// asks the queue).
fn shard_row(folder: &RunFolder, submission: &Submission, task: usize) -> Result<TaskRow> {
    let share = TaskShare {
        index: task,
        count: submission.tasks,
    }
    .range(submission.trials)
    .len();
    let mut row = TaskRow {
        task,
        state: TaskStatus::NotStarted,
        reason: None,
        trials: share,
        ended: 0,
        finished: 0,
        diverged: 0,
        failed: 0,
        steps: 0,
        total_steps: 0,
    };
    let shard = folder.shard(task);
    if !shard.exists() {
        return Ok(row);
    }
    row.state = TaskStatus::Incomplete;
    let store = Store::open_read_only(&shard)
        .with_context(|| format!("reading task {task}'s shard {}", shard.display()))?;
    if let Some(sweep) = store.find_sweep(&submission.sweep, None)? {
        for run in store.runs(sweep.id)? {
            row.steps += run.step;
            row.total_steps += run.total_steps.unwrap_or(0);
            match run.status {
                Status::Finished => row.finished += 1,
                Status::Diverged => row.diverged += 1,
                Status::Failed => row.failed += 1,
                _ => continue,
            }
            row.ended += 1;
        }
    }
    if row.ended >= row.trials {
        row.state = TaskStatus::Done;
    }
    Ok(row)
}

fn task_rows(folder: &RunFolder, submission: &Submission) -> Result<Vec<TaskRow>> {
    let queue: Vec<TaskState> = queue_states(&submission.array_jobs).map_err(bad_input)?;
    let mut rows = Vec::new();
    for task in 0..submission.tasks {
        let mut row = shard_row(folder, submission, task)?;
        let queued = queue.iter().find(|q| q.task == Some(task));
        row.state = match queued {
            Some(q) if q.state == "RUNNING" || q.state == "COMPLETING" => TaskStatus::Running,
            Some(_) => TaskStatus::Queued,
            None => row.state,
        };
        row.reason = queued
            .filter(|q| q.state != "RUNNING" && q.reason != "None")
            .map(|q| q.reason.clone());
        rows.push(row);
    }
    Ok(rows)
}

/// For `ganbench ls`: a line on the Slurm submission of `name@version`, if it has one, from its
/// shards alone (no `squeue`: `ls` must work off the cluster too).
pub(super) fn ls_line(db: &Path, name: &str, version: u32) -> Option<String> {
    let folder = RunFolder::new(db, name, version);
    let submission = folder.load().ok()?;
    let rows: Vec<TaskRow> = (0..submission.tasks)
        .map(|task| shard_row(&folder, &submission, task))
        .collect::<Result<_>>()
        .ok()?;
    let ended: usize = rows.iter().map(|r| r.ended).sum();
    let done = rows.iter().filter(|r| r.state == TaskStatus::Done).count();
    Some(format!(
        "slurm: {name}@{version}: {done} of {} tasks done, {ended} of {} trials ended in the shards (`ganbench slurm status {name}`; `ganbench merge {name}` brings them here)",
        submission.tasks, submission.trials
    ))
}

fn status(db: &Path, args: StatusArgs) -> Result<ExitCode> {
    let (folder, submission) = find_submission(db, &args.sweep)?;
    let rows = task_rows(&folder, &submission)?;
    let merge_queued = !queue_states(&submission.merge_jobs)
        .map_err(bad_input)?
        .is_empty();
    if args.json {
        #[derive(Serialize)]
        struct Out<'a> {
            submission: &'a Submission,
            merge_queued: bool,
            tasks: &'a [TaskRow],
        }
        let out = Out {
            submission: &submission,
            merge_queued,
            tasks: &rows,
        };
        outln!("{}", serde_json::to_string(&out)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:>5}  {:<11} {:>6} {:>5} {:>8} {:>6}  {:>7}  WAITING FOR",
        "TASK",
        "STATE",
        "TRIALS",
        "ENDED",
        "DIVERGED",
        "FAILED",
        "STEPS %"
    )?;
    for r in &rows {
        let percent = if r.total_steps > 0 {
            format!("{:.0}", 100.0 * r.steps as f64 / r.total_steps as f64)
        } else {
            "-".into()
        };
        outln!(
            "{:>5}  {:<11} {:>6} {:>5} {:>8} {:>6}  {:>7}  {}",
            r.task,
            r.state.as_str(),
            r.trials,
            r.ended,
            r.diverged,
            r.failed,
            percent,
            r.reason.as_deref().unwrap_or("")
        )?;
    }
    let count = |state: TaskStatus| rows.iter().filter(|r| r.state == state).count();
    outln!(
        "{}@{}: {} tasks: {} done, {} running, {} queued, {} incomplete, {} not started; merge job \
         {}",
        submission.sweep,
        submission.version,
        rows.len(),
        count(TaskStatus::Done),
        count(TaskStatus::Running),
        count(TaskStatus::Queued),
        count(TaskStatus::Incomplete),
        count(TaskStatus::NotStarted),
        if merge_queued {
            "waiting"
        } else {
            "not queued (ended, or never submitted)"
        }
    )?;
    let waiting = rows.iter().filter(|r| r.state.needs_resubmission()).count();
    if waiting > 0 && count(TaskStatus::Running) + count(TaskStatus::Queued) == 0 {
        outln!("next: ganbench slurm resubmit {}", submission.sweep)?;
    } else {
        outln!("merge now: ganbench merge {}", submission.sweep)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn resubmit(db: &Path, args: ResubmitArgs) -> Result<ExitCode> {
    let (folder, mut submission) = find_submission(db, &args.sweep)?;
    let rows = task_rows(&folder, &submission)?;
    let pending: Vec<usize> = rows
        .iter()
        .filter(|r| r.state.needs_resubmission())
        .map(|r| r.task)
        .collect();
    if pending.is_empty() {
        outln!(
            "{}@{}: every task is done, running or queued; nothing to resubmit",
            submission.sweep,
            submission.version
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let list = TaskList(pending);
    if args.dry_run {
        outln!("would resubmit tasks {}", list.to_array_spec())?;
        return Ok(ExitCode::SUCCESS);
    }
    // `--array` on the command line overrides the script's own list.
    let array_id = submit(
        &folder.array_script(),
        &[format!(
            "--array={}{}",
            list.to_array_spec(),
            submission
                .array_parallelism
                .map(|k| format!("%{k}"))
                .unwrap_or_default()
        )],
    )
    .map_err(bad_input)?;
    let merge_id = submit(
        &folder.merge_script(),
        &[format!("--dependency=afterany:{array_id}")],
    )?;
    submission.array_jobs.push(array_id.clone());
    submission.merge_jobs.push(merge_id.clone());
    folder.save(&submission)?;
    outln!(
        "resubmitted tasks {} of {}@{} as array job {array_id}; merge job {merge_id} after it",
        list.to_array_spec(),
        submission.sweep,
        submission.version
    )?;
    Ok(ExitCode::SUCCESS)
}
