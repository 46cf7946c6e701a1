//! `ganbench worker` (hidden): trains one trial for a parent `ganbench run`.
//!
//! Reads a JSON task line on stdin, answers with JSON lines on stdout, and stops gracefully
//! (checkpoint, then exit) when stdin closes — which is how the parent asks it to stop, and what
//! happens when the parent dies.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use ganbench_runner::protocol::{WorkerMessage, WorkerTask};

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(plugin_dirs: &[PathBuf], _args: Args) -> Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    // Ctrl-C in a terminal reaches the whole process group: the parent coordinates the stop, so
    // the worker only notes it instead of dying mid-step.
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));

    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    stdin
        .read_line(&mut line)
        .context("reading the task from stdin")?;
    let task: WorkerTask = serde_json::from_str(&line).context("parsing the task")?;
    let flag = stop.clone();
    drop(stdin);
    std::thread::spawn(move || {
        // Anything more on stdin is ignored; its end means "stop".
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        flag.store(true, Ordering::Relaxed);
    });

    let mut out = std::io::stdout().lock();
    // The plugin and the prepared extractor (see `crate::extractor`; loading it is quick). A
    // failure is the trial's, reported to the parent as such.
    let prepared = crate::registry::load(plugin_dirs)
        .and_then(|mut r| Ok(r.get(&task.plugin)?))
        .and_then(|plugin| {
            let features = match &task.extractor {
                Some(path) => Some(crate::extractor::load(
                    path,
                    &task.data,
                    &task.plan.config.data_shape,
                )?),
                None => None,
            };
            Ok((plugin, features))
        });
    let (plugin, features) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            let message = format!("{e:#}");
            writeln!(out, "{}", WorkerMessage::Failed { message })?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    ganbench_runner::worker::serve(&plugin, &task, features.as_deref(), &mut out, &stop);
    Ok(ExitCode::SUCCESS)
}
