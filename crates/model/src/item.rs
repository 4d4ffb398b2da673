//! One object of an inventory at a time: what a live source (a Kubernetes watch) reports as
//! it changes, and how an [`Inventory`] takes such a change in place.
//!
//! Every vector of an inventory stays in the order a loader builds it in (endpoints by type,
//! namespace and name; services, service accounts and network sets by namespace and name;
//! tiers and policies in evaluation order), so an inventory kept up to date one change at a
//! time equals one built from the same objects at once.

use crate::{
    Endpoint, EndpointType, Inventory, Namespace, NetworkSet, Policy, PolicyId, PolicyKind,
    Service, ServiceAccount, Tier,
};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::sync::Arc;

/// One object of an inventory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InventoryItem {
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    /// A pod (`wep`) or a host endpoint (`hep`).
    Endpoint(Endpoint),
    Service(Service),
    NetworkSet(NetworkSet),
    Tier(Tier),
    Policy(Policy),
}

/// Which object of an inventory: its kind and name, the key an item is replaced under.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InventoryKey {
    Namespace {
        name: String,
    },
    ServiceAccount {
        namespace: String,
        name: String,
    },
    Endpoint {
        endpoint_type: EndpointType,
        namespace: Option<String>,
        name: String,
    },
    Service {
        namespace: String,
        name: String,
    },
    NetworkSet {
        namespace: Option<String>,
        name: String,
    },
    Tier {
        name: String,
    },
    Policy {
        kind: PolicyKind,
        namespace: Option<String>,
        name: String,
    },
}

impl InventoryItem {
    pub fn key(&self) -> InventoryKey {
        match self {
            InventoryItem::Namespace(n) => InventoryKey::Namespace {
                name: n.name.clone(),
            },
            InventoryItem::ServiceAccount(s) => InventoryKey::ServiceAccount {
                namespace: s.namespace.clone(),
                name: s.name.clone(),
            },
            InventoryItem::Endpoint(e) => InventoryKey::Endpoint {
                endpoint_type: e.endpoint_type,
                namespace: e.namespace.clone(),
                name: e.name.clone(),
            },
            InventoryItem::Service(s) => InventoryKey::Service {
                namespace: s.namespace.clone(),
                name: s.name.clone(),
            },
            InventoryItem::NetworkSet(n) => InventoryKey::NetworkSet {
                namespace: n.namespace.clone(),
                name: n.name.clone(),
            },
            InventoryItem::Tier(t) => InventoryKey::Tier {
                name: t.name.clone(),
            },
            InventoryItem::Policy(p) => InventoryKey::Policy {
                kind: p.kind,
                namespace: p.namespace.clone(),
                name: p.name.clone(),
            },
        }
    }
}

impl InventoryKey {
    /// The policy id of a policy key.
    pub fn policy_id(&self) -> Option<PolicyId> {
        match self {
            InventoryKey::Policy {
                kind,
                namespace,
                name,
            } => Some(PolicyId {
                kind: *kind,
                namespace: namespace.clone(),
                name: name.clone(),
            }),
            _ => None,
        }
    }
}

/// An item replaced or removed, and what took its place: the unit a consumer that keeps
/// derived state (a compiled policy engine, a UI) updates itself by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemChange {
    pub key: InventoryKey,
    pub before: Option<InventoryItem>,
    pub after: Option<InventoryItem>,
}

/// Puts `item` at its sorted place in `items` (sorted by `order`), replacing an equal one.
fn upsert_sorted<T>(items: &mut Vec<T>, item: T, order: impl Fn(&T, &T) -> Ordering) -> Option<T> {
    match items.binary_search_by(|probe| order(probe, &item)) {
        Ok(i) => Some(std::mem::replace(&mut items[i], item)),
        Err(i) => {
            items.insert(i, item);
            None
        }
    }
}

/// Removes the item `probe` says is equal (`probe` compares an item with the one wanted).
fn remove_sorted<T>(items: &mut Vec<T>, probe: impl Fn(&T) -> Ordering) -> Option<T> {
    items.binary_search_by(probe).ok().map(|i| items.remove(i))
}

fn ns_name<'a>(namespace: &'a str, name: &'a str) -> (&'a str, &'a str) {
    (namespace, name)
}

fn endpoint_key(e: &Endpoint) -> (EndpointType, Option<&str>, &str) {
    e.order_key()
}

