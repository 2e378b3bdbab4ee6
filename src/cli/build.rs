//! `fedgen build`: compile a stack spec into a compose file (or, `--target swarm`, a stack file),
//! check one in CI (`--check`), or print it (`--stdout`); diagnostics as text on stderr or one
//! JSON document on stdout.

use super::Format;
use crate::compile::{self, emit};
use crate::diag;
use crate::exit;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// The stack spec (stacks/*.yml).
    #[arg(value_name = "SPEC")]
    pub spec: PathBuf,
    /// The .env file whose variables `${VAR}` reads (the process environment wins over it).
    #[arg(long = "env", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// Where to write the file [default: docker-compose.microservices.yml, or
    /// docker-stack.microservices.yml for the swarm target].
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// What to write: a compose file for one Docker host, or a stack file for a swarm
    /// (`docker stack deploy`, `fedgen apply --target swarm`) [default: the spec's `target:`,
    /// else compose].
    #[arg(long, value_enum)]
    pub target: Option<compile::Target>,
    /// A directory of KIND.yml.j2 templates that override or add to the built-in kinds.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// No longer used: `generate:` secrets are made on the engine by the first `fedgen apply`
    /// (accepted, with a warning, so that old scripts keep working).
    #[arg(long, value_name = "DIR", hide = true)]
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

/// The default output file of each target.
fn default_output(target: compile::Target) -> PathBuf {
    PathBuf::from(match target {
        compile::Target::Compose => "docker-compose.microservices.yml",
        compile::Target::Swarm => "docker-stack.microservices.yml",
    })
}

pub fn run(args: &BuildArgs) -> i32 {
    let input = compile::Input {
        spec: args.spec.clone(),
        env_file: args.env_file.clone(),
        templates: args.templates.clone(),
        out: args
            .output
            .clone()
            .unwrap_or_else(|| default_output(args.target.unwrap_or_default())),
        process_env: std::env::vars().collect(),
        target: args.target,
    };
    if args.secrets_dir.is_some() {
        eprintln!("warning: --secrets-dir is no longer used: `generate:` secrets are made on the Docker engine by the first `fedgen apply` and kept there (see docs/spec.md)");
    }
    let c = compile::compile(&input);
    // Without -o, each target's own file name (in the same directory, so relative paths in the
    // file are the same).
    let output_path = match (&args.output, &c.output) {
        (Some(o), _) => o.clone(),
        (None, Some(out)) => default_output(out.target),
        (None, None) => input.out.clone(),
    };
    let output = &output_path;
    let report = |status: &str, extra: serde_json::Value| {
        if args.format == Format::Json {
            let mut v = serde_json::json!({
                "version": 1,
                "status": status,
                "output": output.display().to_string(),
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
        "target": out.target.as_str(),
        "services": out.compose.services.len(),
        "networks": out.compose.networks.len(),
        "sha256": crate::model::sha256_hex(&out.yaml),
    });
    if args.check {
        let current = std::fs::read(output).unwrap_or_default();
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
                eprintln!("{} is up to date", output.display());
            } else {
                eprintln!(
                    "{} differs from what {} compiles to; run fedgen build",
                    output.display(),
                    args.spec.display()
                );
                let old = String::from_utf8_lossy(&current);
                let diff = similar::TextDiff::from_lines(old.as_ref(), out.yaml.as_str());
                eprint!(
                    "{}",
                    diff.unified_diff()
                        .context_radius(3)
                        .header(&output.display().to_string(), "compiled")
                );
            }
        }
        return if up_to_date {
            exit::OK
        } else {
            exit::CHANGES_PENDING
        };
    }
    if args.stdout {
        report("ok", summary);
        let _ = std::io::stdout().write_all(out.yaml.as_bytes());
        return exit::OK;
    }
    if let Err(e) = emit::write_atomic(output, out.yaml.as_bytes()) {
        eprintln!("error: cannot write {}: {e}", output.display());
        return exit::INVALID;
    }
    report("ok", summary);
    if args.format == Format::Text {
        eprintln!(
            "wrote {} ({} services, {} networks)",
            output.display(),
            out.compose.services.len(),
            out.compose.networks.len()
        );
    }
    exit::OK
}
