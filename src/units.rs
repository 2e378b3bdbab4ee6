//! Units: sizes, durations and CPU counts, each parsed once and printed one way.
//!
//! Takes: the text a person writes (`512m`, `1.5g`, `1m30s`, `500ms`, `0.5`) or the number the
//! engine reports (bytes, nanoseconds, billionths of a CPU). Gives: [`Bytes`], [`Duration`] and
//! [`Cpus`], which compare by value (`1g` = `1024m`, `90s` = `1m30s`) and print in one canonical
//! form: the largest exact binary unit for sizes, whole seconds (or milliseconds) for durations,
//! at least one decimal for CPUs (`1.0`, `0.25`). The compose model stores these types, so the
//! compiler, the compose reader, the engine mapping and the plan never parse a unit again.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A size in bytes (memory limits, shm_size, tmpfs sizes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub u64);

/// A span of time, in nanoseconds (healthcheck timing, stop grace periods).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub u64);

/// A CPU limit, in billionths of a CPU (the engine's NanoCpus).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cpus(pub u64);

/// Why a unit did not parse: what was expected, and how to write one (the caller says where).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitError {
    /// `a size`, `a duration`, `a number of CPUs`.
    pub expected: &'static str,
    pub hint: &'static str,
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not {}; {}", self.expected, self.hint)
    }
}

impl std::error::Error for UnitError {}

const SIZE: UnitError = UnitError {
    expected: "a size",
    hint: "write a number with a unit: 512m, 1g, 10m, 64k",
};
const DURATION: UnitError = UnitError {
    expected: "a duration",
    hint: "write a number with a unit: 500ms, 10s, 1m30s, 2h",
};
const CPUS: UnitError = UnitError {
    expected: "a number of CPUs",
    hint: "write a positive number: 0.5, 1, 2.5",
};

impl FromStr for Bytes {
    type Err = UnitError;

    /// Compose's sizes (go-units' RAMInBytes): a number, optionally a space, then an optional
    /// binary unit `k`, `m`, `g`, `t`, `p`, optionally followed by `i` and/or `b`, any case.
    fn from_str(s: &str) -> Result<Bytes, UnitError> {
        let t = s.trim().to_ascii_lowercase();
        let digits = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(digits);
        let unit = unit.trim_start();
        let unit = unit.strip_suffix('b').unwrap_or(unit);
        let unit = unit.strip_suffix('i').unwrap_or(unit);
        let mult: u64 = match unit {
            "" => 1,
            "k" => 1 << 10,
            "m" => 1 << 20,
            "g" => 1 << 30,
            "t" => 1 << 40,
            "p" => 1 << 50,
            _ => return Err(SIZE),
        };
        let v: f64 = num.parse().map_err(|_| SIZE)?;
        if !v.is_finite() || v <= 0.0 || v * mult as f64 > u64::MAX as f64 {
            return Err(SIZE);
        }
        Ok(Bytes((v * mult as f64) as u64))
    }
}

impl fmt::Display for Bytes {
    /// The largest binary unit that divides it exactly: `1g`, `512m`, `64k`, else plain bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in [("g", 1u64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl FromStr for Duration {
    type Err = UnitError;

    /// Go's time.ParseDuration, which Compose uses: numbers each followed by `ns`, `us` (`µs`),
    /// `ms`, `s`, `m` or `h` (`1m30s`, `1.5s`); a bare `0` is zero.
    fn from_str(s: &str) -> Result<Duration, UnitError> {
        let s = s.trim();
        if s == "0" {
            return Ok(Duration(0));
        }
        if s.is_empty() {
            return Err(DURATION);
        }
        let mut total: u64 = 0;
        let mut num = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let mut unit = c.to_string();
            while let Some(&n) = chars.peek() {
                if n.is_ascii_alphabetic() || n == 'µ' {
                    unit.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            let v: f64 = num.parse().map_err(|_| DURATION)?;
            num.clear();
            let ns = match unit.as_str() {
                "ns" => 1.0,
                "us" | "µs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err(DURATION),
            };
            total = total.checked_add((v * ns) as u64).ok_or(DURATION)?;
        }
        if !num.is_empty() {
            return Err(DURATION);
        }
        Ok(Duration(total))
    }
}

impl Duration {
    pub const fn from_secs(s: u64) -> Duration {
        Duration(s * 1_000_000_000)
    }

    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// Whole seconds, rounded down (the engine's stop timeout).
    pub fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }

    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0)
    }
}

impl fmt::Display for Duration {
    /// Whole seconds as `90s`, else whole milliseconds as `500ms`, else nanoseconds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns.is_multiple_of(1_000_000_000) {
            write!(f, "{}s", ns / 1_000_000_000)
        } else if ns.is_multiple_of(1_000_000) {
            write!(f, "{}ms", ns / 1_000_000)
        } else {
            write!(f, "{ns}ns")
        }
    }
}

