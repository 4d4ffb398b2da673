//! The JSON API under `/api`. Each module serves one group of endpoints; all of them are
//! listed in `openapi.json`.

mod flows;
mod graph;
mod inventory;
pub(crate) mod metrics;
mod policies;
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
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests that scan the store at once; more wait their turn (within the request timeout).
/// Each scan uses every core, so more at once only share them and hold more memory.
pub const MAX_CONCURRENT_QUERIES: usize = 4;

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
    // Routes that scan the store: at most MAX_CONCURRENT_QUERIES at once.
    let queries = Router::new()
        .route("/api/flows", get(flows::page))
        .route("/api/flows/export", get(flows::export))
        .route("/api/aggregates", get(flows::aggregates))
        .route("/api/graph", get(graph::graph))
        .route("/api/graph/edge", get(graph::edge))
        .route("/api/policies", get(policies::board).put(policies::save))
        .route("/api/policies/preview", post(policies::preview))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_QUERIES)),
            a_few_at_a_time,
        ));
    Router::new()
        .route("/api/health", get(health))
        .route("/api/openapi.json", get(openapi))
        .route("/api/flows/live", get(flows::live))
        .route("/api/inventory", get(inventory::inventory))
        .route("/api/labels", get(inventory::labels))
        .route("/api/scenario", get(scenario::info))
        .route("/api/audit", get(policies::audit))
        .route(
            "/api/policy",
            get(policies::policy).delete(policies::delete),
        )
        .route("/api/policies/validate", post(policies::validate))
        .route("/api/policies/export", get(policies::export))
        .merge(queries)
        .merge(admin)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
        .merge(session)
}

/// Runs the request once one of `permits` is free. A request dropped while it waits (timed
/// out, its client gone) leaves the queue.
async fn a_few_at_a_time(
    State(permits): State<Arc<tokio::sync::Semaphore>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let _permit = permits.acquire().await.expect("the semaphore is never closed");
    next.run(request).await
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

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn health(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let store = state.store();
    let stats = store.stats().await?;
    let bounds = store.time_bounds().await?;
    let world = state.world();
    Ok(Json(json!({
        "status": "ok",
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt;

    #[tokio::test]
    async fn no_more_queries_run_at_once_than_the_limit() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let query = {
            let (running, most) = (running.clone(), most.clone());
            move || async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                "done"
            }
        };
        let app: Router = Router::new().route("/q", get(query)).route_layer(
            axum::middleware::from_fn_with_state(
                Arc::new(tokio::sync::Semaphore::new(2)),
                a_few_at_a_time,
            ),
        );
        let calls = (0..8).map(|_| {
            app.clone()
                .oneshot(Request::get("/q").body(Body::empty()).unwrap())
        });
        for response in futures::future::join_all(calls).await {
            assert_eq!(response.unwrap().status(), StatusCode::OK);
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }
}
