//! The audit on a small cluster whose policy is known by heart: `shop/api` accepts `web` on
//! TCP 8080-8090 only (Kubernetes NetworkPolicy), `data/db` nothing from `shop`, and the
//! `ops/scanner` workload is not allowed anywhere in `shop`. Observed: web → api on 8080,
//! and the scanner's denied probes on api 22 and 8080.

use flowlens_advisor::audit::{AuditOptions, CellStatus, audit};
use flowlens_advisor::{ObservedEnd, ObservedFlow};
use flowlens_model::{
    Action, EndpointType, HitAction, Inventory, Protocol, Reporter, RuleDirection,
};
use flowlens_policy::Engine;
use flowlens_policy::reachability::{PortRange, ReachOptions, reachability};

const CLUSTER: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: ops}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: web}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: api}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: scanner, namespace: ops}
spec:
  replicas: 1
  template:
    metadata:
      labels: {app: scanner}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector: {matchLabels: {app: web}}
      ports:
        - {protocol: TCP, port: 8080, endPort: 8090}
"#;

fn inventory() -> Inventory {
    flowlens_manifests::load_str(CLUSTER, "cluster.yaml", &Default::default())
        .expect("cluster loads")
        .inventory
}

fn pod(inv: &Inventory, ns: &str, workload: &str) -> ObservedEnd {
    let e = inv
        .endpoints
        .iter()
        .find(|e| {
            e.namespace.as_deref() == Some(ns) && e.name_aggr.starts_with(&format!("{workload}-"))
        })
        .unwrap_or_else(|| panic!("{ns}/{workload}"));
    ObservedEnd {
        endpoint_type: Some(EndpointType::Wep),
        namespace: Some(ns.into()),
        name: Some(e.name.clone()),
        name_aggr: e.name_aggr.clone(),
        ip: e.ips.first().copied(),
        labels: e.labels.clone(),
    }
}

fn flow(
    src: &ObservedEnd,
    dst: &ObservedEnd,
    port: u16,
    action: Action,
    reporter: Reporter,
    n: u64,
) -> ObservedFlow {
    ObservedFlow {
        source: src.clone(),
        dest: dst.clone(),
        proto: Protocol::Tcp,
        dest_port: Some(port),
        action,
        reporter,
        num_flows: n,
    }
}

