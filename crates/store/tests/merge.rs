//! Tests of `Store::merge_shard`: shards built through the public API the runner uses (register
//! the sweep, ensure, claim, log through the batched writer, finish), merged into a main
//! database and compared row by row, value bits included.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ganbench_store::{
    MergeReport, NewRun, RunId, Status, Store, StoreError, SweepId, Target, Writer,
    SAMPLES_ARTIFACT, SCHEMA_VERSION,
};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

const SWEEP: &str = "ring8";
const SPEC: &str = "name = \"ring8\"\nseeds = 4\n";
const HASH: &str = "hash-of-ring8-v1";

fn new_run(key: &str, seed: u64) -> NewRun<'_> {
    NewRun {
        trial_key: key,
        label: "gan",
        plugin: "gan",
        params_json: r#"{"lr":0.0002}"#,
        seed,
        build_id: "build-1",
        total_steps: Some(100),
    }
}

/// Values that only a bit-for-bit copy keeps: NaN (stored as NULL), ±inf, a subnormal, the
/// largest f64, whole numbers (which SQLite stores as integers), 0.1 + 0.2.
fn value(step: u64, metric: usize) -> f64 {
    const SPECIAL: [f64; 8] = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE / 4.0,
        f64::MAX,
        3.0,
        -1.5,
        0.1 + 0.2,
    ];
    if step.is_multiple_of(7) {
        SPECIAL[(step as usize / 7 + metric) % SPECIAL.len()]
    } else {
        (step as f64).sin() * (metric as f64 + 1.0) / 3.0
    }
}

/// Logs steps `steps` of `run` with `metrics`, as a trainer does.
fn log(writer: &Writer, run: RunId, metrics: &[&str], steps: std::ops::RangeInclusive<u64>) {
    for step in steps {
        let points: Vec<(&str, f64)> = metrics
            .iter()
            .enumerate()
            .map(|(i, m)| (*m, value(step, i)))
            .collect();
        writer.log(run, step, &points).unwrap();
    }
}

/// The shard of one array task: registers the sweep, then trains `trials` to the end, each
/// with a samples artifact, an event, and on the first trial a tag and a note.
fn shard(path: &Path, trials: &[&str], metrics: &[&str]) {
    let store = Store::open(path).unwrap();
    let sweep = store.register_sweep(SWEEP, SPEC, HASH).unwrap().id();
    let writer = store.writer().unwrap();
    for (i, key) in trials.iter().enumerate() {
        let run = store.ensure_run(sweep, &new_run(key, i as u64)).unwrap().id;
        store.claim_run(run, 4242, "node-7", None).unwrap();
        log(&writer, run, metrics, 1..=100);
        writer
            .artifact(run, 100, SAMPLES_ARTIFACT, &format!("{key}/samples.npy"))
            .unwrap();
        writer.event(run, "extractor", "mlp, 97% held out").unwrap();
        writer.finish_run(run, Status::Finished, 100, None).unwrap();
        writer.flush().unwrap();
        if i == 0 {
            store
                .add_tags(Target::Run(run), &["good".to_string()])
                .unwrap();
            store.add_note(Target::Run(run), "clean modes").unwrap();
        }
    }
}

fn merge(main: &Store, shard: &Path) -> MergeReport {
    main.merge_shard(shard, SWEEP, Some(HASH)).unwrap()
}

/// Every row of every table, ids included, as sorted text (reals as their bits): what "the
/// database did not change" means.
fn dump(conn: &Connection) -> BTreeMap<String, Vec<String>> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|table| {
            let mut st = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
            let n = st.column_count();
            let mut rows: Vec<String> = st
                .query_map([], |r| {
                    Ok((0..n)
                        .map(|i| match r.get_ref(i).unwrap() {
                            ValueRef::Real(x) => format!("R{:016x}", x.to_bits()),
                            other => format!("{other:?}"),
                        })
                        .collect::<Vec<_>>()
                        .join("|"))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            rows.sort();
            (table, rows)
        })
        .collect()
}

