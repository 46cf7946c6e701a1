//! TensorBoard event files: one folder per run (TensorBoard lists folders as runs), scalars per
//! step under the metric's name, and the run's parameters for the HParams dashboard (one
//! `session_start_info` whose group is the configuration, so that seeds of one configuration
//! are shown together, and one `session_end_info` with the run's outcome).
//!
//! An event file is a sequence of TFRecords — `u64` length, masked CRC-32C of the length,
//! the serialized `tensorboard.Event`, masked CRC-32C of it — starting with a `file_version`
//! event. Field numbers are those of tensorboard/compat/proto/{event,summary}.proto and
//! tensorboard/plugins/hparams/plugin_data.proto.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use ganbench_store::{Status, Store, SweepRecord};

use crate::protobuf::Message;
use crate::{for_each_run, AtPath, BridgeError, ExportRun, Exported, Point};

/// `Event` fields.
const EVENT_WALL_TIME: u32 = 1;
const EVENT_STEP: u32 = 2;
const EVENT_FILE_VERSION: u32 = 3;
const EVENT_SUMMARY: u32 = 5;
/// `Summary.value`, and `Summary.Value` fields.
const SUMMARY_VALUE: u32 = 1;
const VALUE_TAG: u32 = 1;
const VALUE_SIMPLE_VALUE: u32 = 2;
const VALUE_TENSOR: u32 = 8;
const VALUE_METADATA: u32 = 9;
/// `SummaryMetadata.plugin_data`, and `PluginData` fields.
const METADATA_PLUGIN_DATA: u32 = 1;
const PLUGIN_NAME: u32 = 1;
const PLUGIN_CONTENT: u32 = 2;
/// `HParamsPluginData` (version 0: the field is left out), `SessionStartInfo`, `SessionEndInfo`.
const HPARAMS_SESSION_START: u32 = 3;
const HPARAMS_SESSION_END: u32 = 4;
const START_HPARAMS: u32 = 1;
const START_GROUP_NAME: u32 = 4;
const START_TIME_SECS: u32 = 5;
const END_STATUS: u32 = 1;
const END_TIME_SECS: u32 = 2;
/// `google.protobuf.Value` fields (the map's values), and the map entry's.
const PB_NUMBER: u32 = 2;
const PB_STRING: u32 = 3;
const PB_BOOL: u32 = 4;
const ENTRY_KEY: u32 = 1;
const ENTRY_VALUE: u32 = 2;

/// A zero-length float tensor: the payload of an HParams summary, which carries only metadata
/// (tensorboard.plugins.hparams.metadata.NULL_TENSOR, serialized).
const NULL_TENSOR: [u8; 6] = [0x08, 0x01, 0x12, 0x02, 0x12, 0x00];

/// `tensorboard.hparams.Status`.
fn session_status(status: Status) -> u64 {
    match status {
        Status::Finished => 1,                     // STATUS_SUCCESS
        Status::Failed | Status::Diverged => 2,    // STATUS_FAILURE
        Status::Running => 3,                      // STATUS_RUNNING
        Status::Queued | Status::Interrupted => 0, // STATUS_UNKNOWN
    }
}

/// TFRecord's masked CRC: the CRC of data that holds CRCs is itself masked.
fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn record(out: &mut Vec<u8>, event: Message) {
    let data = event.into_bytes();
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(&data);
    out.extend_from_slice(&masked_crc(&data).to_le_bytes());
}

fn event(wall_time: f64, step: u64) -> Message {
    Message::new()
        .double(EVENT_WALL_TIME, wall_time)
        .uint(EVENT_STEP, step)
}

/// An HParams summary (`tag`, plugin content) as an event at step 0.
fn hparams_event(wall_time: f64, tag: &str, content: &Message) -> Message {
    let plugin = Message::new()
        .string(PLUGIN_NAME, "hparams")
        .message(PLUGIN_CONTENT, content);
    let value = Message::new()
        .string(VALUE_TAG, tag)
        .message(
            VALUE_METADATA,
            &Message::new().message(METADATA_PLUGIN_DATA, &plugin),
        )
        .bytes(VALUE_TENSOR, &NULL_TENSOR);
    event(wall_time, 0).message(
        EVENT_SUMMARY,
        &Message::new().message(SUMMARY_VALUE, &value),
    )
}

