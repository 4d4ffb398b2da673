//! Goldmane's `Flow` message as a Calico flow log, shared by the Goldmane client and the
//! Felix collector (Felix pushes the same message Goldmane serves).
//!
//! Goldmane's flows are aggregated as Felix aggregates them: names (`name_aggr`), no IPs,
//! no source port, no pod names. Policy hits arrive as structured `PolicyHit` messages and
//! leave as the hit strings Flowlens writes, built the way Calico's own `PolicyHit.ToString`
//! builds them (an end-of-tier hit is named after the policy that triggered it) and then
//! checked by [`PolicyHit::parse`], so a hit that Flowlens could not read back is rejected
//! here rather than stored.

use crate::proto::goldmane as pb;
use flowlens_model::{
    Action, EndpointType, FlowEnd, FlowLog, FlowService, Labels, PolicyHit, PolicyKind, Protocol,
    Reporter,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use twox_hash::XxHash3_128;

/// Why a flow could not be stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FlowError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, FlowError> {
    Err(FlowError(message.into()))
}

/// The Calico flow log a Goldmane `Flow` stands for. For many flows use a
/// [`FlowConverter`], which remembers the hits it has read.
pub fn flow_log(flow: pb::Flow) -> Result<FlowLog, FlowError> {
    FlowConverter::default().convert(flow)
}

/// Hits remembered at most; a converter that reaches this forgets them all and starts
/// again.
const HITS_CACHED: usize = 16_384;

/// Turns Goldmane flows into flow logs, remembering each distinct hit message it has read:
/// a cluster's flows name the same few policies over and over. Takes the message by value
/// to move its strings into the flow log rather than copy them.
#[derive(Debug, Default)]
pub struct FlowConverter {
    hits: HashMap<pb::PolicyHit, PolicyHit>,
}

impl FlowConverter {
    pub fn convert(&mut self, flow: pb::Flow) -> Result<FlowLog, FlowError> {
        convert(flow, &mut self.hits)
    }
}

