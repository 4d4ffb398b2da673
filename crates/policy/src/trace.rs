//! `explain`: the evaluator's walk, recorded step by step with the reason for every rule.

use crate::compiled::{CEntity, Stage, TierPlan};
use crate::engine::Engine;
use crate::eval::{self, FlowCtx, RuleOutcome, Tracer};
use crate::peer::Peer;
use crate::verdict::{Action, DirectionVerdict, Hit};
use crate::{FiveTuple, describe_rule, format_labels};
use flowlens_model::{EntityRule, HitAction, Labels, PolicyHitFormat, Protocol, Rule};
use serde::Serialize;

/// One end of the flow as the explanation shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PeerView {
    pub ip: std::net::IpAddr,
    pub endpoint_type: String,
    pub namespace: Option<String>,
    pub name: String,
    pub name_aggr: String,
    pub labels: Labels,
}

/// A clause of a rule and whether it held.
#[derive(Clone, Debug, Serialize)]
pub struct Clause {
    pub text: String,
    pub matched: bool,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum TraceStep {
    /// Host endpoints only: untracked, pre-DNAT or normal policy.
    Stage { stage: String },
    /// A tier took part, with the policies in it that apply to the endpoint, in order.
    Tier { tier: String, policies: Vec<String> },
    Rule {
        policy: String,
        index: usize,
        rule: String,
        matched: bool,
        undecidable: bool,
        clauses: Vec<Clause>,
    },
    EndOfTier {
        tier: String,
        policy: String,
        action: String,
    },
    Profile {
        profile: Option<String>,
        action: Action,
    },
}

/// The walk for one direction.
#[derive(Clone, Debug, Serialize)]
pub struct DirectionTrace {
    pub direction: String,
    /// Where it is evaluated: the source endpoint for egress, the destination for ingress.
    pub endpoint: String,
    /// Tiers with no policy applying to this endpoint in this direction, which take no part.
    pub tiers_not_applicable: Vec<String>,
    pub steps: Vec<TraceStep>,
    pub action: Action,
    /// The trace as Calico policy-hit strings.
    pub policies: Vec<String>,
    /// False for ingress when egress at the source denied the flow: the packet never
    /// arrives, so Calico logs no destination record. The walk still answers "would the
    /// destination accept it?", but it is not what happened.
    pub reached: bool,
}

/// The trace as it would be with staged policies enforced.
#[derive(Clone, Debug, Serialize)]
pub struct PendingTrace {
    pub action: Action,
    pub egress: Option<DirectionTrace>,
    pub ingress: Option<DirectionTrace>,
}

/// Everything `flowlens explain` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub source: PeerView,
    pub destination: PeerView,
    pub protocol: String,
    pub src_port: u16,
    pub dst_port: u16,
    pub action: Action,
    pub egress: Option<DirectionTrace>,
    pub ingress: Option<DirectionTrace>,
    /// Present when the inventory holds staged policies.
    pub pending: Option<PendingTrace>,
    pub undecidable: bool,
    /// How the ends were resolved, when it needs saying (from
    /// [`crate::ResolvedFlow::notes`]; the caller adds them).
    pub notes: Vec<String>,
}

struct Recorder<'e> {
    engine: &'e Engine,
    format: PolicyHitFormat,
    current: Option<(bool, DirectionTrace)>,
    done: Vec<(bool, bool, DirectionTrace)>,
    pending: bool,
}

impl Recorder<'_> {
    fn push(&mut self, step: TraceStep) {
        if let Some((_, t)) = &mut self.current {
            t.steps.push(step);
        }
    }
}

