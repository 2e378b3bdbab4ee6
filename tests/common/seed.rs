//! Seed 000's hand-made stack, reproduced with `docker run` on the lab's real images: PostgreSQL
//! with its four databases, Redis, six FastAPI services (the gateway among them) and an nginx
//! frontend; no restart policy anywhere; the services on a Compose-v1-like `PROJECT_default`
//! network with aliases, the gateway alone on a wrong network, the frontend on the default
//! bridge; the JWT secret in plain environment in most services, read from a file under /tmp in
//! file-manager, and another value in monitoring; database passwords inside DATABASE_URL.
//!
//! Everything it makes carries the prefix `fedgen-t-seed-...`; dropping it removes the
//! containers (hand-made, set aside, and the project's), the networks, the volumes and the /tmp
//! directory it made, and nothing else.
#![allow(dead_code)]

use super::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// The values no output may show.
pub const DB_PASSWORD: &str = "seed-db-password-7f3a9c21";
pub const JWT_SECRET: &str = "federated-imputation-jwt-secret-5edd167ef67e06d41d18fa3979efee2f";
pub const JWT_OTHER: &str = "federated-imputation-jwt-secret-OLD-0b61c2aa94d3";

/// (service, port) of the FastAPI services, in the lab's images.
pub const APPS: &[(&str, u16)] = &[
    ("user-service", 8001),
    ("service-registry", 8002),
    ("job-processor", 8003),
    ("file-manager", 8004),
    ("monitoring", 8005),
    ("api-gateway", 8000),
];

pub struct Seed {
    /// The Compose-v1-like project prefix of the containers' names (`PROJECT_service_1`).
    pub project: String,
    /// The frontend's hand-made name, which follows no pattern (seed 000's `frontend-updated`).
    pub frontend: String,
    pub tmp: PathBuf,
    pub gateway_port: u16,
    pub frontend_port: u16,
    pub jobs_port: u16,
    pub volume: String,
    /// The hand-made redis's anonymous volume (its data), kept by the adoption.
    pub redis_volume: String,
}

fn run(args: &[&str]) {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?}: {}", describe(&out));
}

impl Seed {
    /// The hand-made name of a service's container.
    pub fn name(&self, service: &str) -> String {
        if service == "frontend" {
            self.frontend.clone()
        } else {
            format!("{}_{service}_1", self.project)
        }
    }

