//! The swarm's engine boundary: a stack file's service to a `ServiceSpec`, and a service as the
//! engine reports it back into the stack file's model.
//!
//! Takes: the [`Stack`], a service's name and the ids of the secrets and configs it reads. Gives:
//! the `ServiceSpec` that `docker stack deploy` would make of the same entry (its conversion:
//! `entrypoint` is the spec's `Command`, `command` its `Args`, the service's own name added to its
//! aliases on each network, the stack label on the service, its containers and volumes), so a
//! stack deployed either way reads back the same; and the other way, a service of the engine as
//! a [`SwarmService`] in the canonical form the plan compares.
//!
//! The engine's healthcheck does not come back: bollard 0.21 reads `HealthCheck` where the engine
//! writes `Healthcheck` (the create and update calls are not affected: Go reads either). The
//! healthcheck is therefore compared through the spec-hash label, which covers the whole entry.

use crate::model::swarm::{
    Condition, FailureAction, FileRef, Limits, Mode, Mount, Order, Placement, Port, Resources,
    RestartPolicy, Stack, SwarmService, Tmpfs, UpdateConfig, LABEL_STACK, LABEL_STACK_IMAGE,
};
use crate::model::{Healthcheck, Logging, ServiceNetwork};
use crate::units::{Bytes, Cpus, Duration};
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, EndpointSpecModeEnum, HealthConfig, Limit, Mount as EngineMount,
    MountTmpfsOptions, MountType, MountVolumeOptions, NetworkAttachmentConfig,
    NetworkCreateRequest, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecModeReplicatedJob, ServiceSpecRollbackConfig,
    ServiceSpecRollbackConfigFailureActionEnum, ServiceSpecRollbackConfigOrderEnum,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, TaskSpec, TaskSpecContainerSpec,
    TaskSpecContainerSpecConfigs, TaskSpecContainerSpecFile, TaskSpecContainerSpecFile1,
    TaskSpecContainerSpecSecrets, TaskSpecLogDriver, TaskSpecPlacement, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The ids of the stack's secrets and configs on the engine, by engine name.
#[derive(Debug, Default, Clone)]
pub struct ObjectIds {
    pub secrets: HashMap<String, String>,
    pub configs: HashMap<String, String>,
}

fn ns(d: Duration) -> i64 {
    d.as_nanos() as i64
}

fn from_ns(n: Option<i64>) -> Option<Duration> {
    n.filter(|n| *n > 0).map(|n| Duration(n as u64))
}

