//! `fedgen lint` against what it exists for and what judges it: seed 000's stack (one finding per
//! cause of the outage, each on its line), no secret value in any output, the SARIF log against
//! the official SARIF 2.1.0 schema, fedgen's own compiled output as the safe reference (no
//! finding), the awesome-compose corpus (never a crash; every `--spec` builds), and docs/lint.md
//! in step with the rules in the code.

mod common;
use common::*;
use fedgen::compose;
use fedgen::diag::{Diagnostics, Severity, Sources};
use fedgen::lint::{self, Rule};
use std::path::{Path, PathBuf};

const SEED: &str = "tests/cmd/lint-seed-000.in/compose.yml";
/// The placeholder secrets the seed's file writes in plain sight: no output may show them.
const SEED_SECRETS: &[&str] = &[
    "placeholder-jwt-7c0ffee5d1ce4b1e",
    "placeholder-db-password",
];
/// The secrets the other lint cases write (tests/cmd/lint-*.in): no expected output shows them.
const CASE_SECRETS: &[&str] = &[
    "t0ken-never-shown",
    "never-printed-pg",
    "sk_never_printed",
    "s3cret-in-base",
    "list-form-secret-value",
];

fn lint_file(file: &Path) -> (lint::Outcome, Sources, compose::Project) {
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    let opts = compose::Options {
        files: vec![file.to_path_buf()],
        cwd: file.parent().unwrap().to_path_buf(),
        environ: [(
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_default(),
        )]
        .into(),
        lenient: true,
        ..compose::Options::default()
    };
    let project = compose::load(&opts, &mut sources, &mut diags).unwrap_or_else(|| {
        panic!(
            "{}: {}",
            file.display(),
            fedgen::diag::render_human(&diags.items, &sources)
        )
    });
    let out = lint::check(&project, &sources, &lint::Options::default());
    (out, sources, project)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?}"))
        + 1
}

/// Seed 000: seven services without a restart policy (down after the reboot), the JWT secret in
/// plain environment in job-processor and read from /tmp in the others (gone after the reboot,
/// so the services disagreed on it), and redis on a network job-processor is not on. Each cause is
/// one error, on the line that says it; nothing else is an error but the database passwords
/// written into URLs.
#[test]
fn seed_000_gives_one_finding_per_cause_of_the_outage_on_its_line() {
    let file = root().join(SEED);
    let text = std::fs::read_to_string(&file).unwrap();
    let (out, _, _) = lint_file(&file);
    let mut want: Vec<(Rule, usize)> = [
        "api-gateway",
        "user-service",
        "service-registry",
        "job-processor",
        "file-manager",
        "monitoring",
        "frontend",
    ]
    .iter()
    .map(|s| (Rule::NoRestartPolicy, line_of(&text, &format!("  {s}:"))))
    .collect();
    want.push((Rule::PlainSecret, line_of(&text, "JWT_SECRET: placeholder")));
    want.push((
        Rule::VolatileHostPath,
        line_of(&text, "- /tmp/jwt_secret.txt:"),
    ));
    want.push((
        Rule::VolatileHostPath,
        line_of(&text, "file: /tmp/jwt_secret.txt"),
    ));
    want.push((
        Rule::UnreachableDependency,
        line_of(&text, "depends_on: [db, redis]"),
    ));
    // Not a cause of the outage, but errors all the same: a password inside each DATABASE_URL.
    for (i, l) in text.lines().enumerate() {
        if l.contains("DATABASE_URL: postgresql://postgres:placeholder") {
            want.push((Rule::PlainSecret, i + 1));
        }
    }
    want.sort();
    let mut got: Vec<(Rule, usize)> = out
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| (f.rule, f.span.line))
        .collect();
    got.sort();
    assert_eq!(got, want);
    // The two from Compose with `restart: unless-stopped` came back: no restart finding.
    assert!(!out
        .findings
        .iter()
        .any(|f| f.rule == Rule::NoRestartPolicy
            && matches!(f.service.as_deref(), Some("db" | "redis"))));
    // No service has a healthcheck, and each is told so once, at its name.
    let unchecked = out
        .findings
        .iter()
        .filter(|f| f.rule == Rule::NoHealthcheck)
        .count();
    assert_eq!(unchecked, 9);
}

