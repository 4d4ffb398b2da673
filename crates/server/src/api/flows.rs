//! Flow logs: pages, exports, the live stream and aggregates.

use super::{RawParams, params};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::limits::QueryPermits;
use crate::live_filter;
use crate::scoped;
use crate::searches;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use flowlens_model::{FlowLog, PolicyHitFormat};
use flowlens_pipeline::encode::calico_json;
use flowlens_store::{FlowSearch, TimeRange};
use futures::StreamExt;
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

/// `GET /api/flows/export`: every flow the query matches (up to [`MAX_EXPORT`]), as CSV or a
/// JSON array, streamed a store page at a time: the server holds one page (at most
/// [`MAX_LIMIT`](flowlens_store::MAX_LIMIT) rows) and its encoding whatever the export's
/// size, and reads the next page only when the client has taken the last. The first page is
/// read before answering, so a query the store refuses gets its error status; a later page
/// that fails ends the body early (the connection is closed without the final chunk).
pub async fn export(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Extension(permits): Extension<QueryPermits>,
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
    let first = scoped::query_flows(state.store().as_ref(), &who.scope, &query).await?;
    let export = Export {
        state,
        scope: who.scope,
        query,
        permits,
        csv,
        format,
        started: false,
        sent: 0,
        next: Some(first),
    };
    let (mime, ext) = if csv {
        ("text/csv; charset=utf-8", "csv")
    } else {
        ("application/json", "json")
    };
    let body =
        axum::body::Body::from_stream(futures::stream::unfold(Some(export), |export| async {
            let mut export = export?;
            match export.chunk().await {
                Ok((chunk, more)) => Some((Ok(chunk), more.then_some(export))),
                Err(e) => {
                    tracing::warn!("an export stopped early: {}", e.message);
                    Some((Err(std::io::Error::other(e.message)), None))
                }
            }
        }));
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

/// An export under way: the query with the next page's token, and how many rows went out.
struct Export {
    state: AppState,
    scope: crate::roles::Scope,
    query: FlowSearch,
    permits: QueryPermits,
    csv: bool,
    format: PolicyHitFormat,
    /// Whether the head went out.
    started: bool,
    sent: usize,
    /// A page read but not sent yet (the first one, read before answering).
    next: Option<flowlens_store::FlowPage>,
}

impl Export {
    /// The next piece of the body, and whether more follows: the head (the CSV header or
    /// `[`) with the first page, each page's rows, the end (`]`) with the last.
    async fn chunk(&mut self) -> ApiResult<(axum::body::Bytes, bool)> {
        let page = match self.next.take() {
            Some(page) => page,
            None => self.read_page().await?,
        };
        let mut out = String::new();
        if !self.started {
            self.started = true;
            if self.csv {
                out.push_str(&format!("id,{}\n", flowlens_pipeline::encode::csv_header()));
            } else {
                out.push('[');
            }
        }
        for (i, log) in page.flows.iter().enumerate() {
            if self.sent == MAX_EXPORT {
                break;
            }
            let id = page.record_ids.get(i).copied();
            let row = flow_json(log, id, self.format);
            if self.csv {
                let id = id.map(|i| i.to_string()).unwrap_or_default();
                out.push_str(&format!(
                    "{id},{}\n",
                    flowlens_pipeline::encode::csv_row(&row)
                ));
            } else {
                if self.sent > 0 {
                    out.push(',');
                }
                out.push_str(
                    &serde_json::to_string(&row).map_err(|e| ApiError::internal(e.to_string()))?,
                );
            }
            self.sent += 1;
        }
        let more = match page.next_page_token {
            Some(token) if self.sent < MAX_EXPORT => {
                self.query.page_token = Some(token);
                true
            }
            _ => false,
        };
        if !more && !self.csv {
            out.push(']');
        }
        Ok((out.into(), more))
    }

    /// The page after the last one sent, in turn with the other scans (the permit is held
    /// for the read only, not while the client takes its time), within the request timeout.
    async fn read_page(&self) -> ApiResult<flowlens_store::FlowPage> {
        let read = async {
            let _permit = self.permits.acquire().await;
            scoped::query_flows(self.state.store().as_ref(), &self.scope, &self.query).await
        };
        tokio::time::timeout(super::REQUEST_TIMEOUT, read)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "a page of the export took too long",
                )
            })?
    }
}

/// Newly stored flows that match the query, as Server-Sent Events (`flows`, and `lagged`
/// when a slow client missed batches). Ends when the server shuts down. At most
/// [`AppState::max_live_streams`] are open at once: the next gets 503 with `Retry-After`.
pub async fn live(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    raw: RawParams,
) -> ApiResult<Response> {
    let p = params(raw);
    let format = hit_format(&p)?;
    let query = p.flow_search(TimeRange::all())?;
    scoped::check_search(&who.scope, &query)?;
    let Some(slot) = state.open_live_stream() else {
        return Ok(live_streams_full(state.max_live_streams()));
    };
    let scope = who.scope;
    let rx = state.subscribe();
    let stream = futures::stream::unfold(
        (rx, query, scope, slot),
        move |(mut rx, query, scope, slot)| async move {
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
                return Some((Ok::<_, Infallible>(event), (rx, query, scope, slot)));
            }
        },
    )
    .take_until(state.shutting_down());
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// 503 for a live stream beyond the cap, with when to try again.
fn live_streams_full(max: usize) -> Response {
    tracing::debug!("a live stream was refused: {max} are open");
    let message = format!(
        "the server has {max} live streams open, its limit (--max-live-streams); close another view or try again in {}s",
        crate::state::LIVE_RETRY_AFTER_SECS
    );
    // Built here rather than as an `ApiError`, which logs every 5xx as an error.
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": message })),
    )
        .into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(crate::state::LIVE_RETRY_AFTER_SECS),
    );
    response
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
