//! ICMP in rules, as Calico documents it: `icmp: {type, code}` matches ICMP packets of that
//! type (and code, when given); `notICMP` matches every packet *except* that type (and code);
//! both need `protocol: ICMP` or `ICMPv6`. Flow records do not always carry the ICMP type:
//! then a rule whose only open question is its ICMP clause applies on its L3/L4 part, as the
//! dataplane would for some packet of the flow, and the verdict is flagged `undecidable`.

mod common;
use common::*;
use flowlens_model::{Action, PolicyHitFormat, Protocol};
use flowlens_policy::{Engine, FiveTuple, PeerSpec};

const BASE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: a}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: a, labels: {app: client}}
spec: {containers: [{name: c}]}
status: {podIP: 10.0.0.1, podIPs: [{ip: 10.0.0.1}, {ip: "fd00::1"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: a, labels: {app: server}}
spec: {containers: [{name: c}]}
status: {podIP: 10.0.0.2, podIPs: [{ip: 10.0.0.2}, {ip: "fd00::2"}]}
"#;

fn engine(extra: &str) -> Engine {
    engine_from_yaml(&format!("{BASE}\n---\n{extra}"))
}

/// One flow with an optional ICMP (type, code): the overall action, the hit strings of
/// the direction asked for, and the `undecidable` flag. The explained walk must agree.
fn icmp_flow(
    e: &Engine,
    src: &str,
    dst: &str,
    proto: Protocol,
    icmp: Option<(u8, u8)>,
    ingress: bool,
) -> (Action, Option<Vec<String>>, bool) {
    let src = e.resolve_spec(&src.parse::<PeerSpec>().unwrap()).unwrap();
    let dst = e.resolve_spec(&dst.parse::<PeerSpec>().unwrap()).unwrap();
    let flow = FiveTuple {
        src: src.ip,
        dst: dst.ip,
        protocol: proto,
        src_port: 0,
        dst_port: 0,
        icmp,
    };
    let v = e.evaluate_peers(&src, &dst, &flow);
    let explained = e.explain(&src, &dst, &flow, PolicyHitFormat::Calico);
    assert_eq!(explained.action, v.action, "{flow:?}");
    assert_eq!(explained.undecidable, v.undecidable, "{flow:?}");
    // The cached path gives the same verdict as the direct one.
    assert_eq!(*e.evaluate(&flow), v, "{flow:?}");
    let d = if ingress { &v.ingress } else { &v.egress };
    let hits = d
        .as_ref()
        .map(|d| e.hit_strings(&d.hits, PolicyHitFormat::Calico));
    (v.action, hits, v.undecidable)
}

fn ingress(e: &Engine, icmp: Option<(u8, u8)>) -> (Action, Option<Vec<String>>, bool) {
    icmp_flow(e, "a/client", "a/server", Protocol::Icmp, icmp, true)
}

const TYPES_AND_CODES: &str = r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: icmp, namespace: a}
spec:
  selector: app == "server"
  ingress:
  - {action: Deny, protocol: ICMP, icmp: {type: 3, code: 1}}
  - {action: Allow, protocol: ICMP, icmp: {type: 3}}
  - {action: Allow, protocol: ICMP, icmp: {type: 8, code: 0}}
  - {action: Deny, protocol: ICMP, notICMP: {type: 5}}
"#;

#[test]
fn type_and_code_select_the_rule() {
    let e = engine(TYPES_AND_CODES);
    // Destination unreachable / host unreachable: the type-and-code rule comes first.
    assert_eq!(
        ingress(&e, Some((3, 1))),
        (Action::Deny, strs(&["0|default|np:a/icmp|deny|0"]), false)
    );
    // Another code of the same type skips rule 0 and meets the type-only rule.
    assert_eq!(
        ingress(&e, Some((3, 4))),
        (Action::Allow, strs(&["0|default|np:a/icmp|allow|1"]), false)
    );
    // Echo request, code 0.
    assert_eq!(
        ingress(&e, Some((8, 0))),
        (Action::Allow, strs(&["0|default|np:a/icmp|allow|2"]), false)
    );
    // Type 8 with another code fails rule 2's code; it is not type 5, so notICMP matches.
    assert_eq!(
        ingress(&e, Some((8, 1))),
        (Action::Deny, strs(&["0|default|np:a/icmp|deny|3"]), false)
    );
    // A redirect (type 5) is exactly what rule 3 excludes: no rule matches, the tier's end
    // denies.
    assert_eq!(
        ingress(&e, Some((5, 2))),
        (Action::Deny, strs(&["0|default|np:a/icmp|deny|-1"]), false)
    );
}

#[test]
fn icmp_rules_do_not_match_other_protocols() {
    let e = engine(TYPES_AND_CODES);
    // TCP: every rule names protocol ICMP, so none matches and nothing is undecidable.
    let (action, hits, undecidable) =
        icmp_flow(&e, "a/client", "a/server", Protocol::Tcp, None, true);
    assert_eq!(action, Action::Deny);
    assert_eq!(hits, strs(&["0|default|np:a/icmp|deny|-1"]));
    assert!(!undecidable);
    // ICMPv6 between the same pods (over IPv6) is not protocol ICMP either, whatever its type.
    for icmp in [None, Some((3, 1)), Some((128, 0))] {
        assert_eq!(
            icmp_flow(&e, "fd00::1", "fd00::2", Protocol::IcmpV6, icmp, true),
            (Action::Deny, strs(&["0|default|np:a/icmp|deny|-1"]), false),
            "{icmp:?}"
        );
    }
}

#[test]
fn unknown_icmp_type_applies_the_first_rule_that_could_match_and_flags_it() {
    let e = engine(TYPES_AND_CODES);
    // Without the type every ICMP clause is open; rule 0's L3/L4 part matches, so rule 0
    // decides, flagged.
    assert_eq!(
        ingress(&e, None),
        (Action::Deny, strs(&["0|default|np:a/icmp|deny|0"]), true)
    );
}

#[test]
fn not_icmp_with_a_code_excludes_only_that_type_and_code() {
    let e = engine(
        r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: no-host-unreachable, namespace: a}
spec:
  selector: app == "server"
  ingress:
  - {action: Allow, protocol: ICMP, notICMP: {type: 3, code: 1}}
"#,
    );
    // notICMP {type 3, code 1} negates the pair: type 3 with another code still matches.
    assert_eq!(
        ingress(&e, Some((3, 0))),
        (
            Action::Allow,
            strs(&["0|default|np:a/no-host-unreachable|allow|0"]),
            false
        )
    );
    assert_eq!(
        ingress(&e, Some((0, 1))),
        (
            Action::Allow,
            strs(&["0|default|np:a/no-host-unreachable|allow|0"]),
            false
        )
    );
    assert_eq!(
        ingress(&e, Some((3, 1))),
        (
            Action::Deny,
            strs(&["0|default|np:a/no-host-unreachable|deny|-1"]),
            false
        )
    );
    // Unknown type: the negative clause is open too; the rule applies on its L3/L4 part.
    assert_eq!(
        ingress(&e, None),
        (
            Action::Allow,
            strs(&["0|default|np:a/no-host-unreachable|allow|0"]),
            true
        )
    );
}

