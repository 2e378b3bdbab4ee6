//! Remote engines on loopback, for the tests of `ssh://`, `tcp://` and TLS: an sshd of the test's
//! own on 127.0.0.1 reaching the local engine, a second dockerd with TLS (its own data-root,
//! exec-root, pidfile, socket, port, containerd namespace; no iptables, no bridge), a plain tcp
//! forwarder to the local socket, and Docker config directories with contexts. Each is stopped
//! and removed when dropped; none touches the main daemon's configuration.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1 (bound once, then released for the daemon to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on 127.0.0.1:{port} within 30 s: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn short_tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap()
}

/// `ssh-keygen` an ed25519 key pair at `path` (and `path.pub`).
pub fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "fedgen-test", "-f"])
        .arg(path));
}

/// An sshd of the test's own on 127.0.0.1, accepting one key for root, whose sessions reach the
/// local engine with `docker system dial-stdio`; and a HOME with that key and the server's host
/// key in `known_hosts`, as a CI runner has after its setup step.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
    /// A HOME for the client: `.ssh/id_ed25519` and `.ssh/known_hosts`.
    pub home: PathBuf,
    /// A directory to put first on PATH: `ssh` there is the system's, told to use HOME's `.ssh`.
    pub bin: PathBuf,
    /// The server's host key line for known_hosts.
    pub known_host: String,
}

impl Sshd {
    pub fn start() -> Sshd {
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "no /usr/sbin/sshd: run scripts/prepare-test-env.sh (it installs openssh-server)"
        );
        let dir = short_tempdir("fsshd");
        let d = dir.path();
        keygen(&d.join("host_key"));
        let home = d.join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        keygen(&home.join(".ssh/id_ed25519"));
        std::fs::copy(home.join(".ssh/id_ed25519.pub"), d.join("authorized_keys")).unwrap();
        let port = free_port();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPubkeyAuthentication yes\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 StrictModes no\nPermitRootLogin prohibit-password\nMaxStartups 100:30:200\n\
                 MaxSessions 100\nLogLevel VERBOSE\n",
                d = d.display()
            ),
        )
        .unwrap();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let key: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        let known_host = format!("[127.0.0.1]:{port} {}", key.join(" "));
        std::fs::write(home.join(".ssh/known_hosts"), format!("{known_host}\n")).unwrap();
        let bin = d.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        write_ssh_wrapper(&bin);
        let log = d.join("sshd.log");
        let mut child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        wait_for_port(port, &mut child, "sshd", &log);
        Sshd {
            dir,
            port,
            child,
            home,
            bin,
            known_host,
        }
    }

    /// `ssh://root@127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("ssh://root@127.0.0.1:{}", self.port)
    }

    /// HOME and PATH for a command that reaches the engine through this sshd.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("HOME".into(), self.home.display().to_string()),
            (
                "PATH".into(),
                format!(
                    "{}:{}",
                    self.bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            ),
        ]
    }
}

