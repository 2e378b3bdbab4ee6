//! From a merged, interpolated Compose tree to the normalized model.
//!
//! Takes: the located tree of a whole project (files merged, `extends` and `include` resolved,
//! profiles applied) and the project's directory and variables. Gives: the [`Compose`] model that
//! `fedgen build` also fills, in the normal form Compose itself gives a file (short syntax made
//! long, legacy keys moved where they belong, defaults made explicit), or every problem found, each
//! at the line a person wrote: keys that fedgen cannot apply are refused by name, never ignored.

use crate::compose::ports;
use crate::diag::{did_you_mean, Code, Diagnostic, Diagnostics, Span};
use crate::model::{
    Compose, Condition, Config, DependsOn, Deploy, Healthcheck, Limits, Logging, Mount, Network,
    Resources, RestartPolicy, Secret, Service, ServiceConfig, ServiceNetwork, ServiceSecret,
    Ulimit, Volume,
};
use crate::units::{Bytes, Cpus, Duration};
use crate::yaml::{Node, Style, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The service keys of the Compose specification that fedgen reads and applies.
pub const SERVICE_KEYS: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "working_dir",
    "user",
    "restart",
    "healthcheck",
    "depends_on",
    "networks",
    "network_mode",
    "ports",
    "expose",
    "volumes",
    "tmpfs",
    "secrets",
    "configs",
    "labels",
    "logging",
    "cap_add",
    "cap_drop",
    "security_opt",
    "read_only",
    "shm_size",
    "stop_grace_period",
    "stop_signal",
    "pids_limit",
    "mem_limit",
    "mem_reservation",
    "cpus",
    "cpu_shares",
    "deploy",
    "container_name",
    "hostname",
    "domainname",
    "extra_hosts",
    "dns",
    "dns_search",
    "init",
    "privileged",
    "stdin_open",
    "tty",
    "sysctls",
    "ulimits",
    "ipc",
    "pid",
    "group_add",
    "oom_score_adj",
    "runtime",
    "platform",
    "devices",
    "profiles",
    "pull_policy",
    "scale",
];

/// Service keys of the Compose specification that fedgen refuses, with why and what to do.
pub const REFUSED_SERVICE_KEYS: &[(&str, &str)] = &[
    ("build", "fedgen deploys images: build and push the image in CI (`docker compose build`), and name its tag in `image:` beside `build:`"),
    ("develop", "`develop` (watch mode) is for `docker compose watch` on a laptop, not for a deploy"),
    ("gpus", "GPU devices are not supported yet"),
    ("links", "legacy links are not supported; services reach each other by name on a shared network"),
    ("external_links", "legacy links are not supported; put both containers on a shared network"),
    ("volumes_from", "not supported; mount the same named volume in both services"),
    ("annotations", "not supported by engine API 1.41"),
    ("attach", "only affects `docker compose up`'s log output; remove it"),
    ("blkio_config", "not supported yet"),
    ("cgroup", "not supported yet"),
    ("cgroup_parent", "not supported yet"),
    ("cpu_count", "Windows only; use `cpus`"),
    ("cpu_percent", "Windows only; use `cpus`"),
    ("cpu_period", "use `cpus`"),
    ("cpu_quota", "use `cpus`"),
    ("cpu_rt_period", "not supported yet"),
    ("cpu_rt_runtime", "not supported yet"),
    ("cpuset", "not supported yet"),
    ("credential_spec", "Windows only"),
    ("device_cgroup_rules", "not supported yet"),
    ("dns_opt", "not supported yet"),
    ("isolation", "Windows only"),
    ("label_file", "not supported yet; write the labels in `labels:`"),
    ("mac_address", "not supported yet"),
    ("mem_swappiness", "not supported yet"),
    ("memswap_limit", "not supported yet"),
    ("oom_kill_disable", "not supported yet"),
    ("post_start", "lifecycle hooks need engine API 1.44"),
    ("pre_stop", "lifecycle hooks need engine API 1.44"),
    ("storage_opt", "not supported yet"),
    ("userns_mode", "not supported yet"),
    ("uts", "not supported yet"),
    ("volume_driver", "declare the volume with its `driver` under top-level `volumes:`"),
    ("provider", "provider services are not containers; fedgen cannot apply them"),
    ("models", "AI models are not containers; fedgen cannot apply them"),
    ("use_api_socket", "not supported: it hands the container the engine's socket"),
    ("log_driver", "the legacy form of `logging.driver`; use `logging:`"),
    ("log_opt", "the legacy form of `logging.options`; use `logging:`"),
    ("net", "the legacy form of `network_mode`; use `network_mode:`"),
];

pub struct Reader<'a> {
    pub diags: &'a mut Diagnostics,
    /// The project's variables, for `environment` entries without a value.
    pub env: &'a BTreeMap<String, String>,
    /// The project directory: relative paths resolve against it.
    pub dir: &'a Path,
    /// Keys fedgen cannot apply are warnings, not errors (see [`super::Options::lenient`]).
    pub lenient: bool,
}

