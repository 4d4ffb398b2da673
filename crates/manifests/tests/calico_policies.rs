//! Calico policy kinds: every spec field, rule field, types defaulting, staged kinds, and
//! `parse_policy`.

mod common;

use common::*;
use flowlens_manifests::{LoadOptions, parse_policy};
use flowlens_model::{
    EntityRule, HttpMatch, HttpPathMatch, IcmpMatch, PolicyKind, PolicyTypes, PortMatch, Protocol,
    Rule, RuleAction, ServiceAccountMatch, ServiceMatch, SourceRef, StagedAction,
};

const GNP: &str = "\
apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: security
spec:
  order: 10
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: security.everything
spec:
  tier: security
  order: 5.5
  selector: role == 'db'
  namespaceSelector: env == 'prod'
  serviceAccountSelector: sa-role == 'db'
  doNotTrack: false
  applyOnForward: true
  types: [Ingress, Egress]
  ingress:
    - action: Allow
      protocol: tcp
      ipVersion: 4
      source:
        nets: [10.0.0.0/8]
        notNets: [10.1.0.0/16]
        selector: app == 'api'
        notSelector: canary == 'true'
        namespaceSelector: all()
        ports: ['1024:65535']
        serviceAccounts:
          names: [api]
          selector: team == 'a'
      destination:
        ports: [5432, '6000', pg]
        notPorts: [5433]
      http:
        methods: [GET]
        paths:
          - exact: /health
          - prefix: /api
      metadata:
        annotations:
          note: ignored
    - action: Deny
      protocol: ICMP
      icmp: {type: 8, code: 0}
      notICMP: {type: 3}
    - action: Log
      protocol: 47
      notProtocol: UDP
    - action: pass
  egress:
    - action: Allow
      protocol: UDP
      destination:
        services:
          name: kube-dns
          namespace: kube-system
";

