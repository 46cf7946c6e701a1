//! Finds where a parsed value was written, for errors found after parsing.
//!
//! ron reports positions for syntax and type errors only; once a file has deserialized, its values
//! carry no spans. Semantic errors (an unknown parameter, an empty grid) still have to say
//! `line:col`, so this module re-reads the source with a small, lenient scanner that understands
//! just RON's structure: comments, strings, `name( … )`, `[ … ]`, `{ … }`, `key: value` items and
//! commas. It builds a tree of byte offsets, and a [`Path`] such as
//! `variants[1].params."lr_d"` is looked up in it. `Some( … )` is transparent, so implicit and
//! explicit options are found alike.
//!
//! Because the file already parsed with ron, the scanner never has to report errors of its own;
//! if a path cannot be followed to the end (a default that was not written, say), the lookup
//! returns the deepest item it did find, which is still the right neighbourhood.

/// One step of a path into the sweep file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seg<'a> {
    /// A struct field, `name: value`.
    Field(&'a str),
    /// The n-th element of a list (or of a tuple, e.g. a distribution's bounds).
    Index(usize),
    /// A map entry whose key is the string `"key"`.
    Key(&'a str),
}

/// Which end of the final item to point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The key or field name (`"lr_d"` in `"lr_d": 1e-4`); the value for list elements.
    Key,
    /// The value (`1e-4`).
    Value,
}

