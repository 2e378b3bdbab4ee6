//! One apply per project and engine at a time: a lock held by an object on the engine itself,
//! so that applies from different machines (two CI runners, a laptop and a runner) and through
//! different addresses of one engine (its socket, ssh, tcp) serialize.
//!
//! Takes: a connected [`Engine`], the project name, a deadline and a staleness window. Gives: a
//! held [`EngineLock`] (released with [`EngineLock::release`]), or, at the deadline, the
//! [`Holder`] that still has it.
//!
//! The lock is a container named `fedgen-lock.PROJECT` (a dot, which no Compose name has), made
//! from `fedgen/empty:1` (an empty image fedgen imports once: no layer, no process) and never
//! started: the engine reserves container names atomically, so of two creates one gets a 409.
//! Its labels say who holds it (host, pid, start time, CI job, boot id and pid namespace, the
//! staleness window); the holder uploads a heartbeat file into it every sixth of the window.
//! A waiter takes the lock over (removing that container, by id) when its holder is dead: on the
//! same machine and pid namespace, as soon as the pid is gone (or is another process); from
//! anywhere, when the heartbeat has not changed for the holder's window, measured on the
//! waiter's own clock (no clock of two machines is compared). A holder whose lock was taken over
//! (it was frozen longer than its window) finds its container gone at the next heartbeat and
//! says so. Other projects use other names and never wait.

use crate::deploy::engine::{Engine, EngineError};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptions, DownloadFromContainerOptions,
    RemoveContainerOptions, UploadToContainerOptions,
};
use futures_util::TryStreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The image of the containers fedgen keeps state in (the lock, the secret store's writer): no
/// layer, no process; imported once per engine.
pub const EMPTY_IMAGE: &str = "fedgen/empty:1";
pub const LABEL_LOCK: &str = "dev.fedgen.lock";
const LABEL_HOST: &str = "dev.fedgen.lock.host";
const LABEL_PID: &str = "dev.fedgen.lock.pid";
const LABEL_STARTED: &str = "dev.fedgen.lock.started";
const LABEL_JOB: &str = "dev.fedgen.lock.job";
const LABEL_BOOT: &str = "dev.fedgen.lock.boot-id";
const LABEL_PIDNS: &str = "dev.fedgen.lock.pid-ns";
const LABEL_PROC_START: &str = "dev.fedgen.lock.proc-start";
const LABEL_STALE: &str = "dev.fedgen.lock.stale-after";
/// How long a takeover from a holder whose process is gone waits for the requests that process
/// had in flight to finish on the engine.
const SETTLE_AFTER_DEAD_HOLDER: Duration = Duration::from_secs(2);
const HEARTBEAT: &str = "heartbeat";

/// How long a holder may go without a heartbeat before others take its lock over:
/// `FEDGEN_LOCK_STALE_AFTER` (a duration, e.g. `30s`), else 30 s.
pub fn stale_after_from_env() -> Duration {
    std::env::var("FEDGEN_LOCK_STALE_AFTER")
        .ok()
        .and_then(|v| v.parse::<crate::units::Duration>().ok())
        .map(crate::units::Duration::to_std)
        .filter(|d| *d >= Duration::from_secs(1))
        .unwrap_or(Duration::from_secs(30))
}

/// The container that holds a project's lock.
pub fn lock_name(project: &str) -> String {
    format!("fedgen-lock.{project}")
}

/// Who holds a lock, as its labels say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    /// Unix seconds, on the holder's clock.
    pub started: u64,
    /// A CI job's URL, when the holder ran in one.
    pub job: Option<String>,
    boot_id: String,
    pid_ns: String,
    proc_start: String,
    pub stale_after: Duration,
}

impl Holder {
    fn me(stale_after: Duration) -> Holder {
        let pid = std::process::id();
        Holder {
            host: read_trimmed("/proc/sys/kernel/hostname").unwrap_or_else(|| "unknown".into()),
            pid,
            started: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            job: ci_job(),
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default(),
            pid_ns: std::fs::read_link("/proc/self/ns/pid")
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            proc_start: proc_start(pid).unwrap_or_default(),
            stale_after,
        }
    }

