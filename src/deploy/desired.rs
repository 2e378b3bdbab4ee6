//! The desired side: a compiled compose file, and the content of the secrets and configs it names.
//!
//! Takes: the compose file fedgen wrote and the variables (`--env` file under the process
//! environment). Gives: the [`Compose`] model, the sha256 of each secret's and config's content
//! (what the plan compares; values never leave this module except into the containers that
//! apply creates), and the list of secret values, so every output can be scrubbed of them.

use crate::compile::env::Env;
use crate::diag::{Diagnostics, Sources};
use crate::model::{self, Compose};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct Desired {
    pub compose: Compose,
    pub file: PathBuf,
    /// The compose file's directory: relative paths in it resolve against this.
    pub base_dir: PathBuf,
    /// sha256 (first 12 hex digits) of each secret's and config's content, by name. A secret
    /// whose value is not available here is absent.
    pub hashes: BTreeMap<String, String>,
    /// Secrets whose value is not available (variable unset, file unreadable).
    pub missing: Vec<String>,
    values: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    #[error("cannot read compose file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0} is not a compose file fedgen can converge: {1}")]
    Parse(PathBuf, String),
    #[error("{0}")]
    Env(String),
}

impl Desired {
    pub fn load(file: &Path, env_file: Option<&Path>) -> Result<Desired, DesiredError> {
        let text =
            std::fs::read_to_string(file).map_err(|e| DesiredError::Read(file.to_path_buf(), e))?;
        let mut compose = Compose::from_compose_yaml(&text)
            .map_err(|e| DesiredError::Parse(file.to_path_buf(), e.to_string()))?;
        // The hash label is what the containers carry and what a fast refresh compares: it must
        // name what the file says now, even if someone edited the compiled file by hand.
        for svc in compose.services.values_mut() {
            let hash = svc.config_hash();
            svc.labels
                .insert(model::labels::LABEL_CONFIG_HASH.into(), hash);
        }
        check_names(&compose).map_err(|e| DesiredError::Parse(file.to_path_buf(), e))?;
        let mut sources = Sources::default();
        let mut diags = Diagnostics::default();
        let env = Env::load(env_file, std::env::vars(), &mut sources, &mut diags);
        if diags.has_errors() {
            return Err(DesiredError::Env(crate::diag::render_human(
                &diags.items,
                &sources,
            )));
        }
        let base_dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let base_dir = std::fs::canonicalize(&base_dir).unwrap_or(base_dir);
        let mut hashes = BTreeMap::new();
        let mut missing = Vec::new();
        let mut values = Vec::new();
        for (name, secret) in &compose.secrets {
            let value = match (&secret.environment, &secret.file) {
                (Some(var), _) => env.get(var).map(String::into_bytes),
                (None, Some(f)) => std::fs::read(base_dir.join(f)).ok(),
                (None, None) => None,
            };
            match value {
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
        for (name, config) in &compose.configs {
            hashes.insert(name.clone(), content_hash(config.content.as_bytes()));
        }
        Ok(Desired {
            compose,
            file: file.to_path_buf(),
            base_dir,
            hashes,
            missing,
            values,
        })
    }

    /// The value of a secret, for putting it into a container (apply only).
    pub fn secret_value(&self, name: &str, env_file: Option<&Path>) -> Option<Vec<u8>> {
        let secret = self.compose.secrets.get(name)?;
        match (&secret.environment, &secret.file) {
            (Some(var), _) => {
                let mut sources = Sources::default();
                let mut diags = Diagnostics::default();
                Env::load(env_file, std::env::vars(), &mut sources, &mut diags)
                    .get(var)
                    .map(String::into_bytes)
            }
            (None, Some(f)) => std::fs::read(self.base_dir.join(f)).ok(),
            _ => None,
        }
    }

    /// Replaces every secret value in `text` with `***`.
    /// The labels each service's container should carry, for the state reader's fast refresh.
    pub fn expected(&self) -> BTreeMap<String, crate::deploy::state::Expected> {
        self.compose
            .services
            .iter()
            .map(|(name, svc)| {
                let e = crate::deploy::state::Expected {
                    config_hash: svc.labels.get(model::labels::LABEL_CONFIG_HASH).cloned(),
                    content: crate::deploy::plan::content_label(svc, &self.hashes),
                };
                (name.clone(), e)
            })
            .collect()
    }

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

pub fn content_hash(bytes: &[u8]) -> String {
    model::sha256_hex(bytes).chars().take(12).collect()
}

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
        let before = label(&Desired::load(&file, None).unwrap());
        assert!(text.contains("JOB_TIMEOUT: '3600'"));
        std::fs::write(
            &file,
            text.replacen("JOB_TIMEOUT: '3600'", "JOB_TIMEOUT: '60'", 1),
        )
        .unwrap();
        let after = Desired::load(&file, None).unwrap();
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
