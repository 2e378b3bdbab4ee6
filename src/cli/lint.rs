//! `fedgen lint`: the reboot-safety and least-privilege rules over Compose files, as text with
//! source excerpts, versioned JSON or SARIF 2.1.0; `--spec` prints the stack spec that compiles
//! to a safe equivalent instead. Exit 0 when no finding is at or above `--fail-on`, 1 when one is
//! or a file cannot be read, 64 on a usage error (docs/lint.md).

use crate::compose;
use crate::diag::{self, Code, Diagnostic, Diagnostics, Sources};
use crate::exit;
use crate::lint::{self, FailOn, Finding, Rule};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LintFormat {
    /// Findings with source excerpts, for people.
    Text,
    /// One versioned JSON document (docs/lint.md).
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Silence a rule for one service with `x-fedgen-lint: {disable: [RULE]}` on \
the service (or for every service at the top level). The rules: docs/lint.md."
)]
pub struct LintArgs {
    /// Compose files to lint, each as a project of its own (use -f to merge several into one)
    /// [default: the file Compose would read here].
    #[arg(value_name = "FILE", conflicts_with = "files")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub project: super::project::ProjectArgs,
    /// How to report.
    #[arg(long, value_enum, default_value = "text")]
    pub format: LintFormat,
    /// Exit 1 when a finding is at this severity or above; `never`: report only.
    #[arg(long, value_enum, value_name = "SEVERITY", default_value = "warning")]
    pub fail_on: FailOn,
    /// Do not run this rule; repeatable.
    #[arg(long = "disable", value_enum, value_name = "RULE")]
    pub disable: Vec<Rule>,
    /// Print the stack spec (fedgen build's input) that compiles to a safe equivalent of the
    /// file, instead of the findings.
    #[arg(long, conflicts_with_all = ["format", "fail_on", "disable"])]
    pub spec: bool,
}

pub fn run(args: &LintArgs) -> i32 {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut projects: Vec<compose::Options> = if args.paths.is_empty() {
        vec![args.project.options(None)]
    } else {
        args.paths
            .iter()
            .map(|p| {
                let mut one = args.project.clone();
                one.files = vec![p.clone()];
                one.options(None)
            })
            .collect()
    };
    if args.spec && projects.len() > 1 {
        eprintln!(
            "error: --spec suggests a spec for one project: name one file (merge several with -f)"
        );
        return exit::USAGE;
    }
    for p in &mut projects {
        p.lenient = true;
    }
    let opts = lint::Options {
        disabled: args.disable.iter().copied().collect(),
    };
    let mut sources = Sources::default();
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut secrets = Vec::new();
    let mut suppressed = 0;
    let mut files = std::collections::BTreeSet::new();
    let mut invalid = 0;
    for o in &projects {
        let mut read = Diagnostics::default();
        let project = compose::load(o, &mut sources, &mut read);
        // Keys fedgen cannot apply do not matter to a linter: it reads them, and says nothing.
        diags.extend(
            read.items
                .into_iter()
                .filter(|d| d.is_error() || d.code != Code::UnsupportedKey),
        );
        let Some(project) = project else {
            invalid += 1;
            continue;
        };
        if args.spec {
            let shown = |p: &PathBuf| lint::display_path(p, &cwd).display().to_string();
            let label = project
                .files
                .iter()
                .map(shown)
                .collect::<Vec<_>>()
                .join(" + ");
            print_diags(&diags, &sources, &[], &cwd);
            print!("{}", lint::suggest::spec(&project, &label));
            return exit::OK;
        }
        files.extend(project.files.iter().cloned());
        let out = lint::check(&project, &sources, &opts);
        findings.extend(out.findings);
        diags.extend(out.diags);
        secrets.extend(out.secrets);
        suppressed += out.suppressed;
    }
    let shown = lint::display_sources(&sources, &secrets, &cwd);
    let counts = lint::Counts::of(&findings);
    let failed = findings.iter().any(|f| args.fail_on.fails(f.severity));
    let code = if invalid > 0 || failed {
        exit::INVALID
    } else {
        exit::OK
    };
    match args.format {
        LintFormat::Text => {
            print_diags(&diags, &sources, &secrets, &cwd);
            let color = std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            print!("{}", lint::render_text(&findings, &shown, color));
            println!(
                "{}",
                summary_line(&counts, files.len(), suppressed, invalid)
            );
        }
        LintFormat::Json => {
            let summary = serde_json::json!({
                "files": files.len(),
                "errors": counts.errors,
                "warnings": counts.warnings,
                "info": counts.info,
                "suppressed": suppressed,
                "unreadable": invalid,
                "fail_on": args.fail_on,
                "failed": code != exit::OK,
            });
            println!("{}", lint::to_json(&findings, &diags, &shown, summary));
        }
        LintFormat::Sarif => {
            let log = lint::sarif::to_sarif(&findings, &diags, &shown, &cwd, invalid == 0);
            println!(
                "{}",
                serde_json::to_string_pretty(&log).expect("the log serializes")
            );
        }
    }
    code
}

/// The reader's diagnostics and the `x-fedgen-lint` warnings, on stderr, secrets hidden.
fn print_diags(
    diags: &[Diagnostic],
    sources: &Sources,
    secrets: &[diag::Span],
    cwd: &std::path::Path,
) {
    if diags.is_empty() {
        return;
    }
    let shown = lint::display_sources(sources, secrets, cwd);
    eprint!("{}", diag::render_human(diags, &shown));
}

/// `found 9 problems (3 errors, 5 warnings, 1 info) in 1 file; 1 suppressed by x-fedgen-lint`.
fn summary_line(c: &lint::Counts, files: usize, suppressed: usize, invalid: usize) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = Vec::new();
    if c.total() > 0 {
        parts.push(format!(
            "found {} ({}, {}, {}) in {}",
            plural(c.total(), "problem", "problems"),
            plural(c.errors, "error", "errors"),
            plural(c.warnings, "warning", "warnings"),
            plural(c.info, "info", "info"),
            plural(files, "file", "files")
        ));
    } else if files > 0 {
        parts.push(format!(
            "no problems found in {}",
            plural(files, "file", "files")
        ));
    }
    if suppressed > 0 {
        parts.push(format!("{suppressed} suppressed by x-fedgen-lint"));
    }
    if invalid > 0 {
        parts.push(format!(
            "{} could not be read (see the errors above)",
            plural(invalid, "project", "projects")
        ));
    }
    parts.join("; ")
}
