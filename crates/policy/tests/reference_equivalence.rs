//! The compiled engine must agree with the plain reference interpreter on every flow of
//! random clusters: same actions, same Calico hit strings, enforced and pending, and the same
//! `undecidable` flag. And an engine brought up to date after endpoint changes
//! (`Engine::with_changed_endpoints`) must agree with one compiled afresh.
//!
//! The clusters use every feature the engine evaluates: all policy kinds (staged ones with
//! `Set` and `Delete`, Kubernetes, admin and baseline admin policies), untracked and pre-DNAT
//! policy on host endpoints, host-endpoint profiles, service-account selectors on policies and
//! rules, `notPorts`, `services`, `protocol`/`notProtocol`, `ipVersion`, ICMP and `notICMP`,
//! HTTP matches, IPv6 and dual-stack pods, network sets and declared or undeclared tiers.

use flowlens_model::*;
use flowlens_policy::reference::Reference;
use flowlens_policy::{Engine, FiveTuple};
use flowlens_selector::Selector;
use proptest::prelude::*;
use std::net::IpAddr;
use std::sync::Arc;

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
/// Selectors over service-account labels (which include `projectcalico.org/name`).
const SA_SELECTORS: &[&str] = &[
    "team == \"x\"",
    "projectcalico.org/name == \"sa1\"",
    "all()",
    "!has(team)",
];
const NETS: &[&str] = &[
    "10.0.0.0/30",
    "198.51.100.0/24",
    "0.0.0.0/0",
    "10.0.0.4/32",
    "fd00::/126",
    "2001:db8::/32",
    "::/0",
    "fd00::4/128",
];
const LABEL_KEYS: &[(&str, &[&str])] = &[
    ("app", &["web", "api", "db"]),
    ("tier", &["front", "back"]),
    ("env", &["prod", "dev"]),
];
const NAMESPACES: [&str; 3] = ["a", "b", "c"];
const TIERS: &[&str] = &["default", "t1", "t2", "kube-admin", "kube-baseline", "t3"];
const ICMP_TYPES: &[u8] = &[0, 3, 8, 128];

fn sel(i: usize) -> Selector {
    Selector::parse(SELECTORS[i % SELECTORS.len()]).unwrap()
}

