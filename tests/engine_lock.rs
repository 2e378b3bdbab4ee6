//! The apply lock lives on the engine: two applies of one project through two different
//! addresses of one engine (its socket and ssh) never interleave; a holder killed by SIGKILL, a
//! frozen one (SIGSTOP: alive, silent) and one from another machine do not block the next apply
//! past their staleness window; applies of different projects do not wait for each other.

mod common;
use common::remote::Sshd;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn apply_cmd(s: &StandIn, env: &[(&str, &str)]) -> Command {
    let mut c = fedgen();
    c.args(["apply", "-f"])
        .arg(&s.file)
        .args(["--env", "tests/stacks/standin.env", "--output", "json"])
        .env("DOCKER_HOST", "unix:///var/run/docker.sock")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// A running apply whose stderr lines are collected with the time each arrived.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd.spawn().unwrap();
        let err = child.stderr.take().unwrap();
        let lines: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let l = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                l.lock().unwrap().push((Instant::now(), line));
            }
        });
        Running {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// Waits for the process; its exit code, stdout and stderr lines.
    fn finish(mut self) -> (Option<i32>, String, Vec<(Instant, String)>) {
        let status = self.child.wait().unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut out).unwrap();
        self.reader.take().unwrap().join().unwrap();
        let lines = self.lines.lock().unwrap().clone();
        (status.code(), out, lines)
    }

    fn stderr_has(&self, what: &str) -> Option<Instant> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .find(|(_, l)| l.contains(what))
            .map(|(t, _)| *t)
    }
}

fn status_of(stdout: &str) -> serde_json::Value {
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(last).unwrap_or_default()["status"].clone()
}

fn lock_exists(project: &str) -> bool {
    let ps = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("name=^fedgen-lock.{project}$"),
    ]);
    !text(&ps.stdout).trim().is_empty()
}

