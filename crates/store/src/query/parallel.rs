//! Work spread over every core: a scan's partitions folded or grouped on tasks of their own,
//! and sorting and mapping large slices one chunk per core.

use crate::error::{Result, StoreError};
use crate::summaries::hash_grouping::Groups;
use datafusion::arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use std::cmp::Ordering;

/// Below this many items work is not split over cores: starting threads would cost more.
pub(crate) const SPLIT_AT_LEAST: usize = 16_384;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `order` sorted by `cmp`: each core sorts one chunk and the sorted chunks are merged.
pub(crate) fn sort_on_all_cores(
    mut order: Vec<usize>,
    cmp: impl Fn(&usize, &usize) -> Ordering + Sync,
) -> Vec<usize> {
    let cores = cores();
    if cores < 2 || order.len() < SPLIT_AT_LEAST {
        order.sort_unstable_by(cmp);
        return order;
    }
    let chunk = order.len().div_ceil(cores);
    std::thread::scope(|s| {
        for part in order.chunks_mut(chunk) {
            let cmp = &cmp;
            s.spawn(move || part.sort_unstable_by(cmp));
        }
    });
    // Merges the sorted chunks pairwise until one is left.
    let mut runs: Vec<Vec<usize>> = order.chunks(chunk).map(<[usize]>::to_vec).collect();
    while runs.len() > 1 {
        let mut merged = Vec::with_capacity(runs.len().div_ceil(2));
        let mut pairs = runs.into_iter();
        while let Some(a) = pairs.next() {
            merged.push(match pairs.next() {
                Some(b) => merge_sorted(&a, &b, &cmp),
                None => a,
            });
        }
        runs = merged;
    }
    runs.pop().unwrap_or_default()
}

/// Two sorted runs as one, ties taken from `a` first.
fn merge_sorted(a: &[usize], b: &[usize], cmp: impl Fn(&usize, &usize) -> Ordering) -> Vec<usize> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if cmp(&b[j], &a[i]).is_lt() {
            out.push(b[j]);
            j += 1;
        } else {
            out.push(a[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// `f` over `items`, in order, one chunk per core.
pub(crate) fn map_on_all_cores<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let cores = cores();
    if cores < 2 || items.len() < SPLIT_AT_LEAST {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(cores);
    let parts: Vec<Result<Vec<R>>> = std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Result<Vec<R>>>()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(StoreError::Task("a grouping thread panicked".into())))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}
/// A task grouping one part of a scan.
pub(crate) type GroupingTask<const N: usize> = tokio::task::JoinHandle<Result<Groups<N>>>;

/// Groups each of `streams` on a task of its own, `add` adding each batch to its groups.
pub(crate) fn group_streams<const N: usize, F>(
    streams: Vec<SendableRecordBatchStream>,
    add: F,
) -> Vec<GroupingTask<N>>
where
    F: Fn(&mut Groups<N>, &RecordBatch) -> Result<()> + Clone + Send + 'static,
{
    streams
        .into_iter()
        .map(|mut stream| {
            let add = add.clone();
            tokio::spawn(async move {
                let mut groups = Groups::default();
                while let Some(batch) = stream.next().await {
                    add(&mut groups, &batch?)?;
                }
                Ok(groups)
            })
        })
        .collect()
}

/// Aborts tasks when dropped. A query's scans run on tasks of their own; when the query is
/// dropped (its request timed out, its client went away) they stop instead of running on.
/// Aborting a finished task does nothing.
pub(crate) struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

impl AbortOnDrop {
    pub(crate) fn tasks<T>(tasks: &[tokio::task::JoinHandle<T>]) -> AbortOnDrop {
        AbortOnDrop(tasks.iter().map(|t| t.abort_handle()).collect())
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// The groups of every task, merged.
pub(crate) async fn merged<const N: usize>(tasks: Vec<GroupingTask<N>>) -> Result<Groups<N>> {
    let _abort = AbortOnDrop::tasks(&tasks);
    let mut all = Groups::default();
    for task in tasks {
        all.merge(task.await.map_err(|e| StoreError::Task(e.to_string()))??);
    }
    Ok(all)
}

/// Each partition of `df`'s scan folded on a task of its own: `init` makes a partition's
/// accumulator, `add` adds each batch to it. Returns the accumulators of every partition.
pub(crate) async fn fold_partitions<T, I, A>(df: DataFrame, init: I, add: A) -> Result<Vec<T>>
where
    T: Send + 'static,
    I: Fn() -> T,
    A: Fn(&RecordBatch, &mut T) -> Result<()> + Clone + Send + 'static,
{
    let tasks: Vec<_> = df
        .execute_stream_partitioned()
        .await?
        .into_iter()
        .map(|mut stream| {
            let (add, mut acc) = (add.clone(), init());
            tokio::spawn(async move {
                while let Some(batch) = stream.next().await {
                    add(&batch?, &mut acc)?;
                }
                Ok::<_, StoreError>(acc)
            })
        })
        .collect();
    let _abort = AbortOnDrop::tasks(&tasks);
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.map_err(|e| StoreError::Task(e.to_string()))??);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn a_dropped_query_stops_its_tasks() {
        let finished = Arc::new(AtomicBool::new(false));
        let task: GroupingTask<1> = {
            let finished = finished.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                finished.store(true, Ordering::SeqCst);
                Ok(Groups::default())
            })
        };
        // The caller gives up, as a request that times out does.
        let query = merged(vec![task]);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), query)
                .await
                .is_err()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!finished.load(Ordering::SeqCst), "the task ran on");
    }
}
