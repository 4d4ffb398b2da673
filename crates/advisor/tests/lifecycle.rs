//! The recommendation lifecycle: learning while recent traffic adds rules, stable once a
//! stabilization period added none, staged or enforced once applied.

use flowlens_advisor::{
    Lifecycle, ObservedEnd, ObservedFlow, Options, PolicyStatus, lifecycle, recommend,
};
use flowlens_model::{Action, EndpointType, Inventory, Protocol, Reporter};

const CLUSTER: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 1
  template:
    metadata:
      labels: {app: web}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: shop}
spec:
  replicas: 1
  template:
    metadata:
      labels: {app: db}
"#;

fn inventory() -> Inventory {
    flowlens_manifests::load_str(CLUSTER, "cluster.yaml", &Default::default())
        .expect("cluster loads")
        .inventory
}

fn pod(inv: &Inventory, workload: &str) -> ObservedEnd {
    let e = inv
        .endpoints
        .iter()
        .find(|e| e.name_aggr.starts_with(&format!("{workload}-")))
        .unwrap_or_else(|| panic!("{workload}"));
    ObservedEnd {
        endpoint_type: Some(EndpointType::Wep),
        namespace: Some("shop".into()),
        name: Some(e.name.clone()),
        name_aggr: e.name_aggr.clone(),
        ip: e.ips.first().copied(),
        labels: e.labels.clone(),
    }
}

/// web → db on `port`, as both ends logged it.
fn flows(inv: &Inventory, ports: &[u16]) -> Vec<ObservedFlow> {
    let mut out = Vec::new();
    for &port in ports {
        for reporter in [Reporter::Src, Reporter::Dst] {
            out.push(ObservedFlow {
                source: pod(inv, "web"),
                dest: pod(inv, "db"),
                proto: Protocol::Tcp,
                dest_port: Some(port),
                action: Action::Allow,
                reporter,
                num_flows: 1,
            });
        }
    }
    out
}

fn options() -> Options {
    Options {
        namespaces: vec!["shop".into()],
        ..Options::default()
    }
}

fn statuses(inv: &Inventory, earlier: &[u16], all: &[u16]) -> Vec<PolicyStatus> {
    lifecycle(
        &recommend(inv, &flows(inv, all), &options()),
        &recommend(inv, &flows(inv, earlier), &options()),
        inv,
    )
}

#[test]
fn a_policy_is_stable_when_the_last_period_added_no_rule_and_learning_otherwise() {
    let inv = inventory();
    let same = statuses(&inv, &[5432], &[5432]);
    assert_eq!(same.len(), 2, "shop's ingress and egress");
    assert!(
        same.iter()
            .all(|s| s.lifecycle == Lifecycle::Stable && s.new_rules == 0),
        "{same:?}"
    );

    // A new port in the last period is a new rule on both sides of the connection.
    let grown = statuses(&inv, &[5432], &[5432, 6379]);
    assert!(
        grown
            .iter()
            .all(|s| s.lifecycle == Lifecycle::Learning && s.new_rules == 1),
        "{grown:?}"
    );

    // Nothing before the period: every rule is new.
    let fresh = statuses(&inv, &[], &[5432]);
    assert!(fresh.iter().all(|s| s.lifecycle == Lifecycle::Learning));
}

#[test]
fn an_applied_policy_is_staged_or_enforced_and_says_when_it_differs() {
    let mut inv = inventory();
    let first = recommend(&inv, &flows(&inv, &[5432]), &options());
    inv = first.apply_to(&inv, false).expect("staged policies fit");
    inv.upsert_policy(first.policies[0].enforced())
        .expect("the enforced one fits");

    let s = statuses(&inv, &[5432], &[5432]);
    assert_eq!(s[0].lifecycle, Lifecycle::Enforced, "{s:?}");
    assert_eq!(s[1].lifecycle, Lifecycle::Staged, "{s:?}");
    assert!(s.iter().all(|s| !s.differs_from_applied));

    // Traffic since applying taught the recommendation more: still applied, but it differs.
    let grown = statuses(&inv, &[5432], &[5432, 6379]);
    assert_eq!(grown[0].lifecycle, Lifecycle::Enforced);
    assert!(
        grown
            .iter()
            .all(|s| s.differs_from_applied && s.new_rules == 1)
    );
}
