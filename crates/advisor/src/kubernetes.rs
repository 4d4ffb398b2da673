//! A recommendation as Kubernetes NetworkPolicies (`networking.k8s.io/v1`), for clusters
//! that run no Calico or teams that keep to the portable API.
//!
//! A Kubernetes rule cannot name its local side — the policy's `podSelector` does — so the
//! rules are regrouped by local workload: per namespace one policy for every pod
//! (`podSelector: {}`, both policy types: it isolates the namespace, as the recommendation's
//! tier denies at its end, and holds the rules for the whole namespace, DNS among them) and
//! one per local workload with that workload's rules. Kubernetes policies only add to one
//! another, so together they allow exactly what the recommendation allows, except what has
//! no Kubernetes form, which is left out and listed ([`Omitted`]):
//!
//! - host endpoints as peers, and workloads told apart only by their service account;
//! - protocols other than TCP, UDP and SCTP;
//!
//! and what reads differently ([`KubernetesPolicies::notes`]): the tier and its order
//! (Kubernetes policies live in Calico's `default` tier, at order 1000), network sets
//! written as their CIDRs (later changes to a set are not followed), port ranges as
//! `endPort` (Kubernetes ≥ 1.25).
//!
//! The policies are built in the shape the manifests loader gives a Kubernetes
//! NetworkPolicy (Calico's conversion), so that writing them out and loading them back
//! gives the same policies.

use crate::peers::{PeerKey, Terms, private_nets};
use crate::recommend::{Recommendation, RecommendedPolicy};
use flowlens_model::well_known_labels::{K8S_NAMESPACE_NAME, ORCHESTRATOR, SERVICE_ACCOUNT};
use flowlens_model::{
    EntityRule, Policy, PolicyKind, PolicyTypes, PortMatch, Protocol, Rule, RuleAction,
    RuleDirection, StagedAction, Tier,
};
use flowlens_selector::Selector;
use ipnet::IpNet;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The order Calico gives every Kubernetes NetworkPolicy in the `default` tier.
pub const KUBERNETES_POLICY_ORDER: f64 = 1000.0;

/// A rule of the recommendation left out of the Kubernetes policies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Omitted {
    pub namespace: String,
    /// The recommended policy and the rule's index in it.
    pub policy: String,
    pub rule: usize,
    pub peer: String,
    pub reason: String,
}

/// The Kubernetes form of a recommendation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KubernetesPolicies {
    /// `KubernetesNetworkPolicy` policies, by namespace (the namespace's own first).
    pub policies: Vec<Policy>,
    pub omitted: Vec<Omitted>,
    /// Where the Kubernetes policies read differently from the recommendation.
    pub notes: Vec<String>,
}

/// `projectcalico.org/orchestrator == "k8s"` and the terms as `matchLabels` (sorted by key),
/// as the loader converts a pod selector.
fn pod_selector(terms: &Terms) -> Selector {
    Selector::label_equals(ORCHESTRATOR, "k8s").and(label_selector(terms))
}

fn label_selector(terms: &Terms) -> Selector {
    let sorted: BTreeMap<&String, &String> = terms.iter().map(|(k, v)| (k, v)).collect();
    Selector::all_of(
        sorted
            .into_iter()
            .map(|(k, v)| Selector::label_equals(k.clone(), v.clone())),
    )
}

fn namespace_selector(ns: &str) -> Selector {
    label_selector(&vec![(K8S_NAMESPACE_NAME.to_string(), ns.to_string())])
}

/// Numeric ports as the loader keeps a Kubernetes rule's ports: sorted, touching and
/// overlapping ones joined, a single port as it is.
fn simplify(ports: &[PortMatch]) -> Vec<PortMatch> {
    let mut numeric: Vec<(u16, u16)> = ports
        .iter()
        .filter_map(|p| match p {
            PortMatch::Single(n) => Some((*n, *n)),
            PortMatch::Range { first, last } => Some((*first, *last)),
            PortMatch::Named(_) => None,
        })
        .collect();
    if ports.len() <= 1 {
        return ports.to_vec();
    }
    numeric.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::new();
    for (first, last) in numeric {
        match merged.last_mut() {
            Some((_, prev)) if u32::from(first) <= u32::from(*prev) + 1 => {
                *prev = (*prev).max(last)
            }
            _ => merged.push((first, last)),
        }
    }
    merged
        .into_iter()
        .map(|(first, last)| {
            if first == last {
                PortMatch::Single(first)
            } else {
                PortMatch::Range { first, last }
            }
        })
        .collect()
}

