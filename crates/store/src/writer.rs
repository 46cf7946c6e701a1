//! The batched writer: one thread owning its own connection, fed through a bounded channel,
//! committing many rows per transaction. The training thread only allocates a message and
//! sends it (see benches/store.rs for the cost).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, Statement, Transaction, TransactionBehavior};

use crate::error::{AtPath, Result, StoreError};
use crate::types::{RunId, Status};
use crate::write::{finish_run_in, insert_artifact, insert_event};
use crate::{now_ms, schema, value_to_sql};

/// Tuning of a [`Writer`].
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Commit when this many rows are buffered. Bigger batches amortize the commit; the
    /// default keeps a batch's write lock well under a second.
    pub max_batch_rows: usize,
    /// Commit at most this long after the first buffered message, so that `ganbench ls`
    /// and the report see fresh numbers even when nothing calls `flush`.
    pub max_delay: Duration,
    /// Capacity of the channel in messages (one `log` call is one message). When the writer
    /// falls this far behind, `log` blocks instead of growing memory without bound.
    pub channel_capacity: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            max_batch_rows: 20_000,
            max_delay: Duration::from_millis(200),
            channel_capacity: 16_384,
        }
    }
}

enum Msg {
    Metrics {
        run: RunId,
        step: u64,
        wall_ms: i64,
        points: Vec<(Box<str>, f64)>,
    },
    Event {
        run: RunId,
        at: i64,
        kind: String,
        message: String,
    },
    Artifact {
        run: RunId,
        step: u64,
        kind: String,
        path: String,
    },
    Status {
        run: RunId,
        status: Status,
        at: i64,
    },
    Finish {
        run: RunId,
        status: Status,
        step: u64,
        error: Option<String>,
        at: i64,
    },
    Flush {
        durable: bool,
        ack: SyncSender<Result<()>>,
    },
}

impl Msg {
    fn rows(&self) -> usize {
        match self {
            Msg::Metrics { points, .. } => points.len(),
            _ => 1,
        }
    }
}

/// Handle to the batched writer: cheap to clone (an `Arc`) and to send to other threads.
///
/// Messages from one thread are applied in the order sent, so a `finish_run` sent after the
/// last `log` lands after it. Errors of individual messages (e.g. an unknown run id) do not stop
/// the writer: the message is dropped and the next [`Writer::flush`] returns
/// [`StoreError::WriteFailed`]. When the last clone is dropped, the thread commits what it has
/// and exits (the drop waits for that); call `flush` first to see errors as values.
#[derive(Clone)]
pub struct Writer {
    inner: Arc<Inner>,
}

