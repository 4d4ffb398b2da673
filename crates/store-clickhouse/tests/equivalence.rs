//! The same answers everywhere: random flow logs appended to the embedded store and to
//! ClickHouse alike, then random typed queries (pages with filters, selectors, policy
//! filters, sorts and tokens; every grouping; the Policy Board's numbers; flow tuples; time
//! bounds and read marks) asked of both and compared row for row. A query one store refuses
//! the other refuses too, with the same message when it is the query's fault.

use flowlens_model::{
    Action, EndpointType, FlowEnd, FlowField, FlowLog, FlowService, HitAction, Labels, PolicyHit,
    PolicyKind, Protocol, Reporter,
};
use flowlens_selector::{Expr, NAMESPACE_LABEL, Selector, ValueSet};
use flowlens_store::{
    EmbeddedOptions, EmbeddedStore, FieldFilter, FilterOp, FlowBatch, FlowSearch, GroupBy,
    PolicyFilter, ReadMark, SortKey, Store, StoreError, TimeRange,
};
use flowlens_store_clickhouse::ClickHouseStore;
use flowlens_store_clickhouse::test_server::{self, TestServer};
use proptest::prelude::*;
use std::net::IpAddr;

/// A day boundary falls inside the data, so rows land in two partitions.
const BASE: i64 = 86_400 * 20_000 - 1_800;
const SPAN: i64 = 3_600;

fn pick<T: Clone + std::fmt::Debug + 'static>(items: &[T]) -> BoxedStrategy<T> {
    prop::sample::select(items.to_vec()).boxed()
}

fn opt_text(items: &'static [&'static str]) -> BoxedStrategy<Option<String>> {
    prop_oneof![
        1 => Just(None),
        4 => pick(items).prop_map(|s| Some(s.to_string())),
    ]
    .boxed()
}

const KEYS: &[&str] = &["app", "tier", "env", NAMESPACE_LABEL, "x.y/z", "a"];
const VALUES: &[&str] = &["web", "db", "", "a'b", "é", "v=1", "w\\", "web-1"];

fn labels() -> impl Strategy<Value = Labels> {
    prop::collection::btree_map(
        pick(KEYS).prop_map(String::from),
        pick(VALUES).prop_map(String::from),
        0..4,
    )
}

fn ip() -> impl Strategy<Value = Option<IpAddr>> {
    pick(&[
        None,
        Some("10.0.0.1"),
        Some("10.0.0.12"),
        Some("192.168.1.1"),
        Some("fd00::1"),
    ])
    .prop_map(|ip| ip.map(|t| t.parse().unwrap()))
}

fn port() -> impl Strategy<Value = Option<u16>> {
    pick(&[None, Some(0), Some(80), Some(443), Some(8080), Some(65535)])
}

fn end() -> impl Strategy<Value = FlowEnd> {
    (
        ip(),
        opt_text(&["web-abc", "api-1", "db-0", "x'y"]),
        pick(&["web-*", "api-*", "pub", "pvt", "db-0"]),
        opt_text(&["shop", "db", "kube-system", "ns'q", "shop2"]),
        port(),
        pick(&[
            None,
            Some(EndpointType::Wep),
            Some(EndpointType::Hep),
            Some(EndpointType::Ns),
            Some(EndpointType::Net),
        ]),
        labels(),
    )
        .prop_map(
            |(ip, name, name_aggr, namespace, port, endpoint_type, labels)| FlowEnd {
                ip,
                name,
                name_aggr: name_aggr.to_string(),
                namespace,
                port,
                endpoint_type,
                labels,
            },
        )
}

const KINDS: &[Option<PolicyKind>] = &[
    Some(PolicyKind::NetworkPolicy),
    Some(PolicyKind::GlobalNetworkPolicy),
    Some(PolicyKind::StagedNetworkPolicy),
    Some(PolicyKind::KubernetesNetworkPolicy),
    Some(PolicyKind::AdminNetworkPolicy),
    Some(PolicyKind::BaselineAdminNetworkPolicy),
];

