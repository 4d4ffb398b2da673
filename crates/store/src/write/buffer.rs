//! Appends through the write-ahead log into the in-memory buffer, and flushes of the buffer
//! into a data file.
//!
//! An append is durable when its WAL frame is fsynced, and queryable at once from the
//! buffer. A flush freezes the buffer (new appends start a new WAL segment), writes the frozen
//! batches as one time-sorted data file, lists it in the manifest with how far the WAL is now
//! in Parquet, and then drops the frozen batches and the WAL segments they came from.

use crate::error::{Result, StoreError};
use crate::files::data_file::write_sorted;
use crate::files::manifest;
use crate::files::parquet::sort_by_time;
use crate::files::replace::crash_here;
use crate::files::rollups;
use crate::fsutil::lock;
use crate::records::encode::FlowBatch;
use crate::records::numbered;
use crate::state::{Buffered, CrashPoint, DataFile, Inner, blocking};
use crate::types::{AppendReceipt, ReadMark, merge_marks};
use crate::write::bulk::BulkLoad;
use crate::write::{wal, with_hit_ids};
use datafusion::arrow::array::RecordBatch;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Appends `batch`: through the WAL into the buffer, or as a data file of its own when
/// `as_file` is set or the batch is at least `direct_write_rows` long. Flushes before
/// returning when the buffer holds four times `flush_rows`, and in the background (when
/// allowed) from `flush_rows` on.
///
/// Once the WAL frame is written the append succeeds whatever a flush does next (the rows
/// are durable; an error would make a caller retry and store them twice). While flushes keep
/// failing the buffer stops growing at [`BUFFER_LIMIT`] times `flush_rows`: appends are then
/// refused before anything is written.
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
    make_room(inner).await?;
    let receipt = {
        let inner = inner.clone();
        blocking(move || append_blocking(&inner, batch, as_file)).await?
    };
    let buffered = lock(&inner.state).buffered_rows();
    if buffered >= inner.options.flush_rows.max(1).saturating_mul(4) {
        if let Err(e) = flush(inner).await {
            tracing::warn!("flush failed (the rows stay in the WAL and are flushed later): {e}");
        }
    } else {
        maybe_flush(inner);
    }
    Ok(receipt)
}

/// How many times `flush_rows` the buffer may hold before appends wait for a flush.
pub(crate) const BUFFER_LIMIT: usize = 16;

/// Flushes a full buffer first; refuses the append when that fails.
async fn make_room(inner: &Arc<Inner>) -> Result<()> {
    let limit = inner.options.flush_rows.max(1).saturating_mul(BUFFER_LIMIT);
    let buffered = lock(&inner.state).buffered_rows();
    if buffered < limit {
        return Ok(());
    }
    flush(inner).await.map_err(|e| StoreError::Overloaded {
        buffered,
        reason: e.to_string(),
    })
}

