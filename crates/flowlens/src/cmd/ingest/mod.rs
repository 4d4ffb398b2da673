//! `flowlens ingest`: flow records into the store. Input is read in blocks of lines that are
//! decoded on every core; their results are counted, attributed (raw records) and appended
//! in input order on this thread.

mod blocks;
mod pool;

use crate::cli::{IngestArgs, InputFormatArg};
use anyhow::{Context, Result};
use blocks::{Blocks, Next, ReadBuffer};
use flowlens_model::{FlowLog, Inventory};
use flowlens_pipeline::{Ingest, InputFormat};
use flowlens_policy::Engine;
use flowlens_store::{BulkLoad, EmbeddedStore, FlowBatch, Store};
use indicatif::{ProgressBar, ProgressStyle};
use pool::{DecodePool, DecodedBlock};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A stream (standard input, a followed file) is appended in batches of this size, or
/// every second when slower, so that what arrives is stored within about a second. Raw
/// records' flow logs are encoded in batches of this size too.
const STREAM_BATCH: usize = 50_000;
/// A bulk load hands the store batches of this size: large enough that encoding each on
/// every core pays, small enough that little is held in memory.
const BULK_BATCH: usize = 64 * 1024;
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
    let mut ingest = Ingest::new(Arc::new(Engine::new(inventory)), config);
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
    let names: Vec<String> = args.files.iter().map(|p| p.display().to_string()).collect();
    let mut pool = DecodePool::new(format);
    let streaming = args.follow || names.iter().any(|n| n == "-");
    // A file read to its end is a bulk load: written into data files as it is read, rather
    // than logged and later rewritten.
    let mut out = if streaming {
        Pending::new(STREAM_BATCH, Some(Duration::from_secs(1)), None)
    } else {
        Pending::new(BULK_BATCH, None, Some(store.bulk_load()))
    };
    let mut lines_read = 0usize;
    // Lines of the current input before the block being taken: blocks are numbered here,
    // in input order, rather than while they are read.
    let (mut current_source, mut lines_before) = (0, 0);
    let mut handle = |block: Result<DecodedBlock>,
                      ingest: &mut Ingest,
                      out: &mut Pending|
     -> Result<ReadBuffer> {
        let mut block = block?;
        let name = &names[block.source];
        if block.source != current_source {
            (current_source, lines_before) = (block.source, 0);
        }
        block.lines.shift_lines(lines_before);
        lines_before += block.lines.lines;
        lines_read += block.lines.lines;
        ingest.take(name, block.lines);
        out.batches.extend(block.calico);
        if let Some(newest) = ingest.newest_raw_end() {
            out.logs
                .extend(ingest.flush_until(newest - LATE_INTERVALS * interval));
        }
        out.append_if_due(&rt, &store)?;
        let s = ingest.stats();
        progress.set_message(format!(
            "{name}: {} lines, {} accepted, {} rejected, {:.0} lines/s",
            lines_read,
            s.accepted,
            s.rejected,
            lines_read as f64 / started.elapsed().as_secs_f64().max(1e-9)
        ));
        progress.tick();
        Ok(block.buffer)
    };
    let last = args.files.len().saturating_sub(1);
    for (i, path) in args.files.iter().enumerate() {
        let name = &names[i];
        let follow = args.follow && i == last;
        let mut blocks =
            Blocks::open(path, follow).with_context(|| format!("cannot open {name}"))?;
        loop {
            match blocks
                .next(follow)
                .with_context(|| format!("reading {name}"))?
            {
                Next::Block(block) => {
                    while pool.is_full() {
                        if let Some(done) = pool.next() {
                            blocks.recycle(handle(done, &mut ingest, &mut out)?);
                        }
                    }
                    pool.submit(i, block)?;
                }
                Next::End if follow => {
                    // Tailing: finish what was read, emit closed buckets and persist
                    // everything, then wait for more.
                    while let Some(done) = pool.next() {
                        blocks.recycle(handle(done, &mut ingest, &mut out)?);
                    }
                    out.logs.extend(ingest.flush_until(super::now()));
                    out.append(&rt, &store)?;
                    std::thread::sleep(Duration::from_millis(250));
                }
                Next::End => break,
            }
        }
    }
    while let Some(done) = pool.next() {
        handle(done, &mut ingest, &mut out)?;
    }
    drop(pool);
    if let Some(task) = maintenance {
        task.abort();
    }
    out.logs.extend(ingest.finish());
    out.append(&rt, &store)?;
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

