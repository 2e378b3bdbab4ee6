//! One apply per project at a time: an advisory lock file per (engine, project).
//!
//! Takes: the engine address and the project name. Gives: a held [`ProjectLock`] (released when
//! dropped, and by the kernel when the holder dies, even by SIGKILL, so a stale lock cannot block
//! the next apply), or, after waiting until the deadline, the pid of the holder. Applies of other
//! projects use other files and never wait for each other. The lock is local to the machine that
//! runs fedgen: two machines applying to one remote engine are not serialized by it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct ProjectLock {
    _file: File,
    pub path: PathBuf,
}

pub enum LockError {
    /// Another apply held the lock until the deadline.
    Busy {
        holder: String,
        path: PathBuf,
    },
    Io(String),
}

pub fn lock_path(host: &str, project: &str) -> PathBuf {
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("fedgen-locks");
    let engine: String = crate::model::sha256_hex(host).chars().take(12).collect();
    dir.join(format!("{engine}-{project}.lock"))
}

impl ProjectLock {
    /// Takes the lock, waiting until `deadline`; `on_wait` is called once, with the holder's pid,
    /// if it has to wait.
    pub fn acquire(
        host: &str,
        project: &str,
        deadline: Instant,
        on_wait: impl FnOnce(&str),
    ) -> Result<ProjectLock, LockError> {
        let path = lock_path(host, project);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| LockError::Io(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LockError::Io(format!("cannot open {}: {e}", path.display())))?;
        let mut on_wait = Some(on_wait);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.rewind();
                    let _ = file.read_to_string(&mut holder);
                    let holder = holder.trim().to_string();
                    if Instant::now() >= deadline {
                        return Err(LockError::Busy { holder, path });
                    }
                    if let Some(f) = on_wait.take() {
                        f(&holder);
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(LockError::Io(format!(
                        "cannot lock {}: {e}",
                        path.display()
                    )))
                }
            }
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(ProjectLock { _file: file, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_and_gives_up_at_the_deadline() {
        let project = format!("locktest-{}", std::process::id());
        let first = ProjectLock::acquire("unix:///x", &project, Instant::now(), |_| {})
            .ok()
            .expect("free");
        let mut waited = None;
        let second = ProjectLock::acquire(
            "unix:///x",
            &project,
            Instant::now() + Duration::from_millis(300),
            |h| waited = Some(h.to_string()),
        );
        match second {
            Err(LockError::Busy { holder, .. }) => {
                assert_eq!(holder, std::process::id().to_string())
            }
            _ => panic!("the second apply must not get the lock"),
        }
        assert_eq!(
            waited.as_deref(),
            Some(std::process::id().to_string().as_str())
        );
        // Other projects are independent.
        assert!(ProjectLock::acquire(
            "unix:///x",
            &format!("{project}-other"),
            Instant::now(),
            |_| {}
        )
        .is_ok());
        drop(first);
        assert!(ProjectLock::acquire("unix:///x", &project, Instant::now(), |_| {}).is_ok());
    }
}