/// The engine's `ServiceSpec` of a service of the file, as `docker stack deploy` makes it.
pub fn service_spec(stack: &Stack, name: &str, ids: &ObjectIds, base_dir: &Path) -> ServiceSpec {
    let svc = &stack.services[name];
    let project = &stack.fedgen.stack;
    let stack_label = || HashMap::from([(LABEL_STACK.to_string(), project.clone())]);
    let mut labels: HashMap<String, String> = svc.deploy.labels.clone().into_iter().collect();
    labels.extend(stack_label());
    labels.insert(LABEL_STACK_IMAGE.into(), svc.image.clone());
    let mut container_labels: HashMap<String, String> = svc.labels.clone().into_iter().collect();
    container_labels.extend(stack_label());
    let mut networks: Vec<NetworkAttachmentConfig> = svc
        .networks
        .iter()
        .map(|(net, n)| {
            let mut aliases = n.aliases.clone();
            aliases.push(name.to_string());
            NetworkAttachmentConfig {
                target: Some(stack.network_name(net)),
                aliases: Some(aliases),
                driver_opts: None,
            }
        })
        .collect();
    networks.sort_by(|a, b| a.target.cmp(&b.target));
    let mounts = svc
        .volumes
        .iter()
        .map(|m| match m.kind.as_str() {
            "volume" => {
                let src = m.source.clone().unwrap_or_default();
                EngineMount {
                    typ: Some(MountType::VOLUME),
                    source: Some(stack.volume_name(&src)),
                    target: Some(m.target.clone()),
                    read_only: m.read_only.then_some(true),
                    volume_options: Some(MountVolumeOptions {
                        labels: Some(stack_label()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            }
            "tmpfs" => EngineMount {
                typ: Some(MountType::TMPFS),
                target: Some(m.target.clone()),
                read_only: m.read_only.then_some(true),
                tmpfs_options: m.tmpfs.as_ref().map(|t| MountTmpfsOptions {
                    size_bytes: Some(t.size as i64),
                    ..Default::default()
                }),
                ..Default::default()
            },
            _ => EngineMount {
                typ: Some(MountType::BIND),
                source: Some(bind_source(
                    m.source.as_deref().unwrap_or_default(),
                    base_dir,
                )),
                target: Some(m.target.clone()),
                read_only: m.read_only.then_some(true),
                ..Default::default()
            },
        })
        .collect();
    let secrets = svc
        .secrets
        .iter()
        .map(|r| {
            let engine = stack
                .secrets
                .get(&r.source)
                .map(|o| o.name.clone())
                .unwrap_or_default();
            TaskSpecContainerSpecSecrets {
                file: Some(TaskSpecContainerSpecFile {
                    name: Some(r.target.clone()),
                    uid: Some("0".into()),
                    gid: Some("0".into()),
                    mode: Some(r.mode.unwrap_or(0o444)),
                }),
                secret_id: ids.secrets.get(&engine).cloned(),
                secret_name: Some(engine),
            }
        })
        .collect();
    let configs = svc
        .configs
        .iter()
        .map(|r| {
            let engine = stack
                .configs
                .get(&r.source)
                .map(|o| o.name.clone())
                .unwrap_or_default();
            TaskSpecContainerSpecConfigs {
                file: Some(TaskSpecContainerSpecFile1 {
                    name: Some(r.target.clone()),
                    uid: Some("0".into()),
                    gid: Some("0".into()),
                    mode: Some(r.mode.unwrap_or(0o444)),
                }),
                config_id: ids.configs.get(&engine).cloned(),
                config_name: Some(engine),
                runtime: None,
            }
        })
        .collect();
    let mut env: Vec<String> = svc
        .environment
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    env.sort();
    let health_check = svc.healthcheck.as_ref().map(|h| HealthConfig {
        test: (!h.test.is_empty()).then(|| h.test.clone()),
        interval: h.interval.map(ns),
        timeout: h.timeout.map(ns),
        retries: h.retries.map(i64::from),
        start_period: h.start_period.map(ns),
        start_interval: None,
    });
    let container_spec = TaskSpecContainerSpec {
        image: Some(svc.image.clone()),
        labels: Some(container_labels),
        command: svc.entrypoint.clone(),
        args: svc.command.clone(),
        env: Some(env),
        dir: svc.working_dir.clone(),
        user: svc.user.clone(),
        read_only: svc.read_only.then_some(true),
        mounts: Some(mounts),
        stop_signal: svc.stop_signal.clone(),
        stop_grace_period: svc.stop_grace_period.map(ns),
        health_check,
        secrets: Some(secrets),
        configs: Some(configs),
        capability_add: (!svc.cap_add.is_empty()).then(|| svc.cap_add.clone()),
        capability_drop: (!svc.cap_drop.is_empty()).then(|| svc.cap_drop.clone()),
        // `docker stack deploy` sends an empty one: the same here, or a deploy of the same file
        // after fedgen's apply would find the task template changed and replace every task.
        privileges: Some(Default::default()),
        ..Default::default()
    };
    let d = &svc.deploy;
    let limits = d.resources.limits.clone().unwrap_or_default();
    let r = &d.restart_policy;
    let task_template = TaskSpec {
        container_spec: Some(container_spec),
        resources: Some(TaskSpecResources {
            limits: Some(Limit {
                nano_cpus: limits.cpus.map(|c| c.nanos() as i64),
                memory_bytes: limits.memory.map(|m| m.0 as i64),
                pids: None,
            }),
            ..Default::default()
        }),
        restart_policy: Some(TaskSpecRestartPolicy {
            condition: Some(match r.condition {
                Condition::None => TaskSpecRestartPolicyConditionEnum::NONE,
                Condition::OnFailure => TaskSpecRestartPolicyConditionEnum::ON_FAILURE,
                Condition::Any => TaskSpecRestartPolicyConditionEnum::ANY,
            }),
            delay: r.delay.map(ns),
            max_attempts: Some(r.max_attempts.unwrap_or(0) as i64),
            window: r.window.map(ns),
        }),
        placement: Some(TaskSpecPlacement {
            constraints: d.placement.as_ref().map(|p| p.constraints.clone()),
            ..Default::default()
        }),
        networks: Some(networks),
        log_driver: svc.logging.as_ref().map(|l| TaskSpecLogDriver {
            name: Some(l.driver.clone()),
            options: Some(l.options.clone().into_iter().collect()),
        }),
        force_update: Some(0),
        ..Default::default()
    };
    let mode = match d.mode {
        Mode::Replicated => ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(d.replicas as i64),
            }),
            ..Default::default()
        },
        Mode::ReplicatedJob => ServiceSpecMode {
            replicated_job: Some(ServiceSpecModeReplicatedJob {
                max_concurrent: Some(d.replicas as i64),
                total_completions: Some(d.replicas as i64),
            }),
            ..Default::default()
        },
    };
    let update_config = d.update_config.as_ref().map(|u| ServiceSpecUpdateConfig {
        parallelism: Some(u.parallelism as i64),
        delay: u.delay.map(ns),
        failure_action: Some(match u.failure_action {
            FailureAction::Pause => ServiceSpecUpdateConfigFailureActionEnum::PAUSE,
            FailureAction::Continue => ServiceSpecUpdateConfigFailureActionEnum::CONTINUE,
            FailureAction::Rollback => ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK,
        }),
        monitor: Some(ns(u.monitor)),
        max_failure_ratio: Some(0.0),
        order: Some(match u.order {
            Order::StopFirst => ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
            Order::StartFirst => ServiceSpecUpdateConfigOrderEnum::START_FIRST,
        }),
    });
    let rollback_config = d
        .rollback_config
        .as_ref()
        .map(|u| ServiceSpecRollbackConfig {
            parallelism: Some(u.parallelism as i64),
            delay: u.delay.map(ns),
            failure_action: Some(match u.failure_action {
                FailureAction::Continue => ServiceSpecRollbackConfigFailureActionEnum::CONTINUE,
                _ => ServiceSpecRollbackConfigFailureActionEnum::PAUSE,
            }),
            monitor: Some(ns(u.monitor)),
            max_failure_ratio: Some(0.0),
            order: Some(match u.order {
                Order::StopFirst => ServiceSpecRollbackConfigOrderEnum::STOP_FIRST,
                Order::StartFirst => ServiceSpecRollbackConfigOrderEnum::START_FIRST,
            }),
        });
    let mut ports: Vec<EndpointPortConfig> = svc
        .ports
        .iter()
        .map(|p| EndpointPortConfig {
            name: None,
            protocol: Some(match p.protocol.as_str() {
                "udp" => EndpointPortConfigProtocolEnum::UDP,
                "sctp" => EndpointPortConfigProtocolEnum::SCTP,
                _ => EndpointPortConfigProtocolEnum::TCP,
            }),
            target_port: Some(i64::from(p.target)),
            published_port: Some(i64::from(p.published)),
            publish_mode: Some(if p.mode == "ingress" {
                EndpointPortConfigPublishModeEnum::INGRESS
            } else {
                EndpointPortConfigPublishModeEnum::HOST
            }),
        })
        .collect();
    ports.sort_by_key(|p| (p.target_port, p.published_port));
    ServiceSpec {
        name: Some(stack.service_name(name)),
        labels: Some(labels),
        task_template: Some(task_template),
        mode: Some(mode),
        update_config,
        rollback_config,
        networks: None,
        endpoint_spec: Some(EndpointSpec {
            mode: Some(match d.endpoint_mode.as_deref() {
                Some("dnsrr") => EndpointSpecModeEnum::DNSRR,
                _ => EndpointSpecModeEnum::VIP,
            }),
            ports: Some(ports),
        }),
    }
}

/// A bind mount's source on the node: a relative path is taken from the stack file's directory,
/// as `docker stack deploy` does.
pub fn bind_source(source: &str, base_dir: &Path) -> String {
    if Path::new(source).is_absolute() {
        return source.to_string();
    }
    base_dir
        .join(source)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect::<std::path::PathBuf>()
        .display()
        .to_string()
}

/// The body of an overlay network's create call.
pub fn network_create(stack: &Stack, key: &str) -> NetworkCreateRequest {
    let n = stack.networks.get(key).cloned().unwrap_or_default();
    NetworkCreateRequest {
        name: stack.network_name(key),
        driver: Some(if n.driver.is_empty() {
            "overlay".into()
        } else {
            n.driver
        }),
        internal: Some(n.internal),
        attachable: Some(n.attachable),
        labels: Some(HashMap::from([(
            LABEL_STACK.to_string(),
            stack.fedgen.stack.clone(),
        )])),
        ..Default::default()
    }
}

/// What a service of the engine says besides its spec: where it is in its rollout.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ServiceState {
    pub id: String,
    pub version: u64,
    /// `updating`, `completed`, `rollback_completed`, ... (`None`: never updated).
    pub update_state: Option<String>,
    pub update_message: Option<String>,
    pub running: u64,
    pub desired: u64,
    pub completed: u64,
}

