//! Helpers shared by the watch tests.
#![allow(dead_code)]

use flowlens_kube::testing::FakeApiServer;
use flowlens_kube::{ClusterWatch, RetryPolicy, WatchOptions};
use std::time::Duration;

/// Waits until `check` holds, for at most 10 s; the message says what never happened.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Options for tests: the fake's clock, short pauses, small pages.
pub fn options(fake: &FakeApiServer) -> WatchOptions {
    WatchOptions {
        clock: fake.clock(),
        retry: RetryPolicy {
            min: Duration::from_millis(20),
            max: Duration::from_millis(200),
        },
        page_size: Some(2),
        ..WatchOptions::default()
    }
}

/// Starts a watch of the fake and waits for its first listings.
pub async fn synced_watch(fake: &FakeApiServer) -> ClusterWatch {
    let watch = fake.cluster().watch(options(fake));
    tokio::time::timeout(Duration::from_secs(10), watch.synced())
        .await
        .unwrap_or_else(|_| panic!("the watch did not sync: {:#?}", watch.status()));
    watch
}

/// The names of the inventory's endpoints, `ns/name`.
pub fn endpoint_names(watch: &ClusterWatch) -> Vec<String> {
    watch
        .inventory()
        .endpoints
        .iter()
        .map(|e| e.qualified_name())
        .collect()
}
