//! The Compose reader against Compose itself: for hand-written files and the compiled goldens,
//! fedgen computes the `config-hash` that `docker compose config --hash` prints (so containers
//! fedgen makes are ones `docker compose up` leaves alone).

mod common;
use common::*;
use fedgen::compose;
use fedgen::diag::{Diagnostics, Sources};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn load(files: &[PathBuf], env: &[(&str, &str)]) -> compose::Project {
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    let opts = compose::Options {
        files: files.to_vec(),
        environ: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        cwd: root(),
        profiles: vec!["*".into()],
        ..compose::Options::default()
    };
    let p = compose::load(&opts, &mut sources, &mut diags);
    let errors: Vec<_> = diags
        .items
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    assert!(
        errors.is_empty() && p.is_some(),
        "{}",
        fedgen::diag::render_human(&errors, &sources)
    );
    p.unwrap()
}

/// `docker compose config --hash '*'`: service -> hash.
fn compose_hashes(
    files: &[PathBuf],
    project: &str,
    env: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let mut cmd = Command::new("docker");
    cmd.args(["compose", "-p", project]);
    for f in files {
        cmd.arg("-f").arg(f);
    }
    let out = cmd
        .args(["--profile", "*", "config", "--hash", "*"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker compose config: {}",
        describe(&out)
    );
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
#[ignore = "needs the oracles (dclint, compose-lint, Compose v2): run scripts/test.sh"]
fn fedgen_computes_the_config_hash_compose_computes() {
    oracle("FEDGEN_COMPOSE_V2");
    let cases: Vec<PathBuf> = [
        "tests/compose/short-syntax.yml",
        "tests/compose/everything.yml",
        "golden/federated-imputation.yml",
        "golden/document-platform.yml",
    ]
    .iter()
    .map(|p| root().join(p))
    .collect();
    let env = [("GREETING", "hi <there> & \"you\"")];
    let mut failures = Vec::new();
    for file in &cases {
        let p = load(std::slice::from_ref(file), &env);
        let want = compose_hashes(std::slice::from_ref(file), &p.compose.name, &env);
        for (svc, hash) in &want {
            if p.compose_hashes.get(svc) != Some(hash) {
                failures.push(format!("{}: {svc}", file.display()));
            }
        }
        assert_eq!(want.len(), p.compose_hashes.len(), "{}", file.display());
    }
    assert!(
        failures.is_empty(),
        "hash differs from Compose's: {failures:#?}"
    );
}

/// What a service of `docker compose config --format json` says, in the terms fedgen's model
/// uses, for a field-by-field comparison.
fn from_compose_json(svc: &serde_json::Value, dir: &Path) -> BTreeMap<&'static str, String> {
    let _ = dir;
    let mut m = BTreeMap::new();
    let s = |v: &serde_json::Value| serde_json::to_string(v).unwrap();
    m.insert(
        "image",
        svc["image"].as_str().unwrap_or_default().to_string(),
    );
    m.insert("command", s(&svc["command"]));
    m.insert("entrypoint", s(&svc["entrypoint"]));
    let env: BTreeMap<String, String> = svc["environment"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    m.insert("environment", format!("{env:?}"));
    let mut ports: Vec<String> = svc["ports"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    format!(
                        "{}:{}:{}/{}",
                        p["host_ip"].as_str().unwrap_or(""),
                        p["published"].as_str().unwrap_or(""),
                        p["target"],
                        p["protocol"].as_str().unwrap_or("tcp")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    ports.sort();
    m.insert("ports", format!("{ports:?}"));
    let mut vols: Vec<String> = svc["volumes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|v| v["type"] != "tmpfs")
                .map(|v| {
                    format!(
                        "{} {} {} ro={}",
                        v["type"].as_str().unwrap_or(""),
                        v["source"].as_str().unwrap_or(""),
                        v["target"].as_str().unwrap_or(""),
                        v["read_only"].as_bool().unwrap_or(false)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    vols.sort();
    m.insert("volumes", format!("{vols:?}"));
    let nets: BTreeMap<String, Vec<String>> = svc["networks"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let mut a: Vec<String> = v["aliases"]
                        .as_array()
                        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                        .unwrap_or_default();
                    a.sort();
                    (k.clone(), a)
                })
                .collect()
        })
        .unwrap_or_default();
    m.insert("networks", format!("{nets:?}"));
    let deps: BTreeMap<String, String> = svc["depends_on"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v["condition"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    m.insert("depends_on", format!("{deps:?}"));
    m.insert(
        "restart",
        svc["restart"].as_str().unwrap_or("no").to_string(),
    );
    let mut secrets: Vec<String> = svc["secrets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    format!(
                        "{}:{}",
                        x["source"].as_str().unwrap_or(""),
                        x["target"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    secrets.sort();
    m.insert("secrets", format!("{secrets:?}"));
    let mut expose: Vec<String> = svc["expose"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    let e = x.as_str().unwrap_or("").to_string();
                    if e.contains('/') {
                        e
                    } else {
                        format!("{e}/tcp")
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    expose.sort();
    m.insert("expose", format!("{expose:?}"));
    for key in [
        "container_name",
        "hostname",
        "user",
        "working_dir",
        "stop_signal",
        "platform",
        "runtime",
        "network_mode",
    ] {
        m.insert(
            match key {
                "container_name" => "container_name",
                "hostname" => "hostname",
                "user" => "user",
                "working_dir" => "working_dir",
                "stop_signal" => "stop_signal",
                "platform" => "platform",
                "runtime" => "runtime",
                _ => "network_mode",
            },
            svc[key].as_str().unwrap_or("").to_string(),
        );
    }
    m.insert("healthcheck", {
        let h = &svc["healthcheck"];
        format!(
            "{} {} {} {}",
            s(&h["test"]),
            h["interval"].as_str().unwrap_or(""),
            h["timeout"].as_str().unwrap_or(""),
            h["retries"]
        )
    });
    m
}

/// The same fields of fedgen's model.
fn from_model(svc: &fedgen::model::Service, dir: &Path) -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    let s = |v: &serde_json::Value| serde_json::to_string(v).unwrap();
    m.insert("image", svc.image.clone());
    m.insert("command", s(&serde_json::to_value(&svc.command).unwrap()));
    m.insert(
        "entrypoint",
        s(&serde_json::to_value(&svc.entrypoint).unwrap()),
    );
    m.insert("environment", format!("{:?}", svc.environment));
    let mut ports: Vec<String> = svc
        .ports
        .iter()
        .map(|p| {
            format!(
                "{}:{}:{}/{}",
                p.host_ip.as_deref().unwrap_or(""),
                p.published.map(|p| p.to_string()).unwrap_or_default(),
                p.target,
                p.protocol
            )
        })
        .collect();
    ports.sort();
    m.insert("ports", format!("{ports:?}"));
    let mut vols: Vec<String> = svc
        .volumes
        .iter()
        .map(|v| {
            let source = if v.kind == "bind" && !v.source.starts_with('/') {
                let joined = dir.join(&v.source);
                let mut out = PathBuf::new();
                for c in joined.components() {
                    match c {
                        std::path::Component::CurDir => {}
                        std::path::Component::ParentDir => {
                            out.pop();
                        }
                        c => out.push(c),
                    }
                }
                out.display().to_string()
            } else {
                v.source.clone()
            };
            format!("{} {} {} ro={}", v.kind, source, v.target, v.read_only)
        })
        .collect();
    vols.sort();
    m.insert("volumes", format!("{vols:?}"));
    let nets: BTreeMap<String, Vec<String>> = svc
        .networks
        .iter()
        .map(|(k, n)| {
            let mut a = n.aliases.clone();
            a.sort();
            (k.clone(), a)
        })
        .collect();
    m.insert("networks", format!("{nets:?}"));
    let deps: BTreeMap<String, String> = svc
        .depends_on
        .iter()
        .map(|(k, d)| (k.clone(), d.condition.as_str().to_string()))
        .collect();
    m.insert("depends_on", format!("{deps:?}"));
    m.insert(
        "restart",
        svc.restart
            .map(|r| r.to_string())
            .unwrap_or_else(|| "no".into()),
    );
    let mut secrets: Vec<String> = svc
        .secrets
        .iter()
        .map(|x| format!("{}:{}", x.source, x.target))
        .collect();
    secrets.sort();
    m.insert("secrets", format!("{secrets:?}"));
    m.insert("expose", format!("{:?}", svc.expose));
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    m.insert("container_name", o(&svc.container_name));
    m.insert("hostname", o(&svc.hostname));
    m.insert("user", o(&svc.user));
    m.insert("working_dir", o(&svc.working_dir));
    m.insert("stop_signal", o(&svc.stop_signal));
    m.insert("platform", o(&svc.platform));
    m.insert("runtime", o(&svc.runtime));
    m.insert("network_mode", o(&svc.network_mode));
    m.insert(
        "healthcheck",
        match &svc.healthcheck {
            None => "null   null".into(),
            Some(h) => format!(
                "{} {} {} {}",
                s(&serde_json::to_value(&h.test).unwrap()),
                h.interval
                    .map(fedgen::compose::hash::go_duration)
                    .unwrap_or_default(),
                h.timeout
                    .map(fedgen::compose::hash::go_duration)
                    .unwrap_or_default(),
                h.retries
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "null".into())
            ),
        },
    );
    m
}

#[test]
#[ignore = "needs the oracles (dclint, compose-lint, Compose v2): run scripts/test.sh"]
fn the_awesome_compose_corpus_reads_as_compose_reads_it() {
    oracle("FEDGEN_COMPOSE_V2");
    let corpus = shared("corpus/awesome-compose");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .flat_map(|d| {
            [
                "compose.yaml",
                "compose.yml",
                "docker-compose.yml",
                "docker-compose.yaml",
            ]
            .iter()
            .map(move |f| d.join(f))
            .filter(|f| f.is_file())
            .collect::<Vec<_>>()
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 39, "the corpus has 39 Compose files");
    let mut table = vec![
        "| project | file | Compose | fedgen | services read | fields that differ | config-hash equal |".to_string(),
        "|---|---|---|---|---|---|---|".to_string(),
    ];
    let (mut accepted, mut compose_ok, mut problems) = (0, 0, Vec::new());
    for file in &files {
        let dir = file.parent().unwrap();
        let project_dir_name = dir.file_name().unwrap().to_string_lossy().to_string();
        let project = format!("corpus-{}", project_dir_name.to_lowercase());
        let out = Command::new("docker")
            .args(["compose", "-p", &project, "-f"])
            .arg(file)
            .args(["config", "--format", "json"])
            .current_dir(dir)
            .output()
            .unwrap();
        let compose_json: Option<serde_json::Value> = out
            .status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap());
        if compose_json.is_some() {
            compose_ok += 1;
        }
        let mut sources = Sources::default();
        let mut diags = Diagnostics::default();
        let opts = compose::Options {
            files: vec![file.clone()],
            project_name: Some(project.clone()),
            environ: [(
                "PATH".to_string(),
                std::env::var("PATH").unwrap_or_default(),
            )]
            .into(),
            cwd: dir.to_path_buf(),
            ..compose::Options::default()
        };
        let p = compose::load(&opts, &mut sources, &mut diags);
        let errors: Vec<_> = diags.items.iter().filter(|d| d.is_error()).collect();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let Some(p) = p.filter(|_| errors.is_empty()) else {
            let mut why: Vec<String> = errors
                .iter()
                .map(|d| {
                    if d.code == fedgen::diag::Code::UnsupportedKey {
                        d.message
                            .split('`')
                            .nth(3)
                            .map(|k| format!("`{k}`"))
                            .unwrap_or_else(|| d.message.clone())
                    } else {
                        d.message.clone()
                    }
                })
                .collect();
            why.sort();
            why.dedup();
            // A refusal is right only when it names a key fedgen does not apply.
            if errors
                .iter()
                .any(|d| d.code != fedgen::diag::Code::UnsupportedKey)
            {
                problems.push(format!(
                    "{project_dir_name}: refused for another reason:\n{}",
                    fedgen::diag::render_human(&diags.items, &sources)
                ));
            }
            table.push(format!(
                "| {project_dir_name} | {name} | {} | refused: {} | - | - | - |",
                if compose_json.is_some() {
                    "accepts"
                } else {
                    "refuses"
                },
                why.join(", ")
            ));
            continue;
        };
        accepted += 1;
        let cj = compose_json.expect("Compose accepts what fedgen accepts");
        let hashes = compose_hashes_in(file, &project, dir);
        let mut differ = Vec::new();
        let mut equal_hashes = 0;
        for (svc, model) in &p.compose.services {
            let theirs = from_compose_json(&cj["services"][svc], dir);
            let ours = from_model(model, dir);
            for (k, v) in &theirs {
                if ours.get(k) != Some(v) {
                    differ.push(format!("{svc}.{k}"));
                    problems.push(format!(
                        "{project_dir_name}: {svc}.{k}: Compose {v}, fedgen {}",
                        ours.get(k).cloned().unwrap_or_default()
                    ));
                }
            }
            let env_file = cj["services"][svc].get("env_file").is_some();
            if hashes.get(svc) == p.compose_hashes.get(svc) {
                equal_hashes += 1;
            } else if !env_file {
                problems.push(format!("{project_dir_name}: {svc}: config-hash differs"));
            }
        }
        table.push(format!(
            "| {project_dir_name} | {name} | accepts | accepts | {} | {} | {equal_hashes}/{} |",
            p.compose.services.len(),
            if differ.is_empty() {
                "none".to_string()
            } else {
                differ.join(", ")
            },
            p.compose.services.len()
        ));
    }
    let summary = format!(
        "{accepted} of {} files accepted by fedgen, {compose_ok} by Compose",
        files.len()
    );
    table.push(String::new());
    table.push(summary.clone());
    let report = table.join("\n");
    let out = root().join("target/compose-corpus.md");
    std::fs::write(&out, &report).unwrap();
    println!("{report}");
    assert!(problems.is_empty(), "{summary}\n{}", problems.join("\n"));
}

fn compose_hashes_in(file: &Path, project: &str, dir: &Path) -> BTreeMap<String, String> {
    let out = Command::new("docker")
        .args(["compose", "-p", project, "-f"])
        .arg(file)
        .args(["config", "--hash", "*"])
        .current_dir(dir)
        .output()
        .unwrap();
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// `docker compose config` prints a file in Compose's canonical form (`required` on every
/// dependency, a `name` on every network, `mode` on every port, absolute paths): fedgen reads it
/// as the same project it reads from the file as written.
#[test]
#[ignore = "needs the oracles (dclint, compose-lint, Compose v2): run scripts/test.sh"]
fn composes_canonical_output_reads_as_the_file_it_came_from() {
    oracle("FEDGEN_COMPOSE_V2");
    let env = [("GREETING", "hi")];
    for case in [
        "tests/compose/short-syntax.yml",
        "tests/compose/everything.yml",
    ] {
        let file = root().join(case);
        let written = load(std::slice::from_ref(&file), &env);
        let out = Command::new("docker")
            .args(["compose", "-p", &written.compose.name, "-f"])
            .arg(&file)
            .args(["--profile", "*", "config"])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        let dir = tempfile::tempdir().unwrap();
        let canonical = dir.path().join("canonical.yml");
        std::fs::write(&canonical, &out.stdout).unwrap();
        let read = load(std::slice::from_ref(&canonical), &env);
        assert_eq!(read.compose.name, written.compose.name);
        for (name, svc) in &written.compose.services {
            assert_eq!(
                from_model(&read.compose.services[name], &written.dir),
                from_model(svc, &written.dir),
                "{case}: {name}"
            );
        }
        assert_eq!(
            read.compose.networks.keys().collect::<Vec<_>>(),
            written.compose.networks.keys().collect::<Vec<_>>(),
            "{case}"
        );
    }
}
