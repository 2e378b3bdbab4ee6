//! The command line's contract as data: every `tests/cmd/NAME.toml` is one case.
//!
//! ```toml
//! args = ["build", "spec.yml", "-o", "out.yml"]   # `{root}` is the repository
//! status = 1                                       # the exit code
//! env = { TAG = "1.0" }                            # optional, over PATH and a fake HOME
//! stdin = "..."                                    # optional
//! ```
//!
//! The command runs in a copy of `NAME.in/` (an empty directory when there is none), or with
//! `root = true` in the repository itself; its stdout and stderr must equal `NAME.stdout` and
//! `NAME.stderr` (both files must exist; `[..]` matches any text in a line, `...` any lines; the
//! temporary directory reads as `[CWD]`, the repository as `[ROOT]`). A case that
//! exits 1 (invalid input) must also leave the directory exactly as it found it: no half-written
//! file, nothing left behind. `SNAPSHOTS=overwrite cargo test --test cli` writes the expected
//! outputs; adding a case is adding files.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    args: Vec<String>,
    status: i32,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    stdin: Option<String>,
    /// Run in the repository itself (read-only cases on its stacks and golden files).
    #[serde(default)]
    root: bool,
}

/// Copies a case's input tree (symbolic links as links) into `to`.
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = std::fs::symlink_metadata(&src).unwrap();
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if meta.is_dir() {
            std::fs::create_dir(&dst).unwrap();
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Every file, link and directory under `dir`, with its content or target.
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(
                    rel,
                    format!("-> {}", std::fs::read_link(&p).unwrap().display()),
                );
            } else if meta.is_dir() {
                out.insert(rel, "dir".into());
                stack.push(p);
            } else {
                out.insert(
                    rel,
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into(),
                );
            }
        }
    }
    out
}

