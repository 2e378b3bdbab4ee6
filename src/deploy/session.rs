//! A session with the engine for one compose file: connect, read the host, plan; the plan an
//! apply acts on, made under the project's lock on the engine; and plans saved to a file and
//! checked again before they are applied.
//!
//! Takes: a loaded [`Desired`] file and a [`Refresh`] depth. Gives: the connected [`Engine`] and
//! the [`Plan`] (with its pre-flight findings), or an [`EngineError`] that says where fedgen
//! looked and what to check; for apply ([`prepare_apply`]), the plan and the held
//! [`EngineLock`] (none for an in-sync host that no apply is changing: a no-op costs no lock); a
//! [`PlanDocument`] to print or save, and a [`SavedPlan`] read back, which is applied only while
//! the file and the host are as they were ([`SavedPlan::stale`]).

use crate::deploy::desired::Desired;
use crate::deploy::endpoint::Selection;
use crate::deploy::engine::{Engine, EngineError};
use crate::deploy::lock::{EngineLock, Holder, LockError, Wait};
use crate::deploy::plan::{self, Plan, PLAN_VERSION};
use crate::deploy::preflight;
use crate::deploy::state::{self, Refresh};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Connects to the engine, reads the project's state at `refresh` depth and plans against the
/// file.
pub async fn connect_and_plan(
    selection: &Selection,
    desired: &Desired,
    refresh: Refresh,
) -> Result<(Engine, Plan), EngineError> {
    let engine = Engine::connect(selection).await?;
    let plan = plan_with(&engine, desired, refresh).await?;
    Ok((engine, plan))
}

/// Reads the project's state through `engine` and plans against the file.
pub async fn plan_with(
    engine: &Engine,
    desired: &Desired,
    refresh: Refresh,
) -> Result<Plan, EngineError> {
    let observed = state::observe(engine, desired, refresh).await?;
    let mut plan = plan::plan(
        &desired.compose,
        &observed,
        &crate::deploy::secrets::hashes(desired, &observed.store),
        &desired.compose_hashes,
        &desired.base_dir,
    );
    let mut cache = preflight::Cache::load();
    plan.preflight = preflight::check(engine, desired, &plan, &observed.images, &mut cache).await?;
    cache.save();
    Ok(plan)
}

/// Why an apply could not get as far as its rollout.
#[derive(Debug)]
pub enum PrepareError {
    /// The engine failed (unreachable, an API error): nothing changed.
    Engine(EngineError),
    /// Another apply held the project's lock until the deadline.
    Busy(Holder),
    /// A missing image could not be pulled.
    Pull(EngineError),
}

/// How long to wait for the project's lock, and this holder's staleness window.
#[derive(Debug, Clone, Copy)]
pub struct LockSpec {
    pub deadline: std::time::Instant,
    pub stale_after: std::time::Duration,
}

/// The plan an apply acts on. The host is read first without the lock: an in-sync host with no
/// lock on it is a no-op that takes none (and makes no call that changes anything). Otherwise
/// the project's lock is taken on the engine (waiting for another apply, or taking over a dead
/// one's) and the host is read again under it, so two applies never act on one host at once;
/// missing images are pulled (`pull`) and the plan made again, as Compose does.
pub async fn prepare_apply(
    engine: &Engine,
    desired: &Desired,
    refresh: Refresh,
    pull: bool,
    lock: LockSpec,
    on_wait: impl FnMut(Wait<'_>),
) -> Result<(Plan, Option<EngineLock>), PrepareError> {
    let first = plan_with(engine, desired, refresh)
        .await
        .map_err(PrepareError::Engine)?;
    if first.in_sync && !first.locked {
        return Ok((first, None));
    }
    let held = EngineLock::acquire(
        engine,
        &desired.compose.name,
        lock.deadline,
        lock.stale_after,
        on_wait,
    )
    .await
    .map_err(|e| match e {
        LockError::Busy { holder } => PrepareError::Busy(holder),
        LockError::Engine(e) => PrepareError::Engine(e),
    })?;
    let planned = async {
        let plan = plan_with(engine, desired, refresh)
            .await
            .map_err(PrepareError::Engine)?;
        if !pull || !plan.preflight.iter().any(|p| p.image_missing) {
            return Ok(plan);
        }
        preflight::pull_missing(engine, &plan)
            .await
            .map_err(PrepareError::Pull)?;
        plan_with(engine, desired, refresh)
            .await
            .map_err(PrepareError::Engine)
    }
    .await;
    match planned {
        Ok(plan) => Ok((plan, Some(held))),
        Err(e) => {
            held.release().await;
            Err(e)
        }
    }
}

/// The plan as `diff --output json` prints it and `diff --out` saves it (docs/diff.md).
#[derive(Serialize)]
pub struct PlanDocument<'a> {
    #[serde(flatten)]
    pub plan: &'a Plan,
    /// The engine's address.
    pub engine: &'a str,
    pub api_calls: usize,
    pub file: String,
    /// sha256 of the compose file, so a saved plan is refused once the file changes.
    pub file_sha256: String,
    /// sha256 of the project as read (files, included files, variables, secret and config
    /// content hashes), so a saved plan is refused once any of them changes.
    pub desired_sha256: String,
}

