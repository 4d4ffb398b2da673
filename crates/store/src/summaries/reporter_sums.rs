//! Per reporter and policy-hit id, the `num_flows` of the flow logs whose enforced trace
//! holds the id and of those whose pending trace does: what the Policy Board's numbers are
//! made of (`query/policy_metrics.rs`), summed from rows or kept per hour in the hit rollups.

use crate::error::{Result, StoreError};
use crate::records::texts::Texts;
use crate::schema::{ENFORCED_IDS, PENDING_IDS};
use crate::summaries::hit_sums::IdList;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::UInt64Type;
use flowlens_model::FlowField;

/// Per hit id: `num_flows` of the flow logs whose enforced trace holds it, and of those
/// whose pending trace does.
pub(crate) type Sums = Vec<[u64; 2]>;

/// [`Sums`] of `reporter=src` flow logs, then of `reporter=dst` ones.
pub(crate) type ReporterSums = [Sums; 2];

/// Adds the rows of `batch` (`num_flows`, `reporter` and both id lists) to `sums`.
pub(crate) fn add_reporter_sums(batch: &RecordBatch, sums: &mut ReporterSums) -> Result<()> {
    let flows = batch
        .column_by_name(FlowField::NumFlows.column())
        .and_then(|c| c.as_primitive_opt::<UInt64Type>())
        .ok_or_else(|| StoreError::invalid_record("num_flows is not UInt64"))?
        .values();
    let reporters = batch
        .column_by_name(FlowField::Reporter.column())
        .and_then(|c| Texts::of(c.as_ref()))
        .ok_or_else(|| StoreError::invalid_record("reporter is not text"))?;
    let (enforced, pending) = (
        IdList::of(batch, ENFORCED_IDS)?,
        IdList::of(batch, PENDING_IDS)?,
    );
    for (row, &f) in flows.iter().enumerate() {
        let sums = match reporters.get(row) {
            Some("src") => &mut sums[0],
            Some("dst") => &mut sums[1],
            other => {
                return Err(StoreError::invalid_record(format!(
                    "reporter {other:?} is neither src nor dst"
                )));
            }
        };
        let enforced_ids = enforced.row(row).unwrap_or_default();
        for &id in enforced_ids {
            slot(sums, id)[0] += f;
        }
        // Null pending ids: the pending trace is the enforced one.
        for &id in pending.row(row).unwrap_or(enforced_ids) {
            slot(sums, id)[1] += f;
        }
    }
    Ok(())
}

pub(crate) fn slot(sums: &mut Sums, id: u32) -> &mut [u64; 2] {
    let i = id as usize;
    if i >= sums.len() {
        sums.resize(i + 1, [0; 2]);
    }
    &mut sums[i]
}

/// Adds `more` to `total`.
pub(crate) fn add_reporter_totals(total: &mut ReporterSums, more: &ReporterSums) {
    for (total, more) in total.iter_mut().zip(more) {
        if more.len() > total.len() {
            total.resize(more.len(), [0; 2]);
        }
        for (t, m) in total.iter_mut().zip(more) {
            t[0] += m[0];
            t[1] += m[1];
        }
    }
}
