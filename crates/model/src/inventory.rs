//! The inventory: one snapshot of everything enrichment and policy evaluation need.

use crate::{
    Endpoint, EndpointType, Namespace, NetworkSet, Policy, Service, ServiceAccount, Tier, order_key,
};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Endpoints, namespaces, services, network sets, tiers and policies of one cluster.
///
/// Built by a loader (`flowlens-manifests`) or, later, a live watch; read by the policy
/// engine, enrichment and the UI. Built-in tiers are always present.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub namespaces: Vec<Namespace>,
    pub endpoints: Vec<Endpoint>,
    pub service_accounts: Vec<ServiceAccount>,
    pub services: Vec<Service>,
    pub network_sets: Vec<NetworkSet>,
    pub tiers: Vec<Tier>,
    pub policies: Vec<Policy>,
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

/// Sorts policies into evaluation order within a tier.
pub fn sort_policies(policies: &mut [&Policy]) {
    policies.sort_by(|a, b| {
        compare_ordered(a.order, &a.qualified_name(), b.order, &b.qualified_name())
            .then(a.kind.cmp(&b.kind))
    });
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
    use crate::TierDefaultAction;

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
