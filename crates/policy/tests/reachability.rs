//! Static reachability against the plain reference interpreter: on the built-in scenarios'
//! clusters, for every workload pair, protocol and elementary port interval, the segment the
//! reachability gives must hold the verdict and both traces the reference computes at the
//! interval's first and last port — which, with the intervals split wherever a rule, a
//! container or a Service names a port, is every port.

mod common;
use common::*;
use flowlens_model::{Action, Protocol};
use flowlens_policy::reachability::{ReachOptions, reachability};
use flowlens_policy::reference::Reference;
use flowlens_policy::{Engine, FiveTuple};

fn check_against_reference(engine: &Engine) -> usize {
    let reach = reachability(engine, &ReachOptions::default());
    let inv = engine.inventory();
    let reference = Reference::new(inv);
    let n = reach.workloads.len();
    assert_eq!(reach.pairs.len(), n * n, "every ordered pair is asked");
    let mut checked = 0;
    for pair in &reach.pairs {
        let src = &inv.endpoints[reach.workloads[pair.source].representative as usize];
        let dst = &inv.endpoints[reach.workloads[pair.dest].representative as usize];
        for proto in &reach.protocols {
            let proto = *proto;
            let ports: Vec<Option<u16>> =
                if matches!(proto, Protocol::Tcp | Protocol::Udp | Protocol::Sctp) {
                    reach
                        .intervals()
                        .iter()
                        .flat_map(|r| [Some(r.first), Some(r.last)])
                        .collect()
                } else {
                    vec![None]
                };
            for port in ports {
                let seg = pair
                    .segment_for(proto, port)
                    .unwrap_or_else(|| panic!("no segment for {proto} {port:?}"));
                let flow = FiveTuple {
                    src: src.ips[0],
                    dst: dst.ips[0],
                    protocol: proto,
                    src_port: flowlens_policy::reachability::SOURCE_PORT,
                    dst_port: port.unwrap_or(0),
                    icmp: None,
                };
                let want = reference.evaluate(&flow);
                let what = format!(
                    "{} → {} {proto} {port:?}",
                    reach.workloads[pair.source].label(),
                    reach.workloads[pair.dest].label()
                );
                assert_eq!(seg.action, want.action, "{what}");
                let strings = |h: &[flowlens_model::PolicyHit]| {
                    h.iter().map(ToString::to_string).collect::<Vec<_>>()
                };
                assert_eq!(
                    Some(strings(&seg.egress)),
                    want.egress.map(|d| d.hits),
                    "{what}: egress"
                );
                assert_eq!(
                    Some(strings(&seg.ingress)),
                    want.ingress.map(|d| d.hits),
                    "{what}: ingress"
                );
                assert_eq!(seg.undecidable, want.undecidable, "{what}");
                checked += 1;
            }
        }
    }
    checked
}

#[test]
fn storefront_with_the_rogue_agrees_with_the_reference() {
    let e = engine_from_scenario(&["storefront/manifests", "storefront/steps/rogue.yaml"]);
    let checked = check_against_reference(&e);
    assert!(checked > 1000, "{checked}");
    let reach = reachability(&e, &ReachOptions::default());
    let rogue = reach
        .workloads
        .iter()
        .position(|w| w.name.starts_with("rogue"))
        .expect("the rogue pod is a workload");
    // The rogue is in no zone: the DMZ's frontend accepts anyone on TCP 80, nothing else in
    // storefront accepts it.
    for (i, w) in reach.workloads.iter().enumerate() {
        if w.namespace != "storefront" || i == rogue {
            continue;
        }
        let pair = reach.pair(rogue, i).unwrap();
        let tcp: String = flowlens_policy::reachability::connections_text(
            pair.segments
                .iter()
                .filter(|s| s.protocol == Protocol::Tcp && s.action == Action::Allow),
            &reach.protocols,
        );
        let want = if w.name == "frontend" {
            "TCP 80"
        } else {
            "No Connections"
        };
        assert_eq!(tcp, want, "rogue → {}", w.label());
    }
    let lines = reach.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("storefront/frontend => storefront/microservice1 : ")),
        "{lines:#?}"
    );
}

#[test]
fn fme_before_and_after_the_fix_agrees_with_the_reference() {
    for parts in [
        &["fme/manifests"][..],
        &["fme/manifests", "fme/steps/fix.yaml"][..],
    ] {
        let e = engine_from_scenario(parts);
        check_against_reference(&e);
    }
    // The fix opens the port pool from the engines to the core, exactly 42000-43000.
    let fixed = engine_from_scenario(&["fme/manifests", "fme/steps/fix.yaml"]);
    let before = engine_from_scenario(&["fme/manifests"]);
    let pool_allowed = |e: &Engine| {
        let reach = reachability(e, &ReachOptions::default());
        let engine = reach
            .workloads
            .iter()
            .position(|w| w.namespace == "fme" && w.name.contains("engine"))
            .expect("an engine workload");
        let core = reach
            .workloads
            .iter()
            .position(|w| w.namespace == "fme" && w.name.contains("core"))
            .expect("a core workload");
        let pair = reach.pair(engine, core).unwrap();
        [41999, 42000, 42500, 43000, 43001]
            .map(|p| pair.segment_for(Protocol::Tcp, Some(p)).unwrap().action == Action::Allow)
    };
    assert_eq!(pool_allowed(&before), [false; 5]);
    assert_eq!(pool_allowed(&fixed), [false, true, true, true, false]);
}

#[test]
fn boutique_agrees_with_the_reference() {
    for parts in [
        &["boutique/manifests"][..],
        &["boutique/manifests", "boutique/steps/misconfigure.yaml"][..],
    ] {
        check_against_reference(&engine_from_scenario(parts));
    }
}

/// Between interval starts the engine's verdict is constant: every port of one pair, asked
/// one by one, falls in a segment with its verdict.
#[test]
fn every_port_of_a_pair_matches_its_segment() {
    let e = engine_from_scenario(&["fme/manifests", "fme/steps/fix.yaml"]);
    let reach = reachability(&e, &ReachOptions::default());
    let inv = e.inventory();
    let engine = reach
        .workloads
        .iter()
        .position(|w| w.namespace == "fme" && w.name.contains("engine"))
        .unwrap();
    let core = reach
        .workloads
        .iter()
        .position(|w| w.namespace == "fme" && w.name.contains("core"))
        .unwrap();
    let pair = reach.pair(engine, core).unwrap();
    let src = inv.endpoints[reach.workloads[engine].representative as usize].ips[0];
    let dst = inv.endpoints[reach.workloads[core].representative as usize].ips[0];
    let (s, d) = (e.resolve(src), e.resolve(dst));
    for port in 1..=u16::MAX {
        let flow = FiveTuple {
            src,
            dst,
            protocol: Protocol::Tcp,
            src_port: flowlens_policy::reachability::SOURCE_PORT,
            dst_port: port,
            icmp: None,
        };
        let v = e.evaluate_peers(&s, &d, &flow);
        let seg = pair.segment_for(Protocol::Tcp, Some(port)).unwrap();
        assert_eq!(v.action, seg.action, "port {port}");
    }
}
