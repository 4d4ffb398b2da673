//! Read marks (how far each input file is stored) next to the rows read up to them.
//!
//! ClickHouse has no transaction over two tables, so a mark is written *before* the rows it
//! stands for, naming their record ids, and a mark counts only once all of those rows are
//! stored. An append cut short leaves a mark whose rows are missing; the input's previous
//! mark then stands, and reading resumes there: nothing skipped, nothing stored twice (the
//! rows of one append are one insert block, stored together or not at all).
//!
//! Retention drops rows that marks stand for; before it does, each input's standing mark is
//! written again with no rows to check ([`confirm_standing`]), so that it keeps counting
//! once its rows are gone.

use crate::schema::{FLOWS, READ_MARKS};
use crate::store::ClickHouseStore;
use flowlens_store::{ReadMark, Result};
use std::collections::BTreeMap;

#[derive(clickhouse::Row, serde::Serialize, serde::Deserialize, Debug, Clone)]
struct MarkRow {
    input: String,
    device: u64,
    inode: u64,
    read_offset: u64,
    lines: u64,
    first_record_id: u64,
    records: u64,
    min_end_time: i64,
    max_end_time: i64,
}

/// Records `marks` for the rows `first .. first + records`, whose `end_time`s lie in
/// `[min_time, max_time]`.
pub(crate) async fn store_marks(
    store: &ClickHouseStore,
    marks: &[ReadMark],
    first: u64,
    records: usize,
    min_time: i64,
    max_time: i64,
) -> Result<()> {
    let rows: Vec<MarkRow> = marks
        .iter()
        .map(|mark| MarkRow {
            input: mark.input.clone(),
            device: mark.device,
            inode: mark.inode,
            read_offset: mark.offset,
            lines: mark.lines,
            first_record_id: first,
            records: records as u64,
            min_end_time: min_time,
            max_end_time: max_time,
        })
        .collect();
    insert(store, &rows, "storing read marks").await
}

/// Writes `rows` in one insert.
async fn insert(store: &ClickHouseStore, rows: &[MarkRow], doing: &str) -> Result<()> {
    let mut insert = store
        .inner
        .client
        .insert::<MarkRow>(READ_MARKS)
        .await
        .map_err(|e| store.failed(doing, e))?;
    for row in rows {
        insert
            .write(row)
            .await
            .map_err(|e| store.failed(doing, e))?;
    }
    insert.end().await.map_err(|e| store.failed(doing, e))
}

/// Each input's newest mark whose rows are all stored, by input name.
pub(crate) async fn read_marks(store: &ClickHouseStore) -> Result<Vec<ReadMark>> {
    Ok(standing(store)
        .await?
        .into_iter()
        .map(|row| ReadMark {
            input: row.input,
            device: row.device,
            inode: row.inode,
            offset: row.read_offset,
            lines: row.lines,
        })
        .collect())
}

/// Writes each input's standing mark again with no rows to check (same record ids, so it
/// stays the newest), for retention to drop its rows.
pub(crate) async fn confirm_standing(store: &ClickHouseStore) -> Result<()> {
    let confirm: Vec<MarkRow> = standing(store)
        .await?
        .into_iter()
        .filter(|row| row.records > 0)
        .map(|row| MarkRow { records: 0, ..row })
        .collect();
    if confirm.is_empty() {
        return Ok(());
    }
    insert(store, &confirm, "confirming read marks").await
}

/// Each input's newest mark whose rows are all stored.
async fn standing(store: &ClickHouseStore) -> Result<Vec<MarkRow>> {
    let rows: Vec<MarkRow> = store
        .fetch_all(
            "reading read marks",
            &format!(
                "SELECT input, device, inode, read_offset, lines, first_record_id, records, \
                 min_end_time, max_end_time FROM {READ_MARKS} \
                 ORDER BY input, first_record_id DESC"
            ),
        )
        .await?;
    let mut by_input: BTreeMap<&str, Vec<&MarkRow>> = BTreeMap::new();
    for row in &rows {
        by_input.entry(&row.input).or_default().push(row);
    }
    let mut marks = Vec::new();
    for candidates in by_input.values() {
        for row in candidates {
            if rows_stored(store, row).await? {
                marks.push((*row).clone());
                break;
            }
        }
    }
    Ok(marks)
}

/// Whether every row a mark was written for is stored.
async fn rows_stored(store: &ClickHouseStore, mark: &MarkRow) -> Result<bool> {
    if mark.records == 0 {
        return Ok(true);
    }
    let stored: u64 = store
        .fetch_one(
            "checking a read mark's rows",
            &format!(
                "SELECT count() FROM {FLOWS} WHERE end_time >= {} AND end_time <= {} \
                 AND record_id >= {} AND record_id < {}",
                mark.min_end_time,
                mark.max_end_time,
                mark.first_record_id,
                mark.first_record_id.saturating_add(mark.records)
            ),
        )
        .await?;
    Ok(stored >= mark.records)
}
