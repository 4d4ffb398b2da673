//! Observed flows → one ingress and one egress staged policy per namespace.

use crate::observed::ObservedFlow;
use crate::peers::{PeerKey, Resolver, Terms};
use crate::ports::{PortDensity, collapse};
use flowlens_model::{
    Action, EntityRule, Inventory, InventoryEditError, Policy, PolicyKind, PolicyTypes, PortMatch,
    Protocol, Reporter, Rule, RuleAction, RuleDirection, StagedAction, Tier, TierDefaultAction,
};
use flowlens_selector::Selector;
use ipnet::IpNet;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Calico Enterprise's tier for recommended policies.
pub const TIER: &str = "namespace-isolation";
/// The order Calico Enterprise's recommendation controller gives that tier: after
/// `kube-admin` (1,000) and before `default` (1,000,000).
pub const TIER_ORDER: f64 = 10_000.0;

/// Namespace prefixes left out unless asked for by name, as Calico Enterprise's default
/// recommendation scope does: the platform's own namespaces.
pub const PLATFORM_NAMESPACE_PREFIXES: &[&str] = &["kube-", "calico-", "tigera-"];

/// Which observed flows teach the advisor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Learn {
    /// Every attempted connection, allowed or denied today: the recommendation then allows
    /// what today's policy wrongly denies (FME's port pool) — and a probe, if the learning
    /// window holds one. Each rule says how many of its connections were denied.
    #[default]
    Attempted,
    /// Only what today's policy allowed, per direction (egress from the source's allowed
    /// records, ingress from the destination's).
    AllowedOnly,
}

/// How to recommend.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Options {
    /// Namespaces to recommend for; empty means every namespace with pods, except the
    /// platform's (`kube-*`, `calico-*`, `tigera-*`).
    pub namespaces: Vec<String>,
    pub learn: Learn,
    pub ports: PortDensity,
    pub tier: String,
    pub tier_order: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespaces: Vec::new(),
            learn: Learn::default(),
            ports: PortDensity::default(),
            tier: TIER.to_string(),
            tier_order: TIER_ORDER,
        }
    }
}

impl Options {
    /// The tier recommended policies live in: deny at its end, so that enforced, a
    /// namespace's policy allows what was observed and nothing else.
    pub fn tier(&self) -> Tier {
        Tier {
            name: self.tier.clone(),
            order: Some(self.tier_order),
            default_action: TierDefaultAction::Deny,
        }
    }
}

/// How much traffic stands behind a rule, counted at the end that judged the direction
/// (egress at the source, ingress at the destination) when that end logged it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RuleEvidence {
    /// Connections today's policy allowed.
    pub allowed_connections: u64,
    /// Connections today's policy denied: enforcing the rule would let them through.
    pub denied_connections: u64,
    /// Distinct destination ports observed (before collapsing into ranges).
    pub observed_ports: usize,
}

/// One recommended policy with the evidence for each of its rules (same order).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecommendedPolicy {
    pub namespace: String,
    pub direction: RuleDirection,
    /// A `StagedNetworkPolicy`.
    pub policy: Policy,
    pub evidence: Vec<RuleEvidence>,
    /// The peer each rule names, in words.
    pub peers: Vec<String>,
    /// Per rule, the peer and the local workload's label terms (empty: every pod of the
    /// namespace), for writing the rules in other forms ([`crate::kubernetes`]).
    #[serde(skip)]
    pub sides: Vec<(PeerKey, Terms)>,
}

/// What [`recommend`] returns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    /// The tier the policies live in (to be created unless the inventory has it).
    pub tier: Tier,
    /// Sorted by namespace, ingress before egress.
    pub policies: Vec<RecommendedPolicy>,
    /// Observed flows (aggregated records) read, and of those, the ones a rule was learned from.
    pub flows_read: usize,
    pub flows_used: usize,
    /// Where a rule is wider than the traffic it was learned from, and why.
    pub notes: Vec<String>,
}

