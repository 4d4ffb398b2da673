//! Write-path benchmarks: append (WAL write + fsync per 10k-record batch), flush to Parquet,
//! and bytes on disk per record, for Calico aggregation levels 0 (every record distinct) and
//! 2 (ports and IPs aggregated away).
//!
//! `cargo bench -p flowlens-store --bench store`

#[path = "../support/synth.rs"]
mod synth;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowlens_model::FlowLog;
use flowlens_store::{EmbeddedOptions, EmbeddedStore, Store};
use std::time::{Duration, Instant};
use synth::{Generator, Level};

const BATCH: usize = 10_000;
const DAY: i64 = 86_400;

fn options() -> EmbeddedOptions {
    EmbeddedOptions {
        flush_rows: usize::MAX / 8,
        background_flush: false,
        ..EmbeddedOptions::default()
    }
}

fn logs(level: Level, n: usize, seed: u64) -> Vec<FlowLog> {
    Generator::new(seed, level).batch(n, 1_700_000_000, DAY, 0, n as u64)
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Zero => "level0",
        Level::Two => "level2",
    }
}

fn bytes_per_record(rt: &tokio::runtime::Runtime) {
    for level in [Level::Zero, Level::Two] {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), options()).unwrap();
        let records = 250_000;
        let data = logs(level, records, 7);
        rt.block_on(async {
            for chunk in data.chunks(BATCH) {
                store.append(chunk.to_vec()).await.unwrap();
            }
            let wal = store.stats().await.unwrap().wal_bytes;
            store.flush().await.unwrap();
            let stats = store.stats().await.unwrap();
            println!(
                "{}: {:.1} bytes/record in Parquet ({} records, {} bytes); WAL {:.1} bytes/record",
                level_name(level),
                stats.bytes_on_disk as f64 / records as f64,
                records,
                stats.bytes_on_disk,
                wal as f64 / records as f64
            );
        });
    }
}

fn append(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    bytes_per_record(&rt);
    let mut group = c.benchmark_group("append");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(BATCH as u64));
    for level in [Level::Zero, Level::Two] {
        let batch = logs(level, BATCH, 1);
        group.bench_function(level_name(level), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut dir = tempfile::tempdir().unwrap();
                let mut store = EmbeddedStore::open(dir.path(), options()).unwrap();
                for i in 0..iters {
                    if i % 20 == 19 {
                        // Keep the in-memory buffer (and the bench's memory) bounded.
                        drop(store);
                        dir = tempfile::tempdir().unwrap();
                        store = EmbeddedStore::open(dir.path(), options()).unwrap();
                    }
                    let input = batch.clone();
                    let started = Instant::now();
                    rt.block_on(store.append(input)).unwrap();
                    total += started.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

fn flush(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let records = 100_000;
    let mut group = c.benchmark_group("flush");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(records as u64));
    for level in [Level::Zero, Level::Two] {
        let data = logs(level, records, 3);
        group.bench_function(level_name(level), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().unwrap();
                    let store = EmbeddedStore::open(dir.path(), options()).unwrap();
                    rt.block_on(async {
                        for chunk in data.chunks(BATCH) {
                            store.append(chunk.to_vec()).await.unwrap();
                        }
                    });
                    let started = Instant::now();
                    rt.block_on(store.flush()).unwrap();
                    total += started.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, append, flush);
criterion_main!(benches);
