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
        .map_err(StoreError::io("syncing directory", dir))?;
    #[cfg(test)]
    power_cut::dir_synced(dir);
    Ok(())
}

/// Makes a file's contents and size durable (`fsync`).
pub(crate) fn sync_file(file: &File) -> std::io::Result<()> {
    file.sync_all()?;
    #[cfg(test)]
    power_cut::file_synced(file);
    Ok(())
}

/// Makes a file's contents durable, and its size if it grew (`fdatasync`).
pub(crate) fn sync_file_data(file: &File) -> std::io::Result<()> {
    file.sync_data()?;
    #[cfg(test)]
    power_cut::file_synced(file);
    Ok(())
}

/// Creates `dir` (and its parents) if it is missing, and makes its entry in its parent
/// durable: files synced inside a directory whose own entry is not are lost with it.
pub(crate) fn create_dir_durably(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(StoreError::io("creating", dir))?;
    sync_dir(dir.parent().unwrap_or(Path::new(".")))
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
        sync_file(&f)
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

/// In tests: what a power cut would leave of a directory tree. Only what was fsynced
/// survives one: a file's contents as of its last `fsync`, and a directory's entries as of
/// the directory's last `fsync` (a file created or renamed since is not there; one deleted
/// since is, with its last synced contents). Every sync the store makes under a recorded
/// directory (through [`sync_file`], [`sync_file_data`], [`sync_dir`]) updates the model and
/// keeps an image of it: the states a power cut at any moment could leave.
#[cfg(test)]
pub(crate) mod power_cut {
    use super::lock;
    use std::collections::{BTreeMap, HashMap};
    use std::ffi::OsString;
    use std::fs::File;
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::io::AsRawFd;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex};

    type Inode = (u64, u64);

    #[derive(Clone)]
    enum Entry {
        File(Inode),
        Dir,
    }

    /// The durable state of a tree at one moment.
    #[derive(Clone, Default)]
    pub(crate) struct Image {
        contents: HashMap<Inode, Arc<Vec<u8>>>,
        /// Entries of each directory, by its path relative to the root.
        dirs: HashMap<PathBuf, BTreeMap<OsString, Entry>>,
    }

    impl Image {
        /// Writes the tree a power cut would leave into the empty directory `to`.
        pub(crate) fn write_to(&self, to: &Path) {
            self.write_dir(Path::new(""), to);
        }

        fn write_dir(&self, rel: &Path, to: &Path) {
            let Some(entries) = self.dirs.get(rel) else {
                return;
            };
            for (name, entry) in entries {
                let target = to.join(name);
                match entry {
                    Entry::Dir => {
                        std::fs::create_dir_all(&target).unwrap();
                        self.write_dir(&rel.join(name), &target);
                    }
                    Entry::File(inode) => {
                        let bytes = self.contents.get(inode).map(|b| b.as_slice());
                        std::fs::write(&target, bytes.unwrap_or_default()).unwrap();
                    }
                }
            }
        }
    }

    struct Recording {
        root: PathBuf,
        now: Image,
        /// The image after each sync, with what was acknowledged before it.
        images: Vec<(Image, u64)>,
        acknowledged: u64,
    }

    static RECORDINGS: Mutex<Vec<Recording>> = Mutex::new(Vec::new());

    /// Starts recording the syncs under `root`.
    pub(crate) fn record(root: &Path) {
        lock(&RECORDINGS).push(Recording {
            root: root.canonicalize().unwrap(),
            now: Image::default(),
            images: Vec::new(),
            acknowledged: 0,
        });
    }

    /// Sets what the caller has had acknowledged so far (say, appends).
    pub(crate) fn acknowledged(root: &Path, n: u64) {
        let root = root.canonicalize().unwrap();
        if let Some(r) = lock(&RECORDINGS).iter_mut().find(|r| r.root == root) {
            r.acknowledged = n;
        }
    }

    /// Stops recording under `root`: every image with what was acknowledged before it.
    pub(crate) fn images(root: &Path) -> Vec<(Image, u64)> {
        let root = root.canonicalize().unwrap();
        let mut all = lock(&RECORDINGS);
        let i = all.iter().position(|r| r.root == root).unwrap();
        all.remove(i).images
    }

    fn with_recording(path: &Path, f: impl FnOnce(&mut Recording, PathBuf)) {
        let mut all = lock(&RECORDINGS);
        if let Some(r) = all.iter_mut().find(|r| path.starts_with(&r.root)) {
            let rel = path.strip_prefix(&r.root).unwrap().to_path_buf();
            f(r, rel);
            let image = (r.now.clone(), r.acknowledged);
            r.images.push(image);
        }
    }

    pub(super) fn file_synced(file: &File) {
        let fd = format!("/proc/self/fd/{}", file.as_raw_fd());
        let Ok(path) = std::fs::read_link(&fd) else {
            return;
        };
        with_recording(&path, |r, _| {
            let meta = file.metadata().unwrap();
            let bytes = std::fs::read(&fd).unwrap();
            r.now
                .contents
                .insert((meta.dev(), meta.ino()), Arc::new(bytes));
        });
    }

    pub(super) fn dir_synced(dir: &Path) {
        let Ok(dir) = dir.canonicalize() else {
            return;
        };
        with_recording(&dir, |r, rel| {
            let mut entries = BTreeMap::new();
            for entry in std::fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                let meta = entry.metadata().unwrap();
                let kind = if meta.is_dir() {
                    Entry::Dir
                } else {
                    Entry::File((meta.dev(), meta.ino()))
                };
                entries.insert(entry.file_name(), kind);
            }
            r.now.dirs.insert(rel, entries);
        });
    }
}
