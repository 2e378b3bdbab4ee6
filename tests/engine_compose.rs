//! On the real engine: Docker Compose v2 runs a compiled stack as written. The stand-in stack (the
//! shape of federated-imputation with busybox images) comes up healthy with `up -d --wait`; each
//! service resolves what it uses and nothing else; every container that declares the JWT secret
//! reads the same value, which no `docker inspect` shows. The test owns its project name and
//! removes everything it made, also when it fails.

mod common;
use common::*;
use std::process::{Command, Output};

struct Project {
    name: String,
    file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Project {
    fn compose(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(["compose", "-p", &self.name, "-f"])
            .arg(&self.file)
            .args(args)
            .envs(env_pairs("tests/stacks/standin.env"))
            .output()
            .unwrap()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans", "-t", "1"]);
    }
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn compose_v2_runs_a_compiled_stack_healthy_and_isolated() {
    require_engine();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docker-compose.yml");
    let out = fedgen()
        .args([
            "build",
            "tests/stacks/standin.yml",
            "--env",
            "tests/stacks/standin.env",
            "-o",
        ])
        .arg(&file)
        .env("GATEWAY_PORT", "28000")
        .env("FRONTEND_PORT", "23000")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let p = Project {
        name: format!("fedgen-t-compose-{}", std::process::id()),
        file,
        _dir: dir,
    };
    let up = p.compose(&["up", "-d", "--wait", "--wait-timeout", "180"]);
    assert!(up.status.success(), "docker compose up: {}", describe(&up));

    let ps = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", p.name),
    ]);
    let ids: Vec<String> = text(&ps.stdout).lines().map(str::to_string).collect();
    assert_eq!(ids.len(), 9, "nine containers run");
    let jwt = env_pairs("tests/stacks/standin.env")
        .into_iter()
        .find(|(k, _)| k == "JWT_SECRET")
        .unwrap()
        .1;
    let db_password = env_pairs("tests/stacks/standin.env")
        .into_iter()
        .find(|(k, _)| k == "POSTGRES_PASSWORD")
        .unwrap()
        .1;
    let mut readers = 0;
    for id in &ids {
        let inspect = docker(&["inspect", id]);
        let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
        let c = &json[0];
        assert_eq!(c["State"]["Health"]["Status"], "healthy", "{}", c["Name"]);
        assert_eq!(
            c["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped",
            "{}",
            c["Name"]
        );
        assert_eq!(c["HostConfig"]["LogConfig"]["Config"]["max-size"], "1m");
        let raw = text(&inspect.stdout);
        assert!(
            !raw.contains(&jwt) && !raw.contains(&db_password),
            "a secret value is visible in docker inspect of {}",
            c["Name"]
        );
        let secret = docker(&["exec", id, "cat", "/run/secrets/jwt_secret"]);
        if secret.status.success() {
            assert_eq!(
                text(&secret.stdout),
                jwt,
                "{} reads the same JWT secret",
                c["Name"]
            );
            readers += 1;
        }
    }
    assert_eq!(readers, 6, "six services declare the JWT secret");

    // The gateway reaches what it uses, and cannot even resolve what it does not.
    let gateway = format!("{}-api-gateway-1", p.name);
    for used in [
        "user-service",
        "service-registry",
        "job-processor",
        "file-manager",
        "monitoring",
    ] {
        let get = docker(&[
            "exec",
            &gateway,
            "wget",
            "-q",
            "-O",
            "-",
            &format!("http://{used}:{}/health", port_of(used)),
        ]);
        assert!(
            get.status.success(),
            "gateway -> {used}: {}",
            describe(&get)
        );
    }
    for hidden in ["db", "redis"] {
        let look = docker(&["exec", &gateway, "nslookup", hidden]);
        let answer = text(&look.stdout);
        assert!(
            !look.status.success() || !answer.contains("Address: 1"),
            "gateway must not resolve {hidden}: {answer}"
        );
    }
    // The published port is bound to 127.0.0.1 only.
    let port = docker(&["port", &gateway, "8000"]);
    assert_eq!(text(&port.stdout).trim(), "127.0.0.1:28000");
}

fn port_of(service: &str) -> u16 {
    match service {
        "user-service" => 8001,
        "service-registry" => 8002,
        "job-processor" => 8003,
        "file-manager" => 8004,
        "monitoring" => 8005,
        _ => unreachable!(),
    }
}
