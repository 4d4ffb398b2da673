//! The impact preview as one service: what a policy change (a draft policy, or deleting
//! one) would have done to the flows already stored. The HTTP API, `flowlens preview` and
//! the preview benchmark all call [`preview_change`].
//!
//! A crate of its own because the recipe needs both the store (the window's distinct flow
//! tuples, [`Store::flow_tuples`]) and the policy engine (compiling the draft, comparing
//! verdicts, [`flowlens_policy::preview`]), which sit side by side in the layering and may
//! not know each other; the ingest crate could reach both too, but previewing is no part of
//! ingesting.
//!
//! ```no_run
//! # async fn demo(store: &dyn flowlens_store::Store, current: std::sync::Arc<flowlens_policy::Engine>,
//! #               draft: flowlens_model::Policy) -> Result<(), flowlens_impact::ImpactError> {
//! use flowlens_impact::{PolicyChange, preview_change};
//! use flowlens_store::TimeRange;
//! let preview = preview_change(store, &current, PolicyChange::Upsert(Box::new(draft)), TimeRange::all()).await?;
//! println!("{} flow logs would turn allowed → denied", preview.summary.allow_to_deny);
//! # Ok(()) }
//! ```

mod advise;
mod audit;

pub use advise::{Advice, AdviceRequest, DEFAULT_STABILIZATION_SECS, advise};
pub use audit::{AuditAnswer, AuditRequest, audit};

use flowlens_model::{FlowTuple, InventoryEditError, Policy, PolicyId};
use flowlens_policy::Engine;
use flowlens_policy::preview::{Preview, PreviewError, Window, preview};
use flowlens_store::{FlowSearch, Store, StoreError, TimeRange};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The change to preview.
#[derive(Clone, Debug)]
pub enum PolicyChange {
    /// The draft is added, or replaces the policy of the same kind, namespace and name.
    Upsert(Box<Policy>),
    Delete(PolicyId),
}

#[derive(Debug, thiserror::Error)]
pub enum ImpactError {
    /// The change does not fit the current inventory (its tier is unknown, the policy to
    /// delete does not exist, …).
    #[error(transparent)]
    Edit(#[from] InventoryEditError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Preview(#[from] PreviewError),
    #[error("the preview stopped: {0}")]
    Task(String),
}

/// Where a preview's time went.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    /// Distinct tuples the store returned (one per reporter, before they are merged).
    pub tuples_read: usize,
    /// The store's distinct-tuple query.
    pub tuples: Duration,
    /// Compiling the draft's engine (alongside the tuple query).
    pub draft_engine: Duration,
    /// Evaluating the tuples with both engines, after both were ready.
    pub evaluation: Duration,
    pub total: Duration,
}

/// Re-evaluates the stored flows of `window` with `current` (the running inventory's
/// engine) and with the inventory after `change`, and reports what would change.
/// [`Preview::window`] is set unless `window` is unbounded. Needs a Tokio runtime: the
/// draft's engine compiles on a blocking thread while the store groups the window's flows.
pub async fn preview_change(
    store: &dyn Store,
    current: &Arc<Engine>,
    change: PolicyChange,
    window: TimeRange,
) -> Result<Preview, ImpactError> {
    preview_change_timed(store, current, change, window)
        .await
        .map(|(preview, _)| preview)
}

/// [`preview_change`], with where its time went.
pub async fn preview_change_timed(
    store: &dyn Store,
    current: &Arc<Engine>,
    change: PolicyChange,
    window: TimeRange,
) -> Result<(Preview, Timings), ImpactError> {
    preview_change_over(store, current, change, window, &[FlowSearch::new(window)]).await
}

/// [`preview_change_timed`] over the flows of `searches` only (disjoint searches within
/// `window`, e.g. the flows a user may see), instead of every flow of the window.
pub async fn preview_change_over(
    store: &dyn Store,
    current: &Arc<Engine>,
    change: PolicyChange,
    window: TimeRange,
    searches: &[FlowSearch],
) -> Result<(Preview, Timings), ImpactError> {
    let started = Instant::now();
    let draft = Draft::of(current, change)?;
    // Known before the draft is compiled, so the tuple query can run meanwhile.
    let source_ports = draft.uses_source_ports(current);
    let after = draft.compile();
    let mut tuples = Vec::new();
    for search in searches {
        tuples.extend(store.flow_tuples(search, source_ports).await?);
    }
    let t_tuples = started.elapsed();
    let tuples_read = tuples.len();
    let (after, changed, t_engine) = after.await.map_err(|e| ImpactError::Task(e.to_string()))?;
    let ready = Instant::now();
    let result = compare(current, after, changed, Arc::new(tuples), window).await?;
    let timings = Timings {
        tuples_read,
        tuples: t_tuples,
        draft_engine: t_engine,
        evaluation: ready.elapsed(),
        total: started.elapsed(),
    };
    Ok((result, timings))
}

/// [`preview_change`] over flow tuples already read from `window` (with source ports when
/// the current or the changed inventory looks at them), for callers that preview several
/// changes over the same flows.
pub(crate) async fn preview_change_of(
    current: &Arc<Engine>,
    change: PolicyChange,
    window: TimeRange,
    tuples: Arc<Vec<FlowTuple>>,
) -> Result<Preview, ImpactError> {
    let (after, changed, _) = Draft::of(current, change)?
        .compile()
        .await
        .map_err(|e| ImpactError::Task(e.to_string()))?;
    compare(current, after, changed, tuples, window).await
}

/// The inventory after a change, and the policy it changed.
struct Draft {
    inventory: flowlens_model::Inventory,
    changed: PolicyId,
}

impl Draft {
    fn of(current: &Engine, change: PolicyChange) -> Result<Draft, ImpactError> {
        let inventory = current.inventory();
        let (inventory, changed) = match change {
            PolicyChange::Upsert(policy) => {
                let id = policy.id();
                (inventory.with_policy(*policy)?, id)
            }
            PolicyChange::Delete(id) => (inventory.without_policy(&id)?, id),
        };
        Ok(Draft { inventory, changed })
    }

    fn uses_source_ports(&self, current: &Engine) -> bool {
        current.inventory().uses_source_ports() || self.inventory.uses_source_ports()
    }

    /// Compiles the draft's engine on a blocking thread.
    fn compile(self) -> tokio::task::JoinHandle<(Arc<Engine>, PolicyId, Duration)> {
        tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            let engine = Arc::new(Engine::new(Arc::new(self.inventory)));
            (engine, self.changed, t.elapsed())
        })
    }
}

/// Evaluates `tuples` with both engines (on a blocking thread) and compares.
async fn compare(
    current: &Arc<Engine>,
    after: Arc<Engine>,
    changed: PolicyId,
    tuples: Arc<Vec<FlowTuple>>,
    window: TimeRange,
) -> Result<Preview, ImpactError> {
    let before = current.clone();
    let mut result =
        tokio::task::spawn_blocking(move || preview(&before, &after, &changed, &tuples))
            .await
            .map_err(|e| ImpactError::Task(e.to_string()))??;
    if !window.is_all() {
        result.window = Some(Window {
            from: window.from,
            to: window.to,
        });
    }
    Ok(result)
}
