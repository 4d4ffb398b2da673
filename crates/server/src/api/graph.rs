//! The service graph and the detail of one of its edges.

use super::flows::{flow_json, hit_format};
use super::{RawParams, params};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::graph::{self, Expand};
use crate::params::Params;
use crate::scoped;
use crate::searches;
use crate::state::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use flowlens_model::{EndpointType, FlowLog, PolicyHit, PolicyHitFormat};
use flowlens_policy::{Engine, FiveTuple, Peer, PeerSpec, render_explanation};
use flowlens_store::{FlowSearch, GroupBy, PolicyFilter};
use serde_json::{Value, json};

/// Nodes beyond this make a graph nobody can read; the answer says it was cut.
const MAX_EDGES: usize = 20_000;

fn expand_of(p: &Params) -> Expand {
    let names: std::collections::BTreeSet<String> = p.all("expand").map(str::to_string).collect();
    if names.contains("*") {
        Expand::All
    } else if names.is_empty() {
        Expand::None
    } else {
        Expand::Some(names)
    }
}

pub async fn graph(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    raw: RawParams,
) -> ApiResult<Json<Value>> {
    let p = params(raw);
    let query = searches::graph(&p, state.now())?;
    let rows = scoped::aggregate(
        state.store().as_ref(),
        &who.scope,
        &query,
        GroupBy::ServiceEdge,
    )
    .await?;
    let mut g = graph::build(&rows, &expand_of(&p));
    let truncated = g.edges.len() > MAX_EDGES;
    if truncated {
        g.edges.sort_by_key(|e| std::cmp::Reverse(e.num_flows));
        g.edges.truncate(MAX_EDGES);
    }
    Ok(Json(json!({
        "nodes": g.nodes,
        "edges": g.edges,
        "totals": g.totals,
        "truncated": truncated,
    })))
}

/// The flows behind the edge `source → target` (ids as the graph gives them).
fn edge_query(p: &Params, base: FlowSearch) -> ApiResult<FlowSearch> {
    let (Some(source), Some(target)) = (p.get("source"), p.get("target")) else {
        return Err(ApiError::bad_request(
            "give source=NODE_ID and target=NODE_ID",
        ));
    };
    let bad = |id: &str| ApiError::bad_request(format!("{id:?} is not a graph node id"));
    let mut query = base;
    if source.starts_with("svc:") {
        // Service → backend: the flows to the service that ended on that backend.
        query
            .filters
            .extend(graph::node_filters(source, false).ok_or_else(|| bad(source))?);
    } else {
        query
            .filters
            .extend(graph::node_filters(source, true).ok_or_else(|| bad(source))?);
    }
    query
        .filters
        .extend(graph::node_filters(target, false).ok_or_else(|| bad(target))?);
    Ok(query)
}

