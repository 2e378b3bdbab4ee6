//! What import reads from the engine: the chosen containers, their images, the volumes, a few
//! files inside the containers, and whether a port answers HTTP.
//!
//! Takes: an [`Engine`] and a [`Selection`]. Gives: a [`Host`]: each selected container's inspect
//! with its image's inspect, the labels of every volume (to tell a project's own volume from an
//! existing one), and then, on request, files read through the archive API (secret files named by
//! `*_FILE` variables, nginx's `conf.d`, fedgen's database script) and HTTP answers from the
//! containers' addresses. Only the Docker API is used (no CLI); every call is counted.
//!
//! Calls: one container list, one inspect per container and per distinct image, one volume list,
//! one archive read per file asked for (none for most containers).

use crate::deploy::engine::{Engine, EngineError};
use crate::deploy::mapping::ImageDefaults;
use crate::model::labels::{COMPOSE_ONEOFF, COMPOSE_PROJECT};
use bollard::models::{ContainerInspectResponse, ContainerSummary, ImageInspect};
use bollard::query_parameters::{
    DownloadFromContainerOptions, InspectContainerOptions, ListContainersOptionsBuilder,
    ListVolumesOptions,
};
use futures_util::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

const CONCURRENCY: usize = 8;
/// Largest archive read from a container (a secret or config file is far smaller).
const MAX_ARCHIVE: usize = 1 << 20;

/// Which containers to import.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Names (or id prefixes), each of which must exist.
    pub names: Vec<String>,
    /// `--filter name=TEXT`: containers whose name contains TEXT.
    pub name_filters: Vec<String>,
    /// `--project P`: the containers of Compose project P (by label), and those named as its
    /// containers (`P_SERVICE_N`, `P-SERVICE-N`).
    pub project: Option<String>,
}

impl Selection {
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.name_filters.is_empty() && self.project.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("no container named {0} on this host")]
    NoSuchContainer(String),
    #[error("no container matches the selection ({0})")]
    NothingSelected(String),
}

/// A container's image, as inspected.
#[derive(Debug, Clone)]
pub struct ImageSeen {
    pub id: String,
    pub defaults: ImageDefaults,
    pub inspect: ImageInspect,
}

impl ImageSeen {
    pub fn tags(&self) -> Vec<String> {
        self.inspect.repo_tags.clone().unwrap_or_default()
    }
    pub fn digests(&self) -> Vec<String> {
        self.inspect.repo_digests.clone().unwrap_or_default()
    }
    /// The image's own environment as `KEY -> value`.
    pub fn env(&self) -> BTreeMap<String, String> {
        env_map(
            self.inspect
                .config
                .as_ref()
                .and_then(|c| c.env.clone())
                .unwrap_or_default(),
        )
    }
    /// Its entrypoint followed by its command.
    pub fn argv(&self) -> Vec<String> {
        let c = self.inspect.config.clone().unwrap_or_default();
        c.entrypoint
            .unwrap_or_default()
            .into_iter()
            .chain(c.cmd.unwrap_or_default())
            .collect()
    }
}

/// An HTTP answer from one of a container's ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpAnswer {
    pub port: u16,
    /// Status of `GET /health` (`None`: no HTTP answer).
    pub health: Option<u16>,
    /// Status of `GET /`.
    pub root: Option<u16>,
}

/// One selected container.
#[derive(Debug, Clone)]
pub struct Seen {
    pub name: String,
    pub id: String,
    pub inspect: ContainerInspectResponse,
    pub image: Option<Arc<ImageSeen>>,
    /// Files read from inside the container: absolute path -> content (a directory read gives
    /// each of its files under their own paths).
    pub files: BTreeMap<String, Vec<u8>>,
    /// Paths asked for that could not be read (with why).
    pub unreadable: BTreeMap<String, String>,
    pub http: Vec<HttpAnswer>,
}

