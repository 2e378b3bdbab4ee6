//! From containers to services: names, kinds, images, references, secrets, data, ports.
//!
//! Takes: the [`Host`] as read (each container's inspect, its image's, the volumes' labels, the
//! files and HTTP answers asked for) and the kinds. Gives: a [`Draft`] per container (the spec
//! service it becomes, before its secrets have names) and every secret [`Candidate`] it holds,
//! with a report of what was dropped and inferred. What the image sets is removed first, with the
//! deployer's own [`ImageDefaults::strip`] after [`mapping::read_back`], so the spec says only
//! what the container was given on top of its image.

use super::read::{Host, Seen};
use super::refs;
use super::report::{ContainerReport, Finding, Severity};
use super::secrets::{name_from_var, Candidate, Source};
use crate::compile::env::looks_secret;
use crate::compile::kinds::Kinds;
use crate::deploy::mapping;
use crate::deploy::state::normalize_reference;
use crate::model::labels::{
    COMPOSE_PROJECT, COMPOSE_SERVICE, COMPOSE_VOLUME, LABEL_ADOPT, LABEL_KIND,
};
use crate::model::{RestartPolicy, Service};
use crate::names::{self, NameKind};
use std::collections::{BTreeMap, BTreeSet};

/// The kinds import infers and can fill in completely.
pub const IMPORTABLE_KINDS: &[&str] = &["postgres", "redis", "static-web", "http", "worker", "job"];

/// The engine's default `PATH`, which it gives a container whose image sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Host paths whose content does not survive a reboot (or a cleanup).
const VOLATILE: &[&str] = &["/tmp", "/var/tmp", "/dev/shm", "/run", "/var/run"];

/// An environment value of the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// Text, written escaped (`$` as `$$`, template syntax in a raw block).
    Literal(String),
    /// A helper call, written as is (`{{ postgres_url('db', 'app') }}`).
    Template(String),
}

/// How a lifted secret reaches the service again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lift {
    /// The app read `var` (or `var_FILE`): it gets `var_FILE` pointing at the secret's file.
    Var(String),
    /// The postgres kind's superuser password (`password_secret:`).
    PostgresPassword,
    /// The password of the URL in `var`: the app reads the secret's `NAME_FILE`.
    UrlPassword(String),
}

/// The spec service a container becomes.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub container: String,
    pub service: String,
    /// Made by fedgen (or Compose) for the spec's project: its settings are all intent.
    pub managed: bool,
    pub kind: String,
    pub image: String,
    pub allow_latest: bool,
    pub port: Option<u16>,
    /// The container ports published, as (host ip, host port, container port).
    pub bindings: Vec<(Option<String>, u16, u16)>,
    pub params: BTreeMap<String, serde_json::Value>,
    pub uses: BTreeSet<String>,
    pub egress: bool,
    pub env: BTreeMap<String, EnvValue>,
    /// Secrets lifted: (candidate index, how the service reads it again).
    pub lifts: Vec<(usize, Lift)>,
    /// Secret names it reads (filled in once the candidates are resolved).
    pub secrets: BTreeSet<String>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub user: Option<String>,
    pub data: Option<String>,
    pub volumes: Vec<String>,
    pub restart: Option<RestartPolicy>,
    pub adopt: Option<String>,
    /// Settings written because the container's value differs from what the kind and the
    /// policies would give (`memory`, `healthcheck`, `probe`, `logging`, ...).
    pub tuned: BTreeMap<String, serde_json::Value>,
    /// The container as the deployer reads it back (image values removed): what the compiled
    /// service is compared with.
    pub observed: Service,
    pub report: ContainerReport,
}

/// Top-level declarations the drafts need.
#[derive(Debug, Clone, Default)]
pub struct Decls {
    /// Volume key -> (external, engine name when not the key).
    pub volumes: BTreeMap<String, (bool, Option<String>)>,
    pub allow_host_paths: bool,
}

/// Everything drafted from the host.
#[derive(Debug, Default)]
pub struct Drafted {
    pub drafts: Vec<Draft>,
    pub candidates: Vec<Candidate>,
    pub decls: Decls,
    pub findings: Vec<Finding>,
}

/// The kind import recognizes from a container alone (its fedgen label, the program its image
/// runs, its image's name), with the reason; `None`: decided by whether it answers HTTP.
pub fn known_kind(c: &Seen) -> Option<(String, String)> {
    let labels = c.labels();
    if let Some(k) = labels.get(LABEL_KIND) {
        if IMPORTABLE_KINDS.contains(&k.as_str()) {
            return Some((k.clone(), format!("the {LABEL_KIND} label")));
        }
    }
    let config = c.inspect.config.clone().unwrap_or_default();
    let argv: Vec<String> = config
        .entrypoint
        .clone()
        .unwrap_or_default()
        .into_iter()
        .chain(config.cmd.clone().unwrap_or_default())
        .collect();
    let programs: BTreeSet<String> = argv
        .iter()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .collect();
    for (program, kind) in [
        ("postgres", "postgres"),
        ("redis-server", "redis"),
        ("valkey-server", "redis"),
        ("nginx", "static-web"),
    ] {
        if programs.contains(program) {
            return Some((kind.to_string(), format!("it runs `{program}`")));
        }
    }
    let repo = repo_name(&config.image.unwrap_or_default());
    let kind = match repo.as_str() {
        "postgres" | "postgresql" | "postgis" => "postgres",
        "redis" | "valkey" => "redis",
        "nginx" => "static-web",
        _ => return None,
    };
    Some((kind.to_string(), format!("its image is `{repo}`")))
}

/// The repository's last path component, without tag or digest: `docker.io/library/redis:7` ->
/// `redis`.
pub fn repo_name(image: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last).to_ascii_lowercase()
}

/// The files import wants to read from a container before drafting it: the secret files its
/// `*_FILE` variables name, nginx's `conf.d` (where a proxy names what it uses), fedgen's
/// database script.
pub fn wanted_files(c: &Seen) -> Vec<String> {
    let mut out = BTreeSet::new();
    let image_env = c.image.as_ref().map(|i| i.env()).unwrap_or_default();
    for (k, v) in c.env() {
        if image_env.get(&k) == Some(&v) {
            continue;
        }
        if secret_file_var(&k, &v) {
            out.insert(v);
        }
    }
    match known_kind(c).map(|(k, _)| k).as_deref() {
        Some("static-web") => {
            out.insert("/etc/nginx/conf.d".to_string());
        }
        Some("postgres") if c.labels().contains_key(LABEL_KIND) => {
            out.insert(FEDGEN_DB_SCRIPT.to_string());
        }
        _ => {}
    }
    out.into_iter().collect()
}

/// Where the postgres kind's database script lands.
const FEDGEN_DB_SCRIPT: &str = "/docker-entrypoint-initdb.d/10-fedgen-databases.sh";

