//! A plain interpreter of the same semantics as [`crate::Engine`], written for clarity and
//! nothing else: every selector is evaluated on labels at the moment it is needed, nothing is
//! precomputed or cached. The property tests check the compiled engine against it on random
//! clusters and flows; it is not meant for production use.
//!
//! It shares no evaluation helper with the engine: tier and policy ordering, staged-policy
//! identity and the hit strings are written out again here, so that a bug in the engine's
//! helpers cannot hide behind the same bug in the reference.

use crate::FiveTuple;
use crate::verdict::Action;
use flowlens_model::{
    EndpointType, EntityRule, IcmpMatch, Inventory, Labels, Policy, PolicyKind, PortMatch,
    Protocol, Rule, RuleAction, StagedAction, TargetPort, Tier, TierDefaultAction,
    well_known_labels,
};
use flowlens_selector::{Expr, Selector};
use std::cmp::Ordering;
use std::net::IpAddr;

/// One direction: the action and the Calico hit strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceDirection {
    pub action: Action,
    pub hits: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceVerdict {
    pub action: Action,
    pub egress: Option<ReferenceDirection>,
    pub ingress: Option<ReferenceDirection>,
    pub pending_action: Action,
    pub pending_egress: Option<ReferenceDirection>,
    pub pending_ingress: Option<ReferenceDirection>,
    /// A rule that decided (allow, deny or pass) in any direction, enforced or pending, had a
    /// clause the flow cannot show (HTTP, or an ICMP type the flow lacks).
    pub undecidable: bool,
}

pub struct Reference<'a> {
    inv: &'a Inventory,
}

/// Something at an address that selectors can see.
struct Holder<'a> {
    namespace: Option<&'a str>,
    labels: Labels,
    service_account: Option<&'a str>,
    endpoint: Option<usize>,
}

impl<'a> Reference<'a> {
    pub fn new(inv: &'a Inventory) -> Reference<'a> {
        Reference { inv }
    }

    fn endpoint_at(&self, ip: IpAddr) -> Option<usize> {
        self.inv.endpoints.iter().position(|e| e.ips.contains(&ip))
    }

    fn holders_at(&self, ip: IpAddr) -> Vec<Holder<'a>> {
        let mut out = Vec::new();
        if let Some(i) = self.endpoint_at(ip) {
            let e = &self.inv.endpoints[i];
            out.push(Holder {
                namespace: e.namespace.as_deref(),
                labels: e.selector_labels(),
                service_account: if e.endpoint_type == EndpointType::Wep {
                    e.service_account.as_deref()
                } else {
                    None
                },
                endpoint: Some(i),
            });
        }
        for set in &self.inv.network_sets {
            if set.nets.iter().any(|n| n.contains(&ip)) {
                out.push(Holder {
                    namespace: set.namespace.as_deref(),
                    labels: set.selector_labels(),
                    service_account: None,
                    endpoint: None,
                });
            }
        }
        out
    }

    fn namespace_labels(&self, ns: &str) -> Labels {
        self.inv
            .namespace(ns)
            .map(|n| n.selector_labels())
            .unwrap_or_else(|| {
                let mut l = Labels::new();
                l.insert(well_known_labels::K8S_NAMESPACE_NAME.into(), ns.into());
                l.insert(well_known_labels::NAME.into(), ns.into());
                l
            })
    }

    /// Calico's namespaceSelector: evaluated on the namespace's labels, `all()` true for any
    /// namespaced holder, `global()` for any non-namespaced one.
    fn namespace_selected(&self, ns: Option<&str>, sel: &Selector) -> bool {
        fn eval(e: &Expr, labels: Option<&Labels>) -> bool {
            match e {
                Expr::All => labels.is_some(),
                Expr::Global => labels.is_none(),
                Expr::Not(inner) => !eval(inner, labels),
                Expr::And(children) => children.iter().all(|c| eval(c, labels)),
                Expr::Or(children) => children.iter().any(|c| eval(c, labels)),
                leaf => leaf.matches(labels.unwrap_or(&Labels::new())),
            }
        }
        let labels = ns.map(|n| self.namespace_labels(n));
        eval(sel.expr(), labels.as_ref())
    }

    fn sa_labels(&self, ns: &str, name: &str) -> Labels {
        let mut labels = self
            .inv
            .service_account(ns, name)
            .map(|s| s.labels.clone())
            .unwrap_or_default();
        labels.insert(well_known_labels::NAME.into(), name.into());
        labels
    }

