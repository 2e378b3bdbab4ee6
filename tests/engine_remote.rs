//! Every way the docker CLI reaches an engine, on loopback: `ssh://` through an sshd of the
//! test's own (keys it makes) to the local engine, `tcp://` through a forwarder to the local
//! socket, `tcp://` with TLS to a second dockerd of the test's own (certificates made with
//! openssl), and contexts in a Docker config directory the test writes. For each: diff and apply
//! of the stand-in stack, a no-op apply timed (printed, for docs/benchmarks.md), and the
//! failures (unknown host key, refused key, wrong CA, bad client certificate, TLS mismatch) as
//! one line that names what to fix.

mod common;
use common::remote::*;
use common::*;
use std::time::Instant;

fn report(out: &std::process::Output) -> serde_json::Value {
    let line = text(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {}", describe(out)))
}

/// Median wall time (ms) of five no-op applies, and the API calls of one.
fn noop_timing(s: &StandIn, env: &[(&str, &str)]) -> (u128, u64) {
    let mut times = Vec::new();
    let mut calls = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let out = s.apply(&["--output", "json"], env);
        times.push(t.elapsed().as_millis());
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let r = report(&out);
        assert_eq!(r["status"], "in-sync", "{r}");
        calls = r["api_calls"].as_u64().unwrap();
    }
    times.sort();
    (times[2], calls)
}

