//! Apply on a swarm: converge a stack to its file through the Swarm API, in `uses:` order,
//! each service gated on its tasks, the whole stack rolled back when one fails.
//!
//! Takes: a connected [`Engine`], the [`SwarmDesired`] file and the [`SwarmPlan`]. Gives: a
//! [`Report`] with the same statuses, outcomes and exit codes as on one host. Order: refusals
//! first (services with the stack's names that fedgen did not make, without `--adopt`; an image
//! not on the node; no node for the stack's data; a network that must be recreated; a prune that
//! would empty the stack), then networks, then the secrets and configs with a new content (new
//! objects: swarm's cannot change), then one task per service that waits until what it uses is
//! ready, creates or updates it, and waits for its gate:
//!
//! - the tasks made from this version of its spec (`_up-to-date`, created since the update) all
//!   `running`, which for a service with a healthcheck means healthy (the engine holds a task in
//!   `starting` until its first healthy check); for a one-shot service (a replicated job), all
//!   `complete`;
//! - it fails on the first such task that fails or is rejected, on an update the engine paused
//!   or rolled back (`failure_action: rollback`), or at the deadline.
//!
//! When one service fails, nothing new starts and every service this apply changed goes back:
//! an updated one to its previous spec (the engine's rollback, unless it already rolled back by
//! itself), a created one is removed; the secrets and configs made for the new version are
//! removed. The report says so and the exit code is the health gate's: a rollback is never
//! reported as success. After a rollout that converged, the stack's secrets and configs that no
//! service reads any more (older contents) are removed, and with `--prune` the stack's services
//! and networks the file no longer has.

use super::desired::SwarmDesired;
use super::mapping::{self, ObjectIds};
use super::plan::SwarmPlan;
use crate::deploy::apply::{Options, Outcome, Progress, Report, ServiceResult, Status, Step};
use crate::deploy::engine::{Engine, EngineError};
use crate::deploy::plan::{Action, ServicePlan};
use crate::deploy::report::Redactor;
use crate::model::swarm::{Mode, LABEL_STACK};
use base64::Engine as _;
use bollard::models::{ConfigSpec, SecretSpec, ServiceSpec, TaskState};
use bollard::query_parameters::{
    InspectServiceOptions, ListTasksOptionsBuilder, LogsOptionsBuilder, UpdateServiceOptions,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Why a service that was not ready yet stopped waiting: another one failed.
const STOPPED: &str = "stopped waiting: another service failed";

/// What a service's dependants wait on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Gate {
    Pending,
    Started,
    Healthy,
    Completed,
    Failed,
}

/// What a dependant needs of a service it uses: completed (a one-shot service), healthy (one
/// with a healthcheck) or running.
fn needed(desired: &SwarmDesired, dep: &str) -> Gate {
    let s = &desired.stack.services[dep];
    if s.deploy.mode == Mode::ReplicatedJob {
        Gate::Completed
    } else if s.healthcheck.is_some() {
        Gate::Healthy
    } else {
        Gate::Started
    }
}

fn satisfies(gate: Gate, need: Gate) -> Option<bool> {
    match (gate, need) {
        (Gate::Pending, _) => None,
        (Gate::Failed, _) => Some(false),
        (g, n) if g == n => Some(true),
        (Gate::Healthy, Gate::Started) => Some(true),
        _ => Some(false),
    }
}

/// What this apply changed on a service, to undo it.
#[derive(Debug, Clone)]
enum Changed {
    Created { id: String },
    Updated { id: String },
    Recreated { id: String },
}

/// What the watcher last read: the stack's services, and the tasks of their current spec of the
/// services waited on.
#[derive(Default)]
struct Snapshot {
    services: HashMap<String, bollard::models::Service>,
    tasks: HashMap<String, Vec<bollard::models::Task>>,
    error: Option<String>,
}

/// One poller for every gate of the rollout: two calls a tick (the stack's services, and the
/// up-to-date tasks of those waited on), whatever the number of services waiting.
struct Watcher {
    waiting: Mutex<HashMap<String, usize>>,
    rx: watch::Receiver<std::sync::Arc<Snapshot>>,
}

/// Stops watching a service when the wait ends.
struct Watching<'a> {
    watcher: &'a Watcher,
    id: String,
}

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        let mut w = self.watcher.waiting.lock().expect("not poisoned");
        if let Some(n) = w.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                w.remove(&self.id);
            }
        }
    }
}

impl Watcher {
    /// How often the stack is read while a gate waits.
    const TICK: Duration = Duration::from_millis(150);

