//! The command line: a shell around the library. Each command has a file that parses its
//! arguments into typed options, calls the library, renders the typed result and returns an exit
//! code from [`crate::exit`] (the one place codes are defined).
//!
//! - [`build`]: `fedgen build`, the compiler;
//! - [`diff`]: `fedgen diff`, the plan against the host;
//! - [`apply`]: `fedgen apply`, the rollout, with [`progress`] showing it as it goes;
//! - [`kinds`]: `fedgen kinds`, the kinds reference.

mod apply;
mod build;
mod diff;
mod kinds;
mod progress;

use crate::exit;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "fedgen",
    version,
    about = "Compile stack specs into validated compose files, and converge Docker hosts to them"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compile a stack spec and a .env file into a compose file.
    Build(build::BuildArgs),
    /// Compare a compose file with what runs on the Docker host: exit 0 in sync, 2 changes pending.
    Diff(diff::DiffArgs),
    /// Converge the Docker host to a compose file (or a saved plan), health-gated and idempotent.
    Apply(apply::ApplyArgs),
    /// List the service kinds (templates) with what each provides.
    Kinds(kinds::KindsArgs),
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit::OK
                }
                _ => exit::USAGE,
            };
        }
    };
    match cli.command {
        Command::Build(args) => build::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Apply(args) => apply::run(&args),
        Command::Kinds(args) => kinds::run(&args),
    }
}

/// The async runtime of the engine commands (two workers: the calls are I/O-bound).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// Prints an engine error with its hint, scrubbed of secret values.
fn engine_error(
    e: &crate::deploy::engine::EngineError,
    desired: &impl crate::deploy::report::Redactor,
) {
    eprintln!("error: {}", desired.redact(&e.to_string()));
    if let Some(h) = e.hint() {
        eprintln!("  = hint: {h}");
    }
}

fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<crate::units::Duration>()
        .map(crate::units::Duration::to_std)
        .map_err(|_| format!("`{s}` is not a duration (e.g. 300s, 5m)"))
}

/// The target of a file `diff` or `apply` reads: what it is (a swarm stack file has `version:` and
/// `x-fedgen`, no `name:`), checked against `--target` when given. Unreadable: left to the
/// loader, which says so.
fn file_target(
    file: &std::path::Path,
    asked: Option<crate::model::swarm::Target>,
) -> Result<crate::model::swarm::Target, String> {
    use crate::model::swarm::Target;
    let Ok(text) = std::fs::read_to_string(file) else {
        return Ok(asked.unwrap_or_default());
    };
    let is = if crate::deploy::swarm::is_stack_file(&text) {
        Target::Swarm
    } else {
        Target::Compose
    };
    match asked {
        Some(t) if t != is => Err(format!(
            "{} is a {} file, not a {} file: build it with `fedgen build --target {}`, or drop --target",
            file.display(),
            is.as_str(),
            t.as_str(),
            t.as_str()
        )),
        _ => Ok(is),
    }
}

/// Sets `interrupted` on SIGINT or SIGTERM (apply finishes the steps under way, starts nothing).
fn on_signal(interrupted: std::sync::Arc<std::sync::atomic::AtomicBool>, say: bool) {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
        if say {
            eprintln!("interrupted: finishing the steps under way, starting nothing new");
        }
    });
}