fn convert(
    flow: pb::Flow,
    cache: &mut HashMap<pb::PolicyHit, PolicyHit>,
) -> Result<FlowLog, FlowError> {
    let Some(key) = flow.key else {
        return err("flow has no key");
    };
    if flow.end_time < flow.start_time {
        return err(format!(
            "end_time {} is before start_time {}",
            flow.end_time, flow.start_time
        ));
    }
    let action = match pb::Action::try_from(key.action) {
        Ok(pb::Action::Allow) => Action::Allow,
        Ok(pb::Action::Deny) => Action::Deny,
        _ => return err(format!("action {} is not Allow or Deny", key.action)),
    };
    let reporter = match pb::Reporter::try_from(key.reporter) {
        Ok(pb::Reporter::Src) => Reporter::Src,
        Ok(pb::Reporter::Dst) => Reporter::Dst,
        _ => return err(format!("reporter {} is not Src or Dst", key.reporter)),
    };
    let (enforced_policies, pending_policies) = match &key.policies {
        Some(trace) => (
            hits(&trace.enforced_policies, "enforced", cache)?,
            hits(&trace.pending_policies, "pending", cache)?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let dest_service = match owned_text(key.dest_service_name) {
        Some(name) => Some(FlowService {
            namespace: owned_text(key.dest_service_namespace).unwrap_or_else(dash),
            name,
            port_name: owned_text(key.dest_service_port_name).unwrap_or_else(dash),
            port_num: port(key.dest_service_port, "dest_service_port")?,
        }),
        None => None,
    };
    Ok(FlowLog {
        start_time: flow.start_time,
        end_time: flow.end_time,
        source: FlowEnd {
            ip: None,
            name: None,
            name_aggr: owned_text(key.source_name).unwrap_or_else(dash),
            namespace: owned_text(key.source_namespace),
            port: None,
            endpoint_type: endpoint_type(key.source_type, "source_type")?,
            labels: labels(flow.source_labels),
        },
        dest: FlowEnd {
            ip: None,
            name: None,
            name_aggr: owned_text(key.dest_name).unwrap_or_else(dash),
            namespace: owned_text(key.dest_namespace),
            port: Some(port(key.dest_port, "dest_port")?),
            endpoint_type: endpoint_type(key.dest_type, "dest_type")?,
            labels: labels(flow.dest_labels),
        },
        dest_service,
        proto: protocol(&key.proto)?,
        action,
        reporter,
        enforced_policies,
        pending_policies,
        bytes_in: count(flow.bytes_in, "bytes_in")?,
        bytes_out: count(flow.bytes_out, "bytes_out")?,
        packets_in: count(flow.packets_in, "packets_in")?,
        packets_out: count(flow.packets_out, "packets_out")?,
        // Felix reports its flow log's `num_flows` as the live connections.
        num_flows: count(flow.num_connections_live, "num_connections_live")?,
        num_flows_started: count(flow.num_connections_started, "num_connections_started")?,
        num_flows_completed: count(flow.num_connections_completed, "num_connections_completed")?,
        process_name: None,
        process_id: None,
        host: None,
    })
}

fn dash() -> String {
    "-".to_string()
}

/// The string itself unless it is Calico's "not applicable" (`-`) or empty.
fn owned_text(value: String) -> Option<String> {
    text(&value).is_some().then_some(value)
}

/// `None` for Calico's "not applicable" (`-`) and for empty strings.
fn text(value: &str) -> Option<&str> {
    match value {
        "" | "-" => None,
        v => Some(v),
    }
}

fn port(value: i64, field: &str) -> Result<u16, FlowError> {
    u16::try_from(value).or_else(|_| err(format!("{field} {value} is not a port")))
}

fn count(value: i64, field: &str) -> Result<u64, FlowError> {
    u64::try_from(value).or_else(|_| err(format!("{field} {value} is negative")))
}

fn endpoint_type(value: i32, field: &str) -> Result<Option<EndpointType>, FlowError> {
    Ok(match pb::EndpointType::try_from(value) {
        Ok(pb::EndpointType::WorkloadEndpoint) => Some(EndpointType::Wep),
        Ok(pb::EndpointType::HostEndpoint) => Some(EndpointType::Hep),
        Ok(pb::EndpointType::NetworkSet) => Some(EndpointType::Ns),
        Ok(pb::EndpointType::Network) => Some(EndpointType::Net),
        Ok(pb::EndpointType::Unspecified) => None,
        Err(_) => return err(format!("{field} {value} is not an endpoint type")),
    })
}

/// Felix names protocols in lower case and falls back to the number; `ipip` and `esp` are
/// names Felix has that Flowlens keeps as numbers.
fn protocol(text: &str) -> Result<Protocol, FlowError> {
    match text {
        "ipip" => Ok(Protocol::Other(4)),
        "esp" => Ok(Protocol::Other(50)),
        t => Protocol::parse(t).or_else(|e| err(format!("proto: {e}"))),
    }
}

/// `key=value` labels; entries without `=` carry nothing and are skipped, as Felix does.
fn labels(flat: Vec<String>) -> Labels {
    flat.into_iter()
        .filter_map(|mut key| {
            let at = key.find('=').filter(|&at| at > 0)?;
            let value = key[at + 1..].to_string();
            key.truncate(at);
            Some((key, value))
        })
        .collect()
}

fn hits(
    hits: &[pb::PolicyHit],
    trace: &str,
    cache: &mut HashMap<pb::PolicyHit, PolicyHit>,
) -> Result<Vec<PolicyHit>, FlowError> {
    let mut out = Vec::with_capacity(hits.len());
    for h in hits {
        if let Some(known) = cache.get(h) {
            out.push(known.clone());
            continue;
        }
        let read = hit(h).map_err(|e| FlowError(format!("{trace} policy hit: {}", e.0)))?;
        if cache.len() >= HITS_CACHED {
            cache.clear();
        }
        cache.insert(h.clone(), read.clone());
        out.push(read);
    }
    // Felix gathers a trace from a set; the index gives the order.
    out.sort_by_key(|h| h.index);
    Ok(out)
}

/// One hit, spelled as Calico ≥ 3.32 spells it and read back by Flowlens' own parser.
fn hit(h: &pb::PolicyHit) -> Result<PolicyHit, FlowError> {
    let kind = pb::PolicyKind::try_from(h.kind).or_else(|_| err(format!("kind {}", h.kind)))?;
    // An end-of-tier hit is named after the policy that selected the flow in that tier.
    let subject = if kind == pb::PolicyKind::EndOfTier {
        match &h.trigger {
            Some(trigger) => trigger,
            None => return err("end-of-tier hit without a trigger"),
        }
    } else {
        h
    };
    let subject_kind = pb::PolicyKind::try_from(subject.kind)
        .or_else(|_| err(format!("kind {}", subject.kind)))?;
    let action = match pb::Action::try_from(h.action) {
        Ok(pb::Action::Allow) => "allow",
        Ok(pb::Action::Deny) => "deny",
        Ok(pb::Action::Pass) => "pass",
        _ => return err(format!("action {} is not Allow, Deny or Pass", h.action)),
    };
    let (tier, tag) = match subject_kind {
        pb::PolicyKind::Profile => (flowlens_model::PROFILE_TIER, "pro"),
        pb::PolicyKind::CalicoNetworkPolicy => (h.tier.as_str(), "np"),
        pb::PolicyKind::GlobalNetworkPolicy => (h.tier.as_str(), "gnp"),
        pb::PolicyKind::StagedNetworkPolicy => (h.tier.as_str(), "snp"),
        pb::PolicyKind::StagedGlobalNetworkPolicy => (h.tier.as_str(), "sgnp"),
        pb::PolicyKind::StagedKubernetesNetworkPolicy => (h.tier.as_str(), "sknp"),
        pb::PolicyKind::NetworkPolicy => (h.tier.as_str(), "knp"),
        pb::PolicyKind::ClusterNetworkPolicy => {
            (h.tier.as_str(), PolicyKind::AdminNetworkPolicy.hit_tag())
        }
        other => return err(format!("policy kind {}", other.as_str_name())),
    };
    let name = match text(&subject.namespace) {
        Some(ns) => format!("{ns}/{}", subject.name),
        None => subject.name.clone(),
    };
    let spelled = format!(
        "{}|{tier}|{tag}:{name}|{action}|{}",
        h.policy_index, h.rule_index
    );
    PolicyHit::parse(&spelled).map_err(|e| FlowError(e.to_string()))
}

/// How long a flow is remembered, in the flows' own time: a flow whose start time is older
/// than the newest start time seen from the same scope by more than this is forgotten.
pub const DEFAULT_DEDUP_RETENTION_SECS: i64 = 15 * 60;

/// Remembers which flows were stored, to skip them when they arrive again.
///
/// Both Goldmane and Felix send a flow again after a reconnect (Goldmane from the stream's
/// start time, Felix everything it cached in the last five minutes). A flow is the same
/// flow when its identity is: the scope it came from (one Felix node, or one Goldmane
/// server), its key (ends, port, service, protocol, action, reporter and both policy
/// traces) and its time window. Counters and labels are not part of the identity, as in
/// Goldmane's own collector. Identities are kept as 128-bit fingerprints (XXH3-128 with a
/// random seed) and forgotten by the flows' time, not the wall clock, so a long outage does
/// not make old flows look new.
#[derive(Debug)]
pub struct FlowDedup {
    retention: i64,
    /// Random per process, so identities cannot be chosen to collide.
    seed: u64,
    /// The identity's bytes, reused from flow to flow.
    scratch: Vec<u8>,
    scopes: HashMap<String, ScopeSeen>,
}

#[derive(Debug, Default)]
struct ScopeSeen {
    newest_start: i64,
    seen: HashSet<u128>,
    by_start: BTreeMap<i64, Vec<u128>>,
}

/// A flow's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    value: u128,
    start: i64,
}

impl FlowDedup {
    pub fn new(retention_secs: i64) -> FlowDedup {
        FlowDedup {
            retention: retention_secs.max(0),
            seed: RandomState::new().hash_one(0u64),
            scratch: Vec::with_capacity(512),
            scopes: HashMap::new(),
        }
    }

    pub fn fingerprint(&mut self, log: &FlowLog) -> Fingerprint {
        self.scratch.clear();
        identity(log, &mut ByteSink(&mut self.scratch));
        Fingerprint {
            value: XxHash3_128::oneshot_with_seed(self.seed, &self.scratch),
            start: log.start_time,
        }
    }

    /// Whether a flow with this identity was stored from this scope.
    pub fn contains(&self, scope: &str, fp: Fingerprint) -> bool {
        self.scopes
            .get(scope)
            .is_some_and(|s| s.seen.contains(&fp.value))
    }

    /// Remembers a stored flow. Returns false when it was already known.
    pub fn insert(&mut self, scope: &str, fp: Fingerprint) -> bool {
        let seen = match self.scopes.get_mut(scope) {
            Some(s) => s,
            None => self.scopes.entry(scope.to_string()).or_default(),
        };
        if !seen.seen.insert(fp.value) {
            return false;
        }
        seen.by_start.entry(fp.start).or_default().push(fp.value);
        if fp.start > seen.newest_start {
            seen.newest_start = fp.start;
            let keep_from = fp.start.saturating_sub(self.retention);
            let kept = seen.by_start.split_off(&keep_from);
            for fps in std::mem::replace(&mut seen.by_start, kept).into_values() {
                for v in fps {
                    seen.seen.remove(&v);
                }
            }
        }
        true
    }

    /// Flows remembered, over all scopes.
    pub fn len(&self) -> usize {
        self.scopes.values().map(|s| s.seen.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets a scope (a node that has gone).
    pub fn forget_scope(&mut self, scope: &str) {
        self.scopes.remove(scope);
    }
}

/// Collects what `Hash` writes, for hashing in one go. `Hash` writes string lengths along
/// with the bytes, so different identities never write the same bytes.
struct ByteSink<'a>(&'a mut Vec<u8>);

impl Hasher for ByteSink<'_> {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn finish(&self) -> u64 {
        0
    }
}

