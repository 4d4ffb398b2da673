//! The Flowlens server: the JSON API described by `openapi.json` (and `docs/api.md`), live
//! flow streams as Server-Sent Events, and the web UI built from `ui/` and embedded in the
//! binary.
//!
//! The server holds one [`AppState`]: the store, the current inventory and its compiled
//! engine, the ingest loops that feed the store (a policy saved here swaps their engine; what
//! they store reaches the live views), and — in the demo — the scenario, steered through
//! [`ScenarioControl`].

mod api;
mod assets;
pub mod audit;
pub mod auth;
pub mod cluster;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod graph;
pub mod guard;
pub mod kube_auth;
pub mod limits;
mod live_filter;
mod params;
pub mod roles;
mod scenario;
mod scoped;
pub mod searches;
mod state;
pub mod tls;

pub use audit::{AUDIT_FILE, AuditEntry};
pub use auth::{AuthConfig, Principal, Token};
pub use cluster::ClusterLink;
pub use error::{ApiError, ApiResult};
pub use guard::AllowedHosts;
pub use kube_auth::{KubeAuth, KubeIdentity};
pub use params::{MAX_FILTERS, MAX_IN_ITEMS, MAX_SORT_KEYS, Params, read_flow_query};
pub use roles::{Access, Grants, Roles, RolesError, Scope};
pub use scenario::{ScenarioControl, ScenarioInfo, StepFuture, StepInfo, StepOutcome};
pub use state::{
    AppState, DEFAULT_MAX_LIVE_STREAMS, LIVE_RETRY_AFTER_SECS, LiveBatch, LiveStreamSlot,
    PolicyEdit, World,
};
pub use tls::{Https, HttpsStats, TlsError, TlsListener};

use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

/// How the server is set up.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Serve the UI from this directory instead of the embedded copy (UI development).
    pub ui_dir: Option<PathBuf>,
    /// Who may use the API.
    pub auth: AuthConfig,
    /// The names requests may be addressed to.
    pub hosts: AllowedHosts,
    /// The server speaks HTTPS: the session cookie is `Secure` and responses carry
    /// `Strict-Transport-Security`.
    pub https: bool,
}

/// The whole application: API under `/api`, the UI everywhere else; every request passes the
/// Host and Origin checks, then authentication.
pub fn router(state: AppState, options: &ServerOptions) -> Router {
    let mut auth = options.auth.clone();
    auth.secure_cookie |= options.https;
    let auth = std::sync::Arc::new(auth);
    let router = api::router(state, auth.clone())
        .merge(assets::router(options.ui_dir.clone()))
        .layer(axum::middleware::from_fn_with_state(auth, auth::require))
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::new(options.hosts.clone()),
            guard::check,
        ));
    if options.https {
        router.layer(axum::middleware::from_fn(guard::strict_transport))
    } else {
        router
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight
/// finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Serves `router` over HTTPS (HTTP/2 or HTTP/1.1, as the client's ALPN asks) on `listener`
/// until `shutdown` completes, then lets requests in flight finish.
pub async fn serve_tls(
    listener: TlsListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // `tap_io` does nothing to the connection; it is the wrapper for which axum hands a custom
    // listener's peer address to `ConnectInfo`.
    let listener = axum::serve::ListenerExt::tap_io(listener, |_| {});
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
