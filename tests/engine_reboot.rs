//! Seed 000's incident as a test: the host's Docker daemon restarts (the reboot), and every
//! container fedgen applied comes back running and healthy by itself, while a container made by
//! hand with `docker run` (no restart policy) stays down, as in the incident; and seed 000 made
//! by hand, imported and adopted, comes back too.
//!
//! It stops and starts the daemon, so it runs only on a daemon that scripts/test.sh started
//! itself (FEDGEN_OWNS_DAEMON=1), alone, after every other engine test:
//! `cargo nextest run --run-ignored only -E 'binary(engine_reboot)' --test-threads 1`. It is
//! ignored otherwise, so a developer's own engine is never restarted.

mod common;
use common::*;
use std::time::{Duration, Instant};

const PIDFILE: &str = "/run/fedgen-dockerd.pid";

fn restart_daemon() {
    let pid = std::fs::read_to_string(PIDFILE)
        .expect("scripts/test.sh started dockerd and wrote its pid");
    let pid = pid.trim();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", pid])
        .status()
        .unwrap()
        .success());
    let t = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "dockerd did not stop"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The daemon is started again with the command line scripts/prepare-test-env.sh used.
    let command =
        std::fs::read_to_string("/run/fedgen-dockerd.cmd").unwrap_or_else(|_| "dockerd".into());
    let started = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "setsid {} >>/var/log/fedgen-dockerd.log 2>&1 </dev/null & echo $! >{PIDFILE}",
                command.trim()
            ),
        ])
        .status()
        .unwrap();
    assert!(started.success());
    let t = Instant::now();
    while !docker(&["info"]).status.success() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "dockerd did not come back"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
