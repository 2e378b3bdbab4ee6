//! The compose model as YAML text, and back.
//!
//! Takes: a [`Compose`] model. Gives: its YAML, written by serde_norway (the maintained fork of
//! serde_yaml 0.9, byte-identical output) through two adapters:
//! - every string value has `$` written as `$$`, since Compose interpolates `$VAR` in values: a
//!   literal `$` (a shell script, a password hash) must reach the container unchanged;
//! - every plain scalar that a YAML 1.1 reader would take for something other than a string
//!   (`yes`, `no`, `on`, `off`, `y`, `n`, `1_000`, `12:30`, `0b101`, dates, `=`, `<<`) is
//!   single-quoted. serde_norway follows YAML 1.2, where these are strings, and leaves them bare;
//!   PyYAML and the many tools built on it (compose-lint among them) read YAML 1.1 and would see a
//!   boolean or a number. The quoting pass re-reads the emitted text with saphyr's event parser,
//!   which gives each scalar's style and position, and quotes exactly those scalars.

use super::Compose;
use saphyr_parser::{Event, Parser, ScalarStyle};

/// The compose file's YAML body.
pub fn to_compose_yaml(compose: &Compose) -> String {
    let text =
        serde_norway::to_string(&dollars::Escaped(compose)).expect("the compose model serializes");
    quote_yaml11(&text)
}

/// Reads a compose file that fedgen wrote (the inverse of [`to_compose_yaml`]).
pub fn from_compose_yaml(text: &str) -> Result<Compose, serde_norway::Error> {
    let mut v: serde_norway::Value = serde_norway::from_str(text)?;
    map_strings(&mut v, &|s| s.replace("$$", "$"));
    serde_norway::from_value(v)
}

/// Any document of the model (the swarm stack file) as YAML, written as [`to_compose_yaml`]
/// writes the compose file: `$` escaped, YAML 1.1 quoted.
pub fn to_yaml<T: serde::Serialize>(doc: &T) -> String {
    let text = serde_norway::to_string(&dollars::Escaped(doc)).expect("the model serializes");
    quote_yaml11(&text)
}

/// The inverse of [`to_yaml`].
pub fn from_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_norway::Error> {
    let mut v: serde_norway::Value = serde_norway::from_str(text)?;
    map_strings(&mut v, &|s| s.replace("$$", "$"));
    serde_norway::from_value(v)
}

/// Single-quotes every plain scalar of `text` that YAML 1.1 would read as a non-string.
pub fn quote_yaml11(text: &str) -> String {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for event in Parser::new_from_str(text) {
        let Ok((Event::Scalar(value, ScalarStyle::Plain, _, None), span)) = event else {
            continue;
        };
        // A plain scalar that YAML 1.2 reads as a number, boolean or null was written from one.
        if yaml11_non_string(&value) && !yaml12_non_string(&value) {
            spans.push((span.start.index(), span.end.index()));
        }
    }
    if spans.is_empty() {
        return text.to_string();
    }
    // The parser's positions count characters: map them to byte offsets once.
    let offsets: Vec<usize> = text
        .char_indices()
        .map(|(b, _)| b)
        .chain([text.len()])
        .collect();
    let mut out = String::with_capacity(text.len() + 2 * spans.len());
    let mut at = 0;
    for (start, end) in spans {
        let (s, e) = (offsets[start], offsets[end]);
        out.push_str(&text[at..s]);
        out.push('\'');
        out.push_str(&text[s..e].replace('\'', "''"));
        out.push('\'');
        at = e;
    }
    out.push_str(&text[at..]);
    out
}

/// Whether a YAML 1.1 reader (PyYAML's resolvers, the 1.1 type repository) reads this plain
/// scalar as a boolean, null, number, timestamp, merge key or value key.
pub fn yaml11_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null", "NULL", "",
        "<<", "=", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
        ".nan", ".NaN", ".NAN",
    ];
    WORDS.contains(&s) || yaml11_int(s) || yaml11_float(s) || yaml11_timestamp(s)
}