fn net(i: usize) -> ipnet::IpNet {
    NETS[i % NETS.len()].parse().unwrap()
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

fn ports(choice: Option<usize>) -> Vec<PortMatch> {
    match choice {
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
    }
}

fn entity_strategy() -> impl Strategy<Value = EntityRule> {
    (
        (
            proptest::option::weighted(0.35, 0usize..SELECTORS.len()),
            proptest::option::weighted(0.25, 0usize..NS_SELECTORS.len()),
            proptest::option::weighted(0.1, 0usize..SELECTORS.len()),
        ),
        (
            proptest::option::weighted(0.15, 0usize..NETS.len()),
            proptest::option::weighted(0.1, 0usize..NETS.len()),
        ),
        (
            proptest::option::weighted(0.25, 0usize..5),
            proptest::option::weighted(0.1, 0usize..5),
        ),
        proptest::option::weighted(0.08, 0usize..3),
        proptest::option::weighted(0.08, (0usize..3, proptest::option::of(0usize..2))),
    )
        .prop_map(
            |((s, ns, not_s), (nets, not_nets), (port, not_port), sa, service)| EntityRule {
                selector: s.map(sel),
                namespace_selector: ns.map(|i| Selector::parse(NS_SELECTORS[i]).unwrap()),
                not_selector: not_s.map(sel),
                nets: nets.map(|i| vec![net(i)]).unwrap_or_default(),
                not_nets: not_nets.map(|i| vec![net(i)]).unwrap_or_default(),
                ports: ports(port),
                not_ports: ports(not_port),
                service_accounts: sa.map(|how| ServiceAccountMatch {
                    names: if how != 1 { vec!["sa1".into()] } else { vec![] },
                    selector: (how != 0)
                        .then(|| Selector::parse(SA_SELECTORS[how % SA_SELECTORS.len()]).unwrap()),
                }),
                // svc2 does not exist; a missing namespace means the policy's own.
                services: service.map(|(name, ns)| ServiceMatch {
                    name: format!("svc{name}"),
                    namespace: ns.map(|n| NAMESPACES[n].to_string()),
                }),
            },
        )
}

/// Half the rule ends place no constraint, so that rules match often enough for the
/// features behind them to decide flows.
fn sparse_entity() -> impl Strategy<Value = EntityRule> {
    prop_oneof![Just(EntityRule::default()), entity_strategy()]
}

fn icmp_strategy() -> impl Strategy<Value = IcmpMatch> {
    (
        proptest::option::weighted(0.8, 0usize..ICMP_TYPES.len()),
        proptest::option::of(0u8..2),
    )
        .prop_map(|(t, code)| IcmpMatch {
            icmp_type: t.map(|t| ICMP_TYPES[t]),
            // As Calico requires: a code only with a type.
            code: t.and(code),
        })
}

fn rule_strategy() -> impl Strategy<Value = Rule> {
    (
        (
            0usize..4,
            0usize..9,
            proptest::option::weighted(0.1, 0usize..3),
            proptest::option::weighted(0.1, any::<bool>()),
        ),
        (
            proptest::option::weighted(0.5, icmp_strategy()),
            proptest::option::weighted(0.3, icmp_strategy()),
            proptest::option::weighted(0.1, Just(())),
        ),
        sparse_entity(),
        sparse_entity(),
    )
        .prop_map(
            |((action, proto, not_proto, v6), (icmp, not_icmp, http), source, destination)| {
                let action = [
                    RuleAction::Allow,
                    RuleAction::Deny,
                    RuleAction::Pass,
                    RuleAction::Log,
                ][action];
                let mut r = Rule::new(action);
                r.protocol = [
                    None,
                    None,
                    None,
                    None,
                    Some(Protocol::Tcp),
                    Some(Protocol::Udp),
                    Some(Protocol::Icmp),
                    Some(Protocol::IcmpV6),
                    Some(Protocol::Sctp),
                ][proto];
                r.not_protocol =
                    not_proto.map(|i| [Protocol::Tcp, Protocol::Udp, Protocol::Icmp][i]);
                r.ip_version = v6.map(|v6| if v6 { 6 } else { 4 });
                // ICMP matches only with an ICMP protocol, as the loader requires.
                if matches!(r.protocol, Some(Protocol::Icmp | Protocol::IcmpV6)) {
                    r.icmp = icmp;
                    r.not_icmp = not_icmp;
                }
                // HTTP matches only on Allow rules, as the loader requires.
                if action == RuleAction::Allow && http.is_some() {
                    r.http = Some(HttpMatch {
                        methods: vec!["GET".into()],
                        paths: vec![],
                    });
                }
                r.source = source;
                r.destination = destination;
                r
            },
        )
}

/// Where a global policy is enforced on host endpoints.
#[derive(Clone, Copy, Debug)]
enum HostStage {
    Normal,
    Untracked,
    PreDnat,
}

fn policy_strategy() -> impl Strategy<Value = Policy> {
    (
        (0usize..9, 0usize..TIERS.len(), proptest::option::of(0u8..4)),
        (
            0usize..SELECTORS.len(),
            proptest::option::weighted(0.3, 0usize..NS_SELECTORS.len()),
            proptest::option::weighted(0.2, 0usize..SA_SELECTORS.len()),
        ),
        (any::<bool>(), any::<bool>()),
        proptest::collection::vec(rule_strategy(), 0..4),
        proptest::collection::vec(rule_strategy(), 0..4),
        (0usize..3, 0usize..6, any::<bool>()),
        prop_oneof![
            4 => Just(HostStage::Normal),
            1 => Just(HostStage::Untracked),
            1 => Just(HostStage::PreDnat),
        ],
    )
        .prop_map(
            |(
                (kind, tier, order),
                (selector, ns_sel, sa_sel),
                (ing, eg),
                ingress,
                mut egress,
                (ns, name, delete),
                stage,
            )| {
                let kind = [
                    PolicyKind::NetworkPolicy,
                    PolicyKind::GlobalNetworkPolicy,
                    PolicyKind::StagedNetworkPolicy,
                    PolicyKind::StagedGlobalNetworkPolicy,
                    PolicyKind::StagedKubernetesNetworkPolicy,
                    PolicyKind::KubernetesNetworkPolicy,
                    PolicyKind::AdminNetworkPolicy,
                    PolicyKind::BaselineAdminNetworkPolicy,
                    PolicyKind::ClusterNetworkPolicy,
                ][kind];
                let tier = TIERS[tier];
                let namespaced = kind.is_namespaced();
                // doNotTrack and preDNAT exist on the global Calico kinds only.
                let global_calico = matches!(
                    kind,
                    PolicyKind::GlobalNetworkPolicy | PolicyKind::StagedGlobalNetworkPolicy
                );
                let stage = if global_calico {
                    stage
                } else {
                    HostStage::Normal
                };
                let mut types = PolicyTypes {
                    ingress: ing || !eg,
                    egress: eg,
                };
                if let HostStage::PreDnat = stage {
                    // Pre-DNAT policy is ingress only.
                    types = PolicyTypes {
                        ingress: true,
                        egress: false,
                    };
                    egress.clear();
                }
                Policy {
                    kind,
                    // Older Calico names carry the tier as a prefix; both spellings must
                    // match their staged counterparts.
                    // `p0-a` extends `p0`: ties put it first ('-' < '/' in Felix's key).
                    name: match name {
                        4 => format!("{tier}.p0"),
                        5 => "p0-a".to_string(),
                        _ => format!("p{name}"),
                    },
                    namespace: namespaced.then(|| NAMESPACES[ns].to_string()),
                    tier: tier.into(),
                    order: order.map(|o| f64::from(o) * 10.0),
                    selector: sel(selector),
                    namespace_selector: if namespaced {
                        None
                    } else {
                        ns_sel.map(|i| Selector::parse(NS_SELECTORS[i]).unwrap())
                    },
                    service_account_selector: sa_sel
                        .map(|i| Selector::parse(SA_SELECTORS[i]).unwrap()),
                    types,
                    ingress,
                    egress,
                    do_not_track: matches!(stage, HostStage::Untracked),
                    pre_dnat: matches!(stage, HostStage::PreDnat),
                    apply_on_forward: !matches!(stage, HostStage::Normal),
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

fn service(i: usize, ns: usize, selector: usize, by_name: bool) -> Service {
    let tcp_target = if by_name {
        TargetPort::Name("http".into())
    } else {
        TargetPort::Number(8080)
    };
    Service {
        namespace: NAMESPACES[ns].into(),
        name: format!("svc{i}"),
        cluster_ips: vec![IpAddr::from([10, 96, 0, i as u8 + 1])],
        ports: vec![
            ServicePort {
                name: Some("web".into()),
                protocol: Protocol::Tcp,
                port: 80,
                target_port: tcp_target,
            },
            ServicePort {
                name: Some("dns".into()),
                protocol: Protocol::Udp,
                port: 53,
                target_port: TargetPort::Number(53),
            },
        ],
        selector: match selector {
            0 => Some([("app".to_string(), "web".to_string())].into()),
            1 => Some([("app".to_string(), "api".to_string())].into()),
            2 => Some(Labels::new()),
            _ => None,
        },
    }
}

/// Pods: (namespace, labels, service account, named port, dual-stack).
type PodSpec = (usize, Labels, usize, usize, bool);

fn cluster_strategy() -> impl Strategy<Value = Inventory> {
    (
        proptest::collection::vec(labels_strategy(), 3),
        proptest::collection::vec(
            (
                0usize..3,
                labels_strategy(),
                0usize..3,
                0usize..3,
                any::<bool>(),
            ),
            1..7,
        ),
        proptest::collection::vec((0usize..NETS.len(), any::<bool>()), 0..3),
        proptest::collection::vec((proptest::option::of(0usize..4), any::<bool>()), 0..3),
        proptest::collection::vec(policy_strategy(), 0..9),
        proptest::collection::vec((0usize..3, any::<bool>()), 0..3),
        proptest::collection::vec((0usize..2, 0usize..4, any::<bool>()), 0..3),
    )
        .prop_map(|(ns_labels, pods, sets, tiers, policies, heps, services)| {
            let pods: Vec<PodSpec> = pods;
            let mut inv = Inventory::new();
            for (i, labels) in ns_labels.into_iter().enumerate() {
                inv.namespaces.push(Namespace {
                    name: NAMESPACES[i].into(),
                    labels,
                });
            }
            inv.service_accounts.push(ServiceAccount {
                namespace: "a".into(),
                name: "sa1".into(),
                labels: [("team".to_string(), "x".to_string())].into(),
            });
            inv.service_accounts.push(ServiceAccount {
                namespace: "b".into(),
                name: "sa1".into(),
                labels: [("team".to_string(), "y".to_string())].into(),
            });
            for (i, (ns, labels, sa, port, dual)) in pods.into_iter().enumerate() {
                let mut ips = vec![IpAddr::from([10, 0, 0, i as u8 + 1])];
                if dual {
                    ips.push(IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, i as u16 + 1]));
                }
                inv.endpoints.push(Arc::new(Endpoint {
                    endpoint_type: EndpointType::Wep,
                    name: format!("pod{i}"),
                    name_aggr: format!("pod{i}"),
                    namespace: Some(NAMESPACES[ns].to_string()),
                    workload: None,
                    labels,
                    ips,
                    service_account: Some(["sa1", "default", "sa2"][sa].into()),
                    ports: match port {
                        1 => vec![NamedPort {
                            name: "http".into(),
                            protocol: Protocol::Tcp,
                            port: 8080,
                        }],
                        2 => vec![NamedPort {
                            name: "http".into(),
                            protocol: Protocol::Udp,
                            port: 53,
                        }],
                        _ => vec![],
                    },
                    node: None,
                    interface: None,
                    profiles: vec![],
                }));
            }
            for (i, (profiles, v6)) in heps.into_iter().enumerate() {
                let mut ips = vec![IpAddr::from([192, 168, 0, i as u8 + 1])];
                if v6 {
                    ips.push(IpAddr::from([0xfd00, 1, 0, 0, 0, 0, 0, i as u16 + 1]));
                }
                inv.endpoints.push(Arc::new(Endpoint {
                    endpoint_type: EndpointType::Hep,
                    name: format!("node{i}-eth0"),
                    name_aggr: format!("node{i}-eth0"),
                    namespace: None,
                    workload: None,
                    labels: [("role".to_string(), "node".to_string())].into(),
                    ips,
                    service_account: None,
                    ports: vec![],
                    node: Some(format!("node{i}")),
                    interface: Some("eth0".into()),
                    // The first profile is the one hits name.
                    profiles: match profiles {
                        1 => vec!["projectcalico-default-allow".into()],
                        2 => vec!["edge".into(), "projectcalico-default-allow".into()],
                        _ => vec![],
                    },
                }));
            }
            for (i, (net_index, namespaced)) in sets.into_iter().enumerate() {
                inv.network_sets.push(NetworkSet {
                    namespace: namespaced.then(|| "a".to_string()),
                    name: format!("set{i}"),
                    labels: [("kind".to_string(), "ext".to_string())].into(),
                    nets: vec![net(net_index)],
                    allowed_egress_domains: vec![],
                });
            }
            for (i, (order, pass)) in tiers.into_iter().enumerate() {
                inv.tiers.push(Tier {
                    name: format!("t{}", i + 1),
                    // Some orders tie with the built-in tiers, so names break the tie.
                    order: order.map(|o| [0.0, 100.0, 1_000.0, 1_000_000.0][o]),
                    default_action: if pass {
                        TierDefaultAction::Pass
                    } else {
                        TierDefaultAction::Deny
                    },
                });
            }
            for (i, (ns, selector, by_name)) in services.into_iter().enumerate() {
                inv.services.push(service(i, ns, selector, by_name));
            }
            inv.policies = policies;
            inv
        })
}

/// Addresses flows are drawn from, per family: every endpoint address (three times, so
/// that most flows have an endpoint at one end at least), service addresses, and some that
/// belong to nothing or only to network sets.
fn addresses(inv: &Inventory) -> (Vec<IpAddr>, Vec<IpAddr>) {
    let endpoints = inv.endpoints.iter().flat_map(|e| e.ips.clone());
    let mut all: Vec<IpAddr> = endpoints
        .clone()
        .chain(endpoints.clone())
        .chain(endpoints)
        .collect();
    all.extend(inv.services.iter().flat_map(|s| s.cluster_ips.clone()));
    all.extend(
        [
            "198.51.100.7",
            "8.8.8.8",
            "10.0.0.2",
            "10.0.0.200",
            "2001:db8::7",
            "fd00::200",
            "fd00::2",
        ]
        .map(|s| s.parse::<IpAddr>().unwrap()),
    );
    all.into_iter().partition(|ip| ip.is_ipv4())
}

/// One flow: (source pick, destination pick, IPv6, protocol, destination port, source port,
/// ICMP type and code).
type FlowPick = (usize, usize, bool, usize, usize, usize, Option<(usize, u8)>);

fn flow_strategy() -> impl Strategy<Value = FlowPick> {
    (
        0usize..48,
        0usize..48,
        proptest::bool::weighted(0.3),
        0usize..5,
        0usize..6,
        0usize..3,
        proptest::option::weighted(0.7, (0usize..ICMP_TYPES.len(), 0u8..2)),
    )
}

fn five_tuple(v4: &[IpAddr], v6: &[IpAddr], pick: FlowPick) -> FiveTuple {
    let (s, d, ipv6, proto, port, sport, icmp) = pick;
    let ips = if ipv6 { v6 } else { v4 };
    let protocol = [
        Protocol::Tcp,
        Protocol::Udp,
        Protocol::Icmp,
        Protocol::IcmpV6,
        Protocol::Sctp,
    ][proto];
    let is_icmp = matches!(protocol, Protocol::Icmp | Protocol::IcmpV6);
    FiveTuple {
        src: ips[s % ips.len()],
        dst: ips[d % ips.len()],
        protocol,
        src_port: [40000u16, 80, 1500][sport],
        dst_port: [80u16, 8080, 1500, 53, 9999, 0][port],
        icmp: icmp
            .filter(|_| is_icmp)
            .map(|(t, code)| (ICMP_TYPES[t], code)),
    }
}

/// 400 random clusters; `PROPTEST_CASES` raises the count.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .map_or(400, |n: u32| n.max(400))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn engine_agrees_with_reference(
        inv in cluster_strategy(),
        picks in proptest::collection::vec(flow_strategy(), 12),
    ) {
        let engine = Engine::new(inv.clone());
        let reference = Reference::new(&inv);
        let (v4, v6) = addresses(&inv);
        for pick in picks {
            let flow = five_tuple(&v4, &v6, pick);
            let got = engine.evaluate(&flow);
            let want = reference.evaluate(&flow);
            let strings = |d: &Option<flowlens_policy::DirectionVerdict>| {
                d.as_ref().map(|d| (d.action, engine.hit_strings(&d.hits, PolicyHitFormat::Calico)))
            };
            let want_dir = |d: &Option<flowlens_policy::reference::ReferenceDirection>| {
                d.as_ref().map(|d| (d.action, d.hits.clone()))
            };
            prop_assert_eq!(got.action, want.action, "flow {:?}", flow);
            prop_assert_eq!(strings(&got.egress), want_dir(&want.egress), "egress of {:?}", flow);
            prop_assert_eq!(strings(&got.ingress), want_dir(&want.ingress), "ingress of {:?}", flow);
            prop_assert_eq!(got.pending.action, want.pending_action, "pending of {:?}", flow);
            prop_assert_eq!(strings(&got.pending.egress), want_dir(&want.pending_egress), "pending egress of {:?}", flow);
            prop_assert_eq!(strings(&got.pending.ingress), want_dir(&want.pending_ingress), "pending ingress of {:?}", flow);
            prop_assert_eq!(got.undecidable, want.undecidable, "undecidable of {:?}", flow);
            // The cached answer and the explained answer are the same verdict.
            let again = engine.evaluate(&flow);
            prop_assert_eq!(&*again, &*got);
            let (sp, dp) = (engine.resolve(flow.src), engine.resolve(flow.dst));
            let explained = engine.explain(&sp, &dp, &flow, PolicyHitFormat::Calico);
            prop_assert_eq!(explained.action, got.action);
            prop_assert_eq!(explained.undecidable, got.undecidable);
        }
    }
}

/// A change to a cluster's endpoints: relabel one, take one away, add a pod beside an
/// existing one (its namespace and account, new labels), or give one a new address.
#[derive(Clone, Debug)]
enum EndpointEdit {
    Relabel(usize, Labels),
    Remove(usize),
    AddBeside(usize, Labels),
    Readdress(usize, u8),
}

fn endpoint_edit_strategy() -> impl Strategy<Value = EndpointEdit> {
    prop_oneof![
        (0usize..16, labels_strategy()).prop_map(|(k, l)| EndpointEdit::Relabel(k, l)),
        (0usize..16).prop_map(EndpointEdit::Remove),
        (0usize..16, labels_strategy()).prop_map(|(k, l)| EndpointEdit::AddBeside(k, l)),
        (0usize..16, 100u8..110).prop_map(|(k, ip)| EndpointEdit::Readdress(k, ip)),
    ]
}

fn in_inventory_order(inv: &mut Inventory) {
    inv.endpoints
        .sort_by(|a, b| a.order_key().cmp(&b.order_key()));
}

fn apply_edit(inv: &mut Inventory, edit: &EndpointEdit, serial: usize) {
    let n = inv.endpoints.len();
    if n == 0 {
        return;
    }
    match edit {
        EndpointEdit::Relabel(k, labels) => {
            Arc::make_mut(&mut inv.endpoints[k % n]).labels = labels.clone()
        }
        EndpointEdit::Remove(k) => {
            inv.endpoints.remove(k % n);
        }
        EndpointEdit::AddBeside(k, labels) => {
            let mut pod = (*inv.endpoints[k % n]).clone();
            pod.name = format!("added{serial}");
            pod.labels = labels.clone();
            pod.ips = vec![IpAddr::from([10, 0, 1, serial as u8])];
            inv.endpoints.push(Arc::new(pod));
        }
        EndpointEdit::Readdress(k, last) => {
            Arc::make_mut(&mut inv.endpoints[k % n]).ips = vec![IpAddr::from([10, 0, 0, *last])];
        }
    }
    in_inventory_order(inv);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// An engine brought up to date after endpoint changes decides every flow as an engine
    /// compiled afresh from the changed inventory.
    #[test]
    fn engines_updated_for_endpoint_changes_agree_with_fresh_ones(
        inv in cluster_strategy(),
        edits in proptest::collection::vec(endpoint_edit_strategy(), 1..5),
        picks in proptest::collection::vec(flow_strategy(), 12),
    ) {
        let mut inv = inv;
        in_inventory_order(&mut inv);
        let mut engine = Engine::new(inv.clone());
        // One edit at a time, each update built on the previous one.
        for (serial, edit) in edits.iter().enumerate() {
            apply_edit(&mut inv, edit, serial);
            let updated = engine.with_changed_endpoints(inv.clone());
            prop_assert!(updated.is_some(), "{:?} could not be applied piecemeal", edit);
            engine = updated.unwrap();
        }
        let fresh = Engine::new(inv.clone());
        let (v4, v6) = addresses(&inv);
        for pick in picks {
            let flow = five_tuple(&v4, &v6, pick);
            let got = engine.evaluate(&flow);
            let want = fresh.evaluate(&flow);
            let strings = |e: &Engine, d: &Option<flowlens_policy::DirectionVerdict>| {
                d.as_ref().map(|d| (d.action, e.hit_strings(&d.hits, PolicyHitFormat::Calico)))
            };
            prop_assert_eq!(got.action, want.action, "flow {:?} after {:?}", flow, edits);
            prop_assert_eq!(strings(&engine, &got.egress), strings(&fresh, &want.egress), "egress of {:?}", flow);
            prop_assert_eq!(strings(&engine, &got.ingress), strings(&fresh, &want.ingress), "ingress of {:?}", flow);
            prop_assert_eq!(got.pending.action, want.pending.action, "pending of {:?}", flow);
            prop_assert_eq!(strings(&engine, &got.pending.egress), strings(&fresh, &want.pending.egress), "pending egress of {:?}", flow);
            prop_assert_eq!(strings(&engine, &got.pending.ingress), strings(&fresh, &want.pending.ingress), "pending ingress of {:?}", flow);
            prop_assert_eq!(got.undecidable, want.undecidable, "undecidable of {:?}", flow);
            let (sp, dp) = (engine.resolve(flow.src), engine.resolve(flow.dst));
            let explained = engine.explain(&sp, &dp, &flow, PolicyHitFormat::Calico);
            prop_assert_eq!(explained.action, want.action);
        }
        // Services pick the same backends.
        for svc in &inv.services {
            for ip in &svc.cluster_ips {
                for port in &svc.ports {
                    for pick in 0..3 {
                        prop_assert_eq!(
                            engine.service_backend(*ip, port.port, port.protocol, pick),
                            fresh.service_backend(*ip, port.port, port.protocol, pick),
                            "backend of {}/{}", svc.namespace, svc.name
                        );
                    }
                }
            }
        }
        prop_assert_eq!(engine.stats().selector_sets, fresh.stats().selector_sets);
    }
}

/// A pod in a namespace the engine never saw (not declared, no pod in it before) is not
/// applied piecemeal: the namespace's labels are part of what selectors see.
#[test]
fn a_pod_in_an_unknown_namespace_asks_for_a_fresh_compile() {
    let pod = |ns: &str, name: &str, last: u8| Endpoint {
        endpoint_type: EndpointType::Wep,
        name: name.into(),
        name_aggr: name.into(),
        namespace: Some(ns.into()),
        workload: None,
        labels: [("app".to_string(), "web".to_string())].into(),
        ips: vec![IpAddr::from([10, 0, 0, last])],
        service_account: None,
        ports: vec![],
        node: None,
        interface: None,
        profiles: vec![],
    };
    let mut inv = Inventory::new();
    inv.namespaces.push(Namespace {
        name: "a".into(),
        labels: Labels::new(),
    });
    inv.endpoints.push(Arc::new(pod("a", "one", 1)));
    let engine = Engine::new(inv.clone());
    let mut known = inv.clone();
    known.endpoints.push(Arc::new(pod("a", "two", 2)));
    assert!(engine.with_changed_endpoints(known).is_some());
    let mut unknown = inv.clone();
    unknown.endpoints.push(Arc::new(pod("z", "three", 3)));
    assert!(engine.with_changed_endpoints(unknown).is_none());
    let mut tiers_changed = inv;
    tiers_changed.tiers.push(Tier {
        name: "new".into(),
        order: Some(5.0),
        default_action: TierDefaultAction::Deny,
    });
    assert!(engine.with_changed_endpoints(tiers_changed).is_none());
}
