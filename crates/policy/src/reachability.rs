//! Static reachability: which workloads today's policies let reach which, on which protocols
//! and ports, in the style of np-guard's `netpol-analyzer list` (`shop/web => shop/api :
//! TCP 8080`), answered by the compiled engine itself so that it is exact for everything the
//! engine evaluates (Calico tiers and their default actions, pass, AdminNetworkPolicy and
//! BaselineAdminNetworkPolicy, Kubernetes policies, profiles, default deny).
//!
//! - **Workloads**: pods are grouped as flow logs aggregate them (namespace and aggregated
//!   name, `web-6d4cf56db6-*`), which is what observed flows are matched against; one pod of
//!   each stands for the workload. A workload whose pods differ in what policy can see
//!   (labels beyond the per-replica ones, service account, named ports) gets a note.
//! - **Ports**: between two ends and for one protocol, the verdict can change only where a
//!   rule's port or range starts or ends, or at a port a container or Service names (named
//!   ports, Service target ports). The port space splits at those points into intervals on
//!   which every rule matches all ports or none, so one question per interval answers for
//!   every port of it; neighbouring intervals with the same verdict and traces are merged.
//! - **Protocols**: TCP, UDP and SCTP per port interval; ICMP and every other protocol a rule
//!   names, once each (an ICMP rule with a type cannot be decided without one: the segment
//!   is flagged `undecidable`, as flow verdicts are).

use crate::engine::Engine;
use crate::peer::FiveTuple;
use crate::verdict::{Action, DirectionVerdict};
use flowlens_model::{Endpoint, EndpointType, PolicyHit, PortMatch, Protocol, TargetPort};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

/// The source port flows are asked with (rules that name source ports are noted).
pub const SOURCE_PORT: u16 = 40000;

/// Which pairs to answer for.
#[derive(Clone, Debug, Default)]
pub struct ReachOptions {
    /// Only pairs with at least one end in these namespaces; empty means every pair.
    pub namespaces: Vec<String>,
}

/// A workload: the pods flow logs aggregate under one name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Workload {
    pub namespace: String,
    /// How flow logs aggregate its pods (`frontend-864f4fcdfd-*`).
    pub name_aggr: String,
    /// The controller's kind (`Deployment`, …) when the pods came from one.
    pub kind: Option<String>,
    /// The controller's name, else the aggregated name.
    pub name: String,
    pub pods: usize,
    /// The pod asked on the workload's behalf (index into the inventory's endpoints).
    pub representative: u32,
    /// Its pods differ in what policy sees, so the answer is the representative's.
    pub varies: bool,
}

impl Workload {
    /// `namespace/name`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// An inclusive port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn contains(self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// One protocol and port range on which the verdict between two workloads is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub protocol: Protocol,
    /// `None` for a protocol without ports.
    pub ports: Option<PortRange>,
    pub action: Action,
    /// Egress at the source, ingress at the destination: every hit, the deciding one last.
    pub egress: Vec<PolicyHit>,
    pub ingress: Vec<PolicyHit>,
    /// A deciding rule needs what a flow would tell (an ICMP type, an HTTP request).
    pub undecidable: bool,
}

impl Segment {
    /// The hit that decided the direction (the last of its trace).
    pub fn decided_by(&self, ingress: bool) -> Option<&PolicyHit> {
        if ingress {
            self.ingress.last()
        } else {
            self.egress.last()
        }
    }

    /// The hit that denied, when the segment is denied: egress first (the packet never
    /// leaves), else ingress.
    pub fn denied_by(&self) -> Option<&PolicyHit> {
        let denies = |h: &&PolicyHit| h.action == flowlens_model::HitAction::Deny;
        self.egress
            .last()
            .filter(denies)
            .or_else(|| self.ingress.last().filter(denies))
    }

    fn covers(&self, protocol: Protocol, port: Option<u16>) -> bool {
        self.protocol == protocol
            && match (self.ports, port) {
                (None, _) => true,
                (Some(r), Some(p)) => r.contains(p),
                (Some(_), None) => false,
            }
    }
}

/// What policy lets one workload send to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PairReach {
    /// Indices into [`Reachability::workloads`].
    pub source: usize,
    pub dest: usize,
    /// By protocol, then port; together they cover every port of every protocol asked.
    pub segments: Vec<Segment>,
}

