//! `fedgen lint`: the reboot-safety and least-privilege rules, over any Compose file.
//!
//! Takes: a [`Project`] from the Compose reader (the normalized model, and the located tree it was
//! read from, so interpolation, `extends`, `include`, anchors and several `-f` files are already
//! resolved), the [`Sources`] its spans point into, and [`Options`] (rules disabled on the command
//! line). Gives: an [`Outcome`]: the [`Finding`]s, each with its [`Rule`], severity, message, the
//! span a person wrote, a fix and a key path that names it independently of lines; the spans of
//! secret values, which every rendering hides; and diagnostics about the file's own
//! `x-fedgen-lint` keys. Renderers: [`render_text`], [`to_json`] and [`sarif::to_sarif`];
//! [`suggest`] writes the stack spec that compiles to a safe equivalent.
//!
//! A rule is silenced for one service with `x-fedgen-lint: {disable: [RULE, ...]}` on the
//! service (or for the whole project at the top level): an `x-` key is part of no container, so
//! silencing a rule changes nothing Compose or fedgen deploy (a label would change the container
//! and Compose's config hash). Nothing here reads the Docker engine.

pub mod rules;
pub mod sarif;
pub mod suggest;

pub use rules::Rule;

use crate::compose::Project;
use crate::diag::{did_you_mean, Code, Diagnostic, Message, Severity, Sources, Span};
use crate::model::{Lifecycle, Service};
use crate::yaml::{Node, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The extension key that silences rules, on a service or at the top level.
pub const SUPPRESS_KEY: &str = "x-fedgen-lint";

/// What to check.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Rules not to run (`--disable`).
    pub disabled: BTreeSet<Rule>,
}

/// One problem a rule found.
#[derive(Clone, Debug)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    pub message: String,
    /// Where it was written: the value at fault, or the service's name when a key is missing.
    pub span: Span,
    /// The service it is about (none for project-wide findings and top-level secrets).
    pub service: Option<String>,
    /// Where it is in the project, independently of lines: `services.api.environment.JWT_SECRET`.
    pub path: String,
    /// What to write instead (the rule's fix, made specific where it can be).
    pub fix: String,
}

impl Finding {
    /// A stable identity across edits that move lines: a hash of the rule and the key path (SARIF
    /// `partialFingerprints`).
    pub fn fingerprint(&self) -> String {
        crate::model::sha256_hex(format!("{}\n{}", self.rule.id(), self.path))[..32].to_string()
    }

    /// The finding as the diagnostics renderer takes it.
    pub fn message(&self) -> Message<'_> {
        Message {
            severity: self.severity,
            id: self.rule.id(),
            text: &self.message,
            span: Some(self.span),
            labels: &[],
            hint: Some(&self.fix),
        }
    }
}

/// What `check` found in one project.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Sorted by file, line, column, rule.
    pub findings: Vec<Finding>,
    /// Findings silenced by `x-fedgen-lint` (not by `--disable`, whose rules do not run).
    pub suppressed: usize,
    /// Problems with the `x-fedgen-lint` keys themselves (an unknown rule): warnings.
    pub diags: Vec<Diagnostic>,
    /// Spans of secret values (found by name or inside a URL, whether or not a rule reports them),
    /// which no rendering of the sources may show: see [`display_sources`].
    pub secrets: Vec<Span>,
}

/// Lints one project.
pub fn check(project: &Project, sources: &Sources, opts: &Options) -> Outcome {
    let cx = Cx::new(project, sources);
    let mut out = Outcome::default();
    let project_off = disabled_by(cx.root, "the project", &mut out.diags);
    let service_off: Vec<(String, BTreeSet<Rule>)> = cx
        .services
        .iter()
        .map(|s| {
            let what = format!("service `{}`", s.name);
            (
                s.name.to_string(),
                disabled_by(s.node, &what, &mut out.diags),
            )
        })
        .collect();
    let mut raw = Vec::new();
    for rule in Rule::ALL {
        if !opts.disabled.contains(rule) {
            rules::check(*rule, &cx, &mut raw);
        }
    }
    for f in raw {
        let off = project_off.contains(&f.rule)
            || f.service.as_ref().is_some_and(|s| {
                service_off
                    .iter()
                    .any(|(name, off)| name == s && off.contains(&f.rule))
            });
        if off {
            out.suppressed += 1;
        } else {
            out.findings.push(f);
        }
    }
    out.findings.sort_by(|a, b| {
        (a.span.source, a.span.line, a.span.column, a.rule).cmp(&(
            b.span.source,
            b.span.line,
            b.span.column,
            b.rule,
        ))
    });
    out.secrets = rules::secret_spans(&cx);
    out
}

