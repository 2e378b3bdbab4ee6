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
    COMPOSE_CONFIG_FILES, COMPOSE_DEPENDS_ON, COMPOSE_ENV_FILE, COMPOSE_VERSION,
    COMPOSE_VERSION_VALUE, COMPOSE_WORKING_DIR,
};
use crate::model::labels::{
    COMPOSE_CONFIG_HASH, COMPOSE_NETWORK, COMPOSE_NUMBER, COMPOSE_ONEOFF, COMPOSE_PROJECT,
    COMPOSE_SERVICE, COMPOSE_VOLUME, LABEL_CONFIG_HASH, LABEL_SECRETS,
};
use crate::model::{
    self, Compose, Healthcheck, Limits, Logging, Mount, Port, RestartPolicy, Service,
    ServiceNetwork, Ulimit,
};
use crate::names;
use crate::units::{Bytes, Cpus, Duration};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary, ContainerUpdateBody,
    DeviceMapping, EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig,
    HostConfigLogConfig, Ipam, IpamConfig, Mount as EngineMount, MountType, NetworkCreateRequest,
    NetworkingConfig, PortBinding, ResourcesUlimits, RestartPolicy as EngineRestart,
    RestartPolicyNameEnum, VolumeCreateRequest,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The number of the one container fedgen runs per service (Compose's `container-number`).
pub const CONTAINER_NUMBER: u32 = 1;

/// The name of a service's container: its `container_name`, else Compose's `PROJECT-SERVICE-1`.
pub fn container_name(compose: &Compose, service: &str) -> String {
    compose
        .services
        .get(service)
        .and_then(|s| s.container_name.clone())
        .unwrap_or_else(|| names::container_name(&compose.name, service, CONTAINER_NUMBER))
}

/// A network's name on the engine, by its key in the file.
pub fn network_name(compose: &Compose, key: &str) -> String {
    match compose.networks.get(key) {
        Some(n) => n.engine_name(&compose.name, key),
        None => names::scoped(&compose.name, key),
    }
}

/// A network's key in the file, by its name on the engine (the inverse of [`network_name`]).
pub fn network_key(compose: &Compose, engine_name: &str) -> String {
    compose
        .networks
        .iter()
        .find(|(k, n)| n.engine_name(&compose.name, k) == engine_name)
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| names::unscoped(&compose.name, engine_name).to_string())
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
    // Compose's own hash of the service, so a later `docker compose up` of the same file finds
    // the container up to date (fedgen's hash, of its own model, is LABEL_CONFIG_HASH).
    if let Some(h) = desired
        .compose_hashes
        .get(service)
        .or(svc.labels.get(LABEL_CONFIG_HASH))
    {
        labels.insert(COMPOSE_CONFIG_HASH.into(), h.clone());
    }
    labels.insert(
        COMPOSE_WORKING_DIR.into(),
        desired.base_dir.display().to_string(),
    );
    labels.insert(
        COMPOSE_CONFIG_FILES.into(),
        desired
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    if !desired.env_files.is_empty() {
        labels.insert(
            COMPOSE_ENV_FILE.into(),
            desired
                .env_files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    labels.insert(
        COMPOSE_DEPENDS_ON.into(),
        svc.depends_on
            .iter()
            .map(|(k, d)| format!("{k}:{}:{}", d.condition.as_str(), d.restart))
            .collect::<Vec<_>>()
            .join(","),
    );
    labels.insert(COMPOSE_VERSION.into(), COMPOSE_VERSION_VALUE.into());
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
    let compose = &desired.compose;
    let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &svc.ports {
        port_bindings
            .entry(format!("{}/{}", p.target, p.protocol))
            .or_insert_with(|| Some(vec![]))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: p.host_ip.clone(),
                host_port: p.published.map(|p| p.to_string()),
            });
    }
    let mut exposed: BTreeSet<String> = port_bindings.keys().cloned().collect();
    exposed.extend(svc.expose.iter().cloned());
    // Binds Compose's short syntax writes make their host directory when it is missing: only the
    // legacy `Binds` do that (a `Mounts` bind refuses a missing source).
    let mut binds: Vec<String> = Vec::new();
    let mut mounts: Vec<EngineMount> = Vec::new();
    for m in &svc.volumes {
        let source = if m.kind == "volume" {
            if m.source.is_empty() {
                None
            } else {
                Some(match compose.volumes.get(&m.source) {
                    Some(v) => v.engine_name(project, &m.source),
                    None => names::scoped(project, &m.source),
                })
            }
        } else {
            Some(desired.base_dir.join(&m.source).display().to_string())
        };
        if m.kind == "bind" && m.create_host_path {
            let mode = if m.read_only { ":ro" } else { ":rw" };
            binds.push(format!(
                "{}:{}{mode}",
                source.clone().unwrap_or_default(),
                m.target
            ));
            continue;
        }
        mounts.push(EngineMount {
            target: Some(m.target.clone()),
            source,
            typ: Some(if m.kind == "volume" {
                MountType::VOLUME
            } else {
                MountType::BIND
            }),
            read_only: Some(m.read_only),
            ..Default::default()
        });
    }
    for s in &svc.secrets {
        // Generated on the engine: the value's file, and its volume, so the engine counts the
        // volume as in use (see deploy::secrets).
        if let Some(stored) = desired.engine_secrets.get(&s.source) {
            mounts.push(EngineMount {
                target: Some(s.target.clone()),
                source: Some(stored.host_path()),
                typ: Some(MountType::BIND),
                read_only: Some(true),
                ..Default::default()
            });
            mounts.push(EngineMount {
                target: Some(format!(
                    "{}/{}",
                    crate::deploy::secrets::VOLUME_DIR,
                    s.source
                )),
                source: Some(stored.volume.clone()),
                typ: Some(MountType::VOLUME),
                read_only: Some(true),
                ..Default::default()
            });
            continue;
        }
        if let Some(file) = compose.secrets.get(&s.source).and_then(|x| x.file.as_ref()) {
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
    let reservation = svc
        .deploy
        .as_ref()
        .and_then(|d| d.resources.reservations.as_ref())
        .and_then(|r| r.memory);
    let first_net = svc.networks.iter().next();
    let network_mode = match (&svc.network_mode, first_net) {
        (Some(m), _) => Some(m.clone()),
        (None, Some((n, _))) => Some(network_name(compose, n)),
        (None, None) => None,
    };
    let some_vec = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    ContainerCreateBody {
        image: Some(svc.image.clone()),
        cmd: svc.command.clone(),
        entrypoint: svc.entrypoint.clone(),
        user: svc.user.clone(),
        working_dir: svc.working_dir.clone(),
        hostname: svc.hostname.clone(),
        domainname: svc.domainname.clone(),
        open_stdin: svc.stdin_open.then_some(true),
        tty: svc.tty.then_some(true),
        env: Some(
            svc.environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        labels: Some(container_labels(project, service, svc, desired)),
        exposed_ports: (!exposed.is_empty()).then(|| exposed.into_iter().collect()),
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
            binds: (!binds.is_empty()).then_some(binds),
            mounts: (!mounts.is_empty()).then_some(mounts),
            tmpfs: (!svc.tmpfs.is_empty()).then(|| {
                svc.tmpfs
                    .iter()
                    .map(|t| match t.split_once(':') {
                        Some((path, opts)) => (path.to_string(), opts.to_string()),
                        None => (t.clone(), String::new()),
                    })
                    .collect()
            }),
            readonly_rootfs: Some(svc.read_only),
            cap_add: some_vec(&svc.cap_add),
            cap_drop: some_vec(&svc.cap_drop),
            security_opt: some_vec(&svc.security_opt),
            pids_limit: svc.pids_limit,
            shm_size: svc.shm_size.map(|b| b.0 as i64),
            memory: limits.memory.map(|b| b.0 as i64),
            memory_reservation: reservation.map(|b| b.0 as i64),
            nano_cpus: limits.cpus.map(|c| c.nanos() as i64),
            cpu_shares: svc.cpu_shares,
            network_mode,
            extra_hosts: some_vec(&svc.extra_hosts),
            dns: some_vec(&svc.dns),
            dns_search: some_vec(&svc.dns_search),
            init: svc.init,
            privileged: svc.privileged.then_some(true),
            sysctls: (!svc.sysctls.is_empty()).then(|| svc.sysctls.clone().into_iter().collect()),
            ulimits: (!svc.ulimits.is_empty()).then(|| {
                svc.ulimits
                    .iter()
                    .map(|(name, u)| ResourcesUlimits {
                        name: Some(name.clone()),
                        soft: Some(u.soft),
                        hard: Some(u.hard),
                    })
                    .collect()
            }),
            ipc_mode: svc.ipc.clone(),
            pid_mode: svc.pid.clone(),
            group_add: some_vec(&svc.group_add),
            oom_score_adj: svc.oom_score_adj,
            runtime: svc.runtime.clone(),
            devices: (!svc.devices.is_empty())
                .then(|| svc.devices.iter().map(|d| device(d)).collect()),
            ..Default::default()
        }),
        networking_config: match (&svc.network_mode, first_net) {
            (None, Some((n, sn))) => Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network_name(compose, n),
                    endpoint(service, svc, sn),
                )])),
            }),
            _ => None,
        },
        ..Default::default()
    }
}