impl Reader<'_> {
    fn err(&mut self, code: Code, at: Span, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code, msg).at(at)
    }

    fn push(&mut self, mut d: Diagnostic) {
        if self.lenient && d.code == Code::UnsupportedKey {
            d.severity = crate::diag::Severity::Warning;
        }
        self.diags.push(d);
    }

    fn wrong_type(&mut self, key: &str, n: &Node, want: &str) {
        let d = self
            .err(
                Code::WrongType,
                n.span,
                format!("`{key}` must be {want}, not {}", n.kind()),
            )
            .hint("see the Compose specification for this key's syntax");
        self.push(d);
    }

    /// `why` is either a phrase about the value (`not a boolean`), or a whole sentence that
    /// names it.
    fn invalid(&mut self, key: &str, n: &Node, why: impl std::fmt::Display, hint: &str) {
        let why = why.to_string();
        let text = n.scalar().unwrap_or_default();
        let message = if why.starts_with("not ") {
            format!("{key}: `{text}` is {why}")
        } else {
            format!("{key}: {why}")
        };
        let mut d = self.err(Code::InvalidValue, n.span, message);
        if !hint.is_empty() {
            d = d.hint(hint);
        }
        self.push(d);
    }

    /// A scalar as text (numbers and booleans as written); `None` and a diagnostic otherwise.
    fn text(&mut self, key: &str, n: &Node) -> Option<String> {
        match &n.value {
            Value::Scalar(s, _) if !n.is_null() => Some(s.clone()),
            _ => {
                self.wrong_type(key, n, "a string");
                None
            }
        }
    }

    /// Compose's booleans: `true`/`false` in any case; `yes`/`no`/`on`/`off` as YAML 1.1 reads them.
    fn boolean(&mut self, key: &str, n: &Node) -> Option<bool> {
        let s = self.text(key, n)?;
        match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" => Some(true),
            "false" | "no" | "n" | "off" => Some(false),
            _ => {
                self.invalid(key, n, "not a boolean", "write true or false");
                None
            }
        }
    }

    fn int(&mut self, key: &str, n: &Node) -> Option<i64> {
        let s = self.text(key, n)?;
        match s.parse::<i64>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.invalid(key, n, "not a whole number", "");
                None
            }
        }
    }

    fn unit<T: std::str::FromStr<Err = crate::units::UnitError>>(
        &mut self,
        key: &str,
        n: &Node,
    ) -> Option<T> {
        let s = self.text(key, n)?;
        match s.parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.invalid(key, n, format!("not {}", e.expected), e.hint);
                None
            }
        }
    }

    /// A string, or a list of strings.
    fn strings(&mut self, key: &str, n: &Node) -> Vec<String> {
        match &n.value {
            Value::Scalar(..) if n.is_null() => Vec::new(),
            Value::Scalar(s, _) => vec![s.clone()],
            Value::Seq(items) => items.iter().filter_map(|i| self.text(key, i)).collect(),
            Value::Map(_) => {
                self.wrong_type(key, n, "a string or a list of strings");
                Vec::new()
            }
        }
    }

    /// A list of strings, nothing else.
    fn list(&mut self, key: &str, n: &Node) -> Vec<String> {
        match &n.value {
            Value::Seq(items) => items.iter().filter_map(|i| self.text(key, i)).collect(),
            Value::Scalar(..) if n.is_null() => Vec::new(),
            _ => {
                self.wrong_type(key, n, "a list");
                Vec::new()
            }
        }
    }

    /// A mapping of strings, or a list of `KEY=value` (a bare `KEY` gives `None`).
    fn key_values(&mut self, key: &str, n: &Node) -> Vec<(String, Option<String>, Span)> {
        match &n.value {
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| {
                    let name = k.scalar().unwrap_or_default().to_string();
                    let value = match &v.value {
                        _ if v.is_null() => None,
                        Value::Scalar(s, style) => Some(yaml_string(s, *style)),
                        _ => {
                            self.wrong_type(&format!("{key}.{name}"), v, "a string");
                            None
                        }
                    };
                    (name, value, k.span)
                })
                .collect(),
            Value::Seq(items) => items
                .iter()
                .filter_map(|i| {
                    let s = self.text(key, i)?;
                    Some(match s.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string()), i.span),
                        None => (s, None, i.span),
                    })
                })
                .collect(),
            Value::Scalar(..) if n.is_null() => Vec::new(),
            Value::Scalar(..) => {
                self.wrong_type(key, n, "a mapping or a list of KEY=value");
                Vec::new()
            }
        }
    }

    fn string_map(&mut self, key: &str, n: &Node) -> BTreeMap<String, String> {
        self.key_values(key, n)
            .into_iter()
            .map(|(k, v, _)| (k, v.unwrap_or_default()))
            .collect()
    }

    /// Refuses every key of `n` outside `known` (one diagnostic each, with a suggestion).
    fn check_keys(&mut self, what: &str, n: &Node, known: &[&str]) {
        let Some(entries) = n.entries() else { return };
        for (k, _) in entries {
            let key = k.scalar().unwrap_or_default();
            if known.contains(&key) || key.starts_with("x-") {
                continue;
            }
            let mut d = self.err(
                Code::UnknownKey,
                k.span,
                format!("{what} has no key `{key}`"),
            );
            if let Some(s) = did_you_mean(key, known.iter().copied()) {
                d = d.hint(format!("did you mean `{s}`?"));
            }
            self.push(d);
        }
    }

    fn mapping<'n>(&mut self, key: &str, n: &'n Node) -> Option<&'n [(Node, Node)]> {
        if n.is_null() {
            return Some(&[]);
        }
        match n.entries() {
            Some(e) => Some(e),
            None => {
                self.wrong_type(key, n, "a mapping");
                None
            }
        }
    }
}

/// A YAML scalar as Compose turns it into a string: plain booleans as `true`/`false`.
fn yaml_string(s: &str, style: Style) -> String {
    if style == Style::Plain {
        match s {
            "true" | "True" | "TRUE" => return "true".into(),
            "false" | "False" | "FALSE" => return "false".into(),
            _ => {}
        }
    }
    s.to_string()
}

/// The whole project.
pub fn compose(r: &mut Reader, name: String, root: &Node) -> Compose {
    let mut compose = Compose {
        name,
        ..Compose::default()
    };
    r.check_keys(
        "a Compose file",
        root,
        &[
            "name", "version", "services", "networks", "volumes", "secrets", "configs", "include",
        ],
    );
    if let Some(v) = root.get("version") {
        r.push(
            Diagnostic::warning(Code::ObsoleteKey, "`version` is obsolete and ignored")
                .at(v.span)
                .hint("remove it, as Compose advises"),
        );
    }
    if let Some(n) = root.get("networks") {
        if let Some(entries) = r.mapping("networks", n) {
            for (k, v) in entries {
                let key = k.scalar().unwrap_or_default().to_string();
                if let Some(net) = network(r, &key, v) {
                    compose.networks.insert(key, net);
                }
            }
        }
    }
    if let Some(n) = root.get("volumes") {
        if let Some(entries) = r.mapping("volumes", n) {
            for (k, v) in entries {
                let key = k.scalar().unwrap_or_default().to_string();
                if let Some(vol) = volume(r, &key, v) {
                    compose.volumes.insert(key, vol);
                }
            }
        }
    }
    for section in ["secrets", "configs"] {
        let Some(n) = root.get(section) else { continue };
        let Some(entries) = r.mapping(section, n) else {
            continue;
        };
        for (k, v) in entries {
            let key = k.scalar().unwrap_or_default().to_string();
            if section == "secrets" {
                if let Some(s) = secret(r, &key, v) {
                    compose.secrets.insert(key, s);
                }
            } else if let Some(c) = config(r, &key, v) {
                compose.configs.insert(key, c);
            }
        }
    }
    match root.get("services") {
        None => r.push(
            Diagnostic::error(Code::MissingKey, "the project has no `services:`")
                .at(root.span)
                .hint("a Compose file lists its containers under `services:`"),
        ),
        Some(n) => {
            if let Some(entries) = r.mapping("services", n) {
                for (k, v) in entries {
                    let key = k.scalar().unwrap_or_default().to_string();
                    if let Some(s) = service(r, &key, v) {
                        compose.services.insert(key, s);
                    }
                }
            }
        }
    }
    references(r, &mut compose, root);
    compose
}

