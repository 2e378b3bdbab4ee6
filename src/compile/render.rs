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
use crate::compile::kinds::Kind;
use crate::compile::probe::Probe;
use crate::compile::spec::{self, SecretSource};
use crate::compile::validate::Stack;
use crate::diag::{Code, Diagnostic, Diagnostics, Sources, Span, Spanned};
use crate::model::labels::{LABEL_ADOPT, LABEL_CONFIG_HASH, LABEL_KIND, LABEL_LIFECYCLE};
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
                    .get("superuser")
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
        // The healthcheck test of an HTTP probe: `probe(service.probe, url)`.
        env.add_function(
            "probe",
            |probe: String, url: String| -> Result<Vec<String>, minijinja::Error> {
                let p: Probe = probe
                    .parse()
                    .map_err(|()| helper_error(format!("`{probe}` is not a probe")))?;
                Ok(p.test(&url))
            },
        );
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

/// An entrypoint or a command: a list of arguments, or the image's.
type Argv = Option<Vec<String>>;

/// What one service renders to, besides its service entry: the volumes and configs it declares.
struct Rendered {
    service: Service,
    volumes: BTreeMap<String, Volume>,
    configs: BTreeMap<String, Config>,
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
        .iter()
        .map(|(k, v)| {
            let volume = Volume {
                name: v.name.clone(),
                external: v.external,
                ..Volume::default()
            };
            (k.clone(), volume)
        })
        .collect();
    let mut configs: BTreeMap<String, Config> = BTreeMap::new();
    let mut kind_sources = HashMap::new();
    // `env:` values that call helpers, compiled once each: many services share the same text.
    let mut env_templates: HashMap<String, minijinja::Template> = HashMap::new();
    for name in &stack.order {
        let kind = stack.kind(name);
        kind_sources.insert(name.clone(), kind.source);
        let mut one = ServiceRender {
            stack,
            name,
            svc: &spec.services[name],
            kind,
            renderer: &renderer,
            env,
            spec_source,
            sources,
            paths,
            env_templates: &mut env_templates,
            diags,
        };
        let Some(r) = one.render(&services) else {
            continue;
        };
        volumes.extend(r.volumes);
        configs.extend(r.configs);
        services.insert(name.clone(), r.service);
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
                    ..Network::default()
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
                    ..Default::default()
                },
                SecretSource::File(f) => Secret {
                    file: Some(relocate(f, paths)),
                    ..Default::default()
                },
                // Made once on the target engine by the first apply: no path of this machine.
                SecretSource::Generate(bytes) => Secret {
                    environment: Some(Secret::generated_variable(n)),
                    generate: Some(*bytes),
                    ..Default::default()
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

/// Rendering one service: its kind's template, then the policies, in the order of the spec's
/// documentation (docs/spec.md, docs/policies.md).
struct ServiceRender<'a, 'd> {
    stack: &'a Stack<'a>,
    name: &'a String,
    svc: &'a spec::ServiceSpec,
    kind: &'a Kind,
    renderer: &'a Renderer,
    env: &'a Env,
    spec_source: usize,
    sources: &'a Sources,
    paths: &'a Paths,
    env_templates: &'d mut HashMap<String, minijinja::Template<'a, 'a>>,
    diags: &'d mut Diagnostics,
}

impl<'a> ServiceRender<'a, '_> {
    fn render(&mut self, rendered: &BTreeMap<String, Service>) -> Option<Rendered> {
        let before = self.diags.error_count();
        let context = self.context();
        let frag = self.fragment(&context)?;
        let environment = self.environment(frag.service.environment.clone(), &context);
        let secrets = &self.stack.secrets[self.name.as_str()];
        let long_running = self.kind.meta.long_running;
        let spec = self.stack.spec;
        // A one-shot kind runs once: `defaults.restart` (a policy for servers) does not apply.
        let restart = if long_running {
            pick(&self.svc.restart, &spec.defaults.restart, None)
                .unwrap_or(RestartPolicy::UnlessStopped)
        } else {
            pick(&self.svc.restart, &None, None).unwrap_or(RestartPolicy::No)
        };
        let healthcheck = self.healthcheck(frag.service.healthcheck.clone());
        let (mounts, kind_volumes) = self.mounts(&frag);
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
        if copies_in && self.svc.read_only == Some(true) {
            self.diags.push(
                Diagnostic::error(Code::ReadOnlyConflict, format!("service `{}` cannot be read_only: it receives a secret from the environment or a generated config", self.name))
                    .at(self.svc.name.span)
                    .hint("the engine cannot copy files into a read-only root filesystem; use `file:` or `generate:` secrets (bind-mounted), or drop `read_only: true`"),
            );
        }
        let memory = pick(
            &self.svc.memory,
            &spec.defaults.memory,
            Some(self.kind.meta.memory),
        )
        .flatten();
        let cpus = pick(
            &self.svc.cpus,
            &spec.defaults.cpus,
            Some(self.kind.meta.cpus),
        )
        .flatten();
        let deploy = (memory.is_some() || cpus.is_some()).then_some(Deploy {
            resources: Resources {
                limits: Some(Limits { cpus, memory }),
                reservations: None,
            },
        });
        let mut cap_add: BTreeSet<String> = self.kind.meta.cap_add.keys().cloned().collect();
        cap_add.extend(
            self.svc
                .cap_add
                .iter()
                .map(|c| c.value.to_ascii_uppercase()),
        );
        let (entrypoint, command) = self.entrypoint_and_command(&frag)?;
        let mut service = Service {
            image: self
                .svc
                .image
                .as_ref()
                .map(|i| i.value.clone())
                .unwrap_or_default(),
            entrypoint,
            command,
            user: self
                .svc
                .user
                .as_ref()
                .map(|u| u.value.clone())
                .or(frag.service.user),
            working_dir: frag.service.working_dir,
            environment,
            restart: Some(restart),
            healthcheck,
            depends_on: self.depends_on(rendered),
            networks: self.stack.service_networks[self.name.as_str()].clone(),
            ports: self.ports(),
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
            logging: Some(self.logging()),
            read_only: self
                .svc
                .read_only
                .unwrap_or(self.kind.meta.read_only && !copies_in),
            cap_drop: vec!["ALL".into()],
            cap_add: cap_add.into_iter().collect(),
            security_opt: vec!["no-new-privileges:true".into()],
            shm_size: self.svc.shm_size.as_ref().map(|s| s.value),
            pids_limit: pick(&self.svc.pids_limit, &spec.defaults.pids_limit, None),
            stop_signal: frag.service.stop_signal,
            stop_grace_period: pick(
                &self.svc.stop_grace_period,
                &spec.defaults.stop_grace_period,
                self.kind.meta.stop_grace_period,
            ),
            deploy,
            labels: [(LABEL_KIND.to_string(), self.kind.name.clone())].into(),
            ..Service::default()
        };
        if !long_running {
            service
                .labels
                .insert(LABEL_LIFECYCLE.into(), Lifecycle::ONE_SHOT.into());
        }
        if let Some(a) = &self.svc.adopt {
            service.labels.insert(LABEL_ADOPT.into(), a.value.clone());
        }
        self.check_mount_targets(&service);
        self.warn_opt_outs(&service, copies_in);
        if self.diags.error_count() > before {
            return None;
        }
        let hash = service.config_hash();
        service.labels.insert(LABEL_CONFIG_HASH.into(), hash);
        Some(Rendered {
            service,
            volumes: kind_volumes,
            configs: frag.configs,
        })
    }

    /// What the kind's template sees as `service`: name, image, port, uses, secrets, the probe,
    /// the image family and the kind's settings with their defaults.
    fn context(&self) -> minijinja::Value {
        let (name, svc, stack) = (self.name, self.svc, self.stack);
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
            stack.ports[name.as_str()]
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
            stack.secrets[name.as_str()]
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .into(),
        );
        let probe = self.probe();
        ctx.insert(
            "probe".into(),
            probe.map(|p| p.as_str()).unwrap_or("wget").into(),
        );
        if let Some(family) = stack.families.get(name.as_str()) {
            ctx.insert("family".into(), family.clone());
        }
        for (k, v) in &stack.params[name.as_str()] {
            ctx.insert(k.clone(), v.clone());
        }
        minijinja::context! { service => ctx, stack => minijinja::context! { name => stack.spec.name.value.clone() } }
    }

