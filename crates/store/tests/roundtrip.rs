//! FlowLog → store → FlowLog is exact: from the buffer, from Parquet, and after a replay.

mod common;

use flowlens_model::{
    Action, EndpointType, FlowEnd, FlowLog, FlowService, HitAction, Labels, PolicyHit, PolicyKind,
    Protocol, Reporter,
};
use flowlens_store::Store;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::net::IpAddr;

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn text() -> impl Strategy<Value = String> {
    ".{0,12}"
}

fn k8s_name() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9.-]{0,10}[a-z0-9])?"
}

fn labels() -> impl Strategy<Value = Labels> {
    // Keys never contain '=' (Kubernetes forbids it); values may be anything.
    btree_map("[^=]{0,10}", text(), 0..5)
}

fn endpoint_type() -> impl Strategy<Value = EndpointType> {
    prop_oneof![
        Just(EndpointType::Wep),
        Just(EndpointType::Hep),
        Just(EndpointType::Ns),
        Just(EndpointType::Net)
    ]
}

fn flow_end() -> impl Strategy<Value = FlowEnd> {
    (
        option::of(ip()),
        option::of(text()),
        text(),
        option::of(text()),
        option::of(any::<u16>()),
        option::of(endpoint_type()),
        labels(),
    )
        .prop_map(
            |(ip, name, name_aggr, namespace, port, endpoint_type, labels)| FlowEnd {
                ip,
                name,
                name_aggr,
                namespace,
                port,
                endpoint_type,
                labels,
            },
        )
}

/// Hits as the policy engine makes them (each survives its own string form).
fn policy_hit() -> impl Strategy<Value = PolicyHit> {
    let kinds = prop_oneof![
        Just(Some(PolicyKind::NetworkPolicy)),
        Just(Some(PolicyKind::GlobalNetworkPolicy)),
        Just(Some(PolicyKind::StagedNetworkPolicy)),
        Just(Some(PolicyKind::StagedGlobalNetworkPolicy)),
        Just(Some(PolicyKind::StagedKubernetesNetworkPolicy)),
        Just(Some(PolicyKind::KubernetesNetworkPolicy)),
        Just(Some(PolicyKind::AdminNetworkPolicy)),
        Just(Some(PolicyKind::BaselineAdminNetworkPolicy)),
        Just(None),
    ];
    let actions = prop_oneof![
        Just(HitAction::Allow),
        Just(HitAction::Deny),
        Just(HitAction::Pass)
    ];
    (
        any::<u32>(),
        kinds,
        k8s_name(),
        k8s_name(),
        k8s_name(),
        actions,
        -1i32..1000,
    )
        .prop_map(|(index, kind, tier, ns, name, action, rule)| {
            let (tier, namespace, name) = match kind {
                None => (
                    flowlens_model::PROFILE_TIER.to_string(),
                    None,
                    format!("kns.{ns}"),
                ),
                Some(PolicyKind::AdminNetworkPolicy) => ("kube-admin".to_string(), None, name),
                Some(PolicyKind::BaselineAdminNetworkPolicy) => {
                    ("kube-baseline".to_string(), None, name)
                }
                Some(k) if k.is_kubernetes() => ("default".to_string(), Some(ns), name),
                Some(k) => (tier, k.is_namespaced().then_some(ns), name),
            };
            PolicyHit {
                index,
                tier,
                kind,
                namespace,
                name,
                action,
                rule,
            }
        })
}

fn service() -> impl Strategy<Value = FlowService> {
    (text(), text(), text(), any::<u16>()).prop_map(|(namespace, name, port_name, port_num)| {
        FlowService {
            namespace,
            name,
            port_name,
            port_num,
        }
    })
}

fn flow_log() -> impl Strategy<Value = FlowLog> {
    (
        (-1_000_000_000_000i64..1_000_000_000_000, 0i64..100_000),
        flow_end(),
        flow_end(),
        option::of(service()),
        (
            any::<u8>().prop_map(Protocol::from_number),
            any::<bool>(),
            any::<bool>(),
        ),
        // Half the pending traces are the enforced ones, as without staged policies (the
        // store keeps those once).
        (
            vec(policy_hit(), 0..6),
            vec(policy_hit(), 0..3),
            any::<bool>(),
        ),
        any::<[u64; 7]>(),
        (
            option::of(text()),
            option::of(any::<i64>()),
            option::of(text()),
        ),
    )
        .prop_map(
            |(
                (end_time, duration),
                source,
                dest,
                dest_service,
                (proto, allow, src),
                (enforced, pending, pending_is_enforced),
                c,
                (process_name, process_id, host),
            )| FlowLog {
                start_time: end_time - duration,
                end_time,
                source,
                dest,
                dest_service,
                proto,
                action: if allow { Action::Allow } else { Action::Deny },
                reporter: if src { Reporter::Src } else { Reporter::Dst },
                pending_policies: if pending_is_enforced {
                    enforced.clone()
                } else {
                    pending
                },
                enforced_policies: enforced,
                bytes_in: c[0],
                bytes_out: c[1],
                packets_in: c[2],
                packets_out: c[3],
                num_flows: c[4],
                num_flows_started: c[5],
                num_flows_completed: c[6],
                process_name,
                process_id,
                host,
            },
        )
}

fn round_trip(logs: Vec<FlowLog>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = common::open(dir.path());
            store.append(logs.clone()).await.unwrap();
            assert_eq!(common::all_flows(&store).await, logs, "from the buffer");
        }
        // Dropped without a flush: the WAL brings everything back.
        let store = common::open(dir.path());
        assert_eq!(common::all_flows(&store).await, logs, "after replay");
        store.flush().await.unwrap();
        assert_eq!(common::all_flows(&store).await, logs, "from parquet");
        drop(store);
        let store = common::open(dir.path());
        assert_eq!(
            common::all_flows(&store).await,
            logs,
            "from parquet after reopen"
        );
    });
}

/// 24 cases (each opens, flushes and reopens a store); `PROPTEST_CASES` raises the count.
fn round_trip_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .map_or(24, |n: u32| n.max(24))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(round_trip_cases()))]

    #[test]
    fn flow_logs_round_trip_exactly(logs in vec(flow_log(), 1..12)) {
        round_trip(logs);
    }
}

#[test]
fn hits_in_the_generator_round_trip_through_text() {
    let mut runner = proptest::test_runner::TestRunner::default();
    for _ in 0..500 {
        let hit = policy_hit().new_tree(&mut runner).unwrap().current();
        assert_eq!(PolicyHit::parse(&hit.to_string()).unwrap(), hit);
    }
}
