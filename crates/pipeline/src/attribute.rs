//! Enrichment and attribution: a raw 5-tuple becomes what Calico would have logged for it,
//! using the same engine as `flowlens explain`.
//!
//! A flow is logged by each end that is a cluster endpoint: the source reports it with the
//! egress trace (`reporter: src`), and the destination with the ingress trace
//! (`reporter: dst`) — but only if egress let it leave, since a packet denied at its source
//! never reaches its destination. A flow to a Service's cluster IP is evaluated against the
//! backend it was sent to, as Calico evaluates after DNAT.

use flowlens_model::{Action, Protocol, RawFlow, Reporter};
use flowlens_policy::{Engine, FiveTuple, FlowVerdict, Hit, Peer, ServiceBackend};
use smallvec::SmallVec;
use std::sync::Arc;

/// One reporter's view of one raw flow, in compact form (indices into the engine's
/// inventory); the aggregator turns it into a flow log.
#[derive(Clone, Debug)]
pub struct Attributed {
    pub start_time: i64,
    pub end_time: i64,
    pub reporter: Reporter,
    pub action: Action,
    pub src: Peer,
    pub dst: Peer,
    pub src_port: u16,
    /// After DNAT, when the flow went through a Service.
    pub dst_port: u16,
    pub proto: Protocol,
    pub service: Option<ServiceBackend>,
    pub enforced: SmallVec<[Hit; 4]>,
    pub pending: SmallVec<[Hit; 4]>,
    /// From the reporter's point of view: `in` is what it received.
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub process_name: Option<String>,
    pub process_id: Option<i64>,
}

/// Why a raw record produced no flow log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unattributed {
    /// Neither end is a pod or host endpoint, so no Calico node would have seen it.
    NoClusterEndpoint,
    /// `end_time` before `start_time`.
    BadTimes,
}

impl Unattributed {
    pub fn reason(self) -> &'static str {
        match self {
            Unattributed::NoClusterEndpoint => {
                "neither end is a cluster endpoint (pod or host endpoint)"
            }
            Unattributed::BadTimes => "end_time is before start_time",
        }
    }
}

/// Attributes raw records with one engine (one inventory snapshot).
#[derive(Clone)]
pub struct Attributor {
    engine: Arc<Engine>,
}

impl Attributor {
    pub fn new(engine: Arc<Engine>) -> Attributor {
        Attributor { engine }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Appends the flow logs (one or two) this record stands for to `out`.
    pub fn attribute(&self, raw: &RawFlow, out: &mut Vec<Attributed>) -> Result<(), Unattributed> {
        if raw.end_time < raw.start_time {
            return Err(Unattributed::BadTimes);
        }
        let engine = &*self.engine;
        let src = engine.resolve(raw.src_ip);
        // Stable per connection, so one connection always lands on the same backend.
        let pick = u64::from(raw.src_port) ^ (u64::from(raw.dst_port) << 16);
        let service = engine.service_backend(raw.dst_ip, raw.dst_port, raw.proto, pick);
        let (dst, dst_port) = match service {
            Some(b) => {
                let ip = engine.inventory().endpoints[b.endpoint as usize].ips[0];
                (engine.resolve(ip), b.target_port)
            }
            None => (engine.resolve(raw.dst_ip), raw.dst_port),
        };
        if src.endpoint.is_none() && dst.endpoint.is_none() {
            return Err(Unattributed::NoClusterEndpoint);
        }
        let query = FiveTuple {
            src: src.ip,
            dst: dst.ip,
            protocol: raw.proto,
            src_port: raw.src_port,
            dst_port,
            icmp: None,
        };
        let verdict: Arc<FlowVerdict> = engine.evaluate(&query);
        let wants = |r: Reporter| raw.reporter.is_none_or(|only| only == r);
        let egress_allowed = verdict
            .egress
            .as_ref()
            .is_none_or(|e| e.action == Action::Allow);
        let base = |reporter,
                    action,
                    enforced,
                    pending,
                    bytes: (u64, u64),
                    packets: (u64, u64),
                    process: bool| {
            Attributed {
                start_time: raw.start_time,
                end_time: raw.end_time,
                reporter,
                action,
                src: src.clone(),
                dst: dst.clone(),
                src_port: raw.src_port,
                dst_port,
                proto: raw.proto,
                service,
                enforced,
                pending,
                bytes_in: bytes.0,
                bytes_out: bytes.1,
                packets_in: packets.0,
                packets_out: packets.1,
                process_name: if process {
                    raw.process_name.clone()
                } else {
                    None
                },
                process_id: if process { raw.process_id } else { None },
            }
        };
        // The record's process belongs to the end that reported it (the client by default).
        let process_at_dst = raw.reporter == Some(Reporter::Dst);
        if let (Some(egress), true) = (&verdict.egress, wants(Reporter::Src)) {
            let pending = verdict
                .pending
                .egress
                .as_ref()
                .map(|d| d.hits.clone())
                .unwrap_or_default();
            out.push(base(
                Reporter::Src,
                egress.action,
                egress.hits.clone(),
                pending,
                (raw.bytes_in, raw.bytes_out),
                (raw.packets_in, raw.packets_out),
                !process_at_dst,
            ));
        }
        if let (Some(ingress), true, true) =
            (&verdict.ingress, wants(Reporter::Dst), egress_allowed)
        {
            let pending = verdict
                .pending
                .ingress
                .as_ref()
                .map(|d| d.hits.clone())
                .unwrap_or_default();
            out.push(base(
                Reporter::Dst,
                ingress.action,
                ingress.hits.clone(),
                pending,
                (raw.bytes_out, raw.bytes_in),
                (raw.packets_out, raw.packets_in),
                process_at_dst,
            ));
        }
        Ok(())
    }
}
