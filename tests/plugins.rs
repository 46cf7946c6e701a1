//! End to end: plugin discovery, static/dynamic identity, refusal of foreign libraries, and
//! parameter validation before training.

mod common;

use common::*;
use serde_json::Value;

const BUILTINS: [&str; 4] = ["gan", "wgan-gp", "sngan", "vae"];

fn plugin_names(listing: &Value, dynamic: bool) -> Vec<String> {
    listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["dynamic"] == dynamic)
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn builtins_are_listed_with_their_parameters() {
    let listing = run_json(&["plugins", "--json"]);
    assert_eq!(plugin_names(&listing, false), BUILTINS);
    assert!(plugin_names(&listing, true).is_empty());
    for p in listing["plugins"].as_array().unwrap() {
        assert!(
            !p["params"].as_array().unwrap().is_empty(),
            "{} declares no parameters",
            p["name"]
        );
    }
    let (code, text, _) = run(&["plugins"]);
    assert_eq!(code, 0);
    for name in BUILTINS {
        assert!(text.contains(&format!("{name} 0.1.0 — built-in")), "{text}");
    }
}

#[test]
fn built_libraries_are_listed_as_dynamic() {
    let dir = plugin_libraries();
    let listing = run_json(&["plugins", "--json", "--plugin-dir", dir.to_str().unwrap()]);
    let mut dynamic = plugin_names(&listing, true);
    dynamic.sort();
    assert_eq!(dynamic, ["gan", "lsgan", "sngan", "vae", "wgan-gp"]);
    // The built-ins stay listed, shadowed by the libraries of the same name.
    let shadowed: Vec<_> = listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["shadowed"] == true)
        .collect();
    assert_eq!(shadowed.len(), 4);
    // The same directory through the environment variable.
    let out = ganbench()
        .args(["plugins", "--json"])
        .env("GANBENCH_PLUGIN_PATH", dir)
        .output()
        .unwrap();
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plugin_names(&listing, true).contains(&"lsgan".to_string()));
}

fn train(plugin: &str, seed: u64) -> Value {
    let seed = seed.to_string();
    let v = run_json(&[
        "train",
        "--plugin",
        plugin,
        "--data",
        "ring8",
        "--steps",
        "40",
        "--eval-every",
        "20",
        "--eval-samples",
        "400",
        "--seed",
        &seed,
        "--json",
    ]);
    assert_eq!(v["status"], "finished", "{v}");
    v
}

#[test]
fn dynamic_and_builtin_plugins_give_identical_metrics() {
    let dir = plugin_libraries();
    for (name, crate_name) in [
        ("gan", "ganbench_gan"),
        ("wgan-gp", "ganbench_wgan_gp"),
        ("sngan", "ganbench_sngan"),
        ("vae", "ganbench_vae"),
    ] {
        let lib = library_path(dir, crate_name);
        let builtin = train(name, 7);
        let dynamic = train(lib.to_str().unwrap(), 7);
        assert_eq!(builtin["origin"], "built-in");
        assert_eq!(dynamic["origin"], lib.to_str().unwrap());
        // serde_json prints f64 in shortest round-trip form, so equal text means bitwise equal.
        assert_eq!(
            builtin["metrics"], dynamic["metrics"],
            "{name}: built-in and dynamic differ"
        );
    }
}

#[test]
fn same_seed_repeats_and_another_seed_differs() {
    for name in BUILTINS {
        let a = train(name, 11);
        let b = train(name, 11);
        let c = train(name, 12);
        assert_eq!(
            a["metrics"], b["metrics"],
            "{name}: same seed, different metrics"
        );
        assert_ne!(
            a["metrics"], c["metrics"],
            "{name}: another seed, same metrics"
        );
    }
}

#[test]
fn a_library_from_another_abi_version_is_refused() {
    let lib = fixture_library("abi-mismatch");
    let (code, _, stderr) = run(&[
        "plugins",
        "--plugin-dir",
        lib.parent().unwrap().to_str().unwrap(),
    ]);
    assert_eq!(
        code, 0,
        "a bad library must not break the listing: {stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "plugin ABI version 999, but this ganbench speaks ABI version {}",
            ganbench_plugin_api::ABI_VERSION
        )),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["train", "--plugin", lib.to_str().unwrap(), "--steps", "1"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("ABI version 999") && stderr.contains(lib.to_str().unwrap()),
        "{stderr}"
    );
}

#[test]
fn a_library_that_is_no_plugin_is_refused() {
    let lib = fixture_library("not-a-plugin");
    let (code, _, stderr) = run(&["train", "--plugin", lib.to_str().unwrap(), "--steps", "1"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a ganbench plugin"), "{stderr}");
    assert!(
        stderr.contains("ganbench_plugin_ganbench_fixture_not_a_plugin"),
        "{stderr}"
    );
}

#[test]
fn bad_parameters_are_rejected_before_training() {
    let (code, stdout, stderr) = run(&["train", "--plugin", "gan", "--set", "lr_dd=0.1"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("plugin `gan` has no parameter `lr_dd`; it accepts:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("lr_d (a float"),
        "the accepted parameters are named: {stderr}"
    );
    assert!(stdout.is_empty(), "nothing was trained: {stdout}");

    let (code, _, stderr) = run(&["train", "--plugin", "wgan-gp", "--set", "n_critic=many"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`n_critic` must be an integer"), "{stderr}");

    let (code, _, stderr) = run(&["train", "--plugin", "gan", "--set", "lr_d"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not of the form key=value"), "{stderr}");

    let (code, _, stderr) = run(&["train", "--plugin", "ganz"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("unknown plugin `ganz`; available: gan, wgan-gp, sngan, vae"),
        "{stderr}"
    );
}

#[test]
fn bad_data_and_device_are_rejected_before_training() {
    let (code, _, stderr) = run(&[
        "train",
        "--plugin",
        "gan",
        "--data",
        "ring(modes=0,radius=1,std=0.1)",
    ]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run(&[
        "train", "--plugin", "gan", "--device", "cuda:0", "--steps", "1",
    ]);
    if cfg!(feature = "cuda") {
        return; // a CUDA build fails differently without a GPU (see docs/cuda.md)
    }
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--features cuda"), "{stderr}");
}
