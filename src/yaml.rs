//! YAML with a position on every node, for files people write (Compose files).
//!
//! Takes: a file's text (one of the [`Sources`]) and [`Options`]. Gives: a [`Node`] tree in which
//! every scalar, sequence, mapping and key carries the [`Span`] of the text it came from, with
//! aliases expanded (under a budget, so an alias bomb cannot expand), `<<` merge keys applied (as
//! Compose applies them to its `x-` extension fields), and the tags Compose gives a meaning
//! (`!reset`, `!override`) kept on their node; or every problem found, located: syntax, a key
//! given twice (with both places), an unknown tag, a complex key, runaway nesting or size.
//!
//! Built on saphyr-parser's event stream, which gives each event its style and position.

use crate::diag::{Code, Diagnostic, Sources, Span};
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

/// How a scalar was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Bare: YAML may read it as a number, a boolean or null.
    Plain,
    /// Quoted or a block: always a string.
    Quoted,
}

#[derive(Clone, Debug)]
pub enum Value {
    Scalar(String, Style),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// One node of a document, with where it was written.
#[derive(Clone, Debug)]
pub struct Node {
    pub value: Value,
    pub span: Span,
    /// `reset` or `override` (Compose's merge tags), without the `!`.
    pub tag: Option<String>,
}

impl Node {
    pub fn scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// A plain `null`, `~` or nothing.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s, Style::Plain) if matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub fn entries(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn items(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()?
            .iter()
            .find(|(k, _)| k.scalar() == Some(key))
            .map(|(_, v)| v)
    }

    /// "a mapping", "a list", "a string": for "must be X, not Y" messages.
    /// A key's (or any scalar's) text; empty for a sequence or a mapping.
    pub fn as_str(&self) -> &str {
        self.scalar().unwrap_or_default()
    }

    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar(..) if self.is_null() => "empty",
            Value::Scalar(..) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// What the reader accepts.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Expand aliases and merge keys (Compose files) or refuse anchors outright (stack specs).
    pub anchors: bool,
    /// Keep Compose's `!reset` and `!override` (Compose files) or refuse every tag (stack specs).
    pub compose_tags: bool,
    /// How many nodes aliases may add in all.
    pub alias_budget: usize,
    pub max_depth: usize,
    pub max_bytes: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            anchors: true,
            compose_tags: true,
            alias_budget: 100_000,
            max_depth: 64,
            max_bytes: 4 << 20,
        }
    }
}

impl Options {
    /// A stack spec's rules: no anchors, aliases, merge keys or tags.
    pub fn strict() -> Options {
        Options {
            anchors: false,
            compose_tags: false,
            ..Options::default()
        }
    }
}

/// Parses the first document of `sources[source]`; `None` (and diagnostics) when it is not YAML
/// or breaks a limit. An empty file is an empty mapping.
pub fn parse(
    source: usize,
    sources: &Sources,
    opts: Options,
    diags: &mut Vec<Diagnostic>,
) -> Option<Node> {
    let text = sources.text(source);
    let at = |line: usize, col: usize, len: usize| Span::new(source, line, col, len);
    if text.len() > opts.max_bytes {
        diags.push(
            Diagnostic::error(
                Code::YamlTooLarge,
                format!(
                    "the file is {} bytes; the limit is {}",
                    text.len(),
                    opts.max_bytes
                ),
            )
            .at(at(1, 1, 1)),
        );
        return None;
    }
    let mut b = Builder {
        opts,
        stack: Vec::new(),
        anchors: HashMap::new(),
        added: 0,
        root: None,
        diags,
    };
    for event in Parser::new_from_str(text) {
        match event {
            Ok((e, span)) => {
                let s = at(span.start.line(), span.start.col() + 1, span.len().max(1));
                if !b.event(e, s) {
                    return None;
                }
                if b.root.is_some() {
                    break;
                }
            }
            Err(e) => {
                let m = e.marker();
                b.diags.push(
                    Diagnostic::error(Code::YamlSyntax, format!("invalid YAML: {}", e.info()))
                        .at(at(m.line(), m.col() + 1, 1)),
                );
                return None;
            }
        }
    }
    Some(b.root.unwrap_or(Node {
        value: Value::Map(Vec::new()),
        span: at(1, 1, 1),
        tag: None,
    }))
}

enum Open {
    Seq(Node, Vec<Node>, usize),
    /// The mapping, its entries, a key waiting for its value, its anchor.
    Map(Node, Vec<(Node, Node)>, Option<Node>, usize),
}

struct Builder<'d> {
    opts: Options,
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    added: usize,
    root: Option<Node>,
    diags: &'d mut Vec<Diagnostic>,
}

fn size(n: &Node) -> usize {
    1 + match &n.value {
        Value::Scalar(..) => 0,
        Value::Seq(s) => s.iter().map(size).sum(),
        Value::Map(m) => m.iter().map(|(k, v)| size(k) + size(v)).sum(),
    }
}

