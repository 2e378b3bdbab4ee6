//! The desired side: a Compose project (a compiled file or any hand-written one), and the content
//! of the secrets and configs it names.
//!
//! Takes: [`compose::Options`] (the files, `-p`, `--env-file`, `--profile`). Gives: the [`Compose`]
//! model read by the one Compose reader ([`crate::compose`]), each service's hash labels (fedgen's
//! and Compose's), the sha256 of each secret's and config's content (what the plan compares;
//! values never leave this module except into the containers that apply creates), and the list of
//! secret values, so every output can be scrubbed of them.

use crate::compose::{self, Project};
use crate::diag::{Diagnostics, Sources};
use crate::model::{self, Compose};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone)]
pub struct Desired {
    pub compose: Compose,
    /// The first compose file (what plans and messages name).
    pub file: PathBuf,
    /// Every compose file read, in order.
    pub files: Vec<PathBuf>,
    /// The project directory: relative paths in the files resolve against it.
    pub base_dir: PathBuf,
    /// The `--env-file`s as given (Compose labels containers with them).
    pub env_files: Vec<PathBuf>,
    /// Compose's `config-hash` of each service (see [`crate::compose::hash`]).
    pub compose_hashes: BTreeMap<String, String>,
    /// sha256 (first 12 hex digits) of each secret's and config's content, by name. A secret
    /// whose value is not available here is absent.
    pub hashes: BTreeMap<String, String>,
    /// Secrets whose value is not available (variable unset, file unreadable).
    pub missing: Vec<String>,
    /// Warnings from reading the files (unset variables, ignored keys), rendered.
    pub warnings: Option<String>,
    /// Generated secrets on the engine (filled in by apply, [`crate::deploy::secrets::attach`]).
    pub engine_secrets: BTreeMap<String, crate::deploy::secrets::Stored>,
    values: Vec<String>,
    /// Each config's content, by name.
    configs: BTreeMap<String, Vec<u8>>,
    /// The project's variables (env files under the process environment).
    env: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    /// Every problem of the files, rendered with their places.
    #[error("{0}")]
    Invalid(String),
}

impl Desired {
    /// Reads one file with the process environment (and `.env` beside it).
    pub fn load_file(file: &Path) -> Result<Desired, DesiredError> {
        Desired::load(&compose::Options::file(file))
    }

    pub fn load(opts: &compose::Options) -> Result<Desired, DesiredError> {
        let mut sources = Sources::default();
        let mut diags = Diagnostics::default();
        let project = compose::load(opts, &mut sources, &mut diags);
        diags.sort();
        let project = match project {
            Some(p) if !diags.has_errors() => p,
            _ => {
                return Err(DesiredError::Invalid(crate::diag::render_human(
                    &diags.items,
                    &sources,
                )))
            }
        };
        let warnings: Vec<_> = diags.items.into_iter().filter(|d| !d.is_error()).collect();
        let warnings =
            (!warnings.is_empty()).then(|| crate::diag::render_human(&warnings, &sources));
        Desired::from_project(project, warnings)
    }

    fn from_project(project: Project, warnings: Option<String>) -> Result<Desired, DesiredError> {
        let Project {
            mut compose,
            dir: base_dir,
            files,
            env_files,
            env,
            compose_hashes,
            ..
        } = project;
        // The hash label is what the containers carry and what a fast refresh compares: it must
        // name what the file says now, even if someone edited the compiled file by hand.
        for svc in compose.services.values_mut() {
            let hash = svc.config_hash();
            svc.labels
                .insert(model::labels::LABEL_CONFIG_HASH.into(), hash);
        }
        check_names(&compose).map_err(DesiredError::Invalid)?;
        let mut hashes = BTreeMap::new();
        let mut missing = Vec::new();
        let mut values = Vec::new();
        for (name, secret) in &compose.secrets {
            let value = match (&secret.environment, &secret.file) {
                (Some(var), _) => env.get(var).map(|v| v.clone().into_bytes()),
                (None, Some(f)) => std::fs::read(base_dir.join(f)).ok(),
                (None, None) => None,
            };
            match value {
                // Generated on the engine: its hash comes from there (a variable it names is
                // only a seed for the first apply, and is scrubbed from outputs).
                Some(v) if secret.generate.is_some() => {
                    if let Ok(s) = String::from_utf8(v) {
                        if s.trim().len() >= 4 {
                            values.push(s.trim().to_string());
                        }
                    }
                }
                None if secret.generate.is_some() => {}
                Some(v) => {
                    hashes.insert(name.clone(), content_hash(&v));
                    if let Ok(s) = String::from_utf8(v) {
                        let s = s.trim().to_string();
                        if s.len() >= 4 {
                            values.push(s);
                        }
                    }
                }
                None => missing.push(name.clone()),
            }
        }
        let mut configs = BTreeMap::new();
        for (name, config) in &compose.configs {
            let bytes = match (&config.content, &config.file, &config.environment) {
                (Some(c), _, _) => Some(c.clone().into_bytes()),
                (None, Some(f), _) => std::fs::read(base_dir.join(f)).ok(),
                (None, None, Some(var)) => env.get(var).map(|v| v.clone().into_bytes()),
                (None, None, None) => None,
            };
            match bytes {
                Some(b) => {
                    hashes.insert(name.clone(), content_hash(&b));
                    configs.insert(name.clone(), b);
                }
                None => missing.push(name.clone()),
            }
        }
        Ok(Desired {
            compose,
            file: files[0].clone(),
            files,
            base_dir,
            env_files,
            compose_hashes,
            hashes,
            missing,
            warnings,
            engine_secrets: BTreeMap::new(),
            values,
            configs,
            env,
        })
    }

