//! Apply: converge the host to the file through the Docker API.
//!
//! Takes: a connected [`Engine`], the [`Desired`] file and the [`Plan`] computed against the host.
//! Gives: the host running exactly the file, or a [`Report`] that says what was changed, what was
//! not, and why it stopped. Order: refusals first (unmanaged conflicts without `--adopt`, a prune
//! that would empty the project), then networks and volumes, then every service in its own task
//! ([`task`]) that starts only once what it depends on is healthy, started or completed (as
//! `depends_on` says), so independent services proceed in parallel. A service that turns
//! unhealthy or misses its deadline stops the rollout: its dependants are not started and the
//! report carries its last health-check output and the tail of its logs. Nothing is touched for
//! an in-sync host.
//!
//! - [`outcome`]: what happened, per service and for the rollout, with the exit codes;
//! - [`progress`]: the steps as they happen, for the CLI to show;
//! - [`events`]: the engine's event stream, which drives the waits;
//! - [`task`]: one service's rollout, with rollback to the previous container;
//! - [`update`]: changes the engine makes in place;
//! - [`ready`]: the wait for a service to become healthy, started or completed.
//!
//! The bodies of the calls come from [`crate::deploy::mapping`], so what apply creates is what
//! the state reader reads back.

pub mod events;
pub mod outcome;
pub mod progress;
mod ready;
mod task;
mod update;

pub use outcome::{Outcome, Report, ServiceResult, Status};
pub use progress::{Progress, Silent, Step};

use crate::deploy::desired::Desired;
use crate::deploy::engine::{Engine, EngineError};
use crate::deploy::mapping;
use crate::deploy::plan::Plan;
use crate::deploy::secrets;
use crate::deploy::state::Conflict;
use crate::model::Condition;
use crate::names;
use bollard::models::NetworkDisconnectRequest;
use bollard::query_parameters::StopContainerOptions;
use events::{AbortOnDrop, Events};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use task::TaskCtx;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct Options {
    pub prune: bool,
    pub prune_volumes: bool,
    pub adopt: bool,
    pub force: bool,
    /// Overall deadline of the rollout.
    pub timeout: Duration,
    /// Put the previous container back when its replacement does not become ready.
    pub rollback: bool,
    /// Set by SIGINT or SIGTERM: finish the current step, start nothing new.
    pub interrupted: Arc<AtomicBool>,
}

/// What a service's dependants wait on.
#[derive(Debug, Clone, PartialEq)]
enum Gate {
    Pending,
    Started,
    Healthy,
    Completed,
    Failed,
}

/// Whether `gate` satisfies a `depends_on` condition: `None` while it cannot tell yet.
fn satisfies(gate: &Gate, condition: &Condition) -> Option<bool> {
    match (gate, condition) {
        (Gate::Pending, _) => None,
        (Gate::Failed, _) => Some(false),
        (_, Condition::ServiceStarted) => Some(true),
        (Gate::Healthy, Condition::ServiceHealthy) => Some(true),
        (Gate::Completed, Condition::ServiceCompletedSuccessfully) => Some(true),
        (Gate::Started, Condition::ServiceHealthy) => None,
        _ => Some(false),
    }
}

/// What every service task of one rollout shares.
struct Rollout {
    engine: Engine,
    desired: Arc<Desired>,
    project: String,
    /// The images on the host when the plan was made (their ids label new containers).
    images: crate::deploy::state::Images,
    events: Arc<Events>,
    gates: HashMap<String, watch::Receiver<Gate>>,
    /// A service failed: start nothing new.
    abort: AtomicBool,
    progress: Arc<dyn Progress>,
    deadline: Instant,
    rollback: bool,
    interrupted: Arc<AtomicBool>,
    /// The dependency wave of each service (0: depends on nothing; else one more than the
    /// highest wave it depends on).
    waves: HashMap<String, usize>,
    /// `--adopt`: the unmanaged containers each service replaces.
    adoptions: HashMap<String, Vec<Conflict>>,
}

impl Rollout {
    /// Reports a step, with the detail scrubbed of secret values.
    fn step(&self, subject: &str, step: Step, detail: &str) {
        self.progress
            .step(subject, step, &self.desired.redact(detail));
    }

    fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// The rollout is stopping (a failure elsewhere, or a signal): start nothing new.
    fn stopping(&self) -> bool {
        self.abort.load(Ordering::SeqCst) || self.interrupted()
    }
}