/// What a database holds of the sweep version with spec hash `HASH`, without ids: runs, metric
/// points (value bits; `None` is NaN), events, artifacts, run tags and notes, each keyed by trial.
#[derive(Debug, Default, PartialEq, Eq)]
struct Content {
    runs: Vec<String>,
    points: Vec<(String, String, i64, Option<u64>, i64)>,
    events: Vec<String>,
    artifacts: Vec<String>,
    annotations: Vec<String>,
}

impl Content {
    fn of(conn: &Connection) -> Content {
        let sweep: i64 = conn
            .query_row(
                "SELECT id FROM sweeps WHERE name = ?1 AND spec_hash = ?2",
                [SWEEP, HASH],
                |r| r.get(0),
            )
            .unwrap();
        let text = |sql: &str| -> Vec<String> {
            let mut st = conn.prepare(sql).unwrap();
            let n = st.column_count();
            st.query_map([sweep], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        let points = conn
            .prepare(
                "SELECT r.trial_key, k.name, m.step, m.value, m.wall_ms
                 FROM runs r JOIN metrics m ON m.run_id = r.id JOIN metric_keys k ON k.id = m.key_id
                 WHERE r.sweep_id = ?1 ORDER BY 1, 2, 3",
            )
            .unwrap()
            .query_map([sweep], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, Option<f64>>(3)?.map(f64::to_bits),
                    r.get(4)?,
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        Content {
            runs: text(
                "SELECT trial_key, label, plugin, params_json, seed, status, step, total_steps,
                        started_at, ended_at, error, build_id, owner_pid, host
                 FROM runs WHERE sweep_id = ?1 ORDER BY trial_key",
            ),
            points,
            events: text(
                "SELECT r.trial_key, e.at, e.kind, e.message FROM runs r JOIN events e ON e.run_id = r.id
                 WHERE r.sweep_id = ?1 ORDER BY r.trial_key, e.id",
            ),
            artifacts: text(
                "SELECT r.trial_key, a.step, a.kind, a.path FROM runs r JOIN artifacts a ON a.run_id = r.id
                 WHERE r.sweep_id = ?1 ORDER BY r.trial_key, a.id",
            ),
            annotations: text(
                "SELECT r.trial_key, 'tag', t.tag FROM runs r JOIN tags t ON t.run_id = r.id
                 WHERE r.sweep_id = ?1
                 UNION ALL
                 SELECT r.trial_key, n.at, n.text FROM runs r JOIN notes n ON n.run_id = r.id
                 WHERE r.sweep_id = ?1 ORDER BY 1, 2, 3",
            ),
        }
    }

    fn open(path: &Path) -> Content {
        Content::of(&Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap())
    }

    /// The union of several databases' contents, in the same order as `of` gives.
    fn union(parts: Vec<Content>) -> Content {
        let mut all = Content::default();
        for p in parts {
            all.runs.extend(p.runs);
            all.points.extend(p.points);
            all.events.extend(p.events);
            all.artifacts.extend(p.artifacts);
            all.annotations.extend(p.annotations);
        }
        all.runs.sort();
        all.points.sort();
        // Stable: keeps each run's events and artifacts in their order.
        all.events
            .sort_by(|a, b| a.split('|').next().cmp(&b.split('|').next()));
        all.artifacts
            .sort_by(|a, b| a.split('|').next().cmp(&b.split('|').next()));
        all.annotations.sort();
        all
    }
}

/// Length, a hash of the bytes and the modification time of a file, `None` if it is missing.
type FileState = Option<(usize, u64, SystemTime)>;

fn wal(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// The database file and its write-ahead log.
fn files(path: &Path) -> [FileState; 2] {
    use std::hash::{Hash, Hasher};
    [path.to_path_buf(), wal(path)].map(|f| {
        let bytes = std::fs::read(&f).ok()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut h);
        let modified = std::fs::metadata(&f).and_then(|m| m.modified()).ok()?;
        Some((bytes.len(), h.finish(), modified))
    })
}

/// The file and its WAL are as `before`, except that a missing WAL may now exist, empty: SQLite
/// creates it for any reader of a WAL database (`ganbench ls` does the same).
fn untouched(path: &Path, before: &[FileState; 2]) {
    let after = files(path);
    assert_eq!(after[0], before[0], "{} was written", path.display());
    match (before[1], after[1]) {
        (None, None | Some((0, ..))) => {}
        (b, a) => assert_eq!(a, b, "the WAL of {} was written", path.display()),
    }
}

fn nothing_changed(report: &MergeReport, runs: u64) {
    assert!(!report.changed(), "{report:?}");
    assert_eq!(report.runs_unchanged, runs, "{report:?}");
    assert_eq!(
        (
            report.points_copied,
            report.events_copied,
            report.artifacts_copied
        ),
        (0, 0, 0),
        "{report:?}"
    );
}

#[test]
fn two_shards_merge_into_main_once_bit_for_bit_and_again_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    // Other metric names, in another order: key ids differ in each file.
    shard(&a, &["t0", "t1"], &["d_loss", "g_loss"]);
    shard(&b, &["t2", "t3"], &["fid", "d_loss"]);
    let main = Store::open(dir.path().join("main.db")).unwrap();
    // Version 1 of the name has another spec, and a metric is interned before the shards'.
    let old = main
        .register_sweep(SWEEP, "old spec", "hash-v0")
        .unwrap()
        .id();
    let old_run = main.ensure_run(old, &new_run("t0", 0)).unwrap().id;
    let w = main.writer().unwrap();
    w.log(old_run, 1, &[("modes", 8.0)]).unwrap();
    w.flush().unwrap();
    let (files_a, files_b) = (files(&a), files(&b));

    let ra = merge(&main, &a);
    assert!(ra.registered && ra.changed(), "{ra:?}");
    assert_eq!((ra.shard_version, ra.version), (1, 2), "a new version here");
    assert_eq!((ra.runs_added, ra.runs_updated), (2, 0));
    assert_eq!(
        (ra.points_copied, ra.events_copied, ra.artifacts_copied),
        (2 * 2 * 100, 2 * 3, 2),
        "claimed + extractor + finished events"
    );
    assert_eq!((ra.tags_added, ra.notes_added), (1, 1));
    let rb = merge(&main, &b);
    assert!(!rb.registered);
    assert_eq!((rb.version, rb.runs_added, rb.points_copied), (2, 2, 400));

    let merged = Content::of(main.connection());
    assert_eq!(
        merged,
        Content::union(vec![Content::open(&a), Content::open(&b)])
    );
    assert_eq!(merged.points.len(), 800, "each point exactly once");
    assert!(merged.points.iter().any(|p| p.3.is_none()), "NaN kept");
    assert!(merged
        .points
        .iter()
        .any(|p| p.3 == Some(f64::NEG_INFINITY.to_bits())));
    assert!(merged
        .points
        .iter()
        .any(|p| p.3 == Some((f64::MIN_POSITIVE / 4.0).to_bits())));
    // Version 1 is untouched, and the file is sound.
    assert_eq!(main.runs(old).unwrap().len(), 1);
    assert_eq!(main.series(old_run, "modes").unwrap().len(), 1);
    assert!(main.integrity_check().unwrap().is_empty());
    let fk: i64 = main
        .connection()
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0);
    // The read API sees the merged runs like local ones.
    let v2 = main.find_sweep(SWEEP, None).unwrap().unwrap();
    assert_eq!((v2.version, v2.spec_hash.as_str()), (2, HASH));
    assert_eq!(main.list_sweeps().unwrap()[1].runs.finished, 4);

    let once = dump(main.connection());
    nothing_changed(&merge(&main, &a), 2);
    nothing_changed(&merge(&main, &b), 2);
    assert_eq!(dump(main.connection()), once, "merging again wrote nothing");
    untouched(&a, &files_a);
    untouched(&b, &files_b);
}

#[test]
fn main_versions_are_matched_by_hash_and_its_queued_runs_are_filled_in() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.db");
    shard(&a, &["t0", "t1"], &["loss"]);
    let main = Store::open(dir.path().join("main.db")).unwrap();
    main.register_sweep(SWEEP, "v1", "h1").unwrap();
    let v2 = main.register_new_version(SWEEP, SPEC, HASH).unwrap().id();
    main.register_new_version(SWEEP, "v3", "h3").unwrap();
    // Registered here before the job array was submitted.
    let queued = main.ensure_run(v2, &new_run("t0", 0)).unwrap().id;

