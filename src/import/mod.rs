//! Import: the containers that run on a Docker host, described as a minimal stack spec.
//!
//! Takes: a connected [`Engine`] and [`Options`] (which containers, the project's name, which
//! container's value settles a secret that containers disagree on). Gives: an [`Imported`]: the
//! spec's text (what the containers were given beyond their images, with kinds, `uses`, data
//! and secrets inferred), the `--env-out` file's text (the secrets' values, and only there), a
//! [`Report`] per container (dropped, lifted, inferred, what fedgen's policies will add) with
//! findings, some of which block writing until the user decides.
//!
//! Stages, each a module: [`read`] (the engine: inspects, images, volumes, files, HTTP answers)
//! -> [`draft`] (names, kinds, references, secret candidates, data by reference) -> [`secrets`]
//! (one secret per value, disagreements) -> [`write`] (the spec's text). The spec is then
//! compiled twice with fedgen's own compiler: once without `env:`, to leave out what a kind sets
//! by itself and to write only the settings in which the container differs from what the kind
//! and the policies give; once as written, to check that it builds and to report what the
//! policies add. No secret value reaches the spec, the report or an error: the spec is checked
//! and every text is scrubbed of every value import saw.

pub mod draft;
pub mod read;
pub mod refs;
pub mod report;
pub mod secrets;
pub mod write;

pub use read::Selection;
pub use report::{Finding, Report, Severity};
pub use secrets::SecretFrom;

use crate::compile::kinds::Kinds;
use crate::compile::probe::Probe;
use crate::deploy::engine::{Engine, EngineError};
use crate::diag::{Diagnostics, Sources};
use crate::model::{Compose, Service};
use crate::names::{self, NameKind};
use draft::{Draft, EnvValue, Lift};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;
use write::SecretDecl;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub selection: Selection,
    /// The spec's `name:` (default: inferred from the containers).
    pub name: Option<String>,
    pub secret_from: Vec<SecretFrom>,
    /// How the `--env-out` file is named in the spec's header (for people).
    pub env_out: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Read(#[from] read::ReadError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot tell the project's name from the containers; pass --name NAME")]
    NoName,
    #[error("{0}")]
    InvalidName(String),
    #[error("the imported spec does not build (a fedgen bug, please report it):\n{0}")]
    Internal(String),
}

/// The result of an import.
#[derive(Debug)]
pub struct Imported {
    pub project: String,
    /// The stack spec (no secret value in it).
    pub spec: String,
    /// The `--env-out` file: the secrets' values.
    pub env: String,
    pub report: Report,
    values: Vec<String>,
}

impl Imported {
    /// `text` with every secret value import saw replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        redact(&self.values, text)
    }

    /// Whether there are secrets (then an `--env-out` file is needed).
    pub fn has_secrets(&self) -> bool {
        !self.report.secrets.is_empty()
    }

    /// Writes the spec to `spec` (stdout when `None`) and the secrets to `env_out` (mode 0600,
    /// created so, never readable by others even for a moment), each atomically.
    pub fn write(&self, spec: Option<&Path>, env_out: Option<&Path>) -> std::io::Result<()> {
        if let Some(p) = env_out {
            write_private(p, self.env.as_bytes())?;
        }
        match spec {
            Some(p) => crate::compile::emit::write_atomic(p, self.spec.as_bytes()),
            None => {
                use std::io::Write as _;
                std::io::stdout().write_all(self.spec.as_bytes())
            }
        }
    }
}

fn redact(values: &[String], text: &str) -> String {
    let mut out = text.to_string();
    for v in values {
        if out.contains(v.as_str()) {
            out = out.replace(v.as_str(), "***");
        }
    }
    out
}

/// Writes `bytes` to `path` through a 0600 temporary file in the same directory and a rename.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.fedgen-{}",
        path.file_name().and_then(|f| f.to_str()).unwrap_or("env"),
        std::process::id()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = f.write_all(bytes).and_then(|_| f.sync_all());
    drop(f);
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// A private scratch directory for the compiles, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt;
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fedgen-import-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles `spec` with fedgen's compiler; the compose model, or the rendered diagnostics.
fn compile(spec: &str) -> Result<Compose, String> {
    let scratch = Scratch::new().map_err(|e| e.to_string())?;
    let path = scratch.0.join("spec.yml");
    std::fs::write(&path, spec).map_err(|e| e.to_string())?;
    let c = crate::compile::compile(&crate::compile::Input {
        spec: path,
        env_file: None,
        templates: None,
        out: scratch.0.join("compose.yml"),
        process_env: BTreeMap::new(),
        target: Some(crate::compile::Target::Compose),
    });
    match c.output {
        Some(o) => Ok(o.compose),
        None => {
            let errors: Vec<_> = c
                .diags
                .items
                .iter()
                .filter(|d| d.is_error())
                .cloned()
                .collect();
            Err(crate::diag::render_human(&errors, &c.sources))
        }
    }
}

