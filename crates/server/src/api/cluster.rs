//! `GET /api/cluster`: the cluster the server follows, for the UI's connection panel — which
//! cluster, whether the first listing is done, each kind's watch with its last error, what
//! was skipped and why, and whether policies can be written back.

use crate::auth::Principal;
use crate::error::ApiResult;
use crate::state::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use flowlens_kube::WatchState;
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
