//! How many requests that scan the store run at once. Each scan uses every core, so more at
//! once only share them and hold more memory; the others wait their turn (within the
//! request timeout, and leave the queue when they are dropped).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Requests that scan the store at once.
pub const MAX_CONCURRENT_QUERIES: usize = 4;

/// The permits the routes that scan the store share.
pub fn query_permits() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(MAX_CONCURRENT_QUERIES))
}

/// The permits, for handlers whose work goes on after they answer (a streamed export reads
/// its later pages while the body is sent, each in turn with the other scans).
#[derive(Clone)]
pub struct QueryPermits(pub Arc<Semaphore>);

impl QueryPermits {
    /// Waits for a permit.
    pub async fn acquire(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.0
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }
}

/// Runs the request once one of `permits` is free (a middleware).
pub async fn in_turn(
    State(permits): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    let _permit = permits
        .acquire()
        .await
        .expect("the semaphore is never closed");
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tower::ServiceExt;

    #[tokio::test]
    async fn no_more_requests_run_at_once_than_there_are_permits() {
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
            axum::middleware::from_fn_with_state(Arc::new(Semaphore::new(2)), in_turn),
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
