//! The findings as SARIF 2.1.0, the way GitHub code scanning reads it.
//!
//! Takes: the findings of every project linted, the sources they point into (paths as shown:
//! relative to the current directory where they can be), the reader's diagnostics, and the
//! current directory. Gives: one SARIF log with one run: the tool with every rule (descriptions,
//! help in text and Markdown, default level, tags), a result per finding (rule id and index,
//! level, message, the file as a URI relative to `%SRCROOT%` with the real line and columns, and a
//! fingerprint of rule and key path that survives moved lines), and the reader's diagnostics as
//! tool notifications. Tested against the official schema (tests/lint.rs).

use super::{Finding, Rule};
use crate::diag::{Diagnostic, Severity, Sources};
use serde_json::{json, Value};
use std::path::Path;

/// The schema a SARIF 2.1.0 log names.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Where to read about the tool: the package's `repository` when Cargo.toml names one.
fn information_uri() -> &'static str {
    match option_env!("CARGO_PKG_REPOSITORY") {
        Some(r) if !r.is_empty() => r,
        _ => "urn:fedgen:docs:lint",
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn rule_descriptor(r: Rule) -> Value {
    let example = r.example().trim_end();
    json!({
        "id": r.id(),
        "name": r.name(),
        "shortDescription": { "text": r.title() },
        "fullDescription": { "text": r.rationale() },
        "help": {
            "text": format!("{}\n\nFix: {}", r.rationale(), r.fix()),
            "markdown": format!(
                "{}\n\n**Fix:** {}\n\nExample that breaks the rule:\n\n```yaml\n{example}\n```\n\nSilence it for one service with `x-fedgen-lint: {{disable: [{}]}}`.",
                r.rationale(),
                r.fix(),
                r.id()
            ),
        },
        "defaultConfiguration": { "level": level(r.severity()) },
        "properties": { "tags": r.tags() },
    })
}

/// A file's URI: relative (to `%SRCROOT%`, the current directory) when the path is, otherwise a
/// `file://` URI.
fn artifact(path: &Path) -> Value {
    let text = encode(&path.to_string_lossy());
    if path.is_absolute() {
        json!({ "uri": format!("file://{text}") })
    } else {
        json!({ "uri": text, "uriBaseId": "%SRCROOT%" })
    }
}

/// Percent-encodes what a URI path cannot hold as is (RFC 3986 unreserved characters and `/`
/// stay).
fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn result(f: &Finding, sources: &Sources) -> Value {
    let index = Rule::ALL.iter().position(|r| *r == f.rule).unwrap_or(0);
    let mut v = json!({
        "ruleId": f.rule.id(),
        "ruleIndex": index,
        "level": level(f.severity),
        "message": { "text": format!("{} (fix: {})", f.message, f.fix) },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": artifact(sources.path(f.span.source)),
                "region": {
                    "startLine": f.span.line,
                    "startColumn": f.span.column,
                    "endColumn": f.span.column + f.span.len,
                },
            },
        }],
        "partialFingerprints": { "fedgenFindingHash/v1": f.fingerprint() },
        "properties": { "path": f.path },
    });
    if let Some(s) = &f.service {
        v["properties"]["service"] = s.clone().into();
    }
    v
}

fn notification(d: &Diagnostic, sources: &Sources) -> Value {
    let mut v = json!({
        "level": level(d.severity),
        "message": { "text": d.message },
        "descriptor": { "id": d.code.as_str() },
    });
    if let Some(span) = d.span {
        v["locations"] = json!([{
            "physicalLocation": {
                "artifactLocation": artifact(sources.path(span.source)),
                "region": { "startLine": span.line, "startColumn": span.column },
            },
        }]);
    }
    v
}

/// The SARIF log of one `fedgen lint` run. `ok`: every project was read.
pub fn to_sarif(
    findings: &[Finding],
    diags: &[Diagnostic],
    sources: &Sources,
    cwd: &Path,
    ok: bool,
) -> Value {
    let mut root = encode(&cwd.to_string_lossy());
    if !root.ends_with('/') {
        root.push('/');
    }
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "fedgen",
                    "informationUri": information_uri(),
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": Rule::ALL.iter().map(|r| rule_descriptor(*r)).collect::<Vec<_>>(),
                },
            },
            "originalUriBaseIds": { "%SRCROOT%": { "uri": format!("file://{root}") } },
            "columnKind": "unicodeCodePoints",
            "invocations": [{
                "executionSuccessful": ok,
                "toolExecutionNotifications": diags.iter().map(|d| notification(d, sources)).collect::<Vec<_>>(),
            }],
            "results": findings.iter().map(|f| result(f, sources)).collect::<Vec<_>>(),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_uris() {
        assert_eq!(
            artifact(Path::new("a b/compose.yml")),
            json!({"uri": "a%20b/compose.yml", "uriBaseId": "%SRCROOT%"})
        );
        assert_eq!(
            artifact(Path::new("/srv/é.yml")),
            json!({"uri": "file:///srv/%C3%A9.yml"})
        );
    }
}
