//! The wait for a service to be ready for its dependants: healthy (with a healthcheck), exited
//! 0 (a one-shot service), or running; it fails fast on `unhealthy` or an exit, as
//! `docker compose up --wait` does, and brings back the last health output and log lines.

use super::events::Snapshot;
use super::task::{Failure, TaskCtx};
use super::{Gate, Step};
use crate::deploy::engine::EngineError;
use crate::model::{Lifecycle, RestartPolicy, Service};
use bollard::query_parameters::{InspectContainerOptions, LogsOptions};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl TaskCtx {
    /// Waits until the service may be depended on: healthy (with a healthcheck), exited 0 (a
    /// one-shot job), or running. Fails fast on `unhealthy` or an exit, as `compose up --wait`.
    ///
    /// Driven by the engine's events: no call while waiting, and the dependant starts the moment
    /// the `health_status: healthy` event arrives. A container none of whose events has been
    /// seen yet (the stream may have been opened a moment after its start) is polled with an
    /// inspect until one is; so is everything if the stream fails. A failure costs one inspect,
    /// for the last health-check output, and the tail of the logs.
    ///
    /// `at_once`: the service is down while it waits (a replacement): the healthcheck's own test
    /// is also run in the container right away and every half second (an exec), instead of only
    /// waiting for the engine's first check one interval after the start; the gate opens on the
    /// first pass. The engine's verdicts (unhealthy, an exit) still end the wait as before.
    pub(super) async fn wait_ready(
        &self,
        id: &str,
        svc: &Service,
        at_once: bool,
    ) -> Result<(Gate, Option<Failure>), EngineError> {
        let rollout = &self.rollout;
        let one_shot = rollout.desired.compose.lifecycle(&self.plan.name) == Lifecycle::OneShot;
        let health = svc.healthcheck.is_some();
        if !one_shot && !health {
            // The start call returned: the container runs (an immediate exit shows in `ps`).
            self.step(Step::Running, "");
            return Ok((Gate::Started, None));
        }
        if health && !one_shot {
            self.step(Step::WaitingForHealth, "");
        }
        let mut poll = Duration::from_millis(100);
        let test = svc
            .healthcheck
            .as_ref()
            .map(|h| h.test.clone())
            .filter(|t| {
                at_once
                    && !one_shot
                    && matches!(t.first().map(String::as_str), Some("CMD" | "CMD-SHELL"))
            });
        let exec_timeout = svc
            .healthcheck
            .as_ref()
            .and_then(|h| h.timeout)
            .map(|t| t.to_std())
            .unwrap_or(Duration::from_secs(5));
        let mut next_exec = Instant::now();
        loop {
            let notified = rollout.events.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let watched = !rollout.events.dead.load(Ordering::SeqCst);
            let snap = rollout
                .events
                .get(id)
                .filter(|_| watched)
                .map(|seen| Snapshot::from_seen(&seen));
            let polled = snap.is_none();
            let snap = match snap {
                Some(s) => s,
                None => Snapshot::from_inspect(self.inspect(id).await?),
            };
            let failure = |why: String, snap: Snapshot| async move {
                let output = match snap.last_output {
                    Some(o) => Some(o),
                    None if snap.inspected => None,
                    None => self
                        .inspect(id)
                        .await
                        .ok()
                        .and_then(|c| Snapshot::from_inspect(c).last_output),
                };
                let logs = self.log_tail(id).await;
                Ok((Gate::Failed, Some(Failure { why, output, logs })))
            };
            let exited = snap.status == "exited" || snap.status == "dead";
            if one_shot {
                if exited {
                    let code = snap.exit_code.unwrap_or(-1);
                    if code == 0 {
                        self.step(Step::Completed, "");
                        return Ok((Gate::Completed, None));
                    }
                    return failure(format!("exited with code {code}"), snap).await;
                }
            } else {
                if snap.health == "healthy" {
                    self.step(Step::Healthy, "");
                    return Ok((Gate::Healthy, None));
                }
                if let Some(test) = test.as_ref().filter(|_| snap.status == "running") {
                    if Instant::now() >= next_exec {
                        if self.exec_passes(id, test, exec_timeout).await {
                            self.step(Step::Healthy, "its healthcheck passed, run at once");
                            return Ok((Gate::Healthy, None));
                        }
                        next_exec = Instant::now() + Duration::from_millis(500);
                    }
                }
                if snap.health == "unhealthy" {
                    return failure("the healthcheck failed (unhealthy)".into(), snap).await;
                }
                if exited && !snap.restarting && svc.restart == Some(RestartPolicy::No) {
                    let why = format!("exited with code {}", snap.exit_code.unwrap_or(-1));
                    return failure(why, snap).await;
                }
            }
            if rollout.interrupted() {
                let failure = Failure {
                    why: "interrupted while waiting".into(),
                    output: snap.last_output.clone(),
                    logs: vec![],
                };
                return Ok((Gate::Failed, Some(failure)));
            }
            if Instant::now() >= rollout.deadline {
                let state = if snap.health.is_empty() {
                    snap.status.clone()
                } else {
                    snap.health.clone()
                };
                let why = format!("not ready before the deadline (health: {state})");
                return failure(why, snap).await;
            }
            // Wake on the next event, at the deadline, to look at the interrupt flag, or (while
            // this container's events are not known to arrive) to poll again.
            let tick = if polled {
                let t = poll;
                poll = (poll * 2).min(Duration::from_millis(500));
                t
            } else {
                Duration::from_millis(250)
            };
            let until = (Instant::now() + tick).min(rollout.deadline);
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(until.into()) => {}
            }
        }
    }

    /// Runs a healthcheck test (`[CMD, ...]` or `[CMD-SHELL, script]`) in the container as its
    /// user, as the engine would: whether it exits 0 within `timeout`. Any failure to run it is a
    /// "no" (the engine's own checks decide then).
    async fn exec_passes(&self, id: &str, test: &[String], timeout: Duration) -> bool {
        use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
        use futures_util::StreamExt;
        let cmd: Vec<String> = match test.first().map(String::as_str) {
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
            _ => test[1..].to_vec(),
        };
        let e = &self.rollout.engine;
        let run = async {
            let created = e
                .call("create exec", id, |d| {
                    d.create_exec(
                        id,
                        CreateExecOptions {
                            cmd: Some(cmd),
                            attach_stdout: Some(true),
                            attach_stderr: Some(true),
                            ..Default::default()
                        },
                    )
                })
                .await
                .ok()?;
            let exec = created.id;
            let started = e
                .call("start exec", id, |d| {
                    d.start_exec(&exec, None::<StartExecOptions>)
                })
                .await
                .ok()?;
            if let StartExecResults::Attached { mut output, .. } = started {
                while output.next().await.is_some() {}
            }
            let done = e
                .call("inspect exec", id, |d| d.inspect_exec(&exec))
                .await
                .ok()?;
            Some(done.exit_code == Some(0))
        };
        tokio::time::timeout(timeout, run)
            .await
            .ok()
            .flatten()
            .unwrap_or(false)
    }

    async fn inspect(
        &self,
        id: &str,
    ) -> Result<bollard::models::ContainerInspectResponse, EngineError> {
        self.rollout
            .engine
            .call("inspect container", id, |d| {
                d.inspect_container(id, None::<InspectContainerOptions>)
            })
            .await
    }

    async fn log_tail(&self, id: &str) -> Vec<String> {
        use futures_util::StreamExt;
        let opts = LogsOptions {
            stdout: true,
            stderr: true,
            tail: "20".into(),
            ..Default::default()
        };
        let mut stream = self
            .rollout
            .engine
            .call("container logs", id, |d| async move {
                Ok::<_, bollard::errors::Error>(d.logs(id, Some(opts)))
            })
            .await
            .ok();
        let mut lines = Vec::new();
        if let Some(s) = stream.as_mut() {
            while let Some(Ok(chunk)) = s.next().await {
                lines.extend(chunk.to_string().lines().map(str::to_string));
            }
        }
        lines
    }
}
