//! Integration tests of the store: schema and migrations, write and read API, the batched
//! writer, crash safety (kill -9 of a child process) and concurrent writers.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ganbench_store::{
    NewRun, Registration, RunId, Status, Store, StoreError, SweepId, WriterOptions, SCHEMA_VERSION,
};
use rusqlite::Connection;

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("sub").join("ganbench.db")
}

fn new_run<'a>(key: &'a str, seed: u64) -> NewRun<'a> {
    NewRun {
        trial_key: key,
        label: "sngan",
        plugin: "gan",
        params_json: r#"{"lr":0.0002}"#,
        seed,
        build_id: "build-1",
        total_steps: Some(100),
    }
}

fn setup(path: &Path) -> (Store, SweepId, RunId) {
    let store = Store::open(path).unwrap();
    let sweep = store.register_sweep("s", "spec", "h1").unwrap().id();
    let run = store.ensure_run(sweep, &new_run("t0", 0)).unwrap().id;
    (store, sweep, run)
}

fn count(store: &Store, sql: &str) -> i64 {
    store.connection().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn fresh_file_gets_latest_schema_wal_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(db(&dir)).unwrap(); // also creates the missing directory
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let c = store.connection();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = c
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    let app: i64 = c
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, ganbench_store::APPLICATION_ID);
    for t in [
        "sweeps",
        "runs",
        "metric_keys",
        "metrics",
        "artifacts",
        "events",
        "tags",
        "notes",
    ] {
        let n = count(
            &store,
            &format!("SELECT count(*) FROM sqlite_master WHERE name = '{t}'"),
        );
        assert_eq!(n, 1, "table {t}");
    }
    assert!(store.integrity_check().unwrap().is_empty());
}

#[test]
fn v1_file_is_migrated_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    {
        let v1 = Store::open_at_schema_version(&path, 1).unwrap();
        assert_eq!(v1.schema_version().unwrap(), 1);
        // Rows as a v1 ganbench wrote them: no sweep version, no label/owner columns.
        v1.connection()
            .execute_batch(
                "INSERT INTO sweeps (id, name, spec_text, spec_hash, created_at) VALUES (1, 'old', 'spec', 'h1', 5);
                 INSERT INTO runs (id, sweep_id, trial_key, plugin, params_json, seed, status, step, build_id)
                     VALUES (1, 1, 'k', 'gan', '{}', 3, 'finished', 10, 'b');
                 INSERT INTO metric_keys (id, name) VALUES (1, 'loss');
                 INSERT INTO metrics VALUES (1, 1, 10, 0.5, 99);",
            )
            .unwrap();
        let has_version = count(
            &v1,
            "SELECT count(*) FROM pragma_table_info('sweeps') WHERE name = 'version'",
        );
        assert_eq!(has_version, 0);
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let sweep = store.find_sweep("old", None).unwrap().unwrap();
    assert_eq!((sweep.version, sweep.spec_hash.as_str()), (1, "h1"));
    let runs = store.runs(sweep.id).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].status, runs[0].step, runs[0].label.as_str()),
        (Status::Finished, 10, "")
    );
    assert_eq!(store.series(runs[0].id, "loss").unwrap()[0].value, 0.5);
    // The v2 features work on migrated data.
    assert_eq!(
        store.register_sweep("old", "spec", "h1").unwrap(),
        Registration::Existing {
            id: sweep.id,
            version: 1
        }
    );
    assert_eq!(
        store
            .register_new_version("old", "spec2", "h2")
            .unwrap()
            .version(),
        2
    );
    assert!(store.integrity_check().unwrap().is_empty());
}

#[test]
fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let run = {
        let (store, _, run) = setup(&path);
        let w = store.writer().unwrap();
        w.log(run, 1, &[("a", 1.0)]).unwrap();
        w.flush().unwrap();
        run
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.series(run, "a").unwrap().len(), 1);
    assert_eq!(store.list_sweeps().unwrap().len(), 1);
    // Reopening an up-to-date file a second time changes nothing.
    drop(store);
    assert_eq!(
        Store::open(&path).unwrap().schema_version().unwrap(),
        SCHEMA_VERSION
    );
}

/// The database file and its write-ahead log (a missing log reads as empty), byte for byte: what
/// "nothing was written" means. (The `-shm` index is shared memory that readers update too.)
fn files(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    (
        std::fs::read(path).unwrap(),
        std::fs::read(wal).unwrap_or_default(),
    )
}