impl Builder<'_> {
    fn tag(&mut self, tag: Option<&saphyr_parser::Tag>, span: Span) -> Option<Option<String>> {
        let Some(t) = tag else { return Some(None) };
        if !self.opts.compose_tags {
            self.diags.push(
                Diagnostic::error(
                    Code::YamlTag,
                    "YAML tags (`!tag`) are not supported in stack specs",
                )
                .at(span),
            );
            return None;
        }
        if t.handle == "!" && matches!(t.suffix.as_str(), "reset" | "override") {
            return Some(Some(t.suffix.clone()));
        }
        if t.handle == "tag:yaml.org,2002:" || t.handle == "!!" {
            return Some(None);
        }
        self.diags.push(
            Diagnostic::error(
                Code::YamlTag,
                format!("the tag `{}{}` means nothing here", t.handle, t.suffix),
            )
            .at(span)
            .hint("Compose knows `!reset` and `!override`; remove the tag"),
        );
        None
    }

    fn anchor(&mut self, id: usize, span: Span) -> bool {
        if id != 0 && !self.opts.anchors {
            self.diags.push(
                Diagnostic::error(
                    Code::YamlAnchor,
                    "YAML anchors and aliases are not supported in stack specs",
                )
                .at(span)
                .hint("use `defaults:` for values that several services share"),
            );
            return false;
        }
        true
    }

    /// Handles one event; `false` stops the parse (a diagnostic was pushed).
    fn event(&mut self, e: Event, span: Span) -> bool {
        let is_map = matches!(e, Event::MappingStart(..));
        match e {
            Event::Scalar(value, style, anchor, tag) => {
                let Some(tag) = self.tag(tag.as_deref(), span) else {
                    return false;
                };
                if !self.anchor(anchor, span) {
                    return false;
                }
                let raw_style = style;
                let style = if style == ScalarStyle::Plain {
                    Style::Plain
                } else {
                    Style::Quoted
                };
                let len = value.chars().count().max(1);
                // A quoted scalar's place is its text, inside the quotes (so that an offset
                // into the value is a column in the file).
                let quoted = matches!(
                    raw_style,
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
                );
                let node = Node {
                    value: Value::Scalar(value.into_owned(), style),
                    span: Span::new(
                        span.source,
                        span.line,
                        span.column + usize::from(quoted),
                        len.min(span.len.max(len)),
                    ),
                    tag,
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push(node)
            }
            Event::Alias(id) => {
                if !self.anchor(id, span) {
                    return false;
                }
                let Some(node) = self.anchors.get(&id).cloned() else {
                    self.diags.push(
                        Diagnostic::error(Code::YamlAnchor, "this alias names no anchor").at(span),
                    );
                    return false;
                };
                self.added += size(&node);
                if self.added > self.opts.alias_budget {
                    self.diags.push(
                        Diagnostic::error(
                            Code::YamlAnchor,
                            format!(
                                "aliases expand to more than {} nodes",
                                self.opts.alias_budget
                            ),
                        )
                        .at(span)
                        .hint("this looks like an alias bomb; write the values out"),
                    );
                    return false;
                }
                self.push(node)
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                let Some(tag) = self.tag(tag.as_deref(), span) else {
                    return false;
                };
                if !self.anchor(anchor, span) {
                    return false;
                }
                if self.stack.len() >= self.opts.max_depth {
                    self.diags.push(
                        Diagnostic::error(
                            Code::YamlTooDeep,
                            format!("the file nests deeper than {} levels", self.opts.max_depth),
                        )
                        .at(span),
                    );
                    return false;
                }
                let shell = Node {
                    value: if is_map {
                        Value::Map(vec![])
                    } else {
                        Value::Seq(vec![])
                    },
                    span: Span::new(span.source, span.line, span.column, 1),
                    tag,
                };
                self.stack.push(if is_map {
                    Open::Map(shell, Vec::new(), None, anchor)
                } else {
                    Open::Seq(shell, Vec::new(), anchor)
                });
                true
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Open::Seq(mut node, items, anchor)) => {
                    node.value = Value::Seq(items);
                    if anchor != 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    self.push(node)
                }
                _ => true,
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Open::Map(mut node, entries, _, anchor)) => {
                    node.value = Value::Map(if self.opts.anchors {
                        merge_keys(entries)
                    } else {
                        entries
                    });
                    if anchor != 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    self.push(node)
                }
                _ => true,
            },
            _ => true,
        }
    }

    /// Places a finished node in its parent (or as the document).
    fn push(&mut self, node: Node) -> bool {
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                true
            }
            Some(Open::Seq(_, items, _)) => {
                items.push(node);
                true
            }
            Some(Open::Map(_, entries, pending, _)) => match pending.take() {
                None => {
                    if !matches!(node.value, Value::Scalar(..)) {
                        self.diags.push(
                            Diagnostic::error(
                                Code::YamlComplexKey,
                                "mapping keys must be plain strings",
                            )
                            .at(node.span),
                        );
                        return false;
                    }
                    let text = node.scalar().unwrap_or_default();
                    if text != "<<" {
                        if let Some((first, _)) =
                            entries.iter().find(|(k, _)| k.scalar() == Some(text))
                        {
                            let first = first.span;
                            self.diags.push(
                                Diagnostic::error(
                                    Code::DuplicateKey,
                                    format!("`{text}` is given twice"),
                                )
                                .at(node.span)
                                .label(first, "first given here")
                                .hint("keep one of them"),
                            );
                            return false;
                        }
                    }
                    *pending = Some(node);
                    true
                }
                Some(key) => {
                    entries.push((key, node));
                    true
                }
            },
        }
    }
}

