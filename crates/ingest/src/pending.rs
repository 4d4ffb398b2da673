//! Flow logs gathered between appends, and when to hand them to the sink.

use crate::error::{IngestError, Result};
use crate::sink::{Rows, Sink};
use flowlens_model::FlowLog;
use flowlens_store::{FlowBatch, ReadMark};
use std::time::{Duration, Instant};

/// Live input is appended in batches of this size, or every second when slower, so that
/// what arrives is stored within about a second. Raw records' flow logs are encoded in
/// batches of this size too.
pub(crate) const STREAM_BATCH: usize = 50_000;
/// Input read to its end is handed over in batches of this size: large enough that
/// encoding each on every core pays, small enough that little is held in memory.
pub(crate) const BULK_BATCH: usize = 64 * 1024;
/// How long live input waits for a batch to fill.
pub(crate) const STREAM_WAIT: Duration = Duration::from_secs(1);

/// Rows read but not yet handed to the sink.
pub(crate) struct Pending {
    rows: Rows,
    /// An append starts once this many rows are pending…
    rows_per_append: usize,
    /// … or this long after the last one.
    max_wait: Option<Duration>,
    last_append: Option<Instant>,
}

impl Pending {
    /// Batching for a run whose sources all read to an end, or for a live one.
    pub fn new(read_to_end: bool) -> Pending {
        let (rows_per_append, max_wait) = if read_to_end {
            (BULK_BATCH, None)
        } else {
            (STREAM_BATCH, Some(STREAM_WAIT))
        };
        Pending {
            rows: Rows::default(),
            rows_per_append,
            max_wait,
            last_append: None,
        }
    }

    pub fn add_encoded(&mut self, batch: FlowBatch) {
        self.rows.encoded.extend(batch);
    }

    /// How far an input is stored once what is pending is.
    pub fn mark(&mut self, mark: ReadMark) {
        self.rows.encoded.mark(mark);
    }

    pub fn add_logs(&mut self, logs: Vec<FlowLog>) {
        if self.rows.logs.is_empty() {
            self.rows.logs = logs;
        } else {
            self.rows.logs.extend(logs);
        }
    }

    /// Starts an append once enough has gathered or `max_wait` after the last one.
    pub fn append_if_due(&mut self, sink: &mut dyn Sink) -> Result<()> {
        if self.rows.logs.len() >= STREAM_BATCH && sink.takes_encoded() {
            let logs = std::mem::take(&mut self.rows.logs);
            let batch = FlowBatch::from_logs(&logs).map_err(IngestError::Encode)?;
            self.rows.encoded.extend(batch);
        }
        let last = *self.last_append.get_or_insert_with(Instant::now);
        let waited = self.max_wait.is_some_and(|wait| last.elapsed() >= wait);
        if self.rows.len() >= self.rows_per_append || waited {
            self.append(sink)?;
        }
        Ok(())
    }

    /// Hands everything pending to the sink.
    pub fn append(&mut self, sink: &mut dyn Sink) -> Result<()> {
        self.last_append = Some(Instant::now());
        if self.rows.is_empty() {
            return Ok(());
        }
        sink.append(std::mem::take(&mut self.rows))
    }
}
