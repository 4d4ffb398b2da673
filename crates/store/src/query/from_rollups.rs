//! Queries answered partly from rollups (`files/rollups.rs`): when nothing the rollups lack
//! narrows a query (for policy sums, the Board's and tuples: nothing but time; for the traffic groupings:
//! filters on the rollup's key columns only, such as counting each connection once), a
//! snapshot is split into the whole hours of its range, read from the rollups of the files
//! that have them, and what is left (partial hours at either end, files without rollups, the
//! buffer), read row by row. A rollup that cannot be read makes the query read the rows
//! instead.

use crate::error::Result;
use crate::error::StoreError;
use crate::files::manifest::FileMeta;
use crate::files::rollups::{self, Buckets, EDGE, EDGE_SCHEMA};
use crate::query::groupings::{group_rows, ranked_rows};
use crate::query::plan::row_filter;
use crate::query::policy_metrics::sums_per_reporter;
use crate::query::policy_sums::sums_per_hit_id;
use crate::query::table::Tables;
use crate::query::tuples::{RolledUp, flow_tuples};
use crate::schema::with_views;
use crate::state::{DataFile, Snapshot, blocking};
use crate::summaries::hit_sums::{IdSums, add_sums};
use crate::summaries::reporter_sums::{ReporterSums, add_reporter_totals};
use crate::summaries::traffic::{GROUP_SUMS, ROLLUP_KEY, SUM_COLUMNS, TrafficGroups, sum_into};
use crate::types::{AggregateRow, FlowSearch, GroupBy, TimeRange};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{SchemaRef, UInt32Type, UInt64Type};
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::Expr;
use flowlens_model::{FlowField, FlowTuple};
use std::path::Path;
use std::sync::{Arc, LazyLock};

/// A snapshot split for a query that rollups can partly answer.
struct Split {
    /// The whole buckets of the range.
    buckets: Buckets,
    /// Files whose rollups answer for `buckets`.
    rolled: Vec<Arc<DataFile>>,
    /// What is left to read row by row: the other files and the buffer over the whole
    /// range, the rolled-up files over the range's partial buckets at either end.
    rows: Vec<Snapshot>,
}

/// How a query reads a snapshot: through these tables, and from rollups unless they are
/// turned off.
pub(crate) struct Scan<'a> {
    pub tables: &'a Tables,
    pub rollups: bool,
}

