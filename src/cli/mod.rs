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

#[cfg(feature = "engine")]
mod apply;
mod build;
mod completions;
#[cfg(feature = "engine")]
mod diff;
#[cfg(feature = "engine")]
mod import;
mod kinds;
mod lint;
#[cfg(feature = "engine")]
mod progress;
mod project;
#[cfg(feature = "engine")]
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
    #[cfg(feature = "engine")]
    /// Compare a compose file with what runs on the Docker host: exit 0 in sync, 2 changes pending.
    Diff(diff::DiffArgs),
    #[cfg(feature = "engine")]
    /// Converge the Docker host to a compose file (or a saved plan), health-gated and idempotent.
    Apply(apply::ApplyArgs),
    #[cfg(feature = "engine")]
    /// Describe running containers (made by hand) as a stack spec; their secrets go to a 0600 file.
    Import(import::ImportArgs),
    /// List the service kinds (templates) with what each provides.
    Kinds(kinds::KindsArgs),
    /// Check Compose files for what a reboot breaks and what gives too much away.
    Lint(lint::LintArgs),
    #[cfg(feature = "engine")]
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
        #[cfg(feature = "engine")]
        Command::Diff(args) => diff::run(&args),
        #[cfg(feature = "engine")]
        Command::Apply(args) => apply::run(&args),
        #[cfg(feature = "engine")]
        Command::Import(args) => import::run(&args),
        Command::Kinds(args) => kinds::run(&args),
        Command::Lint(args) => lint::run(&args),
        #[cfg(feature = "engine")]
        Command::Secrets(args) => secrets::run(&args),
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
    }
}

#[cfg(feature = "engine")]
/// The async runtime of the engine commands (two workers: the calls are I/O-bound).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

#[cfg(feature = "engine")]
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

#[cfg(feature = "engine")]
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

#[cfg(feature = "engine")]
impl EngineArgs {
    pub fn selection(&self) -> crate::deploy::endpoint::Selection {
        crate::deploy::endpoint::Selection {
            host: self.host.clone(),
            context: self.context.clone(),
        }
    }
}

#[cfg(feature = "engine")]
fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<crate::units::Duration>()
        .map(crate::units::Duration::to_std)
        .map_err(|_| format!("`{s}` is not a duration (e.g. 300s, 5m)"))
}

#[cfg(feature = "engine")]
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

#[cfg(feature = "engine")]
/// The stack file `diff` or `apply` converges on a swarm, or `None` for a Compose project: a
/// single file (`-f`, a saved plan's, or the default) that is a stack file, or `--target swarm`
/// (then, without -f, `docker-stack.microservices.yml`). The Compose project options that a
/// stack file fixes itself are refused with it: its name (`x-fedgen.stack`), profiles, and the
/// directory (its own).
fn swarm_file(
    project: &project::ProjectArgs,
    fallback: Option<&std::path::Path>,
    asked: Option<crate::model::swarm::Target>,
) -> Result<Option<std::path::PathBuf>, String> {
    use crate::model::swarm::Target;
    let files = if asked == Some(Target::Swarm) && project.files.is_empty() && fallback.is_none() {
        vec![std::path::PathBuf::from(project::BUILT_STACK_FILE)]
    } else {
        project.options(fallback).files
    };
    let file = match (files.as_slice(), asked) {
        ([one], _) => one.clone(),
        ([], _) => return Ok(None),
        (_, Some(Target::Swarm)) => {
            return Err("a stack on a swarm is one stack file: pass a single -f".into())
        }
        (many, _) => {
            if let Some(f) = many.iter().find(|f| {
                std::fs::read_to_string(f).is_ok_and(|t| crate::deploy::swarm::is_stack_file(&t))
            }) {
                return Err(format!(
                    "{} is a swarm stack file: it is not merged with other files; pass it alone",
                    f.display()
                ));
            }
            return Ok(None);
        }
    };
    if file_target(&file, asked)? != Target::Swarm {
        return Ok(None);
    }
    let fixed = [
        (
            project.project_name.is_some(),
            "-p/--project-name (the stack file names its stack)",
        ),
        (
            !project.profiles.is_empty(),
            "--profile (a stack file has no profiles)",
        ),
        (
            project.project_directory.is_some(),
            "--project-directory (paths in a stack file resolve against its own directory)",
        ),
    ];
    if let Some((_, what)) = fixed.iter().find(|(given, _)| *given) {
        return Err(format!(
            "{} is a swarm stack file: {what} is for Compose projects",
            file.display()
        ));
    }
    Ok(Some(file))
}

#[cfg(feature = "engine")]
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
