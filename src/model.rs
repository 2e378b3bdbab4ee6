//! The normalized Compose model: the one set of types both sides of fedgen share.
//!
//! The compiler emits it (serialized as the compose file), `diff` reads the compose file back into
//! it and normalizes what runs on the engine into it, so that desired and actual are compared field
//! by field. Field order is the output key order; maps are sorted; empty values are omitted, so the
//! same input always serializes to the same bytes.
//!
//! It covers the subset of the Compose specification that fedgen writes and can converge. Anything
//! outside it is rejected on read rather than silently ignored.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Label carrying the sha256 of a service's normalized config (without this label).
pub const LABEL_CONFIG_HASH: &str = "dev.fedgen.config-hash";
/// Label naming the kind (template) a service was compiled from.
pub const LABEL_KIND: &str = "dev.fedgen.kind";

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compose {
    pub name: String,
    pub services: IndexMap<String, Service>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Secret>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, Config>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// Field order follows dclint's `service-keys-order` rule, so the file lints clean as written.
pub struct Service {
    pub image: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, DependsOn>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<ServiceConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ServiceSecret>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, ServiceNetwork>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependsOn {
    pub condition: Condition,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetwork {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub target: u16,
    pub published: u16,
    pub host_ip: String,
    pub protocol: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSecret {
    pub source: String,
    pub target: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub source: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    pub driver: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    pub resources: Resources,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Limits>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default, skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A secret's source: a variable of the environment fedgen deploys from, or a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// Non-secret file content that a kind ships into its container (e.g. an init script).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub content: String,
}

impl Service {
    /// sha256 of the service's normalized config, excluding the hash label itself. Stable across
    /// runs and platforms: it hashes the canonical JSON of the model (sorted maps, fixed field order).
    pub fn config_hash(&self) -> String {
        // The compiler hashes before it sets the label, so only a labelled service is copied.
        if self.labels.contains_key(LABEL_CONFIG_HASH) {
            let mut copy = self.clone();
            copy.labels.remove(LABEL_CONFIG_HASH);
            return copy.config_hash();
        }
        let mut hasher = Sha256::new();
        serde_json::to_writer(&mut hasher, self).expect("service serializes");
        hex(&hasher.finalize())
    }

    /// Whether the service runs until stopped (so it needs a healthcheck and a restart policy), as
    /// opposed to a one-shot job that something waits on with `service_completed_successfully`.
    pub fn is_long_running(&self) -> bool {
        self.restart.as_deref() != Some("no")
    }
}

impl Compose {
    /// The compose file's YAML body. Every string value has `$` written as `$$`, since Compose
    /// interpolates `$VAR` in values: a literal `$` (a shell script, a password hash) must reach
    /// the container unchanged.
    pub fn to_compose_yaml(&self) -> String {
        serde_yaml::to_string(&dollars::Escaped(self)).expect("the compose model serializes")
    }

    /// Reads a compose file that fedgen wrote (the inverse of [`Compose::to_compose_yaml`]).
    pub fn from_compose_yaml(text: &str) -> Result<Compose, serde_yaml::Error> {
        let mut v: serde_yaml::Value = serde_yaml::from_str(text)?;
        map_strings(&mut v, &|s| s.replace("$$", "$"));
        serde_yaml::from_value(v)
    }
}

/// Serialization with `$` written as `$$` in every string value (not in map keys or field names):
/// an adapter around any serde serializer, so the model is escaped and emitted in one pass.
mod dollars {
    use serde::ser::{self, Serialize, Serializer};

    /// Serializes the wrapped value with every string value escaped.
    pub struct Escaped<'a, T: ?Sized>(pub &'a T);

    impl<T: Serialize + ?Sized> Serialize for Escaped<'_, T> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            self.0.serialize(Escaper(serializer))
        }
    }

    /// A serializer (or one of its compound states) that escapes string values and passes
    /// everything else to the one it wraps.
    struct Escaper<S>(S);

    macro_rules! forward {
        ($($method:ident($ty:ty)),* $(,)?) => {
            $(fn $method(self, v: $ty) -> Result<S::Ok, S::Error> {
                self.0.$method(v)
            })*
        };
    }

    impl<S: Serializer> Serializer for Escaper<S> {
        type Ok = S::Ok;
        type Error = S::Error;
        type SerializeSeq = Escaper<S::SerializeSeq>;
        type SerializeTuple = Escaper<S::SerializeTuple>;
        type SerializeTupleStruct = Escaper<S::SerializeTupleStruct>;
        type SerializeTupleVariant = Escaper<S::SerializeTupleVariant>;
        type SerializeMap = Escaper<S::SerializeMap>;
        type SerializeStruct = Escaper<S::SerializeStruct>;
        type SerializeStructVariant = Escaper<S::SerializeStructVariant>;

        forward!(
            serialize_bool(bool),
            serialize_i8(i8),
            serialize_i16(i16),
            serialize_i32(i32),
            serialize_i64(i64),
            serialize_i128(i128),
            serialize_u8(u8),
            serialize_u16(u16),
            serialize_u32(u32),
            serialize_u64(u64),
            serialize_u128(u128),
            serialize_f32(f32),
            serialize_f64(f64),
            serialize_bytes(&[u8]),
            serialize_unit_struct(&'static str),
        );

        fn serialize_char(self, v: char) -> Result<S::Ok, S::Error> {
            if v == '$' {
                self.0.serialize_str("$$")
            } else {
                self.0.serialize_char(v)
            }
        }

        fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
            if v.contains('$') {
                self.0.serialize_str(&v.replace('$', "$$"))
            } else {
                self.0.serialize_str(v)
            }
        }

        fn serialize_none(self) -> Result<S::Ok, S::Error> {
            self.0.serialize_none()
        }

        fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<S::Ok, S::Error> {
            self.0.serialize_some(&Escaped(v))
        }

        fn serialize_unit(self) -> Result<S::Ok, S::Error> {
            self.0.serialize_unit()
        }

        fn serialize_unit_variant(
            self,
            name: &'static str,
            index: u32,
            variant: &'static str,
        ) -> Result<S::Ok, S::Error> {
            self.0.serialize_unit_variant(name, index, variant)
        }

        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            name: &'static str,
            v: &T,
        ) -> Result<S::Ok, S::Error> {
            self.0.serialize_newtype_struct(name, &Escaped(v))
        }

        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            name: &'static str,
            index: u32,
            variant: &'static str,
            v: &T,
        ) -> Result<S::Ok, S::Error> {
            self.0
                .serialize_newtype_variant(name, index, variant, &Escaped(v))
        }

        fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
            self.0.serialize_seq(len).map(Escaper)
        }

        fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
            self.0.serialize_tuple(len).map(Escaper)
        }

        fn serialize_tuple_struct(
            self,
            name: &'static str,
            len: usize,
        ) -> Result<Self::SerializeTupleStruct, S::Error> {
            self.0.serialize_tuple_struct(name, len).map(Escaper)
        }

        fn serialize_tuple_variant(
            self,
            name: &'static str,
            index: u32,
            variant: &'static str,
            len: usize,
        ) -> Result<Self::SerializeTupleVariant, S::Error> {
            self.0
                .serialize_tuple_variant(name, index, variant, len)
                .map(Escaper)
        }

        fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
            self.0.serialize_map(len).map(Escaper)
        }

        fn serialize_struct(
            self,
            name: &'static str,
            len: usize,
        ) -> Result<Self::SerializeStruct, S::Error> {
            self.0.serialize_struct(name, len).map(Escaper)
        }

        fn serialize_struct_variant(
            self,
            name: &'static str,
            index: u32,
            variant: &'static str,
            len: usize,
        ) -> Result<Self::SerializeStructVariant, S::Error> {
            self.0
                .serialize_struct_variant(name, index, variant, len)
                .map(Escaper)
        }

        fn is_human_readable(&self) -> bool {
            self.0.is_human_readable()
        }
    }

    macro_rules! elements {
        ($($trait:ident::$method:ident),* $(,)?) => {
            $(impl<S: ser::$trait> ser::$trait for Escaper<S> {
                type Ok = S::Ok;
                type Error = S::Error;

                fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), S::Error> {
                    self.0.$method(&Escaped(v))
                }

                fn end(self) -> Result<S::Ok, S::Error> {
                    self.0.end()
                }
            })*
        };
    }

    elements!(
        SerializeSeq::serialize_element,
        SerializeTuple::serialize_element,
        SerializeTupleStruct::serialize_field,
        SerializeTupleVariant::serialize_field,
    );

    /// Keys are written as they are; values are escaped.
    impl<S: ser::SerializeMap> ser::SerializeMap for Escaper<S> {
        type Ok = S::Ok;
        type Error = S::Error;

        fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), S::Error> {
            self.0.serialize_key(k)
        }

        fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), S::Error> {
            self.0.serialize_value(&Escaped(v))
        }

        fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
            &mut self,
            k: &K,
            v: &V,
        ) -> Result<(), S::Error> {
            self.0.serialize_entry(k, &Escaped(v))
        }

        fn end(self) -> Result<S::Ok, S::Error> {
            self.0.end()
        }
    }

    macro_rules! fields {
        ($($trait:ident),* $(,)?) => {
            $(impl<S: ser::$trait> ser::$trait for Escaper<S> {
                type Ok = S::Ok;
                type Error = S::Error;

                fn serialize_field<T: Serialize + ?Sized>(
                    &mut self,
                    key: &'static str,
                    v: &T,
                ) -> Result<(), S::Error> {
                    self.0.serialize_field(key, &Escaped(v))
                }

                fn skip_field(&mut self, key: &'static str) -> Result<(), S::Error> {
                    self.0.skip_field(key)
                }

                fn end(self) -> Result<S::Ok, S::Error> {
                    self.0.end()
                }
            })*
        };
    }

    fields!(SerializeStruct, SerializeStructVariant);
}

