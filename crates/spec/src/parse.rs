//! Reading a sweep file: RON into the schema, with ron's errors turned into
//! `path:line:col: message` plus a hint.

use std::io::Read;
use std::path::Path;

use ron::error::{Error as RonError, SpannedError};
use ron::extensions::Extensions;

use crate::error::{did_you_mean, ErrorKind, Position, SpecError};
use crate::limits::{self, MAX_FILE_BYTES, MAX_VALUES};
use crate::locate::{beyond_value_limit, locate, Seg, Target};
use crate::schema::{Source, Sweep, BAD_DATA, BAD_TIMEOUT};

impl Sweep {
    /// Reads and parses a sweep file (syntax and schema only; see [`Sweep::validate`]).
    ///
    /// A file of more than [`MAX_FILE_BYTES`] is refused before it is read.
    pub fn load(path: impl AsRef<Path>) -> Result<Sweep, SpecError> {
        let path = path.as_ref();
        let read_error = |e: std::io::Error| {
            let mut err = SpecError::new(
                ErrorKind::Read,
                path,
                None,
                format!("cannot read the sweep file: {e}"),
            );
            err.source = Some(e);
            err
        };
        let too_big = |size: u64| {
            SpecError::new(
                ErrorKind::TooLarge,
                path,
                None,
                format!(
                    "the sweep file is {} bytes; sweep files are at most {} bytes",
                    limits::thousands(size),
                    limits::thousands(MAX_FILE_BYTES)
                ),
            )
            .with_hint("a sweep lists variants and value ranges, not data; use a grid or a search instead of long lists")
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let size = file.metadata().map_err(read_error)?.len();
        if size > MAX_FILE_BYTES {
            return Err(too_big(size));
        }
        // A pipe or device reports no size: stop reading past the limit instead.
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(too_big(bytes.len() as u64));
        }
        let text = String::from_utf8(bytes)
            .map_err(|e| read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        Sweep::parse(&text, path)
    }

    /// Parses sweep text; `path` is used in error messages, kept in [`Sweep::source`], and its
    /// folder is where relative paths of an image dataset are resolved (see [`DataSpec`]).
    ///
    /// [`DataSpec`]: crate::DataSpec
    ///
    /// The `implicit_some` extension is on, so optional fields take a bare value
    /// (`label: "WGAN-GP"`, `search: (trials: 20, …)`); `Some(…)` is accepted too.
    ///
    /// Text of more than [`MAX_VALUES`] values is refused before ron builds any of them.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Sweep, SpecError> {
        let path = path.as_ref();
        if let Some(offset) = beyond_value_limit(text, MAX_VALUES) {
            return Err(SpecError::new(
                ErrorKind::TooLarge,
                &crate::error::shown_path(path),
                Some(Position::of_offset(text, offset)),
                format!(
                    "the sweep file holds more than {} values (list entries, map entries and fields)",
                    limits::thousands(MAX_VALUES as u64)
                ),
            )
            .with_hint("a sweep lists variants and value ranges, not data; use a grid or a search instead of long lists"));
        }
        let options = ron::Options::default().with_default_extension(Extensions::IMPLICIT_SOME);
        let mut sweep: Sweep = options
            .from_str(text)
            .map_err(|e| from_ron(&e, text, &crate::error::shown_path(path)))?;
        sweep.source = Source {
            path: path.to_path_buf(),
            text: text.to_string(),
        };
        sweep.data.resolve_paths(path);
        Ok(sweep)
    }
}

