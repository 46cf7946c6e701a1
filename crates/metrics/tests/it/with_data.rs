//! Mode metrics of real samples from ganbench-data: the protocol's 2500 samples of a perfect
//! generator should capture every mode with ~98.9% high quality (P(‖z‖ ≤ 3) = 1 − e^(−9/2) for a
//! 2D standard normal) and a reverse KL near 0.

use ganbench_data::{Dataset, Toy2d, ToyMixture};
use ganbench_metrics::{mode_metrics_rows, nearest_centre};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const N: usize = 2500;

#[test]
fn true_distribution_scores_as_perfect() {
    let pacgan_ring: Toy2d = "ring(modes=8,radius=1,std=0.01)".parse().unwrap();
    for spec in [Toy2d::RING8, Toy2d::GRID25, pacgan_ring] {
        let toy = ToyMixture::new(spec).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        let samples = toy.sample_batch(&mut rng, N);
        let m = mode_metrics_rows(&samples, toy.centres(), toy.std()).unwrap();
        let expected_hq = 1.0 - (-4.5f64).exp();
        // 2500 Bernoulli(0.989) draws: standard error 0.0021, 5 of them of slack.
        assert!(
            (m.high_quality - expected_hq).abs() < 0.0105,
            "{spec}: {m:?}"
        );
        assert_eq!(m.modes, m.total_modes, "{spec}: {m:?}");
        // Expected KL of a multinomial histogram is about (K − 1)/(2N) ≤ 0.005 here.
        assert!(m.reverse_kl < 0.02, "{spec}: {m:?}");
    }
}

#[test]
fn dropping_half_the_modes_costs_ln_2() {
    let toy = ToyMixture::new(Toy2d::RING8).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let samples: Vec<f32> = toy
        .sample_batch(&mut rng, 2 * N)
        .chunks_exact(2)
        .filter(|p| {
            let (k, _) = nearest_centre([f64::from(p[0]), f64::from(p[1])], toy.centres()).unwrap();
            k < 4
        })
        .flatten()
        .copied()
        .collect();
    let m = mode_metrics_rows(&samples, toy.centres(), toy.std()).unwrap();
    assert_eq!(m.modes, 4);
    assert!(
        (m.reverse_kl - std::f64::consts::LN_2).abs() < 0.02,
        "{m:?}"
    );
}

#[test]
fn metrics_of_2500_samples_on_25_modes_are_fast() {
    let toy = ToyMixture::new(Toy2d::GRID25).unwrap();
    let samples = toy.sample_batch(&mut ChaCha8Rng::seed_from_u64(1), N);
    let start = std::time::Instant::now();
    for _ in 0..100 {
        mode_metrics_rows(&samples, toy.centres(), toy.std()).unwrap();
    }
    // ~62,500 distance computations per call; generous bound for a loaded debug-ish build.
    let per_call = start.elapsed() / 100;
    assert!(per_call.as_millis() < 20, "{per_call:?} per call");
}