#[test]
fn the_audit_finds_the_unused_ports_the_denied_probes_and_the_idle_rules() {
    let inv = inventory();
    let (web, api, scanner) = (
        pod(&inv, "shop", "web"),
        pod(&inv, "shop", "api"),
        pod(&inv, "ops", "scanner"),
    );
    let flows = vec![
        // A connection is logged by both ends; counted once.
        flow(&web, &api, 8080, Action::Allow, Reporter::Src, 40),
        flow(&web, &api, 8080, Action::Allow, Reporter::Dst, 40),
        flow(&scanner, &api, 22, Action::Allow, Reporter::Src, 3),
        flow(&scanner, &api, 22, Action::Deny, Reporter::Dst, 3),
        flow(&scanner, &api, 8080, Action::Deny, Reporter::Dst, 2),
    ];
    let engine = Engine::new(inv);
    let reach = reachability(&engine, &ReachOptions::default());
    let a = audit(&engine, &reach, &flows, &AuditOptions::default());
    let index = |ns: &str, name: &str| {
        a.workloads
            .iter()
            .position(|w| w.namespace == ns && w.name == name)
            .unwrap()
    };
    let cell = |s: usize, d: usize| {
        a.cells
            .iter()
            .find(|c| c.source == s && c.dest == d)
            .unwrap()
    };
    let (w, p, s) = (
        index("shop", "web"),
        index("shop", "api"),
        index("ops", "scanner"),
    );

    let web_api = cell(w, p);
    assert_eq!(web_api.status, CellStatus::AllowedUsed);
    assert_eq!(web_api.allowed, "TCP 8080-8090");
    assert_eq!(web_api.allowed_connections, 40);
    let scan_api = cell(s, p);
    assert_eq!(scan_api.status, CellStatus::DeniedAttempted);
    assert_eq!(scan_api.denied_connections, 5);
    assert_eq!(scan_api.allowed, "No Connections");
    // No policy covers the scanner's own namespace: api → scanner is allowed, never used.
    assert_eq!(cell(p, s).status, CellStatus::AllowedUnused);
    assert_eq!(cell(p, s).allowed, "All Connections");

    // Over-permissive: web may reach api on 8081-8090 too, which it never did.
    let unused = a
        .unused
        .iter()
        .find(|u| u.source == "shop/web" && u.dest == "shop/api")
        .expect("web → api's unused ports");
    assert_eq!(
        unused.ports.as_deref(),
        Some(
            &[PortRange {
                first: 8081,
                last: 8090
            }][..]
        )
    );
    assert!(unused.partly_used);
    let by = unused.ingress_rule.as_ref().unwrap();
    assert_eq!(
        (by.policy.as_str(), by.rule, by.action),
        ("knp:shop/api", 0, HitAction::Allow)
    );

    // Denied and attempted: the scanner's probes, grouped by protocol and denying rule.
    let probes: Vec<_> = a
        .denied_attempted
        .iter()
        .filter(|d| d.source == "ops/scanner")
        .collect();
    assert_eq!(probes.len(), 1, "{probes:#?}");
    assert_eq!(probes[0].connections, 5);
    assert_eq!(
        probes[0].ports,
        [
            PortRange {
                first: 22,
                last: 22
            },
            PortRange {
                first: 8080,
                last: 8080
            }
        ]
    );
    let rule = probes[0].rule.as_ref().unwrap();
    assert_eq!(rule.direction, RuleDirection::Ingress);
    assert_eq!((rule.policy.as_str(), rule.rule), ("knp:shop/api", -1));

    // Rules: the api's allow rule was hit (web), its end of tier too (the scanner).
    let find = |policy: &str, rule: i32, dir: RuleDirection| {
        a.rules
            .iter()
            .find(|r| r.rule.policy == policy && r.rule.rule == rule && r.rule.direction == dir)
            .unwrap_or_else(|| panic!("{policy} {rule}: {:#?}", a.rules))
    };
    let allow = find("knp:shop/api", 0, RuleDirection::Ingress);
    assert_eq!(
        (allow.pairs, allow.pairs_hit, allow.connections),
        (1, 1, 40)
    );
    let end = find("knp:shop/api", -1, RuleDirection::Ingress);
    assert!(end.pairs_hit >= 1 && end.pairs > end.pairs_hit, "{end:#?}");
    // api → api is decided by the end of the tier and never attempted.
    assert!(
        end.idle_pairs
            .iter()
            .any(|p| p.source == "shop/api" && p.dest == "shop/api")
    );
    // The scanner's egress went out through its namespace's profile; nothing reached it.
    let never: Vec<_> = a
        .rules_never_hit()
        .map(|r| (r.rule.policy.clone(), r.rule.direction))
        .collect();
    let ops = |d| ("pro:kns.ops".to_string(), d);
    assert!(never.contains(&ops(RuleDirection::Ingress)), "{never:?}");
    assert!(!never.contains(&ops(RuleDirection::Egress)), "{never:?}");
    assert!(never.iter().all(|(p, _)| p != "knp:shop/api"), "{never:?}");
}

#[test]
fn a_namespace_narrows_the_pairs_and_the_flows() {
    let inv = inventory();
    let engine = Engine::new(inv);
    let reach = reachability(
        &engine,
        &ReachOptions {
            namespaces: vec!["ops".into()],
        },
    );
    // 3 workloads; pairs with an end in ops: 3 × 3 − 2 × 2.
    assert_eq!(reach.pairs.len(), 5);
    assert!(reach.questions > 0);
}
