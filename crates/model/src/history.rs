//! The history of policies and tiers: every change with its time and the cluster's
//! `resourceVersion`, so a stored flow can be explained against the policies in force when
//! it happened, and "what changed between yesterday and today" has an answer.

use crate::timeline::UnixMillis;
use crate::{Inventory, Policy, PolicyId, Tier};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a revision records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevisionKind {
    /// Found by a full listing (the watch starting, or listing again after losing its
    /// place): in this shape since at least `at`, the object's last recorded change.
    Observed,
    Created,
    Updated,
    Deleted,
}

/// One state of one object.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Revision<T> {
    pub at: UnixMillis,
    /// The object's `metadata.resourceVersion` (for a deletion, the last one it had).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    pub kind: RevisionKind,
    /// The object after the change; `None` once deleted.
    pub state: Option<Arc<T>>,
}

// By hand: a derive would ask `T: Clone`, and cloning a revision only clones the `Arc`.
impl<T> Clone for Revision<T> {
    fn clone(&self) -> Self {
        Revision {
            at: self.at,
            resource_version: self.resource_version.clone(),
            kind: self.kind,
            state: self.state.clone(),
        }
    }
}

pub type PolicyRevision = Revision<Policy>;
pub type TierRevision = Revision<Tier>;

/// How one object differs between two times.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change<K, T> {
    pub id: K,
    /// The state in force at the start (`None`: it did not exist).
    pub before: Option<Arc<T>>,
    /// The state in force at the end.
    pub after: Option<Arc<T>>,
    /// Every revision in between, oldest first.
    pub revisions: Vec<Revision<T>>,
}

pub type PolicyChange = Change<PolicyId, Policy>;
pub type TierChange = Change<String, Tier>;

/// Revisions of policies (by id) and tiers (by name), oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyHistory {
    policies: BTreeMap<PolicyId, Vec<PolicyRevision>>,
    tiers: BTreeMap<String, Vec<TierRevision>>,
}

fn state_at<T>(revisions: &[Revision<T>], t: UnixMillis) -> Option<&Arc<T>> {
    let i = revisions.partition_point(|r| r.at <= t);
    revisions.get(i.checked_sub(1)?)?.state.as_ref()
}

fn same_state<T: PartialEq>(a: Option<&Arc<T>>, b: Option<&Arc<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
        (None, None) => true,
        _ => false,
    }
}

/// Appends a revision unless it changes nothing (a status-only update, a listing that finds
/// what is known). Revisions stay ordered by time: one dated before the last is moved to it.
fn record<T: PartialEq>(revisions: &mut Vec<Revision<T>>, mut revision: Revision<T>) -> bool {
    let last = revisions.last();
    if same_state(last.and_then(|r| r.state.as_ref()), revision.state.as_ref())
        && (last.is_some() || revision.state.is_none())
    {
        return false;
    }
    if let Some(last) = last {
        revision.at = revision.at.max(last.at);
    }
    revisions.push(revision);
    true
}

fn changes<K: Clone, T: PartialEq>(
    all: &BTreeMap<K, Vec<Revision<T>>>,
    from: UnixMillis,
    to: UnixMillis,
) -> Vec<Change<K, T>> {
    all.iter()
        .filter_map(|(id, revisions)| {
            let during: Vec<Revision<T>> = revisions
                .iter()
                .filter(|r| r.at > from && r.at <= to)
                .cloned()
                .collect();
            if during.is_empty() {
                return None;
            }
            Some(Change {
                id: id.clone(),
                before: state_at(revisions, from).cloned(),
                after: state_at(revisions, to).cloned(),
                revisions: during,
            })
        })
        .collect()
}

