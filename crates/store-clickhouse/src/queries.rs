//! The [`Store`] trait answered by ClickHouse: each typed query becomes one or two SQL
//! queries, and their rows the answers the embedded store gives (same order, same ties,
//! same errors).

use crate::filters::{column, row_conditions, time_conditions, where_clause};
use crate::paging::{after_token, effective_sort, encode_token, order_by};
use crate::rows::{self, StoredFlow, column_list};
use crate::schema::{FLOWS, HIT_KEY, HOUR, POLICY_HITS_HOURLY};
use crate::sql::all_of;
use crate::store::ClickHouseStore;
use async_trait::async_trait;
use flowlens_model::{FlowEnd, FlowField, FlowTuple, HitAction, PolicyHit, PolicyKind, Reporter};
use flowlens_store::{
    AggregateRow, AppendReceipt, DEFAULT_LIMIT, FlowBatch, FlowPage, FlowSearch, GroupBy, GroupKey,
    HitCounts, MAX_AGGREGATE_ROWS, MAX_LIMIT, PolicyMetrics, ReadMark, Result, Store, StoreError,
    StoreStats, TimeRange,
};
use std::collections::{BTreeMap, HashMap};

#[async_trait]
impl Store for ClickHouseStore {
    async fn append_batch(&self, batch: FlowBatch) -> Result<AppendReceipt> {
        self.append_rows(batch).await
    }

    async fn query_flows(&self, query: &FlowSearch) -> Result<FlowPage> {
        flow_page(self, query).await
    }

    async fn aggregate(&self, query: &FlowSearch, group_by: GroupBy) -> Result<Vec<AggregateRow>> {
        if group_by.is_policy() {
            policy_aggregate(self, query, group_by).await
        } else {
            traffic_aggregate(self, query, group_by).await
        }
    }

    async fn policy_metrics(&self, query: &FlowSearch) -> Result<Vec<PolicyMetrics>> {
        policy_metrics(self, query).await
    }

    async fn flow_tuples(&self, query: &FlowSearch, source_ports: bool) -> Result<Vec<FlowTuple>> {
        flow_tuples(self, query, source_ports).await
    }

    async fn time_bounds(&self) -> Result<Option<(i64, i64)>> {
        let (min, max, rows): (i64, i64, u64) = self
            .fetch_one(
                "reading the time bounds",
                &format!("SELECT min(end_time), max(end_time), count() FROM {FLOWS}"),
            )
            .await?;
        Ok((rows > 0).then_some((min, max)))
    }

    async fn stats(&self) -> Result<StoreStats> {
        let records: u64 = self
            .fetch_one(
                "counting flow logs",
                &format!("SELECT count() FROM {FLOWS}"),
            )
            .await?;
        let (parts, bytes): (u64, u64) = self
            .fetch_one(
                "reading the table's parts",
                &format!(
                    "SELECT count(), sum(bytes_on_disk) FROM system.parts WHERE active \
                     AND database = {} AND table = '{FLOWS}'",
                    crate::sql::quote(self.config().database())
                ),
            )
            .await?;
        Ok(StoreStats {
            records,
            buffered_records: 0,
            files: parts as usize,
            bytes_on_disk: bytes,
            wal_bytes: 0,
            quarantined: Vec::new(),
            // The server's own memory is ClickHouse's to report (system.metrics).
            query_memory_bytes: None,
        })
    }

    async fn read_marks(&self) -> Result<Vec<ReadMark>> {
        crate::marks::read_marks(self).await
    }

    /// Nothing is buffered: an append returns once ClickHouse has the rows.
    async fn flush(&self) -> Result<()> {
        Ok(())
    }
}

