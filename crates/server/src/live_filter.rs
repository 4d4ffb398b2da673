//! Filters for live flows, applied in memory to each flow as it is stored, with the same
//! meaning as the store's query filters (see [`flowlens_store::FilterOp`]).

use flowlens_model::{FlowField, FlowLog};
use flowlens_pipeline::encode::json_value;
use flowlens_store::{ABSENT, FieldFilter, FilterOp, FlowSearch};
use serde_json::Value;

/// Whether the encoded flow (`calico` is its Calico JSON) passes every filter of `query`
/// except the time range.
pub fn matches(query: &FlowSearch, log: &FlowLog, calico: &Value) -> bool {
    query.filters.iter().all(|f| filter_matches(f, calico))
        && query
            .source_selector
            .as_ref()
            .is_none_or(|s| s.matches(&log.source.labels))
        && query
            .dest_selector
            .as_ref()
            .is_none_or(|s| s.matches(&log.dest.labels))
        && query
            .policy
            .as_ref()
            .is_none_or(|p| log.enforced_policies.iter().any(|h| p.matches_hit(h)))
}

/// The values of a field: one for scalars, none when absent (`-`), many for lists.
fn values(calico: &Value, field: FlowField) -> Vec<String> {
    let v = match field {
        // What the API adds to Calico's fields.
        FlowField::RecordId => &calico["id"],
        _ => json_value(calico, field),
    };
    match v {
        Value::Null => Vec::new(),
        Value::String(s) if s == ABSENT => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        other => vec![other.to_string()],
    }
}

fn filter_matches(filter: &FieldFilter, calico: &Value) -> bool {
    let have = values(calico, filter.field);
    let is = |want: &str| {
        if want == ABSENT {
            have.is_empty()
        } else {
            have.iter().any(|h| h == want)
        }
    };
    let compare = |want: &str, ok: fn(std::cmp::Ordering) -> bool| {
        have.iter()
            .any(|h| match (h.parse::<f64>(), want.parse::<f64>()) {
                (Ok(a), Ok(b)) => a.partial_cmp(&b).is_some_and(ok),
                _ => ok(h.as_str().cmp(want)),
            })
    };
    match &filter.op {
        FilterOp::Eq(v) => is(v),
        FilterOp::Ne(v) => !is(v),
        FilterOp::In(vs) => vs.iter().any(|v| is(v)),
        FilterOp::NotIn(vs) => !vs.iter().any(|v| is(v)),
        FilterOp::Prefix(p) => have.iter().any(|h| h.starts_with(p.as_str())),
        FilterOp::NotPrefix(p) => !have.iter().any(|h| h.starts_with(p.as_str())),
        FilterOp::Gt(v) => compare(v, |o| o.is_gt()),
        FilterOp::Ge(v) => compare(v, |o| o.is_ge()),
        FilterOp::Lt(v) => compare(v, |o| o.is_lt()),
        FilterOp::Le(v) => compare(v, |o| o.is_le()),
    }
}
