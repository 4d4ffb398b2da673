//! Finding the built-in scenarios.
//!
//! The scenarios directory is the first of these that exists:
//! 1. `$FLOWLENS_SCENARIOS`;
//! 2. `./scenarios` (running from a checkout or a release archive);
//! 3. `scenarios` next to the executable, then `../share/flowlens/scenarios` relative to it
//!    (installed layouts);
//! 4. the source tree's `scenarios/` (development builds and tests): under `cargo run` or
//!    `cargo test` the package directory cargo names at run time, then the one the binary
//!    was compiled in.
//!
//! `scale` is built in code and always available. A binary that embeds the scenario files
//! can load them with [`Scenario::from_files`] instead.

use crate::error::{Error, Result};
use crate::scale::ScaleParams;
use crate::scenario::{SCENARIO_FILE, Scenario};
use crate::spec::parse_summary;
use std::path::{Path, PathBuf};

/// The environment variable that points at a scenarios directory.
pub const SCENARIOS_ENV: &str = "FLOWLENS_SCENARIOS";

/// The generated scenario's name.
pub const SCALE: &str = "scale";

const SCALE_DESCRIPTION: &str = "A generated cluster of any size (namespaces, workloads, policies in tiers, flows per second), deterministic by seed";

/// The scenarios directory, found as the module documentation says.
pub fn scenarios_dir() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os(SCENARIOS_ENV) {
        candidates.push(PathBuf::from(dir));
    }
    candidates.push(PathBuf::from("scenarios"));
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        candidates.push(exe_dir.join("scenarios"));
        candidates.push(exe_dir.join("../share/flowlens/scenarios"));
    }
    // The run-time directory first: a shared build cache may hold a binary compiled in
    // another checkout.
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        candidates.push(PathBuf::from(dir).join("../../scenarios"));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios"));
    candidates.into_iter().find(|c| c.is_dir())
}

/// `(name, description)` of every built-in scenario: those in the scenarios directory, and
/// `scale`.
pub fn list_builtin() -> Vec<(String, String)> {
    let mut out = scenarios_dir().map(|d| list_in(&d)).unwrap_or_default();
    out.push((SCALE.to_owned(), SCALE_DESCRIPTION.to_owned()));
    out
}

/// `(name, description)` of the scenarios in a directory: each subdirectory with a readable
/// `scenario.yaml`, by directory name.
pub fn list_in(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(e.path().join(SCENARIO_FILE)).ok()?;
            let summary = parse_summary(&text)?;
            Some((name, summary.description))
        })
        .collect();
    out.sort();
    out
}

impl Scenario {
    /// A built-in scenario by name: `scale` (with [`ScaleParams::default`]) or a directory of
    /// the scenarios directory.
    pub fn builtin(name: &str) -> Result<Scenario> {
        if name == SCALE {
            return Scenario::scale(&ScaleParams::default());
        }
        let dir = scenarios_dir().ok_or(Error::NoScenariosDir)?;
        Scenario::builtin_in(&dir, name)
    }

    /// A scenario of an explicit scenarios directory.
    pub fn builtin_in(dir: &Path, name: &str) -> Result<Scenario> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid || !dir.join(name).join(SCENARIO_FILE).is_file() {
            let mut names: Vec<String> = list_in(dir).into_iter().map(|(n, _)| n).collect();
            names.push(SCALE.to_owned());
            return Err(Error::UnknownScenario {
                name: name.to_owned(),
                available: names.join(", "),
            });
        }
        Scenario::load(dir.join(name))
    }
}