/// The rules an `x-fedgen-lint: {disable: [...]}` on `node` silences; an unknown rule or key is
/// a warning (with the closest rule), never silently nothing.
fn disabled_by(node: &Node, what: &str, diags: &mut Vec<Diagnostic>) -> BTreeSet<Rule> {
    let mut off = BTreeSet::new();
    let Some(x) = node.get(SUPPRESS_KEY) else {
        return off;
    };
    let Some(entries) = x.entries() else {
        diags.push(
            Diagnostic::warning(
                Code::WrongType,
                format!("`{SUPPRESS_KEY}` of {what} must be a mapping"),
            )
            .at(x.span)
            .hint(format!("{SUPPRESS_KEY}: {{disable: [no-healthcheck]}}")),
        );
        return off;
    };
    for (k, v) in entries {
        if k.scalar() != Some("disable") {
            diags.push(
                Diagnostic::warning(
                    Code::UnknownKey,
                    format!(
                        "`{SUPPRESS_KEY}` has no key `{}`",
                        k.scalar().unwrap_or_default()
                    ),
                )
                .at(k.span)
                .hint("the only key is `disable`: a list of rule ids"),
            );
            continue;
        }
        let items: Vec<&Node> = match &v.value {
            Value::Seq(items) => items.iter().collect(),
            Value::Scalar(..) if !v.is_null() => vec![v],
            _ => Vec::new(),
        };
        for item in items {
            let id = item.scalar().unwrap_or_default();
            match Rule::from_id(id) {
                Some(r) => {
                    off.insert(r);
                }
                None => {
                    let mut d = Diagnostic::warning(
                        Code::InvalidValue,
                        format!("`{id}` in `{SUPPRESS_KEY}` of {what} is not a lint rule"),
                    )
                    .at(item.span);
                    d = match did_you_mean(id, Rule::ALL.iter().map(|r| r.id())) {
                        Some(s) => d.hint(format!("did you mean `{s}`?")),
                        None => d.hint(
                            "`fedgen lint --help` lists the rules; docs/lint.md explains them",
                        ),
                    };
                    diags.push(d);
                }
            }
        }
    }
    off
}

/// What the rules read: the model and the tree side by side, per service.
pub(crate) struct Cx<'a> {
    pub sources: &'a Sources,
    pub root: &'a Node,
    pub services: Vec<Svc<'a>>,
}

/// One service: its model (what it means) and its node (where each part was written).
pub(crate) struct Svc<'a> {
    pub name: &'a str,
    /// The service's name where it was written.
    pub key: Span,
    pub node: &'a Node,
    pub model: &'a Service,
    /// A job (awaited with `service_completed_successfully`, or labelled one-shot): it is meant
    /// to exit, so the restart and healthcheck rules leave it alone.
    pub one_shot: bool,
}

impl<'a> Cx<'a> {
    fn new(project: &'a Project, sources: &'a Sources) -> Cx<'a> {
        let compose = &project.compose;
        let lifecycles = compose.lifecycles();
        let services = project
            .tree
            .get("services")
            .and_then(Node::entries)
            .unwrap_or_default()
            .iter()
            .filter_map(|(k, node)| {
                let name = k.scalar()?;
                let (name, model) = compose.services.get_key_value(name)?;
                Some(Svc {
                    name,
                    key: k.span,
                    node,
                    model,
                    one_shot: lifecycles.of(name) == Lifecycle::OneShot,
                })
            })
            .collect();
        Cx {
            sources,
            root: &project.tree,
            services,
        }
    }

    pub fn service(&self, name: &str) -> Option<&Svc<'a>> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The text written at `span` (before interpolation).
    pub fn written(&self, span: &Span) -> &'a str {
        self.sources
            .byte_range(span)
            .map(|r| &self.sources.text(span.source)[r])
            .unwrap_or_default()
    }
}

/// The key node of `key` in a mapping (where the key itself was written).
pub(crate) fn key_node<'n>(map: &'n Node, key: &str) -> Option<&'n Node> {
    map.entries()?
        .iter()
        .find(|(k, _)| k.scalar() == Some(key))
        .map(|(k, _)| k)
}