/// Classifies a ron error, rewords the common ones, and adds a hint where one helps.
fn from_ron(err: &SpannedError, text: &str, path: &Path) -> SpecError {
    let offset = token_start(text, err);
    let position = Some(Position::of_offset(text, offset));
    let at = |kind, message: String| SpecError::new(kind, path, position, message);
    // The start of a field's value, for errors ron places after the value (custom and untagged
    // errors are raised once the whole value has been read).
    let at_field = |field, kind, message: String| {
        let position = Position::of_offset(text, locate(text, &[Seg::Field(field)], Target::Value));
        SpecError::new(kind, path, Some(position), message)
    };
    let in_outer = |outer: &Option<String>| {
        outer
            .as_deref()
            .map(|o| format!(" in `{o}`"))
            .unwrap_or_default()
    };
    // A closing bracket where a value should be: an earlier list or map was not closed.
    if let Some(closer) = text[offset..].chars().next().filter(|c| ")]}".contains(*c)) {
        if is_expected_value(&err.code) {
            return at(ErrorKind::Syntax, format!("unexpected `{closer}`")).with_hint(
                "a `[` or `{` opened earlier is not closed, or a value is missing before this",
            );
        }
    }
    match &err.code {
        RonError::NoSuchStructField {
            expected,
            found,
            outer,
        } => at(
            ErrorKind::UnknownField,
            format!(
                "unknown field `{found}`{}; expected one of: {}",
                in_outer(outer),
                backticked(expected)
            ),
        )
        .with_opt_hint(did_you_mean(found, expected.iter().copied())),
        RonError::MissingStructField { field, outer } => at(
            ErrorKind::MissingField,
            format!("missing field `{field}`{}", in_outer(outer)),
        )
        .with_hint(format!(
            "add `{field}: …`; docs/sweeps.md lists every field and its default"
        )),
        RonError::DuplicateStructField { field, outer } => at(
            ErrorKind::DuplicateField,
            format!("field `{field}` is given twice{}", in_outer(outer)),
        ),
        RonError::NoSuchEnumVariant {
            expected,
            found,
            outer,
        } => at(
            ErrorKind::UnknownVariant,
            format!(
                "unknown variant `{found}`{}; expected one of: {}",
                in_outer(outer),
                backticked(expected)
            ),
        )
        .with_opt_hint(did_you_mean(found, expected.iter().copied())),
        RonError::InvalidValueForType { expected, found } => at(
            ErrorKind::WrongType,
            format!("expected {expected}, found {found}"),
        ),
        RonError::ExpectedDifferentStructName { expected, found } => at(
            ErrorKind::WrongType,
            format!("expected `{expected}( … )`, found `{found}( … )`"),
        ),
        RonError::ExpectedDifferentLength { expected, found } => at(
            ErrorKind::WrongType,
            format!("expected {expected}, found {found} element(s)"),
        ),
        RonError::Message(message) if message.starts_with(BAD_TIMEOUT) => at_field(
            "timeout",
            ErrorKind::InvalidValue,
            format!("`timeout`: {}", &message[BAD_TIMEOUT.len()..]),
        ),
        RonError::Message(message) => match message.strip_prefix(BAD_DATA) {
            Some(rest) => at_field("data", ErrorKind::BadData, format!("`data`: {rest}")),
            None if message.starts_with("a seed count") => {
                at_field("seeds", ErrorKind::WrongType, format!("expected {message}"))
            }
            None if message.starts_with("a metric name") => at_field(
                "primary",
                ErrorKind::BadPrimary,
                format!("`primary`: expected {message}"),
            ),
            None if message.starts_with("a dataset") => {
                at_field("data", ErrorKind::WrongType, format!("expected {message}"))
            }
            None if message.contains("untagged enum ParamValue") => at(
                ErrorKind::WrongType,
                "expected a parameter value: a number, `true`/`false` or a \"string\"".into(),
            )
            .with_hint("a grid axis takes a list of values: `\"lr\": [1e-4, 2e-4]`"),
            None => at(
                ErrorKind::WrongType,
                format!("expected {}", message.trim_start_matches("expected ")),
            ),
        },
        RonError::ExpectedBoolean => at(ErrorKind::WrongType, "expected `true` or `false`".into()),
        RonError::ExpectedInteger | RonError::IntegerOutOfBounds => at(
            ErrorKind::WrongType,
            "expected a whole number (≥ 0 for counts and steps)".into(),
        ),
        RonError::ExpectedFloat => at(ErrorKind::WrongType, "expected a number".into()),
        RonError::ExpectedString => {
            let hint = if bare_map_key(text, err) {
                "map keys are strings in double quotes: `{\"lr\": 1e-4}`"
            } else {
                "strings are written in double quotes: \"ring8\""
            };
            at(ErrorKind::WrongType, "expected a \"string\"".into()).with_hint(hint)
        }
        RonError::ExpectedArray => at(ErrorKind::WrongType, "expected a list `[ … ]`".into())
            .with_hint("e.g. `variants: [(plugin: \"gan\")]`"),
        RonError::ExpectedMap => at(ErrorKind::WrongType, "expected a map `{ … }`".into())
            .with_hint("e.g. `base: {\"batch_size\": 256}`"),
        RonError::ExpectedStructLike | RonError::ExpectedNamedStructLike(_) => at(
            ErrorKind::WrongType,
            "expected a parenthesized struct `( … )`".into(),
        )
        .with_hint(
            "e.g. `(plugin: \"gan\")` for a variant, `(trials: 20, space: { … })` for a search",
        ),
        RonError::ExpectedOption | RonError::ExpectedUnit | RonError::ExpectedIdentifier => {
            at(ErrorKind::WrongType, lower_first(&err.code.to_string()))
        }
        RonError::ExpectedComma
        | RonError::ExpectedArrayEnd
        | RonError::ExpectedMapEnd
        | RonError::ExpectedStructLikeEnd
        | RonError::ExpectedOptionEnd
        | RonError::ExpectedMapColon => at(ErrorKind::Syntax, lower_first(&err.code.to_string()))
            .with_hint(
                "is a `,` missing after the previous item, or a bracket left open or closed twice?",
            ),
        RonError::Eof => at(ErrorKind::Syntax, "unexpected end of file".into())
            .with_hint("is a closing `)`, `]` or `}` missing?"),
        RonError::TrailingCharacters => at(
            ErrorKind::Syntax,
            "unexpected text after the end of the sweep".into(),
        )
        .with_hint("the file holds one `Sweep( … )`; is a bracket closed too early?"),
        other => at(ErrorKind::Syntax, lower_first(&other.to_string())),
    }
}