fn hit() -> impl Strategy<Value = PolicyHit> {
    (
        0u32..3,
        pick(&["default", "security", "kube-admin", "kube-baseline"]),
        pick(KINDS),
        pick(&["web", "deny-all", "db"]),
        pick(&[HitAction::Allow, HitAction::Deny, HitAction::Pass]),
        -1i32..3,
    )
        .prop_map(|(index, tier, kind, name, action, rule)| {
            // Namespaced kinds carry a namespace; the admin kinds live in their tiers.
            let tier = match kind {
                Some(PolicyKind::AdminNetworkPolicy) => "kube-admin",
                Some(PolicyKind::BaselineAdminNetworkPolicy) => "kube-baseline",
                _ if tier.starts_with("kube-") => "default",
                _ => tier,
            };
            let namespace = kind
                .is_some_and(|k| k.is_namespaced())
                .then(|| "shop".to_string());
            PolicyHit {
                index,
                tier: tier.to_string(),
                kind,
                namespace,
                name: name.to_string(),
                action,
                rule,
            }
        })
}

fn flow_log() -> impl Strategy<Value = FlowLog> {
    let ends = (end(), end());
    let service = prop_oneof![
        2 => Just(None),
        1 => (pick(&["shop", "db"]), pick(&["web", "api"]), pick(&["http", "-"]), pick(&[80u16, 8443]))
            .prop_map(|(namespace, name, port_name, port_num)| Some(FlowService {
                namespace: namespace.into(),
                name: name.into(),
                port_name: port_name.into(),
                port_num,
            })),
    ];
    let verdict = (
        pick(&[
            Protocol::Tcp,
            Protocol::Udp,
            Protocol::Icmp,
            Protocol::Other(47),
            Protocol::Other(250),
        ]),
        pick(&[Action::Allow, Action::Deny]),
        pick(&[Reporter::Src, Reporter::Dst]),
        prop::collection::vec(hit(), 0..3),
        prop_oneof![
            2 => Just(None),
            1 => Just(Some(Vec::new())),
            1 => prop::collection::vec(hit(), 1..3).prop_map(Some),
        ],
    );
    let counters = (
        0u64..5,
        0u64..3,
        0u64..3,
        0u64..1_000,
        0u64..1_000,
        0u64..100_000,
        0u64..100_000,
    );
    let rest = (
        0..SPAN,
        0i64..60,
        opt_text(&["curl", "nginx"]),
        pick(&[None, Some(1), Some(-7), Some(4242)]),
        opt_text(&["node-1", "node-2"]),
    );
    (ends, service, verdict, counters, rest).prop_map(
        |(
            (source, dest),
            dest_service,
            (proto, action, reporter, enforced, pending),
            (nf, started, completed, pin, pout, bin, bout),
            (t, dur, process_name, process_id, host),
        )| FlowLog {
            start_time: BASE + t - dur,
            end_time: BASE + t,
            source,
            dest,
            dest_service,
            proto,
            action,
            reporter,
            pending_policies: pending.unwrap_or_else(|| enforced.clone()),
            enforced_policies: enforced,
            bytes_in: bin,
            bytes_out: bout,
            packets_in: pin,
            packets_out: pout,
            num_flows: nf,
            num_flows_started: started,
            num_flows_completed: completed,
            process_name,
            process_id,
            host,
        },
    )
}

fn time_range() -> impl Strategy<Value = TimeRange> {
    prop_oneof![
        1 => Just(TimeRange::all()),
        3 => (0..SPAN + 10, 1..SPAN).prop_map(|(from, len)| TimeRange::new(BASE + from - 5, BASE + from + len)),
        1 => (0..SPAN).prop_map(|from| TimeRange::new(BASE + from, i64::MAX)),
        1 => (0..SPAN).prop_map(|to| TimeRange::new(i64::MIN, BASE + to)),
        // Empty: both stores refuse it.
        1 => Just(TimeRange::new(BASE, BASE)),
    ]
}

