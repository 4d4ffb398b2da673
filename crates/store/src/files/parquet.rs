//! Parquet data files: written sorted by time under a temporary name, fsynced and renamed (so
//! a half-written file is never visible), read back whole for compaction, and checked.
//!
//! Settings: ZSTD compression, dictionary encoding for the text columns, delta encoding for
//! the times and record ids, page-level statistics on the number columns (so the engine skips
//! row groups and pages outside a time range), none on the text and list columns (files are
//! sorted by time, so their ranges span nearly every value and skip nothing, while computing
//! them compares every string written), and `flowlens.*` key-value metadata describing the
//! contents.

use crate::error::{Result, StoreError};
use crate::fsutil::{lock, temp_path};
use crate::schema::{flow_schema, index};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef, UInt64Type};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use datafusion::parquet::arrow::arrow_writer::{
    ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::errors::{ParquetError, Result as ParquetResult};
use datafusion::parquet::file::metadata::{KeyValue, PageIndexPolicy, ParquetMetaData};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::file::writer::SerializedFileWriter;
use datafusion::parquet::schema::types::ColumnPath;
use flowlens_model::FlowField;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How data files are laid out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriteSettings {
    pub row_group_rows: usize,
    pub zstd_level: i32,
}

fn parquet_err(
    path: &Path,
) -> impl FnOnce(datafusion::parquet::errors::ParquetError) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Parquet { path, source }
}

/// How data files are written (their `flowlens.*` metadata is added when they are finished).
pub(crate) fn properties(settings: WriteSettings) -> Result<WriterProperties> {
    let level = ZstdLevel::try_new(settings.zstd_level)
        .map_err(|e| StoreError::invalid(format!("zstd level: {e}")))?;
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_dictionary_enabled(true)
        .set_max_row_group_row_count(Some(settings.row_group_rows.max(1)));
    builder = builder.set_statistics_enabled(EnabledStatistics::None);
    for field in flow_schema().fields() {
        if field.data_type().is_primitive() {
            builder = builder.set_column_statistics_enabled(
                ColumnPath::from(field.name().as_str()),
                EnabledStatistics::Page,
            );
        }
    }
    for field in [
        FlowField::StartTime,
        FlowField::EndTime,
        FlowField::RecordId,
    ] {
        let path = ColumnPath::from(field.column());
        builder = builder
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
    }
    Ok(builder.build())
}

/// The rows of `batches` sorted by (`end_time`, `record_id`): the non-empty batches as they
/// are when their rows already follow each other in that order (logs usually arrive in time
/// order, and joining or sorting them would copy every column once more), else one batch
/// concatenated and sorted.
pub(crate) fn sort_by_time(batches: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
    let batches: Vec<RecordBatch> = batches
        .iter()
        .filter(|b| b.num_rows() > 0)
        .cloned()
        .collect();
    if is_in_time_order(&batches) {
        return Ok(batches);
    }
    let batch = concat_batches(&flow_schema(), &batches)?;
    let columns = [FlowField::EndTime, FlowField::RecordId].map(|f| SortColumn {
        values: batch.column(index(f)).clone(),
        options: None,
    });
    let indices = lexsort_to_indices(&columns, None)?;
    Ok(vec![take_record_batch(&batch, &indices)?])
}

/// A batch's `end_time` and `record_id` values.
pub(crate) fn sort_keys(batch: &RecordBatch) -> Option<(&[i64], &[u64])> {
    let times = batch
        .column(index(FlowField::EndTime))
        .as_primitive_opt::<Int64Type>()?;
    let ids = batch
        .column(index(FlowField::RecordId))
        .as_primitive_opt::<UInt64Type>()?;
    Some((times.values(), ids.values()))
}

/// Whether the rows of `batches`, one batch after the other, are sorted by (end time,
/// record id) already.
fn is_in_time_order(batches: &[RecordBatch]) -> bool {
    let mut last: Option<(i64, u64)> = None;
    for batch in batches {
        let Some((times, ids)) = sort_keys(batch) else {
            return false;
        };
        let keys = times.iter().copied().zip(ids.iter().copied());
        for key in keys {
            if last.is_some_and(|last| last > key) {
                return false;
            }
            last = Some(key);
        }
    }
    true
}