/// Byte offset in `text` of the item at `path`, or of the deepest prefix of it that exists.
pub(crate) fn locate(text: &str, path: &[Seg<'_>], target: Target) -> usize {
    let mut scanner = Scanner {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    scanner.skip_trivia();
    // `#![enable(...)]` attributes before the value.
    while scanner.peek() == Some(b'#') {
        while let Some(b) = scanner.peek() {
            scanner.pos += 1;
            if b == b']' {
                break;
            }
        }
        scanner.skip_trivia();
    }
    let root = scanner.value();
    let mut node = &root;
    let mut best = root.start;
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let node_now = node.unwrap_some();
        let Some(item) = node_now.find(seg) else {
            return best;
        };
        best = match (last, target, &item.key) {
            (true, Target::Key, Some(_)) => item.key_start,
            _ => item.value.start,
        };
        node = &item.value;
    }
    best
}

/// Byte offset of the value that takes `text` past `limit` values, if it holds more: the commas
/// and opening brackets outside strings and comments, an upper bound of the list entries, map
/// entries and fields that ron would build. Linear and allocation-free, so that a huge file is
/// refused before it is parsed.
pub(crate) fn beyond_value_limit(text: &str, limit: usize) -> Option<usize> {
    let mut scanner = Scanner {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    let mut count = 0usize;
    loop {
        scanner.skip_trivia();
        let b = scanner.peek()?;
        match b {
            b'"' => scanner.string(),
            b'\'' => scanner.char_literal(),
            b'r' | b'b' if scanner.raw_or_byte_string() => {}
            b',' | b'(' | b'[' | b'{' => {
                count += 1;
                if count > limit {
                    return Some(scanner.pos);
                }
                scanner.pos += 1;
            }
            // A whole identifier at once, so that an `r` or `b` inside one is no string prefix.
            _ if is_ident_start(b) => {
                while scanner
                    .peek()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    scanner.pos += 1;
                }
            }
            _ => scanner.pos += 1,
        }
    }
}

#[derive(Debug)]
struct Node {
    /// Byte offset of the value's first character.
    start: usize,
    /// `Some`, `Sweep`, `LogUniform` … for `name( … )`.
    name: Option<String>,
    /// Items of a group; empty for atoms.
    items: Vec<Item>,
}

#[derive(Debug)]
struct Item {
    key: Option<Key>,
    key_start: usize,
    value: Node,
}

#[derive(Debug)]
enum Key {
    Ident(String),
    Str(String),
    Other,
}

impl Node {
    /// Looks through `Some( … )` to the value inside.
    fn unwrap_some(&self) -> &Node {
        let mut node = self;
        while node.name.as_deref() == Some("Some")
            && node.items.len() == 1
            && node.items[0].key.is_none()
        {
            node = &node.items[0].value;
        }
        node
    }

    fn find(&self, seg: &Seg<'_>) -> Option<&Item> {
        match seg {
            Seg::Field(name) => self
                .items
                .iter()
                .find(|it| matches!(&it.key, Some(Key::Ident(k)) if k == name)),
            Seg::Key(name) => self
                .items
                .iter()
                .find(|it| matches!(&it.key, Some(Key::Str(k)) if k == name)),
            Seg::Index(i) => self.items.get(*i),
        }
    }
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        self.bytes
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(s.as_bytes()))
    }

    /// Skips whitespace and comments (`//` lines, nested `/* */` blocks).
    fn skip_trivia(&mut self) {
        loop {
            while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
                self.pos += 1;
            }
            if self.starts_with("//") {
                while self.peek().is_some_and(|b| b != b'\n') {
                    self.pos += 1;
                }
            } else if self.starts_with("/*") {
                let mut depth = 0usize;
                while self.pos < self.bytes.len() {
                    if self.starts_with("/*") {
                        depth += 1;
                        self.pos += 2;
                    } else if self.starts_with("*/") {
                        depth -= 1;
                        self.pos += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        self.pos += 1;
                    }
                }
            } else if self.pos >= self.bytes.len() {
                self.pos = self.bytes.len();
                return;
            } else if !self.text.is_char_boundary(self.pos) {
                self.pos += 1; // inside a stray multi-byte character
            } else if let Some(c) = self.text[self.pos..]
                .chars()
                .next()
                .filter(|c| c.is_whitespace())
            {
                // Non-ASCII whitespace (ron accepts it too).
                self.pos += c.len_utf8();
            } else {
                return;
            }
        }
    }

    fn value(&mut self) -> Node {
        let node = self.value_inner();
        // An escape at the very end of broken text can step past it.
        self.pos = self.pos.min(self.bytes.len());
        node
    }

    fn value_inner(&mut self) -> Node {
        self.skip_trivia();
        let start = self.pos;
        let Some(b) = self.peek() else {
            return Node {
                start,
                name: None,
                items: Vec::new(),
            };
        };
        match b {
            b'"' => {
                self.string();
                Node {
                    start,
                    name: None,
                    items: Vec::new(),
                }
            }
            b'r' | b'b' if self.raw_or_byte_string() => Node {
                start,
                name: None,
                items: Vec::new(),
            },
            b'\'' => {
                self.char_literal();
                Node {
                    start,
                    name: None,
                    items: Vec::new(),
                }
            }
            b'(' | b'[' | b'{' => {
                let items = self.group();
                Node {
                    start,
                    name: None,
                    items,
                }
            }
            _ if is_ident_start(b) => {
                let name = self.ident();
                self.skip_trivia();
                if self.peek() == Some(b'(') {
                    let items = self.group();
                    Node {
                        start,
                        name: Some(name),
                        items,
                    }
                } else {
                    Node {
                        start,
                        name: None,
                        items: Vec::new(),
                    }
                }
            }
            _ => {
                // A number or anything else: up to the next delimiter.
                while let Some(b) = self.peek() {
                    if b.is_ascii_whitespace()
                        || b",:)]}([{".contains(&b)
                        || self.starts_with("//")
                        || self.starts_with("/*")
                    {
                        break;
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    self.pos += 1; // never stall on a stray character
                }
                Node {
                    start,
                    name: None,
                    items: Vec::new(),
                }
            }
        }
    }

    /// `( … )`, `[ … ]` or `{ … }` with the opening bracket next; returns its items.
    fn group(&mut self) -> Vec<Item> {
        let close = match self.peek() {
            Some(b'(') => b')',
            Some(b'[') => b']',
            _ => b'}',
        };
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_trivia();
            match self.peek() {
                None => return items,
                Some(b) if b == close => {
                    self.pos += 1;
                    return items;
                }
                Some(b',') => {
                    self.pos += 1;
                    continue;
                }
                // A mismatched closer: the source is broken; stop here rather than loop.
                Some(b')' | b']' | b'}') => return items,
                _ => {}
            }
            let first_start = self.pos;
            let first = self.value();
            let first_end = self.pos;
            self.skip_trivia();
            if self.peek() == Some(b':') {
                self.pos += 1;
                let key = self.key_of(first_start, first_end, &first);
                let value = self.value();
                items.push(Item {
                    key: Some(key),
                    key_start: first_start,
                    value,
                });
            } else {
                items.push(Item {
                    key: None,
                    key_start: first_start,
                    value: first,
                });
            }
        }
    }

    fn key_of(&self, start: usize, end: usize, node: &Node) -> Key {
        let Some(raw) = self.text.get(start..end).map(str::trim_end) else {
            return Key::Other;
        };
        if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Key::Str(unescape(inner))
        } else if let Some(inner) = raw_string_content(raw) {
            Key::Str(inner.to_string())
        } else if node.items.is_empty() && raw.bytes().next().is_some_and(is_ident_start) {
            Key::Ident(raw.trim_start_matches("r#").to_string())
        } else {
            Key::Other
        }
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        if self.starts_with("r#") {
            self.pos += 2;
        }
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            self.pos += 1;
        }
        self.text[start..self.pos].to_string()
    }

    /// A `"…"` string with escapes; the opening quote is next.
    fn string(&mut self) {
        self.pos += 1;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'\\' => self.pos += 1,
                b'"' => return,
                _ => {}
            }
        }
    }

    /// `r"…"`, `r#"…"#`, `b"…"`, `br#"…"#`: consumes it and returns true, or returns false (an ident).
    fn raw_or_byte_string(&mut self) -> bool {
        let save = self.pos;
        if self.peek() == Some(b'b') {
            self.pos += 1;
            match self.peek() {
                Some(b'"') => {
                    self.string();
                    return true;
                }
                Some(b'\'') => {
                    self.char_literal();
                    return true;
                }
                _ => {}
            }
        }
        if self.peek() == Some(b'r') {
            self.pos += 1;
            let mut hashes = 0;
            while self.peek() == Some(b'#') {
                hashes += 1;
                self.pos += 1;
            }
            if self.peek() == Some(b'"') {
                self.pos += 1;
                let end = format!("\"{}", "#".repeat(hashes));
                while self.pos < self.bytes.len() && !self.starts_with(&end) {
                    self.pos += 1;
                }
                self.pos = (self.pos + end.len()).min(self.bytes.len());
                return true;
            }
        }
        self.pos = save;
        false
    }

    fn char_literal(&mut self) {
        self.pos += 1;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'\\' => self.pos += 1,
                b'\'' => return,
                _ => {}
            }
        }
    }
}

