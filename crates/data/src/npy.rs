//! `.npy` files (NumPy's array format): the interchange format for samples. ganbench writes its
//! generated samples as little-endian `f32` arrays, so that researchers open them with
//! `numpy.load` as they are, and reads what researchers save: `uint8`, `float16`, `float32` or
//! `float64`, in either byte order and in C or Fortran order (through `npyz`, which parses the
//! header and the byte orders).

use std::io::Write;
use std::path::Path;

use crate::DataError;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Writes `data` (row-major, of `shape`) as a `<f4` array.
pub fn write_npy(path: &Path, data: &[f32], shape: &[usize]) -> Result<(), DataError> {
    let io = |e: std::io::Error| DataError::Io {
        path: path.into(),
        message: e.to_string(),
    };
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "shape does not match data"
    );
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    // Pad so that the data starts on a 64-byte boundary, as the format recommends.
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(unpadded + 64 + data.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for x in data {
        out.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(&out))
        .map_err(io)
}

/// An array read from an `.npy` file, its values in C order (row-major: last axis fastest).
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The dimensions, slowest first.
    pub shape: Vec<usize>,
    /// The values.
    pub values: NpyValues,
}

/// The values of an [`NpyArray`], by stored type.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyValues {
    /// `uint8`: image pixels, 0–255 as stored.
    U8(Vec<u8>),
    /// `float16` (widened exactly) or `float32`.
    F32(Vec<f32>),
    /// `float64`.
    F64(Vec<f64>),
}

impl NpyArray {
    /// Number of values.
    pub fn len(&self) -> usize {
        match &self.values {
            NpyValues::U8(v) => v.len(),
            NpyValues::F32(v) => v.len(),
            NpyValues::F64(v) => v.len(),
        }
    }

    /// Whether the array holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as `f32`: floats as they are (`float64` rounded), `uint8` pixels scaled to
    /// [-1, 1] by [`pixel_value`](crate::pixel_value), like every image ganbench reads.
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.values {
            NpyValues::U8(v) => v.iter().map(|&b| crate::pixel_value(b)).collect(),
            NpyValues::F32(v) => v.clone(),
            NpyValues::F64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// The values as `f64`, without rounding: `uint8` pixels scaled as by [`NpyArray::to_f32`].
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.values {
            NpyValues::U8(v) => v
                .iter()
                .map(|&b| f64::from(crate::pixel_value(b)))
                .collect(),
            NpyValues::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            NpyValues::F64(v) => v.clone(),
        }
    }

    /// An N×H×W×C array of images (channels last, as PIL and most NumPy code keep them) moved to
    /// N×C×H×W, the layout ganbench's images have; `true` when it was moved. An array is taken as
    /// channels-last when it has 4 axes, its last holds 1 or 3 channels and its second does not
    /// (an N×3×H×3 array of 3-pixel-wide colour images stays as it is: N×C×H×W).
    pub fn into_channels_first(self) -> (Self, bool) {
        let &[n, h, w, c] = self.shape.as_slice() else {
            return (self, false);
        };
        if !matches!(c, 1 | 3) || matches!(h, 1 | 3) {
            return (self, false);
        }
        // Output index (i, ch, y, x) reads input (i, y, x, ch).
        let from = |k: usize| {
            let (i, rest) = (k / (c * h * w), k % (c * h * w));
            let (ch, yx) = (rest / (h * w), rest % (h * w));
            ((i * h * w) + yx) * c + ch
        };
        let values = match self.values {
            NpyValues::U8(v) => NpyValues::U8(permuted(&v, from)),
            NpyValues::F32(v) => NpyValues::F32(permuted(&v, from)),
            NpyValues::F64(v) => NpyValues::F64(permuted(&v, from)),
        };
        (
            Self {
                shape: vec![n, c, h, w],
                values,
            },
            true,
        )
    }
}

/// `out[k] = values[from(k)]` for every k.
fn permuted<T: Copy>(values: &[T], from: impl Fn(usize) -> usize) -> Vec<T> {
    (0..values.len()).map(|k| values[from(k)]).collect()
}

/// Reads an `.npy` array as `f32` values in C order with its shape: [`read_npy_array`] then
/// [`NpyArray::to_f32`].
pub fn read_npy(path: &Path) -> Result<(Vec<f32>, Vec<usize>), DataError> {
    let array = read_npy_array(path)?;
    Ok((array.to_f32(), array.shape))
}

