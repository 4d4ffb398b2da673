//! The ClickHouse store against a real server (the test server, Debian's 18.16 under
//! `scripts/test.sh`): its schema and migrations, logins, appends and every `Store` method
//! on a small data set whose answers are worked out by hand.

use flowlens_model::{
    Action, EndpointType, FlowEnd, FlowField, FlowLog, FlowService, HitAction, PolicyHit,
    PolicyKind, Protocol, Reporter, RuleDirection,
};
use flowlens_selector::Selector;
use flowlens_store::testutil::{sample_flow, sample_flows, tuple_variants};
use flowlens_store::{
    FieldFilter, FlowBatch, FlowSearch, GroupBy, PolicyFilter, ReadMark, RetentionPolicy, SortKey,
    Store, StoreError, TimeRange,
};
use flowlens_store_clickhouse::test_server::{self, TEST_PASSWORD, TEST_USER, TestServer};
use flowlens_store_clickhouse::{ClickHouseConfig, ClickHouseStore, SCHEMA_VERSION};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The test server, or `None` (skipping) without one.
fn server() -> Option<&'static TestServer> {
    test_server::server()
}

async fn fresh(server: &TestServer) -> ClickHouseStore {
    ClickHouseStore::open(server.fresh_config("store"))
        .await
        .expect("open a fresh database")
}

/// Every stored flow, oldest record first, through pages of `page` rows.
async fn all_flows(store: &dyn Store, page: usize) -> (Vec<u64>, Vec<FlowLog>) {
    let mut query = FlowSearch::new(TimeRange::all())
        .sorted_by(SortKey::asc(FlowField::RecordId))
        .limit(page);
    let (mut ids, mut flows) = (Vec::new(), Vec::new());
    loop {
        let p = store.query_flows(&query).await.expect("query");
        ids.extend(p.record_ids);
        flows.extend(p.flows);
        match p.next_page_token {
            Some(token) => query.page_token = Some(token),
            None => return (ids, flows),
        }
    }
}

#[test]
fn the_schema_is_created_versioned_and_migrated_once() {
    let Some(server) = server() else { return };
    runtime().block_on(async {
        let config = server.fresh_config("schema");
        let db = config.database().to_string();
        let store = ClickHouseStore::open(config.clone()).await.unwrap();
        assert!(store.server_version() >= flowlens_store_clickhouse::ServerVersion::OLDEST);
        let versions = server
            .query(&format!("SELECT max(version) FROM {db}.flowlens_schema"))
            .unwrap();
        assert_eq!(versions.trim(), SCHEMA_VERSION.to_string());
        let tables = server
            .query(&format!(
                "SELECT name, partition_key, sorting_key FROM system.tables \
                 WHERE database = '{db}' ORDER BY name"
            ))
            .unwrap();
        assert!(
            tables.contains("flows\tintDiv(end_time, 86400)\tend_time, record_id"),
            "{tables}"
        );
        assert!(tables.contains("read_marks"), "{tables}");
        // Migrating again applies nothing; opening again creates nothing.
        let report = ClickHouseStore::migrate(config.clone()).await.unwrap();
        assert_eq!((report.from, report.to), (SCHEMA_VERSION, SCHEMA_VERSION));
        assert!(report.applied.is_empty());
        ClickHouseStore::open(config.clone()).await.unwrap();
        let versions = server
            .query(&format!("SELECT count() FROM {db}.flowlens_schema"))
            .unwrap();
        // One row per version, none twice.
        assert_eq!(versions.trim(), SCHEMA_VERSION.to_string());
        // A database of a newer Flowlens is refused, not written to.
        server
            .query(&format!(
                "INSERT INTO {db}.flowlens_schema VALUES (99, 'future', now(), 'x')"
            ))
            .unwrap();
        let err = ClickHouseStore::open(config.clone()).await.unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedFormat { .. }), "{err}");
        assert!(ClickHouseStore::migrate(config).await.is_err());
    });
}

