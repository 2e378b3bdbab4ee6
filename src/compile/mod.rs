//! The compiler: stack spec + `.env` -> validated compose model -> compose file bytes.
//!
//! Stages, each in its own module and each taking what the one before gives:
//! [`env`] (variables) -> [`spec`] (parse, interpolate) -> [`kinds`] (templates) ->
//! [`validate::check`] (cross-references, derived topology) -> [`render`] (templates + policies)
//! -> [`validate::policies`] (invariants of the output) -> [`emit`] (bytes, atomic write).
//! Every stage collects all of its problems before the pipeline stops, so one run reports all.
//! For the swarm target, [`swarm`] turns the validated model into a stack file before [`emit`].

pub mod emit;
pub mod env;
pub mod interpolate;
pub mod kinds;
pub mod probe;
pub mod render;
pub mod spec;
pub mod swarm;
pub mod validate;

use crate::diag::{Code, Diagnostic, Diagnostics, Sources};
use crate::model::{self, Compose};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to compile, and with what.
#[derive(Debug, Clone)]
pub struct Input {
    pub spec: PathBuf,
    pub env_file: Option<PathBuf>,
    pub templates: Option<PathBuf>,
    /// Where the compose file goes (relative paths in it are resolved from its directory).
    pub out: PathBuf,
    pub process_env: BTreeMap<String, String>,
    /// What to write; `None`: the spec's `target:`, else a compose file.
    pub target: Option<Target>,
}

pub use crate::model::swarm::Target;

/// A successful compilation.
#[derive(Debug)]
pub struct Output {
    pub compose: Compose,
    /// What was written, and for the swarm target the stack it was written from.
    pub target: Target,
    pub swarm: Option<crate::model::swarm::Stack>,
    /// The file's exact bytes.
    pub yaml: String,
}

/// The outcome: the sources (for rendering diagnostics), every diagnostic, and the output if no
/// diagnostic is an error.
#[derive(Debug, Default)]
pub struct Compilation {
    pub sources: Sources,
    pub diags: Diagnostics,
    pub output: Option<Output>,
}

pub fn compile(input: &Input) -> Compilation {
    let mut c = Compilation::default();
    c.output = run(input, &mut c.sources, &mut c.diags);
    c.diags.sort();
    if c.diags.has_errors() {
        c.output = None;
    }
    c
}

fn run(input: &Input, sources: &mut Sources, diags: &mut Diagnostics) -> Option<Output> {
    let env = env::Env::load(
        input.env_file.as_deref(),
        input.process_env.clone(),
        sources,
        diags,
    );
    let bytes = match std::fs::read(&input.spec) {
        Ok(b) => b,
        Err(e) => {
            diags.push(
                Diagnostic::error(
                    Code::SpecUnreadable,
                    format!("cannot read stack spec {}: {e}", input.spec.display()),
                )
                .hint("pass the path of a stack spec, e.g. stacks/federated-imputation.yml"),
            );
            return None;
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            diags.push(Diagnostic::error(
                Code::SpecNotUtf8,
                format!(
                    "{} is not valid UTF-8 (first bad byte at offset {})",
                    input.spec.display(),
                    e.utf8_error().valid_up_to()
                ),
            ));
            return None;
        }
    };
    let spec_sha = model::sha256_hex(&text);
    let source = sources.add(&input.spec, text);
    let spec = spec::parse(source, sources, &env, diags);
    let kinds = kinds::Kinds::load(input.templates.as_deref(), sources, diags);
    let spec = spec?;
    // Cross-references are checked even when the parser found problems, so that one run reports
    // everything; rendering needs a clean stack.
    let stack = validate::check(&spec, &kinds, &parent_dir(&input.spec), diags)?;
    if diags.has_errors() {
        return None;
    }
    let paths = render::Paths {
        spec_dir: parent_dir(&input.spec),
        out_dir: parent_dir(&input.out),
    };
    let target = input
        .target
        .or(spec.target.as_ref().map(|t| t.value))
        .unwrap_or_default();
    if target == Target::Compose {
        swarm::check_compose(&stack, diags);
    }
    let (compose, kind_sources) = render::render(&stack, &env, source, sources, &paths, diags)?;
    validate::policies(&compose, &kind_sources, diags);
    for (name, decl) in &spec.secrets {
        match &decl.source {
            spec::SecretSource::Env(var) if env.get(var).is_none() && target == Target::Compose => diags.push(
                Diagnostic::warning(Code::SecretUnset, format!("secret `{name}` reads `{var}`, which is not set now"))
                    .at(decl.name.span)
                    .hint(format!("the file is fine; `{var}` must be set in the environment of `fedgen apply` or `docker compose up`")),
            ),
            _ => {}
        }
    }
    if target == Target::Swarm {
        return swarm_output(input, &stack, &env, compose, &spec_sha, diags);
    }
    let yaml = emit::to_yaml(&compose, &header_source(&input.spec, &input.out), &spec_sha);
    // The file must read back as the same model: a check on the emitter and on the model's types.
    // It costs a third of a large build, so release builds leave it to the tests (which run debug
    // builds, so every compile in the test suite, golden and hostile inputs included, checks it).
    if cfg!(debug_assertions) {
        match Compose::from_compose_yaml(&yaml) {
            Ok(back) if back == compose => {}
            Ok(_) => diags.push(Diagnostic::error(
                Code::Internal,
                "the emitted file does not read back as the same model (a fedgen bug)",
            )),
            Err(e) => diags.push(Diagnostic::error(
                Code::Internal,
                format!("the emitted file does not read back: {e} (a fedgen bug)"),
            )),
        }
    }
    Some(Output {
        compose,
        target,
        swarm: None,
        yaml,
    })
}

