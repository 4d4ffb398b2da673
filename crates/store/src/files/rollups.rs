//! Rollup files: per data file and per hour of `end_time`, the summaries the heaviest
//! queries need, so that they read a few rows per hour instead of every flow log:
//!
//! - **hit sums**: per policy-hit id, [`IdSums`] and the per-reporter sums the Policy
//!   Board's numbers are made of ([`REPORTER_COLUMNS`]);
//! - **tuples**: the distinct flow tuples the impact preview evaluates (source ports left
//!   out), each with its flow-log and `num_flows` counts;
//! - **traffic**: the traffic sums per *edge*, a group of [`ROLLUP_KEY`] (the service edge
//!   and the reporter), from which every grouping of the graph, the Flow Visualizer and the
//!   Flows view's totals is summed. The file's edges are stored once, numbered
//!   (`.edges.parquet`), and each hour's sums name them by number (`.traffic.parquet`): a
//!   query filters and groups the few edges by their text, then adds up integers.
//!
//! They are written with their data file (flush, compaction, retention) as
//! `rollups/<file>.hits.parquet`, `.tuples.parquet`, `.edges.parquet` and `.traffic.parquet`,
//! before the manifest lists the file, and deleted with it. How queries use them is
//! `query/from_rollups.rs`'s business.
//! The hour is the unit because a day holds few of them (the rollups of 24 hours are read in
//! milliseconds) while the partial hours at the ends of a range stay cheap to scan.

use crate::error::{Result, StoreError};
use crate::files::manifest::FileMeta;
use crate::files::parquet::write_parquet;
use crate::fsutil::sync_dir;
use crate::records::with_column;
use crate::schema::index;
use crate::summaries::distinct_tuples::DistinctTuples;
use crate::summaries::hash_grouping::Groups;
use crate::summaries::hash_grouping::Reader;
use crate::summaries::hit_sums::{IdSums, add_hit_sums, slot};
use crate::summaries::reporter_sums::{ReporterSums, add_reporter_sums, slot as reporter_slot};
use crate::summaries::traffic::{GROUP_SUMS, ROLLUP_KEY, SUM_COLUMNS, row_sums, sum_into};
use crate::types::TimeRange;
use datafusion::arrow::array::{
    ArrayRef, AsArray, BooleanArray, Int32Builder, Int64Array, RecordBatch, StringBuilder,
    UInt32Array, UInt64Array,
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
const TRAFFIC: &str = ".traffic.parquet";
const EDGES: &str = ".edges.parquet";
/// The edge number column of the traffic rollups.
pub(crate) const EDGE: &str = "edge";

/// The rollups files are written with now; files whose rollups are older get them again
/// from compaction. 1: hit sums and tuples; 2: traffic too; 3: per-reporter hit sums too.
pub(crate) const VERSION: u32 = 3;
/// The first version whose hit sums keep the reporters.
pub(crate) const REPORTERS_SINCE: u32 = 3;

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

/// A data file's traffic sums per hour and edge ([`TRAFFIC_SCHEMA`]).
pub(crate) fn traffic_path(dir: &Path, data_name: &str) -> PathBuf {
    dir.join(format!("{}{TRAFFIC}", stem(data_name)))
}

/// A data file's edges ([`EDGE_SCHEMA`]).
pub(crate) fn edges_path(dir: &Path, data_name: &str) -> PathBuf {
    dir.join(format!("{}{EDGES}", stem(data_name)))
}

/// The rollup files of a data file: hit sums, tuples, then the traffic's two.
pub(crate) fn paths(dir: &Path, data_name: &str) -> [PathBuf; 4] {
    [
        hits_path(dir, data_name),
        tuples_path(dir, data_name),
        traffic_path(dir, data_name),
        edges_path(dir, data_name),
    ]
}

/// The hit sums' [`ReporterSums`] columns: enforced and pending `num_flows` of `src`, then
/// of `dst` flow logs.
const REPORTER_COLUMNS: [[&str; 2]; 2] = [
    ["src_num_flows", "src_pending_num_flows"],
    ["dst_num_flows", "dst_pending_num_flows"],
];

static HIT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![
        ArrowField::new(BUCKET, DataType::Int64, false),
        ArrowField::new("id", DataType::UInt32, false),
    ];
    fields.extend(
        IdSums::NAMES
            .iter()
            .chain(REPORTER_COLUMNS.as_flattened())
            .map(|n| ArrowField::new(*n, DataType::UInt64, false)),
    );
    Arc::new(Schema::new(fields))
});

