//! The ends of observed flows, turned into what a rule names: the local workload a policy
//! covers, and the peer on the other side.

use crate::labels::{choose_terms, common_stable_labels, equals_selector, stable_labels};
use crate::observed::ObservedEnd;
use flowlens_model::well_known_labels::{K8S_NAMESPACE_NAME, SERVICE_ACCOUNT};
use flowlens_model::{EndpointType, EntityRule, Inventory, NetworkSet};
use flowlens_selector::Selector;
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// Label terms (`key == "value"`, all of them); empty means every pod of the namespace.
pub type Terms = Vec<(String, String)>;

/// The other side of a rule. The variant order is the order rules are written in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerKey {
    /// The cluster's DNS servers.
    ClusterDns { namespace: String, terms: Terms },
    /// Pods of the policy's own namespace.
    SameNamespace { terms: Terms },
    /// Pods of another namespace.
    OtherNamespace { namespace: String, terms: Terms },
    /// A NetworkSet (`namespace: Some`) or GlobalNetworkSet that holds the address; by its
    /// labels, or by its nets when it has none.
    NetworkSet {
        namespace: Option<String>,
        name: String,
        terms: Terms,
        nets: Vec<IpNet>,
    },
    /// Host endpoints whose address was aggregated away, by their labels.
    HostEndpoint { terms: Terms },
    /// Addresses no network set holds.
    Nets(Vec<IpNet>),
    /// Some private address (the flow log kept only `pvt`).
    Private,
    /// Some public address (the flow log kept only `pub`).
    Public,
}

/// Calico's `pvt` ranges (as the engine's `is_private` defines them).
pub fn private_nets() -> Vec<IpNet> {
    [
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    ]
    .iter()
    .filter_map(|n| n.parse().ok())
    .collect()
}

fn namespace_is(ns: &str) -> Selector {
    equals_selector(&[(K8S_NAMESPACE_NAME.to_string(), ns.to_string())])
}

fn terms_selector(terms: &Terms) -> Selector {
    if terms.is_empty() {
        Selector::all()
    } else {
        equals_selector(terms)
    }
}

impl PeerKey {
    /// The rule's `source` (ingress) or `destination` (egress) for this peer, seen from a
    /// policy in namespace `local_ns`; ports are added by the caller.
    pub fn entity(&self, local_ns: &str) -> EntityRule {
        let mut e = EntityRule::default();
        match self {
            PeerKey::ClusterDns { namespace, terms }
            | PeerKey::OtherNamespace { namespace, terms } => {
                e.namespace_selector = Some(namespace_is(namespace));
                if !terms.is_empty() {
                    e.selector = Some(equals_selector(terms));
                }
            }
            PeerKey::SameNamespace { terms } => e.selector = Some(terms_selector(terms)),
            PeerKey::NetworkSet {
                namespace,
                terms,
                nets,
                ..
            } => {
                if terms.is_empty() {
                    e.nets = nets.clone();
                } else {
                    e.selector = Some(equals_selector(terms));
                    e.namespace_selector = match namespace.as_deref() {
                        Some(ns) if ns == local_ns => None,
                        Some(ns) => Some(namespace_is(ns)),
                        None => Some(Selector::global()),
                    };
                }
            }
            PeerKey::HostEndpoint { terms } => {
                e.namespace_selector = Some(Selector::global());
                e.selector = Some(terms_selector(terms));
            }
            PeerKey::Nets(nets) => e.nets = nets.clone(),
            PeerKey::Private => e.nets = private_nets(),
            PeerKey::Public => {
                e.nets = ["0.0.0.0/0", "::/0"]
                    .iter()
                    .filter_map(|n| n.parse().ok())
                    .collect();
                e.not_nets = private_nets();
            }
        }
        e
    }

    /// Short text for notes and evidence.
    pub fn describe(&self) -> String {
        let terms_text = |t: &Terms| {
            if t.is_empty() {
                "all pods".to_string()
            } else {
                equals_selector(t).to_string()
            }
        };
        match self {
            PeerKey::ClusterDns { namespace, .. } => format!("cluster DNS in {namespace}"),
            PeerKey::SameNamespace { terms } => terms_text(terms),
            PeerKey::OtherNamespace { namespace, terms } => {
                format!("{namespace}: {}", terms_text(terms))
            }
            PeerKey::NetworkSet {
                namespace, name, ..
            } => match namespace {
                Some(ns) => format!("network set {ns}/{name}"),
                None => format!("global network set {name}"),
            },
            PeerKey::HostEndpoint { terms } => format!("host endpoints {}", terms_text(terms)),
            PeerKey::Nets(nets) => nets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            PeerKey::Private => "private networks".into(),
            PeerKey::Public => "public networks".into(),
        }
    }
}

