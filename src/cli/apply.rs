//! `fedgen apply`: converge the Docker host to a compose file or a saved plan, one apply per
//! project at a time, with progress as it goes and a report at the end.

use super::progress;
use super::Format;
use crate::deploy::apply::{self as ap, Options, Outcome, Report, Status};
use crate::deploy::desired::Desired;
use crate::deploy::engine;
use crate::deploy::lock::{LockError, ProjectLock};
use crate::deploy::preflight;
use crate::deploy::report;
use crate::deploy::session::{self, PlanDocument, SavedPlan};
use crate::deploy::state::Refresh;
use crate::exit;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// A plan saved by `fedgen diff --out`: applied only if the file and the host are unchanged.
    #[arg(value_name = "PLAN")]
    pub plan: Option<PathBuf>,
    /// The compose file fedgen built (default: the saved plan's file, else docker-compose.microservices.yml).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The .env file with the secrets' variables (the process environment wins over it).
    #[arg(long = "env", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// Remove containers of services the file no longer has, and networks it no longer has.
    #[arg(long)]
    pub prune: bool,
    /// Also remove the project's volumes that the file no longer mounts (their data is lost).
    #[arg(long)]
    pub prune_volumes: bool,
    /// Replace unmanaged containers that carry the project's names (stop, remove, recreate).
    #[arg(long)]
    pub adopt: bool,
    /// With --prune: remove even when nothing of the project would remain.
    #[arg(long)]
    pub force: bool,
    /// Leave a replacement that does not become ready in place, instead of putting the previous
    /// container back.
    #[arg(long)]
    pub no_rollback: bool,
    /// Deadline of the whole rollout, e.g. 300s, 5m.
    #[arg(long, default_value = "300s", value_parser = super::parse_timeout)]
    pub timeout: std::time::Duration,
    /// Print the plan and exit as `diff` does (0 in sync, 2 changes pending); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// text: progress lines on stderr; json: one event per line on stdout, then the report.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Format,
    /// How deep to read the host: fast (default) lists containers and compares their labels,
    /// state and networks, a constant number of API calls; full also inspects every container
    /// to repair `docker update` drift (restart policy, limits) and changed aliases. A saved
    /// plan is checked at the depth it was made with.
    #[arg(long, value_enum)]
    pub refresh: Option<Refresh>,
    /// compose: a project on one Docker host; swarm: a stack on a swarm, through the Swarm API
    /// (the file says which; this checks it).
    #[arg(long, value_enum)]
    pub target: Option<crate::model::swarm::Target>,
}

