//! Running typed queries against a table of stored flows (any DataFusion `DataFrame` with the
//! stored schema): flow pages and aggregates. Backend-neutral; the embedded store hands in
//! its Parquet files plus in-memory buffer as one frame.

use crate::decode::decode_flows;
use crate::error::{Result, StoreError};
use crate::grouping::{Groups, Reader, group_streams, merged};
use crate::hitdict::HitDictionary;
use crate::plan::{after_token, column, effective_sort, encode_token, row_filter, sort_exprs};
use crate::query::{
    AggregateRow, DEFAULT_LIMIT, FlowPage, FlowQuery, GroupBy, GroupKey, MAX_AGGREGATE_ROWS,
    MAX_LIMIT, SortKey,
};
use crate::schema::{ENFORCED_IDS, Field, PENDING_IDS};
use crate::texts::Texts;
use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt64Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::{
    SortColumn, SortOptions, concat_batches, filter_record_batch, lexsort_to_indices,
    take_record_batch,
};
use datafusion::arrow::datatypes::{UInt32Type, UInt64Type};
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::{Expr, col, lit};
use flowlens_model::{Action, HitAction, PolicyHit};
use futures::StreamExt;
use std::cmp::Ordering;

pub(crate) fn filtered(df: DataFrame, query: &FlowQuery) -> Result<DataFrame> {
    Ok(match row_filter(query)? {
        Some(predicate) => df.filter(predicate)?,
        None => df,
    })
}

/// One page of flows, its total and the next page's token.
pub(crate) async fn flow_page(df: DataFrame, query: &FlowQuery) -> Result<FlowPage> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(StoreError::invalid(format!(
            "limit must be 1..={MAX_LIMIT}, not {limit}"
        )));
    }
    let keys = effective_sort(query)?;
    // The filter can be the costly part (a selector over every row's labels), so it runs
    // once, over the sort keys only (the last one is the record id): one pass counts the
    // matching rows and keeps the first rows of the page in sort order; then only the page's
    // rows are read whole, by record id.
    let mut columns: Vec<Expr> = keys.iter().map(|k| column(k.field)).collect();
    columns.push(
        match &query.page_token {
            Some(token) => after_token(&keys, token)?,
            None => lit(true),
        }
        .alias(PAST_TOKEN),
    );
    let skip = if query.page_token.is_some() {
        0
    } else {
        query.offset
    };
    let (total, ids) = first_rows(
        filtered(df.clone(), query)?.select(columns)?,
        &keys,
        skip.saturating_add(limit + 1),
    )
    .await?;
    let ids: Vec<Expr> = ids.into_iter().skip(skip).map(lit).collect();
    let batches = if ids.is_empty() {
        Vec::new()
    } else {
        df.filter(column(Field::RecordId).in_list(ids, false))?
            .sort(sort_exprs(&keys))?
            .collect()
            .await?
    };

    let mut flows = Vec::new();
    let mut record_ids = Vec::new();
    let mut last: Option<(usize, usize)> = None;
    'batches: for (b, batch) in batches.iter().enumerate() {
        for (row, (id, flow)) in decode_flows(batch)?.into_iter().enumerate() {
            if flows.len() == limit {
                break 'batches;
            }
            flows.push(flow);
            record_ids.push(id);
            last = Some((b, row));
        }
    }
    let has_more = batches.iter().map(RecordBatch::num_rows).sum::<usize>() > limit;
    let next_page_token = match (has_more, last) {
        (true, Some((b, row))) => {
            let batch = &batches[b];
            let values = keys
                .iter()
                .map(|k| {
                    let array = batch.column_by_name(k.field.name()).ok_or_else(|| {
                        StoreError::InvalidRecord(format!("column {} is missing", k.field))
                    })?;
                    Ok(ScalarValue::try_from_array(array, row)?)
                })
                .collect::<Result<Vec<_>>>()?;
            Some(encode_token(&keys, &values)?)
        }
        _ => None,
    };
    Ok(FlowPage {
        flows,
        record_ids,
        total,
        next_page_token,
    })
}

/// The column telling the rows after the page token (all rows without one).
const PAST_TOKEN: &str = "past_token";

