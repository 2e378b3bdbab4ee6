//! Rendering: each service's kind template, then fedgen's policies, into the compose model.
//!
//! Takes: a validated [`Stack`], the [`Env`], and where generated secrets live. Gives: the
//! [`Compose`] model with every policy applied (restart, healthcheck, log rotation, networks,
//! health-gated `depends_on`, secrets by reference, hardening, limits, labels and config hash),
//! or a diagnostic that points into the template or the spec.
//!
//! Templates render with JSON auto-escaping: every `{{ value }}` is written as a JSON scalar, which
//! is also a YAML scalar, so no value (from the spec or the `.env`) can change the structure of the
//! output. Spec `env:` values may call the helpers (`postgres_url`, `redis_url`, `http_url`,
//! `secret_path`); they are rendered first and `${VAR}`-interpolated after, so text that came
//! from the environment is never evaluated as a template.

use crate::compile::env::Env;
use crate::compile::spec::{self, SecretSource};
use crate::compile::validate::Stack;
use crate::diag::{Code, Diagnostic, Diagnostics, Sources, Span, Spanned};
use crate::model::labels::{LABEL_CONFIG_HASH, LABEL_KIND, LABEL_LIFECYCLE};
use crate::model::{
    Compose, Condition, Config, DependsOn, Deploy, Healthcheck, Lifecycle, Limits, Logging, Mount,
    Network, Port, Resources, RestartPolicy, Secret, Service, ServiceConfig, ServiceSecret, Volume,
};
use crate::units::Duration;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use serde::Deserialize;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What a kind template renders to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fragment {
    service: FragmentService,
    #[serde(default)]
    volumes: BTreeMap<String, Option<Volume>>,
    #[serde(default)]
    configs: BTreeMap<String, Config>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FragmentService {
    #[serde(default)]
    command: Option<Vec<String>>,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    environment: BTreeMap<String, serde_norway::Value>,
    #[serde(default)]
    healthcheck: Option<Healthcheck>,
    #[serde(default)]
    volumes: Vec<Mount>,
    #[serde(default)]
    tmpfs: Vec<String>,
    #[serde(default)]
    configs: Vec<ServiceConfig>,
    #[serde(default)]
    stop_signal: Option<String>,
}

/// Where paths and generated secrets resolve.
pub struct Paths {
    /// Directory of the spec: relative paths in it are relative to this.
    pub spec_dir: PathBuf,
    /// Directory the compose file is written to: relative paths in it are relative to this.
    pub out_dir: PathBuf,
    /// Where `generate:` secrets are kept.
    pub secrets_dir: PathBuf,
}

struct ServiceInfo {
    kind: String,
    port: Option<u16>,
    params: serde_json::Map<String, serde_json::Value>,
}

/// The minijinja environment with every kind template and the helpers.
struct Renderer {
    env: Environment<'static>,
    referenced: Arc<Mutex<BTreeSet<String>>>,
}

fn helper_error(msg: String) -> minijinja::Error {
    minijinja::Error::new(ErrorKind::InvalidOperation, msg)
}

impl Renderer {
    fn new(stack: &Stack) -> Renderer {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".j2") {
                AutoEscape::Json
            } else {
                AutoEscape::None
            }
        });
        for kind in stack.kinds.kinds.values() {
            env.add_template_owned(format!("{}.yml.j2", kind.name), kind.template.clone())
                .expect("kind templates are syntax-checked when loaded");
        }
        let info: Arc<HashMap<String, ServiceInfo>> = Arc::new(
            stack
                .spec
                .services
                .iter()
                .map(|(n, s)| {
                    (
                        n.clone(),
                        ServiceInfo {
                            kind: s.kind.value.clone(),
                            port: stack.ports.get(n).copied().flatten(),
                            params: stack.params.get(n).cloned().unwrap_or_default(),
                        },
                    )
                })
                .collect(),
        );
        let referenced: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        let target = {
            let info = info.clone();
            let referenced = referenced.clone();
            move |service: &str, kind: Option<&str>| -> Result<(u16, serde_json::Map<String, serde_json::Value>), minijinja::Error> {
                let s = info.get(service).ok_or_else(|| helper_error(format!("there is no service `{service}`")))?;
                if let Some(k) = kind {
                    if s.kind != k {
                        return Err(helper_error(format!("service `{service}` is of kind `{}`, not `{k}`", s.kind)));
                    }
                }
                let port = s.port.ok_or_else(|| helper_error(format!("service `{service}` has no port")))?;
                referenced.lock().expect("not poisoned").insert(service.to_string());
                Ok((port, s.params.clone()))
            }
        };
        let t = target.clone();
        env.add_function(
            "postgres_url",
            move |service: String, database: String| -> Result<String, minijinja::Error> {
                let (port, params) = t(&service, Some("postgres"))?;
                let dbs: Vec<&str> = params
                    .get("databases")
                    .and_then(|d| d.as_array())
                    .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                if !dbs.contains(&database.as_str()) {
                    return Err(helper_error(format!(
                        "service `{service}` has no database `{database}` (it has: {})",
                        dbs.join(", ")
                    )));
                }
                let user = params
                    .get("user")
                    .and_then(|u| u.as_str())
                    .unwrap_or("postgres");
                Ok(format!("postgresql://{user}@{service}:{port}/{database}"))
            },
        );
        let t = target.clone();
        env.add_function(
            "redis_url",
            move |service: String, db: Option<u32>| -> Result<String, minijinja::Error> {
                let (port, _) = t(&service, Some("redis"))?;
                Ok(format!("redis://{service}:{port}/{}", db.unwrap_or(0)))
            },
        );
        let t = target;
        env.add_function(
            "http_url",
            move |service: String, path: Option<String>| -> Result<String, minijinja::Error> {
                let (port, _) = t(&service, None)?;
                Ok(format!(
                    "http://{service}:{port}{}",
                    path.unwrap_or_default()
                ))
            },
        );
        let kinds = info.clone();
        let seen = referenced.clone();
        env.add_function(
            "kind_of",
            move |service: String| -> Result<String, minijinja::Error> {
                let kind = kinds
                    .get(&service)
                    .map(|s| s.kind.clone())
                    .ok_or_else(|| helper_error(format!("there is no service `{service}`")))?;
                seen.lock().expect("not poisoned").insert(service);
                Ok(kind)
            },
        );
        env.add_function("secret_path", |name: String| format!("/run/secrets/{name}"));
        Renderer { env, referenced }
    }

    fn take_referenced(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.referenced.lock().expect("not poisoned"))
    }
}

