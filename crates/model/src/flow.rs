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