    /// Builds the stack by hand. `ports`: gateway, frontend, job-processor on the host.
    pub fn new(tag: &str, ports: (u16, u16, u16)) -> Seed {
        require_lab_images();
        let project = format!("fedgen-t-{tag}-{}", std::process::id());
        let tmp = std::env::temp_dir().join(&project);
        std::fs::create_dir_all(tmp.join("uploads")).unwrap();
        std::fs::write(tmp.join("uploads/report.txt"), "an uploaded file\n").unwrap();
        // The secret file under /tmp, as the incident's /tmp/jwt_secret.txt.
        std::fs::write(tmp.join("jwt_secret.txt"), format!("{JWT_SECRET}\n")).unwrap();
        let mut s = Seed {
            frontend: format!("{project}-frontend-updated"),
            volume: format!("{project}_pgdata"),
            project,
            tmp,
            gateway_port: ports.0,
            frontend_port: ports.1,
            jobs_port: ports.2,
            redis_volume: String::new(),
        };
        let net = format!("{}_default", s.project);
        let wrong = format!("{}_microservices-network", s.project);
        run(&["network", "create", &net]);
        run(&["network", "create", &wrong]);
        run(&[
            "run",
            "-d",
            "--name",
            &s.name("db"),
            "--network",
            &net,
            "--network-alias",
            "db",
            "-e",
            &format!("POSTGRES_PASSWORD={DB_PASSWORD}"),
            "-e",
            "POSTGRES_DB=federated_imputation",
            "-v",
            &format!("{}:/var/lib/postgresql/data", s.volume),
            "fedgen-lab/postgres:15",
        ]);
        run(&[
            "run",
            "-d",
            "--name",
            &s.name("redis"),
            "--network",
            &net,
            "--network-alias",
            "redis",
            "fedgen-lab/redis:7",
        ]);
        let vol = docker(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Name}}{{end}}",
            &s.name("redis"),
        ]);
        s.redis_volume = text(&vol.stdout).trim().to_string();
        // The databases, once the server answers.
        let t = Instant::now();
        loop {
            let ready = docker(&[
                "exec",
                &s.name("db"),
                "psql",
                "-U",
                "postgres",
                "-d",
                "federated_imputation",
                "-c",
                "SELECT 1",
            ]);
            if ready.status.success() {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(90),
                "postgres did not come up: {}",
                describe(&ready)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        for db in [
            "user_management_db",
            "service_registry_db",
            "file_management_db",
        ] {
            run(&[
                "exec",
                &s.name("db"),
                "psql",
                "-U",
                "postgres",
                "-c",
                &format!("CREATE DATABASE {db}"),
            ]);
        }
        let url =
            |db: &str| format!("DATABASE_URL=postgresql://postgres:{DB_PASSWORD}@db:5432/{db}");
        let jwt = format!("JWT_SECRET={JWT_SECRET}");
        let app = |service: &str, extra: &[String]| {
            let mut args: Vec<String> = vec![
                "run".into(),
                "-d".into(),
                "--name".into(),
                s.name(service),
                "--network".into(),
                net.clone(),
                "--network-alias".into(),
                service.into(),
                "-e".into(),
                "JWT_ALGORITHM=HS256".into(),
            ];
            args.extend(extra.iter().cloned());
            args.push(format!("fedgen-lab/{service}:1"));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run(&args);
        };
        app(
            "user-service",
            &[
                "-e".into(),
                url("user_management_db"),
                "-e".into(),
                jwt.clone(),
            ],
        );
        app(
            "service-registry",
            &[
                "-e".into(),
                url("service_registry_db"),
                "-e".into(),
                jwt.clone(),
            ],
        );
        app(
            "job-processor",
            &[
                "-p".into(),
                format!("127.0.0.1:{}:8003", s.jobs_port),
                "-e".into(),
                url("federated_imputation"),
                "-e".into(),
                "REDIS_URL=redis://redis:6379".into(),
                "-e".into(),
                jwt.clone(),
            ],
        );
        app(
            "file-manager",
            &[
                "-e".into(),
                url("file_management_db"),
                "-v".into(),
                format!("{}:/app/uploads", s.tmp.join("uploads").display()),
                "-v".into(),
                format!(
                    "{}:/run/secrets/jwt_secret:ro",
                    s.tmp.join("jwt_secret.txt").display()
                ),
                "-e".into(),
                "JWT_SECRET_FILE=/run/secrets/jwt_secret".into(),
            ],
        );
        app(
            "monitoring",
            &[
                "-e".into(),
                url("federated_imputation"),
                "-e".into(),
                "JOB_PROCESSOR_URL=http://job-processor:8003".into(),
                "-e".into(),
                "SERVICE_REGISTRY_URL=http://service-registry:8002".into(),
                "-e".into(),
                format!("JWT_SECRET={JWT_OTHER}"),
            ],
        );
        run(&[
            "network",
            "connect",
            "--alias",
            "monitoring",
            &wrong,
            &s.name("monitoring"),
        ]);
        // The gateway, alone on the wrong network: it reaches nothing it names.
        run(&[
            "run",
            "-d",
            "--name",
            &s.name("api-gateway"),
            "--network",
            &wrong,
            "--network-alias",
            "api-gateway",
            "-p",
            &format!("127.0.0.1:{}:8000", s.gateway_port),
            "-e",
            "USER_SERVICE_URL=http://user-service:8001",
            "-e",
            "SERVICE_REGISTRY_URL=http://service-registry:8002",
            "-e",
            "JOB_PROCESSOR_URL=http://job-processor:8003",
            "-e",
            "FILE_MANAGER_URL=http://file-manager:8004",
            "-e",
            "MONITORING_URL=http://monitoring:8005",
            "-e",
            &jwt,
            "-e",
            "JWT_ALGORITHM=HS256",
            "fedgen-lab/api-gateway:1",
        ]);
        // The frontend, on the default bridge, under a name of no pattern.
        run(&[
            "run",
            "-d",
            "--name",
            &s.frontend,
            "-p",
            &format!("127.0.0.1:{}:80", s.frontend_port),
            "fedgen-lab/frontend:1",
        ]);
        // Every app answers before the test goes on.
        for (svc, port) in APPS {
            let t = Instant::now();
            while !s.app_get(&s.name(svc), *port, "/health").0 {
                assert!(
                    t.elapsed() < Duration::from_secs(60),
                    "{svc} did not come up"
                );
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        s
    }

    /// `method path` of a lab app's own port, from inside `container` (it has python3).
    pub fn app_request(
        &self,
        container: &str,
        port: u16,
        path: &str,
        method: &str,
    ) -> (bool, serde_json::Value) {
        let script = "import json, sys, urllib.request, urllib.error\n\
                      req = urllib.request.Request(sys.argv[1], method=sys.argv[2])\n\
                      try:\n    r = urllib.request.urlopen(req, timeout=20); print(r.status); print(r.read().decode())\n\
                      except urllib.error.HTTPError as e:\n    print(e.code); print(e.read().decode())\n\
                      except Exception as e:\n    print(0); print(json.dumps(str(e)))";
        let out = docker(&[
            "exec",
            container,
            "python3",
            "-c",
            script,
            &format!("http://127.0.0.1:{port}{path}"),
            method,
        ]);
        if !out.status.success() {
            return (false, serde_json::Value::Null);
        }
        let text = text(&out.stdout);
        let (status, body) = text.split_once('\n').unwrap_or((&text, ""));
        (
            status.trim() == "200",
            serde_json::from_str(body.trim()).unwrap_or(serde_json::Value::Null),
        )
    }

    pub fn app_get(&self, container: &str, port: u16, path: &str) -> (bool, serde_json::Value) {
        self.app_request(container, port, path, "GET")
    }

    /// The container fedgen made for a service of `project`.
    pub fn adopted(&self, project: &str, service: &str) -> String {
        format!("{project}-{service}-1")
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        let ps = docker(&["ps", "-aq", "--filter", &format!("name={}", self.project)]);
        for id in text(&ps.stdout).lines() {
            let _ = docker(&["rm", "-f", id]);
        }
        let nets = docker(&[
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("name={}", self.project),
        ]);
        for n in text(&nets.stdout).lines() {
            let _ = docker(&["network", "rm", n]);
        }
        let _ = docker(&["volume", "rm", "-f", &self.volume]);
        if !self.redis_volume.is_empty() {
            let _ = docker(&["volume", "rm", "-f", &self.redis_volume]);
        }
        let vols = docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
        ]);
        for v in text(&vols.stdout).lines() {
            let _ = docker(&["volume", "rm", "-f", v]);
        }
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// The lab's images the seed runs.
pub fn require_lab_images() {
    require_engine();
    for image in [
        "fedgen-lab/postgres:15",
        "fedgen-lab/redis:7",
        "fedgen-lab/frontend:1",
        "fedgen-lab/user-service:1",
        "fedgen-lab/service-registry:1",
        "fedgen-lab/job-processor:1",
        "fedgen-lab/file-manager:1",
        "fedgen-lab/monitoring:1",
        "fedgen-lab/api-gateway:1",
    ] {
        assert!(
            docker(&["image", "inspect", image]).status.success(),
            "the lab image {image} is missing: scripts/test.sh builds it (bash scripts/lab/build.sh)"
        );
    }
}

pub fn engine_env(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env(
        "DOCKER_HOST",
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
    )
}

pub fn fedgen_in(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = fedgen();
    cmd.current_dir(dir).args(args);
    engine_env(&mut cmd).output().unwrap()
}

/// Fails if any output shows one of `values`.
pub fn assert_none_of(values: &[&str], outputs: &[&Output]) {
    for out in outputs {
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        for v in values {
            assert!(!all.contains(v), "a secret value leaked: {}", describe(out));
        }
    }
}

pub fn sha256(s: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Waits until every container whose name contains `prefix` runs and is healthy where it has a
/// healthcheck.
pub fn wait_healthy(prefix: &str, limit: Duration) {
    let t = Instant::now();
    loop {
        let ps = docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={prefix}"),
            "--format",
            "{{.Names}} {{.Status}}",
        ]);
        let lines: Vec<String> = text(&ps.stdout).lines().map(str::to_string).collect();
        let bad: Vec<&String> = lines
            .iter()
            .filter(|l| !l.contains(" Up ") || l.contains("starting") || l.contains("unhealthy"))
            .collect();
        if !lines.is_empty() && bad.is_empty() {
            return;
        }
        assert!(t.elapsed() < limit, "not healthy after {limit:?}: {bad:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// An HTTP GET of `path` on 127.0.0.1:`port` from the host: the status line and the body.
pub fn host_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut body = String::new();
    if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
        let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = c.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes());
        let _ = c.read_to_string(&mut body);
    }
    body
}

/// Imports, builds, diffs and adopts the seed; gives the compose file and the env file. Shared
/// with the reboot test (tests/engine_reboot.rs).
pub fn import_build_adopt(s: &Seed, dir: &Path) -> (Vec<Output>, serde_json::Value) {
    let filter = format!("name={}", s.project);
    let secrets = [DB_PASSWORD, JWT_SECRET, JWT_OTHER];
    // Containers disagree on the JWT secret: nothing is written until the user chooses.
    let refused = fedgen_in(
        dir,
        &[
            "import",
            "--filter",
            &filter,
            "-o",
            "spec.yml",
            "--env-out",
            ".env",
        ],
    );
    assert_eq!(refused.status.code(), Some(4), "{}", describe(&refused));
    let err = text(&refused.stderr);
    assert!(err.contains("error[secret-values-differ]"), "{err}");
    assert!(
        err.contains(&s.name("monitoring")),
        "names the odd one out: {err}"
    );
    assert!(err.contains("--secret-from"), "{err}");
    assert!(!dir.join("spec.yml").exists() && !dir.join(".env").exists());

    let t = Instant::now();
    let imported = fedgen_in(
        dir,
        &[
            "import",
            "--filter",
            &filter,
            "-o",
            "spec.yml",
            "--env-out",
            ".env",
            "--secret-from",
            &s.name("user-service"),
        ],
    );
    let took = t.elapsed();
    assert_eq!(imported.status.code(), Some(0), "{}", describe(&imported));
    let first_spec = std::fs::read_to_string(dir.join("spec.yml")).unwrap();
    eprintln!(
        "--- the seed's import report ({:.2}s wall clock)\n{}",
        took.as_secs_f64(),
        text(&imported.stderr)
    );
    let json = fedgen_in(
        dir,
        &[
            "import",
            "--filter",
            &filter,
            "-o",
            "spec.yml",
            "--env-out",
            ".env",
            "--secret-from",
            &s.name("user-service"),
            "--output",
            "json",
        ],
    );
    assert_eq!(json.status.code(), Some(0), "{}", describe(&json));
    let report: serde_json::Value = serde_json::from_str(text(&json.stdout).trim()).unwrap();
    let spec = std::fs::read_to_string(dir.join("spec.yml")).unwrap();
    assert_eq!(first_spec, spec, "the same containers give the same bytes");
    let env = std::fs::read_to_string(dir.join(".env")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(dir.join(".env"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    for v in secrets {
        assert!(!spec.contains(v), "the spec holds a secret value:\n{spec}");
    }
    assert!(env.contains(JWT_SECRET) && env.contains(DB_PASSWORD));
    assert!(!env.contains(JWT_OTHER), "the value not chosen is gone");
    eprintln!("--- the imported spec\n{spec}");

    // What was inferred: kinds, uses from URLs and from the frontend's proxy, data by reference.
    let by_service: BTreeMap<String, &serde_json::Value> = report["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["service"].as_str().unwrap().to_string(), c))
        .collect();
    let kinds: BTreeMap<&str, &str> = by_service
        .iter()
        .map(|(k, v)| (k.as_str(), v["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds["db"], "postgres");
    assert_eq!(kinds["redis"], "redis");
    assert_eq!(kinds["frontend-updated"], "static-web");
    for (svc, _) in APPS {
        assert_eq!(kinds[svc], "http", "{svc}");
    }
    let inferred = |svc: &str| by_service[svc]["inferred"].to_string();
    assert!(inferred("frontend-updated").contains("uses api-gateway"));
    assert!(inferred("monitoring").contains("uses job-processor"));
    assert!(inferred("db").contains("external"), "{}", inferred("db"));
    assert!(inferred("file-manager").contains("bind mount"));
    let lifted = by_service["file-manager"]["lifted"].to_string();
    assert!(lifted.contains("jwt_secret.txt"), "{lifted}");
    let codes: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"volatile-secret-file"), "{codes:?}");
    assert!(codes.contains(&"secret-values-differ"), "{codes:?}");
    assert!(spec.contains(&format!("adopt: {}", s.frontend)), "{spec}");

    let build = fedgen_in(
        dir,
        &[
            "build",
            "spec.yml",
            "--env",
            ".env",
            "-o",
            "docker-compose.microservices.yml",
        ],
    );
    assert_eq!(build.status.code(), Some(0), "{}", describe(&build));
    let compose = std::fs::read_to_string(dir.join("docker-compose.microservices.yml")).unwrap();
    for v in secrets {
        assert!(!compose.contains(v));
    }
    let diff = fedgen_in(
        dir,
        &[
            "diff",
            "-f",
            "docker-compose.microservices.yml",
            "--env",
            ".env",
        ],
    );
    assert_eq!(diff.status.code(), Some(2), "{}", describe(&diff));
    assert!(
        text(&diff.stdout).contains("conflict"),
        "{}",
        describe(&diff)
    );
    let refused_apply = fedgen_in(
        dir,
        &[
            "apply",
            "-f",
            "docker-compose.microservices.yml",
            "--env",
            ".env",
        ],
    );
    assert_eq!(
        refused_apply.status.code(),
        Some(4),
        "{}",
        describe(&refused_apply)
    );
    let apply = fedgen_in(
        dir,
        &[
            "apply",
            "-f",
            "docker-compose.microservices.yml",
            "--env",
            ".env",
            "--adopt",
            "--timeout",
            "400s",
            "--output",
            "json",
        ],
    );
    assert_eq!(apply.status.code(), Some(0), "{}", describe(&apply));
    let r: serde_json::Value =
        serde_json::from_str(text(&apply.stdout).lines().last().unwrap()).unwrap();
    let outputs = vec![refused, imported, json, build, diff, refused_apply, apply];
    for o in &outputs {
        assert_none_of(&secrets, &[o]);
    }
    (outputs, r)
}
