//! Errors as JSON with a message a person can act on.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// One problem in a submitted manifest, at its line and field.
#[derive(Clone, Debug, Serialize)]
pub struct Detail {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub details: Vec<Detail>,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }
}

impl From<flowlens_store::StoreError> for ApiError {
    fn from(e: flowlens_store::StoreError) -> ApiError {
        use flowlens_store::StoreError as E;
        match &e {
            E::InvalidQuery(_) | E::UnknownField { .. } => ApiError::bad_request(e.to_string()),
            _ => {
                tracing::error!("store: {e}");
                ApiError::internal(format!("the store failed: {e}"))
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if !self.details.is_empty() {
            body["details"] = json!(self.details);
        }
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
