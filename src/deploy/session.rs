//! A session with the engine for one compose file: connect, read the host, plan; and plans saved
//! to a file and checked again before they are applied.
//!
//! Takes: a loaded [`Desired`] file and a [`Refresh`] depth. Gives: the connected [`Engine`] and
//! the [`Plan`] (with its pre-flight findings), or an [`EngineError`] that says where fedgen looked and what to check; a
//! [`PlanDocument`] to print or save, and a [`SavedPlan`] read back, which is applied only while
//! the file and the host are as they were ([`SavedPlan::stale`]).

use crate::deploy::desired::Desired;
use crate::deploy::engine::{Engine, EngineError};
use crate::deploy::plan::{self, Plan, PLAN_VERSION};
use crate::deploy::preflight;
use crate::deploy::state::{self, Refresh};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Connects to the engine, reads the project's state at `refresh` depth and plans against the
/// file.
pub async fn connect_and_plan(
    desired: &Desired,
    refresh: Refresh,
) -> Result<(Engine, Plan), EngineError> {
    let engine = Engine::connect().await?;
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
        &desired.hashes,
        &desired.base_dir,
    );
    let mut cache = preflight::Cache::load();
    plan.preflight = preflight::check(engine, desired, &plan, &observed.images, &mut cache).await?;
    cache.save();
    Ok(plan)
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
}

impl PlanDocument<'_> {
    /// Pretty JSON, scrubbed of every secret value the file's environment knows.
    pub fn to_json(&self, desired: &impl crate::deploy::report::Redactor) -> String {
        desired.redact(&serde_json::to_string_pretty(self).expect("the plan serializes"))
    }
}

/// sha256 of a file's bytes (empty when it cannot be read).
pub fn file_sha256(path: &Path) -> String {
    std::fs::read(path)
        .map(crate::model::sha256_hex)
        .unwrap_or_default()
}

/// What `fedgen apply PLAN` needs of a saved plan.
#[derive(Debug, Deserialize)]
pub struct SavedPlan {
    pub version: u32,
    pub project: String,
    pub file: PathBuf,
    pub file_sha256: String,
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
    pub fn stale(&self, file: &Path, now: &Plan) -> Option<String> {
        if file_sha256(file) != self.file_sha256 {
            Some(format!(
                "{} changed since the plan was saved",
                file.display()
            ))
        } else if now.fingerprint != self.fingerprint {
            Some("the host changed since the plan was saved".into())
        } else {
            None
        }
    }
}
