//! Merging Compose documents as Compose merges them: several `-f` files, a service and the one it
//! `extends`, an included project into the including one.
//!
//! Takes: two located trees (the earlier and the later). Gives: one tree, in which every value
//! keeps the place it was written, so a problem found after the merge still points at a line a
//! person wrote. The rules are the Compose specification's (13-merge.md) as Compose 2 implements
//! them: mappings merge key by key, sequences append, scalars are replaced, `x-` keys are replaced
//! whole; `command`, `entrypoint` and `healthcheck.test` are replaced; `environment`, `labels` and
//! the other key=value lists merge by key; `depends_on` and `networks` merge as mappings in either
//! syntax; lists whose entries have an identity (`volumes` by target, `ports` by binding, `secrets`
//! and `configs` by target, ...) keep one entry per identity, the later one, at the earlier place;
//! a value tagged `!reset` removes the key and one tagged `!override` replaces it without merging.

use crate::yaml::{Node, Style, Value};

/// Where a node sits in a service, for the rules that depend on it (`["healthcheck", "test"]`).
type Path<'a> = &'a [&'a str];

/// The later service definition merged onto the earlier one.
pub fn service(base: &Node, over: &Node) -> Node {
    merge(base, over, &[])
}

/// A later document's top-level mapping merged onto the earlier one's.
pub fn document(base: &Node, over: &Node) -> Node {
    let (Some(b), Some(o)) = (base.entries(), over.entries()) else {
        return strip(over);
    };
    let mut out: Vec<(Node, Node)> = b.to_vec();
    for (k, v) in o {
        let key = k.scalar().unwrap_or_default();
        let pos = out.iter().position(|(ok, _)| ok.scalar() == Some(key));
        if v.tag.as_deref() == Some("reset") {
            if let Some(p) = pos {
                out.remove(p);
            }
            continue;
        }
        let merged = match (pos, key) {
            (Some(p), "services") => resources(&out[p].1, v, true),
            (Some(p), "networks" | "volumes" | "secrets" | "configs") => {
                resources(&out[p].1, v, false)
            }
            (Some(_), _) | (None, _) => strip(v),
        };
        match pos {
            Some(p) => out[p].1 = merged,
            None => out.push((k.clone(), merged)),
        }
    }
    Node {
        value: Value::Map(out),
        span: base.span,
        tag: None,
    }
}

/// `services:` (each merged with the service rules) or a resource section (merged generically).
fn resources(base: &Node, over: &Node, services: bool) -> Node {
    let (Some(b), Some(o)) = (base.entries(), over.entries()) else {
        return strip(over);
    };
    let mut out: Vec<(Node, Node)> = b.to_vec();
    for (k, v) in o {
        let key = k.scalar().unwrap_or_default();
        let pos = out.iter().position(|(ok, _)| ok.scalar() == Some(key));
        if v.tag.as_deref() == Some("reset") {
            if let Some(p) = pos {
                out.remove(p);
            }
            continue;
        }
        let merged = match pos {
            Some(p) if v.tag.as_deref() != Some("override") => {
                if services {
                    merge(&out[p].1, v, &[])
                } else {
                    merge(&out[p].1, v, &["<resource>"])
                }
            }
            _ => strip(v),
        };
        match pos {
            Some(p) => out[p].1 = merged,
            None => out.push((k.clone(), merged)),
        }
    }
    Node {
        value: Value::Map(out),
        span: base.span,
        tag: None,
    }
}

/// Removes `!reset` entries and the tags themselves from a tree that is not merged onto anything
/// (the first file, or a new key): a reset of nothing leaves nothing.
pub fn strip(n: &Node) -> Node {
    let value = match &n.value {
        Value::Map(m) => Value::Map(
            m.iter()
                .filter(|(_, v)| v.tag.as_deref() != Some("reset"))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Seq(s) => Value::Seq(
            s.iter()
                .filter(|v| v.tag.as_deref() != Some("reset"))
                .map(strip)
                .collect(),
        ),
        v => v.clone(),
    };
    Node {
        value,
        span: n.span,
        tag: None,
    }
}

/// Lists Compose merges by key (`KEY=value` or a mapping).
fn keyed(path: Path) -> bool {
    matches!(
        path,
        ["environment"]
            | ["labels"]
            | ["annotations"]
            | ["sysctls"]
            | ["extra_hosts"]
            | ["deploy", "labels"]
            | ["<resource>", "labels"]
            | ["<resource>", "driver_opts"]
            | ["logging", "options"]
    )
}

/// Lists Compose merges as mappings whatever the syntax (a list of names, or a mapping).
fn named(path: Path) -> bool {
    matches!(path, ["depends_on"] | ["networks"])
}

/// Values Compose replaces rather than merges.
fn replaced(path: Path) -> bool {
    matches!(
        path,
        ["command"] | ["entrypoint"] | ["healthcheck", "test"] | ["ulimits", _]
    ) || path.last().is_some_and(|k| k.starts_with("x-"))
}

fn merge(base: &Node, over: &Node, path: Path) -> Node {
    if over.tag.as_deref() == Some("override") || replaced(path) {
        return strip(over);
    }
    if keyed(path) {
        return merge_maps(&as_key_map(base), &as_key_map(over), path);
    }
    if named(path) {
        return merge_maps(&as_name_map(base), &as_name_map(over), path);
    }
    if path == ["logging"] {
        let driver = |n: &Node| n.get("driver").and_then(Node::scalar).map(str::to_string);
        if let (Some(a), Some(b)) = (driver(base), driver(over)) {
            if a != b {
                return strip(over);
            }
        }
    }
    match (&base.value, &over.value) {
        (Value::Map(_), Value::Map(_)) => merge_maps(base, over, path),
        (Value::Seq(b), Value::Seq(o)) => {
            let mut items: Vec<Node> = b.clone();
            for item in o.iter().filter(|v| v.tag.as_deref() != Some("reset")) {
                let item = strip(item);
                let id = identity(path, &item);
                match id.as_ref().and_then(|id| {
                    items
                        .iter()
                        .position(|x| identity(path, x).as_ref() == Some(id))
                }) {
                    Some(p) => items[p] = item,
                    None => items.push(item),
                }
            }
            Node {
                value: Value::Seq(items),
                span: base.span,
                tag: None,
            }
        }
        _ => strip(over),
    }
}

fn merge_maps(base: &Node, over: &Node, path: Path) -> Node {
    let (Some(b), Some(o)) = (base.entries(), over.entries()) else {
        return strip(over);
    };
    let mut out: Vec<(Node, Node)> = b.to_vec();
    for (k, v) in o {
        let key = k.scalar().unwrap_or_default();
        let pos = out.iter().position(|(ok, _)| ok.scalar() == Some(key));
        if v.tag.as_deref() == Some("reset") {
            if let Some(p) = pos {
                out.remove(p);
            }
            continue;
        }
        let sub: Vec<&str> = path.iter().copied().chain([key]).collect();
        let merged = match pos {
            // Below a keyed list or a named mapping, an entry's value is replaced or merged as a
            // mapping: `KEY: value` replaces, `db: {condition: ...}` merges.
            Some(p) if !keyed(path) => merge(&out[p].1, v, &sub),
            _ => strip(v),
        };
        match pos {
            Some(p) => out[p].1 = merged,
            None => out.push((k.clone(), merged)),
        }
    }
    Node {
        value: Value::Map(out),
        span: base.span,
        tag: None,
    }
}

/// `[A=1, B]` as `{A: "1", B: null}`; a mapping as it is.
fn as_key_map(n: &Node) -> Node {
    let Some(items) = n.items() else {
        return n.clone();
    };
    let entries = items
        .iter()
        .filter_map(|item| {
            let text = item.scalar()?;
            let (k, v) = match text.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (text, None),
            };
            let key = scalar(k, item);
            let value = match v {
                Some(v) => {
                    let mut s = scalar(v, item);
                    s.span = item.span.shifted(k.chars().count() + 1, v.chars().count());
                    s
                }
                None => scalar("", item),
            };
            Some((key, value))
        })
        .collect();
    Node {
        value: Value::Map(entries),
        span: n.span,
        tag: n.tag.clone(),
    }
}

/// `[db, cache]` as `{db: null, cache: null}`; a mapping as it is.
fn as_name_map(n: &Node) -> Node {
    let Some(items) = n.items() else {
        return n.clone();
    };
    let entries = items
        .iter()
        .map(|item| (item.clone(), scalar("", item)))
        .collect();
    Node {
        value: Value::Map(entries),
        span: n.span,
        tag: n.tag.clone(),
    }
}

fn scalar(text: &str, at: &Node) -> Node {
    Node {
        value: Value::Scalar(
            text.to_string(),
            if text.is_empty() {
                Style::Plain
            } else {
                Style::Quoted
            },
        ),
        span: at.span,
        tag: None,
    }
}

/// What makes two entries of a list the same entry, for the lists where Compose keeps one.
fn identity(path: Path, item: &Node) -> Option<String> {
    let field = |k: &str| item.get(k).and_then(Node::scalar).map(str::to_string);
    match path {
        ["volumes"] => match item.scalar() {
            Some(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                Some(
                    if parts.len() == 1 { parts[0] } else { parts[1] }
                        .trim_end_matches('/')
                        .to_string(),
                )
            }
            None => field("target").map(|t| t.trim_end_matches('/').to_string()),
        },
        ["secrets"] => match item.scalar() {
            Some(s) => Some(format!("/run/secrets/{s}")),
            None => {
                field("target").or_else(|| field("source").map(|s| format!("/run/secrets/{s}")))
            }
        },
        ["configs"] => match item.scalar() {
            Some(s) => Some(format!("/{s}")),
            None => field("target").or_else(|| field("source").map(|s| format!("/{s}"))),
        },
        ["ports"] => match item.scalar() {
            Some(s) => Some(s.to_string()),
            None => Some(format!(
                "{}:{}:{}/{}",
                field("host_ip").unwrap_or_else(|| "0.0.0.0".into()),
                field("published").unwrap_or_default(),
                field("target").unwrap_or_default(),
                field("protocol").unwrap_or_else(|| "tcp".into()),
            )),
        },
        ["expose"]
        | ["cap_add"]
        | ["cap_drop"]
        | ["dns"]
        | ["dns_search"]
        | ["profiles"]
        | ["tmpfs"]
        | ["env_file"]
        | ["networks", _, "aliases"] => item.scalar().map(str::to_string).or_else(|| field("path")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Sources;
    use crate::yaml::{parse, Options};

    fn tree(text: &str) -> Node {
        let mut sources = Sources::default();
        let id = sources.add("f.yml", text);
        let mut d = Vec::new();
        parse(id, &sources, Options::default(), &mut d).unwrap()
    }

    fn merged(a: &str, b: &str) -> Node {
        service(&tree(a), &tree(b))
    }

    fn scalars(n: &Node) -> Vec<String> {
        n.items()
            .unwrap()
            .iter()
            .map(|i| i.scalar().unwrap().to_string())
            .collect()
    }

    #[test]
    fn environment_merges_by_key_in_either_syntax() {
        let m = merged(
            "environment: [A=1, B=2]\n",
            "environment: {B: '3', C: '4'}\n",
        );
        let env = m.get("environment").unwrap();
        let got: Vec<(String, String)> = env
            .entries()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.scalar().unwrap().into(), v.scalar().unwrap().into()))
            .collect();
        assert_eq!(
            got,
            [("A", "1"), ("B", "3"), ("C", "4")].map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }

    #[test]
    fn lists_with_an_identity_keep_one_entry_each() {
        let m = merged("ports: ['80', '81']\n", "ports: ['80', '82']\n");
        assert_eq!(scalars(m.get("ports").unwrap()), ["80", "81", "82"]);
        let m = merged("volumes: ['./a:/data']\n", "volumes: ['./b:/data']\n");
        assert_eq!(scalars(m.get("volumes").unwrap()), ["./b:/data"]);
        let m = merged("dns: [1.1.1.1]\n", "dns: [8.8.8.8]\n");
        assert_eq!(scalars(m.get("dns").unwrap()), ["1.1.1.1", "8.8.8.8"]);
    }

    #[test]
    fn command_is_replaced_and_reset_removes() {
        let m = merged(
            "command: [a, b]\nimage: x:1\nports: ['80']\n",
            "command: [c]\nimage: !reset null\nports: !override ['81']\n",
        );
        assert_eq!(scalars(m.get("command").unwrap()), ["c"]);
        assert!(m.get("image").is_none());
        assert_eq!(scalars(m.get("ports").unwrap()), ["81"]);
    }

    #[test]
    fn depends_on_merges_across_syntaxes() {
        let m = merged(
            "depends_on: [db]\n",
            "depends_on: {cache: {condition: service_healthy}}\n",
        );
        let d = m.get("depends_on").unwrap();
        assert!(d.get("db").is_some() && d.get("cache").is_some());
    }

    #[test]
    fn logging_with_another_driver_is_replaced() {
        let m = merged(
            "logging: {driver: json-file, options: {max-size: 1m}}\n",
            "logging: {driver: local}\n",
        );
        assert!(m.get("logging").unwrap().get("options").is_none());
        let m = merged(
            "logging: {driver: json-file, options: {max-size: 1m}}\n",
            "logging: {options: {max-file: '3'}}\n",
        );
        let opts = m.get("logging").unwrap().get("options").unwrap();
        assert!(opts.get("max-size").is_some() && opts.get("max-file").is_some());
    }
}
