//! The JSON API under `/api`. Each module serves one group of endpoints; all of them are
//! listed in `openapi.json`.

mod advisor;
mod cluster;
mod flows;
mod graph;
mod inventory;
pub(crate) mod metrics;
pub(crate) mod policies;
mod scenario;
mod sources;

use crate::auth::AuthConfig;
use crate::error::ApiResult;
use crate::params::Params;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Request bodies are policies and previews: a megabyte is plenty.
const MAX_BODY: usize = 1 << 20;
/// A query that takes longer than this is stopped with an error rather than left running.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn router(state: AppState, auth: Arc<AuthConfig>) -> Router {
    let session = Router::new()
        .route("/api/login", post(crate::auth::login))
        .route("/api/logout", post(crate::auth::logout))
        .layer(DefaultBodyLimit::max(4096))
        .with_state(auth);
    // Routes that show or change everything at once: the engine's explanation of any flow,
    // the sources (with their verdicts), the metrics, the scenario's steps.
    let admin = Router::new()
        .route("/api/explain", get(inventory::explain))
        .route("/api/sources", get(sources::sources))
        .route("/metrics", get(metrics::metrics))
        .route("/api/scenario/steps/{name}", post(scenario::apply_step))
        .route_layer(axum::middleware::from_fn(admin_only));
    // One pool of permits for every route that scans the store.
    let permits = crate::limits::query_permits();
    // The advisor reads every namespace's traffic and creates its tier, and the policy audit
    // shows every workload pair: administrators only, and both scan the store, so in turn
    // with the other queries.
    let advisor = Router::new()
        .route("/api/recommendations", get(advisor::recommendations))
        .route("/api/recommendations/apply", post(advisor::apply))
        .route("/api/policy-audit", get(advisor::policy_audit))
        .route_layer(axum::middleware::from_fn_with_state(
            permits.clone(),
            crate::limits::in_turn,
        ))
        .route_layer(axum::middleware::from_fn(admin_only));
    // Routes that scan the store: a few at a time.
    let permits = crate::limits::query_permits();
    let queries = Router::new()
        .route("/api/flows", get(flows::page))
        .route("/api/flows/export", get(flows::export))
        .route("/api/aggregates", get(flows::aggregates))
        .route("/api/graph", get(graph::graph))
        .route("/api/graph/edge", get(graph::edge))
        .route("/api/policies", get(policies::board).put(policies::save))
        .route("/api/policies/preview", post(policies::preview))
        .route_layer(axum::middleware::from_fn_with_state(
            permits.clone(),
            crate::limits::in_turn,
        ))
        .layer(axum::Extension(crate::limits::QueryPermits(permits)));
    Router::new()
        .route("/api/health", get(health))
        .route("/api/openapi.json", get(openapi))
        .route("/api/flows/live", get(flows::live))
        .route("/api/inventory", get(inventory::inventory))
        .route("/api/cluster", get(cluster::cluster))
        .route("/api/policy-revisions", get(cluster::policy_revisions))
        .route("/api/labels", get(inventory::labels))
        .route("/api/scenario", get(scenario::info))
        .route("/api/audit", get(policies::audit))
        .route("/api/me", get(me))
        .route(
            "/api/policy",
            get(policies::policy).delete(policies::delete),
        )
        .route("/api/policies/validate", post(policies::validate))
        .route("/api/policies/export", get(policies::export))
        .merge(queries)
        .merge(admin)
        .merge(advisor)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
        .merge(session)
}

/// 403 for callers other than the administrator.
async fn admin_only(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let admin = request
        .extensions()
        .get::<crate::auth::Principal>()
        .is_some_and(|p| p.scope.is_admin());
    if admin {
        next.run(request).await
    } else {
        crate::error::ApiError::forbidden(format!(
            "{} is for administrators only",
            request.uri().path()
        ))
        .into_response()
    }
}

/// `GET /api/me`: who the caller is and what it may do, so that a client offers only that
/// (the server refuses the rest all the same).
async fn me(axum::Extension(who): axum::Extension<crate::auth::Principal>) -> Json<Value> {
    Json(json!({
        "name": who.name,
        "auth": who.how,
        "admin": who.scope.is_admin(),
        "scope": who.scope,
    }))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn health(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let store = state.store();
    let stats = store.stats().await?;
    let bounds = store.time_bounds().await?;
    let world = state.world();
    // Connected to a cluster whose first listing is not done: the API answers, but flows
    // are not attributed yet.
    let status = if state.is_syncing() { "syncing" } else { "ok" };
    Ok(Json(json!({
        "status": status,
        "mode": if state.cluster().is_some() { "cluster" } else { "snapshot" },
        "version": env!("CARGO_PKG_VERSION"),
        "store": stats,
        "data_time": bounds.map(|(min, max)| json!({ "min": min, "max": max })),
        "now": state.now(),
        "inventory": {
            "revision": world.revision,
            "counts": world.inventory.counts(),
        },
        "scenario": state.scenario().map(|s| s.info().name),
    })))
}

/// Parses the query string into ordered pairs (keys may repeat).
pub(crate) type RawParams = Query<Vec<(String, String)>>;

pub(crate) fn params(Query(pairs): RawParams) -> Params {
    Params(pairs)
}
