//! Typed queries: every filter operator, selectors, policy filters, sorting and paging, and
//! every grouping against hand-computed numbers.

mod common;

use common::{flow, hit};
use flowlens_model::{Action, FlowField, FlowLog, HitAction, PolicyKind, RuleDirection};
use flowlens_selector::Selector;
use flowlens_store::{
    EmbeddedStore, FieldFilter, FilterOp, FlowSearch, GroupBy, PolicyFilter, SortKey, Store,
    StoreError, TimeRange,
};

/// Ten flows over namespaces prod/dev, apps web/api/db, ending at 1000..=1900.
fn dataset() -> Vec<FlowLog> {
    let mut flows = vec![
        flow(("prod", "web"), ("prod", "api"), Action::Allow, 1000, 3),
        flow(("prod", "web"), ("prod", "api"), Action::Allow, 1100, 2),
        flow(("prod", "api"), ("prod", "db"), Action::Allow, 1200, 5),
        flow(("prod", "api"), ("prod", "db"), Action::Deny, 1300, 1),
        flow(("dev", "web"), ("prod", "db"), Action::Deny, 1400, 4),
        flow(("dev", "web"), ("dev", "api"), Action::Allow, 1500, 7),
        flow(("dev", "api"), ("dev", "db"), Action::Allow, 1600, 1),
        flow(("dev", "api"), ("dev", "db"), Action::Allow, 1700, 1),
        flow(("prod", "web"), ("dev", "api"), Action::Deny, 1800, 2),
        flow(("dev", "db"), ("prod", "db"), Action::Deny, 1900, 6),
    ];
    // Variety for the other columns.
    flows[0].source.namespace = None;
    flows[0].source.name = None;
    flows[1].dest.port = Some(443);
    flows[2].dest.port = Some(5432);
    flows[3].dest.ip = Some("fd00::1".parse().unwrap());
    flows[4].dest_service = None;
    flows[5].process_name = Some("curl".into());
    flows[0]
        .enforced_policies
        .insert(0, hit(0, "security", None, "sec-pass", HitAction::Pass, -1));
    flows[0].enforced_policies[1].index = 1;
    flows[3].pending_policies = vec![hit(
        0,
        "default",
        Some("prod"),
        "staged-x",
        HitAction::Deny,
        -1,
    )];
    // As Calico logs a flow no staged policy sees: the pending trace is the enforced one.
    flows[5].pending_policies = flows[5].enforced_policies.clone();
    flows[4].pending_policies = vec![hit(
        0,
        "default",
        Some("prod"),
        "staged-x",
        HitAction::Allow,
        2,
    )];
    flows
}

/// The same data twice: all in the buffer, and half in Parquet half in the buffer.
async fn stores() -> Vec<(tempfile::TempDir, EmbeddedStore)> {
    let data = dataset();
    let mut out = Vec::new();
    for split in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store = common::open(dir.path());
        if split {
            store.append(data[..5].to_vec()).await.unwrap();
            store.flush().await.unwrap();
            store.append(data[5..].to_vec()).await.unwrap();
        } else {
            store.append(data.clone()).await.unwrap();
        }
        out.push((dir, store));
    }
    out
}

async fn end_times(store: &EmbeddedStore, query: &FlowSearch) -> Vec<i64> {
    let page = store.query_flows(query).await.unwrap();
    assert_eq!(page.total as usize, page.flows.len(), "total");
    let mut times: Vec<i64> = page.flows.iter().map(|f| f.end_time).collect();
    times.sort();
    times
}

async fn with_filter(store: &EmbeddedStore, filter: &str) -> Vec<i64> {
    let query = FlowSearch::new(TimeRange::all()).filter(FieldFilter::parse(filter).unwrap());
    end_times(store, &query).await
}

