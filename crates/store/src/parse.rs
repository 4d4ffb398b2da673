//! The text forms of queries, read alike from the command line and from API query strings:
//! field filters (`source_namespace=storefront`), policy filters (`default/np:shop/web`),
//! sort keys (`end_time:desc`) and durations (`15m`).

use crate::error::{Result, StoreError};
use crate::schema::field_named;
use crate::types::{FieldFilter, FilterOp, PolicyFilter, SortKey};
use flowlens_model::{FieldKind, HitAction, PolicyKind};
use std::time::Duration;

/// The operators of a field filter, longest first so that `!^=` is not read as `!` + `^=`.
pub const FILTER_OPERATORS: [&str; 8] = ["!^=", "!=", "^=", ">=", "<=", "=", ">", "<"];

/// After `=` or `!=`, a value starting with this lists alternatives (`action=in:allow,deny`).
pub const IN_LIST_PREFIX: &str = "in:";

/// The value that stands for "absent" on optional fields, as in Calico's flow logs.
pub const ABSENT: &str = "-";

impl FilterOp {
    /// The operator as a filter writes it (`=` and `!=` also for their `in:` lists).
    pub fn symbol(&self) -> &'static str {
        match self {
            FilterOp::Eq(_) | FilterOp::In(_) => "=",
            FilterOp::Ne(_) | FilterOp::NotIn(_) => "!=",
            FilterOp::Prefix(_) => "^=",
            FilterOp::NotPrefix(_) => "!^=",
            FilterOp::Gt(_) => ">",
            FilterOp::Ge(_) => ">=",
            FilterOp::Lt(_) => "<",
            FilterOp::Le(_) => "<=",
        }
    }

    /// The operators a field of `kind` takes: every one on text; no prefix on numbers; on
    /// lists, whether an entry equals (`=`, `!=`) or starts with (`^=`, `!^=`) the value.
    pub fn operators_for(kind: FieldKind) -> &'static [&'static str] {
        match kind {
            FieldKind::Text | FieldKind::OptionalText => &FILTER_OPERATORS,
            FieldKind::Int | FieldKind::OptionalInt | FieldKind::Counter => {
                &["!=", ">=", "<=", "=", ">", "<"]
            }
            FieldKind::List => &["!^=", "!=", "^=", "="],
        }
    }
}

impl FieldFilter {
    /// Parses `FIELD OP VALUE` with no spaces around the operator:
    ///
    /// | text | meaning |
    /// |---|---|
    /// | `source_namespace=storefront` | equals |
    /// | `source_namespace!=storefront` | differs (true when absent) |
    /// | `dest_name_aggr^=frontend-` | starts with |
    /// | `dest_name_aggr!^=frontend-` | does not start with |
    /// | `dest_port>1024`, `>=`, `<`, `<=` | compares (numbers for numeric columns) |
    /// | `action=in:allow,deny` | one of (comma-separated) |
    /// | `action!=in:allow,deny` | none of |
    /// | `source_namespace=-` | absent (Calico's `-`) |
    /// | `dest_labels=app=web` | the list contains `app=web` |
    pub fn parse(text: &str) -> Result<FieldFilter> {
        let start = text
            .find(['=', '!', '^', '<', '>'])
            .ok_or_else(|| StoreError::invalid(format!(
                "filter {text:?} has no operator; write FIELD=VALUE (or !=, ^=, !^=, >, >=, <, <=, =in:A,B)"
            )))?;
        let (name, rest) = text.split_at(start);
        let field = field_named(name.trim())?;
        let op = FILTER_OPERATORS
            .iter()
            .find(|op| rest.starts_with(**op))
            .ok_or_else(|| StoreError::invalid(format!("filter {text:?}: unknown operator")))?;
        let value = &rest[op.len()..];
        let list = |v: &str| -> Vec<String> { v.split(',').map(str::to_string).collect() };
        let op = match (*op, value.strip_prefix(IN_LIST_PREFIX)) {
            ("=", Some(values)) => FilterOp::In(list(values)),
            ("!=", Some(values)) => FilterOp::NotIn(list(values)),
            ("=", None) => FilterOp::Eq(value.into()),
            ("!=", None) => FilterOp::Ne(value.into()),
            ("^=", _) => FilterOp::Prefix(value.into()),
            ("!^=", _) => FilterOp::NotPrefix(value.into()),
            (">", _) => FilterOp::Gt(value.into()),
            (">=", _) => FilterOp::Ge(value.into()),
            ("<", _) => FilterOp::Lt(value.into()),
            ("<=", _) => FilterOp::Le(value.into()),
            (other, _) => return Err(StoreError::invalid(format!("unknown operator {other}"))),
        };
        Ok(FieldFilter { field, op })
    }
}

impl std::str::FromStr for FieldFilter {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<FieldFilter> {
        FieldFilter::parse(s)
    }
}

