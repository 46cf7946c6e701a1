//! End to end: plugin discovery, static/dynamic identity, refusal of foreign libraries, and
//! parameter validation before training.

use crate::common::*;
use serde_json::Value;

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
    let builtins = builtin_plugins();
    assert!(
        builtins.len() >= 6 && builtins.contains(&"vae-gan".to_string()),
        "{builtins:?}"
    );
    assert_eq!(plugin_names(&listing, false), builtins);
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
    for name in &builtins {
        assert!(text.contains(&format!("{name} 0.1.0 — built-in")), "{text}");
    }
}

#[test]
fn built_libraries_are_listed_as_dynamic() {
    let dir = plugin_libraries();
    let listing = run_json(&["plugins", "--json", "--plugin-dir", dir.to_str().unwrap()]);
    let mut dynamic = plugin_names(&listing, true);
    dynamic.sort();
    assert_eq!(
        dynamic,
        plugin_folders(),
        "every plugin under plugins/ loads"
    );
    // The built-ins stay listed, shadowed by the libraries of the same name.
    let shadowed: Vec<_> = listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["shadowed"] == true)
        .collect();
    assert_eq!(shadowed.len(), plugin_names(&listing, false).len());
    // The same directory through the environment variable.
    let out = ganbench()
        .args(["plugins", "--json"])
        .env("GANBENCH_PLUGIN_PATH", dir)
        .output()
        .unwrap();
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plugin_names(&listing, true).contains(&"lsgan".to_string()));
}

/// `ganbench train` for 40 steps on ring8 with `--set` assignments.
fn train_with(plugin: &str, seed: u64, set: &[&str]) -> Value {
    let seed = seed.to_string();
    let mut args = vec![
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
    ];
    for s in set {
        args.extend(["--set", s]);
    }
    let v = run_json(&args);
    assert_eq!(v["status"], "finished", "{v}");
    v
}

/// Every stability fix of docs/fixes.md that applies to toy data, spread over a few trials of
/// small networks (each fix in at least one; they combine).
const FIX_TRIALS: [&[&str]; 4] = [
    &[
        "hidden=32",
        "batch_size=64",
        "optimizer=sgd",
        "sgd_momentum=0.9",
        "sgd_nesterov=true",
        "lr_g=0.02",
        "lr_d=0.02",
        "clip_grad_norm_d=1",
        "clip_grad_norm_g=1",
        "lr_schedule=cosine",
        "lr_warmup_steps=5",
        "lr_decay_steps=40",
        "label_smoothing=0.1",
        "ema_decay=0.9",
    ],
    &[
        "hidden=32",
        "batch_size=32",
        "optimizer=rmsprop",
        "loss=hinge",
        "r1_gamma=10",
        "lazy_interval=4",
        "r2_gamma=1",
        "dragan_lambda=10",
        "instance_noise=0.1",
        "instance_noise_steps=40",
        "pac=2",
        "minibatch_std=4",
    ],
    &[
        "hidden=32",
        "batch_size=64",
        "lr_schedule=linear",
        "lr_decay_steps=40",
        "ema_decay=0.99",
        "ema_start=10",
    ],
    // PacGAN's 2D networks, small: batch norm in the generator, a maxout critic, N(0, 0.02²).
    &[
        "latent_dim=2",
        "g_hidden=32",
        "g_layers=3",
        "g_batch_norm=true",
        "d_hidden=16",
        "d_layers=2",
        "d_activation=maxout",
        "maxout_pieces=3",
        "init_std=0.02",
        "pac=2",
        "batch_size=32",
    ],
];

#[test]
fn dynamic_and_builtin_plugins_give_identical_metrics() {
    let dir = plugin_libraries();
    let defaults: &[&str] = &[];
    let small: &[&str] = &["hidden=32"];
    let names = builtin_plugins();
    let builtins = names
        .iter()
        .map(|name| (name.as_str(), if name == "wgan" { small } else { defaults }));
    let fixes = FIX_TRIALS.iter().map(|set| ("gan", *set));
    for (name, set) in builtins.chain(fixes) {
        let lib = library_path(dir, &plugin_crate(name));
        let builtin = train_with(name, 7, set);
        let dynamic = train_with(lib.to_str().unwrap(), 7, set);
        assert_eq!(builtin["origin"], "built-in");
        assert_eq!(dynamic["origin"], lib.to_str().unwrap());
        // serde_json prints f64 in shortest round-trip form, so equal text means bitwise equal.
        assert_eq!(
            builtin["metrics"], dynamic["metrics"],
            "{name} {set:?}: built-in and dynamic differ"
        );
    }
}