    let r = merge(&main, &a);
    assert!(!r.registered);
    assert_eq!((r.shard_version, r.version), (1, 2));
    assert_eq!((r.runs_added, r.runs_updated), (1, 1), "{r:?}");
    assert_eq!(main.run(queued).unwrap().status, Status::Finished);
    assert_eq!(main.series(queued, "loss").unwrap().len(), 100);
    assert_eq!(Content::of(main.connection()), Content::open(&a));
    assert_eq!(main.list_sweeps().unwrap().len(), 3, "no fourth version");
    nothing_changed(&merge(&main, &a), 2);
}

#[test]
fn a_shard_merged_while_training_and_again_when_done_ends_as_its_final_content() {
    let dir = tempfile::tempdir().unwrap();
    let (path, shard, run) = shard_training_one_run(dir.path());
    let writer = shard.writer().unwrap();
    log(&writer, run, &["d_loss", "g_loss"], 1..=40);
    writer.flush().unwrap();
    let main = Store::open(dir.path().join("main.db")).unwrap();

    // The task is still running: its writer holds the file, changes sit in the WAL.
    let before = files(&path);
    assert!(
        before[1].is_some_and(|(len, ..)| len > 0),
        "the test needs a non-empty WAL"
    );
    let r = merge(&main, &path);
    assert_eq!((r.runs_added, r.points_copied), (1, 80));
    untouched(&path, &before);
    assert_eq!(Content::of(main.connection()), Content::open(&path));
    assert_eq!(
        main.runs(r_sweep(&main)).unwrap()[0].status,
        Status::Running
    );

    // Only a point's value changes (the run's row, events and artifacts stay): still an update.
    writer.log(run, 40, &[("g_loss", 0.125)]).unwrap();
    writer.flush().unwrap();
    let r = merge(&main, &path);
    assert_eq!((r.runs_updated, r.points_copied), (1, 80), "{r:?}");
    assert_eq!(Content::of(main.connection()), Content::open(&path));

    // A task killed with changes in its WAL: a copy of the pair is such a file that no process
    // holds. A connection that could write would checkpoint the WAL into the file on closing.
    let killed = dir.path().join("killed.db");
    std::fs::copy(&path, &killed).unwrap();
    std::fs::copy(wal(&path), wal(&killed)).unwrap();
    let before = files(&killed);
    let other = Store::open(dir.path().join("other.db")).unwrap();
    assert_eq!(merge(&other, &killed).runs_added, 1);
    untouched(&killed, &before);
    assert_eq!(
        Content::of(other.connection()),
        Content::of(main.connection())
    );

    // More progress, resumed from a checkpoint at step 30 (points after it are logged again).
    shard.truncate_after(run, 30).unwrap();
    log(&writer, run, &["d_loss", "g_loss"], 31..=100);
    writer
        .artifact(run, 100, SAMPLES_ARTIFACT, "t0/s.npy")
        .unwrap();
    writer.finish_run(run, Status::Finished, 100, None).unwrap();
    writer.flush().unwrap();
    let r = merge(&main, &path);
    assert_eq!((r.runs_added, r.runs_updated, r.points_copied), (0, 1, 200));
    assert_eq!(Content::of(main.connection()), Content::open(&path));
    let once = dump(main.connection());
    nothing_changed(&merge(&main, &path), 1);
    assert_eq!(dump(main.connection()), once);
}

