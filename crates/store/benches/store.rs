//! Store benchmarks (run with `cargo bench -p ganbench-store`; plain `main`, prints numbers).
//!
//! 1. Points per second through the batched writer (target > 1,000,000).
//! 2. Time the training thread spends in `Writer::log` per step with 6 metrics, at a training
//!    pace, compared with a ~25 ms toy training step (target < 1%, i.e. < 250 µs).
//! 3. The metrics table WITHOUT ROWID against an ordinary rowid table: insert rate, file size,
//!    series read.
//! 4. Read queries of the report on a sweep of 20 runs × 8 metrics × 5000 steps.

use std::path::Path;
use std::time::{Duration, Instant};

use ganbench_store::{NewRun, RunId, Store, SweepId, Writer};

const NAMES: [&str; 8] = [
    "d_loss",
    "g_loss",
    "d_real",
    "d_fake",
    "grad_norm",
    "lr",
    "modes",
    "kl",
];

fn runs(store: &Store, sweep: SweepId, n: usize) -> Vec<RunId> {
    (0..n)
        .map(|i| {
            let key = format!("trial-{i}");
            let nr = NewRun {
                trial_key: &key,
                label: "v",
                plugin: "gan",
                params_json: "{}",
                seed: i as u64,
                build_id: "b",
                total_steps: None,
            };
            store.ensure_run(sweep, &nr).unwrap().id
        })
        .collect()
}

fn fresh(dir: &Path, name: &str) -> (Store, SweepId) {
    let store = Store::open(dir.join(name)).unwrap();
    let sweep = store.register_sweep(name, "spec", "h").unwrap().id();
    (store, sweep)
}

/// CPU seconds used so far by this process's threads whose name starts with `prefix` (Linux;
/// `None` elsewhere). On a shared machine the writer's CPU time is a steadier measure than the
/// wall clock: it is what the rate would be with a core to itself.
fn thread_cpu_seconds(prefix: &str) -> Option<f64> {
    let mut total = 0.0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let task = task.ok()?.path();
        let comm = std::fs::read_to_string(task.join("comm")).ok()?;
        if !comm.trim().starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.join("stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // utime and stime, fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        total += ticks / 100.0;
    }
    Some(total)
}

fn throughput(dir: &Path, producers: usize) {
    let (store, sweep) = fresh(dir, &format!("throughput{producers}.db"));
    let runs = runs(&store, sweep, producers);
    let w = store.writer().unwrap();
    let steps = 600_000 / producers as u64;
    let cpu0 = thread_cpu_seconds("ganbench-store");
    let start = Instant::now();
    std::thread::scope(|s| {
        for &run in &runs {
            let w = w.clone();
            s.spawn(move || {
                for step in 0..steps {
                    let v = step as f64;
                    w.log(
                        run,
                        step,
                        &[
                            (NAMES[0], v),
                            (NAMES[1], v),
                            (NAMES[2], v),
                            (NAMES[3], v),
                            (NAMES[4], v),
                            (NAMES[5], v),
                        ],
                    )
                    .unwrap();
                }
            });
        }
    });
    let sent = start.elapsed();
    w.flush().unwrap();
    let total = start.elapsed();
    let cpu = thread_cpu_seconds("ganbench-store")
        .zip(cpu0)
        .map(|(b, a)| b - a);
    let points = steps * 6 * producers as u64;
    let n: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM metrics", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n as u64, points);
    println!(
        "writer throughput, {producers} producer thread(s): {points} points in {:.2} s = {:.2} M points/s (sending took {:.2} s); \
         per CPU-second of the writer thread: {}",
        total.as_secs_f64(),
        points as f64 / total.as_secs_f64() / 1e6,
        sent.as_secs_f64(),
        cpu.map_or("n/a".to_owned(), |c| format!("{:.2} M points/s ({c:.2} s CPU)", points as f64 / c / 1e6)),
    );
}

fn caller_cost(dir: &Path) {
    let (store, sweep) = fresh(dir, "caller.db");
    let run = runs(&store, sweep, 1)[0];
    let w: Writer = store.writer().unwrap();
    // A "training step" of 200 µs of spinning: much faster than a real one (25 ms), so the
    // writer commits often relative to steps; the time inside log() is what we measure.
    let step_work = Duration::from_micros(200);
    let mut times = Vec::with_capacity(20_000);
    for step in 0..20_000u64 {
        let t = Instant::now();
        while t.elapsed() < step_work {
            std::hint::spin_loop();
        }
        let v = step as f64 * 1e-3;
        let t = Instant::now();
        w.log(
            run,
            step,
            &[
                ("d_loss", v),
                ("g_loss", v),
                ("d_real", v),
                ("d_fake", v),
                ("grad_norm", v),
                ("lr", v),
            ],
        )
        .unwrap();
        times.push(t.elapsed());
    }
    w.flush().unwrap();
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = times.iter().map(|d| us(*d)).sum::<f64>() / times.len() as f64;
    let p = |q: f64| us(times[((times.len() - 1) as f64 * q) as usize]);
    println!(
        "log() with 6 metrics, per call: mean {mean:.2} µs, p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.1} µs; mean = {:.4}% of a 25 ms step",
        p(0.5),
        p(0.99),
        p(0.999),
        us(*times.last().unwrap()),
        mean / 25_000.0 * 100.0
    );
}