/// `host-path[:container-path[:permissions]]` as the engine takes it.
fn device(spec: &str) -> DeviceMapping {
    let parts: Vec<&str> = spec.split(':').collect();
    let host = parts[0].to_string();
    DeviceMapping {
        path_in_container: Some(parts.get(1).map(|s| s.to_string()).unwrap_or(host.clone())),
        cgroup_permissions: Some(parts.get(2).unwrap_or(&"rwm").to_string()),
        path_on_host: Some(host),
    }
}

/// A container's endpoint on one network: its aliases there and its fixed addresses. A service
/// fedgen compiled has exactly the aliases its file lists (the derived networks let a service
/// resolve only what it uses); any other also gets its own name on every network, as Compose
/// attaches it.
pub fn endpoint(service: &str, svc: &Service, n: &ServiceNetwork) -> EndpointSettings {
    let compiled = svc.labels.contains_key(crate::model::labels::LABEL_KIND);
    let mut aliases: Vec<String> = Vec::new();
    if !compiled {
        aliases.push(service.to_string());
    }
    for a in &n.aliases {
        if !aliases.contains(a) {
            aliases.push(a.clone());
        }
    }
    EndpointSettings {
        aliases: Some(aliases),
        ipam_config: (n.ipv4_address.is_some() || n.ipv6_address.is_some()).then(|| {
            EndpointIpamConfig {
                ipv4_address: n.ipv4_address.clone(),
                ipv6_address: n.ipv6_address.clone(),
                link_local_ips: None,
            }
        }),
        ..Default::default()
    }
}

