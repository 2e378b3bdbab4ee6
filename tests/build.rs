//! `fedgen build` through the binary: golden output of every bundled stack, golden errors of every
//! bad input (with exit code 1 and no file written), and the CLI contract (exit codes, --check,
//! --stdout, --format json, no secret value in any output).

mod common;
use common::*;
use std::path::Path;

fn stdout_build(stack: &str) -> std::process::Output {
    fedgen()
        .args([
            "build",
            &format!("stacks/{stack}.yml"),
            "--env",
            "env.example",
            "--stdout",
        ])
        .args([
            "--secrets-dir",
            &format!("/tmp/fedgen-test-secrets/{stack}"),
        ])
        .output()
        .unwrap()
}

#[test]
fn bundled_stacks_match_their_golden_files() {
    let stacks = bundled_stacks();
    assert!(stacks.len() >= 2, "{stacks:?}");
    for stack in stacks {
        let out = stdout_build(&stack);
        assert!(out.status.success(), "{stack}: {}", describe(&out));
        assert_golden(
            &root().join("golden").join(format!("{stack}.yml")),
            &text(&out.stdout),
        );
    }
}

#[test]
fn output_is_deterministic() {
    for stack in bundled_stacks() {
        let a = stdout_build(&stack);
        let b = stdout_build(&stack);
        assert_eq!(
            a.stdout, b.stdout,
            "{stack} compiles to the same bytes twice"
        );
    }
}

#[test]
fn no_secret_value_in_any_output() {
    let secrets = example_secret_values();
    assert_eq!(secrets.len(), 3, "{secrets:?}");
    for stack in bundled_stacks() {
        for format in ["text", "json"] {
            let out = fedgen()
                .args([
                    "build",
                    &format!("stacks/{stack}.yml"),
                    "--env",
                    "env.example",
                    "--stdout",
                    "--format",
                    format,
                ])
                .args([
                    "--secrets-dir",
                    &format!("/tmp/fedgen-test-secrets/{stack}"),
                ])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", describe(&out));
            let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
            for s in &secrets {
                assert!(
                    !all.contains(s.as_str()),
                    "{stack}: secret value {s:?} leaked"
                );
            }
        }
    }
    // Generated secrets stay in their 0600 files.
    let generated =
        std::fs::read_to_string("/tmp/fedgen-test-secrets/document-platform/grafana_admin")
            .unwrap();
    let out = stdout_build("document-platform");
    assert!(!text(&out.stdout).contains(generated.trim()));
}

/// Each `tests/bad/NAME.yml` (with `NAME.env` and `NAME.args` when present) must fail with exit 1,
/// print what `golden/bad/NAME.txt` holds, and leave the output file as it was.
#[test]
fn bad_inputs_fail_with_located_errors_and_write_nothing() {
    let dir = root().join("tests/bad");
    let mut cases: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "yml").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 20,
        "at least 20 bad-input cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let tmp = tempfile::tempdir().unwrap();
        let out_file = tmp.path().join("out.yml");
        std::fs::write(&out_file, "previous\n").unwrap();
        let mut cmd = fedgen();
        cmd.args(["build", &format!("tests/bad/{case}.yml"), "-o"])
            .arg(&out_file);
        cmd.args(["--secrets-dir"]).arg(tmp.path().join("secrets"));
        if dir.join(format!("{case}.env")).exists() {
            cmd.args(["--env", &format!("tests/bad/{case}.env")]);
        }
        if let Ok(args) = std::fs::read_to_string(dir.join(format!("{case}.args"))) {
            cmd.args(args.split_whitespace());
        }
        let out = cmd.output().unwrap();
        if out.status.code() != Some(1) {
            failures.push(format!("{case}: expected exit 1\n{}", describe(&out)));
            continue;
        }
        let stderr = text(&out.stderr);
        if !stderr.contains(&format!("tests/bad/{case}")) && !stderr.contains("--> ") {
            failures.push(format!(
                "{case}: the error names no file and line\n{stderr}"
            ));
        }
        assert_eq!(
            std::fs::read_to_string(&out_file).unwrap(),
            "previous\n",
            "{case}: output file changed"
        );
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "{case}: files left behind: {left:?}");
        assert_golden(
            &root().join("golden/bad").join(format!("{case}.txt")),
            &stderr,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn usage_errors_exit_64() {
    for args in [
        vec!["build"],
        vec!["build", "x.yml", "--bogus"],
        vec!["frobnicate"],
        vec![],
    ] {
        let out = fedgen().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", describe(&out));
    }
    let out = fedgen().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn check_reports_drift_with_exit_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out_file = tmp.path().join("c.yml");
    let out = build_bundled("federated-imputation", &out_file);
    assert!(out.status.success(), "{}", describe(&out));
    let check = |f: &Path| {
        fedgen()
            .args([
                "build",
                "stacks/federated-imputation.yml",
                "--env",
                "env.example",
                "--check",
                "-o",
            ])
            .arg(f)
            .args([
                "--secrets-dir",
                "/tmp/fedgen-test-secrets/federated-imputation",
            ])
            .output()
            .unwrap()
    };
    let ok = check(&out_file);
    assert_eq!(ok.status.code(), Some(0), "{}", describe(&ok));
    let edited = std::fs::read_to_string(&out_file)
        .unwrap()
        .replace("unless-stopped", "no");
    std::fs::write(&out_file, &edited).unwrap();
    let drift = check(&out_file);
    assert_eq!(drift.status.code(), Some(2), "{}", describe(&drift));
    assert!(
        text(&drift.stderr).contains("-    restart: no"),
        "{}",
        describe(&drift)
    );
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        edited,
        "--check writes nothing"
    );
    let missing = check(&tmp.path().join("absent.yml"));
    assert_eq!(missing.status.code(), Some(2));
    assert!(!tmp.path().join("absent.yml").exists());
}

