//! The Flowlens policy advisor: least-privilege policy recommended from observed traffic.
//!
//! [`recommend`] takes the inventory and the traffic observed over a learning window
//! ([`ObservedFlow`]s: aggregated flows with both ends, protocol, destination port, reporter
//! and verdict) and returns, per namespace, one ingress and one egress
//! `StagedNetworkPolicy` in the `namespace-isolation` tier (Calico Enterprise's name and
//! order for it: 10,000, after `kube-admin` and before `default`) whose rules allow what was
//! observed and nothing else, grouped as a person would write them:
//!
//! - pods of the same namespace by their workload's stable labels ([`labels`]: never
//!   `pod-template-hash`, `controller-revision-hash`, per-replica or generated names), the
//!   fewest that tell the workload apart from the namespace's other pods;
//! - pods of other namespaces by `kubernetes.io/metadata.name` and those labels;
//! - cluster DNS as one rule for the whole namespace (UDP and TCP 53);
//! - a Service by its backends (flow logs record the pod behind it);
//! - addresses by the NetworkSet or GlobalNetworkSet that holds them (by its labels), else
//!   as CIDRs; addresses flow logs kept only as `pub`/`pvt` by the public or private ranges;
//! - destination ports collapsed into ranges where the observed ports are dense
//!   ([`PortDensity`]).
//!
//! [`kubernetes::as_kubernetes`] rewrites a recommendation as Kubernetes NetworkPolicies,
//! listing what that API cannot say. [`audit::audit`] holds the static reachability of the
//! workloads (what today's policies allow, [`flowlens_policy::reachability`]) against the
//! traffic observed: allowed but never used, denied and attempted, rules never hit.
//!
//! Output is deterministic (sorted rules, stable names: `namespace-isolation.<ns>-ingress`).
//! Nothing here reads a store or writes YAML: the command line (`flowlens recommend`) reads
//! the window's flows through the store's `flow_tuples` and writes the policies with the
//! manifests crate; an API can do the same.
//!
//! ```
//! use flowlens_advisor::{Options, recommend};
//! use flowlens_model::Inventory;
//! let rec = recommend(&Inventory::new(), &[], &Options::default());
//! assert!(rec.policies.is_empty());
//! ```

pub mod audit;
pub mod kubernetes;
pub mod labels;
mod lifecycle;
mod observed;
mod peers;
pub mod ports;
mod recommend;

pub use lifecycle::{Lifecycle, PolicyStatus, lifecycle};
pub use observed::{ObservedEnd, ObservedFlow};
pub use peers::{PeerKey, Terms, private_nets};
pub use ports::PortDensity;
pub use recommend::{
    Learn, Options, PLATFORM_NAMESPACE_PREFIXES, Recommendation, RecommendedPolicy, RuleEvidence,
    TIER, TIER_ORDER, recommend,
};
