//! The deployer: what runs on a Docker host, compared with a compiled compose file.
//!
//! [`engine`] (connection, counted calls) -> [`state`] (the host, normalized into the shared
//! model) -> [`plan`] (desired against observed: per service unchanged, create, recreate, update
//! in place or start, with every reason; networks, volumes, orphans, conflicts) -> [`report`]
//! (text with a unified diff, or versioned JSON).

pub mod apply;
pub mod desired;
pub mod engine;
pub mod lock;
pub mod plan;
pub mod report;
pub mod state;