#[test]
fn a_fresh_database_is_made_by_migrate_alone() {
    let Some(server) = server() else { return };
    runtime().block_on(async {
        let config = server.fresh_config("migrate");
        let report = ClickHouseStore::migrate(config.clone()).await.unwrap();
        assert_eq!((report.from, report.to), (0, SCHEMA_VERSION));
        assert_eq!(report.applied.len(), SCHEMA_VERSION as usize);
        let store = ClickHouseStore::open(config).await.unwrap();
        assert_eq!(store.time_bounds().await.unwrap(), None);
        assert_eq!(store.stats().await.unwrap().records, 0);
    });
}

#[test]
fn logins_work_and_passwords_never_show() {
    let Some(server) = server() else { return };
    runtime().block_on(async {
        let base = server.fresh_config("login");
        let address = format!(
            "clickhouse://{TEST_USER}@127.0.0.1:{}/{}",
            server.http_port(),
            base.database()
        );
        let good = ClickHouseConfig::parse(&address)
            .unwrap()
            .with_password(TEST_PASSWORD);
        let store = ClickHouseStore::open(good).await.unwrap();
        store.append(sample_flows(0, 3, 1_000)).await.unwrap();
        assert!(!format!("{store:?}").contains(TEST_PASSWORD));

        let bad = ClickHouseConfig::parse(&address)
            .unwrap()
            .with_password("wrong-secret-password");
        let err = ClickHouseStore::open(bad).await.unwrap_err().to_string();
        assert!(
            err.contains(TEST_USER) && err.contains("127.0.0.1"),
            "{err}"
        );
        assert!(!err.contains("wrong-secret-password"), "{err}");

        // A server that is not there: the error names the address, not the password.
        let nowhere = ClickHouseConfig::parse("clickhouse://u:hunter2@127.0.0.1:1/db").unwrap();
        let err = ClickHouseStore::open(nowhere)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("127.0.0.1:1") && !err.contains("hunter2"),
            "{err}"
        );
    });
}

#[test]
fn appends_are_numbered_in_order_and_read_back_exactly() {
    let Some(server) = server() else { return };
    runtime().block_on(async {
        let store = fresh(server).await;
        let mut logs = sample_flows(0, 25, 1_000);
        logs.extend(tuple_variants());
        let empty = store.append(Vec::new()).await.unwrap();
        assert_eq!((empty.records, empty.first_record_id), (0, 0));
        let first = store.append(logs[..20].to_vec()).await.unwrap();
        assert_eq!((first.records, first.first_record_id), (20, 0));
        // Another process on the same database numbers on.
        let other = ClickHouseStore::open(store.config().clone()).await.unwrap();
        let second = other.append(logs[20..].to_vec()).await.unwrap();
        assert_eq!(second.first_record_id, 20);
        let (ids, flows) = all_flows(&store, 7).await;
        assert_eq!(ids, (0..logs.len() as u64).collect::<Vec<_>>());
        assert_eq!(flows, logs);
        let min = logs.iter().map(|l| l.end_time).min().unwrap();
        let max = logs.iter().map(|l| l.end_time).max().unwrap();
        assert_eq!(store.time_bounds().await.unwrap(), Some((min, max)));
        let stats = store.stats().await.unwrap();
        assert_eq!(stats.records, logs.len() as u64);
        assert!(stats.files >= 1 && stats.bytes_on_disk > 0, "{stats:?}");
        store.flush().await.unwrap();
        assert!(matches!(
            store.sql("SELECT 1").await,
            Err(StoreError::NotSupported(_))
        ));
    });
}

