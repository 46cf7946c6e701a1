//! The one error type of this crate: every problem names the file, and where it can, the line and
//! column, so that a researcher can jump straight to it.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based line and column (columns count characters, as ron's do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: usize,
    pub col: usize,
}

impl Position {
    /// The position of byte offset `offset` in `text` (clamped to the end of `text`).
    pub fn of_offset(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = 1 + before.matches('\n').count();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = 1 + before[line_start..].chars().count();
        Position { line, col }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// What went wrong, for callers (and tests) that react to the kind rather than the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read.
    Read,
    /// Not valid RON: a missing comma, an unclosed bracket, a stray character.
    Syntax,
    /// A field the schema does not have (`deny_unknown_fields`).
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// A field is given twice.
    DuplicateField,
    /// Valid RON, but the wrong kind of value (a string where a number belongs, …).
    WrongType,
    /// An enum variant the schema does not have (`Gpu` for a device, `Normal` for a distribution).
    UnknownVariant,
    /// `data` names no known dataset, or its parameters are invalid.
    BadData,
    /// A file or folder an image dataset names is missing or malformed (wrong magic number,
    /// truncated, image and label counts that differ, no images, an undecodable image).
    DataFile,
    /// The sweep name is empty or not usable as a directory name.
    BadName,
    /// `steps` is 0.
    ZeroSteps,
    /// `eval_every`, `checkpoint_every` or `eval_samples` is out of range.
    BadInterval,
    /// `seeds` is 0 or `[]`.
    NoSeeds,
    /// A seed is listed twice.
    DuplicateSeed,
    /// `variants` is empty.
    NoVariants,
    /// Two variants have the same label (or are unlabelled with the same plugin).
    DuplicateLabel,
    /// A variant names a plugin that is not registered.
    UnknownPlugin,
    /// A parameter (in `params`, `grid` or a search space) that the variant's plugin does not declare.
    UnknownParam,
    /// A sweep-level parameter (in `base`, `grid` or `search`) that no variant's plugin declares.
    UnusedParam,
    /// A parameter value of the wrong type or out of the declared range.
    InvalidValue,
    /// A grid axis without values.
    EmptyGrid,
    /// A value listed twice in one grid axis or one `Choice`.
    DuplicateValue,
    /// A search distribution that cannot be drawn from (lo ≥ hi, lo ≤ 0 for `LogUniform`, …).
    BadDistribution,
    /// One parameter is both a grid axis and a search axis at the same level.
    Conflict,
    /// A random search asks for more distinct points than its (discrete) space has.
    SearchTooSmall,
    /// Two trials would be identical (same plugin, parameters and seed).
    DuplicateTrial,
    /// The sweep expands to more trials than the limit ([`crate::DEFAULT_MAX_TRIALS`] unless
    /// the caller allows more).
    TooManyTrials,
    /// A number, the file, or the count of values in it is above its limit (docs/sweeps.md).
    TooLarge,
    /// A label, name, path or string value is too long or holds a control character.
    BadString,
    /// `primary` names a metric whose direction is unknown, that has no direction, or that is
    /// not computed on this sweep's data.
    BadPrimary,
}

/// A problem with a sweep file, found before any training: `path:line:col: message`, and a hint.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}{}", where_(path, position), hint_suffix(hint))]
pub struct SpecError {
    /// What kind of problem it is.
    pub kind: ErrorKind,
    /// The sweep file (as given by the caller; `<sweep>` when it was given no path).
    pub path: PathBuf,
    /// Where in the file, when known.
    pub position: Option<Position>,
    /// What is wrong, and what was expected.
    pub message: String,
    /// How to fix it, where there is something useful to say.
    pub hint: Option<String>,
    /// The I/O error behind [`ErrorKind::Read`].
    #[source]
    pub source: Option<std::io::Error>,
}

impl SpecError {
    pub(crate) fn new(
        kind: ErrorKind,
        path: &Path,
        position: Option<Position>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            path: path.to_path_buf(),
            position,
            message: message.into(),
            hint: None,
            source: None,
        }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn with_opt_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// `path:line:col` (or just `path` when the position is unknown).
    pub fn location(&self) -> String {
        where_(&self.path, &self.position)
    }
}

/// The path errors show: `<sweep>` for text that came with no path.
pub(crate) fn shown_path(path: &Path) -> PathBuf {
    if path.as_os_str().is_empty() {
        PathBuf::from("<sweep>")
    } else {
        path.to_path_buf()
    }
}

fn where_(path: &Path, position: &Option<Position>) -> String {
    match position {
        Some(p) => format!("{}:{p}", path.display()),
        None => path.display().to_string(),
    }
}

fn hint_suffix(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!("\n  hint: {h}"),
        None => String::new(),
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "did you mean `x`?", if some candidate is close to `word`.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Edit distance counting a swap of two neighbouring characters as one edit (optimal string
/// alignment), since `lable` for `label` is the commonest typo.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "ab\ncé\nx";
        assert_eq!(Position::of_offset(text, 0), Position { line: 1, col: 1 });
        assert_eq!(Position::of_offset(text, 3), Position { line: 2, col: 1 });
        // 'é' is two bytes but one column.
        assert_eq!(Position::of_offset(text, 6), Position { line: 2, col: 3 });
        assert_eq!(Position::of_offset(text, 99), Position { line: 3, col: 2 });
    }

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(
            closest("eval_evry", ["eval_every", "steps"]),
            Some("eval_every")
        );
        assert_eq!(closest("lr_dd", ["lr_d", "lr_g"]), Some("lr_d"));
        assert_eq!(closest("lr", ["lr_d", "lr_g"]), None);
        assert_eq!(closest("batch", ["loss", "steps"]), None);
        assert_eq!(closest("lable", ["plugin", "label"]), Some("label"));
    }

    #[test]
    fn display_is_path_line_col_message_hint() {
        let e = SpecError::new(
            ErrorKind::ZeroSteps,
            Path::new("a.ron"),
            Some(Position { line: 3, col: 12 }),
            "bad",
        )
        .with_hint("fix it");
        assert_eq!(e.to_string(), "a.ron:3:12: bad\n  hint: fix it");
    }
}
