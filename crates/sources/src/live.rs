//! The live sources as sources of Flowlens' one ingest loop ([`flowlens_ingest::Source`]).
//!
//! A [`LiveSource`] runs its receiver or client on a small runtime of its own; the receiver
//! writes into its bounded queue (and drops, counted, when the queue is full: it never
//! waits), and the source's thread takes batches off that queue and pushes them into the
//! loop, waiting for room there. Calico flow logs (Goldmane, Felix) go in as flow logs and
//! are stored as they are; IPFIX/NetFlow and Hubble records go in as raw records, which the
//! loop enriches, attributes with its policy engine and aggregates like any raw record.
//!
//! [`HubbleFile`] reads `hubble observe -o jsonpb` output as a file source: it reads to the
//! end with backpressure (no drops), and lines that are not Hubble events are listed like
//! malformed lines.

use crate::felix::FelixCollector;
use crate::goldmane::GoldmaneClient;
use crate::hubble::HubbleClient;
use crate::hubble::{HubbleError, HubbleEvent, decode_jsonpb_line};
use crate::netflow::NetflowReceiver;
use crate::queue::{self, SourceCounters, SourceItem, SourceKind};
use crate::spec::{SourceSpec, Target, TlsChoice, TlsFiles};
use crate::tls::{ClientTls, ServerTls};
use crate::{SourceError, error_chain};
use flowlens_ingest::{
    CappedLine, Feed, HealthProbe, Input, LINE_TOO_LONG, ObservedRecord, Pace, Source,
    SourceHealth, read_capped_line,
};
use flowlens_model::{FlowLog, RawFlow};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Records a source's own queue holds before it drops.
const QUEUE: usize = 65_536;
/// Records taken off the queue per push into the loop.
const BATCH: usize = 8_192;
/// How long the source's thread waits for records before it looks at the clock.
const TICK: Duration = Duration::from_millis(250);
/// How long a batch smaller than [`BATCH`] waits for more records before it is pushed. A
/// source that delivers a few records at a time (Felix, one receipt per flow on each
/// connection) would otherwise wake this thread and the loop for every record or two, and
/// the loop's per-batch work would be paid per record; the loop stores live input within a
/// second, so a few milliseconds more do not show.
const LINGER: Duration = Duration::from_millis(5);
/// How often an idle source tells the loop its clock.
const WATERMARK_EVERY: Duration = Duration::from_secs(1);

impl HealthProbe for SourceCounters {
    fn health(&self) -> SourceHealth {
        let s = self.stats();
        SourceHealth {
            connected: s.connected,
            connections: s.connections,
            dropped: s.dropped,
            duplicates: s.duplicates,
            lost_upstream: s.lost_upstream,
            sequence_gaps: s.sequence_gaps,
            ignored: s.ignored,
            errors: s.errors,
            reconnects: s.reconnects,
            last_error: s.last_error,
        }
    }
}

/// The TLS options a command gives every source that has none of its own.
pub type DefaultTls = TlsFiles;

/// A live source, configured and (for a listener) bound, ready to be added to an ingest
/// loop.
pub struct LiveSource {
    spec: SourceSpec,
    counters: Arc<SourceCounters>,
    runner: Runner,
    /// How far the watermark an idle source sends stays behind the wall clock: records
    /// that end before it may arrive later only at the cost of a second flow log for their
    /// time bucket.
    watermark_lag: Option<Duration>,
}

enum Runner {
    Goldmane(GoldmaneClient),
    Hubble(HubbleClient),
    FelixUnix(PathBuf),
    FelixTcp(std::net::TcpListener, Option<ServerTls>),
    Netflow(std::net::UdpSocket),
}

