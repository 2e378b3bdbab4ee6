//! The engine state reader: what runs for a project, normalized into the compose model.
//!
//! Takes: an [`Engine`], a project name, what the file expects of each service (its config-hash
//! and content labels) and a [`Refresh`] depth. Gives: an [`Observed`] host: the project's
//! containers (by Compose's `com.docker.compose.project` label) each with its state, health and
//! either its full config as a [`Service`] of the shared model or only what the container list
//! shows; the project's networks and volumes; and unmanaged containers whose names collide with
//! the project's (made by hand with `docker run --name`, Compose v1's `project_service_1`).
//!
//! Calls: one list per object type, whatever the size of the stack. A container is inspected
//! (concurrently, plus one image inspect per distinct image, to drop values the image sets, which
//! are not drift) only where the list cannot settle it: with [`Refresh::Full`], or when its labels
//! say it was made from another config, so the plan can name the fields that changed.

use crate::deploy::engine::{Engine, EngineError};
use crate::model::{self, Healthcheck, Limits, Logging, Mount, Port, Service, ServiceNetwork};
use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder,
};
use futures_util::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
pub const LABEL_COMPOSE_HASH: &str = "com.docker.compose.config-hash";
pub const LABEL_NETWORK: &str = "com.docker.compose.network";
pub const LABEL_VOLUME: &str = "com.docker.compose.volume";
/// sha256 prefix of each secret's and config's content, as `name=hash,...` (never the value).
pub const LABEL_SECRETS: &str = "dev.fedgen.secrets-hash";

/// How deep to read the host.
#[derive(
    Debug,
    Default,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Refresh {
    /// List calls only (a constant number of calls): containers whose labels match the file are
    /// compared on what the list shows (state, health, networks, name, count); settings that
    /// only an inspect shows and the engine can change in place (`docker update`: restart
    /// policy, limits; network aliases) are taken as created. Inspects only where labels differ.
    Fast,
    /// Inspect every container: also finds drift made with `docker update` and changed aliases.
    #[default]
    Full,
}

impl Refresh {
    pub fn as_str(self) -> &'static str {
        match self {
            Refresh::Fast => "fast",
            Refresh::Full => "full",
        }
    }
}

/// What the file expects a service's container to carry: its config-hash label and its content
/// label (secrets and configs, as [`crate::deploy::plan::content_label`] computes it; `None` when
/// the service reads none or a value is not available here, and then not compared).
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub config_hash: Option<String>,
    pub content: Option<String>,
}

/// How many inspects run at once (the engine serializes some work per container anyway).
const INSPECT_CONCURRENCY: usize = 8;

#[derive(Debug, Clone, serde::Serialize)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub service: String,
    pub number: String,
    /// created, running, exited, ...
    pub state: String,
    /// healthy, unhealthy, starting, or none.
    pub health: Option<String>,
    pub image_id: String,
    /// Labels as the engine has them (Compose's and fedgen's included).
    pub labels: BTreeMap<String, String>,
    /// The container's config in the shared model, with image-set values removed (empty when
    /// the container was only listed, not inspected).
    #[serde(skip)]
    pub config: Service,
    /// `Some` when the container was only listed (fast refresh, labels equal to the file's):
    /// the networks it is attached to, by their name in the compose file. `None`: inspected.
    #[serde(skip)]
    pub listed: Option<BTreeSet<String>>,
}

