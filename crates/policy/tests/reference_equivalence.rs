//! The compiled engine must agree with the plain reference interpreter on every flow of
//! random clusters: same actions, same Calico hit strings, enforced and pending.

use flowlens_model::*;
use flowlens_policy::reference::Reference;
use flowlens_policy::{Engine, FiveTuple};
use flowlens_selector::Selector;
use proptest::prelude::*;
use std::net::IpAddr;

const SELECTORS: &[&str] = &[
    "all()",
    "app == \"web\"",
    "app != \"web\"",
    "has(tier)",
    "!has(tier)",
    "env in {\"prod\"}",
    "app == \"api\" || tier == \"back\"",
    "kind == \"ext\"",
    "role == \"node\"",
    "app not in {\"db\", \"web\"}",
];
const NS_SELECTORS: &[&str] = &[
    "all()",
    "env == \"prod\"",
    "global()",
    "projectcalico.org/name == \"a\"",
    "!has(env)",
];
const NETS: &[&str] = &["10.0.0.0/30", "198.51.100.0/24", "0.0.0.0/0", "10.0.0.4/32"];
const LABEL_KEYS: &[(&str, &[&str])] = &[
    ("app", &["web", "api", "db"]),
    ("tier", &["front", "back"]),
    ("env", &["prod", "dev"]),
];

fn sel(i: usize) -> Selector {
    Selector::parse(SELECTORS[i % SELECTORS.len()]).unwrap()
}

fn labels_strategy() -> impl Strategy<Value = Labels> {
    proptest::collection::vec(proptest::option::of(0usize..3), LABEL_KEYS.len()).prop_map(|picks| {
        let mut labels = Labels::new();
        for (i, pick) in picks.into_iter().enumerate() {
            if let Some(v) = pick {
                let (k, values) = LABEL_KEYS[i];
                labels.insert(k.into(), values[v % values.len()].into());
            }
        }
        labels
    })
}

fn entity_strategy() -> impl Strategy<Value = EntityRule> {
    (
        proptest::option::of(0usize..SELECTORS.len()),
        proptest::option::of(0usize..NS_SELECTORS.len()),
        proptest::option::weighted(0.2, 0usize..SELECTORS.len()),
        proptest::option::weighted(0.25, 0usize..NETS.len()),
        proptest::option::weighted(0.15, 0usize..NETS.len()),
        proptest::option::weighted(0.4, 0usize..5),
        proptest::option::weighted(0.1, any::<bool>()),
    )
        .prop_map(|(s, ns, not_s, nets, not_nets, ports, sa)| EntityRule {
            selector: s.map(sel),
            namespace_selector: ns.map(|i| Selector::parse(NS_SELECTORS[i]).unwrap()),
            not_selector: not_s.map(sel),
            nets: nets
                .map(|i| vec![NETS[i].parse().unwrap()])
                .unwrap_or_default(),
            not_nets: not_nets
                .map(|i| vec![NETS[i].parse().unwrap()])
                .unwrap_or_default(),
            ports: match ports {
                Some(0) => vec![PortMatch::Single(80)],
                Some(1) => vec![PortMatch::Range {
                    first: 1000,
                    last: 2000,
                }],
                Some(2) => vec![PortMatch::Named("http".into())],
                Some(3) => vec![PortMatch::Single(53), PortMatch::Named("http".into())],
                Some(_) => vec![PortMatch::Range {
                    first: 8000,
                    last: 8080,
                }],
                None => vec![],
            },
            service_accounts: sa.map(|by_name| ServiceAccountMatch {
                names: if by_name { vec!["sa1".into()] } else { vec![] },
                selector: if by_name {
                    None
                } else {
                    Some(Selector::parse("team == \"x\"").unwrap())
                },
            }),
            ..Default::default()
        })
}

fn rule_strategy() -> impl Strategy<Value = Rule> {
    (
        0usize..4,
        proptest::option::of(any::<bool>()),
        entity_strategy(),
        entity_strategy(),
    )
        .prop_map(|(action, proto, source, destination)| {
            let mut r = Rule::new(
                [
                    RuleAction::Allow,
                    RuleAction::Deny,
                    RuleAction::Pass,
                    RuleAction::Log,
                ][action],
            );
            r.protocol = proto.map(|tcp| if tcp { Protocol::Tcp } else { Protocol::Udp });
            r.source = source;
            r.destination = destination;
            r
        })
}

