//! What the advisor learns from: observed flows, aggregated, one per distinct combination of
//! the two ends, protocol, destination port, reporter and verdict.

use flowlens_model::{Action, EndpointType, FlowEnd, FlowTuple, Labels, Protocol, Reporter};
use serde::Serialize;
use std::net::IpAddr;

/// One end of an observed flow, as flow logs describe it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ObservedEnd {
    /// `None` when the flow log did not say.
    pub endpoint_type: Option<EndpointType>,
    pub namespace: Option<String>,
    /// The pod or host endpoint name, when kept.
    pub name: Option<String>,
    /// `web-6d4cf56db6-*`, a network set's name, or `pub`/`pvt`.
    pub name_aggr: String,
    /// The address, when kept.
    pub ip: Option<IpAddr>,
    /// The labels the flow log carried (none when aggregated away).
    pub labels: Labels,
}

/// An observed flow, aggregated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObservedFlow {
    pub source: ObservedEnd,
    pub dest: ObservedEnd,
    pub proto: Protocol,
    /// `None` when the flow log did not keep it (or the protocol has none).
    pub dest_port: Option<u16>,
    pub action: Action,
    /// Which end logged it: `src` records carry the egress verdict, `dst` the ingress one.
    pub reporter: Reporter,
    /// Connections (`num_flows`).
    pub num_flows: u64,
}

impl From<&FlowEnd> for ObservedEnd {
    fn from(end: &FlowEnd) -> Self {
        ObservedEnd {
            endpoint_type: end.endpoint_type,
            namespace: end.namespace.clone(),
            name: end.name.clone(),
            name_aggr: end.name_aggr.clone(),
            ip: end.ip,
            labels: end.labels.clone(),
        }
    }
}

impl From<&FlowTuple> for ObservedFlow {
    fn from(t: &FlowTuple) -> Self {
        ObservedFlow {
            source: ObservedEnd::from(&t.source),
            dest: ObservedEnd::from(&t.dest),
            proto: t.proto,
            dest_port: t.dest.port,
            action: t.action,
            reporter: t.reporter,
            num_flows: t.num_flows,
        }
    }
}