fn template_error(e: &minijinja::Error, source: usize, fallback_line: usize) -> Diagnostic {
    let line = e.line().unwrap_or(fallback_line);
    let detail = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    Diagnostic::error(
        Code::TemplateError,
        format!("template failed to render: {detail}"),
    )
    .at(Span::new(source, line, 1, 1))
}

pub fn render(
    stack: &Stack,
    env: &Env,
    spec_source: usize,
    sources: &Sources,
    paths: &Paths,
    diags: &mut Diagnostics,
) -> Option<(Compose, HashMap<String, usize>)> {
    let spec = stack.spec;
    let renderer = Renderer::new(stack);
    let before = diags.error_count();
    let mut services: BTreeMap<String, Service> = BTreeMap::new();
    let mut volumes: BTreeMap<String, Volume> = spec
        .volumes
        .keys()
        .map(|v| (v.clone(), Volume::default()))
        .collect();
    let mut configs: BTreeMap<String, Config> = BTreeMap::new();
    let mut kind_sources = HashMap::new();
    // `env:` values that call helpers, compiled once each: many services share the same text.
    let mut env_templates: HashMap<&str, minijinja::Template> = HashMap::new();

    for name in &stack.order {
        let svc = &spec.services[name];
        let kind = stack.kind(name);
        kind_sources.insert(name.clone(), kind.source);
        let secrets = &stack.secrets[name];
        let mut ctx = serde_json::Map::new();
        ctx.insert("name".into(), name.clone().into());
        ctx.insert(
            "image".into(),
            svc.image
                .as_ref()
                .map(|i| i.value.clone())
                .unwrap_or_default()
                .into(),
        );
        ctx.insert(
            "port".into(),
            stack.ports[name]
                .map(serde_json::Value::from)
                .unwrap_or(serde_json::Value::Null),
        );
        ctx.insert(
            "uses".into(),
            svc.uses
                .iter()
                .map(|u| u.value.clone())
                .collect::<Vec<_>>()
                .into(),
        );
        ctx.insert(
            "secrets".into(),
            secrets.iter().cloned().collect::<Vec<_>>().into(),
        );
        for (k, v) in &stack.params[name] {
            ctx.insert(k.clone(), v.clone());
        }
        let context = minijinja::context! { service => ctx, stack => minijinja::context! { name => spec.name.value.clone() } };

        // 1. The kind's template.
        let tmpl = renderer
            .env
            .get_template(&format!("{}.yml.j2", kind.name))
            .expect("added");
        let text = match tmpl.render(&context) {
            Ok(t) => t,
            Err(e) => {
                diags.push(
                    template_error(&e, kind.source, kind.body_line).hint(format!(
                        "while rendering service `{name}` (spec line {})",
                        svc.name.span.line
                    )),
                );
                continue;
            }
        };
        for target in renderer.take_referenced() {
            if target != *name && !svc.uses.iter().any(|u| u.value == target) {
                diags.push(
                    Diagnostic::error(Code::UnusedReference, format!("service `{name}` (kind `{}`) refers to `{target}`, which it does not use", kind.name))
                        .at(svc.name.span)
                        .hint(format!("add `{target}` to `uses:` so `{name}` joins its network and starts after it")),
                );
            }
        }
        let frag: Fragment = match serde_norway::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                let line = e.location().map(|l| l.line()).unwrap_or(0);
                let rendered = text
                    .lines()
                    .nth(line.saturating_sub(1))
                    .unwrap_or_default()
                    .trim();
                diags.push(
                    Diagnostic::error(
                        Code::TemplateOutput,
                        format!(
                            "kind `{}` rendered invalid output for service `{name}`: {e}",
                            kind.name
                        ),
                    )
                    .at(Span::new(kind.source, kind.body_line, 1, 1))
                    .hint(format!("rendered line {line}: {rendered}")),
                );
                continue;
            }
        };

        // 2. Environment: the template's, then one *_FILE per secret, then the spec's (which wins).
        let mut environment: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in frag.service.environment {
            let v = match v {
                serde_norway::Value::String(s) => s,
                serde_norway::Value::Number(n) => n.to_string(),
                serde_norway::Value::Bool(b) => b.to_string(),
                other => serde_norway::to_string(&other)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            };
            environment.insert(k, v);
        }
        if kind.meta.secret_file_env {
            for s in secrets {
                environment.insert(
                    format!("{}_FILE", s.to_ascii_uppercase().replace('-', "_")),
                    format!("/run/secrets/{s}"),
                );
            }
        }
        for e in &svc.env {
            let what = format!("env `{}`", e.key.value);
            let rendered = if e.raw.value.contains("{{") || e.raw.value.contains("{%") {
                let template = match env_templates.entry(&e.raw.value) {
                    Entry::Occupied(t) => Ok(t.into_mut()),
                    Entry::Vacant(v) => renderer
                        .env
                        .template_from_str(&e.raw.value)
                        .map(|t| v.insert(t)),
                };
                match template.and_then(|t| t.render(&context)) {
                    Ok(r) => Spanned::new(r, e.raw.span),
                    Err(err) => {
                        let detail = err
                            .detail()
                            .map(str::to_string)
                            .unwrap_or_else(|| err.kind().to_string());
                        diags.push(
                            Diagnostic::error(Code::EnvTemplate, format!("{what} of service `{name}`: {detail}"))
                                .at(e.raw.span)
                                .hint("helpers: postgres_url(service, database), redis_url(service), http_url(service, path), secret_path(name)"),
                        );
                        continue;
                    }
                }
            } else {
                e.raw.clone()
            };
            for target in renderer.take_referenced() {
                if target != *name && !svc.uses.iter().any(|u| u.value == target) {
                    diags.push(
                        Diagnostic::error(Code::UnusedReference, format!("{what} of service `{name}` refers to `{target}`, which `{name}` does not use"))
                            .at(e.raw.span)
                            .hint(format!("add `{target}` to `uses:` so `{name}` joins its network and starts after it")),
                    );
                }
            }
            if let Some(v) =
                spec::interpolate_value(&rendered, &what, spec_source, sources, env, diags)
            {
                environment.insert(e.key.value.clone(), v.value);
            }
        }

        // 3. Policies. Every setting follows one precedence: the service's own value, then the
        // stack's `defaults`, then the kind's, then fedgen's built-in default.
        let long_running = kind.meta.long_running;
        // A one-shot kind runs once: `defaults.restart` (a policy for servers) does not apply.
        let restart = if long_running {
            pick(&svc.restart, &spec.defaults.restart, None).unwrap_or(RestartPolicy::UnlessStopped)
        } else {
            pick(&svc.restart, &None, None).unwrap_or(RestartPolicy::No)
        };
        let timing = |f: fn(&spec::HealthSpec) -> Option<Duration>, kind: Option<Duration>| {
            svc.healthcheck
                .as_ref()
                .and_then(|h| f(h))
                .or(spec.defaults.healthcheck.as_ref().and_then(|h| f(h)))
                .or(kind)
        };
        let kind_health = frag.service.healthcheck.clone();
        let healthcheck = match (&svc.healthcheck, kind_health) {
            (Some(h), _) if h.disabled => None,
            (own, base) => {
                let base = base.unwrap_or_default();
                let test = own
                    .as_ref()
                    .and_then(|h| h.test.clone())
                    .unwrap_or(base.test);
                // fedgen's built-in timing comes last: 10s, 5s, 5 retries.
                (!test.is_empty()).then(|| Healthcheck {
                    test,
                    interval: timing(
                        |h| h.interval,
                        base.interval.or(Some(Duration::from_secs(10))),
                    ),
                    timeout: timing(|h| h.timeout, base.timeout.or(Some(Duration::from_secs(5)))),
                    retries: svc
                        .healthcheck
                        .as_ref()
                        .and_then(|h| h.retries)
                        .or(spec.defaults.healthcheck.as_ref().and_then(|h| h.retries))
                        .or(base.retries)
                        .or(Some(5)),
                    start_period: timing(|h| h.start_period, base.start_period),
                })
            }
        };
        let logging_spec = |f: fn(&spec::LoggingSpec) -> &Option<Spanned<String>>,
                            default: &str| {
            pick(f(&svc.logging), f(&spec.defaults.logging), None)
                .unwrap_or_else(|| default.to_string())
        };
        let driver = logging_spec(|l| &l.driver, "json-file");
        let logging = Logging {
            options: [
                ("max-size".to_string(), logging_spec(|l| &l.max_size, "10m")),
                ("max-file".to_string(), logging_spec(|l| &l.max_file, "3")),
            ]
            .into(),
            driver,
        };
        let mut depends_on = BTreeMap::new();
        for u in &svc.uses {
            let target_kind = stack.kind(&u.value);
            let condition = if !target_kind.meta.long_running {
                Condition::ServiceCompletedSuccessfully
            } else if services
                .get(&u.value)
                .is_some_and(|t| t.healthcheck.is_some())
            {
                Condition::ServiceHealthy
            } else {
                Condition::ServiceStarted
            };
            depends_on.insert(u.value.clone(), DependsOn { condition });
        }
        let publish_ip = spec
            .defaults
            .publish_ip
            .as_ref()
            .map(|s| s.value.clone())
            .unwrap_or_else(|| "127.0.0.1".into());
        let ports = svc
            .publish
            .iter()
            .map(|p| Port {
                target: p
                    .container_port
                    .or(stack.ports[name])
                    .unwrap_or(p.host_port),
                published: p.host_port,
                host_ip: p.host_ip.clone().unwrap_or_else(|| publish_ip.clone()),
                protocol: "tcp".into(),
            })
            .collect();
        let mut mounts = frag.service.volumes;
        for m in &mounts {
            if m.kind == "volume"
                && !frag.volumes.contains_key(&m.source)
                && !spec.volumes.contains_key(&m.source)
            {
                diags.push(
                    Diagnostic::error(
                        Code::TemplateOutput,
                        format!(
                            "kind `{}` mounts volume `{}` that it does not declare",
                            kind.name, m.source
                        ),
                    )
                    .at(Span::new(kind.source, kind.body_line, 1, 1))
                    .hint("add it under the template's top-level `volumes:`"),
                );
            }
        }
        for v in &svc.volumes {
            mounts.push(spec_mount(&v.value, paths));
        }
        for (k, v) in frag.volumes {
            volumes.insert(k, v.unwrap_or_default());
        }
        for (k, v) in frag.configs {
            configs.insert(k, v);
        }
        let memory = pick(&svc.memory, &spec.defaults.memory, kind.meta.memory);
        let cpus = pick(&svc.cpus, &spec.defaults.cpus, kind.meta.cpus);
        let deploy = (memory.is_some() || cpus.is_some()).then_some(Deploy {
            resources: Resources {
                limits: Some(Limits { cpus, memory }),
                reservations: None,
            },
        });
        // Compose (and fedgen apply, which matches it) copies `environment` secrets and inline
        // configs into the container before it starts; the engine refuses that on a read-only
        // root filesystem. Such a service keeps a writable root unless the spec insists.
        let copies_in = !frag.service.configs.is_empty()
            || secrets.iter().any(|s| {
                matches!(
                    spec.secrets.get(s).map(|d| &d.source),
                    Some(SecretSource::Env(_))
                )
            });
        if copies_in && svc.read_only == Some(true) {
            diags.push(
                Diagnostic::error(Code::ReadOnlyConflict, format!("service `{name}` cannot be read_only: it receives a secret from the environment or a generated config"))
                    .at(svc.name.span)
                    .hint("the engine cannot copy files into a read-only root filesystem; use `file:` or `generate:` secrets (bind-mounted), or drop `read_only: true`"),
            );
        }
        let mut service = Service {
            image: svc
                .image
                .as_ref()
                .map(|i| i.value.clone())
                .unwrap_or_default(),
            entrypoint: svc.entrypoint.clone().or(frag.service.entrypoint),
            command: svc.command.clone().or(frag.service.command),
            user: svc
                .user
                .as_ref()
                .map(|u| u.value.clone())
                .or(frag.service.user),
            working_dir: frag.service.working_dir,
            environment,
            restart: Some(restart),
            healthcheck,
            depends_on,
            networks: stack.service_networks[name].clone(),
            ports,
            volumes: mounts,
            tmpfs: frag.service.tmpfs,
            secrets: secrets
                .iter()
                .map(|s| ServiceSecret {
                    source: s.clone(),
                    target: format!("/run/secrets/{s}"),
                })
                .collect(),
            configs: frag.service.configs,
            logging: Some(logging),
            read_only: svc.read_only.unwrap_or(kind.meta.read_only && !copies_in),
            cap_drop: vec!["ALL".into()],
            cap_add: kind.meta.cap_add.keys().cloned().collect(),
            security_opt: vec!["no-new-privileges:true".into()],
            pids_limit: pick(&svc.pids_limit, &spec.defaults.pids_limit, None),
            stop_signal: frag.service.stop_signal,
            stop_grace_period: pick(
                &svc.stop_grace_period,
                &spec.defaults.stop_grace_period,
                kind.meta.stop_grace_period,
            ),
            deploy,
            labels: [(LABEL_KIND.to_string(), kind.name.clone())].into(),
        };
        if !long_running {
            service
                .labels
                .insert(LABEL_LIFECYCLE.into(), Lifecycle::ONE_SHOT.into());
        }
        let hash = service.config_hash();
        service.labels.insert(LABEL_CONFIG_HASH.into(), hash);
        services.insert(name.clone(), service);
    }
    if diags.error_count() > before {
        return None;
    }
    let networks = stack
        .networks
        .iter()
        .map(|(n, internal)| {
            (
                n.clone(),
                Network {
                    internal: *internal,
                    labels: BTreeMap::new(),
                },
            )
        })
        .collect();
    let secrets = spec
        .secrets
        .iter()
        .map(|(n, d)| {
            let secret = match &d.source {
                SecretSource::Env(var) => Secret {
                    environment: Some(var.clone()),
                    file: None,
                },
                SecretSource::File(f) => Secret {
                    environment: None,
                    file: Some(relocate(f, paths)),
                },
                SecretSource::Generate(_) => Secret {
                    environment: None,
                    file: Some(paths.secrets_dir.join(n).display().to_string()),
                },
            };
            (n.clone(), secret)
        })
        .collect();
    Some((
        Compose {
            name: spec.name.value.clone(),
            services: services.into_iter().collect(),
            networks,
            volumes,
            secrets,
            configs,
        },
        kind_sources,
    ))
}

