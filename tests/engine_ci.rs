//! The pipeline recipes run: every `run:` step of examples/ci/github-actions.yml and every
//! script of examples/ci/gitlab-ci.yml, as the CI service would run them (bash -eo pipefail, the
//! workflow's, job's and step's variables, the secrets as variables), against the local engine
//! through an sshd of the test's own, on the document-platform stand-ins. Steps that talk to the
//! CI service itself (`uses:` actions: checkout, artifacts, the PR comment) and the step that
//! installs fedgen (the binary under test is on PATH instead) are not run. Sequence: check
//! passes; the plan on a pull request exits 2 with a Markdown summary; apply on main converges;
//! the plan is then in sync; a stale compose file fails the check.

mod common;
use common::remote::Sshd;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn yaml(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    let v: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    serde_json::to_value(v).unwrap()
}

/// A repository checkout with the stand-in stack, its build variables and its compiled file
/// (as committed), and a runner's HOME.
struct Repo {
    _dir: tempfile::TempDir,
    checkout: PathBuf,
    home: PathBuf,
}

impl Repo {
    fn new(project: &str) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let checkout = dir.path().join("repo");
        let home = dir.path().join("home");
        std::fs::create_dir_all(checkout.join("stacks")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let spec = std::fs::read_to_string(root().join("tests/stacks/docplatform-standin.yml"))
            .unwrap()
            .replacen("name: fedgen-docplatform", &format!("name: {project}"), 1);
        std::fs::write(checkout.join("stacks/stack.yml"), spec).unwrap();
        // Build-time variables (not secret) and the deploy-time secrets, apart.
        std::fs::write(
            checkout.join("build.env"),
            "STANDIN_IMAGE=fedgen-test/busybox:1\n",
        )
        .unwrap();
        let out = fedgen()
            .current_dir(&checkout)
            .args([
                "build",
                "stacks/stack.yml",
                "--env",
                "build.env",
                "-o",
                "compose.yml",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        Repo {
            _dir: dir,
            checkout,
            home,
        }
    }

    /// The variables the recipes read (as the CI service's settings would hold them).
    fn adapted(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("STACK".into(), "stacks/stack.yml".into()),
            ("COMPOSE_FILE_OUT".into(), "compose.yml".into()),
            ("BUILD_ENV".into(), "build.env".into()),
        ])
    }

