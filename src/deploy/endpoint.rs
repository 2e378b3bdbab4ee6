//! Which engine: resolved exactly as the docker CLI resolves it.
//!
//! Takes: the command's `-H/--host` and `--context`, the environment (`DOCKER_HOST`,
//! `DOCKER_CONTEXT`, `DOCKER_CONFIG`, `DOCKER_TLS`, `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`,
//! `HOME`) and the Docker config directory (`config.json`'s `currentContext`, the context store
//! `contexts/meta/<sha256 of the name>/meta.json` and `contexts/tls/<sha256>/docker/*.pem`).
//! Gives: an [`Endpoint`] (the address, where it came from, the TLS settings), or an
//! [`EndpointError`] that names what to fix. Nothing is connected here ([`super::engine`] does).
//!
//! The order is the docker CLI's (cli/command/cli.go `resolveContextName`): `--context`, then
//! `-H` (the `default` context with that host), then `DOCKER_HOST`, then `DOCKER_CONTEXT`, then
//! `currentContext` of `config.json`, then `default`. The `default` context's host is `-H` or
//! `DOCKER_HOST` normalized as `docker -H` does (`tcp://h` gets port 2375, a bare `h:p` is tcp,
//! empty is the local socket, or `tcp://localhost:2376` with TLS), with TLS from
//! `DOCKER_TLS_VERIFY` / `DOCKER_TLS` (any non-empty value) and the files `ca.pem`, `cert.pem`,
//! `key.pem` in `DOCKER_CERT_PATH` (default: the config directory). A named context's host is
//! used as written, with TLS when its store has TLS files or it says `SkipTLSVerify`.

use std::fmt;
use std::path::{Path, PathBuf};

/// The engine's address when nothing says otherwise (the docker CLI's default).
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
const DEFAULT_TLS_HOST: &str = "tcp://localhost:2376";

/// What the command line says about the engine (`-H/--host`, `--context`).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub host: Option<String>,
    pub context: Option<String>,
}

/// Where the address came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `-H/--host`.
    Flag,
    DockerHost,
    /// A named context: chosen by `--context`, `DOCKER_CONTEXT` or `currentContext` (the text
    /// says which).
    Context {
        name: String,
        chosen_by: String,
    },
    /// Nothing set: the local socket.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("--host"),
            Source::DockerHost => f.write_str("DOCKER_HOST"),
            Source::Context { name, chosen_by } => write!(f, "context \"{name}\" from {chosen_by}"),
            Source::Default => f.write_str("the default"),
        }
    }
}

/// TLS for a `tcp://` engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// Verify the engine's certificate (against `ca`, else the system's roots).
    pub verify: bool,
    pub ca: Option<PathBuf>,
    /// The client certificate and key, presented when the engine asks (`--tlsverify` engines do).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Where the files were looked for (`DOCKER_CERT_PATH=...`, `context "prod"`), for messages.
    pub from: String,
}

/// A resolved engine address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `unix:///path`, `tcp://host:port[/path]` or `ssh://[user@]host[:port][/socket]`.
    pub host: String,
    pub source: Source,
    /// Only for `tcp://` hosts.
    pub tls: Option<Tls>,
}

impl Endpoint {
    /// The address and where it came from: `ssh://deploy@vm (DOCKER_HOST)`.
    pub fn describe(&self) -> String {
        let tls = match &self.tls {
            Some(t) if t.verify => ", TLS",
            Some(_) => ", TLS without verification",
            None => "",
        };
        format!("{} ({}{tls})", self.host, self.source)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("context \"{name}\" not found: {meta} does not exist ({chosen_by}); create it with `docker context create {name} --docker host=...`, or pick one of `docker context ls`")]
    ContextNotFound {
        name: String,
        meta: String,
        chosen_by: String,
    },
    #[error("context \"{name}\" cannot be read: {detail}")]
    ContextInvalid { name: String, detail: String },
    #[error("{value} ({source_name}) is not an engine address: {detail}")]
    Host {
        value: String,
        source_name: String,
        detail: String,
    },
    #[error("TLS is on ({why}) but {path} cannot be read: {detail}; set DOCKER_CERT_PATH to the directory with ca.pem, cert.pem and key.pem")]
    TlsFile {
        why: String,
        path: String,
        detail: String,
    },
}

