//! The pipeline end to end: decoding Calico and raw records, attribution with the engine,
//! and Calico's aggregation levels.

use flowlens_manifests::{LoadOptions, load_paths};
use flowlens_model::{
    Action, EndpointType, FlowLog, Inventory, PolicyHitFormat, Protocol, RawFlow, Reporter,
};
use flowlens_pipeline::decode::{DecodeError, Decoded, InputFormat, decode_line};
use flowlens_pipeline::{AggregationConfig, AggregationLevel, Aggregator, Attributor};
use flowlens_policy::{Engine, PeerSpec};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A Felix flows.log line in the shape Calico's documentation describes.
const FELIX_LINE: &str = r#"{"start_time":1597169700,"end_time":1597170000,"source_ip":null,"source_name":"-","source_name_aggr":"frontend-864f4fcdfd-*","source_namespace":"storefront","source_port":null,"source_type":"wep","source_labels":{"labels":["app=frontend","fw-zone=dmz"]},"dest_ip":null,"dest_name":"-","dest_name_aggr":"microservice1-794cf77b9d-*","dest_namespace":"storefront","dest_port":80,"dest_type":"wep","dest_labels":{"labels":["app=microservice1","fw-zone=trusted"]},"dest_service_namespace":"storefront","dest_service_name":"microservice1","dest_service_port":"http","dest_service_port_num":80,"proto":"tcp","action":"allow","reporter":"src","policies":{"all_policies":["0|security|security.block-threatfeed|pass|1","1|platform|platform.allow-kube-dns|pass|2","2|default|storefront/default.dmz|allow|0","3|default|storefront/default.staged:tighten|deny|-1"]},"bytes_in":48310,"bytes_out":21540,"num_flows":12,"num_flows_started":4,"num_flows_completed":3,"packets_in":212,"packets_out":198,"http_requests_allowed_in":0,"http_requests_denied_in":0,"process_name":"-","num_process_names":0,"process_id":"-","num_process_ids":0,"original_source_ips":null,"num_original_source_ips":0,"host":"worker-1"}"#;

#[test]
fn felix_flow_log_lines_load_field_for_field() {
    let Ok(Decoded::Calico(log)) = decode_line(FELIX_LINE, 1, InputFormat::Auto) else {
        panic!("decodes")
    };
    assert_eq!((log.start_time, log.end_time), (1597169700, 1597170000));
    assert_eq!(log.source.ip, None);
    assert_eq!(log.source.name, None);
    assert_eq!(log.source.name_aggr, "frontend-864f4fcdfd-*");
    assert_eq!(log.source.namespace.as_deref(), Some("storefront"));
    assert_eq!(log.source.port, None);
    assert_eq!(log.source.endpoint_type, Some(EndpointType::Wep));
    assert_eq!(
        log.source.labels.get("fw-zone").map(String::as_str),
        Some("dmz")
    );
    assert_eq!(log.dest.port, Some(80));
    assert_eq!(log.dest.labels.len(), 2);
    let svc = log.dest_service.as_ref().expect("service");
    assert_eq!(
        (
            svc.namespace.as_str(),
            svc.name.as_str(),
            svc.port_name.as_str(),
            svc.port_num
        ),
        ("storefront", "microservice1", "http", 80)
    );
    assert_eq!(
        (log.proto, log.action, log.reporter),
        (Protocol::Tcp, Action::Allow, Reporter::Src)
    );
    // The enforced trace leaves the staged hit out; the older all_policies list is kept whole
    // as the pending trace.
    let enforced: Vec<String> = log
        .enforced_policies
        .iter()
        .map(|h| h.to_string_in(PolicyHitFormat::Enterprise))
        .collect();
    assert_eq!(
        enforced,
        [
            "0|security|security.block-threatfeed|pass|1",
            "1|platform|platform.allow-kube-dns|pass|2",
            "2|default|storefront/default.dmz|allow|0"
        ]
    );
    assert_eq!(log.pending_policies.len(), 4);
    assert_eq!(
        log.enforced_policies[2].to_string(),
        "2|default|np:storefront/dmz|allow|0"
    );
    assert_eq!(
        (log.bytes_in, log.bytes_out, log.packets_in, log.packets_out),
        (48310, 21540, 212, 198)
    );
    assert_eq!(
        (
            log.num_flows,
            log.num_flows_started,
            log.num_flows_completed
        ),
        (12, 4, 3)
    );
    assert_eq!((log.process_name.as_deref(), log.process_id), (None, None));
    assert_eq!(log.host.as_deref(), Some("worker-1"));
}

