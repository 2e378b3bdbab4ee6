//! Generated secrets, made once where they are used: on the target engine.
//!
//! Takes: the file's `x-fedgen-generate` secrets, the engine, and what the state reader listed
//! (the project's volumes, every container). Gives: the [`Store`] (each secret's current value's
//! volume, content hash and path on the engine's host), the content hashes the plan compares
//! ([`hashes`]), and the writes: [`generate_missing`] at the first apply that needs a secret,
//! [`rotate`] on request (`fedgen secrets rotate NAME`). Values never leave the engine once
//! written: fedgen does not read them back.
//!
//! A secret's value lives in a volume `fedgen-secret.PROJECT.NAME.SERIAL` (labels: the Compose
//! project, so the state reader's one volume list sees it; `dev.fedgen.secret`, its sha256
//! prefix, its serial) as one file, `value`, mode 0444. A service that reads it gets that file
//! bind-mounted read-only at `/run/secrets/NAME` (as `file:` secrets are, so a read-only root
//! filesystem is fine) and the volume itself mounted read-only at `/run/secrets/.fedgen/NAME`,
//! so the engine counts the volume as in use and `docker volume prune` leaves it alone.
//!
//! It is written through a never-started container `fedgen-secret-writer.PROJECT.NAME.SERIAL`
//! (the empty image, the new volume mounted) that receives the value in one archive upload and
//! is removed: a writer still there (a crash between the calls) marks its volume incomplete, and
//! the next write of that secret starts again. Writes happen under the project's lock on the
//! engine, so two runners never make two values. A rotation writes the next serial; the
//! previous volume is removed once no container uses it any more (after the apply that
//! recreates its readers).

use crate::deploy::desired::Desired;
use crate::deploy::engine::{Engine, EngineError};
use crate::deploy::lock::{ensure_empty_image, EMPTY_IMAGE};
use crate::model::labels::COMPOSE_PROJECT;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, MountVolumeOptions};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptions, UploadToContainerOptions,
};
use std::collections::{BTreeMap, HashMap};

pub const LABEL_SECRET: &str = "dev.fedgen.secret";
pub const LABEL_SECRET_HASH: &str = "dev.fedgen.secret-hash";
pub const LABEL_SECRET_SERIAL: &str = "dev.fedgen.secret-serial";
/// The content hash the plan uses for a generated secret the engine does not have yet.
pub const PENDING: &str = "new";
/// Where a service's container mounts a generated secret's volume (beside the file at
/// `/run/secrets/NAME`).
pub const VOLUME_DIR: &str = "/run/secrets/.fedgen";

/// One generated secret's current value on the engine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stored {
    pub name: String,
    pub volume: String,
    /// sha256 prefix of the value (12 hex digits), as every content hash fedgen shows.
    pub hash: String,
    pub serial: u64,
    /// The volume's directory on the engine's host.
    #[serde(skip)]
    pub mountpoint: String,
}

impl Stored {
    /// The value's file on the engine's host, the source of the bind mount.
    pub fn host_path(&self) -> String {
        format!("{}/value", self.mountpoint.trim_end_matches('/'))
    }
}

/// The project's generated secrets on the engine.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Store {
    /// By secret name: the highest complete serial.
    pub current: BTreeMap<String, Stored>,
    /// Volumes of earlier serials, and incomplete ones: removed when nothing uses them.
    pub stale: Vec<String>,
    /// Writers a crash left behind: (id, name).
    pub writers: Vec<(String, String)>,
}

pub fn volume_name(project: &str, name: &str, serial: u64) -> String {
    format!("fedgen-secret.{project}.{name}.{serial}")
}

fn writer_name(project: &str, name: &str, serial: u64) -> String {
    format!("fedgen-secret-writer.{project}.{name}.{serial}")
}

