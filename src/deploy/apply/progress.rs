//! Progress: what apply reports while it works, apart from how it is shown.
//!
//! The rollout calls [`Progress::step`] with a [`Step`] per service (or network) as it moves; the
//! command line implements the trait three ways (a live table on a terminal, plain lines in CI
//! logs, one JSON object per line), as ripgrep keeps its printers apart from its searcher. Every
//! detail has been scrubbed of secret values before it reaches an implementation.

use serde::Serialize;

/// One step of a service's (or network's) rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// An unmanaged container with the service's name is being replaced (`--adopt`).
    Adopting,
    NetworkCreated,
    /// A generated secret was made on the engine (the first apply that needs it).
    SecretGenerated,
    Creating,
    Starting,
    /// Stopping the container being replaced.
    Stopping,
    UpdatingInPlace,
    /// A swarm service's tasks are being replaced (a rolling update).
    Updating,
    WaitingForHealth,
    Healthy,
    /// Running (no healthcheck to wait for).
    Running,
    /// A one-shot service exited 0.
    Completed,
    Skipped,
    Failed,
    RollingBack,
    RemovingOrphan,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Adopting => "adopting",
            Step::NetworkCreated => "network created",
            Step::SecretGenerated => "secret generated on the engine",
            Step::Creating => "creating",
            Step::Starting => "starting",
            Step::Stopping => "stopping",
            Step::UpdatingInPlace => "updating in place",
            Step::Updating => "updating",
            Step::WaitingForHealth => "waiting for health",
            Step::Healthy => "healthy",
            Step::Running => "running",
            Step::Completed => "completed",
            Step::Skipped => "skipped",
            Step::Failed => "failed",
            Step::RollingBack => "rolling back",
            Step::RemovingOrphan => "removing orphan",
        }
    }

    /// The step ends the subject's part of the rollout.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Step::Healthy | Step::Running | Step::Completed | Step::Skipped | Step::Failed
        )
    }
}

/// Where progress goes. Implementations must be cheap: the rollout calls them from its tasks.
pub trait Progress: Send + Sync {
    /// `subject` (a service or a network) reached `step`; `detail` may be empty.
    fn step(&self, subject: &str, step: Step, detail: &str);
}

/// Progress that goes nowhere (library callers and tests).
pub struct Silent;

impl Progress for Silent {
    fn step(&self, _: &str, _: Step, _: &str) {}
}