#[test]
fn read_marks_count_only_once_their_rows_are_stored() {
    let Some(server) = server() else { return };
    runtime().block_on(async {
        let store = fresh(server).await;
        assert!(store.read_marks().await.unwrap().is_empty());
        let mark = |offset: u64| ReadMark {
            input: "/var/log/calico/flows.log".into(),
            device: 3,
            inode: 44,
            offset,
            lines: offset / 10,
        };
        let mut batch = FlowBatch::from_logs(&sample_flows(0, 5, 2_000)).unwrap();
        batch.mark(mark(500));
        store.append_batch(batch).await.unwrap();
        let mut batch = FlowBatch::from_logs(&sample_flows(5, 5, 2_000)).unwrap();
        batch.mark(mark(900));
        let mut other = mark(70);
        other.input = "/other".into();
        batch.mark(other.clone());
        store.append_batch(batch).await.unwrap();
        assert_eq!(store.read_marks().await.unwrap(), vec![other, mark(900)]);
        // A mark whose rows never arrived (an append cut short between the two inserts)
        // leaves the previous one standing.
        let db = store.config().database();
        server
            .query(&format!(
                "INSERT INTO {db}.read_marks VALUES ('/var/log/calico/flows.log', 3, 44, \
                 1300, 130, 10, 5, 2000, 2020)"
            ))
            .unwrap();
        let marks = store.read_marks().await.unwrap();
        assert_eq!(marks[1], mark(900));
        // Marks of an empty batch are not stored.
        let mut empty = FlowBatch::default();
        empty.mark(mark(5_000));
        store.append_batch(empty).await.unwrap();
        assert_eq!(store.read_marks().await.unwrap()[1], mark(900));
    });
}

/// Four flow logs whose answers are worked out by hand: shop/web → db/pg allowed (logged by
/// both ends), shop/web → db/pg denied at the destination by the end of pg's tier, and
/// shop/web → the internet.
fn known() -> Vec<FlowLog> {
    let hit = |index, tier: &str, kind, ns: Option<&str>, name: &str, action, rule| PolicyHit {
        index,
        tier: tier.into(),
        kind: Some(kind),
        namespace: ns.map(str::to_string),
        name: name.into(),
        action,
        rule,
    };
    let end = |ns: Option<&str>, aggr: &str, app: Option<&str>, port| FlowEnd {
        ip: Some("10.0.0.1".parse().unwrap()),
        name: None,
        name_aggr: aggr.into(),
        namespace: ns.map(str::to_string),
        port,
        endpoint_type: Some(if ns.is_some() {
            EndpointType::Wep
        } else {
            EndpointType::Net
        }),
        labels: app
            .map(|a| [("app".to_string(), a.to_string())].into())
            .unwrap_or_default(),
    };
    let allow_egress = hit(
        0,
        "default",
        PolicyKind::NetworkPolicy,
        Some("shop"),
        "web",
        HitAction::Allow,
        0,
    );
    let allow_ingress = hit(
        0,
        "default",
        PolicyKind::NetworkPolicy,
        Some("db"),
        "pg",
        HitAction::Allow,
        1,
    );
    let deny_ingress = hit(
        0,
        "default",
        PolicyKind::NetworkPolicy,
        Some("db"),
        "pg",
        HitAction::Deny,
        -1,
    );
    let base = FlowLog {
        start_time: 10_000,
        end_time: 10_010,
        source: end(Some("shop"), "web-*", Some("web"), None),
        dest: end(Some("db"), "pg-*", Some("pg"), Some(5432)),
        dest_service: Some(FlowService {
            namespace: "db".into(),
            name: "pg".into(),
            port_name: "sql".into(),
            port_num: 5432,
        }),
        proto: Protocol::Tcp,
        action: Action::Allow,
        reporter: Reporter::Src,
        enforced_policies: vec![allow_egress.clone()],
        pending_policies: vec![allow_egress.clone()],
        bytes_in: 100,
        bytes_out: 200,
        packets_in: 1,
        packets_out: 2,
        num_flows: 3,
        num_flows_started: 3,
        num_flows_completed: 3,
        process_name: None,
        process_id: None,
        host: Some("node-1".into()),
    };
    let mut dst = base.clone();
    dst.reporter = Reporter::Dst;
    dst.enforced_policies = vec![allow_ingress.clone()];
    dst.pending_policies = vec![allow_ingress];
    let mut denied = dst.clone();
    denied.end_time = 10_020;
    denied.action = Action::Deny;
    denied.num_flows = 2;
    denied.num_flows_started = 2;
    denied.enforced_policies = vec![deny_ingress.clone()];
    denied.pending_policies = vec![deny_ingress];
    let mut out = base.clone();
    out.end_time = 10_030;
    out.dest = end(None, "pub", None, Some(443));
    out.dest_service = None;
    out.num_flows = 5;
    out.num_flows_started = 5;
    vec![base, dst, denied, out]
}