fn network(r: &mut Reader, key: &str, n: &Node) -> Option<Network> {
    let what = format!("network `{key}`");
    let entries = r.mapping(&what, n)?;
    r.check_keys(
        &what,
        n,
        &[
            "name",
            "external",
            "driver",
            "driver_opts",
            "internal",
            "attachable",
            "enable_ipv6",
            "ipam",
            "labels",
        ],
    );
    let mut net = Network::default();
    for (k, v) in entries {
        let field = k.scalar().unwrap_or_default();
        let path = format!("networks.{key}.{field}");
        match field {
            "name" => net.name = r.text(&path, v),
            "external" => external(r, &path, v, &mut net.external, &mut net.name),
            "driver" => net.driver = r.text(&path, v),
            "driver_opts" => net.driver_opts = r.string_map(&path, v),
            "internal" => net.internal = r.boolean(&path, v).unwrap_or(false),
            "attachable" => net.attachable = r.boolean(&path, v).unwrap_or(false),
            "enable_ipv6" => net.enable_ipv6 = r.boolean(&path, v).unwrap_or(false),
            "labels" => net.labels = r.string_map(&path, v),
            "ipam" => {
                r.check_keys(&path, v, &["driver", "config", "options"]);
                if let Some(d) = v.get("driver").and_then(Node::scalar) {
                    if d != "default" {
                        let at = v.get("driver").map(|d| d.span).unwrap_or(v.span);
                        r.push(
                            Diagnostic::error(
                                Code::UnsupportedKey,
                                format!("IPAM driver `{d}` is not supported"),
                            )
                            .at(at)
                            .hint("only the engine's default IPAM driver is supported"),
                        );
                    }
                }
                if let Some(c) = v.get("config") {
                    for pool in c.items().unwrap_or_default() {
                        r.check_keys(
                            &format!("{path}.config"),
                            pool,
                            &["subnet", "gateway", "ip_range", "aux_addresses"],
                        );
                        let mut m = BTreeMap::new();
                        for f in ["subnet", "gateway", "ip_range"] {
                            if let Some(x) = pool.get(f).and_then(|x| r.text(f, x)) {
                                m.insert(f.to_string(), x);
                            }
                        }
                        net.ipam.push(m);
                    }
                }
            }
            _ => {}
        }
    }
    Some(net)
}

/// `external: true`, or the legacy `external: {name: x}`.
fn external(r: &mut Reader, path: &str, v: &Node, flag: &mut bool, name: &mut Option<String>) {
    if let Some(n) = v.get("name") {
        *flag = true;
        *name = r.text(path, n);
    } else {
        *flag = r.boolean(path, v).unwrap_or(false);
    }
}

fn volume(r: &mut Reader, key: &str, n: &Node) -> Option<Volume> {
    let what = format!("volume `{key}`");
    let entries = r.mapping(&what, n)?;
    r.check_keys(
        &what,
        n,
        &["name", "external", "driver", "driver_opts", "labels"],
    );
    let mut vol = Volume::default();
    for (k, v) in entries {
        let field = k.scalar().unwrap_or_default();
        let path = format!("volumes.{key}.{field}");
        match field {
            "name" => vol.name = r.text(&path, v),
            "external" => external(r, &path, v, &mut vol.external, &mut vol.name),
            "driver" => vol.driver = r.text(&path, v),
            "driver_opts" => vol.driver_opts = r.string_map(&path, v),
            "labels" => vol.labels = r.string_map(&path, v),
            _ => {}
        }
    }
    Some(vol)
}

fn secret(r: &mut Reader, key: &str, n: &Node) -> Option<Secret> {
    let what = format!("secret `{key}`");
    r.mapping(&what, n)?;
    r.check_keys(&what, n, &["file", "environment", "external", "name"]);
    let mut s = Secret {
        environment: None,
        file: None,
        // fedgen's extension: made once on the target engine by the first apply.
        generate: n
            .get("x-fedgen-generate")
            .and_then(|g| r.int("x-fedgen-generate", g))
            .and_then(|g| usize::try_from(g).ok()),
    };
    if let Some(e) = n.get("external") {
        if r.boolean("external", e).unwrap_or(true) {
            r.push(
                Diagnostic::error(
                    Code::UnsupportedKey,
                    format!("secret `{key}` is external: only Swarm has external secrets"),
                )
                .at(e.span)
                .hint("give it a `file:` or an `environment:` variable"),
            );
            return None;
        }
    }
    s.file = n
        .get("file")
        .and_then(|f| r.text("file", f))
        .map(|f| rel(r, &f));
    s.environment = n.get("environment").and_then(|e| r.text("environment", e));
    if s.file.is_none() && s.environment.is_none() {
        r.push(
            Diagnostic::error(
                Code::InvalidSecret,
                format!("secret `{key}` has neither `file` nor `environment`"),
            )
            .at(n.span)
            .hint("say where its value comes from: `file: ./secrets/x.txt` or `environment: VAR`"),
        );
        return None;
    }
    Some(s)
}

fn config(r: &mut Reader, key: &str, n: &Node) -> Option<Config> {
    let what = format!("config `{key}`");
    r.mapping(&what, n)?;
    r.check_keys(
        &what,
        n,
        &["file", "environment", "content", "external", "name"],
    );
    if let Some(e) = n.get("external") {
        if r.boolean("external", e).unwrap_or(true) {
            r.push(
                Diagnostic::error(
                    Code::UnsupportedKey,
                    format!("config `{key}` is external: only Swarm has external configs"),
                )
                .at(e.span)
                .hint("give it a `file:`, `content:` or an `environment:` variable"),
            );
            return None;
        }
    }
    let c = Config {
        content: n.get("content").and_then(|c| r.text("content", c)),
        file: n
            .get("file")
            .and_then(|f| r.text("file", f))
            .map(|f| rel(r, &f)),
        environment: n.get("environment").and_then(|e| r.text("environment", e)),
    };
    if c.content.is_none() && c.file.is_none() && c.environment.is_none() {
        r.push(
            Diagnostic::error(
                Code::InvalidValue,
                format!("config `{key}` has no `file`, `content` or `environment`"),
            )
            .at(n.span),
        );
        return None;
    }
    Some(c)
}

/// A path as the model keeps it: relative to the project directory when it is inside it (as
/// written, `./x`), absolute otherwise; `~` is the home directory.
fn rel(r: &Reader, p: &str) -> String {
    let p = expand_home(p);
    let path = Path::new(&p);
    if path.is_absolute() {
        match path.strip_prefix(r.dir) {
            Ok(inside) if !inside.as_os_str().is_empty() => format!("./{}", inside.display()),
            Ok(_) => ".".into(),
            Err(_) => p,
        }
    } else {
        p
    }
}

fn expand_home(p: &str) -> String {
    match p.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
            format!("{home}{rest}")
        }
        _ => p.to_string(),
    }
}