    fn watch(&self, id: &str) -> Watching<'_> {
        *self
            .waiting
            .lock()
            .expect("not poisoned")
            .entry(id.to_string())
            .or_default() += 1;
        Watching {
            watcher: self,
            id: id.to_string(),
        }
    }

    /// Starts the poller; it ends with the returned guard.
    fn start(engine: Engine, stack: String) -> (Arc<Watcher>, AbortOnDrop) {
        let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
        let watcher = Arc::new(Watcher {
            waiting: Mutex::new(HashMap::new()),
            rx,
        });
        let w = watcher.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Watcher::TICK).await;
                let ids: Vec<String> = w
                    .waiting
                    .lock()
                    .expect("not poisoned")
                    .keys()
                    .cloned()
                    .collect();
                if ids.is_empty() {
                    continue;
                }
                let filters = HashMap::from([
                    ("service".to_string(), ids.clone()),
                    ("_up-to-date".to_string(), vec!["true".to_string()]),
                ]);
                let read = tokio::try_join!(
                    // Every service: one adopted from outside the stack, or rolled back to a spec
                    // from before it was, does not carry the stack's label.
                    engine.call("list services", &stack, |d| {
                        d.list_services(None::<bollard::query_parameters::ListServicesOptions>)
                    }),
                    engine.call("list tasks", &stack, |d| {
                        d.list_tasks(Some(
                            ListTasksOptionsBuilder::default().filters(&filters).build(),
                        ))
                    }),
                );
                let snapshot = match read {
                    Ok((services, tasks)) => {
                        let mut snap = Snapshot::default();
                        for svc in services {
                            if let Some(id) = svc.id.clone() {
                                snap.services.insert(id, svc);
                            }
                        }
                        for t in tasks {
                            if let Some(id) = t.service_id.clone() {
                                snap.tasks.entry(id).or_default().push(t);
                            }
                        }
                        snap
                    }
                    Err(e) => Snapshot {
                        error: Some(e.to_string()),
                        ..Default::default()
                    },
                };
                let _ = tx.send(Arc::new(snapshot));
            }
        });
        (watcher, AbortOnDrop(task))
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Rollout {
    watcher: Arc<Watcher>,
    engine: Engine,
    desired: Arc<SwarmDesired>,
    ids: ObjectIds,
    gates: HashMap<String, watch::Receiver<Gate>>,
    abort: AtomicBool,
    interrupted: Arc<AtomicBool>,
    progress: Arc<dyn Progress>,
    deadline: Instant,
    changed: Mutex<Vec<(String, Changed)>>,
    /// `ForceUpdate` of each service now, kept in the specs fedgen sends (a change of it alone
    /// replaces every task).
    force: HashMap<String, u64>,
}

impl Rollout {
    fn step(&self, subject: &str, step: Step, detail: &str) {
        self.progress
            .step(subject, step, &self.desired.redact(detail));
    }

    fn stopping(&self) -> bool {
        self.abort.load(Ordering::SeqCst) || self.interrupted.load(Ordering::SeqCst)
    }

    /// Creates the service `name` (the engine's `full` name) from its spec: the new id.
    async fn create_service(&self, name: &str, full: &str) -> Result<String, EngineError> {
        self.step(name, Step::Creating, "");
        let spec = self.spec(name, 0);
        Ok(self
            .engine
            .mutate("create service", full, |dk| dk.create_service(spec, None))
            .await?
            .id
            .unwrap_or_default())
    }

