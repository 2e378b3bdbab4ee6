//! Validation, twice: of the spec before rendering, and of the compose model after.
//!
//! [`check`] takes a parsed [`Spec`] and the [`Kinds`] and gives a [`Stack`]: the spec plus what is
//! derived from it (each service's kind, port and parameters with defaults, a dependency order, the
//! network topology), or located diagnostics for every cross-reference problem: unknown kinds,
//! services, secrets and networks, dependency cycles (printed), two services on one host port,
//! `latest` or missing image tags, secrets passed as plain environment values.
//!
//! [`policies`] takes the rendered [`Compose`] model and checks the invariants every file fedgen
//! writes must hold (restart, healthcheck, log rotation, explicit networks, health-gated
//! dependencies, hardening), so that a user's own template cannot quietly drop one.
//!
//! ## How networks are derived (`network_isolation: per-service`, the default)
//! - A service that something `uses` gets a network of its own, `<service>-net`, `internal: true`,
//!   on which it has its name as an alias. Each service that uses it joins that network.
//! - A service that publishes a port, or says `egress: true`, also joins `edge` (not internal).
//! - A service with none of these gets its own internal `<service>-net`, so none falls back on the
//!   implicit default network.
//!
//! So a service can resolve exactly what it uses (and the other users of the same thing), and
//! nothing else. `network_isolation: shared` puts every service on one internal `backend` network
//! instead (for hosts that run short of network address pools); a service's `networks:` list
//! overrides the derivation for that service and names networks declared under `networks:`.

use crate::compile::env::looks_secret;
use crate::compile::kinds::{Kind, Kinds, ParamType};
use crate::compile::spec::{ServiceSpec, Spec};
use crate::diag::{did_you_mean, Code, Diagnostic, Diagnostics, Span};
use crate::model::{Compose, Condition, Lifecycle, ServiceNetwork};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub const EDGE_NETWORK: &str = "edge";
pub const SHARED_NETWORK: &str = "backend";

/// A spec that passed [`check`], with what fedgen derives from it.
#[derive(Debug)]
pub struct Stack<'a> {
    pub spec: &'a Spec,
    pub kinds: &'a Kinds,
    /// Service names, each after everything it uses.
    pub order: Vec<String>,
    pub ports: HashMap<String, Option<u16>>,
    /// Each service's kind parameters, defaults filled in.
    pub params: HashMap<String, serde_json::Map<String, serde_json::Value>>,
    /// Each service's secrets: those it lists plus those its `secret` parameters name, sorted.
    pub secrets: HashMap<String, BTreeSet<String>>,
    pub networks: BTreeMap<String, bool>,
    pub service_networks: HashMap<String, BTreeMap<String, ServiceNetwork>>,
    /// Each service's image family (`{name, ...vars}`), for kinds made for several.
    pub families: HashMap<String, serde_json::Value>,
}

impl Stack<'_> {
    pub fn kind(&self, service: &str) -> &Kind {
        self.kinds
            .get(&self.spec.services[service].kind.value)
            .expect("validated kind")
    }
}

