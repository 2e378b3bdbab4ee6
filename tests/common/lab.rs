//! The real-image lab's stacks for tests: a spec compiled under a project of its own, applied,
//! asked from inside its containers, and removed with everything of the project when dropped.
#![allow(dead_code)]

use super::*;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

const LAB: &[&str] = &[
    "fedgen-lab/postgres:15",
    "fedgen-lab/redis:7",
    "fedgen-lab/caddy:2",
    "fedgen-lab/prometheus:2",
    "fedgen-lab/fastapi-app:1",
    "fedgen-lab/python:3.11-slim",
    "fedgen-lab/frontend:1",
];

pub fn require_lab() {
    require_engine();
    for image in LAB {
        assert!(
            docker(&["image", "inspect", image]).status.success(),
            "the lab image {image} is missing: scripts/test.sh builds it (bash scripts/lab/build.sh)"
        );
    }
}

/// A stack spec compiled into a temporary directory under a project name of its own, with
/// everything of that project removed when it drops.
pub struct Stack {
    pub project: String,
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
    pub env: PathBuf,
    pub cache: PathBuf,
    /// Volumes made outside the project for the test (external ones).
    pub volumes: Vec<String>,
}

impl Stack {
    /// `spec` with its `name:` replaced by `project`, built with `env` (KEY=value lines).
    pub fn build(project: &str, spec: &str, env: &str) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let name_line = spec
            .lines()
            .find(|l| l.starts_with("name:"))
            .expect("a spec names its project");
        let spec = spec.replacen(name_line, &format!("name: {project}"), 1);
        std::fs::write(dir.path().join("spec.yml"), spec).unwrap();
        let env_path = dir.path().join(".env");
        std::fs::write(&env_path, env).unwrap();
        let file = dir.path().join("compose.yml");
        let out = fedgen()
            .arg("build")
            .arg(dir.path().join("spec.yml"))
            .arg("--env")
            .arg(&env_path)
            .arg("-o")
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "build: {}", describe(&out));
        let cache = dir.path().join("cache");
        Stack {
            project: project.to_string(),
            file,
            env: env_path,
            cache,
            dir,
            volumes: Vec::new(),
        }
    }

    pub fn run(&self, cmd: &str, extra: &[&str]) -> Output {
        fedgen()
            .arg(cmd)
            .arg("-f")
            .arg(&self.file)
            .arg("--env")
            .arg(&self.env)
            .args(extra)
            .env("XDG_CACHE_HOME", &self.cache)
            .output()
            .unwrap()
    }

    pub fn apply(&self, extra: &[&str]) -> Output {
        let mut args = vec!["--timeout", "300s"];
        args.extend_from_slice(extra);
        self.run("apply", &args)
    }

    pub fn container(&self, service: &str) -> String {
        format!("{}-{service}-1", self.project)
    }

    /// GET `path` of a lab app's own port from inside its container (the app has python3).
    pub fn app_get(&self, service: &str, port: u16, path: &str) -> (bool, serde_json::Value) {
        self.app_request(service, port, path, "GET")
    }

    pub fn app_request(
        &self,
        service: &str,
        port: u16,
        path: &str,
        method: &str,
    ) -> (bool, serde_json::Value) {
        let script = "import json, sys, urllib.request, urllib.error\n\
                      req = urllib.request.Request(sys.argv[1], method=sys.argv[2])\n\
                      try:\n    r = urllib.request.urlopen(req, timeout=20); print(r.status); print(r.read().decode())\n\
                      except urllib.error.HTTPError as e:\n    print(e.code); print(e.read().decode())";
        let out = docker(&[
            "exec",
            &self.container(service),
            "python3",
            "-c",
            script,
            &format!("http://127.0.0.1:{port}{path}"),
            method,
        ]);
        assert!(out.status.success(), "{service} {path}: {}", describe(&out));
        let text = text(&out.stdout);
        let (status, body) = text.split_once('\n').unwrap_or((&text, ""));
        (
            status.trim() == "200",
            serde_json::from_str(body.trim()).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Waits until every container of the project is running and, where it has a healthcheck,
    /// healthy; panics with the unhealthy ones after `limit`.
    pub fn wait_healthy(&self, limit: Duration) {
        let t = Instant::now();
        loop {
            let ps = docker(&[
                "ps",
                "-a",
                "--filter",
                &format!("label=com.docker.compose.project={}", self.project),
                "--format",
                "{{.Names}} {{.Status}}",
            ]);
            let lines: Vec<String> = text(&ps.stdout).lines().map(str::to_string).collect();
            let bad: Vec<&String> = lines
                .iter()
                .filter(|l| {
                    !l.contains(" Up ") || l.contains("starting") || l.contains("unhealthy")
                })
                .collect();
            if !lines.is_empty() && bad.is_empty() {
                return;
            }
            assert!(t.elapsed() < limit, "not healthy after {limit:?}: {bad:?}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let label = format!("label=com.docker.compose.project={}", self.project);
        let ps = docker(&["ps", "-aq", "--filter", &label]);
        for id in text(&ps.stdout).lines() {
            let _ = docker(&["rm", "-f", "-v", id]);
        }
        let _ = docker(&["network", "prune", "-f", "--filter", &label]);
        let vols = docker(&["volume", "ls", "-q", "--filter", &label]);
        for v in text(&vols.stdout).lines() {
            let _ = docker(&["volume", "rm", "-f", v]);
        }
        for v in &self.volumes {
            let _ = docker(&["volume", "rm", "-f", v]);
        }
        let _ = &self.dir;
    }
}

pub fn report(out: &Output) -> serde_json::Value {
    let last = text(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    serde_json::from_str(&last).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
}

/// The secret values of env.example, which no output may show.
pub fn assert_no_secrets(outputs: &[&Output]) {
    for out in outputs {
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        for s in example_secret_values() {
            assert!(
                !all.contains(&s),
                "a secret value leaked: {}",
                describe(out)
            );
        }
    }
}

/// env.example with the images replaced by the lab's: what a user would change, nothing else.
pub fn lab_env() -> String {
    let mut env = std::fs::read_to_string(root().join("env.example")).unwrap();
    env.push_str(
        "\n# the lab's images\nREGISTRY=fedgen-lab\nTAG=1\nPOSTGRES_IMAGE=fedgen-lab/postgres:15\nREDIS_IMAGE=fedgen-lab/redis:7\n",
    );
    env
}

/// The FastAPI services of federated-imputation, with their ports.
pub const APPS: &[(&str, u16)] = &[
    ("user-service", 8001),
    ("service-registry", 8002),
    ("job-processor", 8003),
    ("file-manager", 8004),
    ("monitoring", 8005),
    ("api-gateway", 8000),
];
