//! Image datasets: IDX (raw and gzipped), CIFAR-10 batches and image folders, each malformed case,
//! the split, sampling and the content hash. Test files are written byte by byte here, from the
//! formats' published layouts, so the reader is checked against what the formats say, not against
//! itself.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use ganbench_data::{
    open, pixel_value, DataError, DataStream, Dataset, HeldOut, ImageDataset, ImageSpec,
};
use image::{ImageBuffer, Luma, Rgb, Rgba};

// ---------------------------------------------------------------------------------------------
// Helpers: files written from the formats' layouts.

/// IDX images: magic 0x00000803, then count, rows, columns (big-endian u32), then the bytes.
fn idx_images(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, 0x03];
    for d in [count, rows, cols] {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// IDX labels: magic 0x00000801, then count, then the bytes.
fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, 0x01];
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

fn idx(images: &Path, labels: Option<&Path>) -> ImageSpec {
    ImageSpec::Idx {
        images: images.to_path_buf(),
        labels: labels.map(Path::to_path_buf),
        transpose: false,
        held_out: Some(HeldOut::Count(0)),
    }
}

/// Three 2×3 images whose bytes are 10·image + position, and labels 7, 0, 255.
fn three_images() -> (Vec<u8>, Vec<u8>) {
    let pixels: Vec<u8> = (0..3u8)
        .flat_map(|i| (0..6u8).map(move |p| 10 * i + p))
        .collect();
    (idx_images(3, 2, 3, &pixels), idx_labels(&[7, 0, 255]))
}

fn expect_err<T: std::fmt::Debug>(result: Result<T, DataError>) -> (DataError, String) {
    let err = result.expect_err("must fail");
    let text = err.to_string();
    (err, text)
}

// ---------------------------------------------------------------------------------------------
// IDX

#[test]
fn idx_raw_and_gzipped_files_read_the_same_images_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = three_images();
    let raw = idx(
        &write(dir.path(), "raw-images", &images),
        Some(&write(dir.path(), "raw-labels", &labels)),
    );
    // Gzip is recognized by its magic bytes, whatever the file is called.
    let gz = idx(
        &write(dir.path(), "gz-images.bin", &gzip(&images)),
        Some(&write(dir.path(), "gz-labels.gz", &gzip(&labels))),
    );
    for spec in [&raw, &gz] {
        let summary = spec.inspect().unwrap();
        assert_eq!(
            (summary.total, summary.shape, summary.labelled),
            (3, [1, 2, 3], true)
        );
        let all = spec.load_all().unwrap();
        assert_eq!(all.shape(), [1, 2, 3]);
        assert_eq!(all.pixels(), &images[16..]);
        assert_eq!(all.labels().unwrap(), [7, 0, 255]);
        assert_eq!(all.image(1), [10, 11, 12, 13, 14, 15]);
    }
}

#[test]
fn idx_without_labels_is_unlabelled() {
    let dir = tempfile::tempdir().unwrap();
    let (images, _) = three_images();
    let spec = idx(&write(dir.path(), "images", &images), None);
    assert!(!spec.inspect().unwrap().labelled);
    let data = ImageDataset::open(&spec).unwrap();
    assert!(!data.is_labelled());
    assert_eq!(data.num_classes(), 0);
    assert!(data.train().labels().is_none());
}

#[test]
fn idx_transpose_turns_each_image_over_its_diagonal() {
    // EMNIST stores images transposed: stored row r, column c is displayed at row c, column r.
    let dir = tempfile::tempdir().unwrap();
    let stored = [1, 2, 3, 4, 5, 6]; // 2 rows × 3 columns: [[1,2,3],[4,5,6]]
    let spec = ImageSpec::Idx {
        images: write(dir.path(), "emnist", &idx_images(1, 2, 3, &stored)),
        labels: None,
        transpose: true,
        held_out: Some(HeldOut::Count(0)),
    };
    assert_eq!(spec.inspect().unwrap().shape, [1, 3, 2]);
    let all = spec.load_all().unwrap();
    assert_eq!(all.shape(), [1, 3, 2]);
    assert_eq!(all.pixels(), [1, 4, 2, 5, 3, 6]); // [[1,4],[2,5],[3,6]]
}