fn service(r: &mut Reader, name: &str, n: &Node) -> Option<Service> {
    let entries = r.mapping(&format!("service `{name}`"), n)?;
    let before = r.diags.error_count();
    let mut s = Service::default();
    let mut limits = Limits::default();
    let mut reservations = Limits::default();
    let mut deploy_restart: Option<RestartPolicy> = None;
    let mut env_file_vars: BTreeMap<String, String> = BTreeMap::new();
    let mut environment: Vec<(String, Option<String>, Span)> = Vec::new();
    let mut deploy_limits = Limits::default();
    let mut deploy_pids = None;
    let deploy_limits_given = n
        .get("deploy")
        .and_then(|d| d.get("resources"))
        .and_then(|r| r.get("limits"))
        .is_some_and(|l| !l.is_null());
    for (k, v) in entries {
        let key = k.scalar().unwrap_or_default();
        let path = format!("services.{name}.{key}");
        if key.starts_with("x-") {
            continue;
        }
        if key == "build" && n.get("image").is_some() {
            r.push(
                Diagnostic::warning(
                    Code::UnsupportedKey,
                    format!("service `{name}`: `build` is left aside; fedgen deploys the image it names"),
                )
                .at(k.span)
                .hint("build and push the image first (in CI), as `docker compose up --no-build` would use it"),
            );
            continue;
        }
        if let Some((_, why)) = REFUSED_SERVICE_KEYS.iter().find(|(r, _)| *r == key) {
            r.push(
                Diagnostic::error(
                    Code::UnsupportedKey,
                    format!("service `{name}` uses `{key}`, which fedgen cannot apply"),
                )
                .at(k.span)
                .hint(*why),
            );
            continue;
        }
        match key {
            "image" => s.image = r.text(&path, v).unwrap_or_default(),
            "command" => s.command = command(r, &path, v),
            "entrypoint" => s.entrypoint = command(r, &path, v),
            "environment" => environment = r.key_values(&path, v),
            "env_file" => env_files(r, &path, v, &mut env_file_vars),
            "working_dir" => s.working_dir = r.text(&path, v),
            "user" => s.user = r.text(&path, v),
            "restart" => {
                if let Some(t) = r.text(&path, v) {
                    match t.parse::<RestartPolicy>() {
                        Ok(p) => s.restart = Some(p),
                        Err(e) => r.invalid(
                            &path,
                            v,
                            e,
                            "use no, always, unless-stopped, on-failure or on-failure:N",
                        ),
                    }
                }
            }
            "healthcheck" => s.healthcheck = healthcheck(r, &path, v),
            "depends_on" => s.depends_on = depends_on(r, &path, v),
            "networks" => s.networks = service_networks(r, &path, v),
            "network_mode" => {
                if let Some(m) = r.text(&path, v) {
                    if m.starts_with("service:") {
                        r.push(
                            Diagnostic::error(
                                Code::UnsupportedKey,
                                format!("`network_mode: {m}` is not supported"),
                            )
                            .at(v.span)
                            .hint("put both services on a shared network instead"),
                        );
                    }
                    s.network_mode = Some(m);
                }
            }
            "ports" => {
                for item in v.items().unwrap_or_default() {
                    match ports::parse(item) {
                        Ok(mut p) => s.ports.append(&mut p),
                        Err(e) => r.invalid(&path, item, e, "write [HOST_IP:][HOST:]CONTAINER[/PROTOCOL], e.g. \"127.0.0.1:8080:80\""),
                    }
                }
                if v.items().is_none() && !v.is_null() {
                    r.wrong_type(&path, v, "a list");
                }
            }
            "expose" => {
                for item in v.items().unwrap_or_default() {
                    match item.scalar().map(ports::expose) {
                        Some(Ok(mut e)) => s.expose.append(&mut e),
                        Some(Err(e)) => {
                            r.invalid(&path, item, e, "write a port or a range: 80, 8000-8010/udp")
                        }
                        None => r.wrong_type(&path, item, "a port"),
                    }
                }
            }
            "volumes" => {
                for item in v.items().unwrap_or_default() {
                    if let Some(m) = mount(r, &path, item, &mut s.tmpfs) {
                        s.volumes.push(m);
                    }
                }
                if v.items().is_none() && !v.is_null() {
                    r.wrong_type(&path, v, "a list");
                }
            }
            "tmpfs" => s.tmpfs.extend(r.strings(&path, v)),
            "secrets" => {
                for item in v.items().unwrap_or_default() {
                    if let Some((source, target, _)) = file_ref(r, &path, item, true) {
                        s.secrets.push(ServiceSecret { source, target });
                    }
                }
            }
            "configs" => {
                for item in v.items().unwrap_or_default() {
                    if let Some((source, target, mode)) = file_ref(r, &path, item, false) {
                        s.configs.push(ServiceConfig {
                            source,
                            target,
                            mode,
                        });
                    }
                }
            }
            "labels" => s.labels = r.string_map(&path, v),
            "logging" => {
                r.check_keys(&path, v, &["driver", "options"]);
                s.logging = Some(Logging {
                    driver: v
                        .get("driver")
                        .and_then(|d| r.text("driver", d))
                        .unwrap_or_else(|| "json-file".into()),
                    options: v
                        .get("options")
                        .map(|o| r.string_map("options", o))
                        .unwrap_or_default(),
                });
            }
            "cap_add" => s.cap_add = r.list(&path, v),
            "cap_drop" => s.cap_drop = r.list(&path, v),
            "security_opt" => s.security_opt = r.list(&path, v),
            "read_only" => s.read_only = r.boolean(&path, v).unwrap_or(false),
            "shm_size" => s.shm_size = r.unit::<Bytes>(&path, v),
            "stop_grace_period" => s.stop_grace_period = r.unit::<Duration>(&path, v),
            "stop_signal" => s.stop_signal = r.text(&path, v),
            "pids_limit" => s.pids_limit = r.int(&path, v),
            "mem_limit" => limits.memory = r.unit::<Bytes>(&path, v),
            "mem_reservation" => reservations.memory = r.unit::<Bytes>(&path, v),
            "cpus" => limits.cpus = r.unit::<Cpus>(&path, v),
            "cpu_shares" => s.cpu_shares = r.int(&path, v),
            "deploy" => deploy(
                r,
                &path,
                v,
                &mut deploy_limits,
                &mut reservations,
                &mut deploy_pids,
                &mut deploy_restart,
            ),
            "container_name" => s.container_name = r.text(&path, v),
            "hostname" => s.hostname = r.text(&path, v),
            "domainname" => s.domainname = r.text(&path, v),
            "extra_hosts" => s.extra_hosts = extra_hosts(r, &path, v),
            "dns" => s.dns = r.strings(&path, v),
            "dns_search" => s.dns_search = r.strings(&path, v),
            "init" => s.init = r.boolean(&path, v),
            "privileged" => s.privileged = r.boolean(&path, v).unwrap_or(false),
            "stdin_open" => s.stdin_open = r.boolean(&path, v).unwrap_or(false),
            "tty" => s.tty = r.boolean(&path, v).unwrap_or(false),
            "sysctls" => s.sysctls = r.string_map(&path, v),
            "ulimits" => s.ulimits = ulimits(r, &path, v),
            "ipc" => s.ipc = r.text(&path, v),
            "pid" => s.pid = r.text(&path, v),
            "group_add" => s.group_add = r.list(&path, v),
            "oom_score_adj" => s.oom_score_adj = r.int(&path, v),
            "runtime" => s.runtime = r.text(&path, v),
            "platform" => s.platform = r.text(&path, v),
            "devices" => s.devices = r.list(&path, v),
            "profiles" | "extends" => {}
            "pull_policy" => {
                if let Some(p) = r.text(&path, v) {
                    if !matches!(p.as_str(), "missing" | "if_not_present" | "never") {
                        r.push(
                            Diagnostic::warning(
                                Code::UnsupportedKey,
                                format!("`pull_policy: {p}` is read as `missing`: fedgen pulls an image only when the host does not have it"),
                            )
                            .at(v.span),
                        );
                    }
                }
            }
            "scale" => {
                if let Some(n) = r.int(&path, v) {
                    if n != 1 {
                        r.push(
                            Diagnostic::error(
                                Code::UnsupportedKey,
                                format!("`scale: {n}`: fedgen runs one container per service"),
                            )
                            .at(v.span)
                            .hint("run the replicas as services of their own, or use `--target swarm`"),
                        );
                    }
                }
            }
            _ => {
                let mut d = Diagnostic::error(
                    Code::UnknownKey,
                    format!("service `{name}` has no key `{key}`"),
                )
                .at(k.span);
                if let Some(s) = did_you_mean(key, SERVICE_KEYS.iter().copied()) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                r.push(d);
            }
        }
    }
    // env_file under environment; a variable without a value comes from the project's variables,
    // and is left out when it has none there either.
    s.environment = env_file_vars;
    for (k, v, _) in environment {
        match v.or_else(|| r.env.get(&k).cloned()) {
            Some(v) => {
                s.environment.insert(k, v);
            }
            None => {
                s.environment.remove(&k);
            }
        }
    }
    // The legacy keys and `deploy.resources` must agree (Compose refuses the file otherwise).
    agree(r, n, "cpus", limits.cpus, deploy_limits.cpus);
    agree(r, n, "mem_limit", limits.memory, deploy_limits.memory);
    agree(r, n, "pids_limit", s.pids_limit, deploy_pids);
    // Compose also refuses `pids_limit` beside `deploy.resources.limits` without `pids`.
    if s.pids_limit.is_some() && deploy_pids.is_none() && deploy_limits_given {
        let at = n.get("pids_limit").map(|x| x.span).unwrap_or(n.span);
        r.push(
            Diagnostic::error(
                Code::InvalidValue,
                "`pids_limit` beside `deploy.resources.limits` without `pids`: Compose refuses this",
            )
            .at(at)
            .hint("move the limit into deploy.resources.limits.pids"),
        );
    }
    let limits = Limits {
        cpus: deploy_limits.cpus.or(limits.cpus),
        memory: deploy_limits.memory.or(limits.memory),
    };
    s.pids_limit = deploy_pids.or(s.pids_limit);
    if limits != Limits::default() || reservations != Limits::default() {
        s.deploy = Some(Deploy {
            resources: Resources {
                limits: (limits != Limits::default()).then_some(limits),
                reservations: (reservations != Limits::default()).then_some(reservations),
            },
        });
    }
    if let Some(p) = deploy_restart {
        s.restart = Some(p);
    }
    if s.image.is_empty() && n.get("build").is_none() && n.get("image").is_none() {
        r.push(
            Diagnostic::error(Code::MissingKey, format!("service `{name}` has no `image`"))
                .at(n.span)
                .hint("fedgen runs images: name one, e.g. `image: nginx:1.27`"),
        );
    }
    if n.get("networks").is_some() && s.network_mode.is_some() {
        r.push(
            Diagnostic::error(
                Code::InvalidValue,
                format!("service `{name}` has both `networks` and `network_mode`"),
            )
            .at(n.get("network_mode").map(|m| m.span).unwrap_or(n.span))
            .hint("keep one of them"),
        );
    }
    // What Compose does without saying: a service on no network joins `default`. (On each
    // network the service's name is an alias too: the engine mapping adds it, as Compose does.)
    if s.networks.is_empty() && s.network_mode.is_none() {
        s.networks
            .insert("default".into(), ServiceNetwork::default());
    }
    s.expose.sort();
    s.expose.dedup();
    s.extra_hosts.sort();
    (r.diags.error_count() == before).then_some(s)
}