impl FromStr for Cpus {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Cpus, UnitError> {
        let v: f64 = s.trim().parse().map_err(|_| CPUS)?;
        Cpus::from_f64(v)
    }
}

impl Cpus {
    pub fn from_f64(v: f64) -> Result<Cpus, UnitError> {
        if !v.is_finite() || v <= 0.0 || v > 1e6 {
            return Err(CPUS);
        }
        Ok(Cpus((v * 1e9).round() as u64))
    }

    pub fn nanos(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Cpus {
    /// At least one decimal, no trailing zeros beyond it: `1.0`, `0.5`, `0.25`, `2.125`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 1_000_000_000;
        let frac = self.0 % 1_000_000_000;
        let digits = format!("{frac:09}");
        let digits = digits.trim_end_matches('0');
        write!(
            f,
            "{whole}.{}",
            if digits.is_empty() { "0" } else { digits }
        )
    }
}

/// Serialized as their canonical text; read from text or, as Compose allows, a number (bytes,
/// seconds for a duration given as a bare number is not Compose's, so only text for those).
macro_rules! text_serde {
    ($ty:ty, $what:literal, $numbers:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                struct V;
                impl de::Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse()
                            .map_err(|e: UnitError| E::custom(format!("`{v}`: {e}")))
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$ty, E> {
                        let f: fn(f64) -> Result<$ty, UnitError> = $numbers;
                        f(v as f64).map_err(|e| E::custom(format!("`{v}`: {e}")))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$ty, E> {
                        let f: fn(f64) -> Result<$ty, UnitError> = $numbers;
                        f(v as f64).map_err(|e| E::custom(format!("`{v}`: {e}")))
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$ty, E> {
                        let f: fn(f64) -> Result<$ty, UnitError> = $numbers;
                        f(v).map_err(|e| E::custom(format!("`{v}`: {e}")))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

text_serde!(Bytes, "a size such as 512m", |v| {
    if v >= 1.0 && v.fract() == 0.0 {
        Ok(Bytes(v as u64))
    } else {
        Err(SIZE)
    }
});
text_serde!(Duration, "a duration such as 10s", |_| Err(DURATION));
text_serde!(Cpus, "a number of CPUs such as 0.5", Cpus::from_f64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_compose_does_and_print_in_the_largest_exact_unit() {
        for (text, bytes) in [
            ("512m", 512u64 << 20),
            ("1g", 1 << 30),
            ("1G", 1 << 30),
            ("1gb", 1 << 30),
            ("1GiB", 1 << 30),
            ("1.5k", 1536),
            ("64 k", 64 << 10),
            ("1024", 1024),
        ] {
            assert_eq!(text.parse::<Bytes>(), Ok(Bytes(bytes)), "{text}");
        }
        for bad in ["lots", "", "0", "-1m", "1x", "1mm"] {
            assert!(bad.parse::<Bytes>().is_err(), "{bad}");
        }
        assert_eq!(Bytes(512 << 20).to_string(), "512m");
        assert_eq!(Bytes(1 << 30).to_string(), "1g");
        assert_eq!(Bytes(1024 << 20).to_string(), "1g");
        assert_eq!(Bytes(1536).to_string(), "1536");
        assert_eq!(Bytes(10).to_string(), "10");
    }

    #[test]
    fn durations_compare_by_value_and_print_in_seconds() {
        let d = |s: &str| s.parse::<Duration>().unwrap();
        assert_eq!(d("1m30s"), d("90s"));
        assert_eq!(d("1.5s"), d("1500ms"));
        assert_eq!(d("0"), Duration(0));
        assert_eq!(d("1m30s").to_string(), "90s");
        assert_eq!(d("500ms").to_string(), "500ms");
        assert_eq!(d("60s").to_string(), "60s");
        assert_eq!(d("2h").to_string(), "7200s");
        assert_eq!(d("0s").to_string(), "0s");
        for bad in ["10", "", "s", "1x", "1m3"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cpus_keep_one_decimal() {
        let c = |s: &str| s.parse::<Cpus>().unwrap();
        assert_eq!(c("1").to_string(), "1.0");
        assert_eq!(c("1.0").to_string(), "1.0");
        assert_eq!(c("0.5").to_string(), "0.5");
        assert_eq!(c("0.25").to_string(), "0.25");
        assert_eq!(c("2.125").to_string(), "2.125");
        assert_eq!(c("0.5"), Cpus(500_000_000));
        for bad in ["0", "-1", "many", "NaN", "inf"] {
            assert!(bad.parse::<Cpus>().is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_reads_text_or_numbers_and_writes_text() {
        let b: Bytes = serde_json::from_str("1073741824").unwrap();
        assert_eq!(b.to_string(), "1g");
        let c: Cpus = serde_json::from_str("0.5").unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"0.5\"");
        let d: Duration = serde_json::from_str("\"1m\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"60s\"");
        assert!(serde_json::from_str::<Duration>("10").is_err());
    }
}
