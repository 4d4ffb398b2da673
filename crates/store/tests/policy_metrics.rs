//! The Policy Board's metrics (`Store::policy_metrics`) against the same numbers read the
//! long way: one policy-rule aggregate per reporter, egress from `reporter=src` flow logs and
//! ingress from `reporter=dst` ones, added up per policy.

mod common;

use common::{flow, hit};
use flowlens_model::{Action, FlowField, FlowLog, HitAction, PolicyKind, Reporter};
use flowlens_store::{
    EmbeddedStore, FieldFilter, FlowSearch, GroupBy, HitCounts, PolicyFilter, PolicyMetrics, Store,
    TimeRange,
};
use std::collections::BTreeMap;

const T0: i64 = 1_700_000_000;

/// Flow logs from both reporters with traces drawn from a few policies (namespaced and
/// global, every action, rules -1 to 2), and pending traces that are the enforced one,
/// differ from it, or are empty.
fn random_logs(count: usize) -> Vec<FlowLog> {
    let mut next = common::random(0x2545_f491_4f6c_dd1d);
    let actions = [HitAction::Allow, HitAction::Deny, HitAction::Pass];
    (0..count)
        .map(|i| {
            let action = if next(3) == 0 {
                Action::Deny
            } else {
                Action::Allow
            };
            let mut log = flow(
                ("shop", "web"),
                ("shop", "db"),
                action,
                T0 + i as i64,
                1 + next(9),
            );
            log.reporter = if next(2) == 0 {
                Reporter::Src
            } else {
                Reporter::Dst
            };
            let mut trace = Vec::new();
            for k in 0..1 + next(3) {
                let (tier, ns) = [("security", None), ("default", Some("shop"))][next(2) as usize];
                trace.push(hit(
                    k as u32,
                    tier,
                    ns,
                    &format!("p{}", next(3)),
                    actions[next(3) as usize],
                    next(4) as i32 - 1,
                ));
            }
            log.enforced_policies = trace;
            log.pending_policies = match next(3) {
                0 => log.enforced_policies.clone(),
                1 => vec![hit(
                    0,
                    "default",
                    Some("shop"),
                    "staged",
                    HitAction::Deny,
                    -1,
                )],
                _ => Vec::new(),
            };
            log
        })
        .collect()
}

/// Half the logs flushed to Parquet, the rest in the buffer.
async fn store(dir: &std::path::Path, logs: &[FlowLog]) -> EmbeddedStore {
    let store = common::open(dir);
    let half = logs.len() / 2;
    store.append(logs[..half].to_vec()).await.unwrap();
    store.flush().await.unwrap();
    store.append(logs[half..].to_vec()).await.unwrap();
    store
}

type Board = BTreeMap<(String, Option<PolicyKind>, Option<String>, String), PolicyMetrics>;

/// The metrics of `query` from one policy-rule aggregate per reporter.
async fn the_long_way(store: &EmbeddedStore, query: &FlowSearch) -> Board {
    let mut board = Board::new();
    for reporter in [Reporter::Src, Reporter::Dst] {
        let query = query
            .clone()
            .filter(FieldFilter::eq(FlowField::Reporter, reporter.as_str()));
        for row in store.aggregate(&query, GroupBy::PolicyRule).await.unwrap() {
            let k = &row.key;
            let (tier, name) = (k.tier.clone().unwrap(), k.policy_name.clone().unwrap());
            let c = HitCounts {
                connections: row.hits_allowed + row.hits_denied + row.hits_passed,
                allowed: row.hits_allowed,
                denied: row.hits_denied,
                passed: row.hits_passed,
                pending_connections: row.pending_num_flows,
                pending_allowed: row.pending_allowed,
                pending_denied: row.pending_denied,
                pending_passed: row.pending_passed,
            };
            let m = board
                .entry((
                    tier.clone(),
                    k.kind,
                    k.policy_namespace.clone(),
                    name.clone(),
                ))
                .or_insert_with(|| PolicyMetrics {
                    tier,
                    kind: k.kind,
                    namespace: k.policy_namespace.clone(),
                    name,
                    ..PolicyMetrics::default()
                });
            m.total.add(&c);
            // Written out rather than `Reporter::rule_direction`, so that a mistake there
            // shows: egress rules are evaluated at the source.
            let rules = match reporter {
                Reporter::Src => &mut m.egress,
                Reporter::Dst => &mut m.ingress,
            };
            rules.entry(k.rule.unwrap()).or_default().add(&c);
        }
    }
    board
}

#[tokio::test]
async fn metrics_are_the_per_reporter_aggregates_added_up() {
    let logs = random_logs(3_000);
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), &logs).await;
    let mut queries = vec![
        FlowSearch::new(TimeRange::all()),
        FlowSearch::new(TimeRange::new(T0 + 1_000, T0 + 2_222)),
        FlowSearch::new(TimeRange::all()).filter(FieldFilter::parse("action=deny").unwrap()),
    ];
    let mut narrowed = FlowSearch::new(TimeRange::all());
    narrowed.policy = PolicyFilter::parse(Some("security/p1"), Some("pass"), None).unwrap();
    queries.push(narrowed);
    for query in queries {
        let metrics = store.policy_metrics(&query).await.unwrap();
        let expected = the_long_way(&store, &query).await;
        assert!(expected.len() > 3, "{query:?}");
        let keys: Vec<_> = metrics
            .iter()
            .map(|m| (m.tier.clone(), m.kind, m.namespace.clone(), m.name.clone()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| (&a.0, &a.2, &a.3, a.1).cmp(&(&b.0, &b.2, &b.3, b.1)));
        assert_eq!(keys, sorted, "ordered by tier, namespace, name, kind");
        let got: Board = keys.into_iter().zip(metrics).collect();
        assert_eq!(got, expected, "{query:?}");
        // Both directions occur, and a policy's total is its rules added up.
        assert!(
            got.values()
                .any(|m| !m.ingress.is_empty() && !m.egress.is_empty())
        );
        for m in got.values() {
            let mut sum = HitCounts::default();
            for c in m.ingress.values().chain(m.egress.values()) {
                sum.add(c);
            }
            assert_eq!(sum, m.total, "{}", m.name);
        }
    }
}

#[tokio::test]
async fn staged_policies_count_only_as_pending() {
    let logs = random_logs(500);
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), &logs).await;
    let metrics = store
        .policy_metrics(&FlowSearch::new(TimeRange::all()))
        .await
        .unwrap();
    let staged = metrics.iter().find(|m| m.name == "staged").unwrap();
    let expected: u64 = logs
        .iter()
        .filter(|l| l.pending_policies.iter().any(|h| h.name == "staged"))
        .map(|l| l.num_flows)
        .sum();
    assert_eq!(staged.total.connections, 0);
    assert_eq!(staged.total.pending_connections, expected);
    assert_eq!(staged.total.pending_denied, expected);
}
