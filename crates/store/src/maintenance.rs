//! Keeping the data directory tidy: compaction (many small files → few large, time-sorted
//! ones) and retention (by age and by total size).
//!
//! Both follow the same crash-safe order: write the new file (temporary name, fsync,
//! rename), then replace the manifest atomically, then delete what it no longer lists. A
//! crash before the manifest change leaves an unlisted new file (removed on open); a crash
//! after it leaves unlisted old files (removed on open). Rows are never listed twice.

use crate::embedded::{DataFile, EmbeddedStore, Inner, blocking};
use crate::error::Result;
use crate::files;
use crate::fsutil::lock;
use crate::manifest::{self, FileMeta};
use crate::query::{CompactionReport, RetentionReport};
use crate::rollup;
use crate::schema::{Field, index};
use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::Int64Type;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long and how much to keep. Unset limits keep everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Drop records whose `end_time` is older than this (relative to `now`).
    pub max_age: Option<Duration>,
    /// Drop the oldest files until the Parquet files take at most this many bytes.
    pub max_bytes: Option<u64>,
}

/// Where a test may stop a maintenance step, as a crash would (no clean-up follows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CrashPoint {
    AfterNewFile,
    AfterManifest,
}

#[allow(unused_variables)]
fn crash_here(inner: &Inner, point: CrashPoint) -> bool {
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
fn swap_files(inner: &Inner, old: &[Arc<DataFile>], new: Vec<FileMeta>) -> Result<bool> {
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
        st.files
            .push(DataFile::new(&inner.data_dir, &inner.rollup_dir, meta));
    }
    st.files.sort_by_key(|f| (f.meta.min_time, f.meta.max_time));
    for f in old {
        f.obsolete.store(true, Ordering::Release);
    }
    Ok(false)
}

/// Writes `batches` (any order) as one new sorted file.
fn write_new(inner: &Inner, batches: &[RecordBatch]) -> Result<FileMeta> {
    let file_id = {
        let mut st = lock(&inner.state);
        let id = st.manifest.next_file_id;
        st.manifest.next_file_id += 1;
        id
    };
    let sorted = files::sort_by_time(batches)?;
    inner.write_data_file(file_id, &sorted)
}

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

