//! One service's rollout: wait for what it depends on, then create, recreate, update or start
//! its container and wait for it to be ready; on failure, put the previous container back.
//!
//! A recreate never removes the old container first: it stops it and renames it aside
//! (`NAME-previous-ID`), so a replacement that does not become ready can be swapped back, and a
//! killed fedgen leaves at most a container that the next apply recognizes and removes.
//!
//! An adoption (`--adopt`) is as careful with a container fedgen did not make: once every
//! service of the earlier dependency waves has settled, the unmanaged container is stopped with
//! its own stop signal and grace period and renamed aside (`NAME-adopted-ID`); the new container
//! starts on the same volumes and bind mounts; only when it is ready is the old one removed
//! (never its volumes). If the new one does not become ready, it is removed and the old one gets
//! its name back and is started again. The time in between is the service's downtime, measured.

use super::{satisfies, Gate, Outcome, Rollout, ServiceResult, Step};
use crate::deploy::engine::{Engine, EngineError};
use crate::deploy::mapping;
use crate::deploy::plan::{Action, ServicePlan};
use crate::deploy::state::{self, Conflict};
use crate::model::labels::{COMPOSE_PROJECT, COMPOSE_SERVICE};
use crate::model::Service;

use bollard::models::NetworkConnectRequest;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, RemoveContainerOptions,
    RenameContainerOptions, StartContainerOptions, StopContainerOptions, UploadToContainerOptions,
};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// An unmanaged container that `--adopt` stopped and renamed aside.
pub(super) struct Aside {
    id: String,
    /// Its name before (the one it gets back on a rollback).
    original: String,
    /// Its name while set aside.
    aside: String,
    was_running: bool,
}

pub(super) struct TaskCtx {
    pub(super) rollout: Arc<Rollout>,
    pub(super) plan: ServicePlan,
}

/// Why a service did not become ready: the reason, its last health-check output, its last logs.
pub(super) struct Failure {
    pub(super) why: String,
    pub(super) output: Option<String>,
    pub(super) logs: Vec<String>,
}

impl TaskCtx {
    /// The service will not start: a container created early for it is removed, so a stopped
    /// rollout leaves no half-made service behind.
    async fn not_started(
        &self,
        cname: &str,
        early: &Option<String>,
        result: Outcome,
        why: String,
    ) -> Result<(Gate, ServiceResult), EngineError> {
        if let Some(id) = early {
            force_remove(&self.rollout.engine, cname, id).await?;
        }
        let mut r = self.result(result, None);
        r.error = Some(why);
        Ok((Gate::Failed, r))
    }

    fn result(&self, result: Outcome, container: Option<String>) -> ServiceResult {
        let mut r = ServiceResult::new(&self.plan.name, result);
        r.container = container;
        r
    }

    /// Reports a step of this service.
    pub(super) fn step(&self, step: Step, detail: &str) {
        self.rollout.step(&self.plan.name, step, detail);
    }

