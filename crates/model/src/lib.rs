//! Flowlens domain types, free of any I/O or wire format.
//!
//! Everything the rest of Flowlens talks about lives here: labels, endpoints (pods, host
//! endpoints, network sets, plain networks), namespaces, services, tiers, policies and their
//! rules, the fields of a flow log ([`FlowField`], the one list its encodings derive from) and
//! the policy-hit strings that flow logs carry. Loaders (`flowlens-manifests`) turn YAML into
//! these types; the policy engine (`flowlens-policy`) evaluates them. Nothing here
//! knows about YAML, JSON documents or HTTP; `serde` derives exist only so other layers can
//! print the inventory.
//!
//! A live source keeps an inventory current one [`InventoryItem`] at a time, and keeps the
//! history a live cluster has: who held an address when ([`IpTimeline`]) and every revision
//! of every policy ([`PolicyHistory`]). They live here, below the pipeline and the policy
//! engine, so enrichment and `explain` can read them without knowing where they came from.

mod endpoint;
mod flow;
mod flow_field;
mod history;
mod hit;
mod host_network;
mod inventory;
mod item;
mod policy;
mod policy_id;
mod protocol;
mod timeline;

pub use endpoint::{
    Endpoint, EndpointType, NamedPort, Namespace, NetworkSet, Service, ServiceAccount, ServicePort,
    TargetPort, WorkloadRef,
};
pub use flow::{
    Action, FlowEnd, FlowEndView, FlowLog, FlowLogView, FlowService, FlowServiceView, FlowTuple,
    RawFlow, Reporter, RuleDirection,
};
pub use flow_field::{FieldKind, FlowField};
pub use history::{
    Change, PolicyChange, PolicyHistory, PolicyRevision, Revision, RevisionKind, TierChange,
    TierRevision,
};
pub use hit::{HitAction, HitParseError, PROFILE_TIER, PolicyHit, PolicyHitFormat};
pub use host_network::HostNetworkPod;
pub use inventory::{Inventory, InventoryCounts, InventoryEditError, sort_policies};
pub use item::{InventoryItem, InventoryKey, ItemChange};
pub use policy::{
    EntityRule, HttpMatch, HttpPathMatch, IcmpMatch, Policy, PolicyKind, PolicyTypes, PortMatch,
    Rule, RuleAction, ServiceAccountMatch, ServiceMatch, SourceRef, StagedAction, Tier,
    TierDefaultAction, order_key,
};
pub use policy_id::{PolicyId, PolicyIdError};
pub use protocol::{Protocol, ProtocolParseError};
pub use timeline::{IpOwner, IpTimeline, Tenure, UnixMillis};

/// Labels of any labelled object. Ordered so printing and hashing are deterministic.
pub type Labels = std::collections::BTreeMap<String, String>;

/// Labels Calico attaches to every endpoint and namespace, usable in selectors.
pub mod well_known_labels {
    /// On endpoints: the endpoint's namespace. Absent on non-namespaced endpoints, which is
    /// what `global()` tests for.
    pub const NAMESPACE: &str = "projectcalico.org/namespace";
    /// On endpoints: `k8s` for pods.
    pub const ORCHESTRATOR: &str = "projectcalico.org/orchestrator";
    /// On endpoints: the pod's service account.
    pub const SERVICE_ACCOUNT: &str = "projectcalico.org/serviceaccount";
    /// On namespaces and service accounts: their own name.
    pub const NAME: &str = "projectcalico.org/name";
    /// On namespaces: Kubernetes (≥ 1.21) sets this to the namespace's name.
    pub const K8S_NAMESPACE_NAME: &str = "kubernetes.io/metadata.name";
}

/// Serialises a selector as its canonical string, so JSON output is readable.
pub mod selector_serde {
    use flowlens_selector::Selector;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sel: &Selector, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(sel)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Selector, D::Error> {
        let text = String::deserialize(d)?;
        Selector::parse(&text).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<Selector>`.
    pub mod option {
        use flowlens_selector::Selector;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(sel: &Option<Selector>, s: S) -> Result<S::Ok, S::Error> {
            match sel {
                Some(sel) => s.collect_str(sel),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Selector>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| Selector::parse(&text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}
