//! The Compose reader: any Compose file, as people write it, into the model `fedgen build` fills.
//!
//! Takes: [`Options`] (the `-f` files, or the ones Compose would find; `-p`; `--env-file`;
//! `--profile`; the process environment). Gives: a [`Project`]: the normalized [`Compose`] model,
//! the located tree it came from (for `fedgen lint`), the project's name, directory and variables;
//! or every problem found, each at the file, line and column a person wrote.
//!
//! The pipeline is Compose's own (compose-go's loader), in its order:
//! 1. each file is parsed with positions ([`crate::yaml`]: anchors, merge keys, `!reset`);
//! 2. its values are interpolated with the project's variables (`.env` beside the first file, or
//!    `--env-file`, under the process environment);
//! 3. its services' `extends` are resolved, and its `include`s loaded as projects of their own;
//! 4. the files are merged in order ([`merge`]);
//! 5. services outside the active profiles are dropped;
//! 6. the tree is read into the model ([`read`]), short syntax made long, legacy keys moved, and
//!    every key fedgen cannot apply refused by name.

pub mod hash;
pub mod merge;
pub mod ports;
pub mod read;

use crate::compile::interpolate::{interpolate_compose, Located, Problem};
use crate::diag::{Code, Diagnostic, Diagnostics, Sources, Span};
use crate::model::Compose;
use crate::yaml::{self, Node, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The files Compose looks for when none is named, in its order.
pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
const OVERRIDE_FILES: &[&str] = &[
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// What to load, as `docker compose` takes it.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-f`, in order; empty: `COMPOSE_FILE`, or the default names in the working directory.
    pub files: Vec<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory`; default: the first file's directory.
    pub project_directory: Option<PathBuf>,
    /// `--env-file`, in order (later wins); default: `.env` in the project directory.
    pub env_files: Vec<PathBuf>,
    /// `--profile`; default: `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// The process environment (wins over every env file).
    pub environ: BTreeMap<String, String>,
    /// Where relative `-f` paths are read from.
    pub cwd: PathBuf,
    /// Read keys that fedgen cannot apply (`build`, `gpus`, ...) as warnings and leave them out,
    /// instead of refusing the file: for commands that only read it (`fedgen lint`).
    pub lenient: bool,
}

impl Options {
    /// One file, the process environment, the current directory: what most callers want.
    pub fn file(path: &Path) -> Options {
        Options {
            files: vec![path.to_path_buf()],
            environ: std::env::vars().collect(),
            cwd: std::env::current_dir().unwrap_or_default(),
            ..Options::default()
        }
    }
}

/// A loaded Compose project.
#[derive(Clone, Debug)]
pub struct Project {
    pub compose: Compose,
    /// The merged tree the model was read from, every value at the place it was written.
    pub tree: Node,
    /// Absolute; relative paths in the model resolve against it.
    pub dir: PathBuf,
    /// The files read, absolute, in `-f` order.
    pub files: Vec<PathBuf>,
    /// The env files read (for Compose's `project.environment_file` label), as given.
    pub env_files: Vec<PathBuf>,
    /// The project's variables: the env files under the process environment.
    pub env: BTreeMap<String, String>,
    /// Compose's `config-hash` of each service, as `docker compose up` labels its container.
    pub compose_hashes: BTreeMap<String, String>,
}

/// Loads a project; `None` when there are errors (all of them in `diags`). Warnings (unset
/// variables, obsolete keys) are in `diags` either way.
pub fn load(opts: &Options, sources: &mut Sources, diags: &mut Diagnostics) -> Option<Project> {
    let before = diags.error_count();
    let files = match find_files(opts) {
        Ok(f) => f,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let dir = opts
        .project_directory
        .as_ref()
        .map(|d| absolute(&opts.cwd, d))
        .unwrap_or_else(|| files[0].parent().map(Path::to_path_buf).unwrap_or_default());
    let (env, env_files) = environment(opts, &dir, sources, diags);
    let mut loader = Loader {
        sources,
        diags,
        env: &env,
        stack: Vec::new(),
        warned: BTreeSet::new(),
    };
    let mut tree: Option<Node> = None;
    let mut names: Vec<(String, Span)> = Vec::new();
    for file in &files {
        let Some(doc) = loader.file(file, &dir) else {
            continue;
        };
        if let Some(n) = doc.get("name").filter(|n| !n.is_null()) {
            if let Some(s) = n.scalar().filter(|s| !s.is_empty()) {
                names.push((s.to_string(), n.span));
            }
        }
        tree = Some(match tree {
            None => merge::strip(&doc),
            Some(acc) => merge::document(&acc, &doc),
        });
    }
    if diags.error_count() > before {
        return None;
    }
    let mut tree = tree?;
    redact_secrets(&tree, sources);
    let name = project_name(opts, &env, &names, &dir, diags)?;
    let profiles: BTreeSet<String> = if opts.profiles.is_empty() {
        env.get("COMPOSE_PROFILES")
            .map(|p| {
                p.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        opts.profiles.iter().cloned().collect()
    };
    apply_profiles(&mut tree, &profiles);
    let mut reader = read::Reader {
        diags,
        env: &env,
        dir: &dir,
        lenient: opts.lenient,
    };
    let compose = read::compose(&mut reader, name, &tree);
    if diags.error_count() > before {
        return None;
    }
    let compose_hashes = hash::project(&tree, &compose, &dir, &env);
    Some(Project {
        compose,
        tree,
        dir,
        files,
        env_files,
        env,
        compose_hashes,
    })
}

/// Secret-looking values written in `environment` (`JWT_SECRET: abc`, `- API_KEY=abc`) are not
/// shown in any excerpt of the file.
fn redact_secrets(tree: &Node, sources: &Sources) {
    use crate::compile::env::looks_secret;
    let services = tree
        .get("services")
        .and_then(Node::entries)
        .unwrap_or_default();
    for (_, svc) in services {
        let Some(env) = svc.get("environment") else {
            continue;
        };
        match &env.value {
            Value::Map(entries) => {
                for (k, v) in entries {
                    if looks_secret(k.as_str()) && !v.is_null() {
                        sources.redact(v.span);
                    }
                }
            }
            Value::Seq(items) => {
                for item in items {
                    if let Some((k, v)) = item.as_str().split_once('=') {
                        if looks_secret(k) && !v.is_empty() {
                            let skip = k.chars().count() + 1;
                            sources.redact(item.span.shifted(skip, v.chars().count()));
                        }
                    }
                }
            }
            Value::Scalar(..) => {}
        }
    }
}

fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    };
    std::fs::canonicalize(&joined).unwrap_or(joined)
}

/// The `-f` files, else `COMPOSE_FILE`, else the default names in the working directory.
fn find_files(opts: &Options) -> Result<Vec<PathBuf>, Diagnostic> {
    if !opts.files.is_empty() {
        return Ok(opts.files.iter().map(|f| absolute(&opts.cwd, f)).collect());
    }
    if let Some(list) = opts.environ.get("COMPOSE_FILE").filter(|l| !l.is_empty()) {
        let sep = opts
            .environ
            .get("COMPOSE_PATH_SEPARATOR")
            .cloned()
            .unwrap_or_else(|| ":".into());
        return Ok(list
            .split(sep.as_str())
            .filter(|f| !f.is_empty())
            .map(|f| absolute(&opts.cwd, Path::new(f)))
            .collect());
    }
    let mut dir = Some(opts.cwd.as_path());
    while let Some(d) = dir {
        if let Some(f) = DEFAULT_FILES
            .iter()
            .map(|f| d.join(f))
            .find(|f| f.is_file())
        {
            let mut files = vec![absolute(&opts.cwd, &f)];
            if let Some(o) = OVERRIDE_FILES
                .iter()
                .map(|f| d.join(f))
                .find(|f| f.is_file())
            {
                files.push(absolute(&opts.cwd, &o));
            }
            return Ok(files);
        }
        dir = d.parent();
    }
    Err(Diagnostic::error(
        Code::SpecUnreadable,
        format!(
            "no Compose file here: none of {} in {} or above it",
            DEFAULT_FILES.join(", "),
            opts.cwd.display()
        ),
    )
    .hint("name one with -f FILE"))
}

/// The project's variables: `--env-file`s (else `.env` in the project directory) under the
/// process environment, which always wins.
fn environment(
    opts: &Options,
    dir: &Path,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> (BTreeMap<String, String>, Vec<PathBuf>) {
    let mut vars = BTreeMap::new();
    let given: Vec<PathBuf> = if !opts.env_files.is_empty() {
        opts.env_files.clone()
    } else if let Some(list) = opts.environ.get("COMPOSE_ENV_FILES") {
        list.split(',').map(PathBuf::from).collect()
    } else {
        Vec::new()
    };
    let files: Vec<PathBuf> = if given.is_empty() {
        let dot = dir.join(".env");
        let disabled = opts
            .environ
            .get("COMPOSE_DISABLE_ENV_FILE")
            .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "True"));
        if dot.is_file() && !disabled {
            vec![dot]
        } else {
            Vec::new()
        }
    } else {
        given.iter().map(|f| absolute(&opts.cwd, f)).collect()
    };
    for f in &files {
        vars.extend(env_file(f, &vars, &opts.environ, sources, diags));
    }
    vars.extend(opts.environ.clone());
    (vars, given)
}

/// One env file's variables (dotenv syntax), every bad line reported.
pub fn env_file(
    path: &Path,
    _earlier: &BTreeMap<String, String>,
    _process: &BTreeMap<String, String>,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> BTreeMap<String, String> {
    let mut sub = Diagnostics::default();
    let env = crate::compile::env::Env::load(Some(path), [], sources, &mut sub);
    for d in sub.items {
        diags.push(d);
    }
    env.file_vars().clone()
}

/// `-p` > `COMPOSE_PROJECT_NAME` > the last `name:` (normalized) > the directory's name
/// (normalized), as Compose chooses.
fn project_name(
    opts: &Options,
    env: &BTreeMap<String, String>,
    names: &[(String, Span)],
    dir: &Path,
    diags: &mut Diagnostics,
) -> Option<String> {
    let explicit = opts.project_name.clone().map(|n| (n, "-p")).or_else(|| {
        env.get("COMPOSE_PROJECT_NAME")
            .filter(|n| !n.is_empty())
            .map(|n| (n.clone(), "COMPOSE_PROJECT_NAME"))
    });
    if let Some((n, from)) = explicit {
        if normalize_name(&n) != n || n.is_empty() {
            diags.push(
                Diagnostic::error(
                    Code::InvalidName,
                    format!("invalid project name {n:?} (from {from})"),
                )
                .hint("a project name has only lowercase letters, digits, `-` and `_`, and starts with a letter or digit"),
            );
            return None;
        }
        return Some(n);
    }
    let (raw, span) = match names.last() {
        Some((n, s)) => (n.clone(), Some(*s)),
        None => (
            dir.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            None,
        ),
    };
    let n = normalize_name(&raw);
    if n.is_empty() {
        diags.push(
            Diagnostic::error(
                Code::InvalidName,
                format!("the project name {raw:?} has no letter or digit"),
            )
            .at_opt(span)
            .hint("set `name:` in the file, or pass -p NAME"),
        );
        return None;
    }
    Some(n)
}

/// Compose's normalization: lowercase, only `[a-z0-9_-]`, no leading `_` or `-`.
pub fn normalize_name(s: &str) -> String {
    let kept: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

/// Drops the services whose `profiles` are none of the active ones (`*` activates all).
fn apply_profiles(tree: &mut Node, active: &BTreeSet<String>) {
    let Value::Map(top) = &mut tree.value else {
        return;
    };
    let Some((_, services)) = top.iter_mut().find(|(k, _)| k.scalar() == Some("services")) else {
        return;
    };
    let Value::Map(entries) = &mut services.value else {
        return;
    };
    entries.retain(|(_, svc)| {
        let Some(p) = svc.get("profiles").and_then(Node::items) else {
            return true;
        };
        p.is_empty()
            || active.contains("*")
            || p.iter()
                .any(|x| x.scalar().is_some_and(|x| active.contains(x)))
    });
}

struct Loader<'a> {
    sources: &'a mut Sources,
    diags: &'a mut Diagnostics,
    env: &'a BTreeMap<String, String>,
    /// Files being loaded (include) and services being extended, for cycles.
    stack: Vec<String>,
    /// Unset variables already warned about.
    warned: BTreeSet<String>,
}

impl Loader<'_> {
    /// Reads, parses and interpolates one file, and resolves its `extends` and `include`.
    fn file(&mut self, path: &Path, project_dir: &Path) -> Option<Node> {
        let source = self.read(path, None)?;
        let mut yd = Vec::new();
        let node = yaml::parse(source, self.sources, yaml::Options::default(), &mut yd);
        for d in yd {
            self.diags.push(d);
        }
        let mut node = node?;
        if node.entries().is_none() {
            self.diags.push(
                Diagnostic::error(
                    Code::SpecNotMapping,
                    format!(
                        "{} is not a Compose file: its top level is not a mapping",
                        path.display()
                    ),
                )
                .at(node.span),
            );
            return None;
        }
        self.interpolate(&mut node, self.env);
        let file_dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        self.extends(&mut node, path, &file_dir, project_dir);
        self.include(&mut node, project_dir);
        Some(node)
    }

    fn read(&mut self, path: &Path, at: Option<Span>) -> Option<usize> {
        match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Some(self.sources.add(path, text)),
                Err(_) => {
                    self.diags.push(
                        Diagnostic::error(
                            Code::SpecNotUtf8,
                            format!("{} is not UTF-8", path.display()),
                        )
                        .at_opt(at),
                    );
                    None
                }
            },
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(
                        Code::SpecUnreadable,
                        format!("cannot read {}: {e}", path.display()),
                    )
                    .at_opt(at)
                    .hint(
                        "check the path (relative paths are relative to the file that names them)",
                    ),
                );
                None
            }
        }
    }

    /// Every scalar value (never a key) interpolated, as Compose does.
    fn interpolate(&mut self, node: &mut Node, env: &BTreeMap<String, String>) {
        match &mut node.value {
            Value::Scalar(s, _) => {
                if !s.contains('$') {
                    return;
                }
                let lookup = |k: &str| env.get(k).cloned();
                match interpolate_compose(s, &lookup) {
                    Ok(out) => {
                        for v in out.unset {
                            if self.warned.insert(v.clone()) {
                                self.diags.push(
                                    Diagnostic::warning(
                                        Code::MissingVariable,
                                        format!("the variable {v} is not set: an empty string is used"),
                                    )
                                    .at(node.span)
                                    .hint(format!("set {v} in the environment or in .env, or write ${{{v}:-default}}")),
                                );
                            }
                        }
                        *s = out.text;
                    }
                    Err(problems) => {
                        for Located {
                            problem,
                            offset,
                            len,
                        } in problems
                        {
                            let span = node.span.shifted(offset, len);
                            let d = match problem {
                                Problem::Required { name, message } => Diagnostic::error(
                                    Code::MissingVariable,
                                    if message.is_empty() {
                                        format!("required variable {name} is missing a value")
                                    } else {
                                        format!("required variable {name} is missing a value: {message}")
                                    },
                                )
                                .hint(format!("set {name} in the environment or in .env")),
                                Problem::Missing { name } => Diagnostic::error(
                                    Code::MissingVariable,
                                    format!("the variable {name} is not set"),
                                ),
                                Problem::Syntax { message } => {
                                    Diagnostic::error(Code::InterpolationSyntax, message)
                                        .hint("write $$ for a literal $")
                                }
                            };
                            self.diags.push(d.at(span));
                        }
                    }
                }
            }
            Value::Seq(items) => {
                for i in items {
                    self.interpolate(i, env);
                }
            }
            Value::Map(entries) => {
                for (_, v) in entries {
                    self.interpolate(v, env);
                }
            }
        }
    }

    /// Replaces each service that `extends` another by the other merged with it.
    fn extends(&mut self, doc: &mut Node, path: &Path, file_dir: &Path, project_dir: &Path) {
        let names: Vec<String> = doc
            .get("services")
            .and_then(Node::entries)
            .unwrap_or_default()
            .iter()
            .filter_map(|(k, _)| k.scalar().map(str::to_string))
            .collect();
        for name in names {
            let Some(svc) = doc.get("services").and_then(|s| s.get(&name)).cloned() else {
                continue;
            };
            if svc.get("extends").is_none() {
                continue;
            }
            let resolved = self.resolve(&svc, &name, path, doc, file_dir, project_dir);
            if let Some(r) = resolved {
                set_service(doc, &name, r);
            }
        }
    }

    /// `svc` with its `extends` chain resolved (paths of a base in another directory rebased).
    fn resolve(
        &mut self,
        svc: &Node,
        name: &str,
        path: &Path,
        doc: &Node,
        file_dir: &Path,
        project_dir: &Path,
    ) -> Option<Node> {
        let Some(ext) = svc.get("extends") else {
            return Some(svc.clone());
        };
        let key = format!("{}:{name}", path.display());
        if self.stack.contains(&key) {
            self.diags.push(
                Diagnostic::error(
                    Code::DependencyCycle,
                    format!(
                        "`extends` goes round in a circle: {} -> {name}",
                        self.stack.join(" -> ")
                    ),
                )
                .at(ext.span),
            );
            return None;
        }
        let (base_name, base_file) = match &ext.value {
            Value::Scalar(s, _) => (s.clone(), None),
            Value::Map(_) => {
                let Some(s) = ext.get("service").and_then(Node::scalar) else {
                    self.diags.push(
                        Diagnostic::error(Code::MissingKey, "`extends` needs `service`")
                            .at(ext.span),
                    );
                    return None;
                };
                (
                    s.to_string(),
                    ext.get("file").and_then(Node::scalar).map(str::to_string),
                )
            }
            _ => {
                self.diags.push(
                    Diagnostic::error(Code::WrongType, "`extends` is a service name or a mapping")
                        .at(ext.span),
                );
                return None;
            }
        };
        self.stack.push(key);
        let result = (|| {
            let (base, base_path, base_dir) = match &base_file {
                None => (
                    doc.get("services").and_then(|s| s.get(&base_name)).cloned(),
                    path.to_path_buf(),
                    file_dir.to_path_buf(),
                ),
                Some(f) => {
                    let p = absolute(file_dir, Path::new(f));
                    let source = self.read(&p, Some(ext.span))?;
                    let mut yd = Vec::new();
                    let mut other =
                        yaml::parse(source, self.sources, yaml::Options::default(), &mut yd);
                    for d in yd {
                        self.diags.push(d);
                    }
                    if let Some(o) = other.as_mut() {
                        self.interpolate(o, self.env);
                    }
                    let dir = p.parent().unwrap_or(Path::new("/")).to_path_buf();
                    let base = other
                        .as_ref()
                        .and_then(|o| o.get("services"))
                        .and_then(|s| s.get(&base_name))
                        .cloned();
                    let base = match (base, other) {
                        (Some(b), Some(o)) => {
                            self.resolve(&b, &base_name, &p, &o, &dir, project_dir)
                        }
                        (b, _) => b,
                    };
                    (base.map(|b| rebase(&b, &dir, project_dir)), p, dir)
                }
            };
            let Some(base) = base else {
                self.diags.push(
                    Diagnostic::error(
                        Code::UnknownService,
                        format!(
                            "`extends` names service `{base_name}`, which {} does not have",
                            base_path.display()
                        ),
                    )
                    .at(ext.span),
                );
                return None;
            };
            let base = if base_file.is_none() {
                self.resolve(&base, &base_name, &base_path, doc, &base_dir, project_dir)?
            } else {
                base
            };
            let mut own = svc.clone();
            if let Value::Map(m) = &mut own.value {
                m.retain(|(k, _)| k.scalar() != Some("extends"));
            }
            Some(merge::service(&base, &own))
        })();
        self.stack.pop();
        result
    }

    /// Loads each `include`d project and adds its resources; a name defined on both sides is an
    /// error unless both define it alike.
    fn include(&mut self, doc: &mut Node, project_dir: &Path) {
        let Some(inc) = doc.get("include").cloned() else {
            return;
        };
        if let Value::Map(m) = &mut doc.value {
            m.retain(|(k, _)| k.scalar() != Some("include"));
        }
        for entry in inc.items().unwrap_or_default() {
            let (paths, sub_dir, env_files) = match &entry.value {
                Value::Scalar(s, _) => (vec![s.clone()], None, Vec::new()),
                Value::Map(_) => {
                    let list = |n: Option<&Node>| -> Vec<String> {
                        match n.map(|n| &n.value) {
                            Some(Value::Scalar(s, _)) => vec![s.clone()],
                            Some(Value::Seq(items)) => items
                                .iter()
                                .filter_map(|i| i.scalar().map(str::to_string))
                                .collect(),
                            _ => Vec::new(),
                        }
                    };
                    (
                        list(entry.get("path")),
                        entry
                            .get("project_directory")
                            .and_then(Node::scalar)
                            .map(str::to_string),
                        list(entry.get("env_file")),
                    )
                }
                _ => continue,
            };
            if paths.is_empty() {
                self.diags.push(
                    Diagnostic::error(Code::MissingKey, "an `include` entry needs a path")
                        .at(entry.span),
                );
                continue;
            }
            let files: Vec<PathBuf> = paths
                .iter()
                .map(|p| absolute(project_dir, Path::new(p)))
                .collect();
            let key = files[0].display().to_string();
            if self.stack.contains(&key) {
                self.diags.push(
                    Diagnostic::error(
                        Code::DependencyCycle,
                        format!("`include` goes round in a circle through {key}"),
                    )
                    .at(entry.span),
                );
                continue;
            }
            let dir = sub_dir
                .map(|d| absolute(project_dir, Path::new(&d)))
                .unwrap_or_else(|| files[0].parent().unwrap_or(Path::new("/")).to_path_buf());
            // The included project's variables: its env files, under the including project's.
            let mut env = BTreeMap::new();
            let env_paths: Vec<PathBuf> = if env_files.is_empty() {
                Some(dir.join(".env"))
                    .filter(|p| p.is_file())
                    .into_iter()
                    .collect()
            } else {
                env_files
                    .iter()
                    .map(|f| absolute(project_dir, Path::new(f)))
                    .collect()
            };
            for p in &env_paths {
                env.extend(env_file(
                    p,
                    &env,
                    &BTreeMap::new(),
                    self.sources,
                    self.diags,
                ));
            }
            env.extend(self.env.clone());
            self.stack.push(key);
            let mut sub = Loader {
                sources: self.sources,
                diags: self.diags,
                env: &env,
                stack: std::mem::take(&mut self.stack),
                warned: std::mem::take(&mut self.warned),
            };
            let mut merged: Option<Node> = None;
            for f in &files {
                if let Some(d) = sub.file(f, &dir) {
                    merged = Some(match merged {
                        None => merge::strip(&d),
                        Some(acc) => merge::document(&acc, &d),
                    });
                }
            }
            self.stack = std::mem::take(&mut sub.stack);
            self.warned = std::mem::take(&mut sub.warned);
            self.stack.pop();
            let Some(included) = merged else { continue };
            let included = rebase_project(&included, &dir, project_dir);
            for section in ["services", "networks", "volumes", "secrets", "configs"] {
                let Some(entries) = included.get(section).and_then(Node::entries) else {
                    continue;
                };
                for (k, v) in entries {
                    let name = k.scalar().unwrap_or_default();
                    let mine = doc.get(section).and_then(|s| s.get(name));
                    match mine {
                        Some(m) if same(m, v) => {}
                        Some(m) => {
                            let at = m.span;
                            self.diags.push(
                                Diagnostic::error(
                                    Code::InvalidName,
                                    format!(
                                        "{section}.{name} is defined here and in the included {}",
                                        files[0].display()
                                    ),
                                )
                                .at(at)
                                .label(v.span, "also defined here")
                                .hint("rename one, or override it from a later -f file"),
                            );
                        }
                        None => insert(doc, section, k.clone(), v.clone()),
                    }
                }
            }
        }
    }
}

