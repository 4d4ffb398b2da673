//! Things traffic comes from and goes to, and the namespaces and services around them.

use crate::{Labels, Protocol};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Calico's endpoint types, as flow logs name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointType {
    /// Workload endpoint: a pod (or VM) on the pod network.
    Wep,
    /// Host endpoint: a node's interface.
    Hep,
    /// A NetworkSet or GlobalNetworkSet.
    Ns,
    /// Any other address; aggregated name `pub` or `pvt`.
    Net,
}

impl EndpointType {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointType::Wep => "wep",
            EndpointType::Hep => "hep",
            EndpointType::Ns => "ns",
            EndpointType::Net => "net",
        }
    }

    pub fn parse(text: &str) -> Option<EndpointType> {
        match text {
            "wep" => Some(EndpointType::Wep),
            "hep" => Some(EndpointType::Hep),
            "ns" => Some(EndpointType::Ns),
            "net" => Some(EndpointType::Net),
            _ => None,
        }
    }
}

impl std::fmt::Display for EndpointType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The controller a pod belongs to, when it came from one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadRef {
    /// `Deployment`, `StatefulSet`, `DaemonSet`, `ReplicaSet`, `Job`, `CronJob`, …
    pub kind: String,
    pub name: String,
}

/// A named container port, which rules may refer to by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NamedPort {
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
}

/// A pod (`wep`) or a host endpoint (`hep`): something policies select and apply to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub endpoint_type: EndpointType,
    /// `None` for host endpoints, which are not namespaced.
    pub namespace: Option<String>,
    pub name: String,
    /// The name with the per-replica part replaced by `*`, as Calico aggregates it
    /// (`frontend-864f4fcdfd-*`).
    pub name_aggr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadRef>,
    /// The object's own labels (without Calico's automatic ones; see `selector_labels`).
    pub labels: Labels,
    pub ips: Vec<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Named container ports (pods) or named ports (host endpoints).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<NamedPort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Host endpoints: the interface they stand for (`*` for all interfaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Host endpoints: the profiles that decide when no policy applies (for example
    /// `projectcalico-default-allow`). Empty means such traffic is denied, as Calico does for
    /// host endpoints. Pods always fall back to their namespace's `kns.<ns>` profile instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
}

impl Endpoint {
    /// The labels policy selectors see: the object's labels plus Calico's automatic ones
    /// (`projectcalico.org/namespace`, `projectcalico.org/orchestrator`,
    /// `projectcalico.org/serviceaccount`). Host endpoints get none of these, which is what
    /// lets `global()` tell them apart.
    pub fn selector_labels(&self) -> Labels {
        use crate::well_known_labels as wk;
        let mut labels = self.labels.clone();
        if self.endpoint_type == EndpointType::Wep {
            if let Some(ns) = &self.namespace {
                labels.insert(wk::NAMESPACE.into(), ns.clone());
            }
            labels.insert(wk::ORCHESTRATOR.into(), "k8s".into());
            if let Some(sa) = &self.service_account {
                labels.insert(wk::SERVICE_ACCOUNT.into(), sa.clone());
            }
        }
        labels
    }

    /// What an inventory's endpoints are sorted and kept unique by (kind, namespace, name).
    pub fn order_key(&self) -> (EndpointType, Option<&str>, &str) {
        (self.endpoint_type, self.namespace.as_deref(), &self.name)
    }

    /// `ns/name` for pods, `name` for host endpoints.
    pub fn qualified_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The port number of a named port for this protocol, if the endpoint declares it.
    pub fn named_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.name == name && p.protocol == protocol)
            .map(|p| p.port)
    }
}

/// A Kubernetes namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    pub name: String,
    pub labels: Labels,
}

impl Namespace {
    /// The labels a `namespaceSelector` sees: the namespace's labels plus
    /// `kubernetes.io/metadata.name` and `projectcalico.org/name`, both set to its name.
    pub fn selector_labels(&self) -> Labels {
        use crate::well_known_labels as wk;
        let mut labels = self.labels.clone();
        labels.insert(wk::K8S_NAMESPACE_NAME.into(), self.name.clone());
        labels.insert(wk::NAME.into(), self.name.clone());
        labels
    }
}

/// A Kubernetes service account; rules can match on its name or labels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccount {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
}

impl ServiceAccount {
    /// The labels a `serviceAccounts.selector` sees: own labels plus `projectcalico.org/name`.
    pub fn selector_labels(&self) -> Labels {
        let mut labels = self.labels.clone();
        labels.insert(crate::well_known_labels::NAME.into(), self.name.clone());
        labels
    }
}

/// A Service's target port: a number, or a container port name resolved per pod.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetPort {
    Number(u16),
    Name(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub protocol: Protocol,
    pub port: u16,
    pub target_port: TargetPort,
}

/// A Kubernetes Service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub cluster_ips: Vec<IpAddr>,
    pub ports: Vec<ServicePort>,
    /// `None` for services without a selector (their endpoints are managed by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Labels>,
}

/// A Calico NetworkSet (namespaced) or GlobalNetworkSet (`namespace: None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub labels: Labels,
    pub nets: Vec<IpNet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_egress_domains: Vec<String>,
}

impl NetworkSet {
    /// The labels selectors see; namespaced sets carry `projectcalico.org/namespace` like pods.
    pub fn selector_labels(&self) -> Labels {
        let mut labels = self.labels.clone();
        if let Some(ns) = &self.namespace {
            labels.insert(crate::well_known_labels::NAMESPACE.into(), ns.clone());
        }
        labels
    }
}