async fn flow_page(store: &ClickHouseStore, query: &FlowSearch) -> Result<FlowPage> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(crate::sql::invalid(format!(
            "limit must be 1..={MAX_LIMIT}, not {limit}"
        )));
    }
    let keys = effective_sort(query)?;
    let past = query
        .page_token
        .as_deref()
        .map(|token| after_token(&keys, token))
        .transpose()?;
    let matching = where_clause(query)?;
    let skip = if query.page_token.is_some() {
        0
    } else {
        query.offset
    };
    // The filter runs twice, over few columns: once counting every match, once ranking
    // the matches past the token by their sort keys; only the page's rows are read whole.
    let count_sql = format!("SELECT count() FROM {FLOWS} WHERE {matching}");
    let ranked_sql = format!(
        "SELECT record_id, end_time FROM {FLOWS} WHERE {matching}{} ORDER BY {} LIMIT {skip}, {}",
        past.map(|p| format!(" AND {p}")).unwrap_or_default(),
        order_by(&keys),
        limit + 1
    );
    let (total, ranked) = tokio::try_join!(
        store.fetch_one::<u64>("counting flow logs", &count_sql),
        store.fetch_all::<(u64, i64)>("ranking flow logs", &ranked_sql),
    )?;
    let has_more = ranked.len() > limit;
    let page: &[(u64, i64)] = &ranked[..ranked.len().min(limit)];
    let mut rows: HashMap<u64, StoredFlow> = HashMap::new();
    if let (Some(from), Some(to)) = (
        page.iter().map(|r| r.1).min(),
        page.iter().map(|r| r.1).max(),
    ) {
        let ids: Vec<String> = page.iter().map(|r| r.0.to_string()).collect();
        let rows_sql = format!(
            "SELECT {} FROM {FLOWS} WHERE end_time >= {from} AND end_time <= {to} \
             AND record_id IN ({})",
            column_list(),
            ids.join(", ")
        );
        for row in store
            .fetch_all::<StoredFlow>("reading flow logs", &rows_sql)
            .await?
        {
            rows.entry(row.record_id).or_insert(row);
        }
    }
    let mut flows = Vec::with_capacity(page.len());
    let mut record_ids = Vec::with_capacity(page.len());
    let mut last: Option<&StoredFlow> = None;
    for (id, _) in page {
        // A row gone since it was ranked (retention dropped its day) is left out.
        if let Some(row) = rows.get(id) {
            flows.push(row.to_flow_log()?);
            record_ids.push(*id);
            last = Some(row);
        }
    }
    let next_page_token = match (has_more, last) {
        (true, Some(row)) => Some(encode_token(
            &keys,
            keys.iter()
                .map(|k| row.sort_value(k.field))
                .collect::<Result<Vec<_>>>()?,
        )?),
        _ => None,
    };
    Ok(FlowPage {
        flows,
        record_ids,
        total,
        next_page_token,
    })
}

/// The seconds rates are per: the query window, clipped to the stored data when open (as
/// the embedded store's `ranking::window_seconds`).
fn window_seconds(range: &TimeRange, bounds: Option<(i64, i64)>) -> f64 {
    let Some((lo, hi)) = bounds else {
        return 1.0;
    };
    let from = range.from.max(lo);
    let to = range.to.min(hi.saturating_add(1));
    (to.saturating_sub(from)).max(1) as f64
}

fn set_rates(rows: &mut [AggregateRow], window_seconds: f64) {
    let w = window_seconds.max(1.0);
    for row in rows {
        row.connections_per_second = row.num_flows_started as f64 / w;
        row.packets_per_second = (row.packets_in + row.packets_out) as f64 / w;
        row.bits_per_second = 8.0 * (row.bytes_in + row.bytes_out) as f64 / w;
    }
}

fn row_limit(query: &FlowSearch) -> usize {
    query
        .limit
        .unwrap_or(MAX_AGGREGATE_ROWS)
        .min(MAX_AGGREGATE_ROWS)
}

#[derive(clickhouse::Row, serde::Deserialize, Debug)]
struct GroupRow {
    source_type: Option<String>,
    source_namespace: Option<String>,
    source_name_aggr: Option<String>,
    dest_type: Option<String>,
    dest_namespace: Option<String>,
    dest_name_aggr: Option<String>,
    dest_service_namespace: Option<String>,
    dest_service_name: Option<String>,
    proto: Option<String>,
    dest_port: Option<i32>,
    action: Option<String>,
    records: u64,
    num_flows: u64,
    num_flows_started: u64,
    num_flows_completed: u64,
    packets_in: u64,
    packets_out: u64,
    bytes_in: u64,
    bytes_out: u64,
    allowed_flows: u64,
    denied_flows: u64,
}

