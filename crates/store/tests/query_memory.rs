//! The query engine's memory limit: a query whose operators need more than the store gives
//! its queries fails with a clear error, and the store goes on answering.

mod common;

use flowlens_model::Action;
use flowlens_store::{EmbeddedOptions, EmbeddedStore, FlowSearch, Store, StoreError, TimeRange};

const ROWS: i64 = 300_000;

fn store_with(dir: &std::path::Path, query_memory: usize) -> EmbeddedStore {
    EmbeddedStore::open(
        dir,
        EmbeddedOptions {
            query_memory,
            ..common::options()
        },
    )
    .unwrap()
}

// A hash join keeps its whole build side in memory (it cannot spill): the join of the flow
// logs with themselves needs more than 16 MiB, while a page of flow logs sorts in 12 MiB.
const SELF_JOIN: &str = "SELECT count(*) AS n FROM flows a JOIN flows b ON a.source_name_aggr = b.source_name_aggr \
     AND a.end_time = b.end_time";

#[tokio::test]
async fn a_query_over_the_limit_fails_clearly_and_the_store_answers_on() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = store_with(dir.path(), flowlens_store::DEFAULT_QUERY_MEMORY);
        let logs: Vec<_> = (0..ROWS)
            .map(|i| {
                let app = format!("app-{}", i % 500);
                common::flow(("shop", &app), ("db", "pg"), Action::Allow, 1_000 + i, 1)
            })
            .collect();
        store.append(logs).await.unwrap();
        store.flush().await.unwrap();
        // With the default limit the join runs.
        let batches = store.sql(SELF_JOIN).await.unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        store.close().await.unwrap();
    }
    let store = store_with(dir.path(), 12 << 20);
    let err = store.sql(SELF_JOIN).await.unwrap_err();
    assert!(matches!(err, StoreError::OutOfQueryMemory(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("--query-memory"), "{message}");
    // The memory it held is given back (its operators' tasks end after the error is
    // returned, so within moments rather than at once), and the store still answers.
    let freed = async {
        while store.stats().await.unwrap().query_memory_bytes != Some(0) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), freed)
        .await
        .expect("the failed query's memory is given back");
    let page = store
        .query_flows(&FlowSearch::new(TimeRange::all()).limit(10))
        .await
        .unwrap();
    assert_eq!(page.total, ROWS as u64);
    let err = store.sql(SELF_JOIN).await.unwrap_err();
    assert!(matches!(err, StoreError::OutOfQueryMemory(_)), "{err:?}");
}