struct Inner {
    tx: Option<SyncSender<Msg>>,
    /// The writer thread, to unpark it on flush.
    worker: Thread,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.tx.take()); // disconnects the channel: the thread drains, commits, exits
        self.worker.unpark(); // now, not at the end of its doze
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Writer {
    pub(crate) fn open(path: &Path, options: WriterOptions) -> Result<Writer> {
        let conn = schema::open(path)?;
        // Why foreign keys off on this connection: checking two parents per metric row halves
        // the insert rate (benches/store.rs). The writer checks run ids itself (once per run,
        // see `known_runs`) and key ids come from its own interning, so no orphan row can be
        // written; other connections keep foreign keys on, so cascading deletes still work.
        conn.pragma_update(None, "foreign_keys", false).at(path)?;
        // A larger page cache keeps the b-tree pages of the runs being logged hot.
        conn.pragma_update(None, "cache_size", -32_768).at(path)?;
        let (tx, rx) = mpsc::sync_channel(options.channel_capacity.max(1));
        let mut worker = Worker {
            conn,
            path: path.to_path_buf(),
            options,
            keys: HashMap::new(),
            new_keys: Vec::new(),
            known_runs: HashSet::new(),
            failed: 0,
            first_error: None,
        };
        let thread = std::thread::Builder::new()
            .name("ganbench-store-writer".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                source: Box::new(e),
            })?;
        let worker = thread.thread().clone();
        Ok(Writer {
            inner: Arc::new(Inner {
                tx: Some(tx),
                worker,
                thread: Some(thread),
                path: path.to_path_buf(),
            }),
        })
    }

    fn send(&self, msg: Msg) -> Result<()> {
        let gone = || StoreError::WriterGone {
            path: self.inner.path.clone(),
        };
        self.inner
            .tx
            .as_ref()
            .ok_or_else(gone)?
            .send(msg)
            .map_err(|_| gone())
    }

    /// Queues the metrics of one step of a run; `wall_ms` is taken now. Values may be NaN or
    /// ±inf. Blocks only if the writer is `channel_capacity` messages behind.
    pub fn log<S: AsRef<str>>(&self, run: RunId, step: u64, metrics: &[(S, f64)]) -> Result<()> {
        let points = metrics
            .iter()
            .map(|(k, v)| (Box::from(k.as_ref()), *v))
            .collect();
        self.send(Msg::Metrics {
            run,
            step,
            wall_ms: now_ms(),
            points,
        })
    }

    /// Queues an event of a run.
    pub fn event(&self, run: RunId, kind: &str, message: &str) -> Result<()> {
        self.send(Msg::Event {
            run,
            at: now_ms(),
            kind: kind.to_owned(),
            message: message.to_owned(),
        })
    }

    /// Queues an artifact of a run.
    pub fn artifact(&self, run: RunId, step: u64, kind: &str, path: &str) -> Result<()> {
        self.send(Msg::Artifact {
            run,
            step,
            kind: kind.to_owned(),
            path: path.to_owned(),
        })
    }

    /// Queues a status change (as [`crate::Store::set_status`]).
    pub fn set_status(&self, run: RunId, status: Status) -> Result<()> {
        self.send(Msg::Status {
            run,
            status,
            at: now_ms(),
        })
    }

    /// Queues the end of a run (as [`crate::Store::finish_run`]), ordered after its metrics.
    pub fn finish_run(
        &self,
        run: RunId,
        status: Status,
        step: u64,
        error: Option<&str>,
    ) -> Result<()> {
        self.send(Msg::Finish {
            run,
            status,
            step,
            error: error.map(str::to_owned),
            at: now_ms(),
        })
    }

    /// Waits until everything sent before this call (from any thread) is committed: it then
    /// survives a kill of the process. Returns the errors of messages dropped since the last
    /// flush, if any.
    pub fn flush(&self) -> Result<()> {
        self.flush_inner(false)
    }

    /// Like [`Writer::flush`], then fsyncs the database files, so the data also survives an OS
    /// crash or power cut. Costs a disk sync (milliseconds): call it at checkpoints, not per step.
    pub fn sync(&self) -> Result<()> {
        self.flush_inner(true)
    }

    fn flush_inner(&self, durable: bool) -> Result<()> {
        let (ack, done) = mpsc::sync_channel(1);
        self.send(Msg::Flush { durable, ack })?;
        self.inner.worker.unpark();
        done.recv().map_err(|_| StoreError::WriterGone {
            path: self.inner.path.clone(),
        })?
    }
}

/// How long the writer dozes at most while a batch is open. Short enough that a full channel
/// (`channel_capacity` messages) is drained long before producers could notice.
const POLL: Duration = Duration::from_millis(5);

/// Messages received but not yet committed.
struct Batch {
    msgs: Vec<Msg>,
    rows: usize,
    opened: Instant,
}

struct Worker {
    conn: Connection,
    path: PathBuf,
    options: WriterOptions,
    /// Interned metric names. Entries added inside a transaction that rolls back are removed
    /// again (`new_keys`), because their ids were never committed.
    keys: HashMap<Box<str>, i64>,
    new_keys: Vec<Box<str>>,
    /// Run ids known to exist (runs are never deleted through this API).
    known_runs: HashSet<i64>,
    failed: usize,
    first_error: Option<String>,
}

