//! Service kinds: minijinja templates, embedded in the binary and overridable from a directory.
//!
//! Takes: the built-in `templates/*.yml.j2` and, optionally, a user's `--templates DIR` (a file
//! there replaces the built-in of the same name, or adds a kind). Gives: a [`Kinds`] catalog in
//! which each kind has its template text and its metadata, read from the YAML in the template's
//! leading `{# ... #}` comment: default port, parameters, capabilities, what its healthcheck uses.

use crate::compile::probe::Probe;
use crate::diag::{Code, Diagnostic, Diagnostics, Sources, Span};
use crate::units::{Bytes, Cpus, Duration};
use indexmap::IndexMap;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The built-in kinds, compiled into the binary from `templates/`.
pub const BUILTIN: &[(&str, &str)] = &[
    ("caddy", include_str!("../../templates/caddy.yml.j2")),
    ("grafana", include_str!("../../templates/grafana.yml.j2")),
    ("http", include_str!("../../templates/http.yml.j2")),
    ("job", include_str!("../../templates/job.yml.j2")),
    ("loki", include_str!("../../templates/loki.yml.j2")),
    (
        "meilisearch",
        include_str!("../../templates/meilisearch.yml.j2"),
    ),
    ("minio", include_str!("../../templates/minio.yml.j2")),
    ("postgres", include_str!("../../templates/postgres.yml.j2")),
    (
        "prometheus",
        include_str!("../../templates/prometheus.yml.j2"),
    ),
    ("promtail", include_str!("../../templates/promtail.yml.j2")),
    ("redis", include_str!("../../templates/redis.yml.j2")),
    (
        "static-web",
        include_str!("../../templates/static-web.yml.j2"),
    ),
    ("worker", include_str!("../../templates/worker.yml.j2")),
];

pub const TEMPLATE_SUFFIX: &str = ".yml.j2";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Int,
    Bool,
    List,
    Map,
    /// The name of a secret declared in the stack; the service gets it mounted.
    Secret,
    /// The name of another service in the stack.
    Service,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamMeta {
    #[serde(rename = "type")]
    pub ty: ParamType,
    #[serde(default)]
    pub default: Option<serde_json::Value>,
    #[serde(default)]
    pub required: bool,
    /// Strings (or list items) must be identifiers: letters, digits, `_` and `-`, not starting
    /// with `-` (for values a template writes into scripts or configs).
    #[serde(default)]
    pub identifier: bool,
    pub doc: String,
}

fn yes() -> bool {
    true
}

/// What a kind's template declares about itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindMeta {
    pub doc: String,
    /// The port the service listens on, unless the spec's `port:` says otherwise.
    #[serde(default)]
    pub port: Option<u16>,
    /// What the healthcheck runs inside the container, so users know what the image must ship.
    pub health: String,
    /// Where that program is known to come from in the upstream image (its Dockerfile at the tag
    /// the bundled stacks pin), or how it was tried.
    #[serde(default)]
    pub health_source: Option<String>,
    /// Runs until stopped (false: a one-shot job others wait for with service_completed_successfully).
    #[serde(default = "yes")]
    pub long_running: bool,
    /// For each secret the service lists, set `NAME_FILE=/run/secrets/name` (uppercased).
    #[serde(default = "yes")]
    pub secret_file_env: bool,
    /// Settings of the image that accept a `*_FILE` secret (documentation).
    #[serde(default)]
    pub file_secrets: Vec<String>,
    /// Capabilities the image needs after `cap_drop: [ALL]`, each with the reason.
    #[serde(default)]
    pub cap_add: BTreeMap<String, String>,
    /// Whether the root filesystem can be read-only (with the template's tmpfs mounts).
    #[serde(default = "yes")]
    pub read_only: bool,
    #[serde(default)]
    pub memory: Option<Bytes>,
    #[serde(default)]
    pub cpus: Option<Cpus>,
    #[serde(default)]
    pub stop_grace_period: Option<Duration>,
    #[serde(default)]
    pub params: IndexMap<String, ParamMeta>,
    /// The default probe of a kind whose healthcheck is an HTTP GET (`probe(service.probe, url)`
    /// in the template); `probe:` in the spec chooses another.
    #[serde(default)]
    pub probe: Option<Probe>,
    /// Where the kind keeps its data: the target of its data mount, which `data:` in the spec
    /// points at an existing volume or a host path.
    #[serde(default)]
    pub data: Option<String>,
    /// The image families the kind is made for, each with the image names that identify it and
    /// the values the template reads as `service.family`. An image of no family is refused.
    #[serde(default)]
    pub families: IndexMap<String, Family>,
}

