//! What an open embedded store holds, shared by its write path, its maintenance and its
//! queries: the tuning, the data files in use, the in-memory buffer, the write-ahead log and
//! the locks that order them.
//!
//! Locks, always taken in this order when several are needed: `maintenance` (flush, bulk
//! file commits, compaction, retention), `hits`, `log`, `state`. Queries take only `state`,
//! briefly, to copy a [`Snapshot`].

use crate::error::{Result, StoreError};
use crate::files::Layout;
use crate::files::hit_dictionary::HitDictionary;
use crate::files::manifest::{FileMeta, Manifest};
use crate::files::rollups;
use crate::fsutil::lock;
use crate::schema::index;
use crate::types::{ReadMark, TimeRange, merge_marks};
use crate::write::wal::Wal;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use flowlens_model::FlowField;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Tuning of the embedded store.
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// Buffered records that trigger a flush to a new Parquet file.
    pub flush_rows: usize,
    /// Flush in a background task when `flush_rows` is reached (otherwise only on
    /// [`Store::flush`](crate::Store::flush), [`EmbeddedStore::close`](crate::EmbeddedStore::close)
    /// and when the buffer reaches four times `flush_rows`, which always flushes before
    /// `append` returns).
    pub background_flush: bool,
    /// Compaction merges files smaller than half this into files of about this many rows.
    pub compaction_target_rows: usize,
    /// An append of at least this many records is written as a data file of its own instead
    /// of going through the WAL and the buffer (bulk loads then encode each row once).
    pub direct_write_rows: usize,
    /// Rows per Parquet row group (the unit the engine skips by time).
    pub row_group_rows: usize,
    pub zstd_level: i32,
    /// Write rollups (per hour: policy-hit sums, distinct flow tuples, traffic per edge) with
    /// each data file, and answer from them the policy aggregates, the Policy Board's numbers
    /// and the flow tuples of queries narrowed by time only, and the traffic groupings of
    /// queries narrowed by time and the edges' columns.
    pub rollups: bool,
    /// Memory the query engine's operators (sorts, groupings, joins in SQL) may hold at
    /// once, over all queries together. Operators that can spill to temporary files then
    /// do; a query that would need more fails with
    /// [`StoreError::OutOfQueryMemory`](crate::StoreError::OutOfQueryMemory) instead of
    /// taking the process's memory.
    pub query_memory: usize,
}

/// What the query engine's operators may hold at once by default.
pub const DEFAULT_QUERY_MEMORY: usize = 4 << 30;

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            flush_rows: 250_000,
            direct_write_rows: 250_000,
            background_flush: true,
            compaction_target_rows: 2_000_000,
            row_group_rows: 128 * 1024,
            zstd_level: 3,
            rollups: true,
            query_memory: DEFAULT_QUERY_MEMORY,
        }
    }
}

/// A data file in use. Once replaced (`obsolete`), it is deleted with its rollups when the
/// last snapshot holding it is dropped.
pub(crate) struct DataFile {
    pub path: PathBuf,
    pub rollup_dir: PathBuf,
    pub meta: FileMeta,
    pub obsolete: AtomicBool,
}

impl DataFile {
    pub fn new(layout: &Layout, meta: FileMeta) -> Arc<DataFile> {
        Arc::new(DataFile {
            path: layout.data_dir.join(&meta.name),
            rollup_dir: layout.rollup_dir.clone(),
            meta,
            obsolete: AtomicBool::new(false),
        })
    }
}

impl Drop for DataFile {
    fn drop(&mut self) {
        if !self.obsolete.load(Ordering::Acquire) {
            return;
        }
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(
                "could not delete replaced data file {}: {e}",
                self.path.display()
            );
        }
        if self.meta.rollups {
            rollups::remove(&self.rollup_dir, &self.meta.name);
        }
    }
}

/// An appended batch with its time span, so queries can skip it.
#[derive(Clone)]
pub(crate) struct Buffered {
    pub batch: RecordBatch,
    pub min_time: i64,
    pub max_time: i64,
}

