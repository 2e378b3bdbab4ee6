//! The plan: the compiled file (desired) against the observed host, service by service.
//!
//! Takes: the desired [`Compose`], the [`Observed`] host, and the content hashes of the secrets
//! and configs (never their values). Gives: a [`Plan`]: for each service `unchanged`, `create`,
//! `recreate`, `update` (in place, no restart) or `start`, with every reason down to the field,
//! and whether it comes from the file (its config hash changed) or from drift made by hand on
//! the host (hash equal, state differs); networks and volumes to create, extra networks, orphans,
//! unmanaged conflicts; and a fingerprint of what was observed, for saved plans.
//!
//! Both sides are put in one canonical form first (units, ordering, values that are not
//! observable on the engine) so that equal configurations compare equal.

use crate::compile::env::looks_secret;
use crate::deploy::field::Field;
use crate::deploy::mapping::caps;
use crate::deploy::state::{self, Conflict, Observed, Refresh};
use crate::model::labels::{COMPOSE_CONFIG_HASH, LABEL_CONFIG_HASH, LABEL_SECRETS};
use crate::model::{Compose, Service};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub const PLAN_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Unchanged,
    Create,
    Recreate,
    /// Changed in place (container update, network connect/disconnect): no restart.
    Update,
    /// Exists with the right config but is not running.
    Start,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Unchanged => "unchanged",
            Action::Create => "create",
            Action::Recreate => "recreate",
            Action::Update => "update",
            Action::Start => "start",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The compose file changed: the container's config hash label differs from the file's.
    File,
    /// Changed outside fedgen: same config hash, different live state.
    Drift,
    /// A secret's or config's content changed.
    Content,
    /// The image the file names is another one now (rebuilt or pulled under the same tag).
    Image,
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// What changed: `restart`, `env JOB_TIMEOUT`, `network backend-net`, `image`, ...
    pub field: Field,
    /// The value on the host (`-` when absent); secret values are never included.
    pub from: String,
    /// The value the file wants.
    pub to: String,
    /// The engine can change it without recreating the container (decided by the field).
    pub in_place: bool,
}