    pub fn evaluate(&self, flow: &FiveTuple) -> ReferenceVerdict {
        let src_ep = self.endpoint_at(flow.src);
        let dst_ep = self.endpoint_at(flow.dst);
        let mut undecidable = false;
        let mut run = |ep: Option<usize>, ingress: bool, pending: bool| {
            ep.map(|ep| self.direction(ep, ingress, pending, flow, &mut undecidable))
        };
        let egress = run(src_ep, false, false);
        let ingress = run(dst_ep, true, false);
        let pending_egress = run(src_ep, false, true);
        let pending_ingress = run(dst_ep, true, true);
        let both = |e: &Option<ReferenceDirection>, i: &Option<ReferenceDirection>| {
            if e.as_ref().is_some_and(|d| d.action == Action::Deny)
                || i.as_ref().is_some_and(|d| d.action == Action::Deny)
            {
                Action::Deny
            } else {
                Action::Allow
            }
        };
        ReferenceVerdict {
            action: both(&egress, &ingress),
            pending_action: both(&pending_egress, &pending_ingress),
            egress,
            ingress,
            pending_egress,
            pending_ingress,
            undecidable,
        }
    }

    /// Enforced view: every policy that is not staged. Pending view: staged `Set` policies,
    /// plus the enforced ones no staged policy stands in for.
    fn in_view(&self, p: &Policy, pending: bool) -> bool {
        if !pending {
            return !is_staged(p.kind);
        }
        if is_staged(p.kind) {
            return p.staged_action == StagedAction::Set;
        }
        !self
            .inv
            .policies
            .iter()
            .any(|s| is_staged(s.kind) && staged_identity(s) == staged_identity(p))
    }

    fn applies(&self, p: &Policy, ep: usize, ingress: bool) -> bool {
        let e = &self.inv.endpoints[ep];
        if !(if ingress {
            p.types.ingress
        } else {
            p.types.egress
        }) {
            return false;
        }
        if (p.do_not_track || p.pre_dnat) && e.endpoint_type != EndpointType::Hep {
            return false;
        }
        if p.pre_dnat && !ingress {
            return false;
        }
        let scope_ok = match (&p.namespace, &p.namespace_selector) {
            (Some(ns), _) => e.namespace.as_deref() == Some(ns.as_str()),
            (None, Some(sel)) => self.namespace_selected(e.namespace.as_deref(), sel),
            (None, None) => true,
        };
        let sa_ok = p.service_account_selector.as_ref().is_none_or(|sel| {
            match (e.endpoint_type, &e.namespace, &e.service_account) {
                (EndpointType::Wep, Some(ns), Some(sa)) => sel.matches(&self.sa_labels(ns, sa)),
                _ => false,
            }
        });
        scope_ok && sa_ok && p.selector.matches(&e.selector_labels())
    }