#[ignore = "restarts the Docker daemon: run alone by scripts/test.sh on a daemon it started"]
fn every_applied_container_survives_a_daemon_restart() {
    assert_eq!(
        std::env::var("FEDGEN_OWNS_DAEMON").as_deref(),
        Ok("1"),
        "refusing to restart a Docker daemon this test run did not start"
    );
    let s = StandIn::new(
        &format!("fedgen-t-reboot-{}", std::process::id()),
        (28700, 23700),
        |t| t,
    );
    let out = s.apply(&[], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let handmade = format!("{}-handmade", s.project);
    assert!(docker(&[
        "run",
        "-d",
        "--name",
        &handmade,
        "fedgen-test/busybox:1",
        "sleep",
        "3600"
    ])
    .status
    .success());
    let ids = s.ids();
    assert_eq!(ids.len(), 9);

    restart_daemon();

    let t = Instant::now();
    loop {
        let healthy = ids
            .values()
            .filter(|id| {
                text(&docker(&["inspect", "-f", "{{.State.Health.Status}}", id]).stdout).trim()
                    == "healthy"
            })
            .count();
        if healthy == ids.len() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "{healthy}/9 healthy 120 s after the daemon restart"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        s.ids(),
        ids,
        "the same containers came back, nothing was recreated"
    );
    let state = text(&docker(&["inspect", "-f", "{{.State.Status}}", &handmade]).stdout);
    assert_eq!(
        state.trim(),
        "exited",
        "the control container without a restart policy stays down"
    );
    let _ = docker(&["rm", "-f", &handmade]);
    let d = s.diff(&[]);
    assert_eq!(
        d.status.code(),
        Some(0),
        "in sync after the reboot: {}",
        describe(&d)
    );
}

#[test]
#[ignore = "restarts the Docker daemon: run alone by scripts/test.sh on a daemon it started"]
fn an_engine_restart_in_the_middle_of_an_apply_fails_clearly_and_the_next_apply_converges() {
    assert_eq!(
        std::env::var("FEDGEN_OWNS_DAEMON").as_deref(),
        Ok("1"),
        "refusing to restart a Docker daemon this test run did not start"
    );
    let s = StandIn::new(
        &format!("fedgen-t-midrestart-{}", std::process::id()),
        (28750, 23750),
        |t| t,
    );
    let child = fedgen()
        .args(["apply", "-f"])
        .arg(&s.file)
        .args(["--env", "tests/stacks/standin.env"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(3000));
    restart_daemon();
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "the interrupted apply does not claim success: {}",
        describe(&out)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("error: apply") && err.contains("run apply again"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let again = s.apply(&[], &[]);
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
    assert_eq!(s.ids().len(), 9);
    assert_eq!(s.diff(&[]).status.code(), Some(0));
}

/// Seed 000's stack on the images it runs, through a reboot: the bundled federated-imputation
/// stack on the lab's real images; a row written before the daemon restarts is there after it,
/// and every service is healthy again by itself, reaching what it uses.
#[test]
#[ignore = "restarts the Docker daemon: run alone by scripts/test.sh on a daemon it started"]
fn the_bundled_stack_on_real_images_survives_a_daemon_restart_with_its_data() {
    use common::lab::*;
    assert_eq!(
        std::env::var("FEDGEN_OWNS_DAEMON").as_deref(),
        Ok("1"),
        "refusing to restart a Docker daemon this test run did not start"
    );
    require_lab();
    let spec = std::fs::read_to_string(root().join("stacks/federated-imputation.yml")).unwrap();
    let s = Stack::build(
        &format!("fedgen-t-reboot-real-{}", std::process::id()),
        &spec,
        &lab_env(),
    );
    let out = s.apply(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    s.wait_healthy(Duration::from_secs(60));
    let marker = format!("before-reboot-{}", std::process::id());
    let (ok, body) = s.app_request(
        "job-processor",
        8003,
        &format!("/rows?value={marker}"),
        "POST",
    );
    assert!(ok, "{body}");

    restart_daemon();

    s.wait_healthy(Duration::from_secs(180));
    let (ok, body) = s.app_get("job-processor", 8003, "/rows");
    assert!(
        ok && body["rows"].to_string().contains(&marker),
        "the row is gone: {body}"
    );
    for (svc, port) in APPS {
        let (ok, body) = s.app_get(svc, *port, "/check");
        assert!(ok, "{svc} after the reboot: {body}");
    }
    let d = s.run("diff", &[]);
    assert_eq!(
        d.status.code(),
        Some(0),
        "in sync after the reboot: {}",
        describe(&d)
    );
}

/// Seed 000 made by hand, imported and adopted (tests/engine_import.rs does the same and checks
/// each step), then the daemon restarts: every adopted service is back by itself, healthy, on
/// its data, reaching what it uses; the host is in sync with the imported file.
#[test]
#[ignore = "restarts the Docker daemon: run alone by scripts/test.sh on a daemon it started"]
fn the_adopted_seed_stack_comes_back_after_a_daemon_restart() {
    use common::seed::*;
    assert_eq!(
        std::env::var("FEDGEN_OWNS_DAEMON").as_deref(),
        Ok("1"),
        "refusing to restart a Docker daemon this test run did not start"
    );
    let s = Seed::new("seed-reboot", (29477, 29478, 29479));
    let marker = format!("before-adoption-and-reboot-{}", std::process::id());
    let (ok, body) = s.app_request(
        &s.name("job-processor"),
        8003,
        &format!("/rows?value={marker}"),
        "POST",
    );
    assert!(ok, "{body}");
    let dir = tempfile::tempdir().unwrap();
    let (_, r) = import_build_adopt(&s, dir.path());
    assert_eq!(r["status"], "converged", "{r}");
    wait_healthy(&format!("{}-", s.project), Duration::from_secs(120));

    restart_daemon();

    wait_healthy(&format!("{}-", s.project), Duration::from_secs(180));
    let c = |svc: &str| s.adopted(&s.project, svc);
    let (ok, body) = s.app_get(&c("job-processor"), 8003, "/rows");
    assert!(
        ok && body["rows"].to_string().contains(&marker),
        "the row is gone: {body}"
    );
    for (svc, port) in APPS {
        let (ok, body) = s.app_get(&c(svc), *port, "/check");
        assert!(ok, "{svc} after the reboot: {body}");
    }
    let d = fedgen_in(
        dir.path(),
        &[
            "diff",
            "-f",
            "docker-compose.microservices.yml",
            "--env",
            ".env",
        ],
    );
    assert_eq!(
        d.status.code(),
        Some(0),
        "in sync after the reboot: {}",
        describe(&d)
    );
    assert_none_of(&[DB_PASSWORD, JWT_SECRET, JWT_OTHER], &[&d]);
}