/// Counts the rows of `df` (the sort keys of the matching rows, then [`PAST_TOKEN`]) and
/// returns the record ids of the first `k` rows past the token in `keys` order. Keeps at most
/// a few times `k` rows in memory, however many match.
async fn first_rows(df: DataFrame, keys: &[SortKey], k: usize) -> Result<(u64, Vec<u64>)> {
    let options = |key: &SortKey| SortOptions {
        descending: key.descending,
        nulls_first: false,
    };
    // The first `k` rows of `batch`, in order.
    let head = |batch: &RecordBatch| -> Result<RecordBatch> {
        let columns: Vec<SortColumn> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| SortColumn {
                values: batch.column(i).clone(),
                options: Some(options(key)),
            })
            .collect();
        let order = lexsort_to_indices(&columns, Some(k))?;
        Ok(take_record_batch(batch, &order)?)
    };
    let mut stream = df.execute_stream().await?;
    let mut total = 0u64;
    let mut kept: Vec<RecordBatch> = Vec::new();
    let mut kept_rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        total += batch.num_rows() as u64;
        let past = batch
            .column(keys.len())
            .as_boolean_opt()
            .ok_or_else(|| StoreError::InvalidRecord(format!("{PAST_TOKEN} is not boolean")))?;
        let batch = filter_record_batch(&batch, past)?;
        kept_rows += batch.num_rows();
        kept.push(batch);
        if kept_rows > k.saturating_mul(4).max(64 * 1024) {
            let all = concat_batches(&kept[0].schema(), &kept)?;
            kept = vec![head(&all)?];
            kept_rows = kept[0].num_rows();
        }
    }
    let Some(first) = kept.first() else {
        return Ok((total, Vec::new()));
    };
    let first = head(&concat_batches(&first.schema(), &kept)?)?;
    let ids = first
        .column(keys.len() - 1)
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| StoreError::InvalidRecord("record_id is not UInt64".into()))?;
    Ok((total, ids.values().to_vec()))
}

const TRAFFIC: [Field; 7] = [
    Field::NumFlows,
    Field::NumFlowsStarted,
    Field::NumFlowsCompleted,
    Field::PacketsIn,
    Field::PacketsOut,
    Field::BytesIn,
    Field::BytesOut,
];

/// The columns of a grouping, in [`GroupKey`]'s field order: `aggregate` ranks groups column
/// by column in this order, as `GroupKey`'s `Ord` would.
fn group_fields(group_by: GroupBy) -> &'static [Field] {
    use Field as F;
    match group_by {
        GroupBy::NamespacePair => &[F::SourceNamespace, F::DestNamespace],
        GroupBy::NamePair => &[
            F::SourceNamespace,
            F::SourceNameAggr,
            F::DestNamespace,
            F::DestNameAggr,
        ],
        GroupBy::Edge => &[
            F::SourceNamespace,
            F::SourceNameAggr,
            F::DestNamespace,
            F::DestNameAggr,
            F::Proto,
            F::DestPort,
            F::Action,
        ],
        GroupBy::ServiceEdge => &[
            F::SourceType,
            F::SourceNamespace,
            F::SourceNameAggr,
            F::DestType,
            F::DestNamespace,
            F::DestNameAggr,
            F::DestServiceNamespace,
            F::DestServiceName,
            F::Proto,
            F::DestPort,
            F::Action,
        ],
        GroupBy::Action => &[F::Action],
        GroupBy::Policy | GroupBy::PolicyRule => &[],
    }
}

fn set_rates(rows: &mut [AggregateRow], window_seconds: f64) {
    let w = window_seconds.max(1.0);
    for row in rows {
        row.connections_per_second = row.num_flows_started as f64 / w;
        row.packets_per_second = (row.packets_in + row.packets_out) as f64 / w;
        row.bits_per_second = 8.0 * (row.bytes_in + row.bytes_out) as f64 / w;
    }
}

/// The row numbers of the `limit` first rows in `cmp` order, in that order. Selects before
/// sorting: with many groups and a limit, most rows are never sorted.
fn ranked(len: usize, limit: usize, cmp: impl Fn(&usize, &usize) -> Ordering + Sync) -> Vec<usize> {
    if limit == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..len).collect();
    if limit < len {
        order.select_nth_unstable_by(limit - 1, &cmp);
        order.truncate(limit);
    }
    sort_on_all_cores(order, cmp)
}