/// `DIR/shard.db` with the sweep and one run `t0` claimed by a task on "node-7".
fn shard_training_one_run(dir: &Path) -> (PathBuf, Store, RunId) {
    let path = dir.join("shard.db");
    let shard = Store::open(&path).unwrap();
    let sweep = shard.register_sweep(SWEEP, SPEC, HASH).unwrap().id();
    let run = shard.ensure_run(sweep, &new_run("t0", 0)).unwrap().id;
    shard.claim_run(run, 4242, "node-7", None).unwrap();
    (path, shard, run)
}

fn r_sweep(main: &Store) -> SweepId {
    main.find_sweep(SWEEP, None).unwrap().unwrap().id
}

#[test]
fn a_merge_reads_one_snapshot_of_a_shard_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let (path, shard, run) = shard_training_one_run(dir.path());
    let main = Store::open(dir.path().join("main.db")).unwrap();
    let writer = shard.writer().unwrap();
    let trainer = {
        let writer = writer.clone();
        std::thread::spawn(move || {
            for step in 1..=3000 {
                log(&writer, run, &["a", "b", "c"], step..=step);
                if step.is_multiple_of(50) {
                    writer.flush().unwrap(); // many small commits during the merges
                }
            }
            writer
                .finish_run(run, Status::Finished, 3000, None)
                .unwrap();
            writer.flush().unwrap();
        })
    };
    let mut merges = 0;
    while !trainer.is_finished() || merges == 0 {
        merge(&main, &path);
        merges += 1;
        // A snapshot: every step logged has its three metrics, and the run's progress is the
        // highest of them (the writer commits both in one transaction).
        let (step, max, points): (i64, Option<i64>, i64) = main
            .connection()
            .query_row(
                "SELECT r.step, (SELECT max(step) FROM metrics WHERE run_id = r.id),
                        (SELECT count(*) FROM metrics WHERE run_id = r.id)
                 FROM runs r",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(max.unwrap_or(0), step);
        assert_eq!(points, 3 * step);
    }
    trainer.join().unwrap();
    merge(&main, &path);
    assert_eq!(Content::of(main.connection()), Content::open(&path));
    assert_eq!(main.runs(r_sweep(&main)).unwrap()[0].step, 3000);
    nothing_changed(&merge(&main, &path), 1);
}

