//! The audit over the stored history: the static reachability of today's policies held
//! against the flows of a window. `flowlens audit` and the HTTP API both call [`audit`].

use crate::ImpactError;
use flowlens_advisor::ObservedFlow;
use flowlens_advisor::audit::{Audit, AuditOptions};
use flowlens_policy::Engine;
use flowlens_policy::reachability::{ReachOptions, reachability};
use flowlens_store::{FlowSearch, Store, TimeRange};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to audit.
#[derive(Clone, Debug)]
pub struct AuditRequest {
    pub options: AuditOptions,
    /// The window of observed traffic (`TimeRange::all()`: everything stored).
    pub window: TimeRange,
}

/// The audit with the window it read and where its time went.
#[derive(Debug)]
pub struct AuditAnswer {
    pub audit: Audit,
    /// The window actually read (the stored history's bounds when asked for everything);
    /// `None` when nothing is stored.
    pub window: Option<TimeRange>,
    /// The reachability (asking the engine) and the store's distinct flows, side by side.
    pub reachability_time: Duration,
    pub flows_time: Duration,
}

/// Audits the inventory `current` was compiled from against the flows of `request.window`.
/// Needs a Tokio runtime: the reachability is computed on a blocking thread while the store
/// groups the window's flows.
pub async fn audit(
    store: &dyn Store,
    current: &Arc<Engine>,
    request: &AuditRequest,
) -> Result<AuditAnswer, ImpactError> {
    let engine = current.clone();
    let reach_options = ReachOptions {
        namespaces: request.options.namespaces.clone(),
    };
    let reach = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        (reachability(&engine, &reach_options), t.elapsed())
    });
    let started = Instant::now();
    let bounds = store.time_bounds().await?;
    let window = bounds.map(|(oldest, newest)| {
        TimeRange::new(
            request.window.from.max(oldest),
            request.window.to.min(newest.saturating_add(1)),
        )
    });
    let flows: Vec<ObservedFlow> = match window {
        Some(w) if w.to > w.from => store
            .flow_tuples(&FlowSearch::new(w), false)
            .await?
            .iter()
            .map(ObservedFlow::from)
            .collect(),
        _ => Vec::new(),
    };
    let flows_time = started.elapsed();
    let (reach, reachability_time) = reach.await.map_err(|e| ImpactError::Task(e.to_string()))?;
    let engine = current.clone();
    let options = request.options.clone();
    let audit = tokio::task::spawn_blocking(move || {
        flowlens_advisor::audit::audit(&engine, &reach, &flows, &options)
    })
    .await
    .map_err(|e| ImpactError::Task(e.to_string()))?;
    Ok(AuditAnswer {
        audit,
        window,
        reachability_time,
        flows_time,
    })
}
