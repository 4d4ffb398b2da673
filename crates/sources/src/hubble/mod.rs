//! Cilium Hubble: the `Observer.GetFlows` client ([`HubbleClient`]) and the reader of
//! `hubble observe -o jsonpb` output ([`decode_jsonpb_line`], [`read_jsonpb`]).
//!
//! A Hubble flow is one packet event at one endpoint, with Hubble's verdict and Kubernetes
//! context. Flowlens turns it into an [`ObservedFlow`]: a raw record (for the engine to
//! attribute, exactly as IPFIX records are) and an [`Observation`] holding what Hubble
//! said — verdict, drop reason, direction, endpoints with namespace, pod, labels and
//! workloads, services, and the policies Hubble named (`egress_allowed_by`,
//! `ingress_denied_by`, …, each with its kind as Hubble spells it). The ingest loop compares
//! the engine's verdict with [`Observation::policy_verdict`].
//!
//! The raw record is in the connection's direction: a reply packet (`is_reply`) has its
//! ends swapped back, so `src` is the end that opened the connection, and it counts as one
//! packet `in`. The observation's endpoints and services are swapped the same way. The
//! reporter is the observing end: `src` for EGRESS, `dst` for INGRESS. Hubble carries no
//! byte counts, so bytes are 0 and every event counts one packet. L7, socket-translation
//! and non-IP events are not connections and are only counted as ignored.

mod client;
mod json;

pub use client::HubbleClient;
pub use json::{HubbleEvent, JsonpbReport, decode_jsonpb_line, read_jsonpb};

use crate::proto::flow as pb;
use crate::queue::{
    Observation, ObservedDirection, ObservedEndpoint, ObservedFlow, ObservedPolicy,
    ObservedVerdict, PolicyEffect, ServiceRef, TcpFlags,
};
use flowlens_ingest::ObservedRecord;
use flowlens_model::{Protocol, RawFlow, Reporter, WorkloadRef};
use std::net::IpAddr;

/// Why a Hubble flow could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HubbleError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, HubbleError> {
    Err(HubbleError(message.into()))
}

/// Why a flow event carries no connection record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// An L7 (HTTP, DNS, Kafka) record.
    L7,
    /// A socket-translation trace (`SOCK`).
    Socket,
    /// No IP layer (e.g. ARP).
    NotIp,
    /// An IP protocol Hubble does not decode (no L4).
    NoTransport,
}

/// The observed flow a Hubble flow event stands for. `node_name` and `time` are the
/// response's, used when the flow lacks its own.
pub fn observed_flow(
    flow: pb::Flow,
    node_name: &str,
    time: Option<&prost_types::Timestamp>,
) -> Result<Result<ObservedFlow, Skipped>, HubbleError> {
    let event = match read_event(&flow, time)? {
        Ok(event) => event,
        Err(skipped) => return Ok(Err(skipped)),
    };
    let Event {
        raw,
        direction,
        reply,
        tcp_flags,
        src_ip,
        dst_ip,
    } = event;
    let policies = policies(&flow);
    let mut source = endpoint(flow.source, src_ip);
    let mut destination = endpoint(flow.destination, dst_ip);
    let mut source_service = service(flow.source_service);
    let mut destination_service = service(flow.destination_service);
    if reply {
        std::mem::swap(&mut source, &mut destination);
        std::mem::swap(&mut source_service, &mut destination_service);
    }
    let node = match flow.node_name {
        name if !name.is_empty() => Some(name),
        _ => Some(node_name.to_string()).filter(|n| !n.is_empty()),
    };
    let observation = Observation {
        verdict: verdict(flow.verdict),
        drop_reason: drop_reason(flow.drop_reason_desc),
        direction,
        is_reply: flow.is_reply,
        node,
        source,
        destination,
        source_service,
        destination_service,
        policies,
        event_id: Some(flow.uuid).filter(|u| !u.is_empty()),
        tcp_flags,
    };
    Ok(Ok(ObservedFlow { raw, observation }))
}

