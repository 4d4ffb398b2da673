//! A [`FlowSearch`]'s conditions as a ClickHouse `WHERE` clause: time range, field filters,
//! label selectors, policy filter and "each connection once", with the embedded store's
//! semantics (its `query/plan.rs`): `-` is absent, negations hold for absent values, list
//! fields test their entries, and the same queries are refused with the same messages.

use crate::selector::selector_sql;
use crate::sql::{all_of, any_of, not, quote, quoted_list};
use flowlens_model::{FieldKind, FlowField, PolicyKind, Tier};
use flowlens_store::{
    ABSENT, FieldFilter, FilterOp, FlowSearch, MAX_FILTERS, PolicyFilter, Result, TimeRange,
};

pub(crate) fn column(field: FlowField) -> &'static str {
    field.column()
}

/// `from <= end_time < to`, without the unbounded ends.
pub(crate) fn time_conditions(range: &TimeRange) -> Vec<String> {
    let mut out = Vec::new();
    let t = column(FlowField::EndTime);
    if range.from != i64::MIN {
        out.push(format!("{t} >= {}", range.from));
    }
    if range.to != i64::MAX {
        out.push(format!("{t} < {}", range.to));
    }
    out
}

/// The whole `WHERE` condition of `query` (time included).
pub(crate) fn where_clause(query: &FlowSearch) -> Result<String> {
    let mut parts = time_conditions(&query.time);
    parts.extend(row_conditions(query)?);
    Ok(all_of(&parts))
}

/// Everything that narrows rows besides time, checked as the embedded store checks it.
pub(crate) fn row_conditions(query: &FlowSearch) -> Result<Vec<String>> {
    if query.time.from >= query.time.to {
        return Err(crate::sql::invalid(format!(
            "empty time range: from {} is not before to {}",
            query.time.from, query.time.to
        )));
    }
    if query.filters.len() > MAX_FILTERS {
        return Err(crate::sql::invalid(format!(
            "{} filters: a query takes at most {MAX_FILTERS}",
            query.filters.len()
        )));
    }
    let mut parts = Vec::new();
    for filter in &query.filters {
        parts.push(field_filter(filter)?);
    }
    for (field, selector) in [
        (FlowField::SourceLabels, &query.source_selector),
        (FlowField::DestLabels, &query.dest_selector),
    ] {
        if let Some(selector) = selector
            && !selector.is_all()
        {
            parts.push(selector_sql(column(field), selector)?);
        }
    }
    if let Some(policy) = &query.policy {
        parts.push(policy_condition(policy));
    }
    // As in the embedded store: a policy filter already picks the record of the end that
    // evaluated the hit.
    if query.connections_once && query.policy.is_none() {
        let dest_type = column(FlowField::DestType);
        parts.push(format!(
            "({} = 'dst' OR {} = 'deny' OR {dest_type} IS NULL OR {dest_type} IN ('net', 'ns'))",
            column(FlowField::Reporter),
            column(FlowField::Action),
        ));
    }
    Ok(parts)
}

/// The typed literal for `text` in `field`, or `None` for Calico's `-` on optional columns.
pub(crate) fn literal(field: FlowField, text: &str) -> Result<Option<String>> {
    if text == ABSENT && field.is_optional() {
        return Ok(None);
    }
    let number_err =
        |kind: &str| crate::sql::invalid(format!("{field} takes {kind}, not {text:?}"));
    let sql = match (field, field.kind()) {
        (FlowField::RecordId, _) | (_, FieldKind::Counter) => text
            .parse::<u64>()
            .map_err(|_| number_err("a non-negative integer"))?
            .to_string(),
        (FlowField::ProcessId, _) | (_, FieldKind::Int) => text
            .parse::<i64>()
            .map_err(|_| number_err("an integer"))?
            .to_string(),
        (_, FieldKind::OptionalInt) => text
            .parse::<i32>()
            .map_err(|_| number_err("an integer"))?
            .to_string(),
        _ => quote(text),
    };
    Ok(Some(sql))
}

