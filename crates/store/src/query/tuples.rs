//! The flow-tuple query: the distinct tuples of the flows matching a query, grouped from
//! the rows of the tables given and from tuple rollups.

use crate::error::{Result, StoreError};
use crate::files::rollups::{self, Buckets};
use crate::query::parallel::{group_streams, merged};
use crate::query::plan::{column, filtered, row_filter};
use crate::summaries::distinct_tuples::{add_rows, group_fields, tuples_of};
use crate::summaries::hash_grouping::Groups;
use crate::types::FlowSearch;
use datafusion::dataframe::DataFrame;
use flowlens_model::FlowField;
use flowlens_model::FlowTuple;
use std::path::PathBuf;

/// Tuple rollups to read: of these data files (rollup directory, file name), the buckets.
pub(crate) struct RolledUp {
    pub files: Vec<(PathBuf, String)>,
    pub buckets: Buckets,
}

/// Groups the rows of `parts` (tables that together hold the data) matching `query`, and the
/// rollup rows of `rolled_up` (only without source ports), into tuples. With `source_ports`
/// false the source port is left out of the grouping (and of the tuples), which keeps the
/// number of groups down when no rule looks at source ports.
pub(crate) async fn flow_tuples(
    parts: Vec<DataFrame>,
    rolled_up: Option<RolledUp>,
    query: &FlowSearch,
    source_ports: bool,
) -> Result<Vec<FlowTuple>> {
    if source_ports && rolled_up.is_some() {
        return Err(StoreError::invalid_record(
            "tuple rollups do not keep source ports",
        ));
    }
    // Checked here too, so that a query is refused whether or not any table overlaps it.
    row_filter(query)?;
    let fields = group_fields(source_ports);
    let mut projection: Vec<_> = fields.iter().map(|f| column(*f)).collect();
    projection.push(column(FlowField::NumFlows));
    let mut streams = Vec::new();
    for df in parts {
        streams.extend(
            filtered(df, query)?
                .select(projection.clone())?
                .execute_stream_partitioned()
                .await?,
        );
    }
    let mut tasks = {
        let fields = fields.clone();
        group_streams(streams, move |groups, batch| {
            add_rows(groups, batch, &fields)
        })
    };
    // The rollups read and grouped in two halves, one per core.
    if let Some(RolledUp { files, buckets }) = rolled_up {
        let half = files.len().div_ceil(2);
        let mut files = files.into_iter();
        for _ in 0..2 {
            let part: Vec<(PathBuf, String)> = files.by_ref().take(half).collect();
            if part.is_empty() {
                continue;
            }
            let fields = fields.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                let mut groups = Groups::default();
                for (dir, name) in &part {
                    for batch in rollups::tuples(dir, name, buckets)? {
                        add_rows(&mut groups, &batch, &fields)?;
                    }
                }
                Ok::<_, StoreError>(groups)
            }));
        }
    }
    tuples_of(&merged(tasks).await?, source_ports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::tuple_variants;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;
    use flowlens_model::{Action, EndpointType, FlowLog, Protocol, Reporter};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[tokio::test]
    async fn rows_with_the_same_hash_are_told_apart_by_their_cells() {
        crate::summaries::hash_grouping::COLLIDE.store(true, std::sync::atomic::Ordering::Relaxed);
        let logs = tuple_variants();
        // Two copies of each, in two partitions; the first also has a batch in which
        // addresses and names are null in every row.
        // Batches larger than DataFusion's batch size, so that none is coalesced with another.
        let batch = |logs: &[FlowLog]| {
            let repeated: Vec<FlowLog> = logs.iter().cycle().take(9_000).cloned().collect();
            crate::records::encode::encode_flows(&repeated, 0).unwrap()
        };
        let all_null: Vec<FlowLog> = logs
            .iter()
            .filter(|l| l.source.ip.is_none() && l.dest.name.is_none())
            .cloned()
            .collect();
        let table = MemTable::try_new(
            crate::schema::record_schema(),
            vec![vec![batch(&logs), batch(&all_null)], vec![batch(&logs)]],
        )
        .unwrap();
        let df = SessionContext::new().read_table(Arc::new(table)).unwrap();
        let query = FlowSearch::new(crate::TimeRange::all());
        let tuples = flow_tuples(vec![df], None, &query, false).await.unwrap();
        crate::summaries::hash_grouping::COLLIDE.store(false, std::sync::atomic::Ordering::Relaxed);

        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for t in &tuples {
            *counts
                .entry(format!(
                    "{:?}{:?}{:?}{:?}{:?}",
                    t.source, t.dest, t.proto, t.reporter, t.action
                ))
                .or_default() += t.flow_logs;
        }
        assert_eq!(tuples.len(), logs.len(), "one tuple per variant");
        assert_eq!(counts.len(), logs.len(), "no two tuples alike");
        let base_count = tuples
            .iter()
            .find(|t| {
                t.dest.labels == logs[0].dest.labels
                    && t.dest.port == Some(80)
                    && t.proto == Protocol::Tcp
                    && t.action == Action::Allow
                    && t.reporter == Reporter::Src
                    && t.source.ip.is_none()
                    && t.dest.name.is_none()
                    && t.source.name_aggr == logs[0].source.name_aggr
                    && t.dest.namespace.is_some()
                    && !t.source.labels.is_empty()
                    && t.source.endpoint_type == Some(EndpointType::Wep)
            })
            .map(|t| t.flow_logs);
        let per_batch = |n: usize| (9_000 / n + usize::from(9_000 % n > 0)) as u64;
        assert_eq!(
            base_count,
            Some(2 * per_batch(logs.len()) + per_batch(all_null.len())),
            "the base log, in both partitions and in the all-null batch"
        );
    }
}