/// Whether `name` is the name [`data_file_name`] gives (and not a file someone put there).
pub(crate) fn is_data_file_name(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix("flows-")
        .and_then(|r| r.strip_suffix(".parquet"))
    else {
        return false;
    };
    let mut parts = rest.splitn(2, '-');
    let id = parts.next().unwrap_or("");
    id.len() >= 8 && id.bytes().all(|b| b.is_ascii_digit()) && parts.next().is_some()
}

/// The name of data file `file_id` holding rows that end between `min_time` and `max_time`.
pub(crate) fn data_file_name(file_id: u64, min_time: i64, max_time: i64) -> String {
    format!("flows-{file_id:08}-{min_time}-{max_time}.parquet")
}

/// Writes `batches` as the Parquet file `path` under a temporary name, fsyncs it and renames
/// it into place (the caller syncs the directory). Returns its size.
pub(crate) fn write_parquet(
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
    properties: WriterProperties,
) -> Result<u64> {
    let mut writer = ParquetWriter::create(temp_path(path), schema, properties)?;
    writer.write(batches)?;
    writer.finish(path, Vec::new())
}

/// A Parquet file written as its rows arrive: each write is encoded at once into the open row
/// group, column by column on every core, so the rows need not be kept until the file is
/// complete. It lives under a temporary name until [`finish`](Self::finish) renames it, and
/// is removed if dropped unfinished.
pub(crate) struct ParquetWriter {
    tmp: PathBuf,
    schema: SchemaRef,
    /// `None` once finished.
    writer: Option<SerializedFileWriter<File>>,
    factory: ArrowRowGroupWriterFactory,
    row_group_rows: usize,
    /// The open row group: its column writers (one per leaf column) and rows so far.
    open: Option<(Vec<ArrowColumnWriter>, usize)>,
    row_groups: usize,
}

