//! The boundary between a source and the ingest loop: what a source hands over
//! ([`SourceItem`]), the bounded queue it goes through ([`channel`]) and the counters every
//! source keeps ([`SourceCounters`], listed by a [`SourceRegistry`] that a server reads).
//!
//! Sources never wait for the consumer: [`ItemSender::send`] queues the item or, when the
//! queue is full, drops it and counts the drop. A UDP receiver that waited would leave
//! datagrams in the kernel's buffer until the kernel threw them away uncounted; a gRPC
//! stream that waited would stall the server, which then buffers or disconnects. A drop
//! here is at least visible in [`SourceStats::dropped`].

use flowlens_ingest::{ObservedRecord, ObserverVerdict, RateWindow};
use flowlens_model::{Action, FlowLog, Labels, PolicyKind, RawFlow, WorkloadRef};
use serde::Serialize;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// One record from a source.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceItem {
    /// A Calico flow log, already attributed by Felix (Goldmane client, Felix collector):
    /// stored as it is.
    FlowLog(Box<FlowLog>),
    /// A raw 5-tuple record (IPFIX, NetFlow): enriched and attributed by the engine.
    Raw(RawFlow),
    /// A raw record with what the observer that saw it said about it (Hubble): attributed
    /// by the engine like [`SourceItem::Raw`], then compared with the observer's verdict.
    Observed(Box<ObservedFlow>),
    /// A raw record with only what the observer said about policy at the observing end
    /// ([`Observation::observer_verdict`]): all the ingest loop holds against the engine,
    /// without the endpoints, labels and services an [`Observation`] keeps. What the Hubble
    /// client queues unless asked for whole observations.
    Verdict(ObservedRecord),
}

impl SourceItem {
    /// The record's end time (unix seconds): how far the source's clock has come.
    pub fn end_time(&self) -> i64 {
        match self {
            SourceItem::FlowLog(log) => log.end_time,
            SourceItem::Raw(raw) => raw.end_time,
            SourceItem::Observed(observed) => observed.raw.end_time,
            SourceItem::Verdict(record) => record.raw.end_time,
        }
    }
}

/// A raw record and the observer's own account of it.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedFlow {
    /// In the connection's direction: `src` is the end that opened it, whichever way the
    /// observed packet went.
    pub raw: RawFlow,
    pub observation: Observation,
}

/// What an observer (Hubble) reported about a flow: its verdict, the Kubernetes context it
/// knew, and the policies it named. Kept as reported, without interpretation, except for
/// the methods that say what it means for policy ([`Observation::policy_verdict`],
/// [`Observation::observer_verdict`], [`ObservedPolicy::modelled_kind`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Observation {
    pub verdict: ObservedVerdict,
    /// The observer's drop reason (`POLICY_DENIED`, `CT_MAP_INSERTION_FAILED`, …), when
    /// the verdict is a drop.
    pub drop_reason: Option<String>,
    /// The connection's direction at the endpoint that observed it.
    pub direction: Option<ObservedDirection>,
    /// Whether the observed packet went against the connection's direction. `None` when the
    /// observer did not know.
    pub is_reply: Option<bool>,
    /// The node the observation was made on.
    pub node: Option<String>,
    pub source: ObservedEndpoint,
    pub destination: ObservedEndpoint,
    pub source_service: Option<ServiceRef>,
    pub destination_service: Option<ServiceRef>,
    /// The policies the observer says allowed or denied the flow.
    pub policies: Vec<ObservedPolicy>,
    /// The observer's id for this event (Hubble's flow UUID).
    pub event_id: Option<String>,
    /// The TCP flags of the observed packet: an event is one packet, and only a SYN
    /// without ACK opens a connection.
    pub tcp_flags: Option<TcpFlags>,
}

/// TCP flags of one packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// The verdict an observer gave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObservedVerdict {
    #[default]
    Unknown,
    Forwarded,
    Dropped,
    Error,
    /// Policy audit mode: policy would have denied it, the datapath let it through.
    Audit,
    Redirected,
    Traced,
    Translated,
}

/// What an observation says about policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObservedPolicyVerdict {
    /// The packet passed policy.
    Allowed,
    /// Policy dropped it.
    Denied,
    /// Policy would have denied it but runs in audit mode.
    AuditDenied,
    /// Dropped or failed for a reason that is not policy: nothing to compare.
    NotPolicy,
}

/// Drop reasons that mean "policy denied" (Hubble's `POLICY_DENIED` and `POLICY_DENY`).
const POLICY_DROP_REASONS: [&str; 2] = ["POLICY_DENIED", "POLICY_DENY"];

