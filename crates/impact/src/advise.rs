//! The policy advisor over the stored history: learns the recommendation from a window's
//! flows, tells where each policy stands in its lifecycle, and proves each one with the
//! impact preview before anyone enforces it. `flowlens recommend` and the HTTP API both
//! call [`advise`].

use crate::{ImpactError, PolicyChange, preview_change_of};
use flowlens_advisor::{ObservedFlow, Options, PolicyStatus, Recommendation, lifecycle, recommend};
use flowlens_model::FlowTuple;
use flowlens_policy::Engine;
use flowlens_policy::preview::Preview;
use flowlens_store::{FlowSearch, Store, TimeRange};
use std::sync::Arc;

/// What to learn from and how.
#[derive(Clone, Debug)]
pub struct AdviceRequest {
    pub options: Options,
    /// The learning window (`TimeRange::all()`: everything stored).
    pub window: TimeRange,
    /// A policy is stable once the traffic of this last stretch of the window (seconds)
    /// added no rule to what the window before it taught.
    pub stabilization_secs: i64,
    /// Preview each policy, enforced, over the window.
    pub prove: bool,
}

/// Calico Enterprise's default stabilization period: ten minutes without a new rule.
pub const DEFAULT_STABILIZATION_SECS: i64 = 600;

/// The advisor's answer.
#[derive(Debug)]
pub struct Advice {
    pub recommendation: Recommendation,
    /// The window actually read (the stored history's bounds when asked for everything).
    pub window: Option<TimeRange>,
    /// Per policy of the recommendation, same order.
    pub statuses: Vec<PolicyStatus>,
    /// Per policy when proving was asked for, same order.
    pub proofs: Vec<Preview>,
}

/// Recommends from the flows of `request.window` in `store` for the inventory `current`
/// was compiled from, with each policy's lifecycle state and (optionally) its proof.
pub async fn advise(
    store: &dyn Store,
    current: &Arc<Engine>,
    request: &AdviceRequest,
) -> Result<Advice, ImpactError> {
    let inventory = current.inventory();
    // The window as stored flows bound it, so its last stretch is the stabilization period.
    let bounds = store.time_bounds().await?;
    let window = bounds.map(|(oldest, newest)| {
        TimeRange::new(
            request.window.from.max(oldest),
            request.window.to.min(newest.saturating_add(1)),
        )
    });
    let tuples = |range: TimeRange| async move {
        Ok::<_, ImpactError>(store.flow_tuples(&FlowSearch::new(range), false).await?)
    };
    let observed = |tuples: &[FlowTuple]| tuples.iter().map(ObservedFlow::from).collect::<Vec<_>>();
    let (all, earlier) = match window {
        Some(w) => {
            let cut = w.to.saturating_sub(request.stabilization_secs);
            // A window no longer than the period has nothing before it: all is learning.
            let earlier = if cut > w.from {
                observed(&tuples(TimeRange::new(w.from, cut)).await?)
            } else {
                Vec::new()
            };
            (tuples(w).await?, earlier)
        }
        None => (Vec::new(), Vec::new()),
    };
    let recommendation = recommend(inventory, &observed(&all), &request.options);
    let statuses = lifecycle(
        &recommendation,
        &recommend(inventory, &earlier, &request.options),
        inventory,
    );
    let mut proofs = Vec::new();
    if request.prove && !recommendation.policies.is_empty() {
        let with_tier = Arc::new(Engine::new(recommendation.with_tier(inventory)));
        let range = window.unwrap_or(request.window);
        let enforced: Vec<_> = recommendation
            .policies
            .iter()
            .map(|p| p.enforced())
            .collect();
        // The window's flows are read once for every proof; again with their source ports
        // only when some policy in force looks at them.
        let source_ports = with_tier.inventory().uses_source_ports()
            || enforced.iter().any(|p| p.uses_source_ports());
        let tuples = Arc::new(if source_ports {
            store.flow_tuples(&FlowSearch::new(range), true).await?
        } else {
            all
        });
        for p in enforced {
            let change = PolicyChange::Upsert(Box::new(p));
            proofs.push(preview_change_of(&with_tier, change, range, tuples.clone()).await?);
        }
    }
    Ok(Advice {
        recommendation,
        window,
        statuses,
        proofs,
    })
}
