//! The resource kinds the watch reads, and where the API serves each of them.

use serde::Serialize;
use std::fmt;

/// Which API serves Calico's resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum CalicoApi {
    /// `projectcalico.org/v3`: Calico's API server, or the v3 CRDs of Calico ≥ 3.32. Reads
    /// and writes go here when it is served.
    V3,
    /// `crd.projectcalico.org/v1`: the CRDs Calico keeps its data in. Read-only for
    /// Flowlens: Calico validates and defaults only what goes through v3.
    CrdV1,
}

impl CalicoApi {
    pub fn group(self) -> &'static str {
        match self {
            CalicoApi::V3 => "projectcalico.org",
            CalicoApi::CrdV1 => "crd.projectcalico.org",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            CalicoApi::V3 => "v3",
            CalicoApi::CrdV1 => "v1",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            CalicoApi::V3 => "projectcalico.org/v3",
            CalicoApi::CrdV1 => "crd.projectcalico.org/v1",
        }
    }
}

/// A kind of object the watch reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Kind {
    Namespace,
    ServiceAccount,
    Pod,
    Service,
    EndpointSlice,
    Node,
    /// `networking.k8s.io/v1` NetworkPolicy.
    NetworkPolicy,
    AdminNetworkPolicy,
    BaselineAdminNetworkPolicy,
    /// `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy: snapshots load it; the
    /// watch and write-back do not handle it yet (not in [`Kind::ALL`]), so writing one back
    /// says it is not served.
    ClusterNetworkPolicy,
    Tier,
    /// Calico's namespaced NetworkPolicy.
    CalicoNetworkPolicy,
    GlobalNetworkPolicy,
    StagedNetworkPolicy,
    StagedGlobalNetworkPolicy,
    StagedKubernetesNetworkPolicy,
    NetworkSet,
    GlobalNetworkSet,
    HostEndpoint,
}

/// Where the Kubernetes API serves a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Fixed group and version.
    Fixed {
        group: &'static str,
        version: &'static str,
    },
    /// `projectcalico.org/v3` or `crd.projectcalico.org/v1`, whichever is served.
    Calico,
}

impl Kind {
    pub const ALL: [Kind; 18] = [
        Kind::Namespace,
        Kind::ServiceAccount,
        Kind::Pod,
        Kind::Service,
        Kind::EndpointSlice,
        Kind::Node,
        Kind::NetworkPolicy,
        Kind::AdminNetworkPolicy,
        Kind::BaselineAdminNetworkPolicy,
        Kind::Tier,
        Kind::CalicoNetworkPolicy,
        Kind::GlobalNetworkPolicy,
        Kind::StagedNetworkPolicy,
        Kind::StagedGlobalNetworkPolicy,
        Kind::StagedKubernetesNetworkPolicy,
        Kind::NetworkSet,
        Kind::GlobalNetworkSet,
        Kind::HostEndpoint,
    ];