#[test]
fn every_method_answers_the_known_data_set() {
    let Some(server) = server() else { return };
    runtime().block_on(async {
        let store = fresh(server).await;
        store.append(known()).await.unwrap();
        let all = FlowSearch::new(TimeRange::all());

        // Pages: newest first by default, filters, selectors, the policy filter.
        let page = store.query_flows(&all).await.unwrap();
        assert_eq!(page.total, 4);
        assert_eq!(page.record_ids, [3, 2, 1, 0]);
        let q = |f: &str| all.clone().filter(FieldFilter::parse(f).unwrap());
        assert_eq!(
            store
                .query_flows(&q("action=deny"))
                .await
                .unwrap()
                .record_ids,
            [2]
        );
        assert_eq!(
            store
                .query_flows(&q("dest_namespace=-"))
                .await
                .unwrap()
                .record_ids,
            [3]
        );
        assert_eq!(
            store
                .query_flows(&q("dest_namespace!=db"))
                .await
                .unwrap()
                .record_ids,
            [3]
        );
        assert_eq!(
            store
                .query_flows(&q("dest_port>=5000"))
                .await
                .unwrap()
                .total,
            3
        );
        assert_eq!(
            store
                .query_flows(&q("enforced_policies^=0|default|np:db/"))
                .await
                .unwrap()
                .total,
            2
        );
        let mut selected = all.clone();
        selected.dest_selector = Some(Selector::parse("app == 'pg'").unwrap());
        assert_eq!(store.query_flows(&selected).await.unwrap().total, 3);
        selected.dest_selector = Some(Selector::parse("!has(app)").unwrap());
        assert_eq!(store.query_flows(&selected).await.unwrap().record_ids, [3]);
        let mut by_policy = all.clone();
        by_policy.policy =
            PolicyFilter::parse(Some("default/np:db/pg"), Some("deny"), Some("-1")).unwrap();
        assert_eq!(store.query_flows(&by_policy).await.unwrap().record_ids, [2]);
        // Each connection once: the destination's records, and the source's when none.
        let mut once = all.clone();
        once.connections_once = true;
        assert_eq!(
            store.query_flows(&once).await.unwrap().record_ids,
            [3, 2, 1]
        );
        // Pages of two, and an offset.
        let two = all.clone().limit(2);
        let first = store.query_flows(&two).await.unwrap();
        assert_eq!((first.record_ids.clone(), first.total), (vec![3, 2], 4));
        let mut next = two.clone();
        next.page_token = first.next_page_token;
        let second = store.query_flows(&next).await.unwrap();
        assert_eq!(second.record_ids, [1, 0]);
        assert_eq!(second.next_page_token, None);
        let mut skipped = two.clone();
        skipped.offset = 3;
        assert_eq!(store.query_flows(&skipped).await.unwrap().record_ids, [0]);
        // Refused queries say why.
        for (bad, why) in [
            (all.clone().limit(0), "limit"),
            (
                all.clone().sorted_by(SortKey::asc(FlowField::DestLabels)),
                "list field",
            ),
            (FlowSearch::new(TimeRange::new(5, 5)), "empty time range"),
        ] {
            let err = store.query_flows(&bad).await.unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        }
        let mut forged = all.clone();
        forged.page_token = Some("7b7d".into());
        assert!(store.query_flows(&forged).await.is_err());

        // Groupings: connections, with rates over the stored 20 s.
        let pairs = store.aggregate(&all, GroupBy::NamespacePair).await.unwrap();
        let pair = |dst: Option<&str>| {
            pairs
                .iter()
                .find(|r| r.key.dest_namespace.as_deref() == dst)
                .unwrap()
        };
        assert_eq!(pairs.len(), 2);
        assert_eq!(
            (pair(Some("db")).records, pair(Some("db")).num_flows),
            (3, 8)
        );
        assert_eq!(
            (
                pair(Some("db")).allowed_flows,
                pair(Some("db")).denied_flows
            ),
            (6, 2)
        );
        assert_eq!(pair(None).num_flows, 5);
        assert_eq!(
            pairs[0].key.dest_namespace.as_deref(),
            Some("db"),
            "busiest first"
        );
        assert_eq!(pair(None).connections_per_second, 5.0 / 21.0);
        let actions = store.aggregate(&all, GroupBy::Action).await.unwrap();
        assert_eq!(actions.len(), 2);
        assert_eq!(
            (actions[0].key.action, actions[0].num_flows),
            (Some(Action::Allow), 11)
        );
        let edges = store.aggregate(&all, GroupBy::ServiceEdge).await.unwrap();
        assert_eq!(edges.len(), 3);
        assert!(
            edges
                .iter()
                .any(|e| e.key.dest_port == Some(443) && e.key.dest_service_name.is_none())
        );
        assert_eq!(
            store
                .aggregate(&all.clone().limit(1), GroupBy::Edge)
                .await
                .unwrap()
                .len(),
            1
        );

        // Policies: per policy and per rule.
        let policies = store.aggregate(&all, GroupBy::Policy).await.unwrap();
        let names: Vec<_> = policies
            .iter()
            .map(|r| {
                (
                    r.key.policy_name.clone().unwrap(),
                    r.num_flows,
                    r.hits_denied,
                )
            })
            .collect();
        assert_eq!(names, [("web".to_string(), 8, 0), ("pg".to_string(), 5, 2)]);
        let rules = store.aggregate(&all, GroupBy::PolicyRule).await.unwrap();
        assert_eq!(rules.len(), 3);
        assert!(rules.iter().all(|r| r.pending_num_flows == r.num_flows));

        // The Policy Board: pg's ingress rules (1 allowed 3, end of tier denied 2).
        let metrics = store.policy_metrics(&all).await.unwrap();
        assert_eq!(metrics.len(), 2);
        let pg = &metrics[0];
        assert_eq!(
            (pg.namespace.as_deref(), pg.name.as_str()),
            (Some("db"), "pg")
        );
        assert_eq!(pg.rule(RuleDirection::Ingress, 1).allowed, 3);
        assert_eq!(pg.rule(RuleDirection::Ingress, -1).denied, 2);
        assert_eq!(pg.total.connections, 5);
        assert!(pg.egress.is_empty());
        let web = &metrics[1];
        assert_eq!(web.rule(RuleDirection::Egress, 0).allowed, 8);
        assert_eq!(web.total.pending_connections, 8);

        // Tuples: four distinct (the two allowed pg records differ in their reporter, the
        // denied one in its action), with their counts.
        let tuples = store.flow_tuples(&all, false).await.unwrap();
        assert_eq!(tuples.len(), 4);
        assert_eq!(tuples.iter().map(|t| t.flow_logs).sum::<u64>(), 4);
        assert_eq!(tuples.iter().map(|t| t.num_flows).sum::<u64>(), 13);
        assert!(tuples.iter().all(|t| t.source.port.is_none()));
        let window = FlowSearch::new(TimeRange::new(10_015, 10_025));
        let tuples = store.flow_tuples(&window, true).await.unwrap();
        assert_eq!(tuples.len(), 1);
        assert_eq!(tuples[0].action, Action::Deny);
        assert_eq!(
            tuples[0].dest.labels.get("app").map(String::as_str),
            Some("pg")
        );
    });
}

