//! Reading and writing little-endian f32 `.npy` files (NumPy format 1.0): the interchange format
//! for generated samples, so that researchers can open them with `numpy.load` as they are.

use std::io::{Read, Write};
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

/// Reads a `<f4` (or `<f8`, converted) C-order array: (data, shape).
pub fn read_npy(path: &Path) -> Result<(Vec<f32>, Vec<usize>), DataError> {
    let bad = |message: String| DataError::Format {
        path: path.into(),
        message,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| DataError::Io {
            path: path.into(),
            message: e.to_string(),
        })?;
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not a .npy file (wrong magic bytes)".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported .npy version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("truncated header".into()))?;
    let field = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        Some(header[at..].trim_start_matches([':', ' ']))
    };
    let descr = field("descr").ok_or_else(|| bad("header has no 'descr'".into()))?;
    let width = if descr.starts_with("'<f4'") {
        4
    } else if descr.starts_with("'<f8'") {
        8
    } else {
        return Err(bad(format!(
            "unsupported dtype {}; expected '<f4' or '<f8'",
            &descr[..descr.find(',').unwrap_or(descr.len())]
        )));
    };
    if field("fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(bad(
            "Fortran-order arrays are not supported; save with C order".into(),
        ));
    }
    let shape_text = field("shape").ok_or_else(|| bad("header has no 'shape'".into()))?;
    let close = shape_text
        .find(')')
        .ok_or_else(|| bad("malformed shape".into()))?;
    let shape = shape_text[1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| bad(format!("malformed shape dimension `{s}`")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let count: usize = shape.iter().product();
    let body = &bytes[start + header_len..];
    if body.len() != count * width {
        return Err(bad(format!(
            "expected {} data bytes for shape {shape:?}, found {}",
            count * width,
            body.len()
        )));
    }
    let data = if width == 4 {
        body.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else {
        body.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect()
    };
    Ok((data, shape))
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

    #[test]
    fn reads_numpy_written_bytes() {
        // np.save(f, np.array([[1.5, -2.0]], dtype='<f8')) — header as NumPy 1.x writes it.
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }";
        let mut h = header.to_string();
        h.push_str(&" ".repeat((64 - (10 + header.len() + 1) % 64) % 64));
        h.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
        bytes.extend_from_slice(h.as_bytes());
        bytes.extend_from_slice(&1.5f64.to_le_bytes());
        bytes.extend_from_slice(&(-2.0f64).to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.npy");
        std::fs::write(&p, bytes).unwrap();
        assert_eq!(read_npy(&p).unwrap(), (vec![1.5, -2.0], vec![1, 2]));
    }

    #[test]
    fn malformed_files_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.npy");
        std::fs::write(&p, b"hello world").unwrap();
        assert!(read_npy(&p)
            .unwrap_err()
            .to_string()
            .contains("wrong magic"));
        write_npy(&p, &[1.0, 2.0], &[2]).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.pop();
        std::fs::write(&p, bytes).unwrap();
        let err = read_npy(&p).unwrap_err().to_string();
        assert!(
            err.contains("expected 8 data bytes") && err.contains("c.npy"),
            "{err}"
        );
    }
}