/// The statements of one batch, prepared once per transaction.
struct Stmts<'c> {
    metric: Statement<'c>,
    /// [`CHUNK`] rows per statement: SQLite's per-statement overhead dominates single-row inserts.
    metric_chunk: Statement<'c>,
    key_insert: Statement<'c>,
    key_select: Statement<'c>,
    run_exists: Statement<'c>,
    progress: Statement<'c>,
    status: Statement<'c>,
}

impl Worker {
    /// The loop. While no batch is open it blocks on the channel (one wake-up per batch).
    /// While a batch is open it drains the channel without blocking and otherwise dozes with
    /// `park_timeout`, so that `log` never has to wake this thread: sending is then an
    /// allocation and an atomic push, no system call. `flush` unparks it.
    fn run(&mut self, rx: Receiver<Msg>) {
        let mut batch = Batch {
            msgs: Vec::new(),
            rows: 0,
            opened: Instant::now(),
        };
        'outer: loop {
            if batch.msgs.is_empty() {
                match rx.recv() {
                    Ok(m) => self.handle(&mut batch, m),
                    Err(_) => break,
                }
            }
            loop {
                match rx.try_recv() {
                    Ok(m) => self.handle(&mut batch, m),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => break 'outer,
                }
            }
            if batch.msgs.is_empty() {
                continue;
            }
            let due = batch.opened + self.options.max_delay;
            let now = Instant::now();
            if now >= due {
                self.commit(&mut batch);
            } else {
                std::thread::park_timeout((due - now).min(POLL));
            }
        }
        self.commit(&mut batch);
        if let Err(e) = self.take_errors() {
            // Last resort: nobody is left to receive the error as a value.
            eprintln!("ganbench-store: at writer shutdown: {e}");
        }
    }

    fn handle(&mut self, batch: &mut Batch, msg: Msg) {
        match msg {
            Msg::Flush { durable, ack } => {
                self.commit(batch);
                if durable {
                    self.sync_files();
                }
                let _ = ack.send(self.take_errors());
            }
            m => {
                if batch.msgs.is_empty() {
                    batch.opened = Instant::now();
                }
                batch.rows += m.rows();
                batch.msgs.push(m);
                if batch.rows >= self.options.max_batch_rows {
                    self.commit(batch);
                }
            }
        }
    }

    fn record(&mut self, n: usize, e: &StoreError) {
        self.failed += n;
        self.first_error.get_or_insert_with(|| e.to_string());
    }

    fn take_errors(&mut self) -> Result<()> {
        match self.first_error.take() {
            None => Ok(()),
            Some(first) => Err(StoreError::WriteFailed {
                path: self.path.clone(),
                failed: std::mem::take(&mut self.failed),
                first,
            }),
        }
    }

    /// Writes a batch in one transaction. If anything fails, retries it with each message in
    /// its own savepoint, so that one bad message (say, an unknown run id) costs only itself.
    fn commit(&mut self, batch: &mut Batch) {
        let msgs = std::mem::take(&mut batch.msgs);
        batch.rows = 0;
        if msgs.is_empty() || self.write(&msgs, false).is_ok() {
            return;
        }
        if let Err(e) = self.write(&msgs, true) {
            // The transaction itself failed (disk full, lock held past the busy timeout...).
            self.record(msgs.len(), &e);
        }
    }

    fn forget_new_keys(&mut self) {
        for k in self.new_keys.drain(..) {
            self.keys.remove(&k);
        }
    }

    fn write(&mut self, batch: &[Msg], isolate: bool) -> Result<()> {
        let conn = &self.conn;
        let p = &self.path;
        let mut cx = Cx {
            p,
            keys: &mut self.keys,
            new_keys: &mut self.new_keys,
            known_runs: &mut self.known_runs,
            progress: HashMap::new(),
            rows: Vec::new(),
        };
        let result = (|| {
            let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate).at(p)?;
            let mut st = Stmts {
                // OR REPLACE: a re-logged (run, metric, step) replaces the old point; the
                // primary key guarantees it is never stored twice.
                metric: tx
                    .prepare("INSERT OR REPLACE INTO metrics (run_id, key_id, step, value, wall_ms) VALUES (?1, ?2, ?3, ?4, ?5)")
                    .at(p)?,
                metric_chunk: tx.prepare(&chunk_insert_sql()).at(p)?,
                key_insert: tx.prepare("INSERT INTO metric_keys (name) VALUES (?1) ON CONFLICT (name) DO NOTHING").at(p)?,
                key_select: tx.prepare("SELECT id FROM metric_keys WHERE name = ?1").at(p)?,
                run_exists: tx.prepare("SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?1)").at(p)?,
                progress: tx.prepare("UPDATE runs SET step = MAX(step, ?2) WHERE id = ?1").at(p)?,
                status: tx
                    .prepare(
                        "UPDATE runs SET status = ?2,
                             ended_at = CASE WHEN ?2 IN ('running', 'queued') THEN NULL ELSE ?3 END
                         WHERE id = ?1",
                    )
                    .at(p)?,
            };
            for msg in batch {
                if !isolate {
                    apply(&tx, &mut st, &mut cx, msg)?;
                    continue;
                }
                tx.execute_batch("SAVEPOINT msg").at(p)?;
                let before = cx.new_keys.len();
                let applied = apply(&tx, &mut st, &mut cx, msg)
                    .and_then(|()| insert_rows(&mut st, &mut cx, false));
                match applied {
                    Ok(()) => tx.execute_batch("RELEASE msg").at(p)?,
                    Err(e) => {
                        tx.execute_batch("ROLLBACK TO msg; RELEASE msg").at(p)?;
                        for k in cx.new_keys.drain(before..) {
                            cx.keys.remove(&k);
                        }
                        cx.rows.clear();
                        self.failed += 1;
                        self.first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            insert_rows(&mut st, &mut cx, true)?;
            for (run, step) in cx.progress.drain() {
                st.progress.execute(params![run, step as i64]).at(p)?;
            }
            drop(st);
            tx.commit().at(p)
        })();
        match result {
            Ok(()) => self.new_keys.clear(),
            Err(_) => self.forget_new_keys(),
        }
        result
    }

    fn sync_files(&mut self) {
        let base = self.path.as_os_str().to_owned();
        let mut wal = base.clone();
        wal.push("-wal");
        for f in [PathBuf::from(wal), PathBuf::from(base)] {
            let r = std::fs::File::open(&f).and_then(|f| f.sync_all());
            if let Err(e) = r {
                if e.kind() != std::io::ErrorKind::NotFound {
                    let e = StoreError::Open {
                        path: f,
                        source: Box::new(e),
                    };
                    self.record(0, &e);
                }
            }
        }
    }
}

/// What applying messages needs besides the statements (borrowed from the worker).
struct Cx<'a> {
    p: &'a Path,
    keys: &'a mut HashMap<Box<str>, i64>,
    new_keys: &'a mut Vec<Box<str>>,
    known_runs: &'a mut HashSet<i64>,
    /// Highest step logged per run in this batch.
    progress: HashMap<i64, u64>,
    /// Metric rows (run, key, step, value, wall_ms) waiting for `insert_rows`.
    rows: Vec<(i64, i64, i64, Option<f64>, i64)>,
}