/// Errors that mean "a value of some kind was expected here".
fn is_expected_value(code: &RonError) -> bool {
    matches!(
        code,
        RonError::ExpectedStructLike
            | RonError::ExpectedNamedStructLike(_)
            | RonError::ExpectedString
            | RonError::ExpectedInteger
            | RonError::ExpectedFloat
            | RonError::ExpectedBoolean
            | RonError::ExpectedArray
            | RonError::ExpectedMap
            | RonError::ExpectedIdentifier
            | RonError::ExpectedOption
            | RonError::ExpectedUnit
            | RonError::UnexpectedChar(_)
            | RonError::InvalidValueForType { .. }
    )
}

/// Byte offset of ron's error position, moved past whitespace: ron sometimes points at the blank
/// before the offending value.
fn token_start(text: &str, err: &SpannedError) -> usize {
    let start = err.span.start;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i + 1 == start.line {
            offset += line
                .char_indices()
                .nth(start.col.saturating_sub(1))
                .map_or(line.len(), |(b, _)| b);
            break;
        }
        offset += line.len();
    }
    let offset = offset.min(text.len());
    if matches!(err.code, RonError::Eof) {
        return offset;
    }
    let rest = &text[offset..];
    let skipped = rest.len() - rest.trim_start().len();
    if skipped < rest.len() {
        offset + skipped
    } else {
        offset
    }
}

fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// True when the error sits on `ident:` where a string was expected: a map key without quotes.
fn bare_map_key(text: &str, err: &SpannedError) -> bool {
    let Some(line) = text.lines().nth(err.span.start.line.saturating_sub(1)) else {
        return false;
    };
    let rest: String = line
        .chars()
        .skip(err.span.start.col.saturating_sub(1))
        .collect();
    let rest = rest.trim_start();
    let ident_len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    ident_len > 0 && rest[ident_len..].trim_start().starts_with(':')
}