/// Values a filter may compare a field with: stored ones, absent, numbers, bad ones.
fn filter_value(field: FlowField) -> BoxedStrategy<String> {
    use flowlens_model::FieldKind as K;
    match field.kind() {
        K::Int | K::OptionalInt | K::Counter => pick(&[
            "0",
            "1",
            "3",
            "80",
            "443",
            "-7",
            "4242",
            "-",
            "x",
            "99999999999",
        ])
        .prop_map(move |v| {
            if v == "0" && field == FlowField::EndTime {
                (BASE + SPAN / 2).to_string()
            } else {
                v.to_string()
            }
        })
        .boxed(),
        K::List => pick(&[
            "app=web",
            "tier=db",
            "app=",
            "a=v=1",
            "x.y/z=é",
            "0|default|np:shop/web|allow|0",
            "1|security|gnp:deny-all|deny|-1",
            "0|default|",
            "-",
            "",
        ])
        .prop_map(String::from)
        .boxed(),
        K::Text | K::OptionalText => pick(&[
            "shop", "db", "web-*", "pub", "10.0.0.1", "10.0.0.", "fd00::1", "tcp", "udp", "47",
            "allow", "deny", "src", "dst", "wep", "net", "ns", "-", "", "sh", "ns'q", "x'y",
            "http", "curl", "node-1",
        ])
        .prop_map(String::from)
        .boxed(),
    }
}

fn field_filter() -> impl Strategy<Value = FieldFilter> {
    pick(FlowField::ALL).prop_flat_map(|field| {
        let v = filter_value(field);
        let op = prop_oneof![
            4 => v.clone().prop_map(FilterOp::Eq),
            2 => v.clone().prop_map(FilterOp::Ne),
            2 => v.clone().prop_map(FilterOp::Prefix),
            1 => v.clone().prop_map(FilterOp::NotPrefix),
            1 => v.clone().prop_map(FilterOp::Gt),
            1 => v.clone().prop_map(FilterOp::Ge),
            1 => v.clone().prop_map(FilterOp::Lt),
            1 => v.clone().prop_map(FilterOp::Le),
            2 => prop::collection::vec(v.clone(), 0..3).prop_map(FilterOp::In),
            1 => prop::collection::vec(v, 1..3).prop_map(FilterOp::NotIn),
        ];
        op.prop_map(move |op| FieldFilter::new(field, op))
    })
}

fn selector() -> impl Strategy<Value = Selector> {
    let key = || pick(KEYS).prop_map(String::from);
    let value = || pick(VALUES).prop_map(String::from);
    let leaf = prop_oneof![
        1 => Just(Expr::All),
        1 => Just(Expr::Global),
        3 => key().prop_map(Expr::Has),
        3 => (key(), value()).prop_map(|(key, value)| Expr::Equals { key, value }),
        2 => (key(), value()).prop_map(|(key, value)| Expr::NotEquals { key, value }),
        1 => (key(), value()).prop_map(|(key, value)| Expr::Contains { key, value }),
        1 => (key(), value()).prop_map(|(key, value)| Expr::StartsWith { key, value }),
        1 => (key(), value()).prop_map(|(key, value)| Expr::EndsWith { key, value }),
        2 => (key(), prop::collection::vec(value(), 0..3))
            .prop_map(|(key, v)| Expr::In { key, values: ValueSet::new(v) }),
        1 => (key(), prop::collection::vec(value(), 0..3))
            .prop_map(|(key, v)| Expr::NotIn { key, values: ValueSet::new(v) }),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            prop::collection::vec(inner.clone(), 1..3).prop_map(Expr::And),
            prop::collection::vec(inner, 1..3).prop_map(Expr::Or),
        ]
    })
    .prop_map(Selector::from_expr)
}

fn policy_filter() -> impl Strategy<Value = PolicyFilter> {
    (
        opt_text(&["default", "security", "kube-admin", "kube-baseline"]),
        opt_text(&["web", "deny-all", "db"]),
        opt_text(&["shop", "db"]),
        prop_oneof![3 => Just(None), 1 => pick(KINDS)],
        prop_oneof![
            2 => Just(None),
            1 => pick(&[HitAction::Allow, HitAction::Deny, HitAction::Pass]).prop_map(Some)
        ],
        prop_oneof![2 => Just(None), 1 => (-1i32..3).prop_map(Some)],
    )
        .prop_map(|(tier, name, namespace, kind, action, rule)| PolicyFilter {
            tier,
            name,
            namespace,
            kind,
            action,
            rule,
        })
}

fn sort_key() -> impl Strategy<Value = SortKey> {
    (pick(FlowField::ALL), any::<bool>())
        .prop_map(|(field, descending)| SortKey { field, descending })
}

