//! The loop: takes the sources' inputs from the queue in order, decodes blocks of lines on
//! every core, runs records through the pipeline (attribution, aggregation) and hands the
//! flow logs to the sink in batches.

use crate::blocks::Block;
use crate::error::{IngestError, Result};
use crate::handle::{Control, IngestHandle, IngestTask, Shared, SourceEntry};
use crate::pending::Pending;
use crate::pool::{DecodePool, DecodedBlock};
use crate::sink::Sink;
use crate::source::{
    Feed, Input, Message, Pace, Source, SourceCounters, SourceError, SourceState, SourceStatus,
};
use crate::verdicts::{self, Compared};
use flowlens_model::RawFlow;
use flowlens_pipeline::{
    AggregationConfig, Attributed, DecodedLines, Ingest, IngestStats, InputFormat, LINE_TOO_LONG,
};
use flowlens_policy::Engine;
use flowlens_store::ReadMark;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How late a raw record may arrive after newer ones of its source and still join its
/// bucket, in aggregation intervals. Older buckets are closed as the data's clock moves, so
/// memory stays bounded by the data's rate rather than by the input's length.
const LATE_INTERVALS: i64 = 1;
/// How often an idle loop looks at what is pending (live batches wait at most a second).
const IDLE_TICK: Duration = Duration::from_millis(200);

/// How a run decodes and aggregates.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// How lines are decoded.
    pub format: InputFormat,
    pub aggregation: AggregationConfig,
    /// When set, raw records are rejected with this reason instead of attributed (a run
    /// with no inventory to attribute them with).
    pub reject_raw_records: Option<String>,
    /// Inputs queued between the sources and the loop at most (a block of lines is about
    /// 4 MB).
    pub queue: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            format: InputFormat::Auto,
            aggregation: AggregationConfig::default(),
            reject_raw_records: None,
            queue: 16,
        }
    }
}

/// Where a run stands, for a progress line.
pub struct Progress<'a> {
    /// The input the last block or batch came from.
    pub input: &'a str,
    /// Lines read so far (blank ones included).
    pub lines: u64,
    pub stats: &'a IngestStats,
    pub elapsed: Duration,
}

/// What a run did.
#[derive(Debug)]
pub struct IngestSummary {
    /// What went in and came out, with the first rejected lines and why.
    pub stats: IngestStats,
    /// Lines read (blank ones included).
    pub lines: u64,
    pub elapsed: Duration,
    pub sources: Vec<SourceStatus>,
    /// Sources that stopped with an error; what they pushed before is stored.
    pub failures: Vec<SourceFailure>,
    /// What sources warned about (the first [`WARNINGS_KEPT`]), each after the name of its
    /// input.
    pub warnings: Vec<String>,
}

/// How many warnings a summary keeps; all are logged.
pub const WARNINGS_KEPT: usize = 100;

/// A source that stopped with an error.
#[derive(Debug)]
pub struct SourceFailure {
    pub source: String,
    pub error: SourceError,
}

type ProgressFn<'a> = Box<dyn FnMut(&Progress<'_>) + Send + 'a>;

/// The one ingest loop: sources → decode → attribute → aggregate → sink.
pub struct IngestLoop<'a> {
    engine: Arc<Engine>,
    sink: Box<dyn Sink + 'a>,
    options: IngestOptions,
    sources: Vec<Box<dyn Source>>,
    shared: Arc<Shared>,
    control: (Sender<Control>, Receiver<Control>),
    progress: Option<ProgressFn<'a>>,
}

impl<'a> IngestLoop<'a> {
    /// A loop attributing raw records with `engine` and storing into `sink`.
    pub fn new(engine: Arc<Engine>, sink: impl Sink + 'a, options: IngestOptions) -> Self {
        IngestLoop {
            engine,
            sink: Box::new(sink),
            options,
            sources: Vec::new(),
            shared: Arc::new(Shared {
                stopping: Arc::new(AtomicBool::new(false)),
                sources: Mutex::new(Vec::new()),
            }),
            control: mpsc::channel(),
            progress: None,
        }
    }

