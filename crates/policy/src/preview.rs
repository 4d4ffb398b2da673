//! Impact preview: what a policy change would have done to the traffic already seen.
//!
//! # API (used by the HTTP server and `flowlens preview`)
//!
//! ```text
//! let draft = Arc::new(current.with_policy(policy)?);        // or current.without_policy(&id)?
//! let source_ports = current.uses_source_ports() || draft.uses_source_ports();
//! let after = Engine::new(draft);              // may compile while the store answers:
//! let tuples = store.flow_tuples(&FlowQuery::new(range), source_ports).await?;
//! let mut result = preview(&before, &after, &changed_id, &tuples)?;
//! result.window = Some(Window { from, to });
//! ```
//!
//! - [`preview`]`(before: &Engine, after: &Engine, changed: &PolicyId, tuples: &[FlowTuple])
//!   -> Result<Preview, PreviewError>`: `before` is the engine of the running inventory,
//!   `after` the engine of the draft (the same inventory with one policy inserted, replaced
//!   or removed; endpoints, namespaces and network sets must be the same).
//! - Tuples must keep source ports when either inventory's rules look at them
//!   ([`Inventory::uses_source_ports`](flowlens_model::Inventory::uses_source_ports)); known
//!   before the draft's engine is built, so the tuple query can run while it compiles.
//! - [`Preview`] serialises to the JSON of docs/api.md's "Preview" section.
//!
//! # How
//!
//! Stored flow logs are grouped by the store into distinct tuples (both ends, protocol,
//! destination port, reporter, stored action) so each is evaluated once. The two reporters'
//! records of one connection are merged (connections counted once: the larger of the two
//! reporters' `num_flows`). A tuple whose ends the changed policy applies to in neither
//! engine cannot change and is counted as unchanged without evaluation. Otherwise each end
//! is turned back into something the engine can evaluate:
//!
//! - an IP that was kept resolves exactly;
//! - an aggregated pod or host endpoint (`engine-*`) stands for every endpoint of the
//!   inventory with that namespace and aggregated name (and the logged labels, when
//!   logged); endpoints that differ in labels, service account or ports are evaluated one
//!   by one, and a tuple whose endpoints get different verdicts is *uncertain*;
//! - a network set stands for the addresses of its nets; `pub`/`pvt` for any public or
//!   private address.
//!
//! Both engines evaluate every combination, watching each rule they examine: a rule whose
//! outcome depends on something the flow log no longer carries (nets when the address was
//! aggregated away, source ports when they were, a destination port that is absent, HTTP
//! or ICMP type matches) makes the tuple *uncertain* with that reason instead of a guess.
//! Otherwise the verdicts compare: `allow_to_deny`, `deny_to_allow` or unchanged. When the
//! changed policy is staged, the pending (staged) verdicts are compared, since staged
//! policies never change enforcement.
//!
//! Simplification: when an aggregated network-set address could lie in several overlapping
//! network sets, the sets containing each of its prefixes' first address are used.

use crate::compile::{CEntity, CRule};
use crate::engine::Engine;
use crate::eval::{self, FlowCtx, RuleOutcome, Tracer};
use crate::peer::{FlowQuery, Peer, is_private};
use crate::verdict::{Action, DirectionVerdict, FlowVerdict};
use flowlens_model::{
    EndpointType, FlowEnd, FlowTuple, Policy, PolicyId, Protocol, Reporter, RuleAction,
    well_known_labels,
};
use ipnet::IpNet;
use rustc_hash::FxHashMap;
use serde::Serialize;
use smallvec::SmallVec;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// More distinct endpoint classes behind one aggregated name than this are not evaluated one
/// by one; the tuple is reported uncertain instead.
const MAX_CLASSES: usize = 16;

/// The time window the tuples came from (unix seconds, `to` exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

/// What happens to the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Create,
    Replace,
    Delete,
}

/// Which verdict is compared: enforced, or pending when the changed policy is staged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compared {
    Enforced,
    Pending,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    AllowToDeny,
    DenyToAllow,
    Uncertain,
}

/// Counts per outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub allow_to_deny: u64,
    pub deny_to_allow: u64,
    pub uncertain: u64,
    pub unchanged: u64,
}

