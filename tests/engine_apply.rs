//! `fedgen apply` against the real engine, with the stand-in stack (the shape of
//! federated-imputation, busybox images): from nothing to healthy in dependency order; each
//! service reaches exactly what it uses; one JWT secret everywhere and in no `docker inspect`;
//! idempotent (no changing call the second time); a changed file or a rotated secret recreates
//! exactly the services concerned; drift is repaired in place; a service that never turns healthy
//! stops the rollout before its dependants; unmanaged containers are refused or adopted; orphans
//! are pruned; saved plans are applied only while the host is unchanged; Compose sees the stack.

mod common;
use common::*;
use std::collections::BTreeMap;

fn report(out: &std::process::Output) -> serde_json::Value {
    let line = text(&out.stdout)
        .lines()
        .last()
        .map(str::to_string)
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {}", describe(out)));
    assert_eq!(v["event"], "report", "{v}");
    v
}

fn results(r: &serde_json::Value) -> BTreeMap<String, String> {
    r["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap().to_string(),
                s["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn secret(name: &str) -> String {
    env_pairs("tests/stacks/standin.env")
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap()
        .1
}

fn inspect(id: &str) -> serde_json::Value {
    let out = docker(&["inspect", id]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()[0].clone()
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn apply_converges_from_nothing_and_is_idempotent() {
    require_engine();
    let s = StandIn::new(
        &format!("fedgen-t-apply-{}", std::process::id()),
        (28300, 23300),
        |t| t,
    );
    let out = s.apply(&["--output", "json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let r = report(&out);
    assert_eq!(r["status"], "converged");
    assert!(results(&r).values().all(|v| v == "created"), "{r}");
    // Progress events arrive in dependency order: db is healthy before user-service starts.
    // (Containers are created early, all at once: only the start waits for the gate.)
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let pos = |svc: &str, status: &str| {
        events
            .iter()
            .position(|e| e["service"] == svc && e["status"] == status)
            .unwrap_or_else(|| panic!("no {svc} {status}"))
    };
    assert!(pos("db", "healthy") < pos("user-service", "starting"));
    assert!(pos("monitoring", "healthy") < pos("api-gateway", "starting"));
    assert!(pos("user-service", "creating") < pos("db", "healthy"));

    let ids = s.ids();
    assert_eq!(ids.len(), 9);
    let jwt = secret("JWT_SECRET");
    let db_password = secret("POSTGRES_PASSWORD");
    let mut readers = 0;
    for id in ids.values() {
        let c = inspect(id);
        assert_eq!(c["State"]["Health"]["Status"], "healthy", "{}", c["Name"]);
        assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
        assert_eq!(c["HostConfig"]["LogConfig"]["Type"], "json-file");
        assert_eq!(c["Config"]["Labels"]["com.docker.compose.oneoff"], "False");
        let raw = text(&docker(&["inspect", id]).stdout);
        assert!(
            !raw.contains(&jwt) && !raw.contains(&db_password),
            "a secret value in docker inspect of {}",
            c["Name"]
        );
        let read = docker(&["exec", id, "cat", "/run/secrets/jwt_secret"]);
        if read.status.success() {
            assert_eq!(text(&read.stdout), jwt);
            readers += 1;
        }
    }
    assert_eq!(
        readers, 6,
        "every service that declares the JWT secret reads the same value"
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !all.contains(&jwt) && !all.contains(&db_password),
        "a secret value in apply's output"
    );

    // The gateway resolves and reaches what it uses, and not the database or the cache.
    let gw = s.container("api-gateway");
    for (used, port) in [
        ("user-service", 8001),
        ("service-registry", 8002),
        ("job-processor", 8003),
        ("file-manager", 8004),
        ("monitoring", 8005),
    ] {
        let get = docker(&[
            "exec",
            &gw,
            "wget",
            "-q",
            "-O",
            "-",
            &format!("http://{used}:{port}/health"),
        ]);
        assert!(
            get.status.success(),
            "gateway -> {used}: {}",
            describe(&get)
        );
    }
    for hidden in ["db", "redis"] {
        let look = docker(&["exec", &gw, "nslookup", hidden]);
        assert!(
            !look.status.success() || !text(&look.stdout).contains("Address: 1"),
            "gateway resolves {hidden}"
        );
    }

    // Idempotent: nothing changes, no changing call, same containers.
    let again = s.apply(&["--output", "json"], &[]);
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
    let r2 = report(&again);
    assert_eq!(r2["status"], "in-sync");
    assert_eq!(r2["mutating_calls"], 0);
    // Version negotiation, one list each of containers, networks, volumes and images (at
    // once), then an inspect per container and per distinct image (at once, eight at a time):
    // what it takes to see drift made with `docker update`, which apply repairs by default.
    assert_eq!(r2["api_calls"], 1 + 4 + 9 + 1, "{r2}");
    let fast = s.apply(&["--output", "json", "--refresh", "fast"], &[]);
    let rf = report(&fast);
    assert_eq!(rf["status"], "in-sync");
    // With --refresh fast, a constant cost whatever the size of the stack: no inspect.
    assert_eq!(rf["api_calls"], 5, "{rf}");
    assert_eq!(s.ids(), ids);
    let d = s.diff(&[]);
    assert_eq!(d.status.code(), Some(0), "{}", describe(&d));
    assert!(
        !text(&d.stdout).contains("not verified"),
        "apply records content hashes: {}",
        describe(&d)
    );
    // diff reads deep by default (an inspect per container) and as apply does when asked.
    let full: serde_json::Value =
        serde_json::from_slice(&s.diff(&["--output", "json"]).stdout).unwrap();
    assert_eq!(full["refresh"], "full");
    assert!(full["services"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["read"] == "inspect"));
    assert!(
        full["api_calls"].as_u64().unwrap() > 9,
        "{}",
        full["api_calls"]
    );
    let fast = s.diff(&["--output", "json", "--refresh", "fast"]);
    assert_eq!(fast.status.code(), Some(0), "{}", describe(&fast));
    let fast: serde_json::Value = serde_json::from_slice(&fast.stdout).unwrap();
    assert_eq!(fast["refresh"], "fast");
    assert!(fast["services"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["read"] == "list"));
    assert_eq!(fast["api_calls"], 5);

    // Compose sees the stack fedgen applied.
    let ps = docker(&[
        "compose",
        "-p",
        &s.project,
        "ps",
        "--format",
        "{{.Service}}",
    ]);
    assert!(ps.status.success(), "{}", describe(&ps));
    assert_eq!(text(&ps.stdout).lines().count(), 9, "{}", describe(&ps));
    let logs = docker(&["compose", "-p", &s.project, "logs", "--tail", "1", "db"]);
    assert!(logs.status.success(), "{}", describe(&logs));

    // One service's env changes in the file: only it is recreated.
    s.rebuild((28300, 23300), &|t| {
        t.replace("${JOB_TIMEOUT:-3600}", "${JOB_TIMEOUT:-60}")
    });
    let changed = s.apply(&["--output", "json"], &[]);
    assert_eq!(changed.status.code(), Some(0), "{}", describe(&changed));
    let r3 = results(&report(&changed));
    let after = s.ids();
    for (svc, id) in &ids {
        if svc == "job-processor" {
            assert_ne!(&after[svc], id, "job-processor is recreated");
            assert_eq!(r3[svc], "recreated");
        } else {
            assert_eq!(&after[svc], id, "{svc} is left alone");
        }
    }
    let c = inspect(&after["job-processor"]);
    assert!(c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "JOB_TIMEOUT=60"));

    // The JWT secret rotates: exactly the six services that read it are recreated, and read it.
    let rotated = s.apply(
        &["--output", "json"],
        &[("JWT_SECRET", "rotated-jwt-value-7c3d")],
    );
    assert_eq!(rotated.status.code(), Some(0), "{}", describe(&rotated));
    let r4 = results(&report(&rotated));
    let before = after;
    let after = s.ids();
    for svc in [
        "api-gateway",
        "user-service",
        "service-registry",
        "file-manager",
        "job-processor",
        "monitoring",
    ] {
        assert_eq!(r4[svc], "recreated", "{svc}");
        assert_eq!(
            text(&docker(&["exec", &after[svc], "cat", "/run/secrets/jwt_secret"]).stdout),
            "rotated-jwt-value-7c3d"
        );
    }
    for svc in ["db", "redis", "frontend"] {
        assert_eq!(
            before[svc], after[svc],
            "{svc} does not read the JWT secret"
        );
    }
    assert!(!text(&rotated.stdout).contains("rotated-jwt-value-7c3d"));
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn drift_is_repaired_in_place_and_conflicts_orphans_and_saved_plans_are_handled() {
    require_engine();
    let s = StandIn::new(
        &format!("fedgen-t-repair-{}", std::process::id()),
        (28400, 23400),
        |t| t,
    );
    assert_eq!(s.apply(&[], &[]).status.code(), Some(0));
    let ids = s.ids();

    // The incident's drift: no restart policy, a service cut from its dependency's network.
    let gw = s.container("api-gateway");
    assert!(docker(&["update", "--restart=no", &gw]).status.success());
    assert!(docker(&[
        "network",
        "disconnect",
        &format!("{}_db-net", s.project),
        &s.container("user-service")
    ])
    .status
    .success());
    // More drift by hand: a memory limit and a network alias.
    assert!(docker(&[
        "update",
        "--memory=48m",
        "--memory-swap=48m",
        &s.container("redis")
    ])
    .status
    .success());
    let net = format!("{}_job-processor-net", s.project);
    let jobs = s.container("job-processor");
    assert!(docker(&["network", "disconnect", &net, &jobs])
        .status
        .success());
    assert!(
        docker(&["network", "connect", "--alias", "hand-made", &net, &jobs])
            .status
            .success()
    );
    // The fast refresh sees only what the container list shows: the lost network.
    let fast = s.diff(&["--output", "json", "--refresh", "fast"]);
    assert_eq!(fast.status.code(), Some(2), "{}", describe(&fast));
    assert!(
        !text(&fast.stdout).contains("unless-stopped"),
        "{}",
        describe(&fast)
    );
    // diff names all of it; a plain apply, no flags, repairs all of it, in place.
    let d = s.diff(&["--output", "json"]);
    assert_eq!(d.status.code(), Some(2), "{}", describe(&d));
    for drift in ["unless-stopped", "\"memory\"", "user-service"] {
        assert!(text(&d.stdout).contains(drift), "{drift}: {}", describe(&d));
    }
    let out = s.apply(&["--output", "json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let r = results(&report(&out));
    assert_eq!(r["api-gateway"], "updated");
    assert_eq!(r["user-service"], "updated");
    assert_eq!(r["redis"], "updated");
    assert_eq!(r["job-processor"], "updated", "its alias");
    assert_eq!(s.ids(), ids, "repaired without recreating anything");
    assert_eq!(
        inspect(&gw)["HostConfig"]["RestartPolicy"]["Name"],
        "unless-stopped"
    );
    assert_eq!(
        inspect(&s.container("redis"))["HostConfig"]["Memory"],
        64 * 1024 * 1024
    );
    let d = s.diff(&["--output", "json"]);
    assert_eq!(
        d.status.code(),
        Some(0),
        "every drift repaired: {}",
        describe(&d)
    );

    // An unmanaged container with a service's name: refused, then adopted.
    assert!(docker(&["rm", "-f", &s.container("frontend")])
        .status
        .success());
    assert!(docker(&[
        "run",
        "-d",
        "--name",
        &s.container("frontend"),
        "fedgen-test/busybox:1",
        "sleep",
        "600"
    ])
    .status
    .success());
    let refused = s.apply(&[], &[]);
    assert_eq!(refused.status.code(), Some(4), "{}", describe(&refused));
    assert!(
        text(&refused.stderr).contains("--adopt"),
        "{}",
        describe(&refused)
    );
    let adopted = s.apply(&["--adopt"], &[]);
    assert_eq!(adopted.status.code(), Some(0), "{}", describe(&adopted));
    assert_eq!(
        inspect(&s.container("frontend"))["Config"]["Labels"]["com.docker.compose.project"],
        s.project.as_str()
    );

    // A saved plan applies while the host is unchanged, and is refused once it changed.
    let plan = s.dir.path().join("plan.json");
    assert!(docker(&["stop", "-t", "1", &s.container("redis")])
        .status
        .success());
    assert_eq!(
        s.diff(&["--out", plan.to_str().unwrap()]).status.code(),
        Some(2)
    );
    assert!(docker(&["stop", "-t", "1", &s.container("db")])
        .status
        .success());
    let stale = s.apply(&[plan.to_str().unwrap()], &[]);
    assert_eq!(stale.status.code(), Some(4), "{}", describe(&stale));
    assert!(
        text(&stale.stderr).contains("the host changed"),
        "{}",
        describe(&stale)
    );
    assert_eq!(
        s.diff(&["--out", plan.to_str().unwrap()]).status.code(),
        Some(2)
    );
    let applied = s.apply(&[plan.to_str().unwrap()], &[]);
    assert_eq!(applied.status.code(), Some(0), "{}", describe(&applied));
    assert_eq!(s.diff(&[]).status.code(), Some(0));

    // A service leaves the file: kept without --prune, removed with it.
    s.rebuild((28400, 23400), &|t| {
        t[..t.find("  frontend:").unwrap()].to_string()
    });
    let kept = s.apply(&[], &[]);
    assert_eq!(kept.status.code(), Some(0), "{}", describe(&kept));
    assert!(
        text(&kept.stderr).contains("orphans kept"),
        "{}",
        describe(&kept)
    );
    let pruned = s.apply(&["--prune"], &[]);
    assert_eq!(pruned.status.code(), Some(0), "{}", describe(&pruned));
    assert!(!s.ids().contains_key("frontend"));
    assert_eq!(
        s.diff(&[]).status.code(),
        Some(0),
        "{}",
        describe(&s.diff(&[]))
    );
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn a_service_that_never_turns_healthy_stops_the_rollout_before_its_dependants() {
    require_engine();
    let s = StandIn::new(
        &format!("fedgen-t-unhealthy-{}", std::process::id()),
        (28600, 23600),
        |t| {
            t.replace(
            "    command: [httpd, -f, -p, \"8001\", -h, /var/www]\n",
            "    command: [httpd, -f, -p, \"8001\", -h, /var/www]\n    healthcheck: { test: [CMD, sh, -c, \"echo user-service is not ready; exit 1\"], retries: 2 }\n",
        )
        },
    );
    let out = s.apply(&["--output", "json", "--timeout", "120s"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let r = report(&out);
    assert_eq!(r["status"], "health-failed");
    let failed = r["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["service"] == "user-service")
        .unwrap();
    assert_eq!(failed["result"], "failed");
    assert!(
        failed["last_health_output"]
            .as_str()
            .unwrap()
            .contains("user-service is not ready"),
        "{failed}"
    );
    let res = results(&r);
    assert_eq!(res["db"], "created");
    assert_eq!(res["api-gateway"], "skipped");
    assert_eq!(res["frontend"], "skipped");
    let ids = s.ids();
    assert!(
        !ids.contains_key("api-gateway") && !ids.contains_key("frontend"),
        "dependants were not created: {ids:?}"
    );

    let text_out = s.apply(&[], &[]);
    assert_eq!(text_out.status.code(), Some(3));
    let err = text(&text_out.stderr);
    assert!(
        err.contains("user-service failed")
            && err.contains("last health check: user-service is not ready"),
        "{err}"
    );
    assert!(
        err.contains("not started: ") && err.contains("api-gateway"),
        "{err}"
    );
}

#[test]
fn apply_with_no_engine_is_a_clear_error() {
    let out = fedgen()
        .args([
            "apply",
            "-f",
            "golden/federated-imputation.yml",
            "--env",
            "env.example",
        ])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("cannot reach the Docker engine"),
        "{}",
        describe(&out)
    );
}