#[derive(Default)]
struct Accumulated {
    ports: BTreeSet<u16>,
    any_port: bool,
    /// (allowed, denied) connections from the end that judged the direction, and from the
    /// other end.
    own: (u64, u64),
    other: (u64, u64),
}

type RuleKey = (PeerKey, Terms, Protocol);

/// Local workload, protocol and ports (as first/last pairs) of a rule for plain addresses.
type NetsKey = (Terms, Protocol, Vec<(u16, u16)>);

fn has_ports(p: Protocol) -> bool {
    matches!(
        p,
        Protocol::Tcp | Protocol::Udp | Protocol::Sctp | Protocol::UdpLite
    )
}

/// Recommends least-privilege staged policies for the traffic in `flows`: per namespace one
/// ingress and one egress `StagedNetworkPolicy` in `options.tier`, allowing exactly the
/// workload pairs, protocols and ports observed (ports collapsed into ranges where dense),
/// and so denying, once enforced, everything else that reaches the tier. Deterministic: the
/// same inventory and flows (in any order) give the same recommendation.
pub fn recommend(
    inventory: &Inventory,
    flows: &[ObservedFlow],
    options: &Options,
) -> Recommendation {
    let mut resolver = Resolver::new(inventory);
    let asked: BTreeSet<&str> = options.namespaces.iter().map(String::as_str).collect();
    let in_scope = |ns: &str| {
        if asked.is_empty() {
            !PLATFORM_NAMESPACE_PREFIXES
                .iter()
                .any(|p| ns.starts_with(p))
        } else {
            asked.contains(ns)
        }
    };
    let mut namespaces: BTreeSet<String> = if asked.is_empty() {
        resolver
            .pod_namespaces()
            .filter(|ns| in_scope(ns))
            .map(str::to_string)
            .collect()
    } else {
        asked.iter().map(|s| s.to_string()).collect()
    };

    let mut learned: BTreeMap<(String, RuleDirection), BTreeMap<RuleKey, Accumulated>> =
        BTreeMap::new();
    let mut notes: BTreeSet<String> = BTreeSet::new();
    let mut used = 0usize;
    for flow in flows {
        let allowed = flow.action == Action::Allow;
        let (learn_egress, learn_ingress) = match options.learn {
            Learn::Attempted => (true, true),
            Learn::AllowedOnly => (allowed, allowed && flow.reporter == Reporter::Dst),
        };
        let mut took = false;
        for direction in [RuleDirection::Egress, RuleDirection::Ingress] {
            let (local_end, far_end, wanted, judge) = match direction {
                RuleDirection::Egress => (&flow.source, &flow.dest, learn_egress, Reporter::Src),
                RuleDirection::Ingress => (&flow.dest, &flow.source, learn_ingress, Reporter::Dst),
            };
            if !wanted {
                continue;
            }
            let Some(local) = resolver.workload(local_end) else {
                continue;
            };
            if !in_scope(&local.namespace) {
                continue;
            }
            let peer = resolver.peer(far_end, &local.namespace);
            if let Some(n) = &local.note {
                notes.insert(n.clone());
            }
            if let Some(w) = resolver.workload(far_end)
                && let Some(n) = w.note
            {
                notes.insert(n);
            }
            // Cluster DNS is one rule for the whole namespace, as people write it.
            let local_terms = match peer {
                PeerKey::ClusterDns { .. } if direction == RuleDirection::Egress => Vec::new(),
                _ => local.terms.clone(),
            };
            namespaces.insert(local.namespace.clone());
            let acc = learned
                .entry((local.namespace.clone(), direction))
                .or_default()
                .entry((peer, local_terms, flow.proto))
                .or_default();
            match flow.dest_port {
                Some(p) if has_ports(flow.proto) => {
                    acc.ports.insert(p);
                }
                _ if has_ports(flow.proto) => acc.any_port = true,
                _ => {}
            }
            let counts = if flow.reporter == judge {
                &mut acc.own
            } else {
                &mut acc.other
            };
            if allowed {
                counts.0 += flow.num_flows;
            } else {
                counts.1 += flow.num_flows;
            }
            took = true;
        }
        used += usize::from(took);
    }
    add_dns_over_tcp(&mut learned);

    let mut policies = Vec::new();
    for ns in &namespaces {
        for direction in [RuleDirection::Ingress, RuleDirection::Egress] {
            let empty = BTreeMap::new();
            let rules = learned.get(&(ns.clone(), direction)).unwrap_or(&empty);
            policies.push(build_policy(ns, direction, rules, options));
        }
    }
    for ns in &asked {
        if !resolver.pod_namespaces().any(|n| n == *ns) {
            notes.insert(format!(
                "namespace {ns} has no pods in the snapshot: its policies hold only what was observed"
            ));
        }
    }
    Recommendation {
        tier: options.tier(),
        policies,
        flows_read: flows.len(),
        flows_used: used,
        notes: notes.into_iter().collect(),
    }
}