#[test]
fn global_network_policy_with_every_field() {
    let inv = inventory(GNP);
    let p = policy(&inv, "security.everything");
    assert_eq!(p.kind, PolicyKind::GlobalNetworkPolicy);
    assert_eq!(p.namespace, None);
    assert_eq!(p.tier, "security");
    assert_eq!(p.order, Some(5.5));
    assert_eq!(p.selector, sel("role == 'db'"));
    assert_eq!(p.namespace_selector, Some(sel("env == 'prod'")));
    assert_eq!(p.service_account_selector, Some(sel("sa-role == 'db'")));
    assert_eq!(
        p.types,
        PolicyTypes {
            ingress: true,
            egress: true
        }
    );
    assert!(!p.do_not_track && !p.pre_dnat && p.apply_on_forward);
    assert_eq!(
        p.source,
        Some(SourceRef {
            file: "test.yaml".into(),
            document: 1,
            line: Some(8)
        })
    );

    let r0 = &p.ingress[0];
    assert_eq!(r0.action, RuleAction::Allow);
    assert_eq!(r0.protocol, Some(Protocol::Tcp));
    assert_eq!(r0.ip_version, Some(4));
    assert_eq!(
        r0.source,
        EntityRule {
            nets: vec!["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())],
            not_nets: vec!["10.1.0.0/16".parse().unwrap_or_else(|_| unreachable!())],
            selector: Some(sel("app == 'api'")),
            not_selector: Some(sel("canary == 'true'")),
            namespace_selector: Some(sel("all()")),
            ports: vec![PortMatch::Range {
                first: 1024,
                last: 65535
            }],
            not_ports: vec![],
            service_accounts: Some(ServiceAccountMatch {
                names: vec!["api".into()],
                selector: Some(sel("team == 'a'"))
            }),
            services: None,
        }
    );
    assert_eq!(
        r0.destination.ports,
        vec![
            PortMatch::Single(5432),
            PortMatch::Single(6000),
            PortMatch::Named("pg".into())
        ]
    );
    assert_eq!(r0.destination.not_ports, vec![PortMatch::Single(5433)]);
    assert_eq!(
        r0.http,
        Some(HttpMatch {
            methods: vec!["GET".into()],
            paths: vec![
                HttpPathMatch::Exact("/health".into()),
                HttpPathMatch::Prefix("/api".into())
            ],
        })
    );

    let r1 = &p.ingress[1];
    assert_eq!(
        (r1.action, r1.protocol),
        (RuleAction::Deny, Some(Protocol::Icmp))
    );
    assert_eq!(
        r1.icmp,
        Some(IcmpMatch {
            icmp_type: Some(8),
            code: Some(0)
        })
    );
    assert_eq!(
        r1.not_icmp,
        Some(IcmpMatch {
            icmp_type: Some(3),
            code: None
        })
    );

    let r2 = &p.ingress[2];
    assert_eq!(
        (r2.action, r2.protocol, r2.not_protocol),
        (
            RuleAction::Log,
            Some(Protocol::Other(47)),
            Some(Protocol::Udp)
        )
    );
    assert_eq!(p.ingress[3], Rule::new(RuleAction::Pass));
    assert_eq!(
        p.egress[0].destination.services,
        Some(ServiceMatch {
            name: "kube-dns".into(),
            namespace: Some("kube-system".into())
        })
    );
}

#[test]
fn namespaced_network_policy_defaults() {
    let inv = inventory(
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: np\nspec:\n  ingress:\n    - action: Allow\n",
    );
    let p = policy(&inv, "np");
    assert_eq!(p.kind, PolicyKind::NetworkPolicy);
    assert_eq!(p.namespace.as_deref(), Some("default"));
    assert_eq!(p.tier, "default");
    assert_eq!(p.order, None);
    assert!(p.selector.is_all());
    assert_eq!(p.namespace_selector, None);
    assert_eq!(p.service_account_selector, None);
    assert_eq!(p.staged_action, StagedAction::Set);
    // The policy's namespace exists in the inventory.
    assert!(inv.namespace("default").is_some());
}

/// Calico's defaulting of `types`.
#[test]
fn types_default_from_the_rules() {
    let types = |rules: &str| {
        let text = format!(
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: t\nspec:\n{rules}"
        );
        policy(&inventory(&text), "t").types
    };
    assert_eq!(
        types(""),
        PolicyTypes {
            ingress: true,
            egress: false
        }
    );
    assert_eq!(
        types("  ingress: [{action: Allow}]\n"),
        PolicyTypes {
            ingress: true,
            egress: false
        }
    );
    assert_eq!(
        types("  egress: [{action: Allow}]\n"),
        PolicyTypes {
            ingress: false,
            egress: true
        }
    );
    assert_eq!(
        types("  ingress: [{action: Allow}]\n  egress: [{action: Allow}]\n"),
        PolicyTypes {
            ingress: true,
            egress: true
        }
    );
    assert_eq!(
        types("  types: [Egress]\n"),
        PolicyTypes {
            ingress: false,
            egress: true
        }
    );
}

#[test]
fn rules_left_out_by_types_give_a_warning() {
    let loaded = load(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: t\nspec:\n  types: [Ingress]\n  egress: [{action: Deny}]\n",
    );
    assert!(
        loaded
            .report
            .warnings
            .iter()
            .any(|w| w.contains("never apply")),
        "{:?}",
        loaded.report.warnings
    );
}

#[test]
fn staged_kinds() {
    let inv = inventory(
        "apiVersion: projectcalico.org/v3\nkind: StagedNetworkPolicy\nmetadata:\n  name: s1\n  namespace: a\nspec:\n  stagedAction: Set\n  selector: app == 'x'\n  ingress: [{action: Deny}]\n---\n\
         apiVersion: projectcalico.org/v3\nkind: StagedGlobalNetworkPolicy\nmetadata:\n  name: s2\nspec:\n  stagedAction: Delete\n---\n\
         apiVersion: projectcalico.org/v3\nkind: StagedKubernetesNetworkPolicy\nmetadata:\n  name: s3\n  namespace: a\nspec:\n  podSelector: {matchLabels: {app: x}}\n  policyTypes: [Ingress]\n",
    );
    let s1 = policy(&inv, "s1");
    assert_eq!(
        (s1.kind, s1.staged_action, s1.namespace.as_deref()),
        (
            PolicyKind::StagedNetworkPolicy,
            StagedAction::Set,
            Some("a")
        )
    );
    let s2 = policy(&inv, "s2");
    assert_eq!(
        (s2.kind, s2.staged_action, s2.namespace.as_deref()),
        (
            PolicyKind::StagedGlobalNetworkPolicy,
            StagedAction::Delete,
            None
        )
    );
    let s3 = policy(&inv, "s3");
    assert_eq!(s3.kind, PolicyKind::StagedKubernetesNetworkPolicy);
    assert_eq!((s3.tier.as_str(), s3.order), ("default", Some(1000.0)));
    assert_eq!(
        s3.selector,
        sel("projectcalico.org/orchestrator == 'k8s' && app == 'x'")
    );
    assert_eq!(inv.counts().staged_policies, 3);
}

#[test]
fn crd_api_group_is_accepted() {
    let inv = inventory(
        "apiVersion: crd.projectcalico.org/v1\nkind: NetworkPolicy\nmetadata:\n  name: c\n  namespace: x\nspec:\n  selector: a == 'b'\n",
    );
    assert_eq!(policy(&inv, "c").kind, PolicyKind::NetworkPolicy);
}

#[test]
fn pre_dnat_and_do_not_track_policies() {
    let inv = inventory(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: dnat\nspec:\n  preDNAT: true\n  applyOnForward: true\n  ingress: [{action: Deny}]\n---\n\
         apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: untracked\nspec:\n  doNotTrack: true\n  applyOnForward: true\n  egress: [{action: Allow}]\n",
    );
    let dnat = policy(&inv, "dnat");
    assert!(dnat.pre_dnat && dnat.apply_on_forward && !dnat.do_not_track);
    let untracked = policy(&inv, "untracked");
    assert!(untracked.do_not_track && !untracked.pre_dnat);
    assert_eq!(
        untracked.types,
        PolicyTypes {
            ingress: false,
            egress: true
        }
    );
}

#[test]
fn policies_are_listed_in_evaluation_order() {
    let inv = inventory(
        "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: first\nspec:\n  order: 1\n---\n\
         apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: d-late\nspec:\n  order: 20\n---\n\
         apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: d-none\n---\n\
         apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: d-early\nspec:\n  order: 10\n---\n\
         apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: f\nspec:\n  tier: first\n  order: 99\n",
    );
    let names: Vec<&str> = inv.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["f", "d-early", "d-late", "d-none"]);
}

