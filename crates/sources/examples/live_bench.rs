//! Records per second through `flowlens ingest --source …`, whole process: this program
//! starts the binary and plays the other side of the source:
//!
//! - `ipfix`: the exporter, IPFIX over UDP;
//! - `hubble`: the Hubble relay (`Observer.GetFlows`);
//! - `goldmane`: Goldmane (`Flows.Stream`, nothing to backfill);
//! - `felix`: Felix on `--nodes` nodes (each from its own loopback address) pushing to
//!   `felix://` over TCP with `FlowCollector.Connect`, one update at a time, each waiting
//!   for its receipt.
//!
//! IPFIX and Hubble replay raw records written by `flowlens simulate` (so the addresses are
//! the snapshot's pods and the engine attributes them); Goldmane and Felix send the
//! aggregated Calico flow logs `flowlens simulate --calico` writes for the same traffic, as
//! Goldmane `Flow`s, the distinct flows repeated in successive 15-second buckets. It waits
//! until the process has worked through everything, stops it with SIGTERM (it then stores
//! what is in flight and the aggregates still open) and reads its summary.
//!
//! ```sh
//! cargo run --release -p flowlens-sources --example live_bench -- \
//!   --flowlens target/release/flowlens --input scale.jsonl --source ipfix \
//!   --records 600000 --rate 0 --runs 5 -- --scenario scale --namespaces 200 …
//! ```
//!
//! `--rate` is records per second offered (0: as fast as the ingest process takes them
//! from the socket or the stream, or, for Felix, as fast as the receipts come back).
//! Everything after `--` goes to `flowlens ingest`. Per run it prints records sent, taken
//! by the source, dropped (the source's queue when the ingest loop falls behind; the
//! kernel's for UDP) and stored, the wall time, the records stored per second of wall time
//! and per CPU-second of the whole process (from the first record to its exit, start-up
//! not counted). gRPC runs without TLS.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use flowlens_model::{FlowLog, PolicyHit, RawFlow};
use flowlens_sources::proto::goldmane as gm;
use flowlens_sources::proto::goldmane::flows_server::FlowsServer;
use flowlens_sources::proto::observer::observer_server::ObserverServer;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{
    ExportRecord, Exporter, HubbleTuple, PacedStream, StreamingGoldmane, StreamingHubble, Version,
    goldmane_flow_of, hubble_event,
};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server};

/// Goldmane's aggregation interval: the repeats of a flow are this far apart.
const BUCKET: i64 = 15;

struct Args {
    flowlens: PathBuf,
    input: PathBuf,
    source: String,
    records: u64,
    rate: u64,
    runs: usize,
    /// Felix: pushing nodes.
    nodes: u64,
    work: PathBuf,
    ingest: Vec<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        flowlens: "target/release/flowlens".into(),
        input: PathBuf::new(),
        source: "ipfix".into(),
        records: 600_000,
        rate: 0,
        runs: 5,
        nodes: 32,
        work: std::env::temp_dir().join("flowlens-live-bench"),
        ingest: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--flowlens" => args.flowlens = value().into(),
            "--input" => args.input = value().into(),
            "--source" => args.source = value(),
            "--records" => args.records = value().parse().unwrap_or_else(|_| usage("--records N")),
            "--rate" => args.rate = value().parse().unwrap_or_else(|_| usage("--rate N")),
            "--runs" => args.runs = value().parse().unwrap_or_else(|_| usage("--runs N")),
            "--nodes" => {
                args.nodes = value()
                    .parse()
                    .ok()
                    .filter(|&n| (1..=250).contains(&n))
                    .unwrap_or_else(|| usage("--nodes N (1 to 250)"))
            }
            "--work" => args.work = value().into(),
            "--" => {
                args.ingest = it.by_ref().collect();
                break;
            }
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    if args.input.as_os_str().is_empty() {
        usage(
            "--input FILE is required: raw records from `flowlens simulate` (ipfix, hubble), Calico flow logs from `flowlens simulate --calico` (goldmane, felix)",
        );
    }
    if !matches!(
        args.source.as_str(),
        "ipfix" | "hubble" | "goldmane" | "felix"
    ) {
        usage("--source is ipfix, hubble, goldmane or felix");
    }
    args
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: live_bench --flowlens BIN --input FILE --source ipfix|hubble|goldmane|felix [--records N] [--rate N] [--runs N] [--nodes N] [--work DIR] -- INGEST-ARGS…"
    );
    std::process::exit(2)
}

