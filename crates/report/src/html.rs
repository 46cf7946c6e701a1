//! The page: one HTML file with inline CSS and no script, font or anything else fetched from
//! the network. maud escapes every interpolated string (sweep names, labels, parameter values,
//! error messages, the spec), so user text can never become markup.

use base64::Engine as _;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::load::Loaded;
use crate::metric::ColumnGroup;
use crate::plot::{Figure, Section};
use crate::select::Selection;
use crate::stats::Direction;
use crate::summary::{Cell, Summary};
use crate::verdict::{num, pct, pval, seeds_text, Comparison, Verdict, ALPHA};

/// What the page says about where it came from.
#[derive(Debug, Clone)]
pub struct PageContext {
    /// The page's title line.
    pub heading: String,
    /// The command that made this page (shown verbatim).
    pub command: String,
    /// Commands that reproduce the runs (shown verbatim), with a short explanation each.
    pub reproduce: Vec<(String, String)>,
    /// ganbench's version.
    pub version: String,
    /// When the page was made (UTC, human-readable).
    pub generated_at: String,
    /// What the band of the curves shows.
    pub band: String,
    /// Sample files that could not be drawn, with the reason.
    pub notes: Vec<String>,
}

/// An image as the page embeds it: a relative file name, or a data URI with `--embed`.
pub(crate) fn image_source(
    dir: &std::path::Path,
    figure: &Figure,
    embed: bool,
) -> std::io::Result<String> {
    if !embed {
        return Ok(figure.file.clone());
    }
    let bytes = std::fs::read(dir.join(&figure.file))?;
    Ok(format!(
        "data:{};base64,{}",
        figure.format.mime(),
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// A number with four significant digits (scientific notation outside 0.001..100000).
pub fn number(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if (1e-3..1e5).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$}")
    } else {
        format!("{x:.3e}")
    }
}

fn arrow(direction: Option<Direction>) -> &'static str {
    match direction {
        Some(Direction::Higher) => "↑",
        Some(Direction::Lower) => "↓",
        None => "",
    }
}

