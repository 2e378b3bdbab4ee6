//! Ports as Compose files write them: `"8080:80"`, `"127.0.0.1:9090:90/udp"`, `"[::1]:53:53"`,
//! `"3000-3002:4000-4002"`, `80`, or the long syntax `{target, published, host_ip, protocol}`.
//!
//! Takes: one `ports:` or `expose:` entry. Gives: the [`Port`]s (a range gives one per port) or
//! why the entry is not a port, for the caller to locate.

use crate::model::Port;
use crate::yaml::{Node, Value};

/// One `ports:` entry, short or long syntax.
pub fn parse(item: &Node) -> Result<Vec<Port>, String> {
    match &item.value {
        Value::Scalar(s, _) => short(s),
        Value::Map(_) => {
            let field = |k: &str| item.get(k).and_then(Node::scalar).map(str::to_string);
            for (k, _) in item.entries().unwrap_or_default() {
                let key = k.scalar().unwrap_or_default();
                if !matches!(
                    key,
                    "target"
                        | "published"
                        | "host_ip"
                        | "protocol"
                        | "mode"
                        | "name"
                        | "app_protocol"
                ) && !key.starts_with("x-")
                {
                    return Err(format!("a port has no key `{key}`"));
                }
            }
            let target = field("target").ok_or("a port needs `target`")?;
            let target = number(&target)?;
            let published = match field("published").filter(|p| !p.is_empty()) {
                None => None,
                Some(p) if p.contains('-') => {
                    let (a, b) = range(&p)?;
                    if a != b {
                        return Err(format!(
                            "the host port range `{p}` for one container port is not supported"
                        ));
                    }
                    Some(a)
                }
                Some(p) => Some(number(&p)?),
            };
            let protocol = field("protocol")
                .map(|p| p.to_ascii_lowercase())
                .unwrap_or_else(|| "tcp".into());
            check_protocol(&protocol)?;
            if let Some(m) = field("mode") {
                if m != "ingress" && m != "host" {
                    return Err(format!("`mode: {m}` is not a port mode (ingress or host)"));
                }
            }
            Ok(vec![Port {
                target,
                published,
                host_ip: field("host_ip").filter(|h| !h.is_empty()),
                protocol,
            }])
        }
        _ => Err("a port is a string or a mapping".into()),
    }
}

fn number(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("`{s}` is not a port number (1-65535)")),
        Ok(n) => Ok(n),
    }
}

fn range(s: &str) -> Result<(u16, u16), String> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (number(a)?, number(b)?);
            if b < a {
                return Err(format!("the range `{s}` ends before it starts"));
            }
            Ok((a, b))
        }
        None => number(s).map(|n| (n, n)),
    }
}

fn check_protocol(p: &str) -> Result<(), String> {
    if matches!(p, "tcp" | "udp" | "sctp") {
        Ok(())
    } else {
        Err(format!("`{p}` is not a protocol (tcp, udp or sctp)"))
    }
}

/// The short syntax: `[[HOST_IP:][HOST_PORT]:]CONTAINER_PORT[/PROTOCOL]`, either port a range.
fn short(spec: &str) -> Result<Vec<Port>, String> {
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    check_protocol(&protocol)?;
    // An IPv6 address is bracketed: `[::1]:53:53`.
    let (ip, ports) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, tail) = after
            .split_once(']')
            .ok_or_else(|| format!("`{spec}`: unclosed `[`"))?;
        let tail = tail
            .strip_prefix(':')
            .ok_or_else(|| format!("`{spec}`: expected `:` after the address"))?;
        (Some(ip.to_string()), tail)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.len() {
            1 | 2 => (None, rest),
            3 => (Some(parts[0].to_string()), &rest[parts[0].len() + 1..]),
            _ => return Err(format!("`{spec}` has too many `:`")),
        }
    };
    let (host, container) = match ports.rsplit_once(':') {
        Some((h, c)) => (Some(h).filter(|h| !h.is_empty()), c),
        None => (None, ports),
    };
    let (c0, c1) = range(container)?;
    let host = host.map(range).transpose()?;
    let ip = ip.filter(|i| !i.is_empty());
    let mut out = Vec::new();
    match host {
        None => {
            for target in c0..=c1 {
                out.push(Port {
                    target,
                    published: None,
                    host_ip: ip.clone(),
                    protocol: protocol.clone(),
                });
            }
        }
        Some((h0, h1)) if h1 - h0 == c1 - c0 => {
            for (i, target) in (c0..=c1).enumerate() {
                out.push(Port {
                    target,
                    published: Some(h0 + i as u16),
                    host_ip: ip.clone(),
                    protocol: protocol.clone(),
                });
            }
        }
        Some((h0, h1)) if c0 == c1 => {
            return Err(format!(
                "the host port range {h0}-{h1} for one container port is not supported"
            ))
        }
        Some(_) => return Err(format!("`{spec}`: the two ranges differ in length")),
    }
    Ok(out)
}

/// One `expose:` entry (`80`, `"8000-8002/udp"`), as `PORT/PROTOCOL` strings.
pub fn expose(spec: &str) -> Result<Vec<String>, String> {
    let (ports, protocol) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    check_protocol(&protocol)?;
    let (a, b) = range(ports)?;
    Ok((a..=b).map(|p| format!("{p}/{protocol}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(target: u16, published: Option<u16>, ip: Option<&str>, proto: &str) -> Port {
        Port {
            target,
            published,
            host_ip: ip.map(str::to_string),
            protocol: proto.into(),
        }
    }

    #[test]
    fn the_short_forms_compose_documents() {
        assert_eq!(short("8080:80").unwrap(), [p(80, Some(8080), None, "tcp")]);
        assert_eq!(
            short("127.0.0.1:9090:90/UDP").unwrap(),
            [p(90, Some(9090), Some("127.0.0.1"), "udp")]
        );
        assert_eq!(
            short("[::1]:53:53/udp").unwrap(),
            [p(53, Some(53), Some("::1"), "udp")]
        );
        assert_eq!(short("80").unwrap(), [p(80, None, None, "tcp")]);
        assert_eq!(
            short("127.0.0.1::80").unwrap(),
            [p(80, None, Some("127.0.0.1"), "tcp")]
        );
        assert_eq!(short("3000-3002:4000-4002").unwrap().len(), 3);
        assert_eq!(short("3000-3005").unwrap().len(), 6);
        assert!(short("8000-8005:80").is_err());
        assert!(short("80:99999").is_err());
        assert!(short("1:2:3:4").is_err());
    }

    #[test]
    fn expose_ranges_expand() {
        assert_eq!(expose("80").unwrap(), ["80/tcp"]);
        assert_eq!(expose("8000-8001/udp").unwrap(), ["8000/udp", "8001/udp"]);
    }
}
