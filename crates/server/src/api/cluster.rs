//! `GET /api/cluster`: the cluster the server follows, for the UI's connection panel — which
//! cluster, whether the first listing is done, each kind's watch with its last error, what
//! was skipped and why, and whether policies can be written back. `GET
//! /api/policy-revisions`: a policy's changes as the watch saw them.

use super::{RawParams, params};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use flowlens_kube::WatchState;
use flowlens_manifests::policy_to_yaml;
use serde_json::{Value, json};

/// Skipped objects listed (the rest are counted).
const SKIPPED_LISTED: usize = 100;

pub async fn cluster(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> ApiResult<Json<Value>> {
    let world = state.world();
    let Some(link) = state.cluster() else {
        return Ok(Json(json!({
            "mode": "snapshot",
            "connected": false,
            "inventory_revision": world.revision,
        })));
    };
    let status = link.watch().status();
    let skipped_kinds: Vec<Value> = status
        .kinds
        .iter()
        .filter(|k| k.state == WatchState::NotServed)
        .map(|k| json!({ "resource": k.resource, "reason": k.reason }))
        .collect();
    // Object names reach across namespaces: only the administrator sees them.
    let skipped_objects: Vec<Value> = if who.scope.is_admin() {
        link.watch()
            .skipped()
            .into_iter()
            .take(SKIPPED_LISTED)
            .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
            .collect()
    } else {
        Vec::new()
    };
    let write = match link.access() {
        None => json!({ "checked": false, "read_only": true }),
        Some(Ok(review)) => json!({
            "checked": true,
            "read_only": review.read_only,
            "kinds": review.kinds,
        }),
        Some(Err(error)) => json!({ "checked": false, "read_only": true, "error": error }),
    };
    let last_event_at = status.kinds.iter().filter_map(|k| k.last_event_at).max();
    Ok(Json(json!({
        "mode": "cluster",
        "connected": true,
        "context": status.cluster.context,
        "cluster": status.cluster.cluster,
        "server": status.cluster.server,
        "in_cluster": status.cluster.in_cluster,
        "synced": status.synced,
        "ready": link.is_ready(),
        "watch_revision": status.revision,
        "inventory_revision": world.revision,
        "last_change_at": status.last_change_at,
        "last_event_at": last_event_at,
        "discovery": status.discovery,
        "calico": status.calico,
        "counts": status.counts,
        "kinds": status.kinds,
        "skipped_kinds": skipped_kinds,
        "skipped_objects": status.skipped,
        "skipped_listed": skipped_objects,
        "earlier_inventories_kept": link.engines_kept(),
        "write": write,
    })))
}

/// `GET /api/policy-revisions?id=ID`: a policy's revisions as the cluster's watch saw them
/// (each with its time, `resourceVersion` and YAML; a deletion has none), oldest first, so
/// changes made with `kubectl` show beside those made here. Kept in memory since the
/// server started, for the watch's history window.
pub async fn policy_revisions(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    raw: RawParams,
) -> ApiResult<Json<Value>> {
    let p = params(raw);
    let id = super::policies::policy_id(&p)?;
    let Some(link) = state.cluster() else {
        return Ok(Json(json!({ "watched": false, "revisions": [] })));
    };
    let revisions = link.watch().policy_revisions(&id);
    // Readable when its tier (in any revision) and namespace are.
    let readable = revisions
        .iter()
        .filter_map(|r| r.state.as_deref())
        .all(|p| who.scope.can_read_policy(&p.tier, p.namespace.as_deref()));
    if !readable {
        return Err(ApiError::forbidden(format!(
            "your scope does not include the policy {id}"
        )));
    }
    let revisions: Vec<Value> = revisions
        .iter()
        .map(|r| {
            json!({
                "at": r.at,
                "resource_version": r.resource_version,
                "kind": r.kind,
                "yaml": r.state.as_deref().and_then(|p| policy_to_yaml(p).ok()),
            })
        })
        .collect();
    Ok(Json(json!({ "watched": true, "revisions": revisions })))
}