fn run_case(toml_path: &Path) -> Result<(), String> {
    let name = toml_path.file_stem().unwrap().to_str().unwrap();
    let dir = toml_path.parent().unwrap();
    let case: Case = toml::from_str(&std::fs::read_to_string(toml_path).unwrap())
        .map_err(|e| format!("{name}.toml: {e}"))?;
    let sandbox = tempfile::tempdir().unwrap();
    let input = dir.join(format!("{name}.in"));
    if input.is_dir() {
        copy_tree(&input, sandbox.path());
    }
    let before = tree(sandbox.path());
    let root = root();
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| a.replace("{root}", root.to_str().unwrap()))
        .collect();
    let mut cmd = fedgen();
    let cwd_dir = if case.root {
        root.clone()
    } else {
        sandbox.path().to_path_buf()
    };
    cmd.current_dir(&cwd_dir).args(&args).envs(&case.env);
    let out = match &case.stdin {
        Some(stdin) => {
            use std::io::Write;
            use std::process::Stdio;
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(stdin.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        }
        None => cmd.output().unwrap(),
    };
    let cwd = sandbox.path().to_str().unwrap().to_string();
    let root_text = root.to_str().unwrap().to_string();
    let shown = |bytes: &[u8]| {
        text(bytes)
            .replace(&cwd, "[CWD]")
            .replace(&root_text, "[ROOT]")
    };
    let mut failures = Vec::new();
    if out.status.code() != Some(case.status) {
        failures.push(format!(
            "exit {:?}, expected {}\n--- stdout\n{}\n--- stderr\n{}",
            out.status.code(),
            case.status,
            shown(&out.stdout),
            shown(&out.stderr)
        ));
    }
    for (stream, actual) in [
        ("stdout", shown(&out.stdout)),
        ("stderr", shown(&out.stderr)),
    ] {
        let expected = dir.join(format!("{name}.{stream}"));
        if !expected.exists() && std::env::var("SNAPSHOTS").as_deref() != Ok("overwrite") {
            failures.push(format!(
                "{} is missing: every case states its stdout and stderr (SNAPSHOTS=overwrite writes them)",
                expected.display()
            ));
            continue;
        }
        let assert = snapbox::Assert::new()
            .action_env(snapbox::assert::DEFAULT_ACTION_ENV)
            .normalize_paths(false);
        if let Err(e) = assert.try_eq(
            Some(&format!("{name}.{stream}")),
            actual.into(),
            snapbox::Data::read_from(&expected, None),
        ) {
            failures.push(e.to_string());
        }
    }
    if case.status == 1 {
        let after = tree(sandbox.path());
        if after != before {
            failures.push(format!(
                "invalid input changed the directory: before {:?}, after {:?}",
                before.keys().collect::<Vec<_>>(),
                after.keys().collect::<Vec<_>>()
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{name}:\n{}", failures.join("\n")))
    }
}

fn cases() -> Vec<PathBuf> {
    let dir = root().join("tests/cmd");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    cases
}

#[test]
fn every_case_gives_its_output_and_exit_code() {
    let cases = cases();
    assert!(cases.len() >= 60, "found only {} cases", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|c| run_case(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Every diagnostic code of an input error has a case that shows it (docs/diagnostics.md
/// points at them), except those no input file can produce.
#[test]
fn every_diagnostic_code_has_a_case() {
    use fedgen::diag::Code;
    let outputs: String = std::fs::read_dir(root().join("tests/cmd"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "stderr" || e == "stdout")
        })
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    // Not producible from a file in the repository: a fedgen bug, a 4 MiB spec, a template that
    // only a broken build could ship, a 4 MiB Compose file.
    let exempt = [Code::Internal, Code::SpecTooLarge, Code::YamlTooLarge];
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| !exempt.contains(c))
        .filter(|c| {
            !outputs.contains(&format!("[{}]", c.as_str()))
                && !outputs.contains(&format!("\"code\":\"{}\"", c.as_str()))
        })
        .map(|c| c.as_str())
        .collect();
    assert!(missing.is_empty(), "codes without a case: {missing:?}");
}

/// docs/diagnostics.md: every code with what it means and a case that shows it, generated here
/// from `Code::ALL` and the cases' outputs (`SNAPSHOTS=overwrite` rewrites it).
#[test]
fn diagnostics_reference_in_docs_is_up_to_date() {
    use fedgen::diag::Code;
    let mut outputs: Vec<(String, String)> = cases()
        .iter()
        .map(|c| {
            let name = c.file_stem().unwrap().to_str().unwrap().to_string();
            let stderr = std::fs::read_to_string(c.with_extension("stderr")).unwrap_or_default();
            (name, stderr)
        })
        .collect();
    outputs.sort();
    let mut md = String::from(
        "# Diagnostic codes\n\n\
         Every problem `fedgen build` reports carries one of these codes: in the text output as\n\
         `error[code]`, in `--format json` as `\"code\"`. They are a public contract: a code is\n\
         never renamed or reused. Generated from `src/diag/code.rs` and the cases in `tests/cmd/`\n\
         by `tests/cli.rs`; each example is the first line a case prints.\n\n\
         | code | meaning | example |\n|---|---|---|\n",
    );
    for code in Code::ALL {
        let tag = format!("[{}]", code.as_str());
        let example = outputs.iter().find_map(|(name, out)| {
            out.lines()
                .find(|l| l.contains(&tag))
                .map(|l| format!("`` {} `` (tests/cmd/{name}.toml)", l.replace('|', "\\|")))
        });
        md.push_str(&format!(
            "| `{}` | {} | {} |\n",
            code.as_str(),
            code.summary(),
            example.unwrap_or_else(|| "none: no input file can cause it".into())
        ));
    }
    assert_golden(&root().join("docs/diagnostics.md"), &md);
}

/// The bash completion loads in bash and completes commands and flags (`fedgen di` -> `diff`,
/// `fedgen apply --con` -> `--context`).
#[test]
fn the_bash_completion_completes_commands_and_flags() {
    let bin = env!("CARGO_BIN_EXE_fedgen");
    for (words, cword, want) in [
        ("fedgen di", 1, "diff"),
        ("fedgen apply --con", 2, "--context"),
        ("fedgen secrets ro", 2, "rotate"),
    ] {
        let script = format!(
            "source <({bin} completions bash) && COMP_WORDS=({words}) && COMP_CWORD={cword} && \
             _fedgen fedgen \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\" && \
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let out = std::process::Command::new("bash")
            .args(["--noprofile", "--norc", "-c", &script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        assert_eq!(
            text(&out.stdout).trim(),
            want,
            "{words}: {}",
            describe(&out)
        );
    }
}
