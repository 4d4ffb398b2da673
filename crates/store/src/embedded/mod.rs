//! The embedded store: a data directory with a write-ahead log, an in-memory Arrow buffer,
//! and time-sorted Parquet files listed by a manifest, queried with DataFusion.
//!
//! ```text
//! <dir>/FORMAT          format version (refused when unknown)
//! <dir>/LOCK            held while a process has the store open
//! <dir>/manifest.json   live data files + how far the WAL is flushed (replaced atomically)
//! <dir>/hits.dict       policy-hit ids
//! <dir>/wal/*.wal       appended batches not yet in Parquet
//! <dir>/data/*.parquet  flow logs sorted by end_time, ZSTD
//! <dir>/rollups/        per data file and hour: policy-hit sums, distinct flow tuples, traffic groups
//! <dir>/quarantine/     data files found corrupt on open, moved aside
//! ```
//!
//! Concurrency: appends serialise on the WAL; flush, compaction and retention serialise on
//! one maintenance lock; queries take a snapshot (files + buffered batches) under a short
//! lock and never wait for writers. A file replaced by compaction or retention is deleted
//! when the last query using it finishes.
//!
//! This module opens the directory and hands out the store; [`recovery`] repairs what a
//! crash left, [`store_impl`] answers the [`Store`](crate::Store) trait, [`maintenance`]
//! runs retention and compaction.

pub(crate) mod maintenance;
#[cfg(test)]
mod power_cut_tests;
pub(crate) mod recovery;
mod store_impl;

pub use recovery::OpenReport;

use crate::error::{Result, StoreError};
use crate::files::hit_dictionary::HitDictionary;
use crate::files::parquet::WriteSettings;
use crate::files::{Layout, format, manifest, rollups};
use crate::fsutil::lock;
use crate::query::table::Tables;
use crate::records::encode::FlowBatch;
use crate::state::{Buffered, DataFile, EmbeddedOptions, Inner, Log, State};
use crate::types::{AppendReceipt, ReadMark, merge_marks};
use crate::write::buffer;
use crate::write::bulk::BulkLoad;
use crate::write::wal::Wal;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// The embedded [`Store`](crate::Store). Cheap to clone (shared state).
#[derive(Clone)]
pub struct EmbeddedStore {
    pub(crate) inner: Arc<Inner>,
    pub(crate) tables: Arc<Tables>,
    report: Arc<OpenReport>,
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
        let layout = Layout {
            data_dir: dir.join("data"),
            rollup_dir: dir.join(rollups::DIR),
            write: WriteSettings {
                row_group_rows: options.row_group_rows,
                zstd_level: options.zstd_level,
            },
            rollups: options.rollups,
        };
        crate::fsutil::create_dir_durably(&layout.data_dir)?;

        recovery::ensure_manifest(&dir, &layout.data_dir)?;
        let mut report = OpenReport::default();
        let mut manifest = manifest::load(&dir)?;
        recovery::remove_leftovers(&dir, &layout.data_dir, &manifest, &mut report)?;
        let quarantined =
            recovery::quarantine_unreadable(&dir, &layout.data_dir, &mut manifest, &mut report)?;
        recovery::check_rollups(&layout.rollup_dir, &mut manifest, &mut report)?;

        let hits = HitDictionary::open(&dir)?;
        let (wal, replay) = Wal::open(
            &dir.join("wal"),
            manifest.flushed_seq,
            &dir.join(recovery::QUARANTINE),
        )?;
        report.warnings.extend(replay.warnings);
        report.lost_wal_frames = replay.lost_frames;
        let mut next_seq = manifest.flushed_seq + 1;
        let mut next_record_id = manifest.next_record_id;
        for meta in &manifest.files {
            next_record_id = next_record_id.max(meta.max_record_id + 1);
        }
        let mut active = Vec::new();
        let mut active_marks = Vec::new();
        for frame in replay.frames {
            merge_marks(&mut active_marks, frame.marks);
            let rows: u64 = frame.batches.iter().map(|b| b.num_rows() as u64).sum();
            next_seq = next_seq.max(frame.seq + 1);
            next_record_id = next_record_id.max(frame.first_record_id + rows);
            report.replayed_records += rows;
            active.extend(frame.batches.into_iter().filter_map(Buffered::new));
        }
        let files = manifest
            .files
            .iter()
            .map(|meta| DataFile::new(&layout, meta.clone()))
            .collect();
        let wal_bytes = wal.bytes();
        let inner = Inner {
            dir,
            layout,
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
                active_marks,
                frozen_marks: Vec::new(),
                quarantined,
                wal_bytes,
            }),
            maintenance: Mutex::new(()),
            flushing: AtomicBool::new(false),
            _lock: lock_file,
            #[cfg(test)]
            crash_at: Mutex::new(None),
        };
        let tables = Arc::new(Tables::new(inner.options.query_memory)?);
        Ok(EmbeddedStore {
            inner: Arc::new(inner),
            tables,
            report: Arc::new(report),
        })
    }

    /// How far each input is stored (see [`ReadMark`]): where reading it again resumes.
    pub fn read_marks(&self) -> Vec<ReadMark> {
        lock(&self.inner.state).read_marks()
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
        buffer::append(&self.inner, batch, true).await
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
        self.inner.data_dir()
    }

    /// Flushes the buffer; the store can be dropped afterwards with an empty WAL.
    pub async fn close(self) -> Result<()> {
        buffer::flush(&self.inner).await
    }

    /// Reads every data file completely (opening only checks footers). Damaged files are
    /// moved to `quarantine/` and dropped from the manifest, so queries work again; returns
    /// a warning per quarantined file.
    pub async fn verify(&self) -> Result<Vec<String>> {
        let inner = self.inner.clone();
        crate::state::blocking(move || recovery::verify_blocking(&inner)).await
    }
}
