//! The hit dictionary: every distinct policy hit the store has seen (without its position in
//! the trace: `tier|kind:[ns]/name|action|rule`) gets a small integer id. Stored batches carry
//! the ids next to the hit strings, so policy aggregates add up integers instead of hashing
//! millions of strings.
//!
//! `hits.dict` holds one JSON string per line, line *n* being id *n*. It only grows; a new
//! entry is fsynced before any batch using its id is written anywhere (WAL or Parquet), so
//! every stored id is always resolvable. A torn last line (crash mid-write) is cut off.

use crate::error::{Result, StoreError};
use crate::fsutil::sync_dir;
use crate::schema::{ENFORCED_IDS, PENDING_IDS, flow_schema, index, list_of_ids};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, ListBuilder, RecordBatch, StringArray, UInt32Builder, new_null_array,
};
use flowlens_model::FlowField;
use flowlens_model::PolicyHit;
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) const FILE_NAME: &str = "hits.dict";

pub(crate) struct HitDictionary {
    path: PathBuf,
    file: File,
    /// Looked up for every hit of every row appended: a fast hash, not a DoS-proof one (the
    /// keys are policy names from the cluster's own flow logs).
    ids: FxHashMap<String, u32>,
    len_on_disk: u64,
    /// Set when a failed write could not be undone; further additions are refused.
    broken: bool,
    /// Id → the hit (index 0), or `None` when the stored text is not a valid hit.
    hits: Vec<Option<PolicyHit>>,
    /// Id → its policy's number (hits of one policy differ in action and rule only), so
    /// policy totals add up by index rather than by hashing names.
    policy_of: Vec<u32>,
    policies: HashMap<PolicyIdent, u32>,
}

/// What names a policy: tier, kind, namespace, name.
type PolicyIdent = (
    String,
    Option<flowlens_model::PolicyKind>,
    Option<String>,
    String,
);

/// Policy number of hits that are not valid hits.
pub(crate) const NO_POLICY: u32 = u32::MAX;

/// The hit without its leading `<index>|`.
fn key_of(text: &str) -> &str {
    text.split_once('|').map_or(text, |(_, rest)| rest)
}

