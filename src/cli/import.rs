//! `fedgen import`: containers that run on the Docker host (made by hand) described as a stack
//! spec, their secrets in a 0600 env file, and a report on stderr. Exit 0 written, 1 when the
//! engine or a container cannot be read or a file cannot be written, 4 when a finding needs a
//! decision (nothing is written), 64 on a usage error.

use super::Format;
use crate::deploy::engine::Engine;
use crate::exit;
use crate::import::{self, Options, SecretFrom, Selection};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// Containers to import, by name (or id).
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
    /// `name=TEXT`: also the containers whose name contains TEXT (repeatable).
    #[arg(long = "filter", value_name = "name=TEXT")]
    pub filters: Vec<String>,
    /// Also the containers of this Compose project (by label, or named PROJECT_SERVICE_N).
    #[arg(long, value_name = "PROJECT")]
    pub project: Option<String>,
    /// The spec's project name (default: the one the containers share, or their names' prefix).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Where to write the stack spec (default: stdout).
    #[arg(short = 'o', long = "out", value_name = "SPEC")]
    pub out: Option<PathBuf>,
    /// Where to write the secrets' values (mode 0600); needed when any secret is found.
    #[arg(long = "env-out", value_name = "FILE")]
    pub env_out: Option<PathBuf>,
    /// `[SECRET=]CONTAINER`: when containers hold different values for one secret, keep that
    /// container's (for every such secret it holds, or only SECRET). Repeatable.
    #[arg(long = "secret-from", value_name = "[SECRET=]CONTAINER")]
    pub secret_from: Vec<SecretFrom>,
    /// text: the report on stderr; json: the report as one JSON document on stdout (needs -o).
    #[arg(long, value_enum, default_value = "text")]
    pub output: Format,
    #[command(flatten)]
    pub engine: super::EngineArgs,
}

pub fn run(args: &ImportArgs) -> i32 {
    let mut name_filters = Vec::new();
    for f in &args.filters {
        match f.strip_prefix("name=") {
            Some(v) if !v.is_empty() => name_filters.push(v.to_string()),
            _ => {
                eprintln!("error: --filter takes name=TEXT, not `{f}`");
                return exit::USAGE;
            }
        }
    }
    let selection = Selection {
        names: args.containers.clone(),
        name_filters,
        project: args.project.clone(),
    };
    if selection.is_empty() {
        eprintln!("error: say which containers to import: CONTAINER..., --filter name=TEXT or --project PROJECT");
        return exit::USAGE;
    }
    let json = args.output == Format::Json;
    if json && args.out.is_none() {
        eprintln!("error: --output json prints the report on stdout: write the spec with -o SPEC");
        return exit::USAGE;
    }
    let opts = Options {
        selection,
        name: args.name.clone(),
        secret_from: args.secret_from.clone(),
        env_out: args.env_out.as_ref().map(|p| p.display().to_string()),
    };
    let result = super::runtime().block_on(async {
        let engine = Engine::connect(&args.engine.selection()).await?;
        import::import(&engine, &opts)
            .await
            .map_err(ImportFailure::from)
    });
    let mut imported = match result {
        Ok(i) => i,
        Err(ImportFailure::Engine(e)) => {
            eprintln!("error: {e}");
            if let Some(h) = e.hint() {
                eprintln!("  = hint: {h}");
            }
            return exit::INVALID;
        }
        Err(ImportFailure::Import(e)) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let mut code = exit::OK;
    if imported.report.blocked() {
        code = exit::REFUSED;
    } else if imported.has_secrets() && args.env_out.is_none() {
        eprintln!(
            "error: {} secret(s) were lifted out of the containers; pass --env-out FILE to keep their values (written with mode 0600); nothing was written",
            imported.report.secrets.len()
        );
        code = exit::INVALID;
    } else {
        let env_out = if imported.has_secrets() {
            args.env_out.as_deref()
        } else {
            None
        };
        match imported.write(args.out.as_deref(), env_out) {
            Ok(()) => imported.report.written = true,
            Err(e) => {
                eprintln!("error: cannot write the spec or the env file: {e}");
                code = exit::INVALID;
            }
        }
    }
    if json {
        let v = serde_json::to_string(&imported.report).expect("the report serializes");
        println!("{}", imported.redact(&v));
    } else {
        let mut text = imported.report.text();
        if imported.report.written {
            text.push_str(&format!(
                "\nwrote {}{}\n",
                args.out
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or("the spec to stdout".into()),
                match (&args.env_out, imported.has_secrets()) {
                    (Some(e), true) => format!(" and {} (mode 0600)", e.display()),
                    _ => String::new(),
                }
            ));
        } else if code == exit::REFUSED {
            text.push_str("\nnothing was written: settle the errors above and import again\n");
        }
        eprint!("{}", imported.redact(&text));
    }
    code
}

enum ImportFailure {
    Engine(crate::deploy::engine::EngineError),
    Import(import::ImportError),
}

impl From<crate::deploy::engine::EngineError> for ImportFailure {
    fn from(e: crate::deploy::engine::EngineError) -> Self {
        ImportFailure::Engine(e)
    }
}

impl From<import::ImportError> for ImportFailure {
    fn from(e: import::ImportError) -> Self {
        match e {
            import::ImportError::Engine(e) => ImportFailure::Engine(e),
            import::ImportError::Read(import::read::ReadError::Engine(e)) => {
                ImportFailure::Engine(e)
            }
            other => ImportFailure::Import(other),
        }
    }
}
