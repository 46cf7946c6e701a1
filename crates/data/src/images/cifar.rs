//! CIFAR-10's binary format: each batch file is a sequence of 3073-byte records, one label byte
//! (0–9) then 3072 pixel bytes: the 1024 red values of the 32×32 image row by row, then the
//! green, then the blue (already channel-major, as ganbench stores images).

use std::path::{Path, PathBuf};

use super::io::{io_error, open_error};
use super::LoadedImages;
use crate::error::DataError;

/// Bytes per record: the label and 3 × 32 × 32 pixels.
pub(crate) const RECORD_BYTES: u64 = 1 + 3 * 32 * 32;

/// The training batches a CIFAR-10 folder must hold, in this order.
const TRAIN_BATCHES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];

/// CIFAR-10's class names, in label order (as in the archive's `batches.meta.txt`).
pub(crate) const CLASS_NAMES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

const MISSING_FIX: &str = "point `path` at the `cifar-10-batches-bin` folder extracted from \
    cifar-10-binary.tar.gz, or at one of its .bin files";

/// The batch files `path` stands for: the five training batches of a folder, or the file itself.
fn batch_files(path: &Path) -> Result<Vec<PathBuf>, DataError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| open_error(path, &e, "CIFAR-10 folder or batch file", MISSING_FIX))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let files: Vec<PathBuf> = TRAIN_BATCHES.iter().map(|f| path.join(f)).collect();
    for file in &files {
        if !file.is_file() {
            return Err(DataError::MissingPath {
                path: file.clone(),
                what: "CIFAR-10 batch file",
                fix: format!(
                    "a CIFAR-10 folder must hold {}; {MISSING_FIX}",
                    TRAIN_BATCHES.join(", ")
                ),
            });
        }
    }
    Ok(files)
}

/// Records in one batch file, from its size.
fn records_in(file: &Path) -> Result<usize, DataError> {
    let size = std::fs::metadata(file)
        .map_err(|e| io_error(file, &e))?
        .len();
    if size == 0 || size % RECORD_BYTES != 0 {
        return Err(DataError::CifarRecordSize {
            path: file.to_path_buf(),
            size,
        });
    }
    Ok((size / RECORD_BYTES) as usize)
}

/// Checks that the batch files exist and are whole numbers of records; returns the image count.
pub(crate) fn inspect(path: &Path) -> Result<usize, DataError> {
    batch_files(path)?
        .iter()
        .try_fold(0, |total, file| Ok(total + records_in(file)?))
}

/// Reads every record of every batch file, in file order.
pub(crate) fn load(path: &Path) -> Result<LoadedImages, DataError> {
    let files = batch_files(path)?;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for file in &files {
        let records = records_in(file)?;
        let bytes = std::fs::read(file).map_err(|e| io_error(file, &e))?;
        if bytes.len() as u64 != records as u64 * RECORD_BYTES {
            return Err(DataError::CifarRecordSize {
                path: file.clone(),
                size: bytes.len() as u64,
            });
        }
        pixels.reserve(records * 3072);
        for (i, record) in bytes.chunks_exact(RECORD_BYTES as usize).enumerate() {
            let label = record[0];
            if usize::from(label) >= CLASS_NAMES.len() {
                return Err(DataError::Format {
                    path: file.clone(),
                    message: format!(
                        "record {i} has label {label}; CIFAR-10 labels are 0 to 9 (CIFAR-100's \
                         files have two label bytes per record and are not supported)"
                    ),
                });
            }
            labels.push(u32::from(label));
            pixels.extend_from_slice(&record[1..]);
        }
    }
    Ok(LoadedImages {
        shape: [3, 32, 32],
        pixels,
        labels: Some(labels),
        class_names: Some(CLASS_NAMES.iter().map(|s| s.to_string()).collect()),
    })
}
