//! Size limits: what a sweep file may ask for, checked before anything is allocated by its size.
//!
//! A sweep file is small and its trials are few (hundreds), but a typo or a generated file can
//! ask for 10⁹ trials, a billion-step run or a label of 50 MB. Each limit below is checked before
//! the thing it bounds is built: the file's size before it is read, the number of values before
//! it is parsed, the number of trials (overflow-checked, from the variants, grid axes, search
//! draws and seeds) before any trial is expanded. docs/sweeps.md lists them for users.

use std::collections::HashSet;

use ganbench_plugin_api::ParamValue;

use crate::error::{ErrorKind, SpecError};
use crate::locate::{Seg, Target};
use crate::schema::{DataSpec, Dist, Search, Sweep};
use crate::validate::{Ctx, Plan};

/// Trials a sweep may expand to unless the caller allows more (`ganbench run --max-trials`).
/// 100,000 trials of the quickstart's toy GAN are days of CPU time; more is almost surely a
/// mistake (a seed count with three zeros too many, a grid axis of generated values).
pub const DEFAULT_MAX_TRIALS: u64 = 100_000;

/// Largest sweep file read, in bytes (64 MiB); real sweeps are a few kilobytes.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Most values a sweep file may hold (list entries, map entries and fields, counted before
/// parsing), so that parsing stays within a few hundred megabytes whatever the file says.
pub const MAX_VALUES: usize = 250_000;

/// Largest `steps` (and so `eval_every` and `checkpoint_every`): a billion training steps.
pub const MAX_STEPS: u64 = 1_000_000_000;

/// Largest `eval_samples`: generated samples held in memory at each evaluation (50,000 is the
/// usual count for FID).
pub const MAX_EVAL_SAMPLES: usize = 100_000;

/// Longest `timeout`: 30 days, in seconds.
pub const MAX_TIMEOUT_SECS: u64 = 30 * 86_400;

/// Longest variant label, in characters: labels head table rows and figure legends.
pub const MAX_LABEL_CHARS: usize = 200;

/// Longest parameter name (a key of `base`, `params`, `grid` or a search `space`), in characters.
pub const MAX_PARAM_NAME_CHARS: usize = 100;

/// Longest string parameter value, in characters.
pub const MAX_STRING_VALUE_CHARS: usize = 1_000;

/// Longest plugin name or library path, and image dataset path, in bytes (Linux's PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4_096;

/// `1234567` → `1,234,567`: counts in messages.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What a string is, for the messages of [`check_string`].
struct StringRule {
    what: String,
    max_chars: usize,
    /// Count bytes instead of characters (paths).
    bytes: bool,
}

/// Refuses a string that is too long or holds a control character (NUL, ESC, a newline…):
/// labels, names and values end up in terminals, HTML pages and SVG figures, where control
/// characters are escape sequences or make the document invalid. The message never repeats the
/// string itself (it may be megabytes long, or move the cursor).
fn check_string(
    ctx: &Ctx<'_>,
    text: &str,
    rule: &StringRule,
    path: &[Seg<'_>],
    target: Target,
) -> Result<(), SpecError> {
    let length = if rule.bytes {
        text.len()
    } else {
        text.chars().count()
    };
    if length > rule.max_chars {
        let unit = if rule.bytes { "bytes" } else { "characters" };
        return Err(ctx.err(
            ErrorKind::BadString,
            path,
            target,
            format!(
                "{} is {} {unit} long; at most {} are allowed",
                rule.what,
                thousands(length as u64),
                thousands(rule.max_chars as u64)
            ),
        ));
    }
    if let Some((i, c)) = text.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(ctx
            .err(
                ErrorKind::BadString,
                path,
                target,
                format!(
                    "{} contains a control character (U+{:04X}) at character {}",
                    rule.what,
                    c as u32,
                    i + 1
                ),
            )
            .with_hint("use printable characters only: labels and names appear in terminals, HTML pages and figures"));
    }
    Ok(())
}

