//! What an apply did: per service an [`Outcome`], for the rollout a [`Status`] that knows its
//! exit code, and the [`Report`] both are rendered from (text by the CLI, JSON as it is).

use crate::exit;
use serde::Serialize;

/// What happened to one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Created,
    Recreated,
    /// Changed in place (container update, network connect or disconnect).
    Updated,
    Started,
    Unchanged,
    /// Not started: something it depends on did not become ready, or the rollout stopped.
    Skipped,
    /// Did not become ready (or the engine failed on it).
    Failed,
    /// Did not become ready; the previous container was put back.
    RolledBack,
    /// Stopped by a signal.
    Interrupted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Recreated => "recreated",
            Outcome::Updated => "updated",
            Outcome::Started => "started",
            Outcome::Unchanged => "unchanged",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled-back",
            Outcome::Interrupted => "interrupted",
        }
    }

    /// The service changed on the host and is ready.
    pub fn changed(self) -> bool {
        matches!(
            self,
            Outcome::Created | Outcome::Recreated | Outcome::Updated | Outcome::Started
        )
    }

    /// The service did not become ready.
    pub fn failed(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::RolledBack)
    }

    /// The service was not started at all.
    pub fn not_started(self) -> bool {
        matches!(self, Outcome::Skipped | Outcome::Interrupted)
    }
}

/// How the rollout as a whole ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Nothing to do: no call that changes anything was made.
    InSync,
    Converged,
    HealthFailed,
    Refused,
    EngineFailed,
    Interrupted,
}

impl Status {
    pub fn exit_code(self) -> i32 {
        match self {
            Status::InSync | Status::Converged => exit::OK,
            Status::HealthFailed => exit::HEALTH_FAILED,
            Status::Refused => exit::REFUSED,
            Status::EngineFailed => exit::ENGINE_FAILED,
            Status::Interrupted => exit::INTERRUPTED,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::InSync => "in-sync",
            Status::Converged => "converged",
            Status::HealthFailed => "health-failed",
            Status::Refused => "refused",
            Status::EngineFailed => "engine-failed",
            Status::Interrupted => "interrupted",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceResult {
    pub service: String,
    pub result: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_health_output: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// How long the service was down while it was replaced (recreate or adoption): from the
    /// stop of the container that ran it to its replacement's health gate (or its start, without
    /// a healthcheck); with a rollback, to the old container back. `None`: nothing ran before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downtime_ms: Option<u128>,
    /// `--adopt`: the unmanaged containers this service replaced (removed once the replacement
    /// was ready; their volumes and bind mounts kept).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub adopted: Vec<String>,
}

impl ServiceResult {
    pub fn new(service: &str, result: Outcome) -> ServiceResult {
        ServiceResult {
            service: service.to_string(),
            result,
            container: None,
            error: None,
            last_health_output: None,
            log_tail: vec![],
            downtime_ms: None,
            adopted: vec![],
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub services: Vec<ServiceResult>,
    pub networks_created: Vec<String>,
    pub networks_removed: Vec<String>,
    pub volumes_created: Vec<String>,
    pub volumes_removed: Vec<String>,
    /// Generated secrets made on the engine by this apply (their first use there).
    pub secrets_generated: Vec<String>,
    pub orphans_removed: Vec<String>,
    pub orphans_kept: Vec<String>,
    pub adopted: Vec<String>,
    /// Swarm: secrets and configs made (`secret NAME`), and removed (older contents, or those
    /// made for a rollout that was rolled back).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects_created: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects_removed: Vec<String>,
    pub api_calls: usize,
    pub mutating_calls: usize,
    pub elapsed_ms: u128,
}

impl Report {
    pub fn new(status: Status) -> Report {
        Report {
            status,
            reason: None,
            services: vec![],
            networks_created: vec![],
            networks_removed: vec![],
            volumes_created: vec![],
            volumes_removed: vec![],
            secrets_generated: vec![],
            orphans_removed: vec![],
            orphans_kept: vec![],
            adopted: vec![],
            objects_created: vec![],
            objects_removed: vec![],
            api_calls: 0,
            mutating_calls: 0,
            elapsed_ms: 0,
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.status.exit_code()
    }

    /// How many services ended with `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.services.iter().filter(|s| s.result == outcome).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_outcomes_keep_their_public_names() {
        assert_eq!(
            serde_json::to_string(&Status::HealthFailed).unwrap(),
            "\"health-failed\""
        );
        assert_eq!(
            serde_json::to_string(&Outcome::RolledBack).unwrap(),
            "\"rolled-back\""
        );
        for s in [
            Status::InSync,
            Status::Converged,
            Status::HealthFailed,
            Status::Refused,
            Status::EngineFailed,
            Status::Interrupted,
        ] {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(Status::Refused.exit_code(), 4);
        assert_eq!(Status::InSync.exit_code(), 0);
    }
}