impl PairReach {
    /// The segment a flow of this protocol and destination port falls in.
    pub fn segment_for(&self, protocol: Protocol, port: Option<u16>) -> Option<&Segment> {
        self.segments.iter().find(|s| s.covers(protocol, port))
    }

    pub fn allows_any(&self) -> bool {
        self.segments.iter().any(|s| s.action == Action::Allow)
    }

    /// The allowed protocols and ports in np-guard's words: `TCP 80,443,8000-9000; UDP 53`,
    /// `All Connections`, or `No Connections`.
    pub fn allowed_text(&self, protocols: &[Protocol]) -> String {
        connections_text(
            self.segments.iter().filter(|s| s.action == Action::Allow),
            protocols,
        )
    }
}

/// Segments as np-guard lists connections: per protocol its ports (`TCP 80,443`), a
/// protocol whose every port is in the list by name alone, `All Connections` when every
/// protocol asked is whole.
pub fn connections_text<'a>(
    segments: impl IntoIterator<Item = &'a Segment>,
    protocols: &[Protocol],
) -> String {
    let mut by_proto: BTreeMap<Protocol, Vec<Option<PortRange>>> = BTreeMap::new();
    for s in segments {
        by_proto.entry(s.protocol).or_default().push(s.ports);
    }
    if by_proto.is_empty() {
        return "No Connections".into();
    }
    let whole = |ranges: &[Option<PortRange>]| {
        let mut next: u32 = 1;
        for r in ranges {
            match r {
                None => return true,
                Some(r) if u32::from(r.first) <= next => {
                    next = next.max(u32::from(r.last) + 1);
                }
                Some(_) => return false,
            }
        }
        next > 65535
    };
    if protocols
        .iter()
        .all(|p| by_proto.get(p).is_some_and(|r| whole(r)))
    {
        return "All Connections".into();
    }
    by_proto
        .iter()
        .map(|(p, ranges)| {
            if whole(ranges) {
                p.to_string()
            } else {
                let ports: Vec<String> = merge_ranges(ranges.iter().flatten().copied())
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                format!("{p} {}", ports.join(","))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Sorted ranges with touching and overlapping ones joined.
pub fn merge_ranges(ranges: impl IntoIterator<Item = PortRange>) -> Vec<PortRange> {
    let mut sorted: Vec<PortRange> = ranges.into_iter().collect();
    sorted.sort();
    let mut out: Vec<PortRange> = Vec::new();
    for r in sorted {
        match out.last_mut() {
            Some(prev) if u32::from(r.first) <= u32::from(prev.last) + 1 => {
                prev.last = prev.last.max(r.last);
            }
            _ => out.push(r),
        }
    }
    out
}

/// The static reachability of an inventory's workloads.
#[derive(Clone, Debug, Serialize)]
pub struct Reachability {
    pub workloads: Vec<Workload>,
    /// Every ordered pair asked (all denied ones too), by source then destination.
    pub pairs: Vec<PairReach>,
    /// Protocols asked, port-bearing ones first.
    pub protocols: Vec<Protocol>,
    /// Where a port interval starts (the first is 1): the answer is exact between these.
    pub interval_starts: Vec<u16>,
    /// Engine questions asked.
    pub questions: usize,
    pub notes: Vec<String>,
}

impl Reachability {
    /// The workload flow logs name `namespace` / `name_aggr`.
    pub fn workload(&self, namespace: &str, name_aggr: &str) -> Option<usize> {
        self.workloads
            .iter()
            .position(|w| w.namespace == namespace && w.name_aggr == name_aggr)
    }

    /// The pair from `source` to `dest`, when it was asked.
    pub fn pair(&self, source: usize, dest: usize) -> Option<&PairReach> {
        self.pairs
            .binary_search_by(|p| (p.source, p.dest).cmp(&(source, dest)))
            .ok()
            .map(|i| &self.pairs[i])
    }

    /// The elementary port intervals, as ranges.
    pub fn intervals(&self) -> Vec<PortRange> {
        intervals_from(&self.interval_starts)
    }

    /// Pairs with anything allowed, in np-guard's `src => dst : connections` lines.
    pub fn lines(&self) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|p| p.allows_any())
            .map(|p| {
                format!(
                    "{} => {} : {}",
                    self.workloads[p.source].label(),
                    self.workloads[p.dest].label(),
                    p.allowed_text(&self.protocols)
                )
            })
            .collect()
    }
}

fn intervals_from(starts: &[u16]) -> Vec<PortRange> {
    starts
        .iter()
        .enumerate()
        .map(|(i, &first)| PortRange {
            first,
            last: starts.get(i + 1).map_or(u16::MAX, |next| next - 1),
        })
        .collect()
}

fn carries_ports(p: Protocol) -> bool {
    matches!(
        p,
        Protocol::Tcp | Protocol::Udp | Protocol::Sctp | Protocol::UdpLite
    )
}

/// Where the verdict may change along the port axis: every port and range end named by a
/// rule (either side, `ports` and `notPorts`), every container port (named ports resolve to
/// them) and every Service port and numeric target port. Sorted, starting with 1.
pub fn port_interval_starts(inventory: &flowlens_model::Inventory) -> Vec<u16> {
    let mut cuts: BTreeSet<u16> = BTreeSet::new();
    cuts.insert(1);
    fn single(first: u16, last: u16, cuts: &mut BTreeSet<u16>) {
        cuts.insert(first.max(1));
        if let Some(after) = last.checked_add(1) {
            cuts.insert(after.max(1));
        }
    }
    for p in &inventory.policies {
        for r in p.ingress.iter().chain(&p.egress) {
            for e in [&r.source, &r.destination] {
                for m in e.ports.iter().chain(&e.not_ports) {
                    match m {
                        PortMatch::Single(n) => single(*n, *n, &mut cuts),
                        PortMatch::Range { first, last } => single(*first, *last, &mut cuts),
                        PortMatch::Named(_) => {}
                    }
                }
            }
        }
    }
    for e in &inventory.endpoints {
        for np in &e.ports {
            single(np.port, np.port, &mut cuts);
        }
    }
    for s in &inventory.services {
        for sp in &s.ports {
            single(sp.port, sp.port, &mut cuts);
            if let TargetPort::Number(n) = sp.target_port {
                single(n, n, &mut cuts);
            }
        }
    }
    cuts.into_iter().collect()
}

/// Protocols to ask: TCP, UDP, SCTP, ICMP, and every other one a rule names.
fn protocols_of(inventory: &flowlens_model::Inventory) -> Vec<Protocol> {
    let mut named: BTreeSet<Protocol> = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp]
        .into_iter()
        .collect();
    let mut portless: BTreeSet<Protocol> = [Protocol::Icmp].into_iter().collect();
    for p in &inventory.policies {
        for r in p.ingress.iter().chain(&p.egress) {
            for proto in [r.protocol, r.not_protocol].into_iter().flatten() {
                if carries_ports(proto) {
                    named.insert(proto);
                } else {
                    portless.insert(proto);
                }
            }
        }
    }
    named.into_iter().chain(portless).collect()
}

/// Labels whose value differs per replica by design; they do not make a workload vary.
const PER_REPLICA: &[&str] = &[
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
];

/// Labels, service account, named ports and address count of a pod.
type PolicyView<'a> = (
    Vec<(&'a String, &'a String)>,
    Option<&'a String>,
    Vec<&'a flowlens_model::NamedPort>,
    usize,
);