/// The edges' columns: the edge's number, then [`ROLLUP_KEY`] (named and typed as the flow
/// columns, so that a query's filter on them reads the same here).
pub(crate) static EDGE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![ArrowField::new(EDGE, DataType::UInt32, false)];
    fields.extend(
        ROLLUP_KEY
            .iter()
            .map(|&f| ArrowField::new(f.column(), crate::schema::data_type(f), true)),
    );
    Arc::new(Schema::new(fields))
});

/// The traffic sums' columns: the bucket, the edge's number, then [`SUM_COLUMNS`].
pub(crate) static TRAFFIC_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![
        ArrowField::new(BUCKET, DataType::Int64, false),
        ArrowField::new(EDGE, DataType::UInt32, false),
    ];
    fields.extend(
        SUM_COLUMNS
            .iter()
            .map(|n| ArrowField::new(*n, DataType::UInt64, false)),
    );
    Arc::new(Schema::new(fields))
});

/// The rows of a file's edges, numbered by their place in `edges`.
fn edge_rows(edges: &Groups<0>) -> Result<RecordBatch> {
    let n = edges.groups.len();
    let torn = || StoreError::invalid_record("an edge's key is shorter than its fields");
    let mut texts: Vec<StringBuilder> = (0..ROLLUP_KEY.len())
        .map(|_| StringBuilder::with_capacity(n, n * 16))
        .collect();
    let mut ports = Int32Builder::with_capacity(n);
    for g in &edges.groups {
        let mut key = Reader(edges.key(g));
        for (&f, text) in ROLLUP_KEY.iter().zip(&mut texts) {
            if f == FlowField::DestPort {
                let port = key.int().ok_or_else(torn)?;
                ports.append_option(port.and_then(|p| i32::try_from(p).ok()));
            } else {
                let cell = key.text().ok_or_else(torn)?;
                let cell = cell
                    .map(std::str::from_utf8)
                    .transpose()
                    .map_err(|_| StoreError::invalid_record(format!("{f} is not UTF-8")))?;
                text.append_option(cell);
            }
        }
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt32Array::from_iter_values(0..n as u32))];
    for (&f, text) in ROLLUP_KEY.iter().zip(&mut texts) {
        columns.push(if f == FlowField::DestPort {
            Arc::new(ports.finish())
        } else {
            Arc::new(text.finish())
        });
    }
    Ok(RecordBatch::try_new(EDGE_SCHEMA.clone(), columns)?)
}