/// DNS falls back to TCP for large answers: a DNS rule learned over UDP gets TCP 53 too,
/// and the other way round.
fn add_dns_over_tcp(
    learned: &mut BTreeMap<(String, RuleDirection), BTreeMap<RuleKey, Accumulated>>,
) {
    for ((_, direction), rules) in learned.iter_mut() {
        if *direction != RuleDirection::Egress {
            continue;
        }
        let dns: Vec<(PeerKey, Terms)> = rules
            .keys()
            .filter(|(peer, _, proto)| {
                matches!(peer, PeerKey::ClusterDns { .. })
                    && matches!(proto, Protocol::Udp | Protocol::Tcp)
            })
            .map(|(peer, terms, _)| (peer.clone(), terms.clone()))
            .collect();
        for (peer, terms) in dns {
            for proto in [Protocol::Udp, Protocol::Tcp] {
                rules
                    .entry((peer.clone(), terms.clone(), proto))
                    .or_default()
                    .ports
                    .insert(53);
            }
        }
    }
}

/// One rule before nets are merged: the peer, the local workload, protocol and ports.
struct Draft {
    peer: PeerKey,
    local: Terms,
    proto: Protocol,
    ports: Vec<PortMatch>,
    evidence: RuleEvidence,
}

/// Ports as (first, last) pairs, for ordering; collapsed ports are never named.
fn port_key(ports: &[PortMatch]) -> Vec<(u16, u16)> {
    ports
        .iter()
        .filter_map(|p| match p {
            PortMatch::Single(n) => Some((*n, *n)),
            PortMatch::Range { first, last } => Some((*first, *last)),
            PortMatch::Named(_) => None,
        })
        .collect()
}

