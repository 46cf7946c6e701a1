//! Slurm's own commands, run and read: `sbatch`, `squeue`, `scontrol`, `scancel`.

use std::path::Path;
use std::process::Command;

use crate::SlurmError;

fn run(program: &str, args: &[String]) -> Result<String, SlurmError> {
    let command = format!("{program} {}", args.join(" "));
    let out = Command::new(program).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SlurmError::NotInstalled {
                command: program.into(),
            }
        } else {
            SlurmError::Command {
                command: command.clone(),
                status: "not started".into(),
                stderr: e.to_string(),
            }
        }
    })?;
    if !out.status.success() {
        return Err(SlurmError::Command {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Submits `script` with `sbatch --parsable` and extra options (e.g. `--dependency=afterany:7`,
/// `--array=3,5`, which override the script's own); the job id.
pub fn submit(script: &Path, options: &[String]) -> Result<String, SlurmError> {
    let mut args = vec!["--parsable".to_string()];
    args.extend(options.iter().cloned());
    args.push(script.to_string_lossy().into_owned());
    let out = run("sbatch", &args)?;
    // `--parsable` prints `ID` or `ID;CLUSTER`.
    let id = out.trim().split(';').next().unwrap_or_default().to_string();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SlurmError::Command {
            command: format!("sbatch {}", args.join(" ")),
            status: "no job id".into(),
            stderr: out,
        });
    }
    Ok(id)
}

/// One array task as `squeue` sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TaskState {
    /// The array job's id.
    pub job: String,
    /// The task number, `None` for a plain job (the merge job).
    pub task: Option<usize>,
    /// PENDING, RUNNING, REQUEUED, COMPLETING, …
    pub state: String,
    /// Why it waits (`Dependency`, `BeginTime`, `Resources`), or `None`.
    pub reason: String,
}

/// `squeue`'s lines `JOBID|STATE|REASON`, one per array task (`-r`), for `jobs`; jobs that have
/// ended are not listed (this cluster may keep no accounting, so `sacct` cannot be relied on).
pub fn queue_states(jobs: &[String]) -> Result<Vec<TaskState>, SlurmError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let args = vec![
        "-h".into(),
        "-r".into(),
        "-j".into(),
        jobs.join(","),
        "-o".into(),
        "%i|%T|%r".into(),
    ];
    match run("squeue", &args) {
        Ok(out) => Ok(parse_squeue(&out)),
        // squeue refuses job ids it no longer knows: then none of them is queued.
        Err(SlurmError::Command { stderr, .. }) if stderr.contains("Invalid job id") => {
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

fn parse_squeue(out: &str) -> Vec<TaskState> {
    out.lines()
        .filter_map(|line| {
            let mut fields = line.trim().split('|');
            let id = fields.next()?.trim();
            let state = fields.next()?.trim().to_string();
            let reason = fields.next().unwrap_or("").trim().to_string();
            let (job, task) = match id.split_once('_') {
                Some((job, task)) => (job, task.parse().ok()),
                None => (id, None),
            };
            Some(TaskState {
                job: job.to_string(),
                task,
                state,
                reason,
            })
        })
        .collect()
}

/// `scontrol requeue JOB_TASK`: Slurm stops the task and queues it again.
pub fn requeue(job_task: &str) -> Result<(), SlurmError> {
    run("scontrol", &["requeue".into(), job_task.into()]).map(drop)
}

/// `scancel JOB`.
pub fn cancel(job: &str) -> Result<(), SlurmError> {
    run("scancel", &[job.into()]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_squeue_lines_of_array_tasks_and_plain_jobs() {
        let out = "12_3|RUNNING|None\n12_[4-5]|PENDING|Resources\n13|PENDING|Dependency\n\n";
        let states = parse_squeue(out);
        assert_eq!(states.len(), 3);
        assert_eq!(
            states[0],
            TaskState {
                job: "12".into(),
                task: Some(3),
                state: "RUNNING".into(),
                reason: "None".into()
            }
        );
        // `-r` lists tasks one by one; a range that slips through has no single task number.
        assert_eq!(
            (states[1].task, states[1].state.as_str()),
            (None, "PENDING")
        );
        assert_eq!((states[2].job.as_str(), states[2].task), ("13", None));
    }
}