const CSS: &str = r#"
:root { --ink: #1d1d1f; --muted: #5f6368; --rule: #dadce0; --top: #fff1b8; --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 16px; }
h1 { font-size: 1.6rem; margin: 0.2em 0; overflow-wrap: anywhere; }
.tag { display: inline-block; padding: 0 6px; border: 1px solid var(--rule); border-radius: 8px; font-size: 0.85em; }
.note { white-space: pre-wrap; }
blockquote.note { margin: 0.5em 0; padding-left: 1em; border-left: 3px solid var(--rule); }
h2 { font-size: 1.25rem; margin-top: 2em; border-bottom: 1px solid var(--rule); padding-bottom: 4px; }
h3 { font-size: 1.05rem; margin: 1.2em 0 0.2em; }
ul.findings { padding-left: 1.2em; margin: 0.5em 0 1em; }
ul.findings li { margin: 0.35em 0; overflow-wrap: anywhere; }
ul.findings li:first-child { list-style: none; margin-left: -1.2em; color: var(--muted); }
th small, td small { color: var(--muted); font-weight: 400; display: block; font-size: 0.85em; white-space: normal; }
p.meta, p.note, figcaption, footer { color: var(--muted); }
p, li, figcaption, summary { overflow-wrap: anywhere; }
nav { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 8px 0; }
nav a { color: #0b57d0; text-decoration: none; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; position: relative; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--rule); padding: 5px 9px; text-align: left; vertical-align: top; }
th { background: #f6f7f8; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; white-space: nowrap; }
td.top { background: var(--top); font-weight: 600; }
td small, td .sub { color: var(--muted); font-weight: 400; display: block; font-size: 0.85em; }
td.bad, span.bad { color: var(--bad); }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.label { overflow-wrap: break-word; }
table th[scope=row] { min-width: 7em; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 520px), 1fr)); gap: 18px; }
figure { margin: 0; }
figure.wide { grid-column: 1 / -1; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--rule); border-radius: 4px; }
pre { background: #f6f7f8; padding: 10px; overflow-x: auto; border-radius: 4px; font-size: 13px; }
code { font-size: 0.92em; }
pre.error { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; padding: 4px 6px; background: #fdf1f0; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
@media (max-width: 600px) { body { font-size: 14px; } main { padding: 10px; } th, td { padding: 4px 6px; } }
"#;

struct SectionInfo {
    id: &'static str,
    title: &'static str,
    section: Section,
    intro: &'static str,
}

const FIGURE_SECTIONS: &[SectionInfo] = &[
    SectionInfo {
        id: "curves",
        title: "Evaluation metrics during training",
        section: Section::Curves,
        intro: "Each variant's mean over its runs (thick line) with a band, and every run faint behind it.",
    },
    SectionInfo {
        id: "losses",
        title: "Losses",
        section: Section::Losses,
        intro: "One panel per variant: losses of different objectives are not comparable, so each has its own y axis, cut at the 0.5–99.5% quantiles of its points (a diverging run's last values would flatten everything else).",
    },
    SectionInfo {
        id: "signals",
        title: "Other training signals",
        section: Section::Signals,
        intro: "Per-step values the plugins log besides their losses, one panel per variant.",
    },
    SectionInfo {
        id: "distributions",
        title: "Distribution of final values",
        section: Section::Distributions,
        intro: "Every finished run as a dot (seeds and hyper-parameter samples alike), over a box from the first to the third quartile with the median as a thick line; whiskers reach the furthest run within 1.5 box heights. Only the variants that log a metric have a slot in its figure; the count under each says how many of its runs diverged or failed and so have no dot.",
    },
    SectionInfo {
        id: "best-so-far",
        title: "Best result versus search budget",
        section: Section::BestSoFar,
        intro: "As in Lucic et al. 2018 (\"Are GANs Created Equal?\"): for a budget of k configurations, 1000 bootstrap draws of k configurations with replacement, the best final value of each draw, and the median (line) with the 5–95% band. A configuration's value is the mean over its runs, a run that diverged or failed counting as the worst possible value.",
    },
    SectionInfo {
        id: "samples",
        title: "Samples during training",
        section: Section::Samples,
        intro: "Generated samples at each evaluation step of one run per variant (its first seed); for 2D data the true mode centres are black crosses. For models that reconstruct (the VAE) on images, a second grid shows held-out images next to their reconstructions.",
    },
];

/// Renders the page.
pub fn page(
    loaded: &Loaded,
    summary: &Summary,
    figures: &[(Figure, String)],
    ctx: &PageContext,
) -> String {
    let present: Vec<&SectionInfo> = FIGURE_SECTIONS
        .iter()
        .filter(|s| figures.iter().any(|(f, _)| f.section == s.section))
        .collect();
    let problems: Vec<usize> = (0..loaded.runs.len())
        .filter(|&i| loaded.runs[i].run.status != ganbench_store::Status::Finished)
        .collect();
    let total = loaded.runs.len();
    let count =
        |s: ganbench_store::Status| loaded.runs.iter().filter(|r| r.run.status == s).count();
    let statuses: Vec<String> = ganbench_store::Status::ALL
        .iter()
        .filter(|&&s| count(s) > 0)
        .map(|&s| format!("{} {}", count(s), s))
        .collect();
    let main_metric = summary.primary.as_ref().map(|p| p.metric.as_str());
    let main_index = summary.primary.as_ref().map(|p| p.index);
    let comparisons: &[Comparison] = summary
        .verdict
        .as_ref()
        .map_or(&[], |v| v.comparisons.as_slice());
    let annotated = loaded.sweeps.iter().any(|s| {
        let a = &s.annotations;
        !a.run_tags.is_empty() || a.notes.iter().any(|n| n.run_id.is_some())
    });
    let mut groups: Vec<ColumnGroup> = summary.metrics.iter().map(|c| c.group).collect();
    groups.sort();
    groups.dedup();

    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // An empty icon: a browser then asks the network for no favicon.
                link rel="icon" href="data:,";
                title { "ganbench report: " (ctx.heading) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    header {
                        h1 { (ctx.heading) }
                        p.meta {
                            (describe_sweeps(loaded)) " · "
                            (total) " runs: " (statuses.join(", "))
                        }
                    }
                    nav aria-label="sections" {
                        @if summary.verdict.is_some() { a href="#verdict" { "Verdict" } }
                        a href="#summary" { "Final metrics" }
                        @if !summary.configurations.is_empty() { a href="#configurations" { "Configurations" } }
                        @if comparisons.len() > 1 { a href="#significance" { "All pairs" } }
                        @if !problems.is_empty() { a href="#problems" { "Runs that did not finish" } }
                        @for s in &present { a href={ "#" (s.id) } { (s.title) } }
                        a href="#runs" { "All runs" }
                        a href="#reproduce" { "Reproduce" }
                    }

                    (notes_section(loaded))

                    @if let Some(v) = &summary.verdict { (verdict_section(v)) }

                    section #summary {
                        h2 { "Final metrics" }
                        p.note {
                            "Per variant: " (summary.statistics) ". ↑ higher is better, ↓ lower is better; "
                            "the best mean of each column is highlighted. “best” is the best single run. "
                            "For a variant with several configurations the row shows the configuration the verdict measures, on the runs it measures it on."
                        }
                        @for e in &loaded.extractors {
                            p.note { "Image metrics (FID, KID, precision/recall, density/coverage) in the feature space of the evaluation CNN " (e) "." }
                        }
                        h3 { "Runs" }
                        div.scroll {
                            table.summary.outcomes {
                                thead { tr {
                                    th scope="col" { "Variant" }
                                    th scope="col" { "Runs" }
                                    th scope="col" { "Diverged" }
                                    th scope="col" { "Failed" }
                                    th scope="col" title="share of the runs that ended which diverged or failed, with its 95% Wilson interval" { "No result" }
                                    th scope="col" title="mean training time per step (a timing, not a result)" { "ms/step" }
                                } }
                                tbody {
                                    @for row in &summary.variants {
                                        tr data-variant=(row.label) {
                                            th scope="row" { (variant_label(&row.label, &row.colour)) @if let Some(c) = &row.configuration { small.label { (c) } } }
                                            td.num data-count="runs" { (row.runs)
                                                small {
                                                    (row.finished) " finished"
                                                    @if row.unfinished > 0 { ", " (row.unfinished) " unfinished" }
                                                    @if row.configs > 1 { br; "of " (row.variant_runs) " in " (row.configs) " configurations" }
                                                }
                                            }
                                            td.num.bad[row.diverged > 0] data-count="diverged" { (row.diverged) }
                                            td.num.bad[row.failed > 0] data-count="failed" { (row.failed) }
                                            td.num.bad[row.failure_share.is_some_and(|x| x > 0.0)] {
                                                @if let Some(share) = row.failure_share { (crate::verdict::pct(share)) }
                                                @if let Some((lo, hi)) = row.failure_ci { small { (crate::verdict::pct(lo)) " to " (crate::verdict::pct(hi)) } }
                                            }
                                            td.num { @match row.ms_per_step { Some(ms) => { (number(ms)) }, None => { "—" } } }
                                        }
                                    }
                                }
                            }
                        }
                        @for group in &groups {
                            h3 { (group.title()) }
                            div.scroll {
                                table.summary.metrics data-group=(format!("{group:?}")) {
                                    thead { tr {
                                        th scope="col" { "Variant" }
                                        @for (_, c) in summary.metrics.iter().enumerate().filter(|(_, c)| c.group == *group) {
                                            th scope="col" title=(c.description) data-metric=(c.name) {
                                                (c.name) " " (arrow(c.direction))
                                            }
                                        }
                                    } }
                                    tbody {
                                        // Only the variants that log a metric of this table.
                                        @for row in summary.variants.iter().filter(|row| summary.metrics.iter().zip(&row.cells).any(|(c, cell)| c.group == *group && cell.mean.is_some())) {
                                            tr {
                                                th scope="row" { (variant_label(&row.label, &row.colour)) }
                                                @for (i, _) in summary.metrics.iter().enumerate().filter(|(_, c)| c.group == *group) {
                                                    @let cell = &row.cells[i];
                                                    td.num.top[cell.top] data-metric=(cell.metric) data-variant=(row.label) data-n=(cell.n) {
                                                        (metric_cell(cell))
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }

                    @if !summary.configurations.is_empty() {
                        section #configurations {
                            h2 { "Configurations" }
                            p.note {
                                "Runs with the same parameters and different seeds are one configuration. Per configuration: the runs that ended, how many diverged or failed (with a 95% Wilson interval), and the final "
                                code { (main_metric.unwrap_or("")) } " over its finished runs. Sorted best first by the mean rank of all their runs; "
                                "the configuration marked ✔ is the variant's entry in the verdict, chosen on other runs than those it is measured on (see the verdict)."
                            }
                            div.scroll {
                                table.configurations {
                                    thead { tr {
                                        th { "Configuration" } th { "Runs" } th { "No result" } th { (main_metric.unwrap_or("")) } th { "In the verdict" }
                                    } }
                                    tbody {
                                        @for c in &summary.configurations {
                                            tr data-configuration=(c.label) data-chosen=(c.chosen) {
                                                th scope="row" { (variant_label(&c.label, &c.colour)) }
                                                td.num { (c.runs) small { (seeds_text(&c.seeds)) } }
                                                td.num.bad[c.failed > 0] {
                                                    (c.failed) "/" (c.runs)
                                                    @if let Some((lo, hi)) = c.failure_ci { small { (crate::verdict::pct(lo)) " to " (crate::verdict::pct(hi)) } }
                                                }
                                                td.num { (metric_cell(&c.primary)) }
                                                td { @if c.chosen { "✔" } }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }

                    @if comparisons.len() > 1 {
                        section #significance {
                            h2 { "All pairs" }
                            p.note {
                                "Every pair of ranked variants, the higher-ranked first, tested as in the verdict: the final "
                                code { (main_metric.unwrap_or("")) } ", a run without a result counting as the worst value. "
                                "P(A beats B) is the probability of superiority; the difference of means is over runs with a result."
                            }
                            (pairs_table(comparisons.iter().collect()))
                        }
                    }

                    @if !problems.is_empty() {
                        section #problems {
                            h2 { "Runs that did not finish" }
                            p.note { "Diverged: a loss became NaN or infinite. Failed: the trial crashed or reported an error. Interrupted or queued: not trained to the end yet (run the sweep again to continue)." }
                            div.scroll {
                                table.problems {
                                    thead { tr { th { "Run" } th { "Variant" } th { "Seed" } th { "Status" } th { "Step" } th { "Error" } } }
                                    tbody {
                                        @for &i in &problems {
                                            @let e = &loaded.runs[i];
                                            tr data-run=(e.run.id.0) data-status=(e.run.status.as_str()) {
                                                td.num { (e.run.id.0) }
                                                td.label { (loaded.variants[e.variant].configs[e.config].label) }
                                                td.num { (e.run.seed) }
                                                td.bad { (e.run.status.as_str()) }
                                                td.num { (e.run.step) @if let Some(t) = e.run.total_steps { " / " (t) } }
                                                td { @if let Some(err) = &e.run.error { pre.error { (err) } } }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }

                    @for s in &present {
                        section id=(s.id) {
                            h2 { (s.title) }
                            p.note {
                                (s.intro)
                                @if s.section == Section::Curves { " Here " (ctx.band) "; a cross marks where a diverged run ended." }
                            }
                            div.figures {
                                @for (f, src) in figures.iter().filter(|(f, _)| f.section == s.section) {
                                    figure.wide[f.width > 900] {
                                        img src=(src) width=(f.width) height=(f.height) alt=(f.caption);
                                        figcaption { (f.caption) }
                                    }
                                }
                            }
                        }
                    }
                    @if !ctx.notes.is_empty() {
                        p.note { "Not drawn: " }
                        ul { @for n in &ctx.notes { li { (n) } } }
                    }

                    section #runs {
                        h2 { "All runs" }
                        details {
                            summary { (total) " runs" }
                            div.scroll {
                                table.runs {
                                    thead { tr {
                                        th { "Run" } th { "Configuration" } th { "Seed" } th { "Status" } th { "Steps" }
                                        @if let Some(m) = main_metric { th { "final " (m) } }
                                        @if annotated { th { "Tags and notes" } }
                                    } }
                                    tbody {
                                        @for v in &loaded.variants { @for &i in &v.runs {
                                            @let e = &loaded.runs[i];
                                            tr {
                                                td.num { (e.run.id.0) }
                                                td.label { (v.configs[e.config].label) }
                                                td.num { (e.run.seed) }
                                                td.bad[e.run.status != ganbench_store::Status::Finished] { (e.run.status.as_str()) }
                                                td.num { (e.run.step) }
                                                @if let Some(m) = main_index { td.num { (number(loaded.metrics[m].final_value(i))) } }
                                                @if annotated {
                                                    @let a = &loaded.sweeps[e.sweep].annotations;
                                                    td {
                                                        @for t in a.tags_of(e.run.id) { span.tag { (t) } " " }
                                                        @for n in a.notes_of(e.run.id) { div.note { (n.text) } }
                                                    }
                                                }
                                            }
                                        } }
                                    }
                                }
                            }
                        }
                    }

                    section #reproduce {
                        h2 { "Reproduce" }
                        @for (command, why) in &ctx.reproduce {
                            p { (why) }
                            pre { code { (command) } }
                        }
                        p { "This page was made with:" }
                        pre { code { (ctx.command) } }
                        p {
                            "Build id" @if build_ids(loaded).len() > 1 { "s" } ": "
                            @for (i, b) in build_ids(loaded).iter().enumerate() { @if i > 0 { ", " } code { (b) } }
                            ". Host" @if hosts(loaded).len() > 1 { "s" } ": " (hosts(loaded).join(", ")) "."
                            " The same spec, seed, build, device and thread count give bitwise-identical metrics."
                        }
                        @for s in &loaded.sweeps {
                            details open[loaded.sweeps.len() == 1] {
                                summary { "Spec of " (s.sweep.name) " v" (s.sweep.version) " (hash " code { (s.sweep.spec_hash) } ")" }
                                pre { code { (s.sweep.spec_text) } }
                            }
                        }
                    }
                    footer {
                        p { "Made by ganbench " (ctx.version) " on " (ctx.generated_at) " from " code { (loaded.db.display().to_string()) } "." }
                    }
                }
            }
        }
    };
    markup.into_string()
}

/// A colour swatch and a label.
fn variant_label(label: &str, colour: &str) -> Markup {
    html! { span.swatch style={ "background:" (colour) } {} span.label { (label) } }
}

/// A table cell's content: mean ± std, and the best run and n below.
fn metric_cell(cell: &Cell) -> Markup {
    html! {
        @match cell.mean {
            Some(mean) => {
                span.mean { (number(mean)) }
                @if let Some(std) = cell.std { " ± " span.std { (number(std)) } }
                @if cell.top { span.visually-hidden { " (best mean)" } }
            }
            None => { "—" }
        }
        @if let Some(best) = cell.best {
            span.sub { "best " span.best { (number(best)) } " · n=" (cell.n) }
        } @else if cell.mean.is_some() {
            span.sub { "n=" (cell.n) }
        }
    }
}

/// How an entry's runs were chosen, in a few words.
fn selection_note(selection: &Selection) -> String {
    match selection {
        Selection::AllRuns => String::new(),
        Selection::HeldOut {
            configurations,
            chosen_on,
            measured_on,
        } => format!(
            "best of {configurations} configurations on {}, measured on {}",
            seeds_text(chosen_on),
            seeds_text(measured_on)
        ),
        Selection::Confirmed {
            configurations,
            measured_on,
        } => format!(
            "best of {configurations} configurations, confirmed on fresh {}",
            seeds_text(measured_on)
        ),
        Selection::SameRuns { configurations } => format!(
            "best of {configurations} configurations, chosen and measured on the same runs (optimistic)"
        ),
    }
}

/// The verdict: findings first, then the ranking and the neighbours' tests.
/// The sweeps' own tags and notes, above the verdict: the researcher's words come first.
fn notes_section(loaded: &Loaded) -> Markup {
    let annotated: Vec<&crate::load::SweepInfo> = loaded
        .sweeps
        .iter()
        .filter(|s| {
            !s.annotations.sweep_tags.is_empty() || s.annotations.sweep_notes().next().is_some()
        })
        .collect();
    html! {
        @if !annotated.is_empty() {
            section #notes {
                @for s in annotated {
                    p {
                        @if loaded.sweeps.len() > 1 { (s.sweep.name) "@" (s.sweep.version) ": " }
                        @for t in &s.annotations.sweep_tags { span.tag { (t) } " " }
                    }
                    @for n in s.annotations.sweep_notes() {
                        blockquote.note {
                            (n.text)
                            " " span.meta { "(" (crate::format_time(n.at_ms)) ")" }
                        }
                    }
                }
            }
        }
    }
}

fn verdict_section(v: &Verdict) -> Markup {
    let metric = &v.primary.metric;
    let adjacent: Vec<&Comparison> = v
        .adjacent
        .iter()
        .map(|a| &v.comparisons[a.comparison])
        .collect();
    html! {
        section #verdict {
            h2 { "Verdict" }
            ul.findings {
                @for f in &v.findings { li.finding { (f) } }
            }
            @if !v.ranking.is_empty() {
                h3 { "Ranking on " code { (metric) } }
                div.scroll {
                    table.ranking {
                        thead { tr {
                            th { "Rank" } th { "Variant" } th { "Runs" }
                            th title="runs that diverged, failed or gave no finite value: they count as the worst value" { "No result" }
                            th { (metric) " " (arrow(Some(v.primary.direction))) }
                            @if let Some(t) = &v.primary.tie_break { th { (t) } }
                            th title="mean rank of its runs among all ranked runs (higher is better)" { "Mean rank" }
                        } }
                        tbody {
                            @for r in &v.ranking {
                                tr data-rank=(r.rank) data-entry=(r.label) {
                                    td.num { (r.rank) }
                                    th scope="row" {
                                        (variant_label(&r.label, &r.colour))
                                        @let note = selection_note(&r.selection);
                                        @if !note.is_empty() { small { (note) } }
                                    }
                                    td.num { (r.runs) small { (seeds_text(&r.seeds)) } }
                                    td.num.bad[r.with_result < r.runs] {
                                        (r.runs - r.with_result) "/" (r.runs)
                                        @if let Some((lo, hi)) = r.no_result_ci { small { (pct(r.no_result_share)) ", CI " (pct(lo)) " to " (pct(hi)) } }
                                    }
                                    td.num {
                                        @match r.mean { Some(m) => { (number(m)) @if let Some(s) = r.std { " ± " (number(s)) } }, None => { "—" } }
                                        small { "over " (r.with_result) " with a result" }
                                    }
                                    @if v.primary.tie_break.is_some() {
                                        td.num { @match r.tie_mean { Some(m) => { (number(m)) }, None => { "—" } } }
                                    }
                                    td.num { (num(r.mean_rank)) }
                                }
                            }
                        }
                    }
                }
            }
            @if !adjacent.is_empty() {
                h3 { "Neighbours in the ranking" }
                (pairs_table(adjacent))
            }
            details {
                summary { "How these numbers are computed" }
                p.note { (v.method) }
            }
        }
    }
}

/// A table of pairwise comparisons, seven columns wide so that it fits a laptop's screen.
fn pairs_table(pairs: Vec<&Comparison>) -> Markup {
    html! {
        div.scroll {
            table.significance {
                thead { tr {
                    th { "A" small { "against B" } }
                    th { "mean A − B" small { "95% bootstrap CI" } }
                    th title="the probability that a run of A beats a run of B, ties counting half" { "P(A beats B)" }
                    th { "p" small { "Holm-adjusted" } }
                    th title="runs without a result (diverged, failed, no value), and Fisher's exact test of the shares, Holm-adjusted" { "No result" small { "A · B, Fisher p" } }
                    th title="seeds per variant for 80% power at the observed probability of superiority (Noether)" { "Seeds for 80% power" }
                    th { "Verdict" }
                } }
                tbody {
                    @for c in pairs {
                        tr data-pair=(format!("{} | {}", c.a, c.b)) {
                            th scope="row" { span.label { (c.a) } small { "against " span.label { (c.b) } " · " (c.n_a) " vs " (c.n_b) " runs" } }
                            td.num {
                                @match c.difference { Some(d) => { (number(d)) }, None => { "—" } }
                                @if let Some((lo, hi)) = c.ci { small { "[" (number(lo)) ", " (number(hi)) "]" } }
                            }
                            td.num { (pct(c.probability_of_superiority)) }
                            td.num { (pval(c.p)) small { (pval(c.p_holm)) " · " (c.method.describe()) } }
                            td.num { (c.no_result_a) "/" (c.n_a) " · " (c.no_result_b) "/" (c.n_b) small { "p " (pval(c.no_result_p_holm)) } }
                            td.num { @match c.seeds_for_power { Some(n) => { (n) }, None => { "—" } } }
                            td {
                                @if c.significant {
                                    strong { "significant" }
                                    @if let Some(b) = &c.better { small { span.label { (b) } " is better" } }
                                } @else {
                                    "not significant"
                                    @if c.smallest_p >= ALPHA { small { "cannot be: smallest exact p " (pval(c.smallest_p)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn describe_sweeps(loaded: &Loaded) -> Markup {
    html! {
        @for (i, s) in loaded.sweeps.iter().enumerate() {
            @if i > 0 { "; " }
            "sweep " (s.sweep.name) " v" (s.sweep.version) ", created " (crate::format_time(s.sweep.created_at_ms))
            @if let Some(spec) = &s.spec {
                " · data " (spec.data.to_string()) " · " (spec.steps) " steps, evaluated every "
                (spec.eval_every) " on " (spec.eval_samples) " samples"
            }
        }
    }
}

fn build_ids(loaded: &Loaded) -> Vec<String> {
    let mut ids: Vec<String> = loaded.runs.iter().map(|r| r.run.build_id.clone()).collect();
    ids.sort();
    ids.dedup();
    ids
}

fn hosts(loaded: &Loaded) -> Vec<String> {
    let mut hosts: Vec<String> = loaded
        .runs
        .iter()
        .map(|r| r.run.host.clone().unwrap_or_else(|| "unknown".into()))
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_four_significant_digits() {
        assert_eq!(number(0.123456), "0.1235");
        assert_eq!(number(7.0), "7.000");
        assert_eq!(number(1234.5678), "1235");
        assert_eq!(number(-0.5), "-0.5000");
        assert_eq!(number(1.5e-5), "1.500e-5");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::NEG_INFINITY), "−∞");
        for x in [0.123456, 98765.4, 1.5e-5, 3.0e7, -42.42] {
            let back: f64 = number(x).parse().unwrap();
            assert!((back - x).abs() <= x.abs() * 5e-4, "{x} → {}", number(x));
        }
    }

    #[test]
    fn user_text_is_escaped_everywhere_maud_puts_it() {
        let evil = r#"<script>alert(1)</script> "quoted" 'single' & Ünïcode"#;
        let markup = html! { p title=(evil) data-x=(evil) { (evil) } pre { code { (evil) } } };
        let s = markup.into_string();
        assert!(!s.contains("<script>"), "{s}");
        assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{s}");
        assert!(s.contains("&quot;quoted&quot;"), "{s}");
        assert!(s.contains("&amp; Ünïcode"), "{s}");
        // Inside attributes the double quote can never close the attribute.
        assert_eq!(s.matches('"').count(), 4, "{s}");
    }
}
