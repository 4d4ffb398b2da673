//! Records per second through each live source, whole path: a server or exporter on
//! loopback, the source, its queue, and a consumer that only counts. Run with
//! `cargo bench -p flowlens-sources --bench sources [-- NAME…]`; names: goldmane, felix,
//! hubble, ipfix, netflow-v9, netflow-v5, decode-ipfix. Each prints the median, lowest and
//! highest of five runs, in records per second of wall time and in records per CPU-second
//! spent by the source's side (the source and the counting consumer, on a runtime of their
//! own; the server or exporter runs on other threads). The second figure is what one core
//! of the source would do alone, whatever else the machine is busy with.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../examples/support/mod.rs"]
mod support;

use common::{felix_push, unix_channel};
use flowlens_sources::felix::FelixCollector;
use flowlens_sources::goldmane::GoldmaneClient;
use flowlens_sources::hubble::HubbleClient;
use flowlens_sources::netflow::{NetflowDecoder, NetflowReceiver};
use flowlens_sources::proto::goldmane as pb;
use flowlens_sources::proto::goldmane::flows_server::FlowsServer;
use flowlens_sources::proto::observer::observer_server::ObserverServer;
use flowlens_sources::queue::{self, ItemReceiver, ItemSender, SourceCounters, SourceKind};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::{
    Exporter, HubbleTuple, PacedStream, StreamingGoldmane, StreamingHubble, Version, hubble_event,
};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

const RUNS: usize = 5;
const QUEUE: usize = 65_536;

/// A runtime whose threads' CPU time can be read.
struct Measured {
    runtime: tokio::runtime::Runtime,
    threads: Arc<std::sync::Mutex<Vec<i32>>>,
}

impl Measured {
    fn new(name: &str, workers: usize) -> Measured {
        let threads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = threads.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name(name)
            .on_thread_start(move || seen.lock().unwrap().push(nix::unistd::gettid().as_raw()))
            .enable_all()
            .build()
            .unwrap();
        Measured { runtime, threads }
    }

    /// CPU seconds its threads have used (user and system), from `/proc`.
    fn cpu_seconds(&self) -> f64 {
        let ticks = 100.0; // USER_HZ on Linux
        self.threads
            .lock()
            .unwrap()
            .iter()
            .filter_map(|tid| std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok())
            .map(|stat| {
                // Fields after the command name (which may hold spaces) are space-separated;
                // utime and stime are the 14th and 15th of the whole line.
                let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
                let fields: Vec<&str> = rest.split(' ').collect();
                let n = |i: usize| {
                    fields
                        .get(i)
                        .and_then(|f| f.parse::<f64>().ok())
                        .unwrap_or(0.0)
                };
                (n(11) + n(12)) / ticks
            })
            .sum()
    }
}

/// The source's runtime and the one its peer (server, pushers) runs on.
struct Runtimes {
    source: Measured,
    peer: Measured,
}

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let rts = Runtimes {
        source: Measured::new("source", 2),
        peer: Measured::new("peer", 2),
    };
    type Bench = fn(&Runtimes) -> (u64, Duration);
    let benches: [(&str, Bench); 7] = [
        ("goldmane", |rts| goldmane(rts, 300_000)),
        ("felix", |rts| felix(rts, 200_000, 32)),
        ("hubble", |rts| hubble(rts, 300_000)),
        ("ipfix", |rts| netflow(rts, Version::Ipfix, 600_000)),
        ("netflow-v9", |rts| netflow(rts, Version::V9, 600_000)),
        ("netflow-v5", |rts| netflow(rts, Version::V5, 600_000)),
        ("decode-ipfix", |_| decode_only(1_000_000)),
    ];
    for (name, bench) in benches {
        if !wanted.is_empty() && !wanted.iter().any(|w| name.contains(w.as_str())) {
            continue;
        }
        let (mut wall, mut cpu) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let before = rts.source.cpu_seconds();
            let cpu_started = cpu_time_now();
            let (records, took) = bench(&rts);
            wall.push(records as f64 / took.as_secs_f64());
            // The decoder alone runs on this thread, not on a runtime.
            let used = if name.starts_with("decode") {
                cpu_time_now() - cpu_started
            } else {
                rts.source.cpu_seconds() - before
            };
            cpu.push(records as f64 / used.max(0.01));
        }
        for v in [&mut wall, &mut cpu] {
            v.sort_by(f64::total_cmp);
        }
        println!(
            "{name:<13} {:>8.0} records/s (lowest {:.0}, highest {:.0})   {:>8.0} records per CPU-second (lowest {:.0}, highest {:.0}); {RUNS} runs",
            wall[RUNS / 2],
            wall[0],
            wall[RUNS - 1],
            cpu[RUNS / 2],
            cpu[0],
            cpu[RUNS - 1],
        );
    }
}

