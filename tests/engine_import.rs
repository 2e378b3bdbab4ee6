//! `fedgen import` and `fedgen apply --adopt` on the real engine.
//!
//! - seed 000 reproduced by hand with `docker run` on the lab's real images (tests/common/seed.rs)
//!   is imported (refused while containers disagree on the JWT secret, then settled with
//!   `--secret-from`), built, diffed and adopted: the row written before is still there, every
//!   service is healthy and reaches what it uses, one JWT secret everywhere, the data volume and
//!   the bind-mounted uploads kept, no secret value in any output;
//! - a stack fedgen applied imports back into a spec that compiles to the same services, and the
//!   host is in sync with it (the round trip);
//! - an adoption whose replacement never turns healthy puts the old container back, running, under
//!   its name;
//! - the time and API calls of an import of 10 and 50 containers.
//!
//! Each test uses names of its own (`fedgen-t-...-PID`) and removes what it made.

mod common;
use common::seed::{self, *};
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn seed_000_by_hand_is_imported_and_adopted_without_losing_data() {
    let s = Seed::new("seed", (29473, 29474, 29475));
    // The state of the incident: data written, the gateway on the wrong network.
    let marker = format!("row-before-adoption-{}", std::process::id());
    let (ok, body) = s.app_request(
        &s.name("job-processor"),
        8003,
        &format!("/rows?value={marker}"),
        "POST",
    );
    assert!(ok, "{body}");
    let set = docker(&[
        "exec",
        &s.name("redis"),
        "redis-cli",
        "set",
        "seed-key",
        "kept",
    ]);
    assert!(set.status.success());
    let (ok, _) = s.app_get(&s.name("api-gateway"), 8000, "/check");
    assert!(!ok, "before: the gateway reaches nothing (wrong network)");

    let dir = tempfile::tempdir().unwrap();
    let (_, r) = import_build_adopt(&s, dir.path());
    assert_eq!(r["status"], "converged", "{r}");
    let mut downtime: Vec<(String, u64)> = r["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| {
            Some((
                x["service"].as_str()?.to_string(),
                x["downtime_ms"].as_u64()?,
            ))
        })
        .collect();
    downtime.sort();
    eprintln!(
        "--- downtime per service during adoption: {}",
        downtime
            .iter()
            .map(|(s, ms)| format!("{s} {:.1}s", *ms as f64 / 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_eq!(downtime.len(), 9, "every service was replaced: {r}");
    assert_eq!(r["adopted"].as_array().unwrap().len(), 9, "{r}");
    wait_healthy(&format!("{}-", s.project), Duration::from_secs(120));

    let c = |svc: &str| s.adopted(&s.project, svc);
    // The row written before is still there, and the redis key.
    let (ok, body) = s.app_get(&c("job-processor"), 8003, "/rows");
    assert!(ok && body["rows"].to_string().contains(&marker), "{body}");
    let get = docker(&["exec", &c("redis"), "redis-cli", "get", "seed-key"]);
    assert_eq!(text(&get.stdout).trim(), "kept", "{}", describe(&get));
    // Every service reaches what it uses, with the password from its secret file.
    for (svc, port) in seed::APPS {
        let (ok, body) = s.app_get(&c(svc), *port, "/check");
        assert!(ok, "{svc} cannot reach what it uses: {body}");
    }
    // One JWT secret, the chosen one, in every service.
    let want = sha256(seed::JWT_SECRET);
    for (svc, port) in seed::APPS {
        let (ok, body) = s.app_get(&c(svc), *port, "/secret/jwt_secret");
        assert!(ok, "{svc}: {body}");
        assert_eq!(body["sha256"], want.as_str(), "{svc}");
    }
    // The frontend reaches the gateway now, through its proxy, from the host.
    let t = Instant::now();
    loop {
        let page = host_get(s.frontend_port, "/api/health");
        if page.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "{page}");
        std::thread::sleep(Duration::from_millis(500));
    }
    // The hand-made containers are gone; their data is not.
    for svc in ["db", "redis", "api-gateway", "frontend"] {
        assert!(
            !docker(&["inspect", &s.name(svc)]).status.success(),
            "{svc}"
        );
    }
    assert!(docker(&["volume", "inspect", &s.volume]).status.success());
    assert!(docker(&["volume", "inspect", &s.redis_volume])
        .status
        .success());
    assert!(s.tmp.join("uploads/report.txt").exists());
    // No secret value in any container's configuration or labels.
    for svc in ["db", "redis", "frontend-updated"]
        .into_iter()
        .chain(seed::APPS.iter().map(|(s, _)| *s))
    {
        let inspect = docker(&["inspect", &c(svc)]);
        assert!(inspect.status.success(), "{svc}");
        assert_none_of(
            &[seed::DB_PASSWORD, seed::JWT_SECRET, seed::JWT_OTHER],
            &[&inspect],
        );
    }
    // Restart policies everywhere now.
    let policy = docker(&[
        "inspect",
        "-f",
        "{{.HostConfig.RestartPolicy.Name}}",
        &c("monitoring"),
    ]);
    assert_eq!(text(&policy.stdout).trim(), "unless-stopped");
    // And the host is in sync with the file.
    let diff = fedgen_in(
        dir.path(),
        &[
            "diff",
            "-f",
            "docker-compose.microservices.yml",
            "--env",
            ".env",
        ],
    );
    assert_eq!(diff.status.code(), Some(0), "{}", describe(&diff));
    assert_none_of(
        &[seed::DB_PASSWORD, seed::JWT_SECRET, seed::JWT_OTHER],
        &[&diff],
    );
}

/// A stack fedgen applies: every kind import knows, a helper URL, a `$` in a value, a named
/// volume, a published port, overrides of the kind (memory, restart, probe), two secrets.
const ROUND_TRIP: &str = r#"
name: placeholder
secrets:
  jwt_secret: { env: JWT_SECRET }
  db_password: { env: DB_PASSWORD }
volumes:
  uploads: {}
services:
  db:
    kind: postgres
    image: fedgen-lab/postgres:15
    password_secret: db_password
    databases: [app_db, audit_db]
  redis:
    kind: redis
    image: fedgen-lab/redis:7
  api-gateway:
    kind: http
    image: fedgen-lab/api-gateway:1
    publish: 29476
    uses: [db, redis]
    secrets: [jwt_secret, db_password]
    memory: 256m
    restart: always
    probe: python
    volumes: [uploads:/app/uploads]
    env:
      DATABASE_URL: "{{ postgres_url('db', 'app_db') }}"
      REDIS_URL: "{{ redis_url('redis') }}"
      GREETING: "costs $$5, {{ '{{' }}not a template{{ '}}' }}"
  frontend:
    kind: static-web
    image: fedgen-lab/frontend:1
    uses: [api-gateway]
    egress: true
"#;

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn a_stack_fedgen_applied_imports_back_to_an_equivalent_spec() {
    require_lab_images();
    let project = format!("fedgen-t-roundtrip-{}", std::process::id());
    let s = common::lab::Stack::build(
        &project,
        ROUND_TRIP,
        "JWT_SECRET=roundtrip-jwt-3c9e1f\nDB_PASSWORD=roundtrip-db-77a0d2\n",
    );
    let out = s.apply(&[]);
    assert_eq!(out.status.code(), Some(0), "apply: {}", describe(&out));
    let dir = s.dir.path();
    let imported = fedgen_in(
        dir,
        &[
            "import",
            "--project",
            &project,
            "-o",
            "imported.yml",
            "--env-out",
            "imported.env",
        ],
    );
    assert_eq!(imported.status.code(), Some(0), "{}", describe(&imported));
    eprintln!("{}", text(&imported.stderr));
    let spec = std::fs::read_to_string(dir.join("imported.yml")).unwrap();
    eprintln!("--- imported\n{spec}");
    assert_none_of(
        &["roundtrip-jwt-3c9e1f", "roundtrip-db-77a0d2"],
        &[&imported],
    );
    assert!(!spec.contains("roundtrip-jwt") && !spec.contains("roundtrip-db"));
    let env = std::fs::read_to_string(dir.join("imported.env")).unwrap();
    assert!(env.contains("JWT_SECRET='roundtrip-jwt-3c9e1f'"), "{env}");
    assert!(env.contains("DB_PASSWORD='roundtrip-db-77a0d2'"), "{env}");
    let build = fedgen_in(
        dir,
        &[
            "build",
            "imported.yml",
            "--env",
            "imported.env",
            "-o",
            "imported-compose.yml",
        ],
    );
    assert_eq!(build.status.code(), Some(0), "{}", describe(&build));
    // The same compose file, but for its header (which names the spec it came from).
    let body = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .skip(2)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (a, b) = (body(&s.file), body(&dir.join("imported-compose.yml")));
    if a != b {
        let d = similar::TextDiff::from_lines(a.as_str(), b.as_str());
        panic!(
            "the imported spec compiles to another file:\n{}",
            d.unified_diff().header("applied", "imported")
        );
    }
    // And the host is in sync with it.
    let diff = fedgen_in(
        dir,
        &[
            "diff",
            "-f",
            "imported-compose.yml",
            "--env",
            "imported.env",
        ],
    );
    assert_eq!(diff.status.code(), Some(0), "{}", describe(&diff));
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn a_failed_adoption_puts_the_old_container_back() {
    require_engine();
    let image = oracle("FEDGEN_TEST_IMAGE");
    let project = format!("fedgen-t-adoptfail-{}", std::process::id());
    let old = format!("{project}_web_1");
    let volume = format!("{project}_data");
    struct Cleanup(String, String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let ps = docker(&["ps", "-aq", "--filter", &format!("name={}", self.0)]);
            for id in text(&ps.stdout).lines() {
                let _ = docker(&["rm", "-f", id]);
            }
            let nets = docker(&[
                "network",
                "ls",
                "-q",
                "--filter",
                &format!("name={}", self.0),
            ]);
            for n in text(&nets.stdout).lines() {
                let _ = docker(&["network", "rm", n]);
            }
            let _ = docker(&["volume", "rm", "-f", &self.1]);
        }
    }
    let _cleanup = Cleanup(project.clone(), volume.clone());
    let net = format!("{project}_default");
    assert!(docker(&["network", "create", &net]).status.success());
    let run = docker(&[
        "run",
        "-d",
        "--name",
        &old,
        "--network",
        &net,
        "-v",
        &format!("{volume}:/data"),
        &image,
        "sh",
        "-c",
        "echo kept > /data/file; exec httpd -f -p 8080 -h /data",
    ]);
    assert!(run.status.success(), "{}", describe(&run));
    let id = text(&run.stdout).trim().to_string();
    // Its replacement never turns healthy.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("spec.yml"),
        format!(
            "name: {project}\nvolumes:\n  data: {{ external: true, name: {volume} }}\nservices:\n  web:\n    kind: http\n    image: {image}\n    port: 8080\n    command: [httpd, -f, -p, \"8080\", -h, /data]\n    volumes: [\"data:/data\"]\n    healthcheck: {{ test: [CMD, \"false\"], interval: 1s, timeout: 1s, retries: 2, start_period: 0s }}\n"
        ),
    )
    .unwrap();
    let build = fedgen_in(dir.path(), &["build", "spec.yml", "-o", "compose.yml"]);
    assert_eq!(build.status.code(), Some(0), "{}", describe(&build));
    let apply = fedgen_in(
        dir.path(),
        &[
            "apply",
            "-f",
            "compose.yml",
            "--adopt",
            "--timeout",
            "60s",
            "--output",
            "json",
        ],
    );
    assert_eq!(apply.status.code(), Some(3), "{}", describe(&apply));
    let r: serde_json::Value =
        serde_json::from_str(text(&apply.stdout).lines().last().unwrap()).unwrap();
    let web = &r["services"][0];
    assert_eq!(web["result"], "rolled-back", "{r}");
    assert!(web["error"].as_str().unwrap().contains("is back"), "{r}");
    assert!(r["adopted"].as_array().unwrap().is_empty(), "{r}");
    // The old container is back: same id, same name, running, its data there.
    let inspect = docker(&["inspect", "-f", "{{.Id}} {{.State.Running}}", &old]);
    assert_eq!(
        text(&inspect.stdout).trim(),
        format!("{id} true"),
        "{}",
        describe(&inspect)
    );
    assert!(!docker(&["inspect", &format!("{project}-web-1")])
        .status
        .success());
    let file = docker(&["exec", &old, "cat", "/data/file"]);
    assert_eq!(text(&file.stdout).trim(), "kept");
}