/// One Kubernetes peer: a pod selector with an optional namespace selector, or an ipBlock.
enum K8sPeer {
    Pods {
        namespace: Option<String>,
        terms: Terms,
    },
    Block {
        cidr: IpNet,
        except: Vec<IpNet>,
    },
}

/// Terms on Calico's own labels (the service account's, `projectcalico.org/…`), which no
/// Kubernetes pod carries.
fn uses_service_account(terms: &Terms) -> bool {
    terms
        .iter()
        .any(|(k, _)| k == SERVICE_ACCOUNT || k.starts_with("projectcalico.org/"))
}

/// The peers a recommended peer becomes, or why it has none.
fn peers_of(
    peer: &PeerKey,
    local_ns: &str,
    notes: &mut BTreeSet<String>,
) -> Result<Vec<K8sPeer>, String> {
    let blocks = |nets: &[IpNet]| {
        nets.iter()
            .map(|n| K8sPeer::Block {
                cidr: *n,
                except: Vec::new(),
            })
            .collect::<Vec<_>>()
    };
    Ok(match peer {
        PeerKey::ClusterDns { namespace, terms } | PeerKey::OtherNamespace { namespace, terms } => {
            if uses_service_account(terms) {
                return Err("the peer is told apart only by its service account".into());
            }
            vec![K8sPeer::Pods {
                namespace: (namespace != local_ns).then(|| namespace.clone()),
                terms: terms.clone(),
            }]
        }
        PeerKey::SameNamespace { terms } => {
            if uses_service_account(terms) {
                return Err("the peer is told apart only by its service account".into());
            }
            vec![K8sPeer::Pods {
                namespace: None,
                terms: terms.clone(),
            }]
        }
        PeerKey::NetworkSet {
            namespace,
            name,
            nets,
            ..
        } => {
            let what = match namespace {
                Some(ns) => format!("network set {ns}/{name}"),
                None => format!("global network set {name}"),
            };
            notes.insert(format!(
                "{what} is written as its CIDRs ({}): Kubernetes policies cannot name a network set, so later changes to it are not followed",
                nets.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ));
            if nets.is_empty() {
                return Err(format!("{what} holds no addresses"));
            }
            blocks(nets)
        }
        PeerKey::HostEndpoint { .. } => {
            return Err("Kubernetes policies cannot name host endpoints".into());
        }
        PeerKey::Nets(nets) => blocks(nets),
        PeerKey::Private => blocks(&private_nets()),
        PeerKey::Public => {
            let private = private_nets();
            ["0.0.0.0/0", "::/0"]
                .iter()
                .filter_map(|n| n.parse::<IpNet>().ok())
                .map(|cidr| K8sPeer::Block {
                    cidr,
                    except: private
                        .iter()
                        .filter(|p| {
                            matches!(
                                (p, cidr),
                                (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
                            )
                        })
                        .copied()
                        .collect(),
                })
                .collect()
        }
    })
}

fn entity(peer: &K8sPeer) -> EntityRule {
    match peer {
        K8sPeer::Pods { namespace, terms } => EntityRule {
            selector: Some(pod_selector(terms)),
            namespace_selector: namespace.as_deref().map(namespace_selector),
            ..EntityRule::default()
        },
        K8sPeer::Block { cidr, except } => EntityRule {
            nets: vec![*cidr],
            not_nets: except.clone(),
            ..EntityRule::default()
        },
    }
}

/// A DNS-1123 name part from label values: lower case, `-` for anything else.
fn slug(terms: &Terms) -> String {
    let text: String = terms
        .iter()
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        .join("-")
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut out = String::new();
    for part in text.split('-').filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(part);
    }
    out.truncate(200);
    out.trim_end_matches('-').to_string()
}

#[derive(Default)]
struct Local {
    ingress: Vec<Rule>,
    egress: Vec<Rule>,
}

