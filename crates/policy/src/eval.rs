//! The evaluator: one walk over an endpoint's plan per direction. Used with [`NoTrace`] for
//! verdicts and with a recorder for `explain`, so both always agree.

use crate::FiveTuple;
use crate::compiled::{CEntity, CPort, CRule, Compiled, Stage, TierPlan};
use crate::peer::Peer;
use crate::sets::SetId;
use crate::verdict::{
    Action, DirectionVerdict, FlowVerdict, Hit, HitSubject, Hits, PendingVerdict, combine,
};
use flowlens_model::{
    EndpointType, HitAction, IcmpMatch, Protocol, RuleAction, TargetPort, TierDefaultAction,
};

/// The flow being evaluated, with both ends resolved.
pub(crate) struct FlowCtx<'a> {
    pub src: &'a Peer,
    pub dst: &'a Peer,
    pub flow: &'a FiveTuple,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RuleOutcome {
    NoMatch,
    Match,
    /// Matched on everything flow data can show; a clause it cannot show (HTTP, a missing
    /// ICMP type) is assumed to hold, as the L3/L4 dataplane does.
    MatchUndecidable,
}

/// Observes an evaluation. Every method defaults to nothing, so the plain evaluation
/// compiles to the bare walk.
pub(crate) trait Tracer {
    fn direction(&mut self, _ingress: bool, _endpoint: u32, _pending: bool) {}
    fn stage(&mut self, _stage: Stage) {}
    fn tier(&mut self, _tier: &TierPlan) {}
    fn rule(
        &mut self,
        _policy: u32,
        _ingress: bool,
        _index: usize,
        _outcome: RuleOutcome,
        _ctx: &FlowCtx<'_>,
    ) {
    }
    fn end_of_tier(&mut self, _tier: u32, _policy: u32, _action: HitAction) {}
    fn profile(&mut self, _hit: Option<Hit>, _action: Action) {}
    fn direction_done(&mut self, _verdict: &DirectionVerdict) {}
}

pub(crate) struct NoTrace;
impl Tracer for NoTrace {}

pub(crate) fn evaluate<T: Tracer>(
    compiled: &Compiled,
    src: &Peer,
    dst: &Peer,
    flow: &FiveTuple,
    tracer: &mut T,
) -> FlowVerdict {
    let ctx = FlowCtx { src, dst, flow };
    let mut undecidable = false;
    let mut run = |ep: Option<u32>, ingress: bool, pending: bool, tracer: &mut T| {
        ep.map(|ep| {
            direction(
                compiled,
                ep,
                ingress,
                pending,
                &ctx,
                tracer,
                &mut undecidable,
            )
        })
    };
    let egress = run(src.endpoint, false, false, tracer);
    let ingress = run(dst.endpoint, true, false, tracer);
    let action = combine(egress.as_ref(), ingress.as_ref());
    let pending = if compiled.has_staged {
        let egress = run(src.endpoint, false, true, tracer);
        let ingress = run(dst.endpoint, true, true, tracer);
        PendingVerdict {
            action: combine(egress.as_ref(), ingress.as_ref()),
            egress,
            ingress,
        }
    } else {
        PendingVerdict {
            action,
            egress: egress.clone(),
            ingress: ingress.clone(),
        }
    };
    FlowVerdict {
        action,
        egress,
        ingress,
        pending,
        undecidable,
    }
}

fn direction<T: Tracer>(
    compiled: &Compiled,
    endpoint: u32,
    ingress: bool,
    pending: bool,
    ctx: &FlowCtx<'_>,
    tracer: &mut T,
    undecidable: &mut bool,
) -> DirectionVerdict {
    tracer.direction(ingress, endpoint, pending);
    let slot = usize::from(pending) * 2 + usize::from(ingress);
    let plan = compiled
        .plans
        .get(compiled.endpoint_plans[endpoint as usize][slot]);
    let mut hits = Hits::new();
    let mut walk = |tiers: &[TierPlan], hits: &mut Hits, tracer: &mut T| {
        evaluate_tiers(compiled, tiers, ingress, ctx, hits, tracer, undecidable)
    };
    let host_stages = !plan.untracked.is_empty() || !plan.pre_dnat.is_empty();
    let mut decided = None;
    if !plan.untracked.is_empty() {
        tracer.stage(Stage::Untracked);
        // Untracked policy is final either way: allowed packets skip the rest of policy.
        decided = walk(&plan.untracked, &mut hits, tracer);
    }
    if decided.is_none() && !plan.pre_dnat.is_empty() {
        tracer.stage(Stage::PreDnat);
        // Pre-DNAT policy can only stop a packet early; allowed packets meet normal policy.
        if let Some(Action::Deny) = walk(&plan.pre_dnat, &mut hits, tracer) {
            decided = Some(Action::Deny);
        }
    }
    if decided.is_none() {
        if host_stages {
            tracer.stage(Stage::Normal);
        }
        decided = walk(&plan.normal, &mut hits, tracer);
    }
    let action = match decided {
        Some(action) => action,
        None => profile(compiled, endpoint, &mut hits, tracer),
    };
    let verdict = DirectionVerdict { action, hits };
    tracer.direction_done(&verdict);
    verdict
}