#[test]
fn a_file_with_a_missing_or_altered_table_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    for (sql, problem) in [
        ("DROP TABLE events", "table `events` is missing"),
        (
            "ALTER TABLE runs ADD COLUMN note TEXT",
            "table `runs` has a column `note` that ganbench does not know",
        ),
        (
            "ALTER TABLE artifacts RENAME COLUMN path TO file",
            "table `artifacts` has no column `path`",
        ),
    ] {
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
        drop(setup(&path));
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(sql).unwrap();
            // Merge the log, so that "unchanged" below covers the main file alone.
            c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        }
        let before = files(&path);
        for err in [
            Store::open(&path).unwrap_err(),
            Store::open_read_only(&path).unwrap_err(),
        ] {
            assert!(
                matches!(&err, StoreError::SchemaMismatch { problem: p, .. } if p == problem),
                "{sql}: {err:?}"
            );
            let msg = err.to_string();
            assert!(
                msg.contains(&path.display().to_string()) && msg.contains(problem),
                "{msg}"
            );
        }
        assert!(before == files(&path), "{sql}: the file was written to");
    }
    // A file being migrated is checked in the migration's transaction: a v1 file missing a
    // table is refused and stays at version 1.
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
    drop(Store::open_at_schema_version(&path, 1).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE artifacts")
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::SchemaMismatch { problem, .. } if problem.contains("artifacts")),
        "{err:?}"
    );
    let v: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 1);
}

#[test]
fn a_read_only_store_reads_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let (store, sweep, run) = setup(&path);
    let w = store.writer().unwrap();
    w.log(run, 1, &[("a", 1.0)]).unwrap();
    w.flush().unwrap();
    let before = files(&path);
    let ro = Store::open_read_only(&path).unwrap();
    assert_eq!(ro.runs(sweep).unwrap().len(), 1);
    assert_eq!(ro.series(run, "a").unwrap().len(), 1);
    assert!(ro.record_event(run, "x", "y").is_err(), "writes fail");
    drop(ro);
    assert!(before == files(&path));
    drop((w, store));

    // Nothing is created for a missing file, and an old schema is not upgraded.
    let missing = dir.path().join("nothing/here.db");
    assert!(matches!(
        Store::open_read_only(&missing),
        Err(StoreError::Open { .. })
    ));
    assert!(!missing.parent().unwrap().exists());
    let old = dir.path().join("old.db");
    drop(Store::open_at_schema_version(&old, 1).unwrap());
    let err = Store::open_read_only(&old).unwrap_err();
    assert!(
        matches!(err, StoreError::TooOld { found: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("writable"), "{err}");
}

#[test]
fn newer_schema_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    drop(Store::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found, supported, .. } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION)
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("newer ganbench"),
        "{msg}"
    );
    // Refusing must not touch the file.
    let v: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION + 1);
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    let text =
        "this is not a database, it is a text file of some length to fill a header.\n".repeat(20);
    std::fs::write(&path, &text).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::NotGanbench { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("--db"),
        "{msg}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn another_programs_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE photos (id INTEGER)")
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::NotGanbench { detail, .. } if detail.contains("photos")),
        "{err:?}"
    );
    let c = Connection::open(&path).unwrap();
    c.execute_batch("DROP TABLE photos; PRAGMA application_id = 42; PRAGMA user_version = 3")
        .unwrap();
    drop(c);
    assert!(matches!(
        Store::open(&path).unwrap_err(),
        StoreError::NotGanbench { .. }
    ));
}

#[test]
fn a_corrupt_file_is_reported_as_corrupt_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    drop(setup(&path)); // closing the last connection checkpoints and removes the WAL
    assert!(!Path::new(&format!("{}-wal", path.display())).exists());
    let mut bytes = std::fs::read(&path).unwrap();
    // Overwrite the b-tree page header of page 1 (the schema table), just after the file header.
    for b in &mut bytes[100..160] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("move it aside"),
        "{msg}"
    );
}

#[test]
fn sweep_registration_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(db(&dir)).unwrap();
    let r1 = store.register_sweep("s", "spec a", "ha").unwrap();
    assert!(matches!(r1, Registration::Created { version: 1, .. }));
    assert_eq!(
        store.register_sweep("s", "spec a", "ha").unwrap(),
        Registration::Existing {
            id: r1.id(),
            version: 1
        }
    );
    match store.register_sweep("s", "spec b", "hb").unwrap_err() {
        StoreError::SpecChanged {
            name,
            version,
            stored_hash,
            new_hash,
        } => {
            assert_eq!(
                (
                    name.as_str(),
                    version,
                    stored_hash.as_str(),
                    new_hash.as_str()
                ),
                ("s", 1, "ha", "hb")
            );
        }
        e => panic!("{e:?}"),
    }
    let r2 = store.register_new_version("s", "spec b", "hb").unwrap();
    assert!(matches!(r2, Registration::Created { version: 2, .. }) && r2.id() != r1.id());
    assert_eq!(
        store.register_sweep("s", "spec b", "hb").unwrap(),
        Registration::Existing {
            id: r2.id(),
            version: 2
        }
    );
    // Going back to the first spec finds version 1 again.
    assert_eq!(
        store.register_sweep("s", "spec a", "ha").unwrap().id(),
        r1.id()
    );
    assert_eq!(store.find_sweep("s", None).unwrap().unwrap().version, 2);
    assert_eq!(
        store.find_sweep("s", Some(1)).unwrap().unwrap().spec_text,
        "spec a"
    );
    assert!(store.find_sweep("nope", None).unwrap().is_none());
    let msg = StoreError::SpecChanged {
        name: "s".into(),
        version: 2,
        stored_hash: "x".into(),
        new_hash: "y".into(),
    }
    .to_string();
    assert!(
        msg.contains("--new-version") && msg.contains("version 3"),
        "{msg}"
    );
}

