//! The inventory: one snapshot of everything enrichment and policy evaluation need.

use crate::{
    Endpoint, EndpointType, Namespace, NetworkSet, Policy, PolicyId, PolicyKind, Service,
    ServiceAccount, Tier, order_key,
};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::sync::Arc;

/// Endpoints, namespaces, services, network sets, tiers and policies of one cluster.
///
/// Built by a loader (`flowlens-manifests`) or, later, a live watch; read by the policy
/// engine, enrichment and the UI. Built-in tiers are always present.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub namespaces: Vec<Namespace>,
    /// Shared, so that copying an inventory (each policy engine keeps its own) copies
    /// pointers rather than every endpoint.
    pub endpoints: Vec<Arc<Endpoint>>,
    pub service_accounts: Vec<ServiceAccount>,
    pub services: Vec<Service>,
    pub network_sets: Vec<NetworkSet>,
    pub tiers: Vec<Tier>,
    pub policies: Vec<Policy>,
    /// Pods on the host network, which have no endpoint of their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_network_pods: Vec<crate::HostNetworkPod>,
}

/// How many of each thing an inventory holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct InventoryCounts {
    pub namespaces: usize,
    pub workload_endpoints: usize,
    pub host_endpoints: usize,
    pub services: usize,
    pub service_accounts: usize,
    pub network_sets: usize,
    pub tiers: usize,
    pub policies: usize,
    pub staged_policies: usize,
}

impl Inventory {
    /// An empty inventory holding only the built-in tiers.
    pub fn new() -> Inventory {
        let mut inv = Inventory::default();
        inv.ensure_builtin_tiers();
        inv
    }

    /// Adds `default`, `kube-admin` and `kube-baseline` unless declared already.
    pub fn ensure_builtin_tiers(&mut self) {
        for builtin in Tier::builtins() {
            if !self.tiers.iter().any(|t| t.name == builtin.name) {
                self.tiers.push(builtin);
            }
        }
    }

    /// Tiers in evaluation order: ascending order, no order last, ties by name.
    pub fn tiers_in_order(&self) -> Vec<&Tier> {
        let mut tiers: Vec<&Tier> = self.tiers.iter().collect();
        tiers.sort_by(|a, b| compare_ordered(a.order, &a.name, b.order, &b.name));
        tiers
    }

    /// The policies of a tier in evaluation order: ascending order, no order last, ties by
    /// name (namespace-qualified).
    pub fn policies_in_tier(&self, tier: &str) -> Vec<&Policy> {
        let mut policies: Vec<&Policy> = self.policies.iter().filter(|p| p.tier == tier).collect();
        sort_policies(&mut policies);
        policies
    }

    pub fn tier(&self, name: &str) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.name == name)
    }

    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.name == name)
    }

    pub fn service_account(&self, namespace: &str, name: &str) -> Option<&ServiceAccount> {
        self.service_accounts
            .iter()
            .find(|s| s.namespace == namespace && s.name == name)
    }

    pub fn counts(&self) -> InventoryCounts {
        let count_type = |t: EndpointType| {
            self.endpoints
                .iter()
                .filter(|e| e.endpoint_type == t)
                .count()
        };
        InventoryCounts {
            namespaces: self.namespaces.len(),
            workload_endpoints: count_type(EndpointType::Wep),
            host_endpoints: count_type(EndpointType::Hep),
            services: self.services.len(),
            service_accounts: self.service_accounts.len(),
            network_sets: self.network_sets.len(),
            tiers: self.tiers.len(),
            policies: self.policies.len(),
            staged_policies: self.policies.iter().filter(|p| p.kind.is_staged()).count(),
        }
    }
}

