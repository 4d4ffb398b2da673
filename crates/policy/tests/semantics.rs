//! Calico semantics, one behaviour per test, written as the manifests a user would apply.

mod common;
use common::*;
use flowlens_model::Action;

/// Two namespaces with a client and a server each; tiers and policies are appended per test.
const BASE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {team: red}}
---
apiVersion: v1
kind: Namespace
metadata: {name: b, labels: {team: blue}}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: a, labels: {app: client}}
spec: {serviceAccountName: robot, containers: [{name: c}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: a, labels: {app: server}}
spec:
  containers: [{name: c, ports: [{name: http, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]}]
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: b, labels: {app: client}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 9090}]}]}
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot, namespace: a, labels: {role: automation}}
"#;

fn engine(extra: &str) -> flowlens_policy::Engine {
    engine_from_yaml(&format!("{BASE}\n---\n{extra}"))
}

#[test]
fn no_policy_means_namespace_profiles_allow() {
    let e = engine("");
    let o = flow(&e, "a/client", "a/server", "tcp", 8080);
    assert_eq!(o.action, Action::Allow);
    assert_eq!(o.egress, strs(&["0|__PROFILE__|pro:kns.a|allow|0"]));
    assert_eq!(o.ingress, strs(&["0|__PROFILE__|pro:kns.a|allow|0"]));
}

#[test]
fn selected_by_a_policy_means_denied_unless_allowed() {
    let e = engine(
        r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: server, namespace: a}
spec:
  selector: app == "server"
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [8080]}}]
"#,
    );
    assert_eq!(
        flow(&e, "a/client", "a/server", "tcp", 8080).action,
        Action::Allow
    );
    let o = flow(&e, "a/client", "a/server", "tcp", 9999);
    assert_eq!(o.action, Action::Deny);
    assert_eq!(o.ingress, strs(&["0|default|np:a/server|deny|-1"]));
    // Types default to Ingress only: egress from the server is untouched.
    assert_eq!(
        flow(&e, "a/server", "a/client", "tcp", 1).egress,
        strs(&["0|__PROFILE__|pro:kns.a|allow|0"])
    );
}

const TIERS: &str = r#"
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: platform}
spec: {order: 200, defaultAction: Pass}
"#;

#[test]
fn pass_chains_across_tiers_and_end_of_tier_actions() {
    let e = engine(&format!(
        r#"{TIERS}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {{name: security.gate}}
spec:
  tier: security
  order: 1
  selector: all()
  types: [Ingress]
  ingress:
  - {{action: Deny, source: {{selector: app == "blocked"}}}}
  - {{action: Pass, source: {{namespaceSelector: team == "red"}}}}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {{name: platform.nothing}}
spec:
  tier: platform
  selector: app == "server"
  types: [Ingress]
  ingress: [{{action: Allow, protocol: UDP}}]
"#
    ));
    // Passed by security (rule 1), platform has no matching rule and passes at its end, no
    // other tier applies: the profile allows.
    let o = flow(&e, "a/client", "a/server", "tcp", 8080);
    assert_eq!(o.action, Action::Allow);
    assert_eq!(
        o.ingress,
        strs(&[
            "0|security|gnp:security.gate|pass|1",
            "1|platform|gnp:platform.nothing|pass|-1",
            "2|__PROFILE__|pro:kns.a|allow|0"
        ])
    );
    // From namespace b nothing in security matches: security's default action is Deny.
    let o = flow(&e, "b/other", "a/server", "tcp", 8080);
    assert_eq!(o.action, Action::Deny);
    assert_eq!(o.ingress, strs(&["0|security|gnp:security.gate|deny|-1"]));
    // UDP from a: security passes, platform allows.
    let o = flow(&e, "a/client", "a/server", "udp", 53);
    assert_eq!(
        o.ingress,
        strs(&[
            "0|security|gnp:security.gate|pass|1",
            "1|platform|gnp:platform.nothing|allow|0"
        ])
    );
}

