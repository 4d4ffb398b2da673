//! Property tests: printing round-trips, negation consistency, and parser
//! robustness on arbitrary input.

use std::collections::BTreeMap;

use flowlens_selector::{Expr, NAMESPACE_LABEL, Selector, ValueSet};
use proptest::prelude::*;

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "app.kubernetes.io/name", "x-y_z", "in", "has"])
            .prop_map(str::to_owned),
        1 => "[A-Za-z0-9_./-]{1,6}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["", "a", "b", "ab", "ba", "'", "\"", "x y", "é\t\n"])
            .prop_map(str::to_owned),
        1 => "[ab'\" ]{0,3}",
    ]
    // No escapes in the language: a value can't hold both quote kinds.
    .prop_filter("both quote kinds", |v| {
        !(v.contains('"') && v.contains('\''))
    })
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

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            // One-operand groups exercise from_expr's normalisation (empty
            // ones are covered by unit tests; here they'd mostly add noise).
            prop::collection::vec(inner.clone(), 1..5).prop_map(Expr::And),
            prop::collection::vec(inner, 1..5).prop_map(Expr::Or),
        ]
    })
}

fn selector() -> impl Strategy<Value = Selector> {
    expr().prop_map(Selector::from_expr)
}

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    let k = prop_oneof![4 => key(), 1 => Just(NAMESPACE_LABEL.to_owned())];
    prop::collection::btree_map(k, value(), 0..6)
}

/// Strings made of selector fragments, so the parser sees many near-valid
/// inputs rather than mostly rejecting at the first character.
fn token_soup() -> impl Strategy<Value = String> {
    let tokens = vec![
        "(",
        ")",
        "!",
        "&&",
        "||",
        "&",
        "|",
        "=",
        "==",
        "!=",
        " ",
        "\t",
        "\n",
        "has(",
        "has",
        "all()",
        "all(",
        "global()",
        "a",
        "b.c/d",
        "in",
        "not",
        "not in",
        "contains",
        "starts",
        "with",
        "ends with",
        "{",
        "}",
        ",",
        "'x'",
        "\"y\"",
        "'",
        "\"",
        "\"'\"",
        "é",
        "%",
        ")",
    ];
    prop::collection::vec(prop::sample::select(tokens), 0..24).prop_map(|v| v.concat())
}

fn check_fixed_point(input: &str) -> Result<(), TestCaseError> {
    if let Ok(sel) = Selector::parse(input) {
        let printed = sel.to_string();
        let again = Selector::parse(&printed)
            .map_err(|e| TestCaseError::fail(format!("{printed:?} from {input:?}: {e}")))?;
        prop_assert_eq!(&again, &sel);
        prop_assert_eq!(again.to_string(), printed);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn print_parse_round_trip(sel in selector(), samples in prop::collection::vec(labels(), 8)) {
        prop_assert!(sel.is_expressible());
        let printed = sel.to_string();
        let parsed = Selector::parse(&printed)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", e.caret())))?;
        prop_assert_eq!(&parsed, &sel);
        prop_assert_eq!(parsed.to_string(), printed);
        for l in &samples {
            prop_assert_eq!(parsed.matches(l), sel.matches(l), "labels {:?}", l);
        }
    }

    #[test]
    fn negation_is_consistent(sel in selector(), l in labels()) {
        let m = sel.matches(&l);
        let wrapped = Selector::parse(&format!("!({sel})")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(wrapped.matches(&l), !m);
        let bang = Selector::parse(&format!("!{sel}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(bang.matches(&l), !m);
        prop_assert_eq!(sel.clone().negate().matches(&l), !m);
        prop_assert_eq!(sel.clone().negate().negate(), sel);
    }

    #[test]
    fn de_morgan(a in selector(), b in selector(), l in labels()) {
        let not_and = Selector::parse(&format!("!({a} && {b})")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let or_nots = Selector::parse(&format!("!{a} || !{b}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(not_and.matches(&l), or_nots.matches(&l));
        let not_or = Selector::parse(&format!("!({a} || {b})")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let and_nots = Selector::parse(&format!("!{a} && !{b}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(not_or.matches(&l), and_nots.matches(&l));
        prop_assert_eq!(a.clone().and(b.clone()).matches(&l), a.matches(&l) && b.matches(&l));
        prop_assert_eq!(a.clone().or(b.clone()).matches(&l), a.matches(&l) || b.matches(&l));
    }

    #[test]
    fn only_label_keys_matter(sel in selector(), l in labels(), extra in labels()) {
        let keys = sel.label_keys();
        let mut widened = l.clone();
        for (k, v) in extra {
            if !keys.contains(&k.as_str()) {
                widened.insert(k, v);
            }
        }
        prop_assert_eq!(sel.matches(&widened), sel.matches(&l));
    }

    #[test]
    fn parser_never_panics_on_arbitrary_strings(s in any::<String>()) {
        check_fixed_point(&s)?;
    }

    #[test]
    fn parser_never_panics_on_token_soup(s in token_soup()) {
        check_fixed_point(&s)?;
        if let Err(e) = Selector::parse(&s) {
            prop_assert!(e.column >= 1 && e.column <= s.chars().count() + 1);
            prop_assert_eq!(e.caret().lines().count(), 2);
        }
    }
}