#[tokio::test]
async fn every_filter_operator() {
    for (_dir, store) in stores().await {
        let s = &store;
        assert_eq!(
            with_filter(s, "action=deny").await,
            [1300, 1400, 1800, 1900]
        );
        assert_eq!(
            with_filter(s, "action!=deny").await,
            [1000, 1100, 1200, 1500, 1600, 1700]
        );
        assert_eq!(with_filter(s, "source_namespace=-").await, [1000]);
        // != counts an absent namespace as different.
        assert_eq!(
            with_filter(s, "source_namespace!=dev").await,
            [1000, 1100, 1200, 1300, 1800]
        );
        assert_eq!(with_filter(s, "source_namespace!=-").await.len(), 9);
        assert_eq!(
            with_filter(s, "dest_name_aggr^=ap").await,
            [1000, 1100, 1500, 1800]
        );
        assert_eq!(
            with_filter(s, "dest_name_aggr!^=ap").await,
            [1200, 1300, 1400, 1600, 1700, 1900]
        );
        assert_eq!(
            with_filter(s, "source_name!^=web").await,
            [1000, 1200, 1300, 1600, 1700, 1900]
        );
        assert_eq!(with_filter(s, "end_time>1700").await, [1800, 1900]);
        assert_eq!(with_filter(s, "end_time>=1700").await, [1700, 1800, 1900]);
        assert_eq!(with_filter(s, "end_time<1100").await, [1000]);
        assert_eq!(with_filter(s, "end_time<=1100").await, [1000, 1100]);
        assert_eq!(
            with_filter(s, "dest_port>1000").await,
            [1000, 1200, 1300, 1400, 1500, 1600, 1700, 1800, 1900]
        );
        assert_eq!(with_filter(s, "dest_port=443").await, [1100]);
        assert_eq!(with_filter(s, "num_flows>=5").await, [1200, 1500, 1900]);
        assert_eq!(
            with_filter(s, "dest_name_aggr=in:db-abc-*,web-abc-*").await,
            [1200, 1300, 1400, 1600, 1700, 1900]
        );
        assert_eq!(
            with_filter(s, "source_namespace=in:dev,-").await,
            [1000, 1400, 1500, 1600, 1700, 1900]
        );
        assert_eq!(
            with_filter(s, "source_namespace!=in:dev").await,
            [1000, 1100, 1200, 1300, 1800]
        );
        assert_eq!(
            with_filter(s, "source_namespace!=in:dev,-").await,
            [1100, 1200, 1300, 1800]
        );
        assert_eq!(with_filter(s, "dest_ip=fd00::1").await, [1300]);
        assert_eq!(with_filter(s, "dest_service_name=-").await, [1400]);
        assert_eq!(with_filter(s, "process_name=curl").await, [1500]);
        // Lists: contains, does not contain, some entry starts with.
        assert_eq!(
            with_filter(s, "source_labels=env=dev").await,
            [1400, 1500, 1600, 1700, 1900]
        );
        assert_eq!(
            with_filter(s, "source_labels!=env=dev").await,
            [1000, 1100, 1200, 1300, 1800]
        );
        assert_eq!(
            with_filter(s, "enforced_policies^=0|security|").await,
            [1000]
        );
        assert_eq!(
            with_filter(
                s,
                "pending_policies=in:0|default|np:prod/staged-x|deny|-1,x"
            )
            .await,
            [1300]
        );
        assert_eq!(with_filter(s, "pending_policies!^=0|").await.len(), 7);
        // Several filters AND together.
        let query = FlowSearch::new(TimeRange::all())
            .filter(FieldFilter::parse("action=deny").unwrap())
            .filter(FieldFilter::parse("dest_namespace=prod").unwrap());
        assert_eq!(end_times(s, &query).await, [1300, 1400, 1900]);
        // Time range is [from, to) on end_time.
        assert_eq!(
            end_times(s, &FlowSearch::new(TimeRange::new(1200, 1500))).await,
            [1200, 1300, 1400]
        );
    }
}