/// A variable that names a file holding a secret: `JWT_SECRET_FILE=/run/secrets/jwt`.
fn secret_file_var(k: &str, v: &str) -> bool {
    let stem = k
        .strip_suffix("_FILE")
        .or_else(|| k.strip_suffix("__FILE"))
        .or_else(|| k.strip_suffix("_PATH"));
    v.starts_with('/')
        && !v.ends_with('/')
        && stem.is_some_and(|s| looks_secret(s) || v.starts_with("/run/secrets/"))
}

/// The ports import should ask over HTTP: those it exposes, for a container whose kind the
/// image does not say (or that serves a static site).
pub fn wanted_probe(c: &Seen) -> Vec<u16> {
    if !c.running() {
        return Vec::new();
    }
    match known_kind(c) {
        None => c.exposed_tcp(),
        Some((k, why)) if k == "static-web" && !why.contains("label") => c.exposed_tcp(),
        _ => Vec::new(),
    }
}

/// The project name: `--name`, else the Compose project the containers share, else the prefix
/// of their Compose v1 names (`PROJECT_service_1`), else the `--filter name=` text.
pub fn project_name(host: &Host, given: Option<&str>, filters: &[String]) -> Option<String> {
    if let Some(g) = given {
        return Some(g.to_string());
    }
    let projects: BTreeSet<String> = host
        .containers
        .iter()
        .filter_map(|c| c.labels().get(COMPOSE_PROJECT).cloned())
        .collect();
    if projects.len() == 1
        && host
            .containers
            .iter()
            .all(|c| c.labels().contains_key(COMPOSE_PROJECT))
    {
        return projects.into_iter().next();
    }
    let mut prefixes: BTreeMap<String, usize> = BTreeMap::new();
    for c in &host.containers {
        if let Some((p, _)) = legacy_parts(&c.name) {
            *prefixes.entry(p.to_string()).or_default() += 1;
        }
    }
    if let Some((p, n)) = prefixes
        .iter()
        .max_by_key(|(p, n)| (**n, std::cmp::Reverse(p.len())))
    {
        if *n * 2 >= host.containers.len() || filters.is_empty() {
            return Some(sanitize_project(p));
        }
    }
    filters
        .first()
        .map(|f| sanitize_project(f.trim_matches(['-', '_', '.'])))
        .filter(|p| !p.is_empty())
}

/// `PROJECT_SERVICE_N` -> (PROJECT, SERVICE).
fn legacy_parts(name: &str) -> Option<(&str, &str)> {
    let (rest, n) = name.rsplit_once('_')?;
    n.parse::<u32>().ok()?;
    let (p, s) = rest.rsplit_once('_')?;
    (!p.is_empty() && !s.is_empty()).then_some((p, s))
}

fn sanitize_project(p: &str) -> String {
    let s: String = p
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.trim_start_matches(['-', '_']).to_string()
}

fn sanitize_service(s: &str) -> String {
    let mut out: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    out = out.trim_start_matches(['-', '_', '.']).to_string();
    out.truncate(63);
    if out.is_empty() {
        "service".into()
    } else {
        out
    }
}

/// A container's aliases on its networks, without the ones the engine adds (its id, its name).
fn aliases(c: &Seen) -> BTreeSet<String> {
    let short: String = c.id.chars().take(12).collect();
    c.inspect
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.clone())
        .unwrap_or_default()
        .into_values()
        .flat_map(|e| e.aliases.unwrap_or_default())
        .filter(|a| *a != short && *a != c.name && !a.is_empty())
        .collect()
}

/// The service name of each container (unique), and how it was found.
fn service_names(host: &Host, project: &str) -> Vec<(String, String)> {
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for c in &host.containers {
        let labels = c.labels();
        let (name, why) = if let (Some(s), Some(_)) =
            (labels.get(COMPOSE_SERVICE), labels.get(COMPOSE_PROJECT))
        {
            (s.clone(), format!("the {COMPOSE_SERVICE} label"))
        } else if let Some(s) = c
            .name
            .strip_prefix(&format!("{project}_"))
            .and_then(|r| r.rsplit_once('_'))
            .filter(|(_, n)| n.parse::<u32>().is_ok())
            .map(|(s, _)| s)
            .or_else(|| {
                c.name
                    .strip_prefix(&format!("{project}-"))
                    .and_then(|r| r.rsplit_once('-'))
                    .filter(|(_, n)| n.parse::<u32>().is_ok())
                    .map(|(s, _)| s)
            })
        {
            (s.to_string(), "the container's name".to_string())
        } else if let Some(a) = aliases(c)
            .into_iter()
            .find(|a| names::check(NameKind::Service, a).is_ok() && !a.contains('.'))
        {
            (a.clone(), format!("its network alias `{a}`"))
        } else if let Some(rest) = c
            .name
            .strip_prefix(project)
            .and_then(|r| r.strip_prefix(['-', '_']))
            .filter(|r| !r.is_empty())
        {
            (rest.to_string(), "the container's name".to_string())
        } else {
            (c.name.clone(), "the container's name".to_string())
        };
        let mut name = sanitize_service(&name);
        if taken.contains(&name) {
            let mut n = 2;
            while taken.contains(&format!("{name}-{n}")) {
                n += 1;
            }
            name = format!("{name}-{n}");
        }
        taken.insert(name.clone());
        out.push((name, why));
    }
    out
}

/// Drafts every container of `host` as a service of `project`.
pub fn draft(host: &Host, project: &str, kinds: &Kinds) -> Drafted {
    let mut out = Drafted::default();
    let svc_names = service_names(host, project);
    // Every name a container answers to on a network (or through a link): its service.
    let mut known: BTreeMap<String, String> = BTreeMap::new();
    for (c, (svc, _)) in host.containers.iter().zip(&svc_names) {
        known.insert(c.name.clone(), svc.clone());
        for a in aliases(c) {
            known.entry(a).or_insert_with(|| svc.clone());
        }
    }
    for (svc, _) in &svc_names {
        known.insert(svc.clone(), svc.clone());
    }
    for c in &host.containers {
        let links = c
            .inspect
            .host_config
            .as_ref()
            .and_then(|h| h.links.clone())
            .unwrap_or_default();
        for l in links {
            // `/target:/this/alias`
            if let Some((target, alias)) = l.split_once(':') {
                let target = target.trim_start_matches('/');
                let alias = alias.rsplit('/').next().unwrap_or(alias);
                if let Some(svc) = known.get(target).cloned() {
                    known.entry(alias.to_string()).or_insert(svc);
                }
            }
        }
    }
    let mut anon_keys: BTreeSet<String> = BTreeSet::new();
    for (c, (svc, why_name)) in host.containers.iter().zip(&svc_names) {
        let d = draft_one(
            c,
            svc,
            why_name,
            project,
            host,
            kinds,
            &known,
            &mut out,
            &mut anon_keys,
        );
        out.drafts.push(d);
    }
    link_helpers(&mut out.drafts);
    out
}

