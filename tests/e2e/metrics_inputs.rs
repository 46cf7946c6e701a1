//! `ganbench metrics` on .npy files of every dtype, byte order, memory order and image layout
//! that NumPy writes (crates/data/tests/fixtures/npy, made by make_npy.py there), and on a chosen
//! subset of the metrics.

use std::path::{Path, PathBuf};

use crate::common::{run, run_json};
use ganbench_data::npy::write_npy;
use ganbench_data::pixel_value;
use ganbench_metrics::{FeatureMatrix, ImageMetrics, KidConfig, MetricFamilies, SampleSet};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/data/tests/fixtures/npy")
        .join(name)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// FID and KID (2 samples: all the fixtures hold) of `real` against `fake`, from the command.
fn fid_kid(real: &Path, fake: &Path) -> serde_json::Value {
    run_json(&[
        "metrics",
        "--real",
        path(real),
        "--fake",
        path(fake),
        "--fid",
        "--kid",
        "--kid-subsets",
        "3",
        "--kid-subset-size",
        "2",
        "--json",
    ])
}

/// The same two metrics in process, on `fake` values given here.
fn fid_kid_in_process(real: &[f32], fake: &[f64], dim: usize) -> (f64, f64) {
    let real = FeatureMatrix::from_rows(SampleSet::Real, real, dim).unwrap();
    let fake = FeatureMatrix::from_rows(SampleSet::Fake, fake, dim).unwrap();
    let metrics = ImageMetrics {
        kid: KidConfig {
            subsets: 3,
            subset_size: 2,
            seed: 2020,
            ..KidConfig::default()
        },
        ..ImageMetrics::default()
    };
    let families = MetricFamilies {
        fid: true,
        kid: true,
        prdc: false,
    };
    let scores = metrics.evaluate_selected(&real, &fake, families).unwrap();
    (scores.fid.unwrap(), scores.kid_mean.unwrap())
}

/// The command's FID and KID equal the in-process ones (to the last digits JSON text keeps).
fn assert_close(out: &serde_json::Value, (fid, kid): (f64, f64), what: &str) {
    let got = (
        out["fid"].as_f64().unwrap(),
        out["kid_mean"].as_f64().unwrap(),
    );
    assert!(
        (got.0 - fid).abs() <= 1e-14 * fid.abs() && (got.1 - kid).abs() <= 1e-14 * kid.abs(),
        "{what}: {got:?} vs {:?}",
        (fid, kid)
    );
}

#[test]
fn every_float_dtype_byte_order_and_memory_order_gives_the_same_metrics() {
    let dir = tempfile::tempdir().unwrap();
    // Real: 2 samples of 12 values; fake: the fixtures' 0.5·(12i + 4j + k) − 3.
    let real_values: Vec<f32> = (0..24).map(|i| ((i * 7) % 11) as f32 * 0.3).collect();
    let real = dir.path().join("real.npy");
    write_npy(&real, &real_values, &[2, 3, 4]).unwrap();
    let fake_values: Vec<f64> = (0..24).map(|f| 0.5 * f64::from(f) - 3.0).collect();
    let want = fid_kid_in_process(&real_values, &fake_values, 12);
    assert!(want.0 > 1.0, "{want:?}");
    for dtype in ["f2", "f4", "f8"] {
        for endian in ["le", "be"] {
            for order in ["C", "F"] {
                let name = format!("{dtype}-{endian}-{order}.npy");
                let out = fid_kid(&real, &fixture(&name));
                assert_eq!(
                    (out["n_fake"].as_u64(), out["dim"].as_u64()),
                    (Some(2), Some(12))
                );
                assert_close(&out, want, &name);
            }
        }
    }
}

