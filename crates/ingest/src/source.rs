//! What a source is and how it hands its input to the loop: the [`Source`] trait, the
//! [`Input`]s it pushes, and the [`Feed`] it pushes them through (a bounded queue shared by
//! every source of a run, with per-source counters).

use crate::blocks::Block;
use crate::rate::RateWindow;
use crate::verdicts::{ObservedRecord, VerdictComparison, VerdictCounters};
use flowlens_model::{FlowLog, RawFlow};
use flowlens_policy::Engine;
use flowlens_store::ReadMark;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a source stopped before its input ended. The loop stores what the source pushed
/// before it failed and reports the error with the source's name.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// A producer of flow input: files, standard input, the simulator, a network receiver, a
/// cluster watch. See the crate documentation for how one plugs in.
pub trait Source: Send + 'static {
    /// How counters, errors and rejected lines name the source (`flows.log`, `-`,
    /// `scenario fme`, `goldmane://host:7443`).
    fn name(&self) -> String;

    /// Whether the source ends after a known input or delivers records as they happen.
    fn pace(&self) -> Pace;

    /// What kind of source this is, as `/api/sources` and the metrics name it (`file`,
    /// `simulator`, `goldmane`, `ipfix`, …).
    fn kind(&self) -> &'static str {
        "other"
    }

    /// Figures only the source itself knows (its connection, what it lost before the
    /// queue), read whenever its counters are. Network sources have them; files do not.
    fn health(&self) -> Option<Arc<dyn HealthProbe>> {
        None
    }

    /// Pushes the source's input into `feed` until it ends, [`Feed::is_stopping`] turns true
    /// or a push fails (the loop has ended). Runs on a thread of its own; a source that
    /// talks async runs its own runtime there, or hands `feed` to its tasks.
    fn run(self: Box<Self>, feed: Feed) -> Result<(), SourceError>;
}

/// How a source delivers its input, which decides how the loop stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// A known input read as fast as it can be (a file read to its end, a simulation of a
    /// fixed length). When every source of a run reads to an end, an embedded store takes
    /// the rows as a bulk load: written straight into data files, not through the
    /// write-ahead log.
    ReadToEnd,
    /// Records as they happen (a followed file, standard input, a network receiver, the
    /// live demo). Stored through the write-ahead log within about a second.
    Live,
}

/// What a source pushes. Inputs of one source are handled in the order they were pushed.
pub enum Input {
    /// The source starts a new input (a file): its lines are numbered from 1 and rejected
    /// lines name it.
    Begin(String),
    /// The current input is this file, read from `offset` on (after line `lines`): its
    /// lines are numbered on from there, and how far it is stored is kept with the rows,
    /// so a later run resumes after them (see [`ReadMark`]).
    At(ReadMark),
    /// Whole lines, one JSON document each (Calico flow logs or raw records, as the run's
    /// [`InputFormat`](flowlens_pipeline::InputFormat) says), decoded on every core.
    Lines(Block),
    /// Raw 5-tuple records: enriched, attributed by the engine and aggregated.
    Records(Vec<RawFlow>),
    /// Raw records with an observer's verdict (Hubble's): handled like
    /// [`Input::Records`], and the engine's verdict at the observing end is held against
    /// the observer's ([`SourceStatus::verdicts`]).
    Observed(Vec<ObservedRecord>),
    /// Flow logs that were attributed where they were made (Calico's own): stored as they
    /// are.
    FlowLogs(Vec<FlowLog>),
    /// The inventory changed at this point of the source's input: aggregates open so far
    /// are closed under the old engine, and records after this are attributed with this
    /// one.
    Engine(Arc<Engine>),
    /// A line longer than [`MAX_LINE_BYTES`](flowlens_pipeline::MAX_LINE_BYTES) was skipped
    /// here, after the lines pushed before: numbered and rejected like a malformed line.
    LineTooLong,
    /// Something about the source's current input that its user should know (a file that
    /// shrank while it was read): logged and kept in the run's summary.
    Warning(String),
    /// A record of the source's current input that could not be used, with its number
    /// (one-based) and why: counted and listed like a malformed line.
    Rejected { number: usize, reason: String },
    /// The source's clock: no record ending before this time (unix seconds) follows.
    /// Aggregates whose time bucket ended by then are closed, and in a live run what is
    /// pending is stored before the loop goes on.
    Watermark(i64),
}

/// What travels from the feeds to the loop.
pub(crate) enum Message {
    Input(usize, Input),
    /// Answered once everything queued before it is stored.
    Sync(std::sync::mpsc::Sender<()>),
    /// A source's `run` returned.
    Ended(usize, Option<SourceError>),
}

/// A source's end of the queue into the loop. The queue is bounded: [`push`](Feed::push)
/// waits for room (backpressure for files and the simulator), [`try_push`](Feed::try_push)
/// drops and counts instead (for receivers that must keep reading the network).
#[derive(Clone)]
pub struct Feed {
    id: usize,
    queue: SyncSender<Message>,
    counters: Arc<SourceCounters>,
    /// Buffers of decoded blocks, handed back to read into again.
    spare: Arc<Mutex<Receiver<Vec<u8>>>>,
    stopping: Arc<AtomicBool>,
}

/// The loop has ended (or failed): nothing more can be pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the ingest loop has ended")]
pub struct Closed;

impl Feed {
    pub(crate) fn new(
        id: usize,
        queue: SyncSender<Message>,
        counters: Arc<SourceCounters>,
        spare: Receiver<Vec<u8>>,
        stopping: Arc<AtomicBool>,
    ) -> Feed {
        Feed {
            id,
            queue,
            counters,
            spare: Arc::new(Mutex::new(spare)),
            stopping,
        }
    }

