//! Kubernetes NetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy, compared with
//! the rules Calico generates for them (libcalico-go's conversion and its tests).

mod common;

use common::*;
use flowlens_model::{
    EntityRule, Policy, PolicyKind, PolicyTypes, PortMatch, Protocol, Rule, RuleAction,
};
use flowlens_selector::Selector;
use ipnet::IpNet;

const ORCH: &str = "projectcalico.org/orchestrator == 'k8s'";

fn knp(spec: &str) -> Policy {
    let text = format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: p\n  namespace: ns1\nspec:\n{spec}"
    );
    policy(&inventory(&text), "p").clone()
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap_or_else(|_| panic!("bad net {text}"))
}

/// An Allow rule as Calico writes it for ingress: peer in the source, ports in the destination.
fn ingress_rule(protocol: Option<Protocol>, peer: EntityRule, ports: Vec<PortMatch>) -> Rule {
    let mut r = Rule::new(RuleAction::Allow);
    r.protocol = protocol;
    r.source = peer;
    r.destination = EntityRule {
        ports,
        ..EntityRule::default()
    };
    r
}

fn pods(selector: &str, namespaces: Option<&str>) -> EntityRule {
    EntityRule {
        selector: Some(sel(selector)),
        namespace_selector: namespaces.map(sel),
        ..EntityRule::default()
    }
}

#[test]
fn basics_name_tier_order_selector() {
    let p = knp(
        "  podSelector:\n    matchLabels:\n      app: db\n      tier: data\n    matchExpressions:\n      - {key: env, operator: NotIn, values: [dev, test]}\n      - {key: canary, operator: DoesNotExist}\n",
    );
    assert_eq!(p.kind, PolicyKind::KubernetesNetworkPolicy);
    assert_eq!(
        (p.name.as_str(), p.namespace.as_deref()),
        ("p", Some("ns1"))
    );
    assert_eq!((p.tier.as_str(), p.order), ("default", Some(1000.0)));
    // Calico's form: orchestrator first, matchLabels sorted by key, then the expressions.
    assert_eq!(
        p.selector,
        sel(&format!(
            "{ORCH} && app == 'db' && tier == 'data' && env not in {{'dev', 'test'}} && !has(canary)"
        ))
    );
    assert_eq!(p.namespace_selector, None);
    assert_eq!(
        p.types,
        PolicyTypes {
            ingress: true,
            egress: false
        }
    );
    assert!(p.ingress.is_empty() && p.egress.is_empty());
}

#[test]
fn empty_pod_selector_selects_all_pods() {
    let p = knp("  podSelector: {}\n");
    assert_eq!(p.selector, sel(ORCH));
    assert_eq!(
        p.selector.to_string(),
        r#"projectcalico.org/orchestrator == "k8s""#
    );
}

#[test]
fn pod_selector_peer() {
    let p = knp(
        "  podSelector: {}\n  ingress:\n    - from:\n        - podSelector:\n            matchLabels: {role: api}\n      ports:\n        - port: 5432\n",
    );
    assert_eq!(
        p.ingress,
        vec![ingress_rule(
            Some(Protocol::Tcp),
            pods(&format!("{ORCH} && role == 'api'"), None),
            vec![PortMatch::Single(5432)]
        )]
    );
}

#[test]
fn namespace_selector_peer() {
    let p = knp(
        "  podSelector: {}\n  ingress:\n    - from:\n        - namespaceSelector: {}\n        - namespaceSelector:\n            matchLabels: {team: a}\n",
    );
    assert_eq!(
        p.ingress,
        vec![
            ingress_rule(None, pods(ORCH, Some("all()")), vec![]),
            ingress_rule(None, pods(ORCH, Some("team == 'a'")), vec![]),
        ]
    );
}

