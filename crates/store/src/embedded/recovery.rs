//! Repairs on open and on demand: leftovers of interrupted writes removed, rollups that
//! went missing forgotten (queries then scan those files' rows), unreadable data files moved
//! to `quarantine/` so the rest stays queryable.

use crate::error::{Result, StoreError};
use crate::files::manifest::{self, FileMeta, Manifest};
use crate::files::{parquet, rollups};
use crate::fsutil::{lock, sync_dir};
use crate::state::Inner;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Problems found and repaired while opening.
#[derive(Clone, Debug, Default)]
pub struct OpenReport {
    /// Records replayed from the write-ahead log into the buffer.
    pub replayed_records: u64,
    /// Torn WAL tails truncated, corrupt files quarantined, leftovers removed.
    pub warnings: Vec<String>,
    /// Acknowledged appends the WAL lost to corruption (sequence numbers missing on replay).
    pub lost_wal_frames: u64,
}

/// Where damaged files are moved (data files) or copied (WAL segments), for inspection.
pub(crate) const QUARANTINE: &str = "quarantine";

/// Writes the empty manifest of a new store before anything else, so that a store with data
/// files always has one; refuses a directory whose `data/` holds Parquet files but no
/// manifest (lost, or not a store): every file would look like a leftover to delete.
pub(crate) fn ensure_manifest(dir: &Path, data_dir: &Path) -> Result<()> {
    if dir.join(manifest::FILE_NAME).exists() {
        return Ok(());
    }
    let files = parquet::list(data_dir)?
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    if files > 0 {
        return Err(StoreError::ManifestMissing {
            path: dir.to_path_buf(),
            files,
        });
    }
    manifest::save(dir, &Manifest::default())
}

/// Deals with data files the manifest does not list. Files this store names are temporary
/// files of interrupted writes, or files a crash left behind between a manifest change and
/// the deletions that follow it: their rows are listed elsewhere or still in the WAL, so they
/// are deleted. Any other Parquet file was put there by someone else and is moved to
/// `quarantine/`, never deleted.
pub(crate) fn remove_leftovers(
    dir: &Path,
    data_dir: &Path,
    manifest: &Manifest,
    report: &mut OpenReport,
) -> Result<()> {
    let live: HashSet<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    let mut changed = false;
    for path in parquet::list(data_dir)? {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if live.contains(name) {
            continue;
        }
        if name.ends_with(".tmp") || parquet::is_data_file_name(name) {
            std::fs::remove_file(&path)
                .map_err(StoreError::io("removing a leftover file", &path))?;
            report.warnings.push(format!(
                "removed leftover {} (interrupted write)",
                path.display()
            ));
        } else {
            let target = move_into_quarantine(dir, &path, name)?;
            report.warnings.push(format!(
                "moved {} to {}: not a data file of this store",
                path.display(),
                target.display()
            ));
        }
        changed = true;
    }
    if changed {
        sync_dir(data_dir)?;
    }
    Ok(())
}

/// Forgets the rollups of listed files whose rollup files are missing (queries scan those
/// files' rows until compaction writes them again) and deletes rollups of unlisted files.
pub(crate) fn check_rollups(
    dir: &Path,
    manifest: &mut Manifest,
    report: &mut OpenReport,
) -> Result<()> {
    for meta in manifest.files.iter_mut().filter(|m| m.rollups) {
        let [hits, tuples, traffic, edges] = rollups::paths(dir, &meta.name);
        if !hits.exists()
            || (meta.tuple_rollup && !tuples.exists())
            || (meta.traffic_rollup && !(traffic.exists() && edges.exists()))
        {
            report.warnings.push(format!(
                "rollups of {} are missing; its rows are scanned until compaction rewrites them",
                meta.name
            ));
            meta.rollups = false;
            meta.tuple_rollup = false;
            meta.traffic_rollup = false;
        }
    }
    let listed = |has: fn(&FileMeta) -> bool| -> HashSet<&str> {
        manifest
            .files
            .iter()
            .filter(|m| has(m))
            .map(|m| m.name.as_str())
            .collect()
    };
    let kinds = [
        listed(|m| m.rollups),
        listed(|m| m.tuple_rollup),
        listed(|m| m.traffic_rollup),
    ];
    for path in rollups::remove_unlisted(dir, &kinds)? {
        report
            .warnings
            .push(format!("removed leftover {}", path.display()));
    }
    Ok(())
}

