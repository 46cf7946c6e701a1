//! The statistics of the report against SciPy's output, committed as JSON fixtures together
//! with the scripts that produced them: tests/fixtures/mannwhitney.{py,json} (the Mann–Whitney
//! U test) and tests/fixtures/verdict.{py,json} (the normal quantile, Wilson intervals, Fisher's
//! exact test, exact permutation p-values with ties, the smallest attainable p, and the seeds
//! needed for 80% power with their simulated power).

use ganbench_report::stats::{
    fisher_exact, mann_whitney, mann_whitney_asymptotic, mann_whitney_exact, normal_quantile,
    seeds_for_power, smallest_exact_p, wilson_interval, MwuMethod, EXACT_MAX_TOTAL,
};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let text = include_str!("../fixtures/mannwhitney.json");
    let doc: Value = serde_json::from_str(text).expect("fixture is JSON");
    doc["cases"].as_array().expect("cases").clone()
}

fn verdict_fixture(part: &str) -> Vec<Value> {
    let text = include_str!("../fixtures/verdict.json");
    let doc: Value = serde_json::from_str(text).expect("fixture is JSON");
    doc[part].as_array().expect(part).clone()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 + 1e-9 * b.abs()
}

#[test]
fn the_statistic_and_both_p_values_match_scipy() {
    let cases = cases();
    assert!(cases.len() >= 10);
    let mut exact_cases = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        let asym = mann_whitney_asymptotic(&x, &y).unwrap();
        let want = &case["asymptotic"];
        assert!(
            close(asym.u, want["u"].as_f64().unwrap()),
            "{name}: U {}",
            asym.u
        );
        assert!(
            close(asym.p, want["p"].as_f64().unwrap()),
            "{name}: asymptotic p {} vs scipy {}",
            asym.p,
            want["p"]
        );
        if let Some(want) = case.get("exact") {
            exact_cases += 1;
            let exact = mann_whitney_exact(&x, &y).unwrap();
            assert!(
                close(exact.u, want["u"].as_f64().unwrap()),
                "{name}: U {}",
                exact.u
            );
            assert!(
                close(exact.p, want["p"].as_f64().unwrap()),
                "{name}: exact p {} vs scipy {}",
                exact.p,
                want["p"]
            );
        }
        // Up to EXACT_MAX_TOTAL runs the report uses the exact test, ties or not (with ties
        // its p is the permutation p-value, checked below).
        assert!(x.len() + y.len() <= EXACT_MAX_TOTAL);
        assert_eq!(
            mann_whitney(&x, &y).unwrap().method,
            MwuMethod::Exact,
            "{name}"
        );
    }
    assert!(exact_cases >= 6, "the fixture covers the exact method");
    // Beyond EXACT_MAX_TOTAL values: the normal approximation.
    let many: Vec<f64> = (0..60).map(f64::from).collect();
    let shifted: Vec<f64> = many.iter().map(|v| v + 0.5).collect();
    assert_eq!(
        mann_whitney(&many, &shifted).unwrap().method,
        MwuMethod::Asymptotic
    );
}

#[test]
fn exact_p_values_with_ties_match_scipys_permutation_test() {
    let cases = verdict_fixture("permutation");
    assert!(cases.len() >= 8);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        let test = mann_whitney(&x, &y).unwrap();
        assert_eq!(test.method, MwuMethod::Exact, "{name}");
        assert!(
            close(test.u, case["u"].as_f64().unwrap()),
            "{name}: U {}",
            test.u
        );
        let want = case["p"].as_f64().unwrap();
        assert!(
            close(test.p, want),
            "{name}: exact p {} vs scipy {want}",
            test.p
        );
    }
}

#[test]
fn the_normal_quantile_matches_scipy() {
    for case in verdict_fixture("quantiles") {
        let p = case["p"].as_f64().unwrap();
        let want = case["z"].as_f64().unwrap();
        let got = normal_quantile(p);
        assert!(
            (got - want).abs() <= 1e-14 * want.abs().max(1.0),
            "p = {p}: {got} vs {want}"
        );
    }
    assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
    assert!(normal_quantile(1.5).is_nan());
}