    /// The `kind` field of the objects.
    pub fn kind_name(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Node => "Node",
            Kind::NetworkPolicy | Kind::CalicoNetworkPolicy => "NetworkPolicy",
            Kind::AdminNetworkPolicy => "AdminNetworkPolicy",
            Kind::BaselineAdminNetworkPolicy => "BaselineAdminNetworkPolicy",
            Kind::ClusterNetworkPolicy => "ClusterNetworkPolicy",
            Kind::Tier => "Tier",
            Kind::GlobalNetworkPolicy => "GlobalNetworkPolicy",
            Kind::StagedNetworkPolicy => "StagedNetworkPolicy",
            Kind::StagedGlobalNetworkPolicy => "StagedGlobalNetworkPolicy",
            Kind::StagedKubernetesNetworkPolicy => "StagedKubernetesNetworkPolicy",
            Kind::NetworkSet => "NetworkSet",
            Kind::GlobalNetworkSet => "GlobalNetworkSet",
            Kind::HostEndpoint => "HostEndpoint",
        }
    }

    /// The resource name in URLs and RBAC rules.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::ServiceAccount => "serviceaccounts",
            Kind::Pod => "pods",
            Kind::Service => "services",
            Kind::EndpointSlice => "endpointslices",
            Kind::Node => "nodes",
            Kind::NetworkPolicy | Kind::CalicoNetworkPolicy => "networkpolicies",
            Kind::AdminNetworkPolicy => "adminnetworkpolicies",
            Kind::BaselineAdminNetworkPolicy => "baselineadminnetworkpolicies",
            Kind::ClusterNetworkPolicy => "clusternetworkpolicies",
            Kind::Tier => "tiers",
            Kind::GlobalNetworkPolicy => "globalnetworkpolicies",
            Kind::StagedNetworkPolicy => "stagednetworkpolicies",
            Kind::StagedGlobalNetworkPolicy => "stagedglobalnetworkpolicies",
            Kind::StagedKubernetesNetworkPolicy => "stagedkubernetesnetworkpolicies",
            Kind::NetworkSet => "networksets",
            Kind::GlobalNetworkSet => "globalnetworksets",
            Kind::HostEndpoint => "hostendpoints",
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(
            self,
            Kind::Namespace
                | Kind::Node
                | Kind::AdminNetworkPolicy
                | Kind::BaselineAdminNetworkPolicy
                | Kind::ClusterNetworkPolicy
                | Kind::Tier
                | Kind::GlobalNetworkPolicy
                | Kind::StagedGlobalNetworkPolicy
                | Kind::GlobalNetworkSet
                | Kind::HostEndpoint
        )
    }

    pub fn group(self) -> Group {
        let fixed = |group, version| Group::Fixed { group, version };
        match self {
            Kind::Namespace | Kind::ServiceAccount | Kind::Pod | Kind::Service | Kind::Node => {
                fixed("", "v1")
            }
            Kind::EndpointSlice => fixed("discovery.k8s.io", "v1"),
            Kind::NetworkPolicy => fixed("networking.k8s.io", "v1"),
            Kind::AdminNetworkPolicy | Kind::BaselineAdminNetworkPolicy => {
                fixed("policy.networking.k8s.io", "v1alpha1")
            }
            Kind::ClusterNetworkPolicy => fixed("policy.networking.k8s.io", "v1alpha2"),
            _ => Group::Calico,
        }
    }

    pub fn is_calico(self) -> bool {
        self.group() == Group::Calico
    }

    /// Whether objects of this kind are policies (the kinds write-back handles).
    pub fn is_policy(self) -> bool {
        matches!(
            self,
            Kind::NetworkPolicy
                | Kind::AdminNetworkPolicy
                | Kind::BaselineAdminNetworkPolicy
                | Kind::ClusterNetworkPolicy
                | Kind::CalicoNetworkPolicy
                | Kind::GlobalNetworkPolicy
                | Kind::StagedNetworkPolicy
                | Kind::StagedGlobalNetworkPolicy
                | Kind::StagedKubernetesNetworkPolicy
        )
    }

    /// `group/version` as served, given which Calico API the cluster has.
    pub fn api_version(self, calico: CalicoApi) -> String {
        match self.group() {
            Group::Fixed { group: "", version } => version.to_string(),
            Group::Fixed { group, version } => format!("{group}/{version}"),
            Group::Calico => calico.api_version().to_string(),
        }
    }

    /// The kind a policy document names with this `apiVersion` and `kind`.
    pub fn of_document(api_version: &str, kind: &str) -> Option<Kind> {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let calico = matches!(group, "projectcalico.org" | "crd.projectcalico.org");
        Kind::ALL.into_iter().find(|k| {
            k.kind_name() == kind
                && match k.group() {
                    Group::Calico => calico,
                    Group::Fixed { group: g, .. } => g == group,
                }
        })
    }
}

impl fmt::Display for Kind {
    /// `pods`, `networkpolicies.networking.k8s.io`, `tiers.projectcalico.org`: the name
    /// `kubectl get` takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.group() {
            Group::Fixed { group: "", .. } => f.write_str(self.plural()),
            Group::Fixed { group, .. } => write!(f, "{}.{group}", self.plural()),
            Group::Calico => write!(f, "{}.projectcalico.org", self.plural()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_name_their_kind() {
        assert_eq!(
            Kind::of_document("networking.k8s.io/v1", "NetworkPolicy"),
            Some(Kind::NetworkPolicy)
        );
        assert_eq!(
            Kind::of_document("projectcalico.org/v3", "NetworkPolicy"),
            Some(Kind::CalicoNetworkPolicy)
        );
        assert_eq!(
            Kind::of_document("crd.projectcalico.org/v1", "GlobalNetworkPolicy"),
            Some(Kind::GlobalNetworkPolicy)
        );
        assert_eq!(Kind::of_document("antrea.io/v1", "Tier"), None);
        assert_eq!(Kind::Pod.to_string(), "pods");
        assert_eq!(
            Kind::Tier.api_version(CalicoApi::CrdV1),
            "crd.projectcalico.org/v1"
        );
        assert_eq!(Kind::Node.api_version(CalicoApi::V3), "v1");
    }
}
