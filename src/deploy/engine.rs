//! The Docker engine connection: bollard with version negotiation, clear errors, a call counter.
//!
//! Takes: the command's engine [`Selection`] (`-H`, `--context`), resolved with the environment
//! and the Docker config directory as the docker CLI does ([`endpoint`]), and reached over a
//! socket, plain tcp, TLS or ssh ([`transport`]). Gives: an [`Engine`] whose every API call is
//! counted (benchmarks report calls per diff or apply) and whose failures say which operation on
//! which object failed, and for an unreachable engine, one line saying where fedgen looked (the
//! address and where it came from) and what to fix (a host key, a refused key, a certificate, a
//! CA, a missing context, a stopped daemon, a socket without permission).

use crate::deploy::endpoint::{self, Endpoint, Selection};
use crate::deploy::transport;
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
    /// The address could not be resolved (a missing context, a malformed host, a TLS file).
    #[error("{0}")]
    Endpoint(#[from] endpoint::EndpointError),
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
                Some(hint.as_str()).filter(|h| !h.is_empty())
            }
            EngineError::Api { .. } | EngineError::Endpoint(_) => None,
        }
    }

    /// The HTTP status of an API error (404 not found, 409 conflict, ...).
    pub fn status(&self) -> Option<u16> {
        match self {
            EngineError::Api { status, .. } => *status,
            EngineError::Unreachable { .. }
            | EngineError::NotSwarm { .. }
            | EngineError::Endpoint(_) => None,
        }
    }
}

/// A connected engine. Cheap to clone; clones share the call counter.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    host: String,
    /// The address and where it came from (`ssh://vm (DOCKER_HOST)`).
    described: String,
    calls: Arc<AtomicUsize>,
    mutations: Arc<AtomicUsize>,
    /// Keeps an ssh ControlMaster alive as long as a clone of the engine is.
    _ssh: Option<Arc<transport::SshShared>>,
}

impl Engine {
    /// Resolves the engine as the docker CLI does ([`endpoint::resolve`]), connects and negotiates
    /// the API version, so that an unreachable engine is reported here, once, clearly.
    pub async fn connect(selection: &Selection) -> Result<Engine, EngineError> {
        let endpoint = endpoint::resolve(selection, &endpoint::ProcessEnv)?;
        Engine::connect_to(&endpoint).await
    }

    /// Connects to a resolved endpoint.
    pub async fn connect_to(endpoint: &Endpoint) -> Result<Engine, EngineError> {
        let described = endpoint.describe();
        let t = transport::connect(endpoint)
            .await
            .map_err(|transport::Failure(detail)| EngineError::Unreachable {
                host: described.clone(),
                detail,
                hint: if endpoint.host.starts_with("unix://") {
                    "is dockerd running? set DOCKER_HOST (e.g. unix:///run/docker.sock or tcp://host:2375), -H or --context to point at another engine".into()
                } else {
                    String::new()
                },
            })?;
        let ssh = t.ssh.clone();
        let unreachable = |e: bollard::errors::Error| {
            let (detail, hint) = explain(endpoint, &e, ssh.as_deref());
            EngineError::Unreachable {
                host: described.clone(),
                detail,
                hint,
            }
        };
        // The version call negotiates and proves the engine answers (no ping after it).
        let docker = t.docker.negotiate_version().await.map_err(unreachable)?;
        Ok(Engine {
            docker,
            host: endpoint.host.clone(),
            described,
            calls: Arc::new(AtomicUsize::new(1)),
            mutations: Arc::new(AtomicUsize::new(0)),
            _ssh: t.ssh,
        })
    }

    /// The engine's address (`unix:///var/run/docker.sock`, `ssh://deploy@vm`, ...).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The address and where it came from, for people: `tcp://vm:2376 (DOCKER_HOST, TLS)`.
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// API calls made so far through this engine (including version negotiation).
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

    /// A streaming call that only reads (an archive download): one counted call.
    pub fn stream_read<'a, T, S>(
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

/// Why an engine did not answer, in one sentence naming what to fix, and a hint for the cases
/// where only a guess is possible.
fn explain(
    endpoint: &Endpoint,
    e: &bollard::errors::Error,
    ssh: Option<&transport::SshShared>,
) -> (String, String) {
    let detail = chain(e);
    let lower = detail.to_lowercase();
    if let Some(ssh) = ssh {
        if let Some(problem) = ssh.problem() {
            return (problem, String::new());
        }
        let said = ssh.stderr();
        let said = said.lines().map(str::trim).rfind(|l| !l.is_empty());
        return (
            match said {
                Some(s) => format!("{detail} (ssh said: {s})"),
                None => detail,
            },
            format!(
                "check that `ssh {} docker version` works from this machine",
                ssh.target.login_args().join(" ") + " " + &ssh.target.host
            )
            .replace("ssh  ", "ssh "),
        );
    }
    if let Some(tls) = &endpoint.tls {
        let ca = tls
            .ca
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the system's roots".into());
        let cert = tls
            .cert
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "none (no cert.pem)".into());
        let fix = if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
            Some(format!("wrong CA: the engine's certificate is not signed by {ca} ({}): use the ca.pem of the CA that signed the engine's certificate", tls.from))
        } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
            Some(format!("the engine's certificate is not valid for the address {} ({}): dial a name or IP in its subjectAltName, or make it a certificate for this address", endpoint.host, tls.from))
        } else if lower.contains("expired") {
            Some(format!(
                "the engine's certificate has expired ({}): renew it",
                tls.from
            ))
        } else if lower.contains("certificaterequired")
            || lower.contains("badcertificate")
            || lower.contains("unknownca")
            || lower.contains("bad certificate")
            || lower.contains("certificate required")
        {
            Some(format!("bad certificate: the engine refused the client certificate {cert} ({}): it must be signed by the CA the engine trusts (dockerd --tlscacert)", tls.from))
        } else if lower.contains("invalidcontenttype")
            || lower.contains("corrupt message")
            || lower.contains("invalid content type")
        {
            Some(format!("the engine at {} does not speak TLS: unset DOCKER_TLS_VERIFY and DOCKER_TLS (or use a context without TLS)", endpoint.host))
        } else {
            None
        };
        if let Some(fix) = fix {
            return (fix, String::new());
        }
    }
    if lower.contains("client sent an http request to an https server") {
        return (
            format!("the engine at {} speaks TLS and fedgen did not: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (the directory with ca.pem, cert.pem, key.pem), or use a context with TLS", endpoint.host),
            String::new(),
        );
    }
    let hint = if lower.contains("permission denied") {
        "the socket exists but this user may not use it: add the user to the `docker` group, or run as root".to_string()
    } else if lower.contains("no such file")
        || lower.contains("not found")
        || lower.contains("connection refused")
    {
        "is dockerd running? set DOCKER_HOST (e.g. unix:///run/docker.sock or tcp://host:2375), -H or --context to point at another engine".to_string()
    } else {
        "check DOCKER_HOST (or -H, --context) and that the engine is running".to_string()
    };
    (detail, hint)
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