/// This thread's CPU time in seconds.
fn cpu_time_now() -> f64 {
    let tid = nix::unistd::gettid().as_raw();
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let n = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (n(11) + n(12)) / 100.0
}

/// A queue and a task that counts what comes out of it.
fn counting_queue(kind: SourceKind) -> (ItemSender, Arc<AtomicU64>) {
    let counters = Arc::new(SourceCounters::new("bench", kind));
    let (tx, rx) = queue::channel(counters, QUEUE);
    let count = Arc::new(AtomicU64::new(0));
    tokio::spawn(count_items(rx, count.clone()));
    (tx, count)
}

async fn count_items(mut rx: ItemReceiver, count: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(4096);
    loop {
        let n = rx.recv_many(&mut batch, 4096).await;
        if n == 0 {
            return;
        }
        batch.clear();
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
}

async fn until(count: &AtomicU64, target: u64, tx: &ItemSender) {
    let started = Instant::now();
    while count.load(Ordering::Relaxed) < target {
        let s = tx.counters().stats();
        assert!(
            s.dropped == 0 && started.elapsed() < Duration::from_secs(300),
            "stalled at {} of {target}: {s:?}",
            count.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A Goldmane flow in the shape of Calico's test flows, distinct for every `i`.
fn goldmane_flow(i: u64) -> pb::Flow {
    pb::Flow {
        key: Some(pb::FlowKey {
            source_name: format!("client-aggr-{}", i % 97),
            source_namespace: "test-ns".into(),
            source_type: pb::EndpointType::WorkloadEndpoint as i32,
            dest_name: format!("server-aggr-{}", i % 89),
            dest_namespace: "test-ns-2".into(),
            dest_type: pb::EndpointType::WorkloadEndpoint as i32,
            dest_port: 8080,
            dest_service_name: "backend-service".into(),
            dest_service_namespace: "test-ns-2".into(),
            dest_service_port_name: "http".into(),
            dest_service_port: 80,
            proto: "tcp".into(),
            reporter: pb::Reporter::Dst as i32,
            action: pb::Action::Allow as i32,
            policies: Some(pb::PolicyTrace {
                enforced_policies: vec![pb::PolicyHit {
                    kind: pb::PolicyKind::CalicoNetworkPolicy as i32,
                    namespace: "test-ns-2".into(),
                    name: "policy-1".into(),
                    tier: "tier-1".into(),
                    action: pb::Action::Allow as i32,
                    policy_index: 0,
                    rule_index: 1,
                    ..Default::default()
                }],
                pending_policies: Vec::new(),
            }),
        }),
        start_time: 1_700_000_000 + (i / 8_633) as i64 * 15,
        end_time: 1_700_000_015 + (i / 8_633) as i64 * 15,
        source_labels: vec!["app=client".into(), "version=v2".into()],
        dest_labels: vec!["app=server".into()],
        packets_in: 10,
        packets_out: 20,
        bytes_in: 1_000 + i as i64,
        bytes_out: 2_000,
        num_connections_started: 1,
        num_connections_completed: 1,
        num_connections_live: 0,
    }
}

fn goldmane(rts: &Runtimes, n: u64) -> (u64, Duration) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let addr = rts.peer.runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(Server::builder().serve_with_incoming_shutdown(
            FlowsServer::new(StreamingGoldmane(PacedStream::new(
                n,
                0,
                Arc::new(|i| pb::FlowResult {
                    id: i as i64,
                    flow: Some(goldmane_flow(i)),
                }),
            ))),
            TcpIncoming::from(listener),
            async {
                let _ = stopped.await;
            },
        ));
        addr
    });
    let took = rts.source.runtime.block_on(async {
        let (tx, count) = counting_queue(SourceKind::Goldmane);
        let started = Instant::now();
        let client = GoldmaneClient::new(addr.to_string()).backfill(None);
        let task = tokio::spawn(client.run(tx.clone(), std::future::pending()));
        until(&count, n, &tx).await;
        task.abort();
        started.elapsed()
    });
    let _ = stop.send(());
    (n, took)
}

/// `nodes` Felix-like pushers, each waiting for the receipt of every update, over the
/// local unix socket.
fn felix(rts: &Runtimes, n: u64, nodes: u64) -> (u64, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("flows.sock");
    let (tx, count, serving) = rts.source.runtime.block_on(async {
        let (tx, count) = counting_queue(SourceKind::FelixCollector);
        let collector = FelixCollector::default();
        let serving = {
            let (socket, tx) = (socket.clone(), tx.clone());
            tokio::spawn(async move {
                collector
                    .serve_unix(&socket, tx, std::future::pending())
                    .await
            })
        };
        while !socket.exists() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (tx, count, serving)
    });
    let per_node = n / nodes;
    let took = rts.peer.runtime.block_on(async {
        let mut channels = Vec::new();
        for _ in 0..nodes {
            channels.push(unix_channel(socket.clone()).await);
        }
        let started = Instant::now();
        let mut pushers = Vec::new();
        for (node, channel) in channels.into_iter().enumerate() {
            pushers.push(tokio::spawn(async move {
                let first = node as u64 * per_node;
                let flows = (first..first + per_node).map(goldmane_flow);
                assert_eq!(
                    felix_push(channel, flows, None, None).await as u64,
                    per_node
                );
            }));
        }
        for p in pushers {
            p.await.unwrap();
        }
        until(&count, per_node * nodes, &tx).await;
        started.elapsed()
    });
    serving.abort();
    (per_node * nodes, took)
}

fn hubble(rts: &Runtimes, n: u64) -> (u64, Duration) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = StreamingHubble(PacedStream::new(
        n,
        0,
        Arc::new(|i| {
            hubble_event(
                i,
                1_700_000_000 + (i / 1000) as i64,
                HubbleTuple::synthetic(i),
            )
        }),
    ));
    let addr = rts.peer.runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(Server::builder().serve_with_incoming_shutdown(
            ObserverServer::new(relay),
            TcpIncoming::from(listener),
            async {
                let _ = stopped.await;
            },
        ));
        addr
    });
    let took = rts.source.runtime.block_on(async {
        let (tx, count) = counting_queue(SourceKind::Hubble);
        let started = Instant::now();
        let client = HubbleClient::new(addr.to_string());
        let task = tokio::spawn(client.run(tx.clone(), std::future::pending()));
        until(&count, n, &tx).await;
        task.abort();
        started.elapsed()
    });
    let _ = stop.send(());
    (n, took)
}

