//! A snapshot as DataFusion tables: its Parquet files and its buffered batches, the ones
//! lying wholly inside the query's time range read as they are, those at its edges filtered
//! on time (which also lets the engine skip their row groups and pages outside the range).
//! The common "last 24 hours" case then costs no per-row time comparison.

use crate::error::{Result, StoreError};
use crate::query::plan::{logical, time_filter};
use crate::query::udf::SelectorMatches;
use crate::schema::{flow_schema, flow_schema_with_views};
use crate::state::{Buffered, DataFile, Snapshot};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::MemTable;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use flowlens_model::FlowField;
use std::path::Path;
use std::sync::Arc;

/// The query engine's session (configuration, caches, functions), and the tables of
/// snapshots read through it.
pub(crate) struct Tables {
    ctx: SessionContext,
}

impl Tables {
    /// Tables read with operators that hold at most `query_memory` bytes at once over all
    /// queries (what they cannot spill to temporary files fails the query).
    pub fn new(query_memory: usize) -> Result<Tables> {
        let mut config = SessionConfig::new().with_information_schema(false);
        let parquet = &mut config.options_mut().execution.parquet;
        parquet.pushdown_filters = true;
        parquet.reorder_filters = true;
        // The UI's wide groupings reduce a partition's rows little (an hour of 417,000 rows
        // holds 170,000 name pairs), so a partial aggregation that keeps more than 30 % of the
        // rows (DataFusion's default: 80 %) is given up: it would only hash the rows twice.
        // Narrow groupings reduce far more and keep it (docs/benchmarks.md has the timings).
        config
            .options_mut()
            .execution
            .skip_partial_aggregation_probe_ratio_threshold = 0.3;
        // A sort sets this much aside to merge what it spilled (DataFusion: 10 MiB); a small
        // pool would refuse every sort for it, so it is kept to a share of the pool.
        config.options_mut().execution.sort_spill_reservation_bytes =
            (query_memory / 32).min(10 << 20);
        // Fair: each spilling operator of the queries running at once gets an even share.
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(query_memory)))
            .build_arc()?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        ctx.register_udf(SelectorMatches::udf());
        Ok(Tables { ctx })
    }

    /// Bytes the operators of the queries running now hold.
    pub fn memory_in_use(&self) -> usize {
        self.ctx.runtime_env().memory_pool.reserved()
    }

    /// The snapshot's rows in its time range as one table.
    pub fn frame(&self, snap: &Snapshot) -> Result<DataFrame> {
        self.union(self.frame_parts(snap, false)?)
    }

    /// Tables that together hold the data, as one.
    pub fn union(&self, parts: Vec<DataFrame>) -> Result<DataFrame> {
        let mut parts = parts.into_iter();
        match parts.next() {
            Some(first) => Ok(parts.try_fold(first, |all, df| all.union(df))?),
            None => self.memory_table(&[]),
        }
    }

    /// The snapshot's data as separate tables (files and buffered batches, each inside the
    /// range or at its edge, the latter filtered on time), for [`Self::frame`] to union or for
    /// scans that read each on its own. With `text_as_views`, the files' text columns are read
    /// as `Utf8View` (pointing into Parquet's dictionary pages instead of copying every
    /// string), for scans that consume the batches themselves; the tables' text columns then
    /// differ in layout and cannot be unioned.
    pub fn frame_parts(&self, snap: &Snapshot, text_as_views: bool) -> Result<Vec<DataFrame>> {
        let range = &snap.range;
        let inside = |min: i64, max: i64| range.contains(min) && range.contains(max);
        let (files_in, files_edge): (Vec<&Arc<DataFile>>, Vec<&Arc<DataFile>>) = snap
            .files
            .iter()
            .partition(|f| inside(f.meta.min_time, f.meta.max_time));
        let (mem_in, mem_edge): (Vec<&Buffered>, Vec<&Buffered>) = snap
            .batches
            .iter()
            .partition(|b| inside(b.min_time, b.max_time));
        let mut parts: Vec<DataFrame> = Vec::new();
        if !files_in.is_empty() {
            parts.push(self.files_table(&files_in, text_as_views)?);
        }
        if !mem_in.is_empty() {
            parts.push(self.memory_table(&mem_in)?);
        }
        let mut edge = Vec::new();
        if !files_edge.is_empty() {
            edge.push(self.files_table(&files_edge, text_as_views)?);
        }
        if !mem_edge.is_empty() {
            edge.push(self.memory_table(&mem_edge)?);
        }
        for df in edge {
            parts.push(match time_filter(range) {
                Some(predicate) => df.filter(predicate)?,
                None => df,
            });
        }
        Ok(parts)
    }

    /// The Parquet files as one table.
    fn files_table(&self, files: &[&Arc<DataFile>], text_as_views: bool) -> Result<DataFrame> {
        let paths: Vec<&Path> = files.iter().map(|f| f.path.as_path()).collect();
        let schema = if text_as_views {
            flow_schema_with_views()
        } else {
            flow_schema()
        };
        self.parquet_table(&paths, schema)
    }

    /// Parquet files of `schema` (data or rollup files) as one table.
    pub fn parquet_table(&self, paths: &[&Path], schema: SchemaRef) -> Result<DataFrame> {
        let urls = paths
            .iter()
            .map(|path| {
                let url = url::Url::from_file_path(path).map_err(|_| {
                    StoreError::invalid(format!("{} is not an absolute path", path.display()))
                })?;
                Ok(ListingTableUrl::try_new(url, None)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(schema);
        let table = ListingTable::try_new(config)?.with_cache(
            self.ctx
                .runtime_env()
                .cache_manager
                .get_file_statistic_cache(),
        );
        Ok(self.ctx.read_table(Arc::new(table))?)
    }

    fn memory_table(&self, batches: &[&Buffered]) -> Result<DataFrame> {
        // Two partitions, so both cores scan the buffer.
        let mut parts = vec![Vec::new(), Vec::new()];
        for (i, b) in batches.iter().enumerate() {
            parts[i % 2].push(b.batch.clone());
        }
        parts.retain(|p| !p.is_empty());
        if parts.is_empty() {
            parts.push(Vec::new());
        }
        let table = MemTable::try_new(flow_schema(), parts)?;
        Ok(self.ctx.read_table(Arc::new(table))?)
    }

    /// A session of its own (sharing configuration and caches) in which `flows` is the
    /// snapshot's rows as the flow logs had them, for SQL: concurrent calls each see their
    /// own `flows`.
    pub fn sql_session(&self, snap: &Snapshot) -> Result<SessionContext> {
        let table = with_pending_traces(self.frame(snap)?)?.into_view();
        let state = SessionStateBuilder::new()
            .with_config(self.ctx.copied_config())
            .with_runtime_env(self.ctx.runtime_env())
            .with_default_features()
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.register_udf(SelectorMatches::udf());
        ctx.register_table("flows", table)?;
        Ok(ctx)
    }
}

/// `table` with each row's whole pending trace: stored as null where it is the enforced one,
/// it reads as that there.
fn with_pending_traces(table: DataFrame) -> Result<DataFrame> {
    let pending = FlowField::PoliciesPending;
    Ok(table.with_column(pending.column(), logical(pending))?)
}
