//! The lint rules, in one enum: each with its stable id, severity, tags, a one-line rationale, the
//! fix, and an example that shows it (a unit test lints each example and expects its rule).
//!
//! Ids are kebab-case names (`no-restart-policy`), not numbers (`FG001`), for the reasons
//! fedgen's diagnostic codes are: an id says what it means where it is read most, in an
//! `x-fedgen-lint: {disable: [...]}` line of a Compose file or a `--disable` in a CI script,
//! where `FG004` would send the reader to the docs; they read alike beside fedgen's own
//! `error[plain-secret]`; and dclint names its rules the same way. An id is a public contract:
//! never renamed or reused (docs/lint.md lists them, and a test keeps it in step with this list).

use crate::diag::Severity;
use std::fmt;

macro_rules! rules {
    ($(
        $(#[doc = $doc:literal])+
        $variant:ident = $id:literal, $name:literal, $severity:ident, [$($tag:literal),*],
        title: $title:literal,
        fix: $fix:literal,
        example: $example:literal;
    )+) => {
        /// A lint rule.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl Rule {
            /// Every rule, in the order of the docs.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)+];

            /// The stable kebab-case id (`--disable`, `x-fedgen-lint`, JSON `rule`, SARIF `ruleId`).
            pub fn id(self) -> &'static str {
                match self {
                    $(Rule::$variant => $id,)+
                }
            }

            /// The id in PascalCase, as SARIF's `name` wants it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Rule::$variant => $name,)+
                }
            }

            pub fn severity(self) -> Severity {
                match self {
                    $(Rule::$variant => Severity::$severity,)+
                }
            }

            /// What the rule finds, in a few words (SARIF `shortDescription`).
            pub fn title(self) -> &'static str {
                match self {
                    $(Rule::$variant => $title,)+
                }
            }

            /// Why the rule exists, in one line.
            pub fn rationale(self) -> &'static str {
                match self {
                    $(Rule::$variant => concat!($($doc),+).trim_start(),)+
                }
            }

            /// What to write instead.
            pub fn fix(self) -> &'static str {
                match self {
                    $(Rule::$variant => $fix,)+
                }
            }

            /// A Compose file that breaks the rule (and, for the docs, shows it).
            pub fn example(self) -> &'static str {
                match self {
                    $(Rule::$variant => $example,)+
                }
            }

            /// What the rule is about: `reliability`, `security`, ... (SARIF `properties.tags`).
            pub fn tags(self) -> &'static [&'static str] {
                match self {
                    $(Rule::$variant => &[$($tag),*],)+
                }
            }
        }
    };
}