impl Inventory {
    /// Puts `item` in, replacing the item with the same key, and returns the replaced one.
    ///
    /// Unlike [`Inventory::upsert_policy`], a policy whose tier is not declared is taken as it
    /// is: a live source decides itself what to do with it.
    pub fn upsert_item(&mut self, item: InventoryItem) -> Option<InventoryItem> {
        match item {
            InventoryItem::Namespace(n) => {
                upsert_sorted(&mut self.namespaces, n, |a, b| a.name.cmp(&b.name))
                    .map(InventoryItem::Namespace)
            }
            InventoryItem::ServiceAccount(s) => {
                upsert_sorted(&mut self.service_accounts, s, |a, b| {
                    ns_name(&a.namespace, &a.name).cmp(&ns_name(&b.namespace, &b.name))
                })
                .map(InventoryItem::ServiceAccount)
            }
            InventoryItem::Endpoint(e) => {
                let key = (e.endpoint_type, e.namespace.clone(), e.name.clone());
                let at = self.endpoints.binary_search_by(|p| {
                    endpoint_key(p).cmp(&(key.0, key.1.as_deref(), key.2.as_str()))
                });
                match at {
                    Ok(i) => Some(InventoryItem::Endpoint(Arc::unwrap_or_clone(
                        std::mem::replace(&mut self.endpoints[i], Arc::new(e)),
                    ))),
                    Err(i) => {
                        self.endpoints.insert(i, Arc::new(e));
                        None
                    }
                }
            }
            InventoryItem::Service(s) => upsert_sorted(&mut self.services, s, |a, b| {
                ns_name(&a.namespace, &a.name).cmp(&ns_name(&b.namespace, &b.name))
            })
            .map(InventoryItem::Service),
            InventoryItem::NetworkSet(n) => upsert_sorted(&mut self.network_sets, n, |a, b| {
                (a.namespace.as_deref(), a.name.as_str())
                    .cmp(&(b.namespace.as_deref(), b.name.as_str()))
            })
            .map(InventoryItem::NetworkSet),
            InventoryItem::Tier(t) => {
                let old = match self.tiers.iter().position(|x| x.name == t.name) {
                    Some(i) => Some(std::mem::replace(&mut self.tiers[i], t)),
                    None => {
                        self.tiers.push(t);
                        None
                    }
                };
                self.sort_in_evaluation_order();
                old.map(InventoryItem::Tier)
            }
            InventoryItem::Policy(p) => {
                let same =
                    |x: &Policy| x.kind == p.kind && x.namespace == p.namespace && x.name == p.name;
                // Out, then in at its place: its order or tier may have changed.
                let old = self
                    .policies
                    .iter()
                    .position(same)
                    .map(|i| self.policies.remove(i));
                let at = self.evaluation_position(&p);
                self.policies.insert(at, p);
                old.map(InventoryItem::Policy)
            }
        }
    }

    /// Takes the item with this key out and returns it. Removing a built-in tier puts the
    /// built-in definition back, as every Calico cluster has it.
    pub fn remove_item(&mut self, key: &InventoryKey) -> Option<InventoryItem> {
        match key {
            InventoryKey::Namespace { name } => {
                remove_sorted(&mut self.namespaces, |n| n.name.cmp(name))
                    .map(InventoryItem::Namespace)
            }
            InventoryKey::ServiceAccount { namespace, name } => {
                remove_sorted(&mut self.service_accounts, |s| {
                    ns_name(&s.namespace, &s.name).cmp(&ns_name(namespace, name))
                })
                .map(InventoryItem::ServiceAccount)
            }
            InventoryKey::Endpoint {
                endpoint_type,
                namespace,
                name,
            } => {
                let key = (*endpoint_type, namespace.as_deref(), name.as_str());
                self.endpoints
                    .binary_search_by(|p| endpoint_key(p).cmp(&key))
                    .ok()
                    .map(|i| {
                        InventoryItem::Endpoint(Arc::unwrap_or_clone(self.endpoints.remove(i)))
                    })
            }
            InventoryKey::Service { namespace, name } => remove_sorted(&mut self.services, |s| {
                ns_name(&s.namespace, &s.name).cmp(&ns_name(namespace, name))
            })
            .map(InventoryItem::Service),
            InventoryKey::NetworkSet { namespace, name } => {
                remove_sorted(&mut self.network_sets, |n| {
                    (n.namespace.as_deref(), n.name.as_str())
                        .cmp(&(namespace.as_deref(), name.as_str()))
                })
                .map(InventoryItem::NetworkSet)
            }
            InventoryKey::Tier { name } => {
                let i = self.tiers.iter().position(|t| &t.name == name)?;
                let old = self.tiers.remove(i);
                self.ensure_builtin_tiers();
                self.sort_in_evaluation_order();
                Some(InventoryItem::Tier(old))
            }
            InventoryKey::Policy {
                kind,
                namespace,
                name,
            } => {
                let i = self.policies.iter().position(|p| {
                    p.kind == *kind && &p.namespace == namespace && &p.name == name
                })?;
                Some(InventoryItem::Policy(self.policies.remove(i)))
            }
        }
    }