#[tokio::test]
async fn invalid_filters_are_typed_errors() {
    let (_dir, store) = stores().await.remove(0);
    let cases = [
        FieldFilter::new(FlowField::DestPort, FilterOp::Eq("http".into())),
        FieldFilter::new(FlowField::NumFlows, FilterOp::Prefix("1".into())),
        FieldFilter::new(FlowField::SourceLabels, FilterOp::Gt("a".into())),
        FieldFilter::new(FlowField::Action, FilterOp::In(vec![])),
    ];
    for filter in cases {
        let err = store
            .query_flows(&FlowSearch::new(TimeRange::all()).filter(filter.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidQuery(_)),
            "{filter:?}: {err}"
        );
    }
    let err = store
        .query_flows(&FlowSearch::new(TimeRange::new(5, 5)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidQuery(_)));
    assert!(matches!(
        FieldFilter::parse("nope=1"),
        Err(StoreError::UnknownField { .. })
    ));
}

#[tokio::test]
async fn selector_filters() {
    for (_dir, store) in stores().await {
        let mut query = FlowSearch::new(TimeRange::all());
        query.source_selector = Some(Selector::parse("app == 'web' && env == 'prod'").unwrap());
        assert_eq!(end_times(&store, &query).await, [1000, 1100, 1800]);
        query.dest_selector = Some(Selector::parse("app in {'api'}").unwrap());
        assert_eq!(end_times(&store, &query).await, [1000, 1100, 1800]);
        query.dest_selector = Some(Selector::parse("!has(app)").unwrap());
        assert_eq!(end_times(&store, &query).await, Vec::<i64>::new());
        query.source_selector = Some(Selector::parse("env != 'prod'").unwrap());
        query.dest_selector = Some(Selector::all());
        assert_eq!(
            end_times(&store, &query).await,
            [1400, 1500, 1600, 1700, 1900]
        );
    }
}

#[tokio::test]
async fn selector_udf_works_in_sql() {
    let (_dir, store) = stores().await.remove(1);
    let n = sql_count(
        &store,
        "SELECT count(*) AS n FROM flows WHERE selector_matches(dest_labels, 'app == \"db\"')",
    )
    .await;
    assert_eq!(n, 6);
    // Read-only.
    for statement in [
        "COPY flows TO '/tmp/flowlens-should-not-exist.parquet'",
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/tmp'",
        "SET datafusion.execution.batch_size = 1",
    ] {
        assert!(store.sql(statement).await.is_err(), "{statement}");
    }
}

#[tokio::test]
async fn sql_reads_each_pending_trace_whole() {
    // flows[5]'s pending trace is its enforced one, which the store keeps once.
    for (_dir, store) in stores().await {
        let sql = "SELECT count(*) FROM flows WHERE policies_pending IS NULL";
        assert_eq!(sql_count(&store, sql).await, 0);
    }
}

/// The count a `SELECT count(*) …` returns.
async fn sql_count(store: &EmbeddedStore, sql: &str) -> i64 {
    let batches = store.sql(sql).await.unwrap();
    batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()
        .unwrap()
        .value(0)
}

#[tokio::test]
async fn policy_filters() {
    for (_dir, store) in stores().await {
        let mut query = FlowSearch::new(TimeRange::all());
        query.policy = Some(PolicyFilter {
            tier: Some("security".into()),
            ..Default::default()
        });
        assert_eq!(end_times(&store, &query).await, [1000]);
        query.policy = Some(PolicyFilter {
            action: Some(HitAction::Deny),
            ..Default::default()
        });
        assert_eq!(end_times(&store, &query).await, [1300, 1400, 1800, 1900]);
        query.policy = Some(PolicyFilter {
            name: Some("allow-api".into()),
            namespace: Some("dev".into()),
            kind: Some(PolicyKind::NetworkPolicy),
            rule: Some(0),
            ..Default::default()
        });
        assert_eq!(end_times(&store, &query).await, [1500]);
        query.policy = Some(PolicyFilter {
            name: Some("allow-api".into()),
            kind: Some(PolicyKind::GlobalNetworkPolicy),
            ..Default::default()
        });
        assert_eq!(end_times(&store, &query).await, Vec::<i64>::new());
    }
}

