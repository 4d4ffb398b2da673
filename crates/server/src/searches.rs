//! The store searches the flow endpoints make of their query strings, defaults included.
//! Public so that benchmarks time the searches the API runs rather than a copy of them.

use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use flowlens_model::FlowField;
use flowlens_store::{FlowSearch, GroupBy, SortKey};

/// `/api/flows`: a page of flows, newest first unless the request sorts them.
pub fn flows(p: &Params, now: i64) -> ApiResult<FlowSearch> {
    Ok(newest_first(p.flow_search(p.time_range(now)?)?))
}

fn newest_first(mut query: FlowSearch) -> FlowSearch {
    if query.sort.is_empty() {
        query.sort.push(SortKey::desc(FlowField::EndTime));
    }
    query
}

/// `/api/flows?include=connections`: the grouping that counts the connections in the flow
/// logs a page's search matches, in the unit the graph and the Policy Board count: each
/// connection once (a connection between two cluster endpoints is logged by both), unless the
/// search picks records by policy or reporter, whose records are per endpoint already (a
/// policy's hits are counted on the record of the endpoint it applies to).
pub fn connections(query: &FlowSearch) -> (FlowSearch, GroupBy) {
    let per_endpoint =
        query.policy.is_some() || query.filters.iter().any(|f| f.field == FlowField::Reporter);
    let mut totals = FlowSearch::new(query.time);
    totals.filters.clone_from(&query.filters);
    totals.source_selector.clone_from(&query.source_selector);
    totals.dest_selector.clone_from(&query.dest_selector);
    totals.policy.clone_from(&query.policy);
    totals.connections_once = !per_endpoint;
    (totals, GroupBy::Action)
}

/// `/api/aggregates`: the grouping `group_by` names and its search.
pub fn aggregate(p: &Params, now: i64) -> ApiResult<(FlowSearch, GroupBy)> {
    let group_by = match p.get("group_by") {
        Some("namespace_pair") => GroupBy::NamespacePair,
        Some("name_pair") => GroupBy::NamePair,
        Some("edge") => GroupBy::Edge,
        Some("service_edge") => GroupBy::ServiceEdge,
        Some("action") => GroupBy::Action,
        Some("policy") => GroupBy::Policy,
        Some("policy_rule") => GroupBy::PolicyRule,
        other => {
            return Err(ApiError::bad_request(format!(
                "group_by={:?}: expected namespace_pair, name_pair, edge, service_edge, action, policy or policy_rule",
                other.unwrap_or("")
            )));
        }
    };
    let mut query = p.flow_search(p.time_range(now)?)?;
    // Policy hits are per endpoint (egress at the source's record, ingress at the
    // destination's), so policy groupings need every record.
    query.connections_once = !group_by.is_policy() && p.connections_once()?;
    Ok((query, group_by))
}

/// `/api/graph`: the search whose service edges (`GroupBy::ServiceEdge`) make the graph.
pub fn graph(p: &Params, now: i64) -> ApiResult<FlowSearch> {
    let mut query = p.flow_search(p.time_range(now)?)?;
    query.connections_once = p.connections_once()?;
    Ok(query)
}

/// `/api/policies` and `/api/policy`: the window whose flows
/// [`Store::policy_metrics`](flowlens_store::Store::policy_metrics) sums for the Policy Board,
/// every flow in it.
pub fn board(p: &Params, now: i64) -> ApiResult<FlowSearch> {
    Ok(FlowSearch::new(p.time_range(now)?))
}
