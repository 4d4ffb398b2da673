//! The store as a scoped user sees it. A user limited to some namespaces sees the flows with
//! at least one end in them; the other end, when hidden, is shown as [`HIDDEN`] with no
//! name, address or labels. The limit is part of the store's search, so totals, sums and
//! pages hold exactly the visible flows.
//!
//! "At least one end" is an OR, and a store search is a conjunction of filters, so the
//! visible flows are searched as two disjoint parts: the source in the namespaces, or the
//! source outside them and the destination in them. Counts add up; pages are merged in the
//! search's sort order, each part paged by offset.

use crate::error::{ApiError, ApiResult};
use crate::roles::Scope;
use flowlens_model::{FlowEnd, FlowField, FlowLog, PolicyHit, PolicyKind};
use flowlens_store::{
    AggregateRow, DEFAULT_LIMIT, FieldFilter, FilterOp, FlowPage, FlowSearch, GroupBy, GroupKey,
    MAX_LIMIT, PolicyMetrics, Store,
};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// What a hidden end's namespace and name read.
pub const HIDDEN: &str = "(hidden)";

/// Page tokens of merged pages start with this.
const TOKEN_PREFIX: &str = "scoped.";

/// Fields that tell which endpoint a flow's source is (or its labels).
fn names_source(field: FlowField) -> bool {
    matches!(
        field,
        FlowField::SourceIp
            | FlowField::SourceName
            | FlowField::SourceNameAggr
            | FlowField::SourceNamespace
            | FlowField::SourceLabels
    )
}

fn names_dest(field: FlowField) -> bool {
    matches!(
        field,
        FlowField::DestIp
            | FlowField::DestName
            | FlowField::DestNameAggr
            | FlowField::DestNamespace
            | FlowField::DestLabels
            | FlowField::DestServiceNamespace
            | FlowField::DestServiceName
    )
}

/// Which ends a search must see: a search that picks flows by an end's name, address or
/// labels only finds flows whose that end is visible, else its answer would tell what the
/// hidden end is.
fn required_ends(search: &FlowSearch) -> (bool, bool) {
    let source =
        search.source_selector.is_some() || search.filters.iter().any(|f| names_source(f.field));
    let dest = search.dest_selector.is_some() || search.filters.iter().any(|f| names_dest(f.field));
    (source, dest)
}

/// Refuses searches a scoped user may not make: by a policy they may not read, or over
/// the policy traces as text (which hold hits of every tier).
pub fn check_search(scope: &Scope, search: &FlowSearch) -> ApiResult<()> {
    if scope.is_admin() {
        return Ok(());
    }
    if let Some(policy) = &search.policy {
        let tier_ok = policy
            .tier
            .as_deref()
            .is_none_or(|t| scope.can_read_tier(t));
        let ns_ok = policy
            .namespace
            .as_deref()
            .is_none_or(|ns| scope.sees_namespace(Some(ns)));
        if !tier_ok || !ns_ok || policy.tier.is_none() {
            return Err(ApiError::forbidden(
                "policy=: name a tier (and namespace) this user may read",
            ));
        }
    }
    if let Some(f) = search.filters.iter().find(|f| {
        matches!(
            f.field,
            FlowField::PoliciesEnforced | FlowField::PoliciesPending
        )
    }) {
        return Err(ApiError::forbidden(format!(
            "filters on {} are for administrators; use policy= to pick flows by policy",
            f.field
        )));
    }
    Ok(())
}

/// The disjoint searches whose union is what `scope` may see of `search`: one (everything),
/// two (the source visible; the source hidden and the destination visible), or none.
pub fn parts(scope: &Scope, search: &FlowSearch) -> Vec<FlowSearch> {
    let Some(namespaces) = scope.namespace_limit() else {
        return vec![search.clone()];
    };
    if namespaces.is_empty() {
        return Vec::new();
    }
    let list: Vec<String> = namespaces.into_iter().collect();
    let within = |field| FieldFilter::new(field, FilterOp::In(list.clone()));
    let (source, dest) = required_ends(search);
    let with = |filters: Vec<FieldFilter>| {
        let mut part = search.clone();
        part.filters.extend(filters);
        part
    };
    match (source, dest) {
        (true, true) => vec![with(vec![
            within(FlowField::SourceNamespace),
            within(FlowField::DestNamespace),
        ])],
        (true, false) => vec![with(vec![within(FlowField::SourceNamespace)])],
        (false, true) => vec![with(vec![within(FlowField::DestNamespace)])],
        (false, false) => vec![
            with(vec![within(FlowField::SourceNamespace)]),
            with(vec![
                FieldFilter::new(FlowField::SourceNamespace, FilterOp::NotIn(list.clone())),
                within(FlowField::DestNamespace),
            ]),
        ],
    }
}

