//! One server per SQLite store. The SQLite engine's guarantees (one writer thread counting
//! message indexes, a cache no older than an answered write) hold only while one process writes
//! the store, so a server holds an OS lock on a file beside it, `<store>.lock`, which names its
//! process id; a second server on the same store refuses to start and names that process. The
//! lock goes with the process, however it ends (docs/design.md, "Opening a SQLite store").
//! Offline commands (`create-account`, `create-key`) take no lock: they only add rows, which a
//! running server picks up.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::anyhow;

/// Held while the server runs; dropping it releases the lock.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// `<store>.lock`, beside the store.
pub fn lock_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl StoreLock {
    /// Takes the store's lock, or says which process holds it.
    pub fn take(store: &Path) -> anyhow::Result<StoreLock> {
        let path = lock_path(store);
        // Not truncated before it is locked: the pid inside is the holder's until then.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    super::recognise::cannot_open(store, "no directory")
                }
                _ => anyhow!(
                    "cannot create the lock file {} of the store: {e}",
                    path.display()
                ),
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "another process".to_string(),
                    pid => format!("another confab (pid {pid})"),
                };
                return Err(anyhow!(
                    "the store {} is in use by {holder}, which holds {}: stop it, or give this \
                     server another --db",
                    store.display(),
                    path.display()
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(anyhow!("cannot lock {}: {e}", path.display()));
            }
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        Ok(StoreLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store.db");
        let first = StoreLock::take(&store).unwrap();
        let pid = std::process::id().to_string();
        assert_eq!(
            std::fs::read_to_string(lock_path(&store)).unwrap().trim(),
            pid
        );
        let refused = StoreLock::take(&store).unwrap_err().to_string();
        assert!(refused.contains(&format!("pid {pid}")), "{refused}");
        assert!(refused.contains(&store.display().to_string()), "{refused}");
        drop(first);
        StoreLock::take(&store).unwrap();
    }
}
