//! The preview end to end over the FME story: a fix, what was aggregated away, a staged
//! draft, a deletion.

use super::*;
use crate::engine::Engine;
use flowlens_manifests::{LoadOptions, load_str, parse_policy};
use flowlens_model::{EndpointType, FlowEnd, FlowTuple, Inventory, Labels, Protocol, Reporter};
use std::sync::Arc;

const CLUSTER: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: engine, namespace: fme}
spec:
  replicas: 2
  template: {metadata: {labels: {component: engine}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: core, namespace: fme}
spec:
  replicas: 1
  template: {metadata: {labels: {component: core}}}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: engine, namespace: fme}
spec:
  selector: component == "engine"
  types: [Egress]
  egress:
    - action: Allow
      protocol: TCP
      destination: {selector: component == "core", ports: [7070]}
    - action: Allow
      protocol: TCP
      destination: {nets: [203.0.113.0/24]}
"#;

const FIXED: &str = r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: engine, namespace: fme}
spec:
  selector: component == "engine"
  types: [Egress]
  egress:
    - action: Allow
      protocol: TCP
      destination: {selector: component == "core", ports: [7070, "42000:43000"]}
    - action: Allow
      protocol: TCP
      destination: {nets: [203.0.113.0/24]}
"#;

fn inventory() -> Inventory {
    load_str(CLUSTER, "c.yaml", &LoadOptions::default())
        .unwrap()
        .inventory
}

fn wep(inv: &Inventory, workload: &str, port: Option<u16>) -> FlowEnd {
    let e = inv
        .endpoints
        .iter()
        .find(|e| e.workload.as_ref().is_some_and(|w| w.name == workload))
        .unwrap();
    FlowEnd {
        ip: None,
        name: None,
        name_aggr: e.name_aggr.clone(),
        namespace: e.namespace.clone(),
        port,
        endpoint_type: Some(EndpointType::Wep),
        labels: e.labels.clone(),
    }
}

/// An engine → core flow on the port pool, denied today at egress.
fn engine_to_pool_denied(inv: &Inventory) -> FlowTuple {
    tuple(
        wep(inv, "engine", None),
        wep(inv, "core", Some(42001)),
        Reporter::Src,
        Action::Deny,
    )
}

fn tuple(source: FlowEnd, dest: FlowEnd, reporter: Reporter, action: Action) -> FlowTuple {
    FlowTuple {
        source,
        dest,
        proto: Protocol::Tcp,
        reporter,
        action,
        flow_logs: 2,
        num_flows: 5,
    }
}

fn engines(draft: &str) -> (Engine, Engine, PolicyId) {
    let inv = inventory();
    let policy = parse_policy(draft, "draft.yaml", &LoadOptions::default()).unwrap();
    let id = policy.id();
    let after = Arc::new(inv.with_policy(policy).unwrap());
    (Engine::new(inv), Engine::new(after), id)
}

#[test]
fn the_port_pool_fix_turns_exactly_those_flows_allowed() {
    let (before, after, id) = engines(FIXED);
    let inv = before.inventory().clone();
    let engine = wep(&inv, "engine", None);
    let tuples = vec![
        // Denied today at egress (only the source reports it).
        tuple(
            engine.clone(),
            wep(&inv, "core", Some(42001)),
            Reporter::Src,
            Action::Deny,
        ),
        // Allowed today: both reporters, counted once.
        tuple(
            engine.clone(),
            wep(&inv, "core", Some(7070)),
            Reporter::Src,
            Action::Allow,
        ),
        tuple(
            engine.clone(),
            wep(&inv, "core", Some(7070)),
            Reporter::Dst,
            Action::Allow,
        ),
        // The policy does not apply to the core's egress: not evaluated.
        tuple(
            wep(&inv, "core", None),
            wep(&inv, "engine", Some(7500)),
            Reporter::Src,
            Action::Allow,
        ),
    ];
    let p = preview(&before, &after, &id, &tuples).unwrap();
    assert_eq!(p.operation, Operation::Replace);
    assert_eq!(p.tuples, 3);
    assert_eq!(p.evaluated_tuples, 2);
    assert_eq!(p.flow_logs, 8);
    assert_eq!(p.num_flows, 15);
    assert_eq!(p.summary.deny_to_allow, 2);
    assert_eq!(p.summary.unchanged, 6);
    assert_eq!(p.summary_num_flows.unchanged, 10);
    assert_eq!(p.summary.uncertain + p.summary.allow_to_deny, 0);
    assert_eq!(p.stored_mismatch_flow_logs, 0);
    let [c] = &p.changes[..] else {
        panic!("{:?}", p.changes)
    };
    assert_eq!(c.change, ChangeKind::DenyToAllow);
    assert_eq!(c.dest_port, Some(42001));
    assert_eq!(c.before.as_deref(), Some("0|default|np:fme/engine|deny|-1"));
    assert_eq!(c.after.as_deref(), Some("0|default|np:fme/engine|allow|0"));
    assert_eq!(c.reason, None);
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["changes"][0]["change"], "deny_to_allow");
    assert_eq!(json["policy"], "np:fme/engine");
}