pub fn run(args: &ApplyArgs) -> i32 {
    let saved = match &args.plan {
        Some(p) => match SavedPlan::load(p) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::INVALID;
            }
        },
        None => None,
    };
    let file = args
        .file
        .clone()
        .or_else(|| saved.as_ref().map(|s| s.file.clone()))
        .unwrap_or_else(|| PathBuf::from("docker-compose.microservices.yml"));
    match super::file_target(&file, args.target) {
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
        Ok(crate::model::swarm::Target::Swarm) => return run_swarm(args, saved, file),
        Ok(_) => {}
    }
    let desired = match Desired::load(&file, args.env_file.as_deref()) {
        Ok(d) => Arc::new(d),
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let json = args.output == Format::Json;
    let rt = super::runtime();
    // One apply per project and engine at a time; a killed holder's lock is released by the kernel.
    let _lock = if args.dry_run {
        None
    } else {
        let project = &desired.compose.name;
        match ProjectLock::acquire(
            &engine::configured_host(),
            project,
            std::time::Instant::now() + args.timeout,
            |holder| {
                eprintln!("waiting for another apply of project {project} (pid {holder}) to finish")
            },
        ) {
            Ok(l) => Some(l),
            Err(LockError::Busy { holder, path }) => {
                eprintln!(
                    "error: another apply of project {project} (pid {holder}) still holds {} after {:?}",
                    path.display(),
                    args.timeout
                );
                return exit::REFUSED;
            }
            Err(LockError::Io(e)) => {
                eprintln!("error: {e}");
                return exit::INVALID;
            }
        }
    };
    // A saved plan is checked at the depth it was made with.
    let refresh = match &saved {
        Some(s) => s.refresh,
        None => args.refresh.unwrap_or(Refresh::Fast),
    };
    let (engine, mut the_plan) = match rt.block_on(session::connect_and_plan(&desired, refresh)) {
        Ok(r) => r,
        Err(e) => {
            super::engine_error(&e, &desired);
            return exit::INVALID;
        }
    };
    // Images the host does not have are pulled first, as Compose does, then the plan is made
    // again (its pre-flight then sees them). A saved plan is applied only as it was made.
    if saved.is_none() && !args.dry_run && the_plan.preflight.iter().any(|p| p.image_missing) {
        let pulled = rt.block_on(async {
            preflight::pull_missing(&engine, &the_plan).await?;
            session::plan_with(&engine, &desired, refresh).await
        });
        match pulled {
            Ok(p) => the_plan = p,
            Err(e) => {
                super::engine_error(&e, &desired);
                eprintln!("  = hint: the image is neither on this host nor pullable from here; load it (`docker load`) or check the name and the registry");
                return exit::REFUSED;
            }
        }
    }
    if let Some(saved) = &saved {
        if let Some(why) = saved.stale(&file, &the_plan) {
            eprintln!(
                "error: refusing to apply {}: {why}; run `fedgen diff --out` again",
                args.plan
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            return exit::REFUSED;
        }
    }
    if args.dry_run {
        if json {
            let doc = PlanDocument {
                plan: &the_plan,
                engine: engine.host(),
                api_calls: engine.calls(),
                file: file.display().to_string(),
                file_sha256: session::file_sha256(&file),
            };
            println!("{}", doc.to_json(&desired));
        } else {
            print!(
                "{}",
                report::text(&the_plan, &desired, engine.host(), report::Style::detect())
            );
        }
        return if the_plan.in_sync {
            exit::OK
        } else {
            exit::CHANGES_PENDING
        };
    }
    if !json && !the_plan.in_sync {
        let style = report::Style {
            color: false,
            diffs: false,
        };
        eprintln!(
            "{}",
            report::text(&the_plan, &desired, engine.host(), style)
        );
    }
    let shown = progress::for_output(json);
    let interrupted = Arc::new(AtomicBool::new(false));
    let opts = Options {
        prune: args.prune,
        prune_volumes: args.prune_volumes,
        adopt: args.adopt,
        force: args.force,
        timeout: args.timeout,
        rollback: !args.no_rollback,
        interrupted: interrupted.clone(),
    };
    let result = rt.block_on(async {
        // SIGINT or SIGTERM: finish the steps under way, start nothing new, report.
        super::on_signal(interrupted.clone(), !json);
        ap::apply(
            &engine,
            desired.clone(),
            args.env_file.clone(),
            &the_plan,
            &opts,
            shown.clone(),
        )
        .await
    });
    shown.finish();
    if json {
        let mut v = serde_json::to_value(&result).expect("the report serializes");
        v["event"] = "report".into();
        v["version"] = 1.into();
        println!("{}", desired.redact(&v.to_string()));
    } else {
        eprint!("{}", desired.redact(&summary(&result, false)));
    }
    result.exit_code()
}

/// `fedgen apply --target swarm`: the stack converged through the Swarm API, with the same
/// lock, saved plans, dry run, progress, report and exit codes as on one host.
fn run_swarm(args: &ApplyArgs, saved: Option<SavedPlan>, file: PathBuf) -> i32 {
    use crate::deploy::swarm::{apply as swarm_apply, session as swarm_session, SwarmDesired};
    let desired = match SwarmDesired::load(&file, args.env_file.as_deref()) {
        Ok(d) => Arc::new(d),
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let json = args.output == Format::Json;
    let rt = super::runtime();
    let stack = desired.stack.fedgen.stack.clone();
    let _lock = if args.dry_run {
        None
    } else {
        match ProjectLock::acquire(
            &engine::configured_host(),
            &stack,
            std::time::Instant::now() + args.timeout,
            |holder| {
                eprintln!("waiting for another apply of stack {stack} (pid {holder}) to finish")
            },
        ) {
            Ok(l) => Some(l),
            Err(LockError::Busy { holder, path }) => {
                eprintln!(
                    "error: another apply of stack {stack} (pid {holder}) still holds {} after {:?}",
                    path.display(),
                    args.timeout
                );
                return exit::REFUSED;
            }
            Err(LockError::Io(e)) => {
                eprintln!("error: {e}");
                return exit::INVALID;
            }
        }
    };
    let (engine, mut sp) = match rt.block_on(swarm_session::connect_and_plan(&desired)) {
        Ok(r) => r,
        Err(e) => {
            super::engine_error(&e, &desired);
            return exit::INVALID;
        }
    };
    // Images the node does not have are pulled first (a registry image), then the plan is made
    // again; an image that cannot be pulled is refused by the pre-flight.
    if saved.is_none() && !args.dry_run && sp.plan.preflight.iter().any(|p| p.image_missing) {
        let pulled = rt.block_on(async {
            let _ = preflight::pull_missing(&engine, &sp.plan).await;
            swarm_session::plan_with(&engine, &desired).await
        });
        match pulled {
            Ok(p) => sp = p,
            Err(e) => {
                super::engine_error(&e, &desired);
                return exit::INVALID;
            }
        }
    }
    if let Some(saved) = &saved {
        if let Some(why) = saved.stale(&file, &sp.plan) {
            eprintln!(
                "error: refusing to apply {}: {why}; run `fedgen diff --out` again",
                args.plan
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            return exit::REFUSED;
        }
    }
    if args.dry_run {
        if json {
            let doc = PlanDocument {
                plan: &sp.plan,
                engine: engine.host(),
                api_calls: engine.calls(),
                file: file.display().to_string(),
                file_sha256: session::file_sha256(&file),
            };
            println!("{}", doc.to_json(&desired));
        } else {
            print!(
                "{}",
                swarm_session::text(&sp, &desired, engine.host(), report::Style::detect())
            );
        }
        return if sp.plan.in_sync {
            exit::OK
        } else {
            exit::CHANGES_PENDING
        };
    }
    if !json && !sp.plan.in_sync {
        let style = report::Style {
            color: false,
            diffs: false,
        };
        eprintln!(
            "{}",
            swarm_session::text(&sp, &desired, engine.host(), style)
        );
    }
    let shown = progress::for_output(json);
    let interrupted = Arc::new(AtomicBool::new(false));
    let opts = Options {
        prune: args.prune,
        prune_volumes: args.prune_volumes,
        adopt: args.adopt,
        force: args.force,
        timeout: args.timeout,
        rollback: !args.no_rollback,
        interrupted: interrupted.clone(),
    };
    let result = rt.block_on(async {
        super::on_signal(interrupted.clone(), !json);
        swarm_apply::apply(&engine, desired.clone(), &sp, &opts, shown.clone()).await
    });
    shown.finish();
    let redact = |t: &str| crate::deploy::report::Redactor::redact(&desired, t);
    if json {
        let mut v = serde_json::to_value(&result).expect("the report serializes");
        v["event"] = "report".into();
        v["version"] = 1.into();
        v["target"] = "swarm".into();
        println!("{}", redact(&v.to_string()));
    } else {
        eprint!("{}", redact(&summary(&result, true)));
    }
    result.exit_code()
}

/// The report for people: one line for the outcome, then what failed with its last health
/// output and logs, what changed and what was not started.
fn summary(r: &Report, swarm: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    match r.status {
        Status::InSync => {
            let _ = writeln!(
                out,
                "In sync: nothing to do ({} API calls, none that change anything).",
                r.api_calls
            );
        }
        Status::Converged => {
            let _ = writeln!(
                out,
                "Converged in {:.1}s: {} created, {} recreated, {} updated{}, {} {}, {} unchanged ({} API calls, {} changing).",
                r.elapsed_ms as f64 / 1000.0,
                r.count(Outcome::Created),
                r.count(Outcome::Recreated),
                r.count(Outcome::Updated),
                if swarm { " (rolling)" } else { " in place" },
                r.count(Outcome::Started),
                if swarm { "with their tasks replaced" } else { "started" },
                r.count(Outcome::Unchanged),
                r.api_calls,
                r.mutating_calls
            );
        }
        status => {
            let _ = writeln!(
                out,
                "error: apply {}: {}",
                status.as_str(),
                r.reason.as_deref().unwrap_or("")
            );
        }
    }
    for s in r.services.iter().filter(|s| s.result.failed()) {
        let _ = writeln!(
            out,
            "\n  {}{}: {}",
            s.service,
            match s.error.as_deref() {
                // Ready, then put back because another service failed.
                Some(e) if e.starts_with("rolled back") => "",
                _ => " failed",
            },
            s.error.as_deref().unwrap_or("")
        );
        if let Some(o) = &s.last_health_output {
            let _ = writeln!(out, "    last health check: {o}");
        }
        if !s.log_tail.is_empty() {
            let _ = writeln!(out, "    last log lines:");
            for l in &s.log_tail {
                let _ = writeln!(out, "      {l}");
            }
        }
    }
    if !matches!(r.status, Status::Converged | Status::InSync) {
        let done: Vec<String> = r
            .services
            .iter()
            .filter(|s| s.result.changed())
            .map(|s| format!("{} {}", s.service, s.result.as_str()))
            .collect();
        let not_done: Vec<&str> = r
            .services
            .iter()
            .filter(|s| s.result.not_started())
            .map(|s| s.service.as_str())
            .collect();
        let _ = writeln!(
            out,
            "  changed: {}",
            if done.is_empty() {
                "nothing".to_string()
            } else {
                done.join(", ")
            }
        );
        let _ = writeln!(
            out,
            "  not started: {}",
            if not_done.is_empty() {
                "-".to_string()
            } else {
                not_done.join(", ")
            }
        );
    }
    if !r.objects_created.is_empty() || !r.objects_removed.is_empty() {
        let list = |v: &Vec<String>| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        let _ = writeln!(
            out,
            "  secrets and configs: made {}; removed {}",
            list(&r.objects_created),
            list(&r.objects_removed)
        );
    }
    if !r.orphans_kept.is_empty() {
        let _ = writeln!(
            out,
            "  orphans kept (use --prune to remove): {}",
            r.orphans_kept.join(", ")
        );
    }
    out
}
