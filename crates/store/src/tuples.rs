//! Distinct flow tuples: the stored flow logs grouped by everything policy evaluation looks
//! at (both ends, protocol, destination port, reporter, stored action), with counts. The
//! impact preview evaluates each tuple once instead of every record.
//!
//! The grouping is `grouping.rs`'s rather than a DataFusion `GROUP BY`, which row-encodes
//! every row (label lists included) before hashing it: that was most of the preview's time.
//!
//! Data files keep each hour's distinct tuples in their rollups (see `rollup.rs`, built with
//! [`distinct_tuples`]); rows of a rollup carry how many flow logs they stand for, so grouping
//! them together with the rows of partial hours gives what grouping every row would.

use crate::error::{Result, StoreError};
use crate::exec::filtered;
use crate::grouping::{Group, Groups, Reader, entry_lengths, group_streams, merged};
use crate::plan::column;
use crate::query::FlowQuery;
use crate::rollup::{self, Buckets, FLOW_LOGS};
use crate::schema::{Field, flow_schema, index};
use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt32Array, UInt64Array};
use datafusion::arrow::compute::{cast, concat_batches, take_record_batch};
use datafusion::arrow::datatypes::{DataType, UInt64Type};
use datafusion::dataframe::DataFrame;
use flowlens_model::{Action, EndpointType, FlowEnd, FlowTuple, Labels, Reporter};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// The columns of one end: ip, name, name_aggr, namespace, port, type, labels.
type EndFields = [Field; 7];

const SOURCE: EndFields = [
    Field::SourceIp,
    Field::SourceName,
    Field::SourceNameAggr,
    Field::SourceNamespace,
    Field::SourcePort,
    Field::SourceType,
    Field::SourceLabels,
];

const DEST: EndFields = [
    Field::DestIp,
    Field::DestName,
    Field::DestNameAggr,
    Field::DestNamespace,
    Field::DestPort,
    Field::DestType,
    Field::DestLabels,
];

fn group_fields(source_ports: bool) -> Vec<Field> {
    let mut fields: Vec<Field> = SOURCE
        .iter()
        .copied()
        .filter(|f| source_ports || *f != Field::SourcePort)
        .collect();
    fields.extend(DEST);
    fields.extend([Field::Proto, Field::Reporter, Field::Action]);
    fields
}

/// Adds the rows of `batch` (the columns of `fields`, `num_flows`, and optionally a
/// [`FLOW_LOGS`] column: rows of a rollup stand for that many flow logs, others for one) to
/// `groups`, whose sums are flow logs and `num_flows`.
fn add_rows(groups: &mut Groups<2>, batch: &RecordBatch, fields: &[Field]) -> Result<()> {
    let flows = batch
        .column_by_name(Field::NumFlows.name())
        .ok_or_else(|| StoreError::invalid_record("grouped rows lack num_flows"))?;
    let flows = cast(flows, &DataType::UInt64)?;
    let flows = flows.as_primitive::<UInt64Type>();
    let flow_logs = match batch.column_by_name(FLOW_LOGS) {
        Some(c) => Some(
            c.as_primitive_opt::<UInt64Type>()
                .ok_or_else(|| StoreError::invalid_record(format!("{FLOW_LOGS} is not UInt64")))?,
        ),
        None => None,
    };
    groups.add_batch(batch, fields, |row| {
        let num_flows = if flows.is_valid(row) {
            flows.value(row)
        } else {
            0
        };
        [flow_logs.map_or(1, |a| a.value(row)), num_flows]
    })
}

/// Turns a group's encoded key (in `group_fields` order) back into a tuple.
struct Decoder<'a>(Reader<'a>);

impl<'a> Decoder<'a> {
    fn torn() -> StoreError {
        StoreError::invalid_record("a grouped tuple's key is shorter than its columns")
    }

