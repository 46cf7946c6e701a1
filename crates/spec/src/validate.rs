//! Semantic checks against the plugins' declared parameters, and each variant's effective plan
//! (which parameters are fixed, which are grid axes, which are searched).
//!
//! Precedence, lowest first: `base` < sweep `grid` < sweep `search` < variant `params` < variant
//! `grid` < variant `search`. A parameter takes its value from the highest level that names it;
//! a variant with a `search` of its own ignores the sweep-level search entirely. Naming one
//! parameter in both `grid` and `search` of the same level is an error.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::rc::Rc;

use ganbench_data::DataError;

use ganbench_plugin_api::params::describe_accepted;
use ganbench_plugin_api::{ParamKind, ParamSpec, ParamValue};

use crate::catalog::PluginCatalog;
use crate::error::{did_you_mean, shown_path, ErrorKind, Position, SpecError};
use crate::limits::{self, DEFAULT_MAX_TRIALS, MAX_EVAL_SAMPLES, MAX_STEPS};
use crate::locate::{locate, Seg, Target};
use crate::primary::{known_metric, MetricData, Primary, KNOWN_METRICS};
use crate::schema::{DataSpec, Dist, Search, Seeds, Sweep, Variant};

/// Attempts at drawing distinct search points, per requested point, before giving up.
const DRAW_ATTEMPTS_PER_TRIAL: usize = 100;

/// Builds located errors for one sweep.
pub(crate) struct Ctx<'a> {
    pub sweep: &'a Sweep,
}

impl Ctx<'_> {
    pub fn err(
        &self,
        kind: ErrorKind,
        path: &[Seg<'_>],
        target: Target,
        message: impl Into<String>,
    ) -> SpecError {
        let text = &self.sweep.source.text;
        // A sweep built in code has no text to point into.
        let position =
            (!text.is_empty()).then(|| Position::of_offset(text, locate(text, path, target)));
        SpecError::new(
            kind,
            &shown_path(&self.sweep.source.path),
            position,
            message,
        )
    }
}

/// One variant, resolved: what the expansion multiplies out.
pub(crate) struct Plan<'a> {
    pub index: usize,
    pub variant: &'a Variant,
    pub label: String,
    /// Shared between the variants of one plugin: a sweep may have many variants.
    pub specs: Rc<[ParamSpec]>,
    pub fixed: BTreeMap<String, ParamValue>,
    /// Axes sorted by name; values in file order.
    pub grid: Vec<(String, Vec<ParamValue>)>,
    pub search: Option<PlannedSearch>,
}

pub(crate) struct PlannedSearch {
    pub trials: usize,
    pub seed: u64,
    /// Axes sorted by name.
    pub axes: Vec<(String, Dist)>,
    /// Where the search's `trials` is written, for errors.
    pub trials_path: Vec<Seg<'static>>,
    pub max_attempts: usize,
}

/// Where a parameter section sits and which plugins its names are checked against.
struct Scope<'a> {
    /// Path of the section's owner: empty for the sweep, `variants[i]` for a variant.
    prefix: Vec<Seg<'a>>,
    /// `variant `WGAN-GP`` or `the sweep`.
    owner: String,
    /// Plugins (name, declarations) the names must be declared by: one for a variant; for the
    /// sweep, every plugin of the sweep's variants, and a name must be declared by at least one.
    plugins: Vec<(&'a str, &'a [ParamSpec])>,
    sweep_level: bool,
}

