//! The `FORMAT` file: which on-disk layout a data directory uses, so that an older build
//! refuses (clearly) a directory a newer one wrote instead of misreading it.

use crate::error::{Result, StoreError};
use crate::fsutil::write_atomically;
use std::path::Path;

/// The layout this build writes. Each version reads everything the ones before it wrote, so
/// an older directory is taken over and marked as this version: older builds then refuse it
/// rather than misread it.
/// - 2: WAL frames of several LZ4-compressed batches (1: one uncompressed batch each).
/// - 3: a row's `policies_pending_ids` are null when its pending trace is its enforced one
///   (2 always wrote them out; an older build would read null as "no pending hits").
/// - 4: so are its `policies_pending` hits (3 wrote them out; an older build would fail on
///   the nulls).
pub const FORMAT_VERSION: u32 = 4;
/// Older layouts this build reads.
const UPGRADABLE: [u32; 3] = [1, 2, 3];
const FILE_NAME: &str = "FORMAT";
const PREFIX: &str = "flowlens-store format ";

/// Checks the directory's format, writing it first when the directory is new.
pub(crate) fn check_or_init(dir: &Path) -> Result<()> {
    let path = dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let found = text.trim();
            match found
                .strip_prefix(PREFIX)
                .and_then(|v| v.parse::<u32>().ok())
            {
                Some(FORMAT_VERSION) => Ok(()),
                Some(old) if UPGRADABLE.contains(&old) => {
                    write_atomically(&path, format!("{PREFIX}{FORMAT_VERSION}\n").as_bytes())
                }
                _ => Err(StoreError::UnsupportedFormat {
                    path: dir.to_path_buf(),
                    found: found.chars().take(64).collect(),
                    supported: FORMAT_VERSION,
                }),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.join(crate::files::manifest::FILE_NAME).exists() {
                return Err(StoreError::corrupt(
                    &path,
                    "the FORMAT file is missing but the directory holds data; restore it or \
                     use another directory",
                ));
            }
            write_atomically(&path, format!("{PREFIX}{FORMAT_VERSION}\n").as_bytes())
        }
        Err(e) => Err(StoreError::io("reading the format file", &path)(e)),
    }
}
