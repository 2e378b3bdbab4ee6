//! The desired side on a swarm: a stack file fedgen wrote, and the content of its secrets and
//! configs.
//!
//! Takes: the stack file and the variables (`--env-file` files under the process environment).
//! Gives:
//! the [`Stack`] with every service's spec-hash label recomputed from what the file says now (so
//! a hand-edited file still shows its change), each secret's and config's content on demand (for
//! the create call only), and a scrubber that removes every secret value from an output.

use crate::compile::env::Env;
use crate::deploy::report::Redactor;
use crate::diag::{Diagnostics, Sources};
use crate::model::swarm::Stack;
use std::path::{Path, PathBuf};

pub struct SwarmDesired {
    pub stack: Stack,
    pub file: PathBuf,
    /// The stack file's directory: relative paths in it resolve against this.
    pub base_dir: PathBuf,
    env: Env,
    values: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SwarmDesiredError {
    #[error("cannot read stack file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0} is not a stack file fedgen can converge: {1}")]
    Parse(PathBuf, String),
    #[error("{0}")]
    Env(String),
}

/// Whether `text` is a swarm stack file fedgen wrote (a `version:` and the `x-fedgen` block, no
/// top-level `name:`) rather than a compose file.
pub fn is_stack_file(text: &str) -> bool {
    let Ok(serde_norway::Value::Mapping(m)) = serde_norway::from_str::<serde_norway::Value>(text)
    else {
        return false;
    };
    let has = |k: &str| m.contains_key(serde_norway::Value::String(k.into()));
    has("x-fedgen") && has("version") && !has("name")
}

impl SwarmDesired {
    /// Reads the stack file, with `env_files` (`--env-file`, later ones winning) under the
    /// process environment.
    pub fn load(file: &Path, env_files: &[PathBuf]) -> Result<SwarmDesired, SwarmDesiredError> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| SwarmDesiredError::Read(file.to_path_buf(), e))?;
        Self::from_text(&text, file, env_files)
    }

    pub fn from_text(
        text: &str,
        file: &Path,
        env_files: &[PathBuf],
    ) -> Result<SwarmDesired, SwarmDesiredError> {
        let parse = |e: String| SwarmDesiredError::Parse(file.to_path_buf(), e);
        let mut stack = Stack::from_yaml(text).map_err(|e| parse(e.to_string()))?;
        check(&stack).map_err(parse)?;
        stack.label_spec_hashes();
        let mut sources = Sources::default();
        let mut diags = Diagnostics::default();
        let env = Env::load_all(env_files, std::env::vars(), &mut sources, &mut diags);
        if diags.has_errors() {
            return Err(SwarmDesiredError::Env(crate::diag::render_human(
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
        let mut d = SwarmDesired {
            stack,
            file: file.to_path_buf(),
            base_dir,
            env,
            values: Vec::new(),
        };
        let keys: Vec<String> = d.stack.secrets.keys().cloned().collect();
        for key in keys {
            if let Some(v) = d.secret_value(&key).and_then(|v| String::from_utf8(v).ok()) {
                let v = v.trim().to_string();
                if v.len() >= 4 {
                    d.values.push(v);
                }
            }
        }
        Ok(d)
    }

    /// The content of a secret (from its variable or its file), for the create call only. For a
    /// generated secret: the variable's value when set (carried over once, at the first apply),
    /// else `None` (random bytes are made then, see [`SwarmDesired::generated`]).
    pub fn secret_value(&self, key: &str) -> Option<Vec<u8>> {
        let object = self.stack.secrets.get(key)?;
        if let Some(src) = self.stack.fedgen.secrets.get(key) {
            return self
                .env
                .get(&src.environment)
                .filter(|v| src.generate.is_none() || !v.is_empty())
                .map(String::into_bytes);
        }
        let file = object.file.as_ref()?;
        std::fs::read(self.base_dir.join(file)).ok()
    }

    /// The content of a config fedgen generated.
    pub fn config_value(&self, key: &str) -> Option<Vec<u8>> {
        if let Some(c) = self.stack.fedgen.configs.get(key) {
            return Some(c.content.clone().into_bytes());
        }
        let file = self.stack.configs.get(key)?.file.as_ref()?;
        std::fs::read(self.base_dir.join(file)).ok()
    }

    /// How many random bytes a `generate:` secret is made of, `None` for other secrets.
    pub fn generated(&self, key: &str) -> Option<usize> {
        self.stack.fedgen.secrets.get(key)?.generate
    }

    /// The value a missing generated secret is made with by this apply: its variable's if set,
    /// else random.
    pub fn new_generated_value(&self, key: &str) -> Option<Vec<u8>> {
        let bytes = self.generated(key)?;
        Some(
            self.secret_value(key)
                .unwrap_or_else(|| crate::deploy::secrets::random_hex(bytes)),
        )
    }

    /// sha256 of what was read besides the file: the content hash of every secret and config
    /// whose value is known here (never the values), so a saved plan is refused once one changed.
    pub fn fingerprint(&self) -> String {
        let mut all = String::new();
        for key in self.stack.secrets.keys() {
            if let Some(v) = self.secret_value(key) {
                all.push_str(&format!(
                    "secret {key} {}\n",
                    crate::deploy::desired::content_hash(&v)
                ));
            }
        }
        for key in self.stack.configs.keys() {
            if let Some(v) = self.config_value(key) {
                all.push_str(&format!(
                    "config {key} {}\n",
                    crate::deploy::desired::content_hash(&v)
                ));
            }
        }
        crate::model::sha256_hex(all.as_bytes())
    }

    /// Whether the content of a secret or config still has the hash its name carries (a changed
    /// variable or file without a new build would otherwise deploy under the old name). `None`
    /// when unknown here, and for generated secrets (their name carries no hash).
    pub fn content_matches(&self, key: &str, secret: bool) -> Option<bool> {
        if secret && self.generated(key).is_some() {
            return None;
        }
        let (object, value) = if secret {
            (self.stack.secrets.get(key)?, self.secret_value(key)?)
        } else {
            (self.stack.configs.get(key)?, self.config_value(key)?)
        };
        let hash = crate::deploy::desired::content_hash(&value);
        Some(object.name.ends_with(&format!("_{hash}")))
    }
}

impl Redactor for SwarmDesired {
    fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.values {
            out = out.replace(v.as_str(), "***");
        }
        out
    }
}

/// The names the file gives the engine, checked before any call.
fn check(stack: &Stack) -> Result<(), String> {
    use crate::names::{check, NameKind};
    check(NameKind::Project, &stack.fedgen.stack).map_err(|e| e.to_string())?;
    for name in stack.services.keys() {
        check(NameKind::Service, name).map_err(|e| e.to_string())?;
        if name.contains('.') {
            return Err(format!(
                "service `{name}`: a swarm service name has no dots"
            ));
        }
    }
    for name in stack.networks.keys() {
        check(NameKind::Network, name).map_err(|e| e.to_string())?;
    }
    let prefix = format!("{}_", stack.fedgen.stack);
    for (key, o) in stack.secrets.iter().chain(stack.configs.iter()) {
        if !o.name.starts_with(&prefix) {
            return Err(format!(
                "`{key}` is named `{}`, outside the stack (`{prefix}*`)",
                o.name
            ));
        }
    }
    for (name, deps) in &stack.fedgen.uses {
        for d in deps {
            if !stack.services.contains_key(d) {
                return Err(format!(
                    "service `{name}` uses `{d}`, which the file does not have"
                ));
            }
        }
        if !stack.services.contains_key(name) {
            return Err(format!(
                "`x-fedgen.uses` names `{name}`, which the file does not have"
            ));
        }
    }
    Ok(())
}