impl ParquetWriter {
    pub fn create(
        tmp: PathBuf,
        schema: SchemaRef,
        properties: WriterProperties,
    ) -> Result<ParquetWriter> {
        let file = File::create(&tmp).map_err(StoreError::io("creating a Parquet file", &tmp))?;
        let row_group_rows = properties
            .max_row_group_row_count()
            .unwrap_or(usize::MAX)
            .max(1);
        // The high-level writer sets up the file (the Arrow schema in its metadata, the
        // Parquet schema); row groups are then encoded column by column.
        let created = ArrowWriter::try_new(file, schema.clone(), Some(properties))
            .and_then(ArrowWriter::into_serialized_writer);
        let (writer, factory) = match created {
            Ok(created) => created,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(parquet_err(&tmp)(e));
            }
        };
        Ok(ParquetWriter {
            tmp,
            schema,
            writer: Some(writer),
            factory,
            row_group_rows,
            open: None,
            row_groups: 0,
        })
    }

    /// Encodes `batches` (one after the other) into the file, closing row groups as they
    /// fill.
    pub fn write(&mut self, batches: &[RecordBatch]) -> Result<()> {
        let mut pieces: Vec<RecordBatch> = Vec::new();
        for batch in batches {
            let mut at = 0;
            while at < batch.num_rows() {
                let in_group = self.open.as_ref().map_or(0, |(_, rows)| *rows)
                    + pieces.iter().map(RecordBatch::num_rows).sum::<usize>();
                let take = (self.row_group_rows - in_group).min(batch.num_rows() - at);
                pieces.push(batch.slice(at, take));
                at += take;
                if in_group + take == self.row_group_rows {
                    self.encode(&std::mem::take(&mut pieces))?;
                    self.close_row_group()?;
                }
            }
        }
        if !pieces.is_empty() {
            self.encode(&pieces)?;
        }
        Ok(())
    }

    /// Encodes `pieces` into the open row group (opening one if need be).
    fn encode(&mut self, pieces: &[RecordBatch]) -> Result<()> {
        let (writers, rows) = match self.open.take() {
            Some(open) => open,
            None => {
                let writers = self
                    .factory
                    .create_column_writers(self.row_groups)
                    .map_err(parquet_err(&self.tmp))?;
                (writers, 0)
            }
        };
        let schema = &self.schema;
        let writers = in_parallel(schema, writers, |i, mut writers| {
            let field = schema.field(i);
            for piece in pieces {
                let column_leaves = compute_leaves(field, piece.column(i))?;
                for (writer, leaf) in writers.iter_mut().zip(&column_leaves) {
                    writer.write(leaf)?;
                }
            }
            Ok(writers)
        })
        .map_err(parquet_err(&self.tmp))?
        .into_iter()
        .flatten()
        .collect();
        let added: usize = pieces.iter().map(RecordBatch::num_rows).sum();
        self.open = Some((writers, rows + added));
        Ok(())
    }

    fn close_row_group(&mut self) -> Result<()> {
        let Some((writers, _)) = self.open.take() else {
            return Ok(());
        };
        let (Some(writer), tmp) = (self.writer.as_mut(), &self.tmp) else {
            return Err(StoreError::invalid("the Parquet file is finished"));
        };
        let chunks = in_parallel(&self.schema, writers, |_, writers| {
            writers
                .into_iter()
                .map(ArrowColumnWriter::close)
                .collect::<ParquetResult<Vec<_>>>()
        })
        .map_err(parquet_err(tmp))?;
        let mut row_group = writer.next_row_group().map_err(parquet_err(tmp))?;
        for chunk in chunks.into_iter().flatten() {
            chunk
                .append_to_row_group(&mut row_group)
                .map_err(parquet_err(tmp))?;
        }
        row_group.close().map_err(parquet_err(tmp))?;
        self.row_groups += 1;
        Ok(())
    }

    /// Closes the file with `metadata` added to its key-value metadata, fsyncs it and
    /// renames it to `path` (the caller syncs the directory). Returns its size.
    pub fn finish(mut self, path: &Path, metadata: Vec<KeyValue>) -> Result<u64> {
        self.close_row_group()?;
        let tmp = self.tmp.clone();
        let Some(mut writer) = self.writer.take() else {
            return Err(StoreError::invalid("the Parquet file is finished"));
        };
        let finished = (|| {
            for kv in metadata {
                writer.append_key_value_metadata(kv);
            }
            let file = writer.into_inner().map_err(parquet_err(&tmp))?;
            crate::fsutil::sync_file(&file)
                .map_err(StoreError::io("syncing a Parquet file", &tmp))?;
            let bytes = file
                .metadata()
                .map_err(StoreError::io("sizing a Parquet file", &tmp))?
                .len();
            drop(file);
            std::fs::rename(&tmp, path)
                .map_err(StoreError::io("renaming a Parquet file into place", path))?;
            Ok(bytes)
        })();
        if finished.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        finished
    }
}

impl Drop for ParquetWriter {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Parquet leaf columns of one Arrow field: one per primitive inside it.
fn leaves(data_type: &DataType) -> usize {
    match data_type {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            leaves(f.data_type())
        }
        DataType::Map(f, _) => leaves(f.data_type()),
        DataType::Struct(fields) => fields.iter().map(|f| leaves(f.data_type())).sum(),
        _ => 1,
    }
}

