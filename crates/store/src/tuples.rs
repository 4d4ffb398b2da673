//! Distinct flow tuples: the stored flow logs grouped by everything policy evaluation looks
//! at (both ends, protocol, destination port, reporter, stored action), with counts. The
//! impact preview evaluates each tuple once instead of every record.
//!
//! The grouping is done here rather than by a DataFusion `GROUP BY`: a generic `GROUP BY`
//! row-encodes every row (label lists included) before hashing it, which was most of the
//! preview's time. Each partition of the scan instead hashes the columns cell by cell,
//! compares a row only with the groups of the same hash (so the result is exact), and keeps
//! one owned copy of each distinct tuple; the partitions' groups are merged at the end.
//!
//! Data files keep each hour's distinct tuples in their rollups (see `rollup.rs`, built with
//! [`distinct_tuples`]); rows of a rollup carry how many flow logs they stand for, so grouping
//! them together with the rows of partial hours gives what grouping every row would.

use crate::error::{Result, StoreError};
use crate::exec::filtered;
use crate::plan::column;
use crate::query::FlowQuery;
use crate::rollup::{self, Buckets, FLOW_LOGS};
use crate::schema::{Field, flow_schema, index};
use crate::texts::Texts;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, GenericListArray, RecordBatch, StringArray, UInt64Array,
};
use datafusion::arrow::compute::{cast, interleave};
use datafusion::arrow::datatypes::{DataType, Int64Type, UInt64Type};
use datafusion::dataframe::DataFrame;
use flowlens_model::{Action, EndpointType, FlowEnd, FlowTuple, Labels, Reporter};
use futures::StreamExt;
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::Hasher;
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

fn bad(reason: String) -> StoreError {
    StoreError::InvalidRecord(reason)
}

/// One grouping column of a batch.
enum Column<'a> {
    /// Null in every row of the batch (addresses and names of aggregated flow logs): hashed
    /// and compared without reading it.
    AllNull,
    Text(Texts<'a>),
    Int(&'a datafusion::arrow::array::Int64Array),
    /// A list of `key=value` texts, whose entries are stored back to back: a row's list is
    /// hashed and compared as one byte range plus its entries' lengths.
    Labels(&'a GenericListArray<i32>, &'a StringArray),
}

const NULL_HASH: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline]
fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(bytes);
    h.write_u8(0xff);
    h.finish()
}

/// Folds one cell's hash into a row's; the order of columns matters.
#[inline]
fn mix(row: u64, cell: u64) -> u64 {
    (row.rotate_left(23) ^ cell).wrapping_mul(0x5851_f42d_4c95_7f2d)
}

/// A row's list of labels: the entries' text back to back, and the offsets of the entries in
/// the list's value array.
struct LabelsRef<'a> {
    bytes: &'a [u8],
    offsets: &'a [i32],
}

impl LabelsRef<'_> {
    /// Entry lengths; a null entry counts as empty, which `key=value` entries never are.
    fn lengths(&self) -> impl Iterator<Item = u32> + '_ {
        self.offsets.windows(2).map(|w| (w[1] - w[0]) as u32)
    }

    fn hash(&self) -> u64 {
        self.lengths()
            .fold(hash_bytes(self.bytes), |h, len| mix(h, u64::from(len)))
    }
}

// A group's key is kept encoded, all groups back to back in one arena, so that comparing a
// row with its group reads a few consecutive cache lines instead of chasing one allocation per
// cell. Per cell: a tag byte, then for text a u32 length and the bytes, for an integer its 8
// bytes, for labels the entry count, each entry's length (u32) and the entries' bytes.
const TAG_NULL: u8 = 0;
const TAG_VALUE: u8 = 1;

