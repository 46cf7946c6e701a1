//! Expansion: variants × grid points × search draws × seeds → trials, in a fixed order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ganbench_plugin_api::{ParamValue, Params};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::catalog::PluginCatalog;
use crate::error::{ErrorKind, SpecError};
use crate::hash::{fnv1a64, trial_key};
use crate::limits::DEFAULT_MAX_TRIALS;
use crate::locate::{Seg, Target};
use crate::schema::{Dist, Sweep};
use crate::validate::{Ctx, PlannedSearch};

/// One training run: a variant's plugin with complete parameters and one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Stable identity, `<plugin>-<12 hex>-s<seed>` (see [`trial_key`]).
    pub key: String,
    /// The variant's label: what reports group by.
    pub variant: String,
    /// The variant's label plus the parameters that tell this configuration apart from the
    /// variant's others ([`crate::configuration_labels`]), e.g. `WGAN-GP lr_d=3.2e-4 lr_g=1e-4`;
    /// every seed of a configuration shares it.
    pub label: String,
    /// The plugin, as named in the sweep.
    pub plugin: String,
    /// Every declared parameter, defaults filled in.
    pub params: Params,
    /// The training seed.
    pub seed: u64,
    /// The grid and search values that distinguish this configuration within its variant.
    pub varied: BTreeMap<String, ParamValue>,
    /// Index of the random-search draw (0-based), when the variant has a search.
    pub draw: Option<usize>,
}

impl Sweep {
    /// Validates the sweep against `catalog` and expands it into trials.
    ///
    /// Order: variants as listed; within a variant, grid points (axes sorted by name, the last
    /// varying fastest), then search draws, then seeds. The same file gives the same trials in the
    /// same order on every run.
    ///
    /// A sweep of more than [`DEFAULT_MAX_TRIALS`] trials is refused (counted before any trial is
    /// built); [`Sweep::expand_at_most`] takes another limit.
    pub fn expand(&self, catalog: &dyn PluginCatalog) -> Result<Vec<Trial>, SpecError> {
        self.expand_at_most(catalog, DEFAULT_MAX_TRIALS)
    }

    /// [`Sweep::expand`] refusing more than `max_trials` trials (`ganbench run --max-trials`).
    pub fn expand_at_most(
        &self,
        catalog: &dyn PluginCatalog,
        max_trials: u64,
    ) -> Result<Vec<Trial>, SpecError> {
        let ctx = Ctx { sweep: self };
        let plans = self.plans(&ctx, catalog, max_trials)?;
        let seeds = self.seeds.to_vec();
        let mut trials: Vec<Trial> = Vec::new();
        let mut by_key: HashMap<String, (usize, usize)> = HashMap::new();
        for plan in &plans {
            let variant_at = [Seg::Field("variants"), Seg::Index(plan.index)];
            let draws: Vec<(Option<usize>, BTreeMap<String, ParamValue>)> = match &plan.search {
                None => vec![(None, BTreeMap::new())],
                Some(search) => draw_points(search)
                    .map_err(|found| {
                        ctx.err(
                            ErrorKind::SearchTooSmall,
                            &search.trials_path,
                            Target::Value,
                            format!(
                                "variant `{}`: drew only {found} distinct points of the {} asked for in {} attempts",
                                plan.label, search.trials, search.max_attempts
                            ),
                        )
                        .with_hint("the ranges are too narrow for the values to differ: widen them or lower `trials`")
                    })?
                    .into_iter()
                    .enumerate()
                    .map(|(i, point)| (Some(i), point))
                    .collect(),
            };
            for point in grid_points(&plan.grid) {
                for (draw, drawn) in &draws {
                    let mut given = plan.fixed.clone();
                    given.extend(point.iter().map(|(k, v)| (k.clone(), v.clone())));
                    given.extend(drawn.iter().map(|(k, v)| (k.clone(), v.clone())));
                    let params = Params::resolve(&plan.variant.plugin, &plan.specs, &given)
                        .map_err(|e| {
                            // Unreachable after validation, short of a plugin whose declarations disagree
                            // with its own defaults; still an error, not a panic.
                            ctx.err(
                                ErrorKind::InvalidValue,
                                &variant_at,
                                Target::Key,
                                e.to_string(),
                            )
                        })?;
                    // The resolved (normalized) values, so a label shows what the plugin receives.
                    let varied: BTreeMap<String, ParamValue> = point
                        .keys()
                        .chain(drawn.keys())
                        .map(|k| (k.clone(), params.0[k].clone()))
                        .collect();
                    let label = describe_point(&plan.label, &varied);
                    let keyed = keyed_params(&params, &plan.specs);
                    for &seed in &seeds {
                        let key = trial_key(&plan.variant.plugin, &keyed, seed);
                        if let Some(&(other, other_variant)) = by_key.get(&key) {
                            let first = &trials[other];
                            let same =
                                first.plugin == plan.variant.plugin && first.params == params;
                            let message = if same {
                                format!(
                                    "`{label}` repeats `{}` (variant {} in the list): same plugin, parameters and seed {seed}",
                                    first.label,
                                    other_variant + 1
                                )
                            } else {
                                format!(
                                    "trial keys collide: `{key}` for `{label}` and `{}`",
                                    first.label
                                )
                            };
                            return Err(ctx
                                .err(ErrorKind::DuplicateTrial, &variant_at, Target::Key, message)
                                .with_hint("make the variants differ in plugin or parameters, or remove one"));
                        }
                        by_key.insert(key.clone(), (trials.len(), plan.index));
                        trials.push(Trial {
                            key,
                            variant: plan.label.clone(),
                            // Replaced below, once every configuration of the variant is known.
                            label: label.clone(),
                            plugin: plan.variant.plugin.clone(),
                            params: params.clone(),
                            seed,
                            varied: varied.clone(),
                            draw: *draw,
                        });
                    }
                }
            }
        }
        label_configurations(&mut trials);
        Ok(trials)
    }

