//! What the sources' benchmark and the whole-process senders share: export packets as
//! exporters build them (IPFIX, NetFlow v9 and v5), Hubble events in the shape of Cilium's
//! documented examples, Hubble relay and Goldmane stand-ins that stream them, and Goldmane
//! flows made from Calico flow logs.
#![allow(dead_code)]

use flowlens_model::{Action, EndpointType, FlowLog, HitAction, PolicyHit, PolicyKind, Reporter};
use flowlens_sources::proto::flow as hb;
use flowlens_sources::proto::goldmane as gm;
use flowlens_sources::proto::goldmane::flows_server::Flows;
use flowlens_sources::proto::observer::observer_server::Observer;
use flowlens_sources::proto::observer::{GetFlowsRequest, GetFlowsResponse, get_flows_response};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

#[derive(Clone, Copy)]
pub enum Version {
    Ipfix,
    V9,
    V5,
}

/// softflowd's IPv4 TCP/UDP template, trimmed to the elements Flowlens reads.
const TEMPLATE: [(u16, u16); 10] = [
    (8, 4),
    (12, 4),
    (22, 4),
    (21, 4),
    (1, 4),
    (2, 4),
    (7, 2),
    (11, 2),
    (4, 1),
    (6, 1),
];
const RECORD_LEN: usize = 30;
const TEMPLATE_ID: u16 = 1024;
/// The exporter's uptime at export, in milliseconds.
const UPTIME: u32 = 3_600_000;

/// One exported flow record, one direction of a connection.
#[derive(Clone, Copy, Debug)]
pub struct ExportRecord {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub bytes: u32,
    pub packets: u32,
}

impl ExportRecord {
    /// The `k`-th synthetic record: distinct sources, one destination.
    pub fn synthetic(k: u32) -> ExportRecord {
        ExportRecord {
            src: Ipv4Addr::new(10, 1, (k >> 8) as u8, k as u8),
            dst: Ipv4Addr::new(10, 2, 0, 9),
            src_port: 40_000 + (k % 20_000) as u16,
            dst_port: 443,
            proto: 6,
            bytes: 1_500 + k % 1_000,
            packets: 12,
        }
    }

    /// In the template's order; the flow ran from 5 s to 1 s before the export.
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.src.octets());
        out.extend_from_slice(&self.dst.octets());
        out.extend_from_slice(&(UPTIME - 5_000).to_be_bytes());
        out.extend_from_slice(&(UPTIME - 1_000).to_be_bytes());
        out.extend_from_slice(&self.bytes.to_be_bytes());
        out.extend_from_slice(&self.packets.to_be_bytes());
        out.extend_from_slice(&self.src_port.to_be_bytes());
        out.extend_from_slice(&self.dst_port.to_be_bytes());
        out.extend_from_slice(&[self.proto, if self.proto == 6 { 0x1b } else { 0 }]);
    }
}

/// Export packets of about 1,400 bytes, as an exporter sends them: the template in the
/// first and every sixteenth, sequence numbers as each version counts them.
pub struct Exporter {
    pub version: Version,
    pub packets: u32,
    pub records: u32,
    /// The export time in the header (unix seconds); records without a boot time for
    /// their uptime stamps take it.
    pub export_time: u32,
}

impl Exporter {
    pub fn new(version: Version, export_time: u32) -> Exporter {
        Exporter {
            version,
            packets: 0,
            records: 0,
            export_time,
        }
    }

    pub fn records_per_packet(&self) -> u32 {
        match self.version {
            Version::V5 => 30,
            _ => 45,
        }
    }

    /// The next packet of synthetic records.
    pub fn next(&mut self) -> Vec<u8> {
        let first = self.records;
        let records: Vec<ExportRecord> = (0..self.records_per_packet())
            .map(|i| ExportRecord::synthetic(first + i))
            .collect();
        self.packet(&records)
    }