impl ObservedContainer {
    pub fn running(&self) -> bool {
        self.state == "running"
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Conflict {
    pub id: String,
    pub name: String,
    pub service: String,
    pub state: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ObservedNetwork {
    pub id: String,
    pub name: String,
    pub internal: bool,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Observed {
    pub project: String,
    /// How deep the host was read.
    pub refresh: Refresh,
    pub containers: Vec<ObservedContainer>,
    pub conflicts: Vec<Conflict>,
    /// By the network's name in the compose file (`com.docker.compose.network`).
    pub networks: BTreeMap<String, ObservedNetwork>,
    /// By the volume's name in the compose file (`com.docker.compose.volume`).
    pub volumes: BTreeSet<String>,
}

impl Observed {
    /// sha256 of what was observed: a saved plan is valid only while this stays the same.
    pub fn fingerprint(&self) -> String {
        let mut parts: Vec<String> = self
            .containers
            .iter()
            .map(|c| {
                format!(
                    "c {} {} {} {} {} {:?}",
                    c.id,
                    c.service,
                    c.state,
                    c.image_id,
                    model::sha256_hex(serde_json::to_vec(&c.config).unwrap_or_default()),
                    c.listed
                )
            })
            .collect();
        parts.extend(
            self.conflicts
                .iter()
                .map(|c| format!("x {} {}", c.id, c.state)),
        );
        parts.extend(
            self.networks
                .values()
                .map(|n| format!("n {} {}", n.id, n.internal)),
        );
        parts.extend(self.volumes.iter().map(|v| format!("v {v}")));
        parts.sort();
        model::sha256_hex(parts.join("\n"))
    }
}

/// Reads the project's state. `expected`: the file's services with the labels their containers
/// should carry (also used to find unmanaged containers with colliding names).
pub async fn observe(
    engine: &Engine,
    project: &str,
    expected: &BTreeMap<String, Expected>,
    refresh: Refresh,
) -> Result<Observed, EngineError> {
    let mut observed = Observed {
        project: project.to_string(),
        refresh,
        ..Default::default()
    };
    let all = engine
        .call("list containers", project, |d| {
            d.list_containers(Some(ListContainersOptionsBuilder::new().all(true).build()))
        })
        .await?;
    // The names the project's containers have (Compose v2's and v1's), to find unmanaged ones.
    let ours: HashMap<String, &String> = expected
        .keys()
        .flat_map(|svc| {
            [
                (format!("{project}-{svc}-1"), svc),
                (format!("{project}_{svc}_1"), svc),
            ]
        })
        .collect();
    let mut to_inspect = Vec::new();
    for c in all {
        let labels = c.labels.clone().unwrap_or_default();
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        let state = c.state.map(|s| s.to_string()).unwrap_or_default();
        if labels.get(LABEL_PROJECT).map(String::as_str) == Some(project) {
            if labels.get(LABEL_ONEOFF).map(String::as_str) == Some("True") {
                continue;
            }
            let service = labels.get(LABEL_SERVICE).cloned().unwrap_or_default();
            let settled_by_list = refresh == Refresh::Fast
                && expected.get(&service).is_none_or(|e| {
                    labels.get(model::LABEL_CONFIG_HASH) == e.config_hash.as_ref()
                        && (e.content.is_none() || labels.get(LABEL_SECRETS) == e.content.as_ref())
                });
            if settled_by_list {
                observed.containers.push(from_list(project, c, name, state));
            } else {
                to_inspect.push(c.id.clone().unwrap_or_default());
            }
            continue;
        }
        if let Some(svc) = ours.get(&name) {
            observed.conflicts.push(Conflict {
                id: c.id.clone().unwrap_or_default(),
                name: name.clone(),
                service: (*svc).clone(),
                state: state.clone(),
            });
        }
    }
    let inspected: Vec<bollard::models::ContainerInspectResponse> =
        futures_util::stream::iter(to_inspect.iter().map(|id| {
            engine.call("inspect container", id, move |d| {
                d.inspect_container(id, None::<InspectContainerOptions>)
            })
        }))
        .buffer_unordered(INSPECT_CONCURRENCY)
        .try_collect()
        .await?;
    let images: BTreeSet<String> = inspected.iter().filter_map(|c| c.image.clone()).collect();
    let image_defaults: HashMap<String, ImageDefaults> =
        futures_util::stream::iter(images.into_iter().map(|id| async move {
            let img = engine
                .call("inspect image", &id, |d| d.inspect_image(&id))
                .await;
            let defaults = match img {
                Ok(img) => ImageDefaults::from(img.config.unwrap_or_default()),
                Err(e) if e.status() == Some(404) => ImageDefaults::default(),
                Err(e) => return Err(e),
            };
            Ok((id, defaults))
        }))
        .buffer_unordered(INSPECT_CONCURRENCY)
        .try_collect()
        .await?;
    let none = ImageDefaults::default();
    for c in inspected {
        let img = c
            .image
            .as_ref()
            .and_then(|i| image_defaults.get(i))
            .unwrap_or(&none);
        observed.containers.push(to_observed(project, c, img));
    }
    observed
        .containers
        .sort_by(|a, b| (&a.service, &a.name).cmp(&(&b.service, &b.name)));

    let filter = HashMap::from([(
        "label".to_string(),
        vec![format!("{LABEL_PROJECT}={project}")],
    )]);
    let networks = engine
        .call("list networks", project, |d| {
            d.list_networks(Some(
                ListNetworksOptionsBuilder::new().filters(&filter).build(),
            ))
        })
        .await?;
    for n in networks {
        let labels = n.labels.unwrap_or_default();
        let full = n.name.unwrap_or_default();
        let short = labels
            .get(LABEL_NETWORK)
            .cloned()
            .unwrap_or_else(|| strip_project(project, &full));
        observed.networks.insert(
            short,
            ObservedNetwork {
                id: n.id.unwrap_or_default(),
                name: full,
                internal: n.internal.unwrap_or(false),
            },
        );
    }
    let volumes = engine
        .call("list volumes", project, |d| {
            d.list_volumes(Some(
                ListVolumesOptionsBuilder::new().filters(&filter).build(),
            ))
        })
        .await?;
    for v in volumes.volumes.unwrap_or_default() {
        let short = v
            .labels
            .get(LABEL_VOLUME)
            .cloned()
            .unwrap_or_else(|| strip_project(project, &v.name));
        observed.volumes.insert(short);
    }
    Ok(observed)
}

/// A container as the list shows it: labels, state, health (from the status text, as API 1.41
/// has no health field there) and the networks it is attached to.
fn from_list(
    project: &str,
    c: bollard::models::ContainerSummary,
    name: String,
    state: String,
) -> ObservedContainer {
    let labels: BTreeMap<String, String> = c.labels.unwrap_or_default().into_iter().collect();
    let status = c.status.unwrap_or_default();
    let health = c
        .health
        .and_then(|h| h.status)
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty() && s != "none")
        .or_else(|| health_from_status(&status).map(str::to_string));
    let networks = c
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_keys()
        .map(|n| strip_project(project, &n))
        .collect();
    ObservedContainer {
        id: c.id.unwrap_or_default(),
        name,
        service: labels.get(LABEL_SERVICE).cloned().unwrap_or_default(),
        number: labels
            .get(LABEL_NUMBER)
            .cloned()
            .unwrap_or_else(|| "1".into()),
        state,
        health,
        image_id: c.image_id.unwrap_or_default(),
        labels,
        config: Service::default(),
        listed: Some(networks),
    }
}

/// The health in a container list's status text: `Up 2 minutes (healthy)`, `(unhealthy)`,
/// `(health: starting)`.
fn health_from_status(status: &str) -> Option<&'static str> {
    if status.ends_with("(healthy)") {
        Some("healthy")
    } else if status.ends_with("(unhealthy)") {
        Some("unhealthy")
    } else if status.ends_with("(health: starting)") {
        Some("starting")
    } else {
        None
    }
}

fn strip_project(project: &str, full: &str) -> String {
    full.strip_prefix(&format!("{project}_"))
        .unwrap_or(full)
        .to_string()
}

/// What the image sets, so that the container's copy of it is not taken for the file's intent.
#[derive(Debug, Default, Clone)]
struct ImageDefaults {
    env: BTreeSet<String>,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    user: String,
    working_dir: String,
    stop_signal: String,
    labels: BTreeMap<String, String>,
    healthcheck: Option<Vec<String>>,
}

impl From<bollard::models::ImageConfig> for ImageDefaults {
    fn from(c: bollard::models::ImageConfig) -> Self {
        ImageDefaults {
            env: c.env.unwrap_or_default().into_iter().collect(),
            cmd: c.cmd,
            entrypoint: c.entrypoint,
            user: c.user.unwrap_or_default(),
            working_dir: c.working_dir.unwrap_or_default(),
            stop_signal: c.stop_signal.unwrap_or_default(),
            labels: c.labels.unwrap_or_default().into_iter().collect(),
            healthcheck: c.healthcheck.and_then(|h| h.test),
        }
    }
}

fn non_empty(s: Option<String>, default: &str) -> Option<String> {
    s.filter(|s| !s.is_empty() && s != default)
}

/// Normalizes an inspected container into the model: the inverse of what `apply` (and Compose)
/// create. Values the engine or the image filled in are dropped, so they do not show as drift.
fn to_observed(
    project: &str,
    c: bollard::models::ContainerInspectResponse,
    img: &ImageDefaults,
) -> ObservedContainer {
    let config = c.config.clone().unwrap_or_default();
    let host = c.host_config.clone().unwrap_or_default();
    let labels: BTreeMap<String, String> = config
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let state = c.state.clone().unwrap_or_default();

    let mut s = Service {
        image: config.image.clone().unwrap_or_default(),
        ..Default::default()
    };
    s.command = config.cmd.clone().filter(|c| Some(c) != img.cmd.as_ref());
    s.entrypoint = config
        .entrypoint
        .clone()
        .filter(|e| Some(e) != img.entrypoint.as_ref() && !e.is_empty());
    s.user = non_empty(config.user.clone(), &img.user);
    s.working_dir = non_empty(config.working_dir.clone(), &img.working_dir);
    s.stop_signal = non_empty(config.stop_signal.clone(), &img.stop_signal)
        .filter(|s| s != "SIGTERM" || !img.stop_signal.is_empty());
    for kv in config.env.clone().unwrap_or_default() {
        if img.env.contains(&kv) {
            continue;
        }
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        s.environment.insert(k.to_string(), v.to_string());
    }
    s.labels = labels
        .iter()
        .filter(|(k, v)| {
            !k.starts_with("com.docker.compose.")
                && k.as_str() != LABEL_SECRETS
                && img.labels.get(*k) != Some(v)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(h) = config.healthcheck.clone() {
        let test = h.test.clone().unwrap_or_default();
        if !test.is_empty() && test != ["NONE"] && Some(&test) != img.healthcheck.as_ref() {
            s.healthcheck = Some(Healthcheck {
                test,
                interval: h
                    .interval
                    .filter(|n| *n > 0)
                    .map(|n| format_duration(n as u64)),
                timeout: h
                    .timeout
                    .filter(|n| *n > 0)
                    .map(|n| format_duration(n as u64)),
                retries: h.retries.filter(|n| *n > 0).map(|n| n as u32),
                start_period: h
                    .start_period
                    .filter(|n| *n > 0)
                    .map(|n| format_duration(n as u64)),
            });
        }
    }
    s.restart = Some(match host.restart_policy.as_ref() {
        Some(p) => {
            let name = p.name.map(|n| n.to_string()).unwrap_or_default();
            match (name.as_str(), p.maximum_retry_count.unwrap_or(0)) {
                ("", _) => "no".to_string(),
                ("on-failure", n) if n > 0 => format!("on-failure:{n}"),
                (n, _) => n.to_string(),
            }
        }
        None => "no".into(),
    });
    if let Some(l) = host.log_config.clone() {
        s.logging = Some(Logging {
            driver: l.typ.unwrap_or_default(),
            options: l.config.unwrap_or_default().into_iter().collect(),
        });
    }
    let prefix = format!("{project}_");
    for (net, ep) in c
        .network_settings
        .clone()
        .and_then(|n| n.networks)
        .unwrap_or_default()
    {
        let short = net.strip_prefix(&prefix).unwrap_or(&net).to_string();
        let mut aliases = ep.aliases.unwrap_or_default();
        aliases.sort();
        s.networks.insert(short, ServiceNetwork { aliases });
    }
    for (key, bindings) in host.port_bindings.clone().unwrap_or_default() {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        for b in bindings.unwrap_or_default() {
            s.ports.push(Port {
                target: port.parse().unwrap_or(0),
                published: b.host_port.as_deref().unwrap_or("0").parse().unwrap_or(0),
                host_ip: b
                    .host_ip
                    .clone()
                    .filter(|i| !i.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".into()),
                protocol: proto.to_string(),
            });
        }
    }
    s.ports.sort_by_key(|p| (p.target, p.published));
    for m in c.mounts.clone().unwrap_or_default() {
        let typ = m.typ.map(|t| t.to_string()).unwrap_or_default();
        let target = m.destination.clone().unwrap_or_default();
        match typ.as_str() {
            "volume" => s.volumes.push(Mount {
                kind: "volume".into(),
                source: strip_project(project, &m.name.clone().unwrap_or_default()),
                target,
                read_only: !m.rw.unwrap_or(true),
            }),
            "bind" => s.volumes.push(Mount {
                kind: "bind".into(),
                source: m.source.clone().unwrap_or_default(),
                target,
                read_only: !m.rw.unwrap_or(true),
            }),
            _ => {}
        }
    }
    s.volumes.sort_by(|a, b| a.target.cmp(&b.target));
    let mut tmpfs: Vec<String> = host.tmpfs.clone().unwrap_or_default().into_keys().collect();
    for m in host.mounts.clone().unwrap_or_default() {
        if m.typ.map(|t| t.to_string()).as_deref() == Some("tmpfs") {
            tmpfs.extend(m.target);
        }
    }
    tmpfs.sort();
    s.tmpfs = tmpfs;
    s.read_only = host.readonly_rootfs.unwrap_or(false);
    s.cap_drop = caps(host.cap_drop.clone());
    s.cap_add = caps(host.cap_add.clone());
    s.security_opt = host.security_opt.clone().unwrap_or_default();
    s.pids_limit = host.pids_limit.filter(|p| *p > 0);
    s.stop_grace_period = config
        .stop_timeout
        .map(|t| format_duration(t as u64 * 1_000_000_000));
    let memory = host
        .memory
        .filter(|m| *m > 0)
        .map(|m| format_bytes(m as u64));
    let cpus = host
        .nano_cpus
        .filter(|n| *n > 0)
        .map(|n| format_cpus(n as f64 / 1e9));
    if memory.is_some() || cpus.is_some() {
        s.deploy = Some(model::Deploy {
            resources: model::Resources {
                limits: Some(Limits { cpus, memory }),
                reservations: None,
            },
        });
    }
    ObservedContainer {
        id: c.id.unwrap_or_default(),
        name: c
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        service: labels.get(LABEL_SERVICE).cloned().unwrap_or_default(),
        number: labels
            .get(LABEL_NUMBER)
            .cloned()
            .unwrap_or_else(|| "1".into()),
        state: state.status.map(|s| s.to_string()).unwrap_or_default(),
        health: state
            .health
            .and_then(|h| h.status)
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty() && s != "none"),
        image_id: c.image.unwrap_or_default(),
        labels,
        config: s,
        listed: None,
    }
}

/// Capability names as Docker shows them or Compose writes them, canonical: no `CAP_`, sorted.
pub fn caps(list: Option<Vec<String>>) -> Vec<String> {
    let mut v: Vec<String> = list
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            c.to_ascii_uppercase()
                .trim_start_matches("CAP_")
                .to_string()
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Nanoseconds as a Compose duration: `1m30s`, `10s`, `500ms`.
pub fn format_duration(ns: u64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if !ns.is_multiple_of(1_000_000_000) {
        return if ns.is_multiple_of(1_000_000) {
            format!("{}ms", ns / 1_000_000)
        } else {
            format!("{ns}ns")
        };
    }
    let mut secs = ns / 1_000_000_000;
    let mut out = String::new();
    for (unit, size) in [("h", 3600), ("m", 60)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if secs > 0 || out.is_empty() {
        out.push_str(&format!("{secs}s"));
    }
    out
}

/// Bytes in the largest exact unit: `1g`, `512m`, `64k`, or a plain number.
pub fn format_bytes(b: u64) -> String {
    for (unit, size) in [("g", 1u64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if b.is_multiple_of(size) {
            return format!("{}{unit}", b / size);
        }
    }
    b.to_string()
}

/// CPUs without trailing zeros: `1`, `0.5`, `0.25`.
pub fn format_cpus(c: f64) -> String {
    let s = format!("{c:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_units() {
        assert_eq!(format_duration(90_000_000_000), "1m30s");
        assert_eq!(format_duration(10_000_000_000), "10s");
        assert_eq!(format_duration(500_000_000), "500ms");
        assert_eq!(format_duration(7_200_000_000_000), "2h");
        assert_eq!(format_bytes(512 << 20), "512m");
        assert_eq!(format_bytes(1 << 30), "1g");
        assert_eq!(format_bytes(1536), "1536");
        assert_eq!(format_cpus(1.0), "1");
        assert_eq!(format_cpus(0.25), "0.25");
        assert_eq!(
            caps(Some(vec!["CAP_NET_BIND_SERVICE".into(), "chown".into()])),
            vec!["CHOWN", "NET_BIND_SERVICE"]
        );
    }

    #[test]
    fn health_from_list_status() {
        assert_eq!(
            health_from_status("Up 2 minutes (healthy)"),
            Some("healthy")
        );
        assert_eq!(
            health_from_status("Up 5 seconds (health: starting)"),
            Some("starting")
        );
        assert_eq!(
            health_from_status("Up 1 hour (unhealthy)"),
            Some("unhealthy")
        );
        assert_eq!(health_from_status("Up 3 seconds"), None);
        assert_eq!(health_from_status("Exited (0) 2 seconds ago"), None);
    }
}