pub fn check<'a>(
    spec: &'a Spec,
    kinds: &'a Kinds,
    spec_dir: &std::path::Path,
    diags: &mut Diagnostics,
) -> Option<Stack<'a>> {
    let before = diags.error_count();
    for decl in spec.secrets.values() {
        if let crate::compile::spec::SecretSource::File(f) = &decl.source {
            check_host_path(
                &format!("secret file `{f}`"),
                f,
                decl.name.span,
                spec,
                spec_dir,
                diags,
            );
        }
    }
    let mut stack = Stack {
        spec,
        kinds,
        order: Vec::new(),
        ports: HashMap::new(),
        params: HashMap::new(),
        secrets: HashMap::new(),
        networks: BTreeMap::new(),
        service_networks: HashMap::new(),
        families: HashMap::new(),
    };
    let names: Vec<&str> = spec.services.keys().map(String::as_str).collect();
    for (name, svc) in &spec.services {
        check_image(spec, svc, diags);
        let mut secrets: BTreeSet<String> = BTreeSet::new();
        for s in svc.secrets.iter().map(|s| &s.name) {
            if !spec.secrets.contains_key(&s.value) {
                unknown_ref(
                    &s.value,
                    s.span,
                    spec.secrets.keys().map(String::as_str),
                    Code::UnknownSecret,
                    "secret",
                    "declare it under the top-level `secrets:`",
                    diags,
                );
            }
            secrets.insert(s.value.clone());
        }
        for u in &svc.uses {
            if u.value == *name {
                diags.push(
                    Diagnostic::error(Code::SelfUse, format!("service `{name}` uses itself"))
                        .at(u.span),
                );
            } else if !spec.services.contains_key(&u.value) {
                unknown_ref(
                    &u.value,
                    u.span,
                    names.iter().copied(),
                    Code::UnknownService,
                    "service",
                    "`uses` names services of this stack",
                    diags,
                );
            }
        }
        check_env(name, svc, diags);
        check_volumes(name, svc, spec, spec_dir, diags);
        if let Some(nets) = &svc.networks {
            for n in nets
                .iter()
                .filter(|n| !spec.networks.contains_key(&n.value))
            {
                unknown_ref(&n.value, n.span, spec.networks.keys().map(String::as_str), Code::UnknownNetwork, "network", "a service's `networks:` names networks declared under the top-level `networks:`", diags);
            }
        }
        if svc.kind.value.is_empty() {
            continue; // reported by the parser
        }
        if kinds.broken.contains(&svc.kind.value) {
            continue; // its template's problem is reported
        }
        let Some(kind) = kinds.get(&svc.kind.value) else {
            let mut d = Diagnostic::error(
                Code::UnknownKind,
                format!("service `{name}` has unknown kind `{}`", svc.kind.value),
            )
            .at(svc.kind.span);
            d = match did_you_mean(&svc.kind.value, kinds.names()) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None => d.hint(format!(
                    "kinds: {}",
                    kinds.names().collect::<Vec<_>>().join(", ")
                )),
            };
            diags.push(d);
            continue;
        };
        let port = svc.port.as_ref().map(|p| p.value).or(kind.meta.port);
        stack.ports.insert(name.clone(), port);
        for p in &svc.publish {
            if p.container_port.is_none() && port.is_none() {
                diags.push(
                    Diagnostic::error(
                        Code::PublishWithoutPort,
                        format!("service `{name}` publishes {} but has no port", p.host_port),
                    )
                    .at(p.span)
                    .hint(format!(
                        "kind `{}` has no default port: set `port:` or publish HOST:CONTAINER",
                        kind.name
                    )),
                );
            }
        }
        let params = check_params(name, svc, kind, spec, &names, &mut secrets, diags);
        stack.params.insert(name.clone(), params);
        stack.secrets.insert(name.clone(), secrets);
        if let Some(family) = check_family(name, svc, kind, diags) {
            stack.families.insert(name.clone(), family);
        }
        check_kind_settings(name, svc, kind, spec, spec_dir, diags);
    }
    check_ports(spec, &stack.ports, diags);
    if diags.error_count() > before {
        return None;
    }
    stack.order = topological_order(spec, diags)?;
    derive_networks(&mut stack);
    Some(stack)
}

