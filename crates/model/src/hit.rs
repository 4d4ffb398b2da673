//! Policy hits: the `<idx>|<tier>|<policy>|<action>|<rule>` strings of Calico flow logs.
//!
//! Two spellings exist. Calico ≥ 3.32 writes the kind explicitly
//! (`0|default|np:storefront/trusted|deny|-1`); older Calico Enterprise folds the tier and the
//! kind into the name (`0|default|storefront/default.trusted|deny|-1`). Both parse into the
//! same [`PolicyHit`], and either can be printed.

use crate::{PolicyKind, Tier};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The tier name Calico gives profile hits.
pub const PROFILE_TIER: &str = "__PROFILE__";

/// The verdict a hit records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HitAction {
    Allow,
    Deny,
    Pass,
}

impl HitAction {
    pub fn as_str(self) -> &'static str {
        match self {
            HitAction::Allow => "allow",
            HitAction::Deny => "deny",
            HitAction::Pass => "pass",
        }
    }

    pub fn parse(text: &str) -> Option<HitAction> {
        match text {
            "allow" => Some(HitAction::Allow),
            "deny" => Some(HitAction::Deny),
            "pass" => Some(HitAction::Pass),
            _ => None,
        }
    }
}

impl fmt::Display for HitAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which spelling to print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PolicyHitFormat {
    /// `<idx>|<tier>|<kind>:[<ns>/]<name>|<action>|<rule>` (Calico ≥ 3.32).
    #[default]
    Calico,
    /// `<idx>|<tier>|[<ns>/]<tier>.<name>|<action>|<rule>` (Calico Enterprise).
    Enterprise,
}

/// One step of a policy trace: which policy (or profile) decided what, at which rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PolicyHit {
    /// Position of this hit in its trace.
    pub index: u32,
    /// The tier, or `__PROFILE__` for profiles.
    pub tier: String,
    /// `None` for a profile.
    pub kind: Option<PolicyKind>,
    pub namespace: Option<String>,
    /// The policy's own name (`metadata.name`), or `kns.<ns>` for a namespace profile.
    pub name: String,
    pub action: HitAction,
    /// Index of the matching rule; -1 for the end of the tier.
    pub rule: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid policy hit {text:?}: {reason}")]
pub struct HitParseError {
    pub text: String,
    pub reason: String,
}

impl PolicyHit {
    pub fn is_profile(&self) -> bool {
        self.kind.is_none()
    }

    /// The hit for a namespace's default-allow profile.
    pub fn profile(index: u32, namespace: &str) -> PolicyHit {
        PolicyHit {
            index,
            tier: PROFILE_TIER.into(),
            kind: None,
            namespace: None,
            name: format!("kns.{namespace}"),
            action: HitAction::Allow,
            rule: 0,
        }
    }

    /// `ns/name` or `name`.
    pub fn qualified_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    pub fn to_string_in(&self, format: PolicyHitFormat) -> String {
        let policy = match format {
            PolicyHitFormat::Calico => self.calico_policy_field(),
            PolicyHitFormat::Enterprise => self.enterprise_policy_field(),
        };
        format!(
            "{}|{}|{}|{}|{}",
            self.index, self.tier, policy, self.action, self.rule
        )
    }

    fn calico_policy_field(&self) -> String {
        match self.kind {
            None => format!("pro:{}", self.name),
            Some(kind) => format!("{}:{}", kind.hit_tag(), self.qualified_name()),
        }
    }

    fn enterprise_policy_field(&self) -> String {
        let tier_prefixed = |name: &str| {
            if name.starts_with(&format!("{}.", self.tier)) {
                name.to_string()
            } else {
                format!("{}.{name}", self.tier)
            }
        };
        let name = match self.kind {
            None => format!("{PROFILE_TIER}.{}", self.name),
            Some(PolicyKind::KubernetesNetworkPolicy) => format!("knp.default.{}", self.name),
            Some(PolicyKind::StagedKubernetesNetworkPolicy) => {
                format!("staged:knp.default.{}", self.name)
            }
            Some(PolicyKind::AdminNetworkPolicy) => {
                format!("kanp.adminnetworkpolicy.{}", self.name)
            }
            Some(PolicyKind::BaselineAdminNetworkPolicy) => {
                format!("kbanp.baselineadminnetworkpolicy.{}", self.name)
            }
            // The older form predates ClusterNetworkPolicy; it is spelled as the admin kind
            // of its tier, which reads back to the same `kcnp` id.
            Some(PolicyKind::ClusterNetworkPolicy) if self.tier == Tier::KUBE_BASELINE => {
                format!("kbanp.baselineadminnetworkpolicy.{}", self.name)
            }
            Some(PolicyKind::ClusterNetworkPolicy) => {
                format!("kanp.adminnetworkpolicy.{}", self.name)
            }
            Some(kind) if kind.is_staged() => format!("staged:{}", tier_prefixed(&self.name)),
            Some(_) => tier_prefixed(&self.name),
        };
        match &self.namespace {
            Some(ns) => format!("{ns}/{name}"),
            None => name,
        }
    }