fn field_filter(filter: &FieldFilter) -> Result<String> {
    let field = filter.field;
    let taken = FilterOp::operators_for(field.kind());
    if !taken.contains(&filter.op.symbol()) {
        let what = match field.kind() {
            FieldKind::List => "is a list (the operators test its entries)",
            FieldKind::Text | FieldKind::OptionalText => "is text",
            _ => "is a number",
        };
        return Err(crate::sql::invalid(format!(
            "{field} {what}: it takes {}, not {}",
            taken.join(" "),
            filter.op.symbol()
        )));
    }
    if field.kind() == FieldKind::List {
        return list_filter(field, &filter.op);
    }
    let c = column(field);
    let nullable = field.is_optional();
    let is_null = format!("{c} IS NULL");
    // Negations count absent values as "not equal", as a reader of `-` expects.
    let or_null = |e: String| {
        if nullable {
            any_of(&[e, is_null.clone()])
        } else {
            e
        }
    };
    let compare = |value: &str, op: &str| -> Result<String> {
        match literal(field, value)? {
            Some(v) => Ok(format!("({c} {op} {v})")),
            None => Err(crate::sql::invalid(format!(
                "cannot compare {field} with -"
            ))),
        }
    };
    let starts_with = |p: &str| format!("startsWith({c}, {})", quote(p));
    Ok(match &filter.op {
        FilterOp::Eq(v) => match literal(field, v)? {
            Some(v) => format!("({c} = {v})"),
            None => is_null.clone(),
        },
        FilterOp::Ne(v) => match literal(field, v)? {
            Some(v) => or_null(format!("({c} != {v})")),
            None => format!("{c} IS NOT NULL"),
        },
        FilterOp::Prefix(p) => starts_with(p),
        FilterOp::NotPrefix(p) => or_null(not(&starts_with(p))),
        FilterOp::Gt(v) => compare(v, ">")?,
        FilterOp::Ge(v) => compare(v, ">=")?,
        FilterOp::Lt(v) => compare(v, "<")?,
        FilterOp::Le(v) => compare(v, "<=")?,
        FilterOp::In(values) | FilterOp::NotIn(values) => {
            if values.is_empty() {
                return Err(crate::sql::invalid(format!(
                    "{field}: in: needs at least one value"
                )));
            }
            let mut wants_null = false;
            let mut list = Vec::new();
            for v in values {
                match literal(field, v)? {
                    Some(v) => list.push(v),
                    None => wants_null = true,
                }
            }
            let mut listed = if list.is_empty() {
                "0".to_string()
            } else {
                format!("({c} IN ({}))", list.join(", "))
            };
            if wants_null {
                listed = any_of(&[listed, is_null.clone()]);
            }
            if matches!(filter.op, FilterOp::NotIn(_)) {
                // Absent values count as not listed unless `-` is listed.
                let not_listed = not(&listed);
                if nullable && !wants_null {
                    any_of(&[not_listed, is_null.clone()])
                } else {
                    not_listed
                }
            } else {
                listed
            }
        }
    })
}

fn list_filter(field: FlowField, op: &FilterOp) -> Result<String> {
    let c = column(field);
    let any = |values: &[String]| match values {
        [] => "0".to_string(),
        [one] => format!("has({c}, {})", quote(one)),
        many => format!(
            "hasAny({c}, [{}])",
            quoted_list(many.iter().map(String::as_str))
        ),
    };
    let prefix = |p: &str| format!("arrayExists(x -> startsWith(x, {}), {c})", quote(p));
    Ok(match op {
        FilterOp::Eq(v) => any(std::slice::from_ref(v)),
        FilterOp::Ne(v) => not(&any(std::slice::from_ref(v))),
        FilterOp::In(vs) => any(vs),
        FilterOp::NotIn(vs) => not(&any(vs)),
        FilterOp::Prefix(p) => prefix(p),
        FilterOp::NotPrefix(p) => not(&prefix(p)),
        FilterOp::Gt(_) | FilterOp::Ge(_) | FilterOp::Lt(_) | FilterOp::Le(_) => {
            return Err(crate::sql::invalid(format!(
                "{field} is a list: it cannot be compared"
            )));
        }
    })
}

