//! Policy aggregates (`GroupBy::Policy`, `GroupBy::PolicyRule`) from rows: per hit id sums
//! over the flows matching a query, summed on every partition of the scan at once, then
//! turned into policy or rule rows.

use crate::error::{Result, StoreError};
use crate::files::hit_dictionary::HitDictionary;
use crate::query::parallel::fold_partitions;
use crate::query::plan::{column, filtered};
use crate::query::ranking::finish;
use crate::schema::{ENFORCED_IDS, PENDING_IDS};
use crate::summaries::hit_sums::{ID_SUM_COLUMNS, IdSums, add_hit_sums, add_sums};
use crate::types::{AggregateRow, FlowSearch, GroupBy, GroupKey};
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{Expr, col};
use flowlens_model::FlowField;
use flowlens_model::{HitAction, PolicyHit};

/// Adds up, per hit id, the flows matching `query`: each partition of the scan is summed on
/// its own task into a dense vector, then the vectors are merged. Integer ids instead of
/// hit strings make this several times faster than unnesting and grouping the strings.
/// `known_ids` sizes the vectors up front.
pub(crate) async fn sums_per_hit_id(
    df: DataFrame,
    query: &FlowSearch,
    known_ids: usize,
) -> Result<Vec<IdSums>> {
    let mut projection: Vec<Expr> = ID_SUM_COLUMNS.iter().map(|f| column(*f)).collect();
    projection.push(column(FlowField::Action));
    projection.push(col(ENFORCED_IDS));
    projection.push(col(PENDING_IDS));
    let df = filtered(df, query)?.select(projection)?;
    let parts = fold_partitions(df, || vec![IdSums::default(); known_ids], add_hit_sums).await?;
    let mut total: Vec<IdSums> = vec![IdSums::default(); known_ids];
    for sums in &parts {
        add_sums(&mut total, sums);
    }
    Ok(total)
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
    query: &FlowSearch,
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
