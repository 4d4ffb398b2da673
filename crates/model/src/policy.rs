//! Tiers, policies and rules, in Calico's model.
//!
//! Every policy kind Flowlens understands is held in Calico's shape: Kubernetes
//! NetworkPolicies and (Baseline)AdminNetworkPolicies are converted into it by the loader, as
//! Calico converts them, and keep their origin in [`PolicyKind`].

use crate::Protocol;
use flowlens_selector::Selector;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// What happens to traffic that reaches the end of a tier without matching a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TierDefaultAction {
    Deny,
    Pass,
}

/// A policy tier. Tiers are evaluated in ascending `order`; no order sorts last.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tier {
    pub name: String,
    pub order: Option<f64>,
    pub default_action: TierDefaultAction,
}

impl Tier {
    pub const DEFAULT: &'static str = "default";
    pub const KUBE_ADMIN: &'static str = "kube-admin";
    pub const KUBE_BASELINE: &'static str = "kube-baseline";

    /// The tiers every Calico cluster has: `kube-admin` (1,000, Pass), `default` (1,000,000,
    /// Deny) and `kube-baseline` (10,000,000, Pass).
    pub fn builtins() -> [Tier; 3] {
        [
            Tier {
                name: Tier::KUBE_ADMIN.into(),
                order: Some(1_000.0),
                default_action: TierDefaultAction::Pass,
            },
            Tier {
                name: Tier::DEFAULT.into(),
                order: Some(1_000_000.0),
                default_action: TierDefaultAction::Deny,
            },
            Tier {
                name: Tier::KUBE_BASELINE.into(),
                order: Some(10_000_000.0),
                default_action: TierDefaultAction::Pass,
            },
        ]
    }
}

/// Sort key for tiers and policies: by order (none last), then by name.
pub fn order_key(order: Option<f64>) -> (bool, f64) {
    match order {
        Some(o) => (false, o),
        None => (true, 0.0),
    }
}

/// Where a policy came from, so that the origin can be named in messages and flow logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PolicyKind {
    /// projectcalico.org/v3 NetworkPolicy.
    NetworkPolicy,
    /// projectcalico.org/v3 GlobalNetworkPolicy.
    GlobalNetworkPolicy,
    /// projectcalico.org/v3 StagedNetworkPolicy.
    StagedNetworkPolicy,
    /// projectcalico.org/v3 StagedGlobalNetworkPolicy.
    StagedGlobalNetworkPolicy,
    /// projectcalico.org/v3 StagedKubernetesNetworkPolicy.
    StagedKubernetesNetworkPolicy,
    /// networking.k8s.io/v1 NetworkPolicy.
    KubernetesNetworkPolicy,
    /// policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy.
    AdminNetworkPolicy,
    /// policy.networking.k8s.io/v1alpha1 BaselineAdminNetworkPolicy.
    BaselineAdminNetworkPolicy,
    /// policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy (tier `Admin` or `Baseline`).
    ClusterNetworkPolicy,
}

