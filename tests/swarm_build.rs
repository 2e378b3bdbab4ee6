//! `fedgen build --target swarm`: the stack file of every bundled stack against its golden file,
//! determinism, no secret value in it, and the Docker CLI's own reading of it (`docker stack
//! config`, the loader and schema check of `docker stack deploy`).

mod common;
use common::*;

fn swarm_build(stack: &str) -> std::process::Output {
    fedgen()
        .args([
            "build",
            &format!("stacks/{stack}.yml"),
            "--env",
            "env.example",
            "--target",
            "swarm",
            "--stdout",
        ])
        // The bundled stacks bind published ports to 127.0.0.1, which a swarm cannot.
        .env("PUBLISH_IP", "0.0.0.0")
        .output()
        .unwrap()
}

#[test]
fn bundled_stacks_match_their_swarm_golden_files() {
    for stack in bundled_stacks() {
        let out = swarm_build(&stack);
        assert!(out.status.success(), "{stack}: {}", describe(&out));
        assert_golden(
            &root().join("golden/swarm").join(format!("{stack}.yml")),
            &text(&out.stdout),
        );
        let again = swarm_build(&stack);
        assert_eq!(out.stdout, again.stdout, "{stack}: the same bytes twice");
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        for secret in example_secret_values() {
            assert!(
                !all.contains(&secret),
                "{stack}: a secret value in the output"
            );
        }
    }
}

#[test]
fn the_spec_can_name_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yml");
    std::fs::write(
        &spec,
        "name: shop\ntarget: swarm\nservices:\n  web: { kind: http, image: shop/web:1.0 }\n",
    )
    .unwrap();
    let out = fedgen()
        .current_dir(dir.path())
        .args(["build", "spec.yml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let file = std::fs::read_to_string(dir.path().join("docker-stack.microservices.yml")).unwrap();
    assert!(file.contains("version: '3.9'"), "{file}");
    // --target wins over the spec.
    let out = fedgen()
        .current_dir(dir.path())
        .args(["build", "spec.yml", "--target", "compose"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(dir.path().join("docker-compose.microservices.yml").exists());
}

/// The Docker CLI reads every stack file as `docker stack deploy` would (its loader, interpolation
/// and the 3.9 JSON schema), and reads back the same services.
#[test]
#[ignore = "needs the Docker CLI 23 or later (docker stack config): run scripts/test.sh"]
fn docker_stack_config_accepts_every_stack_file() {
    let version = docker(&["version", "--format", "{{.Client.Version}}"]);
    let v = text(&version.stdout);
    let major: u32 = v
        .split('.')
        .next()
        .unwrap_or("0")
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(
        major >= 23,
        "docker stack config needs the Docker CLI 23 or later, this is `{}`",
        v.trim()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut stacks: Vec<(String, String)> = bundled_stacks()
        .into_iter()
        .map(|s| {
            let out = swarm_build(&s);
            assert!(out.status.success(), "{s}: {}", describe(&out));
            (s, text(&out.stdout))
        })
        .collect();
    let standin = fedgen()
        .args(["build", "tests/stacks/standin.yml", "--env"])
        .arg("tests/stacks/standin.env")
        .args(["--target", "swarm", "--stdout"])
        .output()
        .unwrap();
    assert!(standin.status.success(), "{}", describe(&standin));
    stacks.push(("standin".into(), text(&standin.stdout)));
    for (name, yaml) in stacks {
        let file = dir.path().join(format!("{name}.yml"));
        std::fs::write(&file, &yaml).unwrap();
        let out = std::process::Command::new("docker")
            .args(["stack", "config", "-c"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", describe(&out));
        let read: serde_json::Value = serde_norway::from_slice(&out.stdout).unwrap();
        // fedgen's reader undoes the `$$` escaping, as the CLI's interpolation does.
        let ours =
            serde_json::to_value(fedgen::model::swarm::Stack::from_yaml(&yaml).unwrap()).unwrap();
        let names = |v: &serde_json::Value| -> Vec<String> {
            v["services"].as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(names(&read), names(&ours), "{name}");
        assert_eq!(read["x-fedgen"], ours["x-fedgen"], "{name}");
    }
}
