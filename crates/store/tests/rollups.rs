//! Rollups answer exactly what the rows answer: policy and rule sums, distinct tuples and the
//! traffic groupings of a store with rollups against the same data in a store without them,
//! over time ranges that cover whole hours, cut hours at either end, or lie inside one hour.

mod common;

use common::{flow, hit};
use flowlens_model::{Action, EndpointType, FlowLog, FlowTuple, HitAction, Reporter};
use flowlens_store::{
    AggregateRow, EmbeddedOptions, EmbeddedStore, FieldFilter, FlowSearch, GroupBy, Store,
    TimeRange,
};
use std::collections::BTreeMap;
use std::path::Path;

const HOUR: i64 = 3600;
/// An hour boundary, so ranges can be placed against hours.
const T0: i64 = 1_800_000_000 - 1_800_000_000 % HOUR;

fn random_logs(count: usize, span: i64) -> Vec<FlowLog> {
    let mut next = common::random(0x9e37_79b9_7f4a_7c15);
    let namespaces = ["shop", "dev", "prod"];
    let apps = ["web", "db"];
    let actions = [HitAction::Allow, HitAction::Deny, HitAction::Pass];
    (0..count)
        .map(|i| {
            let t = T0 + (i as i64 * span) / count as i64;
            let action = if next(3) == 0 {
                Action::Deny
            } else {
                Action::Allow
            };
            let mut log = flow(
                (namespaces[next(3) as usize], apps[next(2) as usize]),
                (namespaces[next(3) as usize], apps[next(2) as usize]),
                action,
                t,
                1 + next(5),
            );
            log.num_flows_started = next(3);
            for k in 0..next(3) {
                let tier = ["security", "platform"][next(2) as usize];
                log.enforced_policies.insert(
                    k as usize,
                    hit(
                        k as u32,
                        tier,
                        None,
                        &format!("p{}", next(4)),
                        actions[next(3) as usize],
                        next(3) as i32 - 1,
                    ),
                );
            }
            for (index, h) in log.enforced_policies.iter_mut().enumerate() {
                h.index = index as u32;
            }
            if next(4) == 0 {
                log.pending_policies = vec![hit(
                    0,
                    "default",
                    Some("shop"),
                    "staged",
                    actions[next(2) as usize],
                    next(2) as i32,
                )];
            }
            if next(3) == 0 {
                log.source.ip = None;
                log.source.name = None;
            }
            log.dest.port = [Some(80), Some(443), None][next(3) as usize];
            // Both reporters and some flows leaving the cluster, so that counting each
            // connection once keeps some rows and not others (tied to values drawn above, so
            // the tuples stay few enough to be kept).
            if log.source.ip.is_none() {
                log.reporter = Reporter::Src;
            }
            if log.dest.port.is_none() && log.dest.namespace.as_deref() == Some("dev") {
                log.dest.endpoint_type = Some(EndpointType::Net);
                log.dest_service = None;
            }
            log
        })
        .collect()
}

fn open(dir: &Path, rollups: bool) -> EmbeddedStore {
    EmbeddedStore::open(
        dir,
        EmbeddedOptions {
            rollups,
            ..common::options()
        },
    )
    .unwrap()
}

/// The logs in a few files (flushed at uneven points) and the buffer.
async fn fill(store: &EmbeddedStore, logs: &[FlowLog]) {
    let cuts = [0, logs.len() / 5, logs.len() / 2, logs.len() * 9 / 10];
    for w in cuts.windows(2) {
        store.append(logs[w[0]..w[1]].to_vec()).await.unwrap();
        store.flush().await.unwrap();
    }
    store
        .append(logs[cuts[cuts.len() - 1]..].to_vec())
        .await
        .unwrap();
}

fn rows(rows: Vec<AggregateRow>) -> Vec<String> {
    rows.iter().map(|r| format!("{r:?}")).collect()
}

fn tuples(tuples: Vec<FlowTuple>) -> BTreeMap<String, (u64, u64)> {
    let out: BTreeMap<String, (u64, u64)> = tuples
        .iter()
        .map(|t| {
            (
                format!(
                    "{:?}|{:?}|{:?}|{:?}|{:?}",
                    t.source, t.dest, t.proto, t.reporter, t.action
                ),
                (t.flow_logs, t.num_flows),
            )
        })
        .collect();
    assert_eq!(out.len(), tuples.len(), "a tuple came out twice");
    out
}

