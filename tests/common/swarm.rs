//! A single-node swarm of the test's own: a second dockerd that the test starts, puts into swarm
//! mode, loads images into, restarts if it must, and takes down with everything it made when it
//! drops, pass or fail. The shared engine on /var/run/docker.sock is never put into swarm mode:
//! it only lends its images (`docker save | docker load`).
//!
//! The daemon runs in a network namespace of its own (`ip netns add`, entered with `nsenter
//! --net`, which keeps the host's mount namespace and so its cgroups): its own loopback for
//! `swarm init --advertise-addr 127.0.0.1`, its own `docker0`, its own iptables for overlay
//! networks and published ports, so it touches neither the shared daemon's bridge, chains and
//! address pools nor its ports. Everything else is its own too: `--data-root`, `--exec-root`,
//! `--pidfile`, the socket, containerd (it starts its own, under the exec root, with namespaces
//! of its own), `--cgroup-parent`.
#![allow(dead_code)]

use super::*;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct SwarmDaemon {
    pub id: String,
    pub netns: String,
    /// Data root, pid file, socket, log.
    pub dir: PathBuf,
    pub exec_root: PathBuf,
    /// `unix://...`: what DOCKER_HOST says for fedgen and `docker -H`.
    pub host: String,
    child: Option<Child>,
}

/// The lab's images the real-image stack runs on.
pub const LAB_IMAGES: &[&str] = &[
    "fedgen-lab/postgres:15",
    "fedgen-lab/redis:7",
    "fedgen-lab/user-service:1",
    "fedgen-lab/service-registry:1",
    "fedgen-lab/job-processor:1",
    "fedgen-lab/file-manager:1",
    "fedgen-lab/monitoring:1",
    "fedgen-lab/api-gateway:1",
    "fedgen-lab/frontend:1",
];

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn must(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?}: {}", describe(&out));
    out
}

