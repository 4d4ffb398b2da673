//! Loading a snapshot with the command line's options.

use crate::cli::SnapshotOptions;
use anyhow::{Result, anyhow};
use flowlens_manifests::{LoadOptions, Loaded};
use std::path::PathBuf;

pub fn load(paths: &[PathBuf], options: &SnapshotOptions) -> Result<Loaded> {
    let opts = LoadOptions {
        default_namespace: options.namespace.clone(),
        pod_cidr: options.pod_cidr,
        service_cidr: options.service_cidr,
        skip_invalid_objects: !options.strict,
    };
    let loaded = flowlens_manifests::load_paths(paths, &opts).map_err(|errors| {
        if options.strict {
            anyhow!("the snapshot has errors; nothing was loaded (--strict):\n{errors}")
        } else {
            anyhow!(
                "the snapshot has errors that stop loading; nothing was loaded. Errors in \
                 policies, tiers and host endpoints, and documents that are not valid YAML, are \
                 never skipped: leaving one out would change verdicts silently. Fix these:\n{errors}"
            )
        }
    })?;
    for warning in &loaded.report.warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(summary) = skipped_summary(&loaded.report) {
        eprintln!("warning: {summary}");
    }
    Ok(loaded)
}

/// `skipped 2 objects with errors (Deployment ×1, Service ×1); --strict refuses them`.
pub fn skipped_summary(report: &flowlens_manifests::LoadReport) -> Option<String> {
    if report.skipped_invalid.is_empty() {
        return None;
    }
    let kinds: Vec<String> = report
        .skipped_invalid
        .iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect();
    let total: usize = report.skipped_invalid.values().sum();
    let objects = if total == 1 { "object" } else { "objects" };
    Some(format!(
        "skipped {total} {objects} with errors ({}); the rest is loaded; --strict refuses them",
        kinds.join(", ")
    ))
}
