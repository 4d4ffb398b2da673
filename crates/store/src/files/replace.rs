//! Replacing data files, as compaction and retention do, in a crash-safe order: write the
//! new file (temporary name, fsync, rename), then replace the manifest atomically, then
//! delete what it no longer lists. A crash before the manifest change leaves an unlisted new
//! file (removed on open); a crash after it leaves unlisted old files (removed on open).
//! Rows are never listed twice.

use crate::error::Result;
use crate::files::data_file::write_sorted;
use crate::files::manifest::{self, FileMeta};
use crate::files::parquet::sort_by_time;
use crate::fsutil::lock;
use crate::state::{CrashPoint, DataFile, Inner};
use datafusion::arrow::array::RecordBatch;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[allow(unused_variables)]
pub(crate) fn crash_here(inner: &Inner, point: CrashPoint) -> bool {
    #[cfg(test)]
    {
        *lock(&inner.crash_at) == Some(point)
    }
    #[cfg(not(test))]
    {
        false
    }
}

/// Replaces `old` files with `new` ones (already written) in the manifest and in memory;
/// the old files are deleted once no query uses them. `true` when a test crash stopped it.
pub(crate) fn swap_files(inner: &Inner, old: &[Arc<DataFile>], new: Vec<FileMeta>) -> Result<bool> {
    let gone: HashSet<&str> = old.iter().map(|f| f.meta.name.as_str()).collect();
    let mut manifest = lock(&inner.state).manifest.clone();
    manifest.files.retain(|f| !gone.contains(f.name.as_str()));
    manifest.files.extend(new.iter().cloned());
    manifest.files.sort_by_key(|f| (f.min_time, f.max_time));
    manifest::save(&inner.dir, &manifest)?;
    if crash_here(inner, CrashPoint::AfterManifest) {
        return Ok(true);
    }
    let mut st = lock(&inner.state);
    st.manifest = manifest;
    st.files.retain(|f| !gone.contains(f.meta.name.as_str()));
    for meta in new {
        st.files.push(DataFile::new(&inner.layout, meta));
    }
    st.files.sort_by_key(|f| (f.meta.min_time, f.meta.max_time));
    for f in old {
        f.obsolete.store(true, Ordering::Release);
    }
    Ok(false)
}

/// Writes `batches` (any order) as one new sorted file.
pub(crate) fn write_new(inner: &Inner, batches: &[RecordBatch]) -> Result<FileMeta> {
    let file_id = {
        let mut st = lock(&inner.state);
        let id = st.manifest.next_file_id;
        st.manifest.next_file_id += 1;
        id
    };
    let sorted = sort_by_time(batches)?;
    write_sorted(&inner.layout, file_id, &sorted)
}
