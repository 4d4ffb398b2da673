//! The manifest: the one list of live Parquet files, plus how far the write-ahead log has
//! been flushed. Replaced atomically, so every change of the file set (flush, compaction,
//! retention) happens at once or not at all; files not listed are leftovers of a crash and
//! are deleted on open.

use crate::error::{Result, StoreError};
use crate::fsutil::write_atomically;
use crate::types::ReadMark;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub(crate) const FILE_NAME: &str = "manifest.json";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// Every WAL frame with a sequence number up to this one is in the listed files.
    pub flushed_seq: u64,
    /// The next record id to hand out (ids of buffered records may be higher: see the WAL).
    pub next_record_id: u64,
    pub next_file_id: u64,
    pub files: Vec<FileMeta>,
    /// How far each input is in the listed files (marks of rows still in the WAL are in
    /// its frames).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_marks: Vec<ReadMark>,
}

/// What the store keeps in memory about one Parquet file, so queries can skip it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileMeta {
    /// File name inside `data/`.
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    /// Smallest and largest `end_time`.
    pub min_time: i64,
    pub max_time: i64,
    pub min_record_id: u64,
    pub max_record_id: u64,
    /// Whether `rollups/` holds this file's rollups (files written before rollups existed
    /// lack them until compaction adds them).
    #[serde(default)]
    pub rollups: bool,
    /// Whether they include the distinct tuples (left out when they would not be much fewer
    /// than the rows).
    #[serde(default)]
    pub tuple_rollup: bool,
    /// Whether they include the traffic groups (left out as the tuples are).
    #[serde(default)]
    pub traffic_rollup: bool,
    /// The [`rollups::VERSION`](crate::files::rollups::VERSION) they were written with (0:
    /// before versions were recorded).
    #[serde(default)]
    pub rollup_version: u32,
}

pub(crate) fn load(dir: &Path) -> Result<Manifest> {
    let path = dir.join(FILE_NAME);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::corrupt(&path, format!("manifest does not parse: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(e) => Err(StoreError::io("reading the manifest", &path)(e)),
    }
}

pub(crate) fn save(dir: &Path, manifest: &Manifest) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(manifest)
        .map_err(|e| StoreError::invalid(format!("manifest: {e}")))?;
    write_atomically(&dir.join(FILE_NAME), &bytes)
}
