//! `fedgen build` through the binary: golden output of every bundled stack, determinism, no secret
//! value in any output, generated secrets. (Bad input, exit codes and the other flags are cases
//! in `tests/cmd/`, run by `tests/cli.rs`.)

mod common;
use common::*;

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
