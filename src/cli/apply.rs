//! `fedgen apply`: converge the Docker host to a compose file or a saved plan, one apply per
//! project and engine at a time (a lock on the engine), with progress as it goes and a report at
//! the end.

use super::progress;
use super::Format;
use crate::deploy::apply::{self as ap, Options, Outcome, Report, Status};
use crate::deploy::desired::Desired;
use crate::deploy::engine::Engine;
use crate::deploy::lock::{self, Wait};
use crate::deploy::report;
use crate::deploy::session::{self, LockSpec, PlanDocument, PrepareError, SavedPlan};
use crate::deploy::state::Refresh;
use crate::exit;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// A plan saved by `fedgen diff --out`: applied only if the file and the host are unchanged.
    #[arg(value_name = "PLAN")]
    pub plan: Option<PathBuf>,
    #[command(flatten)]
    pub project: super::project::ProjectArgs,
    /// Remove containers of services the file no longer has, and networks it no longer has.
    #[arg(long)]
    pub prune: bool,
    /// Also remove the project's volumes that the file no longer mounts (their data is lost).
    #[arg(long)]
    pub prune_volumes: bool,
    /// Replace unmanaged containers that carry the project's names (or that a service names with
    /// `adopt:`), one dependency wave at a time: stop with their own signal and grace period,
    /// rename aside, start the new one on the same data, then remove the old one once the new one
    /// is ready, or put it back if it does not become ready.
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
    /// How deep to read the host: full (default) inspects every container (at once, eight at a
    /// time), so a plain apply repairs everything diff reports, `docker update` drift (restart
    /// policy, limits) and changed aliases included; fast reads the container list only (a
    /// constant number of API calls) and leaves those as they are. A saved plan is checked at
    /// the depth it was made with.
    #[arg(long, value_enum)]
    pub refresh: Option<Refresh>,
    /// compose: a project on one Docker host; swarm: a stack on a swarm, through the Swarm API
    /// (the file says which; this checks it). Without -f, swarm reads
    /// docker-stack.microservices.yml.
    #[arg(long, value_enum)]
    pub target: Option<crate::model::swarm::Target>,
    #[command(flatten)]
    pub engine: super::EngineArgs,
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
    match super::swarm_file(
        &args.project,
        saved.as_ref().map(|s| s.file.as_path()),
        args.target,
    ) {
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
        Ok(Some(file)) => return run_swarm(args, saved, file),
        Ok(None) => {}
    }
    let opts = args
        .project
        .options(saved.as_ref().map(|s| s.file.as_path()));
    let desired = match Desired::load(&opts) {
        Ok(d) => Arc::new(d),
        Err(e) => {
            eprint!("{e}");
            return exit::INVALID;
        }
    };
    if let Some(w) = &desired.warnings {
        eprint!("{w}");
    }
    let json = args.output == Format::Json;
    let rt = super::runtime();
    let engine = match rt.block_on(Engine::connect(&args.engine.selection())) {
        Ok(e) => e,
        Err(e) => {
            super::engine_error(&e, &desired);
            return exit::INVALID;
        }
    };
    // A saved plan is checked at the depth it was made with.
    let refresh = match &saved {
        Some(s) => s.refresh,
        None => args.refresh.unwrap_or(Refresh::Full),
    };
    if args.dry_run {
        let the_plan = match rt.block_on(session::plan_with(&engine, &desired, refresh)) {
            Ok(p) => p,
            Err(e) => {
                super::engine_error(&e, &desired);
                return exit::INVALID;
            }
        };
        if json {
            let doc = PlanDocument {
                plan: &the_plan,
                engine: engine.host(),
                api_calls: engine.calls(),
                file: desired.file.display().to_string(),
                file_sha256: session::file_sha256(&desired.files),
                desired_sha256: desired.fingerprint(),
            };
            println!("{}", doc.to_json(&desired));
        } else {
            print!(
                "{}",
                report::text(
                    &the_plan,
                    &desired,
                    engine.describe(),
                    report::Style::detect()
                )
            );
        }
        return if the_plan.in_sync {
            exit::OK
        } else {
            exit::CHANGES_PENDING
        };
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
    let project = desired.compose.name.clone();
    let outcome = rt.block_on(async {
        // SIGINT or SIGTERM: finish the steps under way, start nothing new, report.
        super::on_signal(interrupted.clone(), !json);
        // One apply per project and engine at a time: the lock lives on the engine.
        let spec = LockSpec {
            deadline: std::time::Instant::now() + args.timeout,
            stale_after: lock::stale_after_from_env(),
        };
        let (the_plan, held) = session::prepare_apply(
            &engine,
            &desired,
            refresh,
            saved.is_none(),
            spec,
            |w| match w {
                Wait::Held(h) => {
                    eprintln!("waiting for another apply of project {project} ({h}) to finish")
                }
                Wait::TakenOver(h, why) => {
                    eprintln!("taking over the lock of project {project} from {h}: {why}")
                }
            },
        )
        .await?;
        if let Some(l) = &held {
            watch_lock(l, interrupted.clone(), "project", project.clone());
        }
        let result = if let Some(why) = saved.as_ref().and_then(|s| s.stale(&desired, &the_plan)) {
            Err(why)
        } else {
            if !json && !the_plan.in_sync {
                let style = report::Style {
                    color: false,
                    diffs: false,
                };
                eprintln!(
                    "{}",
                    report::text(&the_plan, &desired, engine.describe(), style)
                );
            }
            Ok(ap::apply(&engine, desired.clone(), &the_plan, &opts, shown.clone()).await)
        };
        if let Some(l) = held {
            l.release().await;
        }
        Ok::<_, PrepareError>(result)
    });
    let result = match outcome_or_exit(outcome, args, "project", &project, &*desired) {
        Ok(r) => r,
        Err(code) => return code,
    };
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

/// Stops the rollout after the steps under way once `held` was taken over (this process was
/// frozen past its window).
fn watch_lock(
    held: &lock::EngineLock,
    interrupted: Arc<AtomicBool>,
    what: &'static str,
    name: String,
) {
    let lost = held.lost();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if lost.load(Ordering::SeqCst) {
                eprintln!("error: the lock of {what} {name} was taken over by another apply (this one stopped heartbeating for longer than its window); stopping after the steps under way");
                interrupted.store(true, Ordering::SeqCst);
                return;
            }
        }
    });
}