#[test]
fn json_format_is_machine_readable() {
    let out = fedgen()
        .args([
            "build",
            "tests/bad/unknown-service-key.yml",
            "--format",
            "json",
            "-o",
            "/nonexistent/x.yml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("one JSON document on stdout");
    assert_eq!(v["version"], 1);
    assert_eq!(v["status"], "invalid");
    let d = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "unknown-key")
        .expect("unknown-key reported");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], "tests/bad/unknown-service-key.yml");
    assert!(d["line"].as_u64().unwrap() > 0 && d["column"].as_u64().unwrap() > 0);
    assert!(d["hint"].as_str().unwrap().contains("did you mean"));

    let tmp = tempfile::tempdir().unwrap();
    let ok = fedgen()
        .args([
            "build",
            "stacks/federated-imputation.yml",
            "--env",
            "env.example",
            "--format",
            "json",
            "-o",
        ])
        .arg(tmp.path().join("c.yml"))
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", describe(&ok));
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["services"], 9);
}

#[test]
fn process_environment_wins_over_the_env_file() {
    let out = fedgen()
        .args([
            "build",
            "stacks/federated-imputation.yml",
            "--env",
            "env.example",
            "--stdout",
        ])
        .env("TAG", "9.9.9")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(text(&out.stdout).contains("/api-gateway:9.9.9"));
}

#[test]
fn generated_secrets_are_made_once_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let sdir = tmp.path().join("s");
    let run = || {
        fedgen()
            .args([
                "build",
                "stacks/document-platform.yml",
                "--env",
                "env.example",
                "-o",
            ])
            .arg(tmp.path().join("c.yml"))
            .arg("--secrets-dir")
            .arg(&sdir)
            .output()
            .unwrap()
    };
    assert!(run().status.success());
    let first = std::fs::read_to_string(sdir.join("grafana_admin")).unwrap();
    assert_eq!(first.len(), 64);
    assert_eq!(
        std::fs::metadata(sdir.join("grafana_admin"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(run().status.success());
    assert_eq!(
        std::fs::read_to_string(sdir.join("grafana_admin")).unwrap(),
        first,
        "reused, not regenerated"
    );
    let compose = std::fs::read_to_string(tmp.path().join("c.yml")).unwrap();
    assert!(compose.contains(&format!("file: {}", sdir.join("grafana_admin").display())));
    assert!(!compose.contains(first.trim()));
}

#[test]
fn kinds_reference_in_docs_is_up_to_date() {
    let out = fedgen().args(["kinds", "--markdown"]).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_golden(&root().join("docs/kinds.md"), &text(&out.stdout));
}