/// Strings that would break or bend a query if they escaped their literals are stored and
/// found as they are.
#[test]
fn quotes_and_backslashes_are_data() {
    let Some(server) = server() else { return };
    runtime().block_on(async {
        let store = fresh(server).await;
        let mut log = sample_flow(1, 5_000);
        log.source.namespace = Some("a' OR 1=1 --".into());
        log.dest.labels = [("app".to_string(), "x\\' y\n?".to_string())].into();
        log.process_name = Some("\0\t\\".into());
        store
            .append(vec![log.clone(), sample_flow(2, 5_001)])
            .await
            .unwrap();
        let all = FlowSearch::new(TimeRange::all());
        let page = store
            .query_flows(
                &all.clone()
                    .filter(FieldFilter::eq(FlowField::SourceNamespace, "a' OR 1=1 --")),
            )
            .await
            .unwrap();
        assert_eq!(page.flows, vec![log.clone()]);
        let mut selected = all.clone();
        selected.dest_selector = Some(Selector::label_equals("app", "x\\' y\n?"));
        assert_eq!(store.query_flows(&selected).await.unwrap().flows, vec![log]);
    });
}

#[test]
fn retention_drops_whole_days_beyond_the_limits() {
    let Some(server) = server() else { return };
    runtime().block_on(async {
        let store = fresh(server).await;
        const DAY: i64 = 86_400;
        // Ten flow logs on each of days 100, 101 and 102, at noon.
        let logs: Vec<FlowLog> = (0..30u64)
            .map(|i| sample_flow(i, (100 + i as i64 / 10) * DAY + DAY / 2))
            .collect();
        let mark = ReadMark {
            input: "/var/log/calico/flows.log".into(),
            device: 3,
            inode: 44,
            offset: 3_000,
            lines: 30,
        };
        let mut batch = FlowBatch::from_logs(&logs).unwrap();
        batch.mark(mark.clone());
        store.append_batch(batch).await.unwrap();
        let keep_all = RetentionPolicy::default();
        let report = store.apply_retention(keep_all, 200 * DAY).await.unwrap();
        assert_eq!(report.files_removed, 0);
        // Keeping a day at the first second of day 102: day 100 ends before the cutoff
        // (day 101's start) and goes; day 101 is kept whole.
        let a_day = RetentionPolicy {
            max_age: Some(std::time::Duration::from_secs(DAY as u64)),
            max_bytes: None,
        };
        let report = store.apply_retention(a_day, 102 * DAY).await.unwrap();
        assert_eq!((report.files_removed, report.records_removed), (1, 10));
        assert!(report.bytes_freed > 0, "{report:?}");
        assert_eq!(
            store.time_bounds().await.unwrap(),
            Some((101 * DAY + DAY / 2, 102 * DAY + DAY / 2))
        );
        // A size limit below what the two days take drops the older one.
        let bytes = store.stats().await.unwrap().bytes_on_disk;
        let smaller = RetentionPolicy {
            max_age: None,
            max_bytes: Some(bytes - 1),
        };
        let report = store.apply_retention(smaller, 0).await.unwrap();
        assert_eq!((report.files_removed, report.records_removed), (1, 10));
        let (ids, flows) = all_flows(&store, 100).await;
        assert_eq!(ids, (20..30).collect::<Vec<u64>>());
        assert!(flows.iter().all(|f| f.end_time / DAY == 102));
        // The input's mark still stands with most of its rows dropped: reading the file
        // again resumes after it instead of storing the kept rows twice.
        assert_eq!(store.read_marks().await.unwrap(), vec![mark.clone()]);
        // With every row gone, a new process numbers on after the ids the marks name.
        let everything = RetentionPolicy {
            max_age: None,
            max_bytes: Some(0),
        };
        store.apply_retention(everything, 0).await.unwrap();
        assert_eq!(store.time_bounds().await.unwrap(), None);
        assert_eq!(store.read_marks().await.unwrap(), vec![mark]);
        let other = ClickHouseStore::open(store.config().clone()).await.unwrap();
        let next = other
            .append(vec![sample_flow(30, 102 * DAY)])
            .await
            .unwrap();
        assert_eq!(next.first_record_id, 30);
    });
}