#[test]
fn namespace_and_pod_selector_peer() {
    let p = knp(
        "  podSelector: {}\n  ingress:\n    - from:\n        - namespaceSelector:\n            matchLabels: {team: a}\n          podSelector:\n            matchExpressions:\n              - {key: tier, operator: In, values: [web, api]}\n              - {key: debug, operator: Exists}\n",
    );
    assert_eq!(
        p.ingress,
        vec![ingress_rule(
            None,
            pods(
                &format!("{ORCH} && tier in {{'api', 'web'}} && has(debug)"),
                Some("team == 'a'")
            ),
            vec![]
        )]
    );
}

#[test]
fn ip_block_with_except() {
    let p = knp(
        "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n    - to:\n        - ipBlock:\n            cidr: 10.0.0.0/8\n            except: [10.1.0.0/16, 10.2.3.0/24]\n      ports:\n        - protocol: TCP\n          port: 443\n",
    );
    let mut expected = Rule::new(RuleAction::Allow);
    expected.protocol = Some(Protocol::Tcp);
    expected.destination = EntityRule {
        nets: vec![net("10.0.0.0/8")],
        not_nets: vec![net("10.1.0.0/16"), net("10.2.3.0/24")],
        ports: vec![PortMatch::Single(443)],
        ..EntityRule::default()
    };
    assert_eq!(p.egress, vec![expected]);
    assert_eq!(
        p.types,
        PolicyTypes {
            ingress: false,
            egress: true
        }
    );
}

#[test]
fn end_port_and_named_ports() {
    let p = knp(
        "  podSelector: {}\n  ingress:\n    - ports:\n        - port: 32000\n          endPort: 32768\n        - port: http\n",
    );
    // Two TCP entries merge into one rule; the named port comes first, as SimplifyPorts
    // orders them.
    assert_eq!(
        p.ingress,
        vec![ingress_rule(
            Some(Protocol::Tcp),
            EntityRule::default(),
            vec![
                PortMatch::Named("http".into()),
                PortMatch::Range {
                    first: 32000,
                    last: 32768
                }
            ]
        )]
    );
}

#[test]
fn multi_protocol_ports_make_one_rule_per_protocol_and_peer() {
    let p = knp(
        "  podSelector: {}\n  ingress:\n    - from:\n        - podSelector: {matchLabels: {a: '1'}}\n        - ipBlock: {cidr: 192.168.0.0/16}\n      ports:\n        - {protocol: UDP, port: 53}\n        - {port: 53}\n        - {protocol: TCP, port: 80}\n        - {protocol: TCP, port: 81}\n        - {protocol: SCTP}\n",
    );
    let a = pods(&format!("{ORCH} && a == '1'"), None);
    let block = EntityRule {
        nets: vec![net("192.168.0.0/16")],
        ..EntityRule::default()
    };
    let tcp = vec![
        PortMatch::Single(53),
        PortMatch::Range {
            first: 80,
            last: 81,
        },
    ];
    assert_eq!(
        p.ingress,
        vec![
            ingress_rule(Some(Protocol::Sctp), a.clone(), vec![]),
            ingress_rule(Some(Protocol::Sctp), block.clone(), vec![]),
            ingress_rule(Some(Protocol::Tcp), a.clone(), tcp.clone()),
            ingress_rule(Some(Protocol::Tcp), block.clone(), tcp),
            ingress_rule(Some(Protocol::Udp), a, vec![PortMatch::Single(53)]),
            ingress_rule(Some(Protocol::Udp), block, vec![PortMatch::Single(53)]),
        ]
    );
}

#[test]
fn a_protocol_only_entry_allows_all_its_ports() {
    let p = knp(
        "  podSelector: {}\n  ingress:\n    - ports:\n        - {protocol: TCP, port: 80}\n        - {protocol: TCP}\n        - {protocol: TCP, port: 443}\n",
    );
    assert_eq!(
        p.ingress,
        vec![ingress_rule(
            Some(Protocol::Tcp),
            EntityRule::default(),
            vec![]
        )]
    );
}

