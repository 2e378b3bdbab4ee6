//! The plan on a swarm: the stack file against the stack's services, service by service, in the
//! same [`Plan`] (actions, changes down to the field, origins, JSON) as on one host.
//!
//! Takes: the [`SwarmDesired`] file and the [`ObservedSwarm`]. Gives: a [`SwarmPlan`]: for each
//! service `unchanged`, `create`, `update` (a rolling update of its tasks; `in_place` on a change
//! that replaces no task: replicas, update and rollback settings, the service's own labels),
//! `recreate` (a mode change, which the engine refuses as an update) or `start` (the spec is the
//! file's but not every task runs: a forced update replaces them); the origin of each change
//! (`file`: the spec-hash label differs; `content`: only a secret's or config's content;
//! `drift`: the same label but the service was changed by hand); networks, secrets and configs to
//! create, the stack's objects no longer read, orphans, conflicts (services with the stack's
//! names that fedgen did not make); and what would make apply refuse.

use super::desired::SwarmDesired;
use super::mapping::bind_source;
use super::state::ObservedSwarm;
use crate::compile::env::looks_secret;
use crate::deploy::field::Field;
use crate::deploy::plan::{Action, Change, NetworkChange, Origin, Orphan, Plan, ServicePlan};
use crate::deploy::state::{Conflict, Refresh};
use crate::model::swarm::{Mode, SwarmService, LABEL_SPEC_HASH};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub struct SwarmPlan {
    /// The plan, as on one host (`refusals` says why apply would refuse besides conflicts and
    /// the pre-flight).
    pub plan: Plan,
    /// Per service, the engine's and the file's entry in canonical form (for the text diff).
    pub diffs: BTreeMap<String, (SwarmService, SwarmService)>,
    pub observed: ObservedSwarm,
}

/// The canonical form both sides are compared in. `name`: the service's key, which the engine
/// adds to its aliases on every network (so it is no alias of the file's).
pub fn canonical(name: &str, s: &SwarmService, base_dir: &Path) -> SwarmService {
    let mut c = s.clone();
    for m in &mut c.volumes {
        if m.kind == "bind" {
            m.source = m.source.as_deref().map(|src| bind_source(src, base_dir));
        }
    }
    c.volumes.sort_by(|a, b| a.target.cmp(&b.target));
    for r in c.secrets.iter_mut().chain(c.configs.iter_mut()) {
        r.mode = r.mode.filter(|m| *m != 0o444);
    }
    c.secrets.sort_by(|a, b| a.target.cmp(&b.target));
    c.configs.sort_by(|a, b| a.target.cmp(&b.target));
    for n in c.networks.values_mut() {
        n.aliases.retain(|a| a != name);
        n.aliases.sort();
        n.aliases.dedup();
    }
    c.ports.sort();
    c.cap_add = crate::deploy::mapping::caps(Some(c.cap_add));
    c.cap_drop = crate::deploy::mapping::caps(Some(c.cap_drop));
    if let Some(h) = &mut c.healthcheck {
        h.start_period = h.start_period.filter(|p| p.as_nanos() > 0);
    }
    c
}

