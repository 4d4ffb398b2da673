//! A data file being written: rows sorted by time arrive in one or more writes, each encoded
//! into Parquet at once while a second thread folds it into the file's rollups, so the rows
//! need not be kept until the file is complete. The file is named (id and time span) and
//! moved into place when finished; the caller then lists it in the manifest.

use crate::error::{Result, StoreError};
use crate::files::Layout;
use crate::files::manifest::FileMeta;
use crate::files::parquet::{self, ParquetWriter};
use crate::files::rollups::{self, Rollups};
use crate::fsutil::sync_dir;
use crate::schema::flow_schema;
use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::file::metadata::KeyValue;
use std::sync::atomic::{AtomicU64, Ordering};

/// Numbers the temporary names of files being written, so that several can be open at once.
static NEXT_INCOMING: AtomicU64 = AtomicU64::new(0);

/// Rows and their time and record-id bounds.
#[derive(Clone, Copy, Debug)]
struct Bounds {
    rows: u64,
    min_time: i64,
    max_time: i64,
    min_record_id: u64,
    max_record_id: u64,
    /// The sort key, (`end_time`, `record_id`), of the last row.
    last: (i64, u64),
}

/// The `end_time` and `record_id` values of a batch in the stored schema.
fn sort_keys(batch: &RecordBatch) -> Result<(&[i64], &[u64])> {
    parquet::sort_keys(batch)
        .ok_or_else(|| StoreError::invalid_record("batch lacks end_time or record_id"))
}

