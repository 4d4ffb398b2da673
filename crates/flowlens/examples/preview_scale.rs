//! Impact preview and Policy Board latency over the `scale` scenario.
//!
//! ```text
//! cargo run --release -p flowlens --example preview_scale -- \
//!     [--records 10000000] [--dir DIR] [--runs 5] [--seconds 15] [--no-rollups]
//! ```
//!
//! Builds the `scale` scenario (2,000 namespaces, 30,000 pods, 1,000 policies in 5 tiers),
//! generates `--seconds` of its traffic (1 M connections/s), attributes and aggregates it
//! with the pipeline at Calico's default levels, then repeats those flow logs shifted in time
//! until the store holds `--records` spread over 24 hours (so the day's distinct tuples are
//! those of the generated traffic, as for a steady workload). Skips all that when DIR
//! already holds data. Then times, `--runs` times after one warm-up:
//!
//! - the impact preview of replacing one policy through the service the server and the CLI
//!   call (the draft inventory, the distinct-tuple query with the draft's engine compiling
//!   alongside, and re-evaluating every tuple with both engines), and
//! - the Policy Board's numbers as its handler reads them, `Store::policy_metrics` of every
//!   flow in the window, for the board's default hour and for the whole day.
//!
//! The store is compacted first, as the server's periodic maintenance would leave it.

use flowlens_impact::{PolicyChange, preview_change_timed};
use flowlens_model::{FlowLog, PortMatch, RuleAction};
use flowlens_pipeline::{AggregationConfig, Ingest};
use flowlens_policy::Engine;
use flowlens_sim::{Generator, ScaleParams, Scenario};
use flowlens_store::{EmbeddedOptions, EmbeddedStore, FlowSearch, Store, TimeRange};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DAY: i64 = 86_400;
const START: i64 = 1_800_000_000;

struct Args {
    records: u64,
    dir: Option<String>,
    runs: usize,
    seconds: i64,
    rollups: bool,
}