/// Below this many items work is not split over cores: starting threads would cost more.
const SPLIT_AT_LEAST: usize = 16_384;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `order` sorted by `cmp`: each core sorts one chunk and the sorted chunks are merged.
fn sort_on_all_cores(
    mut order: Vec<usize>,
    cmp: impl Fn(&usize, &usize) -> Ordering + Sync,
) -> Vec<usize> {
    let cores = cores();
    if cores < 2 || order.len() < SPLIT_AT_LEAST {
        order.sort_unstable_by(cmp);
        return order;
    }
    let chunk = order.len().div_ceil(cores);
    std::thread::scope(|s| {
        for part in order.chunks_mut(chunk) {
            let cmp = &cmp;
            s.spawn(move || part.sort_unstable_by(cmp));
        }
    });
    // Merges the sorted chunks pairwise until one is left.
    let mut runs: Vec<Vec<usize>> = order.chunks(chunk).map(<[usize]>::to_vec).collect();
    while runs.len() > 1 {
        let mut merged = Vec::with_capacity(runs.len().div_ceil(2));
        let mut pairs = runs.into_iter();
        while let Some(a) = pairs.next() {
            merged.push(match pairs.next() {
                Some(b) => merge_sorted(&a, &b, &cmp),
                None => a,
            });
        }
        runs = merged;
    }
    runs.pop().unwrap_or_default()
}

