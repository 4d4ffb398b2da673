//! The web UI: files built from `ui/` by `build.rs` and embedded in the binary, or read from
//! a directory during UI development. Unknown paths get `index.html` (the UI routes itself).

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(rust_embed::Embed)]
#[folder = "$OUT_DIR/ui"]
struct Ui;

pub fn router(dir: Option<PathBuf>) -> Router {
    let dir = Arc::new(dir);
    Router::new()
        .route("/", get(index))
        .route("/{*path}", get(file))
        .with_state(dir)
}

async fn index(State(dir): State<Arc<Option<PathBuf>>>) -> Response {
    serve(&dir, "index.html")
}

async fn file(State(dir): State<Arc<Option<PathBuf>>>, Path(path): Path<String>) -> Response {
    if path.starts_with("api/") {
        return crate::error::ApiError::not_found(format!(
            "no API endpoint /{path}; /api/openapi.json lists them"
        ))
        .into_response();
    }
    if !is_plain(&path) {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    serve(&dir, &path)
}

fn serve(dir: &Option<PathBuf>, path: &str) -> Response {
    let (path, bytes) = match load(dir, path) {
        Some(bytes) => (path, bytes),
        None => match load(dir, "index.html") {
            Some(bytes) => ("index.html", bytes),
            None => {
                return (
                    StatusCode::NOT_FOUND,
                    "the web UI was not built into this binary",
                )
                    .into_response();
            }
        },
    };
    let mime = mime_of(path);
    // Vite puts a content hash in asset names, so they never change.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// Whether `path` is made of plain names only: no `..`, no root, no drive, nothing a
/// decoded `%2F` or `%5C` could smuggle in.
fn is_plain(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && !path.contains('\0')
        && std::path::Path::new(path)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

fn load(dir: &Option<PathBuf>, path: &str) -> Option<Vec<u8>> {
    match dir {
        Some(dir) => std::fs::read(dir.join(path)).ok(),
        None => Ui::get(path).map(|f| f.data.into_owned()),
    }
}

fn mime_of(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::is_plain;

    #[test]
    fn only_plain_relative_paths_are_served() {
        for ok in ["index.html", "assets/app-1234.js", "a/b/c.css"] {
            assert!(is_plain(ok), "{ok}");
        }
        for bad in [
            "/etc/passwd",
            "../secret",
            "assets/../../x",
            "a\\..\\b",
            "",
            "a/./b/../c",
            "x\0",
        ] {
            assert!(!is_plain(bad), "{bad:?}");
        }
    }
}