#[test]
fn ensure_run_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(db(&dir)).unwrap();
    let sweep = store.register_sweep("s", "spec", "h").unwrap().id();
    let mut nr = new_run("k1", u64::MAX);
    nr.total_steps = None;
    let a = store.ensure_run(sweep, &nr).unwrap();
    assert!(a.created && a.status == Status::Queued && a.step == 0);
    let b = store.ensure_run(sweep, &new_run("k1", u64::MAX)).unwrap();
    assert_eq!((b.id, b.created), (a.id, false));
    let c = store.ensure_run(sweep, &new_run("k2", 1)).unwrap();
    assert_ne!(c.id, a.id);
    let run = store.run(a.id).unwrap();
    assert_eq!(run.seed, u64::MAX, "u64 seeds round-trip");
    assert_eq!(
        run.total_steps,
        Some(100),
        "a missing total_steps is filled in"
    );
    assert_eq!(store.runs(sweep).unwrap().len(), 2);
    assert!(matches!(
        store.ensure_run(SweepId(999), &nr),
        Err(StoreError::NoSuchSweep(_))
    ));
}

#[test]
fn claim_finish_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let (store, sweep, run) = setup(&db(&dir));
    store.claim_run(run, 10, "h", None).unwrap();
    store.claim_run(run, 10, "h", None).unwrap(); // same owner: no-op
    let err = store.claim_run(run, 11, "h", None).unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadyRunning { pid: 10, .. }),
        "{err:?}"
    );
    let r = store.run(run).unwrap();
    assert_eq!(
        (r.status, r.owner_pid, r.host.as_deref()),
        (Status::Running, Some(10), Some("h"))
    );
    assert!(r.started_at_ms.is_some() && r.ended_at_ms.is_none());
    store
        .finish_run(run, Status::Diverged, 42, Some("d_loss is NaN"))
        .unwrap();
    let d = store.run_details(run).unwrap();
    assert_eq!(
        (d.run.status, d.run.step, d.run.error.as_deref()),
        (Status::Diverged, 42, Some("d_loss is NaN"))
    );
    assert!(d.run.ended_at_ms.is_some());
    let kinds: Vec<&str> = d.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["claimed", "diverged"]);
    store.set_status(run, Status::Queued).unwrap();
    assert_eq!(store.run(run).unwrap().ended_at_ms, None);
    let s = &store.list_sweeps().unwrap()[0];
    assert_eq!((s.id, s.runs.queued, s.runs.total()), (sweep, 1, 1));
    assert!(matches!(
        store.set_status(RunId(77), Status::Failed),
        Err(StoreError::NoSuchRun(RunId(77)))
    ));
    assert!(matches!(
        store.record_event(RunId(77), "x", "y"),
        Err(StoreError::NoSuchRun(_))
    ));
}

#[test]
fn ended_runs_are_never_claimed_again_and_their_results_never_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let (store, sweep, finished) = setup(&db(&dir));
    let diverged = store.ensure_run(sweep, &new_run("t1", 1)).unwrap().id;
    let failed = store.ensure_run(sweep, &new_run("t2", 2)).unwrap().id;
    let w = store.writer().unwrap();
    for (run, status) in [
        (finished, Status::Finished),
        (diverged, Status::Diverged),
        (failed, Status::Failed),
    ] {
        store.claim_run(run, 10, "h", None).unwrap();
        w.log(run, 1, &[("loss", 1.0)]).unwrap();
        w.log(run, 2, &[("loss", 0.5)]).unwrap();
        w.flush().unwrap();
        store.finish_run(run, status, 2, None).unwrap();
    }
    let failed_at = store.run(failed).unwrap().ended_at_ms.unwrap();
    // Another process (other pid) that planned these runs before they ended: refused, even when
    // it retries failed runs.
    for run in [finished, diverged] {
        let err = store.claim_run(run, 11, "h", Some(i64::MAX)).unwrap_err();
        assert!(
            matches!(err, StoreError::RunEnded { step: 2, .. }),
            "{err:?}"
        );
        assert!(matches!(
            store.truncate_after(run, 0),
            Err(StoreError::RunEnded { .. })
        ));
        assert_eq!(store.series(run, "loss").unwrap().len(), 2, "results kept");
        assert_ne!(store.run(run).unwrap().status, Status::Running);
    }
    let err = store.claim_run(failed, 11, "h", None).unwrap_err();
    assert!(
        err.to_string().contains("--retry-failed"),
        "the message says how to retry: {err}"
    );
    // A retry that started before the failure leaves it alone; one started after claims it.
    assert!(matches!(
        store.claim_run(failed, 11, "h", Some(failed_at - 1)),
        Err(StoreError::RunEnded {
            status: Status::Failed,
            ..
        })
    ));
    store.claim_run(failed, 11, "h", Some(failed_at)).unwrap();
    assert_eq!(store.run(failed).unwrap().status, Status::Running);
    let claims = |run| {
        store
            .run_details(run)
            .unwrap()
            .events
            .iter()
            .filter(|e| e.kind == "claimed")
            .count()
    };
    assert_eq!(
        [claims(finished), claims(diverged), claims(failed)],
        [1, 1, 2]
    );
}

