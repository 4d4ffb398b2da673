//! The running scenario (demo): its steps, and applying one now.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;

fn no_scenario() -> ApiError {
    ApiError::not_found("no scenario is running; start one with `flowlens demo --scenario NAME`")
}

pub async fn info(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let scenario = state.scenario().ok_or_else(no_scenario)?;
    Ok(Json(
        serde_json::to_value(scenario.info()).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

pub async fn apply_step(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let scenario = state.scenario().ok_or_else(no_scenario)?;
    let info = scenario.info();
    if !info.steps.iter().any(|s| s.name == name) {
        let steps: Vec<String> = info.steps.into_iter().map(|s| s.name).collect();
        return Err(ApiError::not_found(format!(
            "scenario {:?} has no step {name:?}; its steps: {}",
            info.name,
            steps.join(", ")
        )));
    }
    let outcome = scenario
        .apply_step(&name)
        .await
        .map_err(ApiError::bad_request)?;
    Ok(Json(
        serde_json::to_value(outcome).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}