/// Checks once per writer that the run exists (foreign keys are off on this connection).
fn check_run(st: &mut Stmts<'_>, cx: &mut Cx<'_>, run: RunId) -> Result<()> {
    if cx.known_runs.contains(&run.0) {
        return Ok(());
    }
    let exists: bool = st.run_exists.query_row([run.0], |r| r.get(0)).at(cx.p)?;
    if !exists {
        return Err(StoreError::NoSuchRun(run));
    }
    cx.known_runs.insert(run.0);
    Ok(())
}

fn apply(tx: &Transaction<'_>, st: &mut Stmts<'_>, cx: &mut Cx<'_>, msg: &Msg) -> Result<()> {
    let p = cx.p;
    let run = match msg {
        Msg::Metrics { run, .. }
        | Msg::Event { run, .. }
        | Msg::Artifact { run, .. }
        | Msg::Status { run, .. }
        | Msg::Finish { run, .. } => *run,
        Msg::Flush { .. } => unreachable!("flush is handled by the loop"),
    };
    check_run(st, cx, run)?;
    match msg {
        Msg::Metrics {
            step,
            wall_ms,
            points,
            ..
        } => {
            for (name, value) in points {
                let key = match cx.keys.get(name) {
                    Some(&k) => k,
                    None => {
                        st.key_insert.execute([&**name]).at(p)?;
                        let k: i64 = st.key_select.query_row([&**name], |r| r.get(0)).at(p)?;
                        cx.keys.insert(name.clone(), k);
                        cx.new_keys.push(name.clone());
                        k
                    }
                };
                cx.rows
                    .push((run.0, key, *step as i64, value_to_sql(*value), *wall_ms));
            }
            let s = cx.progress.entry(run.0).or_insert(*step);
            *s = (*s).max(*step);
        }
        Msg::Event {
            at, kind, message, ..
        } => insert_event(tx, p, run, *at, kind, message)?,
        Msg::Artifact {
            step, kind, path, ..
        } => insert_artifact(tx, p, run, *step, kind, path)?,
        Msg::Status { status, at, .. } => {
            st.status
                .execute(params![run.0, status.as_str(), at])
                .at(p)?;
        }
        Msg::Finish {
            status,
            step,
            error,
            at,
            ..
        } => {
            // Progress of this batch's metrics must not raise the final step afterwards.
            cx.progress.remove(&run.0);
            finish_run_in(tx, p, run, *status, *step, error.as_deref(), *at)?;
        }
        Msg::Flush { .. } => unreachable!("flush is handled by the loop"),
    }
    Ok(())
}

