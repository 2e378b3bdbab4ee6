//! The engine boundary: the compose model to the Docker API and back, in one place.
//!
//! Takes: a [`Service`] of the shared model (plus the project's name and the file's directory).
//! Gives: the bodies of the calls that make it real (container create and update, network and
//! volume create, the archive of files copied in before start), and, the other way, a container
//! as the engine reports it (inspect or list) read back into the same model. Both directions live
//! here so that whatever one writes the other reads: a service survives the round trip unchanged
//! (the unit test at the bottom proves it without an engine).
//!
//! Values the engine or the image fills in are not the file's intent: [`ImageDefaults`] removes
//! them from both sides before they are compared, so an image's own STOPSIGNAL, environment,
//! command or labels never show as drift.

use crate::deploy::desired::Desired;
use crate::deploy::plan::content_label;
use crate::deploy::state::ObservedContainer;
use crate::model::labels::{
    COMPOSE_CONFIG_HASH, COMPOSE_NETWORK, COMPOSE_NUMBER, COMPOSE_ONEOFF, COMPOSE_PROJECT,
    COMPOSE_SERVICE, COMPOSE_VOLUME, LABEL_CONFIG_HASH, LABEL_SECRETS,
};
use crate::model::{
    self, Healthcheck, Limits, Logging, Mount, Port, RestartPolicy, Service, ServiceNetwork,
};
use crate::names;
use crate::units::{Bytes, Cpus, Duration};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary, ContainerUpdateBody,
    EndpointSettings, HealthConfig, HostConfig, HostConfigLogConfig, Mount as EngineMount,
    MountType, NetworkCreateRequest, NetworkingConfig, PortBinding, RestartPolicy as EngineRestart,
    RestartPolicyNameEnum, VolumeCreateRequest,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The number of the one container fedgen runs per service (Compose's `container-number`).
pub const CONTAINER_NUMBER: u32 = 1;

/// The name fedgen gives a service's container.
pub fn container_name(project: &str, service: &str) -> String {
    names::container_name(project, service, CONTAINER_NUMBER)
}

fn restart_to_engine(r: RestartPolicy) -> EngineRestart {
    let (name, count) = r.engine_parts();
    EngineRestart {
        name: Some(match name {
            "always" => RestartPolicyNameEnum::ALWAYS,
            "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
            "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
            _ => RestartPolicyNameEnum::NO,
        }),
        maximum_retry_count: (count > 0).then_some(count),
    }
}

fn restart_from_engine(r: Option<&EngineRestart>) -> RestartPolicy {
    r.and_then(|p| {
        RestartPolicy::from_engine(
            &p.name.map(|n| n.to_string()).unwrap_or_default(),
            p.maximum_retry_count.unwrap_or(0),
        )
        .ok()
    })
    .unwrap_or(RestartPolicy::No)
}

fn nanos(d: Option<Duration>) -> Option<i64> {
    d.map(|d| d.as_nanos() as i64)
}

/// The labels a service's container carries: the file's, Compose's (so `docker compose ps`,
/// `logs` and `down` see it) and the content hashes of the secrets and configs it reads.
pub fn container_labels(
    project: &str,
    service: &str,
    svc: &Service,
    desired: &Desired,
) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = svc.labels.clone().into_iter().collect();
    labels.insert(COMPOSE_PROJECT.into(), project.into());
    labels.insert(COMPOSE_SERVICE.into(), service.into());
    labels.insert(COMPOSE_NUMBER.into(), CONTAINER_NUMBER.to_string());
    labels.insert(COMPOSE_ONEOFF.into(), "False".into());
    if let Some(h) = svc.labels.get(LABEL_CONFIG_HASH) {
        labels.insert(COMPOSE_CONFIG_HASH.into(), h.clone());
    }
    if let Some(content) = content_label(svc, &desired.hashes) {
        labels.insert(LABEL_SECRETS.into(), content);
    }
    labels
}

