//! Mode metrics on constructed sample sets with answers worked out by hand.

use std::f64::consts::LN_2;

use ganbench_metrics::{
    mode_metrics, mode_metrics_rows, nearest_centre, MetricsError, ModeMetrics,
};

const RING_STD: f64 = 0.02;

/// ring8's centres, written out independently of ganbench-data.
fn ring8() -> Vec<[f64; 2]> {
    (0..8)
        .map(|k| {
            let a = std::f64::consts::FRAC_PI_4 * k as f64;
            [2.0 * a.cos(), 2.0 * a.sin()]
        })
        .collect()
}

fn grid25() -> Vec<[f64; 2]> {
    let axis = [-4.0, -2.0, 0.0, 2.0, 4.0];
    axis.iter()
        .flat_map(|&x| axis.iter().map(move |&y| [x, y]))
        .collect()
}

fn offset(c: [f64; 2], dx: f64, dy: f64) -> [f64; 2] {
    [c[0] + dx, c[1] + dy]
}

#[test]
fn all_samples_on_one_mode() {
    let centres = ring8();
    let samples = vec![centres[3]; 2500];
    let m = mode_metrics(&samples, &centres, RING_STD).unwrap();
    assert_eq!(m.modes, 1);
    assert_eq!(m.total_modes, 8);
    assert_eq!(m.high_quality, 1.0);
    assert!((m.reverse_kl - 8f64.ln()).abs() < 1e-12, "{}", m.reverse_kl);
}

#[test]
fn equal_mass_on_every_mode() {
    let centres = ring8();
    // Small in-range offsets so samples are not exactly on the centres.
    let samples: Vec<[f64; 2]> = (0..2496)
        .map(|i| offset(centres[i % 8], 0.01, -0.02))
        .collect();
    let m = mode_metrics(&samples, &centres, RING_STD).unwrap();
    assert_eq!(m.modes, 8);
    assert_eq!(m.high_quality, 1.0);
    assert!(m.reverse_kl.abs() < 1e-12, "{}", m.reverse_kl);
}

#[test]
fn samples_far_from_every_centre_are_low_quality_but_still_in_the_histogram() {
    let centres = ring8();
    // Half again as far out as each centre: distance 1 = 50σ from the nearest.
    let spread: Vec<[f64; 2]> = (0..800)
        .map(|i| {
            let c = centres[i % 8];
            [1.5 * c[0], 1.5 * c[1]]
        })
        .collect();
    let m = mode_metrics(&spread, &centres, RING_STD).unwrap();
    assert_eq!((m.modes, m.high_quality), (0, 0.0));
    assert!(
        m.reverse_kl.abs() < 1e-12,
        "spread evenly: {}",
        m.reverse_kl
    );

    let piled = vec![[10.0, 0.0]; 100];
    let m = mode_metrics(&piled, &centres, RING_STD).unwrap();
    assert_eq!((m.modes, m.high_quality), (0, 0.0));
    assert!(
        (m.reverse_kl - 8f64.ln()).abs() < 1e-12,
        "all nearest to mode 0: {}",
        m.reverse_kl
    );
}

#[test]
fn hand_computed_partial_histogram() {
    let centres = ring8();
    let samples = [
        centres[0],
        offset(centres[0], 0.03, 0.0),
        // 4σ from mode 1: in the histogram, not high quality, so mode 1 is not captured.
        offset(centres[1], 0.0, 4.0 * RING_STD),
        centres[2],
    ];
    let m = mode_metrics(&samples, &centres, RING_STD).unwrap();
    // p = (1/2, 1/4, 1/4): ½ln(½·8) + 2·¼ln(¼·8) = ln 2 + ½ln 2.
    assert_eq!((m.modes, m.total_modes, m.high_quality), (2, 8, 0.75));
    assert!(
        (m.reverse_kl - 1.5 * LN_2).abs() < 1e-12,
        "{}",
        m.reverse_kl
    );
}

