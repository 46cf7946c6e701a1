//! `ganbench plugins`: what can be trained, from where, with which parameters.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use ganbench_plugin_api::{Origin, ParamSpec};
use serde::Serialize;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Parameters are listed under the groups their plugin declares (model, \
optimization, loss, regularization, mode collapse, averaging, augmentation); the stability fixes \
are all off by default (docs/fixes.md).

Examples:
  ganbench plugins
  ganbench plugins --plugin gan
  ganbench plugins --json | jq '.plugins[] | select(.name == \"gan\") | .params[].name'"
)]
pub struct Args {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// List only the plugins of this name.
    #[arg(long, value_name = "NAME")]
    plugin: Option<String>,
}

#[derive(Serialize)]
struct Listing<'a> {
    build_id: &'a str,
    plugins: Vec<Entry<'a>>,
    /// Libraries found but refused, with the reason.
    skipped: Vec<String>,
}

#[derive(Serialize)]
struct Entry<'a> {
    name: &'a str,
    version: &'a str,
    /// "built-in" or the library path.
    origin: String,
    dynamic: bool,
    /// A later plugin of the same name is used instead of this one.
    shadowed: bool,
    params: &'a [ParamSpec],
}

pub fn run(plugin_dirs: &[PathBuf], args: Args) -> Result<ExitCode> {
    let mut registry = crate::registry::load(plugin_dirs)?;
    if let Some(name) = &args.plugin {
        // An unknown name is an error that lists the available ones.
        registry.get(name).map_err(crate::commands::bad_input)?;
    }
    let listing = Listing {
        build_id: registry.expected_build_id(),
        plugins: registry
            .entries()
            .iter()
            .enumerate()
            .filter(|(_, p)| args.plugin.as_ref().is_none_or(|name| &p.name == name))
            .map(|(i, p)| Entry {
                name: &p.name,
                version: &p.version,
                origin: p.origin.to_string(),
                dynamic: matches!(p.origin, Origin::Dynamic(_)),
                shadowed: registry.is_shadowed(i),
                params: &p.params,
            })
            .collect(),
        skipped: registry.skipped().iter().map(|e| e.to_string()).collect(),
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&listing)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    for p in &listing.plugins {
        let kind = if p.dynamic { "dynamic" } else { "built-in" };
        let shadow = if p.shadowed {
            "  (shadowed by a later plugin of the same name)"
        } else {
            ""
        };
        outln!("{} {} — {kind}{shadow}", p.name, p.version)?;
        if p.dynamic {
            outln!("  from {}", p.origin)?;
        }
        let width = p.params.iter().map(|s| s.name.len()).max().unwrap_or(0);
        for (group, params) in grouped(p.params) {
            let indent = if group.is_empty() { "  " } else { "    " };
            if !group.is_empty() {
                outln!("  {group}:")?;
            }
            for s in params {
                outln!(
                    "{indent}{:width$}  default {:<8}  {:<28}  {}",
                    s.name,
                    s.default.to_string(),
                    s.kind.to_string(),
                    s.help
                )?;
            }
        }
        outln!()?;
    }
    for s in &listing.skipped {
        eprintln!("skipped: {s}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Parameters by the group their plugin declares: ungrouped ones first, then each group in the
/// order of its first parameter, declaration order within a group.
fn grouped(params: &[ParamSpec]) -> Vec<(&str, Vec<&ParamSpec>)> {
    let mut groups: Vec<(&str, Vec<&ParamSpec>)> = vec![("", Vec::new())];
    for p in params {
        match groups.iter_mut().find(|(g, _)| *g == p.group) {
            Some((_, list)) => list.push(p),
            None => groups.push((&p.group, vec![p])),
        }
    }
    groups.retain(|(_, list)| !list.is_empty());
    groups
}