fn build_policy(
    ns: &str,
    direction: RuleDirection,
    learned: &BTreeMap<RuleKey, Accumulated>,
    options: &Options,
) -> RecommendedPolicy {
    let mut drafts: Vec<Draft> = Vec::new();
    // Plain addresses with the same local workload, protocol and ports share one rule.
    let mut nets: BTreeMap<NetsKey, (BTreeSet<IpNet>, RuleEvidence)> = BTreeMap::new();
    for ((peer, local, proto), acc) in learned {
        let ports = if acc.any_port {
            Vec::new()
        } else {
            collapse(&acc.ports, options.ports)
        };
        let (allowed, denied) = if acc.own.0 + acc.own.1 > 0 {
            acc.own
        } else {
            acc.other
        };
        let evidence = RuleEvidence {
            allowed_connections: allowed,
            denied_connections: denied,
            observed_ports: acc.ports.len(),
        };
        if let PeerKey::Nets(list) = peer {
            let slot = nets
                .entry((local.clone(), *proto, port_key(&ports)))
                .or_insert_with(|| (BTreeSet::new(), RuleEvidence::default()));
            slot.0.extend(list.iter().copied());
            slot.1.allowed_connections += evidence.allowed_connections;
            slot.1.denied_connections += evidence.denied_connections;
            slot.1.observed_ports = slot.1.observed_ports.max(evidence.observed_ports);
            continue;
        }
        drafts.push(Draft {
            peer: peer.clone(),
            local: local.clone(),
            proto: *proto,
            ports,
            evidence,
        });
    }
    for ((local, proto, ports), (list, evidence)) in nets {
        drafts.push(Draft {
            peer: PeerKey::Nets(list.into_iter().collect()),
            local,
            proto,
            ports: ports
                .into_iter()
                .map(|(first, last)| {
                    if first == last {
                        PortMatch::Single(first)
                    } else {
                        PortMatch::Range { first, last }
                    }
                })
                .collect(),
            evidence,
        });
    }
    drafts.sort_by(|a, b| {
        (&a.peer, &a.local, a.proto, port_key(&a.ports)).cmp(&(
            &b.peer,
            &b.local,
            b.proto,
            port_key(&b.ports),
        ))
    });

    let ingress = direction == RuleDirection::Ingress;
    let mut rules = Vec::new();
    let mut evidence = Vec::new();
    let mut peers = Vec::new();
    let mut sides = Vec::new();
    for d in drafts {
        let mut far = d.peer.entity(ns);
        let mut near = EntityRule {
            selector: (!d.local.is_empty()).then(|| crate::labels::equals_selector(&d.local)),
            ..EntityRule::default()
        };
        // Ports are the destination's.
        if ingress {
            near.ports = d.ports;
        } else {
            far.ports = d.ports;
        }
        let (source, destination) = if ingress { (far, near) } else { (near, far) };
        rules.push(Rule {
            action: RuleAction::Allow,
            protocol: Some(d.proto),
            source,
            destination,
            ..Rule::new(RuleAction::Allow)
        });
        evidence.push(d.evidence);
        peers.push(d.peer.describe());
        sides.push((d.peer, d.local));
    }
    let suffix = if ingress { "ingress" } else { "egress" };
    let policy = Policy {
        kind: PolicyKind::StagedNetworkPolicy,
        name: format!("{}.{ns}-{suffix}", options.tier),
        namespace: Some(ns.to_string()),
        tier: options.tier.clone(),
        order: None,
        selector: Selector::all(),
        namespace_selector: None,
        service_account_selector: None,
        types: PolicyTypes {
            ingress,
            egress: !ingress,
        },
        ingress: if ingress { rules.clone() } else { Vec::new() },
        egress: if ingress { Vec::new() } else { rules },
        do_not_track: false,
        pre_dnat: false,
        apply_on_forward: false,
        staged_action: StagedAction::Set,
        source: None,
    };
    RecommendedPolicy {
        namespace: ns.to_string(),
        direction,
        policy,
        evidence,
        peers,
        sides,
    }
}

impl RecommendedPolicy {
    /// The policy's rules (of its one direction), in the order of `evidence` and `peers`.
    pub fn rules(&self) -> &[Rule] {
        match self.direction {
            RuleDirection::Ingress => &self.policy.ingress,
            RuleDirection::Egress => &self.policy.egress,
        }
    }

    /// The policy as it would be enforced: a `NetworkPolicy` with the same name and rules.
    pub fn enforced(&self) -> Policy {
        Policy {
            kind: PolicyKind::NetworkPolicy,
            ..self.policy.clone()
        }
    }
}

impl Recommendation {
    /// `inventory` with the recommendation's tier (unless it has one of that name) and its
    /// policies, staged or (`enforce`) as NetworkPolicies.
    pub fn apply_to(
        &self,
        inventory: &Inventory,
        enforce: bool,
    ) -> Result<Inventory, InventoryEditError> {
        let mut inv = self.with_tier(inventory);
        for p in &self.policies {
            inv.upsert_policy(if enforce {
                p.enforced()
            } else {
                p.policy.clone()
            })?;
        }
        Ok(inv)
    }

    /// `inventory` with the recommendation's tier added unless it has one of that name.
    pub fn with_tier(&self, inventory: &Inventory) -> Inventory {
        let mut inv = inventory.clone();
        if inv.tier(&self.tier.name).is_none() {
            inv.tiers.push(self.tier.clone());
            inv.sort_in_evaluation_order();
        }
        inv
    }
}