/// No tier decided: pods fall back to their namespace profile, which allows; host endpoints
/// to their profiles, and are denied when they have none.
fn profile<T: Tracer>(
    compiled: &Compiled,
    endpoint: u32,
    hits: &mut Hits,
    tracer: &mut T,
) -> Action {
    let ep = &compiled.inventory.endpoints[endpoint as usize];
    let subject = match (
        ep.endpoint_type,
        compiled.holders.namespace[endpoint as usize],
    ) {
        (EndpointType::Wep, Some(ns)) => Some(HitSubject::NamespaceProfile(ns)),
        _ if !ep.profiles.is_empty() => Some(HitSubject::HostProfile(endpoint)),
        _ => None,
    };
    match subject {
        Some(subject) => {
            let hit = Hit {
                subject,
                action: HitAction::Allow,
                rule: 0,
            };
            hits.push(hit);
            tracer.profile(Some(hit), Action::Allow);
            Action::Allow
        }
        None => {
            tracer.profile(None, Action::Deny);
            Action::Deny
        }
    }
}

fn evaluate_tiers<T: Tracer>(
    compiled: &Compiled,
    tiers: &[TierPlan],
    ingress: bool,
    ctx: &FlowCtx<'_>,
    hits: &mut Hits,
    tracer: &mut T,
    undecidable: &mut bool,
) -> Option<Action> {
    'tiers: for tier in tiers {
        tracer.tier(tier);
        for &pi in tier.policies.iter() {
            let policy = &compiled.policies[pi as usize];
            let rules = if ingress {
                &policy.ingress
            } else {
                &policy.egress
            };
            for (ri, rule) in rules.iter().enumerate() {
                let outcome = rule_matches(compiled, rule, ctx);
                tracer.rule(pi, ingress, ri, outcome, ctx);
                if outcome == RuleOutcome::NoMatch {
                    continue;
                }
                let hit = |action| Hit {
                    subject: HitSubject::Policy(pi),
                    action,
                    rule: ri as i32,
                };
                match rule.action {
                    RuleAction::Log => continue,
                    RuleAction::Allow => {
                        *undecidable |= outcome == RuleOutcome::MatchUndecidable;
                        hits.push(hit(HitAction::Allow));
                        return Some(Action::Allow);
                    }
                    RuleAction::Deny => {
                        *undecidable |= outcome == RuleOutcome::MatchUndecidable;
                        hits.push(hit(HitAction::Deny));
                        return Some(Action::Deny);
                    }
                    RuleAction::Pass => {
                        *undecidable |= outcome == RuleOutcome::MatchUndecidable;
                        hits.push(hit(HitAction::Pass));
                        continue 'tiers;
                    }
                }
            }
        }
        // End of tier: attributed to the last policy of the tier that applied.
        let Some(&last) = tier.policies.last() else {
            continue;
        };
        let action = match compiled.tiers[tier.tier as usize].default_action {
            TierDefaultAction::Deny => HitAction::Deny,
            TierDefaultAction::Pass => HitAction::Pass,
        };
        hits.push(Hit {
            subject: HitSubject::Policy(last),
            action,
            rule: -1,
        });
        tracer.end_of_tier(tier.tier, last, action);
        if action == HitAction::Deny {
            return Some(Action::Deny);
        }
    }
    None
}

pub(crate) fn rule_matches(compiled: &Compiled, rule: &CRule, ctx: &FlowCtx<'_>) -> RuleOutcome {
    let proto = ctx.flow.protocol;
    if rule.protocol.is_some_and(|p| p.number() != proto.number())
        || rule
            .not_protocol
            .is_some_and(|p| p.number() == proto.number())
        || rule
            .ip_version
            .is_some_and(|v| (v == 4) != ctx.src.ip.is_ipv4())
    {
        return RuleOutcome::NoMatch;
    }
    let mut undecidable = rule.http;
    match icmp_clause(rule.icmp, proto, ctx.flow.icmp) {
        Some(false) => return RuleOutcome::NoMatch,
        None => undecidable = true,
        Some(true) => {}
    }
    match icmp_clause(rule.not_icmp, proto, ctx.flow.icmp) {
        Some(true) if rule.not_icmp.is_some() => return RuleOutcome::NoMatch,
        None => undecidable = true,
        _ => {}
    }
    // Cheap checks on both ends first: they reject most rules without touching the
    // selector sets, which are the cache misses of an evaluation.
    if !entity_cheap(&rule.src, ctx.src, ctx.flow.src_port)
        || !entity_cheap(&rule.dst, ctx.dst, ctx.flow.dst_port)
        || !entity_matches(
            compiled,
            &rule.src,
            ctx.src,
            ctx.flow.src_port,
            proto,
            false,
        )
        || !entity_matches(compiled, &rule.dst, ctx.dst, ctx.flow.dst_port, proto, true)
    {
        return RuleOutcome::NoMatch;
    }
    if undecidable {
        RuleOutcome::MatchUndecidable
    } else {
        RuleOutcome::Match
    }
}