impl LiveSource {
    /// Reads the TLS files and binds what listens, so that a wrong path or a port in use
    /// is reported before anything runs. `tls` applies to sources whose URL names no TLS
    /// of its own.
    pub fn new(spec: SourceSpec, tls: &DefaultTls) -> Result<LiveSource, SourceError> {
        let files = match &spec.tls {
            TlsChoice::Inherit if tls.is_empty() => None,
            TlsChoice::Inherit => Some(tls),
            TlsChoice::Off => None,
            TlsChoice::Files(files) => Some(files),
        };
        let client_tls = |files: Option<&TlsFiles>| -> Result<Option<ClientTls>, SourceError> {
            files
                .map(|f| {
                    let mut tls = ClientTls::from_files(
                        f.ca.as_deref(),
                        f.cert.as_deref(),
                        f.key.as_deref(),
                    )?;
                    tls.server_name = f.server_name.clone();
                    Ok(tls)
                })
                .transpose()
        };
        let kind = match spec.target {
            Target::Goldmane { .. } => SourceKind::Goldmane,
            Target::FelixUnix { .. } | Target::FelixTcp { .. } => SourceKind::FelixCollector,
            Target::Hubble { .. } => SourceKind::Hubble,
            Target::Netflow { .. } => SourceKind::Netflow,
        };
        let (runner, watermark_lag) = match &spec.target {
            Target::Goldmane { address } => {
                let mut client = GoldmaneClient::new(address.clone());
                if let Some(tls) = client_tls(files)? {
                    client = client.tls(tls);
                }
                if let Some(secs) = spec.backfill_secs {
                    client = client.backfill((secs > 0).then(|| Duration::from_secs(secs)));
                }
                (Runner::Goldmane(client), None)
            }
            Target::Hubble { address } => {
                let mut client = HubbleClient::new(address.clone());
                if let Some(tls) = client_tls(files)? {
                    client = client.tls(tls);
                }
                if let Some(secs) = spec.since_secs {
                    client = client.since(SystemTime::now() - Duration::from_secs(secs));
                }
                // Hubble reports packets as they pass; a relay merges nodes' streams
                // within seconds.
                (Runner::Hubble(client), Some(Duration::from_secs(5)))
            }
            Target::FelixUnix { path } => (Runner::FelixUnix(path.clone()), None),
            Target::FelixTcp { listen } => {
                let server_tls = match files {
                    None => None,
                    Some(f) => match (&f.cert, &f.key) {
                        (Some(cert), Some(key)) => {
                            Some(ServerTls::from_files(cert, key, f.ca.as_deref())?)
                        }
                        _ => {
                            return Err(SourceError::Tls(format!(
                                "{}: serving Felix over TLS needs the server's certificate and key (--tls-cert, --tls-key; --ca for the clients' CA)",
                                spec.name
                            )));
                        }
                    },
                };
                let listener = std::net::TcpListener::bind(listen).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{}: cannot listen: {e}", spec.name))
                })?;
                listener.set_nonblocking(true)?;
                (Runner::FelixTcp(listener, server_tls), None)
            }
            Target::Netflow { listen, .. } => {
                let socket = crate::netflow::bind_udp(*listen).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{}: cannot listen: {e}", spec.name))
                })?;
                // Exporters send a flow when it expires, up to a minute (an active
                // timeout) after its last packet.
                (Runner::Netflow(socket), Some(Duration::from_secs(60)))
            }
        };
        let counters = Arc::new(SourceCounters::new(spec.name.clone(), kind));
        Ok(LiveSource {
            spec,
            counters,
            runner,
            watermark_lag,
        })
    }

    /// The address a listener is bound to (with the port the system chose for port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.runner {
            Runner::FelixTcp(listener, _) => listener.local_addr().ok(),
            Runner::Netflow(socket) => socket.local_addr().ok(),
            _ => None,
        }
    }

    /// The source's name with the port a listener was given by the system.
    pub fn bound_name(&self) -> String {
        match self.local_addr() {
            Some(addr) => format!("{}://{addr}", self.spec.target.kind_scheme()),
            None => self.spec.name.clone(),
        }
    }

    pub fn counters(&self) -> &Arc<SourceCounters> {
        &self.counters
    }

    /// Overrides how far an idle source's watermark stays behind the wall clock.
    pub fn watermark_lag(mut self, lag: Duration) -> LiveSource {
        self.watermark_lag = Some(lag);
        self
    }
}

impl Target {
    fn kind_scheme(&self) -> &'static str {
        match self {
            Target::FelixTcp { .. } => "felix",
            Target::FelixUnix { .. } => "felix+unix",
            other => other.kind(),
        }
    }
}

