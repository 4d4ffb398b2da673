//! The two ends of a flow: how an address or a name becomes something policy can see.

use flowlens_model::{EndpointType, Protocol};
use smallvec::SmallVec;
use std::net::IpAddr;
use std::str::FromStr;

/// How a user names an end of a flow: an IP, or `ns/pod`, `ns/workload` (any of its pods) or
/// `ns/service` (one of its endpoints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerSpec {
    Ip(IpAddr),
    Named { namespace: String, name: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerSpecError {
    #[error("{0:?} is neither an IP address nor namespace/name")]
    Malformed(String),
    #[error(
        "no pod, workload or service named {name:?} in namespace {namespace:?}; \
         `flowlens inventory` lists what the snapshot holds"
    )]
    NotFound { namespace: String, name: String },
    #[error("service {namespace}/{name} has no endpoints to send the flow to")]
    NoBackends { namespace: String, name: String },
    #[error(
        "{namespace}/{name} uses the host network, so its address is its node's, and the \
         snapshot gives neither the pod's status.hostIP nor a HostEndpoint for {}",
        node.as_deref().unwrap_or("its node (the pod has no spec.nodeName)")
    )]
    HostNetworkWithoutAddress {
        namespace: String,
        name: String,
        node: Option<String>,
    },
}

impl FromStr for PeerSpec {
    type Err = PeerSpecError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(PeerSpec::Ip(ip));
        }
        match text.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(PeerSpec::Named {
                    namespace: ns.to_string(),
                    name: name.to_string(),
                })
            }
            _ => Err(PeerSpecError::Malformed(text.to_string())),
        }
    }
}

/// One end of a flow, resolved against the inventory.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    pub ip: IpAddr,
    /// The pod or host endpoint that owns the address, if any.
    pub endpoint: Option<u32>,
    /// Everything selectors can see at this address: the endpoint (if any) followed by every
    /// network set whose nets contain it. Calico's IP sets hold both, so a rule selector
    /// matches the address if it matches any of them.
    pub(crate) holders: SmallVec<[u32; 4]>,
    /// The network set that names the address in flow logs (longest prefix, namespaced sets
    /// preferred), when it is not an endpoint.
    pub(crate) network_set: Option<u32>,
}

/// What flow logs say about one end: type, namespace, names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAttribution {
    pub endpoint_type: EndpointType,
    /// `None` prints as `-`.
    pub namespace: Option<String>,
    pub name: String,
    pub name_aggr: String,
}

/// A flow as the engine sees it: the 5-tuple of addresses, protocol and ports (plus the ICMP
/// type and code for ICMP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FiveTuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: Protocol,
    pub src_port: u16,
    pub dst_port: u16,
    /// ICMP type and code, when the record carries them.
    pub icmp: Option<(u8, u8)>,
}

/// Where a flow to a Service's cluster IP really goes (Calico evaluates policy after DNAT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceTarget {
    pub namespace: String,
    pub name: String,
    /// The service port's name (`-` when unnamed, as flow logs print it).
    pub port_name: String,
    pub port: u16,
    /// The chosen backend endpoint and the port it listens on.
    pub endpoint: u32,
    pub endpoint_ip: IpAddr,
    pub target_port: u16,
}

/// Calico's `pvt`: RFC 1918, carrier-grade NAT, loopback, link-local and IPv6 unique-local
/// addresses. Everything else is `pub`.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80
        }
    }
}