impl Observation {
    /// What the observer's verdict says about policy, for comparing with the engine's.
    pub fn policy_verdict(&self) -> ObservedPolicyVerdict {
        match self.verdict {
            ObservedVerdict::Forwarded
            | ObservedVerdict::Redirected
            | ObservedVerdict::Traced
            | ObservedVerdict::Translated => ObservedPolicyVerdict::Allowed,
            ObservedVerdict::Audit => ObservedPolicyVerdict::AuditDenied,
            ObservedVerdict::Dropped
                if self
                    .drop_reason
                    .as_deref()
                    .is_some_and(|r| POLICY_DROP_REASONS.contains(&r)) =>
            {
                ObservedPolicyVerdict::Denied
            }
            ObservedVerdict::Dropped | ObservedVerdict::Error | ObservedVerdict::Unknown => {
                ObservedPolicyVerdict::NotPolicy
            }
        }
    }

    /// What the observation says about policy at the observing end, for the ingest loop to
    /// hold against the engine's verdict: the action, and the policies named for the
    /// observing end's direction (Hubble lists both directions').
    pub fn observer_verdict(&self) -> ObserverVerdict {
        let action = match self.policy_verdict() {
            ObservedPolicyVerdict::Allowed => Some(Action::Allow),
            ObservedPolicyVerdict::Denied | ObservedPolicyVerdict::AuditDenied => {
                Some(Action::Deny)
            }
            ObservedPolicyVerdict::NotPolicy => None,
        };
        let mut policies = Vec::new();
        let mut unmodelled = false;
        for p in &self.policies {
            if self.direction.is_none_or(|d| p.direction == d) {
                policies.push(p.to_string());
                unmodelled |= p.modelled_kind().is_none();
            }
        }
        ObserverVerdict {
            action,
            policies,
            unmodelled,
        }
    }
}

/// The connection's direction at the observing endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObservedDirection {
    Ingress,
    Egress,
}

/// One end as the observer knew it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ObservedEndpoint {
    pub ip: Option<IpAddr>,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    /// Kubernetes labels (`k8s:` labels without their prefix).
    pub labels: Labels,
    /// Labels from other sources, as reported (`reserved:world`, `cidr:…`, …).
    pub other_labels: Vec<String>,
    pub workloads: Vec<WorkloadRef>,
    /// The observer's security identity (Cilium's numeric identity).
    pub identity: Option<u32>,
    pub cluster: Option<String>,
}

/// A Service by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceRef {
    pub namespace: Option<String>,
    pub name: String,
}

/// A policy the observer named for a flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObservedPolicy {
    pub direction: ObservedDirection,
    pub effect: PolicyEffect,
    /// The kind as the observer spells it (`CiliumNetworkPolicy`, `NetworkPolicy`, …);
    /// empty when it did not say.
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub revision: u64,
}

/// Whether a named policy allowed or denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyEffect {
    Allow,
    Deny,
}

/// `CiliumNetworkPolicy default/rule1 (allow)`, as a person reads it.
impl std::fmt::Display for ObservedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.kind.is_empty() {
            "policy"
        } else {
            &self.kind
        };
        let effect = match self.effect {
            PolicyEffect::Allow => "allow",
            PolicyEffect::Deny => "deny",
        };
        match &self.namespace {
            Some(ns) => write!(f, "{kind} {ns}/{} ({effect})", self.name),
            None => write!(f, "{kind} {} ({effect})", self.name),
        }
    }
}

impl ObservedPolicy {
    /// The Flowlens policy kind this is, when Flowlens' engine models it. `None` for kinds
    /// it does not (CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy, …): those are
    /// reported as the observer named them, never mapped to a lookalike.
    pub fn modelled_kind(&self) -> Option<PolicyKind> {
        match self.kind.as_str() {
            "NetworkPolicy" => Some(PolicyKind::KubernetesNetworkPolicy),
            "AdminNetworkPolicy" => Some(PolicyKind::AdminNetworkPolicy),
            "BaselineAdminNetworkPolicy" => Some(PolicyKind::BaselineAdminNetworkPolicy),
            _ => None,
        }
    }
}

/// Which kind of source a counter set belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Goldmane,
    FelixCollector,
    Hubble,
    /// IPFIX, NetFlow v9 and v5 on one UDP socket.
    Netflow,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Goldmane => "goldmane",
            SourceKind::FelixCollector => "felix_collector",
            SourceKind::Hubble => "hubble",
            SourceKind::Netflow => "netflow",
        }
    }
}