impl Summary {
    fn add(&mut self, kind: Option<ChangeKind>, n: u64) {
        *match kind {
            Some(ChangeKind::AllowToDeny) => &mut self.allow_to_deny,
            Some(ChangeKind::DenyToAllow) => &mut self.deny_to_allow,
            Some(ChangeKind::Uncertain) => &mut self.uncertain,
            None => &mut self.unchanged,
        } += n;
    }
}

/// One group of changed (or uncertain) flows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub change: ChangeKind,
    pub source_namespace: Option<String>,
    pub source_name_aggr: String,
    pub dest_namespace: Option<String>,
    pub dest_name_aggr: String,
    pub proto: String,
    pub dest_port: Option<u16>,
    /// Flow log records in the group (both reporters).
    pub flow_logs: u64,
    /// Connections (each counted once, not once per reporter).
    pub num_flows: u64,
    /// The hit that decides today, and with the draft (`None` when it cannot be known).
    pub before: Option<String>,
    pub after: Option<String>,
    pub before_action: Option<Action>,
    pub after_action: Option<Action>,
    /// Why the outcome is uncertain; `None` for certain changes.
    pub reason: Option<String>,
}

/// The impact preview. `summary` counts flow logs; `summary_num_flows` connections.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Preview {
    /// Set by the caller.
    pub window: Option<Window>,
    pub policy: PolicyId,
    pub operation: Operation,
    pub compared: Compared,
    /// Distinct tuples in the window (reporters merged).
    pub tuples: usize,
    /// Of those, the ones the changed policy applies to, evaluated with both engines.
    pub evaluated_tuples: usize,
    pub flow_logs: u64,
    pub num_flows: u64,
    pub summary: Summary,
    pub summary_num_flows: Summary,
    /// Flow logs, among the evaluated ones, whose stored action differs from what the
    /// current policy decides (traffic logged under an older policy set, or by a source
    /// that disagrees).
    pub stored_mismatch_flow_logs: u64,
    /// Largest `num_flows` first.
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    #[error(
        "the draft inventory must have the same endpoints, namespaces and network sets as the current one; only policies may differ"
    )]
    InventoriesDiffer,
    #[error("policy {0} is in neither the current nor the draft inventory")]
    UnknownPolicy(PolicyId),
}

/// One end of a tuple, turned into what the engine evaluates.
struct Side {
    /// One peer per class of equivalent endpoints (or addresses).
    peers: SmallVec<[Peer; 2]>,
    /// The addresses the end may have been, when its address was not logged.
    space: Option<SmallVec<[IpNet; 2]>>,
    /// Endpoints the end may be.
    endpoints: SmallVec<[u32; 4]>,
    /// Why it cannot be evaluated.
    problem: Option<String>,
}

/// Endpoints by (type, namespace, aggregated name) and (type, namespace, name).
struct EndpointIndex {
    by_aggr: FxHashMap<(EndpointType, Option<String>, String), Vec<u32>>,
    by_name: FxHashMap<(EndpointType, Option<String>, String), u32>,
}

impl EndpointIndex {
    fn new(engine: &Engine) -> EndpointIndex {
        let mut by_aggr: FxHashMap<_, Vec<u32>> = FxHashMap::default();
        let mut by_name = FxHashMap::default();
        for (i, e) in engine.inventory.endpoints.iter().enumerate() {
            let key = |name: &str| (e.endpoint_type, e.namespace.clone(), name.to_string());
            by_aggr.entry(key(&e.name_aggr)).or_default().push(i as u32);
            by_name.entry(key(&e.name)).or_insert(i as u32);
        }
        EndpointIndex { by_aggr, by_name }
    }
}

fn end_label(end: &FlowEnd) -> String {
    match &end.namespace {
        Some(ns) => format!("{ns}/{}", end.name.as_deref().unwrap_or(&end.name_aggr)),
        None => end.name.clone().unwrap_or_else(|| end.name_aggr.clone()),
    }
}

fn private_space() -> SmallVec<[IpNet; 2]> {
    [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    ]
    .iter()
    .filter_map(|n| n.parse().ok())
    .collect()
}