/// The environment, as a lookup (tests pass a map; the CLI the process environment).
pub trait Env {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn get(&self, key: &str) -> Option<String> {
        self(key)
    }
}

fn non_empty(env: &dyn Env, key: &str) -> Option<String> {
    env.get(key).filter(|v| !v.is_empty())
}

/// The Docker config directory: `DOCKER_CONFIG`, else `~/.docker`.
pub fn config_dir(env: &dyn Env) -> PathBuf {
    match non_empty(env, "DOCKER_CONFIG") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(non_empty(env, "HOME").unwrap_or_else(|| "/".into())).join(".docker"),
    }
}

/// The id of a context in the store: the lowercase hex sha256 of its name.
pub fn context_id(name: &str) -> String {
    crate::model::sha256_hex(name)
}

/// Resolves the engine as the docker CLI does.
pub fn resolve(sel: &Selection, env: &dyn Env) -> Result<Endpoint, EndpointError> {
    let config = config_dir(env);
    let (name, chosen_by) = if let Some(c) = sel.context.clone() {
        (c, "--context".to_string())
    } else if sel.host.is_some() || non_empty(env, "DOCKER_HOST").is_some() {
        ("default".to_string(), String::new())
    } else if let Some(c) = non_empty(env, "DOCKER_CONTEXT") {
        (c, "DOCKER_CONTEXT".to_string())
    } else {
        match current_context(&config) {
            Some(c) => (
                c,
                format!("currentContext in {}", config.join("config.json").display()),
            ),
            None => ("default".to_string(), String::new()),
        }
    };
    if name == "default" {
        default_endpoint(sel, env, &config)
    } else {
        named_context(&name, &chosen_by, &config)
    }
}

fn current_context(config: &Path) -> Option<String> {
    let text = std::fs::read_to_string(config.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("currentContext")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn default_endpoint(
    sel: &Selection,
    env: &dyn Env,
    config: &Path,
) -> Result<Endpoint, EndpointError> {
    let verify = non_empty(env, "DOCKER_TLS_VERIFY").is_some();
    let tls_on = verify || non_empty(env, "DOCKER_TLS").is_some();
    let (value, source) = match (&sel.host, non_empty(env, "DOCKER_HOST")) {
        (Some(h), _) => (h.clone(), Source::Flag),
        (None, Some(h)) => (h, Source::DockerHost),
        (None, None) => (String::new(), Source::Default),
    };
    let host = parse_host(&value, tls_on).map_err(|detail| EndpointError::Host {
        value: value.clone(),
        source_name: source.to_string(),
        detail,
    })?;
    let tls = if tls_on && host.starts_with("tcp://") {
        let (dir, from) = match non_empty(env, "DOCKER_CERT_PATH") {
            Some(d) => (PathBuf::from(&d), format!("DOCKER_CERT_PATH={d}")),
            None => (
                config.to_path_buf(),
                format!("{} (DOCKER_CERT_PATH is not set)", config.display()),
            ),
        };
        let present = |f: &str| Some(dir.join(f)).filter(|p| p.exists());
        let why = if verify {
            "DOCKER_TLS_VERIFY"
        } else {
            "DOCKER_TLS"
        };
        let ca = dir.join("ca.pem");
        if verify && !ca.exists() {
            return Err(EndpointError::TlsFile {
                why: format!("{why} is set"),
                path: ca.display().to_string(),
                detail: "no such file".into(),
            });
        }
        Some(Tls {
            verify,
            ca: present("ca.pem"),
            cert: present("cert.pem"),
            key: present("key.pem"),
            from,
        })
    } else {
        None
    };
    Ok(Endpoint { host, source, tls })
}

fn named_context(name: &str, chosen_by: &str, config: &Path) -> Result<Endpoint, EndpointError> {
    let id = context_id(name);
    let meta = config.join("contexts/meta").join(&id).join("meta.json");
    let text = std::fs::read_to_string(&meta).map_err(|_| EndpointError::ContextNotFound {
        name: name.to_string(),
        meta: meta.display().to_string(),
        chosen_by: chosen_by.to_string(),
    })?;
    let invalid = |detail: String| EndpointError::ContextInvalid {
        name: name.to_string(),
        detail,
    };
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| invalid(format!("{} is not JSON: {e}", meta.display())))?;
    let docker = v
        .get("Endpoints")
        .and_then(|e| e.get("docker"))
        .ok_or_else(|| invalid(format!("{} has no docker endpoint", meta.display())))?;
    let host = docker
        .get("Host")
        .and_then(|h| h.as_str())
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            invalid(format!(
                "its docker endpoint in {} has no Host",
                meta.display()
            ))
        })?
        .to_string();
    let skip_verify = docker
        .get("SkipTLSVerify")
        .and_then(|s| s.as_bool())
        .unwrap_or(false);
    check_context_host(&host).map_err(invalid)?;
    let tls_dir = config.join("contexts/tls").join(&id).join("docker");
    let tls = if host.starts_with("tcp://") && (tls_dir.is_dir() || skip_verify) {
        let present = |f: &str| Some(tls_dir.join(f)).filter(|p| p.exists());
        Some(Tls {
            verify: !skip_verify,
            ca: present("ca.pem"),
            cert: present("cert.pem"),
            key: present("key.pem"),
            from: format!("context \"{name}\" ({})", tls_dir.display()),
        })
    } else {
        None
    };
    Ok(Endpoint {
        host,
        source: Source::Context {
            name: name.to_string(),
            chosen_by: chosen_by.to_string(),
        },
        tls,
    })
}