async fn traffic_aggregate(
    store: &ClickHouseStore,
    query: &FlowSearch,
    group_by: GroupBy,
) -> Result<Vec<AggregateRow>> {
    let fields = group_by.fields();
    let matching = where_clause(query)?;
    // Every column a `GroupKey` can hold (the service edge's), in its order: what a
    // grouping's rows carry, null where the grouping does not use them.
    let keys: Vec<String> = GroupBy::ServiceEdge
        .fields()
        .iter()
        .map(|&f| {
            let null_type = if f == FlowField::DestPort {
                "Nullable(Int32)"
            } else {
                "Nullable(String)"
            };
            if fields.contains(&f) {
                format!("toNullable({})", column(f))
            } else {
                format!("CAST(NULL AS {null_type})")
            }
        })
        .collect();
    // Largest first, ties in key order with absent values first (as `GroupKey` orders).
    let mut order = vec!["agg_flows DESC".to_string()];
    order.extend(
        fields
            .iter()
            .map(|f| format!("{} ASC NULLS FIRST", column(*f))),
    );
    let sql = format!(
        "SELECT {}, count(), sum(num_flows) AS agg_flows, sum(num_flows_started), \
         sum(num_flows_completed), sum(packets_in), sum(packets_out), sum(bytes_in), \
         sum(bytes_out), sumIf(num_flows, action = 'allow'), sumIf(num_flows, action = 'deny') \
         FROM {FLOWS} WHERE {matching} GROUP BY {} ORDER BY {} LIMIT {}",
        keys.join(", "),
        fields
            .iter()
            .map(|f| column(*f))
            .collect::<Vec<_>>()
            .join(", "),
        order.join(", "),
        row_limit(query)
    );
    let (groups, bounds) = tokio::try_join!(
        store.fetch_all::<GroupRow>("grouping flow logs", &sql),
        store.time_bounds(),
    )?;
    let mut rows = groups
        .into_iter()
        .map(|g| {
            Ok(AggregateRow {
                key: GroupKey {
                    source_type: g.source_type,
                    source_namespace: g.source_namespace,
                    source_name_aggr: g.source_name_aggr,
                    dest_type: g.dest_type,
                    dest_namespace: g.dest_namespace,
                    dest_name_aggr: g.dest_name_aggr,
                    dest_service_namespace: g.dest_service_namespace,
                    dest_service_name: g.dest_service_name,
                    proto: g.proto,
                    dest_port: g.dest_port.and_then(|p| u16::try_from(p).ok()),
                    action: g.action.as_deref().and_then(flowlens_model::Action::parse),
                    ..GroupKey::default()
                },
                records: g.records,
                num_flows: g.num_flows,
                num_flows_started: g.num_flows_started,
                num_flows_completed: g.num_flows_completed,
                packets_in: g.packets_in,
                packets_out: g.packets_out,
                bytes_in: g.bytes_in,
                bytes_out: g.bytes_out,
                allowed_flows: g.allowed_flows,
                denied_flows: g.denied_flows,
                ..AggregateRow::default()
            })
        })
        .collect::<Result<Vec<_>>>()?;
    set_rates(&mut rows, window_seconds(&query.time, bounds));
    Ok(rows)
}

/// Per-hit sums over the enforced traces of the matching flow logs.
#[derive(clickhouse::Row, serde::Deserialize, Debug, Default, Clone)]
struct HitSums {
    key: String,
    records: u64,
    num_flows: u64,
    num_flows_started: u64,
    num_flows_completed: u64,
    allowed_flows: u64,
    denied_flows: u64,
}