fn identity(log: &FlowLog, h: &mut impl Hasher) {
    log.start_time.hash(h);
    log.end_time.hash(h);
    for end in [&log.source, &log.dest] {
        end.name_aggr.hash(h);
        end.namespace.hash(h);
        end.endpoint_type.hash(h);
    }
    log.dest.port.hash(h);
    match &log.dest_service {
        Some(s) => (1u8, &s.namespace, &s.name, &s.port_name, s.port_num).hash(h),
        None => 0u8.hash(h),
    }
    log.proto.hash(h);
    log.action.hash(h);
    log.reporter.hash(h);
    log.enforced_policies.hash(h);
    0xffu8.hash(h);
    log.pending_policies.hash(h);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field values from Calico's goldmane testutils (`NewRandomFlow`) and its docs.
    pub(crate) fn sample() -> pb::Flow {
        pb::Flow {
            key: Some(pb::FlowKey {
                source_name: "client-aggr-1".into(),
                source_namespace: "test-ns".into(),
                source_type: pb::EndpointType::WorkloadEndpoint as i32,
                dest_name: "server-aggr-1".into(),
                dest_namespace: "test-ns-2".into(),
                dest_type: pb::EndpointType::WorkloadEndpoint as i32,
                dest_port: 8080,
                dest_service_name: "backend-service".into(),
                dest_service_namespace: "test-ns-2".into(),
                dest_service_port_name: "http".into(),
                dest_service_port: 80,
                proto: "tcp".into(),
                reporter: pb::Reporter::Dst as i32,
                action: pb::Action::Deny as i32,
                policies: Some(pb::PolicyTrace {
                    enforced_policies: vec![
                        pb::PolicyHit {
                            kind: pb::PolicyKind::EndOfTier as i32,
                            tier: "default".into(),
                            action: pb::Action::Deny as i32,
                            policy_index: 1,
                            rule_index: -1,
                            trigger: Some(Box::new(pb::PolicyHit {
                                kind: pb::PolicyKind::CalicoNetworkPolicy as i32,
                                namespace: "test-ns-2".into(),
                                name: "policy-2".into(),
                                tier: "default".into(),
                                ..Default::default()
                            })),
                            ..Default::default()
                        },
                        pb::PolicyHit {
                            kind: pb::PolicyKind::ClusterNetworkPolicy as i32,
                            name: "cluster-baseline".into(),
                            tier: "kube-admin".into(),
                            action: pb::Action::Pass as i32,
                            policy_index: 0,
                            rule_index: 2,
                            ..Default::default()
                        },
                    ],
                    pending_policies: vec![pb::PolicyHit {
                        kind: pb::PolicyKind::Profile as i32,
                        name: "kns.test-ns-2".into(),
                        action: pb::Action::Allow as i32,
                        policy_index: 0,
                        rule_index: 0,
                        ..Default::default()
                    }],
                }),
            }),
            start_time: 1_700_000_000,
            end_time: 1_700_000_015,
            source_labels: vec!["app=client".into(), "no-equals".into()],
            dest_labels: vec!["app=server".into(), "tier=db=primary".into()],
            packets_in: 10,
            packets_out: 20,
            bytes_in: 100,
            bytes_out: 200,
            num_connections_started: 1,
            num_connections_completed: 3,
            num_connections_live: 2,
        }
    }

    #[test]
    fn goldmane_flows_become_calico_flow_logs() {
        let log = flow_log(sample()).unwrap();
        let hits: Vec<String> = log
            .enforced_policies
            .iter()
            .map(|h| h.to_string())
            .collect();
        assert_eq!(
            hits,
            [
                "0|kube-admin|kcnp:cluster-baseline|pass|2",
                "1|default|np:test-ns-2/policy-2|deny|-1"
            ]
        );
        assert_eq!(
            log.pending_policies[0].to_string(),
            "0|__PROFILE__|pro:kns.test-ns-2|allow|0"
        );
        assert_eq!(log.source.name_aggr, "client-aggr-1");
        assert_eq!(log.source.labels.len(), 1);
        assert_eq!(log.dest.labels["tier"], "db=primary");
        assert_eq!(log.dest.port, Some(8080));
        assert_eq!(log.dest.endpoint_type, Some(EndpointType::Wep));
        let service = log.dest_service.unwrap();
        assert_eq!(
            (service.name.as_str(), service.port_num),
            ("backend-service", 80)
        );
        assert_eq!((log.action, log.reporter), (Action::Deny, Reporter::Dst));
        assert_eq!(
            (log.bytes_in, log.bytes_out, log.packets_out),
            (100, 200, 20)
        );
        assert_eq!(
            (
                log.num_flows,
                log.num_flows_started,
                log.num_flows_completed
            ),
            (2, 1, 3)
        );
    }

    #[test]
    fn bad_flows_are_rejected_with_a_reason() {
        type Mutation = Box<dyn Fn(&mut pb::Flow)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|f| f.key = None), "no key"),
            (Box::new(|f| f.end_time = 0), "before start_time"),
            (Box::new(|f| f.bytes_in = -1), "bytes_in -1 is negative"),
            (
                Box::new(|f| f.key.as_mut().unwrap().dest_port = 70_000),
                "dest_port 70000",
            ),
            (
                Box::new(|f| f.key.as_mut().unwrap().action = 3),
                "not Allow or Deny",
            ),
            (
                Box::new(|f| f.key.as_mut().unwrap().proto = "bogus".into()),
                "proto",
            ),
            (
                Box::new(|f| {
                    let trace = f.key.as_mut().unwrap().policies.as_mut().unwrap();
                    trace.enforced_policies[0].trigger = None;
                }),
                "without a trigger",
            ),
            (
                Box::new(|f| {
                    let trace = f.key.as_mut().unwrap().policies.as_mut().unwrap();
                    trace.enforced_policies[1].name = "bad name!".into();
                }),
                "invalid policy hit",
            ),
            (
                Box::new(|f| {
                    let trace = f.key.as_mut().unwrap().policies.as_mut().unwrap();
                    // A namespaced kind without its namespace.
                    trace.pending_policies[0].kind = pb::PolicyKind::CalicoNetworkPolicy as i32;
                    trace.pending_policies[0].tier = "default".into();
                }),
                "need a namespace",
            ),
        ];
        for (mutate, expected) in cases {
            let mut flow = sample();
            mutate(&mut flow);
            let e = flow_log(flow).unwrap_err();
            assert!(e.0.contains(expected), "{e} should mention {expected}");
        }
    }

    #[test]
    fn dedup_knows_a_flow_by_key_and_window_and_forgets_by_flow_time() {
        let mut dedup = FlowDedup::new(60);
        let log = flow_log(sample()).unwrap();
        // Hits read from the cache are the hits read afresh.
        let mut converter = FlowConverter::default();
        for _ in 0..2 {
            assert_eq!(converter.convert(sample()).unwrap(), log);
        }
        let fp = dedup.fingerprint(&log);
        assert!(!dedup.contains("node-a", fp));
        assert!(dedup.insert("node-a", fp));
        assert!(dedup.contains("node-a", fp));
        assert!(!dedup.insert("node-a", fp));
        // Another node's identical flow is another flow.
        assert!(!dedup.contains("node-b", fp));
        // Counters are not part of the identity; the window is.
        let mut more = log.clone();
        more.bytes_in += 1;
        assert_eq!(dedup.fingerprint(&more), fp);
        more.start_time += 15;
        more.end_time += 15;
        assert_ne!(dedup.fingerprint(&more), fp);
        // A flow more than the retention newer pushes the old one out.
        let mut later = log.clone();
        later.start_time += 61;
        later.end_time += 61;
        let later = dedup.fingerprint(&later);
        assert!(dedup.insert("node-a", later));
        assert!(!dedup.contains("node-a", fp));
        assert_eq!(dedup.len(), 1);
    }
}