#[test]
fn kills_are_counted_until_the_run_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, run) = setup(&db(&dir));
    assert_eq!(store.kills_since_failure(run).unwrap(), 0);
    for _ in 0..2 {
        store
            .record_event(run, ganbench_store::KILLED_EVENT, "SIGKILL")
            .unwrap();
    }
    assert_eq!(store.kills_since_failure(run).unwrap(), 2);
    store
        .finish_run(run, Status::Failed, 0, Some("killed"))
        .unwrap();
    assert_eq!(
        store.kills_since_failure(run).unwrap(),
        0,
        "a retry starts over"
    );
    store
        .record_event(run, ganbench_store::KILLED_EVENT, "SIGKILL")
        .unwrap();
    assert_eq!(store.kills_since_failure(run).unwrap(), 1);
}

#[test]
fn handles_can_move_to_threads() {
    fn send_sync<T: Send + Sync + Clone>() {}
    fn send<T: Send>() {}
    send_sync::<ganbench_store::Writer>();
    send::<Store>();
}

#[test]
fn status_text_round_trips() {
    for s in Status::ALL {
        assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
    }
    assert!(matches!("done".parse::<Status>(), Err(StoreError::UnknownStatus(s)) if s == "done"));
    assert!(Status::Diverged.is_terminal() && !Status::Interrupted.is_terminal());
}

#[test]
fn a_metric_point_is_never_stored_twice_last_write_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, run) = setup(&db(&dir));
    let w = store.writer().unwrap();
    w.log(run, 5, &[("loss", 1.0)]).unwrap();
    w.flush().unwrap(); // separate transactions
    w.log(run, 5, &[("loss", 2.0)]).unwrap();
    w.log(run, 5, &[("loss", 3.0)]).unwrap(); // same batch
    w.flush().unwrap();
    let pts = store.series(run, "loss").unwrap();
    assert_eq!(pts.len(), 1);
    assert_eq!(pts[0].value, 3.0);
    assert_eq!(count(&store, "SELECT count(*) FROM metrics"), 1);
    // And the schema itself refuses a duplicate.
    let dup = store
        .connection()
        .execute("INSERT INTO metrics SELECT * FROM metrics", []);
    assert!(dup.is_err());
}

#[test]
fn truncate_after_removes_later_points_and_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, run) = setup(&db(&dir));
    let w = store.writer().unwrap();
    for step in 1..=10u64 {
        w.log(run, step, &[("a", step as f64), ("b", -(step as f64))])
            .unwrap();
    }
    w.artifact(run, 5, "samples", "s5.png").unwrap();
    w.artifact(run, 10, "samples", "s10.png").unwrap();
    w.flush().unwrap();
    assert_eq!(
        store.run(run).unwrap().step,
        10,
        "the writer records progress"
    );
    let t = store.truncate_after(run, 6).unwrap();
    assert_eq!(t.metrics, 8);
    assert_eq!(
        t.artifacts
            .iter()
            .map(|a| a.path.as_str())
            .collect::<Vec<_>>(),
        ["s10.png"]
    );
    assert_eq!(store.series(run, "a").unwrap().last().unwrap().step, 6);
    assert_eq!(store.artifacts(run).unwrap().len(), 1);
    assert_eq!(store.run(run).unwrap().step, 6);
    // Resuming logs steps 7.. again: each exactly once.
    for step in 7..=10u64 {
        w.log(run, step, &[("a", step as f64), ("b", 0.0)]).unwrap();
    }
    w.flush().unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM metrics"), 20);
    assert_eq!(
        store.run_details(run).unwrap().events.last().unwrap().kind,
        "truncated"
    );
    assert!(matches!(
        store.truncate_after(RunId(99), 0),
        Err(StoreError::NoSuchRun(_))
    ));
}