pub async fn edge(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    raw: RawParams,
) -> ApiResult<Json<Value>> {
    let scope = &who.scope;
    let p = params(raw);
    let format = hit_format(&p)?;
    let expand = expand_of(&p);
    let query = edge_query(&p, p.flow_search(p.time_range(state.now())?)?)?;
    let store = state.store().as_ref();
    let once = FlowSearch {
        connections_once: p.connections_once()?,
        ..query.clone()
    };
    let rows = scoped::aggregate(store, scope, &once, GroupBy::ServiceEdge).await?;
    let g = graph::build(&rows, &expand);
    let (source, target) = (p.get("source").unwrap_or(""), p.get("target").unwrap_or(""));
    let edge = g
        .edges
        .iter()
        .find(|e| e.source == source && e.target == target);
    let node = |id: &str| g.nodes.iter().find(|n| n.id == id).cloned();

    let mut flows_query = query.clone();
    flows_query.limit = Some(p.number::<usize>("limit")?.unwrap_or(50).min(1000));
    flows_query.sort = vec![flowlens_store::SortKey::desc(
        flowlens_model::FlowField::EndTime,
    )];
    let page = scoped::query_flows(store, scope, &flows_query).await?;
    let world = state.world();
    let mut policies = Vec::new();
    let policy_rows = scoped::aggregate(store, scope, &query, GroupBy::PolicyRule).await?;
    for row in policy_rows {
        let k = &row.key;
        let (Some(tier), Some(name), Some(action), Some(rule)) =
            (&k.tier, &k.policy_name, k.hit_action, k.rule)
        else {
            continue;
        };
        let hit = PolicyHit {
            index: 0,
            tier: tier.clone(),
            kind: k.kind,
            namespace: k.policy_namespace.clone(),
            name: name.clone(),
            action,
            rule,
        };
        let count = row.hits_allowed + row.hits_denied + row.hits_passed;
        // One stored flow this hit decided, explained by the engine: from the page already
        // read when it holds one, else asked for.
        let same_hit = |h: &PolicyHit| {
            PolicyHit {
                index: 0,
                ..h.clone()
            } == hit
        };
        let listed = page
            .flows
            .iter()
            .find(|f| f.enforced_policies.iter().any(same_hit))
            .cloned();
        let flow = match listed {
            Some(flow) => Some(flow),
            None => {
                let mut sample = query.clone();
                sample.policy = Some(PolicyFilter {
                    tier: Some(tier.clone()),
                    name: Some(name.clone()),
                    namespace: k.policy_namespace.clone(),
                    kind: k.kind,
                    action: Some(action),
                    rule: Some(rule),
                });
                sample.limit = Some(1);
                scoped::query_flows(store, scope, &sample)
                    .await?
                    .flows
                    .into_iter()
                    .next()
            }
        };
        // The engine's explanation walks every tier: for administrators only.
        let trace = flow
            .as_ref()
            .filter(|_| scope.is_admin())
            .map(|f| trace_of(&world.engine, f, format));
        let hit_text = hit.to_string_in(format);
        let hit_text = hit_text
            .split_once('|')
            .map_or(hit_text.as_str(), |(_, rest)| rest);
        policies.push(json!({
            "hit": hit_text,
            "tier": tier,
            "kind": k.kind.map(|k| k.hit_tag()),
            "namespace": k.policy_namespace,
            "name": name,
            "action": action,
            "rule": rule,
            "num_flows": count,
            "trace": trace,
        }));
    }
    // The deciding hits first: denials, then allows, then passes.
    policies.sort_by_key(|p| match p["action"].as_str() {
        Some("deny") => 0,
        Some("allow") => 1,
        _ => 2,
    });

    let flows: Vec<Value> = page
        .flows
        .iter()
        .enumerate()
        .map(|(i, f)| flow_json(f, page.record_ids.get(i).copied(), format))
        .collect();
    Ok(Json(json!({
        "edge": edge,
        "source": node(source),
        "target": node(target),
        "ports": edge.map(|e| e.ports.clone()).unwrap_or_default(),
        "policies": policies,
        "flows": flows,
        "total_flows": page.total,
    })))
}

/// The engine's explanation of a stored flow, or why there is none: aggregated flows lost
/// their addresses, and an external peer without its address cannot be placed.
pub(crate) fn trace_of(engine: &Engine, flow: &FlowLog, format: PolicyHitFormat) -> Value {
    let src = peer_of(engine, &flow.source);
    let dst = peer_of(engine, &flow.dest);
    let (src, dst) = match (src, dst) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => return json!({ "unavailable": e }),
    };
    let Some(dst_port) = flow.dest.port else {
        return json!({ "unavailable": "the flow has no destination port" });
    };
    let query = FiveTuple {
        src: src.ip,
        dst: dst.ip,
        protocol: flow.proto,
        src_port: flow.source.port.unwrap_or(0),
        dst_port,
        icmp: None,
    };
    let explanation = engine.explain(&src, &dst, &query, format);
    let text = render_explanation(&explanation, None);
    let mut v = serde_json::to_value(&explanation).unwrap_or(Value::Null);
    v["text"] = Value::String(text);
    let stored: Vec<String> = flow
        .enforced_policies
        .iter()
        .map(|h| h.to_string_in(format))
        .collect();
    v["stored_policies"] = json!(stored);
    v
}

fn peer_of(engine: &Engine, end: &flowlens_model::FlowEnd) -> Result<Peer, String> {
    if let Some(ip) = end.ip {
        return Ok(engine.resolve(ip));
    }
    let ns = end.namespace.as_deref();
    let name = match (&end.name, end.name_aggr.strip_suffix("-*")) {
        (Some(name), _) => name.clone(),
        (None, Some(prefix)) => prefix.to_string(),
        (None, None) => end.name_aggr.trim_end_matches('*').to_string(),
    };
    match (end.endpoint_type, ns) {
        (Some(EndpointType::Wep | EndpointType::Hep | EndpointType::Ns), Some(ns)) => engine
            .resolve_spec(&PeerSpec::Named {
                namespace: ns.to_string(),
                name,
            })
            .map_err(|e| e.to_string()),
        _ => Err(format!(
            "the {} address of {} was aggregated away, so the exact trace cannot be rebuilt",
            match end.endpoint_type {
                Some(t) => t.to_string(),
                None => "peer".into(),
            },
            end.name_aggr
        )),
    }
}