/// The image family of a service whose kind is made for several (redis, valkey): from
/// `image_family:`, else from the image's name; an image of none is refused.
fn check_family(
    name: &str,
    svc: &ServiceSpec,
    kind: &Kind,
    diags: &mut Diagnostics,
) -> Option<serde_json::Value> {
    let families = &kind.meta.families;
    if families.is_empty() {
        if let Some(f) = &svc.image_family {
            diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    format!(
                        "kind `{}` has no image families, so `image_family:` does not apply",
                        kind.name
                    ),
                )
                .at(f.span),
            );
        }
        return None;
    }
    let image = svc.image.as_ref()?;
    let names = families.keys().cloned().collect::<Vec<_>>().join(", ");
    let family = match &svc.image_family {
        Some(f) if families.contains_key(&f.value) => f.value.clone(),
        Some(f) => {
            diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    format!("kind `{}` has no image family `{}`", kind.name, f.value),
                )
                .at(f.span)
                .hint(format!("its families: {names}")),
            );
            return None;
        }
        None => match kind.meta.family_of(&image.value) {
            Some(f) => f.to_string(),
            None => {
                diags.push(
                    Diagnostic::error(
                        Code::UnsupportedImage,
                        format!(
                            "service `{name}` (kind `{}`) runs `{}`, which is none of the images the kind is made for",
                            kind.name, image.value
                        ),
                    )
                    .at(image.span)
                    .hint(format!(
                        "the kind knows the families {names} (their entrypoints, users and commands differ); if this image is built like one of them, say so with `image_family: NAME`"
                    )),
                );
                return None;
            }
        },
    };
    let mut value = serde_json::Map::new();
    value.insert("name".into(), family.clone().into());
    for (k, v) in &families[&family].vars {
        value.insert(k.clone(), v.clone());
    }
    Some(serde_json::Value::Object(value))
}

/// The settings whose meaning depends on the kind: `probe:` (an HTTP healthcheck), `data:` (a
/// kind that keeps data; a declared volume or a host path).
fn check_kind_settings(
    name: &str,
    svc: &ServiceSpec,
    kind: &Kind,
    spec: &Spec,
    spec_dir: &std::path::Path,
    diags: &mut Diagnostics,
) {
    if let (Some(p), None) = (&svc.probe, kind.meta.probe) {
        diags.push(
            Diagnostic::error(
                Code::InvalidValue,
                format!("the healthcheck of kind `{}` is not an HTTP probe, so `probe:` does not apply to `{name}`", kind.name),
            )
            .at(p.span)
            .hint("give `healthcheck.test` instead, or `healthcheck: image` for the image's own"),
        );
    }
    if let Some(data) = &svc.data {
        let v = &data.value;
        if kind.meta.data.is_none() {
            diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    format!(
                        "kind `{}` keeps no data, so `data:` does not apply to `{name}`",
                        kind.name
                    ),
                )
                .at(data.span)
                .hint("mount what the service needs with `volumes:`"),
            );
        } else if v.starts_with('.') || v.starts_with('/') {
            check_host_path(&format!("`data: {v}`"), v, data.span, spec, spec_dir, diags);
        } else if !spec.volumes.contains_key(v) {
            unknown_ref(
                v,
                data.span,
                spec.volumes.keys().map(String::as_str),
                Code::UnknownVolume,
                "volume",
                "`data:` names a volume declared under the top-level `volumes:` (add `external: true` for one that exists already), or a path: ./data",
                diags,
            );
        }
    }
}

/// Reports `value`, which the caller looked up (in a map, so that checking a large stack stays
/// linear) and did not find; `candidates` are walked only for a did-you-mean hint.
fn unknown_ref<'a>(
    value: &str,
    span: Span,
    candidates: impl Iterator<Item = &'a str>,
    code: Code,
    what: &str,
    help: &str,
    diags: &mut Diagnostics,
) {
    let d = Diagnostic::error(code, format!("unknown {what} `{value}`")).at(span);
    diags.push(match did_you_mean(value, candidates) {
        Some(s) => d.hint(format!("did you mean `{s}`?")),
        None => d.hint(help.to_string()),
    });
}

