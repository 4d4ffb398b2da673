//! Distinct flow tuples for the impact preview.

mod common;

use common::{flow, open};
use flowlens_model::{Action, EndpointType, Reporter};
use flowlens_store::{FlowSearch, Store, TimeRange};

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
        .flow_tuples(&FlowSearch::new(TimeRange::all()), false)
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
        .flow_tuples(&FlowSearch::new(TimeRange::all()), true)
        .await
        .unwrap();
    assert_eq!(with_ports.len(), 5);
    assert!(with_ports.iter().any(|t| t.source.port == Some(40001)));

    let window = store
        .flow_tuples(&FlowSearch::new(TimeRange::new(1_015, 1_035)), false)
        .await
        .unwrap();
    assert_eq!(window.iter().map(|t| t.flow_logs).sum::<u64>(), 2);
}

/// The tuple grouping against a plain grouping of the same flow logs, on pseudo-random logs
/// spread over Parquet files, buffered batches and a window that cuts files at both edges.
#[tokio::test]
async fn tuples_match_a_plain_grouping_of_random_logs() {
    use flowlens_model::{FlowLog, FlowTuple};
    use std::collections::BTreeMap;

    let mut next = common::random(0x2545_f491_4f6c_dd1d);
    let mut random_log = |t: i64| -> FlowLog {
        let namespaces = ["shop", "dev", "prod"];
        let apps = ["web", "db", "api", "cache"];
        let mut log = flow(
            (namespaces[next(3) as usize], apps[next(4) as usize]),
            (namespaces[next(3) as usize], apps[next(4) as usize]),
            if next(4) == 0 {
                Action::Deny
            } else {
                Action::Allow
            },
            t,
            1 + next(9),
        );
        for end in [&mut log.source, &mut log.dest] {
            match next(4) {
                0 => {
                    end.ip = None;
                    end.name = None;
                }
                1 => end.labels.clear(),
                2 => {
                    end.labels.insert("tier".into(), format!("t{}", next(3)));
                }
                _ => {}
            }
        }
        log.source.port = (next(3) > 0).then(|| 40_000 + next(4) as u16);
        log.dest.port = [Some(80), Some(443), None][next(3) as usize];
        if next(5) == 0 {
            log.reporter = Reporter::Src;
        }
        log
    };
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut all = Vec::new();
    for round in 0..4 {
        let logs: Vec<FlowLog> = (0..400)
            .map(|i| random_log(1_000 + round * 100 + i % 100))
            .collect();
        all.extend(logs.clone());
        store.append(logs).await.unwrap();
        // The last round stays buffered in memory.
        if round < 3 {
            store.flush().await.unwrap();
        }
    }

    type Key = String;
    let key = |t: &FlowTuple| {
        format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}",
            t.source, t.dest, t.proto, t.reporter, t.action
        )
    };
    for (range, source_ports) in [
        (TimeRange::all(), false),
        (TimeRange::all(), true),
        (TimeRange::new(1_050, 1_350), false),
    ] {
        let mut expected: BTreeMap<Key, (u64, u64)> = BTreeMap::new();
        for log in all.iter().filter(|l| range.contains(l.end_time)) {
            let mut source = log.source.clone();
            if !source_ports {
                source.port = None;
            }
            let tuple = FlowTuple {
                source,
                dest: log.dest.clone(),
                proto: log.proto,
                reporter: log.reporter,
                action: log.action,
                flow_logs: 0,
                num_flows: 0,
            };
            let counts = expected.entry(key(&tuple)).or_default();
            counts.0 += 1;
            counts.1 += log.num_flows;
        }
        let tuples = store
            .flow_tuples(&FlowSearch::new(range), source_ports)
            .await
            .unwrap();
        let got: BTreeMap<Key, (u64, u64)> = tuples
            .iter()
            .map(|t| (key(t), (t.flow_logs, t.num_flows)))
            .collect();
        assert_eq!(got.len(), tuples.len(), "a tuple came out twice");
        assert_eq!(
            got, expected,
            "range {range:?}, source ports {source_ports}"
        );
    }
}

/// An empty time range is refused as every query refuses it, whether or not stored data
/// overlaps it.
#[tokio::test]
async fn an_empty_time_range_is_refused_with_or_without_data_around_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let empty = FlowSearch::new(TimeRange::new(5_000, 5_000));
    for source_ports in [false, true] {
        let err = store.flow_tuples(&empty, source_ports).await.unwrap_err();
        assert!(err.to_string().contains("empty time range"), "{err}");
    }
    store
        .append(vec![flow(
            ("shop", "web"),
            ("shop", "db"),
            Action::Allow,
            1_000,
            3,
        )])
        .await
        .unwrap();
    for source_ports in [false, true] {
        assert!(store.flow_tuples(&empty, source_ports).await.is_err());
    }
}