/// The store, from the project's volumes and every container (as the state reader lists them).
pub fn read(
    project: &str,
    volumes: &[bollard::models::Volume],
    containers: &[bollard::models::ContainerSummary],
) -> Store {
    let mut store = Store::default();
    let writer_prefix = format!("/fedgen-secret-writer.{project}.");
    let mut incomplete = Vec::new();
    for c in containers {
        for n in c.names.iter().flatten() {
            if let Some(rest) = n.strip_prefix(&writer_prefix) {
                store
                    .writers
                    .push((c.id.clone().unwrap_or_default(), n[1..].to_string()));
                incomplete.push(format!("fedgen-secret.{project}.{rest}"));
            }
        }
    }
    for v in volumes {
        let (Some(name), Some(hash)) =
            (v.labels.get(LABEL_SECRET), v.labels.get(LABEL_SECRET_HASH))
        else {
            continue;
        };
        let serial = v
            .labels
            .get(LABEL_SECRET_SERIAL)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if incomplete.contains(&v.name) {
            store.stale.push(v.name.clone());
            continue;
        }
        let stored = Stored {
            name: name.clone(),
            volume: v.name.clone(),
            hash: hash.clone(),
            serial,
            mountpoint: v.mountpoint.clone(),
        };
        match store.current.get(name) {
            Some(have) if have.serial >= serial => store.stale.push(v.name.clone()),
            Some(have) => {
                store.stale.push(have.volume.clone());
                store.current.insert(name.clone(), stored);
            }
            None => {
                store.current.insert(name.clone(), stored);
            }
        }
    }
    store.stale.sort();
    store
}

/// Whether a volume of the project's list is a secret's store (not one of the file's volumes).
pub fn is_store_volume(v: &bollard::models::Volume) -> bool {
    v.labels.contains_key(LABEL_SECRET)
}

/// The content hash of every secret and config the plan compares: the file's own, and for
/// generated secrets the store's, or [`PENDING`] for one the engine does not have yet.
pub fn hashes(desired: &Desired, store: &Store) -> BTreeMap<String, String> {
    let mut h = desired.hashes.clone();
    for (name, s) in &desired.compose.secrets {
        if s.generate.is_some() {
            h.insert(
                name.clone(),
                store
                    .current
                    .get(name)
                    .map(|x| x.hash.clone())
                    .unwrap_or_else(|| PENDING.into()),
            );
        }
    }
    h
}

/// Generated secrets that a service of the file reads and the engine does not have yet.
pub fn missing(compose: &crate::model::Compose, store: &Store) -> Vec<String> {
    let mut names: Vec<String> = compose
        .secrets
        .iter()
        .filter(|(n, s)| s.generate.is_some() && !store.current.contains_key(*n))
        .filter(|(n, _)| {
            compose
                .services
                .values()
                .any(|svc| svc.secrets.iter().any(|r| &r.source == *n))
        })
        .map(|(n, _)| n.clone())
        .collect();
    names.sort();
    names
}

/// A new value: the variable the file names (so a value from an earlier setup can be carried
/// over, once, at the first apply), else random bytes from the OS, hex-encoded.
fn new_value(desired: &Desired, name: &str, seed: bool) -> Vec<u8> {
    let secret = desired.compose.secrets.get(name);
    if seed {
        if let Some(v) = desired.secret_value(name).filter(|v| !v.is_empty()) {
            return v;
        }
    }
    random_hex(secret.and_then(|s| s.generate).unwrap_or(32))
}

/// `bytes` random bytes from the OS, hex-encoded (a generated secret's value).
pub fn random_hex(bytes: usize) -> Vec<u8> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).expect("the OS's random number generator");
    buf.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into_bytes()
}

