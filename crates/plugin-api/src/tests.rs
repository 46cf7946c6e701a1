//! The boundary exercised through a built-in declaration: the same shims a library exports.

use std::collections::BTreeMap;
use std::path::Path;

use crate::*;

const TEST_BUILD_ID: &str = "test-build";

/// A trainer without candle: sums batches, panics or fails on request.
struct Counter {
    total: f64,
    steps: u64,
    /// Keeps an "average" (mode `averaged`): sample_averaged answers.
    averaged: bool,
}

struct CounterPlugin;

impl Plugin for CounterPlugin {
    const NAME: &'static str = "counter";
    const VERSION: &'static str = "1.2.3";

    fn params() -> Vec<ParamSpec> {
        vec![
            ParamSpec::float("scale", 1.0, 0.0, 10.0, "multiplies the sum"),
            ParamSpec::choice(
                "mode",
                "ok",
                &["ok", "fail", "panic", "averaged"],
                "how train_step behaves",
            ),
        ]
    }

    fn create(config: &TrialConfig) -> PluginResult<Box<dyn Trainer>> {
        if config.params.str("mode")? == "fail" {
            return Err(PluginError::msg("refusing to start"));
        }
        Ok(Box::new(Counter {
            total: config.seed as f64,
            steps: 0,
            averaged: config.params.str("mode")? == "averaged",
        }))
    }
}

impl Trainer for Counter {
    fn rows_per_step(&self) -> usize {
        4
    }

    fn train_step(&mut self, batch: Batch<'_>) -> PluginResult<Metrics> {
        if batch.data.first() == Some(&-1.0) {
            panic!("asked to panic");
        }
        self.steps += 1;
        self.total += batch.data.iter().map(|&x| x as f64).sum::<f64>();
        Ok(vec![("total".into(), self.total), ("nan".into(), f64::NAN)])
    }

    fn sample(&mut self, n: usize, seed: u64) -> PluginResult<Samples> {
        Ok(Samples {
            data: (0..n * 2).map(|i| (i as u64 + seed) as f32).collect(),
            shape: vec![n, 2],
        })
    }

    fn sample_averaged(&mut self, n: usize, seed: u64) -> PluginResult<Option<Samples>> {
        if !self.averaged {
            return Ok(None);
        }
        let mut s = self.sample(n, seed)?;
        s.data.iter_mut().for_each(|x| *x = -*x);
        Ok(Some(s))
    }

    fn save(&self, dir: &Path) -> PluginResult<()> {
        std::fs::write(dir.join("state"), format!("{} {}", self.total, self.steps))?;
        Ok(())
    }

    fn load(&mut self, dir: &Path) -> PluginResult<()> {
        let text = std::fs::read_to_string(dir.join("state"))?;
        let (t, s) = text
            .split_once(' ')
            .ok_or_else(|| PluginError::msg("bad state"))?;
        self.total = t.parse().map_err(|_| PluginError::msg("bad total"))?;
        self.steps = s.parse().map_err(|_| PluginError::msg("bad steps"))?;
        Ok(())
    }

    fn describe(&self) -> Description {
        Description {
            parameters: 42,
            architecture: "none".into(),
        }
    }
}

export_plugin!(CounterPlugin, build_id = TEST_BUILD_ID);

fn registry() -> Registry {
    let mut r = Registry::new(TEST_BUILD_ID);
    r.add_builtin(declaration()).unwrap();
    r
}

fn config(plugin: &PluginHandle, set: &[&str], seed: u64) -> TrialConfig {
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    TrialConfig {
        params: plugin.params_from_assignments(&set).unwrap(),
        seed,
        device: crate::Device::Cpu,
        data_shape: vec![2],
    }
}

