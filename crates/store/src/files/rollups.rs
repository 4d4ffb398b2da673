//! Rollup files: per data file and per hour of `end_time`, the two summaries the heaviest
//! queries need, so that they read a few rows per hour instead of every flow log:
//!
//! - **hit sums**: per policy-hit id, [`IdSums`] (the Policy Board's numbers);
//! - **tuples**: the distinct flow tuples the impact preview evaluates (source ports left
//!   out), each with its flow-log and `num_flows` counts.
//!
//! They are written with their data file (flush, compaction, retention) as
//! `rollups/<file>.hits.parquet` and `rollups/<file>.tuples.parquet`, before the manifest lists
//! the file, and deleted with it. How queries use them is `query/from_rollups.rs`'s business.
//! The hour is the unit because a day holds few of them (the rollups of 24 hours are read in
//! milliseconds) while the partial hours at the ends of a range stay cheap to scan.

use crate::error::{Result, StoreError};
use crate::files::manifest::FileMeta;
use crate::files::parquet::write_parquet;
use crate::fsutil::sync_dir;
use crate::records::with_column;
use crate::schema::index;
use crate::summaries::distinct_tuples::DistinctTuples;
use crate::summaries::hit_sums::{IdSums, add_hit_sums, slot};
use crate::types::TimeRange;
use datafusion::arrow::array::{
    ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{
    DataType, Field as ArrowField, Int64Type, Schema, SchemaRef, UInt32Type, UInt64Type,
};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use flowlens_model::FlowField;
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

/// The width of a rollup bucket.
pub(crate) const BUCKET_SECONDS: i64 = 3600;
/// The directory, inside the data directory, holding the rollups.
pub(crate) const DIR: &str = "rollups";
const BUCKET: &str = "bucket";
const HITS: &str = ".hits.parquet";
const TUPLES: &str = ".tuples.parquet";

/// Whole buckets `first..end`; bucket `n` spans `[n·B, (n+1)·B)` seconds of `end_time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Buckets {
    pub first: i64,
    pub end: i64,
}

impl Buckets {
    /// The buckets lying wholly inside `range`; `None` when there are none.
    pub fn within(range: &TimeRange) -> Option<Buckets> {
        let b = BUCKET_SECONDS;
        // Rounding `from` up and `to` down keeps both products inside `from..=to`.
        let first = range.from.div_euclid(b) + i64::from(range.from.rem_euclid(b) != 0);
        let end = range.to.div_euclid(b);
        (first < end).then_some(Buckets { first, end })
    }

    /// The time the buckets span.
    pub fn span(&self) -> TimeRange {
        TimeRange::new(self.first * BUCKET_SECONDS, self.end * BUCKET_SECONDS)
    }

    fn mask(&self, buckets: &Int64Array) -> BooleanArray {
        buckets
            .values()
            .iter()
            .map(|b| Some((self.first..self.end).contains(b)))
            .collect()
    }
}

fn stem(data_name: &str) -> &str {
    data_name.strip_suffix(".parquet").unwrap_or(data_name)
}

fn hits_path(dir: &Path, data_name: &str) -> PathBuf {
    dir.join(format!("{}{HITS}", stem(data_name)))
}

fn tuples_path(dir: &Path, data_name: &str) -> PathBuf {
    dir.join(format!("{}{TUPLES}", stem(data_name)))
}

/// The rollup files of a data file.
pub(crate) fn paths(dir: &Path, data_name: &str) -> [PathBuf; 2] {
    [hits_path(dir, data_name), tuples_path(dir, data_name)]
}

static HIT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![
        ArrowField::new(BUCKET, DataType::Int64, false),
        ArrowField::new("id", DataType::UInt32, false),
    ];
    fields.extend(
        IdSums::NAMES
            .iter()
            .map(|n| ArrowField::new(*n, DataType::UInt64, false)),
    );
    Arc::new(Schema::new(fields))
});

/// Sorted rows cut at bucket boundaries: each bucket with its rows, as slices of `sorted`
/// (a bucket's rows may span several batches).
fn by_bucket(sorted: &[RecordBatch]) -> Result<Vec<(i64, Vec<RecordBatch>)>> {
    let mut buckets: Vec<(i64, Vec<RecordBatch>)> = Vec::new();
    for batch in sorted {
        let times = batch
            .column(index(FlowField::EndTime))
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| StoreError::InvalidRecord("end_time is not Int64".into()))?
            .values();
        let mut start = 0;
        while start < times.len() {
            let bucket = times[start].div_euclid(BUCKET_SECONDS);
            let len = times[start..].partition_point(|t| t.div_euclid(BUCKET_SECONDS) == bucket);
            let rows = batch.slice(start, len);
            match buckets.last_mut() {
                Some((last, slices)) if *last == bucket => slices.push(rows),
                _ => buckets.push((bucket, vec![rows])),
            }
            start += len;
        }
    }
    Ok(buckets)
}

