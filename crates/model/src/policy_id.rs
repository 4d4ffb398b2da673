//! Policy ids: the kind tag and name a policy hit names it by (`np:fme/engine`, `gnp:deny-all`,
//! `kcnp:tenant-isolation`), used wherever one policy is addressed (the Policy Board, the
//! editor, the CLI).

use crate::{Policy, PolicyKind, Tier};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Which policy: kind, namespace (namespaced kinds only) and `metadata.name`.
///
/// AdminNetworkPolicy and BaselineAdminNetworkPolicy share the tag `kcnp`, as in Calico's
/// policy hits; [`PolicyId::parse`] reads `kcnp:` as an AdminNetworkPolicy and
/// [`PolicyId::matches`] accepts either kind for it (the baseline kind has a single
/// instance named `default`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyId {
    pub kind: PolicyKind,
    pub namespace: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid policy id {text:?}: {reason}")]
pub struct PolicyIdError {
    pub text: String,
    pub reason: String,
}

impl PolicyId {
    pub fn of(policy: &Policy) -> PolicyId {
        PolicyId {
            kind: policy.kind,
            namespace: policy.namespace.clone(),
            name: policy.name.clone(),
        }
    }

    /// Reads `np:NS/NAME`, `gnp:NAME`, `knp:NS/NAME`, `snp:NS/NAME`, `sgnp:NAME`,
    /// `sknp:NS/NAME` or `kcnp:NAME`.
    pub fn parse(text: &str) -> Result<PolicyId, PolicyIdError> {
        let err = |reason: &str| PolicyIdError {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let (tag, rest) = text
            .split_once(':')
            .ok_or_else(|| err("expected KIND:[NAMESPACE/]NAME, e.g. np:fme/engine"))?;
        // Without a tier, `kcnp` reads as the admin kind; both admin kinds print as `kcnp`.
        let kind = PolicyKind::from_hit_tag(tag, "")
            .ok_or_else(|| err("unknown kind: expected np, gnp, knp, snp, sgnp, sknp or kcnp"))?;
        let (namespace, name) = match rest.split_once('/') {
            Some((ns, name)) => (Some(ns.to_string()), name.to_string()),
            None => (None, rest.to_string()),
        };
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        };
        if !valid(&name) || namespace.as_deref().is_some_and(|ns| !valid(ns)) {
            return Err(err("names use letters, digits, '-', '.' and '_'"));
        }
        if kind.is_namespaced() != namespace.is_some() {
            return Err(err(if kind.is_namespaced() {
                "this kind is namespaced: write KIND:NAMESPACE/NAME"
            } else {
                "this kind is global: write KIND:NAME without a namespace"
            }));
        }
        Ok(PolicyId {
            kind,
            namespace,
            name,
        })
    }

    /// Whether `policy` is the one this id names.
    pub fn matches(&self, policy: &Policy) -> bool {
        policy.kind.hit_tag() == self.kind.hit_tag()
            && policy.namespace == self.namespace
            && policy.name == self.name
    }

    /// The tier a policy of this kind must live in, when the kind fixes it.
    pub fn fixed_tier(&self) -> Option<&'static str> {
        match self.kind {
            PolicyKind::KubernetesNetworkPolicy | PolicyKind::StagedKubernetesNetworkPolicy => {
                Some(Tier::DEFAULT)
            }
            PolicyKind::AdminNetworkPolicy => Some(Tier::KUBE_ADMIN),
            PolicyKind::BaselineAdminNetworkPolicy => Some(Tier::KUBE_BASELINE),
            _ => None,
        }
    }
}

impl Policy {
    /// This policy's id (`np:fme/engine`).
    pub fn id(&self) -> PolicyId {
        PolicyId::of(self)
    }
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}:{ns}/{}", self.kind.hit_tag(), self.name),
            None => write!(f, "{}:{}", self.kind.hit_tag(), self.name),
        }
    }
}

impl std::str::FromStr for PolicyId {
    type Err = PolicyIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyId::parse(s)
    }
}

impl Serialize for PolicyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PolicyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PolicyId::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_bad_forms() {
        for text in [
            "np:fme/application.engine-fmeserver",
            "gnp:security.block-rogue",
            "knp:fme/deny-all",
            "snp:ns/x",
            "sgnp:x",
            "sknp:ns/x",
            "kcnp:tenant-isolation",
        ] {
            let id = PolicyId::parse(text).unwrap();
            assert_eq!(id.to_string(), text);
        }
        for text in [
            "",
            "np",
            "np:name",
            "gnp:ns/name",
            "xx:ns/name",
            "np:ns/",
            "np:/name",
            "np:ns/a b",
            "kcnp:ns/name",
        ] {
            assert!(PolicyId::parse(text).is_err(), "{text} should fail");
        }
        let json = serde_json::to_string(&PolicyId::parse("np:a/b").unwrap()).unwrap();
        assert_eq!(json, "\"np:a/b\"");
    }
}