/// Whether a flow the live stream is about to send is one `search`'s parts would find.
pub fn visible(scope: &Scope, search: &FlowSearch, log: &FlowLog) -> bool {
    let source = scope.sees_namespace(log.source.namespace.as_deref());
    let dest = scope.sees_namespace(log.dest.namespace.as_deref());
    let (need_source, need_dest) = required_ends(search);
    if (need_source && !source) || (need_dest && !dest) {
        return false;
    }
    source || dest
}

/// Whether `scope` may read the policy a hit names. Namespace profiles (`kns.NS`) go with
/// their namespace; other profiles are hidden.
pub fn hit_readable(scope: &Scope, hit: &PolicyHit) -> bool {
    if scope.is_admin() {
        return true;
    }
    if hit.tier == flowlens_model::PROFILE_TIER {
        return hit
            .name
            .strip_prefix("kns.")
            .is_some_and(|ns| scope.sees_namespace(Some(ns)));
    }
    scope.can_read_policy(&hit.tier, hit.namespace.as_deref())
}

fn hide_end(end: &mut FlowEnd) {
    end.ip = None;
    end.name = None;
    end.name_aggr = HIDDEN.into();
    end.namespace = Some(HIDDEN.into());
    end.labels.clear();
}

/// `log` as `scope` may see it: hidden ends aggregated away, and only the hits of policies
/// it may read (each trace keeps its order).
pub fn mask_flow(scope: &Scope, mut log: FlowLog) -> FlowLog {
    if scope.is_admin() {
        return log;
    }
    let source = scope.sees_namespace(log.source.namespace.as_deref());
    let dest = scope.sees_namespace(log.dest.namespace.as_deref());
    if !source {
        hide_end(&mut log.source);
    }
    if !dest {
        hide_end(&mut log.dest);
        if let Some(service) = &mut log.dest_service {
            service.namespace = HIDDEN.into();
            service.name = HIDDEN.into();
        }
    }
    let reporter_hidden = match log.reporter {
        flowlens_model::Reporter::Src => !source,
        flowlens_model::Reporter::Dst => !dest,
    };
    if reporter_hidden {
        log.process_name = None;
        log.process_id = None;
        log.host = None;
    }
    log.enforced_policies.retain(|h| hit_readable(scope, h));
    log.pending_policies.retain(|h| hit_readable(scope, h));
    log
}

/// A grouping's key as `scope` may see it: an end outside the readable namespaces (a host
/// or a network too) becomes [`HIDDEN`].
fn mask_key(scope: &Scope, key: &mut GroupKey) {
    let source_grouped = key.source_namespace.is_some() || key.source_name_aggr.is_some();
    if source_grouped && !scope.sees_namespace(key.source_namespace.as_deref()) {
        key.source_namespace = Some(HIDDEN.into());
        key.source_name_aggr = key.source_name_aggr.as_ref().map(|_| HIDDEN.into());
    }
    let dest_grouped = key.dest_namespace.is_some() || key.dest_name_aggr.is_some();
    if dest_grouped && !scope.sees_namespace(key.dest_namespace.as_deref()) {
        key.dest_namespace = Some(HIDDEN.into());
        key.dest_name_aggr = key.dest_name_aggr.as_ref().map(|_| HIDDEN.into());
        if key.dest_service_name.is_some() {
            key.dest_service_namespace = Some(HIDDEN.into());
            key.dest_service_name = Some(HIDDEN.into());
        }
    }
}

/// Whether a policy grouping's row names a policy `scope` may read.
fn row_readable(scope: &Scope, key: &GroupKey) -> bool {
    match &key.tier {
        None => true,
        Some(tier) if tier == flowlens_model::PROFILE_TIER => key
            .policy_name
            .as_deref()
            .and_then(|n| n.strip_prefix("kns."))
            .is_some_and(|ns| scope.sees_namespace(Some(ns))),
        Some(tier) => scope.can_read_policy(tier, key.policy_namespace.as_deref()),
    }
}

fn add_row(into: &mut AggregateRow, row: &AggregateRow) {
    into.records += row.records;
    into.num_flows += row.num_flows;
    into.num_flows_started += row.num_flows_started;
    into.num_flows_completed += row.num_flows_completed;
    into.allowed_flows += row.allowed_flows;
    into.denied_flows += row.denied_flows;
    into.packets_in += row.packets_in;
    into.packets_out += row.packets_out;
    into.bytes_in += row.bytes_in;
    into.bytes_out += row.bytes_out;
    into.connections_per_second += row.connections_per_second;
    into.packets_per_second += row.packets_per_second;
    into.bits_per_second += row.bits_per_second;
    into.hits_allowed += row.hits_allowed;
    into.hits_denied += row.hits_denied;
    into.hits_passed += row.hits_passed;
    into.pending_num_flows += row.pending_num_flows;
    into.pending_allowed += row.pending_allowed;
    into.pending_denied += row.pending_denied;
    into.pending_passed += row.pending_passed;
}