/// Runs `work` on each field of `schema` with that field's column writers (`writers`, one per
/// leaf column, in schema order), the fields shared out over the cores; the results come
/// back in field order. On a bulk load the store writes files while the input decodes, and
/// one thread encoding every column became the one everything waited for.
fn in_parallel<T: Send>(
    schema: &SchemaRef,
    writers: Vec<ArrowColumnWriter>,
    work: impl Fn(usize, Vec<ArrowColumnWriter>) -> ParquetResult<T> + Sync,
) -> ParquetResult<Vec<T>> {
    let mut writers = writers.into_iter();
    let fields: Vec<(usize, Vec<ArrowColumnWriter>)> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| (i, writers.by_ref().take(leaves(f.data_type())).collect()))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let queue = Mutex::new(fields.into_iter());
    let next = || lock(&queue).next();
    let mut done: Vec<(usize, ParquetResult<T>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    while let Some((i, writers)) = next() {
                        done.push((i, work(i, writers)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    if done.len() != schema.fields().len() {
        return Err(ParquetError::General(
            "a column encoding thread stopped".into(),
        ));
    }
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, result)| result).collect()
}

/// A failure reading a data file: an I/O error (a full file table, a permission, a disk that
/// went away) may pass and is reported as one; anything else, a file cut short included, is
/// damage in the file.
fn read_error(path: &Path, e: &(dyn std::error::Error + 'static)) -> StoreError {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{InvalidData, UnexpectedEof};
            if !matches!(io.kind(), UnexpectedEof | InvalidData) {
                return StoreError::io("reading a data file", path)(std::io::Error::new(
                    io.kind(),
                    io.to_string(),
                ));
            }
        }
        cause = err.source();
    }
    StoreError::corrupt(path, e.to_string())
}

/// Reads a whole data file.
pub(crate) fn read_all(path: &Path) -> Result<Vec<RecordBatch>> {
    reading(path, || read_all_unguarded(path))
}

fn read_all_unguarded(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(StoreError::io("opening a data file", path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(parquet_err(path))?
        .with_batch_size(64 * 1024)
        .build()
        .map_err(parquet_err(path))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| StoreError::corrupt(path, e.to_string()))?;
        out.push(
            crate::records::decode::conform_to(batch, &flow_schema())
                .map_err(|e| StoreError::corrupt(path, e.to_string()))?,
        );
    }
    Ok(out)
}

/// Runs `read` on a data file, turning a panic of the Parquet or Arrow reader into damage:
/// some malformed metadata (an unknown type in the embedded Arrow schema) makes them panic
/// rather than fail.
fn reading<T>(path: &Path, read: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(StoreError::corrupt(
            path,
            format!("the Parquet reader failed on it: {what}"),
        ))
    })
}

/// Reads a whole data file without keeping it, to find damage anywhere in it.
pub(crate) fn scan(path: &Path) -> Result<u64> {
    reading(path, || scan_unguarded(path))
}

fn scan_unguarded(path: &Path) -> Result<u64> {
    let file = File::open(path).map_err(StoreError::io("opening a data file", path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| read_error(path, &e))?
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| read_error(path, &e))?;
    let mut rows = 0;
    for batch in reader {
        let batch = batch.map_err(|e| read_error(path, &e))?;
        rows += crate::records::decode::conform_to(batch, &flow_schema())
            .map_err(|e| StoreError::corrupt(path, e.to_string()))?
            .num_rows() as u64;
    }
    Ok(rows)
}

/// Checks that a data file has a readable footer with the stored schema's columns.
pub(crate) fn check(path: &Path) -> Result<()> {
    reading(path, || check_unguarded(path))
}

fn check_unguarded(path: &Path) -> Result<()> {
    let file = File::open(path).map_err(StoreError::io("opening a data file", path))?;
    let file_len = file
        .metadata()
        .map_err(StoreError::io("opening a data file", path))?
        .len();
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
        .map_err(|e| read_error(path, &e))?;
    check_layout(builder.metadata(), file_len).map_err(|e| StoreError::corrupt(path, e))?;
    let schema = builder.schema();
    for field in FlowField::ALL {
        if schema.field_with_name(field.column()).is_err() {
            return Err(StoreError::corrupt(
                path,
                format!("column {} is missing", field.column()),
            ));
        }
    }
    Ok(())
}