/// What `container update` changes in place: the restart policy and the limits.
pub fn update_body(svc: &Service) -> ContainerUpdateBody {
    let limits = svc.limits();
    ContainerUpdateBody {
        restart_policy: Some(restart_to_engine(svc.restart.unwrap_or(RestartPolicy::No))),
        memory: limits.memory.map(|b| b.0 as i64),
        // What the engine sets when a container is created with a memory limit alone (twice
        // it); given with the memory, so a swap limit changed by hand (`docker update
        // --memory-swap`) cannot make the engine refuse the repair.
        memory_swap: limits.memory.map(|b| 2 * b.0 as i64),
        nano_cpus: limits.cpus.map(|c| c.nanos() as i64),
        pids_limit: svc.pids_limit,
        ..Default::default()
    }
}

/// A project network, labelled as Compose labels it.
pub fn network_create(project: &str, name: &str, net: &model::Network) -> NetworkCreateRequest {
    let mut labels: HashMap<String, String> = net.labels.clone().into_iter().collect();
    labels.insert(COMPOSE_PROJECT.to_string(), project.to_string());
    labels.insert(COMPOSE_NETWORK.to_string(), name.to_string());
    labels.insert(
        COMPOSE_VERSION.to_string(),
        COMPOSE_VERSION_VALUE.to_string(),
    );
    NetworkCreateRequest {
        name: net.engine_name(project, name),
        driver: Some(net.driver.clone().unwrap_or_else(|| "bridge".into())),
        internal: Some(net.internal),
        attachable: net.attachable.then_some(true),
        enable_ipv6: net.enable_ipv6.then_some(true),
        options: (!net.driver_opts.is_empty())
            .then(|| net.driver_opts.clone().into_iter().collect()),
        ipam: (!net.ipam.is_empty()).then(|| Ipam {
            driver: Some("default".into()),
            config: Some(
                net.ipam
                    .iter()
                    .map(|p| IpamConfig {
                        subnet: p.get("subnet").cloned(),
                        ip_range: p.get("ip_range").cloned(),
                        gateway: p.get("gateway").cloned(),
                        auxiliary_addresses: None,
                    })
                    .collect(),
            ),
            options: None,
        }),
        labels: Some(labels),
        ..Default::default()
    }
}

