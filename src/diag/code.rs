//! Every diagnostic code, in one enum: its kebab-case text is the public contract of
//! `fedgen build --format json` (and of the text output's `error[code]`), listed with an example
//! in docs/diagnostics.md, which a test keeps in step with this list.

use serde::{Serialize, Serializer};
use std::fmt;

macro_rules! codes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $text:literal,)+) => {
        /// What kind of problem a diagnostic reports.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl Code {
            /// Every code, in the order of the docs.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)+];

            /// The stable kebab-case name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)+
                }
            }

            /// One line on what the code means (the docs' table).
            pub fn summary(self) -> &'static str {
                match self {
                    $(Code::$variant => concat!($($doc),+).trim_start(),)+
                }
            }
        }
    };
}

codes! {
    /// The stack spec cannot be read (missing file, no permission).
    SpecUnreadable = "spec-unreadable",
    /// The stack spec is not UTF-8.
    SpecNotUtf8 = "spec-not-utf8",
    /// The stack spec is larger than 4 MiB.
    SpecTooLarge = "spec-too-large",
    /// The stack spec nests deeper than 64 levels.
    SpecTooDeep = "spec-too-deep",
    /// The top level is not a mapping.
    SpecNotMapping = "spec-not-mapping",
    /// The YAML does not parse.
    YamlSyntax = "yaml-syntax",
    /// A YAML file larger than fedgen reads (4 MiB).
    YamlTooLarge = "yaml-too-large",
    /// A YAML file that nests deeper than fedgen reads (64 levels).
    YamlTooDeep = "yaml-too-deep",
    /// A YAML anchor or alias in a stack spec (use `defaults:`).
    YamlAnchor = "yaml-anchor",
    /// A YAML tag (`!tag`) where none is allowed.
    YamlTag = "yaml-tag",
    /// A mapping key that is not a plain scalar.
    YamlComplexKey = "yaml-complex-key",
    /// A key given twice in one mapping.
    DuplicateKey = "duplicate-key",
    /// A key the spec (or the kind) does not have.
    UnknownKey = "unknown-key",
    /// A key of the Compose specification that fedgen cannot apply (`build`, `gpus`, ...).
    UnsupportedKey = "unsupported-key",
    /// A key Compose ignores (`version`).
    ObsoleteKey = "obsolete-key",
    /// A required key is missing.
    MissingKey = "missing-key",
    /// A value of the wrong type (a scalar where a list belongs, ...).
    WrongType = "wrong-type",
    /// A value outside what the key accepts (a size, a duration, a policy, ...).
    InvalidValue = "invalid-value",
    /// A name the engine would refuse.
    InvalidName = "invalid-name",
    /// An image reference that does not parse.
    InvalidImage = "invalid-image",
    /// An image with no tag (which means `latest`).
    ImageUntagged = "image-untagged",
    /// An image tagged `latest`.
    ImageLatest = "image-latest",
    /// A `publish:` entry that does not parse.
    InvalidPublish = "invalid-publish",
    /// A published port on a service without a container port.
    PublishWithoutPort = "publish-without-port",
    /// Two services publish the same host port.
    PortConflict = "port-conflict",
    /// A `volumes:` entry that does not parse.
    InvalidVolume = "invalid-volume",
    /// Two mounts (or a mount and a secret, config or tmpfs) on one path in a service.
    DuplicateMount = "duplicate-mount",
    /// A host path that is absolute, climbs out of the project or goes through a link.
    HostPath = "host-path",
    /// A secret declaration without exactly one valid source.
    InvalidSecret = "invalid-secret",
    /// A variable that is not set (and has no default).
    MissingVariable = "missing-variable",
    /// A `${...}` that does not parse.
    InterpolationSyntax = "interpolation-syntax",
    /// A secret-looking variable interpolated into a value (it would land in the file).
    SecretInterpolated = "secret-interpolated",
    /// A secret-looking variable set as a plain environment value.
    PlainSecret = "plain-secret",
    /// A secret whose variable is not set now (a warning: it must be set when deploying).
    SecretUnset = "secret-unset",
    /// A service of a kind that does not exist.
    UnknownKind = "unknown-kind",
    /// An image of none of the families its kind is made for (valkey for redis is one).
    UnsupportedImage = "unsupported-image",
    /// A reference to a service the stack does not have.
    UnknownService = "unknown-service",
    /// A reference to a secret the stack does not declare.
    UnknownSecret = "unknown-secret",
    /// A reference to a network the stack does not declare.
    UnknownNetwork = "unknown-network",
    /// A reference to a volume the stack does not declare.
    UnknownVolume = "unknown-volume",
    /// A service that uses itself.
    SelfUse = "self-use",
    /// `uses` edges that form a cycle.
    DependencyCycle = "dependency-cycle",
    /// A helper or template names a service the caller does not `use`.
    UnusedReference = "unused-reference",
    /// A helper call in an `env:` value fails.
    EnvTemplate = "env-template",
    /// `read_only: true` on a service that receives copied-in files.
    ReadOnlyConflict = "read-only-conflict",
    /// The `--env` file cannot be read.
    EnvUnreadable = "env-unreadable",
    /// The `--env` file is not UTF-8.
    EnvNotUtf8 = "env-not-utf8",
    /// A line of the `--env` file does not parse.
    EnvSyntax = "env-syntax",
    /// A template (or the `--templates` directory) cannot be read.
    TemplateUnreadable = "template-unreadable",
    /// A template that is not a regular file (a symbolic link, ...).
    TemplateUnsafe = "template-unsafe",
    /// A template's syntax is wrong.
    TemplateSyntax = "template-syntax",
    /// A template's metadata comment is missing or wrong.
    TemplateMeta = "template-meta",
    /// A template fails to render.
    TemplateError = "template-error",
    /// A template renders something that is not a valid service fragment.
    TemplateOutput = "template-output",
    /// A compiled service breaks one of fedgen's policies (only a template can cause it).
    Policy = "policy",
    /// A policy a service opts out of on purpose (a warning: `restart: no`, `memory: none`, ...).
    PolicyOptOut = "policy-opt-out",
    /// A setting the swarm stack file cannot express (a pids limit, a port bound to one address, ...).
    SwarmUnsupported = "swarm-unsupported",
    /// A kind that keeps its data on one volume asked for more than one replica on a swarm.
    SwarmStatefulReplicas = "swarm-stateful-replicas",
    /// A policy a swarm cannot enforce as fedgen does on one host (a warning; docs/swarm.md).
    SwarmPolicy = "swarm-policy",
    /// A secret whose value is not known when building for swarm (its name is a hash of it).
    SwarmSecretUnknown = "swarm-secret-unknown",
    /// A fedgen bug: the output failed its own check.
    Internal = "internal",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(
                s.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'),
                "{s}"
            );
            assert!(seen.insert(s), "{s} twice");
            assert!(!c.summary().is_empty());
        }
    }
}
