//! Power cuts: every state a power cut could leave while the store appends, flushes, writes
//! data files of their own and compacts (see `fsutil::power_cut`), opened as the store's
//! directory, holds every acknowledged append exactly once, and the append in flight whole
//! or not at all.

use crate::fsutil::power_cut;
use crate::testutil::sample_flow;
use crate::{EmbeddedOptions, EmbeddedStore, FlowBatch, ReadMark, Store};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use std::collections::BTreeMap;

const ROWS: u64 = 40;

/// Batch `b`: ROWS flows whose process ids are `b * ROWS ..`, read up to `b + 1` of an input.
fn batch(b: u64) -> FlowBatch {
    let logs: Vec<_> = (0..ROWS)
        .map(|i| sample_flow(b * ROWS + i, 1_000 + (b * ROWS + i) as i64))
        .collect();
    let mut batch = FlowBatch::from_logs(&logs).unwrap();
    batch.mark(ReadMark {
        input: "/input".into(),
        device: 1,
        inode: 1,
        offset: b + 1,
        lines: b + 1,
    });
    batch
}

/// Rows per batch found in the store at `dir`, and its read mark.
async fn found(dir: &std::path::Path) -> (BTreeMap<u64, u64>, Option<u64>) {
    let options = EmbeddedOptions {
        background_flush: false,
        ..EmbeddedOptions::default()
    };
    let store = EmbeddedStore::open(dir, options).unwrap();
    let mut rows = BTreeMap::new();
    for b in store.sql("SELECT process_id FROM flows").await.unwrap() {
        for id in b.column(0).as_primitive::<Int64Type>().iter().flatten() {
            *rows.entry(id as u64 / ROWS).or_default() += 1;
        }
    }
    let mark = store.read_marks().first().map(|m| m.offset);
    (rows, mark)
}

#[tokio::test]
async fn a_power_cut_at_any_sync_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    power_cut::record(dir.path());
    let options = EmbeddedOptions {
        flush_rows: 3 * ROWS as usize,
        background_flush: false,
        compaction_target_rows: 16 * ROWS as usize,
        ..EmbeddedOptions::default()
    };
    let store = EmbeddedStore::open(dir.path(), options).unwrap();
    let batches = 24;
    for b in 0..batches {
        if b % 5 == 4 {
            store.append_as_file(batch(b)).await.unwrap();
        } else {
            store.append_batch(batch(b)).await.unwrap();
        }
        power_cut::acknowledged(dir.path(), b + 1);
        match b % 8 {
            2 => store.flush().await.unwrap(),
            7 => {
                store.compact().await.unwrap();
            }
            _ => {}
        }
    }
    drop(store);
    let images = power_cut::images(dir.path());
    assert!(
        images.len() > 3 * batches as usize,
        "{} syncs",
        images.len()
    );
    for (n, (image, acknowledged)) in images.iter().enumerate() {
        let cut = tempfile::tempdir().unwrap();
        image.write_to(cut.path());
        let (rows, mark) = found(cut.path()).await;
        let at = format!(
            "power cut {n} of {}, after {acknowledged} acknowledged appends",
            images.len()
        );
        for b in 0..*acknowledged {
            assert_eq!(rows.get(&b), Some(&ROWS), "{at}: batch {b}");
        }
        // The append in flight is whole or absent; nothing later is there.
        let in_flight = rows.get(acknowledged).copied();
        assert!(matches!(in_flight, None | Some(ROWS)), "{at}: torn append");
        let stored = acknowledged + u64::from(in_flight.is_some());
        assert_eq!(rows.len() as u64, stored, "{at}: {rows:?}");
        assert_eq!(mark, (stored > 0).then_some(stored), "{at}: read mark");
    }
}