impl Change {
    pub fn new(field: Field, from: impl Into<String>, to: impl Into<String>) -> Change {
        Change {
            in_place: field.in_place(),
            field,
            from: from.into(),
            to: to.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServicePlan {
    pub name: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    pub changes: Vec<Change>,
    /// The container that runs it now, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Things worth knowing that need no action.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The container carries no content hashes (Compose or a person made it), so a changed
    /// secret or config cannot be seen.
    pub content_unverified: bool,
    /// How the container was read: `inspect` (every field compared) or `list` (fast refresh,
    /// labels equal to the file's: state, health, networks, name and count compared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<&'static str>,
    #[serde(skip)]
    pub desired: Service,
    #[serde(skip)]
    pub actual: Option<Service>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkChange {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Orphan {
    pub service: String,
    pub container: String,
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub version: u32,
    pub project: String,
    /// How deep the host was read: `fast` (container list) or `full` (every container inspected).
    pub refresh: Refresh,
    pub in_sync: bool,
    pub services: Vec<ServicePlan>,
    pub networks_create: Vec<NetworkChange>,
    pub networks_recreate: Vec<NetworkChange>,
    /// Networks of the project that the file does not have (removed by `apply --prune`).
    pub networks_extra: Vec<String>,
    pub volumes_create: Vec<String>,
    /// Volumes the file says exist already (`external`) that are not on the host: apply refuses.
    pub volumes_missing: Vec<String>,
    /// Networks the file says exist already (`external`) that are not on the host: apply
    /// refuses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks_missing: Vec<String>,
    /// Volumes of the project the file no longer mounts: kept unless `apply --prune-volumes`.
    pub volumes_unused: Vec<String>,
    /// Generated secrets the file's services read that the engine does not have yet: apply
    /// makes them there (once; later applies, from anywhere, find them).
    pub secrets_generate: Vec<String>,
    pub orphans: Vec<Orphan>,
    pub conflicts: Vec<Conflict>,
    /// sha256 of the observed host state; a saved plan is applied only while it still matches.
    pub fingerprint: String,
    /// Services about to be created whose image cannot run their healthcheck (or is not on the
    /// host): apply refuses while there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preflight: Vec<crate::deploy::preflight::Problem>,
    /// The images on the host (for the pre-flight).
    #[serde(skip)]
    pub images: crate::deploy::state::Images,
    /// `swarm` for a stack on a swarm (absent: a compose project on one host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Swarm: secrets and configs to create (`secret NAME`, `config NAME`): swarm's cannot
    /// change, so a new content is a new object, named by its hash.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects_create: Vec<String>,
    /// Swarm: the stack's secrets and configs the file no longer reads (older contents), removed
    /// once a rollout has converged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects_unused: Vec<String>,
    /// Why apply would refuse besides conflicts and the pre-flight (swarm: a node to keep the
    /// stack's data, a network that must be recreated, content that changed since the build).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<String>,
    /// The project's lock was on the engine when the host was read.
    #[serde(skip)]
    pub locked: bool,
    /// The generated secrets on the engine.
    #[serde(skip)]
    pub store: crate::deploy::secrets::Store,
}

impl Plan {
    pub fn count(&self, action: Action) -> usize {
        self.services.iter().filter(|s| s.action == action).count()
    }
}

/// The per-service label value naming the content hash of each secret and config it reads:
/// `name=<12 hex>,...` (sha256 prefixes; the values never leave the process).
pub fn content_label(service: &Service, hashes: &BTreeMap<String, String>) -> Option<String> {
    let mut parts = Vec::new();
    for name in service
        .secrets
        .iter()
        .map(|s| &s.source)
        .chain(service.configs.iter().map(|c| &c.source))
    {
        parts.push(format!("{name}={}", hashes.get(name)?));
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

/// Compares `desired` with `observed`. `hashes`: content hash per secret and config name (a
/// secret whose value is not available is absent, and then not verified). `base_dir`: the compose
/// file's directory, against which relative bind paths resolve.
pub fn plan(
    desired: &Compose,
    observed: &Observed,
    hashes: &BTreeMap<String, String>,
    compose_hashes: &BTreeMap<String, String>,
    base_dir: &Path,
) -> Plan {
    let mut services = Vec::new();
    let lifecycles = desired.lifecycles();
    for (name, want) in &desired.services {
        let containers: Vec<&state::ObservedContainer> = observed
            .containers
            .iter()
            .filter(|c| &c.service == name)
            .collect();
        let want_c = canonical(want, desired, base_dir);
        let Some(c) = containers.first() else {
            services.push(ServicePlan {
                name: name.clone(),
                action: Action::Create,
                origin: None,
                changes: vec![],
                container: None,
                state: None,
                health: None,
                notes: vec![],
                content_unverified: false,
                read: None,
                desired: want_c,
                actual: None,
            });
            continue;
        };
        // What the container's image sets is not the file's intent, on either side.
        let mut want_c = want_c;
        if let Some(img) = &c.image {
            img.strip(&mut want_c);
        }
        let have_c = match &c.listed {
            None => canonical_actual(&c.config, &want_c),
            Some(networks) => as_listed(&want_c, networks),
        };
        let mut changes = compare(&have_c, &want_c);
        let mut notes = Vec::new();
        let mut content_unverified = false;
        // A container `docker compose up` made carries Compose's config-hash and not fedgen's:
        // made from the same file, it is taken over as it is.
        let made_by_compose = !c.labels.contains_key(LABEL_CONFIG_HASH);
        let file_changed = if made_by_compose {
            c.labels.get(COMPOSE_CONFIG_HASH) != compose_hashes.get(name)
        } else {
            c.labels.get(LABEL_CONFIG_HASH) != want.labels.get(LABEL_CONFIG_HASH)
        };
        let mut origin = if changes.is_empty() {
            None
        } else if file_changed {
            Some(Origin::File)
        } else {
            Some(Origin::Drift)
        };
        if made_by_compose && file_changed && changes.is_empty() {
            notes.push(
                "made by Compose from another version of the file, or by another tool: compared field by field".into(),
            );
        } else if file_changed && changes.is_empty() {
            let hash = |s: &std::collections::BTreeMap<String, String>| {
                short(s.get(LABEL_CONFIG_HASH).map(String::as_str).unwrap_or("-"))
            };
            changes.push(Change::new(
                Field::ConfigHash,
                hash(&c.labels),
                hash(&want.labels),
            ));
            origin = Some(Origin::File);
        }
        if let Some(expected) = content_label(want, hashes) {
            match c.labels.get(LABEL_SECRETS) {
                Some(actual) if *actual != expected => {
                    for (name, h) in parse_content(&expected) {
                        let old = parse_content(actual).get(&name).cloned();
                        if old.as_ref() != Some(&h) {
                            changes.push(Change::new(
                                Field::Content(name),
                                old.map(|o| format!("sha256:{o}"))
                                    .unwrap_or_else(|| "-".into()),
                                if h == crate::deploy::secrets::PENDING {
                                    "generated on the engine by this apply".to_string()
                                } else {
                                    format!("sha256:{h}")
                                },
                            ));
                        }
                    }
                    origin = origin.or(Some(Origin::Content));
                }
                Some(_) => {}
                None => content_unverified = true,
            }
        }
        if let Some(now) = observed.images.id_of(&want.image) {
            if !c.image_id.is_empty() && c.image_id != now && want.image == have_c.image {
                changes.push(Change::new(
                    Field::ImageId,
                    short_id(&c.image_id),
                    short_id(now),
                ));
                origin = origin.or(Some(Origin::Image));
            }
        }
        let canonical_name = crate::deploy::mapping::container_name(desired, name);
        if c.name != canonical_name {
            changes.push(Change::new(
                Field::ContainerName,
                c.name.clone(),
                canonical_name,
            ));
        }
        if containers.len() > 1 {
            changes.push(Change::new(
                Field::Containers,
                containers.len().to_string(),
                "1",
            ));
        }
        // A job that ran to completion is done, not stopped: a one-shot service (labelled, or
        // awaited with service_completed_successfully), or one whose file says the engine is
        // not to restart it after it exits 0 (`restart: "no"` or `on-failure`).
        let job = lifecycles.of(name) == crate::model::Lifecycle::OneShot
            || matches!(
                want.restart,
                Some(crate::model::RestartPolicy::No | crate::model::RestartPolicy::OnFailure(_))
            );
        let done = job && c.state == "exited" && c.exit_code == Some(0);
        let action = if changes.iter().any(|ch| !ch.in_place) {
            Action::Recreate
        } else if !changes.is_empty() {
            Action::Update
        } else if !c.running() && !done {
            Action::Start
        } else {
            Action::Unchanged
        };
        if done && action == Action::Unchanged {
            notes.push("exited 0: a job that has run to completion".into());
        } else if !c.running() && action != Action::Recreate {
            notes.push(format!("the container is {}", c.state));
        }
        if c.running() && c.health.as_deref() == Some("unhealthy") {
            notes.push("the container is unhealthy".into());
        }
        services.push(ServicePlan {
            name: name.clone(),
            action,
            origin,
            changes,
            container: Some(c.name.clone()),
            state: Some(c.state.clone()),
            health: c.health.clone(),
            notes,
            content_unverified,
            read: Some(if c.listed.is_some() {
                "list"
            } else {
                "inspect"
            }),
            desired: want_c,
            actual: Some(have_c),
        });
    }
    let mut networks_create = Vec::new();
    let mut networks_recreate = Vec::new();
    for (name, net) in desired.networks.iter().filter(|(_, n)| !n.external) {
        match observed.networks.get(name) {
            None => networks_create.push(NetworkChange {
                name: name.clone(),
                reason: "missing".into(),
            }),
            Some(o) if o.internal != net.internal => networks_recreate.push(NetworkChange {
                name: name.clone(),
                reason: format!("internal: {} -> {}", o.internal, net.internal),
            }),
            Some(_) => {}
        }
    }
    let networks_extra = observed
        .networks
        .keys()
        .filter(|n| !desired.networks.contains_key(*n))
        .cloned()
        .collect();
    let volumes_create = desired
        .volumes
        .iter()
        .filter(|(k, v)| !v.external && !observed.volumes.contains(*k))
        .map(|(k, _)| k.clone())
        .collect();
    let volumes_unused = observed
        .volumes
        .iter()
        .filter(|v| !desired.volumes.contains_key(*v))
        .cloned()
        .collect();
    let orphans: Vec<Orphan> = observed
        .containers
        .iter()
        .filter(|c| !desired.services.contains_key(&c.service))
        .map(|c| Orphan {
            service: c.service.clone(),
            container: c.name.clone(),
            id: c.id.clone(),
        })
        .collect();
    let mut plan = Plan {
        version: PLAN_VERSION,
        project: desired.name.clone(),
        refresh: observed.refresh,
        in_sync: false,
        services,
        networks_create,
        networks_recreate,
        networks_extra,
        volumes_create,
        volumes_missing: observed.external_missing.clone(),
        networks_missing: observed.external_networks_missing.clone(),
        volumes_unused,
        secrets_generate: crate::deploy::secrets::missing(desired, &observed.store),
        orphans,
        conflicts: observed.conflicts.clone(),
        fingerprint: observed.fingerprint(),
        images: observed.images.clone(),
        preflight: Vec::new(),
        target: None,
        objects_create: Vec::new(),
        objects_unused: Vec::new(),
        refusals: Vec::new(),
        locked: observed.locked,
        store: observed.store.clone(),
    };
    plan.in_sync = plan.services.iter().all(|s| s.action == Action::Unchanged)
        && plan.networks_create.is_empty()
        && plan.networks_recreate.is_empty()
        && plan.networks_extra.is_empty()
        && plan.volumes_create.is_empty()
        && plan.volumes_missing.is_empty()
        && plan.networks_missing.is_empty()
        && plan.secrets_generate.is_empty()
        && plan.orphans.is_empty()
        && plan.conflicts.is_empty();
    plan
}

fn parse_content(label: &str) -> BTreeMap<String, String> {
    label
        .split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

/// `sha256:0123...` as `0123456789ab`.
fn short_id(id: &str) -> String {
    short(id.strip_prefix("sha256:").unwrap_or(id))
}

/// The desired service in the canonical form the engine side is normalized to: volume mounts by
/// the volume's name on the engine, binds by their absolute path.
pub fn canonical(s: &Service, compose: &Compose, base_dir: &Path) -> Service {
    let mut c = s.clone();
    for m in &mut c.volumes {
        if let (true, Some(v)) = (m.kind == "volume", compose.volumes.get(&m.source)) {
            m.source = v.engine_name(&compose.name, &m.source);
        }
    }
    if let Some(h) = &mut c.healthcheck {
        h.start_period = h.start_period.filter(|p| p.as_nanos() > 0);
    }
    if let Some(d) = &mut c.deploy {
        d.resources.reservations = None;
    }
    c.cap_add = caps(Some(c.cap_add));
    c.cap_drop = caps(Some(c.cap_drop));
    for n in c.networks.values_mut() {
        n.aliases.sort();
    }
    c.ports.sort_by_key(|p| (p.target, p.published));
    for m in &mut c.volumes {
        if m.kind == "bind" && !Path::new(&m.source).is_absolute() {
            m.source = base_dir
                .join(&m.source)
                .components()
                .collect::<std::path::PathBuf>()
                .display()
                .to_string();
        }
    }
    c.volumes.sort_by(|a, b| a.target.cmp(&b.target));
    for m in &mut c.volumes {
        // Binds made from the short syntax are bind mounts on the engine like any other.
        m.create_host_path = false;
    }
    c.tmpfs.sort();
    // A file without `restart` runs its container with the engine's default, `no`.
    c.restart = Some(c.restart.unwrap_or(crate::model::RestartPolicy::No));
    // Compared on their own (the container's name), or not observable (the platform).
    c.container_name = None;
    c.platform = None;
    // `bridge` and `default` are the engine's default network, not a mode it reports.
    c.network_mode = c
        .network_mode
        .filter(|m| m == "host" || m == "none" || m.starts_with("container:"));
    c.devices = c
        .devices
        .iter()
        .map(|d| {
            let parts: Vec<&str> = d.split(':').collect();
            let host = parts[0];
            format!(
                "{host}:{}:{}",
                parts.get(1).unwrap_or(&host),
                parts.get(2).unwrap_or(&"rwm")
            )
        })
        .collect();
    c.expose.sort();
    c.extra_hosts.sort();
    // Not observable on the engine: compared through the config-hash and secrets-hash labels.
    c.depends_on.clear();
    c.secrets.clear();
    c.configs.clear();
    c
}

/// A container that was only listed: its labels say it was created from the desired config, and
/// the list shows which networks it is on now (the only part of that config the engine lets
/// change without a trace in the list, besides `docker update`'s settings and aliases).
fn as_listed(want: &Service, networks: &BTreeSet<String>) -> Service {
    let mut c = want.clone();
    c.networks.retain(|n, _| networks.contains(n));
    for n in networks {
        c.networks.entry(n.clone()).or_default();
    }
    c
}

/// The observed service, restricted to what the desired one can say something about (extra
/// aliases the engine adds, mounts that carry secrets and configs).
fn canonical_actual(have: &Service, want: &Service) -> Service {
    let mut c = have.clone();
    for (name, n) in c.networks.iter_mut() {
        let wanted: BTreeSet<&String> = want
            .networks
            .get(name)
            .map(|w| w.aliases.iter().collect())
            .unwrap_or_default();
        n.aliases.retain(|a| wanted.contains(a));
        n.aliases.dedup();
    }
    c.volumes.retain(|m| !m.target.starts_with("/run/secrets/"));
    // An anonymous volume has a name the engine made up.
    for m in &mut c.volumes {
        let anonymous = want
            .volumes
            .iter()
            .any(|w| w.target == m.target && w.kind == "volume" && w.source.is_empty());
        if anonymous && m.kind == "volume" {
            m.source.clear();
        }
    }
    c.labels
        .retain(|k, _| k.starts_with("dev.fedgen.") || want.labels.contains_key(k));
    // What the engine fills in when the file says nothing: not the file's intent.
    c.expose.retain(|e| want.expose.contains(e));
    if want.logging.is_none() {
        c.logging = None;
    }
    if want.hostname.is_none() {
        c.hostname = None;
    }
    if want.domainname.is_none() {
        c.domainname = None;
    }
    if want.ipc.is_none() {
        c.ipc = None;
    }
    if want.pid.is_none() {
        c.pid = None;
    }
    if want.runtime.is_none() {
        c.runtime = None;
    }
    if want.init.is_none() {
        c.init = None;
    }
    c.depends_on.clear();
    c.secrets.clear();
    c.configs.clear();
    c
}

fn show<T: Serialize>(v: &T) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    if s == "null" || s == "[]" || s == "{}" || s == "false" {
        "-".into()
    } else {
        s.trim_matches('"').to_string()
    }
}

fn field<T: Serialize + PartialEq>(out: &mut Vec<Change>, field: Field, have: &T, want: &T) {
    if have != want {
        out.push(Change::new(field, show(have), show(want)));
    }
}

/// Every difference between two canonical services, in the order a reader scans a service.
pub fn compare(have: &Service, want: &Service) -> Vec<Change> {
    let mut out = Vec::new();
    field(&mut out, Field::Image, &have.image, &want.image);
    field(&mut out, Field::Command, &have.command, &want.command);
    field(
        &mut out,
        Field::Entrypoint,
        &have.entrypoint,
        &want.entrypoint,
    );
    field(&mut out, Field::User, &have.user, &want.user);
    field(
        &mut out,
        Field::WorkingDir,
        &have.working_dir,
        &want.working_dir,
    );
    let keys: BTreeSet<&String> = have
        .environment
        .keys()
        .chain(want.environment.keys())
        .collect();
    for k in keys {
        let (h, w) = (have.environment.get(k), want.environment.get(k));
        if h != w {
            let redact = |v: Option<&String>| match v {
                None => "-".to_string(),
                Some(_) if looks_secret(k) => "(redacted)".to_string(),
                Some(v) => v.clone(),
            };
            out.push(Change::new(Field::Env(k.clone()), redact(h), redact(w)));
        }
    }
    field(&mut out, Field::Restart, &have.restart, &want.restart);
    field(
        &mut out,
        Field::Healthcheck,
        &have.healthcheck,
        &want.healthcheck,
    );
    let nets: BTreeSet<&String> = have.networks.keys().chain(want.networks.keys()).collect();
    for n in nets {
        match (have.networks.get(n), want.networks.get(n)) {
            (None, Some(w)) => out.push(Change::new(
                Field::Network(n.clone()),
                "missing",
                if w.aliases.is_empty() {
                    "attached".into()
                } else {
                    format!("attached as {}", w.aliases.join(", "))
                },
            )),
            (Some(_), None) => out.push(Change::new(
                Field::Network(n.clone()),
                "attached",
                "not attached",
            )),
            (Some(h), Some(w)) => {
                if h.aliases != w.aliases {
                    out.push(Change::new(
                        Field::NetworkAliases(n.clone()),
                        show(&h.aliases),
                        show(&w.aliases),
                    ));
                }
                if (&h.ipv4_address, &h.ipv6_address) != (&w.ipv4_address, &w.ipv6_address) {
                    out.push(Change::new(
                        Field::NetworkAddress(n.clone()),
                        show(&(&h.ipv4_address, &h.ipv6_address)),
                        show(&(&w.ipv4_address, &w.ipv6_address)),
                    ));
                }
            }
            _ => {}
        }
    }
    field(&mut out, Field::Ports, &have.ports, &want.ports);
    field(&mut out, Field::Volumes, &have.volumes, &want.volumes);
    field(&mut out, Field::Tmpfs, &have.tmpfs, &want.tmpfs);
    field(&mut out, Field::Logging, &have.logging, &want.logging);
    field(&mut out, Field::ReadOnly, &have.read_only, &want.read_only);
    field(&mut out, Field::CapDrop, &have.cap_drop, &want.cap_drop);
    field(&mut out, Field::CapAdd, &have.cap_add, &want.cap_add);
    field(
        &mut out,
        Field::SecurityOpt,
        &have.security_opt,
        &want.security_opt,
    );
    field(
        &mut out,
        Field::PidsLimit,
        &have.pids_limit,
        &want.pids_limit,
    );
    field(
        &mut out,
        Field::StopSignal,
        &have.stop_signal,
        &want.stop_signal,
    );
    field(
        &mut out,
        Field::StopGracePeriod,
        &have.stop_grace_period,
        &want.stop_grace_period,
    );
    field(&mut out, Field::ShmSize, &have.shm_size, &want.shm_size);
    macro_rules! settings {
        ($($key:ident),*) => {
            $(field(&mut out, Field::Setting(stringify!($key)), &have.$key, &want.$key);)*
        };
    }
    settings!(
        hostname,
        domainname,
        expose,
        extra_hosts,
        dns,
        dns_search,
        init,
        privileged,
        stdin_open,
        tty,
        sysctls,
        ulimits,
        network_mode,
        ipc,
        pid,
        group_add,
        cpu_shares,
        oom_score_adj,
        runtime,
        devices
    );
    let (hl, wl) = (have.limits(), want.limits());
    field(&mut out, Field::Memory, &hl.memory, &wl.memory);
    field(&mut out, Field::Cpus, &hl.cpus, &wl.cpus);
    let labels: BTreeSet<&String> = have
        .labels
        .keys()
        .chain(want.labels.keys())
        .filter(|k| k.as_str() != LABEL_CONFIG_HASH)
        .collect();
    for k in labels {
        field(
            &mut out,
            Field::Label(k.clone()),
            &have.labels.get(k),
            &want.labels.get(k),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Healthcheck, ServiceNetwork};

    fn svc() -> Service {
        let mut s = Service {
            image: "x:1".into(),
            restart: Some(crate::model::RestartPolicy::UnlessStopped),
            ..Default::default()
        };
        s.environment.insert("JOB_TIMEOUT".into(), "30".into());
        s.environment.insert("DB_PASSWORD".into(), "hunter2".into());
        s.networks
            .insert("db-net".into(), ServiceNetwork::default());
        s.healthcheck = Some(Healthcheck {
            test: vec!["CMD".into(), "true".into()],
            interval: Some("90s".parse().unwrap()),
            ..Default::default()
        });
        s
    }

    #[test]
    fn a_listed_container_differs_only_in_its_networks() {
        let mut want = canonical(&svc(), &Compose::default(), Path::new("/"));
        want.networks.insert(
            "edge".into(),
            ServiceNetwork {
                aliases: vec!["api".into()],
                ..ServiceNetwork::default()
            },
        );
        // On both networks: nothing to do.
        let on = BTreeSet::from(["db-net".to_string(), "edge".to_string()]);
        assert!(compare(&as_listed(&want, &on), &want).is_empty());
        // Cut from one and put on another by hand: both in place, nothing else.
        let moved = BTreeSet::from(["db-net".to_string(), "other".to_string()]);
        let changes = compare(&as_listed(&want, &moved), &want);
        assert!(!changes.is_empty());
        assert!(changes.iter().all(|c| c.in_place), "{changes:?}");
        assert!(
            changes
                .iter()
                .all(|c| matches!(c.field, Field::Network(_) | Field::NetworkAliases(_))),
            "{changes:?}"
        );
    }

    #[test]
    fn equal_configs_in_different_units_compare_equal() {
        let a = canonical(&svc(), &Compose::default(), Path::new("/"));
        let mut b = svc();
        b.healthcheck.as_mut().unwrap().interval = Some("1m30s".parse().unwrap());
        let b = canonical(&b, &Compose::default(), Path::new("/"));
        assert!(compare(&a, &b).is_empty());
    }

    #[test]
    fn changes_are_named_to_the_field_and_secrets_redacted() {
        let want = canonical(&svc(), &Compose::default(), Path::new("/"));
        let mut have = want.clone();
        have.restart = Some(crate::model::RestartPolicy::No);
        have.environment.insert("JOB_TIMEOUT".into(), "60".into());
        have.environment
            .insert("DB_PASSWORD".into(), "other".into());
        have.networks.clear();
        let changes = compare(&have, &want);
        let fields: Vec<(String, &str, &str, bool)> = changes
            .iter()
            .map(|c| {
                (
                    c.field.to_string(),
                    c.from.as_str(),
                    c.to.as_str(),
                    c.in_place,
                )
            })
            .collect();
        assert_eq!(
            fields,
            vec![
                ("env DB_PASSWORD".into(), "(redacted)", "(redacted)", false),
                ("env JOB_TIMEOUT".into(), "60", "30", false),
                ("restart".into(), "no", "unless-stopped", true),
                ("network db-net".into(), "missing", "attached", true),
            ]
        );
    }
}
