//! The parent side of a sweep: schedule trials onto worker subprocesses, stream their reports
//! into the store, commit their checkpoints, and survive anything a worker does.
//!
//! Crash safety rests on one ordering rule: a worker's checkpoint of step `c` is committed only
//! after every metric it logged up to `c` is durable in the store, and before a trial (re)starts
//! its metrics after the newest committed checkpoint are deleted. So whatever is killed when, a
//! resumed run logs each (metric, step) exactly once, and — training being deterministic — the same
//! values an uninterrupted run would have logged.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ganbench_plugin_api::probe::{describe_exit, signal_name};
use ganbench_plugin_api::{Device, Metrics};
use ganbench_store::{
    RunId, Status, Store, StoreError, Writer, KILLED_EVENT, RECONSTRUCTIONS_ARTIFACT,
    SAMPLES_ARTIFACT,
};
use serde::Serialize;

use crate::checkpoint;
use crate::protocol::{from_wire, WorkerMessage, WorkerTask};

/// One trial of the sweep, registered in the store.
#[derive(Debug, Clone)]
pub struct PlannedTrial {
    pub run: RunId,
    pub label: String,
    pub trial_key: String,
    pub task: WorkerTask,
}

/// How many trials train at once, and where: slot `s` of `0..len()` runs one trial at a time, on
/// its own device if it has one, else on the device the trial names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slots {
    devices: Vec<Option<Device>>,
}

impl Slots {
    /// `jobs` slots (at least one), each training on the device its trial names.
    pub fn jobs(jobs: usize) -> Self {
        Self {
            devices: vec![None; jobs.max(1)],
        }
    }

    /// `jobs_per_gpu` slots (at least one) per GPU, dealt round robin: `cuda:0`, `cuda:1`, …,
    /// `cuda:0`, `cuda:1`, …. Slots fill in order, so the first trials spread over every GPU before
    /// any GPU gets a second one, and no GPU ever trains more than `jobs_per_gpu` trials at once.
    /// A GPU listed twice gets twice the slots.
    pub fn gpus(gpus: &[usize], jobs_per_gpu: usize) -> Self {
        let devices = (0..jobs_per_gpu.max(1))
            .flat_map(|_| gpus.iter().map(|&g| Some(Device::Cuda(g))))
            .collect::<Vec<_>>();
        if devices.is_empty() {
            Self::jobs(1)
        } else {
            Self { devices }
        }
    }

    /// Trials trained at the same time.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Never true: there is always at least one slot.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// The device slot `slot` trains on, if it overrides the trial's.
    pub fn device(&self, slot: usize) -> Option<Device> {
        self.devices.get(slot).copied().flatten()
    }
}

/// Progress callbacks, for bars and logs. `slot` is the worker's index in `0..slots.len()`.
pub trait SweepObserver {
    fn trial_started(&mut self, slot: usize, trial: &PlannedTrial, from_step: u64);
    fn step(&mut self, slot: usize, trial: &PlannedTrial, step: u64, metrics: &Metrics);
    fn trial_ended(&mut self, slot: usize, trial: &PlannedTrial, status: Status, detail: &str);
}

/// What a sweep execution did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub finished: usize,
    pub diverged: usize,
    pub failed: usize,
    pub interrupted: usize,
    /// Trials another live `ganbench run` process was training; left to it.
    pub busy_elsewhere: usize,
    /// Trials that another process finished (or ended as diverged or failed) after this one
    /// planned them; their results are kept and they were not trained again.
    pub done_elsewhere: usize,
    /// Trials not started because the sweep was stopped.
    pub not_started: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot start a worker process: {0}")]
    Spawn(std::io::Error),
    #[error("checkpoint of {trial}: {message}")]
    Checkpoint { trial: String, message: String },
}

/// How a worker process is started: the binary's hidden `worker` subcommand, with the same
/// plugin directories as the parent.
pub type SpawnWorker<'a> = &'a dyn Fn() -> Command;

/// How long workers get to checkpoint and stop after the first Ctrl-C or SIGTERM, unless the
/// caller chooses otherwise ([`Control::grace`]). A step of the image models takes well under a
/// second and a checkpoint a few; an evaluation on many samples can take tens of seconds.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// How many times one run's worker may be killed from outside (SIGKILL — the out-of-memory
/// killer's signal —, or SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGXCPU that it did not survive) and
/// be left `interrupted` to resume. The kill that reaches this number fails the run instead, so a
/// trial that the out-of-memory killer ends every time does not loop forever. `--retry-failed`
/// starts the count over.
pub const MAX_KILLS: u32 = 3;

