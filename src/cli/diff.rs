//! `fedgen diff`: the plan of a compose file against the Docker host (or of a stack file against
//! a swarm), as text with a unified diff, as versioned JSON, or as Markdown for a pull request;
//! `--out` saves it (JSON) for `fedgen apply PLAN`. Exit 0 in sync, 2 changes pending, 1 when the
//! file or the engine cannot be read.

use crate::compile::emit;
use crate::deploy::desired::Desired;
use crate::deploy::report;
use crate::deploy::session::{self, PlanDocument};
use crate::deploy::state::Refresh;
use crate::exit;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
    Markdown,
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    #[command(flatten)]
    pub project: super::project::ProjectArgs,
    /// text for people, json for CI (a versioned schema, see docs/diff.md), markdown for a
    /// pull-request comment or $GITHUB_STEP_SUMMARY.
    #[arg(long, value_enum, default_value = "text")]
    pub output: DiffFormat,
    /// Also save the plan, with a fingerprint of the host state, for `fedgen apply PLAN`.
    #[arg(long = "out", value_name = "PLAN")]
    pub out: Option<PathBuf>,
    /// How deep to read the host: full inspects every container (finds `docker update` drift:
    /// restart policy, limits; and changed aliases); fast reads the container list only.
    #[arg(long, value_enum, default_value = "full")]
    pub refresh: Refresh,
    /// compose: a project on one Docker host; swarm: a stack on a swarm (the file says which;
    /// this checks it). Without -f, swarm reads docker-stack.microservices.yml.
    #[arg(long, value_enum)]
    pub target: Option<crate::model::swarm::Target>,
    #[command(flatten)]
    pub engine: super::EngineArgs,
}

pub fn run(args: &DiffArgs) -> i32 {
    match super::swarm_file(&args.project, None, args.target) {
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
        Ok(Some(file)) => return run_swarm(args, &file),
        Ok(None) => {}
    }
    let desired = match Desired::load(&args.project.options(None)) {
        Ok(d) => d,
        Err(e) => {
            eprint!("{e}");
            return exit::INVALID;
        }
    };
    if let Some(w) = &desired.warnings {
        eprint!("{w}");
    }
    let (engine, plan) = match super::runtime().block_on(session::connect_and_plan(
        &args.engine.selection(),
        &desired,
        args.refresh,
    )) {
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
        file: desired.file.display().to_string(),
        file_sha256: session::file_sha256(&desired.files),
        desired_sha256: desired.fingerprint(),
    };
    if let Some(out) = &args.out {
        if let Err(e) = emit::write_atomic(out, doc.to_json(&desired).as_bytes()) {
            eprintln!("error: cannot write the plan to {}: {e}", out.display());
            return exit::INVALID;
        }
    }
    match args.output {
        DiffFormat::Json => println!("{}", doc.to_json(&desired)),
        DiffFormat::Markdown => print!(
            "{}",
            report::markdown(&plan, &desired, engine.describe(), engine.calls())
        ),
        DiffFormat::Text => print!(
            "{}",
            report::text(&plan, &desired, engine.describe(), report::Style::detect())
        ),
    }
    if plan.in_sync {
        exit::OK
    } else {
        exit::CHANGES_PENDING
    }
}

/// `fedgen diff --target swarm`: the stack file against the swarm's services.
fn run_swarm(args: &DiffArgs, file: &std::path::Path) -> i32 {
    use crate::deploy::swarm::{session as swarm_session, SwarmDesired};
    let desired = match SwarmDesired::load(file, &args.project.env_files) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let (engine, sp) = match super::runtime().block_on(swarm_session::connect_and_plan(
        &args.engine.selection(),
        &desired,
    )) {
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
        file: file.display().to_string(),
        file_sha256: session::file_sha256(&[file.to_path_buf()]),
        desired_sha256: desired.fingerprint(),
    };
    if let Some(out) = &args.out {
        if let Err(e) = emit::write_atomic(out, doc.to_json(&desired).as_bytes()) {
            eprintln!("error: cannot write the plan to {}: {e}", out.display());
            return exit::INVALID;
        }
    }
    match args.output {
        DiffFormat::Json => println!("{}", doc.to_json(&desired)),
        DiffFormat::Markdown => print!(
            "{}",
            report::markdown(&sp.plan, &desired, engine.describe(), engine.calls())
        ),
        DiffFormat::Text => print!(
            "{}",
            swarm_session::text(&sp, &desired, engine.describe(), report::Style::detect())
        ),
    }
    if sp.plan.in_sync {
        exit::OK
    } else {
        exit::CHANGES_PENDING
    }
}
