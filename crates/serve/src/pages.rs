//! The pages, as maud templates (every string from the database is escaped by maud). The
//! sweep page's live parts are drawn by live.js from the JSON API.

use ganbench_store::{format_time, Annotations, RunDetails, SweepRecord, SweepSummary};
use maud::{html, Markup, DOCTYPE};

use crate::Options;

pub const CSS: &str = r#"
:root { --fg: #1b1b1b; --muted: #666; --rule: #ddd; --bad: #b00020; --accent: #0072b2; }
body { font: 15px/1.45 system-ui, sans-serif; color: var(--fg); margin: 0 auto; max-width: 1200px; padding: 0 16px 48px; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 1.8em; border-bottom: 1px solid var(--rule); }
table { border-collapse: collapse; } th, td { padding: 3px 8px; border-bottom: 1px solid var(--rule); text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th.sortable { cursor: pointer; text-decoration: underline dotted; }
.bad { color: var(--bad); } .meta { color: var(--muted); }
.tag { display: inline-block; padding: 0 6px; border: 1px solid var(--rule); border-radius: 8px; font-size: 0.85em; }
.note { white-space: pre-wrap; border-left: 3px solid var(--rule); padding-left: 1em; margin: 0.5em 0; }
.scroll { overflow-x: auto; } #live-chart { width: 100%; height: 320px; border: 1px solid var(--rule); }
#filter { width: 32em; font-family: monospace; } #filter-error { color: var(--bad); }
iframe#report { width: 100%; height: 80vh; border: 1px solid var(--rule); }
pre.events { max-height: 24em; overflow: auto; background: #f6f6f6; padding: 8px; }
"#;

fn layout(options: &Options, title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                link rel="icon" href="data:,";
                title { (title) " — ganbench serve" }
                link rel="stylesheet" href="/static/style.css";
            }
            body {
                nav { a href="/" { "all sweeps" } }
                (body)
                footer.meta { "ganbench " (options.version) " · " (options.db.display()) " (read-only)" }
            }
        }
    }
    .into_string()
}

fn counts(s: &SweepSummary) -> Markup {
    let r = &s.runs;
    html! {
        (r.finished) " finished · " (r.running) " running · "
        span.bad[r.diverged > 0] { (r.diverged) " diverged" } " · "
        span.bad[r.failed > 0] { (r.failed) " failed" } " · "
        (r.interrupted + r.queued) " to do"
    }
}

fn tags(tags: &[String]) -> Markup {
    html! { @for t in tags { span.tag { (t) } " " } }
}

pub fn index(options: &Options, sweeps: &[SweepSummary]) -> String {
    let (live, archived): (Vec<&SweepSummary>, Vec<&SweepSummary>) =
        sweeps.iter().partition(|s| s.archived_at_ms.is_none());
    let table = |sweeps: &[&SweepSummary]| {
        html! {
            table.sweeps {
                thead { tr { th { "Sweep" } th { "Created" } th { "Runs" } th { "Status" } th { "Tags" } } }
                tbody {
                    @for s in sweeps {
                        tr {
                            td { a href={ "/sweeps/" (s.id.0) } { (s.name) "@" (s.version) } }
                            td { (format_time(s.created_at_ms)) }
                            td.num { (s.runs.total()) }
                            td { (counts(s)) }
                            td { (tags(&s.tags)) }
                        }
                    }
                }
            }
        }
    };
    layout(
        options,
        "Sweeps",
        html! {
            h1 { "Sweeps" }
            @if live.is_empty() && archived.is_empty() {
                p { "No sweeps yet: start one with " code { "ganbench run experiments/quickstart.ron" } "." }
            } @else {
                (table(&live))
            }
            @if !archived.is_empty() {
                details { summary { (archived.len()) " archived" } (table(&archived)) }
            }
            h2 { "All runs" }
            (runs_table(None))
        },
    )
}

