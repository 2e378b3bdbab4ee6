//! The pre-flight: before anything on the host changes, every service about to be created has
//! its image on the host, and that image has the programs its healthcheck (and fedgen's secret
//! wrapper) will run. A healthcheck whose program is missing never passes: the service never turns
//! healthy and nothing that depends on it starts, an outage made by the file. Better refused, one
//! clear line per service, naming the setting that fixes it.
//!
//! Takes: the [`Plan`] (only services to create or recreate are checked), the images on the host
//! (listed once by the state reader) and a cache. Gives: [`Problem`]s. Cost: nothing for an image
//! already checked (the cache is keyed by image id, which names the image's exact content); for a
//! new one, an image inspect, a container create (never started), one stat per place a program
//! may be (`HEAD /containers/ID/archive`) and the container's removal.

use crate::compile::probe;
use crate::deploy::desired::Desired;
use crate::deploy::engine::{Engine, EngineError};
use crate::deploy::plan::{Action, Plan};
use crate::deploy::state::Images;
use crate::model::Service;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{ContainerArchiveInfoOptionsBuilder, RemoveContainerOptions};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Labels the short-lived containers the pre-flight creates (and removes).
pub const LABEL_PREFLIGHT: &str = "dev.fedgen.preflight";

/// A service that would not become healthy, found before the rollout.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub service: String,
    pub image: String,
    /// The image is not on the host (apply pulls it, as Compose does, before it checks again).
    pub image_missing: bool,
    /// What is missing: a program, a HEALTHCHECK, or the image itself.
    pub missing: String,
    /// The setting that fixes it.
    pub fix: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "service {}: image {} has no {}; {}",
            self.service, self.image, self.missing, self.fix
        )
    }
}

/// What is known of an image: which programs it has, whether it has a HEALTHCHECK.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Known {
    programs: BTreeMap<String, bool>,
    healthcheck: Option<bool>,
}

/// Facts about images by id, kept between runs in `$XDG_CACHE_HOME/fedgen/preflight.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Cache {
    images: BTreeMap<String, Known>,
    #[serde(skip)]
    path: Option<PathBuf>,
    #[serde(skip)]
    dirty: bool,
}

impl Cache {
    /// The cache of this user (empty, and not written, when there is no cache directory).
    pub fn load() -> Cache {
        let dir = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
        let Some(path) = dir.map(|d| d.join("fedgen").join("preflight.json")) else {
            return Cache::default();
        };
        let mut cache: Cache = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        cache.path = Some(path);
        cache
    }

    /// Writes what was learned (best effort: a cache that cannot be written only costs time).
    pub fn save(&self) {
        let (Some(path), true) = (&self.path, self.dirty) else {
            return;
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Ok(text) = serde_json::to_vec(self) {
            let _ = crate::compile::emit::write_atomic(path, &text);
        }
    }
}

/// What one image must provide for the services that run it.
#[derive(Debug, Default)]
struct Needs {
    /// The image's id (None: the image is not on the host).
    id: Option<String>,
    programs: BTreeSet<String>,
    healthcheck: bool,
    /// Which service needs what, for the report: (service, program or "" for HEALTHCHECK).
    by_service: Vec<(String, String)>,
}

/// The programs a service's container will run on its own: its healthcheck's, and the shell of
/// fedgen's secret wrapper.
fn programs(svc: &Service) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(h) = &svc.healthcheck {
        out.extend(probe::executables(&h.test));
    }
    if svc
        .entrypoint
        .as_ref()
        .is_some_and(|e| e.first().map(String::as_str) == Some("/bin/sh"))
    {
        out.push("/bin/sh".into());
    }
    out
}

/// The setting that fixes a missing program.
fn fix_for(program: &str) -> String {
    match program {
        probe::AUTO_PROGRAMS => "the `auto` probe needs one of wget, curl, python3 or bash; set `probe: node` or `probe: image`, or give `healthcheck.test` a program the image has".into(),
        "wget" | "curl" | "python3" | "node" | "bash" => format!(
            "set `probe:` in the stack spec to a program the image has (wget, curl, bash, python, node) or `probe: image` for the image's own HEALTHCHECK; {program} is the service's probe now"
        ),
        "/bin/sh" => "the image has no shell, which its `CMD-SHELL` healthcheck or a secret exposed as an environment variable needs: use a `CMD` healthcheck and a secret file (`*_FILE`)".into(),
        other => format!("give `healthcheck.test` a program the image has, or `healthcheck: image`; {other} is what it runs now"),
    }
}