impl HitDictionary {
    pub fn open(dir: &Path) -> Result<HitDictionary> {
        let path = dir.join(FILE_NAME);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(StoreError::io("reading the hit dictionary", &path)(e)),
        };
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut dict = HitDictionary {
            path: path.clone(),
            file: OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(StoreError::io("opening the hit dictionary", &path))?,
            ids: FxHashMap::default(),
            len_on_disk: 0,
            broken: false,
            hits: Vec::new(),
            policy_of: Vec::new(),
            policies: HashMap::new(),
        };
        if complete < bytes.len() {
            tracing::warn!("{}: dropping a torn last entry", path.display());
            dict.file
                .set_len(complete as u64)
                .and_then(|_| crate::fsutil::sync_file(&dict.file))
                .map_err(StoreError::io("truncating the hit dictionary", &path))?;
        }
        if complete > 0 {
            // Line n is id n; the text ends with a newline.
            for (n, line) in bytes[..complete - 1].split(|&b| b == b'\n').enumerate() {
                let key: String = serde_json::from_slice(line).map_err(|e| {
                    StoreError::corrupt(&path, format!("entry {} does not parse: {e}", n + 1))
                })?;
                dict.insert(key);
            }
        }
        dict.len_on_disk = complete as u64;
        sync_dir(dir)?;
        Ok(dict)
    }

    fn insert(&mut self, key: String) -> u32 {
        let id = self.hits.len() as u32;
        let hit = PolicyHit::parse(&format!("0|{key}")).ok();
        let policy = match &hit {
            Some(h) => {
                let ident = (h.tier.clone(), h.kind, h.namespace.clone(), h.name.clone());
                let next = self.policies.len() as u32;
                *self.policies.entry(ident).or_insert(next)
            }
            None => NO_POLICY,
        };
        self.hits.push(hit);
        self.policy_of.push(policy);
        self.ids.insert(key, id);
        id
    }

    /// Ids handed out so far (ids are `0..len`).
    pub fn len(&self) -> usize {
        self.hits.len()
    }

    /// Policies seen so far (policy numbers are `0..policy_count`).
    pub fn policy_count(&self) -> usize {
        self.policies.len()
    }

    /// The policy number of hit `id`, or [`NO_POLICY`].
    pub fn policy_of(&self, id: u32) -> u32 {
        self.policy_of
            .get(id as usize)
            .copied()
            .unwrap_or(NO_POLICY)
    }

    /// The hit with this id (index 0); `None` for unknown ids and invalid hits.
    pub fn hit(&self, id: u32) -> Option<&PolicyHit> {
        self.hits.get(id as usize).and_then(Option::as_ref)
    }

    /// Adds the id columns to a record batch, recording (durably) any new hits first. Where a
    /// row's pending trace is null (it is the enforced one: see `PendingBuilder`), so are its
    /// pending ids, and the trace is numbered and stored once.
    pub fn attach_ids(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let mut new_keys: Vec<String> = Vec::new();
        let enforced = hit_list(batch, FlowField::PoliciesEnforced)?;
        let enforced_ids = self.number(enforced, |_| false, &mut new_keys);
        let pending = batch.column(index(FlowField::PoliciesPending));
        let pending_ids = if pending.logical_null_count() == pending.len() {
            new_null_array(&list_of_ids(), pending.len())
        } else {
            let list = hit_list(batch, FlowField::PoliciesPending)?;
            self.number(list, |row| pending.is_null(row), &mut new_keys)
        };
        if !new_keys.is_empty() {
            self.persist(&new_keys)?;
        }
        let mut columns = batch.columns().to_vec();
        columns.extend([enforced_ids, pending_ids]);
        debug_assert_eq!(flow_schema().field(columns.len() - 1).name(), PENDING_IDS);
        debug_assert_eq!(flow_schema().field(columns.len() - 2).name(), ENFORCED_IDS);
        Ok(RecordBatch::try_new(flow_schema(), columns)?)
    }

    /// The ids of each row's hits, numbering new ones (added to `new_keys`); a null entry for
    /// the rows `skipped`.
    fn number(
        &mut self,
        (offsets, texts): HitList<'_>,
        skipped: impl Fn(usize) -> bool,
        new_keys: &mut Vec<String>,
    ) -> ArrayRef {
        let rows = offsets.len() - 1;
        let mut builder =
            ListBuilder::with_capacity(UInt32Builder::with_capacity(texts.len()), rows);
        for row in 0..rows {
            if skipped(row) {
                builder.append_null();
                continue;
            }
            for i in offsets[row] as usize..offsets[row + 1] as usize {
                let key = key_of(texts.value(i));
                let id = match self.ids.get(key) {
                    Some(id) => *id,
                    None => {
                        new_keys.push(key.to_string());
                        self.insert(key.to_string())
                    }
                };
                builder.values().append_value(id);
            }
            builder.append(true);
        }
        Arc::new(builder.finish())
    }

    fn persist(&mut self, keys: &[String]) -> Result<()> {
        let mut text = Vec::new();
        for key in keys {
            serde_json::to_writer(&mut text, key)
                .map_err(|e| StoreError::InvalidRecord(format!("policy hit {key:?}: {e}")))?;
            text.push(b'\n');
        }
        let written = if self.broken {
            Err(std::io::Error::other(
                "an earlier write failed; reopen the store",
            ))
        } else {
            self.file
                .write_all(&text)
                .and_then(|_| crate::fsutil::sync_file_data(&self.file))
        };
        if let Err(e) = written {
            // Forget the entries (ids must never refer to something not on disk) and cut off
            // whatever part of them reached the file.
            for key in keys {
                self.ids.remove(key);
            }
            self.hits.truncate(self.ids.len());
            self.policy_of.truncate(self.ids.len());
            // Policy numbers only grow, so the forgotten ones are those above the largest left.
            let kept = self
                .policy_of
                .iter()
                .filter(|p| **p != NO_POLICY)
                .max()
                .copied();
            self.policies.retain(|_, p| kept.is_some_and(|k| *p <= k));
            if self
                .file
                .set_len(self.len_on_disk)
                .and_then(|_| crate::fsutil::sync_file(&self.file))
                .is_err()
            {
                self.broken = true;
            }
            return Err(StoreError::io("writing the hit dictionary", &self.path)(e));
        }
        self.len_on_disk += text.len() as u64;
        Ok(())
    }
}

/// A column of hit lists: its offsets and texts.
type HitList<'a> = (&'a [i32], &'a StringArray);

