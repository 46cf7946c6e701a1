//! `ganbench metrics`: FID, KID, precision/recall and density/coverage between two sample sets,
//! usable on its own, like torch-fidelity's command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use ganbench_data::npy::{read_npy_array, NpyValues};
use ganbench_data::ImageSpec;
use ganbench_features::{CnnExtractor, FeaturesError, InputShape};
use ganbench_metrics::{
    FeatureMatrix, ImageMetrics, KidConfig, MetricFamilies, SampleSet, SelectedScores,
};
use ganbench_sdk::candle::Device;
use serde::Serialize;

use super::bad_input;

const EXAMPLES: &str = "\
Examples:
  ganbench metrics --real real.npy --fake fake.npy          features are the arrays' rows
  ganbench metrics --real real.npy --fake fake.npy --json   one JSON object
  ganbench metrics --real real.npy --fake fake.npy --fid --kid   only FID and KID
  ganbench metrics --real images.npy --fake samples.npy     uint8 N×H×W×C images work as they are
  ganbench metrics --real t10k-images-idx3-ubyte.gz --fake samples/ \\
      --features extractor:extractors/3f2a…-cnn-v1.safetensors
                                     images through the evaluation CNN (docs/features.md)
  ganbench metrics --real a.npy --fake b.npy --kid-subsets 10 --kid-subset-size 500";

#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The real samples: an .npy array of N × D features, or of N×C×H×W, N×H×W×C or N×H×W images
    /// (uint8, float16, float32 or float64; each sample flattened); an IDX image file (`…-ubyte`,
    /// `…-ubyte.gz`); or a folder of PNG/JPEG images. Pixels (uint8, IDX, PNG) are scaled to
    /// [-1, 1].
    #[arg(long, value_name = "PATH")]
    real: PathBuf,
    /// The generated samples, in the same form as --real.
    #[arg(long, value_name = "PATH")]
    fake: PathBuf,
    /// The feature space: `raw` (the samples' values themselves) or `extractor:WEIGHTS`, the
    /// evaluation CNN with the weights of a .safetensors file: one that a sweep trained (in
    /// `extractors/` beside its database) or your own (docs/features.md).
    #[arg(long, default_value = "raw", value_name = "raw|extractor:WEIGHTS")]
    features: String,
    /// Image folders: the side images are scaled and centre-cropped to [default: the other
    /// input's, or the extractor's]
    #[arg(long, value_name = "PIXELS")]
    image_size: Option<u32>,
    /// Image folders: 1 (grayscale) or 3 (RGB) [default: the other input's, or the extractor's]
    #[arg(long, value_name = "1|3")]
    channels: Option<u8>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Compute FID. With none of --fid, --kid and --prdc, all three families are computed; with
    /// some, only those.
    #[arg(long)]
    fid: bool,
    /// Compute KID (mean and standard deviation over subsets).
    #[arg(long)]
    kid: bool,
    /// Compute precision/recall (k = 3) and density/coverage (k = 5).
    #[arg(long)]
    prdc: bool,
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
    Extractor(PathBuf),
}

impl Features {
    fn parse(text: &str) -> Result<Self> {
        match text.split_once(':') {
            None if text == "raw" => Ok(Features::Raw),
            Some(("extractor", "")) => Err(bad_input(anyhow!(
                "--features extractor: needs the weights file, e.g. \
                 --features extractor:extractors/<hash>-cnn-v1.safetensors"
            ))),
            Some(("extractor", weights)) => {
                let path = PathBuf::from(weights);
                if !path.is_file() {
                    return Err(bad_input(anyhow!(
                        "--features {text}: no weights file {weights}; pass a .safetensors file of \
                         the evaluation CNN (a sweep's extractors/ folder beside its database holds \
                         the ones ganbench trained; docs/features.md documents the layout)"
                    )));
                }
                Ok(Features::Extractor(path))
            }
            _ => Err(bad_input(anyhow!(
                "--features {text}: expected `raw` or `extractor:WEIGHTS`"
            ))),
        }
    }
}

/// One input's samples before feature extraction: `n` samples of `shape`, row-major.
struct Samples {
    values: Values,
    n: usize,
    shape: Vec<usize>,
}

/// Sample values: float64 arrays stay float64, so that raw features lose no precision.
enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Samples {
    /// Values per sample.
    fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The values as f32, for the extractor.
    fn f32_values(&self) -> std::borrow::Cow<'_, [f32]> {
        match &self.values {
            Values::F32(v) => v.into(),
            Values::F64(v) => v.iter().map(|&x| x as f32).collect::<Vec<_>>().into(),
        }
    }
}

/// An input file before it is read: folders wait for their image shape.
enum Input<'a> {
    Read(Samples),
    Folder(&'a Path),
}