/// One image family of a kind (redis and valkey for the `redis` kind).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    /// Repository names (the last part of the image's name, before the tag) of this family.
    pub images: Vec<String>,
    /// What the template reads as `service.family.KEY` (the server and client commands, ...).
    #[serde(default)]
    pub vars: BTreeMap<String, serde_json::Value>,
}

impl KindMeta {
    /// The family of `image`, by its repository name: `valkey/valkey:7.2` is `valkey`.
    pub fn family_of(&self, image: &str) -> Option<&str> {
        let repo = image
            .split('@')
            .next()
            .unwrap_or(image)
            .rsplit('/')
            .next()
            .unwrap_or(image);
        let repo = repo.split(':').next().unwrap_or(repo);
        self.families
            .iter()
            .find(|(_, f)| f.images.iter().any(|i| i == repo))
            .map(|(name, _)| name.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Kind {
    pub name: String,
    pub meta: KindMeta,
    pub template: String,
    /// Index into [`Sources`], for errors that point into the template.
    pub source: usize,
    /// Line of the template where the body (after the metadata comment) starts.
    pub body_line: usize,
}

#[derive(Debug, Default)]
pub struct Kinds {
    pub kinds: BTreeMap<String, Kind>,
    /// Kinds whose template failed to load (already reported): not "unknown" to later stages.
    pub broken: std::collections::BTreeSet<String>,
}

impl Kinds {
    /// Loads the built-in kinds, then the `.yml.j2` files of `dir` over them.
    pub fn load(dir: Option<&Path>, sources: &mut Sources, diags: &mut Diagnostics) -> Kinds {
        let mut kinds = Kinds::default();
        for (name, text) in BUILTIN {
            kinds.add(
                name,
                format!("templates/{name}{TEMPLATE_SUFFIX}"),
                text.to_string(),
                sources,
                diags,
            );
        }
        let Some(dir) = dir else { return kinds };
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                diags.push(
                    Diagnostic::error(
                        Code::TemplateUnreadable,
                        format!("cannot read templates directory {}: {e}", dir.display()),
                    )
                    .hint("--templates takes a directory of KIND.yml.j2 files"),
                );
                return kinds;
            }
        };
        let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for path in files {
            let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            let Some(name) = file.strip_suffix(TEMPLATE_SUFFIX) else {
                continue;
            };
            // Path safety: a template is a regular file in the directory, not a link out of it.
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_file() => {}
                _ => {
                    diags.push(
                        Diagnostic::error(Code::TemplateUnsafe, format!("{} is not a regular file", path.display()))
                            .hint("templates must be plain files inside the --templates directory (symbolic links are refused)"),
                    );
                    continue;
                }
            }
            match std::fs::read_to_string(&path) {
                Ok(text) => kinds.add(name, path.display().to_string(), text, sources, diags),
                Err(e) => {
                    kinds.broken.insert(name.to_string());
                    diags.push(Diagnostic::error(
                        Code::TemplateUnreadable,
                        format!("cannot read {}: {e}", path.display()),
                    ))
                }
            }
        }
        kinds
    }

