//! The embedded store: a data directory with a write-ahead log, an in-memory Arrow buffer,
//! and time-sorted Parquet files listed by a manifest, queried with DataFusion.
//!
//! ```text
//! <dir>/FORMAT          format version (refused when unknown)
//! <dir>/LOCK            held while a process has the store open
//! <dir>/manifest.json   live data files + how far the WAL is flushed (replaced atomically)
//! <dir>/wal/*.wal       appended batches not yet in Parquet
//! <dir>/data/*.parquet  flow logs sorted by end_time, ZSTD
//! <dir>/rollups/        per data file and hour: policy-hit sums, distinct flow tuples
//! <dir>/quarantine/     data files found corrupt on open, moved aside
//! ```
//!
//! Concurrency: appends serialise on the WAL; flush, compaction and retention serialise on
//! one maintenance lock; queries take a snapshot (files + buffered batches) under a short
//! lock and never wait for writers. A file replaced by compaction or retention is deleted
//! when the last query using it finishes.

use crate::bulk::BulkLoad;
use crate::datafile::DataFileWriter;
use crate::encode::FlowBatch;
use crate::error::{Result, StoreError};
use crate::exec;
use crate::files::{self, WriteSettings};
use crate::format;
use crate::fsutil::{lock, sync_dir};
use crate::hitdict::HitDictionary;
use crate::manifest::{self, FileMeta, Manifest};
use crate::plan::{logical, time_filter};
use crate::query::{
    AggregateRow, AppendReceipt, FlowPage, FlowQuery, GroupBy, StoreStats, TimeRange,
};
use crate::rollup;
use crate::schema::{Field, flow_schema, flow_schema_with_views, index};
use crate::store::Store;
use crate::udf::SelectorMatches;
use crate::wal::{self, Wal};
use async_trait::async_trait;
use datafusion::arrow::array::{AsArray, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::catalog::MemTable;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use flowlens_model::FlowTuple;
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
    /// [`Store::flush`], [`EmbeddedStore::close`] and when the buffer reaches four times
    /// `flush_rows`, which always flushes before `append` returns).
    pub background_flush: bool,
    /// Compaction merges files smaller than half this into files of about this many rows.
    pub compaction_target_rows: usize,
    /// An append of at least this many records is written as a data file of its own instead
    /// of going through the WAL and the buffer (bulk loads then encode each row once).
    pub direct_write_rows: usize,
    /// Rows per Parquet row group (the unit the engine skips by time).
    pub row_group_rows: usize,
    pub zstd_level: i32,
    /// Write rollups (per hour: policy-hit sums and distinct flow tuples) with each data file,
    /// and answer time-only policy aggregates and flow-tuple queries from them.
    pub rollups: bool,
}

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
        }
    }
}