    /// The next packet, holding `records` (at most [`Exporter::records_per_packet`]).
    pub fn packet(&mut self, records: &[ExportRecord]) -> Vec<u8> {
        let n = records.len() as u32;
        let first = self.records;
        let with_template = self.packets.is_multiple_of(16);
        let mut d = Vec::with_capacity(1_500);
        let mut r = Vec::with_capacity(RECORD_LEN);
        match self.version {
            Version::V5 => {
                d.extend_from_slice(&5u16.to_be_bytes());
                d.extend_from_slice(&(n as u16).to_be_bytes());
                d.extend_from_slice(&UPTIME.to_be_bytes());
                d.extend_from_slice(&self.export_time.to_be_bytes());
                d.extend_from_slice(&0u32.to_be_bytes());
                d.extend_from_slice(&first.to_be_bytes());
                d.extend_from_slice(&[0; 4]);
                for record in records {
                    r.clear();
                    record.encode(&mut r);
                    d.extend_from_slice(&r[0..8]);
                    d.extend_from_slice(&[0; 8]);
                    d.extend_from_slice(&r[20..24]);
                    d.extend_from_slice(&r[16..20]);
                    d.extend_from_slice(&r[8..16]);
                    d.extend_from_slice(&r[24..28]);
                    d.extend_from_slice(&[0, r[29], r[28], 0]);
                    d.extend_from_slice(&[0; 8]);
                }
            }
            Version::V9 | Version::Ipfix => {
                let ipfix = matches!(self.version, Version::Ipfix);
                let mut body = Vec::new();
                if with_template {
                    body.extend_from_slice(&(if ipfix { 2u16 } else { 0 }).to_be_bytes());
                    body.extend_from_slice(&(8 + 4 * TEMPLATE.len() as u16).to_be_bytes());
                    body.extend_from_slice(&TEMPLATE_ID.to_be_bytes());
                    body.extend_from_slice(&(TEMPLATE.len() as u16).to_be_bytes());
                    for (id, len) in TEMPLATE {
                        body.extend_from_slice(&id.to_be_bytes());
                        body.extend_from_slice(&len.to_be_bytes());
                    }
                }
                let data_len = 4 + RECORD_LEN * n as usize;
                let pad = (4 - data_len % 4) % 4;
                body.extend_from_slice(&TEMPLATE_ID.to_be_bytes());
                body.extend_from_slice(&((data_len + pad) as u16).to_be_bytes());
                for record in records {
                    record.encode(&mut body);
                }
                body.extend(std::iter::repeat_n(0, pad));
                if ipfix {
                    d.extend_from_slice(&10u16.to_be_bytes());
                    d.extend_from_slice(&((16 + body.len()) as u16).to_be_bytes());
                    d.extend_from_slice(&self.export_time.to_be_bytes());
                    d.extend_from_slice(&first.to_be_bytes());
                    d.extend_from_slice(&0u32.to_be_bytes());
                    // A boot time for the uptime stamps comes with options in practice;
                    // without it the records take the export time.
                } else {
                    let count = n + u32::from(with_template);
                    d.extend_from_slice(&9u16.to_be_bytes());
                    d.extend_from_slice(&(count as u16).to_be_bytes());
                    d.extend_from_slice(&UPTIME.to_be_bytes());
                    d.extend_from_slice(&self.export_time.to_be_bytes());
                    d.extend_from_slice(&self.packets.to_be_bytes());
                    d.extend_from_slice(&0u32.to_be_bytes());
                }
                d.extend_from_slice(&body);
            }
        }
        self.packets += 1;
        self.records += n;
        d
    }
}

/// What a Hubble event says about its flow, beyond the documented example's fixed fields.
#[derive(Clone, Copy, Debug)]
pub struct HubbleTuple {
    pub src: std::net::IpAddr,
    pub dst: std::net::IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// TCP when true, UDP otherwise.
    pub tcp: bool,
}