/// A context's host is used as written (the docker CLI does not normalize it), so it must be
/// complete: a scheme fedgen can dial, and a port for tcp.
fn check_context_host(host: &str) -> Result<(), String> {
    match host.split_once("://") {
        Some(("unix", path)) if path.starts_with('/') => Ok(()),
        Some(("ssh", _)) => SshTarget::parse(host).map(|_| ()),
        Some(("tcp", rest)) => {
            let authority = rest.split('/').next().unwrap_or_default();
            match split_host_port(authority) {
                Some((h, Some(_))) if !h.is_empty() => Ok(()),
                _ => Err(format!(
                    "its host {host} has no port (the docker CLI uses it as written)"
                )),
            }
        }
        _ => Err(format!("its host {host} is not unix://, tcp:// or ssh://")),
    }
}

/// `host[:port]` or `[v6]:port` split into host and port.
fn split_host_port(s: &str) -> Option<(String, Option<String>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.to_string()),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((format!("[{h}]"), port.filter(|p| !p.is_empty())));
    }
    match s.rsplit_once(':') {
        Some((h, _)) if h.contains(':') => None,
        Some((h, p)) => Some((h.to_string(), Some(p.to_string()).filter(|p| !p.is_empty()))),
        None => Some((s.to_string(), None)),
    }
}

/// `docker -H` normalization (opts.ParseHost): empty is the local socket (or
/// `tcp://localhost:2376` with TLS); a bare `host:port` is tcp; tcp gets localhost and port 2375
/// where they are missing (2375 even with TLS, as the docker CLI does); `unix://` alone is the
/// default socket; `ssh://` passes as it is; anything else is refused.
pub fn parse_host(value: &str, tls: bool) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(if tls { DEFAULT_TLS_HOST } else { DEFAULT_HOST }.to_string());
    }
    let (scheme, rest) = v.split_once("://").unwrap_or(("tcp", v));
    match scheme {
        "tcp" => {
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let (host, port) = split_host_port(authority)
                .ok_or_else(|| format!("cannot read host and port from `{authority}`"))?;
            let host = if host.is_empty() { "localhost".to_string() } else { host };
            let port = port.unwrap_or_else(|| "2375".into());
            if port.parse::<u16>().is_err() {
                return Err(format!("`{port}` is not a port"));
            }
            let path = if path == "/" { "" } else { path };
            Ok(format!("tcp://{host}:{port}{path}"))
        }
        "unix" => Ok(if rest.is_empty() {
            DEFAULT_HOST.to_string()
        } else {
            format!("unix://{rest}")
        }),
        "ssh" => SshTarget::parse(v).map(|_| v.to_string()),
        "fd" => Err("fd:// is how a daemon listens, not an address a client can dial".into()),
        "npipe" => Err("npipe:// is a Windows named pipe".into()),
        other => Err(format!(
            "invalid bind address format: unknown scheme `{other}://` (use unix://, tcp:// or ssh://)"
        )),
    }
}

/// An `ssh://` address as the docker CLI reads it (cli/connhelper/ssh): a user (no password), a
/// host, a port, and a path naming the remote engine's socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// The remote socket (`ssh://h/run/user/1000/docker.sock`), passed as `docker --host=unix://...`.
    pub socket: Option<String>,
}

