//! The verdict on small stores written directly through `ganbench_store` (no training): its
//! ranking and every sentence follow the data. A 3-seed and a 6-seed sweep say different
//! things, a variant that always diverges ranks last and the page says so, diverged runs count
//! as the worst value, the primary metric is the sweep's or the default, and a random search is
//! judged on seeds it was not chosen on.

use std::path::Path;

use ganbench_report::load::{load, Loaded};
use ganbench_report::primary::{resolve, PrimarySource};
use ganbench_report::select::{configuration_results, Selection as Chosen};
use ganbench_report::summary::{summarize, Summary};
use ganbench_report::{Band, ImageFormat, Options, Selection};
use ganbench_store::{NewRun, Status, Store, SweepId};

/// One run to write: its variant, parameters, seed, how it ended and its final metrics.
struct Fake {
    label: &'static str,
    params: String,
    seed: u64,
    status: Status,
    finals: Vec<(&'static str, f64)>,
}

fn run(label: &'static str, seed: u64, modes: f64, high_quality: f64) -> Fake {
    Fake {
        label,
        params: "{\"hidden\": 64}".into(),
        seed,
        status: Status::Finished,
        finals: vec![
            ("modes", modes),
            ("high_quality", high_quality),
            ("reverse_kl", 0.5 - high_quality / 4.0),
        ],
    }
}

fn diverged(label: &'static str, seed: u64) -> Fake {
    Fake {
        status: Status::Diverged,
        ..run(label, seed, 3.0, 0.2)
    }
}

/// A sweep file naming `variants` (as gan plugins with these labels) on ring8 with `seeds`.
fn spec(name: &str, variants: &[&str], seeds: &str, extra: &str) -> String {
    let variants: Vec<String> = variants
        .iter()
        .map(|v| format!("(plugin: \"gan\", label: \"{v}\")"))
        .collect();
    format!(
        "Sweep(name: \"{name}\", data: \"ring8\", steps: 100, eval_every: 50, seeds: {seeds}, \
         variants: [{}], {extra})",
        variants.join(", ")
    )
}

/// Writes the runs into a new store: evaluations at steps 50 and 100 (a diverged run stops
/// after the first one, at step 60).
fn build(dir: &Path, spec_text: &str, runs: &[Fake]) -> (Store, SweepId) {
    let store = Store::open(dir.join("db.sqlite")).unwrap();
    let name = ganbench_spec::Sweep::parse(spec_text, "s.ron")
        .unwrap()
        .name;
    let sweep = store.register_sweep(&name, spec_text, "h").unwrap().id();
    let writer = store.writer().unwrap();
    for (i, f) in runs.iter().enumerate() {
        let key = format!("{}-{i}-s{}", f.label, f.seed);
        let id = store
            .ensure_run(
                sweep,
                &NewRun {
                    trial_key: &key,
                    label: f.label,
                    plugin: "gan",
                    params_json: &f.params,
                    seed: f.seed,
                    build_id: "test",
                    total_steps: Some(100),
                },
            )
            .unwrap()
            .id;
        let halfway: Vec<(&str, f64)> = f.finals.iter().map(|(k, v)| (*k, v * 0.5)).collect();
        writer.log(id, 50, &halfway).unwrap();
        let last = if f.status == Status::Finished {
            writer.log(id, 100, &f.finals).unwrap();
            100
        } else {
            writer.log(id, 60, &[("loss_d", f64::NAN)]).unwrap();
            60
        };
        writer.finish_run(id, f.status, last, None).unwrap();
    }
    writer.flush().unwrap();
    (store, sweep)
}

fn loaded(store: &Store, sweep: SweepId) -> Loaded {
    load(store, &Selection::Sweep(sweep)).unwrap()
}

fn summary_of(loaded: &Loaded, metric: Option<&str>) -> Summary {
    let primary = resolve(loaded, metric).unwrap();
    summarize(loaded, "t", primary.as_ref())
}

fn findings(s: &Summary) -> Vec<String> {
    s.verdict.as_ref().unwrap().findings.clone()
}

fn ranking(s: &Summary) -> Vec<String> {
    s.verdict
        .as_ref()
        .unwrap()
        .ranking
        .iter()
        .map(|r| r.label.clone())
        .collect()
}

fn has(findings: &[String], text: &str) -> bool {
    findings.iter().any(|f| f.contains(text))
}

/// A beats B by the same margin in every pair of runs; `seeds` runs each.
fn separated(seeds: u64) -> Vec<Fake> {
    let mut runs = Vec::new();
    for s in 0..seeds {
        runs.push(run("A", s, 8.0, 0.9 + s as f64 * 0.001));
        runs.push(run("B", s, 6.0 + (s % 2) as f64, 0.5 + s as f64 * 0.001));
    }
    runs
}

#[test]
fn three_seeds_and_six_seeds_say_different_things() {
    let dir3 = tempfile::tempdir().unwrap();
    let (store, id) = build(
        dir3.path(),
        &spec("s3", &["A", "B"], "3", ""),
        &separated(3),
    );
    let three = summary_of(&loaded(&store, id), None);
    let dir6 = tempfile::tempdir().unwrap();
    let (store, id) = build(
        dir6.path(),
        &spec("s6", &["A", "B"], "6", ""),
        &separated(6),
    );
    let six = summary_of(&loaded(&store, id), None);

    assert_eq!(ranking(&three), ["A", "B"]);
    assert_eq!(ranking(&six), ["A", "B"]);
    let (f3, f6) = (findings(&three), findings(&six));
    assert_ne!(f3, f6);
    // Three against three: every run of A beats every run of B, yet the exact test cannot go
    // below 2 / C(6, 3) = 0.1.
    let c3 = &three.verdict.as_ref().unwrap().comparisons[0];
    assert_eq!(c3.probability_of_superiority, 1.0);
    assert!((c3.p - 0.1).abs() < 1e-12, "{}", c3.p);
    assert!(!c3.significant);
    assert!(
        has(
            &f3,
            "the smallest p an exact test of so few runs can give is 0.10"
        ),
        "{f3:#?}"
    );
    assert!(has(
        &f3,
        "A ranks first on modes captured, but the data cannot tell it from B"
    ));
    // Noether: (1.96 + 0.8416)² / (6 · 0.5²) = 5.23 → 6 seeds, which this data has not got.
    assert_eq!(c3.seeds_for_power, Some(6));
    assert!(has(
        &f3,
        "About 6 seeds per variant would detect a difference this large"
    ));
    // Six against six: 2 / C(12, 6) = 0.0022, significant.
    let c6 = &six.verdict.as_ref().unwrap().comparisons[0];
    assert!((c6.p - 2.0 / 924.0).abs() < 1e-12, "{}", c6.p);
    assert!(c6.significant);
    assert!(
        has(&f6, "A is the best variant on modes captured"),
        "{f6:#?}"
    );
    assert!(has(&f6, "A is significantly better"));
    assert!(!has(&f6, "so few runs"));
    // No fixed number: the 3-seed page never states the 6-seed p and vice versa.
    assert!(!has(&f3, "0.0022") && has(&f6, "0.0022"));
}

#[test]
fn a_variant_that_always_diverges_ranks_last_and_the_page_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut runs = separated(3);
    // C would have the best modes if its runs had finished: they never do.
    runs.extend((0..3).map(|s| diverged("C", s)));
    let text = spec("diverging", &["C", "A", "B"], "3", "");
    let (store, id) = build(dir.path(), &text, &runs);
    let s = summary_of(&loaded(&store, id), None);
    assert_eq!(ranking(&s), ["A", "B", "C"]);
    let v = s.verdict.as_ref().unwrap();
    let c = &v.ranking[2];
    assert_eq!((c.runs, c.with_result, c.diverged), (3, 0, 3));
    let f = findings(&s);
    assert!(
        has(
            &f,
            "C finished none of its 3 runs with a result (3 diverged), so it ranks last."
        ),
        "{f:#?}"
    );
    // B against C: every run of B beats C's, which have no result.
    let bc = v
        .comparisons
        .iter()
        .find(|c| c.a == "B" && c.b == "C")
        .unwrap();
    assert_eq!(bc.probability_of_superiority, 1.0);
    assert_eq!((bc.no_result_a, bc.no_result_b), (0, 3));
    // 0 of 3 against 3 of 3: Fisher's exact p = 2 / C(6, 3) = 0.1.
    assert!((bc.no_result_p - 0.1).abs() < 1e-12, "{}", bc.no_result_p);
    assert!(has(
        &f,
        "No two variants differ significantly in how often they give no result"
    ));
    // The share and its Wilson interval: 3/3 → [n/(n + z²), 1] = [0.4385, 1].
    let (lo, hi) = c.no_result_ci.unwrap();
    let z2 = 1.959_963_984_540_054f64.powi(2);
    assert!(
        (lo - 3.0 / (3.0 + z2)).abs() < 1e-12 && hi == 1.0,
        "{lo} {hi}"
    );