/// Inserts the buffered metric rows. Sorted by primary key first (stable, so the last of two
/// writes of one point still wins): inserting in b-tree order touches each page once.
/// Rows per multi-row INSERT (5 parameters each; well under SQLite's 32766-parameter limit).
const CHUNK: usize = 64;

fn chunk_insert_sql() -> String {
    let values = vec!["(?, ?, ?, ?, ?)"; CHUNK].join(", ");
    format!("INSERT OR REPLACE INTO metrics (run_id, key_id, step, value, wall_ms) VALUES {values}")
}

fn insert_rows(st: &mut Stmts<'_>, cx: &mut Cx<'_>, sort: bool) -> Result<()> {
    if sort {
        cx.rows.sort_by_key(|r| (r.0, r.1, r.2));
    }
    let mut chunks = cx.rows.chunks_exact(CHUNK);
    for chunk in &mut chunks {
        for (i, (run, key, step, value, wall_ms)) in chunk.iter().enumerate() {
            let at = i * 5;
            let stmt = &mut st.metric_chunk;
            stmt.raw_bind_parameter(at + 1, run).at(cx.p)?;
            stmt.raw_bind_parameter(at + 2, key).at(cx.p)?;
            stmt.raw_bind_parameter(at + 3, step).at(cx.p)?;
            stmt.raw_bind_parameter(at + 4, value).at(cx.p)?;
            stmt.raw_bind_parameter(at + 5, wall_ms).at(cx.p)?;
        }
        st.metric_chunk.raw_execute().at(cx.p)?;
    }
    for (run, key, step, value, wall_ms) in chunks.remainder() {
        st.metric
            .execute(params![run, key, step, value, wall_ms])
            .at(cx.p)?;
    }
    cx.rows.clear();
    Ok(())
}