/// Reads an `.npy` file of `uint8`, `float16`, `float32` or `float64` values, in either byte
/// order, C or Fortran order (returned in C order). Any other dtype, a malformed header, a
/// truncated body or bytes after the data is an error naming the file and what is wrong.
pub fn read_npy_array(path: &Path) -> Result<NpyArray, DataError> {
    let bad = |message: String| DataError::Format {
        path: path.into(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| DataError::Io {
        path: path.into(),
        message: e.to_string(),
    })?;
    if !bytes.starts_with(MAGIC) {
        return Err(bad(
            "not a .npy file (it does not start with NumPy's magic bytes \\x93NUMPY); save \
             arrays with numpy.save"
                .into(),
        ));
    }
    let mut reader = std::io::Cursor::new(bytes.as_slice());
    let file =
        npyz::NpyFile::new(&mut reader).map_err(|e| bad(format!("malformed .npy header: {e}")))?;
    let shape: Vec<usize> = file
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| bad(format!("axis of length {d} is too long"))))
        .collect::<Result<_, _>>()?;
    let fortran = file.order() == npyz::Order::Fortran;
    let npyz::DType::Plain(dtype) = file.dtype() else {
        return Err(bad(format!(
            "structured dtype {}; expected a plain array of uint8, float16, float32 or float64",
            file.dtype().descr()
        )));
    };
    let read_err = |e: std::io::Error| {
        bad(if e.kind() == std::io::ErrorKind::UnexpectedEof {
            format!(
                "truncated: the header promises {} values of {dtype} (shape {shape:?}) but the \
                 file ends before them",
                shape.iter().product::<usize>()
            )
        } else {
            format!("unreadable data: {e}")
        })
    };
    let values = match (dtype.type_char(), dtype.size_field()) {
        (npyz::TypeChar::Uint, 1) => NpyValues::U8(file.into_vec::<u8>().map_err(read_err)?),
        (npyz::TypeChar::Float, 2) => NpyValues::F32(
            file.into_vec::<half::f16>()
                .map_err(read_err)?
                .into_iter()
                .map(f32::from)
                .collect(),
        ),
        (npyz::TypeChar::Float, 4) => NpyValues::F32(file.into_vec::<f32>().map_err(read_err)?),
        (npyz::TypeChar::Float, 8) => NpyValues::F64(file.into_vec::<f64>().map_err(read_err)?),
        _ => {
            return Err(bad(format!(
                "unsupported dtype {dtype}; expected uint8 (image pixels 0–255), float16, float32 \
                 or float64 (convert with array.astype(numpy.float32))"
            )))
        }
    };
    let trailing = bytes.len() as u64 - reader.position();
    if trailing > 0 {
        return Err(bad(format!(
            "{trailing} bytes after the {} values its header promises (shape {shape:?}); the \
             file is damaged or its header is wrong",
            shape.iter().product::<usize>()
        )));
    }
    let mut array = NpyArray { shape, values };
    if fortran {
        array = fortran_to_c(array);
    }
    Ok(array)
}