/// What the ingest loop needs of a Hubble flow event: its raw record and Hubble's verdict
/// about policy at the observing end — the same as [`observed_flow`] followed by
/// [`Observation::observer_verdict`], without reading the endpoints, labels and services
/// the loop does not use.
pub fn observed_record(
    flow: &pb::Flow,
    time: Option<&prost_types::Timestamp>,
) -> Result<Result<ObservedRecord, Skipped>, HubbleError> {
    let event = match read_event(flow, time)? {
        Ok(event) => event,
        Err(skipped) => return Ok(Err(skipped)),
    };
    let about_policy = Observation {
        verdict: verdict(flow.verdict),
        drop_reason: drop_reason(flow.drop_reason_desc),
        direction: event.direction,
        policies: policies(flow),
        ..Observation::default()
    };
    Ok(Ok(ObservedRecord {
        raw: event.raw,
        observer: about_policy.observer_verdict(),
    }))
}

/// The connection a flow event belongs to, read from its IP and L4 layers.
struct Event {
    /// In the connection's direction.
    raw: RawFlow,
    direction: Option<ObservedDirection>,
    reply: bool,
    tcp_flags: Option<TcpFlags>,
    /// As the packet had them (before a reply is turned around).
    src_ip: IpAddr,
    dst_ip: IpAddr,
}

fn read_event(
    flow: &pb::Flow,
    time: Option<&prost_types::Timestamp>,
) -> Result<Result<Event, Skipped>, HubbleError> {
    match pb::FlowType::try_from(flow.r#type) {
        Ok(pb::FlowType::L7) => return Ok(Err(Skipped::L7)),
        Ok(pb::FlowType::Sock) => return Ok(Err(Skipped::Socket)),
        _ => {}
    }
    let Some(ip) = &flow.ip else {
        return Ok(Err(Skipped::NotIp));
    };
    let Some(protocol) = flow.l4.as_ref().and_then(|l4| l4.protocol.as_ref()) else {
        return Ok(Err(Skipped::NoTransport));
    };
    let (proto, src_port, dst_port) = match protocol {
        pb::layer4::Protocol::Tcp(t) => (Protocol::Tcp, t.source_port, t.destination_port),
        pb::layer4::Protocol::Udp(u) => (Protocol::Udp, u.source_port, u.destination_port),
        pb::layer4::Protocol::Sctp(s) => (Protocol::Sctp, s.source_port, s.destination_port),
        pb::layer4::Protocol::IcmPv4(_) => (Protocol::Icmp, 0, 0),
        pb::layer4::Protocol::IcmPv6(_) => (Protocol::IcmpV6, 0, 0),
    };
    let src_ip = address(&ip.source, "IP.source")?;
    let dst_ip = address(&ip.destination, "IP.destination")?;
    let src_port = port(src_port, "source_port")?;
    let dst_port = port(dst_port, "destination_port")?;
    let Some(time) = flow.time.as_ref().or(time).copied() else {
        return err("flow has no time");
    };
    if !(0..1_000_000_000).contains(&time.nanos) {
        return err(format!("time has {} nanoseconds", time.nanos));
    }
    let direction = match pb::TrafficDirection::try_from(flow.traffic_direction) {
        Ok(pb::TrafficDirection::Ingress) => Some(ObservedDirection::Ingress),
        Ok(pb::TrafficDirection::Egress) => Some(ObservedDirection::Egress),
        _ => None,
    };
    let reply = flow.is_reply == Some(true);
    let (mut raw_src, mut raw_dst) = ((src_ip, src_port), (dst_ip, dst_port));
    if reply {
        std::mem::swap(&mut raw_src, &mut raw_dst);
    }
    let raw = RawFlow {
        start_time: time.seconds,
        end_time: time.seconds,
        src_ip: raw_src.0,
        src_port: raw_src.1,
        dst_ip: raw_dst.0,
        dst_port: raw_dst.1,
        proto,
        bytes_out: 0,
        bytes_in: 0,
        packets_out: u64::from(!reply),
        packets_in: u64::from(reply),
        process_name: None,
        process_id: None,
        reporter: direction.map(|d| match d {
            ObservedDirection::Egress => Reporter::Src,
            ObservedDirection::Ingress => Reporter::Dst,
        }),
    };
    let tcp_flags = match protocol {
        pb::layer4::Protocol::Tcp(pb::Tcp { flags: Some(f), .. }) => Some(TcpFlags {
            syn: f.syn,
            ack: f.ack,
            fin: f.fin,
            rst: f.rst,
        }),
        _ => None,
    };
    Ok(Ok(Event {
        raw,
        direction,
        reply,
        tcp_flags,
        src_ip,
        dst_ip,
    }))
}