/// Reads the selected containers and describes them as a stack spec.
pub async fn import(engine: &Engine, opts: &Options) -> Result<Imported, ImportError> {
    let start = Instant::now();
    let mut host = read::read(engine, &opts.selection).await?;
    // Files to read and ports to ask, per container, all containers at once.
    let work = host.containers.iter_mut().map(|c| async move {
        let files = draft::wanted_files(c);
        read::read_files(engine, c, &files).await?;
        let ports = draft::wanted_probe(c);
        read::probe_http(c, &ports).await;
        Ok::<_, EngineError>(())
    });
    for r in futures_util::future::join_all(work).await {
        r?;
    }
    let project = draft::project_name(&host, opts.name.as_deref(), &opts.selection.name_filters)
        .or(opts.selection.project.clone())
        .ok_or(ImportError::NoName)?;
    names::check(NameKind::Project, &project)
        .map_err(|e| ImportError::InvalidName(format!("{e}: {}", NameKind::Project.rule())))?;
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    let kinds = Kinds::load(None, &mut sources, &mut diags);
    let mut drafted = draft::draft(&host, &project, &kinds);
    let resolution = secrets::resolve(&drafted.candidates, &opts.secret_from);
    let mut findings = std::mem::take(&mut drafted.findings);
    for d in &resolution.disagreements {
        let groups: Vec<String> = d
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                format!(
                    "value {}: {}",
                    i + 1,
                    g.iter()
                        .map(|(c, v)| format!("{c} ({v})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        let containers: Vec<String> = d
            .groups
            .iter()
            .flatten()
            .map(|(c, _)| c.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        findings.push(match &d.chosen {
            None => Finding {
                severity: Severity::Blocking,
                code: "secret-values-differ",
                message: format!(
                    "secret {} has {} different values in the containers; {}",
                    d.secret,
                    d.groups.len(),
                    groups.join("; ")
                ),
                containers,
                hint: format!(
                    "choose the value to keep: --secret-from CONTAINER (or --secret-from {}=CONTAINER); every service then reads that one",
                    d.secret
                ),
            },
            Some(c) => Finding {
                severity: Severity::Warning,
                code: "secret-values-differ",
                message: format!(
                    "secret {} had {} different values; the one of {c} is kept (--secret-from), the others are replaced: {}",
                    d.secret,
                    d.groups.len(),
                    groups.join("; ")
                ),
                containers,
                hint: String::new(),
            },
        });
    }
    for u in &resolution.unused_choices {
        findings.push(Finding {
            severity: Severity::Warning,
            code: "secret-from-unused",
            message: format!("--secret-from {u} settles no disagreement"),
            containers: vec![],
            hint: String::new(),
        });
    }
    // The secrets each service reads, and how.
    let mut decls: BTreeMap<String, SecretDecl> = resolution
        .secrets
        .keys()
        .map(|n| (n.clone(), SecretDecl::Env(secrets::env_var(n))))
        .collect();
    let mut holders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Apps that read a secret from a variable (or inside a URL) read a file from now on.
    let mut now_files: BTreeMap<(String, String, bool), BTreeSet<String>> = BTreeMap::new();
    for d in &mut drafted.drafts {
        let file_env = kinds
            .kinds
            .get(&d.kind)
            .map(|k| k.meta.secret_file_env)
            .unwrap_or(true);
        // The database password first: the kind lists its secret (and sets its `*_FILE`).
        let mut order: Vec<(usize, (usize, Lift))> =
            d.lifts.clone().into_iter().enumerate().collect();
        order.sort_by_key(|(_, (_, l))| !matches!(l, Lift::PostgresPassword));
        let mut by_kind: BTreeSet<String> = BTreeSet::new();
        for (i, (idx, lift)) in order {
            let Some(name) = resolution.assigned[idx].clone() else {
                continue;
            };
            holders
                .entry(name.clone())
                .or_default()
                .insert(d.container.clone());
            if let Some(line) = d.report.lifted.get_mut(i) {
                line.push_str(&format!(" -> secret {name}"));
            }
            match lift {
                Lift::PostgresPassword => {
                    d.params.insert("password_secret".into(), json!(name));
                    by_kind.insert(name.clone());
                }
                Lift::Var(var) => {
                    let given = format!("{}_FILE", secrets::env_var(&name));
                    let wanted = format!("{var}_FILE");
                    if by_kind.contains(&name) && given == wanted {
                        continue;
                    }
                    d.secrets.insert(name.clone());
                    if matches!(drafted.candidates[idx].source, secrets::Source::Env { .. }) {
                        now_files
                            .entry((var.clone(), name.clone(), false))
                            .or_default()
                            .insert(d.container.clone());
                    }
                    if !file_env || given != wanted {
                        d.env.insert(
                            wanted.clone(),
                            EnvValue::Template(format!("{{{{ secret_path('{name}') }}}}")),
                        );
                        d.report.inferred.push(format!(
                            "{wanted}: the file of secret {name} (the app read {var})"
                        ));
                    }
                }
                Lift::UrlPassword(var) => {
                    d.secrets.insert(name.clone());
                    now_files
                        .entry((var.clone(), name.clone(), true))
                        .or_default()
                        .insert(d.container.clone());
                    d.report.inferred.push(format!(
                        "{var}: no password in the URL any more; the service reads it from {}_FILE",
                        secrets::env_var(&name)
                    ));
                }
            }
        }
        if d.kind == "postgres" && !d.params.contains_key("password_secret") {
            let name = format!("{}_password", d.service.replace(['-', '.'], "_"));
            decls.insert(name.clone(), SecretDecl::Generate(32));
            d.params.insert("password_secret".into(), json!(name));
            findings.push(Finding {
                severity: Severity::Warning,
                code: "postgres-without-password",
                message: format!(
                    "container {} sets no superuser password; the postgres kind needs one: a generated one is declared (an existing cluster keeps its own)",
                    d.container
                ),
                containers: vec![d.container.clone()],
                hint: String::new(),
            });
        }
    }
    for ((var, name, in_url), containers) in now_files {
        let file = format!("{}_FILE", secrets::env_var(&name));
        findings.push(Finding {
            severity: Severity::Warning,
            code: if in_url { "url-password-now-a-file" } else { "secret-now-a-file" },
            message: if in_url {
                format!(
                    "{var} no longer carries its password: the compiled services read it from the file {file} names (/run/secrets/{name})"
                )
            } else {
                format!(
                    "{var} is no longer in the environment: the compiled services read the secret from the file {var}_FILE names (/run/secrets/{name})"
                )
            },
            containers: containers.into_iter().collect(),
            hint: if in_url {
                format!("the app must take the password from {file} (libpq-based clients: give it as the connection's password)")
            } else {
                format!("the app must read {var}_FILE; one that reads only {var} can keep it with `secrets: [{{ name: {name}, env: {var} }}]` and a `command:` (docs/spec.md)")
            },
        });
    }
    // Services named in `uses` that were not imported.
    let imported: BTreeSet<String> = drafted.drafts.iter().map(|d| d.service.clone()).collect();
    for d in &mut drafted.drafts {
        let missing: Vec<String> = d
            .uses
            .iter()
            .filter(|u| !imported.contains(*u))
            .cloned()
            .collect();
        for m in missing {
            d.uses.remove(&m);
        }
    }
    break_cycles(&mut drafted.drafts, &mut findings);
    let mut containers: Vec<String> = drafted.drafts.iter().map(|d| d.container.clone()).collect();
    containers.sort();
    let header = |blocked: bool| {
        format!(
            "Written by `fedgen import` from the containers {}.\nSecrets are read from {} when building; no secret value is in this file.{}",
            containers.join(", "),
            opts.env_out.as_deref().unwrap_or("the --env-out file"),
            if blocked { "\nNOT COMPLETE: see the import report's errors." } else { "" }
        )
    };
    let values: Vec<String> = {
        let mut v: Vec<String> = drafted
            .candidates
            .iter()
            .map(|c| c.value.clone())
            .filter(|v| v.len() >= 4)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Longest first, so a value that contains another is scrubbed whole.
        v.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        v
    };
    let blocked = findings.iter().any(|f| f.severity == Severity::Blocking);

    // Compile once without `env:`: what the kinds and the policies give by themselves.
    let bare = write::spec(&project, &drafted.drafts, &drafted.decls, &decls, "", false);
    let baseline = compile(&bare).map_err(|e| ImportError::Internal(redact(&values, &e)))?;
    for d in &mut drafted.drafts {
        if let Some(b) = baseline.services.get(&d.service) {
            tune(d, b);
        }
    }
    let text = write::spec(
        &project,
        &drafted.drafts,
        &drafted.decls,
        &decls,
        &header(blocked),
        true,
    );
    let compiled = compile(&text).map_err(|e| ImportError::Internal(redact(&values, &e)))?;
    for v in &values {
        if text.contains(v.as_str()) {
            return Err(ImportError::Internal(
                "a secret value reached the spec; nothing was written".into(),
            ));
        }
    }
    for d in &mut drafted.drafts {
        if let Some(s) = compiled.services.get(&d.service) {
            d.report.policies = policies(&d.observed, s);
        }
    }
    let env_values: BTreeMap<String, String> = resolution.secrets.clone();
    let env = secrets::env_file(
        &env_values,
        &format!(
            "Secrets of project {project}, lifted out of its containers by `fedgen import`.\nKeep this file private (mode 0600); `fedgen build --env` and `fedgen apply --env` read it."
        ),
    );
    let mut report = Report {
        version: 1,
        project: project.clone(),
        engine: engine.host().to_string(),
        containers: drafted.drafts.iter().map(|d| d.report.clone()).collect(),
        findings,
        secrets: decls
            .iter()
            .filter_map(|(n, d)| match d {
                SecretDecl::Env(var) => Some(report::SecretLine {
                    name: n.clone(),
                    variable: var.clone(),
                    containers: holders
                        .get(n)
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .collect(),
                }),
                SecretDecl::Generate(_) => None,
            })
            .collect(),
        api_calls: engine.calls(),
        elapsed_ms: start.elapsed().as_millis(),
        written: false,
    };
    report.containers.sort_by(|a, b| a.service.cmp(&b.service));
    report.findings.sort_by(|a, b| {
        (a.severity, a.code, &a.containers).cmp(&(b.severity, b.code, &b.containers))
    });
    report.map_strings(&|s| redact(&values, s));
    Ok(Imported {
        project,
        spec: text,
        env,
        report,
        values,
    })
}

/// `uses` edges that close a cycle are dropped (a cycle cannot start), with a finding.
fn break_cycles(drafts: &mut [Draft], findings: &mut Vec<Finding>) {
    let index: BTreeMap<String, usize> = drafts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.service.clone(), i))
        .collect();
    // Depth-first; an edge to a service on the current path closes a cycle.
    fn visit(
        i: usize,
        drafts: &mut [Draft],
        index: &BTreeMap<String, usize>,
        state: &mut Vec<u8>,
        dropped: &mut Vec<(String, String)>,
    ) {
        state[i] = 1;
        let uses: Vec<String> = drafts[i].uses.iter().cloned().collect();
        for u in uses {
            let Some(&j) = index.get(&u) else { continue };
            match state[j] {
                1 => {
                    drafts[i].uses.remove(&u);
                    dropped.push((drafts[i].service.clone(), u));
                }
                0 => visit(j, drafts, index, state, dropped),
                _ => {}
            }
        }
        state[i] = 2;
    }
    let mut state = vec![0u8; drafts.len()];
    let mut dropped = Vec::new();
    for i in 0..drafts.len() {
        if state[i] == 0 {
            visit(i, drafts, &index, &mut state, &mut dropped);
        }
    }
    for (from, to) in dropped {
        findings.push(Finding {
            severity: Severity::Warning,
            code: "uses-cycle",
            message: format!(
                "{from} and {to} refer to each other; `{from}` does not list `{to}` in `uses` (a cycle cannot start), so {from} cannot reach {to}"
            ),
            containers: vec![],
            hint: "decide which starts first, or set `network_isolation: shared` under `defaults`".into(),
        });
    }
}

/// Writes the settings in which the container differs from what its kind and the policies give
/// (`baseline`, compiled without `env:`), and leaves out environment the kind sets alike.
fn tune(d: &mut Draft, baseline: &Service) {
    let o = d.observed.clone();
    // Environment the kind sets to the same value is not the container's own.
    d.env.retain(|k, v| match v {
        EnvValue::Literal(t) => baseline.environment.get(k) != Some(t),
        EnvValue::Template(_) => true,
    });
    if d.user.is_some() && d.user == baseline.user {
        d.user = None;
    }
    if d.command.is_some() && d.command == baseline.command {
        d.command = None;
    }
    if d.entrypoint.is_some() && d.entrypoint == baseline.entrypoint {
        d.entrypoint = None;
    }
    let (ol, bl) = (o.limits(), baseline.limits());
    if let Some(m) = ol.memory.filter(|m| Some(*m) != bl.memory) {
        d.tuned.insert("memory".into(), json!(m.to_string()));
    }
    if let Some(c) = ol.cpus.filter(|c| Some(*c) != bl.cpus) {
        d.tuned.insert("cpus".into(), json!(c.to_string()));
    }
    if let Some(p) = o.pids_limit.filter(|p| Some(*p) != baseline.pids_limit) {
        d.tuned.insert("pids_limit".into(), json!(p));
    }
    if let Some(s) = o.shm_size.filter(|s| Some(*s) != baseline.shm_size) {
        d.tuned.insert("shm_size".into(), json!(s.to_string()));
    }
    if let Some(g) = o
        .stop_grace_period
        .filter(|g| Some(*g) != baseline.stop_grace_period)
    {
        d.tuned
            .insert("stop_grace_period".into(), json!(g.to_string()));
    }
    if let (Some(ol), Some(bl)) = (&o.logging, &baseline.logging) {
        let has_rotation =
            ol.options.contains_key("max-size") || ol.options.contains_key("max-file");
        if has_rotation && ol != bl && matches!(ol.driver.as_str(), "json-file" | "local") {
            let mut m = serde_json::Map::new();
            if ol.driver != bl.driver {
                m.insert("driver".into(), json!(ol.driver));
            }
            for (k, key) in [("max-size", "max_size"), ("max-file", "max_file")] {
                if let Some(v) = ol.options.get(k).filter(|v| bl.options.get(k) != Some(*v)) {
                    m.insert(key.into(), json!(v));
                }
            }
            if !m.is_empty() {
                d.tuned
                    .insert("logging".into(), serde_json::Value::Object(m));
            }
        }
    }
    if d.managed && o.read_only != baseline.read_only {
        d.tuned.insert("read_only".into(), json!(o.read_only));
    }
    let extra_caps: Vec<&String> = o
        .cap_add
        .iter()
        .filter(|c| !baseline.cap_add.contains(c))
        .collect();
    if !extra_caps.is_empty() {
        d.tuned.insert("cap_add".into(), json!(extra_caps));
    }
    // The healthcheck: the kind's unless the container has another of its own.
    if let (Some(oh), Some(bh)) = (&o.healthcheck, &baseline.healthcheck) {
        if oh != bh {
            let url = draft::health_url(baseline)
                .map(|(port, path)| format!("http://127.0.0.1:{port}{path}"));
            let probe = url.and_then(|u| {
                Probe::ALL
                    .into_iter()
                    .find(|p| *p != Probe::Image && p.test(&u) == oh.test)
            });
            match probe {
                Some(p) => {
                    d.tuned.insert("probe".into(), json!(p.as_str()));
                }
                None if oh.test.is_empty() => {
                    d.tuned.insert("healthcheck".into(), json!("image"));
                }
                None => {
                    let mut m = serde_json::Map::new();
                    m.insert("test".into(), json!(oh.test));
                    for (k, v) in [
                        ("interval", oh.interval),
                        ("timeout", oh.timeout),
                        ("start_period", oh.start_period),
                    ] {
                        if let Some(v) = v {
                            m.insert(k.into(), json!(v.to_string()));
                        }
                    }
                    if let Some(r) = oh.retries {
                        m.insert("retries".into(), json!(r));
                    }
                    d.tuned
                        .insert("healthcheck".into(), serde_json::Value::Object(m));
                }
            }
        }
    }
}

/// What the compiled service has that the container did not: fedgen's policies at work.
fn policies(o: &Service, s: &Service) -> Vec<String> {
    let mut out = Vec::new();
    if o.restart != s.restart {
        out.push(format!(
            "restart {} (was {})",
            s.restart.map(|r| r.to_string()).unwrap_or("-".into()),
            o.restart.map(|r| r.to_string()).unwrap_or("no".into())
        ));
    }
    if let Some(h) = &s.healthcheck {
        if o.healthcheck.as_ref() != Some(h) {
            let what = match h.test.first().map(String::as_str) {
                Some("CMD-SHELL")
                    if h.test
                        .get(1)
                        .is_some_and(|t| t.starts_with(crate::compile::probe::AUTO_MARK)) =>
                {
                    "an HTTP GET by the first of wget, curl, python3, bash".to_string()
                }
                Some("CMD") => h.test.get(1).cloned().unwrap_or_default(),
                Some(_) => "a shell command".to_string(),
                None => "the image's own".to_string(),
            };
            out.push(format!(
                "healthcheck: {what}, every {}{}",
                h.interval.map(|i| i.to_string()).unwrap_or("30s".into()),
                if o.healthcheck.is_some() {
                    " (instead of its own)"
                } else {
                    ""
                }
            ));
        }
    }
    if o.logging != s.logging {
        if let Some(l) = &s.logging {
            out.push(format!(
                "logs: {} rotated at {} x {}",
                l.driver,
                l.options.get("max-size").cloned().unwrap_or("-".into()),
                l.options.get("max-file").cloned().unwrap_or("-".into())
            ));
        }
    }
    let (ol, sl) = (o.limits(), s.limits());
    let mut limits = Vec::new();
    if ol.memory != sl.memory {
        if let Some(m) = sl.memory {
            limits.push(format!("memory {m}"));
        }
    }
    if ol.cpus != sl.cpus {
        if let Some(c) = sl.cpus {
            limits.push(format!("cpus {c}"));
        }
    }
    if !limits.is_empty() {
        out.push(format!("limits: {}", limits.join(", ")));
    }
    if o.cap_drop != s.cap_drop || o.security_opt != s.security_opt {
        out.push(format!(
            "capabilities: all dropped{}, no-new-privileges",
            if s.cap_add.is_empty() {
                String::new()
            } else {
                format!(" but {}", s.cap_add.join(", "))
            }
        ));
    }
    if s.read_only && !o.read_only {
        out.push(format!(
            "read-only root filesystem (tmpfs {})",
            s.tmpfs.join(", ")
        ));
    }
    // The engine's own grace period is 10 s.
    let was = o
        .stop_grace_period
        .unwrap_or(crate::units::Duration::from_secs(10));
    if s.stop_grace_period.is_some_and(|g| g != was) {
        if let Some(g) = s.stop_grace_period {
            out.push(format!(
                "stop grace period {g} (was {})",
                o.stop_grace_period
                    .map(|g| g.to_string())
                    .unwrap_or("10s".into())
            ));
        }
    }
    let nets: BTreeSet<&String> = s.networks.keys().collect();
    if nets != o.networks.keys().collect() {
        out.push(format!(
            "networks {} (derived from uses)",
            nets.into_iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if !s.depends_on.is_empty() {
        let deps: Vec<String> = s
            .depends_on
            .iter()
            .map(|(n, d)| {
                format!(
                    "{n} ({})",
                    match d.condition {
                        crate::model::Condition::ServiceHealthy => "healthy",
                        crate::model::Condition::ServiceStarted => "started",
                        crate::model::Condition::ServiceCompletedSuccessfully => "completed",
                    }
                )
            })
            .collect();
        out.push(format!("starts after {}", deps.join(", ")));
    }
    if !s.secrets.is_empty() && o.secrets.is_empty() {
        out.push(format!(
            "secrets as files: {}",
            s.secrets
                .iter()
                .map(|x| x.target.clone())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for p in &s.ports {
        if let Some(was) = o
            .ports
            .iter()
            .find(|x| x.published == p.published && x.host_ip != p.host_ip)
        {
            let every = |ip: &Option<String>| {
                ip.clone()
                    .filter(|i| i != "0.0.0.0" && i != "::")
                    .unwrap_or_else(|| "every interface".into())
            };
            out.push(format!(
                "publishes {} on {} (was {})",
                p.published.map(|x| x.to_string()).unwrap_or_default(),
                every(&p.host_ip),
                every(&was.host_ip)
            ));
        }
    }
    out
}