#[test]
fn a_run_the_shard_never_started_and_a_result_here_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a.db"),
        dir.path().join("b.db"),
        dir.path().join("c.db"),
    );
    shard(&a, &["t0"], &["loss"]);
    // Task b registered t0 too but was stopped before training it.
    shard(&b, &["t2"], &["loss"]);
    {
        let s = Store::open(&b).unwrap();
        let sweep = s.find_sweep(SWEEP, None).unwrap().unwrap().id;
        s.ensure_run(sweep, &new_run("t0", 0)).unwrap();
    }
    // Task c trained t0 again (a resubmission): another result for a finished trial.
    shard(&c, &["t0"], &["loss", "extra"]);
    let main = Store::open(dir.path().join("main.db")).unwrap();
    merge(&main, &a);
    let after_a = Content::of(main.connection());

    let r = merge(&main, &b);
    assert_eq!((r.runs_added, r.runs_not_started), (1, 1), "{r:?}");
    let r = merge(&main, &c);
    assert_eq!(r.conflicts, ["t0"]);
    assert_eq!((r.runs_updated, r.points_copied), (0, 0));
    let now = Content::of(main.connection());
    let t0 = |c: &Content| c.points.iter().filter(|p| p.0 == "t0").count();
    assert_eq!(t0(&now), t0(&after_a), "the first result stands");
    assert_eq!(t0(&now), 100);
}