/// Severity order: info < warning < error.
pub fn rank(s: Severity) -> u8 {
    match s {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Error => 2,
    }
}

/// From which severity findings fail the run (`--fail-on`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    /// Only errors fail the run.
    Error,
    /// Errors and warnings fail the run (the default).
    Warning,
    /// Every finding fails the run.
    Info,
    /// Report, never fail (exit 0 unless the input is invalid).
    Never,
}

impl FailOn {
    pub fn fails(self, s: Severity) -> bool {
        match self {
            FailOn::Never => false,
            FailOn::Error => rank(s) >= rank(Severity::Error),
            FailOn::Warning => rank(s) >= rank(Severity::Warning),
            FailOn::Info => true,
        }
    }
}

/// Counts by severity, for the summary line and the JSON `summary`.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Counts {
    pub errors: usize,
    pub warnings: usize,
    pub info: usize,
}

impl Counts {
    pub fn of<'f>(findings: impl IntoIterator<Item = &'f Finding>) -> Counts {
        let mut c = Counts::default();
        for f in findings {
            match f.severity {
                Severity::Error => c.errors += 1,
                Severity::Warning => c.warnings += 1,
                Severity::Info => c.info += 1,
            }
        }
        c
    }

    pub fn total(&self) -> usize {
        self.errors + self.warnings + self.info
    }
}

