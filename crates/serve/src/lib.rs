//! The local web UI of ganbench: every sweep of a database; a sweep's live curves, its runs table (filtered and sorted with `ls --where` expressions) and its report regenerated as runs progress; chosen runs compared across sweeps; a run's parameters, events and samples. Read-only, so it is safe while `ganbench run` writes.
//!
//! ```text
//! /                                   the sweeps
//! /sweeps/ID                          live curves, runs table, the report (iframe)
//! /sweeps/ID/report/FILE              the report, regenerated when the sweep changed
//! /api/sweeps/ID/state?metric=M       runs, status counts and one metric's series (JSON)
//! /api/runs?sweep=ID&where=E&sort=F   runs as table rows (JSON)
//! /compare?runs=1,2,3                 a report over chosen runs, from any sweeps
//! /runs/ID                            one run: parameters, final metrics, tags, notes, events
//! /runs/ID/artifacts/N                its Nth sample image
//! ```
//!
//! Every request opens the database read-only on a blocking thread: SQLite's WAL lets it read
//! while a sweep commits, and nothing here can write. Reports are written into a cache folder
//! (never beside the database), at most once per [`REPORT_INTERVAL`] per sweep.

mod pages;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use ganbench_store::{Filter, RunId, Store, SweepId, SweepSummary};
use serde::{Deserialize, Serialize};

/// The shortest time between two regenerations of one sweep's report.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// How to serve.
#[derive(Debug, Clone)]
pub struct Options {
    /// The database, opened read-only per request.
    pub db: PathBuf,
    /// Where to listen.
    pub addr: SocketAddr,
    /// Where generated reports go.
    pub cache_dir: PathBuf,
    /// ganbench's version, shown on the pages.
    pub version: String,
}

/// What can stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}; pick another --port (0 lets the system choose)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The runtime or the server failed.
    #[error("the web server stopped: {0}")]
    Io(#[from] std::io::Error),
}

struct AppState {
    options: Options,
    /// Per report folder: the sweep's fingerprint when it was generated, and when.
    reports: Mutex<HashMap<String, (String, Instant)>>,
}

type Shared = Arc<AppState>;

/// An error page: what went wrong, with the status that says whose fault it is.
#[derive(Debug)]
struct AppError(StatusCode, String);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

fn not_found(what: impl Into<String>) -> AppError {
    AppError(StatusCode::NOT_FOUND, what.into())
}

fn bad_request(what: impl std::fmt::Display) -> AppError {
    AppError(StatusCode::BAD_REQUEST, what.to_string())
}

fn internal(what: impl std::fmt::Display) -> AppError {
    AppError(StatusCode::INTERNAL_SERVER_ERROR, what.to_string())
}

impl From<ganbench_store::StoreError> for AppError {
    fn from(e: ganbench_store::StoreError) -> AppError {
        match e {
            ganbench_store::StoreError::NoSuchRun(_)
            | ganbench_store::StoreError::NoSuchSweep(_) => not_found(e.to_string()),
            e => internal(e),
        }
    }
}

/// Runs `f` on a blocking thread with the database opened read-only.
async fn with_store<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&Store, &AppState) -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let store = Store::open_read_only(&state.options.db).map_err(internal)?;
        f(&store, &state)
    })
    .await
    .map_err(internal)?
}

/// Serves until the process ends; `ready` gets the bound address (with the port the system
/// chose for port 0) once requests are accepted.
pub fn serve(options: Options, ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let addr = options.addr;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        ready(listener.local_addr()?);
        let state = Arc::new(AppState {
            options,
            reports: Mutex::new(HashMap::new()),
        });
        axum::serve(listener, router(state)).await?;
        Ok(())
    })
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/sweeps/{id}", get(sweep_page))
        .route("/sweeps/{id}/report/{file}", get(sweep_report))
        .route("/api/sweeps/{id}/state", get(sweep_state))
        .route("/api/runs", get(runs_api))
        .route("/compare", get(compare))
        .route("/compare/{key}/{file}", get(compare_file))
        .route("/runs/{id}", get(run_page))
        .route("/runs/{id}/artifacts/{n}", get(artifact))
        .route("/static/live.js", get(live_js))
        .route("/static/style.css", get(style_css))
        .with_state(state)
}