    fn add(
        &mut self,
        name: &str,
        path: String,
        text: String,
        sources: &mut Sources,
        diags: &mut Diagnostics,
    ) {
        let source = sources.add(path, text.clone());
        // Syntax errors are found here, with their line, rather than at render time.
        if let Err(e) =
            minijinja::Environment::new().add_template_owned(name.to_string(), text.clone())
        {
            let detail = e
                .detail()
                .map(str::to_string)
                .unwrap_or_else(|| e.kind().to_string());
            diags.push(
                Diagnostic::error(
                    Code::TemplateSyntax,
                    format!("template syntax error: {detail}"),
                )
                .at(Span::new(source, e.line().unwrap_or(1), 1, 1)),
            );
            self.broken.insert(name.to_string());
            return;
        }
        match parse_meta(&text, source) {
            Ok((meta, body_line)) => {
                self.kinds.insert(
                    name.to_string(),
                    Kind {
                        name: name.to_string(),
                        meta,
                        template: text,
                        source,
                        body_line,
                    },
                );
            }
            Err(d) => {
                diags.push(d);
                self.broken.insert(name.to_string());
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&Kind> {
        self.kinds.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.kinds.keys().map(String::as_str)
    }

    /// The kinds reference as Markdown: what each kind is, its port, what its healthcheck relies on,
    /// its capabilities with their reasons, its `*_FILE` settings and its parameters.
    pub fn markdown(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from(
            "# Service kinds\n\nGenerated by `fedgen kinds --markdown`; a test keeps it in step with `templates/`.\n\n\
             Every kind gets fedgen's policies (restart, log rotation, networks, `cap_drop: [ALL]`,\n\
             `no-new-privileges`, limits, labels); see [policies.md](policies.md). Below is what each kind adds.\n\n\
             ## Probes\n\n\
             A healthcheck runs inside the container, with the image's programs: an image without `wget`\n\
             cannot run a `wget` healthcheck, the service never turns healthy and nothing that uses it starts.\n\
             The kinds whose healthcheck is an HTTP GET take `probe:` (per service, or in `defaults`):\n\n\
             | probe | runs | works on |\n|---|---|---|\n\
             | `auto` | the first of wget, curl, python3, bash (`/dev/tcp`) that the image has, from `/bin/sh` | alpine, Debian, Ubuntu, python:*-slim |\n\
             | `wget` | `wget -q -O /dev/null URL` | alpine and busybox-based images |\n\
             | `curl` | `curl -fsS -o /dev/null URL` | images that install curl |\n\
             | `bash` | an HTTP/1.0 GET over bash's `/dev/tcp` | Debian- and Ubuntu-based images |\n\
             | `python` | `python3 -c 'urllib.request.urlopen(URL)'` | Python images |\n\
             | `node` | `node -e 'http.get(URL)'` | Node.js images |\n\
             | `image` | the image's own HEALTHCHECK, with fedgen's timing | images that declare one |\n\n\
             `fedgen apply` (and `diff`) check before anything changes that each new container's image has the\n\
             program its healthcheck runs, and refuse with the service, the image, what is missing and this setting.\n",
        );
        for k in self.kinds.values() {
            let m = &k.meta;
            let _ = writeln!(out, "\n## `{}`\n\n{}\n", k.name, m.doc);
            let _ = writeln!(
                out,
                "- port: {}",
                m.port
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "none".into())
            );
            let _ = writeln!(out, "- healthcheck relies on: {}", m.health);
            if let Some(src) = &m.health_source {
                let _ = writeln!(out, "- checked against: {src}");
            }
            if let Some(p) = m.probe {
                let _ = writeln!(
                    out,
                    "- probe: `{p}` unless the service (or `defaults`) says `probe:`"
                );
            }
            if let Some(d) = &m.data {
                let _ = writeln!(out, "- data: `{d}` (its own volume; `data:` points it at an existing volume or a host path)");
            }
            for (name, f) in &m.families {
                let _ = writeln!(
                    out,
                    "- image family `{name}`: images named {}",
                    f.images
                        .iter()
                        .map(|i| format!("`{i}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if !m.long_running {
                let _ = writeln!(
                    out,
                    "- one-shot: `restart: no`; dependants wait for `service_completed_successfully`"
                );
            }
            let _ = writeln!(
                out,
                "- read-only root: {}",
                if m.read_only {
                    "yes, unless it receives copied-in secrets or configs"
                } else {
                    "no"
                }
            );
            if let Some(mem) = &m.memory {
                let _ = writeln!(
                    out,
                    "- default limits: memory {mem}, cpus {}",
                    m.cpus
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "none".into())
                );
            }
            if let Some(g) = &m.stop_grace_period {
                let _ = writeln!(out, "- stop grace period: {g}");
            }
            for (cap, why) in &m.cap_add {
                let _ = writeln!(out, "- adds `{cap}`: {why}");
            }
            if !m.file_secrets.is_empty() {
                let _ = writeln!(out, "- secrets by file: {}", m.file_secrets.join(", "));
            }
            if !m.params.is_empty() {
                let _ = writeln!(out, "\n| setting | type | default | |\n|---|---|---|---|");
                for (name, p) in &m.params {
                    let default = match (&p.default, p.required) {
                        (_, true) => "required".to_string(),
                        (Some(d), _) => format!("`{d}`"),
                        (None, _) => "none".to_string(),
                    };
                    let _ = writeln!(
                        out,
                        "| `{name}` | {} | {default} | {} |",
                        format!("{:?}", p.ty).to_lowercase(),
                        p.doc.replace('|', "\\|")
                    );
                }
            }
        }
        out
    }
}

/// Reads the metadata comment at the top of a template: `{# <YAML> #}`.
fn parse_meta(text: &str, source: usize) -> Result<(KindMeta, usize), Diagnostic> {
    let missing = || {
        Diagnostic::error(
            Code::TemplateMeta,
            "a kind template starts with a `{# ... #}` comment holding its metadata (YAML)",
        )
        .at(Span::new(source, 1, 1, 1))
        .hint("see docs/kinds.md for the keys: doc, port, health, params, cap_add, ...")
    };
    let body = text.trim_start();
    let lead_lines = text[..text.len() - body.len()].matches('\n').count();
    let rest = body.strip_prefix("{#").ok_or_else(missing)?;
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let end = rest.find("#}").ok_or_else(missing)?;
    let yaml = rest[..end].trim_end_matches('-');
    let meta_lines = rest[..end + 2].matches('\n').count();
    serde_norway::from_str::<KindMeta>(yaml)
        .map(|m| (m, lead_lines + meta_lines + 1))
        .map_err(|e| {
            let line = e.location().map(|l| l.line()).unwrap_or(0);
            Diagnostic::error(Code::TemplateMeta, format!("invalid kind metadata: {e}"))
                .at(Span::new(source, lead_lines + line, 1, 1))
                .hint("see docs/kinds.md for the metadata keys")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_kind_loads() {
        let mut sources = Sources::default();
        let mut diags = Diagnostics::default();
        let kinds = Kinds::load(None, &mut sources, &mut diags);
        assert!(diags.items.is_empty(), "{:?}", diags.items);
        assert_eq!(kinds.kinds.len(), BUILTIN.len());
        for k in kinds.kinds.values() {
            assert!(
                !k.meta.health.is_empty(),
                "{} documents its healthcheck",
                k.name
            );
        }
    }

    #[test]
    fn meta_errors_point_into_the_template() {
        let mut sources = Sources::default();
        let text = "{#\ndoc: x\nhealth: y\nbogus: 1\n#}\nservice: {}\n";
        let id = sources.add("t.yml.j2", text);
        let err = parse_meta(text, id).unwrap_err();
        assert_eq!(err.code, Code::TemplateMeta);
        assert!(err.message.contains("bogus"), "{}", err.message);
    }
}