/// An egress hit is in the source's record only, so counting each connection once (which
/// keeps the destination's record of an allowed connection) must not drop it: the Policy
/// Board's end-of-tier figure and the table of where that traffic went count the same.
#[tokio::test]
async fn a_policy_filter_counts_the_records_of_the_end_that_evaluated_it() {
    let pass = hit(0, "app", Some("prod"), "web-egress", HitAction::Pass, -1);
    let mut allowed_src = flow(("prod", "web"), ("prod", "api"), Action::Allow, 1000, 3);
    allowed_src.reporter = flowlens_model::Reporter::Src;
    allowed_src.enforced_policies.insert(0, pass.clone());
    allowed_src.enforced_policies[1].index = 1;
    // The destination's record of the same connections: its ingress trace.
    let allowed_dst = flow(("prod", "web"), ("prod", "api"), Action::Allow, 1000, 3);
    let mut denied_src = flow(("prod", "web"), ("prod", "db"), Action::Deny, 1010, 2);
    denied_src.reporter = flowlens_model::Reporter::Src;
    denied_src.enforced_policies.insert(0, pass);
    denied_src.enforced_policies[1].index = 1;
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    store
        .append(vec![allowed_src, allowed_dst, denied_src])
        .await
        .unwrap();
    let mut query = FlowSearch::new(TimeRange::all());
    query.connections_once = true;
    query.policy = Some(PolicyFilter {
        name: Some("web-egress".into()),
        action: Some(HitAction::Pass),
        rule: Some(-1),
        ..Default::default()
    });
    let rows = store.aggregate(&query, GroupBy::Edge).await.unwrap();
    let connections: u64 = rows.iter().map(|r| r.num_flows).sum();
    let allowed: u64 = rows.iter().map(|r| r.allowed_flows).sum();
    assert_eq!((connections, allowed), (5, 3), "{rows:#?}");
    let metrics = store
        .policy_metrics(&FlowSearch::new(TimeRange::all()))
        .await
        .unwrap();
    let end_of_tier = metrics
        .iter()
        .find(|m| m.name == "web-egress")
        .expect("web-egress has metrics");
    assert_eq!(end_of_tier.total.connections, connections);
    // Without a policy filter each connection still counts once.
    query.policy = None;
    let rows = store.aggregate(&query, GroupBy::Edge).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.num_flows).sum::<u64>(), 5);
}

