//! Queries answered partly from rollups (`files/rollups.rs`): when nothing but time narrows a
//! query, a snapshot is split into the whole hours of its range, read from the rollups of the
//! files that have them, and what is left (partial hours at either end, files without
//! rollups, the buffer), read row by row. A rollup that cannot be read makes the query read
//! the rows instead.

use crate::error::Result;
use crate::files::manifest::FileMeta;
use crate::files::rollups::{self, Buckets};
use crate::query::plan::row_filter;
use crate::query::policy_sums::sums_per_hit_id;
use crate::query::table::Tables;
use crate::query::tuples::{RolledUp, flow_tuples};
use crate::state::{DataFile, Snapshot, blocking};
use crate::summaries::hit_sums::{IdSums, add_sums};
use crate::types::{FlowSearch, TimeRange};
use datafusion::dataframe::DataFrame;
use flowlens_model::FlowTuple;
use std::sync::Arc;

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
    /// Splits `snap` when rollups can answer part of `query`: nothing but time filters its
    /// rows, its range covers whole buckets, and files in those buckets have the rollups
    /// `has` asks for.
    fn split(
        &self,
        snap: &Snapshot,
        query: &FlowSearch,
        has: fn(&FileMeta) -> bool,
    ) -> Result<Option<Split>> {
        if !self.rollups || row_filter(query)?.is_some() {
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
        if let Some(split) = self.split(snap, query, |m| m.rollups)? {
            let rolled = split.rolled.clone();
            let buckets = split.buckets;
            let read = blocking(move || {
                let mut sums = vec![IdSums::default(); known_ids];
                for f in &rolled {
                    rollups::add_hits(&f.rollup_dir, &f.meta.name, buckets, &mut sums)?;
                }
                Ok(sums)
            });
            let scan = async {
                let df = self.tables.union(self.split_parts(&split, false)?)?;
                sums_per_hit_id(df, query, known_ids).await
            };
            match futures::try_join!(read, scan) {
                Ok((mut sums, rows)) => {
                    add_sums(&mut sums, &rows);
                    return Ok(sums);
                }
                Err(e) => tracing::warn!("answering from rollups failed ({e}); scanning rows"),
            }
        }
        let df = self.tables.frame(snap)?;
        sums_per_hit_id(df, query, known_ids).await
    }

    /// The distinct tuples of the flows in `snap` matching `query`, from rollups where they
    /// can answer (rollups keep no source ports).
    pub(crate) async fn tuples(
        &self,
        snap: &Snapshot,
        query: &FlowSearch,
        source_ports: bool,
    ) -> Result<Vec<FlowTuple>> {
        if !source_ports && let Some(split) = self.split(snap, query, |m| m.tuple_rollup)? {
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
}
