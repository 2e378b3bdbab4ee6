//! `fedgen lint --spec`: the stack spec that compiles to a safe equivalent of a Compose file.
//!
//! Takes: a [`Project`] (the model and the located tree). Gives: the text of a stack spec (the
//! input of `fedgen build`, docs/spec.md) with each service mapped to the closest kind (postgres
//! and redis by their image, nginx as `static-web`, a service others wait for to complete as
//! `job`, one with a port as `http`, the rest as `worker`), its image, published ports (on fedgen's
//! default address, 127.0.0.1), `depends_on` and the services its URLs name as `uses`, secrets
//! (every secret-looking environment value, and every secret file outside the project, becomes
//! a secret read from a variable of the same name: no value is ever printed), named volumes and
//! the database's data. `fedgen build` derives what the rules ask for: restart policies,
//! healthchecks, rotated logs, limits, a network per dependency. What it cannot carry over is
//! said in a comment, and what needs a person's eye is marked `TODO`.

use super::rules::env_entries;
use crate::compile::env::looks_secret;
use crate::compose::Project;
use crate::model::{Compose, Lifecycle, Lifecycles, Mount, Service};
use crate::yaml::Node;
use indexmap::IndexMap;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The environment keys the postgres kind sets itself (from `password_secret`, `superuser`,
/// `databases`).
const POSTGRES_OWN_ENV: &[&str] = &[
    "POSTGRES_PASSWORD",
    "POSTGRES_PASSWORD_FILE",
    "POSTGRES_USER",
    "POSTGRES_DB",
    "PGDATA",
];

/// A YAML scalar that reads back as exactly `s`, and that the spec's `${VAR}` interpolation leaves
/// alone (`$` is written `$$`).
fn q(s: &str) -> String {
    serde_json::to_string(&s.replace('$', "$$")).expect("a string serializes")
}

/// [`q`] for an `env:` value, which the spec also reads as a minijinja template.
fn q_env(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(['{']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        match tail.get(..2) {
            Some(open @ ("{{" | "{%" | "{#")) => {
                out.push_str(&format!("{{{{ '{open}' }}}}"));
                rest = &tail[2..];
            }
            _ => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    q(&out)
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items.iter().map(|i| q(i)).collect::<Vec<_>>().join(", ")
    )
}

/// A secret's name from an environment variable's: `JWT_SECRET` -> `jwt_secret`.
fn secret_name(var: &str) -> String {
    var.to_ascii_lowercase().replace(['-', '.'], "_")
}

/// A variable's name from a secret's: `db-password` -> `DB_PASSWORD`.
fn var_name(secret: &str) -> String {
    secret.to_ascii_uppercase().replace(['-', '.'], "_")
}

/// The repository part of an image reference: `docker.io/library/postgres:16` -> `postgres`.
fn repo(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Postgres,
    Redis,
    StaticWeb,
    Http,
    Worker,
    Job,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::Redis => "redis",
            Kind::StaticWeb => "static-web",
            Kind::Http => "http",
            Kind::Worker => "worker",
            Kind::Job => "job",
        }
    }

    /// Where the kind keeps its data (`data:` points it at a volume).
    fn data_path(self) -> Option<&'static str> {
        match self {
            Kind::Postgres => Some("/var/lib/postgresql/data"),
            Kind::Redis => Some("/data"),
            _ => None,
        }
    }

    fn default_port(self) -> Option<u16> {
        match self {
            Kind::Postgres => Some(5432),
            Kind::Redis => Some(6379),
            Kind::StaticWeb => Some(80),
            Kind::Http => Some(8000),
            Kind::Worker | Kind::Job => None,
        }
    }
}