/// Rewrites `rec` as Kubernetes NetworkPolicies, one set per namespace of the recommendation.
/// `prefix` starts every name (`<prefix>-<namespace>` for the namespace's policy,
/// `<prefix>-<workload>` for a workload's).
pub fn as_kubernetes(rec: &Recommendation, prefix: &str) -> KubernetesPolicies {
    let mut notes: BTreeSet<String> = BTreeSet::new();
    let mut omitted = Vec::new();
    let mut by_ns: BTreeMap<&str, BTreeMap<Terms, Local>> = BTreeMap::new();
    let mut has_range = false;
    for rp in &rec.policies {
        let locals = by_ns.entry(rp.namespace.as_str()).or_default();
        locals.entry(Vec::new()).or_default();
        collect(rp, locals, &mut omitted, &mut notes, &mut has_range);
    }
    let mut policies = Vec::new();
    for (ns, locals) in by_ns {
        let mut taken: BTreeSet<String> = BTreeSet::new();
        for (terms, local) in locals {
            let whole_namespace = terms.is_empty();
            if !whole_namespace && local.ingress.is_empty() && local.egress.is_empty() {
                continue;
            }
            let base = if whole_namespace {
                format!("{prefix}-{ns}")
            } else {
                let s = slug(&terms);
                format!("{prefix}-{}", if s.is_empty() { "workload" } else { &s })
            };
            let mut name = base.clone();
            let mut n = 2;
            while !taken.insert(name.clone()) {
                name = format!("{base}-{n}");
                n += 1;
            }
            let types = if whole_namespace {
                PolicyTypes {
                    ingress: true,
                    egress: true,
                }
            } else {
                PolicyTypes {
                    ingress: !local.ingress.is_empty(),
                    egress: !local.egress.is_empty(),
                }
            };
            policies.push(Policy {
                kind: PolicyKind::KubernetesNetworkPolicy,
                name,
                namespace: Some(ns.to_string()),
                tier: Tier::DEFAULT.into(),
                order: Some(KUBERNETES_POLICY_ORDER),
                selector: pod_selector(&terms),
                namespace_selector: None,
                service_account_selector: None,
                types,
                ingress: local.ingress,
                egress: local.egress,
                do_not_track: false,
                pre_dnat: false,
                apply_on_forward: false,
                staged_action: StagedAction::Set,
                source: None,
            });
        }
    }
    if !policies.is_empty() {
        notes.insert(format!(
            "Kubernetes NetworkPolicies are evaluated in Calico's default tier at order {KUBERNETES_POLICY_ORDER}, after every earlier tier, not in tier {} at order {}; a namespace is isolated by its policy for every pod (both policy types) rather than by the tier's deny at its end",
            rec.tier.name,
            rec.tier.order.unwrap_or_default()
        ));
    }
    if has_range {
        notes.insert(
            "port ranges are written with endPort, which needs Kubernetes 1.25 or newer (and a network plugin that supports it)".into(),
        );
    }
    KubernetesPolicies {
        policies,
        omitted,
        notes: notes.into_iter().collect(),
    }
}

fn collect(
    rp: &RecommendedPolicy,
    locals: &mut BTreeMap<Terms, Local>,
    omitted: &mut Vec<Omitted>,
    notes: &mut BTreeSet<String>,
    has_range: &mut bool,
) {
    let ingress = rp.direction == RuleDirection::Ingress;
    for (i, (rule, (peer, local))) in rp.rules().iter().zip(&rp.sides).enumerate() {
        let mut omit = |reason: String| {
            omitted.push(Omitted {
                namespace: rp.namespace.clone(),
                policy: rp.policy.name.clone(),
                rule: i,
                peer: rp.peers.get(i).cloned().unwrap_or_default(),
                reason,
            })
        };
        if uses_service_account(local) {
            omit("the local workload is told apart only by its service account".into());
            continue;
        }
        let proto = rule.protocol;
        if let Some(p) = proto
            && !matches!(p, Protocol::Tcp | Protocol::Udp | Protocol::Sctp)
        {
            omit(format!("protocol {p} has no Kubernetes form"));
            continue;
        }
        let peers = match peers_of(peer, &rp.namespace, notes) {
            Ok(p) => p,
            Err(reason) => {
                omit(reason);
                continue;
            }
        };
        // Ports are the destination's in both directions.
        let ports = simplify(&rule.destination.ports);
        *has_range |= ports.iter().any(|p| matches!(p, PortMatch::Range { .. }));
        let slot = locals.entry(local.clone()).or_default();
        for k in &peers {
            let mut r = Rule::new(RuleAction::Allow);
            r.protocol = proto;
            let mut peer_entity = entity(k);
            if ingress {
                r.source = peer_entity;
                r.destination = EntityRule {
                    ports: ports.clone(),
                    ..EntityRule::default()
                };
                slot.ingress.push(r);
            } else {
                peer_entity.ports = ports.clone();
                r.destination = peer_entity;
                slot.egress.push(r);
            }
        }
    }
}
