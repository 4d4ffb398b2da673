//! Query latency of the UI's queries over a store of N synthetic records, each built by the
//! server's own code from the query string the UI sends ([`flowlens_server::searches`], with
//! the API's defaults such as counting each connection once): flow pages (newest first) and
//! the connections total the Flows view asks for with its first page, groupings, the service
//! graph, and the Policy Board's numbers (`board_*`: `Store::policy_metrics` over the window,
//! which is what `/api/policies` and `/api/policy` call).
//!
//! ```text
//! cargo run --release -p flowlens-server --example query_latency -- \
//!     [--records 10000000] [--dir DIR] [--runs 20] [--level 0|2] [--steady] [--no-rollups] \
//!     [--json FILE] [--only QUERY]
//! ```
//!
//! Builds the store in DIR (a temporary directory when not given) unless DIR already holds
//! data, spreading end times over 24 hours: each flow log drawn afresh, or with `--steady`
//! the flow logs of one 5-minute interval (Calico's default flush) repeated every interval,
//! as a cluster whose workloads keep talking to the same peers reports them. Then times each
//! query `--runs` times after one warm-up and prints p50/p95; `--no-rollups` reads rows only. The server's "now" is the latest stored end time, so `since=1h`
//! is the last hour of data. `--json FILE` also writes the figures for
//! `bench/duckdb/compare.py`.

#[path = "../../store/support/synth.rs"]
mod synth;

use flowlens_server::{Params, searches};
use flowlens_store::{EmbeddedOptions, EmbeddedStore, FlowSearch, GroupBy, Store};
use std::time::{Duration, Instant};

const DAY: i64 = 86_400;

/// What a timed query asks the store for.
#[derive(Clone, Copy)]
enum Ask {
    /// A page of flows (rows: the total).
    Page,
    /// An aggregate (rows: its groups).
    Group(GroupBy),
    /// The Policy Board's metrics (rows: the policies).
    Board,
}
const START: i64 = 1_700_000_000;

struct Args {
    records: u64,
    dir: Option<String>,
    runs: usize,
    level: synth::Level,
    json: Option<String>,
    only: Option<String>,
    steady: bool,
    rollups: bool,
}