fn check_image(spec: &Spec, svc: &ServiceSpec, diags: &mut Diagnostics) {
    let Some(image) = &svc.image else { return }; // reported by the parser
    let i = &image.value;
    if i.is_empty() || i.chars().any(|c| c.is_whitespace()) {
        diags.push(
            Diagnostic::error(
                Code::InvalidImage,
                format!("`{i}` is not an image reference"),
            )
            .at(image.span),
        );
        return;
    }
    if i.contains("@sha256:") {
        return;
    }
    let last = i.rsplit('/').next().unwrap_or(i);
    let tag = last.split_once(':').map(|(_, t)| t);
    if svc.allows_latest(spec) {
        return;
    }
    match tag {
        None | Some("") => diags.push(
            Diagnostic::error(Code::ImageUntagged, format!("image `{i}` has no tag, so it means `latest`"))
                .at(image.span)
                .hint("pin a version (`name:1.4.2`) or a digest; `allow_latest: true` accepts it on purpose"),
        ),
        Some("latest") => diags.push(
            Diagnostic::error(Code::ImageLatest, format!("image `{i}` uses the `latest` tag"))
                .at(image.span)
                .hint("pin a version (`name:1.4.2`) or a digest, so a redeploy cannot change what runs; `allow_latest: true` accepts it on purpose"),
        ),
        Some(_) => {}
    }
}

fn check_params(
    name: &str,
    svc: &ServiceSpec,
    kind: &Kind,
    spec: &Spec,
    services: &[&str],
    secrets: &mut BTreeSet<String>,
    diags: &mut Diagnostics,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let mut out = serde_json::Map::new();
    for (key, (span, _)) in &svc.params {
        if !kind.meta.params.contains_key(key) {
            let candidates = crate::compile::spec::SERVICE_KEYS
                .iter()
                .copied()
                .chain(kind.meta.params.keys().map(String::as_str));
            let d = Diagnostic::error(
                Code::UnknownKey,
                format!(
                    "unknown key `{key}` in service `{name}` (kind `{}`)",
                    kind.name
                ),
            )
            .at(*span);
            diags.push(match did_you_mean(key, candidates) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None if kind.meta.params.is_empty() => {
                    d.hint(format!("kind `{}` takes no settings of its own", kind.name))
                }
                None => d.hint(format!(
                    "kind `{}` takes: {}",
                    kind.name,
                    kind.meta
                        .params
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            });
        }
    }
    for (key, meta) in &kind.meta.params {
        let given = svc.params.get(key);
        let Some((span, value)) = given
            .map(|(s, v)| (Some(*s), v.clone()))
            .or_else(|| meta.default.clone().map(|v| (None, v)))
        else {
            if meta.required {
                diags.push(
                    Diagnostic::error(
                        Code::MissingKey,
                        format!("service `{name}` (kind `{}`) needs `{key}`", kind.name),
                    )
                    .at(svc.name.span)
                    .hint(meta.doc.clone()),
                );
            }
            continue;
        };
        let ok = match meta.ty {
            ParamType::String | ParamType::Secret | ParamType::Service => value.is_string(),
            ParamType::Int => value.is_i64(),
            ParamType::Bool => value.is_boolean(),
            ParamType::List => value
                .as_array()
                .is_some_and(|a| a.iter().all(|v| v.is_string() || v.is_number())),
            ParamType::Map => value.is_object(),
        };
        if !ok {
            diags.push(
                Diagnostic::error(
                    Code::WrongType,
                    format!("`{key}` of service `{name}` must be a {:?}", meta.ty).to_lowercase(),
                )
                .at_opt(span)
                .hint(meta.doc.clone()),
            );
            continue;
        }
        if meta.identifier {
            let bad = match &value {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect(),
                _ => vec![],
            }
            .into_iter()
            .find(|s| !is_identifier(s));
            if let Some(bad) = bad {
                diags.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        format!("`{bad}` in `{key}` of service `{name}` is not a plain name"),
                    )
                    .at_opt(span)
                    .hint("use letters, digits, `_` and `-` only"),
                );
                continue;
            }
        }
        if let (Value::String(s), Some(span)) = (&value, span) {
            match meta.ty {
                ParamType::Secret => {
                    if !spec.secrets.contains_key(s) {
                        unknown_ref(
                            s,
                            span,
                            spec.secrets.keys().map(String::as_str),
                            Code::UnknownSecret,
                            "secret",
                            "declare it under the top-level `secrets:`",
                            diags,
                        );
                    }
                    secrets.insert(s.clone());
                }
                ParamType::Service if !spec.services.contains_key(s) => unknown_ref(
                    s,
                    span,
                    services.iter().copied(),
                    Code::UnknownService,
                    "service",
                    "name a service of this stack",
                    diags,
                ),
                _ => {}
            }
        } else if let (ParamType::Secret, Value::String(s)) = (meta.ty, &value) {
            secrets.insert(s.clone());
        }
        out.insert(key.clone(), value);
    }
    out
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn check_env(name: &str, svc: &ServiceSpec, diags: &mut Diagnostics) {
    for e in &svc.env {
        if looks_secret(&e.key.value)
            && !svc.not_secret.contains(&e.key.value)
            && !e.raw.value.is_empty()
        {
            let secret = e.key.value.to_ascii_lowercase();
            diags.push(
                Diagnostic::error(Code::PlainSecret, format!("service `{name}` sets `{}` as a plain environment value; it looks like a secret", e.key.value))
                    .at(e.key.span)
                    .hint(format!(
                        "declare `{secret}: {{ env: {} }}` under `secrets:` and list `{secret}` in this service's `secrets:` (the service then reads {}_FILE); if it is not a secret, add it to `not_secret:`",
                        e.key.value,
                        e.key.value
                    )),
            );
        }
    }
}