#[test]
fn icmp_and_not_icmp_together() {
    let e = engine(
        r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: unreachable-but-not-frag}
spec:
  selector: app == "server"
  types: [Ingress]
  ingress:
  - {action: Allow, protocol: ICMP, icmp: {type: 3}, notICMP: {type: 3, code: 4}}
"#,
    );
    assert_eq!(
        ingress(&e, Some((3, 0))),
        (
            Action::Allow,
            strs(&["0|default|gnp:unreachable-but-not-frag|allow|0"]),
            false
        )
    );
    for denied in [(3, 4), (8, 0), (4, 0)] {
        assert_eq!(
            ingress(&e, Some(denied)),
            (
                Action::Deny,
                strs(&["0|default|gnp:unreachable-but-not-frag|deny|-1"]),
                false
            ),
            "{denied:?}"
        );
    }
}

#[test]
fn icmpv6_types_with_ip_version() {
    let e = engine(
        r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: v6, namespace: a}
spec:
  selector: app == "server"
  ingress:
  - {action: Allow, protocol: ICMPv6, ipVersion: 6, icmp: {type: 128}}
  - {action: Allow, protocol: ICMP, icmp: {type: 8}}
"#,
    );
    let v6 = |icmp| icmp_flow(&e, "fd00::1", "fd00::2", Protocol::IcmpV6, icmp, true);
    assert_eq!(
        v6(Some((128, 0))),
        (Action::Allow, strs(&["0|default|np:a/v6|allow|0"]), false)
    );
    // Type 8 is echo request in ICMPv4 only; over ICMPv6 neither rule matches.
    assert_eq!(
        v6(Some((8, 0))),
        (Action::Deny, strs(&["0|default|np:a/v6|deny|-1"]), false)
    );
    // The ICMPv4 echo request meets rule 1, not the ICMPv6 rule.
    assert_eq!(
        ingress(&e, Some((8, 0))),
        (Action::Allow, strs(&["0|default|np:a/v6|allow|1"]), false)
    );
    assert_eq!(
        v6(None),
        (Action::Allow, strs(&["0|default|np:a/v6|allow|0"]), true)
    );
}