fn any_space() -> SmallVec<[IpNet; 2]> {
    ["0.0.0.0/0", "::/0"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn bare_peer(ip: IpAddr) -> Peer {
    Peer {
        ip,
        endpoint: None,
        holders: SmallVec::new(),
        network_set: None,
    }
}

fn resolve_side(engine: &Engine, index: &EndpointIndex, end: &FlowEnd) -> Side {
    let mut side = Side {
        peers: SmallVec::new(),
        space: None,
        endpoints: SmallVec::new(),
        problem: None,
    };
    if let Some(ip) = end.ip {
        let peer = engine.resolve(ip);
        // The address must still be what the flow log says it was.
        let now = engine.attribute(&peer);
        let logged = end.endpoint_type;
        let same = match logged {
            Some(EndpointType::Wep | EndpointType::Hep) => {
                Some(now.endpoint_type) == logged
                    && now.namespace == end.namespace
                    && now.name_aggr == end.name_aggr
            }
            Some(EndpointType::Ns) => now.endpoint_type == EndpointType::Ns,
            _ => !matches!(now.endpoint_type, EndpointType::Wep | EndpointType::Hep),
        };
        if !same {
            side.problem = Some(format!(
                "{ip} ({}) is {} in the inventory now",
                end_label(end),
                match now.endpoint_type {
                    EndpointType::Net => "no endpoint".to_string(),
                    t => format!(
                        "{t} {}",
                        end_label(&FlowEnd {
                            name: Some(now.name.clone()),
                            namespace: now.namespace.clone(),
                            ..FlowEnd::default()
                        })
                    ),
                }
            ));
            return side;
        }
        side.endpoints.extend(peer.endpoint);
        side.peers.push(peer);
        return side;
    }
    let inv = &engine.inventory;
    match end.endpoint_type {
        Some(t @ (EndpointType::Wep | EndpointType::Hep)) => {
            let mut candidates: Vec<u32> = match &end.name {
                Some(name) => index
                    .by_name
                    .get(&(t, end.namespace.clone(), name.clone()))
                    .map(|&i| vec![i])
                    .unwrap_or_default(),
                None => index
                    .by_aggr
                    .get(&(t, end.namespace.clone(), end.name_aggr.clone()))
                    .cloned()
                    .unwrap_or_default(),
            };
            if candidates.is_empty() {
                side.problem = Some(format!("{} is not in the inventory", end_label(end)));
                return side;
            }
            if !end.labels.is_empty() {
                candidates.retain(|&i| inv.endpoints[i as usize].labels == end.labels);
                if candidates.is_empty() {
                    side.problem = Some(format!(
                        "no endpoint named {} has the labels the flow log recorded",
                        end_label(end)
                    ));
                    return side;
                }
            }
            // Endpoints that policy cannot tell apart except by address.
            let mut classes: Vec<u32> = Vec::new();
            for &c in &candidates {
                let e = &inv.endpoints[c as usize];
                let same = |&k: &u32| {
                    let o = &inv.endpoints[k as usize];
                    o.labels == e.labels
                        && o.service_account == e.service_account
                        && o.ports == e.ports
                        && o.profiles == e.profiles
                };
                if !classes.iter().any(same) {
                    classes.push(c);
                }
            }
            if classes.len() > MAX_CLASSES {
                side.problem = Some(format!(
                    "{} stands for more than {MAX_CLASSES} endpoints that policy may treat differently",
                    end_label(end)
                ));
                return side;
            }
            for c in classes {
                let e = &inv.endpoints[c as usize];
                side.peers.push(match e.ips.first() {
                    Some(&ip) => {
                        let mut peer = engine.resolve(ip);
                        if peer.endpoint != Some(c) {
                            // Two endpoints share the address; keep the one named.
                            peer = Peer {
                                ip,
                                endpoint: Some(c),
                                holders: SmallVec::from_slice(&[c]),
                                network_set: None,
                            };
                        }
                        peer
                    }
                    None => Peer {
                        ip: IpAddr::from([0, 0, 0, 0]),
                        endpoint: Some(c),
                        holders: SmallVec::from_slice(&[c]),
                        network_set: None,
                    },
                });
            }
            side.space = Some(
                candidates
                    .iter()
                    .flat_map(|&c| {
                        inv.endpoints[c as usize]
                            .ips
                            .iter()
                            .map(|&ip| IpNet::from(ip))
                    })
                    .collect(),
            );
            side.endpoints = candidates.into_iter().collect();
        }
        Some(EndpointType::Ns) => {
            let found = inv
                .network_sets
                .iter()
                .find(|s| s.name == end.name_aggr && s.namespace == end.namespace);
            let Some(set) = found else {
                side.problem = Some(format!(
                    "network set {} is not in the inventory",
                    end_label(end)
                ));
                return side;
            };
            for net in &set.nets {
                let peer = engine.resolve(net.network());
                if !side.peers.iter().any(|p| p.holders == peer.holders) {
                    side.peers.push(peer);
                }
            }
            if side.peers.is_empty() {
                side.problem = Some(format!("network set {} has no nets", end_label(end)));
            }
            side.space = Some(set.nets.iter().copied().collect());
        }
        Some(EndpointType::Net) => {
            let (ip, space) = if end.name_aggr == "pvt" {
                (IpAddr::from([10, 255, 255, 254]), private_space())
            } else {
                (IpAddr::from([192, 0, 2, 1]), any_space())
            };
            debug_assert_eq!(is_private(ip), end.name_aggr == "pvt");
            side.peers.push(bare_peer(ip));
            side.space = Some(space);
        }
        None => {
            side.problem = Some(format!(
                "{} has no endpoint type in the flow log",
                end_label(end)
            ));
        }
    }
    side
}

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
        (eval::rule_matches(self.engine, &relaxed, ctx) != RuleOutcome::NoMatch)
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
        let cp = &self.engine.policies[policy as usize];
        let rules = if ingress { &cp.ingress } else { &cp.egress };
        let Some(rule) = rules.get(index) else { return };
        if let Some(why) = self.check(rule, ctx, outcome) {
            let p = &self.engine.inventory.policies[policy as usize];
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
struct Outcome {
    action: Option<Action>,
    verdict: Option<FlowVerdict>,
    reason: Option<String>,
}

fn evaluate_side_pairs(
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
            let flow = FlowQuery {
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
            let v = eval::evaluate(engine, s, d, &flow, &mut tracer);
            let (a, why) = match compared {
                Compared::Enforced => (v.action, tracer.enforced),
                Compared::Pending if engine.has_staged => (v.pending.action, tracer.pending_reason),
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

/// The policies applying to an endpoint in one direction include policy `pi`.
struct Affected {
    /// Per plan id: whether it holds the policy.
    plan_has: Vec<bool>,
    /// Plan slots compared: enforced (0, 1) or pending (2, 3).
    slot_base: usize,
}

impl Affected {
    fn new(engine: &Engine, policy: Option<usize>, compared: Compared) -> Affected {
        let plan_has = engine
            .plans
            .iter()
            .map(|plan| {
                policy.is_some_and(|pi| {
                    plan.untracked
                        .iter()
                        .chain(&plan.pre_dnat)
                        .chain(&plan.normal)
                        .any(|t| t.policies.contains(&(pi as u32)))
                })
            })
            .collect();
        Affected {
            plan_has,
            slot_base: if compared == Compared::Pending { 2 } else { 0 },
        }
    }

    fn applies(&self, engine: &Engine, endpoint: u32, ingress: bool) -> bool {
        let slot = self.slot_base + usize::from(ingress);
        engine
            .endpoint_plans
            .get(endpoint as usize)
            .is_some_and(|plans| self.plan_has[plans[slot] as usize])
    }
}

/// Whether a policy might apply to an end the inventory does not know, judged by the
/// labels the flow log kept (unknown labels: it might).
fn may_apply(policy: &Policy, end: &FlowEnd, ingress: bool) -> bool {
    if (ingress && !policy.types.ingress) || (!ingress && !policy.types.egress) {
        return false;
    }
    if policy.kind.is_namespaced() && policy.namespace != end.namespace {
        return false;
    }
    if end.labels.is_empty() {
        return true;
    }
    let mut labels = end.labels.clone();
    if end.endpoint_type == Some(EndpointType::Wep) {
        if let Some(ns) = &end.namespace {
            labels.insert(well_known_labels::NAMESPACE.into(), ns.clone());
        }
        labels.insert(well_known_labels::ORCHESTRATOR.into(), "k8s".into());
    }
    policy.selector.matches(&labels)
}

/// The direction whose verdict to show: the first that differs, else the one that denies.
fn shown_direction(
    before: Option<&FlowVerdict>,
    after: Option<&FlowVerdict>,
    pending: bool,
) -> bool {
    let dirs = |v: Option<&FlowVerdict>| -> [Option<Action>; 2] {
        let Some(v) = v else { return [None, None] };
        let (e, i) = if pending {
            (&v.pending.egress, &v.pending.ingress)
        } else {
            (&v.egress, &v.ingress)
        };
        [e.as_ref().map(|d| d.action), i.as_ref().map(|d| d.action)]
    };
    let (b, a) = (dirs(before), dirs(after));
    if b[0] != a[0] {
        return false;
    }
    if b[1] != a[1] {
        return true;
    }
    // The same in both: the denying direction, else egress when there is one.
    if b[0] == Some(Action::Deny) {
        return false;
    }
    b[1] == Some(Action::Deny) || b[0].is_none()
}

fn deciding_hit(
    engine: &Engine,
    v: Option<&FlowVerdict>,
    pending: bool,
    ingress: bool,
) -> Option<String> {
    let v = v?;
    let d: &DirectionVerdict = match (pending, ingress) {
        (false, false) => v.egress.as_ref()?,
        (false, true) => v.ingress.as_ref()?,
        (true, false) => v.pending.egress.as_ref()?,
        (true, true) => v.pending.ingress.as_ref()?,
    };
    let last = d.hits.len().checked_sub(1)?;
    Some(engine.policy_hit(&d.hits[last], last).to_string())
}

/// Both reporters' records of one tuple.
#[derive(Default)]
struct Merged {
    flow_logs: u64,
    src_flows: u64,
    dst_flows: u64,
    stored_deny: bool,
}

impl Merged {
    fn num_flows(&self) -> u64 {
        self.src_flows.max(self.dst_flows)
    }
}

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ChangeKey {
    change: ChangeKind,
    source_namespace: Option<String>,
    source_name_aggr: String,
    dest_namespace: Option<String>,
    dest_name_aggr: String,
    proto: String,
    dest_port: Option<u16>,
    before: Option<String>,
    after: Option<String>,
    before_action: Option<Action>,
    after_action: Option<Action>,
    reason: Option<String>,
}

/// Re-evaluates the stored tuples with the current (`before`) and the draft (`after`)
/// engines and reports what changes. See the module documentation.
pub fn preview(
    before: &Engine,
    after: &Engine,
    changed: &PolicyId,
    tuples: &[FlowTuple],
) -> Result<Preview, PreviewError> {
    let (bi, ai) = (
        before.inventory.policy_index(changed),
        after.inventory.policy_index(changed),
    );
    let operation = match (bi, ai) {
        (None, None) => return Err(PreviewError::UnknownPolicy(changed.clone())),
        (None, Some(_)) => Operation::Create,
        (Some(_), Some(_)) => Operation::Replace,
        (Some(_), None) => Operation::Delete,
    };
    let (bi_inv, ai_inv) = (&before.inventory, &after.inventory);
    if bi_inv.endpoints != ai_inv.endpoints
        || bi_inv.network_sets != ai_inv.network_sets
        || bi_inv.namespaces != ai_inv.namespaces
    {
        return Err(PreviewError::InventoriesDiffer);
    }
    let staged = bi.is_some_and(|i| bi_inv.policies[i].kind.is_staged())
        || ai.is_some_and(|i| ai_inv.policies[i].kind.is_staged());
    let compared = if staged {
        Compared::Pending
    } else {
        Compared::Enforced
    };
    let pending = compared == Compared::Pending;
    let versions: Vec<&Policy> = bi
        .map(|i| &bi_inv.policies[i])
        .into_iter()
        .chain(ai.map(|i| &ai_inv.policies[i]))
        .collect();

    // Reporters merged: one entry per (source, destination, protocol).
    let mut merged: FxHashMap<(&FlowEnd, &FlowEnd, Protocol), (usize, Merged)> =
        FxHashMap::default();
    for (i, t) in tuples.iter().enumerate() {
        let (_, m) = merged
            .entry((&t.source, &t.dest, t.proto))
            .or_insert_with(|| (i, Merged::default()));
        m.flow_logs += t.flow_logs;
        match t.reporter {
            Reporter::Src => m.src_flows += t.num_flows,
            Reporter::Dst => m.dst_flows += t.num_flows,
        }
        m.stored_deny |= t.action == Action::Deny;
    }

    let index = EndpointIndex::new(before);
    let affected_before = Affected::new(before, bi, compared);
    let affected_after = Affected::new(after, ai, compared);
    let applies = |ep: u32, ingress: bool| {
        affected_before.applies(before, ep, ingress) || affected_after.applies(after, ep, ingress)
    };

    let mut out = Preview {
        window: None,
        policy: changed.clone(),
        operation,
        compared,
        tuples: merged.len(),
        evaluated_tuples: 0,
        flow_logs: 0,
        num_flows: 0,
        summary: Summary::default(),
        summary_num_flows: Summary::default(),
        stored_mismatch_flow_logs: 0,
        changes: Vec::new(),
    };
    let mut groups: BTreeMap<ChangeKey, (u64, u64)> = BTreeMap::new();
    for ((source, dest, _), (first, m)) in &merged {
        let tuple = &tuples[*first];
        let num_flows = m.num_flows();
        out.flow_logs += m.flow_logs;
        out.num_flows += num_flows;
        let src = resolve_side(before, &index, source);
        let dst = resolve_side(before, &index, dest);
        let relevant = |side: &Side, end: &FlowEnd, ingress: bool| match &side.problem {
            Some(_) => versions.iter().any(|p| may_apply(p, end, ingress)),
            None => side.endpoints.iter().any(|&ep| applies(ep, ingress)),
        };
        if !relevant(&src, source, false) && !relevant(&dst, dest, true) {
            out.summary.add(None, m.flow_logs);
            out.summary_num_flows.add(None, num_flows);
            continue;
        }
        out.evaluated_tuples += 1;
        let key = |change, b: &Outcome, a: &Outcome, reason: Option<String>| {
            let ingress = shown_direction(b.verdict.as_ref(), a.verdict.as_ref(), pending);
            ChangeKey {
                change,
                source_namespace: source.namespace.clone(),
                source_name_aggr: source.name_aggr.clone(),
                dest_namespace: dest.namespace.clone(),
                dest_name_aggr: dest.name_aggr.clone(),
                proto: tuple.proto.flow_log_name().into_owned(),
                dest_port: dest.port,
                before: deciding_hit(before, b.verdict.as_ref(), pending, ingress),
                after: deciding_hit(after, a.verdict.as_ref(), pending, ingress),
                before_action: b.action,
                after_action: a.action,
                reason,
            }
        };
        let problem = src.problem.clone().or_else(|| dst.problem.clone());
        let (kind, change_key) = match problem {
            Some(reason) => {
                let none = || Outcome {
                    action: None,
                    verdict: None,
                    reason: None,
                };
                (
                    Some(ChangeKind::Uncertain),
                    Some(key(ChangeKind::Uncertain, &none(), &none(), Some(reason))),
                )
            }
            None => {
                let b = evaluate_side_pairs(before, &src, &dst, tuple, compared);
                let a = evaluate_side_pairs(after, &src, &dst, tuple, compared);
                let stored = if m.stored_deny {
                    Action::Deny
                } else {
                    Action::Allow
                };
                if b.reason.is_none() && !pending && b.action != Some(stored) {
                    out.stored_mismatch_flow_logs += m.flow_logs;
                }
                let reason = b
                    .reason
                    .clone()
                    .map(|r| format!("today: {r}"))
                    .or_else(|| a.reason.clone().map(|r| format!("draft: {r}")));
                let kind = match (reason.is_some(), b.action, a.action) {
                    (true, _, _) => Some(ChangeKind::Uncertain),
                    (false, Some(Action::Allow), Some(Action::Deny)) => {
                        Some(ChangeKind::AllowToDeny)
                    }
                    (false, Some(Action::Deny), Some(Action::Allow)) => {
                        Some(ChangeKind::DenyToAllow)
                    }
                    _ => None,
                };
                (kind, kind.map(|k| key(k, &b, &a, reason)))
            }
        };
        out.summary.add(kind, m.flow_logs);
        out.summary_num_flows.add(kind, num_flows);
        if let Some(k) = change_key {
            let g = groups.entry(k).or_default();
            g.0 += m.flow_logs;
            g.1 += num_flows;
        }
    }
    out.changes = groups
        .into_iter()
        .map(|(k, (flow_logs, num_flows))| Change {
            change: k.change,
            source_namespace: k.source_namespace,
            source_name_aggr: k.source_name_aggr,
            dest_namespace: k.dest_namespace,
            dest_name_aggr: k.dest_name_aggr,
            proto: k.proto,
            dest_port: k.dest_port,
            flow_logs,
            num_flows,
            before: k.before,
            after: k.after,
            before_action: k.before_action,
            after_action: k.after_action,
            reason: k.reason,
        })
        .collect();
    out.changes
        .sort_by(|a, b| b.num_flows.cmp(&a.num_flows).then(a.change.cmp(&b.change)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlens_manifests::{LoadOptions, load_str, parse_policy};
    use flowlens_model::{FlowEnd, Inventory, Labels};
    use std::sync::Arc;

    const CLUSTER: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: engine, namespace: fme}
spec:
  replicas: 2
  template: {metadata: {labels: {component: engine}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: core, namespace: fme}
spec:
  replicas: 1
  template: {metadata: {labels: {component: core}}}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: engine, namespace: fme}
spec:
  selector: component == "engine"
  types: [Egress]
  egress:
    - action: Allow
      protocol: TCP
      destination: {selector: component == "core", ports: [7070]}
    - action: Allow
      protocol: TCP
      destination: {nets: [203.0.113.0/24]}
"#;

    const FIXED: &str = r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: engine, namespace: fme}
spec:
  selector: component == "engine"
  types: [Egress]
  egress:
    - action: Allow
      protocol: TCP
      destination: {selector: component == "core", ports: [7070, "42000:43000"]}
    - action: Allow
      protocol: TCP
      destination: {nets: [203.0.113.0/24]}
"#;

    fn inventory() -> Inventory {
        load_str(CLUSTER, "c.yaml", &LoadOptions::default())
            .unwrap()
            .inventory
    }

    fn wep(inv: &Inventory, workload: &str, port: Option<u16>) -> FlowEnd {
        let e = inv
            .endpoints
            .iter()
            .find(|e| e.workload.as_ref().is_some_and(|w| w.name == workload))
            .unwrap();
        FlowEnd {
            ip: None,
            name: None,
            name_aggr: e.name_aggr.clone(),
            namespace: e.namespace.clone(),
            port,
            endpoint_type: Some(EndpointType::Wep),
            labels: e.labels.clone(),
        }
    }

    /// An engine → core flow on the port pool, denied today at egress.
    fn engine_to_pool_denied(inv: &Inventory) -> FlowTuple {
        tuple(
            wep(inv, "engine", None),
            wep(inv, "core", Some(42001)),
            Reporter::Src,
            Action::Deny,
        )
    }

    fn tuple(source: FlowEnd, dest: FlowEnd, reporter: Reporter, action: Action) -> FlowTuple {
        FlowTuple {
            source,
            dest,
            proto: Protocol::Tcp,
            reporter,
            action,
            flow_logs: 2,
            num_flows: 5,
        }
    }

    fn engines(draft: &str) -> (Engine, Engine, PolicyId) {
        let inv = inventory();
        let policy = parse_policy(draft, "draft.yaml", &LoadOptions::default()).unwrap();
        let id = policy.id();
        let after = Arc::new(inv.with_policy(policy).unwrap());
        (Engine::new(inv), Engine::new(after), id)
    }

    #[test]
    fn the_port_pool_fix_turns_exactly_those_flows_allowed() {
        let (before, after, id) = engines(FIXED);
        let inv = before.inventory().clone();
        let engine = wep(&inv, "engine", None);
        let tuples = vec![
            // Denied today at egress (only the source reports it).
            tuple(
                engine.clone(),
                wep(&inv, "core", Some(42001)),
                Reporter::Src,
                Action::Deny,
            ),
            // Allowed today: both reporters, counted once.
            tuple(
                engine.clone(),
                wep(&inv, "core", Some(7070)),
                Reporter::Src,
                Action::Allow,
            ),
            tuple(
                engine.clone(),
                wep(&inv, "core", Some(7070)),
                Reporter::Dst,
                Action::Allow,
            ),
            // The policy does not apply to the core's egress: not evaluated.
            tuple(
                wep(&inv, "core", None),
                wep(&inv, "engine", Some(7500)),
                Reporter::Src,
                Action::Allow,
            ),
        ];
        let p = preview(&before, &after, &id, &tuples).unwrap();
        assert_eq!(p.operation, Operation::Replace);
        assert_eq!(p.tuples, 3);
        assert_eq!(p.evaluated_tuples, 2);
        assert_eq!(p.flow_logs, 8);
        assert_eq!(p.num_flows, 15);
        assert_eq!(p.summary.deny_to_allow, 2);
        assert_eq!(p.summary.unchanged, 6);
        assert_eq!(p.summary_num_flows.unchanged, 10);
        assert_eq!(p.summary.uncertain + p.summary.allow_to_deny, 0);
        assert_eq!(p.stored_mismatch_flow_logs, 0);
        let [c] = &p.changes[..] else {
            panic!("{:?}", p.changes)
        };
        assert_eq!(c.change, ChangeKind::DenyToAllow);
        assert_eq!(c.dest_port, Some(42001));
        assert_eq!(c.before.as_deref(), Some("0|default|np:fme/engine|deny|-1"));
        assert_eq!(c.after.as_deref(), Some("0|default|np:fme/engine|allow|0"));
        assert_eq!(c.reason, None);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["changes"][0]["change"], "deny_to_allow");
        assert_eq!(json["policy"], "np:fme/engine");
    }

    #[test]
    fn what_was_aggregated_away_makes_flows_uncertain() {
        let (before, after, id) = engines(FIXED);
        let inv = before.inventory().clone();
        let engine = wep(&inv, "engine", None);
        let public = FlowEnd {
            ip: None,
            name: None,
            name_aggr: "pub".into(),
            namespace: None,
            port: Some(42500),
            endpoint_type: Some(EndpointType::Net),
            labels: Labels::new(),
        };
        let mut gone = wep(&inv, "core", Some(42002));
        gone.name_aggr = "core-gone-*".into();
        // A logged address that is no pod any more.
        let mut moved = wep(&inv, "core", Some(42003));
        moved.ip = Some("10.99.0.1".parse().unwrap());
        let tuples = vec![
            // Which public address? Rule 1 allows 203.0.113.0/24 only.
            tuple(engine.clone(), public.clone(), Reporter::Src, Action::Deny),
            // A destination the inventory no longer has.
            tuple(engine.clone(), gone, Reporter::Src, Action::Deny),
            tuple(engine.clone(), moved, Reporter::Src, Action::Deny),
        ];
        let p = preview(&before, &after, &id, &tuples).unwrap();
        assert_eq!(p.summary.uncertain, 6, "{:#?}", p.changes);
        assert_eq!(p.summary.deny_to_allow + p.summary.allow_to_deny, 0);
        let reasons: Vec<&str> = p
            .changes
            .iter()
            .filter_map(|c| c.reason.as_deref())
            .collect();
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("destination nets") && r.contains("np:fme/engine")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("not in the inventory")),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("10.99.0.1") && r.contains("no endpoint")),
            "{reasons:?}"
        );

        // With the address kept, the same flow is certain (and unchanged).
        let mut known = public;
        known.ip = Some("203.0.113.9".parse().unwrap());
        let p = preview(
            &before,
            &after,
            &id,
            &[tuple(engine, known, Reporter::Src, Action::Allow)],
        )
        .unwrap();
        assert_eq!(p.summary.unchanged, 2);
        assert!(p.changes.is_empty());
    }

    #[test]
    fn a_staged_draft_compares_pending_verdicts() {
        let staged = FIXED.replace("kind: NetworkPolicy", "kind: StagedNetworkPolicy");
        let (before, after, id) = engines(&staged);
        let inv = before.inventory().clone();
        let t = engine_to_pool_denied(&inv);
        let p = preview(&before, &after, &id, &[t]).unwrap();
        assert_eq!(p.compared, Compared::Pending);
        assert_eq!(p.operation, Operation::Create);
        // Enforcing the staged policy would replace np:fme/engine and allow the pool.
        assert_eq!(p.summary.deny_to_allow, 2, "{:#?}", p.changes);
        assert_eq!(
            p.changes[0].after.as_deref(),
            Some("0|default|snp:fme/engine|allow|0")
        );
    }

    #[test]
    fn deleting_a_policy_and_unknown_ids() {
        let inv = inventory();
        let id = PolicyId::parse("np:fme/engine").unwrap();
        let after = Engine::new(inv.without_policy(&id).unwrap());
        let before = Engine::new(inv.clone());
        let t = engine_to_pool_denied(&inv);
        let p = preview(&before, &after, &id, &[t]).unwrap();
        assert_eq!(p.operation, Operation::Delete);
        // Without the policy, the namespace profile allows.
        assert_eq!(p.summary.deny_to_allow, 2);
        assert_eq!(
            p.changes[0].after.as_deref(),
            Some("0|__PROFILE__|pro:kns.fme|allow|0")
        );
        let nope = PolicyId::parse("np:fme/nope").unwrap();
        assert_eq!(
            preview(&before, &after, &nope, &[]),
            Err(PreviewError::UnknownPolicy(nope))
        );
    }
}