#[tokio::test]
async fn sorting_limits_and_stable_paging() {
    for (_dir, store) in stores().await {
        // Default: newest first.
        let page = store
            .query_flows(&FlowSearch::new(TimeRange::all()).limit(3))
            .await
            .unwrap();
        assert_eq!(
            page.flows.iter().map(|f| f.end_time).collect::<Vec<_>>(),
            [1900, 1800, 1700]
        );
        assert_eq!(page.total, 10);

        // Sort on a column with ties and nulls; page through with tokens while new rows
        // arrive, and check every original row is seen exactly once in order.
        let query = FlowSearch::new(TimeRange::new(0, 1950))
            .sorted_by(SortKey::desc(FlowField::NumFlows))
            .sorted_by(SortKey::asc(FlowField::SourceNamespace))
            .limit(3);
        let mut seen = Vec::new();
        let mut q = query.clone();
        loop {
            let page = store.query_flows(&q).await.unwrap();
            if seen.is_empty() {
                assert_eq!(page.total, 10);
            }
            seen.extend(
                page.flows
                    .iter()
                    .map(|f| (f.num_flows, f.source.namespace.clone(), f.end_time)),
            );
            // Rows arriving between pages, sorting before the cursor, must not shift pages.
            store
                .append(vec![flow(
                    ("aaa", "x"),
                    ("aaa", "y"),
                    Action::Allow,
                    1925,
                    100,
                )])
                .await
                .unwrap();
            match page.next_page_token {
                Some(t) => q.page_token = Some(t),
                None => break,
            }
        }
        let mut expected: Vec<(u64, Option<String>, i64)> = dataset()
            .iter()
            .map(|f| (f.num_flows, f.source.namespace.clone(), f.end_time))
            .collect();
        // num_flows desc, namespace asc with absent last, then insertion order.
        expected.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| match (&a.1, &b.1) {
                    (Some(x), Some(y)) => x.cmp(y),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                })
                .then(a.2.cmp(&b.2))
        });
        assert_eq!(seen, expected);

        // Offsets skip rows.
        let mut q = FlowSearch::new(TimeRange::new(0, 1950))
            .sorted_by(SortKey::asc(FlowField::EndTime))
            .limit(2);
        q.offset = 4;
        let page = store.query_flows(&q).await.unwrap();
        assert_eq!(
            page.flows.iter().map(|f| f.end_time).collect::<Vec<_>>(),
            [1400, 1500]
        );

        // A field sorted on twice is sorted on once (the second key changes no order).
        let twice = FlowSearch::new(TimeRange::new(0, 1950))
            .sorted_by(SortKey::desc(FlowField::NumFlows))
            .sorted_by(SortKey::asc(FlowField::NumFlows))
            .sorted_by(SortKey::asc(FlowField::SourceNamespace));
        let once = FlowSearch::new(TimeRange::new(0, 1950))
            .sorted_by(SortKey::desc(FlowField::NumFlows))
            .sorted_by(SortKey::asc(FlowField::SourceNamespace));
        assert_eq!(
            store.query_flows(&twice).await.unwrap(),
            store.query_flows(&once).await.unwrap()
        );

        // A token from another sort is refused.
        let mut q2 = FlowSearch::new(TimeRange::all()).limit(2);
        q2.page_token = store.query_flows(&q).await.unwrap().next_page_token;
        assert!(store.query_flows(&q2).await.is_err());
        q2.page_token = Some("zz".into());
        assert!(store.query_flows(&q2).await.is_err());
        // Limits are bounded.
        assert!(
            store
                .query_flows(&FlowSearch::new(TimeRange::all()).limit(0))
                .await
                .is_err()
        );
        assert!(
            store
                .query_flows(&FlowSearch::new(TimeRange::all()).limit(10_001))
                .await
                .is_err()
        );
        assert!(
            store
                .query_flows(
                    &FlowSearch::new(TimeRange::all())
                        .sorted_by(SortKey::asc(FlowField::SourceLabels))
                )
                .await
                .is_err()
        );
    }
}

fn key_of(row: &flowlens_store::AggregateRow) -> String {
    let k = &row.key;
    let s = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    format!(
        "{}/{} {}/{} {} {} {}",
        s(&k.source_namespace),
        s(&k.source_name_aggr),
        s(&k.dest_namespace),
        s(&k.dest_name_aggr),
        s(&k.proto),
        k.dest_port.map(|p| p.to_string()).unwrap_or("-".into()),
        k.action.map(|a| a.to_string()).unwrap_or("-".into()),
    )
}

#[tokio::test]
async fn namespace_pairs_and_actions() {
    for (_dir, store) in stores().await {
        let q = FlowSearch::new(TimeRange::new(1000, 2000));
        let rows = store.aggregate(&q, GroupBy::NamespacePair).await.unwrap();
        let got: Vec<(String, u64, u64, u64, u64)> = rows
            .iter()
            .map(|r| {
                (
                    key_of(r),
                    r.records,
                    r.num_flows,
                    r.allowed_flows,
                    r.denied_flows,
                )
            })
            .collect();
        // Hand-computed from dataset(): (records, num_flows, allowed, denied).
        assert_eq!(
            got,
            [
                ("dev/- prod/- - - -".to_string(), 2, 10, 0, 10), // 1400 (4) + 1900 (6), denied
                ("dev/- dev/- - - -".to_string(), 3, 9, 9, 0),
                ("prod/- prod/- - - -".to_string(), 3, 8, 7, 1), // 1100 (2) + 1200 (5) + 1300 (1, deny)
                ("-/- prod/- - - -".to_string(), 1, 3, 3, 0), // 1000: its source namespace is absent
                ("prod/- dev/- - - -".to_string(), 1, 2, 0, 2),
            ]
        );
        let r = &rows[0];
        assert_eq!(
            (r.packets_in, r.packets_out, r.bytes_in, r.bytes_out),
            (100, 200, 10_000, 20_000)
        );
        // The window is [1000, 2000) clipped to the data (…1900]: 901 seconds.
        assert!((r.connections_per_second - 10.0 / 901.0).abs() < 1e-9);
        assert!((r.packets_per_second - 300.0 / 901.0).abs() < 1e-9);
        assert!((r.bits_per_second - 8.0 * 30_000.0 / 901.0).abs() < 1e-6);

        let rows = store.aggregate(&q, GroupBy::Action).await.unwrap();
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.key.action, r.num_flows, r.records))
            .collect();
        assert_eq!(
            got,
            [(Some(Action::Allow), 19, 6), (Some(Action::Deny), 13, 4)]
        );
    }
}

