//! Distinct flow tuples for the impact preview.

mod common;

use common::{flow, open};
use flowlens_model::{Action, EndpointType, Reporter};
use flowlens_store::{FlowQuery, Store, TimeRange};

#[tokio::test]
async fn tuples_group_records_and_keep_what_evaluation_needs() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut logs = vec![
        flow(("shop", "web"), ("shop", "db"), Action::Allow, 1_000, 3),
        flow(("shop", "web"), ("shop", "db"), Action::Allow, 1_010, 4),
        flow(("shop", "web"), ("shop", "db"), Action::Deny, 1_020, 5),
        flow(("dev", "web"), ("shop", "db"), Action::Allow, 1_030, 1),
    ];
    // A different source port is the same tuple unless source ports are asked for.
    logs[1].source.port = Some(40001);
    // Aggregated away, as Calico's levels write it.
    let mut aggregated = flow(("shop", "web"), ("shop", "db"), Action::Allow, 1_040, 7);
    aggregated.source.ip = None;
    aggregated.source.name = None;
    aggregated.source.port = None;
    aggregated.reporter = Reporter::Src;
    logs.push(aggregated);
    store.append(logs).await.unwrap();
    store.flush().await.unwrap();

    let mut tuples = store
        .flow_tuples(&FlowQuery::new(TimeRange::all()), false)
        .await
        .unwrap();
    tuples.sort_by_key(|t| std::cmp::Reverse((t.num_flows, t.flow_logs)));
    let counts: Vec<(u64, u64)> = tuples.iter().map(|t| (t.flow_logs, t.num_flows)).collect();
    assert_eq!(counts, [(2, 7), (1, 7), (1, 5), (1, 1)]);
    let first = &tuples[0];
    assert_eq!(first.action, Action::Allow);
    assert_eq!(first.reporter, Reporter::Dst);
    assert_eq!(first.source.port, None, "source ports were not asked for");
    assert_eq!(first.dest.port, Some(8080));
    assert_eq!(first.source.ip, Some("10.0.0.1".parse().unwrap()));
    assert_eq!(first.source.endpoint_type, Some(EndpointType::Wep));
    assert_eq!(
        first.source.labels.get("app").map(String::as_str),
        Some("web")
    );
    let aggregated = &tuples[1];
    assert_eq!(aggregated.reporter, Reporter::Src);
    assert_eq!(
        (aggregated.source.ip, aggregated.source.name.as_deref()),
        (None, None)
    );
    assert_eq!(aggregated.source.name_aggr, "web-abc-*");

    let with_ports = store
        .flow_tuples(&FlowQuery::new(TimeRange::all()), true)
        .await
        .unwrap();
    assert_eq!(with_ports.len(), 5);
    assert!(with_ports.iter().any(|t| t.source.port == Some(40001)));

    let window = store
        .flow_tuples(&FlowQuery::new(TimeRange::new(1_015, 1_035)), false)
        .await
        .unwrap();
    assert_eq!(window.iter().map(|t| t.flow_logs).sum::<u64>(), 2);
}
