//! How bytes reach an engine: bollard's own unix-socket and plain-tcp clients, and two transports
//! of fedgen's own, plugged into bollard as custom transports:
//!
//! - **TLS** (`tcp://` with TLS): rustls (ring), the engine verified against the endpoint's
//!   `ca.pem` alone when there is one (the system's roots otherwise, or not at all for `DOCKER_TLS`
//!   without verification, as the docker CLI does), the client certificate presented when there is
//!   one.
//! - **ssh** (`ssh://`): the system's `ssh` client, so the user's keys, agent, `~/.ssh/config` and
//!   `known_hosts` apply. One ControlMaster per engine is started first (its failure, an unknown
//!   host key or a refused key, is reported before any API call), forwarding the remote engine's
//!   socket (the URL's path, else `/var/run/docker.sock`) to a local socket: when a ping answers
//!   through it, every HTTP connection is a channel of that master (a millisecond, no remote
//!   process). When it does not (another socket configured remotely, forwarding refused by the
//!   server, no permission), every HTTP connection is `ssh ... -- HOST docker system dial-stdio`
//!   over the master, the docker CLI's own bridge, which honors the remote's `DOCKER_HOST` and
//!   context and says why it fails. ssh runs in a session of its own (it cannot prompt: use an
//!   agent or an unencrypted key) and is killed with fedgen.
//!
//! Takes: an [`Endpoint`]. Gives: a bollard [`Docker`] client, and for ssh a handle on what ssh
//! printed, so [`super::engine`] can name the failure.

use crate::deploy::endpoint::{Endpoint, SshTarget, Tls};
use bollard::{BollardRequest, Docker, API_DEFAULT_VERSION};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// Seconds bollard waits for a response head.
const TIMEOUT: u64 = 120;
/// As the docker CLI passes it to ssh.
const SSH_CONNECT_TIMEOUT: &str = "ConnectTimeout=30";

/// The request body type bollard sends (named through the request type it exports).
pub trait RequestBody {
    type Body;
}
impl<B> RequestBody for hyper::Request<B> {
    type Body = B;
}
type Body = <BollardRequest as RequestBody>::Body;

/// A client and, for ssh, what ssh said.
pub struct Transport {
    pub docker: Docker,
    pub ssh: Option<Arc<SshShared>>,
}

/// A connection-time failure that is already a sentence naming what to fix.
#[derive(Debug)]
pub struct Failure(pub String);

pub async fn connect(endpoint: &Endpoint) -> Result<Transport, Failure> {
    let host = endpoint.host.as_str();
    if let Some(path) = host.strip_prefix("unix://") {
        let docker = Docker::connect_with_unix(path, TIMEOUT, API_DEFAULT_VERSION)
            .map_err(|e| Failure(format!("{e}")))?;
        return Ok(Transport { docker, ssh: None });
    }
    if host.starts_with("ssh://") {
        let target = SshTarget::parse(host).map_err(Failure)?;
        let shared = SshShared::start(target).await?;
        let connector = SshConnector {
            shared: shared.clone(),
        };
        let client: Client<SshConnector, Body> =
            Client::builder(TokioExecutor::new()).build(connector);
        let docker = custom(client, "http://docker.example.com")?;
        return Ok(Transport {
            docker,
            ssh: Some(shared),
        });
    }
    let Some(addr) = host.strip_prefix("tcp://") else {
        return Err(Failure(format!("fedgen cannot dial {host}")));
    };
    match &endpoint.tls {
        None => {
            let docker = Docker::connect_with_http(host, TIMEOUT, API_DEFAULT_VERSION)
                .map_err(|e| Failure(e.to_string()))?;
            Ok(Transport { docker, ssh: None })
        }
        Some(tls) => {
            let config = tls_config(tls)?;
            let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
            http.enforce_http(false);
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_only()
                .enable_http1()
                .wrap_connector(http);
            let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build(https);
            let authority = addr.split('/').next().unwrap_or(addr);
            let docker = custom(client, &format!("https://{authority}"))?;
            Ok(Transport { docker, ssh: None })
        }
    }
}

/// A bollard client over a hyper client of ours.
fn custom<C>(client: Client<C, Body>, base: &str) -> Result<Docker, Failure>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let client = Arc::new(client);
    Docker::connect_with_custom_transport(
        move |req: BollardRequest| {
            let client = client.clone();
            async move {
                client
                    .request(req)
                    .await
                    .map_err(bollard::errors::Error::from)
            }
        },
        Some(base),
        TIMEOUT,
        API_DEFAULT_VERSION,
    )
    .map_err(|e| Failure(e.to_string()))
}

// --- TLS ---------------------------------------------------------------------------------------