#[allow(clippy::too_many_arguments)]
fn draft_one(
    c: &Seen,
    svc: &str,
    why_name: &str,
    project: &str,
    host: &Host,
    kinds: &Kinds,
    known: &BTreeMap<String, String>,
    out: &mut Drafted,
    anon_keys: &mut BTreeSet<String>,
) -> Draft {
    let labels = c.labels();
    let managed = labels.get(COMPOSE_PROJECT).map(String::as_str) == Some(project);
    let fedgen_made = managed && labels.contains_key(LABEL_KIND);
    let scope = crate::model::Compose {
        name: project.to_string(),
        ..Default::default()
    };
    let (_, mut observed) = mapping::read_back(&scope, c.inspect.clone());
    if let Some(img) = &c.image {
        img.defaults.strip(&mut observed);
    }
    let mut d = Draft {
        container: c.name.clone(),
        service: svc.to_string(),
        managed,
        ..Default::default()
    };
    d.report.container = c.name.clone();
    d.report.service = svc.to_string();
    if why_name != "the container's name" || c.name != svc {
        d.report
            .inferred
            .push(format!("service name `{svc}` from {why_name}"));
    }
    let config = c.inspect.config.clone().unwrap_or_default();
    let host_config = c.inspect.host_config.clone().unwrap_or_default();
    let image_env = c.image.as_ref().map(|i| i.env()).unwrap_or_default();

    // --- the image, pinned as it runs
    pin_image(c, &mut d, out);

    // --- the kind
    let (kind, kind_why) = match known_kind(c) {
        Some(k) => k,
        None => {
            if let Some(a) = best_http(c) {
                d.port = Some(a.port);
                ("http".to_string(), format!("port {} answers HTTP", a.port))
            } else {
                let why = if !c.running() && !c.exposed_tcp().is_empty() {
                    out.findings.push(Finding {
                        severity: Severity::Warning,
                        code: "kind-not-probed",
                        message: format!(
                            "container {} is not running, so whether it serves HTTP on {} could not be asked; it is imported as a worker",
                            c.name,
                            c.exposed_tcp().iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
                        ),
                        containers: vec![c.name.clone()],
                        hint: "start it and import again, or change its kind to http and give `port:`".into(),
                    });
                    "it is not running (not asked over HTTP)".to_string()
                } else if c.exposed_tcp().is_empty() {
                    "it exposes no port".to_string()
                } else {
                    "no exposed port answers HTTP".to_string()
                };
                ("worker".to_string(), why)
            }
        }
    };
    if let Some(lk) = labels
        .get(LABEL_KIND)
        .filter(|k| !IMPORTABLE_KINDS.contains(&k.as_str()))
    {
        out.findings.push(Finding {
            severity: Severity::Warning,
            code: "kind-not-importable",
            message: format!(
                "container {} was made by fedgen as kind `{lk}`, whose settings import cannot read back; it is imported as `{kind}`",
                c.name
            ),
            containers: vec![c.name.clone()],
            hint: format!("change its kind back to `{lk}` and give that kind's settings (fedgen kinds)"),
        });
    }
    d.kind = kind.clone();
    d.report.kind = kind.clone();
    d.report.inferred.push(format!("kind {kind}: {kind_why}"));
    let meta = kinds.kinds.get(&kind).map(|k| k.meta.clone());
    if kind == "redis" {
        if let Some(m) = &meta {
            let argv: Vec<String> = config
                .entrypoint
                .clone()
                .unwrap_or_default()
                .into_iter()
                .chain(config.cmd.clone().unwrap_or_default())
                .collect();
            let family = if argv.iter().any(|a| a.ends_with("valkey-server")) {
                "valkey"
            } else {
                "redis"
            };
            if m.family_of(&d.image) != Some(family) {
                d.params
                    .insert("image_family".into(), serde_json::json!(family));
                d.report
                    .inferred
                    .push(format!("image_family {family}: it runs {family}-server"));
            }
        }
    }

    // --- port and health path of HTTP-checked kinds
    if matches!(kind.as_str(), "http" | "static-web") {
        let default_port = meta.as_ref().and_then(|m| m.port);
        if fedgen_made {
            if let Some((port, path)) = health_url(&observed) {
                d.port = Some(port);
                let default_path = if kind == "http" { "/health" } else { "/" };
                if path != default_path {
                    d.params
                        .insert("health_path".into(), serde_json::json!(path));
                }
            }
        } else if let Some(a) = best_http(c) {
            d.port = Some(a.port);
            let health_ok = a.health.is_some_and(|s| (200..400).contains(&s));
            let root_ok = a.root.is_some_and(|s| (200..400).contains(&s));
            let path = if kind == "http" {
                if health_ok {
                    "/health"
                } else {
                    "/"
                }
            } else if root_ok || !health_ok {
                "/"
            } else {
                "/health"
            };
            let default_path = if kind == "http" { "/health" } else { "/" };
            if path != default_path {
                d.params
                    .insert("health_path".into(), serde_json::json!(path));
            }
            d.report.inferred.push(format!(
                "port {} and health path {path}: GET /health answered {}, GET / answered {}",
                a.port,
                a.health.map(|s| s.to_string()).unwrap_or("nothing".into()),
                a.root.map(|s| s.to_string()).unwrap_or("nothing".into()),
            ));
            if !health_ok && !root_ok {
                out.findings.push(Finding {
                    severity: Severity::Warning,
                    code: "no-health-endpoint",
                    message: format!(
                        "container {} answers HTTP on port {} but neither /health nor / with 2xx or 3xx; its healthcheck would fail",
                        c.name, a.port
                    ),
                    containers: vec![c.name.clone()],
                    hint: "set `health_path:` to a path that answers 2xx when the service is healthy".into(),
                });
            }
        }
        if d.port == default_port {
            // The kind's own: nothing to write.
        } else if d.port.is_none() {
            d.port = default_port;
        }
    }
    if kind == "worker" {
        let test = observed
            .healthcheck
            .as_ref()
            .map(|h| h.test.clone())
            .filter(|t| !t.is_empty())
            .or_else(|| {
                c.image
                    .as_ref()
                    .and_then(|i| i.inspect.config.clone())
                    .and_then(|cfg| cfg.healthcheck)
                    .and_then(|h| h.test)
            });
        let cmd: Option<Vec<String>> = test.and_then(|t| match t.first().map(String::as_str) {
            Some("CMD") => Some(t[1..].to_vec()),
            Some("CMD-SHELL") => Some(vec!["/bin/sh".into(), "-c".into(), t[1..].join(" ")]),
            _ => None,
        });
        let cmd = match cmd {
            Some(c) => {
                d.report
                    .inferred
                    .push("health_cmd: the container's healthcheck".into());
                c
            }
            None => {
                out.findings.push(Finding {
                    severity: Severity::Warning,
                    code: "worker-without-healthcheck",
                    message: format!(
                        "container {} has no healthcheck and answers no HTTP: its health_cmd is a placeholder that only checks that the process runs",
                        c.name
                    ),
                    containers: vec![c.name.clone()],
                    hint: "replace `health_cmd` with a command that exits 0 while the worker is healthy".into(),
                });
                vec!["/bin/sh".into(), "-c".into(), "kill -0 1".into()]
            }
        };
        d.params.insert("health_cmd".into(), serde_json::json!(cmd));
        observed.healthcheck = None;
    }

    // --- environment: what the container was given on top of its image
    let env_all = c.env();
    let mut env: BTreeMap<String, String> = observed.environment.clone();
    if env.get("PATH").map(String::as_str) == Some(DEFAULT_PATH) && !image_env.contains_key("PATH")
    {
        env.remove("PATH");
        d.report.dropped.push("PATH (the engine's default)".into());
    }
    let image_kept = env_all.len() - observed.environment.len();
    if image_kept > 0 {
        d.report.dropped.push(format!(
            "{image_kept} environment variable(s) the image sets"
        ));
    }
    // The postgres kind's own settings.
    if kind == "postgres" {
        postgres_settings(c, &mut d, &mut env, &env_all, &observed, out);
    }
    // Secrets: files named by *_FILE, secret-looking variables, passwords in URLs.
    for (k, v) in env.clone() {
        if secret_file_var(&k, &v) {
            let stem = k
                .strip_suffix("__FILE")
                .or_else(|| k.strip_suffix("_FILE"))
                .or_else(|| k.strip_suffix("_PATH"))
                .unwrap_or(&k)
                .to_string();
            let Some(content) = c.files.get(&v) else {
                let why = c
                    .unreadable
                    .get(&v)
                    .cloned()
                    .unwrap_or_else(|| "not read".into());
                out.findings.push(Finding {
                    severity: Severity::Warning,
                    code: "secret-file-unreadable",
                    message: format!("container {}: {k} names {v}, which could not be read ({why}); it is kept as it is", c.name),
                    containers: vec![c.name.clone()],
                    hint: "declare the secret in the spec yourself".into(),
                });
                continue;
            };
            let value = String::from_utf8_lossy(content)
                .trim_end_matches(['\n', '\r'])
                .to_string();
            let bind = observed
                .volumes
                .iter()
                .find(|m| m.kind == "bind" && m.target == v)
                .map(|m| m.source.clone());
            let (name, priority) = match v.strip_prefix("/run/secrets/") {
                Some(n) if !n.contains('/') && !n.is_empty() => (n.to_string(), 0),
                _ if kind == "postgres" && stem == "POSTGRES_PASSWORD" => {
                    (format!("{}_password", svc.replace(['-', '.'], "_")), 1)
                }
                _ => (name_from_var(&stem), 2),
            };
            let idx = out.candidates.len();
            out.candidates.push(Candidate {
                container: c.name.clone(),
                name,
                priority,
                value,
                source: Source::File {
                    var: k.clone(),
                    path: v.clone(),
                    host: bind.clone(),
                },
            });
            env.remove(&k);
            if let Some(h) = &bind {
                observed.volumes.retain(|m| m.target != v);
                if VOLATILE
                    .iter()
                    .any(|p| h == p || h.starts_with(&format!("{p}/")))
                {
                    out.findings.push(Finding {
                        severity: Severity::Warning,
                        code: "volatile-secret-file",
                        message: format!(
                            "container {} reads a secret ({stem}) from {h} on the host, a volatile path (emptied on reboot); its value is lifted into the --env-out file",
                            c.name
                        ),
                        containers: vec![c.name.clone()],
                        hint: "keep the --env-out file (mode 0600) as the secret's home from now on; the file under the volatile path is no longer read".into(),
                    });
                }
            }
            let lift = if kind == "postgres" && stem == "POSTGRES_PASSWORD" {
                Lift::PostgresPassword
            } else {
                Lift::Var(stem.clone())
            };
            d.lifts.push((idx, lift));
            d.report.lifted.push(format!(
                "{k} -> the content of {v}{}",
                bind.map(|h| format!(" (bind-mounted from {h})"))
                    .unwrap_or_default()
            ));
        } else if looks_secret(&k) && !v.is_empty() {
            let (name, priority, lift) = if kind == "postgres" && k == "POSTGRES_PASSWORD" {
                (
                    format!("{}_password", svc.replace(['-', '.'], "_")),
                    1,
                    Lift::PostgresPassword,
                )
            } else {
                (name_from_var(&k), 2, Lift::Var(k.clone()))
            };
            let idx = out.candidates.len();
            out.candidates.push(Candidate {
                container: c.name.clone(),
                name,
                priority,
                value: v.clone(),
                source: Source::Env { var: k.clone() },
            });
            env.remove(&k);
            d.lifts.push((idx, lift));
            d.report
                .lifted
                .push(format!("{k} (plain environment value)"));
        }
    }
    // References: URLs and hosts in values; passwords out of URLs.
    let mut env_out: BTreeMap<String, EnvValue> = BTreeMap::new();
    for (k, v) in &env {
        let mut edits: Vec<(usize, usize, String)> = Vec::new();
        for u in refs::urls(v) {
            let target = known.get(&u.host).cloned();
            if let Some(t) = &target {
                if t != svc {
                    if d.uses.insert(t.clone()) {
                        d.report
                            .inferred
                            .push(format!("uses {t}: {k} names `{}`", u.host));
                    }
                    if u.host != *t {
                        edits.push((u.host_at.0, u.host_at.1, t.clone()));
                        d.report
                            .inferred
                            .push(format!("{k}: host `{}` is service `{t}`", u.host));
                    }
                }
            } else if !refs::is_local(&u.host) && !d.egress {
                d.egress = true;
                d.report.inferred.push(format!(
                    "egress: {k} names `{}`, outside the imported containers",
                    u.host
                ));
            }
            if let (Some(p), Some((s, e))) = (&u.password, u.userinfo_at) {
                if !p.is_empty() {
                    let user = u.user.clone().unwrap_or_default();
                    let name = match &target {
                        Some(t) => format!("{}_password", t.replace(['-', '.'], "_")),
                        None => format!("{}_password", name_from_var(k)),
                    };
                    let idx = out.candidates.len();
                    out.candidates.push(Candidate {
                        container: c.name.clone(),
                        name,
                        priority: if target.is_some() { 1 } else { 2 },
                        value: p.clone(),
                        source: Source::Url {
                            var: k.clone(),
                            host: u.host.clone(),
                        },
                    });
                    d.lifts.push((idx, Lift::UrlPassword(k.clone())));
                    // `user:password@` -> `user@` (the user as written, still encoded).
                    let user_raw = v[s..e].split(':').next().unwrap_or("");
                    let keep = if user.is_empty() {
                        String::new()
                    } else {
                        format!("{user_raw}@")
                    };
                    edits.push((s, e, keep));
                    d.report
                        .lifted
                        .push(format!("the password in {k}'s URL (host {})", u.host));
                }
            }
        }
        for (s, e, h) in refs::bare_hosts(k, v) {
            if let Some(t) = known.get(&h) {
                if t != svc {
                    if d.uses.insert(t.clone()) {
                        d.report.inferred.push(format!("uses {t}: {k} names `{h}`"));
                    }
                    if h != *t {
                        edits.push((s, e, t.clone()));
                    }
                }
            }
        }
        env_out.insert(k.clone(), EnvValue::Literal(refs::splice(v, edits)));
    }
    d.env = env_out;

    // Links.
    for l in host_config.links.clone().unwrap_or_default() {
        if let Some((target, _)) = l.split_once(':') {
            if let Some(t) = known.get(target.trim_start_matches('/')) {
                if t != svc && d.uses.insert(t.clone()) {
                    d.report.inferred.push(format!(
                        "uses {t}: a link to {}",
                        target.trim_start_matches('/')
                    ));
                }
            }
        }
    }
    // What a proxy's configuration names.
    for (path, content) in &c.files {
        if !path.starts_with("/etc/nginx/") {
            continue;
        }
        let text = String::from_utf8_lossy(content);
        for (name, t) in known {
            if t == svc || d.uses.contains(t) {
                continue;
            }
            let named = text.match_indices(name.as_str()).any(|(i, _)| {
                let before = text[..i].chars().next_back();
                let after = text[i + name.len()..].chars().next();
                let boundary_before = before
                    .is_none_or(|b| !(b.is_ascii_alphanumeric() || matches!(b, '-' | '_' | '.')));
                let boundary_after = after
                    .is_none_or(|a| !(a.is_ascii_alphanumeric() || matches!(a, '-' | '_' | '.')));
                boundary_before
                    && boundary_after
                    && (text[..i].ends_with("://") || text[i + name.len()..].starts_with(':'))
            });
            if named {
                d.uses.insert(t.clone());
                d.report
                    .inferred
                    .push(format!("uses {t}: {path} proxies to `{name}`"));
            }
        }
    }
    // A container fedgen made joined a network per service it uses (`X-net`), and `edge`.
    if fedgen_made {
        for net in observed.networks.keys() {
            if let Some(x) = net.strip_suffix("-net") {
                if x != svc && d.uses.insert(x.to_string()) {
                    d.report
                        .inferred
                        .push(format!("uses {x}: it is on network {net}"));
                }
            }
        }
        if observed.networks.contains_key("edge") && observed.ports.is_empty() && !d.egress {
            d.egress = true;
            d.report
                .inferred
                .push("egress: it is on network edge and publishes nothing".into());
        }
    }
    let own_aliases = aliases(c);
    let mut nets: Vec<String> = c
        .inspect
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|(n, e)| {
            let mut a: Vec<String> = e
                .aliases
                .unwrap_or_default()
                .into_iter()
                .filter(|x| own_aliases.contains(x))
                .collect();
            a.sort();
            if a.is_empty() {
                n
            } else {
                format!("{n} (aliases {})", a.join(", "))
            }
        })
        .collect();
    nets.sort();
    if !nets.is_empty() && !fedgen_made {
        d.report.dropped.push(format!(
            "networks {} (fedgen derives them from `uses`)",
            nets.join("; ")
        ));
    }

    // --- command, entrypoint, user
    let kind_sets_command = matches!(kind.as_str(), "redis" | "postgres");
    if kind == "redis" {
        let argv: Vec<String> = observed
            .entrypoint
            .clone()
            .unwrap_or_default()
            .into_iter()
            .chain(observed.command.clone().unwrap_or_default())
            .collect();
        let aof = argv
            .windows(2)
            .any(|w| w[0] == "--appendonly" && w[1] == "yes");
        if !aof {
            d.params
                .insert("appendonly".into(), serde_json::json!(false));
            d.report.inferred.push(
                "appendonly: false: it persists in RDB snapshots only (started with AOF on, redis 7 would not load them)".into(),
            );
            out.findings.push(Finding {
                severity: Severity::Warning,
                code: "redis-rdb-only",
                message: format!(
                    "redis in {} keeps its data in RDB snapshots (dump.rdb) only; it is imported with `appendonly: false`, since redis 7 started with append-only persistence on and no AOF yet loads nothing and later overwrites dump.rdb",
                    c.name
                ),
                containers: vec![c.name.clone()],
                hint: "after adopting, turn AOF on without losing data (redis-cli CONFIG SET appendonly yes), then remove `appendonly: false`".into(),
            });
        }
    }
    if kind_sets_command {
        if !fedgen_made && (observed.command.is_some() || observed.entrypoint.is_some()) {
            d.report.dropped.push(format!(
                "its command line ({} arguments): the {kind} kind runs its own",
                observed.command.as_ref().map_or(0, Vec::len)
                    + observed.entrypoint.as_ref().map_or(0, Vec::len)
            ));
        }
    } else {
        d.command = observed.command.clone();
        d.entrypoint = observed.entrypoint.clone();
    }
    if let Some(u) = observed.user.clone() {
        if matches!(kind.as_str(), "redis" | "postgres") {
            if !fedgen_made {
                d.report
                    .dropped
                    .push(format!("user {u} (the {kind} kind chooses)"));
            }
        } else {
            d.user = Some(u);
        }
    }
    if let Some(w) = &observed.working_dir {
        d.report.dropped.push(format!(
            "working directory {w} (a spec has no key for it; bake it into the image)"
        ));
    }
    if let Some(s) = &observed.stop_signal {
        d.report.dropped.push(format!(
            "stop signal {s} (a spec has no key for it; the image's STOPSIGNAL is used)"
        ));
    }

    // --- data, by reference
    let data_target = meta.as_ref().and_then(|m| m.data.clone());
    let mut mounts = observed.volumes.clone();
    mounts.sort_by(|a, b| a.target.cmp(&b.target));
    for m in &mounts {
        let is_data = data_target.as_deref() == Some(m.target.as_str());
        let ro = if m.read_only { ":ro" } else { "" };
        let reference = if m.kind == "volume" {
            let vlabels = host.volumes.get(&m.source).cloned().unwrap_or_default();
            let own = vlabels.get(COMPOSE_PROJECT).map(String::as_str) == Some(project);
            if own {
                let key = vlabels
                    .get(COMPOSE_VOLUME)
                    .cloned()
                    .unwrap_or_else(|| names::unscoped(project, &m.source).to_string());
                if is_data && key == format!("{svc}-data") {
                    continue;
                }
                out.decls.volumes.insert(key.clone(), (false, None));
                key
            } else {
                let anonymous =
                    m.source.len() == 64 && m.source.chars().all(|c| c.is_ascii_hexdigit());
                let key = if anonymous {
                    let base = m
                        .target
                        .rsplit('/')
                        .find(|p| !p.is_empty())
                        .unwrap_or("data");
                    let mut k = sanitize_service(&format!("{svc}-{base}-{}", &m.source[..8]));
                    while !anon_keys.insert(k.clone()) {
                        k.push('x');
                    }
                    k
                } else {
                    m.source.clone()
                };
                out.decls.volumes.insert(
                    key.clone(),
                    (true, (key != m.source).then(|| m.source.clone())),
                );
                d.report.inferred.push(format!(
                    "{} {}: {} volume {}, kept by reference (external)",
                    if is_data { "data" } else { "volume" },
                    m.target,
                    if anonymous { "anonymous" } else { "named" },
                    m.source
                ));
                key
            }
        } else {
            out.decls.allow_host_paths = true;
            if m.source == "/var/run/docker.sock" || m.source == "/run/docker.sock" {
                out.findings.push(Finding {
                    severity: Severity::Warning,
                    code: "engine-socket",
                    message: format!(
                        "container {} mounts the Docker socket: it controls the engine; kept",
                        c.name
                    ),
                    containers: vec![c.name.clone()],
                    hint: String::new(),
                });
            }
            if VOLATILE
                .iter()
                .any(|p| m.source == *p || m.source.starts_with(&format!("{p}/")))
            {
                out.findings.push(Finding {
                    severity: Severity::Warning,
                    code: "volatile-bind",
                    message: format!(
                        "container {} keeps {} in {} on the host, a volatile path (emptied on reboot); kept as it is",
                        c.name, m.target, m.source
                    ),
                    containers: vec![c.name.clone()],
                    hint: "move it to a named volume or a lasting directory".into(),
                });
            }
            d.report.inferred.push(format!(
                "{} {}: bind mount of {}, kept by reference",
                if is_data { "data" } else { "volume" },
                m.target,
                m.source
            ));
            m.source.clone()
        };
        if is_data {
            d.data = Some(reference);
        } else {
            d.volumes.push(format!("{reference}:{}{ro}", m.target));
        }
    }
    if !observed.tmpfs.is_empty() && !fedgen_made {
        d.report.dropped.push(format!(
            "tmpfs {} (the kind mounts its own)",
            observed.tmpfs.join(", ")
        ));
    }

    // --- published ports
    for p in &observed.ports {
        if p.protocol != "tcp" {
            d.report.dropped.push(format!(
                "published {}/{} (a spec publishes TCP only)",
                p.target, p.protocol
            ));
            continue;
        }
        let Some(published) = p.published else {
            d.report
                .dropped
                .push(format!("port {} published on a random host port", p.target));
            continue;
        };
        let ip = p
            .host_ip
            .clone()
            .filter(|ip| ip != "0.0.0.0" && ip != "::" && !ip.is_empty());
        d.bindings.push((ip, published, p.target));
    }

    // --- settings that are intent, not noise
    let restart = observed.restart.unwrap_or(RestartPolicy::No);
    match restart {
        RestartPolicy::No => d
            .report
            .dropped
            .push("restart policy `no` (the container would not come back after a reboot)".into()),
        RestartPolicy::UnlessStopped => {}
        other => d.restart = Some(other),
    }
    noise(c, &config, &host_config, &mut d);
    let own_labels: Vec<String> = observed
        .labels
        .keys()
        .filter(|k| !k.starts_with("dev.fedgen.") && !k.starts_with("com.docker.compose."))
        .cloned()
        .collect();
    if !own_labels.is_empty() {
        d.report.dropped.push(format!(
            "labels {} (a spec has no key for labels)",
            own_labels.join(", ")
        ));
    }

    // --- adoption: a container apply would not find under the project's names
    let canonical = [
        names::container_name(project, svc, mapping::CONTAINER_NUMBER),
        names::legacy_container_name(project, svc, mapping::CONTAINER_NUMBER),
    ];
    if !managed && !canonical.contains(&c.name) {
        d.adopt = Some(c.name.clone());
    }
    if let Some(a) = labels.get(LABEL_ADOPT) {
        if managed {
            d.adopt = Some(a.clone());
        }
    }
    d.observed = observed;
    d
}