    /// The kind's template, rendered and read as a service fragment.
    fn fragment(&mut self, context: &minijinja::Value) -> Option<Fragment> {
        let (name, kind) = (self.name, self.kind);
        let tmpl = self
            .renderer
            .env
            .get_template(&format!("{}.yml.j2", kind.name))
            .expect("added");
        let text = match tmpl.render(context) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(
                    template_error(&e, kind.source, kind.body_line).hint(format!(
                        "while rendering service `{name}` (spec line {})",
                        self.svc.name.span.line
                    )),
                );
                return None;
            }
        };
        for target in self.renderer.take_referenced() {
            if target != *name && !self.svc.uses.iter().any(|u| u.value == target) {
                self.diags.push(
                    Diagnostic::error(Code::UnusedReference, format!("service `{name}` (kind `{}`) refers to `{target}`, which it does not use", kind.name))
                        .at(self.svc.name.span)
                        .hint(format!("add `{target}` to `uses:` so `{name}` joins its network and starts after it")),
                );
            }
        }
        match serde_norway::from_str(&text) {
            Ok(f) => Some(f),
            Err(e) => {
                let line = e.location().map(|l| l.line()).unwrap_or(0);
                let rendered = text
                    .lines()
                    .nth(line.saturating_sub(1))
                    .unwrap_or_default()
                    .trim();
                self.diags.push(
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
                None
            }
        }
    }

    /// The template's environment, then one `*_FILE` per secret, then the stack's `defaults.env`,
    /// then the service's own `env:` (which wins).
    fn environment(
        &mut self,
        template: BTreeMap<String, serde_norway::Value>,
        context: &minijinja::Value,
    ) -> BTreeMap<String, String> {
        let name = self.name;
        let mut environment: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in template {
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
        if self.kind.meta.secret_file_env {
            for s in &self.stack.secrets[name.as_str()] {
                environment.insert(
                    format!("{}_FILE", s.to_ascii_uppercase().replace('-', "_")),
                    format!("/run/secrets/{s}"),
                );
            }
        }
        let entries = self
            .stack
            .spec
            .defaults
            .env
            .iter()
            .filter(|d| !self.svc.env.iter().any(|e| e.key.value == d.key.value))
            .chain(self.svc.env.iter());
        for e in entries {
            let what = format!("env `{}`", e.key.value);
            let rendered = if e.raw.value.contains("{{") || e.raw.value.contains("{%") {
                let template = match self.env_templates.entry(e.raw.value.clone()) {
                    Entry::Occupied(t) => Ok(t.into_mut()),
                    Entry::Vacant(v) => self
                        .renderer
                        .env
                        .template_from_str(&e.raw.value)
                        .map(|t| v.insert(t)),
                };
                match template.and_then(|t| t.render(context)) {
                    Ok(r) => Spanned::new(r, e.raw.span),
                    Err(err) => {
                        let detail = err
                            .detail()
                            .map(str::to_string)
                            .unwrap_or_else(|| err.kind().to_string());
                        self.diags.push(
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
            for target in self.renderer.take_referenced() {
                if target != *name && !self.svc.uses.iter().any(|u| u.value == target) {
                    self.diags.push(
                        Diagnostic::error(Code::UnusedReference, format!("{what} of service `{name}` refers to `{target}`, which `{name}` does not use"))
                            .at(e.raw.span)
                            .hint(format!("add `{target}` to `uses:` so `{name}` joins its network and starts after it")),
                    );
                }
            }
            if let Some(v) = spec::interpolate_value(
                &rendered,
                &what,
                self.spec_source,
                self.sources,
                self.env,
                self.diags,
            ) {
                environment.insert(e.key.value.clone(), v.value);
            }
        }
        environment
    }

    /// The kind's healthcheck under the stack's default timing under the service's own; with
    /// `healthcheck: image` (or `probe: image`), the image's test with this timing.
    fn healthcheck(&self, kind: Option<Healthcheck>) -> Option<Healthcheck> {
        let spec = self.stack.spec;
        let own = self.svc.healthcheck.as_ref();
        if own.is_some_and(|h| h.disabled) {
            return None;
        }
        let image = own.is_some_and(|h| h.image);
        let base = kind.unwrap_or_default();
        let test = if image {
            Vec::new()
        } else {
            match own.and_then(|h| h.test.clone()) {
                Some(t) => t,
                None if base.test.is_empty() && !self.probes_image() => return None,
                None => base.test,
            }
        };
        let defaults = spec.defaults.healthcheck.as_ref();
        let timing = |f: fn(&spec::HealthSpec) -> Option<Duration>, kind: Option<Duration>| {
            own.and_then(|h| f(h))
                .or(defaults.and_then(|h| f(h)))
                .or(kind)
        };
        // fedgen's built-in timing comes last: 10s, 5s, 5 retries.
        Some(Healthcheck {
            test,
            interval: timing(
                |h| h.interval,
                base.interval.or(Some(Duration::from_secs(10))),
            ),
            timeout: timing(|h| h.timeout, base.timeout.or(Some(Duration::from_secs(5)))),
            retries: own
                .and_then(|h| h.retries)
                .or(defaults.and_then(|h| h.retries))
                .or(base.retries)
                .or(Some(5)),
            start_period: timing(|h| h.start_period, base.start_period),
        })
    }

    /// The probe of an HTTP-checked kind: the service's, else the stack's default, else the
    /// kind's (`None` for a kind whose healthcheck is not an HTTP GET).
    fn probe(&self) -> Option<Probe> {
        let kind = self.kind.meta.probe?;
        pick(&self.svc.probe, &self.stack.spec.defaults.probe, Some(kind))
    }

    fn probes_image(&self) -> bool {
        self.probe() == Some(Probe::Image)
    }

    fn logging(&self) -> Logging {
        let spec = self.stack.spec;
        let value = |f: fn(&spec::LoggingSpec) -> &Option<Spanned<String>>, default: &str| {
            pick(f(&self.svc.logging), f(&spec.defaults.logging), None)
                .unwrap_or_else(|| default.to_string())
        };
        Logging {
            options: [
                ("max-size".to_string(), value(|l| &l.max_size, "10m")),
                ("max-file".to_string(), value(|l| &l.max_file, "3")),
            ]
            .into(),
            driver: value(|l| &l.driver, "json-file"),
        }
    }

    /// One `depends_on` per `uses` edge, health-gated where the target has a healthcheck.
    fn depends_on(&self, rendered: &BTreeMap<String, Service>) -> BTreeMap<String, DependsOn> {
        self.svc
            .uses
            .iter()
            .map(|u| {
                let condition = if !self.stack.kind(&u.value).meta.long_running {
                    Condition::ServiceCompletedSuccessfully
                } else if rendered
                    .get(&u.value)
                    .is_some_and(|t| t.healthcheck.is_some())
                {
                    Condition::ServiceHealthy
                } else {
                    Condition::ServiceStarted
                };
                (u.value.clone(), DependsOn::on(condition))
            })
            .collect()
    }

    fn ports(&self) -> Vec<Port> {
        let publish_ip = self
            .stack
            .spec
            .defaults
            .publish_ip
            .as_ref()
            .map(|s| s.value.clone())
            .unwrap_or_else(|| "127.0.0.1".into());
        self.svc
            .publish
            .iter()
            .map(|p| Port {
                target: p
                    .container_port
                    .or(self.stack.ports[self.name.as_str()])
                    .unwrap_or(p.host_port),
                published: Some(p.host_port),
                host_ip: Some(p.host_ip.clone().unwrap_or_else(|| publish_ip.clone())),
                protocol: "tcp".into(),
            })
            .collect()
    }

    /// The kind's mounts (its data mount pointed elsewhere by `data:`), then the spec's
    /// `volumes:`; and the top-level volumes the kind declares that are still used.
    fn mounts(&mut self, frag: &Fragment) -> (Vec<Mount>, BTreeMap<String, Volume>) {
        let (kind, spec) = (self.kind, self.stack.spec);
        let mut mounts = frag.service.volumes.clone();
        for m in &mounts {
            if m.kind == "volume"
                && !frag.volumes.contains_key(&m.source)
                && !spec.volumes.contains_key(&m.source)
            {
                self.diags.push(
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
        let mut volumes: BTreeMap<String, Volume> = frag
            .volumes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
            .collect();
        if let Some(data) = &self.svc.data {
            // A kind without a data mount was refused by validate::check.
            match kind.meta.data.as_deref() {
                None => {}
                Some(target) => {
                    let replaced = spec_mount(&format!("{}:{target}", data.value), self.paths);
                    if let Some(m) = mounts.iter_mut().find(|m| m.target == target) {
                        if m.kind == "volume" {
                            volumes.remove(&m.source);
                        }
                        *m = replaced;
                    } else {
                        mounts.push(replaced);
                    }
                }
            }
        }
        for v in &self.svc.volumes {
            mounts.push(spec_mount(&v.value, self.paths));
        }
        (mounts, volumes)
    }

    /// Two mounts (or a mount and a secret, config or tmpfs) on one path would hide one of them:
    /// refused, pointing at both places where the spec wrote them.
    fn check_mount_targets(&mut self, service: &Service) {
        let (name, kind) = (self.name, self.kind);
        let data_target = kind.meta.data.as_deref();
        // Where each target comes from: a spec entry (with its span) or the kind.
        let mut seen: BTreeMap<String, Option<Span>> = BTreeMap::new();
        let spec_span = |target: &str| {
            self.svc
                .volumes
                .iter()
                .find(|v| v.value.split(':').nth(1) == Some(target))
                .map(|v| v.span)
                .or_else(|| {
                    (Some(target) == data_target)
                        .then(|| self.svc.data.as_ref().map(|d| d.span))
                        .flatten()
                })
        };
        let mut spans_taken: BTreeSet<(usize, usize)> = BTreeSet::new();
        let targets = service
            .volumes
            .iter()
            .map(|m| m.target.clone())
            .chain(service.tmpfs.iter().cloned())
            .chain(service.secrets.iter().map(|s| s.target.clone()))
            .chain(service.configs.iter().map(|c| c.target.clone()));
        for target in targets {
            let normalized = target.trim_end_matches('/').to_string();
            // A spec entry's span, once: the second mount on the same target is the other one.
            let span = spec_span(&target).filter(|s| spans_taken.insert((s.line, s.column)));
            match seen.get(&normalized) {
                None => {
                    seen.insert(normalized, span);
                }
                Some(first) => {
                    let mut d = Diagnostic::error(
                        Code::DuplicateMount,
                        format!("service `{name}` mounts two things on {target}"),
                    )
                    .at_opt(span.or(*first).or(Some(self.svc.name.span)));
                    if let (Some(f), Some(_)) = (first, span) {
                        d = d.label(*f, "the first mount on it");
                    }
                    let hint = if Some(target.as_str()) == data_target {
                        format!("kind `{}` keeps its data on {target}; to keep it elsewhere (an existing volume, a host path), write `data: NAME` or `data: ./path` instead of a second mount", kind.name)
                    } else if first.is_none() || span.is_none() {
                        format!(
                            "kind `{}` already mounts something on {target}; mount yours elsewhere",
                            kind.name
                        )
                    } else {
                        "keep one of them".to_string()
                    };
                    self.diags.push(d.hint(hint));
                }
            }
        }
    }

    /// The entrypoint and command: the spec's, else the kind's; with secrets to expose as
    /// environment variables, a shell wrapper that reads them from /run/secrets at start.
    fn entrypoint_and_command(&mut self, frag: &Fragment) -> Option<(Argv, Argv)> {
        let entrypoint = self
            .svc
            .entrypoint
            .clone()
            .or(frag.service.entrypoint.clone());
        let command = self.svc.command.clone().or(frag.service.command.clone());
        let exposed: Vec<&spec::SecretUse> = self
            .svc
            .secrets
            .iter()
            .filter(|s| s.env.is_some())
            .collect();
        if exposed.is_empty() {
            return Some((entrypoint, command));
        }
        if entrypoint.is_none() && command.is_none() {
            let span = exposed[0]
                .env
                .as_ref()
                .map(|e| e.span)
                .unwrap_or(self.svc.name.span);
            self.diags.push(
                Diagnostic::error(
                    Code::MissingKey,
                    format!(
                        "service `{}` exposes a secret as an environment variable but gives no `command:`",
                        self.name
                    ),
                )
                .at(span)
                .hint("the variable is set by a small shell wrapper that becomes the entrypoint, so the image's own entrypoint and command no longer run by themselves: write the full command line as `command:` (the image's entrypoint first, if it has one)"),
            );
            return None;
        }
        let mut script = String::from("set -e; ");
        for s in &exposed {
            let var = &s.env.as_ref().expect("filtered").value;
            script.push_str(&format!(
                "{var}=\"$(cat /run/secrets/{})\"; export {var}; ",
                s.name.value
            ));
        }
        script.push_str("exec \"$@\"");
        let wrapped: Vec<String> = entrypoint
            .into_iter()
            .flatten()
            .chain(command.into_iter().flatten())
            .collect();
        Some((
            Some(vec!["/bin/sh".into(), "-c".into(), script, "sh".into()]),
            Some(wrapped),
        ))
    }

    /// A warning for each policy the service opts out of on purpose.
    fn warn_opt_outs(&mut self, service: &Service, copies_in: bool) {
        let (name, svc, kind) = (self.name, self.svc, self.kind);
        let mut warn = |span: Span, what: String, why: &str| {
            self.diags.push(
                Diagnostic::warning(Code::PolicyOptOut, format!("service `{name}` {what}"))
                    .at(span)
                    .hint(why.to_string()),
            );
        };
        if kind.meta.long_running && service.restart == Some(RestartPolicy::No) {
            let span = svc
                .restart
                .as_ref()
                .map(|r| r.span)
                .unwrap_or(svc.name.span);
            warn(span, "has `restart: no`: it will not come back after a reboot".into(), "this is seed 000's outage; remove it unless the service must stay down after it stops");
        }
        for (what, limit) in [
            (
                "memory",
                svc.memory.as_ref().map(|m| (m.span, m.value.is_none())),
            ),
            (
                "CPU",
                svc.cpus.as_ref().map(|c| (c.span, c.value.is_none())),
            ),
        ] {
            if let Some((span, true)) = limit {
                warn(span, format!("runs without a {what} limit"), "one service can then starve the host (seed 004's OOM case); give it a larger limit instead");
            }
        }
        for cap in &svc.cap_add {
            if !kind
                .meta
                .cap_add
                .contains_key(&cap.value.to_ascii_uppercase())
            {
                warn(cap.span, format!("adds the capability {} beyond its kind's", cap.value), "each capability widens what a compromised process can do; keep only what the image's documentation asks for");
            }
        }
        for s in &svc.secrets {
            if let Some(env) = &s.env {
                warn(env.span, format!("exposes secret `{}` as the environment variable {}", s.name.value, env.value), "the value is in the process environment (and its children's); prefer an app that reads the *_FILE path");
            }
        }
        if svc.read_only == Some(false) && kind.meta.read_only && !copies_in {
            warn(
                svc.name.span,
                "has a writable root filesystem though its kind runs read-only".into(),
                "a compromised process can then change the image's files",
            );
        }
        for p in &svc.publish {
            let ip = p.host_ip.clone().or(self
                .stack
                .spec
                .defaults
                .publish_ip
                .as_ref()
                .map(|i| i.value.clone()));
            if matches!(ip.as_deref(), Some("0.0.0.0") | Some("::")) {
                warn(p.span, format!("publishes port {} on every interface", p.host_port), "anyone who reaches the host reaches the service; bind an address (127.0.0.1 behind a proxy) unless it must face the network");
            }
        }
    }
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
    if source.starts_with('.') || source.starts_with('/') {
        Mount {
            kind: "bind".into(),
            source: relocate(source, paths),
            target: target.into(),
            read_only,
            create_host_path: false,
        }
    } else {
        Mount {
            kind: "volume".into(),
            source: source.into(),
            target: target.into(),
            read_only,
            create_host_path: false,
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
        };
        assert_eq!(relocate("./conf/a.yml", &paths), "./stacks/conf/a.yml");
        assert_eq!(relocate("../secrets/x", &paths), "./secrets/x");
        let same = Paths {
            spec_dir: "/p".into(),
            out_dir: "/p".into(),
        };
        assert_eq!(relocate("./data", &same), "./data");
        let deeper = Paths {
            spec_dir: "/p".into(),
            out_dir: "/p/out".into(),
        };
        assert_eq!(relocate("./data", &deeper), "./../data");
    }
}