/// The rows of one bucket's hit sums (indexed by hit id): the ids a flow log of the bucket
/// holds.
fn hit_rows(bucket: i64, sums: &[IdSums]) -> Result<RecordBatch> {
    let used: Vec<(u32, [u64; 7])> = (0u32..)
        .zip(sums)
        .filter(|(_, s)| s.records > 0 || s.pending_num_flows > 0)
        .map(|(id, s)| (id, s.values()))
        .collect();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![bucket; used.len()])),
        Arc::new(UInt32Array::from_iter_values(
            used.iter().map(|(id, _)| *id),
        )),
    ];
    for k in 0..IdSums::NAMES.len() {
        columns.push(Arc::new(UInt64Array::from_iter_values(
            used.iter().map(|(_, values)| values[k]),
        )));
    }
    Ok(RecordBatch::try_new(HIT_SCHEMA.clone(), columns)?)
}

fn with_bucket(bucket: i64, batch: RecordBatch) -> Result<RecordBatch> {
    let buckets = Arc::new(Int64Array::from(vec![bucket; batch.num_rows()]));
    with_column(batch, BUCKET, buckets)
}

/// What [`Rollups::write`] wrote besides the hit sums.
pub(crate) struct Written {
    pub tuples: bool,
}

/// Distinct tuples are kept only when they are at most this fraction of the rows: reading
/// more would save little over scanning the rows, and cost disk.
const TUPLES_WORTH_KEEPING: usize = 4;

/// One bucket's summaries so far.
struct Bucket {
    bucket: i64,
    hits: Vec<IdSums>,
    tuples: DistinctTuples,
}

/// The rollups of a data file, gathered as its rows (sorted by `end_time`) are written.
pub(crate) struct Rollups {
    buckets: Vec<Bucket>,
    rows: usize,
    /// Distinct tuples gathered in all buckets.
    tuples: usize,
    /// Past this many distinct tuples the file cannot keep them (it will hold at most four
    /// times as many rows): they are no longer gathered.
    tuple_limit: usize,
    tuples_dropped: bool,
}

impl Rollups {
    /// Rollups for a data file of at most `max_rows` rows.
    pub fn new(max_rows: usize) -> Rollups {
        Rollups {
            buckets: Vec::new(),
            rows: 0,
            tuples: 0,
            tuple_limit: max_rows / TUPLES_WORTH_KEEPING,
            tuples_dropped: false,
        }
    }

    /// Adds rows that follow those added before in time order (`sorted`: batches one after
    /// the other).
    pub fn add(&mut self, sorted: &[RecordBatch]) -> Result<()> {
        for (bucket, rows) in by_bucket(sorted)? {
            let at = match self.buckets.last() {
                Some(last) if last.bucket == bucket => self.buckets.len() - 1,
                Some(last) if last.bucket > bucket => {
                    return Err(StoreError::invalid_record("rollup rows out of time order"));
                }
                _ => {
                    self.buckets.push(Bucket {
                        bucket,
                        hits: Vec::new(),
                        tuples: DistinctTuples::new(),
                    });
                    self.buckets.len() - 1
                }
            };
            let b = &mut self.buckets[at];
            for batch in &rows {
                self.rows += batch.num_rows();
                add_hit_sums(batch, &mut b.hits)?;
                if self.tuples_dropped {
                    continue;
                }
                let before = b.tuples.len();
                b.tuples.add(batch)?;
                self.tuples += b.tuples.len() - before;
                self.tuples_dropped = self.tuples > self.tuple_limit;
            }
            if self.tuples_dropped {
                for b in &mut self.buckets {
                    b.tuples = DistinctTuples::new();
                }
            }
        }
        Ok(())
    }

    /// Writes the rollups of the data file `data_name`, durably.
    pub fn write(self, dir: &Path, data_name: &str) -> Result<Written> {
        crate::fsutil::create_dir_durably(dir)?;
        let keep_tuples = !self.tuples_dropped
            && self.tuples > 0
            && self.tuples <= self.rows / TUPLES_WORTH_KEEPING;
        let (mut hits, mut tuples) = (Vec::new(), Vec::new());
        for b in self.buckets {
            hits.push(hit_rows(b.bucket, &b.hits)?);
            if keep_tuples && b.tuples.len() > 0 {
                tuples.push(with_bucket(b.bucket, b.tuples.finish()?)?);
            }
        }
        write_rollup(&hits_path(dir, data_name), HIT_SCHEMA.clone(), &hits)?;
        if keep_tuples {
            write_rollup(&tuples_path(dir, data_name), tuples[0].schema(), &tuples)?;
        }
        sync_dir(dir)?;
        Ok(Written {
            tuples: keep_tuples,
        })
    }
}

/// Writes the rollups of a data file from its rows (`sorted`: sorted by `end_time`, one batch
/// after the other), durably.
pub(crate) fn write(dir: &Path, data_name: &str, sorted: &[RecordBatch]) -> Result<Written> {
    let mut rollups = Rollups::new(sorted.iter().map(RecordBatch::num_rows).sum());
    rollups.add(sorted)?;
    rollups.write(dir, data_name)
}