/// Two trees with the same values (wherever they were written).
fn same(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Scalar(x, _), Value::Scalar(y, _)) => x == y,
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .any(|(k2, v2)| k.scalar() == k2.scalar() && same(v, v2))
                })
        }
        _ => false,
    }
}

fn set_service(doc: &mut Node, name: &str, svc: Node) {
    if let Value::Map(top) = &mut doc.value {
        if let Some((_, services)) = top.iter_mut().find(|(k, _)| k.scalar() == Some("services")) {
            if let Value::Map(entries) = &mut services.value {
                if let Some((_, v)) = entries.iter_mut().find(|(k, _)| k.scalar() == Some(name)) {
                    *v = svc;
                }
            }
        }
    }
}

fn insert(doc: &mut Node, section: &str, key: Node, value: Node) {
    let Value::Map(top) = &mut doc.value else {
        return;
    };
    if !top.iter().any(|(k, _)| k.scalar() == Some(section)) {
        let mut k = key.clone();
        k.value = Value::Scalar(section.to_string(), yaml::Style::Plain);
        let mut v = value.clone();
        v.value = Value::Map(Vec::new());
        v.tag = None;
        top.push((k, v));
    }
    if let Some((_, s)) = top.iter_mut().find(|(k, _)| k.scalar() == Some(section)) {
        if let Value::Map(entries) = &mut s.value {
            entries.push((key, value));
        }
    }
}

