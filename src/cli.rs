//! The command line: parses arguments, calls the library, prints, and maps outcomes to exit codes.
//!
//! Exit codes (the contract CI scripts rely on; see README):
//! - 0: success (and, for `build --check`, the file is up to date)
//! - 1: invalid input (spec, `.env`, templates) or another error
//! - 2: changes pending (`build --check`: the file on disk differs from what the inputs compile to)
//! - 64: usage error (unknown flag, missing argument), as sysexits' EX_USAGE

use crate::compile::{self, emit, kinds::Kinds};
use crate::deploy::state::Refresh;
use crate::diag::{self, Diagnostics, Sources};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

pub mod exit {
    pub const OK: i32 = 0;
    pub const INVALID: i32 = 1;
    pub const CHANGES_PENDING: i32 = 2;
    pub const USAGE: i32 = 64;
}

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
    Build(BuildArgs),
    /// Compare a compose file with what runs on the Docker host: exit 0 in sync, 2 changes pending.
    Diff(DiffArgs),
    /// Converge the Docker host to a compose file (or a saved plan), health-gated and idempotent.
    Apply(ApplyArgs),
    /// List the service kinds (templates) with what each provides.
    Kinds {
        /// A directory of KIND.yml.j2 templates that override or add to the built-in ones.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
        /// Print the reference as Markdown (docs/kinds.md is this output).
        #[arg(long)]
        markdown: bool,
    },
}

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
}

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
    #[arg(long, default_value = "300s", value_parser = parse_timeout)]
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
}

fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    crate::compile::spec::parse_duration(s)
        .map(std::time::Duration::from_nanos)
        .ok_or_else(|| format!("`{s}` is not a duration (e.g. 300s, 5m)"))
}

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// The stack spec (stacks/*.yml).
    #[arg(value_name = "SPEC")]
    pub spec: PathBuf,
    /// The .env file whose variables `${VAR}` reads (the process environment wins over it).
    #[arg(long = "env", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// Where to write the compose file.
    #[arg(
        short,
        long,
        value_name = "FILE",
        default_value = "docker-compose.microservices.yml"
    )]
    pub output: PathBuf,
    /// A directory of KIND.yml.j2 templates that override or add to the built-in kinds.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Where `generate:` secrets are kept (0700 directory, 0600 files). This path is written into
    /// the compose file. [default: $XDG_STATE_HOME/fedgen/<project>/secrets]
    #[arg(long, value_name = "DIR", env = "FEDGEN_SECRETS_DIR")]
    pub secrets_dir: Option<PathBuf>,
    /// Write nothing; exit 2 if the file on disk differs from what the inputs compile to.
    #[arg(long)]
    pub check: bool,
    /// Print the compose file to standard output instead of writing it.
    #[arg(long, conflicts_with = "check")]
    pub stdout: bool,
    /// How to report: text for people (stderr), json for CI (stdout).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
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
        Command::Build(args) => build(&args),
        Command::Diff(args) => diff(&args),
        Command::Apply(args) => apply(&args),
        Command::Kinds {
            templates,
            markdown,
        } => list_kinds(templates, markdown),
    }
}

