//! Expansion: counts, order, precedence, labels, trial keys and reproducible random search.

use crate::common;
use std::collections::BTreeMap;

use ganbench_plugin_api::{ParamValue, Params};
use ganbench_spec::{trial_key, Device, ErrorKind, Sweep, Trial};

/// A sweep with the given variants and extra fields (each ending in a comma); 2 seeds unless
/// `extra` sets `seeds`.
fn sweep(variants: &str, extra: &str) -> Sweep {
    let seeds = if extra.contains("seeds:") {
        ""
    } else {
        "seeds: 2,"
    };
    let text = format!(
        "Sweep(\n    name: \"t\",\n    data: \"ring8\",\n    steps: 100,\n    eval_every: 10,\n    {seeds}\n    variants: [{variants}],\n{extra}\n)"
    );
    Sweep::parse(&text, "t.ron").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn expand(s: &Sweep) -> Vec<Trial> {
    s.expand(&common::catalog())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn f(x: f64) -> ParamValue {
    ParamValue::Float(x)
}

#[test]
fn counts_multiply_variants_grid_search_and_seeds() {
    let two = r#"(plugin: "gan"), (plugin: "wgan-gp")"#;
    assert_eq!(expand(&sweep(two, "")).len(), 2 * 2);
    assert_eq!(
        expand(&sweep(
            two,
            r#"grid: {"lr_g": [1e-4, 2e-4], "beta1": [0.0, 0.5, 0.9]},"#
        ))
        .len(),
        2 * 6 * 2
    );
    assert_eq!(
        expand(&sweep(two, r#"grid: {"lr_g": [1e-4, 2e-4]}, search: (trials: 5, space: {"beta1": Uniform(0.0, 0.9)}),"#))
            .len(),
        2 * 2 * 5 * 2
    );
    // A seed list, and a variant whose own search replaces the sweep's.
    let s = sweep(
        r#"(plugin: "gan"), (plugin: "wgan-gp", search: (trials: 3, space: {"lambda": LogUniform(0.1, 100.0)}))"#,
        r#"seeds: [4, 8, 15], search: (trials: 2, space: {"beta1": Uniform(0.0, 0.9)}), grid: {"lr_g": [1e-4]},"#,
    );
    let trials = expand(&s);
    assert_eq!(trials.iter().filter(|t| t.plugin == "gan").count(), 2 * 3);
    assert_eq!(
        trials.iter().filter(|t| t.plugin == "wgan-gp").count(),
        3 * 3
    );
    assert_eq!(
        trials.iter().map(|t| t.seed).take(3).collect::<Vec<_>>(),
        [4, 8, 15]
    );
    assert!(trials
        .iter()
        .filter(|t| t.plugin == "wgan-gp")
        .all(|t| t.varied.contains_key("lambda") && !t.varied.contains_key("beta1")));
}

#[test]
fn sweep_level_axes_apply_only_to_plugins_that_declare_them() {
    // vae declares neither lr_g nor beta1: it gets one configuration per seed.
    let s = sweep(
        r#"(plugin: "gan"), (plugin: "vae")"#,
        r#"base: {"batch_size": 64}, grid: {"lr_g": [1e-4, 2e-4]}, search: (trials: 2, space: {"beta1": Uniform(0.0, 0.9)}),"#,
    );
    let trials = expand(&s);
    let vae: Vec<&Trial> = trials.iter().filter(|t| t.plugin == "vae").collect();
    assert_eq!(vae.len(), 2);
    assert!(vae
        .iter()
        .all(|t| t.varied.is_empty() && t.draw.is_none() && t.label == "vae"));
    assert!(vae
        .iter()
        .all(|t| t.params.get("batch_size") == Some(&ParamValue::Int(64))));
    assert_eq!(
        trials.iter().filter(|t| t.plugin == "gan").count(),
        2 * 2 * 2
    );
}

#[test]
fn the_most_specific_level_wins() {
    let s = sweep(
        r#"(plugin: "gan", label: "fixed", params: {"lr_g": 5e-4, "batch_size": 32}),
           (plugin: "gan", label: "own grid", grid: {"beta1": [0.1, 0.2]}),
           (plugin: "gan", label: "plain")"#,
        r#"base: {"batch_size": 128, "beta1": 0.3}, grid: {"lr_g": [1e-4, 2e-4], "beta1": [0.0, 0.9]},"#,
    );
    let trials = expand(&s);
    let of = |label: &str| {
        trials
            .iter()
            .filter(|t| t.variant == label)
            .collect::<Vec<_>>()
    };
    // Variant params beat base and the sweep grid: lr_g is no longer an axis for "fixed".
    let fixed = of("fixed");
    assert_eq!(fixed.len(), 2 * 2); // beta1 axis × seeds
    assert!(fixed.iter().all(|t| t.params.get("lr_g") == Some(&f(5e-4))));
    assert!(fixed
        .iter()
        .all(|t| t.params.get("batch_size") == Some(&ParamValue::Int(32))));
    // A variant grid axis replaces the sweep axis of the same name.
    let own = of("own grid");
    let betas: Vec<_> = own
        .iter()
        .map(|t| t.params.get("beta1").unwrap().clone())
        .collect();
    assert!(
        betas.iter().all(|b| *b == f(0.1) || *b == f(0.2)),
        "{betas:?}"
    );
    assert_eq!(own.len(), 2 * 2 * 2);
    // Base applies where nothing more specific does; the sweep grid beats base.
    let plain = of("plain");
    assert_eq!(plain.len(), 2 * 2 * 2);
    assert!(plain
        .iter()
        .all(|t| t.params.get("batch_size") == Some(&ParamValue::Int(128))));
    assert!(plain.iter().all(|t| t.params.get("beta1") != Some(&f(0.3))));
}

#[test]
fn every_declared_parameter_is_resolved_with_defaults_and_normalized() {
    let s = sweep(r#"(plugin: "wgan-gp", params: {"lambda": 5})"#, "");
    let t = &expand(&s)[0];
    let specs = &common::catalog()["wgan-gp"];
    assert_eq!(t.params.0.len(), specs.len());
    assert_eq!(t.params.get("lambda"), Some(&f(5.0))); // the integer became a float
    assert_eq!(t.params.get("n_critic"), Some(&ParamValue::Int(5))); // the default
}

#[test]
fn order_is_variants_then_grid_points_then_draws_then_seeds() {
    let s = sweep(
        r#"(plugin: "gan"), (plugin: "sngan")"#,
        r#"grid: {"lr_g": [1e-4, 2e-4]}, search: (trials: 2, space: {"beta1": Uniform(0.0, 0.9)}),"#,
    );
    let trials = expand(&s);
    let shape: Vec<(String, ParamValue, Option<usize>, u64)> = trials
        .iter()
        .map(|t| {
            (
                t.plugin.clone(),
                t.params.get("lr_g").unwrap().clone(),
                t.draw,
                t.seed,
            )
        })
        .collect();
    assert_eq!(shape[0], ("gan".into(), f(1e-4), Some(0), 0));
    assert_eq!(shape[1], ("gan".into(), f(1e-4), Some(0), 1));
    assert_eq!(shape[2], ("gan".into(), f(1e-4), Some(1), 0));
    assert_eq!(shape[4], ("gan".into(), f(2e-4), Some(0), 0));
    assert_eq!(shape[8], ("sngan".into(), f(1e-4), Some(0), 0));
}

#[test]
fn labels_name_the_variant_and_what_varies() {
    let s = sweep(
        r#"(plugin: "gan"), (plugin: "wgan-gp", label: "WGAN-GP", grid: {"n_critic": [1, 5]})"#,
        r#"grid: {"lr_g": [1e-4, 2.5e-4]}, base: {"loss": "minimax"},"#,
    );
    let labels: Vec<String> = expand(&s).into_iter().map(|t| t.label).collect();
    assert_eq!(labels[0], "gan lr_g=1e-4");
    assert_eq!(labels[2], "gan lr_g=2.5e-4");
    assert!(
        labels.contains(&"WGAN-GP lr_g=1e-4 n_critic=5".to_string()),
        "{labels:?}"
    );
    let plain = expand(&sweep(r#"(plugin: "gan", label: "GAN (ns)")"#, ""));
    assert_eq!(plain[0].label, "GAN (ns)");
    assert_eq!(plain[0].variant, "GAN (ns)");
    let choice = expand(&sweep(
        r#"(plugin: "gan", grid: {"loss": ["ns", "minimax"], "spectral_norm": [true]})"#,
        "",
    ));
    // A one-value axis tells no configuration apart: only `loss` is named.
    assert_eq!(choice[2].label, "gan loss=minimax");
}

#[test]
fn trial_keys_follow_the_documented_format_and_encoding() {
    // The key format is a contract with the store: this value must never change.
    let params = Params(BTreeMap::from([
        ("loss".to_string(), ParamValue::Str("ns".into())),
        ("lr".to_string(), f(0.5)),
        ("n".to_string(), ParamValue::Int(3)),
        ("sn".to_string(), ParamValue::Bool(true)),
    ]));

    // An independent implementation of docs/sweeps.md's "Trial keys" section.
    let mut bytes = b"ganbench-trial/1\n3:gan".to_vec();
    bytes.extend_from_slice(b"4:losss2:ns");
    bytes.extend_from_slice(format!("2:lrf{:016x}", 0.5f64.to_bits()).as_bytes());
    bytes.extend_from_slice(b"1:ni3;");
    bytes.extend_from_slice(b"2:snb1");
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    let folded = (h >> 48) ^ (h & 0xffff_ffff_ffff);
    assert_eq!(
        trial_key("gan", &params, 7),
        format!("gan-{folded:012x}-s7")
    );
    assert_eq!(trial_key("gan", &params, 0), "gan-acb9a605c06e-s0");
}

#[test]
fn keys_are_stable_and_tell_configurations_apart() {
    let text_sweep = || {
        sweep(
            r#"(plugin: "gan"), (plugin: "wgan-gp")"#,
            r#"grid: {"lr_g": [1e-4, 2e-4]},"#,
        )
    };
    let a = expand(&text_sweep());
    let b = expand(&text_sweep());
    assert_eq!(a, b);
    let keys: Vec<&str> = a.iter().map(|t| t.key.as_str()).collect();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "{keys:?}");
    // Seeds of one configuration share the hash part; the seed is the suffix.
    assert_eq!(
        &a[0].key[..a[0].key.len() - 1],
        &a[1].key[..a[1].key.len() - 1]
    );
    assert!(a[0].key.ends_with("-s0") && a[1].key.ends_with("-s1"));
    // A different parameter value changes the hash part.
    assert_ne!(
        a[0].key.rsplit_once('-').unwrap().0,
        a[2].key.rsplit_once('-').unwrap().0
    );
    // Writing a default explicitly does not change the key: the key hashes resolved parameters.
    let explicit = expand(&sweep(
        r#"(plugin: "gan", params: {"n_critic": 1, "beta1": 0.5})"#,
        "",
    ));
    let implicit = expand(&sweep(r#"(plugin: "gan")"#, ""));
    assert_eq!(explicit[0].key, implicit[0].key);
    // The hard-coded key of the gan defaults in the fake catalog, seed 0 (computed before the
    // catalog's `gan` declared `r1_gamma`: a keyless default keeps it).
    assert_eq!(implicit[0].key, "gan-4e4e41406ad4-s0");
}

#[test]
fn a_fix_at_its_keyless_default_is_left_out_of_the_key_and_set_is_hashed() {
    let implicit = expand(&sweep(r#"(plugin: "gan")"#, ""));
    let explicit = expand(&sweep(r#"(plugin: "gan", params: {"r1_gamma": 0})"#, ""));
    let on = expand(&sweep(r#"(plugin: "gan", params: {"r1_gamma": 10.0})"#, ""));
    assert_eq!(implicit[0].key, explicit[0].key);
    assert_ne!(implicit[0].key, on[0].key);
    // The trial still receives the parameter, default filled in.
    assert_eq!(implicit[0].params.0["r1_gamma"], f(0.0));
    // The key of the fix turned on is the documented hash over every parameter, r1_gamma included.
    let mut bytes = b"ganbench-trial/1\n3:gan".to_vec();
    for (name, value) in &on[0].params.0 {
        bytes.extend_from_slice(format!("{}:{name}", name.len()).as_bytes());
        match value {
            ParamValue::Float(x) => {
                bytes.extend_from_slice(format!("f{:016x}", x.to_bits()).as_bytes())
            }
            ParamValue::Int(i) => bytes.extend_from_slice(format!("i{i};").as_bytes()),
            ParamValue::Bool(b) => bytes.extend_from_slice(if *b { b"b1" } else { b"b0" }),
            ParamValue::Str(s) => bytes.extend_from_slice(format!("s{}:{s}", s.len()).as_bytes()),
        }
    }
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    let folded = (h >> 48) ^ (h & 0xffff_ffff_ffff);
    assert_eq!(on[0].key, format!("gan-{folded:012x}-s0"));
}

#[test]
fn random_search_is_reproducible_distinct_and_in_range() {
    let text = r#"search: (trials: 6, seed: 7, space: {
        "lr_d": LogUniform(1e-5, 1e-2), "beta1": Uniform(0.0, 0.9), "n_critic": Int(1, 5), "loss": Choice(["ns", "minimax"])}),"#;
    let a = expand(&sweep(r#"(plugin: "gan")"#, text));
    // Same draws from a re-parse with different layout.
    let b = expand(&sweep(r#"(plugin:"gan")"#, &text.replace(", ", ",\n  ")));
    assert_eq!(a, b);
    let draws: Vec<&BTreeMap<String, ParamValue>> =
        a.iter().step_by(2).map(|t| &t.varied).collect();
    assert_eq!(draws.len(), 6);
    for (i, d) in draws.iter().enumerate() {
        assert!(!draws[..i].contains(d), "draw {i} repeats");
        let ParamValue::Float(lr) = d["lr_d"] else {
            panic!()
        };
        assert!((1e-5..=1e-2).contains(&lr));
        let ParamValue::Float(b1) = d["beta1"] else {
            panic!()
        };
        assert!((0.0..=0.9).contains(&b1));
        // 4 significant digits.
        assert_eq!(format!("{:.3e}", lr).parse::<f64>().unwrap(), lr);
    }
    // Pinned: the draws are part of what a sweep file means.
    assert_eq!(
        a[0].varied,
        BTreeMap::from([
            ("beta1".to_string(), f(0.7804)),
            ("loss".to_string(), ParamValue::Str("ns".into())),
            ("lr_d".to_string(), f(0.009714)),
            ("n_critic".to_string(), ParamValue::Int(5)),
        ])
    );
    // The label shows as few digits as tell the six draws apart.
    assert_eq!(a[0].label, "gan beta1=0.78 loss=ns lr_d=0.0097 n_critic=5");
    // Another search seed, other draws; an extra axis leaves the others' draws alone.
    let other = expand(&sweep(
        r#"(plugin: "gan")"#,
        &text.replace("seed: 7", "seed: 8"),
    ));
    assert_ne!(other[0].varied, a[0].varied);
    let fewer = expand(&sweep(
        r#"(plugin: "gan")"#,
        &text.replace(r#""n_critic": Int(1, 5), "#, ""),
    ));
    assert_eq!(fewer[0].varied["lr_d"], a[0].varied["lr_d"]);
    assert_eq!(fewer[0].varied["beta1"], a[0].varied["beta1"]);
}

#[test]
fn a_discrete_search_can_use_its_whole_space() {
    let s = sweep(
        r#"(plugin: "gan")"#,
        r#"seeds: [3], search: (trials: 10, space: {"n_critic": Int(1, 5), "loss": Choice(["ns", "minimax"])}),"#,
    );
    let trials = expand(&s);
    assert_eq!(trials.len(), 10);
}

#[test]
fn search_draws_are_shared_across_variants_and_grid_points() {
    let s = sweep(
        r#"(plugin: "gan"), (plugin: "sngan")"#,
        r#"grid: {"lr_g": [1e-4, 2e-4]}, search: (trials: 3, space: {"beta1": Uniform(0.0, 0.9)}),"#,
    );
    let trials = expand(&s);
    let betas = |plugin: &str, lr: f64| -> Vec<ParamValue> {
        trials
            .iter()
            .filter(|t| t.plugin == plugin && t.params.get("lr_g") == Some(&f(lr)) && t.seed == 0)
            .map(|t| t.varied["beta1"].clone())
            .collect()
    };
    assert_eq!(betas("gan", 1e-4), betas("gan", 2e-4));
    assert_eq!(betas("gan", 1e-4), betas("sngan", 1e-4));
}

#[test]
fn optional_fields_take_bare_values_or_some() {
    let bare = sweep(
        r#"(plugin: "gan", label: "G")"#,
        r#"search: (trials: 2, space: {"beta1": Uniform(0.0, 0.9)}),"#,
    );
    let some = sweep(
        r#"(plugin: "gan", label: Some("G"))"#,
        r#"search: Some((trials: 2, space: {"beta1": Uniform(0.0, 0.9)})),"#,
    );
    assert_eq!(bare.spec_hash(), some.spec_hash());
    assert_eq!(expand(&bare), expand(&some));
}

#[test]
fn defaults_and_small_types() {
    let s = sweep(r#"(plugin: "gan")"#, "");
    assert_eq!(s.eval_samples, 2500);
    assert_eq!(s.checkpoint_every(), 10); // eval_every
    assert_eq!(s.device, Device::Cpu);
    assert_eq!(s.device.to_string(), "cpu");
    let s = sweep(
        r#"(plugin: "gan")"#,
        "device: Cuda(1), checkpoint_every: 0, eval_samples: 500,",
    );
    assert_eq!(s.device.to_string(), "cuda:1");
    assert_eq!(s.checkpoint_every(), 0);
    for (form, shown) in [
        ("\"ring8\"", "ring8"),
        ("ring8", "ring8"),
        ("\"grid25\"", "grid25"),
        (
            "\"ring(modes=4, radius=1, std=0.01)\"",
            "ring(modes=4,radius=1,std=0.01)",
        ),
        ("ring(modes: 8, radius: 2.0, std: 0.02)", "ring8"),
    ] {
        let text = format!("(name: \"t\", data: {form}, steps: 1, eval_every: 1, seeds: 1, variants: [(plugin: \"gan\")])");
        let s = Sweep::parse(&text, "t.ron").unwrap_or_else(|e| panic!("{form}: {e}"));
        assert_eq!(s.data.to_string(), shown);
    }
}

#[test]
fn trials_round_trip_through_json() {
    let trials = expand(&sweep(
        r#"(plugin: "gan")"#,
        r#"grid: {"loss": ["ns", "minimax"]},"#,
    ));
    let json = serde_json::to_string(&trials).unwrap();
    let back: Vec<Trial> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, trials);
}

#[test]
fn a_sweep_built_in_code_reports_errors_without_a_position() {
    let mut s = sweep(r#"(plugin: "gan")"#, "");
    s.source = Default::default();
    s.steps = 0;
    let err = s.validate(&common::catalog()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::ZeroSteps);
    assert_eq!(err.position, None);
    assert!(
        err.to_string()
            .starts_with("<sweep>: `steps` must be at least 1"),
        "{err}"
    );
}

#[test]
fn the_registry_is_a_catalog() {
    let registry = ganbench_plugin_api::Registry::new("test");
    let err = sweep(r#"(plugin: "gan")"#, "")
        .validate(&registry)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownPlugin);
}

#[test]
fn primary_takes_a_known_metric_or_any_metric_with_its_direction() {
    use ganbench_spec::{Direction, Primary};
    let named = sweep(r#"(plugin: "gan")"#, r#"primary: "high_quality","#);
    assert_eq!(named.primary, Some(Primary::Name("high_quality".into())));
    assert_eq!(
        named.primary.as_ref().unwrap().direction(),
        Some(Direction::Higher)
    );
    named.validate(&common::catalog()).unwrap();
    let custom = sweep(
        r#"(plugin: "gan")"#,
        r#"primary: (metric: "my_score", higher_is_better: false),"#,
    );
    let p = custom.primary.as_ref().unwrap();
    assert_eq!(
        (p.metric(), p.direction()),
        ("my_score", Some(Direction::Lower))
    );
    custom.validate(&common::catalog()).unwrap();
    // Averaged-generator metrics mean what their base metric means.
    sweep(r#"(plugin: "gan")"#, r#"primary: "modes_ema","#)
        .validate(&common::catalog())
        .unwrap();
    assert_eq!(sweep(r#"(plugin: "gan")"#, "").primary, None);
}
