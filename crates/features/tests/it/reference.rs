//! A user's weights file: features against an independent NumPy implementation, and every kind
//! of malformed file refused with a message naming the file and the tensor.
//!
//! The fixtures come from `tests/fixtures/make_reference.py` (float16 weights with PyTorch's
//! names, written by Python's safetensors; features computed in float64).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ganbench_features::{tensor_shapes, CnnExtractor, FeaturesError, InputShape, FEATURE_DIM};
use ganbench_sdk::candle::{DType, Device, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn reference_shape() -> InputShape {
    InputShape::new(2, 14, 18).unwrap()
}

fn reference_tensors() -> HashMap<String, Tensor> {
    ganbench_sdk::candle::safetensors::load(fixture("reference_weights.safetensors"), &Device::Cpu)
        .unwrap()
}

/// Writes `tensors` to a fresh file and tries to load it for `input` images.
fn load_modified(
    tensors: &HashMap<String, Tensor>,
    input: InputShape,
) -> (PathBuf, FeaturesError, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("user-weights.safetensors");
    ganbench_sdk::candle::safetensors::save(tensors, &path).unwrap();
    let err = CnnExtractor::load(&path, input, &Device::Cpu).unwrap_err();
    (path, err, dir)
}

#[test]
fn user_weights_give_the_reference_features() {
    let extractor = CnnExtractor::load(
        &fixture("reference_weights.safetensors"),
        reference_shape(),
        &Device::Cpu,
    )
    .unwrap();
    assert!(extractor.provenance().is_none(), "the file has no metadata");
    assert_eq!(extractor.classes(), 10);
    let io =
        ganbench_sdk::candle::safetensors::load(fixture("reference_io.safetensors"), &Device::Cpu)
            .unwrap();
    let images = io["images"]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let expected = io["features"]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let n = io["images"].dim(0).unwrap();
    let got = extractor.features(&images, n).unwrap();
    assert_eq!(got.len(), n * FEATURE_DIM);
    let mut worst = 0f64;
    for (g, e) in got.iter().zip(&expected) {
        let err = (*g as f64 - *e as f64).abs() / (1.0 + (*e as f64).abs());
        worst = worst.max(err);
    }
    // f32 arithmetic against the f64 reference, over sums of a few hundred products.
    assert!(worst < 1e-5, "largest relative difference {worst:e}");
    let zeros = got.iter().filter(|v| **v == 0.0).count();
    assert_eq!(zeros, expected.iter().filter(|v| **v == 0.0).count());
}

#[test]
fn wrong_tensor_shape_names_the_file_and_the_tensor() {
    let mut tensors = reference_tensors();
    tensors.insert(
        "conv2.weight".into(),
        Tensor::zeros((64, 32, 5, 5), DType::F32, &Device::Cpu).unwrap(),
    );
    let (path, err, _dir) = load_modified(&tensors, reference_shape());
    let msg = err.to_string();
    assert!(
        matches!(err, FeaturesError::WeightsLayout { .. }),
        "{err:?}"
    );
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains("`conv2.weight` has shape [64, 32, 5, 5]; expected [64, 32, 3, 3]"),
        "{msg}"
    );
    assert!(msg.contains("docs/features.md"), "{msg}");
}

#[test]
fn weights_for_another_image_size_say_so() {
    // The reference network reads 64·2·3 = 384 values; 28×28 images give 64·5·5 = 1600.
    let err = CnnExtractor::load(
        &fixture("reference_weights.safetensors"),
        InputShape::new(2, 28, 28).unwrap(),
        &Device::Cpu,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("reference_weights.safetensors"), "{msg}");
    assert!(
        msg.contains("`fc1.weight` has shape [128, 384]; expected [128, 1600]")
            && msg.contains("images of another size"),
        "{msg}"
    );

    let err = CnnExtractor::load(
        &fixture("reference_weights.safetensors"),
        InputShape::new(3, 14, 18).unwrap(),
        &Device::Cpu,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("`conv1.weight` has shape [32, 2, 3, 3]; expected [32, 3, 3, 3]")
            && msg.contains("3×14×18 images have 3 channel(s), these weights expect 2"),
        "{msg}"
    );
}

#[test]
fn missing_and_unexpected_tensors_are_named() {
    let mut tensors = reference_tensors();
    tensors.remove("fc1.bias");
    let (_, err, _dir) = load_modified(&tensors, reference_shape());
    assert!(
        err.to_string()
            .contains("has no tensor `fc1.bias` (expected shape [128])"),
        "{err}"
    );

    let mut tensors = reference_tensors();
    tensors.insert(
        "bn1.running_mean".into(),
        Tensor::zeros(32, DType::F32, &Device::Cpu).unwrap(),
    );
    let (_, err, _dir) = load_modified(&tensors, reference_shape());
    let msg = err.to_string();
    assert!(
        msg.contains("unexpected tensor `bn1.running_mean`"),
        "{msg}"
    );
    for (name, _) in tensor_shapes(reference_shape(), 10) {
        assert!(msg.contains(&format!("`{name}`")), "{msg}");
    }
}

#[test]
fn integer_and_non_finite_weights_are_refused() {
    let mut tensors = reference_tensors();
    tensors.insert(
        "fc2.bias".into(),
        Tensor::zeros(10, DType::U32, &Device::Cpu).unwrap(),
    );
    let (_, err, _dir) = load_modified(&tensors, reference_shape());
    assert!(
        err.to_string()
            .contains("`fc2.bias` has dtype U32; expected a float type"),
        "{err}"
    );

    let mut tensors = reference_tensors();
    let nan = Tensor::from_vec(vec![f32::NAN; 64], 64, &Device::Cpu).unwrap();
    tensors.insert("conv2.bias".into(), nan);
    let (_, err, _dir) = load_modified(&tensors, reference_shape());
    assert!(
        err.to_string()
            .contains("`conv2.bias` holds NaN or infinite values"),
        "{err}"
    );
}

#[test]
fn unreadable_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.safetensors");
    let err = CnnExtractor::load(&missing, reference_shape(), &Device::Cpu).unwrap_err();
    assert!(matches!(err, FeaturesError::WeightsFile { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.safetensors"), "{err}");

    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"this is not a tensor file at all").unwrap();
    let err = CnnExtractor::load(&garbage, reference_shape(), &Device::Cpu).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("garbage.safetensors") && msg.contains("not a safetensors file"),
        "{msg}"
    );

    // A truncated copy of a valid file.
    let bytes = std::fs::read(fixture("reference_weights.safetensors")).unwrap();
    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = CnnExtractor::load(&truncated, reference_shape(), &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("truncated.safetensors"), "{err}");
}

#[test]
fn features_refuse_images_of_the_wrong_size() {
    let extractor = CnnExtractor::load(
        &fixture("reference_weights.safetensors"),
        reference_shape(),
        &Device::Cpu,
    )
    .unwrap();
    let err = extractor.features(&vec![0.0; 3 * 28 * 28], 3).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("2352 values do not form 3 images of 2×14×18 (504 values each)"),
        "{msg}"
    );
}
