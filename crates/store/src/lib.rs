//! Flow-log storage for Flowlens: durable, cheap on disk, fast to query.
//!
//! [`Store`] is what the rest of Flowlens talks to: append flow logs, page through them,
//! aggregate them (namespace pairs, service-graph edges, policies and rules), all with typed
//! queries ([`FlowSearch`]) rather than SQL text. [`EmbeddedStore`] implements it in a local
//! data directory: a write-ahead log (nothing acknowledged is lost on a crash), an in-memory
//! Arrow buffer (just-appended records are queryable at once), and ZSTD Parquet files sorted
//! by time (skipped by time range, compacted, expired by age or size), queried with
//! DataFusion. The files follow Calico's flow-log field names ([`FlowField`](flowlens_model::FlowField)
//! gives them; the nested policy traces are the columns `policies_enforced` and
//! `policies_pending`), so other tools (DuckDB, Spark) read them as they are.
//!
//! Round trips are exact for flow logs as Flowlens makes them; two things are stored as text
//! the way Calico writes them and so come back only if they can: label keys must not contain
//! `=` (Kubernetes forbids it), and policy hits must survive their own string form
//! (`PolicyHit::parse(&hit.to_string()) == hit`, true of every hit the policy engine makes).
//!
//! ```no_run
//! # async fn demo(logs: Vec<flowlens_model::FlowLog>) -> flowlens_store::Result<()> {
//! use flowlens_store::{EmbeddedOptions, EmbeddedStore, FieldFilter, FlowSearch, Store, TimeRange};
//! let store = EmbeddedStore::open("/var/lib/flowlens", EmbeddedOptions::default())?;
//! store.append(logs).await?;
//! let page = store
//!     .query_flows(&FlowSearch::new(TimeRange::all()).filter(FieldFilter::parse("action=deny")?))
//!     .await?;
//! println!("{} denied flows", page.total);
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! The modules form layers; each uses only those in the rows above its own:
//!
//! | modules | job |
//! |---|---|
//! | `error`, `fsutil`, `schema`, `types`, `parse` | the error; durable file steps; the stored columns; typed queries and answers, and their text forms |
//! | `records` | flow logs ↔ Arrow record batches |
//! | `summaries` | sums and groupings over batches (hit sums, distinct tuples, traffic sums, hash grouping), alike for rollups and queries |
//! | `files` (but compaction and retention), `write::wal` | on disk: `FORMAT`, manifest, Parquet data files, rollup files, the hit dictionary; the write-ahead log |
//! | `state` | what an open store shares between its writers, its maintenance and its queries |
//! | `write`, `files::compaction`, `files::retention` | appends, flushes, bulk loads; merging files, dropping old data |
//! | `query` | DataFusion tables of a snapshot, query planning, flow pages, groupings, policy numbers, tuples, answers from rollups |
//! | `embedded` | opening and repairing a directory, the [`Store`] implementation, maintenance passes |
//! | `copy` | copying one store's flow logs into another, resumably, through [`Store`] alone |
//! | `periodic` | the loop background upkeep runs in (this store's maintenance, ClickHouse's retention) |

mod copy;
mod embedded;
mod error;
mod files;
mod fsutil;
mod parse;
mod periodic;
mod query;
mod records;
mod schema;
mod state;
mod store;
mod summaries;
#[cfg(any(test, feature = "testutil"))]
pub mod testutil;
mod types;
mod write;

pub use copy::{CopyOptions, CopyProgress, copy_flows};
pub use embedded::maintenance::MaintenanceReport;
pub use embedded::{EmbeddedStore, OpenReport};
pub use error::{Result, StoreError};
pub use files::format::FORMAT_VERSION;
pub use files::retention::RetentionPolicy;
pub use parse::{ABSENT, FILTER_OPERATORS, IN_LIST_PREFIX, parse_duration};
pub use periodic::spawn_periodic;
pub use query::plan::MAX_FILTERS;
pub use records::decode::decode_flows;
pub use records::encode::{FlowBatch, FlowBatchBuilder, encode_flows};
pub use schema::{ENFORCED_IDS, PENDING_IDS, flow_schema, record_schema};
pub use state::{DEFAULT_QUERY_MEMORY, EmbeddedOptions};
pub use store::Store;
pub use types::{
    AggregateRow, AppendReceipt, CompactionReport, DEFAULT_LIMIT, FieldFilter, FilterOp, FlowPage,
    FlowSearch, GroupBy, GroupKey, HitCounts, MAX_AGGREGATE_ROWS, MAX_LIMIT, PolicyFilter,
    PolicyMetrics, ReadMark, RetentionReport, SortKey, StoreStats, TimeRange,
};
pub use write::bulk::BulkLoad;

/// Entry points for the fuzz targets (`fuzz/harness/`), not an API.
#[doc(hidden)]
pub mod fuzzing {
    /// Reads arbitrary bytes as a WAL segment, as replay does; returns the frames found.
    pub fn wal_segment(bytes: &[u8]) -> usize {
        let Ok(scan) = crate::write::wal::scan_segment(bytes) else {
            return 0;
        };
        for (at, len, _) in &scan.skipped {
            assert!(
                *len > 0 && at + len <= bytes.len(),
                "skipped range inside the input"
            );
        }
        scan.frames.len()
    }
}
