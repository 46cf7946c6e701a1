//! `ganbench plugins`: what can be trained, from where, with which parameters.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use ganbench_plugin_api::{Origin, ParamSpec};
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
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
    let registry = crate::registry::load(plugin_dirs)?;
    let listing = Listing {
        build_id: registry.expected_build_id(),
        plugins: registry
            .entries()
            .iter()
            .enumerate()
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
        println!("{}", serde_json::to_string_pretty(&listing)?);
        return Ok(ExitCode::SUCCESS);
    }
    for p in &listing.plugins {
        let kind = if p.dynamic { "dynamic" } else { "built-in" };
        let shadow = if p.shadowed {
            "  (shadowed by a later plugin of the same name)"
        } else {
            ""
        };
        println!("{} {} — {kind}{shadow}", p.name, p.version);
        if p.dynamic {
            println!("  from {}", p.origin);
        }
        let width = p.params.iter().map(|s| s.name.len()).max().unwrap_or(0);
        for s in p.params {
            println!(
                "  {:width$}  default {:<8}  {:<28}  {}",
                s.name,
                s.default.to_string(),
                s.kind.to_string(),
                s.help
            );
        }
        println!();
    }
    for s in &listing.skipped {
        eprintln!("skipped: {s}");
    }
    Ok(ExitCode::SUCCESS)
}