/// Busybox stand-ins, each with a little environment (one shared secret) on one network.
fn import_cost(n: usize, tag: &str) -> (f64, u64, u64) {
    let image = oracle("FEDGEN_TEST_IMAGE");
    let prefix = format!("fedgen-t-{tag}-{}-", std::process::id());
    let net = format!("{prefix}net");
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let ps = docker(&["ps", "-aq", "--filter", &format!("name={}", self.0)]);
            let ids: Vec<String> = text(&ps.stdout).lines().map(str::to_string).collect();
            // A few at a time: fifty removals at once on a loaded engine have left stale
            // endpoints behind, and with them a network that cannot be removed.
            for chunk in ids.chunks(5) {
                let mut args = vec!["rm", "-f"];
                args.extend(chunk.iter().map(String::as_str));
                let _ = docker(&args);
            }
            let net = format!("{}net", self.0);
            for _ in 0..20 {
                if docker(&["network", "rm", &net]).status.success()
                    || !docker(&["network", "inspect", &net]).status.success()
                {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        }
    }
    let _cleanup = Cleanup(prefix.clone());
    assert!(docker(&["network", "create", &net]).status.success());
    for i in 0..n {
        let out = docker(&[
            "run",
            "-d",
            "--name",
            &format!("{prefix}worker{i}"),
            "--network",
            &net,
            "--network-alias",
            &format!("worker{i}"),
            "-e",
            "API_TOKEN=bench-token-5b1e",
            "-e",
            &format!("UPSTREAM_URL=http://worker{}:8080/x", (i + 1) % n),
            &image,
            "sleep",
            "3600",
        ]);
        assert!(out.status.success(), "{}", describe(&out));
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let out = fedgen_in(
        dir.path(),
        &[
            "import",
            "--filter",
            &format!("name={prefix}"),
            "--name",
            &format!("bench{n}"),
            "-o",
            "spec.yml",
            "--env-out",
            ".env",
            "--output",
            "json",
        ],
    );
    let wall = t.elapsed().as_secs_f64();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_none_of(&["bench-token-5b1e"], &[&out]);
    let r: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(r["containers"].as_array().unwrap().len(), n);
    assert_eq!(
        r["secrets"].as_array().unwrap().len(),
        1,
        "one shared value, one secret"
    );
    (
        wall,
        r["api_calls"].as_u64().unwrap(),
        r["elapsed_ms"].as_u64().unwrap(),
    )
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn import_time_and_api_calls_for_10_and_50_containers() {
    require_engine();
    let mut lines = Vec::new();
    for n in [10, 50] {
        let (wall, calls, ms) = import_cost(n, "importcost");
        // One list, one inspect each, one image inspect, one volume list, and the connection.
        assert!(calls as usize <= n + 8, "{n} containers: {calls} calls");
        lines.push(format!(
            "import of {n} containers: {calls} API calls, {ms} ms in import, {wall:.2}s wall clock (process start included)"
        ));
    }
    eprintln!("--- {}", lines.join("\n--- "));
}
