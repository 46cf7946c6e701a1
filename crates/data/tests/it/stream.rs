//! Sampling and the seeded, checkpointable batch stream.

use ganbench_data::{data_seed, DataError, DataStream, Dataset, Toy2d, ToyMixture};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn ring8() -> ToyMixture {
    ToyMixture::new(Toy2d::RING8).unwrap()
}

fn bits(batch: &[f32]) -> Vec<u32> {
    batch.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn same_seed_gives_the_same_batches_and_other_seeds_differ() {
    let mut a = DataStream::new(ring8(), 7);
    let mut b = DataStream::new(ring8(), 7);
    let mut c = DataStream::new(ring8(), 8);
    for rows in [64, 1, 300] {
        let (x, y, z) = (a.next_batch(rows), b.next_batch(rows), c.next_batch(rows));
        assert_eq!(x.len(), rows * 2);
        assert_eq!(bits(&x), bits(&y));
        assert_ne!(bits(&x), bits(&z));
    }
    assert_eq!(a.batches_drawn(), 3);
}

#[test]
fn consecutive_batches_differ() {
    let mut s = DataStream::new(ring8(), 1);
    assert_ne!(bits(&s.next_batch(32)), bits(&s.next_batch(32)));
}

#[test]
fn first_values_are_pinned() {
    // Guards reproducibility of recorded sweeps: changing the seed derivation, the generator or
    // the draw order in ToyMixture::sample_into must be a deliberate act that updates this test.
    let batch = DataStream::new(ring8(), 0).next_batch(2);
    let expected: [f32; 4] = [1.409161, -1.4266372, 1.4492447, 1.403587];
    assert_eq!(bits(&batch), bits(&expected), "got {batch:?}");
}

#[test]
fn data_seed_is_mixed_and_injective_on_a_range() {
    assert_ne!(data_seed(0), 0);
    assert_ne!(data_seed(42), 42);
    let mut seen: Vec<u64> = (0..10_000).map(data_seed).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 10_000);
}

#[test]
fn stream_does_not_replay_a_generator_seeded_with_the_trial_seed() {
    // A plugin seeding ChaCha8Rng from the trial seed must not see the data stream's numbers.
    let trial_seed = 5;
    let mut model_rng = ChaCha8Rng::seed_from_u64(trial_seed);
    let from_model_rng = ring8().sample_batch(&mut model_rng, 16);
    let from_stream = DataStream::new(ring8(), trial_seed).next_batch(16);
    assert_ne!(bits(&from_model_rng), bits(&from_stream));
    // ...while the stream is exactly the dataset driven by ChaCha8Rng seeded with data_seed.
    let mut data_rng = ChaCha8Rng::seed_from_u64(data_seed(trial_seed));
    assert_eq!(
        bits(&ring8().sample_batch(&mut data_rng, 16)),
        bits(&from_stream)
    );
}

#[test]
fn restored_stream_continues_bitwise() {
    for restore_after in [0usize, 1, 3] {
        let mut uninterrupted = DataStream::new(ring8(), 99);
        let mut interrupted = DataStream::new(ring8(), 99);
        // Odd row counts leave the generator mid-block, which a naive state would lose.
        for _ in 0..restore_after {
            uninterrupted.next_batch(37);
            interrupted.next_batch(37);
        }
        let saved = serde_json::to_string(&interrupted.state()).unwrap();
        drop(interrupted);

        let state = serde_json::from_str(&saved).unwrap();
        let mut restored = DataStream::new(ring8(), 0);
        assert_ne!(restored.state(), state);
        restored = DataStream::from_state(ring8(), state).unwrap();
        assert_eq!(restored.batches_drawn(), restore_after as u64);
        for rows in [5, 64, 3] {
            assert_eq!(
                bits(&restored.next_batch(rows)),
                bits(&uninterrupted.next_batch(rows))
            );
        }
        assert_eq!(restored.state(), uninterrupted.state());
    }
}

