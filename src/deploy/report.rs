//! The text rendering of a [`Plan`] for people: grouped by action, a unified diff per changed
//! service, colour only on a terminal without NO_COLOR. (The JSON rendering is the plan itself,
//! see [`crate::deploy::session::PlanDocument`].) Both pass through the secret scrubber of
//! [`Desired`], so no secret value can reach an output.

use crate::deploy::desired::Desired;
use crate::deploy::plan::{Action, Origin, Plan};
use crate::deploy::state::Refresh;
use std::fmt::Write as _;

/// What scrubs an output of the secret values a file's environment knows (a compose file's
/// [`Desired`], a swarm stack file's desired side).
pub trait Redactor {
    /// `text` with every known secret value replaced by `***`.
    fn redact(&self, text: &str) -> String;
}

impl<T: Redactor + ?Sized> Redactor for std::sync::Arc<T> {
    fn redact(&self, text: &str) -> String {
        (**self).redact(text)
    }
}

impl Redactor for Desired {
    fn redact(&self, text: &str) -> String {
        Desired::redact(self, text)
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
            let head = format!("{sign} {:<9} {}", action.as_str(), s.name);
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
            "  {} conflict {}: container {} ({}) has the name of service {} but is not managed; apply refuses unless --adopt",
            style.paint("31", "!"),
            c.service,
            c.name,
            c.state,
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
                "Plan: {} to create, {} to recreate, {} to update {}, {} to start, {} unchanged; {} network(s) to create, {} extra, {} orphan(s), {} conflict(s).",
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
                plan.conflicts.len()
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
