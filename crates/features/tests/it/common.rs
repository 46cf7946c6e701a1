//! The mnist-10k digits for the tests: read straight from the gzipped IDX files with flate2.

#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use ganbench_features::{InputShape, LabeledImages, TrainingData};

/// mnist-10k as committed in the repository's fixtures (tests/fixtures/mnist; the same bytes as
/// the team's shared copy). Here the first 8000 digits train and the last 2000 are held out.
pub const MNIST_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/mnist");
pub const TRAIN: usize = 8000;

pub struct Mnist {
    /// Pixels scaled to [-1, 1], row-major 10000 × 1 × 28 × 28.
    pub images: Vec<f32>,
    pub labels: Vec<u32>,
}

fn gunzip(path: &Path) -> Vec<u8> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn be_u32(b: &[u8]) -> usize {
    u32::from_be_bytes(b[..4].try_into().unwrap()) as usize
}

pub fn mnist() -> &'static Mnist {
    static DATA: OnceLock<Mnist> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = Path::new(MNIST_DIR);
        let img = gunzip(&dir.join("images-idx3-ubyte.gz"));
        let lab = gunzip(&dir.join("labels-idx1-ubyte.gz"));
        assert_eq!(be_u32(&img), 0x0803);
        assert_eq!(be_u32(&lab), 0x0801);
        let n = be_u32(&img[4..]);
        assert_eq!((n, be_u32(&img[8..]), be_u32(&img[12..])), (10_000, 28, 28));
        assert_eq!(be_u32(&lab[4..]), n);
        Mnist {
            images: img[16..].iter().map(|&p| p as f32 / 127.5 - 1.0).collect(),
            labels: lab[8..].iter().map(|&l| l as u32).collect(),
        }
    })
}

pub fn shape() -> InputShape {
    InputShape::new(1, 28, 28).unwrap()
}

/// The first `train` digits for training and the `held_out` after them.
pub fn split(train: usize, held_out: usize) -> TrainingData<'static> {
    let m = mnist();
    let px = 28 * 28;
    TrainingData {
        name: "mnist-10k",
        content_hash: "mnist10k-test",
        train: LabeledImages {
            images: &m.images[..train * px],
            labels: Some(&m.labels[..train]),
            shape: shape(),
        },
        held_out: LabeledImages {
            images: &m.images[train * px..(train + held_out) * px],
            labels: Some(&m.labels[train..train + held_out]),
            shape: shape(),
        },
    }
}
