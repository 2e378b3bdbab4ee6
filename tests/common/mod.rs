//! Helpers shared by the integration tests: running the binary, golden files, oracle lookup.
#![allow(dead_code)]

pub mod lab;
pub mod remote;
pub mod seed;
pub mod swarm;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fedgen binary, run from the repository root with a clean environment (PATH only), so
/// nothing from the developer's shell leaks into golden output.
pub fn fedgen() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fedgen"));
    cmd.current_dir(root())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent-fedgen-test-home");
    cmd
}

pub fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Compares `actual` with the golden file; `SNAPSHOTS=overwrite` (snapbox's convention, used by
/// every snapshot of the suite) writes it instead.
pub fn assert_golden(path: &Path, actual: &str) {
    if std::env::var("SNAPSHOTS").as_deref() == Ok("overwrite") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run the tests with SNAPSHOTS=overwrite to create it",
            path.display()
        )
    });
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual);
        panic!(
            "{} differs from the actual output (SNAPSHOTS=overwrite accepts the new output):\n{}",
            path.display(),
            diff.unified_diff()
                .context_radius(3)
                .header("golden", "actual")
        );
    }
}

/// The path (or version) of an external tool that scripts/test.sh installs and names in an
/// environment variable. Tests that need one are `#[ignore]`d, so a plain `cargo test` lists them
/// as not run; run on purpose (scripts/test.sh, or `--ignored`), a missing tool is a failure.
pub fn oracle(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set: run the suite with scripts/test.sh, which installs the engine and the oracles and sets it"
        ),
    }
}

/// Fails the test unless the Docker engine and Compose v2 that scripts/test.sh prepares answer.
pub fn require_engine() {
    oracle("FEDGEN_COMPOSE_V2");
    let info = docker(&["info", "--format", "{{.ServerVersion}}"]);
    assert!(
        info.status.success(),
        "the Docker engine does not answer (docker info: {}); run scripts/test.sh",
        text(&info.stderr).trim()
    );
}

/// Secret values that env.example sets: none may ever appear in fedgen's output.
pub fn example_secret_values() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("env.example")).unwrap();
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| {
            ["JWT_SECRET", "POSTGRES_PASSWORD", "MEILI_MASTER_KEY"].contains(&k.trim())
        })
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

/// The bundled stacks, by name.
pub fn bundled_stacks() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("stacks"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "yml").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    names
}

/// Compiles a bundled stack with env.example into `out`.
pub fn build_bundled(stack: &str, out: &Path) -> Output {
    fedgen()
        .args([
            "build",
            &format!("stacks/{stack}.yml"),
            "--env",
            "env.example",
            "-o",
        ])
        .arg(out)
        .output()
        .unwrap()
}

/// Variables of a `KEY=value` file, as pairs.
pub fn env_pairs(path: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(root().join(path))
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().unwrap()
}

/// A stand-in stack under a project name of its own, compiled into a temp dir, brought up with
/// Docker Compose v2 and torn down (containers, networks, volumes of that project only) on drop.
pub struct StandIn {
    pub project: String,
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
    pub spec: PathBuf,
    /// Its variables (relative to the repository): tests/stacks/NAME.env.
    pub env_file: &'static str,
}

impl StandIn {
    /// Compiles tests/stacks/standin.yml renamed to `project`, with `edit` applied to the spec.
    pub fn new(project: &str, ports: (u16, u16), edit: impl Fn(String) -> String) -> StandIn {
        StandIn::of("standin", project, ports, edit)
    }

    /// Compiles tests/stacks/`stack`.yml (with tests/stacks/`stack`.env) renamed to `project`.
    pub fn of(
        stack: &'static str,
        project: &str,
        ports: (u16, u16),
        edit: impl Fn(String) -> String,
    ) -> StandIn {
        let dir = tempfile::tempdir().unwrap();
        let spec_text =
            std::fs::read_to_string(root().join(format!("tests/stacks/{stack}.yml"))).unwrap();
        let first_name = spec_text
            .lines()
            .find(|l| l.starts_with("name: "))
            .unwrap()
            .to_string();
        let spec_text = spec_text.replacen(&first_name, &format!("name: {project}"), 1);
        let spec = dir.path().join(format!("{stack}.yml"));
        std::fs::write(&spec, edit(spec_text)).unwrap();
        let env_file: &'static str =
            Box::leak(format!("tests/stacks/{stack}.env").into_boxed_str());
        let s = StandIn {
            project: project.to_string(),
            file: dir.path().join("docker-compose.yml"),
            spec,
            dir,
            env_file,
        };
        s.rebuild(ports, &|t| t);
        s
    }

