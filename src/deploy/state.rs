//! The engine state reader: what runs for a project, normalized into the compose model.
//!
//! Takes: an [`Engine`], a project name, what the file expects of each service (its config-hash
//! and content labels) and a [`Refresh`] depth. Gives: an [`Observed`] host: the project's
//! containers (by Compose's `com.docker.compose.project` label) each with its state, health and
//! either its full config as a [`Service`] of the shared model or only what the container list
//! shows; the project's networks and volumes; and unmanaged containers whose names collide with
//! the project's (made by hand with `docker run --name`, Compose v1's `project_service_1`).
//!
//! Calls: one list per object type (containers, networks, volumes, images; all four at once),
//! whatever the size of the stack. A container is inspected (all at once, eight at a time, beside
//! one image inspect per distinct image, to drop values the image sets, which are not drift)
//! with [`Refresh::Full`] (the default of diff and apply: only an inspect shows what
//! `docker update` and `network connect` change), or with [`Refresh::Fast`] only where its
//! labels say it was made from another config, so the plan can name the fields that changed.

use crate::deploy::desired::Desired;
use crate::deploy::engine::{Engine, EngineError};
use crate::deploy::mapping::{self, ImageDefaults};
use crate::deploy::secrets;
use crate::model::labels::{
    COMPOSE_CONFIG_HASH, COMPOSE_NETWORK, COMPOSE_ONEOFF, COMPOSE_PROJECT, COMPOSE_SERVICE,
    COMPOSE_VOLUME, LABEL_ADOPT, LABEL_CONFIG_HASH, LABEL_SECRETS,
};
use crate::model::{self, Service};
use crate::names;
use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder,
};
use futures_util::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, BTreeSet, HashMap};

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
    /// Compose's config-hash: a container `docker compose up` made from the same file carries
    /// it (and not fedgen's), and is taken over as it is.
    pub compose_hash: Option<String>,
    pub content: Option<String>,
}

/// How many inspects run at once (the engine serializes some work per container anyway).
const INSPECT_CONCURRENCY: usize = 8;

#[derive(Debug, Clone, serde::Serialize)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub service: String,
    /// created, running, exited, ...
    pub state: String,
    /// The exit code of a container that exited.
    pub exit_code: Option<i64>,
    /// healthy, unhealthy, starting, or none.
    pub health: Option<String>,
    pub image_id: String,
    /// Labels as the engine has them (Compose's and fedgen's included).
    pub labels: BTreeMap<String, String>,
    /// The container's config in the shared model, with image-set values removed (empty when
    /// the container was only listed, not inspected).
    #[serde(skip)]
    pub config: Service,
    /// What the container's image sets (inspected containers only), to remove from the desired
    /// service too before comparing.
    #[serde(skip)]
    pub image: Option<ImageDefaults>,
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

/// The images on the host: what each name (`repo:tag`, `repo@digest`) points at now.
#[derive(Debug, Default, Clone)]
pub struct Images {
    by_reference: HashMap<String, String>,
}

impl Images {
    pub fn from_summaries(list: Vec<bollard::models::ImageSummary>) -> Images {
        let mut by_reference = HashMap::new();
        for img in list {
            for r in img.repo_tags.iter().chain(img.repo_digests.iter()) {
                by_reference.insert(normalize_reference(r), img.id.clone());
            }
        }
        Images { by_reference }
    }

    /// The id of the image a reference names on this host (`None`: not here).
    pub fn id_of(&self, reference: &str) -> Option<&str> {
        self.by_reference
            .get(&normalize_reference(reference))
            .map(String::as_str)
    }
}

/// A reference as the engine lists it: `redis` is `redis:latest`, `docker.io/library/redis:7` is
/// `redis:7`, and `redis:7@sha256:...` is `redis@sha256:...` (the digest decides, as the engine
/// resolves it).
pub fn normalize_reference(r: &str) -> String {
    let r = r.strip_prefix("docker.io/").unwrap_or(r);
    let r = r.strip_prefix("library/").unwrap_or(r);
    if let Some((name, digest)) = r.split_once('@') {
        let (path, last) = name.rsplit_once('/').unwrap_or(("", name));
        let last = last.split_once(':').map_or(last, |(n, _)| n);
        let name = if path.is_empty() {
            last.to_string()
        } else {
            format!("{path}/{last}")
        };
        return format!("{name}@{digest}");
    }
    let last = r.rsplit('/').next().unwrap_or(r);
    if last.contains(':') {
        r.to_string()
    } else {
        format!("{r}:latest")
    }
}

/// The suffix `apply --adopt` gives an unmanaged container it renames aside while its
/// replacement starts: `NAME-adopted-<12 hex>`.
pub const ASIDE_INFIX: &str = "-adopted-";

