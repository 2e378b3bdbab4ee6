//! The variables a stack is compiled with: a `.env` file (dotenvy) under the process environment.
//!
//! Takes: an optional `.env` path and the process environment. Gives: one lookup table in which the
//! process environment wins over the file, as in Compose, plus a located diagnostic for every line
//! of the file that does not parse (all of them, not just the first).

use crate::diag::{Code, Diagnostic, Diagnostics, Sources, Span};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Default, Clone)]
pub struct Env {
    file_vars: BTreeMap<String, String>,
    process: BTreeMap<String, String>,
}

impl Env {
    /// Loads `path` (if any) and takes `process` as the environment that overrides it.
    pub fn load(
        path: Option<&Path>,
        process: impl IntoIterator<Item = (String, String)>,
        sources: &mut Sources,
        diags: &mut Diagnostics,
    ) -> Env {
        let mut env = Env {
            file_vars: BTreeMap::new(),
            process: process.into_iter().collect(),
        };
        let Some(path) = path else { return env };
        let text = match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    diags.push(
                        Diagnostic::error(
                            Code::EnvNotUtf8,
                            format!("{} is not valid UTF-8", path.display()),
                        )
                        .hint(format!(
                            "the first invalid byte is at offset {}",
                            e.utf8_error().valid_up_to()
                        )),
                    );
                    return env;
                }
            },
            Err(e) => {
                diags.push(
                    Diagnostic::error(
                        Code::EnvUnreadable,
                        format!("cannot read env file {}: {e}", path.display()),
                    )
                    .hint("pass an existing file with --env, or omit --env"),
                );
                return env;
            }
        };
        let source = sources.add(path, text.clone());
        let mut cursor = 0usize;
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            match item {
                Ok((k, v)) => {
                    env.file_vars.insert(k, v);
                }
                Err(dotenvy::Error::LineParse(line, index)) => {
                    let first = line.lines().next().unwrap_or_default();
                    let at = text[cursor..]
                        .find(first)
                        .map(|p| p + cursor)
                        .unwrap_or(cursor);
                    cursor = at + first.len();
                    let line_no = text[..at].matches('\n').count() + 1;
                    let col = line[..index.min(line.len())].chars().count() + 1;
                    diags.push(
                        Diagnostic::error(
                            Code::EnvSyntax,
                            format!("cannot parse this line of the env file: {first:?}"),
                        )
                        .at(Span::new(
                            source,
                            line_no,
                            col.min(first.chars().count().max(1)),
                            1,
                        ))
                        .hint("lines are KEY=value; quote values that contain spaces or `#`"),
                    );
                }
                Err(e) => {
                    diags.push(Diagnostic::error(
                        Code::EnvUnreadable,
                        format!("cannot read env file {}: {e}", path.display()),
                    ));
                    break;
                }
            }
        }
        env
    }

    /// Loads several files, later ones winning (as `--env-file` repeated), under `process`.
    pub fn load_all(
        paths: &[std::path::PathBuf],
        process: impl IntoIterator<Item = (String, String)>,
        sources: &mut Sources,
        diags: &mut Diagnostics,
    ) -> Env {
        let mut env = Env::load(None, process, sources, diags);
        for p in paths {
            let one = Env::load(Some(p), std::iter::empty(), sources, diags);
            env.file_vars.extend(one.file_vars);
        }
        env
    }

    /// Builds an environment from explicit maps (tests, benchmarks).
    pub fn from_maps(
        file_vars: BTreeMap<String, String>,
        process: BTreeMap<String, String>,
    ) -> Env {
        Env { file_vars, process }
    }

    /// The file's variables alone, without the process environment.
    pub fn file_vars(&self) -> &BTreeMap<String, String> {
        &self.file_vars
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.process
            .get(name)
            .or_else(|| self.file_vars.get(name))
            .cloned()
    }
}

/// Whether a variable's name says it holds a secret: PASSWORD, SECRET, TOKEN or KEY as one of its
/// `_`-separated words (`JWT_SECRET`, `API_KEY`, `PGPASSWORD`), unless it names a file holding one
/// (`*_FILE`) or is a well-known non-secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    if upper.ends_with("_FILE") || upper.ends_with("_PATH") {
        return false;
    }
    upper.split(['_', '-', '.']).any(|word| {
        matches!(
            word,
            "KEY"
                | "TOKEN"
                | "SECRET"
                | "SECRETS"
                | "PASSWORD"
                | "PASSWD"
                | "PASS"
                | "PWD"
                | "APIKEY"
        ) || word.ends_with("PASSWORD")
            || word.ends_with("SECRET")
            || word.ends_with("TOKEN")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn process_environment_wins_over_file() {
        let env = Env::from_maps(
            [("TAG".into(), "file".into())].into(),
            [("TAG".into(), "process".into())].into(),
        );
        assert_eq!(env.get("TAG").as_deref(), Some("process"));
        assert_eq!(env.get("NOPE"), None);
    }

    #[test]
    fn every_bad_line_is_reported_with_its_line_number() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "GOOD=1\nBAD LINE\nALSO=2\nEXPORT X Y\n").unwrap();
        let mut sources = Sources::default();
        let mut diags = Diagnostics::default();
        let env = Env::load(Some(f.path()), [], &mut sources, &mut diags);
        assert_eq!(env.get("GOOD").as_deref(), Some("1"));
        assert_eq!(env.get("ALSO").as_deref(), Some("2"));
        let lines: Vec<usize> = diags.items.iter().map(|d| d.span.unwrap().line).collect();
        assert_eq!(lines, vec![2, 4], "{:?}", diags.items);
    }

    #[test]
    fn secret_looking_names() {
        for n in [
            "JWT_SECRET",
            "API_KEY",
            "PGPASSWORD",
            "GITHUB_TOKEN",
            "MEILI_MASTER_KEY",
            "DB_PASS",
        ] {
            assert!(looks_secret(n), "{n}");
        }
        for n in [
            "JWT_ALGORITHM",
            "JWT_SECRET_FILE",
            "KEYCLOAK_URL",
            "TAG",
            "MONKEY",
            "TOKENIZER_MODEL",
        ] {
            assert!(!looks_secret(n), "{n}");
        }
    }
}