#[test]
fn idx_wrong_magic_says_what_was_expected_and_what_the_file_looks_like() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = three_images();
    let images_path = write(dir.path(), "images", &images);
    let labels_path = write(dir.path(), "labels", &labels);

    // Swapped files.
    let (err, text) = expect_err(idx(&labels_path, Some(&images_path)).inspect());
    assert!(matches!(err, DataError::WrongMagic { .. }), "{err:?}");
    assert!(
        text.contains(&labels_path.display().to_string())
            && text.contains("expected magic number 0x00000803")
            && text.contains("found 0x00000801")
            && text.contains("are `images` and `labels` swapped?"),
        "{text}"
    );
    // A text file, e.g. an error page saved under the data file's name.
    let html = write(
        dir.path(),
        "page.gz",
        b"<!DOCTYPE html><html><body>Not Found",
    );
    let (_, text) = expect_err(idx(&html, None).inspect());
    assert!(
        text.contains("page.gz") && text.contains("a failed download?"),
        "{text}"
    );
    // A gzipped PNG, and an empty file.
    let png = write(dir.path(), "png.gz", &gzip(b"\x89PNG\r\n\x1a\n0000"));
    let (_, text) = expect_err(idx(&png, None).inspect());
    assert!(
        text.contains("a PNG image") && text.contains("0x89504e47"),
        "{text}"
    );
    let empty = write(dir.path(), "empty", b"");
    let (_, text) = expect_err(ImageDataset::open(&idx(&empty, None)));
    assert!(
        text.contains("found no bytes (the file is empty)"),
        "{text}"
    );
    // The labels file is checked too.
    let (_, text) = expect_err(idx(&images_path, Some(&images_path)).inspect());
    assert!(text.contains("expected magic number 0x00000801"), "{text}");
}

#[test]
fn idx_truncated_and_overlong_files_give_expected_and_actual_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = three_images();
    // 16-byte header + 3 × 6 bytes = 34 bytes; cut to 30.
    for (name, bytes) in [
        ("cut", images[..30].to_vec()),
        ("cut.gz", gzip(&images[..30])),
    ] {
        let path = write(dir.path(), name, &bytes);
        let spec = idx(&path, None);
        for (err, text) in [
            expect_err(spec.inspect()),
            expect_err(ImageDataset::open(&spec)),
        ] {
            assert_eq!(
                err,
                DataError::WrongSize {
                    path: path.clone(),
                    expected: 34,
                    actual: 30,
                    layout: "16-byte header + 3 images of 2×3".into(),
                }
            );
            assert!(text.contains(": truncated: expected 34 bytes"), "{text}");
        }
    }
    // A header cut short.
    let path = write(dir.path(), "header", &images[..9]);
    let (_, text) = expect_err(idx(&path, None).inspect());
    assert!(
        text.contains("truncated: expected 16 bytes") && text.contains("found 9"),
        "{text}"
    );
    // Extra bytes after the declared data.
    let mut long = labels.clone();
    long.push(1);
    let path = write(dir.path(), "long-labels", &long);
    let images_path = write(dir.path(), "images", &images);
    let (_, text) = expect_err(idx(&images_path, Some(&path)).inspect());
    assert!(
        text.contains("longer than declared: expected 11 bytes"),
        "{text}"
    );
}

#[test]
fn a_truncated_gzip_stream_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (images, _) = three_images();
    let gz = gzip(&images);
    let path = write(dir.path(), "images.gz", &gz[..gz.len() - 12]);
    let (err, text) = expect_err(idx(&path, None).inspect());
    assert!(matches!(err, DataError::Format { .. }), "{err:?}");
    assert!(
        text.contains("images.gz") && text.contains("gzip data is truncated"),
        "{text}"
    );
}

#[test]
fn idx_image_and_label_counts_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    let (images, _) = three_images();
    let images_path = write(dir.path(), "images", &images);
    let labels_path = write(dir.path(), "labels", &idx_labels(&[1, 2]));
    let spec = idx(&images_path, Some(&labels_path));
    for (err, text) in [
        expect_err(spec.inspect()),
        expect_err(ImageDataset::open(&spec)),
    ] {
        assert_eq!(
            err,
            DataError::CountMismatch {
                images: images_path.clone(),
                labels: labels_path.clone(),
                image_count: 3,
                label_count: 2,
            }
        );
        assert!(
            text.contains("holds 3 images but") && text.contains("holds 2 labels"),
            "{text}"
        );
    }
}