/// The report of an apply that got as far as its rollout, or the exit code of one that did not
/// (a saved plan gone stale, the engine, the lock, a pull), said on stderr.
fn outcome_or_exit(
    outcome: Result<Result<Report, String>, PrepareError>,
    args: &ApplyArgs,
    what: &str,
    name: &str,
    desired: &impl report::Redactor,
) -> Result<Report, i32> {
    match outcome {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(why)) => {
            eprintln!(
                "error: refusing to apply {}: {why}; run `fedgen diff --out` again",
                args.plan
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            Err(exit::REFUSED)
        }
        Err(PrepareError::Engine(e)) => {
            super::engine_error(&e, desired);
            Err(exit::INVALID)
        }
        Err(PrepareError::Busy(holder)) => {
            eprintln!(
                "error: another apply of {what} {name} ({holder}) still holds its lock on the engine after {:?}; if that apply is dead, its lock is taken over once it has not heartbeaten for its window ({}s)",
                args.timeout,
                holder.stale_after.as_secs()
            );
            Err(exit::REFUSED)
        }
        Err(PrepareError::Pull(e)) => {
            super::engine_error(&e, desired);
            eprintln!("  = hint: the image is neither on this host nor pullable from here; load it (`docker load`) or check the name and the registry");
            Err(exit::REFUSED)
        }
    }
}

