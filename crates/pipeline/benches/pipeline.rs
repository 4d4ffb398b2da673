//! Decoding Calico flow log lines: Felix's plain shape (read by the plain parser) against the
//! same lines with one escaped character each (which sends them through serde), and the plain
//! shape decoded into the store's columns as `ingest`'s decoding threads do.
//!   cargo bench -p flowlens-pipeline --bench pipeline

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowlens_pipeline::LineDecoder;
use flowlens_pipeline::decode::InputFormat;
use flowlens_store::FlowBatchBuilder;
use std::hint::black_box;

/// `n` lines as `simulate --calico` writes them, varied in names, addresses and counters.
fn lines(n: usize, escaped: bool) -> Vec<u8> {
    let host = if escaped {
        r"worker\u002d1"
    } else {
        "worker-1"
    };
    let mut out = String::new();
    for i in 0..n {
        let (pod, ns) = (i % 977, i % 200);
        out.push_str(&format!(
            r#"{{"action":"allow","bytes_in":{},"bytes_out":677,"dest_ip":"10.128.{}.{}","dest_labels":{{"labels":["app=api-{pod}","role=api","version=v1"]}},"dest_name":"api-{pod}-c5t9tkbgkj-mjdkq","dest_name_aggr":"api-{pod}-c5t9tkbgkj-*","dest_namespace":"ns-{ns:04}","dest_port":9090,"dest_service_name":"api-{pod}","dest_service_namespace":"ns-{ns:04}","dest_service_port":"grpc","dest_service_port_num":9090,"dest_type":"wep","end_time":{},"host":"{host}","num_flows":1,"num_flows_completed":1,"num_flows_started":1,"packets_in":5,"packets_out":4,"policies":{{"enforced_policies":["0|security|gnp:security.block-threat-feed|pass|1","1|platform|gnp:platform.allow-dns|pass|2","2|app|np:ns-{ns:04}/web-zone-{ns}|allow|0"],"pending_policies":["0|security|gnp:security.block-threat-feed|pass|1","1|platform|gnp:platform.allow-dns|pass|2","2|app|np:ns-{ns:04}/web-zone-{ns}|allow|0"]}},"process_id":"-","process_name":"nginx","proto":"tcp","reporter":"src","source_ip":"10.128.1.{}","source_labels":{{"labels":["app=web-{pod}","role=web","version=v2"]}},"source_name":"web-{pod}-d2pxps7wjj-pm6np","source_name_aggr":"web-{pod}-d2pxps7wjj-*","source_namespace":"ns-{ns:04}","source_port":{},"source_type":"wep","start_time":1763700000}}"#,
            1000 + i,
            i % 250,
            i % 251,
            1_763_700_015 + i / 1000,
            i % 253,
            30_000 + i % 30_000,
        ));
        out.push('\n');
    }
    out.into_bytes()
}

fn decode(c: &mut Criterion) {
    const LINES: usize = 10_000;
    let mut group = c.benchmark_group("calico_lines");
    group.throughput(Throughput::Elements(LINES as u64));
    for (name, escaped) in [("plain_shape", false), ("through_serde", true)] {
        let block = lines(LINES, escaped);
        let mut decoder = LineDecoder::new(InputFormat::Calico);
        let decoded = decoder.decode_lines(&block, 1, |_| {});
        assert_eq!(decoded.calico, LINES, "{name}: every line decodes");
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut ports = 0u64;
                decoder.decode_lines(black_box(&block), 1, |view| {
                    ports += u64::from(view.source.port.unwrap_or(0));
                });
                ports
            })
        });
    }
    let block = lines(LINES, false);
    let mut decoder = LineDecoder::new(InputFormat::Calico);
    group.bench_function("plain_shape_into_columns", |b| {
        b.iter(|| {
            let mut columns = FlowBatchBuilder::with_capacity(LINES);
            decoder.decode_lines(black_box(&block), 1, |view| columns.push_view(view));
            columns.finish().expect("the columns fit the schema")
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