/// Flow logs read but not yet stored, and the append under way.
struct Pending {
    /// Flow logs encoded: Calico's by the decoding threads, raw records' here.
    batches: FlowBatch,
    /// Flow logs made from raw records, not yet encoded.
    logs: Vec<FlowLog>,
    /// An append starts once this many logs are pending…
    rows_per_append: usize,
    /// … or this long after the last one.
    max_wait: Option<Duration>,
    last_append: Option<Instant>,
    /// Where appends go: a bulk load, or (when `None`) the store's write-ahead log. Taken by
    /// the append under way and handed back when it ends.
    load: Option<BulkLoad>,
    bulk: bool,
    /// The append in progress: reading and decoding go on while it is stored.
    storing: Option<tokio::task::JoinHandle<flowlens_store::Result<Option<BulkLoad>>>>,
}

impl Pending {
    fn new(rows_per_append: usize, max_wait: Option<Duration>, load: Option<BulkLoad>) -> Pending {
        Pending {
            batches: FlowBatch::default(),
            logs: Vec::new(),
            rows_per_append,
            max_wait,
            last_append: None,
            bulk: load.is_some(),
            load,
            storing: None,
        }
    }

    fn rows(&self) -> usize {
        self.logs.len() + self.batches.len()
    }

    /// Encodes the raw records' flow logs gathered so far, so that a large append does not
    /// hold them all as `FlowLog`s.
    fn encode_logs(&mut self) -> Result<()> {
        if !self.logs.is_empty() {
            let logs = FlowBatch::from_logs(&std::mem::take(&mut self.logs))?;
            self.batches.extend(logs);
        }
        Ok(())
    }

    /// Starts an append once enough has gathered or `max_wait` after the last one.
    fn append_if_due(&mut self, rt: &tokio::runtime::Runtime, store: &EmbeddedStore) -> Result<()> {
        if self.logs.len() >= STREAM_BATCH {
            self.encode_logs()?;
        }
        let last = *self.last_append.get_or_insert_with(Instant::now);
        let waited = self.max_wait.is_some_and(|wait| last.elapsed() >= wait);
        if self.rows() >= self.rows_per_append || waited {
            self.start_append(rt, store)?;
        }
        Ok(())
    }

    /// Starts appending everything pending, after the append before it has finished (one at
    /// a time, so batches are stored in the order they were read).
    fn start_append(&mut self, rt: &tokio::runtime::Runtime, store: &EmbeddedStore) -> Result<()> {
        self.last_append = Some(Instant::now());
        self.encode_logs()?;
        if self.batches.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batches);
        self.wait(rt)?;
        let store = store.clone();
        self.storing = Some(match self.load.take() {
            Some(mut load) => rt.spawn_blocking(move || load.append(batch).map(|_| Some(load))),
            None => rt.spawn(async move { store.append_batch(batch).await.map(|_| None) }),
        });
        Ok(())
    }

    /// Waits for the append in progress, if any.
    fn wait(&mut self, rt: &tokio::runtime::Runtime) -> Result<()> {
        if let Some(task) = self.storing.take() {
            self.load = rt
                .block_on(task)
                .context("storing flow logs")?
                .context("storing flow logs")?;
        }
        Ok(())
    }

    /// Appends everything pending and waits until it is stored; a bulk load's last file is
    /// finished.
    fn append(&mut self, rt: &tokio::runtime::Runtime, store: &EmbeddedStore) -> Result<()> {
        self.start_append(rt, store)?;
        self.wait(rt)?;
        if self.bulk {
            if let Some(load) = self.load.take() {
                load.finish().context("storing flow logs")?;
            }
            self.load = Some(store.bulk_load());
        }
        Ok(())
    }
}
