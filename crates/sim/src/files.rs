//! Where a scenario's files come from: a directory on disk, or in-memory (path, text) pairs
//! (so a binary can embed the built-in scenarios). Paths are relative to the scenario's
//! root, written with `/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Files larger than this are refused rather than read into memory.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

pub(crate) trait Files {
    /// How errors name the file.
    fn display(&self, rel: &str) -> String;
    fn read(&self, rel: &str) -> Result<String, String>;
    /// The manifest files at `rel`: the file itself, or the `*.yaml`, `*.yml` and `*.json`
    /// files below a directory (hidden entries skipped), sorted.
    fn expand(&self, rel: &str) -> Result<Vec<String>, String>;
}

/// `./a/../b/` → `b`; `None` when it climbs above the root or is absolute.
fn normalize(rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    if rel.starts_with('/') {
        return None;
    }
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn is_manifest_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json")
}

pub(crate) struct DirFiles {
    pub root: PathBuf,
}

impl DirFiles {
    fn path(&self, rel: &str) -> PathBuf {
        // Scenarios may share manifests with a sibling (`../common/dns.yaml`), so `..` is
        // allowed on disk.
        self.root.join(rel)
    }

    fn walk(
        &self,
        dir: &Path,
        rel: &str,
        out: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), String> {
        if depth > 16 {
            return Err(format!("{}: directories nested too deep", dir.display()));
        }
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read directory {}: {e}", dir.display()))?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names.into_iter().filter(|n| !n.starts_with('.')) {
            let child = dir.join(&name);
            let child_rel = format!("{}/{name}", rel.trim_end_matches('/'));
            if child.is_dir() {
                self.walk(&child, &child_rel, out, depth + 1)?;
            } else if is_manifest_name(&name) {
                out.push(child_rel);
            }
        }
        Ok(())
    }
}

impl Files for DirFiles {
    fn display(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }

    fn read(&self, rel: &str) -> Result<String, String> {
        let path = self.path(rel);
        let size = std::fs::metadata(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(format!(
                "{} is {size} bytes; at most {MAX_FILE_BYTES} are read",
                path.display()
            ));
        }
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))
    }

    fn expand(&self, rel: &str) -> Result<Vec<String>, String> {
        let path = self.path(rel);
        let meta =
            std::fs::metadata(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.is_dir() {
            let mut out = Vec::new();
            self.walk(&path, rel, &mut out, 0)?;
            Ok(out)
        } else {
            Ok(vec![rel.to_owned()])
        }
    }
}

/// In-memory files, keyed by normalized relative path.
pub(crate) struct MemFiles {
    pub label: String,
    pub files: BTreeMap<String, String>,
}

impl MemFiles {
    pub fn new(label: &str, files: impl IntoIterator<Item = (String, String)>) -> MemFiles {
        let files = files
            .into_iter()
            .filter_map(|(path, text)| Some((normalize(&path)?, text)))
            .collect();
        MemFiles {
            label: label.to_owned(),
            files,
        }
    }
}

impl Files for MemFiles {
    fn display(&self, rel: &str) -> String {
        format!(
            "{}/{}",
            self.label,
            normalize(rel).unwrap_or_else(|| rel.to_owned())
        )
    }

    fn read(&self, rel: &str) -> Result<String, String> {
        normalize(rel)
            .and_then(|p| self.files.get(&p).cloned())
            .ok_or_else(|| format!("{} does not exist", self.display(rel)))
    }

    fn expand(&self, rel: &str) -> Result<Vec<String>, String> {
        let Some(path) = normalize(rel) else {
            return Err(format!("{rel:?} leaves the scenario's files"));
        };
        if self.files.contains_key(&path) {
            return Ok(vec![path]);
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let found: Vec<String> = self
            .files
            .keys()
            .filter(|k| k.starts_with(&prefix) && is_manifest_name(k))
            .filter(|k| {
                !k[prefix.len()..]
                    .split('/')
                    .any(|part| part.starts_with('.'))
            })
            .cloned()
            .collect();
        if found.is_empty() {
            Err(format!("{} does not exist", self.display(rel)))
        } else {
            Ok(found)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_relative_paths() {
        assert_eq!(normalize("./a/../b/").as_deref(), Some("b"));
        assert_eq!(normalize("manifests/").as_deref(), Some("manifests"));
        assert_eq!(normalize("../x"), None);
        assert_eq!(normalize("/etc/passwd"), None);
    }

    #[test]
    fn memory_files_expand_directories_in_order() {
        let files = MemFiles::new(
            "demo",
            [
                ("manifests/b.yaml".to_string(), String::new()),
                ("manifests/a.yml".to_string(), String::new()),
                ("manifests/notes.txt".to_string(), String::new()),
                ("manifests/.hidden.yaml".to_string(), String::new()),
                ("scenario.yaml".to_string(), String::new()),
            ],
        );
        assert_eq!(
            files.expand("manifests/").unwrap(),
            vec!["manifests/a.yml", "manifests/b.yaml"]
        );
        assert_eq!(
            files.expand("./scenario.yaml").unwrap(),
            vec!["scenario.yaml"]
        );
        assert!(files.expand("missing").is_err());
        assert_eq!(files.display("manifests/a.yml"), "demo/manifests/a.yml");
    }
}
