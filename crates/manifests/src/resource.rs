//! Parsed resources: what one manifest document says, already in model terms but not yet
//! assembled into an inventory.
//!
//! This is the seam between reading documents and building the inventory: a later live
//! Kubernetes watch can produce [`Resource`]s from API objects and reuse
//! [`build_inventory`](crate::build_inventory) unchanged.

use flowlens_model::{
    Endpoint, HostNetworkPod, Labels, NamedPort, Namespace, NetworkSet, Policy, Service,
    ServiceAccount, SourceRef, Tier,
};

/// One resource read from a manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// Where it was read from.
    pub source: SourceRef,
    /// The resource kind as written (`Deployment`, `NetworkPolicy`, …).
    pub kind: String,
    pub body: ResourceBody,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ResourceBody {
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    /// A pod, as a workload endpoint. `ips` may be empty: addresses are allocated when the
    /// inventory is built.
    Pod(Endpoint),
    /// A workload controller, expanded into endpoints when the inventory is built.
    Workload(Workload),
    Service(ServiceResource),
    NetworkSet(NetworkSet),
    /// A Calico HostEndpoint (`endpoint_type: Hep`).
    HostEndpoint(Endpoint),
    /// A pod or workload on the host network: no endpoint, its traffic is its node's.
    HostNetworkPod(HostNetworkPod),
    Tier(Tier),
    Policy(Box<PolicyResource>),
}

/// A Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job or CronJob.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// `Deployment`, `StatefulSet`, …
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// Endpoints to create, at least 1: a workload scaled to zero is modelled as one
    /// endpoint so policies for it can still be previewed.
    pub replicas: u32,
    pub template: PodTemplate,
}

/// What every pod of a workload shares.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodTemplate {
    pub labels: Labels,
    pub service_account: String,
    pub ports: Vec<NamedPort>,
    pub node: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceResource {
    /// `cluster_ips` empty means "allocate one", unless `headless`.
    pub service: Service,
    /// `clusterIP: None` (or `type: ExternalName`): the service gets no address.
    pub headless: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PolicyResource {
    pub policy: Policy,
    /// Where `spec.tier` was written, so an undeclared tier can be reported there.
    pub tier_at: FieldRef,
}

/// A field of a document, for errors found after parsing (when the inventory is built).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldRef {
    pub field: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl Resource {
    /// The key under which a later resource replaces an earlier one (as `kubectl apply`
    /// would): kind family, namespace and name.
    pub fn identity(&self) -> (String, Option<String>, String) {
        match &self.body {
            ResourceBody::Namespace(n) => ("Namespace".into(), None, n.name.clone()),
            ResourceBody::ServiceAccount(s) => (
                "ServiceAccount".into(),
                Some(s.namespace.clone()),
                s.name.clone(),
            ),
            ResourceBody::Pod(e) => ("Pod".into(), e.namespace.clone(), e.name.clone()),
            ResourceBody::Workload(w) => {
                (w.kind.clone(), Some(w.namespace.clone()), w.name.clone())
            }
            ResourceBody::Service(s) => (
                "Service".into(),
                Some(s.service.namespace.clone()),
                s.service.name.clone(),
            ),
            ResourceBody::NetworkSet(n) => {
                let kind = if n.namespace.is_some() {
                    "NetworkSet"
                } else {
                    "GlobalNetworkSet"
                };
                (kind.into(), n.namespace.clone(), n.name.clone())
            }
            ResourceBody::HostEndpoint(e) => ("HostEndpoint".into(), None, e.name.clone()),
            ResourceBody::HostNetworkPod(p) => {
                let kind = match &p.workload {
                    Some(w) if w.name == p.name => w.kind.clone(),
                    _ => "Pod".into(),
                };
                (kind, Some(p.namespace.clone()), p.name.clone())
            }
            ResourceBody::Tier(t) => ("Tier".into(), None, t.name.clone()),
            ResourceBody::Policy(p) => (
                format!("{:?}", p.policy.kind),
                p.policy.namespace.clone(),
                p.policy.name.clone(),
            ),
        }
    }

    /// `kind ns/name` for messages.
    pub fn describe(&self) -> String {
        let (_, namespace, name) = self.identity();
        match namespace {
            Some(ns) => format!("{} {ns}/{name}", self.kind),
            None => format!("{} {name}", self.kind),
        }
    }
}
