//! Compose's own `com.docker.compose.config-hash`, so containers fedgen makes from a Compose file
//! are ones a later `docker compose up` leaves alone, and containers `docker compose up` made are
//! ones fedgen recognizes without inspecting them.
//!
//! Takes: the merged tree of a project, its model, directory and variables. Gives: for each
//! service, the lowercase hex sha256 of the JSON that Compose (2.26 with compose-go 2.4, as Debian
//! ships it) hashes: the service in compose-go's normal form, its fields in compose-go's
//! declaration order, maps sorted, empty values left out, strings escaped as Go escapes them;
//! `build`, `pull_policy`, `scale` and `deploy.replicas` excluded, `env_file` folded into
//! `environment` (what `up` hashes, not `config --hash`).
//!
//! Only keys the reader accepts reach this module, so it writes those and nothing else.
//! docs/compose.md says which Compose versions this matches and how it is tested.

use crate::model::{Compose, Service};
use crate::units::{Bytes, Cpus, Duration};
use crate::yaml::{Node, Value};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// A JSON value written as Go's encoding/json writes it.
#[derive(Clone, Debug)]
enum J {
    Null,
    Bool(bool),
    Int(i64),
    F32(f32),
    Str(String),
    Arr(Vec<J>),
    /// Fields in the order given (struct fields, or map keys already sorted).
    Obj(Vec<(String, J)>),
}