#[test]
fn state_survives_ron_which_has_no_u128() {
    let mut s = DataStream::new(ring8(), 3);
    s.next_batch(1_000_001);
    let state = s.state();
    let text = ron::to_string(&state).unwrap();
    let back: ganbench_data::DataStreamState = ron::from_str(&text).unwrap();
    assert_eq!(back, state);
    assert_eq!(back.dataset_name(), "ring8");
    assert_eq!(back.batches_drawn(), 1);
    let mut restored = DataStream::from_state(ring8(), back).unwrap();
    assert_eq!(bits(&restored.next_batch(9)), bits(&s.next_batch(9)));
}

#[test]
fn restoring_against_another_dataset_fails() {
    let state = DataStream::new(ring8(), 1).state();
    let grid = ToyMixture::new(Toy2d::GRID25).unwrap();
    let err = DataStream::from_state(grid, state).unwrap_err();
    assert_eq!(
        err,
        DataError::StateMismatch {
            saved: "ring8".into(),
            current: "grid25".into()
        }
    );
}

#[test]
fn next_batch_into_reuses_the_buffer_and_matches_next_batch() {
    let mut a: DataStream = DataStream::new(Box::new(ring8()), 11);
    let mut b = DataStream::new(ring8(), 11);
    let mut buf = vec![123.0; 3];
    a.next_batch_into(10, &mut buf);
    assert_eq!(bits(&buf), bits(&b.next_batch(10)));
    a.next_batch_into(4, &mut buf);
    assert_eq!(bits(&buf), bits(&b.next_batch(4)));
}

#[test]
fn zero_rows_gives_an_empty_batch() {
    assert!(DataStream::new(ring8(), 1).next_batch(0).is_empty());
}

/// Per-mode counts, means and standard deviations of `n` samples, each assigned to its nearest
/// centre.
fn per_mode_stats(
    toy: &ToyMixture,
    n: usize,
    rng: &mut dyn RngCore,
) -> Vec<(usize, [f64; 2], f64)> {
    let batch = toy.sample_batch(rng, n);
    let centres = toy.centres();
    let mut acc = vec![(0usize, [0.0f64; 2], 0.0f64); centres.len()];
    for p in batch.chunks_exact(2) {
        let (x, y) = (f64::from(p[0]), f64::from(p[1]));
        let dist2 = |c: &[f64; 2]| (x - c[0]).powi(2) + (y - c[1]).powi(2);
        let (k, c) = centres
            .iter()
            .enumerate()
            .min_by(|a, b| dist2(a.1).total_cmp(&dist2(b.1)))
            .unwrap();
        let e = &mut acc[k];
        e.0 += 1;
        e.1[0] += x;
        e.1[1] += y;
        e.2 += dist2(c);
    }
    acc.into_iter()
        .map(|(count, sum, sq)| {
            let m = count as f64;
            // Per-coordinate std from the mean squared distance over both coordinates.
            (count, [sum[0] / m, sum[1] / m], (sq / (2.0 * m)).sqrt())
        })
        .collect()
}

#[test]
fn samples_follow_the_mixture() {
    for spec in [Toy2d::RING8, Toy2d::GRID25] {
        let toy = ToyMixture::new(spec).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        let n = 40_000;
        let k = toy.centres().len();
        let stats = per_mode_stats(&toy, n, &mut rng);
        let expected = n as f64 / k as f64;
        for ((count, mean, std), centre) in stats.iter().zip(toy.centres()) {
            // Binomial count: 6 standard deviations of slack.
            let slack = 6.0 * (expected * (1.0 - 1.0 / k as f64)).sqrt();
            assert!(
                (*count as f64 - expected).abs() < slack,
                "{spec}: count {count}"
            );
            // Mean within 6 standard errors of the centre.
            let se = toy.std() / (*count as f64).sqrt();
            assert!(
                (mean[0] - centre[0]).abs() < 6.0 * se,
                "{spec}: {mean:?} vs {centre:?}"
            );
            assert!(
                (mean[1] - centre[1]).abs() < 6.0 * se,
                "{spec}: {mean:?} vs {centre:?}"
            );
            assert!((std / toy.std() - 1.0).abs() < 0.1, "{spec}: std {std}");
        }
    }
}
