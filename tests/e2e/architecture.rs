//! The code map in ARCHITECTURE.md, held against the dependency graph that `cargo metadata` reports.
//!
//! Every crate's section in the code map ends with a line `**Never depends on:** …` listing crates
//! (in backticks), the word `plugins` (every crate under plugins/), or `nothing (why)`. This test fails when a crate
//! depends on one of those, directly or through another crate (normal dependencies; tests may use
//! anything), and when a workspace crate has no section, so that the map cannot drift from the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo metadata` for this machine's platform only, which needs no network once the build has
/// fetched the dependencies (for every platform, it would download Windows-only crates).
fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .expect("rustc runs");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names the host");
    let out = Command::new(cargo)
        .current_dir(root())
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &host])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// The workspace's crates by their folder (`crates/spec`, `plugins/gan`, `.` for the binary).
struct Workspace {
    folder_of: BTreeMap<String, String>,
    /// Package id → names of the packages it depends on through normal dependencies.
    normal_deps: BTreeMap<String, Vec<String>>,
    name_of: BTreeMap<String, String>,
    members: Vec<String>,
}

impl Workspace {
    fn read() -> Self {
        let meta = metadata();
        let mut name_of = BTreeMap::new();
        let mut folder_of = BTreeMap::new();
        for p in meta["packages"].as_array().unwrap() {
            let id = p["id"].as_str().unwrap().to_owned();
            name_of.insert(id.clone(), p["name"].as_str().unwrap().to_owned());
            let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap());
            if let Ok(rel) = manifest.parent().unwrap().strip_prefix(root()) {
                let folder = rel.to_string_lossy().into_owned();
                folder_of.insert(
                    id,
                    if folder.is_empty() {
                        ".".into()
                    } else {
                        folder
                    },
                );
            }
        }
        let mut normal_deps = BTreeMap::new();
        for node in meta["resolve"]["nodes"].as_array().unwrap() {
            let deps = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null())
                })
                .map(|d| d["pkg"].as_str().unwrap().to_owned())
                .collect();
            normal_deps.insert(node["id"].as_str().unwrap().to_owned(), deps);
        }
        let members = meta["workspace_members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_owned())
            .collect();
        Self {
            folder_of,
            normal_deps,
            name_of,
            members,
        }
    }

    /// Every package `id` depends on through normal dependencies, with one path to each.
    fn reachable(&self, id: &str) -> BTreeMap<String, Vec<String>> {
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut stack = vec![(id.to_owned(), vec![self.name_of[id].clone()])];
        while let Some((at, path)) = stack.pop() {
            for dep in &self.normal_deps[&at] {
                if !seen.contains_key(dep) {
                    let mut p = path.clone();
                    p.push(self.name_of[dep].clone());
                    seen.insert(dep.clone(), p.clone());
                    stack.push((dep.clone(), p));
                }
            }
        }
        seen
    }
}

/// The code map's rules: folder → what that crate must never depend on.
fn rules() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut rules = BTreeMap::new();
    let mut folder: Option<String> = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("### `") {
            folder = heading.split('`').next().map(|f| {
                f.trim_end_matches('/')
                    .trim_end_matches("/*")
                    .trim_start_matches("./")
                    .to_owned()
            });
        } else if let Some(list) = line.strip_prefix("**Never depends on:**") {
            let folder = folder
                .clone()
                .unwrap_or_else(|| panic!("a `Never depends on` line outside a crate's section"));
            // `nothing (why)`: a crate that may depend on anything (the binary).
            let list = if list.trim().starts_with("nothing") {
                ""
            } else {
                list
            };
            let forbidden = list
                .split(',')
                .map(|w| w.trim().trim_end_matches('.').trim_matches('`').to_owned())
                .filter(|w| !w.is_empty())
                .collect();
            rules.insert(folder, forbidden);
        }
    }
    rules
}

#[test]
fn no_crate_depends_on_what_the_code_map_forbids() {
    let ws = Workspace::read();
    let rules = rules();
    let plugins: BTreeSet<&str> = ws
        .folder_of
        .iter()
        .filter(|(_, f)| f.starts_with("plugins/"))
        .map(|(id, _)| ws.name_of[id].as_str())
        .collect();
    let mut undocumented = Vec::new();
    let mut violations = Vec::new();
    for id in &ws.members {
        let folder = &ws.folder_of[id];
        // A plugin's rules are those of `plugins/*`; the binary's those of `src/`.
        let key = if folder.starts_with("plugins/") {
            "plugins".to_owned()
        } else if folder == "." {
            "src".to_owned()
        } else {
            folder.clone()
        };
        let Some(forbidden) = rules.get(&key) else {
            undocumented.push(folder.clone());
            continue;
        };
        let forbidden: BTreeSet<&str> = forbidden
            .iter()
            .flat_map(|f| {
                if f == "plugins" {
                    plugins.iter().copied().collect::<Vec<_>>()
                } else {
                    vec![f.as_str()]
                }
            })
            .collect();
        for (dep, path) in ws.reachable(id) {
            if forbidden.contains(ws.name_of[&dep].as_str()) {
                violations.push(path.join(" → "));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "crates without a section and a `**Never depends on:**` line in ARCHITECTURE.md's code map: \
         {undocumented:?}"
    );
    assert!(
        violations.is_empty(),
        "dependencies the code map in ARCHITECTURE.md forbids:\n  {}",
        violations.join("\n  ")
    );
}

#[test]
fn the_rules_are_read_and_name_real_crates() {
    let ws = Workspace::read();
    let rules = rules();
    let known: BTreeSet<&str> = ws.name_of.values().map(String::as_str).collect();
    assert!(
        rules
            .get("crates/spec")
            .is_some_and(|r| r.iter().any(|c| c == "candle-core")),
        "the code map no longer forbids candle in the spec crate: {rules:?}"
    );
    for (folder, forbidden) in &rules {
        for name in forbidden {
            assert!(
                name == "plugins" || known.contains(name.as_str()),
                "ARCHITECTURE.md, section `{folder}`: `{name}` is no crate of this build (a typo \
                 would make the rule pass forever)"
            );
        }
    }
}