/// The name an unmanaged container had before `apply --adopt` renamed it aside (`None`: not a
/// name set aside).
pub fn aside_of(name: &str) -> Option<&str> {
    let (original, id) = name.rsplit_once(ASIDE_INFIX)?;
    (id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit()) && !original.is_empty())
        .then_some(original)
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
    /// Volumes the file names as existing (`external`) that are not on the host.
    pub external_missing: Vec<String>,
    /// Networks the file names as existing (`external`) that are not on the host.
    pub external_networks_missing: Vec<String>,
    /// The images on the host, by name.
    #[serde(skip)]
    pub images: Images,
    /// The project's lock is on the engine (another apply is running, or died holding it).
    #[serde(skip)]
    pub locked: bool,
    /// The project's generated secrets on the engine.
    pub store: crate::deploy::secrets::Store,
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
        parts.extend(
            self.store
                .current
                .values()
                .map(|s| format!("s {} {}", s.volume, s.hash)),
        );
        parts.sort();
        model::sha256_hex(parts.join("\n"))
    }
}

/// Reads the project's state. `expected`: the file's services with the labels their containers
/// should carry (also used to find unmanaged containers with colliding names).
pub async fn observe(
    engine: &Engine,
    desired: &Desired,
    refresh: Refresh,
) -> Result<Observed, EngineError> {
    let project = desired.compose.name.as_str();
    let mut observed = Observed {
        project: project.to_string(),
        refresh,
        ..Default::default()
    };
    let filter = HashMap::from([(
        "label".to_string(),
        vec![format!("{COMPOSE_PROJECT}={project}")],
    )]);
    // The four lists at once (the images' is the slowest on a host with many); the generated
    // secrets' store among the volumes gives the content hashes the containers' labels are
    // compared with.
    let list_volumes = engine.call("list volumes", project, |d| {
        d.list_volumes(Some(
            ListVolumesOptionsBuilder::new().filters(&filter).build(),
        ))
    });
    let list_containers = engine.call("list containers", project, |d| {
        d.list_containers(Some(ListContainersOptionsBuilder::new().all(true).build()))
    });
    let list_networks = engine.call("list networks", project, |d| {
        d.list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filter).build(),
        ))
    });
    let list_images = engine.call("list images", project, |d| {
        d.list_images(None::<bollard::query_parameters::ListImagesOptions>)
    });
    let (volumes, all, networks, images) =
        futures_util::try_join!(list_volumes, list_containers, list_networks, list_images)?;
    let volumes = volumes.volumes.unwrap_or_default();
    observed.images = Images::from_summaries(images);
    observed.store = secrets::read(project, &volumes, &all);
    let hashes = secrets::hashes(desired, &observed.store);
    let expected: &BTreeMap<String, Expected> = &desired
        .compose
        .services
        .iter()
        .map(|(name, svc)| {
            let e = Expected {
                config_hash: svc.labels.get(LABEL_CONFIG_HASH).cloned(),
                compose_hash: desired.compose_hashes.get(name).cloned(),
                content: crate::deploy::plan::content_label(svc, &hashes),
            };
            (name.clone(), e)
        })
        .collect();
    // The names the project's containers have (Compose v2's and v1's, and the container a
    // service says it adopts), to find unmanaged ones.
    let mut ours: HashMap<String, &String> = expected
        .keys()
        .flat_map(|svc| {
            [
                (mapping::container_name(&desired.compose, svc), svc),
                (
                    names::legacy_container_name(project, svc, mapping::CONTAINER_NUMBER),
                    svc,
                ),
            ]
        })
        .collect();
    for (svc, s) in &desired.compose.services {
        if let Some(name) = s.labels.get(LABEL_ADOPT) {
            ours.insert(name.clone(), svc);
        }
    }
    observed.locked = crate::deploy::lock::listed(&all, project);
    let mut to_inspect = Vec::new();
    for c in all {
        let labels = c.labels.clone().unwrap_or_default();
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        let state = c.state.as_ref().map(|s| s.to_string()).unwrap_or_default();
        if labels.get(COMPOSE_PROJECT).map(String::as_str) == Some(project) {
            if labels.get(COMPOSE_ONEOFF).map(String::as_str) == Some("True") {
                continue;
            }
            let service = labels.get(COMPOSE_SERVICE).cloned().unwrap_or_default();
            let settled_by_list = refresh == Refresh::Fast
                && expected.get(&service).is_none_or(|e| {
                    match labels.get(LABEL_CONFIG_HASH) {
                        Some(h) => {
                            Some(h) == e.config_hash.as_ref()
                                && (e.content.is_none()
                                    || labels.get(LABEL_SECRETS) == e.content.as_ref())
                        }
                        // Made by Compose from this file: its secrets' content is not recorded
                        // (an inspect would not show it either; the plan says it is unverified).
                        None => {
                            e.compose_hash.is_some()
                                && labels.get(COMPOSE_CONFIG_HASH) == e.compose_hash.as_ref()
                        }
                    }
                });
            if settled_by_list {
                observed
                    .containers
                    .push(mapping::from_list(&desired.compose, c));
            } else {
                to_inspect.push((
                    c.id.clone().unwrap_or_default(),
                    c.image_id.clone().unwrap_or_default(),
                ));
            }
            continue;
        }
        // An adoption that was cut short left the old container renamed aside: still its.
        let original = aside_of(&name).unwrap_or(&name);
        if let Some(svc) = ours.get(original) {
            observed.conflicts.push(Conflict {
                id: c.id.clone().unwrap_or_default(),
                name: name.clone(),
                service: (*svc).clone(),
                state: state.clone(),
            });
        }
    }
    // Every inspect at once (bounded): the containers', and the images' they were made from
    // (named by the list), whose values are not drift.
    let images: BTreeSet<String> = to_inspect.iter().map(|(_, image)| image.clone()).collect();
    let inspect_containers = futures_util::stream::iter(to_inspect.iter().map(|(id, _)| {
        engine.call("inspect container", id, move |d| {
            d.inspect_container(id, None::<InspectContainerOptions>)
        })
    }))
    .buffer_unordered(INSPECT_CONCURRENCY)
    .try_collect::<Vec<bollard::models::ContainerInspectResponse>>();
    let inspect_images = futures_util::stream::iter(images.into_iter().map(|id| async move {
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
    .try_collect::<HashMap<String, ImageDefaults>>();
    let (inspected, mut image_defaults) =
        futures_util::try_join!(inspect_containers, inspect_images)?;
    // An image the list did not name (it changed meanwhile) is inspected now.
    for c in &inspected {
        if let Some(id) = c
            .image
            .as_ref()
            .filter(|i| !image_defaults.contains_key(*i))
        {
            let defaults = match engine
                .call("inspect image", id, |d| d.inspect_image(id))
                .await
            {
                Ok(img) => ImageDefaults::from(img.config.unwrap_or_default()),
                Err(e) if e.status() == Some(404) => ImageDefaults::default(),
                Err(e) => return Err(e),
            };
            image_defaults.insert(id.clone(), defaults);
        }
    }
    for c in inspected {
        let img = c
            .image
            .as_ref()
            .and_then(|i| image_defaults.get(i))
            .cloned()
            .unwrap_or_default();
        let (mut container, mut config) = mapping::read_back(&desired.compose, c);
        img.strip(&mut config);
        container.config = config;
        container.image = Some(img);
        observed.containers.push(container);
    }
    observed
        .containers
        .sort_by(|a, b| (&a.service, &a.name).cmp(&(&b.service, &b.name)));

    for n in networks {
        let labels = n.labels.unwrap_or_default();
        let full = n.name.unwrap_or_default();
        let short = labels
            .get(COMPOSE_NETWORK)
            .cloned()
            .unwrap_or_else(|| names::unscoped(project, &full).to_string());
        observed.networks.insert(
            short,
            ObservedNetwork {
                id: n.id.unwrap_or_default(),
                name: full,
                internal: n.internal.unwrap_or(false),
            },
        );
    }
    // Networks made outside the project: each must be on the host.
    for (key, n) in desired.compose.networks.iter().filter(|(_, n)| n.external) {
        let name = n.engine_name(project, key);
        match engine
            .call("inspect network", &name, |d| {
                d.inspect_network(
                    &name,
                    None::<bollard::query_parameters::InspectNetworkOptions>,
                )
            })
            .await
        {
            Ok(info) => {
                observed.networks.insert(
                    key.clone(),
                    ObservedNetwork {
                        id: info.id.unwrap_or_default(),
                        name,
                        internal: info.internal.unwrap_or(false),
                    },
                );
            }
            Err(e) if e.status() == Some(404) => observed.external_networks_missing.push(name),
            Err(e) => return Err(e),
        }
    }
    for v in volumes.iter().filter(|v| !secrets::is_store_volume(v)) {
        let short = v
            .labels
            .get(COMPOSE_VOLUME)
            .cloned()
            .unwrap_or_else(|| names::unscoped(project, &v.name).to_string());
        observed.volumes.insert(short);
    }
    // Volumes that exist already, not the project's: each must be on the host.
    for (key, v) in desired.compose.volumes.iter().filter(|(_, v)| v.external) {
        let name = v.engine_name(project, key);
        match engine
            .call("inspect volume", &name, |d| d.inspect_volume(&name))
            .await
        {
            Ok(_) => {
                observed.volumes.insert(key.clone());
            }
            Err(e) if e.status() == Some(404) => observed.external_missing.push(name),
            Err(e) => return Err(e),
        }
    }
    Ok(observed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_as_the_engine_lists_them() {
        assert_eq!(normalize_reference("redis"), "redis:latest");
        assert_eq!(normalize_reference("docker.io/library/redis:7"), "redis:7");
        assert_eq!(
            normalize_reference("redis:7@sha256:abc"),
            "redis@sha256:abc"
        );
        assert_eq!(
            normalize_reference("reg.example:5000/team/app:1@sha256:abc"),
            "reg.example:5000/team/app@sha256:abc"
        );
        assert_eq!(
            normalize_reference("reg.example:5000/team/app"),
            "reg.example:5000/team/app:latest"
        );
    }

    #[test]
    fn names_set_aside_by_an_adoption() {
        assert_eq!(aside_of("p_db_1-adopted-0123456789ab"), Some("p_db_1"));
        assert_eq!(aside_of("p_db_1-adopted-xyz"), None);
        assert_eq!(aside_of("p_db_1"), None);
    }
}