/// The content of `r"…"` / `r#"…"#`, or `None` for anything else.
fn raw_string_content(raw: &str) -> Option<&str> {
    let rest = raw.strip_prefix('r')?;
    let hashes = rest.len() - rest.trim_start_matches('#').len();
    let rest = rest[hashes..].strip_prefix('"')?;
    rest.strip_suffix(&"#".repeat(hashes))?.strip_suffix('"')
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

/// The common escapes; a key with others simply fails to match and the lookup stops one level up.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Position;

    const TEXT: &str = r##"#![enable(implicit_some)]
// plugin: "decoy" in a comment
Sweep(
    name: "x /* not a comment */",
    variants: [
        (plugin: "gan"),
        /* (plugin: "nope"), */
        (plugin: "wgan-gp", params: {"lr_d": 1e-4, "note": "a, b: c"}),
    ],
    search: Some((trials: 3, space: {"beta1": Uniform(0.0, 0.9)})),
    grid: {
        r#"lr\"g"#: [1, 2],
        "lr_g": [1e-4, 2e-4],
    },
)
"##;

    fn at(path: &[Seg<'_>], target: Target) -> String {
        Position::of_offset(TEXT, locate(TEXT, path, target)).to_string()
    }

    #[test]
    fn finds_fields_elements_and_keys() {
        assert_eq!(at(&[Seg::Field("name")], Target::Value), "4:11");
        assert_eq!(
            at(&[Seg::Field("variants"), Seg::Index(1)], Target::Key),
            "8:9"
        );
        assert_eq!(
            at(
                &[Seg::Field("variants"), Seg::Index(1), Seg::Field("plugin")],
                Target::Value
            ),
            "8:18"
        );
        assert_eq!(
            at(
                &[
                    Seg::Field("variants"),
                    Seg::Index(1),
                    Seg::Field("params"),
                    Seg::Key("lr_d")
                ],
                Target::Key
            ),
            "8:38"
        );
        assert_eq!(
            at(
                &[
                    Seg::Field("variants"),
                    Seg::Index(1),
                    Seg::Field("params"),
                    Seg::Key("lr_d")
                ],
                Target::Value
            ),
            "8:46"
        );
        assert_eq!(
            at(
                &[Seg::Field("grid"), Seg::Key("lr_g"), Seg::Index(1)],
                Target::Value
            ),
            "13:24"
        );
    }

    #[test]
    fn looks_through_some_and_into_tuples() {
        let path = [
            Seg::Field("search"),
            Seg::Field("space"),
            Seg::Key("beta1"),
            Seg::Index(1),
        ];
        assert_eq!(at(&path, Target::Value), "10:60");
        assert_eq!(
            at(&[Seg::Field("search"), Seg::Field("trials")], Target::Value),
            "10:27"
        );
    }

    #[test]
    fn broken_text_never_panics_or_hangs() {
        // `locate` also runs on text that failed to parse (to place a bad `data` value).
        let path = [
            Seg::Field("variants"),
            Seg::Index(1),
            Seg::Field("params"),
            Seg::Key("lr_d"),
        ];
        for end in 0..=TEXT.len() {
            if let Some(prefix) = TEXT.get(..end) {
                let at = locate(prefix, &path, Target::Value);
                assert!(at <= prefix.len());
            }
        }
        for text in [
            "\"\\",
            "r#\"",
            "/* /* */",
            "([{",
            ")]}",
            "é(\u{a0}x: 'é",
            "(a: b\"",
            "#![",
            "ÿ\"é\\",
        ] {
            assert!(locate(text, &path, Target::Key) <= text.len(), "{text:?}");
        }
    }

    #[test]
    fn a_missing_step_returns_the_deepest_prefix() {
        let path = [
            Seg::Field("variants"),
            Seg::Index(0),
            Seg::Field("params"),
            Seg::Key("lr"),
        ];
        assert_eq!(at(&path, Target::Key), "6:9");
        assert_eq!(at(&[Seg::Field("nothing")], Target::Key), "3:1");
    }
}