    fn labels(&self, project: &str) -> HashMap<String, String> {
        let mut l = HashMap::from([
            (LABEL_LOCK.to_string(), project.to_string()),
            (LABEL_HOST.to_string(), self.host.clone()),
            (LABEL_PID.to_string(), self.pid.to_string()),
            (LABEL_STARTED.to_string(), self.started.to_string()),
            (LABEL_BOOT.to_string(), self.boot_id.clone()),
            (LABEL_PIDNS.to_string(), self.pid_ns.clone()),
            (LABEL_PROC_START.to_string(), self.proc_start.clone()),
            (
                LABEL_STALE.to_string(),
                self.stale_after.as_secs().to_string(),
            ),
        ]);
        if let Some(j) = &self.job {
            l.insert(LABEL_JOB.to_string(), j.clone());
        }
        l
    }

    pub fn from_labels(l: &HashMap<String, String>) -> Holder {
        let get = |k: &str| l.get(k).cloned().unwrap_or_default();
        Holder {
            host: get(LABEL_HOST),
            pid: get(LABEL_PID).parse().unwrap_or(0),
            started: get(LABEL_STARTED).parse().unwrap_or(0),
            job: l.get(LABEL_JOB).cloned(),
            boot_id: get(LABEL_BOOT),
            pid_ns: get(LABEL_PIDNS),
            proc_start: get(LABEL_PROC_START),
            stale_after: Duration::from_secs(get(LABEL_STALE).parse().unwrap_or(30).max(1)),
        }
    }

    /// Known dead without waiting: it ran on this machine, in this pid namespace, and its
    /// process is gone (or the pid is another process now).
    fn dead_here(&self) -> bool {
        let me = Holder::me(self.stale_after);
        if self.boot_id.is_empty() || self.boot_id != me.boot_id || self.pid_ns != me.pid_ns {
            return false;
        }
        proc_start(self.pid).as_deref() != Some(self.proc_start.as_str())
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on {}", self.pid, self.host)?;
        if let Some(j) = &self.job {
            write!(f, ", {j}")?;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if self.started > 0 && now >= self.started {
            write!(f, ", for {}s", now - self.started)?;
        }
        Ok(())
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The start time of a process (field 22 of /proc/PID/stat, in clock ticks since boot).
fn proc_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19).map(str::to_string)
}

/// The CI job this runs in (GitHub Actions, GitLab CI), to say who holds a lock.
fn ci_job() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(server), Some(repo), Some(run)) = (
        var("GITHUB_SERVER_URL"),
        var("GITHUB_REPOSITORY"),
        var("GITHUB_RUN_ID"),
    ) {
        return Some(format!("{server}/{repo}/actions/runs/{run}"));
    }
    var("CI_JOB_URL")
}

#[derive(Debug)]
pub enum LockError {
    /// Another apply held the lock until the deadline.
    Busy {
        holder: Holder,
    },
    Engine(EngineError),
}

impl From<EngineError> for LockError {
    fn from(e: EngineError) -> Self {
        LockError::Engine(e)
    }
}