/// An exporter on another thread sends as fast as the source takes the records: it keeps
/// at most 64 packets in flight, so the kernel never drops and every record is counted.
fn netflow(rts: &Runtimes, version: Version, n: u64) -> (u64, Duration) {
    let rt = &rts.source.runtime;
    let (receiver, tx, count) = rt.block_on(async {
        let receiver = NetflowReceiver::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let (tx, count) = counting_queue(SourceKind::Netflow);
        (receiver, tx, count)
    });
    let addr: SocketAddr = receiver.local_addr().unwrap();
    let task = rt.spawn(receiver.run(tx.clone(), std::future::pending()));
    let mut exporter = Exporter::new(version, 1_700_000_000);
    let per = u64::from(exporter.records_per_packet());
    let packets = n / per;
    let datagrams: Vec<Vec<u8>> = (0..packets).map(|_| exporter.next()).collect();
    let started = Instant::now();
    let sending = {
        let count = count.clone();
        std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            for (i, d) in datagrams.iter().enumerate() {
                while (i as u64) * per > count.load(Ordering::Relaxed) + 64 * per {
                    std::thread::yield_now();
                }
                socket.send_to(d, addr).unwrap();
            }
        })
    };
    rt.block_on(until(&count, packets * per, &tx));
    let took = started.elapsed();
    sending.join().unwrap();
    let s = tx.counters().stats();
    assert_eq!((s.errors, s.sequence_gaps, s.dropped), (0, 0, 0), "{s:?}");
    task.abort();
    (packets * per, took)
}

/// The IPFIX decoder alone, from memory: the ceiling the socket path works under.
fn decode_only(n: u64) -> (u64, Duration) {
    let mut exporter = Exporter::new(Version::Ipfix, 1_700_000_000);
    let per = u64::from(exporter.records_per_packet());
    let datagrams: Vec<Vec<u8>> = (0..n / per).map(|_| exporter.next()).collect();
    let from: SocketAddr = "192.0.2.1:4739".parse().unwrap();
    let mut decoder = NetflowDecoder::new();
    let mut out = Vec::with_capacity(64);
    let mut records = 0;
    let started = Instant::now();
    for d in &datagrams {
        let report = decoder.decode(from, d, &mut out);
        assert_eq!((report.gaps, report.error.as_deref()), (0, None));
        records += out.len() as u64;
        out.clear();
    }
    (records, started.elapsed())
}
