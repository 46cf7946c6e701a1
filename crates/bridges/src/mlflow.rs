//! MLflow tracking folders: the layout of MLflow's `FileStore` (`mlflow ui --backend-store-uri
//! DIR`, `MlflowClient(tracking_uri="file:DIR")`). One experiment per sweep version
//! (`NAME@VERSION`), one MLflow run per ganbench run with its parameters, every metric point,
//! and tags for the configuration, status, error, tags and notes.
//!
//! ```text
//! DIR/0/meta.yaml                         the Default experiment MLflow expects
//! DIR/EXPERIMENT/meta.yaml                name, artifact location, times
//! DIR/EXPERIMENT/RUN/meta.yaml            run name, status, start and end time
//! DIR/EXPERIMENT/RUN/params/NAME          the value as text
//! DIR/EXPERIMENT/RUN/metrics/NAME         one "unix-ms value step" line per point
//! DIR/EXPERIMENT/RUN/tags/NAME            the value as text
//! ```
//!
//! Ids are derived from the sweep (name, version, spec hash) and the trial key, so exporting
//! again replaces the same folders. MLflow 3 keeps this backend in maintenance mode: it reads
//! the folder with `MLFLOW_ALLOW_FILE_STORE=true`, and `mlflow migrate-filestore` turns it into
//! a database without loss (docs/viewers.md).

use std::fs;
use std::path::Path;

use ganbench_store::{Status, Store, SweepRecord};

use crate::{for_each_run, AtPath, BridgeError, ExportRun, Exported};

/// `mlflow.entities.RunStatus`.
fn run_status(status: Status) -> u8 {
    match status {
        Status::Running => 1,                   // RUNNING
        Status::Queued => 2,                    // SCHEDULED
        Status::Finished => 3,                  // FINISHED
        Status::Failed | Status::Diverged => 4, // FAILED
        Status::Interrupted => 5,               // KILLED
    }
}