fn ranges() -> Vec<TimeRange> {
    vec![
        TimeRange::all(),
        TimeRange::new(T0, T0 + 3 * HOUR),
        TimeRange::new(T0 + 1_234, T0 + 4 * HOUR + 17),
        TimeRange::new(T0 - HOUR, T0 + 2 * HOUR + 1),
        TimeRange::new(T0 + HOUR + 5, T0 + HOUR + 900),
        TimeRange::new(T0 + 2 * HOUR, i64::MAX),
        TimeRange::new(i64::MIN, T0 + 3 * HOUR - 1),
    ]
}

/// The traffic groupings' queries over `range`: plain, counting each connection once (as the
/// UI asks), filtered on rollup columns, filtered on a column the rollups lack, and cut by a
/// limit.
fn traffic_queries(range: TimeRange) -> Vec<FlowSearch> {
    let once = |mut q: FlowSearch| {
        q.connections_once = true;
        q
    };
    let filtered = |text: &str| FlowSearch::new(range).filter(FieldFilter::parse(text).unwrap());
    let mut limited = once(FlowSearch::new(range));
    limited.limit = Some(3);
    vec![
        FlowSearch::new(range),
        once(FlowSearch::new(range)),
        once(filtered("source_namespace=shop")).filter(FieldFilter::parse("dest_port>80").unwrap()),
        filtered("action=deny"),
        filtered("num_flows>2"),
        limited,
    ]
}

const TRAFFIC_GROUPINGS: [GroupBy; 5] = [
    GroupBy::NamespacePair,
    GroupBy::NamePair,
    GroupBy::Edge,
    GroupBy::ServiceEdge,
    GroupBy::Action,
];

/// Everything rollups answer over `range`: policy and rule aggregates, the Policy Board's
/// metrics, tuples, the traffic groupings.
async fn answers(
    store: &EmbeddedStore,
    range: TimeRange,
) -> (Vec<String>, BTreeMap<String, (u64, u64)>) {
    let query = FlowSearch::new(range);
    let mut out = rows(store.aggregate(&query, GroupBy::Policy).await.unwrap());
    out.extend(rows(
        store.aggregate(&query, GroupBy::PolicyRule).await.unwrap(),
    ));
    for q in traffic_queries(range) {
        for g in TRAFFIC_GROUPINGS {
            let got = store.aggregate(&q, g).await.unwrap();
            out.push(format!("{g:?} {} groups", got.len()));
            out.extend(rows(got));
        }
    }
    out.extend(
        store
            .policy_metrics(&query)
            .await
            .unwrap()
            .iter()
            .map(|m| format!("{m:?}")),
    );
    (out, tuples(store.flow_tuples(&query, false).await.unwrap()))
}

fn rollup_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("rollups")).map_or(0, |d| d.count())
}

