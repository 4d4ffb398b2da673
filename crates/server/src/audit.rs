//! The audit log of policy changes: one JSON object per line in a file of the data
//! directory (`audit.jsonl`), appended under the same lock that orders the changes, read
//! back by `GET /api/audit` for the policies the caller may read.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The audit log's file name in the data directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// Entries `GET /api/audit` returns at most (the newest).
pub const MAX_ENTRIES: usize = 1000;

/// One policy change.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    /// Unix seconds.
    pub time: i64,
    /// The principal's name.
    pub user: String,
    /// `save` or `delete` (the running inventory); `apply` or `cluster-delete` (written to
    /// the cluster); `add-tier` (a tier created in the running inventory: `policy` is
    /// empty, `after` the tier's YAML).
    pub action: String,
    /// The policy's id (`KIND:[NAMESPACE/]NAME`).
    pub policy: String,
    pub tier: String,
    pub namespace: Option<String>,
    /// The policy's YAML before and after; `null` when it did not exist / no longer does.
    pub before: Option<String>,
    pub after: Option<String>,
    /// The inventory revision the change produced.
    pub revision: u64,
}

#[derive(Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub fn new(path: &Path) -> AuditLog {
        AuditLog {
            path: path.to_path_buf(),
        }
    }

    /// Appends `entry` and syncs it to disk.
    pub fn append(&self, entry: &AuditEntry) -> std::io::Result<()> {
        let mut line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&self.path)?;
        file.write_all(line.as_bytes())?;
        file.sync_data()
    }

    /// The entries `keep` accepts, oldest first, the newest [`MAX_ENTRIES`] of them. A line
    /// that does not parse (a torn last write) is skipped.
    pub fn read(&self, keep: impl Fn(&AuditEntry) -> bool) -> std::io::Result<Vec<AuditEntry>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut entries: Vec<AuditEntry> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|e| keep(e))
            .collect();
        let extra = entries.len().saturating_sub(MAX_ENTRIES);
        entries.drain(..extra);
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_appended_and_read_back_torn_lines_aside() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(&dir.path().join(AUDIT_FILE));
        assert!(log.read(|_| true).unwrap().is_empty());
        let entry = AuditEntry {
            time: 1,
            user: "shop".into(),
            action: "save".into(),
            policy: "np:shop/web".into(),
            tier: "default".into(),
            namespace: Some("shop".into()),
            before: None,
            after: Some("kind: NetworkPolicy\n".into()),
            revision: 2,
        };
        log.append(&entry).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(AUDIT_FILE))
            .unwrap()
            .write_all(b"{\"time\":")
            .unwrap();
        assert_eq!(log.read(|_| true).unwrap(), vec![entry]);
        assert!(log.read(|e| e.tier == "security").unwrap().is_empty());
    }
}