impl Tracer for Recorder<'_> {
    fn direction(&mut self, ingress: bool, endpoint: u32, pending: bool) {
        let e = self.engine;
        let ep = &e.compiled.inventory.endpoints[endpoint as usize];
        let slot = usize::from(pending) * 2 + usize::from(ingress);
        let plan = e
            .compiled
            .plans
            .get(e.compiled.endpoint_plans[endpoint as usize][slot]);
        let used: Vec<u32> = plan
            .untracked
            .iter()
            .chain(&plan.pre_dnat)
            .chain(&plan.normal)
            .map(|t| t.tier)
            .collect();
        let tiers_not_applicable = (0..e.compiled.tiers.len() as u32)
            .filter(|t| !used.contains(t))
            .map(|t| e.compiled.tiers[t as usize].name.clone())
            .collect();
        self.pending = pending;
        self.current = Some((
            ingress,
            DirectionTrace {
                direction: if ingress { "ingress" } else { "egress" }.into(),
                endpoint: format!("{} {}", ep.endpoint_type, ep.qualified_name()),
                tiers_not_applicable,
                steps: Vec::new(),
                action: Action::Allow,
                policies: Vec::new(),
                reached: true,
            },
        ));
    }

    fn stage(&mut self, stage: Stage) {
        let name = match stage {
            Stage::Untracked => "untracked (doNotTrack)",
            Stage::PreDnat => "pre-DNAT",
            Stage::Normal => "normal",
        };
        self.push(TraceStep::Stage { stage: name.into() });
    }

    fn tier(&mut self, tier: &TierPlan) {
        let e = self.engine;
        let policies = tier.policies.iter().map(|&p| policy_label(e, p)).collect();
        self.push(TraceStep::Tier {
            tier: e.compiled.tiers[tier.tier as usize].name.clone(),
            policies,
        });
    }

    fn rule(
        &mut self,
        policy: u32,
        ingress: bool,
        index: usize,
        outcome: RuleOutcome,
        ctx: &FlowCtx<'_>,
    ) {
        let e = self.engine;
        let p = &e.compiled.inventory.policies[policy as usize];
        let rule = &p.rules(ingress)[index];
        let compiled = &e.compiled.policies[policy as usize];
        let crule = &if ingress {
            &compiled.ingress
        } else {
            &compiled.egress
        }[index];
        let clauses = rule_clauses(e, rule, crule, ctx);
        self.push(TraceStep::Rule {
            policy: policy_label(e, policy),
            index,
            rule: describe_rule(rule),
            matched: outcome != RuleOutcome::NoMatch,
            undecidable: outcome == RuleOutcome::MatchUndecidable,
            clauses,
        });
    }

    fn end_of_tier(&mut self, tier: u32, policy: u32, action: HitAction) {
        let e = self.engine;
        self.push(TraceStep::EndOfTier {
            tier: e.compiled.tiers[tier as usize].name.clone(),
            policy: policy_label(e, policy),
            action: action.as_str().into(),
        });
    }

    fn profile(&mut self, hit: Option<Hit>, action: Action) {
        let profile = hit.map(|h| self.engine.policy_hit(&h, 0).name);
        self.push(TraceStep::Profile { profile, action });
    }

    fn direction_done(&mut self, verdict: &DirectionVerdict) {
        if let Some((ingress, mut t)) = self.current.take() {
            t.action = verdict.action;
            t.policies = self.engine.hit_strings(&verdict.hits, self.format);
            self.done.push((self.pending, ingress, t));
        }
    }
}

fn policy_label(e: &Engine, policy: u32) -> String {
    let p = &e.compiled.inventory.policies[policy as usize];
    format!("{}:{}", p.kind.hit_tag(), p.qualified_name())
}

fn peer_view(e: &Engine, peer: &Peer) -> PeerView {
    let a = e.attribute(peer);
    let labels = match (peer.endpoint, peer.network_set) {
        (Some(ep), _) => e.compiled.inventory.endpoints[ep as usize].labels.clone(),
        (None, Some(h)) => (*e.compiled.holders.labels[h as usize]).clone(),
        _ => Labels::new(),
    };
    PeerView {
        ip: peer.ip,
        endpoint_type: a.endpoint_type.to_string(),
        namespace: a.namespace,
        name: a.name,
        name_aggr: a.name_aggr,
        labels,
    }
}