#[test]
fn same_seed_repeats_and_another_seed_differs() {
    let defaults: &[&str] = &[];
    let fixes = FIX_TRIALS.iter().map(|set| ("gan", *set));
    let names = builtin_plugins();
    for (name, set) in names.iter().map(|n| (n.as_str(), defaults)).chain(fixes) {
        let a = train_with(name, 11, set);
        let b = train_with(name, 11, set);
        let c = train_with(name, 12, set);
        assert_eq!(
            a["metrics"], b["metrics"],
            "{name} {set:?}: same seed, different metrics"
        );
        assert_ne!(
            a["metrics"], c["metrics"],
            "{name} {set:?}: another seed, same metrics"
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
        stderr.contains("unknown plugin `ganz`; available: gan, wgan-gp, sngan, vae, wgan"),
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

/// Writes a fake checkout (a workspace manifest and an SDK crate) in `dir`, for `plugin new`.
fn fake_checkout(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("crates/sdk")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    std::fs::write(dir.join("crates/sdk/Cargo.toml"), "").unwrap();
}

/// `plugin new` inside a checkout writes exactly the committed plugins/example (which the
/// workspace builds and the next test trains), so the scaffold builds and loads as written.
#[test]
fn plugin_new_writes_the_committed_example() {
    let dir = tempfile::tempdir().unwrap();
    fake_checkout(dir.path());
    let out = ganbench()
        .args(["plugin", "new", "example", "--json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let (code, stdout, stderr) = split(out);
    assert_eq!(code, 0, "{stderr}");
    let written: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(written["workspace_member"], true, "{written}");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["Cargo.toml", "src/lib.rs"] {
        let generated = std::fs::read_to_string(dir.path().join("plugins/example").join(file));
        let committed = std::fs::read_to_string(repo.join("plugins/example").join(file));
        assert_eq!(
            generated.unwrap(),
            committed.unwrap(),
            "plugins/example/{file} differs from what `ganbench plugin new example` writes now; \
             run `ganbench plugin new example --force` in the repository's root to update it"
        );
    }
    // A second time, the folder exists: refused unless --force.
    let out = ganbench()
        .args(["plugin", "new", "example"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let (code, _, stderr) = split(out);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
}

#[test]
fn the_scaffolded_plugin_loads_and_trains() {
    let lib = library_path(plugin_libraries(), &plugin_crate("example"));
    let v = run_json(&[
        "train",
        "--plugin",
        lib.to_str().unwrap(),
        "--set",
        "margin=0.5",
        "--steps",
        "20",
        "--eval-every",
        "10",
        "--eval-samples",
        "200",
        "--json",
    ]);
    assert_eq!(v["status"], "finished", "{v}");
    assert_eq!(v["plugin"], "example", "{v}");
}

#[test]
fn plugin_new_outside_a_checkout_needs_the_sdk_and_refuses_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let run_in = |args: &[&str]| {
        split(
            ganbench()
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap(),
        )
    };
    let (code, _, stderr) = run_in(&["plugin", "new", "mine"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--dir") && stderr.contains("--sdk"),
        "{stderr}"
    );
    let (code, _, stderr) = run_in(&["plugin", "new", "My_Loss"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a plugin name"), "{stderr}");

    // A standalone crate: its own workspace, the SDK by path, the same source as the example.
    let sdk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/sdk");
    let (code, _, stderr) = run_in(&[
        "plugin",
        "new",
        "mine",
        "--dir",
        ".",
        "--sdk",
        sdk.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let manifest = std::fs::read_to_string(dir.path().join("mine/Cargo.toml")).unwrap();
    let sdk = sdk.canonicalize().unwrap();
    assert!(
        manifest.contains(&format!(
            "ganbench-sdk = {{ path = {:?} }}",
            sdk.display().to_string()
        )) && manifest.contains("\n[workspace]\n")
            && manifest.contains("name = \"ganbench_mine\""),
        "{manifest}"
    );
    let lib = std::fs::read_to_string(dir.path().join("mine/src/lib.rs")).unwrap();
    assert!(
        lib.contains("pub struct Mine;") && lib.contains("\"mine\""),
        "{lib}"
    );
}