/// The dependency wave of every service: 0 for a service that depends on nothing, else one more
/// than the highest wave of what it depends on (a cycle, refused by the compiler, counts as 0).
fn waves(compose: &crate::model::Compose) -> HashMap<String, usize> {
    fn wave(
        name: &str,
        compose: &crate::model::Compose,
        memo: &mut HashMap<String, usize>,
        path: &mut Vec<String>,
    ) -> usize {
        if let Some(w) = memo.get(name) {
            return *w;
        }
        if path.iter().any(|p| p == name) {
            return 0;
        }
        path.push(name.to_string());
        let w = compose
            .services
            .get(name)
            .map(|s| {
                s.depends_on
                    .keys()
                    .map(|d| wave(d, compose, memo, path) + 1)
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        path.pop();
        memo.insert(name.to_string(), w);
        w
    }
    let mut memo = HashMap::new();
    for name in compose.services.keys() {
        wave(name, compose, &mut memo, &mut Vec::new());
    }
    memo
}

fn finish(mut report: Report, engine: &Engine, start: Instant) -> Report {
    report.api_calls = engine.calls();
    report.mutating_calls = engine.mutations();
    report.elapsed_ms = start.elapsed().as_millis();
    report
}

fn refused(reason: String, engine: &Engine, start: Instant) -> Report {
    let mut r = Report::new(Status::Refused);
    r.reason = Some(reason);
    finish(r, engine, start)
}

/// Converges the host. Refusals and health failures are [`Report`]s; an engine error mid-way is
/// reported with what had been done.
pub async fn apply(
    engine: &Engine,
    desired: Arc<Desired>,
    plan: &Plan,
    opts: &Options,
    progress: Arc<dyn Progress>,
) -> Report {
    let start = Instant::now();
    let project = desired.compose.name.clone();
    if !plan.conflicts.is_empty() && !opts.adopt {
        let names: Vec<String> = plan
            .conflicts
            .iter()
            .map(|c| format!("{} (service {})", c.name, c.service))
            .collect();
        return refused(
            format!(
                "unmanaged containers carry this project's names: {}. They were not made by fedgen or Compose for this project (e.g. `docker run --name`). Remove them, or pass --adopt to stop and replace them.",
                names.join(", ")
            ),
            engine,
            start,
        );
    }
    if !plan.networks_missing.is_empty() {
        return refused(
            format!(
                "the file says these networks exist already (external), but the host has none of that name: {}. Create them first (docker network create).",
                plan.networks_missing.join(", ")
            ),
            engine,
            start,
        );
    }
    if !plan.volumes_missing.is_empty() {
        return refused(
            format!(
                "the file says these volumes exist already (external), but the host has none of that name: {}. Create them, or restore them from a backup, first.",
                plan.volumes_missing.join(", ")
            ),
            engine,
            start,
        );
    }
    if !plan.preflight.is_empty() {
        let lines: Vec<String> = plan.preflight.iter().map(|p| format!("  {p}")).collect();
        return refused(
            format!(
                "pre-flight: {} service(s) could never become healthy on their images, so nothing was changed:\n{}",
                plan.preflight.len(),
                lines.join("\n")
            ),
            engine,
            start,
        );
    }
    let kept = plan.services.iter().any(|s| s.container.is_some());
    if opts.prune && !plan.orphans.is_empty() && !kept && !opts.force {
        return refused(
            format!(
                "--prune would remove every container of project {project} ({}) and keep none: is this the right file? Pass --force to do it anyway.",
                plan.orphans.iter().map(|o| o.container.as_str()).collect::<Vec<_>>().join(", ")
            ),
            engine,
            start,
        );
    }
    if plan.in_sync {
        return finish(Report::new(Status::InSync), engine, start);
    }
    let mut report = Report::new(Status::Converged);
    // Generated secrets the engine does not have yet are made there first (the caller holds the
    // project's lock, so one value is made, whoever applies).
    let generated = match secrets::generate_missing(engine, &desired, &plan.store).await {
        Ok(g) => g,
        Err(e) => {
            report.status = Status::EngineFailed;
            report.reason = Some(desired.redact(&format!(
                "the engine failed while generating secrets: {e}; nothing else was changed"
            )));
            return finish(report, engine, start);
        }
    };
    for g in &generated {
        progress.step(
            &g.name,
            Step::SecretGenerated,
            &format!("sha256:{}", g.hash),
        );
    }
    report.secrets_generated = generated.iter().map(|g| g.name.clone()).collect();
    let desired = Arc::new(secrets::attach(
        &desired,
        plan.store.current.values().cloned().chain(generated),
    ));
    let result = converge(engine, &desired, plan, opts, progress, &mut report).await;
    if let Err(e) = result {
        report.status = Status::EngineFailed;
        report.reason = Some(desired.redact(&format!(
            "the engine failed during the rollout: {e}; run apply again to converge"
        )));
    } else if opts.interrupted.load(Ordering::SeqCst) {
        report.status = Status::Interrupted;
        report.reason = Some("interrupted by a signal: the current steps finished, nothing new was started; run apply again to converge".into());
    } else if report.services.iter().any(|s| s.result.failed()) {
        report.status = Status::HealthFailed;
        let failed: Vec<&str> = report
            .services
            .iter()
            .filter(|s| s.result.failed())
            .map(|s| s.service.as_str())
            .collect();
        report.reason = Some(format!(
            "{} did not become ready; their dependants were not started",
            failed.join(", ")
        ));
    }
    if report.status == Status::Converged && !plan.store.stale.is_empty() {
        // Earlier values of rotated secrets, once no container uses them.
        secrets::remove_unused(engine, &plan.store).await;
    }
    finish(report, engine, start)
}

async fn converge(
    engine: &Engine,
    desired: &Arc<Desired>,
    plan: &Plan,
    opts: &Options,
    progress: Arc<dyn Progress>,
    report: &mut Report,
) -> Result<(), EngineError> {
    let project = desired.compose.name.clone();
    // Follow the project's container events from before the first change on, until the end.
    let events = Arc::new(Events::default());
    let _follower = AbortOnDrop(tokio::spawn(events::follow_events(
        engine.clone(),
        project.clone(),
        events.clone(),
    )));
    let say = |subject: &str, step: Step, detail: &str| {
        progress.step(subject, step, &desired.redact(detail))
    };
    // `--adopt`: each unmanaged container is replaced by its service's task, losslessly (stopped
    // and renamed aside, put back if its replacement does not become ready), one dependency wave
    // at a time.
    let mut adoptions: HashMap<String, Vec<Conflict>> = HashMap::new();
    if opts.adopt {
        for c in &plan.conflicts {
            adoptions
                .entry(c.service.clone())
                .or_default()
                .push(c.clone());
        }
    }
    for n in &plan.networks_recreate {
        let name = mapping::network_name(&desired.compose, &n.name);
        let info = engine
            .call("inspect network", &name, |d| {
                d.inspect_network(
                    &name,
                    None::<bollard::query_parameters::InspectNetworkOptions>,
                )
            })
            .await?;
        for id in info.containers.unwrap_or_default().into_keys() {
            engine
                .mutate("disconnect network", &name, |d| {
                    d.disconnect_network(
                        &name,
                        NetworkDisconnectRequest {
                            container: id.clone(),
                            force: Some(true),
                        },
                    )
                })
                .await?;
        }
        engine
            .mutate("remove network", &name, |d| d.remove_network(&name))
            .await?;
        report.networks_removed.push(n.name.clone());
    }
    // Networks and volumes do not depend on each other: made concurrently.
    let networks = plan
        .networks_create
        .iter()
        .chain(plan.networks_recreate.iter())
        .map(|n| {
            let net = desired
                .compose
                .networks
                .get(&n.name)
                .cloned()
                .unwrap_or_default();
            let body = mapping::network_create(&project, &n.name, &net);
            let say = &say;
            async move {
                let name = body.name.clone();
                engine
                    .mutate("create network", &name, |d| d.create_network(body))
                    .await?;
                say(
                    &n.name,
                    Step::NetworkCreated,
                    if net.internal { "internal" } else { "" },
                );
                Ok::<_, EngineError>(n.name.clone())
            }
        });
    let volumes = plan.volumes_create.iter().map(|v| {
        let vol = desired.compose.volumes.get(v).cloned().unwrap_or_default();
        let body = mapping::volume_create(&project, v, &vol);
        async move {
            let name = body.name.clone().unwrap_or_default();
            engine
                .mutate("create volume", &name, |d| d.create_volume(body))
                .await?;
            Ok::<_, EngineError>(v.clone())
        }
    });
    let (networks, volumes) = tokio::join!(
        futures_util::future::join_all(networks),
        futures_util::future::join_all(volumes)
    );
    for n in networks {
        report.networks_created.push(n?);
    }
    for v in volumes {
        report.volumes_created.push(v?);
    }

    // One task per service; each waits for the gates of what it depends on.
    let mut senders = HashMap::new();
    let mut gates = HashMap::new();
    for s in &plan.services {
        let (tx, rx) = watch::channel(Gate::Pending);
        senders.insert(s.name.clone(), tx);
        gates.insert(s.name.clone(), rx);
    }
    let rollout = Arc::new(Rollout {
        engine: engine.clone(),
        desired: desired.clone(),
        project: project.clone(),
        images: plan.images.clone(),
        events,
        gates,
        abort: AtomicBool::new(false),
        progress: progress.clone(),
        deadline: Instant::now() + opts.timeout,
        rollback: opts.rollback,
        interrupted: opts.interrupted.clone(),
        waves: waves(&desired.compose),
        adoptions,
    });
    let results: Arc<Mutex<Vec<ServiceResult>>> = Arc::default();
    let engine_error: Arc<Mutex<Option<EngineError>>> = Arc::default();
    let mut tasks = Vec::new();
    for sp in &plan.services {
        let tx = senders.remove(&sp.name).expect("a gate per service");
        let ctx = TaskCtx {
            rollout: rollout.clone(),
            plan: sp.clone(),
        };
        let results = results.clone();
        let engine_error = engine_error.clone();
        tasks.push(tokio::spawn(async move {
            let (gate, result) = match ctx.run().await {
                Ok(r) => r,
                Err(e) => {
                    ctx.rollout.abort.store(true, Ordering::SeqCst);
                    let msg = ctx.rollout.desired.redact(&e.to_string());
                    ctx.rollout.step(&ctx.plan.name, Step::Failed, &msg);
                    engine_error.lock().expect("not poisoned").get_or_insert(e);
                    let mut r = ServiceResult::new(&ctx.plan.name, Outcome::Failed);
                    r.error = Some(msg);
                    (Gate::Failed, r)
                }
            };
            let _ = tx.send(gate);
            results.lock().expect("not poisoned").push(result);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut results = std::mem::take(&mut *results.lock().expect("not poisoned"));
    results.sort_by(|a, b| a.service.cmp(&b.service));
    for r in &results {
        report.adopted.extend(r.adopted.iter().cloned());
    }
    report.services = results;
    if let Some(e) = engine_error.lock().expect("not poisoned").take() {
        return Err(e);
    }
    if rollout.abort.load(Ordering::SeqCst) {
        return Ok(());
    }
    for o in &plan.orphans {
        if opts.prune {
            say(&o.service, Step::RemovingOrphan, &o.container);
            engine
                .mutate("stop container", &o.container, |d| {
                    d.stop_container(
                        &o.id,
                        Some(StopContainerOptions {
                            t: Some(10),
                            signal: None,
                        }),
                    )
                })
                .await
                .ok();
            task::force_remove(engine, &o.container, &o.id).await?;
            report.orphans_removed.push(o.container.clone());
        } else {
            report.orphans_kept.push(o.container.clone());
        }
    }
    if opts.prune {
        for n in &plan.networks_extra {
            let name = mapping::network_name(&desired.compose, n);
            engine
                .mutate("remove network", &name, |d| d.remove_network(&name))
                .await?;
            report.networks_removed.push(n.clone());
        }
    }
    if opts.prune_volumes {
        for v in &plan.volumes_unused {
            let name = names::scoped(&project, v);
            engine
                .mutate("remove volume", &name, |d| {
                    d.remove_volume(
                        &name,
                        None::<bollard::query_parameters::RemoveVolumeOptions>,
                    )
                })
                .await?;
            report.volumes_removed.push(v.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Compose, DependsOn, Service};

    #[test]
    fn dependency_waves() {
        let mut c = Compose::default();
        let dep = |names: &[&str]| -> Service {
            Service {
                depends_on: names
                    .iter()
                    .map(|n| {
                        (
                            n.to_string(),
                            DependsOn {
                                condition: Condition::ServiceHealthy,
                                required: true,
                                restart: false,
                            },
                        )
                    })
                    .collect(),
                ..Default::default()
            }
        };
        c.services.insert("db".into(), dep(&[]));
        c.services.insert("redis".into(), dep(&[]));
        c.services.insert("app".into(), dep(&["db", "redis"]));
        c.services.insert("gateway".into(), dep(&["app", "db"]));
        c.services.insert("frontend".into(), dep(&["gateway"]));
        let w = waves(&c);
        assert_eq!(
            [w["db"], w["redis"], w["app"], w["gateway"], w["frontend"]],
            [0, 0, 1, 2, 3]
        );
    }
}
