//! Where the loop's flow logs go: the [`Store`] ([`StoreSink`]: through its write-ahead log,
//! or as a bulk load when every source reads to an end), or Calico flow log lines
//! ([`CalicoLines`], for `flowlens simulate --calico`).

use crate::error::{IngestError, Result};
use flowlens_model::{FlowLog, PolicyHitFormat};
use flowlens_store::{AppendReceipt, BulkLoad, EmbeddedStore, FlowBatch, Store, StoreError};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Rows to store, in order: rows already encoded (Calico flow log lines, encoded where they
/// were decoded), then flow logs made or received whole (raw records' aggregates, flow logs
/// pushed by a source).
#[derive(Default)]
pub struct Rows {
    pub encoded: FlowBatch,
    pub logs: Vec<FlowLog>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.encoded.len() + self.logs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the loop stores into. Calls come from the loop's thread, in order.
pub trait Sink: Send {
    /// Called once before the first append: whether every source of the run reads to an
    /// end ([`Pace::ReadToEnd`](crate::Pace::ReadToEnd)).
    fn start(&mut self, _read_to_end: bool) -> Result<()> {
        Ok(())
    }

    /// Whether gathered flow logs may be encoded before they are appended (so that a large
    /// append does not hold them all as [`FlowLog`]s). False for sinks that want the logs
    /// themselves.
    fn takes_encoded(&self) -> bool {
        true
    }

    /// Hands `rows` over, after those of earlier calls. The sink may store them in the
    /// background while the loop reads on.
    fn append(&mut self, rows: Rows) -> Result<()>;

    /// Waits until everything appended is stored.
    fn wait(&mut self) -> Result<()>;

    /// Waits, and makes what is stored durable and visible to queries (a bulk load's data
    /// file is finished).
    fn commit(&mut self) -> Result<()> {
        self.wait()
    }

    /// The end of the run: everything is stored, durable and flushed.
    fn finish(&mut self) -> Result<()>;
}

/// Told about every append a [`StoreSink`] completes: the server announces new flows to its
/// live views this way.
pub trait StoreObserver: Send + Sync {
    /// Whether [`stored`](StoreObserver::stored) should get the flow logs (someone watches).
    fn wants_logs(&self) -> bool;

    /// `receipt` is the append's; `logs` are its last rows, numbered from `first_record_id`
    /// (empty when [`wants_logs`](StoreObserver::wants_logs) was false or the rows were all
    /// encoded lines).
    fn stored(&self, receipt: &AppendReceipt, logs: Vec<FlowLog>, first_record_id: u64);
}

type Storing = JoinHandle<flowlens_store::Result<Option<BulkLoad>>>;

/// The store as a sink. Appends go through [`Store::append_batch`] (the write-ahead log:
/// durable once it returns), or, for an embedded store in a run whose sources all read to an
/// end, into a [`BulkLoad`]. One append is stored in the background while the loop decodes
/// the next rows; appends are stored in the order they were made.
pub struct StoreSink {
    store: Arc<dyn Store>,
    /// Set when the store can take bulk loads.
    embedded: Option<EmbeddedStore>,
    runtime: tokio::runtime::Handle,
    bulk: bool,
    /// The bulk load, when no append holds it.
    load: Option<BulkLoad>,
    storing: Option<Storing>,
    observer: Option<Arc<dyn StoreObserver>>,
    stored: Arc<AtomicU64>,
}

impl StoreSink {
    /// Appends to `store` through its write-ahead log. Store futures run on `runtime`; the
    /// loop must not run on one of its threads.
    pub fn new(store: Arc<dyn Store>, runtime: tokio::runtime::Handle) -> StoreSink {
        StoreSink {
            store,
            embedded: None,
            runtime,
            bulk: false,
            load: None,
            storing: None,
            observer: None,
            stored: Arc::new(AtomicU64::new(0)),
        }
    }

    /// An embedded store, which also takes bulk loads.
    pub fn embedded(store: EmbeddedStore, runtime: tokio::runtime::Handle) -> StoreSink {
        let mut sink = StoreSink::new(Arc::new(store.clone()), runtime);
        sink.embedded = Some(store);
        sink
    }

    /// Tells `observer` about every append.
    pub fn observed_by(mut self, observer: Arc<dyn StoreObserver>) -> StoreSink {
        self.observer = Some(observer);
        self
    }

    /// Rows stored so far, readable while the loop runs.
    pub fn stored_rows(&self) -> Arc<AtomicU64> {
        self.stored.clone()
    }
}

/// The first wait after a failed append; it doubles up to [`RETRY_LONGEST`], and the append
/// fails after [`RETRY_FOR`] in all.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_LONGEST: Duration = Duration::from_secs(30);
const RETRY_FOR: Duration = Duration::from_secs(600);

/// Appends `batch`, waiting out failures that pass (a full disk, a store that cannot flush
/// and refuses appends meanwhile) instead of stopping the loop for good. A failed append
/// stored nothing, so it is retried whole; the loop waits meanwhile and live sources' queues
/// fill up (and drop, counted).
async fn append_retrying(
    store: &dyn Store,
    batch: FlowBatch,
    first_wait: Duration,
) -> flowlens_store::Result<AppendReceipt> {
    let mut wait = first_wait;
    let mut waited = Duration::ZERO;
    loop {
        match store.append_batch(batch.clone()).await {
            Err(e) if passes(&e) && waited < RETRY_FOR => {
                tracing::warn!(
                    "storing {} rows failed, retrying in {wait:?}: {e}",
                    batch.len()
                );
                tokio::time::sleep(wait).await;
                waited += wait;
                wait = (wait * 2).min(RETRY_LONGEST);
            }
            result => return result,
        }
    }
}

/// Whether an append failed for a reason that may pass: I/O (a full disk) or a store behind
/// with its flushes. Bad rows fail for good.
fn passes(error: &StoreError) -> bool {
    matches!(error, StoreError::Io { .. } | StoreError::Overloaded { .. })
}

impl Sink for StoreSink {
    fn start(&mut self, read_to_end: bool) -> Result<()> {
        self.bulk = read_to_end && self.embedded.is_some();
        if self.bulk {
            self.load = self.embedded.as_ref().map(EmbeddedStore::bulk_load);
        }
        Ok(())
    }

    fn takes_encoded(&self) -> bool {
        self.observer.as_ref().is_none_or(|o| !o.wants_logs())
    }

    fn append(&mut self, rows: Rows) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let Rows { mut encoded, logs } = rows;
        let logs_from = encoded.len() as u64;
        if !logs.is_empty() {
            encoded.extend(FlowBatch::from_logs(&logs).map_err(IngestError::Encode)?);
        }
        let logs = match &self.observer {
            Some(o) if o.wants_logs() => logs,
            _ => Vec::new(),
        };
        let rows = encoded.len() as u64;
        // One append at a time, so that batches are stored in the order they were read.
        self.wait()?;
        let observer = self.observer.clone();
        let stored = self.stored.clone();
        let done = move |receipt: &AppendReceipt| {
            stored.fetch_add(rows, Ordering::Relaxed);
            if let Some(o) = observer {
                o.stored(receipt, logs, receipt.first_record_id + logs_from);
            }
        };
        self.storing = Some(match self.load.take() {
            Some(mut load) => self.runtime.spawn_blocking(move || {
                let receipt = load.append(encoded)?;
                done(&receipt);
                Ok(Some(load))
            }),
            None => {
                let store = self.store.clone();
                self.runtime.spawn(async move {
                    let receipt = append_retrying(store.as_ref(), encoded, RETRY_FIRST).await?;
                    done(&receipt);
                    Ok(None)
                })
            }
        });
        Ok(())
    }

    fn wait(&mut self) -> Result<()> {
        if let Some(task) = self.storing.take() {
            let load = self
                .runtime
                .block_on(task)
                .map_err(|e| IngestError::StoringStopped(e.to_string()))?
                .map_err(IngestError::Store)?;
            if load.is_some() {
                self.load = load;
            }
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.wait()?;
        if let Some(load) = self.load.take() {
            load.finish().map_err(IngestError::Store)?;
            self.load = self.embedded.as_ref().map(|s| s.bulk_load());
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.wait()?;
        if let Some(load) = self.load.take() {
            load.finish().map_err(IngestError::Store)?;
        }
        self.runtime
            .block_on(self.store.flush())
            .map_err(IngestError::Store)
    }
}

/// Writes flow logs as Calico flow log lines (one JSON document per line) instead of storing
/// them. Takes flow logs only: encoded rows (Calico lines read by the run) are refused.
pub struct CalicoLines<W: Write + Send> {
    out: W,
    format: PolicyHitFormat,
    written: u64,
}

impl<W: Write + Send> CalicoLines<W> {
    pub fn new(out: W, format: PolicyHitFormat) -> CalicoLines<W> {
        CalicoLines {
            out,
            format,
            written: 0,
        }
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

impl<W: Write + Send> Sink for CalicoLines<W> {
    fn takes_encoded(&self) -> bool {
        false
    }

    fn append(&mut self, rows: Rows) -> Result<()> {
        if !rows.encoded.is_empty() {
            return Err(IngestError::Write(std::io::Error::other(
                "Calico flow log lines read by the run cannot be written as lines again",
            )));
        }
        for log in &rows.logs {
            let line = flowlens_pipeline::encode::calico_json(log, self.format);
            writeln!(self.out, "{line}").map_err(IngestError::Write)?;
        }
        self.written += rows.logs.len() as u64;
        Ok(())
    }

    fn wait(&mut self) -> Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush().map_err(IngestError::Write)
    }
}

/// Forwards to a sink that is borrowed, so that the caller keeps it (and reads what it
/// counted) after the run.
impl<S: Sink + ?Sized> Sink for &mut S {
    fn start(&mut self, read_to_end: bool) -> Result<()> {
        (**self).start(read_to_end)
    }
    fn takes_encoded(&self) -> bool {
        (**self).takes_encoded()
    }
    fn append(&mut self, rows: Rows) -> Result<()> {
        (**self).append(rows)
    }
    fn wait(&mut self) -> Result<()> {
        (**self).wait()
    }
    fn commit(&mut self) -> Result<()> {
        (**self).commit()
    }
    fn finish(&mut self) -> Result<()> {
        (**self).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlens_store::{
        AggregateRow, FlowPage, FlowSearch, GroupBy, PolicyMetrics, Result as StoreResult,
        StoreStats,
    };
    use std::sync::Mutex;

    /// Refuses the first `refusals` appends as a store behind with its flushes would.
    struct Refusing {
        refusals: Mutex<usize>,
        stored: Mutex<Vec<usize>>,
    }

    #[async_trait::async_trait]
    impl Store for Refusing {
        async fn append_batch(&self, batch: FlowBatch) -> StoreResult<AppendReceipt> {
            let mut refusals = self.refusals.lock().unwrap();
            if *refusals > 0 {
                *refusals -= 1;
                return Err(StoreError::Overloaded {
                    buffered: 1,
                    reason: "no space left on device".into(),
                });
            }
            self.stored.lock().unwrap().push(batch.len());
            Ok(AppendReceipt {
                records: batch.len(),
                first_record_id: 0,
                sequence: 1,
            })
        }
        async fn query_flows(&self, _: &FlowSearch) -> StoreResult<FlowPage> {
            Err(StoreError::NotSupported("queries"))
        }
        async fn aggregate(&self, _: &FlowSearch, _: GroupBy) -> StoreResult<Vec<AggregateRow>> {
            Err(StoreError::NotSupported("queries"))
        }
        async fn policy_metrics(&self, _: &FlowSearch) -> StoreResult<Vec<PolicyMetrics>> {
            Err(StoreError::NotSupported("queries"))
        }
        async fn time_bounds(&self) -> StoreResult<Option<(i64, i64)>> {
            Ok(None)
        }
        async fn stats(&self) -> StoreResult<StoreStats> {
            Err(StoreError::NotSupported("stats"))
        }
        async fn flush(&self) -> StoreResult<()> {
            Ok(())
        }
    }

    fn batch(rows: usize) -> FlowBatch {
        let log = FlowLog {
            start_time: 1000,
            end_time: 1010,
            source: Default::default(),
            dest: Default::default(),
            dest_service: None,
            proto: flowlens_model::Protocol::Tcp,
            action: flowlens_model::Action::Allow,
            reporter: flowlens_model::Reporter::Src,
            enforced_policies: Vec::new(),
            pending_policies: Vec::new(),
            bytes_in: 1,
            bytes_out: 1,
            packets_in: 1,
            packets_out: 1,
            num_flows: 1,
            num_flows_started: 1,
            num_flows_completed: 0,
            process_name: None,
            process_id: None,
            host: None,
        };
        FlowBatch::from_logs(&vec![log; rows]).unwrap()
    }

    #[tokio::test]
    async fn an_append_refused_for_a_while_is_stored_once_when_the_store_takes_it() {
        let store = Refusing {
            refusals: Mutex::new(3),
            stored: Mutex::new(Vec::new()),
        };
        let receipt = append_retrying(&store, batch(7), Duration::from_millis(1))
            .await
            .unwrap();
        assert_eq!(receipt.records, 7);
        assert_eq!(*store.stored.lock().unwrap(), [7]);
    }

    #[tokio::test]
    async fn bad_rows_are_not_retried() {
        struct Rejecting;
        #[async_trait::async_trait]
        impl Store for Rejecting {
            async fn append_batch(&self, _: FlowBatch) -> StoreResult<AppendReceipt> {
                Err(StoreError::InvalidRecord("bad".into()))
            }
            async fn query_flows(&self, _: &FlowSearch) -> StoreResult<FlowPage> {
                unreachable!()
            }
            async fn aggregate(
                &self,
                _: &FlowSearch,
                _: GroupBy,
            ) -> StoreResult<Vec<AggregateRow>> {
                unreachable!()
            }
            async fn policy_metrics(&self, _: &FlowSearch) -> StoreResult<Vec<PolicyMetrics>> {
                unreachable!()
            }
            async fn time_bounds(&self) -> StoreResult<Option<(i64, i64)>> {
                unreachable!()
            }
            async fn stats(&self) -> StoreResult<StoreStats> {
                unreachable!()
            }
            async fn flush(&self) -> StoreResult<()> {
                unreachable!()
            }
        }
        let started = std::time::Instant::now();
        let result = append_retrying(&Rejecting, batch(1), Duration::from_secs(60)).await;
        assert!(matches!(result, Err(StoreError::InvalidRecord(_))));
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not waited for"
        );
    }
}
