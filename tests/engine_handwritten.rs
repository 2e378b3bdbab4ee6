//! On the real engine: Compose files as people write them. A hand-written file in short syntax
//! (anchors, `.env`, lists, a legacy `mem_limit`, a published port as a string, a secret file, a
//! bind that does not exist yet) is converged by `fedgen apply`, is in sync after, and stays
//! Compose's: `docker compose ps` and `logs` see it and `docker compose up` recreates nothing.
//! The other way round, a stack `docker compose up` started is taken over as it is: `fedgen
//! diff` is in sync and `fedgen apply` replaces no container. Each test owns its project name and
//! removes what it made, also when it fails.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

const FILE: &str = r#"x-service: &service
  image: ${IMAGE}
  restart: unless-stopped
  logging:
    driver: json-file
    options: { max-size: "1m", max-file: "2" }

services:
  web:
    <<: *service
    command: httpd -f -p 8080 -h /www
    ports:
      - "127.0.0.1:${WEB_PORT}:8080"
      - target: 8081
        published: "${API_PORT}"
        host_ip: 127.0.0.1
    networks: [frontend, backend]
    depends_on:
      api:
        condition: service_healthy
    environment:
      - API_URL=http://api:9000
      - GREETING=${GREETING:-hello}
    mem_limit: 64m
    volumes:
      - ./www:/www:ro
    healthcheck:
      test: ["CMD", "pidof", "httpd"]
      interval: 1s
      retries: 30
  api:
    <<: *service
    command: ["sh", "-c", "test -s /run/secrets/jwt_secret && exec httpd -f -p 9000 -h /data"]
    networks:
      backend:
        aliases: [api.internal]
    secrets: [jwt_secret]
    env_file: [api.env]
    environment:
      JWT_SECRET_FILE: /run/secrets/jwt_secret
      WORKERS: 4
    volumes:
      - data:/data
    healthcheck:
      test: ["CMD", "test", "-s", "/run/secrets/jwt_secret"]
      interval: 1s
      retries: 30
    stop_grace_period: 2s
  seed:
    image: ${IMAGE}
    command: ["sh", "-c", "echo seeded > /data/index.html"]
    volumes: [data:/data]
    network_mode: none
    restart: "no"

networks:
  frontend:
  backend:
    internal: true

volumes:
  data:

secrets:
  jwt_secret:
    file: ./jwt_secret.txt
"#;

struct Handwritten {
    project: String,
    dir: tempfile::TempDir,
}

impl Handwritten {
    fn new(tag: &str, ports: (u16, u16)) -> Handwritten {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), FILE).unwrap();
        std::fs::write(
            dir.path().join(".env"),
            format!(
                "IMAGE={}\nWEB_PORT={}\nAPI_PORT={}\n",
                oracle("FEDGEN_TEST_IMAGE"),
                ports.0,
                ports.1
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("jwt_secret.txt"),
            "handwritten-jwt-0f9c2e\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("api.env"), "LOG_LEVEL=info\nWORKERS=2\n").unwrap();
        Handwritten {
            project: format!("fedgen-t-hw-{tag}-{}", std::process::id()),
            dir,
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn fedgen(&self, args: &[&str]) -> Output {
        fedgen()
            .args(args)
            .args(["-p", &self.project])
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    fn compose(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(["compose", "-p", &self.project])
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    /// Waits (up to two minutes) until these services' containers are healthy. (`up --wait`
    /// takes the one-shot `seed`, which exits 0, for a failure.)
    fn wait_healthy(&self, services: &[&str]) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let ps = self.compose(&["ps", "--format", "{{.Service}} {{.Health}}"]);
            let out = text(&ps.stdout);
            if services
                .iter()
                .all(|s| out.lines().any(|l| l == format!("{s} healthy")))
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not healthy in time: {out}"
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }

    /// Container id per service.
    fn ids(&self) -> BTreeMap<String, String> {
        let ps = docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--format",
            "{{.Label \"com.docker.compose.service\"}} {{.ID}}",
        ]);
        text(&ps.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }
}

impl Drop for Handwritten {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans", "-t", "1"]);
    }
}

fn ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what}: {}", describe(out));
}

