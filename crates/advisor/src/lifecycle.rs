//! Where each recommended policy stands, as Calico Enterprise's recommendation lifecycle
//! has it: *learning* while recent traffic still adds rules, *stable* once a whole
//! stabilization period added none, then *staged* or *enforced* once someone applied it.

use crate::recommend::Recommendation;
use flowlens_model::{Inventory, Policy, PolicyId, PolicyKind};
use serde::Serialize;

/// The state of one recommended policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// The traffic of the last stabilization period added or changed rules.
    Learning,
    /// The last stabilization period added no rule: ready to stage or enforce.
    Stable,
    /// A `StagedNetworkPolicy` of this name is in the cluster.
    Staged,
    /// A `NetworkPolicy` of this name is in the cluster: the recommendation is in force.
    Enforced,
}

/// A recommended policy's state, and how it compares with what is applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyStatus {
    pub lifecycle: Lifecycle,
    /// Rules of the recommendation that the one learned without the stabilization period
    /// lacked (new peers, or ports that widened a rule).
    pub new_rules: usize,
    /// Staged or enforced: whether the applied policy's rules differ from today's
    /// recommendation (traffic since applying taught it more).
    pub differs_from_applied: bool,
}

/// The status of each policy of `current` (same order): `earlier` is the recommendation
/// learned from the same window without its last stabilization period, `inventory` the
/// cluster now. Applied beats learned: an enforced policy is `Enforced` even while traffic
/// still teaches its recommendation new rules (`differs_from_applied` says so).
pub fn lifecycle(
    current: &Recommendation,
    earlier: &Recommendation,
    inventory: &Inventory,
) -> Vec<PolicyStatus> {
    current
        .policies
        .iter()
        .map(|p| {
            let before = earlier
                .policies
                .iter()
                .find(|e| e.namespace == p.namespace && e.direction == p.direction);
            let new_rules = p
                .rules()
                .iter()
                .filter(|r| before.is_none_or(|b| !b.rules().contains(r)))
                .count();
            let applied = |kind: PolicyKind| {
                inventory.policy(&PolicyId {
                    kind,
                    ..PolicyId::of(&p.policy)
                })
            };
            let (lifecycle, applied) = if let Some(a) = applied(PolicyKind::NetworkPolicy) {
                (Lifecycle::Enforced, Some(a))
            } else if let Some(a) = applied(PolicyKind::StagedNetworkPolicy) {
                (Lifecycle::Staged, Some(a))
            } else if new_rules > 0 {
                (Lifecycle::Learning, None)
            } else {
                (Lifecycle::Stable, None)
            };
            PolicyStatus {
                lifecycle,
                new_rules,
                differs_from_applied: applied.is_some_and(|a: &Policy| {
                    a.ingress != p.policy.ingress || a.egress != p.policy.egress
                }),
            }
        })
        .collect()
}