#[test]
fn elasticsearch_exports_and_newer_policy_fields_load() {
    let line = format!(
        r#"{{"_index":"tigera_secure_ee_flows.cluster.20200811","_id":"x","_source":{FELIX_LINE}}}"#
    );
    let Ok(Decoded::Calico(wrapped)) = decode_line(&line, 1, InputFormat::Auto) else {
        panic!("decodes")
    };
    let Ok(Decoded::Calico(plain)) = decode_line(FELIX_LINE, 1, InputFormat::Auto) else {
        panic!("decodes")
    };
    assert_eq!(wrapped, plain);

    let newer = FELIX_LINE.replace(
        r#""policies":{"all_policies":["0|security|security.block-threatfeed|pass|1","1|platform|platform.allow-kube-dns|pass|2","2|default|storefront/default.dmz|allow|0","3|default|storefront/default.staged:tighten|deny|-1"]}"#,
        r#""policies":{"enforced_policies":["0|default|np:storefront/dmz|allow|0"],"pending_policies":["0|default|snp:storefront/tighten|deny|-1"]}"#,
    );
    let Ok(Decoded::Calico(log)) = decode_line(&newer, 1, InputFormat::Calico) else {
        panic!("decodes")
    };
    assert_eq!(log.enforced_policies.len(), 1);
    assert_eq!(
        log.pending_policies[0].to_string(),
        "0|default|snp:storefront/tighten|deny|-1"
    );
}

#[test]
fn bad_lines_are_rejected_with_their_number_and_reason() {
    let cases = [
        ("{not json", "not a Calico flow log"),
        (
            r#"{"start_time":1,"end_time":2,"proto":"tcp","action":"maybe","reporter":"src"}"#,
            "action \"maybe\"",
        ),
        (
            r#"{"start_time":1,"end_time":2,"proto":"tcp","action":"allow","reporter":"src","source_ip":"10.0.0.300"}"#,
            "source_ip",
        ),
        (
            r#"{"start_time":1,"end_time":2,"proto":"tcp","action":"allow","reporter":"src","policies":{"all_policies":["x|y"]}}"#,
            "policies.all_policies",
        ),
        (
            r#"{"start_time":5,"end_time":2,"proto":"tcp","action":"allow","reporter":"src"}"#,
            "before start_time",
        ),
        (
            r#"{"start_time":1,"end_time":2,"proto":"tcp","action":"allow","reporter":"src","dest_port":70000}"#,
            "not a port",
        ),
        (
            r#"{"start_time":1,"end_time":2,"src_ip":"10.0.0.1","src_port":1,"dst_ip":"10.0.0.2","dst_port":80,"proto":"warp"}"#,
            "raw flow record",
        ),
    ];
    for (i, (line, why)) in cases.iter().enumerate() {
        match decode_line(line, i + 7, InputFormat::Auto) {
            Err(DecodeError { line: n, reason }) => {
                assert_eq!(n, i + 7);
                assert!(reason.contains(why), "{reason:?} should mention {why:?}");
            }
            other => panic!("line {line} should fail, got {other:?}"),
        }
    }
    assert_eq!(decode_line("   ", 1, InputFormat::Auto), Ok(Decoded::Empty));
}

fn scenario(parts: &[&str]) -> Arc<Engine> {
    let root = scenarios_dir();
    let paths: Vec<PathBuf> = parts.iter().map(|p| root.join(p)).collect();
    Arc::new(Engine::new(
        load_paths(&paths, &LoadOptions::default())
            .expect("loads")
            .inventory,
    ))
}