#[test]
fn empty_rules_match_everything() {
    let p = knp("  podSelector: {}\n  ingress:\n    - {}\n  egress:\n    - to: []\n");
    assert_eq!(p.ingress, vec![Rule::new(RuleAction::Allow)]);
    assert_eq!(p.egress, vec![Rule::new(RuleAction::Allow)]);
}

#[test]
fn policy_types_default_like_the_api_server() {
    // No policyTypes: Ingress, plus Egress when there are egress rules.
    assert_eq!(
        knp("  podSelector: {}\n").types,
        PolicyTypes {
            ingress: true,
            egress: false
        }
    );
    assert_eq!(
        knp("  podSelector: {}\n  egress: [{}]\n").types,
        PolicyTypes {
            ingress: true,
            egress: true
        }
    );
    assert_eq!(
        knp("  podSelector: {}\n  egress: []\n").types,
        PolicyTypes {
            ingress: true,
            egress: false
        }
    );
    assert_eq!(
        knp("  podSelector: {}\n  policyTypes: [Egress]\n").types,
        PolicyTypes {
            ingress: false,
            egress: true
        }
    );
    assert_eq!(
        knp("  podSelector: {}\n  policyTypes: [Ingress, Egress]\n").types,
        PolicyTypes {
            ingress: true,
            egress: true
        }
    );
}

#[test]
fn egress_rules_put_the_peer_in_the_destination() {
    let p = knp(
        "  podSelector: {}\n  egress:\n    - to:\n        - namespaceSelector:\n            matchLabels:\n              kubernetes.io/metadata.name: kube-system\n          podSelector:\n            matchLabels:\n              k8s-app: kube-dns\n      ports:\n        - {protocol: UDP, port: 53}\n        - {protocol: TCP, port: 53}\n",
    );
    let dest = |protocol| {
        let mut r = Rule::new(RuleAction::Allow);
        r.protocol = Some(protocol);
        r.destination = EntityRule {
            selector: Some(sel(&format!("{ORCH} && k8s-app == 'kube-dns'"))),
            namespace_selector: Some(sel("kubernetes.io/metadata.name == 'kube-system'")),
            ports: vec![PortMatch::Single(53)],
            ..EntityRule::default()
        };
        r
    };
    assert_eq!(p.egress, vec![dest(Protocol::Tcp), dest(Protocol::Udp)]);
}

fn anp(body: &str) -> Policy {
    let text = format!(
        "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata:\n  name: a\nspec:\n{body}"
    );
    policy(&inventory(&text), "a").clone()
}

#[test]
fn admin_network_policy_with_namespaces_subject() {
    let p = anp(
        "  priority: 600\n  subject:\n    namespaces:\n      matchLabels: {label: value, label2: value2}\n",
    );
    assert_eq!(p.kind, PolicyKind::AdminNetworkPolicy);
    assert_eq!(
        (p.tier.as_str(), p.order, p.namespace.as_deref()),
        ("kube-admin", Some(600.0), None)
    );
    assert_eq!(
        p.namespace_selector,
        Some(sel("label == 'value' && label2 == 'value2'"))
    );
    assert_eq!(p.selector, sel(ORCH));
    // No rules: no direction is affected.
    assert_eq!(
        p.types,
        PolicyTypes {
            ingress: false,
            egress: false
        }
    );
}