/// [`Store::aggregate`] over what `scope` may see, hidden ends merged into one group.
pub async fn aggregate(
    store: &dyn Store,
    scope: &Scope,
    search: &FlowSearch,
    group_by: GroupBy,
) -> ApiResult<Vec<AggregateRow>> {
    if scope.is_admin() {
        return Ok(store.aggregate(search, group_by).await?);
    }
    check_search(scope, search)?;
    let mut merged: BTreeMap<GroupKey, AggregateRow> = BTreeMap::new();
    for part in parts(scope, search) {
        for mut row in store.aggregate(&part, group_by).await? {
            if group_by.is_policy() && !row_readable(scope, &row.key) {
                continue;
            }
            mask_key(scope, &mut row.key);
            match merged.get_mut(&row.key) {
                Some(into) => add_row(into, &row),
                None => {
                    merged.insert(row.key.clone(), row);
                }
            }
        }
    }
    let mut rows: Vec<AggregateRow> = merged.into_values().collect();
    rows.sort_by(|a, b| b.num_flows.cmp(&a.num_flows).then(a.key.cmp(&b.key)));
    if let Some(limit) = search.limit {
        rows.truncate(limit);
    }
    Ok(rows)
}

/// [`Store::policy_metrics`] over the flows `scope` may see, for the policies it may read.
pub async fn policy_metrics(
    store: &dyn Store,
    scope: &Scope,
    search: &FlowSearch,
) -> ApiResult<Vec<PolicyMetrics>> {
    if scope.is_admin() {
        return Ok(store.policy_metrics(search).await?);
    }
    type Key = (String, Option<PolicyKind>, Option<String>, String);
    let mut merged: BTreeMap<Key, PolicyMetrics> = BTreeMap::new();
    for part in parts(scope, search) {
        for m in store.policy_metrics(&part).await? {
            if !scope.can_read_policy(&m.tier, m.namespace.as_deref()) {
                continue;
            }
            let key = (m.tier.clone(), m.kind, m.namespace.clone(), m.name.clone());
            match merged.get_mut(&key) {
                None => {
                    merged.insert(key, m);
                }
                Some(into) => {
                    into.total.add(&m.total);
                    for (rule, counts) in &m.ingress {
                        into.ingress.entry(*rule).or_default().add(counts);
                    }
                    for (rule, counts) in &m.egress {
                        into.egress.entry(*rule).or_default().add(counts);
                    }
                }
            }
        }
    }
    Ok(merged.into_values().collect())
}

/// [`Store::query_flows`] over what `scope` may see, each flow masked. When the search
/// has two parts, the page merges them and its token holds each part's offset.
pub async fn query_flows(
    store: &dyn Store,
    scope: &Scope,
    search: &FlowSearch,
) -> ApiResult<FlowPage> {
    if scope.is_admin() {
        return Ok(store.query_flows(search).await?);
    }
    check_search(scope, search)?;
    let mut parts = parts(scope, search);
    let mask = |mut page: FlowPage| {
        page.flows = page
            .flows
            .into_iter()
            .map(|f| mask_flow(scope, f))
            .collect();
        page
    };
    match parts.len() {
        0 => {
            return Ok(FlowPage {
                flows: Vec::new(),
                record_ids: Vec::new(),
                total: 0,
                next_page_token: None,
            });
        }
        1 => {
            let part = parts.pop().unwrap_or_default();
            if search
                .page_token
                .as_deref()
                .is_some_and(|t| t.starts_with(TOKEN_PREFIX))
            {
                return Err(ApiError::bad_request(
                    "page_token is not one of this search",
                ));
            }
            return Ok(mask(store.query_flows(&part).await?));
        }
        _ => {}
    }
    let (mut skip_a, mut skip_b) = match &search.page_token {
        None => (search.offset, 0),
        Some(token) => read_token(token)?,
    };
    let limit = search.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    let mut pages = Vec::new();
    for (part, skip) in parts.iter_mut().zip([skip_a, skip_b]) {
        part.page_token = None;
        part.offset = skip;
        part.limit = Some(limit);
        pages.push(store.query_flows(part).await?);
    }
    let b = pages.pop().unwrap_or_else(empty_page);
    let a = pages.pop().unwrap_or_else(empty_page);
    let sort = effective_sort(search);
    let (mut i, mut j) = (0, 0);
    let mut page = empty_page();
    page.total = a.total + b.total;
    while page.flows.len() < limit && (i < a.flows.len() || j < b.flows.len()) {
        let take_a = match (a.flows.get(i), b.flows.get(j)) {
            (Some(x), Some(y)) => {
                compare(&sort, x, a.record_ids[i], y, b.record_ids[j]) != Ordering::Greater
            }
            (Some(_), None) => true,
            _ => false,
        };
        let (from, k) = if take_a { (&a, &mut i) } else { (&b, &mut j) };
        page.flows.push(mask_flow(scope, from.flows[*k].clone()));
        page.record_ids.push(from.record_ids[*k]);
        *k += 1;
    }
    skip_a += i;
    skip_b += j;
    if (skip_a as u64) < a.total || (skip_b as u64) < b.total {
        page.next_page_token = Some(format!("{TOKEN_PREFIX}{skip_a}.{skip_b}"));
    }
    Ok(page)
}

