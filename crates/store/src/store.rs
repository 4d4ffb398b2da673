//! The [`Store`] trait: what the rest of Flowlens asks of flow-log storage, whichever backend
//! (embedded Parquet here, ClickHouse later) answers.
//!
//! The trait is object-safe through `async_trait` (boxed futures), so servers hold an
//! `Arc<dyn Store>` and pick the backend at start-up.

use crate::error::{Result, StoreError};
use crate::records::encode::FlowBatch;
use crate::types::{
    AggregateRow, AppendReceipt, FlowPage, FlowSearch, GroupBy, PolicyMetrics, ReadMark, StoreStats,
};
use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use flowlens_model::{FlowLog, FlowTuple};

#[async_trait]
pub trait Store: Send + Sync {
    /// Stores `logs`. When this returns `Ok`, they survive a crash (`kill -9`, power loss
    /// with honest disks) and are visible to queries.
    async fn append(&self, logs: Vec<FlowLog>) -> Result<AppendReceipt> {
        self.append_batch(FlowBatch::from_logs(&logs)?).await
    }

    /// Stores flow logs already encoded (possibly on another thread), with the same promise
    /// as [`append`](Store::append).
    async fn append_batch(&self, batch: FlowBatch) -> Result<AppendReceipt>;

    /// One page of flow logs matching `query`, with the total count and a continuation.
    async fn query_flows(&self, query: &FlowSearch) -> Result<FlowPage>;

    /// Flows matching `query` grouped by `group_by`, largest `num_flows` first.
    async fn aggregate(&self, query: &FlowSearch, group_by: GroupBy) -> Result<Vec<AggregateRow>>;

    /// The Policy Board's numbers for the flows matching `query`: each policy's hit counts
    /// in all and per direction and rule (egress hits are those of `reporter=src` flow logs,
    /// ingress hits those of `reporter=dst` ones), ordered by tier, namespace, name and kind.
    /// `sort`, `limit` and paging of the query are ignored.
    async fn policy_metrics(&self, query: &FlowSearch) -> Result<Vec<PolicyMetrics>>;

    /// The flows matching `query` grouped into distinct tuples of everything policy
    /// evaluation looks at (both ends' ip, name, name_aggr, namespace, type and labels,
    /// proto, dest_port, reporter, action) with their flow-log and `num_flows` counts, in no
    /// particular order. The source port is part of the tuple only when `source_ports` is
    /// true. `sort`, `limit` and paging of the query are ignored.
    async fn flow_tuples(
        &self,
        _query: &FlowSearch,
        _source_ports: bool,
    ) -> Result<Vec<FlowTuple>> {
        Err(StoreError::NotSupported("flow tuples"))
    }

    /// The smallest and largest stored `end_time`, or `None` when empty.
    async fn time_bounds(&self) -> Result<Option<(i64, i64)>>;

    async fn stats(&self) -> Result<StoreStats>;

    /// How far each input is stored (see [`ReadMark`]): where reading it again resumes.
    /// Stores that keep no marks answer `NotSupported`.
    async fn read_marks(&self) -> Result<Vec<ReadMark>> {
        Err(StoreError::NotSupported("read marks"))
    }

    /// Moves buffered records to long-term storage (for the embedded store: Parquet).
    async fn flush(&self) -> Result<()>;

    /// Runs SQL over a table named `flows`. Only embedded stores offer this.
    async fn sql(&self, _sql: &str) -> Result<Vec<RecordBatch>> {
        Err(StoreError::NotSupported("SQL"))
    }
}
