//! The stack spec: `stacks/*.yml` parsed into typed values that remember where they came from.
//!
//! Takes: the spec's text and the [`Env`] for `${VAR}` interpolation. Gives: a [`Spec`] whose every
//! value carries a [`Span`], plus a diagnostic for every problem found on the way (YAML syntax,
//! unknown keys with a "did you mean", wrong types, missing or secret variables). Parsing goes on
//! after a problem so that one run reports all of them.
//!
//! YAML is read with [`crate::yaml`] in its strict mode, which keeps a line and column on every
//! node (serde_norway only locates syntax errors) and refuses anchors, aliases and tags outright,
//! so alias bombs cannot expand.
//! Cross-references (does a `uses` target exist?) are the next stage's business: see `validate`.

use crate::compile::env::{looks_secret, Env};
use crate::compile::interpolate::{self, Problem};
use crate::compile::probe::Probe;
use crate::diag::{did_you_mean, Code, Diagnostic, Diagnostics, Sources, Span, Spanned};
use crate::model::RestartPolicy;
use crate::names::{self, NameKind};
use crate::units::{Bytes, Cpus, Duration, UnitError};
use crate::yaml::{self, Node, Value};
use indexmap::IndexMap;
use std::collections::BTreeSet;

/// Largest spec fedgen reads: far above any real stack, small enough to bound time and memory.
pub const MAX_SPEC_BYTES: usize = 4 << 20;
/// Deepest nesting of `[`/`{`/indentation accepted before parsing (hostile input guard).
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone)]
pub struct Spec {
    pub name: Spanned<String>,
    pub allow_latest: bool,
    /// Allow absolute host paths, paths out of the project and symbolic links in bind mounts and
    /// `file:` secrets.
    pub allow_host_paths: bool,
    pub defaults: Defaults,
    pub secrets: IndexMap<String, SecretDecl>,
    pub networks: IndexMap<String, NetworkDecl>,
    pub volumes: IndexMap<String, VolumeDecl>,
    pub services: IndexMap<String, ServiceSpec>,
    /// What `fedgen build` writes unless `--target` says: a compose file or a swarm stack file.
    pub target: Option<Spanned<crate::model::swarm::Target>>,
}

/// A volume the stack declares: one of its own, or an existing one (`external`, `name`).
#[derive(Debug, Clone)]
pub struct VolumeDecl {
    pub span: Span,
    /// The volume exists already and is not the project's to create or remove.
    pub external: bool,
    /// Its name on the engine, when not `PROJECT_VOLUME` (or, for an external one, the key).
    pub name: Option<String>,
}

/// A limit that a service may also remove on purpose (`memory: none`).
pub type Limit<T> = Option<Spanned<Option<T>>>;

/// A secret a service reads: at `/run/secrets/NAME`, and, for an app that cannot read a file,
/// also as the environment variable `env` (set by a wrapper at start, never in the file).
#[derive(Debug, Clone)]
pub struct SecretUse {
    pub name: Spanned<String>,
    pub env: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub restart: Option<Spanned<RestartPolicy>>,
    pub logging: LoggingSpec,
    pub memory: Limit<Bytes>,
    pub cpus: Limit<Cpus>,
    pub pids_limit: Option<Spanned<i64>>,
    pub publish_ip: Option<Spanned<String>>,
    pub stop_grace_period: Option<Spanned<Duration>>,
    pub network_isolation: Option<Spanned<String>>,
    /// Timing (interval, timeout, retries, start_period) over every kind's healthcheck.
    pub healthcheck: Option<Spanned<HealthSpec>>,
    /// Environment every service gets, under its own `env:`.
    pub env: Vec<EnvEntry>,
    /// The probe of every HTTP-checked service that does not choose its own.
    pub probe: Option<Spanned<Probe>>,
}

#[derive(Debug, Clone, Default)]
pub struct LoggingSpec {
    pub driver: Option<Spanned<String>>,
    pub max_size: Option<Spanned<String>>,
    pub max_file: Option<Spanned<String>>,
}

#[derive(Debug, Clone)]
pub enum SecretSource {
    /// The value is read from this variable when deploying; it never enters the compose file.
    Env(String),
    /// The value is this file (relative paths are relative to the spec's directory).
    File(String),
    /// fedgen makes a random value of this many bytes once and keeps it in its secrets directory.
    Generate(usize),
}

#[derive(Debug, Clone)]
pub struct SecretDecl {
    pub name: Spanned<String>,
    pub source: SecretSource,
}

#[derive(Debug, Clone)]
pub struct NetworkDecl {
    pub name: Spanned<String>,
    pub internal: bool,
}

#[derive(Debug, Clone)]
pub struct PublishSpec {
    pub host_ip: Option<String>,
    pub host_port: u16,
    pub container_port: Option<u16>,
    pub span: Span,
}

#[derive(Debug, Clone, Default)]
pub struct HealthSpec {
    pub disabled: bool,
    /// `healthcheck: image`: the image's own HEALTHCHECK, with fedgen's timing.
    pub image: bool,
    pub test: Option<Vec<String>>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub start_period: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct EnvEntry {
    pub key: Spanned<String>,
    /// The value as written (templates `{{ ... }}` not yet rendered, `${VAR}` not yet substituted).
    pub raw: Spanned<String>,
}

#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    pub image: Option<Spanned<String>>,
    pub port: Option<Spanned<u16>>,
    pub publish: Vec<PublishSpec>,
    pub uses: Vec<Spanned<String>>,
    pub secrets: Vec<SecretUse>,
    pub env: Vec<EnvEntry>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub user: Option<Spanned<String>>,
    pub restart: Option<Spanned<RestartPolicy>>,
    pub memory: Limit<Bytes>,
    pub cpus: Limit<Cpus>,
    pub pids_limit: Option<Spanned<i64>>,
    pub healthcheck: Option<Spanned<HealthSpec>>,
    pub logging: LoggingSpec,
    pub networks: Option<Vec<Spanned<String>>>,
    pub volumes: Vec<Spanned<String>>,
    pub read_only: Option<bool>,
    pub egress: bool,
    pub allow_latest: Option<bool>,
    pub not_secret: BTreeSet<String>,
    pub stop_grace_period: Option<Spanned<Duration>>,
    /// How the HTTP healthcheck asks (the kind's default otherwise).
    pub probe: Option<Spanned<Probe>>,
    /// Where the kind's data lives instead of its own volume: a declared volume or a host path.
    pub data: Option<Spanned<String>>,
    /// Capabilities beyond the kind's (an opt-out of the hardening, warned about).
    pub cap_add: Vec<Spanned<String>>,
    pub shm_size: Option<Spanned<Bytes>>,
    /// Which of the kind's image families the image belongs to, when its name does not say.
    pub image_family: Option<Spanned<String>>,
    /// How many copies run (swarm target only; a compose project runs one).
    pub replicas: Option<Spanned<u64>>,
    /// An unmanaged container (made by hand, `docker run --name`) that this service replaces
    /// with `fedgen apply --adopt`, whatever its name.
    pub adopt: Option<Spanned<String>>,
    /// Keys the kind defines (e.g. `databases` for postgres), checked against the kind by `validate`.
    pub params: IndexMap<String, (Span, serde_json::Value)>,
}