/// [`append`] on the calling thread, without the flushes.
pub(crate) fn append_blocking(
    inner: &Arc<Inner>,
    batch: FlowBatch,
    as_file: bool,
) -> Result<AppendReceipt> {
    let records = batch.len();
    let (parts, marks) = batch.into_parts();
    let parts = with_hit_ids(inner, parts)?;
    if as_file || records >= inner.options.direct_write_rows.max(1) {
        if !marks.is_empty() {
            // The buffer's marks are older: stored first, so these replace them.
            flush_blocking(inner)?;
        }
        return write_directly(inner, parts, marks);
    }
    let mut log = lock(&inner.log);
    let first_record_id = log.next_record_id;
    let seq = log.next_seq;
    let parts = numbered(parts, first_record_id)?;
    let payload = wal::encode_batches(&parts, &marks)?;
    log.wal.append(seq, first_record_id, &payload)?;
    log.next_seq += 1;
    log.next_record_id += records as u64;
    let mut st = lock(&inner.state);
    st.active
        .extend(parts.into_iter().filter_map(Buffered::new));
    merge_marks(&mut st.active_marks, marks);
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
fn write_directly(
    inner: &Arc<Inner>,
    parts: Vec<RecordBatch>,
    marks: Vec<ReadMark>,
) -> Result<AppendReceipt> {
    let mut load = BulkLoad::new(inner.clone(), usize::MAX);
    let receipt = load.append_with_ids(parts, marks)?;
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
            let marks = std::mem::take(&mut st.active_marks);
            merge_marks(&mut st.frozen_marks, marks);
            st.frozen_seq = next_seq - 1;
            st.wal_bytes = log.wal.bytes();
        }
    }
    let (frozen, frozen_seq, mut manifest) = {
        let st = lock(&inner.state);
        let frozen: Vec<RecordBatch> = st.frozen.iter().map(|b| b.batch.clone()).collect();
        let mut manifest = st.manifest.clone();
        merge_marks(&mut manifest.read_marks, st.frozen_marks.iter().cloned());
        (frozen, st.frozen_seq, manifest)
    };
    let rows: usize = frozen.iter().map(RecordBatch::num_rows).sum();
    if rows == 0 {
        let mut st = lock(&inner.state);
        st.frozen.clear();
        return Ok(0);
    }
    let layout = &inner.layout;
    if crash_here(inner, CrashPoint::FlushFails) {
        return Err(StoreError::io("writing a data file", &layout.data_dir)(
            std::io::Error::new(std::io::ErrorKind::StorageFull, "injected: no space left"),
        ));
    }
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
        st.frozen_marks.clear();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::sample_flows;
    use crate::{EmbeddedOptions, EmbeddedStore, Store};

    fn open(dir: &std::path::Path) -> EmbeddedStore {
        let options = EmbeddedOptions {
            background_flush: false,
            flush_rows: 10,
            ..EmbeddedOptions::default()
        };
        EmbeddedStore::open(dir, options).unwrap()
    }

    fn batch(first: u64, n: u64) -> FlowBatch {
        FlowBatch::from_logs(&sample_flows(first, n, 1000)).unwrap()
    }

    fn fail_flushes(store: &EmbeddedStore, fail: bool) {
        *lock(&store.inner.crash_at) = fail.then_some(CrashPoint::FlushFails);
    }

    async fn stored_rows(store: &EmbeddedStore) -> u64 {
        store.stats().await.unwrap().records
    }

    #[tokio::test]
    async fn an_append_succeeds_when_only_the_flush_after_it_fails() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        fail_flushes(&store, true);
        // 50 rows is over four times flush_rows: the append flushes before it returns.
        store.append_batch(batch(0, 50)).await.unwrap();
        fail_flushes(&store, false);
        store.flush().await.unwrap();
        drop(store);
        let store = open(dir.path());
        assert_eq!(stored_rows(&store).await, 50);
    }

    #[tokio::test]
    async fn appends_are_refused_while_flushes_fail_and_the_buffer_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        fail_flushes(&store, true);
        let limit = 10 * BUFFER_LIMIT;
        let mut acknowledged = 0;
        let refused = loop {
            match store.append_batch(batch(acknowledged, 50)).await {
                Ok(_) => acknowledged += 50,
                Err(e) => break e,
            }
            assert!(
                acknowledged <= limit as u64 + 50,
                "the buffer keeps growing"
            );
        };
        assert!(
            matches!(refused, StoreError::Overloaded { .. }),
            "{refused}"
        );
        let wal_bytes = lock(&store.inner.state).wal_bytes;
        assert!(store.append_batch(batch(acknowledged, 50)).await.is_err());
        assert_eq!(
            lock(&store.inner.state).wal_bytes,
            wal_bytes,
            "nothing written"
        );
        // Once flushes work again, appends go on.
        fail_flushes(&store, false);
        store.append_batch(batch(acknowledged, 50)).await.unwrap();
        acknowledged += 50;
        drop(store);
        let store = open(dir.path());
        assert_eq!(stored_rows(&store).await, acknowledged);
    }
}