/// A relative path written in a file of `from` (a directory), as seen from `to`: absolute.
fn rebased_path(p: &str, from: &Path) -> String {
    if p.starts_with('/') || p.starts_with('~') {
        return p.to_string();
    }
    let joined = from.join(p);
    normalize(&joined).display().to_string()
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// A service written in `from`, with its relative paths (bind sources, env files) made to
/// resolve the same from `to`.
fn rebase(svc: &Node, from: &Path, to: &Path) -> Node {
    if from == to {
        return svc.clone();
    }
    let mut out = svc.clone();
    let Value::Map(entries) = &mut out.value else {
        return out;
    };
    for (k, v) in entries.iter_mut() {
        match k.scalar() {
            Some("volumes") => {
                if let Value::Seq(items) = &mut v.value {
                    for item in items {
                        match &mut item.value {
                            Value::Scalar(s, _) => {
                                let mut parts: Vec<String> =
                                    s.split(':').map(str::to_string).collect();
                                if parts.len() >= 2 && parts[0].starts_with('.') {
                                    parts[0] = rebased_path(&parts[0], from);
                                    *s = parts.join(":");
                                }
                            }
                            Value::Map(m) => {
                                let bind = m.iter().any(|(k, v)| {
                                    k.scalar() == Some("type") && v.scalar() == Some("bind")
                                });
                                if bind {
                                    for (k, v) in m.iter_mut() {
                                        if k.scalar() == Some("source") {
                                            if let Value::Scalar(s, _) = &mut v.value {
                                                *s = rebased_path(s, from);
                                            }
                                        }
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            Some("env_file") => rebase_scalars(v, from, &["path"]),
            _ => {}
        }
    }
    out
}

/// Rewrites the path scalars of `n` (a string, a list of strings, or mappings with `keys`).
fn rebase_scalars(n: &mut Node, from: &Path, keys: &[&str]) {
    match &mut n.value {
        Value::Scalar(s, _) => *s = rebased_path(s, from),
        Value::Seq(items) => {
            for i in items {
                rebase_scalars(i, from, keys);
            }
        }
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                if k.scalar().is_some_and(|k| keys.contains(&k)) {
                    rebase_scalars(v, from, &[]);
                }
            }
        }
    }
}

/// An included project's services and secret/config files, rebased from its directory.
fn rebase_project(doc: &Node, from: &Path, to: &Path) -> Node {
    if from == to {
        return doc.clone();
    }
    let mut out = doc.clone();
    let Value::Map(top) = &mut out.value else {
        return out;
    };
    for (k, v) in top.iter_mut() {
        match k.scalar() {
            Some("services") => {
                if let Value::Map(svcs) = &mut v.value {
                    for (_, s) in svcs.iter_mut() {
                        *s = rebase(s, from, to);
                    }
                }
            }
            Some("secrets") | Some("configs") => {
                if let Value::Map(items) = &mut v.value {
                    for (_, item) in items.iter_mut() {
                        rebase_scalars(item, from, &["file"]);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `files` (the first is `-f`, the others sit beside it) from a directory named
    /// `My_Proj.1`; `opts` adjusts the options.
    fn load_text(
        files: &[(&str, &str)],
        opts: impl FnOnce(&mut Options),
    ) -> (Option<Project>, Diagnostics, Sources) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("My_Proj.1");
        for (name, text) in files {
            let p = root.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let mut o = Options {
            files: vec![root.join(files[0].0)],
            cwd: root.clone(),
            ..Options::default()
        };
        opts(&mut o);
        o.files = o.files.iter().map(|f| root.join(f)).collect();
        let mut sources = Sources::default();
        let mut diags = Diagnostics::default();
        let p = load(&o, &mut sources, &mut diags);
        (p, diags, sources)
    }

    fn ok(files: &[(&str, &str)], opts: impl FnOnce(&mut Options)) -> Project {
        let (p, d, s) = load_text(files, opts);
        let errors: Vec<_> = d.items.iter().filter(|x| x.is_error()).cloned().collect();
        assert!(
            errors.is_empty(),
            "{}",
            crate::diag::render_human(&errors, &s)
        );
        p.unwrap()
    }

    fn errors(files: &[(&str, &str)], opts: impl FnOnce(&mut Options)) -> String {
        let (p, d, s) = load_text(files, opts);
        assert!(p.is_none() || d.has_errors(), "expected errors");
        crate::diag::render_human(&d.items, &s)
    }

    #[test]
    fn a_compiled_file_reads_as_the_model_it_was_written_from() {
        for golden in ["federated-imputation", "document-platform"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("golden/{golden}.yml"));
            let text = std::fs::read_to_string(&path).unwrap();
            let want = Compose::from_compose_yaml(&text).unwrap();
            let mut sources = Sources::default();
            let mut diags = Diagnostics::default();
            let p = load(
                &Options {
                    files: vec![path.clone()],
                    cwd: path.parent().unwrap().to_path_buf(),
                    ..Options::default()
                },
                &mut sources,
                &mut diags,
            );
            let errors: Vec<_> = diags.items.iter().filter(|d| d.is_error()).collect();
            assert!(
                errors.is_empty(),
                "{golden}: {}",
                crate::diag::render_human(&diags.items, &sources)
            );
            let got = p.unwrap().compose;
            for (name, svc) in &want.services {
                assert_eq!(&got.services[name], svc, "{golden}: service {name}");
            }
            assert_eq!(got.networks, want.networks, "{golden}");
            assert_eq!(got.volumes, want.volumes, "{golden}");
            assert_eq!(got.secrets, want.secrets, "{golden}");
            assert_eq!(got.configs, want.configs, "{golden}");
            assert_eq!(got.name, want.name);
        }
    }

    #[test]
    fn the_project_name_comes_from_the_directory_normalized() {
        let (p, d, s) = load_text(
            &[("compose.yaml", "services:\n  web:\n    image: nginx:1.27\n")],
            |_| {},
        );
        assert!(p.is_some(), "{}", crate::diag::render_human(&d.items, &s));
        let p = p.unwrap();
        assert_eq!(p.compose.name, "my_proj1");
        let web = &p.compose.services["web"];
        assert!(web.networks["default"].aliases.is_empty());
        assert!(p.compose.networks.contains_key("default"));
    }

    #[test]
    fn interpolation_has_composes_semantics_and_a_located_error() {
        let p = ok(
            &[(
                "compose.yaml",
                "services:\n  web:\n    image: \"${IMG:-nginx}:${TAG-1.27}\"\n    environment:\n      COST: \"$$5 and $5\"\n      HOME_DIR: $HOME_DIR\n",
            )],
            |o| o.environ = [("HOME_DIR".to_string(), "/home/x".to_string())].into(),
        );
        let web = &p.compose.services["web"];
        assert_eq!(web.image, "nginx:1.27");
        assert_eq!(web.environment["COST"], "$5 and $5");
        assert_eq!(web.environment["HOME_DIR"], "/home/x");
        let e = errors(
            &[(
                "compose.yaml",
                "services:\n  web:\n    image: nginx:${TAG:?set TAG to the release}\n",
            )],
            |_| {},
        );
        assert!(
            e.contains("required variable TAG is missing a value: set TAG to the release"),
            "{e}"
        );
        assert!(e.contains("compose.yaml:3:18"), "{e}");
    }

    #[test]
    fn dot_env_beside_the_file_and_the_process_environment_over_it() {
        let files = [
            (
                "compose.yaml",
                "services:\n  web:\n    image: nginx:${TAG}\n    environment: [\"A=${A}\"]\n",
            ),
            (
                ".env",
                "TAG=1.25\nA=from-dotenv\nCOMPOSE_PROJECT_NAME=fromenv\n",
            ),
        ];
        let p = ok(&files, |o| {
            o.environ = [("A".to_string(), "from-process".to_string())].into()
        });
        assert_eq!(p.compose.services["web"].image, "nginx:1.25");
        assert_eq!(p.compose.services["web"].environment["A"], "from-process");
        assert_eq!(p.compose.name, "fromenv");
        let p = ok(&files, |o| o.project_name = Some("explicit".into()));
        assert_eq!(p.compose.name, "explicit");
        let e = errors(&files, |o| o.project_name = Some("Not Valid".into()));
        assert!(e.contains("invalid project name"), "{e}");
    }

    #[test]
    fn several_files_merge_as_compose_merges_them() {
        let p = ok(
            &[
                (
                    "compose.yaml",
                    "services:\n  web:\n    image: nginx:1.25\n    ports: [\"80:80\"]\n    environment: {A: \"1\", B: \"2\"}\n    command: [a, b]\n",
                ),
                (
                    "compose.prod.yaml",
                    "services:\n  web:\n    image: nginx:1.27\n    ports: [\"443:443\"]\n    environment: [B=3]\n    command: [c]\n  cache:\n    image: redis:7\n",
                ),
            ],
            |o| o.files = vec!["compose.yaml".into(), "compose.prod.yaml".into()],
        );
        let web = &p.compose.services["web"];
        assert_eq!(web.image, "nginx:1.27");
        assert_eq!(web.ports.len(), 2);
        assert_eq!(web.environment["A"], "1");
        assert_eq!(web.environment["B"], "3");
        assert_eq!(web.command.as_deref(), Some(&["c".to_string()][..]));
        assert!(p.compose.services.contains_key("cache"));
        assert_eq!(p.files.len(), 2);
    }

    #[test]
    fn extends_from_another_directory_rebases_its_paths() {
        let p = ok(
            &[
                (
                    "compose.yaml",
                    "services:\n  web:\n    extends: {file: common/base.yaml, service: base}\n    image: nginx:1.27\n",
                ),
                (
                    "common/base.yaml",
                    "services:\n  base:\n    image: nginx:1.0\n    restart: always\n    volumes: [\"./data:/data\"]\n",
                ),
            ],
            |_| {},
        );
        let web = &p.compose.services["web"];
        assert_eq!(web.image, "nginx:1.27");
        assert_eq!(web.restart, Some(crate::model::RestartPolicy::Always));
        assert_eq!(web.volumes[0].source, "./common/data");
        let e = errors(
            &[(
                "compose.yaml",
                "services:\n  a:\n    extends: b\n    image: x:1\n  b:\n    extends: a\n    image: x:1\n",
            )],
            |_| {},
        );
        assert!(e.contains("goes round in a circle"), "{e}");
    }

    #[test]
    fn include_brings_a_project_and_refuses_a_clash() {
        let files = [
            (
                "compose.yaml",
                "include:\n  - db/compose.yaml\nservices:\n  web:\n    image: nginx:1.27\n    depends_on: [db]\n",
            ),
            (
                "db/compose.yaml",
                "services:\n  db:\n    image: postgres:${PG:-16}\n    volumes: [\"./init:/docker-entrypoint-initdb.d:ro\"]\n",
            ),
            ("db/.env", "PG=15\n"),
        ];
        let p = ok(&files, |_| {});
        let db = &p.compose.services["db"];
        assert_eq!(db.image, "postgres:15", "the included project's own .env");
        assert_eq!(db.volumes[0].source, "./db/init");
        let e = errors(
            &[
                (
                    "compose.yaml",
                    "include: [other.yaml]\nservices:\n  db:\n    image: postgres:16\n",
                ),
                ("other.yaml", "services:\n  db:\n    image: postgres:15\n"),
            ],
            |_| {},
        );
        assert!(
            e.contains("services.db is defined here and in the included"),
            "{e}"
        );
    }

    #[test]
    fn profiles_select_services() {
        let files = [(
            "compose.yaml",
            "services:\n  web:\n    image: nginx:1.27\n  debug:\n    image: busybox:1.36\n    profiles: [debug]\n",
        )];
        assert_eq!(ok(&files, |_| {}).compose.services.len(), 1);
        assert_eq!(
            ok(&files, |o| o.profiles = vec!["debug".into()])
                .compose
                .services
                .len(),
            2
        );
        assert_eq!(
            ok(&files, |o| o.environ =
                [("COMPOSE_PROFILES".to_string(), "debug".to_string())]
                    .into())
            .compose
            .services
            .len(),
            2
        );
    }

    #[test]
    fn what_the_issue_found_refused_is_read() {
        let p = ok(
            &[(
                "compose.yaml",
                "services:\n  api:\n    image: api:1\n    networks: [backend]\n    secrets: [jwt_secret]\n    mem_limit: 64m\n    ports:\n      - target: 8000\n        published: '18000'\n    depends_on:\n      db: {condition: service_started, required: true}\n  db:\n    image: postgres:16\n    networks:\n      backend: null\n    ports:\n      - mode: ingress\n        target: 5432\n        protocol: tcp\nnetworks:\n  backend:\n    name: my_backend\nsecrets:\n  jwt_secret:\n    file: ./jwt.txt\n",
            )],
            |_| {},
        );
        let api = &p.compose.services["api"];
        assert_eq!(api.ports[0].published, Some(18000));
        assert_eq!(api.ports[0].protocol, "tcp");
        assert_eq!(api.limits().memory, Some(crate::units::Bytes(64 << 20)));
        assert_eq!(api.secrets[0].target, "/run/secrets/jwt_secret");
        assert_eq!(
            p.compose.networks["backend"].engine_name("x", "backend"),
            "my_backend"
        );
    }

    #[test]
    fn secret_values_written_in_the_file_are_never_shown_in_an_excerpt() {
        let (p, _, sources) = load_text(
            &[(
                "compose.yaml",
                "services:\n  api:\n    image: api:1\n    environment:\n      JWT_SECRET: s3cr3t-value\n      LEVEL: debug\n  worker:\n    image: w:1\n    environment: [\"API_KEY=k3y-value\", MODE=fast]\n",
            )],
            |_| {},
        );
        assert!(p.is_some());
        let at = |line: usize| crate::diag::Span::new(0, line, 1, 1);
        let d = [5, 6, 9].map(|l| crate::diag::Diagnostic::error(Code::Internal, "x").at(at(l)));
        let shown = crate::diag::render_human(&d, &sources);
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("k3y-value"),
            "{shown}"
        );
        assert!(
            shown.contains("LEVEL: debug") && shown.contains("MODE=fast"),
            "{shown}"
        );
    }
}