async fn index(State(state): State<Shared>) -> Result<Html<String>, AppError> {
    with_store(&state, |store, state| {
        let sweeps = store.list_sweeps()?;
        Ok(Html(pages::index(&state.options, &sweeps)))
    })
    .await
}

fn sweep_summary(store: &Store, id: i64) -> Result<SweepSummary, AppError> {
    store
        .list_sweeps()?
        .into_iter()
        .find(|s| s.id == SweepId(id))
        .ok_or_else(|| not_found(format!("no sweep {id} in this database")))
}

async fn sweep_page(
    State(state): State<Shared>,
    UrlPath(id): UrlPath<i64>,
) -> Result<Html<String>, AppError> {
    with_store(&state, move |store, state| {
        let sweep = sweep_summary(store, id)?;
        let annotations = store.annotations(sweep.id)?;
        let metrics = store.metric_names(sweep.id)?;
        Ok(Html(pages::sweep(
            &state.options,
            &sweep,
            &annotations,
            &metrics,
        )))
    })
    .await
}

/// The state of `runs` as a string that changes whenever one starts, advances or ends.
fn fingerprint(runs: &[ganbench_store::Run]) -> String {
    runs.iter()
        .map(|r| format!("{}:{}:{}", r.id.0, r.status.as_str(), r.step))
        .collect::<Vec<_>>()
        .join(",")
}

/// Writes the report of `selection` into the cache folder `key` unless the one there is of the
/// same `fingerprint` or younger than [`REPORT_INTERVAL`].
fn ensure_report(
    store: &Store,
    state: &AppState,
    key: &str,
    selection: &ganbench_report::Selection,
    fingerprint: String,
    command: String,
) -> Result<PathBuf, AppError> {
    let dir = state.options.cache_dir.join(key);
    let mut reports = state.reports.lock().map_err(internal)?;
    let fresh = reports
        .get(key)
        .is_some_and(|(seen, at)| *seen == fingerprint || at.elapsed() < REPORT_INTERVAL)
        && dir.join("index.html").exists();
    if !fresh {
        let options = ganbench_report::Options {
            out_dir: dir.clone(),
            band: ganbench_report::Band::default(),
            format: ganbench_report::ImageFormat::Png,
            embed: false,
            main_metric: None,
            command,
            version: state.options.version.clone(),
        };
        ganbench_report::write_report(store, selection, &options).map_err(internal)?;
        reports.insert(key.to_string(), (fingerprint, Instant::now()));
    }
    Ok(dir)
}

