//! The SQL this crate writes, run by a real ClickHouse server (the test server) against
//! what the Rust code it stands for says: string literals, label selectors, policy-hit
//! matching.

use crate::filters::hit_condition;
use crate::selector::selector_sql;
use crate::sql::{quote, quoted_list};
use crate::test_server;
use flowlens_model::{HitAction, PolicyKind, Tier};
use flowlens_selector::{Expr, NAMESPACE_LABEL, Selector, ValueSet};
use flowlens_store::PolicyFilter;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Runs `SELECT` of each expression (all `UInt8`s or all strings) in one query; the answers
/// one per line.
fn select_all(exprs: &[String]) -> Vec<String> {
    let Some(server) = test_server::server() else {
        return Vec::new();
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = clickhouse::Client::default()
        .with_url(server.http_url())
        .with_validation(false)
        .with_setting("max_query_size", "16777216");
    // In chunks: a query's syntax tree is limited in size.
    let mut answers = Vec::with_capacity(exprs.len());
    for chunk in exprs.chunks(100) {
        let sql = format!(
            "SELECT arrayJoin([{}]) AS answer",
            chunk
                .iter()
                .map(|e| format!("toString({e})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        answers.extend(
            rt.block_on(client.query_raw(&sql).fetch_all::<String>())
                .unwrap_or_else(|e| panic!("{e}\n{}", &sql[..sql.len().min(2_000)])),
        );
    }
    answers
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "app.kubernetes.io/name", "x-y_z", "in", "a.b"])
            .prop_map(str::to_owned),
        1 => "[A-Za-z0-9_./-]{1,4}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["", "a", "b", "ab", "ba", "'", "\"", "x y", "é\t\n", "a=b", "\\"])
            .prop_map(str::to_owned),
        1 => "[ab'\\\\= ]{0,3}",
        1 => any::<String>(),
    ]
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        1 => Just(Expr::All),
        1 => Just(Expr::Global),
        3 => key().prop_map(Expr::Has),
        3 => (key(), value()).prop_map(|(key, value)| Expr::Equals { key, value }),
        3 => (key(), value()).prop_map(|(key, value)| Expr::NotEquals { key, value }),
        2 => (key(), value()).prop_map(|(key, value)| Expr::Contains { key, value }),
        2 => (key(), value()).prop_map(|(key, value)| Expr::StartsWith { key, value }),
        2 => (key(), value()).prop_map(|(key, value)| Expr::EndsWith { key, value }),
        3 => (key(), prop::collection::vec(value(), 0..4)).prop_map(|(key, v)| Expr::In {
            key,
            values: ValueSet::new(v)
        }),
        3 => (key(), prop::collection::vec(value(), 0..4)).prop_map(|(key, v)| Expr::NotIn {
            key,
            values: ValueSet::new(v)
        }),
    ]
}

fn selector() -> impl Strategy<Value = Selector> {
    leaf()
        .prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
                prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::And),
                prop::collection::vec(inner, 1..4).prop_map(Expr::Or),
            ]
        })
        .prop_map(Selector::from_expr)
}

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    let k = prop_oneof![4 => key(), 1 => Just(NAMESPACE_LABEL.to_owned())];
    prop::collection::btree_map(k, value(), 0..6)
}

/// The labels as the stores keep them: `key=value` entries in key order.
fn entries(labels: &BTreeMap<String, String>) -> String {
    let texts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    // An empty literal array would have no element type.
    format!(
        "CAST([{}] AS Array(String))",
        quoted_list(texts.iter().map(String::as_str))
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any text survives a literal: ClickHouse reads back exactly the bytes quoted.
    #[test]
    fn literals_carry_any_text(texts in prop::collection::vec(any::<String>(), 1..40)) {
        let exprs: Vec<String> = texts.iter().map(|t| quote(t)).collect();
        let got = select_all(&exprs);
        if !got.is_empty() {
            prop_assert_eq!(got, texts);
        }
    }

    /// A selector's SQL over a label list answers what the selector crate's evaluation
    /// answers over the same labels.
    #[test]
    fn selectors_answer_as_evaluated(
        cases in prop::collection::vec((selector(), labels()), 1..24)
    ) {
        let exprs: Vec<String> = cases
            .iter()
            .map(|(s, l)| selector_sql(&entries(l), s).unwrap())
            .collect();
        let got = select_all(&exprs);
        if !got.is_empty() {
            for ((s, l), answer) in cases.iter().zip(&got) {
                let want = if s.matches(l) { "1" } else { "0" };
                prop_assert_eq!(answer.as_str(), want, "{} over {:?}", s, l);
            }
        }
    }
}

/// Hit texts, valid and not, around what the policy filter tells apart.
fn hit_texts() -> Vec<String> {
    let mut texts = vec![
        "0|default|np:shop/web|allow|0".to_string(),
        "1|default|np:shop/web|deny|-1".to_string(),
        "2|default|knp:shop/web|allow|+01".to_string(),
        "0|default|gnp:web|pass|3".to_string(),
        "0|kube-baseline|kcnp:base|deny|-0".to_string(),
        "0|kube-admin|kcnp:adm|allow|007".to_string(),
        "0|security|sgnp:a/b/c|deny|2".to_string(),
        "0|security|pro:kns.shop|allow|0".to_string(),
        "0|default|np:shop/web|allow".to_string(),
        "0|default|np:shop/web|allow|0|x".to_string(),
        "0|default|noColon|allow|0".to_string(),
        "0|default|np:shop/web|allow|1 ".to_string(),
        "0|default|:shop/|allow|2147483647".to_string(),
        "0|default|np:/web|allow|-2147483648".to_string(),
        "0||np:web|allow|x".to_string(),
    ];
    texts.push(String::new());
    texts
}

/// The embedded store's reading of a hit text (`query/hit_text.rs`), written out again
/// from its description: five `|` parts, the third `tag:[ns/]name`.
fn hit_matches(text: &str, f: &PolicyFilter) -> bool {
    let parts: Vec<&str> = text.split('|').collect();
    let [_, tier, policy, action, rule] = parts[..] else {
        return false;
    };
    let Some((tag, qualified)) = policy.split_once(':') else {
        return false;
    };
    let (namespace, name) = match qualified.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, qualified),
    };
    f.tier.as_deref().is_none_or(|t| t == tier)
        && f.name.as_deref().is_none_or(|n| n == name)
        && f.namespace
            .as_deref()
            .is_none_or(|ns| Some(ns) == namespace)
        && f.kind
            .is_none_or(|k| Some(k) == PolicyKind::from_hit_tag(tag, tier))
        && f.action.is_none_or(|a| a.as_str() == action)
        && f.rule.is_none_or(|r| rule.parse::<i32>() == Ok(r))
}