#[test]
fn another_sweep_name_or_spec_hash_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.db");
    shard(&a, &["t0"], &["loss"]);
    let main = Store::open(dir.path().join("main.db")).unwrap();
    let before = dump(main.connection());

    let err = main.merge_shard(&a, "grid25", None).unwrap_err();
    assert!(matches!(err, StoreError::ShardLacksSweep { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&a.display().to_string())
            && msg.contains("sweeps ring8")
            && msg.contains("grid25"),
        "{msg}"
    );

    let err = main.merge_shard(&a, SWEEP, Some("hash-v9")).unwrap_err();
    assert!(
        matches!(err, StoreError::ShardOfAnotherVersion { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(HASH) && msg.contains("hash-v9") && msg.contains("another version"),
        "{msg}"
    );
    assert_eq!(dump(main.connection()), before);

    // Without an expected hash, the shard's newest version of the name is merged.
    let r = main.merge_shard(&a, SWEEP, None).unwrap();
    assert_eq!((r.spec_hash.as_str(), r.runs_added), (HASH, 1));
}

#[test]
fn files_that_are_not_ganbench_shards_are_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let main = Store::open(dir.path().join("main.db")).unwrap();
    let before = dump(main.connection());

    let text = dir.path().join("notes.db");
    std::fs::write(
        &text,
        "not a database, a text file of some length\n".repeat(30),
    )
    .unwrap();
    let foreign = dir.path().join("foreign.db");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let newer = dir.path().join("newer.db");
    shard(&newer, &["t0"], &["loss"]);
    Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();

    for (path, not_ours) in [(&text, true), (&foreign, true), (&newer, false)] {
        let bytes = files(path);
        let err = main.merge_shard(path, SWEEP, None).unwrap_err();
        match err {
            StoreError::NotGanbench { .. } if not_ours => {}
            StoreError::TooNew { found, .. } if !not_ours => {
                assert_eq!(found, SCHEMA_VERSION + 1)
            }
            _ => panic!("{}: {err:?}", path.display()),
        }
        assert!(err.to_string().contains(&path.display().to_string()));
        untouched(path, &bytes);
    }
    let missing = dir.path().join("missing.db");
    let err = main.merge_shard(&missing, SWEEP, None).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(!missing.exists());
    assert_eq!(dump(main.connection()), before);
}

#[test]
fn a_failure_midway_leaves_main_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.db");
    shard(&a, &["t0", "t1"], &["loss"]);
    {
        let s = Store::open(&a).unwrap();
        let sweep = s.find_sweep(SWEEP, None).unwrap().unwrap().id;
        let t1 = s.runs(sweep).unwrap()[1].id;
        s.record_event(t1, "boom", "the merge fails on this row")
            .unwrap();
    }
    let main = Store::open(dir.path().join("main.db")).unwrap();
    let before = dump(main.connection());
    // Fails after the sweep, t0 with its points and t1's run row are written.
    main.connection()
        .execute_batch(
            "CREATE TEMP TRIGGER boom BEFORE INSERT ON events WHEN NEW.kind = 'boom'
             BEGIN SELECT RAISE(ABORT, 'boom'); END",
        )
        .unwrap();
    let err = main.merge_shard(&a, SWEEP, None).unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    assert_eq!(dump(main.connection()), before);

    main.connection()
        .execute_batch("DROP TRIGGER boom")
        .unwrap();
    let r = main.merge_shard(&a, SWEEP, None).unwrap();
    assert_eq!(r.runs_added, 2);
    assert_eq!(Content::of(main.connection()), Content::open(&a));
}

#[test]
fn the_report_serializes_for_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.db");
    shard(&a, &["t0"], &["loss"]);
    let main = Store::open(dir.path().join("main.db")).unwrap();
    let json = serde_json::to_value(merge(&main, &a)).unwrap();
    assert_eq!(json["runs_added"], 1);
    assert_eq!(json["points_copied"], 100);
    assert_eq!(json["sweep"], SWEEP);
    assert_eq!(json["conflicts"], serde_json::json!([]));
}