/// Reads an encoded key.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    #[inline]
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }

    #[inline]
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    /// The tag of the next cell: `Some(false)` for null.
    #[inline]
    fn present(&mut self) -> Option<bool> {
        Some(self.take(1)?[0] == TAG_VALUE)
    }

    #[inline]
    fn text(&mut self) -> Option<Option<&'a [u8]>> {
        if !self.present()? {
            return Some(None);
        }
        let len = self.u32()? as usize;
        Some(Some(self.take(len)?))
    }

    #[inline]
    fn int(&mut self) -> Option<Option<i64>> {
        if !self.present()? {
            return Some(None);
        }
        Some(Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?)))
    }

    /// Entry lengths and the entries' bytes.
    #[inline]
    fn labels(&mut self) -> Option<Option<(&'a [u8], &'a [u8])>> {
        if !self.present()? {
            return Some(None);
        }
        let n = self.u32()? as usize;
        let lengths = self.take(n.checked_mul(4)?)?;
        let total = entry_lengths(lengths).sum();
        Some(Some((lengths, self.take(total)?)))
    }
}

/// The entry lengths of an encoded label list.
fn entry_lengths(lengths: &[u8]) -> impl Iterator<Item = usize> + '_ {
    lengths
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
}

impl<'a> Column<'a> {
    #[inline]
    fn labels_at(&self, row: usize) -> Option<LabelsRef<'a>> {
        let Column::Labels(list, values) = self else {
            return None;
        };
        if list.is_null(row) {
            return None;
        }
        let rows = list.value_offsets();
        let offsets = &values.value_offsets()[rows[row] as usize..=rows[row + 1] as usize];
        let data = values.value_data();
        Some(LabelsRef {
            bytes: &data[offsets[0] as usize..offsets[offsets.len() - 1] as usize],
            offsets,
        })
    }

    /// Folds this column's cells into the rows' hashes.
    fn hash_into(&self, hashes: &mut [u64]) {
        match self {
            Column::AllNull => {
                for h in hashes.iter_mut() {
                    *h = mix(*h, NULL_HASH);
                }
            }
            Column::Text(t) => {
                for (row, h) in hashes.iter_mut().enumerate() {
                    *h = mix(
                        *h,
                        t.get(row).map_or(NULL_HASH, |s| hash_bytes(s.as_bytes())),
                    );
                }
            }
            Column::Int(a) => {
                for (row, h) in hashes.iter_mut().enumerate() {
                    let cell = if a.is_valid(row) {
                        hash_bytes(&a.value(row).to_le_bytes())
                    } else {
                        NULL_HASH
                    };
                    *h = mix(*h, cell);
                }
            }
            Column::Labels(..) => {
                for (row, h) in hashes.iter_mut().enumerate() {
                    *h = mix(*h, self.labels_at(row).map_or(NULL_HASH, |l| l.hash()));
                }
            }
        }
    }

    /// Whether the row's cell equals the next encoded one (which it consumes).
    #[inline]
    fn same(&self, row: usize, key: &mut Reader<'_>) -> bool {
        match self {
            Column::AllNull => key.present() == Some(false),
            Column::Text(t) => key
                .text()
                .is_some_and(|v| v == t.get(row).map(str::as_bytes)),
            Column::Int(a) => key
                .int()
                .is_some_and(|v| v == a.is_valid(row).then(|| a.value(row))),
            Column::Labels(..) => {
                let Some(stored) = key.labels() else {
                    return false;
                };
                match (self.labels_at(row), stored) {
                    (None, None) => true,
                    (Some(l), Some((lengths, bytes))) => {
                        l.bytes == bytes
                            && lengths.len() / 4 == l.offsets.len() - 1
                            && l.lengths()
                                .zip(entry_lengths(lengths))
                                .all(|(len, stored)| len as usize == stored)
                    }
                    _ => false,
                }
            }
        }
    }

    fn encode(&self, row: usize, out: &mut Vec<u8>) {
        let text = |bytes: &[u8], out: &mut Vec<u8>| {
            out.push(TAG_VALUE);
            out.extend((bytes.len() as u32).to_le_bytes());
            out.extend(bytes);
        };
        match self {
            Column::AllNull => out.push(TAG_NULL),
            Column::Text(t) => match t.get(row) {
                Some(s) => text(s.as_bytes(), out),
                None => out.push(TAG_NULL),
            },
            Column::Int(a) if a.is_valid(row) => {
                out.push(TAG_VALUE);
                out.extend(a.value(row).to_le_bytes());
            }
            Column::Int(_) => out.push(TAG_NULL),
            Column::Labels(..) => match self.labels_at(row) {
                Some(l) => {
                    out.push(TAG_VALUE);
                    out.extend(((l.offsets.len() - 1) as u32).to_le_bytes());
                    for len in l.lengths() {
                        out.extend(len.to_le_bytes());
                    }
                    out.extend(l.bytes);
                }
                None => out.push(TAG_NULL),
            },
        }
    }
}