#[test]
fn policy_filters_read_hits_as_the_embedded_store_does() {
    let texts = hit_texts();
    let tiers = [None, Some("default"), Some(Tier::KUBE_BASELINE), Some("")];
    let names = [None, Some("web"), Some("base"), Some("a/b/c"), Some("b/c")];
    let namespaces = [None, Some("shop"), Some(""), Some("a")];
    let kinds = [
        None,
        Some(PolicyKind::NetworkPolicy),
        Some(PolicyKind::KubernetesNetworkPolicy),
        Some(PolicyKind::AdminNetworkPolicy),
        Some(PolicyKind::BaselineAdminNetworkPolicy),
        Some(PolicyKind::ClusterNetworkPolicy),
        Some(PolicyKind::StagedGlobalNetworkPolicy),
    ];
    let actions = [None, Some(HitAction::Allow), Some(HitAction::Deny)];
    let rules = [
        None,
        Some(0),
        Some(1),
        Some(-1),
        Some(7),
        Some(i32::MAX),
        Some(i32::MIN),
    ];
    let mut filters = Vec::new();
    for (i, tier) in tiers.iter().enumerate() {
        for (j, name) in names.iter().enumerate() {
            for (k, namespace) in namespaces.iter().enumerate() {
                filters.push(PolicyFilter {
                    tier: tier.map(str::to_string),
                    name: name.map(str::to_string),
                    namespace: namespace.map(str::to_string),
                    kind: kinds[(i + j + k) % kinds.len()],
                    action: actions[(i + k) % actions.len()],
                    rule: rules[(j + k) % rules.len()],
                });
            }
        }
    }
    for kind in kinds {
        filters.push(PolicyFilter {
            kind,
            ..PolicyFilter::default()
        });
    }
    for rule in rules {
        filters.push(PolicyFilter {
            rule,
            ..PolicyFilter::default()
        });
    }
    let mut exprs = Vec::new();
    let mut want = Vec::new();
    for f in &filters {
        for text in &texts {
            let list = format!("CAST([{}] AS Array(String))", quote(text));
            exprs.push(hit_condition(&list, f));
            want.push(if hit_matches(text, f) { "1" } else { "0" });
        }
    }
    let got = select_all(&exprs);
    if got.is_empty() {
        return;
    }
    let mut matched = 0;
    for (i, (got, want)) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            got,
            want,
            "{:?} against {:?}",
            filters[i / texts.len()],
            texts[i % texts.len()]
        );
        matched += usize::from(*want == "1");
    }
    assert!(matched > 20, "the cases exercise matches too ({matched})");
}

#[test]
fn labels_are_found_as_the_embedded_store_finds_them() {
    // The first entry starting with `key=` holds the value, whatever follows.
    let l = BTreeMap::from([
        ("a".to_string(), "x=y".to_string()),
        ("a=b".to_string(), "c".to_string()),
        ("b".to_string(), String::new()),
    ]);
    let cases = [
        ("a == 'x=y'", true),
        ("a == 'x'", false),
        ("has(b)", true),
        ("b == ''", true),
        ("b != ''", false),
        ("has(c)", false),
        ("c != 'z'", true),
        ("a contains '=y'", true),
        ("a ends with 'y'", true),
        ("a starts with 'x='", true),
        ("b ends with ''", true),
        ("a in {'x=y', 'q'}", true),
        ("a not in {'x=y'}", false),
        ("global()", true),
    ];
    let exprs: Vec<String> = cases
        .iter()
        .map(|(s, _)| selector_sql(&entries(&l), &Selector::parse(s).unwrap()).unwrap())
        .collect();
    let got = select_all(&exprs);
    if got.is_empty() {
        return;
    }
    for ((s, want), got) in cases.iter().zip(&got) {
        let sel = Selector::parse(s).unwrap();
        assert_eq!(sel.matches(&l), *want, "{s} in Rust");
        assert_eq!(got, if *want { "1" } else { "0" }, "{s} in SQL");
    }
    // Deeply nested parsed selectors still translate and run.
    let mut deep = "a == 'x=y'".to_string();
    for _ in 0..flowlens_selector::MAX_NESTING / 2 - 1 {
        deep = format!("(has(zz) || !({deep}))");
    }
    let sel = Selector::parse(&deep).unwrap();
    let got = select_all(&[selector_sql(&entries(&l), &sel).unwrap()]);
    assert_eq!(got, [if sel.matches(&l) { "1" } else { "0" }]);
}
