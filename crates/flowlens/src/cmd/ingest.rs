//! `flowlens ingest`: files (or standard input) through the ingest loop into the store.

use crate::cli::{IngestArgs, InputFormatArg};
use anyhow::{Context, Result};
use flowlens_ingest::{FileSource, IngestLoop, IngestOptions, StoreSink};
use flowlens_model::Inventory;
use flowlens_pipeline::InputFormat;
use flowlens_policy::Engine;
use flowlens_sources::HubbleFile;
use flowlens_sources::live::{first_line, looks_like_hubble_jsonpb};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
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
            InputFormatArg::Raw | InputFormatArg::Hubble => InputFormat::Raw,
        },
        aggregation: args.aggregation.config(),
        reject_raw_records: (!has_inventory).then(|| {
            "a raw flow record needs --snapshot (or --scenario) to be enriched and attributed"
                .to_string()
        }),
        ..IngestOptions::default()
    };
    let live = super::sources::live_sources(&args.sources)?;
    let (hubble_files, line_files) = split_hubble_files(&args.files, args.format)?;
    if args.follow && !hubble_files.is_empty() {
        anyhow::bail!(
            "--follow reads Calico flow logs and raw records; for Hubble's flows as they happen use --source hubble://HOST:PORT"
        );
    }
    let rt = super::runtime()?;
    let opened = rt.block_on(super::open_any(&args.data))?;
    let retention = args.retention.policy();
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
    let long_running = args.follow || !live.is_empty();
    let maintenance = if long_running {
        let _runtime = rt.enter();
        opened.spawn_maintenance(retention)
    } else {
        None
    };
    let sink = match &opened {
        super::OpenedStore::Embedded(store) => {
            StoreSink::embedded(store.clone(), rt.handle().clone())
        }
        super::OpenedStore::ClickHouse(_) => StoreSink::new(opened.shared(), rt.handle().clone()),
    };
    let mut ingest = IngestLoop::new(Arc::new(Engine::new(inventory)), sink, options);
    if !line_files.is_empty() {
        let stored = if args.from_start {
            Vec::new()
        } else {
            rt.block_on(opened.as_store().read_marks())?
        };
        ingest.add_source(FileSource::new(line_files, args.follow).resuming(stored));
    }
    if !hubble_files.is_empty() {
        ingest.add_source(HubbleFile::new(hubble_files));
    }
    for source in live {
        ingest.add_source(source);
    }
    // Ctrl-C or SIGTERM ends live sources and followed files; what they delivered and the
    // aggregates still open are stored before the command ends.
    if long_running {
        let handle = ingest.handle();
        rt.spawn(async move {
            super::sources::stop_signal().await;
            handle.stop();
        });
    }
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
    for source in summary.sources.iter().filter(|s| s.health.is_some()) {
        let h = source.health.clone().unwrap_or_default();
        println!(
            "{}: {} records, {} dropped, {} duplicates, {} lost upstream, {} sequence gaps, {} errors{}",
            source.name,
            source.records,
            source.dropped + h.dropped,
            h.duplicates,
            h.lost_upstream,
            h.sequence_gaps,
            h.errors,
            h.last_error
                .map(|e| format!(" (last: {e})"))
                .unwrap_or_default()
        );
    }
    for source in &summary.sources {
        if let Some(v) = &source.verdicts {
            println!(
                "{}: the engine's verdict differs from the observer's on {} of {} records compared ({} where the observer credits a policy kind the engine does not model)",
                source.name, v.disagreed, v.compared, v.unmodelled
            );
            for d in v.recent.iter().take(DISAGREEMENTS_SHOWN) {
                println!(
                    "  {} → {}:{}/{} at {}: observer {}{}, engine {}{}",
                    d.source,
                    d.dest,
                    d.dest_port,
                    d.protocol,
                    d.reporter.as_str(),
                    d.observer_action.as_str(),
                    by(&d.observer_policies),
                    d.engine_action.as_str(),
                    by(&d.engine_policies),
                );
            }
        }
    }
    println!("stored in {}", opened.describe());
    for r in s.rejections.iter().take(REJECTIONS_SHOWN) {
        eprintln!("rejected {r}");
    }
    if s.rejected as usize > REJECTIONS_SHOWN {
        eprintln!(
            "… and {} more rejected lines",
            s.rejected as usize - REJECTIONS_SHOWN
        );
    }
    if !args.follow && retention != flowlens_store::RetentionPolicy::default() {
        match &opened {
            super::OpenedStore::Embedded(store) => {
                let report = rt.block_on(store.maintain(retention, super::now()))?;
                super::print_maintenance(&report);
            }
            super::OpenedStore::ClickHouse(store) => {
                let report = rt.block_on(store.apply_retention(retention, super::now()))?;
                super::print_day_retention(&report);
            }
        }
    }
    rt.block_on(opened.close())?;
    Ok(if s.rejected > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// Splits the files into `hubble observe -o jsonpb` output and lines for the decoder:
/// by `--format hubble`, or with `--format auto` by each file's first line.
fn split_hubble_files(
    files: &[PathBuf],
    format: InputFormatArg,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    match format {
        InputFormatArg::Hubble => Ok((files.to_vec(), Vec::new())),
        InputFormatArg::Auto => {
            let mut hubble = Vec::new();
            let mut lines = Vec::new();
            for path in files {
                // Standard input cannot be looked at twice; it is read as lines.
                let is_hubble = path.as_os_str() != "-"
                    && first_line(path)
                        .with_context(|| format!("cannot open {}", path.display()))?
                        .is_some_and(|l| looks_like_hubble_jsonpb(&l));
                if is_hubble {
                    hubble.push(path.clone());
                } else {
                    lines.push(path.clone());
                }
            }
            Ok((hubble, lines))
        }
        _ => Ok((Vec::new(), files.to_vec())),
    }
}

/// How many of a source's latest verdict disagreements the summary lists.
const DISAGREEMENTS_SHOWN: usize = 5;

/// ` by A, B` naming who decided, or nothing.
fn by(policies: &[String]) -> String {
    if policies.is_empty() {
        String::new()
    } else {
        format!(" by {}", policies.join(", "))
    }
}
