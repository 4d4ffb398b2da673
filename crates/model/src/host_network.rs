//! Pods on the host network: Calico gives them no workload endpoint, their traffic is their
//! node's, so policy sees them only through the node's host endpoint (if any).

use crate::{Labels, WorkloadRef};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A pod (or a workload's pods) with `hostNetwork: true`, kept so that naming it resolves to
/// its node instead of reading as a typo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostNetworkPod {
    pub namespace: String,
    /// The pod's name, or the workload's for pods a workload would run.
    pub name: String,
    pub workload: Option<WorkloadRef>,
    pub labels: Labels,
    /// `spec.nodeName`, when the manifest says.
    pub node: Option<String>,
    /// The node's addresses as the pod's status gives them (`podIPs`, `hostIP`).
    pub ips: Vec<IpAddr>,
}