    // The page: the verdict is at the top, says the same, and C is in its ranking table.
    let out = dir.path().join("report");
    let report = ganbench_report::write_report(
        &store,
        &Selection::Sweep(id),
        &Options {
            out_dir: out.clone(),
            band: Band::MinMax,
            format: ImageFormat::Png,
            embed: false,
            main_metric: None,
            command: "test".into(),
            version: "test".into(),
        },
    )
    .unwrap();
    let html = std::fs::read_to_string(&report.index).unwrap();
    let verdict_at = html.find("id=\"verdict\"").expect("a verdict section");
    assert!(verdict_at < html.find("id=\"summary\"").unwrap());
    assert!(html.contains("so it ranks last"));
    assert!(html.contains("data-rank=\"3\" data-entry=\"C\""));
}

#[test]
fn diverged_runs_count_as_the_worst_value() {
    // B's one finished run captures every mode, but its other two diverged: left out, B would
    // look better; counted as the worst value, A's steady runs rank above.
    let dir = tempfile::tempdir().unwrap();
    let runs = vec![
        run("A", 0, 6.0, 0.8),
        run("A", 1, 6.0, 0.81),
        run("A", 2, 7.0, 0.82),
        run("B", 0, 8.0, 0.9),
        diverged("B", 1),
        diverged("B", 2),
    ];
    let (store, id) = build(dir.path(), &spec("worst", &["A", "B"], "3", ""), &runs);
    let s = summary_of(&loaded(&store, id), None);
    assert_eq!(ranking(&s), ["A", "B"]);
    let f = findings(&s);
    assert!(has(&f, "but 2 of B's 3 runs gave no result"), "{f:#?}");
    assert!(has(
        &f,
        "B gave no result in 2 of its 3 runs (2 diverged): 67%"
    ));
    let c = &s.verdict.as_ref().unwrap().comparisons[0];
    // Pairs (A, B): A beats B's two no-results in all 6 pairs and loses the 3 against B's 8.
    assert!((c.probability_of_superiority - 6.0 / 9.0).abs() < 1e-12);
    // The difference of means is over runs with a result: 6.33 − 8.
    assert!((c.difference.unwrap() - (19.0 / 3.0 - 8.0)).abs() < 1e-12);
    // The table still averages finished runs only, and counts the diverged ones.
    let row = s.variants.iter().find(|r| r.label == "B").unwrap();
    assert_eq!((row.finished, row.diverged), (1, 2));
}