/// The swarm target's output: the stack file, with its secrets named by their content (but
/// generated ones, made on the swarm by the first apply).
fn swarm_output(
    input: &Input,
    stack: &validate::Stack,
    env: &env::Env,
    compose: Compose,
    spec_sha: &str,
    diags: &mut Diagnostics,
) -> Option<Output> {
    if diags.has_errors() {
        return None;
    }
    let stack_file = swarm::convert(&compose, stack, env, &parent_dir(&input.out), diags)?;
    let yaml = emit::swarm_to_yaml(
        &stack_file,
        &header_source(&input.spec, &input.out),
        spec_sha,
    );
    if cfg!(debug_assertions) {
        match crate::model::swarm::Stack::from_yaml(&yaml) {
            Ok(back) if back == stack_file => {}
            Ok(_) => diags.push(Diagnostic::error(
                Code::Internal,
                "the emitted stack file does not read back as the same model (a fedgen bug)",
            )),
            Err(e) => diags.push(Diagnostic::error(
                Code::Internal,
                format!("the emitted stack file does not read back: {e} (a fedgen bug)"),
            )),
        }
    }
    Some(Output {
        compose,
        target: Target::Swarm,
        swarm: Some(stack_file),
        yaml,
    })
}

/// How the file's header names the spec: as given when relative; an absolute path only below
/// the output's directory or the current one (and then relative to it), else by its file name:
/// the compiled file names no path of the building machine, so another checkout builds the same
/// bytes.
fn header_source(spec: &Path, out: &Path) -> String {
    if spec.is_relative() {
        return spec.display().to_string();
    }
    let out_dir = parent_dir(out);
    let cwd = std::env::current_dir().unwrap_or_default();
    [out_dir.as_path(), cwd.as_path()]
        .iter()
        .find_map(|base| spec.strip_prefix(base).ok())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| {
            spec.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
}

fn parent_dir(p: &Path) -> PathBuf {
    absolute(
        p.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RestartPolicy, Service};

    /// Compiles `spec` (YAML) and gives the service `web`.
    fn web(spec: &str) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spec.yml");
        std::fs::write(&path, spec).unwrap();
        let c = compile(&Input {
            spec: path,
            env_file: None,
            templates: None,
            out: dir.path().join("out.yml"),
            process_env: BTreeMap::new(),
            target: None,
        });
        let errors: Vec<String> = c
            .diags
            .items
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.clone())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        c.output.unwrap().compose.services["web"].clone()
    }

    /// Every setting: the service's value, else `defaults`, else the kind's, else fedgen's.
    #[test]
    fn one_precedence_rule_for_every_field() {
        type Read = fn(&Service) -> String;
        // (field, `defaults` line, its value, service line, its value, the kind's or fedgen's, read)
        let cases: &[(&str, &str, &str, &str, &str, &str, Read)] = &[
            (
                "restart",
                "restart: always",
                "always",
                "restart: on-failure",
                "on-failure",
                "unless-stopped",
                |s| s.restart.unwrap().to_string(),
            ),
            (
                "memory",
                "memory: 256m",
                "256m",
                "memory: 128m",
                "128m",
                "512m",
                |s| s.limits().memory.unwrap().to_string(),
            ),
            (
                "cpus",
                "cpus: \"0.5\"",
                "0.5",
                "cpus: \"0.25\"",
                "0.25",
                "1.0",
                |s| s.limits().cpus.unwrap().to_string(),
            ),
            (
                "pids_limit",
                "pids_limit: 100",
                "100",
                "pids_limit: 50",
                "50",
                "-",
                |s| s.pids_limit.map(|p| p.to_string()).unwrap_or("-".into()),
            ),
            (
                "stop_grace_period",
                "stop_grace_period: 40s",
                "40s",
                "stop_grace_period: 5s",
                "5s",
                "20s",
                |s| s.stop_grace_period.unwrap().to_string(),
            ),
            (
                "logging.driver",
                "logging: { driver: local }",
                "local",
                "logging: { driver: json-file }",
                "json-file",
                "json-file",
                |s| s.logging.clone().unwrap().driver,
            ),
            (
                "logging.max_size",
                "logging: { max_size: 5m }",
                "5m",
                "logging: { max_size: 1m }",
                "1m",
                "10m",
                |s| s.logging.clone().unwrap().options["max-size"].clone(),
            ),
            (
                "logging.max_file",
                "logging: { max_file: 7 }",
                "7",
                "logging: { max_file: 2 }",
                "2",
                "3",
                |s| s.logging.clone().unwrap().options["max-file"].clone(),
            ),
            (
                "healthcheck.interval",
                "healthcheck: { interval: 3s }",
                "3s",
                "healthcheck: { interval: 2s }",
                "2s",
                "10s",
                |s| s.healthcheck.clone().unwrap().interval.unwrap().to_string(),
            ),
            (
                "healthcheck.timeout",
                "healthcheck: { timeout: 3s }",
                "3s",
                "healthcheck: { timeout: 2s }",
                "2s",
                "5s",
                |s| s.healthcheck.clone().unwrap().timeout.unwrap().to_string(),
            ),
            (
                "healthcheck.retries",
                "healthcheck: { retries: 9 }",
                "9",
                "healthcheck: { retries: 8 }",
                "8",
                "5",
                |s| s.healthcheck.clone().unwrap().retries.unwrap().to_string(),
            ),
            (
                "healthcheck.start_period",
                "healthcheck: { start_period: 3s }",
                "3s",
                "healthcheck: { start_period: 2s }",
                "2s",
                "20s",
                |s| {
                    s.healthcheck
                        .clone()
                        .unwrap()
                        .start_period
                        .unwrap()
                        .to_string()
                },
            ),
            (
                "probe",
                "probe: curl",
                "curl",
                "probe: wget",
                "wget",
                "auto",
                |s| {
                    let t = s.healthcheck.clone().unwrap().test;
                    if t[0] == "CMD-SHELL" {
                        "auto".into()
                    } else {
                        t[1].clone()
                    }
                },
            ),
            (
                "env",
                "env: { MODE: shared }",
                "shared",
                "env: { MODE: own }",
                "own",
                "-",
                |s| s.environment.get("MODE").cloned().unwrap_or("-".into()),
            ),
        ];
        let spec = |d: &str, o: &str| {
            format!("name: p\ndefaults:\n  {d}\nservices:\n  web:\n    kind: http\n    image: x:1\n    {o}\n")
        };
        for (field, defaults, dv, own, ov, builtin, read) in cases {
            assert_eq!(
                read(&web(&spec("", ""))),
                *builtin,
                "{field}: the kind's (or fedgen's) value"
            );
            assert_eq!(
                read(&web(&spec(defaults, ""))),
                *dv,
                "{field}: `defaults` over the kind"
            );
            assert_eq!(
                read(&web(&spec(defaults, own))),
                *ov,
                "{field}: the service over `defaults`"
            );
        }
        // A one-shot kind runs once: `defaults.restart` is for servers.
        let job = web(
            "name: p\ndefaults:\n  restart: always\nservices:\n  web: { kind: job, image: x:1 }\n",
        );
        assert_eq!(job.restart, Some(RestartPolicy::No));
    }
}