#[test]
fn uint8_images_are_pixels_and_channels_last_arrays_are_moved() {
    let dir = tempfile::tempdir().unwrap();
    let real_values: Vec<f32> = (0..24).map(|i| ((i * 5) % 13) as f32 / 6.5 - 1.0).collect();
    let real = dir.path().join("real.npy");
    write_npy(&real, &real_values, &[2, 12]).unwrap();
    let bytes: Vec<f64> = (0..24u32)
        .map(|f| f64::from(pixel_value((10 * f % 256) as u8)))
        .collect();
    let want = fid_kid_in_process(&real_values, &bytes, 12);
    for order in ["C", "F"] {
        let out = fid_kid(&real, &fixture(&format!("u1-{order}.npy")));
        assert_close(&out, want, order);
    }

    // N×H×W×C (2, 4, 5, 3) against the same pixels written N×C×H×W as floats: equal metrics.
    let mut nchw = Vec::new();
    for n in 0..2 {
        for c in 0..3 {
            for h in 0..4 {
                for w in 0..5 {
                    nchw.push(pixel_value(((60 * n + 15 * h + 3 * w + c) % 256) as u8));
                }
            }
        }
    }
    let as_nchw = dir.path().join("nchw.npy");
    write_npy(&as_nchw, &nchw, &[2, 3, 4, 5]).unwrap();
    let other: Vec<f32> = (0..120)
        .map(|i| ((i * 7) % 17) as f32 / 8.5 - 1.0)
        .collect();
    let other_file = dir.path().join("other.npy");
    write_npy(&other_file, &other, &[2, 3, 4, 5]).unwrap();
    let (from_nhwc, from_nchw) = (
        fid_kid(&other_file, &fixture("u1-nhwc.npy")),
        fid_kid(&other_file, &as_nchw),
    );
    assert_eq!(from_nhwc["dim"].as_u64(), Some(60));
    for key in ["fid", "kid_mean", "kid_std"] {
        assert_eq!(from_nhwc[key], from_nchw[key], "{key}");
    }
    assert!(from_nhwc["fid"].as_f64().unwrap() > 0.0);
}

#[test]
fn refused_dtypes_exit_with_status_2_and_name_the_file() {
    for (name, what) in [("i8.npy", "<i8"), ("structured.npy", "structured dtype")] {
        let file = fixture(name);
        let (code, _, stderr) = run(&["metrics", "--real", path(&file), "--fake", path(&file)]);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(path(&file)) && stderr.contains(what) && stderr.contains("uint8"),
            "{stderr}"
        );
    }
}

#[test]
fn a_chosen_subset_of_metrics_is_all_that_is_computed_and_printed() {
    let reference =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/metrics/tests/fixtures/reference");
    let (real, fake) = (
        reference.join("d16_real.npy"),
        reference.join("d16_fake.npy"),
    );
    let metrics = |extra: &[&str]| {
        let mut args = vec![
            "metrics",
            "--real",
            path(&real),
            "--fake",
            path(&fake),
            "--json",
        ];
        args.extend_from_slice(extra);
        run_json(&args)
    };
    let all = metrics(&["--kid-subsets", "5", "--kid-subset-size", "50"]);
    let keys = |v: &serde_json::Value| -> Vec<String> {
        [
            "fid",
            "kid_mean",
            "kid_std",
            "precision",
            "recall",
            "density",
            "coverage",
            "kid_subsets",
        ]
        .iter()
        .filter(|k| v.get(**k).is_some())
        .map(|k| k.to_string())
        .collect()
    };
    assert_eq!(keys(&all).len(), 8);
    let fid = metrics(&["--fid"]);
    assert_eq!(keys(&fid), ["fid"]);
    assert_eq!(fid["fid"], all["fid"]);
    let kid = metrics(&["--kid", "--kid-subsets", "5", "--kid-subset-size", "50"]);
    assert_eq!(keys(&kid), ["kid_mean", "kid_std", "kid_subsets"]);
    assert_eq!(kid["kid_mean"], all["kid_mean"]);
    let prdc = metrics(&["--prdc", "--fid"]);
    assert_eq!(
        keys(&prdc),
        ["fid", "precision", "recall", "density", "coverage"]
    );
    assert_eq!(prdc["coverage"], all["coverage"]);
    // The table shows the chosen rows only.
    let (code, table, stderr) = run(&[
        "metrics",
        "--real",
        path(&real),
        "--fake",
        path(&fake),
        "--kid",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let rows: Vec<&str> = table
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| ["fid", "kid_mean", "kid_std", "precision", "coverage"].contains(w))
        .collect();
    assert_eq!(rows, ["kid_mean", "kid_std"], "{table}");
    // Float64 input keeps its precision: pytorch-fid's value to ~1e-15, not to f32's 1e-7.
    let text = std::fs::read_to_string(reference.join("reference.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let want = json["cases"]["d16"]["fid"].as_f64().unwrap();
    let got = fid["fid"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-12 * want, "{got} vs {want}");
}