impl PolicyKind {
    /// The kind tag of Calico ≥ 3.32 policy-hit strings.
    pub fn hit_tag(self) -> &'static str {
        match self {
            PolicyKind::NetworkPolicy => "np",
            PolicyKind::GlobalNetworkPolicy => "gnp",
            PolicyKind::StagedNetworkPolicy => "snp",
            PolicyKind::StagedGlobalNetworkPolicy => "sgnp",
            PolicyKind::StagedKubernetesNetworkPolicy => "sknp",
            PolicyKind::KubernetesNetworkPolicy => "knp",
            PolicyKind::AdminNetworkPolicy
            | PolicyKind::BaselineAdminNetworkPolicy
            | PolicyKind::ClusterNetworkPolicy => "kcnp",
        }
    }

    /// The kind a hit tag names. `kcnp` stands for both admin kinds; the tier tells them
    /// apart (the baseline kind lives in `kube-baseline`). A ClusterNetworkPolicy prints as
    /// `kcnp` too and matches the same ids ([`crate::PolicyId::matches`] compares tags).
    pub fn from_hit_tag(tag: &str, tier: &str) -> Option<PolicyKind> {
        Some(match tag {
            "np" => PolicyKind::NetworkPolicy,
            "gnp" => PolicyKind::GlobalNetworkPolicy,
            "snp" => PolicyKind::StagedNetworkPolicy,
            "sgnp" => PolicyKind::StagedGlobalNetworkPolicy,
            "sknp" => PolicyKind::StagedKubernetesNetworkPolicy,
            "knp" => PolicyKind::KubernetesNetworkPolicy,
            "kcnp" if tier == Tier::KUBE_BASELINE => PolicyKind::BaselineAdminNetworkPolicy,
            "kcnp" => PolicyKind::AdminNetworkPolicy,
            _ => return None,
        })
    }

    pub fn is_staged(self) -> bool {
        matches!(
            self,
            PolicyKind::StagedNetworkPolicy
                | PolicyKind::StagedGlobalNetworkPolicy
                | PolicyKind::StagedKubernetesNetworkPolicy
        )
    }

    /// Namespaced kinds apply only to endpoints of their own namespace.
    pub fn is_namespaced(self) -> bool {
        matches!(
            self,
            PolicyKind::NetworkPolicy
                | PolicyKind::StagedNetworkPolicy
                | PolicyKind::StagedKubernetesNetworkPolicy
                | PolicyKind::KubernetesNetworkPolicy
        )
    }

    /// Whether it came from a Kubernetes resource (converted the way Calico converts it).
    pub fn is_kubernetes(self) -> bool {
        matches!(
            self,
            PolicyKind::KubernetesNetworkPolicy
                | PolicyKind::StagedKubernetesNetworkPolicy
                | PolicyKind::AdminNetworkPolicy
                | PolicyKind::BaselineAdminNetworkPolicy
                | PolicyKind::ClusterNetworkPolicy
        )
    }

    /// The enforced kind a staged kind stands in for (itself when not staged).
    pub fn enforced_kind(self) -> PolicyKind {
        match self {
            PolicyKind::StagedNetworkPolicy => PolicyKind::NetworkPolicy,
            PolicyKind::StagedGlobalNetworkPolicy => PolicyKind::GlobalNetworkPolicy,
            PolicyKind::StagedKubernetesNetworkPolicy => PolicyKind::KubernetesNetworkPolicy,
            k => k,
        }
    }

    /// The resource kind as manifests write it.
    pub fn resource_kind(self) -> &'static str {
        match self {
            PolicyKind::NetworkPolicy | PolicyKind::KubernetesNetworkPolicy => "NetworkPolicy",
            PolicyKind::GlobalNetworkPolicy => "GlobalNetworkPolicy",
            PolicyKind::StagedNetworkPolicy => "StagedNetworkPolicy",
            PolicyKind::StagedGlobalNetworkPolicy => "StagedGlobalNetworkPolicy",
            PolicyKind::StagedKubernetesNetworkPolicy => "StagedKubernetesNetworkPolicy",
            PolicyKind::AdminNetworkPolicy => "AdminNetworkPolicy",
            PolicyKind::BaselineAdminNetworkPolicy => "BaselineAdminNetworkPolicy",
            PolicyKind::ClusterNetworkPolicy => "ClusterNetworkPolicy",
        }
    }
}

/// Which directions a policy applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PolicyTypes {
    pub ingress: bool,
    pub egress: bool,
}

/// For staged policies: whether enforcing it would add/replace (`Set`) or remove (`Delete`)
/// the policy of the same name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StagedAction {
    #[default]
    Set,
    Delete,
}

/// The file and document a resource was read from, for messages that point back at it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    pub file: String,
    /// Zero-based index of the document within the file.
    pub document: usize,
    /// One-based line of the document's start, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

/// A policy of any kind, in Calico's shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub kind: PolicyKind,
    /// The manifest's `metadata.name`. The prefixed names older Calico versions show
    /// (`knp.default.<name>`, `<tier>.<name>`) are derived where they are printed.
    pub name: String,
    /// `None` for global kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub tier: String,
    pub order: Option<f64>,
    /// Endpoints the policy applies to. For namespaced kinds, only within `namespace`.
    #[serde(with = "crate::selector_serde")]
    pub selector: Selector,
    /// Global kinds: namespaces whose endpoints the policy applies to (`None`: all, and
    /// non-namespaced endpoints too).
    #[serde(
        default,
        with = "crate::selector_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub namespace_selector: Option<Selector>,
    /// Applies only to endpoints whose service account matches.
    #[serde(
        default,
        with = "crate::selector_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_account_selector: Option<Selector>,
    pub types: PolicyTypes,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
    #[serde(default)]
    pub do_not_track: bool,
    #[serde(default)]
    pub pre_dnat: bool,
    #[serde(default)]
    pub apply_on_forward: bool,
    /// Only meaningful for staged kinds.
    #[serde(default)]
    pub staged_action: StagedAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
}

