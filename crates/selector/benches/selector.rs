//! Parse and match cost of typical policy selectors.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use flowlens_selector::Selector;

const SELECTORS: &[(&str, &str)] = &[
    ("eq", r#"app == "frontend""#),
    (
        "typical",
        r#"app == "frontend" && tier in {"web","api"} && !has(canary)"#,
    ),
    (
        "complex",
        r#"(app.kubernetes.io/name in {"a","b","c","frontend"} || role starts with "fe") && env != "prod" && projectcalico.org/namespace not in {"kube-system","calico-system"} && has(version)"#,
    ),
];

fn labels(n: usize) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = [
        ("app", "frontend"),
        ("tier", "web"),
        ("app.kubernetes.io/name", "frontend"),
        ("projectcalico.org/namespace", "shop"),
        ("version", "v2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for i in 0..n.saturating_sub(m.len()) {
        m.insert(format!("example.com/extra-label-{i}"), format!("value-{i}"));
    }
    m
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for (name, text) in SELECTORS {
        g.bench_function(*name, |b| b.iter(|| Selector::parse(black_box(text))));
    }
    g.finish();

    let mut g = c.benchmark_group("match");
    for n in [5, 20] {
        let l = labels(n);
        for (name, text) in SELECTORS {
            let sel = Selector::parse(text).expect("benchmark selector parses");
            g.bench_function(format!("{name}/{n}_labels"), |b| {
                b.iter(|| black_box(&sel).matches(black_box(&l)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