fn hit_list(batch: &RecordBatch, field: FlowField) -> Result<HitList<'_>> {
    let list = batch
        .column(index(field))
        .as_list_opt::<i32>()
        .ok_or_else(|| StoreError::InvalidRecord(format!("{field} is not a list")))?;
    let texts = list
        .values()
        .as_string_opt::<i32>()
        .ok_or_else(|| StoreError::InvalidRecord(format!("{field} is not text")))?;
    Ok((list.value_offsets(), texts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::encode::encode_flows;
    use crate::testutil::sample_flow;
    use flowlens_model::{HitAction, PolicyKind};

    fn batch(rules: &[i32]) -> RecordBatch {
        batch_with_pending(rules, false)
    }

    /// Flow logs with one hit each (rule `rules[i]`), pending traces empty or `same` as the
    /// enforced ones.
    fn batch_with_pending(rules: &[i32], same: bool) -> RecordBatch {
        let logs: Vec<_> = rules
            .iter()
            .map(|&rule| {
                let mut f = sample_flow(1, 100);
                f.enforced_policies = vec![hit(rule)];
                if same {
                    f.pending_policies = f.enforced_policies.clone();
                }
                f
            })
            .collect();
        encode_flows(&logs, 0).unwrap()
    }

    /// Rule `rule` of one denying global policy, third in its trace.
    fn hit(rule: i32) -> PolicyHit {
        PolicyHit {
            index: 3,
            tier: "t".into(),
            kind: Some(PolicyKind::GlobalNetworkPolicy),
            namespace: None,
            name: "p".into(),
            action: HitAction::Deny,
            rule,
        }
    }

    fn ids(batch: &RecordBatch) -> Vec<u32> {
        let list = batch.column_by_name(ENFORCED_IDS).unwrap().as_list::<i32>();
        list.values()
            .as_primitive::<datafusion::arrow::datatypes::UInt32Type>()
            .values()
            .to_vec()
    }

    #[test]
    fn ids_are_stable_across_reopening_and_ignore_the_trace_position() {
        let dir = tempfile::tempdir().unwrap();
        let mut dict = HitDictionary::open(dir.path()).unwrap();
        assert_eq!(
            ids(&dict.attach_ids(&batch(&[1, 2, 1])).unwrap()),
            [0, 1, 0]
        );
        assert_eq!(dict.hit(1).unwrap().rule, 2);
        assert_eq!(dict.hit(1).unwrap().index, 0);
        drop(dict);
        let mut dict = HitDictionary::open(dir.path()).unwrap();
        assert_eq!(ids(&dict.attach_ids(&batch(&[2, 3])).unwrap()), [1, 2]);
    }

    #[test]
    fn pending_hits_and_ids_are_null_where_the_pending_trace_is_the_enforced_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut dict = HitDictionary::open(dir.path()).unwrap();
        // No pending trace differs.
        let shared = dict
            .attach_ids(&batch_with_pending(&[1, 2, 1], true))
            .unwrap();
        let pending = shared.column_by_name(PENDING_IDS).unwrap();
        assert_eq!(pending.null_count(), 3);
        assert_eq!(
            shared
                .column(index(FlowField::PoliciesPending))
                .null_count(),
            3
        );
        assert_eq!(ids(&shared), [0, 1, 0]);
        // Only the second row's pending trace differs.
        let mut logs = [1, 2, 3].map(|rule| {
            let mut f = sample_flow(1, 100);
            f.enforced_policies = vec![hit(rule)];
            f.pending_policies = f.enforced_policies.clone();
            f
        });
        logs[1].pending_policies = vec![hit(1), hit(9)];
        let mixed = dict.attach_ids(&encode_flows(&logs, 0).unwrap()).unwrap();
        let pending = mixed.column_by_name(PENDING_IDS).unwrap().as_list::<i32>();
        let rows: Vec<_> = (0..3)
            .map(|row| {
                pending.is_valid(row).then(|| {
                    let ids = pending.value(row);
                    ids.as_primitive::<datafusion::arrow::datatypes::UInt32Type>()
                        .values()
                        .to_vec()
                })
            })
            .collect();
        assert_eq!(rows, [None, Some(vec![0, 3]), None]);
        assert_eq!(ids(&mixed), [0, 1, 2]);
        let texts = mixed
            .column(index(FlowField::PoliciesPending))
            .as_list::<i32>();
        let texts: Vec<_> = (0..3)
            .map(|row| texts.is_valid(row).then(|| texts.value(row).len()))
            .collect();
        assert_eq!(texts, [None, Some(2), None]);
    }

    #[test]
    fn a_torn_last_entry_is_dropped_and_corruption_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut dict = HitDictionary::open(dir.path()).unwrap();
        dict.attach_ids(&batch(&[1, 2])).unwrap();
        drop(dict);
        let path = dir.path().join(FILE_NAME);
        let mut text = std::fs::read(&path).unwrap();
        text.extend_from_slice(b"\"t|gnp:p|de");
        std::fs::write(&path, &text).unwrap();
        let mut dict = HitDictionary::open(dir.path()).unwrap();
        assert_eq!(ids(&dict.attach_ids(&batch(&[7])).unwrap()), [2]);
        drop(dict);
        std::fs::write(&path, b"not json\n").unwrap();
        assert!(matches!(
            HitDictionary::open(dir.path()),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