/// The engine names of the secrets and configs a service reads, by their key in the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadObjects {
    pub secrets: BTreeMap<String, String>,
    pub configs: BTreeMap<String, String>,
}

/// The key of an object of the stack from its engine name (`STACK_KEY_HASH` -> `KEY`).
pub fn object_key(stack: &str, engine_name: &str) -> String {
    let rest = engine_name
        .strip_prefix(&format!("{stack}_"))
        .unwrap_or(engine_name);
    match rest.rsplit_once('_') {
        Some((key, hash)) if hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            key.to_string()
        }
        _ => rest.to_string(),
    }
}

/// A service of the engine, read back into the stack file's model. `networks`: the engine's
/// network names by id; `volumes`: the file's volume keys by their engine name.
pub fn read_back(
    stack: &str,
    name: &str,
    spec: &ServiceSpec,
    networks: &HashMap<String, String>,
    volumes: &HashMap<String, String>,
) -> (SwarmService, ReadObjects) {
    let tt = spec.task_template.clone().unwrap_or_default();
    let c = tt.container_spec.clone().unwrap_or_default();
    let strip = |mut l: HashMap<String, String>| -> BTreeMap<String, String> {
        l.remove(LABEL_STACK);
        l.remove(LABEL_STACK_IMAGE);
        l.into_iter().collect()
    };
    let mut image = c.image.clone().unwrap_or_default();
    // `docker stack deploy` pins an image it could resolve in a registry to its digest.
    if let Some((plain, _)) = image.split_once('@') {
        image = plain.to_string();
    }
    let environment = c
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            e.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let net_list: BTreeMap<String, ServiceNetwork> = tt
        .networks
        .clone()
        .or(spec.networks.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|n| {
            let target = n.target.unwrap_or_default();
            let full = networks.get(&target).cloned().unwrap_or(target);
            let key = crate::names::unscoped(stack, &full).to_string();
            let mut aliases: Vec<String> = n
                .aliases
                .unwrap_or_default()
                .into_iter()
                .filter(|a| a != name)
                .collect();
            aliases.sort();
            aliases.dedup();
            (
                key,
                ServiceNetwork {
                    aliases,
                    ..Default::default()
                },
            )
        })
        .collect();
    let mounts = c
        .mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let kind = match m.typ {
                Some(MountType::VOLUME) => "volume",
                Some(MountType::TMPFS) => "tmpfs",
                _ => "bind",
            };
            let source = match kind {
                "tmpfs" => None,
                "volume" => m.source.map(|s| volumes.get(&s).cloned().unwrap_or(s)),
                _ => m.source,
            };
            Mount {
                kind: kind.to_string(),
                source,
                target: m.target.unwrap_or_default(),
                read_only: m.read_only.unwrap_or(false),
                tmpfs: m
                    .tmpfs_options
                    .and_then(|t| t.size_bytes)
                    .filter(|s| *s > 0)
                    .map(|s| Tmpfs { size: s as u64 }),
            }
        })
        .collect();
    let mut objects = ReadObjects::default();
    let secrets = c
        .secrets
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            let engine = s.secret_name.unwrap_or_default();
            let key = object_key(stack, &engine);
            objects.secrets.insert(key.clone(), engine);
            let f = s.file.unwrap_or_default();
            FileRef {
                source: key,
                target: f.name.unwrap_or_default(),
                mode: f.mode.filter(|m| *m != 0o444),
            }
        })
        .collect();
    let configs = c
        .configs
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            let engine = s.config_name.unwrap_or_default();
            let key = object_key(stack, &engine);
            objects.configs.insert(key.clone(), engine);
            let f = s.file.unwrap_or_default();
            FileRef {
                source: key,
                target: f.name.unwrap_or_default(),
                mode: f.mode.filter(|m| *m != 0o444),
            }
        })
        .collect();
    let limits = tt
        .resources
        .clone()
        .and_then(|r| r.limits)
        .unwrap_or_default();
    let limits = Limits {
        cpus: limits.nano_cpus.filter(|n| *n > 0).map(|n| Cpus(n as u64)),
        memory: limits
            .memory_bytes
            .filter(|n| *n > 0)
            .map(|n| Bytes(n as u64)),
    };
    let rp = tt.restart_policy.clone().unwrap_or_default();
    let restart_policy = RestartPolicy {
        condition: match rp.condition {
            Some(TaskSpecRestartPolicyConditionEnum::NONE) => Condition::None,
            Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE) => Condition::OnFailure,
            _ => Condition::Any,
        },
        delay: from_ns(rp.delay),
        max_attempts: rp.max_attempts.filter(|n| *n > 0).map(|n| n as u64),
        window: from_ns(rp.window),
    };
    let mode = spec.mode.clone().unwrap_or_default();
    let (mode, replicas) = match (&mode.replicated, &mode.replicated_job) {
        (_, Some(j)) => (
            Mode::ReplicatedJob,
            j.total_completions.unwrap_or(1).max(0) as u64,
        ),
        (Some(r), _) => (Mode::Replicated, r.replicas.unwrap_or(1).max(0) as u64),
        _ => (Mode::Replicated, 1),
    };
    let update_config = spec.update_config.as_ref().map(|u| UpdateConfig {
        parallelism: u.parallelism.unwrap_or(0).max(0) as u64,
        delay: from_ns(u.delay),
        failure_action: match u.failure_action {
            Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK) => FailureAction::Rollback,
            Some(ServiceSpecUpdateConfigFailureActionEnum::CONTINUE) => FailureAction::Continue,
            _ => FailureAction::Pause,
        },
        monitor: from_ns(u.monitor).unwrap_or(Duration::from_secs(5)),
        order: match u.order {
            Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST) => Order::StartFirst,
            _ => Order::StopFirst,
        },
    });
    let rollback_config = spec.rollback_config.as_ref().map(|u| UpdateConfig {
        parallelism: u.parallelism.unwrap_or(0).max(0) as u64,
        delay: from_ns(u.delay),
        failure_action: match u.failure_action {
            Some(ServiceSpecRollbackConfigFailureActionEnum::CONTINUE) => FailureAction::Continue,
            _ => FailureAction::Pause,
        },
        monitor: from_ns(u.monitor).unwrap_or(Duration::from_secs(5)),
        order: match u.order {
            Some(ServiceSpecRollbackConfigOrderEnum::START_FIRST) => Order::StartFirst,
            _ => Order::StopFirst,
        },
    });
    let constraints = tt
        .placement
        .clone()
        .and_then(|p| p.constraints)
        .unwrap_or_default();
    let endpoint = spec.endpoint_spec.clone().unwrap_or_default();
    let mut ports: Vec<Port> = endpoint
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| Port {
            target: p.target_port.unwrap_or(0) as u16,
            published: p.published_port.unwrap_or(0) as u16,
            protocol: p
                .protocol
                .map(|p| p.to_string())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "tcp".into()),
            mode: match p.publish_mode {
                Some(EndpointPortConfigPublishModeEnum::HOST) => "host".into(),
                _ => "ingress".into(),
            },
        })
        .collect();
    ports.sort();
    let svc = SwarmService {
        image,
        entrypoint: c.command.clone(),
        command: c.args.clone(),
        user: c.user.clone().filter(|u| !u.is_empty()),
        working_dir: c.dir.clone().filter(|d| !d.is_empty()),
        environment,
        healthcheck: c.health_check.clone().map(|h| Healthcheck {
            test: h.test.unwrap_or_default(),
            interval: from_ns(h.interval),
            timeout: from_ns(h.timeout),
            retries: h.retries.map(|r| r as u32),
            start_period: from_ns(h.start_period),
        }),
        networks: net_list,
        ports,
        volumes: mounts,
        secrets,
        configs,
        read_only: c.read_only.unwrap_or(false),
        cap_add: c.capability_add.clone().unwrap_or_default(),
        cap_drop: c.capability_drop.clone().unwrap_or_default(),
        stop_signal: c.stop_signal.clone().filter(|s| !s.is_empty()),
        stop_grace_period: from_ns(c.stop_grace_period),
        logging: tt.log_driver.clone().map(|l| Logging {
            driver: l.name.unwrap_or_default(),
            options: l.options.unwrap_or_default().into_iter().collect(),
        }),
        labels: strip(c.labels.clone().unwrap_or_default()),
        deploy: crate::model::swarm::Deploy {
            mode,
            replicas,
            endpoint_mode: endpoint
                .mode
                .map(|m| m.to_string())
                .filter(|m| !m.is_empty()),
            labels: strip(spec.labels.clone().unwrap_or_default()),
            resources: Resources {
                limits: (limits.cpus.is_some() || limits.memory.is_some()).then_some(limits),
                reservations: None,
            },
            restart_policy,
            update_config,
            rollback_config,
            placement: (!constraints.is_empty()).then_some(Placement { constraints }),
        },
    };
    (svc, objects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::swarm::Object;

    /// Every service of the bundled stacks survives the round trip through the engine's types
    /// (the healthcheck too, since the typed spec still holds it before JSON).
    #[test]
    fn a_stack_service_reads_back_as_written() {
        for stack in ["document-platform", "federated-imputation"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("golden/swarm/{stack}.yml"));
            let text = std::fs::read_to_string(path).unwrap();
            let s = Stack::from_yaml(&text).unwrap();
            let nets: HashMap<String, String> = s
                .networks
                .keys()
                .map(|k| (s.network_name(k), s.network_name(k)))
                .collect();
            let vols: HashMap<String, String> = s
                .volumes
                .keys()
                .map(|k| (s.volume_name(k), k.clone()))
                .collect();
            for (name, want) in &s.services {
                let spec = service_spec(&s, name, &ObjectIds::default(), Path::new("/srv"));
                let (have, objects) = read_back(&s.fedgen.stack, name, &spec, &nets, &vols);
                let mut want = want.clone();
                for r in want.configs.iter_mut().chain(want.secrets.iter_mut()) {
                    r.mode = r.mode.filter(|m| *m != 0o444);
                }
                for m in &mut want.volumes {
                    if m.kind == "bind" {
                        m.source = m
                            .source
                            .as_deref()
                            .map(|s| bind_source(s, Path::new("/srv")));
                    }
                }
                assert_eq!(have, want, "{stack}: {name}");
                let names: BTreeMap<String, String> = want
                    .secrets
                    .iter()
                    .map(|r| (r.source.clone(), s.secrets[&r.source].name.clone()))
                    .collect();
                assert_eq!(objects.secrets, names, "{stack}: {name}");
            }
        }
    }

    #[test]
    fn object_keys_come_back_from_engine_names() {
        assert_eq!(
            object_key("app", "app_jwt_secret_0123456789ab"),
            "jwt_secret"
        );
        assert_eq!(object_key("app", "app_x_y"), "x_y");
        let _ = Object::default();
    }
}
