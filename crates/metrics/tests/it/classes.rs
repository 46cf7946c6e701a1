//! Stacked MNIST's class coverage against hand computations and closed forms.

use ganbench_metrics::{class_coverage, ClassCoverageError};

#[test]
fn a_uniform_histogram_over_every_class_has_kl_zero() {
    let labels: Vec<u32> = (0..26_000).map(|i| i % 1000).collect();
    let c = class_coverage(&labels, 1000).unwrap();
    assert_eq!((c.modes, c.kl), (1000, 0.0));
    assert_eq!(
        c.named(),
        [
            ("modes_1000".to_string(), 1000.0),
            ("kl_1000".to_string(), 0.0)
        ]
    );
}

#[test]
fn one_class_has_kl_ln_k_and_m_equal_classes_ln_k_over_m() {
    // All samples in one class: p = 1 there, KL = ln K.
    let c = class_coverage(&[7; 500], 1000).unwrap();
    assert_eq!(c.modes, 1);
    assert!((c.kl - 1000f64.ln()).abs() < 1e-12, "{}", c.kl);
    // m classes equally often: KL = ln(K/m).
    let labels: Vec<u32> = (0..4_000).map(|i| 10 * (i % 40)).collect();
    let c = class_coverage(&labels, 1000).unwrap();
    assert_eq!(c.modes, 40);
    assert!((c.kl - (1000f64 / 40.0).ln()).abs() < 1e-12, "{}", c.kl);
}

#[test]
fn an_uneven_histogram_matches_the_hand_computed_sum() {
    // K = 4; counts 3, 1, 0, 0 of n = 4: KL = ¾ ln(4·¾) + ¼ ln(4·¼) = ¾ ln 3.
    let c = class_coverage(&[0, 0, 1, 0], 4).unwrap();
    assert_eq!(c.modes, 2);
    assert!((c.kl - 0.75 * 3f64.ln()).abs() < 1e-15, "{}", c.kl);
}

#[test]
fn bad_input_is_refused_with_what_to_fix() {
    assert_eq!(class_coverage(&[], 10), Err(ClassCoverageError::NoSamples));
    assert_eq!(class_coverage(&[1], 0), Err(ClassCoverageError::NoClasses));
    let err = class_coverage(&[1, 10], 10).unwrap_err();
    assert_eq!(
        err,
        ClassCoverageError::LabelOutOfRange {
            index: 1,
            label: 10,
            classes: 10
        }
    );
    assert!(err.to_string().contains("0–9"), "{err}");
}