fn args() -> Args {
    let mut a = Args {
        records: 10_000_000,
        dir: None,
        runs: 5,
        seconds: 15,
        rollups: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--records" => a.records = value().parse().expect("--records N"),
            "--dir" => a.dir = Some(value()),
            "--runs" => a.runs = value().parse().expect("--runs N"),
            "--seconds" => a.seconds = value().parse().expect("--seconds N"),
            "--no-rollups" => a.rollups = false,
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn generate(scenario: &Scenario, seconds: i64) -> Vec<FlowLog> {
    let engine = Arc::new(Engine::new(scenario.inventory().clone()));
    let mut ingest = Ingest::new(engine, AggregationConfig::default());
    let mut generator = Generator::new(scenario, 1, START);
    let mut buf = Vec::new();
    let mut logs = Vec::new();
    for second in 0..seconds {
        buf.clear();
        generator.advance_into(1.0, &mut buf);
        for r in &buf {
            ingest.raw("scale", 0, r);
        }
        logs.extend(ingest.flush_until(START + second));
    }
    logs.extend(ingest.finish());
    logs
}

async fn fill(store: &EmbeddedStore, logs: &[FlowLog], records: u64) {
    let (min, max) = logs.iter().fold((i64::MAX, i64::MIN), |(a, b), l| {
        (a.min(l.start_time), b.max(l.end_time))
    });
    let span = (max - min + 1).max(1);
    let copies = records.div_ceil(logs.len() as u64);
    // Copies spread evenly over the day.
    let step = (DAY / copies as i64).max(span);
    let mut written = 0u64;
    for copy in 0..copies {
        let shift = copy as i64 * step;
        let batch: Vec<FlowLog> = logs
            .iter()
            .take((records - written).min(logs.len() as u64) as usize)
            .map(|l| {
                let mut l = l.clone();
                l.start_time += shift;
                l.end_time += shift;
                l
            })
            .collect();
        written += batch.len() as u64;
        for chunk in batch.chunks(200_000) {
            store.append(chunk.to_vec()).await.expect("append");
        }
    }
    store.flush().await.expect("flush");
}

fn percentile(times: &mut [Duration], p: f64) -> Duration {
    times.sort();
    let i = ((times.len() as f64 - 1.0) * p).round() as usize;
    times[i]
}

#[tokio::main]
async fn main() {
    let a = args();
    let params = ScaleParams::benchmark();
    let t = Instant::now();
    let scenario = Scenario::scale(&params).expect("scale scenario");
    eprintln!(
        "scale scenario: {} endpoints, {} policies ({:.1?})",
        scenario.inventory().endpoints.len(),
        scenario.inventory().policies.len(),
        t.elapsed()
    );
    let tmp;
    let dir = match &a.dir {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir().expect("tempdir");
            tmp.path().to_path_buf()
        }
    };
    let options = EmbeddedOptions {
        rollups: a.rollups,
        ..EmbeddedOptions::default()
    };
    let store = EmbeddedStore::open(&dir, options).expect("open store");
    if store.stats().await.expect("stats").records == 0 {
        let t = Instant::now();
        let logs = generate(&scenario, a.seconds);
        eprintln!(
            "{} s of traffic → {} flow logs ({:.1?})",
            a.seconds,
            logs.len(),
            t.elapsed()
        );
        let t = Instant::now();
        fill(&store, &logs, a.records).await;
        eprintln!("stored {} records ({:.1?})", a.records, t.elapsed());
    }
    // As the running server's maintenance leaves it (a store written by an older version
    // gets its rollups here).
    let t = Instant::now();
    let report = store.compact().await.expect("compact");
    if report.files_in + report.rollups_added > 0 {
        eprintln!("compaction: {report} ({:.1?})", t.elapsed());
    }
    let stats = store.stats().await.expect("stats");
    let (lo, hi) = store.time_bounds().await.expect("bounds").expect("data");
    eprintln!(
        "store: {} records in {} files, {:.0} MB, {} .. {}",
        stats.records,
        stats.files,
        stats.bytes_on_disk as f64 / 1e6,
        lo,
        hi
    );

    // The draft: the most used policy with an extra deny rule in front on one port, so that
    // some of its traffic changes.
    let inventory = scenario.inventory().clone();
    let before = Arc::new(Engine::new(inventory.clone()));
    let range = TimeRange::since(Duration::from_secs(DAY as u64), hi);
    let metrics = store
        .policy_metrics(&FlowSearch::new(range))
        .await
        .expect("metrics");
    let busiest = metrics
        .iter()
        .filter(|m| m.kind.is_some())
        .max_by_key(|m| m.total.connections)
        .expect("a policy with traffic");
    let mut draft_policy = inventory
        .policies
        .iter()
        .find(|p| {
            p.name == busiest.name && p.namespace == busiest.namespace && p.tier == busiest.tier
        })
        .expect("busiest policy in inventory")
        .clone();
    let id = draft_policy.id();
    let mut deny = flowlens_model::Rule::new(RuleAction::Deny);
    deny.protocol = Some(flowlens_model::Protocol::Tcp);
    deny.destination.ports = vec![PortMatch::Range {
        first: 1,
        last: 1024,
    }];
    draft_policy.ingress.insert(0, deny.clone());
    draft_policy.egress.insert(0, deny);
    eprintln!("draft: {id} with a leading Deny TCP 1-1024 rule in both directions");

    let mut preview_times = Vec::new();
    let mut tuple_times = Vec::new();
    let mut engine_times = Vec::new();
    let mut eval_times = Vec::new();
    let mut last = None;
    for run in 0..=a.runs.max(1) {
        let change = PolicyChange::Upsert(Box::new(draft_policy.clone()));
        let (p, timings) = preview_change_timed(&store, &before, change, range)
            .await
            .expect("preview");
        if run > 0 {
            preview_times.push(timings.total);
            tuple_times.push(timings.tuples);
            engine_times.push(timings.draft_engine);
            eval_times.push(timings.evaluation);
        }
        last = Some((p, timings.tuples_read));
    }
    let (p, n_tuples) = last.expect("ran");
    println!(
        "preview: {} flow logs, {} tuples ({} evaluated); allow→deny {}, deny→allow {}, uncertain {}, unchanged {}",
        p.flow_logs,
        n_tuples,
        p.evaluated_tuples,
        p.summary.allow_to_deny,
        p.summary.deny_to_allow,
        p.summary.uncertain,
        p.summary.unchanged
    );
    println!(
        "preview total p50 {:.2?} p95 {:.2?} (tuple query p50 {:.2?}, draft engine build alongside it p50 {:.2?}, evaluation p50 {:.2?})",
        percentile(&mut preview_times.clone(), 0.5),
        percentile(&mut preview_times, 0.95),
        percentile(&mut tuple_times, 0.5),
        percentile(&mut engine_times, 0.5),
        percentile(&mut eval_times, 0.5)
    );

    // As the board's handler asks: every flow of the window, no other filter.
    for (label, window) in [("1h", 3600), ("24h", DAY)] {
        let query = FlowSearch::new(TimeRange::since(Duration::from_secs(window as u64), hi));
        let mut metric_times = Vec::new();
        let mut policies = 0;
        for run in 0..=a.runs.max(1) {
            let t = Instant::now();
            let m = store.policy_metrics(&query).await.expect("metrics");
            if run > 0 {
                metric_times.push(t.elapsed());
            }
            policies = m.len();
        }
        println!(
            "policy_metrics {label}: {policies} policies; p50 {:.2?} p95 {:.2?}",
            percentile(&mut metric_times.clone(), 0.5),
            percentile(&mut metric_times, 0.95)
        );
    }
}