#[test]
fn orphans_of_dead_processes_become_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(db(&dir)).unwrap();
    let sweep = store.register_sweep("s", "spec", "h").unwrap().id();
    let id = |k: &str| store.ensure_run(sweep, &new_run(k, 0)).unwrap().id;
    let (dead, alive, elsewhere, finished, no_owner) = (
        id("dead"),
        id("alive"),
        id("elsewhere"),
        id("fin"),
        id("noown"),
    );
    store.claim_run(dead, 111, "here", None).unwrap();
    store.claim_run(alive, 222, "here", None).unwrap();
    store.claim_run(elsewhere, 111, "there", None).unwrap();
    store.claim_run(finished, 111, "here", None).unwrap();
    store
        .finish_run(finished, Status::Finished, 100, None)
        .unwrap();
    store.set_status(no_owner, Status::Running).unwrap();
    let n = store
        .mark_orphans_interrupted("here", |pid| pid == 222)
        .unwrap();
    assert_eq!(n, 2);
    let st = |r| store.run(r).unwrap().status;
    assert_eq!(
        [
            st(dead),
            st(alive),
            st(elsewhere),
            st(finished),
            st(no_owner)
        ],
        [
            Status::Interrupted,
            Status::Running,
            Status::Running,
            Status::Finished,
            Status::Interrupted
        ]
    );
    let ev = store.run_details(dead).unwrap().events;
    assert_eq!(ev.last().unwrap().kind, "interrupted");
    assert!(ev.last().unwrap().message.contains("111"));
    assert!(ganbench_store::pid_is_alive(std::process::id()));
    // An interrupted run can be claimed again.
    store.claim_run(dead, 333, "here", None).unwrap();
    assert_eq!(store.mark_orphans_interrupted("here", |_| true).unwrap(), 0);

    // A database with one writer (an array task's shard, requeued onto another node): every run
    // left running is gone, wherever it ran; results stay.
    assert_eq!(store.mark_all_running_interrupted().unwrap(), 3);
    assert_eq!(
        [st(dead), st(alive), st(elsewhere), st(finished)],
        [
            Status::Interrupted,
            Status::Interrupted,
            Status::Interrupted,
            Status::Finished
        ]
    );
    let ev = store.run_details(elsewhere).unwrap().events;
    assert!(ev.last().unwrap().message.contains("process 111 on there"));
    assert_eq!(store.mark_all_running_interrupted().unwrap(), 0);
}

#[test]
fn nan_and_infinities_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (store, sweep, run) = setup(&db(&dir));
    let values = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        5e-324,
        f64::MAX,
        f64::MIN,
        0.1,
        3.0,
        -0.0,
    ];
    let w = store.writer().unwrap();
    for (i, v) in values.iter().enumerate() {
        w.log(run, i as u64, &[("x", *v)]).unwrap();
    }
    w.log(run, 99, &[("last_nan", f64::NAN)]).unwrap();
    w.flush().unwrap();
    let got: Vec<f64> = store
        .series(run, "x")
        .unwrap()
        .iter()
        .map(|p| p.value)
        .collect();
    assert!(got[0].is_nan());
    for (g, v) in got.iter().zip(values.iter()).skip(1).take(7) {
        assert_eq!(g.to_bits(), v.to_bits(), "{v}");
    }
    // SQLite stores whole REALs as integers, so -0.0 comes back as +0.0 (equal, sign lost).
    assert_eq!(got[8], 0.0);
    let last = store.last_values(sweep).unwrap();
    assert!(last
        .iter()
        .find(|l| l.metric == "last_nan")
        .unwrap()
        .value
        .is_nan());
    assert_eq!(last.iter().find(|l| l.metric == "x").unwrap().step, 8);
    let exported: Vec<f64> = store
        .export_rows(sweep)
        .unwrap()
        .map(|r| r.unwrap().value)
        .filter(|v| v.is_infinite())
        .collect();
    assert_eq!(exported, [f64::INFINITY, f64::NEG_INFINITY]);
}