impl Seen {
    pub fn env(&self) -> BTreeMap<String, String> {
        env_map(
            self.inspect
                .config
                .as_ref()
                .and_then(|c| c.env.clone())
                .unwrap_or_default(),
        )
    }
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.inspect
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default()
            .into_iter()
            .collect()
    }
    pub fn running(&self) -> bool {
        self.inspect
            .state
            .as_ref()
            .and_then(|s| s.running)
            .unwrap_or(false)
    }
    /// Its addresses on its networks, by network name (sorted).
    pub fn addresses(&self) -> Vec<String> {
        let mut nets: Vec<(String, String)> = self
            .inspect
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(n, e)| e.ip_address.filter(|i| !i.is_empty()).map(|i| (n, i)))
            .collect();
        nets.sort();
        nets.into_iter().map(|(_, ip)| ip).collect()
    }
    /// The TCP ports the container exposes (its own and its image's), sorted.
    pub fn exposed_tcp(&self) -> Vec<u16> {
        let mut ports: BTreeSet<u16> = BTreeSet::new();
        let own = self
            .inspect
            .config
            .as_ref()
            .and_then(|c| c.exposed_ports.clone())
            .unwrap_or_default();
        let bound = self
            .inspect
            .host_config
            .as_ref()
            .and_then(|h| h.port_bindings.clone())
            .unwrap_or_default()
            .into_keys();
        for p in own.into_iter().chain(bound) {
            if let Some(n) = p.strip_suffix("/tcp").and_then(|n| n.parse().ok()) {
                ports.insert(n);
            }
        }
        ports.into_iter().collect()
    }
}

/// `KEY=value` lines as a map (a line without `=` is a key with an empty value).
pub fn env_map(lines: Vec<String>) -> BTreeMap<String, String> {
    lines
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv, String::new()),
        })
        .collect()
}

/// What import read from the engine.
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// The selected containers, by name.
    pub containers: Vec<Seen>,
    /// Labels of every volume on the host, by volume name.
    pub volumes: HashMap<String, HashMap<String, String>>,
}

fn summary_name(c: &ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default()
}

/// Whether `name` is a container name of project `p` (`p_svc_1`, `p-svc-1`).
fn named_for_project(name: &str, p: &str) -> bool {
    [format!("{p}_"), format!("{p}-")].iter().any(|prefix| {
        name.strip_prefix(prefix.as_str()).is_some_and(|rest| {
            rest.rsplit_once(['_', '-'])
                .is_some_and(|(svc, n)| !svc.is_empty() && n.parse::<u32>().is_ok())
        })
    })
}

/// Lists and inspects the selected containers, their images and the host's volumes.
pub async fn read(engine: &Engine, sel: &Selection) -> Result<Host, ReadError> {
    let all = engine
        .call("list containers", "", |d| {
            d.list_containers(Some(ListContainersOptionsBuilder::new().all(true).build()))
        })
        .await?;
    let mut chosen: BTreeMap<String, String> = BTreeMap::new();
    for want in &sel.names {
        let want = want.trim_start_matches('/');
        let found = all.iter().find(|c| summary_name(c) == want).or_else(|| {
            (want.len() >= 4)
                .then(|| {
                    all.iter().find(|c| {
                        c.id.as_deref()
                            .is_some_and(|id| id.starts_with(&want.to_ascii_lowercase()))
                    })
                })
                .flatten()
        });
        match found {
            Some(c) => {
                chosen.insert(summary_name(c), c.id.clone().unwrap_or_default());
            }
            None => return Err(ReadError::NoSuchContainer(want.to_string())),
        }
    }
    for c in &all {
        let name = summary_name(c);
        let labels = c.labels.clone().unwrap_or_default();
        if labels.get(COMPOSE_ONEOFF).map(String::as_str) == Some("True")
            || crate::deploy::state::aside_of(&name).is_some()
            || name.contains("-previous-")
        {
            continue;
        }
        let by_filter = sel.name_filters.iter().any(|f| name.contains(f.as_str()));
        let by_project = sel
            .project
            .as_ref()
            .is_some_and(|p| labels.get(COMPOSE_PROJECT) == Some(p) || named_for_project(&name, p));
        if by_filter || by_project {
            chosen.insert(name, c.id.clone().unwrap_or_default());
        }
    }
    if chosen.is_empty() {
        let mut what: Vec<String> = sel
            .name_filters
            .iter()
            .map(|f| format!("name contains `{f}`"))
            .collect();
        if let Some(p) = &sel.project {
            what.push(format!("project `{p}`"));
        }
        return Err(ReadError::NothingSelected(what.join(", ")));
    }
    let inspected: Vec<ContainerInspectResponse> =
        futures_util::stream::iter(chosen.values().map(|id| {
            engine.call("inspect container", id, move |d| {
                d.inspect_container(id, None::<InspectContainerOptions>)
            })
        }))
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let image_ids: BTreeSet<String> = inspected.iter().filter_map(|c| c.image.clone()).collect();
    let images: HashMap<String, Arc<ImageSeen>> =
        futures_util::stream::iter(image_ids.into_iter().map(|id| async move {
            match engine
                .call("inspect image", &id, |d| d.inspect_image(&id))
                .await
            {
                Ok(img) => Ok(Some((
                    id.clone(),
                    Arc::new(ImageSeen {
                        id,
                        defaults: ImageDefaults::from(img.config.clone().unwrap_or_default()),
                        inspect: img,
                    }),
                ))),
                Err(e) if e.status() == Some(404) => Ok(None),
                Err(e) => Err(e),
            }
        }))
        .buffer_unordered(CONCURRENCY)
        .try_filter_map(|x| async move { Ok(x) })
        .try_collect()
        .await?;
    let volumes = engine
        .call("list volumes", "", |d| {
            d.list_volumes(None::<ListVolumesOptions>)
        })
        .await?
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.name, v.labels))
        .collect();
    let containers = inspected
        .into_iter()
        .map(|c| Seen {
            name: c
                .name
                .clone()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            id: c.id.clone().unwrap_or_default(),
            image: c.image.as_ref().and_then(|i| images.get(i).cloned()),
            inspect: c,
            files: BTreeMap::new(),
            unreadable: BTreeMap::new(),
            http: Vec::new(),
        })
        .collect();
    Ok(Host {
        containers,
        volumes,
    })
}