/// What a waiter is told.
pub enum Wait<'a> {
    /// Someone holds the lock: waiting for them.
    Held(&'a Holder),
    /// Its holder is dead: the lock was taken over (why).
    TakenOver(&'a Holder, String),
}

/// A held lock: release it with [`EngineLock::release`]. While held, a heartbeat runs.
pub struct EngineLock {
    engine: Engine,
    id: String,
    name: String,
    heartbeat: tokio::task::JoinHandle<()>,
    lost: Arc<AtomicBool>,
}

/// The empty image, imported if the engine does not have it (one inspect otherwise).
pub async fn ensure_empty_image(engine: &Engine) -> Result<(), EngineError> {
    match engine
        .call("inspect image", EMPTY_IMAGE, |d| {
            d.inspect_image(EMPTY_IMAGE)
        })
        .await
    {
        Ok(_) => return Ok(()),
        Err(e) if e.status() == Some(404) => {}
        Err(e) => return Err(e),
    }
    // An empty tar archive: two zero blocks.
    let empty = bytes::Bytes::from(vec![0u8; 1024]);
    let (repo, tag) = EMPTY_IMAGE.split_once(':').expect("name:tag");
    let opts = CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(repo.into()),
        tag: Some(tag.into()),
        changes: vec![
            r#"CMD ["/fedgen-never-started"]"#.into(),
            "LABEL dev.fedgen.role=empty".into(),
        ],
        ..Default::default()
    };
    engine
        .stream("import image", EMPTY_IMAGE, |d| {
            d.create_image(Some(opts), Some(bollard::body_full(empty)), None)
        })
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

impl EngineLock {
    /// Takes the project's lock, waiting until `deadline`; `on_wait` hears who holds it (once
    /// per holder) and any takeover of a dead holder's lock. `stale_after`: this holder's window.
    pub async fn acquire(
        engine: &Engine,
        project: &str,
        deadline: Instant,
        stale_after: Duration,
        mut on_wait: impl FnMut(Wait<'_>),
    ) -> Result<EngineLock, LockError> {
        ensure_empty_image(engine).await?;
        let name = lock_name(project);
        let me = Holder::me(stale_after);
        // The holder being watched: its container, its last heartbeat, when that last changed.
        let mut watched: Option<(String, Option<String>, Instant)> = None;
        let mut told: Option<String> = None;
        loop {
            let body = ContainerCreateBody {
                image: Some(EMPTY_IMAGE.into()),
                labels: Some(me.labels(project)),
                network_disabled: Some(true),
                host_config: Some(HostConfig {
                    network_mode: Some("none".into()),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let opts = CreateContainerOptionsBuilder::new().name(&name).build();
            match engine
                .call("create lock", &name, |d| {
                    d.create_container(Some(opts), body)
                })
                .await
            {
                Ok(created) => {
                    let lost = Arc::new(AtomicBool::new(false));
                    let heartbeat = tokio::spawn(beat(
                        engine.clone(),
                        created.id.clone(),
                        stale_after / 6,
                        lost.clone(),
                    ));
                    return Ok(EngineLock {
                        engine: engine.clone(),
                        id: created.id,
                        name,
                        heartbeat,
                        lost,
                    });
                }
                Err(e) if e.status() == Some(409) => {}
                Err(e) if e.status() == Some(404) => {
                    // The image went away (pruned) between the inspect and the create.
                    ensure_empty_image(engine).await?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            // Held: by whom, and is it alive?
            let info = match engine
                .call("inspect lock", &name, |d| {
                    d.inspect_container(
                        &name,
                        None::<bollard::query_parameters::InspectContainerOptions>,
                    )
                })
                .await
            {
                Ok(i) => i,
                Err(e) if e.status() == Some(404) => continue, // released meanwhile
                Err(e) => return Err(e.into()),
            };
            let id = info.id.unwrap_or_default();
            let holder =
                Holder::from_labels(&info.config.and_then(|c| c.labels).unwrap_or_default());
            let beat = read_heartbeat(engine, &id).await?;
            let now = Instant::now();
            let since = match &watched {
                Some((wid, wbeat, at)) if *wid == id && *wbeat == beat => *at,
                _ => now,
            };
            watched = Some((id.clone(), beat, since));
            let dead = holder.dead_here();
            let stale = if dead {
                Some(format!(
                    "its process is gone (pid {} on this machine)",
                    holder.pid
                ))
            } else if now.duration_since(since) >= holder.stale_after {
                Some(format!(
                    "no heartbeat for {}s, its window",
                    holder.stale_after.as_secs()
                ))
            } else {
                None
            };
            if let Some(why) = stale {
                on_wait(Wait::TakenOver(&holder, why));
                remove(engine, &id).await?;
                if dead {
                    // The engine finishes what a killed client had sent (a network create
                    // lands after its sender died): let those requests settle before this
                    // apply reads the host, or it would make a second network of the same name
                    // (API 1.41 allows that) and find the name ambiguous.
                    tokio::time::sleep(SETTLE_AFTER_DEAD_HOLDER).await;
                }
                watched = None;
                continue;
            }
            if now >= deadline {
                return Err(LockError::Busy { holder });
            }
            if told.as_deref() != Some(id.as_str()) {
                on_wait(Wait::Held(&holder));
                told = Some(id);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Set when the lock was taken over while held (this process was frozen past its window).
    pub fn lost(&self) -> Arc<AtomicBool> {
        self.lost.clone()
    }

    /// The lock's container name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops the heartbeat and removes the lock (only this holder's container, by id).
    pub async fn release(self) {
        self.heartbeat.abort();
        let _ = remove(&self.engine, &self.id).await;
    }
}

async fn remove(engine: &Engine, id: &str) -> Result<(), EngineError> {
    let opts = RemoveContainerOptions {
        force: true,
        v: false,
        link: false,
    };
    match engine
        .call("remove lock", id, |d| d.remove_container(id, Some(opts)))
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if e.status() == Some(404) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The heartbeat file in the lock container (`None` before the first beat).
async fn read_heartbeat(engine: &Engine, id: &str) -> Result<Option<String>, EngineError> {
    let opts = DownloadFromContainerOptions {
        path: format!("/{HEARTBEAT}"),
    };
    let stream = engine
        .stream_read("read heartbeat", id, |d| {
            d.download_from_container(id, Some(opts))
        })
        .try_fold(Vec::new(), |mut acc, b| async move {
            acc.extend_from_slice(&b);
            Ok(acc)
        })
        .await;
    let tar = match stream {
        Ok(t) => t,
        Err(e) if e.status() == Some(404) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut archive = tar::Archive::new(tar.as_slice());
    let Ok(mut entries) = archive.entries() else {
        return Ok(None);
    };
    if let Some(Ok(mut e)) = entries.next() {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut e, &mut s);
        return Ok(Some(s));
    }
    Ok(None)
}

/// Uploads a new heartbeat every `every` until aborted; a lock that is gone sets `lost`.
async fn beat(engine: Engine, id: String, every: Duration, lost: Arc<AtomicBool>) {
    let every = every.max(Duration::from_millis(200));
    let mut n: u64 = 0;
    loop {
        tokio::time::sleep(every).await;
        n += 1;
        let content = format!("{n}\n");
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(content.len() as u64);
        h.set_mtime(0);
        if b.append_data(&mut h, HEARTBEAT, content.as_bytes())
            .is_err()
        {
            continue;
        }
        let Ok(tar) = b.into_inner() else { continue };
        let opts = UploadToContainerOptions {
            path: "/".into(),
            ..Default::default()
        };
        match engine
            .call("heartbeat", &id, |d| {
                d.upload_to_container(&id, Some(opts), bollard::body_full(tar.into()))
            })
            .await
        {
            Ok(()) => {}
            Err(e) if e.status() == Some(404) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(_) => {}
        }
    }
}

/// Whether a container list (as the state reader lists every container) shows the project's
/// lock: a no-op apply that sees none needs no lock.
pub fn listed(containers: &[bollard::models::ContainerSummary], project: &str) -> bool {
    let name = format!("/{}", lock_name(project));
    containers
        .iter()
        .any(|c| c.names.iter().flatten().any(|n| *n == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_reads_back_from_its_labels() {
        let me = Holder::me(Duration::from_secs(12));
        let back = Holder::from_labels(&me.labels("p"));
        assert_eq!(back, me);
        assert_eq!(back.stale_after, Duration::from_secs(12));
        // Alive: this very process.
        assert!(!me.dead_here());
        // A pid that is not running here (pid_max is below 2^22).
        let mut gone = me.clone();
        gone.pid = 4_194_304 + 7;
        assert!(gone.dead_here());
        // Another machine (or pid namespace): only the heartbeat can tell.
        let mut elsewhere = gone.clone();
        elsewhere.boot_id = "another-boot".into();
        assert!(!elsewhere.dead_here());
        let mut other_ns = gone;
        other_ns.pid_ns = "pid:[1]".into();
        assert!(!other_ns.dead_here());
        assert!(me.to_string().starts_with(&format!("pid {} on ", me.pid)));
    }
}
