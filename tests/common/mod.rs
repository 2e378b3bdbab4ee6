//! Helpers shared by the integration tests: running the binary, golden files, oracle lookup.
#![allow(dead_code)]

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

/// Compares `actual` with the golden file; `FEDGEN_BLESS=1` writes it instead.
pub fn assert_golden(path: &Path, actual: &str) {
    if std::env::var_os("FEDGEN_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run the tests with FEDGEN_BLESS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual);
        panic!(
            "{} differs from the actual output (FEDGEN_BLESS=1 accepts the new output):\n{}",
            path.display(),
            diff.unified_diff()
                .context_radius(3)
                .header("golden", "actual")
        );
    }
}

/// The path of an external tool given by an environment variable that scripts/test.sh sets.
/// Missing: a failure in CI (or when FEDGEN_REQUIRE_ENGINE is set), a loud skip elsewhere.
pub fn oracle(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if required() {
                panic!("{var} is not set: run the suite with scripts/test.sh, which installs the oracles and the engine");
            }
            eprintln!("SKIPPED: {var} is not set (run scripts/test.sh for the full suite)");
            None
        }
    }
}

pub fn required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("FEDGEN_REQUIRE_ENGINE").is_some()
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

/// Compiles a bundled stack with env.example into `out`; generated secrets go to a fixed
/// directory so the output is the same on every machine.
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
        .args([
            "--secrets-dir",
            &format!("/tmp/fedgen-test-secrets/{stack}"),
        ])
        .output()
        .unwrap()
}