fn build(args: &BuildArgs) -> i32 {
    let input = compile::Input {
        spec: args.spec.clone(),
        env_file: args.env_file.clone(),
        templates: args.templates.clone(),
        out: args.output.clone(),
        secrets_dir: args.secrets_dir.clone(),
        process_env: std::env::vars().collect(),
    };
    let c = compile::compile(&input);
    let report = |status: &str, extra: serde_json::Value| {
        if args.format == Format::Json {
            let mut v = serde_json::json!({
                "version": 1,
                "status": status,
                "output": args.output.display().to_string(),
                "diagnostics": diag::to_json(&c.diags.items, &c.sources),
            });
            if let (Some(o), serde_json::Value::Object(extra)) = (v.as_object_mut(), extra) {
                o.extend(extra);
            }
            println!("{v}");
        } else {
            eprint!("{}", diag::render_human(&c.diags.items, &c.sources));
        }
    };
    let Some(out) = &c.output else {
        report("invalid", serde_json::json!({}));
        if args.format == Format::Text {
            let n = c.diags.error_count();
            eprintln!(
                "error: {} has {n} problem{}; nothing was written",
                args.spec.display(),
                if n == 1 { "" } else { "s" }
            );
        }
        return exit::INVALID;
    };
    let summary = serde_json::json!({
        "services": out.compose.services.len(),
        "networks": out.compose.networks.len(),
        "sha256": crate::model::sha256_hex(&out.yaml),
    });
    if args.check {
        let current = std::fs::read(&args.output).unwrap_or_default();
        let up_to_date = current == out.yaml.as_bytes();
        report(
            if up_to_date {
                "up-to-date"
            } else {
                "changes-pending"
            },
            summary,
        );
        if args.format == Format::Text {
            if up_to_date {
                eprintln!("{} is up to date", args.output.display());
            } else {
                eprintln!(
                    "{} differs from what {} compiles to; run fedgen build",
                    args.output.display(),
                    args.spec.display()
                );
                let old = String::from_utf8_lossy(&current);
                let diff = similar::TextDiff::from_lines(old.as_ref(), out.yaml.as_str());
                eprint!(
                    "{}",
                    diff.unified_diff()
                        .context_radius(3)
                        .header(&args.output.display().to_string(), "compiled")
                );
            }
        }
        return if up_to_date {
            exit::OK
        } else {
            exit::CHANGES_PENDING
        };
    }
    for (dir, name, bytes) in &out.generated {
        if let Err(e) = emit::ensure_generated_secret(dir, name, *bytes) {
            eprintln!(
                "error: cannot create generated secret `{name}` in {}: {e}",
                dir.display()
            );
            return exit::INVALID;
        }
    }
    if args.stdout {
        report("ok", summary);
        let _ = std::io::stdout().write_all(out.yaml.as_bytes());
        return exit::OK;
    }
    if let Err(e) = emit::write_atomic(&args.output, out.yaml.as_bytes()) {
        eprintln!("error: cannot write {}: {e}", args.output.display());
        return exit::INVALID;
    }
    report("ok", summary);
    if args.format == Format::Text {
        eprintln!(
            "wrote {} ({} services, {} networks)",
            args.output.display(),
            out.compose.services.len(),
            out.compose.networks.len()
        );
    }
    exit::OK
}

fn list_kinds(templates: Option<PathBuf>, markdown: bool) -> i32 {
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    let kinds = Kinds::load(templates.as_deref(), &mut sources, &mut diags);
    if diags.has_errors() {
        eprint!("{}", diag::render_human(&diags.items, &sources));
        return exit::INVALID;
    }
    if markdown {
        print!("{}", kinds_markdown(&kinds));
        return exit::OK;
    }
    for k in kinds.kinds.values() {
        let port = k
            .meta
            .port
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into());
        println!("{:<12} port {:<5} {}", k.name, port, k.meta.doc);
        println!("{:<12} health: {}", "", k.meta.health);
        for (p, m) in &k.meta.params {
            println!("{:<12} {p}: {}", "", m.doc);
        }
    }
    exit::OK
}

