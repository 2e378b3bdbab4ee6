//! The normalized Compose model: the one set of types both sides of fedgen share.
//!
//! The compiler emits it (serialized as the compose file), `diff` reads the compose file back into
//! it and normalizes what runs on the engine into it, so that desired and actual are compared field
//! by field. Field order is the output key order; maps are sorted; empty values are omitted, so the
//! same input always serializes to the same bytes.
//!
//! It covers the subset of the Compose specification that fedgen writes and can converge. Anything
//! outside it is rejected on read rather than silently ignored.

pub mod labels;
mod restart;
pub mod swarm;
pub mod yaml;

pub use restart::{InvalidRestart, RestartPolicy};

use crate::units::{Bytes, Cpus, Duration};
use indexmap::IndexMap;
use labels::{LABEL_CONFIG_HASH, LABEL_LIFECYCLE};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compose {
    pub name: String,
    pub services: IndexMap<String, Service>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Secret>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, Config>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// Field order follows dclint's `service-keys-order` rule, so the file lints clean as written.
pub struct Service {
    pub image: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, DependsOn>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<ServiceConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ServiceSecret>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, ServiceNetwork>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    // What Compose files as people write them also set (fedgen's kinds never do, so a compiled
    // file has none of these keys and its config hash is unchanged by them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// Ports exposed without publishing them: `80/tcp`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    /// `host:ip`, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tty: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    /// `host`, `none`, `bridge`, `container:NAME`: instead of `networks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `host-path:container-path[:permissions]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
}

/// A resource limit of the process (`nofile`, `nproc`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    /// `[CMD, ...]` or `[CMD-SHELL, ...]`; empty: the image's own HEALTHCHECK, with this timing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

impl Condition {
    pub fn as_str(&self) -> &'static str {
        match self {
            Condition::ServiceStarted => "service_started",
            Condition::ServiceHealthy => "service_healthy",
            Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependsOn {
    pub condition: Condition,
    /// `false`: the dependency may be absent (Compose's `required`, default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub required: bool,
    /// Restart this service when the dependency is recreated (Compose's `restart`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub restart: bool,
}

impl DependsOn {
    pub fn on(condition: Condition) -> DependsOn {
        DependsOn {
            condition,
            required: true,
            restart: false,
        }
    }
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetwork {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub target: u16,
    /// The host port; none: one the engine picks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<u16>,
    /// The host address it listens on; none: every interface (IPv4 and IPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    pub protocol: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// A bind whose host directory the engine makes when it is missing (Compose's short syntax).
    #[serde(default, skip_serializing_if = "is_false")]
    pub create_host_path: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSecret {
    pub source: String,
    pub target: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub source: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    pub driver: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    pub resources: Resources,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Limits>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Bytes>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Its name on the engine, when not `PROJECT_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Made outside the project: never created or removed by it, and it must exist.
    #[serde(default, skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub attachable: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub enable_ipv6: bool,
    /// Address pools: `subnet`, `gateway`, `ip_range` each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipam: Vec<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Network {
    /// The network's name on the engine.
    pub fn engine_name(&self, project: &str, key: &str) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None if self.external => key.to_string(),
            None => crate::names::scoped(project, key),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// The volume's name on the engine, when it is not `PROJECT_NAME` (an existing volume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Made outside the project: never created or removed by it, and it must exist.
    #[serde(default, skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Volume {
    /// The volume's name on the engine.
    pub fn engine_name(&self, project: &str, key: &str) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None if self.external => key.to_string(),
            None => crate::names::scoped(project, key),
        }
    }
}

/// A secret's source: a variable of the environment fedgen deploys from, or a file; or (fedgen's
/// `x-fedgen-generate` extension) random bytes that the first `fedgen apply` makes on the target
/// engine and keeps there, `environment` then naming the variable `docker compose` would read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// How many random bytes (hex-encoded) to generate on the engine.
    #[serde(
        rename = "x-fedgen-generate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub generate: Option<usize>,
}

impl Secret {
    /// The variable a generated secret's `environment` names: `FEDGEN_SECRET_` and its name.
    pub fn generated_variable(name: &str) -> String {
        let upper: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("FEDGEN_SECRET_{upper}")
    }
}

/// Non-secret file content that goes into containers: inline (what a kind generates, an init
/// script), from a file, or from an environment variable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl Service {
    /// sha256 of the service's normalized config, excluding the hash label itself. Stable across
    /// runs and platforms: it hashes the canonical JSON of the model (sorted maps, fixed field order).
    pub fn config_hash(&self) -> String {
        // The compiler hashes before it sets the label, so only a labelled service is copied.
        if self.labels.contains_key(LABEL_CONFIG_HASH) {
            let mut copy = self.clone();
            copy.labels.remove(LABEL_CONFIG_HASH);
            return copy.config_hash();
        }
        let mut hasher = Sha256::new();
        serde_json::to_writer(&mut hasher, self).expect("service serializes");
        hex(&hasher.finalize())
    }

    /// The memory and CPU limits (empty when the service has none).
    pub fn limits(&self) -> Limits {
        self.deploy
            .as_ref()
            .and_then(|d| d.resources.limits.clone())
            .unwrap_or_default()
    }
}

/// Whether a service runs until stopped or runs once to completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// Runs until stopped: it has a restart policy and, under fedgen's policies, a healthcheck;
    /// its dependants wait for it to be healthy (or started).
    LongRunning,
    /// Runs once (a migration, a seed): its dependants wait for it to exit 0, and a container
    /// that exited 0 is done, not stopped.
    OneShot,
}

impl Lifecycle {
    pub const ONE_SHOT: &'static str = "one-shot";
}

/// The lifecycles of a file's services, read once ([`Compose::lifecycles`]).
#[derive(Clone, Debug, Default)]
pub struct Lifecycles {
    one_shot: std::collections::BTreeSet<String>,
}

impl Lifecycles {
    pub fn of(&self, service: &str) -> Lifecycle {
        if self.one_shot.contains(service) {
            Lifecycle::OneShot
        } else {
            Lifecycle::LongRunning
        }
    }
}

impl Compose {
    /// A service's lifecycle, from one source: the `dev.fedgen.lifecycle` label that the compiler
    /// writes from the kind, or, in a compose file written by hand, a dependant that waits for the
    /// service with `service_completed_successfully`. Everything else runs until stopped (a
    /// restart policy of `no` does not make a server a job). One service: this reads every
    /// dependant; for many, [`Compose::lifecycles`] reads the file once.
    pub fn lifecycle(&self, service: &str) -> Lifecycle {
        self.lifecycles_of(std::iter::once(service)).of(service)
    }

    /// Every service's lifecycle (as [`Compose::lifecycle`] says it), in one pass over the file.
    pub fn lifecycles(&self) -> Lifecycles {
        self.lifecycles_of(self.services.keys().map(String::as_str))
    }

    fn lifecycles_of<'a>(&self, names: impl Iterator<Item = &'a str>) -> Lifecycles {
        let awaited: std::collections::BTreeSet<&str> = self
            .services
            .values()
            .flat_map(|s| &s.depends_on)
            .filter(|(_, d)| d.condition == Condition::ServiceCompletedSuccessfully)
            .map(|(name, _)| name.as_str())
            .collect();
        let one_shot = names
            .filter(|name| {
                awaited.contains(name)
                    || self
                        .services
                        .get(*name)
                        .and_then(|s| s.labels.get(LABEL_LIFECYCLE))
                        .is_some_and(|l| l == Lifecycle::ONE_SHOT)
            })
            .map(str::to_string)
            .collect();
        Lifecycles { one_shot }
    }

    /// The compose file's YAML body (see [`yaml::to_compose_yaml`]).
    pub fn to_compose_yaml(&self) -> String {
        yaml::to_compose_yaml(self)
    }

    /// Reads a compose file that fedgen wrote (the inverse of [`Compose::to_compose_yaml`]).
    pub fn from_compose_yaml(text: &str) -> Result<Compose, serde_norway::Error> {
        yaml::from_compose_yaml(text)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex(&Sha256::digest(data.as_ref()))
}

/// The short content hash that names a secret's or config's version (the first 12 hex digits of
/// its SHA-256): in labels on one host, in the object's name on a swarm.
pub fn content_hash(bytes: &[u8]) -> String {
    sha256_hex(bytes).chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_hash_ignores_its_own_label_and_sees_everything_else() {
        let mut s = Service {
            image: "x:1".into(),
            ..Default::default()
        };
        let h = s.config_hash();
        s.labels.insert(LABEL_CONFIG_HASH.into(), h.clone());
        assert_eq!(s.config_hash(), h);
        s.environment.insert("A".into(), "1".into());
        assert_ne!(s.config_hash(), h);
    }

    #[test]
    fn lifecycle_comes_from_the_kind_or_a_dependant_never_from_the_restart_policy() {
        let mut c = Compose::default();
        let server = Service {
            restart: Some(RestartPolicy::No),
            ..Default::default()
        };
        let mut job = Service {
            restart: Some(RestartPolicy::OnFailure(None)),
            ..Default::default()
        };
        job.labels
            .insert(LABEL_LIFECYCLE.into(), Lifecycle::ONE_SHOT.into());
        c.services.insert("web".into(), server);
        c.services.insert("migrate".into(), job);
        assert_eq!(c.lifecycle("web"), Lifecycle::LongRunning);
        assert_eq!(c.lifecycle("migrate"), Lifecycle::OneShot);
        // A hand-written file says it with depends_on.
        let mut seed = Service::default();
        seed.depends_on.insert(
            "web".into(),
            DependsOn::on(Condition::ServiceCompletedSuccessfully),
        );
        c.services.insert("seed".into(), seed);
        assert_eq!(c.lifecycle("web"), Lifecycle::OneShot);
        // Read once for the whole file, the same answers.
        let all = c.lifecycles();
        for name in c.services.keys() {
            assert_eq!(all.of(name), c.lifecycle(name), "{name}");
        }
        assert_eq!(all.of("seed"), Lifecycle::LongRunning);
    }

    #[test]
    fn a_restart_policy_that_is_not_one_is_refused_on_read() {
        let err =
            serde_norway::from_str::<Service>("image: x:1\nrestart: sometimes\n").unwrap_err();
        assert!(err.to_string().contains("sometimes"), "{err}");
    }

    #[test]
    fn unknown_fields_are_rejected_on_read() {
        let err = serde_norway::from_str::<Service>("image: x:1\nprivileges: true\n").unwrap_err();
        assert!(err.to_string().contains("privileges"), "{err}");
    }
}
