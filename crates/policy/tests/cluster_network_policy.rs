//! ClusterNetworkPolicy (v1alpha2) and the admin kinds (v1alpha1) against the expectations
//! of the network-policy-api conformance suite (v0.2.0): rule order inside a policy, tiers,
//! priorities, and named ports that take the container port's own protocol. The cluster is
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

/// The suite's admin ingress UDP policy for the badgers, with rule 5 written either with a
/// UDP port or with the named port `dns`.
fn admin_ingress_udp(rule5_protocols: &str) -> String {
    format!(
        r#"
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {{name: ingress-udp}}
spec:
  tier: Admin
  priority: 4
  subject: {{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: badgers}}}}}}
  ingress:
  - name: accept-eagles
    action: Accept
    from: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: eagles}}}}}}]
  - name: deny-eagles
    action: Deny
    from: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: eagles}}}}}}]
  - name: pass-eagles
    action: Pass
    from: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: eagles}}}}}}]
  - name: deny-snakes-5353
    action: Deny
    from: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: snakes}}}}}}]
    protocols: [{{udp: {{destinationPort: {{number: 5353}}}}}}]
  - name: pass-snakes-5353
    action: Pass
    from: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: snakes}}}}}}]
    protocols: [{{udp: {{destinationPort: {{number: 5353}}}}}}]
  - name: accept-lions-53
    action: Accept
    from: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: lions}}}}}}]
    protocols: [{rule5_protocols}]
  - name: deny-lions-rest
    action: Deny
    from: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: lions}}}}}}]
"#
    )
}

#[test]
fn admin_tier_ingress_udp_rules_apply_in_written_order() {
    // CNPAdminTierIngressUDP.
    let e = engine(&admin_ingress_udp("{udp: {destinationPort: {number: 53}}}"));
    // Accept is written before Deny for the eagles: it wins.
    let o = flow(&e, "eagles/eagle", "badgers/badger", "udp", 53);
    assert_eq!(o.action, Action::Allow);
    assert_eq!(o.ingress, strs(&["0|kube-admin|kcnp:ingress-udp|allow|0"]));
    // Lions: UDP 53 accepted, everything else denied.
    assert_eq!(
        flow(&e, "lions/lion", "badgers/badger", "udp", 53).action,
        Action::Allow
    );
    let o = flow(&e, "lions/lion", "badgers/badger", "udp", 5353);
    assert_eq!(o.action, Action::Deny);
    assert_eq!(o.ingress, strs(&["0|kube-admin|kcnp:ingress-udp|deny|6"]));
    // Snakes: 5353 denied (the Deny is before the Pass), other ports not matched.
    let o = flow(&e, "snakes/snake", "badgers/badger", "udp", 5353);
    assert_eq!(o.ingress, strs(&["0|kube-admin|kcnp:ingress-udp|deny|3"]));
    assert_eq!(
        flow(&e, "snakes/snake", "badgers/badger", "udp", 53).action,
        Action::Allow
    );
}

#[test]
fn admin_tier_ingress_named_port_takes_the_container_ports_protocol() {
    // CNPAdminTierIngressNamedPort: `dns` is UDP 53 in the pod spec.
    let e = engine(&admin_ingress_udp("{destinationNamedPort: dns}"));
    let o = flow(&e, "lions/lion", "badgers/badger", "udp", 53);
    assert_eq!(o.action, Action::Allow, "{o:?}");
    assert_eq!(o.ingress, strs(&["0|kube-admin|kcnp:ingress-udp|allow|5"]));
    assert_eq!(
        flow(&e, "lions/lion", "badgers/badger", "udp", 5353).action,
        Action::Deny
    );
    // TCP 53 is not the `dns` port: the deny-the-rest rule decides.
    assert_eq!(
        flow(&e, "lions/lion", "badgers/badger", "tcp", 53).action,
        Action::Deny
    );
}

fn baseline_egress_udp(rule3_protocols: &str) -> String {
    format!(
        r#"
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {{name: default}}
spec:
  tier: Baseline
  priority: 10
  subject: {{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: badgers}}}}}}
  egress:
  - action: Accept
    to: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: eagles}}}}}}]
  - action: Deny
    to: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: eagles}}}}}}]
  - action: Deny
    to: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: snakes}}}}}}]
    protocols: [{{udp: {{destinationPort: {{number: 5353}}}}}}]
  - action: Accept
    to: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: lions}}}}}}]
    protocols: [{rule3_protocols}]
  - action: Deny
    to: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: lions}}}}}}]
"#
    )
}