    /// Adds a source; it starts when the loop does.
    pub fn add_source(&mut self, source: impl Source) -> &mut Self {
        self.shared
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(SourceEntry {
                name: source.name(),
                kind: source.kind(),
                pace: source.pace(),
                health: source.health(),
                state: SourceState::Running,
                counters: Arc::new(SourceCounters::default()),
            });
        self.sources.push(Box::new(source));
        self
    }

    /// Calls `f` after every block or batch the loop takes in.
    pub fn on_progress(&mut self, f: impl FnMut(&Progress<'_>) + Send + 'a) -> &mut Self {
        self.progress = Some(Box::new(f));
        self
    }

    pub fn handle(&self) -> IngestHandle {
        IngestHandle {
            control: self.control.0.clone(),
            shared: self.shared.clone(),
        }
    }

    /// Runs the loop on this thread until every source has ended. Must not be called from
    /// a thread of the runtime the sink uses.
    pub fn run(self) -> Result<IngestSummary> {
        let IngestLoop {
            engine,
            mut sink,
            options,
            sources,
            shared,
            control,
            progress,
        } = self;
        drop(control.0);
        let read_to_end =
            !sources.is_empty() && sources.iter().all(|s| s.pace() == Pace::ReadToEnd);
        sink.start(read_to_end)?;
        let (queue, inputs) = mpsc::sync_channel::<Message>(options.queue.max(1));
        let mut states = Vec::with_capacity(sources.len());
        for (id, source) in sources.into_iter().enumerate() {
            let (spare_tx, spare_rx) = mpsc::channel();
            let (name, counters) = {
                let entries = shared.sources.lock().unwrap_or_else(|e| e.into_inner());
                (entries[id].name.clone(), entries[id].counters.clone())
            };
            let feed = Feed::new(
                id,
                queue.clone(),
                counters.clone(),
                spare_rx,
                shared.stopping.clone(),
            );
            spawn_source(id, &name, source, feed, queue.clone())?;
            states.push(SourceRun {
                input: name,
                lines_before: 0,
                records_before: 0,
                counters,
                spare: spare_tx,
                read: None,
            });
        }
        drop(queue);
        let interval = options.aggregation.interval_secs.max(1);
        let mut ingest = Ingest::new(engine, options.aggregation);
        if let Some(reason) = options.reject_raw_records {
            ingest.reject_raw_records(reason);
        }
        let mut run = Run {
            ingest,
            pending: Pending::new(read_to_end),
            sink: &mut *sink,
            pool: None,
            format: options.format,
            sources: states,
            lines: 0,
            read_to_end,
            late: LATE_INTERVALS * interval,
            source_clock: i64::MIN,
            started: Instant::now(),
            progress,
            failures: Vec::new(),
            warnings: Vec::new(),
            shared: &shared,
        };
        let result = run.take_all(&inputs, &control.1);
        if result.is_err() {
            // Sources waiting on a full queue see it closed once `inputs` is dropped.
            shared.stopping.store(true, Ordering::Relaxed);
        }
        result?;
        run.finish()?;
        let Run {
            ingest,
            lines,
            started,
            failures,
            warnings,
            ..
        } = run;
        Ok(IngestSummary {
            stats: ingest.stats().clone(),
            lines,
            elapsed: started.elapsed(),
            sources: shared.statuses(),
            failures,
            warnings,
        })
    }
}

impl IngestLoop<'static> {
    /// Runs the loop on a thread of its own.
    pub fn spawn(self) -> Result<IngestTask> {
        let handle = self.handle();
        let thread = std::thread::Builder::new()
            .name("ingest".into())
            .spawn(move || {
                let result = self.run();
                if let Err(e) = &result {
                    tracing::error!("the ingest loop stopped: {e}");
                }
                result
            })
            .map_err(IngestError::Thread)?;
        Ok(IngestTask { handle, thread })
    }
}

