//! `fedgen build` through the binary: golden output of every bundled stack, determinism, no secret
//! value in any output, generated secrets left to the engine (the file names no path of the
//! building machine, and `build --check` passes on another checkout with another HOME). (Bad
//! input, exit codes and the other flags are cases in `tests/cmd/`, run by `tests/cli.rs`.)

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
}

/// Two runners: two checkouts in different directories, two HOMEs (and XDG_STATE_HOME), each
/// building the bundled document-platform (which generates secrets). The compiled files are the
/// same bytes, name no path of either machine, and `build --check` passes on each with the
/// other's file: generated secrets are made on the engine by the first apply, not here.
#[test]
fn generated_secrets_leave_no_path_of_the_building_machine() {
    let runners: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut files = Vec::new();
    for (i, r) in runners.iter().enumerate() {
        let checkout = r.path().join(format!("checkout-{i}"));
        let home = r.path().join(format!("home-{i}"));
        std::fs::create_dir_all(checkout.join("stacks")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::copy(
            root().join("stacks/document-platform.yml"),
            checkout.join("stacks/document-platform.yml"),
        )
        .unwrap();
        std::fs::copy(root().join("env.example"), checkout.join(".env")).unwrap();
        let build = |extra: &[&str]| {
            fedgen()
                .current_dir(&checkout)
                .env("HOME", &home)
                .env("XDG_STATE_HOME", home.join(".local/state"))
                .args([
                    "build",
                    "stacks/document-platform.yml",
                    "--env",
                    ".env",
                    "-o",
                ])
                .arg("docker-compose.microservices.yml")
                .args(extra)
                .output()
                .unwrap()
        };
        let out = build(&[]);
        assert!(out.status.success(), "{}", describe(&out));
        let compose =
            std::fs::read_to_string(checkout.join("docker-compose.microservices.yml")).unwrap();
        for place in [r.path(), home.as_path(), checkout.as_path()] {
            assert!(
                !compose.contains(place.to_str().unwrap()),
                "the file names {}",
                place.display()
            );
        }
        assert!(compose.contains("x-fedgen-generate: 32"), "{compose}");
        assert!(!std::fs::exists(home.join(".local/state/fedgen")).unwrap());
        let check = build(&["--check"]);
        assert_eq!(check.status.code(), Some(0), "{}", describe(&check));
        files.push((compose, checkout));
    }
    assert_eq!(files[0].0, files[1].0, "the same bytes on both runners");
    // Each runner's check passes on the other's file too.
    std::fs::copy(
        files[0].1.join("docker-compose.microservices.yml"),
        files[1].1.join("docker-compose.microservices.yml"),
    )
    .unwrap();
    let check = fedgen()
        .current_dir(&files[1].1)
        .env("HOME", runners[0].path())
        .args([
            "build",
            "stacks/document-platform.yml",
            "--env",
            ".env",
            "--check",
        ])
        .args(["-o", "docker-compose.microservices.yml"])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", describe(&check));
}

#[test]
fn kinds_reference_in_docs_is_up_to_date() {
    let out = fedgen().args(["kinds", "--markdown"]).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_golden(&root().join("docs/kinds.md"), &text(&out.stdout));
}
