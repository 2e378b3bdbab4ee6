//! The deployer: what runs on a Docker host, compared with a compose file and converged to it.
//!
//! [`desired`] (the file, and content hashes of its secrets) -> [`endpoint`] (which engine, as
//! the docker CLI resolves it) -> [`transport`] (socket, tcp, TLS, ssh) -> [`engine`]
//! (connection, counted calls) -> [`state`] (the host, read through [`mapping`] into the shared
//! model) -> [`plan`] (desired against observed, per service, each change a [`field::Field`]) ->
//! [`report`] (text with a unified diff, Markdown, or versioned JSON) and [`apply`] (the
//! rollout). [`session`] ties connect, lock and plan together for the commands; [`lock`]
//! serializes applies through an object on the engine; [`secrets`] makes `generate:` secrets
//! once on the engine; [`preflight`] checks, before anything changes, that each new container's
//! image can run its healthcheck. [`swarm`] does the same for a stack on a swarm, through the
//! Swarm API.

pub mod apply;
pub mod desired;
pub mod endpoint;
pub mod engine;
pub mod field;
pub mod lock;
pub mod mapping;
pub mod plan;
pub mod preflight;
pub mod report;
pub mod secrets;
pub mod session;
pub mod state;
pub mod swarm;
pub mod transport;
