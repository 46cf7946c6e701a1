//! FID, KID, precision/recall and density/coverage against the reference implementations, on the
//! fixed inputs in `tests/fixtures/reference/` written by `tests/fixtures/make_reference.py`
//! (pytorch-fid's `calculate_frechet_distance`, torch-fidelity's `mmd2`, the `prdc` package).
//!
//! The four cases cover each form of the FID computation: both sets with more samples than
//! features (d16, d64), one with fewer (d128), both with fewer (d256); and both ways of the KID
//! (per subset: d16; out of all products: the others).
//!
//! Run with `--nocapture` to see the measured relative errors.

use std::path::{Path, PathBuf};

use ganbench_metrics::{
    density_coverage, fid, mmd2_on_subsets, prdc, precision_recall, FeatureMatrix, Kid, PrdcConfig,
    SampleSet, SubsetPair,
};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference")
}

/// A float64 .npy file as (values, shape), at full precision.
fn read_npy_f64(path: &Path) -> (Vec<f64>, Vec<usize>) {
    let array = ganbench_data::npy::read_npy_array(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        matches!(array.values, ganbench_data::npy::NpyValues::F64(_)),
        "{}: expected float64",
        path.display()
    );
    (array.to_f64(), array.shape)
}

struct Case {
    name: String,
    real: FeatureMatrix,
    fake: FeatureMatrix,
    reference: Value,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("reference.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let cases = json["cases"].as_object().unwrap();
    assert!(cases.len() >= 4);
    cases
        .iter()
        .map(|(name, c)| {
            let load = |key: &str, set| {
                let (data, shape) = read_npy_f64(&fixtures().join(c[key].as_str().unwrap()));
                assert_eq!(shape.len(), 2);
                FeatureMatrix::from_rows(set, &data, shape[1]).unwrap()
            };
            Case {
                name: name.clone(),
                real: load("real", SampleSet::Real),
                fake: load("fake", SampleSet::Fake),
                reference: c.clone(),
            }
        })
        .collect()
}

fn number(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn relative_error(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs()
}

#[test]
fn fid_matches_pytorch_fid() {
    for case in cases() {
        let want = number(&case.reference["fid"]);
        let got = fid(&case.real, &case.fake).unwrap();
        let err = relative_error(got, want);
        eprintln!(
            "{}: FID {got} vs pytorch-fid {want}: relative error {err:.2e}",
            case.name
        );
        assert!(err < 1e-6, "{}: FID {got} vs {want}", case.name);
        // Where a set has fewer samples than features, pytorch-fid's `sqrtm` of the singular
        // Σ1Σ2 is good to ~1e-7 only; the 40-digit value is exact for these inputs.
        if let Some(exact) = case.reference.get("fid_40_digits") {
            let err = relative_error(got, number(exact));
            eprintln!("{}: FID vs 40 digits: relative error {err:.2e}", case.name);
            assert!(err < 1e-12, "{}: FID {got} vs {exact}", case.name);
        }
    }
    assert!(
        cases()
            .iter()
            .filter(|c| c.reference.get("fid_40_digits").is_some())
            .count()
            >= 2
    );
}

#[test]
fn kid_matches_torch_fidelity_on_the_same_subsets() {
    for case in cases() {
        let kid = &case.reference["kid"];
        let pairs: Vec<SubsetPair> = kid["subsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let indices = |key: &str| -> Vec<usize> {
                    s[key]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i.as_u64().unwrap() as usize)
                        .collect()
                };
                (indices("real"), indices("fake"))
            })
            .collect();
        for threads in [1, 3] {
            let values = mmd2_on_subsets(&case.real, &case.fake, &pairs, threads).unwrap();
            let want: Vec<f64> = kid["mmd2"].as_array().unwrap().iter().map(number).collect();
            assert_eq!(values.len(), want.len());
            let worst = values
                .iter()
                .zip(&want)
                .map(|(g, w)| relative_error(*g, *w))
                .fold(0.0, f64::max);
            let Kid { mean, std } = Kid::from_values(&values);
            let (mean_err, std_err) = (
                relative_error(mean, number(&kid["mean"])),
                relative_error(std, number(&kid["std"])),
            );
            eprintln!(
                "{} ({threads} threads): KID mean {mean} std {std}; relative errors: worst subset \
                 {worst:.2e}, mean {mean_err:.2e}, std {std_err:.2e}",
                case.name
            );
            assert!(
                worst < 1e-6 && mean_err < 1e-6 && std_err < 1e-6,
                "{}",
                case.name
            );
        }
    }
}

#[test]
fn precision_recall_density_coverage_equal_prdc() {
    for case in cases() {
        let r = &case.reference;
        for threads in [1, 2, 3] {
            let pr = precision_recall(&case.real, &case.fake, 3, threads).unwrap();
            let dc = density_coverage(&case.real, &case.fake, 5, threads).unwrap();
            let config = PrdcConfig {
                k_precision_recall: 3,
                k_density_coverage: 5,
                threads,
            };
            let (pr_joint, dc_joint) = prdc(&case.real, &case.fake, &config).unwrap();
            assert_eq!((pr, dc), (pr_joint, dc_joint), "{}", case.name);
            eprintln!("{} ({threads} threads): {pr:?} {dc:?}", case.name);
            assert_eq!(pr.precision, number(&r["precision"]), "{}", case.name);
            assert_eq!(pr.recall, number(&r["recall"]), "{}", case.name);
            assert_eq!(dc.density, number(&r["density"]), "{}", case.name);
            assert_eq!(dc.coverage, number(&r["coverage"]), "{}", case.name);
        }
    }
}

/// f32 input goes through the same f64 computation: features stored as f32 give the metrics of
/// their f64 widening exactly.
#[test]
fn f32_features_are_widened_exactly() {
    let case = &cases()[0];
    let narrow: Vec<f32> = case.real.as_slice().iter().map(|&x| x as f32).collect();
    let widened: Vec<f64> = narrow.iter().map(|&x| f64::from(x)).collect();
    let dim = case.real.dim();
    let from_f32 = FeatureMatrix::from_rows(SampleSet::Real, &narrow, dim).unwrap();
    let from_f64 = FeatureMatrix::from_rows(SampleSet::Real, &widened, dim).unwrap();
    assert_eq!(from_f32, from_f64);
    assert_eq!(
        fid(&from_f32, &case.fake).unwrap(),
        fid(&from_f64, &case.fake).unwrap()
    );
}
