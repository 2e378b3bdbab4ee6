//! References inside environment values: URLs (with their credentials) and bare hostnames.
//!
//! Takes: one environment value (and its variable's name). Gives: the URLs in it, each with its
//! position, scheme, user, password (percent-decoded, as a client reads it), host, port and the
//! rest; the hostnames a value names (`*_HOST` values, `host:port`); and the value rewritten with
//! a URL's password removed or its host renamed. Pure text, no engine: unit-tested below.

/// A URL found in a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRef {
    /// Byte range of the whole URL in the value.
    pub start: usize,
    pub end: usize,
    pub scheme: String,
    pub user: Option<String>,
    /// The password as the client reads it (percent-decoded).
    pub password: Option<String>,
    /// Byte range of the host in the value (without brackets for IPv6).
    pub host_at: (usize, usize),
    pub host: String,
    pub port: Option<u16>,
    /// Byte range of `user:password@` (with the `@`), if any.
    pub userinfo_at: Option<(usize, usize)>,
    /// Path, query and fragment, as written (`/db?sslmode=disable`).
    pub rest: String,
}

fn ends_url(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ',' | ';' | '"' | '\'' | '<' | '>' | '`' | ')' | '(' | '|'
        )
}

/// Every `scheme://...` URL in `value`, in order.
pub fn urls(value: &str) -> Vec<UrlRef> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = value[from..].find("://").map(|i| i + from) {
        let scheme_start = value[..i]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
            .last()
            .map(|(j, _)| j)
            .unwrap_or(i);
        let after = i + 3;
        let end = value[after..]
            .char_indices()
            .find(|(_, c)| ends_url(*c))
            .map(|(j, _)| after + j)
            .unwrap_or(value.len());
        from = end.max(after);
        if scheme_start == i {
            continue;
        }
        let scheme = value[scheme_start..i].to_ascii_lowercase();
        let body = &value[after..end];
        let auth_len = body.find(['/', '?', '#']).unwrap_or(body.len());
        let authority = &body[..auth_len];
        let rest = body[auth_len..].to_string();
        let (userinfo, hostport, hp_at) = match authority.rfind('@') {
            Some(a) => (Some(&authority[..a]), &authority[a + 1..], after + a + 1),
            None => (None, authority, after),
        };
        let (host_at, host, port) = if let Some(inner) = hostport.strip_prefix('[') {
            let close = inner.find(']').unwrap_or(inner.len());
            let port = inner[close..]
                .strip_prefix("]:")
                .and_then(|p| p.parse().ok());
            (
                (hp_at + 1, hp_at + 1 + close),
                inner[..close].to_string(),
                port,
            )
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => {
                    ((hp_at, hp_at + h.len()), h.to_string(), p.parse().ok())
                }
                _ => ((hp_at, hp_at + hostport.len()), hostport.to_string(), None),
            }
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (Some(decode(user)), Some(decode(pass))),
                None => (Some(decode(u)), None),
            },
            None => (None, None),
        };
        out.push(UrlRef {
            start: scheme_start,
            end,
            scheme,
            user,
            password,
            host_at,
            host,
            port,
            userinfo_at: userinfo.map(|u| (after, after + u.len() + 1)),
            rest,
        });
    }
    out
}

/// Percent-decoding, as URL clients (libpq, redis-py, urllib) read a userinfo part.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A variable whose value is a host (or `host:port`) by its name: `DB_HOST`, `REDIS_HOSTNAME`,
/// `SMTP_SERVER`, `CACHE_ADDR`.
pub fn names_a_host(var: &str) -> bool {
    let upper = var.to_ascii_uppercase();
    ["HOST", "HOSTNAME", "SERVER", "ADDR", "ADDRESS"]
        .iter()
        .any(|w| upper == *w || upper.ends_with(&format!("_{w}")))
}

/// The hosts a value names without a scheme: the whole value as `host` or `host:port` (for a
/// variable that names a host, or any value of the `host:port` form), or a comma-separated list
/// of those. Gives each host with its byte range.
pub fn bare_hosts(var: &str, value: &str) -> Vec<(usize, usize, String)> {
    if value.contains("://") {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut at = 0;
    for part in value.split(',') {
        let start = at + (part.len() - part.trim_start().len());
        at += part.len() + 1;
        let part = part.trim();
        let (host, port) = match part.rsplit_once(':') {
            Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => (h, Some(p)),
            _ => (part, None),
        };
        let hostlike = !host.is_empty()
            && host
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if hostlike && (port.is_some() || names_a_host(var)) {
            out.push((start, start + host.len(), host.to_string()));
        }
    }
    out
}

/// `value` with byte ranges replaced (ranges must not overlap).
pub fn splice(value: &str, mut edits: Vec<(usize, usize, String)>) -> String {
    edits.sort_by_key(|e| e.0);
    let mut out = String::with_capacity(value.len());
    let mut at = 0;
    for (s, e, with) in edits {
        if s < at {
            continue;
        }
        out.push_str(&value[at..s]);
        out.push_str(&with);
        at = e;
    }
    out.push_str(&value[at..]);
    out
}

/// Whether a host is this machine or the container itself.
pub fn is_local(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1" | "0.0.0.0" | "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_credentials_hosts_and_ports() {
        let v = "postgresql://postgres:p%40ss@db:5432/service_registry_db?sslmode=disable";
        let u = &urls(v)[0];
        assert_eq!(u.scheme, "postgresql");
        assert_eq!(u.user.as_deref(), Some("postgres"));
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!(u.host, "db");
        assert_eq!(&v[u.host_at.0..u.host_at.1], "db");
        assert_eq!(u.port, Some(5432));
        assert_eq!(u.rest, "/service_registry_db?sslmode=disable");
        let (s, e) = u.userinfo_at.unwrap();
        assert_eq!(&v[s..e], "postgres:p%40ss@");
        assert_eq!(
            splice(v, vec![(s, e - 1, "postgres".into())]),
            "postgresql://postgres@db:5432/service_registry_db?sslmode=disable"
        );

        let two = "http://job-processor:8003,redis://:secret@redis";
        let us = urls(two);
        assert_eq!(us.len(), 2);
        assert_eq!(us[0].host, "job-processor");
        assert_eq!(us[0].rest, "");
        assert_eq!(us[1].user.as_deref(), Some(""));
        assert_eq!(us[1].password.as_deref(), Some("secret"));
        assert_eq!(us[1].host, "redis");
        assert_eq!(us[1].port, None);

        let v6 = "http://[::1]:8080/x";
        assert_eq!(urls(v6)[0].host, "::1");
        assert_eq!(urls(v6)[0].port, Some(8080));
        assert!(urls("no url here: //x").is_empty());
        assert_eq!(
            urls("see https://api.example.org/v1.")[0].host,
            "api.example.org"
        );
    }

    #[test]
    fn bare_hosts_by_name_or_port() {
        assert_eq!(bare_hosts("DB_HOST", "db"), vec![(0, 2, "db".to_string())]);
        assert_eq!(
            bare_hosts("CACHE", "redis:6379"),
            vec![(0, 5, "redis".to_string())]
        );
        assert_eq!(bare_hosts("BROKERS", "kafka-1:9092, kafka-2:9092").len(), 2);
        assert!(bare_hosts("MODE", "production").is_empty());
        assert!(bare_hosts("TIME", "12:30x").is_empty());
        assert!(bare_hosts("DB_HOST", "http://db").is_empty());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(decode("a%2Fb%zz%4"), "a/b%zz%4");
        assert_eq!(decode("plain"), "plain");
    }
}