/// Why a policy cannot be put into, or taken out of, an inventory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryEditError {
    #[error(
        "tier {tier:?} of policy {policy} is not declared: add a Tier resource, or use default, kube-admin or kube-baseline"
    )]
    UnknownTier { tier: String, policy: PolicyId },
    #[error("policy {policy} must be in tier {expected:?}, not {tier:?}")]
    WrongTier {
        tier: String,
        expected: &'static str,
        policy: PolicyId,
    },
    #[error("no policy {0} in the inventory")]
    NotFound(PolicyId),
}

impl Inventory {
    /// Whether any rule looks at source ports. When none does, flows that differ only in
    /// their source port get the same verdict (the engine's cache and the impact preview's
    /// tuples leave it out).
    pub fn uses_source_ports(&self) -> bool {
        self.policies.iter().any(Policy::uses_source_ports)
    }

    /// The index of the policy an id names.
    pub fn policy_index(&self, id: &PolicyId) -> Option<usize> {
        let mut found = self
            .policies
            .iter()
            .enumerate()
            .filter(|(_, p)| id.matches(p));
        let first = found.next().map(|(i, _)| i);
        // `kcnp:` names either admin kind; prefer the exact one when both exist.
        match found.next() {
            Some(_) => self
                .policies
                .iter()
                .position(|p| p.kind == id.kind && id.matches(p))
                .or(first),
            None => first,
        }
    }

    pub fn policy(&self, id: &PolicyId) -> Option<&Policy> {
        self.policy_index(id).map(|i| &self.policies[i])
    }

    /// Checks that a policy could live in this inventory: its tier exists (and is the one its
    /// kind requires).
    pub fn check_policy(&self, policy: &Policy) -> Result<(), InventoryEditError> {
        let id = policy.id();
        if let Some(expected) = id.fixed_tier()
            && policy.tier != expected
        {
            return Err(InventoryEditError::WrongTier {
                tier: policy.tier.clone(),
                expected,
                policy: id,
            });
        }
        if self.tier(&policy.tier).is_none()
            && !Tier::builtins().iter().any(|t| t.name == policy.tier)
        {
            return Err(InventoryEditError::UnknownTier {
                tier: policy.tier.clone(),
                policy: id,
            });
        }
        Ok(())
    }

    /// Inserts `policy`, or replaces the one with the same kind, namespace and name; returns
    /// the replaced policy. Policies stay in evaluation order.
    pub fn upsert_policy(&mut self, policy: Policy) -> Result<Option<Policy>, InventoryEditError> {
        self.check_policy(&policy)?;
        self.ensure_builtin_tiers();
        let same = |p: &Policy| {
            p.kind == policy.kind && p.namespace == policy.namespace && p.name == policy.name
        };
        let old = match self.policies.iter().position(same) {
            Some(i) => Some(std::mem::replace(&mut self.policies[i], policy)),
            None => {
                self.policies.push(policy);
                None
            }
        };
        self.sort_in_evaluation_order();
        Ok(old)
    }

    /// Removes the policy an id names and returns it.
    pub fn remove_policy(&mut self, id: &PolicyId) -> Result<Policy, InventoryEditError> {
        let i = self
            .policy_index(id)
            .ok_or_else(|| InventoryEditError::NotFound(id.clone()))?;
        Ok(self.policies.remove(i))
    }

    /// A copy with `policy` inserted or replaced (see [`Inventory::upsert_policy`]).
    pub fn with_policy(&self, policy: Policy) -> Result<Inventory, InventoryEditError> {
        self.check_policy(&policy)?;
        let mut inv = self.clone();
        inv.upsert_policy(policy)?;
        Ok(inv)
    }

    /// A copy without the policy an id names.
    pub fn without_policy(&self, id: &PolicyId) -> Result<Inventory, InventoryEditError> {
        if self.policy_index(id).is_none() {
            return Err(InventoryEditError::NotFound(id.clone()));
        }
        let mut inv = self.clone();
        inv.remove_policy(id)?;
        Ok(inv)
    }

