//! What import tells the user: per container, what was dropped, lifted, inferred, and what
//! fedgen's policies will add; findings that need a decision; the cost in calls and time.
//!
//! Takes: what the other stages recorded. Gives: the report as text (stderr) or JSON. Every
//! string in it is scrubbed of every secret value import saw before it leaves the library.

use serde::Serialize;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Import writes nothing until it is settled (e.g. with `--secret-from`).
    Blocking,
    /// Written, but worth a look before `apply --adopt`.
    Warning,
}

/// Something import cannot decide alone, or that the user should know before adopting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Stable kebab-case name (`secret-values-differ`, `volatile-secret-file`, ...).
    pub code: &'static str,
    pub message: String,
    /// The containers concerned.
    pub containers: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hint: String,
}

/// What happened to one container.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ContainerReport {
    pub container: String,
    pub service: String,
    pub kind: String,
    pub image: String,
    /// What the container had that the spec leaves out (daemon noise, the image's own values,
    /// copied networks, settings with no place in a spec).
    pub dropped: Vec<String>,
    /// Secrets taken out of its environment, URLs and files.
    pub lifted: Vec<String>,
    /// What import worked out (kind, port, uses, data, databases, ...), each with where from.
    pub inferred: Vec<String>,
    /// What fedgen's policies give the compiled service that the container did not have.
    pub policies: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub version: u32,
    pub project: String,
    pub engine: String,
    pub containers: Vec<ContainerReport>,
    pub findings: Vec<Finding>,
    /// Secret names (never values) and the containers that hold each.
    pub secrets: Vec<SecretLine>,
    pub api_calls: usize,
    pub elapsed_ms: u128,
    /// The spec and env file were written (false: a blocking finding, or `--check`).
    pub written: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SecretLine {
    pub name: String,
    /// The variable of the `--env-out` file that holds it.
    pub variable: String,
    pub containers: Vec<String>,
}

impl Report {
    pub fn blocked(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::Blocking)
    }

    /// Applies `f` to every string of the report (redaction).
    pub fn map_strings(&mut self, f: &dyn Fn(&str) -> String) {
        for c in &mut self.containers {
            for list in [
                &mut c.dropped,
                &mut c.lifted,
                &mut c.inferred,
                &mut c.policies,
            ] {
                for s in list.iter_mut() {
                    *s = f(s);
                }
            }
        }
        for x in &mut self.findings {
            x.message = f(&x.message);
            x.hint = f(&x.hint);
        }
    }

    /// The report for people, on stderr.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "import: {} container(s) from {} into project {} ({} API calls, {:.2}s)",
            self.containers.len(),
            self.engine,
            self.project,
            self.api_calls,
            self.elapsed_ms as f64 / 1000.0
        );
        for c in &self.containers {
            let _ = writeln!(
                out,
                "\n{} <- container {} ({})",
                c.service, c.container, c.image
            );
            let _ = writeln!(out, "  kind      {}", c.kind);
            for (label, list) in [
                ("inferred", &c.inferred),
                ("lifted", &c.lifted),
                ("dropped", &c.dropped),
                ("policies", &c.policies),
            ] {
                for (i, line) in list.iter().enumerate() {
                    let _ = writeln!(out, "  {:<9} {line}", if i == 0 { label } else { "" });
                }
            }
        }
        if !self.secrets.is_empty() {
            let _ = writeln!(out, "\nsecrets (values only in the --env-out file):");
            for s in &self.secrets {
                let _ = writeln!(
                    out,
                    "  {} (${}): {}",
                    s.name,
                    s.variable,
                    s.containers.join(", ")
                );
            }
        }
        for f in &self.findings {
            let what = match f.severity {
                Severity::Blocking => "error",
                Severity::Warning => "warning",
            };
            let _ = writeln!(out, "\n{what}[{}]: {}", f.code, f.message);
            if !f.hint.is_empty() {
                let _ = writeln!(out, "  = hint: {}", f.hint);
            }
        }
        out
    }
}