#[test]
fn baseline_tier_egress_udp_and_named_port() {
    // CNPBaselineTierEgressUDP and CNPBaselineTierEgressNamedPort.
    for protocols in [
        "{udp: {destinationPort: {number: 53}}}",
        "{destinationNamedPort: dns}",
    ] {
        let e = engine(&baseline_egress_udp(protocols));
        let o = flow(&e, "badgers/badger", "lions/lion", "udp", 53);
        assert_eq!(o.action, Action::Allow, "{protocols}: {o:?}");
        assert_eq!(o.egress, strs(&["0|kube-baseline|kcnp:default|allow|3"]));
        let o = flow(&e, "badgers/badger", "lions/lion", "udp", 5353);
        assert_eq!(o.action, Action::Deny, "{protocols}");
        assert_eq!(o.egress, strs(&["0|kube-baseline|kcnp:default|deny|4"]));
        assert_eq!(
            flow(&e, "badgers/badger", "eagles/eagle", "udp", 9).action,
            Action::Allow
        );
    }
}

fn priorities(pass_priority: u32) -> String {
    format!(
        r#"
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {{name: deny-at-50}}
spec:
  tier: Admin
  priority: 50
  subject: {{pods: {{namespaceSelector: {{matchLabels: {{house: lions}}}}, podSelector: {{matchLabels: {{house: lions}}}}}}}}
  ingress:
  - action: Deny
    from: [{{pods: {{namespaceSelector: {{matchLabels: {{house: snakes}}}}, podSelector: {{matchLabels: {{house: snakes}}}}}}}}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {{name: pass-at-{pass_priority}}}
spec:
  tier: Admin
  priority: {pass_priority}
  subject: {{pods: {{namespaceSelector: {{matchLabels: {{house: lions}}}}, podSelector: {{matchLabels: {{house: lions}}}}}}}}
  ingress:
  - action: Pass
    from: [{{pods: {{namespaceSelector: {{matchLabels: {{house: snakes}}}}, podSelector: {{matchLabels: {{house: snakes}}}}}}}}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {{name: default}}
spec:
  tier: Baseline
  priority: 1
  subject: {{pods: {{namespaceSelector: {{matchLabels: {{house: lions}}}}, podSelector: {{matchLabels: {{house: lions}}}}}}}}
  ingress:
  - action: Accept
    from: [{{pods: {{namespaceSelector: {{matchLabels: {{house: snakes}}}}, podSelector: {{matchLabels: {{house: snakes}}}}}}}}]
"#
    )
}

#[test]
fn lower_priority_value_wins_and_pass_goes_to_the_baseline() {
    // CNPAdminTierPriorityField: Deny at 50 beats Pass at 60; with the Pass at 40, the
    // Baseline Accept decides.
    let e = engine(&priorities(60));
    let o = flow(&e, "snakes/snake", "lions/lion", "tcp", 80);
    assert_eq!(o.action, Action::Deny);
    assert_eq!(o.ingress, strs(&["0|kube-admin|kcnp:deny-at-50|deny|0"]));
    let e = engine(&priorities(40));
    let o = flow(&e, "snakes/snake", "lions/lion", "tcp", 80);
    assert_eq!(o.action, Action::Allow);
    assert_eq!(
        o.ingress,
        strs(&[
            "0|kube-admin|kcnp:pass-at-40|pass|0",
            "1|kube-baseline|kcnp:default|allow|0"
        ])
    );
}

#[test]
fn a_network_policy_overrides_the_baseline_but_not_the_admin_tier() {
    // CNPAdminTierIntegration (admin, then NetworkPolicy, then baseline).
    let e = engine(&format!(
        "{}---\n{}",
        priorities(40),
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: lions-closed, namespace: lions}
spec:
  podSelector: {}
  policyTypes: [Ingress]
"#
    ));
    let o = flow(&e, "snakes/snake", "lions/lion", "tcp", 80);
    assert_eq!(o.action, Action::Deny);
    assert_eq!(
        o.ingress,
        strs(&[
            "0|kube-admin|kcnp:pass-at-40|pass|0",
            "1|default|knp:lions/lions-closed|deny|-1"
        ])
    );
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

#[test]
fn unsupported_peers_fail_closed_as_calico_converts_them() {
    let e = engine(
        r#"
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: to-nodes}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: badgers}}}
  egress:
  - action: Accept
    to: [{nodes: {matchLabels: {role: worker}}}]
  - action: Deny
    to: [{domainNames: [example.com]}]
"#,
    );
    // The Accept is dropped, the Deny denies everything.
    let o = flow(&e, "badgers/badger", "lions/lion", "tcp", 80);
    assert_eq!(o.action, Action::Deny);
    assert_eq!(o.egress, strs(&["0|kube-admin|kcnp:to-nodes|deny|0"]));
}
