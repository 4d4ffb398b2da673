//! Impact preview: what a policy change would have done to the traffic already seen.
//!
//! # API
//!
//! - [`preview`]`(before: &Engine, after: &Engine, changed: &PolicyId, tuples: &[FlowTuple])
//!   -> Result<Preview, PreviewError>`: `before` is the engine of the running inventory,
//!   `after` the engine of the draft (the same inventory with one policy inserted, replaced
//!   or removed; endpoints, namespaces and network sets must be the same).
//! - Tuples must keep source ports when either inventory's rules look at them
//!   ([`Inventory::uses_source_ports`](flowlens_model::Inventory::uses_source_ports)); known
//!   before the draft's engine is built, so the tuple query can run while it compiles.
//! - [`Preview`] serialises to the JSON of docs/api.md's "Preview" section.
//!
//! Building the draft, compiling its engine while the store groups the window's flows, and
//! calling [`preview`] is done once for every caller by the `flowlens-impact` crate.
//!
//! # How
//!
//! Stored flow logs are grouped by the store into distinct tuples (both ends, protocol,
//! destination port, reporter, stored action) so each is evaluated once. The two reporters'
//! records of one connection are merged (connections counted once: the larger of the two
//! reporters' `num_flows`). A tuple whose ends the changed policy applies to in neither
//! engine cannot change and is counted as unchanged without evaluation. Otherwise each end
//! is turned back into something the engine can evaluate:
//!
//! - an IP that was kept resolves exactly;
//! - an aggregated pod or host endpoint (`engine-*`) stands for every endpoint of the
//!   inventory with that namespace and aggregated name (and the logged labels, when
//!   logged); endpoints that differ in labels, service account or ports are evaluated one
//!   by one, and a tuple whose endpoints get different verdicts is *uncertain*;
//! - a network set stands for the addresses of its nets; `pub`/`pvt` for any public or
//!   private address.
//!
//! Both engines evaluate every combination, watching each rule they examine: a rule whose
//! outcome depends on something the flow log no longer carries (nets when the address was
//! aggregated away, source ports when they were, a destination port that is absent, HTTP
//! or ICMP type matches) makes the tuple *uncertain* with that reason instead of a guess.
//! Otherwise the verdicts compare: `allow_to_deny`, `deny_to_allow` or unchanged. When the
//! changed policy is staged, the pending (staged) verdicts are compared, since staged
//! policies never change enforcement.
//!
//! Simplification: when an aggregated network-set address could lie in several overlapping
//! network sets, the sets containing each of its prefixes' first address are used.

mod compare;
mod ends;
mod reach;
#[cfg(test)]
mod tests;
mod uncertainty;

pub use compare::preview;

use crate::verdict::Action;
use flowlens_model::PolicyId;
use serde::Serialize;

/// The time window the tuples came from (unix seconds, `to` exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

/// What happens to the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Create,
    Replace,
    Delete,
}

/// Which verdict is compared: enforced, or pending when the changed policy is staged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compared {
    Enforced,
    Pending,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    AllowToDeny,
    DenyToAllow,
    Uncertain,
}

/// Counts per outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub allow_to_deny: u64,
    pub deny_to_allow: u64,
    pub uncertain: u64,
    pub unchanged: u64,
}

impl Summary {
    fn add(&mut self, kind: Option<ChangeKind>, n: u64) {
        *match kind {
            Some(ChangeKind::AllowToDeny) => &mut self.allow_to_deny,
            Some(ChangeKind::DenyToAllow) => &mut self.deny_to_allow,
            Some(ChangeKind::Uncertain) => &mut self.uncertain,
            None => &mut self.unchanged,
        } += n;
    }
}

/// One group of changed (or uncertain) flows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub change: ChangeKind,
    pub source_namespace: Option<String>,
    pub source_name_aggr: String,
    pub dest_namespace: Option<String>,
    pub dest_name_aggr: String,
    pub proto: String,
    pub dest_port: Option<u16>,
    /// Flow log records in the group (both reporters).
    pub flow_logs: u64,
    /// Connections (each counted once, not once per reporter).
    pub num_flows: u64,
    /// The hit that decides today, and with the draft (`None` when it cannot be known).
    pub before: Option<String>,
    pub after: Option<String>,
    pub before_action: Option<Action>,
    pub after_action: Option<Action>,
    /// Why the outcome is uncertain; `None` for certain changes.
    pub reason: Option<String>,
}

/// The impact preview. `summary` counts flow logs; `summary_num_flows` connections.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Preview {
    /// Set by the caller.
    pub window: Option<Window>,
    pub policy: PolicyId,
    pub operation: Operation,
    pub compared: Compared,
    /// Distinct tuples in the window (reporters merged).
    pub tuples: usize,
    /// Of those, the ones the changed policy applies to, evaluated with both engines.
    pub evaluated_tuples: usize,
    pub flow_logs: u64,
    pub num_flows: u64,
    pub summary: Summary,
    pub summary_num_flows: Summary,
    /// Flow logs, among the evaluated ones, whose stored action differs from what the
    /// current policy decides (traffic logged under an older policy set, or by a source
    /// that disagrees).
    pub stored_mismatch_flow_logs: u64,
    /// Largest `num_flows` first.
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    #[error(
        "the draft inventory must have the same endpoints, namespaces and network sets as the current one; only policies may differ"
    )]
    InventoriesDiffer,
    #[error("policy {0} is in neither the current nor the draft inventory")]
    UnknownPolicy(PolicyId),
}