    /// See [`crate::hash::spec_hash`].
    pub fn spec_hash(&self) -> String {
        crate::hash::spec_hash(self)
    }
}

/// The cartesian product of the axes, the last axis varying fastest; one empty point for no axes.
fn grid_points(axes: &[(String, Vec<ParamValue>)]) -> Vec<BTreeMap<String, ParamValue>> {
    let mut points = vec![BTreeMap::new()];
    for (name, values) in axes {
        points = points
            .into_iter()
            .flat_map(|point| {
                values.iter().map(move |v| {
                    let mut p = point.clone();
                    p.insert(name.clone(), v.clone());
                    p
                })
            })
            .collect();
    }
    points
}

/// `trials` distinct points; `Err(found)` when the attempts run out first.
///
/// Each axis draws from its own ChaCha8 stream: key = `seed` (little-endian, zero-padded), stream
/// = FNV-1a 64 of the axis name. So adding an axis does not change the others' values, and two
/// variants with the same space get the same points (a paired comparison). Floats are rounded to
/// 4 significant digits: readable labels, and `ln`/`exp` (platform libm) differences in the last
/// bit cannot change a key.
fn draw_points(search: &PlannedSearch) -> Result<Vec<BTreeMap<String, ParamValue>>, usize> {
    let mut rngs: Vec<ChaCha8Rng> = search
        .axes
        .iter()
        .map(|(name, _)| {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&search.seed.to_le_bytes());
            let mut rng = ChaCha8Rng::from_seed(key);
            rng.set_stream(fnv1a64(name.as_bytes()));
            rng
        })
        .collect();
    let mut points = Vec::with_capacity(search.trials);
    // `{:?}` of a value is exact (floats round-trip), so it identifies a point.
    let mut seen = BTreeSet::new();
    for _ in 0..search.max_attempts {
        if points.len() == search.trials {
            break;
        }
        let point: BTreeMap<String, ParamValue> = search
            .axes
            .iter()
            .zip(rngs.iter_mut())
            .map(|((name, dist), rng)| (name.clone(), sample(dist, rng)))
            .collect();
        if seen.insert(format!("{point:?}")) {
            points.push(point);
        }
    }
    if points.len() == search.trials {
        Ok(points)
    } else {
        Err(points.len())
    }
}

fn sample(dist: &Dist, rng: &mut ChaCha8Rng) -> ParamValue {
    match dist {
        Dist::Uniform(lo, hi) => {
            ParamValue::Float(round4(lo + unit(rng) * (hi - lo)).clamp(*lo, *hi))
        }
        Dist::LogUniform(lo, hi) => {
            let (a, b) = (lo.ln(), hi.ln());
            ParamValue::Float(round4((a + unit(rng) * (b - a)).exp()).clamp(*lo, *hi))
        }
        Dist::Int(lo, hi) => {
            // hi > lo (validated); a span of 2^64 wraps to 0, meaning "any u64".
            let span = (i128::from(*hi) - i128::from(*lo) + 1) as u64;
            ParamValue::Int((i128::from(*lo) + i128::from(below(rng, span))) as i64)
        }
        Dist::Choice(options) => options[below(rng, options.len() as u64) as usize].clone(),
    }
}

/// A uniform float in [0, 1) from the top 53 bits (our own formula, so no library update can
/// change the draws).
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform integer in 0..n by rejection (no modulo bias); n = 0 means the whole u64 range.
fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    if n == 0 {
        return rng.next_u64();
    }
    let limit = u64::MAX - u64::MAX % n;
    loop {
        let x = rng.next_u64();
        if x < limit {
            return x % n;
        }
    }
}