impl HubbleTuple {
    /// The `i`-th synthetic tuple: distinct sources, one destination.
    pub fn synthetic(i: u64) -> HubbleTuple {
        HubbleTuple {
            src: Ipv4Addr::new(10, 0, ((i / 250) % 250) as u8, (i % 250) as u8).into(),
            dst: Ipv4Addr::new(10, 0, 0, 32).into(),
            src_port: 40_000 + (i % 20_000) as u16,
            dst_port: 80,
            tcp: true,
        }
    }
}

/// A forwarded L3/L4 event in the shape of Cilium's Star Wars demo, with `tuple`'s
/// addresses and ports at `seconds` (unix); `i` makes its UUID distinct.
pub fn hubble_event(i: u64, seconds: i64, tuple: HubbleTuple) -> GetFlowsResponse {
    let time = prost_types::Timestamp {
        seconds,
        nanos: (i % 1000) as i32 * 1000,
    };
    let ip_version = if tuple.src.is_ipv4() {
        hb::IpVersion::IPv4
    } else {
        hb::IpVersion::IPv6
    };
    let protocol = if tuple.tcp {
        hb::layer4::Protocol::Tcp(hb::Tcp {
            source_port: tuple.src_port.into(),
            destination_port: tuple.dst_port.into(),
            flags: None,
        })
    } else {
        hb::layer4::Protocol::Udp(hb::Udp {
            source_port: tuple.src_port.into(),
            destination_port: tuple.dst_port.into(),
        })
    };
    GetFlowsResponse {
        node_name: "kind-kind/kind-worker".into(),
        time: Some(time),
        response_types: Some(get_flows_response::ResponseTypes::Flow(hb::Flow {
            time: Some(time),
            uuid: format!("5bd2b1f4-2bdb-4b7f-9c2a-{i:012}"),
            verdict: hb::Verdict::Forwarded as i32,
            ip: Some(hb::Ip {
                source: tuple.src.to_string(),
                destination: tuple.dst.to_string(),
                ip_version: ip_version as i32,
                ..Default::default()
            }),
            l4: Some(hb::Layer4 {
                protocol: Some(protocol),
            }),
            source: Some(hb::Endpoint {
                identity: 6_054,
                namespace: "default".into(),
                labels: vec!["k8s:class=tiefighter".into(), "k8s:org=empire".into()],
                pod_name: "tiefighter".into(),
                ..Default::default()
            }),
            destination: Some(hb::Endpoint {
                identity: 10_563,
                namespace: "default".into(),
                labels: vec!["k8s:class=deathstar".into(), "k8s:org=empire".into()],
                pod_name: "deathstar-6fb5694d48-5hmds".into(),
                workloads: vec![hb::Workload {
                    name: "deathstar".into(),
                    kind: "Deployment".into(),
                }],
                ..Default::default()
            }),
            r#type: hb::FlowType::L3L4 as i32,
            node_name: "kind-kind/kind-worker".into(),
            traffic_direction: hb::TrafficDirection::Ingress as i32,
            is_reply: Some(false),
            ingress_allowed_by: vec![hb::Policy {
                name: "rule1".into(),
                namespace: "default".into(),
                revision: 2,
                kind: "CiliumNetworkPolicy".into(),
                ..Default::default()
            }],
            ..Default::default()
        })),
    }
}

/// Builds the `i`-th message of a stream.
pub type EventFn<T> = Arc<dyn Fn(u64) -> T + Send + Sync>;

/// A stand-in server's one stream: the first call gets `n` messages (at `rate` per
/// second, or as fast as the client reads when 0), then the stream stays open; later calls
/// (reconnects) get an open stream with nothing in it.
pub struct PacedStream<T> {
    pub n: u64,
    pub rate: u64,
    pub event: EventFn<T>,
    /// Calls answered so far.
    pub calls: Arc<AtomicU64>,
    /// When the first call came and when its last message was handed to the stream.
    pub first_call: Arc<std::sync::Mutex<Option<Instant>>>,
    pub sent_all: Arc<std::sync::Mutex<Option<Instant>>>,
}

