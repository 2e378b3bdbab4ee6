//! The restart policy: one grammar, parsed once (spec, compose file, engine) and printed one way.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// What the engine does when the container's process exits (and after a daemon restart).
///
/// `on-failure:0` and `on-failure` are the same policy (the engine treats a maximum retry count
/// of 0 as unlimited), so both read as `OnFailure(None)` and print as `on-failure`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RestartPolicy {
    No,
    Always,
    UnlessStopped,
    /// Restart after a non-zero exit, at most this many times (`None`: without limit).
    OnFailure(Option<u32>),
}

/// The text was not a restart policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRestart(pub String);

impl fmt::Display for InvalidRestart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a restart policy (unless-stopped, always, on-failure[:N] or no)",
            self.0
        )
    }
}

impl std::error::Error for InvalidRestart {}

impl RestartPolicy {
    /// The hint every located "not a restart policy" error carries.
    pub const HINT: &'static str = "use unless-stopped, always, on-failure[:N] or no";

    /// The engine's name and maximum retry count (`RestartPolicy.Name`, `.MaximumRetryCount`).
    pub fn engine_parts(self) -> (&'static str, i64) {
        match self {
            RestartPolicy::No => ("no", 0),
            RestartPolicy::Always => ("always", 0),
            RestartPolicy::UnlessStopped => ("unless-stopped", 0),
            RestartPolicy::OnFailure(n) => ("on-failure", n.map(i64::from).unwrap_or(0)),
        }
    }

    /// The policy the engine reports (an empty name is `no`, as the engine's default).
    pub fn from_engine(name: &str, max_retries: i64) -> Result<RestartPolicy, InvalidRestart> {
        match name {
            "" | "no" => Ok(RestartPolicy::No),
            "always" => Ok(RestartPolicy::Always),
            "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
            "on-failure" => Ok(RestartPolicy::OnFailure(
                u32::try_from(max_retries).ok().filter(|n| *n > 0),
            )),
            other => Err(InvalidRestart(other.to_string())),
        }
    }
}

impl FromStr for RestartPolicy {
    type Err = InvalidRestart;

    fn from_str(s: &str) -> Result<RestartPolicy, InvalidRestart> {
        match s {
            "no" => Ok(RestartPolicy::No),
            "always" => Ok(RestartPolicy::Always),
            "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
            "on-failure" => Ok(RestartPolicy::OnFailure(None)),
            _ => match s.strip_prefix("on-failure:").map(str::parse::<u32>) {
                Some(Ok(n)) => Ok(RestartPolicy::OnFailure(Some(n).filter(|n| *n > 0))),
                _ => Err(InvalidRestart(s.to_string())),
            },
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::No => f.write_str("no"),
            RestartPolicy::Always => f.write_str("always"),
            RestartPolicy::UnlessStopped => f.write_str("unless-stopped"),
            RestartPolicy::OnFailure(None) => f.write_str("on-failure"),
            RestartPolicy::OnFailure(Some(n)) => write!(f, "on-failure:{n}"),
        }
    }
}

impl Serialize for RestartPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RestartPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RestartPolicy, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = RestartPolicy;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a restart policy: unless-stopped, always, on-failure[:N] or no")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RestartPolicy, E> {
                v.parse().map_err(E::custom)
            }
            // YAML 1.1 readers and some writers turn a bare `no` into the boolean false.
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RestartPolicy, E> {
                if v {
                    Err(E::custom(InvalidRestart("true".into())))
                } else {
                    Ok(RestartPolicy::No)
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_grammar_both_ways() {
        for text in [
            "no",
            "always",
            "unless-stopped",
            "on-failure",
            "on-failure:3",
        ] {
            let p: RestartPolicy = text.parse().unwrap();
            assert_eq!(p.to_string(), text);
            let (name, n) = p.engine_parts();
            assert_eq!(RestartPolicy::from_engine(name, n), Ok(p), "{text}");
        }
        // The engine reads a maximum of 0 as unlimited: the same policy as plain on-failure.
        assert_eq!(
            "on-failure:0".parse::<RestartPolicy>(),
            Ok(RestartPolicy::OnFailure(None))
        );
        assert_eq!(
            RestartPolicy::from_engine("on-failure", 0),
            Ok(RestartPolicy::OnFailure(None))
        );
        assert_eq!(RestartPolicy::from_engine("", 0), Ok(RestartPolicy::No));
        for bad in ["sometimes", "on-failure:x", "on-failure:-1", "Always", ""] {
            assert!(bad.parse::<RestartPolicy>().is_err(), "{bad}");
        }
    }
}