/// The postgres kind's settings from the container: superuser, the cluster's place in the data
/// mount, the databases (POSTGRES_DB and fedgen's script; URLs add theirs later).
fn postgres_settings(
    c: &Seen,
    d: &mut Draft,
    env: &mut BTreeMap<String, String>,
    env_all: &BTreeMap<String, String>,
    observed: &Service,
    out: &mut Drafted,
) {
    let user = env_all
        .get("POSTGRES_USER")
        .cloned()
        .unwrap_or_else(|| "postgres".into());
    if user != "postgres" {
        d.params.insert("superuser".into(), serde_json::json!(user));
        d.report
            .inferred
            .push(format!("superuser {user}: POSTGRES_USER"));
    }
    let mut dbs: BTreeSet<String> = BTreeSet::new();
    if let Some(db) = env_all.get("POSTGRES_DB").filter(|d| **d != user) {
        dbs.insert(db.clone());
    }
    if let Some(script) = c.files.get(FEDGEN_DB_SCRIPT) {
        let text = String::from_utf8_lossy(script);
        for part in text.split("CREATE DATABASE \\\"").skip(1) {
            if let Some(name) = part.split("\\\"").next() {
                dbs.insert(name.to_string());
            }
        }
    }
    if !dbs.is_empty() {
        d.params.insert(
            "databases".into(),
            serde_json::json!(dbs.iter().collect::<Vec<_>>()),
        );
    }
    let data = "/var/lib/postgresql/data";
    let pgdata = env_all
        .get("PGDATA")
        .cloned()
        .unwrap_or_else(|| data.into());
    let mounted = observed.volumes.iter().any(|m| m.target == data);
    if pgdata == data {
        if mounted {
            d.params.insert("pgdata".into(), serde_json::json!(""));
            d.report.inferred.push(format!(
                "pgdata \"\": PGDATA is the data mount {data} itself"
            ));
        }
    } else if let Some(sub) = pgdata.strip_prefix(&format!("{data}/")) {
        if sub != "pgdata" {
            d.params.insert("pgdata".into(), serde_json::json!(sub));
        }
    } else {
        out.findings.push(Finding {
            severity: Severity::Warning,
            code: "pgdata-elsewhere",
            message: format!(
                "container {} keeps its cluster in {pgdata}, outside {data}; the postgres kind keeps it under {data}",
                c.name
            ),
            containers: vec![c.name.clone()],
            hint: "move the data, or mount it at the kind's path".into(),
        });
    }
    for k in ["POSTGRES_USER", "POSTGRES_DB", "PGDATA"] {
        if env.remove(k).is_some() {
            d.report
                .dropped
                .push(format!("{k} (a setting of the postgres kind now)"));
        }
    }
}

