//! Time of each image metric on 10,000 real × 10,000 fake samples of 64-dimensional features
//! (standard normal; the fakes shifted by 0.1), as the runner computes them at an evaluation.
//! Run with `cargo bench -p ganbench-metrics`; prints milliseconds per metric, on every core and
//! on one thread.

use std::time::Instant;

use ganbench_metrics::{
    density_coverage, fid, kid, precision_recall, FeatureMatrix, ImageMetrics, KidConfig, SampleSet,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const N: usize = 10_000;
const DIM: usize = 64;

fn features(set: SampleSet, seed: u64, shift: f32) -> FeatureMatrix {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data: Vec<f32> = (0..N * DIM)
        .map(|_| {
            let z: f32 = StandardNormal.sample(&mut rng);
            z + shift
        })
        .collect();
    FeatureMatrix::from_rows(set, &data, DIM).expect("finite features")
}

fn time<T: std::fmt::Debug>(label: &str, f: impl FnOnce() -> T) -> f64 {
    let start = Instant::now();
    let value = f();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    println!("  {label:<34} {ms:>9.0} ms   {value:?}");
    ms
}

fn main() {
    let real = features(SampleSet::Real, 1, 0.0);
    let fake = features(SampleSet::Fake, 2, 0.1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("image metrics, {N} real × {N} fake samples, {DIM} features");
    let mut totals = Vec::new();
    for threads in [cores, 1] {
        println!("{threads} thread(s):");
        let kid_config = KidConfig {
            threads,
            ..KidConfig::default()
        };
        let mut total = 0.0;
        total += time("FID", || fid(&real, &fake).unwrap());
        total += time("KID (100 subsets of 1000)", || {
            kid(&real, &fake, &kid_config).unwrap()
        });
        total += time("precision/recall (k = 3)", || {
            precision_recall(&real, &fake, 3, threads).unwrap()
        });
        total += time("density/coverage (k = 5)", || {
            density_coverage(&real, &fake, 5, threads).unwrap()
        });
        println!("  {:<34} {total:>9.0} ms", "sum of the four");
        let joint = time("ImageMetrics (all, shared passes)", || {
            ImageMetrics::default()
                .with_threads(threads)
                .evaluate(&real, &fake)
                .unwrap()
        });
        totals.push(joint);
    }
    println!(
        "speed-up of {cores} threads over 1 (ImageMetrics): {:.2}×",
        totals[1] / totals[0]
    );
}
