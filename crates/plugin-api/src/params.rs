//! Declared plugin parameters and their validation.
//!
//! Every plugin declares its parameters (name, kind, default, allowed range, help). The host
//! resolves user-given values against those declarations *before* training starts, so a typo or an
//! out-of-range value never costs a run; the plugin receives a complete, validated [`Params`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One parameter value, as written in a sweep file or `--set key=value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// What values a parameter accepts. Bounds are inclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ParamKind {
    Float { min: f64, max: f64 },
    Int { min: i64, max: i64 },
    Bool,
    Choice { options: Vec<String> },
}

impl fmt::Display for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamKind::Float { min, max } => write!(f, "a float in [{min}, {max}]"),
            ParamKind::Int { min, max } => write!(f, "an integer in [{min}, {max}]"),
            ParamKind::Bool => write!(f, "true or false"),
            ParamKind::Choice { options } => write!(f, "one of {}", options.join(" | ")),
        }
    }
}

/// A declared parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    pub name: String,
    pub kind: ParamKind,
    pub default: ParamValue,
    pub help: String,
    /// The heading `ganbench plugins` lists the parameter under (e.g. `optimization`,
    /// `regularization`; see [`ParamSpec::in_group`]); empty: listed first, without a heading.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The default leaves the trainer exactly as it was before the parameter existed (a fix that
    /// is off), so trial keys leave the parameter out while it has its default value: sweeps
    /// recorded before it was added keep their keys (see [`ParamSpec::keyless_default`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keyless_default: bool,
}

impl ParamSpec {
    pub fn float(name: &str, default: f64, min: f64, max: f64, help: &str) -> Self {
        Self::new(
            name,
            ParamKind::Float { min, max },
            ParamValue::Float(default),
            help,
        )
    }

    pub fn int(name: &str, default: i64, min: i64, max: i64, help: &str) -> Self {
        Self::new(
            name,
            ParamKind::Int { min, max },
            ParamValue::Int(default),
            help,
        )
    }

    pub fn bool(name: &str, default: bool, help: &str) -> Self {
        Self::new(name, ParamKind::Bool, ParamValue::Bool(default), help)
    }

    pub fn choice(name: &str, default: &str, options: &[&str], help: &str) -> Self {
        let options = options.iter().map(|s| s.to_string()).collect();
        Self::new(
            name,
            ParamKind::Choice { options },
            ParamValue::Str(default.into()),
            help,
        )
    }

    fn new(name: &str, kind: ParamKind, default: ParamValue, help: &str) -> Self {
        Self {
            name: name.into(),
            kind,
            default,
            help: help.into(),
            group: String::new(),
            keyless_default: false,
        }
    }

    /// Lists the parameter under the heading `group` in `ganbench plugins`.
    pub fn in_group(mut self, group: &str) -> Self {
        self.group = group.into();
        self
    }

    /// Marks the default as "as if the parameter did not exist": trial keys omit the parameter
    /// while it has its default value, so adding it to a plugin keeps every recorded trial's key.
    pub fn keyless_default(mut self) -> Self {
        self.keyless_default = true;
        self
    }

    /// Whether a trial key includes this parameter with the (resolved) `value`.
    pub fn in_trial_key(&self, value: &ParamValue) -> bool {
        !(self.keyless_default && *value == self.default)
    }

    /// Checks (and normalizes: an integer given for a float parameter becomes a float) a value.
    pub fn check(&self, value: &ParamValue) -> Result<ParamValue, String> {
        let bad = || format!("`{}` must be {}, got {value}", self.name, self.kind);
        match (&self.kind, value) {
            (ParamKind::Float { min, max }, ParamValue::Float(_) | ParamValue::Int(_)) => {
                let x = match value {
                    ParamValue::Float(x) => *x,
                    ParamValue::Int(i) => *i as f64,
                    _ => unreachable!(),
                };
                if x.is_finite() && (*min..=*max).contains(&x) {
                    Ok(ParamValue::Float(x))
                } else {
                    Err(bad())
                }
            }
            (ParamKind::Int { min, max }, ParamValue::Int(i)) if (*min..=*max).contains(i) => {
                Ok(value.clone())
            }
            (ParamKind::Bool, ParamValue::Bool(_)) => Ok(value.clone()),
            (ParamKind::Choice { options }, ParamValue::Str(s)) if options.contains(s) => {
                Ok(value.clone())
            }
            _ => Err(bad()),
        }
    }

