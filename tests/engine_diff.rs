//! `fedgen diff` against the real engine: a stack that Docker Compose v2 started from the compiled
//! file is in sync; drift made by hand is named down to the field (restart policy, a network
//! disconnected, a stopped and a removed container, a changed environment, an unmanaged
//! container with a colliding name, a service removed from the file); undoing it gives exit 0
//! again. No secret value appears in any output. Each test owns its project name.

mod common;
use common::*;

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(out)))
}

fn service<'a>(plan: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {plan}"))
}

fn change<'a>(svc: &'a serde_json::Value, field: &str) -> &'a serde_json::Value {
    svc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == field)
        .unwrap_or_else(|| panic!("no change {field} in {svc}"))
}

fn assert_no_secrets(out: &std::process::Output) {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    for (k, v) in env_pairs("tests/stacks/standin.env") {
        if k.contains("SECRET") || k.contains("PASSWORD") {
            assert!(!all.contains(&v), "the value of {k} leaked:\n{all}");
        }
    }
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn diff_names_every_drift_and_is_clean_after_undo() {
    require_engine();
    let s = StandIn::new(
        &format!("fedgen-t-diff-{}", std::process::id()),
        (28100, 23100),
        |t| t,
    );
    s.up();

    let clean = s.diff(&[]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "a stack Compose started from the file is in sync: {}",
        describe(&clean)
    );
    assert!(
        text(&clean.stdout).contains("In sync"),
        "{}",
        describe(&clean)
    );
    assert_no_secrets(&clean);

    // Drift, by hand, the ways seed 000's operators did.
    let gw = s.container("api-gateway");
    assert!(docker(&["update", "--restart=no", &gw]).status.success());
    let us = s.container("user-service");
    assert!(docker(&[
        "network",
        "disconnect",
        &format!("{}_db-net", s.project),
        &us
    ])
    .status
    .success());
    assert!(docker(&["stop", "-t", "1", &s.container("redis")])
        .status
        .success());
    assert!(docker(&["rm", "-f", &s.container("frontend")])
        .status
        .success());
    // job-processor recreated by hand with another JOB_TIMEOUT (labels copied, as an operator might).
    let jp = s.container("job-processor");
    let inspect: serde_json::Value =
        serde_json::from_slice(&docker(&["inspect", &jp]).stdout).unwrap();
    let labels = inspect[0]["Config"]["Labels"].as_object().unwrap().clone();
    assert!(docker(&["rm", "-f", &jp]).status.success());
    let mut run: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), jp.clone()];
    for (k, v) in &labels {
        run.push("--label".into());
        run.push(format!("{k}={}", v.as_str().unwrap()));
    }
    run.extend([
        "--network".into(),
        format!("{}_job-processor-net", s.project),
        "-e".into(),
        "JOB_TIMEOUT=60".into(),
    ]);
    run.extend(
        [
            "fedgen-test/busybox:1",
            "httpd",
            "-f",
            "-p",
            "8003",
            "-h",
            "/var/www",
        ]
        .map(String::from),
    );
    let r = docker(&run.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(r.status.success(), "{}", describe(&r));
    // An unmanaged container under monitoring's name, as `docker run --name` makes.
    assert!(docker(&["rm", "-f", &s.container("monitoring")])
        .status
        .success());
    let r = docker(&[
        "run",
        "-d",
        "--name",
        &s.container("monitoring"),
        "fedgen-test/busybox:1",
        "sleep",
        "600",
    ]);
    assert!(r.status.success(), "{}", describe(&r));

    let out = s.diff(&["--output", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_no_secrets(&out);
    let plan = json(&out);
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["in_sync"], false);

    let gateway = service(&plan, "api-gateway");
    assert_eq!(gateway["action"], "update");
    assert_eq!(gateway["origin"], "drift");
    let restart = change(gateway, "restart");
    assert_eq!(
        (
            restart["from"].as_str(),
            restart["to"].as_str(),
            restart["in_place"].as_bool()
        ),
        (Some("no"), Some("unless-stopped"), Some(true))
    );

    let users = service(&plan, "user-service");
    assert_eq!(change(users, "network db-net")["from"], "missing");

    let redis = service(&plan, "redis");
    assert_eq!(redis["action"], "start");
    assert_eq!(redis["state"], "exited");

    assert_eq!(service(&plan, "frontend")["action"], "create");

    let jobs = service(&plan, "job-processor");
    assert_eq!(jobs["action"], "recreate");
    let env = change(jobs, "env JOB_TIMEOUT");
    assert_eq!(
        (env["from"].as_str(), env["to"].as_str()),
        (Some("60"), Some("3600"))
    );
    assert_eq!(change(jobs, "restart")["from"], "no");

    assert_eq!(service(&plan, "monitoring")["action"], "create");
    let conflict = &plan["conflicts"][0];
    assert_eq!(conflict["service"], "monitoring");
    assert_eq!(conflict["name"], s.container("monitoring"));

    for quiet in ["db", "service-registry", "file-manager"] {
        assert_eq!(service(&plan, quiet)["action"], "unchanged", "{quiet}");
    }
    assert!(
        plan["api_calls"].as_u64().unwrap() <= 20,
        "one list per object type, one inspect per container: {}",
        plan["api_calls"]
    );

    // The text form says the same for people, with a unified diff per changed service.
    let text_out = s.diff(&[]);
    let t = text(&text_out.stdout);
    assert!(
        t.contains("restart: no -> unless-stopped  [in place]"),
        "{t}"
    );
    assert!(t.contains("env JOB_TIMEOUT: 60 -> 3600"), "{t}");
    assert!(
        t.contains("--- running api-gateway") && t.contains("+  restart: unless-stopped"),
        "{t}"
    );
    assert!(t.contains("! conflict monitoring"), "{t}");
    assert!(
        !t.contains("\x1b["),
        "no colour when stdout is not a terminal"
    );

    // A saved plan carries the host's fingerprint.
    let saved = s.dir.path().join("plan.json");
    let out = s.diff(&["--out", saved.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(p["fingerprint"].as_str().unwrap().len(), 64);
    assert_eq!(p["file_sha256"].as_str().unwrap().len(), 64);

    // Undo every drift; the host matches the file again.
    assert!(docker(&["update", "--restart=unless-stopped", &gw])
        .status
        .success());
    assert!(
        docker(&["network", "connect", &format!("{}_db-net", s.project), &us])
            .status
            .success()
    );
    assert!(docker(&["rm", "-f", &jp, &s.container("monitoring")])
        .status
        .success());
    s.up();
    let again = s.diff(&[]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "after undoing the drift: {}",
        describe(&again)
    );
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn a_service_removed_from_the_file_is_an_orphan_and_a_changed_file_is_told_from_drift() {
    require_engine();
    let s = StandIn::new(
        &format!("fedgen-t-orphan-{}", std::process::id()),
        (28200, 23200),
        |t| t,
    );
    s.up();
    // The file changes: frontend is gone, job-processor gets another JOB_TIMEOUT.
    s.rebuild((28200, 23200), &|t| {
        let cut = t.find("  frontend:").unwrap();
        t[..cut].replace("${JOB_TIMEOUT:-3600}", "${JOB_TIMEOUT:-30}")
    });
    let out = s.diff(&["--output", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let plan = json(&out);
    assert_eq!(plan["orphans"][0]["service"], "frontend");
    let jobs = service(&plan, "job-processor");
    assert_eq!(jobs["action"], "recreate");
    assert_eq!(
        jobs["origin"], "file",
        "the config hash label differs: a change of the file, not drift"
    );
    assert_eq!(change(jobs, "env JOB_TIMEOUT")["to"], "30");
    assert_eq!(service(&plan, "db")["action"], "unchanged");
}

#[test]
fn unreachable_engine_is_a_clear_one_line_error() {
    let out = fedgen()
        .args([
            "diff",
            "-f",
            "golden/federated-imputation.yml",
            "--env",
            "env.example",
        ])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot reach the Docker engine at unix:///nonexistent/docker.sock"),
        "{err}"
    );
    assert!(
        err.contains("hint:") && err.contains("DOCKER_HOST"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn a_wrong_docker_host_and_a_socket_without_permission_are_clear_errors() {
    require_engine();
    let out = fedgen()
        .args([
            "diff",
            "-f",
            "golden/federated-imputation.yml",
            "--env",
            "env.example",
        ])
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot reach the Docker engine at tcp://127.0.0.1:1")
            && err.contains("Connection refused"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "one error line: {err}"
    );

    // As an unprivileged user against the real socket (root:docker 0660): permission denied.
    let is_root = text(
        &std::process::Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
        == "0";
    let socket = std::path::Path::new("/var/run/docker.sock");
    if !is_root
        || !socket.exists()
        || std::process::Command::new("runuser")
            .arg("--help")
            .output()
            .is_err()
    {
        panic!(
            "the permission test needs root, runuser and the engine's socket /var/run/docker.sock"
        );
    }
    let out = std::process::Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "--",
            env!("CARGO_BIN_EXE_fedgen"),
            "diff",
            "-f",
            "golden/federated-imputation.yml",
            "--env",
            "env.example",
        ])
        .current_dir(root())
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("Permission denied") && err.contains("docker` group"),
        "{err}"
    );
}
