//! The renderings of a [`Plan`] for people: text (grouped by action, a unified diff per changed
//! service, colour only on a terminal without NO_COLOR) and Markdown (a summary line, a table of
//! the services that change, the project's networks, secrets, orphans and conflicts, each diff
//! folded in a `<details>`: fit for a pull-request comment or `$GITHUB_STEP_SUMMARY`, and kept
//! under GitHub's 65536-character comment limit). (The JSON rendering is the plan itself, see
//! [`crate::deploy::session::PlanDocument`].) All pass through the secret scrubber of
//! [`Desired`], so no secret value can reach an output.

use crate::deploy::desired::Desired;
use crate::deploy::plan::{Action, Origin, Plan};
use crate::deploy::state::Refresh;
use std::fmt::Write as _;

/// What the text rendering needs of the file besides the plan (a compose file's [`Desired`], a
/// swarm stack file's desired side): its secret scrubber, and which containers it adopts.
pub trait Redactor {
    /// `text` with every known secret value replaced by `***`.
    fn redact(&self, text: &str) -> String;
    /// Whether the file says `service` adopts the unmanaged container `container` (`adopt:`).
    fn adopts(&self, _service: &str, _container: &str) -> bool {
        false
    }
}

impl<T: Redactor + ?Sized> Redactor for std::sync::Arc<T> {
    fn redact(&self, text: &str) -> String {
        (**self).redact(text)
    }
    fn adopts(&self, service: &str, container: &str) -> bool {
        (**self).adopts(service, container)
    }
}

impl Redactor for Desired {
    fn redact(&self, text: &str) -> String {
        Desired::redact(self, text)
    }
    fn adopts(&self, service: &str, container: &str) -> bool {
        self.compose
            .services
            .get(service)
            .and_then(|s| s.labels.get(crate::model::labels::LABEL_ADOPT))
            .is_some_and(|a| a == container)
    }
}

#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
    /// Follow the plan with a unified diff per changed service.
    pub diffs: bool,
}

