//! Evaluating one tuple with one engine, and saying when the answer is uncertain: the flow
//! log no longer carries something a rule looks at (an address aggregated away, a port, HTTP
//! or ICMP details), or an aggregated end stands for endpoints that policy treats
//! differently.

use super::Compared;
use super::ends::{Side, end_label};
use crate::compiled::{CEntity, CRule};
use crate::engine::Engine;
use crate::eval::{self, FlowCtx, RuleOutcome, Tracer};
use crate::peer::FiveTuple;
use crate::verdict::{Action, FlowVerdict};
use flowlens_model::{FlowTuple, RuleAction};
use ipnet::IpNet;

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Whether "the address is in one of `nets`" has the same answer for every address of
/// `space`.
fn nets_constant(nets: &[IpNet], space: &[IpNet]) -> bool {
    let mut answer = None;
    for p in space {
        let this = if nets.iter().any(|n| n.contains(p)) {
            true
        } else if nets.iter().all(|n| !overlaps(n, p)) {
            false
        } else {
            return false;
        };
        if *answer.get_or_insert(this) != this {
            return false;
        }
    }
    true
}

fn mixed_families(space: &[IpNet]) -> bool {
    space.iter().any(|n| n.addr().is_ipv4()) && space.iter().any(|n| n.addr().is_ipv6())
}

fn ip_dependent(e: &CEntity, space: &[IpNet]) -> bool {
    (!e.nets.is_empty() && !nets_constant(&e.nets, space))
        || (!e.not_nets.is_empty() && !nets_constant(&e.not_nets, space))
}

/// What the flow log left unknown, for the tracer.
struct Unknowns<'a> {
    src_space: Option<&'a [IpNet]>,
    dst_space: Option<&'a [IpNet]>,
    src_port: bool,
    dst_port: bool,
}

/// Records the first examined rule whose outcome depends on something unknown.
struct Sensitivity<'a> {
    engine: &'a Engine,
    unknown: &'a Unknowns<'a>,
    pending: bool,
    enforced: Option<String>,
    pending_reason: Option<String>,
}

impl Sensitivity<'_> {
    fn check(&self, rule: &CRule, ctx: &FlowCtx<'_>, outcome: RuleOutcome) -> Option<String> {
        if rule.action == RuleAction::Log {
            return None;
        }
        if outcome == RuleOutcome::MatchUndecidable {
            return Some(if rule.http {
                "matches on HTTP, which flow logs do not carry".into()
            } else {
                "matches on the ICMP type or code, which the flow log lacks".into()
            });
        }
        let u = self.unknown;
        let ports_matter = ctx.flow.protocol.has_ports();
        let mut relaxed: Option<CRule> = None;
        let mut why = Vec::new();
        let mut relax = |f: &mut dyn FnMut(&mut CRule), text: &'static str| {
            f(relaxed.get_or_insert_with(|| rule.clone()));
            why.push(text);
        };
        if let Some(space) = u.src_space {
            if ip_dependent(&rule.src, space) {
                relax(
                    &mut |r| {
                        r.src.nets.clear();
                        r.src.not_nets.clear();
                    },
                    "source nets and the source IP was aggregated away",
                );
            }
            if rule.ip_version.is_some() && mixed_families(space) {
                relax(
                    &mut |r| r.ip_version = None,
                    "IP version and the source IP was aggregated away",
                );
            }
        }
        if let Some(space) = u.dst_space
            && ip_dependent(&rule.dst, space)
        {
            relax(
                &mut |r| {
                    r.dst.nets.clear();
                    r.dst.not_nets.clear();
                },
                "destination nets and the destination IP was aggregated away",
            );
        }
        if u.src_port
            && ports_matter
            && (!rule.src.ports.is_empty() || !rule.src.not_ports.is_empty())
        {
            relax(
                &mut |r| {
                    r.src.ports.clear();
                    r.src.not_ports.clear();
                },
                "source ports and the source port was aggregated away",
            );
        }
        if u.dst_port
            && ports_matter
            && (!rule.dst.ports.is_empty() || !rule.dst.not_ports.is_empty())
        {
            relax(
                &mut |r| {
                    r.dst.ports.clear();
                    r.dst.not_ports.clear();
                },
                "destination ports and the flow log has no destination port",
            );
        }
        let relaxed = relaxed?;
        // Only a rule that would match for some value of the unknowns makes a difference.
        (eval::rule_matches(&self.engine.compiled, &relaxed, ctx) != RuleOutcome::NoMatch)
            .then(|| why.join("; "))
    }
}

impl Tracer for Sensitivity<'_> {
    fn direction(&mut self, _ingress: bool, _endpoint: u32, pending: bool) {
        self.pending = pending;
    }

    fn rule(
        &mut self,
        policy: u32,
        ingress: bool,
        index: usize,
        outcome: RuleOutcome,
        ctx: &FlowCtx<'_>,
    ) {
        let slot = if self.pending {
            &self.pending_reason
        } else {
            &self.enforced
        };
        if slot.is_some() {
            return;
        }
        let cp = &self.engine.compiled.policies[policy as usize];
        let rules = if ingress { &cp.ingress } else { &cp.egress };
        let Some(rule) = rules.get(index) else { return };
        if let Some(why) = self.check(rule, ctx, outcome) {
            let p = &self.engine.inventory().policies[policy as usize];
            let text = format!(
                "{} rule {index} of {} matches on {why}",
                if ingress { "ingress" } else { "egress" },
                p.id()
            );
            if self.pending {
                self.pending_reason = Some(text);
            } else {
                self.enforced = Some(text);
            }
        }
    }
}

/// One engine's view of one tuple.
pub(super) struct Outcome {
    pub action: Option<Action>,
    pub verdict: Option<FlowVerdict>,
    pub reason: Option<String>,
}

pub(super) fn evaluate_side_pairs(
    engine: &Engine,
    src: &Side,
    dst: &Side,
    tuple: &FlowTuple,
    compared: Compared,
) -> Outcome {
    let unknown = Unknowns {
        src_space: src.space.as_deref(),
        dst_space: dst.space.as_deref(),
        src_port: tuple.source.port.is_none(),
        dst_port: tuple.dest.port.is_none(),
    };
    let mut first: Option<FlowVerdict> = None;
    let mut action = None;
    let mut reason = None;
    for s in &src.peers {
        for d in &dst.peers {
            let flow = FiveTuple {
                src: s.ip,
                dst: d.ip,
                protocol: tuple.proto,
                src_port: tuple.source.port.unwrap_or(0),
                dst_port: tuple.dest.port.unwrap_or(0),
                icmp: None,
            };
            let mut tracer = Sensitivity {
                engine,
                unknown: &unknown,
                pending: false,
                enforced: None,
                pending_reason: None,
            };
            let v = eval::evaluate(&engine.compiled, s, d, &flow, &mut tracer);
            let (a, why) = match compared {
                Compared::Enforced => (v.action, tracer.enforced),
                Compared::Pending if engine.compiled.has_staged => {
                    (v.pending.action, tracer.pending_reason)
                }
                Compared::Pending => (v.action, tracer.enforced),
            };
            if reason.is_none() {
                reason = why;
            }
            match action {
                None => action = Some(a),
                Some(prev) if prev != a && reason.is_none() => {
                    let which = if src.peers.len() > 1 {
                        end_label(&tuple.source)
                    } else {
                        end_label(&tuple.dest)
                    };
                    reason = Some(format!(
                        "{which} stands for endpoints that policy treats differently"
                    ));
                }
                _ => {}
            }
            first.get_or_insert(v);
        }
    }
    Outcome {
        action,
        verdict: first,
        reason,
    }
}