/// The parsed hit of a key, or the embedded store's error for a stored text that is none.
fn hit_of(key: &str) -> Result<PolicyHit> {
    PolicyHit::parse(&format!("0|{key}"))
        .map_err(|_| StoreError::InvalidRecord(format!("policy hit {key:?} is not a valid hit")))
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

/// What names a policy: tier, kind, namespace, name.
type PolicyIdent = (String, Option<PolicyKind>, Option<String>, String);

fn ident(hit: &PolicyHit) -> PolicyIdent {
    (
        hit.tier.clone(),
        hit.kind,
        hit.namespace.clone(),
        hit.name.clone(),
    )
}

async fn policy_aggregate(
    store: &ClickHouseStore,
    query: &FlowSearch,
    group_by: GroupBy,
) -> Result<Vec<AggregateRow>> {
    let matching = where_clause(query)?;
    let enforced_sql = format!(
        "SELECT {HIT_KEY} AS hit_key, count(), sum(num_flows), sum(num_flows_started), \
         sum(num_flows_completed), sumIf(num_flows, action = 'allow'), \
         sumIf(num_flows, action = 'deny') \
         FROM {FLOWS} ARRAY JOIN policies_enforced AS hit WHERE {matching} GROUP BY hit_key"
    );
    let pending_sql = format!(
        "SELECT {HIT_KEY} AS hit_key, sum(num_flows) \
         FROM {FLOWS} ARRAY JOIN policies_pending AS hit WHERE {matching} GROUP BY hit_key"
    );
    let (enforced, pending, bounds) = tokio::try_join!(
        store.fetch_all::<HitSums>("summing policy hits", &enforced_sql),
        store.fetch_all::<(String, u64)>("summing pending policy hits", &pending_sql),
        store.time_bounds(),
    )?;
    // Per hit key: the enforced sums and the pending `num_flows`.
    let mut sums: BTreeMap<String, (HitSums, u64)> = BTreeMap::new();
    for s in enforced {
        let key = s.key.clone();
        sums.entry(key).or_default().0 = s;
    }
    for (key, flows) in pending {
        sums.entry(key).or_default().1 += flows;
    }
    let rule_level = group_by == GroupBy::PolicyRule;
    let mut groups: HashMap<PolicyIdent, AggregateRow> = HashMap::new();
    let mut rules: Vec<AggregateRow> = Vec::new();
    for (key, (s, pending)) in &sums {
        if s.records == 0 && *pending == 0 {
            continue;
        }
        let hit = hit_of(key)?;
        let row = if rule_level {
            rules.push(AggregateRow {
                key: policy_key(&hit, group_by),
                ..AggregateRow::default()
            });
            rules.last_mut().expect("just pushed")
        } else {
            groups.entry(ident(&hit)).or_insert_with(|| AggregateRow {
                key: policy_key(&hit, group_by),
                ..AggregateRow::default()
            })
        };
        row.records += s.records;
        row.num_flows += s.num_flows;
        row.num_flows_started += s.num_flows_started;
        row.num_flows_completed += s.num_flows_completed;
        row.allowed_flows += s.allowed_flows;
        row.denied_flows += s.denied_flows;
        row.pending_num_flows += pending;
        let (hits, pending_hits) = match hit.action {
            HitAction::Allow => (&mut row.hits_allowed, &mut row.pending_allowed),
            HitAction::Deny => (&mut row.hits_denied, &mut row.pending_denied),
            HitAction::Pass => (&mut row.hits_passed, &mut row.pending_passed),
        };
        *hits += s.num_flows;
        *pending_hits += pending;
    }
    let mut rows: Vec<AggregateRow> = if rule_level {
        rules
    } else {
        groups.into_values().collect()
    };
    // As the embedded store's `ranking::finish`: busiest first, then pending, then key.
    rows.sort_by(|a, b| {
        b.num_flows
            .cmp(&a.num_flows)
            .then(b.pending_num_flows.cmp(&a.pending_num_flows))
            .then_with(|| a.key.cmp(&b.key))
    });
    rows.truncate(row_limit(query));
    set_rates(&mut rows, window_seconds(&query.time, bounds));
    Ok(rows)
}

/// The hours wholly inside `range` (`[first, end)`, whole hours), when there is one.
fn whole_hours(range: &TimeRange) -> Option<(i64, i64)> {
    let first = range
        .from
        .div_euclid(HOUR)
        .saturating_add(i64::from(range.from.rem_euclid(HOUR) != 0));
    let first = first.saturating_mul(HOUR);
    let end = range.to.div_euclid(HOUR).saturating_mul(HOUR);
    (first < end).then_some((first, end))
}

async fn policy_metrics(store: &ClickHouseStore, query: &FlowSearch) -> Result<Vec<PolicyMetrics>> {
    // (reporter, hit key) → [enforced, pending] `num_flows`.
    let mut sums: BTreeMap<(Reporter, String), [u64; 2]> = BTreeMap::new();
    let narrowed = !row_conditions(query)?.is_empty();
    match whole_hours(&query.time) {
        // Only time narrows the flow logs: the whole hours come from the rollup, the rest
        // of the window (its ragged ends) from the rows.
        Some((first, end)) if !narrowed => {
            let rolled_up = format!(
                "SELECT reporter, hit_key, sum(enforced), sum(pending) FROM {POLICY_HITS_HOURLY} \
                 WHERE hour >= {first} AND hour < {end} GROUP BY reporter, hit_key"
            );
            let rows: Vec<(String, String, u64, u64)> = store
                .fetch_all("reading the policy-hit rollup", &rolled_up)
                .await?;
            for (reporter, key, enforced, pending) in rows {
                let sum = sums.entry((rows::reporter(&reporter)?, key)).or_default();
                sum[0] += enforced;
                sum[1] += pending;
            }
            let before = all_of(&time_conditions(&TimeRange::new(query.time.from, first)));
            let after = all_of(&time_conditions(&TimeRange::new(end, query.time.to)));
            raw_hit_sums(store, &format!("({before}) OR ({after})"), &mut sums).await?;
        }
        _ => raw_hit_sums(store, &where_clause(query)?, &mut sums).await?,
    }
    let mut policies: HashMap<PolicyIdent, PolicyMetrics> = HashMap::new();
    for ((reporter, key), s) in &sums {
        if *s == [0, 0] {
            continue;
        }
        let hit = hit_of(key)?;
        let m = policies
            .entry(ident(&hit))
            .or_insert_with(|| PolicyMetrics {
                tier: hit.tier.clone(),
                kind: hit.kind,
                namespace: hit.namespace.clone(),
                name: hit.name.clone(),
                ..PolicyMetrics::default()
            });
        let c = counts(hit.action, *s);
        m.total.add(&c);
        let rules = match reporter.rule_direction() {
            flowlens_model::RuleDirection::Ingress => &mut m.ingress,
            flowlens_model::RuleDirection::Egress => &mut m.egress,
        };
        rules.entry(hit.rule).or_default().add(&c);
    }
    let mut out: Vec<PolicyMetrics> = policies.into_values().collect();
    out.sort_by(|a, b| {
        (&a.tier, &a.namespace, &a.name, a.kind).cmp(&(&b.tier, &b.namespace, &b.name, b.kind))
    });
    Ok(out)
}

/// Adds the enforced and pending `num_flows` per reporter and hit key of the flow logs
/// `matching` to `sums`.
async fn raw_hit_sums(
    store: &ClickHouseStore,
    matching: &str,
    sums: &mut BTreeMap<(Reporter, String), [u64; 2]>,
) -> Result<()> {
    let sql = |list: &str| {
        format!(
            "SELECT reporter, {HIT_KEY} AS hit_key, sum(num_flows) FROM {FLOWS} \
             ARRAY JOIN {list} AS hit WHERE {matching} GROUP BY reporter, hit_key"
        )
    };
    let (enforced_sql, pending_sql) = (
        sql(column(FlowField::PoliciesEnforced)),
        sql(column(FlowField::PoliciesPending)),
    );
    let (enforced, pending) = tokio::try_join!(
        store.fetch_all::<(String, String, u64)>("summing policy hits", &enforced_sql),
        store.fetch_all::<(String, String, u64)>("summing pending policy hits", &pending_sql),
    )?;
    for (slot, rows) in [(0, enforced), (1, pending)] {
        for (reporter, key, flows) in rows {
            let reporter = rows::reporter(&reporter)?;
            sums.entry((reporter, key)).or_default()[slot] += flows;
        }
    }
    Ok(())
}

/// The counts of a hit whose action is `action`, from its enforced and pending `num_flows`.
fn counts(action: HitAction, [flows, pending]: [u64; 2]) -> HitCounts {
    let mut c = HitCounts {
        connections: flows,
        pending_connections: pending,
        ..HitCounts::default()
    };
    let (hits, pending_hits) = match action {
        HitAction::Allow => (&mut c.allowed, &mut c.pending_allowed),
        HitAction::Deny => (&mut c.denied, &mut c.pending_denied),
        HitAction::Pass => (&mut c.passed, &mut c.pending_passed),
    };
    *hits = flows;
    *pending_hits = pending;
    c
}

#[derive(clickhouse::Row, serde::Deserialize, Debug)]
struct TupleRow {
    source_ip: Option<String>,
    source_name: Option<String>,
    source_name_aggr: String,
    source_namespace: Option<String>,
    source_port: Option<i32>,
    source_type: Option<String>,
    source_labels: Vec<String>,
    dest_ip: Option<String>,
    dest_name: Option<String>,
    dest_name_aggr: String,
    dest_namespace: Option<String>,
    dest_port: Option<i32>,
    dest_type: Option<String>,
    dest_labels: Vec<String>,
    proto: String,
    reporter: String,
    action: String,
    flow_logs: u64,
    num_flows: u64,
}

async fn flow_tuples(
    store: &ClickHouseStore,
    query: &FlowSearch,
    source_ports: bool,
) -> Result<Vec<FlowTuple>> {
    use FlowField as F;
    let matching = where_clause(query)?;
    let grouped: Vec<FlowField> = [
        F::SourceIp,
        F::SourceName,
        F::SourceNameAggr,
        F::SourceNamespace,
        F::SourcePort,
        F::SourceType,
        F::SourceLabels,
        F::DestIp,
        F::DestName,
        F::DestNameAggr,
        F::DestNamespace,
        F::DestPort,
        F::DestType,
        F::DestLabels,
        F::Proto,
        F::Reporter,
        F::Action,
    ]
    .into_iter()
    .filter(|f| source_ports || *f != F::SourcePort)
    .collect();
    let selected: Vec<String> = grouped
        .iter()
        .map(|f| f.column().to_string())
        .collect::<Vec<_>>();
    let mut selected_all = selected.clone();
    if !source_ports {
        // The row keeps a place for the source port.
        let at = grouped
            .iter()
            .position(|f| *f == F::SourceNamespace)
            .map_or(0, |i| i + 1);
        selected_all.insert(at, "CAST(NULL AS Nullable(Int32))".to_string());
    }
    let sql = format!(
        "SELECT {}, count(), sum(num_flows) FROM {FLOWS} WHERE {matching} GROUP BY {}",
        selected_all.join(", "),
        selected.join(", ")
    );
    let rows = store
        .fetch_all::<TupleRow>("grouping flow tuples", &sql)
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(FlowTuple {
                source: FlowEnd {
                    ip: rows::ip(F::SourceIp, r.source_ip.as_deref())?,
                    name: r.source_name,
                    name_aggr: r.source_name_aggr,
                    namespace: r.source_namespace,
                    port: rows::port(F::SourcePort, r.source_port)?,
                    endpoint_type: rows::endpoint_type(F::SourceType, r.source_type.as_deref())?,
                    labels: rows::labels(F::SourceLabels, &r.source_labels)?,
                },
                dest: FlowEnd {
                    ip: rows::ip(F::DestIp, r.dest_ip.as_deref())?,
                    name: r.dest_name,
                    name_aggr: r.dest_name_aggr,
                    namespace: r.dest_namespace,
                    port: rows::port(F::DestPort, r.dest_port)?,
                    endpoint_type: rows::endpoint_type(F::DestType, r.dest_type.as_deref())?,
                    labels: rows::labels(F::DestLabels, &r.dest_labels)?,
                },
                proto: rows::proto(&r.proto)?,
                reporter: rows::reporter(&r.reporter)?,
                action: rows::action(&r.action)?,
                flow_logs: r.flow_logs,
                num_flows: r.num_flows,
            })
        })
        .collect()
}