/// The container create request for a service: everything the file says, plus the labels.
/// Networks after the first are connected separately ([`endpoint`]).
pub fn create_body(
    project: &str,
    service: &str,
    svc: &Service,
    desired: &Desired,
) -> ContainerCreateBody {
    let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &svc.ports {
        port_bindings
            .entry(format!("{}/{}", p.target, p.protocol))
            .or_insert_with(|| Some(vec![]))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(p.host_ip.clone()),
                host_port: Some(p.published.to_string()),
            });
    }
    let mut mounts: Vec<EngineMount> = svc
        .volumes
        .iter()
        .map(|m| EngineMount {
            target: Some(m.target.clone()),
            source: Some(if m.kind == "volume" {
                match desired.compose.volumes.get(&m.source) {
                    Some(v) => v.engine_name(project, &m.source),
                    None => names::scoped(project, &m.source),
                }
            } else {
                desired.base_dir.join(&m.source).display().to_string()
            }),
            typ: Some(if m.kind == "volume" {
                MountType::VOLUME
            } else {
                MountType::BIND
            }),
            read_only: Some(m.read_only),
            ..Default::default()
        })
        .collect();
    for s in &svc.secrets {
        if let Some(file) = desired
            .compose
            .secrets
            .get(&s.source)
            .and_then(|x| x.file.as_ref())
        {
            mounts.push(EngineMount {
                target: Some(s.target.clone()),
                source: Some(desired.base_dir.join(file).display().to_string()),
                typ: Some(MountType::BIND),
                read_only: Some(true),
                ..Default::default()
            });
        }
    }
    let limits = svc.limits();
    let first_net = svc.networks.iter().next();
    ContainerCreateBody {
        image: Some(svc.image.clone()),
        cmd: svc.command.clone(),
        entrypoint: svc.entrypoint.clone(),
        user: svc.user.clone(),
        working_dir: svc.working_dir.clone(),
        env: Some(
            svc.environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        labels: Some(container_labels(project, service, svc, desired)),
        exposed_ports: (!svc.ports.is_empty()).then(|| port_bindings.keys().cloned().collect()),
        // An empty test keeps the image's own, with this timing (as Compose does).
        healthcheck: svc.healthcheck.as_ref().map(|h| HealthConfig {
            test: (!h.test.is_empty()).then(|| h.test.clone()),
            interval: nanos(h.interval),
            timeout: nanos(h.timeout),
            retries: h.retries.map(i64::from),
            start_period: nanos(h.start_period),
            start_interval: None,
        }),
        stop_signal: svc.stop_signal.clone(),
        stop_timeout: svc.stop_grace_period.map(|d| d.as_secs() as i64),
        host_config: Some(HostConfig {
            restart_policy: Some(restart_to_engine(svc.restart.unwrap_or(RestartPolicy::No))),
            log_config: svc.logging.as_ref().map(|l| HostConfigLogConfig {
                typ: Some(l.driver.clone()),
                config: Some(l.options.clone().into_iter().collect()),
            }),
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            mounts: (!mounts.is_empty()).then_some(mounts),
            tmpfs: (!svc.tmpfs.is_empty()).then(|| {
                svc.tmpfs
                    .iter()
                    .map(|t| (t.clone(), String::new()))
                    .collect()
            }),
            readonly_rootfs: Some(svc.read_only),
            cap_add: (!svc.cap_add.is_empty()).then(|| svc.cap_add.clone()),
            cap_drop: (!svc.cap_drop.is_empty()).then(|| svc.cap_drop.clone()),
            security_opt: (!svc.security_opt.is_empty()).then(|| svc.security_opt.clone()),
            pids_limit: svc.pids_limit,
            shm_size: svc.shm_size.map(|b| b.0 as i64),
            memory: limits.memory.map(|b| b.0 as i64),
            nano_cpus: limits.cpus.map(|c| c.nanos() as i64),
            network_mode: first_net.map(|(n, _)| names::scoped(project, n)),
            ..Default::default()
        }),
        networking_config: first_net.map(|(n, sn)| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(names::scoped(project, n), endpoint(sn))])),
        }),
        ..Default::default()
    }
}