    /// The spec fedgen sends for a service: the file's, with its `ForceUpdate` (plus `bump`).
    fn spec(&self, name: &str, bump: u64) -> ServiceSpec {
        let d = &self.desired;
        let mut spec = mapping::service_spec(&d.stack, name, &self.ids, &d.base_dir);
        if let Some(t) = spec.task_template.as_mut() {
            t.force_update = Some(self.force.get(name).copied().unwrap_or(0) + bump);
        }
        spec
    }
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

/// Converges the stack. Refusals, failed gates and rollbacks are [`Report`]s.
pub async fn apply(
    engine: &Engine,
    desired: Arc<SwarmDesired>,
    sp: &SwarmPlan,
    opts: &Options,
    progress: Arc<dyn Progress>,
) -> Report {
    let start = Instant::now();
    let plan = &sp.plan;
    let stack = desired.stack.fedgen.stack.clone();
    if !plan.conflicts.is_empty() && !opts.adopt {
        let names: Vec<String> = plan.conflicts.iter().map(|c| c.name.clone()).collect();
        return refused(
            format!(
                "services with this stack's names were not made by fedgen (no {} label): {}. They may belong to another stack file (`docker stack deploy`) or to a person. Remove them, use another stack name, or pass --adopt to update them to this file.",
                crate::model::swarm::LABEL_SPEC_HASH,
                names.join(", ")
            ),
            engine,
            start,
        );
    }
    if !plan.refusals.is_empty() || !plan.preflight.is_empty() {
        let lines: Vec<String> = plan
            .refusals
            .iter()
            .cloned()
            .chain(plan.preflight.iter().map(|p| p.to_string()))
            .map(|l| format!("  {l}"))
            .collect();
        return refused(
            format!(
                "pre-flight: nothing was changed:\n{}",
                desired.redact(&lines.join("\n"))
            ),
            engine,
            start,
        );
    }
    let kept = plan.services.iter().any(|s| s.container.is_some());
    if opts.prune && !plan.orphans.is_empty() && !kept && !opts.force {
        return refused(
            format!(
                "--prune would remove every service of stack {stack} and keep none: is this the right file? Pass --force to do it anyway."
            ),
            engine,
            start,
        );
    }
    if plan.in_sync {
        return finish(Report::new(Status::InSync), engine, start);
    }
    let mut report = Report::new(Status::Converged);
    let result = converge(engine, &desired, sp, opts, progress, &mut report).await;
    match result {
        Err(e) => {
            report.status = Status::EngineFailed;
            report.reason = Some(desired.redact(&format!(
                "the engine failed during the rollout: {e}; run apply again to converge"
            )));
        }
        Ok(Some(rolled_back)) => {
            report.status = Status::HealthFailed;
            let failed: Vec<&str> = report
                .services
                .iter()
                .filter(|s| {
                    s.error
                        .as_deref()
                        .is_some_and(|e| !e.starts_with("rolled back"))
                })
                .filter(|s| s.result.failed())
                .map(|s| s.service.as_str())
                .collect();
            report.reason = Some(desired.redact(&format!(
                "{} did not become ready; {rolled_back}",
                failed.join(", ")
            )));
        }
        Ok(None) if opts.interrupted.load(Ordering::SeqCst) => {
            report.status = Status::Interrupted;
            report.reason = Some("interrupted by a signal: the services under way finished, nothing new was started; run apply again to converge".into());
        }
        Ok(None) => {}
    }
    finish(report, engine, start)
}

/// The rollout. `Ok(Some(what))`: a service failed and the stack was rolled back (`what` says
/// how); `Ok(None)`: every service converged (or the rollout was interrupted).
async fn converge(
    engine: &Engine,
    desired: &Arc<SwarmDesired>,
    sp: &SwarmPlan,
    opts: &Options,
    progress: Arc<dyn Progress>,
    report: &mut Report,
) -> Result<Option<String>, EngineError> {
    let plan = &sp.plan;
    let stack = &desired.stack;
    let project = stack.fedgen.stack.clone();
    let networks = plan.networks_create.iter().map(|n| {
        let body = mapping::network_create(stack, &n.name);
        let progress = progress.clone();
        async move {
            let name = body.name.clone();
            let internal = body.internal == Some(true);
            engine
                .mutate("create network", &name, |d| d.create_network(body))
                .await?;
            progress.step(
                &n.name,
                Step::NetworkCreated,
                if internal { "internal" } else { "" },
            );
            Ok::<_, EngineError>(n.name.clone())
        }
    });
    for n in futures_util::future::join_all(networks).await {
        report.networks_created.push(n?);
    }
    // Secrets and configs: the existing ones by name, then those with a new content.
    let mut ids = ObjectIds::default();
    for o in sp.observed.secrets.values() {
        ids.secrets.insert(o.name.clone(), o.id.clone());
    }
    for o in sp.observed.configs.values() {
        ids.configs.insert(o.name.clone(), o.id.clone());
    }
    let mut created_objects: Vec<(bool, String, String)> = Vec::new();
    let labels = HashMap::from([(LABEL_STACK.to_string(), project.clone())]);
    for (key, o) in &stack.secrets {
        if ids.secrets.contains_key(&o.name) {
            continue;
        }
        let generated = desired.new_generated_value(key);
        let is_generated = generated.is_some();
        let value = generated
            .or_else(|| desired.secret_value(key))
            .ok_or_else(|| EngineError::Api {
                op: "read secret",
                object: key.clone(),
                status: None,
                detail: match stack.fedgen.secrets.get(key) {
                    Some(s) => format!(
                        "variable {} is not set (pass --env or set it in the environment)",
                        s.environment
                    ),
                    None => format!("cannot read {}", o.file.as_deref().unwrap_or("its file")),
                },
            })?;
        let spec = SecretSpec {
            name: Some(o.name.clone()),
            labels: Some({
                let mut l = labels.clone();
                if is_generated {
                    // Made here and kept: `fedgen` never reads it back.
                    l.insert(crate::deploy::secrets::LABEL_SECRET.into(), key.clone());
                }
                l
            }),
            data: Some(base64::engine::general_purpose::STANDARD.encode(value)),
            ..Default::default()
        };
        let id = engine
            .mutate("create secret", &o.name, |d| d.create_secret(spec))
            .await?
            .id;
        ids.secrets.insert(o.name.clone(), id.clone());
        created_objects.push((true, o.name.clone(), id));
        if is_generated {
            report.secrets_generated.push(key.clone());
        } else {
            report.objects_created.push(format!("secret {}", o.name));
        }
    }
    for (key, o) in &stack.configs {
        if ids.configs.contains_key(&o.name) {
            continue;
        }
        let value = desired.config_value(key).ok_or_else(|| EngineError::Api {
            op: "read config",
            object: key.clone(),
            status: None,
            detail: "its content is not in the file".into(),
        })?;
        let spec = ConfigSpec {
            name: Some(o.name.clone()),
            labels: Some(labels.clone()),
            data: Some(base64::engine::general_purpose::STANDARD.encode(value)),
            ..Default::default()
        };
        let id = engine
            .mutate("create config", &o.name, |d| d.create_config(spec))
            .await?
            .id;
        ids.configs.insert(o.name.clone(), id.clone());
        created_objects.push((false, o.name.clone(), id));
        report.objects_created.push(format!("config {}", o.name));
    }

    let mut senders = HashMap::new();
    let mut gates = HashMap::new();
    for s in &plan.services {
        let (tx, rx) = watch::channel(Gate::Pending);
        senders.insert(s.name.clone(), tx);
        gates.insert(s.name.clone(), rx);
    }
    let force = sp
        .observed
        .services
        .iter()
        .map(|(k, o)| {
            let f = o
                .raw
                .task_template
                .as_ref()
                .and_then(|t| t.force_update)
                .unwrap_or(0);
            (k.clone(), f)
        })
        .collect();
    let (watcher, _poller) = Watcher::start(engine.clone(), project.clone());
    let rollout = Arc::new(Rollout {
        watcher,
        engine: engine.clone(),
        desired: desired.clone(),
        ids,
        gates,
        abort: AtomicBool::new(false),
        interrupted: opts.interrupted.clone(),
        progress: progress.clone(),
        deadline: Instant::now() + opts.timeout,
        changed: Mutex::new(Vec::new()),
        force,
    });
    let results: Arc<Mutex<Vec<ServiceResult>>> = Arc::default();
    let engine_error: Arc<Mutex<Option<EngineError>>> = Arc::default();
    let mut tasks = Vec::new();
    for sp_service in &plan.services {
        let tx = senders
            .remove(&sp_service.name)
            .expect("a gate per service");
        let rollout = rollout.clone();
        let service = sp_service.clone();
        let observed = sp
            .observed
            .services
            .get(&service.name)
            .map(|o| o.state.id.clone());
        let results = results.clone();
        let engine_error = engine_error.clone();
        tasks.push(tokio::spawn(async move {
            let (gate, result) = match run_service(&rollout, &service, observed).await {
                Ok(r) => r,
                Err(e) => {
                    rollout.abort.store(true, Ordering::SeqCst);
                    let msg = rollout.desired.redact(&e.to_string());
                    rollout.step(&service.name, Step::Failed, &msg);
                    engine_error.lock().expect("not poisoned").get_or_insert(e);
                    let mut r = ServiceResult::new(&service.name, Outcome::Failed);
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
    let error = engine_error.lock().expect("not poisoned").take();
    let failed = results.iter().any(|r| r.result == Outcome::Failed) || error.is_some();
    if failed && opts.rollback {
        let changed = std::mem::take(&mut *rollout.changed.lock().expect("not poisoned"));
        let what = match roll_back(&rollout, &changed, &mut results).await {
            Ok(w) => w,
            Err(e) => {
                report.services = results;
                return Err(e);
            }
        };
        // The new secrets and configs are not read by any service now.
        for (secret, name, id) in &created_objects {
            let removed = if *secret {
                engine
                    .mutate("remove secret", name, |d| d.delete_secret(id))
                    .await
            } else {
                engine
                    .mutate("remove config", name, |d| d.delete_config(id))
                    .await
            };
            if removed.is_ok() {
                report.objects_removed.push(format!(
                    "{} {name}",
                    if *secret { "secret" } else { "config" }
                ));
            }
        }
        report.services = results;
        if let Some(e) = error {
            // Say what was put back, with the error that stopped the rollout.
            return Err(EngineError::Api {
                op: "roll out",
                object: project,
                status: e.status(),
                detail: format!("{e}; {what}"),
            });
        }
        return Ok(Some(what));
    }
    report.services = results;
    if let Some(e) = error {
        return Err(e);
    }
    if failed {
        return Ok(Some(
            "the stack was not rolled back (--no-rollback): the failed services run what the file says".into(),
        ));
    }
    if rollout.interrupted.load(Ordering::SeqCst) {
        return Ok(None);
    }
    // Converged: what the file no longer has.
    for o in &plan.objects_unused {
        let Some((kind, name)) = o.split_once(' ') else {
            continue;
        };
        let removed = if kind == "secret" {
            let id = &sp.observed.secrets[name].id;
            engine
                .mutate("remove secret", name, |d| d.delete_secret(id))
                .await
        } else {
            let id = &sp.observed.configs[name].id;
            engine
                .mutate("remove config", name, |d| d.delete_config(id))
                .await
        };
        match removed {
            Ok(()) => report.objects_removed.push(o.clone()),
            // Still read by a service outside this stack file (by hand): kept.
            Err(e) if e.status() == Some(400) || e.status() == Some(409) => {}
            Err(e) => return Err(e),
        }
    }
    for o in &plan.orphans {
        if opts.prune {
            progress.step(&o.service, Step::RemovingOrphan, &o.container);
            engine
                .mutate("remove service", &o.container, |d| d.delete_service(&o.id))
                .await?;
            report.orphans_removed.push(o.container.clone());
        } else {
            report.orphans_kept.push(o.container.clone());
        }
    }
    if opts.prune {
        for n in &plan.networks_extra {
            let name = stack.network_name(n);
            engine
                .mutate("remove network", &name, |d| d.remove_network(&name))
                .await?;
            report.networks_removed.push(n.clone());
        }
    }
    Ok(None)
}

/// One service: wait for what it uses, change it, wait for its gate.
async fn run_service(
    r: &Arc<Rollout>,
    sp: &ServicePlan,
    existing: Option<String>,
) -> Result<(Gate, ServiceResult), EngineError> {
    let name = &sp.name;
    let d = &r.desired;
    // An unchanged service waits for nothing: it runs, and its dependants may rely on it.
    if sp.action == Action::Unchanged {
        let svc = &d.stack.services[name];
        let gate = if svc.deploy.mode == Mode::ReplicatedJob {
            Gate::Completed
        } else if svc.healthcheck.is_some() {
            Gate::Healthy
        } else {
            Gate::Started
        };
        let mut res = ServiceResult::new(name, Outcome::Unchanged);
        res.container = Some(d.stack.service_name(name));
        return Ok((gate, res));
    }
    let deps = d.stack.fedgen.uses.get(name).cloned().unwrap_or_default();
    for dep in &deps {
        let Some(rx) = r.gates.get(dep) else { continue };
        let need = needed(d, dep);
        let mut rx = rx.clone();
        loop {
            let ok = satisfies(*rx.borrow(), need);
            match ok {
                Some(true) => break,
                Some(false) => {
                    r.step(name, Step::Skipped, &format!("{dep} did not become ready"));
                    let mut res = ServiceResult::new(name, Outcome::Skipped);
                    res.error = Some(format!("not started: {dep} did not become ready"));
                    return Ok((Gate::Failed, res));
                }
                None => {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    let full = d.stack.service_name(name);
    if r.stopping() && sp.action != Action::Unchanged {
        let interrupted = r.interrupted.load(Ordering::SeqCst);
        let mut res = ServiceResult::new(
            name,
            if interrupted {
                Outcome::Interrupted
            } else {
                Outcome::Skipped
            },
        );
        res.error = Some(if interrupted {
            "not started: interrupted".into()
        } else {
            "not started: the rollout stopped".into()
        });
        return Ok((Gate::Failed, res));
    }
    let e = &r.engine;
    // The service's version before this apply's change: the watcher's snapshots count only
    // once they show a later one.
    let mut after = 0;
    let (id, done) = match sp.action {
        Action::Unchanged => unreachable!("answered before the wait"),
        Action::Create => {
            let id = r.create_service(name, &full).await?;
            r.changed
                .lock()
                .expect("not poisoned")
                .push((name.clone(), Changed::Created { id: id.clone() }));
            (id, Outcome::Created)
        }
        Action::Recreate => {
            let old = existing.unwrap_or_default();
            r.step(
                name,
                Step::Stopping,
                "its mode changed: removed and created again",
            );
            e.mutate("remove service", &full, |dk| dk.delete_service(&old))
                .await?;
            let id = r.create_service(name, &full).await?;
            r.changed
                .lock()
                .expect("not poisoned")
                .push((name.clone(), Changed::Recreated { id: id.clone() }));
            (id, Outcome::Recreated)
        }
        Action::Update | Action::Start => {
            let id = existing.unwrap_or_default();
            r.step(
                name,
                Step::Updating,
                if sp.action == Action::Start {
                    "replacing its tasks"
                } else {
                    ""
                },
            );
            let bump = u64::from(sp.action == Action::Start);
            after = update_with_retry(r, name, &id, bump).await?;
            r.changed
                .lock()
                .expect("not poisoned")
                .push((name.clone(), Changed::Updated { id: id.clone() }));
            (
                id,
                if sp.action == Action::Start {
                    Outcome::Started
                } else {
                    Outcome::Updated
                },
            )
        }
    };
    let (gate, failure) = wait_gate(r, name, &id, after, false).await?;
    let mut res = ServiceResult::new(
        name,
        if gate == Gate::Failed {
            Outcome::Failed
        } else {
            done
        },
    );
    res.container = Some(full);
    if let Some(f) = failure {
        if f.why == STOPPED {
            // Stopped because another service failed: not its own failure.
            r.step(name, Step::Skipped, "another service failed");
        } else {
            r.abort.store(true, Ordering::SeqCst);
            r.step(name, Step::Failed, &f.why);
        }
        res.error = Some(d.redact(&f.why));
        res.last_health_output = f.output.map(|o| d.redact(&o));
        res.log_tail = f.logs.iter().map(|l| d.redact(l)).collect();
    }
    Ok((gate, res))
}

/// A service update with the service's current version, once more if another writer got there
/// first ("update out of sequence").
async fn update_with_retry(
    r: &Rollout,
    name: &str,
    id: &str,
    bump: u64,
) -> Result<u64, EngineError> {
    let e = &r.engine;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = e
            .call("inspect service", id, |d| {
                d.inspect_service(id, None::<InspectServiceOptions>)
            })
            .await?;
        let version = current.version.and_then(|v| v.index).unwrap_or(0);
        let force = current
            .spec
            .and_then(|s| s.task_template)
            .and_then(|t| t.force_update)
            .unwrap_or(0);
        let mut spec = r.spec(name, 0);
        if let Some(t) = spec.task_template.as_mut() {
            t.force_update = Some(force + bump);
        }
        let opts = UpdateServiceOptions {
            version: version as i32,
            registry_auth_from: "spec".into(),
            rollback: None,
        };
        match e
            .mutate("update service", id, |d| {
                d.update_service(id, spec, opts, None)
            })
            .await
        {
            Ok(_) => return Ok(version),
            Err(err) if attempt == 1 && err.to_string().contains("out of sequence") => continue,
            Err(err) => return Err(err),
        }
    }
}

/// Why a service did not become ready.
struct Failure {
    why: String,
    output: Option<String>,
    logs: Vec<String>,
}

/// An engine timestamp as something that orders (RFC 3339 with a varying number of fraction
/// digits does not order as text).
fn time_key(t: &str) -> (String, u64) {
    let t = t.trim_end_matches('Z');
    let (secs, frac) = t.split_once('.').unwrap_or((t, "0"));
    let frac: String = frac
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .chain(std::iter::repeat('0'))
        .take(9)
        .collect();
    (secs.to_string(), frac.parse().unwrap_or(0))
}

/// Waits until the service's tasks of its current spec are running (healthy) or, for a job,
/// complete. `rolling_back`: the wait after a rollback (the engine's own rollback state is then
/// success, not failure, and the rollout's abort flag does not stop it).
async fn wait_gate(
    r: &Rollout,
    name: &str,
    id: &str,
    after: u64,
    rolling_back: bool,
) -> Result<(Gate, Option<Failure>), EngineError> {
    let e = &r.engine;
    let svc = &r.desired.stack.services[name];
    let job = svc.deploy.mode == Mode::ReplicatedJob;
    let health = svc.healthcheck.is_some();
    if !job && health && !rolling_back {
        r.step(name, Step::WaitingForHealth, "");
    }
    let deadline = if rolling_back {
        r.deadline.max(Instant::now() + Duration::from_secs(120))
    } else {
        r.deadline
    };
    let _watching = r.watcher.watch(id);
    let mut snapshots = r.watcher.rx.clone();
    // The service's time right after the change: a task that failed before it is not this
    // version's (the same spec may have failed before and been rolled back).
    let mut since: Option<(String, u64)> = None;
    // When a task was first seen waiting with an error (no node fits it, its port is taken).
    let mut stuck_since: Option<Instant> = None;
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        if let Some(err) = &snapshot.error {
            return Err(EngineError::Api {
                op: "watch tasks",
                object: r.desired.stack.fedgen.stack.clone(),
                status: None,
                detail: err.clone(),
            });
        }
        let current = snapshot
            .services
            .get(id)
            .filter(|s| s.version.as_ref().and_then(|v| v.index).unwrap_or(0) > after)
            .cloned();
        let Some(current) = current else {
            // Not yet a snapshot of the service after the change.
            if Instant::now() >= deadline {
                return failure(
                    r,
                    id,
                    &[],
                    "the swarm did not show the change in time".into(),
                )
                .await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), snapshots.changed()).await;
            continue;
        };
        let empty = Vec::new();
        let tasks = snapshot.tasks.get(id).unwrap_or(&empty);
        let spec = current.spec.clone().unwrap_or_default();
        let wanted = match &spec.mode {
            Some(m) => m
                .replicated
                .as_ref()
                .and_then(|r| r.replicas)
                .or(m.replicated_job.as_ref().and_then(|j| j.total_completions))
                .unwrap_or(1)
                .max(0) as usize,
            None => 1,
        };
        let since = since
            .get_or_insert_with(|| time_key(current.updated_at.as_deref().unwrap_or_default()))
            .clone();
        let iteration = current
            .job_status
            .as_ref()
            .and_then(|j| j.job_iteration.as_ref())
            .and_then(|v| v.index);
        let update = current.update_status.clone().unwrap_or_default();
        let state = update.state.map(|s| s.to_string()).unwrap_or_default();
        let message = update.message.unwrap_or_default();
        // Tasks whose state changed since the change (status timestamps, which the allocator's
        // own later updates of the service do not move ahead of).
        let fresh: Vec<&bollard::models::Task> = tasks
            .iter()
            .filter(|t| {
                t.status
                    .as_ref()
                    .and_then(|s| s.timestamp.as_deref())
                    .is_some_and(|c| time_key(c) >= since)
            })
            .collect();
        let state_of = |t: &bollard::models::Task| t.status.as_ref().and_then(|s| s.state);
        if !rolling_back
            && matches!(
                state.as_str(),
                "paused" | "rollback_started" | "rollback_paused" | "rollback_completed"
            )
        {
            // The failed task is not of the current spec any more: listed without the
            // `_up-to-date` filter, for its error and its container's last words.
            let all = e
                .call("list tasks", id, |d| {
                    d.list_tasks(Some(
                        ListTasksOptionsBuilder::default()
                            .filters(&HashMap::from([(
                                "service".to_string(),
                                vec![id.to_string()],
                            )]))
                            .build(),
                    ))
                })
                .await?;
            let failed: Vec<&bollard::models::Task> = all
                .iter()
                .filter(|t| {
                    matches!(
                        state_of(t),
                        Some(TaskState::FAILED) | Some(TaskState::REJECTED)
                    ) && t
                        .status
                        .as_ref()
                        .and_then(|s| s.timestamp.as_deref())
                        .is_some_and(|c| time_key(c) >= since)
                })
                .collect();
            let task_error = failed
                .last()
                .and_then(|t| t.status.as_ref())
                .and_then(|s| s.err.clone().or(s.message.clone()))
                .map(|e| format!(" (a task failed: {e})"))
                .unwrap_or_default();
            let why = format!(
                "the engine {} the update{task_error}: {message}",
                if state == "paused" {
                    "paused"
                } else {
                    "rolled back"
                }
            );
            return failure(r, id, &failed, why).await;
        }
        if rolling_back && state == "rollback_paused" {
            return failure(r, id, &fresh, format!("the rollback paused: {message}")).await;
        }
        let failed: Vec<&&bollard::models::Task> = fresh
            .iter()
            .filter(|t| {
                matches!(
                    state_of(t),
                    Some(TaskState::FAILED) | Some(TaskState::REJECTED)
                )
            })
            .collect();
        if let Some(t) = failed.first() {
            let st = t.status.clone().unwrap_or_default();
            let why = format!(
                "a task {}: {}",
                st.state.map(|s| s.to_string()).unwrap_or_default(),
                st.err.or(st.message).unwrap_or_default()
            );
            let t: Vec<&bollard::models::Task> = vec![**t];
            return failure(r, id, &t, why).await;
        }
        let waiting = tasks.iter().find_map(|t| {
            let st = t.status.as_ref()?;
            (t.desired_state == Some(TaskState::RUNNING)
                && matches!(
                    st.state,
                    Some(TaskState::PENDING) | Some(TaskState::ASSIGNED)
                ))
            .then(|| st.err.clone())
            .flatten()
            .filter(|e| !e.is_empty())
        });
        match (&waiting, stuck_since) {
            (Some(err), Some(t0)) if t0.elapsed() > Duration::from_secs(15) => {
                let why = format!("its task cannot be placed: {err}");
                return failure(r, id, &[], why).await;
            }
            (Some(_), None) => stuck_since = Some(Instant::now()),
            (None, _) => stuck_since = None,
            _ => {}
        }
        if job {
            let complete = tasks
                .iter()
                .filter(|t| state_of(t) == Some(TaskState::COMPLETE))
                .filter(|t| {
                    iteration.is_none()
                        || t.job_iteration.as_ref().and_then(|v| v.index) == iteration
                })
                .count();
            if complete >= wanted {
                r.step(name, Step::Completed, "");
                return Ok((Gate::Completed, None));
            }
        } else {
            let running = tasks
                .iter()
                .filter(|t| {
                    state_of(t) == Some(TaskState::RUNNING)
                        && t.desired_state == Some(TaskState::RUNNING)
                })
                .count();
            let settled = !rolling_back || state != "rollback_started";
            if running >= wanted && settled {
                let gate = if health { Gate::Healthy } else { Gate::Started };
                r.step(
                    name,
                    if health { Step::Healthy } else { Step::Running },
                    &if rolling_back {
                        "rolled back".to_string()
                    } else {
                        String::new()
                    },
                );
                return Ok((gate, None));
            }
        }
        if Instant::now() >= deadline {
            let why = if job {
                "did not complete in time".to_string()
            } else {
                format!(
                    "its tasks were not all running{} in time",
                    if health { " and healthy" } else { "" }
                )
            };
            return failure(r, id, &fresh, why).await;
        }
        if !rolling_back && r.stopping() {
            // Another service failed: not this one's failure; the rollback reports it.
            return Ok((
                Gate::Failed,
                Some(Failure {
                    why: STOPPED.into(),
                    output: None,
                    logs: vec![],
                }),
            ));
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), snapshots.changed()).await;
    }
}

/// The failure, with the last health-check output and log lines of a failed task's container
/// when it ran on this node.
async fn failure(
    r: &Rollout,
    _id: &str,
    tasks: &[&bollard::models::Task],
    why: String,
) -> Result<(Gate, Option<Failure>), EngineError> {
    let e = &r.engine;
    let container = tasks.iter().rev().find_map(|t| {
        t.status
            .as_ref()
            .and_then(|s| s.container_status.as_ref())
            .and_then(|c| c.container_id.clone())
            .filter(|c| !c.is_empty())
    });
    let mut output = None;
    let mut logs = Vec::new();
    if let Some(c) = container {
        if let Ok(info) = e
            .call("inspect container", &c, |d| {
                d.inspect_container(
                    &c,
                    None::<bollard::query_parameters::InspectContainerOptions>,
                )
            })
            .await
        {
            output = info
                .state
                .and_then(|s| s.health)
                .and_then(|h| h.log)
                .and_then(|l| l.last().cloned())
                .and_then(|l| l.output)
                .map(|o| o.trim().to_string());
        }
        use futures_util::StreamExt;
        let opts = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail("10")
            .build();
        let c = &c;
        let mut stream = e
            .call("container logs", c, |d| async move {
                Ok::<_, bollard::errors::Error>(d.logs(c, Some(opts)))
            })
            .await
            .ok();
        if let Some(s) = stream.as_mut() {
            while let Some(Ok(chunk)) = s.next().await {
                logs.extend(chunk.to_string().lines().map(str::to_string));
            }
        }
    }
    Ok((Gate::Failed, Some(Failure { why, output, logs })))
}

/// Puts every service this apply changed back: an updated one to its previous spec (unless the
/// engine already rolled it back), a created one removed. Returns what the report says of it.
async fn roll_back(
    r: &Arc<Rollout>,
    changed: &[(String, Changed)],
    results: &mut [ServiceResult],
) -> Result<String, EngineError> {
    let e = &r.engine;
    let mut restored = Vec::new();
    let mut removed = Vec::new();
    let mut not_restored = Vec::new();
    let undo = changed.iter().rev().map(|(name, c)| {
        let r = r.clone();
        async move {
            let full = r.desired.stack.service_name(name);
            match c {
                Changed::Created { id } | Changed::Recreated { id } => {
                    r.step(
                        name,
                        Step::RollingBack,
                        "removing the service this apply created",
                    );
                    e.mutate("remove service", &full, |d| d.delete_service(id))
                        .await?;
                    Ok::<_, EngineError>((
                        name.clone(),
                        matches!(c, Changed::Recreated { .. }),
                        true,
                        None,
                    ))
                }
                Changed::Updated { id } => {
                    r.step(name, Step::RollingBack, "to its previous spec");
                    let current = e
                        .call("inspect service", id, |d| {
                            d.inspect_service(id, None::<InspectServiceOptions>)
                        })
                        .await?;
                    let state = current
                        .update_status
                        .as_ref()
                        .and_then(|u| u.state)
                        .map(|s| s.to_string())
                        .unwrap_or_default();
                    let version = current.version.as_ref().and_then(|v| v.index).unwrap_or(0);
                    // The engine rolled it back by itself (failure_action: rollback): a second
                    // rollback would put the failed spec back; its state now is what to wait on.
                    let mut after = version.saturating_sub(1);
                    if !state.starts_with("rollback") {
                        after = version;
                        let opts = UpdateServiceOptions {
                            version: version as i32,
                            registry_auth_from: "spec".into(),
                            rollback: Some("previous".into()),
                        };
                        let spec = current.spec.clone().unwrap_or_default();
                        e.mutate("roll back service", &full, |d| {
                            d.update_service(id, spec, opts, None)
                        })
                        .await?;
                    }
                    let (gate, failure) = wait_gate(&r, name, id, after, true).await?;
                    Ok((
                        name.clone(),
                        false,
                        false,
                        (gate == Gate::Failed).then(|| failure.map(|f| f.why).unwrap_or_default()),
                    ))
                }
            }
        }
    });
    for res in futures_util::future::join_all(undo).await {
        let (name, recreated, was_removed, failed) = res?;
        let entry = results.iter_mut().find(|s| s.service == name);
        match (&failed, was_removed, recreated) {
            (Some(why), _, _) => {
                not_restored.push(name.clone());
                if let Some(s) = entry {
                    let prior = s.error.take().unwrap_or_default();
                    s.result = Outcome::Failed;
                    s.error = Some(format!(
                        "{prior}; the rollback did not converge either: {why}"
                    ));
                }
            }
            (None, true, true) => {
                not_restored.push(name.clone());
                if let Some(s) = entry {
                    let prior = s.error.take();
                    s.result = Outcome::Failed;
                    s.error = Some(format!(
                        "{}its mode changed, so it was removed; the previous service cannot be made again from here: run apply with the previous file",
                        prior.map(|p| format!("{p}; ")).unwrap_or_default()
                    ));
                }
            }
            (None, true, false) => {
                removed.push(name.clone());
                if let Some(s) = entry {
                    mark_rolled_back(s, "removed: it did not exist before this apply");
                }
            }
            (None, false, _) => {
                restored.push(name.clone());
                if let Some(s) = entry {
                    mark_rolled_back(s, "back on its previous spec, running");
                }
            }
        }
    }
    let mut parts = Vec::new();
    if !restored.is_empty() {
        parts.push(format!(
            "{} back on their previous spec",
            restored.join(", ")
        ));
    }
    if !removed.is_empty() {
        parts.push(format!(
            "{} removed (new in this apply)",
            removed.join(", ")
        ));
    }
    if !not_restored.is_empty() {
        parts.push(format!("{} NOT restored", not_restored.join(", ")));
    }
    Ok(if parts.is_empty() {
        "nothing had changed yet: the stack is as it was".into()
    } else {
        format!("the stack was rolled back: {}", parts.join("; "))
    })
}

fn mark_rolled_back(s: &mut ServiceResult, what: &str) {
    let prior = s.error.take();
    s.error = Some(match prior {
        Some(p) if !p.starts_with("rolled back") && p != STOPPED => {
            format!("{p}; rolled back: {what}")
        }
        _ => format!("rolled back: {what}"),
    });
    s.result = Outcome::RolledBack;
}
