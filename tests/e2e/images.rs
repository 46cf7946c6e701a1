//! An image sweep end to end through the binary: IDX digits, DCGAN networks, the evaluation
//! extractor trained once and cached, image metrics at every evaluation, and a report with the
//! extractor's accuracy and a sample grid.

use std::path::Path;

use crate::common::{mnist_fixture, run, run_sweep, write_digits};

/// The report figure in `dir` whose file name starts with `prefix`.
fn figure_starting_with(dir: &Path, prefix: &str) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no figure {prefix}* in {}", dir.display()))
}

#[test]
fn an_image_sweep_logs_image_metrics_and_reports_the_extractor_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    write_digits(dir.path(), 600); // 540 train, 60 held out
    let sweep = dir.path().join("digits.ron");
    std::fs::write(
        &sweep,
        r#"Sweep(
    name: "digits",
    data: Idx(images: "images.gz", labels: "labels.gz"),
    steps: 20,
    eval_every: 10,
    eval_samples: 60,
    seeds: 1,
    base: {"arch": "Dcgan", "channels": 4, "batch_size": 16, "latent_dim": 8},
    variants: [(plugin: "gan"), (plugin: "vae")],
)"#,
    )
    .unwrap();
    let db = dir.path().join("db.sqlite");
    let out = dir.path().join("report");
    // No report here: it is written below, into the temporary folder.
    let (code, _, stderr) = run_sweep(&sweep, &db, &["--jobs", "2"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("training the evaluation feature extractor"),
        "{stderr}"
    );

    // The extractor is cached beside the database, with its accuracy on the 60 held-out digits.
    let cached: Vec<_> = std::fs::read_dir(dir.path().join("extractors"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");

    // Every image metric at both evaluations of both runs, finite and in range.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let names = [
        "fid",
        "kid_mean",
        "kid_std",
        "precision",
        "recall",
        "density",
        "coverage",
    ];
    for name in names {
        let rows: Vec<(i64, i64, f64)> = conn
            .prepare(
                "SELECT m.run_id, m.step, m.value FROM metrics m JOIN metric_keys k ON k.id = m.key_id
                 WHERE k.name = ?1 ORDER BY m.run_id, m.step",
            )
            .unwrap()
            .query_map([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let steps: Vec<i64> = rows.iter().map(|r| r.1).collect();
        assert_eq!(steps, [10, 20, 10, 20], "{name}: {rows:?}");
        for (_, _, v) in &rows {
            assert!(v.is_finite(), "{name}: {rows:?}");
            if ["precision", "recall", "coverage"].contains(&name) {
                assert!((0.0..=1.0).contains(v), "{name}: {rows:?}");
            }
        }
        if name == "fid" {
            assert!(rows.iter().all(|r| r.2 > 0.0), "{rows:?}");
        }
    }

    // A second run of the same sweep reuses the cached extractor.
    let (code, _, stderr) = run_sweep(&sweep, &db, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("training the evaluation"), "{stderr}");

    let (code, _, stderr) = run(&[
        "report",
        "digits",
        "--db",
        db.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        html.contains("cnn-v1-28x28, held-out accuracy") && html.contains("on 60 images"),
        "the page does not state the extractor"
    );
    for name in ["fid", "kid_mean", "precision", "coverage"] {
        assert!(
            html.contains(&format!("data-metric=\"{name}\"")),
            "no {name} column"
        );
        let curve = out.join(format!("curve-{name}.png"));
        assert!(curve.exists(), "{}", curve.display());
    }
    // The sample grid: two variants × two evaluation steps of 28×28 digits.
    let grid = figure_starting_with(&out, "samples");
    let image = image::open(&grid).unwrap();
    assert!(
        image.width() > 200 && image.height() > 100,
        "{}",
        grid.display()
    );

    // The VAE (only) saved held-out digits interleaved with its reconstructions, at both steps.
    let saved: Vec<(String, i64, String)> = conn
        .prepare(
            "SELECT r.plugin, a.step, a.path FROM artifacts a JOIN runs r ON r.id = a.run_id
             WHERE a.kind = 'reconstructions' ORDER BY r.id, a.step",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let plugin_steps: Vec<(&str, i64)> = saved.iter().map(|s| (&s.0[..], s.1)).collect();
    assert_eq!(plugin_steps, [("vae", 10), ("vae", 20)], "{saved:?}");
    let (pairs, shape) = ganbench_data::npy::read_npy(Path::new(&saved[1].2)).unwrap();
    assert_eq!(shape, [64, 1, 28, 28]); // 32 (original, reconstruction) pairs
    assert!(pairs.iter().all(|v| v.is_finite()));
    // Every original is one of the dataset's digits, exactly; reconstructions are not copies.
    let digits = mnist_fixture().to_f32(0..600);
    for (k, pair) in pairs.chunks_exact(2 * 784).enumerate() {
        let (original, reconstruction) = pair.split_at(784);
        assert!(
            digits.chunks_exact(784).any(|d| d == original),
            "original {k} is not a digit of the dataset"
        );
        assert_ne!(original, reconstruction);
    }
    let figure = figure_starting_with(&out, "reconstructions");
    image::open(&figure).unwrap();
}