#[tokio::test]
async fn name_pairs_and_edges() {
    for (_dir, store) in stores().await {
        let q = FlowSearch::new(TimeRange::all())
            .filter(FieldFilter::parse("source_namespace=dev").unwrap());
        let rows = store.aggregate(&q, GroupBy::NamePair).await.unwrap();
        let got: Vec<(String, u64)> = rows.iter().map(|r| (key_of(r), r.num_flows)).collect();
        assert_eq!(
            got,
            [
                ("dev/web-abc-* dev/api-abc-* - - -".to_string(), 7),
                ("dev/db-abc-* prod/db-abc-* - - -".to_string(), 6),
                ("dev/web-abc-* prod/db-abc-* - - -".to_string(), 4),
                ("dev/api-abc-* dev/db-abc-* - - -".to_string(), 2),
            ]
        );
        let q = FlowSearch::new(TimeRange::all())
            .filter(FieldFilter::parse("source_namespace=prod").unwrap());
        let rows = store.aggregate(&q, GroupBy::Edge).await.unwrap();
        let got: Vec<(String, u64)> = rows.iter().map(|r| (key_of(r), r.num_flows)).collect();
        assert_eq!(
            got,
            [
                ("prod/api-abc-* prod/db-abc-* tcp 5432 allow".to_string(), 5),
                ("prod/web-abc-* dev/api-abc-* tcp 8080 deny".to_string(), 2),
                ("prod/web-abc-* prod/api-abc-* tcp 443 allow".to_string(), 2),
                ("prod/api-abc-* prod/db-abc-* tcp 8080 deny".to_string(), 1),
            ]
        );
        // A limit keeps the first rows of the whole ranking, ties (2 and 2) included.
        for limit in 1..=rows.len() {
            let limited = store
                .aggregate(&q.clone().limit(limit), GroupBy::Edge)
                .await
                .unwrap();
            assert_eq!(limited, rows[..limit], "limit {limit}");
        }
    }
}