impl PlanDocument<'_> {
    /// Pretty JSON, scrubbed of every secret value the file's environment knows.
    pub fn to_json(&self, desired: &impl crate::deploy::report::Redactor) -> String {
        desired.redact(&serde_json::to_string_pretty(self).expect("the plan serializes"))
    }
}

/// sha256 of a file's bytes (empty when it cannot be read).
/// sha256 of the compose files' bytes (of the file itself when there is one).
pub fn file_sha256(files: &[std::path::PathBuf]) -> String {
    let mut all = Vec::new();
    for f in files {
        all.extend(std::fs::read(f).unwrap_or_default());
    }
    crate::model::sha256_hex(all)
}

/// What `fedgen apply PLAN` needs of a saved plan.
#[derive(Debug, Deserialize)]
pub struct SavedPlan {
    pub version: u32,
    pub project: String,
    pub file: PathBuf,
    pub file_sha256: String,
    #[serde(default)]
    pub desired_sha256: Option<String>,
    pub fingerprint: String,
    /// Plans saved before fedgen had refresh depths were read in full.
    #[serde(default = "full")]
    pub refresh: Refresh,
}

fn full() -> Refresh {
    Refresh::Full
}

#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("cannot read the saved plan {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0} is not a plan saved by `fedgen diff --out`: {1}")]
    Parse(PathBuf, serde_json::Error),
    #[error("{0} is a plan of version {1}; this fedgen reads version {PLAN_VERSION}")]
    Version(PathBuf, u32),
}

impl SavedPlan {
    pub fn load(path: &Path) -> Result<SavedPlan, SavedPlanError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SavedPlanError::Read(path.to_path_buf(), e))?;
        let saved: SavedPlan = serde_json::from_str(&text)
            .map_err(|e| SavedPlanError::Parse(path.to_path_buf(), e))?;
        if saved.version != PLAN_VERSION {
            return Err(SavedPlanError::Version(path.to_path_buf(), saved.version));
        }
        Ok(saved)
    }

    /// Why the plan may no longer be applied (the file or the host changed since it was
    /// saved), or `None` when it still holds.
    pub fn stale(&self, desired: &Desired, now: &Plan) -> Option<String> {
        self.stale_for(&desired.file, &desired.files, &desired.fingerprint(), now)
    }

    /// [`SavedPlan::stale`] for any file: its name, its bytes (`files`), the fingerprint of what
    /// was read with them, and the plan made now.
    pub fn stale_for(
        &self,
        file: &Path,
        files: &[std::path::PathBuf],
        desired_sha256: &str,
        now: &Plan,
    ) -> Option<String> {
        if file_sha256(files) != self.file_sha256 {
            Some(format!(
                "{} changed since the plan was saved",
                file.display()
            ))
        } else if self
            .desired_sha256
            .as_ref()
            .is_some_and(|d| d != desired_sha256)
        {
            Some("the project's variables, env files or included files changed since the plan was saved".into())
        } else if now.fingerprint != self.fingerprint {
            Some("the host changed since the plan was saved".into())
        } else {
            None
        }
    }
}
