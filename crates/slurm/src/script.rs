//! The sbatch scripts: the array that trains the shares, and the job that merges them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::RunFolder;

/// What each array task asks Slurm for (`ganbench slurm submit`'s options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub partition: Option<String>,
    /// Wall-time limit per task, in Slurm's form (`4:00:00`, `1-00:00:00`).
    pub time: Option<String>,
    /// CPUs per task; the task trains this many trials at once (`--jobs`).
    pub cpus_per_task: usize,
    pub mem: Option<String>,
    /// Generic resources, e.g. `gpu:1`; the task then trains on the GPUs Slurm gives it.
    pub gres: Option<String>,
    /// At most this many tasks at once (`--array=…%K`).
    pub array_parallelism: Option<usize>,
    /// Seconds before the time limit at which Slurm sends USR1: the task checkpoints its
    /// trials, stops and requeues itself.
    pub signal_lead_s: u64,
    /// Passed to sbatch as they are, e.g. `--account=lab`, `--qos=long`.
    pub sbatch_args: Vec<String>,
}

/// Which tasks an array runs: `0-11`, or a list `3,7` (a resubmission).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskList(pub Vec<usize>);

impl TaskList {
    /// Slurm's `--array` form: ranges where the numbers are consecutive (`0-3,7,9-10`).
    pub fn to_array_spec(&self) -> String {
        let mut out = String::new();
        let mut tasks = self.0.clone();
        tasks.sort_unstable();
        tasks.dedup();
        let mut i = 0;
        while i < tasks.len() {
            let mut j = i;
            while j + 1 < tasks.len() && tasks[j + 1] == tasks[j] + 1 {
                j += 1;
            }
            if !out.is_empty() {
                out.push(',');
            }
            if j > i {
                let _ = write!(out, "{}-{}", tasks[i], tasks[j]);
            } else {
                let _ = write!(out, "{}", tasks[i]);
            }
            i = j + 1;
        }
        out
    }
}

/// Everything the array's script names.
#[derive(Debug, Clone)]
pub struct ArrayJob<'a> {
    pub folder: &'a RunFolder,
    pub sweep: &'a str,
    /// The ganbench binary, absolute: the same file on every node.
    pub exe: &'a Path,
    pub plugin_dirs: &'a [PathBuf],
    pub sweep_file: &'a Path,
    /// Tasks the trials are shared among (`--task I/N`'s N).
    pub tasks: usize,
    pub resources: &'a Resources,
}

/// A word for a POSIX shell: single-quoted unless it is plainly safe.
pub fn quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn path(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

impl ArrayJob<'_> {
    /// The ganbench binary with its `--plugin-dir`s, quoted: how both scripts call it.
    fn ganbench(&self) -> Vec<String> {
        let mut words = vec![path(self.exe)];
        for dir in self.plugin_dirs {
            words.push("--plugin-dir".into());
            words.push(path(dir));
        }
        words
    }
}

/// The array's sbatch script for `tasks`.
///
/// Each task runs its share with `exec`-free supervision: the script waits on ganbench so that
/// it can catch Slurm's USR1 (sent `signal_lead_s` before the time limit, to the batch shell
/// only), pass it on as SIGTERM (ganbench's graceful stop: every worker checkpoints), and then
/// requeue its own task, which resumes from those checkpoints. A task killed outright (node
/// failure, `scontrol requeue`) resumes from its last periodic checkpoint when it runs again.
pub fn array_script(job: &ArrayJob<'_>, tasks: &TaskList) -> String {
    let r = job.resources;
    let mut s = String::from("#!/bin/bash\n");
    let mut directive = |line: String| {
        s.push_str("#SBATCH ");
        s.push_str(&line);
        s.push('\n');
    };
    directive(format!(
        "--job-name={}",
        quote(&format!("ganbench-{}", job.sweep))
    ));
    let parallel = r
        .array_parallelism
        .map(|k| format!("%{k}"))
        .unwrap_or_default();
    directive(format!("--array={}{parallel}", tasks.to_array_spec()));
    directive(format!(
        "--output={}",
        path(&job.folder.logs_dir().join("task-%a.out"))
    ));
    directive("--open-mode=append".into());
    directive("--requeue".into());
    directive(format!("--signal=B:USR1@{}", r.signal_lead_s));
    directive(format!("--cpus-per-task={}", r.cpus_per_task.max(1)));
    if let Some(p) = &r.partition {
        directive(format!("--partition={}", quote(p)));
    }
    if let Some(t) = &r.time {
        directive(format!("--time={}", quote(t)));
    }
    if let Some(m) = &r.mem {
        directive(format!("--mem={}", quote(m)));
    }
    if let Some(g) = &r.gres {
        directive(format!("--gres={}", quote(g)));
    }
    for arg in &r.sbatch_args {
        directive(quote(arg));
    }
    let mut command = job.ganbench();
    command.extend([
        "run".into(),
        path(job.sweep_file),
        "--task".into(),
        format!("\"$task/{}\"", job.tasks),
        "--db".into(),
        format!("{}/task-\"$task\".sqlite", path(&job.folder.shards_dir())),
        "--grace-period".into(),
        (r.signal_lead_s / 2).to_string(),
        "--json".into(),
        "\"${workers[@]}\"".into(),
    ]);
    let jobs = r.cpus_per_task.max(1);
    // The GPUs Slurm gives a task are renumbered from 0 inside it (CUDA_VISIBLE_DEVICES).
    let gpus = if r.gres.as_deref().is_some_and(|g| g.contains("gpu")) {
        r#"if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
    n=$(echo "$CUDA_VISIBLE_DEVICES" | tr ',' '\n' | grep -c .)
    workers=(--gpus "$(seq -s, 0 $((n - 1)))")
fi
"#
    } else {
        ""
    };
    let _ = write!(
        s,
        r#"
# Written by `ganbench slurm submit`; see docs/cluster.md.
set -u
task=$SLURM_ARRAY_TASK_ID
echo "ganbench task $task/{tasks} of job ${{SLURM_ARRAY_JOB_ID}}_$task on $(hostname), run ${{SLURM_RESTART_COUNT:-0}}, $(date -u +%FT%TZ)"
workers=(--jobs {jobs})
{gpus}requeue=0
# USR1 comes before the time limit: checkpoint (SIGTERM is ganbench's graceful stop), requeue.
trap 'echo "ganbench: USR1, the time limit is near: checkpointing, then requeueing"; requeue=1; kill -TERM "$pid" 2>/dev/null' USR1
{command} &
pid=$!
while :; do
    wait "$pid"
    rc=$?
    kill -0 "$pid" 2>/dev/null || break
done
if [ "$requeue" = 1 ]; then
    scontrol requeue "${{SLURM_ARRAY_JOB_ID}}_$task"
fi
exit "$rc"
"#,
        tasks = job.tasks,
        command = command.join(" "),
    );
    s
}