impl PolicyFilter {
    /// Parses a policy filter from its three parts, as the command line (`--policy`,
    /// `--policy-action`, `--policy-rule`) and the API (`policy`, `policy_action`,
    /// `policy_rule`) take them. `None` when none is given.
    ///
    /// | `policy` | keeps flows whose enforced trace holds a hit of |
    /// |---|---|
    /// | `TIER` | any policy of the tier |
    /// | `TIER/NAME` | the policy of that name in the tier (any namespace, any kind) |
    /// | `TIER/NAMESPACE/NAME` | the namespaced policy |
    /// | `TIER/KIND:NAME`, `TIER/KIND:NAMESPACE/NAME` | of that kind, as hits tag it (`np`, `gnp`, `knp`, `snp`, `sgnp`, `sknp`, `kcnp`) |
    ///
    /// `action` (`allow`, `deny`, `pass`) and `rule` (an index, `-1` for the end of the tier)
    /// keep only hits with that action and rule.
    pub fn parse(
        policy: Option<&str>,
        action: Option<&str>,
        rule: Option<&str>,
    ) -> Result<Option<PolicyFilter>> {
        let Some(text) = policy else {
            if action.is_some() || rule.is_some() {
                return Err(StoreError::invalid(
                    "a policy action or rule needs the policy: TIER, TIER/NAME, \
                     TIER/NAMESPACE/NAME or TIER/KIND:[NAMESPACE/]NAME",
                ));
            }
            return Ok(None);
        };
        let bad = || {
            StoreError::invalid(format!(
                "policy {text:?}: write TIER, TIER/NAME, TIER/NAMESPACE/NAME or \
                 TIER/KIND:[NAMESPACE/]NAME (KIND: np, gnp, knp, snp, sgnp, sknp, kcnp)"
            ))
        };
        let (tier, rest) = match text.split_once('/') {
            Some((tier, rest)) => (tier, Some(rest)),
            None => (text, None),
        };
        if tier.is_empty() {
            return Err(bad());
        }
        let mut filter = PolicyFilter {
            tier: Some(tier.to_string()),
            ..PolicyFilter::default()
        };
        if let Some(rest) = rest {
            let rest = match rest.split_once(':') {
                Some((tag, rest)) if !tag.contains('/') => {
                    filter.kind = Some(PolicyKind::from_hit_tag(tag, tier).ok_or_else(bad)?);
                    rest
                }
                _ => rest,
            };
            let (namespace, name) = match rest.split_once('/') {
                Some((ns, name)) => (Some(ns), name),
                None => (None, rest),
            };
            if name.is_empty() || name.contains('/') || namespace.is_some_and(str::is_empty) {
                return Err(bad());
            }
            filter.namespace = namespace.map(str::to_string);
            filter.name = Some(name.to_string());
        }
        if let Some(action) = action {
            filter.action = Some(HitAction::parse(action).ok_or_else(|| {
                StoreError::invalid(format!(
                    "policy action {action:?}: expected allow, deny or pass"
                ))
            })?);
        }
        if let Some(rule) = rule {
            filter.rule = Some(rule.trim().parse().map_err(|_| {
                StoreError::invalid(format!(
                    "policy rule {rule:?}: expected a rule index (-1 for the end of the tier)"
                ))
            })?);
        }
        Ok(Some(filter))
    }
}

impl SortKey {
    /// `end_time`, `end_time:asc`, `end_time:desc` or `-end_time` (descending).
    pub fn parse(text: &str) -> Result<SortKey> {
        let text = text.trim();
        if let Some(name) = text.strip_prefix('-') {
            return Ok(SortKey::desc(field_named(name)?));
        }
        let (name, dir) = text.split_once(':').unwrap_or((text, "asc"));
        let field = field_named(name)?;
        match dir {
            "asc" => Ok(SortKey::asc(field)),
            "desc" => Ok(SortKey::desc(field)),
            other => Err(StoreError::invalid(format!(
                "sort direction {other:?}: expected asc or desc"
            ))),
        }
    }
}