/// How a peer reads in a clause: `storefront/rogue-6d8f… {app=rogue}`.
fn peer_phrase(e: &Engine, peer: &Peer) -> String {
    let v = peer_view(e, peer);
    let who = match (v.endpoint_type.as_str(), &v.namespace) {
        ("net", _) => format!("{} ({})", peer.ip, v.name_aggr),
        (_, Some(ns)) => format!("{ns}/{}", v.name),
        (_, None) => v.name.clone(),
    };
    // Network sets that contain the address count too (Calico's IP sets hold them).
    let extra: Vec<String> = peer
        .holders
        .iter()
        .filter(|&&h| h >= e.compiled.holders.n_endpoints && Some(h) != peer.network_set)
        .map(|&h| {
            format!(
                "network set {}",
                format_labels(&e.compiled.holders.labels[h as usize])
            )
        })
        .collect();
    let mut s = format!("{who} {}", format_labels(&v.labels));
    if !extra.is_empty() {
        s.push_str(&format!(" (also in {})", extra.join(", ")));
    }
    s
}

fn rule_clauses(
    e: &Engine,
    rule: &Rule,
    crule: &crate::compiled::CRule,
    ctx: &FlowCtx<'_>,
) -> Vec<Clause> {
    let mut out = Vec::new();
    let proto = ctx.flow.protocol;
    let mut clause = |text: String, matched: bool| out.push(Clause { text, matched });
    let flow_proto = proto.to_string();
    if let Some(p) = rule.protocol {
        let ok = p.number() == proto.number();
        clause(
            format!(
                "protocol {p} {} {flow_proto}",
                if ok { "matches" } else { "does not match" }
            ),
            ok,
        );
    }
    if let Some(p) = rule.not_protocol {
        let ok = p.number() != proto.number();
        clause(
            format!(
                "notProtocol {p} {} {flow_proto}",
                if ok { "holds for" } else { "excludes" }
            ),
            ok,
        );
    }
    if let Some(v) = rule.ip_version {
        let ok = (v == 4) == ctx.src.ip.is_ipv4();
        clause(
            format!(
                "ipVersion {v} {}",
                if ok { "matches" } else { "does not match" }
            ),
            ok,
        );
    }
    if rule.icmp.is_some() || rule.not_icmp.is_some() {
        match (
            eval::icmp_clause(rule.icmp, proto, ctx.flow.icmp),
            eval::icmp_clause(rule.not_icmp, proto, ctx.flow.icmp),
        ) {
            (Some(a), Some(b)) => {
                let ok = a && !(rule.not_icmp.is_some() && b);
                clause(
                    format!(
                        "ICMP type/code {}",
                        if ok { "matches" } else { "does not match" }
                    ),
                    ok,
                );
            }
            _ => clause(
                "ICMP type/code: not in the flow record, cannot be decided".into(),
                true,
            ),
        }
    }
    entity_clauses(
        e,
        "source",
        &rule.source,
        &crule.src,
        ctx.src,
        ctx.flow.src_port,
        proto,
        false,
        &mut clause,
    );
    entity_clauses(
        e,
        "destination",
        &rule.destination,
        &crule.dst,
        ctx.dst,
        ctx.flow.dst_port,
        proto,
        true,
        &mut clause,
    );
    if let Some(http) = &rule.http {
        clause(
            format!(
                "HTTP match {http:?} cannot be decided from L3/L4 flow data (applied as matching, as the dataplane does)"
            ),
            true,
        );
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn entity_clauses(
    e: &Engine,
    side: &str,
    model: &EntityRule,
    c: &CEntity,
    peer: &Peer,
    port: u16,
    proto: Protocol,
    is_dst: bool,
    clause: &mut impl FnMut(String, bool),
) {
    let yes_no = |ok: bool| if ok { "matches" } else { "does not match" };
    if !model.nets.is_empty() {
        let ok = eval::nets_match(&c.nets, peer);
        clause(
            format!(
                "{side} {} {} nets {:?}",
                peer.ip,
                if ok { "is in" } else { "is not in" },
                model.nets
            ),
            ok,
        );
    }
    if !model.not_nets.is_empty() {
        let ok = !c.not_nets.iter().any(|n| n.contains(&peer.ip));
        clause(
            format!(
                "{side} {} {} notNets {:?}",
                peer.ip,
                if ok { "is outside" } else { "is in" },
                model.not_nets
            ),
            ok,
        );
    }
    if let Some(set) = c.set {
        let ok = eval::in_set(&e.compiled, set, peer);
        let mut what = Vec::new();
        if let Some(ns) = &model.namespace_selector {
            what.push(format!("namespaceSelector {ns}"));
        }
        if let Some(s) = &model.selector {
            what.push(format!("selector {s}"));
        }
        if let Some(sa) = &model.service_accounts {
            what.push(format!("serviceAccounts {:?}", sa.names));
        }
        clause(
            format!(
                "{side} {} {} {}",
                what.join(" "),
                yes_no(ok),
                peer_phrase(e, peer)
            ),
            ok,
        );
    }
    if let (Some(set), Some(sel)) = (c.not_set, &model.not_selector) {
        let ok = !eval::in_set(&e.compiled, set, peer);
        clause(
            format!(
                "{side} notSelector {sel} {} {}",
                if ok {
                    "excludes nothing of"
                } else {
                    "excludes"
                },
                peer_phrase(e, peer)
            ),
            ok,
        );
    }
    if !c.ports.is_empty() {
        let ok = eval::ports_match(&e.compiled, &c.ports, c.named_port_scope, peer, port, proto);
        let names: Vec<String> = model.ports.iter().map(|p| p.to_string()).collect();
        clause(
            format!(
                "{side} port {port} {} ports [{}]",
                if ok { "is in" } else { "is not in" },
                names.join(", ")
            ),
            ok,
        );
    }
    if !c.not_ports.is_empty() {
        let ok = !eval::ports_match(
            &e.compiled,
            &c.not_ports,
            c.named_port_scope,
            peer,
            port,
            proto,
        );
        let names: Vec<String> = model.not_ports.iter().map(|p| p.to_string()).collect();
        clause(
            format!(
                "{side} port {port} {} notPorts [{}]",
                if ok { "is outside" } else { "is in" },
                names.join(", ")
            ),
            ok,
        );
    }
    if let (Some(svc), Some(m)) = (c.service, &model.services) {
        let ok = eval::service_matches(&e.compiled, svc, peer, port, proto, is_dst);
        let exists = if svc.is_none() {
            " (no such service)"
        } else {
            ""
        };
        clause(
            format!(
                "{side} service {}{exists} {} {}",
                m.name,
                yes_no(ok),
                peer_phrase(e, peer)
            ),
            ok,
        );
    }
}

/// Ingress after an egress deny is kept (it answers "would the destination accept it?") but
/// marked as never reached.
fn mark_reached(
    egress: &Option<DirectionTrace>,
    ingress: Option<DirectionTrace>,
) -> Option<DirectionTrace> {
    let denied = egress.as_ref().is_some_and(|e| e.action == Action::Deny);
    ingress.map(|mut i| {
        i.reached = !denied;
        i
    })
}

impl Engine {
    /// Evaluates a flow and records every step: tiers, policies, each rule with the reason it
    /// matched or not, end-of-tier actions and profiles, for both directions (and the pending
    /// view when staged policies exist). Hit strings are printed in `format`.
    pub fn explain(
        &self,
        src: &Peer,
        dst: &Peer,
        flow: &FiveTuple,
        format: PolicyHitFormat,
    ) -> Explanation {
        let mut rec = Recorder {
            engine: self,
            format,
            current: None,
            done: Vec::new(),
            pending: false,
        };
        let verdict = eval::evaluate(&self.compiled, src, dst, flow, &mut rec);
        let mut take = |pending: bool, ingress: bool| {
            rec.done
                .iter()
                .position(|(p, i, _)| *p == pending && *i == ingress)
                .map(|i| rec.done.remove(i).2)
        };
        let egress = take(false, false);
        let ingress = mark_reached(&egress, take(false, true));
        let pending = self.compiled.has_staged.then(|| {
            let egress = take(true, false);
            PendingTrace {
                action: verdict.pending.action,
                ingress: mark_reached(&egress, take(true, true)),
                egress,
            }
        });
        Explanation {
            source: peer_view(self, src),
            destination: peer_view(self, dst),
            protocol: flow.protocol.to_string(),
            src_port: flow.src_port,
            dst_port: flow.dst_port,
            action: verdict.action,
            egress,
            ingress,
            pending,
            undecidable: verdict.undecidable,
            notes: Vec::new(),
        }
    }
}
