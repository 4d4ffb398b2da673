//! The Policy Board's numbers: per policy, its hits in all and per direction and rule.
//!
//! A hit carries no direction, but the flow log holding it does: egress policy is evaluated
//! at the source, so egress hits are in `reporter=src` flow logs, ingress hits in
//! `reporter=dst` ones. One pass over the flows sums, per reporter and hit id, the
//! `num_flows` of the flow logs whose enforced trace holds the id and of those whose pending
//! trace does; the hit dictionary then turns ids into policies, actions and rules. The hit
//! rollups keep these sums too, so the whole hours of a range are read from them
//! (`query/from_rollups.rs`).

use crate::error::{Result, StoreError};
use crate::files::hit_dictionary::{HitDictionary, NO_POLICY};
use crate::query::parallel::fold_partitions;
use crate::query::plan::{column, filtered};
use crate::schema::{ENFORCED_IDS, PENDING_IDS};
use crate::summaries::reporter_sums::{ReporterSums, add_reporter_sums, add_reporter_totals};
use crate::types::{FlowSearch, HitCounts, PolicyMetrics};
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::col;
use flowlens_model::FlowField;
use flowlens_model::{HitAction, Reporter};

const REPORTERS: [Reporter; 2] = [Reporter::Src, Reporter::Dst];

/// Sums the flows matching `query` per reporter and hit id, each partition of the scan on a
/// task of its own. `known_ids` sizes the sums up front.
pub(crate) async fn sums_per_reporter(
    df: DataFrame,
    query: &FlowSearch,
    known_ids: usize,
) -> Result<ReporterSums> {
    let df = filtered(df, query)?.select(vec![
        column(FlowField::NumFlows),
        column(FlowField::Reporter),
        col(ENFORCED_IDS),
        col(PENDING_IDS),
    ])?;
    let empty = || [vec![[0; 2]; known_ids], vec![[0; 2]; known_ids]];
    let mut total = empty();
    for part in fold_partitions(df, empty, add_reporter_sums).await? {
        add_reporter_totals(&mut total, &part);
    }
    Ok(total)
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

/// Turns per-reporter sums into each policy's metrics, ordered by tier, namespace, name and
/// kind.
pub(crate) fn metrics(sums: &ReporterSums, dict: &HitDictionary) -> Result<Vec<PolicyMetrics>> {
    // Policy number → its metrics.
    let mut policies: Vec<Option<PolicyMetrics>> = vec![None; dict.policy_count()];
    for (reporter, sums) in REPORTERS.into_iter().zip(sums) {
        let direction = reporter.rule_direction();
        for (id, &s) in (0u32..).zip(sums.iter()) {
            if s == [0, 0] {
                continue;
            }
            let unknown = || {
                StoreError::invalid_record(format!(
                    "policy hit id {id} is unknown or not a valid hit"
                ))
            };
            let hit = dict.hit(id).ok_or_else(unknown)?;
            let policy = dict.policy_of(id);
            if policy == NO_POLICY {
                return Err(unknown());
            }
            let m = policies
                .get_mut(policy as usize)
                .ok_or_else(unknown)?
                .get_or_insert_with(|| PolicyMetrics {
                    tier: hit.tier.clone(),
                    kind: hit.kind,
                    namespace: hit.namespace.clone(),
                    name: hit.name.clone(),
                    ..PolicyMetrics::default()
                });
            let c = counts(hit.action, s);
            m.total.add(&c);
            let rules = match direction {
                flowlens_model::RuleDirection::Ingress => &mut m.ingress,
                flowlens_model::RuleDirection::Egress => &mut m.egress,
            };
            rules.entry(hit.rule).or_default().add(&c);
        }
    }
    let mut out: Vec<PolicyMetrics> = policies.into_iter().flatten().collect();
    out.sort_by(|a, b| {
        (&a.tier, &a.namespace, &a.name, a.kind).cmp(&(&b.tier, &b.namespace, &b.name, b.kind))
    });
    Ok(out)
}