/// A Fortran-order array (first axis fastest) rearranged into C order (last axis fastest).
fn fortran_to_c(array: NpyArray) -> NpyArray {
    let shape = array.shape;
    // Fortran strides: axis a advances by the product of the axes before it.
    let mut strides = vec![1; shape.len()];
    for a in 1..shape.len() {
        strides[a] = strides[a - 1] * shape[a - 1];
    }
    let from = |mut k: usize| {
        let mut at = 0;
        for a in (0..shape.len()).rev() {
            at += (k % shape[a]) * strides[a];
            k /= shape[a];
        }
        at
    };
    let values = match array.values {
        NpyValues::U8(v) => NpyValues::U8(permuted(&v, from)),
        NpyValues::F32(v) => NpyValues::F32(permuted(&v, from)),
        NpyValues::F64(v) => NpyValues::F64(permuted(&v, from)),
    };
    NpyArray { shape, values }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let data: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 1.0).collect();
        write_npy(&p, &data, &[4, 3]).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!((bytes.len() - 48) % 64, 0, "data aligned to 64 bytes");
        assert_eq!(read_npy(&p).unwrap(), (data, vec![4, 3]));
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/npy")
            .join(name)
    }

    /// The flat index 12i + 4j + k of element [i, j, k] of a (2, 3, 4) array, in C order.
    fn c_order_indices() -> impl Iterator<Item = f64> {
        (0..24).map(f64::from)
    }

    /// Files NumPy wrote (tests/fixtures/npy/make_npy.py): every float dtype in both byte orders
    /// and both memory orders reads as the same C-order values.
    #[test]
    fn reads_every_float_dtype_byte_order_and_memory_order() {
        let want: Vec<f64> = c_order_indices().map(|f| 0.5 * f - 3.0).collect();
        for dtype in ["f2", "f4", "f8"] {
            for endian in ["le", "be"] {
                for order in ["C", "F"] {
                    let name = format!("{dtype}-{endian}-{order}.npy");
                    let array = read_npy_array(&fixture(&name)).unwrap();
                    assert_eq!(array.shape, [2, 3, 4], "{name}");
                    assert_eq!(
                        matches!(array.values, NpyValues::F64(_)),
                        dtype == "f8",
                        "{name}"
                    );
                    assert_eq!(array.to_f64(), want, "{name}");
                    let (narrow, shape) = read_npy(&fixture(&name)).unwrap();
                    assert_eq!(shape, [2, 3, 4]);
                    let want32: Vec<f32> = want.iter().map(|&x| x as f32).collect();
                    assert_eq!(narrow, want32, "{name}");
                }
            }
        }
    }

    /// uint8 arrays are image pixels, scaled to [-1, 1] like IDX and PNG images.
    #[test]
    fn uint8_pixels_are_scaled_like_every_image() {
        for order in ["C", "F"] {
            let array = read_npy_array(&fixture(&format!("u1-{order}.npy"))).unwrap();
            let bytes: Vec<u8> = (0..24u32).map(|f| (10 * f % 256) as u8).collect();
            assert_eq!(array.values, NpyValues::U8(bytes.clone()), "{order}");
            assert_eq!(array.shape, [2, 3, 4]);
            let scaled: Vec<f32> = bytes.iter().map(|&b| crate::pixel_value(b)).collect();
            assert_eq!(array.to_f32(), scaled);
            assert_eq!(array.to_f32()[0], -1.0);
            assert_eq!(
                array.to_f64(),
                scaled.iter().map(|&x| f64::from(x)).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn channels_last_images_move_to_channels_first() {
        let array = read_npy_array(&fixture("u1-nhwc.npy")).unwrap();
        assert_eq!(array.shape, [2, 4, 5, 3]);
        let (moved, was_moved) = array.into_channels_first();
        assert!(was_moved);
        assert_eq!(moved.shape, [2, 3, 4, 5]);
        let NpyValues::U8(bytes) = &moved.values else {
            panic!("uint8 stays uint8")
        };
        let mut k = 0;
        for n in 0..2 {
            for c in 0..3 {
                for h in 0..4 {
                    for w in 0..5 {
                        assert_eq!(
                            usize::from(bytes[k]),
                            (60 * n + 15 * h + 3 * w + c) % 256,
                            "[{n}, {c}, {h}, {w}]"
                        );
                        k += 1;
                    }
                }
            }
        }
        // Already channels-first (axis 1 of 1 or 3), or not images: left as they are.
        for shape in [
            vec![2, 3, 4, 3],
            vec![2, 1, 5, 5],
            vec![2, 4, 5, 2],
            vec![6, 10],
        ] {
            let len = shape.iter().product();
            let array = NpyArray {
                shape: shape.clone(),
                values: NpyValues::F32(vec![0.0; len]),
            };
            let (same, was_moved) = array.clone().into_channels_first();
            assert!(!was_moved && same == array, "{shape:?}");
        }
    }

    #[test]
    fn malformed_files_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.npy");
        std::fs::write(&p, b"hello world").unwrap();
        let err = read_npy(&p).unwrap_err().to_string();
        assert!(
            err.contains("not a .npy file") && err.contains("c.npy"),
            "{err}"
        );
        write_npy(&p, &[1.0, 2.0], &[2]).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.pop();
        std::fs::write(&p, &bytes).unwrap();
        let err = read_npy(&p).unwrap_err().to_string();
        assert!(
            err.contains("truncated") && err.contains("2 values") && err.contains("c.npy"),
            "{err}"
        );
        let mut longer = bytes;
        longer.extend_from_slice(&[0; 5]);
        std::fs::write(&p, &longer).unwrap();
        let err = read_npy(&p).unwrap_err().to_string();
        assert!(err.contains("c.npy: 4 bytes after the 2 values"), "{err}");
        // A header that is not a Python dict.
        let mut garbled = b"\x93NUMPY\x01\x00\x10\x00".to_vec();
        garbled.extend_from_slice(b"{'descr': oops\n");
        std::fs::write(&p, &garbled).unwrap();
        let err = read_npy(&p).unwrap_err().to_string();
        assert!(err.contains("c.npy: malformed .npy header"), "{err}");
        // Dtypes that are not pixels or floats.
        for (name, dtype) in [("i8.npy", "<i8"), ("structured.npy", "structured dtype")] {
            let err = read_npy(&fixture(name)).unwrap_err().to_string();
            assert!(
                err.contains(name) && err.contains(dtype) && err.contains("float32"),
                "{err}"
            );
        }
        let err = read_npy(&dir.path().join("absent.npy"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("absent.npy"), "{err}");
    }
}