/// Stop requests from outside (Ctrl-C, SIGTERM), counted: the first lets the workers checkpoint
/// and stop within [`Control::grace`], a second kills them at once. Shared with a signal handler.
#[derive(Debug, Default)]
pub struct StopRequests(AtomicU32);

impl StopRequests {
    /// Records one request (call it from the signal handler).
    pub fn request(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests so far.
    pub fn count(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// True once the sweep was asked to stop.
    pub fn requested(&self) -> bool {
        self.count() > 0
    }
}

/// How a sweep's parent supervises its workers: stop requests from outside, the grace period,
/// the per-trial time limit, and which failed runs it trains again.
#[derive(Debug, Clone)]
pub struct Control {
    /// Ctrl-C / SIGTERM requests, shared with the signal handler.
    pub stop: Arc<StopRequests>,
    /// After the first stop request, workers still alive after this long are killed (their runs
    /// are left `interrupted`).
    pub grace: Duration,
    /// A worker that trains one trial for longer than this is killed and its run `failed` ("timed
    /// out"); the sweep goes on. Measured per worker process, so a resumed trial gets the full
    /// time again.
    pub timeout: Option<Duration>,
    /// Failed runs that failed at or before this time (unix ms) are trained again
    /// (`--retry-failed`; see [`Store::claim_run`]); `None`: failed runs are left alone.
    pub retry_failed_before: Option<i64>,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            stop: Arc::default(),
            grace: DEFAULT_GRACE,
            timeout: None,
            retry_failed_before: None,
        }
    }
}

enum Report {
    Line(WorkerMessage),
    Garbled(String),
    Eof,
}

/// Why the parent killed a worker: decides the run's status, whatever signal the kill shows.
#[derive(Debug, Clone, Copy)]
enum KilledBy {
    /// It trained longer than [`Control::timeout`].
    Timeout(Duration),
    /// It had not stopped when the grace period after a stop request ran out.
    Grace(Duration),
    /// A second stop request.
    SecondStop,
}

struct Active {
    trial: PlannedTrial,
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: mpsc::Receiver<Vec<String>>,
    last_step: u64,
    end: Option<(Status, u64, Option<String>)>,
    started: Instant,
    killed_by: Option<KilledBy>,
}

impl Active {
    /// SIGKILL, remembering why; later reasons do not overwrite the first.
    fn kill(&mut self, why: KilledBy) {
        if self.killed_by.is_none() {
            self.killed_by = Some(why);
            // Fails only when the process is already gone, which its EOF will report.
            let _ = self.child.kill();
        }
    }
}