impl SshTarget {
    pub fn parse(url: &str) -> Result<SshTarget, String> {
        let invalid = |why: &str| format!("invalid SSH URL: {why}");
        let rest = url
            .strip_prefix("ssh://")
            .ok_or_else(|| invalid("it must start with ssh://"))?;
        if rest.contains('?') {
            return Err(invalid("query parameters are not allowed"));
        }
        if rest.contains('#') {
            return Err(invalid("fragments are not allowed"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if user.is_some_and(|u| u.contains(':')) {
            return Err(invalid("plain-text password is not supported"));
        }
        let (host, port) =
            split_host_port(hostport).ok_or_else(|| invalid("cannot read the host and port"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err(invalid("hostname is empty"));
        }
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| invalid(&format!("`{p}` is not a port")))?,
            ),
            None => None,
        };
        let socket = Some(path.to_string()).filter(|p| !p.trim_matches('/').is_empty());
        Ok(SshTarget {
            user: user.filter(|u| !u.is_empty()).map(str::to_string),
            host,
            port,
            socket,
        })
    }

    /// `[-l USER] [-p PORT]`: the options that select the account, as the docker CLI passes them.
    pub fn login_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(u) = &self.user {
            args.extend(["-l".to_string(), u.clone()]);
        }
        if let Some(p) = self.port {
            args.extend(["-p".to_string(), p.to_string()]);
        }
        args
    }

    /// The remote command: `docker system dial-stdio`, with `--host=unix://PATH` for a path.
    pub fn remote_command(&self) -> Vec<String> {
        let mut cmd = vec!["docker".to_string()];
        if let Some(s) = &self.socket {
            cmd.push(shell_quote(&format!("--host=unix://{s}")));
        }
        cmd.extend(["system".to_string(), "dial-stdio".to_string()]);
        cmd
    }