/// A project volume, labelled as Compose labels it.
pub fn volume_create(project: &str, name: &str, vol: &model::Volume) -> VolumeCreateRequest {
    let mut labels: HashMap<String, String> = vol.labels.clone().into_iter().collect();
    labels.insert(COMPOSE_PROJECT.to_string(), project.to_string());
    labels.insert(COMPOSE_VOLUME.to_string(), name.to_string());
    labels.insert(
        COMPOSE_VERSION.to_string(),
        COMPOSE_VERSION_VALUE.to_string(),
    );
    VolumeCreateRequest {
        name: Some(vol.engine_name(project, name)),
        driver: vol.driver.clone(),
        driver_opts: (!vol.driver_opts.is_empty())
            .then(|| vol.driver_opts.clone().into_iter().collect()),
        labels: Some(labels),
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
pub fn from_list(compose: &Compose, c: ContainerSummary) -> ObservedContainer {
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
    // In another network mode (host, none, another container's), not on the file's networks.
    let own_networks = c
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.as_deref())
        .is_none_or(|m| !(m == "host" || m == "none" || m.starts_with("container:")));
    let networks = c
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_keys()
        .filter(|_| own_networks)
        .map(|n| network_key(compose, &n))
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
pub fn read_back(compose: &Compose, c: ContainerInspectResponse) -> (ObservedContainer, Service) {
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
        hostname: config.hostname.clone().filter(|h| !h.is_empty()),
        domainname: config.domainname.clone().filter(|h| !h.is_empty()),
        stdin_open: config.open_stdin.unwrap_or(false),
        tty: config.tty.unwrap_or(false),
        expose: config.exposed_ports.clone().unwrap_or_default(),
        extra_hosts: host.extra_hosts.clone().unwrap_or_default(),
        dns: host.dns.clone().unwrap_or_default(),
        dns_search: host.dns_search.clone().unwrap_or_default(),
        init: host.init,
        privileged: host.privileged.unwrap_or(false),
        sysctls: host
            .sysctls
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        ulimits: host
            .ulimits
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|u| {
                (
                    u.name.unwrap_or_default(),
                    Ulimit {
                        soft: u.soft.unwrap_or_default(),
                        hard: u.hard.unwrap_or_default(),
                    },
                )
            })
            .collect(),
        ipc: host.ipc_mode.clone().filter(|m| !m.is_empty()),
        pid: host.pid_mode.clone().filter(|m| !m.is_empty()),
        group_add: host.group_add.clone().unwrap_or_default(),
        cpu_shares: host.cpu_shares.filter(|n| *n != 0),
        oom_score_adj: host.oom_score_adj.filter(|n| *n != 0),
        runtime: host.runtime.clone().filter(|r| !r.is_empty()),
        devices: host
            .devices
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|d| {
                format!(
                    "{}:{}:{}",
                    d.path_on_host.unwrap_or_default(),
                    d.path_in_container.unwrap_or_default(),
                    d.cgroup_permissions.unwrap_or_default()
                )
            })
            .collect(),
        network_mode: host
            .network_mode
            .clone()
            .filter(|m| m == "host" || m == "none" || m.starts_with("container:")),
        ..Default::default()
    };
    s.expose.sort();
    s.extra_hosts.sort();
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
    // A container in another network mode is on the engine's `none` or `host` network, or on
    // another container's: not on networks of the file.
    let own_networks = s.network_mode.is_none();
    for (net, ep) in c
        .network_settings
        .clone()
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .filter(|_| own_networks)
    {
        let mut aliases = ep.aliases.unwrap_or_default();
        aliases.sort();
        let ipam = ep.ipam_config.clone().unwrap_or_default();
        s.networks.insert(
            network_key(compose, &net),
            ServiceNetwork {
                aliases,
                ipv4_address: ipam.ipv4_address.filter(|a| !a.is_empty()),
                ipv6_address: ipam.ipv6_address.filter(|a| !a.is_empty()),
            },
        );
    }
    for (key, bindings) in host.port_bindings.clone().unwrap_or_default() {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        for b in bindings.unwrap_or_default() {
            s.ports.push(Port {
                target: port.parse().unwrap_or(0),
                published: b
                    .host_port
                    .as_deref()
                    .and_then(|p| p.parse().ok())
                    .filter(|p| *p != 0),
                host_ip: b.host_ip.clone().filter(|i| !i.is_empty()),
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
                create_host_path: false,
            }),
            "bind" => s.volumes.push(Mount {
                kind: "bind".into(),
                source: m.source.clone().unwrap_or_default(),
                target,
                read_only,
                create_host_path: false,
            }),
            _ => {}
        }
    }
    s.volumes.sort_by(|a, b| a.target.cmp(&b.target));
    let mut tmpfs: Vec<String> = host
        .tmpfs
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(path, opts)| {
            if opts.is_empty() {
                path
            } else {
                format!("{path}:{opts}")
            }
        })
        .collect();
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
    let reserved = host
        .memory_reservation
        .filter(|m| *m > 0)
        .map(|m| Bytes(m as u64));
    if memory.is_some() || cpus.is_some() || reserved.is_some() {
        s.deploy = Some(model::Deploy {
            resources: model::Resources {
                limits: (memory.is_some() || cpus.is_some()).then_some(Limits { cpus, memory }),
                reservations: reserved.map(|m| Limits {
                    cpus: None,
                    memory: Some(m),
                }),
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
            networks.insert(n.clone(), endpoint("web", &Service::default(), sn));
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
        let desired = Desired::load_file(file.path()).unwrap();
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
            let (observed, back) = read_back(&desired.compose, engine_inspect(&body, &extra));
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
            // The service's own name is an alias on every network, as Compose attaches it;
            // published ports are exposed ones (the plan compares only what the file says).
            for (n, net) in have.networks.iter_mut() {
                let wanted = &want.networks[n].aliases;
                net.aliases.retain(|a| wanted.contains(a));
            }
            have.expose.retain(|e| want.expose.contains(e));
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