fn main() {
    let args = parse_args();
    let text = std::fs::read_to_string(&args.input)
        .unwrap_or_else(|e| usage(&format!("{}: {e}", args.input.display())));
    let lines = text.lines().filter(|l| !l.trim().is_empty());
    let input = if matches!(args.source.as_str(), "goldmane" | "felix") {
        let logs: Vec<FlowLog> = lines
            .map(|l| {
                flowlens_pipeline::decode::decode_calico(l).unwrap_or_else(|e| {
                    usage(&format!(
                        "{l}: {e} (goldmane and felix replay Calico flow logs: `flowlens simulate --calico`)"
                    ))
                })
            })
            .collect();
        Input::Calico(Arc::new(goldmane_flows(&logs)))
    } else {
        Input::Raw(Arc::new(
            lines
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| usage(&format!("{l}: {e}"))))
                .collect(),
        ))
    };
    drop(text);
    assert!(input.len() > 0, "nothing in {}", args.input.display());
    std::fs::create_dir_all(&args.work).unwrap();
    println!(
        "{} via flowlens ingest: {} records per run from {} distinct ones, offered at {}; load average {}",
        args.source,
        args.records,
        input.len(),
        if args.rate == 0 {
            "the receiver's pace".to_string()
        } else {
            format!("{}/s", args.rate)
        },
        loadavg()
    );
    let mut results = Vec::new();
    for run in 0..args.runs {
        let r = one_run(&args, &input);
        println!(
            "run {}: sent {}, taken {}, dropped {} (queue) + {} (kernel), stored {} {}; {:.2} s wall, {:.2} CPU-s: {:.0} records/s, {:.0} per CPU-second; load {}",
            run + 1,
            r.sent,
            r.taken,
            r.dropped,
            r.kernel_drops,
            r.stored,
            match &input {
                Input::Raw(_) => format!("raw records as {} flow logs", r.flow_logs),
                Input::Calico(_) => "Calico flow logs".to_string(),
            },
            r.wall,
            r.cpu,
            r.stored as f64 / r.wall,
            r.stored as f64 / r.cpu,
            loadavg()
        );
        let threads: Vec<String> = r
            .threads
            .iter()
            .filter(|(_, secs)| *secs >= 0.01)
            .map(|(name, secs)| format!("{name} {secs:.2}"))
            .collect();
        println!(
            "       CPU-s by thread before the stop: {}",
            threads.join(", ")
        );
        results.push(r);
    }
    let mut wall: Vec<f64> = results.iter().map(|r| r.stored as f64 / r.wall).collect();
    let mut cpu: Vec<f64> = results.iter().map(|r| r.stored as f64 / r.cpu).collect();
    let dropped: u64 = results.iter().map(|r| r.dropped + r.kernel_drops).sum();
    let sent: u64 = results.iter().map(|r| r.sent).sum();
    for v in [&mut wall, &mut cpu] {
        v.sort_by(f64::total_cmp);
    }
    let n = results.len();
    println!(
        "{}: median {:.0} records/s (lowest {:.0}, highest {:.0}); {:.0} per CPU-second (lowest {:.0}, highest {:.0}); dropped {dropped} of {sent} sent; {n} runs",
        args.source,
        wall[n / 2],
        wall[0],
        wall[n - 1],
        cpu[n / 2],
        cpu[0],
        cpu[n - 1]
    );
}

/// What the sender replays.
enum Input {
    /// Raw records (IPFIX, Hubble).
    Raw(Arc<Vec<RawFlow>>),
    /// Goldmane flows (Goldmane, Felix).
    Calico(Arc<Vec<gm::Flow>>),
}

impl Input {
    fn len(&self) -> usize {
        match self {
            Input::Raw(f) => f.len(),
            Input::Calico(f) => f.len(),
        }
    }
}

