//! The inventory (namespaces, endpoints, labels) and the engine's explanation of one flow.

use super::{RawParams, params};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::scoped;
use crate::state::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use flowlens_policy::render_explanation;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Endpoints listed at most; the counts are always complete.
const MAX_ENDPOINTS: usize = 10_000;

pub async fn inventory(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Json<Value> {
    let world = state.world();
    let inv = &scoped::inventory(&who.scope, &world.inventory);
    let endpoints: Vec<Value> = inv
        .endpoints
        .iter()
        .take(MAX_ENDPOINTS)
        .map(|e| {
            json!({
                "type": e.endpoint_type,
                "namespace": e.namespace,
                "name": e.name,
                "name_aggr": e.name_aggr,
                "labels": e.labels,
                "ips": e.ips,
                "node": e.node,
                "service_account": e.service_account,
            })
        })
        .collect();
    Json(json!({
        "revision": world.revision,
        "counts": inv.counts(),
        "namespaces": inv.namespaces.iter().map(|n| json!({ "name": n.name, "labels": n.labels })).collect::<Vec<_>>(),
        "endpoints": endpoints,
        "endpoints_truncated": inv.endpoints.len() > MAX_ENDPOINTS,
        "services": inv.services,
        "network_sets": inv.network_sets,
        "tiers": inv.tiers_in_order().iter().map(|t| json!({
            "name": t.name, "order": t.order, "default_action": t.default_action,
        })).collect::<Vec<_>>(),
    }))
}

pub async fn labels(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Json<Value> {
    let world = state.world();
    let inv = &scoped::inventory(&who.scope, &world.inventory);
    let mut keys: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let all = inv
        .endpoints
        .iter()
        .map(|e| &e.labels)
        .chain(inv.network_sets.iter().map(|s| &s.labels));
    for labels in all {
        for (k, v) in labels.iter() {
            keys.entry(k.as_str()).or_default().insert(v.as_str());
        }
    }
    let namespace_keys: BTreeMap<&str, BTreeSet<&str>> =
        inv.namespaces.iter().fold(BTreeMap::new(), |mut acc, n| {
            for (k, v) in n.labels.iter() {
                acc.entry(k.as_str()).or_default().insert(v.as_str());
            }
            acc
        });
    Json(json!({ "keys": keys, "namespace_keys": namespace_keys }))
}

pub async fn explain(State(state): State<AppState>, raw: RawParams) -> ApiResult<Json<Value>> {
    let p = params(raw);
    let (Some(source), Some(dest)) = (p.get("source"), p.get("dest")) else {
        return Err(ApiError::bad_request(
            "give source= and dest= (an IP or NAMESPACE/NAME of a pod, workload or service) and port=",
        ));
    };
    let port = p
        .number::<u16>("port")?
        .ok_or_else(|| ApiError::bad_request("give port= (the destination port)"))?;
    let src_port = p.number::<u16>("src_port")?.unwrap_or(0);
    let proto = p.get("proto").unwrap_or("tcp");
    let format = super::flows::hit_format(&p)?;
    // `at`: against the tiers and policies in force then (a live cluster keeps their history).
    let (engine, as_of) = match (p.number::<i64>("at")?, state.cluster()) {
        (None, _) => (state.world().engine.clone(), None),
        (Some(t), Some(link)) => {
            let (engine, source) = link.engine_at(t).await;
            (engine, Some(json!({ "at": t, "source": source })))
        }
        (Some(_), None) => {
            return Err(ApiError::bad_request(
                "at= needs a live cluster (serve --kube): a snapshot keeps no history of its policies",
            ));
        }
    };
    let flow = engine
        .resolve_flow(source, dest, proto, src_port, port)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut explanation = engine.explain(&flow.src, &flow.dst, &flow.tuple, format);
    explanation.notes.clone_from(&flow.notes);
    let mut v =
        serde_json::to_value(&explanation).map_err(|e| ApiError::internal(e.to_string()))?;
    v["text"] = Value::String(render_explanation(&explanation, flow.service.as_ref()));
    if let Some(as_of) = as_of {
        v["policies_as_of"] = as_of;
    }
    if let Some(t) = &flow.service {
        v["service"] = json!({
            "namespace": t.namespace, "name": t.name, "port": t.port,
            "port_name": t.port_name, "target_port": t.target_port,
        });
    }
    Ok(Json(v))
}