    /// Tiers and policies in evaluation order (tier order; within a tier, policy order, no
    /// order last, ties as Felix breaks them: [`felix_tie_key`]), so listings read top to
    /// bottom as Calico evaluates them.
    pub fn sort_in_evaluation_order(&mut self) {
        let tier_rank = self.tier_ranks();
        self.tiers
            .sort_by_key(|t| tier_rank.get(&t.name).copied().unwrap_or(usize::MAX));
        self.policies
            .sort_by(|a, b| evaluation_order(&tier_rank, a, b));
    }

    /// Each tier's place in evaluation order.
    fn tier_ranks(&self) -> std::collections::HashMap<String, usize> {
        self.tiers_in_order()
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect()
    }

    /// Where `policy` goes in `policies`, which are in evaluation order: the same place
    /// [`Inventory::sort_in_evaluation_order`] would give it, found without sorting.
    pub(crate) fn evaluation_position(&self, policy: &Policy) -> usize {
        let tier_rank = self.tier_ranks();
        self.policies
            .partition_point(|p| evaluation_order(&tier_rank, p, policy) == Ordering::Less)
    }
}

/// Evaluation order of policies: tier, then order (none last), then [`felix_tie_key`].
fn evaluation_order(
    tier_rank: &std::collections::HashMap<String, usize>,
    a: &Policy,
    b: &Policy,
) -> Ordering {
    let rank = |p: &Policy| tier_rank.get(&p.tier).copied().unwrap_or(usize::MAX);
    rank(a)
        .cmp(&rank(b))
        .then_with(|| compare_ordered(a.order, &felix_tie_key(a), b.order, &felix_tie_key(b)))
}

/// Sorts policies into evaluation order within a tier.
pub fn sort_policies(policies: &mut [&Policy]) {
    policies
        .sort_by(|a, b| compare_ordered(a.order, &felix_tie_key(a), b.order, &felix_tie_key(b)));
}

/// How Felix breaks a tie between policies of one tier and order (`PolKVLess` in
/// felix/calc/policy_sorter.go): by the text `<name>/<namespace>/<kind>` of their policy
/// keys. The name comes first, so a global policy and a namespaced one tie by name, not by
/// namespace, and `allow-dns/…` sorts before `allow/…` ('-' < '/'). Felix keys a Kubernetes
/// NetworkPolicy by its translated name `knp.default.<name>` and its kind as
/// `KubernetesNetworkPolicy`; Calico policies by the name as written (a `default.` or
/// `<tier>.` prefix included). Admin and cluster network policies fill tiers of their own,
/// where a prefix common to all would not change the order, so it is left out.
fn felix_tie_key(p: &Policy) -> String {
    let (prefix, kind) = match p.kind {
        PolicyKind::NetworkPolicy => ("", "NetworkPolicy"),
        PolicyKind::GlobalNetworkPolicy => ("", "GlobalNetworkPolicy"),
        PolicyKind::StagedNetworkPolicy => ("", "StagedNetworkPolicy"),
        PolicyKind::StagedGlobalNetworkPolicy => ("", "StagedGlobalNetworkPolicy"),
        PolicyKind::StagedKubernetesNetworkPolicy => {
            ("knp.default.", "StagedKubernetesNetworkPolicy")
        }
        PolicyKind::KubernetesNetworkPolicy => ("knp.default.", "KubernetesNetworkPolicy"),
        PolicyKind::AdminNetworkPolicy => ("", "KubernetesAdminNetworkPolicy"),
        PolicyKind::BaselineAdminNetworkPolicy => ("", "KubernetesBaselineAdminNetworkPolicy"),
        PolicyKind::ClusterNetworkPolicy => ("", "KubernetesClusterNetworkPolicy"),
    };
    format!(
        "{prefix}{}/{}/{kind}",
        p.name,
        p.namespace.as_deref().unwrap_or("")
    )
}