/// `referenced`: the port other services reach it on by an `http(s)://` URL, if any.
fn kind_of(lifecycles: &Lifecycles, name: &str, s: &Service, referenced: Option<u16>) -> Kind {
    if lifecycles.of(name) == Lifecycle::OneShot {
        return Kind::Job;
    }
    match repo(&s.image) {
        "postgres" | "postgis" => Kind::Postgres,
        "redis" | "valkey" => Kind::Redis,
        "nginx" => Kind::StaticWeb,
        _ if !s.ports.is_empty() || !s.expose.is_empty() || referenced.is_some() => Kind::Http,
        _ => Kind::Worker,
    }
}

/// The first container port a service listens on, as its file says (or as the URLs that name it
/// say).
fn first_port(s: &Service, referenced: Option<u16>) -> Option<u16> {
    s.ports
        .first()
        .map(|p| p.target)
        .or_else(|| {
            s.expose
                .first()
                .and_then(|e| e.split(['/', '-']).next())
                .and_then(|p| p.parse().ok())
        })
        .or(referenced)
}

/// The port each service is reached on by `http://NAME:PORT` or `https://NAME:PORT` URLs in the
/// environment of the others.
fn http_ports(project: &Project) -> BTreeMap<String, u16> {
    let mut out = BTreeMap::new();
    let services = project.tree.get("services").and_then(Node::entries);
    for (_, node) in services.unwrap_or_default() {
        for e in env_entries(node) {
            let Some(v) = &e.value else { continue };
            for scheme in ["http://", "https://"] {
                let mut rest = v.as_str();
                while let Some(i) = rest.find(scheme) {
                    let after = &rest[i + scheme.len()..];
                    let end = after
                        .find(|c: char| matches!(c, '/' | '?' | '#' | ',') || c.is_whitespace())
                        .unwrap_or(after.len());
                    let hostport = after[..end].rsplit('@').next().unwrap_or_default();
                    if let Some((h, p)) = hostport.split_once(':') {
                        if let Ok(p) = p.parse::<u16>() {
                            out.entry(h.to_string()).or_insert(p);
                        }
                    }
                    rest = &after[end..];
                }
            }
        }
    }
    out
}

/// A mapping key: plain when YAML reads it back as the same string, quoted otherwise.
fn key(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        q(s)
    }
}