impl<'a> Scope<'a> {
    fn path(&self, rest: &[Seg<'a>]) -> Vec<Seg<'a>> {
        self.prefix
            .iter()
            .cloned()
            .chain(rest.iter().cloned())
            .collect()
    }

    /// The declarations of `name` (one per declaring plugin), or the error for an undeclared name.
    fn lookup(
        &self,
        ctx: &Ctx<'_>,
        section: &'a str,
        name: &'a str,
    ) -> Result<Vec<(&'a str, &'a ParamSpec)>, SpecError> {
        let found: Vec<(&str, &ParamSpec)> = self
            .plugins
            .iter()
            .filter_map(|(plugin, specs)| {
                specs.iter().find(|s| s.name == name).map(|s| (*plugin, s))
            })
            .collect();
        if !found.is_empty() {
            return Ok(found);
        }
        let path = self.path(&section_path(section, name));
        let all_names = || {
            self.plugins
                .iter()
                .flat_map(|(_, specs)| specs.iter().map(|s| s.name.as_str()))
        };
        if self.sweep_level {
            let plugins: Vec<&str> = self.plugins.iter().map(|(p, _)| *p).collect();
            Err(ctx
                .err(
                    ErrorKind::UnusedParam,
                    &path,
                    Target::Key,
                    format!(
                        "`{section}` sets `{name}`, but no variant's plugin declares it (plugins in this sweep: {})",
                        plugins.join(", ")
                    ),
                )
                .with_opt_hint(did_you_mean(name, all_names())))
        } else {
            let (plugin, specs) = self.plugins[0];
            Err(ctx
                .err(
                    ErrorKind::UnknownParam,
                    &path,
                    Target::Key,
                    format!(
                        "{}: plugin `{plugin}` has no parameter `{name}`; it accepts: {}",
                        self.owner,
                        describe_accepted(specs)
                    ),
                )
                .with_opt_hint(did_you_mean(name, all_names())))
        }
    }

    /// Checks `value` against every declaration of its parameter; returns the normalized value of
    /// the first (an integer given for a float parameter becomes a float).
    fn check_value(
        &self,
        ctx: &Ctx<'_>,
        section: &str,
        decls: &[(&str, &ParamSpec)],
        value: &ParamValue,
        path: &[Seg<'_>],
    ) -> Result<ParamValue, SpecError> {
        let mut normalized = None;
        for (plugin, spec) in decls {
            match spec.check(value) {
                Ok(v) => {
                    normalized.get_or_insert(v);
                }
                Err(message) => {
                    let mut hint =
                        format!("`{}`: {} (default {})", spec.name, spec.help, spec.default);
                    if matches!(spec.kind, ParamKind::Int { .. })
                        && matches!(value, ParamValue::Float(_))
                    {
                        hint.push_str("; integers are written without a decimal point");
                    }
                    return Err(ctx
                        .err(
                            ErrorKind::InvalidValue,
                            &self.path(path),
                            Target::Value,
                            format!("{} (plugin `{plugin}`): {message}", self.owner_of(section)),
                        )
                        .with_hint(hint));
                }
            }
        }
        Ok(normalized.unwrap_or_else(|| value.clone()))
    }

    /// `base` / `grid` / `search` for the sweep's sections, the variant for a variant's.
    fn owner_of(&self, section: &str) -> String {
        if self.sweep_level {
            format!("`{section}`")
        } else {
            self.owner.clone()
        }
    }

    fn check_params(
        &self,
        ctx: &Ctx<'_>,
        section: &'a str,
        params: &'a BTreeMap<String, ParamValue>,
    ) -> Result<(), SpecError> {
        for (name, value) in params {
            let decls = self.lookup(ctx, section, name)?;
            self.check_value(
                ctx,
                section,
                &decls,
                value,
                &[Seg::Field(section), Seg::Key(name)],
            )?;
        }
        Ok(())
    }

    fn check_grid(
        &self,
        ctx: &Ctx<'_>,
        grid: &'a BTreeMap<String, Vec<ParamValue>>,
    ) -> Result<(), SpecError> {
        for (name, values) in grid {
            let decls = self.lookup(ctx, "grid", name)?;
            if values.is_empty() {
                return Err(ctx
                    .err(
                        ErrorKind::EmptyGrid,
                        &self.path(&[Seg::Field("grid"), Seg::Key(name)]),
                        Target::Key,
                        format!("{}: grid axis `{name}` has no values", self.owner),
                    )
                    .with_hint(format!("list at least one value, e.g. `\"{name}\": [1e-4, 2e-4]`, or remove the axis")));
            }
            let mut seen = HashSet::with_capacity(values.len());
            for (j, value) in values.iter().enumerate() {
                let path = [Seg::Field("grid"), Seg::Key(name), Seg::Index(j)];
                let v = self.check_value(ctx, "grid", &decls, value, &path)?;
                if !seen.insert(ValueKey::of(&v)) {
                    return Err(ctx.err(
                        ErrorKind::DuplicateValue,
                        &self.path(&path),
                        Target::Value,
                        format!("{}: grid axis `{name}` lists {value} twice", self.owner),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_search(
        &self,
        ctx: &Ctx<'_>,
        search: &'a Search,
        grid: &BTreeMap<String, Vec<ParamValue>>,
    ) -> Result<(), SpecError> {
        if search.trials == 0 {
            return Err(ctx.err(
                ErrorKind::InvalidValue,
                &self.path(&[Seg::Field("search"), Seg::Field("trials")]),
                Target::Value,
                format!("{}: a search needs `trials` ≥ 1", self.owner),
            ));
        }
        if search.space.is_empty() {
            return Err(ctx
                .err(
                    ErrorKind::BadDistribution,
                    &self.path(&[Seg::Field("search"), Seg::Field("space")]),
                    Target::Value,
                    format!("{}: the search space is empty", self.owner),
                )
                .with_hint("e.g. `space: {\"lr\": LogUniform(1e-5, 1e-2)}`"));
        }
        for (name, dist) in &search.space {
            let at = |rest: &[Seg<'a>]| {
                let mut p = vec![Seg::Field("search"), Seg::Field("space"), Seg::Key(name)];
                p.extend_from_slice(rest);
                p
            };
            check_dist(dist).map_err(|(message, hint)| {
                ctx.err(
                    ErrorKind::BadDistribution,
                    &self.path(&at(&[])),
                    Target::Value,
                    format!("{}: `{name}`: {message}", self.owner),
                )
                .with_hint(hint)
            })?;
            let decls = self.lookup(ctx, "search", name)?;
            if grid.contains_key(name) {
                return Err(ctx
                    .err(
                        ErrorKind::Conflict,
                        &self.path(&at(&[])),
                        Target::Key,
                        format!("{}: `{name}` is both a grid axis and a search axis", self.owner),
                    )
                    .with_hint("keep one: a grid tries every listed value, a search draws `trials` random ones"));
            }
            match dist {
                Dist::Uniform(lo, hi) | Dist::LogUniform(lo, hi) => {
                    // A float distribution over an integer/choice parameter: say so, rather than
                    // "must be an integer, got 1" for a bound written `1.0`.
                    if let Some((plugin, spec)) = decls
                        .iter()
                        .find(|(_, s)| !matches!(s.kind, ParamKind::Float { .. }))
                    {
                        let hint = match spec.kind {
                            ParamKind::Int { .. } => "for an integer parameter use `Int(lo, hi)`",
                            _ => "for a choice or boolean parameter use `Choice([…])`",
                        };
                        return Err(ctx
                            .err(
                                ErrorKind::InvalidValue,
                                &self.path(&at(&[])),
                                Target::Value,
                                format!(
                                    "{} (plugin `{plugin}`): `{name}` must be {}, but {dist} draws floats",
                                    self.owner_of("search"),
                                    spec.kind
                                ),
                            )
                            .with_hint(hint));
                    }
                    for (j, bound) in [lo, hi].into_iter().enumerate() {
                        self.check_value(
                            ctx,
                            "search",
                            &decls,
                            &ParamValue::Float(*bound),
                            &at(&[Seg::Index(j)]),
                        )?;
                    }
                }
                Dist::Int(lo, hi) => {
                    for (j, bound) in [lo, hi].into_iter().enumerate() {
                        self.check_value(
                            ctx,
                            "search",
                            &decls,
                            &ParamValue::Int(*bound),
                            &at(&[Seg::Index(j)]),
                        )?;
                    }
                }
                Dist::Choice(options) => {
                    let mut seen = HashSet::with_capacity(options.len());
                    for (j, option) in options.iter().enumerate() {
                        let path = at(&[Seg::Index(0), Seg::Index(j)]);
                        let v = self.check_value(ctx, "search", &decls, option, &path)?;
                        if !seen.insert(ValueKey::of(&v)) {
                            return Err(ctx.err(
                                ErrorKind::DuplicateValue,
                                &self.path(&path),
                                Target::Value,
                                format!("{}: `{name}`: Choice lists {option} twice", self.owner),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// A checked value as a set key: equal exactly when the values are `==` (floats by their bits,
/// with −0 as +0; NaN never passes a check).
#[derive(PartialEq, Eq, Hash)]
enum ValueKey {
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(String),
}

impl ValueKey {
    fn of(value: &ParamValue) -> Self {
        match value {
            ParamValue::Bool(b) => ValueKey::Bool(*b),
            ParamValue::Int(i) => ValueKey::Int(*i),
            ParamValue::Float(x) => ValueKey::Float(if *x == 0.0 { 0 } else { x.to_bits() }),
            ParamValue::Str(s) => ValueKey::Str(s.clone()),
        }
    }
}

fn section_path<'a>(section: &'a str, name: &'a str) -> Vec<Seg<'a>> {
    match section {
        "search" => vec![Seg::Field("search"), Seg::Field("space"), Seg::Key(name)],
        _ => vec![Seg::Field(section), Seg::Key(name)],
    }
}

/// Plugin-independent checks of a distribution: (message, hint) when it cannot be drawn from.
fn check_dist(dist: &Dist) -> Result<(), (String, String)> {
    let fail = |m: String, h: &str| Err((m, h.to_string()));
    match dist {
        Dist::Uniform(lo, hi) | Dist::LogUniform(lo, hi) if !lo.is_finite() || !hi.is_finite() => {
            fail(format!("{dist} needs finite bounds"), "write two numbers, lower bound first")
        }
        Dist::Uniform(lo, hi) | Dist::LogUniform(lo, hi) if lo >= hi => fail(
            format!("{dist}: the lower bound must be below the upper bound"),
            "write the bounds as (lo, hi) with lo < hi; for a fixed value, set it in `params` instead",
        ),
        Dist::LogUniform(lo, _) if *lo <= 0.0 => fail(
            format!("{dist}: a log-uniform distribution needs 0 < lo"),
            "use Uniform(lo, hi) for a range that includes 0 or negative values",
        ),
        Dist::Int(lo, hi) if lo >= hi => fail(
            format!("{dist}: the lower bound must be below the upper bound"),
            "write the bounds as (lo, hi) with lo < hi; both are included",
        ),
        Dist::Choice(options) if options.is_empty() => {
            fail(format!("{dist} has no options"), "list at least one value: Choice([\"ns\", \"minimax\"])")
        }
        _ => Ok(()),
    }
}

/// Number of distinct values of a discrete distribution; `None` for a continuous one.
fn discrete_size(dist: &Dist) -> Option<u128> {
    match dist {
        Dist::Int(lo, hi) => Some((i128::from(*hi) - i128::from(*lo) + 1) as u128),
        Dist::Choice(options) => Some(options.len() as u128),
        Dist::Uniform(..) | Dist::LogUniform(..) => None,
    }
}

impl Sweep {
    /// Every check that needs no training, against the plugins' declared parameters; the first
    /// problem found is returned, located at `path:line:col`. [`Sweep::expand`] runs it too, with
    /// the default limit of [`DEFAULT_MAX_TRIALS`] trials.
    pub fn validate(&self, catalog: &dyn PluginCatalog) -> Result<(), SpecError> {
        self.validate_at_most(catalog, DEFAULT_MAX_TRIALS)
    }

    /// [`Sweep::validate`] with a limit of `max_trials` trials.
    pub fn validate_at_most(
        &self,
        catalog: &dyn PluginCatalog,
        max_trials: u64,
    ) -> Result<(), SpecError> {
        self.expand_at_most(catalog, max_trials).map(|_| ())
    }

    /// Checks everything and resolves each variant's plan; the trials are counted (and refused
    /// above `max_trials`) before the caller expands any.
    pub(crate) fn plans(
        &self,
        ctx: &Ctx<'_>,
        catalog: &dyn PluginCatalog,
        max_trials: u64,
    ) -> Result<Vec<Plan<'_>>, SpecError> {
        self.check_header(ctx)?;
        limits::check_strings(self, ctx)?;
        limits::check_lower_bound(self, ctx, max_trials)?;
        if let Seeds::List(list) = &self.seeds {
            limits::check_duplicate_seeds(list, ctx)?;
        }
        self.check_data(ctx)?;
        self.check_primary(ctx)?;

        // Plugins and labels; each plugin's declarations are asked for once.
        let mut declared: HashMap<&str, Rc<[ParamSpec]>> = HashMap::new();
        let mut specs: Vec<Rc<[ParamSpec]>> = Vec::with_capacity(self.variants.len());
        let mut labels: HashSet<&str> = HashSet::with_capacity(self.variants.len());
        for (i, v) in self.variants.iter().enumerate() {
            let at = [Seg::Field("variants"), Seg::Index(i), Seg::Field("plugin")];
            let known = match declared.get(v.plugin.as_str()) {
                Some(s) => Some(s.clone()),
                None => catalog.params(&v.plugin).map(|s| {
                    let s: Rc<[ParamSpec]> = s.into();
                    declared.insert(&v.plugin, s.clone());
                    s
                }),
            };
            let Some(s) = known else {
                let names = catalog.names();
                return Err(ctx
                    .err(
                        ErrorKind::UnknownPlugin,
                        &at,
                        Target::Value,
                        format!("unknown plugin `{}`; known plugins: {}", v.plugin, names.join(", ")),
                    )
                    .with_hint(did_you_mean(&v.plugin, names.iter().map(String::as_str)).unwrap_or_else(|| {
                        "load a dynamic plugin with `--plugin-dir DIR`; `ganbench plugins` lists what is available".into()
                    })));
            };
            specs.push(s);
            let label_at = [Seg::Field("variants"), Seg::Index(i), Seg::Field("label")];
            if v.label().trim().is_empty() {
                return Err(ctx.err(
                    ErrorKind::InvalidValue,
                    &label_at,
                    Target::Value,
                    "a variant label must not be empty",
                ));
            }
            if !labels.insert(v.label()) {
                let what = if v.label.is_some() {
                    "label"
                } else {
                    "plugin (used as the label)"
                };
                return Err(ctx
                    .err(
                        ErrorKind::DuplicateLabel,
                        &label_at,
                        Target::Key,
                        format!("two variants have the same {what} `{}`", v.label()),
                    )
                    .with_hint("give each variant a distinct `label: \"…\"`; reports group trials by label"));
            }
        }

        // Sweep-level sections: a name must be declared by at least one variant's plugin.
        let mut distinct: Vec<(&str, &[ParamSpec])> = Vec::new();
        for (v, s) in self.variants.iter().zip(&specs) {
            if !distinct.iter().any(|(p, _)| *p == v.plugin) {
                distinct.push((v.plugin.as_str(), &s[..]));
            }
        }
        let sweep_scope = Scope {
            prefix: Vec::new(),
            owner: "the sweep".into(),
            plugins: distinct,
            sweep_level: true,
        };
        sweep_scope.check_params(ctx, "base", &self.base)?;
        sweep_scope.check_grid(ctx, &self.grid)?;
        if let Some(search) = &self.search {
            sweep_scope.check_search(ctx, search, &self.grid)?;
        }

        // Variant-level sections.
        for (i, (v, s)) in self.variants.iter().zip(&specs).enumerate() {
            let scope = Scope {
                prefix: vec![Seg::Field("variants"), Seg::Index(i)],
                owner: format!("variant `{}`", v.label()),
                plugins: vec![(v.plugin.as_str(), &s[..])],
                sweep_level: false,
            };
            scope.check_params(ctx, "params", &v.params)?;
            scope.check_grid(ctx, &v.grid)?;
            if let Some(search) = &v.search {
                scope.check_search(ctx, search, &v.grid)?;
            }
        }

        let plans = self
            .variants
            .iter()
            .zip(specs)
            .enumerate()
            .map(|(i, (v, s))| self.plan(ctx, i, v, s))
            .collect::<Result<Vec<_>, _>>()?;
        limits::check_trial_count(self, ctx, &plans, max_trials)?;
        Ok(plans)
    }

    fn check_header(&self, ctx: &Ctx<'_>) -> Result<(), SpecError> {
        let field = |name| [Seg::Field(name)];
        let name_ok = !self.name.is_empty()
            && !self.name.starts_with('.')
            && self.name.len() <= 100
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            return Err(ctx
                .err(ErrorKind::BadName, &field("name"), Target::Value, format!("sweep name {:?} is not usable as a directory name", self.name))
                .with_hint("use letters, digits, `-`, `_` and `.` (not first), at most 100 characters; reports go to reports/<name>/"));
        }
        if self.steps == 0 {
            return Err(ctx.err(
                ErrorKind::ZeroSteps,
                &field("steps"),
                Target::Value,
                "`steps` must be at least 1",
            ));
        }
        if self.steps > MAX_STEPS {
            return Err(ctx.err(
                ErrorKind::TooLarge,
                &field("steps"),
                Target::Value,
                format!(
                    "`steps` is {}; at most {} are allowed",
                    limits::thousands(self.steps),
                    limits::thousands(MAX_STEPS)
                ),
            ));
        }
        if self.eval_every > self.steps {
            return Err(ctx
                .err(
                    ErrorKind::BadInterval,
                    &field("eval_every"),
                    Target::Value,
                    format!(
                        "`eval_every` ({}) is larger than `steps` ({})",
                        self.eval_every, self.steps
                    ),
                )
                .with_hint("evaluate at most every `steps` steps; 0 evaluates only at the end"));
        }
        if let Some(every) = self.checkpoint_every.filter(|every| *every > self.steps) {
            return Err(ctx
                .err(
                    ErrorKind::BadInterval,
                    &field("checkpoint_every"),
                    Target::Value,
                    format!(
                        "`checkpoint_every` ({every}) is larger than `steps` ({})",
                        self.steps
                    ),
                )
                .with_hint("0 turns checkpoints off"));
        }
        if self.eval_samples == 0 {
            return Err(ctx
                .err(
                    ErrorKind::BadInterval,
                    &field("eval_samples"),
                    Target::Value,
                    "`eval_samples` must be at least 1",
                )
                .with_hint("the toy-data protocol uses 2500 (the default)"));
        }
        if self.eval_samples > MAX_EVAL_SAMPLES {
            return Err(ctx
                .err(
                    ErrorKind::TooLarge,
                    &field("eval_samples"),
                    Target::Value,
                    format!(
                        "`eval_samples` is {}; at most {} are allowed",
                        limits::thousands(self.eval_samples as u64),
                        limits::thousands(MAX_EVAL_SAMPLES as u64)
                    ),
                )
                .with_hint(
                    "FID is usually computed on 50,000 samples; the toy-data protocol uses 2500",
                ));
        }
        if self.seeds.is_empty() {
            return Err(ctx
                .err(
                    ErrorKind::NoSeeds,
                    &field("seeds"),
                    Target::Value,
                    "`seeds` is empty: no trial would run",
                )
                .with_hint("e.g. `seeds: 3` (seeds 0, 1, 2) or `seeds: [1, 5, 9]`"));
        }
        if self.variants.is_empty() {
            return Err(ctx
                .err(
                    ErrorKind::NoVariants,
                    &field("variants"),
                    Target::Value,
                    "`variants` is empty: nothing to compare",
                )
                .with_hint("e.g. `variants: [(plugin: \"gan\"), (plugin: \"wgan-gp\")]`"));
        }
        Ok(())
    }

    /// Checks `primary`: a metric with a direction, computed on this sweep's kind of data.
    fn check_primary(&self, ctx: &Ctx<'_>) -> Result<(), SpecError> {
        let Some(primary) = &self.primary else {
            return Ok(());
        };
        let toy = matches!(self.data, DataSpec::Toy(_));
        let fail = |message: String, hint: String| {
            Err(ctx
                .err(
                    ErrorKind::BadPrimary,
                    &[Seg::Field("primary")],
                    Target::Value,
                    message,
                )
                .with_hint(hint))
        };
        let name = primary.metric();
        let known_here = || {
            KNOWN_METRICS
                .iter()
                .filter(|m| m.direction.is_some())
                .filter(|m| match m.data {
                    MetricData::Toy => toy,
                    MetricData::Images => !toy,
                    MetricData::Any => true,
                })
                .map(|m| m.name)
                .collect::<Vec<_>>()
        };
        if name.trim().is_empty() {
            return fail(
                "`primary` names no metric".into(),
                format!(
                    "e.g. `primary: \"{}\"`",
                    crate::primary::default_primary(toy)
                ),
            );
        }
        let known = known_metric(name);
        match (primary, known) {
            (Primary::Name(_), None) => {
                return Err(ctx
                    .err(
                        ErrorKind::BadPrimary,
                        &[Seg::Field("primary")],
                        Target::Value,
                        format!("`primary`: ganbench does not know whether larger `{name}` is better"),
                    )
                    .with_hint(match did_you_mean(name, known_here()) {
                        Some(typo) => typo,
                        None => format!(
                            "for a metric a plugin adds, give its direction: `primary: (metric: \"{name}\", higher_is_better: true)`"
                        ),
                    }))
            }
            (Primary::Name(_), Some(k)) if k.direction.is_none() => {
                return fail(
                    format!("`primary`: `{name}` has no better direction (it trades off against other terms)"),
                    format!("rank by one of: {}", known_here().join(", ")),
                )
            }
            (Primary::Metric { .. }, Some(k)) if k.direction.is_some() && k.direction != primary.direction() => {
                let d = k.direction.map_or("", |d| d.as_str());
                return fail(
                    format!("`primary`: {d} `{name}` is better, but `higher_is_better` says otherwise"),
                    format!("write `primary: \"{name}\"`: ganbench knows its direction"),
                );
            }
            _ => {}
        }
        if let Some(k) = known {
            let wrong = match k.data {
                MetricData::Toy if !toy => Some(("toy 2D data", "image")),
                MetricData::Images if toy => Some(("image data", "toy")),
                _ => None,
            };
            if let Some((computed_on, this)) = wrong {
                return fail(
                    format!(
                        "`primary`: `{name}` is computed on {computed_on} only, and this sweep trains on {this} data ({})",
                        self.data
                    ),
                    format!("on this data rank by one of: {}", known_here().join(", ")),
                );
            }
        }
        Ok(())
    }

    /// Checks the files of an image dataset (headers and sizes, not the pixels), so that a broken
    /// file stops the sweep before any trial starts.
    fn check_data(&self, ctx: &Ctx<'_>) -> Result<(), SpecError> {
        let DataSpec::Images { written, resolved } = &self.data else {
            return Ok(());
        };
        resolved.inspect().map(|_| ()).map_err(|e| {
            let kind = match e {
                DataError::BadImageSpec { .. } => ErrorKind::BadData,
                _ => ErrorKind::DataFile,
            };
            let relative = written.paths().iter().any(|(_, p)| p.is_relative());
            let hint = (relative && matches!(e, DataError::MissingPath { .. })).then(|| {
                let sweep_file = std::path::absolute(&self.source.path).unwrap_or_default();
                let folder = sweep_file.parent().unwrap_or(Path::new("."));
                format!(
                    "relative paths are resolved against the sweep file's folder ({}), not the \
                     current directory",
                    folder.display()
                )
            });
            ctx.err(
                kind,
                &[Seg::Field("data")],
                Target::Value,
                format!("`data`: {e}"),
            )
            .with_opt_hint(hint)
        })
    }

    /// Resolves the precedence rules for variant `index` (see the module docs).
    fn plan<'s>(
        &'s self,
        ctx: &Ctx<'_>,
        index: usize,
        v: &'s Variant,
        specs: Rc<[ParamSpec]>,
    ) -> Result<Plan<'s>, SpecError> {
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        enum Level {
            Base,
            SweepGrid,
            SweepSearch,
            Params,
            VariantGrid,
            VariantSearch,
        }
        let declared: BTreeSet<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        let sweep_search = if v.search.is_some() {
            None
        } else {
            self.search.as_ref()
        };
        let mut level: BTreeMap<&str, Level> = BTreeMap::new();
        let mut mention = |names: Vec<&'s String>, l: Level| {
            for name in names {
                if declared.contains(name.as_str()) {
                    level.insert(name.as_str(), l); // later (higher) levels overwrite
                }
            }
        };
        mention(self.base.keys().collect(), Level::Base);
        mention(self.grid.keys().collect(), Level::SweepGrid);
        mention(
            sweep_search
                .map(|s| s.space.keys().collect())
                .unwrap_or_default(),
            Level::SweepSearch,
        );
        mention(v.params.keys().collect(), Level::Params);
        mention(v.grid.keys().collect(), Level::VariantGrid);
        mention(
            v.search
                .as_ref()
                .map(|s| s.space.keys().collect())
                .unwrap_or_default(),
            Level::VariantSearch,
        );

        let mut fixed = BTreeMap::new();
        let mut grid = Vec::new();
        let mut axes = Vec::new();
        for (name, l) in level {
            match l {
                Level::Base => {
                    fixed.insert(name.to_string(), self.base[name].clone());
                }
                Level::Params => {
                    fixed.insert(name.to_string(), v.params[name].clone());
                }
                Level::SweepGrid => grid.push((name.to_string(), self.grid[name].clone())),
                Level::VariantGrid => grid.push((name.to_string(), v.grid[name].clone())),
                Level::SweepSearch => axes.push((
                    name.to_string(),
                    sweep_search.expect("mentioned").space[name].clone(),
                )),
                Level::VariantSearch => axes.push((
                    name.to_string(),
                    v.search.as_ref().expect("mentioned").space[name].clone(),
                )),
            }
        }

        let search = match (&v.search, sweep_search) {
            _ if axes.is_empty() => None,
            (Some(s), _) => Some((
                s,
                vec![
                    Seg::Field("variants"),
                    Seg::Index(index),
                    Seg::Field("search"),
                    Seg::Field("trials"),
                ],
            )),
            (None, Some(s)) => Some((s, vec![Seg::Field("search"), Seg::Field("trials")])),
            (None, None) => None,
        };
        let search = match search {
            None => None,
            Some((s, trials_path)) => {
                let size = axes
                    .iter()
                    .map(|(_, d)| discrete_size(d))
                    .try_fold(1u128, |acc, n| n.map(|n| acc.saturating_mul(n)));
                if let Some(size) = size.filter(|size| *size < s.trials as u128) {
                    let names: Vec<String> = axes.iter().map(|(n, _)| format!("`{n}`")).collect();
                    return Err(ctx
                        .err(
                            ErrorKind::SearchTooSmall,
                            &trials_path,
                            Target::Value,
                            format!(
                                "variant `{}`: the search asks for {} trials, but its space ({}) has only {size} distinct points",
                                v.label(),
                                s.trials,
                                names.join(", ")
                            ),
                        )
                        .with_hint("lower `trials`, widen a range, or use a grid to try every point"));
                }
                Some(PlannedSearch {
                    trials: s.trials,
                    seed: s.seed,
                    axes,
                    trials_path,
                    max_attempts: s
                        .trials
                        .saturating_mul(DRAW_ATTEMPTS_PER_TRIAL)
                        .saturating_add(1000),
                })
            }
        };
        Ok(Plan {
            index,
            variant: v,
            label: v.label().to_string(),
            specs,
            fixed,
            grid,
            search,
        })
    }
}
