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
    /// Whichever of wget, curl, python3 and bash the image has, tried in that order by
    /// `/bin/sh`: alpine (busybox wget), Debian and Ubuntu (bash), python:*-slim (python3).
    Auto,
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
    pub const ALL: [Probe; 7] = [
        Probe::Auto,
        Probe::Wget,
        Probe::Curl,
        Probe::Bash,
        Probe::Python,
        Probe::Node,
        Probe::Image,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Probe::Auto => "auto",
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
            Probe::Bash => cmd(&["bash", "-c", &bash_get(url)]),
            Probe::Auto => {
                let script = format!(
                    "{AUTO_MARK}\nu={url}\n\
                     if command -v wget >/dev/null 2>&1; then exec wget -q -O /dev/null \"$u\"; fi\n\
                     if command -v curl >/dev/null 2>&1; then exec curl -fsS -o /dev/null \"$u\"; fi\n\
                     if command -v python3 >/dev/null 2>&1; then exec python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' \"$u\"; fi\n\
                     if command -v bash >/dev/null 2>&1; then exec bash -c \"{}\"; fi\n\
                     echo 'no wget, curl, python3 or bash in the image: set probe:' >&2; exit 1",
                    bash_get(url).replace('"', "\\\"")
                );
                vec!["CMD-SHELL".to_string(), script]
            }
            Probe::Image => Vec::new(),
        }
    }
}

/// The first line of the `auto` probe's script, by which the pre-flight knows it.
pub const AUTO_MARK: &str = "# fedgen probe: auto (the first of wget, curl, python3, bash)";

/// The programs of which the `auto` probe needs one.
pub const AUTO_PROGRAMS: &str = "wget|curl|python3|bash";

/// A GET of `url` over bash's /dev/tcp, succeeding on a 2xx or 3xx status line.
fn bash_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "80"));
    format!(
        "exec 3<>/dev/tcp/{host}/{port} && printf 'GET {path} HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -qE '^HTTP/1\\.[01] [23]'"
    )
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

/// The programs a healthcheck test runs, which must be in the image: the first word after
/// `CMD`, or the shell for `CMD-SHELL` and the first word of its command line. `a|b` means one
/// of them (the `auto` probe).
pub fn executables(test: &[String]) -> Vec<String> {
    match test.first().map(String::as_str) {
        Some("CMD") => test.get(1).cloned().into_iter().collect(),
        Some("CMD-SHELL") if test.get(1).is_some_and(|s| s.starts_with(AUTO_MARK)) => {
            vec!["/bin/sh".to_string(), AUTO_PROGRAMS.to_string()]
        }
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
        let auto = Probe::Auto.test(url);
        assert_eq!(auto[0], "CMD-SHELL");
        assert_eq!(executables(&auto), ["/bin/sh", AUTO_PROGRAMS]);
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