fn policy_strategy() -> impl Strategy<Value = Policy> {
    (
        0usize..6,
        0usize..4,
        proptest::option::of(0u8..4),
        0usize..SELECTORS.len(),
        proptest::option::weighted(0.3, 0usize..NS_SELECTORS.len()),
        (any::<bool>(), any::<bool>()),
        proptest::collection::vec(rule_strategy(), 0..3),
        proptest::collection::vec(rule_strategy(), 0..3),
        (0usize..3, 0usize..4, any::<bool>()),
    )
        .prop_map(
            |(
                kind,
                tier,
                order,
                selector,
                ns_sel,
                (ing, eg),
                ingress,
                egress,
                (ns, name, delete),
            )| {
                let kind = [
                    PolicyKind::NetworkPolicy,
                    PolicyKind::GlobalNetworkPolicy,
                    PolicyKind::StagedNetworkPolicy,
                    PolicyKind::StagedGlobalNetworkPolicy,
                    PolicyKind::KubernetesNetworkPolicy,
                    PolicyKind::AdminNetworkPolicy,
                ][kind];
                let namespaced = kind.is_namespaced();
                Policy {
                    kind,
                    name: format!("p{name}"),
                    namespace: namespaced.then(|| ["a", "b", "c"][ns].to_string()),
                    tier: ["default", "t1", "t2", "kube-admin"][tier].into(),
                    order: order.map(|o| f64::from(o) * 10.0),
                    selector: sel(selector),
                    namespace_selector: if namespaced {
                        None
                    } else {
                        ns_sel.map(|i| Selector::parse(NS_SELECTORS[i]).unwrap())
                    },
                    service_account_selector: None,
                    types: PolicyTypes {
                        ingress: ing || !eg,
                        egress: eg,
                    },
                    ingress,
                    egress,
                    do_not_track: false,
                    pre_dnat: false,
                    apply_on_forward: false,
                    staged_action: if delete {
                        StagedAction::Delete
                    } else {
                        StagedAction::Set
                    },
                    source: None,
                }
            },
        )
}

fn cluster_strategy() -> impl Strategy<Value = Inventory> {
    (
        proptest::collection::vec(labels_strategy(), 3),
        proptest::collection::vec(
            (0usize..3, labels_strategy(), any::<bool>(), any::<bool>()),
            1..7,
        ),
        proptest::collection::vec((0usize..NETS.len(), any::<bool>()), 0..3),
        proptest::collection::vec((proptest::option::of(0u8..3), any::<bool>()), 0..3),
        proptest::collection::vec(policy_strategy(), 0..9),
        any::<bool>(),
    )
        .prop_map(|(ns_labels, eps, sets, tiers, policies, with_hep)| {
            let mut inv = Inventory::new();
            for (i, labels) in ns_labels.into_iter().enumerate() {
                let name = ["a", "b", "c"][i];
                inv.namespaces.push(Namespace {
                    name: name.into(),
                    labels,
                });
            }
            inv.service_accounts.push(ServiceAccount {
                namespace: "a".into(),
                name: "sa1".into(),
                labels: [("team".to_string(), "x".to_string())].into(),
            });
            for (i, (ns, labels, sa1, http)) in eps.into_iter().enumerate() {
                let ns = ["a", "b", "c"][ns].to_string();
                inv.endpoints.push(Endpoint {
                    endpoint_type: EndpointType::Wep,
                    name: format!("pod{i}"),
                    name_aggr: format!("pod{i}"),
                    namespace: Some(ns),
                    workload: None,
                    labels,
                    ips: vec![IpAddr::from([10, 0, 0, i as u8 + 1])],
                    service_account: Some(if sa1 { "sa1" } else { "default" }.into()),
                    ports: if http {
                        vec![NamedPort {
                            name: "http".into(),
                            protocol: Protocol::Tcp,
                            port: 8080,
                        }]
                    } else {
                        vec![]
                    },
                    node: None,
                    interface: None,
                    profiles: vec![],
                });
            }
            if with_hep {
                inv.endpoints.push(Endpoint {
                    endpoint_type: EndpointType::Hep,
                    name: "node1-eth0".into(),
                    name_aggr: "node1-eth0".into(),
                    namespace: None,
                    workload: None,
                    labels: [("role".to_string(), "node".to_string())].into(),
                    ips: vec![IpAddr::from([192, 168, 0, 1])],
                    service_account: None,
                    ports: vec![],
                    node: Some("node1".into()),
                    interface: Some("eth0".into()),
                    profiles: vec![],
                });
            }
            for (i, (net, namespaced)) in sets.into_iter().enumerate() {
                inv.network_sets.push(NetworkSet {
                    namespace: namespaced.then(|| "a".to_string()),
                    name: format!("set{i}"),
                    labels: [("kind".to_string(), "ext".to_string())].into(),
                    nets: vec![NETS[net].parse().unwrap()],
                    allowed_egress_domains: vec![],
                });
            }
            for (i, (order, pass)) in tiers.into_iter().enumerate() {
                inv.tiers.push(Tier {
                    name: format!("t{}", i + 1),
                    order: order.map(|o| f64::from(o) * 100.0),
                    default_action: if pass {
                        TierDefaultAction::Pass
                    } else {
                        TierDefaultAction::Deny
                    },
                });
            }
            inv.policies = policies;
            inv
        })
}