    /// Queues `input`, waiting while the queue is full.
    pub fn push(&self, input: Input) -> Result<(), Closed> {
        self.queue
            .send(Message::Input(self.id, input))
            .map_err(|_| Closed)
    }

    /// Queues `input` if there is room; otherwise drops it, adds the records it held to the
    /// source's `dropped` counter and returns `Ok(false)`.
    pub fn try_push(&self, input: Input) -> Result<bool, Closed> {
        let records = match &input {
            Input::Records(r) => r.len(),
            Input::Observed(r) => r.len(),
            Input::FlowLogs(l) => l.len(),
            Input::Lines(b) => memchr::memchr_iter(b'\n', b.bytes()).count().max(1),
            _ => 0,
        };
        match self.queue.try_send(Message::Input(self.id, input)) {
            Ok(()) => Ok(true),
            Err(TrySendError::Full(_)) => {
                self.counters.add_dropped(records as u64);
                Ok(false)
            }
            Err(TrySendError::Disconnected(_)) => Err(Closed),
        }
    }

    /// Waits until everything pushed before (by any source) is stored.
    pub fn sync(&self) -> Result<(), Closed> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.queue.send(Message::Sync(tx)).map_err(|_| Closed)?;
        rx.recv().map_err(|_| Closed)
    }

    /// A buffer of a block the loop has decoded, to read the next block into.
    pub fn spare_buffer(&self) -> Option<Vec<u8>> {
        self.spare.lock().ok()?.try_recv().ok()
    }

    /// Whether the loop asks its sources to end ([`IngestHandle::stop`](crate::IngestHandle::stop)).
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Sleeps up to `duration`, waking early when the loop asks sources to end. Returns
    /// whether it was asked.
    pub fn sleep(&self, duration: Duration) -> bool {
        let step = Duration::from_millis(50);
        let until = std::time::Instant::now() + duration;
        loop {
            if self.is_stopping() {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= until {
                return false;
            }
            std::thread::sleep(step.min(until - now));
        }
    }

    /// The source's counters, for what only the source sees (records it dropped itself,
    /// such as those lost to a sequence gap).
    pub fn counters(&self) -> &SourceCounters {
        &self.counters
    }
}

/// One source's counters, updated by the loop and the source as records pass and read by
/// anyone at any time ([`IngestHandle::sources`](crate::IngestHandle::sources)).
#[derive(Debug, Default)]
pub struct SourceCounters {
    records: AtomicU64,
    rejected: AtomicU64,
    dropped: AtomicU64,
    /// Unix milliseconds of the last accepted record; 0 before the first.
    last_record_ms: AtomicI64,
    rate: RateWindow,
    pub(crate) verdicts: VerdictCounters,
}

impl SourceCounters {
    pub(crate) fn add_records(&self, n: u64) {
        if n > 0 {
            self.records.fetch_add(n, Ordering::Relaxed);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            self.last_record_ms.store(now, Ordering::Relaxed);
            self.rate.sample(self.records());
        }
    }

    /// Records accepted per second over about the last ten seconds.
    pub fn records_per_second(&self) -> f64 {
        self.rate.per_second(self.records())
    }

    pub(crate) fn add_rejected(&self, n: u64) {
        self.rejected.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts records the source lost before they reached the queue.
    pub fn add_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Records accepted: lines or records that decoded (Calico flow logs and raw records,
    /// including raw records with no cluster endpoint at either end).
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Lines or records rejected as malformed or unattributable.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Records dropped because the queue into the loop was full (or by the source itself).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// When the last record was accepted.
    pub fn last_record(&self) -> Option<SystemTime> {
        match self.last_record_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(UNIX_EPOCH + Duration::from_millis(ms as u64)),
        }
    }
}

/// Where a source is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceState {
    Running,
    /// Its input ended.
    Ended,
    /// It stopped with this error.
    Failed(String),
}

/// A source as the server's `/api/sources` (or a progress line) shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceStatus {
    pub name: String,
    /// [`Source::kind`].
    pub kind: &'static str,
    pub pace: Pace,
    pub state: SourceState,
    /// Records the loop accepted from the source.
    pub records: u64,
    /// Over about the last ten seconds.
    pub records_per_second: f64,
    pub rejected: u64,
    /// Records dropped because the queue into the loop was full.
    pub dropped: u64,
    pub last_record: Option<SystemTime>,
    /// What the source itself reports ([`Source::health`]).
    pub health: Option<SourceHealth>,
    /// How an observer's verdicts compare with the engine's, for sources that deliver
    /// [`Input::Observed`] records.
    pub verdicts: Option<VerdictComparison>,
}

/// What a network source knows about itself that the loop cannot see.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceHealth {
    /// Whether it is connected (a client), listening (a receiver) or has a peer pushing
    /// to it (a collector).
    pub connected: bool,
    /// Live connections (a collector counts its peers).
    pub connections: u32,
    /// Records it dropped before they reached the loop (its own queue was full).
    pub dropped: u64,
    /// Records received again and skipped (resends after a reconnect).
    pub duplicates: u64,
    /// Records the other side says were lost before they reached Flowlens.
    pub lost_upstream: u64,
    /// Discontinuities in the other side's sequence numbers.
    pub sequence_gaps: u64,
    /// Messages that carry no flow Flowlens stores.
    pub ignored: u64,
    /// Malformed input, failed connections.
    pub errors: u64,
    pub reconnects: u64,
    pub last_error: Option<String>,
}

/// Reads a source's [`SourceHealth`] at any time, from any thread.
pub trait HealthProbe: Send + Sync {
    fn health(&self) -> SourceHealth;
}
