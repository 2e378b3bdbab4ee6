//! Names: one validator for the names fedgen hands to the engine, and one format for the names
//! it derives (containers, networks, volumes), so the compiler, the compose reader and the
//! deployer cannot disagree on what is valid or what a container is called.
//!
//! The rules are Compose's (compose-spec `schema/compose-spec.json` and compose-go's project name
//! check), with one addition: a service name is also a DNS name on the project's networks, so it
//! is at most 63 characters, as a DNS label.

use std::fmt;

/// What a name names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    Project,
    Service,
    Network,
    Volume,
    Secret,
    Config,
}

impl NameKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NameKind::Project => "project",
            NameKind::Service => "service",
            NameKind::Network => "network",
            NameKind::Volume => "volume",
            NameKind::Secret => "secret",
            NameKind::Config => "config",
        }
    }

    /// The rule, for hints.
    pub fn rule(self) -> &'static str {
        match self {
            NameKind::Project => {
                "a project name is lowercase letters, digits, `-` and `_`, starting with a letter or digit"
            }
            NameKind::Service => {
                "a service name is 1 to 63 letters, digits, `.`, `-` and `_`, starting with a letter or digit"
            }
            _ => "a name is letters, digits, `.`, `-` and `_`, starting with a letter or digit",
        }
    }
}

/// A name that breaks its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidName {
    pub kind: NameKind,
    pub name: String,
}

impl fmt::Display for InvalidName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a valid {} name",
            self.name,
            self.kind.as_str()
        )
    }
}

impl std::error::Error for InvalidName {}

/// Checks `name` against the rule of `kind`.
pub fn check(kind: NameKind, name: &str) -> Result<(), InvalidName> {
    let first_ok = |c: char| {
        c.is_ascii_alphanumeric() && (kind != NameKind::Project || !c.is_ascii_uppercase())
    };
    let rest_ok = |c: char| match kind {
        NameKind::Project => c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_',
        _ => c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'),
    };
    let valid = name.chars().next().is_some_and(first_ok)
        && name.chars().all(rest_ok)
        && (kind != NameKind::Service || name.len() <= 63);
    if valid {
        Ok(())
    } else {
        Err(InvalidName {
            kind,
            name: name.to_string(),
        })
    }
}

/// A container name as the engine accepts it: `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (one character is
/// accepted too).
pub fn is_container_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.len() <= 255
}

/// Compose's name for a service's container: `PROJECT-SERVICE-N`.
pub fn container_name(project: &str, service: &str, number: u32) -> String {
    format!("{project}-{service}-{number}")
}

/// Compose v1's name for the same container (`PROJECT_SERVICE_N`): hand-made stacks use it.
pub fn legacy_container_name(project: &str, service: &str, number: u32) -> String {
    format!("{project}_{service}_{number}")
}

/// The engine's name of a project's network or volume: `PROJECT_NAME`.
pub fn scoped(project: &str, name: &str) -> String {
    format!("{project}_{name}")
}

/// The inverse of [`scoped`], for objects found on the engine (unchanged if not scoped).
pub fn unscoped<'a>(project: &str, full: &'a str) -> &'a str {
    full.strip_prefix(project)
        .and_then(|r| r.strip_prefix('_'))
        .unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_rules() {
        assert!(check(NameKind::Project, "federated-imputation").is_ok());
        assert!(check(NameKind::Project, &"a".repeat(64)).is_ok());
        for bad in ["", "Shop", "-x", "a.b", "a b", "../etc"] {
            assert!(check(NameKind::Project, bad).is_err(), "{bad}");
        }
        assert!(check(NameKind::Service, "api.v2_Gateway-1").is_ok());
        assert!(check(NameKind::Service, &"s".repeat(63)).is_ok());
        assert!(check(NameKind::Service, &"s".repeat(64)).is_err());
        for bad in ["", "_x", "a/b", "a b", "é"] {
            assert!(check(NameKind::Service, bad).is_err(), "{bad}");
        }
        assert!(check(NameKind::Volume, &"v".repeat(100)).is_ok());
    }

    #[test]
    fn derived_names() {
        assert_eq!(container_name("p", "db", 1), "p-db-1");
        assert_eq!(legacy_container_name("p", "db", 1), "p_db_1");
        assert_eq!(scoped("p", "db-net"), "p_db-net");
        assert_eq!(unscoped("p", "p_db-net"), "db-net");
        assert_eq!(unscoped("p", "other"), "other");
        assert_eq!(unscoped("p", "pq_x"), "pq_x");
    }
}