#[test]
fn policy_order_then_name_and_log_continues() {
    let e = engine(
        r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: zz-first, namespace: a}
spec:
  order: 10
  selector: app == "server"
  ingress: [{action: Log}, {action: Deny, protocol: UDP}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: aa-second, namespace: a}
spec:
  order: 20
  selector: app == "server"
  ingress: [{action: Allow}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: unordered, namespace: a}
spec:
  selector: app == "server"
  ingress: [{action: Deny}]
"#,
    );
    assert_eq!(
        flow(&e, "a/client", "a/server", "udp", 53).ingress,
        strs(&["0|default|np:a/zz-first|deny|1"])
    );
    assert_eq!(
        flow(&e, "a/client", "a/server", "tcp", 80).ingress,
        strs(&["0|default|np:a/aa-second|allow|0"])
    );
}

#[test]
fn named_ports_resolve_per_endpoint() {
    let e = engine(
        r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: http-only}
spec:
  selector: app in {"server", "client"}
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [http]}}]
"#,
    );
    // server's http is 8080, other's http is 9090.
    assert_eq!(
        flow(&e, "a/client", "a/server", "tcp", 8080).action,
        Action::Allow
    );
    assert_eq!(
        flow(&e, "a/client", "a/server", "tcp", 9090).action,
        Action::Deny
    );
    assert_eq!(
        flow(&e, "a/client", "b/other", "tcp", 9090).action,
        Action::Allow
    );
    assert_eq!(
        flow(&e, "a/client", "b/other", "tcp", 8080).action,
        Action::Deny
    );
    // The dns port is UDP: a TCP flow to 53 does not match a UDP named port.
    let e = engine(
        r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: dns, namespace: a}
spec:
  selector: app == "server"
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [dns]}}, {action: Allow, protocol: UDP, destination: {ports: [dns]}}]
"#,
    );
    assert_eq!(
        flow(&e, "a/client", "a/server", "tcp", 53).action,
        Action::Deny
    );
    assert_eq!(
        flow(&e, "a/client", "a/server", "udp", 53).ingress,
        strs(&["0|default|np:a/dns|allow|1"])
    );
}

#[test]
fn kubernetes_network_policy_ipblock_except_and_end_port() {
    let e = engine(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-limits, namespace: a}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.128/25]}}]
    ports: [{protocol: TCP, port: 32000, endPort: 32768}]
"#,
    );
    assert_eq!(
        flow(&e, "a/client", "203.0.113.5", "tcp", 32000).action,
        Action::Allow
    );
    assert_eq!(
        flow(&e, "a/client", "203.0.113.5", "tcp", 32768).egress,
        strs(&["0|default|knp:a/egress-limits|allow|0"])
    );
    assert_eq!(
        flow(&e, "a/client", "203.0.113.5", "tcp", 32769).action,
        Action::Deny
    );
    assert_eq!(
        flow(&e, "a/client", "203.0.113.200", "tcp", 32000).egress,
        strs(&["0|default|knp:a/egress-limits|deny|-1"])
    );
    assert_eq!(
        flow(&e, "a/client", "203.0.113.5", "udp", 32000).action,
        Action::Deny
    );
    // The other namespace's client is not selected.
    assert_eq!(
        flow(&e, "b/other", "203.0.113.200", "tcp", 1).action,
        Action::Allow
    );
}

#[test]
fn kubernetes_network_policies_are_a_union() {
    let e = engine(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-same-namespace, namespace: a}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress: [{from: [{podSelector: {}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-blue, namespace: a}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: blue}}}], ports: [{port: 8080}]}]
"#,
    );
    assert_eq!(
        flow(&e, "a/client", "a/server", "tcp", 1234).ingress,
        strs(&["0|default|knp:a/from-same-namespace|allow|0"])
    );
    assert_eq!(
        flow(&e, "b/other", "a/server", "tcp", 8080).ingress,
        strs(&["0|default|knp:a/from-blue|allow|0"])
    );
    assert_eq!(
        flow(&e, "b/other", "a/server", "tcp", 1234).ingress,
        strs(&["0|default|knp:a/from-same-namespace|deny|-1"])
    );
    assert_eq!(
        flow(&e, "203.0.113.9", "a/server", "tcp", 8080).action,
        Action::Deny
    );
}

