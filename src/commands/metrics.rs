//! `ganbench metrics`: FID, KID, precision/recall and density/coverage between two sample sets,
//! usable on its own, like torch-fidelity's command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Result};
use ganbench_metrics::{FeatureMatrix, ImageMetrics, ImageScores, KidConfig, SampleSet};
use serde::Serialize;

use super::bad_input;

const EXAMPLES: &str = "\
Examples:
  ganbench metrics --real real.npy --fake fake.npy          features are the arrays' rows
  ganbench metrics --real real.npy --fake fake.npy --json   one JSON object
  ganbench metrics --real a.npy --fake b.npy --kid-subsets 10 --kid-subset-size 500";

#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The real samples: an .npy float array (f32 or f64), N × D, or N×C×H×W (each sample
    /// flattened); or an IDX image file (`…-ubyte`, `…-ubyte.gz`), pixels scaled to [-1, 1].
    #[arg(long, value_name = "PATH")]
    real: PathBuf,
    /// The generated samples, in the same form as --real.
    #[arg(long, value_name = "PATH")]
    fake: PathBuf,
    /// The feature space: `raw` (the samples' values themselves) or `extractor:NAME`.
    #[arg(long, default_value = "raw", value_name = "raw|extractor:NAME")]
    features: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// KID: number of random subset pairs.
    #[arg(long, default_value_t = 100, value_name = "N")]
    kid_subsets: usize,
    /// KID: samples per subset (clipped to the smaller set).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    kid_subset_size: usize,
    /// KID: seed of the subset draws.
    #[arg(long, default_value_t = 2020, value_name = "N")]
    kid_seed: u64,
}

/// How samples become features.
enum Features {
    Raw,
}

impl Features {
    fn parse(text: &str) -> Result<Self> {
        match text.split_once(':') {
            None if text == "raw" => Ok(Features::Raw),
            Some(("extractor", name)) => Err(bad_input(anyhow!(
                "--features extractor:{name}: feature extractors are not wired into `ganbench metrics` yet; \
                 use --features raw on .npy features"
            ))),
            _ => Err(bad_input(anyhow!(
                "--features {text}: expected `raw` or `extractor:NAME`"
            ))),
        }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    real: &'a Path,
    fake: &'a Path,
    n_real: usize,
    n_fake: usize,
    dim: usize,
    features: &'a str,
    kid_subsets: usize,
    kid_subset_size: usize,
    kid_seed: u64,
    #[serde(flatten)]
    scores: ImageScores,
    wall_s: f64,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let Features::Raw = Features::parse(&args.features)?;
    let real = load_raw(&args.real, SampleSet::Real)?;
    let fake = load_raw(&args.fake, SampleSet::Fake)?;
    if real.dim() != fake.dim() {
        return Err(bad_input(anyhow!(
            "{} has {} values per sample but {} has {}; compare samples of the same shape",
            args.real.display(),
            real.dim(),
            args.fake.display(),
            fake.dim()
        )));
    }
    let metrics = ImageMetrics {
        kid: KidConfig {
            subsets: args.kid_subsets,
            subset_size: args.kid_subset_size,
            seed: args.kid_seed,
            ..KidConfig::default()
        },
        ..ImageMetrics::default()
    }
    .all_cores();
    let started = Instant::now();
    // Every remaining failure is about the inputs (too few samples, a zero KID subset count).
    let scores = metrics.evaluate(&real, &fake).map_err(|e| {
        bad_input(anyhow!(e).context(format!(
            "metrics between {} and {}",
            args.real.display(),
            args.fake.display()
        )))
    })?;
    let report = Report {
        real: &args.real,
        fake: &args.fake,
        n_real: real.rows(),
        n_fake: fake.rows(),
        dim: real.dim(),
        features: &args.features,
        kid_subsets: args.kid_subsets,
        kid_subset_size: args.kid_subset_size.min(real.rows()).min(fake.rows()),
        kid_seed: args.kid_seed,
        scores,
        wall_s: started.elapsed().as_secs_f64(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a sample file as raw features: one row per sample, all its values flattened.
fn load_raw(path: &Path, set: SampleSet) -> Result<FeatureMatrix> {
    let name = path.display();
    if path.is_dir() {
        return Err(bad_input(anyhow!(
            "{name}: image-folder input needs --features extractor:NAME and the data crate's loader; not wired yet. \
             Pass an .npy array"
        )));
    }
    if !path.exists() {
        return Err(bad_input(anyhow!("{name}: no such file")));
    }
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if file.ends_with(".npy") {
        let (data, shape) = ganbench_data::npy::read_npy(path).map_err(bad_input)?;
        let [n, rest @ ..] = shape.as_slice() else {
            return Err(bad_input(anyhow!(
                "{name}: a 0-dimensional array holds no samples"
            )));
        };
        if rest.is_empty() {
            return Err(bad_input(anyhow!(
                "{name}: shape ({n},) has no feature axis; expected N × D (or N×C×H×W)"
            )));
        }
        let dim: usize = rest.iter().product();
        return FeatureMatrix::from_rows(set, &data, dim)
            .map_err(|e| bad_input(anyhow!(e).context(name.to_string())));
    }
    if file.ends_with("-ubyte") || file.ends_with("-ubyte.gz") || file.ends_with(".idx") {
        // Every image of the file, pixels scaled to [-1, 1], one flattened row per image.
        let spec = ganbench_data::ImageSpec::Idx {
            images: path.to_path_buf(),
            labels: None,
            transpose: false,
            held_out: None,
        };
        let images = spec.load_all().map_err(bad_input)?;
        return FeatureMatrix::from_rows(set, &images.all_f32(), images.image_len())
            .map_err(|e| bad_input(anyhow!(e).context(name.to_string())));
    }
    Err(bad_input(anyhow!(
        "{name}: unsupported sample file; pass an .npy float array (N × D)"
    )))
}

fn print_table(r: &Report<'_>) {
    println!(
        "real {} ({} samples), fake {} ({} samples), {} features ({}), {:.1} s",
        r.real.display(),
        r.n_real,
        r.fake.display(),
        r.n_fake,
        r.dim,
        r.features,
        r.wall_s
    );
    println!(
        "KID over {} subsets of {} (seed {}); precision/recall k = 3, density/coverage k = 5",
        r.kid_subsets, r.kid_subset_size, r.kid_seed
    );
    println!();
    println!("{:<10} {:>14}", "metric", "value");
    for (name, value) in r.scores.named() {
        println!("{name:<10} {value:>14.6}");
    }
}