/// A distinct tuple found so far.
struct Group {
    hash: u64,
    /// Its encoded key: `arena[key.0..key.1]`.
    key: (usize, usize),
    flow_logs: u64,
    num_flows: u64,
    /// The next group with the same hash (`u32::MAX`: none).
    next: u32,
    /// The row that started the group, counting the rows of every batch added (see
    /// [`distinct_tuples`]).
    first_row: u32,
}

/// The distinct tuples of one partition (or, after merging, of the whole scan).
#[derive(Default)]
struct Groups {
    /// Rows added so far.
    rows: usize,
    groups: Vec<Group>,
    arena: Vec<u8>,
    /// Hash → first group with that hash.
    heads: FxHashMap<u64, u32>,
}

impl Groups {
    fn key(&self, g: &Group) -> &[u8] {
        &self.arena[g.key.0..g.key.1]
    }

    /// The group whose key `same` accepts, among those with this hash.
    fn find(&self, hash: u64, same: impl Fn(&[u8]) -> bool) -> Option<usize> {
        let mut at = *self.heads.get(&hash)?;
        while at != u32::MAX {
            let g = &self.groups[at as usize];
            if same(self.key(g)) {
                return Some(at as usize);
            }
            at = g.next;
        }
        None
    }

    /// Adds a group whose key was just encoded at the end of the arena, from `start`.
    fn insert(&mut self, hash: u64, start: usize, counts: (u64, u64), first_row: u32) {
        let id = self.groups.len() as u32;
        let next = self.heads.insert(hash, id).unwrap_or(u32::MAX);
        self.groups.push(Group {
            hash,
            key: (start, self.arena.len()),
            flow_logs: counts.0,
            num_flows: counts.1,
            next,
            first_row,
        });
    }

    /// Adds the rows of `batch`: the columns of `fields`, then `num_flows`, and optionally a
    /// [`FLOW_LOGS`] column (rows of a rollup stand for that many flow logs; others for one).
    fn add_batch(&mut self, batch: &RecordBatch, fields: &[Field]) -> Result<()> {
        // Integer columns arrive as Int32 or Int64; one type keeps the cells comparable.
        let ints: Vec<Option<ArrayRef>> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| match f {
                Field::SourcePort | Field::DestPort => {
                    cast(batch.column(i), &DataType::Int64).map(Some)
                }
                _ => Ok(None),
            })
            .collect::<std::result::Result<_, _>>()?;
        let columns: Vec<Column> = fields
            .iter()
            .enumerate()
            .map(|(i, &f)| {
                if let Some(int) = &ints[i] {
                    return Ok(if int.null_count() == int.len() {
                        Column::AllNull
                    } else {
                        Column::Int(int.as_primitive::<Int64Type>())
                    });
                }
                let array = batch.column(i);
                if array.null_count() == array.len() {
                    return Ok(Column::AllNull);
                }
                if matches!(f, Field::SourceLabels | Field::DestLabels) {
                    let list = array
                        .as_list_opt::<i32>()
                        .ok_or_else(|| bad(format!("{f} is not a list")))?;
                    let values = list
                        .values()
                        .as_string_opt::<i32>()
                        .ok_or_else(|| bad(format!("{f} is not a list of text")))?;
                    return Ok(Column::Labels(list, values));
                }
                let texts = Texts::of(array.as_ref())
                    .ok_or_else(|| bad(format!("{f} is {}, not text", array.data_type())))?;
                Ok(Column::Text(texts))
            })
            .collect::<Result<_>>()?;
        let flows = cast(batch.column(fields.len()), &DataType::UInt64)?;
        let flows = flows.as_primitive::<UInt64Type>();
        let flow_logs = match batch.column_by_name(FLOW_LOGS) {
            Some(c) => Some(
                c.as_primitive_opt::<UInt64Type>()
                    .ok_or_else(|| bad(format!("{FLOW_LOGS} is not UInt64")))?,
            ),
            None => None,
        };

