//! Apply: converge the host to the compiled file through the Docker API.
//!
//! Takes: a connected [`Engine`], the [`Desired`] file and the [`Plan`] computed against the host.
//! Gives: the host running exactly the file, or a [`Report`] that says what was changed, what was
//! not, and why it stopped. Order: refusals first (unmanaged conflicts without `--adopt`, a prune
//! that would empty the project), then networks and volumes, then every service in its own task
//! that starts only once what it depends on is healthy, started or completed (as `depends_on`
//! says), so independent services proceed in parallel. A service that turns unhealthy or misses
//! its deadline stops the rollout: its dependants are not started and the report carries its last
//! health-check output and the tail of its logs. Nothing is touched for an in-sync host.
//!
//! Containers carry Compose's labels (`com.docker.compose.project`, `.service`,
//! `.container-number`, `.oneoff`, `.config-hash`), so `docker compose ps` and `logs` see them.
//! Secrets from the environment and generated configs are copied into the container before it
//! starts (never into its environment, labels or the host's disk); `file:` secrets are bind-mounted
//! read-only, as Compose does.

use crate::compile::spec::{parse_bytes, parse_duration};
use crate::deploy::desired::Desired;
use crate::deploy::engine::{Engine, EngineError};
use crate::deploy::plan::{content_label, Action, Plan, ServicePlan};
use crate::deploy::state::{
    self, LABEL_COMPOSE_HASH, LABEL_NETWORK, LABEL_NUMBER, LABEL_ONEOFF, LABEL_PROJECT,
    LABEL_SECRETS, LABEL_SERVICE, LABEL_VOLUME,
};
use crate::model::{Condition, Service, LABEL_CONFIG_HASH};
use bollard::models::{
    ContainerCreateBody, ContainerUpdateBody, EndpointSettings, HealthConfig, HostConfig,
    HostConfigLogConfig, Mount, MountType, NetworkConnectRequest, NetworkCreateRequest,
    NetworkDisconnectRequest, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, LogsOptions, RemoveContainerOptions,
    RenameContainerOptions, StartContainerOptions, StopContainerOptions, UploadToContainerOptions,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Exit codes of `fedgen apply` beyond 0 (converged) and 1 (invalid input, unreachable engine).
pub mod exit {
    /// With `--dry-run`: changes pending (as `diff`).
    pub const CHANGES_PENDING: i32 = 2;
    /// A service did not become healthy (or completed) in time; the rollout stopped.
    pub const HEALTH_FAILED: i32 = 3;
    /// Refused before changing anything (unmanaged conflicts, emptying prune, stale saved plan).
    pub const REFUSED: i32 = 4;
    /// The engine failed during the rollout (the report says what was done).
    pub const ENGINE_FAILED: i32 = 5;
    /// Stopped by SIGINT or SIGTERM after the steps under way (128 + SIGINT, as shells report).
    pub const INTERRUPTED: i32 = 130;
}

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

/// The rows of the live display: service (or network) and its latest status.
pub type LiveRows = Vec<(String, String)>;

/// Where progress goes: a live table on a terminal (one line per service, redrawn in place),
/// plain lines on stderr otherwise (CI logs), or one JSON event per line on stdout.
#[derive(Clone)]
pub struct Progress {
    pub json: bool,
    pub start: Instant,
    pub redact: Arc<dyn Fn(&str) -> String + Send + Sync>,
    /// Some on a terminal: the rows drawn so far.
    pub live: Option<Arc<Mutex<LiveRows>>>,
}

impl Progress {
    /// Live on a terminal (stderr) unless JSON was asked for or TERM is dumb.
    pub fn new(json: bool, redact: Arc<dyn Fn(&str) -> String + Send + Sync>) -> Progress {
        use std::io::IsTerminal;
        let live = !json
            && std::io::stderr().is_terminal()
            && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(false);
        Progress {
            json,
            start: Instant::now(),
            redact,
            live: live.then(Arc::default),
        }
    }

    pub fn event(&self, service: &str, status: &str, detail: &str) {
        let ms = self.start.elapsed().as_millis();
        let detail = (self.redact)(detail);
        if let Some(rows) = &self.live {
            use std::io::Write;
            let mut rows = rows.lock().expect("not poisoned");
            let line = if detail.is_empty() {
                status.to_string()
            } else {
                format!("{status} ({detail})")
            };
            let drawn = rows.len();
            match rows.iter_mut().find(|(s, _)| s == service) {
                Some(row) => row.1 = line,
                None => rows.push((service.to_string(), line)),
            }
            let width = rows.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
            let mut out = String::new();
            if drawn > 0 {
                out.push_str(&format!("\x1b[{drawn}A"));
            }
            for (s, l) in rows.iter() {
                out.push_str(&format!("\x1b[2K  {s:<width$}  {l}\n"));
            }
            out.push_str(&format!("\x1b[2K  {:.1}s\r", ms as f64 / 1000.0));
            let _ = std::io::stderr().write_all(out.as_bytes());
            return;
        }
        if self.json {
            println!(
                "{}",
                serde_json::json!({"event": "service", "service": service, "status": status, "detail": detail, "elapsed_ms": ms})
            );
        } else if detail.is_empty() {
            eprintln!("[{:>6.1}s] {service}: {status}", ms as f64 / 1000.0);
        } else {
            eprintln!(
                "[{:>6.1}s] {service}: {status} ({detail})",
                ms as f64 / 1000.0
            );
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceResult {
    pub service: String,
    /// created, recreated, updated, started, unchanged, skipped, failed
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_health_output: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// in-sync, converged, health-failed, refused, engine-failed
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub services: Vec<ServiceResult>,
    pub networks_created: Vec<String>,
    pub networks_removed: Vec<String>,
    pub volumes_created: Vec<String>,
    pub volumes_removed: Vec<String>,
    pub orphans_removed: Vec<String>,
    pub orphans_kept: Vec<String>,
    pub adopted: Vec<String>,
    pub api_calls: usize,
    pub mutating_calls: usize,
    pub elapsed_ms: u128,
}

impl Report {
    pub fn exit_code(&self) -> i32 {
        match self.status.as_str() {
            "in-sync" | "converged" => 0,
            "health-failed" => exit::HEALTH_FAILED,
            "refused" => exit::REFUSED,
            "interrupted" => exit::INTERRUPTED,
            _ => exit::ENGINE_FAILED,
        }
    }
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

pub fn container_name(project: &str, service: &str) -> String {
    format!("{project}-{service}-1")
}

fn full(project: &str, name: &str) -> String {
    format!("{project}_{name}")
}

fn refused(reason: String, engine: &Engine, start: Instant) -> Report {
    Report {
        status: "refused".into(),
        reason: Some(reason),
        services: vec![],
        networks_created: vec![],
        networks_removed: vec![],
        volumes_created: vec![],
        volumes_removed: vec![],
        orphans_removed: vec![],
        orphans_kept: vec![],
        adopted: vec![],
        api_calls: engine.calls(),
        mutating_calls: engine.mutations(),
        elapsed_ms: start.elapsed().as_millis(),
    }
}

/// Converges the host. Refusals and health failures are [`Report`]s; an engine error mid-way is
/// reported with what had been done.
pub async fn apply(
    engine: &Engine,
    desired: Arc<Desired>,
    env_file: Option<std::path::PathBuf>,
    plan: &Plan,
    opts: &Options,
    progress: &Progress,
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
        let mut r = refused(String::new(), engine, start);
        r.status = "in-sync".into();
        r.reason = None;
        return r;
    }
    let mut report = Report {
        status: "converged".into(),
        reason: None,
        services: vec![],
        networks_created: vec![],
        networks_removed: vec![],
        volumes_created: vec![],
        volumes_removed: vec![],
        orphans_removed: vec![],
        orphans_kept: vec![],
        adopted: vec![],
        api_calls: 0,
        mutating_calls: 0,
        elapsed_ms: 0,
    };
    let result = converge(
        engine,
        &desired,
        env_file,
        plan,
        opts,
        progress,
        &mut report,
    )
    .await;
    if let Err(e) = result {
        report.status = "engine-failed".into();
        report.reason = Some((progress.redact)(&format!(
            "the engine failed during the rollout: {e}; run apply again to converge"
        )));
    } else if opts.interrupted.load(Ordering::SeqCst) {
        report.status = "interrupted".into();
        report.reason = Some("interrupted by a signal: the current steps finished, nothing new was started; run apply again to converge".into());
    } else if report
        .services
        .iter()
        .any(|s| s.result == "failed" || s.result == "rolled-back")
    {
        report.status = "health-failed".into();
        let failed: Vec<&str> = report
            .services
            .iter()
            .filter(|s| s.result == "failed" || s.result == "rolled-back")
            .map(|s| s.service.as_str())
            .collect();
        report.reason = Some(format!(
            "{} did not become ready; their dependants were not started",
            failed.join(", ")
        ));
    } else if plan.in_sync && engine.mutations() == 0 {
        report.status = "in-sync".into();
    }
    report.api_calls = engine.calls();
    report.mutating_calls = engine.mutations();
    report.elapsed_ms = start.elapsed().as_millis();
    report
}

async fn converge(
    engine: &Engine,
    desired: &Arc<Desired>,
    env_file: Option<std::path::PathBuf>,
    plan: &Plan,
    opts: &Options,
    progress: &Progress,
    report: &mut Report,
) -> Result<(), EngineError> {
    let project = desired.compose.name.clone();
    // Follow the project's container events from before the first change on, until the end.
    let events = Arc::new(Events::default());
    let _follower = AbortOnDrop(tokio::spawn(follow_events(
        engine.clone(),
        project.clone(),
        events.clone(),
    )));
    for c in &plan.conflicts {
        progress.event(
            &c.service,
            "adopting",
            &format!("removing unmanaged container {}", c.name),
        );
        force_remove(engine, &c.name, &c.id).await?;
        report.adopted.push(c.name.clone());
    }
    for n in &plan.networks_recreate {
        let name = full(&project, &n.name);
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
            let name = full(&project, &n.name);
            let internal = desired
                .compose
                .networks
                .get(&n.name)
                .map(|x| x.internal)
                .unwrap_or(false);
            let labels = HashMap::from([
                (LABEL_PROJECT.to_string(), project.clone()),
                (LABEL_NETWORK.to_string(), n.name.clone()),
            ]);
            async move {
                engine
                    .mutate("create network", &name, |d| {
                        d.create_network(NetworkCreateRequest {
                            name: name.clone(),
                            driver: Some("bridge".into()),
                            internal: Some(internal),
                            labels: Some(labels),
                            ..Default::default()
                        })
                    })
                    .await?;
                progress.event(
                    &n.name,
                    "network created",
                    if internal { "internal" } else { "" },
                );
                Ok::<_, EngineError>(n.name.clone())
            }
        });
    let volumes = plan.volumes_create.iter().map(|v| {
        let name = full(&project, v);
        let labels = HashMap::from([
            (LABEL_PROJECT.to_string(), project.clone()),
            (LABEL_VOLUME.to_string(), v.clone()),
        ]);
        async move {
            engine
                .mutate("create volume", &name, |d| {
                    d.create_volume(VolumeCreateRequest {
                        name: Some(name.clone()),
                        labels: Some(labels),
                        ..Default::default()
                    })
                })
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
    let mut gates: HashMap<String, (watch::Sender<Gate>, watch::Receiver<Gate>)> = HashMap::new();
    for s in &plan.services {
        gates.insert(s.name.clone(), watch::channel(Gate::Pending));
    }
    let receivers: Arc<HashMap<String, watch::Receiver<Gate>>> = Arc::new(
        gates
            .iter()
            .map(|(k, (_, r))| (k.clone(), r.clone()))
            .collect(),
    );
    let abort = Arc::new(AtomicBool::new(false));
    let results: Arc<Mutex<Vec<ServiceResult>>> = Arc::default();
    let engine_error: Arc<Mutex<Option<EngineError>>> = Arc::default();
    let deadline = Instant::now() + opts.timeout;
    let mut tasks = Vec::new();
    for sp in &plan.services {
        let (tx, _) = gates.remove(&sp.name).expect("a gate per service");
        let ctx = TaskCtx {
            engine: engine.clone(),
            events: events.clone(),
            desired: desired.clone(),
            env_file: env_file.clone(),
            project: project.clone(),
            plan: sp.clone(),
            receivers: receivers.clone(),
            abort: abort.clone(),
            progress: progress.clone(),
            deadline,
            rollback: opts.rollback,
            interrupted: opts.interrupted.clone(),
        };
        let results = results.clone();
        let engine_error = engine_error.clone();
        tasks.push(tokio::spawn(async move {
            let (gate, result) = match ctx.run().await {
                Ok(r) => r,
                Err(e) => {
                    ctx.abort.store(true, Ordering::SeqCst);
                    let msg = (ctx.progress.redact)(&e.to_string());
                    ctx.progress.event(&ctx.plan.name, "failed", &msg);
                    engine_error.lock().expect("not poisoned").get_or_insert(e);
                    (
                        Gate::Failed,
                        ServiceResult {
                            service: ctx.plan.name.clone(),
                            result: "failed".into(),
                            container: None,
                            error: Some(msg),
                            last_health_output: None,
                            log_tail: vec![],
                        },
                    )
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
    report.services = results;
    if let Some(e) = engine_error.lock().expect("not poisoned").take() {
        return Err(e);
    }
    if abort.load(Ordering::SeqCst) {
        return Ok(());
    }
    for o in &plan.orphans {
        if opts.prune {
            progress.event(&o.service, "removing orphan", &o.container);
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
            force_remove(engine, &o.container, &o.id).await?;
            report.orphans_removed.push(o.container.clone());
        } else {
            report.orphans_kept.push(o.container.clone());
        }
    }
    if opts.prune {
        for n in &plan.networks_extra {
            let name = full(&project, n);
            engine
                .mutate("remove network", &name, |d| d.remove_network(&name))
                .await?;
            report.networks_removed.push(n.clone());
        }
    }
    if opts.prune_volumes {
        for v in &plan.volumes_unused {
            let name = full(&project, v);
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

/// What the engine's event stream said of each container of the project since the rollout
/// began: the waits for health, start and exit are driven by it instead of by polling, so a
/// dependant starts the moment its dependency turns healthy.
#[derive(Default)]
struct Events {
    seen: Mutex<HashMap<String, Seen>>,
    notify: tokio::sync::Notify,
    /// The stream ended or failed: waiters poll instead.
    dead: AtomicBool,
}

/// The latest of a container's events. A container with any event here was watched from before
/// that event on, so waiting on its later events cannot miss them.
#[derive(Debug, Clone, Default)]
struct Seen {
    running: bool,
    health: Option<String>,
    exit_code: Option<i64>,
}

impl Events {
    fn get(&self, id: &str) -> Option<Seen> {
        self.seen.lock().expect("not poisoned").get(id).cloned()
    }

    fn record(&self, e: bollard::models::EventMessage) {
        let Some(actor) = e.actor else { return };
        let (Some(id), Some(action)) = (actor.id, e.action) else {
            return;
        };
        let mut seen = self.seen.lock().expect("not poisoned");
        let s = seen.entry(id).or_default();
        match action.as_str() {
            "start" => {
                s.running = true;
                s.exit_code = None;
                s.health = None;
            }
            "die" => {
                s.running = false;
                s.exit_code = actor
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get("exitCode"))
                    .and_then(|c| c.parse().ok())
                    .or(Some(-1));
            }
            a => {
                if let Some(h) = a.strip_prefix("health_status:") {
                    s.health = Some(h.trim().to_string());
                }
            }
        }
        drop(seen);
        self.notify.notify_waiters();
    }
}

/// Aborts a background task when the rollout that needs it returns, by whatever path.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Follows the project's container events until the rollout ends (the task is then aborted).
async fn follow_events(engine: Engine, project: String, events: Arc<Events>) {
    use futures_util::StreamExt;
    let filters = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        (
            "label".to_string(),
            vec![format!("{LABEL_PROJECT}={project}")],
        ),
    ]);
    let mut stream = std::pin::pin!(engine.events(
        bollard::query_parameters::EventsOptionsBuilder::new()
            .filters(&filters)
            .build()
    ));
    while let Some(Ok(e)) = stream.next().await {
        events.record(e);
    }
    events.dead.store(true, Ordering::SeqCst);
    events.notify.notify_waiters();
}

/// A container's state as the plan's waits need it, from events or from an inspect.
#[derive(Debug, Default)]
struct Snapshot {
    status: String,
    health: String,
    exit_code: Option<i64>,
    restarting: bool,
    last_output: Option<String>,
    /// Read with an inspect (so `last_output` is all there is to know).
    inspected: bool,
}

impl Snapshot {
    fn from_seen(s: &Seen) -> Snapshot {
        Snapshot {
            status: if s.running {
                "running".into()
            } else if s.exit_code.is_some() {
                "exited".into()
            } else {
                "created".into()
            },
            health: s.health.clone().unwrap_or_default(),
            exit_code: s.exit_code,
            restarting: false,
            last_output: None,
            inspected: false,
        }
    }

    fn from_inspect(c: bollard::models::ContainerInspectResponse) -> Snapshot {
        let st = c.state.unwrap_or_default();
        Snapshot {
            status: st.status.map(|s| s.to_string()).unwrap_or_default(),
            health: st
                .health
                .as_ref()
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            exit_code: st.exit_code,
            restarting: st.restarting.unwrap_or(false),
            last_output: st
                .health
                .as_ref()
                .and_then(|h| h.log.as_ref())
                .and_then(|l| l.last())
                .and_then(|l| l.output.clone())
                .map(|o| o.trim().to_string()),
            inspected: true,
        }
    }
}

struct TaskCtx {
    engine: Engine,
    events: Arc<Events>,
    desired: Arc<Desired>,
    env_file: Option<std::path::PathBuf>,
    project: String,
    plan: ServicePlan,
    receivers: Arc<HashMap<String, watch::Receiver<Gate>>>,
    abort: Arc<AtomicBool>,
    progress: Progress,
    deadline: Instant,
    rollback: bool,
    interrupted: Arc<AtomicBool>,
}

impl TaskCtx {
    /// The rollout is stopping (a failure elsewhere, or a signal): start nothing new.
    fn stopping(&self) -> bool {
        self.abort.load(Ordering::SeqCst) || self.interrupted.load(Ordering::SeqCst)
    }

    /// The service will not start: a container created early for it is removed, so a stopped
    /// rollout leaves no half-made service behind.
    async fn not_started(
        &self,
        cname: &str,
        early: &Option<String>,
        result: &str,
        why: String,
    ) -> Result<(Gate, ServiceResult), EngineError> {
        if let Some(id) = early {
            force_remove(&self.engine, cname, id).await?;
        }
        let mut r = self.result(result, None);
        r.error = Some(why);
        Ok((Gate::Failed, r))
    }

    fn result(&self, result: &str, container: Option<String>) -> ServiceResult {
        ServiceResult {
            service: self.plan.name.clone(),
            result: result.into(),
            container,
            error: None,
            last_health_output: None,
            log_tail: vec![],
        }
    }

    async fn run(&self) -> Result<(Gate, ServiceResult), EngineError> {
        let name = self.plan.name.clone();
        let svc = self.desired.compose.services[&name].clone();
        let cname = container_name(&self.project, &name);
        // A container that does not exist yet is created now, before what it depends on is
        // ready (all such creates run at once), so that when its dependencies turn healthy
        // only the start call stands between them and it.
        let mut early: Option<String> = None;
        if self.plan.action == Action::Create && !self.stopping() {
            self.progress.event(&name, "creating", "");
            early = Some(self.create(&cname, &svc).await?);
        }
        // Wait for what this service depends on.
        for (dep, d) in &svc.depends_on {
            let Some(rx) = self.receivers.get(dep) else {
                continue;
            };
            let mut rx = rx.clone();
            loop {
                let ok = satisfies(&rx.borrow(), &d.condition);
                match ok {
                    Some(true) => break,
                    Some(false) => {
                        self.progress.event(
                            &name,
                            "skipped",
                            &format!("{dep} did not become ready"),
                        );
                        let why = format!("not started: {dep} did not become ready");
                        return self.not_started(&cname, &early, "skipped", why).await;
                    }
                    None => {
                        if rx.changed().await.is_err() {
                            break;
                        }
                    }
                }
            }
        }
        if self.interrupted.load(Ordering::SeqCst) {
            let why = "not started: interrupted".to_string();
            return self.not_started(&cname, &early, "interrupted", why).await;
        }
        if self.abort.load(Ordering::SeqCst) {
            let why = "not started: the rollout stopped".to_string();
            return self.not_started(&cname, &early, "skipped", why).await;
        }
        let e = &self.engine;
        let mut previous: Vec<String> = Vec::new();
        let (id, done) = match self.plan.action {
            Action::Unchanged => (cname.clone(), "unchanged"),
            Action::Start => {
                self.progress.event(&name, "starting", "");
                e.mutate("start container", &cname, |d| {
                    d.start_container(&cname, None::<StartContainerOptions>)
                })
                .await?;
                (cname.clone(), "started")
            }
            Action::Update => {
                self.update(&cname, &svc).await?;
                (cname.clone(), "updated")
            }
            Action::Recreate | Action::Create => {
                let recreate = self.plan.container.is_some();
                if recreate {
                    previous = self.set_aside(&cname, &svc).await?;
                }
                if self.interrupted.load(Ordering::SeqCst) {
                    return Ok((Gate::Failed, self.result("interrupted", None)));
                }
                let id = match early {
                    Some(id) => id,
                    None => {
                        self.progress.event(&name, "creating", "");
                        self.create(&cname, &svc).await?
                    }
                };
                self.progress.event(&name, "starting", "");
                e.mutate("start container", &cname, |d| {
                    d.start_container(&id, None::<StartContainerOptions>)
                })
                .await?;
                (id, if recreate { "recreated" } else { "created" })
            }
        };
        let (gate, failure) = self.wait_ready(&id, &svc).await?;
        let mut r = self.result(
            if gate == Gate::Failed { "failed" } else { done },
            Some(cname.clone()),
        );
        match failure {
            None => {
                for old in &previous {
                    force_remove(e, old, old).await?;
                }
            }
            Some((why, output, logs)) => {
                self.abort.store(true, Ordering::SeqCst);
                self.progress.event(&name, "failed", &why);
                r.error = Some(why.clone());
                r.last_health_output = output.map(|o| (self.progress.redact)(&o));
                r.log_tail = logs.iter().map(|l| (self.progress.redact)(l)).collect();
                if self.interrupted.load(Ordering::SeqCst) {
                    r.result = "interrupted".into();
                }
                if let (true, Some(old)) = (
                    self.rollback && !self.interrupted.load(Ordering::SeqCst),
                    previous.first(),
                ) {
                    // Put the previous container back: remove the new one, restore the old name.
                    self.progress
                        .event(&name, "rolling back", "to the previous container");
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
                    let (back, again) = self.wait_ready(old, &svc).await?;
                    if again.is_none() {
                        r.result = "rolled-back".into();
                        r.error = Some(format!(
                            "{why}; the previous container is back and {}",
                            if back == Gate::Healthy {
                                "healthy"
                            } else {
                                "running"
                            }
                        ));
                    } else {
                        r.error = Some(format!(
                            "{why}; the previous container was put back but is not ready either"
                        ));
                    }
                } else {
                    for old in &previous {
                        force_remove(e, old, old).await?;
                    }
                }
            }
        }
        Ok((gate, r))
    }

    /// Stops every container of the service (a crash may have left more than one) and renames it
    /// aside, so the new container can take the name and a failed rollout can put it back.
    async fn set_aside(&self, cname: &str, svc: &Service) -> Result<Vec<String>, EngineError> {
        let name = &self.plan.name;
        let e = &self.engine;
        let grace = svc
            .stop_grace_period
            .as_deref()
            .and_then(parse_duration)
            .map(|n| (n / 1_000_000_000) as i32)
            .unwrap_or(10);
        let filter = HashMap::from([(
            "label".to_string(),
            vec![
                format!("{LABEL_PROJECT}={}", self.project),
                format!("{LABEL_SERVICE}={name}"),
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
        for c in list {
            let id = c.id.unwrap_or_default();
            let short: String = id.chars().take(12).collect();
            let current = c
                .names
                .and_then(|n| n.into_iter().next())
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string();
            self.progress.event(name, "stopping", &current);
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
        Ok(previous)
    }

    async fn update(&self, cname: &str, svc: &Service) -> Result<(), EngineError> {
        let name = &self.plan.name;
        let e = &self.engine;
        self.progress.event(
            name,
            "updating in place",
            &self
                .plan
                .changes
                .iter()
                .map(|c| c.field.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        );
        let (memory, nano_cpus) = engine_limits(svc);
        let body = ContainerUpdateBody {
            restart_policy: Some(restart_policy(svc.restart.as_deref().unwrap_or("no"))),
            memory,
            nano_cpus,
            pids_limit: svc.pids_limit,
            ..Default::default()
        };
        if self.plan.changes.iter().any(|c| {
            matches!(
                c.field.as_str(),
                "restart" | "memory" | "cpus" | "pids_limit"
            )
        }) {
            e.mutate("update container", cname, |d| {
                d.update_container(cname, body)
            })
            .await?;
        }
        let have = self.plan.actual.clone().unwrap_or_default();
        for (net, want) in &svc.networks {
            let h = have.networks.get(net);
            if h.map(|h| &h.aliases) == Some(&want.aliases) {
                continue;
            }
            let full_name = full(&self.project, net);
            if h.is_some() {
                e.mutate("disconnect network", &full_name, |d| {
                    d.disconnect_network(
                        &full_name,
                        NetworkDisconnectRequest {
                            container: cname.to_string(),
                            force: Some(true),
                        },
                    )
                })
                .await?;
            }
            let endpoint = EndpointSettings {
                aliases: Some(want.aliases.clone()),
                ..Default::default()
            };
            e.mutate("connect network", &full_name, |d| {
                d.connect_network(
                    &full_name,
                    NetworkConnectRequest {
                        container: cname.to_string(),
                        endpoint_config: Some(endpoint),
                    },
                )
            })
            .await?;
        }
        for net in have
            .networks
            .keys()
            .filter(|n| !svc.networks.contains_key(*n))
        {
            let full_name = full(&self.project, net);
            e.mutate("disconnect network", &full_name, |d| {
                d.disconnect_network(
                    &full_name,
                    NetworkDisconnectRequest {
                        container: cname.to_string(),
                        force: Some(true),
                    },
                )
            })
            .await?;
        }
        if self.plan.state.as_deref() != Some("running") {
            e.mutate("start container", cname, |d| {
                d.start_container(cname, None::<StartContainerOptions>)
            })
            .await?;
        }
        Ok(())
    }

    async fn create(&self, cname: &str, svc: &Service) -> Result<String, EngineError> {
        let e = &self.engine;
        let body = create_body(&self.project, &self.plan.name, svc, &self.desired);
        let opts = CreateContainerOptionsBuilder::new().name(cname).build();
        let created = e
            .mutate("create container", cname, |d| {
                d.create_container(Some(opts), body)
            })
            .await?;
        let id = created.id;
        // Networks after the first one.
        for (net, n) in svc.networks.iter().skip(1) {
            let full_name = full(&self.project, net);
            let endpoint = EndpointSettings {
                aliases: Some(n.aliases.clone()),
                ..Default::default()
            };
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
            let Some(secret) = self.desired.compose.secrets.get(&s.source) else {
                continue;
            };
            if secret.environment.is_some() {
                match self
                    .desired
                    .secret_value(&s.source, self.env_file.as_deref())
                {
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
            if let Some(config) = self.desired.compose.configs.get(&c.source) {
                files.push((c.target.clone(), config.content.clone().into_bytes()));
            }
        }
        if !files.is_empty() {
            let tar = tar_of(&files).map_err(|err| EngineError::Api {
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

    /// Waits until the service may be depended on: healthy (with a healthcheck), exited 0 (a
    /// one-shot job), or running. Fails fast on `unhealthy` or an exit, as `compose up --wait`.
    ///
    /// Driven by the engine's events: no call while waiting, and the dependant starts the moment
    /// the `health_status: healthy` event arrives. A container none of whose events has been
    /// seen yet (the stream may have been opened a moment after its start) is polled with an
    /// inspect until one is; so is everything if the stream fails. A failure costs one inspect,
    /// for the last health-check output, and the tail of the logs.
    #[allow(clippy::type_complexity)]
    async fn wait_ready(
        &self,
        id: &str,
        svc: &Service,
    ) -> Result<(Gate, Option<(String, Option<String>, Vec<String>)>), EngineError> {
        let name = &self.plan.name;
        let one_shot = !svc.is_long_running();
        let health = svc.healthcheck.is_some();
        if !one_shot && !health {
            // The start call returned: the container runs (an immediate exit shows in `ps`).
            self.progress.event(name, "running", "");
            return Ok((Gate::Started, None));
        }
        if health {
            self.progress.event(name, "waiting for health", "");
        }
        let mut poll = Duration::from_millis(100);
        loop {
            let notified = self.events.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let watched = !self.events.dead.load(Ordering::SeqCst);
            let snap = self
                .events
                .get(id)
                .filter(|_| watched)
                .map(|seen| Snapshot::from_seen(&seen));
            let polled = snap.is_none();
            let snap = match snap {
                Some(s) => s,
                None => Snapshot::from_inspect(self.inspect(id).await?),
            };
            let failure = |why: String, snap: Snapshot| async move {
                let output = match snap.last_output {
                    Some(o) => Some(o),
                    None if snap.inspected => None,
                    None => self
                        .inspect(id)
                        .await
                        .ok()
                        .and_then(|c| Snapshot::from_inspect(c).last_output),
                };
                let logs = self.log_tail(id).await;
                Ok((Gate::Failed, Some((why, output, logs))))
            };
            let exited = snap.status == "exited" || snap.status == "dead";
            if one_shot {
                if exited {
                    let code = snap.exit_code.unwrap_or(-1);
                    if code == 0 {
                        self.progress.event(name, "completed", "");
                        return Ok((Gate::Completed, None));
                    }
                    return failure(format!("exited with code {code}"), snap).await;
                }
            } else {
                if snap.health == "healthy" {
                    self.progress.event(name, "healthy", "");
                    return Ok((Gate::Healthy, None));
                }
                if snap.health == "unhealthy" {
                    return failure("the healthcheck failed (unhealthy)".into(), snap).await;
                }
                if exited && !snap.restarting && svc.restart.as_deref() == Some("no") {
                    let why = format!("exited with code {}", snap.exit_code.unwrap_or(-1));
                    return failure(why, snap).await;
                }
            }
            if self.interrupted.load(Ordering::SeqCst) {
                let output = snap.last_output.clone();
                return Ok((
                    Gate::Failed,
                    Some(("interrupted while waiting".into(), output, vec![])),
                ));
            }
            if Instant::now() >= self.deadline {
                let state = if snap.health.is_empty() {
                    snap.status.clone()
                } else {
                    snap.health.clone()
                };
                let why = format!("not ready before the deadline (health: {state})");
                return failure(why, snap).await;
            }
            // Wake on the next event, at the deadline, to look at the interrupt flag, or (while
            // this container's events are not known to arrive) to poll again.
            let tick = if polled {
                let t = poll;
                poll = (poll * 2).min(Duration::from_millis(500));
                t
            } else {
                Duration::from_millis(250)
            };
            let until = (Instant::now() + tick).min(self.deadline);
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(until.into()) => {}
            }
        }
    }

    async fn inspect(
        &self,
        id: &str,
    ) -> Result<bollard::models::ContainerInspectResponse, EngineError> {
        self.engine
            .call("inspect container", id, |d| {
                d.inspect_container(id, None::<InspectContainerOptions>)
            })
            .await
    }

    async fn log_tail(&self, id: &str) -> Vec<String> {
        use futures_util::StreamExt;
        let opts = LogsOptions {
            stdout: true,
            stderr: true,
            tail: "20".into(),
            ..Default::default()
        };
        let mut stream = self
            .engine
            .call("container logs", id, |d| async move {
                Ok::<_, bollard::errors::Error>(d.logs(id, Some(opts)))
            })
            .await
            .ok();
        let mut lines = Vec::new();
        if let Some(s) = stream.as_mut() {
            while let Some(Ok(chunk)) = s.next().await {
                lines.extend(chunk.to_string().lines().map(str::to_string));
            }
        }
        lines
    }
}

/// Removes a container (stopping it if needed), keeping its named volumes.
async fn force_remove(engine: &Engine, label: &str, id: &str) -> Result<(), EngineError> {
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

fn restart_policy(r: &str) -> RestartPolicy {
    let (name, count) = match r.split_once(':') {
        Some((n, c)) => (n, c.parse().ok()),
        None => (r, None),
    };
    let name = match name {
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => RestartPolicyNameEnum::NO,
    };
    RestartPolicy {
        name: Some(name),
        maximum_retry_count: count,
    }
}

/// The service's memory limit in bytes and CPU limit in billionths of a CPU, as the engine takes them.
fn engine_limits(svc: &Service) -> (Option<i64>, Option<i64>) {
    let limits = svc
        .deploy
        .as_ref()
        .and_then(|d| d.resources.limits.clone())
        .unwrap_or_default();
    (
        limits
            .memory
            .as_deref()
            .and_then(parse_bytes)
            .map(|b| b as i64),
        limits
            .cpus
            .as_deref()
            .and_then(|c| c.parse::<f64>().ok())
            .map(|c| (c * 1e9) as i64),
    )
}

fn ns(d: &Option<String>) -> Option<i64> {
    d.as_deref().and_then(parse_duration).map(|n| n as i64)
}

/// The container create request for a service: everything the file says, plus the labels.
pub fn create_body(
    project: &str,
    service: &str,
    svc: &Service,
    desired: &Desired,
) -> ContainerCreateBody {
    let mut labels: HashMap<String, String> = svc.labels.clone().into_iter().collect();
    labels.insert(LABEL_PROJECT.into(), project.into());
    labels.insert(LABEL_SERVICE.into(), service.into());
    labels.insert(LABEL_NUMBER.into(), "1".into());
    labels.insert(LABEL_ONEOFF.into(), "False".into());
    if let Some(h) = svc.labels.get(LABEL_CONFIG_HASH) {
        labels.insert(LABEL_COMPOSE_HASH.into(), h.clone());
    }
    if let Some(content) = content_label(svc, &desired.hashes) {
        labels.insert(LABEL_SECRETS.into(), content);
    }
    let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &svc.ports {
        port_bindings
            .entry(format!("{}/{}", p.target, p.protocol))
            .or_insert_with(|| Some(vec![]))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(p.host_ip.clone()),
                host_port: Some(p.published.to_string()),
            });
    }
    let mut mounts: Vec<Mount> = svc
        .volumes
        .iter()
        .map(|m| Mount {
            target: Some(m.target.clone()),
            source: Some(if m.kind == "volume" {
                full(project, &m.source)
            } else {
                desired.base_dir.join(&m.source).display().to_string()
            }),
            typ: Some(if m.kind == "volume" {
                MountType::VOLUME
            } else {
                MountType::BIND
            }),
            read_only: Some(m.read_only),
            ..Default::default()
        })
        .collect();
    for s in &svc.secrets {
        if let Some(file) = desired
            .compose
            .secrets
            .get(&s.source)
            .and_then(|x| x.file.as_ref())
        {
            mounts.push(Mount {
                target: Some(s.target.clone()),
                source: Some(desired.base_dir.join(file).display().to_string()),
                typ: Some(MountType::BIND),
                read_only: Some(true),
                ..Default::default()
            });
        }
    }
    let (memory, nano_cpus) = engine_limits(svc);
    let first_net = svc.networks.iter().next();
    ContainerCreateBody {
        image: Some(svc.image.clone()),
        cmd: svc.command.clone(),
        entrypoint: svc.entrypoint.clone(),
        user: svc.user.clone(),
        working_dir: svc.working_dir.clone(),
        env: Some(
            svc.environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        labels: Some(labels),
        exposed_ports: (!svc.ports.is_empty()).then(|| port_bindings.keys().cloned().collect()),
        healthcheck: svc.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: ns(&h.interval),
            timeout: ns(&h.timeout),
            retries: h.retries.map(i64::from),
            start_period: ns(&h.start_period),
            start_interval: None,
        }),
        stop_signal: svc.stop_signal.clone(),
        stop_timeout: ns(&svc.stop_grace_period).map(|n| n / 1_000_000_000),
        host_config: Some(HostConfig {
            restart_policy: Some(restart_policy(svc.restart.as_deref().unwrap_or("no"))),
            log_config: svc.logging.as_ref().map(|l| HostConfigLogConfig {
                typ: Some(l.driver.clone()),
                config: Some(l.options.clone().into_iter().collect()),
            }),
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            mounts: (!mounts.is_empty()).then_some(mounts),
            tmpfs: (!svc.tmpfs.is_empty()).then(|| {
                svc.tmpfs
                    .iter()
                    .map(|t| (t.clone(), String::new()))
                    .collect()
            }),
            readonly_rootfs: Some(svc.read_only),
            cap_add: (!svc.cap_add.is_empty()).then(|| svc.cap_add.clone()),
            cap_drop: (!svc.cap_drop.is_empty()).then(|| svc.cap_drop.clone()),
            security_opt: (!svc.security_opt.is_empty()).then(|| svc.security_opt.clone()),
            pids_limit: svc.pids_limit,
            memory,
            nano_cpus,
            network_mode: first_net.map(|(n, _)| full(project, n)),
            ..Default::default()
        }),
        networking_config: first_net.map(|(n, sn)| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                full(project, n),
                EndpointSettings {
                    aliases: Some(sn.aliases.clone()),
                    ..Default::default()
                },
            )])),
        }),
        ..Default::default()
    }
}

/// A tar archive (relative to `/`) holding each file at its absolute target, mode 0444 (as
/// Compose: readable by a non-root container user), with its parent directories.
fn tar_of(files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dirs: BTreeMap<String, ()> = BTreeMap::new();
    for (target, _) in files {
        let mut path = std::path::Path::new(target.trim_start_matches('/')).parent();
        while let Some(p) = path.filter(|p| !p.as_os_str().is_empty()) {
            dirs.insert(p.display().to_string(), ());
            path = p.parent();
        }
    }
    for dir in dirs.keys() {
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

/// Re-exported so the CLI can observe and plan in one place.
pub use state::observe;

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{EventActor, EventMessage};

    fn event(id: &str, action: &str, exit: Option<&str>) -> EventMessage {
        EventMessage {
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some(id.into()),
                attributes: exit.map(|c| HashMap::from([("exitCode".to_string(), c.to_string())])),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn events_give_each_container_its_latest_state() {
        let ev = Events::default();
        assert!(ev.get("a").is_none(), "no event seen: the waiter polls");
        ev.record(event("a", "create", None));
        let a = Snapshot::from_seen(&ev.get("a").unwrap());
        assert_eq!(a.status, "created");
        ev.record(event("a", "start", None));
        ev.record(event("a", "health_status: healthy", None));
        let a = Snapshot::from_seen(&ev.get("a").unwrap());
        assert_eq!(
            (a.status.as_str(), a.health.as_str()),
            ("running", "healthy")
        );
        ev.record(event("a", "die", Some("3")));
        let a = Snapshot::from_seen(&ev.get("a").unwrap());
        assert_eq!((a.status.as_str(), a.exit_code), ("exited", Some(3)));
        // A restart clears the old health and exit.
        ev.record(event("a", "start", None));
        let a = Snapshot::from_seen(&ev.get("a").unwrap());
        assert_eq!(
            (a.status.as_str(), a.health.as_str(), a.exit_code),
            ("running", "", None)
        );
        ev.record(event("b", "health_status: unhealthy", None));
        assert_eq!(ev.get("b").unwrap().health.as_deref(), Some("unhealthy"));
    }
}
