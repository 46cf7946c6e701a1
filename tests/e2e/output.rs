//! End to end: output and messages. A closed stdout (`| head`) ends every printing command
//! quietly; the reading commands work on a read-only database (file and folder); a database
//! whose tables were changed is refused before anything is written; messages name only commands
//! that exist, say each cause once, and input errors exit 2.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::*;

/// A database with one finished two-trial sweep `tiny` (runs 1 and 2), in `dir/db/`.
fn tiny_database(dir: &Path) -> (PathBuf, PathBuf) {
    let sweep = dir.join("tiny.ron");
    std::fs::write(
        &sweep,
        r#"Sweep(name: "tiny", data: "ring8", steps: 4, eval_every: 2, eval_samples: 50, seeds: 2,
    base: {"batch_size": 8, "hidden": 4}, variants: [(plugin: "gan")])"#,
    )
    .unwrap();
    let db = dir.join("db").join("ganbench.sqlite");
    let (code, _, stderr) = run_sweep(&sweep, &db, &[]);
    assert_eq!(code, 0, "{stderr}");
    (sweep, db)
}

/// How the reader of a command's stdout goes away.
#[derive(Debug, Clone, Copy)]
enum Reader {
    /// Closes the pipe before the command writes anything.
    GoneAtOnce,
    /// Reads one line, then closes it (`| head -1`).
    ReadsOneLine,
}