/// Runs `trials` on the worker `slots`, one worker process per trial. Returns when all are done,
/// or — once `control.stop` has a request — when the running ones have checkpointed and stopped
/// (or were killed: after `control.grace`, or at once on a second request).
///
/// Each trial is first claimed in the store; one that another process is training or has ended
/// since it was planned is skipped (counted in [`SweepReport::busy_elsewhere`] and
/// [`SweepReport::done_elsewhere`]), so several processes on one database divide the work.
///
/// How a trial ends:
/// - its worker reports an outcome: finished, diverged, stopped (`interrupted`) or failed (the
///   plugin returned an error or panicked, e.g. the GPU ran out of memory);
/// - its worker dies without one: killed from outside (SIGKILL, SIGTERM, …: the out-of-memory
///   killer, an administrator) → `interrupted`, resumable, until the [`MAX_KILLS`]th time → `failed`;
///   any other death (SIGSEGV, SIGABRT, an exit without an outcome) → `failed` at once, with the
///   tail of its stderr;
/// - the parent kills it: after `control.timeout` → `failed` ("timed out"); at the end of the
///   grace period or on a second stop request → `interrupted`.
///
/// The sweep goes on with the next trial in every case.
pub fn execute(
    store: &Store,
    writer: &Writer,
    trials: Vec<PlannedTrial>,
    placement: &Slots,
    spawn: SpawnWorker<'_>,
    control: &Control,
    observer: &mut dyn SweepObserver,
) -> Result<SweepReport, SweepError> {
    let stop = &control.stop;
    let mut queue: VecDeque<PlannedTrial> = trials.into();
    let mut slots: Vec<Option<Active>> = (0..placement.len()).map(|_| None).collect();
    let (tx, rx) = mpsc::channel::<(usize, Report)>();
    let mut report = SweepReport::default();
    let pid = std::process::id();
    let host = ganbench_store::host_name();
    let mut stopping_since: Option<Instant> = None;

    loop {
        if stop.requested() && stopping_since.is_none() {
            stopping_since = Some(Instant::now());
            // Closing a worker's stdin is its signal to checkpoint and stop.
            for a in slots.iter_mut().flatten() {
                a.stdin = None;
            }
        }
        if let Some(since) = stopping_since {
            let why = if stop.count() >= 2 {
                Some(KilledBy::SecondStop)
            } else if since.elapsed() >= control.grace {
                Some(KilledBy::Grace(control.grace))
            } else {
                None
            };
            if let Some(why) = why {
                for a in slots.iter_mut().flatten() {
                    a.kill(why);
                }
            }
        }
        if let Some(limit) = control.timeout {
            for a in slots.iter_mut().flatten() {
                if a.started.elapsed() >= limit {
                    a.kill(KilledBy::Timeout(limit));
                }
            }
        }
        if stopping_since.is_none() {
            for (slot, entry) in slots.iter_mut().enumerate() {
                while entry.is_none() {
                    let Some(mut trial) = queue.pop_front() else {
                        break;
                    };
                    if let Some(device) = placement.device(slot) {
                        trial.task.plan.config.device = device;
                    }
                    match store.claim_run(trial.run, pid, &host, control.retry_failed_before) {
                        Err(StoreError::AlreadyRunning { .. }) => {
                            report.busy_elsewhere += 1;
                            continue;
                        }
                        Err(StoreError::RunEnded { .. }) => {
                            report.done_elsewhere += 1;
                            continue;
                        }
                        other => other?,
                    }
                    *entry = Some(start(store, trial, slot, spawn, tx.clone(), observer)?);
                }
            }
        }
        if slots.iter().all(Option::is_none) {
            break;
        }
        let (slot, message) = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(m) => m,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("the loop holds a sender"),
        };
        let active = slots[slot]
            .as_mut()
            .expect("reports come from active slots");
        match message {
            Report::Line(msg) => handle(writer, active, slot, msg, observer)?,
            Report::Garbled(line) => {
                writer.event(active.trial.run, "worker-output", &line)?;
            }
            Report::Eof => {
                let mut active = slots[slot].take().expect("active");
                let exit = active.child.wait().map_err(SweepError::Spawn)?;
                let (status, step, error) = match active.end.take() {
                    Some(end) => end,
                    None => ended_without_outcome(store, writer, &mut active, exit)?,
                };
                writer.finish_run(active.trial.run, status, step, error.as_deref())?;
                writer.flush()?;
                if status == Status::Finished {
                    // A finished trial never resumes: its checkpoints are dead weight.
                    let _ = checkpoint::remove_all(&active.trial.task.checkpoints);
                }
                match status {
                    Status::Finished => report.finished += 1,
                    Status::Diverged => report.diverged += 1,
                    Status::Interrupted => report.interrupted += 1,
                    _ => report.failed += 1,
                }
                observer.trial_ended(slot, &active.trial, status, error.as_deref().unwrap_or(""));
            }
        }
    }
    report.not_started = queue.len();
    writer.flush()?;
    Ok(report)
}

