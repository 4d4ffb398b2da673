//! Compaction: many small data files merged into few large, time-sorted ones (see
//! [`replace`](super::replace) for the crash-safe order), and rollups written for the files
//! that lack them.

use crate::error::Result;
use crate::files::parquet::read_all;
use crate::files::replace::{crash_here, swap_files, write_new};
use crate::files::{manifest, rollups};
use crate::fsutil::lock;
use crate::state::{CrashPoint, DataFile, Inner};
use crate::types::CompactionReport;
use std::sync::Arc;

/// Groups of consecutive (by time) small files worth merging.
fn plan_compaction(files: &[Arc<DataFile>], target_rows: u64) -> Vec<Vec<Arc<DataFile>>> {
    let mut sorted: Vec<_> = files.to_vec();
    sorted.sort_by_key(|f| (f.meta.min_time, f.meta.max_time));
    let small = |f: &DataFile| f.meta.rows < target_rows / 2;
    let mut groups = Vec::new();
    let mut current: Vec<Arc<DataFile>> = Vec::new();
    let mut rows = 0;
    for f in sorted {
        if !small(&f) || rows + f.meta.rows > target_rows {
            if current.len() > 1 {
                groups.push(std::mem::take(&mut current));
            }
            current.clear();
            rows = 0;
        }
        if small(&f) {
            rows += f.meta.rows;
            current.push(f);
        }
    }
    if current.len() > 1 {
        groups.push(current);
    }
    groups
}

/// Merges small files into files of about `compaction_target_rows` rows, then writes the
/// rollups files lack (when rollups are on).
pub(crate) fn compact_blocking(inner: &Inner) -> Result<CompactionReport> {
    let _maintenance = lock(&inner.maintenance);
    let files = lock(&inner.state).files.clone();
    let mut report = CompactionReport::default();
    for group in plan_compaction(&files, inner.options.compaction_target_rows as u64) {
        let mut batches = Vec::new();
        for f in &group {
            batches.extend(read_all(&f.path)?);
        }
        let meta = write_new(inner, &batches)?;
        if crash_here(inner, CrashPoint::AfterNewFile) {
            return Ok(report);
        }
        report.files_in += group.len();
        report.files_out += 1;
        report.records += meta.rows;
        if swap_files(inner, &group, vec![meta])? {
            return Ok(report);
        }
    }
    if inner.options.rollups {
        report.rollups_added = add_missing_rollups(inner)?;
    }
    Ok(report)
}

/// Writes rollups for the files that lack them (written before rollups existed, or when
/// writing them failed) or have older ones. Returns how many files got them.
fn add_missing_rollups(inner: &Inner) -> Result<usize> {
    let lacking: Vec<Arc<DataFile>> = lock(&inner.state)
        .files
        .iter()
        .filter(|f| !f.meta.rollups || f.meta.rollup_version < rollups::VERSION)
        .cloned()
        .collect();
    let mut added = 0;
    for f in lacking {
        // Data files are written sorted by time, as rollups need.
        let sorted = read_all(&f.path)?;
        let mut meta = f.meta.clone();
        let written = rollups::write(&inner.layout.rollup_dir, &meta.name, &sorted);
        rollups::mark(&inner.layout.rollup_dir, &mut meta, written);
        if !meta.rollups {
            continue;
        }
        let mut manifest = lock(&inner.state).manifest.clone();
        for m in manifest.files.iter_mut().filter(|m| m.name == meta.name) {
            *m = meta.clone();
        }
        manifest::save(&inner.dir, &manifest)?;
        let mut st = lock(&inner.state);
        st.manifest = manifest;
        for slot in st.files.iter_mut().filter(|s| s.meta.name == meta.name) {
            // The file stays; only its description changes (the old entry is not obsolete,
            // so dropping it deletes nothing).
            *slot = DataFile::new(&inner.layout, meta.clone());
        }
        added += 1;
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::parquet;
    use crate::query::table::Tables;
    use crate::testutil::sample_flows;
    use crate::types::TimeRange;
    use crate::write::buffer::{append_blocking, flush_blocking};
    use crate::{EmbeddedOptions, EmbeddedStore};

    fn open(dir: &std::path::Path) -> EmbeddedStore {
        let options = EmbeddedOptions {
            background_flush: false,
            compaction_target_rows: 1000,
            ..EmbeddedOptions::default()
        };
        EmbeddedStore::open(dir, options).unwrap()
    }

    fn rows(store: &EmbeddedStore) -> u64 {
        lock(&store.inner.state)
            .files
            .iter()
            .map(|f| f.meta.rows)
            .sum()
    }

    fn parquet_files(dir: &std::path::Path) -> usize {
        parquet::list(&dir.join("data")).unwrap().len()
    }

    /// Four flushed files of 10 rows each.
    fn four_files(dir: &std::path::Path) -> EmbeddedStore {
        let store = open(dir);
        for k in 0..4 {
            let batch = crate::FlowBatch::from_logs(&sample_flows(k * 10, 10, 1000)).unwrap();
            append_blocking(&store.inner, batch, false).unwrap();
            flush_blocking(&store.inner).unwrap();
        }
        store
    }

    #[test]
    fn crash_after_writing_the_merged_file_keeps_the_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = four_files(dir.path());
        *lock(&store.inner.crash_at) = Some(CrashPoint::AfterNewFile);
        compact_blocking(&store.inner).unwrap();
        assert_eq!(
            parquet_files(dir.path()),
            5,
            "merged file written, old ones still there"
        );
        drop(store);
        let store = open(dir.path());
        assert_eq!(
            parquet_files(dir.path()),
            4,
            "the unlisted merged file is removed"
        );
        assert_eq!(lock(&store.inner.state).files.len(), 4);
        assert_eq!(rows(&store), 40);
    }

    #[test]
    fn crash_after_the_manifest_change_keeps_the_merged_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = four_files(dir.path());
        *lock(&store.inner.crash_at) = Some(CrashPoint::AfterManifest);
        compact_blocking(&store.inner).unwrap();
        assert_eq!(parquet_files(dir.path()), 5);
        drop(store);
        let store = open(dir.path());
        assert_eq!(
            parquet_files(dir.path()),
            1,
            "the unlisted old files are removed"
        );
        assert_eq!(lock(&store.inner.state).files.len(), 1);
        assert_eq!(rows(&store), 40);
    }

    #[tokio::test]
    async fn replaced_files_outlive_the_queries_reading_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = four_files(dir.path());
        let snapshot = store.inner.snapshot(&TimeRange::all());
        compact_blocking(&store.inner).unwrap();
        assert_eq!(
            parquet_files(dir.path()),
            5,
            "old files kept while a snapshot uses them"
        );
        let frame = Tables::new(crate::state::DEFAULT_QUERY_MEMORY)
            .unwrap()
            .frame(&snapshot)
            .unwrap();
        assert_eq!(frame.count().await.unwrap(), 40);
        drop(snapshot);
        assert_eq!(parquet_files(dir.path()), 1);
    }
}