/// The flow logs as Goldmane `Flow`s, each checked to read back as the same flow log
/// (what Goldmane's key carries of it), so that the benchmark stores what was simulated.
/// Logs that differ only in what the key leaves out (IPs, pod names) are one flow for
/// Goldmane: their counters are summed, as Goldmane aggregates.
fn goldmane_flows(logs: &[FlowLog]) -> Vec<gm::Flow> {
    let mut hit_spellings = std::collections::HashMap::new();
    let mut same = |hits: &[PolicyHit]| -> Vec<PolicyHit> {
        hits.iter()
            .map(|h| {
                let spelled = h.to_string();
                hit_spellings
                    .entry(spelled.clone())
                    .or_insert_with(|| PolicyHit::parse(&spelled).unwrap())
                    .clone()
            })
            .collect()
    };
    let mut seen: std::collections::HashMap<(Option<Vec<u8>>, i64, i64), usize> =
        std::collections::HashMap::new();
    logs.iter()
        .map(|log| {
            let flow = goldmane_flow_of(log);
            let mut back = flowlens_sources::calico::flow_log(flow.clone())
                .unwrap_or_else(|e| panic!("{log:?} does not read back: {e}"));
            let mut want = log.clone();
            for end in [&mut want.source, &mut want.dest] {
                (end.ip, end.name) = (None, None);
            }
            want.source.port = None;
            want.dest.port = Some(want.dest.port.unwrap_or(0));
            (want.process_name, want.process_id, want.host) = (None, None, None);
            for l in [&mut want, &mut back] {
                l.enforced_policies = same(&l.enforced_policies);
                l.pending_policies = same(&l.pending_policies);
            }
            assert_eq!(back, want, "a Goldmane flow must read back as its flow log");
            flow
        })
        .fold(Vec::new(), |mut flows: Vec<gm::Flow>, flow| {
            let id = (
                flow.key.as_ref().map(prost::Message::encode_to_vec),
                flow.start_time,
                flow.end_time,
            );
            match seen.get(&id) {
                Some(&at) => {
                    let same = &mut flows[at];
                    same.bytes_in += flow.bytes_in;
                    same.bytes_out += flow.bytes_out;
                    same.packets_in += flow.packets_in;
                    same.packets_out += flow.packets_out;
                    same.num_connections_started += flow.num_connections_started;
                    same.num_connections_completed += flow.num_connections_completed;
                    same.num_connections_live += flow.num_connections_live;
                }
                None => {
                    seen.insert(id, flows.len());
                    flows.push(flow);
                }
            }
            flows
        })
}