/// A pod end resolved to its workload: namespace and the label terms that select it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub namespace: String,
    pub terms: Terms,
    /// Serves cluster DNS (`k8s-app: kube-dns`, or CoreDNS by name).
    pub dns: bool,
    /// Why the terms are wider than the workload, when they are.
    pub note: Option<String>,
}

/// The inventory, indexed for resolving flow ends, with chosen selectors remembered so that
/// every rule names a workload the same way.
pub struct Resolver<'a> {
    inventory: &'a Inventory,
    by_ip: HashMap<IpAddr, usize>,
    /// (namespace, aggregated name) → pods.
    by_group: BTreeMap<(String, String), Vec<usize>>,
    by_namespace: BTreeMap<String, Vec<usize>>,
    /// (namespace, aggregated name, labels of an unknown pod) → its workload.
    chosen: HashMap<(String, String, Terms), Workload>,
}

impl<'a> Resolver<'a> {
    pub fn new(inventory: &'a Inventory) -> Resolver<'a> {
        let mut by_ip = HashMap::new();
        let mut by_group: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
        let mut by_namespace: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, e) in inventory.endpoints.iter().enumerate() {
            for ip in &e.ips {
                by_ip.entry(*ip).or_insert(i);
            }
            if e.endpoint_type != EndpointType::Wep {
                continue;
            }
            if let Some(ns) = &e.namespace {
                by_group
                    .entry((ns.clone(), e.name_aggr.clone()))
                    .or_default()
                    .push(i);
                by_namespace.entry(ns.clone()).or_default().push(i);
            }
        }
        Resolver {
            inventory,
            by_ip,
            by_group,
            by_namespace,
            chosen: HashMap::new(),
        }
    }

    /// Namespaces holding at least one pod.
    pub fn pod_namespaces(&self) -> impl Iterator<Item = &str> {
        self.by_namespace.keys().map(String::as_str)
    }

    /// The workload of a pod end; `None` when the end is not a pod with a namespace.
    pub fn workload(&mut self, end: &ObservedEnd) -> Option<Workload> {
        let by_ip = end
            .ip
            .and_then(|ip| self.by_ip.get(&ip).copied())
            .map(|i| &self.inventory.endpoints[i])
            .filter(|e| e.endpoint_type == EndpointType::Wep);
        let is_pod = end.endpoint_type == Some(EndpointType::Wep)
            || (end.endpoint_type.is_none() && by_ip.is_some());
        if !is_pod {
            return None;
        }
        let (namespace, group) = match by_ip {
            Some(e) => (e.namespace.clone()?, e.name_aggr.clone()),
            None => {
                let ns = end.namespace.clone()?;
                let group = self.group_of_name(&ns, end);
                (ns, group)
            }
        };
        let fallback: Vec<(String, String)> = if self
            .by_group
            .contains_key(&(namespace.clone(), group.clone()))
        {
            Vec::new()
        } else {
            stable_labels(&end.labels, end.name.as_deref())
                .into_iter()
                .collect()
        };
        let key = (namespace.clone(), group.clone(), fallback.clone());
        if let Some(w) = self.chosen.get(&key) {
            return Some(w.clone());
        }
        let w = self.choose(&namespace, &group, &fallback);
        self.chosen.insert(key, w.clone());
        Some(w)
    }

    /// The aggregated name of a pod end: as logged, or found from the pod's name.
    fn group_of_name(&self, ns: &str, end: &ObservedEnd) -> String {
        let logged = end.name_aggr.as_str();
        if !logged.is_empty() && logged != "-" {
            return logged.to_string();
        }
        end.name
            .as_deref()
            .and_then(|name| {
                self.by_namespace.get(ns)?.iter().find_map(|&i| {
                    let e = &self.inventory.endpoints[i];
                    (e.name == name).then(|| e.name_aggr.clone())
                })
            })
            .unwrap_or_default()
    }