/// Checks that every column chunk and page the footer places lies inside the file and that
/// the pages' row numbers run in order: the readers trust these numbers (an offset past the
/// end, a negative size or rows out of order make them panic or overflow).
fn check_layout(metadata: &ParquetMetaData, file_len: u64) -> std::result::Result<(), String> {
    let inside = |start: i64, len: i64| {
        start >= 0
            && len >= 0
            && (start as u64)
                .checked_add(len as u64)
                .is_some_and(|end| end <= file_len)
    };
    let mut rows: i64 = 0;
    for (g, group) in metadata.row_groups().iter().enumerate() {
        let group_rows = group.num_rows();
        rows = rows
            .checked_add(group_rows)
            .filter(|_| group_rows >= 0)
            .ok_or_else(|| format!("row group {g} has {group_rows} rows"))?;
        for (c, column) in group.columns().iter().enumerate() {
            let start = column
                .dictionary_page_offset()
                .unwrap_or(column.data_page_offset());
            if !inside(start, column.compressed_size()) {
                return Err(format!(
                    "column chunk {c} of row group {g} lies outside the file"
                ));
            }
        }
        let Some(columns) = metadata.offset_index().and_then(|index| index.get(g)) else {
            continue;
        };
        for (c, column) in columns.iter().enumerate() {
            let mut first_row = 0;
            for (p, page) in column.page_locations().iter().enumerate() {
                let in_order = page.first_row_index >= first_row
                    && (page.first_row_index < group_rows || group_rows == 0)
                    && (p > 0 || page.first_row_index == 0);
                if !inside(page.offset, i64::from(page.compressed_page_size)) || !in_order {
                    return Err(format!(
                        "page {p} of column {c} in row group {g} is out of place"
                    ));
                }
                first_row = page.first_row_index;
            }
        }
    }
    if rows != metadata.file_metadata().num_rows() {
        return Err(format!(
            "the row groups hold {rows} rows, the footer says {}",
            metadata.file_metadata().num_rows()
        ));
    }
    Ok(())
}

/// The data-file names in `dir` (without temporary files).
pub(crate) fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(StoreError::io("listing data files", dir))? {
        let path = entry
            .map_err(StoreError::io("listing data files", dir))?
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".parquet") || name.ends_with(".parquet.tmp") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::encode::encode_flows;
    use crate::schema::record_schema;
    use crate::testutil::sample_flows;

    /// Flow logs ending at `times`, with record ids from `first` on, in the stored schema.
    fn ending_at(times: &[i64], first: u64) -> RecordBatch {
        let logs: Vec<_> = (0u64..)
            .zip(times)
            .map(|(i, &t)| crate::testutil::sample_flow(first + i, t))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let mut hits = crate::files::hit_dictionary::HitDictionary::open(dir.path()).unwrap();
        hits.attach_ids(&encode_flows(&logs, first).unwrap())
            .unwrap()
    }

    #[test]
    fn batches_in_time_order_are_kept_as_they_are_and_others_sorted() {
        let ordered = [
            ending_at(&[1, 2, 2], 0),
            ending_at(&[], 3),
            ending_at(&[2, 5], 3),
        ];
        let kept = sort_by_time(&ordered).unwrap();
        assert_eq!(kept, [ordered[0].clone(), ordered[2].clone()]);

        // Out of order only across the boundary between two batches.
        let unordered = [ending_at(&[1, 3], 0), ending_at(&[2, 4], 2)];
        let sorted = sort_by_time(&unordered).unwrap();
        assert_eq!(sorted.len(), 1);
        let times = sorted[0]
            .column(index(FlowField::EndTime))
            .as_primitive::<Int64Type>();
        assert_eq!(times.values().as_ref(), [1, 2, 3, 4]);
    }

    #[test]
    fn row_groups_cut_across_batches_and_read_back_whole() {
        let batches: Vec<RecordBatch> = [(0, 5), (5, 7), (12, 1)]
            .into_iter()
            .map(|(first, n)| encode_flows(&sample_flows(first, n, 1_000), first).unwrap())
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(4))
            .build();
        write_parquet(&path, record_schema(), &batches, properties).unwrap();

        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        let groups: Vec<i64> = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert_eq!(groups, [4, 4, 4, 1]);
        assert_eq!(reader.schema().as_ref(), record_schema().as_ref());
        let read: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let schema = record_schema();
        assert_eq!(
            concat_batches(&schema, &read).unwrap(),
            concat_batches(&schema, &batches).unwrap()
        );
    }
}