#[tokio::test]
async fn rollups_answer_as_the_rows_do() {
    let logs = random_logs(12_000, 5 * HOUR + 600);
    let (with_dir, without_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let with = open(with_dir.path(), true);
    let without = open(without_dir.path(), false);
    fill(&with, &logs).await;
    fill(&without, &logs).await;
    assert_eq!(
        rollup_files(with_dir.path()),
        12,
        "hit sums, tuples, edges and traffic of each data file"
    );
    assert_eq!(rollup_files(without_dir.path()), 0);

    for range in ranges() {
        let expected = answers(&without, range).await;
        assert!(!expected.1.is_empty() || range.to <= T0);
        assert_eq!(answers(&with, range).await, expected, "range {range:?}");
    }
    // A filter other than time is answered from the rows.
    let denied =
        FlowSearch::new(TimeRange::all()).filter(FieldFilter::parse("action=deny").unwrap());
    assert_eq!(
        rows(with.aggregate(&denied, GroupBy::PolicyRule).await.unwrap()),
        rows(
            without
                .aggregate(&denied, GroupBy::PolicyRule)
                .await
                .unwrap()
        )
    );
    // Source ports are not in the rollups; those tuples come from the rows.
    let all = FlowSearch::new(TimeRange::all());
    assert_eq!(
        tuples(with.flow_tuples(&all, true).await.unwrap()),
        tuples(without.flow_tuples(&all, true).await.unwrap())
    );

    // Compaction writes the merged file's rollups and deletes the replaced ones.
    with.compact().await.unwrap();
    assert_eq!(
        rollup_files(with_dir.path()),
        4 * with.stats().await.unwrap().files
    );
    for range in ranges() {
        assert_eq!(
            answers(&with, range).await,
            answers(&without, range).await,
            "{range:?}"
        );
    }
}

#[tokio::test]
async fn queries_read_the_rollups() {
    // Swapping one file's rollups for another's changes the answer: they are what is read.
    let logs = random_logs(2_000, 4 * HOUR);
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), true);
    store.append(logs[..1_000].to_vec()).await.unwrap();
    store.flush().await.unwrap();
    store.append(logs[1_000..].to_vec()).await.unwrap();
    store.flush().await.unwrap();
    let range = TimeRange::all();
    let before = answers(&store, range).await;
    drop(store);
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("rollups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".hits.parquet"))
        .collect();
    names.sort();
    std::fs::copy(&names[0], &names[1]).unwrap();
    let store = open(dir.path(), true);
    assert_ne!(answers(&store, range).await.0, before.0);
}

/// A store with rollups holding two files of an hour each, enough rows per edge that their
/// traffic rollups are kept.
async fn two_hours_in_two_files(dir: &Path) -> EmbeddedStore {
    let store = open(dir, true);
    for hour in random_logs(8_000, 2 * HOUR).chunks(4_000) {
        store.append(hour.to_vec()).await.unwrap();
        store.flush().await.unwrap();
    }
    store
}