pub const TOP_KEYS: &[&str] = &[
    "name",
    "allow_latest",
    "allow_host_paths",
    "defaults",
    "secrets",
    "networks",
    "volumes",
    "services",
    "target",
];
pub const DEFAULT_KEYS: &[&str] = &[
    "restart",
    "logging",
    "memory",
    "cpus",
    "pids_limit",
    "publish_ip",
    "stop_grace_period",
    "network_isolation",
    "healthcheck",
    "env",
    "probe",
];
pub const LOGGING_KEYS: &[&str] = &["driver", "max_size", "max_file"];
pub const SERVICE_KEYS: &[&str] = &[
    "kind",
    "image",
    "port",
    "publish",
    "uses",
    "secrets",
    "env",
    "command",
    "entrypoint",
    "user",
    "restart",
    "memory",
    "cpus",
    "pids_limit",
    "healthcheck",
    "logging",
    "networks",
    "volumes",
    "read_only",
    "egress",
    "allow_latest",
    "not_secret",
    "stop_grace_period",
    "probe",
    "data",
    "cap_add",
    "shm_size",
    "image_family",
    "replicas",
    "adopt",
];
const HEALTH_KEYS: &[&str] = &["test", "interval", "timeout", "retries", "start_period"];

/// Reads one spec file. Returns `None` only when the text is not YAML at all; otherwise a spec
/// that may be partial, with every problem in `diags`.
pub fn parse(source: usize, sources: &Sources, env: &Env, diags: &mut Diagnostics) -> Option<Spec> {
    let text = sources.text(source);
    if text.len() > MAX_SPEC_BYTES {
        diags.push(
            Diagnostic::error(
                Code::SpecTooLarge,
                format!(
                    "the spec is {} bytes; the limit is {MAX_SPEC_BYTES}",
                    text.len()
                ),
            )
            .at(Span::new(source, 1, 1, 1)),
        );
        return None;
    }
    if let Some(span) = too_deep(source, text) {
        diags.push(
            Diagnostic::error(
                Code::SpecTooDeep,
                format!("the spec nests deeper than {MAX_DEPTH} levels"),
            )
            .at(span)
            .hint("a stack spec is a few levels deep; this looks like generated or hostile input"),
        );
        return None;
    }
    let mut yd = Vec::new();
    let root = yaml::parse(source, sources, yaml::Options::strict(), &mut yd);
    for d in yd {
        diags.push(d);
    }
    let root = root?;
    if root.entries().is_none() && !root.is_null() {
        diags.push(
            Diagnostic::error(Code::SpecNotMapping, "a stack spec is a YAML mapping")
                .at(root.span)
                .hint("start with `name:` and `services:`"),
        );
        return None;
    }
    let mut r = Reader {
        source,
        sources,
        env,
        diags,
    };
    Some(r.spec(&root))
}

/// Rejects runaway nesting before the YAML loader sees it (flow brackets or indentation).
fn too_deep(source: usize, text: &str) -> Option<Span> {
    let mut depth = 0usize;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent / 2 > MAX_DEPTH {
            return Some(Span::new(source, n + 1, 1, indent));
        }
        for (c, ch) in line.chars().enumerate() {
            match ch {
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some(Span::new(source, n + 1, c + 1, 1));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                '#' => break,
                _ => {}
            }
        }
    }
    None
}

struct Reader<'a> {
    source: usize,
    sources: &'a Sources,
    env: &'a Env,
    diags: &'a mut Diagnostics,
}

fn kind_of(node: &Node) -> &'static str {
    match node.value {
        Value::Scalar(..) => "a scalar",
        Value::Map(_) => "a mapping",
        Value::Seq(_) => "a list",
    }
}

fn is_null(node: &Node) -> bool {
    node.is_null()
}

/// Lookups on a mapping's entries.
trait Entries {
    fn get_node(&self, key: &str) -> Option<&Node>;
    fn keys(&self) -> impl Iterator<Item = &Node>;
}

impl Entries for [(Node, Node)] {
    fn get_node(&self, key: &str) -> Option<&Node> {
        self.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    }

    fn keys(&self) -> impl Iterator<Item = &Node> {
        self.iter().map(|(k, _)| k)
    }
}