impl Policy {
    /// Whether a rule looks at the source port (Calico's `source.ports` / `notPorts`).
    pub fn uses_source_ports(&self) -> bool {
        self.ingress
            .iter()
            .chain(&self.egress)
            .any(|r| !r.source.ports.is_empty() || !r.source.not_ports.is_empty())
    }

    /// `ns/name` or `name`.
    pub fn qualified_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The name without a leading `<tier>.`: older Calico required tier-prefixed names, so
    /// both `security.allow-dns` and `allow-dns` can name the same policy.
    pub fn unprefixed_name(&self) -> &str {
        self.name
            .strip_prefix(&self.tier)
            .and_then(|rest| rest.strip_prefix('.'))
            .unwrap_or(&self.name)
    }

    /// Identity used to match a staged policy with the enforced policy it would replace.
    pub fn enforced_identity(&self) -> (PolicyKind, Option<&str>, &str) {
        (
            self.kind.enforced_kind(),
            self.namespace.as_deref(),
            self.unprefixed_name(),
        )
    }

    pub fn rules(&self, ingress: bool) -> &[Rule] {
        if ingress { &self.ingress } else { &self.egress }
    }
}

/// What a rule does when it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuleAction {
    Allow,
    Deny,
    /// Skip the rest of this tier and go to the next one.
    Pass,
    /// Record and go on with the next rule.
    Log,
}

impl RuleAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleAction::Allow => "Allow",
            RuleAction::Deny => "Deny",
            RuleAction::Pass => "Pass",
            RuleAction::Log => "Log",
        }
    }
}

/// A port, a port range, or a named port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PortMatch {
    Single(u16),
    Range { first: u16, last: u16 },
    Named(String),
}

impl std::fmt::Display for PortMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortMatch::Single(p) => write!(f, "{p}"),
            PortMatch::Range { first, last } => write!(f, "{first}:{last}"),
            PortMatch::Named(n) => f.write_str(n),
        }
    }
}

/// ICMP type and code match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IcmpMatch {
    #[serde(rename = "type")]
    pub icmp_type: Option<u8>,
    pub code: Option<u8>,
}

/// `serviceAccounts` in a rule's source or destination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountMatch {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    #[serde(
        default,
        with = "crate::selector_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub selector: Option<Selector>,
}

/// `services` in a rule's source or destination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceMatch {
    pub name: String,
    /// Defaults to the policy's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// An HTTP match. It cannot be decided from L3/L4 flow data and is reported as such.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpMatch {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<HttpPathMatch>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpPathMatch {
    Exact(String),
    Prefix(String),
}

/// A rule's `source` or `destination`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nets: Vec<IpNet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_nets: Vec<IpNet>,
    #[serde(
        default,
        with = "crate::selector_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub selector: Option<Selector>,
    #[serde(
        default,
        with = "crate::selector_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub not_selector: Option<Selector>,
    #[serde(
        default,
        with = "crate::selector_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub namespace_selector: Option<Selector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ports: Vec<PortMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_accounts: Option<ServiceAccountMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<ServiceMatch>,
}

impl EntityRule {
    /// True when the entity places no constraint at all.
    pub fn is_empty(&self) -> bool {
        *self == EntityRule::default()
    }
}

/// One ingress or egress rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub action: RuleAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_protocol: Option<Protocol>,
    /// 4 or 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_version: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_icmp: Option<IcmpMatch>,
    #[serde(default, skip_serializing_if = "EntityRule::is_empty")]
    pub source: EntityRule,
    #[serde(default, skip_serializing_if = "EntityRule::is_empty")]
    pub destination: EntityRule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpMatch>,
}

impl Rule {
    /// A rule with this action that matches everything.
    pub fn new(action: RuleAction) -> Rule {
        Rule {
            action,
            protocol: None,
            not_protocol: None,
            ip_version: None,
            icmp: None,
            not_icmp: None,
            source: EntityRule::default(),
            destination: EntityRule::default(),
            http: None,
        }
    }
}