#[tokio::test]
async fn policy_and_rule_groupings() {
    for (_dir, store) in stores().await {
        let q = FlowSearch::new(TimeRange::all());
        let rows = store.aggregate(&q, GroupBy::Policy).await.unwrap();
        type Counts = (String, u64, u64, u64, u64, u64, u64, u64);
        let got: Vec<Counts> = rows
            .iter()
            .map(|r| {
                let k = &r.key;
                (
                    format!(
                        "{}|{}/{}",
                        k.tier.clone().unwrap(),
                        k.policy_namespace.clone().unwrap_or("-".into()),
                        k.policy_name.clone().unwrap()
                    ),
                    r.num_flows,
                    r.hits_allowed,
                    r.hits_denied,
                    r.hits_passed,
                    r.pending_num_flows,
                    r.pending_allowed,
                    r.pending_denied,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "default|prod/default-deny".to_string(),
                    11,
                    0,
                    11,
                    0,
                    0,
                    0,
                    0
                ), // 1300 (1) + 1400 (4) + 1900 (6)
                ("default|dev/allow-api".to_string(), 7, 7, 0, 0, 7, 7, 0),
                ("default|prod/allow-api".to_string(), 5, 5, 0, 0, 0, 0, 0),
                ("default|prod/allow-db".to_string(), 5, 5, 0, 0, 0, 0, 0),
                ("security|-/sec-pass".to_string(), 3, 0, 0, 3, 0, 0, 0),
                ("default|dev/allow-db".to_string(), 2, 2, 0, 0, 0, 0, 0),
                ("default|dev/default-deny".to_string(), 2, 0, 2, 0, 0, 0, 0),
                ("default|prod/staged-x".to_string(), 0, 0, 0, 0, 5, 4, 1), // pending only
            ]
        );
        assert_eq!(rows[0].key.kind, Some(PolicyKind::NetworkPolicy));
        assert_eq!(rows[0].records, 3);
        assert_eq!(rows[0].denied_flows, 11);

        let rows = store.aggregate(&q, GroupBy::PolicyRule).await.unwrap();
        let staged: Vec<_> = rows
            .iter()
            .filter(|r| r.key.policy_name.as_deref() == Some("staged-x"))
            .map(|r| (r.key.hit_action, r.key.rule, r.pending_num_flows))
            .collect();
        assert_eq!(
            staged,
            [
                (Some(HitAction::Allow), Some(2), 4),
                (Some(HitAction::Deny), Some(-1), 1)
            ]
        );

        // The Policy Board view: each policy's totals and its rules per direction (every
        // flow log here is reported by the destination: ingress).
        let metrics = store.policy_metrics(&q).await.unwrap();
        let staged = metrics.iter().find(|m| m.name == "staged-x").unwrap();
        let t = &staged.total;
        assert_eq!(
            (
                t.connections,
                t.pending_connections,
                t.pending_allowed,
                t.pending_denied
            ),
            (0, 5, 4, 1)
        );
        let rules: Vec<_> = staged
            .ingress
            .iter()
            .map(|(rule, c)| {
                (
                    *rule,
                    c.connections,
                    c.pending_connections,
                    c.pending_allowed,
                    c.pending_denied,
                )
            })
            .collect();
        assert_eq!(rules, [(-1, 0, 1, 0, 1), (2, 0, 4, 4, 0)]);
        assert!(staged.egress.is_empty());
        let deny = metrics
            .iter()
            .find(|m| m.name == "default-deny" && m.namespace.as_deref() == Some("prod"))
            .unwrap();
        let t = &deny.total;
        assert_eq!(
            (t.connections, t.denied, t.allowed, t.passed),
            (11, 11, 0, 0)
        );
        assert_eq!(deny.rule(RuleDirection::Ingress, -1), deny.total);
    }
}

#[tokio::test]
async fn empty_store_answers_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let page = store
        .query_flows(&FlowSearch::new(TimeRange::all()))
        .await
        .unwrap();
    assert_eq!(
        (page.flows.len(), page.total, page.next_page_token),
        (0, 0, None)
    );
    assert!(
        store
            .aggregate(&FlowSearch::default(), GroupBy::Policy)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .aggregate(&FlowSearch::default(), GroupBy::NamePair)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.time_bounds().await.unwrap(), None);
    assert_eq!(store.stats().await.unwrap().records, 0);
}

/// The most filters a query may hold are planned and run on a thread with a tokio worker's
/// stack (2 MiB); one more is refused before the query engine sees it.
#[test]
fn the_most_filters_run_on_a_worker_stack_and_more_are_refused() {
    let run = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(async {
                    let (_dir, store) = stores().await.remove(1);
                    let not_port = |port: usize| {
                        FieldFilter::parse(&format!("dest_port!={}", 10_000 + port)).unwrap()
                    };
                    let one = FlowSearch::new(TimeRange::all()).filter(not_port(0));
                    let mut query = FlowSearch::new(TimeRange::all());
                    for port in 0..flowlens_store::MAX_FILTERS {
                        query = query.filter(not_port(port));
                    }
                    assert_eq!(
                        end_times(&store, &query).await,
                        end_times(&store, &one).await
                    );
                    query = query.filter(FieldFilter::parse("dest_port!=9999").unwrap());
                    let err = store.query_flows(&query).await.unwrap_err();
                    assert!(matches!(err, StoreError::InvalidQuery(_)), "{err}");
                    assert!(err.to_string().contains("at most 128"), "{err}");
                })
        })
        .unwrap();
    run.join().unwrap();
}
