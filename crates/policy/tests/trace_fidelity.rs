//! What the trace says beyond the verdict: ingress that an egress deny never lets happen,
//! and pods on the host network, which Calico polices as their node.

mod common;
use common::*;
use flowlens_model::{Action, PolicyHitFormat};
use flowlens_policy::{PeerSpecError, ResolveError, render_explanation};

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
    let mut x = e.explain(&flow.src, &flow.dst, &flow.tuple, PolicyHitFormat::Calico);
    x.notes.clone_from(&flow.notes);
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

#[test]
fn a_host_network_pod_without_host_endpoint_is_unpoliced_host_traffic() {
    let e = engine_from_yaml(BASE);
    let x = explain(&e, "monitoring/agent", "a/server", 80);
    assert_eq!(x.source.ip.to_string(), "192.168.1.10");
    assert!(x.egress.is_none(), "no host endpoint: no egress policy");
    assert_eq!(x.notes.len(), 1);
    let note = &x.notes[0];
    assert!(
        note.contains("monitoring/agent uses the host network"),
        "{note}"
    );
    assert!(note.contains("node node-1's (192.168.1.10)"), "{note}");
    assert!(note.contains("unpoliced"), "{note}");
    let text = render_explanation(&x, None);
    assert!(text.contains(&format!("Note: {note}")), "{text}");
}

#[test]
fn a_host_network_pod_is_policed_by_its_nodes_host_endpoint() {
    let e = engine_from_yaml(&format!(
        "{BASE}---\n{}",
        r#"
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: node-1-eth0, labels: {role: node}}
spec: {node: node-1, interfaceName: eth0, expectedIPs: [192.168.1.10]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: nodes-out}
spec:
  selector: role == "node"
  types: [Egress]
  egress: [{action: Deny, protocol: TCP, destination: {ports: [80]}}, {action: Allow}]
"#
    ));
    let x = explain(&e, "monitoring/agent", "a/server", 80);
    assert_eq!(x.action, Action::Deny);
    let egress = x.egress.as_ref().unwrap();
    assert_eq!(egress.endpoint, "hep node-1-eth0");
    assert_eq!(egress.policies, vec!["0|default|gnp:nodes-out|deny|0"]);
    assert!(
        x.notes[0].contains("policed by host endpoint node-1-eth0"),
        "{:?}",
        x.notes
    );
    // As a destination too: ingress at the host endpoint (no ingress policy: profiles).
    let x = explain(&e, "a/client", "monitoring/agent", 9100);
    assert_eq!(x.destination.endpoint_type, "hep");
    assert!(x.notes[0].contains("as host traffic"), "{:?}", x.notes);
}

#[test]
fn a_host_network_workload_needs_its_nodes_address() {
    // The DaemonSet's node has no address in the snapshot: say so, not "no pod named".
    let e = engine_from_yaml(BASE);
    let err = e
        .resolve_flow("monitoring/exporter", "a/server", "tcp", 0, 80)
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            ResolveError::Source(PeerSpecError::HostNetworkWithoutAddress { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("uses the host network"), "{err}");
    assert!(err.to_string().contains("node-2"), "{err}");
    // With a host endpoint for node-2, its address is the node's.
    let e = engine_from_yaml(&format!(
        "{BASE}---\n{}",
        "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {name: node-2}\nspec: {node: node-2, expectedIPs: [192.168.1.20]}\n"
    ));
    let x = explain(&e, "monitoring/exporter", "a/server", 80);
    assert_eq!(x.source.ip.to_string(), "192.168.1.20");
    assert_eq!(x.egress.as_ref().unwrap().endpoint, "hep node-2");
}