/// The rows of one bucket's traffic sums.
fn traffic_rows(bucket: i64, used: &[(u32, [u64; GROUP_SUMS])]) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![bucket; used.len()])),
        Arc::new(UInt32Array::from_iter_values(used.iter().map(|(e, _)| *e))),
    ];
    for k in 0..GROUP_SUMS {
        columns.push(Arc::new(UInt64Array::from_iter_values(
            used.iter().map(|(_, s)| s[k]),
        )));
    }
    Ok(RecordBatch::try_new(TRAFFIC_SCHEMA.clone(), columns)?)
}

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
fn hit_rows(bucket: i64, sums: &[IdSums], reporters: &ReporterSums) -> Result<RecordBatch> {
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
    for sums in reporters {
        for k in 0..2 {
            columns.push(Arc::new(UInt64Array::from_iter_values(
                used.iter()
                    .map(|(id, _)| sums.get(*id as usize).map_or(0, |s| s[k])),
            )));
        }
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
    pub traffic: bool,
}

/// Distinct tuples and traffic groups are kept only when they are at most this fraction of
/// the rows: reading more would save little over scanning the rows, and cost disk.
const WORTH_KEEPING: usize = 4;

/// One bucket's summaries so far.
struct Bucket {
    bucket: i64,
    hits: Vec<IdSums>,
    reporters: ReporterSums,
    tuples: DistinctTuples,
    /// Traffic sums by edge number, while the bucket is being added to.
    traffic: Vec<[u64; GROUP_SUMS]>,
    /// Once it is done: the sums of the edges it reached (`traffic` would hold a slot per
    /// edge of the file in every bucket).
    reached: Vec<(u32, [u64; GROUP_SUMS])>,
}

impl Bucket {
    fn close(&mut self) {
        let traffic = std::mem::take(&mut self.traffic);
        self.reached
            .extend((0u32..).zip(traffic).filter(|(_, s)| s[0] > 0));
    }
}

/// Rollup rows gathered in all buckets (distinct tuples; traffic rows of the buckets done),
/// up to a limit past which they are no longer gathered (the file could not keep them).
struct Gathered {
    count: usize,
    limit: usize,
    dropped: bool,
}

impl Gathered {
    fn new(limit: usize) -> Gathered {
        Gathered {
            count: 0,
            limit,
            dropped: false,
        }
    }

    /// Counts `added` more; false once they are over the limit.
    fn add(&mut self, added: usize) -> bool {
        self.count += added;
        self.dropped |= self.count > self.limit;
        !self.dropped
    }

    /// Whether a file of `rows` rows keeps them.
    fn kept(&self, rows: usize) -> bool {
        !self.dropped && self.count > 0 && self.count <= rows / WORTH_KEEPING
    }
}

/// The rollups of a data file, gathered as its rows (sorted by `end_time`) are written.
pub(crate) struct Rollups {
    buckets: Vec<Bucket>,
    rows: usize,
    /// The file's edges, numbered in the order they were met.
    edges: Groups<0>,
    /// Past a fourth of the rows the file can hold, the tuples or the edges are no longer
    /// gathered.
    tuples: Gathered,
    traffic: Gathered,
}

impl Rollups {
    /// Rollups for a data file of at most `max_rows` rows.
    pub fn new(max_rows: usize) -> Rollups {
        Rollups {
            buckets: Vec::new(),
            rows: 0,
            edges: Groups::default(),
            tuples: Gathered::new(max_rows / WORTH_KEEPING),
            traffic: Gathered::new(max_rows / WORTH_KEEPING),
        }
    }

    /// Closes the bucket being added to, counting the edges it reached.
    fn close_last_bucket(&mut self) {
        if let Some(last) = self.buckets.last_mut() {
            last.close();
            if !self.traffic.dropped {
                self.traffic.add(last.reached.len());
            }
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
                    self.close_last_bucket();
                    self.buckets.push(Bucket {
                        bucket,
                        hits: Vec::new(),
                        reporters: ReporterSums::default(),
                        tuples: DistinctTuples::new(),
                        traffic: Vec::new(),
                        reached: Vec::new(),
                    });
                    self.buckets.len() - 1
                }
            };
            let b = &mut self.buckets[at];
            for batch in &rows {
                self.rows += batch.num_rows();
                add_hit_sums(batch, &mut b.hits)?;
                add_reporter_sums(batch, &mut b.reporters)?;
                if !self.tuples.dropped {
                    let before = b.tuples.len();
                    b.tuples.add(batch)?;
                    if !self.tuples.add(b.tuples.len() - before) {
                        b.tuples = DistinctTuples::new();
                    }
                }
                if !self.traffic.dropped {
                    let edges = self.edges.add_batch_indexed(batch, &ROLLUP_KEY, |_| [])?;
                    b.traffic.resize(self.edges.groups.len(), [0; GROUP_SUMS]);
                    let sums = row_sums(batch)?;
                    for (row, &edge) in edges.iter().enumerate() {
                        sum_into(&mut b.traffic[edge as usize], &sums(row));
                    }
                    // Each edge is reached in some bucket, so past the limit they are too
                    // many as well.
                    if self.edges.groups.len() > self.traffic.limit {
                        self.traffic.dropped = true;
                    }
                }
            }
        }
        if self.tuples.dropped || self.traffic.dropped {
            for b in &mut self.buckets {
                if self.tuples.dropped {
                    b.tuples = DistinctTuples::new();
                }
                if self.traffic.dropped {
                    b.traffic = Vec::new();
                    b.reached = Vec::new();
                }
            }
            if self.traffic.dropped {
                self.edges = Groups::default();
            }
        }
        Ok(())
    }

    /// Writes the rollups of the data file `data_name`, durably.
    pub fn write(mut self, dir: &Path, data_name: &str) -> Result<Written> {
        crate::fsutil::create_dir_durably(dir)?;
        let keep_tuples = self.tuples.kept(self.rows);
        self.close_last_bucket();
        let keep_traffic = self.traffic.kept(self.rows);
        let (mut hits, mut tuples, mut traffic) = (Vec::new(), Vec::new(), Vec::new());
        for b in self.buckets {
            hits.push(hit_rows(b.bucket, &b.hits, &b.reporters)?);
            if keep_tuples && b.tuples.len() > 0 {
                tuples.push(with_bucket(b.bucket, b.tuples.finish()?)?);
            }
            if keep_traffic {
                traffic.push(traffic_rows(b.bucket, &b.reached)?);
            }
        }
        write_rollup(&hits_path(dir, data_name), HIT_SCHEMA.clone(), &hits)?;
        if keep_tuples {
            write_rollup(&tuples_path(dir, data_name), tuples[0].schema(), &tuples)?;
        }
        if keep_traffic {
            let edges = [edge_rows(&self.edges)?];
            write_rollup(&edges_path(dir, data_name), EDGE_SCHEMA.clone(), &edges)?;
            let path = traffic_path(dir, data_name);
            write_rollup(&path, TRAFFIC_SCHEMA.clone(), &traffic)?;
        }
        sync_dir(dir)?;
        Ok(Written {
            tuples: keep_tuples,
            traffic: keep_traffic,
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
            meta.rollup_version = VERSION;
            meta.tuple_rollup = written.tuples;
            meta.traffic_rollup = written.traffic;
        }
        Err(e) => {
            tracing::warn!(
                "{}: rollups not written ({e}); queries scan its rows",
                meta.name
            );
            meta.rollups = false;
            meta.tuple_rollup = false;
            meta.traffic_rollup = false;
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

/// Adds a data file's per-reporter hit sums of `buckets` to `sums`.
pub(crate) fn add_reporters(
    dir: &Path,
    data_name: &str,
    buckets: Buckets,
    sums: &mut ReporterSums,
) -> Result<()> {
    let path = hits_path(dir, data_name);
    for batch in read(&path, buckets)? {
        let bad = || StoreError::corrupt(&path, "hit sums do not have their columns");
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_primitive_opt::<UInt64Type>())
                .map(|a| a.values())
                .ok_or_else(bad)
        };
        let ids = batch
            .column_by_name("id")
            .and_then(|c| c.as_primitive_opt::<UInt32Type>())
            .ok_or_else(bad)?;
        for (sums, [flows, pending]) in sums.iter_mut().zip(REPORTER_COLUMNS) {
            let (flows, pending) = (column(flows)?, column(pending)?);
            for (row, &id) in ids.values().iter().enumerate() {
                let slot = reporter_slot(sums, id);
                slot[0] += flows[row];
                slot[1] += pending[row];
            }
        }
    }
    Ok(())
}

/// A data file's tuple rollup rows of `buckets`: the grouping columns (source ports left
/// out), then `num_flows` and [`FLOW_LOGS`](crate::summaries::distinct_tuples::FLOW_LOGS).
pub(crate) fn tuples(dir: &Path, data_name: &str, buckets: Buckets) -> Result<Vec<RecordBatch>> {
    read(&tuples_path(dir, data_name), buckets)
}

/// A data file's traffic sums of `buckets` ([`TRAFFIC_SCHEMA`]).
pub(crate) fn traffic(dir: &Path, data_name: &str, buckets: Buckets) -> Result<Vec<RecordBatch>> {
    read(&traffic_path(dir, data_name), buckets)
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
/// rollups of replaced or quarantined files. `listed` names, per kind (hit sums, tuples,
/// traffic), the data files whose rollups of that kind are listed. Returns what it deleted.
pub(crate) fn remove_unlisted(dir: &Path, listed: &[HashSet<&str>; 3]) -> Result<Vec<PathBuf>> {
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
        let listed = [
            (HITS, &listed[0]),
            (TUPLES, &listed[1]),
            (TRAFFIC, &listed[2]),
            (EDGES, &listed[2]),
        ]
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