#[test]
fn missing_paths_are_named_with_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("no-such-file.gz");
    let (images, _) = three_images();
    let images_path = write(dir.path(), "images", &images);
    for (spec, what) in [
        (idx(&gone, None), "no such IDX images file"),
        (idx(&images_path, Some(&gone)), "no such IDX labels file"),
        (
            ImageSpec::ImageFolder {
                path: gone.clone(),
                size: 8,
                channels: 1,
                held_out: None,
            },
            "no such image folder",
        ),
        (
            ImageSpec::Cifar10 {
                path: gone.clone(),
                held_out: None,
            },
            "no such CIFAR-10 folder or batch file",
        ),
    ] {
        for (err, text) in [
            expect_err(spec.inspect()),
            expect_err(ImageDataset::open(&spec)),
        ] {
            assert!(matches!(err, DataError::MissingPath { .. }), "{err:?}");
            assert!(
                text.starts_with(&format!("{}: {what}; ", gone.display())),
                "{text}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CIFAR-10

/// One CIFAR-10 record: the label, then 1024 red, 1024 green and 1024 blue bytes. Pixel (y, x) of
/// channel c of image `seed` is `(seed + 3c + y + x) mod 256`.
fn cifar_record(label: u8, seed: u8) -> Vec<u8> {
    let mut out = vec![label];
    for c in 0..3u32 {
        for y in 0..32u32 {
            for x in 0..32u32 {
                out.push(((u32::from(seed) + 3 * c + y + x) % 256) as u8);
            }
        }
    }
    out
}

#[test]
fn cifar_batches_read_as_channel_major_images_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("cifar-10-batches-bin");
    // Five training batches of 1 or 2 records; test_batch.bin must not be read.
    for b in 1..=5u8 {
        let mut bytes = cifar_record(b, 10 * b);
        if b == 2 {
            bytes.extend(cifar_record(9, 99));
        }
        write(&folder, &format!("data_batch_{b}.bin"), &bytes);
    }
    write(&folder, "test_batch.bin", &cifar_record(0, 0));
    let spec = ImageSpec::Cifar10 {
        path: folder.clone(),
        held_out: Some(HeldOut::Count(0)),
    };
    assert_eq!(spec.inspect().unwrap().total, 6);
    let all = spec.load_all().unwrap();
    assert_eq!(all.shape(), [3, 32, 32]);
    assert_eq!(all.labels().unwrap(), [1, 2, 9, 3, 4, 5]);
    // Image 2 is batch 2's second record (seed 99): green (c = 1) at y = 4, x = 5.
    assert_eq!(all.image(2)[1024 + 4 * 32 + 5], 99 + 3 + 4 + 5);
    let data = ImageDataset::open(&spec).unwrap();
    assert_eq!(data.class_names()[9], "truck");

    // One batch file on its own.
    let one = ImageSpec::Cifar10 {
        path: folder.join("test_batch.bin"),
        held_out: Some(HeldOut::Count(0)),
    };
    assert_eq!(one.load_all().unwrap().image(0)[0], 0);
}

#[test]
fn cifar_malformed_batches_are_named() {
    let dir = tempfile::tempdir().unwrap();
    // A record too few bytes.
    let mut short = cifar_record(1, 1);
    short.pop();
    let path = write(dir.path(), "short.bin", &short);
    let spec = ImageSpec::Cifar10 {
        path: path.clone(),
        held_out: None,
    };
    let (err, text) = expect_err(spec.inspect());
    assert_eq!(
        err,
        DataError::CifarRecordSize {
            path: path.clone(),
            size: 3072
        }
    );
    assert!(
        text.contains("3072 bytes is not a whole, non-zero number of CIFAR-10 records"),
        "{text}"
    );
    // A label out of 0..=9 (e.g. a CIFAR-100 file).
    let path = write(dir.path(), "bad-label.bin", &cifar_record(12, 0));
    let (_, text) = expect_err(
        ImageSpec::Cifar10 {
            path,
            held_out: Some(HeldOut::Count(0)),
        }
        .load_all(),
    );
    assert!(
        text.contains("bad-label.bin: record 0 has label 12"),
        "{text}"
    );
    // A folder missing a batch.
    let folder = dir.path().join("partial");
    for b in [1, 2, 4, 5] {
        write(&folder, &format!("data_batch_{b}.bin"), &cifar_record(0, 0));
    }
    let (_, text) = expect_err(
        ImageSpec::Cifar10 {
            path: folder.clone(),
            held_out: None,
        }
        .inspect(),
    );
    assert!(
        text.starts_with(&format!(
            "{}: no such CIFAR-10 batch file",
            folder.join("data_batch_3.bin").display()
        )),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Image folders

fn folder_spec(path: &Path, size: u32, channels: u8) -> ImageSpec {
    ImageSpec::ImageFolder {
        path: path.to_path_buf(),
        size,
        channels,
        held_out: Some(HeldOut::Count(0)),
    }
}

fn save_gray(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32) -> u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    ImageBuffer::from_fn(w, h, |x, y| Luma([f(x, y)]))
        .save(path)
        .unwrap();
}

fn save_rgb(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    ImageBuffer::from_fn(w, h, |x, y| Rgb(f(x, y)))
        .save(path)
        .unwrap();
}

#[test]
fn class_subfolders_become_labels_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    save_gray(&root.join("dogs/b.png"), 4, 4, |x, y| (10 * y + x) as u8);
    save_gray(&root.join("cats/z.PNG"), 4, 4, |_, _| 200);
    save_gray(&root.join("dogs/deeper/a.png"), 4, 4, |_, _| 7);
    // Ignored: hidden files and folders, other extensions.
    save_gray(&root.join(".hidden/x.png"), 4, 4, |_, _| 1);
    save_gray(&root.join("dogs/.x.png"), 4, 4, |_, _| 1);
    write(root, "dogs/notes.txt", b"not an image");

    let spec = folder_spec(root, 4, 1);
    let summary = spec.inspect().unwrap();
    assert_eq!(
        (summary.total, summary.shape, summary.labelled),
        (3, [1, 4, 4], true)
    );
    let data = ImageDataset::open(&spec).unwrap();
    assert_eq!(data.class_names(), ["cats", "dogs"]);
    let all = data.train();
    // Sorted path order: cats/z.PNG, dogs/b.png, dogs/deeper/a.png.
    assert_eq!(all.labels().unwrap(), [0, 1, 1]);
    assert_eq!(all.image(0), [200; 16]);
    // PNG is lossless, and a 4×4 image needs no resizing: every byte is as written.
    let expected: Vec<u8> = (0..4u8)
        .flat_map(|y| (0..4u8).map(move |x| 10 * y + x))
        .collect();
    assert_eq!(all.image(1), expected);
    assert_eq!(all.image(2), [7; 16]);
}

#[test]
fn an_image_directly_in_the_folder_makes_it_unlabelled() {
    let dir = tempfile::tempdir().unwrap();
    save_gray(&dir.path().join("top.png"), 2, 2, |_, _| 0);
    save_gray(&dir.path().join("class/a.png"), 2, 2, |_, _| 0);
    let data = ImageDataset::open(&folder_spec(dir.path(), 2, 1)).unwrap();
    assert!(!data.is_labelled());
    assert_eq!(data.train().len(), 2);
}

#[test]
fn channels_are_converted_with_bt709_luma_and_gray_is_replicated() {
    let dir = tempfile::tempdir().unwrap();
    save_rgb(&dir.path().join("a/rgb.png"), 2, 2, |_, _| [200, 100, 50]);
    save_gray(&dir.path().join("b/gray.png"), 2, 2, |_, _| 77);
    // RGBA: alpha is dropped, not composited.
    std::fs::create_dir_all(dir.path().join("c")).unwrap();
    ImageBuffer::from_fn(2, 2, |_, _| Rgba([9u8, 8, 7, 0]))
        .save(dir.path().join("c/rgba.png"))
        .unwrap();
    let gray = ImageDataset::open(&folder_spec(dir.path(), 2, 1)).unwrap();
    // ITU-R BT.709 luma: 0.2126·200 + 0.7152·100 + 0.0722·50 = 117.65, rounded to 118.
    assert_eq!(gray.train().image(0), [118; 4]);
    assert_eq!(gray.train().image(1), [77; 4]);
    let rgb = ImageDataset::open(&folder_spec(dir.path(), 2, 3)).unwrap();
    assert_eq!(rgb.image_shape(), [3, 2, 2]);
    // Channel-major: four reds, four greens, four blues.
    assert_eq!(
        rgb.train().image(0),
        [200, 200, 200, 200, 100, 100, 100, 100, 50, 50, 50, 50]
    );
    assert_eq!(rgb.train().image(1), [77; 12]);
    assert_eq!(rgb.train().image(2), [9, 9, 9, 9, 8, 8, 8, 8, 7, 7, 7, 7]);
}

#[test]
fn images_are_scaled_to_the_shorter_side_and_centre_cropped() {
    let dir = tempfile::tempdir().unwrap();
    // 16 wide × 8 high: red margins of 4 columns on each side, blue in the middle 8 columns.
    // Scaled by 1/2 to 8 × 4, centre-cropped to 4 × 4: only the blue middle remains.
    save_rgb(&dir.path().join("wide.png"), 16, 8, |x, _| {
        if (4..12).contains(&x) {
            [0, 0, 255]
        } else {
            [255, 0, 0]
        }
    });
    // A constant image stays constant under any resampling.
    save_rgb(&dir.path().join("tall.png"), 3, 9, |_, _| [30, 60, 90]);
    let data = ImageDataset::open(&folder_spec(dir.path(), 4, 3)).unwrap();
    assert_eq!(data.image_shape(), [3, 4, 4]);
    let tall = data.train().image(0);
    assert_eq!(tall, [[30u8; 16], [60; 16], [90; 16]].concat());
    let wide = data.train().image(1);
    // The crop's outer columns sit next to the red margin; bilinear filtering may blend a little
    // red into them, but the centre is pure blue.
    for y in 0..4 {
        for x in 1..3 {
            let at = |c: usize| wide[c * 16 + y * 4 + x];
            assert_eq!((at(0), at(1), at(2)), (0, 0, 255), "pixel ({x}, {y})");
        }
    }
}

#[test]
fn jpeg_files_decode_close_to_what_was_encoded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.jpg");
    let img = ImageBuffer::from_fn(8, 8, |_, _| Rgb([40u8, 140, 220]));
    let file = std::fs::File::create(&path).unwrap();
    image::codecs::jpeg::JpegEncoder::new_with_quality(file, 100)
        .encode_image(&img)
        .unwrap();
    let data = ImageDataset::open(&folder_spec(dir.path(), 8, 3)).unwrap();
    let px = data.train().image(0);
    for (c, want) in [40i32, 140, 220].into_iter().enumerate() {
        for &v in &px[c * 64..(c + 1) * 64] {
            assert!(
                (i32::from(v) - want).abs() <= 3,
                "channel {c}: {v} vs {want}"
            );
        }
    }
}

#[test]
fn an_empty_folder_and_an_undecodable_image_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("sub")).unwrap();
    write(&empty, "readme.txt", b"no images here");
    let (err, text) = expect_err(folder_spec(&empty, 8, 1).inspect());
    assert_eq!(
        err,
        DataError::EmptyFolder {
            path: empty.clone()
        }
    );
    assert!(text.contains("no images found"), "{text}");

    let broken = dir.path().join("broken");
    save_gray(&broken.join("a/good.png"), 2, 2, |_, _| 0);
    let bad = write(&broken, "a/bad.png", b"this is not a PNG at all");
    let spec = folder_spec(&broken, 2, 1);
    for (err, text) in [
        expect_err(spec.inspect()),
        expect_err(ImageDataset::open(&spec)),
    ] {
        assert!(matches!(err, DataError::Undecodable { .. }), "{err:?}");
        assert!(
            text.starts_with(&format!("{}: cannot decode the image", bad.display())),
            "{text}"
        );
    }
    // A PNG whose header is fine but whose data is cut off passes inspection (headers only) and
    // fails when opened.
    let cut = dir.path().join("cut");
    save_gray(&cut.join("x.png"), 64, 64, |x, y| (x * y) as u8);
    let bytes = std::fs::read(cut.join("x.png")).unwrap();
    std::fs::write(cut.join("x.png"), &bytes[..bytes.len() / 2]).unwrap();
    let spec = folder_spec(&cut, 64, 1);
    assert!(spec.inspect().is_ok());
    let (_, text) = expect_err(ImageDataset::open(&spec));
    assert!(text.contains("x.png: cannot decode the image"), "{text}");

    let file = write(dir.path(), "file.png", b"x");
    let (_, text) = expect_err(folder_spec(&file, 2, 1).inspect());
    assert!(text.contains("takes a folder"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// The description: text form and settings

#[test]
fn the_ron_form_round_trips_and_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = three_images();
    let i = write(dir.path(), "im \"q\".gz", &gzip(&images));
    let l = write(dir.path(), "lab", &labels);
    let spec = ImageSpec::Idx {
        images: i,
        labels: Some(l),
        transpose: true,
        held_out: Some(HeldOut::Fraction(0.0)),
    };
    let text = spec.to_string();
    assert!(
        text.starts_with("Idx(images: ") && text.ends_with(", transpose: true, held_out: 0.0)"),
        "{text}"
    );
    assert_eq!(text.parse::<ImageSpec>().unwrap(), spec);
    let opened = open(&text).unwrap();
    assert_eq!(opened.sample_shape(), [1, 3, 2]);
    assert_eq!(opened.name(), text);
    assert!(opened.as_toy().is_none());
    assert_eq!(opened.as_images().unwrap().train().len(), 3);
    assert!(open("ring8").unwrap().as_images().is_none());

    for text in [
        r#"ImageFolder(path: "x", size: 32, channels: 3)"#,
        r#"ImageFolder(path: "x", size: 32, channels: 1, held_out: 500)"#,
        r#"Cifar10(path: "c", held_out: 0.25)"#,
        r#"Idx(images: "a")"#,
    ] {
        let spec: ImageSpec = text.parse().unwrap();
        assert_eq!(spec.to_string(), text);
    }
    let spec: ImageSpec = r#"Idx(images: "a", labels: Some("b"), held_out: 1000)"#
        .parse()
        .unwrap();
    assert_eq!(spec.held_out(), Some(HeldOut::Count(1000)));
}

#[test]
fn bad_settings_are_refused_with_the_accepted_range() {
    for (text, expect) in [
        (
            r#"ImageFolder(path: "x", size: 32, channels: 2)"#,
            "it must be 1 (grayscale) or 3 (RGB)",
        ),
        (
            r#"ImageFolder(path: "x", size: 0, channels: 1)"#,
            "`size` is 0; it must be from 1 to 1024",
        ),
        (
            r#"Cifar10(path: "c", held_out: 1.5)"#,
            "a fraction must be at least 0 and below 1",
        ),
        (r#"Cifar10(path: "")"#, "`path` is empty"),
        (r#"Idx(image: "a")"#, "image"),
    ] {
        let err = text.parse::<ImageSpec>().unwrap_err();
        assert!(
            matches!(err, DataError::BadImageSpec { .. }),
            "{text}: {err:?}"
        );
        assert!(err.to_string().contains(expect), "{text}: {err}");
    }
    // An unknown toy dataset's message lists the image forms too.
    let err = open("mnist").unwrap_err().to_string();
    assert!(
        err.contains("Idx(images:") && err.contains("ImageFolder(path:"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Split, sampling, hash

/// `n` 1×2×2 images, image i filled with byte i, labelled i mod 3.
fn numbered(dir: &Path, n: u8, held_out: Option<HeldOut>) -> ImageSpec {
    let pixels: Vec<u8> = (0..n).flat_map(|i| [i; 4]).collect();
    let labels: Vec<u8> = (0..n).map(|i| i % 3).collect();
    ImageSpec::Idx {
        images: write(
            dir,
            "numbered-images",
            &idx_images(u32::from(n), 2, 2, &pixels),
        ),
        labels: Some(write(dir, "numbered-labels", &idx_labels(&labels))),
        transpose: false,
        held_out,
    }
}

#[test]
fn the_split_follows_the_held_out_setting() {
    let dir = tempfile::tempdir().unwrap();
    for (held_out, expect) in [
        (None, 20), // 10% of 200
        (Some(HeldOut::Fraction(0.25)), 50),
        (Some(HeldOut::Count(7)), 7),
        (Some(HeldOut::Count(0)), 0),
    ] {
        let spec = numbered(dir.path(), 200, held_out);
        assert_eq!(spec.inspect().unwrap().held_out, expect);
        let data = ImageDataset::open(&spec).unwrap();
        let (train, held) = (data.train(), data.held_out());
        assert_eq!((train.len(), held.len()), (200 - expect, expect));
        assert_eq!(
            held.positions(),
            ganbench_data::held_out_positions(200, expect)
        );
        // Every image is in exactly one split, with its own pixels and label.
        let mut seen: Vec<usize> = train
            .positions()
            .iter()
            .chain(held.positions())
            .copied()
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
        for set in [train, held] {
            for (k, &p) in set.positions().iter().enumerate() {
                assert_eq!(set.image(k), [p as u8; 4]);
                assert_eq!(set.labels().unwrap()[k], p as u32 % 3);
            }
        }
    }
    // The default is capped, an explicit fraction is not.
    assert_eq!(HeldOut::count_for(None, 1_000_000).unwrap(), 10_000);
    assert_eq!(
        HeldOut::count_for(Some(HeldOut::Fraction(0.1)), 1_000_000).unwrap(),
        100_000
    );
    // Nothing left to train on.
    for held_out in [HeldOut::Count(200), HeldOut::Count(5000)] {
        let spec = numbered(dir.path(), 200, Some(held_out));
        let (_, text) = expect_err(spec.inspect());
        assert!(
            text.contains("of the dataset's 200 examples, leaving none to train on"),
            "{text}"
        );
        assert!(ImageDataset::open(&spec).is_err());
    }
}

#[test]
fn batches_come_uniformly_from_the_training_split_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = ImageDataset::open(&numbered(dir.path(), 40, Some(HeldOut::Count(10)))).unwrap();
    let train: Vec<usize> = data.train().positions().to_vec();
    let mut stream = DataStream::new(data, 3);
    let rows = 30_000;
    let batch = stream.next_batch(rows);
    assert_eq!(batch.len(), rows * 4);
    let mut counts = [0usize; 40];
    for row in batch.chunks_exact(4) {
        // Image i is filled with byte i, so every value of a row is pixel_value(i).
        let i = ((row[0] + 1.0) * 127.5).round() as usize;
        assert!(row.iter().all(|&v| v == pixel_value(i as u8)));
        counts[i] += 1;
    }
    for (i, &n) in counts.iter().enumerate() {
        if train.contains(&i) {
            // 30,000 draws over 30 images: 1000 each, σ ≈ 31.
            assert!((850..=1150).contains(&n), "image {i}: {n}");
        } else {
            assert_eq!(n, 0, "held-out image {i} was drawn");
        }
    }
}

#[test]
fn the_content_hash_follows_content_not_location() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let hash = |spec: &ImageSpec| ImageDataset::open(spec).unwrap().content_hash().to_string();
    let here = hash(&numbered(a.path(), 50, None));
    assert_eq!(here.len(), 16);
    assert_eq!(
        here,
        hash(&numbered(b.path(), 50, None)),
        "same files elsewhere"
    );
    assert_ne!(
        here,
        hash(&numbered(a.path(), 50, Some(HeldOut::Count(10)))),
        "another split"
    );
    assert_ne!(here, hash(&numbered(a.path(), 51, None)), "one more image");
    // One label changed.
    let spec = numbered(b.path(), 50, None);
    let ImageSpec::Idx {
        labels: Some(labels),
        ..
    } = &spec
    else {
        unreachable!()
    };
    let mut bytes = std::fs::read(labels).unwrap();
    bytes[8 + 17] ^= 1;
    std::fs::write(labels, bytes).unwrap();
    assert_ne!(here, hash(&spec));
}

// ---------------------------------------------------------------------------------------------
// The committed MNIST fixture

fn fixture() -> ImageSpec {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/mnist");
    ImageSpec::Idx {
        images: dir.join("images-idx3-ubyte.gz"),
        labels: Some(dir.join("labels-idx1-ubyte.gz")),
        transpose: false,
        held_out: None,
    }
}

#[test]
fn the_mnist_fixture_matches_the_python_reference() {
    // Reference values: tests/fixtures/mnist/reference.py (gzip + struct, nothing else).
    let data = ImageDataset::open(&fixture()).unwrap();
    assert_eq!(data.image_shape(), [1, 28, 28]);
    assert_eq!(data.num_classes(), 10);
    let (train, held) = (data.train(), data.held_out());
    assert_eq!((train.len(), held.len()), (9_000, 1_000));
    let mut counts = [0usize; 10];
    let mut byte_sum = 0u64;
    let mut value_sum = 0f64;
    for set in [train, held] {
        for &l in set.labels().unwrap() {
            counts[l as usize] += 1;
        }
        byte_sum += set.pixels().iter().map(|&b| u64::from(b)).sum::<u64>();
        let values = set.all_f32();
        assert!(values.iter().all(|v| (-1.0..=1.0).contains(v)));
        value_sum += values.iter().map(|&v| f64::from(v)).sum::<f64>();
    }
    assert_eq!(
        counts,
        [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    );
    assert_eq!(byte_sum, 262_146_600);
    // Σ (b / 127.5 − 1) over all 7,840,000 bytes, from the reference's byte sum.
    let expected = 262_146_600.0 / 127.5 - 7_840_000.0;
    assert!(
        (value_sum - expected).abs() < 1e-6 * 7_840_000.0,
        "{value_sum} vs {expected}"
    );
    // The first image of the file: held out or not, its bytes sum to 30378 and it shows a 6.
    let (set, k) = match held.positions().first() {
        Some(0) => (held, 0),
        _ => (train, 0),
    };
    assert_eq!(set.positions()[k], 0);
    assert_eq!(
        set.image(k).iter().map(|&b| u32::from(b)).sum::<u32>(),
        30_378
    );
    assert_eq!(set.labels().unwrap()[k], 6);
    // Both ends of the range occur.
    assert!(train.pixels().contains(&0) && train.pixels().contains(&255));
    assert_eq!(pixel_value(0), -1.0);
    assert_eq!(pixel_value(255), 1.0);
}

#[test]
fn the_first_mnist_batch_values_are_pinned() {
    // Guards reproducibility of recorded image sweeps: changing the split, the index draw or the
    // pixel scaling must be a deliberate act that updates this test. The rows are identified by
    // their position in the file, so the pin is readable with reference.py's decoding too.
    let all = fixture().load_all().unwrap();
    let data = ImageDataset::open(&fixture()).unwrap();
    let batch = DataStream::new(data, 0).next_batch(3);
    let positions: Vec<usize> = batch
        .chunks_exact(784)
        .map(|row| {
            (0..all.len())
                .find(|&p| {
                    row.iter()
                        .zip(all.image(p))
                        .all(|(&v, &b)| v.to_bits() == pixel_value(b).to_bits())
                })
                .expect("every row is an image of the file")
        })
        .collect();
    assert_eq!(positions, PINNED_POSITIONS);
}

const PINNED_POSITIONS: [usize; 3] = [8881, 3707, 3993];

// ---------------------------------------------------------------------------------------------
// Stacked MNIST

/// 40 digit images of 2×2 pixels, digit `i` filled with byte `i`, labelled `i mod 10`: each
/// channel of a stack tells which digit it came from.
fn forty_digits(dir: &Path) -> (PathBuf, PathBuf) {
    let pixels: Vec<u8> = (0..40u8).flat_map(|i| [i; 4]).collect();
    let labels: Vec<u8> = (0..40u8).map(|i| i % 10).collect();
    (
        write(dir, "digits-images", &idx_images(40, 2, 2, &pixels)),
        write(dir, "digits-labels", &idx_labels(&labels)),
    )
}

fn stacked(images: &Path, labels: &Path, held_out: u64, count: Option<u64>) -> ImageSpec {
    ImageSpec::StackedMnist {
        images: images.to_path_buf(),
        labels: labels.to_path_buf(),
        held_out: Some(HeldOut::Count(held_out)),
        count,
    }
}

#[test]
fn stacked_mnist_stacks_three_digits_of_its_split_with_their_triple_as_class() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = forty_digits(dir.path());
    let spec = stacked(&images, &labels, 10, Some(3000));
    let summary = spec.inspect().unwrap();
    assert_eq!(
        (
            summary.total,
            summary.held_out,
            summary.shape,
            summary.labelled
        ),
        (3010, 10, [3, 2, 2], true)
    );
    let data = ImageDataset::open(&spec).unwrap();
    let digits = data.stacked_digits().expect("the digits are kept");
    assert_eq!((digits.train().len(), digits.held_out().len()), (30, 10));
    assert_eq!((data.train().len(), data.held_out().len()), (3000, 10));
    assert_eq!(data.num_classes(), 1000);
    assert_eq!(data.class_names()[42], "042");
    assert_eq!(data.sample_shape(), [3, 2, 2]);

    let train_digits: Vec<u8> = digits
        .train()
        .positions()
        .iter()
        .map(|&p| p as u8)
        .collect();
    let held_digits: Vec<u8> = digits
        .held_out()
        .positions()
        .iter()
        .map(|&p| p as u8)
        .collect();
    let mut per_channel = [[0usize; 40]; 3];
    for (set, allowed) in [
        (data.train(), &train_digits),
        (data.held_out(), &held_digits),
    ] {
        for i in 0..set.len() {
            let image = set.image(i);
            let mut triple = [0u32; 3];
            for (c, channel) in image.chunks(4).enumerate() {
                // A whole digit per channel, from the stack's own split.
                assert!(channel.iter().all(|&b| b == channel[0]), "{channel:?}");
                assert!(
                    allowed.contains(&channel[0]),
                    "digit {} of the other split",
                    channel[0]
                );
                triple[c] = u32::from(channel[0] % 10);
                if std::ptr::eq(set, data.train()) {
                    per_channel[c][channel[0] as usize] += 1;
                }
            }
            assert_eq!(
                set.labels().unwrap()[i],
                100 * triple[0] + 10 * triple[1] + triple[2]
            );
            assert_eq!(ganbench_data::stack_class(triple), set.labels().unwrap()[i]);
        }
    }
    // Drawn uniformly with replacement: 3,000 draws of 30 digits per channel, each digit 100
    // times on average (σ ≈ 9.8); 55–145 fails only for a broken draw.
    for counts in &per_channel {
        for &d in &train_digits {
            assert!((55..=145).contains(&counts[d as usize]), "{counts:?}");
        }
    }
    // The same stacks every time (the generator is fixed, not the trial's).
    let again = ImageDataset::open(&spec).unwrap();
    assert_eq!(again.train().pixels(), data.train().pixels());
    assert_eq!(again.content_hash(), data.content_hash());
    // The default count is the PacGAN code's 128,000.
    let default = stacked(&images, &labels, 10, None);
    assert_eq!(ImageDataset::open(&default).unwrap().train().len(), 128_000);
}

#[test]
fn stacked_mnist_text_form_round_trips_and_bad_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = forty_digits(dir.path());
    let spec = stacked(&images, &labels, 10, Some(50));
    let text = spec.to_string();
    assert!(text.starts_with("StackedMnist(images: "), "{text}");
    assert_eq!(text.parse::<ImageSpec>().unwrap(), spec);
    let opened = open(&text).unwrap();
    assert_eq!(opened.sample_shape(), [3, 2, 2]);
    let relative = ImageSpec::StackedMnist {
        images: "a/images".into(),
        labels: "a/labels".into(),
        held_out: None,
        count: None,
    };
    assert_eq!(
        relative.resolved_against(Path::new("/data")).paths(),
        [
            ("images", Path::new("/data/a/images")),
            ("labels", Path::new("/data/a/labels"))
        ]
    );

    // No labels: refused by the parser, naming the field.
    let err = "StackedMnist(images: \"x\")"
        .parse::<ImageSpec>()
        .unwrap_err();
    assert!(err.to_string().contains("labels"), "{err}");
    // A count out of range names the range.
    let (_, text) = expect_err(stacked(&images, &labels, 10, Some(0)).validate());
    assert!(
        text.contains("`count` is 0") && text.contains("1 to"),
        "{text}"
    );
    // Labels beyond 9 (not digits) are refused, naming the labels file.
    let labels_12 = write(
        dir.path(),
        "labels-12",
        &idx_labels(&(0..40u8).map(|i| i % 13).collect::<Vec<_>>()),
    );
    let (_, text) = expect_err(ImageDataset::open(&stacked(
        &images,
        &labels_12,
        10,
        Some(5),
    )));
    assert!(
        text.contains("labels-12") && text.contains("label 1"),
        "{text}"
    );
}
