//! Every label fedgen reads or writes, in one place: its own (`dev.fedgen.*`) and Compose's
//! (`com.docker.compose.*`, which `docker compose ps`, `logs` and `down` use to find a project).

/// sha256 of a service's normalized config (without this label); a container made from another
/// config carries another value.
pub const LABEL_CONFIG_HASH: &str = "dev.fedgen.config-hash";
/// The kind (template) a service was compiled from.
pub const LABEL_KIND: &str = "dev.fedgen.kind";
/// `one-shot` on a service that runs once to completion (see [`crate::model::Lifecycle`]).
pub const LABEL_LIFECYCLE: &str = "dev.fedgen.lifecycle";
/// sha256 prefix of each secret's and config's content, as `name=hash,...` (never the value),
/// on containers fedgen creates.
pub const LABEL_SECRETS: &str = "dev.fedgen.secrets-hash";
/// The unmanaged container a service replaces with `apply --adopt` (the spec's `adopt:`).
pub const LABEL_ADOPT: &str = "dev.fedgen.adopt";

pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";
pub const COMPOSE_NUMBER: &str = "com.docker.compose.container-number";
pub const COMPOSE_ONEOFF: &str = "com.docker.compose.oneoff";
pub const COMPOSE_CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const COMPOSE_NETWORK: &str = "com.docker.compose.network";
pub const COMPOSE_VOLUME: &str = "com.docker.compose.volume";
pub const COMPOSE_WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const COMPOSE_CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const COMPOSE_ENV_FILE: &str = "com.docker.compose.project.environment_file";
pub const COMPOSE_DEPENDS_ON: &str = "com.docker.compose.depends_on";
/// The local id (`sha256:...`) of the image the container was made from: Compose recreates a
/// container whose image id is not the one its image name points at now.
pub const COMPOSE_IMAGE: &str = "com.docker.compose.image";
pub const COMPOSE_VERSION: &str = "com.docker.compose.version";
/// The Compose release whose labels and config hash fedgen's match (docs/compose.md).
pub const COMPOSE_VERSION_VALUE: &str = "2.26.1";