rules! {
    /// A container without `restart: unless-stopped` or `always` stays down after a reboot or a daemon restart (seed 000: seven services down for two hours); `on-failure` brings it back only if the shutdown made it exit non-zero.
    NoRestartPolicy = "no-restart-policy", "NoRestartPolicy", Error, ["reliability", "reboot"],
    title: "No restart policy that brings the service back after a reboot",
    fix: "`restart: unless-stopped`; a one-shot job is exempt: let its dependants wait for it with `condition: service_completed_successfully`, or label it `dev.fedgen.lifecycle: one-shot`",
    example: "services:\n  api:\n    image: example/api:1.4.2\n";

    /// Without a healthcheck nothing tells a hung service from a working one, and nothing can wait until it is ready; an image's own HEALTHCHECK is invisible to a linter that works offline.
    NoHealthcheck = "no-healthcheck", "NoHealthcheck", Warning, ["reliability"],
    title: "No healthcheck",
    fix: "`healthcheck: {test: [CMD, ...], interval: 10s, timeout: 5s, retries: 5}`; if the image declares its own HEALTHCHECK, say so with `healthcheck: {interval: 10s}` (timing only: the image's test is kept)",
    example: "services:\n  api:\n    image: example/api:1.4.2\n    restart: unless-stopped\n";

    /// `depends_on` without `condition: service_healthy` starts the dependant as soon as the dependency's container starts, not when it is ready: after a reboot the two race.
    DependsOnNotHealthy = "depends-on-not-healthy", "DependsOnNotHealthy", Warning, ["reliability", "reboot"],
    title: "A dependency with a healthcheck is only waited for to start",
    fix: "`depends_on: {DEPENDENCY: {condition: service_healthy}}` for a dependency that has a healthcheck",
    example: "services:\n  db:\n    image: postgres:16.4\n    healthcheck:\n      test: [CMD, pg_isready]\n  api:\n    image: example/api:1.4.2\n    depends_on: [db]\n";

    /// Docker's default log driver, json-file, keeps every line forever unless `max-size` is set, until the disk is full (seed 004); the daemon's own defaults (daemon.json) are invisible from the file.
    NoLogRotation = "no-log-rotation", "NoLogRotation", Warning, ["reliability", "disk"],
    title: "Logs that are never rotated",
    fix: "`logging: {driver: json-file, options: {max-size: 10m, max-file: \"3\"}}`, or `driver: local` (which rotates by itself)",
    example: "services:\n  api:\n    image: example/api:1.4.2\n    logging:\n      driver: json-file\n";

    /// Every service is on the one `default` network, so each reaches every other: one compromised service reaches the database (reported from three services up).
    DefaultNetworkOnly = "default-network-only", "DefaultNetworkOnly", Info, ["security", "networks"],
    title: "Every service on the one default network",
    fix: "declare networks and put each service only on those of the services it talks to (`fedgen lint --spec` suggests a stack spec that derives them)",
    example: "services:\n  web:\n    image: nginx:1.27.0\n  api:\n    image: example/api:1.4.2\n  db:\n    image: postgres:16.4\n";

    /// A service that depends on another, or names it in a URL, but shares no network with it cannot resolve its name (seed 000: redis on one network, job-processor on another).
    UnreachableDependency = "unreachable-dependency", "UnreachableDependency", Error, ["reliability", "networks"],
    title: "A dependency on no network the service is on",
    fix: "put both services on a network they share",
    example: "services:\n  cache:\n    image: redis:7.2.5\n    networks: [back]\n  worker:\n    image: example/worker:1.0.0\n    depends_on: [cache]\n    networks: [front]\nnetworks:\n  back: {}\n  front: {}\n";

    /// A secret in `environment` (or a password inside a URL there) is in the file and its history, in `docker inspect`, and in every child process's environment.
    PlainSecret = "plain-secret", "PlainSecret", Error, ["security", "secrets"],
    title: "A secret in plain environment",
    fix: "declare it under top-level `secrets:` (`environment: VAR` or `file: ./path`), list it in the service's `secrets:` and point the app at /run/secrets/NAME (its `*_FILE` setting)",
    example: "services:\n  api:\n    image: example/api:1.4.2\n    environment:\n      JWT_SECRET: s3cr3t-value\n";

    /// /tmp and /dev/shm are emptied at boot and /var/tmp by age: a secret or bind mount from them is gone after a reboot, and Docker mounts an empty directory in its place (seed 000's JWT secret in /tmp).
    VolatileHostPath = "volatile-host-path", "VolatileHostPath", Error, ["reliability", "reboot", "secrets"],
    title: "A secret or bind mount from a path a reboot empties",
    fix: "keep it in the project directory (`./secrets/jwt`, `./data`) or a persistent path (/srv, /var/lib, /etc); a secret can also come from `environment:` (top-level `secrets:`)",
    example: "services:\n  api:\n    image: example/api:1.4.2\n    volumes:\n      - /tmp/jwt_secret.txt:/run/secrets/jwt_secret:ro\n";

    /// A port published without a host address listens on every interface, and Docker's own iptables rules let it past the host's firewall (ufw, firewalld).
    PortOnAllInterfaces = "port-on-all-interfaces", "PortOnAllInterfaces", Warning, ["security", "networks"],
    title: "A port published on every interface",
    fix: "publish on one address: `127.0.0.1:8080:80` (behind a reverse proxy) or the interface meant; for a public reverse proxy, disable the rule for that service",
    example: "services:\n  api:\n    image: example/api:1.4.2\n    ports:\n      - 8080:80\n";

    /// Without a memory limit one leaking service makes the kernel's OOM killer choose among every process on the host, the database and sshd included (seed 004).
    NoMemoryLimit = "no-memory-limit", "NoMemoryLimit", Warning, ["reliability", "resources"],
    title: "No memory limit",
    fix: "`deploy: {resources: {limits: {memory: 512m}}}` (or the legacy `mem_limit: 512m`)",
    example: "services:\n  api:\n    image: example/api:1.4.2\n";

    /// `privileged: true` gives the container every capability and every device of the host: root on the host.
    Privileged = "privileged", "Privileged", Error, ["security"],
    title: "A privileged container",
    fix: "remove it; add only the capabilities (`cap_add`) or devices (`devices`) the service needs",
    example: "services:\n  agent:\n    image: example/agent:2.1.0\n    privileged: true\n";

    /// A container that mounts the Docker socket controls the engine, which is root on the host.
    DockerSocket = "docker-socket", "DockerSocket", Error, ["security"],
    title: "The Docker socket mounted in a container",
    fix: "remove the mount; a service that must watch containers can go through a socket proxy that allows only the read calls it needs",
    example: "services:\n  ui:\n    image: example/ui:3.0.1\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n";

    /// An image without a tag, or tagged `latest`, changes under its name: a container recreated after a pull or on a rebuilt host runs other code than the one tested.
    ImageLatest = "image-latest", "ImageLatest", Warning, ["reliability", "supply-chain"],
    title: "An image without a version tag",
    fix: "pin a version (`nginx:1.27.0`) or a digest (`nginx@sha256:...`)",
    example: "services:\n  web:\n    image: nginx:latest\n";
}