fn ip_of(engine: &Engine, spec: &str) -> IpAddr {
    engine
        .resolve_spec(&spec.parse::<PeerSpec>().unwrap())
        .unwrap()
        .ip
}

fn raw(src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16, t: i64) -> RawFlow {
    RawFlow {
        start_time: t,
        end_time: t + 1,
        src_ip: src,
        src_port,
        dst_ip: dst,
        dst_port,
        proto: Protocol::Tcp,
        bytes_out: 100,
        bytes_in: 1000,
        packets_out: 2,
        packets_in: 3,
        process_name: Some("curl".into()),
        process_id: Some(42),
        reporter: None,
    }
}

fn run(engine: &Arc<Engine>, config: AggregationConfig, records: &[RawFlow]) -> Vec<FlowLog> {
    let attributor = Attributor::new(engine.clone());
    let mut aggregator = Aggregator::new(engine.clone(), config);
    let mut buf = Vec::new();
    for r in records {
        buf.clear();
        attributor.attribute(r, &mut buf).expect("attributable");
        for a in &buf {
            aggregator.add(a);
        }
    }
    aggregator.flush_all()
}

#[test]
fn raw_records_get_the_traces_explain_gives() {
    let engine = scenario(&["storefront/manifests", "storefront/steps/rogue.yaml"]);
    let rogue = ip_of(&engine, "storefront/rogue");
    let ms1 = ip_of(&engine, "storefront/microservice1");
    let logs = run(
        &engine,
        AggregationConfig::default(),
        &[raw(rogue, 40000, ms1, 80, 1000)],
    );
    // Egress allowed at the rogue pod, ingress denied at microservice1: two logs.
    assert_eq!(logs.len(), 2);
    let src = logs.iter().find(|l| l.reporter == Reporter::Src).unwrap();
    let dst = logs.iter().find(|l| l.reporter == Reporter::Dst).unwrap();
    let x = engine.explain(
        &engine.resolve(rogue),
        &engine.resolve(ms1),
        &flowlens_policy::FiveTuple {
            src: rogue,
            dst: ms1,
            protocol: Protocol::Tcp,
            src_port: 40000,
            dst_port: 80,
            icmp: None,
        },
        PolicyHitFormat::Calico,
    );
    let strings = |l: &FlowLog| {
        l.enforced_policies
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(strings(src), x.egress.unwrap().policies);
    assert_eq!(strings(dst), x.ingress.unwrap().policies);
    assert_eq!((src.action, dst.action), (Action::Allow, Action::Deny));
    // Denied flows aggregate at level 1: names and IPs kept, source port dropped.
    assert_eq!(dst.source.ip, Some(rogue));
    assert_eq!(dst.source.port, None);
    assert_eq!(dst.dest.port, Some(80));
    assert!(dst.source.name.as_deref().unwrap().starts_with("rogue-"));
    // The destination reports what it received as bytes_in.
    assert_eq!((dst.bytes_in, dst.bytes_out), (100, 1000));
    assert_eq!((src.bytes_in, src.bytes_out), (1000, 100));
    // Allowed flows at level 2: pod names and IPs aggregated away.
    assert_eq!((src.source.ip, src.source.name.as_deref()), (None, None));
    assert!(src.source.name_aggr.starts_with("rogue-") && src.source.name_aggr.ends_with("-*"));
    assert_eq!(src.process_name.as_deref(), Some("curl"));
    assert_eq!(dst.process_name, None);
}

#[test]
fn flows_to_service_ips_are_evaluated_after_dnat() {
    let engine = scenario(&["storefront/manifests"]);
    let frontend = ip_of(&engine, "storefront/frontend");
    let svc = engine
        .inventory()
        .services
        .iter()
        .find(|s| s.name == "microservice1")
        .unwrap();
    let logs = run(
        &engine,
        AggregationConfig::default(),
        &[raw(frontend, 40000, svc.cluster_ips[0], 80, 1000)],
    );
    assert_eq!(logs.len(), 2);
    for l in &logs {
        assert_eq!(l.action, Action::Allow);
        assert!(l.dest.name_aggr.starts_with("microservice1-"));
        let s = l.dest_service.as_ref().unwrap();
        assert_eq!((s.name.as_str(), s.port_num), ("microservice1", 80));
    }
}

#[test]
fn egress_denied_flows_are_logged_by_the_source_only() {
    let engine = scenario(&["fme/manifests"]);
    let engine_pod = ip_of(&engine, "fme/engine-standard-group");
    let core = ip_of(&engine, "fme/fmeserver-core");
    let logs = run(
        &engine,
        AggregationConfig::default(),
        &[raw(engine_pod, 40000, core, 42001, 1000)],
    );
    assert_eq!(logs.len(), 1);
    assert_eq!(
        (logs[0].reporter, logs[0].action),
        (Reporter::Src, Action::Deny)
    );
    assert_eq!(
        logs[0].enforced_policies.last().unwrap().to_string(),
        "1|default|knp:fme/default-deny|deny|-1"
    );
}

#[test]
fn aggregation_levels_merge_what_calico_merges() {
    let engine = scenario(&["fme/manifests"]);
    let inv = engine.inventory();
    let engines: Vec<IpAddr> = inv
        .endpoints
        .iter()
        .filter(|e| e.name.starts_with("engine-standard-group"))
        .map(|e| e.ips[0])
        .collect();
    assert_eq!(engines.len(), 2);
    let core = ip_of(&engine, "fme/fmeserver-core");
    let records = vec![
        raw(engines[0], 40000, core, 7070, 1000),
        raw(engines[0], 40001, core, 7070, 1001),
        raw(engines[1], 40000, core, 7070, 1002),
        raw(engines[1], 40002, core, 7070, 1020), // next 15 s bucket
    ];
    let level = |n| AggregationConfig {
        allowed: AggregationLevel::from_number(n).unwrap(),
        ..AggregationConfig::default()
    };
    let src_logs = |logs: Vec<FlowLog>| {
        logs.into_iter()
            .filter(|l| l.reporter == Reporter::Src)
            .collect::<Vec<_>>()
    };

    let l0 = src_logs(run(&engine, level(0), &records));
    assert_eq!(l0.len(), 4);
    assert!(
        l0.iter()
            .all(|l| l.source.port.is_some() && l.num_flows == 1)
    );

    let l1 = src_logs(run(&engine, level(1), &records));
    assert_eq!(l1.len(), 3, "per pod per bucket");
    let first = l1.iter().find(|l| l.source.ip == Some(engines[0])).unwrap();
    assert_eq!(
        (first.num_flows, first.num_flows_started, first.bytes_out),
        (2, 2, 200)
    );

    let l2 = src_logs(run(&engine, level(2), &records));
    assert_eq!(l2.len(), 2, "per workload per bucket");
    assert_eq!(l2[0].num_flows, 3);
    assert_eq!(
        l2[0].source.name_aggr,
        inv.endpoints
            .iter()
            .find(|e| e.ips[0] == engines[0])
            .unwrap()
            .name_aggr
    );
    assert_eq!(
        l2[0]
            .source
            .labels
            .get("safe.k8s.fmeserver.component")
            .map(String::as_str),
        Some("engine")
    );
    assert_eq!((l2[0].start_time, l2[0].end_time), (990, 1005));

    // Level 3 also merges destination ports; different actions never merge.
    let mut mixed = records.clone();
    mixed.push(raw(engines[0], 40003, core, 42001, 1003));
    let l3 = run(&engine, level(3), &mixed);
    let allowed: Vec<_> = l3
        .iter()
        .filter(|l| l.reporter == Reporter::Src && l.action == Action::Allow)
        .collect();
    let denied: Vec<_> = l3.iter().filter(|l| l.action == Action::Deny).collect();
    assert_eq!(
        allowed.iter().map(|l| l.dest.port).collect::<Vec<_>>(),
        [None, None]
    );
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].dest.port, Some(42001));
}

