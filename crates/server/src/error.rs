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
    /// What the request was about as it is now (a 409's current policy).
    pub current: Option<serde_json::Value>,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 403: the caller's scope does not allow it; `message` says what is missing.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            details: Vec::new(),
            current: None,
        }
    }
}

impl From<flowlens_store::StoreError> for ApiError {
    fn from(e: flowlens_store::StoreError) -> ApiError {
        use flowlens_store::StoreError as E;
        match &e {
            E::InvalidQuery(_) | E::UnknownField { .. } => ApiError::bad_request(e.to_string()),
            // The server's memory for queries is shared: narrower, or later, may fit.
            E::OutOfQueryMemory(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            _ => ApiError::internal(format!("the store failed: {e}")),
        }
    }
}

/// `message` with absolute file paths replaced by `<path>`: the server's layout is no
/// business of an API client.
fn without_paths(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find('/') {
        let before = &rest[..start];
        let at_word_start = before
            .chars()
            .last()
            .is_none_or(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '(' | '[' | '=' | ':'));
        out.push_str(before);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '"' | '\'' | ')' | ']' | ',' | ';' | ':')
            })
            .unwrap_or(tail.len());
        let (word, after) = tail.split_at(end);
        if at_word_start && word.len() > 1 && !word.starts_with("//") {
            out.push_str("<path>");
        } else {
            out.push_str(word);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // A server-side failure is logged in full and shown without file paths.
        let message = if self.status.is_server_error() {
            tracing::error!("{} answered: {}", self.status, self.message);
            without_paths(&self.message)
        } else {
            self.message
        };
        let mut body = json!({ "error": message });
        if !self.details.is_empty() {
            body["details"] = json!(self.details);
        }
        if let Some(current) = self.current {
            body["current"] = current;
        }
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_do_not_show_file_paths() {
        assert_eq!(
            without_paths("the store failed: cannot read /var/lib/flowlens/files/1.parquet: EIO"),
            "the store failed: cannot read <path>: EIO"
        );
        assert_eq!(
            without_paths("open \"/tmp/x y\" failed (/etc/passwd)"),
            "open \"<path> y\" failed (<path>)"
        );
        assert_eq!(without_paths("a/b and 1/2 stay"), "a/b and 1/2 stay");
    }
}