/// The status of a trial whose worker exited without reporting an outcome (see [`execute`]).
fn ended_without_outcome(
    store: &Store,
    writer: &Writer,
    active: &mut Active,
    exit: ExitStatus,
) -> Result<(Status, u64, Option<String>), SweepError> {
    let step = active.last_step;
    let (status, message) = match active.killed_by {
        Some(KilledBy::Timeout(limit)) => (
            Status::Failed,
            format!(
                "timed out after {} (the sweep's `timeout`); its worker was killed at step {step}",
                seconds(limit)
            ),
        ),
        Some(KilledBy::Grace(grace)) => (
            Status::Interrupted,
            format!(
                "did not stop within the {} grace period after the stop request; its worker was \
                 killed, and the run resumes from its last checkpoint",
                seconds(grace)
            ),
        ),
        Some(KilledBy::SecondStop) => (
            Status::Interrupted,
            "stopped at once by a second Ctrl-C; its worker was killed, and the run resumes from \
             its last checkpoint"
                .to_string(),
        ),
        None => match exit.signal().filter(|s| killed_from_outside(*s)) {
            Some(signal) => {
                let run = active.trial.run;
                writer.event(
                    run,
                    KILLED_EVENT,
                    &format!("worker killed by {} at step {step}", signal_name(signal)),
                )?;
                writer.flush()?;
                let kills = store.kills_since_failure(run)?;
                if kills >= MAX_KILLS {
                    (
                        Status::Failed,
                        format!(
                            "its worker was killed from outside {kills} times (the last by {}); \
                             if that is the out-of-memory killer, use a smaller batch or model or \
                             fewer --jobs, then train it again with `ganbench run --retry-failed`",
                            signal_name(signal)
                        ),
                    )
                } else {
                    (
                        Status::Interrupted,
                        format!(
                            "its worker was killed by {} (the out-of-memory killer, or another \
                             process); running the sweep again resumes it from its last \
                             checkpoint (kill {kills} of at most {MAX_KILLS})",
                            signal_name(signal)
                        ),
                    )
                }
            }
            None => {
                // The stderr reader finishes once the dead worker's pipe closes.
                let tail = active
                    .stderr
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default();
                (
                    Status::Failed,
                    format!(
                        "worker process {} without reporting an outcome; last output:\n{}",
                        describe_exit(exit),
                        tail.join("\n")
                    ),
                )
            }
        },
    };
    Ok((status, step, Some(message)))
}

/// Signals that another process or the kernel sends (the out-of-memory killer's SIGKILL, a
/// scheduler's SIGTERM or SIGXCPU, a closed terminal's SIGHUP, the keyboard's SIGINT and SIGQUIT),
/// as opposed to those a crashing plugin raises itself (SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE…).
fn killed_from_outside(signal: i32) -> bool {
    [
        libc::SIGKILL,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGXCPU,
    ]
    .contains(&signal)
}

/// `90 s`, `2.5 s`: a duration as users wrote it, in seconds.
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

fn start(
    store: &Store,
    trial: PlannedTrial,
    slot: usize,
    spawn: SpawnWorker<'_>,
    tx: mpsc::Sender<(usize, Report)>,
    observer: &mut dyn SweepObserver,
) -> Result<Active, SweepError> {
    let committed = checkpoint::latest(&trial.task.checkpoints)
        .map_err(|message| SweepError::Checkpoint {
            trial: trial.trial_key.clone(),
            message,
        })?
        .map_or(0, |(step, _)| step);
    // Whatever was logged after the checkpoint we resume from will be logged again.
    let dropped = store.truncate_after(trial.run, committed)?;
    for artifact in &dropped.artifacts {
        let _ = std::fs::remove_file(&artifact.path);
    }

    let mut child = spawn()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(SweepError::Spawn)?;
    let mut stdin = child.stdin.take().expect("piped");
    let task = serde_json::to_string(&trial.task).expect("a task serializes");
    // A worker that dies before reading its task shows up as EOF below; ignore the write error.
    let _ = writeln!(stdin, "{task}").and_then(|_| stdin.flush());

    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let report = match serde_json::from_str::<WorkerMessage>(&line) {
                Ok(msg) => Report::Line(msg),
                Err(_) => Report::Garbled(line),
            };
            if tx.send((slot, report)).is_err() {
                return;
            }
        }
        let _ = tx.send((slot, Report::Eof));
    });
    let stderr = child.stderr.take().expect("piped");
    let (err_tx, err_rx) = mpsc::channel();
    std::thread::spawn(move || keep_tail(stderr, err_tx));

    observer.trial_started(slot, &trial, committed);
    Ok(Active {
        trial,
        child,
        stdin: Some(stdin),
        stderr: err_rx,
        last_step: committed,
        end: None,
        started: Instant::now(),
        killed_by: None,
    })
}