impl<T: Send + 'static> PacedStream<T> {
    pub fn new(n: u64, rate: u64, event: EventFn<T>) -> PacedStream<T> {
        PacedStream {
            n,
            rate,
            event,
            calls: Arc::default(),
            first_call: Arc::default(),
            sent_all: Arc::default(),
        }
    }

    /// The stream for the next call.
    pub fn open(&self) -> ReceiverStream<Result<T, Status>> {
        let (tx, rx) = mpsc::channel(1024);
        if self.calls.fetch_add(1, Ordering::SeqCst) > 0 {
            tokio::spawn(async move { tx.closed().await });
            return ReceiverStream::new(rx);
        }
        let started = Instant::now();
        *self.first_call.lock().unwrap() = Some(started);
        let (n, rate, event, sent_all) =
            (self.n, self.rate, self.event.clone(), self.sent_all.clone());
        tokio::spawn(async move {
            for i in 0..n {
                if rate > 0 && i % 64 == 0 {
                    let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                if tx.send(Ok(event(i))).await.is_err() {
                    return;
                }
            }
            *sent_all.lock().unwrap() = Some(Instant::now());
            tx.closed().await;
        });
        ReceiverStream::new(rx)
    }
}

/// A Hubble relay stand-in: `Observer.GetFlows` answers with a [`PacedStream`].
pub struct StreamingHubble(pub PacedStream<GetFlowsResponse>);

#[tonic::async_trait]
impl Observer for StreamingHubble {
    type GetFlowsStream = ReceiverStream<Result<GetFlowsResponse, Status>>;

    async fn get_flows(
        &self,
        _: Request<GetFlowsRequest>,
    ) -> Result<Response<Self::GetFlowsStream>, Status> {
        Ok(Response::new(self.0.open()))
    }
}

/// A Goldmane stand-in: `Flows.Stream` answers with a [`PacedStream`]; `Flows.List` has
/// nothing to backfill.
pub struct StreamingGoldmane(pub PacedStream<gm::FlowResult>);

#[tonic::async_trait]
impl Flows for StreamingGoldmane {
    async fn list(
        &self,
        _: Request<gm::FlowListRequest>,
    ) -> Result<Response<gm::FlowListResult>, Status> {
        Ok(Response::new(gm::FlowListResult::default()))
    }

    type StreamStream = ReceiverStream<Result<gm::FlowResult, Status>>;

    async fn stream(
        &self,
        _: Request<gm::FlowStreamRequest>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        Ok(Response::new(self.0.open()))
    }
}

/// The Goldmane `Flow` (what Goldmane streams and Felix pushes) of an aggregated Calico
/// flow log: names, namespaces, labels, the service, counters and both policy traces, as
/// structured hits. IPs, pod names and source ports are not in Goldmane's key; the log
/// should have them aggregated away.
pub fn goldmane_flow_of(log: &FlowLog) -> gm::Flow {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let labels = |l: &flowlens_model::Labels| -> Vec<String> {
        l.iter().map(|(k, v)| format!("{k}={v}")).collect()
    };
    let service = log.dest_service.as_ref();
    gm::Flow {
        key: Some(gm::FlowKey {
            source_name: log.source.name_aggr.clone(),
            source_namespace: dash(&log.source.namespace),
            source_type: endpoint_type(log.source.endpoint_type) as i32,
            dest_name: log.dest.name_aggr.clone(),
            dest_namespace: dash(&log.dest.namespace),
            dest_type: endpoint_type(log.dest.endpoint_type) as i32,
            dest_port: log.dest.port.map_or(0, i64::from),
            dest_service_name: service.map_or("-".into(), |s| s.name.clone()),
            dest_service_namespace: service.map_or("-".into(), |s| s.namespace.clone()),
            dest_service_port_name: service.map_or("-".into(), |s| s.port_name.clone()),
            dest_service_port: service.map_or(0, |s| i64::from(s.port_num)),
            proto: log.proto.flow_log_name().into_owned(),
            reporter: match log.reporter {
                Reporter::Src => gm::Reporter::Src,
                Reporter::Dst => gm::Reporter::Dst,
            } as i32,
            action: action(log.action) as i32,
            policies: Some(gm::PolicyTrace {
                enforced_policies: log.enforced_policies.iter().map(policy_hit).collect(),
                pending_policies: log.pending_policies.iter().map(policy_hit).collect(),
            }),
        }),
        start_time: log.start_time,
        end_time: log.end_time,
        source_labels: labels(&log.source.labels),
        dest_labels: labels(&log.dest.labels),
        packets_in: log.packets_in as i64,
        packets_out: log.packets_out as i64,
        bytes_in: log.bytes_in as i64,
        bytes_out: log.bytes_out as i64,
        num_connections_started: log.num_flows_started as i64,
        num_connections_completed: log.num_flows_completed as i64,
        num_connections_live: log.num_flows as i64,
    }
}

