//! Policy held against traffic: the static reachability of the workloads (what today's
//! policies allow, exact per port interval, [`flowlens_policy::reachability`]) beside what
//! was observed over a window.
//!
//! - **Allowed, never used**: ports policy lets one workload reach on another that no
//!   observed flow used — over-permissive rules, with the rules that allow them.
//! - **Denied and attempted**: observed denied flows, grouped by ends, protocol and the rule
//!   that denies them today, with their connections — broken applications or attacks.
//! - **Rules never hit**: for each rule in a trace between workloads, the pairs it decides
//!   (or passes on) whose traffic never reached it.
//! - **The matrix**: per (source, destination) workload pair one cell, coloured by
//!   [`CellStatus`], with its segments (ports, verdict, deciding rules, connections seen).
//!
//! Connections are counted once each: a denied connection has one denied flow log (at the
//! end that denied it); an allowed one is counted from the destination's records, or the
//! source's when the destination logged none.

use crate::observed::{ObservedEnd, ObservedFlow};
use flowlens_model::{
    Action, EndpointType, HitAction, Inventory, PolicyHit, Protocol, Reporter, RuleDirection,
};
use flowlens_policy::reachability::{PortRange, Reachability, Segment, merge_ranges};
use flowlens_policy::{Engine, FiveTuple};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// Which pairs and flows to audit.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AuditOptions {
    /// Only pairs and flows with at least one end in these namespaces; empty: all.
    pub namespaces: Vec<String>,
}

/// A rule as traces name it, without the trace position.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RuleRef {
    pub direction: RuleDirection,
    pub tier: String,
    /// `np:storefront/trusted`, `gnp:security.block-threatfeed`, `pro:kns.storefront`: the
    /// policy field of Calico's hit strings.
    pub policy: String,
    /// Index of the rule; -1 for the end of the tier (its default action).
    pub rule: i32,
    pub action: HitAction,
}

impl RuleRef {
    pub fn from_hit(direction: RuleDirection, hit: &PolicyHit) -> RuleRef {
        let policy = match hit.kind {
            None => format!("pro:{}", hit.name),
            Some(kind) => format!("{}:{}", kind.hit_tag(), hit.qualified_name()),
        };
        RuleRef {
            direction,
            tier: hit.tier.clone(),
            policy,
            rule: hit.rule,
            action: hit.action,
        }
    }

    /// `ingress default np:storefront/trusted rule 0 allow`, `… end of tier deny`.
    pub fn text(&self) -> String {
        let rule = if self.rule < 0 {
            "end of tier".to_string()
        } else {
            format!("rule {}", self.rule)
        };
        let direction = match self.direction {
            RuleDirection::Ingress => "ingress",
            RuleDirection::Egress => "egress",
        };
        format!(
            "{direction} {}|{}|{rule}|{}",
            self.tier, self.policy, self.action
        )
    }
}

/// How a cell of the matrix reads, most urgent first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// Observed connections were denied.
    DeniedAttempted,
    /// Something allowed was used.
    AllowedUsed,
    /// Policy allows something; nothing was observed.
    AllowedUnused,
    /// Policy allows nothing and nothing was attempted.
    Denied,
}

/// What was seen on one segment of a pair.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Seen {
    pub allowed_connections: u64,
    pub denied_connections: u64,
    /// Destination ports observed (ports-bearing protocols).
    pub ports: Vec<u16>,
}

impl Seen {
    pub fn connections(&self) -> u64 {
        self.allowed_connections + self.denied_connections
    }
}

/// One segment of a cell: policy's verdict with its deciding rules, and what was seen.
#[derive(Clone, Debug, Serialize)]
pub struct CellSegment {
    pub protocol: Protocol,
    pub ports: Option<PortRange>,
    pub action: Action,
    /// The rule that decided egress at the source and ingress at the destination.
    pub egress_rule: Option<RuleRef>,
    pub ingress_rule: Option<RuleRef>,
    pub undecidable: bool,
    pub seen: Seen,
}

/// One cell of the matrix.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// Indices into [`Audit::workloads`].
    pub source: usize,
    pub dest: usize,
    pub status: CellStatus,
    /// What policy allows, in np-guard's words (`TCP 80,443; UDP 53`).
    pub allowed: String,
    pub allowed_connections: u64,
    pub denied_connections: u64,
    pub segments: Vec<CellSegment>,
}

