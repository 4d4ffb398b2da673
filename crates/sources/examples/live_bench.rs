//! Records per second through `flowlens ingest --source …`, whole process: this program
//! starts the binary, plays the exporter (IPFIX over UDP) or the Hubble relay
//! (`Observer.GetFlows`) with raw records written by `flowlens simulate` (so the addresses
//! are the snapshot's pods and the engine attributes them), waits until the process has
//! worked through everything, stops it with SIGTERM (it then stores what is in flight and
//! the aggregates still open) and reads its summary.
//!
//! ```sh
//! cargo run --release -p flowlens-sources --example live_bench -- \
//!   --flowlens target/release/flowlens --input scale.jsonl --source ipfix \
//!   --records 600000 --rate 0 --runs 5 -- --scenario scale --namespaces 200 …
//! ```
//!
//! `--rate` is records per second offered (0: as fast as the ingest process takes them
//! from the socket or the stream). Everything after `--` goes to `flowlens ingest`. Per run
//! it prints records sent, taken by the source, dropped (the source's queue when the
//! ingest loop falls behind; the kernel's for UDP) and stored, the wall time, the records
//! stored per second of wall time and per CPU-second of the whole process.

#[path = "support/mod.rs"]
mod support;

use flowlens_model::RawFlow;
use flowlens_sources::proto::observer::observer_server::ObserverServer;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{ExportRecord, Exporter, HubbleTuple, StreamingHubble, Version, hubble_event};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

struct Args {
    flowlens: PathBuf,
    input: PathBuf,
    source: String,
    records: u64,
    rate: u64,
    runs: usize,
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
            "--work" => args.work = value().into(),
            "--" => {
                args.ingest = it.by_ref().collect();
                break;
            }
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    if args.input.as_os_str().is_empty() {
        usage("--input FILE (raw records from `flowlens simulate`) is required");
    }
    if !matches!(args.source.as_str(), "ipfix" | "hubble") {
        usage("--source is ipfix or hubble");
    }
    args
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: live_bench --flowlens BIN --input RAW.jsonl --source ipfix|hubble [--records N] [--rate N] [--runs N] [--work DIR] -- INGEST-ARGS…"
    );
    std::process::exit(2)
}

fn main() {
    let args = parse_args();
    let text = std::fs::read_to_string(&args.input)
        .unwrap_or_else(|e| usage(&format!("{}: {e}", args.input.display())));
    let flows: Vec<RawFlow> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| usage(&format!("{l}: {e}"))))
        .collect();
    drop(text);
    assert!(!flows.is_empty(), "no records in {}", args.input.display());
    let flows = Arc::new(flows);
    std::fs::create_dir_all(&args.work).unwrap();
    println!(
        "{} via flowlens ingest: {} records per run from {} distinct ones, offered at {}; load average {}",
        args.source,
        args.records,
        flows.len(),
        if args.rate == 0 {
            "the receiver's pace".to_string()
        } else {
            format!("{}/s", args.rate)
        },
        loadavg()
    );
    let mut results = Vec::new();
    for run in 0..args.runs {
        let r = one_run(&args, &flows);
        println!(
            "run {}: sent {}, taken {}, dropped {} (queue) + {} (kernel), stored {} raw records as {} flow logs; {:.2} s wall, {:.2} CPU-s: {:.0} records/s, {:.0} per CPU-second; load {}",
            run + 1,
            r.sent,
            r.taken,
            r.dropped,
            r.kernel_drops,
            r.stored,
            r.flow_logs,
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

fn one_run(args: &Args, flows: &Arc<Vec<RawFlow>>) -> RunResult {
    let data = args.work.join("data");
    let _ = std::fs::remove_dir_all(&data);
    // The relay listens before the process starts; the exporter needs the process's port.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut relay_state = None;
    let url = if args.source == "hubble" {
        let base = now_secs();
        let records = flows.clone();
        let relay = StreamingHubble::new(
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
        relay_state = Some((relay.first_call.clone(), relay.sent_all.clone()));
        let addr = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(
                Server::builder()
                    .serve_with_incoming(ObserverServer::new(relay), TcpIncoming::from(listener)),
            );
            addr
        });
        format!("hubble://{addr}")
    } else {
        "ipfix://127.0.0.1:0".to_string()
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
        if args.source == "hubble" {
            "reading from "
        } else {
            "listening on ipfix://"
        },
    );
    // Keep reading standard error so the process never blocks on it.
    let errors = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    let (started, sent, port) = if let Some((first_call, sent_all)) = &relay_state {
        let waited = Instant::now();
        while sent_all.lock().unwrap().is_none() {
            assert!(
                waited.elapsed() < Duration::from_secs(600),
                "the relay never sent everything"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let started = first_call.lock().unwrap().unwrap();
        (started, args.records, None)
    } else {
        let collector: SocketAddr = bound.trim().parse().unwrap();
        let (started, sent) = export_ipfix(collector, flows, args.records, args.rate);
        (started, sent, Some(collector.port()))
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
    let cpu = children_cpu() - before;
    let err = errors.join().unwrap();
    assert!(
        status.success(),
        "flowlens ingest failed: {status}\n{out}\n{err}"
    );
    let wall = (busy_until - started).as_secs_f64() + (ended - stop).as_secs_f64();
    let stored = number_after(&out, " Calico flow logs, ", " raw records)")
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
    let flow_logs = number_after(&out, "raw records became ", " flow logs").unwrap_or(0);
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