fn endpoint_type(t: Option<EndpointType>) -> gm::EndpointType {
    match t {
        Some(EndpointType::Wep) => gm::EndpointType::WorkloadEndpoint,
        Some(EndpointType::Hep) => gm::EndpointType::HostEndpoint,
        Some(EndpointType::Ns) => gm::EndpointType::NetworkSet,
        Some(EndpointType::Net) => gm::EndpointType::Network,
        None => gm::EndpointType::Unspecified,
    }
}

fn action(a: Action) -> gm::Action {
    match a {
        Action::Allow => gm::Action::Allow,
        Action::Deny => gm::Action::Deny,
    }
}

/// A hit as Felix reports it: an end-of-tier hit (rule -1) names the policy that selected
/// the flow into the tier as its trigger.
fn policy_hit(h: &PolicyHit) -> gm::PolicyHit {
    let kind = match h.kind {
        None => gm::PolicyKind::Profile,
        Some(PolicyKind::NetworkPolicy) => gm::PolicyKind::CalicoNetworkPolicy,
        Some(PolicyKind::GlobalNetworkPolicy) => gm::PolicyKind::GlobalNetworkPolicy,
        Some(PolicyKind::StagedNetworkPolicy) => gm::PolicyKind::StagedNetworkPolicy,
        Some(PolicyKind::StagedGlobalNetworkPolicy) => gm::PolicyKind::StagedGlobalNetworkPolicy,
        Some(PolicyKind::StagedKubernetesNetworkPolicy) => {
            gm::PolicyKind::StagedKubernetesNetworkPolicy
        }
        Some(PolicyKind::KubernetesNetworkPolicy) => gm::PolicyKind::NetworkPolicy,
        Some(
            PolicyKind::AdminNetworkPolicy
            | PolicyKind::BaselineAdminNetworkPolicy
            | PolicyKind::ClusterNetworkPolicy,
        ) => gm::PolicyKind::ClusterNetworkPolicy,
    };
    let action = match h.action {
        HitAction::Allow => gm::Action::Allow,
        HitAction::Deny => gm::Action::Deny,
        HitAction::Pass => gm::Action::Pass,
    } as i32;
    let subject = gm::PolicyHit {
        kind: kind as i32,
        namespace: h.namespace.clone().unwrap_or_default(),
        name: h.name.clone(),
        tier: h.tier.clone(),
        action,
        policy_index: i64::from(h.index),
        rule_index: i64::from(h.rule),
        ..Default::default()
    };
    if h.rule == -1 && h.kind.is_some() {
        gm::PolicyHit {
            kind: gm::PolicyKind::EndOfTier as i32,
            tier: h.tier.clone(),
            action,
            policy_index: i64::from(h.index),
            rule_index: -1,
            trigger: Some(Box::new(subject)),
            ..Default::default()
        }
    } else {
        subject
    }
}
