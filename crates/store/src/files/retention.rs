//! Retention: data older than a maximum age dropped (files wholly older removed, files
//! straddling the limit rewritten), then the oldest files beyond a total size. Files are
//! replaced in the crash-safe order of [`replace`](super::replace).

use crate::error::Result;
use crate::files::manifest::FileMeta;
use crate::files::parquet::read_all;
use crate::files::replace::{swap_files, write_new};
use crate::files::rollups;
use crate::fsutil::lock;
use crate::schema::index;
use crate::state::{DataFile, Inner};
use crate::types::RetentionReport;
use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::Int64Type;
use flowlens_model::FlowField;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// How long and how much to keep. Unset limits keep everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Drop records whose `end_time` is older than this (relative to `now`).
    pub max_age: Option<Duration>,
    /// Drop the oldest files until the Parquet files take at most this many bytes.
    pub max_bytes: Option<u64>,
}

fn keep_newer(batch: &RecordBatch, cutoff: i64) -> Result<RecordBatch> {
    let times = batch
        .column(index(FlowField::EndTime))
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
                let kept: Vec<RecordBatch> = read_all(&f.path)?
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
            let _ = std::fs::remove_file(inner.layout.data_dir.join(&meta.name));
            rollups::remove(&inner.layout.rollup_dir, &meta.name);
        }
    }
    if removed.is_empty() && added.is_empty() {
        return Ok(report);
    }
    swap_files(inner, &removed, added)?;
    Ok(report)
}