/// Runs `args` with stdout going to a reader that leaves early; returns (exit code, stderr).
fn with_early_exit(args: &[String], reader: Reader) -> (i32, String) {
    let mut child = ganbench()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    if let Reader::ReadsOneLine = reader {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
    } else {
        drop(stdout);
    }
    let (code, _, stderr) = split(child.wait_with_output().unwrap());
    (code, stderr)
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = tiny_database(dir.path());
    let db = db.to_str().unwrap().to_string();
    let out = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (real, fake) = (out("real.npy"), out("fake.npy"));
    let rows: Vec<f32> = (0..200).map(|i| (i as f32 * 0.37).sin()).collect();
    ganbench_data::npy::write_npy(Path::new(&real), &rows, &[100, 2]).unwrap();
    ganbench_data::npy::write_npy(Path::new(&fake), &rows[..], &[100, 2]).unwrap();
    let sweep = dir.path().join("tiny.ron");
    let mut fresh_databases = 0;
    let mut fresh_run = || {
        // `run` needs a sweep it has not finished yet: a new database each time.
        fresh_databases += 1;
        vec![
            "run".to_string(),
            sweep.to_str().unwrap().to_string(),
            "--db".into(),
            out(&format!("run{fresh_databases}.sqlite")),
            "--no-report".into(),
        ]
    };
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<String>>();
    for reader in [Reader::GoneAtOnce, Reader::ReadsOneLine] {
        let mut commands: Vec<Vec<String>> = vec![
            s(&["plugins"]),
            s(&["plugins", "--json"]),
            s(&["doctor"]),
            s(&["doctor", "--json"]),
            s(&["ls", "--db", &db]),
            s(&["ls", "--json", "--db", &db]),
            s(&["ls", "tiny", "--db", &db]),
            s(&["ls", "tiny", "--json", "--db", &db]),
            s(&["show", "1", "--db", &db]),
            s(&["show", "1", "--json", "--db", &db]),
            s(&["export", "tiny", "--db", &db]),
            s(&["export", "tiny", "--format", "jsonl", "--db", &db]),
            s(&["report", "tiny", "--db", &db, "--out", &out("r1")]),
            s(&["report", "tiny", "--json", "--db", &db, "--out", &out("r2")]),
            s(&[
                "compare",
                "1",
                "2",
                "--json",
                "--db",
                &db,
                "--out",
                &out("r3"),
            ]),
            s(&["metrics", "--real", &real, "--fake", &fake]),
            s(&["metrics", "--real", &real, "--fake", &fake, "--json"]),
            s(&[
                "train",
                "--plugin",
                "gan",
                "--steps",
                "4",
                "--eval-every",
                "2",
                "--eval-samples",
                "50",
            ]),
            s(&[
                "train",
                "--plugin",
                "gan",
                "--steps",
                "4",
                "--eval-samples",
                "50",
                "--json",
            ]),
        ];
        commands.push(s(&["completions", "bash"]));
        commands.push(s(&["man"]));
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/sdk");
        commands.push(s(&[
            "plugin",
            "new",
            "quiet",
            "--dir",
            &out(&format!("plugin-{reader:?}")),
            "--sdk",
            sdk.to_str().unwrap(),
        ]));
        commands.push(fresh_run());
        let mut json_run = fresh_run();
        json_run.push("--json".into());
        commands.push(json_run);
        for args in &commands {
            let (code, stderr) = with_early_exit(args, reader);
            assert_eq!(code, 0, "{args:?} ({reader:?}): {stderr}");
            assert!(
                !stderr.contains("panicked") && !stderr.contains("error:"),
                "{args:?} ({reader:?}): {stderr}"
            );
        }
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A command that cannot write where it has no permission: as root (which writes anywhere),
/// it runs as `nobody`.
fn unprivileged(args: &[&str]) -> (i32, String, String) {
    let mut cmd: Command = ganbench();
    cmd.args(args);
    // SAFETY: geteuid takes no arguments, cannot fail and touches no memory of ours.
    if unsafe { libc::geteuid() } == 0 {
        // SAFETY: `pre_exec`'s closure runs in the forked child before exec, where only
        // async-signal-safe work is allowed: it calls setgroups, setgid and setuid (plain system
        // calls; the child has a single thread) with a null list of length 0 and constant ids,
        // and allocates nothing except the error on failure, which ends the child.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(65534) != 0
                    || libc::setuid(65534) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    split(cmd.output().unwrap())
}

/// The file and its write-ahead log (missing: empty), byte for byte.
fn contents(db: &Path) -> (Vec<u8>, Vec<u8>) {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    (
        std::fs::read(db).unwrap(),
        std::fs::read(wal).unwrap_or_default(),
    )
}

/// Every reading command on `db` (read-only, in a read-only folder) succeeds and writes nothing;
/// `ls tiny` shows `label`.
fn read_commands_work(db: &Path, writable: &Path, label: &str) {
    let before = contents(db);
    let files_before: Vec<_> = std::fs::read_dir(db.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let db_arg = db.to_str().unwrap();
    let out = |name: &str| writable.join(name).to_str().unwrap().to_string();
    let (r1, r2) = (out("report"), out("compare"));
    let commands: Vec<Vec<&str>> = vec![
        vec!["ls", "--db", db_arg],
        vec!["ls", "tiny", "--db", db_arg],
        vec!["show", "1", "--db", db_arg],
        vec!["show", "2", "--json", "--db", db_arg],
        vec!["export", "tiny", "--db", db_arg],
        vec!["export", "tiny", "--format", "jsonl", "--db", db_arg],
        vec!["report", "tiny", "--db", db_arg, "--out", &r1],
        vec!["compare", "tiny", "1", "--db", db_arg, "--out", &r2],
    ];
    for args in &commands {
        let (code, stdout, stderr) = unprivileged(args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        if args[..2] == ["ls", "tiny"] {
            assert!(stdout.contains(label), "{stdout}");
        }
    }
    assert!(before == contents(db), "the database changed");
    let files_after: Vec<_> = std::fs::read_dir(db.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files_before, files_after);
    assert!(writable.join("report/index.html").exists());
}

#[test]
fn the_reading_commands_work_on_a_read_only_database() {
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o755);
    let (_, db) = tiny_database(dir.path());
    let writable = dir.path().join("out");
    std::fs::create_dir(&writable).unwrap();
    chmod(&writable, 0o777);

    // A cleanly closed WAL database: no -wal or -shm file, which a read-only folder cannot get.
    let folder = db.parent().unwrap().to_path_buf();
    chmod(&db, 0o444);
    chmod(&folder, 0o555);
    read_commands_work(&db, &writable, "gan");

    // A copy taken while a writer had changes only in its write-ahead log (and its -shm index).
    let live = dir.path().join("live");
    std::fs::create_dir(&live).unwrap();
    std::fs::copy(&db, live.join("ganbench.sqlite")).unwrap();
    chmod(&live.join("ganbench.sqlite"), 0o644);
    let conn = rusqlite::Connection::open(live.join("ganbench.sqlite")).unwrap();
    conn.execute_batch(
        "PRAGMA wal_autocheckpoint = 0; UPDATE runs SET label = 'relabelled in the log';",
    )
    .unwrap();
    let frozen = dir.path().join("frozen");
    std::fs::create_dir(&frozen).unwrap();
    for name in [
        "ganbench.sqlite",
        "ganbench.sqlite-wal",
        "ganbench.sqlite-shm",
    ] {
        std::fs::copy(live.join(name), frozen.join(name)).unwrap();
        chmod(&frozen.join(name), 0o444);
    }
    drop(conn);
    assert!(
        std::fs::metadata(frozen.join("ganbench.sqlite-wal"))
            .unwrap()
            .len()
            > 0
    );
    chmod(&frozen, 0o555);
    read_commands_work(
        &frozen.join("ganbench.sqlite"),
        &writable,
        "relabelled in the log",
    );

    // A file of an older schema is upgraded where it can be, and refused where it cannot.
    let old = dir.path().join("old");
    std::fs::create_dir(&old).unwrap();
    chmod(&old, 0o777);
    let old_db = old.join("v1.sqlite");
    drop(ganbench_store::Store::open_at_schema_version(&old_db, 1).unwrap());
    chmod(&old_db, 0o444);
    chmod(&old, 0o555);
    let (code, _, stderr) = unprivileged(&["ls", "--db", old_db.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("has schema version 1") && stderr.contains("writable"),
        "{stderr}"
    );
    chmod(&old, 0o755);
    chmod(&old_db, 0o644);
    let (code, stdout, stderr) = run(&["ls", "--db", old_db.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("no sweeps"), "{stdout}");

    // Let the temporary folder be removed.
    chmod(&folder, 0o755);
    chmod(&frozen, 0o755);
}

#[test]
fn a_database_with_a_missing_or_altered_table_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (sweep, db) = tiny_database(dir.path());
    for (sql, problem) in [
        ("DROP TABLE events", "table `events` is missing"),
        (
            "ALTER TABLE metrics RENAME COLUMN value TO v",
            "table `metrics` has no column `value`",
        ),
    ] {
        let copy = dir.path().join("broken.sqlite");
        std::fs::copy(&db, &copy).unwrap();
        let conn = rusqlite::Connection::open(&copy).unwrap();
        conn.execute_batch(sql).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        drop(conn);
        let before = contents(&copy);
        let copy_arg = copy.to_str().unwrap();
        for args in [
            vec!["ls", "--db", copy_arg],
            vec!["show", "1", "--db", copy_arg],
            vec![
                "run",
                sweep.to_str().unwrap(),
                "--db",
                copy_arg,
                "--no-report",
                "--new-version",
            ],
        ] {
            let (code, _, stderr) = run(&args);
            assert_eq!(code, 2, "{args:?}: {stderr}");
            assert!(
                stderr.contains(copy_arg) && stderr.contains(problem),
                "{args:?}: {stderr}"
            );
        }
        assert!(before == contents(&copy), "{sql}: the file was written to");
        std::fs::remove_file(&copy).unwrap();
    }
}

#[test]
fn messages_name_existing_commands_say_each_cause_once_and_input_errors_exit_2() {
    // Every `ganbench WORD` in the sources names a subcommand (hidden ones included).
    let (_, help, _) = run(&["--help"]);
    let mut commands: Vec<String> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    commands.extend(["worker".to_string(), "probe-plugin".to_string()]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("src")];
    files.extend(
        std::fs::read_dir(root.join("crates"))
            .unwrap()
            .map(|e| e.unwrap().path().join("src")),
    );
    let mut named = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, _) in text.match_indices("`ganbench ") {
                let word: String = text[i + 10..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                    .collect();
                // Options (`ganbench --help`) are not commands.
                if !word.starts_with('-') {
                    named.push((path.clone(), word));
                }
            }
        }
    }
    assert!(named.len() > 20, "the scan found {} mentions", named.len());
    let unknown: Vec<_> = named
        .iter()
        .filter(|(_, word)| !commands.contains(word))
        .collect();
    assert!(
        unknown.is_empty(),
        "messages name commands that do not exist: {unknown:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let (_, db) = tiny_database(dir.path());
    let db_arg = db.to_str().unwrap();
    let (code, _, stderr) = run(&["show", "999", "--db", db_arg]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`ganbench ls"), "{stderr}");

    // A folder given as the database is named as such.
    let (code, _, stderr) = run(&["ls", "--db", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("it is a folder"), "{stderr}");
    // A database that cannot be created: SQLite's reason once, not three times.
    chmod(dir.path(), 0o755);
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    chmod(&locked, 0o555);
    let new_db = locked.join("new.sqlite");
    let sweep = dir.path().join("tiny.ron");
    let (code, _, stderr) = unprivileged(&[
        "run",
        sweep.to_str().unwrap(),
        "--db",
        new_db.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(
        stderr.matches("unable to open database file").count(),
        1,
        "{stderr}"
    );
    assert!(!new_db.exists());

    let missing = dir.path().join("no/such/folder/out.csv");
    let (code, _, stderr) = run(&[
        "export",
        "tiny",
        "--db",
        db_arg,
        "--out",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--out"), "{stderr}");
    let (code, _, stderr) = run(&["plugins", "--plugin-dir", "/no/such/plugins"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run(&["run", "--max-trials", "many", "x.ron"]);
    assert_eq!(code, 2, "a usage error: {stderr}");
}