/// Checks the services the plan creates or recreates.
pub async fn check(
    engine: &Engine,
    desired: &Desired,
    plan: &Plan,
    images: &Images,
    cache: &mut Cache,
) -> Result<Vec<Problem>, EngineError> {
    let mut needs: BTreeMap<String, Needs> = BTreeMap::new();
    for sp in plan
        .services
        .iter()
        .filter(|s| matches!(s.action, Action::Create | Action::Recreate))
    {
        let svc = &desired.compose.services[&sp.name];
        let n = needs.entry(svc.image.clone()).or_default();
        n.id = images.id_of(&svc.image).map(str::to_string);
        for p in programs(svc) {
            n.by_service.push((sp.name.clone(), p.clone()));
            n.programs.insert(p);
        }
        if svc.healthcheck.as_ref().is_some_and(|h| h.test.is_empty()) {
            n.healthcheck = true;
            n.by_service.push((sp.name.clone(), String::new()));
        }
    }
    let mut problems = Vec::new();
    // Images that are not here are reported; the others are checked where the cache does not
    // already know, concurrently.
    let mut to_check = Vec::new();
    for (image, n) in &needs {
        let Some(id) = &n.id else {
            for service in n.by_service.iter().map(|(s, _)| s).collect::<BTreeSet<_>>() {
                problems.push(Problem {
                    service: service.clone(),
                    image: image.clone(),
                    image_missing: true,
                    missing: "copy on this host".into(),
                    fix: format!("load or pull it first (`docker pull {image}`, or `docker load` where no registry is reachable)"),
                });
            }
            continue;
        };
        let known = cache.images.get(id);
        let unknown: Vec<String> = n
            .programs
            .iter()
            .filter(|p| known.is_none_or(|k| !k.programs.contains_key(*p)))
            .cloned()
            .collect();
        let healthcheck_unknown = n.healthcheck && known.is_none_or(|k| k.healthcheck.is_none());
        if !unknown.is_empty() || healthcheck_unknown {
            to_check.push((id.clone(), unknown));
        }
    }
    let learned: Vec<(String, Known)> =
        futures_util::stream::iter(to_check.into_iter().map(|(id, programs)| async move {
            inspect_image(engine, &id, &programs).await.map(|k| (id, k))
        }))
        .buffer_unordered(4)
        .try_collect()
        .await?;
    for (id, k) in learned {
        let entry = cache.images.entry(id).or_default();
        entry.programs.extend(k.programs);
        entry.healthcheck = k.healthcheck.or(entry.healthcheck);
        cache.dirty = true;
    }
    for (image, n) in &needs {
        let Some(known) = n.id.as_ref().and_then(|id| cache.images.get(id)) else {
            continue;
        };
        for (service, program) in &n.by_service {
            if program.is_empty() {
                if known.healthcheck == Some(false) {
                    problems.push(Problem {
                        service: service.clone(),
                        image: image.clone(),
                        image_missing: false,
                        missing: "HEALTHCHECK of its own".into(),
                        fix: "`healthcheck: image` (or `probe: image`) needs one; choose a `probe:` the image can run".into(),
                    });
                }
            } else if known.programs.get(program) == Some(&false) {
                problems.push(Problem {
                    service: service.clone(),
                    image: image.clone(),
                    image_missing: false,
                    missing: format!("`{program}`"),
                    fix: fix_for(program),
                });
            }
        }
    }
    problems.sort_by(|a, b| (&a.service, &a.missing).cmp(&(&b.service, &b.missing)));
    problems.dedup_by(|a, b| a.service == b.service && a.missing == b.missing);
    Ok(problems)
}

/// Pulls the images the plan needs and the host does not have, as `docker compose up` does.
/// Returns the images pulled; a pull that fails is an error that names the image.
pub async fn pull_missing(engine: &Engine, plan: &Plan) -> Result<Vec<String>, EngineError> {
    let images: BTreeSet<&String> = plan
        .preflight
        .iter()
        .filter(|p| p.image_missing)
        .map(|p| &p.image)
        .collect();
    let mut pulled = Vec::new();
    for image in images {
        let (name, tag) = split_reference(image);
        let opts = bollard::query_parameters::CreateImageOptionsBuilder::new()
            .from_image(name)
            .tag(tag)
            .build();
        let mut stream = std::pin::pin!(engine.stream("pull image", image, |d| {
            d.create_image(Some(opts), None, None)
        }));
        while let Some(step) = stream.next().await {
            let info = step?;
            if let Some(err) = info.error_detail.and_then(|e| e.message) {
                return Err(EngineError::Api {
                    op: "pull image",
                    object: image.clone(),
                    status: None,
                    detail: err,
                });
            }
        }
        pulled.push(image.clone());
    }
    Ok(pulled)
}