/// Paths on the host (bind sources, `file:` secrets) stay inside the spec's directory, and no
/// component of them is a symbolic link, unless the spec says `allow_host_paths: true`.
pub fn check_host_path(
    what: &str,
    path: &str,
    span: Span,
    spec: &Spec,
    spec_dir: &std::path::Path,
    diags: &mut Diagnostics,
) {
    if spec.allow_host_paths {
        return;
    }
    let hint = "keep it inside the directory of the spec, or set `allow_host_paths: true` at the top of the spec";
    if path.starts_with('/') {
        diags.push(
            Diagnostic::error(Code::HostPath, format!("{what} is an absolute host path"))
                .at(span)
                .hint(hint),
        );
        return;
    }
    let mut depth: i32 = 0;
    let mut at = spec_dir.to_path_buf();
    let mut rel = std::path::PathBuf::new();
    for part in path.split('/') {
        match part {
            ".." => depth -= 1,
            "." | "" => continue,
            _ => depth += 1,
        }
        if depth < 0 {
            diags.push(
                Diagnostic::error(
                    Code::HostPath,
                    format!("{what} climbs out of the project directory"),
                )
                .at(span)
                .hint(hint),
            );
            return;
        }
        at.push(part);
        rel.push(part);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            diags.push(
                Diagnostic::error(Code::HostPath, format!("{what} goes through the symbolic link {}", rel.display()))
                    .at(span)
                    .hint("a link could point anywhere on the host; use the real path, or set `allow_host_paths: true`"),
            );
            return;
        }
    }
}

fn check_volumes(
    name: &str,
    svc: &ServiceSpec,
    spec: &Spec,
    spec_dir: &std::path::Path,
    diags: &mut Diagnostics,
) {
    for v in &svc.volumes {
        let parts: Vec<&str> = v.value.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [s, t] => (*s, *t, None),
            [s, t, m] => (*s, *t, Some(*m)),
            _ => {
                diags.push(
                    Diagnostic::error(
                        Code::InvalidVolume,
                        format!("cannot read volume `{}` of service `{name}`", v.value),
                    )
                    .at(v.span)
                    .hint("write NAME:/path, ./relative/path:/path, optionally with :ro"),
                );
                continue;
            }
        };
        if !target.starts_with('/') {
            diags.push(
                Diagnostic::error(
                    Code::InvalidVolume,
                    format!("volume target `{target}` is not an absolute path"),
                )
                .at(v.span),
            );
        }
        if mode.is_some_and(|m| m != "ro" && m != "rw") {
            diags.push(
                Diagnostic::error(
                    Code::InvalidVolume,
                    format!("volume mode `{}` is not ro or rw", mode.unwrap_or_default()),
                )
                .at(v.span),
            );
        }
        if source.starts_with('/') || source.starts_with('.') {
            check_host_path(
                &format!("volume `{}`", v.value),
                source,
                v.span,
                spec,
                spec_dir,
                diags,
            );
        } else if !spec.volumes.contains_key(source) {
            unknown_ref(
                source,
                v.span,
                spec.volumes.keys().map(String::as_str),
                Code::UnknownVolume,
                "volume",
                "declare named volumes under the top-level `volumes:`",
                diags,
            );
        }
    }
}