#[test]
fn read_api_last_values_names_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let store = Store::open(&path).unwrap();
    let sweep = store.register_sweep("s", "spec", "h").unwrap().id();
    let other = store.register_sweep("other", "spec", "h").unwrap().id();
    let r1 = store.ensure_run(sweep, &new_run("a", 1)).unwrap().id;
    let r2 = store.ensure_run(sweep, &new_run("b", 2)).unwrap().id;
    let r3 = store.ensure_run(other, &new_run("a", 1)).unwrap().id;
    // Small batches and a 3-page export, to cross batch and page boundaries.
    let w = store
        .writer_with(WriterOptions {
            max_batch_rows: 1000,
            ..Default::default()
        })
        .unwrap();
    for step in 0..6000u64 {
        w.log(r1, step, &[("g_loss", step as f64), ("d_loss", 1.0)])
            .unwrap();
        if step < 3000 {
            w.log(r2, step, &[("g_loss", -(step as f64))]).unwrap();
        }
    }
    w.log(r3, 0, &[("fid", 10.0)]).unwrap();
    w.event(r1, "note", "hello").unwrap();
    w.finish_run(r1, Status::Finished, 5999, None).unwrap();
    w.flush().unwrap();

    assert_eq!(store.metric_names(sweep).unwrap(), ["d_loss", "g_loss"]);
    assert_eq!(store.metric_names(other).unwrap(), ["fid"]);
    let last = store.last_values(sweep).unwrap();
    let lv: Vec<(RunId, &str, u64, f64)> = last
        .iter()
        .map(|l| (l.run_id, l.metric.as_str(), l.step, l.value))
        .collect();
    assert_eq!(
        lv,
        [
            (r1, "d_loss", 5999, 1.0),
            (r1, "g_loss", 5999, 5999.0),
            (r2, "g_loss", 2999, -2999.0)
        ]
    );
    let rows: Vec<_> = store
        .export_rows(sweep)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 6000 * 2 + 3000);
    let mut sorted = rows.clone();
    sorted.sort_by_key(|r| (r.run_id, r.metric.clone(), r.step));
    sorted.dedup_by_key(|r| (r.run_id, r.metric.clone(), r.step));
    assert_eq!(sorted.len(), rows.len(), "no row exported twice");
    assert!(rows
        .iter()
        .all(|r| r.sweep == "s" && r.sweep_version == 1 && r.label == "sngan"));
    assert_eq!(
        rows.iter()
            .filter(|r| r.run_id == r2)
            .map(|r| r.seed)
            .next(),
        Some(2)
    );
    let json = serde_json::to_string(&rows[0]).unwrap();
    assert!(json.contains("\"trial_key\":\"a\""), "{json}");
    let d = store.run_details(r1).unwrap();
    assert_eq!((d.run.status, d.run.step), (Status::Finished, 5999));
    assert_eq!(
        d.events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["note", "finished"]
    );
    let sums = store.list_sweeps().unwrap();
    assert_eq!(
        (
            sums[0].runs.finished,
            sums[0].runs.queued,
            sums[1].runs.total()
        ),
        (1, 1, 1)
    );
    assert!(store.series(r1, "nope").unwrap().is_empty());
    assert!(matches!(
        store.export_rows(SweepId(1234)),
        Err(StoreError::NoSuchSweep(_))
    ));
}

#[test]
fn a_bad_message_is_reported_by_flush_and_does_not_take_others_down() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, run) = setup(&db(&dir));
    let w = store.writer().unwrap();
    w.log(run, 1, &[("new_key_a", 1.0)]).unwrap();
    w.log(RunId(4242), 1, &[("new_key_b", 1.0)]).unwrap(); // no such run
    w.log(run, 2, &[("new_key_b", 2.0)]).unwrap();
    let err = w.flush().unwrap_err();
    assert!(
        matches!(&err, StoreError::WriteFailed { failed: 1, first, .. } if first.contains("4242")),
        "{err:?}"
    );
    w.flush().unwrap(); // reported once
    assert_eq!(store.series(run, "new_key_a").unwrap().len(), 1);
    assert_eq!(
        store.series(run, "new_key_b").unwrap().len(),
        1,
        "interning survived the rolled back message"
    );
    w.log(run, 3, &[("new_key_b", 3.0)]).unwrap();
    w.flush().unwrap();
    assert_eq!(store.series(run, "new_key_b").unwrap().len(), 2);
}

#[test]
fn dropping_the_last_writer_handle_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, run) = setup(&db(&dir));
    let w = store
        .writer_with(WriterOptions {
            max_delay: std::time::Duration::from_secs(3600),
            ..Default::default()
        })
        .unwrap();
    let w2 = w.clone();
    std::thread::spawn(move || w2.log(run, 1, &[("a", 1.0)]).unwrap())
        .join()
        .unwrap();
    w.sync().unwrap();
    w.log(run, 2, &[("a", 2.0)]).unwrap();
    drop(w);
    assert_eq!(store.series(run, "a").unwrap().len(), 2);
}

#[test]
fn two_stores_in_two_threads_share_a_file_without_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    const STEPS: u64 = 20_000;
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                // Both open (and migrate) a fresh file at the same time.
                let store = Store::open(&path).unwrap();
                let sweep = store
                    .register_sweep(&format!("s{t}"), "spec", "h")
                    .unwrap()
                    .id();
                let run = store.ensure_run(sweep, &new_run("k", t)).unwrap().id;
                store.claim_run(run, 1000 + t as u32, "h", None).unwrap();
                let w = store
                    .writer_with(WriterOptions {
                        max_batch_rows: 2000,
                        ..Default::default()
                    })
                    .unwrap();
                for step in 0..STEPS {
                    // Shared names race on interning; the run-specific one does not.
                    w.log(
                        run,
                        step,
                        &[("shared", step as f64), (&format!("own{t}") as &str, 1.0)],
                    )
                    .unwrap();
                    if step % 5000 == 0 {
                        store
                            .record_event(run, "tick", "sync write beside the writer")
                            .unwrap();
                    }
                }
                w.finish_run(run, Status::Finished, STEPS - 1, None)
                    .unwrap();
                w.flush().unwrap();
                run
            })
        })
        .collect();
    let runs: Vec<RunId> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let store = Store::open(&path).unwrap();
    assert!(store.integrity_check().unwrap().is_empty());
    assert_eq!(
        count(&store, "SELECT count(*) FROM metrics"),
        2 * 2 * STEPS as i64
    );
    assert_eq!(count(&store, "SELECT count(*) FROM metric_keys"), 3);
    for run in runs {
        assert_eq!(store.series(run, "shared").unwrap().len(), STEPS as usize);
        assert_eq!(store.run(run).unwrap().status, Status::Finished);
    }
}

