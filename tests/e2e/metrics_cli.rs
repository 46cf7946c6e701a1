//! `ganbench metrics` end to end: the metrics of the reference fixtures, and bad input.

use std::path::{Path, PathBuf};

use crate::common::{idx_image_bytes, mnist_fixture, run, run_json};
use ganbench_data::npy::write_npy;
use ganbench_data::pixel_value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/metrics/tests/fixtures/reference")
        .join(name)
}

fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn metrics_of_the_reference_fixtures_match_the_reference_values() {
    let real = fixture("d16_real.npy");
    let fake = fixture("d16_fake.npy");
    let args = [
        "metrics",
        "--real",
        real.to_str().unwrap(),
        "--fake",
        fake.to_str().unwrap(),
        "--kid-subsets",
        "10",
        "--kid-subset-size",
        "100",
        "--json",
    ];
    let out = run_json(&args);
    let want = &reference()["cases"]["d16"];
    assert_eq!(
        (out["n_real"].as_u64(), out["n_fake"].as_u64()),
        (Some(500), Some(400))
    );
    assert_eq!(out["dim"].as_u64(), Some(16));
    assert_eq!(out["kid_subset_size"].as_u64(), Some(100));
    // float64 files stay float64, so agreement is to f64 precision.
    let fid = out["fid"].as_f64().unwrap();
    let want_fid = want["fid"].as_f64().unwrap();
    assert!(
        (fid - want_fid).abs() < 1e-12 * want_fid,
        "{fid} vs {want_fid}"
    );
    for key in ["precision", "recall", "density", "coverage"] {
        let (got, expected) = (out[key].as_f64().unwrap(), want[key].as_f64().unwrap());
        assert!((got - expected).abs() < 1e-9, "{key}: {got} vs {expected}");
    }
    // Another subset draw than torch-fidelity's, but the same distribution pair: a KID of the
    // reference's size, with a spread.
    let kid = out["kid_mean"].as_f64().unwrap();
    let want_kid = want["kid"]["mean"].as_f64().unwrap();
    assert!(
        (kid - want_kid).abs() < 0.5 * want_kid,
        "{kid} vs {want_kid}"
    );
    assert!(out["kid_std"].as_f64().unwrap() > 0.0);

    // The table shows the same values.
    let (code, stdout, stderr) = run(&args[..args.len() - 1]);
    assert_eq!(code, 0, "{stderr}");
    for name in [
        "fid",
        "kid_mean",
        "kid_std",
        "precision",
        "recall",
        "density",
        "coverage",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "no {name} row:\n{stdout}"
        );
    }
    assert!(stdout.contains(&format!("{fid:.6}")), "{stdout}");
}

