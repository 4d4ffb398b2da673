//! Keeping the data directory tidy while the store runs: retention and compaction passes,
//! on demand or periodically.

use crate::EmbeddedStore;
use crate::error::Result;
use crate::files::compaction::compact_blocking;
use crate::files::retention::{RetentionPolicy, retention_blocking};
use crate::state::blocking;
use crate::types::{CompactionReport, RetentionReport};
use std::time::Duration;

/// What one maintenance pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MaintenanceReport {
    pub retention: RetentionReport,
    pub compaction: CompactionReport,
}

impl MaintenanceReport {
    /// Whether the pass changed anything.
    pub fn changed_anything(&self) -> bool {
        *self != MaintenanceReport::default()
    }
}

impl EmbeddedStore {
    /// One maintenance pass: retention (when `policy` sets a limit), then compaction (which
    /// also writes rollups files lack). Long-running processes call it periodically, see
    /// [`EmbeddedStore::spawn_maintenance`].
    pub async fn maintain(&self, policy: RetentionPolicy, now: i64) -> Result<MaintenanceReport> {
        let retention = if policy == RetentionPolicy::default() {
            RetentionReport::default()
        } else {
            self.apply_retention(policy, now).await?
        };
        let compaction = self.compact().await?;
        Ok(MaintenanceReport {
            retention,
            compaction,
        })
    }

    /// Runs [`EmbeddedStore::maintain`] every `every` (the first pass right away) until the
    /// returned task is aborted. Failures are logged and retried at the next pass.
    pub fn spawn_maintenance(
        &self,
        policy: RetentionPolicy,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        crate::periodic::spawn_periodic(every, move |now| {
            let store = store.clone();
            async move {
                match store.maintain(policy, now).await {
                    Ok(report) if report.changed_anything() => {
                        tracing::info!("store maintenance: {report:?}")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!("store maintenance failed (retried later): {e}"),
                }
            }
        })
    }

    /// Merges small files into files of about `compaction_target_rows` rows, sorted by time.
    pub async fn compact(&self) -> Result<CompactionReport> {
        let inner = self.inner.clone();
        blocking(move || compact_blocking(&inner)).await
    }

    /// Drops data older than `policy.max_age` before `now` (unix seconds) and the oldest
    /// files beyond `policy.max_bytes`. Acts on Parquet files; buffered records are covered
    /// once flushed.
    pub async fn apply_retention(
        &self,
        policy: RetentionPolicy,
        now: i64,
    ) -> Result<RetentionReport> {
        let inner = self.inner.clone();
        blocking(move || retention_blocking(&inner, policy, now)).await
    }
}
