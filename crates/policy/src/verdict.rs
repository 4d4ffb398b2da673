//! What an evaluation returns.

use smallvec::SmallVec;

pub use flowlens_model::Action;

/// Who a hit names: a policy (index into the inventory's policies) or a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HitSubject {
    Policy(u32),
    /// The `kns.<ns>` profile of the namespace with this engine namespace id.
    NamespaceProfile(u32),
    /// The first profile of the host endpoint with this endpoint index.
    HostProfile(u32),
}

/// One step of an enforced or pending trace, compact so that evaluation does not allocate
/// strings; [`crate::Engine::policy_hit`] turns it into Calico's hit string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hit {
    pub subject: HitSubject,
    pub action: flowlens_model::HitAction,
    /// Rule index; -1 for the end of a tier.
    pub rule: i32,
}

pub(crate) type Hits = SmallVec<[Hit; 4]>;

/// The verdict of one direction (egress at the source, or ingress at the destination).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectionVerdict {
    pub action: Action,
    pub hits: Hits,
}

/// The verdict the cluster would reach if its staged policies were enforced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingVerdict {
    pub action: Action,
    pub egress: Option<DirectionVerdict>,
    pub ingress: Option<DirectionVerdict>,
}

/// The verdict for a flow: per direction, and overall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowVerdict {
    /// Allowed only if every direction that applies allows.
    pub action: Action,
    /// `None` when the source is not a cluster endpoint.
    pub egress: Option<DirectionVerdict>,
    /// `None` when the destination is not a cluster endpoint.
    pub ingress: Option<DirectionVerdict>,
    pub pending: PendingVerdict,
    /// Set when a rule that decided depends on something flow data does not carry (an HTTP
    /// match, or an ICMP type the record lacks). Such rules are applied on their L3/L4 part,
    /// as Felix's dataplane does, and the verdict is flagged rather than guessed silently.
    pub undecidable: bool,
}

pub(crate) fn combine(
    egress: Option<&DirectionVerdict>,
    ingress: Option<&DirectionVerdict>,
) -> Action {
    let denied = |d: Option<&DirectionVerdict>| d.is_some_and(|d| d.action == Action::Deny);
    if denied(egress) || denied(ingress) {
        Action::Deny
    } else {
        Action::Allow
    }
}