    /// Parses either spelling.
    pub fn parse(text: &str) -> Result<PolicyHit, HitParseError> {
        let err = |reason: &str| HitParseError {
            text: text.to_string(),
            reason: reason.into(),
        };
        let parts: Vec<&str> = text.split('|').collect();
        let [index, tier, policy, action, rule] = parts[..] else {
            return Err(err("expected 5 fields separated by '|'"));
        };
        let index: u32 = index
            .parse()
            .map_err(|_| err("policy index is not a number"))?;
        if !is_name(tier) {
            return Err(err("tier is empty or has invalid characters"));
        }
        let action =
            HitAction::parse(action).ok_or_else(|| err("action must be allow, deny or pass"))?;
        let rule: i32 = rule
            .parse()
            .map_err(|_| err("rule index is not a number"))?;
        if rule < -1 {
            return Err(err("rule index below -1"));
        }
        let (kind, namespace, name) = match policy.split_once(':') {
            Some((tag, rest)) if !tag.contains('/') && tag != "staged" => {
                parse_calico_field(tag, rest, tier).map_err(|r| err(&r))?
            }
            _ => parse_enterprise_field(policy, tier).map_err(|r| err(&r))?,
        };
        if name.is_empty() || !is_name(&name) {
            return Err(err("policy name is empty or has invalid characters"));
        }
        if namespace.as_deref().is_some_and(|ns| !is_name(ns)) {
            return Err(err("namespace is empty or has invalid characters"));
        }
        Ok(PolicyHit {
            index,
            tier: tier.to_string(),
            kind,
            namespace,
            name,
            action,
            rule,
        })
    }
}

impl PolicyHit {
    /// [`PolicyHit::parse`] with the name rules of Calico 3.32's own hit parser, for hits
    /// read from flow logs: the tier and the policy name are DNS subdomain names (lower-case
    /// letters, digits, `-` and `.`, beginning and ending with a letter or digit, at most
    /// 253 characters) and the namespace a DNS label (no `.`, at most 63). As in Calico, a
    /// trailing `-` is tolerated. The older Enterprise form is held to the same rules.
    /// Names Flowlens loads itself may be looser (upper case, `_`), so hits it makes are
    /// read back with [`PolicyHit::parse`].
    pub fn parse_strict(text: &str) -> Result<PolicyHit, HitParseError> {
        let hit = PolicyHit::parse(text)?;
        let err = |reason: String| HitParseError {
            text: text.to_string(),
            reason,
        };
        if hit.tier != PROFILE_TIER {
            dns_name(&hit.tier, false).map_err(|r| err(format!("tier {:?} {r}", hit.tier)))?;
        }
        dns_name(&hit.name, false).map_err(|r| err(format!("policy name {:?} {r}", hit.name)))?;
        if let Some(ns) = &hit.namespace {
            dns_name(ns, true).map_err(|r| err(format!("namespace {ns:?} {r}")))?;
        }
        Ok(hit)
    }
}

/// Kubernetes' DNS-1123 subdomain (`label == false`) or label rules, with a trailing `-`
/// tolerated as Calico's parser tolerates it (it checks names as prefixes); the reason when
/// broken.
fn dns_name(text: &str, label: bool) -> Result<(), &'static str> {
    let (max, chars) = if label {
        (63, "may hold only lower-case letters, digits and '-'")
    } else {
        (253, "may hold only lower-case letters, digits, '-' and '.'")
    };
    if text.is_empty() {
        return Err("is empty");
    }
    if text.len() > max {
        return Err(if label {
            "is longer than 63 characters"
        } else {
            "is longer than 253 characters"
        });
    }
    // A trailing '-' counts as a letter, as in Kubernetes' prefix check.
    let masked = match text.strip_suffix('-') {
        Some(rest) if !rest.is_empty() => format!("{rest}a"),
        _ => text.to_owned(),
    };
    let parts: Vec<&str> = if label {
        vec![masked.as_str()]
    } else {
        masked.split('.').collect()
    };
    for part in parts {
        let bytes = part.as_bytes();
        let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
        if !bytes.iter().all(allowed) {
            return Err(chars);
        }
        let alnum =
            |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !alnum(bytes.first()) || !alnum(bytes.last()) {
            return Err("must begin and end (and, between dots, each part) with a letter or digit");
        }
    }
    Ok(())
}

