//! The [`Store`] trait: what the rest of Flowlens asks of flow-log storage, whichever backend
//! (embedded Parquet here, ClickHouse later) answers.
//!
//! The trait is object-safe through `async_trait` (boxed futures), so servers hold an
//! `Arc<dyn Store>` and pick the backend at start-up.

use crate::encode::FlowBatch;
use crate::error::{Result, StoreError};
use crate::query::{
    AggregateRow, AppendReceipt, FlowPage, FlowQuery, GroupBy, PolicyFilter, PolicyMetricRow,
    StoreStats, TimeRange,
};
use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use flowlens_model::{FlowLog, FlowTuple};
use std::collections::BTreeMap;

#[async_trait]
pub trait Store: Send + Sync {
    /// Stores `logs`. When this returns `Ok`, they survive a crash (`kill -9`, power loss
    /// with honest disks) and are visible to queries.
    async fn append(&self, logs: Vec<FlowLog>) -> Result<AppendReceipt> {
        self.append_batch(FlowBatch::from_logs(&logs)?).await
    }

    /// Stores flow logs already encoded (possibly on another thread), with the same promise
    /// as [`append`](Store::append).
    async fn append_batch(&self, batch: FlowBatch) -> Result<AppendReceipt>;

    /// One page of flow logs matching `query`, with the total count and a continuation.
    async fn query_flows(&self, query: &FlowQuery) -> Result<FlowPage>;

    /// Flows matching `query` grouped by `group_by`, largest `num_flows` first.
    async fn aggregate(&self, query: &FlowQuery, group_by: GroupBy) -> Result<Vec<AggregateRow>>;

    /// The Policy Board's per-policy and per-rule numbers over `time`, for every policy or
    /// only those matching `policy`. Each policy's total row (`rule: None`) comes first,
    /// followed by its rules.
    async fn policy_metrics(
        &self,
        time: &TimeRange,
        policy: Option<&PolicyFilter>,
    ) -> Result<Vec<PolicyMetricRow>> {
        let query = FlowQuery::new(*time);
        let rows = self.aggregate(&query, GroupBy::PolicyRule).await?;
        Ok(policy_metrics_from_rules(&rows, policy))
    }

    /// The flows matching `query` grouped into distinct tuples of everything policy
    /// evaluation looks at (both ends' ip, name, name_aggr, namespace, type and labels,
    /// proto, dest_port, reporter, action) with their flow-log and `num_flows` counts, in no
    /// particular order. The source port is part of the tuple only when `source_ports` is
    /// true. `sort`, `limit` and paging of the query are ignored.
    async fn flow_tuples(&self, _query: &FlowQuery, _source_ports: bool) -> Result<Vec<FlowTuple>> {
        Err(StoreError::NotSupported("flow tuples"))
    }

    /// The smallest and largest stored `end_time`, or `None` when empty.
    async fn time_bounds(&self) -> Result<Option<(i64, i64)>>;

    async fn stats(&self) -> Result<StoreStats>;

    /// Moves buffered records to long-term storage (for the embedded store: Parquet).
    async fn flush(&self) -> Result<()>;

    /// Runs SQL over a table named `flows`. Only embedded stores offer this.
    async fn sql(&self, _sql: &str) -> Result<Vec<RecordBatch>> {
        Err(StoreError::NotSupported("SQL"))
    }
}

/// Rolls rule rows (from [`GroupBy::PolicyRule`]) up into policy totals followed by their
/// rules.
pub fn policy_metrics_from_rules(
    rows: &[AggregateRow],
    filter: Option<&PolicyFilter>,
) -> Vec<PolicyMetricRow> {
    type PolicyId = (
        String,
        Option<String>,
        String,
        Option<flowlens_model::PolicyKind>,
    );
    let mut policies: BTreeMap<PolicyId, (PolicyMetricRow, BTreeMap<i32, PolicyMetricRow>)> =
        BTreeMap::new();
    for row in rows {
        let k = &row.key;
        let (Some(tier), Some(name)) = (&k.tier, &k.policy_name) else {
            continue;
        };
        if let Some(f) = filter {
            let ok = f.tier.as_ref().is_none_or(|t| t == tier)
                && f.name.as_ref().is_none_or(|n| n == name)
                && f.namespace
                    .as_ref()
                    .is_none_or(|ns| Some(ns) == k.policy_namespace.as_ref())
                && f.kind.is_none_or(|kind| Some(kind) == k.kind)
                && f.action.is_none_or(|a| Some(a) == k.hit_action)
                && f.rule.is_none_or(|r| Some(r) == k.rule);
            if !ok {
                continue;
            }
        }
        let id = (
            tier.clone(),
            k.policy_namespace.clone(),
            name.clone(),
            k.kind,
        );
        let blank = |rule: Option<i32>| PolicyMetricRow {
            tier: tier.clone(),
            kind: k.kind,
            namespace: k.policy_namespace.clone(),
            name: name.clone(),
            rule,
            ..PolicyMetricRow::default()
        };
        let (total, rules) = policies
            .entry(id)
            .or_insert_with(|| (blank(None), BTreeMap::new()));
        let rule_index = k.rule.unwrap_or(-1);
        let rule = rules
            .entry(rule_index)
            .or_insert_with(|| blank(Some(rule_index)));
        for target in [total, rule] {
            target.connections += row.hits_allowed + row.hits_denied + row.hits_passed;
            target.allowed += row.hits_allowed;
            target.denied += row.hits_denied;
            target.passed += row.hits_passed;
            target.pending_connections += row.pending_num_flows;
            target.pending_allowed += row.pending_allowed;
            target.pending_denied += row.pending_denied;
            target.pending_passed += row.pending_passed;
        }
    }
    policies
        .into_values()
        .flat_map(|(total, rules)| std::iter::once(total).chain(rules.into_values()))
        .collect()
}