fn args() -> Args {
    let mut a = Args {
        records: 10_000_000,
        dir: None,
        runs: 20,
        level: synth::Level::Zero,
        json: None,
        only: None,
        steady: false,
        rollups: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--records" => a.records = value().parse().expect("--records N"),
            "--dir" => a.dir = Some(value()),
            "--runs" => a.runs = value().parse().expect("--runs N"),
            "--level" => {
                a.level = if value() == "2" {
                    synth::Level::Two
                } else {
                    synth::Level::Zero
                }
            }
            "--json" => a.json = Some(value()),
            "--only" => a.only = Some(value()),
            "--steady" => a.steady = true,
            "--no-rollups" => a.rollups = false,
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// Calico's default flush interval: a steady store repeats one interval's flow logs.
const INTERVAL: i64 = 300;

async fn build(store: &EmbeddedStore, records: u64, level: synth::Level, steady: bool) {
    let mut generator = synth::Generator::new(42, level);
    let batch = 50_000u64;
    // One interval's flow logs, their end times spread over it.
    let per_interval = records.div_ceil((DAY / INTERVAL) as u64);
    let interval =
        steady.then(|| generator.batch(per_interval as usize, 0, INTERVAL, 0, per_interval));
    let started = Instant::now();
    let mut done = 0;
    while done < records {
        let n = batch.min(records - done);
        let logs = match &interval {
            None => generator.batch(n as usize, START, DAY, done, records),
            Some(interval) => (done..done + n)
                .map(|i| {
                    let mut log = interval[(i % per_interval) as usize].clone();
                    log.end_time += START + (i / per_interval) as i64 * INTERVAL;
                    log.start_time = log.end_time - INTERVAL;
                    log
                })
                .collect(),
        };
        store.append(logs).await.expect("append");
        done += n;
        if done % 1_000_000 == 0 {
            eprintln!(
                "  {done} records, {:.0} records/s",
                done as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    store.flush().await.expect("flush");
    let ingest = started.elapsed();
    let compact_start = Instant::now();
    let report = store.compact().await.expect("compact");
    eprintln!(
        "built {records} records in {:.1}s ({:.0} records/s incl. generation, WAL, flushes); \
         compaction {} → {} files in {:.1}s",
        ingest.as_secs_f64(),
        records as f64 / ingest.as_secs_f64(),
        report.files_in,
        report.files_out,
        compact_start.elapsed().as_secs_f64()
    );
}

/// A query string as the server reads it.
fn request(pairs: &[(&str, &str)]) -> Params {
    Params(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args = args();
    let dir = match &args.dir {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("flowlens-latency-{}", std::process::id())),
    };
    let options = EmbeddedOptions {
        rollups: args.rollups,
        ..EmbeddedOptions::default()
    };
    let store = EmbeddedStore::open(&dir, options).expect("open");
    if store.stats().await.unwrap().records == 0 {
        eprintln!("building {} records in {}", args.records, dir.display());
        build(&store, args.records, args.level, args.steady).await;
    }
    // As the running server's maintenance leaves it: a store written by an older version
    // gets its rollups here.
    let started = Instant::now();
    let report = store.compact().await.expect("compact");
    if report.files_in + report.rollups_added > 0 {
        eprintln!("compaction: {report} ({:.1?})", started.elapsed());
    }
    let stats = store.stats().await.unwrap();
    let (_, max_time) = store.time_bounds().await.unwrap().expect("data");
    eprintln!(
        "store: {} records, {} files, {:.1} MB, {:.1} bytes/record; latest end_time {max_time}",
        stats.records,
        stats.files,
        stats.bytes_on_disk as f64 / 1e6,
        stats.bytes_on_disk as f64 / stats.records.max(1) as f64
    );

    let now = max_time;
    let first_hour = (START + 3599).div_euclid(3600) * 3600;
    let whole_hours = (first_hour.to_string(), (first_hour + 23 * 3600).to_string());
    let flows = |pairs: &[(&str, &str)]| searches::flows(&request(pairs), now).expect("search");
    let aggregate = |pairs: &[(&str, &str)]| {
        let (query, group_by) = searches::aggregate(&request(pairs), now).expect("search");
        (query, Ask::Group(group_by))
    };
    let flows_15m = flows(&[("since", "15m"), ("limit", "100")]);
    let (connections_15m, group_by) = searches::connections(&flows_15m);
    let graph = |since| searches::graph(&request(&[("since", since)]), now).expect("search");
    let board = |since| searches::board(&request(&[("since", since)]), now).expect("search");
    let mut queries: Vec<(&str, FlowSearch, Ask)> = vec![
        ("flows_15m", flows_15m, Ask::Page),
        (
            "flows_15m_connections",
            connections_15m,
            Ask::Group(group_by),
        ),
        (
            "flows_15m_deny",
            flows(&[
                ("since", "15m"),
                ("limit", "100"),
                ("filter", "action=deny"),
            ]),
            Ask::Page,
        ),
        (
            "flows_1h_selector",
            flows(&[
                ("since", "1h"),
                ("limit", "100"),
                (
                    "source_selector",
                    "app == 'checkout' && team in {'team-7', 'team-8'}",
                ),
            ]),
            Ask::Page,
        ),
    ];
    for (name, group_by, since) in [
        ("namespace_pair_1h", "namespace_pair", "1h"),
        ("name_pair_1h", "name_pair", "1h"),
        ("namespace_pair_24h", "namespace_pair", "24h"),
        ("name_pair_24h", "name_pair", "24h"),
        ("policy_24h", "policy", "24h"),
        ("policy_rule_24h", "policy_rule", "24h"),
    ] {
        let (query, ask) = aggregate(&[("group_by", group_by), ("since", since)]);
        queries.push((name, query, ask));
    }
    queries.extend([
        ("graph_1h", graph("1h"), Ask::Group(GroupBy::ServiceEdge)),
        ("graph_24h", graph("24h"), Ask::Group(GroupBy::ServiceEdge)),
        // The 23 whole hours within the data: what reading rollups alone costs.
        (
            "graph_23h_aligned",
            searches::graph(
                &request(&[("from", &whole_hours.0), ("to", &whole_hours.1)]),
                now,
            )
            .expect("search"),
            Ask::Group(GroupBy::ServiceEdge),
        ),
        ("board_1h", board("1h"), Ask::Board),
        ("board_24h", board("24h"), Ask::Board),
    ]);
    let mut results = Vec::new();
    println!(
        "{:<20} {:>10} {:>10} {:>10}",
        "query", "p50 ms", "p95 ms", "rows"
    );
    for (name, query, ask) in &queries {
        if args.only.as_deref().is_some_and(|only| only != *name) {
            continue;
        }
        let mut times = Vec::new();
        let mut rows = 0;
        for run in 0..=args.runs {
            let started = Instant::now();
            rows = match ask {
                Ask::Page => store.query_flows(query).await.expect("query").total as usize,
                Ask::Group(g) => store.aggregate(query, *g).await.expect("aggregate").len(),
                Ask::Board => store.policy_metrics(query).await.expect("metrics").len(),
            };
            if run > 0 {
                times.push(started.elapsed());
            }
        }
        times.sort();
        let (p50, p95) = (percentile(&times, 0.5), percentile(&times, 0.95));
        println!("{name:<20} {p50:>10.1} {p95:>10.1} {rows:>10}");
        results.push(format!(
            "{{\"query\":\"{name}\",\"p50_ms\":{p50:.2},\"p95_ms\":{p95:.2},\"rows\":{rows},\"from\":{},\"to\":{}}}",
            query.time.from, query.time.to
        ));
    }
    if let Some(path) = &args.json {
        let json = format!(
            "{{\"records\":{},\"bytes_on_disk\":{},\"data_dir\":\"{}\",\"results\":[{}]}}\n",
            stats.records,
            stats.bytes_on_disk,
            store.data_dir().display(),
            results.join(",")
        );
        std::fs::write(path, json).expect("write json");
    }
    if args.dir.is_none() {
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