/// A file of a generated report folder; `file` must be a plain name in it.
fn report_file(dir: &Path, file: &str) -> Result<Response, AppError> {
    if file.contains('/') || file.contains('\\') || file.starts_with('.') {
        return Err(not_found(format!("no file {file}")));
    }
    let path = dir.join(file);
    let bytes = std::fs::read(&path).map_err(|_| not_found(format!("no file {file}")))?;
    Ok(([(header::CONTENT_TYPE, content_type(file))], bytes).into_response())
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn sweep_report(
    State(state): State<Shared>,
    UrlPath((id, file)): UrlPath<(i64, String)>,
) -> Result<Response, AppError> {
    with_store(&state, move |store, state| {
        let sweep = sweep_summary(store, id)?;
        let fingerprint = fingerprint(&store.runs(sweep.id)?);
        let dir = ensure_report(
            store,
            state,
            &format!("sweep-{id}"),
            &ganbench_report::Selection::Sweep(sweep.id),
            fingerprint,
            format!("ganbench report {}@{}", sweep.name, sweep.version),
        )?;
        report_file(&dir, &file)
    })
    .await
}

#[derive(Deserialize)]
struct StateQuery {
    metric: Option<String>,
}

/// A run's series of one metric, for the live curves.
#[derive(Serialize)]
struct LiveSeries {
    run: i64,
    configuration: String,
    status: String,
    step: u64,
    total_steps: Option<u64>,
    /// `[step, value]`; NaN as `null`.
    points: Vec<(u64, Option<f64>)>,
}

#[derive(Serialize)]
struct LiveState {
    fingerprint: String,
    counts: ganbench_store::StatusCounts,
    metrics: Vec<String>,
    metric: Option<String>,
    runs: Vec<LiveSeries>,
}

/// The metric the live curves show unless the page asks for another: the toy metric that the
/// verdict ranks by, else FID, else the first one.
fn default_metric(metrics: &[String]) -> Option<String> {
    ["modes", "fid", "loss_g"]
        .iter()
        .find(|m| metrics.iter().any(|n| n == *m))
        .map(|m| m.to_string())
        .or_else(|| metrics.first().cloned())
}

async fn sweep_state(
    State(state): State<Shared>,
    UrlPath(id): UrlPath<i64>,
    Query(query): Query<StateQuery>,
) -> Result<Json<LiveState>, AppError> {
    with_store(&state, move |store, _| {
        let sweep = sweep_summary(store, id)?;
        let metrics = store.metric_names(sweep.id)?;
        let metric = query
            .metric
            .filter(|m| metrics.contains(m))
            .or_else(|| default_metric(&metrics));
        let runs = store.runs(sweep.id)?;
        let labels = ganbench_report::run_labels(&runs);
        let mut series = Vec::new();
        for (run, configuration) in runs.iter().zip(labels) {
            let points = match &metric {
                Some(m) => store
                    .series(run.id, m)?
                    .into_iter()
                    .map(|p| (p.step, p.value.is_finite().then_some(p.value)))
                    .collect(),
                None => Vec::new(),
            };
            series.push(LiveSeries {
                run: run.id.0,
                configuration,
                status: run.status.as_str().to_string(),
                step: run.step,
                total_steps: run.total_steps,
                points,
            });
        }
        Ok(Json(LiveState {
            fingerprint: fingerprint(&runs),
            counts: sweep.runs,
            metrics,
            metric,
            runs: series,
        }))
    })
    .await
}

#[derive(Deserialize)]
struct RunsQuery {
    sweep: Option<i64>,
    #[serde(rename = "where")]
    filter: Option<String>,
    sort: Option<String>,
    desc: Option<bool>,
}

/// A row of the runs table.
#[derive(Serialize)]
struct TableRow {
    id: i64,
    sweep: String,
    configuration: String,
    seed: u64,
    status: String,
    step: u64,
    total_steps: Option<u64>,
    tags: Vec<String>,
    /// The parameters, as stored.
    params: serde_json::Map<String, serde_json::Value>,
    /// Final metrics, NaN as `null`.
    #[serde(rename = "final")]
    final_metrics: std::collections::BTreeMap<String, Option<f64>>,
}

async fn runs_api(
    State(state): State<Shared>,
    Query(query): Query<RunsQuery>,
) -> Result<Json<Vec<TableRow>>, AppError> {
    with_store(&state, move |store, _| {
        let sweeps: Vec<SweepSummary> = store
            .list_sweeps()?
            .into_iter()
            .filter(|s| match query.sweep {
                Some(id) => s.id == SweepId(id),
                None => s.archived_at_ms.is_none(),
            })
            .collect();
        let filter = query
            .filter
            .as_deref()
            .filter(|f| !f.trim().is_empty())
            .map(Filter::parse)
            .transpose()
            .map_err(bad_request)?;
        let mut rows = ganbench_report::run_rows(store, &sweeps)?;
        let sort = query.sort.as_deref().filter(|s| !s.is_empty());
        ganbench_report::filter_and_sort(
            &mut rows,
            filter.as_ref(),
            sort,
            query.desc.unwrap_or(false),
        )
        .map_err(bad_request)?;
        Ok(Json(
            rows.into_iter()
                .map(|row| TableRow {
                    id: row.run.id.0,
                    sweep: row.sweep,
                    configuration: row.configuration,
                    seed: row.run.seed,
                    status: row.run.status.as_str().to_string(),
                    step: row.run.step,
                    total_steps: row.run.total_steps,
                    tags: row.tags,
                    params: row.params,
                    final_metrics: row
                        .metrics
                        .into_iter()
                        .map(|(k, v)| (k, v.is_finite().then_some(v)))
                        .collect(),
                })
                .collect(),
        ))
    })
    .await
}

#[derive(Deserialize)]
struct CompareQuery {
    runs: String,
}

/// The run ids of `1,2,3`, sorted, without repeats.
fn parse_ids(text: &str) -> Result<Vec<i64>, AppError> {
    let mut ids = text
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            t.trim()
                .parse::<i64>()
                .map_err(|_| bad_request(format!("`{t}` is not a run id; use ?runs=1,2,3")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(bad_request("choose runs to compare: ?runs=1,2,3"));
    }
    Ok(ids)
}

async fn compare(
    State(state): State<Shared>,
    Query(query): Query<CompareQuery>,
) -> Result<Redirect, AppError> {
    let ids = parse_ids(&query.runs)?;
    let key = format!(
        "compare-{}",
        ids.iter().map(i64::to_string).collect::<Vec<_>>().join("-")
    );
    let target = format!("/compare/{key}/index.html");
    with_store(&state, move |store, state| {
        let runs = ids
            .iter()
            .map(|&id| store.run(RunId(id)))
            .collect::<Result<Vec<_>, _>>()?;
        let fingerprint = fingerprint(&runs);
        let selection = ganbench_report::Selection::Runs(ids.iter().map(|&i| RunId(i)).collect());
        let command = format!(
            "ganbench compare --runs {}",
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        );
        ensure_report(store, state, &key, &selection, fingerprint, command)?;
        Ok(())
    })
    .await?;
    Ok(Redirect::to(&target))
}

async fn compare_file(
    State(state): State<Shared>,
    UrlPath((key, file)): UrlPath<(String, String)>,
) -> Result<Response, AppError> {
    let ids = key
        .strip_prefix("compare-")
        .ok_or_else(|| not_found("no such comparison"))?
        .replace('-', ",");
    let ids = parse_ids(&ids).map_err(|_| not_found("no such comparison"))?;
    let canonical = format!(
        "compare-{}",
        ids.iter().map(i64::to_string).collect::<Vec<_>>().join("-")
    );
    if canonical != key {
        return Err(not_found("no such comparison"));
    }
    report_file(&state.options.cache_dir.join(key), &file)
}

async fn run_page(
    State(state): State<Shared>,
    UrlPath(id): UrlPath<i64>,
) -> Result<Html<String>, AppError> {
    with_store(&state, move |store, state| {
        let details = store.run_details(RunId(id))?;
        let sweep = store.sweep(details.run.sweep_id)?;
        let siblings = store.runs(details.run.sweep_id)?;
        let configuration = siblings
            .iter()
            .position(|r| r.id == details.run.id)
            .map(|i| ganbench_report::run_labels(&siblings).swap_remove(i))
            .unwrap_or_else(|| details.run.label.clone());
        let finals: Vec<(String, u64, f64)> = store
            .last_values(details.run.sweep_id)?
            .into_iter()
            .filter(|v| v.run_id == details.run.id)
            .map(|v| (v.metric, v.step, v.value))
            .collect();
        let annotations = store.annotations(details.run.sweep_id)?;
        Ok(Html(pages::run(
            &state.options,
            &sweep,
            &details,
            &configuration,
            &finals,
            &annotations,
        )))
    })
    .await
}

/// The images among a run's artifacts (sample grids and reconstructions), in step order.
pub(crate) fn images(details: &ganbench_store::RunDetails) -> Vec<&ganbench_store::Artifact> {
    details
        .artifacts
        .iter()
        .filter(|a| a.path.ends_with(".png") || a.path.ends_with(".svg"))
        .collect()
}

async fn artifact(
    State(state): State<Shared>,
    UrlPath((id, n)): UrlPath<(i64, usize)>,
) -> Result<Response, AppError> {
    with_store(&state, move |store, _| {
        let details = store.run_details(RunId(id))?;
        let images = images(&details);
        let artifact = images
            .get(n)
            .ok_or_else(|| not_found(format!("run {id} has no image {n}")))?;
        let bytes = std::fs::read(&artifact.path)
            .map_err(|e| not_found(format!("{}: {e}", artifact.path)))?;
        Ok((
            [(header::CONTENT_TYPE, content_type(&artifact.path))],
            bytes,
        )
            .into_response())
    })
    .await
}

async fn live_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("live.js"),
    )
}

async fn style_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        pages::CSS,
    )
}
