//! Naming a pod on the host network. Calico gives such a pod no workload endpoint: its
//! traffic is its node's, policed by the node's host endpoint if one covers the node, and
//! not at all otherwise. Resolving the name to the node's address, with a note saying so,
//! answers the question the user asked instead of "no pod named …".

use crate::{Engine, Peer, PeerSpecError};
use flowlens_model::{EndpointType, HostNetworkPod};
use smallvec::SmallVec;
use std::net::IpAddr;

impl Engine {
    /// The peer a host-network pod's traffic is, and a line for the trace; `None` when no
    /// host-network pod (or workload) has this name.
    pub(crate) fn resolve_host_network(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Result<(Peer, String), PeerSpecError>> {
        let inv = self.inventory();
        let pod = inv.host_network_pods.iter().find(|p| {
            p.namespace == namespace
                && (p.name == name || p.workload.as_ref().is_some_and(|w| w.name == name))
        })?;
        let host_endpoint = pod.node.as_ref().and_then(|node| {
            inv.endpoints.iter().position(|e| {
                e.endpoint_type == EndpointType::Hep && e.node.as_deref() == Some(node.as_str())
            })
        });
        let ip = pod
            .ips
            .first()
            .copied()
            .or_else(|| host_endpoint.and_then(|h| inv.endpoints[h].ips.first().copied()));
        let mut peer = match (ip, host_endpoint) {
            (Some(ip), _) => self.resolve(ip),
            (None, Some(h)) => Peer {
                ip: IpAddr::from([0, 0, 0, 0]),
                endpoint: Some(h as u32),
                holders: SmallVec::from_slice(&[h as u32]),
                network_set: None,
            },
            (None, None) => {
                return Some(Err(PeerSpecError::HostNetworkWithoutAddress {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    node: pod.node.clone(),
                }));
            }
        };
        // The node's host endpoint polices the node's traffic even when its expected IPs do
        // not list the address the pod's status gives (an interface-wide endpoint).
        if peer.endpoint.is_none()
            && let Some(h) = host_endpoint
        {
            peer.endpoint = Some(h as u32);
            peer.holders.insert(0, h as u32);
            peer.network_set = None;
        }
        Some(Ok((peer.clone(), self.host_network_note(pod, &peer))))
    }

    fn host_network_note(&self, pod: &HostNetworkPod, peer: &Peer) -> String {
        let who = format!("{}/{}", pod.namespace, pod.name);
        let node = match &pod.node {
            Some(node) => format!("node {node}"),
            None => "its node".to_owned(),
        };
        let address = if peer.ip.is_unspecified() {
            String::new()
        } else {
            format!(" ({})", peer.ip)
        };
        let endpoint = peer
            .endpoint
            .map(|e| &self.inventory().endpoints[e as usize])
            .filter(|e| e.endpoint_type == EndpointType::Hep);
        match endpoint {
            Some(hep) => format!(
                "{who} uses the host network: Calico gives it no workload endpoint; its traffic is {node}'s{address} and is evaluated as host traffic, policed by host endpoint {}",
                hep.name
            ),
            None => format!(
                "{who} uses the host network: Calico gives it no workload endpoint; its traffic is {node}'s{address}, and no HostEndpoint covers that node, so no policy applies at this end (unpoliced host traffic)"
            ),
        }
    }
}