/// The bounds of `sorted` (rows sorted by time, batches one after the other) added to
/// `bounds`; `None` when there are no rows at all.
fn extend(bounds: Option<Bounds>, sorted: &[RecordBatch]) -> Result<Option<Bounds>> {
    let mut bounds = bounds;
    for batch in sorted.iter().filter(|b| b.num_rows() > 0) {
        let (times, ids) = sort_keys(batch)?;
        let (lo, hi) = ids
            .iter()
            .fold((u64::MAX, 0), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let n = times.len();
        let last = (times[n - 1], ids[n - 1]);
        bounds = Some(match bounds {
            None => Bounds {
                rows: n as u64,
                min_time: times[0],
                max_time: times[n - 1],
                min_record_id: lo,
                max_record_id: hi,
                last,
            },
            Some(b) => Bounds {
                rows: b.rows + n as u64,
                min_time: b.min_time.min(times[0]),
                max_time: b.max_time.max(times[n - 1]),
                min_record_id: b.min_record_id.min(lo),
                max_record_id: b.max_record_id.max(hi),
                last,
            },
        });
    }
    Ok(bounds)
}

/// The sort key of the first row of `sorted`.
fn first_key(sorted: &[RecordBatch]) -> Result<Option<(i64, u64)>> {
    match sorted.iter().find(|b| b.num_rows() > 0) {
        Some(batch) => {
            let (times, ids) = sort_keys(batch)?;
            Ok(Some((times[0], ids[0])))
        }
        None => Ok(None),
    }
}

pub(crate) struct DataFileWriter {
    parquet: ParquetWriter,
    /// `None` when rollups are turned off, or gathering them failed (the file is then
    /// written without them and queries scan its rows).
    rollups: Option<Rollups>,
    bounds: Option<Bounds>,
}

impl DataFileWriter {
    /// Starts a data file that will hold at most `max_rows` rows.
    pub fn create(layout: &Layout, max_rows: usize) -> Result<DataFileWriter> {
        let n = NEXT_INCOMING.fetch_add(1, Ordering::Relaxed);
        let tmp = layout.data_dir.join(format!("incoming-{n}.parquet.tmp"));
        let properties = parquet::properties(layout.write)?;
        Ok(DataFileWriter {
            parquet: ParquetWriter::create(tmp, flow_schema(), properties)?,
            rollups: layout.rollups.then(|| Rollups::new(max_rows)),
            bounds: None,
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.bounds.map_or(0, |b| b.rows)
    }

    /// Whether rows `sorted` can be written next: they do not sort before the rows written
    /// so far.
    pub fn takes(&self, sorted: &[RecordBatch]) -> Result<bool> {
        Ok(match (self.bounds, first_key(sorted)?) {
            (Some(b), Some(first)) => first >= b.last,
            _ => true,
        })
    }

    /// Writes `sorted` (rows sorted by (`end_time`, `record_id`), one batch after the
    /// other, that the file [`takes`](Self::takes)).
    pub fn write(&mut self, sorted: &[RecordBatch]) -> Result<()> {
        if !self.takes(sorted)? {
            return Err(StoreError::invalid_record(
                "rows written to a data file out of time order",
            ));
        }
        let bounds = extend(self.bounds, sorted)?;
        // The rollups are gathered while the rows are encoded: both only read them, and on a
        // bulk load this pair is the path every decoded batch waits for.
        let (written, rollups) = std::thread::scope(|s| {
            let rollups = self
                .rollups
                .take()
                .map(|mut rollups| s.spawn(move || rollups.add(sorted).map(|()| rollups)));
            let written = self.parquet.write(sorted);
            let rollups = rollups.map(|task| {
                task.join()
                    .unwrap_or_else(|_| Err(StoreError::Task("gathering rollups panicked".into())))
            });
            (written, rollups)
        });
        self.rollups = match rollups {
            Some(Ok(rollups)) => Some(rollups),
            Some(Err(e)) => {
                tracing::warn!("rollups not gathered ({e}); queries scan this file's rows");
                None
            }
            None => None,
        };
        written?;
        self.bounds = bounds;
        Ok(())
    }

    /// Closes the file as data file `file_id`, writes its rollups, and returns its
    /// description (the caller lists it). `None` when no row was written (nothing is left
    /// behind).
    pub fn finish(self, layout: &Layout, file_id: u64) -> Result<Option<FileMeta>> {
        let Some(b) = self.bounds else {
            return Ok(None);
        };
        let name = parquet::data_file_name(file_id, b.min_time, b.max_time);
        let kv = |key: &str, value: String| KeyValue::new(format!("flowlens.{key}"), value);
        let metadata = vec![
            kv("min_end_time", b.min_time.to_string()),
            kv("max_end_time", b.max_time.to_string()),
            kv("min_record_id", b.min_record_id.to_string()),
            kv("max_record_id", b.max_record_id.to_string()),
        ];
        let path = layout.data_dir.join(&name);
        let bytes = self.parquet.finish(&path, metadata)?;
        let mut meta = FileMeta {
            name,
            rows: b.rows,
            bytes,
            min_time: b.min_time,
            max_time: b.max_time,
            min_record_id: b.min_record_id,
            max_record_id: b.max_record_id,
            rollups: false,
            tuple_rollup: false,
            traffic_rollup: false,
            rollup_version: 0,
        };
        if let Some(gathered) = self.rollups {
            let written = gathered.write(&layout.rollup_dir, &meta.name);
            rollups::mark(&layout.rollup_dir, &mut meta, written);
        }
        if let Err(e) = sync_dir(&layout.data_dir) {
            let _ = std::fs::remove_file(&path);
            rollups::remove(&layout.rollup_dir, &meta.name);
            return Err(e);
        }
        Ok(Some(meta))
    }
}

/// Writes `sorted` (rows sorted by time, one batch after the other) as data file
/// `file_id`, with its rollups unless they are turned off. A failure to write the rollups
/// leaves the file without them (queries then scan its rows), rather than failing the write.
pub(crate) fn write_sorted(
    layout: &Layout,
    file_id: u64,
    sorted: &[RecordBatch],
) -> Result<FileMeta> {
    let rows = sorted.iter().map(RecordBatch::num_rows).sum();
    let mut file = DataFileWriter::create(layout, rows)?;
    file.write(sorted)?;
    file.finish(layout, file_id)?
        .ok_or_else(|| StoreError::invalid_record("no rows to write"))
}
