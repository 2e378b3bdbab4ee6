//! The swarm target: the rendered compose model as a stack file that `docker stack deploy`
//! accepts (Compose file format 3.9) and `fedgen apply --target swarm` converges.
//!
//! Takes: the [`Compose`] model with every policy applied, the validated [`Stack`] (for the spec's
//! lines and the kinds' metadata), the [`Env`] and the paths (to read each secret's content).
//! Gives: a [`swarm::Stack`], or a located diagnostic for every setting swarm cannot express.
//!
//! fedgen's policies in swarm's own keys: `restart:` as `deploy.restart_policy`, limits as
//! `deploy.resources`, rolling updates (`start-first` where two copies may run at once, never for
//! a kind that keeps data or a service that publishes a port on the node; `failure_action:
//! rollback`), `rollback_config`, the healthcheck (swarm gates a task's `running` on it and
//! replaces unhealthy tasks), overlay networks from `uses:`, `endpoint_mode: dnsrr` (no virtual IP:
//! the service's name resolves to its tasks, which also works where IPVS is missing), published
//! ports in host mode, services with data pinned to the node that has it, one-shot kinds as
//! `replicated-job`, secrets and configs named by a hash of their content (swarm's are
//! immutable: a new content is a new object, and the services that read it roll), but for
//! `generate:` secrets, which the first `fedgen apply` makes on the swarm and keeps there. What the 3.x
//! format cannot carry is refused with its line (a pids limit, a published port bound to one
//! address, ...), or, for what fedgen sets by default, said once as a warning; docs/swarm.md
//! lists both.

use crate::compile::env::Env;
use crate::compile::validate::Stack;
use crate::diag::{Code, Diagnostic, Diagnostics, Span};
use crate::model::labels::{LABEL_CONFIG_HASH, LABEL_KIND};
use crate::model::swarm::{
    self, ConfigContent, Deploy, FailureAction, FileRef, Limits, Meta, Mode, Network, Object,
    Order, Placement, Port, Resources, RestartPolicy as SwarmRestart, SecretSource as Source,
    SwarmService, Tmpfs, UpdateConfig,
};
use crate::model::{Compose, Lifecycle, RestartPolicy};
use crate::units::Duration;
use std::collections::BTreeMap;
use std::path::Path;

/// The node label that says which node keeps a stack's data (`dev.fedgen.data.STACK=true`):
/// services with a volume or a bind mount run only there, since a local volume lives on one node.
pub fn data_label(stack: &str) -> String {
    format!("dev.fedgen.data.{stack}")
}

/// The engine's longest name for a service, network, secret or config (a DNS label for services).
const MAX_SERVICE_NAME: usize = 63;
const MAX_OBJECT_NAME: usize = 64;

/// The `replicas:` of a compose build: one container per service, as `fedgen apply` names them.
pub fn check_compose(stack: &Stack, diags: &mut Diagnostics) {
    for (name, svc) in &stack.spec.services {
        if let Some(r) = svc.replicas.as_ref().filter(|r| r.value > 1) {
            diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    format!("service `{name}` asks for {} replicas; a compose project runs one container per service", r.value),
                )
                .at(r.span)
                .hint("replicas are for a swarm: build with --target swarm (or `target: swarm` in the spec)"),
            );
        }
    }
}