fn empty_page() -> FlowPage {
    FlowPage {
        flows: Vec::new(),
        record_ids: Vec::new(),
        total: 0,
        next_page_token: None,
    }
}

fn read_token(token: &str) -> ApiResult<(usize, usize)> {
    let bad = || ApiError::bad_request("page_token is not one of this search");
    let rest = token.strip_prefix(TOKEN_PREFIX).ok_or_else(bad)?;
    let (a, b) = rest.split_once('.').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

/// The sort the store applies: the search's keys (newest first by default), then the record
/// id in the direction of the last key.
fn effective_sort(search: &FlowSearch) -> Vec<(FlowField, bool)> {
    let mut keys: Vec<(FlowField, bool)> = if search.sort.is_empty() {
        vec![(FlowField::EndTime, true)]
    } else {
        search
            .sort
            .iter()
            .map(|k| (k.field, k.descending))
            .collect()
    };
    let last = keys.last().is_some_and(|k| k.1);
    if !keys.iter().any(|k| k.0 == FlowField::RecordId) {
        keys.push((FlowField::RecordId, last));
    }
    keys
}

/// Orders two flows as the store's sort would; absent values last either way.
fn compare(sort: &[(FlowField, bool)], a: &FlowLog, ida: u64, b: &FlowLog, idb: u64) -> Ordering {
    let (ja, jb) = (field_values(a, ida), field_values(b, idb));
    for &(field, descending) in sort {
        let (x, y) = (&ja[field.name()], &jb[field.name()]);
        let absent = |v: &Value| v.is_null() || v.as_str() == Some("-");
        let order = match (absent(x), absent(y)) {
            (true, true) => Ordering::Equal,
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            (false, false) => {
                let o = match (x.as_f64(), y.as_f64()) {
                    (Some(p), Some(q)) => p.partial_cmp(&q).unwrap_or(Ordering::Equal),
                    _ => x.to_string().cmp(&y.to_string()),
                };
                if descending { o.reverse() } else { o }
            }
        };
        if order.is_ne() {
            return order;
        }
    }
    Ordering::Equal
}

fn field_values(log: &FlowLog, id: u64) -> Value {
    let mut v =
        flowlens_pipeline::encode::calico_json(log, flowlens_model::PolicyHitFormat::Calico);
    v["record_id"] = id.into();
    v
}

/// The part of `inventory` `scope` may see: namespaces and what lives in them, readable
/// tiers, readable policies. The administrator's is `inventory` itself.
pub fn inventory(
    scope: &Scope,
    inventory: &std::sync::Arc<flowlens_model::Inventory>,
) -> std::sync::Arc<flowlens_model::Inventory> {
    if scope.is_admin() {
        return inventory.clone();
    }
    let sees = |ns: Option<&str>| scope.sees_namespace(ns);
    let inv = inventory.as_ref();
    std::sync::Arc::new(flowlens_model::Inventory {
        namespaces: inv
            .namespaces
            .iter()
            .filter(|n| sees(Some(&n.name)))
            .cloned()
            .collect(),
        endpoints: inv
            .endpoints
            .iter()
            .filter(|e| sees(e.namespace.as_deref()))
            .cloned()
            .collect(),
        service_accounts: inv
            .service_accounts
            .iter()
            .filter(|s| sees(Some(&s.namespace)))
            .cloned()
            .collect(),
        services: inv
            .services
            .iter()
            .filter(|s| sees(Some(&s.namespace)))
            .cloned()
            .collect(),
        network_sets: inv
            .network_sets
            .iter()
            .filter(|s| sees(s.namespace.as_deref()))
            .cloned()
            .collect(),
        tiers: inv
            .tiers
            .iter()
            .filter(|t| scope.can_read_tier(&t.name))
            .cloned()
            .collect(),
        policies: inv
            .policies
            .iter()
            .filter(|p| scope.can_read_policy(&p.tier, p.namespace.as_deref()))
            .cloned()
            .collect(),
        host_network_pods: inv
            .host_network_pods
            .iter()
            .filter(|p| sees(Some(&p.namespace)))
            .cloned()
            .collect(),
    })
}
