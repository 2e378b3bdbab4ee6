//! The arguments that name a Compose project, as `docker compose` takes them, shared by every
//! command that reads one (`diff`, `apply`, `lint`).

use crate::compose;
use std::path::{Path, PathBuf};

/// What `fedgen build` writes, and what `diff` and `apply` read when no file is named and it is
/// there.
pub const BUILT_FILE: &str = "docker-compose.microservices.yml";
/// What `fedgen build --target swarm` writes, and what `diff` and `apply --target swarm` read when
/// no file is named.
#[cfg(feature = "engine")]
pub const BUILT_STACK_FILE: &str = "docker-stack.microservices.yml";

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ProjectArgs {
    /// A Compose file; repeat to merge several as Compose does [default: docker-compose.microservices.yml
    /// if present, else compose.yaml, docker-compose.yml, ... as Compose finds them, or COMPOSE_FILE].
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The project name [default: COMPOSE_PROJECT_NAME, the file's `name:`, or the directory's name].
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// The directory relative paths resolve against [default: the first file's directory].
    #[arg(long = "project-directory", value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// A file of variables (for `${VAR}` and for secrets from the environment); repeatable, later
    /// files win, the process environment wins over all [default: .env in the project directory].
    #[arg(long = "env-file", visible_alias = "env", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Enable services of this profile; repeatable [default: COMPOSE_PROFILES].
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
}

impl ProjectArgs {
    /// The reader's options; `fallback` is the file to read when none is named (a saved plan's).
    pub fn options(&self, fallback: Option<&Path>) -> compose::Options {
        let cwd = std::env::current_dir().unwrap_or_default();
        let files = if !self.files.is_empty() {
            self.files.clone()
        } else if let Some(f) = fallback {
            vec![f.to_path_buf()]
        } else if std::env::var_os("COMPOSE_FILE").is_none() && cwd.join(BUILT_FILE).is_file() {
            vec![PathBuf::from(BUILT_FILE)]
        } else {
            Vec::new()
        };
        compose::Options {
            files,
            project_name: self.project_name.clone(),
            project_directory: self.project_directory.clone(),
            env_files: self.env_files.clone(),
            profiles: self.profiles.clone(),
            environ: std::env::vars().collect(),
            cwd,
            lenient: false,
        }
    }
}