fn agree<T: PartialEq + std::fmt::Display>(
    r: &mut Reader,
    n: &Node,
    legacy: &str,
    a: Option<T>,
    b: Option<T>,
) {
    if let (Some(a), Some(b)) = (a, b) {
        if a != b {
            let at = n.get(legacy).map(|x| x.span).unwrap_or(n.span);
            r.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    format!("`{legacy}: {a}` and `deploy.resources` ({b}) disagree"),
                )
                .at(at)
                .hint("set the limit in one place"),
            );
        }
    }
}

/// `command`/`entrypoint`: a list, or a string split as a shell would (without expansions).
fn command(r: &mut Reader, path: &str, v: &Node) -> Option<Vec<String>> {
    match &v.value {
        _ if v.is_null() => None,
        Value::Scalar(s, _) => match shell_words::split(s) {
            Ok(words) => Some(words),
            Err(e) => {
                r.invalid(
                    path,
                    v,
                    e,
                    "close the quote, or write the command as a list",
                );
                None
            }
        },
        Value::Seq(_) => Some(r.list(path, v)),
        Value::Map(_) => {
            r.wrong_type(path, v, "a string or a list");
            None
        }
    }
}

fn env_files(r: &mut Reader, path: &str, v: &Node, vars: &mut BTreeMap<String, String>) {
    let items: Vec<&Node> = match &v.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![v],
    };
    for item in items {
        let (file, required) = match &item.value {
            Value::Map(_) => (
                item.get("path").and_then(|p| r.text(path, p)),
                item.get("required")
                    .and_then(|q| r.boolean("required", q))
                    .unwrap_or(true),
            ),
            _ => (r.text(path, item), true),
        };
        let Some(file) = file else { continue };
        let full = r.dir.join(expand_home(&file));
        match std::fs::read(&full) {
            Ok(bytes) => {
                for entry in dotenvy::from_read_iter(bytes.as_slice()) {
                    match entry {
                        Ok((k, val)) => {
                            vars.insert(k, val);
                        }
                        Err(e) => {
                            r.push(
                                Diagnostic::error(
                                    Code::EnvSyntax,
                                    format!("env_file {} does not parse: {e}", full.display()),
                                )
                                .at(item.span),
                            );
                            break;
                        }
                    }
                }
            }
            Err(_) if !required => {}
            Err(e) => r.push(
                Diagnostic::error(
                    Code::EnvUnreadable,
                    format!("cannot read env_file {}: {e}", full.display()),
                )
                .at(item.span)
                .hint("create it, or mark it `required: false`"),
            ),
        }
    }
}

