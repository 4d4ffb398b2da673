//! Flow logs: pages, exports, the live stream and aggregates.

use super::{RawParams, params};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::live_filter;
use crate::scoped;
use crate::searches;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use flowlens_model::{FlowLog, PolicyHitFormat};
use flowlens_pipeline::encode::calico_json;
use flowlens_store::{FlowSearch, TimeRange};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use std::convert::Infallible;

/// Rows an export may hold.
const MAX_EXPORT: usize = 100_000;
/// Flows per live event; more in one batch are counted as dropped.
const MAX_LIVE_BATCH: usize = 500;

/// A flow log as the API shows it: Calico's JSON plus the record id.
pub(crate) fn flow_json(log: &FlowLog, id: Option<u64>, format: PolicyHitFormat) -> Value {
    let mut v = calico_json(log, format);
    v["id"] = id.map_or(Value::Null, Value::from);
    v
}

pub(crate) fn hit_format(p: &crate::params::Params) -> ApiResult<PolicyHitFormat> {
    match p.get("hits") {
        None | Some("calico") => Ok(PolicyHitFormat::Calico),
        Some("enterprise") => Ok(PolicyHitFormat::Enterprise),
        Some(other) => Err(ApiError::bad_request(format!(
            "hits={other:?}: expected calico or enterprise"
        ))),
    }
}

pub async fn page(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    raw: RawParams,
) -> ApiResult<Json<Value>> {
    let p = params(raw);
    let format = hit_format(&p)?;
    let query = searches::flows(&p, state.now())?;
    let page = scoped::query_flows(state.store().as_ref(), &who.scope, &query).await?;
    let flows: Vec<Value> = page
        .flows
        .iter()
        .enumerate()
        .map(|(i, log)| flow_json(log, page.record_ids.get(i).copied(), format))
        .collect();
    let mut answer = json!({
        "flows": flows,
        "total": page.total,
        "next_page_token": page.next_page_token,
    });
    if p.all("include").any(|v| v == "connections") {
        answer["total_connections"] = json!(connections(&state, &who, &query).await?);
    }
    Ok(Json(answer))
}

/// The connections in the flow logs a query matches (see [`searches::connections`]).
async fn connections(state: &AppState, who: &Principal, query: &FlowSearch) -> ApiResult<u64> {
    let (totals, group_by) = searches::connections(query);
    let rows = scoped::aggregate(state.store().as_ref(), &who.scope, &totals, group_by).await?;
    Ok(rows.iter().map(|r| r.num_flows).sum())
}

pub async fn export(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    raw: RawParams,
) -> ApiResult<Response> {
    let p = params(raw);
    let format = hit_format(&p)?;
    let csv = match p.get("format").unwrap_or("json") {
        "csv" => true,
        "json" => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "format={other:?}: expected csv or json"
            )));
        }
    };
    let mut query = searches::flows(&p, state.now())?;
    query.limit = Some(flowlens_store::MAX_LIMIT);
    let mut rows: Vec<Value> = Vec::new();
    loop {
        let page = scoped::query_flows(state.store().as_ref(), &who.scope, &query).await?;
        for (i, log) in page.flows.iter().enumerate() {
            if rows.len() == MAX_EXPORT {
                break;
            }
            rows.push(flow_json(log, page.record_ids.get(i).copied(), format));
        }
        match page.next_page_token {
            Some(token) if rows.len() < MAX_EXPORT => query.page_token = Some(token),
            _ => break,
        }
    }
    let (body, mime, ext) = if csv {
        (to_csv(&rows), "text/csv; charset=utf-8", "csv")
    } else {
        (
            serde_json::to_string(&rows).map_err(|e| ApiError::internal(e.to_string()))?,
            "application/json",
            "json",
        )
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"flows.{ext}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// The export as CSV: the record id, then Calico's columns.
fn to_csv(rows: &[Value]) -> String {
    use flowlens_pipeline::encode::{csv_header, csv_row};
    let mut out = format!("id,{}\n", csv_header());
    for row in rows {
        let id = row["id"]
            .as_u64()
            .map(|i| i.to_string())
            .unwrap_or_default();
        out.push_str(&format!("{id},{}\n", csv_row(row)));
    }
    out
}

/// Newly stored flows that match the query, as Server-Sent Events (`flows`, and `lagged`
/// when a slow client missed batches). Ends when the server shuts down.
pub async fn live(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    raw: RawParams,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let p = params(raw);
    let format = hit_format(&p)?;
    let query = p.flow_search(TimeRange::all())?;
    scoped::check_search(&who.scope, &query)?;
    let scope = who.scope;
    let rx = state.subscribe();
    let stream = futures::stream::unfold(
        (rx, query, scope),
        move |(mut rx, query, scope)| async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                let event = match rx.recv().await {
                    Ok(batch) => {
                        let mut flows: Vec<Value> = batch
                            .logs
                            .iter()
                            .enumerate()
                            .filter_map(|(i, log)| {
                                if !scoped::visible(&scope, &query, log) {
                                    return None;
                                }
                                let id = batch.first_record_id.map(|first| first + i as u64);
                                let v = flow_json(log, id, format);
                                if !live_filter::matches(&query, log, &v) {
                                    return None;
                                }
                                if scope.is_admin() {
                                    return Some(v);
                                }
                                Some(flow_json(
                                    &scoped::mask_flow(&scope, log.clone()),
                                    id,
                                    format,
                                ))
                            })
                            .collect();
                        if flows.is_empty() {
                            continue;
                        }
                        let dropped = flows.len().saturating_sub(MAX_LIVE_BATCH);
                        flows.truncate(MAX_LIVE_BATCH);
                        Event::default()
                            .event("flows")
                            .json_data(json!({ "flows": flows, "dropped": dropped }))
                    }
                    Err(RecvError::Lagged(n)) => Event::default()
                        .event("lagged")
                        .json_data(json!({ "missed_batches": n })),
                    Err(RecvError::Closed) => return None,
                };
                let event =
                    event.unwrap_or_else(|e| Event::default().event("error").data(e.to_string()));
                return Some((Ok(event), (rx, query, scope)));
            }
        },
    )
    .take_until(state.shutting_down());
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

pub async fn aggregates(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    raw: RawParams,
) -> ApiResult<Json<Value>> {
    let p = params(raw);
    let (query, group_by) = searches::aggregate(&p, state.now())?;
    let rows = scoped::aggregate(state.store().as_ref(), &who.scope, &query, group_by).await?;
    Ok(Json(json!({ "rows": rows })))
}