impl Buffered {
    /// `None` for an empty batch, which has nothing to buffer.
    pub fn new(batch: RecordBatch) -> Option<Buffered> {
        if batch.num_rows() == 0 {
            return None;
        }
        let times = batch
            .column(index(FlowField::EndTime))
            .as_primitive::<Int64Type>();
        let (min_time, max_time) = times
            .values()
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        Some(Buffered {
            batch,
            min_time,
            max_time,
        })
    }
}

pub(crate) struct State {
    pub manifest: Manifest,
    pub files: Vec<Arc<DataFile>>,
    /// Appended since the last freeze.
    pub active: Vec<Buffered>,
    /// Being written to Parquet (still visible to queries until the manifest lists it).
    pub frozen: Vec<Buffered>,
    /// The newest WAL sequence number in `frozen`.
    pub frozen_seq: u64,
    /// The read marks of the rows in `active` and in `frozen` (those of the files are in the
    /// manifest).
    pub active_marks: Vec<ReadMark>,
    pub frozen_marks: Vec<ReadMark>,
    pub quarantined: Vec<PathBuf>,
    pub wal_bytes: u64,
}

impl State {
    /// How far each input is stored: in files, then in the buffer.
    pub fn read_marks(&self) -> Vec<ReadMark> {
        let mut marks = self.manifest.read_marks.clone();
        merge_marks(&mut marks, self.frozen_marks.iter().cloned());
        merge_marks(&mut marks, self.active_marks.iter().cloned());
        marks
    }

    pub fn buffered_rows(&self) -> usize {
        self.active
            .iter()
            .chain(&self.frozen)
            .map(|b| b.batch.num_rows())
            .sum()
    }
}

/// The WAL plus the counters appends draw from.
pub(crate) struct Log {
    pub wal: Wal,
    pub next_seq: u64,
    pub next_record_id: u64,
}

pub(crate) struct Inner {
    pub dir: PathBuf,
    pub layout: Layout,
    pub options: EmbeddedOptions,
    pub log: Mutex<Log>,
    pub hits: Mutex<HitDictionary>,
    pub state: Mutex<State>,
    pub maintenance: Mutex<()>,
    /// Set while a background flush runs, so that appends start at most one.
    pub flushing: AtomicBool,
    /// Held (locked) while the store is open.
    pub _lock: File,
    #[cfg(test)]
    pub crash_at: Mutex<Option<CrashPoint>>,
}

/// Where a test may stop a maintenance step, as a crash would (no clean-up follows), or
/// make it fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CrashPoint {
    AfterNewFile,
    AfterManifest,
    /// A flush cannot write its data file (a full disk).
    FlushFails,
}

/// What a query reads: live files overlapping its time range and buffered batches.
pub(crate) struct Snapshot {
    pub range: TimeRange,
    pub files: Vec<Arc<DataFile>>,
    pub batches: Vec<Buffered>,
}

impl Inner {
    pub fn data_dir(&self) -> &Path {
        &self.layout.data_dir
    }

    /// The files and buffered batches that may hold rows of `range`.
    pub fn snapshot(&self, range: &TimeRange) -> Snapshot {
        let st = lock(&self.state);
        Snapshot {
            range: *range,
            files: st
                .files
                .iter()
                .filter(|f| range.overlaps(f.meta.min_time, f.meta.max_time))
                .cloned()
                .collect(),
            batches: st
                .frozen
                .iter()
                .chain(&st.active)
                .filter(|b| range.overlaps(b.min_time, b.max_time))
                .cloned()
                .collect(),
        }
    }

    /// The smallest and largest stored `end_time`, or `None` when empty.
    pub fn time_bounds(&self) -> Option<(i64, i64)> {
        let st = lock(&self.state);
        let spans = st
            .files
            .iter()
            .map(|f| (f.meta.min_time, f.meta.max_time))
            .chain(
                st.active
                    .iter()
                    .chain(&st.frozen)
                    .map(|b| (b.min_time, b.max_time)),
            );
        spans.reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
    }
}

/// Runs `f` on a thread that may block (file writes, fsyncs, whole-file reads).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}
