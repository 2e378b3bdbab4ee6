//! The stack spec import writes: the drafts as YAML, in the order people read a spec.
//!
//! Takes: the project name, the drafts, the top-level declarations and the secrets' sources.
//! Gives: the spec's text, the same bytes for the same input (maps sorted, keys in a fixed order),
//! with every string escaped for the spec's reader: `$` as `$$` (values are `${VAR}`-interpolated)
//! and template syntax in an environment value inside a raw block (`env:` values may call
//! helpers); scalars that a YAML 1.1 reader would misread are quoted, as in compose files.

use super::draft::{Decls, Draft, EnvValue};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Where a secret of the spec comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretDecl {
    /// The `--env-out` file's variable.
    Env(String),
    /// Made by fedgen (a password nothing needs to know, e.g. of an initialized database).
    Generate(usize),
}

/// An environment value as the spec's reader must see it.
fn env_text(v: &EnvValue) -> String {
    match v {
        EnvValue::Template(t) => t.clone(),
        EnvValue::Literal(t) if t.contains("{{") || t.contains("{%") || t.contains("{#") => {
            // The raw block cannot hold its own end tag: split it out.
            let parts: Vec<String> = t
                .split("{% endraw %}")
                .map(|p| format!("{{% raw %}}{p}{{% endraw %}}"))
                .collect();
            parts.join("{{ '{% endraw %}' }}")
        }
        EnvValue::Literal(t) => t.clone(),
    }
}

fn service(d: &Draft, with_env: bool) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!(d.kind));
    m.insert("image".into(), json!(d.image));
    if d.allow_latest {
        m.insert("allow_latest".into(), json!(true));
    }
    if let Some(a) = &d.adopt {
        m.insert("adopt".into(), json!(a));
    }
    let kind_port = match d.kind.as_str() {
        "http" => Some(8000),
        "static-web" => Some(80),
        _ => None,
    };
    if d.port.is_some() && d.port != kind_port {
        m.insert("port".into(), json!(d.port));
    }
    let publish: Vec<String> = d
        .bindings
        .iter()
        .map(|(ip, host, target)| match ip {
            // 127.0.0.1 is where fedgen publishes by default.
            Some(ip) if ip != "127.0.0.1" => format!("{ip}:{host}:{target}"),
            _ if Some(*target) == d.port.or(kind_port) => host.to_string(),
            _ => format!("{host}:{target}"),
        })
        .collect();
    if !publish.is_empty() {
        m.insert("publish".into(), json!(publish));
    }
    if !d.uses.is_empty() {
        m.insert("uses".into(), json!(d.uses));
    }
    if d.egress {
        m.insert("egress".into(), json!(true));
    }
    if !d.secrets.is_empty() {
        m.insert("secrets".into(), json!(d.secrets));
    }
    if with_env && !d.env.is_empty() {
        let env: Map<String, Value> = d
            .env
            .iter()
            .map(|(k, v)| (k.clone(), json!(env_text(v))))
            .collect();
        m.insert("env".into(), Value::Object(env));
    }
    if let Some(c) = &d.entrypoint {
        m.insert("entrypoint".into(), json!(c));
    }
    if let Some(c) = &d.command {
        m.insert("command".into(), json!(c));
    }
    if let Some(u) = &d.user {
        m.insert("user".into(), json!(u));
    }
    if let Some(r) = &d.restart {
        m.insert("restart".into(), json!(r.to_string()));
    }
    for (k, v) in &d.tuned {
        m.insert(k.clone(), v.clone());
    }
    if let Some(data) = &d.data {
        m.insert("data".into(), json!(data));
    }
    if !d.volumes.is_empty() {
        m.insert("volumes".into(), json!(d.volumes));
    }
    for (k, v) in &d.params {
        m.insert(k.clone(), v.clone());
    }
    Value::Object(m)
}

/// Every string in `v` with `$` doubled (the spec interpolates `${VAR}` in every value).
fn escape_dollars(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        Value::Array(a) => a.iter_mut().for_each(escape_dollars),
        Value::Object(o) => o.values_mut().for_each(escape_dollars),
        _ => {}
    }
}

/// The spec's text. `with_env: false` leaves every service's `env:` out (import compiles that to
/// learn what a kind sets by itself).
pub fn spec(
    project: &str,
    drafts: &[Draft],
    decls: &Decls,
    secrets: &BTreeMap<String, SecretDecl>,
    header: &str,
    with_env: bool,
) -> String {
    let mut top = Map::new();
    top.insert("name".into(), json!(project));
    if decls.allow_host_paths {
        top.insert("allow_host_paths".into(), json!(true));
    }
    if !secrets.is_empty() {
        let s: Map<String, Value> = secrets
            .iter()
            .map(|(name, d)| {
                let v = match d {
                    SecretDecl::Env(var) => json!({ "env": var }),
                    SecretDecl::Generate(n) => json!({ "generate": n }),
                };
                (name.clone(), v)
            })
            .collect();
        top.insert("secrets".into(), Value::Object(s));
    }
    if !decls.volumes.is_empty() {
        let v: Map<String, Value> = decls
            .volumes
            .iter()
            .map(|(k, (external, name))| {
                let mut m = Map::new();
                if *external {
                    m.insert("external".into(), json!(true));
                }
                if let Some(n) = name {
                    m.insert("name".into(), json!(n));
                }
                (k.clone(), Value::Object(m))
            })
            .collect();
        top.insert("volumes".into(), Value::Object(v));
    }
    let mut services: Vec<&Draft> = drafts.iter().collect();
    services.sort_by(|a, b| a.service.cmp(&b.service));
    let s: Map<String, Value> = services
        .iter()
        .map(|d| (d.service.clone(), service(d, with_env)))
        .collect();
    top.insert("services".into(), Value::Object(s));
    let mut doc = Value::Object(top);
    escape_dollars(&mut doc);
    let body = serde_norway::to_string(&doc).expect("a JSON value serializes as YAML");
    let body = crate::model::yaml::quote_yaml11(&body);
    let mut out = String::new();
    for line in header.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_for_the_spec_reader() {
        assert_eq!(
            env_text(&EnvValue::Literal("a {{ b }} c".into())),
            "{% raw %}a {{ b }} c{% endraw %}"
        );
        assert_eq!(
            env_text(&EnvValue::Template("{{ http_url('x') }}".into())),
            "{{ http_url('x') }}"
        );
        let mut v = json!({"a": ["x$y", {"b": "$$"}]});
        escape_dollars(&mut v);
        assert_eq!(v, json!({"a": ["x$$y", {"b": "$$$$"}]}));
    }
}
