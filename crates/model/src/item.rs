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

/// Binary search in a vector sorted by `key`; `Ok` is the position of an equal key.
fn find<T, K: Ord>(items: &[T], key: &K, key_of: impl Fn(&T) -> K) -> Result<usize, usize> {
    items.binary_search_by(|probe| key_of(probe).cmp(key))
}

/// Puts `item` at its sorted place in `items`, replacing the one with the same key.
fn upsert_sorted<T, K: Ord>(items: &mut Vec<T>, item: T, key_of: impl Fn(&T) -> K) -> Option<T> {
    let key = key_of(&item);
    match find(items, &key, &key_of) {
        Ok(i) => Some(std::mem::replace(&mut items[i], item)),
        Err(i) => {
            items.insert(i, item);
            None
        }
    }
}

fn remove_sorted<T, K: Ord>(items: &mut Vec<T>, key: &K, key_of: impl Fn(&T) -> K) -> Option<T> {
    find(items, key, key_of).ok().map(|i| items.remove(i))
}

fn endpoint_key(e: &Endpoint) -> (EndpointType, Option<&str>, &str) {
    (e.endpoint_type, e.namespace.as_deref(), &e.name)
}

impl Inventory {
    /// Puts `item` in, replacing the item with the same key, and returns the replaced one.
    ///
    /// Unlike [`Inventory::upsert_policy`], a policy whose tier is not declared is taken as it
    /// is: a live source decides itself what to do with it.
    pub fn upsert_item(&mut self, item: InventoryItem) -> Option<InventoryItem> {
        match item {
            InventoryItem::Namespace(n) => {
                upsert_sorted(&mut self.namespaces, n, |n| n.name.clone())
                    .map(InventoryItem::Namespace)
            }
            InventoryItem::ServiceAccount(s) => upsert_sorted(&mut self.service_accounts, s, |s| {
                (s.namespace.clone(), s.name.clone())
            })
            .map(InventoryItem::ServiceAccount),
            InventoryItem::Endpoint(e) => {
                let key = (e.endpoint_type, e.namespace.clone(), e.name.clone());
                let at = self.endpoints.binary_search_by(|p| {
                    endpoint_key(p).cmp(&(key.0, key.1.as_deref(), key.2.as_str()))
                });
                match at {
                    Ok(i) => Some(InventoryItem::Endpoint(std::mem::replace(
                        &mut self.endpoints[i],
                        e,
                    ))),
                    Err(i) => {
                        self.endpoints.insert(i, e);
                        None
                    }
                }
            }
            InventoryItem::Service(s) => upsert_sorted(&mut self.services, s, |s| {
                (s.namespace.clone(), s.name.clone())
            })
            .map(InventoryItem::Service),
            InventoryItem::NetworkSet(n) => upsert_sorted(&mut self.network_sets, n, |n| {
                (n.namespace.clone(), n.name.clone())
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
                let old = match self.policies.iter().position(same) {
                    Some(i) => Some(std::mem::replace(&mut self.policies[i], p)),
                    None => {
                        self.policies.push(p);
                        None
                    }
                };
                self.sort_in_evaluation_order();
                old.map(InventoryItem::Policy)
            }
        }
    }

    /// Takes the item with this key out and returns it. Removing a built-in tier puts the
    /// built-in definition back, as every Calico cluster has it.
    pub fn remove_item(&mut self, key: &InventoryKey) -> Option<InventoryItem> {
        match key {
            InventoryKey::Namespace { name } => {
                remove_sorted(&mut self.namespaces, name, |n| n.name.clone())
                    .map(InventoryItem::Namespace)
            }
            InventoryKey::ServiceAccount { namespace, name } => remove_sorted(
                &mut self.service_accounts,
                &(namespace.clone(), name.clone()),
                |s| (s.namespace.clone(), s.name.clone()),
            )
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
                    .map(|i| InventoryItem::Endpoint(self.endpoints.remove(i)))
            }
            InventoryKey::Service { namespace, name } => remove_sorted(
                &mut self.services,
                &(namespace.clone(), name.clone()),
                |s| (s.namespace.clone(), s.name.clone()),
            )
            .map(InventoryItem::Service),
            InventoryKey::NetworkSet { namespace, name } => remove_sorted(
                &mut self.network_sets,
                &(namespace.clone(), name.clone()),
                |n| (n.namespace.clone(), n.name.clone()),
            )
            .map(InventoryItem::NetworkSet),
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
                    .map(|i| InventoryItem::Endpoint(self.endpoints[i].clone()))
            }
            InventoryKey::Service { namespace, name } => self
                .services
                .iter()
                .find(|s| &s.namespace == namespace && &s.name == name)
                .cloned()
                .map(InventoryItem::Service),
            InventoryKey::NetworkSet { namespace, name } => self
                .network_sets
                .iter()
                .find(|n| &n.namespace == namespace && &n.name == name)
                .cloned()
                .map(InventoryItem::NetworkSet),
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