impl Rule {
    /// The rule with this id.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.id() == id)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// The `--disable` values clap accepts (unknown ids are usage errors, with a suggestion).
impl clap::ValueEnum for Rule {
    fn value_variants<'a>() -> &'a [Self] {
        Rule::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.id()))
    }
}

// ---- The checks ------------------------------------------------------------------------------

use super::{key_node, Cx, Finding, Svc};
use crate::compile::env::looks_secret;
use crate::diag::Span;
use crate::model::{Condition, RestartPolicy};
use crate::yaml::{Node, Value};

/// Runs one rule over the project.
pub(crate) fn check(rule: Rule, cx: &Cx, out: &mut Vec<Finding>) {
    let mut emit =
        |span: Span, service: Option<&str>, path: String, message: String, fix: Option<String>| {
            out.push(Finding {
                rule,
                severity: rule.severity(),
                message,
                span,
                service: service.map(str::to_string),
                path,
                fix: fix.unwrap_or_else(|| rule.fix().to_string()),
            });
        };
    match rule {
        Rule::NoRestartPolicy => {
            for s in cx.services.iter().filter(|s| !s.one_shot) {
                let at = s
                    .node
                    .get("deploy")
                    .and_then(|d| d.get("restart_policy"))
                    .and_then(|r| r.get("condition"))
                    .or_else(|| s.node.get("restart"))
                    .map(|n| n.span)
                    .unwrap_or(s.key);
                let path = format!("services.{}.restart", s.name);
                let message = match s.model.restart {
                    Some(RestartPolicy::UnlessStopped | RestartPolicy::Always) => continue,
                    None => format!("service `{}` has no restart policy: after a reboot it stays down", s.name),
                    Some(RestartPolicy::No) => format!("`restart: no` on the long-running service `{}`: after a reboot it stays down", s.name),
                    Some(RestartPolicy::OnFailure(_)) => format!("`restart: on-failure` brings `{}` back only after a non-zero exit: stopped cleanly by a shutdown, it stays down after the reboot", s.name),
                };
                emit(at, Some(s.name), path, message, None);
            }
        }
        Rule::NoHealthcheck => {
            for s in cx.services.iter().filter(|s| !s.one_shot) {
                let path = format!("services.{}.healthcheck", s.name);
                match &s.model.healthcheck {
                    None => emit(
                        s.key,
                        Some(s.name),
                        path,
                        format!("service `{}` has no healthcheck in the file (an image's own HEALTHCHECK cannot be seen offline)", s.name),
                        None,
                    ),
                    Some(h) if disabled(&h.test) => {
                        let hc = s.node.get("healthcheck");
                        let at = hc
                            .and_then(|h| h.get("disable").or_else(|| h.get("test")))
                            .map(|n| n.span)
                            .or_else(|| key_node(s.node, "healthcheck").map(|k| k.span))
                            .unwrap_or(s.key);
                        emit(at, Some(s.name), path, format!("the healthcheck of the long-running service `{}` is disabled", s.name), None)
                    }
                    Some(_) => {}
                }
            }
        }
        Rule::DependsOnNotHealthy => {
            for s in &cx.services {
                for (dep, d) in &s.model.depends_on {
                    let Some(target) = cx.service(dep) else {
                        continue;
                    };
                    let checked = target
                        .model
                        .healthcheck
                        .as_ref()
                        .is_some_and(|h| !disabled(&h.test));
                    if d.condition != Condition::ServiceStarted || !checked || target.one_shot {
                        continue;
                    }
                    emit(
                        depends_on_span(s, dep),
                        Some(s.name),
                        format!("services.{}.depends_on.{dep}", s.name),
                        format!("`{}` waits for `{dep}` to start, not to be healthy, though `{dep}` has a healthcheck", s.name),
                        Some(format!("`depends_on: {{{dep}: {{condition: service_healthy}}}}`")),
                    );
                }
            }
        }
        Rule::NoLogRotation => {
            for s in &cx.services {
                let path = format!("services.{}.logging", s.name);
                match &s.model.logging {
                    None => emit(
                        s.key,
                        Some(s.name),
                        path,
                        format!("service `{}` logs with json-file, Docker's default, which never rotates without `max-size` (unless the daemon's daemon.json says otherwise, which the file does not show)", s.name),
                        None,
                    ),
                    Some(l) if l.driver == "json-file" && !l.options.contains_key("max-size") => {
                        // The key, in the service (the value may be an anchor's, elsewhere).
                        let at = key_node(s.node, "logging").map(|k| k.span).unwrap_or(s.key);
                        emit(at, Some(s.name), path, format!("service `{}` logs with json-file without `max-size`: the log grows until the disk is full", s.name), None)
                    }
                    Some(_) => {}
                }
            }
        }
        Rule::DefaultNetworkOnly => {
            let attached: Vec<&Svc> = cx
                .services
                .iter()
                .filter(|s| s.model.network_mode.is_none())
                .collect();
            let all_default = attached
                .iter()
                .all(|s| s.model.networks.keys().eq(["default"]));
            if attached.len() >= 3 && all_default {
                let at = key_node(cx.root, "services")
                    .map(|k| k.span)
                    .unwrap_or(cx.root.span);
                emit(
                    at,
                    None,
                    "networks".into(),
                    format!("all {} services are on the one `default` network: each can reach every other", attached.len()),
                    None,
                );
            }
        }
        Rule::UnreachableDependency => {
            for s in cx
                .services
                .iter()
                .filter(|s| s.model.network_mode.is_none())
            {
                let mut reported = std::collections::BTreeSet::new();
                for dep in s.model.depends_on.keys() {
                    if let Some(t) = cx.service(dep).filter(|t| !shares_network(s, t)) {
                        reported.insert(t.name);
                        emit(
                            depends_on_span(s, dep),
                            Some(s.name),
                            format!("services.{}.depends_on.{dep}", s.name),
                            format!("`{}` depends on `{dep}` but shares no network with it: it cannot resolve `{dep}`", s.name),
                            Some(format!("put `{}` and `{dep}` on a network they share", s.name)),
                        );
                    }
                }
                for e in env_entries(s.node) {
                    let Some(value) = &e.value else { continue };
                    for host in hosts(&e.key, value) {
                        let Some(t) = cx.service(host) else { continue };
                        if t.name == s.name || shares_network(s, t) || !reported.insert(t.name) {
                            continue;
                        }
                        emit(
                            e.value_span.unwrap_or(e.key_span),
                            Some(s.name),
                            format!("services.{}.environment.{}", s.name, e.key),
                            format!("`{}` names `{host}` in `{}` but shares no network with it: it cannot resolve `{host}`", s.name, e.key),
                            Some(format!("put `{}` and `{host}` on a network they share", s.name)),
                        );
                    }
                }
            }
        }
        Rule::PlainSecret => {
            for s in &cx.services {
                for e in env_entries(s.node) {
                    let path = format!("services.{}.environment.{}", s.name, e.key);
                    let secret = format!("`{}`", e.key.to_ascii_lowercase());
                    match secret_kind(cx, &e) {
                        Some(SecretKind::ByName) => emit(
                            e.key_span,
                            Some(s.name),
                            path,
                            format!("service `{}` sets `{}` in plain `environment`: it looks like a secret", s.name, e.key),
                            Some(format!("declare {secret} under top-level `secrets:` (`environment: {}` or `file: ./...`), list it in `secrets:` of `{}` and have the app read /run/secrets/{} (e.g. through `{}_FILE`)", e.key, s.name, e.key.to_ascii_lowercase(), e.key)),
                        ),
                        Some(SecretKind::InUrl) => emit(
                            e.key_span,
                            Some(s.name),
                            path,
                            format!("service `{}` has a password inside the URL in `{}`", s.name, e.key),
                            Some("take the password out of the URL into a secret (top-level `secrets:`, mounted at /run/secrets/NAME) and have the app read it from there".into()),
                        ),
                        None => {}
                    }
                }
            }
        }
        Rule::VolatileHostPath => {
            for s in &cx.services {
                for m in binds(cx, s.node) {
                    if let Some(why) = volatile(&m.source) {
                        emit(
                            m.span,
                            Some(s.name),
                            format!("services.{}.volumes.{}", s.name, m.target),
                            format!(
                                "service `{}` bind-mounts {}, which a reboot removes ({why})",
                                s.name, m.source
                            ),
                            None,
                        );
                    }
                }
            }
            for section in ["secrets", "configs"] {
                for (k, v) in cx
                    .root
                    .get(section)
                    .and_then(Node::entries)
                    .unwrap_or_default()
                {
                    let Some(f) = v.get("file") else { continue };
                    let Some(path) = f.scalar().filter(|_| !relative(cx.written(&f.span))) else {
                        continue;
                    };
                    if let Some(why) = volatile(path) {
                        let name = k.scalar().unwrap_or_default();
                        let what = if section == "secrets" {
                            "secret"
                        } else {
                            "config"
                        };
                        emit(
                            f.span,
                            None,
                            format!("{section}.{name}.file"),
                            format!("the {what} `{name}` is read from {path}, which a reboot removes ({why})"),
                            None,
                        );
                    }
                }
            }
        }
        Rule::PortOnAllInterfaces => {
            for s in &cx.services {
                for item in s
                    .node
                    .get("ports")
                    .and_then(Node::items)
                    .unwrap_or_default()
                {
                    let Ok(ports) = crate::compose::ports::parse(item) else {
                        continue;
                    };
                    let Some(p) = ports.iter().find(|p| all_interfaces(p.host_ip.as_deref()))
                    else {
                        continue;
                    };
                    let host = match p.published {
                        Some(h) => format!("port {h}"),
                        None => format!(
                            "container port {} (on a host port the engine picks)",
                            p.target
                        ),
                    };
                    let how = match p.host_ip.as_deref() {
                        None => "every interface (no host address)".to_string(),
                        Some(ip) => format!("{ip}, every interface"),
                    };
                    emit(
                        item.span,
                        Some(s.name),
                        format!("services.{}.ports.{}/{}", s.name, p.target, p.protocol),
                        format!("service `{}` publishes {host} on {how}", s.name),
                        None,
                    );
                }
            }
        }
        Rule::NoMemoryLimit => {
            for s in cx
                .services
                .iter()
                .filter(|s| s.model.limits().memory.is_none())
            {
                emit(
                    s.key,
                    Some(s.name),
                    format!("services.{}.mem_limit", s.name),
                    format!("service `{}` has no memory limit", s.name),
                    None,
                );
            }
        }
        Rule::Privileged => {
            for s in cx.services.iter().filter(|s| s.model.privileged) {
                let at = s.node.get("privileged").map(|n| n.span).unwrap_or(s.key);
                emit(
                    at,
                    Some(s.name),
                    format!("services.{}.privileged", s.name),
                    format!("service `{}` runs privileged: root on the host", s.name),
                    None,
                );
            }
        }
        Rule::DockerSocket => {
            for s in &cx.services {
                for m in binds(cx, s.node) {
                    if m.source.ends_with("/docker.sock") {
                        emit(
                            m.span,
                            Some(s.name),
                            format!("services.{}.volumes.{}", s.name, m.target),
                            format!("service `{}` mounts the Docker socket {}: it controls the engine, root on the host", s.name, m.source),
                            None,
                        );
                    }
                }
            }
        }
        Rule::ImageLatest => {
            for s in cx.services.iter().filter(|s| s.node.get("build").is_none()) {
                let image = &s.model.image;
                let Some(tag) = mutable_tag(image) else {
                    continue;
                };
                let at = s.node.get("image").map(|n| n.span).unwrap_or(s.key);
                let message = match tag {
                    "" => format!(
                        "the image of `{}` has no tag (`{image}` means `latest`)",
                        s.name
                    ),
                    _ => format!("the image of `{}` is tagged `latest`", s.name),
                };
                emit(
                    at,
                    Some(s.name),
                    format!("services.{}.image", s.name),
                    message,
                    None,
                );
            }
        }
    }
}