fn address(text: &str, field: &str) -> Result<IpAddr, HubbleError> {
    text.parse()
        .or_else(|_| err(format!("{field} {text:?} is not an IP address")))
}

fn port(value: u32, field: &str) -> Result<u16, HubbleError> {
    u16::try_from(value).or_else(|_| err(format!("{field} {value} is not a port")))
}

fn verdict(value: i32) -> ObservedVerdict {
    match pb::Verdict::try_from(value) {
        Ok(pb::Verdict::Forwarded) => ObservedVerdict::Forwarded,
        Ok(pb::Verdict::Dropped) => ObservedVerdict::Dropped,
        Ok(pb::Verdict::Error) => ObservedVerdict::Error,
        Ok(pb::Verdict::Audit) => ObservedVerdict::Audit,
        Ok(pb::Verdict::Redirected) => ObservedVerdict::Redirected,
        Ok(pb::Verdict::Traced) => ObservedVerdict::Traced,
        Ok(pb::Verdict::Translated) => ObservedVerdict::Translated,
        Ok(pb::Verdict::Unknown) | Err(_) => ObservedVerdict::Unknown,
    }
}

/// Hubble's name for the drop reason; reasons newer than these definitions keep their
/// number.
fn drop_reason(value: i32) -> Option<String> {
    match pb::DropReason::try_from(value) {
        Ok(pb::DropReason::Unknown) => None,
        Ok(reason) => Some(reason.as_str_name().to_string()),
        Err(_) => Some(format!("DROP_REASON_{value}")),
    }
}

fn endpoint(ep: Option<pb::Endpoint>, ip: IpAddr) -> ObservedEndpoint {
    let mut out = ObservedEndpoint {
        ip: Some(ip),
        ..ObservedEndpoint::default()
    };
    let Some(ep) = ep else {
        return out;
    };
    out.namespace = Some(ep.namespace).filter(|s| !s.is_empty());
    out.pod = Some(ep.pod_name).filter(|s| !s.is_empty());
    out.identity = Some(ep.identity).filter(|&i| i != 0);
    out.cluster = Some(ep.cluster_name).filter(|s| !s.is_empty());
    for label in ep.labels {
        let kubernetes = label
            .strip_prefix("k8s:")
            .and_then(|l| l.split_once('='))
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| (k.to_string(), v.to_string()));
        match kubernetes {
            Some((k, v)) => {
                out.labels.insert(k, v);
            }
            None => out.other_labels.push(label),
        }
    }
    out.workloads = ep
        .workloads
        .into_iter()
        .map(|w| WorkloadRef {
            kind: w.kind,
            name: w.name,
        })
        .collect();
    out
}

fn service(svc: Option<pb::Service>) -> Option<ServiceRef> {
    let svc = svc?;
    if svc.name.is_empty() {
        return None;
    }
    Some(ServiceRef {
        namespace: Some(svc.namespace).filter(|s| !s.is_empty()),
        name: svc.name,
    })
}

fn policies(flow: &pb::Flow) -> Vec<ObservedPolicy> {
    let named = [
        (
            &flow.egress_allowed_by,
            ObservedDirection::Egress,
            PolicyEffect::Allow,
        ),
        (
            &flow.ingress_allowed_by,
            ObservedDirection::Ingress,
            PolicyEffect::Allow,
        ),
        (
            &flow.egress_denied_by,
            ObservedDirection::Egress,
            PolicyEffect::Deny,
        ),
        (
            &flow.ingress_denied_by,
            ObservedDirection::Ingress,
            PolicyEffect::Deny,
        ),
    ];
    named
        .into_iter()
        .flat_map(|(list, direction, effect)| {
            list.iter().map(move |p| ObservedPolicy {
                direction,
                effect,
                kind: policy_kind(p),
                namespace: Some(p.namespace.clone()).filter(|s| !s.is_empty()),
                name: p.name.clone(),
                revision: p.revision,
            })
        })
        .collect()
}