impl Reader<'_> {
    fn span(&self, node: &Node) -> Span {
        node.span
    }

    fn key_span(&self, key: &Node) -> Span {
        key.span
    }

    fn type_error(&self, node: &Node, what: &str, expected: &str) -> Diagnostic {
        let d = Diagnostic::error(
            Code::WrongType,
            format!("{what} must be {expected}, not {}", kind_of(node)),
        )
        .at(self.span(node));
        match (expected, node) {
            (
                "a list",
                Node {
                    value: Value::Scalar(s, _),
                    ..
                },
            ) => d.hint(format!("write a list, even of one item: [{}]", s.as_str())),
            ("a list", _) => d.hint("write a list: [a, b]"),
            ("a mapping", _) => d.hint("write a mapping: `key: value` lines, or { key: value }"),
            _ => d,
        }
    }

    fn mapping<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match node {
            Node {
                value: Value::Map(m),
                ..
            } => Some(m),
            n if is_null(n) => None,
            n => {
                let d = self.type_error(n, what, "a mapping");
                self.diags.push(d);
                None
            }
        }
    }

    /// Reports keys of `map` outside `allowed` (and `extra`), with the closest allowed one as a hint.
    fn check_keys(&mut self, map: &[(Node, Node)], what: &str, allowed: &[&str], extra: &[&str]) {
        for key in map.keys() {
            let k = key.as_str();
            if allowed.contains(&k) || extra.contains(&k) || k.starts_with("x-") {
                continue;
            }
            let mut d = Diagnostic::error(Code::UnknownKey, format!("unknown key `{k}` in {what}"))
                .at(self.key_span(key));
            d = match did_you_mean(k, allowed.iter().chain(extra.iter()).copied()) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None => d.hint(format!("{what} takes: {}", allowed.join(", "))),
            };
            self.diags.push(d);
        }
    }

    /// The scalar's text, as written (no interpolation).
    fn raw(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        match node {
            Node {
                value: Value::Scalar(s, _),
                ..
            } => Some(Spanned::new(s.as_str().to_string(), self.span(node))),
            n => {
                let d = self.type_error(n, what, "a string");
                self.diags.push(d);
                None
            }
        }
    }

    /// The scalar's text with `${VAR}` substituted; every interpolation problem is reported.
    fn string(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        let raw = self.raw(node, what)?;
        self.interpolate(&raw, what)
    }

    pub fn interpolate(&mut self, raw: &Spanned<String>, what: &str) -> Option<Spanned<String>> {
        let quoted = self
            .sources
            .line_text(self.source, raw.span.line)
            .and_then(|l| l.chars().nth(raw.span.column - 1))
            .is_some_and(|c| c == '"' || c == '\'');
        let shift = usize::from(quoted);
        match interpolate::interpolate(&raw.value, &|n| self.env.get(n)) {
            Ok(out) => {
                let mut ok = true;
                for name in &out.used {
                    if looks_secret(name) && self.env.get(name).is_some() {
                        ok = false;
                        self.diags.push(
                            Diagnostic::error(
                                Code::SecretInterpolated,
                                format!("{what} reads `${{{name}}}`, which looks like a secret; its value would be written into the compose file"),
                            )
                            .at(raw.span)
                            .hint(format!("declare it under `secrets:` (e.g. `my_secret: {{ env: {name} }}`) and list it in the service's `secrets:`")),
                        );
                    }
                }
                ok.then(|| Spanned::new(out.text, raw.span))
            }
            Err(problems) => {
                for p in problems {
                    let span = raw.span.shifted(p.offset + shift, p.len);
                    let d = match p.problem {
                        Problem::Missing { name } => Diagnostic::error(Code::MissingVariable, format!("variable `{name}` is not set ({what})"))
                            .at(span)
                            .hint(format!("set {name} in the --env file or the environment, or give a default: `${{{name}:-value}}`")),
                        Problem::Required { name, message } => {
                            Diagnostic::error(Code::MissingVariable, format!("variable `{name}` is required: {message}")).at(span).hint(format!("set {name} in the --env file or the environment"))
                        }
                        Problem::Syntax { message } => Diagnostic::error(Code::InterpolationSyntax, format!("{message} ({what})")).at(span),
                    };
                    self.diags.push(d);
                }
                None
            }
        }
    }

    fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        let s = self.string(node, what)?;
        match s.value.as_str() {
            "true" | "yes" | "on" => Some(true),
            "false" | "no" | "off" => Some(false),
            _ => {
                self.diags.push(
                    Diagnostic::error(
                        Code::WrongType,
                        format!("{what} must be true or false, not `{}`", s.value),
                    )
                    .at(s.span),
                );
                None
            }
        }
    }

    fn number<T: std::str::FromStr>(
        &mut self,
        node: &Node,
        what: &str,
        expected: &str,
    ) -> Option<Spanned<T>> {
        let s = self.string(node, what)?;
        match s.value.trim().parse::<T>() {
            Ok(v) => Some(Spanned::new(v, s.span)),
            Err(_) => {
                self.diags.push(
                    Diagnostic::error(
                        Code::WrongType,
                        format!("{what} must be {expected}, not `{}`", s.value),
                    )
                    .at(s.span),
                );
                None
            }
        }
    }

    fn list<'n>(&mut self, node: &'n Node, what: &str) -> Vec<&'n Node> {
        match node {
            Node {
                value: Value::Seq(seq),
                ..
            } => seq.iter().collect(),
            n if is_null(n) => Vec::new(),
            n => {
                let d = self.type_error(n, what, "a list");
                self.diags.push(d);
                Vec::new()
            }
        }
    }

    fn strings(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        self.list(node, what)
            .into_iter()
            .filter_map(|n| self.string(n, what))
            .collect()
    }

    /// A name the engine will see: the rule of its kind (see [`crate::names`]).
    fn check_name(&mut self, name: &str, span: Span, kind: NameKind) {
        if let Err(e) = names::check(kind, name) {
            self.diags.push(
                Diagnostic::error(Code::InvalidName, e.to_string())
                    .at(span)
                    .hint(kind.rule()),
            );
        }
    }

    fn spec(&mut self, root: &Node) -> Spec {
        let root_span = self.span(root);
        let mut spec = Spec {
            name: Spanned::new(String::new(), root_span),
            allow_latest: false,
            allow_host_paths: false,
            defaults: Defaults::default(),
            secrets: IndexMap::new(),
            networks: IndexMap::new(),
            volumes: IndexMap::new(),
            services: IndexMap::new(),
            target: None,
        };
        let Some(map) = root.entries() else {
            return spec;
        };
        self.check_keys(map, "the stack spec", TOP_KEYS, &[]);
        match map.get_node("name") {
            Some(n) => {
                if let Some(name) = self.string(n, "`name`") {
                    self.check_name(&name.value, name.span, NameKind::Project);
                    spec.name = name;
                }
            }
            None => self.diags.push(
                Diagnostic::error(Code::MissingKey, "the stack spec has no `name`")
                    .at(Span::new(self.source, 1, 1, 1))
                    .hint("add `name: my-stack`: it becomes the Compose project name"),
            ),
        }
        if let Some(n) = map.get_node("target") {
            if let Some(t) = self.string(n, "`target`") {
                match t.value.parse() {
                    Ok(target) => spec.target = Some(Spanned::new(target, t.span)),
                    Err(()) => self.diags.push(
                        Diagnostic::error(
                            Code::InvalidValue,
                            format!("`target` is `compose` or `swarm`, not `{}`", t.value),
                        )
                        .at(t.span),
                    ),
                }
            }
        }
        if let Some(n) = map.get_node("allow_latest") {
            spec.allow_latest = self.bool(n, "`allow_latest`").unwrap_or(false);
        }
        if let Some(n) = map.get_node("allow_host_paths") {
            spec.allow_host_paths = self.bool(n, "`allow_host_paths`").unwrap_or(false);
        }
        if let Some(d) = map
            .get_node("defaults")
            .and_then(|n| self.mapping(n, "`defaults`"))
        {
            spec.defaults = self.defaults(d);
        }
        if let Some(s) = map
            .get_node("secrets")
            .and_then(|n| self.mapping(n, "`secrets`"))
        {
            for (key, node) in s.iter() {
                self.check_name(key.as_str(), self.key_span(key), NameKind::Secret);
                if let Some(decl) = self.secret(key, node) {
                    spec.secrets.insert(key.as_str().to_string(), decl);
                }
            }
        }
        if let Some(s) = map
            .get_node("networks")
            .and_then(|n| self.mapping(n, "`networks`"))
        {
            for (key, node) in s.iter() {
                self.check_name(key.as_str(), self.key_span(key), NameKind::Network);
                let mut internal = true;
                if let Some(m) = self.mapping(node, &format!("network `{}`", key.as_str())) {
                    self.check_keys(
                        m,
                        &format!("network `{}`", key.as_str()),
                        &["internal"],
                        &[],
                    );
                    if let Some(n) = m.get_node("internal") {
                        internal = self.bool(n, "`internal`").unwrap_or(true);
                    }
                }
                let name = Spanned::new(key.as_str().to_string(), self.key_span(key));
                spec.networks
                    .insert(key.as_str().to_string(), NetworkDecl { name, internal });
            }
        }
        if let Some(s) = map
            .get_node("volumes")
            .and_then(|n| self.mapping(n, "`volumes`"))
        {
            for (key, node) in s.iter() {
                self.check_name(key.as_str(), self.key_span(key), NameKind::Volume);
                let what = format!("volume `{}`", key.as_str());
                let mut decl = VolumeDecl {
                    span: self.key_span(key),
                    external: false,
                    name: None,
                };
                if let Some(m) = self.mapping(node, &what) {
                    self.check_keys(m, &what, &["external", "name"], &[]);
                    if let Some(n) = m.get_node("external") {
                        decl.external = self.bool(n, "`external`").unwrap_or(false);
                    }
                    if let Some(n) = m.get_node("name") {
                        if let Some(name) = self.string(n, "`name`") {
                            self.check_name(&name.value, name.span, NameKind::Volume);
                            decl.name = Some(name.value);
                        }
                    }
                }
                spec.volumes.insert(key.as_str().to_string(), decl);
            }
        }
        match map.get_node("services") {
            Some(n) => {
                if let Some(s) = self.mapping(n, "`services`") {
                    for (key, node) in s.iter() {
                        self.check_name(key.as_str(), self.key_span(key), NameKind::Service);
                        if let Some(svc) = self.service(key, node) {
                            spec.services.insert(key.as_str().to_string(), svc);
                        }
                    }
                }
            }
            None => self.diags.push(
                Diagnostic::error(Code::MissingKey, "the stack spec has no `services`")
                    .at(Span::new(self.source, 1, 1, 1))
                    .hint("add `services:` with at least one service"),
            ),
        }
        spec
    }

    fn logging(&mut self, m: &[(Node, Node)], what: &str) -> LoggingSpec {
        self.check_keys(m, what, LOGGING_KEYS, &[]);
        let mut l = LoggingSpec::default();
        if let Some(n) = m.get_node("driver") {
            l.driver = self.string(n, "`logging.driver`");
            if let Some(d) = &l.driver {
                if !matches!(d.value.as_str(), "json-file" | "local") {
                    self.diags.push(
                        Diagnostic::error(Code::InvalidValue, format!("logging driver `{}` is not supported", d.value))
                            .at(d.span)
                            .hint("use `json-file` or `local`: both rotate, and `docker logs` can read them"),
                    );
                }
            }
        }
        if let Some(n) = m.get_node("max_size") {
            l.max_size = self
                .unit::<Bytes>(n, "`logging.max_size`")
                .and_then(|_| self.string(n, "`logging.max_size`"));
        }
        if let Some(n) = m.get_node("max_file") {
            l.max_file = self
                .number::<u32>(n, "`logging.max_file`", "a whole number")
                .map(|s| Spanned::new(s.value.to_string(), s.span));
        }
        l
    }

    /// A value in one of the [`crate::units`] (or any type that parses from text), located.
    fn unit<T: std::str::FromStr<Err = UnitError>>(
        &mut self,
        node: &Node,
        what: &str,
    ) -> Option<Spanned<T>> {
        let s = self.string(node, what)?;
        match s.value.parse::<T>() {
            Ok(v) => Some(Spanned::new(v, s.span)),
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        format!("{what} `{}` is not {}", s.value, e.expected),
                    )
                    .at(s.span)
                    .hint(e.hint),
                );
                None
            }
        }
    }

    /// A limit, or `none` to run without one.
    fn limit<T: std::str::FromStr<Err = UnitError>>(
        &mut self,
        node: &Node,
        what: &str,
    ) -> Limit<T> {
        if let Node {
            value: Value::Scalar(s, _),
            ..
        } = node
        {
            if s.as_str() == "none" {
                return Some(Spanned::new(None, self.span(node)));
            }
        }
        self.unit::<T>(node, what)
            .map(|v| Spanned::new(Some(v.value), v.span))
    }

    fn probe(&mut self, n: &Node) -> Option<Spanned<Probe>> {
        let p = self.string(n, "`probe`")?;
        match p.value.parse::<Probe>() {
            Ok(probe) => Some(Spanned::new(probe, p.span)),
            Err(()) => {
                let names: Vec<&str> = Probe::ALL.iter().map(|p| p.as_str()).collect();
                self.diags.push(
                    Diagnostic::error(Code::InvalidValue, format!("`{}` is not a probe", p.value))
                        .at(p.span)
                        .hint(format!(
                            "use one of {}: whichever program the image has (docs/kinds.md)",
                            names.join(", ")
                        )),
                );
                None
            }
        }
    }

    /// `secrets:` of a service: names, or `{ name: NAME, env: VAR }` for an app that reads the
    /// secret from an environment variable only.
    fn secret_uses(&mut self, node: &Node) -> Vec<SecretUse> {
        let mut out = Vec::new();
        for item in self.list(node, "`secrets`") {
            match item {
                Node {
                    value: Value::Map(m),
                    ..
                } => {
                    self.check_keys(m, "a secret of a service", &["name", "env"], &[]);
                    let Some(name) = m.get_node("name").and_then(|n| self.string(n, "`name`"))
                    else {
                        self.diags.push(
                            Diagnostic::error(Code::MissingKey, "this secret has no `name`")
                                .at(self.span(item))
                                .hint("write `{ name: jwt_secret, env: JWT_SECRET }`"),
                        );
                        continue;
                    };
                    let env = m.get_node("env").and_then(|n| self.string(n, "`env`"));
                    if let Some(e) = &env {
                        if e.value.is_empty()
                            || !e
                                .value
                                .chars()
                                .all(|c| c == '_' || c.is_ascii_alphanumeric())
                        {
                            self.diags.push(
                                Diagnostic::error(
                                    Code::InvalidName,
                                    format!("`{}` is not an environment variable name", e.value),
                                )
                                .at(e.span),
                            );
                        }
                    }
                    out.push(SecretUse { name, env });
                }
                n => {
                    if let Some(name) = self.string(n, "`secrets`") {
                        out.push(SecretUse { name, env: None });
                    }
                }
            }
        }
        out
    }

    /// An `env:` mapping, values kept raw (helpers render and `${VAR}` substitutes later).
    fn env_map(&mut self, n: &Node) -> Vec<EnvEntry> {
        let mut out = Vec::new();
        let Some(env) = self.mapping(n, "`env`") else {
            return out;
        };
        for (ek, ev) in env.iter() {
            let key = Spanned::new(ek.as_str().to_string(), self.key_span(ek));
            if !ek
                .as_str()
                .chars()
                .all(|c| c == '_' || c.is_ascii_alphanumeric() || c == '.')
                || ek.as_str().is_empty()
            {
                self.diags.push(
                    Diagnostic::error(
                        Code::InvalidName,
                        format!("`{}` is not an environment variable name", ek.as_str()),
                    )
                    .at(key.span),
                );
                continue;
            }
            if let Some(raw) = self.raw(ev, &format!("env `{}`", ek.as_str())) {
                // A secret written into the spec is not shown again in any excerpt.
                if looks_secret(ek.as_str()) && !raw.value.contains('$') {
                    self.sources.redact(raw.span);
                }
                out.push(EnvEntry { key, raw });
            }
        }
        out
    }

    fn restart(&mut self, n: &Node) -> Option<Spanned<RestartPolicy>> {
        let r = self.string(n, "`restart`")?;
        match r.value.parse::<RestartPolicy>() {
            Ok(p) => Some(Spanned::new(p, r.span)),
            Err(_) => {
                self.diags.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        format!("`{}` is not a restart policy", r.value),
                    )
                    .at(r.span)
                    .hint(RestartPolicy::HINT),
                );
                None
            }
        }
    }

    fn defaults(&mut self, m: &[(Node, Node)]) -> Defaults {
        self.check_keys(m, "`defaults`", DEFAULT_KEYS, &[]);
        let mut d = Defaults::default();
        if let Some(n) = m.get_node("restart") {
            d.restart = self.restart(n);
        }
        if let Some(n) = m.get_node("env") {
            d.env = self.env_map(n);
        }
        if let Some(n) = m.get_node("probe") {
            d.probe = self.probe(n);
        }
        if let Some(l) = m
            .get_node("logging")
            .and_then(|n| self.mapping(n, "`defaults.logging`"))
        {
            d.logging = self.logging(l, "`defaults.logging`");
        }
        if let Some(n) = m.get_node("memory") {
            d.memory = self.limit(n, "`defaults.memory`");
        }
        if let Some(n) = m.get_node("cpus") {
            d.cpus = self.limit(n, "`defaults.cpus`");
        }
        if let Some(n) = m.get_node("pids_limit") {
            d.pids_limit = self.number(n, "`pids_limit`", "a whole number");
        }
        if let Some(n) = m.get_node("publish_ip") {
            d.publish_ip = self.string(n, "`publish_ip`");
            if let Some(ip) = &d.publish_ip {
                if ip.value.parse::<std::net::IpAddr>().is_err() {
                    self.diags.push(
                        Diagnostic::error(
                            Code::InvalidValue,
                            format!("`{}` is not an IP address", ip.value),
                        )
                        .at(ip.span),
                    );
                }
            }
        }
        if let Some(n) = m.get_node("stop_grace_period") {
            d.stop_grace_period = self.unit(n, "`defaults.stop_grace_period`");
        }
        if let Some(n) = m.get_node("healthcheck") {
            d.healthcheck = self.healthcheck(n);
            if let Some(h) = &d.healthcheck {
                if h.test.is_some() || h.disabled {
                    self.diags.push(
                        Diagnostic::error(Code::InvalidValue, "`defaults.healthcheck` sets timing only")
                            .at(h.span)
                            .hint("give interval, timeout, retries or start_period; a test belongs to a kind or a service"),
                    );
                }
            }
        }
        if let Some(n) = m.get_node("network_isolation") {
            d.network_isolation = self.string(n, "`network_isolation`");
            if let Some(s) = &d.network_isolation {
                if !matches!(s.value.as_str(), "per-service" | "shared") {
                    self.diags.push(
                        Diagnostic::error(
                            Code::InvalidValue,
                            format!(
                                "`network_isolation` is `per-service` or `shared`, not `{}`",
                                s.value
                            ),
                        )
                        .at(s.span),
                    );
                }
            }
        }
        d
    }

    fn secret(&mut self, key: &Node, node: &Node) -> Option<SecretDecl> {
        let what = format!("secret `{}`", key.as_str());
        let name = Spanned::new(key.as_str().to_string(), self.key_span(key));
        let Some(m) = self.mapping(node, &what) else {
            self.diags.push(
                Diagnostic::error(Code::InvalidSecret, format!("{what} has no source"))
                    .at(name.span)
                    .hint("give one of `env: VAR`, `file: path` or `generate: 32`"),
            );
            return None;
        };
        self.check_keys(m, &what, &["env", "file", "generate"], &[]);
        let given: Vec<&str> = ["env", "file", "generate"]
            .into_iter()
            .filter(|k| m.get_node(k).is_some())
            .collect();
        if given.len() != 1 {
            self.diags.push(
                Diagnostic::error(
                    Code::InvalidSecret,
                    format!("{what} needs exactly one source, it has {}", given.len()),
                )
                .at(name.span)
                .hint("give one of `env: VAR`, `file: path` or `generate: 32`"),
            );
            return None;
        }
        let source = match given[0] {
            "env" => {
                let var = self.raw(m.get_node("env")?, "`env`")?;
                if !var
                    .value
                    .chars()
                    .all(|c| c == '_' || c.is_ascii_alphanumeric())
                    || var.value.is_empty()
                {
                    self.diags.push(
                        Diagnostic::error(
                            Code::InvalidSecret,
                            format!("`{}` is not a variable name", var.value),
                        )
                        .at(var.span)
                        .hint("name the variable without `$`: `env: JWT_SECRET`"),
                    );
                    return None;
                }
                SecretSource::Env(var.value)
            }
            "file" => SecretSource::File(self.string(m.get_node("file")?, "`file`")?.value),
            _ => {
                let n = self.number::<usize>(
                    m.get_node("generate")?,
                    "`generate`",
                    "a number of bytes",
                )?;
                if !(16..=4096).contains(&n.value) {
                    self.diags.push(
                        Diagnostic::error(
                            Code::InvalidSecret,
                            format!("`generate: {}` is out of range", n.value),
                        )
                        .at(n.span)
                        .hint("generate between 16 and 4096 random bytes; 32 is a good default"),
                    );
                    return None;
                }
                SecretSource::Generate(n.value)
            }
        };
        Some(SecretDecl { name, source })
    }

    fn publish(&mut self, node: &Node, out: &mut Vec<PublishSpec>) {
        let items: Vec<&Node> = match node {
            Node {
                value: Value::Seq(s),
                ..
            } => s.iter().collect(),
            n => vec![n],
        };
        for n in items {
            let Some(s) = self.string(n, "`publish`") else {
                continue;
            };
            let parts: Vec<&str> = s.value.rsplitn(3, ':').collect();
            // Accepted: PORT, HOST_PORT:CONTAINER_PORT, IP:HOST_PORT, IP:HOST_PORT:CONTAINER_PORT.
            let parsed = match parts.as_slice() {
                [p] => p.parse().ok().map(|p| (None, p, None)),
                [b, a] => match (a.parse::<u16>(), b.parse::<u16>()) {
                    (Ok(h), Ok(c)) => Some((None, h, Some(c))),
                    (Err(_), Ok(h)) if a.parse::<std::net::IpAddr>().is_ok() => {
                        Some((Some(a.to_string()), h, None))
                    }
                    _ => None,
                },
                [c, h, ip] if ip.parse::<std::net::IpAddr>().is_ok() => {
                    match (h.parse(), c.parse()) {
                        (Ok(h), Ok(c)) => Some((Some(ip.to_string()), h, Some(c))),
                        _ => None,
                    }
                }
                _ => None,
            };
            match parsed {
                Some((host_ip, host_port, container_port)) if host_port > 0 => out.push(PublishSpec {
                    host_ip,
                    host_port,
                    container_port,
                    span: s.span,
                }),
                _ => self.diags.push(
                    Diagnostic::error(Code::InvalidPublish, format!("cannot read `{}` as a published port", s.value))
                        .at(s.span)
                        .hint("write HOST_PORT, HOST_PORT:CONTAINER_PORT, IP:HOST_PORT or IP:HOST_PORT:CONTAINER_PORT"),
                ),
            }
        }
    }

    fn healthcheck(&mut self, node: &Node) -> Option<Spanned<HealthSpec>> {
        let span = self.span(node);
        if let Node {
            value: Value::Scalar(s, _),
            ..
        } = node
        {
            if s.as_str() == "image" {
                let image = HealthSpec {
                    image: true,
                    ..Default::default()
                };
                return Some(Spanned::new(image, span));
            }
            return match self.bool(node, "`healthcheck`")? {
                false => Some(Spanned::new(
                    HealthSpec {
                        disabled: true,
                        ..Default::default()
                    },
                    span,
                )),
                true => {
                    self.diags.push(
                        Diagnostic::error(Code::InvalidValue, "`healthcheck: true` says nothing")
                            .at(span)
                            .hint("omit it to use the kind's healthcheck, give a mapping with `test:`, `image` for the image's own, or `false` for a one-shot job"),
                    );
                    None
                }
            };
        }
        let m = self.mapping(node, "`healthcheck`")?;
        self.check_keys(m, "`healthcheck`", HEALTH_KEYS, &[]);
        let mut h = HealthSpec::default();
        if let Some(n) = m.get_node("test") {
            let test: Vec<String> = match n {
                Node {
                    value: Value::Scalar(..),
                    ..
                } => self
                    .string(n, "`healthcheck.test`")
                    .map(|s| vec!["CMD-SHELL".to_string(), s.value])
                    .unwrap_or_default(),
                _ => self
                    .strings(n, "`healthcheck.test`")
                    .into_iter()
                    .map(|s| s.value)
                    .collect(),
            };
            if !test.is_empty() && !matches!(test[0].as_str(), "CMD" | "CMD-SHELL") {
                self.diags.push(
                    Diagnostic::error(Code::InvalidValue, "a healthcheck test list starts with CMD or CMD-SHELL")
                        .at(self.span(n))
                        .hint("e.g. [CMD, wget, -q, -O, /dev/null, http://127.0.0.1:8000/health], or a string for a shell command"),
                );
            }
            h.test = Some(test);
        }
        for (key, slot) in [
            ("interval", &mut h.interval),
            ("timeout", &mut h.timeout),
            ("start_period", &mut h.start_period),
        ] {
            if let Some(n) = m.get_node(key) {
                *slot = self
                    .unit::<Duration>(n, &format!("`healthcheck.{key}`"))
                    .map(|d| d.value);
            }
        }
        if let Some(n) = m.get_node("retries") {
            h.retries = self
                .number::<u32>(n, "`healthcheck.retries`", "a whole number")
                .map(|s| s.value);
        }
        Some(Spanned::new(h, span))
    }

    fn service(&mut self, key: &Node, node: &Node) -> Option<ServiceSpec> {
        let name = Spanned::new(key.as_str().to_string(), self.key_span(key));
        let what = format!("service `{}`", name.value);
        let m = match node {
            Node {
                value: Value::Map(m),
                ..
            } => m,
            n => {
                let d = self.type_error(n, &what, "a mapping");
                self.diags.push(d);
                return None;
            }
        };
        let kind = match m.get_node("kind") {
            Some(n) => self.string(n, "`kind`"),
            None => {
                self.diags.push(
                    Diagnostic::error(Code::MissingKey, format!("{what} has no `kind`"))
                        .at(name.span)
                        .hint("every service names a kind (a template): postgres, redis, http, worker, static-web, ..."),
                );
                None
            }
        };
        // Without a kind the service is still read, so that its other problems are reported too.
        let kind = kind.unwrap_or_else(|| Spanned::new(String::new(), name.span));
        let mut svc = ServiceSpec {
            name,
            kind,
            image: None,
            port: None,
            publish: Vec::new(),
            uses: Vec::new(),
            secrets: Vec::new(),
            env: Vec::new(),
            command: None,
            entrypoint: None,
            user: None,
            restart: None,
            memory: None,
            cpus: None,
            pids_limit: None,
            healthcheck: None,
            logging: LoggingSpec::default(),
            networks: None,
            volumes: Vec::new(),
            read_only: None,
            egress: false,
            allow_latest: None,
            not_secret: BTreeSet::new(),
            stop_grace_period: None,
            probe: None,
            data: None,
            cap_add: Vec::new(),
            shm_size: None,
            image_family: None,
            replicas: None,
            adopt: None,
            params: IndexMap::new(),
        };
        if m.get_node("image").is_none() {
            self.diags.push(
                Diagnostic::error(Code::MissingKey, format!("{what} has no `image`"))
                    .at(svc.name.span)
                    .hint("add `image: name:tag` (pinning by digest, name@sha256:..., is also accepted)"),
            );
        }
        for (k, n) in m.iter() {
            match k.as_str() {
                "kind" => {}
                "image" => svc.image = self.string(n, "`image`"),
                "port" => {
                    svc.port = self.number::<u16>(n, "`port`", "a port number (1-65535)");
                    if svc.port.as_ref().is_some_and(|p| p.value == 0) {
                        self.diags.push(
                            Diagnostic::error(Code::InvalidValue, "`port` must be 1-65535")
                                .at(self.span(n)),
                        );
                    }
                }
                "publish" => self.publish(n, &mut svc.publish),
                "uses" => svc.uses = self.strings(n, "`uses`"),
                "secrets" => svc.secrets = self.secret_uses(n),
                "env" => svc.env = self.env_map(n),
                "command" | "entrypoint" => {
                    if let Node {
                        value: Value::Scalar(..),
                        ..
                    } = n
                    {
                        self.diags.push(
                            Diagnostic::error(Code::WrongType, format!("`{}` must be a list of arguments", k.as_str()))
                                .at(self.span(n))
                                .hint("write it as a list, e.g. [\"celery\", \"worker\"], so no shell re-splits it"),
                        );
                        continue;
                    }
                    let v = Some(
                        self.strings(n, &format!("`{}`", k.as_str()))
                            .into_iter()
                            .map(|s| s.value)
                            .collect(),
                    );
                    if k.as_str() == "command" {
                        svc.command = v
                    } else {
                        svc.entrypoint = v
                    }
                }
                "user" => svc.user = self.string(n, "`user`"),
                "restart" => svc.restart = self.restart(n),
                "memory" => svc.memory = self.limit(n, "`memory`"),
                "cpus" => svc.cpus = self.limit(n, "`cpus`"),
                "pids_limit" => svc.pids_limit = self.number(n, "`pids_limit`", "a whole number"),
                "healthcheck" => svc.healthcheck = self.healthcheck(n),
                "logging" => {
                    if let Some(l) = self.mapping(n, "`logging`") {
                        svc.logging = self.logging(l, "`logging`");
                    }
                }
                "networks" => svc.networks = Some(self.strings(n, "`networks`")),
                "volumes" => svc.volumes = self.strings(n, "`volumes`"),
                "read_only" => svc.read_only = self.bool(n, "`read_only`"),
                "egress" => svc.egress = self.bool(n, "`egress`").unwrap_or(false),
                "allow_latest" => svc.allow_latest = self.bool(n, "`allow_latest`"),
                "not_secret" => {
                    svc.not_secret = self
                        .strings(n, "`not_secret`")
                        .into_iter()
                        .map(|s| s.value)
                        .collect()
                }
                "stop_grace_period" => svc.stop_grace_period = self.unit(n, "`stop_grace_period`"),
                "probe" => svc.probe = self.probe(n),
                "data" => svc.data = self.string(n, "`data`"),
                "cap_add" => svc.cap_add = self.strings(n, "`cap_add`"),
                "shm_size" => svc.shm_size = self.unit(n, "`shm_size`"),
                "image_family" => svc.image_family = self.string(n, "`image_family`"),
                "replicas" => {
                    svc.replicas = self.number::<u64>(n, "`replicas`", "a whole number");
                    if svc.replicas.as_ref().is_some_and(|r| r.value == 0) {
                        self.diags.push(
                            Diagnostic::error(Code::InvalidValue, "`replicas` must be at least 1")
                                .at(self.span(n)),
                        );
                    }
                }
                "adopt" => {
                    svc.adopt = self.string(n, "`adopt`");
                    if let Some(a) = &svc.adopt {
                        if !names::is_container_name(&a.value) {
                            self.diags.push(
                                Diagnostic::error(
                                    Code::InvalidName,
                                    format!("`{}` is not a container name", a.value),
                                )
                                .at(a.span)
                                .hint("the name of the container as `docker ps` shows it: letters, digits, `_`, `.` and `-`, starting with a letter or digit"),
                            );
                        }
                    }
                }
                other if other.starts_with("x-") => {}
                other => {
                    let value = self.json(n);
                    svc.params
                        .insert(other.to_string(), (self.key_span(k), value));
                }
            }
        }
        Some(svc)
    }

    /// A kind parameter's value as JSON, with `${VAR}` substituted in every string.
    fn json(&mut self, node: &Node) -> serde_json::Value {
        match node {
            Node {
                value: Value::Scalar(_, style),
                ..
            } => {
                let Some(v) = self.string(node, "a kind setting") else {
                    return serde_json::Value::Null;
                };
                // A plain scalar may be a number or a boolean; a quoted one is a string.
                if *style == yaml::Style::Plain {
                    if let Ok(i) = v.value.parse::<i64>() {
                        return i.into();
                    }
                    match v.value.as_str() {
                        "true" => return true.into(),
                        "false" => return false.into(),
                        _ => {}
                    }
                }
                serde_json::Value::String(v.value)
            }
            Node {
                value: Value::Seq(seq),
                ..
            } => serde_json::Value::Array(seq.iter().map(|n| self.json(n)).collect()),
            Node {
                value: Value::Map(m),
                ..
            } => serde_json::Value::Object(
                m.iter()
                    .map(|(k, v)| (k.as_str().to_string(), self.json(v)))
                    .collect(),
            ),
        }
    }
}

