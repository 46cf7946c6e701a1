//! End to end: `ganbench report` and `ganbench compare` on small real sweeps. Every figure the
//! page names exists and decodes at its stated size, the table holds the numbers of the database
//! (recomputed here with plain SQL), user strings arrive escaped and intact, diverged and failed
//! runs are shown as such, and headless Chromium loads the page with no failed request and no
//! console error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::chromium;
use crate::common::*;
use base64::Engine as _;

/// The sweep name and a variant label that must survive escaping. A sweep file may only name a
/// sweep with ASCII letters, digits, `-`, `_` and `.`, so the fixture renames its sweep in the
/// database, as another tool or an older ganbench could have written it; labels are free text.
const SWEEP: &str = r#"Größe "quoted" <sweep> ∑"#;
const SPEC_NAME: &str = "escapes";
const EVIL_LABEL: &str = "<script>alert(1)</script>";

/// A RON string literal of `s`.
fn ron_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The report of one small real sweep: gan (labelled with a script tag) and vae, 2 seeds each
/// on ring8, trained once per test binary.
struct Fixture {
    db: PathBuf,
    out: PathBuf,
    html: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // Under target/, replaced on every run: a static is never dropped, so a temporary
        // directory here would outlive the test.
        let dir = profile_dir().parent().unwrap().join("report-test-fixture");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let spec = dir.join("sweep.ron");
        std::fs::write(
            &spec,
            format!(
                r#"Sweep(
    name: "{SPEC_NAME}",
    data: "ring8",
    steps: 60,
    eval_every: 20,
    eval_samples: 300,
    seeds: 2,
    base: {{"batch_size": 32, "hidden": 16}},
    variants: [(plugin: "gan", label: {label}), (plugin: "vae", label: "VAE")],
)"#,
                label = ron_str(EVIL_LABEL)
            ),
        )
        .unwrap();
        let db = dir.join("db.sqlite");
        let (code, _, stderr) = run_sweep(&spec, &db, &[]);
        assert_eq!(code, 0, "{stderr}");
        let conn = rusqlite::Connection::open(&db).unwrap();
        let renamed = conn
            .execute(
                "UPDATE sweeps SET name = ?1 WHERE name = ?2",
                [SWEEP, SPEC_NAME],
            )
            .unwrap();
        assert_eq!(renamed, 1);
        drop(conn);
        let out = dir.join("report");
        let (code, stdout, stderr) = run(&[
            "report",
            SWEEP,
            "--db",
            db.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("index.html"), "{stdout}");
        let html = std::fs::read_to_string(out.join("index.html")).unwrap();
        Fixture { db, out, html }
    })
}

// ---- A little HTML reading: the page is generated, so its shapes are known. ----

/// Undoes the escaping of text and attribute values.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Every opening tag `<name …>` with the text up to its closing `</name>` (no nesting of the
/// same element in what the tests read).
fn elements<'a>(html: &'a str, name: &str) -> Vec<(&'a str, &'a str)> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        if !after.starts_with([' ', '>']) {
            rest = after;
            continue;
        }
        let tag_end = after.find('>').unwrap();
        let tag = &rest[at..at + open.len() + tag_end + 1];
        let body_start = &after[tag_end + 1..];
        let body = body_start.find(&close).map_or("", |e| &body_start[..e]);
        out.push((tag, body));
        rest = body_start;
    }
    out
}

/// The unescaped value of attribute `name` of an opening tag.
fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(unescape(&tag[start..start + len]))
}

/// The text of the first `<span class="class">` in `body`.
fn span(body: &str, class: &str) -> Option<String> {
    let key = format!("<span class=\"{class}\">");
    let start = body.find(&key)? + key.len();
    let len = body[start..].find("</span>")?;
    Some(unescape(&body[start..start + len]))
}

/// Images the page shows: (src, width, height).
fn images(html: &str) -> Vec<(String, u32, u32)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<img ") {
        let end = rest[at..].find('>').unwrap() + at;
        let tag = &rest[at..=end];
        out.push((
            attr(tag, "src").unwrap(),
            attr(tag, "width").unwrap().parse().unwrap(),
            attr(tag, "height").unwrap().parse().unwrap(),
        ));
        rest = &rest[end..];
    }
    out
}

// ---- The database, read independently of the store crate. ----

