//! A session with a swarm for one stack file: connect, read the stack, plan, pre-flight; and the
//! plan as text.
//!
//! Takes: a loaded [`SwarmDesired`]. Gives: the connected [`Engine`] and the [`SwarmPlan`] with
//! what would make apply refuse: an image that is not on the node fedgen talks to (the node that
//! runs a single-node swarm's tasks; on a larger swarm the others pull or load their own), and,
//! for a stack with data, no node or more than one labelled to keep it.

use super::desired::SwarmDesired;
use super::plan::{self, SwarmPlan};
use super::state;
use crate::compile::swarm::data_label;
use crate::deploy::endpoint::Selection;
use crate::deploy::engine::{Engine, EngineError};
use crate::deploy::lock::{EngineLock, LockError, Wait};
use crate::deploy::plan::Action;
use crate::deploy::preflight::Problem;
use crate::deploy::report::{self, Redactor, Style};
use crate::deploy::session::{LockSpec, PrepareError};
use crate::deploy::state::Images;
use bollard::query_parameters::{ListImagesOptions, ListNodesOptions};
use std::fmt::Write as _;

pub async fn connect_and_plan(
    selection: &Selection,
    desired: &SwarmDesired,
) -> Result<(Engine, SwarmPlan), EngineError> {
    let engine = Engine::connect(selection).await?;
    let plan = plan_with(&engine, desired).await?;
    Ok((engine, plan))
}

/// The plan an apply acts on, as on one host ([`crate::deploy::session::prepare_apply`]): a
/// stack in sync is a no-op that takes no lock; otherwise the stack's lock is taken on the
/// engine fedgen talks to (the manager: the same never-started container as a project's on one
/// host), the stack read again under it, and missing images pulled (`pull`) before the plan is
/// made once more.
pub async fn prepare_apply(
    engine: &Engine,
    desired: &SwarmDesired,
    pull: bool,
    lock: LockSpec,
    on_wait: impl FnMut(Wait<'_>),
) -> Result<(SwarmPlan, Option<EngineLock>), PrepareError> {
    let first = plan_with(engine, desired)
        .await
        .map_err(PrepareError::Engine)?;
    if first.plan.in_sync {
        return Ok((first, None));
    }
    let held = EngineLock::acquire(
        engine,
        &desired.stack.fedgen.stack,
        lock.deadline,
        lock.stale_after,
        on_wait,
    )
    .await
    .map_err(|e| match e {
        LockError::Busy { holder } => PrepareError::Busy(holder),
        LockError::Engine(e) => PrepareError::Engine(e),
    })?;
    let planned = async {
        let sp = plan_with(engine, desired)
            .await
            .map_err(PrepareError::Engine)?;
        if !pull || !sp.plan.preflight.iter().any(|p| p.image_missing) {
            return Ok(sp);
        }
        // An image that cannot be pulled is refused by the pre-flight of the next plan.
        let _ = crate::deploy::preflight::pull_missing(engine, &sp.plan).await;
        plan_with(engine, desired)
            .await
            .map_err(PrepareError::Engine)
    }
    .await;
    match planned {
        Ok(sp) => Ok((sp, Some(held))),
        Err(e) => {
            held.release().await;
            Err(e)
        }
    }
}

/// Reads the stack through `engine`, plans against the file and runs the pre-flight on what is
/// about to change (nothing more is read for a stack in sync).
pub async fn plan_with(engine: &Engine, desired: &SwarmDesired) -> Result<SwarmPlan, EngineError> {
    let observed = state::observe(engine, desired).await?;
    let mut sp = plan::plan(desired, observed);
    let changing: Vec<String> = sp
        .plan
        .services
        .iter()
        .filter(|s| s.action != Action::Unchanged)
        .map(|s| s.name.clone())
        .collect();
    if changing.is_empty() {
        return Ok(sp);
    }
    let stack = &desired.stack;
    let images = engine
        .call("list images", &stack.fedgen.stack, |d| {
            d.list_images(None::<ListImagesOptions>)
        })
        .await?;
    let images = Images::from_summaries(images);
    for name in &changing {
        let svc = &stack.services[name];
        if images.id_of(&svc.image).is_none() {
            sp.plan.preflight.push(Problem {
                service: name.clone(),
                image: svc.image.clone(),
                image_missing: true,
                missing: "copy on this node".into(),
                fix: "load it here (`docker load`), or push it to a registry every node can pull from".into(),
            });
        }
    }
    let label = data_label(&stack.fedgen.stack);
    let pinned: Vec<&String> = changing
        .iter()
        .filter(|n| {
            stack.services[*n]
                .deploy
                .placement
                .as_ref()
                .is_some_and(|p| p.constraints.iter().any(|c| c.contains(&label)))
        })
        .collect();
    if !pinned.is_empty() {
        let nodes = engine
            .call("list nodes", &stack.fedgen.stack, |d| {
                d.list_nodes(None::<ListNodesOptions>)
            })
            .await?;
        let labelled: Vec<String> = nodes
            .iter()
            .filter(|n| {
                n.spec
                    .as_ref()
                    .and_then(|s| s.labels.as_ref())
                    .and_then(|l| l.get(&label))
                    .is_some_and(|v| v == "true")
            })
            .map(|n| {
                n.description
                    .as_ref()
                    .and_then(|d| d.hostname.clone())
                    .unwrap_or_else(|| n.id.clone().unwrap_or_default())
            })
            .collect();
        let services = pinned
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        match labelled.len() {
            1 => {}
            0 => sp.plan.refusals.push(format!(
                "{services} keep data on a node's volumes or paths, and no node is labelled to keep this stack's data: label the one that should (`docker node update --label-add {label}=true {}`)",
                if sp.observed.node_id.is_empty() { "NODE" } else { &sp.observed.node_id }
            )),
            _ => sp.plan.refusals.push(format!(
                "{services} keep data on a node's volumes or paths, and {} nodes are labelled {label}=true ({}): a task moved between them would find another, empty volume; keep the label on one (`docker node update --label-rm {label} NODE`)",
                labelled.len(),
                labelled.join(", ")
            )),
        }
    }
    Ok(sp)
}

/// The plan for people: as on one host, then a unified diff of each changed service's entry
/// (the engine's against the file's), scrubbed of secret values.
pub fn text(sp: &SwarmPlan, desired: &SwarmDesired, host: &str, style: Style) -> String {
    let mut out = report::text(&sp.plan, desired, host, style);
    if style.diffs {
        for s in &sp.plan.services {
            let Some((have, want)) = sp.diffs.get(&s.name) else {
                continue;
            };
            if s.changes.is_empty() {
                continue;
            }
            let yaml = |svc| {
                let mut m = indexmap::IndexMap::new();
                m.insert(s.name.clone(), svc);
                redact_env(&serde_norway::to_string(&m).unwrap_or_default())
            };
            let (a, b) = (yaml(have), yaml(want));
            let diff = similar::TextDiff::from_lines(&a, &b);
            let _ = write!(
                out,
                "\n{}",
                diff.unified_diff().context_radius(3).header(
                    &format!("running {}", s.name),
                    &format!("desired {}", s.name)
                )
            );
        }
    }
    desired.redact(&out)
}

/// Secret-looking variables shown by name only.
fn redact_env(text: &str) -> String {
    let mut out: String = text
        .lines()
        .map(|l| match l.trim_start().split_once(": ") {
            Some((k, _)) if crate::compile::env::looks_secret(k) && l.starts_with("      ") => {
                format!("{}{k}: (redacted)", &l[..l.len() - l.trim_start().len()])
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}