/// What policy sees of a pod, without what differs per replica.
fn policy_view(e: &Endpoint) -> PolicyView<'_> {
    let labels: Vec<(&String, &String)> = e
        .labels
        .iter()
        .filter(|(k, v)| !PER_REPLICA.contains(&k.as_str()) && **v != e.name)
        .collect();
    let mut ports: Vec<_> = e.ports.iter().collect();
    ports.sort_by(|a, b| (&a.name, a.port).cmp(&(&b.name, b.port)));
    (labels, e.service_account.as_ref(), ports, e.ips.len())
}

/// The inventory's pods grouped into workloads, sorted by namespace and name.
pub fn workloads(inventory: &flowlens_model::Inventory) -> Vec<Workload> {
    let mut groups: BTreeMap<(String, String), Vec<u32>> = BTreeMap::new();
    for (i, e) in inventory.endpoints.iter().enumerate() {
        if e.endpoint_type != EndpointType::Wep || e.ips.is_empty() {
            continue;
        }
        let Some(ns) = &e.namespace else { continue };
        groups
            .entry((ns.clone(), e.name_aggr.clone()))
            .or_default()
            .push(i as u32);
    }
    let mut out: Vec<Workload> = groups
        .into_iter()
        .map(|((namespace, name_aggr), members)| {
            let eps = &inventory.endpoints;
            let first = &eps[members[0] as usize];
            let view = policy_view(first);
            let varies = members[1..]
                .iter()
                .any(|&m| policy_view(&eps[m as usize]) != view);
            let (kind, name) = match &first.workload {
                Some(w) => (Some(w.kind.clone()), w.name.clone()),
                None => (None, display_name(&name_aggr)),
            };
            Workload {
                namespace,
                name_aggr,
                kind,
                name,
                pods: members.len(),
                representative: members[0],
                varies,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.namespace, &a.name, &a.name_aggr).cmp(&(&b.namespace, &b.name, &b.name_aggr))
    });
    // Two aggregated names under one controller name (a rollout in progress) stay apart.
    for i in 1..out.len() {
        if out[i].namespace == out[i - 1].namespace && out[i].name == out[i - 1].name {
            let aggr = out[i].name_aggr.clone();
            out[i].name = display_name(&aggr);
        }
    }
    out
}

