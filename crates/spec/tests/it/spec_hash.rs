//! `spec_hash`: the store's "same name, changed spec?" check.

use ganbench_spec::Sweep;

const A: &str = r#"// The quickstart sweep.
Sweep(
    name: "quickstart",
    data: "ring8",
    steps: 2000,
    eval_every: 250,
    seeds: 3,
    base: {"batch_size": 256},
    variants: [
        (plugin: "gan"),
        (plugin: "wgan-gp", label: "WGAN-GP", params: {"lr_d": 1e-4}),
    ],
    grid: {"lr_g": [1e-4, 2e-4]},
)
"#;

/// A's content, written differently: comments, layout, field order, number spelling, explicit
/// defaults, `Some(…)`, seeds as a list.
const A_REWRITTEN: &str = r#"#![enable(implicit_some)]
/* same sweep */ Sweep(name:"quickstart",steps:2000,
  data: "ring8", eval_every: 250, eval_samples: 2500, checkpoint_every: 250, device: Cpu,
  seeds: [0, 1, 2], // as a list
  variants: [(plugin: "gan"), (label: Some("WGAN-GP"), plugin: "wgan-gp", params: {"lr_d": 0.0001})],
  grid: {"lr_g": [0.0001, 2e-4]}, base: {"batch_size": 256}, search: None,
)"#;

fn hash(text: &str) -> String {
    Sweep::parse(text, "a.ron")
        .unwrap_or_else(|e| panic!("{e}"))
        .spec_hash()
}

#[test]
fn layout_comments_and_spelling_do_not_count() {
    assert_eq!(hash(A), hash(A_REWRITTEN));
    assert_eq!(
        hash(A),
        hash(&A.replace("// The quickstart sweep.", "// Another comment\n\n"))
    );
}

#[test]
fn the_primary_metric_does_not_count() {
    // `primary` only says how the report ranks variants: editing it must not make the store
    // see a changed sweep (which would train everything again under a new version).
    let with = A.replace("seeds: 3,", "seeds: 3, primary: \"high_quality\",");
    assert_eq!(hash(A), hash(&with));
    let custom = A.replace(
        "seeds: 3,",
        "seeds: 3, primary: (metric: \"my_score\", higher_is_better: false),",
    );
    assert_eq!(hash(A), hash(&custom));
}

#[test]
fn content_does() {
    let base = hash(A);
    for (from, to) in [
        ("steps: 2000", "steps: 2001"),
        ("\"ring8\"", "\"grid25\""),
        ("seeds: 3", "seeds: 4"),
        ("{\"lr_d\": 1e-4}", "{\"lr_d\": 2e-4}"),
        ("\"WGAN-GP\"", "\"WGAN-GP 2\""),
        ("[1e-4, 2e-4]", "[2e-4, 1e-4]"),
        ("eval_every: 250,", "eval_every: 250, device: Cuda(0),"),
        (
            "eval_every: 250,",
            "eval_every: 250, checkpoint_every: 500,",
        ),
    ] {
        assert!(A.contains(from), "{from}");
        assert_ne!(hash(&A.replace(from, to)), base, "{from} -> {to}");
    }
}

#[test]
fn the_hash_is_pinned() {
    // The store compares this across versions of ganbench: it must not drift.
    let h = hash(A);
    assert_eq!(h.len(), 16);
    assert_eq!(h, "fbbbdf25d6001043");
}