    pub(super) async fn run(&self) -> Result<(Gate, ServiceResult), EngineError> {
        let name = self.plan.name.clone();
        let svc = self.rollout.desired.compose.services[&name].clone();
        let cname = mapping::container_name(&self.rollout.desired.compose, &name);
        let adopting: Vec<Conflict> = self
            .rollout
            .adoptions
            .get(&name)
            .cloned()
            .unwrap_or_default();
        // A container that does not exist yet is created now, before what it depends on is
        // ready (all such creates run at once), so that when its dependencies turn healthy
        // only the start call stands between them and it. Not while an unmanaged container may
        // still hold its name.
        let mut early: Option<String> = None;
        if self.plan.action == Action::Create && adopting.is_empty() && !self.rollout.stopping() {
            self.step(Step::Creating, "");
            early = Some(self.create(&cname, &svc).await?);
        }
        // Wait for what this service depends on.
        for (dep, d) in &svc.depends_on {
            let Some(rx) = self.rollout.gates.get(dep) else {
                continue;
            };
            let mut rx = rx.clone();
            loop {
                let ok = satisfies(&rx.borrow(), &d.condition);
                match ok {
                    Some(true) => break,
                    Some(false) => {
                        self.step(Step::Skipped, &format!("{dep} did not become ready"));
                        let why = format!("not started: {dep} did not become ready");
                        return self
                            .not_started(&cname, &early, Outcome::Skipped, why)
                            .await;
                    }
                    None => {
                        if rx.changed().await.is_err() {
                            break;
                        }
                    }
                }
            }
        }
        // An adoption replaces one dependency wave at a time: every service of an earlier wave
        // has settled before this one's unmanaged container is stopped.
        if !adopting.is_empty() {
            self.wait_for_earlier_waves().await;
        }
        if self.rollout.interrupted() {
            let why = "not started: interrupted".to_string();
            return self
                .not_started(&cname, &early, Outcome::Interrupted, why)
                .await;
        }
        if self.rollout.stopping() {
            let why = "not started: the rollout stopped".to_string();
            return self
                .not_started(&cname, &early, Outcome::Skipped, why)
                .await;
        }
        let e = &self.rollout.engine;
        let mut previous: Vec<String> = Vec::new();
        let mut asides: Vec<Aside> = Vec::new();
        // When the container that served until now was stopped (downtime starts).
        let mut down_since: Option<std::time::Instant> = None;
        let (id, done) = match self.plan.action {
            Action::Unchanged => (cname.clone(), Outcome::Unchanged),
            Action::Start => {
                self.step(Step::Starting, "");
                e.mutate("start container", &cname, |d| {
                    d.start_container(&cname, None::<StartContainerOptions>)
                })
                .await?;
                (cname.clone(), Outcome::Started)
            }
            Action::Update => {
                self.update(&cname, &svc).await?;
                (cname.clone(), Outcome::Updated)
            }
            Action::Recreate | Action::Create => {
                let recreate = self.plan.container.is_some();
                if !adopting.is_empty() {
                    let t = std::time::Instant::now();
                    asides = self.set_aside_unmanaged(&adopting).await?;
                    if asides.iter().any(|a| a.was_running) {
                        down_since = Some(t);
                    }
                }
                if recreate {
                    let t = std::time::Instant::now();
                    let (ids, any_running) = self.set_aside(&cname, &svc).await?;
                    previous = ids;
                    if any_running {
                        down_since.get_or_insert(t);
                    }
                }
                if self.rollout.interrupted() {
                    let mut r = self.result(Outcome::Interrupted, None);
                    if !asides.is_empty() {
                        self.put_back(&cname, None, &asides).await?;
                        r.error = Some("interrupted: the unmanaged containers are back".into());
                    }
                    return Ok((Gate::Failed, r));
                }
                let id = match early {
                    Some(id) => id,
                    None => {
                        self.step(Step::Creating, "");
                        self.create(&cname, &svc).await?
                    }
                };
                self.step(Step::Starting, "");
                e.mutate("start container", &cname, |d| {
                    d.start_container(&id, None::<StartContainerOptions>)
                })
                .await?;
                (
                    id,
                    if recreate || !asides.is_empty() {
                        Outcome::Recreated
                    } else {
                        Outcome::Created
                    },
                )
            }
        };
        let (gate, failure) = self.wait_ready(&id, &svc, down_since.is_some()).await?;
        let mut r = self.result(
            if gate == Gate::Failed {
                Outcome::Failed
            } else {
                done
            },
            Some(cname.clone()),
        );
        match failure {
            None => {
                r.downtime_ms = down_since.map(|t| t.elapsed().as_millis());
                for old in &previous {
                    force_remove(e, old, old).await?;
                }
                // The replacement is ready: the unmanaged containers go (volumes kept). A
                // service that kept its own container retires them only now, too.
                let retire = if asides.is_empty() && !adopting.is_empty() {
                    self.set_aside_unmanaged(&adopting).await?
                } else {
                    asides
                };
                for a in &retire {
                    self.step(
                        Step::Adopting,
                        &format!("removed {} (its volumes and bind mounts kept)", a.original),
                    );
                    force_remove(e, &a.original, &a.id).await?;
                    r.adopted.push(a.original.clone());
                }
            }
            Some(Failure { why, output, logs }) => {
                self.rollout.abort.store(true, Ordering::SeqCst);
                self.step(Step::Failed, &why);
                let redact = |t: &str| self.rollout.desired.redact(t);
                r.error = Some(why.clone());
                r.last_health_output = output.map(|o| redact(&o));
                r.log_tail = logs.iter().map(|l| redact(l)).collect();
                if self.rollout.interrupted() {
                    r.result = Outcome::Interrupted;
                }
                let rollback = self.rollout.rollback && !self.rollout.interrupted();
                // An adoption cut short by a signal puts the old container back too: a stopped
                // service is worse than the one that ran.
                if (rollback || self.rollout.interrupted()) && !asides.is_empty() {
                    // Put the unmanaged containers back where they were, as they were.
                    let back = self.put_back(&cname, Some(&id), &asides).await?;
                    for old in &previous {
                        force_remove(e, old, old).await?;
                    }
                    if !self.rollout.interrupted() {
                        r.result = Outcome::RolledBack;
                    }
                    r.downtime_ms = down_since.map(|t| t.elapsed().as_millis());
                    r.error = Some(format!("{why}; {back}"));
                } else if let (true, Some(old)) = (rollback, previous.first()) {
                    // Put the previous container back: remove the new one, restore the old name.
                    self.step(Step::RollingBack, "to the previous container");
                    force_remove(e, &cname, &id).await?;
                    e.mutate("rename container", old, |d| {
                        d.rename_container(
                            old,
                            RenameContainerOptions {
                                name: cname.clone(),
                            },
                        )
                    })
                    .await?;
                    e.mutate("start container", &cname, |d| {
                        d.start_container(old, None::<StartContainerOptions>)
                    })
                    .await?;
                    for extra in &previous[1..] {
                        force_remove(e, extra, extra).await?;
                    }
                    let back = self.wait_back(old).await?;
                    r.downtime_ms = down_since.map(|t| t.elapsed().as_millis());
                    if back != "not ready" {
                        r.result = Outcome::RolledBack;
                        r.error = Some(format!("{why}; the previous container is back and {back}"));
                    } else {
                        r.error = Some(format!(
                            "{why}; the previous container was put back but is not ready either"
                        ));
                    }
                } else {
                    for old in &previous {
                        force_remove(e, old, old).await?;
                    }
                    if !asides.is_empty() {
                        let kept: Vec<&str> = asides.iter().map(|a| a.aside.as_str()).collect();
                        r.error = Some(format!(
                            "{why}; the unmanaged containers were kept, stopped, as {}",
                            kept.join(", ")
                        ));
                    }
                }
            }
        }
        Ok((gate, r))
    }