/// A source's counters, shared between the source (which writes them) and whoever reports
/// them (which reads [`SourceCounters::stats`]). Cheap to update: atomics, and a lock taken
/// at most once a second for the rate.
#[derive(Debug)]
pub struct SourceCounters {
    name: String,
    kind: SourceKind,
    /// Live connections: 0/1 for a client or a bound socket, the number of pushing nodes
    /// for the Felix collector.
    connected: AtomicU32,
    records: AtomicU64,
    dropped: AtomicU64,
    duplicates: AtomicU64,
    lost_upstream: AtomicU64,
    sequence_gaps: AtomicU64,
    ignored: AtomicU64,
    errors: AtomicU64,
    reconnects: AtomicU64,
    /// Unix milliseconds of the last queued record; 0 before the first.
    last_record_ms: AtomicI64,
    last_error: Mutex<Option<String>>,
    rate: RateWindow,
}

/// A snapshot of a source's counters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceStats {
    /// What the source was configured with (e.g. `goldmane://goldmane.calico-system:7443`).
    pub name: String,
    pub kind: SourceKind,
    pub connected: bool,
    /// Live connections (the Felix collector counts nodes).
    pub connections: u32,
    /// Records handed to the queue.
    pub records: u64,
    /// Over the last 10 seconds.
    pub records_per_second: f64,
    /// Records dropped because the queue was full.
    pub dropped: u64,
    /// Records received again and skipped (resends after a reconnect).
    pub duplicates: u64,
    /// Records the other side says were lost before they reached Flowlens (IPFIX/NetFlow
    /// sequence gaps, Hubble's lost-events notices).
    pub lost_upstream: u64,
    /// Discontinuities in the other side's sequence numbers (IPFIX/NetFlow).
    pub sequence_gaps: u64,
    /// Messages received that carry no flow Flowlens stores (L7 events, node status, …).
    pub ignored: u64,
    /// Malformed input, rejected records and failed connections.
    pub errors: u64,
    pub reconnects: u64,
    /// Unix milliseconds of the last queued record.
    pub last_record_unix_ms: Option<i64>,
    pub last_error: Option<String>,
}