#[test]
fn builtin_round_trips_through_the_abi() {
    let mut reg = registry();
    let p = reg.get("counter").unwrap();
    assert_eq!((p.name.as_str(), p.version.as_str()), ("counter", "1.2.3"));
    assert_eq!(p.origin, Origin::BuiltIn);
    assert_eq!(p.params.len(), 2);

    let mut t = p.create(&config(&p, &["scale=2"], 10)).unwrap();
    assert_eq!(t.rows_per_step(), 4);
    let m = t
        .train_step(Batch {
            data: &[1.0, 2.0, 3.0, 4.0],
            shape: &[2, 2],
        })
        .unwrap();
    assert_eq!(m[0], ("total".to_string(), 20.0));
    assert!(m[1].1.is_nan(), "NaN must cross the boundary intact");
    let s = t.sample(3, 5).unwrap();
    assert_eq!(s.shape, vec![3, 2]);
    assert_eq!(s.data, vec![5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
    assert_eq!(t.describe().unwrap().parameters, 42);
    // A model without reconstructions (the trait's default) says so: no tensor, no error.
    let batch = Batch {
        data: &[1.0, 2.0],
        shape: &[1, 2],
    };
    assert!(t.reconstruct(batch).unwrap().is_none());
    // Likewise a model without an averaged generator.
    assert!(t.sample_averaged(3, 5).unwrap().is_none());
    let mut averaged = p.create(&config(&p, &["mode=averaged"], 0)).unwrap();
    let a = averaged.sample_averaged(2, 1).unwrap().expect("an average");
    assert_eq!(
        (a.shape, a.data),
        (vec![2, 2], vec![-1.0, -2.0, -3.0, -4.0])
    );
}

#[test]
fn save_and_load_restore_state() {
    let mut reg = registry();
    let p = reg.get("counter").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut a = p.create(&config(&p, &[], 0)).unwrap();
    a.train_step(Batch {
        data: &[1.5, 2.5],
        shape: &[1, 2],
    })
    .unwrap();
    a.save(dir.path()).unwrap();
    let mut b = p.create(&config(&p, &[], 0)).unwrap();
    b.load(dir.path()).unwrap();
    let next = Batch {
        data: &[1.0, 1.0],
        shape: &[1, 2],
    };
    assert_eq!(
        a.train_step(next).unwrap()[0],
        b.train_step(next).unwrap()[0]
    );
    assert_eq!(a.train_step(next).unwrap()[0].1, 4.0 + 2.0 + 2.0);
    let missing = b.load(&dir.path().join("nope")).unwrap_err();
    assert!(
        matches!(missing, CallError::Failed { call: "load", .. }),
        "{missing}"
    );
}

#[test]
fn errors_and_panics_come_back_as_errors() {
    let mut reg = registry();
    let p = reg.get("counter").unwrap();
    let err = p.create(&config(&p, &["mode=fail"], 0)).err().unwrap();
    assert_eq!(
        err.to_string(),
        "plugin `counter` failed in create: refusing to start"
    );

    let mut t = p.create(&config(&p, &[], 0)).unwrap();
    let err = t
        .train_step(Batch {
            data: &[-1.0, 0.0],
            shape: &[1, 2],
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            CallError::Panicked {
                call: "train_step",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("asked to panic"), "{err}");
    // The trainer is still usable after a caught panic.
    assert!(t
        .train_step(Batch {
            data: &[1.0, 0.0],
            shape: &[1, 2]
        })
        .is_ok());

    let err = t
        .train_step(Batch {
            data: &[1.0, 0.0, 3.0],
            shape: &[1, 2],
        })
        .unwrap_err();
    assert!(matches!(err, CallError::Protocol { .. }), "{err}");
}

#[test]
fn wrong_build_id_is_refused_naming_both() {
    let mut r = Registry::new("another-build");
    let err = r.add_builtin(declaration()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("`test-build`") && msg.contains("`another-build`"),
        "{msg}"
    );
}

#[test]
fn unknown_plugin_names_the_available_ones() {
    let mut reg = registry();
    let err = reg.get("ganz").unwrap_err().to_string();
    assert!(
        err.contains("unknown plugin `ganz`") && err.contains("available: counter"),
        "{err}"
    );
}

#[test]
fn unknown_parameter_is_rejected_before_create() {
    let mut reg = registry();
    let p = reg.get("counter").unwrap();
    let err = p
        .params_from_assignments(&["scal=3".into()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no parameter `scal`") && err.contains("scale (a float"),
        "{err}"
    );
    let err = p
        .resolve_params(&BTreeMap::from([("scale".into(), ParamValue::Float(11.0))]))
        .unwrap_err();
    assert!(err.to_string().contains("[0, 10]"), "{err}");
}

#[test]
fn non_library_files_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir
        .path()
        .join(format!("libfake.{}", std::env::consts::DLL_EXTENSION));
    std::fs::write(&fake, b"not a shared object").unwrap();
    let mut reg = registry();
    reg.add_path(dir.path()).unwrap();
    assert_eq!(reg.entries().len(), 1, "only the built-in");
    assert_eq!(reg.skipped().len(), 1);
    let msg = reg.skipped()[0].to_string();
    assert!(msg.contains("cannot be loaded as a library"), "{msg}");
}

#[test]
fn symbol_name_follows_the_crate_name() {
    let p = Path::new("/x/libganbench_gan.so");
    if cfg!(windows) {
        return;
    }
    assert_eq!(host::declaration_symbol(p), "ganbench_plugin_ganbench_gan");
}

#[test]
fn trial_config_carries_the_device_as_text_across_the_boundary() {
    // The JSON plugins receive keeps the text form, so plugins built before the typed device
    // read the same field.
    let config = TrialConfig {
        params: Params::default(),
        seed: 1,
        device: crate::Device::Cuda(1),
        data_shape: vec![2],
    };
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(json["device"], "cuda:1");
    let back: TrialConfig = serde_json::from_value(json).unwrap();
    assert_eq!(back, config);
    let mut bad = serde_json::to_value(&config).unwrap();
    bad["device"] = "gpu".into();
    let err = serde_json::from_value::<TrialConfig>(bad).unwrap_err();
    assert!(err.to_string().contains("unknown device `gpu`"), "{err}");
}
