//! The one error type of this crate.

use std::path::PathBuf;

use thiserror::Error;

/// What a dataset text form looks like, appended to parse errors so that every message says what
/// is accepted.
pub(crate) const ACCEPTED_FORMS: &str = "accepted: `ring8`, `grid25`, \
    `ring(modes=<int>,radius=<num>,std=<num>)`, `grid(side=<int>,spacing=<num>,std=<num>)`, \
    or images: `Idx(images: \"…\", labels: \"…\")`, \
    `ImageFolder(path: \"…\", size: <int>, channels: 1|3)`, `Cifar10(path: \"…\")`";

/// Everything that can go wrong when describing a dataset or restoring a data stream.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DataError {
    /// The text names no known dataset family.
    #[error("unknown dataset `{name}`; {ACCEPTED_FORMS}")]
    UnknownDataset {
        /// The name as written.
        name: String,
    },
    /// The text is not of the form `name` or `family(key=value,...)`.
    #[error("malformed dataset `{input}`: {problem}; {ACCEPTED_FORMS}")]
    Syntax {
        /// The whole text as written.
        input: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A `key=value` pair names a parameter the family does not have.
    #[error("unknown parameter `{key}` for {family}; accepted: {accepted}")]
    UnknownParam {
        /// `ring` or `grid`.
        family: &'static str,
        /// The key as written.
        key: String,
        /// The keys the family takes.
        accepted: &'static str,
    },
    /// A parameter is given twice.
    #[error("parameter `{key}` of {family} is given twice")]
    DuplicateParam {
        /// `ring` or `grid`.
        family: &'static str,
        /// The repeated key.
        key: &'static str,
    },
    /// A parameter is missing; there are no defaults, so that a sweep file says what it runs.
    #[error("{family} needs parameter `{key}` (all of {accepted} are required)")]
    MissingParam {
        /// `ring` or `grid`.
        family: &'static str,
        /// The missing key.
        key: &'static str,
        /// The keys the family takes.
        accepted: &'static str,
    },
    /// A value does not parse as the parameter's type.
    #[error("parameter `{key}` of {family} is `{value}`, which is not {expected}")]
    BadValue {
        /// `ring` or `grid`.
        family: &'static str,
        /// The parameter.
        key: &'static str,
        /// The value as written.
        value: String,
        /// What the parameter takes.
        expected: &'static str,
    },
    /// A value parses but is out of range.
    #[error("{family} parameter `{key}` is {value}; it must be {expected}")]
    InvalidParam {
        /// `ring` or `grid`.
        family: &'static str,
        /// The parameter.
        key: &'static str,
        /// The offending value, formatted.
        value: String,
        /// The accepted range.
        expected: &'static str,
    },
    /// A saved stream state is restored against a different dataset.
    #[error("saved data stream state belongs to dataset `{saved}`, but this stream draws from `{current}`")]
    StateMismatch {
        /// The dataset named in the saved state.
        saved: String,
        /// The dataset of the stream being restored.
        current: String,
    },
    /// A file could not be read or written.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the operating system said.
        message: String,
    },
    /// A file has the wrong format.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// An image dataset description (`Idx(…)`, `ImageFolder(…)`, `Cifar10(…)`, `StackedMnist(…)`)
    /// is malformed or has an out-of-range setting.
    #[error("invalid image dataset: {message}")]
    BadImageSpec {
        /// What is wrong, and what is accepted.
        message: String,
    },
    /// A file or folder the dataset names does not exist.
    #[error("{}: no such {what}; {fix}", path.display())]
    MissingPath {
        /// The path, as resolved.
        path: PathBuf,
        /// What it should have been, e.g. `IDX images file`.
        what: &'static str,
        /// How to fix it.
        fix: String,
    },
    /// A file does not start with the magic number of the format it is read as.
    #[error("{}: not {format}: expected magic number {expected}, found {found} ({looks_like})", path.display())]
    WrongMagic {
        /// The file.
        path: PathBuf,
        /// The format expected, e.g. `an IDX image file`.
        format: &'static str,
        /// The expected magic number, e.g. `0x00000803`.
        expected: String,
        /// The first bytes of the file, in the same notation.
        found: String,
        /// What the file looks like instead (`an IDX label file: are images and labels swapped?`).
        looks_like: String,
    },
    /// A file is shorter (truncated) or longer than its header or format says.
    #[error("{}: {}: expected {expected} bytes ({layout}), found {actual}", path.display(), size_problem(*expected, *actual))]
    WrongSize {
        /// The file.
        path: PathBuf,
        /// Bytes the header (or format) implies; for a gzipped file, after decompression.
        expected: u64,
        /// Bytes present (after decompression).
        actual: u64,
        /// Where the expected count comes from, e.g. `16-byte header + 10000 images of 28×28`.
        layout: String,
    },
    /// An images file and its labels file hold different numbers of examples.
    #[error("{} holds {image_count} images but {} holds {label_count} labels; \
        use the labels file of the same set (train-images with train-labels, t10k with t10k)",
        images.display(), labels.display())]
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// The labels file.
        labels: PathBuf,
        /// Images in the images file.
        image_count: u64,
        /// Labels in the labels file.
        label_count: u64,
    },
    /// An image folder holds no PNG or JPEG file.
    #[error("{}: no images found; the folder and its subfolders must hold .png, .jpg or .jpeg files \
        (hidden files and other extensions are ignored)", path.display())]
    EmptyFolder {
        /// The folder.
        path: PathBuf,
    },
    /// An image file cannot be decoded.
    #[error("{}: cannot decode the image: {message}", path.display())]
    Undecodable {
        /// The image file.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
    /// A CIFAR-10 batch file is not a whole number of 3073-byte records.
    #[error("{}: {size} bytes is not a whole, non-zero number of CIFAR-10 records \
        (1 label byte + 3072 pixel bytes = 3073 bytes each; {size} = {records} × 3073 + {rest}); \
        is this the binary version (cifar-10-binary.tar.gz), and is the file complete?",
        path.display(), records = size / 3073, rest = size % 3073)]
    CifarRecordSize {
        /// The batch file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
}

fn size_problem(expected: u64, actual: u64) -> &'static str {
    if actual < expected {
        "truncated"
    } else {
        "longer than declared"
    }
}