/// Forwards the last lines of a worker's stderr (a panic message, an abort) for failure reports.
fn keep_tail(stderr: impl Read, tx: mpsc::Sender<Vec<String>>) {
    const KEEP: usize = 20;
    let mut tail: VecDeque<String> = VecDeque::new();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if tail.len() == KEEP {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let _ = tx.send(tail.into());
}

fn handle(
    writer: &Writer,
    active: &mut Active,
    slot: usize,
    msg: WorkerMessage,
    observer: &mut dyn SweepObserver,
) -> Result<(), SweepError> {
    let run = active.trial.run;
    match msg {
        WorkerMessage::Started {
            parameters,
            architecture,
        } => {
            writer.event(
                run,
                "started",
                &format!(
                    "{parameters} parameters on {}: {architecture}",
                    active.trial.task.plan.config.device
                ),
            )?;
        }
        WorkerMessage::Resumed { step } => {
            writer.event(
                run,
                "resumed",
                &format!("resumed from the checkpoint of step {step}"),
            )?;
        }
        WorkerMessage::Step { step, metrics } => {
            let metrics = from_wire(&metrics);
            writer.log(run, step, &metrics)?;
            active.last_step = step;
            observer.step(slot, &active.trial, step, &metrics);
        }
        WorkerMessage::Eval {
            step,
            metrics,
            samples,
            reconstructions,
        } => {
            writer.log(run, step, &from_wire(&metrics))?;
            if let Some(path) = samples {
                writer.artifact(run, step, SAMPLES_ARTIFACT, &path.to_string_lossy())?;
            }
            if let Some(path) = reconstructions {
                writer.artifact(run, step, RECONSTRUCTIONS_ARTIFACT, &path.to_string_lossy())?;
            }
        }
        WorkerMessage::Checkpoint { step, pending } => {
            writer.flush()?;
            checkpoint::commit(&active.trial.task.checkpoints, step, &pending).map_err(
                |message| SweepError::Checkpoint {
                    trial: active.trial.trial_key.clone(),
                    message,
                },
            )?;
        }
        WorkerMessage::Finished { step, ms_per_step } => {
            writer.log(run, step, &[("ms_per_step", ms_per_step)])?;
            active.end = Some((Status::Finished, step, None));
        }
        WorkerMessage::Diverged {
            step,
            metric,
            value,
        } => {
            let message = format!("{metric} became {} at step {step}", value.0);
            active.end = Some((Status::Diverged, step, Some(message)));
        }
        WorkerMessage::Stopped { step } => {
            active.end = Some((
                Status::Interrupted,
                step,
                Some("stopped by the user (Ctrl-C)".into()),
            ));
        }
        WorkerMessage::Failed { message } => {
            let message = explain_failure(message, active.trial.task.plan.config.device);
            active.end = Some((Status::Failed, active.last_step, Some(message)));
        }
    }
    Ok(())
}

/// A trial's error message, with what to do about it when the cause is a known one.
fn explain_failure(message: String, device: Device) -> String {
    // candle passes the driver's error through: `DriverError(CUDA_ERROR_OUT_OF_MEMORY, ...)`.
    if message.contains("CUDA_ERROR_OUT_OF_MEMORY") {
        format!(
            "{message}\n{device} ran out of memory: train fewer trials per GPU (`--jobs-per-gpu`), \
             or use a smaller batch or model"
        )
    } else {
        message
    }
}

pub use ganbench_store::layout::{sweep_dir, trial_dir};

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::TrialPlan;
    use ganbench_plugin_api::TrialConfig;
    use ganbench_store::NewRun;

    use super::*;

    #[test]
    fn gpu_slots_deal_devices_round_robin() {
        let slots = Slots::gpus(&[0, 1], 2);
        let devices: Vec<_> = (0..slots.len()).map(|s| slots.device(s)).collect();
        assert_eq!(devices, [0, 1, 0, 1].map(|g| Some(Device::Cuda(g))));
        assert_eq!(Slots::gpus(&[3], 0).len(), 1);
        let plain = Slots::jobs(0);
        assert_eq!((plain.len(), plain.device(0)), (1, None));
    }

    /// A stand-in for `ganbench worker`: logs `start DEVICE` / `end DEVICE`, runs 0.2 s, and fails
    /// the seed-1 trial the way candle reports a CUDA out-of-memory error.
    const FAKE_WORKER: &str = r#"
read -r task
device=$(printf '%s' "$task" | sed -n 's/.*"device":"\([^"]*\)".*/\1/p')
echo "start $device" >> "$LOG"
echo '{"type":"started","parameters":1,"architecture":"fake"}'
sleep 0.2
echo "end $device" >> "$LOG"
case "$task" in
  *'"seed":1,'*) echo '{"type":"failed","message":"plugin error: DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")"}' ;;
  *) echo '{"type":"step","step":1,"metrics":[["loss",0.5]]}'
     echo '{"type":"finished","step":1,"ms_per_step":1.0}' ;;