/// Reads `paths` from inside `c` through the archive API (a directory gives each of its files).
pub async fn read_files(
    engine: &Engine,
    c: &mut Seen,
    paths: &[String],
) -> Result<(), EngineError> {
    for path in paths {
        let id = c.id.clone();
        let opts = DownloadFromContainerOptions { path: path.clone() };
        let got = engine
            .call("read file in container", &c.name, |d| async move {
                let mut stream = d.download_from_container(&id, Some(opts));
                let mut buf = Vec::new();
                while let Some(chunk) = stream.next().await {
                    buf.extend_from_slice(&chunk?);
                    if buf.len() > MAX_ARCHIVE {
                        break;
                    }
                }
                Ok(buf)
            })
            .await;
        match got {
            Ok(tar) if tar.len() <= MAX_ARCHIVE => {
                let base = std::path::Path::new(path)
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let mut archive = tar::Archive::new(tar.as_slice());
                let Ok(entries) = archive.entries() else {
                    c.unreadable.insert(path.clone(), "not an archive".into());
                    continue;
                };
                for entry in entries.flatten() {
                    let mut entry = entry;
                    if !entry.header().entry_type().is_file() {
                        continue;
                    }
                    let Ok(rel) = entry.path().map(|p| p.display().to_string()) else {
                        continue;
                    };
                    let mut content = Vec::new();
                    if std::io::Read::read_to_end(&mut entry, &mut content).is_ok() {
                        let full = format!("{}/{rel}", base.trim_end_matches('/'));
                        c.files.insert(full, content);
                    }
                }
            }
            Ok(_) => {
                c.unreadable
                    .insert(path.clone(), "larger than 1 MiB".into());
            }
            Err(e) if matches!(e.status(), Some(404) | Some(400)) => {
                c.unreadable
                    .insert(path.clone(), "not found in the container".into());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Asks each of `ports` on the container's first address for `/health` and `/`, with a short
/// timeout; records the ports that answer HTTP at all.
pub async fn probe_http(c: &mut Seen, ports: &[u16]) {
    let Some(ip) = c.addresses().into_iter().next() else {
        return;
    };
    for port in ports {
        let health = http_status(&ip, *port, "/health").await;
        if health.is_none() {
            continue;
        }
        let root = http_status(&ip, *port, "/").await;
        c.http.push(HttpAnswer {
            port: *port,
            health,
            root,
        });
    }
}

/// The status code of `GET path` on `ip:port` over HTTP/1.0 (`None`: no HTTP answer in time).
async fn http_status(ip: &str, port: u16, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    };
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(&addr).await.ok()?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut buf = [0u8; 64];
        let mut n = 0;
        while n < 12 {
            let r = s.read(&mut buf[n..]).await.ok()?;
            if r == 0 {
                break;
            }
            n += r;
        }
        let line = String::from_utf8_lossy(&buf[..n]).to_string();
        let rest = line.strip_prefix("HTTP/1.")?;
        rest.get(2..5)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_millis(1500), attempt)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_container_names() {
        assert!(named_for_project("fic_db_1", "fic"));
        assert!(named_for_project("fic-user-service-1", "fic"));
        assert!(!named_for_project("fic_db", "fic"));
        assert!(!named_for_project("fico_db_1", "fic"));
    }
}