/// A container's endpoint on one network (its aliases there).
pub fn endpoint(n: &ServiceNetwork) -> EndpointSettings {
    EndpointSettings {
        aliases: Some(n.aliases.clone()),
        ..Default::default()
    }
}

/// What `container update` changes in place: the restart policy and the limits.
pub fn update_body(svc: &Service) -> ContainerUpdateBody {
    let limits = svc.limits();
    ContainerUpdateBody {
        restart_policy: Some(restart_to_engine(svc.restart.unwrap_or(RestartPolicy::No))),
        memory: limits.memory.map(|b| b.0 as i64),
        nano_cpus: limits.cpus.map(|c| c.nanos() as i64),
        pids_limit: svc.pids_limit,
        ..Default::default()
    }
}

/// A project network, labelled as Compose labels it.
pub fn network_create(project: &str, name: &str, net: &model::Network) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: names::scoped(project, name),
        driver: Some("bridge".into()),
        internal: Some(net.internal),
        labels: Some(HashMap::from([
            (COMPOSE_PROJECT.to_string(), project.to_string()),
            (COMPOSE_NETWORK.to_string(), name.to_string()),
        ])),
        ..Default::default()
    }
}

/// A project volume, labelled as Compose labels it.
pub fn volume_create(project: &str, name: &str) -> VolumeCreateRequest {
    VolumeCreateRequest {
        name: Some(names::scoped(project, name)),
        labels: Some(HashMap::from([
            (COMPOSE_PROJECT.to_string(), project.to_string()),
            (COMPOSE_VOLUME.to_string(), name.to_string()),
        ])),
        ..Default::default()
    }
}

/// A tar archive (relative to `/`) holding each file at its absolute target, mode 0444 (as
/// Compose: readable by a non-root container user), with its parent directories: how secrets
/// from the environment and inline configs reach a container before it starts.
pub fn files_archive(files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    for (target, _) in files {
        let mut path = std::path::Path::new(target.trim_start_matches('/')).parent();
        while let Some(p) = path.filter(|p| !p.as_os_str().is_empty()) {
            dirs.insert(p.display().to_string());
            path = p.parent();
        }
    }
    for dir in &dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        b.append_data(&mut h, format!("{dir}/"), std::io::empty())?;
    }
    for (target, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o444);
        h.set_size(content.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, target.trim_start_matches('/'), content.as_slice())?;
    }
    b.into_inner()
}

/// What the image sets, so that a container's copy of it is not taken for the file's intent.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ImageDefaults {
    env: BTreeSet<String>,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    user: String,
    working_dir: String,
    stop_signal: String,
    labels: BTreeMap<String, String>,
    healthcheck: Option<Healthcheck>,
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
            healthcheck: c.healthcheck.map(|h| health_from_engine(&h)),
        }
    }
}

