//! fedgen: a compose-file generator and deploy compiler.
//!
//! The pipeline, in the order data flows through it:
//! - [`compile`]: stack spec + `.env` -> validated [`model::Compose`] -> `docker-compose.*.yml`
//! - [`model`]: the normalized compose model shared by the compiler and the deployer
//! - [`deploy`]: the Docker host read into the model, planned against a file, converged
//! - [`import`]: the other way: containers that run (made by hand) described as a stack spec
//! - [`lint`]: reboot-safety and least-privilege rules over any Compose file (the reader's
//!   [`compose::Project`] in, findings out as text, JSON or SARIF)
//! - [`diag`]: located diagnostics, collected per stage and rendered for people or CI
//! - [`units`], [`names`]: the vocabulary every stage shares (sizes, durations, CPUs; names)
//! - [`cli`]: the thin command-line layer, which maps outcomes to exit codes in one place

pub mod cli;
pub mod compile;
pub mod compose;
#[cfg(feature = "engine")]
pub mod deploy;
pub mod diag;
pub mod exit;
#[cfg(feature = "engine")]
pub mod import;
pub mod lint;
pub mod model;
pub mod names;
pub mod units;
pub mod yaml;
