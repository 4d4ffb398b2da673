//! Running typed queries against a table of stored flows (any DataFusion `DataFrame` with the
//! stored schema): flow pages and aggregates. Backend-neutral; the embedded store hands in
//! its Parquet files plus in-memory buffer as one frame.

use crate::decode::decode_flows;
use crate::error::{Result, StoreError};
use crate::hitdict::HitDictionary;
use crate::plan::{after_token, column, effective_sort, encode_token, row_filter, sort_exprs};
use crate::query::{
    AggregateRow, DEFAULT_LIMIT, FlowPage, FlowQuery, GroupBy, GroupKey, MAX_AGGREGATE_ROWS,
    MAX_LIMIT, SortKey,
};
use crate::schema::{ENFORCED_IDS, Field, PENDING_IDS};
use crate::texts::Texts;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use datafusion::arrow::compute::{
    SortColumn, SortOptions, cast, concat_batches, filter_record_batch, lexsort_to_indices,
    take_record_batch,
};
use datafusion::arrow::datatypes::{DataType, UInt32Type, UInt64Type};
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{Expr, col, lit, when};
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

fn num_flows_where_action(action: Action) -> Result<Expr> {
    Ok(when(
        column(Field::Action).eq(lit(action.as_str())),
        column(Field::NumFlows),
    )
    .otherwise(lit(0u64))?)
}

/// `records`, the traffic sums and the allow/deny split, named after their row fields.
fn traffic_aggregates() -> Result<Vec<Expr>> {
    let mut aggs = vec![count(lit(1)).alias("records")];
    aggs.extend(TRAFFIC.iter().map(|f| sum(column(*f)).alias(f.name())));
    aggs.push(sum(num_flows_where_action(Action::Allow)?).alias("allowed_flows"));
    aggs.push(sum(num_flows_where_action(Action::Deny)?).alias("denied_flows"));
    Ok(aggs)
}

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

/// Typed access to an aggregate result's columns by name.
struct Out<'a>(&'a RecordBatch);

impl Out<'_> {
    fn column(&self, name: &str) -> Result<&ArrayRef> {
        self.0
            .column_by_name(name)
            .ok_or_else(|| StoreError::InvalidRecord(format!("aggregate lacks {name}")))
    }

    /// The column `name` as `want`, cast if the engine produced another type.
    fn array(&self, name: &str, want: &DataType) -> Result<ArrayRef> {
        let array = self.column(name)?;
        if array.data_type() == want {
            Ok(array.clone())
        } else {
            Ok(cast(array, want)?)
        }
    }

    fn u64s(&self, name: &str) -> Result<Vec<u64>> {
        let array = self.array(name, &DataType::UInt64)?;
        let array = array.as_primitive::<UInt64Type>();
        Ok((0..array.len())
            .map(|i| if array.is_valid(i) { array.value(i) } else { 0 })
            .collect())
    }
}