    /// Compiles the spec again (after `edit`) into the same compose file.
    pub fn rebuild(&self, ports: (u16, u16), edit: &dyn Fn(String) -> String) {
        let text = edit(std::fs::read_to_string(&self.spec).unwrap());
        std::fs::write(&self.spec, text).unwrap();
        let out = fedgen()
            .arg("build")
            .arg(&self.spec)
            .args(["--env", self.env_file, "-o"])
            .arg(&self.file)
            .env("GATEWAY_PORT", ports.0.to_string())
            .env("FRONTEND_PORT", ports.1.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
    }

    pub fn compose(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(["compose", "-p", &self.project, "-f"])
            .arg(&self.file)
            .args(args)
            .envs(env_pairs(self.env_file))
            .output()
            .unwrap()
    }

    pub fn up(&self) {
        let up = self.compose(&["up", "-d", "--wait", "--wait-timeout", "180"]);
        assert!(up.status.success(), "docker compose up: {}", describe(&up));
    }

    pub fn container(&self, service: &str) -> String {
        format!("{}-{service}-1", self.project)
    }

    /// `fedgen apply` of this stack, with extra arguments (and extra environment).
    pub fn apply(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        fedgen()
            .args(["apply", "-f"])
            .arg(&self.file)
            .args(["--env", self.env_file])
            .args(extra)
            .env(
                "DOCKER_HOST",
                std::env::var("DOCKER_HOST")
                    .unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
            )
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// Container id per service of this project (running or not).
    pub fn ids(&self) -> std::collections::BTreeMap<String, String> {
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

    /// `fedgen diff` of this stack, with extra arguments.
    pub fn diff(&self, extra: &[&str]) -> Output {
        self.diff_with(extra, &[])
    }

    /// `fedgen diff` of this stack, with extra arguments and environment (over DOCKER_HOST).
    pub fn diff_with(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        fedgen()
            .args(["diff", "-f"])
            .arg(&self.file)
            .args(["--env", self.env_file])
            .args(extra)
            .env(
                "DOCKER_HOST",
                std::env::var("DOCKER_HOST")
                    .unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
            )
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans", "-t", "1"]);
        // Containers made by hand under this project's names.
        let ps = docker(&["ps", "-aq", "--filter", &format!("name={}-", self.project)]);
        for id in text(&ps.stdout).lines() {
            let _ = docker(&["rm", "-f", id]);
        }
        // The project's lock on the engine, if an apply died holding it, and its generated
        // secrets' store (and writers a crash left).
        let _ = docker(&["rm", "-f", &format!("fedgen-lock.{}", self.project)]);
        let writers = docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=dev.fedgen.secret-writer={}", self.project),
        ]);
        for id in text(&writers.stdout).lines() {
            let _ = docker(&["rm", "-f", id]);
        }
        let store = docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            "label=dev.fedgen.secret",
        ]);
        for v in text(&store.stdout).lines() {
            let _ = docker(&["volume", "rm", "-f", v]);
        }
        let _ = docker(&[
            "network",
            "prune",
            "-f",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
        ]);
    }
}

/// The shared directory beside the checkout (`../shared`), or `FEDGEN_SHARED`: third-party test
/// data used in place (the Compose corpus, the official images' scripts). Fails, with how to fix
/// it, when it is not there.
pub fn shared(sub: &str) -> PathBuf {
    let base = std::env::var_os("FEDGEN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared"));
    let dir = base.join(sub);
    assert!(
        dir.exists(),
        "{} is missing: this test reads third-party data in place from the shared directory beside the checkout; set FEDGEN_SHARED to where it is",
        dir.display()
    );
    dir
}