/// Which tiers a kind's hit tag stands for it in (`PolicyKind::from_hit_tag`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TierRule {
    Any,
    Only(&'static str),
    Except(&'static str),
    /// No hit names this kind (it prints as another kind's tag).
    Never,
}

/// The tag hits give `kind`, and in which tiers the tag means it.
fn hit_tag_of(kind: PolicyKind) -> (&'static str, TierRule) {
    let rule = match kind {
        PolicyKind::NetworkPolicy
        | PolicyKind::GlobalNetworkPolicy
        | PolicyKind::StagedNetworkPolicy
        | PolicyKind::StagedGlobalNetworkPolicy
        | PolicyKind::StagedKubernetesNetworkPolicy
        | PolicyKind::KubernetesNetworkPolicy => TierRule::Any,
        PolicyKind::AdminNetworkPolicy => TierRule::Except(Tier::KUBE_BASELINE),
        PolicyKind::BaselineAdminNetworkPolicy => TierRule::Only(Tier::KUBE_BASELINE),
        PolicyKind::ClusterNetworkPolicy => TierRule::Never,
    };
    (kind.hit_tag(), rule)
}

/// `^…$` matching exactly the texts Rust's `i32` parsing reads as `rule` (a sign, leading
/// zeros): stored rule indexes are compared as `HitRef::matches` compares them.
fn rule_pattern(rule: i32) -> String {
    let digits = rule.unsigned_abs();
    match rule {
        0 => "^[+-]?0+$".to_string(),
        r if r > 0 => format!("^\\+?0*{digits}$"),
        _ => format!("^-0*{digits}$"),
    }
}

/// Flows whose enforced trace has a hit the filter asks for. A hit is read as the embedded
/// store's `HitRef::split` reads it: five `|`-separated parts, the third `tag:[ns/]name`.
pub(crate) fn policy_condition(filter: &PolicyFilter) -> String {
    hit_condition(column(FlowField::PoliciesEnforced), filter)
}

pub(crate) fn hit_condition(list: &str, filter: &PolicyFilter) -> String {
    // In the lambda, `p` is a hit's parts; `p[3]` its policy.
    let colon = "position(p[3], ':')";
    let tag = format!("substring(p[3], 1, {colon} - 1)");
    let qualified = format!("substring(p[3], {colon} + 1)");
    let slash = format!("position({qualified}, '/')");
    let mut parts = vec![format!("length(p) = 5"), format!("{colon} > 0")];
    if let Some(tier) = &filter.tier {
        parts.push(format!("p[2] = {}", quote(tier)));
    }
    if let Some(name) = &filter.name {
        parts.push(format!(
            "if({slash} > 0, substring({qualified}, {slash} + 1), {qualified}) = {}",
            quote(name)
        ));
    }
    if let Some(namespace) = &filter.namespace {
        parts.push(format!(
            "({slash} > 0 AND substring({qualified}, 1, {slash} - 1) = {})",
            quote(namespace)
        ));
    }
    if let Some(kind) = filter.kind {
        let (hit_tag, tiers) = hit_tag_of(kind);
        let tag_is = format!("{tag} = {}", quote(hit_tag));
        parts.push(match tiers {
            TierRule::Any => tag_is,
            TierRule::Only(tier) => format!("({tag_is} AND p[2] = {})", quote(tier)),
            TierRule::Except(tier) => format!("({tag_is} AND p[2] != {})", quote(tier)),
            TierRule::Never => "0".to_string(),
        });
    }
    if let Some(action) = filter.action {
        parts.push(format!("p[4] = {}", quote(action.as_str())));
    }
    if let Some(rule) = filter.rule {
        parts.push(format!("match(p[5], {})", quote(&rule_pattern(rule))));
    }
    format!(
        "arrayExists(p -> {}, arrayMap(h -> splitByChar('|', h), {list}))",
        parts.join(" AND ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [PolicyKind; 9] = [
        PolicyKind::NetworkPolicy,
        PolicyKind::GlobalNetworkPolicy,
        PolicyKind::StagedNetworkPolicy,
        PolicyKind::StagedGlobalNetworkPolicy,
        PolicyKind::StagedKubernetesNetworkPolicy,
        PolicyKind::KubernetesNetworkPolicy,
        PolicyKind::AdminNetworkPolicy,
        PolicyKind::BaselineAdminNetworkPolicy,
        PolicyKind::ClusterNetworkPolicy,
    ];

    /// The tag-and-tier rule of each kind says what `from_hit_tag` says, for every tag a
    /// kind prints and tiers on either side of the one that matters.
    #[test]
    fn kind_rules_follow_the_model() {
        for kind in KINDS {
            let (tag, rule) = hit_tag_of(kind);
            for other in KINDS {
                for tier in [Tier::KUBE_BASELINE, Tier::KUBE_ADMIN, "default", "x"] {
                    let other_tag = other.hit_tag();
                    let model = PolicyKind::from_hit_tag(other_tag, tier) == Some(kind);
                    let ours = other_tag == tag
                        && match rule {
                            TierRule::Any => true,
                            TierRule::Only(t) => tier == t,
                            TierRule::Except(t) => tier != t,
                            TierRule::Never => false,
                        };
                    assert_eq!(ours, model, "{kind:?} vs tag {other_tag} in tier {tier}");
                }
            }
        }
    }

    #[test]
    fn rule_patterns_match_what_i32_parsing_accepts() {
        let texts = [
            "0",
            "-0",
            "+0",
            "00",
            "+",
            "-",
            "",
            "1",
            "+1",
            "01",
            "-1",
            "-01",
            "+-1",
            "1 ",
            "10",
            "2147483647",
            "-2147483648",
            "2147483648",
            "0x1",
            "٣",
        ];
        for rule in [0, 1, -1, 10, i32::MAX, i32::MIN] {
            for text in texts {
                let parsed = text.parse::<i32>() == Ok(rule);
                let pattern = rule_pattern(rule);
                assert_eq!(
                    regex_lite_match(&pattern, text),
                    parsed,
                    "{pattern} vs {text:?}"
                );
            }
        }
    }

    /// The three pattern shapes `rule_pattern` writes, matched by hand.
    fn regex_lite_match(pattern: &str, text: &str) -> bool {
        let zeros_then = |rest: &str, digits: &str| rest.trim_start_matches('0') == digits;
        if pattern == "^[+-]?0+$" {
            let rest = text.strip_prefix(['+', '-']).unwrap_or(text);
            return !rest.is_empty() && rest.bytes().all(|b| b == b'0');
        }
        if let Some(digits) = pattern
            .strip_prefix("^\\+?0*")
            .and_then(|p| p.strip_suffix('$'))
        {
            let rest = text.strip_prefix('+').unwrap_or(text);
            return zeros_then(rest, digits);
        }
        if let Some(digits) = pattern
            .strip_prefix("^-0*")
            .and_then(|p| p.strip_suffix('$'))
        {
            return text
                .strip_prefix('-')
                .is_some_and(|rest| zeros_then(rest, digits));
        }
        panic!("unexpected pattern {pattern}")
    }

    #[test]
    fn filters_translate_with_absent_values() {
        let sql = |text: &str| field_filter(&FieldFilter::parse(text).unwrap()).unwrap();
        assert_eq!(sql("source_namespace=-"), "source_namespace IS NULL");
        assert_eq!(
            sql("source_namespace!=a"),
            "((source_namespace != 'a') OR source_namespace IS NULL)"
        );
        assert_eq!(sql("dest_port>=80"), "(dest_port >= 80)");
        assert_eq!(sql("action=in:allow,deny"), "(action IN ('allow', 'deny'))");
        assert_eq!(sql("dest_labels=app=web"), "has(dest_labels, 'app=web')");
        let err = |text: &str| {
            field_filter(&FieldFilter::parse(text).unwrap())
                .unwrap_err()
                .to_string()
        };
        assert!(err("dest_port^=8").contains("is a number"));
        assert!(err("dest_port>x").contains("takes an integer"));
        assert!(err("dest_port>-").contains("cannot compare"));
        assert!(err("dest_labels>a").contains("is a list"));
    }
}