/// A workload as the audit lists it.
#[derive(Clone, Debug, Serialize)]
pub struct AuditWorkload {
    pub namespace: String,
    pub name: String,
    pub name_aggr: String,
    pub kind: Option<String>,
    pub pods: usize,
}

/// Ports policy allows between two workloads that no observed flow used.
#[derive(Clone, Debug, Serialize)]
pub struct Unused {
    pub source: String,
    pub dest: String,
    pub protocol: Protocol,
    /// The unused ports (`None`: a protocol without ports).
    pub ports: Option<Vec<PortRange>>,
    /// Part of the segment was used.
    pub partly_used: bool,
    pub egress_rule: Option<RuleRef>,
    pub ingress_rule: Option<RuleRef>,
}

/// Observed denied flows with the same ends, protocol and denying rule.
#[derive(Clone, Debug, Serialize)]
pub struct DeniedAttempt {
    pub source: String,
    pub dest: String,
    pub protocol: Protocol,
    pub ports: Vec<PortRange>,
    /// Distinct destination ports.
    pub distinct_ports: usize,
    pub connections: u64,
    /// The rule that denies it today; `None` when today's policy would allow it (it changed
    /// since) or an end is too aggregated to evaluate.
    pub rule: Option<RuleRef>,
    /// Today's policy allows it.
    pub allowed_today: bool,
}

/// A pair a rule decides (or passes on) for which no traffic reached it.
#[derive(Clone, Debug, Serialize)]
pub struct IdlePair {
    pub source: String,
    pub dest: String,
    /// The connections the rule decides for the pair, np-guard style.
    pub connections: String,
}

/// How a rule in the workloads' traces was used.
#[derive(Clone, Debug, Serialize)]
pub struct RuleUse {
    pub rule: RuleRef,
    /// Pairs whose traces hold the rule.
    pub pairs: usize,
    /// Of those, pairs with observed connections through it.
    pub pairs_hit: usize,
    pub connections: u64,
    pub idle_pairs: Vec<IdlePair>,
}

/// The audit.
#[derive(Clone, Debug, Serialize)]
pub struct Audit {
    pub workloads: Vec<AuditWorkload>,
    /// One per pair asked, by source then destination.
    pub cells: Vec<Cell>,
    pub unused: Vec<Unused>,
    pub denied_attempted: Vec<DeniedAttempt>,
    /// Every rule in a trace between workloads; never hit first, then by name.
    pub rules: Vec<RuleUse>,
    pub protocols: Vec<Protocol>,
    /// Observed flows read, and those that fell on a pair of the matrix.
    pub flows_read: usize,
    pub flows_in_matrix: usize,
    /// Engine questions the reachability asked.
    pub questions: usize,
    pub notes: Vec<String>,
}

impl Audit {
    /// Rules no observed flow between workloads reached.
    pub fn rules_never_hit(&self) -> impl Iterator<Item = &RuleUse> {
        self.rules.iter().filter(|r| r.pairs_hit == 0)
    }
}

/// Denied flows are grouped by source, destination, protocol, the rule that denies them
/// today and whether today's policy allows them.
type DeniedKey = (String, String, Protocol, Option<RuleRef>, bool);

#[derive(Default)]
struct Tally {
    allow_src: u64,
    allow_dst: u64,
    denied: u64,
    dst_reported: bool,
    ports: BTreeSet<u16>,
}

impl Tally {
    fn seen(&self) -> Seen {
        Seen {
            allowed_connections: if self.dst_reported {
                self.allow_dst
            } else {
                self.allow_src
            },
            denied_connections: self.denied,
            ports: self.ports.iter().copied().collect(),
        }
    }
}

/// Maps observed ends to the reachability's workloads.
struct Ends<'a> {
    reach: &'a Reachability,
    by_name: HashMap<(&'a str, &'a str), usize>,
    by_ip: HashMap<IpAddr, usize>,
}