/// The `i`-th flow of `n`: the distinct flows over and over, each round one bucket later,
/// the last round in the flows' own buckets.
fn nth_flow(flows: &[gm::Flow], n: u64, i: u64) -> gm::Flow {
    let len = flows.len() as u64;
    let rounds = n.div_ceil(len);
    let mut flow = flows[(i % len) as usize].clone();
    let shift = BUCKET * (rounds - 1 - i / len) as i64;
    flow.start_time -= shift;
    flow.end_time -= shift;
    flow
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

struct RunResult {
    sent: u64,
    taken: u64,
    dropped: u64,
    kernel_drops: u64,
    stored: u64,
    flow_logs: u64,
    wall: f64,
    cpu: f64,
    /// CPU seconds by thread name when the process had gone idle (before it was stopped).
    threads: Vec<(String, f64)>,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn one_run(args: &Args, input: &Input) -> RunResult {
    let data = args.work.join("data");
    let _ = std::fs::remove_dir_all(&data);
    // Servers listen before the process starts; the exporter and Felix need its port.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut server_state = None;
    let url = match (args.source.as_str(), input) {
        ("hubble", Input::Raw(flows)) => {
            let base = now_secs();
            let records = flows.clone();
            let relay = PacedStream::new(
                args.records,
                args.rate,
                Arc::new(move |i| {
                    let f = &records[(i % records.len() as u64) as usize];
                    let tuple = HubbleTuple {
                        src: f.src_ip,
                        dst: f.dst_ip,
                        src_port: f.src_port,
                        dst_port: f.dst_port,
                        tcp: f.proto.number() == 6,
                    };
                    hubble_event(i, base + (i / 100_000) as i64, tuple)
                }),
            );
            server_state = Some((relay.first_call.clone(), relay.sent_all.clone()));
            let addr = runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                tokio::spawn(Server::builder().serve_with_incoming(
                    ObserverServer::new(StreamingHubble(relay)),
                    TcpIncoming::from(listener),
                ));
                addr
            });
            format!("hubble://{addr}")
        }
        ("goldmane", Input::Calico(flows)) => {
            let (flows, n) = (flows.clone(), args.records);
            let goldmane = PacedStream::new(
                n,
                args.rate,
                Arc::new(move |i| gm::FlowResult {
                    id: i as i64,
                    flow: Some(nth_flow(&flows, n, i)),
                }),
            );
            server_state = Some((goldmane.first_call.clone(), goldmane.sent_all.clone()));
            let addr = runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                tokio::spawn(Server::builder().serve_with_incoming(
                    FlowsServer::new(StreamingGoldmane(goldmane)),
                    TcpIncoming::from(listener),
                ));
                addr
            });
            // Nothing kept to backfill: the stream only.
            format!("goldmane://{addr}?backfill=0")
        }
        ("felix", _) => "felix://127.0.0.1:0".to_string(),
        _ => "ipfix://127.0.0.1:0".to_string(),
    };
    let mut child = Command::new(&args.flowlens)
        .args(["ingest", "--quiet", "--data"])
        .arg(&data)
        .args(&args.ingest)
        .args(["--source", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| usage(&format!("{}: {e}", args.flowlens.display())));
    let pid = child.id() as i32;
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let bound = wait_for_line(
        &mut stderr,
        match args.source.as_str() {
            "ipfix" => "listening on ipfix://",
            "felix" => "listening on felix://",
            _ => "reading from ",
        },
    );
    // The CPU the process used to start (loading the snapshot) is not the source's.
    let cpu_at_start = process_cpu_ticks(pid) as f64 / 100.0;
    // Keep reading standard error so the process never blocks on it.
    let errors = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    let (started, sent, port) = match (&server_state, input) {
        (Some((first_call, sent_all)), _) => {
            let waited = Instant::now();
            while sent_all.lock().unwrap().is_none() {
                assert!(
                    waited.elapsed() < Duration::from_secs(600),
                    "the server never sent everything"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            let started = first_call.lock().unwrap().unwrap();
            (started, args.records, None)
        }
        (None, Input::Calico(flows)) => {
            let collector: SocketAddr = bound.trim().parse().unwrap();
            let (started, sent) = runtime.block_on(push_as_felix(
                collector,
                flows.clone(),
                args.records,
                args.rate,
                args.nodes,
            ));
            (started, sent, None)
        }
        (None, Input::Raw(flows)) => {
            let collector: SocketAddr = bound.trim().parse().unwrap();
            let (started, sent) = export_ipfix(collector, flows, args.records, args.rate);
            (started, sent, Some(collector.port()))
        }
    };
    // Everything is sent: wait until the process stops using CPU (and, for UDP, has read
    // its socket), then stop it. The idle wait is not counted.
    let (busy_until, kernel_drops) = wait_until_idle(pid, port);
    let threads = cpu_by_thread(pid);
    let stop = Instant::now();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let before = children_cpu();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    let ended = Instant::now();
    let cpu = children_cpu() - before - cpu_at_start;
    let err = errors.join().unwrap();
    assert!(
        status.success(),
        "flowlens ingest failed: {status}\n{out}\n{err}"
    );
    let wall = (busy_until - started).as_secs_f64() + (ended - stop).as_secs_f64();
    let stored = match input {
        Input::Raw(_) => number_after(&out, " Calico flow logs, ", " raw records)"),
        Input::Calico(_) => number_after(&out, " lines (", " Calico flow logs"),
    }
    .unwrap_or_else(|| panic!("no summary in {out}"));
    let source_line = out
        .lines()
        .find(|l| l.starts_with(&format!("{}://", args.source)))
        .unwrap_or_else(|| panic!("no line for the source in {out}"));
    let taken = source_line
        .split(": ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let dropped = source_line
        .split(", ")
        .find(|s| s.ends_with(" dropped"))
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let flow_logs = match input {
        Input::Raw(_) => number_after(&out, "raw records became ", " flow logs").unwrap_or(0),
        Input::Calico(_) => stored,
    };
    runtime.shutdown_background();
    RunResult {
        sent,
        taken,
        dropped,
        kernel_drops,
        stored,
        flow_logs,
        wall,
        cpu,
        threads,
    }
}

/// CPU seconds the process's threads have used so far, summed by thread name, most first.
fn cpu_by_thread(pid: i32) -> Vec<(String, f64)> {
    let mut by_name: Vec<(String, f64)> = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let n = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let secs = (n(11) + n(12)) / 100.0;
        match by_name.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += secs,
            None => by_name.push((name, secs)),
        }
    }
    by_name.sort_by(|a, b| b.1.total_cmp(&a.1));
    by_name
}

fn number_after(text: &str, before: &str, after: &str) -> Option<u64> {
    let rest = text.split(before).nth(1)?;
    rest.split(after).next()?.trim().parse().ok()
}

fn wait_for_line(stderr: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "flowlens ingest ended before printing {prefix:?}"
        );
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            return rest.to_string();
        }
    }
}