    /// `host:port` for messages.
    pub fn display_host(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

/// POSIX shell quoting for the remote command line (ssh joins its arguments with spaces).
fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_=/.:,@+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    fn sel(host: Option<&str>, context: Option<&str>) -> Selection {
        Selection {
            host: host.map(str::to_string),
            context: context.map(str::to_string),
        }
    }

    /// A Docker config directory with `currentContext` and contexts, as `docker context create` writes it.
    fn config(current: Option<&str>, contexts: &[(&str, &str, bool, bool)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        if let Some(c) = current {
            std::fs::write(
                dir.path().join("config.json"),
                format!(r#"{{"auths":{{}},"currentContext":"{c}"}}"#),
            )
            .unwrap();
        }
        for (name, host, skip, tls) in contexts {
            let id = context_id(name);
            let meta = dir.path().join("contexts/meta").join(&id);
            std::fs::create_dir_all(&meta).unwrap();
            std::fs::write(
                meta.join("meta.json"),
                format!(
                    r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":{skip}}}}}}}"#
                ),
            )
            .unwrap();
            if *tls {
                let t = dir.path().join("contexts/tls").join(&id).join("docker");
                std::fs::create_dir_all(&t).unwrap();
                for f in ["ca.pem", "cert.pem", "key.pem"] {
                    std::fs::write(t.join(f), "x").unwrap();
                }
            }
        }
        dir
    }

    #[test]
    fn the_context_id_is_the_sha256_of_its_name() {
        // The docker CLI's own fixture (e2e/context/testdata/test-dockerconfig).
        assert_eq!(
            context_id("remote"),
            "b71199ebd070b36beab7317920c2c2f1d777df8d05e5527d8458fda57cb17a7a"
        );
    }

    #[test]
    fn hosts_are_normalized_as_docker_dash_h_does() {
        let ok = |v: &str, tls: bool| parse_host(v, tls).unwrap();
        assert_eq!(ok("", false), "unix:///var/run/docker.sock");
        assert_eq!(ok("", true), "tcp://localhost:2376");
        assert_eq!(ok("unix://", false), "unix:///var/run/docker.sock");
        assert_eq!(ok("unix:///run/d.sock", false), "unix:///run/d.sock");
        assert_eq!(ok("tcp://10.0.0.2", false), "tcp://10.0.0.2:2375");
        assert_eq!(
            ok("tcp://10.0.0.2", true),
            "tcp://10.0.0.2:2375",
            "2375 even with TLS"
        );
        assert_eq!(ok("10.0.0.2:2376", false), "tcp://10.0.0.2:2376");
        assert_eq!(ok("tcp://:7777", false), "tcp://localhost:7777");
        assert_eq!(ok("tcp://[::1]:7777", false), "tcp://[::1]:7777");
        assert_eq!(ok("tcp://h:1/prefix", false), "tcp://h:1/prefix");
        assert_eq!(ok(" ssh://deploy@vm:2222 ", false), "ssh://deploy@vm:2222");
        for bad in [
            "http://h:1",
            "fd://",
            "npipe:////./pipe/x",
            "tcp://h:port",
            "ssh://",
        ] {
            assert!(parse_host(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn ssh_urls_are_read_as_the_docker_cli_reads_them() {
        let t = SshTarget::parse("ssh://deploy@vm.example:2222").unwrap();
        assert_eq!(t.login_args(), ["-l", "deploy", "-p", "2222"]);
        assert_eq!(t.remote_command(), ["docker", "system", "dial-stdio"]);
        let t = SshTarget::parse("ssh://vm/run/user/1000/docker.sock").unwrap();
        assert!(t.login_args().is_empty());
        assert_eq!(
            t.remote_command(),
            [
                "docker",
                "--host=unix:///run/user/1000/docker.sock",
                "system",
                "dial-stdio"
            ]
        );
        assert_eq!(SshTarget::parse("ssh://vm/").unwrap().socket, None);
        assert_eq!(SshTarget::parse("ssh://[::1]:22").unwrap().host, "::1");
        for (bad, why) in [
            ("ssh://u:pw@vm", "password"),
            ("ssh://vm?x=1", "query"),
            ("ssh://vm#x", "fragment"),
            ("ssh://u@", "hostname is empty"),
        ] {
            let e = SshTarget::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn precedence_is_the_docker_clis() {
        let cfg = config(
            Some("current"),
            &[
                ("current", "tcp://current:1", false, false),
                ("envctx", "ssh://envctx", false, false),
                ("flagctx", "unix:///flag.sock", false, false),
            ],
        );
        let dir = cfg.path().to_str().unwrap();
        let all = [
            ("DOCKER_CONFIG", dir),
            ("DOCKER_HOST", "tcp://fromenv:2375"),
            ("DOCKER_CONTEXT", "envctx"),
        ];
        // --context beats everything, DOCKER_HOST included.
        let e = resolve(&sel(None, Some("flagctx")), &env(&all)).unwrap();
        assert_eq!(e.host, "unix:///flag.sock");
        assert!(
            e.describe().contains("context \"flagctx\" from --context"),
            "{}",
            e.describe()
        );
        // -H beats the environment.
        let e = resolve(&sel(Some("tcp://flag:1"), None), &env(&all)).unwrap();
        assert_eq!(
            (e.host.as_str(), &e.source),
            ("tcp://flag:1", &Source::Flag)
        );
        // DOCKER_HOST beats DOCKER_CONTEXT and currentContext (silently, as the docker CLI).
        let e = resolve(&sel(None, None), &env(&all)).unwrap();
        assert_eq!(
            (e.host.as_str(), &e.source),
            ("tcp://fromenv:2375", &Source::DockerHost)
        );
        // DOCKER_CONTEXT beats currentContext.
        let e = resolve(
            &sel(None, None),
            &env(&all[..1]
                .iter()
                .chain(&all[2..])
                .copied()
                .collect::<Vec<_>>()),
        )
        .unwrap();
        assert_eq!(e.host, "ssh://envctx");
        // currentContext of config.json.
        let e = resolve(&sel(None, None), &env(&all[..1])).unwrap();
        assert_eq!(e.host, "tcp://current:1");
        assert!(
            e.describe().contains("currentContext in"),
            "{}",
            e.describe()
        );
        // Nothing: the local socket; `--context default` is the same.
        let empty = tempfile::tempdir().unwrap();
        let none = [("DOCKER_CONFIG", empty.path().to_str().unwrap())];
        let e = resolve(&sel(None, None), &env(&none)).unwrap();
        assert_eq!(
            (e.host.as_str(), &e.source),
            (DEFAULT_HOST, &Source::Default)
        );
        let e = resolve(&sel(None, Some("default")), &env(&none)).unwrap();
        assert_eq!(e.host, DEFAULT_HOST);
        // HOME/.docker when DOCKER_CONFIG is unset.
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".docker")).unwrap();
        std::fs::rename(
            cfg.path().join("contexts"),
            home.path().join(".docker/contexts"),
        )
        .unwrap();
        let e = resolve(
            &sel(None, Some("envctx")),
            &env(&[("HOME", home.path().to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(e.host, "ssh://envctx");
    }

    #[test]
    fn a_missing_context_names_the_file_and_how_to_make_it() {
        let cfg = config(Some("gone"), &[]);
        let dir = cfg.path().to_str().unwrap();
        let e = resolve(&sel(None, None), &env(&[("DOCKER_CONFIG", dir)])).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("context \"gone\" not found"), "{text}");
        assert!(text.contains(&context_id("gone")), "{text}");
        assert!(text.contains("currentContext in"), "{text}");
        assert!(text.contains("docker context create gone"), "{text}");
        let e = resolve(&sel(None, Some("nope")), &env(&[("DOCKER_CONFIG", dir)])).unwrap_err();
        assert!(e.to_string().contains("(--context)"), "{e}");
    }

    #[test]
    fn tls_comes_from_the_environment_or_the_context_store() {
        let certs = tempfile::tempdir().unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(certs.path().join(f), "x").unwrap();
        }
        let cp = certs.path().to_str().unwrap();
        let e = resolve(
            &sel(None, None),
            &env(&[
                ("DOCKER_HOST", "tcp://127.0.0.1:23760"),
                ("DOCKER_TLS_VERIFY", "1"),
                ("DOCKER_CERT_PATH", cp),
            ]),
        )
        .unwrap();
        let tls = e.tls.clone().unwrap();
        assert!(tls.verify);
        assert_eq!(tls.ca, Some(certs.path().join("ca.pem")));
        assert_eq!(tls.key, Some(certs.path().join("key.pem")));
        assert!(
            e.describe().ends_with("(DOCKER_HOST, TLS)"),
            "{}",
            e.describe()
        );
        // Any non-empty value turns it on, "0" included (as the docker CLI reads it).
        let e = resolve(
            &sel(None, None),
            &env(&[("DOCKER_TLS_VERIFY", "0"), ("DOCKER_CERT_PATH", cp)]),
        )
        .unwrap();
        assert_eq!(e.host, "tcp://localhost:2376");
        assert!(e.tls.unwrap().verify);
        // DOCKER_TLS alone: TLS without verifying the engine.
        let e = resolve(
            &sel(Some("tcp://h:2376"), None),
            &env(&[("DOCKER_TLS", "1"), ("DOCKER_CERT_PATH", cp)]),
        )
        .unwrap();
        assert!(!e.tls.unwrap().verify);
        // No TLS for a socket, whatever the environment says.
        let e = resolve(
            &sel(Some("unix:///x.sock"), None),
            &env(&[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", cp)]),
        )
        .unwrap();
        assert_eq!(e.tls, None);
        // Verification without a CA is an error naming the file.
        let empty = tempfile::tempdir().unwrap();
        let err = resolve(
            &sel(Some("tcp://h:2376"), None),
            &env(&[
                ("DOCKER_TLS_VERIFY", "1"),
                ("DOCKER_CERT_PATH", empty.path().to_str().unwrap()),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("ca.pem") && err.contains("DOCKER_CERT_PATH"),
            "{err}"
        );

        let cfg = config(
            None,
            &[
                ("tls", "tcp://127.0.0.1:23760", false, true),
                ("skip", "tcp://127.0.0.1:23760", true, false),
                ("plain", "tcp://127.0.0.1:2375", false, false),
                ("noport", "tcp://127.0.0.1", false, false),
            ],
        );
        let dir = cfg.path().to_str().unwrap();
        let ctx = |n: &str| resolve(&sel(None, Some(n)), &env(&[("DOCKER_CONFIG", dir)]));
        let t = ctx("tls").unwrap().tls.unwrap();
        assert!(t.verify && t.ca.is_some() && t.cert.is_some());
        let t = ctx("skip").unwrap().tls.unwrap();
        assert!(!t.verify && t.ca.is_none());
        assert_eq!(ctx("plain").unwrap().tls, None);
        assert!(ctx("noport").unwrap_err().to_string().contains("no port"));
    }
}