type HitSubject = (Option<PolicyKind>, Option<String>, String);

fn split_namespace(text: &str) -> (Option<String>, &str) {
    match text.split_once('/') {
        Some((ns, name)) => (Some(ns.to_string()), name),
        None => (None, text),
    }
}

fn parse_calico_field(tag: &str, rest: &str, tier: &str) -> Result<HitSubject, String> {
    let (namespace, name) = split_namespace(rest);
    let kind = match tag {
        "pro" => {
            if tier != PROFILE_TIER {
                return Err(format!("profile hits belong to tier {PROFILE_TIER}"));
            }
            if !(name.starts_with("kns.") || name.starts_with("ksa.")) {
                return Err("profile name must start with kns. or ksa.".into());
            }
            return Ok((None, None, name.to_string()));
        }
        other => PolicyKind::from_hit_tag(other, tier)
            .ok_or_else(|| format!("unknown policy kind {other:?}"))?,
    };
    if kind.is_namespaced() != namespace.is_some() {
        return Err(if kind.is_namespaced() {
            format!("{tag} hits need a namespace")
        } else {
            format!("{tag} hits have no namespace")
        });
    }
    Ok((Some(kind), namespace, name.to_string()))
}

fn parse_enterprise_field(policy: &str, tier: &str) -> Result<HitSubject, String> {
    let (namespace, mut name) = split_namespace(policy);
    if tier == PROFILE_TIER {
        let profile = name
            .strip_prefix("__PROFILE__.")
            .ok_or("profile hits are named __PROFILE__.<profile>")?;
        return Ok((None, None, profile.to_string()));
    }
    let staged = match name.strip_prefix("staged:") {
        Some(rest) => {
            name = rest;
            true
        }
        None => false,
    };
    if let Some(rest) = name.strip_prefix("knp.default.") {
        let kind = if staged {
            PolicyKind::StagedKubernetesNetworkPolicy
        } else {
            PolicyKind::KubernetesNetworkPolicy
        };
        return Ok((Some(kind), namespace, rest.to_string()));
    }
    if let Some(rest) = name.strip_prefix("kanp.adminnetworkpolicy.") {
        return Ok((Some(PolicyKind::AdminNetworkPolicy), None, rest.to_string()));
    }
    if let Some(rest) = name.strip_prefix("kbanp.baselineadminnetworkpolicy.") {
        return Ok((
            Some(PolicyKind::BaselineAdminNetworkPolicy),
            None,
            rest.to_string(),
        ));
    }
    // `<tier>.staged:<name>` is another spelling Calico Enterprise has used.
    let tier_dot = format!("{tier}.");
    if let Some(rest) = name
        .strip_prefix(&tier_dot)
        .and_then(|r| r.strip_prefix("staged:"))
    {
        return Ok((
            Some(staged_kind(namespace.is_some(), true)),
            namespace,
            rest.to_string(),
        ));
    }
    // Keep names as the tier-prefixed form would have been written: strip the tier prefix
    // only when present, so `security.allow-dns` and `allow-dns` both map to `allow-dns`.
    let plain = name.strip_prefix(&tier_dot).unwrap_or(name);
    Ok((
        Some(staged_kind(namespace.is_some(), staged)),
        namespace,
        plain.to_string(),
    ))
}

fn staged_kind(namespaced: bool, staged: bool) -> PolicyKind {
    match (namespaced, staged) {
        (true, false) => PolicyKind::NetworkPolicy,
        (true, true) => PolicyKind::StagedNetworkPolicy,
        (false, false) => PolicyKind::GlobalNetworkPolicy,
        (false, true) => PolicyKind::StagedGlobalNetworkPolicy,
    }
}

/// Kubernetes-style names: letters, digits, `-`, `.`, `_`.
fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