/// The compose model as a swarm stack. `out_dir`: the stack file's directory (relative paths in
/// the model are relative to it).
pub fn convert(
    compose: &Compose,
    stack: &Stack,
    env: &Env,
    out_dir: &Path,
    diags: &mut Diagnostics,
) -> Option<swarm::Stack> {
    let before = diags.error_count();
    let lifecycles = compose.lifecycles();
    let spec = stack.spec;
    let project = &compose.name;
    let mut out = swarm::Stack {
        version: swarm::VERSION.into(),
        fedgen: Meta {
            stack: project.clone(),
            ..Default::default()
        },
        ..Default::default()
    };
    weakened_policies(compose, stack, diags);
    for (name, svc) in &compose.services {
        let s = &spec.services[name];
        let kind = stack.kind(name);
        let full = crate::names::scoped(project, name);
        if full.len() > MAX_SERVICE_NAME || full.contains('.') {
            diags.push(
                Diagnostic::error(
                    Code::SwarmUnsupported,
                    format!("service `{name}` would be `{full}` on the swarm, which is not a DNS label"),
                )
                .at(s.name.span)
                .hint("a swarm service name (STACK_SERVICE) is at most 63 letters, digits, `-` and `_`, without dots: shorten the stack's or the service's name"),
            );
        }
        if let Some(p) = s.pids_limit.as_ref().or(spec.defaults.pids_limit.as_ref()) {
            diags.push(
                Diagnostic::error(
                    Code::SwarmUnsupported,
                    format!("service `{name}`: a swarm stack file (format {}) cannot limit the number of processes", swarm::VERSION),
                )
                .at(p.span)
                .hint("`deploy.resources.limits.pids` needs format 3.13 (Docker CLI 27); remove `pids_limit` for the swarm target, or build for compose"),
            );
        }
        let one_shot = lifecycles.of(name) == Lifecycle::OneShot;
        let stateful = kind.meta.data.is_some();
        let replicas = s.replicas.as_ref().map(|r| r.value).unwrap_or(1);
        if replicas > 1 && stateful {
            let r = s.replicas.as_ref().expect("more than one");
            diags.push(
                Diagnostic::error(
                    Code::SwarmStatefulReplicas,
                    format!("service `{name}` (kind `{}`) asks for {replicas} replicas, but the kind keeps its data on one volume", kind.name),
                )
                .at(r.span)
                .hint("two copies of a database on one volume corrupt it; run one (replicas: 1), or use the database's own replication"),
            );
        }
        if replicas > 1 && one_shot {
            let r = s.replicas.as_ref().expect("more than one");
            diags.push(
                Diagnostic::error(
                    Code::SwarmUnsupported,
                    format!(
                        "service `{name}` runs once (kind `{}`): it has no replicas",
                        kind.name
                    ),
                )
                .at(r.span)
                .hint("remove `replicas:`"),
            );
        }
        let mut ports = Vec::new();
        for (i, p) in svc.ports.iter().enumerate() {
            // The compiler always names the node's port (Compose's optional one is a reader's).
            let published = p.published.unwrap_or(p.target);
            let written = s.publish.get(i);
            let explicit = written.and_then(|w| w.host_ip.clone()).or(spec
                .defaults
                .publish_ip
                .as_ref()
                .map(|i| i.value.clone()));
            let span = written.map(|w| w.span).unwrap_or(s.name.span);
            match explicit.as_deref() {
                Some("0.0.0.0") | Some("::") => {}
                Some(ip) => {
                    let at = written
                        .filter(|w| w.host_ip.is_some())
                        .map(|w| w.span)
                        .or(spec.defaults.publish_ip.as_ref().map(|i| i.span))
                        .unwrap_or(span);
                    diags.push(
                        Diagnostic::error(
                            Code::SwarmUnsupported,
                            format!("service `{name}` publishes port {published} on {ip}; a swarm publishes on every address of the node"),
                        )
                        .at(at)
                        .hint("swarm's port configuration has no address; drop the address (and restrict access with the node's firewall), or build for compose"),
                    );
                }
                None => diags.push(
                    Diagnostic::warning(
                        Code::SwarmPolicy,
                        format!("service `{name}` publishes port {published} on every address of the node, not on {}", p.host_ip.as_deref().unwrap_or("0.0.0.0")),
                    )
                    .at(span)
                    .hint("a swarm cannot bind a published port to one address; restrict access with the node's firewall, or say `publish_ip: 0.0.0.0` to make this explicit"),
                ),
            }
            ports.push(Port {
                target: p.target,
                published,
                protocol: p.protocol.clone(),
                mode: "host".into(),
            });
        }
        let mut volumes: Vec<swarm::Mount> = svc
            .volumes
            .iter()
            .map(|m| swarm::Mount {
                kind: m.kind.clone(),
                source: Some(m.source.clone()),
                target: m.target.clone(),
                read_only: m.read_only,
                tmpfs: None,
            })
            .collect();
        let keeps_data = !volumes.is_empty();
        volumes.extend(svc.tmpfs.iter().map(|t| swarm::Mount {
            kind: "tmpfs".into(),
            source: None,
            target: t.clone(),
            read_only: false,
            tmpfs: None,
        }));
        if let Some(size) = svc.shm_size {
            // The 3.x format has no shm_size: the same thing as a sized tmpfs on /dev/shm.
            volumes.push(swarm::Mount {
                kind: "tmpfs".into(),
                source: None,
                target: "/dev/shm".into(),
                read_only: false,
                tmpfs: Some(Tmpfs { size: size.0 }),
            });
        }
        let publishes = !ports.is_empty();
        let order = if stateful || publishes {
            Order::StopFirst
        } else {
            Order::StartFirst
        };
        let rollout = |parallelism: u64, failure_action: FailureAction| UpdateConfig {
            parallelism,
            delay: None,
            failure_action,
            monitor: Duration::from_secs(5),
            order,
        };
        let mut labels = svc.labels.clone();
        labels.remove(LABEL_CONFIG_HASH);
        let mut deploy_labels = BTreeMap::new();
        if let Some(k) = labels.get(LABEL_KIND) {
            deploy_labels.insert(LABEL_KIND.to_string(), k.clone());
        }
        let limits = svc.limits();
        let deploy = Deploy {
            mode: if one_shot {
                Mode::ReplicatedJob
            } else {
                Mode::Replicated
            },
            replicas,
            endpoint_mode: Some("dnsrr".into()),
            labels: deploy_labels,
            resources: Resources {
                limits: (limits.cpus.is_some() || limits.memory.is_some()).then_some(Limits {
                    cpus: limits.cpus,
                    memory: limits.memory,
                }),
                reservations: None,
            },
            restart_policy: restart_policy(svc.restart.unwrap_or(RestartPolicy::No)),
            // The engine refuses an update configuration on a job.
            update_config: (!one_shot).then(|| rollout(1, FailureAction::Rollback)),
            rollback_config: (!one_shot).then(|| rollout(0, FailureAction::Pause)),
            placement: keeps_data.then(|| Placement {
                constraints: vec![format!("node.labels.{} == true", data_label(project))],
            }),
        };
        out.services.insert(
            name.clone(),
            SwarmService {
                image: svc.image.clone(),
                entrypoint: svc.entrypoint.clone(),
                command: svc.command.clone(),
                user: svc.user.clone(),
                working_dir: svc.working_dir.clone(),
                environment: svc.environment.clone(),
                healthcheck: svc.healthcheck.clone(),
                // The engine adds the service's own name to its aliases on every network.
                networks: svc
                    .networks
                    .iter()
                    .map(|(n, net)| {
                        let mut net = net.clone();
                        net.aliases.retain(|a| a != name);
                        (n.clone(), net)
                    })
                    .collect(),
                ports,
                volumes,
                secrets: svc
                    .secrets
                    .iter()
                    .map(|r| FileRef {
                        source: r.source.clone(),
                        target: r
                            .target
                            .strip_prefix("/run/secrets/")
                            .unwrap_or(&r.target)
                            .to_string(),
                        mode: None,
                    })
                    .collect(),
                configs: svc
                    .configs
                    .iter()
                    .map(|c| FileRef {
                        source: c.source.clone(),
                        target: c.target.clone(),
                        mode: c.mode,
                    })
                    .collect(),
                // Swarm mounts secrets and configs itself (compose copies them in, which a
                // read-only root refuses): every kind that can run read-only does here.
                read_only: s.read_only.unwrap_or(kind.meta.read_only),
                cap_add: svc.cap_add.clone(),
                cap_drop: svc.cap_drop.clone(),
                stop_signal: svc.stop_signal.clone(),
                stop_grace_period: svc.stop_grace_period,
                logging: svc.logging.clone(),
                labels,
                deploy,
            },
        );
        let uses: Vec<String> = s.uses.iter().map(|u| u.value.clone()).collect();
        if !uses.is_empty() {
            out.fedgen.uses.insert(name.clone(), uses);
        }
    }
    out.networks = compose
        .networks
        .iter()
        .map(|(n, net)| {
            (
                n.clone(),
                Network {
                    driver: "overlay".into(),
                    internal: net.internal,
                    attachable: false,
                },
            )
        })
        .collect();
    out.volumes = compose.volumes.clone();
    for (key, secret) in &compose.secrets {
        let decl = &spec.secrets[key];
        if let (Some(bytes), Some(var)) = (secret.generate, &secret.environment) {
            // Made once on the swarm by the first apply and kept there (as on one host, where
            // it lives in a volume on the engine): its value is never known here, so its name
            // carries no hash.
            let name = crate::names::scoped(project, key);
            if name.len() > MAX_OBJECT_NAME {
                diags.push(
                    Diagnostic::error(
                        Code::SwarmUnsupported,
                        format!("`{key}` would be `{name}` on the swarm: longer than the engine's {MAX_OBJECT_NAME} characters"),
                    )
                    .at(decl.name.span)
                    .hint("shorten the stack's name or the secret's"),
                );
                continue;
            }
            out.fedgen.secrets.insert(
                key.clone(),
                Source {
                    environment: var.clone(),
                    generate: Some(bytes),
                },
            );
            out.secrets.insert(
                key.clone(),
                Object {
                    name,
                    file: None,
                    external: true,
                },
            );
            continue;
        }
        let (value, what) = match (&secret.environment, &secret.file) {
            (Some(var), _) => (
                env.get(var).map(String::into_bytes),
                format!("`{var}` is not set"),
            ),
            (None, Some(f)) => (
                std::fs::read(out_dir.join(f)).ok(),
                format!("its file {f} cannot be read"),
            ),
            (None, None) => (None, "it has no source".to_string()),
        };
        let Some(value) = value else {
            diags.push(
                Diagnostic::error(
                    Code::SwarmSecretUnknown,
                    format!("secret `{key}`: {what}, and a swarm secret is named by a hash of its content"),
                )
                .at(decl.name.span)
                .hint("swarm secrets cannot change: fedgen names each one by its content, so the value must be known when building for swarm (set the variable, or pass --env)"),
            );
            continue;
        };
        let Some(name) = object_name(project, key, &value, decl.name.span, diags) else {
            continue;
        };
        let object = match &secret.environment {
            Some(var) => {
                out.fedgen.secrets.insert(
                    key.clone(),
                    Source {
                        environment: var.clone(),
                        generate: None,
                    },
                );
                Object {
                    name,
                    file: None,
                    external: true,
                }
            }
            None => Object {
                name,
                file: secret.file.clone(),
                external: false,
            },
        };
        out.secrets.insert(key.clone(), object);
    }
    for (key, config) in &compose.configs {
        let span = compose
            .services
            .iter()
            .find(|(_, s)| s.configs.iter().any(|c| &c.source == key))
            .and_then(|(n, _)| spec.services.get(n))
            .map(|s| s.name.span)
            .unwrap_or(spec.name.span);
        // The compiler's configs are inline (a file or variable source is a Compose reader's).
        let content = config.content.clone().unwrap_or_default();
        let Some(name) = object_name(project, key, content.as_bytes(), span, diags) else {
            continue;
        };
        out.configs.insert(
            key.clone(),
            Object {
                name,
                file: None,
                external: true,
            },
        );
        out.fedgen
            .configs
            .insert(key.clone(), ConfigContent { content });
    }
    if diags.error_count() > before {
        return None;
    }
    out.label_spec_hashes();
    Some(out)
}