/// Whether YAML 1.2's core schema (serde_norway's reader) reads this plain scalar as a
/// boolean, null or number.
fn yaml12_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "~", "null", "Null", "NULL", "", "true", "True", "TRUE", "false", "False", "FALSE", ".inf",
        ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN",
        ".NAN",
    ];
    let digits = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
    let u = unsigned(s);
    if WORDS.contains(&s) || digits(u) {
        return true;
    }
    if let Some(o) = s.strip_prefix("0o") {
        return !o.is_empty() && o.chars().all(|c| ('0'..='7').contains(&c));
    }
    if let Some(h) = s.strip_prefix("0x") {
        return !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit());
    }
    let (mantissa, exponent) = match u.find(['e', 'E']) {
        Some(i) => (&u[..i], Some(&u[i + 1..])),
        None => (u, None),
    };
    let exp_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((whole, frac)) => digits(whole) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    mantissa_ok && exp_ok
}

fn unsigned(s: &str) -> &str {
    s.strip_prefix(['-', '+']).unwrap_or(s)
}

/// `0b1_0`, `017`, `1_000`, `0x1F`, `190:20:30` (YAML 1.1 int).
fn yaml11_int(s: &str) -> bool {
    let u = unsigned(s);
    let all = |t: &str, f: fn(char) -> bool| !t.is_empty() && t.chars().all(f);
    if let Some(b) = u.strip_prefix("0b") {
        return all(b, |c| c == '0' || c == '1' || c == '_');
    }
    if let Some(h) = u.strip_prefix("0x") {
        return all(h, |c| c.is_ascii_hexdigit() || c == '_');
    }
    if u == "0" {
        return true;
    }
    if let Some(o) = u.strip_prefix('0') {
        return all(o, |c| ('0'..='7').contains(&c) || c == '_');
    }
    let mut parts = u.split(':');
    let first = parts.next().unwrap_or_default();
    let decimal = first.starts_with(|c: char| c.is_ascii_digit() && c != '0')
        && all(first, |c| c.is_ascii_digit() || c == '_');
    decimal && parts.all(sexagesimal_digits)
}

/// A base-60 part: `[0-5]?[0-9]`.
fn sexagesimal_digits(p: &str) -> bool {
    let b = p.as_bytes();
    match b {
        [d] => d.is_ascii_digit(),
        [a, d] => (b'0'..=b'5').contains(a) && d.is_ascii_digit(),
        _ => false,
    }
}

/// `1.5`, `.5`, `1e3` is not one (1.1 needs a dot), `1_0.5e+3`, `190:20:30.15` (YAML 1.1 float).
fn yaml11_float(s: &str) -> bool {
    let u = unsigned(s);
    let digits_ = |t: &str| t.chars().all(|c| c.is_ascii_digit() || c == '_');
    // Base 60 with a fraction.
    if let Some((whole, frac)) = u.rsplit_once('.') {
        if whole.contains(':') {
            let mut parts = whole.split(':');
            let first = parts.next().unwrap_or_default();
            return !first.is_empty()
                && first.starts_with(|c: char| c.is_ascii_digit())
                && digits_(first)
                && parts.all(sexagesimal_digits)
                && digits_(frac);
        }
    }
    // PyYAML: `[0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)?` or `\.[0-9_]+([eE][-+][0-9]+)?`.
    let (mantissa, exponent) = match u.find(['e', 'E']) {
        Some(i) => (&u[..i], Some(&u[i + 1..])),
        None => (u, None),
    };
    let Some((whole, frac)) = mantissa.split_once('.') else {
        return false;
    };
    let exp_ok = exponent.is_none_or(|e| {
        e.strip_prefix(['-', '+'])
            .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
    });
    let whole_ok = if whole.is_empty() {
        !frac.is_empty()
    } else {
        whole.starts_with(|c: char| c.is_ascii_digit()) && digits_(whole)
    };
    whole_ok && digits_(frac) && exp_ok
}

