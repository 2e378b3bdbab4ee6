//! The deployer on a swarm: a stack file fedgen wrote, compared with the stack's services and
//! converged to it through the Swarm API (services, tasks, secrets, configs, networks), with the
//! same plan, reasons, report and exit codes as on one host.
//!
//! [`desired`] (the stack file, its secrets' content) -> [`state`] (the swarm's services read
//! back through [`mapping`]) -> [`plan`] (field by field, into the shared
//! [`crate::deploy::plan::Plan`]) -> [`session`] (connect, plan, pre-flight, text) -> [`apply`]
//! (the rollout in `uses:` order, gated on each service's tasks, rolled back as a whole).

pub mod apply;
pub mod desired;
pub mod mapping;
pub mod plan;
pub mod session;
pub mod state;

pub use desired::{is_stack_file, SwarmDesired};
