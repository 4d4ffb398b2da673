//! Copying one store into another: every flow log once, in full, resumed where a copy
//! stopped, and nothing copied twice when it is run again.

mod common;

use flowlens_model::{Action, FlowField, FlowLog};
use flowlens_store::{
    CopyOptions, CopyProgress, FlowSearch, SortKey, Store, TimeRange, copy_flows,
};
use std::ops::ControlFlow;

/// Every flow log, oldest first (ties in the order they were stored).
async fn all(store: &dyn Store) -> Vec<FlowLog> {
    let mut out = Vec::new();
    let mut search = FlowSearch::new(TimeRange::all())
        .sorted_by(SortKey::asc(FlowField::EndTime))
        .limit(10_000);
    loop {
        let page = store.query_flows(&search).await.unwrap();
        out.extend(page.flows);
        match page.next_page_token {
            Some(token) => search.page_token = Some(token),
            None => return out,
        }
    }
}

#[tokio::test]
async fn a_copy_stopped_midway_resumes_and_a_finished_one_copies_nothing() {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let from = common::open(dirs.0.path());
    let to = common::open(dirs.1.path());
    // 5,000 flow logs over five hours, with hours and flow logs of equal end_time.
    let logs: Vec<FlowLog> = (0..5_000)
        .map(|i| {
            let app = format!("app-{}", i % 37);
            let action = if i % 7 == 0 {
                Action::Deny
            } else {
                Action::Allow
            };
            common::flow(
                ("shop", &app),
                ("db", "pg"),
                action,
                1_800_000_000 + i / 4 * 14,
                1,
            )
        })
        .collect();
    from.append(logs).await.unwrap();
    from.flush().await.unwrap();
    let options = CopyOptions {
        source: dirs.0.path().display().to_string(),
        identity: (1, 2),
        batch: 300,
    };

    // Stopped after three batches.
    let mut batches = 0;
    let first = copy_flows(&from, &to, &options, |_| {
        batches += 1;
        if batches == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .await
    .unwrap();
    assert_eq!(first.this_run, 900);
    assert_eq!(first.total, 5_000);
    assert_eq!(to.stats().await.unwrap().records, 900);

    // Resumed: the rest, each flow log once, equal to the source's.
    let mut seen: Vec<CopyProgress> = Vec::new();
    let second = copy_flows(&from, &to, &options, |p| {
        seen.push(p);
        ControlFlow::Continue(())
    })
    .await
    .unwrap();
    assert_eq!(second.this_run, 4_100);
    assert_eq!(second.copied, 5_000);
    assert!(seen.windows(2).all(|w| w[0].copied < w[1].copied));
    assert_eq!(all(&from).await, all(&to).await);

    // Once more: nothing left to copy.
    let third = copy_flows(&from, &to, &options, |_| ControlFlow::Continue(()))
        .await
        .unwrap();
    assert_eq!(third.this_run, 0);
    assert_eq!(third.copied, 5_000);
    assert_eq!(to.stats().await.unwrap().records, 5_000);

    // Another source under the same name (another directory there) starts afresh.
    let other = CopyOptions {
        identity: (1, 3),
        ..options
    };
    let fresh = copy_flows(&from, &to, &other, |_| ControlFlow::Continue(()))
        .await
        .unwrap();
    assert_eq!(fresh.this_run, 5_000);
}

#[tokio::test]
async fn an_empty_source_copies_nothing_and_a_bad_batch_is_refused() {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let from = common::open(dirs.0.path());
    let to = common::open(dirs.1.path());
    let mut options = CopyOptions {
        source: "empty".into(),
        identity: (0, 0),
        batch: 100,
    };
    let done = copy_flows(&from, &to, &options, |_| ControlFlow::Continue(()))
        .await
        .unwrap();
    assert_eq!(done, CopyProgress::default());
    options.batch = 0;
    assert!(
        copy_flows(&from, &to, &options, |_| ControlFlow::Continue(()))
            .await
            .is_err()
    );
}