fn check_ports(spec: &Spec, ports: &HashMap<String, Option<u16>>, diags: &mut Diagnostics) {
    let mut seen: HashMap<u16, (&str, Span)> = HashMap::new();
    for (name, svc) in &spec.services {
        if !ports.contains_key(name) {
            continue;
        }
        for p in &svc.publish {
            match seen.get(&p.host_port) {
                Some((other, first)) => diags.push(
                    Diagnostic::error(
                        Code::PortConflict,
                        format!(
                            "host port {} is published by both `{other}` and `{name}`",
                            p.host_port
                        ),
                    )
                    .at(p.span)
                    .label(*first, format!("`{other}` publishes it here"))
                    .hint("give one of them another host port"),
                ),
                None => {
                    seen.insert(p.host_port, (name, p.span));
                }
            }
        }
    }
}

/// Kahn's algorithm in spec order; on a cycle, reports it as `a -> b -> c -> a`.
fn topological_order(spec: &Spec, diags: &mut Diagnostics) -> Option<Vec<String>> {
    let names: Vec<&String> = spec.services.keys().collect();
    let mut indegree: HashMap<&str, usize> = HashMap::new();
    let mut users: HashMap<&str, Vec<&str>> = HashMap::new();
    for (name, svc) in &spec.services {
        let unique: BTreeSet<&str> = svc.uses.iter().map(|u| u.value.as_str()).collect();
        indegree.insert(name, unique.len());
        for u in unique {
            users.entry(u).or_default().push(name);
        }
    }
    // Kahn's algorithm; the queue starts in spec order, so the order is deterministic.
    let mut queue: std::collections::VecDeque<&str> = names
        .iter()
        .map(|n| n.as_str())
        .filter(|n| indegree[n] == 0)
        .collect();
    let mut order: Vec<String> = Vec::with_capacity(names.len());
    let mut done: BTreeSet<&str> = BTreeSet::new();
    while let Some(n) = queue.pop_front() {
        done.insert(n);
        order.push(n.to_string());
        for user in users.get(n).into_iter().flatten() {
            let d = indegree.get_mut(user).expect("known");
            *d -= 1;
            if *d == 0 {
                queue.push_back(user);
            }
        }
    }
    if order.len() == names.len() {
        return Some(order);
    }
    // Walk `uses` edges among the remaining services until one repeats: that is a cycle.
    let start = names
        .iter()
        .find(|n| !done.contains(n.as_str()))
        .expect("a remaining service");
    let mut path: Vec<&str> = vec![start.as_str()];
    loop {
        let current = spec.services[*path.last().expect("non-empty")]
            .uses
            .iter()
            .find(|u| !done.contains(u.value.as_str()))
            .expect("a remaining edge");
        if let Some(pos) = path.iter().position(|p| *p == current.value) {
            let cycle: Vec<&str> = path[pos..]
                .iter()
                .copied()
                .chain([current.value.as_str()])
                .collect();
            diags.push(
                Diagnostic::error(Code::DependencyCycle, format!("dependency cycle: {}", cycle.join(" -> ")))
                    .at(current.span)
                    .hint("services start in `uses` order, so `uses` must not loop; drop one of these edges"),
            );
            return None;
        }
        path.push(current.value.as_str());
    }
}