#[tokio::test]
async fn groupings_read_the_traffic_rollups() {
    // As above, with the traffic rollups swapped: the groupings change, the policy sums not.
    let dir = tempfile::tempdir().unwrap();
    let store = two_hours_in_two_files(dir.path()).await;
    let grouped = |store: EmbeddedStore| async move {
        let query = FlowSearch::new(TimeRange::all());
        let pairs = store.aggregate(&query, GroupBy::NamespacePair).await;
        let policies = store.aggregate(&query, GroupBy::Policy).await;
        (rows(pairs.unwrap()), rows(policies.unwrap()))
    };
    let before = grouped(store).await;
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("rollups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".traffic.parquet"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 2);
    std::fs::copy(&names[0], &names[1]).unwrap();
    let after = grouped(open(dir.path(), true)).await;
    assert_ne!(after.0, before.0);
    assert_eq!(after.1, before.1);
    // A traffic rollup that cannot be read: the rows answer.
    std::fs::write(&names[1], b"not parquet").unwrap();
    assert_eq!(grouped(open(dir.path(), true)).await, before);
}

#[tokio::test]
async fn compaction_brings_older_rollups_up_to_date() {
    // Files whose rollups predate the traffic groups (the manifest records no version) get
    // them from the next compaction, and answer as before.
    let dir = tempfile::tempdir().unwrap();
    let store = two_hours_in_two_files(dir.path()).await;
    let expected = answers(&store, TimeRange::all()).await;
    store.close().await.unwrap();
    let manifest = dir.path().join("manifest.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    for file in json["files"].as_array_mut().unwrap() {
        let file = file.as_object_mut().unwrap();
        file.remove("rollup_version");
        file.remove("traffic_rollup");
    }
    std::fs::write(&manifest, serde_json::to_vec(&json).unwrap()).unwrap();
    let traffic = |dir: &Path| {
        std::fs::read_dir(dir.join("rollups"))
            .unwrap()
            .filter(|e| {
                let path = e.as_ref().unwrap().path();
                path.to_string_lossy().ends_with(".traffic.parquet")
            })
            .count()
    };

    let store = open(dir.path(), true);
    assert_eq!(
        traffic(dir.path()),
        0,
        "unlisted traffic rollups are removed"
    );
    assert_eq!(answers(&store, TimeRange::all()).await, expected);
    // Merged or not, the files compaction leaves have the traffic groups.
    store.compact().await.unwrap();
    assert_eq!(traffic(dir.path()), store.stats().await.unwrap().files);
    assert_eq!(answers(&store, TimeRange::all()).await, expected);
    assert_eq!(store.compact().await.unwrap().rollups_added, 0);
}

#[tokio::test]
async fn missing_rollups_are_scanned_and_written_again_by_compaction() {
    let logs = random_logs(3_000, 3 * HOUR);
    let (dir, reference_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Written without rollups, as by an older version.
    let store = open(dir.path(), false);
    let reference = open(reference_dir.path(), false);
    fill(&store, &logs).await;
    fill(&reference, &logs).await;
    store.close().await.unwrap();

    let store = open(dir.path(), true);
    let expected = answers(&reference, TimeRange::all()).await;
    assert_eq!(answers(&store, TimeRange::all()).await, expected);
    // Compaction merges the small files (the merged file gets rollups as it is written) and
    // adds rollups to any file left without.
    store.compact().await.unwrap();
    let hit_sums = std::fs::read_dir(dir.path().join("rollups"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .to_string_lossy()
                .ends_with(".hits.parquet")
        })
        .count();
    assert_eq!(hit_sums, store.stats().await.unwrap().files);
    assert_eq!(answers(&store, TimeRange::all()).await, expected);

    // A rollup lost on disk: reported on open, its file's rows scanned instead, rewritten
    // by the next compaction.
    drop(store);
    let victim = std::fs::read_dir(dir.path().join("rollups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".hits.parquet"))
        .unwrap();
    std::fs::remove_file(&victim).unwrap();
    let store = open(dir.path(), true);
    assert!(
        store
            .open_report()
            .warnings
            .iter()
            .any(|w| w.contains("rollups of")),
        "{:?}",
        store.open_report().warnings
    );
    assert_eq!(answers(&store, TimeRange::all()).await, expected);
    assert_eq!(store.compact().await.unwrap().rollups_added, 1);
    assert!(victim.exists());
    assert_eq!(answers(&store, TimeRange::all()).await, expected);
}

#[tokio::test]
async fn tuples_hardly_fewer_than_the_rows_are_not_kept() {
    let mut logs = random_logs(2_000, 2 * HOUR);
    for (i, log) in logs.iter_mut().enumerate() {
        log.dest.port = Some(1_000 + i as u16);
    }
    let (dir, reference_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = open(dir.path(), true);
    let reference = open(reference_dir.path(), false);
    for s in [&store, &reference] {
        s.append(logs.clone()).await.unwrap();
        s.flush().await.unwrap();
    }
    assert_eq!(rollup_files(dir.path()), 1, "hit sums only");
    for range in ranges() {
        assert_eq!(
            answers(&store, range).await,
            answers(&reference, range).await
        );
    }
}

#[tokio::test]
async fn a_bulk_loads_files_answer_as_the_rows_do() {
    let mut logs = random_logs(12_000, 5 * HOUR + 600);
    // Two batches swapped: the file being written is finished where time goes back.
    logs[7_000..8_400].rotate_left(700);
    let (dir, reference_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = EmbeddedStore::open(
        dir.path(),
        EmbeddedOptions {
            direct_write_rows: 5_000,
            ..common::options()
        },
    )
    .unwrap();
    let reference = open(reference_dir.path(), false);
    fill(&reference, &logs).await;
    let mut load = store.bulk_load();
    // Batches that cut hours, and hours that span batches.
    for batch in logs.chunks(700) {
        load.append(flowlens_store::FlowBatch::from_logs(batch).unwrap())
            .unwrap();
    }
    load.finish().unwrap();
    let files = store.stats().await.unwrap().files;
    // Cut once by size (rows 0..5000), once where time goes back (after 7,700 rows).
    assert_eq!(files, 3);
    // Hit sums for each; the file cut short keeps no tuples and no traffic (more than a
    // fourth of its rows).
    assert_eq!(rollup_files(dir.path()), 4 * files - 3);
    for range in ranges() {
        assert_eq!(
            answers(&store, range).await,
            answers(&reference, range).await,
            "{range:?}"
        );
    }
}