/// Runs a source on its own thread; its `Ended` message follows everything it pushed.
fn spawn_source(
    id: usize,
    name: &str,
    source: Box<dyn Source>,
    feed: Feed,
    queue: mpsc::SyncSender<Message>,
) -> Result<()> {
    let thread_name: String = format!("source {name}").chars().take(60).collect();
    std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || {
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| source.run(feed)));
            let error = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some("the source panicked".into()),
            };
            let _ = queue.send(Message::Ended(id, error));
        })
        .map_err(IngestError::Thread)?;
    Ok(())
}

/// One source during a run.
struct SourceRun {
    /// The input its lines come from, for rejected lines.
    input: String,
    /// Lines of the current input before the block being taken: blocks are numbered here,
    /// in input order, rather than while they are read.
    lines_before: usize,
    /// Records taken so far, to number records in rejections.
    records_before: usize,
    counters: Arc<SourceCounters>,
    /// Where buffers of decoded blocks go back to.
    spare: Sender<Vec<u8>>,
    /// How far the current input (a file) has been taken, when it has a place to resume
    /// from: stored with the rows once nothing taken from it is held in an open aggregate.
    read: Option<ReadMark>,
}

/// The loop's state while it runs.
struct Run<'r, 'a> {
    ingest: Ingest,
    pending: Pending,
    sink: &'r mut (dyn Sink + 'a),
    /// Started at the first block of lines.
    pool: Option<DecodePool>,
    format: InputFormat,
    sources: Vec<SourceRun>,
    lines: u64,
    read_to_end: bool,
    /// How far behind the newest raw record buckets stay open, in seconds.
    late: i64,
    /// The newest source clock (watermark) seen: records are held against it or the wall
    /// clock, whichever is later, so a scenario played faster than real time is not
    /// rejected as "in the future".
    source_clock: i64,
    started: Instant,
    progress: Option<ProgressFn<'a>>,
    failures: Vec<SourceFailure>,
    warnings: Vec<String>,
    shared: &'r Shared,
}