#[test]
fn the_policy_rollup_sums_what_the_rows_sum_and_is_filled_by_the_migration() {
    let Some(server) = server() else { return };
    runtime().block_on(async {
        let store = fresh(server).await;
        const HOUR: i64 = 3_600;
        // Three hours of the known flow logs, each hour's at its middle, and one at an
        // hour's first second.
        let mut logs = Vec::new();
        for hour in 0..3 {
            for mut log in known() {
                log.end_time = 1_700_000_000 / HOUR * HOUR + hour * HOUR + HOUR / 2;
                logs.push(log);
            }
        }
        let mut edge = known().remove(0);
        edge.end_time = 1_700_000_000 / HOUR * HOUR + HOUR;
        logs.push(edge);
        store.append(logs.clone()).await.unwrap();
        // A filter that keeps every row makes the store sum the rows, not the rollup.
        let every_row = |range: TimeRange| {
            let mut q = FlowSearch::new(range);
            q.filters.push(FieldFilter::parse("num_flows>=0").unwrap());
            q
        };
        let start = 1_700_000_000 / HOUR * HOUR;
        let ranges = [
            TimeRange::all(),
            TimeRange::new(start, start + 3 * HOUR),
            TimeRange::new(start + HOUR / 3, start + 2 * HOUR + 10),
            TimeRange::new(start + HOUR, start + HOUR + 1),
        ];
        for range in ranges {
            let rolled = store.policy_metrics(&FlowSearch::new(range)).await.unwrap();
            let raw = store.policy_metrics(&every_row(range)).await.unwrap();
            assert!(!raw.is_empty(), "{range:?}");
            assert_eq!(rolled, raw, "{range:?}");
        }

        // A database of schema 1 with flow logs: migrating sums them into the rollup.
        let db = store.config().database().to_string();
        let back_to_schema_1 = |rollup_too: bool| {
            let mut statements = vec![
                format!("DROP TABLE IF EXISTS {db}.policy_hits_enforced_mv"),
                format!("DROP TABLE IF EXISTS {db}.policy_hits_pending_mv"),
            ];
            if rollup_too {
                statements.push(format!("DROP TABLE {db}.policy_hits_hourly"));
            }
            statements.extend([
                format!("DROP TABLE {db}.flowlens_schema"),
                format!(
                    "CREATE TABLE {db}.flowlens_schema (version UInt32, description String, \
                     applied_at DateTime, flowlens String) ENGINE = MergeTree() ORDER BY version"
                ),
                format!("INSERT INTO {db}.flowlens_schema VALUES (1, 'v1', now(), 'old')"),
            ]);
            for sql in statements {
                server.query(&sql).unwrap();
            }
        };
        back_to_schema_1(true);
        assert!(ClickHouseStore::open(store.config().clone()).await.is_err());
        let report = ClickHouseStore::migrate(store.config().clone())
            .await
            .unwrap();
        assert_eq!((report.from, report.to), (1, SCHEMA_VERSION));
        // A migration cut short after filling the rollup, run again: nothing summed twice.
        back_to_schema_1(false);
        ClickHouseStore::migrate(store.config().clone())
            .await
            .unwrap();
        let store = ClickHouseStore::open(store.config().clone()).await.unwrap();
        // And the views sum what arrives afterwards.
        store.append(logs).await.unwrap();
        for range in ranges {
            let rolled = store.policy_metrics(&FlowSearch::new(range)).await.unwrap();
            let raw = store.policy_metrics(&every_row(range)).await.unwrap();
            assert_eq!(rolled, raw, "after the migration, {range:?}");
        }
    });
}