/// `2001-12-14`, `2001-12-14t21:59:43.10-05:00`, `2001-12-14 21:59:43.10 -5` (YAML 1.1 timestamp):
/// anything that starts with a four-digit year, a month and a day.
fn yaml11_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let mut it = rest.splitn(2, '-');
    let month = it.next().unwrap_or_default();
    let Some(tail) = it.next() else { return false };
    let day: String = tail.chars().take_while(char::is_ascii_digit).collect();
    let after = &tail[day.len()..];
    (1..=2).contains(&month.len())
        && month.chars().all(|c| c.is_ascii_digit())
        && (1..=2).contains(&day.len())
        && (after.is_empty() || after.starts_with(['T', 't', ' ', '\t']))
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
fn map_strings(v: &mut serde_norway::Value, f: &dyn Fn(&str) -> String) {
    match v {
        serde_norway::Value::String(s) => *s = f(s),
        serde_norway::Value::Sequence(seq) => seq.iter_mut().for_each(|x| map_strings(x, f)),
        serde_norway::Value::Mapping(m) => m.iter_mut().for_each(|(_, x)| map_strings(x, f)),
        serde_norway::Value::Tagged(t) => map_strings(&mut t.value, f),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Service;

    #[test]
    fn yaml11_lookalikes_are_quoted_and_nothing_else() {
        for s in [
            "yes",
            "no",
            "on",
            "off",
            "y",
            "N",
            "Yes",
            "~",
            "",
            "1_000",
            "0b101",
            "017",
            "0x1F",
            "12:30",
            "190:20:30",
            "1.5",
            ".5",
            "1_0.5e+3",
            "190:20:30.15",
            "2001-12-14",
            "2001-12-14T21:59:43.10-05:00",
            "<<",
            "=",
            ".inf",
            "-.Inf",
            ".nan",
            "+1",
            "-0",
        ] {
            assert!(yaml11_non_string(s), "{s:?} is not a string in YAML 1.1");
        }
        for s in [
            "unless-stopped",
            "redis-server",
            "1e3",
            "08",
            "09:30x",
            "1.2.3.4",
            "v1.5",
            "127.0.0.1",
            "HS256",
            "10s",
            "512m",
            "-",
            "2001-1",
            "a:b",
            "1:",
            "yes please",
            "0.5.6x",
        ] {
            assert!(!yaml11_non_string(s), "{s:?} is a string in YAML 1.1");
        }
    }

    #[test]
    fn numbers_written_as_numbers_stay_numbers() {
        for s in [
            "8000", "5", "-1", "0", "1.5", "1e3", "0x1F", "0o17", "true", "null",
        ] {
            assert!(yaml12_non_string(s), "{s}");
        }
        let text = "a: 8000\nb: 1.5\nc: true\nd: 'x'\n";
        assert_eq!(quote_yaml11(text), text);
    }

    #[test]
    fn the_emitted_file_quotes_what_yaml11_would_misread() {
        let mut c = Compose {
            name: "p".into(),
            ..Default::default()
        };
        let mut s = Service {
            image: "x:1".into(),
            command: Some(vec![
                "redis-server".into(),
                "--appendonly".into(),
                "yes".into(),
                "it's".into(),
            ]),
            ..Default::default()
        };
        s.environment.insert("ON".into(), "off".into());
        s.environment.insert("WHEN".into(), "12:30".into());
        c.services.insert("a".into(), s);
        let yaml = to_compose_yaml(&c);
        assert!(yaml.contains("- 'yes'\n"), "{yaml}");
        assert!(yaml.contains("'ON': 'off'\n"), "{yaml}");
        assert!(yaml.contains("WHEN: '12:30'\n"), "{yaml}");
        assert!(yaml.contains("- it's\n"), "{yaml}");
        assert_eq!(from_compose_yaml(&yaml).unwrap(), c);
    }

    #[test]
    fn dollars_are_escaped_for_compose_and_read_back() {
        let mut c = Compose {
            name: "p".into(),
            ..Default::default()
        };
        let s = Service {
            image: "x:1".into(),
            command: Some(vec!["sh".into(), "-c".into(), "echo $HOME $$".into()]),
            ..Default::default()
        };
        c.services.insert("a".into(), s);
        let yaml = to_compose_yaml(&c);
        assert!(yaml.contains("echo $$HOME $$$$"), "{yaml}");
        assert_eq!(from_compose_yaml(&yaml).unwrap(), c);
    }
}
