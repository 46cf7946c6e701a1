//! Stable identities: trial keys and the spec hash.
//!
//! Both must come out the same on every run, process, platform and Rust version, because the store
//! matches them against what it recorded last time (a resumed sweep skips finished trials by key).
//! So no `DefaultHasher` and no float formatting by a library that might change: the input is a
//! canonical byte string defined here (floats by their IEEE bits), hashed with FNV-1a 64, a fixed
//! published algorithm. docs/sweeps.md spells the encoding out.

use std::fmt::Write as _;

use ganbench_plugin_api::{ParamValue, Params};
use serde_json::Value;

use crate::schema::{Seeds, Sweep};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// The stable key of one trial: `<plugin>-<12 hex digits>-s<seed>`, e.g. `gan-3f0c9a6be21d-s0`.
///
/// The hex digits hash the plugin name and the complete, resolved parameters (so every seed of
/// one configuration shares them); the seed is spelled out. The prefix is the plugin name made
/// safe for file names (a library path contributes its file stem).
pub fn trial_key(plugin: &str, params: &Params, seed: u64) -> String {
    let hash = fnv1a64(&canonical_params(plugin, params));
    // xor-fold to 48 bits, as the FNV authors recommend for shorter hashes.
    let short = (hash >> 48) ^ (hash & 0xffff_ffff_ffff);
    format!("{}-{short:012x}-s{seed}", key_prefix(plugin))
}

fn key_prefix(plugin: &str) -> String {
    let name = match plugin.rfind(['/', '\\']) {
        Some(i) => {
            let file = &plugin[i + 1..];
            file.split('.').next().unwrap_or(file)
        }
        None => plugin,
    };
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() {
        "plugin".into()
    } else {
        safe
    }
}

/// `ganbench-trial/1` then length-prefixed fields: the plugin, then per parameter (sorted by
/// name) its name and a typed value: `b0`/`b1`, `i<decimal>;`, `f<16 hex digits of the bits>`
/// (−0 written as +0), `s<len>:<bytes>`.
pub(crate) fn canonical_params(plugin: &str, params: &Params) -> Vec<u8> {
    let mut out = b"ganbench-trial/1\n".to_vec();
    push_str(&mut out, plugin);
    for (name, value) in &params.0 {
        push_str(&mut out, name);
        match value {
            ParamValue::Bool(b) => out.extend_from_slice(if *b { b"b1" } else { b"b0" }),
            ParamValue::Int(i) => out.extend_from_slice(format!("i{i};").as_bytes()),
            ParamValue::Float(x) => {
                out.extend_from_slice(format!("f{:016x}", float_bits(*x)).as_bytes())
            }
            ParamValue::Str(s) => {
                out.push(b's');
                push_str(&mut out, s);
            }
        }
    }
    out
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(format!("{}:", s.len()).as_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn float_bits(x: f64) -> u64 {
    if x == 0.0 {
        0 // -0.0 == 0.0: one configuration, one key
    } else {
        x.to_bits()
    }
}

/// Hash of the sweep's content, 16 hex digits: comments, whitespace, field order and spelling of
/// numbers do not change it; any value does. Defaults are filled in first (an omitted
/// `eval_samples` hashes like an explicit 2500) and `seeds: 3` hashes like `seeds: [0, 1, 2]`.
///
/// The input is the sweep's serde form, so a field added to the schema later must be skipped
/// when serializing its default (`skip_serializing_if`), or every recorded sweep would look changed.
/// `primary` is left out: it only says how the report ranks the variants, so editing it must not
/// make a sweep look changed (which would retrain every trial under a new version).
pub fn spec_hash(sweep: &Sweep) -> String {
    let mut normalized = sweep.clone();
    normalized.primary = None;
    normalized.checkpoint_every = Some(sweep.checkpoint_every());
    normalized.seeds = Seeds::List(sweep.seeds.to_vec());
    // An operational limit, not part of what is trained: raising it continues the same sweep.
    normalized.timeout = None;
    let value = serde_json::to_value(&normalized).expect("a sweep always serializes to JSON");
    let mut text = String::from("ganbench-spec/1\n");
    canonical_json(&value, &mut text);
    format!("{:016x}", fnv1a64(text.as_bytes()))
}

/// JSON with sorted object keys, no whitespace, integers in decimal and other numbers as
/// `f<hex bits>`: independent of serde_json's float formatting and its `preserve_order` feature.
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else {
                let _ = write!(out, "f{:016x}", float_bits(n.as_f64().unwrap_or(f64::NAN)));
            }
        }
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(v, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_published_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn key_prefixes_are_file_name_safe() {
        assert_eq!(key_prefix("wgan-gp"), "wgan-gp");
        assert_eq!(key_prefix("target/release/libmy_loss.so"), "libmy_loss");
        assert_eq!(key_prefix("my loss!"), "my_loss_");
        assert_eq!(key_prefix(""), "plugin");
    }

    #[test]
    fn negative_zero_is_zero() {
        let a = Params([("x".to_string(), ParamValue::Float(0.0))].into());
        let b = Params([("x".to_string(), ParamValue::Float(-0.0))].into());
        assert_eq!(trial_key("gan", &a, 0), trial_key("gan", &b, 0));
    }
}