#[test]
fn wilson_intervals_match_scipy() {
    for case in verdict_fixture("wilson") {
        let (k, n) = (
            case["k"].as_u64().unwrap() as usize,
            case["n"].as_u64().unwrap() as usize,
        );
        let (lo, hi) = wilson_interval(k, n, 0.95).unwrap();
        let (want_lo, want_hi) = (
            case["low"].as_f64().unwrap(),
            case["high"].as_f64().unwrap(),
        );
        assert!(
            (lo - want_lo).abs() < 1e-12 && (hi - want_hi).abs() < 1e-12,
            "{k}/{n}: [{lo}, {hi}] vs [{want_lo}, {want_hi}]"
        );
    }
    assert_eq!(wilson_interval(1, 0, 0.95), None);
}

#[test]
fn fishers_exact_test_matches_scipy() {
    for case in verdict_fixture("fisher") {
        let t = &case["table"];
        let cell = |i: usize, j: usize| t[i][j].as_u64().unwrap();
        let table = [[cell(0, 0), cell(0, 1)], [cell(1, 0), cell(1, 1)]];
        let want = case["p"].as_f64().unwrap();
        let got = fisher_exact(table);
        assert!(
            (got - want).abs() <= 1e-10 * want.max(1e-300),
            "{table:?}: {got} vs {want}"
        );
    }
}

#[test]
fn the_smallest_exact_p_is_that_of_two_samples_that_do_not_overlap() {
    for case in verdict_fixture("smallest_p") {
        let (n1, n2) = (
            case["n1"].as_u64().unwrap() as usize,
            case["n2"].as_u64().unwrap() as usize,
        );
        let want = case["p"].as_f64().unwrap();
        assert!(
            close(smallest_exact_p(n1, n2), want),
            "{n1} vs {n2}: {} vs {want}",
            smallest_exact_p(n1, n2)
        );
        let x: Vec<f64> = (0..n1).map(|i| i as f64).collect();
        let y: Vec<f64> = (0..n2).map(|i| (n1 + i) as f64).collect();
        assert!(close(mann_whitney(&x, &y).unwrap().p, want));
    }
}

#[test]
fn seeds_for_power_follow_noethers_formula_and_reach_the_power_in_simulation() {
    let cases = verdict_fixture("power");
    assert!(cases.len() >= 15);
    for case in &cases {
        let (ps, alpha, power) = (
            case["ps"].as_f64().unwrap(),
            case["alpha"].as_f64().unwrap(),
            case["power"].as_f64().unwrap(),
        );
        let want = case["noether_n"].as_u64().unwrap() as usize;
        assert_eq!(
            seeds_for_power(ps, alpha, power),
            Some(want),
            "ps {ps}, α {alpha}"
        );
        // The same for the mirrored effect (the lower-ranked variant's view).
        assert_eq!(seeds_for_power(1.0 - ps, alpha, power), Some(want));
        // SciPy's simulated Mann–Whitney power at that many seeds reaches the target (Noether's
        // formula errs on the safe side for large effects).
        let simulated = case["simulated_power"].as_f64().unwrap();
        assert!(
            (power - 0.02..0.99).contains(&simulated),
            "ps {ps}, α {alpha}: simulated power {simulated} at n = {want}"
        );
    }
    // No difference: nothing to plan for. A complete separation still needs enough seeds for
    // an exact test to reach α at all: 4 per variant at α = 0.05 (2/70 < 0.05 ≤ 2/20).
    assert_eq!(seeds_for_power(0.5, 0.05, 0.8), None);
    assert_eq!(seeds_for_power(1.0, 0.05, 0.8), Some(6));
    assert_eq!(seeds_for_power(1.0, 0.05, 0.2), Some(4));
}

#[test]
fn empty_samples_give_no_test() {
    assert!(mann_whitney(&[], &[1.0]).is_none());
    assert!(mann_whitney(&[1.0], &[]).is_none());
}