/// FNV-1a, 64 bits: a stable id from text (not for security).
fn fnv1a(seed: u64, text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325 ^ seed, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A YAML scalar for `text`: JSON's double-quoted strings are YAML's too.
fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn write_file(path: &Path, text: &str) -> Result<(), BridgeError> {
    fs::write(path, text).at(path)
}

/// `file://` URI of a folder.
fn file_uri(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("file://{}", absolute.display())
}

fn experiment_meta(dir: &Path, id: &str, name: &str, created_ms: i64) -> String {
    format!(
        "artifact_location: {}\ncreation_time: {created_ms}\nexperiment_id: {}\n\
         last_update_time: {created_ms}\nlifecycle_stage: active\nname: {}\n",
        quoted(&file_uri(dir)),
        quoted(id),
        quoted(name)
    )
}

/// A param or tag value as MLflow shows it: strings bare, the rest as JSON.
fn text_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Writes the runs of `sweep` as one MLflow experiment under `out` (created if needed), with
/// MLflow's Default experiment beside it when the folder is new.
pub fn write(
    store: &Store,
    sweep: &SweepRecord,
    runs: &[ExportRun],
    out: &Path,
) -> Result<Exported, BridgeError> {
    let default = out.join("0");
    if !default.join("meta.yaml").exists() {
        fs::create_dir_all(&default).at(&default)?;
        write_file(
            &default.join("meta.yaml"),
            &experiment_meta(&default, "0", "Default", sweep.created_at_ms),
        )?;
    }
    fs::create_dir_all(out.join(".trash")).at(out)?;

    let identity = format!("{}@{} {}", sweep.name, sweep.version, sweep.spec_hash);
    // Positive and below 2^63, like the ids MLflow makes.
    let experiment_id = (fnv1a(0, &identity) >> 1).to_string();
    let experiment = out.join(&experiment_id);
    if experiment.exists() {
        fs::remove_dir_all(&experiment).at(&experiment)?;
    }
    fs::create_dir_all(&experiment).at(&experiment)?;
    write_file(
        &experiment.join("meta.yaml"),
        &experiment_meta(
            &experiment,
            &experiment_id,
            &format!("{}@{}", sweep.name, sweep.version),
            sweep.created_at_ms,
        ),
    )?;

    for_each_run(store, sweep, runs, |run, points| {
        let r = &run.run;
        let key = format!("{identity} {}", r.trial_key);
        let run_id = format!("{:016x}{:016x}", fnv1a(1, &key), fnv1a(2, &key));
        let dir = experiment.join(&run_id);
        for sub in ["params", "metrics", "tags", "artifacts"] {
            fs::create_dir_all(dir.join(sub)).at(&dir)?;
        }
        let start = r
            .started_at_ms
            .or_else(|| points.iter().map(|p| p.wall_ms).min())
            .unwrap_or(sweep.created_at_ms);
        let end = r
            .ended_at_ms
            .map_or_else(|| "null".to_string(), |t| t.to_string());
        write_file(
            &dir.join("meta.yaml"),
            &format!(
                "artifact_uri: {}\nend_time: {end}\nentry_point_name: ''\nexperiment_id: {}\n\
                 lifecycle_stage: active\nrun_id: {run_id}\nrun_name: {}\nrun_uuid: {run_id}\n\
                 source_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: {start}\n\
                 status: {}\ntags: []\nuser_id: ganbench\n",
                quoted(&file_uri(&dir.join("artifacts"))),
                quoted(&experiment_id),
                quoted(&run.display_name()),
                run_status(r.status)
            ),
        )?;
        for (name, value) in run.params() {
            write_file(&dir.join("params").join(&name), &text_value(&value))?;
        }
        let mut tags = vec![
            ("mlflow.runName", run.display_name()),
            ("mlflow.user", "ganbench".to_string()),
            ("mlflow.source.name", "ganbench".to_string()),
            ("ganbench.configuration", run.configuration.clone()),
            ("ganbench.status", r.status.as_str().to_string()),
            ("ganbench.trial_key", r.trial_key.clone()),
            ("ganbench.run_id", r.id.0.to_string()),
        ];
        if let Some(error) = &r.error {
            tags.push(("ganbench.error", error.clone()));
        }
        if !run.tags.is_empty() {
            tags.push(("ganbench.tags", run.tags.join(" ")));
        }
        if !run.notes.is_empty() {
            // MLflow shows this tag as the run's description.
            tags.push(("mlflow.note.content", run.notes.join("\n\n")));
        }
        for (name, value) in tags {
            write_file(&dir.join("tags").join(name), &value)?;
        }
        let mut metric: Option<&str> = None;
        let mut lines = String::new();
        for p in points {
            if metric.is_some_and(|m| m != p.metric) {
                write_file(
                    &dir.join("metrics").join(metric.unwrap_or_default()),
                    &lines,
                )?;
                lines.clear();
            }
            metric = Some(&p.metric);
            let value = python_float(p.value);
            lines.push_str(&format!("{} {value} {}\n", p.wall_ms, p.step));
        }
        if let Some(name) = metric {
            write_file(&dir.join("metrics").join(name), &lines)?;
        }
        Ok(())
    })
}

/// A float as Python's `float()` reads it back exactly (Rust's shortest round-trip digits;
/// `nan`, `inf`, `-inf` for the rest).
fn python_float(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{x:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_and_yaml_strings_read_back_as_written() {
        assert_eq!(python_float(0.1), "0.1");
        assert_eq!(python_float(1e-300), "1e-300");
        assert_eq!(python_float(8.0), "8.0");
        assert_eq!(python_float(f64::NEG_INFINITY), "-inf");
        assert_eq!(quoted("GAN lr_d=1e-4: \"x\""), r#""GAN lr_d=1e-4: \"x\"""#);
        assert_ne!(fnv1a(1, "a"), fnv1a(2, "a"));
    }
}
