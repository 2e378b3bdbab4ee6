//! The fields of a service that can differ between the file and the host, each knowing whether
//! the engine can change it in place (no restart) and which call does it.

use serde::{Serialize, Serializer};
use std::fmt;

/// One comparable part of a service, as the plan names it (`restart`, `env JOB_TIMEOUT`, ...).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Image,
    /// The image the tag names now differs from the one the container was made from.
    ImageId,
    Command,
    Entrypoint,
    User,
    WorkingDir,
    Env(String),
    Restart,
    Healthcheck,
    /// Attached to a network, or not.
    Network(String),
    NetworkAliases(String),
    Ports,
    Volumes,
    Tmpfs,
    ShmSize,
    Logging,
    ReadOnly,
    CapDrop,
    CapAdd,
    SecurityOpt,
    PidsLimit,
    StopSignal,
    StopGracePeriod,
    Memory,
    Cpus,
    MemoryReservation,
    Label(String),
    /// The container's config-hash label differs, and no other field shows why.
    ConfigHash,
    /// The content of a secret or config the service reads.
    Content(String),
    ContainerName,
    /// More than one container for the service.
    Containers,
    /// Swarm: the secrets a service reads (source, target, mode).
    Secrets,
    /// Swarm: the configs a service reads (source, target, mode).
    Configs,
    /// Swarm: how many tasks run.
    Replicas,
    /// Swarm: replicated or replicated-job.
    Mode,
    /// Swarm: how the service's tasks are replaced (`deploy.update_config`).
    UpdateConfig,
    /// Swarm: how an update is undone (`deploy.rollback_config`).
    RollbackConfig,
    /// Swarm: where tasks may run (`deploy.placement`).
    Placement,
    /// Swarm: how the service's name resolves (`deploy.endpoint_mode`).
    EndpointMode,
    /// Any other setting of the container, by its Compose key (`hostname`, `sysctls`, ...): only
    /// a new container has it.
    Setting(&'static str),
    /// The fixed address of the container on a network.
    NetworkAddress(String),
}

/// How the engine applies a change to a running container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repair {
    /// `container update` (restart policy, memory, CPU and pids limits): no restart.
    Update,
    /// `network connect` / `disconnect`: no restart.
    Network,
    /// Only a new container has it.
    Recreate,
}

impl Field {
    pub fn repair(&self) -> Repair {
        match self {
            Field::Restart | Field::Memory | Field::Cpus | Field::PidsLimit => Repair::Update,
            Field::MemoryReservation => Repair::Update,
            Field::Network(_) | Field::NetworkAliases(_) => Repair::Network,
            _ => Repair::Recreate,
        }
    }

    /// The engine can change it without recreating the container.
    pub fn in_place(&self) -> bool {
        self.repair() != Repair::Recreate
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = match self {
            Field::Image => "image",
            Field::ImageId => "image id",
            Field::Command => "command",
            Field::Entrypoint => "entrypoint",
            Field::User => "user",
            Field::WorkingDir => "working_dir",
            Field::Restart => "restart",
            Field::Healthcheck => "healthcheck",
            Field::Ports => "ports",
            Field::Volumes => "volumes",
            Field::Tmpfs => "tmpfs",
            Field::ShmSize => "shm_size",
            Field::Logging => "logging",
            Field::ReadOnly => "read_only",
            Field::CapDrop => "cap_drop",
            Field::CapAdd => "cap_add",
            Field::SecurityOpt => "security_opt",
            Field::PidsLimit => "pids_limit",
            Field::StopSignal => "stop_signal",
            Field::StopGracePeriod => "stop_grace_period",
            Field::Memory => "memory",
            Field::Cpus => "cpus",
            Field::MemoryReservation => "memory reservation",
            Field::ConfigHash => "config hash",
            Field::ContainerName => "container name",
            Field::Containers => "containers",
            Field::Secrets => "secrets",
            Field::Configs => "configs",
            Field::Replicas => "replicas",
            Field::Mode => "mode",
            Field::UpdateConfig => "update_config",
            Field::RollbackConfig => "rollback_config",
            Field::Placement => "placement",
            Field::EndpointMode => "endpoint_mode",
            Field::Env(k) => return write!(f, "env {k}"),
            Field::Network(n) => return write!(f, "network {n}"),
            Field::NetworkAliases(n) => return write!(f, "network {n} aliases"),
            Field::Label(k) => return write!(f, "label {k}"),
            Field::Content(n) => return write!(f, "content of {n}"),
            Field::Setting(key) => key,
            Field::NetworkAddress(n) => return write!(f, "network {n} address"),
        };
        f.write_str(plain)
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_engine_changes_in_place() {
        for f in [
            Field::Restart,
            Field::Memory,
            Field::Cpus,
            Field::PidsLimit,
            Field::Network("a".into()),
            Field::NetworkAliases("a".into()),
        ] {
            assert!(f.in_place(), "{f}");
        }
        for f in [
            Field::Image,
            Field::Env("A".into()),
            Field::Healthcheck,
            Field::Content("s".into()),
            Field::ContainerName,
        ] {
            assert!(!f.in_place(), "{f}");
        }
        assert_eq!(
            Field::Env("JOB_TIMEOUT".into()).to_string(),
            "env JOB_TIMEOUT"
        );
        assert_eq!(
            Field::NetworkAliases("db-net".into()).to_string(),
            "network db-net aliases"
        );
    }
}
