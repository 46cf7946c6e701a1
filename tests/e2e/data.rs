//! End to end: a sweep whose image data is broken exits with status 2, names the broken file and
//! the sweep's `data` position, and starts no run: a database that exists is left byte-identical,
//! and none is created where there was none.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::common::*;

/// IDX images of `pixel_bytes` bytes of value 7.
fn idx_images(count: u32, side: u32, pixel_bytes: usize) -> Vec<u8> {
    idx_image_bytes(count, side, &vec![7u8; pixel_bytes])
}

fn idx_labels(count: usize) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 1];
    out.extend_from_slice(&(count as u32).to_be_bytes());
    out.extend(std::iter::repeat_n(1u8, count));
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// One broken dataset: the `data:` text (paths relative to the sweep file), the file the error
/// must name (relative to the sweep's folder), and a phrase of the message.
struct Case {
    name: &'static str,
    data: String,
    names: &'static str,
    says: &'static str,
}

/// Writes every broken dataset under `dir/data/`.
fn broken_datasets(dir: &Path) -> Vec<Case> {
    let d = dir.join("data");
    write(&d.join("ok-images"), &idx_images(4, 2, 16));
    write(&d.join("ok-labels"), &idx_labels(4));
    write(&d.join("three-labels"), &idx_labels(3));
    write(&d.join("cut-images"), &idx_images(4, 2, 13));
    write(&d.join("cut-images.gz"), &gzip(&idx_images(4, 2, 13)));
    let gz = gzip(&idx_images(400, 28, 400 * 784));
    write(&d.join("cut-stream.gz"), &gz[..gz.len() / 2]);
    write(&d.join("page.gz"), b"<!DOCTYPE html><html>Not Found</html>");
    std::fs::create_dir_all(d.join("no-images/sub")).unwrap();
    write(&d.join("no-images/notes.txt"), b"nothing to see");
    write(&d.join("bad-folder/cats/ok.png"), &tiny_png());
    write(&d.join("bad-folder/dogs/bad.png"), b"GIF89a, not a PNG");
    write(&d.join("cifar.bin"), &vec![0u8; 3073 * 2 - 5]);
    for b in [1, 2, 3, 5] {
        write(
            &d.join(format!("cifar/data_batch_{b}.bin")),
            &vec![0u8; 3073],
        );
    }
    let idx = |images: &str, labels: Option<&str>| match labels {
        Some(l) => format!(r#"Idx(images: "data/{images}", labels: "data/{l}")"#),
        None => format!(r#"Idx(images: "data/{images}")"#),
    };
    vec![
        Case {
            name: "missing images file",
            data: idx("no-such-file.gz", None),
            names: "data/no-such-file.gz",
            says: "no such IDX images file",
        },
        Case {
            name: "missing labels file",
            data: idx("ok-images", Some("no-such-labels")),
            names: "data/no-such-labels",
            says: "no such IDX labels file",
        },
        Case {
            name: "wrong magic: a web page",
            data: idx("page.gz", None),
            names: "data/page.gz",
            says: "expected magic number 0x00000803, found 0x3c21444f",
        },
        Case {
            name: "wrong magic: images and labels swapped",
            data: idx("ok-labels", Some("ok-images")),
            names: "data/ok-labels",
            says: "are `images` and `labels` swapped?",
        },
        Case {
            name: "truncated raw file",
            data: idx("cut-images", None),
            names: "data/cut-images",
            says: "truncated: expected 32 bytes (16-byte header + 4 images of 2×2), found 29",
        },
        Case {
            name: "truncated data in a gzip file",
            data: idx("cut-images.gz", None),
            names: "data/cut-images.gz",
            says: "truncated: expected 32 bytes",
        },
        Case {
            name: "truncated gzip stream",
            data: idx("cut-stream.gz", None),
            names: "data/cut-stream.gz",
            says: "the gzip data is truncated or corrupt",
        },
        Case {
            name: "image and label counts differ",
            data: idx("ok-images", Some("three-labels")),
            names: "data/three-labels",
            says: "holds 4 images but",
        },
        Case {
            name: "missing image folder",
            data: r#"ImageFolder(path: "data/no-such-folder", size: 8, channels: 1)"#.into(),
            names: "data/no-such-folder",
            says: "no such image folder",
        },
        Case {
            name: "image folder without images",
            data: r#"ImageFolder(path: "data/no-images", size: 8, channels: 1)"#.into(),
            names: "data/no-images",
            says: "no images found",
        },
        Case {
            name: "undecodable image",
            data: r#"ImageFolder(path: "data/bad-folder", size: 8, channels: 3)"#.into(),
            names: "data/bad-folder/dogs/bad.png",
            says: "cannot decode the image",
        },
        Case {
            name: "CIFAR-10 file of the wrong size",
            data: r#"Cifar10(path: "data/cifar.bin")"#.into(),
            names: "data/cifar.bin",
            says: "is not a whole, non-zero number of CIFAR-10 records",
        },
        Case {
            name: "CIFAR-10 folder missing a batch",
            data: r#"Cifar10(path: "data/cifar")"#.into(),
            names: "data/cifar/data_batch_4.bin",
            says: "no such CIFAR-10 batch file",
        },
    ]
}

/// A valid 2×2 grayscale PNG, from the format's specification: signature, IHDR, one IDAT (zlib,
/// filter byte 0 per row), IEND, each chunk with its CRC-32.
fn tiny_png() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    // 2×2, bit depth 8, colour type 0 (gray), deflate, adaptive filtering, no interlace.
    chunk(&mut png, b"IHDR", &[0, 0, 0, 2, 0, 0, 0, 2, 8, 0, 0, 0, 0]);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&[0, 10, 20, 0, 30, 40]).unwrap();
    chunk(&mut png, b"IDAT", &z.finish().unwrap());
    chunk(&mut png, b"IEND", &[]);
    png
}

