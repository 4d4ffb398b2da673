//! Hash grouping of stored rows by some of their columns, with per-group sums: what the
//! distinct flow tuples ([`distinct_tuples`](super::distinct_tuples)) and the UI's groupings
//! by namespace pair, name pair or edge (`query/groupings.rs`) are built on.
//!
//! A generic `GROUP BY` goes through Arrow's row format, which is costly for label lists.
//! Here each row's key is encoded once in a simple form (a tag per cell; text and label
//! entries with their lengths), its bytes are hashed, and it is compared byte for byte with
//! the groups of the same hash (so the result is exact); each group keeps one copy of its
//! key, and the groups of several partitions are merged at the end.

use crate::error::{Result, StoreError};
use crate::records::texts::Texts;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, GenericListArray, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use flowlens_model::FlowField;
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::Hasher;

/// One grouping column of a batch.
enum Column<'a> {
    /// Null in every row of the batch (addresses and names of aggregated flow logs): encoded
    /// without reading it.
    AllNull,
    Text(Texts<'a>),
    Int(&'a datafusion::arrow::array::Int64Array),
    /// A list of `key=value` texts, whose entries are stored back to back: a row's list is
    /// encoded as one byte range plus its entries' lengths.
    Labels(&'a GenericListArray<i32>, &'a StringArray),
}

/// An encoded key's hash. Tests can make every key hash alike ([`COLLIDE`]).
#[inline]
fn hash_key(key: &[u8]) -> u64 {
    #[cfg(test)]
    if COLLIDE.load(std::sync::atomic::Ordering::Relaxed) {
        return 0;
    }
    let mut h = FxHasher::default();
    h.write(key);
    h.finish()
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
}

// A group's key is kept encoded, all groups back to back in one arena, so that comparing a
// row with its group reads a few consecutive cache lines instead of chasing one allocation per
// cell. Per cell: a tag byte, then for text a u32 length and the bytes, for an integer its 8
// bytes, for labels the entry count, each entry's length (u32) and the entries' bytes.
const TAG_NULL: u8 = 0;
const TAG_VALUE: u8 = 1;

/// Reads an encoded key.
pub(crate) struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    #[inline]
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }

    #[inline]
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    /// The tag of the next cell: `Some(false)` for null.
    #[inline]
    pub fn present(&mut self) -> Option<bool> {
        Some(self.take(1)?[0] == TAG_VALUE)
    }

    #[inline]
    pub fn text(&mut self) -> Option<Option<&'a [u8]>> {
        if !self.present()? {
            return Some(None);
        }
        let len = self.u32()? as usize;
        Some(Some(self.take(len)?))
    }

    #[inline]
    pub fn int(&mut self) -> Option<Option<i64>> {
        if !self.present()? {
            return Some(None);
        }
        Some(Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?)))
    }

    /// Entry lengths and the entries' bytes.
    #[inline]
    pub fn labels(&mut self) -> Option<Option<(&'a [u8], &'a [u8])>> {
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
pub(crate) fn entry_lengths(lengths: &[u8]) -> impl Iterator<Item = usize> + '_ {
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

    /// Appends the row's cell to an encoded key.
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

/// A group found so far.
pub(crate) struct Group<const N: usize> {
    pub hash: u64,
    /// Its encoded key: `arena[key.0..key.1]`.
    key: (usize, usize),
    /// What the caller sums per group (see [`Groups::add_batch`]).
    pub sums: [u64; N],
    /// The next group with the same hash (`u32::MAX`: none).
    next: u32,
    /// The row that started the group, counting the rows of every batch added (`u32::MAX`
    /// for groups merged in from elsewhere).
    pub first_row: u32,
}

/// The groups of one partition (or, after merging, of the whole scan), each with `N` sums.
pub(crate) struct Groups<const N: usize> {
    /// Rows added so far.
    rows: usize,
    pub groups: Vec<Group<N>>,
    arena: Vec<u8>,
    /// Hash → first group with that hash.
    heads: FxHashMap<u64, u32>,
}

impl<const N: usize> Default for Groups<N> {
    fn default() -> Self {
        Groups {
            rows: 0,
            groups: Vec::new(),
            arena: Vec::new(),
            heads: FxHashMap::default(),
        }
    }
}

fn add<const N: usize>(to: &mut [u64; N], sums: &[u64; N]) {
    for (t, s) in to.iter_mut().zip(sums) {
        *t = t.wrapping_add(*s);
    }
}

impl<const N: usize> Groups<N> {
    /// Rows added so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The group's encoded key, cell after cell in the order of the fields it was grouped by;
    /// read it back with [`Reader`] (`text` for text cells, `int` for ports, `labels`).
    pub fn key(&self, g: &Group<N>) -> &[u8] {
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
    fn insert(&mut self, hash: u64, start: usize, sums: [u64; N], first_row: u32) {
        let id = self.groups.len() as u32;
        let next = self.heads.insert(hash, id).unwrap_or(u32::MAX);
        self.groups.push(Group {
            hash,
            key: (start, self.arena.len()),
            sums,
            next,
            first_row,
        });
    }

    /// Adds the rows of `batch`, grouped by its columns named as `fields` (text, ports, label
    /// lists), each row adding `sums(row)` to its group.
    pub fn add_batch(
        &mut self,
        batch: &RecordBatch,
        fields: &[FlowField],
        sums: impl Fn(usize) -> [u64; N],
    ) -> Result<()> {
        self.add_batch_with(batch, fields, sums, |_, _| {})
    }

    /// [`Self::add_batch`], returning each row's group (its index in `groups`).
    pub fn add_batch_indexed(
        &mut self,
        batch: &RecordBatch,
        fields: &[FlowField],
        sums: impl Fn(usize) -> [u64; N],
    ) -> Result<Vec<u32>> {
        let mut indices = vec![0u32; batch.num_rows()];
        self.add_batch_with(batch, fields, sums, |row, group| {
            indices[row] = group as u32
        })?;
        Ok(indices)
    }

    fn add_batch_with(
        &mut self,
        batch: &RecordBatch,
        fields: &[FlowField],
        sums: impl Fn(usize) -> [u64; N],
        mut grouped: impl FnMut(usize, usize),
    ) -> Result<()> {
        let arrays = fields
            .iter()
            .map(|f| {
                let array = batch
                    .column_by_name(f.column())
                    .ok_or_else(|| StoreError::invalid_record(format!("grouped rows lack {f}")))?;
                Ok(match f {
                    // Ports arrive as Int32 or Int64; one type keeps the cells comparable.
                    FlowField::SourcePort | FlowField::DestPort => cast(array, &DataType::Int64)?,
                    _ => array.clone(),
                })
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let columns: Vec<Column> = fields
            .iter()
            .zip(&arrays)
            .map(|(&f, array)| {
                if array.null_count() == array.len() {
                    return Ok(Column::AllNull);
                }
                if matches!(f, FlowField::SourcePort | FlowField::DestPort) {
                    return Ok(Column::Int(array.as_primitive::<Int64Type>()));
                }
                if matches!(f, FlowField::SourceLabels | FlowField::DestLabels) {
                    let list = array
                        .as_list_opt::<i32>()
                        .ok_or_else(|| StoreError::invalid_record(format!("{f} is not a list")))?;
                    let values = list.values().as_string_opt::<i32>().ok_or_else(|| {
                        StoreError::invalid_record(format!("{f} is not a list of text"))
                    })?;
                    return Ok(Column::Labels(list, values));
                }
                let texts = Texts::of(array.as_ref()).ok_or_else(|| {
                    StoreError::invalid_record(format!("{f} is {}, not text", array.data_type()))
                })?;
                Ok(Column::Text(texts))
            })
            .collect::<Result<_>>()?;

        // Each row's key is encoded once, the rows back to back: its hash is that of its
        // bytes, and comparing it with a group's key is one comparison of two byte ranges
        // (the encoding is injective: tags and lengths delimit every cell).
        let rows = batch.num_rows();
        let mut keys: Vec<u8> = Vec::new();
        let mut ends: Vec<usize> = Vec::with_capacity(rows);
        for row in 0..rows {
            for c in &columns {
                c.encode(row, &mut keys);
            }
            ends.push(keys.len());
            if row == 0 {
                // A batch's keys are about as long as its first: room for all of them at once
                // rather than doubling, which copies every key encoded so far each time.
                keys.reserve((rows - 1) * (keys.len() + keys.len() / 4));
            }
        }
        let key_of = |row: usize| &keys[if row == 0 { 0 } else { ends[row - 1] }..ends[row]];
        let hashes: Vec<u64> = (0..rows).map(|row| hash_key(key_of(row))).collect();
        // Looking every row's hash up first, in a loop of independent lookups, lets the CPU
        // overlap the cache misses; the second loop then mostly finds its group waiting. A
        // group inserted in between is found by the full search the second loop falls back to.
        let first: Vec<u32> = hashes
            .iter()
            .map(|h| self.heads.get(h).copied().unwrap_or(u32::MAX))
            .collect();
        for (row, (&hash, &candidate)) in hashes.iter().zip(&first).enumerate() {
            let key = key_of(row);
            let found = match self.groups.get(candidate as usize) {
                Some(g) if self.key(g) == key => Some(candidate as usize),
                _ => self.find(hash, |k| k == key),
            };
            match found {
                Some(g) => {
                    add(&mut self.groups[g].sums, &sums(row));
                    grouped(row, g);
                }
                None => {
                    let start = self.arena.len();
                    self.arena.extend_from_slice(key);
                    self.insert(hash, start, sums(row), (self.rows + row) as u32);
                    grouped(row, self.groups.len() - 1);
                }
            }
        }
        self.rows += batch.num_rows();
        Ok(())
    }

    pub fn merge(&mut self, other: Groups<N>) {
        if self.groups.is_empty() {
            *self = other;
            return;
        }
        for g in &other.groups {
            let key = other.key(g);
            match self.find(g.hash, |k| k == key) {
                Some(at) => add(&mut self.groups[at].sums, &g.sums),
                None => {
                    let start = self.arena.len();
                    self.arena.extend(key);
                    self.insert(g.hash, start, g.sums, u32::MAX);
                }
            }
        }
    }
}

/// Makes every row hash alike, so that tests see groups told apart by their cells alone.
#[cfg(test)]
pub(crate) static COLLIDE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);