/// `fedgen apply --target swarm`: the stack converged through the Swarm API, with the same
/// engine selection, lock on the engine, saved plans, dry run, progress, report and exit codes
/// as on one host.
fn run_swarm(args: &ApplyArgs, saved: Option<SavedPlan>, file: PathBuf) -> i32 {
    use crate::deploy::swarm::{apply as swarm_apply, session as swarm_session, SwarmDesired};
    let desired = match SwarmDesired::load(&file, &args.project.env_files) {
        Ok(d) => Arc::new(d),
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let json = args.output == Format::Json;
    let rt = super::runtime();
    let stack = desired.stack.fedgen.stack.clone();
    let engine = match rt.block_on(Engine::connect(&args.engine.selection())) {
        Ok(e) => e,
        Err(e) => {
            super::engine_error(&e, &desired);
            return exit::INVALID;
        }
    };
    let files = [file.clone()];
    if args.dry_run {
        let sp = match rt.block_on(swarm_session::plan_with(&engine, &desired)) {
            Ok(p) => p,
            Err(e) => {
                super::engine_error(&e, &desired);
                return exit::INVALID;
            }
        };
        if json {
            let doc = PlanDocument {
                plan: &sp.plan,
                engine: engine.host(),
                api_calls: engine.calls(),
                file: file.display().to_string(),
                file_sha256: session::file_sha256(&files),
                desired_sha256: desired.fingerprint(),
            };
            println!("{}", doc.to_json(&desired));
        } else {
            print!(
                "{}",
                swarm_session::text(&sp, &desired, engine.describe(), report::Style::detect())
            );
        }
        return if sp.plan.in_sync {
            exit::OK
        } else {
            exit::CHANGES_PENDING
        };
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
    let outcome = rt.block_on(async {
        super::on_signal(interrupted.clone(), !json);
        let spec = LockSpec {
            deadline: std::time::Instant::now() + args.timeout,
            stale_after: lock::stale_after_from_env(),
        };
        let (sp, held) =
            swarm_session::prepare_apply(&engine, &desired, saved.is_none(), spec, |w| match w {
                Wait::Held(h) => {
                    eprintln!("waiting for another apply of stack {stack} ({h}) to finish")
                }
                Wait::TakenOver(h, why) => {
                    eprintln!("taking over the lock of stack {stack} from {h}: {why}")
                }
            })
            .await?;
        if let Some(l) = &held {
            watch_lock(l, interrupted.clone(), "stack", stack.clone());
        }
        let stale = saved
            .as_ref()
            .and_then(|s| s.stale_for(&file, &files, &desired.fingerprint(), &sp.plan));
        let result = if let Some(why) = stale {
            Err(why)
        } else {
            if !json && !sp.plan.in_sync {
                let style = report::Style {
                    color: false,
                    diffs: false,
                };
                eprintln!(
                    "{}",
                    swarm_session::text(&sp, &desired, engine.describe(), style)
                );
            }
            Ok(swarm_apply::apply(&engine, desired.clone(), &sp, &opts, shown.clone()).await)
        };
        if let Some(l) = held {
            l.release().await;
        }
        Ok::<_, PrepareError>(result)
    });
    let result = match outcome_or_exit(outcome, args, "stack", &stack, &*desired) {
        Ok(r) => r,
        Err(code) => return code,
    };
    shown.finish();
    let redact = |t: &str| crate::deploy::report::Redactor::redact(&*desired, t);
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
            if !r.secrets_generated.is_empty() {
                let _ = writeln!(
                    out,
                    "  generated on the engine (kept there for every later apply): {}",
                    r.secrets_generated.join(", ")
                );
            }
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
    let downtime: Vec<String> = r
        .services
        .iter()
        .filter_map(|s| {
            s.downtime_ms
                .map(|ms| format!("{} {:.1}s", s.service, ms as f64 / 1000.0))
        })
        .collect();
    if !downtime.is_empty() {
        let _ = writeln!(out, "  downtime: {}", downtime.join(", "));
    }
    if !r.adopted.is_empty() {
        let _ = writeln!(
            out,
            "  adopted (replaced, volumes and bind mounts kept): {}",
            r.adopted.join(", ")
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