/// Two sorted runs as one, ties taken from `a` first.
fn merge_sorted(a: &[usize], b: &[usize], cmp: impl Fn(&usize, &usize) -> Ordering) -> Vec<usize> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if cmp(&b[j], &a[i]).is_lt() {
            out.push(b[j]);
            j += 1;
        } else {
            out.push(a[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// `f` over `items`, in order, one chunk per core.
fn map_on_all_cores<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let cores = cores();
    if cores < 2 || items.len() < SPLIT_AT_LEAST {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(cores);
    let parts: Vec<Result<Vec<R>>> = std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Result<Vec<R>>>()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(StoreError::Task("a grouping thread panicked".into())))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

fn row_limit(query: &FlowQuery) -> usize {
    query
        .limit
        .unwrap_or(MAX_AGGREGATE_ROWS)
        .min(MAX_AGGREGATE_ROWS)
}

fn finish(rows: Vec<AggregateRow>, query: &FlowQuery, window_seconds: f64) -> Vec<AggregateRow> {
    // Rank a permutation: rows are large, and moving them dominated with many groups.
    let order = ranked(rows.len(), row_limit(query), |&a, &b| {
        let (a, b) = (&rows[a], &rows[b]);
        b.num_flows
            .cmp(&a.num_flows)
            .then(b.pending_num_flows.cmp(&a.pending_num_flows))
            .then_with(|| a.key.cmp(&b.key))
    });
    let mut slots: Vec<Option<AggregateRow>> = rows.into_iter().map(Some).collect();
    let mut out: Vec<AggregateRow> = order.into_iter().filter_map(|i| slots[i].take()).collect();
    set_rates(&mut out, window_seconds);
    out
}

/// The sums a grouping keeps per group: `records`, the [`TRAFFIC`] counters in their order,
/// then `num_flows` of allowed and of denied flow logs.
const GROUP_SUMS: usize = 1 + TRAFFIC.len() + 2;

/// Adds `batch` (the grouping columns, the [`TRAFFIC`] counters and `action`) to `groups`.
fn add_traffic(
    groups: &mut Groups<GROUP_SUMS>,
    batch: &RecordBatch,
    fields: &[Field],
) -> Result<()> {
    let named = |f: Field| {
        batch
            .column_by_name(f.name())
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
    let actions = named(Field::Action)?;
    let actions = Texts::of(actions.as_ref())
        .ok_or_else(|| StoreError::InvalidRecord("action is not text".into()))?;
    groups.add_batch(batch, fields, |row| {
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

/// One cell of an encoded group key, as [`GroupKey`] holds it.
enum KeyCell<'a> {
    Text(Option<&'a [u8]>),
    Port(Option<u16>),
    Action(Option<Action>),
}

impl<'a> KeyCell<'a> {
    /// The next cell of `key`, of `field`; `None` when the key is shorter than its fields.
    fn read(field: Field, key: &mut Reader<'a>) -> Option<KeyCell<'a>> {
        Some(match field {
            Field::DestPort => KeyCell::Port(key.int()?.and_then(|p| u16::try_from(p).ok())),
            Field::Action => KeyCell::Action(
                key.text()?
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .and_then(Action::parse),
            ),
            _ => KeyCell::Text(key.text()?),
        })
    }

    fn cmp(&self, other: &KeyCell<'_>) -> Ordering {
        match (self, other) {
            (KeyCell::Text(a), KeyCell::Text(b)) => a.cmp(b),
            (KeyCell::Port(a), KeyCell::Port(b)) => a.cmp(b),
            (KeyCell::Action(a), KeyCell::Action(b)) => a.cmp(b),
            _ => Ordering::Equal,
        }
    }

    fn set(self, field: Field, key: &mut GroupKey) -> Result<()> {
        let text = |t: Option<&[u8]>| {
            t.map(|t| {
                std::str::from_utf8(t)
                    .map(str::to_string)
                    .map_err(|_| StoreError::InvalidRecord(format!("{field} is not UTF-8")))
            })
            .transpose()
        };
        match self {
            KeyCell::Port(port) => key.dest_port = port,
            KeyCell::Action(action) => key.action = action,
            KeyCell::Text(t) => {
                let slot = match field {
                    Field::SourceType => &mut key.source_type,
                    Field::SourceNamespace => &mut key.source_namespace,
                    Field::SourceNameAggr => &mut key.source_name_aggr,
                    Field::DestType => &mut key.dest_type,
                    Field::DestNamespace => &mut key.dest_namespace,
                    Field::DestNameAggr => &mut key.dest_name_aggr,
                    Field::DestServiceNamespace => &mut key.dest_service_namespace,
                    Field::DestServiceName => &mut key.dest_service_name,
                    Field::Proto => &mut key.proto,
                    _ => return Ok(()),
                };
                *slot = text(t)?;
            }
        }
        Ok(())
    }
}

/// Orders two encoded keys of `fields` as their [`GroupKey`]s would be ordered.
fn cmp_keys(fields: &[Field], a: &[u8], b: &[u8]) -> Ordering {
    let (mut a, mut b) = (Reader(a), Reader(b));
    for &f in fields {
        let order = match (KeyCell::read(f, &mut a), KeyCell::read(f, &mut b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => Ordering::Equal,
        };
        if order.is_ne() {
            return order;
        }
    }
    Ordering::Equal
}

/// Byte ranges per core a grouping's scan is split into.
const SCAN_SPLITS_PER_CORE: usize = 4;

/// Groups and sums the flows matching `query`. `window_seconds` is the span the rates are
/// per.
pub(crate) async fn aggregate(
    df: DataFrame,
    query: &FlowQuery,
    group_by: GroupBy,
    window_seconds: f64,
) -> Result<Vec<AggregateRow>> {
    if group_by.is_policy() {
        return Err(StoreError::invalid(
            "policy groupings go through sums_per_hit_id",
        ));
    }
    let fields = group_fields(group_by);
    let mut read: Vec<Field> = fields.to_vec();
    for f in TRAFFIC.iter().chain([&Field::Action]) {
        if !read.contains(f) {
            read.push(*f);
        }
    }
    // Grouped here rather than by DataFusion's `GROUP BY` (see `grouping.rs`), on every
    // core. A time window mostly lies in a few row groups of one file, which a scan split
    // into one byte range per core gives to one core: the scan is split finer.
    let (state, plan) = filtered(df, query)?
        .select(read.iter().map(|f| column(*f)).collect::<Vec<Expr>>())?
        .into_parts();
    let splits = state.config().target_partitions() * SCAN_SPLITS_PER_CORE;
    let config = state.config().clone().with_target_partitions(splits);
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    let streams = DataFrame::new(state, plan)
        .execute_stream_partitioned()
        .await?;
    let tasks = group_streams(streams, move |groups, batch| {
        add_traffic(groups, batch, fields)
    });
    let all: Groups<GROUP_SUMS> = merged(tasks).await?;
    // Ordered as `finish` orders rows (the pending count is zero here), but on the encoded
    // keys: a wide grouping has far more groups than it returns, and only those returned
    // become rows.
    let groups = &all.groups;
    let order = ranked(groups.len(), row_limit(query), |&a, &b| {
        let (a, b) = (&groups[a], &groups[b]);
        b.sums[1]
            .cmp(&a.sums[1])
            .then_with(|| cmp_keys(fields, all.key(a), all.key(b)))
    });
    let torn = || StoreError::InvalidRecord("a group's key is shorter than its fields".into());
    let mut rows = map_on_all_cores(&order, |&i| {
        let group = &groups[i];
        let mut row = AggregateRow::default();
        let mut key = Reader(all.key(group));
        for &f in fields {
            KeyCell::read(f, &mut key)
                .ok_or_else(torn)?
                .set(f, &mut row.key)?;
        }
        let [records, traffic @ .., allowed, denied] = group.sums;
        let [
            flows,
            started,
            completed,
            packets_in,
            packets_out,
            bytes_in,
            bytes_out,
        ] = traffic;
        row.records = records;
        row.num_flows = flows;
        row.num_flows_started = started;
        row.num_flows_completed = completed;
        row.packets_in = packets_in;
        row.packets_out = packets_out;
        row.bytes_in = bytes_in;
        row.bytes_out = bytes_out;
        row.allowed_flows = allowed;
        row.denied_flows = denied;
        Ok(row)
    })?;
    set_rates(&mut rows, window_seconds);
    Ok(rows)
}

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
    /// Field names, in the order of [`IdSums::values`].
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
struct IdList<'a> {
    offsets: &'a [i32],
    ids: &'a [u32],
    nulls: Option<&'a NullBuffer>,
}

impl<'a> IdList<'a> {
    fn of(batch: &'a RecordBatch, name: &str) -> Result<IdList<'a>> {
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
    fn row(&self, row: usize) -> Option<&'a [u32]> {
        if self.nulls.is_some_and(|n| n.is_null(row)) {
            return None;
        }
        Some(&self.ids[self.offsets[row] as usize..self.offsets[row + 1] as usize])
    }
}

const ID_SUM_COLUMNS: [Field; 3] = [
    Field::NumFlows,
    Field::NumFlowsStarted,
    Field::NumFlowsCompleted,
];

/// Adds the rows of `batch` (with at least the columns [`sums_per_hit_id`] reads) to `sums`.
pub(crate) fn add_hit_sums(batch: &RecordBatch, sums: &mut Vec<IdSums>) -> Result<()> {
    let counter = |f: Field| -> Result<&[u64]> {
        batch
            .column_by_name(f.name())
            .and_then(|c| c.as_primitive_opt::<UInt64Type>())
            .map(|a| a.values().as_ref())
            .ok_or_else(|| StoreError::InvalidRecord(format!("{f} is not UInt64")))
    };
    let [flows, started, completed] = ID_SUM_COLUMNS.map(counter);
    let (flows, started, completed) = (flows?, started?, completed?);
    let action = batch
        .column_by_name(Field::Action.name())
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

/// Adds up, per hit id, the flows matching `query`: each partition of the scan is summed on
/// its own task into a dense vector, then the vectors are merged. Integer ids instead of
/// hit strings make this several times faster than unnesting and grouping the strings.
/// `known_ids` sizes the vectors up front.
pub(crate) async fn sums_per_hit_id(
    df: DataFrame,
    query: &FlowQuery,
    known_ids: usize,
) -> Result<Vec<IdSums>> {
    let mut projection: Vec<Expr> = ID_SUM_COLUMNS.iter().map(|f| column(*f)).collect();
    projection.push(column(Field::Action));
    projection.push(col(ENFORCED_IDS));
    projection.push(col(PENDING_IDS));
    let streams = filtered(df, query)?
        .select(projection)?
        .execute_stream_partitioned()
        .await?;
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let mut sums = vec![IdSums::default(); known_ids];
                while let Some(batch) = stream.next().await {
                    add_hit_sums(&batch?, &mut sums)?;
                }
                Ok::<_, StoreError>(sums)
            })
        })
        .collect();
    let mut total: Vec<IdSums> = vec![IdSums::default(); known_ids];
    for task in tasks {
        let sums = task.await.map_err(|e| StoreError::Task(e.to_string()))??;
        add_sums(&mut total, &sums);
    }
    Ok(total)
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

fn policy_key(hit: &PolicyHit, group_by: GroupBy) -> GroupKey {
    let rule_level = group_by == GroupBy::PolicyRule;
    GroupKey {
        tier: Some(hit.tier.clone()),
        kind: hit.kind,
        policy_namespace: hit.namespace.clone(),
        policy_name: Some(hit.name.clone()),
        hit_action: rule_level.then_some(hit.action),
        rule: rule_level.then_some(hit.rule),
        ..GroupKey::default()
    }
}

/// Turns per-id sums into policy rows (ids of one policy added up by policy number) or rule
/// rows (one per id: an id already is a policy, action and rule).
pub(crate) fn policy_rows(
    sums: &[IdSums],
    dict: &HitDictionary,
    query: &FlowQuery,
    group_by: GroupBy,
    window_seconds: f64,
) -> Result<Vec<AggregateRow>> {
    let rule_level = group_by == GroupBy::PolicyRule;
    // Group number → (a hit of the group, its row).
    let groups = if rule_level {
        sums.len()
    } else {
        dict.policy_count()
    };
    let mut rows: Vec<Option<(u32, AggregateRow)>> = vec![None; groups];
    for (id, s) in sums.iter().enumerate() {
        if s.records == 0 && s.pending_num_flows == 0 {
            continue;
        }
        let id = id as u32;
        let unknown = || {
            StoreError::InvalidRecord(format!("policy hit id {id} is unknown or not a valid hit"))
        };
        let hit = dict.hit(id).ok_or_else(unknown)?;
        let group = if rule_level { id } else { dict.policy_of(id) };
        let (_, row) = rows
            .get_mut(group as usize)
            .ok_or_else(unknown)?
            .get_or_insert_with(|| (id, AggregateRow::default()));
        row.records += s.records;
        row.num_flows += s.num_flows;
        row.num_flows_started += s.num_flows_started;
        row.num_flows_completed += s.num_flows_completed;
        row.allowed_flows += s.allowed_flows;
        row.denied_flows += s.denied_flows;
        row.pending_num_flows += s.pending_num_flows;
        let (hits, pending) = match hit.action {
            HitAction::Allow => (&mut row.hits_allowed, &mut row.pending_allowed),
            HitAction::Deny => (&mut row.hits_denied, &mut row.pending_denied),
            HitAction::Pass => (&mut row.hits_passed, &mut row.pending_passed),
        };
        *hits += s.num_flows;
        *pending += s.pending_num_flows;
    }
    let rows = rows
        .into_iter()
        .flatten()
        .map(|(id, mut row)| {
            if let Some(hit) = dict.hit(id) {
                row.key = policy_key(hit, group_by);
            }
            row
        })
        .collect();
    Ok(finish(rows, query, window_seconds))
}

#[cfg(test)]
mod tests {
    use super::{GroupBy, PAST_TOKEN, TRAFFIC, aggregate, first_rows, group_fields, ranked};
    use crate::query::{AggregateRow, FlowQuery, GroupKey, SortKey};
    use crate::schema::{Field, index};
    use crate::testutil::sample_flow;
    use datafusion::arrow::array::{AsArray, BooleanArray, Int64Array, RecordBatch, UInt64Array};
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::{DataType, Field as ArrowField, Schema, UInt64Type};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;
    use flowlens_model::{Action, EndpointType, FlowLog, FlowService, Protocol};
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    /// The streaming selection of a page's rows against a plain sort, over more rows than
    /// it keeps between reductions, with ties on the first key and rows before the token.
    #[tokio::test]
    async fn first_rows_are_the_head_of_a_full_sort() {
        let n = 200_000u64;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let rows: Vec<(i64, u64, bool)> = (0..n)
            .map(|id| ((next() % 5_000) as i64, id, next() % 3 != 0))
            .collect();
        let schema = Arc::new(Schema::new(vec![
            ArrowField::new(Field::EndTime.name(), DataType::Int64, false),
            ArrowField::new(Field::RecordId.name(), DataType::UInt64, false),
            ArrowField::new(PAST_TOKEN, DataType::Boolean, false),
        ]));
        let batches: Vec<RecordBatch> = rows
            .chunks(7_000)
            .map(|chunk| {
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(Int64Array::from_iter_values(chunk.iter().map(|r| r.0))),
                        Arc::new(UInt64Array::from_iter_values(chunk.iter().map(|r| r.1))),
                        Arc::new(BooleanArray::from_iter(chunk.iter().map(|r| Some(r.2)))),
                    ],
                )
                .unwrap()
            })
            .collect();
        let (a, b) = batches.split_at(batches.len() / 2);
        let keys = [
            SortKey::desc(Field::EndTime),
            SortKey::desc(Field::RecordId),
        ];
        let mut expected: Vec<(i64, u64, bool)> = rows.iter().copied().filter(|r| r.2).collect();
        expected.sort_by_key(|r| std::cmp::Reverse((r.0, r.1)));
        for k in [1, 101, 20_000, 150_000] {
            let table = MemTable::try_new(schema.clone(), vec![a.to_vec(), b.to_vec()]).unwrap();
            let df = SessionContext::new().read_table(Arc::new(table)).unwrap();
            let (total, ids) = first_rows(df, &keys, k).await.unwrap();
            assert_eq!(total, n);
            let want: Vec<u64> = expected.iter().take(k).map(|r| r.1).collect();
            assert_eq!(ids, want, "k = {k}");
        }
    }

    #[test]
    fn group_fields_follow_the_group_key_order() {
        // The service-edge grouping lists every key column, in GroupKey's order.
        let all = group_fields(GroupBy::ServiceEdge);
        for g in [
            GroupBy::NamespacePair,
            GroupBy::NamePair,
            GroupBy::Edge,
            GroupBy::Action,
        ] {
            let mut rest = all.iter();
            for f in group_fields(g) {
                assert!(rest.any(|a| a == f), "{g:?}: {f} out of order");
            }
        }
    }

    /// Flow logs varied in every grouped column (absent values included), with random
    /// counters; seeded, so a failure repeats.
    fn varied_flows(n: u64) -> Vec<FlowLog> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        let namespaces = [Some("a"), Some("b"), None];
        let types = [Some(EndpointType::Wep), Some(EndpointType::Net), None];
        (0..n)
            .map(|i| {
                let mut log = sample_flow(i, 1_000 + i as i64);
                log.source.namespace = namespaces[next(3) as usize].map(str::to_string);
                log.source.name_aggr = format!("s-{}", next(7));
                log.source.endpoint_type = types[next(3) as usize];
                log.dest.namespace = namespaces[next(3) as usize].map(str::to_string);
                log.dest.name_aggr = format!("d-{}", next(11));
                log.dest.endpoint_type = types[next(3) as usize];
                log.dest.port = [Some(80), Some(443), Some(8080), None][next(4) as usize];
                log.proto = [Protocol::Tcp, Protocol::Udp][next(2) as usize];
                log.action = [Action::Allow, Action::Deny][next(2) as usize];
                log.dest_service = (next(2) == 0).then(|| FlowService {
                    namespace: "a".into(),
                    name: format!("svc-{}", next(3)),
                    port_name: "http".into(),
                    port_num: 80,
                });
                log.num_flows = next(50);
                log.num_flows_started = next(5);
                log.num_flows_completed = next(5);
                log.packets_in = next(1_000);
                log.packets_out = next(1_000);
                log.bytes_in = next(1 << 40);
                log.bytes_out = next(1 << 40);
                log
            })
            .collect()
    }

    /// The grouping written plainly: every row's key read from the stored columns into a
    /// `GroupKey`, sums in a map, ranked by a full sort.
    fn grouped_plainly(batch: &RecordBatch, group_by: GroupBy, limit: usize) -> Vec<AggregateRow> {
        let text = |f: Field| -> Vec<Option<String>> {
            let c = cast(batch.column(index(f)), &DataType::Utf8).unwrap();
            c.as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect()
        };
        let u64s = |f: Field| {
            let c = cast(batch.column(index(f)), &DataType::UInt64).unwrap();
            c.as_primitive::<UInt64Type>().values().to_vec()
        };
        let columns: Vec<(Field, Vec<Option<String>>)> = group_fields(group_by)
            .iter()
            .map(|&f| (f, text(f)))
            .collect();
        let actions = text(Field::Action);
        let traffic: Vec<Vec<u64>> = TRAFFIC.iter().map(|&f| u64s(f)).collect();
        let mut groups: BTreeMap<GroupKey, AggregateRow> = BTreeMap::new();
        for row in 0..batch.num_rows() {
            let mut key = GroupKey::default();
            for (f, values) in &columns {
                let v = values[row].clone();
                match f {
                    Field::SourceType => key.source_type = v,
                    Field::SourceNamespace => key.source_namespace = v,
                    Field::SourceNameAggr => key.source_name_aggr = v,
                    Field::DestType => key.dest_type = v,
                    Field::DestNamespace => key.dest_namespace = v,
                    Field::DestNameAggr => key.dest_name_aggr = v,
                    Field::DestServiceNamespace => key.dest_service_namespace = v,
                    Field::DestServiceName => key.dest_service_name = v,
                    Field::Proto => key.proto = v,
                    Field::DestPort => key.dest_port = v.map(|p| p.parse().unwrap()),
                    Field::Action => key.action = v.as_deref().and_then(Action::parse),
                    other => panic!("{other} is not a group field"),
                }
            }
            let g = groups.entry(key.clone()).or_default();
            g.key = key;
            g.records += 1;
            g.num_flows += traffic[0][row];
            g.num_flows_started += traffic[1][row];
            g.num_flows_completed += traffic[2][row];
            g.packets_in += traffic[3][row];
            g.packets_out += traffic[4][row];
            g.bytes_in += traffic[5][row];
            g.bytes_out += traffic[6][row];
            match actions[row].as_deref() {
                Some("allow") => g.allowed_flows += traffic[0][row],
                Some("deny") => g.denied_flows += traffic[0][row],
                _ => {}
            }
        }
        let mut rows: Vec<AggregateRow> = groups.into_values().collect();
        rows.sort_by(|a, b| b.num_flows.cmp(&a.num_flows).then(a.key.cmp(&b.key)));
        rows.truncate(limit);
        rows
    }

    /// Every grouping over two partitions, whole and cut by a limit, with and without every
    /// row hashing alike, against the plain grouping.
    #[tokio::test]
    async fn aggregates_are_those_of_a_plain_grouping() {
        let logs = varied_flows(30_000);
        let batch = crate::encode_flows(&logs, 0).unwrap();
        let parts: Vec<Vec<RecordBatch>> = [0..9_000, 9_000..17_000, 17_000..30_000]
            .into_iter()
            .map(|r| vec![batch.slice(r.start, r.len())])
            .collect();
        // With every row hashing alike each row is compared with every group: fewer rows.
        for collide in [false, true] {
            let parts: Vec<Vec<RecordBatch>> = match collide {
                false => parts.clone(),
                true => parts.iter().map(|p| vec![p[0].slice(0, 500)]).collect(),
            };
            let batch =
                datafusion::arrow::compute::concat_batches(&batch.schema(), parts.iter().flatten())
                    .unwrap();
            crate::grouping::COLLIDE.store(collide, std::sync::atomic::Ordering::Relaxed);
            for group_by in [
                GroupBy::NamespacePair,
                GroupBy::NamePair,
                GroupBy::Edge,
                GroupBy::ServiceEdge,
                GroupBy::Action,
            ] {
                for limit in [None, Some(7)] {
                    let table =
                        MemTable::try_new(crate::schema::record_schema(), parts.clone()).unwrap();
                    let df = SessionContext::new().read_table(Arc::new(table)).unwrap();
                    let mut query = FlowQuery::new(crate::TimeRange::all());
                    query.limit = limit;
                    let mut got = aggregate(df, &query, group_by, 1.0).await.unwrap();
                    for row in &mut got {
                        assert_eq!(row.connections_per_second, row.num_flows_started as f64);
                        row.connections_per_second = 0.0;
                        row.packets_per_second = 0.0;
                        row.bits_per_second = 0.0;
                    }
                    let want = grouped_plainly(&batch, group_by, limit.unwrap_or(usize::MAX));
                    assert!(want.len() > 1, "{group_by:?}");
                    assert_eq!(
                        got, want,
                        "{group_by:?}, limit {limit:?}, collide {collide}"
                    );
                }
            }
        }
        crate::grouping::COLLIDE.store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Past the size where sorting and mapping are split over cores, the result is still that
    /// of one full sort, and mapped items keep their order.
    #[test]
    fn work_split_over_cores_is_that_of_one_thread() {
        for len in [super::SPLIT_AT_LEAST, 50_001] {
            // Few distinct values, so that most comparisons are ties broken by position.
            let values: Vec<u64> = (0..len as u64).map(|i| i * 7919 % 13).collect();
            let cmp = |a: &usize, b: &usize| values[*b].cmp(&values[*a]).then(a.cmp(b));
            let mut all: Vec<usize> = (0..len).collect();
            all.sort_by(cmp);
            for limit in [0, 1, len / 3, len, len + 5] {
                let mut want = all.clone();
                want.truncate(limit);
                assert_eq!(ranked(len, limit, cmp), want, "{len} {limit}");
            }
            let doubled = super::map_on_all_cores(&all, |&i| Ok(2 * i)).unwrap();
            assert_eq!(doubled, all.iter().map(|i| 2 * i).collect::<Vec<_>>());
            let failed = super::map_on_all_cores(&all, |&i| match i {
                7 => Err(crate::error::StoreError::invalid("seven")),
                _ => Ok(i),
            });
            assert!(failed.is_err());
        }
    }

    proptest! {
        /// Selecting then sorting gives the first rows of a full sort, for any limit.
        #[test]
        fn ranked_is_the_head_of_a_full_sort(
            values in proptest::collection::vec(0u8..8, 0..200),
            limit in 0usize..220,
        ) {
            let cmp = |a: &usize, b: &usize| values[*b].cmp(&values[*a]).then(a.cmp(b));
            let mut all: Vec<usize> = (0..values.len()).collect();
            all.sort_by(cmp);
            all.truncate(limit);
            prop_assert_eq!(ranked(values.len(), limit, cmp), all);
        }
    }
}