/// Settings the engine adds or that a spec cannot say: each named in the report.
fn noise(
    c: &Seen,
    config: &bollard::models::ContainerConfig,
    host: &bollard::models::HostConfig,
    d: &mut Draft,
) {
    let short: String = c.id.chars().take(12).collect();
    if let Some(h) = config
        .hostname
        .as_ref()
        .filter(|h| **h != short && !h.is_empty())
    {
        d.report
            .dropped
            .push(format!("hostname {h} (the service's name is its hostname)"));
    }
    if config.domainname.as_ref().is_some_and(|x| !x.is_empty()) {
        d.report.dropped.push("domain name".into());
    }
    if host.privileged == Some(true) {
        d.report
            .dropped
            .push("privileged mode (fedgen never runs a container privileged)".into());
    }
    for (what, list) in [
        ("extra hosts", host.extra_hosts.clone()),
        ("DNS servers", host.dns.clone()),
        (
            "devices",
            host.devices.clone().map(|v| {
                v.into_iter()
                    .map(|x| x.path_on_host.unwrap_or_default())
                    .collect()
            }),
        ),
    ] {
        if let Some(l) = list.filter(|l| !l.is_empty()) {
            d.report.dropped.push(format!(
                "{what} {} (a spec has no key for them)",
                l.join(", ")
            ));
        }
    }
    if let Some(ipc) = host
        .ipc_mode
        .as_ref()
        .filter(|m| !m.is_empty() && *m != "private" && *m != "shareable")
    {
        d.report.dropped.push(format!("ipc mode {ipc}"));
    }
    if let Some(pid) = host.pid_mode.as_ref().filter(|m| !m.is_empty()) {
        d.report.dropped.push(format!("pid mode {pid}"));
    }
    if config.tty == Some(true) || config.open_stdin == Some(true) {
        d.report.dropped.push("tty/stdin".into());
    }
    if let Some(l) = &host.log_config {
        let driver = l.typ.clone().unwrap_or_default();
        if !driver.is_empty() && driver != "json-file" && driver != "local" {
            d.report.dropped.push(format!(
                "log driver {driver} (fedgen writes json-file with rotation)"
            ));
        }
    }
}