/// Marks `meta` as having the rollups `written` reports, or logs why it has none (queries
/// then scan its rows) and removes what part of them was written.
pub(crate) fn mark(dir: &Path, meta: &mut FileMeta, written: Result<Written>) {
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
            remove(dir, &meta.name);
        }
    }
}

fn write_rollup(path: &Path, schema: SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    let level =
        ZstdLevel::try_new(3).map_err(|e| StoreError::invalid(format!("zstd level: {e}")))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .build();
    write_parquet(path, schema, batches, properties).map(|_| ())
}

/// The rows of a rollup file in `buckets`.
fn read(path: &Path, buckets: Buckets) -> Result<Vec<RecordBatch>> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::corrupt(path, e.to_string());
    let file = File::open(path).map_err(StoreError::io("opening a rollup", path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| corrupt(&e))?
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| corrupt(&e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(&e))?;
        let bucket = batch
            .column_by_name(BUCKET)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or_else(|| corrupt(&"no bucket column"))?;
        let kept = filter_record_batch(&batch, &buckets.mask(bucket))?;
        if kept.num_rows() > 0 {
            out.push(kept);
        }
    }
    Ok(out)
}

/// Adds a data file's hit sums of `buckets` to `sums` (indexed by hit id).
pub(crate) fn add_hits(
    dir: &Path,
    data_name: &str,
    buckets: Buckets,
    sums: &mut Vec<IdSums>,
) -> Result<()> {
    let path = hits_path(dir, data_name);
    for batch in read(&path, buckets)? {
        let bad = || StoreError::corrupt(&path, "hit sums do not have their columns");
        let ids = batch
            .column_by_name("id")
            .and_then(|c| c.as_primitive_opt::<UInt32Type>())
            .ok_or_else(bad)?;
        let values = IdSums::NAMES
            .iter()
            .map(|n| {
                batch
                    .column_by_name(n)
                    .and_then(|c| c.as_primitive_opt::<UInt64Type>())
                    .map(|a| a.values())
                    .ok_or_else(bad)
            })
            .collect::<Result<Vec<_>>>()?;
        for (row, &id) in ids.values().iter().enumerate() {
            let mut add = [0u64; IdSums::NAMES.len()];
            for (k, v) in values.iter().enumerate() {
                add[k] = v[row];
            }
            slot(sums, id).add(&IdSums::from_values(add));
        }
    }
    Ok(())
}

/// A data file's tuple rollup rows of `buckets`: the grouping columns (source ports left
/// out), then `num_flows` and [`FLOW_LOGS`](crate::summaries::distinct_tuples::FLOW_LOGS).
pub(crate) fn tuples(dir: &Path, data_name: &str, buckets: Buckets) -> Result<Vec<RecordBatch>> {
    read(&tuples_path(dir, data_name), buckets)
}

/// Deletes a data file's rollups (those that exist).
pub(crate) fn remove(dir: &Path, data_name: &str) {
    for path in paths(dir, data_name) {
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("could not delete rollup {}: {e}", path.display());
        }
    }
}

/// Deletes the files in `dir` that are not rollups of listed data files: temporary files,
/// rollups of replaced or quarantined files. `hits` and `tuples` name the data files whose
/// hit sums and tuples are listed. Returns what it deleted.
pub(crate) fn remove_unlisted(
    dir: &Path,
    hits: &HashSet<&str>,
    tuples: &HashSet<&str>,
) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("listing rollups", dir)(e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(StoreError::io("listing rollups", dir))?
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let listed = [(HITS, hits), (TUPLES, tuples)]
            .iter()
            .any(|(suffix, live)| {
                name.strip_suffix(suffix)
                    .is_some_and(|stem| live.contains(format!("{stem}.parquet").as_str()))
            });
        if listed {
            continue;
        }
        std::fs::remove_file(&path).map_err(StoreError::io("removing a leftover rollup", &path))?;
        removed.push(path);
    }
    if !removed.is_empty() {
        sync_dir(dir)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_within_a_range_are_whole() {
        let b = BUCKET_SECONDS;
        assert_eq!(
            Buckets::within(&TimeRange::new(0, b)),
            Some(Buckets { first: 0, end: 1 })
        );
        assert_eq!(
            Buckets::within(&TimeRange::new(1, 2 * b)),
            Some(Buckets { first: 1, end: 2 })
        );
        assert_eq!(Buckets::within(&TimeRange::new(1, 2 * b - 1)), None);
        assert_eq!(
            Buckets::within(&TimeRange::new(-b - 1, 0)),
            Some(Buckets { first: -1, end: 0 })
        );
        let all = Buckets::within(&TimeRange::all()).unwrap();
        let span = all.span();
        assert!(span.from.abs_diff(i64::MIN) < b as u64);
        assert!(i64::MAX - span.to < b);
    }
}
