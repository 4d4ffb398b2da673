//! What the sources' benchmark and the whole-process senders share: export packets as
//! exporters build them (IPFIX, NetFlow v9 and v5), Hubble events in the shape of Cilium's
//! documented examples, and a Hubble relay stand-in that streams them.
#![allow(dead_code)]

use flowlens_sources::proto::flow as hb;
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

/// Builds the `i`-th event of a stream.
pub type EventFn = Arc<dyn Fn(u64) -> GetFlowsResponse + Send + Sync>;

/// A Hubble relay stand-in: the first `GetFlows` call gets `n` events (at `rate` events
/// per second, or as fast as the client reads when 0), then the stream stays open; later
/// calls (reconnects) get an open stream with nothing in it.
pub struct StreamingHubble {
    pub n: u64,
    pub rate: u64,
    pub event: EventFn,
    /// Calls answered so far.
    pub calls: Arc<AtomicU64>,
    /// When the first call came and when its last event was handed to the stream.
    pub first_call: Arc<std::sync::Mutex<Option<Instant>>>,
    pub sent_all: Arc<std::sync::Mutex<Option<Instant>>>,
}

impl StreamingHubble {
    pub fn new(n: u64, rate: u64, event: EventFn) -> StreamingHubble {
        StreamingHubble {
            n,
            rate,
            event,
            calls: Arc::default(),
            first_call: Arc::default(),
            sent_all: Arc::default(),
        }
    }
}

#[tonic::async_trait]
impl Observer for StreamingHubble {
    type GetFlowsStream = ReceiverStream<Result<GetFlowsResponse, Status>>;

    async fn get_flows(
        &self,
        _: Request<GetFlowsRequest>,
    ) -> Result<Response<Self::GetFlowsStream>, Status> {
        let (tx, rx) = mpsc::channel(1024);
        if self.calls.fetch_add(1, Ordering::SeqCst) > 0 {
            tokio::spawn(async move { tx.closed().await });
            return Ok(Response::new(ReceiverStream::new(rx)));
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
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