fn healthcheck(r: &mut Reader, path: &str, v: &Node) -> Option<Healthcheck> {
    r.mapping(path, v)?;
    r.check_keys(
        path,
        v,
        &[
            "test",
            "interval",
            "timeout",
            "retries",
            "start_period",
            "start_interval",
            "disable",
        ],
    );
    if let Some(si) = v.get("start_interval") {
        r.push(
            Diagnostic::warning(
                Code::UnsupportedKey,
                "`start_interval` needs engine API 1.44 and is left out",
            )
            .at(si.span),
        );
    }
    let disabled = v
        .get("disable")
        .and_then(|d| r.boolean("disable", d))
        .unwrap_or(false);
    let mut h = Healthcheck {
        test: match v.get("test") {
            Some(t) => match &t.value {
                Value::Scalar(s, _) if !t.is_null() => vec!["CMD-SHELL".into(), s.clone()],
                Value::Seq(_) => {
                    let test = r.list(path, t);
                    if !matches!(
                        test.first().map(String::as_str),
                        Some("CMD" | "CMD-SHELL" | "NONE")
                    ) {
                        r.invalid(
                            &format!("{path}.test"),
                            t,
                            "a list must start with CMD, CMD-SHELL or NONE",
                            "[\"CMD\", \"curl\", \"-f\", \"http://localhost\"]",
                        );
                    }
                    test
                }
                _ => Vec::new(),
            },
            None => Vec::new(),
        },
        interval: v.get("interval").and_then(|d| r.unit(path, d)),
        timeout: v.get("timeout").and_then(|d| r.unit(path, d)),
        retries: v
            .get("retries")
            .and_then(|d| r.int(path, d))
            .map(|n| n.max(0) as u32),
        start_period: v.get("start_period").and_then(|d| r.unit(path, d)),
    };
    if disabled {
        h = Healthcheck {
            test: vec!["NONE".into()],
            ..Healthcheck::default()
        };
    }
    Some(h)
}

fn depends_on(r: &mut Reader, path: &str, v: &Node) -> BTreeMap<String, DependsOn> {
    let mut out = BTreeMap::new();
    match &v.value {
        Value::Seq(items) => {
            for i in items {
                if let Some(name) = r.text(path, i) {
                    out.insert(name, DependsOn::on(Condition::ServiceStarted));
                }
            }
        }
        Value::Map(entries) => {
            for (k, d) in entries {
                let name = k.scalar().unwrap_or_default().to_string();
                let sub = format!("{path}.{name}");
                r.check_keys(&sub, d, &["condition", "required", "restart"]);
                let condition = match d.get("condition").and_then(|c| r.text(&sub, c)).as_deref() {
                    None | Some("service_started") => Condition::ServiceStarted,
                    Some("service_healthy") => Condition::ServiceHealthy,
                    Some("service_completed_successfully") => {
                        Condition::ServiceCompletedSuccessfully
                    }
                    Some(_) => {
                        let c = d.get("condition").unwrap();
                        r.invalid(&sub, c, "not a condition", "use service_started, service_healthy or service_completed_successfully");
                        continue;
                    }
                };
                out.insert(
                    name,
                    DependsOn {
                        condition,
                        required: d
                            .get("required")
                            .and_then(|x| r.boolean("required", x))
                            .unwrap_or(true),
                        restart: d
                            .get("restart")
                            .and_then(|x| r.boolean("restart", x))
                            .unwrap_or(false),
                    },
                );
            }
        }
        _ if v.is_null() => {}
        _ => r.wrong_type(path, v, "a list or a mapping"),
    }
    out
}

fn service_networks(r: &mut Reader, path: &str, v: &Node) -> BTreeMap<String, ServiceNetwork> {
    let mut out = BTreeMap::new();
    match &v.value {
        Value::Seq(items) => {
            for i in items {
                if let Some(name) = r.text(path, i) {
                    out.insert(name, ServiceNetwork::default());
                }
            }
        }
        Value::Map(entries) => {
            for (k, n) in entries {
                let name = k.scalar().unwrap_or_default().to_string();
                let sub = format!("{path}.{name}");
                let mut sn = ServiceNetwork::default();
                if !n.is_null() {
                    r.check_keys(
                        &sub,
                        n,
                        &["aliases", "ipv4_address", "ipv6_address", "priority"],
                    );
                    sn.aliases = n
                        .get("aliases")
                        .map(|a| r.list(&sub, a))
                        .unwrap_or_default();
                    sn.ipv4_address = n.get("ipv4_address").and_then(|a| r.text(&sub, a));
                    sn.ipv6_address = n.get("ipv6_address").and_then(|a| r.text(&sub, a));
                }
                out.insert(name, sn);
            }
        }
        _ if v.is_null() => {}
        _ => r.wrong_type(path, v, "a list or a mapping"),
    }
    out
}

/// A `volumes:` entry; a `tmpfs` one goes to the service's tmpfs list instead.
fn mount(r: &mut Reader, path: &str, item: &Node, tmpfs: &mut Vec<String>) -> Option<Mount> {
    match &item.value {
        Value::Scalar(s, _) => {
            let parts: Vec<&str> = s.split(':').collect();
            let (source, target, mode) = match parts.as_slice() {
                [t] => ("", *t, ""),
                [s, t] => (*s, *t, ""),
                [s, t, m] => (*s, *t, *m),
                _ => {
                    r.invalid(path, item, "too many `:`", "write SOURCE:TARGET[:MODE]");
                    return None;
                }
            };
            let mut read_only = false;
            for m in mode.split(',').filter(|m| !m.is_empty()) {
                match m {
                    "ro" => read_only = true,
                    "rw" => read_only = false,
                    "z" | "Z" | "nocopy" | "shared" | "rshared" | "slave" | "rslave"
                    | "private" | "rprivate" => {
                        r.push(
                            Diagnostic::error(
                                Code::UnsupportedKey,
                                format!("the volume mode `{m}` is not supported"),
                            )
                            .at(item.span)
                            .hint("only `ro` and `rw` are"),
                        );
                        return None;
                    }
                    _ => {
                        r.invalid(path, item, format!("unknown mode `{m}`"), "use ro or rw");
                        return None;
                    }
                }
            }
            let target = clean(target);
            if source.is_empty() {
                return Some(Mount {
                    kind: "volume".into(),
                    source: String::new(),
                    target,
                    read_only,
                    create_host_path: false,
                });
            }
            let bind =
                source.starts_with('.') || source.starts_with('/') || source.starts_with('~');
            Some(Mount {
                kind: if bind { "bind" } else { "volume" }.into(),
                source: if bind { rel(r, source) } else { source.into() },
                target,
                read_only,
                create_host_path: bind,
            })
        }
        Value::Map(_) => {
            r.check_keys(
                path,
                item,
                &[
                    "type",
                    "source",
                    "target",
                    "read_only",
                    "bind",
                    "volume",
                    "tmpfs",
                    "consistency",
                ],
            );
            let kind = item
                .get("type")
                .and_then(|t| r.text(path, t))
                .unwrap_or_else(|| "volume".into());
            let target = item.get("target").and_then(|t| r.text(path, t));
            let Some(target) = target else {
                r.push(
                    Diagnostic::error(Code::MissingKey, "a volume entry needs `target`")
                        .at(item.span),
                );
                return None;
            };
            let source = item
                .get("source")
                .and_then(|s| r.text(path, s))
                .unwrap_or_default();
            let read_only = item
                .get("read_only")
                .and_then(|x| r.boolean(path, x))
                .unwrap_or(false);
            let mut create_host_path = false;
            if let Some(b) = item.get("bind") {
                r.check_keys(&format!("{path}.bind"), b, &["create_host_path"]);
                create_host_path = b
                    .get("create_host_path")
                    .and_then(|x| r.boolean(path, x))
                    .unwrap_or(false);
            }
            if let Some(b) = item.get("volume") {
                r.check_keys(&format!("{path}.volume"), b, &[]);
            }
            match kind.as_str() {
                "tmpfs" => {
                    let mut entry = target.clone();
                    if let Some(t) = item.get("tmpfs") {
                        r.check_keys(&format!("{path}.tmpfs"), t, &["size", "mode"]);
                        let mut opts = Vec::new();
                        if let Some(size) = t.get("size").and_then(|x| r.unit::<Bytes>(path, x)) {
                            opts.push(format!("size={}", size.0));
                        }
                        if let Some(mode) = t.get("mode").and_then(|x| r.text(path, x)) {
                            opts.push(format!("mode={mode}"));
                        }
                        if !opts.is_empty() {
                            entry = format!("{entry}:{}", opts.join(","));
                        }
                    }
                    tmpfs.push(entry);
                    None
                }
                "bind" => Some(Mount {
                    kind,
                    source: rel(r, &source),
                    target: clean(&target),
                    read_only,
                    create_host_path,
                }),
                "volume" => Some(Mount {
                    kind,
                    source,
                    target: clean(&target),
                    read_only,
                    create_host_path: false,
                }),
                other => {
                    let at = item.get("type").map(|t| t.span).unwrap_or(item.span);
                    r.push(
                        Diagnostic::error(
                            Code::UnsupportedKey,
                            format!("a `{other}` mount is not supported"),
                        )
                        .at(at)
                        .hint("use volume, bind or tmpfs"),
                    );
                    None
                }
            }
        }
        _ => {
            r.wrong_type(path, item, "a string or a mapping");
            None
        }
    }
}