/// A path as the output shows it: relative to `cwd` when it is inside it.
pub fn display_path(path: &Path, cwd: &Path) -> PathBuf {
    path.strip_prefix(cwd)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// The sources as every rendering shows them: paths relative to `cwd`, and every secret's value
/// overwritten with `*` (same length, so lines and columns do not move).
pub fn display_sources(sources: &Sources, secrets: &[Span], cwd: &Path) -> Sources {
    let mut shown = Sources::default();
    for i in 0..sources.len() {
        shown.add(display_path(sources.path(i), cwd), sources.text(i));
    }
    for s in secrets {
        shown.redact(*s);
    }
    shown
}

/// The text report: every finding with its source excerpt (`sources` as [`display_sources`]
/// makes them), sorted by file and line.
pub fn render_text(findings: &[Finding], sources: &Sources, color: bool) -> String {
    let messages: Vec<Message> = findings.iter().map(Finding::message).collect();
    crate::diag::render_messages(&messages, sources, color)
}

/// One finding as the JSON report (`--format json`, version 1) gives it.
pub fn finding_json(f: &Finding, sources: &Sources) -> serde_json::Value {
    serde_json::json!({
        "rule": f.rule.id(),
        "severity": f.severity,
        "message": f.message,
        "file": sources.path(f.span.source).display().to_string(),
        "line": f.span.line,
        "column": f.span.column,
        "end_column": f.span.column + f.span.len,
        "fix": f.fix,
        "service": f.service,
        "path": f.path,
        "fingerprint": f.fingerprint(),
    })
}

/// The JSON report: `{"version": 1, "findings": [...], "diagnostics": [...], "summary": {...}}`.
pub fn to_json(
    findings: &[Finding],
    diags: &[Diagnostic],
    sources: &Sources,
    summary: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "version": 1,
        "findings": findings.iter().map(|f| finding_json(f, sources)).collect::<Vec<_>>(),
        "diagnostics": crate::diag::to_json(diags, sources),
        "summary": summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose;
    use crate::diag::Diagnostics;

    /// Lints `text` as `compose.yaml` in a temporary directory.
    pub(crate) fn lint_text(text: &str) -> (Outcome, Sources) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("compose.yaml");
        std::fs::write(&file, text).unwrap();
        let opts = compose::Options {
            files: vec![file],
            cwd: dir.path().to_path_buf(),
            lenient: true,
            ..compose::Options::default()
        };
        let mut sources = Sources::default();
        let mut diags = Diagnostics::default();
        let project = compose::load(&opts, &mut sources, &mut diags)
            .unwrap_or_else(|| panic!("{}", crate::diag::render_human(&diags.items, &sources)));
        let out = check(&project, &sources, &Options::default());
        (out, sources)
    }

    fn ids(out: &Outcome) -> Vec<(&'static str, usize)> {
        out.findings
            .iter()
            .map(|f| (f.rule.id(), f.span.line))
            .collect()
    }

    #[test]
    fn every_rules_example_breaks_that_rule() {
        for rule in Rule::ALL {
            let (out, _) = lint_text(rule.example());
            assert!(
                out.findings.iter().any(|f| f.rule == *rule),
                "{rule}: the example gives {:?}",
                ids(&out)
            );
        }
    }

    #[test]
    fn a_safe_service_has_no_finding() {
        let (out, _) = lint_text(
            "services:\n  api:\n    image: example/api:1.4.2\n    restart: unless-stopped\n    healthcheck:\n      test: [CMD, wget, -q, http://127.0.0.1:8000/health]\n    logging:\n      driver: local\n    mem_limit: 512m\n    ports:\n      - 127.0.0.1:8000:8000\n",
        );
        assert_eq!(ids(&out), vec![]);
    }

    #[test]
    fn a_job_needs_no_restart_policy_nor_healthcheck() {
        let (out, _) = lint_text(
            "services:\n  migrate:\n    image: example/api:1.4.2\n    restart: \"no\"\n    mem_limit: 256m\n    logging: {driver: local}\n  api:\n    image: example/api:1.4.2\n    restart: always\n    healthcheck: {test: [CMD, \"true\"]}\n    mem_limit: 256m\n    logging: {driver: local}\n    depends_on:\n      migrate: {condition: service_completed_successfully}\n",
        );
        assert_eq!(ids(&out), vec![]);
    }

    #[test]
    fn x_fedgen_lint_silences_a_rule_for_one_service_and_warns_on_unknown_ids() {
        let (out, _) = lint_text(
            "services:\n  a:\n    image: x/a:1.0.0\n    x-fedgen-lint: {disable: [no-memory-limit, no-helthcheck]}\n  b:\n    image: x/b:1.0.0\n",
        );
        let mem: Vec<_> = out
            .findings
            .iter()
            .filter(|f| f.rule == Rule::NoMemoryLimit)
            .map(|f| f.service.clone().unwrap())
            .collect();
        assert_eq!(mem, vec!["b"]);
        assert_eq!(out.suppressed, 1);
        assert_eq!(out.diags.len(), 1);
        assert_eq!(
            out.diags[0].hint.as_deref(),
            Some("did you mean `no-healthcheck`?")
        );
    }

    #[test]
    fn fingerprints_do_not_depend_on_lines() {
        let (a, _) = lint_text("services:\n  api:\n    image: x/a:1.0.0\n");
        let (b, _) = lint_text("# moved\n\nservices:\n  api:\n    image: x/a:1.0.0\n");
        let fa: Vec<_> = a.findings.iter().map(Finding::fingerprint).collect();
        let fb: Vec<_> = b.findings.iter().map(Finding::fingerprint).collect();
        assert_eq!(fa, fb);
        assert_ne!(a.findings[0].span.line, b.findings[0].span.line);
    }

    #[test]
    fn secrets_are_redacted_in_what_is_shown() {
        let (out, sources) = lint_text(
            "services:\n  api:\n    image: x/a:1.0.0\n    environment:\n      JWT_SECRET: hunter2-value\n      DB_URL: postgres://app:pw-in-url@db/app\n      LIST: x\n  b:\n    image: x/b:1.0.0\n    environment:\n      - API_KEY=list-form-value\n",
        );
        let shown = display_sources(&sources, &out.secrets, Path::new("/"));
        let text = render_text(&out.findings, &shown, false);
        for secret in ["hunter2-value", "pw-in-url", "list-form-value"] {
            assert!(!text.contains(secret), "{secret} in:\n{text}");
            assert!(!shown.shown(0).contains(secret), "{secret}");
        }
        assert!(shown.shown(0).contains("postgres://app:*********@db/app"));
        assert!(text.contains("JWT_SECRET: *************"), "{text}");
    }

    #[test]
    fn a_quoted_secret_with_escapes_is_hidden_to_its_closing_quote() {
        let (out, sources) = lint_text(
            "services:\n  api:\n    image: x/a:1.0.0\n    environment:\n      A_PASSWORD: \"ab\\\"cd\\\"ef\" # c\n      B_TOKEN: 'gh''ij'\n",
        );
        let shown = display_sources(&sources, &out.secrets, Path::new("/"));
        assert!(
            shown.shown(0).contains("A_PASSWORD: \"**********\" # c"),
            "{}",
            shown.shown(0)
        );
        assert!(
            shown.shown(0).contains("B_TOKEN: '******'"),
            "{}",
            shown.shown(0)
        );
    }
}