/// Whether `e` proves a data file damaged (or gone), rather than unreadable for now.
fn is_damage(e: &StoreError) -> bool {
    match e {
        StoreError::Corrupt { .. } => true,
        StoreError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// Moves `path` into `quarantine/` as `name`; returns where it went.
fn move_into_quarantine(dir: &Path, path: &Path, name: &str) -> Result<PathBuf> {
    let qdir = dir.join(QUARANTINE);
    crate::fsutil::create_dir_durably(&qdir)?;
    let target = qdir.join(name);
    std::fs::rename(path, &target).map_err(StoreError::io("quarantining", path))?;
    Ok(target)
}

/// Moves a damaged data file to `quarantine/`, returning where it went and a warning.
fn move_to_quarantine(
    dir: &Path,
    path: &Path,
    meta: &FileMeta,
    error: &StoreError,
) -> Result<(PathBuf, String)> {
    let target = if path.exists() {
        move_into_quarantine(dir, path, &meta.name)?
    } else {
        dir.join(QUARANTINE).join(&meta.name)
    };
    let warning = format!(
        "quarantined {} ({} records unavailable): {error}",
        path.display(),
        meta.rows
    );
    tracing::error!("{warning}");
    Ok((target, warning))
}

/// Moves listed files that are damaged out of the way, so the rest stays queryable; they are
/// reported and kept in `quarantine/` for inspection. A listed file that is gone is dropped
/// with a warning. Any other error (a full file table, a permission) may pass, so opening
/// fails with it and nothing is moved.
pub(crate) fn quarantine_unreadable(
    dir: &Path,
    data_dir: &Path,
    manifest: &mut Manifest,
    report: &mut OpenReport,
) -> Result<Vec<PathBuf>> {
    let mut quarantined = Vec::new();
    let mut keep = Vec::new();
    for meta in std::mem::take(&mut manifest.files) {
        let path = data_dir.join(&meta.name);
        match parquet::check(&path) {
            Ok(()) => keep.push(meta),
            Err(e) if is_damage(&e) => {
                let (target, warning) = move_to_quarantine(dir, &path, &meta, &e)?;
                report.warnings.push(warning);
                quarantined.push(target);
            }
            Err(e) => return Err(e),
        }
    }
    manifest.files = keep;
    if !quarantined.is_empty() {
        manifest::save(dir, manifest)?;
    }
    Ok(quarantined)
}

/// Reads every data file completely; moves the damaged ones to `quarantine/` and drops them
/// from the manifest. Returns a warning per quarantined file.
pub(crate) fn verify_blocking(inner: &Inner) -> Result<Vec<String>> {
    let _maintenance = lock(&inner.maintenance);
    let files = lock(&inner.state).files.clone();
    let mut damaged = Vec::new();
    for f in &files {
        match parquet::scan(&f.path) {
            Ok(_) => {}
            Err(e) if is_damage(&e) => damaged.push((f.clone(), e)),
            Err(e) => return Err(e),
        }
    }
    if damaged.is_empty() {
        return Ok(Vec::new());
    }
    let gone: HashSet<&str> = damaged.iter().map(|(f, _)| f.meta.name.as_str()).collect();
    let mut manifest = lock(&inner.state).manifest.clone();
    manifest.files.retain(|m| !gone.contains(m.name.as_str()));
    manifest::save(&inner.dir, &manifest)?;
    let mut warnings = Vec::new();
    let mut moved = Vec::new();
    for (f, e) in &damaged {
        let (target, warning) = move_to_quarantine(&inner.dir, &f.path, &f.meta, e)?;
        warnings.push(warning);
        moved.push(target);
    }
    let mut st = lock(&inner.state);
    st.manifest = manifest;
    st.files.retain(|f| !gone.contains(f.meta.name.as_str()));
    st.quarantined.extend(moved);
    Ok(warnings)
}
