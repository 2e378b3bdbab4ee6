//! Diagnostics rendered for people (annotate-snippets, as rustc and cargo render theirs) and for
//! CI (one JSON object each, with file, line and column).

use super::{Diagnostic, Severity, Sources, Span};
use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

/// One message to render: the shape a [`Diagnostic`] has, and a `fedgen lint` finding too (whose
/// id is a rule, not a [`super::Code`]).
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    pub severity: Severity,
    /// Shown in brackets after the severity: `error[id]`.
    pub id: &'a str,
    pub text: &'a str,
    pub span: Option<Span>,
    pub labels: &'a [(Span, String)],
    pub hint: Option<&'a str>,
}

impl<'a> From<&'a Diagnostic> for Message<'a> {
    fn from(d: &'a Diagnostic) -> Self {
        Message {
            severity: d.severity,
            id: d.code.as_str(),
            text: &d.message,
            span: d.span,
            labels: &d.labels,
            hint: d.hint.as_deref(),
        }
    }
}

/// Every diagnostic, each as `error[code]: message`, `--> file:line:col`, the source lines with
/// the spans underlined (the primary one with `^`, labelled others with `-`), and `= hint:`;
/// with ANSI colours when `color`.
pub fn render(diags: &[Diagnostic], sources: &Sources, color: bool) -> String {
    let messages: Vec<Message> = diags.iter().map(Message::from).collect();
    render_messages(&messages, sources, color)
}

/// [`render`] for any [`Message`]s.
pub fn render_messages(messages: &[Message], sources: &Sources, color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    // Files as they are shown: secrets' values masked (columns kept).
    let shown: Vec<std::borrow::Cow<'_, str>> =
        (0..sources.len()).map(|i| sources.shown(i)).collect();
    let range = |span: &Span| {
        shown
            .get(span.source)
            .and_then(|text| Sources::range_in(text, span))
    };
    for d in messages {
        let level = match d.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
            Severity::Info => Level::INFO,
        };
        let title = level.primary_title(d.text).id(d.id);
        let mut group = Group::with_title(title);
        let located = d.span.and_then(|s| range(&s).map(|r| (s.source, r)));
        if let Some((source, primary)) = located {
            let mut snippet = Snippet::source(shown[source].as_ref())
                .path(sources.path(source).to_str().unwrap_or_default())
                .annotation(AnnotationKind::Primary.span(primary));
            for (span, label) in d.labels {
                if let Some(r) = range(span) {
                    if span.source == source {
                        snippet = snippet
                            .annotation(AnnotationKind::Context.span(r).label(label.as_str()));
                    }
                }
            }
            group = group.element(snippet);
            // Labels in other files get a snippet of their own.
            for (span, label) in d.labels.iter().filter(|(s, _)| s.source != source) {
                if let Some(r) = range(span) {
                    group = group.element(
                        Snippet::source(shown[span.source].as_ref())
                            .path(sources.path(span.source).to_str().unwrap_or_default())
                            .annotation(AnnotationKind::Context.span(r).label(label.as_str())),
                    );
                }
            }
        }
        if let Some(hint) = d.hint {
            group = group.element(Level::HELP.with_name(Some("hint")).message(hint));
        }
        out.push_str(&renderer.render(&[group]));
        out.push_str("\n\n");
    }
    out
}

/// [`render`] without colours (files, tests, pipes).
pub fn render_human(diags: &[Diagnostic], sources: &Sources) -> String {
    render(diags, sources, false)
}

/// One JSON object per diagnostic, with the file as a string: the machine-readable contract.
pub fn to_json(diags: &[Diagnostic], sources: &Sources) -> serde_json::Value {
    let items: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| {
            let mut v = serde_json::to_value(d).expect("diagnostic serializes");
            if let Some(span) = d.span {
                v["file"] = sources.path(span.source).display().to_string().into();
                v["line"] = span.line.into();
                v["column"] = span.column.into();
            }
            v
        })
        .collect();
    serde_json::Value::Array(items)
}

#[cfg(test)]
mod tests {
    use super::super::{Code, Span};
    use super::*;

    #[test]
    fn renders_the_line_an_underline_and_the_hint() {
        let mut sources = Sources::default();
        let id = sources.add("s.yml", "services:\n  db:\n    imgae: x\n");
        let d = Diagnostic::error(Code::UnknownKey, "unknown key `imgae`")
            .at(Span::new(id, 3, 5, 5))
            .hint("did you mean `image`?");
        let text = render_human(&[d], &sources);
        assert!(
            text.starts_with("error[unknown-key]: unknown key `imgae`\n"),
            "{text}"
        );
        assert!(text.contains("--> s.yml:3:5"), "{text}");
        assert!(text.contains("3 |     imgae: x\n  |     ^^^^^"), "{text}");
        assert!(text.contains("= hint: did you mean `image`?"), "{text}");
    }

    #[test]
    fn a_second_place_is_shown_with_its_label() {
        let mut sources = Sources::default();
        let id = sources.add("s.yml", "a:\n  publish: 80\nb:\n  publish: 80\n");
        let d = Diagnostic::error(Code::PortConflict, "host port 80 is published twice")
            .at(Span::new(id, 4, 12, 2))
            .label(Span::new(id, 2, 12, 2), "first published here");
        let text = render_human(&[d], &sources);
        assert!(text.contains("-- first published here"), "{text}");
        assert!(text.contains("^^"), "{text}");
    }
}
