//! The swarm stack file: the model of what `docker stack deploy` reads (Compose file format 3.9,
//! the newest that the Docker CLI 20.10 accepts) and what `fedgen apply --target swarm` converges
//! a swarm to.
//!
//! The compiler emits it ([`crate::compile::swarm`]), the deployer reads it back
//! ([`crate::deploy::swarm`]) and reads the swarm's services into the same types, so the two are
//! compared field by field. It differs from [`super::Compose`] where the 3.x schema does: no
//! top-level `name:` (the stack's name is `x-fedgen.stack`, as `docker stack deploy` takes it on
//! its command line), ports in long form with a numeric `published` and `mode: host`, every
//! policy under `deploy:`, tmpfs mounts as `volumes:` entries, secrets and configs named by a
//! hash of their content. What the 3.x schema cannot say and fedgen needs (the `uses:` order, the
//! source of secrets that come from the environment, the content of generated configs) is in the
//! `x-fedgen` extension, which `docker stack deploy` ignores.

use super::{Healthcheck, Logging, ServiceNetwork, Volume};
use crate::units::{Bytes, Cpus, Duration};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The file format version: the newest the Docker CLI 20.10 reads (it refuses a file without one).
pub const VERSION: &str = "3.9";

/// sha256 of the service's entry and of the engine names of the secrets and configs it reads
/// (which change when their content does), in `deploy.labels`: a service made from another entry
/// or other content carries another value.
pub const LABEL_SPEC_HASH: &str = "dev.fedgen.spec-hash";
/// The label `docker stack deploy` puts on every object of a stack (its value: the stack name),
/// and by which `docker stack ls/ps/rm` find them; fedgen sets and reads it too.
pub const LABEL_STACK: &str = "com.docker.stack.namespace";
/// The image as the file names it, on the service (set by `docker stack deploy`, and by fedgen).
pub const LABEL_STACK_IMAGE: &str = "com.docker.stack.image";

/// What `fedgen build` writes and what `fedgen diff` and `apply` converge: a Compose project on
/// one Docker host, or a stack on a swarm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// A compose file for one Docker host (`docker compose`, `fedgen apply`).
    #[default]
    Compose,
    /// A stack file for a swarm (`docker stack deploy`, `fedgen apply --target swarm`).
    Swarm,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Compose => "compose",
            Target::Swarm => "swarm",
        }
    }
}

impl std::str::FromStr for Target {
    type Err = ();

    fn from_str(s: &str) -> Result<Target, ()> {
        match s {
            "compose" => Ok(Target::Compose),
            "swarm" => Ok(Target::Swarm),
            _ => Err(()),
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    pub version: String,
    pub services: IndexMap<String, SwarmService>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Object>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, Object>,
    #[serde(rename = "x-fedgen")]
    pub fedgen: Meta,
}

/// What fedgen needs that the 3.x schema has no key for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// The stack's name: services are `STACK_SERVICE`, networks `STACK_NETWORK`.
    pub stack: String,
    /// What each service uses (from the spec's `uses:`): apply updates a service only once these
    /// are healthy (or, for one-shot services, completed). Swarm ignores `depends_on`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub uses: BTreeMap<String, Vec<String>>,
    /// The variable each environment-sourced secret is read from by `fedgen apply`, and for a
    /// `generate:` secret how many random bytes the first apply makes it of (the 3.x schema has
    /// only `file:`; in the file these secrets are `external`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, SecretSource>,
    /// The content of each config that fedgen generates (the 3.x schema has only `file:`; in the
    /// file these configs are `external`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, ConfigContent>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    pub environment: String,
    /// A generated secret: made once on the swarm by the first `fedgen apply` (from
    /// `environment` if set then, else this many random bytes, hex-encoded) and kept there; its
    /// name carries no hash (the value never leaves the swarm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigContent {
    pub content: String,
}

/// A secret or a config: its engine name (which carries a hash of its content), and either the
/// file `docker stack deploy` reads it from or `external` (fedgen apply creates it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Object {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub external: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub driver: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub attachable: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwarmService {
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, ServiceNetwork>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<FileRef>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// The containers' labels (`deploy.labels` are the service's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub deploy: Deploy,
}

/// A published port: always the long form, in host mode (ingress publishing needs a VIP, and
/// fedgen's services are `dnsrr`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub target: u16,
    pub published: u16,
    pub protocol: String,
    pub mode: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<Tmpfs>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tmpfs {
    /// In bytes: the 3.x schema reads a number here.
    pub size: u64,
}

/// A secret or config a service reads: `target` is the file name under `/run/secrets/` for a
/// secret, an absolute path for a config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    pub source: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Runs until stopped, `replicas` copies.
    #[default]
    Replicated,
    /// Runs once to completion (a one-shot kind); needs the Docker CLI 23 or later to deploy
    /// with `docker stack deploy` (the engine has it from API 1.41).
    ReplicatedJob,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Replicated => "replicated",
            Mode::ReplicatedJob => "replicated-job",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    pub mode: Mode,
    pub replicas: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_mode: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    pub restart_policy: RestartPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Limits>,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        self.limits.is_none() && self.reservations.is_none()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Bytes>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    None,
    OnFailure,
    #[default]
    Any,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::None => "none",
            Condition::OnFailure => "on-failure",
            Condition::Any => "any",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    pub condition: Condition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// The old task stops before the new one starts (one copy at a time).
    #[default]
    StopFirst,
    /// The new task starts, and must be running (healthy) before the old one stops.
    StartFirst,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureAction {
    #[default]
    Pause,
    Continue,
    Rollback,
}