impl ServiceSpec {
    pub fn allows_latest(&self, spec: &Spec) -> bool {
        self.allow_latest.unwrap_or(spec.allow_latest)
    }
}

/// Interpolates a value that was kept raw by the parser (env values, after template rendering).
pub fn interpolate_value(
    raw: &Spanned<String>,
    what: &str,
    source: usize,
    sources: &Sources,
    env: &Env,
    diags: &mut Diagnostics,
) -> Option<Spanned<String>> {
    Reader {
        source,
        sources,
        env,
        diags,
    }
    .interpolate(raw, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> (Option<Spec>, Diagnostics) {
        let mut sources = Sources::default();
        let id = sources.add("s.yml", text);
        let mut diags = Diagnostics::default();
        let env = Env::from_maps(
            [
                ("TAG".into(), "1.0".into()),
                ("JWT_SECRET".into(), "s3cr3t".into()),
            ]
            .into(),
            Default::default(),
        );
        let spec = parse(id, &sources, &env, &mut diags);
        (spec, diags)
    }

    fn codes(d: &Diagnostics) -> Vec<&'static str> {
        d.items.iter().map(|d| d.code.as_str()).collect()
    }

    #[test]
    fn parses_a_minimal_stack() {
        let (spec, d) = parse_str("name: s\nservices:\n  web:\n    kind: http\n    image: x:${TAG}\n    port: 80\n    publish: 8080\n");
        assert!(d.items.is_empty(), "{:?}", d.items);
        let spec = spec.unwrap();
        let web = &spec.services["web"];
        assert_eq!(web.image.as_ref().unwrap().value, "x:1.0");
        assert_eq!(web.port.as_ref().unwrap().value, 80);
        assert_eq!(web.publish[0].host_port, 8080);
    }

    #[test]
    fn a_quoted_scalar_in_a_kind_setting_stays_a_string() {
        let (spec, d) = parse_str(
            "name: s\nservices:\n  w:\n    kind: worker\n    image: x:1\n    health_cmd: [\"true\", 'false', \"8\", true, 8]\n",
        );
        assert!(d.items.is_empty(), "{:?}", d.items);
        let (_, cmd) = &spec.unwrap().services["w"].params["health_cmd"];
        assert_eq!(*cmd, serde_json::json!(["true", "false", "8", true, 8]));
    }

    #[test]
    fn unknown_top_level_key_is_located_with_a_hint() {
        let (_, d) = parse_str("name: s\nservises: {}\n");
        let unknown = d.items.iter().find(|d| d.code == Code::UnknownKey).unwrap();
        assert_eq!(unknown.span.unwrap().line, 2);
        assert_eq!(unknown.hint.as_deref(), Some("did you mean `services`?"));
    }

    #[test]
    fn collects_every_problem() {
        let (_, d) = parse_str("name: Bad Name\nservices:\n  a:\n    kind: http\n    image: x:${NOPE}\n    port: nope\n  b:\n    image: y\n");
        assert_eq!(
            codes(&d),
            vec![
                "invalid-name",
                "missing-variable",
                "wrong-type",
                "missing-key"
            ]
        );
    }

    #[test]
    fn anchors_are_refused() {
        let (spec, d) = parse_str("name: s\nx: &a [1]\nservices: {}\n");
        assert!(spec.is_none());
        assert_eq!(codes(&d), vec!["yaml-anchor"]);
    }

    #[test]
    fn secret_variables_cannot_be_interpolated_into_values() {
        let (_, d) = parse_str("name: s\nservices:\n  a:\n    kind: http\n    image: x:1\n    command: [\"--key=${JWT_SECRET}\"]\n");
        assert_eq!(codes(&d), vec!["secret-interpolated"]);
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let text = format!(
            "name: s\nservices: {}{}\n",
            "[".repeat(100),
            "]".repeat(100)
        );
        let (spec, d) = parse_str(&text);
        assert!(spec.is_none());
        assert_eq!(codes(&d), vec!["spec-too-deep"]);
    }
}
