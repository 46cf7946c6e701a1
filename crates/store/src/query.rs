//! The `--where` language of `ganbench ls`: comparisons of a run's fields joined by `and`, `or`,
//! `not` and parentheses, e.g. `lr_d < 3e-4 and status = finished` or
//! `(tag = good or modes >= 7) and plugin != vae`.
//!
//! ```text
//! expr       := and ("or" and)*
//! and        := unary ("and" unary)*
//! unary      := "not" unary | "(" expr ")" | comparison
//! comparison := FIELD ("=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "~") VALUE
//! VALUE      := a number, a word, or a string in '…' or "…"
//! ```
//!
//! The caller says what a field is ([`Fields`]): for `ganbench ls` the run's own columns, its
//! parameters, its final metrics and its tags. Numbers compare as numbers when both sides are
//! numbers, anything else as text; `~` is "contains". A field that a run lacks (a parameter of
//! another plugin, a metric it never logged) or that is NaN makes the comparison false, as
//! NULL does in SQL. Hand-written: the grammar is twelve lines, and the crates that evaluate
//! expressions want quoted strings (`status == "finished"`), which reads worse on a command line.

use std::fmt;

/// A field's value in one run.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// A number (parameters, metrics, seed, step, id).
    Number(f64),
    /// Text (status, plugin, label, text parameters).
    Text(&'a str),
    /// A set of words, of which `=` asks for one (tags).
    Set(&'a [String]),
}

/// Where a filter looks up fields.
pub trait Fields {
    /// The value of `name`, or `None` when this run has no such field.
    fn get(&self, name: &str) -> Option<FieldValue<'_>>;
}

/// A `--where` expression that did not parse: what and where (a character offset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--where `{text}`: {problem} at character {}; example: --where 'lr_d < 3e-4 and status = finished'", .at + 1)]
pub struct QueryError {
    /// The whole expression.
    pub text: String,
    /// Character offset of the problem.
    pub at: usize,
    /// What is wrong.
    pub problem: String,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=` or `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `~`: contains.
    Contains,
}

/// A parsed `--where` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `field op value`.
    Compare {
        /// The field's name.
        field: String,
        /// The operator.
        op: Op,
        /// The value as written.
        value: String,
    },
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `not a`.
    Not(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(Op),
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let error = |at: usize, problem: &str| QueryError {
        text: text.to_string(),
        at,
        problem: problem.to_string(),
    };
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let token = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => Token::Open,
            ')' => Token::Close,
            '\'' | '"' => {
                let Some(len) = chars[i + 1..].iter().position(|&d| d == c) else {
                    return Err(error(start, "a quote is never closed"));
                };
                let word: String = chars[i + 1..i + 1 + len].iter().collect();
                i += len + 1;
                Token::Quoted(word)
            }
            '=' | '!' | '<' | '>' | '~' => {
                let next = chars.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    ('=', Some('=')) => (Op::Eq, 2),
                    ('=', _) => (Op::Eq, 1),
                    ('!', Some('=')) => (Op::Ne, 2),
                    ('<', Some('=')) => (Op::Le, 2),
                    ('<', _) => (Op::Lt, 1),
                    ('>', Some('=')) => (Op::Ge, 2),
                    ('>', _) => (Op::Gt, 1),
                    ('~', _) => (Op::Contains, 1),
                    _ => return Err(error(start, "`!` alone is not an operator (`!=` is)")),
                };
                i += len - 1;
                Token::Op(op)
            }
            _ => {
                let len = chars[i..]
                    .iter()
                    .position(|&d| d.is_whitespace() || "()=!<>~'\"".contains(d))
                    .unwrap_or(chars.len() - i);
                let word: String = chars[i..i + len].iter().collect();
                i += len - 1;
                Token::Word(word)
            }
        };
        tokens.push((start, token));
        i += 1;
    }
    Ok(tokens)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<(usize, Token)>,
    next: usize,
}

impl Parser<'_> {
    fn error(&self, problem: impl Into<String>) -> QueryError {
        QueryError {
            text: self.text.to_string(),
            at: self
                .tokens
                .get(self.next)
                .map_or(self.text.chars().count(), |(at, _)| *at),
            problem: problem.into(),
        }
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.tokens.get(self.next), Some((_, Token::Word(w))) if w.eq_ignore_ascii_case(keyword))
    }

    fn or(&mut self) -> Result<Filter, QueryError> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.next += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, QueryError> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.next += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, QueryError> {
        if self.peek_keyword("not") {
            self.next += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        match self.tokens.get(self.next).cloned() {
            Some((_, Token::Open)) => {
                self.next += 1;
                let inner = self.or()?;
                match self.tokens.get(self.next) {
                    Some((_, Token::Close)) => {
                        self.next += 1;
                        Ok(inner)
                    }
                    _ => Err(self.error("expected `)`")),
                }
            }
            Some((_, Token::Word(field))) => {
                self.next += 1;
                let Some((_, Token::Op(op))) = self.tokens.get(self.next).cloned() else {
                    return Err(self.error(format!(
                        "expected an operator (= != < <= > >= ~) after `{field}`"
                    )));
                };
                self.next += 1;
                let value = match self.tokens.get(self.next).cloned() {
                    Some((_, Token::Word(v) | Token::Quoted(v))) => v,
                    _ => return Err(self.error("expected a value")),
                };
                self.next += 1;
                Ok(Filter::Compare { field, op, value })
            }
            _ => Err(self.error("expected a field name, `not` or `(`")),
        }
    }
}