/// The kinds reference as Markdown: what each kind is, its port, what its healthcheck relies on,
/// its capabilities with their reasons, its `*_FILE` settings and its parameters.
fn kinds_markdown(kinds: &Kinds) -> String {
    use std::fmt::Write as _;
    let mut out = String::from(
        "# Service kinds\n\nGenerated by `fedgen kinds --markdown`; a test keeps it in step with `templates/`.\n\n\
         Every kind gets fedgen's policies (restart, log rotation, networks, `cap_drop: [ALL]`,\n\
         `no-new-privileges`, limits, labels); see [policies.md](policies.md). Below is what each kind adds.\n",
    );
    for k in kinds.kinds.values() {
        let m = &k.meta;
        let _ = writeln!(out, "\n## `{}`\n\n{}\n", k.name, m.doc);
        let _ = writeln!(
            out,
            "- port: {}",
            m.port
                .map(|p| p.to_string())
                .unwrap_or_else(|| "none".into())
        );
        let _ = writeln!(out, "- healthcheck relies on: {}", m.health);
        if !m.long_running {
            let _ = writeln!(
                out,
                "- one-shot: `restart: no`; dependants wait for `service_completed_successfully`"
            );
        }
        let _ = writeln!(
            out,
            "- read-only root: {}",
            if m.read_only {
                "yes, unless it receives copied-in secrets or configs"
            } else {
                "no"
            }
        );
        if let Some(mem) = &m.memory {
            let _ = writeln!(
                out,
                "- default limits: memory {mem}, cpus {}",
                m.cpus.as_deref().unwrap_or("none")
            );
        }
        if let Some(g) = &m.stop_grace_period {
            let _ = writeln!(out, "- stop grace period: {g}");
        }
        for (cap, why) in &m.cap_add {
            let _ = writeln!(out, "- adds `{cap}`: {why}");
        }
        if !m.file_secrets.is_empty() {
            let _ = writeln!(out, "- secrets by file: {}", m.file_secrets.join(", "));
        }
        if !m.params.is_empty() {
            let _ = writeln!(out, "\n| setting | type | default | |\n|---|---|---|---|");
            for (name, p) in &m.params {
                let default = match (&p.default, p.required) {
                    (_, true) => "required".to_string(),
                    (Some(d), _) => format!("`{d}`"),
                    (None, _) => "none".to_string(),
                };
                let _ = writeln!(
                    out,
                    "| `{name}` | {} | {default} | {} |",
                    format!("{:?}", p.ty).to_lowercase(),
                    p.doc.replace('|', "\\|")
                );
            }
        }
    }
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// Connects to the engine, reads the project's state and plans against the file; on failure,
/// prints the error (with its hint) and gives the exit code.
fn connect_and_plan(
    rt: &tokio::runtime::Runtime,
    desired: &crate::deploy::desired::Desired,
    refresh: Refresh,
) -> Result<(crate::deploy::engine::Engine, crate::deploy::plan::Plan), i32> {
    use crate::deploy::{engine::Engine, plan, state};
    let result = rt.block_on(async {
        let engine = Engine::connect().await?;
        let observed =
            state::observe(&engine, &desired.compose.name, &desired.expected(), refresh).await?;
        Ok::<_, crate::deploy::engine::EngineError>((engine, observed))
    });
    match result {
        Ok((engine, observed)) => Ok((
            engine,
            plan::plan(
                &desired.compose,
                &observed,
                &desired.hashes,
                &desired.base_dir,
            ),
        )),
        Err(e) => {
            eprintln!("error: {}", desired.redact(&e.to_string()));
            if let Some(h) = e.hint() {
                eprintln!("  = hint: {h}");
            }
            Err(exit::INVALID)
        }
    }
}

fn diff(args: &DiffArgs) -> i32 {
    use crate::deploy::{desired::Desired, report};
    let desired = match Desired::load(&args.file, args.env_file.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let (engine, plan) = match connect_and_plan(&runtime(), &desired, args.refresh) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let file_sha = std::fs::read(&args.file)
        .map(crate::model::sha256_hex)
        .unwrap_or_default();
    let extra = serde_json::json!({ "engine": engine.host(), "api_calls": engine.calls(), "file": args.file.display().to_string(), "file_sha256": file_sha });
    if let Some(out) = &args.out {
        let saved = report::json(&plan, &desired, extra.clone());
        if let Err(e) = emit::write_atomic(out, saved.as_bytes()) {
            eprintln!("error: cannot write the plan to {}: {e}", out.display());
            return exit::INVALID;
        }
    }
    match args.output {
        Format::Json => println!("{}", report::json(&plan, &desired, extra)),
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

fn apply(args: &ApplyArgs) -> i32 {
    use crate::deploy::apply::{self as ap, Options, Progress};
    use crate::deploy::{desired::Desired, report};
    let saved: Option<serde_json::Value> = match &args.plan {
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("error: cannot read the saved plan {}: {e}", p.display());
                return exit::INVALID;
            }
        },
        None => None,
    };
    let file = args
        .file
        .clone()
        .or_else(|| {
            saved
                .as_ref()
                .and_then(|s| s["file"].as_str())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("docker-compose.microservices.yml"));
    let desired = match Desired::load(&file, args.env_file.as_deref()) {
        Ok(d) => std::sync::Arc::new(d),
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let json = args.output == Format::Json;
    let rt = runtime();
    // One apply per project and engine at a time; a killed holder's lock is released by the kernel.
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let _lock = if args.dry_run {
        None
    } else {
        match crate::deploy::lock::ProjectLock::acquire(
            &host,
            &desired.compose.name,
            std::time::Instant::now() + args.timeout,
            |holder| {
                eprintln!(
                    "waiting for another apply of project {} (pid {holder}) to finish",
                    desired.compose.name
                )
            },
        ) {
            Ok(l) => Some(l),
            Err(crate::deploy::lock::LockError::Busy { holder, path }) => {
                eprintln!(
                    "error: another apply of project {} (pid {holder}) still holds {} after {:?}",
                    desired.compose.name,
                    path.display(),
                    args.timeout
                );
                return ap::exit::REFUSED;
            }
            Err(crate::deploy::lock::LockError::Io(e)) => {
                eprintln!("error: {e}");
                return exit::INVALID;
            }
        }
    };
    // A saved plan is checked at the depth it was made with (before `refresh`: full).
    let refresh = match &saved {
        Some(s) => serde_json::from_value(s["refresh"].clone()).unwrap_or(Refresh::Full),
        None => args.refresh.unwrap_or(Refresh::Fast),
    };
    let (engine, the_plan) = match connect_and_plan(&rt, &desired, refresh) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if let Some(saved) = &saved {
        let file_sha = std::fs::read(&file)
            .map(crate::model::sha256_hex)
            .unwrap_or_default();
        let stale = if saved["file_sha256"].as_str() != Some(file_sha.as_str()) {
            Some(format!(
                "{} changed since the plan was saved",
                file.display()
            ))
        } else if saved["fingerprint"].as_str() != Some(the_plan.fingerprint.as_str()) {
            Some("the host changed since the plan was saved".to_string())
        } else {
            None
        };
        if let Some(why) = stale {
            eprintln!(
                "error: refusing to apply {}: {why}; run `fedgen diff --out` again",
                args.plan
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            return ap::exit::REFUSED;
        }
    }
    if args.dry_run {
        if json {
            println!(
                "{}",
                report::json(
                    &the_plan,
                    &desired,
                    serde_json::json!({ "engine": engine.host(), "api_calls": engine.calls() })
                )
            );
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
        eprint!(
            "{}",
            report::text(
                &the_plan,
                &desired,
                engine.host(),
                report::Style { color: false }
            )
            .split("\n--- running")
            .next()
            .unwrap_or_default()
        );
        eprintln!();
    }
    let redactor = desired.clone();
    let progress = Progress::new(json, std::sync::Arc::new(move |t: &str| redactor.redact(t)));
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
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
        let flag = interrupted.clone();
        let quiet = json;
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            if !quiet {
                eprintln!("interrupted: finishing the steps under way, starting nothing new");
            }
        });
        ap::apply(
            &engine,
            desired.clone(),
            args.env_file.clone(),
            &the_plan,
            &opts,
            &progress,
        )
        .await
    });
    if json {
        let mut v = serde_json::to_value(&result).expect("the report serializes");
        v["event"] = "report".into();
        v["version"] = 1.into();
        println!("{}", desired.redact(&v.to_string()));
    } else {
        if progress.live.is_some() {
            eprintln!();
        }
        eprint!("{}", desired.redact(&apply_summary(&result)));
    }
    result.exit_code()
}

fn apply_summary(r: &crate::deploy::apply::Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    match r.status.as_str() {
        "in-sync" => {
            let _ = writeln!(
                out,
                "In sync: nothing to do ({} API calls, none that change anything).",
                r.api_calls
            );
        }
        "converged" => {
            let count = |what: &str| r.services.iter().filter(|s| s.result == what).count();
            let _ = writeln!(
                out,
                "Converged in {:.1}s: {} created, {} recreated, {} updated in place, {} started, {} unchanged ({} API calls, {} changing).",
                r.elapsed_ms as f64 / 1000.0,
                count("created"),
                count("recreated"),
                count("updated"),
                count("started"),
                count("unchanged"),
                r.api_calls,
                r.mutating_calls
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "error: apply {}: {}",
                r.status,
                r.reason.as_deref().unwrap_or("")
            );
        }
    }
    for s in r
        .services
        .iter()
        .filter(|s| s.result == "failed" || s.result == "rolled-back")
    {
        let _ = writeln!(
            out,
            "\n  {} failed: {}",
            s.service,
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
    let done: Vec<String> = r
        .services
        .iter()
        .filter(|s| {
            !matches!(
                s.result.as_str(),
                "unchanged" | "skipped" | "failed" | "interrupted" | "rolled-back"
            )
        })
        .map(|s| format!("{} {}", s.service, s.result))
        .collect();
    let not_done: Vec<&str> = r
        .services
        .iter()
        .filter(|s| s.result == "skipped" || s.result == "interrupted")
        .map(|s| s.service.as_str())
        .collect();
    if r.status != "converged" && r.status != "in-sync" {
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
    if !r.orphans_kept.is_empty() {
        let _ = writeln!(
            out,
            "  orphans kept (use --prune to remove): {}",
            r.orphans_kept.join(", ")
        );
    }
    out
}