/// `[NONE]`: a healthcheck turned off (`disable: true`, or the image's turned off).
fn disabled(test: &[String]) -> bool {
    test.first().is_some_and(|t| t == "NONE")
}

/// Where `s` names `dep` under `depends_on` (the list item, or the mapping's key).
fn depends_on_span(s: &Svc, dep: &str) -> Span {
    let Some(d) = s.node.get("depends_on") else {
        return s.key;
    };
    match &d.value {
        Value::Seq(items) => items
            .iter()
            .find(|i| i.scalar() == Some(dep))
            .map(|i| i.span),
        Value::Map(_) => key_node(d, dep).map(|k| k.span),
        _ => None,
    }
    .unwrap_or(d.span)
}

fn shares_network(a: &Svc, b: &Svc) -> bool {
    if a.model.network_mode.is_some() || b.model.network_mode.is_some() {
        return true; // host, none, container:X: not a question of shared networks
    }
    a.model
        .networks
        .keys()
        .any(|n| b.model.networks.contains_key(n))
}

/// One `environment` entry as written.
pub(crate) struct EnvEntry {
    pub key: String,
    pub key_span: Span,
    /// The value after interpolation; `None`: no value (taken from the environment at `up`).
    pub value: Option<String>,
    /// Where the value was written.
    pub value_span: Option<Span>,
}

