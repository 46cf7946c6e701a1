//! The IDX format of MNIST, Fashion-MNIST, KMNIST and EMNIST: a big-endian header (two zero
//! bytes, a type byte, the number of dimensions, then one `u32` per dimension) followed by the
//! elements in row-major order. Files may be gzipped (detected by the gzip magic, not the name).

use std::path::Path;

use super::io::{count_rest, hex_magic, looks_like, open_maybe_gzip, read_exact_or_eof, read_rest};
use super::LoadedImages;
use crate::error::DataError;

/// Unsigned bytes, 3 dimensions (count, rows, columns).
const IMAGES_MAGIC: [u8; 4] = [0, 0, 0x08, 0x03];
/// Unsigned bytes, 1 dimension (count).
const LABELS_MAGIC: [u8; 4] = [0, 0, 0x08, 0x01];

const MISSING_FIX: &str = "check the path (in a sweep file, relative paths are resolved against \
    the sweep file's folder); MNIST's files are named like train-images-idx3-ubyte.gz and \
    train-labels-idx1-ubyte.gz";

#[derive(Clone, Copy)]
enum Kind {
    Images,
    Labels,
}

impl Kind {
    fn magic(self) -> [u8; 4] {
        match self {
            Kind::Images => IMAGES_MAGIC,
            Kind::Labels => LABELS_MAGIC,
        }
    }

    fn format(self) -> &'static str {
        match self {
            Kind::Images => "an IDX image file",
            Kind::Labels => "an IDX label file",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Images => "IDX images file",
            Kind::Labels => "IDX labels file",
        }
    }

    /// A hint when the file is the other kind of IDX file.
    fn swapped_hint(self, found: &[u8]) -> &'static str {
        match (self, found) {
            (Kind::Images, [0, 0, 8, 1, ..]) | (Kind::Labels, [0, 0, 8, 3, ..]) => {
                ": are `images` and `labels` swapped?"
            }
            _ => "",
        }
    }
}

/// An IDX file's dimensions and, when asked for, its elements.
struct IdxFile {
    dims: Vec<usize>,
    body: Option<Vec<u8>>,
}

/// Reads the header, then the body (`keep_body`) or just its length, and checks that the file
/// holds exactly the elements the header declares.
fn read_idx(path: &Path, kind: Kind, keep_body: bool) -> Result<IdxFile, DataError> {
    let mut reader = open_maybe_gzip(path, kind.what(), MISSING_FIX)?;
    let mut magic = [0u8; 4];
    let got = read_exact_or_eof(path, &mut reader, &mut magic)?;
    if got < 4 || magic != kind.magic() {
        // Read a little more, to say what the file looks like.
        let mut head = magic[..got].to_vec();
        let mut more = [0u8; 300];
        let extra = read_exact_or_eof(path, &mut reader, &mut more).unwrap_or(0);
        head.extend_from_slice(&more[..extra]);
        return Err(DataError::WrongMagic {
            path: path.to_path_buf(),
            format: kind.format(),
            expected: hex_magic(&kind.magic()),
            found: hex_magic(&magic[..got]),
            looks_like: format!("{}{}", looks_like(&head), kind.swapped_hint(&head)),
        });
    }
    let ndims = usize::from(magic[3]);
    let header_len = 4 + 4 * ndims;
    let mut dim_bytes = vec![0u8; 4 * ndims];
    let got = read_exact_or_eof(path, &mut reader, &mut dim_bytes)?;
    if got < dim_bytes.len() {
        return Err(DataError::WrongSize {
            path: path.to_path_buf(),
            expected: header_len as u64,
            actual: (4 + got) as u64,
            layout: format!("a {header_len}-byte header at least"),
        });
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|n| *n < u64::MAX / 2)
        .ok_or_else(|| DataError::Format {
            path: path.to_path_buf(),
            message: format!("the header declares impossible dimensions {dims:?}"),
        })?;
    if matches!(kind, Kind::Images) && (dims[1] == 0 || dims[2] == 0) {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            message: format!(
                "the header declares images of {}×{} pixels; both must be at least 1",
                dims[1], dims[2]
            ),
        });
    }
    let expected = header_len as u64 + elements;
    let layout = match kind {
        Kind::Images => format!(
            "{header_len}-byte header + {} images of {}×{}",
            dims[0], dims[1], dims[2]
        ),
        Kind::Labels => format!("{header_len}-byte header + {} labels", dims[0]),
    };
    let (body, body_len) = if keep_body {
        // Never trust the header with an allocation: grow as the data arrives.
        let mut body = Vec::new();
        read_rest(path, &mut reader, &mut body)?;
        let len = body.len() as u64;
        (Some(body), len)
    } else {
        (None, count_rest(path, &mut reader)?)
    };
    if body_len != elements {
        return Err(DataError::WrongSize {
            path: path.to_path_buf(),
            expected,
            actual: header_len as u64 + body_len,
            layout,
        });
    }
    Ok(IdxFile { dims, body })
}

/// Checks both files' headers and sizes and that their counts agree; returns (count, rows,
/// columns) of the images as stored.
pub(crate) fn inspect(
    images: &Path,
    labels: Option<&Path>,
) -> Result<(usize, usize, usize), DataError> {
    let img = read_idx(images, Kind::Images, false)?;
    let (count, rows, cols) = (img.dims[0], img.dims[1], img.dims[2]);
    if let Some(labels) = labels {
        let lab = read_idx(labels, Kind::Labels, false)?;
        check_counts(images, labels, count, lab.dims[0])?;
    }
    Ok((count, rows, cols))
}

fn check_counts(
    images: &Path,
    labels: &Path,
    image_count: usize,
    label_count: usize,
) -> Result<(), DataError> {
    if image_count == label_count {
        return Ok(());
    }
    Err(DataError::CountMismatch {
        images: images.to_path_buf(),
        labels: labels.to_path_buf(),
        image_count: image_count as u64,
        label_count: label_count as u64,
    })
}

/// Reads the images (transposing each when asked: EMNIST) and the labels.
pub(crate) fn load(
    images: &Path,
    labels: Option<&Path>,
    transpose: bool,
) -> Result<LoadedImages, DataError> {
    let img = read_idx(images, Kind::Images, true)?;
    let (count, rows, cols) = (img.dims[0], img.dims[1], img.dims[2]);
    let labels = match labels {
        Some(path) => {
            let lab = read_idx(path, Kind::Labels, true)?;
            check_counts(images, path, count, lab.dims[0])?;
            Some(
                lab.body
                    .expect("asked for the body")
                    .into_iter()
                    .map(u32::from)
                    .collect(),
            )
        }
        None => None,
    };
    let mut pixels = img.body.expect("asked for the body");
    let (height, width) = if transpose {
        let mut out = vec![0u8; pixels.len()];
        for (src, dst) in pixels
            .chunks_exact(rows * cols)
            .zip(out.chunks_exact_mut(rows * cols))
        {
            // Stored row r, column c becomes row c, column r.
            for r in 0..rows {
                for c in 0..cols {
                    dst[c * rows + r] = src[r * cols + c];
                }
            }
        }
        pixels = out;
        (cols, rows)
    } else {
        (rows, cols)
    };
    Ok(LoadedImages {
        shape: [1, height, width],
        pixels,
        labels,
        class_names: None,
    })
}