/// Writes `value` as serial `serial` of secret `name` (see the module's description).
async fn write(
    engine: &Engine,
    project: &str,
    name: &str,
    serial: u64,
    value: &[u8],
    store: &Store,
) -> Result<Stored, EngineError> {
    ensure_empty_image(engine).await?;
    let volume = volume_name(project, name, serial);
    let writer = writer_name(project, name, serial);
    // What a crash left of an earlier attempt at this serial.
    for (id, n) in store.writers.iter().filter(|(_, n)| *n == writer) {
        remove_container(engine, id, n).await?;
    }
    if store.stale.contains(&volume) {
        remove_volume(engine, &volume).await?;
    }
    let hash = crate::deploy::desired::content_hash(value);
    let labels = HashMap::from([
        (COMPOSE_PROJECT.to_string(), project.to_string()),
        (LABEL_SECRET.to_string(), name.to_string()),
        (LABEL_SECRET_HASH.to_string(), hash.clone()),
        (LABEL_SECRET_SERIAL.to_string(), serial.to_string()),
    ]);
    let body = ContainerCreateBody {
        image: Some(EMPTY_IMAGE.into()),
        network_disabled: Some(true),
        labels: Some(HashMap::from([(
            "dev.fedgen.secret-writer".to_string(),
            project.to_string(),
        )])),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            mounts: Some(vec![Mount {
                typ: Some(MountType::VOLUME),
                source: Some(volume.clone()),
                target: Some("/store".into()),
                volume_options: Some(MountVolumeOptions {
                    labels: Some(labels),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::new().name(&writer).build();
    let created = engine
        .mutate("create secret writer", &writer, |d| {
            d.create_container(Some(opts), body)
        })
        .await?;
    let tar = crate::deploy::mapping::files_archive(&[("/store/value".into(), value.to_vec())])
        .map_err(|e| EngineError::Api {
            op: "pack secret",
            object: name.to_string(),
            status: None,
            detail: e.to_string(),
        })?;
    let upload = UploadToContainerOptions {
        path: "/".into(),
        ..Default::default()
    };
    engine
        .mutate("write secret", &volume, |d| {
            d.upload_to_container(&created.id, Some(upload), bollard::body_full(tar.into()))
        })
        .await?;
    let info = engine
        .call("inspect volume", &volume, |d| d.inspect_volume(&volume))
        .await?;
    remove_container(engine, &created.id, &writer).await?;
    Ok(Stored {
        name: name.to_string(),
        volume,
        hash,
        serial,
        mountpoint: info.mountpoint,
    })
}

async fn remove_container(engine: &Engine, id: &str, label: &str) -> Result<(), EngineError> {
    let opts = RemoveContainerOptions {
        force: true,
        v: false,
        link: false,
    };
    match engine
        .mutate("remove secret writer", label, |d| {
            d.remove_container(id, Some(opts))
        })
        .await
    {
        Err(e) if e.status() != Some(404) => Err(e),
        _ => Ok(()),
    }
}

async fn remove_volume(engine: &Engine, volume: &str) -> Result<(), EngineError> {
    match engine
        .mutate("remove volume", volume, |d| {
            d.remove_volume(
                volume,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
        })
        .await
    {
        Err(e) if e.status() != Some(404) => Err(e),
        _ => Ok(()),
    }
}

/// Makes every generated secret the file's services read that the engine does not have yet
/// (the first apply on this engine; from the variable the file names if it is set, else at
/// random). Call under the project's lock.
pub async fn generate_missing(
    engine: &Engine,
    desired: &Desired,
    store: &Store,
) -> Result<Vec<Stored>, EngineError> {
    let mut made = Vec::new();
    let project = &desired.compose.name;
    for name in missing(&desired.compose, store) {
        let value = new_value(desired, &name, true);
        made.push(write(engine, project, &name, 1, &value, store).await?);
    }
    Ok(made)
}

/// A new random value for `name`, as the next serial; the services that read it are recreated
/// by the next apply (their content hash changed). Call under the project's lock.
pub async fn rotate(
    engine: &Engine,
    desired: &Desired,
    name: &str,
) -> Result<(Option<Stored>, Stored), EngineError> {
    let project = desired.compose.name.as_str();
    let store = load(engine, project).await?;
    let old = store.current.get(name).cloned();
    let serial = old.as_ref().map(|o| o.serial + 1).unwrap_or(1);
    let value = new_value(desired, name, false);
    let new = write(engine, project, name, serial, &value, &store).await?;
    Ok((old, new))
}

/// Reads the store with two list calls (apply gets it from the state reader's lists instead).
pub async fn load(engine: &Engine, project: &str) -> Result<Store, EngineError> {
    let filter = HashMap::from([(
        "label".to_string(),
        vec![
            format!("{COMPOSE_PROJECT}={project}"),
            LABEL_SECRET.to_string(),
        ],
    )]);
    let volumes = engine
        .call("list volumes", project, |d| {
            d.list_volumes(Some(
                bollard::query_parameters::ListVolumesOptionsBuilder::new()
                    .filters(&filter)
                    .build(),
            ))
        })
        .await?
        .volumes
        .unwrap_or_default();
    let writers = HashMap::from([(
        "label".to_string(),
        vec![format!("dev.fedgen.secret-writer={project}")],
    )]);
    let containers = engine
        .call("list containers", project, |d| {
            d.list_containers(Some(
                bollard::query_parameters::ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&writers)
                    .build(),
            ))
        })
        .await?;
    Ok(read(project, &volumes, &containers))
}

/// Removes the store's stale volumes that no container uses any more (one in use stays, for a
/// later apply).
pub async fn remove_unused(engine: &Engine, store: &Store) -> Vec<String> {
    let mut removed = Vec::new();
    for v in &store.stale {
        if remove_volume(engine, v).await.is_ok() {
            removed.push(v.clone());
        }
    }
    removed
}

/// The desired file with the engine's side of its generated secrets filled in: their content
/// hashes (for the containers' labels) and where their values are (for the bind mounts).
pub fn attach(desired: &Desired, stored: impl IntoIterator<Item = Stored>) -> Desired {
    let mut d = desired.clone();
    for s in stored {
        d.hashes.insert(s.name.clone(), s.hash.clone());
        d.engine_secrets.insert(s.name.clone(), s);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(name: &str, secret: &str, serial: u64) -> bollard::models::Volume {
        bollard::models::Volume {
            name: name.into(),
            mountpoint: format!("/var/lib/docker/volumes/{name}/_data"),
            labels: HashMap::from([
                (LABEL_SECRET.to_string(), secret.to_string()),
                (LABEL_SECRET_HASH.to_string(), format!("h{serial}")),
                (LABEL_SECRET_SERIAL.to_string(), serial.to_string()),
            ]),
            ..Default::default()
        }
    }

    #[test]
    fn the_store_is_the_highest_complete_serial_of_each_secret() {
        let vols = [
            vol("fedgen-secret.p.a.1", "a", 1),
            vol("fedgen-secret.p.a.2", "a", 2),
            vol("fedgen-secret.p.b.1", "b", 1),
            vol("fedgen-secret.p.b.2", "b", 2),
            bollard::models::Volume {
                name: "p_data".into(),
                ..Default::default()
            },
        ];
        // A crash left the writer of b's serial 2: that volume is incomplete.
        let writer = bollard::models::ContainerSummary {
            id: Some("w".into()),
            names: Some(vec!["/fedgen-secret-writer.p.b.2".into()]),
            ..Default::default()
        };
        let store = read("p", &vols, &[writer]);
        assert_eq!(store.current["a"].serial, 2);
        assert_eq!(store.current["a"].hash, "h2");
        assert_eq!(
            store.current["a"].host_path(),
            "/var/lib/docker/volumes/fedgen-secret.p.a.2/_data/value"
        );
        assert_eq!(store.current["b"].serial, 1);
        assert_eq!(store.stale, ["fedgen-secret.p.a.1", "fedgen-secret.p.b.2"]);
        assert_eq!(
            store.writers,
            [("w".to_string(), "fedgen-secret-writer.p.b.2".to_string())]
        );
        assert!(!is_store_volume(&vols[4]));
    }

    #[test]
    fn random_values_are_hex_of_the_asked_length() {
        let v = random_hex(32);
        assert_eq!(v.len(), 64);
        assert!(v.iter().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(v, random_hex(32));
    }
}
