//! A plain interpreter of the same semantics as [`crate::Engine`], written for clarity and
//! nothing else: every selector is evaluated on labels at the moment it is needed, nothing is
//! precomputed or cached. The property tests check the compiled engine against it on random
//! clusters and flows; it is not meant for production use.

use crate::verdict::Action;
use flowlens_model::{
    EndpointType, EntityRule, HitAction, Inventory, Labels, Policy, PolicyHit, PortMatch, Protocol,
    Rule, RuleAction, StagedAction, TargetPort, TierDefaultAction, sort_policies,
    well_known_labels,
};
use flowlens_selector::{Expr, Selector};
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

    pub fn evaluate(
        &self,
        src: IpAddr,
        dst: IpAddr,
        proto: Protocol,
        src_port: u16,
        dst_port: u16,
    ) -> ReferenceVerdict {
        let src_ep = self.endpoint_at(src);
        let dst_ep = self.endpoint_at(dst);
        let flow = RefFlow {
            src,
            dst,
            proto,
            src_port,
            dst_port,
        };
        let run = |ep: Option<usize>, ingress: bool, pending: bool| {
            ep.map(|ep| self.direction(ep, ingress, pending, &flow))
        };
        let both = |e: &Option<ReferenceDirection>, i: &Option<ReferenceDirection>| {
            if e.as_ref().is_some_and(|d| d.action == Action::Deny)
                || i.as_ref().is_some_and(|d| d.action == Action::Deny)
            {
                Action::Deny
            } else {
                Action::Allow
            }
        };
        let egress = run(src_ep, false, false);
        let ingress = run(dst_ep, true, false);
        let pending_egress = run(src_ep, false, true);
        let pending_ingress = run(dst_ep, true, true);
        ReferenceVerdict {
            action: both(&egress, &ingress),
            pending_action: both(&pending_egress, &pending_ingress),
            egress,
            ingress,
            pending_egress,
            pending_ingress,
        }
    }

    fn in_view(&self, p: &Policy, pending: bool) -> bool {
        if !pending {
            return !p.kind.is_staged();
        }
        if p.kind.is_staged() {
            return p.staged_action == StagedAction::Set;
        }
        !self
            .inv
            .policies
            .iter()
            .any(|s| s.kind.is_staged() && s.enforced_identity() == p.enforced_identity())
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

    fn direction(
        &self,
        ep: usize,
        ingress: bool,
        pending: bool,
        flow: &RefFlow,
    ) -> ReferenceDirection {
        let e = &self.inv.endpoints[ep];
        let mut tier_names: Vec<&str> = self
            .inv
            .tiers_in_order()
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        for p in &self.inv.policies {
            if !tier_names.contains(&p.tier.as_str()) {
                tier_names.push(&p.tier);
            }
        }
        let mut hits: Vec<PolicyHit> = Vec::new();
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
            let outcome = self.tiers(&tier_names, ep, ingress, pending, flow, &mut hits, |p| {
                stage_of(p) == stage
            });
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
                    hits.push(PolicyHit::profile(hits.len() as u32, ns));
                    Action::Allow
                }
                _ if !e.profiles.is_empty() => {
                    let mut hit = PolicyHit::profile(hits.len() as u32, "x");
                    hit.name = e.profiles[0].clone();
                    hits.push(hit);
                    Action::Allow
                }
                _ => Action::Deny,
            },
        };
        ReferenceDirection {
            action,
            hits: hits.iter().map(|h| h.to_string()).collect(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn tiers(
        &self,
        tier_names: &[&str],
        ep: usize,
        ingress: bool,
        pending: bool,
        flow: &RefFlow,
        hits: &mut Vec<PolicyHit>,
        in_stage: impl Fn(&Policy) -> bool,
    ) -> Option<Action> {
        let hit = |p: &Policy, action, rule, index| PolicyHit {
            index,
            tier: p.tier.clone(),
            kind: Some(p.kind),
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            action,
            rule,
        };
        'tiers: for tier in tier_names {
            let mut policies: Vec<&Policy> = self
                .inv
                .policies
                .iter()
                .filter(|p| {
                    p.tier == *tier
                        && self.in_view(p, pending)
                        && in_stage(p)
                        && self.applies(p, ep, ingress)
                })
                .collect();
            if policies.is_empty() {
                continue;
            }
            sort_policies(&mut policies);
            for p in &policies {
                for (ri, rule) in p.rules(ingress).iter().enumerate() {
                    if !self.rule_matches(p, rule, flow) {
                        continue;
                    }
                    let idx = hits.len() as u32;
                    match rule.action {
                        RuleAction::Log => continue,
                        RuleAction::Allow => {
                            hits.push(hit(p, HitAction::Allow, ri as i32, idx));
                            return Some(Action::Allow);
                        }
                        RuleAction::Deny => {
                            hits.push(hit(p, HitAction::Deny, ri as i32, idx));
                            return Some(Action::Deny);
                        }
                        RuleAction::Pass => {
                            hits.push(hit(p, HitAction::Pass, ri as i32, idx));
                            continue 'tiers;
                        }
                    }
                }
            }
            let last = policies[policies.len() - 1];
            let default = self
                .inv
                .tier(tier)
                .map(|t| t.default_action)
                .unwrap_or(TierDefaultAction::Deny);
            let idx = hits.len() as u32;
            match default {
                TierDefaultAction::Deny => {
                    hits.push(hit(last, HitAction::Deny, -1, idx));
                    return Some(Action::Deny);
                }
                TierDefaultAction::Pass => hits.push(hit(last, HitAction::Pass, -1, idx)),
            }
        }
        None
    }

    fn rule_matches(&self, p: &Policy, rule: &Rule, flow: &RefFlow) -> bool {
        if let Some(proto) = rule.protocol
            && proto.number() != flow.proto.number()
        {
            return false;
        }
        if let Some(proto) = rule.not_protocol
            && proto.number() == flow.proto.number()
        {
            return false;
        }
        if let Some(v) = rule.ip_version
            && (v == 4) != flow.src.is_ipv4()
        {
            return false;
        }
        if rule.icmp.is_some() && !matches!(flow.proto, Protocol::Icmp | Protocol::IcmpV6) {
            return false;
        }
        self.entity_matches(p, &rule.source, flow.src, flow.src_port, flow.proto, false)
            && self.entity_matches(
                p,
                &rule.destination,
                flow.dst,
                flow.dst_port,
                flow.proto,
                true,
            )
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

struct RefFlow {
    src: IpAddr,
    dst: IpAddr,
    proto: Protocol,
    src_port: u16,
    dst_port: u16,
}
