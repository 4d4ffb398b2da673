//! Sums per policy-hit id: for every hit id, the flows whose enforced trace holds it, and
//! `num_flows` of the flows whose pending trace does. Rollups keep them per hour; policy
//! queries add them up over rows. Ids instead of hit strings make these sums several times
//! cheaper than unnesting and grouping the strings.

use crate::error::{Result, StoreError};
use crate::schema::{ENFORCED_IDS, PENDING_IDS};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{UInt32Type, UInt64Type};
use flowlens_model::FlowField;

/// Sums per hit id over the flows whose enforced trace holds the hit, and `num_flows` per
/// hit id of the pending trace. Packets and bytes are not summed here: decoding those
/// high-entropy columns would double the cost of the Policy Board's 24-hour view.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IdSums {
    pub records: u64,
    pub num_flows: u64,
    pub num_flows_started: u64,
    pub num_flows_completed: u64,
    pub allowed_flows: u64,
    pub denied_flows: u64,
    pub pending_num_flows: u64,
}

impl IdSums {
    /// FlowField names, in the order of [`IdSums::values`].
    pub const NAMES: [&'static str; 7] = [
        "records",
        "num_flows",
        "num_flows_started",
        "num_flows_completed",
        "allowed_flows",
        "denied_flows",
        "pending_num_flows",
    ];

    pub fn values(&self) -> [u64; 7] {
        [
            self.records,
            self.num_flows,
            self.num_flows_started,
            self.num_flows_completed,
            self.allowed_flows,
            self.denied_flows,
            self.pending_num_flows,
        ]
    }

    pub fn from_values(v: [u64; 7]) -> IdSums {
        IdSums {
            records: v[0],
            num_flows: v[1],
            num_flows_started: v[2],
            num_flows_completed: v[3],
            allowed_flows: v[4],
            denied_flows: v[5],
            pending_num_flows: v[6],
        }
    }

    pub fn add(&mut self, other: &IdSums) {
        self.records += other.records;
        self.num_flows += other.num_flows;
        self.num_flows_started += other.num_flows_started;
        self.num_flows_completed += other.num_flows_completed;
        self.allowed_flows += other.allowed_flows;
        self.denied_flows += other.denied_flows;
        self.pending_num_flows += other.pending_num_flows;
    }
}

/// The sums of hit `id`, growing `sums` to hold it.
pub(crate) fn slot(sums: &mut Vec<IdSums>, id: u32) -> &mut IdSums {
    let i = id as usize;
    if i >= sums.len() {
        sums.resize(i + 1, IdSums::default());
    }
    &mut sums[i]
}

/// A column of id lists: its offsets, ids and null rows.
pub(crate) struct IdList<'a> {
    offsets: &'a [i32],
    ids: &'a [u32],
    nulls: Option<&'a NullBuffer>,
}

impl<'a> IdList<'a> {
    pub fn of(batch: &'a RecordBatch, name: &str) -> Result<IdList<'a>> {
        let bad = || StoreError::InvalidRecord(format!("{name} is not a list of ids"));
        let list = batch
            .column_by_name(name)
            .and_then(|c| c.as_list_opt::<i32>())
            .ok_or_else(bad)?;
        let ids = list
            .values()
            .as_primitive_opt::<UInt32Type>()
            .ok_or_else(bad)?;
        Ok(IdList {
            offsets: list.value_offsets(),
            ids: ids.values(),
            nulls: list.nulls(),
        })
    }

    /// Row `row`'s ids; `None` when the row is null.
    pub fn row(&self, row: usize) -> Option<&'a [u32]> {
        if self.nulls.is_some_and(|n| n.is_null(row)) {
            return None;
        }
        Some(&self.ids[self.offsets[row] as usize..self.offsets[row + 1] as usize])
    }
}
pub(crate) const ID_SUM_COLUMNS: [FlowField; 3] = [
    FlowField::NumFlows,
    FlowField::NumFlowsStarted,
    FlowField::NumFlowsCompleted,
];

/// Adds the rows of `batch` (with at least the [`ID_SUM_COLUMNS`], `action` and both id lists) to `sums`.
pub(crate) fn add_hit_sums(batch: &RecordBatch, sums: &mut Vec<IdSums>) -> Result<()> {
    let counter = |f: FlowField| -> Result<&[u64]> {
        batch
            .column_by_name(f.column())
            .and_then(|c| c.as_primitive_opt::<UInt64Type>())
            .map(|a| a.values().as_ref())
            .ok_or_else(|| StoreError::InvalidRecord(format!("{f} is not UInt64")))
    };
    let [flows, started, completed] = ID_SUM_COLUMNS.map(counter);
    let (flows, started, completed) = (flows?, started?, completed?);
    let action = batch
        .column_by_name(FlowField::Action.column())
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| StoreError::InvalidRecord("action is not text".into()))?;
    let (enforced, pending) = (
        IdList::of(batch, ENFORCED_IDS)?,
        IdList::of(batch, PENDING_IDS)?,
    );
    for row in 0..batch.num_rows() {
        let f = flows[row];
        let (allowed, denied) = match action.value(row) {
            "allow" => (f, 0),
            "deny" => (0, f),
            _ => (0, 0),
        };
        let add = IdSums {
            records: 1,
            num_flows: f,
            num_flows_started: started[row],
            num_flows_completed: completed[row],
            allowed_flows: allowed,
            denied_flows: denied,
            pending_num_flows: 0,
        };
        let enforced_ids = enforced.row(row).unwrap_or_default();
        for &id in enforced_ids {
            slot(sums, id).add(&add);
        }
        // Null pending ids: the pending trace is the enforced one.
        for &id in pending.row(row).unwrap_or(enforced_ids) {
            slot(sums, id).pending_num_flows += f;
        }
    }
    Ok(())
}

/// Adds per-id sums `more` to `total`.
pub(crate) fn add_sums(total: &mut Vec<IdSums>, more: &[IdSums]) {
    if more.len() > total.len() {
        total.resize(more.len(), IdSums::default());
    }
    for (t, s) in total.iter_mut().zip(more) {
        t.add(s);
    }
}