/// The `environment` entries of a service node, mapping or `KEY=VALUE` list.
pub(crate) fn env_entries(service: &Node) -> Vec<EnvEntry> {
    let Some(env) = service.get("environment") else {
        return Vec::new();
    };
    match &env.value {
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| EnvEntry {
                key: k.scalar().unwrap_or_default().to_string(),
                key_span: k.span,
                value: (!v.is_null()).then(|| v.scalar().unwrap_or_default().to_string()),
                value_span: (!v.is_null()).then_some(v.span),
            })
            .collect(),
        Value::Seq(items) => items
            .iter()
            .filter_map(|i| {
                let text = i.scalar()?;
                let (key, value) = match text.split_once('=') {
                    Some((k, v)) => (k, Some(v)),
                    None => (text, None),
                };
                let key_chars = key.chars().count();
                Some(EnvEntry {
                    key: key.to_string(),
                    key_span: Span::new(i.span.source, i.span.line, i.span.column, key_chars),
                    value: value.map(str::to_string),
                    value_span: value.map(|_| {
                        i.span
                            .shifted(key_chars + 1, i.span.len.saturating_sub(key_chars + 1))
                    }),
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

enum SecretKind {
    ByName,
    InUrl,
}

/// Whether an environment entry holds a secret: a secret-looking name with a value (not a
/// boolean, not a path under /run/secrets), or a URL with a password.
fn secret_kind(cx: &Cx, e: &EnvEntry) -> Option<SecretKind> {
    let value = e.value.as_deref()?;
    let written = e.value_span.map(|s| cx.written(&s)).unwrap_or_default();
    if secret_by_name(&e.key, if value.is_empty() { written } else { value }) {
        return Some(SecretKind::ByName);
    }
    url_password(value).map(|_| SecretKind::InUrl)
}

/// A secret-looking name with a value that is a secret: not empty, not a boolean
/// (`MYSQL_ALLOW_EMPTY_PASSWORD: "yes"`), not a path under /run/secrets.
pub(crate) fn secret_by_name(key: &str, value: &str) -> bool {
    let boolean = matches!(
        value.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "0" | "1"
    );
    looks_secret(key) && !value.is_empty() && !boolean && !value.starts_with("/run/secrets/")
}

/// The byte range of the password in a `scheme://user:password@host` URL inside `s`.
pub(crate) fn url_password(s: &str) -> Option<std::ops::Range<usize>> {
    let start = s.find("://")? + 3;
    let rest = &s[start..];
    let end = rest
        .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    (colon + 1 < at).then(|| start + colon + 1..start + at)
}

/// The spans of every secret value written in `environment` (by name or inside a URL): what
/// renderings must not show, whether or not `plain-secret` runs.
pub(crate) fn secret_spans(cx: &Cx) -> Vec<Span> {
    let mut spans = Vec::new();
    for s in &cx.services {
        for e in env_entries(s.node) {
            let Some(at) = e.value_span.map(|v| written_extent(cx, v)) else {
                continue;
            };
            match secret_kind(cx, &e) {
                Some(SecretKind::ByName) => spans.push(at),
                Some(SecretKind::InUrl) => {
                    let written = cx.written(&at);
                    match url_password(written) {
                        Some(r) => spans.push(at.shifted(
                            written[..r.start].chars().count(),
                            written[r].chars().count(),
                        )),
                        // Written as a variable, or across lines: hide the whole value.
                        None => spans.push(at),
                    }
                }
                None => {}
            }
        }
    }
    spans
}

/// A value's span as far as it was written: a quoted scalar's span has the length of its value,
/// which escapes (`\"`, `''`) make shorter than the text; this one reaches the closing quote.
fn written_extent(cx: &Cx, span: Span) -> Span {
    let Some(line) = cx.sources.line_text(span.source, span.line) else {
        return span;
    };
    let chars: Vec<char> = line.chars().collect();
    let start = span.column - 1;
    let quote = match start.checked_sub(1).and_then(|i| chars.get(i)) {
        Some(q @ ('"' | '\'')) => *q,
        _ => return span,
    };
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '\\' if quote == '"' => i += 2,
            '\'' if quote == '\'' && chars.get(i + 1) == Some(&'\'') => i += 2,
            c if c == quote => break,
            _ => i += 1,
        }
    }
    Span::new(
        span.source,
        span.line,
        span.column,
        i.min(chars.len()).saturating_sub(start).max(span.len),
    )
}

/// The service names a value refers to: the hosts of its URLs, and the whole value (or its
/// `host:port`) when the variable's name says it is a host.
pub(crate) fn hosts<'v>(key: &str, value: &'v str) -> Vec<&'v str> {
    let mut out = Vec::new();
    let upper = key.to_ascii_uppercase();
    if upper.ends_with("_HOST") || upper.ends_with("_HOSTNAME") || upper == "HOST" {
        out.push(value.split(':').next().unwrap_or_default());
    }
    let mut rest = value;
    while let Some(i) = rest.find("://") {
        let after = &rest[i + 3..];
        let end = after
            .find(|c: char| matches!(c, '/' | '?' | '#' | ',' | '"' | '\'') || c.is_whitespace())
            .unwrap_or(after.len());
        let authority = &after[..end];
        let hostport = authority.rsplit('@').next().unwrap_or_default();
        if !hostport.starts_with('[') {
            out.push(hostport.split(':').next().unwrap_or_default());
        }
        rest = &after[end..];
    }
    out.retain(|h| !h.is_empty());
    out
}

/// A bind mount of a service as written: its host source, its target, where it was written.
struct Bind {
    source: String,
    target: String,
    span: Span,
}

/// The service's bind mounts whose source is an absolute host path as written (a relative one
/// is the project's own directory, wherever the project lives).
fn binds(cx: &Cx, service: &Node) -> Vec<Bind> {
    let mut out = Vec::new();
    for item in service
        .get("volumes")
        .and_then(Node::items)
        .unwrap_or_default()
    {
        match &item.value {
            Value::Scalar(text, _) => {
                let parts: Vec<&str> = text.split(':').collect();
                if parts.len() < 2 || relative(cx.written(&item.span)) {
                    continue;
                }
                out.push(Bind {
                    source: parts[0].to_string(),
                    target: parts[1].to_string(),
                    // The source, at the start of the item as written.
                    span: Span::new(
                        item.span.source,
                        item.span.line,
                        item.span.column,
                        parts[0].chars().count(),
                    ),
                });
            }
            Value::Map(_) => {
                let kind = item.get("type").and_then(Node::scalar).unwrap_or("volume");
                let Some(src) = item.get("source") else {
                    continue;
                };
                if kind != "bind" || relative(cx.written(&src.span)) {
                    continue;
                }
                out.push(Bind {
                    source: src.scalar().unwrap_or_default().to_string(),
                    target: item
                        .get("target")
                        .and_then(Node::scalar)
                        .unwrap_or_default()
                        .to_string(),
                    span: src.span,
                });
            }
            _ => {}
        }
    }
    out.retain(|b| b.source.starts_with('/'));
    out
}

/// A path as written that is relative (`./x`, `../x`, `x`): the project's own directory.
fn relative(written: &str) -> bool {
    let w = written.trim_start_matches(['"', '\'']);
    w.starts_with('.') || !(w.starts_with('/') || w.starts_with('$') || w.starts_with('~'))
}

/// Why a host path does not survive a reboot, if it does not.
pub(crate) fn volatile(path: &str) -> Option<&'static str> {
    let p = path.trim_end_matches('/');
    let under = |dir: &str| p == dir || p.starts_with(&format!("{dir}/"));
    if under("/tmp") {
        Some("/tmp is emptied at boot")
    } else if under("/dev/shm") {
        Some("/dev/shm is memory, emptied at boot")
    } else if under("/var/tmp") {
        Some("/var/tmp is cleaned by age")
    } else {
        None
    }
}