struct DbRun {
    label: String,
    status: String,
    /// Final value (at the highest step) of every metric; NaN for NULL.
    finals: BTreeMap<String, f64>,
}

fn db_runs(db: &Path, sweep: &str) -> Vec<DbRun> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn
        .prepare(
            "SELECT r.id, r.label, r.status FROM runs r JOIN sweeps s ON s.id = r.sweep_id
             WHERE s.name = ?1 ORDER BY r.id",
        )
        .unwrap();
    let runs: Vec<(i64, String, String)> = st
        .query_map([sweep], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut finals = conn
        .prepare(
            "SELECT k.name, m.value FROM metrics m JOIN metric_keys k ON k.id = m.key_id
             WHERE m.run_id = ?1
               AND m.step = (SELECT MAX(step) FROM metrics WHERE run_id = m.run_id AND key_id = m.key_id)",
        )
        .unwrap();
    runs.into_iter()
        .map(|(id, label, status)| DbRun {
            label,
            status,
            finals: finals
                .query_map([id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<f64>>(1)?.unwrap_or(f64::NAN),
                    ))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect(),
        })
        .collect()
}

/// Mean and sample standard deviation of the finished runs' finite final values of `metric`.
fn recompute(
    runs: &[DbRun],
    label: &str,
    metric: &str,
) -> (usize, Option<f64>, Option<f64>, Vec<f64>) {
    let values: Vec<f64> = runs
        .iter()
        .filter(|r| r.label == label && r.status == "finished")
        .filter_map(|r| r.finals.get(metric).copied())
        .filter(|v| v.is_finite())
        .collect();
    let n = values.len();
    if n == 0 {
        return (0, None, None, values);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let std = (n > 1)
        .then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    (n, Some(mean), std, values)
}

/// `shown` is `value` written with four significant digits.
fn shows(shown: &str, value: f64) -> bool {
    let parsed: f64 = shown.parse().unwrap_or(f64::NAN);
    (parsed - value).abs() <= 5e-4 * value.abs() + 1e-12
}

fn check_figures(dir: &Path, html: &str) -> usize {
    let imgs = images(html);
    for (src, w, h) in &imgs {
        assert!(
            !src.contains("://") && !src.starts_with('/'),
            "{src} is not relative"
        );
        let path = dir.join(src);
        let decoded = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!((decoded.width(), decoded.height()), (*w, *h), "{src}");
        // Drawn, not blank: more than a few colours.
        let rgb = decoded.to_rgb8();
        let mut colours: Vec<[u8; 3]> = rgb.pixels().map(|p| p.0).collect();
        colours.sort_unstable();
        colours.dedup();
        assert!(colours.len() > 8, "{src} has {} colours", colours.len());
    }
    imgs.len()
}

#[test]
fn every_figure_exists_and_decodes_as_an_image_of_the_stated_size() {
    let f = fixture();
    let n = check_figures(&f.out, &f.html);
    let srcs: Vec<String> = images(&f.html).into_iter().map(|i| i.0).collect();
    for expected in [
        "curve-modes.png",
        "curve-high_quality.png",
        "curve-reverse_kl.png",
        "loss-loss_d.png",
        "loss-loss_g.png",
        "loss-loss.png",
        "final-reverse_kl.png",
        "samples.png",
    ] {
        assert!(
            srcs.iter().any(|s| s == expected),
            "no {expected} in {srcs:?}"
        );
    }
    assert!(n >= 12, "{n} figures");
    // The sample grid: a row per variant, a column per evaluation (20, 40, 60).
    let (_, w, h) = images(&f.html)
        .into_iter()
        .find(|i| i.0 == "samples.png")
        .unwrap();
    assert_eq!((w, h), (150 + 3 * 170, 34 + 26 + 2 * 170));
}

#[test]
fn svg_figures_and_an_embedded_page_have_the_same_figures() {
    let f = fixture();
    let db = f.db.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let svg_out = dir.path().join("svg");
    let (code, _, stderr) = run(&[
        "report",
        SWEEP,
        "--db",
        db,
        "--svg",
        "--band",
        "std",
        "--out",
        svg_out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let html = std::fs::read_to_string(svg_out.join("index.html")).unwrap();
    let imgs = images(&html);
    assert_eq!(imgs.len(), images(&f.html).len());
    for (src, w, h) in &imgs {
        assert!(src.ends_with(".svg"), "{src}");
        let text = std::fs::read_to_string(svg_out.join(src)).unwrap();
        assert!(
            text.contains(&format!("width=\"{w}\" height=\"{h}\"")),
            "{src}: size"
        );
        assert!(text.trim_end().ends_with("</svg>"), "{src}: complete");
    }
    assert!(
        html.contains("one standard deviation"),
        "--band std is stated"
    );

    let embed_out = dir.path().join("embed");
    let (code, _, stderr) = run(&[
        "report",
        SWEEP,
        "--db",
        db,
        "--embed",
        "--out",
        embed_out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let html = std::fs::read_to_string(embed_out.join("index.html")).unwrap();
    let imgs = images(&html);
    assert_eq!(imgs.len(), images(&f.html).len());
    for (src, w, h) in imgs {
        let data = src
            .strip_prefix("data:image/png;base64,")
            .expect("a PNG data URI");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (w, h));
    }
}

#[test]
fn the_table_holds_the_numbers_of_the_database() {
    let f = fixture();
    let runs = db_runs(&f.db, SWEEP);
    assert_eq!(runs.len(), 4);
    let columns: Vec<String> = elements(&f.html, "th")
        .iter()
        .filter_map(|(tag, _)| attr(tag, "data-metric"))
        .collect();
    for m in ["modes", "high_quality", "reverse_kl", "elbo"] {
        assert!(
            columns.iter().any(|c| c == m),
            "no column {m} in {columns:?}"
        );
    }
    assert!(!columns
        .iter()
        .any(|c| c.contains("loss") || c == "ms_per_step"));

    let cells: Vec<(&str, &str)> = elements(&f.html, "td")
        .into_iter()
        .filter(|(tag, _)| tag.contains("data-metric="))
        .collect();
    let labels = [EVIL_LABEL, "VAE"];
    let mut checked = 0;
    for label in labels {
        for metric in &columns {
            let (n, mean, std, values) = recompute(&runs, label, metric);
            let Some((tag, body)) = cells.iter().find(|(tag, _)| {
                attr(tag, "data-variant").as_deref() == Some(label)
                    && attr(tag, "data-metric").as_deref() == Some(metric)
            }) else {
                // A variant has no row in a table none of whose metrics it logs (a GAN in the
                // VAE's "Model fit" table).
                assert_eq!(n, 0, "no cell for {label} / {metric}");
                continue;
            };
            assert_eq!(
                attr(tag, "data-n").unwrap(),
                n.to_string(),
                "{label} {metric}"
            );
            match mean {
                Some(mean) => {
                    let shown = span(body, "mean").unwrap();
                    assert!(
                        shows(&shown, mean),
                        "{label} {metric}: page {shown}, database {mean}"
                    );
                    if let Some(std) = std {
                        let shown = span(body, "std").unwrap();
                        assert!(shows(&shown, std), "{label} {metric}: std {shown} vs {std}");
                    }
                    let best = match metric.as_str() {
                        "modes" | "high_quality" | "elbo" => {
                            Some(values.iter().copied().fold(f64::NEG_INFINITY, f64::max))
                        }
                        "reverse_kl" | "reconstruction" | "mse" => {
                            Some(values.iter().copied().fold(f64::INFINITY, f64::min))
                        }
                        _ => None,
                    };
                    if let Some(best) = best {
                        let shown = span(body, "best").unwrap();
                        assert!(
                            shows(&shown, best),
                            "{label} {metric}: best {shown} vs {best}"
                        );
                    }
                    checked += 1;
                }
                None => assert!(body.contains('—'), "{label} {metric}: {body}"),
            }
        }
    }
    assert!(checked >= 8, "{checked} cells checked");

    // The highlighted cell of each column is the best mean in the metric's direction.
    for (metric, higher) in [
        ("modes", true),
        ("reverse_kl", false),
        ("high_quality", true),
    ] {
        let means: Vec<(&str, f64)> = labels
            .iter()
            .filter_map(|l| recompute(&runs, l, metric).1.map(|m| (*l, m)))
            .collect();
        let best = means
            .iter()
            .copied()
            .reduce(|a, b| {
                if (b.1 > a.1) == higher && b.1 != a.1 {
                    b
                } else {
                    a
                }
            })
            .unwrap();
        for (label, mean) in &means {
            let (tag, _) = cells
                .iter()
                .find(|(tag, _)| {
                    attr(tag, "data-variant").as_deref() == Some(*label)
                        && attr(tag, "data-metric").as_deref() == Some(metric)
                })
                .unwrap();
            let top = attr(tag, "class").unwrap().split(' ').any(|c| c == "top");
            assert_eq!(
                top,
                *mean == best.1,
                "{metric}: {label} highlighted = {top}"
            );
        }
    }

    // Run counts per variant.
    for (tag, _) in elements(&f.html, "tr")
        .iter()
        .filter(|(t, _)| t.contains("data-variant="))
    {
        let label = attr(tag, "data-variant").unwrap();
        assert_eq!(
            runs.iter().filter(|r| r.label == label).count(),
            2,
            "{label}"
        );
    }

    // --json prints the same table, at full precision.
    let json = run_json(&[
        "report",
        SWEEP,
        "--db",
        f.db.to_str().unwrap(),
        "--json",
        "--out",
        f.out.join("json").to_str().unwrap(),
    ]);
    // On toy data the verdict ranks by modes captured, ties broken by the high-quality share.
    assert_eq!(json["primary"]["metric"], "modes");
    assert_eq!(json["primary"]["tie_break"], "high_quality");
    for row in json["variants"].as_array().unwrap() {
        let label = row["label"].as_str().unwrap();
        for cell in row["cells"].as_array().unwrap() {
            let metric = cell["metric"].as_str().unwrap();
            let (n, mean, _, _) = recompute(&runs, label, metric);
            assert_eq!(cell["n"].as_u64().unwrap() as usize, n);
            if let Some(mean) = mean {
                let got = cell["mean"].as_f64().unwrap();
                assert!(
                    (got - mean).abs() <= 1e-12 * mean.abs().max(1.0),
                    "{label} {metric}: {got} vs {mean}"
                );
            }
        }
    }
    let pairs = json["verdict"]["comparisons"].as_array().unwrap();
    assert_eq!(pairs.len(), 1, "one pair of variants");
    // Two runs against two: the exact test's smallest two-sided p is 2/C(4,2) = 1/3.
    assert_eq!(pairs[0]["method"], "exact");
    assert!(pairs[0]["p"].as_f64().unwrap() >= 1.0 / 3.0 - 1e-12);
}

#[test]
fn user_strings_appear_escaped_and_intact() {
    let f = fixture();
    let html = &f.html;
    assert!(
        !html.to_lowercase().contains("<script"),
        "a script tag reached the page"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // Intact: unescaping gives back the exact strings, in the title, the heading, the table and
    // the spec.
    let (_, title) = elements(html, "title")[0];
    assert_eq!(
        unescape(title),
        format!("ganbench report: Sweep “{SWEEP}” (version 1)")
    );
    let (_, h1) = elements(html, "h1")[0];
    assert!(unescape(h1).contains(SWEEP), "{h1}");
    let rows: Vec<String> = elements(html, "tr")
        .iter()
        .filter_map(|(t, _)| attr(t, "data-variant"))
        .collect();
    assert_eq!(rows, [EVIL_LABEL, "VAE"]);
    let spec = elements(html, "pre")
        .into_iter()
        .map(|(_, b)| unescape(b))
        .find(|b| b.contains("Sweep("))
        .unwrap();
    assert!(spec.contains(&ron_str(EVIL_LABEL)), "{spec}");
    // Raw quotes of the name never sit inside an attribute unescaped.
    assert!(!html.contains(r#""quoted""#), "an unescaped quote");
}

#[test]
fn a_sweep_with_a_diverged_and_a_failed_run_renders_and_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let spec = mixed_sweep(dir.path(), 17);
    let db = dir.path().join("db.sqlite");
    let out = dir.path().join("report");
    let (code, _, stderr) = run_sweep(&spec, &db, &["--jobs", "2"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(&[
        "report",
        "mixed",
        "--db",
        db.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    check_figures(&out, &html);

    let problems: Vec<(String, String)> = elements(&html, "tr")
        .into_iter()
        .filter_map(|(tag, body)| attr(tag, "data-status").map(|s| (s, unescape(body))))
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    let failed = problems
        .iter()
        .find(|(s, _)| s == "failed")
        .expect("the failed run is listed");
    assert!(
        failed.1.contains("aborts") && failed.1.contains("aborting at step 5"),
        "{}",
        failed.1
    );
    let diverged = problems
        .iter()
        .find(|(s, _)| s == "diverged")
        .expect("the diverged run is listed");
    assert!(
        diverged.1.contains("nan") && diverged.1.contains("NaN at step 17"),
        "{}",
        diverged.1
    );

    // The counts in the table.
    let count = |label: &str, what: &str| -> String {
        let (_, row) = elements(&html, "tr")
            .into_iter()
            .find(|(t, _)| attr(t, "data-variant").as_deref() == Some(label))
            .unwrap();
        let (_, cell) = elements(row, "td")
            .into_iter()
            .find(|(t, _)| attr(t, "data-count").as_deref() == Some(what))
            .unwrap();
        cell.split('<').next().unwrap().trim().to_string()
    };
    assert_eq!(count("aborts", "failed"), "1");
    assert_eq!(count("nan", "diverged"), "1");
    assert_eq!(count("gan", "diverged"), "0");
    // The diverged run's curve ends with a marker; the legend says so.
    assert!(html.contains("a cross marks where a diverged run ended"));
}

#[test]
fn run_writes_the_report_unless_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("small.ron");
    std::fs::write(
        &spec,
        r#"Sweep(name: "small.one", data: "ring8", steps: 10, eval_every: 5, eval_samples: 100, seeds: 1,
                 base: {"batch_size": 16, "hidden": 8}, variants: [(plugin: "gan")])"#,
    )
    .unwrap();
    let out = ganbench()
        .current_dir(dir.path())
        .args(["run", "small.ron", "--db", "db.sqlite", "--jobs", "1"])
        .output()
        .unwrap();
    let (code, stdout, stderr) = split(out);
    assert_eq!(code, 0, "{stderr}");
    let index = dir.path().join("reports/small.one/index.html");
    assert!(index.is_file(), "{stdout}");
    assert!(
        stdout.contains("report: reports/small.one/index.html"),
        "{stdout}"
    );
    let html = std::fs::read_to_string(&index).unwrap();
    // The page says how to rebuild itself and how to retrain.
    assert!(
        html.contains("ganbench report small.one@1 --db db.sqlite"),
        "rebuild command"
    );
    assert!(html.contains("ganbench run spec.ron --db reproduce.sqlite"));
    let saved = std::fs::read_to_string(dir.path().join("reports/small.one/spec.ron")).unwrap();
    assert_eq!(saved, std::fs::read_to_string(&spec).unwrap());

    let other = tempfile::tempdir().unwrap();
    std::fs::copy(&spec, other.path().join("small.ron")).unwrap();
    let out = ganbench()
        .current_dir(other.path())
        .args([
            "run",
            "small.ron",
            "--db",
            "db.sqlite",
            "--no-report",
            "--json",
        ])
        .output()
        .unwrap();
    let (code, stdout, stderr) = split(out);
    assert_eq!(code, 0, "{stderr}");
    assert!(!other.path().join("reports").exists());
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(summary["html_report"].is_null(), "{summary}");
}

#[test]
fn compare_reports_chosen_runs_and_refuses_unknown_ones() {
    let f = fixture();
    let db = f.db.to_str().unwrap();
    let ids: Vec<i64> = {
        let conn = rusqlite::Connection::open(&f.db).unwrap();
        let mut st = conn.prepare("SELECT id FROM runs ORDER BY id").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    // Three runs by id: the first variant's two runs and one of the second's.
    let args: Vec<String> = [
        "compare",
        ids[0].to_string().as_str(),
        &ids[1].to_string(),
        &ids[2].to_string(),
        "--db",
        db,
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let json = run_json(&args);
    let rows = json["variants"].as_array().unwrap();
    let runs: usize = rows
        .iter()
        .map(|r| r["runs"].as_u64().unwrap() as usize)
        .sum();
    assert_eq!(runs, 3, "{json}");
    assert_eq!(rows[0]["label"], EVIL_LABEL);
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    check_figures(&out, &html);
    assert!(html.contains("Comparison of 3 runs"));

    // The whole sweep through compare gives the sweep's table.
    let whole = run_json(&[
        "compare",
        SWEEP,
        "--db",
        db,
        "--json",
        "--out",
        dir.path().join("all").to_str().unwrap(),
    ]);
    let report = run_json(&[
        "report",
        SWEEP,
        "--db",
        db,
        "--json",
        "--out",
        dir.path().join("rep").to_str().unwrap(),
    ]);
    assert_eq!(whole["variants"], report["variants"]);

    let (code, _, stderr) = run(&["compare", "999999", "--db", db]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no run 999999"), "{stderr}");
    let (code, _, stderr) = run(&["report", "no-such-sweep", "--db", db]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run(&[
        "report",
        SWEEP,
        "--db",
        db,
        "--metric",
        "fid",
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("reverse_kl"),
        "lists the metrics there: {stderr}"
    );
}

#[test]
fn headless_chromium_loads_the_page_without_errors_and_draws_it() {
    let Some(browser) = chromium::find() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("no Chromium on PATH in CI: run .ci/install-chromium.sh first");
        }
        eprintln!("SKIPPED headless_chromium_loads_the_page_without_errors_and_draws_it: no Chromium on PATH (install it with .ci/install-chromium.sh)");
        return;
    };
    let f = fixture();
    let profile = tempfile::tempdir().unwrap();
    let mut b = chromium::Browser::launch(&browser, profile.path());
    let page = b.open_page();

    // A control page with a missing image and a console error: the checks below must see both,
    // or they could not see them on the report either.
    let control = profile.path().join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><title>control</title><img src=\"missing.png\" alt=\"\"><script>console.error(\"control\")</script>",
    )
    .unwrap();
    b.call(
        "Page.navigate",
        serde_json::json!({ "url": format!("file://{}", control.display()) }),
        Some(&page),
    );
    b.wait_for_event("Page.loadEventFired", &page, 0);
    let seen = chromium::problems(b.events());
    assert!(
        seen.iter().any(|p| p.starts_with("failed request"))
            && seen.iter().any(|p| p.starts_with("console error")),
        "the control page's errors went unnoticed: {seen:?}"
    );
    let start = b.events().len();

    let url = format!(
        "file://{}",
        f.out.join("index.html").canonicalize().unwrap().display()
    );
    b.call(
        "Page.navigate",
        serde_json::json!({ "url": url }),
        Some(&page),
    );
    b.wait_for_event("Page.loadEventFired", &page, start);
    let state = b.call(
        "Runtime.evaluate",
        serde_json::json!({
            "expression": "JSON.stringify({images: document.images.length, broken: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length, width: document.documentElement.scrollWidth, viewport: window.innerWidth, scripts: document.scripts.length, wide: Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !(e.parentElement && e.parentElement.closest('.scroll, pre'))).slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))})",
            "returnByValue": true
        }),
        Some(&page),
    );
    let state: serde_json::Value =
        serde_json::from_str(state["result"]["value"].as_str().unwrap()).unwrap();
    assert!(state["images"].as_u64().unwrap() >= 12, "{state}");
    assert_eq!(state["broken"], 0, "{state}");
    assert_eq!(state["scripts"], 0, "{state}");
    // Headless Chromium keeps windows at least 500 px wide: still a phone's width in CSS pixels
    // give or take, and far below the figures' 760 px.
    let viewport = state["viewport"].as_u64().unwrap();
    assert!(viewport <= 500, "{state}");
    assert!(
        state["width"].as_u64().unwrap() <= viewport,
        "the page is wider than a phone's screen: {state}"
    );

    let shot = b.call(
        "Page.captureScreenshot",
        serde_json::json!({"format": "png"}),
        Some(&page),
    );
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    let shot = image::load_from_memory(&png).unwrap().to_rgb8();
    let inked = shot
        .pixels()
        .filter(|p| p.0.iter().any(|&c| c < 200))
        .count();
    let share = inked as f64 / (shot.width() * shot.height()) as f64;
    assert!(
        share > 0.01,
        "the screenshot is blank ({share:.4} of pixels inked)"
    );

    let events = b.close();
    let events = &events[start..];
    let problems = chromium::problems(events);
    assert!(problems.is_empty(), "{problems:#?}");
    let requests = events
        .iter()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
        .count();
    assert!(
        requests >= 13,
        "the page and its figures were requested: {requests}"
    );
}