/// The best HTTP answer of a container: a port whose /health is 2xx, else one whose / is, else
/// any that answers HTTP.
fn best_http(c: &Seen) -> Option<&super::read::HttpAnswer> {
    let ok = |s: Option<u16>| s.is_some_and(|s| (200..400).contains(&s));
    c.http
        .iter()
        .find(|a| ok(a.health))
        .or_else(|| c.http.iter().find(|a| ok(a.root)))
        .or_else(|| c.http.first())
}

/// The port and path a fedgen-made healthcheck GETs (`http://127.0.0.1:PORT/PATH`).
pub(super) fn health_url(s: &Service) -> Option<(u16, String)> {
    let test = s.healthcheck.as_ref()?.test.join(" ");
    let at = test.find("http://127.0.0.1:")? + "http://127.0.0.1:".len();
    let rest = &test[at..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .unwrap_or(rest.len());
    let url = &rest[..end];
    let (port, path) = url.split_once('/').unwrap_or((url, ""));
    Some((port.parse().ok()?, format!("/{path}")))
}

/// The image reference, pinned as the container runs it: its tag if that still names the image
/// the container runs, with the digest when the image has one.
fn pin_image(c: &Seen, d: &mut Draft, out: &mut Drafted) {
    let asked = c
        .inspect
        .config
        .as_ref()
        .and_then(|x| x.image.clone())
        .unwrap_or_default();
    let running_id = c.inspect.image.clone().unwrap_or_default();
    let Some(img) = &c.image else {
        d.image = asked.clone();
        out.findings.push(Finding {
            severity: Severity::Warning,
            code: "image-gone",
            message: format!(
                "container {} runs image {} ({}), which is no longer on the host",
                c.name,
                asked,
                short_id(&running_id)
            ),
            containers: vec![c.name.clone()],
            hint: "pull or rebuild it before apply".into(),
        });
        d.report.image = d.image.clone();
        return;
    };
    let tags = img.tags();
    let digests = img.digests();
    let norm = normalize_reference(&asked);
    let asked_is_tag = tags.iter().any(|t| normalize_reference(t) == norm);
    let name_tag = if asked.starts_with("sha256:") || asked_is_tag || asked.contains('@') {
        Some(asked.clone())
    } else {
        None
    };
    let name_tag = name_tag.or_else(|| {
        let mut t = tags.clone();
        t.sort();
        t.into_iter().next()
    });
    let repo_of = |r: &str| -> String {
        let no_digest = r.split('@').next().unwrap_or(r).to_string();
        match no_digest.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => n.to_string(),
            _ => no_digest,
        }
    };
    let digest = name_tag.as_ref().and_then(|nt| {
        let repo = normalize_reference(&repo_of(nt));
        let repo = repo.strip_suffix(":latest").unwrap_or(&repo).to_string();
        digests
            .iter()
            .find(|dg| normalize_reference(&repo_of(dg)).trim_end_matches(":latest") == repo)
            .and_then(|dg| dg.split_once('@').map(|(_, h)| h.to_string()))
    });
    let image = match (&name_tag, &digest) {
        (Some(nt), Some(dg)) if !nt.contains('@') && !nt.starts_with("sha256:") => {
            let nt = if nt.rsplit('/').next().is_some_and(|l| l.contains(':')) {
                nt.clone()
            } else {
                format!("{nt}:latest")
            };
            format!("{nt}@{dg}")
        }
        (Some(nt), _) => nt.clone(),
        (None, Some(dg)) => format!("{}@{dg}", repo_of(&asked)),
        (None, None) => running_id.clone(),
    };
    if !asked_is_tag && !asked.contains('@') && !asked.starts_with("sha256:") {
        out.findings.push(Finding {
            severity: Severity::Warning,
            code: "image-moved",
            message: format!(
                "container {} was made from {asked}, which now names another image; it runs {} ({}), pinned as `{image}`",
                c.name,
                short_id(&running_id),
                if tags.is_empty() { "untagged".to_string() } else { tags.join(", ") }
            ),
            containers: vec![c.name.clone()],
            hint: "check which build should run before apply".into(),
        });
    }
    let tag = image
        .split('@')
        .next()
        .and_then(|n| n.rsplit('/').next())
        .and_then(|l| l.split_once(':').map(|(_, t)| t.to_string()));
    let by_digest = image.contains("@sha256:");
    if !by_digest
        && (tag.is_none() || tag.as_deref() == Some("latest"))
        && !image.starts_with("sha256:")
    {
        d.allow_latest = true;
        out.findings.push(Finding {
            severity: Severity::Warning,
            code: "image-latest",
            message: format!(
                "container {} runs `{image}`, tagged latest with no digest: a rebuild or pull changes what runs; imported with `allow_latest: true`",
                c.name
            ),
            containers: vec![c.name.clone()],
            hint: "tag the image with a version and use that tag".into(),
        });
    }
    d.report.inferred.push(format!(
        "image {image}: {}",
        if by_digest {
            "the tag it runs, with the image's digest"
        } else if image.starts_with("sha256:") {
            "the image's id (it has no name)"
        } else {
            "the tag it runs (the image has no digest: a local build)"
        }
    ));
    d.image = image;
    d.report.image = d.image.clone();
}

fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Replaces URLs that a helper writes exactly (`postgres_url`, `redis_url`, `http_url`) by the
/// helper call, and adds the databases they name to the postgres service.
fn link_helpers(drafts: &mut [Draft]) {
    let info: BTreeMap<String, (String, Option<u16>, String)> = drafts
        .iter()
        .map(|d| {
            let superuser = d
                .params
                .get("superuser")
                .and_then(|v| v.as_str())
                .unwrap_or("postgres")
                .to_string();
            let port = match d.kind.as_str() {
                "postgres" => Some(5432),
                "redis" => Some(6379),
                _ => d.port,
            };
            (d.service.clone(), (d.kind.clone(), port, superuser))
        })
        .collect();
    let mut dbs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for d in drafts.iter_mut() {
        for (k, v) in d.env.iter_mut() {
            let EnvValue::Literal(text) = v else { continue };
            let us = refs::urls(text);
            if us.len() != 1 || us[0].start != 0 || us[0].end != text.len() {
                continue;
            }
            let u = &us[0];
            let Some((kind, port, superuser)) = info.get(&u.host) else {
                continue;
            };
            let port_ok = u.port.is_none_or(|p| Some(p) == *port) && u.port.is_some();
            let helper = match (kind.as_str(), u.scheme.as_str()) {
                ("postgres", "postgres" | "postgresql") => {
                    let db = u.rest.strip_prefix('/').unwrap_or("");
                    let ident = !db.is_empty()
                        && db
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if port_ok
                        && ident
                        && u.password.is_none()
                        && u.user.as_deref() == Some(superuser.as_str())
                        && *text == format!("postgresql://{superuser}@{}:5432/{db}", u.host)
                    {
                        dbs.entry(u.host.clone())
                            .or_default()
                            .insert(db.to_string());
                        Some(format!("{{{{ postgres_url('{}', '{db}') }}}}", u.host))
                    } else {
                        if ident && u.scheme.starts_with("postgres") {
                            dbs.entry(u.host.clone())
                                .or_default()
                                .insert(db.to_string());
                        }
                        None
                    }
                }
                ("redis", "redis") => {
                    let n = u.rest.strip_prefix('/').and_then(|r| r.parse::<u32>().ok());
                    match n {
                        Some(n)
                            if port_ok
                                && u.user.is_none()
                                && *text == format!("redis://{}:6379/{n}", u.host) =>
                        {
                            Some(if n == 0 {
                                format!("{{{{ redis_url('{}') }}}}", u.host)
                            } else {
                                format!("{{{{ redis_url('{}', {n}) }}}}", u.host)
                            })
                        }
                        _ => None,
                    }
                }
                (_, "http") if port_ok && u.user.is_none() && port.is_some() => {
                    let base = format!("http://{}:{}", u.host, port.unwrap_or(0));
                    let safe = !u.rest.contains(['\'', '\\', '{', '}', '%', '$']);
                    if *text == base {
                        Some(format!("{{{{ http_url('{}') }}}}", u.host))
                    } else if safe
                        && u.rest.starts_with('/')
                        && *text == format!("{base}{}", u.rest)
                    {
                        Some(format!("{{{{ http_url('{}', '{}') }}}}", u.host, u.rest))
                    } else {
                        None
                    }
                }
                _ => None,
            };
            if let Some(h) = helper {
                d.report.inferred.push(format!(
                    "{k}: written with a helper, {}",
                    h.trim_start_matches("{{ ").trim_end_matches(" }}")
                ));
                *v = EnvValue::Template(h);
            }
        }
    }
    for d in drafts.iter_mut() {
        if d.kind != "postgres" {
            continue;
        }
        let Some(extra) = dbs.get(&d.service) else {
            continue;
        };
        let mut all: BTreeSet<String> = d
            .params
            .get("databases")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let before = all.len();
        all.extend(extra.iter().cloned());
        if all.len() > before {
            d.report.inferred.push(format!(
                "databases {}: named by the URLs that use it",
                extra.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        d.params.insert(
            "databases".into(),
            serde_json::json!(all.into_iter().collect::<Vec<_>>()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_and_legacy_names() {
        assert_eq!(repo_name("docker.io/library/redis:7@sha256:ab"), "redis");
        assert_eq!(repo_name("reg:5000/team/Postgres"), "postgres");
        assert_eq!(
            legacy_parts("federated-imputation-central_service-registry_1"),
            Some(("federated-imputation-central", "service-registry"))
        );
        assert_eq!(legacy_parts("frontend-updated"), None);
        assert_eq!(sanitize_project("Fed.Imp"), "fed-imp");
        assert!(secret_file_var("JWT_SECRET_FILE", "/run/secrets/jwt"));
        assert!(secret_file_var("TOKEN_FILE", "/run/secrets/x"));
        assert!(!secret_file_var("LOG_FILE", "/var/log/app.log"));
        assert!(secret_file_var("CERT_FILE", "/run/secrets/cert"));
    }

    fn seen(asked: &str, tags: &[&str], digests: &[&str]) -> Seen {
        use bollard::models::{ContainerConfig, ContainerInspectResponse, ImageInspect};
        let inspect = ContainerInspectResponse {
            image: Some("sha256:0123456789abcdef".into()),
            config: Some(ContainerConfig {
                image: Some(asked.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let image = super::super::read::ImageSeen {
            id: "sha256:0123456789abcdef".into(),
            defaults: Default::default(),
            inspect: ImageInspect {
                repo_tags: Some(tags.iter().map(|t| t.to_string()).collect()),
                repo_digests: Some(digests.iter().map(|t| t.to_string()).collect()),
                ..Default::default()
            },
        };
        Seen {
            name: "c".into(),
            id: "c0ffee".into(),
            inspect,
            image: Some(std::sync::Arc::new(image)),
            files: Default::default(),
            unreadable: Default::default(),
            http: vec![],
        }
    }

    fn pinned(asked: &str, tags: &[&str], digests: &[&str]) -> (String, bool, Vec<&'static str>) {
        let mut d = Draft::default();
        let mut out = Drafted::default();
        pin_image(&seen(asked, tags, digests), &mut d, &mut out);
        (
            d.image,
            d.allow_latest,
            out.findings.iter().map(|f| f.code).collect(),
        )
    }

    #[test]
    fn images_are_pinned_as_they_run() {
        assert_eq!(
            pinned("redis:7", &["redis:7"], &["redis@sha256:abc"]),
            ("redis:7@sha256:abc".to_string(), false, vec![])
        );
        assert_eq!(
            pinned("fedgen-lab/redis:7", &["fedgen-lab/redis:7"], &[]),
            ("fedgen-lab/redis:7".to_string(), false, vec![])
        );
        // Rebuilt under its tag since: the running image's other tag, with a finding.
        assert_eq!(
            pinned("app:1", &["app:0.9"], &[]),
            ("app:0.9".to_string(), false, vec!["image-moved"])
        );
        // Untagged and without a digest: by id.
        assert_eq!(
            pinned("app:1", &[], &[]).0,
            "sha256:0123456789abcdef".to_string()
        );
        // latest without a digest: allowed on purpose, with a finding.
        assert_eq!(
            pinned("svc", &["svc:latest"], &[]),
            ("svc".to_string(), true, vec!["image-latest"])
        );
        assert_eq!(
            pinned("svc", &["svc:latest"], &["svc@sha256:def"]),
            ("svc:latest@sha256:def".to_string(), false, vec![])
        );
    }

    #[test]
    fn the_url_a_fedgen_healthcheck_asks() {
        let s = Service {
            healthcheck: Some(crate::model::Healthcheck {
                test: vec![
                    "CMD".into(),
                    "wget".into(),
                    "http://127.0.0.1:8003/ready".into(),
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(health_url(&s), Some((8003, "/ready".to_string())));
        let auto = crate::compile::probe::Probe::Auto.test("http://127.0.0.1:80/");
        let s = Service {
            healthcheck: Some(crate::model::Healthcheck {
                test: auto,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(health_url(&s), Some((80, "/".to_string())));
    }
}