fn all_interfaces(host_ip: Option<&str>) -> bool {
    matches!(host_ip, None | Some("0.0.0.0" | "::" | "[::]"))
}

/// `Some("")` for an image without a tag, `Some("latest")` for `:latest`; `None` when pinned
/// (another tag, or a digest).
fn mutable_tag(image: &str) -> Option<&str> {
    if image.is_empty() || image.contains('@') {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => Some(""),
        Some((_, "latest")) => Some("latest"),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_names_their_pascal_case() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Rule::ALL {
            let id = r.id();
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{id}"
            );
            assert!(seen.insert(id), "{id} twice");
            let pascal: String = id
                .split('-')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect();
            assert_eq!(r.name(), pascal);
            assert_eq!(Rule::from_id(id), Some(*r));
            assert!(!r.rationale().is_empty() && !r.fix().is_empty() && !r.tags().is_empty());
            assert!(!r.title().is_empty() && !r.title().ends_with('.'));
        }
    }

    #[test]
    fn passwords_in_urls_are_found_and_hosts_named() {
        let s = "postgresql://postgres:pa:ss@db:5432/x";
        assert_eq!(&s[url_password(s).unwrap()], "pa:ss");
        assert_eq!(url_password("redis://redis:6379"), None);
        assert_eq!(url_password("http://user@host/"), None);
        assert_eq!(url_password("https://a:@h/"), None);
        assert_eq!(
            hosts("DATABASE_URL", "postgresql://u:p@db:5432/x"),
            vec!["db"]
        );
        assert_eq!(hosts("REDIS_HOST", "redis:6379"), vec!["redis"]);
        assert_eq!(hosts("UPSTREAMS", "http://a:80,http://b/x"), vec!["a", "b"]);
        assert!(hosts("NAME", "db").is_empty());
    }

    #[test]
    fn tags_and_volatile_paths() {
        assert_eq!(mutable_tag("nginx"), Some(""));
        assert_eq!(mutable_tag("localhost:5000/nginx"), Some(""));
        assert_eq!(mutable_tag("nginx:latest"), Some("latest"));
        assert_eq!(mutable_tag("localhost:5000/nginx:1.27"), None);
        assert_eq!(mutable_tag("nginx@sha256:abc"), None);
        assert!(volatile("/tmp/jwt").is_some());
        assert!(volatile("/tmp").is_some());
        assert!(volatile("/tmpx/jwt").is_none());
        assert!(volatile("/dev/shm/x").is_some());
        assert!(volatile("/var/tmp/").is_some());
        assert!(volatile("/srv/x").is_none());
    }
}
