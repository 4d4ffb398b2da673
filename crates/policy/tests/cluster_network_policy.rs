//! The admin kinds (v1alpha1) against the expectations of the network-policy-api
//! conformance suite: named ports that take the container port's own protocol. The cluster is
//! the suite's shape (four namespaces, servers declaring `web` as TCP 80 and `dns` as UDP 53)
//! written anew; each test names the suite case it mirrors.

mod common;
use common::*;
use flowlens_model::Action;

const CLUSTER: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: lions, labels: {house: lions}}
---
apiVersion: v1
kind: Namespace
metadata: {name: snakes, labels: {house: snakes}}
---
apiVersion: v1
kind: Namespace
metadata: {name: badgers, labels: {house: badgers}}
---
apiVersion: v1
kind: Namespace
metadata: {name: eagles, labels: {house: eagles}}
---
apiVersion: v1
kind: Pod
metadata: {name: lion, namespace: lions, labels: {house: lions}}
spec:
  containers:
  - {name: web, ports: [{name: web, containerPort: 80, protocol: TCP}]}
  - {name: dns, ports: [{name: dns, containerPort: 53, protocol: UDP}]}
status: {podIP: 10.1.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: snake, namespace: snakes, labels: {house: snakes}}
spec:
  containers:
  - {name: web, ports: [{name: web, containerPort: 80, protocol: TCP}]}
  - {name: dns, ports: [{name: dns, containerPort: 53, protocol: UDP}]}
status: {podIP: 10.2.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: badger, namespace: badgers, labels: {house: badgers}}
spec:
  containers:
  - {name: web, ports: [{name: web, containerPort: 80, protocol: TCP}]}
  - {name: dns, ports: [{name: dns, containerPort: 53, protocol: UDP}]}
status: {podIP: 10.3.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: eagle, namespace: eagles, labels: {house: eagles}}
spec:
  containers:
  - {name: web, ports: [{name: web, containerPort: 80, protocol: TCP}]}
status: {podIP: 10.4.0.1}
"#;

fn engine(policies: &str) -> flowlens_policy::Engine {
    engine_from_yaml(&format!("{CLUSTER}---\n{policies}"))
}

#[test]
fn v1alpha1_admin_and_baseline_named_ports_take_the_container_ports_protocol() {
    // AdminNetworkPolicyIngressNamedPort and BaselineAdminNetworkPolicyEgressNamedPort of
    // the v1alpha1 suite.
    let e = engine(
        r#"
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: badgers-dns}
spec:
  priority: 4
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: badgers}}}
  ingress:
  - action: Allow
    from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: lions}}}]
    ports: [{namedPort: dns}]
  - action: Deny
    from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: lions}}}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: snakes}}}
  egress:
  - action: Allow
    to: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: lions}}}]
    ports: [{namedPort: dns}]
  - action: Deny
    to: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: lions}}}]
"#,
    );
    let o = flow(&e, "lions/lion", "badgers/badger", "udp", 53);
    assert_eq!(o.action, Action::Allow, "{o:?}");
    assert_eq!(o.ingress, strs(&["0|kube-admin|kcnp:badgers-dns|allow|0"]));
    assert_eq!(
        flow(&e, "lions/lion", "badgers/badger", "udp", 5353).action,
        Action::Deny
    );
    let o = flow(&e, "snakes/snake", "lions/lion", "udp", 53);
    assert_eq!(o.action, Action::Allow, "{o:?}");
    assert_eq!(o.egress, strs(&["0|kube-baseline|kcnp:default|allow|0"]));
    // `web` is TCP 80: not the `dns` port.
    assert_eq!(
        flow(&e, "snakes/snake", "lions/lion", "tcp", 80).action,
        Action::Deny
    );
}

#[test]
fn kubernetes_network_policy_named_ports_default_to_tcp() {
    // A NetworkPolicyPort without protocol is TCP (the API's default), so a name declared
    // only as UDP matches nothing.
    let e = engine(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: dns-only, namespace: badgers}
spec:
  podSelector: {}
  ingress: [{ports: [{port: dns}]}]
"#,
    );
    assert_eq!(
        flow(&e, "lions/lion", "badgers/badger", "udp", 53).action,
        Action::Deny
    );
    let e = engine(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: dns-only, namespace: badgers}
spec:
  podSelector: {}
  ingress: [{ports: [{port: dns, protocol: UDP}]}]
"#,
    );
    assert_eq!(
        flow(&e, "lions/lion", "badgers/badger", "udp", 53).action,
        Action::Allow
    );
}