fn tls_config(tls: &Tls) -> Result<rustls::ClientConfig, Failure> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure(format!("TLS: {e}")))?;
    let unreadable = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        Failure(format!(
            "cannot read the {what} {} ({}): {e}; it must be a PEM file",
            path.display(),
            tls.from
        ))
    };
    let builder = if tls.verify {
        let mut roots = rustls::RootCertStore::empty();
        match &tls.ca {
            Some(ca) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
                    .map_err(|e| unreadable("CA certificate", ca, &e))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| unreadable("CA certificate", ca, &e))?;
                if certs.is_empty() {
                    return Err(unreadable("CA certificate", ca, &"no certificate in it"));
                }
                for c in certs {
                    roots
                        .add(c)
                        .map_err(|e| unreadable("CA certificate", ca, &e))?;
                }
            }
            None => {
                for c in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(c);
                }
            }
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(
                rustls::crypto::ring::default_provider(),
            )))
    };
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .map_err(|e| unreadable("client certificate", cert, &e))?
                .collect::<Result<_, _>>()
                .map_err(|e| unreadable("client certificate", cert, &e))?;
            if std::fs::read_to_string(key)
                .map(|k| k.contains("ENCRYPTED"))
                .unwrap_or(false)
            {
                return Err(Failure(format!(
                    "the client key {} ({}) is encrypted; the docker CLI does not read encrypted keys either: decrypt it (openssl pkey -in key.pem -out key.pem)",
                    key.display(),
                    tls.from
                )));
            }
            let key_der =
                PrivateKeyDer::from_pem_file(key).map_err(|e| unreadable("client key", key, &e))?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                Failure(format!(
                    "the client certificate {} and key {} ({}) do not go together: {e}",
                    cert.display(),
                    key.display(),
                    tls.from
                ))
            })
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// `DOCKER_TLS` without `DOCKER_TLS_VERIFY` (or a context's `SkipTLSVerify`): encrypted, the
/// engine not verified, as the docker CLI does.
#[derive(Debug)]
struct NoVerify(rustls::crypto::CryptoProvider);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

// --- ssh ---------------------------------------------------------------------------------------

/// The ControlMaster of one engine and what ssh printed (kept for error messages).
pub struct SshShared {
    pub target: SshTarget,
    dir: PathBuf,
    control: PathBuf,
    /// The local end of the master's forwarding of the remote engine's socket.
    forward: PathBuf,
    /// Connections go through `forward` (it answered a ping when the master came up); else each
    /// is a `docker system dial-stdio`.
    forwarded: std::sync::atomic::AtomicBool,
    master: Mutex<Option<std::process::Child>>,
    /// The last lines ssh (master or a dial) wrote to stderr.
    stderr: Mutex<String>,
}