/// A secret's or config's engine name: `STACK_KEY_HASH`, the hash a sha256 prefix of the content.
fn object_name(
    project: &str,
    key: &str,
    content: &[u8],
    span: Span,
    diags: &mut Diagnostics,
) -> Option<String> {
    let name = format!(
        "{}_{}",
        crate::names::scoped(project, key),
        crate::model::content_hash(content)
    );
    if name.len() > MAX_OBJECT_NAME {
        diags.push(
            Diagnostic::error(
                Code::SwarmUnsupported,
                format!("`{key}` would be `{name}` on the swarm: longer than the engine's {MAX_OBJECT_NAME} characters"),
            )
            .at(span)
            .hint("shorten the stack's name or the secret's"),
        );
        return None;
    }
    Some(name)
}

/// The restart policy in swarm's terms: `unless-stopped` and `always` both restart on any exit
/// (a swarm task that stops is replaced; there is no "stopped by hand").
pub fn restart_policy(r: RestartPolicy) -> SwarmRestart {
    let (condition, max_attempts) = match r {
        RestartPolicy::No => (swarm::Condition::None, None),
        RestartPolicy::Always | RestartPolicy::UnlessStopped => (swarm::Condition::Any, None),
        RestartPolicy::OnFailure(n) => (swarm::Condition::OnFailure, n.map(u64::from)),
    };
    SwarmRestart {
        condition,
        delay: Some(Duration::from_secs(5)),
        max_attempts,
        window: None,
    }
}

/// What fedgen's policies set that a swarm cannot: said once per build.
fn weakened_policies(compose: &Compose, stack: &Stack, diags: &mut Diagnostics) {
    let hardened = compose.services.values().any(|s| {
        s.security_opt
            .iter()
            .any(|o| o.starts_with("no-new-privileges"))
    });
    if hardened {
        diags.push(
            Diagnostic::warning(
                Code::SwarmPolicy,
                "a swarm cannot set `no-new-privileges` (`security_opt`) on its services' containers",
            )
            .at(stack.spec.name.span)
            .hint("`cap_drop: [ALL]` still applies; see docs/swarm.md for what each dropped key protected"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_in_swarm_terms() {
        assert_eq!(
            restart_policy(RestartPolicy::UnlessStopped).condition,
            swarm::Condition::Any
        );
        assert_eq!(
            restart_policy(RestartPolicy::No).condition,
            swarm::Condition::None
        );
        let f = restart_policy(RestartPolicy::OnFailure(Some(3)));
        assert_eq!(
            (f.condition, f.max_attempts),
            (swarm::Condition::OnFailure, Some(3))
        );
    }
}
