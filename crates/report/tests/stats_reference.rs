//! The Mann–Whitney U test against SciPy's output, committed as tests/fixtures/mannwhitney.json
//! together with the script that produced it (tests/fixtures/mannwhitney.py).

use ganbench_report::stats::{
    mann_whitney, mann_whitney_asymptotic, mann_whitney_exact, MwuMethod,
};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let text = include_str!("fixtures/mannwhitney.json");
    let doc: Value = serde_json::from_str(text).expect("fixture is JSON");
    doc["cases"].as_array().expect("cases").clone()
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
            // Without ties the report uses the exact test.
            assert_eq!(
                mann_whitney(&x, &y).unwrap().method,
                MwuMethod::Exact,
                "{name}"
            );
        } else {
            assert_eq!(
                mann_whitney(&x, &y).unwrap().method,
                MwuMethod::Asymptotic,
                "{name}"
            );
        }
    }
    assert!(exact_cases >= 6, "the fixture covers the exact method");
}

#[test]
fn empty_samples_give_no_test() {
    assert!(mann_whitney(&[], &[1.0]).is_none());
    assert!(mann_whitney(&[1.0], &[]).is_none());
}