fn prune<K: Ord, T>(all: &mut BTreeMap<K, Vec<Revision<T>>>, t: UnixMillis) -> usize {
    let mut removed = 0;
    all.retain(|_, revisions| {
        // Keep the state in force at `t` (the last revision at or before it) and later ones.
        let keep_from = revisions.partition_point(|r| r.at <= t).saturating_sub(1);
        removed += keep_from;
        revisions.drain(..keep_from);
        let gone = revisions.len() == 1 && revisions[0].state.is_none() && revisions[0].at <= t;
        if gone {
            removed += 1;
        }
        !gone
    });
    removed
}

impl PolicyHistory {
    pub fn new() -> PolicyHistory {
        PolicyHistory::default()
    }

    /// Records a policy's new state (`None`: deleted). Returns whether anything changed.
    pub fn record_policy(&mut self, id: PolicyId, revision: PolicyRevision) -> bool {
        record(self.policies.entry(id).or_default(), revision)
    }

    /// Records a tier's new state (`None`: deleted). Returns whether anything changed.
    pub fn record_tier(&mut self, name: String, revision: TierRevision) -> bool {
        record(self.tiers.entry(name).or_default(), revision)
    }

    /// A policy's revisions, oldest first.
    pub fn policy_revisions(&self, id: &PolicyId) -> &[PolicyRevision] {
        self.policies.get(id).map_or(&[], Vec::as_slice)
    }

    /// A tier's revisions, oldest first.
    pub fn tier_revisions(&self, name: &str) -> &[TierRevision] {
        self.tiers.get(name).map_or(&[], Vec::as_slice)
    }

    /// The policy as it was at `t`.
    pub fn policy_at(&self, id: &PolicyId, t: UnixMillis) -> Option<&Arc<Policy>> {
        state_at(self.policy_revisions(id), t)
    }

    /// Every policy in force at `t`.
    pub fn policies_at(&self, t: UnixMillis) -> Vec<Arc<Policy>> {
        self.policies
            .values()
            .filter_map(|r| state_at(r, t).cloned())
            .collect()
    }

    /// Every tier declared at `t`.
    pub fn tiers_at(&self, t: UnixMillis) -> Vec<Arc<Tier>> {
        self.tiers
            .values()
            .filter_map(|r| state_at(r, t).cloned())
            .collect()
    }

    /// `current` with the tiers and policies it had at `t` (endpoints, services and the rest
    /// unchanged), in evaluation order: what `explain` evaluates a stored flow against.
    pub fn inventory_at(&self, current: &Inventory, t: UnixMillis) -> Inventory {
        let mut inv = Inventory {
            tiers: self.tiers_at(t).iter().map(|t| (**t).clone()).collect(),
            policies: self.policies_at(t).iter().map(|p| (**p).clone()).collect(),
            ..current.clone()
        };
        inv.ensure_builtin_tiers();
        inv.sort_in_evaluation_order();
        inv
    }

    /// Policies that changed in `(from, to]`, with their state at both ends.
    pub fn policy_changes(&self, from: UnixMillis, to: UnixMillis) -> Vec<PolicyChange> {
        changes(&self.policies, from, to)
    }

    /// Tiers that changed in `(from, to]`, with their state at both ends.
    pub fn tier_changes(&self, from: UnixMillis, to: UnixMillis) -> Vec<TierChange> {
        changes(&self.tiers, from, to)
    }

    /// Forgets what no time at or after `t` needs: revisions superseded before `t`, and
    /// objects deleted before it. Returns how many revisions were dropped.
    pub fn prune_before(&mut self, t: UnixMillis) -> usize {
        prune(&mut self.policies, t) + prune(&mut self.tiers, t)
    }

    /// How many revisions are kept.
    pub fn len(&self) -> usize {
        self.policies.values().map(Vec::len).sum::<usize>()
            + self.tiers.values().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty() && self.tiers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PolicyKind, PolicyTypes, StagedAction, TierDefaultAction};
    use flowlens_selector::Selector;