/// Compares the stack file with the swarm.
pub fn plan(desired: &SwarmDesired, observed: ObservedSwarm) -> SwarmPlan {
    let stack = &desired.stack;
    let mut services = Vec::new();
    let mut diffs = BTreeMap::new();
    let mut conflicts = Vec::new();
    for (name, want) in &stack.services {
        let want_c = canonical(name, want, &desired.base_dir);
        let Some(o) = observed.services.get(name) else {
            services.push(service_plan(name, Action::Create, None, vec![], None));
            continue;
        };
        if !o.managed {
            conflicts.push(Conflict {
                id: o.state.id.clone(),
                name: o.name.clone(),
                service: name.clone(),
                state: format!("{}/{} running", o.state.running, o.state.desired),
            });
        }
        let mut have_c = canonical(name, &o.spec, &desired.base_dir);
        // Not readable through bollard 0.21 (see mapping): compared through the spec-hash label.
        have_c.healthcheck = want_c.healthcheck.clone();
        let mut changes = compare(&have_c, &want_c);
        let file_changed = o.spec_hash.as_ref() != want.deploy.labels.get(LABEL_SPEC_HASH);
        let mut content = Vec::new();
        for (kind, refs, objects, read) in [
            ("secret", &want.secrets, &stack.secrets, &o.objects.secrets),
            ("config", &want.configs, &stack.configs, &o.objects.configs),
        ] {
            for r in refs {
                let (Some(now), Some(was)) = (objects.get(&r.source), read.get(&r.source)) else {
                    continue;
                };
                if now.name != *was {
                    let hash = |n: &str| format!("sha256:{}", n.rsplit('_').next().unwrap_or(""));
                    content.push(Change {
                        field: Field::Content(r.source.clone()),
                        from: hash(was),
                        to: hash(&now.name),
                        in_place: false,
                    });
                    let _ = kind;
                }
            }
        }
        let mut origin = if !changes.is_empty() {
            Some(if file_changed {
                Origin::File
            } else {
                Origin::Drift
            })
        } else if !content.is_empty() {
            Some(Origin::Content)
        } else {
            None
        };
        changes.extend(content);
        if file_changed && changes.is_empty() {
            let short = |h: Option<&String>| {
                h.map(|h| h.chars().take(12).collect())
                    .unwrap_or_else(|| "-".to_string())
            };
            changes.push(Change {
                field: Field::ConfigHash,
                from: short(o.spec_hash.as_ref()),
                to: short(want.deploy.labels.get(LABEL_SPEC_HASH)),
                in_place: false,
            });
            origin = Some(Origin::File);
        }
        let mut notes = Vec::new();
        let job = want.deploy.mode == Mode::ReplicatedJob;
        let st = &o.state;
        let settled = if job {
            st.completed >= want.deploy.replicas
        } else {
            st.running >= want.deploy.replicas && st.desired == want.deploy.replicas
        };
        let stuck = matches!(
            st.update_state.as_deref(),
            Some("paused") | Some("rollback_paused") | Some("updating") | Some("rollback_started")
        );
        if let Some(u) = &st.update_state {
            if u != "completed" {
                notes.push(format!(
                    "its last update is {u}{}",
                    st.update_message
                        .as_ref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ));
            }
        }
        let action = if changes.iter().any(|c| c.field == Field::Mode) {
            Action::Recreate
        } else if !changes.is_empty() {
            Action::Update
        } else if !settled || stuck {
            notes.push(if job {
                format!("{} of {} completions", st.completed, want.deploy.replicas)
            } else {
                format!("{} of {} tasks running", st.running, want.deploy.replicas)
            });
            Action::Start
        } else {
            Action::Unchanged
        };
        let mut sp = service_plan(name, action, origin, changes, Some(o));
        sp.notes = notes;
        services.push(sp);
        diffs.insert(name.clone(), (have_c, want_c));
    }
    let mut networks_create = Vec::new();
    let mut networks_recreate = Vec::new();
    let mut refusals = Vec::new();
    for (key, net) in &stack.networks {
        match observed.networks.get(key) {
            None => networks_create.push(NetworkChange {
                name: key.clone(),
                reason: "missing".into(),
            }),
            Some((_, internal)) if *internal != net.internal => {
                networks_recreate.push(NetworkChange {
                    name: key.clone(),
                    reason: format!("internal: {internal} -> {}", net.internal),
                });
                refusals.push(format!(
                    "network {} must be recreated (internal: {internal} -> {}), which a swarm allows only once no service uses it: remove the stack's services on it (`docker service rm`), then apply again",
                    stack.network_name(key),
                    net.internal
                ));
            }
            Some(_) => {}
        }
    }
    let networks_extra = observed
        .networks
        .keys()
        .filter(|k| !stack.networks.contains_key(*k))
        .cloned()
        .collect();
    let orphans = observed
        .services
        .values()
        .filter(|s| s.in_stack && !stack.services.contains_key(&s.key))
        .map(|s| Orphan {
            service: s.key.clone(),
            container: s.name.clone(),
            id: s.state.id.clone(),
        })
        .collect();
    let mut objects_create = Vec::new();
    let mut secrets_generate = Vec::new();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for (kind, objects, have) in [
        ("secret", &stack.secrets, &observed.secrets),
        ("config", &stack.configs, &observed.configs),
    ] {
        for (key, o) in objects {
            wanted.insert(format!("{kind} {}", o.name));
            if have.contains_key(&o.name) {
                continue;
            }
            if kind == "secret" && desired.generated(key).is_some() {
                secrets_generate.push(key.clone());
            } else {
                objects_create.push(format!("{kind} {}", o.name));
            }
        }
    }
    let objects_unused: Vec<String> = observed
        .secrets
        .keys()
        .map(|n| format!("secret {n}"))
        .chain(observed.configs.keys().map(|n| format!("config {n}")))
        .filter(|o| !wanted.contains(o))
        .collect();
    for (key, o) in &stack.secrets {
        if observed.secrets.contains_key(&o.name)
            || desired.secret_value(key).is_some()
            || desired.generated(key).is_some()
        {
            continue;
        }
        refusals.push(match stack.fedgen.secrets.get(key) {
            Some(src) => format!(
                "secret `{key}` is read from {}, which is not set: pass --env or set it",
                src.environment
            ),
            None => format!(
                "secret `{key}`: cannot read {}",
                o.file.as_deref().unwrap_or("its file")
            ),
        });
    }
    for (key, secret) in [(true, &stack.secrets), (false, &stack.configs)]
        .into_iter()
        .flat_map(|(s, m)| m.keys().map(move |k| (k, s)))
    {
        if desired.content_matches(key, secret) == Some(false) {
            refusals.push(format!(
                "the content of {} `{key}` is not the one the file was built with (its name carries the hash of that one): run `fedgen build --target swarm` again",
                if secret { "secret" } else { "config" }
            ));
        }
    }
    let mut plan = Plan {
        version: crate::deploy::plan::PLAN_VERSION,
        project: stack.fedgen.stack.clone(),
        // A service's list entry is its whole spec: every field is read (but its healthcheck).
        refresh: Refresh::Full,
        in_sync: false,
        services,
        networks_create,
        networks_recreate,
        networks_extra,
        volumes_create: vec![],
        volumes_missing: vec![],
        volumes_unused: vec![],
        networks_missing: vec![],
        secrets_generate,
        orphans,
        conflicts,
        fingerprint: observed.fingerprint(),
        preflight: vec![],
        images: Default::default(),
        target: Some("swarm".into()),
        objects_create,
        objects_unused,
        refusals,
        locked: false,
        store: Default::default(),
    };
    plan.in_sync = plan.services.iter().all(|s| s.action == Action::Unchanged)
        && plan.networks_create.is_empty()
        && plan.networks_recreate.is_empty()
        && plan.networks_extra.is_empty()
        && plan.orphans.is_empty()
        && plan.conflicts.is_empty()
        && plan.objects_create.is_empty()
        && plan.objects_unused.is_empty()
        && plan.secrets_generate.is_empty();
    SwarmPlan {
        plan,
        diffs,
        observed,
    }
}

