//! Aggregate rows ranked as callers get them: largest `num_flows` first (then the pending
//! count, then the key), cut at the query's limit, with their rates.

use crate::query::parallel::sort_on_all_cores;
use crate::types::{AggregateRow, FlowSearch, MAX_AGGREGATE_ROWS, TimeRange};
use std::cmp::Ordering;

/// The seconds rates are per: the query window, clipped to the stored data (`bounds`, the
/// smallest and largest stored `end_time`) when open.
pub(crate) fn window_seconds(range: &TimeRange, bounds: Option<(i64, i64)>) -> f64 {
    let Some((lo, hi)) = bounds else {
        return 1.0;
    };
    let from = range.from.max(lo);
    let to = range.to.min(hi.saturating_add(1));
    (to.saturating_sub(from)).max(1) as f64
}

pub(crate) fn set_rates(rows: &mut [AggregateRow], window_seconds: f64) {
    let w = window_seconds.max(1.0);
    for row in rows {
        row.connections_per_second = row.num_flows_started as f64 / w;
        row.packets_per_second = (row.packets_in + row.packets_out) as f64 / w;
        row.bits_per_second = 8.0 * (row.bytes_in + row.bytes_out) as f64 / w;
    }
}

/// The row numbers of the `limit` first rows in `cmp` order, in that order. Selects before
/// sorting: with many groups and a limit, most rows are never sorted.
pub(crate) fn ranked(
    len: usize,
    limit: usize,
    cmp: impl Fn(&usize, &usize) -> Ordering + Sync,
) -> Vec<usize> {
    if limit == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..len).collect();
    if limit < len {
        order.select_nth_unstable_by(limit - 1, &cmp);
        order.truncate(limit);
    }
    sort_on_all_cores(order, cmp)
}

pub(crate) fn row_limit(query: &FlowSearch) -> usize {
    query
        .limit
        .unwrap_or(MAX_AGGREGATE_ROWS)
        .min(MAX_AGGREGATE_ROWS)
}

pub(crate) fn finish(
    rows: Vec<AggregateRow>,
    query: &FlowSearch,
    window_seconds: f64,
) -> Vec<AggregateRow> {
    // Rank a permutation: rows are large, and moving them dominated with many groups.
    let order = ranked(rows.len(), row_limit(query), |&a, &b| {
        let (a, b) = (&rows[a], &rows[b]);
        b.num_flows
            .cmp(&a.num_flows)
            .then(b.pending_num_flows.cmp(&a.pending_num_flows))
            .then_with(|| a.key.cmp(&b.key))
    });
    let mut slots: Vec<Option<AggregateRow>> = rows.into_iter().map(Some).collect();
    let mut out: Vec<AggregateRow> = order.into_iter().filter_map(|i| slots[i].take()).collect();
    set_rates(&mut out, window_seconds);
    out
}

#[cfg(test)]
mod tests {
    use super::ranked;
    use crate::query::parallel::{SPLIT_AT_LEAST, map_on_all_cores};
    use proptest::prelude::*;

    /// Past the size where sorting and mapping are split over cores, the result is still that
    /// of one full sort, and mapped items keep their order.
    #[test]
    fn work_split_over_cores_is_that_of_one_thread() {
        for len in [SPLIT_AT_LEAST, 50_001] {
            // Few distinct values, so that most comparisons are ties broken by position.
            let values: Vec<u64> = (0..len as u64).map(|i| i * 7919 % 13).collect();
            let cmp = |a: &usize, b: &usize| values[*b].cmp(&values[*a]).then(a.cmp(b));
            let mut all: Vec<usize> = (0..len).collect();
            all.sort_by(cmp);
            for limit in [0, 1, len / 3, len, len + 5] {
                let mut want = all.clone();
                want.truncate(limit);
                assert_eq!(ranked(len, limit, cmp), want, "{len} {limit}");
            }
            let doubled = map_on_all_cores(&all, |&i| Ok(2 * i)).unwrap();
            assert_eq!(doubled, all.iter().map(|i| 2 * i).collect::<Vec<_>>());
            let failed = map_on_all_cores(&all, |&i| match i {
                7 => Err(crate::error::StoreError::invalid("seven")),
                _ => Ok(i),
            });
            assert!(failed.is_err());
        }
    }

    proptest! {
        /// Selecting then sorting gives the first rows of a full sort, for any limit.
        #[test]
        fn ranked_is_the_head_of_a_full_sort(
            values in proptest::collection::vec(0u8..8, 0..200),
            limit in 0usize..220,
        ) {
            let cmp = |a: &usize, b: &usize| values[*b].cmp(&values[*a]).then(a.cmp(b));
            let mut all: Vec<usize> = (0..values.len()).collect();
            all.sort_by(cmp);
            all.truncate(limit);
            prop_assert_eq!(ranked(values.len(), limit, cmp), all);
        }
    }
}