        let mut hashes = vec![0u64; batch.num_rows()];
        for c in &columns {
            c.hash_into(&mut hashes);
        }
        #[cfg(test)]
        if tests::COLLIDE.load(std::sync::atomic::Ordering::Relaxed) {
            hashes.fill(0);
        }
        // Looking every row's hash up first, in a loop of independent lookups, lets the CPU
        // overlap the cache misses; the second loop then mostly finds its group waiting. A
        // group inserted in between is found by the full search the second loop falls back to.
        let first: Vec<u32> = hashes
            .iter()
            .map(|h| self.heads.get(h).copied().unwrap_or(u32::MAX))
            .collect();
        for (row, (&hash, &candidate)) in hashes.iter().zip(&first).enumerate() {
            let num_flows = if flows.is_valid(row) {
                flows.value(row)
            } else {
                0
            };
            let logs = flow_logs.map_or(1, |a| a.value(row));
            let same = |key: &[u8]| {
                let mut key = Reader(key);
                columns.iter().all(|c| c.same(row, &mut key))
            };
            let found = match self.groups.get(candidate as usize) {
                Some(g) if same(self.key(g)) => Some(candidate as usize),
                _ => self.find(hash, same),
            };
            match found {
                Some(g) => {
                    self.groups[g].flow_logs += logs;
                    self.groups[g].num_flows += num_flows;
                }
                None => {
                    let start = self.arena.len();
                    for c in &columns {
                        c.encode(row, &mut self.arena);
                    }
                    self.insert(hash, start, (logs, num_flows), (self.rows + row) as u32);
                }
            }
        }
        self.rows += batch.num_rows();
        Ok(())
    }

    fn merge(&mut self, other: Groups) {
        for g in &other.groups {
            let key = other.key(g);
            match self.find(g.hash, |k| k == key) {
                Some(at) => {
                    self.groups[at].flow_logs += g.flow_logs;
                    self.groups[at].num_flows += g.num_flows;
                }
                None => {
                    let start = self.arena.len();
                    self.arena.extend(key);
                    self.insert(g.hash, start, (g.flow_logs, g.num_flows), u32::MAX);
                }
            }
        }
    }
}

/// Turns a group's encoded key (in `group_fields` order) back into a tuple.
struct Decoder<'a>(Reader<'a>);

impl<'a> Decoder<'a> {
    fn torn() -> StoreError {
        bad("a grouped tuple's key is shorter than its columns".into())
    }