/// Pushes `n` flows (see [`nth_flow`]) from `nodes` Felix-like clients, each connecting
/// from its own loopback address (the collector tells nodes apart by address) and pushing
/// its share one update at a time, waiting for each receipt; at `rate` flows per second
/// across all of them when given. Returns when the pushing started and the receipts.
async fn push_as_felix(
    collector: SocketAddr,
    flows: Arc<Vec<gm::Flow>>,
    n: u64,
    rate: u64,
    nodes: u64,
) -> (Instant, u64) {
    let endpoint = Endpoint::from_shared(format!("http://{collector}")).unwrap();
    let mut channels = Vec::new();
    for node in 0..nodes {
        let local = IpAddr::V4(Ipv4Addr::new(127, 0, 1, node as u8 + 1));
        let channel = common::channel_from(endpoint.clone(), local, collector)
            .await
            .unwrap_or_else(|e| panic!("node {local} cannot reach {collector}: {e}"));
        channels.push(channel);
    }
    let interval = (rate > 0).then(|| Duration::from_secs_f64(nodes as f64 / rate as f64));
    let started = Instant::now();
    let mut pushers = Vec::new();
    for (node, channel) in channels.into_iter().enumerate() {
        let flows = flows.clone();
        // Node k pushes flows k, k + nodes, k + 2 nodes, …
        let mine = (node as u64..n).step_by(nodes as usize);
        pushers.push(tokio::spawn(async move {
            let updates = mine.map(move |i| nth_flow(&flows, n, i));
            common::felix_push(channel, updates, None, interval).await as u64
        }));
    }
    let mut receipts = 0;
    for p in pushers {
        receipts += p.await.unwrap();
    }
    (started, receipts)
}

/// Replays `n` records (cycling through `flows`) as IPFIX export packets, 30 records each
/// with the template every sixteenth packet. At `rate` records/s when given; otherwise as
/// fast as the receiver reads: the sender waits while more than 1 MiB is unread in the
/// receiving socket, so the kernel does not throw packets away.
fn export_ipfix(collector: SocketAddr, flows: &[RawFlow], n: u64, rate: u64) -> (Instant, u64) {
    let mut exporter = Exporter::new(Version::Ipfix, now_secs() as u32);
    let per = 30usize;
    let v4: Vec<ExportRecord> = flows
        .iter()
        .filter_map(|f| match (f.src_ip, f.dst_ip) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Some(ExportRecord {
                src,
                dst,
                src_port: f.src_port,
                dst_port: f.dst_port,
                proto: f.proto.number(),
                bytes: f.bytes_out.min(u32::MAX.into()) as u32,
                packets: f.packets_out.clamp(1, u32::MAX.into()) as u32,
            }),
            _ => None,
        })
        .collect();
    assert!(!v4.is_empty(), "no IPv4 records to export");
    let packets = n.div_ceil(per as u64);
    let mut datagrams = Vec::with_capacity(packets as usize);
    let mut sent = 0u64;
    for p in 0..packets {
        let count = (n - p * per as u64).min(per as u64) as usize;
        let batch: Vec<ExportRecord> = (0..count)
            .map(|i| v4[((p as usize * per) + i) % v4.len()])
            .collect();
        sent += count as u64;
        datagrams.push(exporter.packet(&batch));
    }
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    for (i, d) in datagrams.iter().enumerate() {
        if rate > 0 {
            let due = started + Duration::from_secs_f64((i * per) as f64 / rate as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        } else if i % 32 == 0 {
            while udp_socket_state(collector.port()).0 > 1 << 20 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        socket.send_to(d, collector).unwrap();
    }
    (started, sent)
}

/// Bytes unread and datagrams dropped by the kernel at the UDP socket bound to this port
/// (`/proc/net/udp`: rx_queue in the fifth column's second half, drops in the last).
fn udp_socket_state(port: u16) -> (u64, u64) {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let local = format!(":{port:04X}");
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() > 12 && cols[1].ends_with(&local) {
            let rx = cols[4]
                .split(':')
                .nth(1)
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .unwrap_or(0);
            let drops = cols[cols.len() - 1].parse().unwrap_or(0);
            return (rx, drops);
        }
    }
    (0, 0)
}

/// Waits until the process has used no CPU for 200 ms (and has read its socket); returns
/// when it last did, and the kernel's drops at the socket.
fn wait_until_idle(pid: i32, port: Option<u16>) -> (Instant, u64) {
    let mut last = process_cpu_ticks(pid);
    let mut busy_until = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = process_cpu_ticks(pid);
        let unread = port.map_or(0, |p| udp_socket_state(p).0);
        if now != last || unread > 0 {
            last = now;
            busy_until = Instant::now();
        } else if busy_until.elapsed() > Duration::from_millis(200) {
            let drops = port.map_or(0, |p| udp_socket_state(p).1);
            return (busy_until, drops);
        }
    }
}

/// User and system CPU ticks of the process so far.
fn process_cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let n = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    n(11) + n(12)
}

/// CPU seconds used by this program's finished children.
fn children_cpu() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap();
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    secs(usage.user_time()) + secs(usage.system_time())
}