fn table_layout(dir: &Path, without_rowid: bool, foreign_keys: bool) {
    let (store, sweep) = fresh(dir, &format!("layout{without_rowid}{foreign_keys}.db"));
    let runs = runs(&store, sweep, 20);
    let c = store.connection();
    c.execute_batch(&format!(
        "DROP TABLE metrics; CREATE TABLE metrics (run_id INTEGER NOT NULL REFERENCES runs(id), key_id INTEGER NOT NULL, step INTEGER NOT NULL,
         value REAL, wall_ms INTEGER NOT NULL, PRIMARY KEY (run_id, key_id, step)){};
         INSERT INTO metric_keys (id, name) VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d'),(5,'e'),(6,'f');",
        if without_rowid { " WITHOUT ROWID" } else { "" }
    ))
    .unwrap();
    c.pragma_update(None, "foreign_keys", foreign_keys).unwrap();
    // Six metrics per step, 20 runs training side by side (interleaved like a real sweep).
    let steps = 25_000i64;
    let start = Instant::now();
    let mut st = c
        .prepare_cached("INSERT OR REPLACE INTO metrics VALUES (?1, ?2, ?3, ?4, ?5)")
        .unwrap();
    for chunk in 0..(steps / 1000) {
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        for step in chunk * 1000..(chunk + 1) * 1000 {
            for run in &runs {
                for key in 1..=6i64 {
                    st.execute(rusqlite::params![
                        run.0,
                        key,
                        step,
                        step as f64 * 0.5,
                        1_700_000_000_000i64
                    ])
                    .unwrap();
                }
            }
        }
        c.execute_batch("COMMIT").unwrap();
    }
    drop(st);
    let t = start.elapsed();
    let points = steps as f64 * 6.0 * runs.len() as f64;
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    let size = std::fs::metadata(store.path()).unwrap().len();
    let start = Instant::now();
    let mut read = 0;
    for run in &runs {
        read += store.series(*run, "c").unwrap().len();
    }
    let series = start.elapsed() / runs.len() as u32;
    assert_eq!(read, steps as usize * runs.len());
    println!(
        "metrics {:<13} fk {:<3}: insert {:.2} M rows/s, file {:.1} MB ({:.1} B/point), series of {steps} points {:.2} ms",
        if without_rowid { "WITHOUT ROWID" } else { "rowid" },
        if foreign_keys { "on" } else { "off" },
        points / t.as_secs_f64() / 1e6,
        size as f64 / 1e6,
        size as f64 / points,
        series.as_secs_f64() * 1e3
    );
}

fn queries(dir: &Path) {
    let (store, sweep) = fresh(dir, "queries.db");
    let runs = runs(&store, sweep, 20);
    let w = store.writer().unwrap();
    for step in 0..5000u64 {
        for &run in &runs {
            let pts: Vec<(&str, f64)> = NAMES.iter().map(|n| (*n, step as f64)).collect();
            w.log(run, step, &pts).unwrap();
        }
    }
    w.flush().unwrap();
    let time = |what: &str, f: &mut dyn FnMut() -> usize| {
        let start = Instant::now();
        let n = f();
        println!(
            "query {what:<42} {n:>7} rows in {:>8.2} ms",
            start.elapsed().as_secs_f64() * 1e3
        );
    };
    println!("sweep of 20 runs × 8 metrics × 5000 steps = 800,000 points:");
    time("last_values (final-metric table)", &mut || {
        store.last_values(sweep).unwrap().len()
    });
    time("metric_names", &mut || {
        store.metric_names(sweep).unwrap().len()
    });
    time("series of one run and metric", &mut || {
        store.series(runs[7], "g_loss").unwrap().len()
    });
    time("series of one metric for all 20 runs", &mut || {
        runs.iter()
            .map(|r| store.series(*r, "g_loss").unwrap().len())
            .sum()
    });
    time("runs", &mut || store.runs(sweep).unwrap().len());
    time("export_rows (all points)", &mut || {
        let mut n = 0;
        for row in store.export_rows(sweep).unwrap() {
            std::hint::black_box(row.unwrap());
            n += 1;
        }
        n
    });
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    println!(
        "ganbench-store benchmarks ({} CPUs)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // `cargo bench -p ganbench-store -- NAME` runs only the sections whose name contains NAME.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let on = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    if on("throughput") {
        throughput(d, 1);
        throughput(d, 2);
    }
    if on("caller") {
        caller_cost(d);
    }
    if on("layout") {
        for (without_rowid, fk) in [(true, true), (true, false), (false, true)] {
            table_layout(d, without_rowid, fk);
        }
    }
    if on("queries") {
        queries(d);
    }
}