    /// Parses the text of `--set name=TEXT` according to this parameter's kind.
    pub fn parse(&self, text: &str) -> Result<ParamValue, String> {
        let text = text.trim();
        let value = match &self.kind {
            ParamKind::Float { .. } => text.parse::<f64>().ok().map(ParamValue::Float),
            ParamKind::Int { .. } => text.parse::<i64>().ok().map(ParamValue::Int),
            ParamKind::Bool => text.parse::<bool>().ok().map(ParamValue::Bool),
            ParamKind::Choice { .. } => Some(ParamValue::Str(text.trim_matches('"').to_string())),
        };
        match value {
            Some(v) => self.check(&v),
            None => Err(format!(
                "`{}` must be {}, got `{text}`",
                self.name, self.kind
            )),
        }
    }
}

/// A parameter problem, found before any training starts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("plugin `{plugin}` has no parameter `{name}`; it accepts: {accepted}")]
    Unknown {
        plugin: String,
        name: String,
        accepted: String,
    },
    #[error("plugin `{plugin}`: {message}")]
    Invalid { plugin: String, message: String },
    #[error("`{0}` is not of the form key=value")]
    Syntax(String),
    /// A plugin asked for a parameter it did not declare, or with the wrong type: a plugin bug.
    #[error("{0}")]
    Access(String),
}

/// A complete, validated set of parameter values: every declared parameter, defaults filled in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Params(pub BTreeMap<String, ParamValue>);

impl Params {
    /// Validates `given` against `specs` and fills in the defaults.
    pub fn resolve(
        plugin: &str,
        specs: &[ParamSpec],
        given: &BTreeMap<String, ParamValue>,
    ) -> Result<Params, ParamError> {
        for name in given.keys() {
            if !specs.iter().any(|s| &s.name == name) {
                return Err(ParamError::Unknown {
                    plugin: plugin.into(),
                    name: name.clone(),
                    accepted: describe_accepted(specs),
                });
            }
        }
        let mut out = BTreeMap::new();
        for spec in specs {
            let value = match given.get(&spec.name) {
                Some(v) => spec.check(v),
                None => Ok(spec.default.clone()),
            }
            .map_err(|message| ParamError::Invalid {
                plugin: plugin.into(),
                message,
            })?;
            out.insert(spec.name.clone(), value);
        }
        Ok(Params(out))
    }

    /// Parses `key=value` assignments (from `--set`) against `specs` into a map for [`Params::resolve`].
    pub fn parse_assignments(
        plugin: &str,
        specs: &[ParamSpec],
        assignments: &[String],
    ) -> Result<BTreeMap<String, ParamValue>, ParamError> {
        let mut out = BTreeMap::new();
        for a in assignments {
            let (name, text) = a
                .split_once('=')
                .ok_or_else(|| ParamError::Syntax(a.clone()))?;
            let name = name.trim();
            let spec =
                specs
                    .iter()
                    .find(|s| s.name == name)
                    .ok_or_else(|| ParamError::Unknown {
                        plugin: plugin.into(),
                        name: name.into(),
                        accepted: describe_accepted(specs),
                    })?;
            let value = spec.parse(text).map_err(|message| ParamError::Invalid {
                plugin: plugin.into(),
                message,
            })?;
            out.insert(name.to_string(), value);
        }
        Ok(out)
    }

    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.0.get(name)
    }

    /// A float parameter (an integer value is widened).
    pub fn f64(&self, name: &str) -> Result<f64, ParamError> {
        match self.get(name) {
            Some(ParamValue::Float(x)) => Ok(*x),
            Some(ParamValue::Int(i)) => Ok(*i as f64),
            other => Err(type_error(name, "float", other)),
        }
    }

    pub fn i64(&self, name: &str) -> Result<i64, ParamError> {
        match self.get(name) {
            Some(ParamValue::Int(i)) => Ok(*i),
            other => Err(type_error(name, "integer", other)),
        }
    }

    pub fn usize(&self, name: &str) -> Result<usize, ParamError> {
        let i = self.i64(name)?;
        usize::try_from(i)
            .map_err(|_| ParamError::Access(format!("parameter `{name}` must be ≥ 0, got {i}")))
    }

    pub fn bool(&self, name: &str) -> Result<bool, ParamError> {
        match self.get(name) {
            Some(ParamValue::Bool(b)) => Ok(*b),
            other => Err(type_error(name, "bool", other)),
        }
    }

    pub fn str(&self, name: &str) -> Result<&str, ParamError> {
        match self.get(name) {
            Some(ParamValue::Str(s)) => Ok(s),
            other => Err(type_error(name, "string", other)),
        }
    }
}