/// Checks every user-given string of the sweep: labels, plugin names and paths, parameter names,
/// string values and image dataset paths (see [`check_string`]).
pub(crate) fn check_strings(sweep: &Sweep, ctx: &Ctx<'_>) -> Result<(), SpecError> {
    let name_rule = StringRule {
        what: "a parameter name".into(),
        max_chars: MAX_PARAM_NAME_CHARS,
        bytes: false,
    };
    let value_rule = StringRule {
        what: "a string value".into(),
        max_chars: MAX_STRING_VALUE_CHARS,
        bytes: false,
    };
    let check_value = |value: &ParamValue, path: &[Seg<'_>]| -> Result<(), SpecError> {
        match value {
            ParamValue::Str(s) => check_string(ctx, s, &value_rule, path, Target::Value),
            _ => Ok(()),
        }
    };
    let check_params = |prefix: &[Seg<'_>],
                        section: &str,
                        params: &std::collections::BTreeMap<String, ParamValue>|
     -> Result<(), SpecError> {
        for (name, value) in params {
            let mut path = prefix.to_vec();
            path.extend([Seg::Field(section), Seg::Key(name)]);
            check_string(ctx, name, &name_rule, &path, Target::Key)?;
            check_value(value, &path)?;
        }
        Ok(())
    };
    let check_grid = |prefix: &[Seg<'_>],
                      grid: &std::collections::BTreeMap<String, Vec<ParamValue>>|
     -> Result<(), SpecError> {
        for (name, values) in grid {
            let mut path = prefix.to_vec();
            path.extend([Seg::Field("grid"), Seg::Key(name)]);
            check_string(ctx, name, &name_rule, &path, Target::Key)?;
            for (j, value) in values.iter().enumerate() {
                let mut at = path.clone();
                at.push(Seg::Index(j));
                check_value(value, &at)?;
            }
        }
        Ok(())
    };
    let check_search = |prefix: &[Seg<'_>], search: &Option<Search>| -> Result<(), SpecError> {
        let Some(search) = search else { return Ok(()) };
        for (name, dist) in &search.space {
            let mut path = prefix.to_vec();
            path.extend([Seg::Field("search"), Seg::Field("space"), Seg::Key(name)]);
            check_string(ctx, name, &name_rule, &path, Target::Key)?;
            if let Dist::Choice(options) = dist {
                for (j, option) in options.iter().enumerate() {
                    let mut at = path.clone();
                    at.extend([Seg::Index(0), Seg::Index(j)]);
                    check_value(option, &at)?;
                }
            }
        }
        Ok(())
    };

    check_params(&[], "base", &sweep.base)?;
    check_grid(&[], &sweep.grid)?;
    check_search(&[], &sweep.search)?;
    for (i, v) in sweep.variants.iter().enumerate() {
        let prefix = [Seg::Field("variants"), Seg::Index(i)];
        let field = |name| [Seg::Field("variants"), Seg::Index(i), Seg::Field(name)];
        let plugin = StringRule {
            what: format!("the plugin of variant {}", i + 1),
            max_chars: MAX_PATH_BYTES,
            bytes: true,
        };
        check_string(ctx, &v.plugin, &plugin, &field("plugin"), Target::Value)?;
        if let Some(label) = &v.label {
            let rule = StringRule {
                what: format!("the label of variant {}", i + 1),
                max_chars: MAX_LABEL_CHARS,
                bytes: false,
            };
            check_string(ctx, label, &rule, &field("label"), Target::Value)?;
        }
        check_params(&prefix, "params", &v.params)?;
        check_grid(&prefix, &v.grid)?;
        check_search(&prefix, &v.search)?;
    }
    if let DataSpec::Images { written, .. } = &sweep.data {
        for (name, path) in written.paths() {
            let rule = StringRule {
                what: format!("the `{name}` path of `data`"),
                max_chars: MAX_PATH_BYTES,
                bytes: true,
            };
            check_string(
                ctx,
                &path.to_string_lossy(),
                &rule,
                &[Seg::Field("data")],
                Target::Value,
            )?;
        }
    }
    Ok(())
}

/// Refuses more seeds or variants than `max_trials` before the plugins are consulted: each
/// variant trains every seed at least once, so their product is a lower bound of the trials.
pub(crate) fn check_lower_bound(
    sweep: &Sweep,
    ctx: &Ctx<'_>,
    max_trials: u64,
) -> Result<(), SpecError> {
    let seeds = sweep.seeds.len();
    let variants = sweep.variants.len() as u64;
    match seeds.checked_mul(variants) {
        Some(n) if n <= max_trials => Ok(()),
        n => {
            let (field, what) = if seeds > max_trials || variants <= 1 {
                ("seeds", format!("{} seed(s)", thousands(seeds)))
            } else {
                ("variants", format!("{} variants", thousands(variants)))
            };
            Err(too_many(
                ctx,
                &[Seg::Field(field)],
                n,
                max_trials,
                format!(
                    "{} variant(s) × {} seed(s); {what} alone is too many",
                    thousands(variants),
                    thousands(seeds)
                ),
            ))
        }
    }
}

/// Grid points × search draws × seeds of one plan, overflow-checked.
fn plan_trials(plan: &Plan<'_>, seeds: u64) -> (Option<u64>, Option<u64>) {
    let points = plan
        .grid
        .iter()
        .try_fold(1u64, |n, (_, values)| n.checked_mul(values.len() as u64));
    let draws = plan.search.as_ref().map_or(1, |s| s.trials as u64);
    let trials = points
        .and_then(|p| p.checked_mul(draws))
        .and_then(|n| n.checked_mul(seeds));
    (points, trials)
}

/// Counts the trials of `plans` (overflow-checked) and refuses more than `max_trials`, located at
/// the biggest factor of the variant with the most trials. Returns the count.
pub(crate) fn check_trial_count(
    sweep: &Sweep,
    ctx: &Ctx<'_>,
    plans: &[Plan<'_>],
    max_trials: u64,
) -> Result<u64, SpecError> {
    let seeds = sweep.seeds.len();
    let mut total: Option<u64> = Some(0);
    // (trials, index) of the largest variant; None trials: overflow.
    let mut largest: Option<(Option<u64>, usize)> = None;
    for (i, plan) in plans.iter().enumerate() {
        let (_, trials) = plan_trials(plan, seeds);
        total = total.zip(trials).and_then(|(t, n)| t.checked_add(n));
        let bigger = match largest {
            None => true,
            Some((None, _)) => false,
            Some((Some(best), _)) => trials.is_none_or(|n| n > best),
        };
        if bigger {
            largest = Some((trials, i));
        }
    }
    if let Some(n) = total.filter(|n| *n <= max_trials) {
        return Ok(n);
    }
    let (_, i) = largest.expect("a sweep over the limit has a variant");
    let plan = &plans[i];
    let (points, _) = plan_trials(plan, seeds);
    let draws = plan.search.as_ref().map_or(1, |s| s.trials as u64);
    let points_text = points.map_or("more than 18,446,744,073,709,551,615".into(), thousands);
    let breakdown = format!(
        "variant `{}`: {points_text} grid point(s) × {} search draw(s) × {} seed(s)",
        plan.label,
        thousands(draws),
        thousands(seeds)
    );
    // Point at the factor that is too big on its own, else at the variant.
    let path: Vec<Seg<'_>> = if seeds > max_trials {
        vec![Seg::Field("seeds")]
    } else if let Some(search) = plan
        .search
        .as_ref()
        .filter(|s| s.trials as u64 > max_trials)
    {
        search.trials_path.clone()
    } else if points.is_none_or(|p| p > max_trials) {
        let longest = plan
            .grid
            .iter()
            .max_by_key(|(_, values)| values.len())
            .map(|(name, _)| name.as_str());
        let own = longest.is_some_and(|name| plan.variant.grid.contains_key(name));
        match longest {
            Some(name) if own => vec![
                Seg::Field("variants"),
                Seg::Index(plan.index),
                Seg::Field("grid"),
                Seg::Key(name),
            ],
            Some(name) => vec![Seg::Field("grid"), Seg::Key(name)],
            None => vec![Seg::Field("variants"), Seg::Index(plan.index)],
        }
    } else {
        vec![Seg::Field("variants"), Seg::Index(plan.index)]
    };
    Err(too_many(ctx, &path, total, max_trials, breakdown))
}

fn too_many(
    ctx: &Ctx<'_>,
    path: &[Seg<'_>],
    count: Option<u64>,
    max_trials: u64,
    breakdown: String,
) -> SpecError {
    let count = count.map_or("more than 18,446,744,073,709,551,615".into(), thousands);
    ctx.err(
        ErrorKind::TooManyTrials,
        path,
        Target::Value,
        format!(
            "the sweep expands to {count} trials, more than the limit of {} ({breakdown})",
            thousands(max_trials)
        ),
    )
    .with_hint(
        "use fewer seeds, grid values or search trials; if you mean it, raise the limit with \
         `ganbench run --max-trials N`",
    )
}

/// Refuses a list of seeds that repeats one. A set, not a scan per seed: a list may be long.
pub(crate) fn check_duplicate_seeds(list: &[u64], ctx: &Ctx<'_>) -> Result<(), SpecError> {
    let mut seen = HashSet::with_capacity(list.len());
    for (j, seed) in list.iter().enumerate() {
        if !seen.insert(seed) {
            return Err(ctx.err(
                ErrorKind::DuplicateSeed,
                &[Seg::Field("seeds"), Seg::Index(j)],
                Target::Value,
                format!("seed {seed} is listed twice"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_000_000_000), "1,000,000,000");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn values_are_counted_outside_strings_and_comments() {
        use crate::locate::beyond_value_limit;
        // `(`, the comma between the fields, `[` and the two commas of the list: 5 items, an
        // upper bound of the 2 fields and 3 entries.
        let text = r#"S(a: "x,[{(", b: [1, 2, 3]) // , , ,
/* [,,] */"#;
        assert_eq!(beyond_value_limit(text, 5), None);
        // The 5th item (the comma after `2`) is where a limit of 4 is passed.
        assert_eq!(
            beyond_value_limit(text, 4),
            Some(text.find("2,").unwrap() + 1)
        );
        assert_eq!(beyond_value_limit(r##"r#"a,b"#, 'x', b"q,""##, 2), None);
    }

    #[test]
    fn timeouts_parse_with_units_and_stay_in_range() {
        use crate::schema::Timeout;
        for (text, seconds) in [
            ("90", 90),
            ("90s", 90),
            ("30m", 1800),
            ("1h30m", 5400),
            ("2d", 172_800),
        ] {
            assert_eq!(Timeout::parse(text).unwrap().seconds, seconds, "{text}");
        }
        assert_eq!(Timeout::parse("1h30m").unwrap().to_string(), "1h30m");
        for bad in ["", "soon", "1x", "0", "31d", "99999999999999999999d", "m"] {
            assert!(Timeout::parse(bad).is_err(), "{bad}");
        }
    }
}