fn addresses(inv: &Inventory) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = inv.endpoints.iter().flat_map(|e| e.ips.clone()).collect();
    ips.extend(
        ["198.51.100.7", "8.8.8.8", "10.0.0.2", "10.0.0.200"].map(|s| s.parse::<IpAddr>().unwrap()),
    );
    ips
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn engine_agrees_with_reference(inv in cluster_strategy(), picks in proptest::collection::vec((0usize..20, 0usize..20, any::<bool>(), 0usize..5, 0usize..3), 12)) {
        let engine = Engine::new(inv.clone());
        let reference = Reference::new(&inv);
        let ips = addresses(&inv);
        for (s, d, tcp, port, sport) in picks {
            let src = ips[s % ips.len()];
            let dst = ips[d % ips.len()];
            let protocol = if tcp { Protocol::Tcp } else { Protocol::Udp };
            let dst_port = [80u16, 8080, 1500, 53, 9999][port];
            let src_port = [40000u16, 80, 1500][sport];
            let flow = FiveTuple { src, dst, protocol, src_port, dst_port, icmp: None };
            let got = engine.evaluate(&flow);
            let want = reference.evaluate(src, dst, protocol, src_port, dst_port);
            let strings = |d: &Option<flowlens_policy::DirectionVerdict>| {
                d.as_ref().map(|d| (d.action, engine.hit_strings(&d.hits, PolicyHitFormat::Calico)))
            };
            let want_dir = |d: &Option<flowlens_policy::reference::ReferenceDirection>| d.as_ref().map(|d| (d.action, d.hits.clone()));
            prop_assert_eq!(got.action, want.action, "flow {:?}", flow);
            prop_assert_eq!(strings(&got.egress), want_dir(&want.egress), "egress of {:?}", flow);
            prop_assert_eq!(strings(&got.ingress), want_dir(&want.ingress), "ingress of {:?}", flow);
            prop_assert_eq!(got.pending.action, want.pending_action, "pending of {:?}", flow);
            prop_assert_eq!(strings(&got.pending.egress), want_dir(&want.pending_egress), "pending egress of {:?}", flow);
            prop_assert_eq!(strings(&got.pending.ingress), want_dir(&want.pending_ingress), "pending ingress of {:?}", flow);
            // The cached answer and the explained answer are the same verdict.
            let again = engine.evaluate(&flow);
            prop_assert_eq!(&*again, &*got);
            let (sp, dp) = (engine.resolve(src), engine.resolve(dst));
            let explained = engine.explain(&sp, &dp, &flow, PolicyHitFormat::Calico);
            prop_assert_eq!(explained.action, got.action);
        }
    }
}