impl SourceCounters {
    pub fn new(name: impl Into<String>, kind: SourceKind) -> SourceCounters {
        SourceCounters {
            name: name.into(),
            kind,
            connected: AtomicU32::new(0),
            records: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            lost_upstream: AtomicU64::new(0),
            sequence_gaps: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            last_record_ms: AtomicI64::new(0),
            last_error: Mutex::new(None),
            rate: RateWindow::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> SourceKind {
        self.kind
    }

    /// A connection came up (a client connected, a node started pushing, a socket bound).
    pub fn connection_opened(&self) {
        self.connected.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection went away.
    pub fn connection_closed(&self) {
        // Never below zero, whatever the order of calls.
        let _ = self
            .connected
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub fn add_duplicates(&self, n: u64) {
        self.duplicates.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_lost_upstream(&self, n: u64) {
        self.lost_upstream.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_sequence_gaps(&self, n: u64) {
        self.sequence_gaps.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_ignored(&self, n: u64) {
        self.ignored.fetch_add(n, Ordering::Relaxed);
    }

    pub fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an error and keeps its message as the last one.
    pub fn error(&self, message: impl Into<String>) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let message = message.into();
        tracing::debug!(source = %self.name, "{message}");
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(message);
        }
    }

    fn record_queued(&self) {
        let records = self.records.fetch_add(1, Ordering::Relaxed) + 1;
        self.last_record_ms.store(unix_ms_now(), Ordering::Relaxed);
        self.rate.sample(records);
    }

    fn record_dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stats(&self) -> SourceStats {
        let records = self.records.load(Ordering::Relaxed);
        let connections = self.connected.load(Ordering::Relaxed);
        let last = self.last_record_ms.load(Ordering::Relaxed);
        SourceStats {
            name: self.name.clone(),
            kind: self.kind,
            connected: connections > 0,
            connections,
            records,
            records_per_second: self.rate.per_second(records),
            dropped: self.dropped.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            lost_upstream: self.lost_upstream.load(Ordering::Relaxed),
            sequence_gaps: self.sequence_gaps.load(Ordering::Relaxed),
            ignored: self.ignored.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            last_record_unix_ms: (last != 0).then_some(last),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}

fn unix_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The sources of one process, for a server to list.
#[derive(Clone, Debug, Default)]
pub struct SourceRegistry {
    sources: Arc<Mutex<Vec<Arc<SourceCounters>>>>,
}

impl SourceRegistry {
    /// New counters for a source, listed from now on.
    pub fn register(&self, name: impl Into<String>, kind: SourceKind) -> Arc<SourceCounters> {
        let counters = Arc::new(SourceCounters::new(name, kind));
        if let Ok(mut sources) = self.sources.lock() {
            sources.push(counters.clone());
        }
        counters
    }

    /// Every source's counters, in registration order.
    pub fn stats(&self) -> Vec<SourceStats> {
        let sources = match self.sources.lock() {
            Ok(s) => s.clone(),
            Err(_) => return Vec::new(),
        };
        sources.iter().map(|c| c.stats()).collect()
    }
}

/// A bounded queue from one source to the consumer, holding up to `capacity` items.
pub fn channel(counters: Arc<SourceCounters>, capacity: usize) -> (ItemSender, ItemReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        ItemSender {
            tx,
            counters: counters.clone(),
        },
        ItemReceiver { rx, counters },
    )
}

/// What became of a sent item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    Queued,
    /// The queue was full; counted in [`SourceStats::dropped`].
    Dropped,
    /// The consumer has gone: the source should stop.
    Closed,
}

/// The source's end of the queue. Clone it for sources with several tasks.
#[derive(Clone, Debug)]
pub struct ItemSender {
    tx: mpsc::Sender<SourceItem>,
    counters: Arc<SourceCounters>,
}

impl ItemSender {
    /// Queues the item without waiting; drops it (and counts the drop) when the queue is
    /// full.
    pub fn send(&self, item: SourceItem) -> Sent {
        match self.tx.try_send(item) {
            Ok(()) => {
                self.counters.record_queued();
                Sent::Queued
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.counters.record_dropped();
                Sent::Dropped
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Sent::Closed,
        }
    }

    pub fn counters(&self) -> &Arc<SourceCounters> {
        &self.counters
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves when the consumer has gone.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

/// The consumer's end of the queue.
#[derive(Debug)]
pub struct ItemReceiver {
    rx: mpsc::Receiver<SourceItem>,
    counters: Arc<SourceCounters>,
}

impl ItemReceiver {
    /// The next item; `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<SourceItem> {
        self.rx.recv().await
    }

    /// Waits for at least one item, then appends up to `limit` items to `buf`. Returns how
    /// many it appended; 0 means every sender is gone and the queue is empty.
    pub async fn recv_many(&mut self, buf: &mut Vec<SourceItem>, limit: usize) -> usize {
        self.rx.recv_many(buf, limit.max(1)).await
    }

    /// An item if one is queued now.
    pub fn try_recv(&mut self) -> Option<SourceItem> {
        self.rx.try_recv().ok()
    }

    /// Items waiting in the queue.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    pub fn counters(&self) -> &Arc<SourceCounters> {
        &self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlens_model::Protocol;

    fn raw(n: u16) -> SourceItem {
        SourceItem::Raw(RawFlow {
            start_time: 1,
            end_time: 2,
            src_ip: "10.0.0.1".parse().unwrap(),
            src_port: n,
            dst_ip: "10.0.0.2".parse().unwrap(),
            dst_port: 80,
            proto: Protocol::Tcp,
            bytes_out: 1,
            bytes_in: 0,
            packets_out: 1,
            packets_in: 0,
            process_name: None,
            process_id: None,
            reporter: None,
        })
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts() {
        let registry = SourceRegistry::default();
        let counters = registry.register("test", SourceKind::Netflow);
        let (tx, mut rx) = channel(counters, 2);
        assert_eq!(tx.send(raw(1)), Sent::Queued);
        assert_eq!(tx.send(raw(2)), Sent::Queued);
        assert_eq!(tx.send(raw(3)), Sent::Dropped);
        let mut buf = Vec::new();
        assert_eq!(rx.recv_many(&mut buf, 10).await, 2);
        assert_eq!(tx.send(raw(4)), Sent::Queued);
        let stats = &registry.stats()[0];
        assert_eq!((stats.records, stats.dropped), (3, 1));
        assert!(stats.records_per_second > 0.0, "{stats:?}");
        assert!(stats.last_record_unix_ms.is_some());
        drop(rx);
        assert_eq!(tx.send(raw(5)), Sent::Closed);
        assert_eq!(registry.stats()[0].records, 3);
    }

    #[test]
    fn connections_never_go_below_zero() {
        let c = SourceCounters::new("x", SourceKind::Hubble);
        c.connection_closed();
        c.connection_opened();
        assert!(c.stats().connected);
        c.connection_closed();
        c.connection_closed();
        assert_eq!(c.stats().connections, 0);
    }

    #[test]
    fn policy_verdicts_follow_the_drop_reason() {
        let mut o = Observation {
            verdict: ObservedVerdict::Dropped,
            drop_reason: Some("POLICY_DENIED".into()),
            ..Observation::default()
        };
        assert_eq!(o.policy_verdict(), ObservedPolicyVerdict::Denied);
        o.drop_reason = Some("CT_MAP_INSERTION_FAILED".into());
        assert_eq!(o.policy_verdict(), ObservedPolicyVerdict::NotPolicy);
        o.verdict = ObservedVerdict::Audit;
        assert_eq!(o.policy_verdict(), ObservedPolicyVerdict::AuditDenied);
        o.verdict = ObservedVerdict::Forwarded;
        assert_eq!(o.policy_verdict(), ObservedPolicyVerdict::Allowed);
    }
}