#[test]
fn admin_and_baseline_admin_policies() {
    let e = engine(
        r#"
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: guard}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {team: red}}}
  ingress:
  - {name: deny-blue, action: Deny, from: [{namespaces: {matchLabels: {team: blue}}}]}
  - {name: pass-same, action: Pass, from: [{namespaces: {matchLabels: {team: red}}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress:
  - {name: deny-rest, action: Deny, from: [{namespaces: {}}]}
"#,
    );
    let o = flow(&e, "b/other", "a/server", "tcp", 80);
    assert_eq!(o.ingress, strs(&["0|kube-admin|kcnp:guard|deny|0"]));
    // Passed by the admin tier; no namespaced policy; the baseline denies.
    let o = flow(&e, "a/client", "a/server", "tcp", 80);
    assert_eq!(
        o.ingress,
        strs(&[
            "0|kube-admin|kcnp:guard|pass|1",
            "1|kube-baseline|kcnp:default|deny|0"
        ])
    );
    // Ingress to b: only the baseline applies.
    let o = flow(&e, "a/client", "b/other", "tcp", 80);
    assert_eq!(o.ingress, strs(&["0|kube-baseline|kcnp:default|deny|0"]));
}

#[test]
fn staged_policies_only_change_the_pending_verdict() {
    let e = engine(&format!(
        r#"{TIERS}
---
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: {{name: security.lockdown}}
spec:
  tier: security
  selector: app == "server"
  ingress: [{{action: Allow, source: {{selector: app == "client"}}, destination: {{ports: [8080]}}, protocol: TCP}}]
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {{name: drop-me, namespace: a}}
spec:
  stagedAction: Delete
  selector: app == "client"
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {{name: drop-me, namespace: a}}
spec:
  selector: app == "client"
  types: [Egress]
  egress: [{{action: Deny, protocol: UDP}}, {{action: Allow}}]
"#
    ));
    // Enforced: security (a staged-only tier) takes no part.
    let o = flow(&e, "a/client", "a/server", "tcp", 8080);
    assert_eq!(o.action, Action::Allow);
    assert_eq!(o.ingress, strs(&["0|__PROFILE__|pro:kns.a|allow|0"]));
    assert_eq!(
        o.pending_ingress,
        strs(&["0|security|sgnp:security.lockdown|allow|0"])
    );
    let o = flow(&e, "203.0.113.9", "a/server", "tcp", 8080);
    assert_eq!((o.action, o.pending_action), (Action::Allow, Action::Deny));
    assert_eq!(o.egress, None);
    assert_eq!(
        o.pending_ingress,
        strs(&["0|security|sgnp:security.lockdown|deny|-1"])
    );
    // Deleting drop-me would lift the UDP deny.
    let o = flow(&e, "a/client", "b/other", "udp", 53);
    assert_eq!((o.action, o.pending_action), (Action::Deny, Action::Allow));
    assert_eq!(o.egress, strs(&["0|default|np:a/drop-me|deny|0"]));
    assert_eq!(o.pending_egress, strs(&["0|__PROFILE__|pro:kns.a|allow|0"]));
}

#[test]
fn network_sets_global_and_not_selector() {
    let e = engine(
        r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: partners, labels: {partner: "yes"}}
spec: {nets: [198.51.100.0/24]}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: office, namespace: a, labels: {partner: "yes"}}
spec: {nets: [192.0.2.0/24]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: out, namespace: a}
spec:
  selector: app == "client"
  types: [Egress]
  egress:
  - {action: Allow, destination: {namespaceSelector: global(), selector: partner == "yes"}}
  - {action: Allow, destination: {selector: partner == "yes"}, protocol: UDP}
  - {action: Deny, destination: {notSelector: app == "server"}}
  - {action: Allow}
"#,
    );
    // The global set is reachable through global(), the namespaced one is not.
    assert_eq!(
        flow(&e, "a/client", "198.51.100.7", "tcp", 443).egress,
        strs(&["0|default|np:a/out|allow|0"])
    );
    // The namespaced set is selected by a plain selector (scoped to namespace a) over UDP.
    assert_eq!(
        flow(&e, "a/client", "192.0.2.9", "udp", 443).egress,
        strs(&["0|default|np:a/out|allow|1"])
    );
    // A lone notSelector in a namespaced policy means "others in this namespace": the
    // outside world and namespace b fall through to rule 3.
    assert_eq!(
        flow(&e, "a/client", "192.0.2.9", "tcp", 443).egress,
        strs(&["0|default|np:a/out|deny|2"])
    );
    assert_eq!(
        flow(&e, "a/client", "8.8.8.8", "tcp", 443).egress,
        strs(&["0|default|np:a/out|allow|3"])
    );
    assert_eq!(
        flow(&e, "a/client", "b/other", "tcp", 443).egress,
        strs(&["0|default|np:a/out|allow|3"])
    );
    assert_eq!(
        flow(&e, "a/client", "a/server", "tcp", 443).egress,
        strs(&["0|default|np:a/out|allow|3"])
    );
}

