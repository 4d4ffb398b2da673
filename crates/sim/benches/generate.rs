//! Generator throughput on the `scale` scenario: 2,000 namespaces, 10,000 workloads with 3
//! pods each, 1,000 policies in 5 tiers.
//!
//! `cargo bench -p flowlens-sim --bench generate`
//!
//! Figures: the time to build the scale scenario (inventory and compiled traffic), and
//! records per second generated (criterion's throughput, in elements).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowlens_sim::{Generator, ScaleParams, Scenario};
use std::hint::black_box;
use std::time::Duration;

fn benches(c: &mut Criterion) {
    let params = ScaleParams::benchmark();
    let mut group = c.benchmark_group("scale");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("build_2k_ns_10k_workloads_1k_policies", |b| {
        b.iter(|| black_box(Scenario::scale(&params).expect("valid parameters")))
    });
    group.finish();

    let scenario = Scenario::scale(&params).expect("valid parameters");
    let mut generator = Generator::new(&scenario, 42, 1_700_000_000);
    eprintln!(
        "scale: {} endpoints, {} services, {} policies, {} traffic entries",
        scenario.inventory().endpoints.len(),
        scenario.inventory().services.len(),
        scenario.inventory().policies.len(),
        generator.entry_stats().len()
    );
    // One simulated second per iteration (records come out a whole second at a time):
    // about 1,000,000 records.
    let step = 1.0;
    let per_iteration = (params.flows_per_second * step) as u64;
    let mut group = c.benchmark_group("generate");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(per_iteration));
    let mut buffer = Vec::new();
    group.bench_function("scale_records", |b| {
        b.iter(|| {
            buffer.clear();
            generator.advance_into(step, &mut buffer);
            black_box(buffer.len())
        })
    });
    group.finish();
}

criterion_group!(generate_benches, benches);
criterion_main!(generate_benches);
