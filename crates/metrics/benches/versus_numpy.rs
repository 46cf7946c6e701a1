//! ms of ganbench's image metrics on two .npy feature files: the ganbench side of
//! `bench/compare-numpy-fid.sh`, whose NumPy twin is `bench/numpy_fid.py`.
//!
//! `cargo bench -p ganbench-metrics --bench versus_numpy -- REAL.npy FAKE.npy [THREADS [REPEAT]]`
//! (defaults: 1 thread, 3 timed runs).
//!
//! Prints one line per metric, `<name> <ms> <value>`: `fid`, `kid` (100 subsets of 1000, clipped
//! to the smaller set, as torch-fidelity), `prdc` (precision/recall k = 3 and density/coverage
//! k = 5, sharing their distance passes) and `all` (the three at once, as `ganbench metrics`
//! computes them). Each is timed REPEAT times after one untimed run; the line has the
//! fastest. Features are read as the command line reads them (float64 stays float64).

use std::path::{Path, PathBuf};
use std::time::Instant;

use ganbench_metrics::{
    fid, kid, prdc, FeatureError, FeatureMatrix, ImageMetrics, KidConfig, PrdcConfig, SampleSet,
};

fn features(path: &Path, set: SampleSet) -> Result<FeatureMatrix, FeatureError> {
    let array = ganbench_data::npy::read_npy_array(path).unwrap_or_else(|e| panic!("{e}"));
    let [_, dim] = array.shape[..] else {
        panic!(
            "{}: expected N × D features, got {:?}",
            path.display(),
            array.shape
        );
    };
    FeatureMatrix::from_rows(set, &array.to_f64(), dim)
}

/// Fastest of `repeat` timed runs after one untimed run: (ms, the value).
fn time<T>(repeat: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut value = f();
    let mut best = f64::INFINITY;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        value = f();
        best = best.min(start.elapsed().as_secs_f64() * 1e3);
    }
    (best, value)
}

fn main() {
    // `cargo bench` appends `--bench`; the rest are positional.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [real, fake, rest @ ..] = args.as_slice() else {
        panic!("usage: versus_numpy REAL.npy FAKE.npy [THREADS [REPEAT]]");
    };
    let number =
        |i: usize, default: usize| rest.get(i).map_or(default, |s| s.parse().expect("a count"));
    let (threads, repeat) = (number(0, 1).max(1), number(1, 3));
    let real = features(&PathBuf::from(real), SampleSet::Real).expect("real features");
    let fake = features(&PathBuf::from(fake), SampleSet::Fake).expect("fake features");
    let metrics = ImageMetrics::default().with_threads(threads);
    let kid_config = KidConfig {
        threads,
        ..KidConfig::default()
    };
    let prdc_config = PrdcConfig {
        threads,
        ..PrdcConfig::default()
    };
    let (ms, value) = time(repeat, || fid(&real, &fake).expect("FID"));
    println!("fid {ms:.3} {value:?}");
    let (ms, value) = time(repeat, || kid(&real, &fake, &kid_config).expect("KID"));
    println!("kid {ms:.3} {:?}", value.mean);
    let (ms, value) = time(repeat, || prdc(&real, &fake, &prdc_config).expect("PRDC"));
    println!("prdc {ms:.3} {:?}", value.0.precision);
    let (ms, value) = time(repeat, || metrics.evaluate(&real, &fake).expect("metrics"));
    println!("all {ms:.3} {:?}", value.fid);
}
