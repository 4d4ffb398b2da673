//! Durable file-system steps: write to a temporary name, fsync, rename, fsync the directory,
//! so a crash leaves either the old file or the new one, never half of one.

use crate::error::{Result, StoreError};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// Makes a directory's entries (creations, renames, deletions) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("syncing directory", dir))
}

/// The name a file has while it is being written.
pub(crate) fn temp_path(path: &Path) -> std::path::PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Replaces `path` with `bytes` atomically and durably.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().map_err(StoreError::io("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(StoreError::io("renaming into place", path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Locks a mutex, carrying on after a panic elsewhere: every critical section leaves the
/// state consistent before it can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