#[test]
fn a_metric_ganbench_does_not_know_ranks_only_with_its_direction() {
    let runs: Vec<Fake> = (0..3)
        .flat_map(|s| {
            [("A", 0.9), ("B", 0.4)].map(|(label, score)| Fake {
                finals: vec![("modes", 8.0), ("my_score", score + s as f64 * 0.01)],
                ..run(label, s, 0.0, 0.0)
            })
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = build(dir.path(), &spec("custom", &["A", "B"], "3", ""), &runs);
    let l = loaded(&store, id);
    let err = resolve(&l, Some("my_score")).unwrap_err();
    assert!(
        err.to_string().contains("--metric my_score:higher"),
        "{err}"
    );
    assert_eq!(ranking(&summary_of(&l, Some("my_score:lower"))), ["B", "A"]);
    assert_eq!(
        ranking(&summary_of(&l, Some("my_score:higher"))),
        ["A", "B"]
    );
    // Named by the sweep with its direction, the table's column gets it too.
    let dir = tempfile::tempdir().unwrap();
    let text = spec(
        "custom2",
        &["A", "B"],
        "3",
        "primary: (metric: \"my_score\", higher_is_better: true),",
    );
    let (store, id) = build(dir.path(), &text, &runs);
    let s = summary_of(&loaded(&store, id), None);
    assert_eq!(ranking(&s), ["A", "B"]);
    let column = s.metrics.iter().find(|c| c.name == "my_score").unwrap();
    assert_eq!(
        column.direction,
        Some(ganbench_report::stats::Direction::Higher)
    );
}

#[test]
fn the_default_ranks_by_modes_then_high_quality_and_the_sweep_or_the_command_can_choose() {
    // The diffuse model covers every mode thinly: reverse KL (≈ 0) would crown it.
    let mut runs = Vec::new();
    for s in 0..3 {
        runs.push(Fake {
            finals: vec![
                ("modes", 8.0),
                ("high_quality", 0.02 + s as f64 * 0.001),
                ("reverse_kl", 0.01),
            ],
            ..run("Blob", s, 0.0, 0.0)
        });
        runs.push(Fake {
            finals: vec![
                ("modes", 8.0),
                ("high_quality", 0.9 + s as f64 * 0.001),
                ("reverse_kl", 0.2),
            ],
            ..run("Sharp", s, 0.0, 0.0)
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = build(
        dir.path(),
        &spec("blob", &["Blob", "Sharp"], "3", ""),
        &runs,
    );
    let l = loaded(&store, id);
    let by_default = summary_of(&l, None);
    let p = by_default.primary.as_ref().unwrap();
    assert_eq!(
        (p.metric.as_str(), p.tie_break.as_deref()),
        ("modes", Some("high_quality"))
    );
    assert_eq!(p.source, PrimarySource::Default);
    assert_eq!(ranking(&by_default), ["Sharp", "Blob"]);
    // Equal modes: the sentence gives the tie-break's means, which decided.
    assert!(
        has(
            &findings(&by_default),
            "modes captured 8 against 8 on average over runs with a result (difference 0, 95% CI 0 to 0), and high-quality share 0.901 against 0.021"
        ),
        "{:#?}",
        findings(&by_default)
    );
    let f = findings(&by_default);
    assert!(
        f[0].starts_with("Ranked by modes captured (higher is better; ties broken by the high-quality share): the default on toy data, because"),
        "{}",
        f[0]
    );
    // --metric reverse_kl: the blob first, and the page says who chose it.
    let by_option = summary_of(&l, Some("reverse_kl"));
    assert_eq!(ranking(&by_option), ["Blob", "Sharp"]);
    assert!(findings(&by_option)[0].contains("chosen with --metric reverse_kl"));
    // A direction given with --metric overrides ganbench's.
    let reversed = resolve(&l, Some("high_quality:lower")).unwrap().unwrap();
    assert_eq!(reversed.direction, ganbench_report::stats::Direction::Lower);

    // The sweep's own `primary`.
    let dir = tempfile::tempdir().unwrap();
    let text = spec("blob2", &["Blob", "Sharp"], "3", "primary: \"reverse_kl\",");
    let (store, id) = build(dir.path(), &text, &runs);
    let by_sweep = summary_of(&loaded(&store, id), None);
    assert_eq!(
        by_sweep.primary.as_ref().unwrap().source,
        PrimarySource::Sweep
    );
    assert_eq!(ranking(&by_sweep), ["Blob", "Sharp"]);
    assert!(findings(&by_sweep)[0].contains("named by the sweep's `primary` field"));
}

/// Four configurations × two seeds: `lr_d=0.004` is best on seed 0 by luck.
fn search_runs() -> Vec<Fake> {
    let mut runs = Vec::new();
    let configs = [
        (1.097e-4, [6.0, 7.0]),
        (1.12e-4, [7.0, 7.0]),
        (4e-3, [8.0, 4.0]),
        (5.4e-4, [5.0, 5.0]),
    ];
    for (lr, modes) in configs {
        for (seed, m) in modes.into_iter().enumerate() {
            runs.push(Fake {
                params: format!("{{\"hidden\": 64, \"lr_d\": {lr}}}"),
                ..run("GAN", seed as u64, m, 0.5 + lr)
            });
        }
    }
    runs
}

#[test]
fn a_search_is_judged_on_seeds_it_was_not_chosen_on() {
    let dir = tempfile::tempdir().unwrap();
    let text = spec(
        "search",
        &["GAN"],
        "2",
        "search: (trials: 4, space: {\"lr_d\": LogUniform(1e-5, 1e-2)}),",
    );
    let (store, id) = build(dir.path(), &text, &search_runs());
    let l = loaded(&store, id);
    let labels: Vec<&str> = l.variants[0]
        .configs
        .iter()
        .map(|c| c.label.as_str())
        .collect();
    assert_eq!(
        labels,
        [
            "GAN lr_d=1.1e-4",
            "GAN lr_d=1.12e-4",
            "GAN lr_d=0.004",
            "GAN lr_d=5.4e-4"
        ]
    );
    let s = summary_of(&l, None);
    let v = s.verdict.as_ref().unwrap();
    let entry = &v.ranking[0];
    // Chosen on seed 0 (8 modes, by luck), measured on seed 1: 4 modes, not 8.
    assert_eq!(entry.label, "GAN lr_d=0.004");
    assert_eq!(
        entry.selection,
        Chosen::HeldOut {
            configurations: 4,
            chosen_on: vec![0],
            measured_on: vec![1]
        }
    );
    assert_eq!(entry.mean, Some(4.0));
    assert!(has(
        &findings(&s),
        "the best of 4 configurations of GAN on seed 0, measured on seed 1 (1 run)"
    ));
    // Per configuration: four rows, the chosen one marked.
    assert_eq!(s.configurations.len(), 4);
    assert_eq!(s.configurations.iter().filter(|c| c.chosen).count(), 1);
    // The best-versus-budget curve has one trial per configuration, not per run.
    let primary = resolve(&l, None).unwrap().unwrap();
    assert_eq!(configuration_results(&l, &primary, 0), [6.5, 7.0, 6.0, 5.0]);

    // Confirmation runs on fresh seeds (not in the spec's list) replace the held-out seed.
    let mut runs = search_runs();
    for seed in [2, 3, 4] {
        runs.push(Fake {
            params: "{\"hidden\": 64, \"lr_d\": 0.000112}".into(),
            ..run("GAN", seed, 7.0, 0.6)
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = build(dir.path(), &text, &runs);
    let s = summary_of(&loaded(&store, id), None);
    let entry = &s.verdict.as_ref().unwrap().ranking[0];
    assert_eq!(entry.label, "GAN lr_d=1.12e-4");
    assert_eq!(
        entry.selection,
        Chosen::Confirmed {
            configurations: 4,
            measured_on: vec![2, 3, 4]
        }
    );
    assert!(has(
        &findings(&s),
        "measured on 3 fresh seeds (2, 3 and 4) trained by --confirm-best"
    ));

    // One seed per configuration: chosen and measured on the same run, said to be optimistic.
    let one_seed: Vec<Fake> = search_runs().into_iter().filter(|f| f.seed == 0).collect();
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = build(dir.path(), &text.replace("seeds: 2", "seeds: 1"), &one_seed);
    let s = summary_of(&loaded(&store, id), None);
    let entry = &s.verdict.as_ref().unwrap().ranking[0];
    assert_eq!(entry.selection, Chosen::SameRuns { configurations: 4 });
    assert!(has(&findings(&s), "winner's curse"));
    assert!(has(&findings(&s), "--confirm-best 1"));
}

#[test]
fn modes_hit_by_scattered_samples_are_flagged_and_well_placed_ones_are_not() {
    let scattered: Vec<Fake> = (0..3)
        .flat_map(|s| [run("A", s, 21.0, 0.026), run("B", s, 18.0, 0.025)])
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = build(dir.path(), &spec("low", &["A", "B"], "3", ""), &scattered);
    let low = findings(&summary_of(&loaded(&store, id), None));
    assert!(
        has(
            &low,
            "no variant puts 10% of its samples near a mode (the most, A, puts 2.6%)"
        ),
        "{low:#?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = build(
        dir.path(),
        &spec("high", &["A", "B"], "3", ""),
        &separated(3),
    );
    let high = findings(&summary_of(&loaded(&store, id), None));
    assert!(!has(&high, "Read the modes with care"), "{high:#?}");
    // Ranked on another metric, the warning about modes does not apply.
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = build(dir.path(), &spec("kl", &["A", "B"], "3", ""), &scattered);
    let kl = findings(&summary_of(&loaded(&store, id), Some("reverse_kl")));
    assert!(!has(&kl, "Read the modes with care"), "{kl:#?}");
}