/// One group column of an aggregate result, compared and read row by row in place, so that
/// only the groups kept after ranking become owned keys.
enum KeyColumn<'a> {
    Text(Field, Texts<'a>),
    Port(&'a Int64Array),
    Action(Texts<'a>),
}

impl<'a> KeyColumn<'a> {
    /// `array` is the column of `field`; ports cast to `Int64` (see [`Out::array`]).
    fn of(field: Field, array: &'a ArrayRef) -> Result<KeyColumn<'a>> {
        let bad = || {
            StoreError::InvalidRecord(format!(
                "aggregate column {field} has type {}",
                array.data_type()
            ))
        };
        let texts = || Texts::of(array.as_ref()).ok_or_else(bad);
        Ok(match field {
            Field::DestPort => KeyColumn::Port(array.as_primitive_opt().ok_or_else(bad)?),
            Field::Action => KeyColumn::Action(texts()?),
            _ => KeyColumn::Text(field, texts()?),
        })
    }

    fn port(array: &Int64Array, row: usize) -> Option<u16> {
        array
            .is_valid(row)
            .then(|| array.value(row))
            .and_then(|p| u16::try_from(p).ok())
    }

    fn action(texts: &Texts<'_>, row: usize) -> Option<Action> {
        texts.get(row).and_then(Action::parse)
    }

    /// Orders rows `a` and `b` as their [`GroupKey`]s would be ordered.
    fn cmp(&self, a: usize, b: usize) -> Ordering {
        match self {
            KeyColumn::Text(_, texts) => texts.get(a).cmp(&texts.get(b)),
            KeyColumn::Port(array) => Self::port(array, a).cmp(&Self::port(array, b)),
            KeyColumn::Action(texts) => Self::action(texts, a).cmp(&Self::action(texts, b)),
        }
    }

    fn set(&self, row: usize, key: &mut GroupKey) {
        match self {
            KeyColumn::Port(array) => key.dest_port = Self::port(array, row),
            KeyColumn::Action(texts) => key.action = Self::action(texts, row),
            KeyColumn::Text(field, texts) => {
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
                    _ => return,
                };
                *slot = texts.get(row).map(str::to_string);
            }
        }
    }
}

/// Per-row sums read back from an aggregate batch.
struct Sums {
    records: Vec<u64>,
    traffic: Vec<Vec<u64>>,
    allowed: Vec<u64>,
    denied: Vec<u64>,
}

impl Sums {
    fn read(out: &Out<'_>) -> Result<Sums> {
        Ok(Sums {
            records: out.u64s("records")?,
            traffic: TRAFFIC
                .iter()
                .map(|f| out.u64s(f.name()))
                .collect::<Result<_>>()?,
            allowed: out.u64s("allowed_flows")?,
            denied: out.u64s("denied_flows")?,
        })
    }

    fn add_to(&self, i: usize, row: &mut AggregateRow) {
        let t = |k: usize| self.traffic[k][i];
        row.records += self.records[i];
        row.num_flows += t(0);
        row.num_flows_started += t(1);
        row.num_flows_completed += t(2);
        row.packets_in += t(3);
        row.packets_out += t(4);
        row.bytes_in += t(5);
        row.bytes_out += t(6);
        row.allowed_flows += self.allowed[i];
        row.denied_flows += self.denied[i];
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
fn ranked(len: usize, limit: usize, cmp: impl Fn(&usize, &usize) -> Ordering) -> Vec<usize> {
    if limit == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..len).collect();
    if limit < len {
        order.select_nth_unstable_by(limit - 1, &cmp);
        order.truncate(limit);
    }
    order.sort_unstable_by(cmp);
    order
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
    let matching = filtered(df, query)?;
    let fields = group_fields(group_by);
    let batches = matching
        .aggregate(
            fields.iter().map(|f| column(*f)).collect(),
            traffic_aggregates()?,
        )?
        .collect()
        .await?;
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let batch = concat_batches(&first.schema(), &batches)?;
    let out = Out(&batch);
    let sums = Sums::read(&out)?;
    let arrays = fields
        .iter()
        .map(|f| match f {
            Field::DestPort => out.array(f.name(), &DataType::Int64),
            _ => out.column(f.name()).cloned(),
        })
        .collect::<Result<Vec<_>>>()?;
    let keys = fields
        .iter()
        .zip(&arrays)
        .map(|(f, array)| KeyColumn::of(*f, array))
        .collect::<Result<Vec<_>>>()?;
    // Ordered as `finish` orders rows (the pending count is zero here), but on the result's
    // columns: a wide grouping has far more groups than it returns.
    let flows = &sums.traffic[0];
    let order = ranked(batch.num_rows(), row_limit(query), |&a, &b| {
        flows[b].cmp(&flows[a]).then_with(|| {
            keys.iter()
                .map(|k| k.cmp(a, b))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
    });
    let mut rows: Vec<AggregateRow> = order
        .into_iter()
        .map(|i| {
            let mut row = AggregateRow::default();
            for k in &keys {
                k.set(i, &mut row.key);
            }
            sums.add_to(i, &mut row);
            row
        })
        .collect();
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

fn id_list<'a>(batch: &'a RecordBatch, name: &str) -> Result<(&'a [i32], &'a [u32])> {
    let bad = || StoreError::InvalidRecord(format!("{name} is not a list of ids"));
    let list = batch
        .column_by_name(name)
        .and_then(|c| c.as_list_opt::<i32>())
        .ok_or_else(bad)?;
    let ids = list
        .values()
        .as_primitive_opt::<UInt32Type>()
        .ok_or_else(bad)?;
    Ok((list.value_offsets(), ids.values()))
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
    let (e_off, e_ids) = id_list(batch, ENFORCED_IDS)?;
    let (p_off, p_ids) = id_list(batch, PENDING_IDS)?;
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
        for &id in &e_ids[e_off[row] as usize..e_off[row + 1] as usize] {
            slot(sums, id).add(&add);
        }
        for &id in &p_ids[p_off[row] as usize..p_off[row + 1] as usize] {
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
    use super::{GroupBy, PAST_TOKEN, first_rows, group_fields, ranked};
    use crate::query::SortKey;
    use crate::schema::Field;
    use datafusion::arrow::array::{BooleanArray, Int64Array, RecordBatch, UInt64Array};
    use datafusion::arrow::datatypes::{DataType, Field as ArrowField, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;
    use proptest::prelude::*;
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
