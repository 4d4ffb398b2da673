//! What a change can touch: the endpoints the changed policy applies to in either engine,
//! and, for ends the inventory does not know, whether it might apply judging by the labels
//! the flow log kept. Tuples out of its reach are unchanged without being evaluated.

use super::Compared;
use crate::engine::Engine;
use flowlens_model::{EndpointType, FlowEnd, Policy, well_known_labels};

/// The policies applying to an endpoint in one direction include policy `pi`.
pub(super) struct Affected {
    /// Per plan id: whether it holds the policy.
    plan_has: Vec<bool>,
    /// Plan slots compared: enforced (0, 1) or pending (2, 3).
    slot_base: usize,
}

impl Affected {
    pub fn new(engine: &Engine, policy: Option<usize>, compared: Compared) -> Affected {
        let plan_has = engine
            .compiled
            .plans
            .iter()
            .map(|plan| {
                policy.is_some_and(|pi| {
                    plan.untracked
                        .iter()
                        .chain(&plan.pre_dnat)
                        .chain(&plan.normal)
                        .any(|t| t.policies.contains(&(pi as u32)))
                })
            })
            .collect();
        Affected {
            plan_has,
            slot_base: if compared == Compared::Pending { 2 } else { 0 },
        }
    }

    pub fn applies(&self, engine: &Engine, endpoint: u32, ingress: bool) -> bool {
        let slot = self.slot_base + usize::from(ingress);
        engine
            .compiled
            .endpoint_plans
            .get(endpoint as usize)
            .is_some_and(|plans| self.plan_has[plans[slot] as usize])
    }
}

/// Whether a policy might apply to an end the inventory does not know, judged by the
/// labels the flow log kept (unknown labels: it might).
pub(super) fn may_apply(policy: &Policy, end: &FlowEnd, ingress: bool) -> bool {
    if (ingress && !policy.types.ingress) || (!ingress && !policy.types.egress) {
        return false;
    }
    if policy.kind.is_namespaced() && policy.namespace != end.namespace {
        return false;
    }
    if end.labels.is_empty() {
        return true;
    }
    let mut labels = end.labels.clone();
    if end.endpoint_type == Some(EndpointType::Wep) {
        if let Some(ns) = &end.namespace {
            labels.insert(well_known_labels::NAMESPACE.into(), ns.clone());
        }
        labels.insert(well_known_labels::ORCHESTRATOR.into(), "k8s".into());
    }
    policy.selector.matches(&labels)
}
