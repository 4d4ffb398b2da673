//! The UI's groupings (namespace pair, name pair, edge, service edge, action): the flows
//! matching a query hash-grouped on every core by the grouping's columns, with traffic sums,
//! ranked on their encoded keys so that only the groups returned become rows.

use crate::error::{Result, StoreError};
use crate::query::parallel::{group_streams, map_on_all_cores, merged};
use crate::query::plan::{column, filtered};
use crate::query::ranking::{ranked, row_limit, set_rates};
use crate::summaries::hash_grouping::Reader;
use crate::summaries::traffic::{TRAFFIC, TrafficGroups, add_traffic};
use crate::types::{AggregateRow, FlowSearch, GroupKey};
use datafusion::dataframe::DataFrame;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::Expr;
use flowlens_model::Action;
use flowlens_model::FlowField;
use std::cmp::Ordering;

/// One cell of an encoded group key, as [`GroupKey`] holds it.
enum KeyCell<'a> {
    Text(Option<&'a [u8]>),
    Port(Option<u16>),
    Action(Option<Action>),
}

impl<'a> KeyCell<'a> {
    /// The next cell of `key`, of `field`; `None` when the key is shorter than its fields.
    fn read(field: FlowField, key: &mut Reader<'a>) -> Option<KeyCell<'a>> {
        Some(match field {
            FlowField::DestPort => KeyCell::Port(key.int()?.and_then(|p| u16::try_from(p).ok())),
            FlowField::Action => KeyCell::Action(
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

    fn set(self, field: FlowField, key: &mut GroupKey) -> Result<()> {
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
                    FlowField::SourceType => &mut key.source_type,
                    FlowField::SourceNamespace => &mut key.source_namespace,
                    FlowField::SourceNameAggr => &mut key.source_name_aggr,
                    FlowField::DestType => &mut key.dest_type,
                    FlowField::DestNamespace => &mut key.dest_namespace,
                    FlowField::DestNameAggr => &mut key.dest_name_aggr,
                    FlowField::DestServiceNamespace => &mut key.dest_service_namespace,
                    FlowField::DestServiceName => &mut key.dest_service_name,
                    FlowField::Proto => &mut key.proto,
                    _ => return Ok(()),
                };
                *slot = text(t)?;
            }
        }
        Ok(())
    }
}

/// Orders two encoded keys of `fields` as their [`GroupKey`]s would be ordered.
fn cmp_keys(fields: &[FlowField], a: &[u8], b: &[u8]) -> Ordering {
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

/// The flows of `df` matching `query`, hash-grouped by `fields` (one of the groupings').
pub(crate) async fn group_rows(
    df: DataFrame,
    query: &FlowSearch,
    fields: &'static [FlowField],
) -> Result<TrafficGroups> {
    if fields.is_empty() {
        return Err(StoreError::invalid(
            "policy groupings go through sums_per_hit_id",
        ));
    }
    let mut read: Vec<FlowField> = fields.to_vec();
    for f in TRAFFIC.iter().chain([&FlowField::Action]) {
        if !read.contains(f) {
            read.push(*f);
        }
    }
    // Grouped here rather than by DataFusion's `GROUP BY` (see `summaries/hash_grouping.rs`), on every
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
    merged(tasks).await
}

/// The groups `all` ranked and cut to the query's limit, as rows.
pub(crate) fn ranked_rows(
    all: &TrafficGroups,
    query: &FlowSearch,
    fields: &[FlowField],
    window_seconds: f64,
) -> Result<Vec<AggregateRow>> {
    // Ordered as `finish` orders rows (the pending count is zero here), but on the encoded
    // keys: a wide grouping has far more groups than it returns, and only those returned
    // become rows.
    // Groups of no flow log (edges read from rollups that no row of the range reached) rank
    // last and are left out.
    let groups = &all.groups;
    let mut order = ranked(groups.len(), row_limit(query), |&a, &b| {
        let (a, b) = (&groups[a], &groups[b]);
        (a.sums[0] == 0)
            .cmp(&(b.sums[0] == 0))
            .then_with(|| b.sums[1].cmp(&a.sums[1]))
            .then_with(|| cmp_keys(fields, all.key(a), all.key(b)))
    });
    while order.last().is_some_and(|&i| groups[i].sums[0] == 0) {
        order.pop();
    }
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

#[cfg(test)]
mod tests {
    use super::{TRAFFIC, group_rows, ranked_rows};
    use crate::schema::index;
    use crate::summaries::traffic::ROLLUP_KEY;
    use crate::testutil::sample_flow;
    use crate::types::{AggregateRow, FlowSearch, GroupBy, GroupKey};
    use datafusion::arrow::array::{AsArray, RecordBatch};
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::{DataType, UInt64Type};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;
    use flowlens_model::FlowField;
    use flowlens_model::{Action, EndpointType, FlowLog, FlowService, Protocol};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    /// Groups and sums the flows of `df` matching `query`, as the store does from rows.
    async fn aggregate(
        df: datafusion::dataframe::DataFrame,
        query: &FlowSearch,
        group_by: GroupBy,
        window_seconds: f64,
    ) -> crate::error::Result<Vec<AggregateRow>> {
        let fields = group_by.fields();
        let groups = group_rows(df, query, fields).await?;
        ranked_rows(&groups, query, fields, window_seconds)
    }

    #[test]
    fn traffic_rollups_hold_every_groupings_columns() {
        for g in [
            GroupBy::NamespacePair,
            GroupBy::NamePair,
            GroupBy::Edge,
            GroupBy::ServiceEdge,
            GroupBy::Action,
        ] {
            for f in g.fields() {
                assert!(ROLLUP_KEY.contains(f), "{g:?}: {f} is not in the rollups");
            }
        }
    }

    #[test]
    fn group_fields_follow_the_group_key_order() {
        // The service-edge grouping lists every key column, in GroupKey's order.
        let all = GroupBy::ServiceEdge.fields();
        for g in [
            GroupBy::NamespacePair,
            GroupBy::NamePair,
            GroupBy::Edge,
            GroupBy::Action,
        ] {
            let mut rest = all.iter();
            for f in g.fields() {
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
        let text = |f: FlowField| -> Vec<Option<String>> {
            let c = cast(batch.column(index(f)), &DataType::Utf8).unwrap();
            c.as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect()
        };
        let u64s = |f: FlowField| {
            let c = cast(batch.column(index(f)), &DataType::UInt64).unwrap();
            c.as_primitive::<UInt64Type>().values().to_vec()
        };
        let columns: Vec<(FlowField, Vec<Option<String>>)> =
            group_by.fields().iter().map(|&f| (f, text(f))).collect();
        let actions = text(FlowField::Action);
        let traffic: Vec<Vec<u64>> = TRAFFIC.iter().map(|&f| u64s(f)).collect();
        let mut groups: BTreeMap<GroupKey, AggregateRow> = BTreeMap::new();
        for row in 0..batch.num_rows() {
            let mut key = GroupKey::default();
            for (f, values) in &columns {
                let v = values[row].clone();
                match f {
                    FlowField::SourceType => key.source_type = v,
                    FlowField::SourceNamespace => key.source_namespace = v,
                    FlowField::SourceNameAggr => key.source_name_aggr = v,
                    FlowField::DestType => key.dest_type = v,
                    FlowField::DestNamespace => key.dest_namespace = v,
                    FlowField::DestNameAggr => key.dest_name_aggr = v,
                    FlowField::DestServiceNamespace => key.dest_service_namespace = v,
                    FlowField::DestServiceName => key.dest_service_name = v,
                    FlowField::Proto => key.proto = v,
                    FlowField::DestPort => key.dest_port = v.map(|p| p.parse().unwrap()),
                    FlowField::Action => key.action = v.as_deref().and_then(Action::parse),
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
            crate::summaries::hash_grouping::COLLIDE
                .store(collide, std::sync::atomic::Ordering::Relaxed);
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
                    let mut query = FlowSearch::new(crate::TimeRange::all());
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
        crate::summaries::hash_grouping::COLLIDE.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}
