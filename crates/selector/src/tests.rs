use std::collections::{BTreeMap, HashMap};

use crate::{Expr, Labels, MAX_NESTING, NAMESPACE_LABEL, ParseError, Selector, ValueSet};

fn sel(s: &str) -> Selector {
    match Selector::parse(s) {
        Ok(sel) => sel,
        Err(e) => panic!("{s:?} should parse: {e}\n{}", e.caret()),
    }
}

fn m(s: &str, labels: &[(&str, &str)]) -> bool {
    sel(s).matches(labels)
}

fn err(s: &str) -> ParseError {
    match Selector::parse(s) {
        Ok(sel) => panic!("{s:?} should not parse, got {sel}"),
        Err(e) => e,
    }
}

fn canon(s: &str) -> String {
    sel(s).to_string()
}

const NONE: &[(&str, &str)] = &[];

// ---- operators and absent-label semantics ----

#[test]
fn equals() {
    assert!(m(r#"a == "b""#, &[("a", "b")]));
    assert!(m(r#"a == "b""#, &[("a", "b"), ("c", "d")]));
    assert!(!m(r#"a == "b""#, &[("a", "c")]));
    assert!(!m(r#"a == "b""#, &[("c", "b")]));
    assert!(!m(r#"a == "b""#, NONE));
    assert!(m(r#"a == """#, &[("a", "")]));
    assert!(!m(r#"a == """#, NONE));
}

#[test]
fn not_equals_is_true_when_absent() {
    assert!(m(r#"a != "b""#, &[("a", "c")]));
    assert!(!m(r#"a != "b""#, &[("a", "b")]));
    assert!(m(r#"a != "b""#, NONE));
    assert!(m(r#"a != "b""#, &[("x", "b")]));
    assert!(m(r#"a != """#, &[("a", "x")]));
    assert!(!m(r#"a != """#, &[("a", "")]));
}

#[test]
fn in_set() {
    let s = r#"a in {"x", "y"}"#;
    assert!(m(s, &[("a", "x")]));
    assert!(m(s, &[("a", "y")]));
    assert!(!m(s, &[("a", "z")]));
    assert!(!m(s, &[("a", "")]));
    assert!(!m(s, NONE));
    assert!(m(r#"a in {""}"#, &[("a", "")]));
}

#[test]
fn not_in_set_is_true_when_absent() {
    let s = r#"a not in {"x", "y"}"#;
    assert!(!m(s, &[("a", "x")]));
    assert!(!m(s, &[("a", "y")]));
    assert!(m(s, &[("a", "z")]));
    assert!(m(s, NONE));
}

#[test]
fn empty_sets() {
    assert!(!m("a in {}", &[("a", "")]));
    assert!(!m("a in {}", NONE));
    assert!(m("a not in {}", &[("a", "x")]));
    assert!(m("a not in {}", NONE));
    assert_eq!(canon("a in {}"), "a in {}");
    assert_eq!(canon("a not in { }"), "a not in {}");
}

#[test]
fn quotes_inside_sets() {
    let s = r#"a in {"'", '"', "c"}"#;
    assert!(m(s, &[("a", "'")]));
    assert!(m(s, &[("a", "\"")]));
    assert!(m(s, &[("a", "c")]));
    assert!(!m(s, &[("a", "e")]));
    assert_eq!(canon(s), r#"a in {'"', "'", "c"}"#);
}

#[test]
fn has() {
    assert!(m("has(a)", &[("a", "x")]));
    assert!(m("has(a)", &[("a", "")]));
    assert!(!m("has(a)", &[("b", "x")]));
    assert!(!m("has(a)", NONE));
    assert!(!m("!has(a)", &[("a", "")]));
    assert!(m("!has(a)", NONE));
    assert!(m("has( a )", &[("a", "")]));
    assert!(m("has(\ta\t)", &[("a", "")]));
}

#[test]
fn contains_starts_ends() {
    assert!(m(r#"a contains "b""#, &[("a", "abc")]));
    assert!(m(r#"a contains "a""#, &[("a", "bab")]));
    assert!(!m(r#"a contains "z""#, &[("a", "abc")]));
    assert!(!m(r#"a contains "b""#, NONE));
    assert!(m(r#"a contains """#, &[("a", "")]));
    assert!(!m(r#"a contains """#, NONE));

    assert!(m(r#"a starts with "ab""#, &[("a", "abc")]));
    assert!(!m(r#"a starts with "bc""#, &[("a", "abc")]));
    assert!(!m(r#"a starts with "a""#, NONE));

    assert!(m(r#"a ends with "bc""#, &[("a", "abc")]));
    assert!(!m(r#"a ends with "ab""#, &[("a", "abc")]));
    assert!(!m(r#"a ends with "a""#, NONE));
}

#[test]
fn all_and_empty() {
    for s in ["", " ", "\t \t", "all()", " all() ", "all( )", "(all())"] {
        let x = sel(s);
        assert!(x.is_all(), "{s:?}");
        assert!(x.matches(NONE));
        assert!(x.matches(&[("a", "b")]));
        assert_eq!(x.to_string(), "all()");
    }
    assert!(!sel("all() && all()").is_all());
    assert!(!m("!all()", NONE));
}

#[test]
fn global() {
    let g = sel("global()");
    assert!(g.uses_global());
    assert!(g.matches(NONE));
    assert!(g.matches(&[("a", "b")]));
    assert!(!g.matches(&[(NAMESPACE_LABEL, "default")]));
    assert!(!g.matches(&[(NAMESPACE_LABEL, "")]));
    assert_eq!(g.to_string(), "global()");
    assert_eq!(canon(" global( ) "), "global()");
    assert!(sel(r#"a == "b" || !global()"#).uses_global());
    assert!(!sel(r#"a == "b""#).uses_global());
    assert!(!sel("all()").uses_global());
}

// ---- negation, precedence, parentheses ----

#[test]
fn negation_collapses_like_calico() {
    for s in [
        "!has(a)",
        "! has(a)",
        "!!!has(a)",
        "!! ! has(a)",
        "! !!has(a)",
    ] {
        assert!(!m(s, &[("a", "b")]), "{s}");
        assert_eq!(canon(s), "!has(a)", "{s}");
    }
    assert!(!m("!!has(b)", &[("a", "b")]));
    assert_eq!(canon("!!has(b)"), "has(b)");
    assert!(m(r#"!a in {"a"}"#, &[("a", "b")]));
    assert!(m(r#"!a == "x""#, NONE));
    assert_eq!(canon(r#"!(a == "x")"#), r#"!a == "x""#);
}

#[test]
fn precedence_not_and_or() {
    // `!` binds tighter than `&&`, which binds tighter than `||`.
    let s = r#"a == "1" || b == "1" && c == "1""#;
    assert_eq!(canon(s), r#"(a == "1" || (b == "1" && c == "1"))"#);
    assert!(m(s, &[("a", "1")]));
    assert!(!m(s, &[("b", "1")]));
    assert!(m(s, &[("b", "1"), ("c", "1")]));

    let s = r#"!a == "1" && b == "1""#;
    assert_eq!(canon(s), r#"(!a == "1" && b == "1")"#);
    assert!(m(s, &[("b", "1")]));
    assert!(!m(s, &[("a", "1"), ("b", "1")]));

    assert!(!m(
        r#"! a == 'a1' || ! b == 'b1'"#,
        &[("a", "a1"), ("b", "b1")]
    ));
    assert!(m(r#"!(!has(a) || has(b))"#, &[("a", "a")]));
    assert!(m(r#"!(has(b) || !has(a))"#, &[("a", "a")]));
}

#[test]
fn left_associative_chains_are_flat() {
    let s = sel("has(a) && has(b) && has(c)");
    match s.expr() {
        Expr::And(ops) => assert_eq!(ops.len(), 3),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.to_string(), "(has(a) && has(b) && has(c))");
    assert_eq!(
        canon("has(a) || has(b) || has(c)"),
        "(has(a) || has(b) || has(c))"
    );
}

#[test]
fn nested_parens_keep_structure() {
    assert_eq!(
        canon("((has(a) && has(b)) && has(c))"),
        "((has(a) && has(b)) && has(c))"
    );
    assert_eq!(canon("(((((has(a))))))"), "has(a)");
    assert_eq!(
        canon("!(!(k == 'v' && has(t) || all()) && (a in {'b', 'c'}))"),
        r#"!(!((k == "v" && has(t)) || all()) && a in {"b", "c"})"#
    );
    assert!(m(
        "((has(a) || has(b)) && (has(c) || has(d)))",
        &[("b", ""), ("c", "")]
    ));
    assert!(!m(
        "((has(a) || has(b)) && (has(c) || has(d)))",
        &[("b", "")]
    ));
}

#[test]
fn nesting_limit() {
    let ok = format!(
        "{}has(a){}",
        "(".repeat(MAX_NESTING),
        ")".repeat(MAX_NESTING)
    );
    assert!(m(&ok, &[("a", "")]));
    let deep = format!(
        "{}has(a){}",
        "(".repeat(MAX_NESTING + 1),
        ")".repeat(MAX_NESTING + 1)
    );
    let e = err(&deep);
    assert!(e.message.contains("nested too deeply"), "{e}");
    assert_eq!(e.column, MAX_NESTING + 1);
    // Unbalanced hostile input must error, not overflow.
    let e = err(&"(".repeat(100_000));
    assert!(e.message.contains("nested too deeply"));
    // `!` doesn't nest, so long runs are fine.
    assert!(m(&format!("{}has(a)", "!".repeat(100_001)), NONE));
}

// ---- lexical details ----

#[test]
fn quotes_and_whitespace() {
    assert!(m("a=='b'", &[("a", "b")]));
    assert!(m("a  ==\t\"b\"", &[("a", "b")]));
    assert!(m(r#"a == 'has "quotes"'"#, &[("a", r#"has "quotes""#)]));
    assert!(m(r#"a == "it's""#, &[("a", "it's")]));
    assert!(m(r#"a == "x && y || (z)""#, &[("a", "x && y || (z)")]));
    assert!(m(r#"a == "spaced out""#, &[("a", "spaced out")]));
    assert!(m("a == \"ü\n\"", &[("a", "ü\n")]));
    assert_eq!(canon(r#"a == '"'"#), r#"a == '"'"#);
    assert_eq!(canon(r#"a == "'""#), r#"a == "'""#);
    assert_eq!(canon("a=='x'"), r#"a == "x""#);
    assert_eq!(canon(r#"a!='"'"#), r#"a != '"'"#);
}

#[test]
fn operator_words_match_calico_tokenizer() {
    // Calico matches these words by prefix right after a label.
    assert_eq!(canon(r#"a startswith '"'"#), r#"a starts with '"'"#);
    assert_eq!(canon(r#"a endswith "'""#), r#"a ends with "'""#);
    assert_eq!(canon("a in{'x'}"), r#"a in {"x"}"#);
    assert_eq!(canon("a notin {'x'}"), r#"a not in {"x"}"#);
    assert_eq!(canon("a not \t in {'x'}"), r#"a not in {"x"}"#);
    assert_eq!(canon("a starts   with 'x'"), r#"a starts with "x""#);
    assert_eq!(canon("a contains'x'"), r#"a contains "x""#);
    // Operator words are only special after a label, so they work as keys.
    for key in ["in", "not", "contains", "has", "all", "global", "starts"] {
        assert!(m(&format!("{key} == 'v'"), &[(key, "v")]), "{key}");
        assert_eq!(canon(&format!("{key} == 'v'")), format!("{key} == \"v\""));
    }
    // Trailing comma is accepted by Calico.
    assert_eq!(canon(r#"a in {"y", "x",}"#), r#"a in {"x", "y"}"#);
}

#[test]
fn keys_with_punctuation() {
    for key in [
        "app.kubernetes.io/name",
        "projectcalico.org/name",
        "my_key",
        "my-key",
        "a/b/c",
        "123",
        "-",
        "..",
        "A-Z.a_z/0-9",
    ] {
        let s = format!("{key} == 'v' && has({key})");
        assert!(m(&s, &[(key, "v")]), "{s}");
        assert_eq!(canon(&s), format!("({key} == \"v\" && has({key}))"));
    }
}

#[test]
fn set_canonicalisation() {
    assert_eq!(canon(r#"a in {"d", "a", "b"}"#), r#"a in {"a", "b", "d"}"#);
    assert_eq!(
        canon(r#"a in {"z", "z", "x", "y", "x", "a"}"#),
        r#"a in {"a", "x", "y", "z"}"#
    );
    // Byte order, like Go's sort.Strings.
    assert_eq!(canon(r#"a in {"b", "B", "_"}"#), r#"a in {"B", "_", "b"}"#);
    assert_eq!(sel(r#"a in {"b","a"}"#), sel(r#"a in {'a', 'b', 'a'}"#));
}

#[test]
fn calico_canonicalisation_examples() {
    let cases = [
        ("", "all()"),
        (" all() ", "all()"),
        (" (all() )", "all()"),
        ("! (has( b)||! has(a ))", "!(has(b) || !has(a))"),
        (r#"! (a == "b"&&! c != "d")"#, r#"!(a == "b" && !c != "d")"#),
        ("k == 'v' && x == 'y'", r#"(k == "v" && x == "y")"#),
        ("k == 'v' || has(x)", r#"(k == "v" || has(x))"#),
        ("!(k == 'v')", r#"!k == "v""#),
        ("k in {'v'}", r#"k in {"v"}"#),
        ("k not in {'v'}", r#"k not in {"v"}"#),
    ];
    for (input, want) in cases {
        let got = canon(input);
        assert_eq!(got, want, "{input:?}");
        assert_eq!(canon(&got), got, "fixed point for {input:?}");
        assert_eq!(sel(&got), sel(input));
    }
}

// ---- errors ----

#[track_caller]
fn check_err(input: &str, column: usize, needle: &str) {
    let e = err(input);
    assert_eq!(e.column, column, "column for {input:?}: {e}\n{}", e.caret());
    assert!(e.message.contains(needle), "message for {input:?}: {e}");
    assert_eq!(e.input, input);
}

#[test]
fn error_columns() {
    check_err("app == ", 8, "expected a quoted string after '=='");
    check_err(r#"app = "x""#, 5, "'=='");
    check_err("has(", 5, "label name inside has");
    check_err("has(a", 6, "expected ')'");
    check_err("has()", 5, "label name inside has");
    check_err(r#"a in {"x""#, 10, "expected ',' or '}'");
    check_err(r#"a in {"x" "y"}"#, 11, "expected ',' or '}'");
    check_err(r#"a in {,}"#, 7, "expected a quoted string or '}'");
    check_err(r#"a in "x""#, 6, "expected '{'");
    check_err(r#"a == "x"#, 6, "unterminated string");
    check_err(r#"a == 'x"#, 6, "unterminated string");
    check_err(r#""FOO'"#, 1, "unterminated string");
    check_err(r#"app == "x" )"#, 12, "no matching '('");
    check_err("foo()", 1, "unknown function 'foo()'");
    check_err(r#"a == "x" && bar(b)"#, 13, "unknown function 'bar()'");
    check_err("has (a)", 1, "no space");
    check_err("all ()", 1, "no space");
    check_err(r#"a == "x" &"#, 10, "'&&'");
    check_err(r#"a == "x" |"#, 10, "'||'");
    check_err("a", 2, "expected an operator after label 'a'");
    check_err("a ", 3, "expected an operator after label 'a'");
    check_err("a b", 3, "expected an operator after label 'a'");
    check_err("a starts 'x'", 10, "expected 'with'");
    check_err("a not {'x'}", 7, "expected 'in'");
    check_err("b == b", 6, "expected a quoted string");
    check_err("b contains b", 12, "expected a quoted string");
    check_err("'b1' == b", 1, "unexpected string");
    check_err("!", 2, "unexpected end of selector");
    check_err("has(foo) &&", 12, "unexpected end of selector");
    check_err(r#"foo != ||"#, 8, "expected a quoted string");
    check_err(r#"foo in {"", ||"#, 13, "expected a quoted string or '}'");
    check_err("(", 2, "unexpected end");
    check_err(
        r#"(a == "foo""#,
        12,
        "expected ')' to close the '(' at column 1",
    );
    check_err(")", 1, "unexpected ')'");
    check_err("()", 2, "unexpected ')'");
    check_err("%", 1, "unexpected character '%'");
    check_err(r#"a == "b" && %"#, 13, "unexpected character '%'");
    check_err(r#"a == "b" || %"#, 13, "unexpected character '%'");
    check_err("é == 'x'", 1, "unexpected character 'é'");
    check_err("a == 'é' %", 10, "unexpected character '%'");
    check_err("all() has(a)", 7, "after a complete expression");
    check_err("has(a)\n", 7, "line breaks");
    check_err("\n", 1, "line breaks");
    check_err("has(a)\r\n&& has(b)", 7, "line breaks");
    check_err("a == 'x' b", 10, "after a complete expression");
    check_err("global(x)", 8, "expected ')' after global(");
}

#[test]
fn error_display_and_caret() {
    let e = err("app == ");
    assert_eq!(
        e.to_string(),
        "selector error at column 8: expected a quoted string after '==', found end of selector"
    );
    assert_eq!(e.caret(), "app == \n       ^");

    let e = err(r#"app == "x" )"#);
    assert_eq!(e.caret(), "app == \"x\" )\n           ^");

    let e = err("\ta = 'x'");
    assert_eq!(e.column, 4);
    assert_eq!(e.caret(), "\ta = 'x'\n\t  ^");

    let e = err("a == 'x'\n");
    assert_eq!(e.caret(), "a == 'x'↵\n        ^");
}

#[test]
fn from_str_matches_parse() {
    let a: Selector = "has(a)".parse().unwrap();
    assert_eq!(a, sel("has(a)"));
    assert!("has(".parse::<Selector>().is_err());
}

// ---- label sources ----

#[test]
fn label_sources() {
    let s = sel(r#"app == "web" && !has(canary)"#);
    let btree: BTreeMap<String, String> = [("app".into(), "web".into())].into();
    let hash: HashMap<String, String> = [("app".into(), "web".into())].into();
    let vec: Vec<(String, String)> = vec![("app".into(), "web".into())];
    let strs = [("app", "web")];
    let btree_str: BTreeMap<&str, &str> = [("app", "web")].into();
    assert!(s.matches(&btree));
    assert!(s.matches(&&btree));
    assert!(s.matches(&hash));
    assert!(s.matches(&vec));
    assert!(s.matches(vec.as_slice()));
    assert!(s.matches(&strs));
    assert!(s.matches(&btree_str));
    let dynamic: &dyn Labels = &btree;
    assert!(s.matches(dynamic));
    // First pair wins in pair lists.
    assert!(s.matches(&[("app", "web"), ("app", "other")]));
    assert!(!s.matches(&[("app", "other"), ("app", "web")]));
}

// ---- builders and helpers ----

#[test]
fn builders_print_like_parsed() {
    let cases: Vec<(Selector, &str)> = vec![
        (Selector::label_equals("a", "b"), r#"a == "b""#),
        (Selector::label_not_equals("a", "b"), r#"a != "b""#),
        (
            Selector::label_in("a", ["y", "x", "y"]),
            r#"a in {"x", "y"}"#,
        ),
        (
            Selector::label_not_in("a", Vec::<String>::new()),
            "a not in {}",
        ),
        (Selector::has_label("a"), "has(a)"),
        (Selector::lacks_label("a"), "!has(a)"),
        (Selector::label_contains("a", "b"), r#"a contains "b""#),
        (
            Selector::label_starts_with("a", "b"),
            r#"a starts with "b""#,
        ),
        (Selector::label_ends_with("a", "b"), r#"a ends with "b""#),
        (Selector::all(), "all()"),
        (Selector::global(), "global()"),
        (Selector::has_label("a").negate().negate(), "has(a)"),
        (!Selector::has_label("a"), "!has(a)"),
    ];
    for (built, text) in cases {
        assert_eq!(built.to_string(), text);
        assert_eq!(built, sel(text), "{text}");
        assert!(built.is_expressible());
    }
}

#[test]
fn and_or_helpers() {
    let a = Selector::has_label("a");
    let b = Selector::has_label("b");
    let c = Selector::has_label("c");
    assert_eq!(Selector::all().and(a.clone()), a);
    assert_eq!(a.clone().and(Selector::all()), a);
    assert!(Selector::all().and(Selector::all()).is_all());
    let abc = a.clone().and(b.clone()).and(c.clone());
    assert_eq!(abc.to_string(), "(has(a) && has(b) && has(c))");
    assert_eq!(abc, sel("has(a) && has(b) && has(c)"));
    assert!(a.clone().or(Selector::all()).is_all());
    assert_eq!(
        a.clone().or(b.clone()).or(c.clone()).to_string(),
        "(has(a) || has(b) || has(c))"
    );
    assert!(Selector::all_of([]).is_all());
    let none = Selector::any_of([]);
    assert_eq!(none.to_string(), "!all()");
    assert!(!none.matches(NONE));
    // Kubernetes-style: matchLabels + matchExpressions.
    let k8s = Selector::all_of([
        Selector::label_equals("app", "web"),
        Selector::label_in("tier", ["api", "web"]),
        Selector::lacks_label("canary"),
    ]);
    assert_eq!(
        k8s.to_string(),
        r#"(app == "web" && tier in {"api", "web"} && !has(canary))"#
    );
    assert!(k8s.matches(&[("app", "web"), ("tier", "api")]));
    assert!(!k8s.matches(&[("app", "web"), ("tier", "api"), ("canary", "")]));
}

#[test]
fn from_expr_normalizes() {
    let has_a = Expr::Has("a".into());
    let s = Selector::from_expr(Expr::Not(Box::new(Expr::Not(Box::new(has_a.clone())))));
    assert_eq!(s.expr(), &has_a);
    assert!(Selector::from_expr(Expr::And(vec![])).is_all());
    assert_eq!(Selector::from_expr(Expr::Or(vec![])).to_string(), "!all()");
    assert_eq!(
        Selector::from_expr(Expr::And(vec![has_a.clone()])).expr(),
        &has_a
    );
    let nested = Expr::Or(vec![
        Expr::Not(Box::new(Expr::Not(Box::new(has_a.clone())))),
        Expr::Global,
    ]);
    assert_eq!(
        Selector::from_expr(nested).to_string(),
        "(has(a) || global())"
    );
}

#[test]
fn label_keys_for_indexing() {
    let s = sel(r#"b == "x" && (a in {"1"} || !has(c)) && b != "y" && all()"#);
    assert_eq!(s.label_keys(), vec!["a", "b", "c"]);
    assert_eq!(
        sel("global() && has(x)").label_keys(),
        vec![NAMESPACE_LABEL, "x"]
    );
    assert!(sel("all()").label_keys().is_empty());
}

#[test]
fn expr_is_inspectable() {
    let s = sel(r#"app == "frontend" && tier in {"web","api"}"#);
    let Expr::And(ops) = s.expr() else {
        panic!("expected And")
    };
    assert_eq!(
        ops[0],
        Expr::Equals {
            key: "app".into(),
            value: "frontend".into()
        }
    );
    assert_eq!(ops[1].key(), Some("tier"));
    let Expr::In { values, .. } = &ops[1] else {
        panic!("expected In")
    };
    assert_eq!(values.iter().collect::<Vec<_>>(), ["api", "web"]);
    assert_eq!(values, &ValueSet::new(["web", "api"]));
    assert_eq!(ops[1].to_string(), r#"tier in {"api", "web"}"#);
}

#[test]
fn inexpressible_builder_terms_are_flagged() {
    assert!(!Selector::label_equals("bad key", "v").is_expressible());
    assert!(!Selector::label_equals("", "v").is_expressible());
    assert!(!Selector::label_in("k", ["both'\""]).is_expressible());
    assert!(Selector::label_equals("k", "it's").is_expressible());
    assert!(sel("has(a) && a == '\"'").is_expressible());
    // Evaluation still works for them.
    assert!(Selector::label_equals("bad key", "v").matches(&[("bad key", "v")]));
}

#[test]
fn hash_and_eq_follow_canonical_form() {
    use std::collections::HashSet;
    let set: HashSet<Selector> = ["a == 'x'", "a==\"x\"", " a  ==  'x' ", "(a == 'x')"]
        .into_iter()
        .map(sel)
        .collect();
    assert_eq!(set.len(), 1);
}
