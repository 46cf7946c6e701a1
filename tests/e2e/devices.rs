//! End to end: devices in a CPU-only build — every way of asking for CUDA says how to build with
//! it and exits 2 before any run starts; `ganbench doctor` reports the build. (The CUDA build's
//! no-GPU path is checked by .ci/cuda-build.sh with stub CUDA libraries.)

#![cfg(not(feature = "cuda"))]

use crate::common::*;

#[test]
fn cuda_from_a_cpu_build_says_how_to_build_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let quickstart = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/quickstart.ron");
    let text = std::fs::read_to_string(quickstart).unwrap();
    let cuda_sweep = dir.path().join("cuda.ron");
    std::fs::write(
        &cuda_sweep,
        text.replacen("Sweep(", "Sweep(device: Cuda(1),", 1),
    )
    .unwrap();
    let db = dir.path().join("db.sqlite");
    let db = db.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "train", "--plugin", "gan", "--steps", "1", "--device", "cuda:0",
            ],
            "cuda:0",
        ),
        (
            &["run", quickstart, "--db", db, "--device", "cuda:2"],
            "cuda:2",
        ),
        (&["run", quickstart, "--db", db, "--gpus", "0,1"], "cuda:0"),
        (
            &[
                "run",
                quickstart,
                "--db",
                db,
                "--gpus",
                "1",
                "--jobs-per-gpu",
                "3",
            ],
            "cuda:1",
        ),
        (&["run", cuda_sweep.to_str().unwrap(), "--db", db], "cuda:1"),
    ];
    for (args, device) in cases {
        let (code, _, stderr) = run(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("device `{device}` needs CUDA"))
                && stderr.contains("cargo build --release --features cuda")
                && stderr.contains("docs/cuda.md"),
            "{args:?}: {stderr}"
        );
    }
    assert!(
        !dir.path().join("db.sqlite").exists(),
        "a sweep that cannot train created its database"
    );
}

#[test]
fn gpus_and_jobs_do_not_combine() {
    let quickstart = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/quickstart.ron");
    let (code, _, stderr) = run(&["run", quickstart, "--gpus", "0", "--jobs", "2"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--jobs") && stderr.contains("--gpus"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["run", quickstart, "--jobs-per-gpu", "2"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--gpus"), "{stderr}");
}

#[test]
fn doctor_reports_a_cpu_build() {
    let doctor = run_json(&["doctor", "--json"]);
    assert_eq!(doctor["features"]["cuda"], false, "{doctor}");
    assert_eq!(doctor["cuda"]["built"], false, "{doctor}");
    assert_eq!(doctor["cuda"]["gpus"], serde_json::json!([]), "{doctor}");
    assert!(
        doctor["cuda"]["problem"]
            .as_str()
            .unwrap()
            .contains("--features cuda"),
        "{doctor}"
    );
    let build_id = doctor["build_id"].as_str().unwrap();
    assert!(
        build_id.contains("; candle-") && !build_id.ends_with("; cuda"),
        "{build_id}"
    );

    let (code, text, stderr) = run(&["doctor"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(text.contains("features   cuda off"), "{text}");
    assert!(text.contains(build_id), "{text}");
}