/// The secret values written in the seed's file appear in no output of any format, nor in
/// `--spec`; nor does any secret of the other lint cases appear in their expected outputs (which
/// the CLI test compares with what lint prints).
#[test]
fn no_output_shows_a_secret_value() {
    let dir = root().join("tests/cmd/lint-seed-000.in");
    let mut outputs = Vec::new();
    for args in [
        vec!["lint", "compose.yml"],
        vec!["lint", "compose.yml", "--format", "json"],
        vec!["lint", "compose.yml", "--format", "sarif"],
        vec!["lint", "--spec", "compose.yml"],
    ] {
        let out = fedgen().current_dir(&dir).args(&args).output().unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {}",
            describe(&out)
        );
        outputs.push((format!("{args:?}"), describe(&out)));
    }
    for entry in std::fs::read_dir(root().join("tests/cmd")).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("lint-") && (name.ends_with(".stdout") || name.ends_with(".stderr")) {
            outputs.push((name, std::fs::read_to_string(&p).unwrap()));
        }
    }
    for (what, text) in &outputs {
        for secret in SEED_SECRETS.iter().chain(CASE_SECRETS) {
            assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
        }
    }
    // And the text output does point at the lines, with the values hidden.
    assert!(
        outputs[0].1.contains("JWT_SECRET: ********"),
        "{}",
        outputs[0].1
    );
}

