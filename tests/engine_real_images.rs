//! The compiled stacks on the images people deploy: the lab's rebuilds of the official postgres,
//! redis, nginx, caddy and prometheus images and a real FastAPI app with no curl and no wget
//! (scripts/lab). Each test works on a project of its own and removes it when it ends.
//!
//! - the bundled federated-imputation stack, with only its images replaced through the `.env`,
//!   applies from nothing, every service turns healthy, reaches what it uses and cannot resolve
//!   what it does not, reads one JWT secret; every container, restarted by itself, comes back
//!   healthy on its data (seed 000's redis restart loop), and diff then finds nothing to do (an
//!   image's own STOPSIGNAL is not drift);
//! - the parts of document-platform that Debian packages (Caddy, PostgreSQL, Prometheus, the app);
//! - the pre-flight refuses a probe the image cannot run, before anything changes, and its cache;
//! - an image rebuilt under the same tag is a change;
//! - a database kept on an existing (external) volume.

mod common;
use common::lab::*;
use common::*;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn the_bundled_stack_comes_up_and_back_on_real_images() {
    require_lab();
    let spec = std::fs::read_to_string(root().join("stacks/federated-imputation.yml")).unwrap();
    let s = Stack::build(
        &format!("fedgen-t-real-{}", std::process::id()),
        &spec,
        &lab_env(),
    );
    let t = Instant::now();
    let out = s.apply(&["--output", "json"]);
    let cold = t.elapsed();
    assert_eq!(out.status.code(), Some(0), "apply: {}", describe(&out));
    let r = report(&out);
    assert_eq!(r["status"], "converged", "{r}");
    eprintln!(
        "cold apply of federated-imputation on real images: {:.1}s, {} API calls",
        cold.as_secs_f64(),
        r["api_calls"]
    );
    s.wait_healthy(Duration::from_secs(60));

    // Every service reaches what it uses: its database with the password from its secret file,
    // redis, the HTTP services it names.
    for (svc, port) in APPS {
        let (ok, body) = s.app_get(svc, *port, "/check");
        assert!(ok, "{svc} cannot reach what it uses: {body}");
    }
    // ... and cannot resolve what it does not use.
    let resolves = |svc: &str, port: u16, host: &str| {
        s.app_get(svc, port, &format!("/resolve/{host}")).1["resolves"] == true
    };
    assert!(resolves("job-processor", 8003, "redis"));
    assert!(resolves("job-processor", 8003, "db"));
    assert!(
        !resolves("user-service", 8001, "redis"),
        "user-service does not use redis"
    );
    assert!(!resolves("user-service", 8001, "job-processor"));
    assert!(
        !resolves("api-gateway", 8000, "db"),
        "the gateway does not use the database"
    );
    assert!(resolves("api-gateway", 8000, "monitoring"));
    // One JWT secret, the same bytes in every service that reads it.
    let digests: BTreeMap<&str, String> = APPS
        .iter()
        .map(|(svc, port)| {
            let (ok, body) = s.app_get(svc, *port, "/secret/jwt_secret");
            assert!(ok, "{svc}: {body}");
            (*svc, body["sha256"].as_str().unwrap().to_string())
        })
        .collect();
    let first = digests.values().next().unwrap().clone();
    assert!(digests.values().all(|d| *d == first), "{digests:?}");

    // A row written now survives every restart below.
    let marker = format!("row-{}", std::process::id());
    let (ok, body) = s.app_request(
        "job-processor",
        8003,
        &format!("/rows?value={marker}"),
        "POST",
    );
    assert!(ok, "{body}");

    // Each container restarted by itself comes back healthy on its own data: redis on its
    // append-only files (seed 000's restart loop), postgres on its cluster, each app.
    for service in [
        "redis",
        "db",
        "user-service",
        "service-registry",
        "job-processor",
        "file-manager",
        "monitoring",
        "api-gateway",
        "frontend",
    ] {
        let out = docker(&["restart", "-t", "30", &s.container(service)]);
        assert!(
            out.status.success(),
            "restart {service}: {}",
            describe(&out)
        );
    }
    s.wait_healthy(Duration::from_secs(120));
    let (ok, body) = s.app_get("job-processor", 8003, "/rows");
    assert!(ok && body["rows"].to_string().contains(&marker), "{body}");
    for (svc, port) in APPS {
        let (ok, body) = s.app_get(svc, *port, "/check");
        assert!(ok, "{svc} after its restart: {body}");
    }

    // Nothing to do now: the images' own STOPSIGNAL (postgres SIGINT, nginx SIGQUIT) and
    // environment are not drift.
    let diff = s.run("diff", &[]);
    assert_eq!(diff.status.code(), Some(0), "diff: {}", describe(&diff));
    let again = s.apply(&["--output", "json"]);
    assert_eq!(report(&again)["status"], "in-sync", "{}", describe(&again));
    assert_no_secrets(&[&out, &diff, &again]);
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn the_debian_packaged_parts_of_document_platform_come_up() {
    require_lab();
    let spec = r#"
name: document-platform
defaults:
  restart: unless-stopped
secrets:
  db_password: { env: POSTGRES_PASSWORD }
services:
  caddy:
    kind: caddy
    image: fedgen-lab/caddy:2
    publish: "127.0.0.1:28980:80"
    uses: [app]
    routes: { "/": app }
  app:
    kind: http
    image: fedgen-lab/fastapi-app:1
    port: 8000
    uses: [postgres]
    secrets: [db_password]
    env:
      DATABASE_URL: "{{ postgres_url('postgres', 'pretamane') }}"
  postgres:
    kind: postgres
    image: fedgen-lab/postgres:15
    password_secret: db_password
    databases: [pretamane]
  prometheus:
    kind: prometheus
    image: fedgen-lab/prometheus:2
    uses: [app]
    scrape_interval: 2s
    scrape: { fastapi: "app:8000/metrics" }
"#;
    let s = Stack::build(
        &format!("fedgen-t-docs-{}", std::process::id()),
        spec,
        "POSTGRES_PASSWORD=lab-password-for-docs\n",
    );
    let out = s.apply(&[]);
    assert_eq!(out.status.code(), Some(0), "apply: {}", describe(&out));
    s.wait_healthy(Duration::from_secs(60));
    // Through Caddy, from the host, to the app.
    let mut body = String::new();
    {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect("127.0.0.1:28980").unwrap();
        conn.write_all(b"GET /check HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .unwrap();
        conn.read_to_string(&mut body).unwrap();
    }
    assert!(
        body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200"),
        "{body}"
    );
    assert!(body.contains("\"database\":\"ok\""), "{body}");
    // Prometheus scrapes the app.
    let t = Instant::now();
    loop {
        let q = docker(&[
            "exec",
            &s.container("prometheus"),
            "wget",
            "-q",
            "-O",
            "-",
            "http://127.0.0.1:9090/api/v1/targets",
        ]);
        let targets = text(&q.stdout);
        if targets.contains("\"job\":\"fastapi\"") && targets.contains("\"health\":\"up\"") {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "prometheus does not scrape the app: {targets}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let diff = s.run("diff", &[]);
    assert_eq!(diff.status.code(), Some(0), "diff: {}", describe(&diff));
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn the_preflight_refuses_a_probe_the_image_cannot_run_before_anything_changes() {
    require_lab();
    // A python-slim service told to probe with wget, which the image does not have.
    let spec = "name: p\nservices:\n  api:\n    kind: http\n    image: fedgen-lab/python:3.11-slim\n    command: [python3, -m, http.server, \"8000\"]\n    probe: wget\n  web:\n    kind: http\n    image: fedgen-lab/fastapi-app:1\n    healthcheck: image\n";
    let s = Stack::build(&format!("fedgen-t-pre-{}", std::process::id()), spec, "");
    let t = Instant::now();
    let out = s.apply(&["--output", "json"]);
    let first = t.elapsed();
    assert_eq!(out.status.code(), Some(4), "refused: {}", describe(&out));
    let r = report(&out);
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("service api: image fedgen-lab/python:3.11-slim has no `wget`")
            && reason.contains("probe:"),
        "{reason}"
    );
    assert!(
        reason.contains("service web: image fedgen-lab/fastapi-app:1 has no HEALTHCHECK"),
        "{reason}"
    );
    assert_eq!(
        r["mutating_calls"].as_u64(),
        Some(2),
        "one pre-flight container made and removed (the HEALTHCHECK needs only the image's config): {r}"
    );
    let ps = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={}", s.project),
    ]);
    assert!(
        text(&ps.stdout).trim().is_empty(),
        "nothing of the project was created"
    );
    let nets = docker(&[
        "network",
        "ls",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", s.project),
    ]);
    assert!(
        text(&nets.stdout).trim().is_empty(),
        "no network was created"
    );
    // diff says it too, and the second time the cache answers: no container, no stat.
    let t = Instant::now();
    let diff = s.run("diff", &["--output", "json"]);
    let cached = t.elapsed();
    assert_eq!(diff.status.code(), Some(2), "{}", describe(&diff));
    let plan: serde_json::Value = serde_json::from_slice(&diff.stdout).unwrap();
    assert_eq!(plan["preflight"].as_array().unwrap().len(), 2, "{plan}");
    let again = s.apply(&["--output", "json"]);
    let r2 = report(&again);
    assert_eq!(r2["mutating_calls"].as_u64(), Some(0), "cached: {r2}");
    eprintln!(
        "pre-flight: first check {:.0} ms ({} calls in the whole refused apply), cached {:.0} ms ({} calls)",
        first.as_secs_f64() * 1000.0,
        r["api_calls"],
        cached.as_secs_f64() * 1000.0,
        r2["api_calls"]
    );
    // An image that is neither here nor pullable is refused with a clear line.
    let missing = Stack::build(
        &format!("fedgen-t-pull-{}", std::process::id()),
        "name: p\nservices:\n  api: { kind: http, image: \"fedgen-t/never-built:1\" }\n",
        "",
    );
    let out = missing.apply(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("fedgen-t/never-built:1"),
        "{}",
        describe(&out)
    );
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn an_image_rebuilt_under_the_same_tag_is_a_change() {
    require_lab();
    let tag = format!("fedgen-t-img-{}/app:1", std::process::id());
    assert!(docker(&["tag", "fedgen-lab/fastapi-app:1", &tag])
        .status
        .success());
    struct Untag(String);
    impl Drop for Untag {
        fn drop(&mut self) {
            let _ = docker(&["rmi", "-f", &self.0]);
        }
    }
    let _untag = Untag(tag.clone());
    let spec = format!("name: p\nservices:\n  api: {{ kind: http, image: \"{tag}\" }}\n");
    let s = Stack::build(&format!("fedgen-t-img-{}", std::process::id()), &spec, "");
    assert_eq!(s.apply(&[]).status.code(), Some(0));
    assert_eq!(s.run("diff", &[]).status.code(), Some(0));
    // The image is rebuilt (a new layer of metadata) and tagged as before.
    let ctx = s.dir.path().join("rebuild");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {tag}\nLABEL rebuilt=yes\n"),
    )
    .unwrap();
    let b = Command::new("docker")
        .args(["build", "-q", "-t", &tag])
        .arg(&ctx)
        .output()
        .unwrap();
    assert!(b.status.success(), "{}", describe(&b));
    let diff = s.run("diff", &["--output", "json"]);
    assert_eq!(diff.status.code(), Some(2), "{}", describe(&diff));
    let plan: serde_json::Value = serde_json::from_slice(&diff.stdout).unwrap();
    let api = &plan["services"][0];
    assert_eq!(api["action"], "recreate", "{plan}");
    assert_eq!(api["origin"], "image", "{plan}");
    assert!(api["changes"].to_string().contains("image id"), "{plan}");
    let out = s.apply(&["--output", "json"]);
    assert_eq!(
        report(&out)["services"][0]["result"],
        "recreated",
        "{}",
        describe(&out)
    );
    assert_eq!(s.run("diff", &[]).status.code(), Some(0));
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn a_database_kept_on_an_existing_volume_keeps_its_rows() {
    require_lab();
    let pid = std::process::id();
    let volume = format!("fedgen-t-ext-{pid}");
    let spec = format!(
        "name: p\nsecrets:\n  db_password: {{ env: POSTGRES_PASSWORD }}\nvolumes:\n  legacy: {{ external: true, name: {volume} }}\nservices:\n  db:\n    kind: postgres\n    image: fedgen-lab/postgres:15\n    password_secret: db_password\n    databases: [shop]\n    data: legacy\n    pgdata: \"\"\n  app:\n    kind: http\n    image: fedgen-lab/fastapi-app:1\n    uses: [db]\n    secrets: [db_password]\n    env:\n      DATABASE_URL: \"{{{{ postgres_url('db', 'shop') }}}}\"\n"
    );
    let mut s = Stack::build(
        &format!("fedgen-t-keep-{pid}"),
        &spec,
        "POSTGRES_PASSWORD=lab-keep\n",
    );
    s.volumes.push(volume.clone());
    // The volume must exist: refused before anything changes.
    let out = s.apply(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(text(&out.stderr).contains(&volume), "{}", describe(&out));
    assert!(docker(&["volume", "create", &volume]).status.success());
    assert_eq!(s.apply(&[]).status.code(), Some(0));
    let (ok, body) = s.app_request("app", 8000, "/rows?value=kept", "POST");
    assert!(ok, "{body}");
    // The containers go (as in a move to another stack), the volume stays, the rows too.
    let ps = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={}", s.project),
    ]);
    for id in text(&ps.stdout).lines() {
        assert!(docker(&["rm", "-f", id]).status.success());
    }
    assert_eq!(s.apply(&[]).status.code(), Some(0));
    let (ok, body) = s.app_get("app", 8000, "/rows");
    assert!(ok && body["rows"].to_string().contains("kept"), "{body}");
    let inspect = docker(&["volume", "inspect", &volume, "--format", "{{json .Labels}}"]);
    assert!(
        !text(&inspect.stdout).contains("com.docker.compose.project"),
        "fedgen never took the volume over"
    );
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn the_escape_hatches_work_on_the_engine_and_stay_in_sync() {
    require_lab();
    let pid = std::process::id();
    // An image with a HEALTHCHECK of its own, for `healthcheck: image`.
    let tag = format!("fedgen-t-hc-{pid}/web:1");
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM fedgen-test/busybox:1\nHEALTHCHECK --interval=30s CMD wget -q -O /dev/null http://127.0.0.1:8080/health || exit 1\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/var/www\"]\n",
    )
    .unwrap();
    let b = Command::new("docker")
        .args(["build", "-q", "-t", &tag])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(b.status.success(), "{}", describe(&b));
    struct Untag(String);
    impl Drop for Untag {
        fn drop(&mut self) {
            let _ = docker(&["rmi", "-f", &self.0]);
        }
    }
    let _untag = Untag(tag.clone());
    let spec = format!(
        r#"name: p
defaults:
  healthcheck: {{ interval: 1s, timeout: 2s, retries: 30, start_period: 0s }}
secrets:
  api_token: {{ env: API_TOKEN }}
services:
  legacy:
    kind: http
    image: fedgen-test/busybox:1
    port: 8080
    probe: wget
    secrets: [{{ name: api_token, env: API_TOKEN }}]
    command: [httpd, -f, -p, "8080", -h, /var/www]
    shm_size: 128m
    cap_add: [SYS_NICE]
  vendor:
    kind: http
    image: "{tag}"
    port: 8080
    healthcheck: image
"#
    );
    let token = format!("token-{pid}-not-for-logs");
    let s = Stack::build(
        &format!("fedgen-t-hatch-{pid}"),
        &spec,
        &format!("API_TOKEN={token}\n"),
    );
    let out = s.apply(&["--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    // The secret is an environment variable of the service's process, not of the container.
    let environ = docker(&[
        "exec",
        &s.container("legacy"),
        "sh",
        "-c",
        "tr '\\0' '\\n' < /proc/1/environ",
    ]);
    assert!(
        text(&environ.stdout).contains(&format!("API_TOKEN={token}")),
        "{}",
        describe(&environ)
    );
    let inspect = docker(&["inspect", &s.container("legacy")]);
    assert!(
        !text(&inspect.stdout).contains(&token),
        "the value is not in the container's config"
    );
    let info: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(info[0]["HostConfig"]["ShmSize"], 128 << 20);
    assert!(info[0]["HostConfig"]["CapAdd"]
        .to_string()
        .contains("SYS_NICE"));
    // The image's own healthcheck, with fedgen's timing: healthy, and no drift.
    let hc = docker(&[
        "inspect",
        "-f",
        "{{json .Config.Healthcheck}}",
        &s.container("vendor"),
    ]);
    let hc: serde_json::Value = serde_json::from_slice(&hc.stdout).unwrap();
    assert!(
        hc["Test"].to_string().contains("wget"),
        "the image's test: {hc}"
    );
    assert_eq!(hc["Interval"], 1_000_000_000u64, "fedgen's interval: {hc}");
    let diff = s.run("diff", &[]);
    assert_eq!(diff.status.code(), Some(0), "{}", describe(&diff));
    for o in [&out, &diff] {
        assert!(!format!("{}{}", text(&o.stdout), text(&o.stderr)).contains(&token));
    }
}