/// `registry:5000/repo/name:tag` as (`registry:5000/repo/name`, `tag`); a digest stays whole.
fn split_reference(r: &str) -> (&str, &str) {
    if let Some((name, digest)) = r.split_once('@') {
        return (name, digest);
    }
    match r.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (r, "latest"),
    }
}

/// Learns whether the image has each program (looked up in its PATH as the engine would) and a
/// HEALTHCHECK, through a container that is created and removed, never started.
async fn inspect_image(
    engine: &Engine,
    id: &str,
    programs: &[String],
) -> Result<Known, EngineError> {
    let image = engine
        .call("inspect image", id, |d| d.inspect_image(id))
        .await?;
    let config = image.config.unwrap_or_default();
    let mut known = Known {
        healthcheck: Some(
            config
                .healthcheck
                .as_ref()
                .and_then(|h| h.test.as_ref())
                .is_some_and(|t| !t.is_empty() && t[0] != "NONE"),
        ),
        ..Default::default()
    };
    if programs.is_empty() {
        return Ok(known);
    }
    let path = config
        .env
        .unwrap_or_default()
        .iter()
        .find_map(|e| e.strip_prefix("PATH=").map(str::to_string))
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    let body = ContainerCreateBody {
        image: Some(id.to_string()),
        entrypoint: Some(vec!["/fedgen-preflight".into()]),
        labels: Some([(LABEL_PREFLIGHT.to_string(), "1".to_string())].into()),
        network_disabled: Some(true),
        ..Default::default()
    };
    let created = engine
        .mutate("create pre-flight container of", id, |d| {
            d.create_container(
                None::<bollard::query_parameters::CreateContainerOptions>,
                body,
            )
        })
        .await?;
    let container = created.id;
    let result = async {
        for program in programs {
            // `a|b`: one of them will do (the `auto` probe).
            let candidates: Vec<String> = program
                .split('|')
                .flat_map(|one| {
                    if one.contains('/') {
                        vec![one.to_string()]
                    } else {
                        path.split(':')
                            .filter(|d| d.starts_with('/'))
                            .map(|d| format!("{}/{one}", d.trim_end_matches('/')))
                            .collect()
                    }
                })
                .collect();
            let mut found = false;
            for c in candidates {
                let opts = ContainerArchiveInfoOptionsBuilder::new().path(&c).build();
                match engine
                    .call("stat in pre-flight container", &c, |d| {
                        d.get_container_archive_info(&container, Some(opts))
                    })
                    .await
                {
                    Ok(_) => {
                        found = true;
                        break;
                    }
                    Err(e) if e.status() == Some(404) => {}
                    Err(e) => return Err(e),
                }
            }
            known.programs.insert(program.clone(), found);
        }
        Ok(())
    }
    .await;
    let removed = engine
        .mutate("remove pre-flight container", &container, |d| {
            d.remove_container(
                &container,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    link: false,
                }),
            )
        })
        .await;
    result?;
    removed?;
    Ok(known)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Healthcheck;

    #[test]
    fn the_programs_a_service_runs_by_itself() {
        let mut s = Service::default();
        assert!(programs(&s).is_empty());
        s.healthcheck = Some(Healthcheck {
            test: vec!["CMD".into(), "wget".into(), "-q".into()],
            ..Default::default()
        });
        assert_eq!(programs(&s), ["wget"]);
        s.entrypoint = Some(vec!["/bin/sh".into(), "-c".into(), "x".into()]);
        assert_eq!(programs(&s), ["wget", "/bin/sh"]);
        assert!(fix_for("wget").contains("probe:"));
    }

    #[test]
    fn references_split_into_name_and_tag() {
        assert_eq!(split_reference("redis:7"), ("redis", "7"));
        assert_eq!(split_reference("reg:5000/a/b"), ("reg:5000/a/b", "latest"));
        assert_eq!(split_reference("reg:5000/a/b:1.2"), ("reg:5000/a/b", "1.2"));
        assert_eq!(split_reference("a@sha256:00"), ("a", "sha256:00"));
    }
}