#[test]
fn decoder_never_panics_on_arbitrary_text() {
    use proptest::prelude::*;
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(
            &(
                ".{0,300}",
                prop::sample::select(vec![
                    InputFormat::Auto,
                    InputFormat::Calico,
                    InputFormat::Raw,
                ]),
            ),
            |(text, format)| {
                let _ = decode_line(&text, 1, format);
                let mutated = FELIX_LINE.replacen(&text.chars().take(3).collect::<String>(), "", 1);
                let _ = decode_line(&mutated, 1, format);
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn calico_json_output_reads_back_exactly() {
    let engine = scenario(&["storefront/manifests", "storefront/steps/rogue.yaml"]);
    let rogue = ip_of(&engine, "storefront/rogue");
    let svc = engine
        .inventory()
        .services
        .iter()
        .find(|s| s.name == "microservice1")
        .unwrap()
        .cluster_ips[0];
    let level0 = AggregationConfig {
        allowed: AggregationLevel::None,
        denied: AggregationLevel::None,
        interval_secs: 15,
    };
    for config in [AggregationConfig::default(), level0] {
        let logs = run(
            &engine,
            config,
            &[
                raw(rogue, 40000, svc, 80, 1000),
                raw(rogue, 40001, "8.8.8.8".parse().unwrap(), 53, 1000),
            ],
        );
        assert!(logs.len() >= 3);
        for log in logs {
            let line =
                flowlens_pipeline::encode::calico_json(&log, PolicyHitFormat::Calico).to_string();
            match decode_line(&line, 1, InputFormat::Auto) {
                Ok(Decoded::Calico(back)) => assert_eq!(*back, log, "{line}"),
                other => panic!("{line} did not read back: {other:?}"),
            }
            // The Enterprise spelling folds the tier into the name, so `security.x` and `x`
            // read back alike; the hits print identically again.
            let line = flowlens_pipeline::encode::calico_json(&log, PolicyHitFormat::Enterprise)
                .to_string();
            let Ok(Decoded::Calico(back)) = decode_line(&line, 1, InputFormat::Auto) else {
                panic!("{line}")
            };
            let spell = |l: &FlowLog| {
                l.enforced_policies
                    .iter()
                    .map(|h| h.to_string_in(PolicyHitFormat::Enterprise))
                    .collect::<Vec<_>>()
            };
            assert_eq!(spell(&back), spell(&log));
            assert_eq!(
                (back.source, back.dest, back.bytes_in),
                (log.source.clone(), log.dest.clone(), log.bytes_in)
            );
        }
    }
}

/// The repository's `scenarios/`, found from the package directory cargo names when the test
/// runs (not when it is compiled: a shared build cache may hold this test built elsewhere).
fn scenarios_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
}

/// Lines that exercise every way the block decoder's borrowed path differs from building a
/// `FlowLog`: labels out of order, repeated or as a map, escaped texts, the Enterprise hit
/// spelling, the `_source` wrapper, numbers written as strings, IPv6.
fn tricky_calico_lines() -> Vec<String> {
    let newer = FELIX_LINE.replace(
        r#""policies":{"all_policies":["0|security|security.block-threatfeed|pass|1","1|platform|platform.allow-kube-dns|pass|2","2|default|storefront/default.dmz|allow|0","3|default|storefront/default.staged:tighten|deny|-1"]}"#,
        r#""policies":{"enforced_policies":["0|default|np:storefront/dmz|allow|0"],"pending_policies":["0|default|snp:storefront/tighten|deny|-1"]}"#,
    );
    vec![
        FELIX_LINE.to_string(),
        newer,
        FELIX_LINE.replace(
            r#"["app=frontend","fw-zone=dmz"]"#,
            r#"["zone=b","app=frontend","zone=a","x=1=2"]"#,
        ),
        FELIX_LINE.replace(
            r#"{"labels":["app=microservice1","fw-zone=trusted"]}"#,
            r#"{"tier":"back\u0065nd","app":"micro\"service"}"#,
        ),
        FELIX_LINE.replace(r#""source_ip":null"#, r#""source_ip":"fd00::0:1""#),
        FELIX_LINE.replace(r#""dest_port":80"#, r#""dest_port":"8080""#),
        FELIX_LINE.replace(r#""host":"worker-1""#, r#""host":"w\u00f6rker""#),
        format!(r#"{{"_index":"flows","_source":{FELIX_LINE}}}"#),
    ]
}

#[test]
fn a_line_longer_than_the_cap_is_rejected_and_its_neighbours_kept() {
    use flowlens_pipeline::{LINE_TOO_LONG, LineDecoder, MAX_LINE_BYTES};
    let long = "x".repeat(MAX_LINE_BYTES + 1);
    let text = format!("{FELIX_LINE}\n{long}\n{FELIX_LINE}\n");
    let mut decoder = LineDecoder::new(InputFormat::Auto);
    let block = decoder.decode_lines(text.as_bytes(), 1, |_| {});
    assert_eq!(block.lines, 3);
    assert_eq!(block.calico, 2);
    assert_eq!(block.rejected, vec![(2, LINE_TOO_LONG.to_string())]);
    // Exactly at the cap is still decoded (and here rejected for what it holds).
    let at_cap = "y".repeat(MAX_LINE_BYTES);
    let block = decoder.decode_lines(at_cap.as_bytes(), 1, |_| {});
    assert!(
        !block.rejected[0].1.contains("longer than"),
        "{:?}",
        block.rejected
    );
    let err = decode_line(&long, 4, InputFormat::Auto).unwrap_err();
    assert_eq!(err.reason, LINE_TOO_LONG);
}

#[test]
fn block_decoding_stores_what_line_decoding_stores() {
    use flowlens_pipeline::LineDecoder;
    use flowlens_store::FlowBatchBuilder;
    let lines = tricky_calico_lines();
    let text = lines.join("\n");
    let mut by_view = FlowBatchBuilder::with_capacity(lines.len());
    let mut decoder = LineDecoder::new(InputFormat::Auto);
    let block = decoder.decode_lines(text.as_bytes(), 1, |view| by_view.push_view(view));
    assert_eq!((block.lines, block.calico), (lines.len(), lines.len()));
    assert!(block.rejected.is_empty(), "{:?}", block.rejected);
    let mut by_log = FlowBatchBuilder::with_capacity(lines.len());
    for line in &lines {
        let Ok(Decoded::Calico(log)) = decode_line(line, 1, InputFormat::Auto) else {
            panic!("{line} decodes")
        };
        by_log.push(&log);
    }
    assert_eq!(by_view.finish().unwrap(), by_log.finish().unwrap());
}

#[test]
fn repeated_label_keys_keep_the_last_value_and_labels_sort_by_key() {
    let line = &tricky_calico_lines()[2];
    let Ok(Decoded::Calico(log)) = decode_line(line, 1, InputFormat::Auto) else {
        panic!("decodes")
    };
    let labels: Vec<(&str, &str)> = log
        .source
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(labels, [("app", "frontend"), ("x", "1=2"), ("zone", "a")]);
}

#[test]
fn a_block_counts_every_line_and_rejects_bad_ones_by_number() {
    use flowlens_pipeline::LineDecoder;
    let raw_line = r#"{"start_time":1,"end_time":2,"src_ip":"10.0.0.1","src_port":1,"dst_ip":"10.0.0.2","dst_port":80,"proto":"tcp","bytes_out":1,"bytes_in":1,"packets_out":1,"packets_in":1}"#;
    let mut bytes = Vec::new();
    for part in [
        FELIX_LINE.as_bytes(),
        b"",
        b"{broken",
        raw_line.as_bytes(),
        b"\xff\xfe",
        FELIX_LINE.as_bytes(),
    ] {
        bytes.extend_from_slice(part);
        bytes.push(b'\n');
    }
    let mut decoder = LineDecoder::new(InputFormat::Auto);
    let mut seen = 0;
    let block = decoder.decode_lines(&bytes, 10, |_| seen += 1);
    assert_eq!((block.lines, block.calico, seen), (6, 2, 2));
    assert_eq!(block.raw.len(), 1);
    assert_eq!(block.raw[0].0, 13);
    let rejected: Vec<usize> = block.rejected.iter().map(|(n, _)| *n).collect();
    assert_eq!(rejected, [12, 14]);
    assert!(block.rejected[0].1.contains("not a Calico flow log"));
    assert!(block.rejected[1].1.contains("not UTF-8"));
}

#[test]
fn a_line_dated_in_milliseconds_is_rejected_and_its_neighbours_kept() {
    use flowlens_pipeline::LineDecoder;
    let millis = FELIX_LINE.replace("\"end_time\":1597170000", "\"end_time\":1597170000000");
    let text = format!("{FELIX_LINE}\n{millis}\n{FELIX_LINE}\n");
    let mut decoder = LineDecoder::new(InputFormat::Auto);
    let mut handed = 0;
    let block = decoder.decode_lines(text.as_bytes(), 1, |_| handed += 1);
    assert_eq!((block.lines, block.calico, handed), (3, 2, 2));
    assert_eq!(block.rejected.len(), 1, "{:?}", block.rejected);
    let (line, reason) = &block.rejected[0];
    assert_eq!(*line, 2);
    assert!(
        reason.contains("milliseconds instead of seconds"),
        "{reason}"
    );
}

/// Earlier engines by the time each became current (Unix milliseconds).
struct Engines(Vec<(i64, Arc<Engine>)>);

impl flowlens_policy::EngineHistory for Engines {
    fn engine_at(&self, t: i64) -> Option<Arc<Engine>> {
        self.0
            .iter()
            .rev()
            .find(|(from, _)| *from <= t)
            .map(|(_, e)| e.clone())
    }
}

fn pods(web_pod: &str) -> Inventory {
    let text = format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: shop, labels: {{app: client}}}}
status: {{podIP: 10.0.0.10}}
---
apiVersion: v1
kind: Pod
metadata: {{name: {web_pod}, namespace: shop, labels: {{app: web}}}}
status: {{podIP: 10.0.0.20}}
"
    );
    flowlens_manifests::load_str(&text, "pods.yaml", &LoadOptions::default())
        .expect("loads")
        .inventory
}

#[test]
fn late_records_are_attributed_with_the_engine_of_their_time() {
    // alpha held 10.0.0.20 until 100 s; bravo holds it since.
    let alpha = Arc::new(Engine::new(pods("alpha")));
    let history: Arc<dyn flowlens_policy::EngineHistory> =
        Arc::new(Engines(vec![(i64::MIN, alpha)]));
    let bravo = Arc::new(Engine::new(pods("bravo")).with_history(100_000, &history));
    let config = AggregationConfig::default();
    let mut ingest = flowlens_pipeline::Ingest::new(bravo, config);
    let (client, web): (IpAddr, IpAddr) =
        ("10.0.0.10".parse().unwrap(), "10.0.0.20".parse().unwrap());
    // Processed now, in arrival order: bravo's flow first, then one of alpha's time.
    ingest.raw("test", 1, &raw(client, 40_001, web, 8080, 130));
    ingest.raw("test", 2, &raw(client, 40_002, web, 8080, 40));
    ingest.raw("test", 3, &raw(client, 40_003, web, 8080, 100));
    let mut logs = ingest.finish();
    logs.sort_by_key(|l| (l.start_time, l.reporter == Reporter::Dst));
    let to: Vec<(i64, &str)> = logs
        .iter()
        .filter(|l| l.reporter == Reporter::Dst)
        .map(|l| (l.start_time, l.dest.name_aggr.as_str()))
        .collect();
    let bucket = |t: i64| t - t.rem_euclid(config.interval_secs);
    assert_eq!(
        to,
        [
            (bucket(40), "alpha"),
            (bucket(100), "bravo"),
            (bucket(130), "bravo")
        ],
        "{logs:#?}"
    );
}