#[test]
fn admin_network_policy_with_pods_subject_and_peers() {
    // The case from Calico's own conversion tests.
    let p = anp(
        "  priority: 600\n  subject:\n    pods:\n      namespaceSelector: {}\n      podSelector:\n        matchLabels: {label2: value2}\n  ingress:\n    - name: r\n      action: Pass\n      from:\n        - namespaces:\n            matchLabels: {k: v}\n        - pods:\n            namespaceSelector: {}\n            podSelector:\n              matchLabels: {k2: v2}\n      ports:\n        - portNumber: {protocol: TCP, port: 80}\n        - portRange: {protocol: UDP, start: 20, end: 30}\n        - namedPort: foo\n  egress:\n    - action: Deny\n      to:\n        - pods:\n            namespaceSelector:\n              matchLabels: {k4: v4}\n            podSelector:\n              matchLabels: {k5: v5}\n        - networks: [10.0.0.0/8]\n",
    );
    assert_eq!(p.namespace_selector, Some(sel("all()")));
    assert_eq!(p.selector, sel(&format!("{ORCH} && label2 == 'value2'")));
    assert_eq!(
        p.types,
        PolicyTypes {
            ingress: true,
            egress: true
        }
    );

    let ns_peer = EntityRule {
        namespace_selector: Some(sel("k == 'v'")),
        ..EntityRule::default()
    };
    let pod_peer = pods(&format!("{ORCH} && k2 == 'v2'"), Some("all()"));
    // A named port has no protocol of its own (the container port's applies): it gets a
    // group without protocol, first, as Calico 3.32 groups ClusterNetworkPolicy ports.
    let named = vec![PortMatch::Named("foo".into())];
    let tcp = vec![PortMatch::Single(80)];
    let udp = vec![PortMatch::Range {
        first: 20,
        last: 30,
    }];
    let pass = |protocol, peer: EntityRule, ports| {
        let mut r = ingress_rule(protocol, peer, ports);
        r.action = RuleAction::Pass;
        r
    };
    assert_eq!(
        p.ingress,
        vec![
            pass(None, ns_peer.clone(), named.clone()),
            pass(None, pod_peer.clone(), named),
            pass(Some(Protocol::Tcp), ns_peer.clone(), tcp.clone()),
            pass(Some(Protocol::Tcp), pod_peer.clone(), tcp),
            pass(Some(Protocol::Udp), ns_peer, udp.clone()),
            pass(Some(Protocol::Udp), pod_peer, udp),
        ]
    );
    let mut deny_pods = Rule::new(RuleAction::Deny);
    deny_pods.destination = pods(&format!("{ORCH} && k5 == 'v5'"), Some("k4 == 'v4'"));
    let mut deny_nets = Rule::new(RuleAction::Deny);
    deny_nets.destination = EntityRule {
        nets: vec![net("10.0.0.0/8")],
        ..EntityRule::default()
    };
    assert_eq!(p.egress, vec![deny_pods, deny_nets]);
}

#[test]
fn admin_network_policy_nodes_peers_are_skipped_with_a_warning() {
    let text = "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata:\n  name: a\nspec:\n  priority: 1\n  subject: {namespaces: {}}\n  egress:\n    - action: Allow\n      to:\n        - nodes: {matchLabels: {role: control-plane}}\n";
    let loaded = load(text);
    let p = policy(&loaded.inventory, "a");
    assert!(p.egress.is_empty());
    assert!(
        loaded.report.warnings.iter().any(|w| w.contains("nodes")),
        "{:?}",
        loaded.report.warnings
    );
}

#[test]
fn baseline_admin_network_policy() {
    let text = "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\nmetadata:\n  name: default\nspec:\n  subject:\n    namespaces: {}\n  ingress:\n    - action: Deny\n      from:\n        - namespaces: {}\n";
    let inv = inventory(text);
    let p = policy(&inv, "default");
    assert_eq!(p.kind, PolicyKind::BaselineAdminNetworkPolicy);
    assert_eq!((p.tier.as_str(), p.order), ("kube-baseline", None));
    assert_eq!(p.namespace_selector, Some(Selector::all()));
    let mut deny = Rule::new(RuleAction::Deny);
    deny.source = EntityRule {
        namespace_selector: Some(Selector::all()),
        ..EntityRule::default()
    };
    assert_eq!(p.ingress, vec![deny]);
    assert_eq!(
        p.types,
        PolicyTypes {
            ingress: true,
            egress: false
        }
    );
}
