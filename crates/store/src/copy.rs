//! Copying every flow log of one store into another (a data directory into ClickHouse when
//! one machine is outgrown, or back), through the [`Store`] trait alone.
//!
//! The source is read an hour of `end_time` at a time (both stores skip what lies outside
//! a time range cheaply), oldest first, in pages that continue after the last row read.
//! Each batch is appended to the destination with a [`ReadMark`] naming the source and
//! saying how far the copy is (the hour, and the flow logs of it copied), so the position
//! is durable exactly when the batch is. A copy that stopped (killed, a network error)
//! resumes after the last batch stored, and running it again once it finished copies
//! nothing.

use crate::error::{Result, StoreError};
use crate::records::encode::FlowBatch;
use crate::store::Store;
use crate::types::{FlowSearch, MAX_LIMIT, ReadMark, SortKey, TimeRange};
use flowlens_model::FlowField;
use std::ops::ControlFlow;

/// What to copy and how.
#[derive(Clone, Debug)]
pub struct CopyOptions {
    /// Names the source in the destination's read marks (the same source must be given the
    /// same name for a copy to resume: a data directory's absolute path, or a ClickHouse
    /// address without its password).
    pub source: String,
    /// Tells one source from another that took its name (a directory's device and inode):
    /// a mark of another identity does not count, and the copy starts afresh.
    pub identity: (u64, u64),
    /// Flow logs per page read and batch written (at most [`MAX_LIMIT`]).
    pub batch: usize,
}

/// Where a copy stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyProgress {
    /// Flow logs of the source in the destination, from earlier runs and this one.
    pub copied: u64,
    /// Of these, copied by this run.
    pub this_run: u64,
    /// Flow logs the source holds.
    pub total: u64,
}

/// The prefix of a copy's read marks.
const MARK_PREFIX: &str = "store-copy:";

/// The span of `end_time` read at once, in seconds.
const WINDOW: i64 = 3_600;

/// Copies the flow logs of `from` that `to` does not hold from an earlier copy of the same
/// source, calling `progress` after each batch stored (`Break` stops the copy there, to be
/// resumed by the next call). The source must not be written to
/// while it is copied: a flow log arriving in an hour already copied would be missed, or
/// shift a resumed copy's position.
pub async fn copy_flows(
    from: &dyn Store,
    to: &dyn Store,
    options: &CopyOptions,
    mut progress: impl FnMut(CopyProgress) -> ControlFlow<()>,
) -> Result<CopyProgress> {
    if options.batch == 0 || options.batch > MAX_LIMIT {
        return Err(StoreError::invalid(format!(
            "a batch is 1 to {MAX_LIMIT} flow logs"
        )));
    }
    let count = |range: TimeRange| async move {
        let page = from.query_flows(&FlowSearch::new(range).limit(1)).await?;
        Ok::<u64, StoreError>(page.total)
    };
    let Some((oldest, newest)) = from.time_bounds().await? else {
        return Ok(CopyProgress::default());
    };
    let input = format!("{MARK_PREFIX}{}", options.source);
    // The mark says which hour the copy was in (`offset`) and how many of its flow logs
    // are stored (`lines`).
    let resume = to
        .read_marks()
        .await?
        .into_iter()
        .find(|m| m.input == input && (m.device, m.inode) == options.identity)
        .map(|m| (m.offset as i64, m.lines));
    let (mut hour, mut skip) = resume.unwrap_or((oldest.div_euclid(WINDOW) * WINDOW, 0));
    let mut state = CopyProgress {
        copied: count(TimeRange::new(i64::MIN, hour)).await? + skip,
        this_run: 0,
        total: count(TimeRange::all()).await?,
    };
    while hour <= newest {
        let mut search = FlowSearch::new(TimeRange::new(hour, hour + WINDOW))
            .sorted_by(SortKey::asc(FlowField::EndTime))
            .limit(options.batch);
        search.offset = usize::try_from(skip).unwrap_or(usize::MAX);
        let mut in_hour = skip;
        loop {
            let page = from.query_flows(&search).await?;
            if page.flows.is_empty() {
                break;
            }
            let n = page.flows.len() as u64;
            in_hour += n;
            let mut batch = FlowBatch::from_logs(&page.flows)?;
            batch.mark(ReadMark {
                input: input.clone(),
                device: options.identity.0,
                inode: options.identity.1,
                // The hour's bits as they are: read back with `as i64`.
                offset: hour as u64,
                lines: in_hour,
            });
            to.append_batch(batch).await?;
            state.copied += n;
            state.this_run += n;
            if progress(state).is_break() {
                to.flush().await?;
                return Ok(state);
            }
            match page.next_page_token {
                Some(token) => {
                    search.page_token = Some(token);
                    search.offset = 0;
                }
                None => break,
            }
        }
        hour += WINDOW;
        skip = 0;
    }
    to.flush().await?;
    Ok(state)
}
