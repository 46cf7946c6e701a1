//! Folders of PNG and JPEG images, searched recursively; class subfolders become labels.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, ImageReader};

use super::io::{io_error, open_error};
use super::LoadedImages;
use crate::error::DataError;

const MISSING_FIX: &str = "check the path (in a sweep file, relative paths are resolved against \
    the sweep file's folder)";

/// The image files under `root` in sorted path order, and their class names when every image
/// lies in a subfolder (the first component below `root`).
struct Listing {
    files: Vec<PathBuf>,
    /// Per file, its class index into `classes`; `None` when some image lies directly in `root`.
    labels: Option<Vec<u32>>,
    classes: Vec<String>,
}

fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

fn list(root: &Path) -> Result<Listing, DataError> {
    let meta =
        std::fs::metadata(root).map_err(|e| open_error(root, &e, "image folder", MISSING_FIX))?;
    if !meta.is_dir() {
        return Err(DataError::Format {
            path: root.to_path_buf(),
            message: "is a file; `ImageFolder(path: …)` takes a folder".into(),
        });
    }
    let mut files = Vec::new();
    let walk = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        // Hidden files and folders (`.DS_Store`, `.git`) are never data; the root may be `.`.
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walk {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(root).to_path_buf();
            match e.into_io_error() {
                Some(io) => io_error(&path, &io),
                None => DataError::Io {
                    path,
                    message: "a symbolic link loops back to a folder above it".into(),
                },
            }
        })?;
        if entry.file_type().is_file() && is_image_file(entry.path()) {
            files.push(entry.into_path());
        }
    }
    if files.is_empty() {
        return Err(DataError::EmptyFolder {
            path: root.to_path_buf(),
        });
    }
    // Sorted by full path (walkdir sorts within each folder only).
    files.sort();
    let class_of = |file: &Path| -> Option<String> {
        let relative = file.strip_prefix(root).ok()?;
        let mut parts = relative.components();
        let first = parts.next()?;
        parts.next()?; // the image itself: the file must lie below a subfolder
        Some(first.as_os_str().to_string_lossy().into_owned())
    };
    let names: Option<Vec<String>> = files.iter().map(|f| class_of(f)).collect();
    let (labels, classes) = match names {
        Some(names) => {
            let mut classes = names.clone();
            classes.sort();
            classes.dedup();
            let labels = names
                .iter()
                .map(|n| classes.binary_search(n).expect("listed") as u32)
                .collect();
            (Some(labels), classes)
        }
        None => (None, Vec::new()),
    };
    Ok(Listing {
        files,
        labels,
        classes,
    })
}

fn undecodable(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Undecodable {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn reader(path: &Path) -> Result<ImageReader<std::io::BufReader<std::fs::File>>, DataError> {
    ImageReader::open(path)
        .map_err(|e| io_error(path, &e))?
        // By content, not by name: a `.png` that is really a JPEG still loads.
        .with_guessed_format()
        .map_err(|e| io_error(path, &e))
}

/// Lists the images and reads each one's header (not its pixels); returns the image count and
/// whether the folder is labelled.
pub(crate) fn inspect(root: &Path) -> Result<(usize, bool), DataError> {
    let listing = list(root)?;
    for file in &listing.files {
        reader(file)?
            .into_dimensions()
            .map_err(|e| undecodable(file, e))?;
    }
    Ok((listing.files.len(), listing.labels.is_some()))
}

/// Decodes every image, converts it to `channels`, and scales and centre-crops it to
/// `size`×`size` (see [`super::ImageSpec::ImageFolder`]).
pub(crate) fn load(root: &Path, size: u32, channels: u8) -> Result<LoadedImages, DataError> {
    let listing = list(root)?;
    let side = size as usize;
    let plane = side * side;
    let channels = usize::from(channels);
    let mut pixels = Vec::with_capacity(listing.files.len() * channels * plane);
    for file in &listing.files {
        let decoded = reader(file)?.decode().map_err(|e| undecodable(file, e))?;
        let converted = if channels == 1 {
            DynamicImage::ImageLuma8(decoded.to_luma8())
        } else {
            DynamicImage::ImageRgb8(decoded.to_rgb8())
        };
        let sized = if converted.width() == size && converted.height() == size {
            converted
        } else {
            converted.resize_to_fill(size, size, FilterType::Triangle)
        };
        let interleaved = sized.as_bytes();
        debug_assert_eq!(interleaved.len(), plane * channels);
        // Height × width × channels → channels × height × width.
        for c in 0..channels {
            pixels.extend(interleaved.iter().skip(c).step_by(channels));
        }
    }
    let class_names = listing.labels.as_ref().map(|_| listing.classes.clone());
    Ok(LoadedImages {
        shape: [channels, side, side],
        pixels,
        labels: listing.labels,
        class_names,
    })
}