impl Filter {
    /// Parses a `--where` expression.
    pub fn parse(text: &str) -> Result<Filter, QueryError> {
        let mut parser = Parser {
            text,
            tokens: tokenize(text)?,
            next: 0,
        };
        let filter = parser.or()?;
        if parser.next < parser.tokens.len() {
            return Err(parser.error("expected `and`, `or` or the end"));
        }
        Ok(filter)
    }

    /// The field names the expression reads, in order, without repeats.
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit(&mut |field| {
            if !out.contains(&field) {
                out.push(field);
            }
        });
        out
    }

    fn visit<'a>(&'a self, f: &mut impl FnMut(&'a str)) {
        match self {
            Filter::Compare { field, .. } => f(field),
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Filter::Not(a) => a.visit(f),
        }
    }

    /// Whether a run with these fields passes.
    pub fn matches(&self, fields: &dyn Fields) -> bool {
        match self {
            Filter::Compare { field, op, value } => fields
                .get(field)
                .is_some_and(|have| compare(&have, *op, value)),
            Filter::And(a, b) => a.matches(fields) && b.matches(fields),
            Filter::Or(a, b) => a.matches(fields) || b.matches(fields),
            Filter::Not(a) => !a.matches(fields),
        }
    }
}

fn compare(have: &FieldValue<'_>, op: Op, want: &str) -> bool {
    use std::cmp::Ordering;
    let ordering = match have {
        FieldValue::Set(words) => {
            let has = words.iter().any(|w| match op {
                Op::Contains => w.contains(want),
                _ => w == want,
            });
            return match op {
                Op::Eq | Op::Contains => has,
                Op::Ne => !has,
                // "tag < x" means nothing.
                _ => false,
            };
        }
        FieldValue::Number(x) => match want.parse::<f64>() {
            Ok(y) if !x.is_nan() && !y.is_nan() => x.partial_cmp(&y),
            Ok(_) => None,
            Err(_) => Some(x.to_string().as_str().cmp(want)),
        },
        FieldValue::Text(s) => {
            if op == Op::Contains {
                return s.contains(want);
            }
            Some(s.cmp(&want))
        }
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match op {
        Op::Eq => ordering == Ordering::Equal,
        Op::Ne => ordering != Ordering::Equal,
        Op::Lt => ordering == Ordering::Less,
        Op::Le => ordering != Ordering::Greater,
        Op::Gt => ordering == Ordering::Greater,
        Op::Ge => ordering != Ordering::Less,
        Op::Contains => matches!(have, FieldValue::Number(x) if x.to_string().contains(want)),
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "~",
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Row(HashMap<&'static str, FieldValue<'static>>);

    impl Fields for Row {
        fn get(&self, name: &str) -> Option<FieldValue<'_>> {
            self.0.get(name).cloned()
        }
    }

    fn tags() -> &'static [String] {
        static TAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        TAGS.get_or_init(|| vec!["good".into(), "paper-fig2".into()])
    }

    fn row(lr_d: f64, status: &'static str, modes: f64) -> Row {
        Row(HashMap::from([
            ("lr_d", FieldValue::Number(lr_d)),
            ("status", FieldValue::Text(status)),
            ("modes", FieldValue::Number(modes)),
            ("tag", FieldValue::Set(tags())),
        ]))
    }

    fn pass(text: &str, row: &Row) -> bool {
        Filter::parse(text).unwrap().matches(row)
    }

    #[test]
    fn the_issues_example_filters_on_a_parameter_and_the_status() {
        let text = "lr_d < 3e-4 and status = finished";
        assert!(pass(text, &row(1e-4, "finished", 8.0)));
        assert!(!pass(text, &row(5e-4, "finished", 8.0)));
        assert!(!pass(text, &row(1e-4, "diverged", 8.0)));
        assert_eq!(Filter::parse(text).unwrap().fields(), ["lr_d", "status"]);
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_and_not_work() {
        let r = row(1e-4, "diverged", 8.0);
        // (status = finished and modes > 9) or lr_d < 1e-3 → true
        assert!(pass("status = finished and modes > 9 or lr_d < 1e-3", &r));
        assert!(!pass(
            "status = finished and (modes > 9 or lr_d < 1e-3)",
            &r
        ));
        assert!(pass("not status = finished", &r));
        assert!(pass("NOT (modes >= 9) AND status != finished", &r));
        assert!(pass("modes <= 8 and modes >= 8 and modes == 8", &r));
    }

    #[test]
    fn tags_are_a_set_and_missing_or_nan_fields_fail_every_comparison() {
        let r = row(1e-4, "finished", f64::NAN);
        assert!(pass("tag = good", &r));
        assert!(pass("tag ~ fig", &r));
        assert!(!pass("tag = bad", &r));
        assert!(pass("tag != bad", &r));
        assert!(!pass("modes > 0 or modes <= 0 or modes = 0", &r));
        assert!(!pass("hidden = 64", &r));
        assert!(pass("not hidden = 64", &r));
        assert!(pass("status ~ fin and status = 'finished'", &r));
    }

    #[test]
    fn malformed_expressions_say_where() {
        for (text, at, problem) in [
            ("lr_d <", 6, "expected a value"),
            ("lr_d 3e-4", 5, "expected an operator"),
            ("(lr_d < 1", 9, "expected `)`"),
            ("status = 'finished", 9, "never closed"),
            ("lr_d < 1 modes > 2", 9, "expected `and`, `or`"),
            ("lr_d ! 1", 5, "`!` alone"),
            ("", 0, "expected a field name"),
        ] {
            let error = Filter::parse(text).unwrap_err();
            assert_eq!(error.at, at, "{text}: {error}");
            assert!(error.problem.contains(problem), "{text}: {error}");
        }
    }
}