/// Whether an ICMP type/code match holds: `None` when the flow is ICMP but does not say its
/// type. An absent match holds.
pub(crate) fn icmp_clause(
    m: Option<IcmpMatch>,
    proto: Protocol,
    icmp: Option<(u8, u8)>,
) -> Option<bool> {
    let Some(m) = m else { return Some(true) };
    if !matches!(proto, Protocol::Icmp | Protocol::IcmpV6) {
        return Some(false);
    }
    let (t, c) = icmp?;
    Some(m.icmp_type.is_none_or(|mt| mt == t) && m.code.is_none_or(|mc| mc == c))
}

/// The checks that need no set lookups: nets, and ports when they are all numeric.
#[inline]
fn entity_cheap(e: &CEntity, peer: &Peer, port: u16) -> bool {
    let numeric_miss = |ports: &[CPort]| {
        !ports.is_empty()
            && ports.iter().all(
                |p| matches!(p, CPort::Range(first, last) if !(*first..=*last).contains(&port)),
            )
    };
    nets_match(&e.nets, peer)
        && !e.not_nets.iter().any(|n| n.contains(&peer.ip))
        && !numeric_miss(&e.ports)
}

pub(crate) fn entity_matches(
    compiled: &Compiled,
    e: &CEntity,
    peer: &Peer,
    port: u16,
    proto: Protocol,
    is_dst: bool,
) -> bool {
    nets_match(&e.nets, peer)
        && !e.not_nets.iter().any(|n| n.contains(&peer.ip))
        && e.set.is_none_or(|s| in_set(compiled, s, peer))
        && !e.not_set.is_some_and(|s| in_set(compiled, s, peer))
        && (e.ports.is_empty()
            || ports_match(compiled, &e.ports, e.named_port_scope, peer, port, proto))
        && !ports_match(
            compiled,
            &e.not_ports,
            e.named_port_scope,
            peer,
            port,
            proto,
        )
        && e.service
            .is_none_or(|svc| service_matches(compiled, svc, peer, port, proto, is_dst))
}

pub(crate) fn nets_match(nets: &[ipnet::IpNet], peer: &Peer) -> bool {
    nets.is_empty() || nets.iter().any(|n| n.contains(&peer.ip))
}

/// Calico's IP-set semantics: the address matches if anything at it does.
#[inline]
pub(crate) fn in_set(compiled: &Compiled, set: SetId, peer: &Peer) -> bool {
    peer.holders.iter().any(|&h| compiled.sets.contains(set, h))
}

pub(crate) fn ports_match(
    compiled: &Compiled,
    ports: &[CPort],
    named_scope: Option<SetId>,
    peer: &Peer,
    port: u16,
    proto: Protocol,
) -> bool {
    ports.iter().any(|p| match p {
        CPort::Range(first, last) => (*first..=*last).contains(&port),
        // Named ports resolve per endpoint: only endpoints the rule selects, and only their
        // own container ports for this protocol.
        CPort::Named(name) => peer.endpoint.is_some_and(|ep| {
            named_scope.is_none_or(|s| compiled.sets.contains(s, ep))
                && compiled.inventory.endpoints[ep as usize].named_port(name, proto) == Some(port)
        }),
    })
}

pub(crate) fn service_matches(
    compiled: &Compiled,
    service: Option<u32>,
    peer: &Peer,
    port: u16,
    proto: Protocol,
    is_dst: bool,
) -> bool {
    let Some(si) = service else { return false };
    let svc = &compiled.inventory.services[si as usize];
    let is_backend = |ep: u32| {
        compiled.services[si as usize]
            .backends
            .binary_search(&ep)
            .is_ok()
    };
    if !is_dst {
        return peer.endpoint.is_some_and(is_backend);
    }
    if svc.cluster_ips.contains(&peer.ip) {
        return svc
            .ports
            .iter()
            .any(|p| p.protocol == proto && p.port == port);
    }
    peer.endpoint.is_some_and(|ep| {
        is_backend(ep)
            && svc.ports.iter().any(|p| {
                p.protocol == proto
                    && match &p.target_port {
                        TargetPort::Number(n) => *n == port,
                        TargetPort::Name(name) => {
                            compiled.inventory.endpoints[ep as usize].named_port(name, proto)
                                == Some(port)
                        }
                    }
            })
    })
}
