//! Flow logs: the record Flowlens stores, shaped like Calico's flow log so that people who
//! know Calico (and tooling written for it) feel at home.

use crate::{EndpointType, Labels, PolicyHit, Protocol};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The final word on a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }

    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "allow" => Some(Action::Allow),
            "deny" => Some(Action::Deny),
            _ => None,
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which end observed the flow: `src` logs carry the egress trace at the source, `dst` logs
/// the ingress trace at the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reporter {
    Src,
    Dst,
}

impl Reporter {
    pub fn as_str(self) -> &'static str {
        match self {
            Reporter::Src => "src",
            Reporter::Dst => "dst",
        }
    }

    pub fn parse(text: &str) -> Option<Reporter> {
        match text {
            "src" => Some(Reporter::Src),
            "dst" => Some(Reporter::Dst),
            _ => None,
        }
    }

    /// The rules whose hits this reporter's flow logs carry: egress at the source, ingress
    /// at the destination.
    pub fn rule_direction(self) -> RuleDirection {
        match self {
            Reporter::Src => RuleDirection::Egress,
            Reporter::Dst => RuleDirection::Ingress,
        }
    }
}

/// Which of a policy's rule lists: ingress rules are evaluated at the destination of a flow,
/// egress rules at its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleDirection {
    Ingress,
    Egress,
}

/// One end of a flow log. `None` fields print as Calico's `-` (not applicable, or aggregated
/// away).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FlowEnd {
    pub ip: Option<IpAddr>,
    pub name: Option<String>,
    /// `frontend-864f4fcdfd-*`, a network set's name, or `pub`/`pvt`.
    pub name_aggr: String,
    pub namespace: Option<String>,
    pub port: Option<u16>,
    pub endpoint_type: Option<EndpointType>,
    pub labels: Labels,
}

/// The Service a flow was addressed to, when it went through one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowService {
    pub namespace: String,
    pub name: String,
    /// The port's name (`-` when unnamed).
    pub port_name: String,
    pub port_num: u16,
}

/// A flow log: one aggregated record of traffic in a time bucket, from one reporter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowLog {
    /// Unix seconds.
    pub start_time: i64,
    pub end_time: i64,
    pub source: FlowEnd,
    pub dest: FlowEnd,
    pub dest_service: Option<FlowService>,
    pub proto: Protocol,
    pub action: Action,
    pub reporter: Reporter,
    /// The trace that decided (`enforced_policies`).
    pub enforced_policies: Vec<PolicyHit>,
    /// The trace staged policies would give (`pending_policies`).
    pub pending_policies: Vec<PolicyHit>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub num_flows: u64,
    pub num_flows_started: u64,
    pub num_flows_completed: u64,
    pub process_name: Option<String>,
    pub process_id: Option<i64>,
    /// The node that reported it, when known.
    pub host: Option<String>,
}

/// A raw flow record: one connection's 5-tuple with counters, as any flow source (a
/// simulator, conntrack, IPFIX, a capture) can produce it. Enrichment and the policy engine
/// turn it into [`FlowLog`]s.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawFlow {
    /// Unix seconds.
    pub start_time: i64,
    pub end_time: i64,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    pub proto: Protocol,
    /// Source → destination.
    pub bytes_out: u64,
    /// Destination → source.
    pub bytes_in: u64,
    pub packets_out: u64,
    pub packets_in: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_id: Option<i64>,
    /// Which end saw it; `None` means the record stands for both ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporter: Option<Reporter>,
}

/// One distinct combination of what policy evaluation looks at in stored flow logs (both
/// ends, protocol, destination port, reporter and the stored verdict), with how many flow
/// logs and connections share it. What the impact preview re-evaluates: once per tuple,
/// not once per record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowTuple {
    /// `port` is the source port only when it was asked for (otherwise `None`).
    pub source: FlowEnd,
    pub dest: FlowEnd,
    pub proto: Protocol,
    pub reporter: Reporter,
    pub action: Action,
    /// Flow log records with this tuple.
    pub flow_logs: u64,
    /// Their `num_flows` (connections).
    pub num_flows: u64,
}

/// A flow log whose texts are borrowed (from the line it was decoded from, say): how a
/// decoder hands a flow log to columnar storage without allocating a [`FlowLog`] for it.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowLogView<'a> {
    pub start_time: i64,
    pub end_time: i64,
    pub source: FlowEndView<'a>,
    pub dest: FlowEndView<'a>,
    pub dest_service: Option<FlowServiceView<'a>>,
    pub proto: Protocol,
    pub action: Action,
    pub reporter: Reporter,
    /// Hits in their Calico ≥ 3.32 spelling (what [`PolicyHit`]'s `Display` prints).
    pub enforced_policies: &'a [&'a str],
    pub pending_policies: &'a [&'a str],
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub num_flows: u64,
    pub num_flows_started: u64,
    pub num_flows_completed: u64,
    pub process_name: Option<&'a str>,
    pub process_id: Option<i64>,
    pub host: Option<&'a str>,
}

/// One end of a [`FlowLogView`].
#[derive(Clone, Debug, PartialEq)]
pub struct FlowEndView<'a> {
    pub ip: Option<IpAddr>,
    pub name: Option<&'a str>,
    pub name_aggr: &'a str,
    pub namespace: Option<&'a str>,
    pub port: Option<u16>,
    pub endpoint_type: Option<EndpointType>,
    /// `key=value` texts with non-empty keys, sorted by key, each key once: the order and
    /// uniqueness of [`Labels`].
    pub labels: &'a [&'a str],
}

/// The Service of a [`FlowLogView`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowServiceView<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub port_name: &'a str,
    pub port_num: u16,
}

impl FlowLogView<'_> {
    /// The owned flow log. Fails only when a hit text is not a policy hit.
    pub fn to_flow_log(&self) -> Result<FlowLog, crate::HitParseError> {
        let hits = |texts: &[&str]| -> Result<Vec<PolicyHit>, crate::HitParseError> {
            texts.iter().map(|t| PolicyHit::parse(t)).collect()
        };
        Ok(FlowLog {
            start_time: self.start_time,
            end_time: self.end_time,
            source: self.source.to_flow_end(),
            dest: self.dest.to_flow_end(),
            dest_service: self.dest_service.as_ref().map(|s| FlowService {
                namespace: s.namespace.to_string(),
                name: s.name.to_string(),
                port_name: s.port_name.to_string(),
                port_num: s.port_num,
            }),
            proto: self.proto,
            action: self.action,
            reporter: self.reporter,
            enforced_policies: hits(self.enforced_policies)?,
            pending_policies: hits(self.pending_policies)?,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            packets_in: self.packets_in,
            packets_out: self.packets_out,
            num_flows: self.num_flows,
            num_flows_started: self.num_flows_started,
            num_flows_completed: self.num_flows_completed,
            process_name: self.process_name.map(str::to_string),
            process_id: self.process_id,
            host: self.host.map(str::to_string),
        })
    }
}

impl FlowEndView<'_> {
    fn to_flow_end(&self) -> FlowEnd {
        FlowEnd {
            ip: self.ip,
            name: self.name.map(str::to_string),
            name_aggr: self.name_aggr.to_string(),
            namespace: self.namespace.map(str::to_string),
            port: self.port,
            endpoint_type: self.endpoint_type,
            labels: self
                .labels
                .iter()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}