impl Run<'_, '_> {
    /// Takes inputs until every source has ended.
    fn take_all(&mut self, inputs: &Receiver<Message>, control: &Receiver<Control>) -> Result<()> {
        loop {
            let message = if self.in_flight() {
                match inputs.try_recv() {
                    Ok(message) => message,
                    Err(TryRecvError::Empty) => {
                        self.take_decoded()?;
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => break,
                }
            } else {
                match inputs.recv_timeout(IDLE_TICK) {
                    Ok(message) => message,
                    Err(RecvTimeoutError::Timeout) => {
                        self.take_controls(control)?;
                        self.pending.append_if_due(self.sink)?;
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            // A change made before this input was pushed applies to it.
            self.take_controls(control)?;
            match message {
                Message::Input(id, Input::Lines(block)) => self.submit(id, block)?,
                Message::Input(id, input) => {
                    // Everything a source pushed before is taken first.
                    self.drain()?;
                    self.take(id, input)?;
                }
                Message::Sync(done) => {
                    self.drain()?;
                    self.pending.append(self.sink)?;
                    self.sink.commit()?;
                    let _ = done.send(());
                }
                Message::Ended(id, error) => {
                    self.drain()?;
                    let state = match error {
                        None => SourceState::Ended,
                        Some(error) => {
                            let name = self.shared.statuses()[id].name.clone();
                            let state = SourceState::Failed(error.to_string());
                            self.failures.push(SourceFailure {
                                source: name,
                                error,
                            });
                            state
                        }
                    };
                    self.shared.set_state(id, state);
                }
            }
        }
        self.drain()
    }

    fn take_controls(&mut self, control: &Receiver<Control>) -> Result<()> {
        while let Ok(Control::SetEngine(engine)) = control.try_recv() {
            self.drain()?;
            let closed = self.ingest.set_engine(engine);
            self.pending.add_logs(closed);
        }
        Ok(())
    }

    /// Everything still open is closed and stored.
    fn finish(&mut self) -> Result<()> {
        let rest = self.ingest.finish();
        self.pending.add_logs(rest);
        self.mark_taken_inputs();
        self.pending.append(self.sink)?;
        self.sink.finish()
    }

    fn in_flight(&self) -> bool {
        self.pool.as_ref().is_some_and(|p| p.in_flight() > 0)
    }

    fn submit(&mut self, source: usize, block: Block) -> Result<()> {
        let format = self.format;
        while self.pool.as_ref().is_some_and(DecodePool::is_full) {
            self.take_decoded()?;
        }
        self.pool
            .get_or_insert_with(|| DecodePool::new(format))
            .submit(source, block)
    }

    /// Takes every block in flight.
    fn drain(&mut self) -> Result<()> {
        while self.in_flight() {
            self.take_decoded()?;
        }
        Ok(())
    }

    /// Takes the next decoded block, in input order.
    fn take_decoded(&mut self) -> Result<()> {
        let Some(done) = self.pool.as_mut().and_then(DecodePool::next) else {
            return Ok(());
        };
        let DecodedBlock {
            source,
            calico,
            mut lines,
            buffer,
            end,
        } = done?;
        let s = &mut self.sources[source];
        lines.shift_lines(s.lines_before);
        s.lines_before += lines.lines;
        if let (Some(read), Some(end)) = (&mut s.read, end) {
            read.offset = end;
            read.lines = s.lines_before as u64;
        }
        self.lines += lines.lines as u64;
        self.pending.add_encoded(calico);
        self.take_lines(source, lines);
        let _ = self.sources[source].spare.send(buffer);
        self.after_input(source)
    }

    fn take(&mut self, source: usize, input: Input) -> Result<()> {
        self.refresh_clock();
        match input {
            Input::Begin(name) => {
                let s = &mut self.sources[source];
                s.input = name;
                s.lines_before = 0;
                s.records_before = 0;
                s.read = None;
                Ok(())
            }
            Input::At(at) => {
                let s = &mut self.sources[source];
                s.lines_before = at.lines as usize;
                s.read = Some(at);
                Ok(())
            }
            // Blocks go through the decoding pool.
            Input::Lines(block) => self.submit(source, block),
            Input::Records(records) => {
                self.take_raw(source, &records, |raw| raw, |_, _, _| {});
                self.after_input(source)
            }
            Input::Observed(records) => {
                let counters = Arc::clone(&self.sources[source].counters);
                // Records of one input are attributed by one engine: a swap comes as an input.
                let engine = Arc::clone(self.ingest.engine());
                let tally = &counters.verdicts;
                let mut disagreeing = Vec::new();
                self.take_raw(
                    source,
                    &records,
                    |record| &record.raw,
                    |i, record, attributed| match verdicts::compare(&engine, record, attributed) {
                        Compared::Not => {}
                        Compared::Agree => tally.agree(),
                        Compared::Disagree => {
                            tally.disagree(record.observer.unmodelled);
                            disagreeing.push(i);
                        }
                    },
                );
                // Only the latest are shown: only those are spelled out.
                let kept = disagreeing.len().saturating_sub(verdicts::RECENT);
                for &i in &disagreeing[kept..] {
                    if let Some(d) = verdicts::disagreement(&engine, &records[i]) {
                        tally.keep(d);
                    }
                }
                self.after_input(source)
            }
            Input::FlowLogs(logs) => {
                let (name, before) = {
                    let s = &mut self.sources[source];
                    let before = s.records_before;
                    s.records_before += logs.len();
                    (s.input.clone(), before)
                };
                let counted = self.counted();
                let logs = self.ingest.plausible_logs(&name, before + 1, logs);
                self.count(source, counted);
                let n = logs.len();
                let counted = DecodedLines {
                    lines: n,
                    calico: n,
                    ..DecodedLines::default()
                };
                self.take_lines(source, counted);
                self.pending.add_logs(logs);
                self.after_input(source)
            }
            Input::LineTooLong => {
                // Taken after the blocks before it (see `take_all`): its number is known.
                let s = &mut self.sources[source];
                s.lines_before += 1;
                let (name, number) = (s.input.clone(), s.lines_before);
                self.lines += 1;
                let counted = self.counted();
                self.ingest
                    .reject_line(&name, number, LINE_TOO_LONG.to_string());
                self.count(source, counted);
                Ok(())
            }
            Input::Warning(message) => {
                let warning = format!("{}: {message}", self.sources[source].input);
                tracing::warn!("{warning}");
                if self.warnings.len() < WARNINGS_KEPT {
                    self.warnings.push(warning);
                }
                Ok(())
            }
            Input::Rejected { number, reason } => {
                let name = self.sources[source].input.clone();
                let counted = self.counted();
                self.ingest.reject_line(&name, number, reason);
                self.count(source, counted);
                Ok(())
            }
            Input::Engine(engine) => {
                let closed = self.ingest.set_engine(engine);
                self.pending.add_logs(closed);
                Ok(())
            }
            Input::Watermark(time) => {
                self.source_clock = self.source_clock.max(time);
                let closed = self.ingest.flush_until(time);
                self.pending.add_logs(closed);
                self.pending.append(self.sink)?;
                if self.read_to_end {
                    Ok(())
                } else {
                    self.sink.wait()
                }
            }
        }
    }

    /// Records are held against the wall clock, or the sources' own when it is later.
    fn refresh_clock(&mut self) {
        let now = flowlens_pipeline::clock::wall_clock().max(self.source_clock);
        self.ingest.set_clock(now);
    }

    /// Counts a decoded block and runs its raw records through the pipeline.
    fn take_lines(&mut self, source: usize, lines: DecodedLines) {
        self.refresh_clock();
        let counted = self.counted();
        let name = std::mem::take(&mut self.sources[source].input);
        self.ingest.take(&name, lines);
        self.sources[source].input = name;
        self.count(source, counted);
    }

    /// Attributes and aggregates a source's raw records, numbered on from its earlier ones,
    /// handing each record's attribution to `attributed` (with the record's index in
    /// `records`), and counts them for the source.
    fn take_raw<T>(
        &mut self,
        source: usize,
        records: &[T],
        raw: impl Fn(&T) -> &RawFlow,
        mut attributed: impl FnMut(usize, &T, &[Attributed]),
    ) {
        let (before, name) = {
            let s = &self.sources[source];
            (s.records_before, s.input.clone())
        };
        let counted = self.counted();
        for (i, record) in records.iter().enumerate() {
            attributed(
                i,
                record,
                self.ingest.raw(&name, before + i + 1, raw(record)),
            );
        }
        self.sources[source].records_before += records.len();
        self.count(source, counted);
    }

    /// (accepted, rejected) so far.
    fn counted(&self) -> (u64, u64) {
        let s = self.ingest.stats();
        (s.accepted, s.rejected)
    }

    /// Adds what was accepted and rejected since `before` to the source's counters.
    fn count(&self, source: usize, before: (u64, u64)) {
        let (accepted, rejected) = self.counted();
        let counters = &self.sources[source].counters;
        counters.add_records(accepted - before.0);
        if rejected > before.1 {
            counters.add_rejected(rejected - before.1);
        }
    }

    /// Marks how far each input with a place to resume from has been taken, to be stored
    /// with what is pending. Only while no aggregate is open: an open aggregate holds raw
    /// records read before the mark, which would be lost if a later run resumed after it.
    fn mark_taken_inputs(&mut self) {
        if self.ingest.holds_open_aggregates() {
            return;
        }
        for s in &self.sources {
            if let Some(read) = &s.read {
                self.pending.mark(read.clone());
            }
        }
    }

    /// Closes the buckets the data's clock has passed, appends when due, reports progress.
    fn after_input(&mut self, source: usize) -> Result<()> {
        if let Some(newest) = self.ingest.newest_raw_end() {
            let closed = self.ingest.flush_until(newest - self.late);
            self.pending.add_logs(closed);
        }
        self.mark_taken_inputs();
        self.pending.append_if_due(self.sink)?;
        if let Some(progress) = &mut self.progress {
            progress(&Progress {
                input: &self.sources[source].input,
                lines: self.lines,
                stats: self.ingest.stats(),
                elapsed: self.started.elapsed(),
            });
        }
        Ok(())
    }
}