/// Problems found and repaired while opening.
#[derive(Clone, Debug, Default)]
pub struct OpenReport {
    /// Records replayed from the write-ahead log into the buffer.
    pub replayed_records: u64,
    /// Torn WAL tails truncated, corrupt files quarantined, leftovers removed.
    pub warnings: Vec<String>,
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
    pub fn new(data_dir: &Path, rollup_dir: &Path, meta: FileMeta) -> Arc<DataFile> {
        Arc::new(DataFile {
            path: data_dir.join(&meta.name),
            rollup_dir: rollup_dir.to_path_buf(),
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
            rollup::remove(&self.rollup_dir, &self.meta.name);
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
    fn new(batch: RecordBatch) -> Option<Buffered> {
        if batch.num_rows() == 0 {
            return None;
        }
        let (min_time, max_time) = time_span(&batch);
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
    pub quarantined: Vec<PathBuf>,
    pub wal_bytes: u64,
}

impl State {
    fn buffered_rows(&self) -> usize {
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
    pub data_dir: PathBuf,
    pub rollup_dir: PathBuf,
    pub options: EmbeddedOptions,
    pub log: Mutex<Log>,
    /// Taken before `log` when both are needed.
    pub hits: Mutex<HitDictionary>,
    pub state: Mutex<State>,
    pub maintenance: Mutex<()>,
    flushing: AtomicBool,
    ctx: SessionContext,
    _lock: File,
    #[cfg(test)]
    pub crash_at: Mutex<Option<crate::maintenance::CrashPoint>>,
}

/// The embedded [`Store`]. Cheap to clone (shared state).
#[derive(Clone)]
pub struct EmbeddedStore {
    pub(crate) inner: Arc<Inner>,
    report: Arc<OpenReport>,
}

/// What a query reads: live files overlapping its time range and buffered batches.
pub(crate) struct Snapshot {
    pub range: TimeRange,
    pub files: Vec<Arc<DataFile>>,
    pub batches: Vec<Buffered>,
}

fn time_span(batch: &RecordBatch) -> (i64, i64) {
    let times = batch
        .column(index(Field::EndTime))
        .as_primitive::<Int64Type>();
    times
        .values()
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)))
}

/// `parts` with consecutive record ids from `first` on.
pub(crate) fn numbered(parts: Vec<RecordBatch>, first: u64) -> Result<Vec<RecordBatch>> {
    let mut next = first;
    parts
        .into_iter()
        .map(|part| {
            let first = next;
            next += part.num_rows() as u64;
            with_record_ids(part, first)
        })
        .collect()
}

fn with_record_ids(batch: RecordBatch, first: u64) -> Result<RecordBatch> {
    let n = batch.num_rows() as u64;
    let mut columns = batch.columns().to_vec();
    columns[index(Field::RecordId)] = Arc::new(UInt64Array::from_iter_values(first..first + n));
    Ok(RecordBatch::try_new(flow_schema(), columns)?)
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}

fn session() -> SessionContext {
    let mut config = SessionConfig::new().with_information_schema(false);
    let parquet = &mut config.options_mut().execution.parquet;
    parquet.pushdown_filters = true;
    parquet.reorder_filters = true;
    // The UI's wide groupings (name pairs, graph edges) reduce a partition's rows little:
    // 417,000 rows of an hour hold 170,000 name pairs. Giving up the partial aggregation as
    // soon as it keeps more than 30 % of the rows (DataFusion's default: 80 %) measured
    // 20–30 % faster for those and the same for narrow groupings (namespace pairs).
    config
        .options_mut()
        .execution
        .skip_partial_aggregation_probe_ratio_threshold = 0.3;
    let ctx = SessionContext::new_with_config(config);
    ctx.register_udf(SelectorMatches::udf());
    ctx
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir`: checks the format, removes leftovers of
    /// interrupted writes, quarantines unreadable data files and replays the WAL.
    pub fn open(dir: impl AsRef<Path>, options: EmbeddedOptions) -> Result<EmbeddedStore> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)
            .map_err(StoreError::io("creating the data directory", &dir))?;
        let dir = dir
            .canonicalize()
            .map_err(StoreError::io("resolving the data directory", &dir))?;
        let lock_path = dir.join("LOCK");
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(StoreError::io("opening the lock file", &lock_path))?;
        lock_file.try_lock().map_err(|_| StoreError::Io {
            context: "locking the data directory (is another flowlens using it?)",
            path: dir.clone(),
            source: std::io::Error::other("already locked"),
        })?;
        format::check_or_init(&dir)?;
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir).map_err(StoreError::io("creating", &data_dir))?;

        let rollup_dir = dir.join(rollup::DIR);

        let mut report = OpenReport::default();
        let mut manifest = manifest::load(&dir)?;
        remove_leftovers(&data_dir, &manifest, &mut report)?;
        let quarantined = quarantine_unreadable(&dir, &data_dir, &mut manifest, &mut report)?;
        check_rollups(&rollup_dir, &mut manifest, &mut report)?;

        let hits = HitDictionary::open(&dir)?;
        let (wal, replay) = Wal::open(&dir.join("wal"), manifest.flushed_seq)?;
        report.warnings.extend(replay.warnings);
        let mut next_seq = manifest.flushed_seq + 1;
        let mut next_record_id = manifest.next_record_id;
        for meta in &manifest.files {
            next_record_id = next_record_id.max(meta.max_record_id + 1);
        }
        let mut active = Vec::new();
        for frame in replay.frames {
            let rows: u64 = frame.batches.iter().map(|b| b.num_rows() as u64).sum();
            next_seq = next_seq.max(frame.seq + 1);
            next_record_id = next_record_id.max(frame.first_record_id + rows);
            report.replayed_records += rows;
            active.extend(frame.batches.into_iter().filter_map(Buffered::new));
        }
        let files = manifest
            .files
            .iter()
            .map(|meta| DataFile::new(&data_dir, &rollup_dir, meta.clone()))
            .collect();
        let wal_bytes = wal.bytes();
        let inner = Inner {
            dir,
            data_dir,
            rollup_dir,
            options,
            log: Mutex::new(Log {
                wal,
                next_seq,
                next_record_id,
            }),
            hits: Mutex::new(hits),
            state: Mutex::new(State {
                manifest,
                files,
                active,
                frozen: Vec::new(),
                frozen_seq: 0,
                quarantined,
                wal_bytes,
            }),
            maintenance: Mutex::new(()),
            flushing: AtomicBool::new(false),
            ctx: session(),
            _lock: lock_file,
            #[cfg(test)]
            crash_at: Mutex::new(None),
        };
        Ok(EmbeddedStore {
            inner: Arc::new(inner),
            report: Arc::new(report),
        })
    }

    /// What opening found and repaired.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// Starts a bulk load: batches written into data files as they arrive, bypassing the WAL
    /// and the buffer (see [`BulkLoad`]). Files hold `direct_write_rows` rows at most.
    pub fn bulk_load(&self) -> BulkLoad {
        BulkLoad::new(self.inner.clone(), self.inner.options.direct_write_rows)
    }

    /// Appends `batch` as a data file of its own, whatever its size, instead of logging,
    /// buffering and later rewriting it (a [`BulkLoad`] of one batch).
    pub async fn append_as_file(&self, batch: FlowBatch) -> Result<AppendReceipt> {
        self.append_routed(batch, true).await
    }

    async fn append_routed(&self, batch: FlowBatch, as_file: bool) -> Result<AppendReceipt> {
        if batch.is_empty() {
            let next = lock(&self.inner.log).next_record_id;
            return Ok(AppendReceipt {
                records: 0,
                first_record_id: next,
                sequence: 0,
            });
        }
        let inner = self.inner.clone();
        let receipt = blocking(move || Self::append_blocking(&inner, batch, as_file)).await?;
        let buffered = lock(&self.inner.state).buffered_rows();
        if buffered >= self.inner.options.flush_rows.max(1).saturating_mul(4) {
            self.flush().await?;
        } else {
            self.maybe_flush();
        }
        Ok(receipt)
    }

    pub fn options(&self) -> &EmbeddedOptions {
        &self.inner.options
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The directory holding the Parquet files (readable by other tools, e.g.
    /// `read_parquet('<dir>/data/*.parquet')`).
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Flushes the buffer; the store can be dropped afterwards with an empty WAL.
    pub async fn close(self) -> Result<()> {
        self.flush().await
    }

    /// Reads every data file completely (opening only checks footers). Damaged files are
    /// moved to `quarantine/` and dropped from the manifest, so queries work again; returns
    /// a warning per quarantined file.
    pub async fn verify(&self) -> Result<Vec<String>> {
        let inner = self.inner.clone();
        blocking(move || {
            let _maintenance = lock(&inner.maintenance);
            let files = lock(&inner.state).files.clone();
            let mut damaged = Vec::new();
            for f in &files {
                if let Err(e) = files::scan(&f.path) {
                    damaged.push((f.clone(), e));
                }
            }
            if damaged.is_empty() {
                return Ok(Vec::new());
            }
            let gone: std::collections::HashSet<&str> =
                damaged.iter().map(|(f, _)| f.meta.name.as_str()).collect();
            let mut manifest = lock(&inner.state).manifest.clone();
            manifest.files.retain(|m| !gone.contains(m.name.as_str()));
            manifest::save(&inner.dir, &manifest)?;
            let mut warnings = Vec::new();
            let mut moved = Vec::new();
            for (f, e) in &damaged {
                let (target, warning) = move_to_quarantine(&inner.dir, &f.path, &f.meta, e)?;
                warnings.push(warning);
                moved.push(target);
            }
            let mut st = lock(&inner.state);
            st.manifest = manifest;
            st.files.retain(|f| !gone.contains(f.meta.name.as_str()));
            st.quarantined.extend(moved);
            Ok(warnings)
        })
        .await
    }

    pub(crate) fn snapshot(&self, range: &TimeRange) -> Snapshot {
        let st = lock(&self.inner.state);
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

    /// The Parquet files as one table. With `text_as_views`, text columns are read as
    /// `Utf8View` (pointing into Parquet's dictionary pages instead of copying every string),
    /// for scans that consume the batches themselves.
    fn files_table(&self, files: &[&Arc<DataFile>], text_as_views: bool) -> Result<DataFrame> {
        let ctx = &self.inner.ctx;
        let urls = files
            .iter()
            .map(|f| {
                let url = url::Url::from_file_path(&f.path).map_err(|_| {
                    StoreError::invalid(format!("{} is not an absolute path", f.path.display()))
                })?;
                Ok(ListingTableUrl::try_new(url, None)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(if text_as_views {
                flow_schema_with_views()
            } else {
                flow_schema()
            });
        let table = ListingTable::try_new(config)?
            .with_cache(ctx.runtime_env().cache_manager.get_file_statistic_cache());
        Ok(ctx.read_table(Arc::new(table))?)
    }

    fn memory_table(&self, batches: &[&Buffered]) -> Result<DataFrame> {
        // Two partitions, so both cores scan the buffer.
        let mut parts = vec![Vec::new(), Vec::new()];
        for (i, b) in batches.iter().enumerate() {
            parts[i % 2].push(b.batch.clone());
        }
        parts.retain(|p| !p.is_empty());
        if parts.is_empty() {
            parts.push(Vec::new());
        }
        let table = MemTable::try_new(flow_schema(), parts)?;
        Ok(self.inner.ctx.read_table(Arc::new(table))?)
    }

    /// The snapshot's rows in its time range as one table. Files and buffered batches lying
    /// wholly inside the range are read without a time predicate (the common "last 24 hours"
    /// case then costs no per-row comparison); the others are filtered, which also lets the
    /// engine skip their row groups and pages outside the range.
    pub(crate) async fn frame(&self, snap: &Snapshot) -> Result<DataFrame> {
        self.union(self.frame_parts(snap, false)?)
    }

    pub(crate) fn union(&self, parts: Vec<DataFrame>) -> Result<DataFrame> {
        let mut parts = parts.into_iter();
        match parts.next() {
            Some(first) => Ok(parts.try_fold(first, |all, df| all.union(df))?),
            None => Ok(self.memory_table(&[])?),
        }
    }

    /// The snapshot's data as separate tables (files and buffered batches, each inside the
    /// range or at its edge, the latter filtered on time), for [`Self::frame`] to union or for
    /// scans that read each on its own (their text columns may then differ in layout).
    pub(crate) fn frame_parts(
        &self,
        snap: &Snapshot,
        text_as_views: bool,
    ) -> Result<Vec<DataFrame>> {
        let range = &snap.range;
        let inside = |min: i64, max: i64| range.contains(min) && range.contains(max);
        let (files_in, files_edge): (Vec<&Arc<DataFile>>, Vec<&Arc<DataFile>>) = snap
            .files
            .iter()
            .partition(|f| inside(f.meta.min_time, f.meta.max_time));
        let (mem_in, mem_edge): (Vec<&Buffered>, Vec<&Buffered>) = snap
            .batches
            .iter()
            .partition(|b| inside(b.min_time, b.max_time));
        let mut parts: Vec<DataFrame> = Vec::new();
        if !files_in.is_empty() {
            parts.push(self.files_table(&files_in, text_as_views)?);
        }
        if !mem_in.is_empty() {
            parts.push(self.memory_table(&mem_in)?);
        }
        let mut edge = Vec::new();
        if !files_edge.is_empty() {
            edge.push(self.files_table(&files_edge, text_as_views)?);
        }
        if !mem_edge.is_empty() {
            edge.push(self.memory_table(&mem_edge)?);
        }
        for df in edge {
            parts.push(match time_filter(range) {
                Some(predicate) => df.filter(predicate)?,
                None => df,
            });
        }
        Ok(parts)
    }

    /// The seconds rates are per: the query window, clipped to the stored data when open.
    async fn window_seconds(&self, range: &TimeRange) -> Result<f64> {
        let (lo, hi) = match self.time_bounds().await? {
            Some(bounds) => bounds,
            None => return Ok(1.0),
        };
        let from = range.from.max(lo);
        let to = range.to.min(hi.saturating_add(1));
        Ok((to.saturating_sub(from)).max(1) as f64)
    }

    /// Appends `batch` through the WAL, or as a data file of its own when `as_file` is set
    /// or the batch is at least `direct_write_rows` long.
    pub(crate) fn append_blocking(
        inner: &Arc<Inner>,
        batch: FlowBatch,
        as_file: bool,
    ) -> Result<AppendReceipt> {
        let records = batch.len();
        let parts = inner.with_hit_ids(batch)?;
        if as_file || records >= inner.options.direct_write_rows.max(1) {
            return Self::write_directly(inner, parts);
        }
        let mut log = lock(&inner.log);
        let first_record_id = log.next_record_id;
        let seq = log.next_seq;
        let parts = numbered(parts, first_record_id)?;
        let payload = wal::encode_batches(&parts)?;
        log.wal.append(seq, first_record_id, &payload)?;
        log.next_seq += 1;
        log.next_record_id += records as u64;
        let mut st = lock(&inner.state);
        st.active
            .extend(parts.into_iter().filter_map(Buffered::new));
        st.wal_bytes = log.wal.bytes();
        Ok(AppendReceipt {
            records,
            first_record_id,
            sequence: seq,
        })
    }

    /// Stores `parts` (hit ids attached) as a data file of their own, bypassing the WAL: they
    /// are encoded once instead of twice, and are as durable when this returns as a WAL
    /// append would be (file fsynced and renamed, then listed in the fsynced manifest). A crash
    /// before the manifest lists the file leaves a leftover that the next open deletes; the
    /// append had not been acknowledged.
    fn write_directly(inner: &Arc<Inner>, parts: Vec<RecordBatch>) -> Result<AppendReceipt> {
        let mut load = BulkLoad::new(inner.clone(), usize::MAX);
        let receipt = load.append_with_ids(parts)?;
        load.finish()?;
        Ok(receipt)
    }

    /// Writes everything buffered to one Parquet file. Returns the rows flushed.
    pub(crate) fn flush_blocking(inner: &Inner) -> Result<usize> {
        let _maintenance = lock(&inner.maintenance);
        {
            let mut log = lock(&inner.log);
            let mut st = lock(&inner.state);
            if !st.active.is_empty() {
                let next_seq = log.next_seq;
                log.wal.rotate(next_seq)?;
                let active = std::mem::take(&mut st.active);
                st.frozen.extend(active);
                st.frozen_seq = next_seq - 1;
                st.wal_bytes = log.wal.bytes();
            }
        }
        let (frozen, frozen_seq, mut manifest) = {
            let st = lock(&inner.state);
            let frozen: Vec<RecordBatch> = st.frozen.iter().map(|b| b.batch.clone()).collect();
            (frozen, st.frozen_seq, st.manifest.clone())
        };
        let rows: usize = frozen.iter().map(RecordBatch::num_rows).sum();
        if rows == 0 {
            let mut st = lock(&inner.state);
            st.frozen.clear();
            return Ok(0);
        }
        let sorted = files::sort_by_time(&frozen)?;
        let meta = inner.write_data_file(manifest.next_file_id, &sorted)?;
        let path = inner.data_dir.join(&meta.name);
        manifest.next_file_id += 1;
        manifest.flushed_seq = frozen_seq;
        manifest.next_record_id = manifest.next_record_id.max(meta.max_record_id + 1);
        manifest.files.push(meta.clone());
        if let Err(e) = manifest::save(&inner.dir, &manifest) {
            let _ = std::fs::remove_file(&path);
            rollup::remove(&inner.rollup_dir, &meta.name);
            return Err(e);
        }
        {
            let mut st = lock(&inner.state);
            st.manifest = manifest;
            st.files
                .push(DataFile::new(&inner.data_dir, &inner.rollup_dir, meta));
            st.frozen.clear();
        }
        let mut log = lock(&inner.log);
        log.wal.remove_older_segments()?;
        let bytes = log.wal.bytes();
        lock(&inner.state).wal_bytes = bytes;
        Ok(rows)
    }

    fn maybe_flush(&self) -> Option<tokio::task::JoinHandle<()>> {
        let buffered = lock(&self.inner.state).buffered_rows();
        let threshold = self.inner.options.flush_rows.max(1);
        if !self.inner.options.background_flush || buffered < threshold {
            return None;
        }
        if self.inner.flushing.swap(true, Ordering::AcqRel) {
            return None;
        }
        let inner = self.inner.clone();
        Some(tokio::task::spawn_blocking(move || {
            if let Err(e) = Self::flush_blocking(&inner) {
                tracing::error!("background flush failed (data stays in the WAL): {e}");
            }
            inner.flushing.store(false, Ordering::Release);
        }))
    }
}

/// `table` with each row's whole pending trace, for SQL over the stored rows: stored as null
/// where it is the enforced one, it reads as that there.
fn with_pending_traces(table: DataFrame) -> Result<DataFrame> {
    let pending = Field::PoliciesPending;
    Ok(table.with_column(pending.name(), logical(pending))?)
}

impl Inner {
    /// The parts of `batch` with their policy hits numbered (the id columns attached).
    pub(crate) fn with_hit_ids(&self, batch: FlowBatch) -> Result<Vec<RecordBatch>> {
        let mut hits = lock(&self.hits);
        batch
            .into_parts()
            .iter()
            .map(|part| hits.attach_ids(part))
            .collect()
    }

    pub(crate) fn write_settings(&self) -> WriteSettings {
        WriteSettings {
            row_group_rows: self.options.row_group_rows,
            zstd_level: self.options.zstd_level,
        }
    }

    /// Writes `sorted` (rows sorted by time, one batch after the other) as data file
    /// `file_id`, with its rollups unless they are turned off. A failure to write the rollups
    /// leaves the file without them (queries then scan its rows), rather than failing the
    /// write.
    pub(crate) fn write_data_file(&self, file_id: u64, sorted: &[RecordBatch]) -> Result<FileMeta> {
        let rows = sorted.iter().map(RecordBatch::num_rows).sum();
        let mut file = DataFileWriter::create(self, rows)?;
        file.write(sorted)?;
        file.finish(self, file_id)?
            .ok_or_else(|| StoreError::invalid_record("no rows to write"))
    }

    /// Writes the rollups of the data file `meta` describes, whose rows are `sorted`, and
    /// marks `meta` as having them; on failure, logs it and leaves `meta` as it is.
    pub(crate) fn add_rollups(&self, meta: &mut FileMeta, sorted: &[RecordBatch]) {
        let written = rollup::write(&self.rollup_dir, &meta.name, sorted);
        self.mark_rollups(meta, written);
    }

    /// Marks `meta` as having the rollups `written` reports, or logs why it has none.
    pub(crate) fn mark_rollups(&self, meta: &mut FileMeta, written: Result<rollup::Written>) {
        match written {
            Ok(written) => {
                meta.rollups = true;
                meta.tuple_rollup = written.tuples;
            }
            Err(e) => {
                tracing::warn!(
                    "{}: rollups not written ({e}); queries scan its rows",
                    meta.name
                );
                rollup::remove(&self.rollup_dir, &meta.name);
            }
        }
    }
}

/// Deletes data files the manifest does not list: temporary files of interrupted writes, and
/// files a crash left behind between a manifest change and the deletions that follow it.
fn remove_leftovers(data_dir: &Path, manifest: &Manifest, report: &mut OpenReport) -> Result<()> {
    let live: std::collections::HashSet<&str> =
        manifest.files.iter().map(|f| f.name.as_str()).collect();
    let mut removed = false;
    for path in files::list(data_dir)? {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !live.contains(name) {
            std::fs::remove_file(&path)
                .map_err(StoreError::io("removing a leftover file", &path))?;
            report.warnings.push(format!(
                "removed leftover {} (interrupted write)",
                path.display()
            ));
            removed = true;
        }
    }
    if removed {
        sync_dir(data_dir)?;
    }
    Ok(())
}

/// Forgets the rollups of listed files whose rollup files are missing (queries scan those
/// files' rows until compaction writes them again) and deletes rollups of unlisted files.
fn check_rollups(dir: &Path, manifest: &mut Manifest, report: &mut OpenReport) -> Result<()> {
    for meta in manifest.files.iter_mut().filter(|m| m.rollups) {
        let [hits, tuples] = rollup::paths(dir, &meta.name);
        if !hits.exists() || (meta.tuple_rollup && !tuples.exists()) {
            report.warnings.push(format!(
                "rollups of {} are missing; its rows are scanned until compaction rewrites them",
                meta.name
            ));
            meta.rollups = false;
            meta.tuple_rollup = false;
        }
    }
    let listed = |has: fn(&FileMeta) -> bool| -> std::collections::HashSet<&str> {
        manifest
            .files
            .iter()
            .filter(|m| has(m))
            .map(|m| m.name.as_str())
            .collect()
    };
    let (hits, tuples) = (listed(|m| m.rollups), listed(|m| m.tuple_rollup));
    for path in rollup::remove_unlisted(dir, &hits, &tuples)? {
        report
            .warnings
            .push(format!("removed leftover {}", path.display()));
    }
    Ok(())
}

/// Moves a damaged data file to `quarantine/`, returning where it went and a warning.
fn move_to_quarantine(
    dir: &Path,
    path: &Path,
    meta: &FileMeta,
    error: &StoreError,
) -> Result<(PathBuf, String)> {
    let qdir = dir.join("quarantine");
    std::fs::create_dir_all(&qdir).map_err(StoreError::io("creating", &qdir))?;
    let target = qdir.join(&meta.name);
    if path.exists() {
        std::fs::rename(path, &target).map_err(StoreError::io("quarantining", path))?;
    }
    let warning = format!(
        "quarantined {} ({} records unavailable): {error}",
        path.display(),
        meta.rows
    );
    tracing::error!("{warning}");
    Ok((target, warning))
}

/// Moves listed files that are missing or unreadable out of the way, so the rest stays
/// queryable; they are reported and kept in `quarantine/` for inspection.
fn quarantine_unreadable(
    dir: &Path,
    data_dir: &Path,
    manifest: &mut Manifest,
    report: &mut OpenReport,
) -> Result<Vec<PathBuf>> {
    let mut quarantined = Vec::new();
    let mut keep = Vec::new();
    for meta in std::mem::take(&mut manifest.files) {
        let path = data_dir.join(&meta.name);
        match files::check(&path) {
            Ok(()) => keep.push(meta),
            Err(e) => {
                let (target, warning) = move_to_quarantine(dir, &path, &meta, &e)?;
                report.warnings.push(warning);
                quarantined.push(target);
            }
        }
    }
    manifest.files = keep;
    if !quarantined.is_empty() {
        manifest::save(dir, manifest)?;
    }
    Ok(quarantined)
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn append_batch(&self, batch: FlowBatch) -> Result<AppendReceipt> {
        self.append_routed(batch, false).await
    }

    async fn query_flows(&self, query: &FlowQuery) -> Result<FlowPage> {
        let snap = self.snapshot(&query.time);
        let df = self.frame(&snap).await?;
        exec::flow_page(df, query).await
    }

    async fn aggregate(&self, query: &FlowQuery, group_by: GroupBy) -> Result<Vec<AggregateRow>> {
        let window = self.window_seconds(&query.time).await?;
        let snap = self.snapshot(&query.time);
        if !group_by.is_policy() {
            let df = self.frame(&snap).await?;
            return exec::aggregate(df, query, group_by, window).await;
        }
        let known_ids = lock(&self.inner.hits).len();
        let sums = self.hit_sums(&snap, query, known_ids).await?;
        let hits = lock(&self.inner.hits);
        exec::policy_rows(&sums, &hits, query, group_by, window)
    }

    async fn flow_tuples(&self, query: &FlowQuery, source_ports: bool) -> Result<Vec<FlowTuple>> {
        let snap = self.snapshot(&query.time);
        self.tuples(&snap, query, source_ports).await
    }

    async fn time_bounds(&self) -> Result<Option<(i64, i64)>> {
        let st = lock(&self.inner.state);
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
        Ok(spans.reduce(|(a, b), (c, d)| (a.min(c), b.max(d))))
    }

    async fn stats(&self) -> Result<StoreStats> {
        let st = lock(&self.inner.state);
        let buffered = st.buffered_rows() as u64;
        Ok(StoreStats {
            records: st.files.iter().map(|f| f.meta.rows).sum::<u64>() + buffered,
            buffered_records: buffered,
            files: st.files.len(),
            bytes_on_disk: st.files.iter().map(|f| f.meta.bytes).sum(),
            wal_bytes: st.wal_bytes,
            quarantined: st.quarantined.clone(),
        })
    }

    async fn flush(&self) -> Result<()> {
        let inner = self.inner.clone();
        blocking(move || Self::flush_blocking(&inner).map(|_| ())).await
    }

    async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let snap = self.snapshot(&TimeRange::all());
        let table = with_pending_traces(self.frame(&snap).await?)?.into_view();
        // A session of its own (sharing caches), so concurrent calls see their own `flows`.
        let state = SessionStateBuilder::new()
            .with_config(self.inner.ctx.copied_config())
            .with_runtime_env(self.inner.ctx.runtime_env())
            .with_default_features()
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.register_udf(SelectorMatches::udf());
        ctx.register_table("flows", table)?;
        // Read-only: no DDL (CREATE EXTERNAL TABLE), DML (COPY … TO) or SET.
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        Ok(ctx.sql_with_options(sql, options).await?.collect().await?)
    }
}
