//! `fedgen secrets rotate NAME`: a new value for a generated secret, made on the engine (under
//! the project's lock); the next `fedgen apply` recreates exactly the services that read it.

use crate::deploy::desired::Desired;
use crate::deploy::engine::Engine;
use crate::deploy::lock::{self, EngineLock, LockError, Wait};
use crate::deploy::secrets;
use crate::exit;

#[derive(clap::Args, Debug)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub command: SecretsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum SecretsCommand {
    /// Make a new value for a `generate:` secret on the engine; the next apply recreates the
    /// services that read it. Values are never printed.
    Rotate(RotateArgs),
}

#[derive(clap::Args, Debug)]
pub struct RotateArgs {
    /// The secret (a `generate:` secret of the file).
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub project: super::project::ProjectArgs,
    /// How long to wait for an apply of the project that holds its lock, e.g. 300s, 5m.
    #[arg(long, default_value = "300s", value_parser = super::parse_timeout)]
    pub timeout: std::time::Duration,
    #[command(flatten)]
    pub engine: super::EngineArgs,
}

pub fn run(args: &SecretsArgs) -> i32 {
    match &args.command {
        SecretsCommand::Rotate(a) => rotate(a),
    }
}

fn rotate(args: &RotateArgs) -> i32 {
    match super::swarm_file(&args.project, None, None) {
        Ok(None) => {}
        Ok(Some(file)) => {
            eprintln!(
                "error: {} is a swarm stack file: a generated secret there is a swarm secret, which cannot change, and rotating one is not supported",
                file.display()
            );
            eprintln!("  = hint: remove the stack's services that read it and the secret (`docker secret rm`), then `fedgen apply` makes a new value (docs/swarm.md)");
            return exit::INVALID;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    }
    let desired = match Desired::load(&args.project.options(None)) {
        Ok(d) => d,
        Err(e) => {
            eprint!("{e}");
            return exit::INVALID;
        }
    };
    let generated: Vec<&String> = desired
        .compose
        .secrets
        .iter()
        .filter(|(_, s)| s.generate.is_some())
        .map(|(n, _)| n)
        .collect();
    if !generated.iter().any(|n| **n == args.name) {
        eprintln!(
            "error: `{}` is not a generated secret of {} ({}); only `generate:` secrets are kept on the engine",
            args.name,
            desired.file.display(),
            if generated.is_empty() {
                "it has none".to_string()
            } else {
                format!(
                    "it has {}",
                    generated
                        .iter()
                        .map(|n| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        return exit::INVALID;
    }
    let project = desired.compose.name.clone();
    let rt = super::runtime();
    let result = rt.block_on(async {
        let engine = Engine::connect(&args.engine.selection())
            .await
            .map_err(Err)?;
        let held = EngineLock::acquire(
            &engine,
            &project,
            std::time::Instant::now() + args.timeout,
            lock::stale_after_from_env(),
            |w| match w {
                Wait::Held(h) => {
                    eprintln!("waiting for an apply of project {project} ({h}) to finish")
                }
                Wait::TakenOver(h, why) => {
                    eprintln!("taking over the lock of project {project} from {h}: {why}")
                }
            },
        )
        .await
        .map_err(|e| match e {
            LockError::Busy { holder } => Ok(holder),
            LockError::Engine(e) => Err(e),
        })?;
        let rotated = secrets::rotate(&engine, &desired, &args.name).await;
        held.release().await;
        rotated
            .map(|r| (r, engine.describe().to_string()))
            .map_err(Err)
    });
    match result {
        Ok(((old, new), engine)) => {
            let readers: Vec<&str> = desired
                .compose
                .services
                .iter()
                .filter(|(_, s)| s.secrets.iter().any(|r| r.source == args.name))
                .map(|(n, _)| n.as_str())
                .collect();
            match old {
                Some(old) => eprintln!(
                    "rotated {} on {engine}: sha256:{} -> sha256:{}",
                    args.name, old.hash, new.hash
                ),
                None => eprintln!(
                    "generated {} on {engine}: sha256:{} (it had none yet)",
                    args.name, new.hash
                ),
            }
            eprintln!(
                "the next `fedgen apply` recreates the services that read it: {}",
                readers.join(", ")
            );
            exit::OK
        }
        Err(Ok(holder)) => {
            eprintln!(
                "error: an apply of project {project} ({holder}) still holds its lock on the engine after {:?}",
                args.timeout
            );
            exit::REFUSED
        }
        Err(Err(e)) => {
            super::engine_error(&e, &desired);
            exit::INVALID
        }
    }
}