/// Parses `90s`, `15m`, `1h`, `7d`, `2w` or combinations such as `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let err = || {
        StoreError::invalid(format!(
            "duration {text:?}: expected a number and a unit (s, m, h, d, w), e.g. 15m, 1h, 7d"
        ))
    };
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut any = false;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(err()),
        };
        let n: u64 = digits.parse().map_err(|_| err())?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(err)?;
        digits.clear();
        any = true;
    }
    if !digits.is_empty() || !any {
        return Err(err());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlens_model::FlowField;

    fn op(text: &str) -> FilterOp {
        FieldFilter::parse(text).unwrap().op
    }

    #[test]
    fn filters_parse() {
        let f = FieldFilter::parse("source_namespace=storefront").unwrap();
        assert_eq!(f.field, FlowField::SourceNamespace);
        assert_eq!(f.op, FilterOp::Eq("storefront".into()));
        assert_eq!(op("source_namespace!=a"), FilterOp::Ne("a".into()));
        assert_eq!(
            op("dest_name_aggr^=front"),
            FilterOp::Prefix("front".into())
        );
        assert_eq!(
            op("dest_name_aggr!^=front"),
            FilterOp::NotPrefix("front".into())
        );
        assert_eq!(op("dest_port>1024"), FilterOp::Gt("1024".into()));
        assert_eq!(op("dest_port>=1024"), FilterOp::Ge("1024".into()));
        assert_eq!(op("dest_port<1024"), FilterOp::Lt("1024".into()));
        assert_eq!(op("dest_port<=1024"), FilterOp::Le("1024".into()));
        assert_eq!(
            op("action=in:allow,deny"),
            FilterOp::In(vec!["allow".into(), "deny".into()])
        );
        assert_eq!(
            op("action!=in:allow"),
            FilterOp::NotIn(vec!["allow".into()])
        );
        assert_eq!(op("dest_labels=app=web"), FilterOp::Eq("app=web".into()));
    }

    #[test]
    fn fields_are_named_as_in_calico_flow_logs() {
        let f = FieldFilter::parse("enforced_policies^=0|security|").unwrap();
        assert_eq!(f.field, FlowField::PoliciesEnforced);
        // The stored column's name is for SQL only.
        let e = FieldFilter::parse("policies_enforced^=0|")
            .unwrap_err()
            .to_string();
        assert!(e.contains("enforced_policies"), "{e}");
    }

    #[test]
    fn bad_filters_explain() {
        let e = FieldFilter::parse("nope=1").unwrap_err().to_string();
        assert!(e.contains("source_namespace"), "{e}");
        assert!(FieldFilter::parse("source_namespace").is_err());
        assert!(FieldFilter::parse("source_namespace!x").is_err());
    }

    #[test]
    fn policy_filters_parse() {
        let f = |p: &str| PolicyFilter::parse(Some(p), None, None).unwrap().unwrap();
        let tier_only = f("security");
        assert_eq!(tier_only.tier.as_deref(), Some("security"));
        assert_eq!((tier_only.name, tier_only.kind), (None, None));
        let named = f("security/block");
        assert_eq!(
            (named.name.as_deref(), named.namespace, named.kind),
            (Some("block"), None, None)
        );
        let namespaced = f("default/shop/web");
        assert_eq!(
            (namespaced.namespace.as_deref(), namespaced.name.as_deref()),
            (Some("shop"), Some("web"))
        );
        let kinded = f("default/np:fme/engine");
        assert_eq!(kinded.kind, Some(PolicyKind::NetworkPolicy));
        assert_eq!(
            (kinded.namespace.as_deref(), kinded.name.as_deref()),
            (Some("fme"), Some("engine"))
        );
        // The tier tells the admin kinds apart, as in stored hits.
        assert_eq!(
            f("kube-baseline/kcnp:default-deny").kind,
            Some(PolicyKind::BaselineAdminNetworkPolicy)
        );
        assert_eq!(
            f("kube-admin/kcnp:a").kind,
            Some(PolicyKind::AdminNetworkPolicy)
        );
        let full = PolicyFilter::parse(Some("default/knp:fme/deny"), Some("deny"), Some("-1"))
            .unwrap()
            .unwrap();
        assert_eq!((full.action, full.rule), (Some(HitAction::Deny), Some(-1)));
        assert!(PolicyFilter::parse(None, None, None).unwrap().is_none());
        for (policy, action, rule) in [
            (Some("default/xx:a/b"), None, None),
            (Some("/name"), None, None),
            (Some("tier/"), None, None),
            (Some("tier/a/b/c"), None, None),
            (Some("tier//name"), None, None),
            (Some("tier/name"), Some("drop"), None),
            (Some("tier/name"), None, Some("first")),
            (None, Some("deny"), None),
            (None, None, Some("0")),
        ] {
            assert!(
                PolicyFilter::parse(policy, action, rule).is_err(),
                "{policy:?} {action:?} {rule:?}"
            );
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("2w").unwrap(),
            Duration::from_secs(14 * 86400)
        );
        for bad in ["", "1", "h", "1x", "-1h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sort_keys_parse() {
        assert_eq!(
            SortKey::parse("-end_time").unwrap(),
            SortKey::desc(FlowField::EndTime)
        );
        assert_eq!(
            SortKey::parse("end_time:desc").unwrap(),
            SortKey::desc(FlowField::EndTime)
        );
        assert_eq!(
            SortKey::parse("bytes_in").unwrap(),
            SortKey::asc(FlowField::BytesIn)
        );
        assert!(SortKey::parse("bytes_in:up").is_err());
    }
}
