//! Generated secrets are made once, where they are used: on the engine. Two "runners" (two
//! checkouts in different directories, two HOMEs, one through the socket, one through ssh) build
//! the document-platform stand-ins (tests/stacks/docplatform-standin.yml: the bundled stack's
//! secrets on busybox services): the same bytes, `build --check` passes on both, and the MinIO
//! password inside the container is the same after either applies; a variable named by the file
//! seeds a secret at its first apply; `fedgen secrets rotate` makes a new value that the next
//! apply rolls out to exactly the services that read it; no value reaches any output, label or
//! `docker inspect`.

mod common;
use common::remote::Sshd;
use common::*;
use std::path::{Path, PathBuf};

struct Runner {
    _dir: tempfile::TempDir,
    checkout: PathBuf,
    home: PathBuf,
    env: Vec<(String, String)>,
}

impl Runner {
    fn new(project: &str, env: Vec<(String, String)>) -> Runner {
        let dir = tempfile::tempdir().unwrap();
        let checkout = dir.path().join("work/repo");
        let home = dir.path().join("home");
        std::fs::create_dir_all(checkout.join("stacks")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let spec = std::fs::read_to_string(root().join("tests/stacks/docplatform-standin.yml"))
            .unwrap()
            .replacen("name: fedgen-docplatform", &format!("name: {project}"), 1);
        std::fs::write(checkout.join("stacks/docplatform.yml"), spec).unwrap();
        std::fs::copy(
            root().join("tests/stacks/docplatform-standin.env"),
            checkout.join(".env"),
        )
        .unwrap();
        let mut env = env;
        if !env.iter().any(|(k, _)| k == "HOME") {
            env.push(("HOME".into(), home.display().to_string()));
        }
        Runner {
            _dir: dir,
            checkout,
            home,
            env,
        }
    }

    fn fedgen(&self, args: &[&str], extra_env: &[(&str, &str)]) -> std::process::Output {
        fedgen()
            .current_dir(&self.checkout)
            .env("DOCKER_HOST", "unix:///var/run/docker.sock")
            .envs(self.env.iter().map(|(a, b)| (a.as_str(), b.as_str())))
            .envs(extra_env.iter().copied())
            .args(args)
            .output()
            .unwrap()
    }

    fn build(&self, check: bool) -> std::process::Output {
        let mut args = vec![
            "build",
            "stacks/docplatform.yml",
            "--env",
            ".env",
            "-o",
            "compose.yml",
        ];
        if check {
            args.push("--check");
        }
        self.fedgen(&args, &[])
    }

    fn apply(&self, extra_env: &[(&str, &str)]) -> std::process::Output {
        self.fedgen(
            &[
                "apply",
                "-f",
                "compose.yml",
                "--env",
                ".env",
                "--output",
                "json",
            ],
            extra_env,
        )
    }

    fn file(&self) -> String {
        std::fs::read_to_string(self.checkout.join("compose.yml")).unwrap()
    }
}

fn report(out: &std::process::Output) -> serde_json::Value {
    let line = text(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("no report ({e}): {}", describe(out)))
}

fn results(r: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
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

fn read_secret(container: &str, name: &str) -> String {
    let out = docker(&["exec", container, "cat", &format!("/run/secrets/{name}")]);
    assert!(out.status.success(), "{}", describe(&out));
    text(&out.stdout)
}

fn store_volumes(project: &str) -> Vec<String> {
    let out = docker(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        "label=dev.fedgen.secret",
    ]);
    let mut v: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    v.sort();
    v
}

fn assert_absent(value: &str, outputs: &[&std::process::Output], what: &str) {
    assert!(value.len() >= 16, "{what}: {value:?}");
    for o in outputs {
        let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
        assert!(!all.contains(value), "{what} leaked: {}", describe(o));
    }
}

fn no_path_of(file: &str, places: &[&Path]) {
    for p in places {
        assert!(
            !file.contains(p.to_str().unwrap()),
            "the file names {}",
            p.display()
        );
    }
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn generated_secrets_are_made_once_on_the_engine_and_the_same_for_every_runner() {
    require_engine();
    let project = format!("fedgen-t-gensec-{}", std::process::id());
    // Cleans the project up at the end (its containers, networks and the secrets' store).
    let cleanup = StandIn::of("docplatform-standin", &project, (0, 0), |t| t);
    let sshd = Sshd::start();
    let a = Runner::new(&project, vec![]);
    let mut ssh_env = sshd.env();
    ssh_env.push(("DOCKER_HOST".into(), sshd.url()));
    let b = Runner::new(&project, ssh_env);

    // Both runners compile the same bytes, which name neither machine; each check passes.
    for r in [&a, &b] {
        let out = r.build(false);
        assert!(out.status.success(), "{}", describe(&out));
        let check = r.build(true);
        assert_eq!(check.status.code(), Some(0), "{}", describe(&check));
        no_path_of(&r.file(), &[&r.checkout, &r.home, Path::new("/tmp/")]);
    }
    assert_eq!(a.file(), b.file());

    // Runner A's first apply makes both secrets on the engine; grafana_admin from the variable
    // the file names (a value carried over from an earlier setup), minio's at random.
    let seed = "seeded-grafana-admin-7e1f03";
    let out = a.apply(&[("FEDGEN_SECRET_GRAFANA_ADMIN", seed)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let r = report(&out);
    assert_eq!(r["status"], "converged", "{r}");
    assert_eq!(
        r["secrets_generated"],
        serde_json::json!(["grafana_admin", "minio_root_password"])
    );
    let minio = format!("{project}-minio-1");
    let password = read_secret(&minio, "minio_root_password");
    assert_eq!(password.len(), 64, "32 random bytes, hex");
    assert_eq!(
        read_secret(&format!("{project}-app-1"), "minio_root_password"),
        password
    );
    assert_eq!(
        read_secret(&format!("{project}-grafana-1"), "grafana_admin"),
        seed
    );
    let inspect = docker(&["inspect", &minio]);
    assert!(text(&inspect.stdout).contains("\"ReadonlyRootfs\": true"));
    assert!(
        !text(&inspect.stdout).contains(&password),
        "no value in docker inspect"
    );
    assert_eq!(
        store_volumes(&project),
        [
            format!("fedgen-secret.{project}.grafana_admin.1"),
            format!("fedgen-secret.{project}.minio_root_password.1")
        ]
    );

    // Runner B (another checkout, another HOME, through ssh) finds the host as its file says.
    let diff = b.fedgen(&["diff", "-f", "compose.yml", "--env", ".env"], &[]);
    assert_eq!(diff.status.code(), Some(0), "{}", describe(&diff));
    // MinIO's container is lost; B's apply brings it back with the same password, made by A.
    assert!(docker(&["rm", "-f", &minio]).status.success());
    let again = b.apply(&[]);
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
    let r = report(&again);
    assert_eq!(
        r["secrets_generated"],
        serde_json::json!([]),
        "never regenerated"
    );
    assert_eq!(results(&r)["minio"], "created");
    assert_eq!(
        read_secret(&minio, "minio_root_password"),
        password,
        "the same password"
    );

    // Rotation, from runner B: a new value; A's next apply recreates exactly its readers.
    let rotate = b.fedgen(
        &[
            "secrets",
            "rotate",
            "minio_root_password",
            "-f",
            "compose.yml",
        ],
        &[],
    );
    assert_eq!(rotate.status.code(), Some(0), "{}", describe(&rotate));
    assert!(
        text(&rotate.stderr).contains("recreates the services that read it: app, minio"),
        "{}",
        describe(&rotate)
    );
    let diff = a.fedgen(
        &[
            "diff",
            "-f",
            "compose.yml",
            "--env",
            ".env",
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(diff.status.code(), Some(2), "{}", describe(&diff));
    let rolled = a.apply(&[]);
    assert_eq!(rolled.status.code(), Some(0), "{}", describe(&rolled));
    let r = results(&report(&rolled));
    assert_eq!(r["app"], "recreated");
    assert_eq!(r["minio"], "recreated");
    for unchanged in ["postgres", "meilisearch", "grafana"] {
        assert_eq!(r[unchanged], "unchanged", "{unchanged}");
    }
    let rotated = read_secret(&minio, "minio_root_password");
    assert_ne!(rotated, password);
    assert_eq!(
        read_secret(&format!("{project}-app-1"), "minio_root_password"),
        rotated
    );
    assert_eq!(
        read_secret(&format!("{project}-grafana-1"), "grafana_admin"),
        seed,
        "untouched"
    );
    // The earlier value is gone from the engine once nothing uses it.
    assert_eq!(
        store_volumes(&project),
        [
            format!("fedgen-secret.{project}.grafana_admin.1"),
            format!("fedgen-secret.{project}.minio_root_password.2")
        ]
    );
    let outputs = [&out, &diff, &again, &rotate, &rolled];
    assert_absent(&password, &outputs, "the first MinIO password");
    assert_absent(&rotated, &outputs, "the rotated MinIO password");
    assert_absent(seed, &outputs, "the seeded Grafana password");
    drop(cleanup);
    assert!(store_volumes(&project).is_empty(), "cleaned up");
}