    fn text(&mut self) -> Result<Option<&'a str>> {
        self.0
            .text()
            .ok_or_else(Self::torn)?
            .map(|b| std::str::from_utf8(b).map_err(|_| bad("tuple text is not UTF-8".into())))
            .transpose()
    }

    fn string(&mut self) -> Result<Option<String>> {
        Ok(self.text()?.map(str::to_string))
    }

    fn labels(&mut self, f: Field) -> Result<Labels> {
        let Some((lengths, bytes)) = self.0.labels().ok_or_else(Self::torn)? else {
            return Ok(Labels::new());
        };
        let text = std::str::from_utf8(bytes).map_err(|_| bad(format!("{f} is not UTF-8")))?;
        let mut rest = text;
        entry_lengths(lengths)
            .filter(|&len| len > 0)
            .map(|len| {
                let pair = rest
                    .get(..len)
                    .ok_or_else(|| bad(format!("{f} entry lengths do not fit its text")))?;
                rest = &rest[len..];
                pair.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| bad(format!("{f} entry {pair:?} is not key=value")))
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
                        .map_err(|_| bad(format!("{ip} {t:?} is not an IP")))
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

    fn tuple(mut self, source_ports: bool, group: &Group) -> Result<FlowTuple> {
        let source = self.end(SOURCE, source_ports)?;
        let dest = self.end(DEST, true)?;
        let proto = self.text()?.unwrap_or_default();
        let proto = crate::decode::parse_proto(proto)
            .ok_or_else(|| bad(format!("proto {proto:?} is not a protocol")))?;
        let reporter = self.text()?.unwrap_or_default();
        let reporter = Reporter::parse(reporter)
            .ok_or_else(|| bad(format!("reporter {reporter:?} is not src or dst")))?;
        let action = self.text()?.unwrap_or_default();
        let action = Action::parse(action)
            .ok_or_else(|| bad(format!("action {action:?} is not allow or deny")))?;
        Ok(FlowTuple {
            source,
            dest,
            proto,
            reporter,
            action,
            flow_logs: group.flow_logs,
            num_flows: group.num_flows,
        })
    }
}

/// The distinct tuples (source ports left out) of flow logs in the stored schema, as a batch
/// of the grouping columns followed by `num_flows` and [`FLOW_LOGS`]: what a rollup keeps.
/// `rows` are batches of rows taken one after the other.
/// `None` as soon as there are more than `limit`.
pub(crate) fn distinct_tuples(rows: &[RecordBatch], limit: usize) -> Result<Option<RecordBatch>> {
    const CHUNK: usize = 8 * 1024;
    let fields = group_fields(false);
    let mut projection: Vec<usize> = fields.iter().map(|f| index(*f)).collect();
    projection.push(index(Field::NumFlows));
    let parts = rows
        .iter()
        .map(|batch| batch.project(&projection))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let schema = Arc::new(flow_schema().project(&projection)?);
    let mut groups = Groups::default();
    for part in &parts {
        for start in (0..part.num_rows()).step_by(CHUNK) {
            groups.add_batch(
                &part.slice(start, CHUNK.min(part.num_rows() - start)),
                &fields,
            )?;
            if groups.groups.len() > limit {
                return Ok(None);
            }
        }
    }
    // Each group's first row, counted over all parts, as (part, row in the part).
    let starts: Vec<usize> = parts
        .iter()
        .scan(0, |next, part| {
            let start = *next;
            *next += part.num_rows();
            Some(start)
        })
        .collect();
    let firsts: Vec<(usize, usize)> = groups
        .groups
        .iter()
        .map(|g| {
            let row = g.first_row as usize;
            let part = starts.partition_point(|&start| start <= row) - 1;
            (part, row - starts[part])
        })
        .collect();
    let mut columns = (0..fields.len())
        .map(|i| {
            let column: Vec<&dyn Array> = parts.iter().map(|p| p.column(i).as_ref()).collect();
            interleave(&column, &firsts)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    columns.push(Arc::new(UInt64Array::from_iter_values(
        groups.groups.iter().map(|g| g.num_flows),
    )));
    let distinct = RecordBatch::try_new(schema, columns)?;
    let flow_logs = UInt64Array::from_iter_values(groups.groups.iter().map(|g| g.flow_logs));
    Ok(Some(rollup::with_column(
        distinct,
        FLOW_LOGS,
        Arc::new(flow_logs),
    )?))
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
        return Err(bad("tuple rollups do not keep source ports".into()));
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
    let mut tasks: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let fields = fields.clone();
            tokio::spawn(async move {
                let mut groups = Groups::default();
                while let Some(batch) = stream.next().await {
                    groups.add_batch(&batch?, &fields)?;
                }
                Ok::<_, StoreError>(groups)
            })
        })
        .collect();
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
                        groups.add_batch(&batch, &fields)?;
                    }
                }
                Ok::<_, StoreError>(groups)
            }));
        }
    }
    let mut all = Groups::default();
    for task in tasks {
        let groups = task.await.map_err(|e| StoreError::Task(e.to_string()))??;
        if all.groups.is_empty() {
            all = groups;
        } else {
            all.merge(groups);
        }
    }
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
    use std::sync::atomic::AtomicBool;

    /// Makes every row hash alike, so that only the comparison of cells tells tuples apart.
    pub(super) static COLLIDE: AtomicBool = AtomicBool::new(false);

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
        COLLIDE.store(true, std::sync::atomic::Ordering::Relaxed);
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
        COLLIDE.store(false, std::sync::atomic::Ordering::Relaxed);

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