impl<'a> Ends<'a> {
    fn new(reach: &'a Reachability, inventory: &'a Inventory) -> Ends<'a> {
        let mut by_name = HashMap::new();
        for (i, w) in reach.workloads.iter().enumerate() {
            by_name.insert((w.namespace.as_str(), w.name_aggr.as_str()), i);
        }
        let mut by_ip = HashMap::new();
        for e in &inventory.endpoints {
            if e.endpoint_type != EndpointType::Wep {
                continue;
            }
            let Some(ns) = &e.namespace else { continue };
            if let Some(&w) = by_name.get(&(ns.as_str(), e.name_aggr.as_str())) {
                for ip in &e.ips {
                    by_ip.entry(*ip).or_insert(w);
                }
            }
        }
        Ends {
            reach,
            by_name,
            by_ip,
        }
    }

    fn workload(&self, end: &ObservedEnd) -> Option<usize> {
        if matches!(
            end.endpoint_type,
            Some(EndpointType::Hep | EndpointType::Ns | EndpointType::Net)
        ) {
            return None;
        }
        if let Some(ip) = end.ip
            && let Some(&w) = self.by_ip.get(&ip)
        {
            return Some(w);
        }
        let ns = end.namespace.as_deref()?;
        self.by_name.get(&(ns, end.name_aggr.as_str())).copied()
    }

    fn label(&self, end: &ObservedEnd) -> String {
        if let Some(w) = self.workload(end) {
            return self.reach.workloads[w].label();
        }
        let name = if end.name_aggr.is_empty() || end.name_aggr == "-" {
            end.ip
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| "-".into())
        } else {
            end.name_aggr.clone()
        };
        match &end.namespace {
            Some(ns) => format!("{ns}/{name}"),
            None => name,
        }
    }
}

fn carries_ports(p: Protocol) -> bool {
    matches!(
        p,
        Protocol::Tcp | Protocol::Udp | Protocol::Sctp | Protocol::UdpLite
    )
}

/// Ports as ranges of consecutive ports.
fn runs(ports: impl IntoIterator<Item = u16>) -> Vec<PortRange> {
    merge_ranges(ports.into_iter().map(|p| PortRange { first: p, last: p }))
}

/// `range` without the ports in `used`.
fn minus(range: PortRange, used: &BTreeSet<u16>) -> Vec<PortRange> {
    let mut out = Vec::new();
    let mut next = u32::from(range.first);
    for &p in used.range(range.first..=range.last) {
        if u32::from(p) > next {
            out.push(PortRange {
                first: next as u16,
                last: p - 1,
            });
        }
        next = u32::from(p) + 1;
    }
    if next <= u32::from(range.last) {
        out.push(PortRange {
            first: next as u16,
            last: range.last,
        });
    }
    out
}

fn deciding(seg: &Segment, ingress: bool) -> Option<RuleRef> {
    let direction = if ingress {
        RuleDirection::Ingress
    } else {
        RuleDirection::Egress
    };
    seg.decided_by(ingress)
        .map(|h| RuleRef::from_hit(direction, h))
}

