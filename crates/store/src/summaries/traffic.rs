//! Traffic sums per group of flow logs: what the UI's groupings (namespace pair, name pair,
//! edge, service edge, action) return. Queries sum them from rows (`query/groupings.rs`);
//! the per-hour traffic rollups (`files/rollups.rs`) keep them per group of [`ROLLUP_KEY`],
//! which every grouping's columns are part of, so a grouping can be summed from either.

use crate::error::{Result, StoreError};
use crate::records::texts::Texts;
use crate::summaries::hash_grouping::Groups;
use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::UInt64Type;
use flowlens_model::{Action, FlowField};

/// The counters a grouping sums.
pub(crate) const TRAFFIC: [FlowField; 7] = [
    FlowField::NumFlows,
    FlowField::NumFlowsStarted,
    FlowField::NumFlowsCompleted,
    FlowField::PacketsIn,
    FlowField::PacketsOut,
    FlowField::BytesIn,
    FlowField::BytesOut,
];

/// The sums a grouping keeps per group: `records`, the [`TRAFFIC`] counters in their order,
/// then `num_flows` of allowed and of denied flow logs.
pub(crate) const GROUP_SUMS: usize = 1 + TRAFFIC.len() + 2;

pub(crate) type TrafficGroups = Groups<GROUP_SUMS>;

/// The columns a traffic rollup groups by: those of the finest grouping (the service edge),
/// then the reporter, which counting each connection once filters on (`query/plan.rs`).
pub(crate) const ROLLUP_KEY: [FlowField; 12] = [
    FlowField::SourceType,
    FlowField::SourceNamespace,
    FlowField::SourceNameAggr,
    FlowField::DestType,
    FlowField::DestNamespace,
    FlowField::DestNameAggr,
    FlowField::DestServiceNamespace,
    FlowField::DestServiceName,
    FlowField::Proto,
    FlowField::DestPort,
    FlowField::Action,
    FlowField::Reporter,
];

/// The columns of a traffic rollup holding the [`GROUP_SUMS`] sums, in their order; named
/// apart from the flow columns, so that a filter on a counter never reads a sum.
pub(crate) const SUM_COLUMNS: [&str; GROUP_SUMS] = [
    "sum_records",
    "sum_num_flows",
    "sum_num_flows_started",
    "sum_num_flows_completed",
    "sum_packets_in",
    "sum_packets_out",
    "sum_bytes_in",
    "sum_bytes_out",
    "sum_allowed_flows",
    "sum_denied_flows",
];

/// Adds flow-log rows (`batch`: the grouping columns, the [`TRAFFIC`] counters and
/// `action`) to `groups`, grouped by `fields`.
pub(crate) fn add_traffic(
    groups: &mut TrafficGroups,
    batch: &RecordBatch,
    fields: &[FlowField],
) -> Result<()> {
    groups.add_batch(batch, fields, row_sums(batch)?)
}

/// What each flow-log row of `batch` (the [`TRAFFIC`] counters and `action`) adds to its
/// group.
pub(crate) fn row_sums(batch: &RecordBatch) -> Result<impl Fn(usize) -> [u64; GROUP_SUMS] + '_> {
    let named = |f: FlowField| {
        batch
            .column_by_name(f.column())
            .ok_or_else(|| StoreError::InvalidRecord(format!("grouped rows lack {f}")))
    };
    let counters = TRAFFIC
        .iter()
        .map(|&f| {
            named(f)?
                .as_primitive_opt::<UInt64Type>()
                .ok_or_else(|| StoreError::InvalidRecord(format!("{f} is not a UInt64 counter")))
        })
        .collect::<Result<Vec<&UInt64Array>>>()?;
    let actions = named(FlowField::Action)?;
    let actions = Texts::of(actions.as_ref())
        .ok_or_else(|| StoreError::InvalidRecord("action is not text".into()))?;
    Ok(move |row: usize| {
        let mut sums = [0u64; GROUP_SUMS];
        sums[0] = 1;
        for (sum, counter) in sums[1..=TRAFFIC.len()].iter_mut().zip(&counters) {
            *sum = if counter.is_valid(row) {
                counter.value(row)
            } else {
                0
            };
        }
        let flows = sums[1];
        match actions.get(row).and_then(Action::parse) {
            Some(Action::Allow) => sums[GROUP_SUMS - 2] = flows,
            Some(Action::Deny) => sums[GROUP_SUMS - 1] = flows,
            None => {}
        }
        sums
    })
}

/// Adds `b` to `a`.
pub(crate) fn sum_into(a: &mut [u64; GROUP_SUMS], b: &[u64; GROUP_SUMS]) {
    for (a, b) in a.iter_mut().zip(b) {
        *a = a.wrapping_add(*b);
    }
}