    fn choose(&self, namespace: &str, group: &str, fallback: &[(String, String)]) -> Workload {
        let eps = &self.inventory.endpoints;
        let members: BTreeSet<usize> = self
            .by_group
            .get(&(namespace.to_string(), group.to_string()))
            .map(|v| v.iter().copied().collect())
            .unwrap_or_default();
        let common = if members.is_empty() {
            fallback.iter().cloned().collect()
        } else {
            common_stable_labels(members.iter().map(|&i| &*eps[i]))
        };
        let pods_of_ns: &[usize] = self
            .by_namespace
            .get(namespace)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let only_members = |sel: &Selector, with_calico_labels: bool| {
            !members.is_empty()
                && pods_of_ns.iter().all(|i| {
                    let e = &eps[*i];
                    let hit = if with_calico_labels {
                        sel.matches(&e.selector_labels())
                    } else {
                        sel.matches(&e.labels)
                    };
                    !hit || members.contains(i)
                })
        };
        let dns = common
            .get("k8s-app")
            .is_some_and(|v| v == "kube-dns" || v == "coredns")
            || group.starts_with("coredns-")
            || group.starts_with("kube-dns-");
        let mut note = None;
        let terms = if common.is_empty() {
            // No stable label: the service account may still tell the workload apart.
            let accounts: BTreeSet<Option<&String>> = members
                .iter()
                .map(|&i| eps[i].service_account.as_ref())
                .collect();
            let by_account = match accounts.iter().next() {
                Some(Some(sa)) if accounts.len() == 1 => {
                    let t = vec![(SERVICE_ACCOUNT.to_string(), sa.to_string())];
                    only_members(&equals_selector(&t), true).then_some(t)
                }
                _ => None,
            };
            by_account.unwrap_or_else(|| {
                note = Some(format!(
                    "{namespace}/{group} has no stable labels: its rules name every pod of the namespace"
                ));
                Vec::new()
            })
        } else {
            let terms = choose_terms(&common, |sel| only_members(sel, false));
            if !members.is_empty() && !only_members(&equals_selector(&terms), false) {
                note = Some(format!(
                    "{namespace}/{group}: {} also selects other pods of the namespace (no stable label tells them apart)",
                    equals_selector(&terms)
                ));
            }
            terms
        };
        Workload {
            namespace: namespace.to_string(),
            terms,
            dns,
            note,
        }
    }

    /// The peer a rule names for the far end `end`, seen from namespace `local_ns`.
    pub fn peer(&mut self, end: &ObservedEnd, local_ns: &str) -> PeerKey {
        if let Some(w) = self.workload(end) {
            return if w.dns {
                PeerKey::ClusterDns {
                    namespace: w.namespace,
                    terms: match w.terms.iter().find(|(k, _)| k == "k8s-app") {
                        Some(t) => vec![t.clone()],
                        None => w.terms,
                    },
                }
            } else if w.namespace == local_ns {
                PeerKey::SameNamespace { terms: w.terms }
            } else {
                PeerKey::OtherNamespace {
                    namespace: w.namespace,
                    terms: w.terms,
                }
            };
        }
        if end.endpoint_type == Some(EndpointType::Ns)
            && let Some(set) = self.network_set_named(end)
        {
            return network_set_peer(set);
        }
        if let Some(ip) = end.ip {
            if let Some(set) = self.network_set_holding(ip, local_ns) {
                return network_set_peer(set);
            }
            return PeerKey::Nets(vec![IpNet::from(ip)]);
        }
        if end.endpoint_type == Some(EndpointType::Hep) {
            return PeerKey::HostEndpoint {
                terms: stable_labels(&end.labels, end.name.as_deref())
                    .into_iter()
                    .collect(),
            };
        }
        match end.name_aggr.as_str() {
            "pvt" => PeerKey::Private,
            _ => PeerKey::Public,
        }
    }

    fn network_set_named(&self, end: &ObservedEnd) -> Option<&'a NetworkSet> {
        let inventory: &'a Inventory = self.inventory;
        let sets = &inventory.network_sets;
        sets.iter()
            .find(|s| s.name == end.name_aggr && s.namespace == end.namespace)
            .or_else(|| sets.iter().find(|s| s.name == end.name_aggr))
    }

    /// The set that names `ip`: the longest prefix, a set of the policy's namespace first,
    /// then global sets, then other namespaces' (by name).
    fn network_set_holding(&self, ip: IpAddr, local_ns: &str) -> Option<&'a NetworkSet> {
        let inventory: &'a Inventory = self.inventory;
        inventory
            .network_sets
            .iter()
            .filter_map(|s| {
                let len = s
                    .nets
                    .iter()
                    .filter(|n| n.contains(&ip))
                    .map(IpNet::prefix_len)
                    .max()?;
                let scope = match s.namespace.as_deref() {
                    Some(ns) if ns == local_ns => 0,
                    None => 1,
                    Some(_) => 2,
                };
                Some((std::cmp::Reverse(len), scope, &s.namespace, &s.name, s))
            })
            .min_by(|a, b| (a.0, a.1, a.2, a.3).cmp(&(b.0, b.1, b.2, b.3)))
            .map(|t| t.4)
    }
}

fn network_set_peer(set: &NetworkSet) -> PeerKey {
    let mut nets = set.nets.clone();
    nets.sort();
    PeerKey::NetworkSet {
        namespace: set.namespace.clone(),
        name: set.name.clone(),
        terms: set
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        nets,
    }
}
