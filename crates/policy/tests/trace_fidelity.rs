//! What the trace says beyond the verdict: ingress that an egress deny never lets happen,
//! and pods on the host network, which Calico polices as their node.

mod common;
use common::*;
use flowlens_model::{Action, PolicyHitFormat};
use flowlens_policy::render_explanation;

const BASE: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: a, labels: {app: client}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: a, labels: {app: server}}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: monitoring, labels: {app: agent}}
spec: {hostNetwork: true, nodeName: node-1}
status: {podIP: 192.168.1.10, hostIP: 192.168.1.10}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: exporter, namespace: monitoring}
spec:
  template:
    metadata: {labels: {app: exporter}}
    spec: {hostNetwork: true, nodeName: node-2}
"#;

const CLIENT_EGRESS_DENIED: &str = r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: client-out, namespace: a}
spec:
  selector: app == "client"
  types: [Egress]
  egress: [{action: Deny}]
"#;

fn explain(
    e: &flowlens_policy::Engine,
    src: &str,
    dst: &str,
    port: u16,
) -> flowlens_policy::Explanation {
    let flow = e
        .resolve_flow(src, dst, "tcp", 0, port)
        .unwrap_or_else(|err| panic!("{err}"));
    let x = e.explain(&flow.src, &flow.dst, &flow.query, PolicyHitFormat::Calico);
    x
}

#[test]
fn ingress_after_an_egress_deny_is_marked_not_reached() {
    let e = engine_from_yaml(&format!("{BASE}---\n{CLIENT_EGRESS_DENIED}"));
    let x = explain(&e, "a/client", "a/server", 80);
    assert_eq!(x.action, Action::Deny);
    let egress = x.egress.as_ref().unwrap();
    let ingress = x.ingress.as_ref().unwrap();
    assert!(egress.reached);
    // Still evaluated (the destination would accept it), but never reached.
    assert!(!ingress.reached);
    assert_eq!(ingress.action, Action::Allow);
    let json = serde_json::to_value(&x).unwrap();
    assert_eq!(json["ingress"]["reached"], false);
    assert_eq!(json["egress"]["reached"], true);
    let text = render_explanation(&x, None);
    assert!(
        text.contains("Ingress at wep a/server: NOT REACHED (would be ALLOW)"),
        "{text}"
    );
    assert!(text.contains("denied at egress"), "{text}");

    // Without the deny, ingress is reached as before.
    let e = engine_from_yaml(BASE);
    let x = explain(&e, "a/client", "a/server", 80);
    assert!(x.ingress.as_ref().unwrap().reached);
    assert!(!render_explanation(&x, None).contains("NOT REACHED"));
}