    fn text(&mut self) -> Result<Option<&'a str>> {
        self.0
            .text()
            .ok_or_else(Self::torn)?
            .map(|b| {
                std::str::from_utf8(b)
                    .map_err(|_| StoreError::invalid_record("tuple text is not UTF-8"))
            })
            .transpose()
    }

    fn string(&mut self) -> Result<Option<String>> {
        Ok(self.text()?.map(str::to_string))
    }

    fn labels(&mut self, f: Field) -> Result<Labels> {
        let Some((lengths, bytes)) = self.0.labels().ok_or_else(Self::torn)? else {
            return Ok(Labels::new());
        };
        let text = std::str::from_utf8(bytes)
            .map_err(|_| StoreError::invalid_record(format!("{f} is not UTF-8")))?;
        let mut rest = text;
        entry_lengths(lengths)
            .filter(|&len| len > 0)
            .map(|len| {
                let pair = rest.get(..len).ok_or_else(|| {
                    StoreError::invalid_record(format!("{f} entry lengths do not fit its text"))
                })?;
                rest = &rest[len..];
                pair.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| {
                        StoreError::invalid_record(format!("{f} entry {pair:?} is not key=value"))
                    })
            })
            .collect()
    }

    fn end(&mut self, fields: EndFields, with_port: bool) -> Result<FlowEnd> {
        let [ip, _, _, _, _, _, labels] = fields;
        let ip_text = self.text()?;
        let name = self.string()?;
        let name_aggr = self.string()?;
        let namespace = self.string()?;
        let port = if with_port {
            self.0.int().ok_or_else(Self::torn)?
        } else {
            None
        };
        let endpoint_type = self.text()?;
        let labels = self.labels(labels)?;
        Ok(FlowEnd {
            ip: ip_text
                .map(|t| {
                    t.parse::<IpAddr>()
                        .map_err(|_| StoreError::invalid_record(format!("{ip} {t:?} is not an IP")))
                })
                .transpose()?,
            name,
            name_aggr: name_aggr.unwrap_or_else(|| "-".into()),
            namespace,
            port: port.and_then(|p| u16::try_from(p).ok()),
            endpoint_type: endpoint_type.and_then(EndpointType::parse),
            labels,
        })
    }

    fn tuple(mut self, source_ports: bool, group: &Group<2>) -> Result<FlowTuple> {
        let source = self.end(SOURCE, source_ports)?;
        let dest = self.end(DEST, true)?;
        let proto = self.text()?.unwrap_or_default();
        let proto = crate::decode::parse_proto(proto).ok_or_else(|| {
            StoreError::invalid_record(format!("proto {proto:?} is not a protocol"))
        })?;
        let reporter = self.text()?.unwrap_or_default();
        let reporter = Reporter::parse(reporter).ok_or_else(|| {
            StoreError::invalid_record(format!("reporter {reporter:?} is not src or dst"))
        })?;
        let action = self.text()?.unwrap_or_default();
        let action = Action::parse(action).ok_or_else(|| {
            StoreError::invalid_record(format!("action {action:?} is not allow or deny"))
        })?;
        Ok(FlowTuple {
            source,
            dest,
            proto,
            reporter,
            action,
            flow_logs: group.sums[0],
            num_flows: group.sums[1],
        })
    }
}

/// The distinct tuples (source ports left out) of flow logs in the stored schema, gathered
/// batch by batch: what a rollup keeps, as a batch of the grouping columns followed by
/// `num_flows` and [`FLOW_LOGS`]. Each group's first row is copied out when the group appears,
/// so the rows added need not be kept.
pub(crate) struct DistinctTuples {
    fields: Vec<Field>,
    projection: Vec<usize>,
    groups: Groups<2>,
    /// The first rows of the groups, in the order the groups appeared.
    firsts: Vec<RecordBatch>,
}

impl DistinctTuples {
    pub fn new() -> DistinctTuples {
        let fields = group_fields(false);
        let mut projection: Vec<usize> = fields.iter().map(|f| index(*f)).collect();
        projection.push(index(Field::NumFlows));
        DistinctTuples {
            fields,
            projection,
            groups: Groups::default(),
            firsts: Vec::new(),
        }
    }

    /// The distinct tuples so far.
    pub fn len(&self) -> usize {
        self.groups.groups.len()
    }

    /// Adds the rows of `batch` (in the stored schema).
    pub fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        const CHUNK: usize = 8 * 1024;
        let rows = batch.project(&self.projection)?;
        for start in (0..rows.num_rows()).step_by(CHUNK) {
            let chunk = rows.slice(start, CHUNK.min(rows.num_rows() - start));
            let (groups_before, rows_before) = (self.len(), self.groups.rows());
            add_rows(&mut self.groups, &chunk, &self.fields)?;
            let new: Vec<u32> = self.groups.groups[groups_before..]
                .iter()
                .map(|g| g.first_row - rows_before as u32)
                .collect();
            if !new.is_empty() {
                let new = UInt32Array::from(new);
                self.firsts.push(take_record_batch(&chunk, &new)?);
            }
        }
        Ok(())
    }

    /// The tuples, each with its `num_flows` and [`FLOW_LOGS`] sums.
    pub fn finish(self) -> Result<RecordBatch> {
        let schema = Arc::new(flow_schema().project(&self.projection)?);
        let firsts = concat_batches(&schema, &self.firsts)?;
        let sums = |k: usize| {
            Arc::new(UInt64Array::from_iter_values(
                self.groups.groups.iter().map(|g| g.sums[k]),
            ))
        };
        let mut columns = firsts.columns()[..self.fields.len()].to_vec();
        columns.push(sums(1));
        let distinct = RecordBatch::try_new(schema, columns)?;
        rollup::with_column(distinct, FLOW_LOGS, sums(0))
    }
}

