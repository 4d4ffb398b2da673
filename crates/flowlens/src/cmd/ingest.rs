//! `flowlens ingest`: flow records into the store.

use crate::cli::{IngestArgs, InputFormatArg};
use anyhow::{Context, Result};
use flowlens_model::{FlowLog, Inventory};
use flowlens_pipeline::{Ingest, InputFormat};
use flowlens_policy::Engine;
use flowlens_store::Store;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Logs are appended to the store in batches of this size (each append is one fsync).
const APPEND_BATCH: usize = 50_000;
/// How late a raw record may arrive after newer ones and still join its bucket, in
/// aggregation intervals. Older buckets are closed while the file is read, so memory stays
/// bounded by the data's rate rather than by the file's length.
const LATE_INTERVALS: i64 = 1;
/// How many rejected lines are printed; the rest are counted.
const REJECTIONS_SHOWN: usize = 20;

pub fn run(args: IngestArgs) -> Result<ExitCode> {
    let has_inventory = !args.snapshot.is_empty() || args.scenario.is_some();
    let inventory = match &args.scenario {
        Some(name) => (**super::scenario::load_named(name, &args.scale)?.inventory()).clone(),
        None if args.snapshot.is_empty() => Inventory::new(),
        None => crate::snapshot::load(&args.snapshot, &args.options)?.inventory,
    };
    let config = args.aggregation.config();
    let format = match args.format {
        InputFormatArg::Auto => InputFormat::Auto,
        InputFormatArg::Calico => InputFormat::Calico,
        InputFormatArg::Raw => InputFormat::Raw,
    };
    let interval = config.interval_secs;
    let mut ingest = Ingest::new(Arc::new(Engine::new(inventory)), config, format);
    if !has_inventory {
        ingest.reject_raw_records(
            "a raw flow record needs --snapshot (or --scenario) to be enriched and attributed",
        );
    }
    let rt = super::runtime()?;
    let store = super::open_store(&args.data.data)?;
    let progress = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    progress.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    // A file followed for days is maintained as the server would maintain it.
    let maintenance = args.follow.then(|| {
        let _runtime = rt.enter();
        store.spawn_maintenance(args.retention.policy(), super::MAINTENANCE_EVERY)
    });
    let started = Instant::now();
    let mut pending: Vec<FlowLog> = Vec::new();
    let mut lines_read = 0u64;
    let last = args.files.len().saturating_sub(1);
    for (i, path) in args.files.iter().enumerate() {
        let name = path.display().to_string();
        let mut reader: Box<dyn BufRead> = if name == "-" {
            Box::new(std::io::BufReader::new(std::io::stdin()))
        } else {
            let file = std::fs::File::open(path).with_context(|| format!("cannot open {name}"))?;
            Box::new(std::io::BufReader::with_capacity(1 << 20, file))
        };
        let follow = args.follow && i == last;
        let mut buf = Vec::new();
        let mut number = 0usize;
        let mut last_append = Instant::now();
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .with_context(|| format!("reading {name}"))?;
            if n == 0 {
                if !follow {
                    break;
                }
                // Tailing: emit closed buckets and persist what we have, then wait for more.
                if !pending.is_empty() || last_append.elapsed() > Duration::from_secs(1) {
                    pending.extend(ingest.flush_until(super::now()));
                    append(&rt, &store, &mut pending)?;
                    last_append = Instant::now();
                }
                std::thread::sleep(Duration::from_millis(250));
                continue;
            }
            number += 1;
            lines_read += 1;
            match std::str::from_utf8(&buf) {
                Ok(text) => ingest.line(&name, number, text, &mut pending),
                Err(e) => ingest.reject_line(&name, number, format!("not UTF-8 text: {e}")),
            }
            if lines_read.is_multiple_of(10_000)
                && let Some(newest) = ingest.newest_raw_end()
            {
                pending.extend(ingest.flush_until(newest - LATE_INTERVALS * interval));
            }
            if pending.len() >= APPEND_BATCH {
                append(&rt, &store, &mut pending)?;
            }
            if lines_read.is_multiple_of(100_000) {
                let s = ingest.stats();
                progress.set_message(format!(
                    "{name}: {} lines, {} accepted, {} rejected, {:.0} lines/s",
                    lines_read,
                    s.accepted,
                    s.rejected,
                    lines_read as f64 / started.elapsed().as_secs_f64().max(1e-9)
                ));
                progress.tick();
            }
        }
    }
    if let Some(task) = maintenance {
        task.abort();
    }
    pending.extend(ingest.finish());
    append(&rt, &store, &mut pending)?;
    rt.block_on(store.flush())?;
    progress.finish_and_clear();
    let s = ingest.stats();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "accepted {} lines ({} Calico flow logs, {} raw records) in {:.1}s ({:.0} lines/s); rejected {}",
        s.accepted,
        s.calico_logs,
        s.raw_records,
        secs,
        lines_read as f64 / secs.max(1e-9),
        s.rejected
    );
    if s.raw_records > 0 {
        println!(
            "raw records became {} flow logs ({} with no cluster endpoint at either end were not logged)",
            s.logs_out - s.calico_logs,
            s.unattributed
        );
    }
    println!("stored in {}", args.data.data.display());
    for r in s.rejections.iter().take(REJECTIONS_SHOWN) {
        eprintln!("rejected {r}");
    }
    if s.rejected as usize > REJECTIONS_SHOWN {
        eprintln!(
            "… and {} more rejected lines",
            s.rejected as usize - REJECTIONS_SHOWN
        );
    }
    let retention = args.retention.policy();
    if !args.follow && retention != flowlens_store::RetentionPolicy::default() {
        let report = rt.block_on(store.maintain(retention, super::now()))?;
        super::print_maintenance(&report);
    }
    rt.block_on(store.close())?;
    Ok(if s.rejected > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn append(
    rt: &tokio::runtime::Runtime,
    store: &flowlens_store::EmbeddedStore,
    pending: &mut Vec<FlowLog>,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let batch = std::mem::take(pending);
    rt.block_on(store.append(batch))
        .context("storing flow logs")?;
    Ok(())
}
