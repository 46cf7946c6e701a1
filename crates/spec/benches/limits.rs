//! Validation of hostile sweep files (`cargo bench -p ganbench-spec`; a plain `main` that prints
//! numbers): how long `Sweep::parse` + `validate` take to refuse (or accept) files of up to
//! 50 MB, as a ratio to one linear pass over the same bytes (counting lines), measured in the
//! same run so that the machine's load hits both alike. Peak memory is not measured here (one
//! process runs every case): tests/e2e/limits.rs bounds it per case through the binary.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use ganbench_plugin_api::ParamSpec;
use ganbench_spec::Sweep;

const HEAD: &str = "Sweep(\n name: \"bench\",\n data: \"ring8\",\n steps: 2,\n eval_every: 1,\n";

/// `gan` with the parameters the cases use.
fn catalog() -> BTreeMap<String, Vec<ParamSpec>> {
    let specs = vec![
        ParamSpec::float("lr_g", 2e-4, 1e-6, 1.0, "generator learning rate"),
        ParamSpec::float("lr_d", 2e-4, 1e-6, 1.0, "discriminator learning rate"),
        ParamSpec::int("batch_size", 256, 1, 65_536, "rows per update"),
    ];
    BTreeMap::from([("gan".to_string(), specs)])
}

/// (name, text) of each case, each about `size` bytes.
fn cases(size: usize) -> Vec<(&'static str, String)> {
    let repeat = |piece: &dyn Fn(usize) -> String| {
        let mut out = String::with_capacity(size + 64);
        let mut i = 0;
        while out.len() < size {
            out.push_str(&piece(i));
            i += 1;
        }
        out
    };
    vec![
        (
            "10^9 seeds",
            format!("{HEAD} seeds: 1000000000,\n variants: [(plugin: \"gan\")],\n)"),
        ),
        (
            "50 MB label",
            format!(
                "{HEAD} seeds: 1,\n variants: [(plugin: \"gan\", label: \"{}\")],\n)",
                "y".repeat(size)
            ),
        ),
        (
            "50 MB of seeds",
            format!(
                "{HEAD} seeds: [{}],\n variants: [(plugin: \"gan\")],\n)",
                repeat(&|i| format!("{i},"))
            ),
        ),
        (
            "249,000 base keys",
            format!(
                "{HEAD} seeds: 1,\n base: {{{}}},\n variants: [(plugin: \"gan\")],\n)",
                (0..249_000)
                    .map(|i| format!("\"k{i}\": {i},"))
                    .collect::<String>()
            ),
        ),
        (
            "249,000-value grid axis",
            format!(
                "{HEAD} seeds: 1,\n grid: {{\"lr_g\": [{}]}},\n variants: [(plugin: \"gan\")],\n)",
                (0..249_000)
                    .map(|i| format!("{:e},", 1e-4 + i as f64 * 1e-10))
                    .collect::<String>()
            ),
        ),
        (
            "50 MB comment (valid)",
            format!(
                "// {}\n{HEAD} seeds: 1,\n variants: [(plugin: \"gan\")],\n)",
                "c".repeat(size)
            ),
        ),
    ]
}

/// The median of `rounds` timings of `f`.
fn median(rounds: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[rounds / 2]
}

fn main() {
    let catalog = catalog();
    println!(
        "{:<26} {:>9} {:>11} {:>11} {:>8}  outcome",
        "case", "MB", "validate s", "1 pass s", "ratio"
    );
    for (name, text) in cases(50 << 20) {
        let mut outcome = String::new();
        let validate = median(3, || {
            outcome = match Sweep::parse(black_box(&text), "bench.ron")
                .and_then(|s| s.validate(&catalog))
            {
                Ok(()) => "accepted".into(),
                Err(e) => e.message.chars().take(60).collect(),
            };
        });
        let pass = median(3, || {
            black_box(black_box(&text).lines().count());
        });
        println!(
            "{name:<26} {:>9.1} {:>11.3} {:>11.4} {:>8.0}  {outcome}",
            text.len() as f64 / 1e6,
            validate.as_secs_f64(),
            pass.as_secs_f64(),
            validate.as_secs_f64() / pass.as_secs_f64().max(1e-9)
        );
    }
}