impl Style {
    /// Colour when stdout is a terminal and NO_COLOR is unset (https://no-color.org).
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        Style {
            color: std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            diffs: true,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

fn origin_text(o: Option<Origin>) -> &'static str {
    match o {
        Some(Origin::File) => " (the file changed)",
        Some(Origin::Drift) => " (changed outside fedgen)",
        Some(Origin::Content) => " (secret or config content changed)",
        Some(Origin::Image) => " (the image changed under its name)",
        None => "",
    }
}

pub fn text(plan: &Plan, desired: &impl Redactor, host: &str, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Project {} on {host}", plan.project);
    if plan.refresh == Refresh::Fast {
        let _ = writeln!(
            out,
            "  read from the container list (fast refresh): changes made with `docker update` (restart policy, limits) and to aliases are not seen; --refresh full reads them"
        );
    }
    let _ = writeln!(out);
    for action in [
        Action::Create,
        Action::Recreate,
        Action::Update,
        Action::Start,
    ] {
        let (sign, color) = match action {
            Action::Create => ("+", "32"),
            Action::Recreate => ("~", "33"),
            Action::Update => ("~", "36"),
            _ => (">", "34"),
        };
        for s in plan.services.iter().filter(|s| s.action == action) {
            // A service that replaces an unmanaged container is created by adopting it.
            let adopts: Vec<&str> = plan
                .conflicts
                .iter()
                .filter(|c| c.service == s.name)
                .map(|c| c.name.as_str())
                .collect();
            let head = if adopts.is_empty() {
                format!("{sign} {:<9} {}", action.as_str(), s.name)
            } else {
                format!(
                    "{sign} {:<9} {} (with --adopt, replacing {})",
                    action.as_str(),
                    s.name,
                    adopts.join(", ")
                )
            };
            let _ = writeln!(
                out,
                "  {}{}",
                style.paint(color, &head),
                origin_text(s.origin)
            );
            for c in &s.changes {
                let place = if c.in_place { "  [in place]" } else { "" };
                let _ = writeln!(out, "        {}: {} -> {}{place}", c.field, c.from, c.to);
            }
            for n in &s.notes {
                let _ = writeln!(out, "        note: {n}");
            }
        }
    }
    let unchanged: Vec<&str> = plan
        .services
        .iter()
        .filter(|s| s.action == Action::Unchanged)
        .map(|s| s.name.as_str())
        .collect();
    if !unchanged.is_empty() {
        let _ = writeln!(out, "  = unchanged {}", unchanged.join(", "));
        for s in plan
            .services
            .iter()
            .filter(|s| s.action == Action::Unchanged)
        {
            for n in &s.notes {
                let _ = writeln!(out, "        {}: {n}", s.name);
            }
        }
    }
    let unverified: Vec<&str> = plan
        .services
        .iter()
        .filter(|s| s.content_unverified)
        .map(|s| s.name.as_str())
        .collect();
    if !unverified.is_empty() {
        let _ = writeln!(
            out,
            "    note: secrets and configs of {} not verified (their containers were not created by fedgen apply)",
            unverified.join(", ")
        );
    }
    for n in &plan.networks_create {
        let _ = writeln!(
            out,
            "  {} network {} ({})",
            style.paint("32", "+"),
            n.name,
            n.reason
        );
    }
    for n in &plan.networks_recreate {
        let _ = writeln!(
            out,
            "  {} network {} ({})",
            style.paint("33", "~"),
            n.name,
            n.reason
        );
    }
    for n in &plan.networks_extra {
        let _ = writeln!(
            out,
            "  {} network {} (not in the file; removed by apply --prune)",
            style.paint("31", "-"),
            n
        );
    }
    for v in &plan.volumes_create {
        let _ = writeln!(out, "  {} volume {}", style.paint("32", "+"), v);
    }
    for s in &plan.secrets_generate {
        let _ = writeln!(
            out,
            "  {} secret {s} (generated on the engine by the next apply, then kept there)",
            style.paint("32", "+")
        );
    }
    for v in &plan.volumes_unused {
        let _ = writeln!(
            out,
            "    volume {v} is no longer used (kept; removed only by apply --prune-volumes)"
        );
    }
    for o in &plan.orphans {
        let _ = writeln!(
            out,
            "  {} orphan {} (container {}; removed by apply --prune)",
            style.paint("31", "-"),
            o.service,
            o.container
        );
    }
    for o in &plan.objects_create {
        let _ = writeln!(out, "  {} {o}", style.paint("32", "+"));
    }
    for o in &plan.objects_unused {
        let _ = writeln!(
            out,
            "    {o} is no longer read (an older content; removed once the rollout converged)"
        );
    }
    for n in &plan.networks_missing {
        let _ = writeln!(
            out,
            "  {} network {n} is external (it must exist) but is not on the host; apply refuses",
            style.paint("31", "!")
        );
    }
    for v in &plan.volumes_missing {
        let _ = writeln!(
            out,
            "  {} volume {v} is external (it must exist) but is not on the host; apply refuses",
            style.paint("31", "!")
        );
    }
    for r in &plan.refusals {
        let _ = writeln!(out, "  {} {r}; apply refuses", style.paint("31", "!"));
    }
    for p in &plan.preflight {
        let _ = writeln!(out, "  {} pre-flight: {p}", style.paint("31", "!"));
    }
    for c in &plan.conflicts {
        let _ = writeln!(
            out,
            "  {} conflict {}: container {} ({}) is not managed but {} service {}; apply refuses unless --adopt, which replaces it losslessly",
            style.paint("31", "!"),
            c.service,
            c.name,
            c.state,
            if desired.adopts(&c.service, &c.name) {
                "the file says it is adopted by"
            } else {
                "has the name of"
            },
            c.service
        );
    }
    let _ = writeln!(
        out,
        "\n{}",
        if plan.in_sync {
            "In sync: the host runs exactly the file.".to_string()
        } else {
            format!(
                "Plan: {} to create, {} to recreate, {} to update {}, {} to start, {} unchanged; {} network(s) to create, {} extra, {} orphan(s), {} conflict(s){}.",
                plan.count(Action::Create),
                plan.count(Action::Recreate),
                plan.count(Action::Update),
                // A swarm replaces a service's tasks one by one; one host changes its container.
                if plan.target.is_some() { "(rolling)" } else { "in place" },
                plan.count(Action::Start),
                plan.count(Action::Unchanged),
                plan.networks_create.len() + plan.networks_recreate.len(),
                plan.networks_extra.len(),
                plan.orphans.len(),
                plan.conflicts.len(),
                match plan.secrets_generate.len() {
                    0 => String::new(),
                    n => format!("; {n} secret(s) to generate"),
                }
            )
        }
    );
    for s in plan.services.iter().filter(|_| style.diffs) {
        let (Some(actual), Action::Recreate | Action::Update) = (&s.actual, s.action) else {
            continue;
        };
        let have = service_yaml(&s.name, actual);
        let want = service_yaml(&s.name, &s.desired);
        let diff = similar::TextDiff::from_lines(&have, &want);
        let _ = write!(
            out,
            "\n{}",
            diff.unified_diff().context_radius(3).header(
                &format!("running {}", s.name),
                &format!("desired {}", s.name)
            )
        );
    }
    desired.redact(&out)
}

fn service_yaml(name: &str, s: &crate::model::Service) -> String {
    let mut m = indexmap::IndexMap::new();
    m.insert(name.to_string(), s);
    let mut text = serde_norway::to_string(&m).unwrap_or_default();
    // Secret-looking variables are shown by name only.
    text = text
        .lines()
        .map(|l| match l.trim_start().split_once(": ") {
            Some((k, _)) if crate::compile::env::looks_secret(k) && l.starts_with("      ") => {
                format!("{}{k}: (redacted)", &l[..l.len() - l.trim_start().len()])
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    text
}

/// GitHub refuses comments longer than 65536 characters; diffs are left out beyond this.
const MARKDOWN_BUDGET: usize = 60_000;

/// Text as a Markdown code span that is safe inside a table cell.
fn code(text: &str) -> String {
    let t = text
        .replace('`', "'")
        .replace('|', "\\|")
        .replace('\n', " ");
    format!("`{t}`")
}

/// The plan as Markdown, for a pull-request comment or `$GITHUB_STEP_SUMMARY`.
pub fn markdown(plan: &Plan, desired: &impl Redactor, host: &str, api_calls: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### fedgen plan: {} on {}\n",
        code(&plan.project),
        code(host)
    );
    if plan.in_sync {
        let _ = writeln!(
            out,
            "**In sync**: the host runs exactly the file (exit 0).\n"
        );
    } else {
        let mut parts = vec![
            format!("{} to create", plan.count(Action::Create)),
            format!("{} to recreate", plan.count(Action::Recreate)),
            format!("{} to update in place", plan.count(Action::Update)),
            format!("{} to start", plan.count(Action::Start)),
            format!("{} unchanged", plan.count(Action::Unchanged)),
        ];
        let extra = [
            (
                plan.networks_create.len() + plan.networks_recreate.len(),
                "network(s) to create",
            ),
            (plan.networks_extra.len(), "extra network(s)"),
            (plan.secrets_generate.len(), "secret(s) to generate"),
            (
                plan.objects_create.len(),
                "secret(s) and config(s) to create",
            ),
            (plan.orphans.len(), "orphan(s)"),
            (plan.conflicts.len(), "conflict(s)"),
            (plan.preflight.len(), "pre-flight problem(s)"),
        ];
        parts.extend(
            extra
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}")),
        );
        let _ = writeln!(
            out,
            "**Changes pending** (exit 2): {}.\n",
            parts.join(" · ")
        );
    }
    let changed: Vec<_> = plan
        .services
        .iter()
        .filter(|s| s.action != Action::Unchanged)
        .collect();
    if !changed.is_empty() {
        let _ = writeln!(out, "| service | action | why | changes |");
        let _ = writeln!(out, "|---|---|---|---|");
        for s in &changed {
            let why = origin_text(s.origin)
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .to_string();
            let mut changes: Vec<String> = s
                .changes
                .iter()
                .map(|c| {
                    format!(
                        "{}: {} → {}{}",
                        code(&c.field.to_string()),
                        code(&c.from),
                        code(&c.to),
                        if c.in_place { " (in place)" } else { "" }
                    )
                })
                .collect();
            changes.extend(s.notes.iter().map(|n| n.replace('|', "\\|")));
            let sign = match s.action {
                Action::Create => "➕",
                Action::Recreate => "🔁",
                Action::Update => "🔧",
                _ => "▶️",
            };
            let _ = writeln!(
                out,
                "| {} | {sign} {} | {} | {} |",
                code(&s.name),
                s.action.as_str(),
                if why.is_empty() { "-".into() } else { why },
                if changes.is_empty() {
                    "-".into()
                } else {
                    changes.join("<br>")
                }
            );
        }
        let _ = writeln!(out);
    }
    let unchanged: Vec<String> = plan
        .services
        .iter()
        .filter(|s| s.action == Action::Unchanged)
        .map(|s| code(&s.name))
        .collect();
    if !unchanged.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>Unchanged ({})</summary>\n\n{}\n\n</details>\n",
            unchanged.len(),
            unchanged.join(", ")
        );
    }
    let mut project = Vec::new();
    for n in &plan.networks_create {
        project.push(format!("➕ network {} ({})", code(&n.name), n.reason));
    }
    for n in &plan.networks_recreate {
        project.push(format!("🔁 network {} ({})", code(&n.name), n.reason));
    }
    for n in &plan.networks_extra {
        project.push(format!(
            "➖ network {} is not in the file (removed by `apply --prune`)",
            code(n)
        ));
    }
    for v in &plan.volumes_create {
        project.push(format!("➕ volume {}", code(v)));
    }
    for v in &plan.volumes_missing {
        project.push(format!(
            "⛔ volume {} is external but not on the host: apply refuses",
            code(v)
        ));
    }
    for v in &plan.volumes_unused {
        project.push(format!(
            "volume {} is no longer used (kept; removed only by `apply --prune-volumes`)",
            code(v)
        ));
    }
    for s in &plan.secrets_generate {
        project.push(format!(
            "🔑 secret {} is generated on the engine by the next apply, then kept there",
            code(s)
        ));
    }
    for o in &plan.objects_create {
        project.push(format!("➕ {}", code(o)));
    }
    for o in &plan.objects_unused {
        project.push(format!(
            "{} is no longer read (an older content; removed once the rollout converged)",
            code(o)
        ));
    }
    for r in &plan.refusals {
        project.push(format!("⛔ {}: apply refuses", r.replace('|', "\\|")));
    }
    for o in &plan.orphans {
        project.push(format!(
            "➖ orphan {} (container {}; removed by `apply --prune`)",
            code(&o.service),
            code(&o.container)
        ));
    }
    for c in &plan.conflicts {
        project.push(format!(
            "⛔ conflict: container {} ({}) has the name of service {} but is not managed; apply refuses unless `--adopt`",
            code(&c.name),
            c.state,
            code(&c.service)
        ));
    }
    for p in &plan.preflight {
        project.push(format!(
            "⛔ pre-flight: {}",
            p.to_string().replace('|', "\\|")
        ));
    }
    for line in &project {
        let _ = writeln!(out, "- {line}");
    }
    if !project.is_empty() {
        let _ = writeln!(out);
    }
    let mut diffs = String::new();
    let mut left_out = 0;
    for s in &changed {
        let (Some(actual), Action::Recreate | Action::Update) = (&s.actual, s.action) else {
            continue;
        };
        let have = service_yaml(&s.name, actual);
        let want = service_yaml(&s.name, &s.desired);
        let diff = similar::TextDiff::from_lines(&have, &want)
            .unified_diff()
            .context_radius(3)
            .header(
                &format!("running {}", s.name),
                &format!("desired {}", s.name),
            )
            .to_string();
        let block = format!(
            "<details><summary>Diff of {}</summary>\n\n```diff\n{}```\n\n</details>\n\n",
            code(&s.name),
            diff.replace("```", "'''")
        );
        if out.len() + diffs.len() + block.len() > MARKDOWN_BUDGET {
            left_out += 1;
        } else {
            diffs.push_str(&block);
        }
    }
    out.push_str(&diffs);
    if left_out > 0 {
        let _ = writeln!(
            out,
            "_{left_out} diff(s) left out to stay within a comment's size; `fedgen diff` shows them._\n"
        );
    }
    let unverified: Vec<String> = plan
        .services
        .iter()
        .filter(|s| s.content_unverified)
        .map(|s| code(&s.name))
        .collect();
    if !unverified.is_empty() {
        let _ = writeln!(
            out,
            "_Secrets and configs of {} not verified: their containers were not created by `fedgen apply`._\n",
            unverified.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "<sub>{} refresh, {api_calls} API calls · fedgen {}</sub>",
        plan.refresh.as_str(),
        env!("CARGO_PKG_VERSION")
    );
    desired.redact(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::plan;
    use crate::deploy::state::Observed;

    fn golden(name: &str) -> Desired {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("golden/{name}.yml"));
        Desired::load_file(&path).unwrap()
    }

    #[test]
    fn markdown_is_a_summary_a_table_and_folded_diffs() {
        let d = golden("federated-imputation");
        // An empty host: everything to create.
        let observed = Observed {
            project: d.compose.name.clone(),
            ..Default::default()
        };
        let p = plan::plan(
            &d.compose,
            &observed,
            &d.hashes,
            &d.compose_hashes,
            &d.base_dir,
        );
        let md = markdown(&p, &d, "ssh://deploy@vm (DOCKER_HOST)", 15);
        assert!(
            md.starts_with(
                "### fedgen plan: `federated-imputation` on `ssh://deploy@vm (DOCKER_HOST)`\n"
            ),
            "{md}"
        );
        assert!(
            md.contains("**Changes pending** (exit 2): 9 to create · 0 to recreate"),
            "{md}"
        );
        assert!(
            md.contains("| service | action | why | changes |\n|---|---|---|---|\n"),
            "{md}"
        );
        assert_eq!(md.matches("| ➕ create |").count(), 9, "{md}");
        assert!(md.contains("- ➕ network `db-net` (missing)"), "{md}");
        assert!(
            md.ends_with(&format!(
                "<sub>full refresh, 15 API calls · fedgen {}</sub>\n",
                env!("CARGO_PKG_VERSION")
            )),
            "{md}"
        );
        // Table cells stay cells: no raw pipe inside a code span.
        assert_eq!(code("a|b`c"), "`a\\|b'c`");
        assert!(md.len() < MARKDOWN_BUDGET);
        // In sync: one line says so.
        let mut synced = p.clone();
        synced.in_sync = true;
        synced.services.clear();
        synced.networks_create.clear();
        let md = markdown(&synced, &d, "unix:///var/run/docker.sock (the default)", 15);
        assert!(
            md.contains("**In sync**: the host runs exactly the file (exit 0)."),
            "{md}"
        );
        assert!(!md.contains("| service |"), "{md}");
    }
}
