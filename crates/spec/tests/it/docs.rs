//! Every `ron` block in docs/sweeps.md parses, validates and expands; and the quickstart example
//! expands to the count the page states.

use crate::common;
use ganbench_spec::Sweep;

const DOC: &str = include_str!("../../../../docs/sweeps.md");

fn ron_blocks() -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in DOC.lines().enumerate() {
        match &mut current {
            None if line.trim() == "```ron" => current = Some((i + 2, String::new())),
            Some(_) if line.trim() == "```" => blocks.push(current.take().unwrap()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn every_example_on_the_page_is_valid() {
    let blocks = ron_blocks();
    assert!(blocks.len() >= 3, "found {} ron blocks", blocks.len());
    for (line, text) in &blocks {
        // The page's real path, so that relative data paths resolve as for a file in docs/.
        let path = format!("{}/../../docs/sweeps.md@{line}", env!("CARGO_MANIFEST_DIR"));
        let sweep = Sweep::parse(text, path).unwrap_or_else(|e| panic!("{e}"));
        let trials = sweep
            .expand(&common::catalog())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!trials.is_empty());
    }
}

#[test]
fn the_quickstart_example_has_the_stated_count() {
    let (_, text) = &ron_blocks()[0];
    let trials = Sweep::parse(text, "quickstart.ron")
        .unwrap()
        .expand(&common::catalog())
        .unwrap();
    assert!(DOC.contains("3 variants × 2 grid values × 3 seeds = 18 trials"));
    assert_eq!(trials.len(), 18);
}