/// Applies YAML merge keys: `<<: *base` (or a list of them) adds the base's entries that the
/// mapping does not set itself; an earlier base wins over a later one.
fn merge_keys(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    if !entries.iter().any(|(k, _)| k.scalar() == Some("<<")) {
        return entries;
    }
    let mut own: Vec<(Node, Node)> = Vec::new();
    let mut bases: Vec<Node> = Vec::new();
    for (k, v) in entries {
        if k.scalar() == Some("<<") {
            match v.value {
                Value::Seq(items) => bases.extend(items),
                _ => bases.push(v),
            }
        } else {
            own.push((k, v));
        }
    }
    for base in bases {
        if let Value::Map(m) = base.value {
            for (k, v) in m {
                if !own.iter().any(|(o, _)| o.scalar() == k.scalar()) {
                    own.push((k, v));
                }
            }
        }
    }
    own
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> (Option<Node>, Vec<Diagnostic>) {
        let mut sources = Sources::default();
        let id = sources.add("f.yml", text);
        let mut diags = Vec::new();
        let node = parse(id, &sources, Options::default(), &mut diags);
        (node, diags)
    }

    #[test]
    fn every_node_knows_where_it_was_written() {
        let (node, d) =
            parse_str("services:\n  web:\n    image: nginx:1.25\n    ports: [\"80:80\"]\n");
        assert!(d.is_empty(), "{d:?}");
        let image = node
            .unwrap()
            .get("services")
            .unwrap()
            .get("web")
            .unwrap()
            .get("image")
            .unwrap()
            .clone();
        assert_eq!(image.scalar(), Some("nginx:1.25"));
        assert_eq!(
            (image.span.line, image.span.column, image.span.len),
            (3, 12, 10)
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys_as_compose_uses_them() {
        let text = "x-common: &common\n  restart: always\n  environment: { A: '1' }\nservices:\n  a:\n    <<: *common\n    image: a:1\n    restart: \"no\"\n";
        let (node, d) = parse_str(text);
        assert!(d.is_empty(), "{d:?}");
        let a = node
            .unwrap()
            .get("services")
            .unwrap()
            .get("a")
            .unwrap()
            .clone();
        assert_eq!(
            a.get("restart").unwrap().scalar(),
            Some("no"),
            "the mapping's own key wins"
        );
        assert_eq!(
            a.get("environment").unwrap().get("A").unwrap().scalar(),
            Some("1")
        );
        assert_eq!(a.get("image").unwrap().scalar(), Some("a:1"));
    }

    #[test]
    fn an_alias_bomb_is_stopped() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            text.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let (node, d) = parse_str(&text);
        assert!(node.is_none());
        assert_eq!(d[0].code, Code::YamlAnchor, "{d:?}");
    }

    #[test]
    fn a_key_given_twice_points_at_both() {
        let (node, d) = parse_str("a: 1\nb: 2\na: 3\n");
        assert!(node.is_none());
        assert_eq!(d[0].code, Code::DuplicateKey);
        assert_eq!(d[0].span.unwrap().line, 3);
        assert_eq!(d[0].labels[0].0.line, 1);
    }

    #[test]
    fn merge_tags_stay_and_others_are_refused() {
        let (node, d) = parse_str(
            "services:\n  a:\n    ports: !override [\"81:80\"]\n    image: !reset null\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let a = node
            .unwrap()
            .get("services")
            .unwrap()
            .get("a")
            .unwrap()
            .clone();
        assert_eq!(a.get("ports").unwrap().tag.as_deref(), Some("override"));
        assert_eq!(a.get("image").unwrap().tag.as_deref(), Some("reset"));
        let (_, d) = parse_str("a: !custom 1\n");
        assert_eq!(d[0].code, Code::YamlTag);
    }

    #[test]
    fn syntax_errors_are_located() {
        let (node, d) = parse_str("a: [1, 2\nb: 3\n");
        assert!(node.is_none());
        assert_eq!(d[0].code, Code::YamlSyntax);
        assert!(d[0].span.is_some());
    }
}