fn search() -> impl Strategy<Value = FlowSearch> {
    (
        time_range(),
        prop::collection::vec(field_filter(), 0..3),
        prop_oneof![2 => Just(None), 1 => selector().prop_map(Some)],
        prop_oneof![2 => Just(None), 1 => selector().prop_map(Some)],
        prop_oneof![3 => Just(None), 1 => policy_filter().prop_map(Some)],
        prop::collection::vec(sort_key(), 0..3),
        prop_oneof![1 => Just(None), 4 => (1usize..25).prop_map(Some)],
        prop_oneof![3 => Just(0usize), 1 => 1usize..6],
        any::<bool>(),
    )
        .prop_map(
            |(time, filters, source_selector, dest_selector, policy, sort, limit, offset, once)| {
                FlowSearch {
                    time,
                    filters,
                    source_selector,
                    dest_selector,
                    policy,
                    sort,
                    limit,
                    page_token: None,
                    offset,
                    connections_once: once,
                }
            },
        )
}

/// Both answers alike: equal values, or both refused (with the same message when the
/// embedded store found the query itself wrong).
fn same<T: PartialEq + std::fmt::Debug>(
    what: &str,
    query: &FlowSearch,
    embedded: Result<T, StoreError>,
    clickhouse: Result<T, StoreError>,
) -> Result<Option<T>, TestCaseError> {
    match (embedded, clickhouse) {
        (Ok(a), Ok(b)) => {
            prop_assert_eq!(&a, &b, "{}: {:?}", what, query);
            Ok(Some(a))
        }
        (Err(a), Err(b)) => {
            if let StoreError::InvalidQuery(_) = a {
                prop_assert_eq!(a.to_string(), b.to_string(), "{}: {:?}", what, query);
            }
            Ok(None)
        }
        (a, b) => Err(TestCaseError::fail(format!(
            "{what}: embedded {:?}, ClickHouse {:?}\n{query:?}",
            a.map(|_| "answered"),
            b.map(|_| "answered")
        ))),
    }
}

fn sorted_tuples(
    tuples: Result<Vec<flowlens_model::FlowTuple>, StoreError>,
) -> Result<Vec<String>, StoreError> {
    tuples.map(|t| {
        let mut texts: Vec<String> = t.iter().map(|t| format!("{t:?}")).collect();
        texts.sort();
        texts
    })
}

