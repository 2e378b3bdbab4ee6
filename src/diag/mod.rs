//! Diagnostics: located, hinted problems, collected across a whole stage and reported at once.
//!
//! Takes: messages from every stage, each with a [`Code`], an optional [`Span`] into a
//! [`Sources`] file, more labelled spans where a problem has two places (a key given twice, two
//! services on one port) and a hint. Gives: a human rendering ([`render`]: `file:line:col`, the
//! source lines with the spans underlined, the hint) and a JSON rendering for CI. Nothing here
//! decides exit codes; the CLI maps outcomes to codes in one place.

mod code;
mod render;

pub use code::Code;
pub use render::{render, render_human, render_messages, to_json, Message};

use serde::Serialize;
use std::path::{Path, PathBuf};

/// A position in one of the [`Sources`]: 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Span {
    #[serde(skip)]
    pub source: usize,
    pub line: usize,
    pub column: usize,
    /// Width of the underlined text in characters (at least 1).
    #[serde(skip)]
    pub len: usize,
}

impl Span {
    pub fn new(source: usize, line: usize, column: usize, len: usize) -> Self {
        Span {
            source,
            line,
            column,
            len: len.max(1),
        }
    }

    /// The span `offset` characters to the right on the same line (for text inside a scalar).
    pub fn shifted(self, offset: usize, len: usize) -> Self {
        Span::new(self.source, self.line, self.column + offset, len)
    }
}

/// A value with the place it came from.
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    /// Advice (`fedgen lint`'s lowest level; no diagnostic of a stage has it).
    Info,
}

/// One problem, with where it is and what to do about it.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The kind of problem (its text is part of the JSON contract).
    pub code: Code,
    pub message: String,
    #[serde(skip)]
    pub span: Option<Span>,
    /// Other places that belong to the problem, each with what it is ("first given here").
    #[serde(skip)]
    pub labels: Vec<(Span, String)>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: None,
            labels: Vec::new(),
            hint: None,
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn at(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    pub fn at_opt(mut self, span: Option<Span>) -> Self {
        self.span = span;
        self
    }

    /// Another place that belongs to the problem.
    pub fn label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push((span, text.into()));
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The files diagnostics point into, by index (the `source` of a [`Span`]).
#[derive(Default, Debug)]
pub struct Sources {
    files: Vec<SourceFile>,
    /// Places whose text must not be shown (secret values written in a file): rendered as `*`.
    redacted: std::cell::RefCell<Vec<Span>>,
}

#[derive(Debug)]
struct SourceFile {
    path: PathBuf,
    text: String,
    /// Byte offset of the start of each line, so a line is found in O(1).
    line_starts: Vec<usize>,
}

impl Sources {
    pub fn add(&mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> usize {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        self.files.push(SourceFile {
            path: path.into(),
            text,
            line_starts,
        });
        self.files.len() - 1
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn path(&self, source: usize) -> &Path {
        &self.files[source].path
    }

    pub fn text(&self, source: usize) -> &str {
        &self.files[source].text
    }

    /// Marks a span as secret: excerpts of the file show `*` in its place.
    pub fn redact(&self, span: Span) {
        self.redacted.borrow_mut().push(span);
    }

    /// A file's text as diagnostics show it: every character of a redacted span replaced by `*`,
    /// so every line and column stays where it was.
    pub fn shown(&self, source: usize) -> std::borrow::Cow<'_, str> {
        let text = self.text(source);
        let ranges: Vec<std::ops::Range<usize>> = self
            .redacted
            .borrow()
            .iter()
            .filter(|s| s.source == source)
            .filter_map(|s| self.byte_range(s))
            .collect();
        if ranges.is_empty() {
            return std::borrow::Cow::Borrowed(text);
        }
        let masked = text
            .char_indices()
            .map(|(i, c)| {
                if ranges.iter().any(|r| r.contains(&i)) {
                    '*'
                } else {
                    c
                }
            })
            .collect();
        std::borrow::Cow::Owned(masked)
    }

    /// The text of a 1-based line, without its line break.
    pub fn line_text(&self, source: usize, line: usize) -> Option<&str> {
        let f = self.files.get(source)?;
        let start = *f.line_starts.get(line.checked_sub(1)?)?;
        let end = f
            .line_starts
            .get(line)
            .map(|e| e - 1)
            .unwrap_or(f.text.len());
        Some(f.text[start..end].trim_end_matches('\r'))
    }

    /// The byte range of a span in `text` (a file as [`Sources::shown`] shows it).
    pub fn range_in(text: &str, span: &Span) -> Option<std::ops::Range<usize>> {
        let start: usize = text
            .split_inclusive('\n')
            .take(span.line.checked_sub(1)?)
            .map(str::len)
            .sum();
        let line = text[start..].split('\n').next()?.trim_end_matches('\r');
        let col = |chars: usize| {
            line.char_indices()
                .nth(chars)
                .map(|(b, _)| b)
                .unwrap_or(line.len())
        };
        let from = col(span.column.saturating_sub(1));
        let to = col(span.column.saturating_sub(1) + span.len).max(from);
        Some(start + from..start + to)
    }

    /// The byte range of a span in its file (clamped to its line).
    pub fn byte_range(&self, span: &Span) -> Option<std::ops::Range<usize>> {
        let f = self.files.get(span.source)?;
        let start = *f.line_starts.get(span.line.checked_sub(1)?)?;
        let line = self.line_text(span.source, span.line)?;
        let col = |chars: usize| {
            line.char_indices()
                .nth(chars)
                .map(|(b, _)| b)
                .unwrap_or(line.len())
        };
        let from = col(span.column.saturating_sub(1));
        let to = col(span.column.saturating_sub(1) + span.len).max(from);
        Some(start + from..start + to)
    }
}

/// A collector that stages push into; `finish` splits errors from warnings.
#[derive(Default, Debug)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    /// Sort by file, line, column, so output order does not depend on traversal order.
    pub fn sort(&mut self) {
        self.items.sort_by_key(|d| {
            d.span
                .map(|s| (0, s.source, s.line, s.column))
                .unwrap_or((1, 0, 0, 0))
        });
    }
}

/// "did you mean" suggestion: the closest candidate by Jaro-Winkler similarity, if it is close.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        let keys = ["image", "kind", "uses"];
        assert_eq!(did_you_mean("imgae", keys), Some("image"));
        assert_eq!(did_you_mean("zzz", keys), None);
    }

    #[test]
    fn spans_map_to_byte_ranges() {
        let mut sources = Sources::default();
        let id = sources.add("s.yml", "a: é\nkey: value\n");
        let r = sources.byte_range(&Span::new(id, 2, 6, 5)).unwrap();
        assert_eq!(&sources.text(id)[r], "value");
        let r = sources.byte_range(&Span::new(id, 1, 4, 1)).unwrap();
        assert_eq!(&sources.text(id)[r], "é");
    }

    #[test]
    fn a_redacted_span_keeps_every_column() {
        let mut sources = Sources::default();
        let id = sources.add("s.yml", "a: é-secret # c\nkey: value\n");
        sources.redact(Span::new(id, 1, 4, 8));
        let shown = sources.shown(id);
        assert_eq!(shown, "a: ******** # c\nkey: value\n");
        let r = Sources::range_in(&shown, &Span::new(id, 2, 6, 5)).unwrap();
        assert_eq!(&shown[r], "value");
        assert_eq!(
            sources.text(id),
            "a: é-secret # c\nkey: value\n",
            "the text itself is kept"
        );
    }
}