esac
"#;

    struct Quiet;
    impl SweepObserver for Quiet {
        fn trial_started(&mut self, _: usize, _: &PlannedTrial, _: u64) {}
        fn step(&mut self, _: usize, _: &PlannedTrial, _: u64, _: &Metrics) {}
        fn trial_ended(&mut self, _: usize, _: &PlannedTrial, _: Status, _: &str) {}
    }

    #[test]
    fn trials_spread_over_gpus_and_an_out_of_memory_trial_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db.sqlite")).unwrap();
        let sweep = store.register_sweep("gpus", "text", "hash").unwrap().id();
        let trials: Vec<PlannedTrial> = (0..8u64)
            .map(|seed| {
                let key = format!("fake-s{seed}");
                let run = store
                    .ensure_run(
                        sweep,
                        &NewRun {
                            trial_key: &key,
                            label: "fake",
                            plugin: "fake",
                            params_json: "{}",
                            seed,
                            build_id: "test",
                            total_steps: Some(1),
                        },
                    )
                    .unwrap()
                    .id;
                PlannedTrial {
                    run,
                    label: "fake".into(),
                    trial_key: key.clone(),
                    task: WorkerTask {
                        plugin: "fake".into(),
                        data: "ring8".parse().unwrap(),
                        plan: TrialPlan {
                            config: TrialConfig {
                                params: Default::default(),
                                seed,
                                device: ganbench_plugin_api::Device::Cpu,
                                data_shape: vec![2],
                            },
                            steps: 1,
                            eval_every: 0,
                            eval_samples: 10,
                            checkpoint_every: 0,
                        },
                        checkpoints: dir.path().join(&key),
                        samples_dir: None,
                        extractor: None,
                    },
                }
            })
            .collect();
        let log = dir.path().join("log");
        let spawn = || {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(FAKE_WORKER).env("LOG", &log);
            cmd
        };
        let writer = store.writer().unwrap();
        let report = execute(
            &store,
            &writer,
            trials,
            &Slots::gpus(&[0, 1], 2),
            &spawn,
            &Control::default(),
            &mut Quiet,
        )
        .unwrap();
        assert_eq!((report.finished, report.failed), (7, 1), "{report:?}");

        // Replay the log: never more than 2 trials at once on one GPU, and both GPUs used.
        let mut running: BTreeMap<String, i32> = BTreeMap::new();
        let mut most: BTreeMap<String, i32> = BTreeMap::new();
        for line in std::fs::read_to_string(&log).unwrap().lines() {
            let (what, device) = line.split_once(' ').unwrap();
            let n = running.entry(device.into()).or_default();
            *n += if what == "start" { 1 } else { -1 };
            let m = most.entry(device.into()).or_default();
            *m = (*m).max(*n);
        }
        assert_eq!(most.keys().collect::<Vec<_>>(), ["cuda:0", "cuda:1"]);
        assert!(most.values().all(|&m| (1..=2).contains(&m)), "{most:?}");

        for run in store.runs(sweep).unwrap() {
            let details = store.run_details(run.id).unwrap();
            let started = &details
                .events
                .iter()
                .find(|e| e.kind == "started")
                .unwrap()
                .message;
            assert!(started.starts_with("1 parameters on cuda:"), "{started}");
            if run.seed == 1 {
                assert_eq!(run.status, Status::Failed);
                let error = run.error.unwrap();
                assert!(
                    error.contains("CUDA_ERROR_OUT_OF_MEMORY") && error.contains("--jobs-per-gpu"),
                    "{error}"
                );
            } else {
                assert_eq!(run.status, Status::Finished, "{:?}", run.error);
            }
        }
    }
}