#[test]
fn bad_input_exits_with_status_2_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.npy");
    write_npy(
        &good,
        &(0..40).map(|i| i as f32 * 0.1).collect::<Vec<_>>(),
        &[10, 4],
    )
    .unwrap();
    let narrow = dir.path().join("narrow.npy");
    write_npy(&narrow, &[0.5; 30], &[10, 3]).unwrap();
    let mut values: Vec<f32> = (0..40).map(|i| i as f32).collect();
    values[4 * 7 + 2] = f32::NAN;
    let nan = dir.path().join("nan.npy");
    write_npy(&nan, &values, &[10, 4]).unwrap();
    let idx = dir.path().join("train-images-idx3-ubyte");
    std::fs::write(&idx, [0u8, 0, 8, 3]).unwrap();
    let missing = dir.path().join("missing.npy");
    let text = dir.path().join("samples.csv");
    std::fs::write(&text, "1,2\n").unwrap();

    let path = |p: &Path| p.to_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (
            vec![path(&missing), path(&good)],
            vec![path(&missing), "no such file".into()],
        ),
        (
            vec![path(&good), path(&narrow)],
            vec![path(&good), path(&narrow), "4 values per sample".into()],
        ),
        (
            vec![path(&good), path(&nan)],
            vec![path(&nan), "row 7, column 2 is NaN".into()],
        ),
        // A truncated IDX file (magic number only): the data crate's error, naming the file.
        (vec![path(&idx), path(&good)], vec![path(&idx)]),
        (
            vec![path(&good), path(&text)],
            vec![path(&text), "pass an .npy".into()],
        ),
    ];
    for (files, expected) in cases {
        let args = ["metrics", "--real", &files[0], "--fake", &files[1]];
        let (code, _, stderr) = run(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        for e in expected {
            assert!(stderr.contains(&e), "{args:?}: `{e}` not in {stderr}");
        }
    }

    // An extractor whose weights file is missing or is not one, and a folder whose image shape
    // nothing gives.
    let not_weights = dir.path().join("weights.safetensors");
    std::fs::write(&not_weights, b"not safetensors").unwrap();
    let folder = dir.path().join("pngs");
    std::fs::create_dir(&folder).unwrap();
    let (good_s, folder_s) = (path(&good), path(&folder));
    let cases = [
        (
            vec!["--features", "extractor:mnist.safetensors"],
            path(&good),
            vec!["no weights file mnist.safetensors", "docs/features.md"],
        ),
        (
            vec!["--features", "extractor:"],
            path(&good),
            vec!["needs the weights file"],
        ),
        (
            vec!["--features", "inception"],
            path(&good),
            vec!["expected `raw` or `extractor:WEIGHTS`"],
        ),
        (
            vec![],
            path(&folder),
            vec![&folder_s[..], "--image-size PIXELS --channels 1|3"],
        ),
    ];
    for (extra, fake, expected) in cases {
        let mut args = vec!["metrics", "--real", &good_s[..], "--fake", &fake];
        args.extend(extra);
        let (code, _, stderr) = run(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        for e in expected {
            assert!(stderr.contains(e), "{args:?}: `{e}` not in {stderr}");
        }
    }
    // Weights that are not a safetensors file: named, exit 2. (Images are needed to get there.)
    let idx28 = dir.path().join("digits-idx3-ubyte");
    write_idx(&idx28, &vec![0u8; 12 * 28 * 28], 12);
    let (code, _, stderr) = run(&[
        "metrics",
        "--real",
        &path(&idx28),
        "--fake",
        &path(&idx28),
        "--features",
        &format!("extractor:{}", path(&not_weights)),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&path(&not_weights)) && stderr.contains("not a safetensors file"),
        "{stderr}"
    );
    // Too few samples for k = 5 neighbours is the user's to fix as well.
    let tiny = dir.path().join("tiny.npy");
    write_npy(&tiny, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[3, 2]).unwrap();
    let (code, _, stderr) = run(&["metrics", "--real", &path(&tiny), "--fake", &path(&tiny)]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("needs at least 4 real samples, got 3"),
        "{stderr}"
    );
}

#[test]
fn idx_images_are_compared_as_flattened_pixels_in_minus_one_to_one() {
    let dir = tempfile::tempdir().unwrap();
    // 10 images of 2×3 pixels: IDX header (magic 0x00000803, n, rows, cols), then the bytes.
    let pixels: Vec<u8> = (0..60u32).map(|i| (i * 37 % 251) as u8).collect();
    let mut idx_bytes = vec![0u8, 0, 8, 3];
    for d in [10u32, 2, 3] {
        idx_bytes.extend_from_slice(&d.to_be_bytes());
    }
    idx_bytes.extend_from_slice(&pixels);
    let idx = dir.path().join("real-images-idx3-ubyte");
    std::fs::write(&idx, idx_bytes).unwrap();
    let as_npy = dir.path().join("real.npy");
    let scaled: Vec<f32> = pixels.iter().map(|&b| pixel_value(b)).collect();
    write_npy(&as_npy, &scaled, &[10, 1, 2, 3]).unwrap();
    let fake = dir.path().join("fake.npy");
    let fake_values: Vec<f32> = (0..72)
        .map(|i| ((i * 13 % 17) as f32 / 8.5) - 1.0)
        .collect();
    write_npy(&fake, &fake_values, &[12, 6]).unwrap();

    let metrics = |real: &Path| {
        run_json(&[
            "metrics",
            "--real",
            real.to_str().unwrap(),
            "--fake",
            fake.to_str().unwrap(),
            "--json",
        ])
    };
    let (from_idx, from_npy) = (metrics(&idx), metrics(&as_npy));
    assert_eq!(from_idx["n_real"].as_u64(), Some(10));
    assert_eq!(from_idx["dim"].as_u64(), Some(6));
    for key in [
        "fid",
        "kid_mean",
        "precision",
        "recall",
        "density",
        "coverage",
    ] {
        assert_eq!(from_idx[key], from_npy[key], "{key}");
    }
}

/// Writes `n` images of 28×28 `u8` pixels as an IDX file.
fn write_idx(path: &Path, pixels: &[u8], n: u32) {
    std::fs::write(path, idx_image_bytes(n, 28, pixels)).unwrap();
}

/// Real digits from an IDX file against generated digits in a folder of PNGs, through an
/// extractor's weights: the command's numbers equal the metrics computed here, in process, from
/// the same pixels and weights; the folder takes the IDX file's image shape.
#[test]
fn extractor_features_of_idx_against_a_png_folder_match_in_process_metrics() {
    use ganbench_features::{
        train, CnnExtractor, InputShape, LabeledImages, TrainConfig, TrainingData,
    };
    use ganbench_metrics::{ImageMetrics, KidConfig};
    use ganbench_sdk::candle::Device;

    let dir = tempfile::tempdir().unwrap();
    let mnist = mnist_fixture();
    let digits = |range: std::ops::Range<usize>| -> Vec<u8> {
        range.flat_map(|i| mnist.image(i).to_vec()).collect()
    };
    // A quickly trained extractor (one epoch on 600 digits); the metrics need weights, not accuracy.
    let shape = InputShape::new(1, 28, 28).unwrap();
    let (train_px, held_px) = (mnist.to_f32(0..600), mnist.to_f32(600..800));
    let labels = mnist.labels().unwrap();
    let data = TrainingData {
        name: "mnist-600",
        content_hash: "test",
        train: LabeledImages {
            images: &train_px,
            labels: Some(&labels[..600]),
            shape,
        },
        held_out: LabeledImages {
            images: &held_px,
            labels: Some(&labels[600..800]),
            shape,
        },
    };
    let config = TrainConfig {
        epochs: 1,
        batch_size: 64,
        ..TrainConfig::default()
    };
    let extractor = train(&data, &config, &Device::Cpu).unwrap();
    let weights = dir.path().join("cnn.safetensors");
    extractor.save(&weights).unwrap();

    let (real_px, fake_px) = (digits(1000..1200), digits(2000..2100));
    let real = dir.path().join("real-images-idx3-ubyte");
    write_idx(&real, &real_px, 200);
    let fake = dir.path().join("fake");
    std::fs::create_dir(&fake).unwrap();
    for (i, image) in fake_px.chunks_exact(28 * 28).enumerate() {
        image::GrayImage::from_raw(28, 28, image.to_vec())
            .unwrap()
            .save(fake.join(format!("{i:03}.png")))
            .unwrap();
    }

    let out = run_json(&[
        "metrics",
        "--real",
        real.to_str().unwrap(),
        "--fake",
        fake.to_str().unwrap(),
        "--features",
        &format!("extractor:{}", weights.display()),
        "--kid-subsets",
        "10",
        "--kid-subset-size",
        "50",
        "--json",
    ]);
    assert_eq!(
        (
            out["n_real"].as_u64(),
            out["n_fake"].as_u64(),
            out["dim"].as_u64()
        ),
        (Some(200), Some(100), Some(128))
    );
    assert_eq!(out["extractor"]["name"], "cnn-v1-28x28");
    let accuracy = extractor.held_out_accuracy().unwrap();
    assert_eq!(
        out["extractor"]["held_out_accuracy"].as_f64(),
        Some(accuracy)
    );

    let loaded = CnnExtractor::load(&weights, shape, &Device::Cpu).unwrap();
    let scale = |px: &[u8]| px.iter().map(|&b| pixel_value(b)).collect::<Vec<f32>>();
    let metrics = ImageMetrics {
        kid: KidConfig {
            subsets: 10,
            subset_size: 50,
            seed: 2020,
            ..KidConfig::default()
        },
        ..ImageMetrics::default()
    };
    let want = metrics
        .evaluate_images(&loaded, &scale(&real_px), 200, &scale(&fake_px), 100)
        .unwrap();
    for (name, value) in want.named() {
        let got = out[name.as_str()].as_f64().unwrap();
        assert!(
            (got - value).abs() <= 1e-9 * value.abs().max(1.0),
            "{name}: command {got}, in process {value}"
        );
    }
    // Real digits against real digits: a small FID, but not zero.
    assert!(want.fid > 0.0);
}
