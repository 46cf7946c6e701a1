//! The `data` field's image forms: parsing, path resolution, the spec hash, and the file checks
//! that run at validation. (Each broken-file case is also in tests/malformed/, with its position.)

use crate::common;
use std::path::{Path, PathBuf};

use ganbench_data::{HeldOut, ImageSpec};
use ganbench_spec::{DataSpec, ErrorKind, Sweep};

fn sweep_text(data: &str) -> String {
    format!(
        "Sweep(\n    name: \"images\",\n    data: {data},\n    steps: 10,\n    eval_every: 5,\n    \
         seeds: 1,\n    variants: [(plugin: \"gan\")],\n)\n"
    )
}

/// The committed MNIST fixture, from the repository root.
fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/mnist")
}

/// Writes `sweep.ron` into `dir` with the fixture copied to `dir/data/`.
fn sweep_beside_a_copy_of_the_fixture(dir: &Path, data: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    for f in ["images-idx3-ubyte.gz", "labels-idx1-ubyte.gz"] {
        std::fs::copy(fixture_dir().join(f), dir.join("data").join(f)).unwrap();
    }
    let path = dir.join("sweep.ron");
    std::fs::write(&path, sweep_text(data)).unwrap();
    path
}

const RELATIVE: &str =
    r#"Idx(images: "data/images-idx3-ubyte.gz", labels: "data/labels-idx1-ubyte.gz")"#;

#[test]
fn relative_paths_resolve_against_the_sweep_files_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = sweep_beside_a_copy_of_the_fixture(dir.path(), RELATIVE);
    // Loaded from another working directory's point of view: the path is all that matters.
    let sweep = Sweep::load(&path).unwrap();
    sweep.validate(&common::catalog()).unwrap();
    let resolved = sweep.data.images().expect("an image dataset");
    let folder = std::path::absolute(dir.path()).unwrap();
    assert_eq!(
        *resolved,
        ImageSpec::Idx {
            images: folder.join("data/images-idx3-ubyte.gz"),
            labels: Some(folder.join("data/labels-idx1-ubyte.gz")),
            transpose: false,
            held_out: None,
        }
    );
    // What the runner hands its workers: the resolved spec; shown as the RON form with absolute
    // paths.
    let source = sweep.data.source();
    assert_eq!(source, ganbench_data::DataSource::Images(resolved.clone()));
    assert_eq!(
        sweep.data.to_string().parse::<ImageSpec>().unwrap(),
        *resolved
    );
    let dataset = source.open().unwrap();
    assert_eq!(dataset.sample_shape(), [1, 28, 28]);
    assert_eq!(dataset.as_images().unwrap().train().len(), 9_000);
}

#[test]
fn absolute_paths_are_kept() {
    let images = std::path::absolute(fixture_dir().join("images-idx3-ubyte.gz")).unwrap();
    let text = sweep_text(&format!(
        "Idx(images: {:?}, held_out: 0.5)",
        images.to_str().unwrap()
    ));
    let sweep = Sweep::parse(&text, "/somewhere/else/sweep.ron").unwrap();
    sweep.validate(&common::catalog()).unwrap();
    let Some(ImageSpec::Idx {
        images: resolved,
        labels: None,
        held_out: Some(HeldOut::Fraction(f)),
        ..
    }) = sweep.data.images()
    else {
        panic!("{:?}", sweep.data)
    };
    assert_eq!((resolved, *f), (&images, 0.5));
}

#[test]
fn every_image_form_parses() {
    for (data, expect) in [
        (
            r#"ImageFolder(path: "faces", size: 32, channels: 3)"#,
            ImageSpec::ImageFolder {
                path: "faces".into(),
                size: 32,
                channels: 3,
                held_out: None,
            },
        ),
        (
            r#"Cifar10(path: "cifar-10-batches-bin", held_out: 5000)"#,
            ImageSpec::Cifar10 {
                path: "cifar-10-batches-bin".into(),
                held_out: Some(HeldOut::Count(5000)),
            },
        ),
        (
            r#"Idx(images: "e.gz", labels: Some("l.gz"), transpose: true, held_out: 0.25)"#,
            ImageSpec::Idx {
                images: "e.gz".into(),
                labels: Some("l.gz".into()),
                transpose: true,
                held_out: Some(HeldOut::Fraction(0.25)),
            },
        ),
    ] {
        let sweep = Sweep::parse(&sweep_text(data), "/base/s.ron").unwrap();
        let DataSpec::Images { written, resolved } = &sweep.data else {
            panic!("{data}: {:?}", sweep.data)
        };
        assert_eq!(*written, expect, "{data}");
        assert_eq!(
            *resolved,
            expect.resolved_against(Path::new("/base")),
            "{data}"
        );
    }
}

#[test]
fn the_spec_hash_covers_paths_as_written_not_where_the_file_lies() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let hash = |path: &Path| Sweep::load(path).unwrap().spec_hash();
    let in_a = hash(&sweep_beside_a_copy_of_the_fixture(a.path(), RELATIVE));
    let in_b = hash(&sweep_beside_a_copy_of_the_fixture(b.path(), RELATIVE));
    assert_eq!(in_a, in_b);
    let other = RELATIVE.replace("labels: \"data/labels-idx1-ubyte.gz\"", "held_out: 10");
    assert_ne!(
        in_a,
        hash(&sweep_beside_a_copy_of_the_fixture(a.path(), &other))
    );
    // The toy forms hash as before: a string (this pins that image support changed nothing).
    let toy = Sweep::parse(&sweep_text("\"ring8\""), "t.ron").unwrap();
    let json = serde_json::to_value(&toy).unwrap();
    assert_eq!(json["data"], "ring8");
}

#[test]
fn a_sweep_with_image_data_round_trips_through_json() {
    let sweep = Sweep::parse(&sweep_text(RELATIVE), "/base/s.ron").unwrap();
    let json = serde_json::to_string(&sweep).unwrap();
    assert!(
        json.contains(r#""data":{"Idx":{"images":"data/images-idx3-ubyte.gz""#),
        "{json}"
    );
    let back: Sweep = serde_json::from_str(&json).unwrap();
    assert_eq!(back.spec_hash(), sweep.spec_hash());
}

#[test]
fn broken_data_stops_validation_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = sweep_beside_a_copy_of_the_fixture(dir.path(), RELATIVE);
    // Cut the labels file: a gzip stream that ends early.
    let labels = dir.path().join("data/labels-idx1-ubyte.gz");
    let bytes = std::fs::read(&labels).unwrap();
    std::fs::write(&labels, &bytes[..bytes.len() / 2]).unwrap();
    let sweep = Sweep::load(&path).unwrap(); // parsing does not read data files
    let err = sweep.validate(&common::catalog()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::DataFile);
    assert_eq!(err.position.unwrap().to_string(), "3:11");
    assert!(
        err.message
            .contains("labels-idx1-ubyte.gz: the gzip data is truncated"),
        "{err}"
    );
    // Expansion refuses it too (it is what `ganbench run` calls).
    assert!(sweep.expand(&common::catalog()).is_err());
}
