//! Everything the store keeps on disk besides the write-ahead log, and its upkeep:
//!
//! - [`format`]: the `FORMAT` file naming the directory's layout version;
//! - [`manifest`]: the one list of live data files;
//! - [`parquet`]: writing and reading Parquet files;
//! - [`data_file`]: a data file being written, with its rollups;
//! - [`rollups`]: per-hour summaries written next to each data file;
//! - [`hit_dictionary`]: the ids of policy hits (`hits.dict`);
//! - [`compaction`] and [`retention`]: merging small files, dropping old data, both
//!   replacing files in the crash-safe order of [`replace`].

pub(crate) mod compaction;
pub(crate) mod data_file;
pub(crate) mod format;
pub(crate) mod hit_dictionary;
pub(crate) mod manifest;
pub(crate) mod parquet;
pub(crate) mod replace;
pub(crate) mod retention;
pub(crate) mod rollups;

use std::path::PathBuf;

/// Where an open store's data files and their rollups live, and how they are written.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub data_dir: PathBuf,
    pub rollup_dir: PathBuf,
    pub write: parquet::WriteSettings,
    /// Whether rollups are written with each data file.
    pub rollups: bool,
}