impl ImageDefaults {
    /// Removes from `s` every value that the image (or the engine, for an image that sets none)
    /// gives a container anyway. Applied to both the running and the desired service, so a file
    /// that restates the image's value (postgres' `stop_signal: SIGINT`) compares equal to a
    /// container that has it, whoever set it.
    pub fn strip(&self, s: &mut Service) {
        if s.command.is_some() && s.command == self.cmd {
            s.command = None;
        }
        if s.entrypoint.as_ref().is_some_and(|e| e.is_empty()) || s.entrypoint == self.entrypoint {
            s.entrypoint = None;
        }
        let same = |v: &Option<String>, image: &str| v.as_deref().is_some_and(|v| v == image);
        if s.user.as_deref() == Some("") || same(&s.user, &self.user) {
            s.user = None;
        }
        if s.working_dir.as_deref() == Some("") || same(&s.working_dir, &self.working_dir) {
            s.working_dir = None;
        }
        let stop = if self.stop_signal.is_empty() {
            "SIGTERM"
        } else {
            self.stop_signal.as_str()
        };
        if s.stop_signal.as_deref() == Some("") || same(&s.stop_signal, stop) {
            s.stop_signal = None;
        }
        s.environment
            .retain(|k, v| !self.env.contains(&format!("{k}={v}")));
        s.labels.retain(|k, v| self.labels.get(k) != Some(v));
        // The image's healthcheck as a whole is not the file's; its test alone, with other
        // timing, is the file's `healthcheck: image` (an empty test).
        if let Some(h) = &mut s.healthcheck {
            let image = self.healthcheck.as_ref();
            if h.test == ["NONE"] || Some(&*h) == image {
                s.healthcheck = None;
            } else if image.is_some_and(|i| i.test == h.test) {
                h.test.clear();
            }
        }
    }
}