impl J {
    fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Int(n) => {
                let _ = write!(out, "{n}");
            }
            J::F32(f) => {
                let _ = write!(out, "{f}");
            }
            J::Str(s) => go_string(s, out),
            J::Arr(items) => {
                out.push('[');
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    x.write(out);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    go_string(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// A string as Go's encoding/json escapes it (HTML characters and U+2028/9 included).
fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `time.Duration.String()`: `30s`, `1m30s`, `1h0m0s`, `500ms`, `0s`.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    let frac = |v: u64, unit: u64| -> String {
        let whole = v / unit;
        let rest = v % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let digits = unit.trailing_zeros_dec();
        let s = format!("{rest:0digits$}");
        format!("{whole}.{}", s.trim_end_matches('0'))
    };
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", frac(ns, 1_000_000));
    }
    let secs = ns / 1_000_000_000;
    let sub = ns % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let s = frac(s * 1_000_000_000 + sub, 1_000_000_000);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

trait DecDigits {
    fn trailing_zeros_dec(self) -> usize;
}

impl DecDigits for u64 {
    fn trailing_zeros_dec(self) -> usize {
        let mut n = self;
        let mut d = 0;
        while n > 1 {
            n /= 10;
            d += 1;
        }
        d
    }
}

/// Each service's hash.
pub fn project(
    tree: &Node,
    compose: &Compose,
    dir: &Path,
    env: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    compose
        .services
        .iter()
        .filter_map(|(name, svc)| {
            let node = tree.get("services")?.get(name)?;
            let json = service_json(node, svc, compose, dir, env);
            Some((name.clone(), crate::model::sha256_hex(json)))
        })
        .collect()
}

fn s(v: &str) -> J {
    J::Str(v.to_string())
}

fn text(n: &Node) -> String {
    n.scalar().unwrap_or_default().to_string()
}

fn strings(n: &Node) -> Vec<J> {
    match &n.value {
        Value::Scalar(..) if n.is_null() => Vec::new(),
        Value::Scalar(v, _) => vec![s(v)],
        Value::Seq(items) => items.iter().map(|i| s(&text(i))).collect(),
        Value::Map(_) => Vec::new(),
    }
}

fn bytes_str(b: Bytes) -> J {
    J::Str(b.0.to_string())
}

fn cpus(c: Cpus) -> J {
    J::F32(c.0 as f32 / 1e9)
}

fn bool_of(n: &Node) -> bool {
    matches!(
        n.scalar().map(str::to_ascii_lowercase).as_deref(),
        Some("true" | "yes" | "y" | "on")
    )
}

/// A sorted object from a `KEY: value` mapping or a `KEY=value` list (values as strings).
fn key_values(n: &Node) -> Vec<(String, Option<String>)> {
    let mut out: BTreeMap<String, Option<String>> = BTreeMap::new();
    match &n.value {
        Value::Map(m) => {
            for (k, v) in m {
                out.insert(
                    text(k),
                    (!v.is_null()).then(|| match &v.value {
                        Value::Scalar(x, crate::yaml::Style::Plain)
                            if x == "True" || x == "TRUE" =>
                        {
                            "true".into()
                        }
                        Value::Scalar(x, crate::yaml::Style::Plain)
                            if x == "False" || x == "FALSE" =>
                        {
                            "false".into()
                        }
                        _ => text(v),
                    }),
                );
            }
        }
        Value::Seq(items) => {
            for i in items {
                let t = text(i);
                match t.split_once('=') {
                    Some((k, v)) => out.insert(k.to_string(), Some(v.to_string())),
                    None => out.insert(t, None),
                };
            }
        }
        _ => {}
    }
    out.into_iter().collect()
}

fn string_obj(n: &Node) -> J {
    J::Obj(
        key_values(n)
            .into_iter()
            .map(|(k, v)| (k, s(&v.unwrap_or_default())))
            .collect(),
    )
}

fn service_json(
    node: &Node,
    svc: &Service,
    compose: &Compose,
    dir: &Path,
    env: &BTreeMap<String, String>,
) -> String {
    let has = |k: &str| node.get(k).filter(|n| !n.is_null());
    let mut f: Vec<(String, J)> = Vec::new();
    let mut put = |k: &str, v: J| f.push((k.to_string(), v));
    if let Some(p) = has("profiles") {
        put("profiles", J::Arr(strings(p)));
    }
    if let Some(v) = has("cap_add") {
        put("cap_add", J::Arr(strings(v)));
    }
    if let Some(v) = has("cap_drop") {
        put("cap_drop", J::Arr(strings(v)));
    }
    if let Some(c) = has("cpus").and_then(|c| text(c).parse::<Cpus>().ok()) {
        put("cpus", cpus(c));
    }
    if let Some(n) = svc.cpu_shares {
        put("cpu_shares", J::Int(n));
    }
    put(
        "command",
        match &svc.command {
            None => J::Null,
            Some(c) => J::Arr(c.iter().map(|x| s(x)).collect()),
        },
    );
    if let Some(c) = has("configs") {
        put("configs", file_refs(c, false));
    }
    if let Some(n) = &svc.container_name {
        put("container_name", s(n));
    }
    if !svc.depends_on.is_empty() {
        put(
            "depends_on",
            J::Obj(
                svc.depends_on
                    .iter()
                    .map(|(k, d)| {
                        let cond = serde_json::to_value(&d.condition)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default();
                        let mut o = vec![("condition".to_string(), s(&cond))];
                        if d.restart {
                            o.push(("restart".into(), J::Bool(true)));
                        }
                        o.push(("required".into(), J::Bool(d.required)));
                        (k.clone(), J::Obj(o))
                    })
                    .collect(),
            ),
        );
    }
    if let Some(d) = has("deploy") {
        put("deploy", deploy(d));
    }
    if !svc.devices.is_empty() {
        put(
            "devices",
            J::Arr(
                svc.devices
                    .iter()
                    .map(|d| {
                        let parts: Vec<&str> = d.split(':').collect();
                        let (src, tgt, perm) = match parts.as_slice() {
                            [a] => (*a, *a, "rwm"),
                            [a, b] => (*a, *b, "rwm"),
                            [a, b, c, ..] => (*a, *b, *c),
                            [] => ("", "", "rwm"),
                        };
                        J::Obj(vec![
                            ("source".into(), s(src)),
                            ("target".into(), s(tgt)),
                            ("permissions".into(), s(perm)),
                        ])
                    })
                    .collect(),
            ),
        );
    }
    if let Some(v) = has("dns") {
        put("dns", J::Arr(strings(v)));
    }
    if let Some(v) = has("dns_search") {
        put("dns_search", J::Arr(strings(v)));
    }
    if let Some(v) = &svc.domainname {
        put("domainname", s(v));
    }
    put(
        "entrypoint",
        match &svc.entrypoint {
            None => J::Null,
            Some(c) => J::Arr(c.iter().map(|x| s(x)).collect()),
        },
    );
    // env_file's variables under environment's; a bare name resolved from the project's variables
    // (null when it has none: compose-go 2.4 keeps it).
    let mut environment: BTreeMap<String, Option<String>> = BTreeMap::new();
    if has("env_file").is_some() {
        for (k, v) in &svc.environment {
            environment.insert(k.clone(), Some(v.clone()));
        }
    }
    if let Some(e) = has("environment") {
        for (k, v) in key_values(e) {
            let v = v.or_else(|| env.get(&k).cloned());
            environment.insert(k, v);
        }
    }
    if !environment.is_empty() {
        put(
            "environment",
            J::Obj(
                environment
                    .into_iter()
                    .map(|(k, v)| (k, v.map(J::Str).unwrap_or(J::Null)))
                    .collect(),
            ),
        );
    }
    if let Some(e) = has("expose") {
        put("expose", J::Arr(strings(e)));
    }
    if !svc.extra_hosts.is_empty() {
        let mut hosts: Vec<String> = svc
            .extra_hosts
            .iter()
            .map(|h| {
                let (host, ip) = h.split_once(':').unwrap_or((h, ""));
                format!("{host}={ip}")
            })
            .collect();
        hosts.sort();
        put("extra_hosts", J::Arr(hosts.iter().map(|h| s(h)).collect()));
    }
    if let Some(g) = has("group_add") {
        put("group_add", J::Arr(strings(g)));
    }
    if let Some(h) = &svc.hostname {
        put("hostname", s(h));
    }
    if let Some(h) = has("healthcheck") {
        put("healthcheck", healthcheck(h));
    }
    put("image", s(&svc.image));
    if let Some(i) = svc.init {
        put("init", J::Bool(i));
    }
    if let Some(v) = &svc.ipc {
        put("ipc", s(v));
    }
    if let Some(l) = has("labels") {
        put("labels", string_obj(l));
    }
    if let Some(l) = has("logging") {
        let mut o = Vec::new();
        if let Some(d) = l.get("driver").filter(|d| !d.is_null()) {
            o.push(("driver".to_string(), s(&text(d))));
        }
        if let Some(opts) = l.get("options").filter(|d| !d.is_null()) {
            o.push(("options".to_string(), string_obj(opts)));
        }
        put("logging", J::Obj(o));
    }
    if let Some(b) = has("mem_limit").and_then(|c| text(c).parse::<Bytes>().ok()) {
        put("mem_limit", bytes_str(b));
    }
    if let Some(b) = has("mem_reservation").and_then(|c| text(c).parse::<Bytes>().ok()) {
        put("mem_reservation", bytes_str(b));
    }
    if let Some(m) = &svc.network_mode {
        put("network_mode", s(m));
    }
    match has("networks") {
        Some(n) => put("networks", networks(n)),
        None if svc.network_mode.is_none() => {
            put("networks", J::Obj(vec![("default".into(), J::Null)]))
        }
        None => {}
    }
    if let Some(v) = svc.oom_score_adj {
        put("oom_score_adj", J::Int(v));
    }
    if let Some(v) = &svc.pid {
        put("pid", s(v));
    }
    if let Some(p) = has("pids_limit").and_then(|p| text(p).parse::<i64>().ok()) {
        put("pids_limit", J::Int(p));
    }
    if let Some(v) = &svc.platform {
        put("platform", s(v));
    }
    if let Some(p) = has("ports") {
        put("ports", ports(p));
    }
    if svc.privileged {
        put("privileged", J::Bool(true));
    }
    if has("read_only").is_some_and(bool_of) {
        put("read_only", J::Bool(true));
    }
    if let Some(r) = has("restart") {
        put("restart", s(&text(r)));
    }
    if let Some(v) = &svc.runtime {
        put("runtime", s(v));
    }
    if let Some(sec) = has("secrets") {
        put("secrets", file_refs(sec, true));
    }
    if let Some(v) = has("security_opt") {
        put("security_opt", J::Arr(strings(v)));
    }
    if let Some(b) = svc.shm_size {
        put("shm_size", bytes_str(b));
    }
    if svc.stdin_open {
        put("stdin_open", J::Bool(true));
    }
    if let Some(d) = svc.stop_grace_period {
        put("stop_grace_period", s(&go_duration(d)));
    }
    if let Some(v) = &svc.stop_signal {
        put("stop_signal", s(v));
    }
    if let Some(v) = has("sysctls") {
        put("sysctls", string_obj(v));
    }
    if let Some(v) = has("tmpfs") {
        put("tmpfs", J::Arr(strings(v)));
    }
    if svc.tty {
        put("tty", J::Bool(true));
    }
    if !svc.ulimits.is_empty() {
        put(
            "ulimits",
            J::Obj(
                svc.ulimits
                    .iter()
                    .map(|(k, u)| {
                        let single = node
                            .get("ulimits")
                            .and_then(|x| x.get(k))
                            .is_some_and(|x| x.scalar().is_some());
                        let v = if single {
                            J::Int(u.soft)
                        } else {
                            J::Obj(vec![
                                ("soft".into(), J::Int(u.soft)),
                                ("hard".into(), J::Int(u.hard)),
                            ])
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
        );
    }
    if let Some(u) = &svc.user {
        put("user", s(u));
    }
    if let Some(v) = has("volumes") {
        put("volumes", volumes(v, dir));
    }
    if let Some(w) = &svc.working_dir {
        put("working_dir", s(w));
    }
    let _ = compose;
    let mut out = String::new();
    J::Obj(f).write(&mut out);
    out
}

/// A service's `secrets` or `configs`; a secret's target defaults to `/run/secrets/NAME`.
fn file_refs(n: &Node, secret: bool) -> J {
    let target = |source: &str, given: Option<String>| -> Option<String> {
        match given {
            Some(t) if secret && !t.starts_with('/') => Some(format!("/run/secrets/{t}")),
            Some(t) => Some(t),
            None if secret => Some(format!("/run/secrets/{source}")),
            None => None,
        }
    };
    J::Arr(
        n.items()
            .unwrap_or_default()
            .iter()
            .map(|i| match &i.value {
                Value::Scalar(v, _) => {
                    let mut o = vec![("source".to_string(), s(v))];
                    if let Some(t) = target(v, None) {
                        o.push(("target".into(), s(&t)));
                    }
                    J::Obj(o)
                }
                _ => {
                    let mut o = Vec::new();
                    let source = i.get("source").map(text).unwrap_or_default();
                    o.push(("source".to_string(), s(&source)));
                    let given = i.get("target").filter(|v| !v.is_null()).map(text);
                    if let Some(t) = target(&source, given) {
                        o.push(("target".into(), s(&t)));
                    }
                    for k in ["uid", "gid"] {
                        if let Some(v) = i.get(k).filter(|v| !v.is_null()) {
                            o.push((k.to_string(), s(&text(v))));
                        }
                    }
                    if let Some(m) = i.get("mode").and_then(|m| {
                        let t = text(m);
                        match t.strip_prefix("0o").or_else(|| t.strip_prefix('0')) {
                            Some(oct) if !oct.is_empty() => i64::from_str_radix(oct, 8).ok(),
                            _ => t.parse::<i64>().ok(),
                        }
                    }) {
                        o.push(("mode".into(), J::Int(m)));
                    }
                    J::Obj(o)
                }
            })
            .collect(),
    )
}

fn healthcheck(h: &Node) -> J {
    let mut o = Vec::new();
    if let Some(t) = h.get("test").filter(|t| !t.is_null()) {
        let test = match &t.value {
            Value::Scalar(v, _) => vec![s("CMD-SHELL"), s(v)],
            _ => strings(t),
        };
        o.push(("test".to_string(), J::Arr(test)));
    }
    for k in ["timeout", "interval"] {
        if let Some(d) = h.get(k).and_then(|d| text(d).parse::<Duration>().ok()) {
            o.push((k.to_string(), s(&go_duration(d))));
        }
    }
    if let Some(r) = h.get("retries").and_then(|r| text(r).parse::<i64>().ok()) {
        o.push(("retries".into(), J::Int(r)));
    }
    for k in ["start_period", "start_interval"] {
        if let Some(d) = h.get(k).and_then(|d| text(d).parse::<Duration>().ok()) {
            o.push((k.to_string(), s(&go_duration(d))));
        }
    }
    if h.get("disable").is_some_and(bool_of) {
        o.push(("disable".into(), J::Bool(true)));
    }
    J::Obj(o)
}

fn networks(n: &Node) -> J {
    let mut out: BTreeMap<String, J> = BTreeMap::new();
    match &n.value {
        Value::Seq(items) => {
            for i in items {
                out.insert(text(i), J::Null);
            }
        }
        Value::Map(m) => {
            for (k, v) in m {
                let j = if v.is_null() {
                    J::Null
                } else {
                    let mut o = Vec::new();
                    if let Some(p) = v.get("priority").and_then(|p| text(p).parse::<i64>().ok()) {
                        if p != 0 {
                            o.push(("priority".into(), J::Int(p)));
                        }
                    }
                    if let Some(a) = v.get("aliases").filter(|a| !a.is_null()) {
                        o.push(("aliases".into(), J::Arr(strings(a))));
                    }
                    for key in ["ipv4_address", "ipv6_address"] {
                        if let Some(x) = v.get(key).filter(|x| !x.is_null()) {
                            o.push((key.into(), s(&text(x))));
                        }
                    }
                    J::Obj(o)
                };
                out.insert(text(k), j);
            }
        }
        _ => {}
    }
    J::Obj(out.into_iter().collect())
}

/// One port entry as compose-go writes it; a short-syntax string may give several, sorted as
/// Compose sorts them (by `port/protocol` as text).
fn ports(n: &Node) -> J {
    let mut out = Vec::new();
    for item in n.items().unwrap_or_default() {
        match &item.value {
            Value::Scalar(spec, _) => {
                let Ok(mut ps) = super::ports::parse(item) else {
                    continue;
                };
                ps.sort_by_key(|p| format!("{}/{}", p.target, p.protocol));
                let raw_published = short_published(spec);
                for p in ps {
                    let mut o = vec![("mode".to_string(), s("ingress"))];
                    if let Some(ip) = &p.host_ip {
                        o.push(("host_ip".into(), s(ip)));
                    }
                    o.push(("target".into(), J::Int(p.target.into())));
                    match (&raw_published, p.published) {
                        (Some(r), _) if r.contains('-') && p.published.is_none() => {
                            o.push(("published".into(), s(r)))
                        }
                        (_, Some(pp)) => o.push(("published".into(), s(&pp.to_string()))),
                        _ => {}
                    }
                    o.push(("protocol".into(), s(&p.protocol)));
                    out.push(J::Obj(o));
                }
            }
            _ => {
                let field = |k: &str| item.get(k).filter(|v| !v.is_null()).map(text);
                let mut o = Vec::new();
                if let Some(v) = field("name") {
                    o.push(("name".to_string(), s(&v)));
                }
                o.push((
                    "mode".to_string(),
                    s(&field("mode").unwrap_or_else(|| "ingress".into())),
                ));
                if let Some(v) = field("host_ip") {
                    o.push(("host_ip".into(), s(&v)));
                }
                o.push((
                    "target".into(),
                    J::Int(field("target").and_then(|t| t.parse().ok()).unwrap_or(0)),
                ));
                if let Some(v) = field("published") {
                    o.push(("published".into(), s(&v)));
                }
                o.push((
                    "protocol".into(),
                    s(&field("protocol")
                        .map(|p| p.to_ascii_lowercase())
                        .unwrap_or_else(|| "tcp".into())),
                ));
                if let Some(v) = field("app_protocol") {
                    o.push(("app_protocol".into(), s(&v)));
                }
                out.push(J::Obj(o));
            }
        }
    }
    J::Arr(out)
}

/// The host part of a short port spec, when it has one.
fn short_published(spec: &str) -> Option<String> {
    let rest = spec.rsplit_once('/').map(|(r, _)| r).unwrap_or(spec);
    let rest = match rest.strip_prefix('[') {
        Some(after) => after.split_once("]:").map(|(_, t)| t)?,
        None => rest,
    };
    let parts: Vec<&str> = rest.split(':').collect();
    match parts.len() {
        2 => Some(parts[0].to_string()).filter(|p| !p.is_empty()),
        3 => Some(parts[1].to_string()).filter(|p| !p.is_empty()),
        _ => None,
    }
}

fn volumes(n: &Node, dir: &Path) -> J {
    let abs = |p: &str| -> String {
        let p = if let Some(rest) = p.strip_prefix('~') {
            format!(
                "{}{rest}",
                std::env::var("HOME").unwrap_or_else(|_| "/root".into())
            )
        } else {
            p.to_string()
        };
        if p.starts_with('/') {
            p
        } else {
            super::normalize(&dir.join(&p)).display().to_string()
        }
    };
    let mut out = Vec::new();
    for item in n.items().unwrap_or_default() {
        match &item.value {
            Value::Scalar(spec, _) => {
                let parts: Vec<&str> = spec.split(':').collect();
                let (source, target, mode) = match parts.as_slice() {
                    [t] => ("", *t, ""),
                    [a, b] => (*a, *b, ""),
                    [a, b, c, ..] => (*a, *b, *c),
                    [] => continue,
                };
                let bind =
                    source.starts_with('.') || source.starts_with('/') || source.starts_with('~');
                let mut o = vec![("type".to_string(), s(if bind { "bind" } else { "volume" }))];
                if !source.is_empty() {
                    o.push((
                        "source".into(),
                        s(&if bind { abs(source) } else { source.into() }),
                    ));
                }
                o.push(("target".into(), s(&clean(target))));
                if mode.split(',').any(|m| m == "ro") {
                    o.push(("read_only".into(), J::Bool(true)));
                }
                if bind {
                    o.push((
                        "bind".into(),
                        J::Obj(vec![("create_host_path".into(), J::Bool(true))]),
                    ));
                } else {
                    o.push(("volume".into(), J::Obj(vec![])));
                }
                out.push(J::Obj(o));
            }
            _ => {
                let field = |k: &str| item.get(k).filter(|v| !v.is_null()).map(text);
                let kind = field("type").unwrap_or_else(|| "volume".into());
                let mut o = vec![("type".to_string(), s(&kind))];
                if let Some(src) = field("source") {
                    o.push((
                        "source".into(),
                        s(&if kind == "bind" { abs(&src) } else { src }),
                    ));
                }
                if let Some(t) = field("target") {
                    o.push(("target".into(), s(&clean(&t))));
                }
                if item.get("read_only").is_some_and(bool_of) {
                    o.push(("read_only".into(), J::Bool(true)));
                }
                if let Some(b) = item.get("bind").filter(|b| !b.is_null()) {
                    let mut bo = Vec::new();
                    if b.get("create_host_path").is_some_and(bool_of) {
                        bo.push(("create_host_path".to_string(), J::Bool(true)));
                    }
                    o.push(("bind".into(), J::Obj(bo)));
                }
                if let Some(v) = item.get("volume") {
                    if !v.is_null() || kind == "volume" {
                        o.push(("volume".into(), J::Obj(vec![])));
                    }
                }
                if let Some(t) = item.get("tmpfs").filter(|b| !b.is_null()) {
                    let mut to = Vec::new();
                    if let Some(size) = t.get("size").and_then(|x| text(x).parse::<Bytes>().ok()) {
                        to.push(("size".to_string(), bytes_str(size)));
                    }
                    if let Some(m) = t.get("mode").and_then(|x| text(x).parse::<i64>().ok()) {
                        to.push(("mode".to_string(), J::Int(m)));
                    }
                    o.push(("tmpfs".into(), J::Obj(to)));
                }
                out.push(J::Obj(o));
            }
        }
    }
    J::Arr(out)
}

fn clean(p: &str) -> String {
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.to_string()
    }
}

fn deploy(d: &Node) -> J {
    let mut o = Vec::new();
    if let Some(m) = d.get("mode").filter(|x| !x.is_null()) {
        o.push(("mode".to_string(), s(&text(m))));
    }
    if let Some(l) = d.get("labels").filter(|x| !x.is_null()) {
        o.push(("labels".into(), string_obj(l)));
    }
    let mut res = Vec::new();
    if let Some(r) = d.get("resources") {
        for k in ["limits", "reservations"] {
            if let Some(l) = r.get(k).filter(|x| !x.is_null()) {
                let mut lo = Vec::new();
                if let Some(c) = l.get("cpus").and_then(|c| text(c).parse::<Cpus>().ok()) {
                    lo.push(("cpus".to_string(), cpus(c)));
                }
                if let Some(m) = l.get("memory").and_then(|c| text(c).parse::<Bytes>().ok()) {
                    lo.push(("memory".to_string(), bytes_str(m)));
                }
                if let Some(p) = l.get("pids").and_then(|c| text(c).parse::<i64>().ok()) {
                    lo.push(("pids".to_string(), J::Int(p)));
                }
                res.push((k.to_string(), J::Obj(lo)));
            }
        }
    }
    o.push(("resources".into(), J::Obj(res)));
    if let Some(rp) = d.get("restart_policy").filter(|x| !x.is_null()) {
        let mut ro = Vec::new();
        if let Some(c) = rp.get("condition") {
            ro.push(("condition".to_string(), s(&text(c))));
        }
        if let Some(x) = rp
            .get("delay")
            .and_then(|c| text(c).parse::<Duration>().ok())
        {
            ro.push(("delay".to_string(), s(&go_duration(x))));
        }
        if let Some(x) = rp
            .get("max_attempts")
            .and_then(|c| text(c).parse::<i64>().ok())
        {
            ro.push(("max_attempts".to_string(), J::Int(x)));
        }
        if let Some(x) = rp
            .get("window")
            .and_then(|c| text(c).parse::<Duration>().ok())
        {
            ro.push(("window".to_string(), s(&go_duration(x))));
        }
        o.push(("restart_policy".into(), J::Obj(ro)));
    }
    let mut placement = Vec::new();
    if let Some(p) = d.get("placement") {
        if let Some(c) = p.get("constraints").filter(|x| !x.is_null()) {
            placement.push(("constraints".to_string(), J::Arr(strings(c))));
        }
    }
    o.push(("placement".into(), J::Obj(placement)));
    if let Some(m) = d.get("endpoint_mode").filter(|x| !x.is_null()) {
        o.push(("endpoint_mode".to_string(), s(&text(m))));
    }
    J::Obj(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_prints_them() {
        let d = |s: &str| go_duration(s.parse().unwrap());
        assert_eq!(d("30s"), "30s");
        assert_eq!(d("90s"), "1m30s");
        assert_eq!(d("1m"), "1m0s");
        assert_eq!(d("1h"), "1h0m0s");
        assert_eq!(d("500ms"), "500ms");
        assert_eq!(d("1500ms"), "1.5s");
    }

    #[test]
    fn strings_are_escaped_as_go_escapes_them() {
        let mut out = String::new();
        go_string("a<b>&\"\n\u{1}", &mut out);
        assert_eq!(out, r#""a\u003cb\u003e\u0026\"\n\u0001""#);
    }
}