#[test]
fn parse_policy_reads_one_policy_of_any_kind() {
    let opts = LoadOptions::default();
    let p = parse_policy(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: k\nspec:\n  podSelector: {}\n",
        "editor.yaml",
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (p.kind, p.namespace.as_deref()),
        (PolicyKind::KubernetesNetworkPolicy, Some("default"))
    );
    assert_eq!(
        p.source.as_ref().map(|s| s.file.as_str()),
        Some("editor.yaml")
    );

    // Tiers are not checked: the editor has no inventory.
    let p = parse_policy(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: g\nspec:\n  tier: nowhere\n",
        "editor.yaml",
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.tier, "nowhere");

    let not_policy = parse_policy(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n",
        "e.yaml",
        &opts,
    );
    assert!(not_policy.is_err_and(|e| e.0[0].message.contains("not a policy kind")));
    let unknown = parse_policy(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: n\n",
        "e.yaml",
        &opts,
    );
    assert!(unknown.is_err_and(|e| e.0[0].message.contains("not a policy kind")));
    let two = parse_policy(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: a\n---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: b\n",
        "e.yaml",
        &opts,
    );
    assert!(two.is_err_and(|e| e.0[0].message.contains("exactly one")));
    assert!(parse_policy("", "e.yaml", &opts).is_err());
    let bad = parse_policy(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: a\nspec:\n  selector: 'a ='\n",
        "e.yaml",
        &opts,
    );
    assert!(bad.is_err_and(|e| e.0[0].field == "spec.selector"));
}