fn no_secret(outputs: &[&Output]) {
    for out in outputs {
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            !all.contains("handwritten-jwt-0f9c2e"),
            "a secret value in the output: {all}"
        );
    }
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn a_handwritten_file_in_short_syntax_converges_and_stays_composes() {
    require_engine();
    let s = Handwritten::new("apply", (28480, 28481));
    assert!(
        !s.path().join("www").exists(),
        "the bind's directory does not exist yet"
    );
    let before = s.fedgen(&["diff"]);
    assert_eq!(before.status.code(), Some(2), "{}", describe(&before));
    let apply = s.fedgen(&["apply", "--timeout", "120s"]);
    ok(&apply, "fedgen apply");
    assert!(
        s.path().join("www").is_dir(),
        "the engine made the bind's directory, as Compose's short syntax does"
    );
    let after = s.fedgen(&["diff"]);
    assert_eq!(
        after.status.code(),
        Some(0),
        "in sync after apply: {}",
        describe(&after)
    );
    // The containers are Compose's: ps and logs see them, up recreates nothing.
    let ids = s.ids();
    assert_eq!(ids.len(), 3, "{ids:?}");
    let ps = s.compose(&["ps", "--format", "{{.Service}} {{.State}}"]);
    ok(&ps, "docker compose ps");
    let listed = text(&ps.stdout);
    for svc in ["web", "api"] {
        assert!(listed.contains(&format!("{svc} running")), "{listed}");
    }
    ok(&s.compose(&["logs", "api"]), "docker compose logs");
    let up = s.compose(&["up", "-d"]);
    ok(&up, "docker compose up");
    s.wait_healthy(&["web", "api"]);
    let after_up = s.ids();
    assert_eq!(
        ids.iter().filter(|(k, _)| *k != "seed").collect::<Vec<_>>(),
        after_up
            .iter()
            .filter(|(k, _)| *k != "seed")
            .collect::<Vec<_>>(),
        "docker compose up recreated a container fedgen made: {}",
        text(&up.stderr)
    );
    // What the file says is what runs: the alias, the secret, the limit, the port on loopback.
    let inspect = docker(&[
        "inspect",
        &format!("{}-web-1", s.project),
        "--format",
        "{{.HostConfig.Memory}} {{json .HostConfig.PortBindings}}",
    ]);
    let got = text(&inspect.stdout);
    assert!(got.starts_with("67108864 "), "{got}");
    assert!(
        got.contains("\"HostIp\":\"127.0.0.1\",\"HostPort\":\"28480\""),
        "{got}"
    );
    let resolve = docker(&[
        "exec",
        &format!("{}-web-1", s.project),
        "wget",
        "-q",
        "-O",
        "-",
        "http://api.internal:9000/index.html",
    ]);
    assert_eq!(
        text(&resolve.stdout).trim(),
        "seeded",
        "{}",
        describe(&resolve)
    );
    let again = s.fedgen(&["apply"]);
    ok(&again, "a second apply");
    assert_eq!(s.ids(), after_up, "a second apply changed nothing");
    no_secret(&[&before, &apply, &after, &again]);
    ok(
        &s.compose(&["down", "-v", "-t", "1"]),
        "docker compose down",
    );
    assert!(
        s.ids().is_empty(),
        "docker compose down removed every container fedgen made"
    );
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn a_stack_docker_compose_up_started_is_taken_over_as_it_is() {
    require_engine();
    let s = Handwritten::new("takeover", (28482, 28483));
    let up = s.compose(&["up", "-d"]);
    ok(&up, "docker compose up");
    s.wait_healthy(&["web", "api"]);
    let ids = s.ids();
    for refresh in ["full", "fast"] {
        let diff = s.fedgen(&["diff", "--refresh", refresh, "--output", "json"]);
        assert_eq!(
            diff.status.code(),
            Some(0),
            "fedgen diff --refresh {refresh} of a stack Compose started from the same file: {}",
            describe(&diff)
        );
        // Compose's config-hash on each container is the one fedgen computes (env_file folded
        // in, as `up` hashes it), so a fast refresh settles every service from the list alone.
        if refresh == "fast" {
            let plan: serde_json::Value = serde_json::from_slice(&diff.stdout).unwrap();
            for svc in plan["services"].as_array().unwrap() {
                assert_eq!(svc["read"], "list", "{svc:#}");
            }
        }
    }
    let apply = s.fedgen(&["apply", "--output", "json"]);
    ok(&apply, "fedgen apply");
    assert_eq!(
        s.ids(),
        ids,
        "apply replaced a container Compose made from the same file"
    );
    // A change to the file is a change, to the service it touches only.
    let edited = FILE.replace("WORKERS: 4", "WORKERS: 8");
    std::fs::write(s.path().join("compose.yaml"), edited).unwrap();
    let diff = s.fedgen(&["diff", "--output", "json"]);
    assert_eq!(diff.status.code(), Some(2), "{}", describe(&diff));
    let plan: serde_json::Value = serde_json::from_slice(&diff.stdout).unwrap();
    let changed: Vec<&str> = plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "unchanged")
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["api"], "{plan:#}");
    no_secret(&[&apply, &diff]);
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn every_key_fedgen_applies_is_on_the_container_and_read_back_in_sync() {
    require_engine();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yaml");
    std::fs::copy(root().join("tests/compose/everything.yml"), &file).unwrap();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    let project = format!("fedgen-t-hw-every-{}", std::process::id());
    let env = [
        ("IMAGE", oracle("FEDGEN_TEST_IMAGE")),
        ("PORT_A", "28484".to_string()),
        ("PORT_B", "28485".to_string()),
    ];
    let run = |args: &[&str]| {
        fedgen()
            .args(args)
            .args(["-p", &project, "--profile", "debug"])
            .current_dir(dir.path())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap()
    };
    struct Down<'a>(&'a str, &'a std::path::Path);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = Command::new("docker")
                .args([
                    "compose",
                    "-p",
                    self.0,
                    "--profile",
                    "*",
                    "down",
                    "-v",
                    "-t",
                    "1",
                ])
                .current_dir(self.1)
                .output();
        }
    }
    let _down = Down(&project, dir.path());
    let apply = run(&["apply", "--timeout", "120s"]);
    ok(&apply, "fedgen apply");
    for refresh in ["full", "fast"] {
        let diff = run(&["diff", "--refresh", refresh]);
        assert_eq!(
            diff.status.code(),
            Some(0),
            "--refresh {refresh}: every field reads back as written: {}",
            describe(&diff)
        );
    }
    let a = format!("{project}-a-1");
    let got = text(
        &docker(&[
            "inspect",
            &a,
            "--format",
            "{{.Config.Hostname}} {{.Config.Domainname}} {{.HostConfig.Init}} {{.HostConfig.CpuShares}} {{.HostConfig.OomScoreAdj}} {{.HostConfig.PidsLimit}} {{json .HostConfig.Sysctls}} {{json .HostConfig.Ulimits}} {{json .HostConfig.ExtraHosts}} {{.HostConfig.MemoryReservation}}",
        ])
        .stdout,
    );
    assert_eq!(
        got.trim(),
        r#"alpha example.internal true 512 100 100 {"net.core.somaxconn":"1024"} [{"Hard":2048,"Name":"nofile","Soft":1024},{"Hard":512,"Name":"nproc","Soft":512}] ["cache.local:10.0.0.6","db.local:10.0.0.5"] 33554432"#
    );
    let conf = docker(&["exec", &format!("{project}-c-1"), "cat", "/etc/app.conf"]);
    assert_eq!(text(&conf.stdout), "key = value\n", "{}", describe(&conf));
}
