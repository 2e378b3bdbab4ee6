//! Probes: how a healthcheck asks a service over HTTP whether it is healthy, with what the image
//! has. An image without `wget` cannot run a `wget` healthcheck: the service never turns healthy
//! and nothing that uses it starts. So the HTTP-checked kinds take a `probe:` setting, each kind
//! with the default that works on the image it is made for (docs/kinds.md says which and why),
//! and `fedgen apply` checks before it changes anything that each probe's program is in its image.

use serde::Deserialize;
use std::fmt;
use std::str::FromStr;

/// A way to GET a URL inside the container and exit 0 on a 2xx or 3xx answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Probe {
    /// busybox or GNU wget (alpine and busybox-based images).
    Wget,
    /// curl.
    Curl,
    /// HTTP over bash's /dev/tcp: any Debian- or Ubuntu-based image, python:*-slim included.
    Bash,
    /// python3's urllib: Python images, which often have neither wget nor curl.
    Python,
    /// node's http module: Node.js images.
    Node,
    /// The image's own HEALTHCHECK (fedgen sets only the timing).
    Image,
}

impl Probe {
    pub const ALL: [Probe; 6] = [
        Probe::Wget,
        Probe::Curl,
        Probe::Bash,
        Probe::Python,
        Probe::Node,
        Probe::Image,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Probe::Wget => "wget",
            Probe::Curl => "curl",
            Probe::Bash => "bash",
            Probe::Python => "python",
            Probe::Node => "node",
            Probe::Image => "image",
        }
    }

    /// The healthcheck test that GETs `url` (a `http://127.0.0.1:PORT/path` URL); empty for
    /// [`Probe::Image`], whose test is the image's.
    pub fn test(self, url: &str) -> Vec<String> {
        let cmd = |args: &[&str]| {
            std::iter::once("CMD")
                .chain(args.iter().copied())
                .map(str::to_string)
                .collect()
        };
        match self {
            Probe::Wget => cmd(&["wget", "-q", "-O", "/dev/null", url]),
            Probe::Curl => cmd(&["curl", "-fsS", "-o", "/dev/null", url]),
            Probe::Python => cmd(&[
                "python3",
                "-c",
                "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)",
                url,
            ]),
            Probe::Node => cmd(&[
                "node",
                "-e",
                "require('http').get(process.argv[1], r => process.exit(r.statusCode < 400 ? 0 : 1)).on('error', () => process.exit(1))",
                url,
            ]),
            Probe::Bash => {
                let rest = url.strip_prefix("http://").unwrap_or(url);
                let (authority, path) = match rest.find('/') {
                    Some(i) => (&rest[..i], &rest[i..]),
                    None => (rest, "/"),
                };
                let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "80"));
                let script = format!(
                    "exec 3<>/dev/tcp/{host}/{port} && printf 'GET {path} HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -qE '^HTTP/1\\.[01] [23]'"
                );
                cmd(&["bash", "-c", &script])
            }
            Probe::Image => Vec::new(),
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Probe {
    type Err = ();

    fn from_str(s: &str) -> Result<Probe, ()> {
        Probe::ALL.into_iter().find(|p| p.as_str() == s).ok_or(())
    }
}

/// The program a healthcheck test runs first, which must be in the image: the first word after
/// `CMD`, or the shell for `CMD-SHELL` (whose command line the shell then looks up).
pub fn executables(test: &[String]) -> Vec<String> {
    match test.first().map(String::as_str) {
        Some("CMD") => test.get(1).cloned().into_iter().collect(),
        Some("CMD-SHELL") => {
            let first = test
                .get(1)
                .and_then(|line| {
                    line.split_whitespace()
                        .find(|w| !w.contains('=') || w.starts_with('-'))
                })
                .map(str::to_string);
            std::iter::once("/bin/sh".to_string())
                .chain(first)
                .collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_probe_gets_a_url() {
        let url = "http://127.0.0.1:8000/health";
        assert_eq!(
            Probe::Wget.test(url),
            ["CMD", "wget", "-q", "-O", "/dev/null", url]
        );
        assert_eq!(Probe::Python.test(url)[1], "python3");
        assert_eq!(Probe::Python.test(url).last().unwrap(), url);
        let bash = Probe::Bash.test(url);
        assert!(
            bash[3].starts_with("exec 3<>/dev/tcp/127.0.0.1/8000 && printf 'GET /health HTTP/1.0"),
            "{bash:?}"
        );
        assert!(Probe::Image.test(url).is_empty());
        for p in Probe::ALL {
            assert_eq!(p.as_str().parse::<Probe>(), Ok(p));
        }
    }

    #[test]
    fn the_program_a_test_runs() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            executables(&t(&["CMD", "pg_isready", "-h", "x"])),
            ["pg_isready"]
        );
        assert_eq!(
            executables(&t(&["CMD-SHELL", "redis-cli ping | grep PONG"])),
            ["/bin/sh", "redis-cli"]
        );
        assert_eq!(
            executables(&t(&["CMD-SHELL", "PGPASSWORD=x psql -c 'select 1'"])),
            ["/bin/sh", "psql"]
        );
        assert!(executables(&[]).is_empty());
    }
}
