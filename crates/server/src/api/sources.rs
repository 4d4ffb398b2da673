//! `/api/sources`: every source feeding the store (files, the demo's simulator, live network
//! sources) with its figures.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use flowlens_ingest::{SourceState, SourceStatus, VerdictComparison};
use serde_json::{Value, json};
use std::time::UNIX_EPOCH;

pub async fn sources(State(state): State<AppState>) -> Json<Value> {
    let sources: Vec<Value> = state.sources().iter().map(source_json).collect();
    Json(json!({ "sources": sources }))
}

pub(crate) fn source_json(s: &SourceStatus) -> Value {
    let health = s.health.clone().unwrap_or_default();
    let (state, error) = match &s.state {
        SourceState::Running => ("running", None),
        SourceState::Ended => ("ended", None),
        SourceState::Failed(e) => ("failed", Some(e.clone())),
    };
    json!({
        "name": s.name,
        "kind": s.kind,
        "state": state,
        "error": error,
        // A source without a connection of its own (a file, the simulator) is "connected"
        // while it runs.
        "connected": if s.health.is_some() { health.connected } else { s.state == SourceState::Running },
        "connections": health.connections,
        "records": s.records,
        "records_per_second": (s.records_per_second * 10.0).round() / 10.0,
        "rejected": s.rejected,
        "dropped": s.dropped + health.dropped,
        "duplicates": health.duplicates,
        "lost_upstream": health.lost_upstream,
        "sequence_gaps": health.sequence_gaps,
        "ignored": health.ignored,
        "errors": health.errors,
        "reconnects": health.reconnects,
        "last_error": health.last_error,
        "verdicts": s.verdicts.as_ref().map(verdicts_json),
        "last_record_time": s.last_record
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64()),
    })
}

/// How an observer's verdicts (Hubble's) compare with the engine's.
fn verdicts_json(v: &VerdictComparison) -> Value {
    let recent: Vec<Value> = v
        .recent
        .iter()
        .map(|d| {
            json!({
                "end_time": d.end_time,
                "source": d.source,
                "dest": d.dest,
                "dest_port": d.dest_port,
                "protocol": d.protocol,
                "reporter": d.reporter.as_str(),
                "observer_action": d.observer_action.as_str(),
                "observer_policies": d.observer_policies,
                "engine_action": d.engine_action.as_str(),
                "engine_policies": d.engine_policies,
                "unmodelled": d.unmodelled,
            })
        })
        .collect();
    json!({
        "compared": v.compared,
        "disagreed": v.disagreed,
        "unmodelled": v.unmodelled,
        "recent": recent,
    })
}
