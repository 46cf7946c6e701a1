//! File access shared by the image formats: opening with typed errors, transparent gzip, and
//! saying what a file that is not what it should be looks like.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::DataError;

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

pub(crate) fn io_error(path: &Path, e: &io::Error) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The error for a path that does not exist, or `Io` for any other failure to open it.
pub(crate) fn open_error(path: &Path, e: &io::Error, what: &'static str, fix: &str) -> DataError {
    if e.kind() == io::ErrorKind::NotFound {
        DataError::MissingPath {
            path: path.to_path_buf(),
            what,
            fix: fix.to_string(),
        }
    } else {
        io_error(path, e)
    }
}

/// Opens `path` for reading, decompressing it when it starts with the gzip magic (whatever its
/// name), and checks that it is a file.
pub(crate) fn open_maybe_gzip(
    path: &Path,
    what: &'static str,
    fix: &str,
) -> Result<Box<dyn Read>, DataError> {
    let file = File::open(path).map_err(|e| open_error(path, &e, what, fix))?;
    let meta = file.metadata().map_err(|e| io_error(path, &e))?;
    if meta.is_dir() {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            message: format!("is a folder; expected the {what}"),
        });
    }
    let mut reader = BufReader::new(file);
    let mut head = [0u8; 2];
    let n = read_up_to(&mut reader, &mut head).map_err(|e| io_error(path, &e))?;
    let head = head[..n].to_vec();
    let rest = io::Cursor::new(head.clone()).chain(reader);
    if head == GZIP_MAGIC {
        Ok(Box::new(MultiGzDecoder::new(rest)))
    } else {
        Ok(Box::new(rest))
    }
}

/// Reads until `buf` is full or the stream ends; returns the bytes read. Decompression errors
/// (a corrupt or truncated gzip stream) come back as `Format` errors naming the file.
pub(crate) fn read_exact_or_eof(
    path: &Path,
    reader: &mut dyn Read,
    buf: &mut [u8],
) -> Result<usize, DataError> {
    read_up_to(reader, buf).map_err(|e| stream_error(path, &e))
}

/// Reads the rest of the stream into `out`.
pub(crate) fn read_rest(
    path: &Path,
    reader: &mut dyn Read,
    out: &mut Vec<u8>,
) -> Result<(), DataError> {
    reader
        .read_to_end(out)
        .map(|_| ())
        .map_err(|e| stream_error(path, &e))
}

/// Counts the bytes left in the stream without keeping them.
pub(crate) fn count_rest(path: &Path, reader: &mut dyn Read) -> Result<u64, DataError> {
    io::copy(reader, &mut io::sink()).map_err(|e| stream_error(path, &e))
}

fn read_up_to(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn stream_error(path: &Path, e: &io::Error) -> DataError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
            DataError::Format {
                path: path.to_path_buf(),
                message: format!(
                    "the gzip data is truncated or corrupt ({e}); download the file again"
                ),
            }
        }
        _ => io_error(path, e),
    }
}

/// `0x00000803`-style notation for a 4-byte magic number (fewer bytes: as many as there are).
pub(crate) fn hex_magic(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "no bytes".into();
    }
    let digits: String = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("0x{digits}")
}

/// What a file whose first bytes are `head` (after gzip decompression) looks like, for errors
/// about files that are not in the expected format.
pub(crate) fn looks_like(head: &[u8]) -> String {
    let starts = |prefix: &[u8]| head.starts_with(prefix);
    match head {
        [] => return "the file is empty".into(),
        [0, 0, 0x08, 0x01, ..] => return "an IDX label file (unsigned bytes, 1 dimension)".into(),
        [0, 0, 0x08, 0x03, ..] => return "an IDX image file (unsigned bytes, 3 dimensions)".into(),
        [0, 0, kind, dims, ..] if idx_type(*kind).is_some() => {
            return format!(
                "an IDX file of {} with {dims} dimension(s); ganbench reads unsigned-byte images \
                 and labels",
                idx_type(*kind).unwrap_or_default()
            )
        }
        _ => {}
    }
    if starts(&GZIP_MAGIC) {
        "gzip data inside gzip data: decompress it once".into()
    } else if starts(b"\x89PNG") {
        "a PNG image; use `ImageFolder(…)` for a folder of images".into()
    } else if starts(&[0xff, 0xd8, 0xff]) {
        "a JPEG image; use `ImageFolder(…)` for a folder of images".into()
    } else if starts(b"PK\x03\x04") {
        "a zip archive: extract it first".into()
    } else if starts(b"\x93NUMPY") {
        "a NumPy .npy file".into()
    } else if starts(b"ustar") || head.get(257..262) == Some(b"ustar") {
        "a tar archive: extract it first".into()
    } else if head
        .iter()
        .take(64)
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        let text: String = String::from_utf8_lossy(&head[..head.len().min(40)])
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("<!doctype") || lower.starts_with("<html") || lower.starts_with('<') {
            format!("an HTML or XML page (a failed download?): `{text}`")
        } else {
            format!("text: `{text}`")
        }
    } else {
        format!(
            "unknown binary data starting {}",
            head.iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    }
}

/// The element type an IDX type byte stands for.
fn idx_type(kind: u8) -> Option<&'static str> {
    Some(match kind {
        0x08 => "unsigned bytes",
        0x09 => "signed bytes",
        0x0b => "16-bit integers",
        0x0c => "32-bit integers",
        0x0d => "32-bit floats",
        0x0e => "64-bit floats",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_recognize_common_mistakes() {
        assert!(looks_like(&[0, 0, 8, 1, 0, 0, 0, 5]).contains("IDX label file"));
        assert!(looks_like(&[0, 0, 0x0d, 2]).contains("32-bit floats with 2"));
        assert!(looks_like(b"\x89PNG\r\n\x1a\n").contains("PNG"));
        assert!(looks_like(b"<!DOCTYPE html><html>").contains("failed download"));
        assert!(looks_like(b"hello world\n").contains("text: `hello world`"));
        assert!(looks_like(&[0xde, 0xad, 0xbe, 0xef]).contains("de ad be ef"));
        assert_eq!(looks_like(&[]), "the file is empty");
        assert_eq!(hex_magic(&[0, 0, 8, 3]), "0x00000803");
    }
}