    /// The item with this key, if the inventory holds it.
    pub fn item(&self, key: &InventoryKey) -> Option<InventoryItem> {
        match key {
            InventoryKey::Namespace { name } => {
                self.namespace(name).cloned().map(InventoryItem::Namespace)
            }
            InventoryKey::ServiceAccount { namespace, name } => self
                .service_account(namespace, name)
                .cloned()
                .map(InventoryItem::ServiceAccount),
            InventoryKey::Endpoint {
                endpoint_type,
                namespace,
                name,
            } => {
                let key = (*endpoint_type, namespace.as_deref(), name.as_str());
                self.endpoints
                    .binary_search_by(|p| endpoint_key(p).cmp(&key))
                    .ok()
                    .map(|i| InventoryItem::Endpoint((*self.endpoints[i]).clone()))
            }
            InventoryKey::Service { namespace, name } => self
                .services
                .binary_search_by(|s| {
                    (s.namespace.as_str(), s.name.as_str())
                        .cmp(&(namespace.as_str(), name.as_str()))
                })
                .ok()
                .map(|i| InventoryItem::Service(self.services[i].clone())),
            InventoryKey::NetworkSet { namespace, name } => self
                .network_sets
                .binary_search_by(|n| {
                    (n.namespace.as_deref(), n.name.as_str())
                        .cmp(&(namespace.as_deref(), name.as_str()))
                })
                .ok()
                .map(|i| InventoryItem::NetworkSet(self.network_sets[i].clone())),
            InventoryKey::Tier { name } => self.tier(name).cloned().map(InventoryItem::Tier),
            InventoryKey::Policy {
                kind,
                namespace,
                name,
            } => self
                .policies
                .iter()
                .find(|p| p.kind == *kind && &p.namespace == namespace && &p.name == name)
                .cloned()
                .map(InventoryItem::Policy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Labels, PolicyTypes, StagedAction, TierDefaultAction};
    use flowlens_selector::Selector;

    fn pod(ns: &str, name: &str) -> Endpoint {
        Endpoint {
            endpoint_type: EndpointType::Wep,
            namespace: Some(ns.into()),
            name: name.into(),
            name_aggr: name.into(),
            workload: None,
            labels: Labels::new(),
            ips: vec![],
            service_account: None,
            ports: vec![],
            node: None,
            interface: None,
            profiles: vec![],
        }
    }

    fn policy(name: &str, tier: &str, order: f64) -> Policy {
        Policy {
            kind: PolicyKind::GlobalNetworkPolicy,
            name: name.into(),
            namespace: None,
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
    fn endpoints_stay_sorted_and_replace_by_key() {
        let mut inv = Inventory::new();
        for (ns, name) in [("b", "x"), ("a", "y"), ("a", "a"), ("c", "z")] {
            assert!(
                inv.upsert_item(InventoryItem::Endpoint(pod(ns, name)))
                    .is_none()
            );
        }
        let mut host = pod("ignored", "node-1");
        host.endpoint_type = EndpointType::Hep;
        host.namespace = None;
        inv.upsert_item(InventoryItem::Endpoint(host));
        let names: Vec<String> = inv.endpoints.iter().map(|e| e.qualified_name()).collect();
        assert_eq!(names, ["a/a", "a/y", "b/x", "c/z", "node-1"]);

        let mut relabelled = pod("a", "y");
        relabelled.labels.insert("app".into(), "web".into());
        let before = inv.upsert_item(InventoryItem::Endpoint(relabelled.clone()));
        assert_eq!(before, Some(InventoryItem::Endpoint(pod("a", "y"))));
        let key = InventoryItem::Endpoint(relabelled.clone()).key();
        assert_eq!(inv.item(&key), Some(InventoryItem::Endpoint(relabelled)));
        assert!(inv.remove_item(&key).is_some());
        assert!(inv.remove_item(&key).is_none());
        assert_eq!(inv.endpoints.len(), 4);
    }

    #[test]
    fn policies_put_in_one_by_one_end_where_sorting_puts_them() {
        let mut inv = Inventory::new();
        inv.tiers.push(Tier {
            name: "security".into(),
            order: Some(100.0),
            default_action: TierDefaultAction::Deny,
        });
        let mut all = Vec::new();
        for i in 0..40u32 {
            let tier = ["default", "security", "nosuch", "kube-admin"][(i % 4) as usize];
            let mut p = policy(&format!("p{}", (i * 7) % 40), tier, f64::from((i * 13) % 5));
            if i % 6 == 0 {
                p.order = None;
            }
            if i % 5 == 0 {
                p.kind = PolicyKind::StagedGlobalNetworkPolicy;
            }
            all.push(p);
        }
        for p in &all {
            inv.upsert_item(InventoryItem::Policy(p.clone()));
        }
        // Re-ordering one moves it.
        let mut moved = all[3].clone();
        moved.order = Some(-1.0);
        inv.upsert_item(InventoryItem::Policy(moved));
        let mut sorted = inv.clone();
        sorted.sort_in_evaluation_order();
        assert_eq!(inv.policies, sorted.policies);
        assert_eq!(inv.policies.len(), 40);
    }

    #[test]
    fn tiers_and_policies_follow_evaluation_order() {
        let mut inv = Inventory::new();
        inv.upsert_item(InventoryItem::Policy(policy("late", "default", 50.0)));
        inv.upsert_item(InventoryItem::Policy(policy("sec", "security", 1.0)));
        inv.upsert_item(InventoryItem::Tier(Tier {
            name: "security".into(),
            order: Some(100.0),
            default_action: TierDefaultAction::Deny,
        }));
        let names: Vec<&str> = inv.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["sec", "late"]);
        // Removing a built-in tier brings the built-in definition back.
        let default = InventoryKey::Tier {
            name: "default".into(),
        };
        assert!(inv.remove_item(&default).is_some());
        assert!(inv.tier("default").is_some());
    }
}