#[test]
fn what_was_aggregated_away_makes_flows_uncertain() {
    let (before, after, id) = engines(FIXED);
    let inv = before.inventory().clone();
    let engine = wep(&inv, "engine", None);
    let public = FlowEnd {
        ip: None,
        name: None,
        name_aggr: "pub".into(),
        namespace: None,
        port: Some(42500),
        endpoint_type: Some(EndpointType::Net),
        labels: Labels::new(),
    };
    let mut gone = wep(&inv, "core", Some(42002));
    gone.name_aggr = "core-gone-*".into();
    // A logged address that is no pod any more.
    let mut moved = wep(&inv, "core", Some(42003));
    moved.ip = Some("10.99.0.1".parse().unwrap());
    let tuples = vec![
        // Which public address? Rule 1 allows 203.0.113.0/24 only.
        tuple(engine.clone(), public.clone(), Reporter::Src, Action::Deny),
        // A destination the inventory no longer has.
        tuple(engine.clone(), gone, Reporter::Src, Action::Deny),
        tuple(engine.clone(), moved, Reporter::Src, Action::Deny),
    ];
    let p = preview(&before, &after, &id, &tuples).unwrap();
    assert_eq!(p.summary.uncertain, 6, "{:#?}", p.changes);
    assert_eq!(p.summary.deny_to_allow + p.summary.allow_to_deny, 0);
    let reasons: Vec<&str> = p
        .changes
        .iter()
        .filter_map(|c| c.reason.as_deref())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("destination nets") && r.contains("np:fme/engine")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("not in the inventory")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("10.99.0.1") && r.contains("no endpoint")),
        "{reasons:?}"
    );

    // With the address kept, the same flow is certain (and unchanged).
    let mut known = public;
    known.ip = Some("203.0.113.9".parse().unwrap());
    let p = preview(
        &before,
        &after,
        &id,
        &[tuple(engine, known, Reporter::Src, Action::Allow)],
    )
    .unwrap();
    assert_eq!(p.summary.unchanged, 2);
    assert!(p.changes.is_empty());
}

#[test]
fn a_staged_draft_compares_pending_verdicts() {
    let staged = FIXED.replace("kind: NetworkPolicy", "kind: StagedNetworkPolicy");
    let (before, after, id) = engines(&staged);
    let inv = before.inventory().clone();
    let t = engine_to_pool_denied(&inv);
    let p = preview(&before, &after, &id, &[t]).unwrap();
    assert_eq!(p.compared, Compared::Pending);
    assert_eq!(p.operation, Operation::Create);
    // Enforcing the staged policy would replace np:fme/engine and allow the pool.
    assert_eq!(p.summary.deny_to_allow, 2, "{:#?}", p.changes);
    assert_eq!(
        p.changes[0].after.as_deref(),
        Some("0|default|snp:fme/engine|allow|0")
    );
}

#[test]
fn deleting_a_policy_and_unknown_ids() {
    let inv = inventory();
    let id = PolicyId::parse("np:fme/engine").unwrap();
    let after = Engine::new(inv.without_policy(&id).unwrap());
    let before = Engine::new(inv.clone());
    let t = engine_to_pool_denied(&inv);
    let p = preview(&before, &after, &id, &[t]).unwrap();
    assert_eq!(p.operation, Operation::Delete);
    // Without the policy, the namespace profile allows.
    assert_eq!(p.summary.deny_to_allow, 2);
    assert_eq!(
        p.changes[0].after.as_deref(),
        Some("0|__PROFILE__|pro:kns.fme|allow|0")
    );
    let nope = PolicyId::parse("np:fme/nope").unwrap();
    assert_eq!(
        preview(&before, &after, &nope, &[]),
        Err(PreviewError::UnknownPolicy(nope))
    );
}