impl fmt::Display for PolicyHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_in(PolicyHitFormat::Calico))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calico_format_round_trips() {
        for text in [
            "0|tier|gnp:name|allow|0",
            "1|tier|sgnp:name.with.dots|deny|2",
            "0|kube-admin|kcnp:name|deny|1",
            "1|kube-baseline|kcnp:name|deny|2",
            "0|tier1|np:default/tier1.np1-1|pass|0",
            "0|default|knp:namespace/name|allow|2",
            "1|tier|snp:namespace/name|deny|0",
            "1|default|sknp:namespace/name|deny|3",
            "1|__PROFILE__|pro:kns.default|allow|0",
            "0|tier1|np:ns1/policy1|deny|-1",
        ] {
            let hit = PolicyHit::parse(text).unwrap();
            assert_eq!(hit.to_string(), text);
        }
    }

    #[test]
    fn enterprise_format_round_trips() {
        for text in [
            "0|tier|tier.name|allow|0",
            "1|tier|staged:tier.name|deny|2",
            "0|tier|namespace/tier.name|allow|1",
            "1|tier|namespace/staged:tier.name|deny|0",
            "0|default|namespace/knp.default.name|allow|2",
            "1|default|namespace/staged:knp.default.name|deny|3",
            "3|kube-admin|kanp.adminnetworkpolicy.name.with.dots|pass|4",
            "0|kube-baseline|kbanp.baselineadminnetworkpolicy.name|pass|4",
            "1|__PROFILE__|__PROFILE__.kns.default|allow|0",
            "0|tier1|ns1/tier1.policy1|deny|-1",
        ] {
            let hit = PolicyHit::parse(text).unwrap();
            assert_eq!(
                hit.to_string_in(PolicyHitFormat::Enterprise),
                text,
                "{hit:?}"
            );
        }
    }

    #[test]
    fn formats_translate() {
        let hit = PolicyHit::parse("1|default|storefront/default.trusted|deny|-1").unwrap();
        assert_eq!(hit.kind, Some(PolicyKind::NetworkPolicy));
        assert_eq!(hit.name, "trusted");
        assert_eq!(hit.to_string(), "1|default|np:storefront/trusted|deny|-1");
        let hit = PolicyHit::parse("0|default|knp:fme/deny-all|deny|-1").unwrap();
        assert_eq!(
            hit.to_string_in(PolicyHitFormat::Enterprise),
            "0|default|fme/knp.default.deny-all|deny|-1"
        );
        let hit = PolicyHit::parse("0|tier2|default/tier2.staged:np2-1|deny|-1").unwrap();
        assert_eq!(hit.kind, Some(PolicyKind::StagedNetworkPolicy));
        assert_eq!(hit.name, "np2-1");
    }

    #[test]
    fn rejects_bad_hits() {
        for text in [
            "1|tier|sgnp:tier.name|deny|notInt",
            "notint|kube-baseline|kcnp:name|deny|2",
            "0|tier|gnp:tier.name|allow|0|extra",
            "1|tier|gnp:invalid-ch@aracter|deny|2",
            "0|@kube-baseline|kcnp:policy1|allow|-1",
            "0|kube-admin|kcnp:name|badaction|1",
            "0||np:namespace/name|allow|1",
            "0|tier1|np:namespace/|pass|0",
            "1|___PROFILE__|pro:kns.default|allow|0",
            "1|__PROFILE__|pro:PSA.svcacct|allow|0",
            "0|tier|np:name|allow|0",
            "0|tier|gnp:ns/name|allow|0",
            "",
            "|||||",
        ] {
            assert!(PolicyHit::parse(text).is_err(), "{text} should fail");
        }
    }

    #[test]
    fn strict_parsing_follows_calicos_name_rules() {
        for (text, reason) in [
            ("1|_|snp:namespace/tier.name|deny|0", "tier \"_\""),
            ("0|Security|gnp:security.a|allow|0", "tier \"Security\""),
            (
                "0|default|gnp:Allow-All|allow|0",
                "policy name \"Allow-All\"",
            ),
            (
                "0|default|gnp:allow_all|allow|0",
                "policy name \"allow_all\"",
            ),
            ("0|default|gnp:-lead|allow|0", "policy name \"-lead\""),
            ("0|default|gnp:a..b|allow|0", "policy name \"a..b\""),
            ("0|default|np:my.ns/x|allow|0", "namespace \"my.ns\""),
            ("0|default|knp:NS/x|allow|0", "namespace \"NS\""),
            (
                "0|sec.ops|sec.ops.Bad_Name|deny|1",
                "policy name \"Bad_Name\"",
            ),
            ("0|default|Ns/default.x|allow|0", "namespace \"Ns\""),
        ] {
            let e = PolicyHit::parse_strict(text).expect_err(text);
            assert!(e.reason.contains(reason), "{text}: {}", e.reason);
        }
        let long_ns = format!("0|default|np:{}/x|allow|0", "n".repeat(64));
        assert!(PolicyHit::parse_strict(&long_ns).is_err());
        for text in [
            "0|default|np:storefront/dmz|allow|0",
            "1|kube-admin|kcnp:tenant-isolation|pass|2",
            "0|__PROFILE__|pro:kns.default|allow|0",
            "0|security|gnp:security.block-threatfeed|pass|1",
            "3|default|storefront/default.staged:tighten|deny|-1",
            "0|default|np:ns/prefix-|allow|0",
        ] {
            assert!(PolicyHit::parse_strict(text).is_ok(), "{text} should pass");
        }
        // What loaded names may be (upper case, `_`) still reads back leniently.
        assert!(PolicyHit::parse("0|default|gnp:Allow_All|allow|0").is_ok());
    }
}
