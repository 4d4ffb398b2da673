//! `flowlens store copy`: moving history from one store into another.

use super::{OpenedStore, StoreLocation, open_location};
use crate::cli::{QueryMemoryOptions, StoreCopyArgs, StoreOptions};
use anyhow::{Context, Result, bail};
use flowlens_store::{CopyOptions, CopyProgress, copy_flows};
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How often progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

pub fn run(args: StoreCopyArgs) -> Result<ExitCode> {
    let location = |address: &str| -> Result<StoreLocation> {
        let options = StoreOptions {
            store: Some(address.to_string()),
            store_password_file: args
                .store_password_file
                .clone()
                .filter(|_| flowlens_store_clickhouse::ClickHouseConfig::is_address(address)),
        };
        Ok(
            StoreLocation::of_store(&options, &QueryMemoryOptions::default())?
                .expect("a store address was given"),
        )
    };
    let (from, to) = (location(&args.from)?, location(&args.to)?);
    // A mistyped source directory must not be created empty and "copied".
    let identity = match &from {
        StoreLocation::Directory(dir, _) => {
            let meta = std::fs::metadata(dir)
                .with_context(|| format!("--from: no data directory at {}", dir.display()))?;
            if !meta.is_dir() {
                bail!("--from: {} is not a data directory", dir.display());
            }
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        }
        StoreLocation::ClickHouse(_) => (0, 0),
    };
    let runtime = super::runtime()?;
    let done = runtime.block_on(async {
        let from = open_location(&from).await.context("--from")?;
        let to = open_location(&to).await.context("--to")?;
        let source = source_name(&from)?;
        if source == to.describe() {
            bail!("--from and --to are the same store");
        }
        eprintln!("copying {source} into {}", to.describe());
        let options = CopyOptions {
            source,
            identity,
            batch: args.batch,
        };
        let started = Instant::now();
        let mut last = Instant::now();
        let done = copy_flows(from.as_store(), to.as_store(), &options, |p| {
            if last.elapsed() >= PROGRESS_EVERY {
                eprintln!("{}", progress_line(&p, started.elapsed()));
                last = Instant::now();
            }
            ControlFlow::Continue(())
        })
        .await
        .context("copying the flow logs (run the same command again to resume)")?;
        from.close().await?;
        to.close().await?;
        Ok::<_, anyhow::Error>((done, started.elapsed()))
    })?;
    let (done, took) = done;
    println!("{}", progress_line(&done, took));
    if done.this_run == 0 {
        println!("nothing to copy: every flow log of the source is in the destination");
    }
    Ok(ExitCode::SUCCESS)
}

/// How the destination's marks name the source: a directory by its absolute path, a
/// ClickHouse store by its address (without the password).
fn source_name(from: &OpenedStore) -> Result<String> {
    Ok(match from {
        OpenedStore::Embedded(s) => std::fs::canonicalize(s.dir())
            .with_context(|| format!("--from: {}", s.dir().display()))?
            .display()
            .to_string(),
        OpenedStore::ClickHouse(_) => from.describe(),
    })
}

fn progress_line(p: &CopyProgress, took: Duration) -> String {
    let rate = p.this_run as f64 / took.as_secs_f64().max(1e-3);
    format!(
        "{} of {} flow logs copied ({} by this run, {rate:.0}/s)",
        p.copied, p.total, p.this_run
    )
}