/// The SARIF log (of the seed, of a file that lints clean, of a file that does not parse) is
/// valid against the official SARIF 2.1.0 schema, and has what GitHub code scanning reads.
#[test]
#[ignore = "needs the oracles (the SARIF 2.1.0 schema): run scripts/test.sh"]
fn sarif_output_is_valid_sarif_2_1_0() {
    let schema_path = oracle("FEDGEN_SARIF_SCHEMA");
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&schema_path).unwrap()).unwrap();
    // The schema names its draft by a URI the validator knows; its own `id` is a remote URL that
    // must not be fetched, and nothing in it refers to it.
    schema.as_object_mut().unwrap().remove("id");
    let validator = jsonschema::draft4::new(&schema).expect("the schema compiles");
    // The oracle must be able to say no.
    let bad = serde_json::json!({"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]});
    assert!(!validator.is_valid(&bad), "the schema wants a driver name");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("clean.yml"),
        "services:\n  web:\n    image: nginx:1.27.0\n    restart: unless-stopped\n    healthcheck: {test: [CMD, \"true\"]}\n    logging: {driver: local}\n    mem_limit: 64m\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("broken.yml"), "services: [\n").unwrap();
    let cases: Vec<(PathBuf, &str)> = vec![
        (root().join("tests/cmd/lint-seed-000.in"), "compose.yml"),
        (tmp.path().to_path_buf(), "clean.yml"),
        (tmp.path().to_path_buf(), "broken.yml"),
    ];
    for (dir, file) in cases {
        let out = fedgen()
            .current_dir(&dir)
            .args(["lint", file, "--format", "sarif"])
            .output()
            .unwrap();
        let log: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{file}: not JSON ({e}): {}", describe(&out)));
        let errors: Vec<String> = validator
            .iter_errors(&log)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{file}: schema errors:\n{}",
            errors.join("\n")
        );
        let run = &log["runs"][0];
        let driver = &run["tool"]["driver"];
        assert_eq!(driver["name"], "fedgen");
        assert_eq!(driver["rules"].as_array().unwrap().len(), Rule::ALL.len());
        for r in driver["rules"].as_array().unwrap() {
            for key in ["id", "name", "shortDescription", "fullDescription", "help"] {
                assert!(!r[key].is_null(), "{file}: rule without {key}: {r}");
            }
            assert!(r["help"]["markdown"].is_string());
            assert!(r["defaultConfiguration"]["level"].is_string());
            assert!(r["properties"]["tags"].is_array());
        }
        for res in run["results"].as_array().unwrap() {
            let index = res["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(driver["rules"][index]["id"], res["ruleId"]);
            let loc = &res["locations"][0]["physicalLocation"];
            assert_eq!(loc["artifactLocation"]["uri"], file);
            assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
            assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
            assert!(res["partialFingerprints"]
                .as_object()
                .is_some_and(|o| !o.is_empty()));
        }
        let ok = run["invocations"][0]["executionSuccessful"]
            .as_bool()
            .unwrap();
        assert_eq!(ok, file != "broken.yml", "{file}");
    }
}

/// fedgen's own output is the safe reference: each bundled stack (whose generated secrets are
/// made on the engine, so the file names no host path for them) lints with no finding at all.
#[test]
fn fedgens_compiled_stacks_have_no_finding() {
    let tmp = tempfile::tempdir().unwrap();
    for stack in bundled_stacks() {
        let out_file = tmp.path().join(format!("{stack}.yml"));
        let o = fedgen()
            .args([
                "build",
                &format!("stacks/{stack}.yml"),
                "--env",
                "env.example",
                "-o",
            ])
            .arg(&out_file)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", describe(&o));
        let (out, _, _) = lint_file(&out_file);
        let found: Vec<String> = out
            .findings
            .iter()
            .map(|f| format!("{} {}: {}", f.rule, f.span.line, f.message))
            .collect();
        assert!(found.is_empty(), "{stack}:\n{}", found.join("\n"));
    }
}

/// The golden files lint clean too: their generated secrets are made on the engine, so they
/// name no path (under /tmp or anywhere else) for them.
#[test]
fn the_goldens_have_no_finding() {
    for golden in ["federated-imputation", "document-platform"] {
        let file = root().join(format!("golden/{golden}.yml"));
        let (out, _, _) = lint_file(&file);
        let found: Vec<String> = out
            .findings
            .iter()
            .map(|f| format!("{} {}: {}", f.rule, f.span.line, f.message))
            .collect();
        assert!(found.is_empty(), "{golden}:\n{}", found.join("\n"));
    }
}

/// `fedgen lint --spec` of a hand-written file (seed 000's) is a spec `fedgen build` accepts,
/// given the variables of the secrets it names; what it compiles to has no finding but the
/// unpinned images the spec marks TODO.
#[test]
fn the_suggested_spec_builds_and_lints_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let out = fedgen()
        .current_dir(root().join("tests/cmd/lint-seed-000.in"))
        .args(["lint", "--spec", "compose.yml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let spec = text(&out.stdout);
    check_spec_builds(&spec, tmp.path(), &[Rule::ImageLatest]);
    assert!(
        spec.contains("jwt_secret: { env: \"JWT_SECRET\" }"),
        "{spec}"
    );
}

/// Writes `spec` into `dir` with a `.env` setting every variable it reads a secret from, builds
/// it, and lints the result: only the rules in `allowed` may fire.
fn check_spec_builds(spec: &str, dir: &Path, allowed: &[Rule]) {
    let spec_file = dir.join("spec.yml");
    std::fs::write(&spec_file, spec).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(spec).unwrap();
    let vars: String = doc["secrets"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(_, s)| s["env"].as_str().map(|v| format!("{v}=x\n")))
        .collect();
    std::fs::write(dir.join(".env"), vars).unwrap();
    let built = dir.join("compose.yml");
    let o = fedgen()
        .current_dir(dir)
        .args(["build", "spec.yml", "--env", ".env", "-o", "compose.yml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{spec}\n{}", describe(&o));
    let (out, _, _) = lint_file(&built);
    let other: Vec<String> = out
        .findings
        .iter()
        .filter(|f| !allowed.contains(&f.rule))
        .map(|f| format!("{} {}: {}", f.rule, f.span.line, f.message))
        .collect();
    assert!(other.is_empty(), "{spec}\n{}", other.join("\n"));
}

fn corpus_files() -> Vec<PathBuf> {
    let corpus = shared("corpus/awesome-compose");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for name in compose::DEFAULT_FILES {
            let f = dir.join(name);
            if f.is_file() {
                files.push(f);
            }
        }
    }
    files.sort();
    assert_eq!(files.len(), 39, "the corpus has 39 Compose files");
    files
}

/// Every file of the awesome-compose corpus lints (no crash, no refusal: `build:` is read and
/// left aside), and its suggested spec builds into a file with no finding but those its TODOs
/// name (unpinned images, a kept Docker socket).
#[test]
#[ignore = "needs the shared corpus (../shared or FEDGEN_SHARED): run scripts/test.sh"]
fn every_corpus_file_lints_and_its_spec_builds() {
    let mut failures = Vec::new();
    for file in corpus_files() {
        let dir = file.parent().unwrap();
        let out = fedgen()
            .current_dir(dir)
            .arg("lint")
            .arg(&file)
            .args(["--format", "json"])
            .output()
            .unwrap();
        let doc: serde_json::Value = match serde_json::from_slice(&out.stdout) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{}: {e}: {}", file.display(), describe(&out)));
                continue;
            }
        };
        if out.status.code() != Some(1) || doc["summary"]["unreadable"] != 0 {
            failures.push(format!("{}: {}", file.display(), describe(&out)));
        }
        let spec = fedgen()
            .current_dir(dir)
            .args(["lint", "--spec"])
            .arg(&file)
            .output()
            .unwrap();
        if !spec.status.success() {
            failures.push(format!("{} --spec: {}", file.display(), describe(&spec)));
            continue;
        }
        let tmp = tempfile::tempdir().unwrap();
        let checked = std::panic::catch_unwind(|| {
            check_spec_builds(
                &text(&spec.stdout),
                tmp.path(),
                &[Rule::ImageLatest, Rule::DockerSocket],
            )
        });
        if checked.is_err() {
            failures.push(format!("{}: the suggested spec (above)", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// docs/lint.md lists exactly the rules of the code, each with its severity, rationale, fix and
/// example: the section between its markers is generated here (`SNAPSHOTS=overwrite` rewrites it).
#[test]
fn docs_lint_md_lists_exactly_the_rules() {
    let path = root().join("docs/lint.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (start, end) = ("<!-- rules:begin -->\n", "<!-- rules:end -->");
    let a = doc
        .find(start)
        .expect("docs/lint.md has a rules:begin marker")
        + start.len();
    let b = doc.find(end).expect("docs/lint.md has a rules:end marker");
    let mut md = String::from("| rule | severity | finds | about |\n|---|---|---|---|\n");
    for r in Rule::ALL {
        md.push_str(&format!(
            "| [`{}`](#{}) | {} | {} | {} |\n",
            r.id(),
            r.id(),
            severity(r.severity()),
            r.title(),
            r.tags().join(", ")
        ));
    }
    for r in Rule::ALL {
        md.push_str(&format!(
            "\n### `{}`\n\n{} ({}). {}\n\n**Fix:** {}\n\n```yaml\n{}```\n",
            r.id(),
            r.title(),
            severity(r.severity()),
            r.rationale(),
            r.fix(),
            r.example()
        ));
    }
    md.push('\n');
    let updated = format!("{}{md}{}", &doc[..a], &doc[b..]);
    assert_golden(&path, &updated);
    // The comparison with dclint and compose-lint has one row per rule, no more, no less.
    let table = &doc[doc
        .find("## Against dclint")
        .expect("docs/lint.md compares with dclint")..];
    let mut rows: Vec<&str> = table
        .lines()
        .skip_while(|l| !l.starts_with("| fedgen rule"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('`').nth(1))
        .collect();
    let mut ids: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
    rows.sort();
    ids.sort();
    assert_eq!(rows, ids, "docs/lint.md's comparison table");
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}