/// One failing diff: exit 1 and exactly one line, which contains every one of `words`.
fn one_line_error(s: &StandIn, extra: &[&str], env: &[(&str, &str)], words: &[&str]) {
    let out = s.diff_with(extra, env);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {}", describe(&out));
    assert!(lines[0].starts_with("error: "), "{err}");
    eprintln!("ONE LINE {}", lines[0]);
    for w in words {
        assert!(err.contains(w), "`{w}` in: {err}");
    }
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn through_ssh_diff_and_apply_reach_the_engine_and_failures_name_the_fix() {
    require_engine();
    let sshd = Sshd::start();
    let s = StandIn::new(
        &format!("fedgen-t-ssh-{}", std::process::id()),
        (28610, 23610),
        |t| t,
    );
    let url = sshd.url();
    let mut env = sshd.env();
    env.push(("DOCKER_HOST".into(), url.clone()));
    let env = pairs(&env);
    let out = s.apply(&["--output", "json"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(report(&out)["status"], "converged");
    let d = s.diff_with(&[], &env);
    assert_eq!(d.status.code(), Some(0), "{}", describe(&d));
    assert!(text(&d.stdout).contains(&url), "{}", describe(&d));
    let (ms, calls) = noop_timing(&s, &env);
    eprintln!("TIMING no-op apply, 9 services, ssh (ControlMaster, socket forwarded): {ms} ms, {calls} API calls");
    // The engine's socket is reached through the master's forwarding: no remote command ran.
    let log = || std::fs::read_to_string(sshd.dir.path().join("sshd.log")).unwrap();
    assert!(!log().contains("Starting session: command"), "{}", log());

    // No ssh process outlives fedgen (the ControlMaster is stopped, the dials closed).
    let child = fedgen()
        .args(["diff", "-f"])
        .arg(&s.file)
        .args(["--env", "tests/stacks/standin.env"])
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let ps = std::process::Command::new("pgrep")
        .args(["-f", &format!("fedgen-ssh-{pid}-")])
        .output()
        .unwrap();
    assert!(
        text(&ps.stdout).trim().is_empty(),
        "ssh left running: {}",
        text(&ps.stdout)
    );

    // -H and contexts: the flag, DOCKER_CONTEXT and the current context reach it too; --context
    // beats DOCKER_HOST, which beats DOCKER_CONTEXT.
    let cfg = DockerConfig::new();
    cfg.context("vm", &url, None).current("vm");
    let cfg_dir = cfg.path().to_str().unwrap().to_string();
    let base = sshd.env();
    let mut common = pairs(&base);
    common.push(("DOCKER_CONFIG", &cfg_dir));
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v = common.clone();
        v.extend_from_slice(extra);
        v
    };
    for (how, args, extra) in [
        ("-H", vec!["-H", url.as_str()], vec![("DOCKER_HOST", "")]),
        (
            "--context over DOCKER_HOST",
            vec!["--context", "vm"],
            vec![],
        ),
        (
            "DOCKER_CONTEXT",
            vec![],
            vec![("DOCKER_HOST", ""), ("DOCKER_CONTEXT", "vm")],
        ),
        ("currentContext", vec![], vec![("DOCKER_HOST", "")]),
    ] {
        let d = s.diff_with(&args, &with(&extra));
        assert_eq!(d.status.code(), Some(0), "{how}: {}", describe(&d));
    }
    // DOCKER_HOST (the local socket, where the context would be ssh) beats DOCKER_CONTEXT: same
    // engine, so also in sync, but through the socket.
    let d = s.diff_with(&[], &with(&[("DOCKER_CONTEXT", "vm")]));
    assert_eq!(d.status.code(), Some(0), "{}", describe(&d));
    assert!(
        text(&d.stdout).contains("unix:///var/run/docker.sock"),
        "{}",
        describe(&d)
    );

    // Failures, each one line naming what to fix.
    let home = |name: &str, known: bool, key_ok: bool| {
        let h = sshd.dir.path().join(name);
        std::fs::create_dir_all(h.join(".ssh")).unwrap();
        if key_ok {
            for f in ["id_ed25519", "id_ed25519.pub"] {
                std::fs::copy(sshd.home.join(".ssh").join(f), h.join(".ssh").join(f)).unwrap();
            }
        } else {
            keygen(&h.join(".ssh/id_ed25519"));
        }
        std::fs::write(
            h.join(".ssh/known_hosts"),
            if known {
                format!("{}\n", sshd.known_host)
            } else {
                String::new()
            },
        )
        .unwrap();
        h.display().to_string()
    };
    let path = pairs(&sshd.env())[1].1.to_string();
    let unknown = home("unknown-host", false, true);
    one_line_error(
        &s,
        &[],
        &[("HOME", &unknown), ("PATH", &path), ("DOCKER_HOST", &url)],
        &[
            "Host key verification failed",
            "known_hosts",
            &format!("ssh-keyscan -p {}", sshd.port),
        ],
    );
    let refused = home("other-key", true, false);
    one_line_error(
        &s,
        &[],
        &[("HOME", &refused), ("PATH", &path), ("DOCKER_HOST", &url)],
        &["refused the key of root", "authorized_keys"],
    );
    let nothing = format!("ssh://root@127.0.0.1:{}", free_port());
    one_line_error(
        &s,
        &[],
        &[
            ("HOME", &base[0].1),
            ("PATH", &path),
            ("DOCKER_HOST", &nothing),
        ],
        &["connection refused", "sshd running"],
    );
    let no_engine = format!("{url}/nonexistent/docker.sock");
    one_line_error(
        &s,
        &[],
        &[
            ("HOME", &base[0].1),
            ("PATH", &path),
            ("DOCKER_HOST", &no_engine),
        ],
        &["no Docker engine answers", "dockerd running there"],
    );
    // A socket that does not answer through the forwarding: the docker CLI's bridge was tried.
    assert!(log().contains("Starting session: command"), "{}", log());
    let ghost = DockerConfig::new();
    ghost.current("gone");
    one_line_error(
        &s,
        &[],
        &[
            ("DOCKER_HOST", ""),
            ("DOCKER_CONFIG", ghost.path().to_str().unwrap()),
        ],
        &["context \"gone\" not found", "docker context create gone"],
    );
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn through_plain_tcp_and_the_socket_diff_and_apply_reach_the_engine() {
    require_engine();
    let fwd = TcpForward::start("/var/run/docker.sock");
    let s = StandIn::new(
        &format!("fedgen-t-tcp-{}", std::process::id()),
        (28620, 23620),
        |t| t,
    );
    let url = fwd.url();
    let env = [("DOCKER_HOST", url.as_str())];
    let out = s.apply(&["--output", "json"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let d = s.diff_with(&[], &env);
    assert_eq!(d.status.code(), Some(0), "{}", describe(&d));
    assert!(text(&d.stdout).contains(&url), "{}", describe(&d));
    let (ms, calls) = noop_timing(&s, &env);
    eprintln!("TIMING no-op apply, 9 services, tcp (plain, forwarded to the socket): {ms} ms, {calls} API calls");
    let (ms, calls) = noop_timing(&s, &[("DOCKER_HOST", "unix:///var/run/docker.sock")]);
    eprintln!("TIMING no-op apply, 9 services, unix socket: {ms} ms, {calls} API calls");
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn through_tls_diff_and_apply_reach_a_tlsverify_engine_and_failures_name_the_fix() {
    require_engine();
    let daemon = TlsDaemon::start();
    let s = StandIn::new(
        &format!("fedgen-t-tls-{}", std::process::id()),
        (28630, 23630),
        |t| t,
    );
    let good = daemon.certs.cert_path("good", "ca", "client");
    let url = daemon.url();
    let good_s = good.to_str().unwrap();
    let env = [
        ("DOCKER_HOST", url.as_str()),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", good_s),
    ];
    let out = s.apply(&["--output", "json"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(report(&out)["status"], "converged");
    let ps = daemon.docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", s.project),
    ]);
    assert_eq!(
        text(&ps.stdout).lines().count(),
        9,
        "on the TLS daemon: {}",
        describe(&ps)
    );
    let d = s.diff_with(&[], &env);
    assert_eq!(d.status.code(), Some(0), "{}", describe(&d));
    assert!(
        text(&d.stdout).contains(&format!("{url} (DOCKER_HOST, TLS)")),
        "{}",
        describe(&d)
    );
    let (ms, calls) = noop_timing(&s, &env);
    eprintln!(
        "TIMING no-op apply, 9 services, tcp with TLS (second dockerd): {ms} ms, {calls} API calls"
    );

    // A context with TLS files in the store, chosen over DOCKER_HOST (the local socket, where
    // this project does not exist: a diff there would exit 2).
    let cfg = DockerConfig::new();
    cfg.context("tls", &url, Some(&good));
    let d = s.diff_with(
        &["--context", "tls"],
        &[("DOCKER_CONFIG", cfg.path().to_str().unwrap())],
    );
    assert_eq!(d.status.code(), Some(0), "{}", describe(&d));

    let wrong_ca = daemon.certs.cert_path("wrong-ca", "other-ca", "client");
    one_line_error(
        &s,
        &[],
        &[
            ("DOCKER_HOST", &url),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", wrong_ca.to_str().unwrap()),
        ],
        &["wrong CA", "ca.pem"],
    );
    let bad_client = daemon.certs.cert_path("bad-client", "ca", "other-client");
    one_line_error(
        &s,
        &[],
        &[
            ("DOCKER_HOST", &url),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", bad_client.to_str().unwrap()),
        ],
        &["bad certificate", "cert.pem", "--tlscacert"],
    );
    one_line_error(
        &s,
        &[],
        &[("DOCKER_HOST", &url)],
        &["speaks TLS", "DOCKER_TLS_VERIFY=1"],
    );
    let fwd = TcpForward::start("/var/run/docker.sock");
    one_line_error(
        &s,
        &[],
        &[
            ("DOCKER_HOST", &fwd.url()),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", good_s),
        ],
        &["does not speak TLS"],
    );
}