/// The distinct tuples of `rows` (batches taken one after the other), as [`DistinctTuples`]
/// gives them; `None` as soon as there are more than `limit`.
#[cfg(test)]
pub(crate) fn distinct_tuples(rows: &[RecordBatch], limit: usize) -> Result<Option<RecordBatch>> {
    let mut tuples = DistinctTuples::new();
    for batch in rows {
        tuples.add(batch)?;
        if tuples.len() > limit {
            return Ok(None);
        }
    }
    tuples.finish().map(Some)
}

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
    query: &FlowQuery,
    source_ports: bool,
) -> Result<Vec<FlowTuple>> {
    if source_ports && rolled_up.is_some() {
        return Err(StoreError::invalid_record(
            "tuple rollups do not keep source ports",
        ));
    }
    let fields = group_fields(source_ports);
    let mut projection: Vec<_> = fields.iter().map(|f| column(*f)).collect();
    projection.push(column(Field::NumFlows));
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
                    for batch in rollup::tuples(dir, name, buckets)? {
                        add_rows(&mut groups, &batch, &fields)?;
                    }
                }
                Ok::<_, StoreError>(groups)
            }));
        }
    }
    let all = merged(tasks).await?;
    all.groups
        .iter()
        .map(|g| Decoder(Reader(all.key(g))).tuple(source_ports, g))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::sample_flow;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;
    use flowlens_model::{FlowLog, Protocol};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    /// Flow logs that differ from the first in one grouped column each, or only in the split
    /// of the same label text into entries.
    fn variants() -> Vec<FlowLog> {
        let base = sample_flow(0, 1_000);
        let mut out = vec![base.clone()];
        let mut vary = |f: &dyn Fn(&mut FlowLog)| {
            let mut log = base.clone();
            f(&mut log);
            out.push(log);
        };
        vary(&|l| l.source.ip = Some("10.0.0.1".parse().unwrap()));
        vary(&|l| l.dest.name = Some("app-0-abc".into()));
        vary(&|l| l.source.name_aggr = "other-*".into());
        vary(&|l| l.dest.namespace = None);
        vary(&|l| l.dest.port = None);
        vary(&|l| l.dest.port = Some(81));
        vary(&|l| l.source.endpoint_type = Some(EndpointType::Hep));
        vary(&|l| l.source.labels.clear());
        vary(&|l| {
            l.dest.labels = [("ab".to_string(), "cd=e".to_string())].into();
        });
        vary(&|l| {
            l.dest.labels = [
                ("ab".to_string(), "c".to_string()),
                ("d".to_string(), "e".to_string()),
            ]
            .into();
        });
        vary(&|l| l.proto = Protocol::Udp);
        vary(&|l| l.reporter = Reporter::Dst);
        vary(&|l| l.action = Action::Deny);
        out
    }

    #[test]
    fn distinct_tuples_of_parts_are_those_of_the_parts_joined() {
        let logs = variants();
        let rows = |skip: usize, n: usize| {
            let rows: Vec<FlowLog> = logs.iter().cycle().skip(skip).take(n).cloned().collect();
            crate::encode_flows(&rows, 0).unwrap()
        };
        // Groups first seen in each part, and rows that join groups of earlier parts.
        let parts = [rows(0, 5), rows(3, 7), rows(9, 40)];
        let joined =
            datafusion::arrow::compute::concat_batches(&parts[0].schema(), &parts).unwrap();
        let of_parts = distinct_tuples(&parts, 1_000).unwrap().unwrap();
        assert_eq!(of_parts.num_rows(), logs.len());
        assert_eq!(
            of_parts,
            distinct_tuples(&[joined], 1_000).unwrap().unwrap()
        );
        assert!(distinct_tuples(&parts, logs.len() - 1).unwrap().is_none());
    }

    #[tokio::test]
    async fn rows_with_the_same_hash_are_told_apart_by_their_cells() {
        crate::grouping::COLLIDE.store(true, std::sync::atomic::Ordering::Relaxed);
        let logs = variants();
        // Two copies of each, in two partitions; the first also has a batch in which
        // addresses and names are null in every row.
        // Batches larger than DataFusion's batch size, so that none is coalesced with another.
        let batch = |logs: &[FlowLog]| {
            let repeated: Vec<FlowLog> = logs.iter().cycle().take(9_000).cloned().collect();
            crate::encode_flows(&repeated, 0).unwrap()
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
        let query = FlowQuery::new(crate::TimeRange::all());
        let tuples = flow_tuples(vec![df], None, &query, false).await.unwrap();
        crate::grouping::COLLIDE.store(false, std::sync::atomic::Ordering::Relaxed);

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