/// `ssh` for the tests: the system's client, with HOME's `.ssh` in place of the password
/// database's home. (OpenSSH finds `~/.ssh` through the password database, never `$HOME`; on a
/// CI runner the two are the same directory, in these tests they are not.)
pub fn write_ssh_wrapper(bin: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let path = bin.join("ssh");
    std::fs::write(
        &path,
        "#!/bin/sh\n\
         cfg=/dev/null; [ -f \"$HOME/.ssh/config\" ] && cfg=\"$HOME/.ssh/config\"\n\
         exec /usr/bin/ssh -F \"$cfg\" -o UserKnownHostsFile=\"$HOME/.ssh/known_hosts\" \
         -o IdentityFile=\"$HOME/.ssh/id_ed25519\" -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Certificates made with openssl: a CA, a server certificate for 127.0.0.1 and localhost, a
/// client certificate; and a second CA with a client certificate of its own (the wrong ones).
pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    pub fn make(dir: &Path) -> Certs {
        std::fs::create_dir_all(dir).unwrap();
        let ossl = |args: &[&str]| {
            run(Command::new("openssl").current_dir(dir).args(args));
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for ca in ["ca", "other-ca"] {
            let mut a = vec!["req", "-x509", "-new", "-days", "2", "-sha256"];
            a.extend(ec);
            let key = format!("{ca}-key.pem");
            let out = format!("{ca}.pem");
            let subj = format!("/CN=fedgen-test-{ca}");
            a.extend(["-keyout", &key, "-out", &out, "-subj", &subj]);
            ossl(&a);
        }
        std::fs::write(
            dir.join("server.cnf"),
            "subjectAltName = IP:127.0.0.1,DNS:localhost\nextendedKeyUsage = serverAuth\n",
        )
        .unwrap();
        std::fs::write(dir.join("client.cnf"), "extendedKeyUsage = clientAuth\n").unwrap();
        for (name, ca, cnf, cn) in [
            ("server", "ca", "server.cnf", "127.0.0.1"),
            ("client", "ca", "client.cnf", "client"),
            ("other-client", "other-ca", "client.cnf", "client"),
        ] {
            let key = format!("{name}-key.pem");
            let csr = format!("{name}.csr");
            let subj = format!("/CN={cn}");
            let mut a = vec!["req", "-new", "-sha256"];
            a.extend(ec);
            a.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
            ossl(&a);
            let cert = format!("{name}-cert.pem");
            let ca_pem = format!("{ca}.pem");
            let ca_key = format!("{ca}-key.pem");
            ossl(&[
                "x509",
                "-req",
                "-days",
                "2",
                "-sha256",
                "-in",
                &csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &cert,
                "-extfile",
                cnf,
            ]);
        }
        Certs {
            dir: dir.to_path_buf(),
        }
    }

    /// A DOCKER_CERT_PATH directory: `ca.pem`, `cert.pem`, `key.pem` from the given files.
    pub fn cert_path(&self, name: &str, ca: &str, client: &str) -> PathBuf {
        let d = self.dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(self.dir.join(format!("{ca}.pem")), d.join("ca.pem")).unwrap();
        std::fs::copy(
            self.dir.join(format!("{client}-cert.pem")),
            d.join("cert.pem"),
        )
        .unwrap();
        std::fs::copy(
            self.dir.join(format!("{client}-key.pem")),
            d.join("key.pem"),
        )
        .unwrap();
        d
    }
}

/// A second dockerd listening on 127.0.0.1 with `--tlsverify`, beside the main one and sharing
/// nothing with it: its own data-root, exec-root, pidfile, unix socket (for the test's own docker
/// CLI calls), containerd namespace and address pool; `--iptables=false --bridge=none`. The
/// stand-in image is loaded into it. Stopped (its containers removed first) when dropped.
pub struct TlsDaemon {
    pub dir: tempfile::TempDir,
    exec_root: tempfile::TempDir,
    pub port: u16,
    pub socket: PathBuf,
    pub certs: Certs,
    child: Child,
}

impl TlsDaemon {
    pub fn start() -> TlsDaemon {
        let dir = short_tempdir("ftlsd");
        let exec_root = short_tempdir("fx");
        let d = dir.path();
        let certs = Certs::make(&d.join("certs"));
        std::fs::write(d.join("daemon.json"), "{}").unwrap();
        let port = free_port();
        let socket = d.join("docker.sock");
        let ns = format!("fedgen-t-{}-{port}", std::process::id());
        let pool = address_pool();
        let c = &certs.dir;
        let log = d.join("dockerd.log");
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(exec_root.path())
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .args(["-H", &format!("tcp://127.0.0.1:{port}")])
            .args(["-H", &format!("unix://{}", socket.display())])
            .arg("--tlsverify")
            .arg(format!("--tlscacert={}", c.join("ca.pem").display()))
            .arg(format!("--tlscert={}", c.join("server-cert.pem").display()))
            .arg(format!("--tlskey={}", c.join("server-key.pem").display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
            ])
            .args(["--containerd-namespace", &ns])
            .args(["--containerd-plugins-namespace", &format!("{ns}p")])
            .args(["--default-address-pool", &format!("base={pool},size=24")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let me = TlsDaemon {
            dir,
            exec_root,
            port,
            socket,
            certs,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if me
                .docker(&["version", "-f", "{{.Server.Version}}"])
                .status
                .success()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the TLS dockerd did not come up in 60 s: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // The stand-in image, from the main engine.
        let mut save = Command::new("docker")
            .args(["save", "fedgen-test/busybox:1"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = Command::new("docker")
            .args([
                "-H",
                &format!("unix://{}", me.socket.display()),
                "load",
                "-q",
            ])
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(
            save.wait().unwrap().success(),
            "docker save of the stand-in image"
        );
        assert!(
            load.status.success(),
            "loading the stand-in image: {}",
            String::from_utf8_lossy(&load.stderr)
        );
        me
    }

    /// The docker CLI on this daemon (through its unix socket).
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .args(["-H", &format!("unix://{}", self.socket.display())])
            .args(args)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .output()
            .unwrap()
    }

    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsDaemon {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.exec_root;
        // Mounts the daemon may have left under its roots go before the files.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep -o ' {d}[^ ]*\\| {x}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                d = self.dir.path().display(),
                x = self.exec_root.path().display()
            ))
            .status();
    }
}

/// A /16 in 10.0.0.0/8 that no route on this host uses, for the second daemon's networks.
fn address_pool() -> String {
    let routes = run(Command::new("ip").args(["-o", "-4", "route"]));
    let start = 200 + (std::process::id() % 40) as u8;
    (0..50u8)
        .map(|i| 200 + (start - 200 + i) % 50)
        .map(|b| format!("10.{b}.0.0/16"))
        .find(|p| !routes.contains(&format!("10.{}.", p.split('.').nth(1).unwrap())))
        .expect("a free 10.x.0.0/16 for the test daemon")
}

/// A plain tcp:// address for the local engine: a forwarder of the test's own from 127.0.0.1 to
/// the engine's unix socket (the main daemon's configuration is left alone).
pub struct TcpForward {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TcpForward {
    pub fn start(socket: &str) -> TcpForward {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let socket = socket.to_string();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = conn else { continue };
                let Ok(unix) = std::os::unix::net::UnixStream::connect(&socket) else {
                    continue;
                };
                let (mut t1, mut u1) = (tcp.try_clone().unwrap(), unix.try_clone().unwrap());
                let (mut t2, mut u2) = (tcp, unix);
                std::thread::spawn(move || {
                    let _ = pump(&mut t1, &mut u1);
                    let _ = u1.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = pump(&mut u2, &mut t2);
                    let _ = t2.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        TcpForward { port, stop }
    }

    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

fn pump(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<()> {
    let mut buf = [0u8; 16384];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buf[..n])?;
    }
}

impl Drop for TcpForward {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A Docker config directory with contexts, written as `docker context create` writes them:
/// `contexts/meta/<sha256(name)>/meta.json`, TLS files in `contexts/tls/<sha256>/docker/`.
pub struct DockerConfig {
    pub dir: tempfile::TempDir,
}

impl DockerConfig {
    pub fn new() -> DockerConfig {
        DockerConfig {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn context(&self, name: &str, host: &str, tls_from: Option<&Path>) -> &Self {
        use sha2::Digest;
        let id = format!("{:x}", sha2::Sha256::digest(name.as_bytes()));
        let meta = self.dir.path().join("contexts/meta").join(&id);
        std::fs::create_dir_all(&meta).unwrap();
        let doc = serde_json::json!({
            "Name": name,
            "Metadata": {"Description": "fedgen test"},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
        });
        std::fs::write(meta.join("meta.json"), doc.to_string()).unwrap();
        if let Some(from) = tls_from {
            let tls = self
                .dir
                .path()
                .join("contexts/tls")
                .join(&id)
                .join("docker");
            std::fs::create_dir_all(&tls).unwrap();
            for f in ["ca.pem", "cert.pem", "key.pem"] {
                std::fs::copy(from.join(f), tls.join(f)).unwrap();
            }
        }
        self
    }

    pub fn current(&self, name: &str) -> &Self {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::json!({"auths": {}, "currentContext": name}).to_string(),
        )
        .unwrap();
        self
    }
}