fn type_error(name: &str, want: &str, got: Option<&ParamValue>) -> ParamError {
    ParamError::Access(match got {
        Some(v) => format!("parameter `{name}` should be a {want}, got {v}"),
        None => format!("parameter `{name}` is missing"),
    })
}

/// "name (kind, default d), …" — the list an error shows so the user can fix a typo at once.
pub fn describe_accepted(specs: &[ParamSpec]) -> String {
    specs
        .iter()
        .map(|s| format!("{} ({}, default {})", s.name, s.kind, s.default))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<ParamSpec> {
        vec![
            ParamSpec::float("lr", 2e-4, 1e-6, 1.0, "learning rate"),
            ParamSpec::int("n_critic", 1, 1, 20, "critic steps per generator step"),
            ParamSpec::bool("spectral_norm", false, "spectral norm on D"),
            ParamSpec::choice("loss", "ns", &["ns", "minimax"], "generator loss"),
        ]
    }

    #[test]
    fn resolve_fills_defaults_and_widens_ints() {
        let given = BTreeMap::from([("lr".to_string(), ParamValue::Int(1))]);
        let p = Params::resolve("gan", &specs(), &given).unwrap();
        assert_eq!(p.f64("lr").unwrap(), 1.0);
        assert_eq!(p.usize("n_critic").unwrap(), 1);
        assert!(!p.bool("spectral_norm").unwrap());
        assert_eq!(p.str("loss").unwrap(), "ns");
        assert_eq!(p.0.len(), 4);
    }

    #[test]
    fn unknown_name_lists_accepted_parameters() {
        let err = Params::parse_assignments("gan", &specs(), &["lrr=0.1".into()]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("no parameter `lrr`"), "{msg}");
        assert!(
            msg.contains("lr (a float in [0.000001, 1], default 0.0002)"),
            "{msg}"
        );
        assert!(msg.contains("n_critic"), "{msg}");
    }

    #[test]
    fn malformed_and_out_of_range_values_are_rejected() {
        let s = specs();
        for bad in [
            "lr=abc",
            "lr=2",
            "lr=NaN",
            "n_critic=0",
            "n_critic=1.5",
            "loss=hinge",
            "spectral_norm=yes",
        ] {
            let err = Params::parse_assignments("gan", &s, &[bad.into()]);
            assert!(
                matches!(err, Err(ParamError::Invalid { .. })),
                "{bad}: {err:?}"
            );
        }
        assert!(matches!(
            Params::parse_assignments("gan", &s, &["lr".into()]),
            Err(ParamError::Syntax(_))
        ));
    }

    #[test]
    fn parsed_assignments_resolve() {
        let s = specs();
        let given = Params::parse_assignments(
            "gan",
            &s,
            &[
                "lr=0.001".into(),
                "loss=minimax".into(),
                "n_critic=5".into(),
            ],
        )
        .unwrap();
        let p = Params::resolve("gan", &s, &given).unwrap();
        assert_eq!(p.f64("lr").unwrap(), 0.001);
        assert_eq!(p.str("loss").unwrap(), "minimax");
        assert_eq!(p.usize("n_critic").unwrap(), 5);
    }

    #[test]
    fn params_round_trip_through_json() {
        let p = Params::resolve("gan", &specs(), &BTreeMap::new()).unwrap();
        let back: Params = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(p, back);
    }

    #[test]
    fn groups_and_keyless_defaults_cross_as_json_and_old_declarations_still_read() {
        let spec = ParamSpec::float("r1_gamma", 0.0, 0.0, 1e4, "R1 weight")
            .in_group("regularization")
            .keyless_default();
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<ParamSpec>(&json).unwrap(), spec);
        assert!(!spec.in_trial_key(&ParamValue::Float(0.0)));
        assert!(spec.in_trial_key(&ParamValue::Float(10.0)));
        // A plain parameter is always keyed, and its JSON has no new fields (older hosts read it).
        let plain = ParamSpec::float("lr", 1e-3, 1e-6, 1.0, "learning rate");
        assert!(plain.in_trial_key(&plain.default));
        let json = serde_json::to_string(&plain).unwrap();
        assert!(
            !json.contains("group") && !json.contains("keyless"),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<ParamSpec>(&json).unwrap(), plain);
    }
}
