//! `flowlens ingest`: files (or standard input) through the ingest loop into the store.

use crate::cli::{IngestArgs, InputFormatArg};
use anyhow::Result;
use flowlens_ingest::{FileSource, IngestLoop, IngestOptions, StoreSink};
use flowlens_model::Inventory;
use flowlens_pipeline::InputFormat;
use flowlens_policy::Engine;
use indicatif::{ProgressBar, ProgressStyle};
use std::process::ExitCode;
use std::sync::Arc;

/// How many rejected lines are printed; the rest are counted.
const REJECTIONS_SHOWN: usize = 20;

pub fn run(args: IngestArgs) -> Result<ExitCode> {
    let has_inventory = !args.snapshot.is_empty() || args.scenario.is_some();
    let inventory = match &args.scenario {
        Some(name) => (**super::scenario::load_named(name, &args.scale)?.inventory()).clone(),
        None if args.snapshot.is_empty() => Inventory::new(),
        None => crate::snapshot::load(&args.snapshot, &args.options)?.inventory,
    };
    let options = IngestOptions {
        format: match args.format {
            InputFormatArg::Auto => InputFormat::Auto,
            InputFormatArg::Calico => InputFormat::Calico,
            InputFormatArg::Raw => InputFormat::Raw,
        },
        aggregation: args.aggregation.config(),
        reject_raw_records: (!has_inventory).then(|| {
            "a raw flow record needs --snapshot (or --scenario) to be enriched and attributed"
                .to_string()
        }),
        ..IngestOptions::default()
    };
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
    let sink = StoreSink::embedded(store.clone(), rt.handle().clone());
    let mut ingest = IngestLoop::new(Arc::new(Engine::new(inventory)), sink, options);
    ingest.add_source(FileSource::new(args.files.clone(), args.follow));
    ingest.on_progress(|p| {
        let s = p.stats;
        progress.set_message(format!(
            "{}: {} lines, {} accepted, {} rejected, {:.0} lines/s",
            p.input,
            p.lines,
            s.accepted,
            s.rejected,
            p.lines as f64 / p.elapsed.as_secs_f64().max(1e-9)
        ));
        progress.tick();
    });
    let summary = ingest.run();
    if let Some(task) = maintenance {
        task.abort();
    }
    let mut summary = summary?;
    if !summary.failures.is_empty() {
        let failure = summary.failures.remove(0);
        return Err(anyhow::Error::from_boxed(failure.error));
    }
    progress.finish_and_clear();
    let s = &summary.stats;
    let secs = summary.elapsed.as_secs_f64();
    println!(
        "accepted {} lines ({} Calico flow logs, {} raw records) in {:.1}s ({:.0} lines/s); rejected {}",
        s.accepted,
        s.calico_logs,
        s.raw_records,
        secs,
        summary.lines as f64 / secs.max(1e-9),
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