impl Source for LiveSource {
    fn name(&self) -> String {
        self.bound_name()
    }

    fn pace(&self) -> Pace {
        Pace::Live
    }

    fn kind(&self) -> &'static str {
        self.spec.target.kind()
    }

    fn health(&self) -> Option<Arc<dyn HealthProbe>> {
        Some(self.counters.clone())
    }

    fn run(self: Box<Self>, feed: Feed) -> Result<(), flowlens_ingest::SourceError> {
        let LiveSource {
            spec,
            counters,
            runner,
            watermark_lag,
        } = *self;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("{} receiver", spec.target.kind()))
            .enable_all()
            .build()?;
        let (tx, mut rx) = queue::channel(counters.clone(), QUEUE);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let shutdown = async move {
            let mut stopped = stopped;
            let _ = stopped.wait_for(|s| *s).await;
        };
        let task = runtime.spawn(async move {
            match runner {
                Runner::Goldmane(client) => client.run(tx, shutdown).await,
                Runner::Hubble(client) => client.run(tx, shutdown).await,
                Runner::FelixUnix(path) => {
                    let _listening = crate::connected_guard(tx.counters());
                    FelixCollector::default()
                        .serve_unix(&path, tx, shutdown)
                        .await
                }
                Runner::FelixTcp(listener, tls) => {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    FelixCollector::default()
                        .serve_tcp(listener, tls.as_ref(), tx, shutdown)
                        .await
                }
                Runner::Netflow(socket) => {
                    let receiver = NetflowReceiver::from_std(socket)?;
                    Ok(receiver.run(tx, shutdown).await?)
                }
            }
        });
        let mut batch = Vec::with_capacity(BATCH);
        let mut last_watermark = Instant::now();
        let mut ended = false;
        while !feed.is_stopping() {
            let taken = runtime.block_on(async {
                tokio::time::timeout(TICK, rx.recv_many(&mut batch, BATCH)).await
            });
            match taken {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(_) => {
                    if batch.len() < BATCH {
                        runtime.block_on(async { tokio::time::sleep(LINGER).await });
                        while batch.len() < BATCH
                            && let Some(item) = rx.try_recv()
                        {
                            batch.push(item);
                        }
                    }
                    push_items(&feed, &mut batch)?
                }
                Err(_) => {}
            }
            if let Some(lag) = watermark_lag
                && last_watermark.elapsed() >= WATERMARK_EVERY
            {
                last_watermark = Instant::now();
                let now = crate::unix_now();
                feed.push(Input::Watermark(now - lag.as_secs() as i64))?;
            }
        }
        let _ = stop.send(true);
        // What was queued before the receiver stopped is stored too.
        if !ended {
            while let Some(item) = rx.try_recv() {
                batch.push(item);
            }
            push_items(&feed, &mut batch)?;
        }
        let result = runtime.block_on(task);
        drop(rx);
        runtime.shutdown_timeout(Duration::from_secs(1));
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("{}: {}", spec.name, error_chain(&e)).into()),
            Err(e) => Err(format!("{}: the receiver stopped: {e}", spec.name).into()),
        }
    }
}

/// Hands a batch to the loop: flow logs as they are, raw records for attribution.
fn push_items(
    feed: &Feed,
    batch: &mut Vec<SourceItem>,
) -> Result<(), flowlens_ingest::SourceError> {
    let mut logs: Vec<FlowLog> = Vec::new();
    let mut records: Vec<RawFlow> = Vec::new();
    let mut observed: Vec<ObservedRecord> = Vec::new();
    for item in batch.drain(..) {
        match item {
            SourceItem::FlowLog(log) => logs.push(*log),
            SourceItem::Raw(raw) => records.push(raw),
            SourceItem::Observed(o) => observed.push(ObservedRecord {
                observer: o.observation.observer_verdict(),
                raw: o.raw,
            }),
            SourceItem::Verdict(record) => observed.push(record),
        }
    }
    if !logs.is_empty() {
        feed.push(Input::FlowLogs(logs))?;
    }
    if !records.is_empty() {
        feed.push(Input::Records(records))?;
    }
    if !observed.is_empty() {
        feed.push(Input::Observed(observed))?;
    }
    Ok(())
}

