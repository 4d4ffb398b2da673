//! The generator: deterministic by seed, independent of batch sizes, honest about rates,
//! ports and time order.

mod common;

use common::*;
use flowlens_model::{Protocol, RawFlow};
use flowlens_sim::{EPHEMERAL_PORTS, Generator, JsonLinesWriter, ScaleParams, Scenario, SimClock};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

fn hour(scenario: &Scenario, seed: u64) -> Vec<RawFlow> {
    Generator::new(scenario, seed, START).advance(3600.0)
}

#[test]
fn same_seed_same_records_different_seed_different_records() {
    let s = builtin("fme");
    let a = Generator::new(&s, 42, START).advance(600.0);
    let b = Generator::new(&s, 42, START).advance(600.0);
    let c = Generator::new(&s, 43, START).advance(600.0);
    assert!(a.len() > 1000);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn batch_sizes_do_not_change_the_records() {
    let s = builtin("storefront");
    let whole = Generator::new(&s, 5, START).advance(300.0);
    let mut g = Generator::new(&s, 5, START);
    let mut by_second = Vec::new();
    for _ in 0..300 {
        by_second.extend(g.advance(1.0));
    }
    assert!(
        whole == by_second,
        "second by second gives the same records"
    );

    // So do ragged batches: a second cut by a batch comes out whole with the next one.
    let mut g = Generator::new(&s, 5, START);
    let mut ragged = Vec::new();
    while g.elapsed() < 300.0 {
        ragged.extend(g.advance((300.0 - g.elapsed()).min(0.37)));
    }
    assert!(whole == ragged, "ragged batches give the same records");
    assert!(
        ragged
            .windows(2)
            .all(|w| w[0].start_time <= w[1].start_time)
    );
}

#[test]
fn records_come_in_time_order_and_within_the_window() {
    let s = builtin("boutique");
    let mut g = Generator::new(&s, 1, START);
    let flows = g.advance_to(START + 120);
    assert!(flows.windows(2).all(|w| w[0].start_time <= w[1].start_time));
    assert!(
        flows
            .iter()
            .all(|f| (START..START + 120).contains(&f.start_time) && f.end_time >= f.start_time)
    );
    assert_eq!(g.now(), (START + 120) as f64);
    let next = g.advance_to(START + 121);
    assert!(next.iter().all(|f| f.start_time == START + 120));
    assert!(
        g.advance_to(START).is_empty(),
        "the clock does not run backwards"
    );
}

#[test]
fn rates_are_honoured_over_a_simulated_hour() {
    let s = builtin("fme");
    let mut g = Generator::new(&s, 11, START);
    let flows = g.advance(3600.0);
    // Every entry within 5 % of rate × 3600 (Poisson: the standard deviation is √n).
    for stats in g.entry_stats() {
        let expected = stats.rate * 3600.0;
        let tolerance = (0.05 * expected).max(4.0 * expected.sqrt());
        assert!(
            (stats.emitted as f64 - expected).abs() <= tolerance,
            "{}: {} records, expected {expected}",
            stats.label,
            stats.emitted
        );
    }
    let total: f64 = g.total_rate() * 3600.0;
    assert!(
        (flows.len() as f64 - total).abs() < 0.02 * total,
        "{} vs {total}",
        flows.len()
    );
    // And seen from the records: the port pool entry runs at 4/s.
    let pool = flows
        .iter()
        .filter(|f| (42000..=43000).contains(&f.dst_port))
        .count() as f64;
    assert!((pool - 14_400.0).abs() < 0.05 * 14_400.0, "{pool}");
}

#[test]
fn port_ranges_stay_within_bounds_and_spread() {
    let s = builtin("fme");
    let core = pod_ip(&s, "fme", "fmeserver-core");
    let engines = pod_ips(&s, "fme", "engine-standard-group");
    let flows = hour(&s, 3);
    let pool: Vec<&RawFlow> = flows.iter().filter(|f| f.dst_ip == core).collect();
    assert!(!pool.is_empty());
    assert!(
        pool.iter().all(|f| (42000..=43000).contains(&f.dst_port)),
        "pool ports out of range"
    );
    assert!(pool.iter().all(|f| engines.contains(&f.src_ip)));
    let distinct: HashSet<u16> = pool.iter().map(|f| f.dst_port).collect();
    assert!(
        distinct.len() > 900,
        "{} distinct pool ports",
        distinct.len()
    );
    assert!(distinct.contains(&42000) || distinct.contains(&43000) || distinct.len() > 990);
}

#[test]
fn source_ports_are_ephemeral_and_increment_per_source() {
    let s = builtin("storefront");
    let flows = hour(&s, 8);
    let mut last: HashMap<IpAddr, u16> = HashMap::new();
    let mut steps = 0;
    let internal: Vec<IpAddr> = s
        .inventory()
        .endpoints
        .iter()
        .filter_map(|e| e.ips.first().copied())
        .collect();
    for f in &flows {
        assert!(EPHEMERAL_PORTS.contains(&f.src_port), "{}", f.src_port);
        if internal.contains(&f.src_ip)
            && let Some(prev) = last.insert(f.src_ip, f.src_port)
        {
            let expected = if prev == *EPHEMERAL_PORTS.end() {
                *EPHEMERAL_PORTS.start()
            } else {
                prev + 1
            };
            assert_eq!(f.src_port, expected, "ports increment per source endpoint");
            steps += 1;
        }
    }
    assert!(steps > 1000);
    // Different sources start at different places of the range.
    let starts: HashSet<u16> = flows
        .iter()
        .filter(|f| internal.contains(&f.src_ip))
        .map(|f| f.src_port)
        .take(50)
        .collect();
    assert!(starts.len() > 10);
    // External clients use random ephemeral ports from random public addresses.
    let shoppers: HashSet<IpAddr> = flows
        .iter()
        .filter(|f| !internal.contains(&f.src_ip))
        .map(|f| f.src_ip)
        .collect();
    assert!(shoppers.len() > 1000);
}

#[test]
fn replicas_share_the_load_and_services_are_addressed_by_cluster_ip() {
    let s = builtin("fme");
    let flows = hour(&s, 4);
    let postgres = service_ip(&s, "fme", "fmeserver-postgresql");
    let engines = pod_ips(&s, "fme", "engine-standard-group");
    assert_eq!(engines.len(), 2);
    let to_db: Vec<&RawFlow> = flows.iter().filter(|f| f.dst_ip == postgres).collect();
    assert!(
        to_db
            .iter()
            .all(|f| f.dst_port == 5432 && f.proto == Protocol::Tcp)
    );
    let core = pod_ip(&s, "fme", "fmeserver-core");
    let web = pod_ip(&s, "fme", "fmeserver-web");
    // Web's own entry aside, the database entry pools core (1 pod) and engines (2).
    let to_db: Vec<&RawFlow> = to_db.into_iter().filter(|f| f.src_ip != web).collect();
    assert!(
        to_db
            .iter()
            .all(|f| f.src_ip == core || engines.contains(&f.src_ip))
    );
    for engine in &engines {
        let n = to_db.iter().filter(|f| f.src_ip == *engine).count();
        // A third each.
        assert!(
            (n as f64 - to_db.len() as f64 / 3.0).abs() < 0.05 * to_db.len() as f64,
            "{n} of {}",
            to_db.len()
        );
    }
    let dns = flows
        .iter()
        .filter(|f| f.dst_port == 53)
        .collect::<Vec<_>>();
    assert!(
        !dns.is_empty()
            && dns
                .iter()
                .all(|f| f.proto == Protocol::Udp && f.dst_ip.to_string() == "10.96.0.10")
    );
}

#[test]
fn counters_follow_the_traffic_model() {
    let s = builtin("storefront");
    let flows = hour(&s, 2);
    let twilio: Vec<&RawFlow> = flows.iter().filter(|f| f.dst_port == 443).collect();
    assert!(!twilio.is_empty());
    let nets: Vec<ipnet::IpNet> = ["54.172.60.0/23", "34.203.250.0/23"]
        .iter()
        .map(|n| n.parse().expect("net"))
        .collect();
    assert!(
        twilio
            .iter()
            .all(|f| nets.iter().any(|n| n.contains(&f.dst_ip))),
        "twilio addresses inside its network set"
    );
    // bytes_out: 2k with the default ±20 % jitter.
    assert!(twilio.iter().all(|f| (1600..=2400).contains(&f.bytes_out)));
    let mean = twilio.iter().map(|f| f.bytes_out as f64).sum::<f64>() / twilio.len() as f64;
    assert!((mean - 2000.0).abs() < 60.0, "{mean}");
    // Packets derived from bytes: TCP handshake and teardown on top of the segments.
    assert!(
        twilio
            .iter()
            .all(|f| f.packets_out == f.bytes_out.div_ceil(1448) + 3)
    );
    // durations of 1.5 s ± 20 %: ends within 2 s of the start.
    assert!(
        twilio
            .iter()
            .all(|f| (0..=2).contains(&(f.end_time - f.start_time)))
    );
}

#[test]
fn scale_is_deterministic_and_mostly_namespace_local() {
    let params = ScaleParams {
        namespaces: 40,
        workloads: 200,
        policies: 80,
        tiers: 5,
        flows_per_second: 2_000.0,
        endpoints_per_workload: 3,
        seed: 7,
    };
    let a = Scenario::scale(&params).expect("scale");
    let b = Scenario::scale(&params).expect("scale");
    assert_eq!(a.inventory(), b.inventory());
    let c = Scenario::scale(&ScaleParams {
        seed: 8,
        ..params.clone()
    })
    .expect("scale");
    assert_ne!(a.inventory(), c.inventory());
    let inv = a.inventory();
    assert_eq!(inv.endpoints.len(), 200 * 3 + 2);
    assert_eq!(inv.policies.len(), 80);
    assert_eq!(inv.tiers.len(), 3 + 4, "built-ins plus four custom tiers");
    assert_eq!(inv.namespaces.len(), 41);

    let flows = Generator::new(&a, 1, START).advance(30.0);
    assert!(
        (flows.len() as f64 - 60_000.0).abs() < 0.03 * 60_000.0,
        "{}",
        flows.len()
    );
    assert_eq!(flows, Generator::new(&b, 1, START).advance(30.0));
    let engine = flowlens_policy::Engine::new(inv.clone());
    let namespace_of = |ip: IpAddr| engine.attribute(&engine.resolve(ip)).namespace;
    let mut same = 0;
    let mut cross = 0;
    for f in flows.iter().filter(|f| f.dst_port != 53) {
        let dst = engine
            .service_target(f.dst_ip, f.dst_port, f.proto, 0)
            .map(|t| t.endpoint_ip)
            .unwrap_or(f.dst_ip);
        match (namespace_of(f.src_ip), namespace_of(dst)) {
            (Some(x), Some(y)) if x == y => same += 1,
            (Some(_), Some(_)) => cross += 1,
            _ => {}
        }
    }
    assert!(
        same > 10 * cross && cross > 0,
        "{same} within, {cross} across namespaces"
    );
    // The policies decide both ways on this traffic.
    let denied = flows
        .iter()
        .filter(|f| verdict(&engine, f) == flowlens_policy::Action::Deny)
        .count();
    assert!(
        denied > 0 && denied < flows.len() / 2,
        "{denied} of {} denied",
        flows.len()
    );
}

#[test]
fn scale_parameters_are_checked() {
    assert!(
        Scenario::scale(&ScaleParams {
            namespaces: 0,
            ..ScaleParams::default()
        })
        .is_err()
    );
    assert!(
        Scenario::scale(&ScaleParams {
            flows_per_second: f64::NAN,
            ..ScaleParams::default()
        })
        .is_err()
    );
    assert!(
        Scenario::scale(&ScaleParams {
            workloads: 1 << 22,
            endpoints_per_workload: 4,
            ..ScaleParams::default()
        })
        .is_err()
    );
    // Odd sizes still work: one tier, few workloads, no policies.
    let tiny = ScaleParams {
        namespaces: 3,
        workloads: 2,
        policies: 0,
        tiers: 1,
        flows_per_second: 10.0,
        endpoints_per_workload: 1,
        seed: 1,
    };
    let s = Scenario::scale(&tiny).expect("tiny");
    assert!(s.inventory().policies.is_empty());
    let one_tier = ScaleParams {
        policies: 5,
        ..tiny
    };
    assert!(
        Scenario::scale(&one_tier)
            .expect("one tier")
            .inventory()
            .policies
            .iter()
            .all(|p| p.tier == "default")
    );
}

#[test]
fn raw_records_round_trip_through_json_lines() {
    let s = builtin("storefront");
    let flows = Generator::new(&s, 1, START).advance(30.0);
    let mut writer = JsonLinesWriter::new(Vec::new());
    writer.write_all(&flows).expect("write");
    let text = String::from_utf8(writer.into_inner()).expect("utf8");
    let back: Vec<RawFlow> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    assert_eq!(back, flows);
}

#[test]
fn sim_clock_runs_faster_than_real_time() {
    let clock = SimClock::new(START as f64, 60.0);
    let later = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let simulated = clock.at(later) - START as f64;
    assert!((119.0..=121.0).contains(&simulated), "{simulated}");
    assert_eq!(SimClock::new(0.0, -3.0).speed(), 1.0);
    let s = builtin("storefront");
    let mut g = Generator::new(&s, 1, START);
    let mut out = Vec::new();
    g.advance_until(clock.at(later), &mut out);
    assert!(g.elapsed() > 119.0 && !out.is_empty());
}