    fn policy(order: f64) -> Policy {
        Policy {
            kind: PolicyKind::NetworkPolicy,
            name: "allow-web".into(),
            namespace: Some("shop".into()),
            tier: "default".into(),
            order: Some(order),
            selector: Selector::all(),
            namespace_selector: None,
            service_account_selector: None,
            types: PolicyTypes {
                ingress: true,
                egress: false,
            },
            ingress: vec![],
            egress: vec![],
            do_not_track: false,
            pre_dnat: false,
            apply_on_forward: false,
            staged_action: StagedAction::Set,
            source: None,
        }
    }

    fn rev(at: i64, rv: &str, kind: RevisionKind, p: Option<Policy>) -> PolicyRevision {
        Revision {
            at,
            resource_version: Some(rv.into()),
            kind,
            state: p.map(Arc::new),
        }
    }

    #[test]
    fn states_at_times_and_changes_between() {
        let id = PolicyId::of(&policy(1.0));
        let mut h = PolicyHistory::new();
        assert!(h.record_policy(
            id.clone(),
            rev(100, "1", RevisionKind::Created, Some(policy(1.0)))
        ));
        // The same state again (a status-only update) is not a revision.
        assert!(!h.record_policy(
            id.clone(),
            rev(150, "2", RevisionKind::Updated, Some(policy(1.0)))
        ));
        assert!(h.record_policy(
            id.clone(),
            rev(200, "3", RevisionKind::Updated, Some(policy(2.0)))
        ));
        assert!(h.record_policy(id.clone(), rev(300, "4", RevisionKind::Deleted, None)));
        assert!(!h.record_policy(id.clone(), rev(310, "4", RevisionKind::Deleted, None)));
        assert_eq!(h.policy_revisions(&id).len(), 3);

        assert!(h.policy_at(&id, 99).is_none());
        assert_eq!(h.policy_at(&id, 150).unwrap().order, Some(1.0));
        assert_eq!(h.policy_at(&id, 250).unwrap().order, Some(2.0));
        assert!(h.policy_at(&id, 300).is_none());

        let changes = h.policy_changes(150, 250);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].before.as_ref().unwrap().order, Some(1.0));
        assert_eq!(changes[0].after.as_ref().unwrap().order, Some(2.0));
        assert_eq!(changes[0].revisions.len(), 1);
        assert!(h.policy_changes(300, 1000).is_empty());

        let mut inv = Inventory::new();
        inv.tiers.clear();
        assert_eq!(h.inventory_at(&inv, 250).policies.len(), 1);
        assert_eq!(h.inventory_at(&inv, 250).tiers.len(), 3);
        assert!(h.inventory_at(&inv, 350).policies.is_empty());

        h.record_tier(
            "security".into(),
            Revision {
                at: 50,
                resource_version: None,
                kind: RevisionKind::Observed,
                state: Some(Arc::new(Tier {
                    name: "security".into(),
                    order: Some(10.0),
                    default_action: TierDefaultAction::Deny,
                })),
            },
        );
        assert_eq!(h.tiers_at(60).len(), 1);
        assert_eq!(h.tier_changes(0, 60).len(), 1);

        // Pruning keeps what is in force at the horizon.
        assert_eq!(h.prune_before(250), 1);
        assert_eq!(h.policy_at(&id, 250).unwrap().order, Some(2.0));
        assert_eq!(h.prune_before(1_000), 2);
        assert!(h.policy_revisions(&id).is_empty());
        assert_eq!(h.tier_revisions("security").len(), 1);
    }

    #[test]
    fn out_of_order_revisions_keep_time_order() {
        let id = PolicyId::of(&policy(1.0));
        let mut h = PolicyHistory::new();
        h.record_policy(
            id.clone(),
            rev(500, "7", RevisionKind::Observed, Some(policy(1.0))),
        );
        h.record_policy(
            id.clone(),
            rev(400, "8", RevisionKind::Updated, Some(policy(3.0))),
        );
        let revisions = h.policy_revisions(&id);
        assert_eq!(revisions[1].at, 500);
        assert_eq!(h.policy_at(&id, 500).unwrap().order, Some(3.0));
    }
}