fn service_plan(
    name: &str,
    action: Action,
    origin: Option<Origin>,
    changes: Vec<Change>,
    o: Option<&super::state::ObservedService>,
) -> ServicePlan {
    ServicePlan {
        name: name.to_string(),
        action,
        origin,
        changes,
        container: o.map(|o| o.name.clone()),
        state: o.map(|o| {
            format!(
                "{} running, {} desired{}",
                o.state.running,
                o.state.desired,
                if o.state.completed > 0 {
                    format!(", {} completed", o.state.completed)
                } else {
                    String::new()
                }
            )
        }),
        health: None,
        notes: vec![],
        content_unverified: false,
        read: o.map(|_| "list"),
        desired: Default::default(),
        actual: None,
    }
}

fn show<T: Serialize>(v: &T) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    if s == "null" || s == "[]" || s == "{}" || s == "false" {
        "-".into()
    } else {
        s.trim_matches('"').to_string()
    }
}

fn field<T: Serialize + PartialEq>(
    out: &mut Vec<Change>,
    field: Field,
    have: &T,
    want: &T,
    in_place: bool,
) {
    if have != want {
        out.push(Change {
            field,
            from: show(have),
            to: show(want),
            in_place,
        });
    }
}

/// Every difference between two canonical services. `in_place`: the change replaces no task.
pub fn compare(have: &SwarmService, want: &SwarmService) -> Vec<Change> {
    let mut out = Vec::new();
    field(&mut out, Field::Image, &have.image, &want.image, false);
    field(
        &mut out,
        Field::Entrypoint,
        &have.entrypoint,
        &want.entrypoint,
        false,
    );
    field(
        &mut out,
        Field::Command,
        &have.command,
        &want.command,
        false,
    );
    field(&mut out, Field::User, &have.user, &want.user, false);
    field(
        &mut out,
        Field::WorkingDir,
        &have.working_dir,
        &want.working_dir,
        false,
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
            out.push(Change {
                field: Field::Env(k.clone()),
                from: redact(h),
                to: redact(w),
                in_place: false,
            });
        }
    }
    field(
        &mut out,
        Field::Healthcheck,
        &have.healthcheck,
        &want.healthcheck,
        false,
    );
    let nets: BTreeSet<&String> = have.networks.keys().chain(want.networks.keys()).collect();
    for n in nets {
        match (have.networks.get(n), want.networks.get(n)) {
            (None, Some(_)) => out.push(Change {
                field: Field::Network(n.clone()),
                from: "missing".into(),
                to: "attached".into(),
                in_place: false,
            }),
            (Some(_), None) => out.push(Change {
                field: Field::Network(n.clone()),
                from: "attached".into(),
                to: "not attached".into(),
                in_place: false,
            }),
            (Some(h), Some(w)) if h.aliases != w.aliases => out.push(Change {
                field: Field::NetworkAliases(n.clone()),
                from: show(&h.aliases),
                to: show(&w.aliases),
                in_place: false,
            }),
            _ => {}
        }
    }
    field(&mut out, Field::Ports, &have.ports, &want.ports, false);
    field(
        &mut out,
        Field::Volumes,
        &have.volumes,
        &want.volumes,
        false,
    );
    let refs = |s: &SwarmService| {
        (
            s.secrets
                .iter()
                .map(|r| (r.source.clone(), r.target.clone(), r.mode))
                .collect::<Vec<_>>(),
            s.configs
                .iter()
                .map(|r| (r.source.clone(), r.target.clone(), r.mode))
                .collect::<Vec<_>>(),
        )
    };
    let (hs, hc) = refs(have);
    let (ws, wc) = refs(want);
    field(&mut out, Field::Secrets, &hs, &ws, false);
    field(&mut out, Field::Configs, &hc, &wc, false);
    field(
        &mut out,
        Field::ReadOnly,
        &have.read_only,
        &want.read_only,
        false,
    );
    field(&mut out, Field::CapAdd, &have.cap_add, &want.cap_add, false);
    field(
        &mut out,
        Field::CapDrop,
        &have.cap_drop,
        &want.cap_drop,
        false,
    );
    field(
        &mut out,
        Field::StopSignal,
        &have.stop_signal,
        &want.stop_signal,
        false,
    );
    field(
        &mut out,
        Field::StopGracePeriod,
        &have.stop_grace_period,
        &want.stop_grace_period,
        false,
    );
    field(
        &mut out,
        Field::Logging,
        &have.logging,
        &want.logging,
        false,
    );
    let labels: BTreeSet<&String> = have.labels.keys().chain(want.labels.keys()).collect();
    for k in labels {
        field(
            &mut out,
            Field::Label(k.clone()),
            &have.labels.get(k),
            &want.labels.get(k),
            false,
        );
    }
    let (hd, wd) = (&have.deploy, &want.deploy);
    field(&mut out, Field::Mode, &hd.mode, &wd.mode, false);
    field(&mut out, Field::Replicas, &hd.replicas, &wd.replicas, true);
    field(
        &mut out,
        Field::EndpointMode,
        &hd.endpoint_mode,
        &wd.endpoint_mode,
        false,
    );
    let (hl, wl) = (
        hd.resources.limits.clone().unwrap_or_default(),
        wd.resources.limits.clone().unwrap_or_default(),
    );
    field(&mut out, Field::Memory, &hl.memory, &wl.memory, false);
    field(&mut out, Field::Cpus, &hl.cpus, &wl.cpus, false);
    field(
        &mut out,
        Field::Restart,
        &hd.restart_policy,
        &wd.restart_policy,
        false,
    );
    field(
        &mut out,
        Field::UpdateConfig,
        &hd.update_config,
        &wd.update_config,
        true,
    );
    field(
        &mut out,
        Field::RollbackConfig,
        &hd.rollback_config,
        &wd.rollback_config,
        true,
    );
    field(
        &mut out,
        Field::Placement,
        &hd.placement,
        &wd.placement,
        false,
    );
    let labels: BTreeSet<&String> = hd
        .labels
        .keys()
        .chain(wd.labels.keys())
        .filter(|k| k.as_str() != LABEL_SPEC_HASH)
        .collect();
    for k in labels {
        field(
            &mut out,
            Field::Label(format!("deploy {k}")),
            &hd.labels.get(k),
            &wd.labels.get(k),
            true,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServiceNetwork;

    fn svc() -> SwarmService {
        let mut s = SwarmService {
            image: "x:1".into(),
            ..Default::default()
        };
        s.environment.insert("API_TOKEN".into(), "t0ken".into());
        s.networks.insert(
            "db-net".into(),
            ServiceNetwork {
                aliases: vec!["api".into()],
                ..Default::default()
            },
        );
        s.deploy.replicas = 1;
        s
    }

    #[test]
    fn changes_are_named_and_only_task_free_ones_are_in_place() {
        let want = svc();
        let mut have = svc();
        have.deploy.replicas = 0;
        have.environment.insert("API_TOKEN".into(), "other".into());
        let changes = compare(&have, &want);
        let got: Vec<(String, &str, &str, bool)> = changes
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
            got,
            vec![
                ("env API_TOKEN".into(), "(redacted)", "(redacted)", false),
                ("replicas".into(), "0", "1", true),
            ]
        );
    }

    #[test]
    fn equal_services_in_different_orders_compare_equal() {
        let mut a = svc();
        a.cap_drop = vec!["all".into()];
        let mut b = svc();
        b.cap_drop = vec!["CAP_ALL".into()];
        b.networks.get_mut("db-net").unwrap().aliases = vec!["api".into(), "api".into()];
        b.networks
            .get_mut("db-net")
            .unwrap()
            .aliases
            .push("web".into());
        let (a, b) = (
            canonical("web", &a, Path::new("/")),
            canonical("web", &b, Path::new("/")),
        );
        assert!(compare(&a, &b).is_empty(), "{:?}", compare(&a, &b));
    }
}