/// The filterable, sortable runs table; live.js fills it from /api/runs.
fn runs_table(sweep: Option<i64>) -> Markup {
    html! {
        form #runs-form data-sweep=[sweep] {
            input #filter name="where" placeholder="lr_d < 3e-4 and status = finished" autocomplete="off";
            " " button type="submit" { "Filter" }
            " " button #compare type="button" disabled { "Compare selected" }
            " " span #filter-error {}
        }
        div.scroll { table #runs { thead {} tbody {} } }
        p.meta { "Click a column to sort by it (again: largest first). The filter language is "
            code { "ganbench ls --where" } "'s: and, or, not, parentheses; = != < <= > >= ~ (contains)." }
    }
}

pub fn sweep(
    options: &Options,
    sweep: &SweepSummary,
    annotations: &Annotations,
    metrics: &[String],
) -> String {
    let title = format!("{}@{}", sweep.name, sweep.version);
    layout(
        options,
        &title,
        html! {
            h1 { "Sweep " (title) }
            p #counts.meta { (counts(sweep)) }
            p { (tags(&annotations.sweep_tags)) }
            @for n in annotations.sweep_notes() { div.note { (n.text) } }
            h2 { "Live curves" }
            p {
                label for="metric" { "Metric " }
                select #metric {
                    @for m in metrics { option value=(m) { (m) } }
                }
                " " span #live-status.meta {}
            }
            svg #live-chart data-sweep=(sweep.id.0) role="img" aria-label="curves of the chosen metric, one line per run" {}
            h2 { "Runs" }
            (runs_table(Some(sweep.id.0)))
            h2 { "Report" }
            p.meta { "Regenerated as runs progress (at most every "
                (crate::REPORT_INTERVAL.as_secs()) " s). "
                a href={ "/sweeps/" (sweep.id.0) "/report/index.html" } { "Open it alone" } }
            iframe #report src={ "/sweeps/" (sweep.id.0) "/report/index.html" } title="report" {}
            script src="/static/live.js" {}
        },
    )
}

pub fn run(
    options: &Options,
    sweep: &SweepRecord,
    details: &RunDetails,
    configuration: &str,
    finals: &[(String, u64, f64)],
    annotations: &Annotations,
) -> String {
    let r = &details.run;
    let params: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&r.params_json).unwrap_or_default();
    let images = crate::images(details);
    // The log's tail: the newest events, oldest first.
    let tail = &details.events[details.events.len().saturating_sub(200)..];
    layout(
        options,
        &format!("run {}", r.id.0),
        html! {
            h1 { "Run " (r.id.0) ": " (configuration) " seed " (r.seed) }
            p.meta {
                "sweep " a href={ "/sweeps/" (sweep.id.0) } { (sweep.name) "@" (sweep.version) }
                " · plugin " (r.plugin) " · trial " (r.trial_key)
            }
            p { span.bad[matches!(r.status.as_str(), "failed" | "diverged")] { (r.status.as_str()) } " at step " (r.step)
                @if let Some(t) = r.total_steps { " of " (t) } }
            @if let Some(e) = &r.error { p.bad { (e) } }
            p { (tags(annotations.tags_of(r.id))) }
            @for n in annotations.notes_of(r.id) { div.note { (n.text) } }
            h2 { "Final metrics" }
            table { tbody { @for (name, step, value) in finals {
                tr { td { (name) } td.num { (value) } td.meta { "step " (step) } }
            } } }
            h2 { "Parameters" }
            table { tbody { @for (name, value) in &params {
                tr { td { (name) } td { (value.to_string()) } }
            } } }
            @if !images.is_empty() {
                h2 { "Samples" }
                @for (i, a) in images.iter().enumerate() {
                    figure {
                        img src={ "/runs/" (r.id.0) "/artifacts/" (i) } alt={ (a.kind) " at step " (a.step) } loading="lazy";
                        figcaption.meta { (a.kind) " at step " (a.step) }
                    }
                }
            }
            h2 { "Events (the last " (tail.len()) ")" }
            pre.events { @for e in tail {
                (format_time(e.at_ms)) "  " (e.kind) "  " (e.message) "\n"
            } }
        },
    )
}