/// A path without a trailing `/`, `.` or doubled separators (Go's path.Clean, for targets).
fn clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// A service's `secrets:` or `configs:` entry: (source, target, mode).
fn file_ref(
    r: &mut Reader,
    path: &str,
    item: &Node,
    secret: bool,
) -> Option<(String, String, Option<u32>)> {
    let default_target = |s: &str| {
        if secret {
            format!("/run/secrets/{s}")
        } else {
            format!("/{s}")
        }
    };
    match &item.value {
        Value::Scalar(s, _) => Some((s.clone(), default_target(s), None)),
        Value::Map(_) => {
            r.check_keys(path, item, &["source", "target", "uid", "gid", "mode"]);
            let Some(source) = item.get("source").and_then(|s| r.text(path, s)) else {
                r.push(
                    Diagnostic::error(Code::MissingKey, "this entry needs `source`").at(item.span),
                );
                return None;
            };
            let target = match item.get("target").and_then(|t| r.text(path, t)) {
                Some(t) if secret && !t.starts_with('/') => format!("/run/secrets/{t}"),
                Some(t) => t,
                None => default_target(&source),
            };
            for k in ["uid", "gid"] {
                if let Some(x) = item.get(k) {
                    r.push(
                        Diagnostic::warning(
                            Code::UnsupportedKey,
                            format!("`{k}` is ignored outside Swarm, as Compose ignores it"),
                        )
                        .at(x.span),
                    );
                }
            }
            let mode = item.get("mode").and_then(|m| {
                let t = r.text(path, m)?;
                let parsed = match t.strip_prefix("0o").or_else(|| t.strip_prefix('0')) {
                    Some(oct) if !oct.is_empty() => u32::from_str_radix(oct, 8).ok(),
                    _ => t.parse::<u32>().ok(),
                };
                if parsed.is_none() {
                    r.invalid(path, m, "not a file mode", "write it in octal: 0440");
                }
                parsed
            });
            if secret && mode.is_some() {
                r.push(
                    Diagnostic::warning(
                        Code::UnsupportedKey,
                        "`mode` of a secret is ignored outside Swarm, as Compose ignores it",
                    )
                    .at(item.get("mode").unwrap().span),
                );
            }
            Some((source, target, if secret { None } else { mode }))
        }
        _ => {
            r.wrong_type(path, item, "a name or a mapping");
            None
        }
    }
}

fn deploy(
    r: &mut Reader,
    path: &str,
    v: &Node,
    limits: &mut Limits,
    reservations: &mut Limits,
    pids: &mut Option<i64>,
    restart: &mut Option<RestartPolicy>,
) {
    if r.mapping(path, v).is_none() {
        return;
    }
    r.check_keys(
        path,
        v,
        &[
            "mode",
            "replicas",
            "labels",
            "resources",
            "restart_policy",
            "placement",
            "update_config",
            "rollback_config",
            "endpoint_mode",
        ],
    );
    if let Some(m) = v.get("mode").and_then(|m| r.text(path, m)) {
        if m != "replicated" {
            let at = v.get("mode").unwrap().span;
            r.push(
                Diagnostic::error(
                    Code::UnsupportedKey,
                    format!("`deploy.mode: {m}` is only meaningful on Swarm"),
                )
                .at(at)
                .hint("remove it, or deploy with `--target swarm`"),
            );
        }
    }
    if let Some(n) = v.get("replicas") {
        if let Some(count) = r.int(path, n) {
            if count != 1 {
                r.push(
                    Diagnostic::error(
                        Code::UnsupportedKey,
                        format!("`replicas: {count}`: fedgen runs one container per service"),
                    )
                    .at(n.span)
                    .hint("use `--target swarm` for replicas"),
                );
            }
        }
    }
    if let Some(res) = v.get("resources") {
        r.check_keys(
            &format!("{path}.resources"),
            res,
            &["limits", "reservations"],
        );
        if let Some(l) = res.get("limits") {
            let p = format!("{path}.resources.limits");
            r.check_keys(&p, l, &["cpus", "memory", "pids"]);
            limits.cpus = l.get("cpus").and_then(|x| r.unit(&p, x));
            limits.memory = l.get("memory").and_then(|x| r.unit(&p, x));
            *pids = l.get("pids").and_then(|x| r.int(&p, x));
        }
        if let Some(l) = res.get("reservations") {
            let p = format!("{path}.resources.reservations");
            r.check_keys(&p, l, &["cpus", "memory", "devices"]);
            if let Some(d) = l.get("devices") {
                r.push(
                    Diagnostic::error(
                        Code::UnsupportedKey,
                        "device reservations (GPUs) are not supported yet",
                    )
                    .at(d.span),
                );
            }
            if let Some(c) = l.get("cpus").and_then(|x| r.unit(&p, x)) {
                reservations.cpus = Some(c);
            }
            if let Some(m) = l.get("memory").and_then(|x| r.unit(&p, x)) {
                reservations.memory = Some(m);
            }
        }
    }
    if let Some(rp) = v.get("restart_policy") {
        let p = format!("{path}.restart_policy");
        r.check_keys(&p, rp, &["condition", "delay", "max_attempts", "window"]);
        let attempts = rp
            .get("max_attempts")
            .and_then(|x| r.int(&p, x))
            .map(|n| n.max(0) as u32);
        *restart = match rp.get("condition").and_then(|c| r.text(&p, c)).as_deref() {
            Some("none") | Some("no") => Some(RestartPolicy::No),
            Some("on-failure") => Some(RestartPolicy::OnFailure(attempts.filter(|n| *n > 0))),
            Some("any") | Some("always") | None => Some(RestartPolicy::Always),
            Some("unless-stopped") => Some(RestartPolicy::UnlessStopped),
            Some(_) => {
                let c = rp.get("condition").unwrap();
                r.invalid(&p, c, "not a condition", "use none, on-failure or any");
                None
            }
        };
    }
}