async fn compare(
    embedded: &EmbeddedStore,
    clickhouse: &ClickHouseStore,
    mut query: FlowSearch,
) -> Result<(), TestCaseError> {
    // A page and the pages after it, through their tokens.
    for _ in 0..3 {
        let page = same(
            "flow page",
            &query,
            embedded.query_flows(&query).await,
            clickhouse.query_flows(&query).await,
        )?;
        match page.and_then(|p| p.next_page_token) {
            Some(token) => query.page_token = Some(token),
            None => break,
        }
    }
    query.page_token = None;
    for group_by in [
        GroupBy::NamespacePair,
        GroupBy::NamePair,
        GroupBy::Edge,
        GroupBy::ServiceEdge,
        GroupBy::Action,
        GroupBy::Policy,
        GroupBy::PolicyRule,
    ] {
        same(
            &format!("{group_by:?}"),
            &query,
            embedded.aggregate(&query, group_by).await,
            clickhouse.aggregate(&query, group_by).await,
        )?;
    }
    same(
        "policy metrics",
        &query,
        embedded.policy_metrics(&query).await,
        clickhouse.policy_metrics(&query).await,
    )?;
    for source_ports in [false, true] {
        same(
            "flow tuples",
            &query,
            sorted_tuples(embedded.flow_tuples(&query, source_ports).await),
            sorted_tuples(clickhouse.flow_tuples(&query, source_ports).await),
        )?;
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn embedded_options() -> EmbeddedOptions {
    EmbeddedOptions {
        background_flush: false,
        ..EmbeddedOptions::default()
    }
}

/// Both stores, fed the same batches (each with a read mark), and a drop of the ClickHouse
/// database when done.
struct Pair {
    embedded: EmbeddedStore,
    clickhouse: ClickHouseStore,
    server: &'static TestServer,
    _dir: tempfile::TempDir,
}

impl Pair {
    async fn new(server: &'static TestServer, batches: &[Vec<FlowLog>]) -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let embedded = EmbeddedStore::open(dir.path(), embedded_options()).unwrap();
        let clickhouse = ClickHouseStore::open(server.fresh_config("eq"))
            .await
            .unwrap();
        for (i, logs) in batches.iter().enumerate() {
            let mut batch = FlowBatch::from_logs(logs).unwrap();
            batch.mark(ReadMark {
                input: format!("/input/{}", i % 2),
                device: 1,
                inode: 2,
                offset: 100 * i as u64,
                lines: 10 * i as u64,
            });
            let a = embedded.append_batch(batch.clone()).await.unwrap();
            let b = clickhouse.append_batch(batch).await.unwrap();
            assert_eq!(a.records, b.records);
            assert_eq!(a.first_record_id, b.first_record_id, "record ids alike");
        }
        Pair {
            embedded,
            clickhouse,
            server,
            _dir: dir,
        }
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let db = self.clickhouse.config().database().to_string();
        let _ = self.server.query(&format!("DROP DATABASE IF EXISTS {db}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    #[test]
    fn stores_answer_alike(
        batches in prop::collection::vec(prop::collection::vec(flow_log(), 0..30), 1..4),
        queries in prop::collection::vec(search(), 4..8),
    ) {
        let Some(server) = test_server::server() else {
            return Ok(());
        };
        let rt = runtime();
        rt.block_on(async {
            let pair = Pair::new(server, &batches).await;
            prop_assert_eq!(
                pair.embedded.time_bounds().await.unwrap(),
                pair.clickhouse.time_bounds().await.unwrap()
            );
            prop_assert_eq!(
                pair.embedded.stats().await.unwrap().records,
                pair.clickhouse.stats().await.unwrap().records
            );
            let mut marks = [
                Store::read_marks(&pair.embedded).await.unwrap(),
                pair.clickhouse.read_marks().await.unwrap(),
            ];
            for m in &mut marks {
                m.sort_by(|a, b| a.input.cmp(&b.input));
            }
            prop_assert_eq!(&marks[0], &marks[1]);
            for query in queries {
                compare(&pair.embedded, &pair.clickhouse, query).await?;
            }
            Ok(())
        })?;
    }
}

/// A larger, realistic data set (the store's benchmark generator) with the UI's queries.
#[test]
fn realistic_data_answers_alike() {
    #[path = "../../store/support/synth.rs"]
    #[allow(unused_imports)]
    mod synth;
    let Some(server) = test_server::server() else {
        return;
    };
    let mut generator = synth::Generator::new(7, synth::Level::Two);
    let logs: Vec<FlowLog> = generator.batch(5_000, 1_700_000_000, 3_600, 0, 5_000);
    let rt = runtime();
    rt.block_on(async {
        let batches: Vec<Vec<FlowLog>> = logs.chunks(1_000).map(<[FlowLog]>::to_vec).collect();
        let pair = Pair::new(server, &batches).await;
        let (from, to) = pair.embedded.time_bounds().await.unwrap().unwrap();
        let window = TimeRange::new(from + 600, to - 600);
        let mut queries = vec![
            FlowSearch::new(TimeRange::all()),
            FlowSearch::new(window).limit(50),
            FlowSearch::new(window)
                .filter(FieldFilter::parse("action=deny").unwrap())
                .limit(20),
            FlowSearch::new(window).sorted_by(SortKey::desc(FlowField::BytesIn)),
        ];
        let mut once = FlowSearch::new(window);
        once.connections_once = true;
        queries.push(once);
        let mut selected = FlowSearch::new(window);
        selected.dest_selector =
            Some(Selector::parse("app in {'checkout', 'redis'} && !has(canary)").unwrap());
        queries.push(selected);
        let mut by_policy = FlowSearch::new(TimeRange::all());
        by_policy.policy = PolicyFilter::parse(Some("web"), Some("deny"), None).unwrap();
        queries.push(by_policy);
        for query in queries {
            compare(&pair.embedded, &pair.clickhouse, query)
                .await
                .unwrap();
        }
    });
}