/// `web-6d4cf56db6-*` → `web-6d4cf56db6`; a pod's own name stays as it is.
fn display_name(name_aggr: &str) -> String {
    name_aggr
        .trim_end_matches('*')
        .trim_end_matches('-')
        .to_string()
}

/// Both ends' addresses in one family, IPv4 first.
fn addresses(src: &Endpoint, dst: &Endpoint) -> Option<(IpAddr, IpAddr)> {
    for v4 in [true, false] {
        let s = src.ips.iter().find(|ip| ip.is_ipv4() == v4);
        let d = dst.ips.iter().find(|ip| ip.is_ipv4() == v4);
        if let (Some(s), Some(d)) = (s, d) {
            return Some((*s, *d));
        }
    }
    None
}

fn hits(engine: &Engine, d: &Option<DirectionVerdict>) -> Vec<PolicyHit> {
    d.as_ref()
        .map(|d| {
            d.hits
                .iter()
                .enumerate()
                .map(|(i, h)| engine.policy_hit(h, i))
                .collect()
        })
        .unwrap_or_default()
}

/// Asks `engine` what each workload may send to each other (and to itself), exact per port
/// interval. Deterministic.
pub fn reachability(engine: &Engine, options: &ReachOptions) -> Reachability {
    let inventory = engine.inventory();
    let workloads = workloads(inventory);
    let protocols = protocols_of(inventory);
    let starts = port_interval_starts(inventory);
    let intervals = intervals_from(&starts);
    let mut notes = Vec::new();
    for w in workloads.iter().filter(|w| w.varies) {
        notes.push(format!(
            "{}: its {} pods differ in labels, service account or named ports; the answer is for {}",
            w.label(),
            w.pods,
            inventory.endpoints[w.representative as usize].name
        ));
    }
    if inventory.uses_source_ports() {
        notes.push(format!(
            "rules name source ports: the answer is for flows from source port {SOURCE_PORT}"
        ));
    }
    let wanted =
        |w: &Workload| options.namespaces.is_empty() || options.namespaces.contains(&w.namespace);
    let mut pairs = Vec::new();
    let mut questions = 0usize;
    for (si, s) in workloads.iter().enumerate() {
        for (di, d) in workloads.iter().enumerate() {
            if !wanted(s) && !wanted(d) {
                continue;
            }
            let src_ep = &inventory.endpoints[s.representative as usize];
            let dst_ep = &inventory.endpoints[d.representative as usize];
            let Some((src_ip, dst_ip)) = addresses(src_ep, dst_ep) else {
                notes.push(format!(
                    "{} → {}: no address family in common, not asked",
                    s.label(),
                    d.label()
                ));
                continue;
            };
            let src = engine.resolve(src_ip);
            let dst = engine.resolve(dst_ip);
            let mut segments: Vec<Segment> = Vec::new();
            for &proto in &protocols {
                let proto = match proto {
                    Protocol::Icmp if dst_ip.is_ipv6() => Protocol::IcmpV6,
                    p => p,
                };
                let ranges: Vec<Option<PortRange>> = if carries_ports(proto) {
                    intervals.iter().copied().map(Some).collect()
                } else {
                    vec![None]
                };
                for range in ranges {
                    let flow = FiveTuple {
                        src: src_ip,
                        dst: dst_ip,
                        protocol: proto,
                        src_port: SOURCE_PORT,
                        dst_port: range.map_or(0, |r| r.first),
                        icmp: None,
                    };
                    let v = engine.evaluate_peers(&src, &dst, &flow);
                    questions += 1;
                    let seg = Segment {
                        protocol: proto,
                        ports: range,
                        action: v.action,
                        egress: hits(engine, &v.egress),
                        ingress: hits(engine, &v.ingress),
                        undecidable: v.undecidable,
                    };
                    match segments.last_mut() {
                        Some(prev)
                            if prev.protocol == seg.protocol
                                && prev.action == seg.action
                                && prev.egress == seg.egress
                                && prev.ingress == seg.ingress
                                && prev.undecidable == seg.undecidable
                                && prev.ports.is_some()
                                && seg.ports.is_some() =>
                        {
                            if let (Some(p), Some(r)) = (prev.ports.as_mut(), range) {
                                p.last = r.last;
                            }
                        }
                        _ => segments.push(seg),
                    }
                }
            }
            pairs.push(PairReach {
                source: si,
                dest: di,
                segments,
            });
        }
    }
    Reachability {
        workloads,
        pairs,
        protocols,
        interval_starts: starts,
        questions,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(protocol: Protocol, first: u16, last: u16) -> Segment {
        Segment {
            protocol,
            ports: Some(PortRange { first, last }),
            action: Action::Allow,
            egress: vec![],
            ingress: vec![],
            undecidable: false,
        }
    }

    #[test]
    fn connections_read_as_np_guard_writes_them() {
        let protos = [Protocol::Tcp, Protocol::Udp];
        let segs = [
            seg(Protocol::Tcp, 80, 80),
            seg(Protocol::Tcp, 443, 443),
            seg(Protocol::Tcp, 444, 500),
            seg(Protocol::Udp, 53, 53),
        ];
        assert_eq!(connections_text(&segs, &protos), "TCP 80,443-500; UDP 53");
        let whole = [seg(Protocol::Tcp, 1, 65535), seg(Protocol::Udp, 1, 65535)];
        assert_eq!(connections_text(&whole, &protos), "All Connections");
        assert_eq!(connections_text(&whole[..1], &protos), "TCP");
        assert_eq!(
            connections_text(std::iter::empty(), &protos),
            "No Connections"
        );
    }

    #[test]
    fn interval_starts_split_at_every_end() {
        let mut inv = flowlens_model::Inventory::new();
        let mut rule = flowlens_model::Rule::new(flowlens_model::RuleAction::Allow);
        rule.destination.ports = vec![
            PortMatch::Single(80),
            PortMatch::Range {
                first: 1000,
                last: 2000,
            },
            PortMatch::Single(65535),
        ];
        inv.policies.push(flowlens_model::Policy {
            kind: flowlens_model::PolicyKind::GlobalNetworkPolicy,
            name: "p".into(),
            namespace: None,
            tier: "default".into(),
            order: None,
            selector: flowlens_selector::Selector::all(),
            namespace_selector: None,
            service_account_selector: None,
            types: flowlens_model::PolicyTypes {
                ingress: true,
                egress: false,
            },
            ingress: vec![rule],
            egress: vec![],
            do_not_track: false,
            pre_dnat: false,
            apply_on_forward: false,
            staged_action: flowlens_model::StagedAction::Set,
            source: None,
        });
        assert_eq!(port_interval_starts(&inv), [1, 80, 81, 1000, 2001, 65535]);
        let ranges = intervals_from(&port_interval_starts(&inv));
        assert_eq!(ranges.first(), Some(&PortRange { first: 1, last: 79 }));
        assert_eq!(
            ranges.last(),
            Some(&PortRange {
                first: 65535,
                last: 65535
            })
        );
    }
}