/// The stack spec suggested for `project`; `source` names the file(s) it came from.
pub fn spec(project: &Project, source: &str) -> String {
    let compose = &project.compose;
    let referenced = http_ports(project);
    let lifecycles = compose.lifecycles();
    let kinds: IndexMap<&str, Kind> = compose
        .services
        .iter()
        .map(|(n, s)| {
            (
                n.as_str(),
                kind_of(&lifecycles, n, s, referenced.get(n).copied()),
            )
        })
        .collect();
    let mut secrets: BTreeMap<String, String> = BTreeMap::new(); // name -> `{ env: X }` or `{ file: p }`
    let mut secret_notes: BTreeMap<String, String> = BTreeMap::new();
    for (name, s) in &compose.secrets {
        let (src, note) = match (&s.environment, &s.file) {
            (Some(v), _) => (format!("{{ env: {} }}", q(v)), None),
            (None, Some(f)) if !f.starts_with('/') => (format!("{{ file: {} }}", q(f)), None),
            (None, Some(f)) => (
                format!("{{ env: {} }}", q(&var_name(name))),
                Some(format!(
                    "was the file {f}, outside the project: set {} when deploying",
                    var_name(name)
                )),
            ),
            (None, None) => continue,
        };
        secrets.insert(name.clone(), src);
        if let Some(n) = note {
            secret_notes.insert(name.clone(), n);
        }
    }
    let mut volumes: BTreeMap<String, String> = BTreeMap::new();
    let mut allow_host_paths = false;
    let mut body = String::new();
    // Postgres services: their password secret, which URL consumers get mounted too.
    let mut pg_password: BTreeMap<&str, String> = BTreeMap::new();
    for (name, s) in &compose.services {
        if kinds[name.as_str()] != Kind::Postgres {
            continue;
        }
        let from_file = s
            .environment
            .get("POSTGRES_PASSWORD_FILE")
            .and_then(|p| p.strip_prefix("/run/secrets/"))
            .filter(|n| secrets.contains_key(*n))
            .map(str::to_string);
        let secret = from_file.unwrap_or_else(|| {
            let var = if s.environment.contains_key("POSTGRES_PASSWORD") {
                "POSTGRES_PASSWORD".to_string()
            } else {
                format!("{}_PASSWORD", var_name(name))
            };
            let n = secret_name(&var);
            secrets
                .entry(n.clone())
                .or_insert_with(|| format!("{{ env: {} }}", q(&var)));
            n
        });
        pg_password.insert(name.as_str(), secret);
    }
    let tree_services = project.tree.get("services");
    for (name, s) in &compose.services {
        let kind = kinds[name.as_str()];
        let node = tree_services.and_then(|t| t.get(name));
        let mut lines: Vec<String> = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        let mut dropped: Vec<&str> = Vec::new();
        let _ = writeln!(body, "  {}:", key(name));
        lines.push(format!("kind: {}", kind.name()));
        // Image.
        let built = node.is_some_and(|n| n.get("build").is_some());
        let image = if s.image.is_empty() {
            format!("{}-{name}:latest", compose.name)
        } else {
            s.image.clone()
        };
        lines.push(format!("image: {}", q(&image)));
        let tag = image.rsplit('/').next().unwrap_or(&image);
        if !image.contains('@') && (!tag.contains(':') || tag.ends_with(":latest")) {
            lines.push("allow_latest: true".into());
            notes.push(if built {
                "TODO: `build:` makes this image; push it with a version tag and name that tag here"
                    .into()
            } else {
                "TODO: pin a version tag (the image has none, or `latest`)".into()
            });
        }
        // Port and published ports.
        let port = first_port(s, referenced.get(name).copied());
        if matches!(kind, Kind::Http | Kind::StaticWeb) {
            if let Some(p) = port.filter(|p| Some(*p) != kind.default_port()) {
                lines.push(format!("port: {p}"));
            } else if kind == Kind::Http && port.is_none() {
                lines.push("port: 8000".into());
                notes.push("TODO: the port the service listens on".into());
            }
        }
        let kind_port = match kind {
            Kind::Http | Kind::StaticWeb => port.or(kind.default_port()),
            _ => kind.default_port(),
        };
        let mut publish = Vec::new();
        for p in &s.ports {
            if p.protocol != "tcp" {
                notes.push(format!(
                    "not carried over: the {} port {}",
                    p.protocol, p.target
                ));
                continue;
            }
            let host = p.published.unwrap_or(p.target);
            let ip = p
                .host_ip
                .as_deref()
                .filter(|ip| !matches!(*ip, "0.0.0.0" | "::" | "[::]"));
            let entry = match (ip, Some(p.target) == kind_port && host == p.target) {
                (None, true) => format!("{host}"),
                (None, false) => format!("{host}:{}", p.target),
                (Some(ip), true) => format!("{ip}:{host}"),
                (Some(ip), false) => format!("{ip}:{host}:{}", p.target),
            };
            if kind_port.is_none() {
                notes.push(format!(
                    "not carried over: port {host} (a {} has no port)",
                    kind.name()
                ));
                continue;
            }
            publish.push(entry);
        }
        if !publish.is_empty() {
            lines.push(format!("publish: {}", list(&publish)));
        }
        // Uses: depends_on, and the services its URLs and *_HOST variables name.
        let mut uses: Vec<String> = s
            .depends_on
            .keys()
            .filter(|d| compose.services.contains_key(*d) && *d != name)
            .cloned()
            .collect();
        let env = node.map(env_entries).unwrap_or_default();
        let mut url_secrets: BTreeSet<String> = BTreeSet::new();
        for e in &env {
            let Some(v) = &e.value else { continue };
            for h in super::rules::hosts(&e.key, v) {
                if compose.services.contains_key(h) && h != name && !uses.iter().any(|u| u == h) {
                    uses.push(h.to_string());
                }
                if let Some(secret) = pg_password.get(h) {
                    if super::rules::url_password(v).is_some() {
                        url_secrets.insert(secret.clone());
                    }
                }
            }
        }
        uses.retain(|u| !reaches(compose, u, name, &mut BTreeSet::new()));
        if !uses.is_empty() {
            lines.push(format!("uses: {}", list(&uses)));
        }
        // Secrets: the service's own, its secret-looking environment, the database passwords
        // its URLs carried.
        let mut own: Vec<String> = s.secrets.iter().map(|x| x.source.clone()).collect();
        let mut env_out: Vec<(String, String)> = Vec::new();
        let mut not_secret: Vec<String> = Vec::new();
        for e in &env {
            let Some(v) = &e.value else { continue };
            let model_v = s
                .environment
                .get(&e.key)
                .cloned()
                .unwrap_or_else(|| v.clone());
            if kind == Kind::Postgres && POSTGRES_OWN_ENV.contains(&e.key.as_str()) {
                continue;
            }
            if super::rules::secret_by_name(&e.key, &model_v) {
                let n = secret_name(&e.key);
                secrets
                    .entry(n.clone())
                    .or_insert_with(|| format!("{{ env: {} }}", q(&e.key)));
                notes.push(format!(
                    "`{}` is now the secret `{n}`, at /run/secrets/{n} (the app reads {}_FILE)",
                    e.key, e.key
                ));
                own.push(n);
                continue;
            }
            if looks_secret(&e.key) && !model_v.is_empty() {
                // A path to a secret, or a switch: not a secret, and `fedgen build` is told so.
                not_secret.push(e.key.clone());
            }
            let mut value = model_v;
            if let Some(r) = super::rules::url_password(&value) {
                value.replace_range(r.start - 1..r.end, "");
                notes.push(format!(
                    "TODO: the password was taken out of the URL in `{}`; the app reads it from a secret",
                    e.key
                ));
            }
            env_out.push((e.key.clone(), value));
        }
        own.extend(url_secrets);
        // Volumes: named ones as they are (the kind's data as `data:`), binds inside the project,
        // secrets bind-mounted from outside it as secrets.
        let mut vols = Vec::new();
        let mut data = None;
        for m in &s.volumes {
            match mount(m) {
                MountKind::Named(v) => {
                    volumes.entry(v.clone()).or_insert_with(|| {
                        let decl = compose.volumes.get(&v);
                        match decl {
                            Some(d) if d.external => "{ external: true }".into(),
                            Some(d) if d.name.is_some() => {
                                format!("{{ name: {} }}", q(d.name.as_deref().unwrap_or_default()))
                            }
                            _ => "{}".into(),
                        }
                    });
                    if kind.data_path() == Some(m.target.as_str()) {
                        data = Some(v);
                    } else {
                        vols.push(volume_entry(&v, m));
                    }
                }
                MountKind::Anonymous => notes.push(format!(
                    "not carried over: the anonymous volume on {}",
                    m.target
                )),
                MountKind::Bind(src) => {
                    let secret_target = m.target.strip_prefix("/run/secrets/");
                    if let (Some(n), true) = (secret_target, src.starts_with('/')) {
                        let n = secret_name(n);
                        secrets
                            .entry(n.clone())
                            .or_insert_with(|| format!("{{ env: {} }}", q(&var_name(&n))));
                        notes.push(format!(
                            "the file {src} is now the secret `{n}` (set {} when deploying)",
                            var_name(&n)
                        ));
                        own.push(n);
                    } else if super::rules::volatile(&src).is_some() {
                        notes.push(format!(
                            "TODO: not carried over: the bind mount of {src}, which a reboot removes; keep it in the project"
                        ));
                    } else {
                        if src.starts_with('/') {
                            allow_host_paths = true;
                        }
                        if src.ends_with("/docker.sock") {
                            notes.push("TODO: the Docker socket is root on the host: remove it unless the service cannot work without it".into());
                        }
                        vols.push(volume_entry(&src, m));
                    }
                }
            }
        }
        if let Some(d) = &data {
            lines.push(format!("data: {}", q(d)));
            if kind == Kind::Postgres {
                // A volume the official image made keeps its cluster at the mount itself.
                lines.push("pgdata: \"\"".into());
            }
        }
        own.sort();
        own.dedup();
        if kind == Kind::Postgres {
            let secret = &pg_password[name.as_str()];
            own.retain(|x| x != secret);
            lines.push(format!("password_secret: {}", q(secret)));
            if let Some(db) = s.environment.get("POSTGRES_DB") {
                lines.push(format!("databases: {}", list(std::slice::from_ref(db))));
            }
            if let Some(u) = s
                .environment
                .get("POSTGRES_USER")
                .filter(|u| *u != "postgres")
            {
                lines.push(format!("superuser: {}", q(u)));
            }
        }
        if !own.is_empty() {
            lines.push(format!("secrets: {}", list(&own)));
        }
        if !vols.is_empty() {
            lines.push(format!("volumes: {}", list(&vols)));
        }
        // Health.
        let test = s.healthcheck.as_ref().map(|h| h.test.clone());
        match (kind, test) {
            (Kind::Worker, Some(t)) if t.first().is_some_and(|c| c == "CMD") => {
                lines.push(format!("health_cmd: {}", list(&t[1..])))
            }
            (Kind::Worker, Some(t)) if t.first().is_some_and(|c| c == "CMD-SHELL") => lines
                .push(format!(
                    "health_cmd: {}",
                    list(&["sh".into(), "-c".into(), t[1..].join(" ")])
                )),
            (Kind::Worker, _) => {
                lines.push("health_cmd: [\"sh\", \"-c\", \"exit 0\"]".into());
                notes.push("TODO: health_cmd: a command that exits 0 while the worker works (`exit 0` checks nothing)".into());
            }
            (Kind::Http | Kind::StaticWeb, Some(t)) if t.is_empty() => {
                lines.push("healthcheck: image".into())
            }
            (Kind::Http | Kind::StaticWeb, Some(t))
                if matches!(t.first().map(String::as_str), Some("CMD" | "CMD-SHELL")) =>
            {
                lines.push(format!("healthcheck: {{ test: {} }}", list(&t)))
            }
            (Kind::Http, _) => notes.push(
                "TODO: health_path: the path that answers 2xx when the service is healthy (default /health)".into(),
            ),
            _ => {}
        }
        // What runs, and as whom.
        if !matches!(kind, Kind::Redis | Kind::Postgres) {
            if let Some(c) = &s.command {
                lines.push(format!("command: {}", list(c)));
            }
            if let Some(e) = &s.entrypoint {
                lines.push(format!("entrypoint: {}", list(e)));
            }
            if let Some(u) = &s.user {
                lines.push(format!("user: {}", q(u)));
            }
        } else if s.command.is_some() {
            notes.push(format!(
                "not carried over: `command` (the {} kind runs its server itself)",
                kind.name()
            ));
        }
        let limits = s.limits();
        if let Some(m) = limits.memory {
            lines.push(format!("memory: {m}"));
        }
        if let Some(c) = limits.cpus {
            lines.push(format!("cpus: {}", q(&c.to_string())));
        }
        if let Some(sh) = s.shm_size {
            lines.push(format!("shm_size: {sh}"));
        }
        if let Some(g) = s.stop_grace_period {
            lines.push(format!("stop_grace_period: {g}"));
        }
        if !s.cap_add.is_empty() {
            lines.push(format!("cap_add: {}", list(&s.cap_add)));
        }
        if !not_secret.is_empty() {
            lines.push(format!("not_secret: {}", list(&not_secret)));
        }
        if !env_out.is_empty() {
            lines.push("env:".into());
            for (k, v) in &env_out {
                lines.push(format!("  {}: {}", key(k), q_env(v)));
            }
        }
        if s.privileged {
            dropped.push("privileged");
        }
        if s.network_mode.is_some() {
            dropped.push("network_mode");
        }
        if !s.labels.is_empty() {
            dropped.push("labels");
        }
        if s.container_name.is_some() {
            dropped.push("container_name");
        }
        if !s.devices.is_empty() {
            dropped.push("devices");
        }
        if !s.configs.is_empty() {
            dropped.push("configs");
        }
        if !dropped.is_empty() {
            notes.push(format!("not carried over: {}", dropped.join(", ")));
        }
        for n in &notes {
            let _ = writeln!(body, "    # {n}");
        }
        for l in &lines {
            let _ = writeln!(body, "    {l}");
        }
        body.push('\n');
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# The stack spec suggested by `fedgen lint --spec` for {source}: `fedgen build` compiles it\n\
         # into a Compose file in which every service has a restart policy, a healthcheck, rotated\n\
         # logs, a memory limit and only the networks of what it uses, secrets are files under\n\
         # /run/secrets and ports listen on 127.0.0.1. Review each TODO; `fedgen kinds` lists the\n\
         # kinds, docs/spec.md the keys.\n\
         name: {}",
        q(&compose.name)
    );
    if allow_host_paths {
        out.push_str("# Bind mounts outside the project directory are kept as they were.\nallow_host_paths: true\n");
    }
    if !secrets.is_empty() {
        out.push_str("\nsecrets:\n");
        for (n, src) in &secrets {
            if let Some(note) = secret_notes.get(n) {
                let _ = writeln!(out, "  # {note}");
            }
            let _ = writeln!(out, "  {}: {src}", key(n));
        }
    }
    if !volumes.is_empty() {
        out.push_str("\nvolumes:\n");
        for (n, v) in &volumes {
            let _ = writeln!(out, "  {}: {v}", key(n));
        }
    }
    out.push_str("\nservices:\n");
    out.push_str(body.trim_end());
    out.push('\n');
    out
}