impl Drop for SshShared {
    fn drop(&mut self) {
        if let Some(mut m) = self.master.lock().map(|mut m| m.take()).unwrap_or(None) {
            let _ = m.kill();
            let _ = m.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// ssh in a session of its own (no terminal to prompt on, as the docker CLI runs it), killed
/// when fedgen dies, even by SIGKILL.
fn ssh_command() -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new("ssh");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd
}

fn keep_tail(buf: &Mutex<String>, more: &str) {
    if let Ok(mut b) = buf.lock() {
        b.push_str(more);
        if b.len() > 4096 {
            let cut = b.len() - 4096;
            let cut = (cut..b.len()).find(|i| b.is_char_boundary(*i)).unwrap_or(0);
            b.drain(..cut);
        }
    }
}

impl SshShared {
    /// Starts the ControlMaster and waits until it is authenticated (its socket appears) or fails.
    async fn start(target: SshTarget) -> Result<Arc<SshShared>, Failure> {
        use std::os::unix::fs::DirBuilderExt;
        let mut rand = [0u8; 6];
        let _ = getrandom::getrandom(&mut rand);
        let dir = std::env::temp_dir().join(format!(
            "fedgen-ssh-{}-{}",
            std::process::id(),
            rand.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Failure(format!("cannot create {}: {e}", dir.display())))?;
        let control = dir.join("c");
        let forward = dir.join("d");
        let remote_socket = target
            .socket
            .clone()
            .unwrap_or_else(|| "/var/run/docker.sock".into());
        let mut cmd = ssh_command();
        cmd.arg("-o")
            .arg("ControlMaster=yes")
            .arg("-o")
            .arg(format!("ControlPath={}", control.display()))
            .arg("-o")
            .arg("ControlPersist=no")
            .args([
                "-o",
                "ExitOnForwardFailure=no",
                "-o",
                "StreamLocalBindUnlink=yes",
            ])
            .arg("-L")
            .arg(format!("{}:{remote_socket}", forward.display()))
            .arg("-N")
            .args(target.login_args())
            .args(["-o", SSH_CONNECT_TIMEOUT, "-T", "--", &target.host])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            if e.kind() == io::ErrorKind::NotFound {
                Failure("no ssh client on the PATH: install OpenSSH's client (ssh) to reach ssh:// engines".into())
            } else {
                Failure(format!("cannot run ssh: {e}"))
            }
        })?;
        let stderr = child.stderr.take();
        let shared = Arc::new(SshShared {
            target,
            dir,
            control: control.clone(),
            forward,
            forwarded: std::sync::atomic::AtomicBool::new(false),
            master: Mutex::new(Some(child)),
            stderr: Mutex::new(String::new()),
        });
        if let Some(mut err) = stderr {
            let s = shared.clone();
            // A thread of its own: it ends when the master's stderr closes (the master exits).
            let weak = Arc::downgrade(&s);
            drop(s);
            std::thread::spawn(move || {
                use std::io::Read;
                let mut buf = [0u8; 1024];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    match weak.upgrade() {
                        Some(s) => keep_tail(&s.stderr, &String::from_utf8_lossy(&buf[..n])),
                        None => break,
                    }
                }
            });
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(35);
        loop {
            if control.exists() {
                let ok = probe(&shared.forward).await;
                shared
                    .forwarded
                    .store(ok, std::sync::atomic::Ordering::SeqCst);
                return Ok(shared);
            }
            let exited = shared
                .master
                .lock()
                .ok()
                .and_then(|mut m| m.as_mut().and_then(|c| c.try_wait().ok().flatten()));
            if let Some(status) = exited {
                // Let the stderr reader catch up with what ssh said last.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let said = shared.stderr();
                return Err(Failure(ssh_problem(&said, &shared.target).unwrap_or_else(
                    || {
                        format!(
                            "ssh exited ({status}) before it connected: {}",
                            last_line(&said).unwrap_or("it said nothing")
                        )
                    },
                )));
            }
            if std::time::Instant::now() > deadline {
                return Err(Failure(format!(
                    "ssh did not connect to {} within 35 s: {}",
                    shared.target.display_host(),
                    last_line(&shared.stderr()).unwrap_or("it said nothing")
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// What ssh wrote to stderr lately.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// A sentence naming what to fix, from what ssh (or the remote `docker`) printed.
    pub fn problem(&self) -> Option<String> {
        ssh_problem(&self.stderr(), &self.target)
    }
}

/// Whether an engine answers a ping through the forwarded socket (the remote socket exists, the
/// user may open it, and the server allows stream-local forwarding).
async fn probe(forward: &Path) -> bool {
    use tokio::io::AsyncWriteExt;
    let attempt = async {
        // The master binds the local end right after it authenticates; give it a moment.
        let mut stream = None;
        for _ in 0..50 {
            if let Ok(s) = tokio::net::UnixStream::connect(forward).await {
                stream = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut s = stream?;
        s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1."))
    };
    tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

fn last_line(s: &str) -> Option<&str> {
    s.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// What ssh's (and the remote docker CLI's) words mean, and what to do about them.
pub fn ssh_problem(stderr: &str, t: &SshTarget) -> Option<String> {
    let host = t.display_host();
    let user = t.user.clone().unwrap_or_else(|| "the ssh user".into());
    let keyscan = match t.port {
        Some(p) => format!("ssh-keyscan -p {p} {}", t.host),
        None => format!("ssh-keyscan {}", t.host),
    };
    let s = stderr;
    let text = if s.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        format!("the ssh host key of {host} changed since it was recorded in known_hosts: if the server was really reinstalled, remove the old key (ssh-keygen -R {}) and add the new one after checking its fingerprint; otherwise do not connect", t.host)
    } else if s.contains("Host key verification failed")
        || s.contains("No ED25519 host key is known")
        || s.contains("host key is not known")
    {
        format!("ssh does not know the host key of {host} (Host key verification failed): add it to ~/.ssh/known_hosts after checking its fingerprint ({keyscan} >> ~/.ssh/known_hosts)")
    } else if s.contains("Permission denied (") {
        format!("the ssh server {host} refused the key of {user} (Permission denied): add the public key to {user}'s ~/.ssh/authorized_keys there, or offer the right key (ssh-add, or IdentityFile in ~/.ssh/config)")
    } else if s.contains("Connection refused") {
        format!("nothing accepts ssh connections on {host} (connection refused): is sshd running there, and is the port right?")
    } else if s.contains("Could not resolve hostname") {
        format!("cannot resolve the host name {}: check the address", t.host)
    } else if s.contains("timed out") {
        format!(
            "no answer from {host} within 30 s (ssh timed out): check the address and the firewall"
        )
    } else if s.contains("command not found")
        || s.contains("docker: not found")
        || s.contains("No such file or directory") && s.contains("docker") && !s.contains(".sock")
    {
        format!("the docker CLI is not on the PATH of {user}'s ssh sessions on {host}: `docker system dial-stdio` runs there (Docker 18.09 or later)")
    } else if s.contains("permission denied") && s.contains("docker") {
        format!(
            "{user} may not use the Docker socket on {host}: add {user} to the docker group there"
        )
    } else if s.contains("Cannot connect to the Docker daemon")
        || s.contains("failed to open the raw stream connection")
    {
        format!("no Docker engine answers on {host} (docker system dial-stdio could not reach it): is dockerd running there? ({})", last_line(s).unwrap_or_default())
    } else {
        return None;
    };
    Some(text)
}

#[derive(Clone)]
struct SshConnector {
    shared: Arc<SshShared>,
}

impl tower_service::Service<hyper::Uri> for SshConnector {
    type Response = TokioIo<SshStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            if shared.forwarded.load(std::sync::atomic::Ordering::SeqCst) {
                let s = tokio::net::UnixStream::connect(&shared.forward).await?;
                return Ok(TokioIo::new(SshStream::Forwarded(s)));
            }
            let t = &shared.target;
            let mut std_cmd = ssh_command();
            std_cmd
                .arg("-o")
                .arg(format!("ControlPath={}", shared.control.display()))
                .arg("-o")
                .arg("ControlMaster=no")
                .args(t.login_args())
                .args(["-o", SSH_CONNECT_TIMEOUT, "-T", "--", &t.host])
                .args(t.remote_command());
            let mut cmd = tokio::process::Command::from(std_cmd);
            cmd.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true);
            let mut child = cmd.spawn()?;
            let stdin = child.stdin.take();
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| io::Error::other("no stdout"))?;
            if let Some(mut err) = child.stderr.take() {
                let weak = Arc::downgrade(&shared);
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = err.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        match weak.upgrade() {
                            Some(s) => keep_tail(&s.stderr, &String::from_utf8_lossy(&buf[..n])),
                            None => break,
                        }
                    }
                });
            }
            Ok(TokioIo::new(SshStream::Dial {
                _child: Box::new(child),
                stdin,
                stdout,
            }))
        })
    }
}

/// One connection to the remote engine: a channel of the master to its socket, or one
/// `docker system dial-stdio` (its stdout read, its stdin written).
enum SshStream {
    Forwarded(tokio::net::UnixStream),
    Dial {
        _child: Box<tokio::process::Child>,
        stdin: Option<tokio::process::ChildStdin>,
        stdout: tokio::process::ChildStdout,
    },
}

impl Connection for SshStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for SshStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            SshStream::Forwarded(s) => Pin::new(s).poll_read(cx, buf),
            SshStream::Dial { stdout, .. } => Pin::new(stdout).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            SshStream::Forwarded(s) => Pin::new(s).poll_write(cx, buf),
            SshStream::Dial { stdin: Some(s), .. } => Pin::new(s).poll_write(cx, buf),
            SshStream::Dial { stdin: None, .. } => {
                Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            SshStream::Forwarded(s) => Pin::new(s).poll_flush(cx),
            SshStream::Dial { stdin: Some(s), .. } => Pin::new(s).poll_flush(cx),
            SshStream::Dial { stdin: None, .. } => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            SshStream::Forwarded(s) => Pin::new(s).poll_shutdown(cx),
            SshStream::Dial { stdin, .. } => match stdin.as_mut() {
                Some(s) => {
                    let r = Pin::new(s).poll_shutdown(cx);
                    if r.is_ready() {
                        *stdin = None;
                    }
                    r
                }
                None => Poll::Ready(Ok(())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_failures_name_what_to_fix() {
        let t = SshTarget::parse("ssh://deploy@vm:2222").unwrap();
        let say = |s: &str| ssh_problem(s, &t).unwrap();
        assert!(say("Host key verification failed.\r\n")
            .contains("ssh-keyscan -p 2222 vm >> ~/.ssh/known_hosts"));
        assert!(
            say("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@")
                .contains("ssh-keygen -R vm")
        );
        assert!(say("deploy@vm: Permission denied (publickey).").contains("authorized_keys"));
        assert!(
            say("ssh: connect to host vm port 2222: Connection refused").contains("sshd running")
        );
        assert!(say("bash: line 1: docker: command not found")
            .contains("docker CLI is not on the PATH"));
        assert!(say("permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock").contains("docker group"));
        assert_eq!(
            ssh_problem(
                "Warning: Permanently added 'vm' to the list of known hosts.",
                &t
            ),
            None
        );
    }
}