    /// Runs one script as a CI service would: bash -eo pipefail in the checkout.
    fn run(
        &self,
        script: &str,
        env: &BTreeMap<String, String>,
        sshd: &Sshd,
    ) -> std::process::Output {
        let bin = Path::new(env!("CARGO_BIN_EXE_fedgen")).parent().unwrap();
        Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(&self.checkout)
            .env_clear()
            .env("HOME", &self.home)
            .env(
                "PATH",
                format!(
                    "{}:{}:{}",
                    sshd.bin.display(),
                    bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("CI", "true")
            .envs(env)
            .output()
            .unwrap()
    }
}

/// The secrets as the CI service's settings would hold them.
fn secrets(sshd: &Sshd) -> BTreeMap<String, String> {
    let key = std::fs::read_to_string(sshd.home.join(".ssh/id_ed25519")).unwrap();
    BTreeMap::from([
        ("DEPLOY_HOST".into(), sshd.url()),
        ("DEPLOY_SSH_KEY".into(), key.trim().to_string()),
        ("DEPLOY_KNOWN_HOSTS".into(), sshd.known_host.clone()),
        (
            "DEPLOY_ENV".into(),
            "POSTGRES_PASSWORD=ci-db-3f9a1c7e55\nMEILI_MASTER_KEY=ci-meili-8b2d64e0aa".into(),
        ),
    ])
}

/// `${{ secrets.NAME }}` and `${{ github.X }}`, as GitHub substitutes them.
fn github_expr(value: &str, secrets: &BTreeMap<String, String>) -> String {
    let mut out = value.to_string();
    for (k, v) in secrets {
        out = out.replace(&format!("${{{{ secrets.{k} }}}}"), v);
    }
    assert!(
        !out.contains("${{"),
        "an expression the test does not know: {value}"
    );
    out
}

fn vars(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Runs a GitHub Actions job's `run:` steps; the exit code of the first that fails, if any.
fn github_job(
    wf: &serde_json::Value,
    job: &str,
    repo: &Repo,
    sshd: &Sshd,
    extra: &BTreeMap<String, String>,
    log: &mut Vec<std::process::Output>,
) -> Option<i32> {
    let secrets = secrets(sshd);
    let mut base = vars(&wf["env"]);
    base.extend(repo.adapted());
    base.extend(vars(&wf["jobs"][job]["env"]));
    base.extend(extra.clone());
    let steps = wf["jobs"][job]["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no job {job}"));
    let mut ran = 0;
    for step in steps {
        let Some(script) = step["run"].as_str() else {
            assert!(step["uses"].is_string(), "{step}");
            continue;
        };
        if step["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("Install fedgen"))
        {
            continue;
        }
        let mut env = base.clone();
        for (k, v) in vars(&step["env"]) {
            env.insert(k, github_expr(&v, &secrets));
        }
        let out = repo.run(script, &env, sshd);
        ran += 1;
        let code = out.status.code();
        log.push(out);
        if code != Some(0) {
            return code;
        }
    }
    assert!(ran > 0, "job {job} ran nothing");
    None
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn the_github_actions_recipe_runs() {
    require_engine();
    let project = format!("fedgen-t-ci-gh-{}", std::process::id());
    let _cleanup = StandIn::of("docplatform-standin", &project, (0, 0), |t| t);
    let sshd = Sshd::start();
    let repo = Repo::new(&project);
    let wf = yaml("examples/ci/github-actions.yml");
    let summary = repo.checkout.parent().unwrap().join("step-summary.md");
    let github = |event: &str, git_ref: &str| {
        BTreeMap::from([
            ("GITHUB_ACTIONS".to_string(), "true".to_string()),
            ("GITHUB_EVENT_NAME".into(), event.into()),
            ("GITHUB_REF".into(), git_ref.into()),
            ("GITHUB_STEP_SUMMARY".into(), summary.display().to_string()),
        ])
    };
    let pr = github("pull_request", "refs/pull/7/merge");
    let main = github("push", "refs/heads/main");
    let mut log = Vec::new();
    let all =
        |log: &[std::process::Output]| log.iter().map(describe).collect::<Vec<_>>().join("\n");

    // Every push: the committed file is up to date.
    assert_eq!(
        github_job(&wf, "check", &repo, &sshd, &pr, &mut log),
        None,
        "{}",
        all(&log)
    );
    // A pull request: the plan (nothing runs there yet: changes pending), as Markdown.
    assert_eq!(
        github_job(&wf, "plan", &repo, &sshd, &pr, &mut log),
        None,
        "{}",
        all(&log)
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains(&format!(
            "### fedgen plan: `{project}` on `ssh://root@127.0.0.1:"
        )),
        "{md}"
    );
    assert!(
        md.contains("**Changes pending** (exit 2): 5 to create"),
        "{md}"
    );
    assert!(
        md.contains("🔑 secret `minio_root_password` is generated on the engine"),
        "{md}"
    );
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.checkout.join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(plan["in_sync"], false);
    assert!(
        !repo.checkout.join(".env").exists(),
        "the secrets file is removed"
    );
    // main: apply through ssh.
    assert_eq!(
        github_job(&wf, "apply", &repo, &sshd, &main, &mut log),
        None,
        "{}",
        all(&log)
    );
    assert!(
        text(&log.last().unwrap().stderr).contains("Converged"),
        "{}",
        all(&log)
    );
    // The next pull request's plan: in sync.
    std::fs::remove_file(&summary).unwrap();
    assert_eq!(
        github_job(&wf, "plan", &repo, &sshd, &pr, &mut log),
        None,
        "{}",
        all(&log)
    );
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .contains("**In sync**"));
    // A spec changed without compiling: the check fails (exit 2), so nothing is deployed.
    let spec = repo.checkout.join("stacks/stack.yml");
    let text_spec = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, text_spec.replace("memory: 64m", "memory: 96m")).unwrap();
    assert_eq!(
        github_job(&wf, "check", &repo, &sshd, &pr, &mut log),
        Some(2),
        "{}",
        all(&log)
    );
    for secret in ["ci-db-3f9a1c7e55", "ci-meili-8b2d64e0aa"] {
        assert!(!all(&log).contains(secret), "{secret} in a log");
    }
}

#[test]
#[ignore = "needs the Docker engine: run scripts/test.sh"]
fn the_gitlab_ci_recipe_runs() {
    require_engine();
    let project = format!("fedgen-t-ci-gl-{}", std::process::id());
    let _cleanup = StandIn::of("docplatform-standin", &project, (0, 0), |t| t);
    let sshd = Sshd::start();
    let repo = Repo::new(&project);
    let ci = yaml("examples/ci/gitlab-ci.yml");
    let mut settings = secrets(&sshd);
    settings.extend(repo.adapted());
    let job = |name: &str, source: &str, branch: &str| -> std::process::Output {
        let mut env = vars(&ci["variables"]);
        env.extend(repo.adapted());
        env.extend(settings.clone());
        env.insert("CI_PIPELINE_SOURCE".into(), source.into());
        env.insert("CI_COMMIT_BRANCH".into(), branch.into());
        env.insert("CI_DEFAULT_BRANCH".into(), "main".into());
        for (k, v) in vars(&ci[name]["variables"]) {
            // GitLab expands $VAR in job variables.
            let v = env
                .iter()
                .fold(v, |v, (ek, ev)| v.replace(&format!("${ek}"), ev));
            env.insert(k, v);
        }
        let lines: Vec<String> = ["before_script", "script"]
            .iter()
            .flat_map(|k| ci[name][*k].as_array().cloned().unwrap_or_default())
            .map(|l| l.as_str().unwrap().to_string())
            .collect();
        assert!(!lines.is_empty(), "job {name}");
        let out = repo.run(&lines.join("\n"), &env, &sshd);
        if let Some(after) = ci[name]["after_script"].as_array() {
            let after: Vec<&str> = after.iter().filter_map(|l| l.as_str()).collect();
            let _ = repo.run(&after.join("\n"), &env, &sshd);
        }
        out
    };
    let check = job("check", "push", "feature");
    assert_eq!(check.status.code(), Some(0), "{}", describe(&check));
    let plan = job("plan", "merge_request_event", "feature");
    assert_eq!(plan.status.code(), Some(0), "{}", describe(&plan));
    assert!(
        text(&plan.stdout).contains("**Changes pending** (exit 2)"),
        "{}",
        describe(&plan)
    );
    assert!(repo.checkout.join("plan.json").exists());
    let deploy = job("deploy", "push", "main");
    assert_eq!(deploy.status.code(), Some(0), "{}", describe(&deploy));
    assert!(
        text(&deploy.stderr).contains("Converged"),
        "{}",
        describe(&deploy)
    );
    let plan = job("plan", "merge_request_event", "feature");
    assert_eq!(plan.status.code(), Some(0), "{}", describe(&plan));
    assert!(
        text(&plan.stdout).contains("**In sync**"),
        "{}",
        describe(&plan)
    );
    assert!(
        !repo.checkout.join(".env").exists(),
        "after_script removed the secrets file"
    );
    for out in [&check, &plan, &deploy] {
        assert!(
            !describe(out).contains("ci-db-3f9a1c7e55"),
            "a secret in a log"
        );
    }
}
