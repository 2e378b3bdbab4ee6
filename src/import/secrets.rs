//! Secrets lifted out of containers: one secret per value, a name per secret, and the places where
//! one name holds different values.
//!
//! Takes: every [`Candidate`] the containers hold (a secret-looking variable, a password inside a
//! URL, a secret file's content), each with the name it proposes, and the user's `--secret-from`
//! choices. Gives: a [`Resolution`]: the secrets by name with their values, the secret each
//! candidate becomes, the names whose containers disagree on the value (a [`Disagreement`]: the
//! containers grouped by value, never the values) and the choices that settled one. Also the
//! `--env-out` file's text ([`env_file`]), which dotenvy reads back byte for byte.
//!
//! Nothing here prints a value; the caller redacts every value from every output.

use std::collections::{BTreeMap, BTreeSet};

/// Where a candidate's value was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A plain environment variable.
    Env { var: String },
    /// A file inside the container that a `*_FILE` (or `*_PATH`) variable names; `host` is the
    /// host path bind-mounted there, if any.
    File {
        var: String,
        path: String,
        host: Option<String>,
    },
    /// The password of a URL in a variable.
    Url { var: String, host: String },
}

impl Source {
    pub fn var(&self) -> &str {
        match self {
            Source::Env { var } | Source::File { var, .. } | Source::Url { var, .. } => var,
        }
    }
}

/// A secret value one container holds.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub container: String,
    /// The name it proposes for its secret.
    pub name: String,
    /// Lower wins when one value is proposed under several names: 0 for a name a previous deploy
    /// gave (`/run/secrets/NAME`), 1 for a database password (`db_password`), 2 for a variable's.
    pub priority: u8,
    pub value: String,
    pub source: Source,
}

/// `--secret-from [SECRET=]CONTAINER`: the container whose value a secret takes when containers
/// disagree (every such secret the container holds, without `SECRET=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFrom {
    pub secret: Option<String>,
    pub container: String,
}

impl std::str::FromStr for SecretFrom {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (secret, container) = match s.split_once('=') {
            Some((n, c)) => (Some(n.to_string()), c.to_string()),
            None => (None, s.to_string()),
        };
        if container.is_empty() || secret.as_deref() == Some("") {
            return Err(format!("`{s}` is not CONTAINER or SECRET=CONTAINER"));
        }
        Ok(SecretFrom { secret, container })
    }
}

/// One name, several values: the containers grouped by the value they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    pub secret: String,
    /// Each group: the containers holding one value (with the variable), largest group first.
    pub groups: Vec<Vec<(String, String)>>,
    /// The container whose value was chosen (`--secret-from`), if any.
    pub chosen: Option<String>,
}

#[derive(Debug, Default)]
pub struct Resolution {
    /// Secret name -> value.
    pub secrets: BTreeMap<String, String>,
    /// For each candidate (by index), the secret it becomes (`None`: unresolved disagreement).
    pub assigned: Vec<Option<String>>,
    pub disagreements: Vec<Disagreement>,
    /// `--secret-from` choices that matched no disagreement (reported, not fatal).
    pub unused_choices: Vec<String>,
}

impl Resolution {
    /// Disagreements that no `--secret-from` settled.
    pub fn unresolved(&self) -> impl Iterator<Item = &Disagreement> {
        self.disagreements.iter().filter(|d| d.chosen.is_none())
    }
}

/// Groups candidates by value, names each group, and settles names held with different values
/// by the user's choices.
pub fn resolve(cands: &[Candidate], choices: &[SecretFrom]) -> Resolution {
    // One group per distinct value, in a stable order.
    let mut by_value: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, c) in cands.iter().enumerate() {
        by_value.entry(c.value.as_str()).or_default().push(i);
    }
    // Each group's name: its best proposal.
    let mut named: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut group_name: BTreeMap<&str, String> = BTreeMap::new();
    for (value, members) in &by_value {
        let name = members
            .iter()
            .map(|i| (cands[*i].priority, cands[*i].name.clone()))
            .min()
            .map(|(_, n)| n)
            .unwrap_or_default();
        named.entry(name.clone()).or_default().push(value);
        group_name.insert(value, name);
    }
    let mut r = Resolution {
        assigned: vec![None; cands.len()],
        ..Default::default()
    };
    let mut used_choices: BTreeSet<usize> = BTreeSet::new();
    for (name, values) in &named {
        if values.len() == 1 {
            r.secrets.insert(name.clone(), values[0].to_string());
            for i in &by_value[values[0]] {
                r.assigned[*i] = Some(name.clone());
            }
            continue;
        }
        // Several values under one name: the containers, grouped, largest group first.
        let mut groups: Vec<(&str, Vec<(String, String)>)> = values
            .iter()
            .map(|v| {
                let mut g: Vec<(String, String)> = by_value[v]
                    .iter()
                    .map(|i| {
                        (
                            cands[*i].container.clone(),
                            cands[*i].source.var().to_string(),
                        )
                    })
                    .collect();
                g.sort();
                g.dedup();
                (*v, g)
            })
            .collect();
        groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.1.cmp(&b.1)));
        let choice = choices.iter().enumerate().find(|(_, c)| {
            c.secret.as_ref().is_none_or(|s| s == name)
                && groups
                    .iter()
                    .any(|(_, g)| g.iter().any(|(cn, _)| *cn == c.container))
        });
        let mut d = Disagreement {
            secret: name.clone(),
            groups: groups.iter().map(|(_, g)| g.clone()).collect(),
            chosen: None,
        };
        if let Some((ci, c)) = choice {
            used_choices.insert(ci);
            let value = groups
                .iter()
                .find(|(_, g)| g.iter().any(|(cn, _)| *cn == c.container))
                .map(|(v, _)| *v)
                .expect("found above");
            r.secrets.insert(name.clone(), value.to_string());
            for v in values {
                for i in &by_value[v] {
                    r.assigned[*i] = Some(name.clone());
                }
            }
            d.chosen = Some(c.container.clone());
        }
        r.disagreements.push(d);
    }
    for (i, c) in choices.iter().enumerate() {
        if !used_choices.contains(&i) {
            r.unused_choices.push(match &c.secret {
                Some(s) => format!("{s}={}", c.container),
                None => c.container.clone(),
            });
        }
    }
    r
}

