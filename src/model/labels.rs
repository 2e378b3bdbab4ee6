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

pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";
pub const COMPOSE_NUMBER: &str = "com.docker.compose.container-number";
pub const COMPOSE_ONEOFF: &str = "com.docker.compose.oneoff";
pub const COMPOSE_CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const COMPOSE_NETWORK: &str = "com.docker.compose.network";
pub const COMPOSE_VOLUME: &str = "com.docker.compose.volume";