#[test]
fn grid25_cases() {
    let centres = grid25();
    let std = 0.05;
    // √(0.1² + 0.1²) ≈ 0.141 ≤ 3σ = 0.15: one high-quality sample per mode.
    let inside: Vec<[f64; 2]> = centres.iter().map(|&c| offset(c, 0.1, -0.1)).collect();
    let m = mode_metrics(&inside, &centres, std).unwrap();
    assert_eq!((m.modes, m.total_modes, m.high_quality), (25, 25, 1.0));
    assert!(m.reverse_kl.abs() < 1e-12);

    // √(0.11² + 0.11²) ≈ 0.156 > 0.15: nothing captured, histogram still uniform.
    let outside: Vec<[f64; 2]> = centres.iter().map(|&c| offset(c, -0.11, 0.11)).collect();
    let m = mode_metrics(&outside, &centres, std).unwrap();
    assert_eq!((m.modes, m.high_quality), (0, 0.0));
    assert!(m.reverse_kl.abs() < 1e-12);

    // Equal mass on the 5 modes of the column x = -4: KL = ln(25/5).
    let column: Vec<[f64; 2]> = (0..2500).map(|i| centres[i % 5]).collect();
    let m = mode_metrics(&column, &centres, std).unwrap();
    assert_eq!(m.modes, 5);
    assert!((m.reverse_kl - 5f64.ln()).abs() < 1e-12, "{}", m.reverse_kl);

    // Halfway between two neighbours plus a nudge: nearest is the nudged-towards one, 1 = 20σ away.
    let between = [[-3.0 + 1e-9, 0.0]];
    let (k, d) = nearest_centre(between[0], &centres).unwrap();
    assert_eq!(centres[k], [-2.0, 0.0]);
    assert!((d - 1.0).abs() < 1e-8);
    let m = mode_metrics(&between, &centres, std).unwrap();
    assert_eq!((m.modes, m.high_quality), (0, 0.0));
    assert!((m.reverse_kl - 25f64.ln()).abs() < 1e-12);
}

#[test]
fn exactly_three_sigma_is_high_quality_and_just_beyond_is_not() {
    let centres = [[0.0, 0.0], [10.0, 0.0]];
    let at = mode_metrics(&[[1.5, 0.0]], &centres, 0.5).unwrap();
    assert_eq!((at.modes, at.high_quality), (1, 1.0));
    let beyond = mode_metrics(&[[1.5f64.next_up(), 0.0]], &centres, 0.5).unwrap();
    assert_eq!((beyond.modes, beyond.high_quality), (0, 0.0));
}

#[test]
fn ties_go_to_the_first_centre() {
    let centres = [[-1.0, 0.0], [1.0, 0.0]];
    assert_eq!(nearest_centre([0.0, 0.0], &centres), Some((0, 1.0)));
    assert_eq!(nearest_centre([0.0, 0.0], &[]), None);
    assert_eq!(nearest_centre([f64::NAN, 0.0], &centres), None);
}

#[test]
fn non_finite_samples_are_low_quality_and_left_out_of_the_histogram() {
    let centres = ring8();
    let samples = [
        centres[0],
        [f64::NAN, 0.0],
        [0.0, f64::INFINITY],
        centres[1],
    ];
    let m = mode_metrics(&samples, &centres, RING_STD).unwrap();
    assert_eq!((m.modes, m.high_quality), (2, 0.5));
    // Histogram of the two finite samples: (½, ½) → 2·½ln(½·8) = ln 4.
    assert!((m.reverse_kl - 4f64.ln()).abs() < 1e-12, "{}", m.reverse_kl);

    let rows = [f32::NAN, f32::NAN, f32::NEG_INFINITY, 1.0];
    let m = mode_metrics_rows(&rows, &centres, RING_STD).unwrap();
    assert_eq!((m.modes, m.total_modes, m.high_quality), (0, 8, 0.0));
    assert!(m.reverse_kl.is_nan());
}

#[test]
fn rows_agree_with_points() {
    let centres = ring8();
    let points: Vec<[f64; 2]> = (0..300)
        .map(|i| {
            let t = i as f64 * 0.37;
            offset(centres[i % 3], 0.05 * t.sin(), 0.05 * t.cos())
        })
        .collect();
    // Round the points to f32 first so both paths see the same coordinates.
    let rows: Vec<f32> = points
        .iter()
        .flat_map(|p| [p[0] as f32, p[1] as f32])
        .collect();
    let rounded: Vec<[f64; 2]> = rows
        .chunks_exact(2)
        .map(|p| [f64::from(p[0]), f64::from(p[1])])
        .collect();
    let from_rows = mode_metrics_rows(&rows, &centres, RING_STD).unwrap();
    assert_eq!(
        from_rows,
        mode_metrics(&rounded, &centres, RING_STD).unwrap()
    );
    // |offset| = 0.05 ≤ 3σ = 0.06: all high quality, equal mass on 3 of 8 modes.
    assert_eq!((from_rows.modes, from_rows.high_quality), (3, 1.0));
    assert!((from_rows.reverse_kl - (8.0f64 / 3.0).ln()).abs() < 1e-12);
}