/// `hubble observe -o jsonpb` files as a source: every flow event a raw record for the
/// engine to attribute; lines that are not Hubble events are rejected with their number.
pub struct HubbleFile {
    paths: Vec<PathBuf>,
}

impl HubbleFile {
    pub fn new(paths: Vec<PathBuf>) -> HubbleFile {
        HubbleFile { paths }
    }
}

/// Whether `line` (the first non-blank line of a file) is `hubble observe -o jsonpb`
/// output rather than a Calico flow log or a raw record.
pub fn looks_like_hubble_jsonpb(line: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default)]
        flow: Option<serde::de::IgnoredAny>,
        #[serde(default, alias = "lostEvents")]
        lost_events: Option<serde::de::IgnoredAny>,
        #[serde(default, alias = "nodeStatus")]
        node_status: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_str::<Probe>(line)
        .is_ok_and(|p| p.flow.is_some() || p.lost_events.is_some() || p.node_status.is_some())
}

/// The first non-blank line of a file, for [`looks_like_hubble_jsonpb`].
/// A first line longer than the cap is none (and the file is not Hubble's).
pub fn first_line(path: &Path) -> std::io::Result<Option<String>> {
    let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut line = Vec::new();
    loop {
        match read_capped_line(&mut file, &mut line)? {
            CappedLine::Line if line.trim_ascii().is_empty() => {}
            CappedLine::Line => return Ok(Some(String::from_utf8_lossy(&line).into_owned())),
            CappedLine::TooLong | CappedLine::End => return Ok(None),
        }
    }
}

impl Source for HubbleFile {
    fn name(&self) -> String {
        match &self.paths[..] {
            [one] => one.display().to_string(),
            paths => format!("{} files", paths.len()),
        }
    }

    fn pace(&self) -> Pace {
        if self.paths.iter().any(|p| p.as_os_str() == "-") {
            Pace::Live
        } else {
            Pace::ReadToEnd
        }
    }

    fn kind(&self) -> &'static str {
        "hubble-file"
    }

    fn run(self: Box<Self>, feed: Feed) -> Result<(), flowlens_ingest::SourceError> {
        for path in &self.paths {
            let name = path.display().to_string();
            let mut reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
                Box::new(std::io::BufReader::new(std::io::stdin()))
            } else {
                Box::new(std::io::BufReader::new(
                    std::fs::File::open(path).map_err(|e| format!("cannot open {name}: {e}"))?,
                ))
            };
            feed.push(Input::Begin(name.clone()))?;
            let mut records = Vec::with_capacity(BATCH);
            // Records are numbered by the loop in the order pushed; rejections name lines.
            let mut line = Vec::new();
            for number in 1.. {
                if feed.is_stopping() {
                    return Ok(());
                }
                let read = read_capped_line(&mut reader, &mut line)
                    .map_err(|e| format!("reading {name}: {e}"))?;
                let decoded = match read {
                    CappedLine::End => break,
                    CappedLine::TooLong => Err(HubbleError(LINE_TOO_LONG.to_string())),
                    CappedLine::Line => match std::str::from_utf8(&line) {
                        Ok(text) => decode_jsonpb_line(text),
                        Err(e) => Err(HubbleError(format!("not UTF-8 text: {e}"))),
                    },
                };
                match decoded {
                    Ok(HubbleEvent::Flow(flow)) => {
                        records.push(ObservedRecord {
                            observer: flow.observation.observer_verdict(),
                            raw: flow.raw,
                        });
                        if records.len() == BATCH {
                            feed.push(Input::Observed(std::mem::take(&mut records)))?;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if !records.is_empty() {
                            feed.push(Input::Observed(std::mem::take(&mut records)))?;
                        }
                        feed.push(Input::Rejected {
                            number,
                            reason: e.0,
                        })?;
                    }
                }
            }
            if !records.is_empty() {
                feed.push(Input::Observed(records))?;
            }
        }
        Ok(())
    }
}