/// The extractor, as reported.
#[derive(Serialize)]
struct ExtractorInfo {
    weights: PathBuf,
    name: String,
    held_out_accuracy: Option<f64>,
}

#[derive(Serialize)]
struct Report<'a> {
    real: &'a Path,
    fake: &'a Path,
    n_real: usize,
    n_fake: usize,
    dim: usize,
    features: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    extractor: Option<ExtractorInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid_subsets: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid_subset_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid_seed: Option<u64>,
    #[serde(flatten)]
    scores: SelectedScores,
    wall_s: f64,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let features = Features::parse(&args.features)?;
    let real = open(&args.real)?;
    let fake = open(&args.fake)?;
    let (real, fake) = read_folders(real, fake, &args, &features)?;
    // Raw features compare values; the extractor compares images, which must match in shape.
    let (real_len, fake_len) = (real.len(), fake.len());
    if real_len != fake_len
        || (matches!(features, Features::Extractor(_)) && real.shape != fake.shape)
    {
        return Err(bad_input(anyhow!(
            "{} has {real_len} values per sample (shape {:?}) but {} has {fake_len} (shape {:?}); \
             compare samples of the same shape",
            args.real.display(),
            real.shape,
            args.fake.display(),
            fake.shape
        )));
    }
    let started = Instant::now();
    let (real_features, fake_features, extractor) = match &features {
        Features::Raw => (
            raw_features(&args.real, SampleSet::Real, &real)?,
            raw_features(&args.fake, SampleSet::Fake, &fake)?,
            None,
        ),
        Features::Extractor(weights) => {
            let extractor = load_extractor(weights, &real.shape)?;
            let extract = |path: &Path, set, samples: &Samples| {
                let values = extractor
                    .features(&samples.f32_values(), samples.n)
                    .with_context(|| format!("extracting features of {}", path.display()))?;
                FeatureMatrix::from_rows(set, &values, extractor.dim())
                    .map_err(|e| bad_input(anyhow!(e).context(path.display().to_string())))
            };
            (
                extract(&args.real, SampleSet::Real, &real)?,
                extract(&args.fake, SampleSet::Fake, &fake)?,
                Some(ExtractorInfo {
                    weights: weights.clone(),
                    name: extractor.name().to_string(),
                    held_out_accuracy: extractor.held_out_accuracy(),
                }),
            )
        }
    };
    let families = if args.fid || args.kid || args.prdc {
        MetricFamilies {
            fid: args.fid,
            kid: args.kid,
            prdc: args.prdc,
        }
    } else {
        MetricFamilies::ALL
    };
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
    // Every remaining failure is about the inputs (too few samples, a zero KID subset count).
    let scores = metrics
        .evaluate_selected(&real_features, &fake_features, families)
        .map_err(|e| {
            bad_input(anyhow!(e).context(format!(
                "metrics between {} and {}",
                args.real.display(),
                args.fake.display()
            )))
        })?;
    let report = Report {
        real: &args.real,
        fake: &args.fake,
        n_real: real.n,
        n_fake: fake.n,
        dim: real_features.dim(),
        features: &args.features,
        extractor,
        kid_subsets: families.kid.then_some(args.kid_subsets),
        kid_subset_size: families
            .kid
            .then(|| args.kid_subset_size.min(real.n).min(fake.n)),
        kid_seed: families.kid.then_some(args.kid_seed),
        scores,
        wall_s: started.elapsed().as_secs_f64(),
    };
    if args.json {
        outln!("{}", serde_json::to_string(&report)?)?;
    } else {
        print_table(&report)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads an .npy or IDX input now; a folder waits until its image shape is known.
fn open(path: &Path) -> Result<Input<'_>> {
    let name = path.display();
    if path.is_dir() {
        return Ok(Input::Folder(path));
    }
    if !path.exists() {
        return Err(bad_input(anyhow!("{name}: no such file")));
    }
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if file.ends_with(".npy") {
        // Channels-last images (N×H×W×C, as PIL keeps them) become N×C×H×W like every image.
        let (array, _) = read_npy_array(path)
            .map_err(bad_input)?
            .into_channels_first();
        let values = match &array.values {
            NpyValues::F64(v) => Values::F64(v.clone()),
            // uint8 pixels scaled to [-1, 1]; float16 widened.
            _ => Values::F32(array.to_f32()),
        };
        let shape = array.shape;
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
        return Ok(Input::Read(Samples {
            values,
            n: *n,
            shape: rest.to_vec(),
        }));
    }
    if file.ends_with("-ubyte") || file.ends_with("-ubyte.gz") || file.ends_with(".idx") {
        // Every image of the file, pixels scaled to [-1, 1].
        let spec = ImageSpec::Idx {
            images: path.to_path_buf(),
            labels: None,
            transpose: false,
            held_out: None,
        };
        return Ok(Input::Read(image_samples(&spec)?));
    }
    Err(bad_input(anyhow!(
        "{name}: unsupported sample file; pass an .npy array (N × D features, or images), an IDX \
         image file or a folder of PNG/JPEG images"
    )))
}