fn pb_value(value: &serde_json::Value) -> Message {
    match value {
        serde_json::Value::Number(n) => {
            Message::new().double(PB_NUMBER, n.as_f64().unwrap_or(f64::NAN))
        }
        serde_json::Value::Bool(b) => Message::new().uint(PB_BOOL, u64::from(*b)),
        serde_json::Value::String(s) => Message::new().string(PB_STRING, s),
        other => Message::new().string(PB_STRING, &other.to_string()),
    }
}

/// The bytes of one run's event file.
fn event_file(run: &ExportRun, points: &[Point]) -> Vec<u8> {
    let r = &run.run;
    let secs = |ms: i64| ms as f64 / 1000.0;
    let started = r
        .started_at_ms
        .or_else(|| points.iter().map(|p| p.wall_ms).min())
        .unwrap_or(0);
    let mut out = Vec::new();
    record(
        &mut out,
        event(secs(started), 0).string(EVENT_FILE_VERSION, "brain.Event:2"),
    );

    let mut start = Message::new();
    let mut params = run.params();
    params.push(("configuration".into(), run.configuration.clone().into()));
    params.push(("status".into(), r.status.as_str().into()));
    for (name, value) in &params {
        let entry = Message::new()
            .string(ENTRY_KEY, name)
            .message(ENTRY_VALUE, &pb_value(value));
        start = start.message(START_HPARAMS, &entry);
    }
    let start = start
        .string(START_GROUP_NAME, &run.configuration)
        .double(START_TIME_SECS, secs(started));
    record(
        &mut out,
        hparams_event(
            secs(started),
            "_hparams_/session_start_info",
            &Message::new().message(HPARAMS_SESSION_START, &start),
        ),
    );

    // One event per step with every metric logged at it, at the latest of their times.
    let mut steps: BTreeMap<u64, Vec<&Point>> = BTreeMap::new();
    for point in points {
        steps.entry(point.step).or_default().push(point);
    }
    let mut ended = started;
    for (step, at_step) in &steps {
        let wall_ms = at_step.iter().map(|p| p.wall_ms).max().unwrap_or(started);
        ended = ended.max(wall_ms);
        let mut summary = Message::new();
        for point in at_step {
            let value = Message::new()
                .string(VALUE_TAG, &point.metric)
                .float(VALUE_SIMPLE_VALUE, point.value as f32);
            summary = summary.message(SUMMARY_VALUE, &value);
        }
        record(
            &mut out,
            event(secs(wall_ms), *step).message(EVENT_SUMMARY, &summary),
        );
    }

    let ended = r.ended_at_ms.unwrap_or(ended);
    let end = Message::new()
        .uint(END_STATUS, session_status(r.status))
        .double(END_TIME_SECS, secs(ended));
    record(
        &mut out,
        hparams_event(
            secs(ended),
            "_hparams_/session_end_info",
            &Message::new().message(HPARAMS_SESSION_END, &end),
        ),
    );
    out
}

/// Writes every run of `runs` (of `sweep`) under `out`, one folder per run named by
/// [`ExportRun::folder_name`]; a folder of that name from an earlier export is replaced.
pub fn write(
    store: &Store,
    sweep: &SweepRecord,
    runs: &[ExportRun],
    out: &Path,
) -> Result<Exported, BridgeError> {
    fs::create_dir_all(out).at(out)?;
    for_each_run(store, sweep, runs, |run, points| {
        let dir = out.join(run.folder_name(sweep));
        if dir.exists() {
            fs::remove_dir_all(&dir).at(&dir)?;
        }
        fs::create_dir_all(&dir).at(&dir)?;
        let path = dir.join(format!(
            "events.out.tfevents.{}.ganbench.{}",
            run.run.started_at_ms.unwrap_or(0) / 1000,
            run.run.id.0
        ));
        let mut file = fs::File::create(&path).at(&path)?;
        file.write_all(&event_file(run, points)).at(&path)?;
        file.sync_all().at(&path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_masked_crc_matches_tensorboards_own() {
        // CRC-32C check value (RFC 3720, B.4): "123456789" → 0xE3069283.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        // tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c (tensorboard 2.21).
        assert_eq!(masked_crc(b"123456789"), 0xc78a_b0e5);
        assert_eq!(masked_crc(b""), 0xa282_ead8);
    }
}
