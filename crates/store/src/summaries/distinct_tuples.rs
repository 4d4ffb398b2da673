//! Distinct flow tuples: stored flow logs grouped by everything policy evaluation looks at
//! (both ends, protocol, destination port, reporter, stored action), with counts. The impact
//! preview evaluates each tuple once instead of every record.
//!
//! The grouping is [`hash_grouping`](super::hash_grouping)'s rather than a DataFusion
//! `GROUP BY`, which row-encodes every row (label lists included) before hashing it.
//!
//! Data files keep each hour's distinct tuples in their rollups (built with
//! [`DistinctTuples`]); rows of a rollup carry how many flow logs they stand for
//! ([`FLOW_LOGS`]), so grouping them together with rows gives what grouping every row would.

use crate::error::{Result, StoreError};
use crate::records::decode::parse_proto;
use crate::records::with_column;
use crate::schema::{flow_schema, index};
use crate::summaries::hash_grouping::{Group, Groups, Reader, entry_lengths};
use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt32Array, UInt64Array};
use datafusion::arrow::compute::{cast, concat_batches, take_record_batch};
use datafusion::arrow::datatypes::{DataType, UInt64Type};
use flowlens_model::FlowField;
use flowlens_model::{Action, EndpointType, FlowEnd, FlowTuple, Labels, Reporter};
use std::net::IpAddr;
use std::sync::Arc;

/// The column of a tuple rollup counting the flow logs a row stands for.
pub(crate) const FLOW_LOGS: &str = "flow_logs";

/// The columns of one end: ip, name, name_aggr, namespace, port, type, labels.
type EndFields = [FlowField; 7];

const SOURCE: EndFields = [
    FlowField::SourceIp,
    FlowField::SourceName,
    FlowField::SourceNameAggr,
    FlowField::SourceNamespace,
    FlowField::SourcePort,
    FlowField::SourceType,
    FlowField::SourceLabels,
];

const DEST: EndFields = [
    FlowField::DestIp,
    FlowField::DestName,
    FlowField::DestNameAggr,
    FlowField::DestNamespace,
    FlowField::DestPort,
    FlowField::DestType,
    FlowField::DestLabels,
];

/// The grouping columns, in the order their cells are encoded; the source port only when
/// `source_ports` is set.
pub(crate) fn group_fields(source_ports: bool) -> Vec<FlowField> {
    let mut fields: Vec<FlowField> = SOURCE
        .iter()
        .copied()
        .filter(|f| source_ports || *f != FlowField::SourcePort)
        .collect();
    fields.extend(DEST);
    fields.extend([FlowField::Proto, FlowField::Reporter, FlowField::Action]);
    fields
}

/// Adds the rows of `batch` (the columns of `fields`, `num_flows`, and optionally a
/// [`FLOW_LOGS`] column: rows of a rollup stand for that many flow logs, others for one) to
/// `groups`, whose sums are flow logs and `num_flows`.
pub(crate) fn add_rows(
    groups: &mut Groups<2>,
    batch: &RecordBatch,
    fields: &[FlowField],
) -> Result<()> {
    let flows = batch
        .column_by_name(FlowField::NumFlows.column())
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

    fn labels(&mut self, f: FlowField) -> Result<Labels> {
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
        let proto = parse_proto(proto).ok_or_else(|| {
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
    fields: Vec<FlowField>,
    projection: Vec<usize>,
    groups: Groups<2>,
    /// The first rows of the groups, in the order the groups appeared.
    firsts: Vec<RecordBatch>,
}

impl DistinctTuples {
    pub fn new() -> DistinctTuples {
        let fields = group_fields(false);
        let mut projection: Vec<usize> = fields.iter().map(|f| index(*f)).collect();
        projection.push(index(FlowField::NumFlows));
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
        with_column(distinct, FLOW_LOGS, sums(0))
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

/// The tuples of `groups` (grouped by [`group_fields`]`(source_ports)`), each with its flow-log
/// and `num_flows` sums.
pub(crate) fn tuples_of(groups: &Groups<2>, source_ports: bool) -> Result<Vec<FlowTuple>> {
    groups
        .groups
        .iter()
        .map(|g| Decoder(Reader(groups.key(g))).tuple(source_ports, g))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::tuple_variants;
    use flowlens_model::FlowLog;

    #[test]
    fn distinct_tuples_of_parts_are_those_of_the_parts_joined() {
        let logs = tuple_variants();
        let rows = |skip: usize, n: usize| {
            let rows: Vec<FlowLog> = logs.iter().cycle().skip(skip).take(n).cloned().collect();
            crate::records::encode::encode_flows(&rows, 0).unwrap()
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
}
