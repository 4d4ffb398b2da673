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
    };
    let loaded = flowlens_manifests::load_paths(paths, &opts)
        .map_err(|errors| anyhow!("the snapshot has errors; nothing was loaded:\n{errors}"))?;
    for warning in &loaded.report.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(loaded)
}
