//! The batched writer: one thread owning its own connection, fed through a bounded channel,
//! committing many rows per transaction. The training thread only allocates a message and
//! sends it (see benches/store.rs for the cost).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, Statement, Transaction, TransactionBehavior};

use crate::error::{classify, AtPath, Result, StoreError};
use crate::types::{RunId, Status};
use crate::write::{finish_run_in, insert_artifact, insert_event, no_such_run_on_fk};
use crate::{now_ms, schema, value_to_sql};

/// Tuning of a [`Writer`].
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Commit when this many rows are buffered. Bigger batches amortize the commit; the
    /// default keeps a batch's write lock well under a second.
    pub max_batch_rows: usize,
    /// Commit at most this long after the first buffered message, so that `ganbench status`
    /// and the report see fresh numbers even when nothing calls `flush`.
    pub max_delay: Duration,
    /// Capacity of the channel in messages (one `log` call is one message). When the writer
    /// falls this far behind, `log` blocks instead of growing memory without bound.
    pub channel_capacity: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions { max_batch_rows: 20_000, max_delay: Duration::from_millis(200), channel_capacity: 16_384 }
    }
}

enum Msg {
    Metrics { run: RunId, step: u64, wall_ms: i64, points: Vec<(Box<str>, f64)> },
    Event { run: RunId, at: i64, kind: String, message: String },
    Artifact { run: RunId, step: u64, kind: String, path: String },
    Status { run: RunId, status: Status, at: i64 },
    Finish { run: RunId, status: Status, step: u64, error: Option<String>, at: i64 },
    Flush { durable: bool, ack: SyncSender<Result<()>> },
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
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.tx.take()); // disconnects the channel: the thread drains, commits, exits
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

impl Writer {
    pub(crate) fn open(path: &Path, options: WriterOptions) -> Result<Writer> {
        let conn = schema::open(path)?;
        let (tx, rx) = mpsc::sync_channel(options.channel_capacity.max(1));
        let mut worker = Worker {
            conn,
            path: path.to_path_buf(),
            options,
            keys: HashMap::new(),
            new_keys: Vec::new(),
            failed: 0,
            first_error: None,
        };
        let thread = std::thread::Builder::new()
            .name("ganbench-store-writer".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| StoreError::Open { path: path.to_path_buf(), source: Box::new(e) })?;
        Ok(Writer { inner: Arc::new(Inner { tx: Some(tx), thread: Some(thread), path: path.to_path_buf() }) })
    }

    fn send(&self, msg: Msg) -> Result<()> {
        let gone = || StoreError::WriterGone { path: self.inner.path.clone() };
        self.inner.tx.as_ref().ok_or_else(gone)?.send(msg).map_err(|_| gone())
    }

    /// Queues the metrics of one step of a run; `wall_ms` is taken now. Values may be NaN or
    /// ±inf. Blocks only if the writer is `channel_capacity` messages behind.
    pub fn log<S: AsRef<str>>(&self, run: RunId, step: u64, metrics: &[(S, f64)]) -> Result<()> {
        let points = metrics.iter().map(|(k, v)| (Box::from(k.as_ref()), *v)).collect();
        self.send(Msg::Metrics { run, step, wall_ms: now_ms(), points })
    }

    /// Queues an event of a run.
    pub fn event(&self, run: RunId, kind: &str, message: &str) -> Result<()> {
        self.send(Msg::Event { run, at: now_ms(), kind: kind.to_owned(), message: message.to_owned() })
    }

    /// Queues an artifact of a run.
    pub fn artifact(&self, run: RunId, step: u64, kind: &str, path: &str) -> Result<()> {
        self.send(Msg::Artifact { run, step, kind: kind.to_owned(), path: path.to_owned() })
    }

    /// Queues a status change (as [`crate::Store::set_status`]).
    pub fn set_status(&self, run: RunId, status: Status) -> Result<()> {
        self.send(Msg::Status { run, status, at: now_ms() })
    }

    /// Queues the end of a run (as [`crate::Store::finish_run`]), ordered after its metrics.
    pub fn finish_run(&self, run: RunId, status: Status, step: u64, error: Option<&str>) -> Result<()> {
        self.send(Msg::Finish { run, status, step, error: error.map(str::to_owned), at: now_ms() })
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
        done.recv().map_err(|_| StoreError::WriterGone { path: self.inner.path.clone() })?
    }
}

struct Worker {
    conn: Connection,
    path: PathBuf,
    options: WriterOptions,
    /// Interned metric names. Entries added inside a transaction that rolls back are removed
    /// again (`new_keys`), because their ids were never committed.
    keys: HashMap<Box<str>, i64>,
    new_keys: Vec<Box<str>>,
    failed: usize,
    first_error: Option<String>,
}

/// The statements of one batch, prepared once per transaction.
struct Stmts<'c> {
    metric: Statement<'c>,
    key_insert: Statement<'c>,
    key_select: Statement<'c>,
    progress: Statement<'c>,
    status: Statement<'c>,
}

