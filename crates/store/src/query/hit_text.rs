//! Reading stored policy-hit strings without allocating: the store writes hits in the Calico
//! ≥ 3.32 spelling (`<idx>|<tier>|<kind>:[<ns>/]<name>|<action>|<rule>`), and filters look at
//! millions of them.

use crate::types::PolicyFilter;
use flowlens_model::PolicyKind;

/// The parts of one stored hit string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HitRef<'a> {
    pub tier: &'a str,
    /// `np`, `gnp`, …, or `pro` for profiles.
    pub tag: &'a str,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub action: &'a str,
    pub rule: &'a str,
}

impl<'a> HitRef<'a> {
    /// Splits a Calico-spelled hit; `None` when it is not one.
    pub fn split(text: &'a str) -> Option<HitRef<'a>> {
        let mut parts = text.split('|');
        let (_index, tier, policy, action, rule) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if parts.next().is_some() {
            return None;
        }
        let (tag, qualified) = policy.split_once(':')?;
        let (namespace, name) = match qualified.split_once('/') {
            Some((ns, name)) => (Some(ns), name),
            None => (None, qualified),
        };
        Some(HitRef {
            tier,
            tag,
            namespace,
            name,
            action,
            rule,
        })
    }

    /// The policy kind; `None` for profiles and unknown tags.
    pub fn kind(&self) -> Option<PolicyKind> {
        PolicyKind::from_hit_tag(self.tag, self.tier)
    }

    pub fn matches(&self, filter: &PolicyFilter) -> bool {
        filter.tier.as_deref().is_none_or(|t| t == self.tier)
            && filter.name.as_deref().is_none_or(|n| n == self.name)
            && filter
                .namespace
                .as_deref()
                .is_none_or(|ns| Some(ns) == self.namespace)
            && filter.kind.is_none_or(|k| Some(k) == self.kind())
            && filter.action.is_none_or(|a| a.as_str() == self.action)
            && filter
                .rule
                .is_none_or(|r| self.rule.parse::<i32>() == Ok(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlens_model::HitAction;

    #[test]
    fn splits_calico_hits() {
        let h = HitRef::split("0|default|np:storefront/trusted|deny|-1").unwrap();
        assert_eq!(h.tier, "default");
        assert_eq!(h.namespace, Some("storefront"));
        assert_eq!(h.name, "trusted");
        assert_eq!(h.kind(), Some(PolicyKind::NetworkPolicy));
        let h = HitRef::split("1|kube-baseline|kcnp:base|pass|2").unwrap();
        assert_eq!(h.kind(), Some(PolicyKind::BaselineAdminNetworkPolicy));
        assert!(HitRef::split("0|default|x|deny").is_none());
        assert!(HitRef::split("0|default|noColon|deny|1").is_none());
    }

    #[test]
    fn filter_parts_all_apply() {
        let h = HitRef::split("0|security|gnp:block|deny|3").unwrap();
        let mut f = PolicyFilter {
            tier: Some("security".into()),
            ..Default::default()
        };
        assert!(h.matches(&f));
        f.action = Some(HitAction::Deny);
        f.rule = Some(3);
        f.kind = Some(PolicyKind::GlobalNetworkPolicy);
        assert!(h.matches(&f));
        f.namespace = Some("x".into());
        assert!(!h.matches(&f));
    }
}
