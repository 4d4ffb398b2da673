//! Appends through the write-ahead log into the in-memory buffer, and flushes of the buffer
//! into a data file.
//!
//! An append is durable when its WAL frame is fsynced, and queryable at once from the
//! buffer. A flush freezes the buffer (new appends start a new WAL segment), writes the frozen
//! batches as one time-sorted data file, lists it in the manifest with how far the WAL is now
//! in Parquet, and then drops the frozen batches and the WAL segments they came from.

use crate::error::Result;
use crate::files::data_file::write_sorted;
use crate::files::manifest;
use crate::files::parquet::sort_by_time;
use crate::files::rollups;
use crate::fsutil::lock;
use crate::records::encode::FlowBatch;
use crate::records::numbered;
use crate::state::{Buffered, DataFile, Inner, blocking};
use crate::types::AppendReceipt;
use crate::write::bulk::BulkLoad;
use crate::write::{wal, with_hit_ids};
use datafusion::arrow::array::RecordBatch;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Appends `batch`: through the WAL into the buffer, or as a data file of its own when
/// `as_file` is set or the batch is at least `direct_write_rows` long. Flushes before
/// returning when the buffer holds four times `flush_rows`, and in the background (when
/// allowed) from `flush_rows` on.
pub(crate) async fn append(
    inner: &Arc<Inner>,
    batch: FlowBatch,
    as_file: bool,
) -> Result<AppendReceipt> {
    if batch.is_empty() {
        let next = lock(&inner.log).next_record_id;
        return Ok(AppendReceipt {
            records: 0,
            first_record_id: next,
            sequence: 0,
        });
    }
    let receipt = {
        let inner = inner.clone();
        blocking(move || append_blocking(&inner, batch, as_file)).await?
    };
    let buffered = lock(&inner.state).buffered_rows();
    if buffered >= inner.options.flush_rows.max(1).saturating_mul(4) {
        flush(inner).await?;
    } else {
        maybe_flush(inner);
    }
    Ok(receipt)
}

/// [`append`] on the calling thread, without the flushes.
pub(crate) fn append_blocking(
    inner: &Arc<Inner>,
    batch: FlowBatch,
    as_file: bool,
) -> Result<AppendReceipt> {
    let records = batch.len();
    let parts = with_hit_ids(inner, batch)?;
    if as_file || records >= inner.options.direct_write_rows.max(1) {
        return write_directly(inner, parts);
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

/// Writes everything buffered to one data file.
pub(crate) async fn flush(inner: &Arc<Inner>) -> Result<()> {
    let inner = inner.clone();
    blocking(move || flush_blocking(&inner).map(|_| ())).await
}

/// [`flush`] on the calling thread. Returns the rows flushed.
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
    let layout = &inner.layout;
    let sorted = sort_by_time(&frozen)?;
    let meta = write_sorted(layout, manifest.next_file_id, &sorted)?;
    manifest.next_file_id += 1;
    manifest.flushed_seq = frozen_seq;
    manifest.next_record_id = manifest.next_record_id.max(meta.max_record_id + 1);
    manifest.files.push(meta.clone());
    if let Err(e) = manifest::save(&inner.dir, &manifest) {
        let _ = std::fs::remove_file(layout.data_dir.join(&meta.name));
        rollups::remove(&layout.rollup_dir, &meta.name);
        return Err(e);
    }
    {
        let mut st = lock(&inner.state);
        st.manifest = manifest;
        st.files.push(DataFile::new(layout, meta));
        st.frozen.clear();
    }
    let mut log = lock(&inner.log);
    log.wal.remove_older_segments()?;
    let bytes = log.wal.bytes();
    lock(&inner.state).wal_bytes = bytes;
    Ok(rows)
}

/// Starts a flush in the background when the buffer holds `flush_rows` or more and none is
/// running (and background flushes are on).
fn maybe_flush(inner: &Arc<Inner>) -> Option<tokio::task::JoinHandle<()>> {
    let buffered = lock(&inner.state).buffered_rows();
    let threshold = inner.options.flush_rows.max(1);
    if !inner.options.background_flush || buffered < threshold {
        return None;
    }
    if inner.flushing.swap(true, Ordering::AcqRel) {
        return None;
    }
    let inner = inner.clone();
    Some(tokio::task::spawn_blocking(move || {
        if let Err(e) = flush_blocking(&inner) {
            tracing::error!("background flush failed (data stays in the WAL): {e}");
        }
        inner.flushing.store(false, Ordering::Release);
    }))
}
