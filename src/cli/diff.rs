//! `fedgen diff`: the plan of a compose file against the Docker host, as text with a unified
//! diff or as versioned JSON; `--out` saves it for `fedgen apply PLAN`. Exit 0 in sync, 2 changes
//! pending, 1 when the file or the engine cannot be read.

use super::Format;
use crate::compile::emit;
use crate::deploy::desired::Desired;
use crate::deploy::report;
use crate::deploy::session::{self, PlanDocument};
use crate::deploy::state::Refresh;
use crate::exit;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The compose file fedgen built.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        default_value = "docker-compose.microservices.yml"
    )]
    pub file: PathBuf,
    /// The .env file with the secrets' variables (the process environment wins over it).
    #[arg(long = "env", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// text for people, json for CI (a versioned schema, see docs/diff.md).
    #[arg(long, value_enum, default_value = "text")]
    pub output: Format,
    /// Also save the plan, with a fingerprint of the host state, for `fedgen apply PLAN`.
    #[arg(long = "out", value_name = "PLAN")]
    pub out: Option<PathBuf>,
    /// How deep to read the host: full inspects every container (finds `docker update` drift:
    /// restart policy, limits; and changed aliases); fast reads the container list only.
    #[arg(long, value_enum, default_value = "full")]
    pub refresh: Refresh,
    /// compose: a project on one Docker host; swarm: a stack on a swarm (the file says which;
    /// this checks it).
    #[arg(long, value_enum)]
    pub target: Option<crate::model::swarm::Target>,
}

pub fn run(args: &DiffArgs) -> i32 {
    match super::file_target(&args.file, args.target) {
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
        Ok(crate::model::swarm::Target::Swarm) => return run_swarm(args),
        Ok(_) => {}
    }
    let desired = match Desired::load(&args.file, args.env_file.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let (engine, plan) =
        match super::runtime().block_on(session::connect_and_plan(&desired, args.refresh)) {
            Ok(r) => r,
            Err(e) => {
                super::engine_error(&e, &desired);
                return exit::INVALID;
            }
        };
    let doc = PlanDocument {
        plan: &plan,
        engine: engine.host(),
        api_calls: engine.calls(),
        file: args.file.display().to_string(),
        file_sha256: session::file_sha256(&args.file),
    };
    if let Some(out) = &args.out {
        if let Err(e) = emit::write_atomic(out, doc.to_json(&desired).as_bytes()) {
            eprintln!("error: cannot write the plan to {}: {e}", out.display());
            return exit::INVALID;
        }
    }
    match args.output {
        Format::Json => println!("{}", doc.to_json(&desired)),
        Format::Text => print!(
            "{}",
            report::text(&plan, &desired, engine.host(), report::Style::detect())
        ),
    }
    if plan.in_sync {
        exit::OK
    } else {
        exit::CHANGES_PENDING
    }
}

/// `fedgen diff --target swarm`: the stack file against the swarm's services.
fn run_swarm(args: &DiffArgs) -> i32 {
    use crate::deploy::swarm::{session as swarm_session, SwarmDesired};
    let desired = match SwarmDesired::load(&args.file, args.env_file.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let (engine, sp) = match super::runtime().block_on(swarm_session::connect_and_plan(&desired)) {
        Ok(r) => r,
        Err(e) => {
            super::engine_error(&e, &desired);
            return exit::INVALID;
        }
    };
    let doc = PlanDocument {
        plan: &sp.plan,
        engine: engine.host(),
        api_calls: engine.calls(),
        file: args.file.display().to_string(),
        file_sha256: session::file_sha256(&args.file),
    };
    if let Some(out) = &args.out {
        if let Err(e) = emit::write_atomic(out, doc.to_json(&desired).as_bytes()) {
            eprintln!("error: cannot write the plan to {}: {e}", out.display());
            return exit::INVALID;
        }
    }
    match args.output {
        Format::Json => println!("{}", doc.to_json(&desired)),
        Format::Text => print!(
            "{}",
            swarm_session::text(&sp, &desired, engine.host(), report::Style::detect())
        ),
    }
    if sp.plan.in_sync {
        exit::OK
    } else {
        exit::CHANGES_PENDING
    }
}