#[test]
fn service_accounts_and_services_in_rules() {
    let e = engine(
        r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: a}
spec: {clusterIP: 10.96.0.20, selector: {app: server}, ports: [{port: 80, targetPort: http}]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: server, namespace: a}
spec:
  selector: app == "server"
  ingress:
  - {action: Allow, source: {serviceAccounts: {selector: role == "automation"}}}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: client, namespace: b}
spec:
  selector: all()
  types: [Egress]
  egress: [{action: Allow, destination: {services: {name: web, namespace: a}}}]
"#,
    );
    assert_eq!(
        flow(&e, "a/client", "a/server", "tcp", 8080).ingress,
        strs(&["0|default|np:a/server|allow|0"])
    );
    assert_eq!(
        flow(&e, "b/other", "a/server", "tcp", 8080).ingress,
        strs(&["0|default|np:a/server|deny|-1"])
    );
    // b/other may reach the service's backends on the target port only.
    assert_eq!(
        flow(&e, "b/other", "a/server", "tcp", 8080).egress,
        strs(&["0|default|np:b/client|allow|0"])
    );
    assert_eq!(
        flow(&e, "b/other", "a/server", "tcp", 22).egress,
        strs(&["0|default|np:b/client|deny|-1"])
    );
    assert_eq!(
        flow(&e, "b/other", "a/client", "tcp", 8080).egress,
        strs(&["0|default|np:b/client|deny|-1"])
    );
}

#[test]
fn http_rules_are_flagged_not_guessed() {
    let e = engine(
        r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: api, namespace: a}
spec:
  selector: app == "server"
  ingress: [{action: Allow, protocol: TCP, http: {methods: [GET]}}]
"#,
    );
    let o = flow(&e, "a/client", "a/server", "tcp", 8080);
    assert_eq!(o.action, Action::Allow);
    assert!(o.undecidable);
    assert!(!flow(&e, "a/client", "a/server", "udp", 8080).undecidable);
}