fn sweep_file(dir: &Path, name: &str, data: &str) -> PathBuf {
    let path = dir.join(format!("{name}.ron"));
    std::fs::write(
        &path,
        format!(
            "Sweep(\n    name: \"{name}\",\n    steps: 5,\n    data: {data},\n    eval_every: 5,\n    \
             eval_samples: 100,\n    seeds: 1,\n    base: {{\"batch_size\": 16, \"hidden\": 8}},\n    \
             variants: [(plugin: \"gan\")],\n)\n"
        ),
    )
    .unwrap();
    path
}

/// Checks one broken case's exit status and message; returns the message.
fn check_refused(dir: &Path, case: &Case, db: &Path) {
    let sweep = sweep_file(dir, "broken", &case.data);
    let (code, _, stderr) = run_sweep(&sweep, db, &[]);
    assert_eq!(code, 2, "{}: exit {code}\n{stderr}", case.name);
    let named = dir.join(case.names);
    assert!(
        stderr.contains(&format!("{}", named.display())),
        "{}: the message does not name {}:\n{stderr}",
        case.name,
        named.display()
    );
    assert!(stderr.contains(case.says), "{}: {stderr}", case.name);
    // Located at the sweep's `data` value: line 4, column 11.
    assert!(
        stderr.contains(&format!("{}:4:11: `data`: ", sweep.display())),
        "{}: {stderr}",
        case.name
    );
}

#[test]
fn broken_data_exits_2_naming_the_file_and_creates_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let db = dir.join("fresh.sqlite");
    for case in broken_datasets(dir) {
        check_refused(dir, &case, &db);
        assert!(!db.exists(), "{}: a database was created", case.name);
        assert!(
            !db.with_extension("runs").exists(),
            "{}: a runs folder was created",
            case.name
        );
    }
}

#[test]
fn broken_data_leaves_an_existing_database_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let db = dir.join("db.sqlite");
    let (code, _, stderr) = run_sweep(&sweep_file(dir, "toy", "\"ring8\""), &db, &[]);
    assert_eq!(code, 0, "{stderr}");
    let before = std::fs::read(&db).unwrap();
    let runs_before = std::fs::read_dir(db.with_extension("runs"))
        .map(|d| d.count())
        .unwrap_or(0);
    for case in broken_datasets(dir) {
        check_refused(dir, &case, &db);
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "the database changed");
    let runs_after = std::fs::read_dir(db.with_extension("runs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(runs_after, runs_before, "a run folder was created");
}

#[test]
fn the_valid_png_of_the_broken_folder_case_decodes() {
    // The folder case must fail on bad.png alone: its neighbour, written by hand above, is valid.
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("imgs/a/ok.png"), &tiny_png());
    let data = ganbench_data::open(&format!(
        "ImageFolder(path: {:?}, size: 2, channels: 1, held_out: 0)",
        dir.path().join("imgs").to_str().unwrap()
    ))
    .unwrap();
    let images = data.as_images().unwrap();
    assert_eq!(images.train().pixels(), [10, 20, 30, 40]);
}
