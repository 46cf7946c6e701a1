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
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use ganbench_plugin_api::Metrics;
use ganbench_store::{RunId, Status, Store, StoreError, Writer};
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

/// Progress callbacks, for bars and logs. `slot` is the worker's index in `0..jobs`.
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

enum Report {
    Line(WorkerMessage),
    Garbled(String),
    Eof,
}

struct Active {
    trial: PlannedTrial,
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: mpsc::Receiver<Vec<String>>,
    last_step: u64,
    end: Option<(Status, u64, Option<String>)>,
}

/// Runs `trials` with up to `jobs` workers. Returns when all are done, or — once `stop` is set —
/// when the running ones have checkpointed and stopped.
pub fn execute(
    store: &Store,
    writer: &Writer,
    trials: Vec<PlannedTrial>,
    jobs: usize,
    spawn: SpawnWorker<'_>,
    stop: &AtomicBool,
    observer: &mut dyn SweepObserver,
) -> Result<SweepReport, SweepError> {
    let jobs = jobs.max(1);
    let mut queue: VecDeque<PlannedTrial> = trials.into();
    let mut slots: Vec<Option<Active>> = (0..jobs).map(|_| None).collect();
    let (tx, rx) = mpsc::channel::<(usize, Report)>();
    let mut report = SweepReport::default();
    let pid = std::process::id();
    let host = ganbench_store::host_name();
    let mut stopping = false;

    loop {
        if stop.load(Ordering::Relaxed) && !stopping {
            stopping = true;
            // Closing a worker's stdin is its signal to checkpoint and stop.
            for a in slots.iter_mut().flatten() {
                a.stdin = None;
            }
        }
        if !stopping {
            for (slot, entry) in slots.iter_mut().enumerate() {
                while entry.is_none() {
                    let Some(trial) = queue.pop_front() else {
                        break;
                    };
                    match store.claim_run(trial.run, pid, &host) {
                        Err(StoreError::AlreadyRunning { .. }) => {
                            report.busy_elsewhere += 1;
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
                let status = active.child.wait().map_err(SweepError::Spawn)?;
                let (status, step, error) = active.end.take().unwrap_or_else(|| {
                    // The stderr reader finishes once the dead worker's pipe closes.
                    let tail = active.stderr.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
                    let message = format!(
                        "worker process ended ({status}) without reporting an outcome; last output:\n{}",
                        tail.join("\n")
                    );
                    (Status::Failed, active.last_step, Some(message))
                });
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
                &format!("{parameters} parameters: {architecture}"),
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
        } => {
            writer.log(run, step, &from_wire(&metrics))?;
            if let Some(path) = samples {
                writer.artifact(run, step, "samples", &path.to_string_lossy())?;
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
            active.end = Some((Status::Failed, active.last_step, Some(message)));
        }
    }
    Ok(())
}

/// Where a trial keeps its checkpoints and samples, under the sweep's run directory.
pub fn trial_dir(
    runs_dir: &Path,
    sweep: &str,
    version: u32,
    trial_key: &str,
) -> std::path::PathBuf {
    runs_dir
        .join(format!("{}-v{version}", sanitize(sweep)))
        .join(trial_key)
}

/// A file-name-safe form of a user-given name.
pub fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}
