//! ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) as Calico 3.32 converts it, its
//! validation errors, and its export back to a manifest.

mod common;

use common::*;
use flowlens_manifests::{LoadOptions, export_policies, load_str};
use flowlens_model::{EntityRule, PolicyKind, PortMatch, Protocol, RuleAction};

const ORCH: &str = "projectcalico.org/orchestrator == 'k8s'";

fn cnp(spec: &str) -> String {
    format!(
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata:\n  name: c\nspec:\n{spec}"
    )
}

const ADMIN: &str = "  tier: Admin\n  priority: 7\n  subject:\n    pods:\n      namespaceSelector: {matchLabels: {team: a}}\n      podSelector: {matchLabels: {app: web}}\n  ingress:\n    - name: mixed\n      action: Accept\n      from:\n        - namespaces: {matchLabels: {k: v}}\n        - pods: {namespaceSelector: {}, podSelector: {matchLabels: {k2: v2}}}\n      protocols:\n        - tcp: {destinationPort: {number: 80}}\n        - udp: {destinationPort: {range: {start: 20, end: 30}}}\n        - destinationNamedPort: dns\n  egress:\n    - action: Pass\n      to: [{networks: [10.0.0.0/8]}]\n";

#[test]
fn converts_into_the_admin_tier_with_its_priority() {
    let inv = inventory(&cnp(ADMIN));
    let p = policy(&inv, "c");
    assert_eq!(p.kind, PolicyKind::ClusterNetworkPolicy);
    assert_eq!(p.tier, "kube-admin");
    assert_eq!(p.order, Some(7.0));
    assert_eq!(p.id().to_string(), "kcnp:c");
    assert_eq!(p.selector, sel(&format!("{ORCH} && app == 'web'")));
    assert_eq!(p.namespace_selector, Some(sel("team == 'a'")));
    // Named ports first without protocol, then TCP, then UDP; each × both peers.
    let protocols: Vec<Option<Protocol>> = p.ingress.iter().map(|r| r.protocol).collect();
    assert_eq!(
        protocols,
        vec![
            None,
            None,
            Some(Protocol::Tcp),
            Some(Protocol::Tcp),
            Some(Protocol::Udp),
            Some(Protocol::Udp)
        ]
    );
    assert_eq!(
        p.ingress[0].destination.ports,
        vec![PortMatch::Named("dns".into())]
    );
    assert_eq!(
        p.ingress[1].source.selector,
        Some(sel(&format!("{ORCH} && k2 == 'v2'")))
    );
    assert!(p.ingress.iter().all(|r| r.action == RuleAction::Allow));
    assert_eq!(p.egress.len(), 1);
    assert_eq!(p.egress[0].action, RuleAction::Pass);
    assert_eq!(
        p.egress[0].destination,
        EntityRule {
            nets: vec!["10.0.0.0/8".parse().unwrap()],
            ..EntityRule::default()
        }
    );
}

#[test]
fn baseline_tier_and_namespaces_subject() {
    let inv = inventory(&cnp(
        "  tier: Baseline\n  priority: 0\n  subject: {namespaces: {}}\n  ingress:\n    - {action: Deny, from: [{namespaces: {}}]}\n",
    ));
    let p = policy(&inv, "c");
    assert_eq!(p.tier, "kube-baseline");
    assert_eq!(p.order, Some(0.0));
    assert_eq!(p.selector, sel(ORCH));
    assert!(p.types.ingress && !p.types.egress);
}

