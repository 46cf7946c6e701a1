//! Labels that tell the configurations of a variant apart, e.g. `GAN lr_d=1.1e-4 lr_g=5.4e-4`:
//! one function for the trials of a sweep, `ganbench ls`/`show`/`export` and the report.

use std::collections::{BTreeMap, BTreeSet};

use ganbench_plugin_api::ParamValue;

use crate::expand::render_value;

/// Fewest significant digits a label gives a number.
const MIN_DIGITS: usize = 2;

/// The label of each configuration in `configs` (the parameters of one variant's
/// configurations, in any order, repeats allowed): `variant` followed by `name=value` for every
/// parameter whose value differs between the configurations, sorted by name. Each number gets
/// the fewest significant digits (at least 2) that still tell that parameter's values apart, so
/// `lr_d=1.097e-4` reads `lr_d=1.1e-4` unless another configuration has `1.12e-4`. A variant
/// with one configuration is labelled `variant` alone; equal configurations get equal labels, and
/// different ones different labels. A parameter missing from a configuration shows as `–`.
pub fn configuration_labels(
    variant: &str,
    configs: &[&BTreeMap<String, ParamValue>],
) -> Vec<String> {
    let names: BTreeSet<&String> = configs.iter().flat_map(|c| c.keys()).collect();
    let varying: Vec<(&String, usize)> = names
        .into_iter()
        .filter(|name| {
            configs
                .iter()
                .any(|c| c.get(*name) != configs[0].get(*name))
        })
        .map(|name| {
            let values: Vec<&ParamValue> = configs.iter().filter_map(|c| c.get(name)).collect();
            (name, digits_to_tell_apart(&values))
        })
        .collect();
    configs
        .iter()
        .map(|config| {
            let mut label = variant.to_string();
            for (name, digits) in &varying {
                let value = config
                    .get(*name)
                    .map_or_else(|| "–".to_string(), |v| render_value_digits(v, *digits));
                label.push_str(&format!(" {name}={value}"));
            }
            label
        })
        .collect()
}

/// The fewest significant digits (from [`MIN_DIGITS`]) at which the distinct numbers among
/// `values` stay distinct.
fn digits_to_tell_apart(values: &[&ParamValue]) -> usize {
    let mut distinct: Vec<&ParamValue> = Vec::new();
    for v in values {
        if !distinct.contains(v) {
            distinct.push(v);
        }
    }
    (MIN_DIGITS..=17)
        .find(|&d| {
            let shown: BTreeSet<String> =
                distinct.iter().map(|v| render_value_digits(v, d)).collect();
            shown.len() == distinct.len()
        })
        .unwrap_or(17)
}

/// A value as labels show it, floats with at most `digits` significant digits (trailing zeros
/// dropped): magnitudes below 1e-3 or from 1e5 up in exponent form (`1.1e-4`), others as
/// decimals (`0.78`). Integers, booleans and strings as they are.
pub fn render_value_digits(value: &ParamValue, digits: usize) -> String {
    let ParamValue::Float(x) = value else {
        return render_value(value);
    };
    let digits = digits.max(1);
    if *x == 0.0 || !x.is_finite() {
        return render_value(value);
    }
    if x.abs() < 1e-3 || x.abs() >= 1e5 {
        let text = format!("{:.*e}", digits - 1, x);
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        return format!("{}e{exponent}", trim_zeros(mantissa));
    }
    let magnitude = x.abs().log10().floor() as i64;
    let decimals = (digits as i64 - 1 - magnitude).max(0) as usize;
    trim_zeros(&format!("{x:.decimals$}")).to_string()
}

/// `1.50` → `1.5`, `2.0` → `2`; integers untouched.
fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, ParamValue)]) -> BTreeMap<String, ParamValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn numbers_get_few_digits() {
        let f = ParamValue::Float;
        assert_eq!(render_value_digits(&f(1.097e-4), 2), "1.1e-4");
        assert_eq!(render_value_digits(&f(1.0e-4), 2), "1e-4");
        assert_eq!(render_value_digits(&f(5.432e-4), 3), "5.43e-4");
        assert_eq!(render_value_digits(&f(0.7804), 2), "0.78");
        assert_eq!(render_value_digits(&f(0.009714), 2), "0.0097");
        assert_eq!(render_value_digits(&f(0.5), 2), "0.5");
        assert_eq!(render_value_digits(&f(12.0), 2), "12");
        assert_eq!(render_value_digits(&f(1234.4), 2), "1234");
        assert_eq!(render_value_digits(&f(2.5e6), 2), "2.5e6");
        assert_eq!(render_value_digits(&f(0.0), 2), "0");
        assert_eq!(render_value_digits(&ParamValue::Int(64), 2), "64");
        assert_eq!(render_value_digits(&ParamValue::Str("ns".into()), 2), "ns");
    }

    #[test]
    fn labels_name_what_varies_with_enough_digits_to_differ() {
        let f = ParamValue::Float;
        let a = config(&[
            ("lr_d", f(1.097e-4)),
            ("lr_g", f(5.4e-4)),
            ("hidden", ParamValue::Int(64)),
        ]);
        let b = config(&[
            ("lr_d", f(1.12e-4)),
            ("lr_g", f(2.0e-3)),
            ("hidden", ParamValue::Int(64)),
        ]);
        let labels = configuration_labels("GAN", &[&a, &b, &a]);
        assert_eq!(labels[0], "GAN lr_d=1.1e-4 lr_g=5.4e-4");
        // 1.097e-4 and 1.12e-4 differ only at the third digit.
        assert_eq!(labels[1], "GAN lr_d=1.12e-4 lr_g=0.002");
        assert_eq!(labels[2], labels[0]);
        // One configuration: the variant's label alone.
        assert_eq!(configuration_labels("GAN", &[&a, &a]), ["GAN", "GAN"]);
        // lr_d alone must now tell the two apart: three digits.
        let c = config(&[
            ("lr_d", f(1.12e-4)),
            ("lr_g", f(5.4e-4)),
            ("hidden", ParamValue::Int(64)),
        ]);
        let labels = configuration_labels("GAN", &[&a, &c]);
        assert_eq!(labels, ["GAN lr_d=1.1e-4", "GAN lr_d=1.12e-4"]);
        let d = config(&[
            ("lr_d", f(1.097e-4)),
            ("lr_g", f(5.4e-4)),
            ("hidden", ParamValue::Int(64)),
        ]);
        let e = config(&[
            ("lr_d", f(1.098e-4)),
            ("lr_g", f(5.4e-4)),
            ("hidden", ParamValue::Int(64)),
        ]);
        assert_eq!(
            configuration_labels("GAN", &[&d, &e]),
            ["GAN lr_d=1.097e-4", "GAN lr_d=1.098e-4"]
        );
        let missing = config(&[("lr_g", f(5.4e-4)), ("hidden", ParamValue::Int(64))]);
        assert_eq!(
            configuration_labels("GAN", &[&missing, &a])[0],
            "GAN lr_d=–"
        );
    }
}