/// Whether `from` reaches `to` through `depends_on` (a `uses` edge back would be a cycle).
fn reaches(compose: &Compose, from: &str, to: &str, seen: &mut BTreeSet<String>) -> bool {
    if from == to {
        return true;
    }
    if !seen.insert(from.to_string()) {
        return false;
    }
    compose
        .services
        .get(from)
        .is_some_and(|s| s.depends_on.keys().any(|d| reaches(compose, d, to, seen)))
}

enum MountKind {
    Named(String),
    Anonymous,
    Bind(String),
}

fn mount(m: &Mount) -> MountKind {
    match m.kind.as_str() {
        "volume" if m.source.is_empty() => MountKind::Anonymous,
        "volume" => MountKind::Named(m.source.clone()),
        _ => MountKind::Bind(m.source.clone()),
    }
}

fn volume_entry(source: &str, m: &Mount) -> String {
    let mut e = format!("{source}:{}", m.target);
    if m.read_only {
        e.push_str(":ro");
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_back_as_written_and_escape_interpolation_and_templates() {
        assert_eq!(q("a$b"), "\"a$$b\"");
        assert_eq!(q_env("x{{y}}"), "\"x{{ '{{' }}y}}\"");
        assert_eq!(repo("docker.io/library/postgres:16@sha256:ab"), "postgres");
        assert_eq!(repo("localhost:5000/redis"), "redis");
        assert_eq!(secret_name("JWT_SECRET"), "jwt_secret");
        assert_eq!(var_name("db-password"), "DB_PASSWORD");
    }
}