fn extra_hosts(r: &mut Reader, path: &str, v: &Node) -> Vec<String> {
    let pairs: Vec<(String, String)> = match &v.value {
        Value::Map(entries) => entries
            .iter()
            .filter_map(|(k, x)| Some((k.scalar()?.to_string(), r.text(path, x)?)))
            .collect(),
        _ => r
            .strings(path, v)
            .into_iter()
            .filter_map(|e| {
                let (h, ip) = e.split_once('=').or_else(|| e.split_once(':'))?;
                Some((h.to_string(), ip.to_string()))
            })
            .collect(),
    };
    pairs
        .into_iter()
        .map(|(h, ip)| {
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            format!("{h}:{ip}")
        })
        .collect()
}

fn ulimits(r: &mut Reader, path: &str, v: &Node) -> BTreeMap<String, Ulimit> {
    let mut out = BTreeMap::new();
    let Some(entries) = r.mapping(path, v) else {
        return out;
    };
    for (k, x) in entries {
        let name = k.scalar().unwrap_or_default().to_string();
        let limit = match &x.value {
            Value::Map(_) => {
                r.check_keys(path, x, &["soft", "hard"]);
                let soft = x.get("soft").and_then(|s| r.int(path, s));
                let hard = x.get("hard").and_then(|s| r.int(path, s));
                match (soft, hard) {
                    (Some(soft), Some(hard)) => Ulimit { soft, hard },
                    _ => {
                        r.push(
                            Diagnostic::error(Code::MissingKey, "a ulimit needs `soft` and `hard`")
                                .at(x.span),
                        );
                        continue;
                    }
                }
            }
            _ => match r.int(path, x) {
                Some(n) => Ulimit { soft: n, hard: n },
                None => continue,
            },
        };
        out.insert(name, limit);
    }
    out
}

/// Every name a service uses is declared: services it depends on, networks, volumes, secrets,
/// configs; and no two services share a container name.
fn references(r: &mut Reader, compose: &mut Compose, root: &Node) {
    let svc_node = |name: &str| root.get("services").and_then(|s| s.get(name));
    // Every service written, read or not (one refused for its own reasons is still there).
    let all: Vec<String> = root
        .get("services")
        .and_then(Node::entries)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, _)| k.scalar().map(str::to_string))
        .collect();
    let names: Vec<String> = compose.services.keys().cloned().collect();
    let mut uses_default = false;
    let mut container_names: BTreeMap<String, String> = BTreeMap::new();
    for name in &names {
        let Some(node) = svc_node(name) else { continue };
        let s = compose.services.get_mut(name).unwrap();
        let at = |key: &str| node.get(key).map(|n| n.span).unwrap_or(node.span);
        let mut problems: Vec<Diagnostic> = Vec::new();
        s.depends_on.retain(|dep, d| {
            if all.contains(dep) {
                return true;
            }
            if !d.required {
                return false;
            }
            problems.push(
                Diagnostic::error(
                    Code::UnknownService,
                    format!("service `{name}` depends on `{dep}`, which is not a service here"),
                )
                .at(at("depends_on"))
                .hint("a service in a profile that is not enabled counts as absent; mark the dependency `required: false` if it may be"),
            );
            false
        });
        for net in s.networks.keys() {
            if net == "default" && !compose.networks.contains_key("default") {
                uses_default = true;
            } else if !compose.networks.contains_key(net) {
                problems.push(
                    Diagnostic::error(
                        Code::UnknownNetwork,
                        format!("service `{name}` uses network `{net}`, which is not declared"),
                    )
                    .at(at("networks"))
                    .hint(format!(
                        "declare it under top-level `networks:` ({net}: {{}})"
                    )),
                );
            }
        }
        for m in &s.volumes {
            if m.kind == "volume"
                && !m.source.is_empty()
                && !compose.volumes.contains_key(&m.source)
            {
                problems.push(
                    Diagnostic::error(
                        Code::UnknownVolume,
                        format!("service `{name}` mounts volume `{}`, which is not declared", m.source),
                    )
                    .at(at("volumes"))
                    .hint(format!("declare it under top-level `volumes:` ({}: {{}}), or write a path (./{}) for a bind mount", m.source, m.source)),
                );
            }
        }
        for sec in &s.secrets {
            if !compose.secrets.contains_key(&sec.source) {
                problems.push(
                    Diagnostic::error(
                        Code::UnknownSecret,
                        format!(
                            "service `{name}` uses secret `{}`, which is not declared",
                            sec.source
                        ),
                    )
                    .at(at("secrets"))
                    .hint("declare it under top-level `secrets:` with a `file:` or `environment:`"),
                );
            }
        }
        for c in &s.configs {
            if !compose.configs.contains_key(&c.source) {
                problems.push(
                    Diagnostic::error(
                        Code::UnknownSecret,
                        format!(
                            "service `{name}` uses config `{}`, which is not declared",
                            c.source
                        ),
                    )
                    .at(at("configs"))
                    .hint("declare it under top-level `configs:`"),
                );
            }
        }
        if let Some(cn) = &s.container_name {
            if let Some(other) = container_names.insert(cn.clone(), name.clone()) {
                problems.push(
                    Diagnostic::error(
                        Code::InvalidName,
                        format!("services `{other}` and `{name}` both have container_name `{cn}`"),
                    )
                    .at(at("container_name")),
                );
            }
        }
        for p in problems {
            r.push(p);
        }
    }
    if uses_default {
        compose
            .networks
            .insert("default".into(), Network::default());
    }
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn targets_are_cleaned_as_go_cleans_paths() {
        assert_eq!(clean("/data/"), "/data");
        assert_eq!(clean("/a//b/./c/../d"), "/a/b/d");
        assert_eq!(clean("/"), "/");
    }
}
