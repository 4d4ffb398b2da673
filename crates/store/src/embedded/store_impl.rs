//! The [`Store`] trait answered by the embedded store: appends go to the write path, queries
//! read a snapshot of the files and the buffer.

use crate::EmbeddedStore;
use crate::error::Result;
use crate::fsutil::lock;
use crate::query::flow_page::flow_page;
use crate::query::from_rollups::Scan;
use crate::query::policy_metrics::metrics;
use crate::query::policy_sums::policy_rows;
use crate::query::ranking::window_seconds;
use crate::records::encode::FlowBatch;
use crate::store::Store;
use crate::types::{
    AggregateRow, AppendReceipt, FlowPage, FlowSearch, GroupBy, PolicyMetrics, ReadMark,
    StoreStats, TimeRange,
};
use crate::write::buffer;
use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::SQLOptions;
use flowlens_model::FlowTuple;

impl EmbeddedStore {
    fn scan(&self) -> Scan<'_> {
        Scan {
            tables: &self.tables,
            rollups: self.inner.options.rollups,
        }
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn append_batch(&self, batch: FlowBatch) -> Result<AppendReceipt> {
        buffer::append(&self.inner, batch, false).await
    }

    async fn query_flows(&self, query: &FlowSearch) -> Result<FlowPage> {
        let snap = self.inner.snapshot(&query.time);
        flow_page(self.tables.frame(&snap)?, query).await
    }

    async fn aggregate(&self, query: &FlowSearch, group_by: GroupBy) -> Result<Vec<AggregateRow>> {
        let window = window_seconds(&query.time, self.inner.time_bounds());
        let snap = self.inner.snapshot(&query.time);
        if !group_by.is_policy() {
            return self.scan().groups(&snap, query, group_by, window).await;
        }
        let known_ids = lock(&self.inner.hits).len();
        let sums = self.scan().hit_sums(&snap, query, known_ids).await?;
        let hits = lock(&self.inner.hits);
        policy_rows(&sums, &hits, query, group_by, window)
    }

    async fn policy_metrics(&self, query: &FlowSearch) -> Result<Vec<PolicyMetrics>> {
        let snap = self.inner.snapshot(&query.time);
        let known_ids = lock(&self.inner.hits).len();
        let sums = self.scan().reporter_sums(&snap, query, known_ids).await?;
        let hits = lock(&self.inner.hits);
        metrics(&sums, &hits)
    }

    async fn flow_tuples(&self, query: &FlowSearch, source_ports: bool) -> Result<Vec<FlowTuple>> {
        let snap = self.inner.snapshot(&query.time);
        self.scan().tuples(&snap, query, source_ports).await
    }

    async fn time_bounds(&self) -> Result<Option<(i64, i64)>> {
        Ok(self.inner.time_bounds())
    }

    async fn read_marks(&self) -> Result<Vec<ReadMark>> {
        Ok(EmbeddedStore::read_marks(self))
    }

    async fn stats(&self) -> Result<StoreStats> {
        let st = lock(&self.inner.state);
        let buffered = st.buffered_rows() as u64;
        Ok(StoreStats {
            records: st.files.iter().map(|f| f.meta.rows).sum::<u64>() + buffered,
            buffered_records: buffered,
            files: st.files.len(),
            bytes_on_disk: st.files.iter().map(|f| f.meta.bytes).sum(),
            wal_bytes: st.wal_bytes,
            quarantined: st.quarantined.clone(),
            query_memory_bytes: Some(self.tables.memory_in_use() as u64),
        })
    }

    async fn flush(&self) -> Result<()> {
        buffer::flush(&self.inner).await
    }

    async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let snap = self.inner.snapshot(&TimeRange::all());
        let ctx = self.tables.sql_session(&snap)?;
        // Read-only: no DDL (CREATE EXTERNAL TABLE), DML (COPY … TO) or SET.
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        Ok(ctx.sql_with_options(sql, options).await?.collect().await?)
    }
}