impl Scan<'_> {
    /// Splits `snap` when rollups can answer part of a query: its range covers whole buckets,
    /// and files in those buckets have the rollups `has` asks for. (Whether the query's
    /// filters can be answered from them is the caller's to decide.)
    fn split(&self, snap: &Snapshot, has: fn(&FileMeta) -> bool) -> Result<Option<Split>> {
        if !self.rollups {
            return Ok(None);
        }
        let Some(buckets) = Buckets::within(&snap.range) else {
            return Ok(None);
        };
        let span = buckets.span();
        let (rolled, others): (Vec<Arc<DataFile>>, Vec<Arc<DataFile>>) = snap
            .files
            .iter()
            .cloned()
            .partition(|f| has(&f.meta) && span.overlaps(f.meta.min_time, f.meta.max_time));
        if rolled.is_empty() {
            return Ok(None);
        }
        let mut rows = vec![Snapshot {
            range: snap.range,
            files: others,
            batches: snap.batches.clone(),
        }];
        for range in [
            TimeRange::new(snap.range.from, span.from),
            TimeRange::new(span.to, snap.range.to),
        ] {
            let files: Vec<Arc<DataFile>> = rolled
                .iter()
                .filter(|f| {
                    range.from < range.to && range.overlaps(f.meta.min_time, f.meta.max_time)
                })
                .cloned()
                .collect();
            if !files.is_empty() {
                rows.push(Snapshot {
                    range,
                    files,
                    batches: Vec::new(),
                });
            }
        }
        Ok(Some(Split {
            buckets,
            rolled,
            rows,
        }))
    }

    fn split_parts(&self, split: &Split, text_as_views: bool) -> Result<Vec<DataFrame>> {
        let mut parts = Vec::new();
        for snap in &split.rows {
            parts.extend(self.tables.frame_parts(snap, text_as_views)?);
        }
        Ok(parts)
    }

    /// Sums per hit id of the flows in `snap` matching `query`, from rollups where they can
    /// answer (falling back to the rows if reading them fails).
    pub(crate) async fn hit_sums(
        &self,
        snap: &Snapshot,
        query: &FlowSearch,
        known_ids: usize,
    ) -> Result<Vec<IdSums>> {
        self.time_only_sums(
            snap,
            query,
            |m| m.rollups,
            move || vec![IdSums::default(); known_ids],
            rollups::add_hits,
            |df| sums_per_hit_id(df, query, known_ids),
            |total, rows| add_sums(total, rows),
        )
        .await
    }

    /// Per-reporter sums per hit id of the flows in `snap` matching `query` (the Policy
    /// Board's), from rollups where they can answer (falling back to the rows if reading
    /// them fails).
    pub(crate) async fn reporter_sums(
        &self,
        snap: &Snapshot,
        query: &FlowSearch,
        known_ids: usize,
    ) -> Result<ReporterSums> {
        self.time_only_sums(
            snap,
            query,
            |m| m.rollups && m.rollup_version >= rollups::REPORTERS_SINCE,
            ReporterSums::default,
            rollups::add_reporters,
            |df| sums_per_reporter(df, query, known_ids),
            add_reporter_totals,
        )
        .await
    }

    /// Sums of the flows in `snap` matching `query`, when time alone narrows it: the whole
    /// hours of the files `has` accepts read from their rollups by `read` (into `init()`),
    /// the rest summed from rows by `scan`, the two added by `add`. The rows alone when
    /// rollups cannot answer, or reading them fails.
    #[allow(clippy::too_many_arguments)]
    async fn time_only_sums<T, Rows>(
        &self,
        snap: &Snapshot,
        query: &FlowSearch,
        has: fn(&FileMeta) -> bool,
        init: impl FnOnce() -> T + Send + 'static,
        read: fn(&Path, &str, Buckets, &mut T) -> Result<()>,
        scan: impl Fn(DataFrame) -> Rows,
        add: fn(&mut T, &T),
    ) -> Result<T>
    where
        T: Send + 'static,
        Rows: Future<Output = Result<T>>,
    {
        if row_filter(query)?.is_none()
            && let Some(split) = self.split(snap, has)?
        {
            let rolled = split.rolled.clone();
            let buckets = split.buckets;
            let from_rollups = blocking(move || {
                let mut sums = init();
                for f in &rolled {
                    read(&f.rollup_dir, &f.meta.name, buckets, &mut sums)?;
                }
                Ok(sums)
            });
            let from_rows =
                async { scan(self.tables.union(self.split_parts(&split, false)?)?).await };
            match futures::try_join!(from_rollups, from_rows) {
                Ok((mut sums, rows)) => {
                    add(&mut sums, &rows);
                    return Ok(sums);
                }
                Err(e) => tracing::warn!("answering from rollups failed ({e}); scanning rows"),
            }
        }
        scan(self.tables.frame(snap)?).await
    }

    /// The distinct tuples of the flows in `snap` matching `query`, from rollups where they
    /// can answer (rollups keep no source ports).
    pub(crate) async fn tuples(
        &self,
        snap: &Snapshot,
        query: &FlowSearch,
        source_ports: bool,
    ) -> Result<Vec<FlowTuple>> {
        if !source_ports
            && row_filter(query)?.is_none()
            && let Some(split) = self.split(snap, |m| m.tuple_rollup)?
        {
            let rolled = RolledUp {
                files: split
                    .rolled
                    .iter()
                    .map(|f| (f.rollup_dir.clone(), f.meta.name.clone()))
                    .collect(),
                buckets: split.buckets,
            };
            let parts = self.split_parts(&split, true)?;
            match flow_tuples(parts, Some(rolled), query, false).await {
                Ok(tuples) => return Ok(tuples),
                Err(e) => tracing::warn!("answering from rollups failed ({e}); scanning rows"),
            }
        }
        let parts = self.tables.frame_parts(snap, true)?;
        flow_tuples(parts, None, query, source_ports).await
    }

    /// The flows in `snap` matching `query` grouped by `group_by` (not a policy grouping),
    /// ranked; `window_seconds` is the span the rates are per. From the traffic rollups
    /// where they can answer.
    pub(crate) async fn groups(
        &self,
        snap: &Snapshot,
        query: &FlowSearch,
        group_by: GroupBy,
        window_seconds: f64,
    ) -> Result<Vec<AggregateRow>> {
        let fields = group_by.fields();
        let filter = row_filter(query)?;
        if filter.as_ref().is_none_or(reads_rollup_keys)
            && let Some(split) = self.split(snap, |m| m.traffic_rollup)?
        {
            match self.split_groups(&split, query, fields, filter).await {
                Ok(groups) => return ranked_rows(&groups, query, fields, window_seconds),
                Err(e) => tracing::warn!("answering from rollups failed ({e}); scanning rows"),
            }
        }
        let groups = group_rows(self.tables.frame(snap)?, query, fields).await?;
        ranked_rows(&groups, query, fields, window_seconds)
    }

    /// The groups of a split snapshot: its rolled-up hours' traffic groups that pass
    /// `filter`, summed by `fields`, with the groups of the rest of its rows.
    async fn split_groups(
        &self,
        split: &Split,
        query: &FlowSearch,
        fields: &'static [FlowField],
        filter: Option<Expr>,
    ) -> Result<TrafficGroups> {
        let read = async {
            let mut groups = TrafficGroups::default();
            for f in &split.rolled {
                self.add_rolled_up(f, split.buckets, fields, filter.as_ref(), &mut groups)
                    .await?;
            }
            Ok(groups)
        };
        let scan = async {
            let df = self.tables.union(self.split_parts(split, false)?)?;
            group_rows(df, query, fields).await
        };
        let (from_rollups, mut groups) = futures::try_join!(read, scan)?;
        groups.merge(from_rollups);
        Ok(groups)
    }

    /// Adds to `groups` the traffic of a file's rollups in `buckets`: its edges that pass
    /// `filter` are grouped by `fields` once, then each hour's sums are added to their
    /// edge's group by number.
    async fn add_rolled_up(
        &self,
        file: &DataFile,
        buckets: Buckets,
        fields: &'static [FlowField],
        filter: Option<&Expr>,
        groups: &mut TrafficGroups,
    ) -> Result<()> {
        static VIEWS: LazyLock<SchemaRef> = LazyLock::new(|| with_views(&EDGE_SCHEMA));
        let (dir, name) = (file.rollup_dir.clone(), file.meta.name.clone());
        let edges_path = rollups::edges_path(&dir, &name);
        let mut edges = self
            .tables
            .parquet_table(&[edges_path.as_path()], VIEWS.clone())?;
        if let Some(filter) = filter {
            edges = edges.filter(filter.clone())?;
        }
        let traffic = blocking(move || rollups::traffic(&dir, &name, buckets));
        let (edges, traffic) = futures::try_join!(async { Ok(edges.collect().await?) }, traffic)?;
        // Edge number → group (u32::MAX: filtered out). Edges enter the groups with nothing
        // summed: one that no hour of the range reached stays empty and is not returned.
        let mut group_of: Vec<u32> = Vec::new();
        for batch in &edges {
            let numbers = edge_numbers(batch, &edges_path)?;
            let in_groups = groups.add_batch_indexed(batch, fields, |_| [0; GROUP_SUMS])?;
            for (&edge, group) in numbers.iter().zip(in_groups) {
                let slot = edge as usize;
                if group_of.len() <= slot {
                    group_of.resize(slot + 1, u32::MAX);
                }
                group_of[slot] = group;
            }
        }
        let path = rollups::traffic_path(&file.rollup_dir, &file.meta.name);
        for batch in &traffic {
            let numbers = edge_numbers(batch, &path)?;
            let sums = SUM_COLUMNS
                .iter()
                .map(|n| {
                    batch
                        .column_by_name(n)
                        .and_then(|c| c.as_primitive_opt::<UInt64Type>())
                        .map(|c| c.values())
                        .ok_or_else(|| StoreError::corrupt(&path, format!("no {n} column")))
                })
                .collect::<Result<Vec<_>>>()?;
            for (row, &edge) in numbers.iter().enumerate() {
                let Some(&group) = group_of.get(edge as usize) else {
                    continue;
                };
                if group != u32::MAX {
                    let add: [u64; GROUP_SUMS] = std::array::from_fn(|k| sums[k][row]);
                    sum_into(&mut groups.groups[group as usize].sums, &add);
                }
            }
        }
        Ok(())
    }
}

/// Whether `filter` reads only columns a traffic rollup has, with their meaning there.
fn reads_rollup_keys(filter: &Expr) -> bool {
    filter
        .column_refs()
        .iter()
        .all(|c| ROLLUP_KEY.iter().any(|f| f.column() == c.name))
}

/// The edge numbers of a traffic rollup's rows.
fn edge_numbers<'a>(batch: &'a RecordBatch, path: &Path) -> Result<&'a [u32]> {
    batch
        .column_by_name(EDGE)
        .and_then(|c| c.as_primitive_opt::<UInt32Type>())
        .map(|c| c.values().as_ref())
        .ok_or_else(|| StoreError::corrupt(path, "no edge column"))
}
