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
use crate::fsutil::{sync_dir, temp_path};
use crate::manifest::FileMeta;
use crate::schema::{Field, flow_schema, index};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::{Int64Type, SchemaRef, UInt64Type};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use std::fs::File;
use std::path::{Path, PathBuf};

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

fn properties(settings: WriteSettings, meta: &FileMeta) -> Result<WriterProperties> {
    let level = ZstdLevel::try_new(settings.zstd_level)
        .map_err(|e| StoreError::invalid(format!("zstd level: {e}")))?;
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_dictionary_enabled(true)
        .set_max_row_group_row_count(Some(settings.row_group_rows.max(1)))
        .set_key_value_metadata(Some(vec![
            KeyValue::new("flowlens.min_end_time".into(), meta.min_time.to_string()),
            KeyValue::new("flowlens.max_end_time".into(), meta.max_time.to_string()),
            KeyValue::new(
                "flowlens.min_record_id".into(),
                meta.min_record_id.to_string(),
            ),
            KeyValue::new(
                "flowlens.max_record_id".into(),
                meta.max_record_id.to_string(),
            ),
        ]));
    builder = builder.set_statistics_enabled(EnabledStatistics::None);
    for field in flow_schema().fields() {
        if field.data_type().is_primitive() {
            builder = builder.set_column_statistics_enabled(
                ColumnPath::from(field.name().as_str()),
                EnabledStatistics::Page,
            );
        }
    }
    for field in [Field::StartTime, Field::EndTime, Field::RecordId] {
        let path = ColumnPath::from(field.name());
        builder = builder
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
    }
    Ok(builder.build())
}

/// Concatenates `batches` and sorts the rows by (`end_time`, `record_id`).
pub(crate) fn sort_by_time(batches: &[RecordBatch]) -> Result<RecordBatch> {
    let batch = concat_batches(&flow_schema(), batches)?;
    if is_in_time_order(&batch) {
        // Logs usually arrive in time order; sorting would copy every column once more.
        return Ok(batch);
    }
    let columns = [Field::EndTime, Field::RecordId].map(|f| SortColumn {
        values: batch.column(index(f)).clone(),
        options: None,
    });
    let indices = lexsort_to_indices(&columns, None)?;
    Ok(take_record_batch(&batch, &indices)?)
}

/// Whether the rows are sorted by (end time, record id) already.
fn is_in_time_order(batch: &RecordBatch) -> bool {
    let (Some(times), Some(ids)) = (
        batch
            .column(index(Field::EndTime))
            .as_primitive_opt::<Int64Type>(),
        batch
            .column(index(Field::RecordId))
            .as_primitive_opt::<UInt64Type>(),
    ) else {
        return false;
    };
    let (times, ids) = (times.values(), ids.values());
    (1..times.len()).all(|i| (times[i - 1], ids[i - 1]) <= (times[i], ids[i]))
}

/// Time and id bounds of a sorted, non-empty batch.
fn describe(name: &str, batch: &RecordBatch) -> Result<FileMeta> {
    let bad = || StoreError::InvalidRecord("batch lacks end_time or record_id".into());
    let times = batch
        .column(index(Field::EndTime))
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(bad)?;
    let ids = batch
        .column(index(Field::RecordId))
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(bad)?;
    let rows = batch.num_rows();
    if rows == 0 {
        return Err(StoreError::InvalidRecord("no rows to write".into()));
    }
    let (min_id, max_id) = ids
        .values()
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    Ok(FileMeta {
        name: name.to_string(),
        rows: rows as u64,
        bytes: 0,
        min_time: times.value(0),
        max_time: times.value(rows - 1),
        min_record_id: min_id,
        max_record_id: max_id,
        rollups: false,
        tuple_rollup: false,
    })
}

/// Writes `batch` (already sorted by time) as `dir/<file name>` durably and returns its
/// description. The name carries the file id and its time span.
pub(crate) fn write_sorted(
    dir: &Path,
    file_id: u64,
    batch: &RecordBatch,
    settings: WriteSettings,
) -> Result<FileMeta> {
    let probe = describe("", batch)?;
    let name = format!(
        "flows-{file_id:08}-{}-{}.parquet",
        probe.min_time, probe.max_time
    );
    let mut meta = describe(&name, batch)?;
    let properties = properties(settings, &meta)?;
    meta.bytes = write_parquet(
        &dir.join(&name),
        flow_schema(),
        std::slice::from_ref(batch),
        properties,
    )?;
    sync_dir(dir)?;
    Ok(meta)
}

/// Writes `batches` as the Parquet file `path` under a temporary name, fsyncs it and renames
/// it into place (the caller syncs the directory). Returns its size.
pub(crate) fn write_parquet(
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
    properties: WriterProperties,
) -> Result<u64> {
    let tmp = temp_path(path);
    let file = File::create(&tmp).map_err(StoreError::io("creating a Parquet file", &tmp))?;
    let mut writer =
        ArrowWriter::try_new(file, schema, Some(properties)).map_err(parquet_err(&tmp))?;
    for batch in batches {
        writer.write(batch).map_err(parquet_err(&tmp))?;
    }
    let file = writer.into_inner().map_err(parquet_err(&tmp))?;
    file.sync_all()
        .map_err(StoreError::io("syncing a Parquet file", &tmp))?;
    let bytes = file
        .metadata()
        .map_err(StoreError::io("sizing a Parquet file", &tmp))?
        .len();
    drop(file);
    std::fs::rename(&tmp, path)
        .map_err(StoreError::io("renaming a Parquet file into place", path))?;
    Ok(bytes)
}

/// Reads a whole data file.
pub(crate) fn read_all(path: &Path) -> Result<Vec<RecordBatch>> {
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
            crate::decode::conform_to(batch, &flow_schema())
                .map_err(|e| StoreError::corrupt(path, e.to_string()))?,
        );
    }
    Ok(out)
}

/// Reads a whole data file without keeping it, to find damage anywhere in it.
pub(crate) fn scan(path: &Path) -> Result<u64> {
    let file = File::open(path).map_err(StoreError::io("opening a data file", path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| StoreError::corrupt(path, e.to_string()))?
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| StoreError::corrupt(path, e.to_string()))?;
    let mut rows = 0;
    for batch in reader {
        let batch = batch.map_err(|e| StoreError::corrupt(path, e.to_string()))?;
        rows += crate::decode::conform_to(batch, &flow_schema())
            .map_err(|e| StoreError::corrupt(path, e.to_string()))?
            .num_rows() as u64;
    }
    Ok(rows)
}

/// Checks that a data file has a readable footer with the stored schema's columns.
pub(crate) fn check(path: &Path) -> Result<()> {
    let file = File::open(path).map_err(StoreError::io("opening a data file", path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| StoreError::corrupt(path, e.to_string()))?;
    let schema = builder.schema();
    for field in Field::ALL {
        if schema.field_with_name(field.name()).is_err() {
            return Err(StoreError::corrupt(
                path,
                format!("column {field} is missing"),
            ));
        }
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
