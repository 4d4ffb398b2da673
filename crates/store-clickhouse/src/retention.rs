//! Retention by whole days. The flow-log table is partitioned by day of `end_time`, so a day
//! is dropped with `ALTER TABLE … DROP PARTITION`: instant, nothing rewritten, the space
//! freed at once. A day goes once it lies wholly beyond the age limit, and, oldest first,
//! while the table takes more than the size limit. The day is the unit, so up to a day more
//! than `--retain-for` is kept (the queries' time windows never show it anyway).

use crate::schema::{FLOWS, POLICY_HITS_HOURLY};
use crate::store::ClickHouseStore;
use flowlens_store::{Result, RetentionPolicy, RetentionReport, StoreError};

const DAY: i64 = 86_400;

/// One day's partition as `system.parts` counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StoredDay {
    /// Days since the Unix epoch (the partition key, `intDiv(end_time, 86400)`).
    pub day: i64,
    pub rows: u64,
    pub bytes: u64,
}

/// The days `policy` drops at `now`, oldest first, given the stored ones in any order.
pub(crate) fn days_to_drop(
    mut days: Vec<StoredDay>,
    policy: RetentionPolicy,
    now: i64,
) -> Vec<StoredDay> {
    days.sort_by_key(|d| d.day);
    let mut keep_from = 0;
    if let Some(age) = policy.max_age {
        let cutoff = now.saturating_sub(i64::try_from(age.as_secs()).unwrap_or(i64::MAX));
        // A day's last second is (day + 1) * 86400 - 1: the day is wholly older than the
        // cutoff when the next one starts at or before it.
        keep_from = days
            .iter()
            .take_while(|d| d.day.saturating_add(1).saturating_mul(DAY) <= cutoff)
            .count();
    }
    if let Some(max_bytes) = policy.max_bytes {
        let mut total: u64 = days[keep_from..].iter().map(|d| d.bytes).sum();
        while total > max_bytes && keep_from < days.len() {
            total -= days[keep_from].bytes;
            keep_from += 1;
        }
    }
    days.truncate(keep_from);
    days
}

impl ClickHouseStore {
    /// Drops the days `policy` no longer keeps at `now` (Unix seconds). In the report, a
    /// "file" is a day's partition. Safe while other processes read and write: a query that
    /// is reading a dropped day finishes on the parts it holds.
    pub async fn apply_retention(
        &self,
        policy: RetentionPolicy,
        now: i64,
    ) -> Result<RetentionReport> {
        let mut report = RetentionReport::default();
        if policy == RetentionPolicy::default() {
            return Ok(report);
        }
        let database = crate::sql::quote(self.config().database());
        let parts: Vec<(String, u64, u64)> = self
            .fetch_all(
                "reading the stored days",
                &format!(
                    "SELECT partition, sum(rows), sum(bytes_on_disk) FROM system.parts \
                     WHERE database = {database} AND table = '{FLOWS}' AND active \
                     GROUP BY partition"
                ),
            )
            .await?;
        let days = parts
            .into_iter()
            .map(|(partition, rows, bytes)| {
                let day = partition.trim_matches('\'').parse::<i64>().map_err(|_| {
                    StoreError::Backend(format!(
                        "ClickHouse at {}: the table {FLOWS} has a partition {partition:?}, \
                         which is not a day number: is it Flowlens's table?",
                        self.config()
                    ))
                })?;
                Ok(StoredDay { day, rows, bytes })
            })
            .collect::<Result<Vec<_>>>()?;
        let drop = days_to_drop(days, policy, now);
        if !drop.is_empty() {
            crate::marks::confirm_standing(self).await?;
        }
        for day in drop {
            // The rollup's day first: a day whose rows are gone must not be summed.
            for table in [POLICY_HITS_HOURLY, FLOWS] {
                self.execute(
                    "dropping a day of flow logs",
                    &format!("ALTER TABLE {table} DROP PARTITION {}", day.day),
                )
                .await?;
            }
            report.files_removed += 1;
            report.records_removed += day.rows;
            report.bytes_freed += day.bytes;
        }
        Ok(report)
    }
}

impl ClickHouseStore {
    /// Applies `policy` every `every` until the task is aborted; a failure is logged and
    /// tried again at the next turn. ClickHouse merges its parts itself, so there is no
    /// compaction to run.
    pub fn spawn_retention(
        &self,
        policy: RetentionPolicy,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        flowlens_store::spawn_periodic(every, move |now| {
            let store = store.clone();
            async move {
                match store.apply_retention(policy, now).await {
                    Ok(report) if report.files_removed > 0 => {
                        tracing::info!("ClickHouse retention: {report:?}")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!("ClickHouse retention failed (retried later): {e}"),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn day(day: i64, bytes: u64) -> StoredDay {
        StoredDay {
            day,
            rows: bytes / 10,
            bytes,
        }
    }

    fn days(dropped: &[StoredDay]) -> Vec<i64> {
        dropped.iter().map(|d| d.day).collect()
    }

    #[test]
    fn a_day_goes_once_wholly_older_than_the_age_limit() {
        let stored = vec![day(12, 100), day(10, 100), day(11, 100)];
        let policy = RetentionPolicy {
            max_age: Some(Duration::from_secs(DAY as u64)),
            max_bytes: None,
        };
        // At the first second of day 13 the cutoff is the first second of day 12: days 10
        // and 11 lie wholly before it, day 12 is kept.
        assert_eq!(
            days(&days_to_drop(stored.clone(), policy, 13 * DAY)),
            [10, 11]
        );
        // One second earlier, day 11's last second is still within the age.
        assert_eq!(days(&days_to_drop(stored, policy, 13 * DAY - 1)), [10]);
    }

    #[test]
    fn the_oldest_days_go_while_the_table_is_over_the_size_limit() {
        let stored = vec![day(3, 300), day(1, 100), day(2, 200)];
        let at_most = |max_bytes| RetentionPolicy {
            max_age: None,
            max_bytes: Some(max_bytes),
        };
        assert_eq!(
            days(&days_to_drop(stored.clone(), at_most(600), 0)),
            [] as [i64; 0]
        );
        assert_eq!(days(&days_to_drop(stored.clone(), at_most(599), 0)), [1]);
        assert_eq!(days(&days_to_drop(stored.clone(), at_most(300), 0)), [1, 2]);
        assert_eq!(days(&days_to_drop(stored, at_most(0), 0)), [1, 2, 3]);
    }

    #[test]
    fn both_limits_drop_what_either_would() {
        let stored = vec![day(1, 100), day(2, 100), day(3, 100), day(4, 100)];
        let policy = RetentionPolicy {
            max_age: Some(Duration::from_secs(2 * DAY as u64)),
            max_bytes: Some(100),
        };
        // The age drops days 1 and 2 (cutoff: the start of day 3), the size then day 3.
        assert_eq!(days(&days_to_drop(stored, policy, 5 * DAY)), [1, 2, 3]);
    }
}