/// A container as the list shows it: labels, state, health (from the status text, as API 1.41
/// has no health field there) and the networks it is attached to.
pub fn from_list(project: &str, c: ContainerSummary) -> ObservedContainer {
    let name = c
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default();
    let state = c.state.map(|s| s.to_string()).unwrap_or_default();
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
        .map(|n| names::unscoped(project, &n).to_string())
        .collect();
    ObservedContainer {
        id: c.id.unwrap_or_default(),
        name,
        service: labels.get(COMPOSE_SERVICE).cloned().unwrap_or_default(),
        state,
        exit_code: exit_from_status(&status),
        health,
        image_id: c.image_id.unwrap_or_default(),
        labels,
        config: Service::default(),
        image: None,
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

/// The exit code in a container list's status text: `Exited (0) 2 minutes ago`.
fn exit_from_status(status: &str) -> Option<i64> {
    status
        .strip_prefix("Exited (")
        .and_then(|r| r.split_once(')'))
        .and_then(|(code, _)| code.parse().ok())
}

/// An inspected container read back into the model: the inverse of [`create_body`] (and of what
/// Compose creates). Values the engine fills in are dropped here; the image's are dropped by
/// [`ImageDefaults::strip`].
pub fn read_back(project: &str, c: ContainerInspectResponse) -> (ObservedContainer, Service) {
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
        command: config.cmd.clone(),
        entrypoint: config.entrypoint.clone(),
        user: config.user.clone(),
        working_dir: config.working_dir.clone(),
        stop_signal: config.stop_signal.clone(),
        ..Default::default()
    };
    for kv in config.env.clone().unwrap_or_default() {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        s.environment.insert(k.to_string(), v.to_string());
    }
    s.labels = labels
        .iter()
        .filter(|(k, _)| !k.starts_with("com.docker.compose.") && k.as_str() != LABEL_SECRETS)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    s.healthcheck = config.healthcheck.as_ref().map(health_from_engine);
    s.restart = Some(restart_from_engine(host.restart_policy.as_ref()));
    if let Some(l) = host.log_config.clone() {
        s.logging = Some(Logging {
            driver: l.typ.unwrap_or_default(),
            options: l.config.unwrap_or_default().into_iter().collect(),
        });
    }
    for (net, ep) in c
        .network_settings
        .clone()
        .and_then(|n| n.networks)
        .unwrap_or_default()
    {
        let mut aliases = ep.aliases.unwrap_or_default();
        aliases.sort();
        s.networks.insert(
            names::unscoped(project, &net).to_string(),
            ServiceNetwork { aliases },
        );
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
    // Mounts as the engine resolved them (the `Mounts` of the inspect), volumes by the name the
    // file gives them and binds by their absolute source.
    for m in c.mounts.clone().unwrap_or_default() {
        let typ = m.typ.map(|t| t.to_string()).unwrap_or_default();
        let target = m.destination.clone().unwrap_or_default();
        let read_only = !m.rw.unwrap_or(true);
        match typ.as_str() {
            "volume" => s.volumes.push(Mount {
                kind: "volume".into(),
                source: m.name.clone().unwrap_or_default(),
                target,
                read_only,
            }),
            "bind" => s.volumes.push(Mount {
                kind: "bind".into(),
                source: m.source.clone().unwrap_or_default(),
                target,
                read_only,
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
    // The engine reports its default of 64m when none was asked for.
    s.shm_size = host
        .shm_size
        .filter(|b| *b > 0 && *b != 64 << 20)
        .map(|b| Bytes(b as u64));
    s.stop_grace_period = config.stop_timeout.map(|t| Duration::from_secs(t as u64));
    let memory = host.memory.filter(|m| *m > 0).map(|m| Bytes(m as u64));
    let cpus = host.nano_cpus.filter(|n| *n > 0).map(|n| Cpus(n as u64));
    if memory.is_some() || cpus.is_some() {
        s.deploy = Some(model::Deploy {
            resources: model::Resources {
                limits: Some(Limits { cpus, memory }),
                reservations: None,
            },
        });
    }
    let observed = ObservedContainer {
        id: c.id.unwrap_or_default(),
        name: c
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        service: labels.get(COMPOSE_SERVICE).cloned().unwrap_or_default(),
        state: state.status.map(|s| s.to_string()).unwrap_or_default(),
        exit_code: state.exit_code,
        health: state
            .health
            .and_then(|h| h.status)
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty() && s != "none"),
        image_id: c.image.unwrap_or_default(),
        labels,
        config: Service::default(),
        image: None,
        listed: None,
    };
    (observed, s)
}

/// A healthcheck as the engine reports it (zero timing is the engine's default: absent).
fn health_from_engine(h: &HealthConfig) -> Healthcheck {
    let positive = |n: Option<i64>| n.filter(|n| *n > 0).map(|n| Duration(n as u64));
    Healthcheck {
        test: h.test.clone().unwrap_or_default(),
        interval: positive(h.interval),
        timeout: positive(h.timeout),
        retries: h.retries.filter(|n| *n > 0).map(|n| n as u32),
        start_period: positive(h.start_period),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::plan::canonical;
    use bollard::models::{
        ContainerConfig, ContainerState, EndpointSettings, MountPoint, NetworkSettings,
    };
    use std::path::Path;

    /// What an engine reports for a container made from `body` (the part of its inspect that
    /// fedgen reads), as Engine 20.10 reports it.
    fn engine_inspect(
        body: &ContainerCreateBody,
        extra_networks: &[(String, ServiceNetwork)],
    ) -> ContainerInspectResponse {
        let host = body.host_config.clone().unwrap();
        let mut networks: HashMap<String, EndpointSettings> = body
            .networking_config
            .clone()
            .and_then(|n| n.endpoints_config)
            .unwrap_or_default();
        for (n, sn) in extra_networks {
            networks.insert(n.clone(), endpoint(sn));
        }
        let mounts = host
            .mounts
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.typ != Some(MountType::TMPFS))
            .map(|m| MountPoint {
                typ: Some(match m.typ {
                    Some(MountType::VOLUME) => "volume".to_string(),
                    _ => "bind".to_string(),
                }),
                name: (m.typ == Some(MountType::VOLUME)).then(|| m.source.clone().unwrap()),
                source: Some(m.source.clone().unwrap()),
                destination: m.target.clone(),
                rw: Some(!m.read_only.unwrap_or(false)),
                ..Default::default()
            })
            .collect();
        ContainerInspectResponse {
            id: Some("c0ffee".into()),
            name: Some("/p-web-1".into()),
            image: Some("sha256:abc".into()),
            config: Some(ContainerConfig {
                image: body.image.clone(),
                cmd: body.cmd.clone(),
                entrypoint: body.entrypoint.clone(),
                user: body.user.clone(),
                working_dir: body.working_dir.clone(),
                env: body.env.clone(),
                labels: body.labels.clone(),
                healthcheck: body.healthcheck.clone(),
                stop_signal: body.stop_signal.clone(),
                stop_timeout: body.stop_timeout,
                ..Default::default()
            }),
            host_config: Some(host),
            mounts: Some(mounts),
            network_settings: Some(NetworkSettings {
                networks: Some(networks),
                ..Default::default()
            }),
            state: Some(ContainerState::default()),
            ..Default::default()
        }
    }

    #[test]
    fn a_service_survives_the_round_trip_through_the_engine_mapping() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/federated-imputation.yml"),
        )
        .unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &text).unwrap();
        let desired = Desired::load(file.path(), None).unwrap();
        let base = &desired.base_dir;
        let project = desired.compose.name.as_str();
        for (name, svc) in &desired.compose.services {
            let body = create_body(project, name, svc, &desired);
            let extra: Vec<(String, ServiceNetwork)> = svc
                .networks
                .iter()
                .skip(1)
                .map(|(n, sn)| (names::scoped(project, n), sn.clone()))
                .collect();
            let (observed, back) = read_back(project, engine_inspect(&body, &extra));
            assert_eq!(observed.service, *name);
            let mut want = canonical(svc, &desired.compose, base);
            let mut have = canonical(&back, &desired.compose, base);
            // Secrets reach the container as files, not as part of its config.
            have.volumes
                .retain(|m| !m.target.starts_with("/run/secrets/"));
            let none = ImageDefaults::default();
            none.strip(&mut want);
            none.strip(&mut have);
            want.labels.retain(|k, _| have.labels.contains_key(k));
            assert_eq!(have, want, "{name}");
        }
    }

    #[test]
    fn restart_policies_cross_the_boundary_unchanged() {
        for p in [
            "no",
            "always",
            "unless-stopped",
            "on-failure",
            "on-failure:5",
        ] {
            let p: RestartPolicy = p.parse().unwrap();
            assert_eq!(restart_from_engine(Some(&restart_to_engine(p))), p);
        }
        assert_eq!(restart_from_engine(None), RestartPolicy::No);
    }

    #[test]
    fn image_values_are_not_the_files_intent() {
        let img = ImageDefaults {
            stop_signal: "SIGINT".into(),
            env: BTreeSet::from(["PGDATA=/var/lib/postgresql/data".to_string()]),
            ..Default::default()
        };
        let mut restated = Service {
            stop_signal: Some("SIGINT".into()),
            ..Default::default()
        };
        restated
            .environment
            .insert("PGDATA".into(), "/var/lib/postgresql/data".into());
        img.strip(&mut restated);
        assert_eq!(restated, Service::default());
        // An engine default is dropped too, but only where the image sets nothing.
        let mut term = Service {
            stop_signal: Some("SIGTERM".into()),
            ..Default::default()
        };
        ImageDefaults::default().strip(&mut term);
        assert_eq!(term.stop_signal, None);
        let mut term = Service {
            stop_signal: Some("SIGTERM".into()),
            ..Default::default()
        };
        img.strip(&mut term);
        assert_eq!(term.stop_signal.as_deref(), Some("SIGTERM"));
    }

    #[test]
    fn list_status_text() {
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
        assert_eq!(exit_from_status("Exited (0) 2 seconds ago"), Some(0));
        assert_eq!(exit_from_status("Exited (137) 1 hour ago"), Some(137));
        assert_eq!(exit_from_status("Up 3 seconds"), None);
        assert_eq!(
            caps(Some(vec!["CAP_NET_BIND_SERVICE".into(), "chown".into()])),
            vec!["CHOWN", "NET_BIND_SERVICE"]
        );
    }
}