fn compare_ordered(
    a_order: Option<f64>,
    a_name: &str,
    b_order: Option<f64>,
    b_name: &str,
) -> Ordering {
    let (a_none, a) = order_key(a_order);
    let (b_none, b) = order_key(b_order);
    a_none
        .cmp(&b_none)
        .then(a.total_cmp(&b))
        .then_with(|| a_name.cmp(b_name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PolicyKind, PolicyTypes, StagedAction, TierDefaultAction};
    use flowlens_selector::Selector;

    fn policy(kind: PolicyKind, ns: Option<&str>, name: &str, tier: &str, order: f64) -> Policy {
        Policy {
            kind,
            name: name.into(),
            namespace: ns.map(Into::into),
            tier: tier.into(),
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

    #[test]
    fn upsert_replaces_by_identity_and_keeps_order() {
        let mut inv = Inventory::new();
        inv.tiers.push(Tier {
            name: "security".into(),
            order: Some(100.0),
            default_action: TierDefaultAction::Deny,
        });
        let np = PolicyKind::NetworkPolicy;
        inv.upsert_policy(policy(np, Some("a"), "late", "default", 50.0))
            .unwrap();
        inv.upsert_policy(policy(np, Some("a"), "early", "default", 10.0))
            .unwrap();
        inv.upsert_policy(policy(np, Some("a"), "sec", "security", 900.0))
            .unwrap();
        let names = |inv: &Inventory| -> Vec<String> {
            inv.policies.iter().map(|p| p.name.clone()).collect()
        };
        assert_eq!(names(&inv), ["sec", "early", "late"]);
        // Same identity replaces, and moves with its new order.
        let old = inv
            .upsert_policy(policy(np, Some("a"), "early", "default", 99.0))
            .unwrap();
        assert_eq!(old.map(|p| p.order), Some(Some(10.0)));
        assert_eq!(names(&inv), ["sec", "late", "early"]);
        // Same name, other kind or namespace: a different policy.
        let knp = PolicyKind::KubernetesNetworkPolicy;
        let copy = inv
            .with_policy(policy(knp, Some("a"), "early", "default", 1000.0))
            .unwrap();
        assert_eq!(copy.policies.len(), 4);
        assert_eq!(inv.policies.len(), 3);

        let id = PolicyId::parse("np:a/late").unwrap();
        let without = inv.without_policy(&id).unwrap();
        assert_eq!(names(&without), ["sec", "early"]);
        assert_eq!(
            inv.without_policy(&PolicyId::parse("np:a/nope").unwrap()),
            Err(InventoryEditError::NotFound(
                PolicyId::parse("np:a/nope").unwrap()
            ))
        );
    }

    #[test]
    fn tiers_are_checked() {
        let inv = Inventory::new();
        let p = policy(PolicyKind::NetworkPolicy, Some("a"), "x", "nosuch", 1.0);
        let err = inv.with_policy(p).unwrap_err();
        assert!(matches!(err, InventoryEditError::UnknownTier { .. }));
        assert!(err.to_string().contains("\"nosuch\""), "{err}");
        let p = policy(
            PolicyKind::KubernetesNetworkPolicy,
            Some("a"),
            "x",
            "kube-admin",
            1.0,
        );
        assert!(matches!(
            inv.with_policy(p),
            Err(InventoryEditError::WrongTier { .. })
        ));
    }

    #[test]
    fn tiers_sort_by_order_then_name_with_unordered_last() {
        let mut inv = Inventory::new();
        for (name, order) in [
            ("security", Some(100.0)),
            ("zz", None),
            ("aa", None),
            ("platform", Some(100.0)),
        ] {
            inv.tiers.push(Tier {
                name: name.into(),
                order,
                default_action: TierDefaultAction::Deny,
            });
        }
        let names: Vec<&str> = inv
            .tiers_in_order()
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "platform",
                "security",
                "kube-admin",
                "default",
                "kube-baseline",
                "aa",
                "zz"
            ]
        );
    }
}
