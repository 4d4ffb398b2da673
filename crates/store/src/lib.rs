//! Flow-log storage for Flowlens: durable, cheap on disk, fast to query.
//!
//! [`Store`] is what the rest of Flowlens talks to: append flow logs, page through them,
//! aggregate them (namespace pairs, service-graph edges, policies and rules), all with typed
//! queries ([`FlowQuery`]) rather than SQL text. [`EmbeddedStore`] implements it in a local
//! data directory: a write-ahead log (nothing acknowledged is lost on a crash), an in-memory
//! Arrow buffer (just-appended records are queryable at once), and ZSTD Parquet files sorted
//! by time (skipped by time range, compacted, expired by age or size), queried with
//! DataFusion. The files follow Calico's flow-log field names, so other tools (DuckDB, Spark)
//! read them as they are.
//!
//! Round trips are exact for flow logs as Flowlens makes them; two things are stored as text
//! the way Calico writes them and so come back only if they can: label keys must not contain
//! `=` (Kubernetes forbids it), and policy hits must survive their own string form
//! (`PolicyHit::parse(&hit.to_string()) == hit`, true of every hit the policy engine makes).
//!
//! ```no_run
//! # async fn demo(logs: Vec<flowlens_model::FlowLog>) -> flowlens_store::Result<()> {
//! use flowlens_store::{EmbeddedOptions, EmbeddedStore, FieldFilter, FlowQuery, Store, TimeRange};
//! let store = EmbeddedStore::open("/var/lib/flowlens", EmbeddedOptions::default())?;
//! store.append(logs).await?;
//! let page = store
//!     .query_flows(&FlowQuery::new(TimeRange::all()).filter(FieldFilter::parse("action=deny")?))
//!     .await?;
//! println!("{} denied flows", page.total);
//! # Ok(()) }
//! ```

mod bulk;
mod datafile;
mod decode;
mod embedded;
mod encode;
mod error;
mod exec;
mod files;
mod format;
mod fsutil;
mod grouping;
mod hitdict;
mod hits;
mod maintenance;
mod manifest;
mod parse;
mod plan;
mod query;
mod rolled_up;
mod rollup;
mod schema;
mod store;
#[cfg(test)]
mod testutil;
mod texts;
mod tuples;
mod udf;
mod wal;

pub use bulk::BulkLoad;
pub use decode::decode_flows;
pub use embedded::{EmbeddedOptions, EmbeddedStore, OpenReport};
pub use encode::{FlowBatch, FlowBatchBuilder, encode_flows};
pub use error::{Result, StoreError};
pub use format::FORMAT_VERSION;
pub use maintenance::{MaintenanceReport, RetentionPolicy};
pub use parse::parse_duration;
pub use query::{
    AggregateRow, AppendReceipt, CompactionReport, DEFAULT_LIMIT, FieldFilter, FilterOp, FlowPage,
    FlowQuery, GroupBy, GroupKey, MAX_AGGREGATE_ROWS, MAX_LIMIT, PolicyFilter, PolicyMetricRow,
    RetentionReport, SortKey, StoreStats, TimeRange,
};
pub use schema::{ColumnKind, ENFORCED_IDS, Field, PENDING_IDS, flow_schema, record_schema};
pub use store::{Store, policy_metrics_from_rules};
