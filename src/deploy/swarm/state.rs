//! The swarm state reader: what runs for a stack, read back into the stack file's model.
//!
//! Takes: an [`Engine`] and the [`SwarmDesired`] file. Gives: an [`ObservedSwarm`]: the stack's
//! services (found by `docker stack deploy`'s `com.docker.stack.namespace` label, or by the
//! stack's names), each read back through [`mapping::read_back`] with where it is in its rollout
//! (running and desired tasks, the update state); services with the stack's names that fedgen did
//! not make (no spec-hash label); the stack's networks, secrets and configs. Or, before any of
//! that, a clear error when the engine is not a swarm manager.
//!
//! Calls: the engine's info, then one list each of services (with their task counts), networks,
//! secrets and configs, whatever the size of the stack: a service's list entry carries its whole
//! spec, so there is no per-service inspect.

use super::desired::SwarmDesired;
use super::mapping::{self, ReadObjects, ServiceState};
use crate::deploy::engine::{Engine, EngineError};
use crate::model::swarm::{SwarmService, LABEL_SPEC_HASH, LABEL_STACK};
use bollard::models::LocalNodeState;
use bollard::query_parameters::{
    ListConfigsOptions, ListNetworksOptions, ListSecretsOptions, ListServicesOptionsBuilder,
};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, serde::Serialize)]
pub struct ObservedService {
    /// The service's key in the file (`STACK_` removed).
    pub key: String,
    /// Its name on the engine.
    pub name: String,
    pub state: ServiceState,
    /// Made by fedgen or by `docker stack deploy` of fedgen's file: it carries the spec-hash label.
    pub managed: bool,
    /// Carries the stack label (`docker stack ls/ps/rm` see it as the stack's).
    pub in_stack: bool,
    pub spec_hash: Option<String>,
    #[serde(skip)]
    pub spec: SwarmService,
    #[serde(skip)]
    pub objects: ReadObjects,
    /// The spec as the engine has it (sent back unchanged with a rollback call).
    #[serde(skip)]
    pub raw: bollard::models::ServiceSpec,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ObservedObject {
    pub id: String,
    pub name: String,
    /// Made for this stack (its label, or its name `STACK_...`).
    pub key: String,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ObservedSwarm {
    pub stack: String,
    pub node_id: String,
    /// By key in the file.
    pub services: BTreeMap<String, ObservedService>,
    /// The stack's overlay networks by key: (id, internal).
    pub networks: BTreeMap<String, (String, bool)>,
    /// Every network's name by id (a service names its networks by id).
    #[serde(skip)]
    pub network_names: HashMap<String, String>,
    /// The stack's secrets and configs by engine name.
    pub secrets: BTreeMap<String, ObservedObject>,
    pub configs: BTreeMap<String, ObservedObject>,
}

impl ObservedSwarm {
    /// sha256 of what was observed: a saved plan is applied only while this stays the same.
    pub fn fingerprint(&self) -> String {
        let mut parts: Vec<String> = self
            .services
            .values()
            .map(|s| {
                format!(
                    "s {} {} {:?} {}/{} {:?} {}",
                    s.state.id,
                    s.state.version,
                    s.spec_hash,
                    s.state.running,
                    s.state.desired,
                    s.state.update_state,
                    crate::model::sha256_hex(serde_json::to_vec(&s.spec).unwrap_or_default())
                )
            })
            .collect();
        parts.extend(
            self.networks
                .iter()
                .map(|(k, (id, i))| format!("n {k} {id} {i}")),
        );
        parts.extend(
            self.secrets
                .values()
                .map(|o| format!("x {} {}", o.id, o.name)),
        );
        parts.extend(
            self.configs
                .values()
                .map(|o| format!("c {} {}", o.id, o.name)),
        );
        parts.sort();
        crate::model::sha256_hex(parts.join("\n"))
    }
}

/// Fails unless the engine is an active swarm manager, saying how to make it one.
pub async fn require_manager(engine: &Engine) -> Result<String, EngineError> {
    let info = engine.call("info", "", |d| d.info()).await?;
    let swarm = info.swarm.unwrap_or_default();
    let state = swarm.local_node_state.unwrap_or(LocalNodeState::EMPTY);
    let not = |detail: String, hint: &str| EngineError::NotSwarm {
        host: engine.host().to_string(),
        detail,
        hint: hint.to_string(),
    };
    if state != LocalNodeState::ACTIVE {
        return Err(not(
            format!("is not in swarm mode (its node state is `{}`)", if state == LocalNodeState::EMPTY { "inactive".to_string() } else { state.to_string() }),
            "make it a swarm manager first: `docker swarm init --advertise-addr <this node's address>` for a new swarm, or `docker swarm join --token <manager token> <manager>:2377` to join one; or build for one host with --target compose",
        ));
    }
    if swarm.control_available != Some(true) {
        return Err(not(
            "is a swarm worker, not a manager: services can be changed only on a manager".into(),
            "point DOCKER_HOST at a manager of the swarm (`docker node ls` there lists the managers)",
        ));
    }
    Ok(swarm.node_id.unwrap_or_default())
}

/// Reads the stack's state.
pub async fn observe(
    engine: &Engine,
    desired: &SwarmDesired,
) -> Result<ObservedSwarm, EngineError> {
    let stack = &desired.stack;
    let project = stack.fedgen.stack.clone();
    let node_id = require_manager(engine).await?;
    let mut observed = ObservedSwarm {
        stack: project.clone(),
        node_id,
        ..Default::default()
    };
    let (services, networks, secrets, configs) = tokio::try_join!(
        engine.call("list services", &project, |d| {
            d.list_services(Some(ListServicesOptionsBuilder::new().status(true).build()))
        }),
        engine.call("list networks", &project, |d| {
            d.list_networks(None::<ListNetworksOptions>)
        }),
        engine.call("list secrets", &project, |d| {
            d.list_secrets(None::<ListSecretsOptions>)
        }),
        engine.call("list configs", &project, |d| {
            d.list_configs(None::<ListConfigsOptions>)
        }),
    )?;
    let prefix = format!("{project}_");
    for n in networks {
        let (id, name) = (n.id.unwrap_or_default(), n.name.unwrap_or_default());
        observed.network_names.insert(id.clone(), name.clone());
        let labelled = n
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_STACK))
            .is_some_and(|s| *s == project);
        if labelled && n.scope.as_deref() == Some("swarm") {
            let key = crate::names::unscoped(&project, &name).to_string();
            observed
                .networks
                .insert(key, (id, n.internal.unwrap_or(false)));
        }
    }
    let volumes: HashMap<String, String> = stack
        .volumes
        .keys()
        .map(|k| (stack.volume_name(k), k.clone()))
        .collect();
    for s in services {
        let spec = s.spec.clone().unwrap_or_default();
        let name = spec.name.clone().unwrap_or_default();
        let labels = spec.labels.clone().unwrap_or_default();
        let in_stack = labels.get(LABEL_STACK).is_some_and(|l| *l == project);
        let Some(key) = name.strip_prefix(&prefix).map(str::to_string) else {
            continue;
        };
        if !in_stack && !stack.services.contains_key(&key) {
            continue;
        }
        let (read, objects) =
            mapping::read_back(&project, &key, &spec, &observed.network_names, &volumes);
        let status = s.service_status.clone().unwrap_or_default();
        let update = s.update_status.clone();
        let state = ServiceState {
            id: s.id.clone().unwrap_or_default(),
            version: s.version.as_ref().and_then(|v| v.index).unwrap_or(0),
            update_state: update
                .as_ref()
                .and_then(|u| u.state)
                .map(|st| st.to_string())
                .filter(|st| !st.is_empty()),
            update_message: update.and_then(|u| u.message),
            running: status.running_tasks.unwrap_or(0),
            desired: status.desired_tasks.unwrap_or(0),
            completed: status.completed_tasks.unwrap_or(0),
        };
        let spec_hash = labels.get(LABEL_SPEC_HASH).cloned();
        observed.services.insert(
            key.clone(),
            ObservedService {
                key,
                name,
                state,
                managed: spec_hash.is_some(),
                in_stack,
                spec_hash,
                spec: read,
                objects,
                raw: spec,
            },
        );
    }
    // The stack's secrets and configs: labelled for it, or (made by hand, as docs/swarm.md says
    // for `docker stack deploy`) named after one of the file's (`STACK_KEY_HASH`). Another
    // stack whose name starts with this one's is not this one.
    let ours =
        |name: &str, labels: Option<&HashMap<String, String>>, keys: &dyn Fn(&str) -> bool| {
            match labels.and_then(|l| l.get(LABEL_STACK)) {
                Some(s) => *s == project,
                None => name.starts_with(&prefix) && keys(&mapping::object_key(&project, name)),
            }
        };
    for o in secrets {
        let spec = o.spec.unwrap_or_default();
        let name = spec.name.unwrap_or_default();
        if ours(&name, spec.labels.as_ref(), &|k| {
            stack.secrets.contains_key(k)
        }) {
            observed.secrets.insert(
                name.clone(),
                ObservedObject {
                    id: o.id.unwrap_or_default(),
                    key: mapping::object_key(&project, &name),
                    name,
                },
            );
        }
    }
    for o in configs {
        let spec = o.spec.unwrap_or_default();
        let name = spec.name.unwrap_or_default();
        if ours(&name, spec.labels.as_ref(), &|k| {
            stack.configs.contains_key(k)
        }) {
            observed.configs.insert(
                name.clone(),
                ObservedObject {
                    id: o.id.unwrap_or_default(),
                    key: mapping::object_key(&project, &name),
                    name,
                },
            );
        }
    }
    Ok(observed)
}