fn wait_for_lock(project: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lock_exists(project) {
        assert!(Instant::now() < deadline, "no lock appeared for {project}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `docker events` followed live (the daemon keeps only its last 256 events, a few seconds on a
/// busy engine with healthchecks), as (nanoseconds, action, name) of containers matching `filter`.
struct EventLog {
    child: Child,
    reader: std::thread::JoinHandle<Vec<(u128, String, String)>>,
}

impl EventLog {
    fn follow(filter: &str) -> EventLog {
        let mut child = Command::new("docker")
            .args(["events", "--filter", "type=container", "--filter", filter])
            .args(["--format", "{{json .}}"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
                .map(|e| {
                    (
                        e["timeNano"].as_u64().unwrap_or(0) as u128,
                        e["Action"].as_str().unwrap_or_default().to_string(),
                        e["Actor"]["Attributes"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    )
                })
                .collect()
        });
        // `docker events` subscribes before it prints anything; give it a moment.
        std::thread::sleep(Duration::from_millis(500));
        EventLog { child, reader }
    }

    fn stop(mut self) -> Vec<(u128, String, String)> {
        std::thread::sleep(Duration::from_millis(500));
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reader.join().unwrap()
    }
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn two_applies_through_the_socket_and_ssh_never_interleave() {
    require_engine();
    let sshd = Sshd::start();
    let s = StandIn::new(
        &format!("fedgen-t-lock2-{}", std::process::id()),
        (28710, 23710),
        |t| t,
    );
    // The second apply brings another version of the file, so it has work of its own to do
    // after the first: its changes must all come after the first one's.
    let other = StandIn::new(&s.project, (28710, 23710), |t| {
        t.replace("JOB_TIMEOUT: ${JOB_TIMEOUT:-3600}", "JOB_TIMEOUT: \"45\"")
    });
    let lock_log = EventLog::follow(&format!("container=fedgen-lock.{}", s.project));
    let project_log = EventLog::follow(&format!("label=com.docker.compose.project={}", s.project));
    let a = Running::start(apply_cmd(&s, &[]));
    wait_for_lock(&s.project);
    let mut ssh_env: Vec<(String, String)> = sshd.env();
    ssh_env.push(("DOCKER_HOST".into(), sshd.url()));
    let env: Vec<(&str, &str)> = ssh_env
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let b = Running::start(apply_cmd(&other, &env));
    let (ca, oa, la) = a.finish();
    let (cb, ob, lb) = b.finish();
    let describe_run = |c: Option<i32>, o: &str, l: &[(Instant, String)]| {
        format!(
            "exit {c:?}\n{o}\n{}",
            l.iter()
                .map(|(_, x)| x.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    assert_eq!(ca, Some(0), "{}", describe_run(ca, &oa, &la));
    assert_eq!(cb, Some(0), "{}", describe_run(cb, &ob, &lb));
    assert_eq!(status_of(&oa), "converged");
    assert_eq!(
        status_of(&ob),
        "converged",
        "{}",
        describe_run(cb, &ob, &lb)
    );
    assert!(
        lb.iter()
            .any(|(_, l)| l.contains("waiting for another apply of project")),
        "the apply through ssh waited: {}",
        describe_run(cb, &ob, &lb)
    );
    // The lock's timeline: held by one, then the other, never both; every change of the
    // project's containers happened while one of them held it.
    let lock = lock_log.stop();
    let mut held = Vec::new();
    let mut open = None;
    for (t, action, _) in &lock {
        match action.as_str() {
            "create" => {
                assert!(open.is_none(), "two holders at once: {lock:?}");
                open = Some(*t);
            }
            "destroy" => held.push((
                open.take()
                    .unwrap_or_else(|| panic!("created first: {lock:?}")),
                *t,
            )),
            _ => {}
        }
    }
    assert_eq!(held.len(), 2, "two holders, one after the other: {lock:?}");
    let changes = project_log.stop();
    let mutating = [
        "create",
        "start",
        "stop",
        "destroy",
        "rename",
        "update",
        "connect",
        "disconnect",
    ];
    let mut in_second = 0;
    for (t, action, name) in changes
        .iter()
        .filter(|(_, a, _)| mutating.contains(&a.as_str()))
    {
        let holder = held.iter().position(|(from, to)| from <= t && t <= to);
        assert!(
            holder.is_some(),
            "{action} of {name} at {t} while no apply held the lock: {held:?}"
        );
        in_second += usize::from(holder == Some(1));
    }
    assert!(
        in_second > 0,
        "the second apply changed something, after the first"
    );
    assert!(!lock_exists(&s.project), "released");
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn a_dead_or_frozen_holder_does_not_block_past_its_window() {
    require_engine();
    let s = StandIn::new(
        &format!("fedgen-t-stale-{}", std::process::id()),
        (28720, 23720),
        |t| t,
    );
    let window = [("FEDGEN_LOCK_STALE_AFTER", "3s")];

    // Killed with SIGKILL: on the same machine, its pid is gone: taken over at once.
    let mut a = apply_cmd(&s, &window).spawn().unwrap();
    wait_for_lock(&s.project);
    a.kill().unwrap();
    a.wait().unwrap();
    assert!(lock_exists(&s.project), "a killed holder cannot release");
    let t = Instant::now();
    let b = Running::start(apply_cmd(&s, &window));
    let (code, out, lines) = b.finish();
    let all: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(code, Some(0), "{out}\n{all:?}");
    let took = lines
        .iter()
        .find(|(_, l)| l.contains("taking over the lock") && l.contains("its process is gone"))
        .unwrap_or_else(|| panic!("{all:?}"));
    assert!(
        took.0 - t < Duration::from_secs(3),
        "at once: {:?}",
        took.0 - t
    );

    // Frozen (SIGSTOP): alive but silent; taken over when its heartbeat has not changed for
    // its window; when it wakes it finds its lock gone and stops.
    let s2 = StandIn::new(&s.project, (28720, 23720), |t| {
        t.replace("JOB_TIMEOUT: ${JOB_TIMEOUT:-3600}", "JOB_TIMEOUT: \"46\"")
    });
    let frozen = Running::start(apply_cmd(&s2, &window));
    wait_for_lock(&s.project);
    let pid = frozen.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let t = Instant::now();
    let b = Running::start(apply_cmd(&s, &window));
    let took = loop {
        if let Some(at) = b.stderr_has("taking over the lock") {
            break at;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "never taken over");
        std::thread::sleep(Duration::from_millis(50));
    };
    let waited = took - t;
    assert!(
        waited >= Duration::from_millis(2500) && waited < Duration::from_secs(8),
        "taken over after its 3 s window: {waited:?}"
    );
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    let (code, out, lines) = b.finish();
    let all: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(code, Some(0), "{out}\n{all:?}");
    assert!(
        all.iter().any(|l| l.contains("no heartbeat for 3s")),
        "{all:?}"
    );
    let (fcode, _, flines) = frozen.finish();
    let fall: Vec<&str> = flines.iter().map(|(_, l)| l.as_str()).collect();
    assert!(
        fall.iter()
            .any(|l| l.contains("was taken over by another apply")),
        "the woken holder noticed ({fcode:?}): {fall:?}"
    );

    // From another machine (another boot): only the heartbeat can tell; a lock made by hand
    // with such labels and no heartbeat is taken over after its window.
    let lock = format!("fedgen-lock.{}", s.project);
    let _ = docker(&["rm", "-f", &lock]);
    let made = docker(&[
        "create",
        "--name",
        &lock,
        "--network",
        "none",
        "--label",
        &format!("dev.fedgen.lock={}", s.project),
        "--label",
        "dev.fedgen.lock.host=runner-elsewhere",
        "--label",
        "dev.fedgen.lock.pid=4242",
        "--label",
        "dev.fedgen.lock.boot-id=another-machine",
        "--label",
        "dev.fedgen.lock.stale-after=2",
        "fedgen/empty:1",
    ]);
    assert!(made.status.success(), "{}", describe(&made));
    let t = Instant::now();
    let b = Running::start(apply_cmd(&s, &window));
    let (code, out, lines) = b.finish();
    let all: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(code, Some(0), "{out}\n{all:?}");
    let waited = lines
        .iter()
        .find(|(_, l)| {
            l.contains("taking over the lock") && l.contains("pid 4242 on runner-elsewhere")
        })
        .unwrap_or_else(|| panic!("{all:?}"))
        .0
        - t;
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(7),
        "after its 2 s window: {waited:?}"
    );
    assert!(!lock_exists(&s.project));
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn applies_of_different_projects_do_not_wait() {
    require_engine();
    let a = StandIn::new(
        &format!("fedgen-t-proja-{}", std::process::id()),
        (28730, 23730),
        |t| t,
    );
    let b = StandIn::new(
        &format!("fedgen-t-projb-{}", std::process::id()),
        (28731, 23731),
        |t| t,
    );
    let ra = Running::start(apply_cmd(&a, &[]));
    wait_for_lock(&a.project);
    let rb = Running::start(apply_cmd(&b, &[]));
    let (ca, _, la) = ra.finish();
    let (cb, _, lb) = rb.finish();
    assert_eq!((ca, cb), (Some(0), Some(0)));
    for l in la.iter().chain(lb.iter()) {
        assert!(!l.1.contains("waiting"), "{}", l.1);
    }
}
