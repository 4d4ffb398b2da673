//! Export then load gives the same policies and tiers, for every scenario and every policy
//! kind.

mod common;

use common::scenarios_dir;
use flowlens_manifests::{LoadOptions, export_policies, load_paths, load_str, policy_to_yaml};
use flowlens_model::{Inventory, Policy};
use std::path::PathBuf;

fn without_source(policies: &[Policy]) -> Vec<Policy> {
    policies
        .iter()
        .cloned()
        .map(|mut p| {
            p.source = None;
            p
        })
        .collect()
}

fn assert_round_trip(inv: &Inventory, what: &str) {
    let yaml = export_policies(inv, None).unwrap_or_else(|e| panic!("{what}: {e}"));
    let back = load_str(&yaml, "export.yaml", &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{what}: exported YAML does not load: {e}\n{yaml}"))
        .inventory;
    assert_eq!(
        without_source(&back.policies),
        without_source(&inv.policies),
        "{what}:\n{yaml}"
    );
    let mut tiers = inv.tiers.clone();
    let mut back_tiers = back.tiers.clone();
    tiers.sort_by(|a, b| a.name.cmp(&b.name));
    back_tiers.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(back_tiers, tiers, "{what}");
    for p in &inv.policies {
        let one = policy_to_yaml(p).unwrap();
        assert_eq!(one.matches("kind:").count(), 1, "{one}");
    }
}

#[test]
fn every_scenario_round_trips() {
    let root = scenarios_dir();
    let mut seen = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("manifests").is_dir() {
            continue;
        }
        let mut paths = vec![dir.join("manifests")];
        let steps = dir.join("steps");
        if steps.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&steps)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            paths.extend(files);
        }
        let inv = load_paths(&paths, &LoadOptions::default())
            .unwrap()
            .inventory;
        assert!(!inv.policies.is_empty());
        assert_round_trip(&inv, &dir.display().to_string());
        seen += 1;
    }
    assert!(seen >= 3, "scenarios found: {seen}");
}

const EVERY_KIND: &str = r#"
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100, defaultAction: Pass}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.host}
spec:
  tier: security
  order: 1.5
  selector: has(host)
  namespaceSelector: env == "prod"
  doNotTrack: true
  applyOnForward: true
  ingress:
    - action: Deny
      protocol: ICMP
      icmp: {type: 8, code: 0}
      source: {nets: [10.0.0.0/8], notNets: [10.1.0.0/16]}
  egress:
    - action: Log
    - action: Allow
      notProtocol: UDP
      ipVersion: 4
      destination:
        notSelector: app == "x"
        namespaceSelector: global()
        serviceAccounts: {names: [a, b], selector: role == "db"}
        services: {name: api, namespace: shop}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  selector: app == 'web' && tier in {"a", "b"}
  serviceAccountSelector: has(sa)
  ingress:
    - action: Allow
      protocol: TCP
      source: {selector: app == "lb", ports: [1000]}
      destination: {ports: [80, "8000:8080", http], notPorts: [8081]}
      http: {methods: [GET], paths: [{exact: /a}, {prefix: /b}]}
    - action: Pass
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  stagedAction: Delete
  selector: all()
---
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: {name: later}
spec:
  order: 7
  selector: all()
  types: [Ingress, Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  podSelector:
    matchLabels: {app: db, tier: data}
    matchExpressions:
      - {key: env, operator: In, values: [prod, staging]}
      - {key: legacy, operator: DoesNotExist}
  policyTypes: [Ingress, Egress]
  ingress:
    - from:
        - podSelector: {matchLabels: {app: web}}
        - namespaceSelector: {matchLabels: {team: ops}}
          podSelector: {}
        - ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.0/24]}
      ports:
        - {protocol: TCP, port: 5432}
        - {protocol: TCP, port: 6000, endPort: 6010}
        - {protocol: UDP, port: metrics}
        - {protocol: SCTP}
  egress: []
---
apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: tenants}
spec:
  priority: 10
  subject:
    namespaces: {matchLabels: {tenant: a}}
  ingress:
    - action: Pass
      from: [{namespaces: {matchLabels: {tenant: a}}}]
    - action: Deny
      from:
        - pods:
            namespaceSelector: {}
            podSelector: {matchExpressions: [{key: app, operator: Exists}]}
      ports:
        - portNumber: {protocol: TCP, port: 80}
        - portRange: {protocol: UDP, start: 1000, end: 2000}
        - namedPort: http
  egress:
    - action: Allow
      to: [{networks: [8.8.8.0/24, 1.1.1.1/32]}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject:
    pods:
      namespaceSelector: {matchExpressions: [{key: env, operator: NotIn, values: [dev]}]}
      podSelector: {matchLabels: {app: web}}
  ingress:
    - action: Deny
      from: [{namespaces: {}}]
"#;

#[test]
fn every_policy_kind_round_trips() {
    let inv = load_str(EVERY_KIND, "kinds.yaml", &LoadOptions::default())
        .unwrap()
        .inventory;
    assert_eq!(inv.policies.len(), 8);
    assert_round_trip(&inv, "every kind");
    let tier = export_policies(&inv, Some("security")).unwrap();
    assert!(
        tier.contains("kind: Tier") && tier.contains("security.host"),
        "{tier}"
    );
    assert!(!tier.contains("kind: NetworkPolicy"), "{tier}");
}