    /// Tier names in evaluation order: declared tiers by ascending order (tiers without one
    /// after every ordered tier), ties by name; then tiers only policies name, as they first
    /// appear.
    fn tier_names(&self) -> Vec<&'a str> {
        let mut declared: Vec<&Tier> = Vec::new();
        for t in &self.inv.tiers {
            // Insertion sort: the first place whose tier comes after this one.
            let at = declared
                .iter()
                .position(|d| tier_before(t, d))
                .unwrap_or(declared.len());
            declared.insert(at, t);
        }
        let mut names: Vec<&'a str> = declared.iter().map(|t| t.name.as_str()).collect();
        for p in &self.inv.policies {
            if !names.contains(&p.tier.as_str()) {
                names.push(&p.tier);
            }
        }
        names
    }

    fn direction(
        &self,
        ep: usize,
        ingress: bool,
        pending: bool,
        flow: &FiveTuple,
        undecidable: &mut bool,
    ) -> ReferenceDirection {
        let e = &self.inv.endpoints[ep];
        let tier_names = self.tier_names();
        let mut hits: Vec<String> = Vec::new();
        let stage_of = |p: &Policy| {
            if p.do_not_track {
                0
            } else if p.pre_dnat {
                1
            } else {
                2
            }
        };
        let mut decided = None;
        for stage in 0..3 {
            if decided.is_some() {
                break;
            }
            let outcome = self.tiers(
                &tier_names,
                ep,
                ingress,
                pending,
                flow,
                &mut hits,
                undecidable,
                |p| stage_of(p) == stage,
            );
            decided = match (stage, outcome) {
                (0, d) => d,
                (1, Some(Action::Deny)) => Some(Action::Deny),
                (1, _) => None,
                (_, d) => d,
            };
        }
        let action = match decided {
            Some(a) => a,
            None => match (e.endpoint_type, &e.namespace) {
                (EndpointType::Wep, Some(ns)) => {
                    hits.push(format!("{}|__PROFILE__|pro:kns.{ns}|allow|0", hits.len()));
                    Action::Allow
                }
                _ if !e.profiles.is_empty() => {
                    hits.push(format!(
                        "{}|__PROFILE__|pro:{}|allow|0",
                        hits.len(),
                        e.profiles[0]
                    ));
                    Action::Allow
                }
                _ => Action::Deny,
            },
        };
        ReferenceDirection { action, hits }
    }

    #[allow(clippy::too_many_arguments)]
    fn tiers(
        &self,
        tier_names: &[&str],
        ep: usize,
        ingress: bool,
        pending: bool,
        flow: &FiveTuple,
        hits: &mut Vec<String>,
        undecidable: &mut bool,
        in_stage: impl Fn(&Policy) -> bool,
    ) -> Option<Action> {
        let mut hit = |p: &Policy, action: &str, rule: i32| {
            hits.push(format!(
                "{}|{}|{}|{action}|{rule}",
                hits.len(),
                p.tier,
                hit_policy_field(p)
            ));
        };
        'tiers: for tier in tier_names {
            let mut policies: Vec<&Policy> = Vec::new();
            for p in &self.inv.policies {
                if p.tier == *tier
                    && self.in_view(p, pending)
                    && in_stage(p)
                    && self.applies(p, ep, ingress)
                {
                    let at = policies
                        .iter()
                        .position(|q| policy_before(p, q))
                        .unwrap_or(policies.len());
                    policies.insert(at, p);
                }
            }
            if policies.is_empty() {
                continue;
            }
            for p in &policies {
                let rules = if ingress { &p.ingress } else { &p.egress };
                for (ri, rule) in rules.iter().enumerate() {
                    let Some(open) = self.rule_matches(p, rule, flow) else {
                        continue;
                    };
                    let ri = ri as i32;
                    match rule.action {
                        RuleAction::Log => continue,
                        RuleAction::Allow => {
                            *undecidable |= open;
                            hit(p, "allow", ri);
                            return Some(Action::Allow);
                        }
                        RuleAction::Deny => {
                            *undecidable |= open;
                            hit(p, "deny", ri);
                            return Some(Action::Deny);
                        }
                        RuleAction::Pass => {
                            *undecidable |= open;
                            hit(p, "pass", ri);
                            continue 'tiers;
                        }
                    }
                }
            }
            let last = policies[policies.len() - 1];
            let default = self
                .inv
                .tiers
                .iter()
                .find(|t| t.name == *tier)
                .map(|t| t.default_action)
                .unwrap_or(TierDefaultAction::Deny);
            match default {
                TierDefaultAction::Deny => {
                    hit(last, "deny", -1);
                    return Some(Action::Deny);
                }
                TierDefaultAction::Pass => hit(last, "pass", -1),
            }
        }
        None
    }

    /// `None` when the rule does not match; `Some(open)` when it does, `open` when it matched
    /// only because a clause the flow cannot show (HTTP, an ICMP type it lacks) was assumed.
    fn rule_matches(&self, p: &Policy, rule: &Rule, flow: &FiveTuple) -> Option<bool> {
        if let Some(proto) = rule.protocol
            && proto.number() != flow.protocol.number()
        {
            return None;
        }
        if let Some(proto) = rule.not_protocol
            && proto.number() == flow.protocol.number()
        {
            return None;
        }
        if let Some(v) = rule.ip_version
            && (v == 4) != flow.src.is_ipv4()
        {
            return None;
        }
        let is_icmp = matches!(flow.protocol, Protocol::Icmp | Protocol::IcmpV6);
        let mut open = rule.http.is_some();
        // Felix matches on the ICMP type (and code) only when a type is given; an ICMP match
        // without one puts no constraint on the packet.
        if let Some(m) = rule.icmp
            && let Some(want) = m.icmp_type
        {
            if !is_icmp {
                return None;
            }
            match flow.icmp {
                None => open = true,
                Some(got) if !icmp_is(m, want, got) => return None,
                Some(_) => {}
            }
        }
        if let Some(m) = rule.not_icmp
            && is_icmp
            && let Some(want) = m.icmp_type
        {
            match flow.icmp {
                None => open = true,
                Some(got) if icmp_is(m, want, got) => return None,
                Some(_) => {}
            }
        }
        let src_ok = self.entity_matches(
            p,
            &rule.source,
            flow.src,
            flow.src_port,
            flow.protocol,
            false,
        );
        let dst_ok = self.entity_matches(
            p,
            &rule.destination,
            flow.dst,
            flow.dst_port,
            flow.protocol,
            true,
        );
        (src_ok && dst_ok).then_some(open)
    }

    /// Whether the rule's namespace part (namespaceSelector, or the policy's own namespace)
    /// admits the holder; `None` when the rule has no namespace part.
    fn namespace_part(&self, p: &Policy, e: &EntityRule, h: &Holder<'_>) -> Option<bool> {
        match (&e.namespace_selector, p.kind.is_namespaced()) {
            (Some(sel), _) => Some(self.namespace_selected(h.namespace, sel)),
            (None, true) => Some(h.namespace.is_some() && h.namespace == p.namespace.as_deref()),
            (None, false) => None,
        }
    }

    fn holder_selected(&self, p: &Policy, e: &EntityRule, h: &Holder<'_>) -> bool {
        let sa_ok =
            e.service_accounts
                .as_ref()
                .is_none_or(|m| match (h.service_account, h.namespace) {
                    (Some(sa), Some(ns)) => {
                        (m.names.is_empty() || m.names.iter().any(|n| n == sa))
                            && m.selector
                                .as_ref()
                                .is_none_or(|s| s.matches(&self.sa_labels(ns, sa)))
                    }
                    _ => false,
                });
        self.namespace_part(p, e, h).unwrap_or(true)
            && e.selector.as_ref().is_none_or(|s| s.matches(&h.labels))
            && sa_ok
    }

    fn entity_matches(
        &self,
        p: &Policy,
        e: &EntityRule,
        ip: IpAddr,
        port: u16,
        proto: Protocol,
        is_dst: bool,
    ) -> bool {
        if !e.nets.is_empty() && !e.nets.iter().any(|n| n.contains(&ip)) {
            return false;
        }
        if e.not_nets.iter().any(|n| n.contains(&ip)) {
            return false;
        }
        let holders = self.holders_at(ip);
        let has_ns_part = e.namespace_selector.is_some() || p.kind.is_namespaced();
        let constrained = e.selector.is_some()
            || e.service_accounts.is_some()
            || (has_ns_part && (e.not_selector.is_some() || e.namespace_selector.is_some()));
        if constrained && !holders.iter().any(|h| self.holder_selected(p, e, h)) {
            return false;
        }
        if let Some(not) = &e.not_selector
            && holders.iter().any(|h| not.matches(&h.labels))
        {
            return false;
        }
        let endpoint = holders.iter().find(|h| h.endpoint.is_some());
        let port_ok = |pm: &PortMatch| match pm {
            PortMatch::Single(n) => *n == port,
            PortMatch::Range { first, last } => *first <= port && port <= *last,
            PortMatch::Named(name) => endpoint.is_some_and(|h| {
                (!constrained || self.holder_selected(p, e, h))
                    && self.inv.endpoints[h.endpoint.unwrap_or_default()].named_port(name, proto)
                        == Some(port)
            }),
        };
        if !e.ports.is_empty() && !e.ports.iter().any(port_ok) {
            return false;
        }
        if e.not_ports.iter().any(port_ok) {
            return false;
        }
        if let Some(m) = &e.services {
            let ns = m
                .namespace
                .clone()
                .or_else(|| p.namespace.clone())
                .unwrap_or_default();
            let Some(svc) = self
                .inv
                .services
                .iter()
                .find(|s| s.namespace == ns && s.name == m.name)
            else {
                return false;
            };
            let backend = endpoint.and_then(|h| h.endpoint).filter(|&i| {
                let ep = &self.inv.endpoints[i];
                ep.endpoint_type == EndpointType::Wep
                    && ep.namespace.as_deref() == Some(svc.namespace.as_str())
                    && svc.selector.as_ref().is_some_and(|sel| {
                        !sel.is_empty() && sel.iter().all(|(k, v)| ep.labels.get(k) == Some(v))
                    })
            });
            let ok = if !is_dst {
                backend.is_some()
            } else if svc.cluster_ips.contains(&ip) {
                svc.ports
                    .iter()
                    .any(|sp| sp.protocol == proto && sp.port == port)
            } else {
                backend.is_some_and(|i| {
                    svc.ports.iter().any(|sp| {
                        sp.protocol == proto
                            && match &sp.target_port {
                                TargetPort::Number(n) => *n == port,
                                TargetPort::Name(n) => {
                                    self.inv.endpoints[i].named_port(n, proto) == Some(port)
                                }
                            }
                    })
                })
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

/// Whether the packet's (type, code) is the one a match names: the type, and the code when
/// the match gives one.
fn icmp_is(m: IcmpMatch, want_type: u8, (t, c): (u8, u8)) -> bool {
    t == want_type && m.code.is_none_or(|want_code| want_code == c)
}

fn is_staged(kind: PolicyKind) -> bool {
    matches!(
        kind,
        PolicyKind::StagedNetworkPolicy
            | PolicyKind::StagedGlobalNetworkPolicy
            | PolicyKind::StagedKubernetesNetworkPolicy
    )
}

/// What a staged policy and the enforced policy it stands in for have in common: the
/// enforced kind, the namespace, and the name without a `<tier>.` prefix.
fn staged_identity(p: &Policy) -> (PolicyKind, Option<&str>, &str) {
    let kind = match p.kind {
        PolicyKind::StagedNetworkPolicy => PolicyKind::NetworkPolicy,
        PolicyKind::StagedGlobalNetworkPolicy => PolicyKind::GlobalNetworkPolicy,
        PolicyKind::StagedKubernetesNetworkPolicy => PolicyKind::KubernetesNetworkPolicy,
        other => other,
    };
    let prefix = format!("{}.", p.tier);
    let name = p.name.strip_prefix(prefix.as_str()).unwrap_or(&p.name);
    (kind, p.namespace.as_deref(), name)
}

/// `a` is evaluated before `b`: lower order first, no order after any order, then by name.
fn tier_before(a: &Tier, b: &Tier) -> bool {
    match compare_orders(a.order, b.order) {
        Ordering::Equal => a.name < b.name,
        other => other == Ordering::Less,
    }
}

/// `a` is evaluated before `b` within a tier: lower order first, no order after any order,
/// then as Felix breaks ties, by the text `<name>/<namespace>/<kind>` of its policy key
/// ([`felix_key`]).
fn policy_before(a: &Policy, b: &Policy) -> bool {
    compare_orders(a.order, b.order).then_with(|| felix_key(a).cmp(&felix_key(b))) == Ordering::Less
}

/// Felix's policy key as text: Kubernetes policies under their translated name
/// `knp.default.<name>`, every policy with its kind's name.
fn felix_key(p: &Policy) -> String {
    let name = match p.kind {
        PolicyKind::KubernetesNetworkPolicy | PolicyKind::StagedKubernetesNetworkPolicy => {
            format!("knp.default.{}", p.name)
        }
        _ => p.name.clone(),
    };
    let kind = match p.kind {
        PolicyKind::NetworkPolicy => "NetworkPolicy",
        PolicyKind::GlobalNetworkPolicy => "GlobalNetworkPolicy",
        PolicyKind::StagedNetworkPolicy => "StagedNetworkPolicy",
        PolicyKind::StagedGlobalNetworkPolicy => "StagedGlobalNetworkPolicy",
        PolicyKind::StagedKubernetesNetworkPolicy => "StagedKubernetesNetworkPolicy",
        PolicyKind::KubernetesNetworkPolicy => "KubernetesNetworkPolicy",
        PolicyKind::AdminNetworkPolicy => "KubernetesAdminNetworkPolicy",
        PolicyKind::BaselineAdminNetworkPolicy => "KubernetesBaselineAdminNetworkPolicy",
        PolicyKind::ClusterNetworkPolicy => "KubernetesClusterNetworkPolicy",
    };
    let namespace = p.namespace.as_deref().unwrap_or("");
    format!("{name}/{namespace}/{kind}")
}

fn compare_orders(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The policy field of a Calico ≥ 3.32 hit string: `<kind tag>:[<namespace>/]<name>`.
fn hit_policy_field(p: &Policy) -> String {
    let tag = match p.kind {
        PolicyKind::NetworkPolicy => "np",
        PolicyKind::GlobalNetworkPolicy => "gnp",
        PolicyKind::StagedNetworkPolicy => "snp",
        PolicyKind::StagedGlobalNetworkPolicy => "sgnp",
        PolicyKind::StagedKubernetesNetworkPolicy => "sknp",
        PolicyKind::KubernetesNetworkPolicy => "knp",
        PolicyKind::AdminNetworkPolicy
        | PolicyKind::BaselineAdminNetworkPolicy
        | PolicyKind::ClusterNetworkPolicy => "kcnp",
    };
    match &p.namespace {
        Some(ns) => format!("{tag}:{ns}/{}", p.name),
        None => format!("{tag}:{}", p.name),
    }
}