/// The policy's kind; older Hubble versions leave `kind` empty and only label the policy
/// with the resource it came from.
fn policy_kind(p: &pb::Policy) -> String {
    if !p.kind.is_empty() {
        return p.kind.clone();
    }
    p.labels
        .iter()
        .find_map(|l| {
            l.strip_prefix("k8s:")
                .unwrap_or(l)
                .strip_prefix("io.cilium.k8s.policy.derived-from=")
        })
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::queue::ObservedPolicyVerdict;

    /// The Star Wars demo of Cilium's documentation ("Identity-Aware and HTTP-Aware Policy
    /// Enforcement"): xwing (alliance) is dropped by policy on its way to deathstar.
    pub(crate) fn xwing_to_deathstar() -> pb::Flow {
        pb::Flow {
            time: Some(prost_types::Timestamp {
                seconds: 1_700_000_123,
                nanos: 456_789_000,
            }),
            uuid: "d8a1c3a6-2c2e-4b9e-9f6e-1f0c2a3b4c5d".into(),
            verdict: pb::Verdict::Dropped as i32,
            ip: Some(pb::Ip {
                source: "10.0.0.162".into(),
                destination: "10.0.0.32".into(),
                ip_version: pb::IpVersion::IPv4 as i32,
                ..Default::default()
            }),
            l4: Some(pb::Layer4 {
                protocol: Some(pb::layer4::Protocol::Tcp(pb::Tcp {
                    source_port: 50_528,
                    destination_port: 80,
                    flags: Some(pb::TcpFlags {
                        syn: true,
                        ..Default::default()
                    }),
                })),
            }),
            source: Some(pb::Endpoint {
                id: 1520,
                identity: 39_478,
                namespace: "default".into(),
                labels: vec![
                    "k8s:class=xwing".into(),
                    "k8s:io.kubernetes.pod.namespace=default".into(),
                    "k8s:org=alliance".into(),
                ],
                pod_name: "xwing".into(),
                ..Default::default()
            }),
            destination: Some(pb::Endpoint {
                id: 280,
                identity: 10_563,
                namespace: "default".into(),
                labels: vec![
                    "k8s:class=deathstar".into(),
                    "k8s:org=empire".into(),
                    "reserved:remote-node".into(),
                ],
                pod_name: "deathstar-6fb5694d48-5hmds".into(),
                workloads: vec![pb::Workload {
                    name: "deathstar".into(),
                    kind: "Deployment".into(),
                }],
                ..Default::default()
            }),
            r#type: pb::FlowType::L3L4 as i32,
            node_name: "kind-worker".into(),
            destination_service: Some(pb::Service {
                name: "deathstar".into(),
                namespace: "default".into(),
            }),
            traffic_direction: pb::TrafficDirection::Ingress as i32,
            drop_reason_desc: pb::DropReason::PolicyDenied as i32,
            is_reply: Some(false),
            ingress_denied_by: vec![pb::Policy {
                name: "rule1".into(),
                namespace: "default".into(),
                labels: vec!["k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy".into()],
                revision: 3,
                kind: String::new(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_policy_drop_becomes_an_observed_raw_record() {
        let observed = observed_flow(xwing_to_deathstar(), "", None)
            .unwrap()
            .unwrap();
        let raw = &observed.raw;
        assert_eq!(raw.src_ip.to_string(), "10.0.0.162");
        assert_eq!((raw.src_port, raw.dst_port), (50_528, 80));
        assert_eq!(
            (raw.proto, raw.reporter),
            (Protocol::Tcp, Some(Reporter::Dst))
        );
        assert_eq!(
            (raw.start_time, raw.packets_out, raw.bytes_out),
            (1_700_000_123, 1, 0)
        );
        let o = &observed.observation;
        assert_eq!(o.policy_verdict(), ObservedPolicyVerdict::Denied);
        assert_eq!(o.drop_reason.as_deref(), Some("POLICY_DENIED"));
        let flags = o.tcp_flags.unwrap();
        assert!(flags.syn && !flags.ack);
        assert_eq!(o.node.as_deref(), Some("kind-worker"));
        assert_eq!(o.source.labels["org"], "alliance");
        assert_eq!(o.destination.other_labels, ["reserved:remote-node"]);
        assert_eq!(o.destination.workloads[0].kind, "Deployment");
        assert_eq!(o.destination_service.as_ref().unwrap().name, "deathstar");
        let policy = &o.policies[0];
        assert_eq!(policy.kind, "CiliumNetworkPolicy");
        assert_eq!(
            (policy.direction, policy.effect),
            (ObservedDirection::Ingress, PolicyEffect::Deny)
        );
        assert_eq!(policy.modelled_kind(), None);
    }

    #[test]
    fn replies_are_turned_back_into_the_connection_direction() {
        let mut flow = xwing_to_deathstar();
        flow.verdict = pb::Verdict::Forwarded as i32;
        flow.drop_reason_desc = 0;
        flow.is_reply = Some(true);
        let ip = flow.ip.as_mut().unwrap();
        std::mem::swap(&mut ip.source, &mut ip.destination);
        std::mem::swap(&mut flow.source, &mut flow.destination);
        flow.l4 = Some(pb::Layer4 {
            protocol: Some(pb::layer4::Protocol::Tcp(pb::Tcp {
                source_port: 80,
                destination_port: 50_528,
                flags: None,
            })),
        });
        let observed = observed_flow(flow.clone(), "", None).unwrap().unwrap();
        assert_eq!(observed.raw.src_ip.to_string(), "10.0.0.162");
        assert_eq!((observed.raw.src_port, observed.raw.dst_port), (50_528, 80));
        assert_eq!((observed.raw.packets_out, observed.raw.packets_in), (0, 1));
        assert_eq!(observed.observation.source.pod.as_deref(), Some("xwing"));
        assert_eq!(
            observed.observation.policy_verdict(),
            ObservedPolicyVerdict::Allowed
        );
    }

    #[test]
    fn the_loops_record_is_the_observations_raw_record_and_verdict() {
        let mut reply = xwing_to_deathstar();
        reply.verdict = pb::Verdict::Forwarded as i32;
        reply.drop_reason_desc = 0;
        reply.is_reply = Some(true);
        reply.traffic_direction = pb::TrafficDirection::Egress as i32;
        reply.egress_allowed_by = reply.ingress_denied_by.clone();
        let mut no_direction = xwing_to_deathstar();
        no_direction.traffic_direction = pb::TrafficDirection::Unknown as i32;
        let mut audited = xwing_to_deathstar();
        audited.verdict = pb::Verdict::Audit as i32;
        audited.ingress_denied_by[0].kind = "NetworkPolicy".into();
        for flow in [xwing_to_deathstar(), reply, no_direction, audited] {
            let full = observed_flow(flow.clone(), "", None).unwrap().unwrap();
            let lean = observed_record(&flow, None).unwrap().unwrap();
            assert_eq!(lean.raw, full.raw);
            assert_eq!(lean.observer, full.observation.observer_verdict());
        }
        let mut l7 = xwing_to_deathstar();
        l7.r#type = pb::FlowType::L7 as i32;
        assert_eq!(observed_record(&l7, None).unwrap(), Err(Skipped::L7));
        let mut bad = xwing_to_deathstar();
        bad.time = None;
        assert!(observed_record(&bad, None).is_err());
    }

    #[test]
    fn non_connection_events_are_skipped_and_bad_ones_rejected() {
        let mut flow = xwing_to_deathstar();
        flow.r#type = pb::FlowType::L7 as i32;
        assert_eq!(
            observed_flow(flow.clone(), "", None).unwrap(),
            Err(Skipped::L7)
        );
        let mut flow = xwing_to_deathstar();
        flow.l4 = None;
        assert_eq!(
            observed_flow(flow.clone(), "", None).unwrap(),
            Err(Skipped::NoTransport)
        );
        let mut flow = xwing_to_deathstar();
        flow.ip.as_mut().unwrap().source = "10.0.0".into();
        assert!(observed_flow(flow.clone(), "", None).is_err());
        let mut flow = xwing_to_deathstar();
        flow.time = None;
        assert!(observed_flow(flow.clone(), "", None).is_err());
        let t = prost_types::Timestamp {
            seconds: 5,
            nanos: 0,
        };
        assert_eq!(
            observed_flow(flow, "", Some(&t))
                .unwrap()
                .unwrap()
                .raw
                .start_time,
            5
        );
    }
}