/// Holds `reach` (computed by `engine` for the same inventory) against the observed `flows`.
pub fn audit(
    engine: &Engine,
    reach: &Reachability,
    flows: &[ObservedFlow],
    options: &AuditOptions,
) -> Audit {
    let inventory = engine.inventory();
    let ends = Ends::new(reach, inventory);
    let in_scope = |ns: Option<&str>| {
        options.namespaces.is_empty()
            || ns.is_some_and(|ns| options.namespaces.iter().any(|n| n == ns))
    };
    // (pair index, segment index) → what was seen.
    let pair_index: HashMap<(usize, usize), usize> = reach
        .pairs
        .iter()
        .enumerate()
        .map(|(i, p)| ((p.source, p.dest), i))
        .collect();
    let mut tallies: HashMap<(usize, usize), Tally> = HashMap::new();
    let mut denied: BTreeMap<DeniedKey, (BTreeSet<u16>, u64)> = BTreeMap::new();
    let mut in_matrix = 0usize;
    let mut no_port = 0u64;
    let mut notes = reach.notes.clone();
    for flow in flows {
        if !in_scope(flow.source.namespace.as_deref()) && !in_scope(flow.dest.namespace.as_deref())
        {
            continue;
        }
        let src = ends.workload(&flow.source);
        let dst = ends.workload(&flow.dest);
        let port = if carries_ports(flow.proto) {
            flow.dest_port
        } else {
            None
        };
        let placed = match (src, dst) {
            (Some(s), Some(d)) => pair_index.get(&(s, d)).and_then(|&pi| {
                let pair = &reach.pairs[pi];
                let si = pair
                    .segments
                    .iter()
                    .position(|seg| seg.protocol == flow.proto && segment_has(seg, port))?;
                Some((pi, si))
            }),
            _ => None,
        };
        if let Some(key) = placed {
            in_matrix += 1;
            let t = tallies.entry(key).or_default();
            if let Some(p) = port {
                t.ports.insert(p);
            }
            match (flow.action, flow.reporter) {
                (Action::Deny, _) => t.denied += flow.num_flows,
                (Action::Allow, Reporter::Dst) => t.allow_dst += flow.num_flows,
                (Action::Allow, Reporter::Src) => t.allow_src += flow.num_flows,
            }
            if flow.reporter == Reporter::Dst {
                t.dst_reported = true;
            }
        } else if src.is_some() && dst.is_some() && carries_ports(flow.proto) && port.is_none() {
            no_port += flow.num_flows;
        }
        if flow.action != Action::Deny {
            continue;
        }
        // The rule that denies it today.
        let (rule, allowed_today) = match placed {
            Some((pi, si)) => {
                let seg = &reach.pairs[pi].segments[si];
                (denying_rule(seg), seg.action == Action::Allow)
            }
            None => match (flow.source.ip, flow.dest.ip) {
                (Some(s), Some(d)) => {
                    let v = engine.evaluate(&FiveTuple {
                        src: s,
                        dst: d,
                        protocol: flow.proto,
                        src_port: flowlens_policy::reachability::SOURCE_PORT,
                        dst_port: port.unwrap_or(0),
                        icmp: None,
                    });
                    let rule = v
                        .egress
                        .as_ref()
                        .filter(|e| e.action == Action::Deny)
                        .and_then(|e| e.hits.last().map(|h| (RuleDirection::Egress, h)))
                        .or_else(|| {
                            v.ingress
                                .as_ref()
                                .filter(|i| i.action == Action::Deny)
                                .and_then(|i| i.hits.last().map(|h| (RuleDirection::Ingress, h)))
                        })
                        .map(|(dir, h)| {
                            let index = match dir {
                                RuleDirection::Egress => {
                                    v.egress.as_ref().map_or(0, |e| e.hits.len() - 1)
                                }
                                RuleDirection::Ingress => {
                                    v.ingress.as_ref().map_or(0, |i| i.hits.len() - 1)
                                }
                            };
                            RuleRef::from_hit(dir, &engine.policy_hit(h, index))
                        });
                    (rule, v.action == Action::Allow)
                }
                _ => (None, false),
            },
        };
        let entry = denied
            .entry((
                ends.label(&flow.source),
                ends.label(&flow.dest),
                flow.proto,
                rule,
                allowed_today,
            ))
            .or_default();
        if let Some(p) = port {
            entry.0.insert(p);
        }
        entry.1 += flow.num_flows;
    }
    if no_port > 0 {
        notes.push(format!(
            "{no_port} connections between workloads were logged without their destination port and are not placed on a port"
        ));
    }

    let label = |i: usize| reach.workloads[i].label();
    let mut cells = Vec::new();
    let mut unused = Vec::new();
    // Rule → (pairs holding it, pairs hit, connections, idle pairs' segments).
    type Use<'s> = (
        BTreeSet<usize>,
        BTreeSet<usize>,
        u64,
        BTreeMap<usize, Vec<&'s Segment>>,
    );
    let mut uses: BTreeMap<RuleRef, Use<'_>> = BTreeMap::new();
    for (pi, pair) in reach.pairs.iter().enumerate() {
        let mut segments = Vec::new();
        let (mut allowed_c, mut denied_c) = (0u64, 0u64);
        let mut any_allowed = false;
        for (si, seg) in pair.segments.iter().enumerate() {
            let tally = tallies.get(&(pi, si));
            let seen = tally.map(Tally::seen).unwrap_or_default();
            allowed_c += seen.allowed_connections;
            denied_c += seen.denied_connections;
            let used = seen.connections() > 0;
            if seg.action == Action::Allow {
                any_allowed = true;
                let used_ports: BTreeSet<u16> = seen.ports.iter().copied().collect();
                let left = match seg.ports {
                    Some(r) => {
                        let left = minus(r, &used_ports);
                        (!left.is_empty()).then_some(Some(left))
                    }
                    None => (!used).then_some(None),
                };
                if let Some(ports) = left {
                    unused.push(Unused {
                        source: label(pair.source),
                        dest: label(pair.dest),
                        protocol: seg.protocol,
                        partly_used: used,
                        ports,
                        egress_rule: deciding(seg, false),
                        ingress_rule: deciding(seg, true),
                    });
                }
            }
            for (ingress, trace) in [(false, &seg.egress), (true, &seg.ingress)] {
                let direction = if ingress {
                    RuleDirection::Ingress
                } else {
                    RuleDirection::Egress
                };
                for h in trace {
                    let u = uses.entry(RuleRef::from_hit(direction, h)).or_default();
                    u.0.insert(pi);
                    if used {
                        u.1.insert(pi);
                        u.2 += seen.connections();
                    } else {
                        u.3.entry(pi).or_default().push(seg);
                    }
                }
            }
            segments.push(CellSegment {
                protocol: seg.protocol,
                ports: seg.ports,
                action: seg.action,
                egress_rule: deciding(seg, false),
                ingress_rule: deciding(seg, true),
                undecidable: seg.undecidable,
                seen,
            });
        }
        let status = if denied_c > 0 {
            CellStatus::DeniedAttempted
        } else if allowed_c > 0 {
            CellStatus::AllowedUsed
        } else if any_allowed {
            CellStatus::AllowedUnused
        } else {
            CellStatus::Denied
        };
        cells.push(Cell {
            source: pair.source,
            dest: pair.dest,
            status,
            allowed: pair.allowed_text(&reach.protocols),
            allowed_connections: allowed_c,
            denied_connections: denied_c,
            segments,
        });
    }

    let mut rules: Vec<RuleUse> = uses
        .into_iter()
        .map(|(rule, (pairs, hit, connections, idle))| RuleUse {
            rule,
            pairs: pairs.len(),
            pairs_hit: hit.len(),
            connections,
            idle_pairs: idle
                .into_iter()
                // A pair is idle for the rule only when none of its segments through the
                // rule saw traffic.
                .filter(|(pi, _)| !hit.contains(pi))
                .map(|(pi, segs)| {
                    let pair = &reach.pairs[pi];
                    IdlePair {
                        source: label(pair.source),
                        dest: label(pair.dest),
                        connections: flowlens_policy::reachability::connections_text(
                            segs,
                            &reach.protocols,
                        ),
                    }
                })
                .collect(),
        })
        .collect();
    rules.sort_by(|a, b| {
        (
            a.pairs_hit > 0,
            &a.rule.tier,
            &a.rule.policy,
            a.rule.direction,
            a.rule.rule,
        )
            .cmp(&(
                b.pairs_hit > 0,
                &b.rule.tier,
                &b.rule.policy,
                b.rule.direction,
                b.rule.rule,
            ))
    });

    let denied_attempted = {
        let mut list: Vec<DeniedAttempt> = denied
            .into_iter()
            .map(
                |((source, dest, protocol, rule, allowed_today), (ports, connections))| {
                    DeniedAttempt {
                        source,
                        dest,
                        protocol,
                        distinct_ports: ports.len(),
                        ports: runs(ports),
                        connections,
                        rule,
                        allowed_today,
                    }
                },
            )
            .collect();
        list.sort_by(|a, b| {
            b.connections.cmp(&a.connections).then_with(|| {
                (&a.source, &a.dest, a.protocol).cmp(&(&b.source, &b.dest, b.protocol))
            })
        });
        list
    };

    Audit {
        workloads: reach
            .workloads
            .iter()
            .map(|w| AuditWorkload {
                namespace: w.namespace.clone(),
                name: w.name.clone(),
                name_aggr: w.name_aggr.clone(),
                kind: w.kind.clone(),
                pods: w.pods,
            })
            .collect(),
        cells,
        unused,
        denied_attempted,
        rules,
        protocols: reach.protocols.clone(),
        flows_read: flows.len(),
        flows_in_matrix: in_matrix,
        questions: reach.questions,
        notes,
    }
}

fn segment_has(seg: &Segment, port: Option<u16>) -> bool {
    match (seg.ports, port) {
        (None, _) => true,
        (Some(r), Some(p)) => r.contains(p),
        (Some(_), None) => false,
    }
}

fn denying_rule(seg: &Segment) -> Option<RuleRef> {
    let egress_denies = seg
        .egress
        .last()
        .is_some_and(|h| h.action == HitAction::Deny);
    if egress_denies {
        return deciding(seg, false);
    }
    seg.denied_by()
        .map(|h| RuleRef::from_hit(RuleDirection::Ingress, h))
}
