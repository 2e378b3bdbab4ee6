//! The command line: a shell around the library. Each command has a file that parses its
//! arguments into typed options, calls the library, renders the typed result and returns an exit
//! code from [`crate::exit`] (the one place codes are defined).
//!
//! - [`build`]: `fedgen build`, the compiler;
//! - [`diff`]: `fedgen diff`, the plan against the host;
//! - [`apply`]: `fedgen apply`, the rollout, with [`progress`] showing it as it goes;
//! - [`import`]: `fedgen import`, running containers described as a stack spec;
//! - [`kinds`]: `fedgen kinds`, the kinds reference;
//! - [`lint`]: `fedgen lint`, the rules over any Compose file;
//! - [`secrets`]: `fedgen secrets rotate`, a new value for a secret generated on the engine;
//! - [`completions`]: `fedgen completions SHELL` and `fedgen man`, from the clap definitions.

mod apply;
mod build;
mod completions;
mod diff;
mod import;
mod kinds;
mod lint;
mod progress;
mod project;
mod secrets;

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
    /// Describe running containers (made by hand) as a stack spec; their secrets go to a 0600 file.
    Import(import::ImportArgs),
    /// List the service kinds (templates) with what each provides.
    Kinds(kinds::KindsArgs),
    /// Check Compose files for what a reboot breaks and what gives too much away.
    Lint(lint::LintArgs),
    /// Generated secrets kept on the engine: `rotate NAME` makes a new value.
    Secrets(secrets::SecretsArgs),
    /// Print shell completions (bash, zsh, fish).
    Completions(completions::CompletionsArgs),
    /// Print the man page (or write one per command with --out-dir).
    Man(completions::ManArgs),
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
        Command::Import(args) => import::run(&args),
        Command::Kinds(args) => kinds::run(&args),
        Command::Lint(args) => lint::run(&args),
        Command::Secrets(args) => secrets::run(&args),
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
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
fn engine_error(e: &crate::deploy::engine::EngineError, desired: &crate::deploy::desired::Desired) {
    eprintln!("error: {}", desired.redact(&e.to_string()));
    if let Some(h) = e.hint() {
        eprintln!("  = hint: {h}");
    }
}

/// Which engine, as the docker CLI's global options say it (resolved by
/// [`crate::deploy::endpoint`]: these, then DOCKER_HOST, DOCKER_CONTEXT, the current context).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EngineArgs {
    /// The engine, as `docker -H`: unix:///path, tcp://host:port (TLS with DOCKER_TLS_VERIFY and
    /// DOCKER_CERT_PATH), ssh://[user@]host[:port] (the system's ssh client). Default:
    /// DOCKER_HOST, else the context, else unix:///var/run/docker.sock.
    #[arg(
        short = 'H',
        long = "host",
        value_name = "URL",
        conflicts_with = "context"
    )]
    pub host: Option<String>,
    /// A Docker context (`docker context ls`), as `docker --context`; overrides DOCKER_HOST.
    #[arg(short = 'c', long = "context", value_name = "NAME")]
    pub context: Option<String>,
}

impl EngineArgs {
    pub fn selection(&self) -> crate::deploy::endpoint::Selection {
        crate::deploy::endpoint::Selection {
            host: self.host.clone(),
            context: self.context.clone(),
        }
    }
}

fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<crate::units::Duration>()
        .map(crate::units::Duration::to_std)
        .map_err(|_| format!("`{s}` is not a duration (e.g. 300s, 5m)"))
}
