//! Which metric ranks the variants, and why: `--metric` if given, else the sweep's `primary`,
//! else modes captured (ties broken by the high-quality share) on toy data and FID on images.

use serde::Serialize;

use crate::error::ReportError;
use crate::load::Loaded;
use crate::metric::{self, MetricKind};
use crate::stats::Direction;

/// Where the primary metric came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrimarySource {
    /// `--metric NAME` on the command line.
    Option,
    /// The sweep file's `primary`.
    Sweep,
    /// ganbench's default for the data.
    Default,
}

/// The metric the verdict ranks by and the tests compare.
#[derive(Debug, Clone, Serialize)]
pub struct PrimaryMetric {
    /// The metric's name as logged.
    pub metric: String,
    /// Whether larger is better.
    pub direction: Direction,
    /// The metric that orders runs with equal primary values, if any.
    pub tie_break: Option<String>,
    /// Where the choice came from.
    pub source: PrimarySource,
    /// Why this metric, in words.
    pub reason: String,
    /// Index into [`Loaded::metrics`].
    #[serde(skip)]
    pub index: usize,
    /// Index of the tie-break metric.
    #[serde(skip)]
    pub tie_index: Option<usize>,
    /// Its direction.
    #[serde(skip)]
    pub tie_direction: Option<Direction>,
}

/// `NAME`, `NAME:higher` or `NAME:lower`, as `--metric` takes it.
fn parse_requested(text: &str) -> (&str, Option<Direction>) {
    match text.rsplit_once(':') {
        Some((name, "higher")) => (name, Some(Direction::Higher)),
        Some((name, "lower")) => (name, Some(Direction::Lower)),
        _ => (text, None),
    }
}

/// Chooses the primary metric among the evaluation metrics of `loaded`. `requested` is
/// `--metric`'s value. `None` when no evaluation metric with a direction was logged.
pub fn resolve(
    loaded: &Loaded,
    requested: Option<&str>,
) -> Result<Option<PrimaryMetric>, ReportError> {
    let logged = |name: &str| {
        loaded
            .metrics
            .iter()
            .position(|m| m.kind == MetricKind::Evaluation && m.name == name)
    };
    let evaluation = || {
        loaded
            .metrics
            .iter()
            .filter(|m| m.kind == MetricKind::Evaluation)
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(text) = requested {
        let (name, written) = parse_requested(text);
        let index = logged(name).ok_or_else(|| ReportError::UnknownMetric {
            name: name.to_string(),
            known: evaluation(),
        })?;
        let direction = written.or_else(|| metric::direction(name)).ok_or_else(|| {
            ReportError::NoDirection {
                name: name.to_string(),
            }
        })?;
        return Ok(Some(finish(
            loaded,
            name,
            index,
            direction,
            PrimarySource::Option,
            format!("chosen with --metric {text}"),
        )));
    }

    let mut note = String::new();
    let named: Vec<&ganbench_spec::Primary> = loaded
        .sweeps
        .iter()
        .filter_map(|s| s.spec.as_ref()?.primary.as_ref())
        .collect();
    if let Some(first) = named.first() {
        if named.iter().any(|p| p != first) {
            note = "; the sweeps compared name different primary metrics, so ganbench's default \
                    is used"
                .into();
        } else if let (Some(index), Some(direction)) = (logged(first.metric()), first.direction()) {
            return Ok(Some(finish(
                loaded,
                first.metric(),
                index,
                direction,
                PrimarySource::Sweep,
                "named by the sweep's `primary` field".into(),
            )));
        } else {
            note = format!(
                "; the sweep names `{}` as its primary metric, but no run logged it",
                first.metric()
            );
        }
    }

    let toy = loaded.toy.is_some()
        || (!loaded.sweeps.is_empty()
            && loaded.sweeps.iter().all(|s| {
                s.spec
                    .as_ref()
                    .is_some_and(|spec| matches!(spec.data, ganbench_spec::DataSpec::Toy(_)))
            }));
    let default = ganbench_spec::default_primary(toy);
    if let Some(index) = logged(default) {
        let reason = if toy {
            "the default on toy data, because modes are what mode collapse takes away, and \
             among runs that capture as many modes the one with more samples near a mode is \
             better; reverse KL would rate a diffuse blob that covers every mode well \
             (docs/report.md)"
        } else {
            "the default on image data, because FID compares the whole distribution of samples \
             and data in the evaluation network's feature space"
        };
        return Ok(Some(finish(
            loaded,
            default,
            index,
            metric::direction(default).unwrap_or(Direction::Lower),
            PrimarySource::Default,
            format!("{reason}{note}"),
        )));
    }
    // Nothing of the default logged: the first evaluation metric with a direction.
    let fallback = loaded
        .metrics
        .iter()
        .enumerate()
        .filter(|(_, m)| m.kind == MetricKind::Evaluation)
        .find_map(|(i, m)| metric::direction(&m.name).map(|d| (i, m.name.clone(), d)));
    Ok(fallback.map(|(index, name, direction)| {
        finish(
            loaded,
            &name,
            index,
            direction,
            PrimarySource::Default,
            format!(
                "the first logged metric whose better direction ganbench knows, since no run \
                 logged {default}{note}"
            ),
        )
    }))
}

fn finish(
    loaded: &Loaded,
    name: &str,
    index: usize,
    direction: Direction,
    source: PrimarySource,
    reason: String,
) -> PrimaryMetric {
    let tie = ganbench_spec::tie_break(name).and_then(|t| {
        loaded
            .metrics
            .iter()
            .position(|m| m.kind == MetricKind::Evaluation && m.name == t)
            .map(|i| (t, i))
    });
    PrimaryMetric {
        metric: name.to_string(),
        direction,
        tie_direction: tie.as_ref().and_then(|(t, _)| metric::direction(t)),
        tie_index: tie.as_ref().map(|(_, i)| *i),
        tie_break: tie.map(|(t, _)| t),
        source,
        reason,
        index,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requested_metric_may_carry_its_direction() {
        assert_eq!(parse_requested("fid"), ("fid", None));
        assert_eq!(
            parse_requested("my:score:higher"),
            ("my:score", Some(Direction::Higher))
        );
        assert_eq!(parse_requested("x:lower"), ("x", Some(Direction::Lower)));
        assert_eq!(parse_requested("x:sideways"), ("x:sideways", None));
    }
}