    /// The value of a secret, for putting it into a container (apply only).
    pub fn secret_value(&self, name: &str) -> Option<Vec<u8>> {
        let secret = self.compose.secrets.get(name)?;
        match (&secret.environment, &secret.file) {
            (Some(var), _) => self.env.get(var).map(|v| v.clone().into_bytes()),
            (None, Some(f)) => std::fs::read(self.base_dir.join(f)).ok(),
            _ => None,
        }
    }

    /// sha256 of the project as read: the model and the content hashes of its secrets and configs.
    pub fn fingerprint(&self) -> String {
        let mut text = serde_json::to_string(&self.compose).expect("the model serializes");
        for (k, v) in &self.hashes {
            text.push_str(&format!("\n{k}={v}"));
        }
        model::sha256_hex(text)
    }

    /// The content of a config, for copying it into a container.
    pub fn config_bytes(&self, name: &str) -> Option<&[u8]> {
        self.configs.get(name).map(Vec::as_slice)
    }

    /// The labels each service's container should carry, for the state reader's fast refresh.
    pub fn expected(&self) -> BTreeMap<String, crate::deploy::state::Expected> {
        self.compose
            .services
            .iter()
            .map(|(name, svc)| {
                let e = crate::deploy::state::Expected {
                    config_hash: svc.labels.get(model::labels::LABEL_CONFIG_HASH).cloned(),
                    compose_hash: self.compose_hashes.get(name).cloned(),
                    content: crate::deploy::plan::content_label(svc, &self.hashes),
                };
                (name.clone(), e)
            })
            .collect()
    }

    /// Replaces every secret value in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.values {
            out = out.replace(v.as_str(), "***");
        }
        out
    }
}

/// The names fedgen passes to the engine, checked by the same rules the compiler uses
/// ([`crate::names`]), since a hand-edited or hand-written file could break them.
pub fn check_names(compose: &Compose) -> Result<(), String> {
    use crate::names::{check, NameKind};
    let kinds = [
        (NameKind::Project, vec![compose.name.as_str()]),
        (
            NameKind::Service,
            compose.services.keys().map(String::as_str).collect(),
        ),
        (
            NameKind::Network,
            compose.networks.keys().map(String::as_str).collect(),
        ),
        (
            NameKind::Volume,
            compose.volumes.keys().map(String::as_str).collect(),
        ),
        (
            NameKind::Secret,
            compose.secrets.keys().map(String::as_str).collect(),
        ),
    ];
    for (kind, names) in kinds {
        for name in names {
            check(kind, name).map_err(|e| format!("{e}: {}", kind.rule()))?;
        }
    }
    Ok(())
}

pub use crate::model::content_hash;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_edited_file_gets_the_hash_of_what_it_says() {
        let dir = tempfile::tempdir().unwrap();
        let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/federated-imputation.yml");
        let text = std::fs::read_to_string(golden).unwrap();
        let file = dir.path().join("edited.yml");
        std::fs::write(&file, &text).unwrap();
        let label = |d: &Desired| {
            d.compose.services["job-processor"].labels[model::labels::LABEL_CONFIG_HASH].clone()
        };
        let before = label(&Desired::load_file(&file).unwrap());
        assert!(text.contains("JOB_TIMEOUT: '3600'"));
        std::fs::write(
            &file,
            text.replacen("JOB_TIMEOUT: '3600'", "JOB_TIMEOUT: '60'", 1),
        )
        .unwrap();
        let after = Desired::load_file(&file).unwrap();
        let changed: Vec<&String> = after
            .compose
            .services
            .iter()
            .filter(|(_, s)| s.labels[model::labels::LABEL_CONFIG_HASH] != s.config_hash())
            .map(|(n, _)| n)
            .collect();
        assert!(
            changed.is_empty(),
            "every label is the hash of its service: {changed:?}"
        );
        assert_ne!(
            before,
            label(&after),
            "the edit changed job-processor's hash"
        );
    }

    #[test]
    fn a_compiled_files_hash_labels_are_the_hashes_of_its_services() {
        for golden in ["federated-imputation", "document-platform"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("golden/{golden}.yml"));
            let text = std::fs::read_to_string(path).unwrap();
            let compose = Compose::from_compose_yaml(&text).unwrap();
            for (name, svc) in &compose.services {
                assert_eq!(
                    svc.labels.get(model::labels::LABEL_CONFIG_HASH),
                    Some(&svc.config_hash()),
                    "{golden}: {name}"
                );
            }
        }
    }

    #[test]
    fn names_are_checked_before_any_api_call() {
        let mut c = Compose {
            name: "ok".into(),
            ..Default::default()
        };
        assert!(check_names(&c).is_ok());
        c.services.insert("Bad Name".into(), Default::default());
        assert!(check_names(&c).unwrap_err().contains("service"));
        c.services.clear();
        c.name = "../etc".into();
        assert!(check_names(&c).unwrap_err().contains("project"));
        // The compiler accepts a 64-character project name; so does the deployer.
        c.name = "p".repeat(64);
        assert!(check_names(&c).is_ok());
    }
}
