//! The engine's event stream, followed for the length of a rollout: each container's latest
//! start, exit and health, so that the waits for health gates react to the engine instead of
//! polling it (one call for the whole rollout).

use crate::deploy::engine::Engine;
use crate::model::labels::COMPOSE_PROJECT;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What the engine's event stream said of each container of the project since the rollout
/// began: the waits for health, start and exit are driven by it instead of by polling, so a
/// dependant starts the moment its dependency turns healthy.
#[derive(Default)]
pub(super) struct Events {
    seen: Mutex<HashMap<String, Seen>>,
    pub(super) notify: tokio::sync::Notify,
    /// The stream ended or failed: waiters poll instead.
    pub(super) dead: AtomicBool,
}

/// The latest of a container's events. A container with any event here was watched from before
/// that event on, so waiting on its later events cannot miss them.
#[derive(Debug, Clone, Default)]
pub(super) struct Seen {
    running: bool,
    health: Option<String>,
    exit_code: Option<i64>,
}

impl Events {
    pub(super) fn get(&self, id: &str) -> Option<Seen> {
        self.seen.lock().expect("not poisoned").get(id).cloned()
    }

    pub(super) fn record(&self, e: bollard::models::EventMessage) {
        let Some(actor) = e.actor else { return };
        let (Some(id), Some(action)) = (actor.id, e.action) else {
            return;
        };
        let mut seen = self.seen.lock().expect("not poisoned");
        let s = seen.entry(id).or_default();
        match action.as_str() {
            "start" => {
                s.running = true;
                s.exit_code = None;
                s.health = None;
            }
            "die" => {
                s.running = false;
                s.exit_code = actor
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get("exitCode"))
                    .and_then(|c| c.parse().ok())
                    .or(Some(-1));
            }
            a => {
                if let Some(h) = a.strip_prefix("health_status:") {
                    s.health = Some(h.trim().to_string());
                }
            }
        }
        drop(seen);
        self.notify.notify_waiters();
    }
}

/// Aborts a background task when the rollout that needs it returns, by whatever path.
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Follows the project's container events until the rollout ends (the task is then aborted).
pub(super) async fn follow_events(engine: Engine, project: String, events: Arc<Events>) {
    use futures_util::StreamExt;
    let filters = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        (
            "label".to_string(),
            vec![format!("{COMPOSE_PROJECT}={project}")],
        ),
    ]);
    let mut stream = std::pin::pin!(engine.events(
        bollard::query_parameters::EventsOptionsBuilder::new()
            .filters(&filters)
            .build()
    ));
    while let Some(Ok(e)) = stream.next().await {
        events.record(e);
    }
    events.dead.store(true, Ordering::SeqCst);
    events.notify.notify_waiters();
}

/// A container's state as the plan's waits need it, from events or from an inspect.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    pub(super) status: String,
    pub(super) health: String,
    pub(super) exit_code: Option<i64>,
    pub(super) restarting: bool,
    pub(super) last_output: Option<String>,
    /// Read with an inspect (so `last_output` is all there is to know).
    pub(super) inspected: bool,
}

impl Snapshot {
    pub(super) fn from_seen(s: &Seen) -> Snapshot {
        Snapshot {
            status: if s.running {
                "running".into()
            } else if s.exit_code.is_some() {
                "exited".into()
            } else {
                "created".into()
            },
            health: s.health.clone().unwrap_or_default(),
            exit_code: s.exit_code,
            restarting: false,
            last_output: None,
            inspected: false,
        }
    }

    pub(super) fn from_inspect(c: bollard::models::ContainerInspectResponse) -> Snapshot {
        let st = c.state.unwrap_or_default();
        Snapshot {
            status: st.status.map(|s| s.to_string()).unwrap_or_default(),
            health: st
                .health
                .as_ref()
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            exit_code: st.exit_code,
            restarting: st.restarting.unwrap_or(false),
            last_output: st
                .health
                .as_ref()
                .and_then(|h| h.log.as_ref())
                .and_then(|l| l.last())
                .and_then(|l| l.output.clone())
                .map(|o| o.trim().to_string()),
            inspected: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{EventActor, EventMessage};

    fn event(id: &str, action: &str, exit: Option<&str>) -> EventMessage {
        EventMessage {
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some(id.into()),
                attributes: exit.map(|c| HashMap::from([("exitCode".to_string(), c.to_string())])),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn events_give_each_container_its_latest_state() {
        let ev = Events::default();
        assert!(ev.get("a").is_none(), "no event seen: the waiter polls");
        ev.record(event("a", "create", None));
        let a = Snapshot::from_seen(&ev.get("a").unwrap());
        assert_eq!(a.status, "created");
        ev.record(event("a", "start", None));
        ev.record(event("a", "health_status: healthy", None));
        let a = Snapshot::from_seen(&ev.get("a").unwrap());
        assert_eq!(
            (a.status.as_str(), a.health.as_str()),
            ("running", "healthy")
        );
        ev.record(event("a", "die", Some("3")));
        let a = Snapshot::from_seen(&ev.get("a").unwrap());
        assert_eq!((a.status.as_str(), a.exit_code), ("exited", Some(3)));
        // A restart clears the old health and exit.
        ev.record(event("a", "start", None));
        let a = Snapshot::from_seen(&ev.get("a").unwrap());
        assert_eq!(
            (a.status.as_str(), a.health.as_str(), a.exit_code),
            ("running", "", None)
        );
        ev.record(event("b", "health_status: unhealthy", None));
        assert_eq!(ev.get("b").unwrap().health.as_deref(), Some("unhealthy"));
    }
}
