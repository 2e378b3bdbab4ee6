//! The Docker engine connection: bollard with version negotiation, clear errors, a call counter.
//!
//! Takes: `DOCKER_HOST` (or the local socket). Gives: an [`Engine`] whose every API call is
//! counted (benchmarks report calls per diff or apply) and whose failures say which operation on
//! which object failed, and for an unreachable engine, where fedgen looked and what to check.

use bollard::Docker;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot reach the Docker engine at {host}: {detail}")]
    Unreachable {
        host: String,
        detail: String,
        hint: String,
    },
    /// The engine answers but cannot run a swarm stack (not in swarm mode, or not a manager).
    #[error("the Docker engine at {host} {detail}")]
    NotSwarm {
        host: String,
        detail: String,
        hint: String,
    },
    #[error("{op} {object}: {detail}")]
    Api {
        op: &'static str,
        object: String,
        status: Option<u16>,
        detail: String,
    },
}

impl EngineError {
    pub fn hint(&self) -> Option<&str> {
        match self {
            EngineError::Unreachable { hint, .. } | EngineError::NotSwarm { hint, .. } => {
                Some(hint)
            }
            EngineError::Api { .. } => None,
        }
    }

    /// The HTTP status of an API error (404 not found, 409 conflict, ...).
    pub fn status(&self) -> Option<u16> {
        match self {
            EngineError::Api { status, .. } => *status,
            EngineError::Unreachable { .. } | EngineError::NotSwarm { .. } => None,
        }
    }
}

/// The engine's address when nothing says otherwise (the docker CLI's default).
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// The engine address fedgen will use: `DOCKER_HOST`, else [`DEFAULT_HOST`].
pub fn configured_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.into())
}

/// A connected engine. Cheap to clone; clones share the call counter.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    host: String,
    calls: Arc<AtomicUsize>,
    mutations: Arc<AtomicUsize>,
}

impl Engine {
    /// Connects to `DOCKER_HOST` (default: the local socket), negotiates the API version and
    /// pings, so that an unreachable engine is reported here, once, clearly.
    pub async fn connect() -> Result<Engine, EngineError> {
        let host = configured_host();
        let unreachable = |e: bollard::errors::Error| {
            let detail = chain(&e);
            let lower = detail.to_lowercase();
            let hint = if lower.contains("permission denied") {
                "the socket exists but this user may not use it: add the user to the `docker` group, or run as root".to_string()
            } else if lower.contains("no such file")
                || lower.contains("not found")
                || lower.contains("connection refused")
            {
                "is dockerd running? set DOCKER_HOST (e.g. unix:///run/docker.sock or tcp://host:2375) to point at another engine".to_string()
            } else {
                "check DOCKER_HOST and that the engine is running".to_string()
            };
            EngineError::Unreachable {
                host: host.clone(),
                detail,
                hint,
            }
        };
        let docker = Docker::connect_with_defaults().map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        Ok(Engine {
            docker,
            host,
            calls: Arc::new(AtomicUsize::new(2)),
            mutations: Arc::new(AtomicUsize::new(0)),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// API calls made so far through this engine (including version negotiation and ping).
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// Calls so far that changed something on the host (create, start, update, remove, ...).
    pub fn mutations(&self) -> usize {
        self.mutations.load(Ordering::Relaxed)
    }

    /// Like [`Engine::call`], for a call that changes the host; counted as a mutation too.
    pub async fn mutate<'a, T, F, Fut>(
        &'a self,
        op: &'static str,
        object: &str,
        f: F,
    ) -> Result<T, EngineError>
    where
        F: FnOnce(&'a Docker) -> Fut,
        Fut: std::future::Future<Output = Result<T, bollard::errors::Error>>,
    {
        self.mutations.fetch_add(1, Ordering::Relaxed);
        self.call(op, object, f).await
    }

    /// The client, for one counted call: `engine.call("inspect container", name, |d| d.inspect_container(..))`.
    pub async fn call<'a, T, F, Fut>(
        &'a self,
        op: &'static str,
        object: &str,
        f: F,
    ) -> Result<T, EngineError>
    where
        F: FnOnce(&'a Docker) -> Fut,
        Fut: std::future::Future<Output = Result<T, bollard::errors::Error>>,
    {
        self.calls.fetch_add(1, Ordering::Relaxed);
        f(&self.docker).await.map_err(|e| api_error(op, object, e))
    }
}

impl Engine {
    /// A streaming call that changes the host (a pull): one counted mutation.
    pub fn stream<'a, T, S>(
        &'a self,
        op: &'static str,
        object: &str,
        f: impl FnOnce(&'a Docker) -> S,
    ) -> impl futures_util::Stream<Item = Result<T, EngineError>> + 'a
    where
        S: futures_util::Stream<Item = Result<T, bollard::errors::Error>> + 'a,
    {
        use futures_util::StreamExt;
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.mutations.fetch_add(1, Ordering::Relaxed);
        let object = object.to_string();
        f(&self.docker).map(move |r| r.map_err(|e| api_error(op, &object, e)))
    }

    /// The engine's event stream (one counted call, however long it runs).
    pub fn events(
        &self,
        options: bollard::query_parameters::EventsOptions,
    ) -> impl futures_util::Stream<Item = Result<bollard::models::EventMessage, EngineError>> + use<>
    {
        use futures_util::StreamExt;
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.docker
            .events(Some(options))
            .map(|r| r.map_err(|e| api_error("follow events", "", e)))
    }
}

/// An error with its causes (hyper hides "permission denied" three levels down).
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn api_error(op: &'static str, object: &str, e: bollard::errors::Error) -> EngineError {
    let (status, detail) = match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => (Some(status_code), message),
        other => (None, chain(&other)),
    };
    EngineError::Api {
        op,
        object: object.to_string(),
        status,
        detail,
    }
}