/// `deploy.update_config` and `deploy.rollback_config`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    pub parallelism: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    pub failure_action: FailureAction,
    pub monitor: Duration,
    pub order: Order,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
}

impl Stack {
    /// A service's name on the engine: `STACK_SERVICE`.
    pub fn service_name(&self, service: &str) -> String {
        crate::names::scoped(&self.fedgen.stack, service)
    }

    /// A network's name on the engine: `STACK_NETWORK`.
    pub fn network_name(&self, network: &str) -> String {
        crate::names::scoped(&self.fedgen.stack, network)
    }

    /// A volume's name on the engine (`STACK_VOLUME`, or the name of an existing one).
    pub fn volume_name(&self, volume: &str) -> String {
        match self.volumes.get(volume) {
            Some(v) => v.engine_name(&self.fedgen.stack, volume),
            None => crate::names::scoped(&self.fedgen.stack, volume),
        }
    }

    /// The hash of a service's entry and of the engine names of the secrets and configs it
    /// reads, excluding the [`LABEL_SPEC_HASH`] label itself. Stable across runs and platforms
    /// (the canonical JSON of the model: sorted maps, fixed field order).
    pub fn spec_hash(&self, service: &str) -> String {
        let Some(svc) = self.services.get(service) else {
            return String::new();
        };
        let mut svc = svc.clone();
        svc.deploy.labels.remove(LABEL_SPEC_HASH);
        let names = |refs: &[FileRef], objects: &BTreeMap<String, Object>| -> Vec<String> {
            refs.iter()
                .map(|r| {
                    objects
                        .get(&r.source)
                        .map(|o| o.name.clone())
                        .unwrap_or_default()
                })
                .collect()
        };
        let mut hasher = Sha256::new();
        serde_json::to_writer(&mut hasher, &svc).expect("service serializes");
        serde_json::to_writer(&mut hasher, &names(&svc.secrets, &self.secrets))
            .expect("names serialize");
        serde_json::to_writer(&mut hasher, &names(&svc.configs, &self.configs))
            .expect("names serialize");
        super::hex(&hasher.finalize())
    }

    /// Sets every service's [`LABEL_SPEC_HASH`] to the hash of what it says now.
    pub fn label_spec_hashes(&mut self) {
        let names: Vec<String> = self.services.keys().cloned().collect();
        for name in names {
            let hash = self.spec_hash(&name);
            if let Some(s) = self.services.get_mut(&name) {
                s.deploy.labels.insert(LABEL_SPEC_HASH.into(), hash);
            }
        }
    }

    /// A one-shot service (a replicated job): done once it completed.
    pub fn is_job(&self, service: &str) -> bool {
        self.services
            .get(service)
            .is_some_and(|s| s.deploy.mode == Mode::ReplicatedJob)
    }

    /// The stack file's YAML body (`$` escaped, YAML 1.1 quoted, as the compose file's).
    pub fn to_yaml(&self) -> String {
        super::yaml::to_yaml(self)
    }

    /// Reads a stack file that fedgen wrote (the inverse of [`Stack::to_yaml`]).
    pub fn from_yaml(text: &str) -> Result<Stack, serde_norway::Error> {
        super::yaml::from_yaml(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> Stack {
        let mut s = Stack {
            version: VERSION.into(),
            fedgen: Meta {
                stack: "app".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        s.services.insert(
            "web".into(),
            SwarmService {
                image: "x:1".into(),
                secrets: vec![FileRef {
                    source: "jwt".into(),
                    target: "jwt".into(),
                    mode: None,
                }],
                ..Default::default()
            },
        );
        s.secrets.insert(
            "jwt".into(),
            Object {
                name: "app_jwt_aaaaaaaaaaaa".into(),
                external: true,
                file: None,
            },
        );
        s
    }

    #[test]
    fn the_spec_hash_sees_a_rotated_secret_and_not_itself() {
        let mut s = stack();
        s.label_spec_hashes();
        let h = s.services["web"].deploy.labels[LABEL_SPEC_HASH].clone();
        assert_eq!(s.spec_hash("web"), h, "its own label is not hashed");
        s.secrets.get_mut("jwt").unwrap().name = "app_jwt_bbbbbbbbbbbb".into();
        assert_ne!(s.spec_hash("web"), h, "a new secret name is a new spec");
    }

    #[test]
    fn the_file_reads_back_as_written() {
        let mut s = stack();
        s.services["web"]
            .environment
            .insert("SCRIPT".into(), "echo $HOME".into());
        s.services["web"].ports.push(Port {
            target: 80,
            published: 8080,
            protocol: "tcp".into(),
            mode: "host".into(),
        });
        s.label_spec_hashes();
        let text = s.to_yaml();
        assert!(text.contains("echo $$HOME"), "{text}");
        assert!(text.contains("published: 8080"), "{text}");
        assert_eq!(Stack::from_yaml(&text).unwrap(), s);
    }
}
