//! Aggregation as Calico does it: flows are summed per time bucket and per key, where the
//! key keeps more or less detail depending on the aggregation level, set separately for
//! allowed and denied flows.
//!
//! | level | what is aggregated away |
//! |---|---|
//! | 0 | nothing: one log per connection 5-tuple and reporter |
//! | 1 | source ports |
//! | 2 | source ports, and pod names and IPs (pods are named by their aggregated name `frontend-864f4fcdfd-*`; networks by `pub`/`pvt`) |
//! | 3 | as 2, and destination ports |
//!
//! Different actions, reporters and policy traces are never merged.

use crate::attribute::Attributed;
use flowlens_model::{
    Action, EndpointType, FlowEnd, FlowLog, FlowService, Labels, PolicyHit, Reporter,
};
use flowlens_policy::{Engine, Hit, Peer};
use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::SmallVec;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Arc;

/// Calico's aggregation levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AggregationLevel {
    None = 0,
    SourcePorts = 1,
    PodPrefix = 2,
    PodPrefixAndDestPorts = 3,
}

impl AggregationLevel {
    pub fn from_number(n: u8) -> Option<AggregationLevel> {
        match n {
            0 => Some(AggregationLevel::None),
            1 => Some(AggregationLevel::SourcePorts),
            2 => Some(AggregationLevel::PodPrefix),
            3 => Some(AggregationLevel::PodPrefixAndDestPorts),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AggregationConfig {
    /// Calico's default: 2.
    pub allowed: AggregationLevel,
    /// Calico's default: 1.
    pub denied: AggregationLevel,
    /// Bucket length in seconds; Calico's default flush interval is 15 s here too.
    pub interval_secs: i64,
}

impl Default for AggregationConfig {
    fn default() -> Self {
        AggregationConfig {
            allowed: AggregationLevel::PodPrefix,
            denied: AggregationLevel::SourcePorts,
            interval_secs: 15,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Who {
    /// A pod or host endpoint, by index.
    Endpoint(u32),
    /// All pods sharing a namespace and aggregated name.
    Group(u32),
    /// A network set, by index.
    NetworkSet(u32),
    /// Anything else.
    Net { private: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct EndKey {
    who: Who,
    ip: Option<IpAddr>,
    port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct AggKey {
    bucket: i64,
    reporter: Reporter,
    action: Action,
    proto: u8,
    src: EndKey,
    dst: EndKey,
    service: Option<(u32, u32)>,
    enforced: u32,
    pending: u32,
    process: Option<String>,
}

struct AggValue {
    connections: FxHashSet<u64>,
    started: u64,
    completed: u64,
    bytes_in: u64,
    bytes_out: u64,
    packets_in: u64,
    packets_out: u64,
    process_id: Option<Option<i64>>,
    /// Endpoints seen on each side, for the labels they have in common (a few suffice: pods
    /// of one workload share their template's labels).
    src_members: SmallVec<[u32; 4]>,
    dst_members: SmallVec<[u32; 4]>,
}

const MEMBERS_KEPT: usize = 8;

/// Sums attributed flows into flow logs.
pub struct Aggregator {
    engine: Arc<Engine>,
    config: AggregationConfig,
    group_of_endpoint: Vec<u32>,
    entries: FxHashMap<AggKey, AggValue>,
    hit_lists: FxHashMap<SmallVec<[Hit; 4]>, u32>,
    hit_list_by_id: Vec<SmallVec<[Hit; 4]>>,
    hasher: rustc_hash::FxBuildHasher,
}

impl Aggregator {
    pub fn new(engine: Arc<Engine>, config: AggregationConfig) -> Aggregator {
        let mut groups: FxHashMap<(Option<&str>, &str), u32> = FxHashMap::default();
        let group_of_endpoint = engine
            .inventory()
            .endpoints
            .iter()
            .map(|e| {
                let next = groups.len() as u32;
                *groups
                    .entry((e.namespace.as_deref(), e.name_aggr.as_str()))
                    .or_insert(next)
            })
            .collect();
        Aggregator {
            engine,
            config,
            group_of_endpoint,
            entries: FxHashMap::default(),
            hit_lists: FxHashMap::default(),
            hit_list_by_id: Vec::new(),
            hasher: rustc_hash::FxBuildHasher,
        }
    }

    pub fn config(&self) -> AggregationConfig {
        self.config
    }

    /// Open aggregates not yet flushed.
    pub fn pending_len(&self) -> usize {
        self.entries.len()
    }

    fn hit_list(&mut self, hits: &SmallVec<[Hit; 4]>) -> u32 {
        if let Some(&id) = self.hit_lists.get(hits) {
            return id;
        }
        let id = self.hit_list_by_id.len() as u32;
        self.hit_list_by_id.push(hits.clone());
        self.hit_lists.insert(hits.clone(), id);
        id
    }

    fn end_key(&self, peer: &Peer, port: u16, level: AggregationLevel, keep_port: bool) -> EndKey {
        let by_prefix = level >= AggregationLevel::PodPrefix;
        let who = match (peer.endpoint, self.engine.network_set_of(peer)) {
            (Some(ep), _) => {
                let is_pod = self.engine.inventory().endpoints[ep as usize].endpoint_type
                    == EndpointType::Wep;
                if by_prefix && is_pod {
                    Who::Group(self.group_of_endpoint[ep as usize])
                } else {
                    Who::Endpoint(ep)
                }
            }
            (None, Some(set)) => Who::NetworkSet(set as u32),
            (None, None) => Who::Net {
                private: flowlens_policy::is_private(peer.ip),
            },
        };
        EndKey {
            who,
            ip: (!by_prefix).then_some(peer.ip),
            port: keep_port.then_some(port),
        }
    }

    /// Adds one attributed flow.
    pub fn add(&mut self, flow: &Attributed) {
        let level = match flow.action {
            Action::Allow => self.config.allowed,
            Action::Deny => self.config.denied,
        };
        let interval = self.config.interval_secs.max(1);
        let bucket = flow.end_time.div_euclid(interval) * interval;
        let enforced = self.hit_list(&flow.enforced);
        let pending = self.hit_list(&flow.pending);
        let key = AggKey {
            bucket,
            reporter: flow.reporter,
            action: flow.action,
            proto: flow.proto.number(),
            src: self.end_key(
                &flow.src,
                flow.src_port,
                level,
                level == AggregationLevel::None,
            ),
            dst: self.end_key(
                &flow.dst,
                flow.dst_port,
                level,
                level < AggregationLevel::PodPrefixAndDestPorts,
            ),
            service: flow.service.map(|s| (s.service, s.port_index)),
            enforced,
            pending,
            process: flow.process_name.clone(),
        };
        let connection = self.hasher.hash_one((
            flow.src.ip,
            flow.src_port,
            flow.dst.ip,
            flow.dst_port,
            flow.proto,
        ));
        let value = self.entries.entry(key).or_insert_with(|| AggValue {
            connections: FxHashSet::default(),
            started: 0,
            completed: 0,
            bytes_in: 0,
            bytes_out: 0,
            packets_in: 0,
            packets_out: 0,
            process_id: None,
            src_members: SmallVec::new(),
            dst_members: SmallVec::new(),
        });
        value.connections.insert(connection);
        if flow.start_time >= bucket {
            value.started += 1;
        }
        // Raw records describe connections as they end (or as an exporter's periodic report
        // closes them), so each one completes in the bucket it lands in.
        value.completed += 1;
        value.bytes_in += flow.bytes_in;
        value.bytes_out += flow.bytes_out;
        value.packets_in += flow.packets_in;
        value.packets_out += flow.packets_out;
        value.process_id = match value.process_id {
            None => Some(flow.process_id),
            Some(p) if p == flow.process_id => Some(p),
            Some(_) => Some(None),
        };
        for (members, peer) in [
            (&mut value.src_members, &flow.src),
            (&mut value.dst_members, &flow.dst),
        ] {
            if let Some(ep) = peer.endpoint
                && members.len() < MEMBERS_KEPT
                && !members.contains(&ep)
            {
                members.push(ep);
            }
        }
    }

    /// Emits every aggregate whose bucket ended at or before `now`.
    pub fn flush_until(&mut self, now: i64) -> Vec<FlowLog> {
        let interval = self.config.interval_secs.max(1);
        let done: Vec<AggKey> = self
            .entries
            .keys()
            .filter(|k| k.bucket + interval <= now)
            .cloned()
            .collect();
        let mut out = Vec::with_capacity(done.len());
        for key in done {
            if let Some(value) = self.entries.remove(&key) {
                out.push(self.materialize(&key, value));
            }
        }
        out.sort_by_key(|l| l.start_time);
        out
    }

    /// Emits everything, open buckets included.
    pub fn flush_all(&mut self) -> Vec<FlowLog> {
        self.flush_until(i64::MAX)
    }

    /// Switches to a new engine (a new inventory). Open aggregates refer to the old one, so
    /// they are emitted first.
    pub fn set_engine(&mut self, engine: Arc<Engine>) -> Vec<FlowLog> {
        let flushed = self.flush_all();
        *self = Aggregator::new(engine, self.config);
        flushed
    }

    fn materialize(&self, key: &AggKey, value: AggValue) -> FlowLog {
        let engine = &*self.engine;
        let hits = |id: u32| -> Vec<PolicyHit> {
            self.hit_list_by_id[id as usize]
                .iter()
                .enumerate()
                .map(|(i, h)| engine.policy_hit(h, i))
                .collect()
        };
        let interval = self.config.interval_secs.max(1);
        let service = key.service.map(|(si, pi)| {
            let svc = &engine.inventory().services[si as usize];
            let port = &svc.ports[pi as usize];
            FlowService {
                namespace: svc.namespace.clone(),
                name: svc.name.clone(),
                port_name: port.name.clone().unwrap_or_else(|| "-".into()),
                port_num: port.port,
            }
        });
        FlowLog {
            start_time: key.bucket,
            end_time: key.bucket + interval,
            source: self.flow_end(&key.src, &value.src_members),
            dest: self.flow_end(&key.dst, &value.dst_members),
            dest_service: service,
            proto: flowlens_model::Protocol::from_number(key.proto),
            action: key.action,
            reporter: key.reporter,
            enforced_policies: hits(key.enforced),
            pending_policies: hits(key.pending),
            bytes_in: value.bytes_in,
            bytes_out: value.bytes_out,
            packets_in: value.packets_in,
            packets_out: value.packets_out,
            num_flows: value.connections.len() as u64,
            num_flows_started: value.started,
            num_flows_completed: value.completed,
            process_name: key.process.clone(),
            process_id: value.process_id.flatten(),
            host: None,
        }
    }

    fn flow_end(&self, end: &EndKey, members: &[u32]) -> FlowEnd {
        let inv = self.engine.inventory();
        let common_labels = || -> Labels {
            let mut iter = members.iter().map(|&m| &inv.endpoints[m as usize].labels);
            let Some(first) = iter.next() else {
                return Labels::new();
            };
            let mut labels = first.clone();
            for other in iter {
                labels.retain(|k, v| other.get(k) == Some(v));
            }
            labels
        };
        match end.who {
            Who::Endpoint(ep) => {
                let e = &inv.endpoints[ep as usize];
                FlowEnd {
                    ip: end.ip,
                    name: Some(e.name.clone()),
                    name_aggr: e.name_aggr.clone(),
                    namespace: e.namespace.clone(),
                    port: end.port,
                    endpoint_type: Some(e.endpoint_type),
                    labels: e.labels.clone(),
                }
            }
            Who::Group(_) => {
                // Every group key was made from an endpoint, which `add` recorded.
                let Some(&first) = members.first() else {
                    return FlowEnd::default();
                };
                let e = &inv.endpoints[first as usize];
                FlowEnd {
                    ip: None,
                    name: None,
                    name_aggr: e.name_aggr.clone(),
                    namespace: e.namespace.clone(),
                    port: end.port,
                    endpoint_type: Some(e.endpoint_type),
                    labels: common_labels(),
                }
            }
            Who::NetworkSet(set) => {
                let s = &inv.network_sets[set as usize];
                FlowEnd {
                    ip: end.ip,
                    name: end.ip.map(|_| s.name.clone()),
                    name_aggr: s.name.clone(),
                    namespace: s.namespace.clone(),
                    port: end.port,
                    endpoint_type: Some(EndpointType::Ns),
                    labels: s.labels.clone(),
                }
            }
            Who::Net { private } => FlowEnd {
                ip: end.ip,
                name: None,
                name_aggr: if private { "pvt" } else { "pub" }.into(),
                namespace: None,
                port: end.port,
                endpoint_type: Some(EndpointType::Net),
                labels: Labels::new(),
            },
        }
    }
}