fn derive_networks(stack: &mut Stack) {
    let spec = stack.spec;
    let shared = spec
        .defaults
        .network_isolation
        .as_ref()
        .is_some_and(|s| s.value == "shared");
    let used: BTreeSet<&str> = spec
        .services
        .values()
        .flat_map(|s| s.uses.iter().map(|u| u.value.as_str()))
        .collect();
    for (name, decl) in &spec.networks {
        stack.networks.insert(name.clone(), decl.internal);
    }
    for (name, svc) in &spec.services {
        let mut nets: BTreeMap<String, ServiceNetwork> = BTreeMap::new();
        let alias = || ServiceNetwork {
            aliases: vec![name.clone()],
            ..ServiceNetwork::default()
        };
        if let Some(explicit) = &svc.networks {
            for n in explicit {
                nets.insert(n.value.clone(), alias());
            }
        } else if shared {
            nets.insert(SHARED_NETWORK.into(), alias());
            stack.networks.insert(SHARED_NETWORK.into(), true);
        } else {
            for u in &svc.uses {
                nets.insert(format!("{}-net", u.value), ServiceNetwork::default());
            }
            let exposed = !svc.publish.is_empty() || svc.egress;
            if used.contains(name.as_str()) || (nets.is_empty() && !exposed) {
                nets.insert(format!("{name}-net"), alias());
            }
            for n in nets.keys() {
                stack.networks.insert(n.clone(), true);
            }
        }
        if !svc.publish.is_empty() || svc.egress {
            nets.insert(EDGE_NETWORK.into(), alias());
            stack.networks.insert(EDGE_NETWORK.into(), false);
        }
        stack.service_networks.insert(name.clone(), nets);
    }
}

/// The invariants of every compose file fedgen writes. Violations are errors that name the kind's
/// template, since only a template (or a bug) can produce them.
pub fn policies(compose: &Compose, kind_source: &HashMap<String, usize>, diags: &mut Diagnostics) {
    let lifecycles = compose.lifecycles();
    for (name, s) in &compose.services {
        let at = kind_source.get(name).map(|src| Span::new(*src, 1, 1, 1));
        let mut fail = |what: &str, hint: &str| {
            diags.push(
                Diagnostic::error(Code::Policy, format!("service `{name}` {what}"))
                    .at_opt(at)
                    .hint(hint.to_string()),
            );
        };
        if s.restart.is_none() {
            fail(
                "has no restart policy",
                "every service needs `restart:` so it survives a reboot",
            );
        }
        if lifecycles.of(name) == Lifecycle::LongRunning && s.healthcheck.is_none() {
            fail(
                "runs until stopped but has no healthcheck",
                "give the kind a healthcheck, or `healthcheck:` in the spec",
            );
        }
        match &s.logging {
            Some(l)
                if l.driver == "local"
                    || (l.options.contains_key("max-size")
                        && l.options.contains_key("max-file")) => {}
            _ => fail(
                "has no log rotation",
                "logging needs driver json-file with max-size and max-file, or driver local",
            ),
        }
        if s.networks.is_empty() {
            fail(
                "is on no explicit network",
                "fedgen never relies on the implicit default network",
            );
        }
        if !s.cap_drop.iter().any(|c| c == "ALL")
            || !s.security_opt.iter().any(|o| o == "no-new-privileges:true")
        {
            fail(
                "is not hardened",
                "cap_drop: [ALL] and security_opt: [no-new-privileges:true] are required",
            );
        }
        for (dep, d) in &s.depends_on {
            if let Some(target) = compose.services.get(dep) {
                if target.healthcheck.is_some()
                    && lifecycles.of(dep) == Lifecycle::LongRunning
                    && d.condition != Condition::ServiceHealthy
                {
                    fail(
                        &format!("depends on `{dep}` without waiting for its health"),
                        "use condition: service_healthy",
                    );
                }
            }
        }
    }
}