pub(crate) fn compact_blocking(inner: &Inner) -> Result<CompactionReport> {
    let _maintenance = lock(&inner.maintenance);
    let files = lock(&inner.state).files.clone();
    let mut report = CompactionReport::default();
    for group in plan_compaction(&files, inner.options.compaction_target_rows as u64) {
        let mut batches = Vec::new();
        for f in &group {
            batches.extend(files::read_all(&f.path)?);
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
/// writing them failed). Returns how many files got them.
fn add_missing_rollups(inner: &Inner) -> Result<usize> {
    let lacking: Vec<Arc<DataFile>> = lock(&inner.state)
        .files
        .iter()
        .filter(|f| !f.meta.rollups)
        .cloned()
        .collect();
    let mut added = 0;
    for f in lacking {
        // Data files are written sorted by time, as rollups need.
        let sorted = files::read_all(&f.path)?;
        let mut meta = f.meta.clone();
        inner.add_rollups(&mut meta, &sorted);
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
            *slot = DataFile::new(&inner.data_dir, &inner.rollup_dir, meta.clone());
        }
        added += 1;
    }
    Ok(added)
}

fn keep_newer(batch: &RecordBatch, cutoff: i64) -> Result<RecordBatch> {
    let times = batch
        .column(index(Field::EndTime))
        .as_primitive::<Int64Type>();
    let mask: BooleanArray = times
        .iter()
        .map(|t| Some(t.is_some_and(|t| t >= cutoff)))
        .collect();
    Ok(filter_record_batch(batch, &mask)?)
}

pub(crate) fn retention_blocking(
    inner: &Inner,
    policy: RetentionPolicy,
    now: i64,
) -> Result<RetentionReport> {
    let _maintenance = lock(&inner.maintenance);
    let files = lock(&inner.state).files.clone();
    let mut report = RetentionReport::default();
    let mut removed: Vec<Arc<DataFile>> = Vec::new();
    let mut added: Vec<FileMeta> = Vec::new();
    if let Some(age) = policy.max_age {
        let cutoff = now.saturating_sub(i64::try_from(age.as_secs()).unwrap_or(i64::MAX));
        for f in &files {
            if f.meta.max_time < cutoff {
                removed.push(f.clone());
                report.files_removed += 1;
                report.records_removed += f.meta.rows;
                report.bytes_freed += f.meta.bytes;
            } else if f.meta.min_time < cutoff {
                let kept: Vec<RecordBatch> = files::read_all(&f.path)?
                    .iter()
                    .map(|b| keep_newer(b, cutoff))
                    .collect::<Result<_>>()?;
                let rows: usize = kept.iter().map(RecordBatch::num_rows).sum();
                removed.push(f.clone());
                report.files_rewritten += 1;
                report.records_removed += f.meta.rows - rows as u64;
                let meta = write_new(inner, &kept)?;
                report.bytes_freed += f.meta.bytes.saturating_sub(meta.bytes);
                added.push(meta);
            }
        }
    }
    if let Some(max_bytes) = policy.max_bytes {
        // Oldest first, over the files that survive the age limit (including rewrites).
        enum Source {
            Existing(Arc<DataFile>),
            Added(usize),
        }
        let gone: HashSet<&str> = removed.iter().map(|f| f.meta.name.as_str()).collect();
        let mut candidates: Vec<(i64, u64, u64, Source)> = files
            .iter()
            .filter(|f| !gone.contains(f.meta.name.as_str()))
            .map(|f| {
                (
                    f.meta.max_time,
                    f.meta.bytes,
                    f.meta.rows,
                    Source::Existing(f.clone()),
                )
            })
            .chain(
                added
                    .iter()
                    .enumerate()
                    .map(|(i, m)| (m.max_time, m.bytes, m.rows, Source::Added(i))),
            )
            .collect();
        candidates.sort_by_key(|c| c.0);
        let mut total: u64 = candidates.iter().map(|c| c.1).sum();
        let mut drop_added = Vec::new();
        for (_, bytes, rows, source) in candidates {
            if total <= max_bytes {
                break;
            }
            total -= bytes;
            report.records_removed += rows;
            report.bytes_freed += bytes;
            match source {
                Source::Existing(f) => {
                    removed.push(f);
                    report.files_removed += 1;
                }
                Source::Added(i) => drop_added.push(i),
            }
        }
        drop_added.sort_unstable();
        for i in drop_added.into_iter().rev() {
            let meta = added.remove(i);
            let _ = std::fs::remove_file(inner.data_dir.join(&meta.name));
            rollup::remove(&inner.rollup_dir, &meta.name);
        }
    }
    if removed.is_empty() && added.is_empty() {
        return Ok(report);
    }
    swap_files(inner, &removed, added)?;
    Ok(report)
}

/// What one maintenance pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MaintenanceReport {
    pub retention: RetentionReport,
    pub compaction: CompactionReport,
}

impl MaintenanceReport {
    /// Whether the pass changed anything.
    pub fn changed_anything(&self) -> bool {
        *self != MaintenanceReport::default()
    }
}

impl EmbeddedStore {
    /// One maintenance pass: retention (when `policy` sets a limit), then compaction (which
    /// also writes rollups files lack). Long-running processes call it periodically, see
    /// [`EmbeddedStore::spawn_maintenance`].
    pub async fn maintain(&self, policy: RetentionPolicy, now: i64) -> Result<MaintenanceReport> {
        let retention = if policy == RetentionPolicy::default() {
            RetentionReport::default()
        } else {
            self.apply_retention(policy, now).await?
        };
        let compaction = self.compact().await?;
        Ok(MaintenanceReport {
            retention,
            compaction,
        })
    }

    /// Runs [`EmbeddedStore::maintain`] every `every` (the first pass right away) until the
    /// returned task is aborted. Failures are logged and retried at the next pass.
    pub fn spawn_maintenance(
        &self,
        policy: RetentionPolicy,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every.max(Duration::from_secs(1)));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                match store.maintain(policy, now).await {
                    Ok(report) if report.changed_anything() => {
                        tracing::info!("store maintenance: {report:?}")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!("store maintenance failed (retried later): {e}"),
                }
            }
        })
    }

    /// Merges small files into files of about `compaction_target_rows` rows, sorted by time.
    pub async fn compact(&self) -> Result<CompactionReport> {
        let inner = self.inner.clone();
        blocking(move || compact_blocking(&inner)).await
    }

    /// Drops data older than `policy.max_age` before `now` (unix seconds) and the oldest
    /// files beyond `policy.max_bytes`. Acts on Parquet files; buffered records are covered
    /// once flushed.
    pub async fn apply_retention(
        &self,
        policy: RetentionPolicy,
        now: i64,
    ) -> Result<RetentionReport> {
        let inner = self.inner.clone();
        blocking(move || retention_blocking(&inner, policy, now)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::EmbeddedOptions;
    use crate::query::TimeRange;
    use crate::testutil::sample_flows;

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
        files::list(&dir.join("data")).unwrap().len()
    }

    /// Four flushed files of 10 rows each.
    fn four_files(dir: &std::path::Path) -> EmbeddedStore {
        let store = open(dir);
        for k in 0..4 {
            let batch = crate::FlowBatch::from_logs(&sample_flows(k * 10, 10, 1000)).unwrap();
            EmbeddedStore::append_blocking(&store.inner, batch, false).unwrap();
            EmbeddedStore::flush_blocking(&store.inner).unwrap();
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
        let snapshot = store.snapshot(&TimeRange::all());
        compact_blocking(&store.inner).unwrap();
        assert_eq!(
            parquet_files(dir.path()),
            5,
            "old files kept while a snapshot uses them"
        );
        let frame = store.frame(&snapshot).await.unwrap();
        assert_eq!(frame.count().await.unwrap(), 40);
        drop(snapshot);
        assert_eq!(parquet_files(dir.path()), 1);
    }
}