#[test]
fn host_endpoints_profiles_and_untracked_policy() {
    let e = engine(
        r#"
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: node1-eth0, labels: {role: node}}
spec: {node: node1, interfaceName: eth0, expectedIPs: [192.168.1.10]}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: node2-eth0, labels: {role: node}}
spec: {node: node2, interfaceName: eth0, expectedIPs: [192.168.1.11], profiles: [projectcalico-default-allow]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: untracked-ssh}
spec:
  selector: role == "node"
  doNotTrack: true
  applyOnForward: true
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [22]}}]
"#,
    );
    assert_eq!(
        flow(&e, "a/client", "192.168.1.10", "tcp", 22).ingress,
        strs(&["0|default|gnp:untracked-ssh|allow|0"])
    );
    // Not allowed by untracked policy, no normal policy, no profile: denied.
    let o = flow(&e, "a/client", "192.168.1.10", "tcp", 80);
    assert_eq!(o.action, Action::Deny);
    // The untracked tier's end-of-tier deny decides.
    assert_eq!(o.ingress, strs(&["0|default|gnp:untracked-ssh|deny|-1"]));
    // Untracked policy never applies to pods.
    assert_eq!(
        flow(&e, "192.168.1.10", "a/server", "tcp", 22).ingress,
        strs(&["0|__PROFILE__|pro:kns.a|allow|0"])
    );
    // A host endpoint whose profile allows, with no policy for egress.
    assert_eq!(
        flow(&e, "192.168.1.11", "a/server", "tcp", 80).egress,
        strs(&["0|__PROFILE__|pro:projectcalico-default-allow|allow|0"])
    );
    assert_eq!(
        flow(&e, "192.168.1.10", "a/server", "tcp", 80).egress,
        Some(vec![])
    );
    assert_eq!(
        flow(&e, "192.168.1.10", "a/server", "tcp", 80).action,
        Action::Deny
    );
}

#[test]
fn source_ports_protocol_numbers_and_ip_version() {
    let e = engine(
        r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: odd, namespace: a}
spec:
  selector: app == "server"
  ingress:
  - {action: Allow, protocol: 17, source: {ports: ["1000:2000"]}}
  - {action: Allow, ipVersion: 6}
  - {action: Allow, notProtocol: TCP, protocol: 132}
"#,
    );
    assert_eq!(
        flow_from_port(&e, "a/client", "a/server", "udp", 1500, 53).ingress,
        strs(&["0|default|np:a/odd|allow|0"])
    );
    assert_eq!(
        flow_from_port(&e, "a/client", "a/server", "udp", 2500, 53).action,
        Action::Deny
    );
    assert_eq!(
        flow(&e, "a/client", "a/server", "sctp", 9).ingress,
        strs(&["0|default|np:a/odd|allow|2"])
    );
    assert_eq!(
        flow(&e, "a/client", "a/server", "tcp", 9).action,
        Action::Deny
    );
}

/// Policies of one tier and order are evaluated as Felix sorts them: by the text
/// `<name>/<namespace>/<kind>` of their keys, a Kubernetes policy keyed as
/// `knp.default.<name>`.
#[test]
fn equal_orders_break_ties_by_name_then_namespace_then_kind() {
    let to_server = |extra: &str| {
        let e = engine(extra);
        let o = flow(&e, "a/client", "a/server", "tcp", 8080);
        (o.action, o.ingress.unwrap().last().unwrap().clone())
    };
    // A global and a namespaced policy: by name, not by namespace ("a/beta" < "alpha").
    let (action, hit) = to_server(
        r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: alpha}
spec: {order: 10, selector: app == 'server', ingress: [{action: Deny}]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: beta, namespace: a}
spec: {order: 10, selector: app == 'server', ingress: [{action: Allow}]}
"#,
    );
    assert_eq!(
        (action, hit.as_str()),
        (Action::Deny, "0|default|gnp:alpha|deny|0")
    );
    // A name that another extends: '-' sorts before '/', so allow-dns comes first.
    let (action, hit) = to_server(
        r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow, namespace: a}
spec: {order: 10, selector: app == 'server', ingress: [{action: Allow}]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow-dns, namespace: a}
spec: {order: 10, selector: app == 'server', ingress: [{action: Deny}]}
"#,
    );
    assert_eq!(
        (action, hit.as_str()),
        (Action::Deny, "0|default|np:a/allow-dns|deny|0")
    );
    // The same name as a Calico and a Kubernetes policy at Kubernetes' order 1000: the
    // Kubernetes one is keyed `knp.default.x`, ahead of `x`.
    let (action, hit) = to_server(
        r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: x, namespace: a}
spec: {order: 1000, selector: app == 'server', ingress: [{action: Deny}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: x, namespace: a}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress: [{}]
"#,
    );
    assert_eq!(
        (action, hit.as_str()),
        (Action::Allow, "0|default|knp:a/x|allow|0")
    );
}