impl Worker {
    fn run(&mut self, rx: Receiver<Msg>) {
        let mut buf: Vec<Msg> = Vec::new();
        let mut rows = 0usize;
        let mut first_at = Instant::now();
        loop {
            let msg = if buf.is_empty() {
                match rx.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                }
            } else {
                let left = (first_at + self.options.max_delay).saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => {
                        self.commit(std::mem::take(&mut buf));
                        rows = 0;
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            match msg {
                Msg::Flush { durable, ack } => {
                    self.commit(std::mem::take(&mut buf));
                    rows = 0;
                    if durable {
                        self.sync_files();
                    }
                    let _ = ack.send(self.take_errors());
                }
                m => {
                    if buf.is_empty() {
                        first_at = Instant::now();
                    }
                    rows += m.rows();
                    buf.push(m);
                    if rows >= self.options.max_batch_rows {
                        self.commit(std::mem::take(&mut buf));
                        rows = 0;
                    }
                }
            }
        }
        self.commit(buf);
        if let Err(e) = self.take_errors() {
            // Last resort: nobody is left to receive the error as a value.
            eprintln!("ganbench-store: at writer shutdown: {e}");
        }
    }

    fn record(&mut self, n: usize, e: &StoreError) {
        self.failed += n;
        self.first_error.get_or_insert_with(|| e.to_string());
    }

    fn take_errors(&mut self) -> Result<()> {
        match self.first_error.take() {
            None => Ok(()),
            Some(first) => {
                Err(StoreError::WriteFailed { path: self.path.clone(), failed: std::mem::take(&mut self.failed), first })
            }
        }
    }

    /// Writes a batch in one transaction. If anything fails, retries it with each message in
    /// its own savepoint, so that one bad message (say, an unknown run id) costs only itself.
    fn commit(&mut self, batch: Vec<Msg>) {
        if batch.is_empty() {
            return;
        }
        if self.write(&batch, false).is_ok() {
            return;
        }
        if let Err(e) = self.write(&batch, true) {
            // The transaction itself failed (disk full, lock held past the busy timeout...).
            self.record(batch.len(), &e);
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
        let result = (|| {
            let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate).at(p)?;
            let mut st = Stmts {
                // OR REPLACE: a re-logged (run, metric, step) replaces the old point; the
                // primary key guarantees it is never stored twice.
                metric: tx
                    .prepare("INSERT OR REPLACE INTO metrics (run_id, key_id, step, value, wall_ms) VALUES (?1, ?2, ?3, ?4, ?5)")
                    .at(p)?,
                key_insert: tx.prepare("INSERT INTO metric_keys (name) VALUES (?1) ON CONFLICT (name) DO NOTHING").at(p)?,
                key_select: tx.prepare("SELECT id FROM metric_keys WHERE name = ?1").at(p)?,
                progress: tx.prepare("UPDATE runs SET step = MAX(step, ?2) WHERE id = ?1").at(p)?,
                status: tx
                    .prepare(
                        "UPDATE runs SET status = ?2,
                             ended_at = CASE WHEN ?2 IN ('running', 'queued') THEN NULL ELSE ?3 END
                         WHERE id = ?1",
                    )
                    .at(p)?,
            };
            let mut progress: HashMap<RunId, u64> = HashMap::new();
            for msg in batch {
                if isolate {
                    tx.execute_batch("SAVEPOINT msg").at(p)?;
                    let before = self.new_keys.len();
                    match apply(&tx, p, &mut st, &mut self.keys, &mut self.new_keys, &mut progress, msg) {
                        Ok(()) => tx.execute_batch("RELEASE msg").at(p)?,
                        Err(e) => {
                            tx.execute_batch("ROLLBACK TO msg; RELEASE msg").at(p)?;
                            for k in self.new_keys.drain(before..) {
                                self.keys.remove(&k);
                            }
                            self.failed += 1;
                            self.first_error.get_or_insert_with(|| e.to_string());
                        }
                    }
                } else {
                    apply(&tx, p, &mut st, &mut self.keys, &mut self.new_keys, &mut progress, msg)?;
                }
            }
            for (run, step) in progress {
                st.progress.execute(params![run.0, step as i64]).at(p)?;
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
                    let e = StoreError::Open { path: f, source: Box::new(e) };
                    self.record(0, &e);
                }
            }
        }
    }
}

fn apply(
    tx: &Transaction<'_>,
    p: &Path,
    st: &mut Stmts<'_>,
    keys: &mut HashMap<Box<str>, i64>,
    new_keys: &mut Vec<Box<str>>,
    progress: &mut HashMap<RunId, u64>,
    msg: &Msg,
) -> Result<()> {
    match msg {
        Msg::Metrics { run, step, wall_ms, points } => {
            for (name, value) in points {
                let key = match keys.get(name) {
                    Some(&k) => k,
                    None => {
                        st.key_insert.execute([&**name]).at(p)?;
                        let k: i64 = st.key_select.query_row([&**name], |r| r.get(0)).at(p)?;
                        keys.insert(name.clone(), k);
                        new_keys.push(name.clone());
                        k
                    }
                };
                st.metric
                    .execute(params![run.0, key, *step as i64, value_to_sql(*value), wall_ms])
                    .map_err(|e| no_such_run_on_fk(e, *run, p))?;
            }
            let s = progress.entry(*run).or_insert(*step);
            *s = (*s).max(*step);
        }
        Msg::Event { run, at, kind, message } => insert_event(tx, p, *run, *at, kind, message)?,
        Msg::Artifact { run, step, kind, path } => insert_artifact(tx, p, *run, *step, kind, path)?,
        Msg::Status { run, status, at } => {
            let n = st.status.execute(params![run.0, status.as_str(), at]).map_err(|e| classify(e, p))?;
            if n == 0 {
                return Err(StoreError::NoSuchRun(*run));
            }
        }
        Msg::Finish { run, status, step, error, at } => {
            // Progress of this batch's metrics must not raise the final step afterwards.
            progress.remove(run);
            finish_run_in(tx, p, *run, *status, *step, error.as_deref(), *at)?;
        }
        Msg::Flush { .. } => unreachable!("flush is handled by the loop"),
    }
    Ok(())
}