/// Applies `f` to every string value (not to mapping keys) of a YAML tree.
fn map_strings(v: &mut serde_yaml::Value, f: &dyn Fn(&str) -> String) {
    match v {
        serde_yaml::Value::String(s) => *s = f(s),
        serde_yaml::Value::Sequence(seq) => seq.iter_mut().for_each(|x| map_strings(x, f)),
        serde_yaml::Value::Mapping(m) => m.iter_mut().for_each(|(_, x)| map_strings(x, f)),
        serde_yaml::Value::Tagged(t) => map_strings(&mut t.value, f),
        _ => {}
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex(&Sha256::digest(data.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_hash_ignores_its_own_label_and_sees_everything_else() {
        let mut s = Service {
            image: "x:1".into(),
            ..Default::default()
        };
        let h = s.config_hash();
        s.labels.insert(LABEL_CONFIG_HASH.into(), h.clone());
        assert_eq!(s.config_hash(), h);
        s.environment.insert("A".into(), "1".into());
        assert_ne!(s.config_hash(), h);
    }

    #[test]
    fn dollars_are_escaped_for_compose_and_read_back() {
        let mut c = Compose {
            name: "p".into(),
            ..Default::default()
        };
        let mut s = Service {
            image: "x:1".into(),
            ..Default::default()
        };
        s.command = Some(vec!["sh".into(), "-c".into(), "echo $HOME $$".into()]);
        c.services.insert("a".into(), s);
        let yaml = c.to_compose_yaml();
        assert!(yaml.contains("echo $$HOME $$$$"), "{yaml}");
        assert_eq!(Compose::from_compose_yaml(&yaml).unwrap(), c);
    }

    #[test]
    fn unknown_fields_are_rejected_on_read() {
        let err = serde_yaml::from_str::<Service>("image: x:1\nprivileged: true\n").unwrap_err();
        assert!(err.to_string().contains("privileged"), "{err}");
    }
}