#[test]
fn invalid_fields_are_reported_where_they_are() {
    let e = error_at(
        &cnp("  tier: Developer\n  priority: 1\n  subject: {namespaces: {}}\n"),
        "spec.tier",
    );
    assert!(e.message.contains("Admin or Baseline"), "{e}");
    error_at(
        &cnp("  tier: Admin\n  subject: {namespaces: {}}\n"),
        "spec.priority",
    );
    let e = error_at(
        &cnp("  tier: Admin\n  priority: 1001\n  subject: {namespaces: {}}\n"),
        "spec.priority",
    );
    assert!(e.message.contains("0-1000"), "{e}");
    let e = error_at(
        &cnp(
            "  tier: Admin\n  priority: 1\n  subject: {namespaces: {}}\n  ingress:\n    - {action: Allow, from: [{namespaces: {}}]}\n",
        ),
        "spec.ingress[0].action",
    );
    assert!(e.message.contains("Accept, Deny or Pass"), "{e}");
    error_at(
        &cnp(
            "  tier: Admin\n  priority: 1\n  subject: {namespaces: {}}\n  egress:\n    - action: Deny\n      to: [{namespaces: {}}]\n      protocols: [{tcp: {destinationPort: {number: 1}}, udp: {}}]\n",
        ),
        "spec.egress[0].protocols[0]",
    );
    error_at(
        &cnp(
            "  tier: Admin\n  priority: 1\n  subject: {namespaces: {}}\n  egress:\n    - action: Deny\n      to: [{networks: [10.0.0.0/8]}]\n      protocols: [{destinationNamedPort: dns}]\n",
        ),
        "spec.egress[0].protocols",
    );
    error_at(
        &cnp(
            "  tier: Admin\n  priority: 1\n  subject: {namespaces: {}}\n  ingress:\n    - action: Deny\n      from: [{namespaces: {}}]\n      protocols: [{tcp: {destinationPort: {range: {start: 9, end: 3}}}}]\n",
        ),
        "spec.ingress[0].protocols[0].tcp.destinationPort.range",
    );
    let many = "    - {action: Deny, from: [{namespaces: {}}]}\n".repeat(26);
    error_at(
        &cnp(&format!(
            "  tier: Admin\n  priority: 1\n  subject: {{namespaces: {{}}}}\n  ingress:\n{many}"
        )),
        "spec.ingress",
    );
}

#[test]
fn v1alpha1_admin_kinds_still_load_next_to_it() {
    let text = format!(
        "{}---\napiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {{name: old}}\nspec:\n  priority: 3\n  subject: {{namespaces: {{}}}}\n  ingress: [{{action: Allow, from: [{{namespaces: {{}}}}], ports: [{{namedPort: dns}}]}}]\n",
        cnp(ADMIN)
    );
    let inv = inventory(&text);
    let old = policy(&inv, "old");
    assert_eq!(old.kind, PolicyKind::AdminNetworkPolicy);
    assert_eq!(old.ingress[0].protocol, None);
    assert_eq!(
        old.ingress[0].destination.ports,
        vec![PortMatch::Named("dns".into())]
    );
    // Evaluation order in kube-admin: priority 3 before 7.
    let order: Vec<&str> = inv
        .policies_in_tier("kube-admin")
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(order, ["old", "c"]);
}

#[test]
fn exports_back_to_the_same_policy() {
    let text = cnp(ADMIN).replace("name: c", "name: c2")
        + "---\n"
        + &cnp(
            "  tier: Baseline\n  priority: 5\n  subject: {namespaces: {matchLabels: {a: b}}}\n  egress:\n    - {action: Accept, to: [{pods: {namespaceSelector: {}, podSelector: {}}}], protocols: [{destinationNamedPort: web}, {sctp: {destinationPort: {number: 9}}}]}\n",
        );
    let inv = inventory(&text);
    let yaml = export_policies(&inv, None).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        yaml.contains("apiVersion: policy.networking.k8s.io/v1alpha2"),
        "{yaml}"
    );
    assert!(yaml.contains("tier: Baseline"), "{yaml}");
    let back = load_str(&yaml, "export.yaml", &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
        .inventory;
    let strip = |ps: &[flowlens_model::Policy]| {
        ps.iter()
            .map(|p| flowlens_model::Policy {
                source: None,
                ..p.clone()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&back.policies), strip(&inv.policies), "{yaml}");
}

#[test]
fn unsupported_peers_fail_closed_with_a_warning() {
    let loaded = load(&cnp(
        "  tier: Admin\n  priority: 1\n  subject: {namespaces: {}}\n  egress:\n    - {action: Accept, to: [{nodes: {}}]}\n    - {action: Pass, to: [{domainNames: [example.com]}]}\n",
    ));
    let p = policy(&loaded.inventory, "c");
    assert_eq!(p.egress.len(), 1);
    assert_eq!(p.egress[0].action, RuleAction::Deny);
    assert!(p.egress[0].destination.is_empty());
    let warnings = &loaded.report.warnings;
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("spec.egress[0]") && w.contains("dropped")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("spec.egress[1]") && w.contains("denies everything")),
        "{warnings:?}"
    );
}
