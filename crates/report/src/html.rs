//! The page: one HTML file with inline CSS and no script, font or anything else fetched from
//! the network. maud escapes every interpolated string (sweep names, labels, parameter values,
//! error messages, the spec), so user text can never become markup.

use base64::Engine as _;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::load::Loaded;
use crate::plot::{Figure, Section};
use crate::stats::Direction;
use crate::summary::{Summary, ALPHA, BOOTSTRAP_DRAWS, CI_LEVEL};

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
h2 { font-size: 1.25rem; margin-top: 2em; border-bottom: 1px solid var(--rule); padding-bottom: 4px; }
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
.label { overflow-wrap: anywhere; }
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
        intro: "Every finished run as a dot (seeds and hyper-parameter samples alike), over a box from the first to the third quartile with the median as a thick line; whiskers reach the furthest run within 1.5 box heights.",
    },
    SectionInfo {
        id: "best-so-far",
        title: "Best result versus search budget",
        section: Section::BestSoFar,
        intro: "As in Lucic et al. 2018 (\"Are GANs Created Equal?\"): for a budget of k trials, 1000 bootstrap draws of k runs with replacement, the best final value of each draw, and the median (line) with the 5–95% band. A diverged run counts as a trial with the worst possible result.",
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
    let main_metric = summary.main_metric.as_deref();
    let main_index = main_metric.and_then(|m| loaded.metrics.iter().position(|x| x.name == m));

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
                        a href="#summary" { "Summary" }
                        @if !summary.comparisons.is_empty() { a href="#significance" { "Significance" } }
                        @if !problems.is_empty() { a href="#problems" { "Runs that did not finish" } }
                        @for s in &present { a href={ "#" (s.id) } { (s.title) } }
                        a href="#runs" { "All runs" }
                        a href="#reproduce" { "Reproduce" }
                    }

                    section #summary {
                        h2 { "Summary" }
                        p.note {
                            "Per variant: " (summary.statistics) ". ↑ higher is better, ↓ lower is better; "
                            "the best mean of each column is highlighted. “best” is the best single run."
                        }
                        @for e in &loaded.extractors {
                            p.note { "Image metrics (FID, KID, precision/recall, density/coverage) in the feature space of the evaluation CNN " (e) "." }
                        }
                        div.scroll {
                            table.summary {
                                thead { tr {
                                    th scope="col" { "Variant" }
                                    th scope="col" { "Runs" }
                                    th scope="col" { "Diverged" }
                                    th scope="col" { "Failed" }
                                    @for c in &summary.metrics {
                                        th scope="col" title=(c.description) data-metric=(c.name) {
                                            (c.name) " " (arrow(c.direction))
                                        }
                                    }
                                    th scope="col" title="mean training time per step (a timing, not a result)" { "ms/step" }
                                } }
                                tbody {
                                    @for row in &summary.variants {
                                        tr data-variant=(row.label) {
                                            th scope="row" {
                                                span.swatch style={ "background:" (row.colour) } {}
                                                span.label { (row.label) }
                                                @if row.configs > 1 { small { (row.configs) " configurations" } }
                                            }
                                            td.num data-count="runs" { (row.runs)
                                                small { (row.finished) " finished" @if row.unfinished > 0 { ", " (row.unfinished) " unfinished" } }
                                            }
                                            td.num.bad[row.diverged > 0] data-count="diverged" { (row.diverged) }
                                            td.num.bad[row.failed > 0] data-count="failed" { (row.failed) }
                                            @for cell in &row.cells {
                                                td.num.top[cell.top] data-metric=(cell.metric) data-variant=(row.label) data-n=(cell.n) {
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
                                            td.num { @match row.ms_per_step { Some(ms) => { (number(ms)) }, None => { "—" } } }
                                        }
                                    }
                                }
                            }
                        }
                    }

                    @if !summary.comparisons.is_empty() {
                        section #significance {
                            h2 { "Is the difference real?" }
                            p.note {
                                "Pairwise two-sided Mann–Whitney U tests of the final " code { (main_metric.unwrap_or("")) }
                                " over finished runs (exact null distribution when there are no ties and at most 100 runs, "
                                "otherwise the normal approximation with tie and continuity corrections), p-values adjusted "
                                "with Holm's method over all pairs; a difference is called significant when the adjusted p < "
                                (ALPHA) ". The interval is a " (CI_LEVEL * 100.0) "% percentile-bootstrap confidence interval of "
                                "the difference of means (" (BOOTSTRAP_DRAWS) " resamples). With 3 runs per variant the smallest "
                                "possible exact p is 0.1: more seeds are needed to call anything significant."
                            }
                            div.scroll {
                                table.significance {
                                    thead { tr {
                                        th { "A" } th { "B" } th { "n" } th { "mean A − B" } th { "95% CI" }
                                        th { "U" } th { "p" } th { "p (Holm)" } th { "Verdict" }
                                    } }
                                    tbody {
                                        @for c in &summary.comparisons {
                                            tr {
                                                td.label { (c.a) } td.label { (c.b) }
                                                td.num { (c.n_a) " vs " (c.n_b) }
                                                td.num { (number(c.difference)) }
                                                td.num { @if let Some((lo, hi)) = c.ci { "[" (number(lo)) ", " (number(hi)) "]" } }
                                                td.num { (number(c.u)) }
                                                td.num { (number(c.p)) small { (c.method.describe()) } }
                                                td.num { (number(c.p_holm)) }
                                                td {
                                                    @if c.significant {
                                                        strong { "significant" }
                                                        @if let Some(b) = &c.better { small { span.label { (b) } " is better" } }
                                                    } @else { "not significant" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
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
                                                td.label { (loaded.variants[e.variant].label) }
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
                                        th { "Run" } th { "Variant" } th { "Seed" } th { "Parameters that vary" } th { "Status" } th { "Steps" }
                                        @if let Some(m) = main_metric { th { "final " (m) } }
                                    } }
                                    tbody {
                                        @for v in &loaded.variants { @for &i in &v.runs {
                                            @let e = &loaded.runs[i];
                                            tr {
                                                td.num { (e.run.id.0) }
                                                td.label { (v.label) }
                                                td.num { (e.run.seed) }
                                                td { code { (e.varied.join(", ")) } }
                                                td.bad[e.run.status != ganbench_store::Status::Finished] { (e.run.status.as_str()) }
                                                td.num { (e.run.step) }
                                                @if let Some(m) = main_index { td.num { (number(loaded.metrics[m].final_value(i))) } }
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