impl SwarmDaemon {
    /// Starts the daemon, makes it a single-node swarm and loads `images` from the shared engine.
    pub fn start(images: &[&str]) -> SwarmDaemon {
        require_engine();
        for tool in ["ip", "nsenter", "dockerd"] {
            assert!(
                run(Command::new("sh").args(["-c", &format!("command -v {tool}")]))
                    .status
                    .success(),
                "{tool} is missing: scripts/prepare-test-env.sh installs it"
            );
        }
        sweep_stale();
        let mut rnd = [0u8; 3];
        getrandom(&mut rnd);
        let id = format!(
            "{}{}",
            std::process::id() % 100_000,
            rnd.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let dir = PathBuf::from(format!("/tmp/fgsw-{id}"));
        let exec_root = PathBuf::from(format!("/tmp/fgx-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&exec_root).unwrap();
        std::fs::write(dir.join("daemon.json"), "{}").unwrap();
        let netns = format!("fgsw-{id}");
        let mut d = SwarmDaemon {
            host: format!("unix://{}/docker.sock", dir.display()),
            id,
            netns,
            dir,
            exec_root,
            child: None,
        };
        must(Command::new("ip").args(["netns", "add", &d.netns]));
        must(Command::new("ip").args(["netns", "exec", &d.netns, "ip", "link", "set", "lo", "up"]));
        d.spawn();
        let init = d.docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
        assert!(init.status.success(), "swarm init: {}", describe(&init));
        d.load(images);
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("dockerd.log"))
            .unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .arg("--")
            .arg("dockerd")
            .arg("--config-file")
            .arg(self.dir.join("daemon.json"))
            .arg("--data-root")
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("--pidfile")
            .arg(self.dir.join("docker.pid"))
            .args(["-H", &self.host])
            .args(["--containerd-namespace", &format!("fgsw{}", self.id)])
            .args([
                "--containerd-plugins-namespace",
                &format!("fgsw{}p", self.id),
            ])
            .args(["--cgroup-parent", &format!("fgsw-{}", self.id)])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd starts");
        self.child = Some(child);
        let t = Instant::now();
        loop {
            if self
                .docker(&["info", "--format", "{{.ServerVersion}}"])
                .status
                .success()
            {
                return;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("dockerd exited ({status}): {}", self.log_tail());
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "dockerd did not answer within 60s: {}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// `docker -H THIS ...`.
    pub fn docker(&self, args: &[&str]) -> Output {
        run(Command::new("docker").args(["-H", &self.host]).args(args))
    }

    /// Copies images from the shared engine into this one.
    pub fn load(&self, images: &[&str]) {
        if images.is_empty() {
            return;
        }
        let mut save = Command::new("docker")
            .arg("save")
            .args(images)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = Command::new("docker")
            .args(["-H", &self.host, "load", "-q"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        let saved = save.wait().unwrap();
        assert!(
            saved.success() && load.status.success(),
            "docker save {images:?} | docker load: {}",
            describe(&load)
        );
    }

    /// Labels this node as the one that keeps `stack`'s data.
    pub fn label_data_node(&self, stack: &str) {
        let node = self.docker(&["info", "--format", "{{.Swarm.NodeID}}"]);
        let out = self.docker(&[
            "node",
            "update",
            "--label-add",
            &format!("dev.fedgen.data.{stack}=true"),
            text(&node.stdout).trim(),
        ]);
        assert!(out.status.success(), "{}", describe(&out));
    }

    /// Stops the daemon (SIGTERM, as systemd would) and starts it again with the same state.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // nsenter runs dockerd in its own process: signal dockerd by its pid file.
        let pid = std::fs::read_to_string(self.dir.join("docker.pid")).unwrap_or_default();
        let pid = pid.trim();
        if !pid.is_empty() {
            let _ = run(Command::new("kill").args(["-TERM", pid]));
        }
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(45) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if !pid.is_empty() {
            let _ = run(Command::new("kill").args(["-KILL", pid]));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// `fedgen` against this daemon.
    pub fn fedgen(&self) -> Command {
        let mut cmd = fedgen();
        cmd.env("DOCKER_HOST", &self.host);
        cmd
    }

    /// The running task containers of a service (`STACK_SERVICE`) on this node.
    pub fn containers(&self, service: &str) -> Vec<String> {
        let ps = self.docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={service}"),
        ]);
        text(&ps.stdout).lines().map(str::to_string).collect()
    }

    /// The one running task container of a service, waiting a moment for it if needed.
    pub fn container(&self, service: &str) -> String {
        let t = Instant::now();
        loop {
            let c = self.containers(service);
            if c.len() == 1 {
                return c[0].clone();
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{service}: {} running containers",
                c.len()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for SwarmDaemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.docker(&["swarm", "leave", "--force"]);
        }
        self.stop();
        // Whatever the daemon left in its namespace (a shim, a task's process).
        let pids = run(Command::new("ip").args(["netns", "pids", &self.netns]));
        for pid in text(&pids.stdout).split_whitespace() {
            let _ = run(Command::new("kill").args(["-KILL", pid]));
        }
        // Mounts under its directories, deepest first.
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| {
                m.starts_with(self.dir.to_str().unwrap())
                    || m.starts_with(self.exec_root.to_str().unwrap())
            })
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = run(Command::new("umount").args(["-l", m]));
        }
        let _ = std::fs::remove_dir_all(&self.exec_root);
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = run(Command::new("ip").args(["netns", "del", &self.netns]));
    }
}

/// Removes what a test killed before its guard ran (SIGKILL, a power cut) left: a namespace whose
/// daemon is gone, with its directories, if it is older than any test now running could be.
fn sweep_stale() {
    let list = run(Command::new("ip").args(["netns", "list"]));
    for line in text(&list.stdout).lines() {
        let Some(netns) = line.split_whitespace().next() else {
            continue;
        };
        let Some(id) = netns.strip_prefix("fgsw-") else {
            continue;
        };
        let dir = PathBuf::from(format!("/tmp/fgsw-{id}"));
        let old = std::fs::metadata(&dir)
            .and_then(|m| m.modified())
            .map(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(3600))
            .unwrap_or(true);
        let pid = std::fs::read_to_string(dir.join("docker.pid")).unwrap_or_default();
        let alive = !pid.trim().is_empty()
            && std::path::Path::new(&format!("/proc/{}", pid.trim())).exists();
        if old && !alive {
            drop(SwarmDaemon {
                id: id.to_string(),
                netns: netns.to_string(),
                exec_root: PathBuf::from(format!("/tmp/fgx-{id}")),
                host: format!("unix://{}/docker.sock", dir.display()),
                dir,
                child: None,
            });
        }
    }
}

fn getrandom(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .unwrap();
}

/// A stack spec built for the swarm target into a temporary directory, under a stack name of
/// its own.
pub struct SwarmStack {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub spec: PathBuf,
    pub file: PathBuf,
    pub env: PathBuf,
}

impl SwarmStack {
    /// `spec` with its `name:` replaced by `name`, built with the `env` file's text.
    pub fn new(name: &str, spec: &str, env: &str) -> SwarmStack {
        let dir = tempfile::tempdir().unwrap();
        let name_line = spec
            .lines()
            .find(|l| l.starts_with("name:"))
            .expect("a spec names its stack");
        let spec_text = spec.replacen(name_line, &format!("name: {name}"), 1);
        let s = SwarmStack {
            name: name.to_string(),
            spec: dir.path().join("spec.yml"),
            file: dir.path().join("stack.yml"),
            env: dir.path().join(".env"),
            dir,
        };
        std::fs::write(&s.spec, spec_text).unwrap();
        std::fs::write(&s.env, env).unwrap();
        s.build(&[]);
        s
    }

    /// Builds the spec (again), with extra variables.
    pub fn build(&self, vars: &[(&str, &str)]) {
        let out = fedgen()
            .arg("build")
            .arg(&self.spec)
            .arg("--env")
            .arg(&self.env)
            .args(["--target", "swarm", "-o"])
            .arg(&self.file)
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        assert!(out.status.success(), "build: {}", describe(&out));
    }

    /// Edits the spec and builds it again.
    pub fn edit(&self, edit: impl Fn(String) -> String, vars: &[(&str, &str)]) {
        let text = std::fs::read_to_string(&self.spec).unwrap();
        std::fs::write(&self.spec, edit(text)).unwrap();
        self.build(vars);
    }

    /// `fedgen CMD -f FILE --env ENV EXTRA...` against `swarm`.
    pub fn run(
        &self,
        swarm: &SwarmDaemon,
        cmd: &str,
        extra: &[&str],
        vars: &[(&str, &str)],
    ) -> Output {
        swarm
            .fedgen()
            .arg(cmd)
            .arg("-f")
            .arg(&self.file)
            .arg("--env")
            .arg(&self.env)
            .args(extra)
            .envs(vars.iter().copied())
            .output()
            .unwrap()
    }

    pub fn service(&self, key: &str) -> String {
        format!("{}_{key}", self.name)
    }
}

/// The last line of `--output json` (the report or the plan).
pub fn json_report(out: &Output) -> serde_json::Value {
    let t = text(&out.stdout);
    let last = t.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|_| {
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
    })
}