/// The merge job's script: after the array (`--dependency=afterany:ARRAY`), every shard into the
/// main database, then the report. `ganbench merge` is idempotent, so a resubmission's merge job
/// merges everything again without harm.
pub fn merge_script(job: &ArrayJob<'_>, db: &Path) -> String {
    let exe = job.ganbench().join(" ");
    let sweep = quote(job.sweep);
    format!(
        r#"#!/bin/bash
#SBATCH --job-name={name}
#SBATCH --output={log}
#SBATCH --cpus-per-task=1
{partition}
# Written by `ganbench slurm submit`; see docs/cluster.md.
set -eu
{exe} merge {sweep} --db {db}
{exe} report {sweep} --db {db}
"#,
        name = quote(&format!("ganbench-merge-{}", job.sweep)),
        log = path(&job.folder.logs_dir().join("merge-%j.out")),
        partition = job
            .resources
            .partition
            .as_ref()
            .map(|p| format!("#SBATCH --partition={}", quote(p)))
            .unwrap_or_default(),
        db = path(db),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_what_a_shell_would_split_or_expand() {
        assert_eq!(quote("/a/b-c_d.ron"), "/a/b-c_d.ron");
        assert_eq!(quote("my sweep"), "'my sweep'");
        assert_eq!(quote("it's $HOME"), r"'it'\''s $HOME'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn task_lists_become_slurm_ranges() {
        assert_eq!(TaskList((0..12).collect()).to_array_spec(), "0-11");
        assert_eq!(
            TaskList(vec![9, 0, 1, 2, 3, 7, 10]).to_array_spec(),
            "0-3,7,9-10"
        );
        assert_eq!(TaskList(vec![5]).to_array_spec(), "5");
    }

    #[test]
    fn the_array_script_runs_each_share_into_its_shard_and_requeues_on_usr1() {
        let folder = RunFolder::new(Path::new("/shared/lab.sqlite"), "quick start", 2);
        let resources = Resources {
            partition: Some("gpu".into()),
            time: Some("4:00:00".into()),
            cpus_per_task: 4,
            mem: Some("16G".into()),
            gres: Some("gpu:1".into()),
            array_parallelism: Some(8),
            signal_lead_s: 120,
            sbatch_args: vec!["--account=my lab".into()],
        };
        let job = ArrayJob {
            folder: &folder,
            sweep: "quick start",
            exe: Path::new("/opt/ganbench"),
            plugin_dirs: &[PathBuf::from("/shared/plugins")],
            sweep_file: Path::new("/shared/quick start.ron"),
            tasks: 12,
            resources: &resources,
        };
        let script = array_script(&job, &TaskList((0..12).collect()));
        for line in [
            "#SBATCH --job-name='ganbench-quick start'",
            "#SBATCH --array=0-11%8",
            "#SBATCH --output=/shared/lab.slurm/quick_start-v2/logs/task-%a.out",
            "#SBATCH --requeue",
            "#SBATCH --signal=B:USR1@120",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --partition=gpu",
            "#SBATCH --time=4:00:00",
            "#SBATCH --mem=16G",
            "#SBATCH --gres=gpu:1",
            "#SBATCH '--account=my lab'",
        ] {
            assert!(
                script.lines().any(|l| l == line),
                "{line} missing:\n{script}"
            );
        }
        let run = "/opt/ganbench --plugin-dir /shared/plugins run '/shared/quick start.ron' \
                   --task \"$task/12\" --db /shared/lab.slurm/quick_start-v2/shards/task-\"$task\".sqlite \
                   --grace-period 60 --json \"${workers[@]}\" &";
        assert!(script.contains(run), "{script}");
        assert!(script.contains("workers=(--jobs 4)\nif [ -n \"${CUDA_VISIBLE_DEVICES:-}\" ]"));
        assert!(script.contains("scontrol requeue \"${SLURM_ARRAY_JOB_ID}_$task\""));
        // Every #SBATCH line comes before the first command (sbatch stops reading them there).
        let first_command = script.lines().position(|l| l.starts_with("set ")).unwrap();
        assert!(script
            .lines()
            .skip(first_command)
            .all(|l| !l.starts_with("#SBATCH")));

        let merge = merge_script(&job, Path::new("/shared/lab.sqlite"));
        assert!(merge.contains("/opt/ganbench --plugin-dir /shared/plugins merge 'quick start' --db /shared/lab.sqlite\n"));
        assert!(merge.contains("report 'quick start' --db /shared/lab.sqlite\n"));
    }
}