#[test]
fn many_connections_opening_a_fresh_file_at_once_all_succeed() {
    // Regression: switching to WAL returns SQLITE_BUSY without waiting, and a version check
    // outside one snapshot could mistake a concurrent migration for a foreign database.
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fresh.db");
        let opened: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || Store::open(&path).map(|s| s.schema_version().unwrap()))
            })
            .collect();
        for h in opened {
            assert_eq!(h.join().unwrap().unwrap(), SCHEMA_VERSION);
        }
    }
}

// ---- Tests with child processes ---------------------------------------------------------------
// The test binary re-runs itself with GANBENCH_STORE_CHILD set; `child_process_entry` then acts
// as the child and does nothing in a normal test run.

const CHILD_ENV: &str = "GANBENCH_STORE_CHILD";

fn spawn_child(mode: &str, path: &Path, arg: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{mode}|{}|{arg}", path.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[test]
fn child_process_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.splitn(3, '|');
    let (mode, path, arg) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let store = Store::open(path).unwrap();
    let sweep = store
        .register_sweep(&format!("child-{arg}"), "spec", "h")
        .unwrap()
        .id();
    let run = store.ensure_run(sweep, &new_run("k", 0)).unwrap().id;
    store
        .claim_run(run, std::process::id(), &ganbench_store::host_name(), None)
        .unwrap();
    // Never commits on its own: only flush() does, so "flushed" is exactly what must survive.
    let w = store
        .writer_with(WriterOptions {
            max_batch_rows: usize::MAX,
            max_delay: std::time::Duration::from_secs(3600),
            ..Default::default()
        })
        .unwrap();
    match mode {
        "kill" => {
            for step in 0..1000 {
                w.log(run, step, &[("a", 1.0), ("b", 2.0), ("c", 3.0)])
                    .unwrap();
            }
            w.flush().unwrap();
            for step in 1000..2000 {
                w.log(run, step, &[("a", 1.0), ("b", 2.0), ("c", 3.0)])
                    .unwrap();
            }
            println!("FLUSHED {}", run.0);
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
        "write" => {
            for step in 0..20_000 {
                w.log(run, step, &[("shared", 1.0), ("x", step as f64)])
                    .unwrap();
                if step % 997 == 0 {
                    w.flush().unwrap(); // many commits, interleaved with the other process
                }
            }
            w.finish_run(run, Status::Finished, 19_999, None).unwrap();
            w.flush().unwrap();
            println!("DONE {}", run.0);
        }
        m => panic!("unknown child mode {m}"),
    }
}

/// Reads the child's stdout until `prefix` (the test harness may print before it on the same
/// line), returns the number after it, and keeps draining so that the child never hits a
/// closed pipe.
fn wait_for_line(child: &mut std::process::Child, prefix: &str) -> i64 {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(at) = line.find(prefix) {
            std::thread::spawn(move || lines.for_each(drop));
            return line[at + prefix.len()..].trim().parse().unwrap();
        }
    }
    panic!("child ended without printing {prefix}");
}

#[test]
fn flushed_points_survive_kill_9_and_the_run_becomes_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    drop(Store::open(&path).unwrap());
    let mut child = spawn_child("kill", &path, "k");
    let run = RunId(wait_for_line(&mut child, "FLUSHED "));
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let store = Store::open(&path).unwrap();
    assert!(store.integrity_check().unwrap().is_empty());
    for m in ["a", "b", "c"] {
        let s = store.series(run, m).unwrap();
        assert_eq!(s.len(), 1000, "exactly the flushed points of {m}");
        assert_eq!(s.last().unwrap().step, 999);
    }
    assert_eq!(store.run(run).unwrap().status, Status::Running);
    let n = store
        .mark_orphans_interrupted(&ganbench_store::host_name(), ganbench_store::pid_is_alive)
        .unwrap();
    assert_eq!(n, 1);
    let r = store.run(run).unwrap();
    assert_eq!((r.status, r.step), (Status::Interrupted, 999));
}