/// The variable that carries a secret in the `--env-out` file: its name, uppercased.
pub fn env_var(secret: &str) -> String {
    secret.to_ascii_uppercase().replace(['-', '.'], "_")
}

/// The `--env-out` file: one `VAR=value` line per secret, quoted so that dotenvy (fedgen's and
/// Compose's reader) gives the value back unchanged.
pub fn env_file(secrets: &BTreeMap<String, String>, header: &str) -> String {
    let mut out = String::new();
    for line in header.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    for (name, value) in secrets {
        out.push_str(&env_var(name));
        out.push('=');
        out.push_str(&quote(value));
        out.push('\n');
    }
    out
}

/// A value as a dotenv literal: single-quoted (no escapes, no substitution) unless it holds a
/// single quote or a line break; then double-quoted with `\`, `"`, `$` and line breaks escaped.
fn quote(v: &str) -> String {
    if !v.contains(['\'', '\n', '\r']) {
        return format!("'{v}'");
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A secret name from a variable's: `JWT_SECRET` -> `jwt_secret`.
pub fn name_from_var(var: &str) -> String {
    let n: String = var
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let n = n.trim_matches('_').to_string();
    if n.is_empty() {
        "secret".into()
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(container: &str, var: &str, name: &str, value: &str) -> Candidate {
        Candidate {
            container: container.into(),
            name: name.into(),
            priority: 2,
            value: value.into(),
            source: Source::Env { var: var.into() },
        }
    }

    #[test]
    fn one_value_one_secret_and_different_values_are_a_disagreement() {
        let cands = vec![
            cand("a", "JWT_SECRET", "jwt_secret", "v1"),
            cand("b", "JWT_SECRET", "jwt_secret", "v1"),
            cand("c", "JWT_SECRET", "jwt_secret", "v1"),
            cand("d", "JWT_SECRET", "jwt_secret", "v2"),
            cand("db", "POSTGRES_PASSWORD", "db_password", "pw"),
            Candidate {
                priority: 1,
                ..cand("a", "DATABASE_URL", "db_password", "pw")
            },
        ];
        let r = resolve(&cands, &[]);
        assert_eq!(r.secrets.get("db_password").map(String::as_str), Some("pw"));
        assert!(!r.secrets.contains_key("jwt_secret"));
        let d: Vec<&Disagreement> = r.unresolved().collect();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].secret, "jwt_secret");
        assert_eq!(d[0].groups[0].len(), 3, "the larger group first");
        assert_eq!(
            d[0].groups[1],
            vec![("d".to_string(), "JWT_SECRET".to_string())]
        );

        let r = resolve(
            &cands,
            &[SecretFrom {
                secret: None,
                container: "d".into(),
            }],
        );
        assert_eq!(r.secrets["jwt_secret"], "v2");
        assert!(r.unresolved().next().is_none());
        assert!(r.assigned.iter().all(|a| a.is_some()));
        let r = resolve(&cands, &["jwt_secret=b".parse().unwrap()]);
        assert_eq!(r.secrets["jwt_secret"], "v1");
        let r = resolve(&cands, &["x=b".parse().unwrap()]);
        assert_eq!(r.unused_choices, vec!["x=b"]);
    }

    #[test]
    fn a_shared_value_takes_the_best_name() {
        let cands = vec![
            cand("a", "PGPASSWORD", "pgpassword", "pw"),
            Candidate {
                priority: 1,
                ..cand("db", "POSTGRES_PASSWORD", "db_password", "pw")
            },
        ];
        let r = resolve(&cands, &[]);
        assert_eq!(r.secrets.keys().collect::<Vec<_>>(), vec!["db_password"]);
        assert_eq!(r.assigned, vec![Some("db_password".into()); 2]);
    }

    #[test]
    fn the_env_file_reads_back_unchanged() {
        let values = [
            "plain",
            "with space and # hash",
            "quote ' single",
            "dollar $HOME and ${X} and \\ backslash",
            "both ' and \" and $Y",
            "line\nbreak",
            "=equals=",
        ];
        let secrets: BTreeMap<String, String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("s{i}"), v.to_string()))
            .collect();
        let text = env_file(&secrets, "made by a test");
        let back: BTreeMap<String, String> = dotenvy::from_read_iter(text.as_bytes())
            .map(|r| r.unwrap())
            .collect();
        for (name, v) in &secrets {
            assert_eq!(back.get(&env_var(name)), Some(v), "{name}: {text}");
        }
    }

    #[test]
    fn names_from_variables() {
        assert_eq!(name_from_var("JWT_SECRET"), "jwt_secret");
        assert_eq!(name_from_var("API.KEY"), "api_key");
        assert_eq!(env_var("db-password"), "DB_PASSWORD");
    }
}