    /// Waits until every service of an earlier dependency wave than this one has settled
    /// (ready, failed or skipped).
    async fn wait_for_earlier_waves(&self) {
        let mine = self
            .rollout
            .waves
            .get(&self.plan.name)
            .copied()
            .unwrap_or(0);
        for (other, wave) in &self.rollout.waves {
            if *wave >= mine {
                continue;
            }
            let Some(rx) = self.rollout.gates.get(other) else {
                continue;
            };
            let mut rx = rx.clone();
            while *rx.borrow() == Gate::Pending {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        }
    }

    /// `--adopt`: stops each unmanaged container the service replaces with its own stop signal
    /// and grace period, and renames it aside (`NAME-adopted-ID`), so the new container can take
    /// the name and a replacement that does not become ready can be swapped back. Nothing is
    /// removed here.
    async fn set_aside_unmanaged(&self, conflicts: &[Conflict]) -> Result<Vec<Aside>, EngineError> {
        let e = &self.rollout.engine;
        let mut out = Vec::new();
        for c in conflicts {
            let info = e
                .call("inspect container", &c.name, |d| {
                    d.inspect_container(&c.id, None::<InspectContainerOptions>)
                })
                .await?;
            let config = info.config.clone().unwrap_or_default();
            let was_running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
            let original = state::aside_of(&c.name).unwrap_or(&c.name).to_string();
            let short: String = c.id.chars().take(12).collect();
            let aside = format!("{original}{}{short}", state::ASIDE_INFIX);
            if was_running {
                let signal = config
                    .stop_signal
                    .clone()
                    .unwrap_or_else(|| "SIGTERM".into());
                let grace = config.stop_timeout.unwrap_or(10);
                self.step(
                    Step::Adopting,
                    &format!(
                        "stopping unmanaged container {} ({signal}, {grace}s grace)",
                        c.name
                    ),
                );
                // No signal and no timeout given: the engine uses the container's own.
                e.mutate("stop container", &c.name, |d| {
                    d.stop_container(&c.id, None::<StopContainerOptions>)
                })
                .await?;
            }
            if c.name != aside {
                self.step(
                    Step::Adopting,
                    &format!("renamed {} aside to {aside}", c.name),
                );
                e.mutate("rename container", &c.name, |d| {
                    d.rename_container(
                        &c.id,
                        RenameContainerOptions {
                            name: aside.clone(),
                        },
                    )
                })
                .await?;
            }
            out.push(Aside {
                id: c.id.clone(),
                original,
                aside,
                was_running,
            });
        }
        Ok(out)
    }

    /// Puts unmanaged containers set aside back: removes the replacement (if any), gives each
    /// its name back and starts those that ran. Says how they came back.
    async fn put_back(
        &self,
        cname: &str,
        replacement: Option<&str>,
        asides: &[Aside],
    ) -> Result<String, EngineError> {
        let e = &self.rollout.engine;
        if let Some(id) = replacement {
            self.step(Step::RollingBack, "to the unmanaged container");
            force_remove(e, cname, id).await?;
        }
        let mut states = Vec::new();
        for a in asides {
            e.mutate("rename container", &a.aside, |d| {
                d.rename_container(
                    &a.id,
                    RenameContainerOptions {
                        name: a.original.clone(),
                    },
                )
            })
            .await?;
            if a.was_running {
                e.mutate("start container", &a.original, |d| {
                    d.start_container(&a.id, None::<StartContainerOptions>)
                })
                .await?;
                let back = self.wait_back(&a.id).await?;
                states.push(format!("{} is back and {back}", a.original));
            } else {
                states.push(format!("{} is back (stopped, as it was)", a.original));
            }
        }
        Ok(format!("the unmanaged container {}", states.join(", ")))
    }

    /// Waits for a container put back by a rollback: running and, if it has a healthcheck,
    /// healthy. Polls (an unmanaged container's events are not followed), for up to a minute
    /// past the rollout's deadline. Gives `healthy`, `running` or `not ready`.
    async fn wait_back(&self, id: &str) -> Result<&'static str, EngineError> {
        let e = &self.rollout.engine;
        let limit = std::time::Instant::now().max(self.rollout.deadline)
            + std::time::Duration::from_secs(60);
        loop {
            let info = e
                .call("inspect container", id, |d| {
                    d.inspect_container(id, None::<InspectContainerOptions>)
                })
                .await?;
            let st = info.state.unwrap_or_default();
            let health = st
                .health
                .as_ref()
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty() && s != "none");
            let running = st.running.unwrap_or(false);
            match (running, health.as_deref()) {
                (true, None) => return Ok("running"),
                (true, Some("healthy")) => return Ok("healthy"),
                (_, Some("unhealthy")) => return Ok("not ready"),
                _ => {}
            }
            if std::time::Instant::now() >= limit {
                return Ok("not ready");
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// Stops every container of the service (a crash may have left more than one) and renames it
    /// aside, so the new container can take the name and a failed rollout can put it back.
    async fn set_aside(
        &self,
        cname: &str,
        svc: &Service,
    ) -> Result<(Vec<String>, bool), EngineError> {
        let name = &self.plan.name;
        let e = &self.rollout.engine;
        let grace = svc
            .stop_grace_period
            .map(|d| d.as_secs() as i32)
            .unwrap_or(10);
        let filter = HashMap::from([(
            "label".to_string(),
            vec![
                format!("{COMPOSE_PROJECT}={}", self.rollout.project),
                format!("{COMPOSE_SERVICE}={name}"),
            ],
        )]);
        let list = e
            .call("list containers", name, |d| {
                d.list_containers(Some(
                    bollard::query_parameters::ListContainersOptionsBuilder::new()
                        .all(true)
                        .filters(&filter)
                        .build(),
                ))
            })
            .await?;
        let mut previous = Vec::new();
        let mut any_running = false;
        for c in list {
            let id = c.id.unwrap_or_default();
            any_running |= c.state.map(|s| s.to_string()).as_deref() == Some("running");
            let short: String = id.chars().take(12).collect();
            let current = c
                .names
                .and_then(|n| n.into_iter().next())
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string();
            self.step(Step::Stopping, &current);
            e.mutate("stop container", &current, |d| {
                d.stop_container(
                    &id,
                    Some(StopContainerOptions {
                        t: Some(grace),
                        signal: None,
                    }),
                )
            })
            .await?;
            let aside = format!("{cname}-previous-{short}");
            if current != aside {
                e.mutate("rename container", &current, |d| {
                    d.rename_container(
                        &id,
                        RenameContainerOptions {
                            name: aside.clone(),
                        },
                    )
                })
                .await?;
            }
            previous.push(id);
        }
        Ok((previous, any_running))
    }

    /// The local id of an image: from the plan's image list, else (pulled since) inspected.
    async fn image_id(&self, image: &str) -> Option<String> {
        if let Some(id) = self.rollout.images.id_of(image) {
            return Some(id.to_string());
        }
        self.rollout
            .engine
            .call("inspect image", image, |d| d.inspect_image(image))
            .await
            .ok()
            .and_then(|i| i.id)
    }

    async fn create(&self, cname: &str, svc: &Service) -> Result<String, EngineError> {
        let e = &self.rollout.engine;
        let desired = &self.rollout.desired;
        let mut body = mapping::create_body(&self.rollout.project, &self.plan.name, svc, desired);
        // Compose's record of the image the container was made from: without it, a later
        // `docker compose up` would take the container for one made from another image.
        if let Some(id) = self.image_id(&svc.image).await {
            body.labels
                .get_or_insert_with(Default::default)
                .insert(crate::model::labels::COMPOSE_IMAGE.into(), id);
        }
        let opts = CreateContainerOptionsBuilder::new().name(cname).build();
        let created = e
            .mutate("create container", cname, |d| {
                d.create_container(Some(opts), body)
            })
            .await?;
        let id = created.id;
        // Networks after the first one.
        for (net, n) in svc.networks.iter().skip(1) {
            let full_name = mapping::network_name(&desired.compose, net);
            let endpoint = mapping::endpoint(&self.plan.name, svc, n);
            e.mutate("connect network", &full_name, |d| {
                d.connect_network(
                    &full_name,
                    NetworkConnectRequest {
                        container: id.clone(),
                        endpoint_config: Some(endpoint),
                    },
                )
            })
            .await?;
        }
        // Secrets from the environment and inline configs: copied in before the first start.
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for s in &svc.secrets {
            let Some(secret) = desired.compose.secrets.get(&s.source) else {
                continue;
            };
            if secret.generate.is_some() {
                // Bind-mounted from the engine's store (mapping::create_body).
                if !desired.engine_secrets.contains_key(&s.source) {
                    return Err(EngineError::Api {
                        op: "read secret",
                        object: s.source.clone(),
                        status: None,
                        detail: "the generated secret is not on the engine (a fedgen bug: apply makes it first)".into(),
                    });
                }
            } else if secret.environment.is_some() {
                match desired.secret_value(&s.source) {
                    Some(v) => files.push((s.target.clone(), v)),
                    None => {
                        return Err(EngineError::Api {
                            op: "read secret",
                            object: s.source.clone(),
                            status: None,
                            detail: format!(
                                "variable {} is not set (pass --env or set it in the environment)",
                                secret.environment.as_deref().unwrap_or_default()
                            ),
                        })
                    }
                }
            }
        }
        for c in &svc.configs {
            if let Some(bytes) = desired.config_bytes(&c.source) {
                files.push((c.target.clone(), bytes.to_vec()));
            }
        }
        if !files.is_empty() {
            let tar = mapping::files_archive(&files).map_err(|err| EngineError::Api {
                op: "pack files",
                object: cname.to_string(),
                status: None,
                detail: err.to_string(),
            })?;
            let opts = UploadToContainerOptions {
                path: "/".into(),
                ..Default::default()
            };
            e.mutate("copy secrets into container", cname, |d| {
                d.upload_to_container(&id, Some(opts), bollard::body_full(tar.into()))
            })
            .await?;
        }
        Ok(id)
    }
}

/// Removes a container (stopping it if needed), keeping its named volumes.
pub(super) async fn force_remove(
    engine: &Engine,
    label: &str,
    id: &str,
) -> Result<(), EngineError> {
    let opts = RemoveContainerOptions {
        force: true,
        v: false,
        link: false,
    };
    engine
        .mutate("remove container", label, |d| {
            d.remove_container(id, Some(opts))
        })
        .await
}