#[test]
fn two_processes_writing_one_file_do_not_corrupt_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut children: Vec<_> = (0..2)
        .map(|i| spawn_child("write", &path, &i.to_string()))
        .collect();
    let runs: Vec<i64> = children
        .iter_mut()
        .map(|c| wait_for_line(c, "DONE "))
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let store = Store::open(&path).unwrap();
    assert!(store.integrity_check().unwrap().is_empty());
    assert_eq!(
        count(&store, "SELECT count(*) FROM metrics"),
        2 * 2 * 20_000
    );
    for run in runs {
        let r = store.run(RunId(run)).unwrap();
        assert_eq!((r.status, r.step), (Status::Finished, 19_999));
        assert_eq!(store.series(RunId(run), "x").unwrap().len(), 20_000);
    }
}

#[test]
fn tags_and_notes_stay_with_their_run_and_deleting_a_sweep_takes_everything_of_it_only() {
    use ganbench_store::Target;
    let dir = tempfile::tempdir().unwrap();
    let (store, sweep, run) = setup(&db(&dir));
    let other = store.register_sweep("other", "spec", "h2").unwrap().id();
    let kept = store.ensure_run(other, &new_run("t0", 0)).unwrap().id;
    let w = store.writer().unwrap();
    for r in [run, kept] {
        w.log(r, 1, &[("loss", 1.0), ("modes", 8.0)]).unwrap();
    }
    w.flush().unwrap();
    store.record_event(run, "note", "x").unwrap();

    let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        store
            .add_tags(Target::Run(run), &tags(&["good", "fig2"]))
            .unwrap(),
        2
    );
    assert_eq!(
        store.add_tags(Target::Run(run), &tags(&["good"])).unwrap(),
        0
    );
    assert_eq!(
        store
            .add_tags(Target::Sweep(sweep), &tags(&["baseline"]))
            .unwrap(),
        1
    );
    assert_eq!(
        store.add_tags(Target::Run(kept), &tags(&["good"])).unwrap(),
        1
    );
    let err = store
        .add_tags(Target::Run(run), &tags(&["two words"]))
        .unwrap_err();
    assert!(matches!(err, StoreError::BadAnnotation(_)), "{err}");
    assert!(store
        .add_tags(Target::Run(RunId(999)), &tags(&["x"]))
        .is_err());
    store
        .add_note(Target::Run(run), "collapsed\nat step 3")
        .unwrap();
    store
        .add_note(Target::Sweep(sweep), "the baseline")
        .unwrap();
    assert!(store.add_note(Target::Run(run), "esc \u{1b}[2J").is_err());

    let a = store.annotations(sweep).unwrap();
    assert_eq!(a.sweep_tags, ["baseline"]);
    assert_eq!(a.tags_of(run), ["fig2", "good"]);
    assert_eq!(
        a.notes_of(run).map(|n| n.text.as_str()).collect::<Vec<_>>(),
        ["collapsed\nat step 3"]
    );
    assert_eq!(a.sweep_notes().count(), 1);
    assert_eq!(
        store
            .remove_tags(Target::Run(run), &tags(&["fig2", "nope"]))
            .unwrap(),
        1
    );
    let listed = store.list_sweeps().unwrap();
    assert_eq!(listed[0].tags, ["baseline"]);
    assert!(listed[1].tags.is_empty());

    store.set_archived(sweep, true).unwrap();
    assert!(store.archived_at(sweep).unwrap().is_some());
    store.set_archived(sweep, false).unwrap();
    assert_eq!(store.archived_at(sweep).unwrap(), None);

    // A run claimed by a live process (this one) blocks the delete; nothing is removed.
    store
        .claim_run(run, std::process::id(), &ganbench_store::host_name(), None)
        .unwrap();
    let err = store.delete_sweep(sweep).unwrap_err();
    assert!(matches!(err, StoreError::SweepRunning(..)), "{err}");
    assert_eq!(count(&store, "SELECT count(*) FROM metrics"), 4);
    store.finish_run(run, Status::Finished, 1, None).unwrap();

    let deleted = store.delete_sweep(sweep).unwrap();
    assert_eq!((deleted.runs, deleted.points), (1, 2));
    for (table, left) in [
        ("sweeps", 1),
        ("runs", 1),
        ("metrics", 2),
        ("tags", 1),
        ("notes", 0),
        ("events", 0),
    ] {
        assert_eq!(
            count(&store, &format!("SELECT count(*) FROM {table}")),
            left,
            "{table}"
        );
    }
    assert_eq!(store.runs(other).unwrap()[0].id, kept);
    assert_eq!(store.annotations(other).unwrap().tags_of(kept), ["good"]);
}

#[test]
fn a_version_2_database_gains_empty_tags_and_notes_and_keeps_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    {
        let v2 = Store::open_at_schema_version(&path, 2).unwrap();
        let sweep = v2.register_sweep("s", "spec", "h1").unwrap().id();
        v2.ensure_run(sweep, &new_run("t0", 0)).unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let sweep = store.list_sweeps().unwrap().remove(0);
    assert_eq!(
        (sweep.runs.total(), sweep.archived_at_ms, sweep.tags.len()),
        (1, None, 0)
    );
    assert_eq!(store.annotations(sweep.id).unwrap(), Default::default());
}