/// Rounds to 4 significant digits (Rust's float formatting is exact, so this is portable).
fn round4(x: f64) -> f64 {
    format!("{x:.3e}").parse().unwrap_or(x)
}

/// Labels every trial by the parameters that tell its configuration apart from the other
/// configurations of its variant.
fn label_configurations(trials: &mut [Trial]) {
    let mut variants: Vec<&str> = Vec::new();
    for t in trials.iter() {
        if !variants.contains(&t.variant.as_str()) {
            variants.push(&t.variant);
        }
    }
    let variants: Vec<String> = variants.into_iter().map(str::to_string).collect();
    for variant in variants {
        let members: Vec<usize> = (0..trials.len())
            .filter(|&i| trials[i].variant == variant)
            .collect();
        let labels = {
            let configs: Vec<&BTreeMap<String, ParamValue>> =
                members.iter().map(|&i| &trials[i].params.0).collect();
            crate::label::configuration_labels(&variant, &configs)
        };
        for (i, label) in members.into_iter().zip(labels) {
            trials[i].label = label;
        }
    }
}

/// `label` alone, or `label (k=v, k=v)` with the grid and search values at full precision: how
/// error messages name a configuration before every configuration is known.
fn describe_point(label: &str, varied: &BTreeMap<String, ParamValue>) -> String {
    if varied.is_empty() {
        return label.to_string();
    }
    let values: Vec<String> = varied
        .iter()
        .map(|(k, v)| format!("{k}={}", render_value(v)))
        .collect();
    format!("{label} ({})", values.join(", "))
}

/// A value as labels show it: small and large floats in exponent form (`2e-4`), strings bare.
pub fn render_value(value: &ParamValue) -> String {
    match value {
        ParamValue::Float(x) if *x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e5) => format!("{x:e}"),
        ParamValue::Float(x) => format!("{x}"),
        ParamValue::Int(i) => i.to_string(),
        ParamValue::Bool(b) => b.to_string(),
        ParamValue::Str(s) => s.clone(),
    }
}

/// The parameters a trial key hashes: all but those still at a keyless default (a fix that is
/// off), so that adding such a parameter to a plugin keeps recorded trials' keys.
fn keyed_params(params: &Params, specs: &[ganbench_plugin_api::ParamSpec]) -> Params {
    Params(
        params
            .0
            .iter()
            .filter(|(name, value)| {
                specs
                    .iter()
                    .find(|s| &s.name == *name)
                    .is_none_or(|s| s.in_trial_key(value))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_render_compactly() {
        assert_eq!(render_value(&ParamValue::Float(2e-4)), "2e-4");
        assert_eq!(render_value(&ParamValue::Float(3.162e-4)), "3.162e-4");
        assert_eq!(render_value(&ParamValue::Float(0.5)), "0.5");
        assert_eq!(render_value(&ParamValue::Float(0.0)), "0");
        assert_eq!(render_value(&ParamValue::Float(1e6)), "1e6");
        assert_eq!(render_value(&ParamValue::Int(5)), "5");
        assert_eq!(render_value(&ParamValue::Str("ns".into())), "ns");
    }

    #[test]
    fn grid_points_vary_the_last_axis_fastest() {
        let axes = vec![
            (
                "a".to_string(),
                vec![ParamValue::Int(1), ParamValue::Int(2)],
            ),
            (
                "b".to_string(),
                vec![ParamValue::Int(3), ParamValue::Int(4), ParamValue::Int(5)],
            ),
        ];
        let points = grid_points(&axes);
        assert_eq!(points.len(), 6);
        assert_eq!(points[1]["a"], ParamValue::Int(1));
        assert_eq!(points[1]["b"], ParamValue::Int(4));
        assert_eq!(points[3]["a"], ParamValue::Int(2));
        assert_eq!(grid_points(&[]), vec![BTreeMap::new()]);
    }

    #[test]
    fn draws_stay_in_range_and_rounding_is_exact() {
        let mut rng = ChaCha8Rng::from_seed([7; 32]);
        for _ in 0..1000 {
            let ParamValue::Float(x) = sample(&Dist::LogUniform(1e-5, 1e-2), &mut rng) else {
                panic!()
            };
            assert!((1e-5..=1e-2).contains(&x), "{x}");
            let ParamValue::Int(i) = sample(&Dist::Int(-2, 3), &mut rng) else {
                panic!()
            };
            assert!((-2..=3).contains(&i));
        }
        assert_eq!(round4(0.000316227766), 3.162e-4);
        assert_eq!(below(&mut rng, 1), 0);
        // The full i64 range does not overflow.
        let _ = sample(&Dist::Int(i64::MIN, i64::MAX), &mut rng);
    }
}