/// Every image of `spec` (no held-out split), as samples of shape C×H×W.
fn image_samples(spec: &ImageSpec) -> Result<Samples> {
    let images = spec.load_all().map_err(bad_input)?;
    Ok(Samples {
        values: Values::F32(images.all_f32()),
        n: images.len(),
        shape: images.shape().to_vec(),
    })
}

/// Reads image folders at the size and channel count of `--image-size`/`--channels`, else of the
/// other input (when it holds images), else of the extractor's training record.
fn read_folders(
    real: Input<'_>,
    fake: Input<'_>,
    args: &Args,
    features: &Features,
) -> Result<(Samples, Samples)> {
    let image_shape = |input: &Input<'_>| match input {
        Input::Read(s) if s.shape.len() == 3 => Some((s.shape[0], s.shape[1])),
        _ => None,
    };
    // (channels, side) that folders default to.
    let inferred = image_shape(&real)
        .or_else(|| image_shape(&fake))
        .or_else(|| match features {
            Features::Extractor(weights) => CnnExtractor::recorded_input(weights)
                .ok()
                .flatten()
                .map(|s| (s.channels, s.height)),
            Features::Raw => None,
        });
    let read = |input: Input<'_>| -> Result<Samples> {
        let folder = match input {
            Input::Read(samples) => return Ok(samples),
            Input::Folder(folder) => folder,
        };
        let size = args
            .image_size
            .or(inferred.and_then(|(_, side)| u32::try_from(side).ok()));
        let channels = args
            .channels
            .or(inferred.and_then(|(c, _)| u8::try_from(c).ok()));
        let (Some(size), Some(channels)) = (size, channels) else {
            return Err(bad_input(anyhow!(
                "{}: a folder of images needs an image size and channel count; pass \
                 --image-size PIXELS --channels 1|3 (or compare it with an IDX file or an \
                 N×C×H×W .npy array, whose shape it then takes)",
                folder.display()
            )));
        };
        let spec = ImageSpec::ImageFolder {
            path: folder.to_path_buf(),
            size,
            channels,
            held_out: None,
        };
        spec.validate().map_err(bad_input)?;
        image_samples(&spec)
    };
    Ok((read(real)?, read(fake)?))
}

/// One row per sample, all its values flattened.
fn raw_features(path: &Path, set: SampleSet, samples: &Samples) -> Result<FeatureMatrix> {
    match &samples.values {
        Values::F32(v) => FeatureMatrix::from_rows(set, v, samples.len()),
        Values::F64(v) => FeatureMatrix::from_rows(set, v, samples.len()),
    }
    .map_err(|e| bad_input(anyhow!(e).context(path.display().to_string())))
}

/// The evaluation CNN with the weights of `path`, for samples of `shape` (C×H×W, or H×W).
fn load_extractor(path: &Path, shape: &[usize]) -> Result<CnnExtractor> {
    let input = InputShape::from_dims(shape).map_err(bad_input)?;
    CnnExtractor::load(path, input, &Device::Cpu).map_err(|e| {
        let context = format!("loading the evaluation CNN from {}", path.display());
        match e {
            // A file that is not a fitting weights file is the user's to fix.
            FeaturesError::WeightsFile { .. }
            | FeaturesError::WeightsLayout { .. }
            | FeaturesError::Input(_) => bad_input(anyhow!(e).context(context)),
            other => anyhow!(other).context(context),
        }
    })
}

fn print_table(r: &Report<'_>) -> std::io::Result<()> {
    outln!(
        "real {} ({} samples), fake {} ({} samples), {} features ({}), {:.1} s",
        r.real.display(),
        r.n_real,
        r.fake.display(),
        r.n_fake,
        r.dim,
        r.features,
        r.wall_s
    )?;
    if let Some(e) = &r.extractor {
        let accuracy = e
            .held_out_accuracy
            .map_or("not recorded".to_string(), |a| format!("{:.2}%", 100.0 * a));
        outln!(
            "features: {} from {} (held-out accuracy {accuracy})",
            e.name,
            e.weights.display()
        )?;
    }
    if let (Some(subsets), Some(size), Some(seed)) = (r.kid_subsets, r.kid_subset_size, r.kid_seed)
    {
        outln!("KID over {subsets} subsets of {size} (seed {seed})")?;
    }
    if r.scores.precision.is_some() {
        outln!("precision/recall k = 3, density/coverage k = 5")?;
    }
    outln!()?;
    outln!("{:<10} {:>14}", "metric", "value")?;
    for (name, value) in r.scores.named() {
        outln!("{name:<10} {value:>14.6}")?;
    }
    Ok(())
}