/// The one precedence rule of every setting: the service's value, else the stack's `defaults`,
/// else the kind's (docs/spec.md, "Precedence").
fn pick<T: Clone>(
    service: &Option<Spanned<T>>,
    defaults: &Option<Spanned<T>>,
    kind: Option<T>,
) -> Option<T> {
    service
        .as_ref()
        .or(defaults.as_ref())
        .map(|s| s.value.clone())
        .or(kind)
}

/// A spec volume entry (`name:/path[:ro]`, `./dir:/path[:ro]`), validated earlier, as a mount.
fn spec_mount(v: &str, paths: &Paths) -> Mount {
    let parts: Vec<&str> = v.split(':').collect();
    let (source, target) = (parts[0], parts[1]);
    let read_only = parts.get(2) == Some(&"ro");
    if source.starts_with('.') {
        Mount {
            kind: "bind".into(),
            source: relocate(source, paths),
            target: target.into(),
            read_only,
        }
    } else {
        Mount {
            kind: "volume".into(),
            source: source.into(),
            target: target.into(),
            read_only,
        }
    }
}

/// A path relative to the spec's directory, expressed relative to the compose file's directory.
fn relocate(path: &str, paths: &Paths) -> String {
    if Path::new(path).is_absolute() {
        return path.to_string();
    }
    let target = normalize(&paths.spec_dir.join(path));
    let base = normalize(&paths.out_dir);
    let t: Vec<_> = target.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::from(".");
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c.as_os_str());
    }
    out.display().to_string()
}

fn normalize(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relocates_relative_paths_between_directories() {
        let paths = Paths {
            spec_dir: "/p/stacks".into(),
            out_dir: "/p".into(),
            secrets_dir: "/s".into(),
        };
        assert_eq!(relocate("./conf/a.yml", &paths), "./stacks/conf/a.yml");
        assert_eq!(relocate("../secrets/x", &paths), "./secrets/x");
        let same = Paths {
            spec_dir: "/p".into(),
            out_dir: "/p".into(),
            secrets_dir: "/s".into(),
        };
        assert_eq!(relocate("./data", &same), "./data");
        let deeper = Paths {
            spec_dir: "/p".into(),
            out_dir: "/p/out".into(),
            secrets_dir: "/s".into(),
        };
        assert_eq!(relocate("./data", &deeper), "./../data");
    }
}