#[test]
fn invalid_inputs_are_errors() {
    let centres = ring8();
    let one = [[0.0, 0.0]];
    assert_eq!(
        mode_metrics(&[], &centres, 0.1),
        Err(MetricsError::NoSamples)
    );
    assert_eq!(
        mode_metrics_rows(&[], &centres, 0.1),
        Err(MetricsError::NoSamples)
    );
    assert_eq!(mode_metrics(&one, &[], 0.1), Err(MetricsError::NoCentres));
    // A NaN centre is not equal to itself, so match rather than compare.
    let err = mode_metrics(&one, &[[0.0, 0.0], [f64::NAN, 1.0]], 0.1).unwrap_err();
    assert!(
        matches!(err, MetricsError::NonFiniteCentre { index: 1, centre: [x, y] } if x.is_nan() && y == 1.0),
        "{err:?}"
    );
    for std in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            mode_metrics(&one, &centres, std),
            Err(MetricsError::BadStd(_))
        ));
    }
    assert_eq!(
        mode_metrics_rows(&[0.0, 1.0, 2.0], &centres, 0.1),
        Err(MetricsError::RaggedRows(3))
    );
    let message = MetricsError::RaggedRows(3).to_string();
    assert!(message.contains("n×2"), "{message}");
}

#[test]
fn named_values_for_logging() {
    let m = ModeMetrics {
        modes: 7,
        total_modes: 8,
        high_quality: 0.9,
        reverse_kl: 0.25,
        reverse_kl_hq: 0.125,
    };
    assert_eq!(
        m.named(),
        [
            ("modes", 7.0),
            ("high_quality", 0.9),
            ("reverse_kl", 0.25),
            ("reverse_kl_hq", 0.125)
        ]
    );
}

#[test]
fn reverse_kl_hq_counts_only_high_quality_samples() {
    // Four modes, σ 0.1 (high quality within 0.3). Two samples on mode 0, one on mode 1, one 1.0
    // from mode 1 (not high quality), one NaN.
    let centres = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]];
    let samples = [
        [0.0, 0.0],
        [0.1, 0.0],
        [10.0, 0.0],
        [11.0, 0.0],
        [f64::NAN, 0.0],
    ];
    let m = mode_metrics(&samples, &centres, 0.1).unwrap();
    // All finite samples: (2, 2, 0, 0)/4 → 2 · ½ ln(½ · 4) = ln 2.
    assert!((m.reverse_kl - 2f64.ln()).abs() < 1e-15, "{}", m.reverse_kl);
    // High-quality samples only: (2, 1, 0, 0)/3 → ⅔ ln(8/3) + ⅓ ln(4/3).
    let want = 2.0 / 3.0 * (8.0f64 / 3.0).ln() + 1.0 / 3.0 * (4.0f64 / 3.0).ln();
    assert!(
        (m.reverse_kl_hq - want).abs() < 1e-15,
        "{} vs {want}",
        m.reverse_kl_hq
    );
    assert_eq!((m.modes, m.high_quality), (2, 0.6));
    // Uniform over high-quality samples: exactly 0, whatever the others do.
    let even = [
        [0.0, 0.0],
        [10.0, 0.0],
        [0.0, 10.0],
        [10.0, 10.0],
        [5.0, 5.0],
    ];
    assert_eq!(
        mode_metrics(&even, &centres, 0.1).unwrap().reverse_kl_hq,
        0.0
    );
    // No high-quality sample: no histogram, NaN (not a perfect 0).
    let far = [[5.0, 5.0], [3.0, 3.0]];
    let m = mode_metrics(&far, &centres, 0.1).unwrap();
    assert!(m.reverse_kl_hq.is_nan() && m.reverse_kl.is_finite());
}