#[test]
fn undecidable_only_when_the_open_rule_decides() {
    let e = engine(
        r#"
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.ping}
spec:
  tier: security
  selector: app == "server"
  types: [Ingress, Egress]
  ingress:
  - {action: Log, protocol: ICMP, icmp: {type: 8}}
  - {action: Deny, protocol: ICMP, icmp: {type: 8}, source: {selector: app == "nobody"}}
  - {action: Pass, protocol: ICMP, icmp: {type: 0}}
  - {action: Allow, protocol: ICMP}
  egress:
  - {action: Allow, protocol: ICMP}
  - {action: Deny, protocol: ICMP, icmp: {type: 0}}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: server-icmp, namespace: a}
spec:
  selector: app == "server"
  ingress: [{action: Deny, protocol: ICMP}]
"#,
    );
    // Rule 0 logs and goes on (an open Log rule decides nothing); rule 1 fails on its source
    // whatever the type; rule 2 passes to the next tier on its L3/L4 part: flagged, and the
    // default tier's policy then denies.
    assert_eq!(
        ingress(&e, None),
        (
            Action::Deny,
            strs(&[
                "0|security|gnp:security.ping|pass|2",
                "1|default|np:a/server-icmp|deny|0"
            ]),
            true
        )
    );
    // With the type known, echo reply passes and echo request is allowed by rule 3.
    assert_eq!(
        ingress(&e, Some((0, 0))),
        (
            Action::Deny,
            strs(&[
                "0|security|gnp:security.ping|pass|2",
                "1|default|np:a/server-icmp|deny|0"
            ]),
            false
        )
    );
    assert_eq!(
        ingress(&e, Some((8, 0))),
        (
            Action::Allow,
            strs(&["0|security|gnp:security.ping|allow|3"]),
            false
        )
    );
    // Egress from the server: rule 0 allows every ICMP packet before the typed rule is
    // reached, so the missing type changes nothing and nothing is flagged.
    assert_eq!(
        icmp_flow(&e, "a/server", "a/client", Protocol::Icmp, None, false),
        (
            Action::Allow,
            strs(&["0|security|gnp:security.ping|allow|0"]),
            false
        )
    );
}

#[test]
fn icmp_fields_without_an_icmp_protocol_are_rejected() {
    let bad = format!(
        "{BASE}\n---\n{}",
        r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: bad, namespace: a}
spec:
  selector: all()
  ingress: [{action: Allow, protocol: TCP, icmp: {type: 8}}]
"#
    );
    let Err(err) = flowlens_manifests::load_str(
        &bad,
        "test.yaml",
        &flowlens_manifests::LoadOptions::default(),
    ) else {
        panic!("ICMP fields with protocol TCP must not load");
    };
    assert!(
        err.to_string()
            .contains("ICMP matches may only be specified with protocol ICMP or ICMPv6"),
        "{err}"
    );
}

#[test]
fn icmp_matches_without_a_type_constrain_nothing() {
    // Felix renders an ICMP match only when it has a type: `icmp: {}` and `notICMP: {}` put
    // no condition on the packet, whatever its type, known or not.
    let e = engine(
        r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: empty, namespace: a}
spec:
  selector: app == "server"
  ingress:
  - {action: Allow, protocol: ICMP, notICMP: {}}
  - {action: Deny, protocol: ICMPv6, icmp: {}}
"#,
    );
    for icmp in [Some((8, 0)), Some((3, 1)), None] {
        assert_eq!(
            ingress(&e, icmp),
            (
                Action::Allow,
                strs(&["0|default|np:a/empty|allow|0"]),
                false
            ),
            "{icmp:?}"
        );
        assert_eq!(
            icmp_flow(&e, "fd00::1", "fd00::2", Protocol::IcmpV6, icmp, true),
            (Action::Deny, strs(&["0|default|np:a/empty|deny|1"]), false),
            "{icmp:?}"
        );
    }
}
